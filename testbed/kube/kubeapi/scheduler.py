"""scheduler.py: the scheduler and the fake kubelet: pods bound to nodes (the rules and the ranking
are placement.py's: feasible nodes, then preferences, least-loaded, name), pod IPs from --pod-cidr (or the ovn.kubernetes.io/ip_address and ip_pool annotations),
status Running and Ready. Mixed into Controllers.

Work in proportion to the change: a pass looks only at the pods committed since the last pass
(the dirty set, filled by a store hook) and at the pods that last time could not be placed or
given an IP (retried every pass); a commit of a Node, or the kubelet turned on or off
(/testbed/config), marks every pod dirty. Invariants, kept by
the hook under the store's lock: `node_pods[n]` is the number of stored pods with
spec.nodeName n (deleting ones included), `node_members[n]` their keys, `anti_pods` the keys of
those with required pod anti-affinity terms, `ip_refs[ip]` the number of stored pods whose
status.podIPs hold ip; a pod absent from dirty and retry would not be changed by a pass.
"""

import collections
import re
import uuid

from .util import jcopy, md_of, now_ts, obj_key
from .registry import SK_NODES, SK_PODS
from .placement import (REASON_ANTI_AFFINITY, REASON_SELECTOR, REASON_UNSCHEDULABLE, anti_affinity_terms,
    node_preference, node_selector_ok, same_domain, taint_reason, term_selects, unschedulable_message,
    untolerated_taint)


class Scheduler:
    # -- scheduler and kubelet --
    def scheduler_init(self):
        """Counts from the pods stored now, every pod dirty, the hook installed (under the lock)."""
        self.node_pods = collections.Counter()
        self.node_members = collections.defaultdict(set)  # node name -> keys of the pods bound to it
        self.anti_pods = set()  # keys of bound pods with required pod anti-affinity terms
        self.ip_refs = collections.Counter()
        self.dirty_pods = set()
        self.retry_pods = set()  # keys of pods left unplaced or without an IP by the last pass
        self.all_pods_dirty = True
        self.kubelet_seen = self.api.kubelet  # /testbed/config may turn the kubelet on or off
        for p in self.store.objs[SK_PODS].values():
            self._count_pod(p, 1)
        self.store.hooks.append(self._scheduler_hook)

    def _count_pod(self, pod, sign):
        spec = pod.get("spec") or {}
        node = spec.get("nodeName")
        self.node_pods[node] += sign
        if node:
            key = obj_key(pod)
            if sign > 0:
                self.node_members[node].add(key)
                if anti_affinity_terms(spec)[0]:
                    self.anti_pods.add(key)
            else:
                self.node_members[node].discard(key)
                self.anti_pods.discard(key)
        for ip in (pod.get("status") or {}).get("podIPs") or []:
            self.ip_refs[ip.get("ip")] += sign
            if self.ip_refs[ip.get("ip")] <= 0:
                del self.ip_refs[ip.get("ip")]

    def _scheduler_hook(self, skey, etype, obj, prev):
        if skey == SK_NODES:
            self.all_pods_dirty = True
        elif skey == SK_PODS:
            if prev is not None:
                self._count_pod(prev, -1)
            if etype == "DELETED":
                self.dirty_pods.discard(obj_key(obj))
                self.retry_pods.discard(obj_key(obj))
            else:
                self._count_pod(obj, 1)
                self.dirty_pods.add(obj_key(obj))

    def pods(self):
        nodes = {k[1]: n for k, n in self.store.objs[SK_NODES].items() if not md_of(n).get("deletionTimestamp")}
        stored = self.store.objs[SK_PODS]
        if self.api.kubelet != self.kubelet_seen:
            self.kubelet_seen = self.api.kubelet
            self.all_pods_dirty = True
        if self.all_pods_dirty:
            keys = set(stored)
            self.all_pods_dirty = False
        else:
            keys = self.dirty_pods | self.retry_pods
        self.dirty_pods = set()
        self.retry_pods = set()
        pods = sorted((stored[k] for k in keys if k in stored),
                      key=lambda p: (md_of(p).get("creationTimestamp", ""), obj_key(p)))
        counts = self.node_pods
        used = UsedIps(self.ip_refs)
        for p in pods:
            md = md_of(p)
            if md.get("deletionTimestamp"):
                continue
            spec = p.get("spec") or {}
            st = p.get("status") or {}
            new = None
            if not spec.get("nodeName"):
                chosen, msg = self._place(p, nodes, counts)
                if chosen:
                    new = jcopy(p)
                    new["spec"]["nodeName"] = chosen
                    self._set_cond(new, "PodScheduled", "True", None, None)
                else:
                    self.retry_pods.add(obj_key(p))
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
                else:
                    self.retry_pods.add(obj_key(p))
            if new is not None:
                # the hook counts the pod on its node and its IPs (before the next pod is placed)
                self.api.commit_update(SK_PODS, p, new)

    def _place(self, pod, nodes, counts):
        """-> (node name, None) or (None, the Unschedulable message); the rules are placement.py's."""
        spec = pod.get("spec") or {}
        required, preferred = anti_affinity_terms(spec)
        reasons = collections.Counter()
        ranked = []
        for name, node in nodes.items():
            if (node.get("spec") or {}).get("unschedulable"):
                reasons[REASON_UNSCHEDULABLE] += 1
            elif not node_selector_ok(spec, node):
                reasons[REASON_SELECTOR] += 1
            elif untolerated_taint(spec, node) is not None:
                reasons[taint_reason(untolerated_taint(spec, node))] += 1
            elif not self._anti_affinity_ok(pod, required, node, nodes):
                reasons[REASON_ANTI_AFFINITY] += 1
            else:
                score = 0
                if preferred:
                    score += sum(w for w, t in preferred if self._domain_has(t, md_of(pod).get("namespace"), node, nodes, pod))
                if spec.get("affinity"):
                    score -= node_preference(spec, node)
                ranked.append((score, counts[name], name))
        if ranked:
            return min(ranked)[2], None
        return None, unschedulable_message(len(nodes), reasons)

    def _domain_has(self, term, term_ns, node, nodes, pod):
        """Some pod (not pod) on a node of node's topology domain of term is selected by term."""
        stored = self.store.objs[SK_PODS]
        me = obj_key(pod)
        for name, other in nodes.items():
            if not same_domain(term, node, other):
                continue
            for key in self.node_members.get(name, ()):
                q = stored.get(key)
                if q is not None and key != me and term_selects(term, term_ns, q):
                    return True
        return False

    def _anti_affinity_ok(self, pod, required, node, nodes):
        ns = md_of(pod).get("namespace")
        if any(self._domain_has(t, ns, node, nodes, pod) for t in required):
            return False
        stored = self.store.objs[SK_PODS]
        for key in self.anti_pods:  # the placed pods' own terms, against this pod
            q = stored.get(key)
            if q is None or key == obj_key(pod):
                continue
            qnode = nodes.get((q.get("spec") or {}).get("nodeName"))
            if qnode is None:
                continue
            for t in anti_affinity_terms(q.get("spec") or {})[0]:
                if same_domain(t, node, qnode) and term_selects(t, md_of(q).get("namespace"), pod):
                    return False
        return True

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


class UsedIps:
    """The addresses a pass must not hand out: those of the stored pods (the hook's counts) and
    those handed out during this pass before their pod is committed."""

    def __init__(self, refs):
        self.refs = refs
        self.pending = set()

    def __contains__(self, ip):
        return ip in self.refs or ip in self.pending

    def add(self, ip):
        self.pending.add(ip)

    def update(self, ips):
        self.pending.update(ips)
