#!/usr/bin/python3
"""apiserver.py: the ovn-vpcd testbed's Kubernetes API server (Python standard library only).

No kube-apiserver can be installed on the test machines, so this speaks the parts of the real
Kubernetes REST API that kubectl 1.32 and a raw REST client need: discovery, CRDs (served from
JSON manifests and created through apiextensions.k8s.io), list (limit/continue, label and field
selectors), watch (resourceVersion, bookmarks, timeoutSeconds, 410 Expired), create, update,
merge/JSON/strategic patch, server-side apply, delete (finalizers, ownerReference garbage
collection, namespace termination), the status and scale subresources, Table output, and a
Deployment -> ReplicaSet -> Pod controller with a fake scheduler and kubelet (StatefulSets are
stored and defaulted, with no controller).

State is in memory only. Run it with /usr/bin/python3; testbed/kube/kube.sh starts it with
certificates, a token and a kubeconfig. See testbed/README.md for flags and admin endpoints.
"""

import argparse
import base64
import calendar
import collections
import hashlib
import hmac
import http.server
import ipaddress
import itertools
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T17:59:15Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}

STD_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUB_VERBS = ["get", "patch", "update"]
OPEN_PATHS = {"/healthz", "/readyz", "/livez", "/version"}
SAFE_ALNUM = "bcdfghjklmnpqrstvwxz2456789"
MAX_BODY = 16 << 20


# --------------------------------------------------------------------------------------------
# small helpers


def jdump(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False)


def jcopy(o):
    return json.loads(json.dumps(o))


def go_json(o):
    """json.Marshal-like text (sorted keys, compact, HTML-escaped) for Table cells."""
    s = json.dumps(o, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def now_ts(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def now_micro():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


_TS_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:?\d\d)?$")


def parse_ts(s):
    if not isinstance(s, str):
        return None
    m = _TS_RE.match(s.strip())
    if not m:
        return None
    t = calendar.timegm(tuple(int(x) for x in m.groups()[:6]) + (0, 0, 0))
    tz = m.group(8)
    if tz and tz not in "Zz":
        sign = 1 if tz[0] == "+" else -1
        tz = tz[1:].replace(":", "")
        t -= sign * (int(tz[:2]) * 3600 + int(tz[2:]) * 60)
    return t


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    minutes = s // 60
    if minutes < 10:
        return "%dm" % minutes if s % 60 == 0 else "%dm%ds" % (minutes, s % 60)
    if minutes < 180:
        return "%dm" % minutes
    hours = s // 3600
    if hours < 8:
        return "%dh" % hours if minutes % 60 == 0 else "%dh%dm" % (hours, minutes % 60)
    if hours < 48:
        return "%dh" % hours
    if hours < 24 * 8:
        return "%dd" % (hours // 24) if hours % 24 == 0 else "%dd%dh" % (hours // 24, hours % 24)
    if hours < 24 * 365 * 2:
        return "%dd" % (hours // 24)
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return "%dy" % (hours // 24 // 365) if dy == 0 else "%dy%dd" % (hours // 24 // 365, dy)
    return "%dy" % (hours // 24 // 365)


def age_of(obj):
    t = parse_ts((obj.get("metadata") or {}).get("creationTimestamp"))
    return "<unknown>" if t is None else human_duration(time.time() - t)


def rand_suffix(n=5):
    return "".join(random.choice(SAFE_ALNUM) for _ in range(n))


def fnv32a(data):
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template):
    digits = str(fnv32a(json.dumps(template, sort_keys=True, separators=(",", ":")).encode()))
    return "".join(SAFE_ALNUM[ord(c) % len(SAFE_ALNUM)] for c in digits)


def md_of(obj):
    md = obj.get("metadata")
    return md if isinstance(md, dict) else {}


def labels_of(obj):
    return md_of(obj).get("labels") or {}


def obj_key(obj):
    md = md_of(obj)
    return (md.get("namespace") or "", md.get("name") or "")


def key_str(key):
    return key[0] + "/" + key[1] if key[0] else key[1]


def log(msg):
    sys.stderr.write("%s %s\n" % (now_micro(), msg))
    sys.stderr.flush()


# --------------------------------------------------------------------------------------------
# errors (metav1.Status)


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason}
        if self.details is not None:
            st["details"] = self.details
        st["code"] = self.code
        return st


def _details(rd, name):
    d = {}
    if name:
        d["name"] = name
    if rd.group:
        d["group"] = rd.group
    d["kind"] = rd.plural
    return d


def err_not_found(rd, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (rd.qualified, name), _details(rd, name))


def err_exists(rd, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (rd.qualified, name),
                    _details(rd, name))


def err_conflict(rd, name, why=None):
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s' % (rd.qualified, name, why),
                    _details(rd, name))


def err_invalid(rd, name, causes):
    """causes: list of (field, message, reason)."""
    parts = ["%s: %s" % (f, m) if f else m for f, m, _ in causes]
    what = "%s%s" % (rd.kind, "." + rd.group if rd.group else "")
    msg = '%s "%s" is invalid: %s' % (what, name, parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]")
    d = {"name": name}
    if rd.group:
        d["group"] = rd.group
    d["kind"] = rd.kind
    d["causes"] = [{"reason": r, "message": m, "field": f} for f, m, r in causes]
    return ApiError(422, "Invalid", msg, d)


def err_forbidden(rd, name, why):
    return ApiError(403, "Forbidden", '%s "%s" is forbidden: %s' % (rd.qualified, name, why), _details(rd, name))


def err_bad_request(msg):
    return ApiError(400, "BadRequest", msg)


def err_path_not_found():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def err_method():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def err_expired(msg):
    return ApiError(410, "Expired", msg)


def err_too_large(rv, cur):
    return ApiError(504, "Timeout", "Too large resource version: %d, current: %d" % (rv, cur),
                    {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                     "retryAfterSeconds": 1}, {"Retry-After": "1"})


def err_unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def err_media(ctype):
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: "
                    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                    + ("" if ctype else ""))


def cause_invalid(field, value, detail):
    return (field, "Invalid value: %s: %s" % (go_json(value), detail), "FieldValueInvalid")


def cause_required(field, detail=""):
    return (field, "Required value" + (": " + detail if detail else ""), "FieldValueRequired")


def cause_forbidden(field, detail):
    return (field, "Forbidden: " + detail, "FieldValueForbidden")


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


# --------------------------------------------------------------------------------------------
# JSONPath (the subset CRD printer columns, scale paths and selectable fields use)


def jp_parse(path):
    p = path.strip()
    if p.startswith("{") and p.endswith("}"):
        p = p[1:-1].strip()
    if p.startswith("$"):
        p = p[1:]
    if p and p[0] not in ".[":
        p = "." + p
    toks, i, n = [], 0, len(p)
    while i < n:
        c = p[i]
        if c == ".":
            i += 1
            if i < n and p[i] == ".":
                raise ValueError("recursive descent is not supported")
            name = []
            while i < n and p[i] not in ".[":
                if p[i] == "\\" and i + 1 < n:
                    name.append(p[i + 1])
                    i += 2
                else:
                    name.append(p[i])
                    i += 1
            name = "".join(name)
            if name == "*":
                toks.append(("all",))
            elif name:
                toks.append(("key", name))
        elif c == "[":
            j, q = i + 1, None
            while j < n and (q or p[j] != "]"):
                if q:
                    if p[j] == q:
                        q = None
                elif p[j] in "'\"":
                    q = p[j]
                j += 1
            if j >= n:
                raise ValueError("unterminated [ in %r" % path)
            inner = p[i + 1:j].strip()
            i = j + 1
            if inner == "*":
                toks.append(("all",))
            elif inner.startswith("?(") and inner.endswith(")"):
                toks.append(("filter",) + _jp_filter(inner[2:-1]))
            elif re.fullmatch(r"-?\d+", inner):
                toks.append(("index", int(inner)))
            elif re.fullmatch(r"-?\d*:-?\d*", inner):
                a, b = inner.split(":")
                toks.append(("slice", int(a) if a else None, int(b) if b else None))
            elif len(inner) >= 2 and inner[0] in "'\"" and inner[-1] == inner[0]:
                toks.append(("key", inner[1:-1]))
            else:
                raise ValueError("unsupported JSONPath element [%s]" % inner)
        else:
            raise ValueError("unexpected %r in JSONPath %r" % (c, path))
    return toks


def _jp_literal(s):
    s = s.strip()
    if len(s) >= 2 and s[0] in "'\"" and s[-1] == s[0]:
        return s[1:-1]
    if s in ("true", "false"):
        return s == "true"
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def _jp_filter(expr):
    m = re.fullmatch(r"\s*@((?:\.[^=!<>\s]+)*)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*", expr)
    if m:
        return (jp_parse(m.group(1) or ""), m.group(2), _jp_literal(m.group(3)))
    m = re.fullmatch(r"\s*@((?:\.\S+)*)\s*", expr)
    if m:
        return (jp_parse(m.group(1) or ""), "exists", None)
    raise ValueError("unsupported JSONPath filter %r" % expr)


def _jp_cmp(a, op, b):
    try:
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op == "<":
            return a < b
        if op == ">":
            return a > b
        if op == "<=":
            return a <= b
        if op == ">=":
            return a >= b
    except TypeError:
        return False
    return False


def jp_eval(obj, toks):
    vals = [obj]
    for tok in toks:
        out = []
        kind = tok[0]
        for v in vals:
            if kind == "key":
                if isinstance(v, dict) and tok[1] in v:
                    out.append(v[tok[1]])
            elif kind == "all":
                if isinstance(v, dict):
                    out.extend(v.values())
                elif isinstance(v, list):
                    out.extend(v)
            elif kind == "index":
                if isinstance(v, list) and -len(v) <= tok[1] < len(v):
                    out.append(v[tok[1]])
            elif kind == "slice":
                if isinstance(v, list):
                    out.extend(v[tok[1]:tok[2]])
            elif kind == "filter":
                if isinstance(v, list):
                    for e in v:
                        r = jp_eval(e, tok[1])
                        if tok[2] == "exists":
                            if r:
                                out.append(e)
                        elif r and _jp_cmp(r[0], tok[2], tok[3]):
                            out.append(e)
        vals = out
    return vals


_JP_CACHE = {}


def jp_find(obj, path):
    toks = _JP_CACHE.get(path)
    if toks is None:
        toks = jp_parse(path)
        _JP_CACHE[path] = toks
    return jp_eval(obj, toks)


def jp_get(obj, path, default=None):
    try:
        r = jp_find(obj, path)
    except ValueError:
        return default
    return r[0] if r else default


def jp_set(obj, path, value):
    toks = jp_parse(path)
    if not toks or any(t[0] != "key" for t in toks):
        raise ValueError("can only set simple paths, not %r" % path)
    cur = obj
    for t in toks[:-1]:
        nxt = cur.get(t[1])
        if not isinstance(nxt, dict):
            nxt = {}
            cur[t[1]] = nxt
        cur = nxt
    cur[toks[-1][1]] = value


# --------------------------------------------------------------------------------------------
# patches


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return jcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


# patchMergeKey of the list fields of the built-in types (a good approximation by field name)
SMP_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "volumes": "name",
    "volumeMounts": "mountPath", "volumeDevices": "devicePath", "env": "name", "imagePullSecrets": "name",
    "hostAliases": "ip", "ownerReferences": "uid", "conditions": "type", "taints": "key",
    "addresses": "type", "topologySpreadConstraints": "topologyKey", "resourceClaims": "name",
    "readinessGates": "conditionType", "ports": None,  # containerPort or port: decided by content
}
SMP_PRIMITIVE_MERGE = {"finalizers"}


