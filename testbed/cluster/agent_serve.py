"""agent_serve.py: the node agent's local endpoint for `kubectl exec` and `kubectl logs`.

HTTP/1.1 on a unix socket (DIR/n<i>/agent.sock; the agent also writes its path into its Node's
annotation testbed.ovn-vpcd/agent-socket). The API server forwards to it; the exact interface
is in testbed/README.md "Node agent". In short:

  GET  /healthz                    -> 200 "ok"
  GET  /pods                       -> 200 JSON {"pods": [{namespace, name, uid, netns, port,
                                      containers: [{name, pid, restartCount, log}],
                                      initContainers: (the same)}]}
  POST /exec?namespace=NS&pod=P[&container=C]&command=ARG0&command=ARG1...[&stdin=true]
       With "Connection: Upgrade", "Upgrade: testbed-exec": 101, then both ways frames
       [stream u8][length u32 big-endian][payload]. Streams as Kubernetes' channel protocol:
       0 stdin (client -> agent; a 0-length frame closes stdin), 1 stdout, 2 stderr,
       3 status (once, last: a metav1.Status JSON, Success, or Failure / NonZeroExitCode with
       details.causes[0] = {reason: ExitCode, message: "<code>"}), 4 resize (ignored).
       Without Upgrade: the request body (Content-Length) is stdin, the 200 answer is the same
       frames, chunked. Errors before the command runs: 4xx with a metav1.Status JSON body.
  POST /kill?namespace=NS&pod=P[&container=C][&reason=OOMKilled]
       -> 200 JSON {"pid": the killed pid}: the container's process group gets SIGKILL (as an
       OOM kill), done by the pod's worker; it restarts by restartPolicy, lastState terminated
       with exitCode 137 and the reason (default OOMKilled). 400 when it is not running.
  GET  /logs?namespace=NS&pod=P[&container=C][&follow=true][&previous=true][&tailLines=N]
       -> 200 text/plain (chunked): the container instance's output; follow streams until the
       instance ends or the client goes.
"""
import json
import os
import socketserver
import struct
import threading
import time
import http.server
import urllib.parse

import agent_run

STDIN, STDOUT, STDERR, STATUS, RESIZE = 0, 1, 2, 3, 4
UPGRADE = "testbed-exec"


def frame(stream, data):
    return struct.pack(">BI", stream, len(data)) + data


def status_json(code, msg=""):
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "message": msg or "command terminated with non-zero exit code",
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def api_status(code, reason, msg):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": msg,
            "reason": reason, "code": code}


