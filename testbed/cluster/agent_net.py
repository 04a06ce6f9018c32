"""agent_net.py: a pod's network, as the node agent makes it (the CNI part of the kubelet).

Pure parts first (what the annotations ask for), then the commands that make and remove it.

Invariants:
- A pod's network namespace is "<NETNS_PREFIX>-<pod>.<namespace>" (cluster.sh stop removes
  every namespace with the prefix); its OVS port on the node's br-int is "p<12 hex of the pod
  key>" with external_ids iface-id=<pod>.<namespace> (ovn-vpcd's switch port name),
  testbed-pod=<namespace>/<pod> and testbed-node=<node>, so the agent finds its ports again.
  The port also carries testbed-uid=<the pod's uid> and testbed-netns=<its namespace>: a
  restarted agent keeps the sandbox of a pod that still exists with that uid (cluster.sh
  restart-node), and a reboot finds the namespaces to remove in the vswitch database.
- Teardown is the reverse and tolerates any half-made state: the namespace (and with it eth0
  and the macvlan legs) is deleted, and the OVS port is deleted too (deleting the namespace
  destroys the tap but leaves the port in OVS).
- setup is idempotent over what a previous agent left: an existing namespace is kept; its eth0
  is kept while it has carrier (ovs-vswitchd holds the tap), else (ovs-vswitchd restarted: the
  userspace datapath's taps are persistent, the old one is orphaned in the pod and the new
  ovs-vswitchd made a new tap under the port's name in the chassis namespace) it is replaced by
  the new tap with the same MAC, addresses and routes; legs that exist are kept.
"""
import hashlib
import ipaddress
import json
import os
import subprocess
import time

ANN = "ovn.kubernetes.io/"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
NETNS_ANNOTATION = "testbed.ovn-vpcd/netns"


class NotReady(Exception):
    """The pod's annotations (or its NAD) do not say enough yet: wait for an update."""


class SetupError(Exception):
    """A command failed while making the network: tear down and retry."""


# ---- names -----------------------------------------------------------------------------------


def netns_name(prefix, namespace, pod):
    name = "%s-%s.%s" % (prefix, pod, namespace)
    if len(name) > 200:  # a file name under /run/netns
        name = "%s-h%s" % (prefix, hashlib.sha1(("%s/%s" % (namespace, pod)).encode()).hexdigest()[:16])
    return name


def port_name(namespace, pod):
    return "p" + hashlib.sha1(("%s/%s" % (namespace, pod)).encode()).hexdigest()[:12]


def leg_tmp_name(namespace, pod, index):
    return "m%s%d" % (hashlib.sha1(("%s/%s" % (namespace, pod)).encode()).hexdigest()[:10], index)


# ---- what the annotations ask for ------------------------------------------------------------


def _split(v):
    return [x.strip() for x in (v or "").split(",") if x.strip()]


def addresses(ips, cidrs, what):
    """[(ip, prefixlen)]: each address of `ips` with the prefix length of the CIDR of its family."""
    nets = []
    for c in _split(cidrs):
        try:
            nets.append(ipaddress.ip_network(c, strict=False))
        except ValueError:
            raise NotReady("%s: bad cidr %r" % (what, c))
    out = []
    for s in _split(ips):
        try:
            ip = ipaddress.ip_address(s.split("/")[0])
        except ValueError:
            raise NotReady("%s: bad ip_address %r" % (what, s))
        net = next((n for n in nets if n.version == ip.version and ip in n), None)
        net = net or next((n for n in nets if n.version == ip.version), None)
        if net is None:
            raise NotReady("%s: no cidr of the family of %s in %r" % (what, ip, cidrs))
        out.append((str(ip), net.prefixlen))
    if not out:
        raise NotReady("%s: no ip_address" % what)
    return out


def eth0_config(ann):
    """eth0 of an allocated pod: {mac, addrs, gateways, routes} from ovn.kubernetes.io/*."""
    if ann.get(ANN + "allocated") != "true":
        raise NotReady("waiting for ovn.kubernetes.io/allocated=true")
    mac = ann.get(ANN + "mac_address")
    if not mac:
        raise NotReady("waiting for ovn.kubernetes.io/mac_address")
    addrs = addresses(ann.get(ANN + "ip_address"), ann.get(ANN + "cidr"), "eth0")
    gws = []
    for g in _split(ann.get(ANN + "gateway")):
        try:
            gws.append(str(ipaddress.ip_address(g)))
        except ValueError:
            raise NotReady("eth0: bad gateway %r" % g)
    routes = []
    raw = ann.get(ANN + "routes")
    if raw:
        try:
            for r in json.loads(raw):
                routes.append(((r.get("dst") or "").strip(), (r.get("gw") or "").strip()))
        except (ValueError, AttributeError):
            raise NotReady("eth0: ovn.kubernetes.io/routes is not a JSON list of {dst, gw}: %r" % raw)
    return {"mac": mac, "addrs": addrs, "gateways": gws, "routes": routes}


