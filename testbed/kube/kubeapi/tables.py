"""tables.py: what kubectl sees: content negotiation (Accept: Table, PartialObjectMetadata) and the Table
columns and rows of the built-in kinds and of CRDs (additionalPrinterColumns).
"""

import time

from .util import age_of, go_json, human_duration, labels_of, md_of, parse_ts
from .names import selector_string
from .jsonpath import jp_find
from .registry import SK_CRD


def parse_accept(accept):
    """-> ("json"|"table"|"pom"|"pomlist", include) or None when nothing acceptable."""
    if not accept:
        return "json"
    for part in accept.split(","):
        bits = [b.strip() for b in part.split(";")]
        mt = bits[0].lower()
        params = {}
        for b in bits[1:]:
            if "=" in b:
                k, v = b.split("=", 1)
                params[k.strip().lower()] = v.strip()
        if mt not in ("application/json", "*/*", "application/*", "application/json-seq"):
            continue
        asv = params.get("as")
        if asv is None:
            return "json"
        if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
            continue
        if asv == "Table":
            return "table"
        if asv == "PartialObjectMetadata":
            return "pom"
        if asv == "PartialObjectMetadataList":
            return "pomlist"
    return None

# --------------------------------------------------------------------------------------------
# tables (kubectl get)


def col(name, ctype="string", prio=0, fmt="", desc=""):
    return {"name": name, "type": ctype, "format": fmt, "description": desc, "priority": prio}


NAME_COL = col("Name", fmt="name", desc="Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
AGE_COL = col("Age", desc="CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")


def _name(o):
    return md_of(o).get("name", "")


def _containers(o, spec):
    cs = spec.get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _init_reason(spec, st):
    """kubectl's STATUS of a pod whose init containers have not all succeeded (`Init:0/1`,
    `Init:Error`, `Init:CrashLoopBackOff`, ...) and their restarts, or (None, 0)."""
    n = len(spec.get("initContainers") or [])
    restarts = 0
    for i, c in enumerate(st.get("initContainerStatuses") or []):
        restarts += int(c.get("restartCount") or 0)
        state = c.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting") or {}
        if term is not None and int(term.get("exitCode") or 0) == 0:
            continue
        if term is not None:
            if term.get("reason"):
                return "Init:" + term["reason"], restarts
            if term.get("signal"):
                return "Init:Signal:%d" % int(term["signal"]), restarts
            return "Init:ExitCode:%d" % int(term.get("exitCode") or 0), restarts
        if wait.get("reason") and wait["reason"] != "PodInitializing":
            return "Init:" + wait["reason"], restarts
        return "Init:%d/%d" % (i, n), restarts
    return None, 0


def _pod_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    n = len(spec.get("containers") or [])
    css = st.get("containerStatuses") or []
    ready = sum(1 for c in css if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in css)
    reason = st.get("reason") or st.get("phase") or "Pending"
    for c in css:
        w = (c.get("state") or {}).get("waiting") or {}
        if w.get("reason"):
            reason = w["reason"]
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True" for c in st.get("conditions") or [])
    init_reason, init_restarts = _init_reason(spec, st)
    if init_reason is not None and not initialized:
        reason, restarts = init_reason, init_restarts
    if md_of(o).get("deletionTimestamp"):
        reason = "Terminating"
    return [_name(o), "%d/%d" % (ready, n), reason, str(restarts), age_of(o), st.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", st.get("nominatedNodeName") or "<none>", "<none>"]


def _deploy_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o, (spec.get("template") or {}).get("spec") or {})
    return [_name(o), "%d/%d" % (st.get("readyReplicas") or 0, spec.get("replicas") or 0),
            st.get("updatedReplicas") or 0, st.get("availableReplicas") or 0, age_of(o), names, images,
            selector_string(spec.get("selector")) or "<none>"]


def _rs_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o, (spec.get("template") or {}).get("spec") or {})
    return [_name(o), spec.get("replicas") or 0, st.get("replicas") or 0, st.get("readyReplicas") or 0,
            age_of(o), names, images, selector_string(spec.get("selector")) or "<none>"]


def _node_row(o):
    st = o.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
    status = "Ready" if ready else "NotReady"
    if (o.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in labels_of(o) if k.startswith("node-role.kubernetes.io/"))
    addr = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    info = st.get("nodeInfo") or {}
    return [_name(o), status, ",".join(roles) or "<none>", age_of(o), info.get("kubeletVersion", ""),
            addr.get("InternalIP", "<none>"), addr.get("ExternalIP", "<none>"), info.get("osImage", ""),
            info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]


def _svc_row(o):
    spec = o.get("spec") or {}
    ports = ",".join("%s/%s" % (p.get("port"), p.get("protocol", "TCP")) for p in spec.get("ports") or [])
    sel = ",".join("%s=%s" % kv for kv in sorted((spec.get("selector") or {}).items()))
    ext = ",".join(spec.get("externalIPs") or []) or "<none>"
    return [_name(o), spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", ext, ports or "<none>",
            age_of(o), sel or "<none>"]


_BINDING_COLS = [NAME_COL, col("Role"), AGE_COL, col("Users", prio=1), col("Groups", prio=1),
                 col("ServiceAccounts", prio=1)]


def _binding_row(o):
    ref = o.get("roleRef") or {}
    subs = o.get("subjects") or []
    of = lambda kind: ", ".join(s.get("name", "") for s in subs if s.get("kind") == kind)  # noqa: E731
    sas = ", ".join("%s/%s" % (s["namespace"], s.get("name", "")) if s.get("namespace") else s.get("name", "")
                    for s in subs if s.get("kind") == "ServiceAccount")
    return [_name(o), "%s/%s" % (ref.get("kind", ""), ref.get("name", "")), age_of(o), of("User"), of("Group"), sas]


