"""agent_pod.py: one pod's life on its node (the kubelet's pod worker).

A PodWorker thread owns one pod key (<namespace>/<name>) from the first time the pod is seen
bound to this node until it is gone: it gets the pod's ServiceAccount token and makes the network
once the annotations allow (agent_net) with the API server reachable in it (agent_apiserver),
runs the init containers, then starts the containers (agent_run) with the downward-API env, restarts
them by `restartPolicy`, reports the pod's status through the status subresource whenever it
changes, and tears everything down when the pod is deleted, is being deleted, or is bound to
another node.

Invariants:
- Only this thread starts or stops the pod's processes and makes or removes its network; the
  exec endpoint only reads `netns`, `containers` and `log_dir`.
- A status is sent only when it differs from the last one sent (timestamps are kept stable).
- Restart back-off: 0.5 s, doubled per restart, at most 5 s (a kubelet's is 10 s .. 5 min;
  shorter here so tests see restarts quickly). Termination grace: min(the pod's
  terminationGracePeriodSeconds, 2) s.
- A container's instances outlive no agent: the process is tied to its worker thread
  (`setpriv --pdeathsig KILL`, so that no container is ever left behind by a dead agent) and a
  stopping agent stops them. A worker that finds in the pod's status that containers of this
  pod (same uid) already ran, under an earlier agent of the node, continues from there as
  kubelet does after a node reboot: restartCount + 1, lastState terminated with reason Unknown
  and exit code 255 (what the old agent saw is not known), started again at once; a container
  that had terminated for good by its restartPolicy stays so.
- Init containers (`spec.initContainers`) as kubelet runs them: in order, each to completion (exit
  0) before the next and before any container starts; one that fails is started again after the
  back-off unless `restartPolicy` is Never, which fails the pod (phase Failed, the containers
  never start). Until all have succeeded the pod is Pending (podIP set: the sandbox exists), its
  `Initialized` condition False, its containers waiting in `PodInitializing`. They run once per
  sandbox: a worker that reuses the sandbox an earlier agent of the node left (the agent
  restarted, not the node) does not run them again when the pod's status says they all
  succeeded or a container ran (kubelet's findNextInitContainerToRun: the runtime still holds
  their exited records); in a new sandbox (a reboot) they run again from the first,
  restartCount + 1 for each that ran before. A pod whose containers all ended for good is not
  initialised again.
- Exit codes as a container runtime reports them: a process killed by signal N exits 128 + N.
  A kill asked through the exec endpoint (`POST /kill`, what an OOM kill does: SIGKILL to the
  container's process group) is done by this thread and reported with the reason asked
  (`OOMKilled`), exit code 137.
"""
import os
import shutil
import threading
import time
import traceback

import agent_apiserver
import agent_kube
import agent_net
import agent_run

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 5.0
GRACE_MAX = 2.0
TICK = 0.1
RETRY = 1.0  # s between tries of a pod still waiting, when it does not change


