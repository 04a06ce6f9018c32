#!/usr/bin/python3
"""agent.py: the testbed's node agent, one per node of testbed/cluster.sh (kubelet and CNI).

It lists and watches the pods bound to its node (`fieldSelector=spec.nodeName=<node>`, served by
the testbed API server) over HTTPS with the token and CA of DIR/kube, and runs one PodWorker
(agent_pod.py) per pod: network namespace, eth0 on the node's br-int, Multus legs
(agent_net.py), the containers as host processes (agent_run.py), restarts and status. It serves
`exec` and `logs` on a unix socket (agent_serve.py). See testbed/README.md "Node agent".

Usage: agent.py --env=DIR/env --node=I --pidfile=DIR/nI/agent.pid   (run with /usr/bin/python3;
cluster.sh starts and stops it). SIGTERM: every container is stopped, the pods' namespaces and
ports are left (for cluster.sh stop to remove, or for the next agent of this node). At start,
ports on br-int a previous agent of this node left are kept for the pods that still exist with
the same uid (their sandboxes are reused, their containers started again with restartCount
incremented: cluster.sh restart-node) and torn down with their namespaces for any other.

Invariants: at most one PodWorker per pod key at a time (a pod recreated under the same name
waits until the old one's worker has torn it down); only a worker touches its pod's processes
and network.
"""
import argparse
import os
import signal
import sys
import threading
import time
import urllib.parse

import agent_kube
import agent_net
import agent_pod
import agent_serve

SOCKET_ANNOTATION = "testbed.ovn-vpcd/agent-socket"


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" not in line or line.startswith("#"):
                continue
            k, v = line.split("=", 1)
            if len(v) >= 2 and v[0] == v[-1] == '"':
                v = v[1:-1]
            env[k] = v
    return env


