"""names.py: object names and metadata rules (DNS subdomains and labels, qualified label keys) and label and
field selectors, as the real server parses and matches them.
"""

import re

from .util import jdump
from .errors import cause_invalid, cause_required, err_bad_request


# --------------------------------------------------------------------------------------------
# validation of names and labels

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QNAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def qualified_name_ok(k):
    if not isinstance(k, str) or not k:
        return False
    if "/" in k:
        prefix, name = k.split("/", 1)
        if not prefix or len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix):
            return False
    else:
        name = k
    return len(name) <= 63 and bool(QNAME.match(name))


def name_causes(name, kind_rule):
    if kind_rule == "label":
        ok = len(name) <= 63 and DNS_LABEL.match(name)
        why = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    elif kind_rule == "1035":
        ok = len(name) <= 63 and DNS1035_LABEL.match(name)
        why = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    elif kind_rule == "path":  # path.IsValidPathSegmentName (RBAC kinds)
        ok = "/" not in name and "%" not in name and name not in (".", "..")
        why = "may not be '%s'" % name if name in (".", "..") else "may not contain '%s'" % ("/" if "/" in name else "%")
    elif kind_rule == "any":
        ok = "/" not in name and name not in (".", "..")
        why = "may not contain '/'"
    else:
        ok = len(name) <= 253 and DNS_SUBDOMAIN.match(name)
        why = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    return [] if ok else [cause_invalid("metadata.name", name, why)]


def metadata_causes(md):
    causes = []
    labels = md.get("labels")
    if labels is not None and not isinstance(labels, dict):
        causes.append(cause_invalid("metadata.labels", labels, "must be an object"))
    for k, v in (labels or {}).items() if isinstance(labels, dict) else []:
        if not qualified_name_ok(k):
            causes.append(cause_invalid("metadata.labels", k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"))
        if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
            causes.append(cause_invalid("metadata.labels", v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"))
    ann = md.get("annotations")
    if ann is not None and not isinstance(ann, dict):
        causes.append(cause_invalid("metadata.annotations", ann, "must be an object"))
    for k, v in (ann or {}).items() if isinstance(ann, dict) else []:
        if not qualified_name_ok(k):
            causes.append(cause_invalid("metadata.annotations", k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"))
        if not isinstance(v, str):
            causes.append(cause_invalid("metadata.annotations", v, "must be a string"))
    fin = md.get("finalizers")
    if fin is not None and (not isinstance(fin, list) or not all(isinstance(f, str) for f in fin)):
        causes.append(cause_invalid("metadata.finalizers", fin, "must be a list of strings"))
    for i, ref in enumerate(md.get("ownerReferences") or []):
        if not isinstance(ref, dict):
            causes.append(cause_invalid("metadata.ownerReferences[%d]" % i, ref, "must be an object"))
            continue
        for f in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(f):
                causes.append(cause_required("metadata.ownerReferences.%s" % f, ""))
    return causes


# --------------------------------------------------------------------------------------------
# label and field selectors

_SEL_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SEL_VAL = r"[-A-Za-z0-9_.]*"


def _split_top(s):
    parts, depth, cur = [], 0, []
    for c in s:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return parts


class LabelSelector:
    def __init__(self, text):
        self.text = text or ""
        self.reqs = []
        t = self.text.strip()
        if not t:
            return
        for part in _split_top(t):
            p = part.strip()
            m = re.fullmatch(r"!\s*(%s)" % _SEL_KEY, p)
            if m:
                self.reqs.append((m.group(1), "!", ()))
                continue
            m = re.fullmatch(r"(%s)\s+(in|notin)\s*\(([^()]*)\)" % _SEL_KEY, p)
            if m:
                vals = tuple(v.strip() for v in m.group(3).split(","))
                if not all(re.fullmatch(_SEL_VAL, v) for v in vals):
                    raise self._bad(p)
                self.reqs.append((m.group(1), m.group(2), vals))
                continue
            m = re.fullmatch(r"(%s)\s*(==|=|!=)\s*(%s)" % (_SEL_KEY, _SEL_VAL), p)
            if m:
                op = {"==": "=", "=": "=", "!=": "!="}[m.group(2)]
                self.reqs.append((m.group(1), op, (m.group(3),)))
                continue
            m = re.fullmatch(r"(%s)\s*(<|>)\s*(-?\d+)" % _SEL_KEY, p)
            if m:
                self.reqs.append((m.group(1), m.group(2), (int(m.group(3)),)))
                continue
            m = re.fullmatch(_SEL_KEY, p)
            if m:
                self.reqs.append((p, "exists", ()))
                continue
            raise self._bad(p)

    def _bad(self, p):
        return err_bad_request('unable to parse requirement: found "%s" in label selector "%s"' % (p, self.text))

    def matches(self, labels):
        labels = labels or {}
        for key, op, vals in self.reqs:
            has = key in labels
            v = labels.get(key)
            if op == "exists":
                ok = has
            elif op == "!":
                ok = not has
            elif op in ("=", "in"):
                ok = has and v in vals
            elif op in ("!=", "notin"):
                ok = not has or v not in vals
            else:
                try:
                    n = int(v)
                except (TypeError, ValueError):
                    return False
                ok = has and (n > vals[0] if op == ">" else n < vals[0])
            if not ok:
                return False
        return True

    def empty(self):
        return not self.reqs


def selector_string(sel):
    """metav1.LabelSelector -> its string form (requirements sorted by key)."""
    if not isinstance(sel, dict):
        return ""
    reqs = []
    for k, v in (sel.get("matchLabels") or {}).items():
        reqs.append((k, "%s=%s" % (k, v)))
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), sorted(e.get("values") or [])
        if op == "In":
            reqs.append((k, "%s in (%s)" % (k, ",".join(vals))))
        elif op == "NotIn":
            reqs.append((k, "%s notin (%s)" % (k, ",".join(vals))))
        elif op == "Exists":
            reqs.append((k, k))
        elif op == "DoesNotExist":
            reqs.append((k, "!" + k))
    reqs.sort(key=lambda r: r[0])
    return ",".join(r[1] for r in reqs)


def selector_matches(sel, labels):
    """metav1.LabelSelector semantics: None matches nothing, {} everything."""
    if not isinstance(sel, dict):
        return False
    return LabelSelector(selector_string(sel)).matches(labels)


def field_str(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, (dict, list)):
        return jdump(cur)
    return str(cur)


class FieldSelector:
    def __init__(self, text, allowed):
        self.text = text or ""
        self.reqs = []
        t = self.text.strip()
        if not t:
            return
        for part in t.split(","):
            m = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*", part)
            if not m:
                raise err_bad_request('invalid field selector: "%s"' % part)
            path = m.group(1)
            if allowed is not None and path not in allowed:
                raise err_bad_request('"%s" is not a known field selector: only "%s"'
                                      % (path, '", "'.join(sorted(allowed))))
            self.reqs.append((path, "!=" if m.group(2) == "!=" else "=", m.group(3)))

    def matches(self, obj):
        for path, op, val in self.reqs:
            actual = field_str(obj, path)
            if (actual == val) != (op == "="):
                return False
        return True

    def empty(self):
        return not self.reqs
