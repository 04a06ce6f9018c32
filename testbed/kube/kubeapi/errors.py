"""errors.py: apiError (a Kubernetes metav1.Status failure) and the constructors of each reason the server
answers with (NotFound, AlreadyExists, Conflict, Invalid, Expired, ...), and field causes.
"""

from .util import go_json


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
