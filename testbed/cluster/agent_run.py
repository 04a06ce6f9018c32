"""agent_run.py: a pod's containers as processes of the host, run inside the pod's namespace.

The image is only a name (testbed/README.md "Node agent" has the map):
1. command+args starting with `ovn-vpcd` -> this build's binary ($OVN_VPCD_BIN, default
   target/debug/ovn-vpcd of the repository) with the rest of the arguments;
2. an image whose last path element starts with `nginx` and no command (or the command
   `nginx ...`) -> testbed/cluster/web.py serving a page on :80;
3. any other command+args -> run as given (args alone when there is no command);
4. nothing given -> `sleep infinity`.

Invariants: every process is started as `setpriv --pdeathsig KILL -- ip netns exec NS sh
container.sh SA_DIR CAPS ARGV` (container.sh: the ServiceAccount token mounted at
/var/run/secrets/kubernetes.io/serviceaccount in the process's own mount namespace, the
capabilities of `securityContext`) in a session of its own (so it dies with the agent thread that started it, and a stop kills
its whole process group); its stdout and stderr go to one log file per container instance
(<container>.log; the previous instance's is <container>.log.prev).
"""
import os
import re
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"
WEB_PY = os.path.join(HERE, "web.py")
CONTAINER_SH = os.path.join(HERE, "container.sh")
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def vpcd_bin():
    b = os.environ.get("OVN_VPCD_BIN") or os.path.join(REPO, "target", "debug", "ovn-vpcd")
    return b


def image_base(image):
    """`docker.io/library/nginx:1.25@sha256:...` -> `nginx`."""
    last = (image or "").split("/")[-1]
    return last.split("@")[0].split(":")[0]


def container_argv(c, pod_name):
    """The host command line of container `c` (its spec), by the map above."""
    command = [str(x) for x in c.get("command") or []]
    args = [str(x) for x in c.get("args") or []]
    full = command + args
    if full and os.path.basename(full[0]) == "ovn-vpcd":
        return [vpcd_bin()] + full[1:]
    if image_base(c.get("image")).startswith("nginx") and (not command or os.path.basename(command[0]) == "nginx"):
        return [PY, WEB_PY, "--port=80", "--name=%s" % pod_name]
    if full:
        return full
    return ["sleep", "infinity"]


def field_value(path, pod, host_ip, pod_ips):
    """A downward-API `fieldRef.fieldPath` of pod, or None when it is not one kubelet serves."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if m:
        return (md.get(m.group(1)) or {}).get(m.group(2), "")
    simple = {"metadata.name": md.get("name"), "metadata.namespace": md.get("namespace"),
              "metadata.uid": md.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName"), "status.hostIP": host_ip,
              "status.hostIPs": host_ip, "status.podIP": pod_ips[0] if pod_ips else "",
              "status.podIPs": ",".join(pod_ips)}
    if path not in simple:
        return None
    return simple[path] or ""


def container_env(c, pod=None, host_ip="", pod_ips=(), service=None):
    """A container's environment as kubelet makes it: the `kubernetes` Service's variables
    (`service`), then `env[]` in order: `value`, or `valueFrom.fieldRef` (field_value)."""
    env = {"PATH": HOST_PATH, "HOME": "/root", "HOSTNAME": ""}
    env.update(service or {})
    for e in c.get("env") or []:
        if "name" not in e:
            continue
        if "value" in e:
            env[e["name"]] = str(e["value"])
            continue
        ref = (e.get("valueFrom") or {}).get("fieldRef")
        if ref and pod is not None:
            v = field_value(ref.get("fieldPath") or "", pod, host_ip, list(pod_ips))
            if v is not None:
                env[e["name"]] = v
    return env


# the capabilities a container runtime (containerd, CRI-O) gives a container by default
DEFAULT_CAPS = ("audit_write", "chown", "dac_override", "fowner", "fsetid", "kill", "mknod", "net_bind_service",
                "net_raw", "setfcap", "setgid", "setpcap", "setuid", "sys_chroot")


def _cap(name):
    n = str(name).strip().lower()
    return n[4:] if n.startswith("cap_") else n


def capabilities(c):
    """container.sh's CAPS for container spec c: `all` when privileged or when it names no
    capabilities (the testbed's processes are root on the host and keep every capability: a pod
    that does not ask is not restricted), else the runtime's defaults, `add` (ALL = every
    capability) then `drop` (ALL = none), as containerd applies them: `only:<list>`, or
    `all-but:<list>` after an `add: [ALL]`."""
    sc = c.get("securityContext") or {}
    caps = sc.get("capabilities")
    if sc.get("privileged") or not caps:
        return "all"
    add = [_cap(x) for x in caps.get("add") or []]
    drop = [_cap(x) for x in caps.get("drop") or []]
    if "all" in add and "all" not in drop:
        return "all-but:" + ",".join(sorted(set(drop))) if drop else "all"
    have = set() if "all" in drop else set(DEFAULT_CAPS)
    have |= {x for x in add if x != "all"}
    have -= set(drop)
    return "only:" + ",".join(sorted(have))


def exec_argv(cmd):
    """`kubectl exec` commands run as given, `ovn-vpcd` mapped like a container's."""
    if cmd and os.path.basename(cmd[0]) == "ovn-vpcd":
        return [vpcd_bin()] + list(cmd[1:])
    return list(cmd)


def spawn(netns, argv, env, log_path=None, pipes=False, sa_dir="", caps="all"):
    """Start argv in netns through container.sh (the token mount, the capabilities); output to
    log_path (append) or to pipes."""
    full = ["setpriv", "--pdeathsig", "KILL", "--", "ip", "netns", "exec", netns, "sh", CONTAINER_SH, sa_dir or "",
            caps] + argv
    if pipes:
        return subprocess.Popen(full, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, cwd="/")
    with open(log_path, "ab") as out:
        return subprocess.Popen(full, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd="/")


def kill(proc, grace):
    """TERM the process group, KILL after `grace` seconds; reaps it."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.time() + grace
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the rest of the group too
    except ProcessLookupError:
        pass
    return proc.wait()


def kill_group_now(proc):
    """SIGKILL the process group at once (what the kernel's OOM killer and the runtime then do
    to a container); reaps it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc.wait()
