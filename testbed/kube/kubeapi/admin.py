"""admin.py: the testbed's admin endpoints (/testbed/...): injected faults, compaction, cutting watches and
the like (see testbed/README.md). Mixed into Handler.
"""

from .util import now_ts
from .errors import ApiError, err_bad_request, err_method, err_path_not_found


class Admin:
    # ---- admin -----------------------------------------------------------------------------

    def admin(self, parts, q, body):
        api = self.api
        store = api.store
        what = "/".join(parts)
        m = self.command
        if what == "compact" and m == "POST":
            with store.lock:
                store.compact()
                return self.send_json(200, {"compactedResourceVersion": str(store.compacted)})
        if what == "cut-watches" and m == "POST":
            with store.lock:
                n = 0
                for w in api.watches.values():
                    if q.get("resource") and q["resource"] not in (w.rd.plural, w.rd.qualified):
                        continue
                    w.cut = True
                    n += 1
                store.wake_watches()
            return self.send_json(200, {"cut": n})
        if what == "expire-watches" and m == "POST":
            with store.lock:
                n = 0
                for w in api.watches.values():
                    if q.get("resource") and q["resource"] not in (w.rd.plural, w.rd.qualified):
                        continue
                    w.expire = True
                    n += 1
                store.wake_watches()
            return self.send_json(200, {"expired": n})
        if what == "watches" and m == "GET":
            with store.lock:
                ws = [{"id": w.id, "group": w.rd.group, "version": w.rd.version, "resource": w.rd.plural,
                       "namespace": w.ns or "", "resourceVersion": str(w.rv),
                       "labelSelector": w.q.get("labelSelector", ""), "fieldSelector": w.q.get("fieldSelector", ""),
                       "allowWatchBookmarks": w.q.get("allowWatchBookmarks", ""), "since": now_ts(w.since),
                       "peer": "%s:%s" % w.peer[:2]} for w in api.watches.values()]
            return self.send_json(200, {"watches": ws})
        if what == "state" and m == "GET":
            with store.lock:
                return self.send_json(200, {"resourceVersion": str(store.rv), "compacted": str(store.compacted), "floor": str(store.floor),
                                            "history": store.history, "events": len(store.log),
                                            "watches": len(api.watches),
                                            "objects": {k: len(v) for k, v in store.objs.items() if v}})
        if what == "config":
            if m == "POST":
                cfg = self.json_body(body) or {}
                if "expiredMode" in cfg:
                    if cfg["expiredMode"] not in ("status", "event"):
                        raise err_bad_request("expiredMode must be status or event")
                    api.expired_mode = cfg["expiredMode"]
                if "bookmarkInterval" in cfg:
                    api.bookmark_interval = max(0.01, float(cfg["bookmarkInterval"]))
                if "history" in cfg:
                    with store.lock:
                        store.trim(int(cfg["history"]))
                if "kubelet" in cfg:
                    api.kubelet = bool(cfg["kubelet"])
                    store.wake.set()
            elif m != "GET":
                raise err_method()
            return self.send_json(200, {"expiredMode": api.expired_mode, "bookmarkInterval": api.bookmark_interval,
                                        "history": store.history, "kubelet": api.kubelet})
        if what == "faults":
            with api.faults_lock:
                if m == "POST":
                    f = self.json_body(body)
                    fl = f if isinstance(f, list) else [f]
                    for x in fl:
                        if not isinstance(x, dict):
                            raise err_bad_request("a fault is a JSON object")
                        x.setdefault("count", 1)
                        api.faults.append(x)
                elif m == "DELETE":
                    api.faults.clear()
                elif m != "GET":
                    raise err_method()
                return self.send_json(200, {"faults": api.faults})
        raise err_path_not_found()


    def apply_faults(self, path):
        api = self.api
        with api.faults_lock:
            for f in api.faults:
                if f.get("count", 0) <= 0:
                    continue
                if f.get("method") and f["method"].upper() != self.command:
                    continue
                if not path.startswith(f.get("pathPrefix", "/")):
                    continue
                if f.get("watch") is not None and (("watch=" in (self.path or "")) != bool(f["watch"])):
                    continue
                f["count"] -= 1
                code = int(f.get("code", 500))
                hdrs = {}
                if f.get("retryAfter") is not None:
                    hdrs["Retry-After"] = str(f["retryAfter"])
                reason = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
                          504: "Timeout", 403: "Forbidden", 401: "Unauthorized"}.get(code, "Unknown")
                raise ApiError(code, reason, f.get("message") or "injected fault (testbed)", {}, hdrs)
            api.faults[:] = [f for f in api.faults if f.get("count", 0) > 0]