class Agent:
    def __init__(self, env, index, log_file):
        self.log_file = log_file
        get = lambda k: env["NODE_%d_%s" % (index, k)]  # noqa: E731
        self.node = agent_net.Node(get("NAME"), get("NETNS"), get("OVS_DB"), env["NETNS_PREFIX"], env["EXT_NIC"])
        self.dir = os.path.join(env["CLUSTER_DIR"], "n%d" % index)
        self.pods_dir = os.path.join(self.dir, "pods")
        self.socket = os.path.join(self.dir, "agent.sock")
        self.kube = agent_kube.Kube(env["KUBE_URL"], env["KUBE_TOKEN_FILE"], env["KUBE_CA"])
        self.kube_url, self.kube_ca = env["KUBE_URL"], env["KUBE_CA"]
        self.host_ip = ""
        self.lock = threading.Lock()
        self.pods = {}     # key -> the latest pod object the watch showed
        self.workers = {}  # key -> PodWorker
        self.stopping = False
        self.done = threading.Event()

    def log(self, msg):
        self.log_file.write("%s %s\n" % (time.strftime("%H:%M:%S"), msg))
        self.log_file.flush()

    def is_mine(self, pod):
        md = pod.get("metadata") or {}
        return not md.get("deletionTimestamp") and (pod.get("spec") or {}).get("nodeName") == self.node.name

    # -- the pod registry --
    def on_pod(self, key, pod):
        with self.lock:
            if pod is None:
                self.pods.pop(key, None)
            else:
                self.pods[key] = pod
            w = self.workers.get(key)
            if w is not None:
                w.update(pod)
            elif pod is not None and self.is_mine(pod) and not self.stopping:
                self._start_worker(key, pod)

    def _start_worker(self, key, pod):
        w = agent_pod.PodWorker(self, key, pod)
        self.workers[key] = w
        w.start()

    def worker_done(self, key, w):
        with self.lock:
            if self.workers.get(key) is w:
                del self.workers[key]
            pod = self.pods.get(key)
            if pod is not None and self.is_mine(pod) and not self.stopping:
                self._start_worker(key, pod)

    def worker(self, namespace, name):
        with self.lock:
            return self.workers.get("%s/%s" % (namespace, name))

    def describe(self):
        with self.lock:
            ws = list(self.workers.values())
        out = []
        for w in ws:
            out.append({"namespace": w.namespace, "name": w.pod_name, "uid": w.uid, "netns": w.netns,
                        "port": agent_net.port_name(w.namespace, w.pod_name),
                        "containers": [{"name": c.name, "pid": c.proc.pid if c.proc else None,
                                        "restartCount": c.restarts, "log": w.log_path(c)} for c in w.containers],
                        "initContainers": [{"name": c.name, "pid": c.proc.pid if c.proc else None,
                                            "restartCount": c.restarts, "log": w.log_path(c)} for c in w.inits]})
        return out

    # -- list + watch --
    def watch_loop(self):
        q = {"fieldSelector": "spec.nodeName=" + self.node.name}
        path = "/api/v1/pods"
        while not self.stopping:
            try:
                lst = self.kube.get(path + "?" + urllib.parse.urlencode(q))
                rv = lst["metadata"]["resourceVersion"]
                seen = {}
                for p in lst.get("items") or []:
                    md = p["metadata"]
                    seen["%s/%s" % (md["namespace"], md["name"])] = p
                with self.lock:
                    gone = [k for k in self.pods if k not in seen]
                for k in gone:
                    self.on_pod(k, None)
                for k, p in seen.items():
                    self.on_pod(k, p)
                while not self.stopping:
                    for etype, obj in self.kube.watch(path, dict(q, resourceVersion=rv, allowWatchBookmarks="true",
                                                                 timeoutSeconds="300")):
                        if etype == "ERROR":
                            raise agent_kube.KubeError(obj.get("code"), obj.get("message", ""), obj.get("reason", ""))
                        md = obj.get("metadata") or {}
                        rv = md.get("resourceVersion") or rv
                        if etype == "BOOKMARK":
                            continue
                        key = "%s/%s" % (md.get("namespace"), md.get("name"))
                        self.on_pod(key, None if etype == "DELETED" else obj)
            except (agent_kube.KubeError, OSError, ValueError, KeyError) as e:
                if self.stopping:
                    return
                self.log("list/watch: %s; relisting" % e)
                time.sleep(0.5)

    def start(self):
        node = self.kube.get("/api/v1/nodes/" + urllib.parse.quote(self.node.name))
        self.host_ip = next((a.get("address") for a in (node.get("status") or {}).get("addresses") or []
                             if a.get("type") == "InternalIP"), "")
        self._adopt_or_teardown()
        os.makedirs(self.pods_dir, exist_ok=True)
        self.server = agent_serve.serve(self, self.socket)
        self.kube.merge_patch("/api/v1/nodes/" + urllib.parse.quote(self.node.name),
                              {"metadata": {"annotations": {SOCKET_ANNOTATION: self.socket}}})
        threading.Thread(target=self.watch_loop, name="watch", daemon=True).start()
        self.log("agent of %s (chassis namespace %s) watching pods; exec/logs on %s"
                 % (self.node.name, self.node.netns, self.socket))

    def _adopt_or_teardown(self):
        """What a previous agent of this node left (its ports on br-int, their namespaces): a
        pod that still exists here with the same uid keeps its sandbox (its PodWorker finds
        and reuses it, as kubelet finds its pod sandboxes after a restart); any other is torn
        down."""
        left = self.node.own_ports()
        if not left:
            return
        q = urllib.parse.urlencode({"fieldSelector": "spec.nodeName=" + self.node.name})
        uids = {}
        for p in self.kube.get("/api/v1/pods?" + q).get("items") or []:
            md = p.get("metadata") or {}
            if self.is_mine(p):
                uids["%s/%s" % (md.get("namespace"), md.get("name"))] = md.get("uid")
        for port, (key, uid) in sorted(left.items()):
            if uid and uids.get(key) == uid:
                self.log("left by a previous agent: port %s of %s (uid %s): kept for the pod" % (port, key, uid))
                continue
            ns, _, pod = key.partition("/")
            self.log("left by a previous agent: port %s of %s: tearing down" % (port, key))
            self.node.teardown(ns, pod)

    def stop(self):
        with self.lock:
            self.stopping = True
            ws = list(self.workers.values())
        for w in ws:
            w.stop()
        for w in ws:
            w.join(10)
        try:
            os.unlink(self.socket)
        except OSError:
            pass
        self.log("stopped (%d pod(s) stopped)" % len(ws))


def main():
    ap = argparse.ArgumentParser(description="ovn-vpcd testbed node agent")
    ap.add_argument("--env", required=True, help="the cluster's DIR/env")
    ap.add_argument("--node", type=int, required=True, help="node index i (NODE_<i>_* in the env)")
    ap.add_argument("--pidfile", required=True)
    args = ap.parse_args()
    env = read_env(args.env)
    agent = Agent(env, args.node, sys.stdout)
    tmp = args.pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.replace(tmp, args.pidfile)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        agent.start()
    except Exception as e:
        agent.log("start failed: %s" % e)
        os.unlink(args.pidfile)
        sys.exit(1)
    while not stop.wait(1.0):
        pass
    agent.stop()
    try:
        if open(args.pidfile).read().strip() == str(os.getpid()):
            os.unlink(args.pidfile)
    except OSError:
        pass


if __name__ == "__main__":
    main()
