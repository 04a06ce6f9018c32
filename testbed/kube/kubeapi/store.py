"""store.py: the store: every object by storage key, one resourceVersion counter, the event log that watches
and consistent lists read. Invariant: the log's resourceVersions are contiguous; a commit runs
the hooks and wakes the controllers and the watches.
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
        self.cond = threading.Condition(self.lock)
        self.rv = 0
        self.objs = collections.defaultdict(dict)  # skey -> {(ns, name): obj}
        self.uids = {}  # uid -> (skey, (ns, name))
        self.log = collections.deque()  # (rv, skey, type, obj, prev), contiguous resourceVersions
        self.compacted = 0  # new lists/watches from a resourceVersion < this get 410
        self.floor = 0  # events with rv <= floor are gone from the log (floor <= compacted)
        self.active = None  # callable -> resourceVersions of the open watches (kept across compact)
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
        self.cond.notify_all()
        self.wake.set()
        return obj

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
        return list(itertools.islice(self.log, max(start, 0), None))

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
