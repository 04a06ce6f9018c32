#!/usr/bin/python3
"""podload.py: the testbed API server's own cost for N pods (no daemon, no OVN).

Starts a server with kube.sh (--http --quiet) in a scratch directory, creates N pods in namespace
default from C concurrent clients over plain http, then annotates each twice (as the daemon
does: allocated, routed), waits until every pod is Running (scheduled,
given an IP), and prints the server's CPU time (utime + stime from /proc/PID/stat) over that span
and the wall time. Usage: testbed/kube/podload.py [N=2000] [C=8]
"""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    d = tempfile.mkdtemp(prefix="podload.")
    subprocess.run([os.path.join(HERE, "kube.sh"), "start", d, "--http", "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    try:
        env = dict(l.strip().split("=", 1) for l in open(os.path.join(d, "env")) if "=" in l)
        pid = int(env["KUBE_PID"])
        port = int(env["KUBE_HTTP_URL"].rsplit(":", 1)[1])
        cpu0, t0 = cpu_seconds(pid), time.time()

        def create(part):
            c = http.client.HTTPConnection("127.0.0.1", port)
            for i in part:
                body = json.dumps({"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": "p-%05d" % i, "labels": {"app": "load"}},
                                   "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
                c.request("POST", "/api/v1/namespaces/default/pods", body, {"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                if r.status != 201:
                    raise SystemExit("create p-%05d: %d" % (i, r.status))
            for i in part:  # what the daemon does to each pod: annotate it (allocated, then routed)
                for a in ("ovn.kubernetes.io/allocated", "ovn.kubernetes.io/routed"):
                    patch = json.dumps({"metadata": {"annotations": {a: "true"}}})
                    c.request("PATCH", "/api/v1/namespaces/default/pods/p-%05d" % i, patch,
                              {"Content-Type": "application/merge-patch+json"})
                    r = c.getresponse()
                    r.read()
                    if r.status != 200:
                        raise SystemExit("patch p-%05d: %d" % (i, r.status))
            c.close()

        ts = [threading.Thread(target=create, args=(range(k, n, clients),)) for k in range(clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        t_created = time.time()
        c = http.client.HTTPConnection("127.0.0.1", port)
        while True:
            c.request("GET", "/api/v1/namespaces/default/pods?fieldSelector=status.phase%3DRunning&labelSelector=app%3Dload")
            r = c.getresponse()
            running = len(json.loads(r.read())["items"])
            if running >= n:
                break
            if time.time() - t0 > 900:
                raise SystemExit("only %d of %d pods Running after 900 s" % (running, n))
            time.sleep(0.5)
        t1, cpu1 = time.time(), cpu_seconds(pid)
        print("podload pods: %d" % n)
        print("podload create_and_patch_seconds: %.2f s" % (t_created - t0))
        print("podload running_seconds: %.2f s" % (t1 - t0))
        print("podload apiserver_cpu_seconds: %.2f s" % (cpu1 - cpu0))
        print("podload apiserver_cpu_ms_per_pod: %.2f ms" % ((cpu1 - cpu0) * 1e3 / n))
    finally:
        subprocess.run([os.path.join(HERE, "kube.sh"), "stop", d], check=False)
        subprocess.run(["rm", "-rf", "--", d], check=False)


if __name__ == "__main__":
    main()
