#!/usr/bin/python3
"""web.py: what an `nginx*` image runs in a testbed pod (testbed/cluster/agent_run.py).

Serves GET / on --port with a small page naming the pod and the client's address:
"Welcome to nginx! pod <name> saw <client address>". Logs each request to stdout (the
container's log). Standard library only; run with /usr/bin/python3.
"""
import argparse
import http.server
import signal
import socket
import socketserver
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--bind", default="::")
    ap.add_argument("--name", default="nginx")
    args = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, body):
            client = self.client_address[0]
            if client.startswith("::ffff:"):
                client = client[7:]
            data = ("Welcome to nginx! pod %s saw %s\n" % (args.name, client)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)
            print("%s %s %s" % (client, self.command, self.path), flush=True)

        def do_GET(self):
            self._answer(True)

        def do_HEAD(self):
            self._answer(False)

        def log_message(self, fmt, *a):
            pass

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True
        address_family = socket.AF_INET6

        def server_bind(self):
            # dual stack; and no socket.getfqdn() (a reverse DNS lookup: 10 s in a namespace)
            if self.address_family == socket.AF_INET6:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = self.server_address[:2]

    class Server4(Server):
        address_family = socket.AF_INET

    try:
        srv = Server((args.bind, args.port), Handler)
    except OSError:  # no IPv6 in this kernel
        srv = Server4(("0.0.0.0", args.port), Handler)
    print("serving on :%d" % args.port, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    srv.serve_forever(poll_interval=0.2)
    sys.exit(0)


if __name__ == "__main__":
    main()
