"""registry.py: resource definitions (RDef: group, version, plural, kind, scope, subresources, the storage
version and the conversions) and the Registry of what is served: the built-in kinds and the CRDs.
SK_* are the storage keys of the built-in kinds.
"""

import re

from .util import STD_VERBS, SUB_VERBS, md_of


# --------------------------------------------------------------------------------------------
# resource definitions and the registry


class RDef:
    def __init__(self, group, version, plural, singular, kind, namespaced, short=(), categories=(),
                 status=False, scale=None, skey=None, builtin=True, schema=None, columns=None,
                 field_labels=None, verbs=None, storage_gv=None, crd_name=None, list_kind=None,
                 name_rule="subdomain", to_ext=None, to_int=None, token=False):
        self.group, self.version, self.plural, self.singular, self.kind = group, version, plural, singular, kind
        self.namespaced = namespaced
        self.short = list(short)
        self.categories = list(categories)
        self.status = status
        self.scale = scale  # {"specReplicasPath", "statusReplicasPath", "labelSelectorPath"}
        self.skey = skey or "%s/%s" % (group, plural)
        self.builtin = builtin
        self.schema = schema
        self.columns = columns  # CRD additionalPrinterColumns
        fl = {"metadata.name", "metadata.namespace"}
        if field_labels:
            fl |= set(field_labels)
        self.field_labels = fl
        self.verbs = verbs or STD_VERBS
        self.gv = "%s/%s" % (group, version) if group else version
        self.storage_gv = storage_gv or self.gv
        self.crd_name = crd_name
        self.list_kind = list_kind or kind + "List"
        self.name_rule = name_rule
        self.to_ext = to_ext
        self.to_int = to_int
        self.qualified = "%s.%s" % (plural, group) if group else plural
        self.token = token  # serviceaccounts/token (TokenRequest)

    def view(self, obj):
        """Stored object -> what this group/version serves."""
        if self.to_ext:
            return self.to_ext(obj)
        if obj.get("apiVersion") == self.gv and obj.get("kind") == self.kind:
            return obj
        o = dict(obj)
        o["apiVersion"] = self.gv
        o["kind"] = self.kind
        return o

    def internal(self, obj):
        if self.to_int:
            return self.to_int(obj)
        obj["apiVersion"] = self.storage_gv
        obj["kind"] = self.kind
        return obj

    def discovery(self):
        e = {"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
             "kind": self.kind, "verbs": self.verbs}
        if self.short:
            e["shortNames"] = self.short
        if self.categories:
            e["categories"] = self.categories
        out = [e]
        if self.status:
            out.append({"name": self.plural + "/status", "singularName": "", "namespaced": self.namespaced,
                        "kind": self.kind, "verbs": SUB_VERBS})
        if self.scale:
            out.append({"name": self.plural + "/scale", "singularName": "", "namespaced": self.namespaced,
                        "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": SUB_VERBS})
        if self.token:
            out.append({"name": self.plural + "/token", "singularName": "", "namespaced": self.namespaced,
                        "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest",
                        "verbs": ["create"]})
        return out


EVENT_FIELD_MAP = [("involvedObject", "regarding"), ("message", "note"),
                   ("reportingComponent", "reportingController"), ("source", "deprecatedSource"),
                   ("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp"),
                   ("count", "deprecatedCount")]


def event_core_to_v1(o):
    m = dict(EVENT_FIELD_MAP)
    out = {"apiVersion": "events.k8s.io/v1", "kind": "Event"}
    for k, v in o.items():
        if k not in ("apiVersion", "kind"):
            out[m.get(k, k)] = v
    return out


def event_v1_to_core(o):
    m = {b: a for a, b in EVENT_FIELD_MAP}
    out = {"apiVersion": "v1", "kind": "Event"}
    for k, v in o.items():
        if k not in ("apiVersion", "kind"):
            out[m.get(k, k)] = v
    return out


def version_sort_key(v):
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (3, 0, 0, v)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0), v)


BUILTIN_GROUP_ORDER = ["", "apps", "events.k8s.io", "rbac.authorization.k8s.io", "coordination.k8s.io",
                       "apiextensions.k8s.io"]


