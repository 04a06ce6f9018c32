"""agent_kube.py: the node agent's Kubernetes REST client (HTTPS, bearer token, our CA).

Only what a kubelet needs: GET, a JSON merge PATCH (metadata or the status subresource), and
a watch stream read line by line. One connection per call (the API server is local); the watch
holds its own connection. Standard library only.
"""
import http.client
import json
import ssl
import urllib.parse


class KubeError(Exception):
    def __init__(self, code, message, reason=""):
        super().__init__("HTTP %s %s: %s" % (code, reason, message))
        self.code = code
        self.reason = reason


class Kube:
    def __init__(self, url, token_file, ca_file, timeout=10.0):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "https":
            raise ValueError("the agent talks https only (the token is sent over TLS only): %s" % url)
        self.host = u.hostname
        self.port = u.port or 443
        with open(token_file) as f:
            self.token = f.read().split()[0]
        self.ctx = ssl.create_default_context(cafile=ca_file)
        self.timeout = timeout

    def _conn(self, timeout):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def _headers(self, ctype=None):
        h = {"Authorization": "Bearer " + self.token, "Accept": "application/json",
             "User-Agent": "ovn-vpcd-testbed-agent/1"}
        if ctype:
            h["Content-Type"] = ctype
        return h

    def request(self, method, path, body=None, ctype="application/json"):
        """One call; returns the decoded JSON body; raises KubeError on a non-2xx answer."""
        data = None if body is None else json.dumps(body).encode()
        conn = self._conn(self.timeout)
        try:
            conn.request(method, path, body=data, headers=self._headers(ctype if data is not None else None))
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        if resp.status // 100 != 2:
            try:
                st = json.loads(raw)
                raise KubeError(resp.status, st.get("message", ""), st.get("reason", ""))
            except (ValueError, AttributeError):
                raise KubeError(resp.status, raw[:200].decode(errors="replace"))
        return json.loads(raw) if raw else None

    def get(self, path):
        return self.request("GET", path)

    def merge_patch(self, path, patch):
        return self.request("PATCH", path, patch, "application/merge-patch+json")

    def watch(self, path, query):
        """Yields (type, object) of a watch on `path` with `query` (dict) until the server ends
        the stream. ERROR events are yielded like the others (the caller relists on 410)."""
        q = dict(query, watch="true")
        conn = self._conn(None)
        try:
            conn.request("GET", path + "?" + urllib.parse.urlencode(q), headers=self._headers())
            resp = conn.getresponse()
            if resp.status != 200:
                raw = resp.read()
                raise KubeError(resp.status, raw[:200].decode(errors="replace"))
            while True:
                line = resp.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    continue
                ev = json.loads(line)
                yield ev.get("type"), ev.get("object") or {}
        finally:
            conn.close()


def pod_path(namespace, name, sub=""):
    return "/api/v1/namespaces/%s/pods/%s%s" % (urllib.parse.quote(namespace), urllib.parse.quote(name),
                                                 "/" + sub if sub else "")


def nad_path(namespace, name):
    return "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions/%s" % (
        urllib.parse.quote(namespace), urllib.parse.quote(name))
