"""util.py: constants and small helpers every part uses: the version served, JSON encoding, timestamps,
ages, random name suffixes, pod-template hashes, object keys, the log.
"""

import calendar
import json
import random
import re
import sys
import time


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
