"""api.py: the API: the request semantics on top of the store (create, update, patch, server-side apply,
scale, delete with finalizers and propagation, list with selectors and chunking). Every method
that reads or writes the store holds its lock.
"""

import base64
import ipaddress
import itertools
import json
import threading
import uuid

from .util import go_json, jcopy, jdump, key_str, labels_of, md_of, now_ts, rand_suffix
from .errors import (ApiError, _details, cause_forbidden, cause_required, err_bad_request, err_conflict,
    err_exists, err_expired, err_forbidden, err_invalid, err_media, err_not_found, err_too_large)
from .names import FieldSelector, LabelSelector, metadata_causes, name_causes, selector_string
from .jsonpath import jp_get, jp_set
from .patch import json_patch, merge_patch, removed_fields_as_nulls, strategic_merge
from .schema import apply_cr_schema
from .registry import RETURN_DELETED_OBJECT, Registry, SK_CRD, SK_NS, SK_PODS, builtin_rdefs
from .store import Store
from .admission import Admission
from .discovery import Discovery
from .bootstrap import Bootstrap
from .accounts import Accounts


# --------------------------------------------------------------------------------------------
# the API: request semantics on top of the store


class Api(Admission, Discovery, Bootstrap, Accounts):
    def __init__(self, args):
        self.args = args
        self.store = Store(args.history)
        self.reg = Registry()
        for rd in builtin_rdefs():
            self.reg.add(rd)
        self.store.hooks.append(self._crd_hook)
        self.store.active = lambda: [w.rv for w in self.watches.values()]
        self.expired_mode = args.expired_mode
        self.bookmark_interval = args.bookmark_interval
        self.watches = self.store.watches  # id -> WatchCtx
        self.watch_ids = itertools.count(1)
        self.faults = []
        self.faults_lock = threading.Lock()
        self.applied = {}  # (uid, manager) -> last applied configuration (server-side apply)
        self.pod_net = ipaddress.ip_network(args.pod_cidr, strict=False)
        self.ip_cursor = 0
        self.svc_net = ipaddress.ip_network(args.service_cidr, strict=False)
        self.svc_cursor = 0
        self.kubelet = not args.no_kubelet
        self.accounts_init()

    # ---- lookups -------------------------------------------------------------------------

    def get_obj(self, rd, ns, name):
        return self.store.objs[rd.skey].get((ns or "", name))

    def _crd_hook(self, skey, etype, obj, prev):
        if skey != SK_CRD:
            return
        if etype == "DELETED":
            name = md_of(obj).get("name")
            stale = {(g, v, p) for (g, v, p) in self.reg.crd_entries.get(name, [])}
            self.reg.unregister_crd(name)
            for w in list(self.watches.values()):
                if (w.rd.group, w.rd.version, w.rd.plural) in stale:
                    w.gone = True
        else:
            self.reg.register_crd(obj)

    # ---- schema (CRs) --------------------------------------------------------------------

    def run_schema(self, rd, obj, field_validation, warnings):
        if rd.builtin or not rd.schema:
            return obj
        out, iss = apply_cr_schema(obj, rd.schema)
        if iss.causes:
            raise err_invalid(rd, md_of(obj).get("name") or md_of(obj).get("generateName", ""), iss.causes)
        if iss.unknown:
            fv = (field_validation or "Warn").lower()
            if fv == "strict":
                raise err_bad_request("strict decoding error: " + ", ".join('unknown field "%s"' % u for u in iss.unknown))
            if fv == "warn":
                warnings.extend('unknown field "%s"' % u for u in iss.unknown)
        return out

    # ---- object checks shared by create and update ---------------------------------------

    def check_body(self, rd, body, ns, name=None):
        if not isinstance(body, dict):
            raise err_bad_request("the body of the request must be a JSON object")
        av, kind = body.get("apiVersion"), body.get("kind")
        if kind and kind != rd.kind:
            raise err_bad_request("the kind of the object (%s) does not match the kind on the URL (%s)" % (kind, rd.kind))
        if av and av != rd.gv:
            raise err_bad_request("the API version in the data (%s) does not match the expected API version (%s)" % (av, rd.gv))
        md = body.get("metadata")
        if md is None:
            md = body["metadata"] = {}
        if not isinstance(md, dict):
            raise err_bad_request("metadata must be an object")
        if rd.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise err_bad_request("the namespace of the provided object does not match the namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if name is not None:
            if md.get("name") and md["name"] != name:
                raise err_bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (md["name"], name))
            md["name"] = name
        body = rd.internal(body)
        self.normalize(rd, body)
        return body

    def require_namespace(self, rd, ns, name):
        """Creating in a missing namespace: 404 for the namespace; in a terminating one: 403."""
        if not rd.namespaced:
            return
        nso = self.store.objs[SK_NS].get(("", ns))
        if nso is None:
            raise ApiError(404, "NotFound", 'namespaces "%s" not found' % ns, {"name": ns, "kind": "namespaces"})
        if md_of(nso).get("deletionTimestamp"):
            raise err_forbidden(rd, name, "unable to create new content in namespace %s because it is being terminated" % ns)

    # ---- create --------------------------------------------------------------------------

    def create(self, rd, ns, body, q, internal=False):
        warnings = []
        with self.store.lock:
            body = self.check_body(rd, body, ns)
            md = body["metadata"]
            for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation", "selfLink", "managedFields"):
                md.pop(k, None)
            if not internal:
                self.require_namespace(rd, ns, md.get("name") or md.get("generateName") or "")
            if rd.skey == SK_PODS:
                self.admit_pod_service_account(body)
            if not md.get("name"):
                gn = md.get("generateName")
                if not gn:
                    raise err_invalid(rd, "", [cause_required("metadata.name", "name or generateName is required")])
                for _ in range(16):
                    cand = gn + rand_suffix()
                    if (ns or "", cand) not in self.store.objs[rd.skey]:
                        break
                md["name"] = cand
            name = md["name"]
            if not isinstance(name, str):
                raise err_bad_request("metadata.name must be a string")
            if (ns or "", name) in self.store.objs[rd.skey]:
                raise err_exists(rd, name)
            causes = name_causes(name, rd.name_rule) + metadata_causes(md)
            if causes:
                raise err_invalid(rd, name, causes)
            self.prepare_create(rd, body)
            body = self.run_schema(rd, body, q.get("fieldValidation"), warnings)
            causes = self.validate(rd, body, None)
            if causes:
                raise err_invalid(rd, name, causes)
            md = body["metadata"]
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_ts()
            md["generation"] = 1
            if "dryRun" in q:
                md["resourceVersion"] = ""
                return 201, body, warnings
            self.store.commit(rd.skey, "ADDED", body, None)
            return 201, body, warnings

    # ---- update --------------------------------------------------------------------------

    @staticmethod
    def _spec_part(rd, obj):
        skip = {"metadata", "apiVersion", "kind"}
        if rd.status:
            skip.add("status")
        return {k: v for k, v in obj.items() if k not in skip}

    def build_update(self, rd, old, new, sub, q, warnings):
        """new is the client's full object (already checked); returns the object to store."""
        omd = old["metadata"]
        if sub == "status":
            result = jcopy(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        else:
            result = new
            md = result["metadata"]
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                      "namespace", "name"):
                if k in omd:
                    md[k] = omd[k]
                else:
                    md.pop(k, None)
            md.pop("managedFields", None)
            md.pop("selfLink", None)
            if rd.status:
                if "status" in old:
                    result["status"] = jcopy(old["status"])
                else:
                    result.pop("status", None)
            causes = metadata_causes(md)
            if omd.get("deletionTimestamp"):
                added = set(md.get("finalizers") or []) - set(omd.get("finalizers") or [])
                if added:
                    causes.append(cause_forbidden("metadata.finalizers", "no new finalizers can be added if the object is being deleted, found new finalizers %s" % go_json(sorted(added))))
            if causes:
                raise err_invalid(rd, omd.get("name"), causes)
            self.prepare_update(rd, result, old)
        result = self.run_schema(rd, result, q.get("fieldValidation"), warnings)
        causes = self.validate(rd, result, old)
        if causes:
            raise err_invalid(rd, omd.get("name"), causes)
        gen = omd.get("generation") or 1
        if sub != "status" and self._spec_part(rd, result) != self._spec_part(rd, old):
            gen += 1
        result["metadata"]["generation"] = gen
        return result

    def commit_update(self, rd_or_skey, old, new, dry_run=False):
        """Store an updated object; no-op updates keep the old resourceVersion. -> stored object."""
        skey = rd_or_skey if isinstance(rd_or_skey, str) else rd_or_skey.skey
        new["metadata"]["resourceVersion"] = old["metadata"].get("resourceVersion")
        if json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True):
            return old
        if dry_run:
            return new
        md = new["metadata"]
        if md.get("deletionTimestamp") and not md.get("finalizers") and skey != SK_NS:
            return self.store.commit(skey, "DELETED", new, old)
        return self.store.commit(skey, "MODIFIED", new, old)

    def update(self, rd, ns, name, body, q, sub=None):
        warnings = []
        with self.store.lock:
            body = self.check_body(rd, body, ns, name)
            old = self.get_obj(rd, ns, name)
            if old is None:
                raise err_not_found(rd, name)
            rv = body["metadata"].get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise err_conflict(rd, name)
            uid = body["metadata"].get("uid")
            if uid and uid != old["metadata"]["uid"]:
                raise err_conflict(rd, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s" % (old["metadata"]["uid"], uid))
            new = self.build_update(rd, old, body, sub, q, warnings)
            return 200, self.commit_update(rd, old, new, "dryRun" in q), warnings

    # ---- patch ---------------------------------------------------------------------------

    def patch(self, rd, ns, name, raw, ctype, q, sub=None):
        warnings = []
        ctype = (ctype or "").split(";")[0].strip().lower()
        if ctype not in ("application/merge-patch+json", "application/json-patch+json",
                         "application/strategic-merge-patch+json", "application/apply-patch+yaml"):
            raise err_media(ctype)
        if ctype == "application/strategic-merge-patch+json" and not rd.builtin:
            raise err_media(ctype)
        patch = self._decode_patch(raw, ctype)
        apply = ctype == "application/apply-patch+yaml"
        manager = q.get("fieldManager")
        if apply and not manager:
            raise err_bad_request("PATCH %s: is invalid for apply: fieldManager is required" % rd.plural)
        with self.store.lock:
            old = self.get_obj(rd, ns, name)
            if old is None:
                if not apply or sub:
                    raise err_not_found(rd, name)
                if not isinstance(patch, dict):
                    raise err_bad_request("apply patch must be a JSON object")
                body = jcopy(patch)
                body.setdefault("metadata", {})
                if body["metadata"].get("name") not in (None, name):
                    raise err_bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (body["metadata"]["name"], name))
                body["metadata"]["name"] = name
                code, obj, w = self.create(rd, ns, body, q)
                if "dryRun" not in q:
                    self.applied[(obj["metadata"]["uid"], manager)] = patch
                return code, obj, w
            if sub == "scale":
                return self._patch_scale(rd, old, patch, ctype, q)
            base = rd.view(old)
            try:
                if ctype == "application/merge-patch+json":
                    patched = merge_patch(base, patch)
                elif ctype == "application/json-patch+json":
                    patched = json_patch(base, patch)
                elif ctype == "application/strategic-merge-patch+json":
                    patched = strategic_merge(base, patch, True)
                else:
                    if not isinstance(patch, dict):
                        raise ValueError("apply patch must be a JSON object")
                    last = self.applied.get((old["metadata"]["uid"], manager))
                    if patch.get("kind") and patch.get("kind") != rd.kind:
                        raise ValueError("kind mismatch")
                    patched = strategic_merge(base, removed_fields_as_nulls(last, patch), rd.builtin)
            except ValueError as e:
                raise ApiError(422, "Invalid", str(e))
            if not isinstance(patched, dict):
                raise err_bad_request("the patched object is not a JSON object")
            patched = jcopy(patched)
            pmd = patched.get("metadata")
            if not isinstance(pmd, dict):
                pmd = patched["metadata"] = {}
            rv = pmd.get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise err_conflict(rd, name)
            pmd["name"] = name
            if rd.namespaced:
                pmd["namespace"] = ns
            patched["apiVersion"], patched["kind"] = rd.gv, rd.kind
            patched = self.check_body(rd, patched, ns, name)
            new = self.build_update(rd, old, patched, sub, q, warnings)
            out = self.commit_update(rd, old, new, "dryRun" in q)
            if apply and "dryRun" not in q:
                self.applied[(old["metadata"]["uid"], manager)] = patch
            return 200, out, warnings

    @staticmethod
    def _decode_patch(raw, ctype):
        try:
            return json.loads(raw.decode("utf-8") if raw else "null")
        except (ValueError, UnicodeDecodeError):
            if ctype == "application/apply-patch+yaml":
                try:
                    import yaml  # optional: only for YAML apply bodies from clients that send YAML
                    return yaml.safe_load(raw)
                except Exception:
                    pass
            raise err_bad_request("error decoding patch: not valid JSON")

    # ---- scale ---------------------------------------------------------------------------

    def scale_of(self, rd, obj):
        sc = rd.scale
        md = obj["metadata"]
        spec_r = jp_get(obj, sc.get("specReplicasPath", ".spec.replicas"), 0)
        stat_r = jp_get(obj, sc.get("statusReplicasPath", ".status.replicas"), 0)
        if rd.builtin:
            sel = selector_string((obj.get("spec") or {}).get("selector"))
        else:
            sel = jp_get(obj, sc["labelSelectorPath"], "") if sc.get("labelSelectorPath") else ""
        out = {"kind": "Scale", "apiVersion": "autoscaling/v1",
               "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md},
               "spec": {"replicas": spec_r if isinstance(spec_r, int) else 0},
               "status": {"replicas": stat_r if isinstance(stat_r, int) else 0}}
        if sel:
            out["status"]["selector"] = sel
        return out

    def _set_scale(self, rd, old, scale, q):
        if not isinstance(scale, dict):
            raise err_bad_request("the body of the request must be a Scale object")
        smd = scale.get("metadata") or {}
        name = old["metadata"]["name"]
        if smd.get("resourceVersion") and smd["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise err_conflict(rd, name)
        r = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(r, int) or isinstance(r, bool) or r < 0:
            raise ApiError(422, "Invalid", 'Scale.autoscaling "%s" is invalid: spec.replicas: Invalid value: %s: must be greater than or equal to 0' % (name, go_json(r)),
                           {"name": name, "group": "autoscaling", "kind": "Scale",
                            "causes": [{"reason": "FieldValueInvalid", "message": "Invalid value: %s: must be greater than or equal to 0" % go_json(r), "field": "spec.replicas"}]})
        new = jcopy(old)
        jp_set(new, rd.scale.get("specReplicasPath", ".spec.replicas"), r)
        if self._spec_part(rd, new) != self._spec_part(rd, old):
            new["metadata"]["generation"] = (old["metadata"].get("generation") or 1) + 1
        out = self.commit_update(rd, old, new, "dryRun" in q)
        return 200, self.scale_of(rd, out), []

    def _patch_scale(self, rd, old, patch, ctype, q):
        cur = self.scale_of(rd, old)
        try:
            if ctype == "application/json-patch+json":
                new = json_patch(cur, patch)
            elif ctype == "application/strategic-merge-patch+json":
                new = strategic_merge(cur, patch)
            else:
                new = merge_patch(cur, patch)
        except ValueError as e:
            raise ApiError(422, "Invalid", str(e))
        return self._set_scale(rd, old, new, q)

    def update_scale(self, rd, ns, name, body, q):
        with self.store.lock:
            old = self.get_obj(rd, ns, name)
            if old is None:
                raise err_not_found(rd, name)
            return self._set_scale(rd, old, body, q)

    # ---- delete --------------------------------------------------------------------------

    def delete_obj(self, skey, obj, propagation="Background", dry_run=False):
        """Delete (or start deleting) a stored object. -> (object, deleted_now). Under the lock."""
        md = obj["metadata"]
        if propagation == "Orphan" and not dry_run:
            self._orphan_dependents(md.get("uid"))
        if skey == SK_NS:
            if md.get("deletionTimestamp"):
                return obj, False
            new = jcopy(obj)
            new["metadata"]["deletionTimestamp"] = now_ts()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new.setdefault("status", {})["phase"] = "Terminating"
            return (new if dry_run else self.store.commit(skey, "MODIFIED", new, obj)), False
        fins = list(md.get("finalizers") or [])
        if propagation == "Foreground" and "foregroundDeletion" not in fins:
            fins.append("foregroundDeletion")
        if fins:
            if md.get("deletionTimestamp") and fins == list(md.get("finalizers") or []):
                return obj, False
            new = jcopy(obj)
            nmd = new["metadata"]
            nmd["finalizers"] = fins
            if not nmd.get("deletionTimestamp"):
                nmd["deletionTimestamp"] = now_ts()
                nmd["deletionGracePeriodSeconds"] = 0
                nmd["generation"] = (nmd.get("generation") or 1) + 1
            return (new if dry_run else self.store.commit(skey, "MODIFIED", new, obj)), False
        final = jcopy(obj)
        if dry_run:
            return final, True
        self.store.commit(skey, "DELETED", final, obj)
        for k in [k for k in self.applied if k[0] == md.get("uid")]:
            del self.applied[k]
        return final, True

    def _orphan_dependents(self, uid):
        for skey, objs in list(self.store.objs.items()):
            for o in list(objs.values()):
                refs = md_of(o).get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    new = jcopy(o)
                    left = [r for r in refs if r.get("uid") != uid]
                    if left:
                        new["metadata"]["ownerReferences"] = left
                    else:
                        new["metadata"].pop("ownerReferences", None)
                    self.commit_update(skey, o, new)

    def delete(self, rd, ns, name, q, body):
        opts = self._delete_options(body, q)
        with self.store.lock:
            old = self.get_obj(rd, ns, name)
            if old is None:
                raise err_not_found(rd, name)
            pre = opts.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise err_conflict(rd, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s" % (pre["uid"], old["metadata"]["uid"]))
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise err_conflict(rd, name, "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s" % (pre["resourceVersion"], old["metadata"]["resourceVersion"]))
            if rd.skey == SK_NS and name in ("default", "kube-system", "kube-public"):
                raise err_forbidden(rd, name, "this namespace may not be deleted")
            obj, gone = self.delete_obj(rd.skey, old, opts.get("propagationPolicy") or "Background",
                                        bool(opts.get("dryRun")) or "dryRun" in q)
            # like the real handler: 202 only for a pending delete with orphanDependents=false
            code = 202 if not gone and opts.get("orphanDependents") is False else 200
            if gone and rd.skey not in RETURN_DELETED_OBJECT:
                details = _details(rd, name)
                details["uid"] = obj["metadata"].get("uid", "")
                return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "details": details}, []
            return code, obj, []

    @staticmethod
    def _delete_options(body, q):
        opts = {}
        if body:
            try:
                opts = json.loads(body)
            except ValueError:
                raise err_bad_request("invalid DeleteOptions")
            if not isinstance(opts, dict):
                raise err_bad_request("invalid DeleteOptions")
        if q.get("propagationPolicy"):
            opts["propagationPolicy"] = q["propagationPolicy"]
        if opts.get("orphanDependents") is True and not opts.get("propagationPolicy"):
            opts["propagationPolicy"] = "Orphan"
        pp = opts.get("propagationPolicy")
        if pp and pp not in ("Background", "Foreground", "Orphan"):
            raise err_bad_request("invalid propagationPolicy %r" % pp)
        return opts

    def delete_collection(self, rd, ns, q, body):
        opts = self._delete_options(body, q)
        lsel = LabelSelector(q.get("labelSelector", ""))
        fsel = FieldSelector(q.get("fieldSelector", ""), rd.field_labels)
        with self.store.lock:
            items = []
            for key in sorted(self.store.objs[rd.skey], key=key_str):
                o = self.store.objs[rd.skey][key]
                if ns and key[0] != ns:
                    continue
                v = rd.view(o)
                if not lsel.matches(labels_of(o)) or not fsel.matches(v):
                    continue
                obj, _ = self.delete_obj(rd.skey, o, opts.get("propagationPolicy") or "Background",
                                         bool(opts.get("dryRun")) or "dryRun" in q)
                items.append(rd.view(obj))
            return 200, {"kind": rd.list_kind, "apiVersion": rd.gv,
                         "metadata": {"resourceVersion": str(self.store.rv)}, "items": items}, []

    # ---- list ----------------------------------------------------------------------------

    def list(self, rd, ns, q):
        lsel = LabelSelector(q.get("labelSelector", ""))
        fsel = FieldSelector(q.get("fieldSelector", ""), rd.field_labels)
        limit = q.get("limit")
        try:
            limit = int(limit) if limit not in (None, "") else 0
        except ValueError:
            raise err_bad_request("invalid limit %r" % limit)
        cont = q.get("continue") or ""
        rvp = q.get("resourceVersion") or ""
        rvm = q.get("resourceVersionMatch") or ""
        with self.store.lock:
            start = None
            if cont:
                try:
                    tok = json.loads(base64.urlsafe_b64decode(cont + "=" * (-len(cont) % 4)))
                    snap_rv, start = int(tok["rv"]), tok["start"].rstrip("\x00")
                except Exception:
                    raise err_bad_request("continue key is not valid: the format of the continue token is incorrect")
                if snap_rv < self.store.compacted:
                    raise err_expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
                objs = self.store.snapshot(rd.skey, snap_rv)
                list_rv = snap_rv
            elif rvm == "Exact" and rvp:
                try:
                    list_rv = int(rvp)
                except ValueError:
                    raise err_bad_request("invalid resourceVersion %r" % rvp)
                if list_rv > self.store.rv:
                    raise err_too_large(list_rv, self.store.rv)
                objs = self.store.snapshot(rd.skey, list_rv)
            else:
                if rvp not in ("", "0"):
                    try:
                        want = int(rvp)
                    except ValueError:
                        raise err_bad_request("invalid resourceVersion %r" % rvp)
                    if want > self.store.rv:
                        raise err_too_large(want, self.store.rv)
                objs = self.store.objs[rd.skey]
                list_rv = self.store.rv
                if rvp == "0":
                    limit = 0  # like the watch cache: resourceVersion=0 ignores limit
            keys = sorted(objs, key=key_str)
            items = []
            more = None
            remaining = 0
            for k in keys:
                if ns and k[0] != ns:
                    continue
                if start is not None and key_str(k) <= start:
                    continue
                o = objs[k]
                if not lsel.matches(labels_of(o)):
                    continue
                if not fsel.empty() and not fsel.matches(rd.view(o)):
                    continue
                if limit and len(items) >= limit:
                    if more is None:
                        more = key_str(items[-1][0])
                    remaining += 1
                    continue
                items.append((k, o))
            md = {"resourceVersion": str(list_rv)}
            if more is not None:
                md["continue"] = base64.urlsafe_b64encode(jdump({"v": "meta.k8s.io/v1", "rv": list_rv, "start": more + "\x00"}).encode()).decode().rstrip("=")
                if lsel.empty() and fsel.empty():
                    md["remainingItemCount"] = remaining
            return md, [o for _k, o in items]