class Refused(Exception):
    def __init__(self, code, reason, msg):
        super().__init__(msg)
        self.code, self.reason, self.msg = code, reason, msg


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(agent, path):
    if os.path.exists(path):
        os.unlink(path)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def address_string(self):
            return "unix"

        def log_message(self, fmt, *a):
            pass

        def _q(self):
            u = urllib.parse.urlsplit(self.path)
            return u.path, urllib.parse.parse_qs(u.query, keep_blank_values=True)

        def _json(self, code, obj):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def _chunk(self, data):
            if data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

        def _start_chunked(self, ctype):
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

        def _end_chunked(self):
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _target(self, q):
            ns = (q.get("namespace") or [""])[0]
            pod = (q.get("pod") or [""])[0]
            w = agent.worker(ns, pod)
            if w is None:
                raise Refused(404, "NotFound", 'pods "%s" not found on node %s' % (pod, agent.node.name))
            if w.netns is None or not w.containers:
                raise Refused(400, "BadRequest", "pod %s/%s is not running yet: %s" % (ns, pod, w.waiting or ""))
            cname = (q.get("container") or [""])[0]
            c = w.container(cname) if cname else w.containers[0]
            if c is None:
                raise Refused(400, "BadRequest", "container %s is not valid for pod %s" % (cname, pod))
            return w, c

        def do_GET(self):
            path, q = self._q()
            try:
                if path == "/healthz":
                    data = b"ok\n"
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif path == "/pods":
                    self._json(200, {"pods": agent.describe()})
                elif path == "/logs":
                    self._logs(q)
                else:
                    raise Refused(404, "NotFound", "no such endpoint: %s" % path)
            except Refused as e:
                self._json(e.code, api_status(e.code, e.reason, e.msg))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def do_POST(self):
            path, q = self._q()
            try:
                if path == "/kill":
                    self._kill(q)
                    return
                if path != "/exec":
                    raise Refused(404, "NotFound", "no such endpoint: %s" % path)
                self._exec(q)
            except Refused as e:
                self._json(e.code, api_status(e.code, e.reason, e.msg))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        # -- logs --
        def _logs(self, q):
            w, c = self._target_any(q)
            prev = (q.get("previous") or [""])[0] == "true"
            follow = (q.get("follow") or [""])[0] == "true" and not prev
            tail = (q.get("tailLines") or [""])[0]
            p = w.log_path(c, previous=prev)
            if prev and not os.path.exists(p):
                raise Refused(400, "BadRequest", 'previous terminated container "%s" in pod "%s" not found'
                              % (c.name, w.pod_name))
            self._start_chunked("text/plain")
            inst = c.id
            try:
                f = open(p, "rb")
            except FileNotFoundError:
                self._end_chunked()
                return
            with f:
                data = f.read()
                if tail.isdigit():
                    lines = data.splitlines(keepends=True)
                    data = b"".join(lines[-int(tail):]) if int(tail) else b""
                self._chunk(data)
                while follow:
                    data = f.read()
                    if data:
                        self._chunk(data)
                        continue
                    if c.proc is None or c.id != inst or agent.stopping:
                        self._chunk(f.read())
                        break
                    time.sleep(0.1)
            self._end_chunked()

        def _target_any(self, q):
            """Like _target, but a pod whose containers all ended still has logs."""
            ns = (q.get("namespace") or [""])[0]
            pod = (q.get("pod") or [""])[0]
            w = agent.worker(ns, pod)
            if w is None:
                raise Refused(404, "NotFound", 'pods "%s" not found on node %s' % (pod, agent.node.name))
            if not w.containers:
                raise Refused(400, "BadRequest", 'container in pod "%s" is waiting to start: ContainerCreating' % pod)
            cname = (q.get("container") or [""])[0]
            c = w.container(cname) if cname else w.containers[0]
            if c is None:
                raise Refused(400, "BadRequest", "container %s is not valid for pod %s" % (cname, pod))
            return w, c

        # -- kill --
        def _kill(self, q):
            w, c = self._target(q)
            reason = (q.get("reason") or ["OOMKilled"])[0] or "OOMKilled"
            pid = w.kill(c.name, reason)
            if pid is None:
                raise Refused(400, "BadRequest", "container %s of pod %s/%s is not running"
                              % (c.name, w.namespace, w.pod_name))
            self._json(200, {"pid": pid, "container": c.name, "reason": reason})

        # -- exec --
        def _exec(self, q):
            w, c = self._target(q)
            cmd = q.get("command") or []
            if not cmd:
                raise Refused(400, "BadRequest", "you must specify at least one command for the container")
            upgrade = self.headers.get("Upgrade", "").lower() == UPGRADE
            body = b""
            if not upgrade:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
            try:
                env, sa_dir, caps = w.launch(c)
                proc = agent_run.spawn(w.netns, agent_run.exec_argv(cmd), env, pipes=True, sa_dir=sa_dir, caps=caps)
            except OSError as e:
                raise Refused(500, "InternalError", "cannot run %s: %s" % (cmd, e))
            lock = threading.Lock()
            if upgrade:
                self.send_response(101)
                self.send_header("Connection", "Upgrade")
                self.send_header("Upgrade", UPGRADE)
                self.end_headers()
                self.wfile.flush()
                self.close_connection = True

                def send(stream, data):
                    with lock:
                        self.wfile.write(frame(stream, data))
                        self.wfile.flush()
                threading.Thread(target=self._stdin_frames, args=(proc,), daemon=True).start()
            else:
                self._start_chunked("application/octet-stream")

                def send(stream, data):
                    with lock:
                        self._chunk(frame(stream, data))

                def feed():
                    try:
                        if body:
                            proc.stdin.write(body)
                        proc.stdin.close()
                    except OSError:
                        pass
                threading.Thread(target=feed, daemon=True).start()
            gone = []

            def pump(src, stream):
                while True:
                    data = src.read1(65536)
                    if not data:
                        return
                    try:
                        send(stream, data)
                    except OSError:
                        gone.append(1)
                        agent_run.kill(proc, 0.5)
                        return
            readers = [threading.Thread(target=pump, args=(proc.stdout, STDOUT), daemon=True),
                       threading.Thread(target=pump, args=(proc.stderr, STDERR), daemon=True)]
            for t in readers:
                t.start()
            code = proc.wait()
            for t in readers:
                t.join()
            if gone:
                return
            try:
                send(STATUS, json.dumps(status_json(code)).encode())
                if not upgrade:
                    with lock:
                        self._end_chunked()
            except OSError:
                pass

        def _stdin_frames(self, proc):
            try:
                while True:
                    hdr = self.rfile.read(5)
                    if len(hdr) < 5:
                        break
                    stream, n = struct.unpack(">BI", hdr)
                    data = self.rfile.read(n) if n else b""
                    if stream == STDIN:
                        if not data:
                            break
                        proc.stdin.write(data)
                        proc.stdin.flush()
            except (OSError, ValueError):
                pass
            try:
                proc.stdin.close()
            except OSError:
                pass

    srv = Server(path, Handler)
    os.chmod(path, 0o600)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, name="serve", daemon=True)
    t.start()
    return srv