class Registry:
    def __init__(self):
        self.rds = {}  # (group, version, plural) -> RDef
        self.crd_entries = {}  # crd name -> [(group, version, plural)]

    def add(self, rd):
        self.rds[(rd.group, rd.version, rd.plural)] = rd

    def find(self, group, version, plural):
        return self.rds.get((group, version, plural))

    def groups(self):
        gs = {}
        for (g, v, _p) in self.rds:
            gs.setdefault(g, set()).add(v)
        order = [g for g in BUILTIN_GROUP_ORDER if g in gs] + sorted(g for g in gs if g not in BUILTIN_GROUP_ORDER)
        return [(g, sorted(gs[g], key=version_sort_key)) for g in order]

    def in_gv(self, group, version):
        return sorted((rd for (g, v, _p), rd in self.rds.items() if g == group and v == version), key=lambda r: r.plural)

    def by_skey(self, skey):
        return [rd for rd in self.rds.values() if rd.skey == skey]

    def namespaced_skeys(self):
        return {rd.skey for rd in self.rds.values() if rd.namespaced}

    def register_crd(self, crd):
        name = md_of(crd).get("name")
        self.unregister_crd(name)
        spec = crd.get("spec") or {}
        group, names = spec.get("group"), spec.get("names") or {}
        plural = names.get("plural")
        versions = spec.get("versions") or []
        storage = next((v.get("name") for v in versions if v.get("storage")), versions[0].get("name") if versions else "v1")
        entries = []
        for v in versions:
            if not v.get("served", True):
                continue
            sub = v.get("subresources") or spec.get("subresources") or {}
            schema = (v.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema")
            cols = v.get("additionalPrinterColumns") or spec.get("additionalPrinterColumns") or []
            sel = [f.get("jsonPath", "").lstrip(".") for f in v.get("selectableFields") or []]
            rd = RDef(group, v.get("name"), plural, names.get("singular") or names.get("kind", "").lower(),
                      names.get("kind"), spec.get("scope") == "Namespaced", names.get("shortNames") or [],
                      names.get("categories") or [], status="status" in sub, scale=sub.get("scale"),
                      skey="%s/%s" % (group, plural), builtin=False, schema=schema, columns=cols,
                      field_labels=sel, storage_gv="%s/%s" % (group, storage), crd_name=name,
                      list_kind=names.get("listKind"))
            self.add(rd)
            entries.append((group, v.get("name"), plural))
        self.crd_entries[name] = entries

    def unregister_crd(self, name):
        for e in self.crd_entries.pop(name, []):
            self.rds.pop(e, None)


def builtin_rdefs():
    pod_fields = ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                  "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"]
    ev_core = ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
               "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
               "reason", "reportingComponent", "source", "type"]
    ev_v1 = ["regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "regarding.apiVersion",
             "regarding.resourceVersion", "regarding.fieldPath", "reason", "reportingController", "type"]
    ns_verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    return [
        RDef("", "v1", "namespaces", "namespace", "Namespace", False, ["ns"], status=True,
             field_labels=["status.phase"], verbs=ns_verbs, name_rule="label"),
        RDef("", "v1", "nodes", "node", "Node", False, ["no"], status=True, field_labels=["spec.unschedulable"]),
        RDef("", "v1", "pods", "pod", "Pod", True, ["po"], ["all"], status=True, field_labels=pod_fields),
        RDef("", "v1", "configmaps", "configmap", "ConfigMap", True, ["cm"]),
        RDef("", "v1", "secrets", "secret", "Secret", True, field_labels=["type"]),
        RDef("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ["sa"], token=True),
        RDef("", "v1", "services", "service", "Service", True, ["svc"], ["all"], status=True, name_rule="1035"),
        RDef("", "v1", "events", "event", "Event", True, ["ev"], field_labels=ev_core, name_rule="any"),
        RDef("apps", "v1", "deployments", "deployment", "Deployment", True, ["deploy"], ["all"], status=True,
             scale={"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}),
        RDef("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ["rs"], ["all"], status=True,
             scale={"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}),
        # stored and defaulted only: no controller makes its pods
        RDef("apps", "v1", "statefulsets", "statefulset", "StatefulSet", True, ["sts"], ["all"], status=True,
             scale={"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}),
        RDef("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True, name_rule="path"),
        RDef("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", True, name_rule="path"),
        RDef("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", False, name_rule="path"),
        RDef("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding",
             False, name_rule="path"),
        RDef("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
        RDef("events.k8s.io", "v1", "events", "event", "Event", True, ["ev"], skey="/events",
             field_labels=ev_v1, storage_gv="v1", name_rule="any", to_ext=event_core_to_v1, to_int=event_v1_to_core),
        RDef("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
             "CustomResourceDefinition", False, ["crd", "crds"], ["api-extensions"], status=True),
    ]


# resources whose immediate delete answers with the object, not a Status (ReturnDeletedObject)
RETURN_DELETED_OBJECT = {"/pods", "/serviceaccounts"}

SK_NS, SK_NODES, SK_PODS, SK_DEPLOY, SK_RS, SK_CRD, SK_EVENTS, SK_SVC, SK_SECRETS = (
    "/namespaces", "/nodes", "/pods", "apps/deployments", "apps/replicasets",
    "apiextensions.k8s.io/customresourcedefinitions", "/events", "/services", "/secrets")
SK_STS = "apps/statefulsets"
SK_SA = "/serviceaccounts"
