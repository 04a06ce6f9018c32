"""handler.py: hTTP and auth: bearer tokens (the admin's, re-read when the file changes; service
accounts' in accounts.py), RBAC for every identity but system:masters (rbac.py) before anything
else is looked at, the request handler (bodies, replies, routing of every path to the Api) and the
TLS-wrapping threaded server.
"""

import hmac
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse

from .util import MAX_BODY, OPEN_PATHS, VERSION_INFO, jdump, log, md_of
from .errors import ApiError, err_bad_request, err_method, err_not_found, err_path_not_found, err_unauthorized
from .protobuf import pb_decode_object
from .registry import SK_CRD
from .accounts import MASTERS
from .rbac import authorize, forbidden, request_info
from .tables import make_table, parse_accept
from .watch import WatchStream
from .admin import Admin
from .exec import PodStreams


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
# HTTP


class Handler(WatchStream, Admin, PodStreams, http.server.BaseHTTPRequestHandler):
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
            user = api.authenticate(auth[7:].strip()) if auth.startswith("Bearer ") else None
            if user is None:
                raise err_unauthorized()
            if MASTERS not in user.groups:
                attrs = request_info(self.command, path, urllib.parse.parse_qs(url.query, keep_blank_values=True))
                with api.store.lock:
                    allowed, reason = authorize(api.store.objs, user, attrs)
                if not allowed:
                    raise forbidden(user, attrs, reason)
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
        if group == "" and version == "v1" and plural == "pods" and ns is not None and sub in ("exec", "log"):
            return self.pod_stream(sub, ns, name, urllib.parse.parse_qs(url.query, keep_blank_values=True))
        with api.store.lock:
            rd = api.reg.find(group, version, plural)
        if rd is None or (ns is not None and not rd.namespaced):
            raise err_path_not_found()
        if sub is not None and not ((sub == "status" and rd.status) or (sub == "scale" and rd.scale)
                                    or (sub == "token" and rd.token)):
            raise err_path_not_found()
        if sub == "token":
            if ns is None:
                raise err_path_not_found()
            if m != "POST":
                raise err_method()
            code, obj, warns = api.token_request(rd, ns, name, self.json_body(body), q)
            return self.send_json(code, obj, warns)
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
