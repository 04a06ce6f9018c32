"""exec.py: exec streaming: `kubectl exec` and `kubectl logs` through the API server to the pod's node agent.

  GET  /api/v1/namespaces/NS/pods/POD/exec?command=A&command=B[&container=C][&stdin=true]...
       A WebSocket upgrade (RFC 6455; subprotocol v5.channel.k8s.io preferred, v4.channel.k8s.io
       accepted). The server opens the agent's upgraded exec on the unix socket the pod's Node
       names (annotation testbed.ovn-vpcd/agent-socket) and copies both ways: a binary message
       [stream][payload] <-> an agent frame [stream u8][length u32 BE][payload]; v5's close
       message [255, 0] (stdin closed) -> a zero-length stdin frame; the agent's status frame ->
       a message on channel 3, then a WebSocket close.
  POST (same path)  SPDY, kubectl's fallback: not served; after the same checks as GET it answers
       400 with a Status saying so, which kubectl prints.
  GET  /api/v1/namespaces/NS/pods/POD/log?container=&follow=&previous=&tailLines=
       -> the agent's GET /logs, relayed as chunked text/plain (streaming for follow).

Errors before streaming starts are metav1.Status replies: the pod missing 404 NotFound; no node
assigned, not running or a bad container 400 BadRequest; the Node missing or naming no agent 500.

Invariants: the client connection is read and written by one thread only (a select loop), so a
TLS socket is never used from two threads at once; the agent connection is closed when the
request ends, whatever ends it.
"""

import base64
import hashlib
import json
import select
import socket
import ssl
import struct
import urllib.parse

from .errors import ApiError, err_bad_request, err_method, err_not_found

AGENT_SOCKET_ANNOTATION = "testbed.ovn-vpcd/agent-socket"
AGENT_UPGRADE = "testbed-exec"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STATUS, CLOSE_STREAM = 0, 3, 255
OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
# exec query parameters passed on to the agent (stdout/stderr/tty are implied or ignored)
EXEC_PARAMS = ("container", "stdin")
LOG_PARAMS = ("container", "follow", "previous", "tailLines")


class AgentError(Exception):
    """The agent refused the request: its HTTP code and metav1.Status body."""

    def __init__(self, code, body):
        super().__init__(body)
        self.code, self.body = code, body


# --------------------------------------------------------------------------------------------
# WebSocket framing (pure)


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_frame(opcode, payload):
    """A server frame: FIN set, unmasked."""
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    return head + payload


