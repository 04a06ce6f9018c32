"""workloads.py: the workload controllers: Deployment -> ReplicaSet (one per template hash, revisions,
history limit, status and conditions), ReplicaSet -> Pods, StatefulSet -> Pods <name>-<i> (each
recreated under its name when gone; OrderedReady makes pod i once 0..i-1 are Ready and removes the
highest ordinal first, one at a time; Parallel does all at once). Mixed into Controllers.
"""

from .util import jcopy, labels_of, md_of, now_ts, obj_key, rand_suffix, template_hash
from .registry import SK_DEPLOY, SK_PODS, SK_RS, SK_STS


class Workloads:
    # -- deployments -> replica sets --
    def deployments(self):
        for d in list(self.store.objs[SK_DEPLOY].values()):
            md = d["metadata"]
            if md.get("deletionTimestamp"):
                continue
            spec = d.get("spec") or {}
            tmpl = spec.get("template") or {}
            h = template_hash(tmpl)
            want = spec.get("replicas", 1)
            rss = self._owned(SK_RS, md["uid"])
            new_rs = next((r for r in rss if labels_of(r).get("pod-template-hash") == h), None)
            olds = [r for r in rss if r is not new_rs]
            revs = [int((md_of(r).get("annotations") or {}).get("deployment.kubernetes.io/revision", "0") or 0) for r in rss]
            if not spec.get("paused"):
                if new_rs is None:
                    rev = str(max(revs + [0]) + 1)
                    t = jcopy(tmpl)
                    tmd = t.setdefault("metadata", {})
                    tmd.setdefault("labels", {})["pod-template-hash"] = h
                    sel = jcopy(spec.get("selector") or {})
                    sel.setdefault("matchLabels", {})["pod-template-hash"] = h
                    new_rs = self._create(SK_RS, {
                        "apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "metadata": {"name": "%s-%s" % (md["name"], h), "namespace": md["namespace"],
                                     "labels": dict(tmd["labels"]),
                                     "annotations": {"deployment.kubernetes.io/desired-replicas": str(want),
                                                     "deployment.kubernetes.io/max-replicas": str(want),
                                                     "deployment.kubernetes.io/revision": rev},
                                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                          "name": md["name"], "uid": md["uid"], "controller": True,
                                                          "blockOwnerDeletion": True}]},
                        "spec": {"replicas": want, "selector": sel, "template": t}})
                elif (new_rs.get("spec") or {}).get("replicas") != want:
                    n = jcopy(new_rs)
                    n["spec"]["replicas"] = want
                    n["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/desired-replicas"] = str(want)
                    n["metadata"]["generation"] = (n["metadata"].get("generation") or 1) + 1
                    new_rs = self.api.commit_update(SK_RS, new_rs, n)
                for r in olds:
                    if (r.get("spec") or {}).get("replicas") != 0 and not md_of(r).get("deletionTimestamp"):
                        n = jcopy(r)
                        n["spec"]["replicas"] = 0
                        n["metadata"]["generation"] = (n["metadata"].get("generation") or 1) + 1
                        self.api.commit_update(SK_RS, r, n)
                limit = spec.get("revisionHistoryLimit", 10)
                olds.sort(key=lambda r: int((md_of(r).get("annotations") or {}).get("deployment.kubernetes.io/revision", "0") or 0))
                for r in olds[:max(0, len(olds) - limit)]:
                    cur = self.store.objs[SK_RS].get(obj_key(r))
                    if cur is not None and not (cur.get("status") or {}).get("replicas"):
                        self.api.delete_obj(SK_RS, cur)
            rss = self._owned(SK_RS, md["uid"])
            new_rs = next((r for r in rss if labels_of(r).get("pod-template-hash") == h), None)
            tot = lambda f: sum(int((r.get("status") or {}).get(f) or 0) for r in rss)
            st = {"observedGeneration": md.get("generation", 1), "replicas": tot("replicas"),
                  "updatedReplicas": int(((new_rs or {}).get("status") or {}).get("replicas") or 0),
                  "readyReplicas": tot("readyReplicas"), "availableReplicas": tot("availableReplicas")}
            unavailable = max(0, want - st["availableReplicas"])
            if unavailable:
                st["unavailableReplicas"] = unavailable
            for k in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
                if not st[k]:
                    del st[k]
            avail = st.get("availableReplicas", 0) >= want
            old_st = d.get("status") or {}
            old_conds = {c.get("type"): c for c in old_st.get("conditions") or []}

            def cond(t, status, reason, msg):
                o = old_conds.get(t)
                ts = now_ts()
                if o and o.get("status") == status and o.get("reason") == reason and o.get("message") == msg:
                    return o
                return {"type": t, "status": status, "lastUpdateTime": ts,
                        "lastTransitionTime": o.get("lastTransitionTime") if o and o.get("status") == status else ts,
                        "reason": reason, "message": msg}
            rsname = md_of(new_rs).get("name") if new_rs else md["name"]
            st["conditions"] = [
                cond("Available", "True" if avail else "False",
                     "MinimumReplicasAvailable" if avail else "MinimumReplicasUnavailable",
                     "Deployment has minimum availability." if avail else "Deployment does not have minimum availability."),
                cond("Progressing", "True", "NewReplicaSetAvailable" if avail else "ReplicaSetUpdated",
                     'ReplicaSet "%s" has successfully progressed.' % rsname if avail else 'ReplicaSet "%s" is progressing.' % rsname)]
            new = jcopy(d)
            new["status"] = st
            if rss and new_rs is not None:
                rev = (md_of(new_rs).get("annotations") or {}).get("deployment.kubernetes.io/revision")
                if rev:
                    new["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = rev
            self.api.commit_update(SK_DEPLOY, d, new)

    # -- replica sets -> pods --
    def replicasets(self):
        for rs in list(self.store.objs[SK_RS].values()):
            md = rs["metadata"]
            spec = rs.get("spec") or {}
            pods = [p for p in self._owned(SK_PODS, md["uid"])]
            live = [p for p in pods if not md_of(p).get("deletionTimestamp")]
            want = spec.get("replicas", 1)
            if not md.get("deletionTimestamp"):
                if len(live) < want:
                    tmpl = spec.get("template") or {}
                    tmd = tmpl.get("metadata") or {}
                    for _ in range(want - len(live)):
                        pmd = {"name": "%s-%s" % (md["name"], rand_suffix()), "namespace": md["namespace"],
                               "labels": dict(tmd.get("labels") or {}),
                               "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": md["name"],
                                                    "uid": md["uid"], "controller": True, "blockOwnerDeletion": True}]}
                        if tmd.get("annotations"):
                            pmd["annotations"] = dict(tmd["annotations"])
                        p = self._create(SK_PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": pmd,
                                                   "spec": jcopy(tmpl.get("spec") or {})})
                        if p is not None:
                            live.append(p)
                elif len(live) > want:
                    live.sort(key=lambda p: (md_of(p).get("creationTimestamp", ""), md_of(p).get("name", "")), reverse=True)
                    live.sort(key=self._pod_ready)
                    for p in live[:len(live) - want]:
                        self.api.delete_obj(SK_PODS, p)
                    live = live[len(live) - want:]
            live = [self.store.objs[SK_PODS].get(obj_key(p), p) for p in live]
            ready = sum(1 for p in live if self._pod_ready(p))
            st = {"replicas": len(live), "fullyLabeledReplicas": len(live), "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": md.get("generation", 1)}
            for k in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
                if not st[k]:
                    del st[k]
            if st != (rs.get("status") or {}):
                new = jcopy(rs)
                new["status"] = st
                self.api.commit_update(SK_RS, rs, new)

    # -- stateful sets -> pods <name>-<i> --
    def statefulsets(self):
        for ss in list(self.store.objs[SK_STS].values()):
            md = ss["metadata"]
            spec = ss.get("spec") or {}
            want = spec.get("replicas", 1)
            tmpl = spec.get("template") or {}
            revision = "%s-%s" % (md["name"], template_hash(tmpl))
            parallel = spec.get("podManagementPolicy") == "Parallel"
            owned = {md_of(p).get("name"): p for p in self._owned(SK_PODS, md["uid"])}
            if not md.get("deletionTimestamp"):
                for i in range(want):
                    name = "%s-%d" % (md["name"], i)
                    p = owned.get(name)
                    if p is None:
                        if (md["namespace"], name) in self.store.objs[SK_PODS]:
                            break  # a pod of that name that is not this set's: wait for it to go
                        p = self._create(SK_PODS, self._sts_pod(ss, tmpl, name, i, revision))
                        if p is None:
                            break
                        owned[name] = p
                    if not parallel and (md_of(p).get("deletionTimestamp") or not self._pod_ready(p)):
                        break
                extra = sorted(((self._ordinal(md["name"], n), p) for n, p in owned.items()
                                if self._ordinal(md["name"], n) >= want), key=lambda e: -e[0])
                for _i, p in extra:
                    if not md_of(p).get("deletionTimestamp"):
                        self.api.delete_obj(SK_PODS, p)
                    if not parallel:
                        break
            live = [self.store.objs[SK_PODS][obj_key(p)] for p in owned.values()
                    if obj_key(p) in self.store.objs[SK_PODS] and not md_of(p).get("deletionTimestamp")]
            ready = sum(1 for p in live if self._pod_ready(p))
            st = {"replicas": len(live), "readyReplicas": ready, "currentReplicas": len(live),
                  "updatedReplicas": len(live), "availableReplicas": ready, "currentRevision": revision,
                  "updateRevision": revision, "collisionCount": 0, "observedGeneration": md.get("generation", 1)}
            for k in ("readyReplicas", "currentReplicas", "updatedReplicas"):
                if not st[k]:
                    del st[k]
            if st != (ss.get("status") or {}):
                new = jcopy(ss)
                new["status"] = st
                self.api.commit_update(SK_STS, ss, new)

    @staticmethod
    def _ordinal(set_name, pod_name):
        tail = (pod_name or "")[len(set_name) + 1:]
        return int(tail) if tail.isdigit() else 1 << 30  # a name not of the form: removed first

    @staticmethod
    def _sts_pod(ss, tmpl, name, i, revision):
        md = ss["metadata"]
        tmd = tmpl.get("metadata") or {}
        labels = dict(tmd.get("labels") or {})
        labels.update({"statefulset.kubernetes.io/pod-name": name, "apps.kubernetes.io/pod-index": str(i),
                       "controller-revision-hash": revision})
        pmd = {"name": name, "namespace": md["namespace"], "labels": labels,
               "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": md["name"],
                                    "uid": md["uid"], "controller": True, "blockOwnerDeletion": True}]}
        if tmd.get("annotations"):
            pmd["annotations"] = dict(tmd["annotations"])
        spec = jcopy(tmpl.get("spec") or {})
        spec.setdefault("hostname", name)
        if (ss.get("spec") or {}).get("serviceName"):
            spec.setdefault("subdomain", ss["spec"]["serviceName"])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": pmd, "spec": spec}

    @staticmethod
    def _pod_ready(p):
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (p.get("status") or {}).get("conditions") or [])