def strategic_merge(target, patch, use_keys=True):
    if not isinstance(patch, dict):
        return jcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: jcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            f = k.split("/", 1)[1]
            if isinstance(result.get(f), list) and isinstance(v, list):
                result[f] = [x for x in result[f] if x not in v]
            continue
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            r = strategic_merge(result.get(k), v, use_keys)
            if r is None:
                result.pop(k, None)
            else:
                result[k] = r
        elif isinstance(v, list):
            result[k] = _smp_list(k, result.get(k), v, use_keys)
        else:
            result[k] = v
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(field, cur, patch, use_keys):
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return [jcopy(e) for e in patch if not (isinstance(e, dict) and e.get("$patch") == "replace")]
    if not use_keys:
        return jcopy(patch)
    if field in SMP_PRIMITIVE_MERGE and isinstance(cur, list):
        return list(cur) + [x for x in patch if x not in cur]
    if field not in SMP_MERGE_KEYS or not isinstance(cur, list) or not all(isinstance(e, dict) for e in patch):
        return [jcopy(e) for e in patch if not (isinstance(e, dict) and e.get("$patch") == "delete")]
    key = SMP_MERGE_KEYS[field]
    if key is None:
        key = "containerPort" if any("containerPort" in e for e in list(patch) + [c for c in cur if isinstance(c, dict)]) else "port"
    result = [jcopy(e) for e in cur]
    for e in patch:
        if key not in e:
            if e.get("$patch") != "delete":
                result.append(jcopy(e))
            continue
        idx = next((i for i, c in enumerate(result) if isinstance(c, dict) and c.get(key) == e[key]), None)
        if e.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
        elif idx is not None:
            result[idx] = strategic_merge(result[idx], e, use_keys)
        else:
            result.append(strategic_merge({}, e, use_keys))
    return result