def ws_parse(buf):
    """One frame from the head of buf: (fin, opcode, payload, rest) or None if incomplete."""
    if len(buf) < 2:
        return None
    b0, b1 = buf[0], buf[1]
    n, off = b1 & 0x7F, 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, off = struct.unpack(">H", buf[2:4])[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, off = struct.unpack(">Q", buf[2:10])[0], 10
    mask = b""
    if b1 & 0x80:
        if len(buf) < off + 4:
            return None
        mask, off = buf[off:off + 4], off + 4
    if len(buf) < off + n:
        return None
    payload = buf[off:off + n]
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bool(b0 & 0x80), b0 & 0x0F, payload, buf[off + n:]


def agent_frame(stream, data):
    return struct.pack(">BI", stream, len(data)) + data


def agent_parse(buf):
    """One agent frame from the head of buf: (stream, payload, rest) or None if incomplete."""
    if len(buf) < 5:
        return None
    stream, n = struct.unpack(">BI", buf[:5])
    if len(buf) < 5 + n:
        return None
    return stream, buf[5:5 + n], buf[5 + n:]


# --------------------------------------------------------------------------------------------
# the agent's socket


def agent_request(path_sock, method, target, upgrade):
    """Send the request, read the reply head: (socket, code, headers dict, bytes after the head)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(10)
        s.connect(path_sock)
        head = "%s %s HTTP/1.1\r\nHost: agent\r\n" % (method, target)
        if upgrade:
            head += "Connection: Upgrade\r\nUpgrade: %s\r\n" % AGENT_UPGRADE
        s.sendall((head + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = s.recv(65536)
            if not data:
                raise OSError("the agent closed the connection before answering")
            buf += data
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        code = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        s.settimeout(None)
        return s, code, headers, rest
    except BaseException:
        s.close()
        raise


def read_refusal(s, headers, rest):
    """The body of a non-success agent reply (Content-Length)."""
    n = int(headers.get("content-length") or 0)
    while len(rest) < n:
        data = s.recv(65536)
        if not data:
            break
        rest += data
    return rest[:n]


# --------------------------------------------------------------------------------------------
# the handler part


class PodStreams:
    """Mixed into the Handler: serves pods/POD/exec and pods/POD/log."""

    def pod_stream(self, sub, ns, name, query):
        m = self.command
        if sub == "log" and m != "GET":
            raise err_method()
        if sub == "exec" and m not in ("GET", "POST"):
            raise err_method()
        sock_path = self._agent_of(ns, name, (query.get("container") or [""])[-1])
        if sub == "exec" and self._phase(ns, name) == "Pending":
            # the agent would refuse too, but kubectl's SPDY fallback would hide its answer
            raise err_bad_request("pod %s is not running yet (phase Pending)" % name)
        if sub == "log":
            return self._logs(sock_path, ns, name, query)
        if not query.get("command"):
            raise err_bad_request("you must specify at least one command for the container")
        upgrade = (self.headers.get("Upgrade") or "").lower()
        if m == "POST" or upgrade != "websocket":
            raise err_bad_request("the testbed API server serves exec over WebSocket (%s) only, not SPDY: "
                                  "use kubectl 1.30 or later" % ", ".join(PROTOCOLS))
        return self._exec(sock_path, ns, name, query)

    def _phase(self, ns, name):
        api = self.api
        with api.store.lock:
            pod = api.get_obj(api.reg.find("", "v1", "pods"), ns, name) or {}
            return (pod.get("status") or {}).get("phase")

    def _agent_of(self, ns, name, container):
        """The agent socket of the pod's node, after the API server's own checks."""
        api = self.api
        with api.store.lock:
            pods = api.reg.find("", "v1", "pods")
            nodes = api.reg.find("", "v1", "nodes")
            pod = api.get_obj(pods, ns, name)
            if pod is None:
                raise err_not_found(pods, name)
            node_name = (pod.get("spec") or {}).get("nodeName")
            phase = (pod.get("status") or {}).get("phase")
            node = api.get_obj(nodes, None, node_name) if node_name else None
            spec = pod.get("spec") or {}
            names = [c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
        if container and container not in names:
            raise err_bad_request("container %s is not valid for pod %s" % (container, name))
        if not node_name:
            raise err_bad_request("pod %s does not have a host assigned" % name)
        if phase in ("Succeeded", "Failed"):
            raise err_bad_request("cannot connect to a container in a completed pod; current phase is %s" % phase)
        if node is None:
            raise ApiError(500, "InternalError", 'node "%s" of pod %s not found' % (node_name, name))
        sock_path = ((node.get("metadata") or {}).get("annotations") or {}).get(AGENT_SOCKET_ANNOTATION)
        if not sock_path:
            raise ApiError(500, "InternalError", "node %s has no node agent (no annotation %s)"
                           % (node_name, AGENT_SOCKET_ANNOTATION))
        return sock_path

    def _agent_open(self, sock_path, method, path, params, upgrade):
        try:
            s, code, headers, rest = agent_request(sock_path, method, path + "?" + urllib.parse.urlencode(params),
                                                   upgrade)
        except OSError as e:
            raise ApiError(500, "InternalError", "cannot reach the node agent at %s: %s" % (sock_path, e))
        want = 101 if upgrade else 200
        if code != want:
            body = read_refusal(s, headers, rest)
            s.close()
            try:
                st = json.loads(body.decode())
                raise ApiError(code, st.get("reason") or "InternalError", st.get("message") or body.decode())
            except (ValueError, UnicodeDecodeError, AttributeError):
                raise ApiError(code if code >= 400 else 500, "InternalError", "node agent: HTTP %d" % code)
        return s, headers, rest

    # ---- exec ------------------------------------------------------------------------------

    def _exec(self, sock_path, ns, name, query):
        offered = [p.strip() for p in (self.headers.get("Sec-WebSocket-Protocol") or "").split(",")]
        proto = next((p for p in PROTOCOLS if p in offered), None)
        key = self.headers.get("Sec-WebSocket-Key")
        if proto is None or not key:
            raise err_bad_request("a WebSocket exec needs Sec-WebSocket-Key and one of the subprotocols %s"
                                  % ", ".join(PROTOCOLS))
        params = [("namespace", ns), ("pod", name)] + [("command", c) for c in query["command"]]
        params += [(k, query[k][-1]) for k in EXEC_PARAMS if k in query]
        agent, _, abuf = self._agent_open(sock_path, "POST", "/exec", params, True)
        try:
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", ws_accept(key))
            self.send_header("Sec-WebSocket-Protocol", proto)
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            self._ws_copy(agent, abuf)
        finally:
            agent.close()

    def _ws_copy(self, agent, abuf):
        conn = self.connection
        out = self.wfile
        # The request was a GET without a body and the client waits for 101 before sending, so
        # nothing of the WebSocket stream sits in rfile's buffer yet; read the socket directly.
        cbuf = bytearray()
        msg, msg_op = bytearray(), None
        stdin_open = True
        while True:
            # decode what is buffered first: agent frames -> messages, client frames -> agent frames
            while True:
                p = agent_parse(abuf)
                if p is None:
                    break
                stream, data, abuf = p
                out.write(ws_frame(OP_BIN, bytes([stream]) + data))
                if stream == STATUS:
                    out.write(ws_frame(OP_CLOSE, struct.pack(">H", 1000)))
                    return
            while True:
                p = ws_parse(bytes(cbuf))
                if p is None:
                    break
                fin, op, payload, rest = p
                cbuf = bytearray(rest)
                if op == OP_CLOSE:
                    out.write(ws_frame(OP_CLOSE, payload[:2]))
                    return
                if op == OP_PING:
                    out.write(ws_frame(OP_PONG, payload))
                    continue
                if op == OP_PONG:
                    continue
                if op != OP_CONT:
                    msg_op = op
                msg += payload
                if not fin:
                    continue
                data, msg = bytes(msg), bytearray()
                if msg_op not in (OP_BIN, OP_TEXT) or not data:
                    continue
                stream, payload = data[0], data[1:]
                if stream == CLOSE_STREAM:
                    if payload[:1] == bytes([STDIN]) and stdin_open:
                        stdin_open = False
                        agent.sendall(agent_frame(STDIN, b""))
                elif stream == STDIN and stdin_open and payload:
                    agent.sendall(agent_frame(STDIN, payload))
                elif stream != STDIN:
                    agent.sendall(agent_frame(stream, payload))
            pending = isinstance(conn, ssl.SSLSocket) and conn.pending()
            ready = [conn] if pending else select.select([conn, agent], [], [])[0]
            if agent in ready:
                data = agent.recv(65536)
                if not data:  # the agent went without a status: end the stream
                    out.write(ws_frame(OP_CLOSE, struct.pack(">H", 1011)))
                    return
                abuf += data
            if conn in ready:
                try:
                    data = conn.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                if not data:
                    return
                cbuf += data

    # ---- logs ------------------------------------------------------------------------------

    def _logs(self, sock_path, ns, name, query):
        params = [("namespace", ns), ("pod", name)] + [(k, query[k][-1]) for k in LOG_PARAMS if k in query]
        agent, headers, buf = self._agent_open(sock_path, "GET", "/logs", params, False)
        try:
            if "chunked" not in (headers.get("transfer-encoding") or "").lower():
                raise ApiError(500, "InternalError", "node agent: logs not chunked")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            self.close_connection = True
            f = agent.makefile("rb")
            # relay the agent's chunks as they come
            pending = buf
            while True:
                while b"\r\n" not in pending:
                    data = f.read1(65536)
                    if not data:
                        return
                    pending += data
                line, pending = pending.split(b"\r\n", 1)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                while len(pending) < n + 2:
                    data = f.read1(65536)
                    if not data:
                        return
                    pending += data
                chunk, pending = pending[:n], pending[n + 2:]
                if n == 0:
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (n, chunk))
                self.wfile.flush()
        finally:
            agent.close()
