//! The VPC core proven with packets: a 2-node testbed cluster
//! (`testbed/cluster.sh`: real OVN, a chassis per node, geneve between them,
//! a node agent that makes pods network namespaces), `ovn-vpcd run` against
//! its NB and API server, seed 002 applied with kubectl, pods created with
//! kubectl, and pings, HTTP and tcpdump inside the pods' namespaces.
//!
//! One cluster for the file: one test runs the cases in sequence (a cluster
//! costs ~6 s to start; each case ~1 s).
//!
//! The next hops of seed 002's routes and policies (10.0.1.252, .254) are
//! appliances, not pods: switch ports added with ovn-nbctl (no
//! port_security) wired to a namespace of their own on a node, as a router
//! appliance would be. They sit in net1's excludeIps (10.0.1.250..254),
//! which is what that range is for; a pod cannot be pinned there. A pod as a
//! next hop is checked too (r3): its port carries port_security by default
//! (src/kinds/pod/rows.rs), which drops a routed packet whose destination is
//! not the pod's own address, and none once the pod is annotated
//! `ovn.kubernetes.io/port_security: "false"`.

use std::process::Command;
use std::time::Duration;

use ovn_vpcd::testbed::cluster::{Cluster, PodProcess};

mod common;
use common::{wait_for, Daemon};

const SEED_002: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed-002.yaml");

/// A second subnet of test-vpc-1, for routing across its router.
const NET3: &str = r#"{"apiVersion": "kubeovn.io/v1", "kind": "Subnet", "metadata": {"name": "net3"},
 "spec": {"vpc": "test-vpc-1", "namespaces": ["ns1"], "cidrBlock": "10.0.2.0/24", "natOutgoing": false}}"#;

/// Seed 002's two policies, and a drop of the same shape towards an address
/// outside every subnet of the VPC (the seed's own drop, towards
/// 10.0.1.250, is shadowed by net1's automatic `ip4.dst == 10.0.1.0/24`
/// allow at 31000, as in Kube-OVN: traffic to the subnet is never
/// policed; 10.0.1.250 is on-link for net1 anyway).
const POLICIES: &str = r#"{"spec": {"policyRoutes": [
  {"action": "drop", "match": "ip4.src==10.0.1.0/24 && ip4.dst==10.0.1.250", "priority": 11},
  {"action": "drop", "match": "ip4.src==10.0.1.0/24 && ip4.dst==198.51.100.9", "priority": 12},
  {"action": "reroute", "match": "ip4.dst==203.0.113.0/24", "nextHopIP": "10.0.2.50", "priority": 13},
  {"action": "reroute", "match": "ip4.src==10.0.1.0/24", "nextHopIP": "10.0.1.252", "priority": 10}]}}"#;

fn pod_json(name: &str, namespace: &str, subnet: &str, ip: &str, node: &str) -> String {
    format!(
        r#"{{"apiVersion": "v1", "kind": "Pod",
 "metadata": {{"name": "{name}", "namespace": "{namespace}", "annotations": {{
   "ovn.kubernetes.io/logical_switch": "{subnet}", "ovn.kubernetes.io/ip_address": "{ip}"}}}},
 "spec": {{"nodeName": "{node}", "terminationGracePeriodSeconds": 1,
   "containers": [{{"name": "web", "image": "nginx"}}]}}}}"#
    )
}

struct Bed {
    cluster: Cluster,
    _daemon: Daemon,
}

impl Bed {
    fn pod(&self, name: &str, namespace: &str, subnet: &str, ip: &str, node: &str) {
        self.cluster.kubectl_stdin(&["apply", "-f", "-"], &pod_json(name, namespace, subnet, ip, node)).unwrap();
    }

    fn running(&self, namespace: &str, pod: &str) {
        common::pods::running(&self.cluster, namespace, pod, Duration::from_secs(30));
    }

    /// `cmd` in the pod; (exit success, stdout + stderr).
    fn exec(&self, namespace: &str, pod: &str, cmd: &[&str]) -> (bool, String) {
        common::pods::exec(&self.cluster, namespace, pod, cmd)
    }

    fn ping(&self, namespace: &str, pod: &str, dst: &str) -> (bool, String) {
        self.exec(namespace, pod, &["ping", "-c1", "-W2", dst])
    }

