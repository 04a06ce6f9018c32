"""jsonpath.py: kubectl's JSONPath subset: parsed and evaluated for additionalPrinterColumns and for the scale
subresource's replica paths.
"""

import re


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
