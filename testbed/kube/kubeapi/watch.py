"""watch.py: watch streams: the chunked event stream of one watch (from a resourceVersion, with bookmarks,
timeoutSeconds, 410 Expired) and the detection of a closed peer. Mixed into Handler.
"""

import select
import socket
import ssl
import threading
import time

from .util import jdump, key_str, labels_of, md_of
from .errors import ApiError, err_bad_request, err_expired, err_too_large
from .names import FieldSelector, LabelSelector
from .tables import make_table, parse_accept


class WatchCtx:
    def __init__(self, wid, rd, ns, q, conn, peer, lock):
        self.id = wid
        self.rd = rd
        self.skey = rd.skey
        self.cond = threading.Condition(lock)  # notified by Store.wake_watches
        self.waiting = False  # in cond.wait, caught up to self.rv
        self.ns = ns
        self.q = q
        self.conn = conn
        self.peer = peer
        self.cut = False
        self.expire = False
        self.gone = False
        self.rv = 0
        self.since = time.time()



class WatchStream:
    # ---- watch -----------------------------------------------------------------------------

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def write_chunks(self, datas):
        self.wfile.write(b"".join(b"%x\r\n%s\r\n" % (len(d), d) for d in datas))

    def watch(self, rd, ns, name, q):
        api = self.api
        store = api.store
        mode = parse_accept(self.headers.get("Accept"))
        if mode is None:
            raise ApiError(406, "NotAcceptable", "only application/json is supported for watch")
        include = q.get("includeObject") or "Metadata"
        lsel = LabelSelector(q.get("labelSelector", ""))
        fs = q.get("fieldSelector", "")
        if name is not None:
            fs = ("metadata.name=%s,%s" % (name, fs)).rstrip(",")
        fsel = FieldSelector(fs, rd.field_labels)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1", "True")
        initial_events = q.get("sendInitialEvents") in ("true", "1", "True")
        try:
            timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else 0.0
        except ValueError:
            raise err_bad_request("invalid timeoutSeconds")
        if timeout <= 0:
            timeout = api.args.watch_timeout  # like the real server: 0 means "not set"
        rvp = q.get("resourceVersion") or ""
        deadline = time.time() + timeout

        def visible(o):
            if o is None:
                return False
            if ns and md_of(o).get("namespace") != ns:
                return False
            return lsel.matches(labels_of(o)) and (fsel.empty() or fsel.matches(rd.view(o)))

        initial = []
        expired_event = None
        with store.lock:
            if rvp in ("", "0") or initial_events:
                start_rv = store.rv
                objs = store.objs[rd.skey]
                initial = [objs[k] for k in sorted(objs, key=key_str) if visible(objs[k])]
            else:
                try:
                    start_rv = int(rvp)
                except ValueError:
                    raise err_bad_request("invalid resourceVersion %r" % rvp)
                if start_rv > store.rv:
                    raise err_too_large(start_rv, store.rv)
                if start_rv < store.compacted:
                    e = err_expired("too old resource version: %d (%d)" % (start_rv, store.compacted + 1))
                    if api.expired_mode == "status":
                        raise e
                    expired_event = e
            ctx = WatchCtx(next(api.watch_ids), rd, ns, q, self.connection, self.client_address, store.lock)
            ctx.rv = start_rv
            if expired_event is None:
                api.watches[ctx.id] = ctx

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def encode(etype, obj):
            if mode == "table" and etype in ("ADDED", "MODIFIED", "DELETED"):
                out = make_table(rd, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, include)
            elif mode in ("pom", "pomlist") and etype in ("ADDED", "MODIFIED", "DELETED"):
                out = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md_of(obj)}
            else:
                out = rd.view(obj)
            return (jdump({"type": etype, "object": out}) + "\n").encode()

        def bookmark(rv, extra_ann=None):
            md = {"resourceVersion": str(rv), "creationTimestamp": None}
            if extra_ann:
                md["annotations"] = extra_ann
            if mode == "table":
                o = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(rv)},
                     "columnDefinitions": None, "rows": None}
            else:
                o = {"kind": rd.kind, "apiVersion": rd.gv, "metadata": md}
            return (jdump({"type": "BOOKMARK", "object": o}) + "\n").encode()

        clean_end = True
        try:
            if expired_event is not None:
                self.write_chunk((jdump({"type": "ERROR", "object": expired_event.status()}) + "\n").encode())
                self.write_chunk(b"")
                return
            for o in initial:
                self.write_chunk(encode("ADDED", o))
            if initial_events and bookmarks:
                self.write_chunk(bookmark(start_rv, {"k8s.io/initial-events-end": "true"}))
            next_bm = time.time() + api.bookmark_interval
            last_alive_check = time.time()
            while True:
                events = None
                with store.lock:
                    while True:
                        now = time.time()
                        if ctx.cut or ctx.gone or ctx.expire or now >= deadline:
                            break
                        if store.rv > ctx.rv:
                            try:
                                events = store.events_after(ctx.rv)
                            except ApiError as e:
                                events = e
                            break
                        if bookmarks and now >= next_bm:
                            break
                        if now - last_alive_check >= 1.0:
                            break
                        wait = min(deadline - now, 1.0 - (now - last_alive_check))
                        if bookmarks:
                            wait = min(wait, next_bm - now)
                        ctx.waiting = True
                        try:
                            ctx.cond.wait(max(wait, 0.01))
                        finally:
                            ctx.waiting = False
                if ctx.cut:
                    clean_end = False
                    break
                if ctx.expire:
                    events = err_expired("too old resource version: %d (%d)" % (ctx.rv, store.rv))
                if ctx.gone or time.time() >= deadline:
                    break
                if isinstance(events, ApiError):
                    self.write_chunk((jdump({"type": "ERROR", "object": events.status()}) + "\n").encode())
                    break
                if events:
                    # The events at hand go out in one write, each its own chunk: a real
                    # kube-apiserver flushes only when no more events are queued.
                    out = []
                    for (erv, skey, etype, obj, prev) in events:
                        ctx.rv = erv
                        if skey != rd.skey:
                            continue
                        now_vis = visible(obj) if etype != "DELETED" else False
                        was_vis = visible(prev)
                        if etype == "ADDED":
                            if now_vis:
                                out.append(encode("ADDED", obj))
                        elif etype == "MODIFIED":
                            if now_vis and was_vis:
                                out.append(encode("MODIFIED", obj))
                            elif now_vis:
                                out.append(encode("ADDED", obj))
                            elif was_vis:
                                out.append(encode("DELETED", obj))
                        elif etype == "DELETED" and (was_vis or visible(obj)):
                            out.append(encode("DELETED", obj))
                    if out:
                        self.write_chunks(out)
                    continue
                if bookmarks and time.time() >= next_bm:
                    self.write_chunk(bookmark(ctx.rv))
                    next_bm = time.time() + api.bookmark_interval
                if time.time() - last_alive_check >= 1.0:
                    last_alive_check = time.time()
                    if self.peer_closed():
                        clean_end = False
                        break
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout, OSError):
            clean_end = False
        finally:
            with store.lock:
                api.watches.pop(ctx.id, None)
        if clean_end:
            try:
                self.write_chunk(b"")
            except OSError:
                self.close_connection = True
        else:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def peer_closed(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            if isinstance(self.connection, ssl.SSLSocket):
                data = self.connection.recv(1)
            else:
                data = self.connection.recv(1, socket.MSG_PEEK)
            return data == b""
        except ssl.SSLWantReadError:
            return False
        except (OSError, ValueError):
            return True