    /// Pings until one is answered (a new port takes a moment to be bound).
    fn ping_ok(&self, namespace: &str, pod: &str, dst: &str) -> String {
        let mut last = String::new();
        for _ in 0..20 {
            let (ok, text) = self.ping(namespace, pod, dst);
            if ok {
                return text;
            }
            last = text;
        }
        panic!("{namespace}/{pod} never reached {dst}: {last}");
    }

    /// The page the nginx container at `dst` serves: it names its pod.
    fn http(&self, namespace: &str, pod: &str, dst: &str) -> String {
        let (ok, text) = self.exec(namespace, pod, &["curl", "-sS", "--max-time", "3", &format!("http://{dst}/")]);
        assert!(ok, "{namespace}/{pod}: GET http://{dst}/: {text}");
        text.trim().to_string()
    }

    /// Echo requests that cannot be answered (the next hops do not route):
    /// three, so that a tcpdump at a next hop has something to see.
    fn send(&self, namespace: &str, pod: &str, dst: &str) {
        let (ok, text) = self.exec(namespace, pod, &["ping", "-c3", "-i0.2", "-W1", dst]);
        assert!(!ok, "nothing answers {dst}: {text}");
    }

    fn mac(&self, namespace: &str, pod: &str) -> String {
        let (ok, text) = self.exec(namespace, pod, &["cat", "/sys/class/net/eth0/address"]);
        assert!(ok, "{text}");
        text.trim().to_string()
    }
}

/// A router appliance on net1: a switch port written with ovn-nbctl (not
/// ovn-vpcd's: no port_security), bound to an OVS internal port of a node's
/// br-int moved into a namespace of its own, running tcpdump.
struct Appliance {
    netns: String,
    tcpdump: Option<PodProcess>,
}

impl Appliance {
    fn start(cluster: &Cluster, node: u32, name: &str, ip: &str, mac: &str) -> Appliance {
        let get = |k: &str| cluster.get(&format!("NODE_{node}_{k}")).unwrap().to_string();
        let (db, chassis_ns) = (get("OVS_DB"), get("NETNS"));
        let netns = format!("{}-{name}", cluster.get("NETNS_PREFIX").unwrap());
        cluster.nbctl(&["lsp-add", "net1", name, "--", "lsp-set-addresses", name, &format!("{mac} {ip}")]).unwrap();
        let sh = |args: &[&str]| {
            let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        sh(&[
            "ovs-vsctl",
            &format!("--db={db}"),
            "add-port",
            "br-int",
            name,
            "--",
            "set",
            "interface",
            name,
            "type=internal",
            &format!("external_ids:iface-id={name}"),
        ]);
        sh(&["ip", "netns", "add", &netns]);
        wait_for(&format!("{name}'s tap in the chassis"), Duration::from_secs(10), || {
            Command::new("ip")
                .args(["-n", &chassis_ns, "link", "show", name])
                .output()
                .ok()?
                .status
                .success()
                .then_some(())
        });
        sh(&["ip", "-n", &chassis_ns, "link", "set", name, "netns", &netns]);
        sh(&["ip", "-n", &netns, "link", "set", name, "address", mac]);
        sh(&["ip", "-n", &netns, "addr", "add", &format!("{ip}/24"), "dev", name]);
        sh(&["ip", "-n", &netns, "link", "set", name, "up"]);
        let log = cluster.dir().join(format!("{name}.tcpdump"));
        let child = Command::new("ip")
            .args(["netns", "exec", &netns, "tcpdump", "-l", "-n", "-i", name, "icmp"])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(cluster.dir().join(format!("{name}.tcpdump.err"))).unwrap())
            .spawn()
            .unwrap();
        let tcpdump = PodProcess::from_child(child, &log);
        let err = cluster.dir().join(format!("{name}.tcpdump.err"));
        wait_for("tcpdump listening", Duration::from_secs(10), || {
            std::fs::read_to_string(&err).ok().filter(|t| t.contains("listening on")).map(drop)
        });
        Appliance { netns, tcpdump: Some(tcpdump) }
    }

