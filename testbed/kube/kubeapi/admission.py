"""admission.py: admission of the built-in kinds: defaults and initial status on create and update, the kind
validations (422 causes) and the service IP allocator. Mixed into Api.
"""

import base64
import ipaddress
import itertools
import os

from .util import go_json, jcopy, labels_of, md_of, now_ts
from .errors import cause_forbidden, cause_invalid, cause_required
from .names import selector_matches
from .jsonpath import jp_parse
from .rbac import rbac_causes
from .registry import SK_CRD, SK_DEPLOY, SK_NODES, SK_NS, SK_PODS, SK_RS, SK_SECRETS, SK_STS, SK_SVC


class Admission:
    # ---- strategies: defaults, validation, status on create --------------------------------

    def prepare_create(self, rd, obj):
        """Kind-specific defaults and status for a new object (under the lock)."""
        sk = rd.skey
        md = obj["metadata"]
        if rd.status:
            if sk == SK_PODS:
                obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
            elif sk == SK_NS:
                obj["status"] = {"phase": "Active"}
            elif sk == SK_NODES:
                obj.setdefault("status", {})
            elif sk == SK_SVC:
                obj["status"] = {"loadBalancer": {}}
            elif sk in (SK_DEPLOY, SK_RS, SK_STS):
                obj["status"] = {}
            else:
                obj.pop("status", None)
        if sk == SK_NS:
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]
        elif sk == SK_PODS:
            self._pod_defaults(obj.setdefault("spec", {}))
        elif sk in (SK_DEPLOY, SK_RS):
            spec = obj.setdefault("spec", {})
            spec.setdefault("replicas", 1)
            if sk == SK_DEPLOY:
                spec.setdefault("strategy", {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
                spec.setdefault("revisionHistoryLimit", 10)
                spec.setdefault("progressDeadlineSeconds", 600)
            self._pod_defaults((spec.setdefault("template", {})).setdefault("spec", {}))
        elif sk == SK_STS:
            spec = obj.setdefault("spec", {})
            spec.setdefault("replicas", 1)
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
            self._pod_defaults((spec.setdefault("template", {})).setdefault("spec", {}))
        elif sk == SK_SVC:
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            for p in spec.get("ports") or []:
                if isinstance(p, dict):
                    p.setdefault("protocol", "TCP")
                    p.setdefault("targetPort", p.get("port"))
            if spec.get("clusterIP") in (None, "") and spec["type"] != "ExternalName":
                spec["clusterIP"] = self._alloc_svc_ip()
                spec["clusterIPs"] = [spec["clusterIP"]]
        elif sk == SK_SECRETS:
            obj.setdefault("type", "Opaque")
        elif sk == SK_NODES:
            self._node_defaults(obj)
        elif sk == SK_CRD:
            self._crd_defaults(obj)
            fins = md.setdefault("finalizers", [])
            if "customresourcecleanup.apiextensions.k8s.io" not in fins:
                fins.append("customresourcecleanup.apiextensions.k8s.io")
            obj["status"] = self._crd_status(obj, None)

    def prepare_update(self, rd, obj, old):
        sk = rd.skey
        if sk == SK_SECRETS:
            obj.setdefault("type", old.get("type", "Opaque"))
        elif sk == SK_CRD:
            self._crd_defaults(obj)
            obj["status"] = self._crd_status(obj, old)
        elif sk in (SK_DEPLOY, SK_RS, SK_STS):
            self._pod_defaults(((obj.get("spec") or {}).get("template") or {}).get("spec") or {})
        elif sk == SK_PODS:
            self._pod_defaults(obj.get("spec") or {})
        elif sk == SK_NS:
            obj.setdefault("spec", old.get("spec") or {})

    def normalize(self, rd, obj):
        """Conversions the real server does whatever the verb (secrets' stringData)."""
        if rd.skey == SK_SECRETS and isinstance(obj.get("stringData"), dict):
            data = obj.setdefault("data", {})
            for k, v in obj.pop("stringData").items():
                data[k] = base64.b64encode(str(v).encode()).decode()

    def _node_defaults(self, obj):
        """What a kubelet would register, for a Node created without it (the testbed has no
        kubelet): the well-known labels, an InternalIP from --node-cidr (.2, .3, ...: the first
        one no Node has), capacity, and a Ready condition. What the client gave is kept."""
        md = obj["metadata"]
        name = md["name"]
        labels = md.setdefault("labels", {})
        for k, v in (("kubernetes.io/hostname", name), ("kubernetes.io/os", "linux"), ("kubernetes.io/arch", "amd64"),
                     ("beta.kubernetes.io/os", "linux"), ("beta.kubernetes.io/arch", "amd64")):
            labels.setdefault(k, v)
        obj.setdefault("spec", {}).setdefault("podCIDR", str(self.pod_net))
        st = obj.setdefault("status", {})
        if not st.get("addresses"):
            used = {a.get("address") for n in self.store.objs[SK_NODES].values()
                    for a in (n.get("status") or {}).get("addresses") or []}
            node_net = ipaddress.ip_network(self.args.node_cidr, strict=False)
            ip = next((str(a) for a in itertools.islice(node_net.hosts(), 1, None) if str(a) not in used), "")
            st["addresses"] = [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]
        if not st.get("conditions"):
            st["conditions"] = [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                 "message": "kubelet is posting ready status",
                                 "lastHeartbeatTime": now_ts(), "lastTransitionTime": now_ts()}]
        st.setdefault("capacity", {"cpu": "8", "memory": "16Gi", "pods": "110"})
        st.setdefault("allocatable", dict(st["capacity"]))
        st.setdefault("nodeInfo", {"kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0",
                                   "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": os.uname().release,
                                   "containerRuntimeVersion": "testbed://1.0", "operatingSystem": "linux",
                                   "architecture": "amd64"})

    @staticmethod
    def _pod_defaults(spec):
        if not isinstance(spec, dict):
            return
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("securityContext", {})
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            if isinstance(c, dict):
                img = c.get("image") or ""
                tag_latest = ":" not in img.rsplit("/", 1)[-1] or img.endswith(":latest")
                c.setdefault("imagePullPolicy", "Always" if tag_latest and "@" not in img else "IfNotPresent")
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                c.setdefault("resources", {})

    @staticmethod
    def _crd_defaults(obj):
        spec = obj.setdefault("spec", {})
        names = spec.setdefault("names", {})
        if names.get("kind"):
            names.setdefault("singular", names["kind"].lower())
            names.setdefault("listKind", names["kind"] + "List")
        spec.setdefault("conversion", {"strategy": "None"})
        for v in spec.get("versions") or []:
            if isinstance(v, dict):
                v.setdefault("served", True)
                v.setdefault("storage", len(spec.get("versions")) == 1)

    @staticmethod
    def _crd_status(obj, old):
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        old_st = (old or {}).get("status") or {}
        ts = now_ts()
        conds = old_st.get("conditions") or [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": ts, "reason": "NoConflicts",
             "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": ts, "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted"}]
        stored = list(old_st.get("storedVersions") or [])
        for v in spec.get("versions") or []:
            if v.get("storage") and v.get("name") not in stored:
                stored.append(v.get("name"))
        accepted = {k: names[k] for k in ("plural", "singular", "shortNames", "kind", "listKind", "categories")
                    if k in names}
        return {"conditions": conds, "acceptedNames": accepted, "storedVersions": stored}

    def validate(self, rd, obj, old):
        """Causes for 422 Invalid (kind-specific)."""
        causes = []
        sk = rd.skey
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        if sk == SK_PODS:
            causes += self._pod_spec_causes(spec, "spec")
            if old is not None:
                def strip_images(s):
                    s = jcopy(s or {})
                    for k in ("containers", "initContainers"):
                        for c in s.get(k) or []:
                            c.pop("image", None)
                    s.pop("activeDeadlineSeconds", None)
                    s.pop("tolerations", None)
                    return s
                if strip_images(spec) != strip_images(old.get("spec")):
                    causes.append(cause_forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"))
        elif sk in (SK_DEPLOY, SK_RS, SK_STS):
            sel = spec.get("selector")
            tmpl = spec.get("template") if isinstance(spec.get("template"), dict) else {}
            if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
                causes.append(cause_required("spec.selector"))
            elif not selector_matches(sel, labels_of(tmpl)):
                causes.append(cause_invalid("spec.template.metadata.labels", labels_of(tmpl),
                                            "`selector` does not match template `labels`"))
            if old is not None and sk in (SK_DEPLOY, SK_STS) and sel != (old.get("spec") or {}).get("selector"):
                causes.append(cause_invalid("spec.selector", sel, "field is immutable"))
            r = spec.get("replicas")
            if not isinstance(r, int) or isinstance(r, bool) or r < 0:
                causes.append(cause_invalid("spec.replicas", r, "must be greater than or equal to 0"))
            causes += self._pod_spec_causes(tmpl.get("spec") or {}, "spec.template.spec")
        elif sk == SK_CRD:
            causes += self._crd_causes(obj, old)
        else:
            causes += rbac_causes(sk, obj, old)
        return causes

    @staticmethod
    def _pod_spec_causes(spec, path):
        causes = []
        cs = spec.get("containers")
        if not isinstance(cs, list) or not cs:
            return [cause_required(path + ".containers")]
        for i, c in enumerate(cs):
            if not isinstance(c, dict):
                causes.append(cause_invalid("%s.containers[%d]" % (path, i), c, "must be an object"))
                continue
            if not c.get("name"):
                causes.append(cause_required("%s.containers[%d].name" % (path, i)))
            if not c.get("image"):
                causes.append(cause_required("%s.containers[%d].image" % (path, i)))
        return causes

    def _crd_causes(self, obj, old):
        causes = []
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group")
        if not group:
            causes.append(cause_required("spec.group"))
        for f in ("plural", "kind"):
            if not names.get(f):
                causes.append(cause_required("spec.names." + f))
        if spec.get("scope") not in ("Cluster", "Namespaced"):
            causes.append(("spec.scope", "Unsupported value: %s: supported values: \"Cluster\", \"Namespaced\"" % go_json(spec.get("scope")), "FieldValueNotSupported"))
        versions = spec.get("versions")
        if not isinstance(versions, list) or not versions:
            causes.append(cause_required("spec.versions", "must have exactly one version marked as storage version"))
        else:
            if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
                causes.append(cause_invalid("spec.versions", versions, "must have exactly one version marked as storage version"))
            for i, v in enumerate(versions):
                if not isinstance(v, dict) or not v.get("name"):
                    causes.append(cause_required("spec.versions[%d].name" % i))
                    continue
                for j, c in enumerate(v.get("additionalPrinterColumns") or []):
                    try:
                        jp_parse(c.get("jsonPath", ""))
                    except ValueError as e:
                        causes.append(cause_invalid("spec.versions[%d].additionalPrinterColumns[%d].jsonPath" % (i, j), c.get("jsonPath"), str(e)))
        if names.get("plural") and group and md_of(obj).get("name") != "%s.%s" % (names["plural"], group):
            causes.append(cause_invalid("metadata.name", md_of(obj).get("name"), 'must be spec.names.plural+"."+spec.group'))
        if old is not None:
            ospec = old.get("spec") or {}
            if ospec.get("scope") != spec.get("scope"):
                causes.append(cause_invalid("spec.scope", spec.get("scope"), "field is immutable"))
            if ospec.get("group") != spec.get("group"):
                causes.append(cause_invalid("spec.group", spec.get("group"), "field is immutable"))
        if not causes and old is None:
            for rd in self.reg.rds.values():
                if rd.group == group and rd.plural == names.get("plural"):
                    causes.append(cause_invalid("spec.names.plural", names.get("plural"), "already in use"))
                    break
        return causes

    def _alloc_svc_ip(self):
        used = {(o.get("spec") or {}).get("clusterIP") for o in self.store.objs[SK_SVC].values()}
        n = self.svc_net.num_addresses
        for _ in range(n):
            self.svc_cursor = (self.svc_cursor % max(n - 2, 1)) + 1
            ip = str(self.svc_net.network_address + self.svc_cursor)
            if ip not in used:
                return ip
        return "None"