def _ptr(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError("JSON pointer must start with '/': %r" % path)
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _ptr_parent(doc, toks):
    cur = doc
    for t in toks[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise ValueError("path not found: /%s" % "/".join(toks))
            cur = cur[t]
        elif isinstance(cur, list):
            i = int(t)
            if not 0 <= i < len(cur):
                raise ValueError("index out of range")
            cur = cur[i]
        else:
            raise ValueError("path not found")
    return cur


def _ptr_get(doc, toks):
    if not toks:
        return doc
    parent = _ptr_parent(doc, toks)
    t = toks[-1]
    if isinstance(parent, dict):
        if t not in parent:
            raise ValueError("path not found: /%s" % "/".join(toks))
        return parent[t]
    if isinstance(parent, list):
        i = int(t)
        if not 0 <= i < len(parent):
            raise ValueError("index out of range")
        return parent[i]
    raise ValueError("path not found")


def _ptr_add(doc, toks, value):
    if not toks:
        return value
    parent = _ptr_parent(doc, toks)
    t = toks[-1]
    if isinstance(parent, dict):
        parent[t] = value
    elif isinstance(parent, list):
        i = len(parent) if t == "-" else int(t)
        if not 0 <= i <= len(parent):
            raise ValueError("index out of range")
        parent.insert(i, value)
    else:
        raise ValueError("cannot add to a scalar")
    return doc


def _ptr_remove(doc, toks):
    if not toks:
        raise ValueError("cannot remove the root")
    parent = _ptr_parent(doc, toks)
    t = toks[-1]
    if isinstance(parent, dict):
        if t not in parent:
            raise ValueError("path not found: /%s" % "/".join(toks))
        return parent.pop(t)
    if isinstance(parent, list):
        i = int(t)
        if not 0 <= i < len(parent):
            raise ValueError("index out of range")
        return parent.pop(i)
    raise ValueError("path not found")


def json_patch(doc, ops):
    """RFC 6902 JSON patch."""
    if not isinstance(ops, list):
        raise ValueError("a JSON patch must be a list of operations")
    doc = jcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ValueError("invalid operation %s" % jdump(op))
        kind, toks = op["op"], _ptr(op["path"])
        try:
            if kind == "add":
                doc = _ptr_add(doc, toks, jcopy(op["value"]))
            elif kind == "remove":
                _ptr_remove(doc, toks)
            elif kind == "replace":
                _ptr_get(doc, toks)
                if not toks:
                    doc = jcopy(op["value"])
                else:
                    parent = _ptr_parent(doc, toks)
                    if isinstance(parent, list):
                        parent[int(toks[-1])] = jcopy(op["value"])
                    else:
                        parent[toks[-1]] = jcopy(op["value"])
            elif kind == "move":
                v = _ptr_remove(doc, _ptr(op["from"]))
                doc = _ptr_add(doc, toks, v)
            elif kind == "copy":
                doc = _ptr_add(doc, toks, jcopy(_ptr_get(doc, _ptr(op["from"]))))
            elif kind == "test":
                if _ptr_get(doc, toks) != op.get("value"):
                    raise ValueError("testing value %s failed" % op["path"])
            else:
                raise ValueError("unknown operation %r" % kind)
        except (KeyError, IndexError, TypeError) as e:
            raise ValueError("%s %s: %s" % (kind, op["path"], e))
    return doc


def removed_fields_as_nulls(last, new):
    """A merge patch that removes what `last` set and `new` no longer sets (server-side apply)."""
    out = jcopy(new)
    if not isinstance(last, dict) or not isinstance(new, dict):
        return out

    def walk(l, n, o):
        for k, lv in l.items():
            if k not in n:
                o[k] = None
            elif isinstance(lv, dict) and isinstance(n[k], dict):
                walk(lv, n[k], o[k])
    walk(last, new, out)
    return out


# --------------------------------------------------------------------------------------------
# Kubernetes protobuf request bodies (kubectl's typed clients, e.g. `kubectl create deployment`,
# send application/vnd.kubernetes.protobuf). Decoded into JSON with compact schemas of the kinds
# kubectl creates; fields not listed here are dropped (and logged once).
#
# type codes: s string, i int, b bool, bytes (base64), time (metav1.Time), ios (IntOrString),
# q (resource.Quantity), m:X message, [X repeated, map:X map<string,X>, inline:X (embedded,
# flattened into the parent). A trailing * keeps zero values (a Go pointer field); otherwise zero
# values and empty messages are dropped as Go's omitempty would.

PB_SCHEMAS = {
    "Unknown": {1: ("typeMeta", "m:TypeMeta"), 2: ("raw", "rawbytes"), 3: ("contentEncoding", "s"), 4: ("contentType", "s")},
    "TypeMeta": {1: ("apiVersion", "s"), 2: ("kind", "s")},
    "ObjectMeta": {1: ("name", "s"), 2: ("generateName", "s"), 3: ("namespace", "s"), 4: ("selfLink", "s"),
                   5: ("uid", "s"), 6: ("resourceVersion", "s"), 7: ("generation", "i"),
                   8: ("creationTimestamp", "time"), 9: ("deletionTimestamp", "time"),
                   10: ("deletionGracePeriodSeconds", "i*"), 11: ("labels", "map:s"), 12: ("annotations", "map:s"),
                   13: ("ownerReferences", "[m:OwnerReference"), 14: ("finalizers", "[s")},
    "OwnerReference": {1: ("kind", "s"), 3: ("name", "s"), 4: ("uid", "s"), 5: ("apiVersion", "s"),
                       6: ("controller", "b*"), 7: ("blockOwnerDeletion", "b*")},
    "LabelSelector": {1: ("matchLabels", "map:s"), 2: ("matchExpressions", "[m:LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "s"), 2: ("operator", "s"), 3: ("values", "[s")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "i*"), 2: ("preconditions", "m:Preconditions"),
                      3: ("orphanDependents", "b*"), 4: ("propagationPolicy", "s"), 5: ("dryRun", "[s")},
    "Preconditions": {1: ("uid", "s"), 2: ("resourceVersion", "s")},
    # apps/v1
    "Deployment": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:DeploymentSpec"), 3: ("status", "m:Empty")},
    "DeploymentSpec": {1: ("replicas", "i*"), 2: ("selector", "m:LabelSelector"), 3: ("template", "m:PodTemplateSpec"),
                       4: ("strategy", "m:DeploymentStrategy"), 5: ("minReadySeconds", "i"),
                       6: ("revisionHistoryLimit", "i*"), 7: ("paused", "b"), 9: ("progressDeadlineSeconds", "i*")},
    "DeploymentStrategy": {1: ("type", "s"), 2: ("rollingUpdate", "m:RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "ios*"), 2: ("maxSurge", "ios*")},
    "Empty": {},
    # core/v1
    "PodTemplateSpec": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:PodSpec")},
    "Pod": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:PodSpec"), 3: ("status", "m:Empty")},
    "PodSpec": {1: ("volumes", "[m:Volume"), 2: ("containers", "[m:Container"), 3: ("restartPolicy", "s"),
                4: ("terminationGracePeriodSeconds", "i*"), 5: ("activeDeadlineSeconds", "i*"), 6: ("dnsPolicy", "s"),
                7: ("nodeSelector", "map:s"), 8: ("serviceAccountName", "s"), 9: ("serviceAccount", "s"),
                10: ("nodeName", "s"), 11: ("hostNetwork", "b"), 12: ("hostPID", "b"), 13: ("hostIPC", "b"),
                14: ("securityContext", "m:Raw"), 15: ("imagePullSecrets", "[m:LocalObjectReference"),
                16: ("hostname", "s"), 17: ("subdomain", "s"), 19: ("schedulerName", "s"),
                20: ("initContainers", "[m:Container"), 21: ("automountServiceAccountToken", "b*"),
                22: ("tolerations", "[m:Toleration"), 24: ("priorityClassName", "s"), 25: ("priority", "i*"),
                30: ("enableServiceLinks", "b*")},
    "Container": {1: ("name", "s"), 2: ("image", "s"), 3: ("command", "[s"), 4: ("args", "[s"), 5: ("workingDir", "s"),
                  6: ("ports", "[m:ContainerPort"), 7: ("env", "[m:EnvVar"), 8: ("resources", "m:ResourceRequirements"),
                  9: ("volumeMounts", "[m:VolumeMount"), 13: ("terminationMessagePath", "s"),
                  14: ("imagePullPolicy", "s"), 16: ("stdin", "b"), 17: ("stdinOnce", "b"), 18: ("tty", "b"),
                  20: ("terminationMessagePolicy", "s")},
    "ContainerPort": {1: ("name", "s"), 2: ("hostPort", "i"), 3: ("containerPort", "i"), 4: ("protocol", "s"),
                      5: ("hostIP", "s")},
    "EnvVar": {1: ("name", "s"), 2: ("value", "s"), 3: ("valueFrom", "m:EnvVarSource")},
    "EnvVarSource": {1: ("fieldRef", "m:ObjectFieldSelector"), 3: ("configMapKeyRef", "m:KeySelector"),
                     4: ("secretKeyRef", "m:KeySelector")},
    "ObjectFieldSelector": {1: ("apiVersion", "s"), 2: ("fieldPath", "s")},
    "KeySelector": {1: ("localObjectReference", "inline:LocalObjectReference"), 2: ("key", "s"), 3: ("optional", "b*")},
    "LocalObjectReference": {1: ("name", "s")},
    "ResourceRequirements": {1: ("limits", "map:q"), 2: ("requests", "map:q")},
    "VolumeMount": {1: ("name", "s"), 2: ("readOnly", "b"), 3: ("mountPath", "s"), 4: ("subPath", "s")},
    "Volume": {1: ("name", "s"), 2: ("volumeSource", "inline:VolumeSource")},
    "VolumeSource": {1: ("hostPath", "m*:HostPathVolumeSource"), 2: ("emptyDir", "m*:EmptyDirVolumeSource"),
                     6: ("secret", "m*:SecretVolumeSource"), 19: ("configMap", "m*:ConfigMapVolumeSource")},
    "HostPathVolumeSource": {1: ("path", "s"), 2: ("type", "s*")},
    "EmptyDirVolumeSource": {1: ("medium", "s"), 2: ("sizeLimit", "q")},
    "SecretVolumeSource": {1: ("secretName", "s"), 3: ("defaultMode", "i*"), 4: ("optional", "b*")},
    "ConfigMapVolumeSource": {1: ("localObjectReference", "inline:LocalObjectReference"), 3: ("defaultMode", "i*"),
                              4: ("optional", "b*")},
    "Toleration": {1: ("key", "s"), 2: ("operator", "s"), 3: ("value", "s"), 4: ("effect", "s"),
                   5: ("tolerationSeconds", "i*")},
    "Raw": {},
    "Namespace": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:NamespaceSpec"), 3: ("status", "m:Empty")},
    "NamespaceSpec": {1: ("finalizers", "[s")},
    "ConfigMap": {1: ("metadata", "m:ObjectMeta"), 2: ("data", "map:s"), 3: ("binaryData", "map:bytes"),
                  4: ("immutable", "b*")},
    "Secret": {1: ("metadata", "m:ObjectMeta"), 2: ("data", "map:bytes"), 3: ("type", "s"), 4: ("stringData", "map:s"),
               5: ("immutable", "b*")},
    "ServiceAccount": {1: ("metadata", "m:ObjectMeta"), 2: ("secrets", "[m:Raw"),
                       3: ("imagePullSecrets", "[m:LocalObjectReference"), 4: ("automountServiceAccountToken", "b*")},
    "Service": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:ServiceSpec"), 3: ("status", "m:Empty")},
    "ServiceSpec": {1: ("ports", "[m:ServicePort"), 2: ("selector", "map:s"), 3: ("clusterIP", "s"), 4: ("type", "s"),
                    5: ("externalIPs", "[s"), 7: ("sessionAffinity", "s"), 8: ("loadBalancerIP", "s"),
                    10: ("externalName", "s"), 11: ("externalTrafficPolicy", "s"), 12: ("healthCheckNodePort", "i"),
                    13: ("publishNotReadyAddresses", "b"),
                    18: ("clusterIPs", "[s")},
    "ServicePort": {1: ("name", "s"), 2: ("protocol", "s"), 3: ("port", "i"), 4: ("targetPort", "ios"), 5: ("nodePort", "i")},
    "Scale": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:ScaleSpec"), 3: ("status", "m:Empty")},
    "ScaleSpec": {1: ("replicas", "i")},
    "Lease": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:LeaseSpec")},
    "LeaseSpec": {1: ("holderIdentity", "s*"), 2: ("leaseDurationSeconds", "i*"), 3: ("acquireTime", "mtime"),
                  4: ("renewTime", "mtime"), 5: ("leaseTransitions", "i*")},
}
PB_KINDS = {"Deployment", "Pod", "Namespace", "ConfigMap", "Secret", "ServiceAccount", "Service", "Scale", "Lease",
            "DeleteOptions"}
_PB_WARNED = set()


def _pb_varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 70:
            raise ValueError("varint too long")


def pb_fields(buf):
    """Raw wire decoding: -> list of (field number, wire type, value)."""
    out, i = [], 0
    while i < len(buf):
        key, i = _pb_varint(buf, i)
        fn, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _pb_varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = _pb_varint(buf, i)
            v, i = buf[i:i + n], i + n
            if i > len(buf):
                raise ValueError("truncated field")
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        out.append((fn, wt, v))
    return out


def _pb_int(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _pb_scalar(t, wt, v):
    if t == "s":
        return bytes(v).decode("utf-8")
    if t == "i":
        return _pb_int(v)
    if t == "b":
        return bool(v)
    if t in ("bytes", "rawbytes"):
        return bytes(v) if t == "rawbytes" else base64.b64encode(bytes(v)).decode()
    if t in ("time", "mtime"):
        secs = nanos = 0
        for fn, _wt, x in pb_fields(v):
            if fn == 1:
                secs = _pb_int(x)
            elif fn == 2:
                nanos = _pb_int(x)
        if not secs and not nanos:
            return None
        if t == "mtime":
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%06dZ" % (nanos // 1000)
        return now_ts(secs)
    if t == "ios":
        typ, iv, sv = 0, 0, ""
        for fn, _wt, x in pb_fields(v):
            if fn == 1:
                typ = _pb_int(x)
            elif fn == 2:
                iv = _pb_int(x)
            elif fn == 3:
                sv = bytes(x).decode()
        return sv if typ == 1 else iv
    if t == "q":
        for fn, _wt, x in pb_fields(v):
            if fn == 1:
                return bytes(x).decode()
        return "0"
    raise ValueError("unknown scalar type %s" % t)


def _pb_zero(v):
    return v is None or v == "" or v == 0 or v is False or v == {} or v == []


def pb_message(buf, schema_name):
    schema = PB_SCHEMAS[schema_name]
    out = {}
    for fn, wt, v in pb_fields(buf):
        if fn not in schema:
            if schema_name not in ("Empty", "Raw") and (schema_name, fn) not in _PB_WARNED:
                _PB_WARNED.add((schema_name, fn))
                log("protobuf: field %d of %s is not decoded (dropped)" % (fn, schema_name))
            continue
        name, t = schema[fn]
        keep = t.endswith("*")
        t = t.rstrip("*")
        if t.startswith("["):
            et = t[1:]
            val = pb_message(v, et[2:]) if et.startswith("m:") else _pb_scalar(et, wt, v)
            out.setdefault(name, []).append(val)
            continue
        if t.startswith("map:"):
            vt = t[4:]
            k, mv = "", None
            for efn, ewt, ev in pb_fields(v):
                if efn == 1:
                    k = bytes(ev).decode()
                elif efn == 2:
                    mv = pb_message(ev, vt[2:]) if vt.startswith("m:") else _pb_scalar(vt, ewt, ev)
            if mv is None:
                mv = "" if vt in ("s", "bytes") else mv
            out.setdefault(name, {})[k] = mv
            continue
        if t.startswith("inline:"):
            out.update(pb_message(v, t[7:]))
            continue
        if t.startswith("m:"):
            val = pb_message(v, t[2:])
        else:
            val = _pb_scalar(t, wt, v)
        if keep or not _pb_zero(val):
            out[name] = val
        else:
            out.pop(name, None)
    return out


def pb_decode_object(body):
    """application/vnd.kubernetes.protobuf body -> JSON-style object."""
    if not body.startswith(b"k8s\x00"):
        raise err_bad_request("protobuf body without the k8s envelope")
    try:
        unk = pb_message(body[4:], "Unknown")
        tm = unk.get("typeMeta") or {}
        kind = tm.get("kind", "")
        if kind not in PB_KINDS:
            raise ApiError(415, "UnsupportedMediaType", "the testbed apiserver decodes protobuf only for %s, not %s; send JSON"
                           % (", ".join(sorted(PB_KINDS)), kind or "this object"))
        obj = pb_message(unk.get("raw") or b"", kind)
    except (ValueError, UnicodeDecodeError, KeyError) as e:
        raise err_bad_request("cannot decode protobuf body: %s" % e)
    out = {"apiVersion": tm.get("apiVersion", ""), "kind": kind}
    out.update(obj)
    return out


# --------------------------------------------------------------------------------------------
# CRD structural schemas: pruning, defaulting, validation


class SchemaIssues:
    def __init__(self):
        self.unknown = []
        self.causes = []


_JSON_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _type_name(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def schema_walk(val, sch, path, iss):
    if not isinstance(sch, dict):
        return val
    if val is None:
        if not sch.get("nullable") and sch.get("type"):
            iss.causes.append(cause_invalid(path, None, "%s in body must be of type %s: \"null\"" % (path, sch.get("type"))))
        return val
    if sch.get("x-kubernetes-int-or-string"):
        if isinstance(val, bool) or not isinstance(val, (int, str)):
            iss.causes.append(cause_invalid(path, val, "%s in body must be of type integer,string: \"%s\"" % (path, _type_name(val))))
        return val
    t = sch.get("type")
    if t in _JSON_TYPES and not _JSON_TYPES[t](val):
        iss.causes.append(cause_invalid(path, val, "%s in body must be of type %s: \"%s\"" % (path, t, _type_name(val))))
        return val
    if isinstance(val, dict):
        props = sch.get("properties")
        addl = sch.get("additionalProperties")
        preserve = sch.get("x-kubernetes-preserve-unknown-fields")
        embedded = sch.get("x-kubernetes-embedded-resource")
        structural = props is not None or addl is not None or t == "object"
        out = {}
        for k, v in val.items():
            sub = path + "." + k if path else k
            if props is not None and k in props:
                out[k] = schema_walk(v, props[k], sub, iss)
            elif isinstance(addl, dict):
                out[k] = schema_walk(v, addl, sub, iss)
            elif addl is True or preserve or not structural:
                out[k] = v
            elif embedded and k in ("apiVersion", "kind", "metadata"):
                out[k] = v
            else:
                iss.unknown.append(sub)
        for k, ps in (props or {}).items():
            if k not in out and isinstance(ps, dict) and "default" in ps:
                out[k] = schema_walk(jcopy(ps["default"]), ps, path + "." + k if path else k, iss)
        for k in sch.get("required") or []:
            if k not in out:
                iss.causes.append(cause_required(path + "." + k if path else k))
        return out
    if isinstance(val, list):
        items = sch.get("items")
        out = [schema_walk(v, items, "%s[%d]" % (path, i), iss) for i, v in enumerate(val)] if isinstance(items, dict) else val
        if "minItems" in sch and len(val) < sch["minItems"]:
            iss.causes.append(cause_invalid(path, val, "%s in body should have at least %d items" % (path, sch["minItems"])))
        if "maxItems" in sch and len(val) > sch["maxItems"]:
            iss.causes.append((path, "Too many: %d: must have at most %d items" % (len(val), sch["maxItems"]), "FieldValueTooMany"))
        return out
    enum = sch.get("enum")
    if isinstance(enum, list) and val not in enum:
        iss.causes.append((path, "Unsupported value: %s: supported values: %s" % (go_json(val), ", ".join(go_json(e) for e in enum)), "FieldValueNotSupported"))
    if isinstance(val, str):
        if "maxLength" in sch and len(val) > sch["maxLength"]:
            iss.causes.append((path, "Too long: may not be longer than %d" % sch["maxLength"], "FieldValueTooLong"))
        if "minLength" in sch and len(val) < sch["minLength"]:
            iss.causes.append(cause_invalid(path, val, "%s in body should be at least %d chars long" % (path, sch["minLength"])))
        if "pattern" in sch:
            try:
                if not re.search(sch["pattern"], val):
                    iss.causes.append(cause_invalid(path, val, "%s in body should match '%s'" % (path, sch["pattern"])))
            except re.error:
                pass
    if isinstance(val, (int, float)) and not isinstance(val, bool):
        if "minimum" in sch:
            lo = sch["minimum"]
            if val < lo or (sch.get("exclusiveMinimum") is True and val == lo):
                iss.causes.append(cause_invalid(path, val, "%s in body should be greater than or equal to %s" % (path, lo)))
        if "maximum" in sch:
            hi = sch["maximum"]
            if val > hi or (sch.get("exclusiveMaximum") is True and val == hi):
                iss.causes.append(cause_invalid(path, val, "%s in body should be less than or equal to %s" % (path, hi)))
    return val


def apply_cr_schema(obj, schema):
    """Prune, default and validate a custom resource; apiVersion/kind/metadata are left alone."""
    iss = SchemaIssues()
    if not isinstance(schema, dict):
        return obj, iss
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    sch = dict(schema)
    props = dict(sch.get("properties") or {})
    for k in ("apiVersion", "kind", "metadata"):
        props.pop(k, None)
    sch["properties"] = props
    sch["required"] = [r for r in (sch.get("required") or []) if r not in ("apiVersion", "kind", "metadata")]
    out = schema_walk(rest, sch, "", iss)
    result = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    result.update(out if isinstance(out, dict) else {})
    return result, iss


# --------------------------------------------------------------------------------------------
# resource definitions and the registry


class RDef:
    def __init__(self, group, version, plural, singular, kind, namespaced, short=(), categories=(),
                 status=False, scale=None, skey=None, builtin=True, schema=None, columns=None,
                 field_labels=None, verbs=None, storage_gv=None, crd_name=None, list_kind=None,
                 name_rule="subdomain", to_ext=None, to_int=None):
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


BUILTIN_GROUP_ORDER = ["", "apps", "events.k8s.io", "coordination.k8s.io", "apiextensions.k8s.io"]


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
        RDef("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ["sa"]),
        RDef("", "v1", "services", "service", "Service", True, ["svc"], ["all"], status=True, name_rule="1035"),
        RDef("", "v1", "events", "event", "Event", True, ["ev"], field_labels=ev_core, name_rule="any"),
        RDef("apps", "v1", "deployments", "deployment", "Deployment", True, ["deploy"], ["all"], status=True,
             scale={"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}),
        RDef("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ["rs"], ["all"], status=True,
             scale={"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}),
        # stored and defaulted only: no controller makes its pods
        RDef("apps", "v1", "statefulsets", "statefulset", "StatefulSet", True, ["sts"], ["all"], status=True,
             scale={"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}),
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


# --------------------------------------------------------------------------------------------
# the store: objects, one resourceVersion counter, the event log


class Store:
    def __init__(self, history):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = 0
        self.objs = collections.defaultdict(dict)  # skey -> {(ns, name): obj}
        self.uids = {}  # uid -> (skey, (ns, name))
        self.log = collections.deque()  # (rv, skey, type, obj, prev), contiguous resourceVersions
        self.compacted = 0  # new lists/watches from a resourceVersion < this get 410
        self.floor = 0  # events with rv <= floor are gone from the log (floor <= compacted)
        self.active = None  # callable -> resourceVersions of the open watches (kept across compact)
        self.history = max(1, history)
        self.wake = threading.Event()
        self.gc_needed = True
        self.hooks = []  # callables (skey, etype, obj, prev), run under the lock after a commit

    def commit(self, skey, etype, obj, prev):
        """obj must be a fresh object nobody else holds; it is stored (or is the DELETED object)."""
        self.rv += 1
        md = obj["metadata"]
        md["resourceVersion"] = str(self.rv)
        key = obj_key(obj)
        if etype == "DELETED":
            self.objs[skey].pop(key, None)
            self.uids.pop(md.get("uid"), None)
            self.gc_needed = True
        else:
            self.objs[skey][key] = obj
            self.uids[md.get("uid")] = (skey, key)
            if md.get("ownerReferences") or md.get("deletionTimestamp"):
                self.gc_needed = True
        self.log.append((self.rv, skey, etype, obj, prev))
        while len(self.log) > self.history:
            self.floor = self.log.popleft()[0]
            self.compacted = max(self.compacted, self.floor)
        for h in self.hooks:
            h(skey, etype, obj, prev)
        self.cond.notify_all()
        self.wake.set()
        return obj

    def compact(self):
        """Forget the history: new requests from an older resourceVersion get 410. Open watches
        keep the events they still have to deliver."""
        self.compacted = self.rv
        keep_from = min([self.rv] + list(self.active() if self.active else []))
        while self.log and self.log[0][0] <= keep_from:
            self.floor = self.log.popleft()[0]

    def trim(self, history):
        self.history = max(1, history)
        while len(self.log) > self.history:
            self.floor = self.log.popleft()[0]
            self.compacted = max(self.compacted, self.floor)

    def events_after(self, rv):
        """Events after rv for an open watch (raises 410 when they are gone)."""
        if rv < self.floor:
            raise err_expired("too old resource version: %d (%d)" % (rv, self.floor + 1))
        if not self.log:
            return []
        start = rv + 1 - self.log[0][0]
        if start >= len(self.log):
            return []
        return list(itertools.islice(self.log, max(start, 0), None))

    def snapshot(self, skey, rv):
        """The objects of skey as they were at resourceVersion rv (from the event log)."""
        if rv < self.compacted:
            raise err_expired("too old resource version: %d (%d)" % (rv, self.compacted + 1))
        cur = dict(self.objs[skey])
        for (erv, sk, _et, obj, prev) in reversed(self.log):
            if erv <= rv:
                break
            if sk != skey:
                continue
            if prev is None:
                cur.pop(obj_key(obj), None)
            else:
                cur[obj_key(prev)] = prev
        return cur


# --------------------------------------------------------------------------------------------
# tokens and faults


class Tokens:
    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.tokens = []
        self.lock = threading.Lock()

    def check(self, tok):
        if not self.path:
            return False
        with self.lock:
            try:
                st = os.stat(self.path)
                if st.st_mtime_ns != self.mtime:
                    with open(self.path) as f:
                        self.tokens = [l.strip() for l in f if l.strip()]
                    self.mtime = st.st_mtime_ns
            except OSError:
                pass
            return any(hmac.compare_digest(tok.encode(), t.encode()) for t in self.tokens)


# --------------------------------------------------------------------------------------------
# the API: request semantics on top of the store


class Api:
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
        self.watches = {}  # id -> WatchCtx
        self.watch_ids = itertools.count(1)
        self.faults = []
        self.faults_lock = threading.Lock()
        self.applied = {}  # (uid, manager) -> last applied configuration (server-side apply)
        self.pod_net = ipaddress.ip_network(args.pod_cidr, strict=False)
        self.ip_cursor = 0
        self.svc_net = ipaddress.ip_network(args.service_cidr, strict=False)
        self.svc_cursor = 0
        self.kubelet = not args.no_kubelet

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
        elif sk in (SK_DEPLOY, SK_RS):
            sel = spec.get("selector")
            tmpl = spec.get("template") if isinstance(spec.get("template"), dict) else {}
            if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
                causes.append(cause_required("spec.selector"))
            elif not selector_matches(sel, labels_of(tmpl)):
                causes.append(cause_invalid("spec.template.metadata.labels", labels_of(tmpl),
                                            "`selector` does not match template `labels`"))
            if old is not None and sk == SK_DEPLOY and sel != (old.get("spec") or {}).get("selector"):
                causes.append(cause_invalid("spec.selector", sel, "field is immutable"))
            r = spec.get("replicas")
            if not isinstance(r, int) or isinstance(r, bool) or r < 0:
                causes.append(cause_invalid("spec.replicas", r, "must be greater than or equal to 0"))
            causes += self._pod_spec_causes(tmpl.get("spec") or {}, "spec.template.spec")
        elif sk == SK_CRD:
            causes += self._crd_causes(obj, old)
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

    # ---- discovery -----------------------------------------------------------------------

    def api_versions(self, host):
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}

    def group_entry(self, g, versions):
        vs = [{"groupVersion": "%s/%s" % (g, v), "version": v} for v in versions]
        return {"name": g, "versions": vs, "preferredVersion": vs[0]}

    def api_group_list(self):
        with self.store.lock:
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [self.group_entry(g, vs) for g, vs in self.reg.groups() if g]}

    def api_group(self, group):
        with self.store.lock:
            for g, vs in self.reg.groups():
                if g == group:
                    e = self.group_entry(g, vs)
                    e.update({"kind": "APIGroup", "apiVersion": "v1"})
                    return e
        raise err_path_not_found()

    def resource_list(self, group, version):
        with self.store.lock:
            rds = self.reg.in_gv(group, version)
            if not rds:
                raise err_path_not_found()
            res = []
            for rd in rds:
                res.extend(rd.discovery())
            return {"kind": "APIResourceList", "apiVersion": "v1",
                    "groupVersion": "%s/%s" % (group, version) if group else version, "resources": res}

    # ---- bootstrap -----------------------------------------------------------------------

    def bootstrap(self):
        core = lambda p: self.reg.find("", "v1", p)
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(core("namespaces"), None, {"metadata": {"name": ns}}, {}, internal=True)
        self.create(core("serviceaccounts"), "default", {"metadata": {"name": "default"}}, {})
        node_net = ipaddress.ip_network(self.args.node_cidr, strict=False)
        for i, n in enumerate(x.strip() for x in self.args.nodes.split(",") if x.strip()):
            ip = str(node_net.network_address + 2 + i)
            self.create(core("nodes"), None, {"metadata": {"name": n, "labels": {
                "kubernetes.io/hostname": n, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}},
                "spec": {"podCIDR": str(self.pod_net)},
                "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": n}],
                           "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                           "message": "kubelet is posting ready status",
                                           "lastHeartbeatTime": now_ts(), "lastTransitionTime": now_ts()}],
                           "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                           "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                           "nodeInfo": {"kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0",
                                        "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": os.uname().release,
                                        "containerRuntimeVersion": "testbed://1.0", "operatingSystem": "linux",
                                        "architecture": "amd64"}}}, {})
        crd_rd = self.reg.find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        for d in self.args.crds or []:
            if not os.path.isdir(d):
                raise SystemExit("apiserver: --crds %s: not a directory" % d)
            for fn in sorted(os.listdir(d)):
                if fn.endswith((".yaml", ".yml")):
                    log("warning: --crds %s: %s skipped (CRD manifests are read as *.json only)" % (d, fn))
                if not fn.endswith(".json"):
                    continue
                path = os.path.join(d, fn)
                try:
                    with open(path) as f:
                        doc = json.load(f)
                except (OSError, ValueError) as e:
                    raise SystemExit("apiserver: %s: %s" % (path, e))
                items = doc if isinstance(doc, list) else doc.get("items") if doc.get("kind") == "List" else [doc]
                for it in items:
                    if it.get("kind") != "CustomResourceDefinition":
                        raise SystemExit("apiserver: %s: not a CustomResourceDefinition (kind %r)" % (path, it.get("kind")))
                    try:
                        self.create(crd_rd, None, jcopy(it), {"fieldValidation": "Ignore"})
                    except ApiError as e:
                        raise SystemExit("apiserver: %s: %s" % (path, e.message))
                    log("loaded CRD %s from %s" % (md_of(it).get("name"), path))


# --------------------------------------------------------------------------------------------
# controllers: namespace termination, CRD cleanup, garbage collection, deployments, replica
# sets, the scheduler and the kubelet


class Controllers(threading.Thread):
    def __init__(self, api):
        super().__init__(name="controllers", daemon=True)
        self.api = api
        self.store = api.store

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
        self.crds()
        if self.store.gc_needed:
            self.store.gc_needed = False
            self.gc()
        self.deployments()
        self.replicasets()
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

    # -- deployments -> replica sets --
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

    @staticmethod
    def _pod_ready(p):
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (p.get("status") or {}).get("conditions") or [])

    # -- scheduler and kubelet --
    def pods(self):
        nodes = {k[1]: n for k, n in self.store.objs[SK_NODES].items() if not md_of(n).get("deletionTimestamp")}
        pods = sorted(self.store.objs[SK_PODS].values(), key=lambda p: (md_of(p).get("creationTimestamp", ""), obj_key(p)))
        counts = collections.Counter((p.get("spec") or {}).get("nodeName") for p in pods)
        used = set()
        for p in pods:
            for ip in (p.get("status") or {}).get("podIPs") or []:
                used.add(ip.get("ip"))
        for p in pods:
            md = md_of(p)
            if md.get("deletionTimestamp"):
                continue
            spec = p.get("spec") or {}
            st = p.get("status") or {}
            new = None
            if not spec.get("nodeName"):
                sel = spec.get("nodeSelector") or {}
                cands = sorted((n for n, o in nodes.items()
                                if all(labels_of(o).get(k) == v for k, v in sel.items())
                                and not (o.get("spec") or {}).get("unschedulable")),
                               key=lambda n: (counts[n], n))
                if cands:
                    new = jcopy(p)
                    new["spec"]["nodeName"] = cands[0]
                    counts[cands[0]] += 1
                    self._set_cond(new, "PodScheduled", "True", None, None)
                else:
                    msg = "0/%d nodes are available: %d node(s) didn't match Pod's node affinity/selector." % (len(nodes), len(nodes))
                    conds = {c.get("type"): c for c in st.get("conditions") or []}
                    c = conds.get("PodScheduled")
                    if not c or c.get("status") != "False" or c.get("message") != msg:
                        new = jcopy(p)
                        self._set_cond(new, "PodScheduled", "False", "Unschedulable", msg)
            cur = new or p
            node = (cur.get("spec") or {}).get("nodeName")
            if self.api.kubelet and node in nodes and (cur.get("status") or {}).get("phase") not in ("Running", "Succeeded", "Failed"):
                ips = self._pod_ips(cur, nodes[node], used)
                if ips:
                    if new is None:
                        new = jcopy(p)
                    self._run(new, nodes[node], ips)
            if new is not None:
                self.api.commit_update(SK_PODS, p, new)

    @staticmethod
    def _set_cond(pod, t, status, reason, msg):
        st = pod.setdefault("status", {})
        conds = [c for c in st.get("conditions") or [] if c.get("type") != t]
        c = {"type": t, "status": status, "lastProbeTime": None, "lastTransitionTime": now_ts()}
        if reason:
            c["reason"] = reason
        if msg:
            c["message"] = msg
        conds.append(c)
        st["conditions"] = conds

    def _pod_ips(self, pod, node, used):
        host_ip = next((a.get("address") for a in (node.get("status") or {}).get("addresses") or []
                        if a.get("type") == "InternalIP"), "")
        if (pod.get("spec") or {}).get("hostNetwork"):
            return [host_ip]
        ann = md_of(pod).get("annotations") or {}
        fixed = ann.get("ovn.kubernetes.io/ip_address")
        if fixed:
            ips = [x.strip().split("/")[0] for x in fixed.split(",") if x.strip()]
            used.update(ips)
            return ips
        pool = ann.get("ovn.kubernetes.io/ip_pool")
        if pool:
            for cand in re.split(r"[,;]", pool):
                c = cand.strip().split("/")[0]
                if c and c not in used:
                    used.add(c)
                    return [c]
            return None
        net = self.api.pod_net
        size = net.num_addresses
        for _ in range(max(size - 3, 1)):
            self.api.ip_cursor = (self.api.ip_cursor % max(size - 3, 1)) + 1
            ip = str(net.network_address + 1 + self.api.ip_cursor)  # skips network and the gateway (.1)
            if ip not in used:
                used.add(ip)
                return [ip]
        return None

    def _run(self, pod, node, ips):
        ts = now_ts()
        spec = pod.get("spec") or {}
        host_ip = next((a.get("address") for a in (node.get("status") or {}).get("addresses") or []
                        if a.get("type") == "InternalIP"), "")
        st = pod.setdefault("status", {})
        st["phase"] = "Running"
        st["hostIP"] = host_ip
        st["hostIPs"] = [{"ip": host_ip}]
        st["podIP"] = ips[0]
        st["podIPs"] = [{"ip": ip} for ip in ips]
        st["startTime"] = st.get("startTime") or ts
        for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"):
            if t != "PodScheduled" or not any(c.get("type") == t and c.get("status") == "True" for c in st.get("conditions") or []):
                self._set_cond(pod, t, "True", None, None)
        st["containerStatuses"] = [{
            "name": c.get("name"), "image": c.get("image"), "imageID": "testbed://" + str(c.get("image")),
            "containerID": "testbed://" + uuid.uuid4().hex, "ready": True, "started": True, "restartCount": 0,
            "state": {"running": {"startedAt": ts}}, "lastState": {}} for c in spec.get("containers") or []]


# --------------------------------------------------------------------------------------------
# HTTP


class WatchCtx:
    def __init__(self, wid, rd, ns, q, conn, peer):
        self.id = wid
        self.rd = rd
        self.ns = ns
        self.q = q
        self.conn = conn
        self.peer = peer
        self.cut = False
        self.expire = False
        self.gone = False
        self.rv = 0
        self.since = time.time()


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


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle
    # holds the body until the client's delayed ACK, 40 ms per request.
    disable_nagle_algorithm = True
    server_version = "ovn-vpcd-testbed-apiserver"
    sys_version = ""
    timeout = 3600

    api = None  # set in main

    def log_message(self, fmt, *args):
        if not self.api.args.quiet:
            log("%s %s" % (self.client_address[0], fmt % args))

    def log_request(self, code="-", size="-"):
        self._code = code

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ---- plumbing --------------------------------------------------------------------------

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += n
                if total > MAX_BODY:
                    raise ApiError(413, "RequestEntityTooLarge", "request entity too large")
                chunks.append(self.rfile.read(n))
                self.rfile.readline(1024)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ApiError(413, "RequestEntityTooLarge", "request entity too large")
        return self.rfile.read(n) if n else b""

    def send_json(self, code, obj, warnings=(), headers=None, ctype="application/json"):
        data = jdump(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(data)))
        for w in warnings or ():
            self.send_header("Warning", '299 - "%s"' % w.replace('"', '\\"'))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_text(self, code, text, ctype="text/plain; charset=utf-8"):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def dispatch(self):
        t0 = time.time()
        self._code = "-"
        self._headers_sent = False
        try:
            self.route()
        except ApiError as e:
            self.send_json(e.code, e.status(), headers=e.headers)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception:
            log("internal error on %s %s:\n%s" % (self.command, self.path, traceback.format_exc()))
            try:
                self.send_json(500, ApiError(500, "InternalError", "internal error (see the apiserver log)").status())
            except OSError:
                self.close_connection = True
        finally:
            if not self.api.args.quiet:
                log("%s %s %s %.1fms" % (self.command, self.path, self._code, (time.time() - t0) * 1000))

    # ---- routing ---------------------------------------------------------------------------

    def route(self):
        api = self.api
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        body = self.read_body()
        if self.server.is_https and path not in OPEN_PATHS:
            auth = self.headers.get("Authorization") or ""
            if not auth.startswith("Bearer ") or not api.tokens.check(auth[7:].strip()):
                raise err_unauthorized()
        if not path.startswith("/testbed/"):
            self.apply_faults(path)
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        m = self.command
        if path in ("/healthz", "/readyz", "/livez"):
            return self.send_text(200, "ok")
        if path == "/version":
            return self.send_json(200, VERSION_INFO)
        if path == "/openapi/v2":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not parts:
            return self.send_json(200, {"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2",
                                                  "/readyz", "/version"]})
        if parts[0] == "testbed":
            return self.admin(parts[1:], q, body)
        if parts[0] == "api":
            group = ""
            if len(parts) == 1:
                return self.get_only(m, lambda: api.api_versions("%s:%d" % self.server.server_address[:2]))
            version, rest = parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                return self.get_only(m, api.api_group_list)
            group = parts[1]
            if len(parts) == 2:
                return self.get_only(m, lambda: api.api_group(group))
            version, rest = parts[2], parts[3:]
        else:
            raise err_path_not_found()
        if not rest:
            return self.get_only(m, lambda: api.resource_list(group, version))
        watch_path = False
        if rest[0] == "watch":
            watch_path = True
            rest = rest[1:]
            if not rest:
                raise err_path_not_found()
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            ns, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise err_path_not_found()
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        with api.store.lock:
            rd = api.reg.find(group, version, plural)
        if rd is None or (ns is not None and not rd.namespaced):
            raise err_path_not_found()
        if sub is not None and not ((sub == "status" and rd.status) or (sub == "scale" and rd.scale)):
            raise err_path_not_found()
        if rd.namespaced and ns is None and name is not None:
            raise err_path_not_found()
        if watch_path or (m == "GET" and q.get("watch") in ("true", "1", "True")):
            if m != "GET" or sub:
                raise err_method()
            return self.watch(rd, ns, name, q)
        if m == "GET":
            return self.get(rd, ns, name, sub, q)
        if m == "POST":
            if name is not None:
                raise err_method()
            if rd.namespaced and ns is None:
                raise err_method()
            if rd.crd_name:
                with api.store.lock:
                    crd = api.store.objs[SK_CRD].get(("", rd.crd_name))
                if crd is not None and md_of(crd).get("deletionTimestamp"):
                    raise err_method()
            code, obj, warns = api.create(rd, ns, self.json_body(body), q)
            return self.send_json(code, rd.view(obj), warns)
        if m == "DELETE" and body and (self.headers.get("Content-Type") or "").startswith("application/vnd.kubernetes.protobuf"):
            body = jdump(self.json_body(body)).encode()
        if name is None:
            if m == "DELETE" and "deletecollection" in rd.verbs and (ns is not None or not rd.namespaced):
                code, obj, warns = api.delete_collection(rd, ns, q, body)
                return self.send_json(code, obj, warns)
            raise err_method()
        if m == "PUT":
            if sub == "scale":
                code, obj, warns = api.update_scale(rd, ns, name, self.json_body(body), q)
                return self.send_json(code, obj, warns)
            code, obj, warns = api.update(rd, ns, name, self.json_body(body), q, sub)
            return self.send_json(code, rd.view(obj), warns)
        if m == "PATCH":
            code, obj, warns = api.patch(rd, ns, name, body, self.headers.get("Content-Type"), q, sub)
            if sub == "scale":
                return self.send_json(code, obj, warns)
            return self.send_json(code, rd.view(obj), warns)
        if m == "DELETE":
            if sub:
                raise err_method()
            code, obj, warns = api.delete(rd, ns, name, q, body)
            return self.send_json(code, obj if obj.get("kind") == "Status" else rd.view(obj), warns)
        raise err_method()

    def get_only(self, m, fn):
        if m != "GET":
            raise err_method()
        return self.send_json(200, fn())

    def json_body(self, body):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/vnd.kubernetes.protobuf" and body:
            return pb_decode_object(body)
        try:
            return json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError) as e:
            raise err_bad_request("the body of the request could not be decoded as JSON: %s" % e)

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

    # ---- reads -----------------------------------------------------------------------------

    def get(self, rd, ns, name, sub, q):
        api = self.api
        mode = parse_accept(self.headers.get("Accept"))
        if mode is None:
            raise ApiError(406, "NotAcceptable", "only the following media types are accepted: application/json, "
                           "application/json;as=Table;v=v1;g=meta.k8s.io")
        include = q.get("includeObject") or "Metadata"
        if name is None:
            md, objs = api.list(rd, ns, q)
            if mode == "table":
                return self.send_json(200, make_table(rd, objs, md, include))
            if mode in ("pom", "pomlist"):
                return self.send_json(200, {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                            "metadata": md, "items": [
                                                {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                 "metadata": md_of(o)} for o in objs]})
            items = []
            for o in objs:
                v = rd.view(o)
                if rd.builtin:
                    v = {k: x for k, x in v.items() if k not in ("apiVersion", "kind")}
                items.append(v)
            return self.send_json(200, {"kind": rd.list_kind, "apiVersion": rd.gv, "metadata": md, "items": items})
        with api.store.lock:
            obj = api.get_obj(rd, ns, name)
            if obj is None:
                raise err_not_found(rd, name)
        if sub == "scale":
            return self.send_json(200, api.scale_of(rd, obj))
        if mode == "table":
            return self.send_json(200, make_table(rd, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, include))
        if mode in ("pom", "pomlist"):
            return self.send_json(200, {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                        "metadata": md_of(obj)})
        return self.send_json(200, rd.view(obj))

    # ---- watch -----------------------------------------------------------------------------

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def watch(self, rd, ns, name, q):
        api = self.api
        store = api.store
        mode = parse_accept(self.headers.get("Accept"))
        if mode is None:
            raise ApiError(406, "NotAcceptable", "only application/json is supported for watch")
        include = q.get("includeObject") or "Metadata"
        lsel = LabelSelector(q.get("labelSelector", ""))
        fs = q.get("fieldSelector", "")
        if name is not None:
            fs = ("metadata.name=%s,%s" % (name, fs)).rstrip(",")
        fsel = FieldSelector(fs, rd.field_labels)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1", "True")
        initial_events = q.get("sendInitialEvents") in ("true", "1", "True")
        try:
            timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else 0.0
        except ValueError:
            raise err_bad_request("invalid timeoutSeconds")
        if timeout <= 0:
            timeout = api.args.watch_timeout  # like the real server: 0 means "not set"
        rvp = q.get("resourceVersion") or ""
        deadline = time.time() + timeout

        def visible(o):
            if o is None:
                return False
            if ns and md_of(o).get("namespace") != ns:
                return False
            return lsel.matches(labels_of(o)) and (fsel.empty() or fsel.matches(rd.view(o)))

        initial = []
        expired_event = None
        with store.lock:
            if rvp in ("", "0") or initial_events:
                start_rv = store.rv
                objs = store.objs[rd.skey]
                initial = [objs[k] for k in sorted(objs, key=key_str) if visible(objs[k])]
            else:
                try:
                    start_rv = int(rvp)
                except ValueError:
                    raise err_bad_request("invalid resourceVersion %r" % rvp)
                if start_rv > store.rv:
                    raise err_too_large(start_rv, store.rv)
                if start_rv < store.compacted:
                    e = err_expired("too old resource version: %d (%d)" % (start_rv, store.compacted + 1))
                    if api.expired_mode == "status":
                        raise e
                    expired_event = e
            ctx = WatchCtx(next(api.watch_ids), rd, ns, q, self.connection, self.client_address)
            ctx.rv = start_rv
            if expired_event is None:
                api.watches[ctx.id] = ctx

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def encode(etype, obj):
            if mode == "table" and etype in ("ADDED", "MODIFIED", "DELETED"):
                out = make_table(rd, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, include)
            elif mode in ("pom", "pomlist") and etype in ("ADDED", "MODIFIED", "DELETED"):
                out = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md_of(obj)}
            else:
                out = rd.view(obj)
            return (jdump({"type": etype, "object": out}) + "\n").encode()

        def bookmark(rv, extra_ann=None):
            md = {"resourceVersion": str(rv), "creationTimestamp": None}
            if extra_ann:
                md["annotations"] = extra_ann
            if mode == "table":
                o = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(rv)},
                     "columnDefinitions": None, "rows": None}
            else:
                o = {"kind": rd.kind, "apiVersion": rd.gv, "metadata": md}
            return (jdump({"type": "BOOKMARK", "object": o}) + "\n").encode()

        clean_end = True
        try:
            if expired_event is not None:
                self.write_chunk((jdump({"type": "ERROR", "object": expired_event.status()}) + "\n").encode())
                self.write_chunk(b"")
                return
            for o in initial:
                self.write_chunk(encode("ADDED", o))
            if initial_events and bookmarks:
                self.write_chunk(bookmark(start_rv, {"k8s.io/initial-events-end": "true"}))
            next_bm = time.time() + api.bookmark_interval
            last_alive_check = time.time()
            while True:
                events = None
                with store.lock:
                    while True:
                        now = time.time()
                        if ctx.cut or ctx.gone or ctx.expire or now >= deadline:
                            break
                        if store.rv > ctx.rv:
                            try:
                                events = store.events_after(ctx.rv)
                            except ApiError as e:
                                events = e
                            break
                        if bookmarks and now >= next_bm:
                            break
                        if now - last_alive_check >= 1.0:
                            break
                        wait = min(deadline - now, 1.0 - (now - last_alive_check))
                        if bookmarks:
                            wait = min(wait, next_bm - now)
                        store.cond.wait(max(wait, 0.01))
                if ctx.cut:
                    clean_end = False
                    break
                if ctx.expire:
                    events = err_expired("too old resource version: %d (%d)" % (ctx.rv, store.rv))
                if ctx.gone or time.time() >= deadline:
                    break
                if isinstance(events, ApiError):
                    self.write_chunk((jdump({"type": "ERROR", "object": events.status()}) + "\n").encode())
                    break
                if events:
                    for (erv, skey, etype, obj, prev) in events:
                        ctx.rv = erv
                        if skey != rd.skey:
                            continue
                        now_vis = visible(obj) if etype != "DELETED" else False
                        was_vis = visible(prev)
                        if etype == "ADDED":
                            if now_vis:
                                self.write_chunk(encode("ADDED", obj))
                        elif etype == "MODIFIED":
                            if now_vis and was_vis:
                                self.write_chunk(encode("MODIFIED", obj))
                            elif now_vis:
                                self.write_chunk(encode("ADDED", obj))
                            elif was_vis:
                                self.write_chunk(encode("DELETED", obj))
                        elif etype == "DELETED" and (was_vis or visible(obj)):
                            self.write_chunk(encode("DELETED", obj))
                    continue
                if bookmarks and time.time() >= next_bm:
                    self.write_chunk(bookmark(ctx.rv))
                    next_bm = time.time() + api.bookmark_interval
                if time.time() - last_alive_check >= 1.0:
                    last_alive_check = time.time()
                    if self.peer_closed():
                        clean_end = False
                        break
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout, OSError):
            clean_end = False
        finally:
            with store.lock:
                api.watches.pop(ctx.id, None)
        if clean_end:
            try:
                self.write_chunk(b"")
            except OSError:
                self.close_connection = True
        else:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def peer_closed(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            if isinstance(self.connection, ssl.SSLSocket):
                data = self.connection.recv(1)
            else:
                data = self.connection.recv(1, socket.MSG_PEEK)
            return data == b""
        except ssl.SSLWantReadError:
            return False
        except (OSError, ValueError):
            return True

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
                store.cond.notify_all()
            return self.send_json(200, {"cut": n})
        if what == "expire-watches" and m == "POST":
            with store.lock:
                n = 0
                for w in api.watches.values():
                    if q.get("resource") and q["resource"] not in (w.rd.plural, w.rd.qualified):
                        continue
                    w.expire = True
                    n += 1
                store.cond.notify_all()
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


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, ctx):
        self.ctx = ctx
        self.is_https = ctx is not None
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        if self.ctx is None:
            return super().finish_request(request, client_address)
        request.settimeout(10)
        try:
            conn = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            if not Handler.api.args.quiet:
                log("%s TLS handshake failed: %s" % (client_address[0], e))
            return
        try:
            conn.settimeout(None)
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if not Handler.api.args.quiet:
            log("%s connection error: %s" % (client_address[0], sys.exc_info()[1]))


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description="ovn-vpcd testbed Kubernetes API server")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="https port (0: ephemeral)")
    ap.add_argument("--http-port", type=int, default=None, help="also serve plain http (no auth) on this port")
    ap.add_argument("--cert", help="server certificate (PEM); without it there is no https listener")
    ap.add_argument("--key", help="server private key (PEM)")
    ap.add_argument("--token-file", help="bearer tokens accepted on https, one per line (re-read when changed)")
    ap.add_argument("--port-file", help="write the bound https port here")
    ap.add_argument("--http-port-file", help="write the bound http port here")
    ap.add_argument("--pidfile")
    ap.add_argument("--crds", action="append", help="directory of CRD manifests as *.json (repeatable)")
    ap.add_argument("--history", type=int, default=10000, help="watch history window in events")
    ap.add_argument("--bookmark-interval", type=float, default=1.0, help="seconds between watch bookmarks")
    ap.add_argument("--watch-timeout", type=float, default=1800.0, help="watch length when timeoutSeconds is absent")
    ap.add_argument("--expired-mode", choices=["status", "event"], default="status",
                    help="too old resourceVersion on a new watch: 410 Status reply, or 200 + ERROR event")
    ap.add_argument("--nodes", default="node-1,node-2", help="comma-separated fake node names")
    ap.add_argument("--node-cidr", default="172.18.0.0/24", help="node InternalIPs: .2, .3, ...")
    ap.add_argument("--pod-cidr", default="10.16.0.0/16")
    ap.add_argument("--service-cidr", default="10.96.0.0/16")
    ap.add_argument("--no-kubelet", action="store_true", help="pods stay Pending after scheduling")
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = ap.parse_args()
    if args.cert is None and args.http_port is None:
        ap.error("need --cert/--key (https) or --http-port")
    if args.cert and not args.key:
        ap.error("--cert needs --key")

    api = Api(args)
    api.tokens = Tokens(args.token_file)
    Handler.api = api
    api.bootstrap()

    servers = []
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.cert, args.key)
        ctx.set_alpn_protocols(["http/1.1"])
        s = Server((args.bind, args.port), ctx)
        servers.append(s)
        if args.port_file:
            write_atomic(args.port_file, "%d\n" % s.server_address[1])
        log("listening on https://%s:%d" % (args.bind, s.server_address[1]))
    if args.http_port is not None:
        s = Server((args.bind, args.http_port), None)
        servers.append(s)
        if args.http_port_file:
            write_atomic(args.http_port_file, "%d\n" % s.server_address[1])
        log("listening on http://%s:%d (no authentication)" % (args.bind, s.server_address[1]))
    print(" ".join("%s:%d" % s.server_address[:2] for s in servers), flush=True)

    Controllers(api).start()
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    if args.pidfile:
        write_atomic(args.pidfile, "%d\n" % os.getpid())

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    log("stopping")
    if args.pidfile:
        try:
            with open(args.pidfile) as f:
                if f.read().strip() == str(os.getpid()):
                    os.unlink(args.pidfile)
        except OSError:
            pass
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