    /// Whether tcpdump saw an echo request from `src` to `dst`.
    fn saw(&self, src: &str, dst: &str) -> bool {
        let want = format!("{src} > {dst}: ICMP echo request");
        self.tcpdump.as_ref().unwrap().output().contains(&want)
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        self.tcpdump.take();
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

fn start() -> Bed {
    let cluster = Cluster::start(2).unwrap_or_else(|e| panic!("the testbed cluster did not start: {e}"));
    let crds = Command::new(env!("CARGO_BIN_EXE_ovn-vpcd")).arg("crds").output().unwrap();
    assert!(crds.status.success());
    cluster.kubectl_stdin(&["apply", "-f", "-"], &String::from_utf8_lossy(&crds.stdout)).unwrap();
    let config = cluster.daemon_config("ovn-vpcd.toml", "dataplane");
    let daemon = Daemon::start_on(cluster.nb_db(), &config, cluster.dir());
    Bed { cluster, _daemon: daemon }
}

#[test]
fn the_vpc_core_carries_packets_as_seed_002_says() {
    let bed = start();
    let c = &bed.cluster;
    assert_eq!(c.nodes(), ["node-1", "node-2"]);
    c.kubectl(&["apply", "--validate=false", "-f", SEED_002]).unwrap();
    c.kubectl(&["create", "namespace", "ns1"]).unwrap();
    c.kubectl_stdin(&["apply", "-f", "-"], NET3).unwrap();
    c.kubectl(&["patch", "vpc", "test-vpc-1", "--type=merge", "-p", POLICIES]).unwrap();
    // Two VPCs, the same 10.0.1.0/24, the same two addresses in each.
    bed.pod("a1", "ns1", "net1", "10.0.1.10", "node-1");
    bed.pod("a2", "ns1", "net1", "10.0.1.20", "node-2");
    bed.pod("b1", "default", "net2", "10.0.1.10", "node-2");
    bed.pod("b2", "default", "net2", "10.0.1.20", "node-1");
    bed.pod("c1", "ns1", "net3", "10.0.2.10", "node-2");
    for (ns, p) in [("ns1", "a1"), ("ns1", "a2"), ("default", "b1"), ("default", "b2"), ("ns1", "c1")] {
        bed.running(ns, p);
    }
    wait_for("seed 002's policies on test-vpc-1", Duration::from_secs(20), || {
        let p = c.nbctl(&["lr-policy-list", "test-vpc-1"]).ok()?;
        (p.contains("198.51.100.9") && p.contains("10.0.1.252")).then_some(())
    });

    // Each VPC reaches only its own pod at 10.0.1.20.
    assert_eq!(bed.http("ns1", "a1", "10.0.1.20"), "Welcome to nginx! pod a2 saw 10.0.1.10");
    assert_eq!(bed.http("default", "b1", "10.0.1.20"), "Welcome to nginx! pod b2 saw 10.0.1.10");
    bed.ping_ok("ns1", "a1", "10.0.1.20");
    bed.ping_ok("default", "b1", "10.0.1.20");
    let (a2, b2) = (bed.mac("ns1", "a2"), bed.mac("default", "b2"));
    assert_ne!(a2, b2);
    let neigh = |ns, p| bed.exec(ns, p, &["ip", "neigh", "show", "10.0.1.20"]).1;
    assert!(neigh("ns1", "a1").contains(&a2), "a1 resolved 10.0.1.20 to a2's MAC {a2}: {}", neigh("ns1", "a1"));
    assert!(neigh("default", "b1").contains(&b2), "b1 resolved 10.0.1.20 to b2's MAC {b2}: {}", neigh("default", "b1"));

    // Two subnets of test-vpc-1 across its router, node-1 to node-2 (geneve):
    // answered after one hop (ttl 63), both ways.
    let out = bed.ping_ok("ns1", "a1", "10.0.2.10");
    assert!(out.contains("ttl=63"), "routed once: {out}");
    assert_eq!(bed.http("ns1", "c1", "10.0.1.10"), "Welcome to nginx! pod a1 saw 10.0.2.10");

    // The next hops, with tcpdump.
    let nh252 = Appliance::start(c, 2, "nh252", "10.0.1.252", "0a:00:00:01:02:52");
    let nh254 = Appliance::start(c, 1, "nh254", "10.0.1.254", "0a:00:00:01:02:54");

    // reroute: net1's traffic leaving the VPC goes to 10.0.1.252, not to
    // the default route's 10.0.1.254.
    bed.send("ns1", "a1", "198.51.100.7");
    wait_for("nh252 sees a1's packet to 198.51.100.7", Duration::from_secs(5), || {
        nh252.saw("10.0.1.10", "198.51.100.7").then_some(())
    });
    assert!(
        !nh254.saw("10.0.1.10", "198.51.100.7"),
        "rerouted, not routed: {}",
        nh254.tcpdump.as_ref().unwrap().output()
    );

    // A static route: net3 is not rerouted (the policy matches net1's
    // source); 0.0.0.0/0 sends it to 10.0.1.254.
    bed.send("ns1", "c1", "198.51.100.8");
    wait_for("nh254 sees c1's packet to 198.51.100.8", Duration::from_secs(5), || {
        nh254.saw("10.0.2.10", "198.51.100.8").then_some(())
    });
    assert!(!nh252.saw("10.0.2.10", "198.51.100.8"), "{}", nh252.tcpdump.as_ref().unwrap().output());

    // drop (priority 12, before the reroute at 10): exactly that destination.
    bed.send("ns1", "a1", "198.51.100.9");
    bed.send("ns1", "a1", "198.51.100.7");
    wait_for("nh252 sees the second packet to 198.51.100.7", Duration::from_secs(5), || {
        (nh252.tcpdump.as_ref().unwrap().output().matches("10.0.1.10 > 198.51.100.7: ICMP echo request").count() >= 6)
            .then_some(())
    });
    for nh in [&nh252, &nh254] {
        assert!(!nh.saw("10.0.1.10", "198.51.100.9"), "dropped: {}", nh.tcpdump.as_ref().unwrap().output());
    }

    // A pod as the next hop (a router or gateway pod): 203.0.113.0/24 is
    // rerouted to r3 (10.0.2.50 on net3). With its port's port_security (the
    // default) OVN delivers it nothing addressed to others; annotated
    // `ovn.kubernetes.io/port_security: "false"` it receives the traffic.
    bed.pod("r3", "ns1", "net3", "10.0.2.50", "node-1");
    bed.running("ns1", "r3");
    let log = c.dir().join("r3.tcpdump");
    let r3 = c.spawn_in_pod("ns1", "r3", &["tcpdump", "-l", "-n", "-i", "eth0", "icmp"], &log).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    bed.send("ns1", "a1", "203.0.113.5");
    std::thread::sleep(Duration::from_millis(300));
    let seen = |o: &str| o.contains("10.0.1.10 > 203.0.113.5: ICMP echo request");
    assert!(!seen(&r3.output()), "port_security keeps others' traffic from r3: {}", r3.output());
    c.kubectl(&["annotate", "pod", "r3", "-n", "ns1", "ovn.kubernetes.io/port_security=false"]).unwrap();
    wait_for("r3's port without port_security", Duration::from_secs(15), || {
        let ps = c.nbctl(&["get", "Logical_Switch_Port", "r3.ns1", "port_security"]).ok()?;
        (ps.trim() == "[]").then_some(())
    });
    bed.send("ns1", "a1", "203.0.113.5");
    wait_for("r3 sees a1's packet to 203.0.113.5", Duration::from_secs(5), || seen(&r3.output()).then_some(()));
    drop(r3);

    // A pod deleted and recreated under the same name gets a working port.
    c.kubectl(&["delete", "pod", "a2", "-n", "ns1", "--wait=true", "--timeout=30s"]).unwrap();
    let (ok, text) = bed.ping("ns1", "a1", "10.0.1.20");
    assert!(!ok, "a2 is gone: {text}");
    bed.pod("a2", "ns1", "net1", "10.0.1.20", "node-1");
    bed.running("ns1", "a2");
    bed.ping_ok("ns1", "a1", "10.0.1.20");
    assert_eq!(bed.http("ns1", "a1", "10.0.1.20"), "Welcome to nginx! pod a2 saw 10.0.1.10");

    // DHCP on net2 (enableDHCP): ovn-controller answers the pod's client
    // with its port's address and the subnet's options.
    let script = c.dir().join("udhcpc.sh");
    std::fs::write(&script, "#!/bin/sh\nenv | grep -E '^(ip|mask|router|serverid|lease)=' | sort\n").unwrap();
    Command::new("chmod").arg("+x").arg(&script).status().unwrap();
    let (ok, text) = bed.exec(
        "default",
        "b1",
        &["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3", "-T", "1", "-s", script.to_str().unwrap()],
    );
    assert!(ok, "udhcpc: {text}");
    for want in ["ip=10.0.1.10", "mask=24", "router=10.0.1.1", "serverid=169.254.0.254", "lease=3600"] {
        assert!(text.lines().any(|l| l == want), "{want} in the DHCP answer: {text}");
    }
}