def _event_row(o):
    io = o.get("involvedObject") or {}
    src = o.get("source") or {}
    last = parse_ts(o.get("lastTimestamp") or o.get("eventTime") or md_of(o).get("creationTimestamp"))
    first = parse_ts(o.get("firstTimestamp") or o.get("eventTime") or md_of(o).get("creationTimestamp"))
    ago = lambda t: "<unknown>" if t is None else human_duration(time.time() - t)
    return [ago(last), o.get("type", ""), o.get("reason", ""),
            "%s/%s" % ((io.get("kind") or "").lower(), io.get("name", "")), io.get("fieldPath", ""),
            ",".join(x for x in (src.get("component") or o.get("reportingComponent"), src.get("host")) if x),
            o.get("message", ""), ago(first), int(o.get("count") or 1), _name(o)]


BUILTIN_TABLES = {
    "/pods": ([NAME_COL, col("Ready"), col("Status"), col("Restarts"), AGE_COL, col("IP", prio=1),
               col("Node", prio=1), col("Nominated Node", prio=1), col("Readiness Gates", prio=1)], _pod_row),
    "apps/deployments": ([NAME_COL, col("Ready"), col("Up-to-date", "integer"), col("Available", "integer"),
                          AGE_COL, col("Containers", prio=1), col("Images", prio=1), col("Selector", prio=1)],
                         _deploy_row),
    "apps/replicasets": ([NAME_COL, col("Desired", "integer"), col("Current", "integer"), col("Ready", "integer"),
                          AGE_COL, col("Containers", prio=1), col("Images", prio=1), col("Selector", prio=1)],
                         _rs_row),
    "/namespaces": ([NAME_COL, col("Status"), AGE_COL],
                    lambda o: [_name(o), (o.get("status") or {}).get("phase", ""), age_of(o)]),
    "/nodes": ([NAME_COL, col("Status"), col("Roles"), AGE_COL, col("Version"), col("Internal-IP", prio=1),
                col("External-IP", prio=1), col("OS-Image", prio=1), col("Kernel-Version", prio=1),
                col("Container-Runtime", prio=1)], _node_row),
    "/configmaps": ([NAME_COL, col("Data", "integer"), AGE_COL],
                    lambda o: [_name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), age_of(o)]),
    "/secrets": ([NAME_COL, col("Type"), col("Data", "integer"), AGE_COL],
                 lambda o: [_name(o), o.get("type", ""), len(o.get("data") or {}), age_of(o)]),
    "/services": ([NAME_COL, col("Type"), col("Cluster-IP"), col("External-IP"), col("Port(s)"), AGE_COL,
                   col("Selector", prio=1)], _svc_row),
    "/events": ([col("Last Seen"), col("Type"), col("Reason"), col("Object"), col("Subobject", prio=1),
                 col("Source", prio=1), col("Message"), col("First Seen", prio=1), col("Count", "integer", 1),
                 col("Name", prio=1)], _event_row),
    "/serviceaccounts": ([NAME_COL, col("Secrets", "integer"), AGE_COL],
                         lambda o: [_name(o), len(o.get("secrets") or []), age_of(o)]),
    "rbac.authorization.k8s.io/roles": ([NAME_COL, col("Created At", "date")],
                                        lambda o: [_name(o), md_of(o).get("creationTimestamp")]),
    "rbac.authorization.k8s.io/clusterroles": ([NAME_COL, col("Created At", "date")],
                                               lambda o: [_name(o), md_of(o).get("creationTimestamp")]),
    "rbac.authorization.k8s.io/rolebindings": (_BINDING_COLS, _binding_row),
    "rbac.authorization.k8s.io/clusterrolebindings": (_BINDING_COLS, _binding_row),
    "coordination.k8s.io/leases": ([NAME_COL, col("Holder"), AGE_COL],
                                   lambda o: [_name(o), (o.get("spec") or {}).get("holderIdentity", ""), age_of(o)]),
    SK_CRD: ([NAME_COL, col("Created At", "date")],
             lambda o: [_name(o), md_of(o).get("creationTimestamp")]),
}


def cr_cell(ctype, value):
    if value is None:
        return None
    if ctype == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return int(value)
    if ctype == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return value
    if ctype == "boolean":
        return value if isinstance(value, bool) else None
    if ctype == "date":
        t = parse_ts(value)
        return None if t is None else human_duration(time.time() - t)
    if isinstance(value, (dict, list)):
        return go_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def table_columns_and_rows(rd, objs):
    if rd.builtin:
        cols, fn = BUILTIN_TABLES.get(rd.skey, ([NAME_COL, AGE_COL], lambda o: [_name(o), age_of(o)]))
        return cols, [fn(o) for o in objs]
    pcs = rd.columns or []
    if not pcs:
        return [NAME_COL, AGE_COL], [[_name(o), age_of(o)] for o in objs]
    cols = [NAME_COL] + [col(c.get("name", ""), c.get("type", "string"), int(c.get("priority") or 0),
                             c.get("format", ""), c.get("description", "")) for c in pcs]
    rows = []
    for o in objs:
        cells = [_name(o)]
        for c in pcs:
            try:
                vals = jp_find(o, c.get("jsonPath", ""))
            except ValueError:
                vals = []
            cells.append(cr_cell(c.get("type", "string"), vals[0] if vals else None))
        rows.append(cells)
    return cols, rows


def make_table(rd, objs, list_md, include):
    cols, rows = table_columns_and_rows(rd, objs)
    out_rows = []
    for o, cells in zip(objs, rows):
        row = {"cells": cells}
        if include == "Object":
            row["object"] = rd.view(o)
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md_of(o)}
        out_rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_md, "columnDefinitions": cols,
            "rows": out_rows}