def now_ts(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


class Container:
    def __init__(self, spec):
        self.spec = spec
        self.name = spec.get("name") or "main"
        self.proc = None
        self.started = None      # unix time of the running instance
        self.restarts = 0
        self.last = None         # {"exitCode", "startedAt", "finishedAt"} of the last instance
        self.next_start = 0.0
        self.done = False        # terminated for good (restartPolicy says so)
        self.id = 0
        self.kill_reason = None  # a kill asked by /kill, until this worker did it
        self.killed = None       # reason of the kill done on the running instance

    def succeeded(self):
        """Terminated for good with exit code 0 (an init container that completed)."""
        return self.done and self.last is not None and self.last["exitCode"] == 0


def exit_code(returncode):
    """Popen's returncode (-N: killed by signal N) as a container runtime reports it."""
    return 128 - returncode if returncode < 0 else returncode


def restart_wanted(policy, code):
    if policy == "Never":
        return False
    if policy == "OnFailure":
        return code != 0
    return True  # Always (the default)


def terminated(last):
    """A containerStatus' terminated state from a Container's `last`."""
    reason = last.get("reason") or ("Completed" if last["exitCode"] == 0 else "Error")
    return dict(last, reason=reason)


class PodWorker(threading.Thread):
    def __init__(self, agent, key, pod):
        super().__init__(name="pod " + key, daemon=True)
        self.agent = agent
        self.key = key
        self.namespace, self.pod_name = key.split("/", 1)
        self.latest = pod
        self.uid = (pod.get("metadata") or {}).get("uid")
        self.seen = time.time()
        self.wake = threading.Event()
        self.wake.set()  # the first step runs at once
        self.lock = threading.Lock()
        self.netns = None
        self.containers = []
        self.inits = []          # the init containers, in order
        self.initialized = False  # every init container succeeded (in this sandbox)
        self.log_dir = os.path.join(agent.pods_dir, "%s_%s" % (self.namespace, self.pod_name))
        self.waiting = "waiting for the network"
        self.sent = None
        self.conds = {}
        self.start_time = None
        self.stopping = False
        self.changed = True      # the pod changed since the network was last tried
        self.next_try = 0.0      # else retry (a NAD may have appeared) from then on
        self.relay = None        # the API server at 127.0.0.1:<port> in the pod's namespace
        self.creds = None        # the ServiceAccount token directory (None: not mounted)
        self.pod_ips = []

    # -- called by the watcher --
    def update(self, pod):
        with self.lock:
            self.latest = pod
            self.changed = True
        self.wake.set()

    def stop(self):
        self.stopping = True
        self.wake.set()

    # -- the loop --
    def run(self):
        try:
            while True:
                self.wake.wait(TICK)
                self.wake.clear()
                with self.lock:
                    pod = self.latest
                    changed, self.changed = self.changed, False
                if self.stopping or not self._mine(pod):
                    break
                try:
                    self._step(pod, changed)
                except Exception:
                    self.agent.log("pod %s: %s" % (self.key, traceback.format_exc()))
                    time.sleep(0.5)
        finally:
            self._teardown(network=not self.stopping)
            self.agent.worker_done(self.key, self)

    def _mine(self, pod):
        if pod is None:
            return False
        return self.agent.is_mine(pod) and (pod.get("metadata") or {}).get("uid") == self.uid

    def _step(self, pod, changed):
        if self.netns is None and (changed or time.time() >= self.next_try):
            self._network(pod)
        if self.netns is not None:
            if self.creds is not None and self.creds.due():
                try:
                    self._refresh_token(pod)
                except (agent_kube.KubeError, OSError, KeyError) as e:
                    self.agent.log("pod %s: renewing the ServiceAccount token: %s" % (self.key, e))
                    self.creds.renew_at = time.time() + RETRY
            self._supervise(pod)
        self._report(pod)

    def _refresh_token(self, pod):
        spec = pod.get("spec") or {}
        self.creds.refresh(self.namespace, self.pod_name, self.uid, spec.get("serviceAccountName") or "default")

    def _credentials(self, pod):
        """The token directory when the pod mounts its ServiceAccount's token, else None.
        Raises NotReady while the account or its token cannot be had."""
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        try:
            sa = self.agent.kube.get("/api/v1/namespaces/%s/serviceaccounts/%s" % (self.namespace, account))
        except agent_kube.KubeError as e:
            raise agent_net.NotReady("ServiceAccount %s: %s" % (account, e))
        if not agent_apiserver.automount(pod, sa):
            return None
        creds = agent_apiserver.Credentials(self.agent.kube, self.agent.kube_ca, self.log_dir)
        try:
            creds.refresh(self.namespace, self.pod_name, self.uid, account)
        except (agent_kube.KubeError, KeyError) as e:
            raise agent_net.NotReady("ServiceAccount %s: token: %s" % (account, e))
        return creds

    def _network(self, pod):
        md = pod.get("metadata") or {}
        ann = md.get("annotations") or {}
        try:
            eth0 = agent_net.eth0_config(ann)
            legs = []
            for ns, name, ifname in agent_net.parse_networks(ann.get(agent_net.NETWORKS), self.namespace):
                try:
                    nad = self.agent.kube.get(agent_kube.nad_path(ns, name))
                except agent_kube.KubeError as e:
                    raise agent_net.NotReady("NetworkAttachmentDefinition %s/%s: %s" % (ns, name, e))
                legs.append(agent_net.attachment_config(nad, ns, name, ifname, ann, self.agent.node.ext_nic))
            os.makedirs(self.log_dir, exist_ok=True)
            self.creds = self._credentials(pod)
        except agent_net.NotReady as e:
            self.waiting = str(e)
            self.next_try = time.time() + RETRY
            return
        t0 = time.time()
        reused = agent_net.netns_exists(agent_net.netns_name(self.agent.node.prefix, self.namespace, self.pod_name))
        try:
            self.netns = self.agent.node.setup(self.namespace, self.pod_name, eth0, legs, self.uid or "")
        except agent_net.SetupError as e:
            self.waiting = "network setup failed: %s" % e
            self.agent.log("pod %s: %s" % (self.key, self.waiting))
            self.agent.node.teardown(self.namespace, self.pod_name)
            time.sleep(1.0)
            return
        try:
            self.relay = agent_apiserver.Relay(self.netns, self.agent.kube_url, self.agent.log)
        except OSError as e:
            self.waiting = "the API server in the pod's namespace: %s" % e
            self.agent.log("pod %s: %s" % (self.key, self.waiting))
            self.agent.node.teardown(self.namespace, self.pod_name)
            self.netns = None
            time.sleep(1.0)
            return
        self.waiting = None
        self.pod_ips = [ip for ip, _ in eth0["addrs"]]
        self.containers = [Container(c) for c in (pod.get("spec") or {}).get("containers") or []]
        self.inits = [Container(c) for c in (pod.get("spec") or {}).get("initContainers") or []]
        self._resume(pod)
        self._resume_inits(pod, reused)
        self.start_time = time.time()
        if ann.get(agent_net.NETNS_ANNOTATION) != self.netns:
            try:
                self.agent.kube.merge_patch(agent_kube.pod_path(self.namespace, self.pod_name),
                                            {"metadata": {"annotations": {agent_net.NETNS_ANNOTATION: self.netns}}})
            except agent_kube.KubeError as e:
                self.agent.log("pod %s: annotating the netns: %s" % (self.key, e))
        self.agent.log("pod %s: network up in %s (setup %.0f ms, %.0f ms after the pod was seen)"
                       % (self.key, self.netns, (time.time() - t0) * 1000, (time.time() - self.seen) * 1000))

    def _resume(self, pod):
        """Containers of this pod an earlier agent of the node ran (the pod's status says so):
        continue their count (see the invariants)."""
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        before = {cs.get("name"): cs for cs in (pod.get("status") or {}).get("containerStatuses") or []}
        for c in self.containers:
            cs = before.get(c.name) or {}
            state = cs.get("state") or {}
            term = state.get("terminated")
            if not (cs.get("containerID") or cs.get("restartCount") or term or (cs.get("lastState") or {}).get("terminated")):
                continue  # never ran
            c.restarts = int(cs.get("restartCount") or 0)
            if term is not None and not restart_wanted(policy, int(term.get("exitCode") or 0)):
                c.done = True
                c.last = {k: term.get(k) for k in ("exitCode", "startedAt", "finishedAt", "reason")}
                continue
            c.restarts += 1
            c.id = c.restarts  # containerIDs go on from the earlier agent's
            started = (state.get("running") or {}).get("startedAt") or (term or {}).get("startedAt")
            c.last = {"exitCode": 255, "startedAt": started, "finishedAt": now_ts(), "reason": "Unknown"}
            self.agent.log("pod %s: container %s ran under an earlier agent: restartCount %d"
                           % (self.key, c.name, c.restarts))

    def _resume_inits(self, pod, reused):
        """Whether the init containers run in this sandbox (see the invariants): not when an
        earlier agent's sandbox is reused and they had all succeeded or a container had run,
        nor when every container ended for good; else from the first, each that ran before
        with restartCount + 1."""
        st = pod.get("status") or {}
        before = {cs.get("name"): cs for cs in st.get("initContainerStatuses") or []}
        term = lambda cs: (cs.get("state") or {}).get("terminated")  # noqa: E731
        all_ok = bool(self.inits) and all(term(before.get(c.name) or {}) is not None
                                          and int(term(before[c.name]).get("exitCode") or 0) == 0 for c in self.inits)
        ran = any((cs.get("state") or {}).get("running") for cs in st.get("containerStatuses") or [])
        ended = bool(self.containers) and all(c.done for c in self.containers)
        if not self.inits or ended or (reused and (all_ok or ran)):
            self.initialized = True
            for c in self.inits:
                cs = before.get(c.name) or {}
                c.restarts = int(cs.get("restartCount") or 0)
                t = term(cs) or {}
                c.last = {"exitCode": int(t.get("exitCode") or 0), "startedAt": t.get("startedAt"),
                          "finishedAt": t.get("finishedAt"), "reason": t.get("reason") or "Completed"}
                c.done = True
            return
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        for c in self.inits:
            cs = before.get(c.name) or {}
            state = cs.get("state") or {}
            t = state.get("terminated")
            if not (cs.get("containerID") or cs.get("restartCount") or t or (cs.get("lastState") or {}).get("terminated")):
                continue  # never ran
            c.restarts = int(cs.get("restartCount") or 0)
            if t is not None and int(t.get("exitCode") or 0) != 0 and policy == "Never":
                c.done = True  # failed for good: the pod stays Failed
                c.last = {k: t.get(k) for k in ("exitCode", "startedAt", "finishedAt", "reason")}
                continue
            c.restarts += 1
            c.id = c.restarts
            if t is not None:
                c.last = {k: t.get(k) for k in ("exitCode", "startedAt", "finishedAt", "reason")}
            else:
                started = (state.get("running") or {}).get("startedAt")
                c.last = {"exitCode": 255, "startedAt": started, "finishedAt": now_ts(), "reason": "Unknown"}
            self.agent.log("pod %s: init container %s ran before (%s sandbox): run again, restartCount %d"
                           % (self.key, c.name, "the same" if reused else "a new", c.restarts))

    def kill(self, name, reason, timeout=5.0):
        """Asks this worker to SIGKILL container `name`'s process group (an OOM kill); returns
        the killed pid once done, None when it was not running."""
        c = self.container(name)
        if c is None or c.proc is None:
            return None
        pid = c.proc.pid
        c.kill_reason = reason
        self.wake.set()
        deadline = time.time() + timeout
        while c.kill_reason is not None and time.time() < deadline:
            time.sleep(0.02)
        return pid

    def container(self, name):
        """The container or init container called `name`, or None."""
        return next((c for c in self.containers + self.inits if c.name == name), None)

    def log_path(self, c, previous=False):
        return os.path.join(self.log_dir, c.name + ".log" + (".prev" if previous else ""))

    def _supervise_inits(self, policy, now):
        """Runs the init containers in order; sets `initialized` once all succeeded."""
        for c in self.inits:
            if c.succeeded():
                continue
            if c.done:
                return  # failed for good (restartPolicy Never): the pod is Failed
            if c.proc is not None and c.kill_reason is not None:
                agent_run.kill_group_now(c.proc)
                c.killed, c.kill_reason = c.kill_reason, None
            if c.proc is not None:
                code = c.proc.poll()
                if code is None:
                    return
                code = exit_code(code)
                c.last = {"exitCode": code, "startedAt": now_ts(c.started), "finishedAt": now_ts(now)}
                if c.killed:
                    c.last["reason"] = c.killed
                c.killed = None
                c.proc = None
                if code == 0:
                    c.done = True
                    self.agent.log("pod %s: init container %s completed" % (self.key, c.name))
                    continue
                if policy == "Never":
                    c.done = True
                    self.agent.log("pod %s: init container %s failed (exit %d): the pod failed" % (self.key, c.name, code))
                    return
                c.next_start = now + min(BACKOFF_FIRST * (2 ** c.restarts), BACKOFF_MAX)
                c.restarts += 1
                return
            if now >= c.next_start:
                self._start(c)
            return
        self.initialized = True

    def _supervise(self, pod):
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        now = time.time()
        if not self.initialized:
            self._supervise_inits(policy, now)
            if not self.initialized:
                return
        for c in self.containers:
            if c.proc is not None and c.kill_reason is not None:
                agent_run.kill_group_now(c.proc)
                c.killed, c.kill_reason = c.kill_reason, None
            if c.proc is not None:
                code = c.proc.poll()
                if code is None:
                    continue
                code = exit_code(code)
                c.last = {"exitCode": code, "startedAt": now_ts(c.started), "finishedAt": now_ts(now)}
                if c.killed:
                    c.last["reason"] = c.killed
                c.killed = None
                c.proc = None
                if restart_wanted(policy, code):
                    c.next_start = now + min(BACKOFF_FIRST * (2 ** c.restarts), BACKOFF_MAX)
                    c.restarts += 1
                else:
                    c.done = True
            if c.proc is None and not c.done and now >= c.next_start:
                self._start(c)

    def _start(self, c):
        cur = self.log_path(c)
        if os.path.exists(cur):
            os.replace(cur, self.log_path(c, previous=True))
        argv = agent_run.container_argv(c.spec, self.pod_name)
        c.started = time.time()
        c.id += 1
        env, sa_dir, caps = self.launch(c)
        try:
            c.proc = agent_run.spawn(self.netns, argv, env, cur, sa_dir=sa_dir, caps=caps)
        except OSError as e:
            with open(cur, "a") as f:
                f.write("agent: cannot start %s: %s\n" % (argv, e))
            c.last = {"exitCode": 127, "startedAt": now_ts(c.started), "finishedAt": now_ts()}
            c.next_start = time.time() + BACKOFF_MAX
            c.restarts += 1

    def launch(self, c):
        """(env, token directory or "", CAPS) of container c, for its processes and its execs."""
        with self.lock:
            pod = self.latest or {}
        env = agent_run.container_env(c.spec, pod, self.agent.host_ip, self.pod_ips,
                                      agent_apiserver.service_env(self.relay) if self.relay else None)
        return env, self.creds.dir if self.creds else "", agent_run.capabilities(c.spec)

    # -- status --
    def _cond(self, t, status, reason=None, message=None):
        old = self.conds.get(t)
        if old is None or old[0] != status:
            self.conds[t] = (status, now_ts())
        s, ts = self.conds[t]
        cond = {"type": t, "status": s, "lastProbeTime": None, "lastTransitionTime": ts}
        if reason:
            cond.update(reason=reason, message=message)
        return cond

    def _initialized_cond(self, pending):
        """The `Initialized` condition; `pending`: the init containers not yet succeeded."""
        if not pending:
            return self._cond("Initialized", "True")
        return self._cond("Initialized", "False", "ContainersNotInitialized",
                          "containers with incomplete status: [%s]" % " ".join(pending))

    def _init_status(self, c):
        """An initContainerStatus: ready once it succeeded, started while it runs."""
        st = self._container_status(c)
        st["ready"] = c.succeeded()
        if c.proc is None and not c.done and c.last is None:
            st["state"] = {"waiting": {"reason": "PodInitializing"}}
        return st

    def _container_status(self, c):
        image = c.spec.get("image") or ""
        st = {"name": c.name, "image": image, "imageID": "testbed://" + image, "restartCount": c.restarts,
              "ready": False, "started": False, "lastState": {}}
        if c.proc is not None:
            st["state"] = {"running": {"startedAt": now_ts(c.started)}}
            st["ready"] = st["started"] = True
            st["containerID"] = "testbed://%s/%s/%d" % (self.key, c.name, c.id)
        elif c.done:
            st["state"] = {"terminated": terminated(c.last)}
        elif c.last is not None:
            st["state"] = {"waiting": {"reason": "CrashLoopBackOff",
                                       "message": "back-off restarting container %s" % c.name}}
        else:
            st["state"] = {"waiting": {"reason": "ContainerCreating"}}
        if c.last is not None and not c.done:
            st["lastState"] = {"terminated": terminated(c.last)}
        return st

    def status(self, pod):
        spec = pod.get("spec") or {}
        st = {"hostIP": self.agent.host_ip, "hostIPs": [{"ip": self.agent.host_ip}] if self.agent.host_ip else []}
        inits = spec.get("initContainers") or []
        if self.netns is None:
            # kubelet's before the sandbox: ContainerCreating, or PodInitializing behind init containers
            waiting = {"reason": "PodInitializing"} if inits else \
                {"reason": "ContainerCreating", "message": self.waiting or ""}
            blank = lambda c, w: {"name": c.get("name"), "image": c.get("image") or "", "imageID": "",  # noqa: E731
                                  "restartCount": 0, "ready": False, "started": False, "lastState": {},
                                  "state": {"waiting": dict(w)}}
            cs = [blank(c, waiting) for c in spec.get("containers") or []]
            st.update(phase="Pending", podIP=None, podIPs=None, startTime=None, reason=None, message=self.waiting,
                      containerStatuses=cs,
                      conditions=[self._cond("PodScheduled", "True"),
                                  self._initialized_cond([c.get("name") for c in inits]),
                                  self._cond("ContainersReady", "False"), self._cond("Ready", "False")])
            if inits:
                st["initContainerStatuses"] = [blank(c, {"reason": "PodInitializing"}) for c in inits]
            return st
        ips = [ip for ip, _ in agent_net.eth0_config((pod.get("metadata") or {}).get("annotations") or {})["addrs"]]
        cs = [self._container_status(c) for c in self.containers]
        pending = [] if self.initialized else [c.name for c in self.inits if not c.succeeded()]
        if not self.initialized:
            for c, s in zip(self.containers, cs):
                if not c.done:
                    s["state"] = {"waiting": {"reason": "PodInitializing"}}
        ready = self.initialized and bool(cs) and all(c["ready"] for c in cs)
        if not self.initialized:
            phase = "Failed" if any(c.done for c in self.inits if not c.succeeded()) else "Pending"
        elif self.containers and all(c.done for c in self.containers):
            phase = "Succeeded" if all(c.last["exitCode"] == 0 for c in self.containers) else "Failed"
            ready = False
        else:
            phase = "Running"
        st.update(phase=phase, podIP=ips[0], podIPs=[{"ip": ip} for ip in ips], startTime=now_ts(self.start_time),
                  reason=None, message=None, containerStatuses=cs,
                  conditions=[self._cond("PodScheduled", "True"), self._initialized_cond(pending),
                              self._cond("ContainersReady", "True" if ready else "False"),
                              self._cond("Ready", "True" if ready else "False")])
        if self.inits:
            st["initContainerStatuses"] = [self._init_status(c) for c in self.inits]
        return st

    def _report(self, pod):
        st = self.status(pod)
        if st == self.sent:
            return
        try:
            self.agent.kube.merge_patch(agent_kube.pod_path(self.namespace, self.pod_name, "status"), {"status": st})
            self.sent = st
        except agent_kube.KubeError as e:
            if e.code != 404:
                self.agent.log("pod %s: status: %s" % (self.key, e))
        except OSError as e:
            self.agent.log("pod %s: status: %s" % (self.key, e))

    # -- the end --
    def _teardown(self, network=True):
        grace = min(float(((self.latest or {}).get("spec") or {}).get("terminationGracePeriodSeconds") or 30),
                    GRACE_MAX)
        for c in self.inits + self.containers:
            if c.proc is not None:
                agent_run.kill(c.proc, grace)
                c.proc = None
        if self.relay is not None:
            self.relay.close()
            self.relay = None
        if network:
            self.agent.node.teardown(self.namespace, self.pod_name)
            shutil.rmtree(self.log_dir, ignore_errors=True)
            self.agent.log("pod %s: torn down" % self.key)
        self.netns = None
