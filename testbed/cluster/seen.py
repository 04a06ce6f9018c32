#!/usr/bin/python3
"""seen.py: a tiny HTTP server for the testbed's external network and internet host.

Every request is answered with one line `<name> saw <client address>` and the client's
address is appended to --log as `<unix time> <client address> <method> <path>` (what a test
reads to learn the source address that reached this host, e.g. a NAT gateway's EIP).
Standard library only; run with /usr/bin/python3.
"""
import argparse
import http.server
import os
import signal
import socketserver
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--name", default="seen")
    ap.add_argument("--log", required=True)
    ap.add_argument("--pidfile", required=True)
    args = ap.parse_args()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, body):
            client = self.client_address[0]
            with lock, open(args.log, "a") as f:
                f.write("%.3f %s %s %s\n" % (time.time(), client, self.command, self.path))
            data = ("%s saw %s\n" % (args.name, client)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self):
            self._answer(True)

        def do_HEAD(self):
            self._answer(False)

        def log_message(self, fmt, *a):
            pass

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

        def server_bind(self):
            # HTTPServer.server_bind asks socket.getfqdn(): a reverse DNS lookup, which in a
            # namespace with no reachable resolver takes 10 s. The name is not needed.
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = self.server_address[:2]

    srv = Server((args.bind, args.port), Handler)
    tmp = args.pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.replace(tmp, args.pidfile)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    srv.serve_forever(poll_interval=0.2)
    try:
        if open(args.pidfile).read().strip() == str(os.getpid()):
            os.unlink(args.pidfile)
    except OSError:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
