"""scheduler.py: the scheduler and the fake kubelet: pods bound to nodes (least-loaded node, then name), pod IPs
from --pod-cidr (or the ovn.kubernetes.io/ip_address and ip_pool annotations), status Running
and Ready. Mixed into Controllers.
"""

import collections
import re
import uuid

from .util import jcopy, labels_of, md_of, now_ts, obj_key
from .registry import SK_NODES, SK_PODS


class Scheduler:
    # -- scheduler and kubelet --
    def pods(self):
        nodes = {k[1]: n for k, n in self.store.objs[SK_NODES].items() if not md_of(n).get("deletionTimestamp")}
        pods = sorted(self.store.objs[SK_PODS].values(), key=lambda p: (md_of(p).get("creationTimestamp", ""), obj_key(p)))
        counts = collections.Counter((p.get("spec") or {}).get("nodeName") for p in pods)
        used = set()
        for p in pods:
            for ip in (p.get("status") or {}).get("podIPs") or []:
                used.add(ip.get("ip"))
        for p in pods:
            md = md_of(p)
            if md.get("deletionTimestamp"):
                continue
            spec = p.get("spec") or {}
            st = p.get("status") or {}
            new = None
            if not spec.get("nodeName"):
                sel = spec.get("nodeSelector") or {}
                cands = sorted((n for n, o in nodes.items()
                                if all(labels_of(o).get(k) == v for k, v in sel.items())
                                and not (o.get("spec") or {}).get("unschedulable")),
                               key=lambda n: (counts[n], n))
                if cands:
                    new = jcopy(p)
                    new["spec"]["nodeName"] = cands[0]
                    counts[cands[0]] += 1
                    self._set_cond(new, "PodScheduled", "True", None, None)
                else:
                    msg = "0/%d nodes are available: %d node(s) didn't match Pod's node affinity/selector." % (len(nodes), len(nodes))
                    conds = {c.get("type"): c for c in st.get("conditions") or []}
                    c = conds.get("PodScheduled")
                    if not c or c.get("status") != "False" or c.get("message") != msg:
                        new = jcopy(p)
                        self._set_cond(new, "PodScheduled", "False", "Unschedulable", msg)
            cur = new or p
            node = (cur.get("spec") or {}).get("nodeName")
            if self.api.kubelet and node in nodes and (cur.get("status") or {}).get("phase") not in ("Running", "Succeeded", "Failed"):
                ips = self._pod_ips(cur, nodes[node], used)
                if ips:
                    if new is None:
                        new = jcopy(p)
                    self._run(new, nodes[node], ips)
            if new is not None:
                self.api.commit_update(SK_PODS, p, new)

    @staticmethod
    def _set_cond(pod, t, status, reason, msg):
        st = pod.setdefault("status", {})
        conds = [c for c in st.get("conditions") or [] if c.get("type") != t]
        c = {"type": t, "status": status, "lastProbeTime": None, "lastTransitionTime": now_ts()}
        if reason:
            c["reason"] = reason
        if msg:
            c["message"] = msg
        conds.append(c)
        st["conditions"] = conds

    def _pod_ips(self, pod, node, used):
        host_ip = next((a.get("address") for a in (node.get("status") or {}).get("addresses") or []
                        if a.get("type") == "InternalIP"), "")
        if (pod.get("spec") or {}).get("hostNetwork"):
            return [host_ip]
        ann = md_of(pod).get("annotations") or {}
        fixed = ann.get("ovn.kubernetes.io/ip_address")
        if fixed:
            ips = [x.strip().split("/")[0] for x in fixed.split(",") if x.strip()]
            used.update(ips)
            return ips
        pool = ann.get("ovn.kubernetes.io/ip_pool")
        if pool:
            for cand in re.split(r"[,;]", pool):
                c = cand.strip().split("/")[0]
                if c and c not in used:
                    used.add(c)
                    return [c]
            return None
        net = self.api.pod_net
        size = net.num_addresses
        for _ in range(max(size - 3, 1)):
            self.api.ip_cursor = (self.api.ip_cursor % max(size - 3, 1)) + 1
            ip = str(net.network_address + 1 + self.api.ip_cursor)  # skips network and the gateway (.1)
            if ip not in used:
                used.add(ip)
                return [ip]
        return None

    def _run(self, pod, node, ips):
        ts = now_ts()
        spec = pod.get("spec") or {}
        host_ip = next((a.get("address") for a in (node.get("status") or {}).get("addresses") or []
                        if a.get("type") == "InternalIP"), "")
        st = pod.setdefault("status", {})
        st["phase"] = "Running"
        st["hostIP"] = host_ip
        st["hostIPs"] = [{"ip": host_ip}]
        st["podIP"] = ips[0]
        st["podIPs"] = [{"ip": ip} for ip in ips]
        st["startTime"] = st.get("startTime") or ts
        for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"):
            if t != "PodScheduled" or not any(c.get("type") == t and c.get("status") == "True" for c in st.get("conditions") or []):
                self._set_cond(pod, t, "True", None, None)
        st["containerStatuses"] = [{
            "name": c.get("name"), "image": c.get("image"), "imageID": "testbed://" + str(c.get("image")),
            "containerID": "testbed://" + uuid.uuid4().hex, "ready": True, "started": True, "restartCount": 0,
            "state": {"running": {"startedAt": ts}}, "lastState": {}} for c in spec.get("containers") or []]
