"""placement.py: the scheduler's rules, pure (no store, no lock): which nodes a pod may go to and
how they rank.

A node is feasible when it is schedulable (spec.unschedulable unset), matches the pod's
nodeSelector and required node affinity (nodeSelectorTerms OR'ed; matchExpressions
In/NotIn/Exists/DoesNotExist/Gt/Lt on labels and matchFields on metadata.name, AND'ed within a
term), tolerates every NoSchedule/NoExecute taint (Equal: key, value; Exists: key or every key;
an empty effect matches both), and breaks no required pod anti-affinity: neither the pod's own
terms nor those of the pods already placed (a term applies to the nodes sharing the node's value
of topologyKey; labelSelector matchLabels/matchExpressions; namespaces, or the pod's own). The
feasible nodes rank by the preferred terms (pod anti-affinity weights of matched terms minus
node affinity weights of matched preferences), then by pod count, then by name.
"""

from .util import labels_of, md_of
from .names import selector_matches

REASON_SELECTOR = "node(s) didn't match Pod's node affinity/selector"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def expression_matches(expr, values_of):
    """One NodeSelectorRequirement; values_of(key) -> the node's value or None."""
    key, op, vals = expr.get("key"), expr.get("operator"), expr.get("values") or []
    have = values_of(key)
    if op == "In":
        return have is not None and have in vals
    if op == "NotIn":
        return have is None or have not in vals
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt"):
        a, b = _int(have), _int(vals[0] if vals else None)
        if a is None or b is None:
            return False
        return a > b if op == "Gt" else a < b
    return False  # an unknown operator matches nothing (the real server refuses it)


def node_term_matches(term, node):
    """A NodeSelectorTerm: its matchExpressions (labels) and matchFields (metadata.name) all hold;
    an empty term matches nothing."""
    if not isinstance(term, dict):
        return False
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = labels_of(node)
    name = md_of(node).get("name")
    return (all(expression_matches(e, labels.get) for e in exprs)
            and all(expression_matches(e, lambda k: name if k == "metadata.name" else None) for e in fields))


def _affinity(spec, kind):
    return ((spec.get("affinity") or {}).get(kind) or {})


def node_selector_ok(spec, node):
    labels = labels_of(node)
    if not all(labels.get(k) == v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    req = _affinity(spec, "nodeAffinity").get("requiredDuringSchedulingIgnoredDuringExecution")
    if req is None:
        return True
    return any(node_term_matches(t, node) for t in req.get("nodeSelectorTerms") or [])


def untolerated_taint(spec, node):
    """The first NoSchedule/NoExecute taint of node no toleration of the pod tolerates, or None."""
    tols = [t for t in spec.get("tolerations") or [] if isinstance(t, dict)]
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(toleration_matches(t, taint) for t in tols):
            return taint
    return None


def toleration_matches(tol, taint):
    if tol.get("effect") and tol.get("effect") != taint.get("effect"):
        return False
    if tol.get("operator") == "Exists":
        return not tol.get("key") or tol.get("key") == taint.get("key")
    return tol.get("key") == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or "")


def taint_reason(taint):
    return "node(s) had untolerated taint {%s: %s}" % (taint.get("key"), taint.get("value") or "")


def anti_affinity_terms(spec):
    """-> (required terms, [(weight, term)] preferred)."""
    a = _affinity(spec, "podAntiAffinity")
    req = [t for t in a.get("requiredDuringSchedulingIgnoredDuringExecution") or [] if isinstance(t, dict)]
    pref = [(int(p.get("weight") or 0), p.get("podAffinityTerm") or {})
            for p in a.get("preferredDuringSchedulingIgnoredDuringExecution") or [] if isinstance(p, dict)]
    return req, pref


def node_preference(spec, node):
    """Sum of the weights of the pod's preferred node affinity terms node matches."""
    prefs = _affinity(spec, "nodeAffinity").get("preferredDuringSchedulingIgnoredDuringExecution") or []
    return sum(int(p.get("weight") or 0) for p in prefs
               if isinstance(p, dict) and node_term_matches(p.get("preference"), node))


def term_selects(term, term_ns, pod):
    """Does the pod anti-affinity term of a pod in namespace term_ns select pod?"""
    nss = term.get("namespaces") or []
    if term.get("namespaceSelector") == {}:
        pass  # every namespace
    elif nss:
        if md_of(pod).get("namespace") not in nss:
            return False
    elif md_of(pod).get("namespace") != term_ns:
        return False
    return selector_matches(term.get("labelSelector"), labels_of(pod))


def same_domain(term, node_a, node_b):
    """node_b is in node_a's topology domain of term (False when node_a lacks the label)."""
    key = term.get("topologyKey") or "kubernetes.io/hostname"
    va = labels_of(node_a).get(key)
    return va is not None and labels_of(node_b).get(key) == va


def unschedulable_message(total, reasons):
    if not total:
        return "no nodes available to schedule pods"
    parts = ", ".join("%d %s" % (n, r) for r, n in sorted(reasons.items()))
    return "0/%d nodes are available: %s." % (total, parts)
