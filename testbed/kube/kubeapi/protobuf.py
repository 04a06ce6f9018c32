"""protobuf.py: just enough of Kubernetes' protobuf encoding to read the bodies clients send as
application/vnd.kubernetes.protobuf (the built-in kinds in PB_SCHEMAS).
"""

import base64
import time

from .util import log, now_ts
from .errors import ApiError, err_bad_request


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
    # authentication.k8s.io/v1 (`kubectl create token`)
    "TokenRequest": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:TokenRequestSpec"), 3: ("status", "m:Empty")},
    "TokenRequestSpec": {1: ("audiences", "[s"), 3: ("boundObjectRef", "m:BoundObjectReference"),
                         4: ("expirationSeconds", "i*")},
    "BoundObjectReference": {1: ("kind", "s"), 2: ("apiVersion", "s"), 3: ("name", "s"), 4: ("uid", "s")},
    # rbac.authorization.k8s.io/v1 (`kubectl create role|rolebinding|clusterrole|clusterrolebinding`)
    "Role": {1: ("metadata", "m:ObjectMeta"), 2: ("rules", "[m:PolicyRule")},
    "ClusterRole": {1: ("metadata", "m:ObjectMeta"), 2: ("rules", "[m:PolicyRule")},
    "PolicyRule": {1: ("verbs", "[s"), 2: ("apiGroups", "[s"), 3: ("resources", "[s"), 4: ("resourceNames", "[s"),
                   5: ("nonResourceURLs", "[s")},
    "RoleBinding": {1: ("metadata", "m:ObjectMeta"), 2: ("subjects", "[m:Subject"), 3: ("roleRef", "m:RoleRef")},
    "ClusterRoleBinding": {1: ("metadata", "m:ObjectMeta"), 2: ("subjects", "[m:Subject"), 3: ("roleRef", "m:RoleRef")},
    "Subject": {1: ("kind", "s"), 2: ("apiGroup", "s"), 3: ("name", "s"), 4: ("namespace", "s")},
    "RoleRef": {1: ("apiGroup", "s"), 2: ("kind", "s"), 3: ("name", "s")},
}
PB_KINDS = {"Deployment", "Pod", "Namespace", "ConfigMap", "Secret", "ServiceAccount", "Service", "Scale", "Lease",
            "DeleteOptions", "TokenRequest", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
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
