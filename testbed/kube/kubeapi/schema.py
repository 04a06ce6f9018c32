"""schema.py: cRD structural schemas: validation of custom resources (types, enums, formats, required,
nullable), defaults, pruning of unknown fields (reported for strict field validation).
"""

import re

from .util import go_json, jcopy
from .errors import cause_invalid, cause_required


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