def parse_networks(value, pod_ns):
    """k8s.v1.cni.cncf.io/networks: [(namespace, name, ifname)], ifnames net1, net2, ... unless
    given (`ns/name@if` or the JSON form's "interface")."""
    value = (value or "").strip()
    if not value:
        return []
    out = []
    if value.startswith("["):
        try:
            items = json.loads(value)
        except ValueError:
            raise NotReady("%s is not valid JSON" % NETWORKS)
        for it in items:
            if not isinstance(it, dict) or not it.get("name"):
                raise NotReady("%s: an element without a name" % NETWORKS)
            out.append((it.get("namespace") or pod_ns, it["name"], it.get("interface") or ""))
    else:
        for part in _split(value):
            ifname = ""
            if "@" in part:
                part, ifname = part.split("@", 1)
            ns, _, name = part.rpartition("/")
            out.append((ns or pod_ns, name, ifname))
    return [(ns, name, ifn or "net%d" % (i + 1)) for i, (ns, name, ifn) in enumerate(out)]


def attachment_config(nad, nad_ns, nad_name, ifname, ann, ext_nic):
    """One Multus leg: {ifname, master, mode, provider, mac, addrs} from the NAD's config and the
    pod's <provider>.kubernetes.io/* annotations. A NAD whose master is eth0 (seed 000) gets
    EXT_NIC, the chassis' device into the external network."""
    try:
        conf = json.loads((nad.get("spec") or {}).get("config") or "{}")
    except ValueError:
        raise NotReady("NAD %s/%s: spec.config is not JSON" % (nad_ns, nad_name))
    if conf.get("type") != "macvlan":
        raise NotReady("NAD %s/%s: type %r is not supported (macvlan only)" % (nad_ns, nad_name, conf.get("type")))
    master = conf.get("master") or ext_nic
    if master == "eth0":
        master = ext_nic
    provider = (conf.get("ipam") or {}).get("provider") or "%s.%s" % (nad_name, nad_ns)
    p = provider + ".kubernetes.io/"
    if not ann.get(p + "ip_address"):
        raise NotReady("waiting for %sip_address" % p)
    addrs = addresses(ann.get(p + "ip_address"), ann.get(p + "cidr"), ifname)
    return {"ifname": ifname, "master": master, "mode": conf.get("mode") or "bridge", "provider": provider,
            "mac": ann.get(p + "mac_address") or "", "addrs": addrs}


# ---- commands --------------------------------------------------------------------------------


def run(*cmd, check=True):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise SetupError("%s: %s" % (" ".join(cmd), (p.stderr or p.stdout).strip()))
    return p


def netns_exists(ns):
    return os.path.exists("/run/netns/" + ns)


def _ip_batch(ns, lines):
    p = subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n", text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SetupError("ip -n %s -batch: %s" % (ns, p.stderr.strip()))


def _addr_lines(dev, addrs):
    out = []
    for ip, plen in addrs:  # (ip -batch takes no -6: the family follows the address)
        out.append("addr add %s/%d dev %s%s" % (ip, plen, dev, " nodad" if ":" in ip else ""))
    return out


