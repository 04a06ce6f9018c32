"""store.py: the store: every object by storage key, one resourceVersion counter, the event log that watches
and consistent lists read. Invariant: the log's resourceVersions are contiguous; a commit runs
the hooks and wakes the controllers and the watches that have something to do.

Wake-ups: each open watch waits on a condition of its own (over the store's lock). A commit
wakes the watches of the committed resource and any watch not caught up; a watch of another
resource that is waiting, caught up, is only moved past the event (ctx.rv), which is all its
thread would do with it if woken (it delivers only its own resource's events). A real
kube-apiserver dispatches each event to the watchers of its resource only; waking every watch
thread on every commit cost this one-core server most of its CPU under load.
"""

import collections
import itertools
import threading

from .util import obj_key
from .errors import err_expired


# --------------------------------------------------------------------------------------------
# the store: objects, one resourceVersion counter, the event log


class Store:
    def __init__(self, history):
        self.lock = threading.RLock()
        self.rv = 0
        self.objs = collections.defaultdict(dict)  # skey -> {(ns, name): obj}
        self.uids = {}  # uid -> (skey, (ns, name))
        self.log = collections.deque()  # (rv, skey, type, obj, prev), contiguous resourceVersions
        self.compacted = 0  # new lists/watches from a resourceVersion < this get 410
        self.floor = 0  # events with rv <= floor are gone from the log (floor <= compacted)
        self.active = None  # callable -> resourceVersions of the open watches (kept across compact)
        self.watches = {}  # id -> WatchCtx (watch.py): the open watches, woken by wake_watches
        self.history = max(1, history)
        self.wake = threading.Event()
        self.gc_needed = True
        self.hooks = []  # callables (skey, etype, obj, prev), run under the lock after a commit

    def commit(self, skey, etype, obj, prev):
        """obj must be a fresh object nobody else holds; it is stored (or is the DELETED object)."""
        self.rv += 1
        md = obj["metadata"]
        md["resourceVersion"] = str(self.rv)
        key = obj_key(obj)
        if etype == "DELETED":
            self.objs[skey].pop(key, None)
            self.uids.pop(md.get("uid"), None)
            self.gc_needed = True
        else:
            self.objs[skey][key] = obj
            self.uids[md.get("uid")] = (skey, key)
            if md.get("ownerReferences") or md.get("deletionTimestamp"):
                self.gc_needed = True
        self.log.append((self.rv, skey, etype, obj, prev))
        while len(self.log) > self.history:
            self.floor = self.log.popleft()[0]
            self.compacted = max(self.compacted, self.floor)
        for h in self.hooks:
            h(skey, etype, obj, prev)
        self.wake_watches(skey)
        self.wake.set()
        return obj

    def wake_watches(self, skey=None):
        """Under the lock: wakes every open watch (skey None: a cut, an expiry), or after a commit
        of skey those with something to do (see the module head)."""
        for w in self.watches.values():
            if (skey is not None and w.waiting and w.skey != skey and w.rv == self.rv - 1
                    and not (w.cut or w.gone or w.expire)):
                w.rv = self.rv
            else:
                w.cond.notify()

    def compact(self):
        """Forget the history: new requests from an older resourceVersion get 410. Open watches
        keep the events they still have to deliver."""
        self.compacted = self.rv
        keep_from = min([self.rv] + list(self.active() if self.active else []))
        while self.log and self.log[0][0] <= keep_from:
            self.floor = self.log.popleft()[0]

    def trim(self, history):
        self.history = max(1, history)
        while len(self.log) > self.history:
            self.floor = self.log.popleft()[0]
            self.compacted = max(self.compacted, self.floor)

    def events_after(self, rv):
        """Events after rv for an open watch (raises 410 when they are gone)."""
        if rv < self.floor:
            raise err_expired("too old resource version: %d (%d)" % (rv, self.floor + 1))
        if not self.log:
            return []
        start = rv + 1 - self.log[0][0]
        if start >= len(self.log):
            return []
        # From the right end: a deque is walked from an end, and the watches ask for the last few.
        n = len(self.log) - max(start, 0)
        out = list(itertools.islice(reversed(self.log), n))
        out.reverse()
        return out

    def snapshot(self, skey, rv):
        """The objects of skey as they were at resourceVersion rv (from the event log)."""
        if rv < self.compacted:
            raise err_expired("too old resource version: %d (%d)" % (rv, self.compacted + 1))
        cur = dict(self.objs[skey])
        for (erv, sk, _et, obj, prev) in reversed(self.log):
            if erv <= rv:
                break
            if sk != skey:
                continue
            if prev is None:
                cur.pop(obj_key(obj), None)
            else:
                cur[obj_key(prev)] = prev
        return cur
