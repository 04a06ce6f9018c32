"""rbac.py: authorization as Kubernetes' RBAC authorizer does it, for every identity but the admin's
(`system:masters` is never refused, as kube-apiserver's privileged-group authorizer). Pure rules
over the stored Roles, ClusterRoles and their bindings, plus the validation of those kinds.

- request_info(): the attributes of a request as k8s.io/apiserver's RequestInfoFactory computes
  them: a resource request (`/api/v1/...`, `/apis/G/V/...` with a resource) has a verb from the
  method (GET get/list/watch, POST create, PUT update, PATCH patch, DELETE delete or
  deletecollection; `/watch/` paths watch), an API group, a resource, a subresource, a namespace
  (a namespace's own name for `namespaces/NAME`) and a name; a list or watch with
  `fieldSelector=metadata.name=N` (or `==`) has the name N, so a rule limited by resourceNames
  allows it. Anything else is a non-resource request: verb = the lowercased method, the path.
  `pods/exec` is authorized as `create` (what kube-apiserver 1.32 checks for its WebSocket).
- authorize(): ClusterRoleBindings first, then the RoleBindings of the request's namespace
  (roleRef Role of that namespace, or a ClusterRole); a subject applies by kind User (name),
  Group (one of the user's groups) or ServiceAccount (`system:serviceaccount:NS:NAME`, NS
  defaulting to the binding's namespace). A rule allows when verbs, apiGroups, resources
  (`resource/subresource`, `*`, `*/subresource`) and resourceNames (empty = any; else the name
  must be listed) all match, or for a non-resource request verbs and nonResourceURLs (`*`, exact,
  `prefix*`). A binding whose role is missing is skipped and named in the refusal (`RBAC: ...`).
- forbidden(): the 403 Status kube-apiserver writes, e.g. `pods "x" is forbidden: User
  "system:serviceaccount:ns:sa" cannot patch resource "pods" in API group "" in the namespace
  "ns"`.

Not done: aggregated ClusterRoles (aggregationRule), the escalation check on writes of roles
and bindings (no identity but the admin can write them unless a rule lets it), impersonation.
"""

import collections
import re
import urllib.parse

from .errors import ApiError, cause_invalid, cause_required

RBAC_GROUP = "rbac.authorization.k8s.io"
SK_ROLES, SK_ROLEBINDINGS = RBAC_GROUP + "/roles", RBAC_GROUP + "/rolebindings"
SK_CLUSTERROLES, SK_CLUSTERROLEBINDINGS = RBAC_GROUP + "/clusterroles", RBAC_GROUP + "/clusterrolebindings"

Attrs = collections.namedtuple("Attrs", "resource_request verb group resource subresource namespace name path")

SPECIAL_VERBS = {"proxy", "watch"}
NAMESPACE_SUBRESOURCES = {"status", "finalize"}
VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def _name_from_field_selector(text):
    """fields.Selector.RequiresExactMatch("metadata.name") of a fieldSelector, else None."""
    for term in (text or "").split(","):
        m = re.fullmatch(r"\s*metadata\.name\s*(==|=)\s*(.*?)\s*", term)
        if m:
            name = m.group(2)
            if name in ("", ".", "..") or "/" in name or "%" in name:
                return None
            return name
    return None


