"""accounts.py: service accounts and who a bearer token is. Mixed into Api.

- Every namespace has a ServiceAccount `default`: made with the namespace (a store hook, so a pod
  created right after its namespace finds it) and made again by the controllers when deleted
  (Kubernetes' serviceaccounts controller), except in a terminating namespace.
- The ServiceAccount admission of pods (create only, as Kubernetes'): `spec.serviceAccountName`
  defaults to `default` (and `spec.serviceAccount`, its deprecated twin, follows it); a pod naming
  a ServiceAccount that does not exist is refused with 403 Forbidden `pods "P" is forbidden: error
  looking up service account NS/SA: serviceaccount "SA" not found`. No projected token volume is
  added to the spec: the node agent mounts the token itself (testbed/README.md).
- TokenRequest (`POST /api/v1/namespaces/NS/serviceaccounts/SA/token`, authentication.k8s.io/v1):
  a fresh random token per request, bound to the ServiceAccount's uid and, with
  `spec.boundObjectRef` of kind Pod, to that pod's uid; `spec.expirationSeconds` (default 3600,
  at least 600) sets its expiry.
- Identities: a token of the tokens file is the admin `kubernetes-admin` in `system:masters`
  (authorization never refuses it); an issued token is `system:serviceaccount:NS:SA` in
  `system:serviceaccounts`, `system:serviceaccounts:NS` and `system:authenticated`.

Invariant: an issued token authenticates only while its ServiceAccount (same uid) and its bound
pod (same uid) exist and it has not expired; tokens are kept in memory only, like every object
(a restarted server knows none).
"""

import collections
import secrets
import threading
import time

from .util import md_of, now_ts
from .errors import ApiError, cause_invalid, err_bad_request, err_conflict, err_invalid, err_not_found
from .registry import SK_NS, SK_PODS, SK_SA

User = collections.namedtuple("User", "name groups")
ADMIN = User("kubernetes-admin", ("system:masters", "system:authenticated"))
MASTERS = "system:masters"
DEFAULT_SA = "default"
TOKEN_SECONDS_DEFAULT = 3600
TOKEN_SECONDS_MIN = 600
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"

Issued = collections.namedtuple("Issued", "namespace name uid pod_uid expires")


def sa_user(namespace, name):
    return User("system:serviceaccount:%s:%s" % (namespace, name),
                ("system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"))


class Accounts:
    def accounts_init(self):
        self.issued = {}  # token -> Issued
        self.issued_lock = threading.Lock()
        self.store.hooks.append(self._namespace_hook)

    # ---- every namespace's `default` ServiceAccount --------------------------------------

    def _namespace_hook(self, skey, etype, obj, prev):
        if skey == SK_NS and etype == "ADDED":
            self.ensure_default_sa(md_of(obj).get("name"))

    def ensure_default_sa(self, namespace):
        """Under the store lock: make `default` in namespace unless it is there or terminating."""
        nso = self.store.objs[SK_NS].get(("", namespace))
        if nso is None or md_of(nso).get("deletionTimestamp"):
            return
        if (namespace, DEFAULT_SA) in self.store.objs[SK_SA]:
            return
        rd = self.reg.find("", "v1", "serviceaccounts")
        self.create(rd, namespace, {"metadata": {"name": DEFAULT_SA}}, {}, internal=True)

    # ---- admission -----------------------------------------------------------------------

    def admit_pod_service_account(self, body):
        """Under the store lock, on pod create: default the name, refuse a missing account."""
        spec = body.get("spec")
        if not isinstance(spec, dict):
            return
        md = body["metadata"]
        name = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SA
        spec["serviceAccountName"] = spec["serviceAccount"] = name
        if (md["namespace"], name) not in self.store.objs[SK_SA]:
            pod = md.get("name") or md.get("generateName") or "Unknown"
            raise ApiError(403, "Forbidden", 'pods "%s" is forbidden: error looking up service account %s/%s: '
                           'serviceaccount "%s" not found' % (pod, md["namespace"], name, name),
                           {"name": pod, "kind": "pods"})

    # ---- TokenRequest --------------------------------------------------------------------

    def token_request(self, rd, ns, name, body, q):
        if not isinstance(body, dict):
            raise err_bad_request("the body of the request must be a TokenRequest object")
        if body.get("kind") not in (None, "", "TokenRequest"):
            raise err_bad_request("the kind of the object (%s) does not match TokenRequest" % body.get("kind"))
        spec = dict(body.get("spec") or {})
        secs = spec.get("expirationSeconds")
        secs = TOKEN_SECONDS_DEFAULT if secs in (None, "") else secs
        tr_rd = _TokenRequestKind
        if not isinstance(secs, int) or isinstance(secs, bool) or secs < TOKEN_SECONDS_MIN:
            raise err_invalid(tr_rd, name, [cause_invalid("spec.expirationSeconds", secs,
                                                          "may not specify a duration less than 10 minutes")])
        if secs > 1 << 32:
            raise err_invalid(tr_rd, name, [cause_invalid("spec.expirationSeconds", secs,
                                                          "may not specify a duration larger than 2^32 seconds")])
        spec["expirationSeconds"] = secs
        spec["audiences"] = list(spec.get("audiences") or [API_AUDIENCE])
        with self.store.lock:
            sa = self.store.objs[SK_SA].get((ns, name))
            if sa is None:
                raise err_not_found(rd, name)
            pod_uid = None
            ref = spec.get("boundObjectRef")
            if ref:
                if ref.get("kind") != "Pod":
                    raise err_bad_request("cannot bind token for object of kind %s: this server binds to Pods only"
                                          % ref.get("kind"))
                pod = self.store.objs[SK_PODS].get((ns, ref.get("name") or ""))
                pods_rd = self.reg.find("", "v1", "pods")
                if pod is None:
                    raise err_not_found(pods_rd, ref.get("name") or "")
                pod_uid = md_of(pod)["uid"]
                if ref.get("uid") and ref["uid"] != pod_uid:
                    raise err_conflict(pods_rd, ref.get("name"), "the UID in the bound object reference (%s) does "
                                       "not match the UID in record. The object might have been deleted and then "
                                       "recreated" % ref["uid"])
                spec["boundObjectRef"] = dict(ref, uid=pod_uid, apiVersion=ref.get("apiVersion") or "v1")
            expires = time.time() + secs
            token = secrets.token_urlsafe(32)
            if "dryRun" not in q:
                with self.issued_lock:
                    self.issued[token] = Issued(ns, name, md_of(sa)["uid"], pod_uid, expires)
        out = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
               "spec": spec, "status": {"token": token, "expirationTimestamp": now_ts(expires)}}
        return 201, out, []

    # ---- authentication ------------------------------------------------------------------

    def authenticate(self, tok):
        """A bearer token -> its User, or None (401)."""
        if not tok:
            return None
        if self.tokens.check(tok):
            return ADMIN
        with self.issued_lock:
            it = self.issued.get(tok)
        if it is None:
            return None
        with self.store.lock:
            sa = self.store.objs[SK_SA].get((it.namespace, it.name))
            alive = sa is not None and md_of(sa).get("uid") == it.uid and time.time() < it.expires
            if alive and it.pod_uid is not None:
                alive = it.pod_uid in self.store.uids
        if not alive:
            with self.issued_lock:
                self.issued.pop(tok, None)
            return None
        return sa_user(it.namespace, it.name)


class _TokenRequestKind:
    """What err_invalid needs to name a TokenRequest."""
    kind = "TokenRequest"
    group = "authentication.k8s.io"
