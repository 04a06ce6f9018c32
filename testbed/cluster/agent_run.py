"""agent_run.py: a pod's containers as processes of the host, run inside the pod's namespace.

The image is only a name (testbed/README.md "Node agent" has the map):
1. command+args starting with `ovn-vpcd` -> this build's binary ($OVN_VPCD_BIN, default
   target/debug/ovn-vpcd of the repository) with the rest of the arguments;
2. an image whose last path element starts with `nginx` and no command (or the command
   `nginx ...`) -> testbed/cluster/web.py serving a page on :80;
3. any other command+args -> run as given (args alone when there is no command);
4. nothing given -> `sleep infinity`.

Invariants: every process is started as `setpriv --pdeathsig KILL -- ip netns exec NS ARGV`
in a session of its own (so it dies with the agent thread that started it, and a stop kills
its whole process group); its stdout and stderr go to one log file per container instance
(<container>.log; the previous instance's is <container>.log.prev).
"""
import os
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"
WEB_PY = os.path.join(HERE, "web.py")
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


def container_env(c):
    env = {"PATH": HOST_PATH, "HOME": "/root", "HOSTNAME": ""}
    for e in c.get("env") or []:
        if "name" in e and "value" in e:
            env[e["name"]] = str(e["value"])
    return env


def exec_argv(cmd):
    """`kubectl exec` commands run as given, `ovn-vpcd` mapped like a container's."""
    if cmd and os.path.basename(cmd[0]) == "ovn-vpcd":
        return [vpcd_bin()] + list(cmd[1:])
    return list(cmd)


def spawn(netns, argv, env, log_path=None, pipes=False):
    """Start argv in netns; output to log_path (append) or to pipes."""
    full = ["setpriv", "--pdeathsig", "KILL", "--", "ip", "netns", "exec", netns] + argv
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
