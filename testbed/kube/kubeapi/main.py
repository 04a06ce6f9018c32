"""main.py: the command line: flags, the listeners (https with --cert/--key, plain http with --http-port), the
port and pid files, the controllers, and a clean exit on TERM/INT.
"""

import argparse
import os
import signal
import ssl
import sys
import threading

from .util import log
from .api import Api
from .controllers import Controllers
from .handler import Handler, Server, Tokens


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description="ovn-vpcd testbed Kubernetes API server")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="https port (0: ephemeral)")
    ap.add_argument("--http-port", type=int, default=None, help="also serve plain http (no auth) on this port")
    ap.add_argument("--cert", help="server certificate (PEM); without it there is no https listener")
    ap.add_argument("--key", help="server private key (PEM)")
    ap.add_argument("--token-file", help="bearer tokens accepted on https, one per line (re-read when changed)")
    ap.add_argument("--port-file", help="write the bound https port here")
    ap.add_argument("--http-port-file", help="write the bound http port here")
    ap.add_argument("--pidfile")
    ap.add_argument("--crds", action="append", help="directory of CRD manifests as *.json (repeatable)")
    ap.add_argument("--history", type=int, default=10000, help="watch history window in events")
    ap.add_argument("--bookmark-interval", type=float, default=1.0, help="seconds between watch bookmarks")
    ap.add_argument("--watch-timeout", type=float, default=1800.0, help="watch length when timeoutSeconds is absent")
    ap.add_argument("--expired-mode", choices=["status", "event"], default="status",
                    help="too old resourceVersion on a new watch: 410 Status reply, or 200 + ERROR event")
    ap.add_argument("--nodes", default="node-1,node-2", help="comma-separated fake node names")
    ap.add_argument("--node-cidr", default="172.18.0.0/24", help="node InternalIPs: .2, .3, ...")
    ap.add_argument("--pod-cidr", default="10.16.0.0/16")
    ap.add_argument("--service-cidr", default="10.96.0.0/16")
    ap.add_argument("--no-kubelet", action="store_true", help="pods stay Pending after scheduling")
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = ap.parse_args()
    if args.cert is None and args.http_port is None:
        ap.error("need --cert/--key (https) or --http-port")
    if args.cert and not args.key:
        ap.error("--cert needs --key")

    api = Api(args)
    api.tokens = Tokens(args.token_file)
    Handler.api = api
    api.bootstrap()

    servers = []
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.cert, args.key)
        ctx.set_alpn_protocols(["http/1.1"])
        s = Server((args.bind, args.port), ctx)
        servers.append(s)
        if args.port_file:
            write_atomic(args.port_file, "%d\n" % s.server_address[1])
        log("listening on https://%s:%d" % (args.bind, s.server_address[1]))
    if args.http_port is not None:
        s = Server((args.bind, args.http_port), None)
        servers.append(s)
        if args.http_port_file:
            write_atomic(args.http_port_file, "%d\n" % s.server_address[1])
        log("listening on http://%s:%d (no authentication)" % (args.bind, s.server_address[1]))
    print(" ".join("%s:%d" % s.server_address[:2] for s in servers), flush=True)

    Controllers(api).start()
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    if args.pidfile:
        write_atomic(args.pidfile, "%d\n" % os.getpid())

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    log("stopping")
    if args.pidfile:
        try:
            with open(args.pidfile) as f:
                if f.read().strip() == str(os.getpid()):
                    os.unlink(args.pidfile)
        except OSError:
            pass
    sys.stderr.flush()
    os._exit(0)
