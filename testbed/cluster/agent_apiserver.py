"""agent_apiserver.py: the API server as a pod reaches it, and the credentials a pod is given.

Reaching it: the testbed API server listens on the host's 127.0.0.1 only, and a pod's network
namespace has no route to the host (its eth0 is on OVN's br-int). So for each pod the agent
opens a listening socket on 127.0.0.1:<the API server's port> *inside the pod's namespace* (a
short-lived thread enters the namespace with setns(2), binds, listens and leaves; the socket stays
in the pod's namespace) and relays every connection it accepts, byte for byte, to the API server
on the host's loopback. Nothing is added to the pod's network (no device, route or address) and
TLS is end to end: the pod checks the server's certificate (`IP:127.0.0.1`) against `ca.crt`.
So `KUBERNETES_SERVICE_HOST=127.0.0.1` and `KUBERNETES_SERVICE_PORT=<KUBE_PORT>` hold both in
the pod and on the host.

Credentials: the pod's ServiceAccount token from a TokenRequest bound to the pod (as kubelet's
projected `kube-api-access-*` volume), renewed after 80% of its lifetime, written with the CA and
the namespace into the pod's directory `DIR/n<i>/pods/<ns>_<pod>/serviceaccount/`, which each
container sees at /var/run/secrets/kubernetes.io/serviceaccount (container.sh mounts it there in
the container's own mount namespace; the host's /run is never written).

Invariants: a relay's listening socket lives in its pod's namespace only; closing the relay
closes it and every connection it relays; token files are replaced atomically (rename), so a
reader sees a whole token.
"""
import ctypes
import os
import select
import socket
import threading
import time
import urllib.parse

CLONE_NEWNET = 0x40000000
SA_SUBDIR = "serviceaccount"
TOKEN_SECONDS = 3607  # what kubelet asks for
RENEW_AT = 0.8        # of the token's lifetime, as kubelet


def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: %s" % os.strerror(err))


def listen_in_netns(netns, host, port):
    """A TCP socket listening on host:port inside network namespace `netns`."""
    out = {}

    def enter_bind_leave():
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open("/run/netns/" + netns, os.O_RDONLY)
        try:
            _setns(target)
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
                s.listen(64)
                out["sock"] = s
            finally:
                _setns(own)  # this thread ends next anyway
        except OSError as e:
            out["error"] = e
        finally:
            os.close(target)
            os.close(own)

    t = threading.Thread(target=enter_bind_leave, name="netns-bind " + netns, daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["sock"]


class Relay:
    """127.0.0.1:<port> in a pod's namespace -> the API server on the host's loopback."""

    def __init__(self, netns, kube_url, log):
        u = urllib.parse.urlsplit(kube_url)
        self.target = (u.hostname, u.port or 443)
        self.host, self.port = "127.0.0.1", self.target[1]
        self.log = log
        self.closed = False
        self.conns = set()
        self.lock = threading.Lock()
        self.sock = listen_in_netns(netns, self.host, self.port)
        threading.Thread(target=self._accept, name="apiserver relay " + netns, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(c,), daemon=True).start()

    def _pipe(self, c):
        try:
            up = socket.create_connection(self.target, timeout=10)
        except OSError as e:
            self.log("apiserver relay: cannot reach %s:%d: %s" % (self.target + (e,)))
            c.close()
            return
        up.settimeout(None)
        with self.lock:
            if self.closed:
                c.close()
                up.close()
                return
            self.conns.update((c, up))
        peer = {c: up, up: c}
        try:
            open_ = {c, up}
            while open_ and not self.closed:
                ready, _, _ = select.select(list(open_), [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        open_.discard(s)
                        try:
                            peer[s].shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                        continue
                    peer[s].sendall(data)
        except OSError:
            pass
        finally:
            with self.lock:
                self.conns.discard(c)
                self.conns.discard(up)
            c.close()
            up.close()

    def close(self):
        with self.lock:
            self.closed = True
            conns = list(self.conns)
        # shutdown first: close() alone does not wake the thread blocked in
        # accept(), whose syscall keeps the socket (and with it the pod's
        # network namespace and its devices, e.g. a macvlan's MAC) alive.
        for how in (lambda: self.sock.shutdown(socket.SHUT_RDWR), self.sock.close):
            try:
                how()
            except OSError:
                pass
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def service_env(relay):
    """What kubelet puts in every container for the `kubernetes` Service."""
    h, p = relay.host, relay.port
    return {"KUBERNETES_SERVICE_HOST": h, "KUBERNETES_SERVICE_PORT": str(p),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(p), "KUBERNETES_PORT": "tcp://%s:%d" % (h, p),
            "KUBERNETES_PORT_443_TCP": "tcp://%s:%d" % (h, p), "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
            "KUBERNETES_PORT_443_TCP_ADDR": h, "KUBERNETES_PORT_443_TCP_PORT": str(p)}


# ---- the ServiceAccount token -----------------------------------------------------------------


def automount(pod, sa):
    """The pod's automountServiceAccountToken, else the account's, else true (as Kubernetes)."""
    v = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if v is None:
        v = (sa or {}).get("automountServiceAccountToken")
    return v is not False


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class Credentials:
    """A pod's token directory, kept fresh."""

    def __init__(self, kube, ca_file, pod_dir):
        self.kube = kube
        self.ca_file = ca_file
        self.dir = os.path.join(pod_dir, SA_SUBDIR)
        self.renew_at = 0.0

    def refresh(self, namespace, name, uid, account):
        """TokenRequest bound to the pod; writes token, ca.crt and namespace. Raises KubeError."""
        path = "/api/v1/namespaces/%s/serviceaccounts/%s/token" % (urllib.parse.quote(namespace),
                                                                   urllib.parse.quote(account))
        t0 = time.time()
        tr = self.kube.request("POST", path, {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": TOKEN_SECONDS,
                     "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": name, "uid": uid}}})
        secs = (tr.get("spec") or {}).get("expirationSeconds") or TOKEN_SECONDS
        os.makedirs(self.dir, exist_ok=True)
        with open(self.ca_file, "rb") as f:
            _write_atomic(os.path.join(self.dir, "ca.crt"), f.read())
        _write_atomic(os.path.join(self.dir, "namespace"), namespace.encode())
        _write_atomic(os.path.join(self.dir, "token"), tr["status"]["token"].encode())
        self.renew_at = t0 + RENEW_AT * secs

    def due(self):
        return time.time() >= self.renew_at
