"""patch.py: patches: JSON merge patch (RFC 7386), strategic merge patch (merge keys of the built-in kinds),
JSON patch (RFC 6902), and the removed-field nulls of server-side apply.
"""

from .util import jcopy, jdump


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
