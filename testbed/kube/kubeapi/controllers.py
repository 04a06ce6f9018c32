"""controllers.py: the controllers: one thread, one pass after every write (or each second), under the store's
lock: namespace termination, each namespace's `default` ServiceAccount, CRD cleanup, garbage collection
by ownerReferences, then the workloads (workloads.py) and the scheduler and kubelet (scheduler.py).
"""

import collections
import threading
import time
import traceback

from .util import jcopy, log, md_of, obj_key, rand_suffix
from .errors import ApiError
from .registry import SK_CRD, SK_NS
from .workloads import Workloads
from .scheduler import Scheduler


# --------------------------------------------------------------------------------------------
# controllers: namespace termination, CRD cleanup, garbage collection, deployments, replica
# sets, the scheduler and the kubelet


class Controllers(Workloads, Scheduler, threading.Thread):
    def __init__(self, api):
        super().__init__(name="controllers", daemon=True)
        self.api = api
        self.store = api.store
        with self.store.lock:
            self.scheduler_init()

    def run(self):
        while True:
            self.store.wake.wait(timeout=1.0)
            self.store.wake.clear()
            try:
                with self.store.lock:
                    self.pass_once()
            except Exception:
                log("controller error:\n" + traceback.format_exc())
                time.sleep(0.5)

    def pass_once(self):
        self.namespaces()
        self.service_accounts()
        self.crds()
        if self.store.gc_needed:
            self.store.gc_needed = False
            self.gc()
        self.deployments()
        self.replicasets()
        self.statefulsets()
        self.pods()

    # -- namespaces --
    def namespaces(self):
        for ns in list(self.store.objs[SK_NS].values()):
            md = ns["metadata"]
            if not md.get("deletionTimestamp"):
                continue
            name = md["name"]
            left = 0
            for skey in self.api.reg.namespaced_skeys():
                for key, o in list(self.store.objs[skey].items()):
                    if key[0] != name:
                        continue
                    _, gone = self.api.delete_obj(skey, o)
                    if not gone:
                        left += 1
            if left == 0 and not md.get("finalizers"):
                final = jcopy(ns)
                final.setdefault("spec", {})["finalizers"] = []
                self.store.commit(SK_NS, "DELETED", final, ns)

    # -- every namespace's `default` ServiceAccount, made again when deleted --
    def service_accounts(self):
        for ns in list(self.store.objs[SK_NS].values()):
            self.api.ensure_default_sa(ns["metadata"]["name"])

    # -- CRDs --
    def crds(self):
        for crd in list(self.store.objs[SK_CRD].values()):
            md = crd["metadata"]
            fin = "customresourcecleanup.apiextensions.k8s.io"
            if not md.get("deletionTimestamp") or fin not in (md.get("finalizers") or []):
                continue
            spec = crd.get("spec") or {}
            skey = "%s/%s" % (spec.get("group"), (spec.get("names") or {}).get("plural"))
            left = 0
            for o in list(self.store.objs[skey].values()):
                _, gone = self.api.delete_obj(skey, o)
                if not gone:
                    left += 1
            if left == 0:
                new = jcopy(crd)
                new["metadata"]["finalizers"] = [f for f in md.get("finalizers") if f != fin]
                self.api.commit_update(SK_CRD, crd, new)

    # -- garbage collector --
    def gc(self):
        live = self.store.uids
        dependents = collections.defaultdict(list)
        for skey, objs in list(self.store.objs.items()):
            for o in list(objs.values()):
                refs = md_of(o).get("ownerReferences") or []
                if not refs:
                    continue
                for r in refs:
                    dependents[r.get("uid")].append((skey, obj_key(o)))
                if not any(r.get("uid") in live for r in refs) and not md_of(o).get("deletionTimestamp"):
                    cur = self.store.objs[skey].get(obj_key(o))
                    if cur is not None:
                        self.api.delete_obj(skey, cur)
        for skey, objs in list(self.store.objs.items()):
            for o in list(objs.values()):
                md = md_of(o)
                if not md.get("deletionTimestamp") or "foregroundDeletion" not in (md.get("finalizers") or []):
                    continue
                deps = [(sk, k) for sk, k in dependents.get(md.get("uid"), []) if k in self.store.objs[sk]]
                for sk, k in deps:
                    d = self.store.objs[sk][k]
                    if not md_of(d).get("deletionTimestamp"):
                        self.api.delete_obj(sk, d, "Foreground")
                if not deps:
                    new = jcopy(o)
                    new["metadata"]["finalizers"] = [f for f in md["finalizers"] if f != "foregroundDeletion"]
                    self.api.commit_update(skey, o, new)
                else:
                    self.store.gc_needed = True

    def _owned(self, skey, owner_uid):
        return [o for o in self.store.objs[skey].values()
                if any(r.get("uid") == owner_uid and r.get("controller") for r in md_of(o).get("ownerReferences") or [])]

    def _create(self, skey, obj):
        rd = self.api.reg.by_skey(skey)[0]
        ns = md_of(obj).get("namespace")
        for _ in range(8):
            try:
                return self.api.create(rd, ns, obj, {})[1]
            except ApiError as e:
                if e.reason != "AlreadyExists":
                    log("controller: cannot create %s %s/%s: %s" % (rd.plural, ns, md_of(obj).get("name"), e.message))
                    return None
                obj["metadata"]["name"] = obj["metadata"]["name"][:-5] + rand_suffix()
        return None