def request_info(method, path, query):
    """-> Attrs of a request (path without the query; query: {key: [values]})."""
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]
    non_resource = Attrs(False, method.lower(), "", "", "", "", "", path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return non_resource
    cur = parts[1:]
    group = ""
    if parts[0] == "apis":
        if len(cur) < 3:
            return non_resource
        group, cur = cur[0], cur[1:]
    cur = cur[1:]  # the version
    if cur[0] in SPECIAL_VERBS:
        if len(cur) < 2:
            return non_resource
        verb, cur = cur[0], cur[1:]
    else:
        verb = VERBS.get(method, "")
    namespace = ""
    if cur[0] == "namespaces":
        if len(cur) > 1:
            namespace = cur[1]
            if len(cur) > 2 and cur[2] not in NAMESPACE_SUBRESOURCES:
                cur = cur[2:]
    resource = cur[0]
    name = cur[1] if len(cur) >= 2 else ""
    sub = cur[2] if len(cur) >= 3 else ""
    if not name and verb == "get":
        watch = (query.get("watch") or [None])[0]
        verb = "watch" if watch is not None and watch.lower() not in ("false", "0") else "list"
        name = _name_from_field_selector((query.get("fieldSelector") or [""])[0]) or ""
    if not name and verb == "delete":
        verb = "deletecollection"
    if group == "" and resource == "pods" and sub == "exec":
        verb = "create"
    return Attrs(True, verb, group, resource, sub, namespace, name, path)


# --------------------------------------------------------------------------------------------
# matching


def _verb_matches(rule, verb):
    vs = rule.get("verbs") or []
    return "*" in vs or verb in vs


def _group_matches(rule, group):
    gs = rule.get("apiGroups") or []
    return "*" in gs or group in gs


def _resource_matches(rule, combined, sub):
    for r in rule.get("resources") or []:
        if r == "*" or r == combined:
            return True
        if sub and r == "*/" + sub:
            return True
    return False


def _name_matches(rule, name):
    names = rule.get("resourceNames") or []
    return not names or name in names


def _url_matches(rule, path):
    for u in rule.get("nonResourceURLs") or []:
        if u == "*" or u == path or (u.endswith("*") and path.startswith(u.rstrip("*"))):
            return True
    return False


def rule_allows(attrs, rule):
    if not isinstance(rule, dict) or not _verb_matches(rule, attrs.verb):
        return False
    if attrs.resource_request:
        combined = attrs.resource + ("/" + attrs.subresource if attrs.subresource else "")
        return (_group_matches(rule, attrs.group) and _resource_matches(rule, combined, attrs.subresource)
                and _name_matches(rule, attrs.name))
    return _url_matches(rule, attrs.path)


def _applies(subject, user, namespace):
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or namespace
        return bool(ns) and user.name == "system:serviceaccount:%s:%s" % (ns, name)
    return False


def _role_rules(objs, ref, namespace, errors):
    kind, name = (ref or {}).get("kind"), (ref or {}).get("name")
    if kind == "ClusterRole":
        role = objs[SK_CLUSTERROLES].get(("", name))
        what = "clusterrole"
    elif kind == "Role" and namespace:
        role = objs[SK_ROLES].get((namespace, name))
        what = "role"
    else:
        errors.append("unsupported role reference kind: %r" % kind)
        return []
    if role is None:
        errors.append('%s.%s "%s" not found' % (what, RBAC_GROUP, name))
        return []
    return role.get("rules") or []


def authorize(objs, user, attrs):
    """objs: the store's objects by storage key. -> (allowed, reason)."""
    errors = []
    for crb in objs[SK_CLUSTERROLEBINDINGS].values():
        if not any(_applies(s, user, "") for s in crb.get("subjects") or []):
            continue
        if any(rule_allows(attrs, r) for r in _role_rules(objs, crb.get("roleRef"), "", errors)):
            return True, ""
    if attrs.namespace:
        for (ns, _n), rb in objs[SK_ROLEBINDINGS].items():
            if ns != attrs.namespace or not any(_applies(s, user, ns) for s in rb.get("subjects") or []):
                continue
            if any(rule_allows(attrs, r) for r in _role_rules(objs, rb.get("roleRef"), ns, errors)):
                return True, ""
    if not errors:
        return False, ""
    return False, "RBAC: " + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")


def forbidden(user, attrs, reason=""):
    """The 403 Status of a refused request (responsewriters.ForbiddenStatusError)."""
    if attrs.resource_request:
        res = attrs.resource + ("/" + attrs.subresource if attrs.subresource else "")
        if attrs.namespace:
            why = 'User "%s" cannot %s resource "%s" in API group "%s" in the namespace "%s"' % (
                user.name, attrs.verb, res, attrs.group, attrs.namespace)
        else:
            why = 'User "%s" cannot %s resource "%s" in API group "%s" at the cluster scope' % (
                user.name, attrs.verb, res, attrs.group)
    else:
        why = 'User "%s" cannot %s path "%s"' % (user.name, attrs.verb, attrs.path)
    if reason:
        why += ": " + reason
    qualified = attrs.resource + ("." + attrs.group if attrs.group else "")
    details = {}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.group:
        details["group"] = attrs.group
    if attrs.resource:
        details["kind"] = attrs.resource
    if not attrs.resource:
        msg = "forbidden: " + why
    elif not attrs.name:
        msg = "%s is forbidden: %s" % (qualified, why)
    else:
        msg = '%s "%s" is forbidden: %s' % (qualified, attrs.name, why)
    return ApiError(403, "Forbidden", msg, details)


# --------------------------------------------------------------------------------------------
# validation of the RBAC kinds (422 causes), as pkg/apis/rbac/validation


def _rule_causes(rules, namespaced):
    causes = []
    if rules is None:
        return causes
    if not isinstance(rules, list):
        return [cause_invalid("rules", rules, "must be a list")]
    for i, r in enumerate(rules):
        p = "rules[%d]" % i
        if not isinstance(r, dict):
            causes.append(cause_invalid(p, r, "must be an object"))
            continue
        if not r.get("verbs"):
            causes.append(cause_required(p + ".verbs", "verbs must contain at least one value"))
        if r.get("nonResourceURLs"):
            if namespaced:
                causes.append(cause_invalid(p + ".nonResourceURLs", r["nonResourceURLs"],
                                            "namespaced rules cannot apply to non-resource URLs"))
            if r.get("apiGroups") or r.get("resources") or r.get("resourceNames"):
                causes.append(cause_invalid(p + ".nonResourceURLs", r["nonResourceURLs"],
                                            "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not r.get("apiGroups"):
            causes.append(cause_required(p + ".apiGroups", "resource rules must supply at least one api group"))
        if not r.get("resources"):
            causes.append(cause_required(p + ".resources", "resource rules must supply at least one resource"))
    return causes


def _binding_causes(obj, old, cluster):
    causes = []
    ref = obj.get("roleRef")
    kinds = ("ClusterRole",) if cluster else ("Role", "ClusterRole")
    if not isinstance(ref, dict) or not ref.get("name"):
        causes.append(cause_required("roleRef.name"))
    if isinstance(ref, dict) and ref.get("kind") not in kinds:
        causes.append(("roleRef.kind", 'Unsupported value: "%s": supported values: %s'
                       % (ref.get("kind") or "", ", ".join('"%s"' % k for k in kinds)), "FieldValueNotSupported"))
    if isinstance(ref, dict) and ref.get("apiGroup") != RBAC_GROUP:
        causes.append(("roleRef.apiGroup", 'Unsupported value: "%s": supported values: "%s"'
                       % (ref.get("apiGroup") or "", RBAC_GROUP), "FieldValueNotSupported"))
    if old is not None and ref != old.get("roleRef"):
        causes.append(cause_invalid("roleRef", ref, "cannot change roleRef"))
    for i, s in enumerate(obj.get("subjects") or []):
        p = "subjects[%d]" % i
        if not isinstance(s, dict):
            causes.append(cause_invalid(p, s, "must be an object"))
            continue
        if not s.get("name"):
            causes.append(cause_required(p + ".name"))
        if s.get("kind") not in ("ServiceAccount", "User", "Group"):
            causes.append((p + ".kind", 'Unsupported value: "%s": supported values: "ServiceAccount", "User", "Group"'
                           % (s.get("kind") or ""), "FieldValueNotSupported"))
        elif s.get("kind") == "ServiceAccount" and cluster and not s.get("namespace"):
            causes.append(cause_required(p + ".namespace"))
    return causes


def rbac_causes(skey, obj, old):
    if skey in (SK_ROLES, SK_CLUSTERROLES):
        return _rule_causes(obj.get("rules"), skey == SK_ROLES)
    if skey in (SK_ROLEBINDINGS, SK_CLUSTERROLEBINDINGS):
        return _binding_causes(obj, old, skey == SK_CLUSTERROLEBINDINGS)
    return []


# --------------------------------------------------------------------------------------------
# what a cluster starts with (kube-apiserver's bootstrap policy, the part that matters here)

DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
                  "/version", "/version/"]
PUBLIC_INFO_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


def bootstrap_policy():
    """-> [(storage key, object)]: the ClusterRoles and ClusterRoleBindings every cluster has."""
    ann = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
    labels = {"kubernetes.io/bootstrapping": "rbac-defaults"}

    def role(name, rules):
        return (SK_CLUSTERROLES, {"metadata": {"name": name, "labels": dict(labels), "annotations": dict(ann)},
                                  "rules": rules})

    def binding(name, groups):
        return (SK_CLUSTERROLEBINDINGS, {
            "metadata": {"name": name, "labels": dict(labels), "annotations": dict(ann)},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups]})

    return [
        role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                               {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        role("system:discovery", [{"nonResourceURLs": DISCOVERY_URLS, "verbs": ["get"]}]),
        role("system:public-info-viewer", [{"nonResourceURLs": PUBLIC_INFO_URLS, "verbs": ["get"]}]),
        role("system:basic-user", [
            {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
             "verbs": ["create"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]),
        binding("cluster-admin", ["system:masters"]),
        binding("system:discovery", ["system:authenticated"]),
        binding("system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]),
        binding("system:basic-user", ["system:authenticated"]),
    ]