def _wait_link(ns, dev, seconds=10.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if run("ip", "-n", ns, "link", "show", dev, check=False).returncode == 0:
            return
        time.sleep(0.01)
    raise SetupError("device %s did not appear in %s within %.0f s" % (dev, ns, seconds))


def _link_flags(ns, dev):
    p = run("ip", "-n", ns, "-j", "link", "show", dev, check=False)
    if p.returncode != 0:
        return None
    try:
        return (json.loads(p.stdout) or [{}])[0].get("flags") or []
    except ValueError:
        return None


def link_exists(ns, dev):
    return _link_flags(ns, dev) is not None


def link_has_carrier(ns, dev):
    """dev exists in ns and has carrier (a tap: a process holds it)."""
    return "LOWER_UP" in (_link_flags(ns, dev) or [])


class Node:
    """The chassis this agent serves: its namespace and OVS database."""

    def __init__(self, name, netns, ovs_db, prefix, ext_nic):
        self.name = name
        self.netns = netns
        self.ovs_db = ovs_db
        self.prefix = prefix
        self.ext_nic = ext_nic

    def vsctl(self, *args, check=True):
        return run("ovs-vsctl", "--db=" + self.ovs_db, "--timeout=10", *args, check=check)

    def setup(self, namespace, pod, eth0, legs, uid=""):
        """Make the pod's namespace, eth0 on br-int and the Multus legs, keeping what a previous
        agent left of them (see the invariants). Returns the netns name."""
        ns = netns_name(self.prefix, namespace, pod)
        port = port_name(namespace, pod)
        if not netns_exists(ns):
            run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        self.vsctl("--may-exist", "add-port", "br-int", port, "--", "set", "interface", port, "type=internal",
                   "external_ids:iface-id=%s.%s" % (pod, namespace),
                   "external_ids:testbed-pod=%s/%s" % (namespace, pod),
                   "external_ids:testbed-node=%s" % self.name,
                   "external_ids:testbed-uid=%s" % uid,
                   "external_ids:testbed-netns=%s" % ns)
        if not link_has_carrier(ns, "eth0"):
            run("ip", "-n", ns, "link", "del", "eth0", check=False)  # an orphaned tap, if any
            _wait_link(self.netns, port)
            run("ip", "-n", self.netns, "link", "set", port, "netns", ns)
            lines = ["link set %s name eth0" % port, "link set eth0 address %s" % eth0["mac"]]
            lines += _addr_lines("eth0", eth0["addrs"])
            lines.append("link set eth0 up")
            _ip_batch(ns, lines)
        self._routes(ns, eth0)
        for i, leg in enumerate(legs):
            if link_exists(ns, leg["ifname"]):
                continue
            tmp = leg_tmp_name(namespace, pod, i)
            run("ip", "-n", self.netns, "link", "del", tmp, check=False)
            run("ip", "-n", self.netns, "link", "add", "link", leg["master"], "name", tmp, "type", "macvlan",
                "mode", leg["mode"])
            run("ip", "-n", self.netns, "link", "set", tmp, "netns", ns)
            lines = ["link set %s name %s" % (tmp, leg["ifname"])]
            if leg["mac"]:
                lines.append("link set %s address %s" % (leg["ifname"], leg["mac"]))
            lines += _addr_lines(leg["ifname"], leg["addrs"])
            lines.append("link set %s up" % leg["ifname"])
            _ip_batch(ns, lines)
        return ns

    @staticmethod
    def _routes(ns, eth0):
        lines = []
        default = {4: None, 6: None}
        for gw in eth0["gateways"]:
            v = ipaddress.ip_address(gw).version
            if default[v] is None:
                default[v] = gw
        for dst, gw in eth0["routes"]:
            if dst in ("", "0.0.0.0/0", "::/0"):  # Kube-OVN: an empty dst replaces the default route
                if gw:
                    default[ipaddress.ip_address(gw).version] = gw
                continue
            lines.append("route replace %s %s dev eth0" % (dst, ("via " + gw) if gw else ""))
        for gw in default.values():
            if gw:
                lines.insert(0, "route replace default via %s dev eth0" % gw)
        if lines:
            _ip_batch(ns, lines)

    def teardown(self, namespace, pod):
        ns = netns_name(self.prefix, namespace, pod)
        if netns_exists(ns):
            run("ip", "netns", "del", ns, check=False)
        self.vsctl("--if-exists", "del-port", "br-int", port_name(namespace, pod), check=False)

    def own_ports(self):
        """{port name: ("<namespace>/<pod>", uid)} of the ports this node's agents made (uid ""
        on a port that does not carry one)."""
        p = self.vsctl("--format=json", "--columns=name,external_ids", "find", "interface",
                       "external_ids:testbed-node=%s" % self.name, check=False)
        out = {}
        try:
            rows = json.loads(p.stdout or "{}").get("data") or []
        except ValueError:
            return out
        for name, ids in rows:
            ext = dict(ids[1]) if isinstance(ids, list) and len(ids) == 2 and ids[0] == "map" else {}
            if "testbed-pod" in ext:
                out[name] = (ext["testbed-pod"], ext.get("testbed-uid", ""))
        return out
