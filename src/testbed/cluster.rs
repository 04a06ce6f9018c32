//! A testbed cluster with a real dataplane (`testbed/cluster.sh`): OVN
//! central, N chassis with geneve between them, the testbed API server with
//! one Node per chassis and a node agent per node that turns pods into
//! network namespaces. Started in a scratch directory, stopped on drop.
//!
//! Invariants: `start` returns a cluster whose `cluster.sh start` succeeded
//! (else an error carrying its output: a test fails, it never skips); drop
//! runs `cluster.sh stop DIR`, which ends exactly what start started, by pid.
//! A process a test starts in a pod's namespace ([`Cluster::spawn_in_pod`])
//! is the test's to end (a [`PodProcess`] kills its own pid on drop).
//! [`Cluster::restart_node`] and [`Cluster::kill_container`] do to a node or
//! a container what a restart, a reboot or an OOM kill does; the node agent
//! brings the pods back by itself (`testbed/README.md`, "restart-node").

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{run, testbed_dir, TestbedError};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One running cluster.
pub struct Cluster {
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Cluster {
    /// `cluster.sh start DIR --nodes N` in a fresh short directory (unix
    /// socket paths: cluster.sh takes at most 70 bytes).
    pub fn start(nodes: u32) -> Result<Cluster, TestbedError> {
        let dir = PathBuf::from(format!("/tmp/vcl{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&dir);
        let mut c = Command::new(testbed_dir().join("cluster.sh"));
        c.arg("start").arg(&dir).args(["--nodes", &nodes.to_string()]);
        // From here on a failed start is stopped by cluster.sh itself; a
        // half-made Cluster is still dropped (stop is safe on any DIR).
        let mut cluster = Cluster { dir, env: HashMap::new() };
        run(&mut c)?;
        let text = std::fs::read_to_string(cluster.dir.join("env"))
            .map_err(|source| TestbedError::Spawn { cmd: "read cluster env".into(), source })?;
        cluster.env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .collect();
        Ok(cluster)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A key of `DIR/env` (`OVN_NB_DB`, `KUBECONFIG`, `NODE_1_NAME`, ...).
    pub fn get(&self, key: &str) -> Result<&str, TestbedError> {
        self.env.get(key).map(String::as_str).ok_or_else(|| TestbedError::MissingKey(key.into()))
    }
    pub fn nb_db(&self) -> &str {
        self.get("OVN_NB_DB").expect("OVN_NB_DB")
    }
    pub fn kubeconfig(&self) -> PathBuf {
        PathBuf::from(self.get("KUBECONFIG").expect("KUBECONFIG"))
    }
    /// The node names, `node-1 node-2 ...`.
    pub fn nodes(&self) -> Vec<String> {
        self.get("NODES").expect("NODES").split_whitespace().map(str::to_string).collect()
    }

    fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.join("kubecache"))
            .arg("--request-timeout=20s")
            .args(args);
        c
    }

    /// Debian's kubectl against the cluster's API server.
    pub fn kubectl(&self, args: &[&str]) -> Result<String, TestbedError> {
        run(&mut self.kubectl_cmd(args))
    }

    /// kubectl with `input` on its stdin (`apply -f -`).
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Result<String, TestbedError> {
        let mut c = self.kubectl_cmd(args);
        let name = format!("{c:?}");
        let spawn = |source| TestbedError::Spawn { cmd: name.clone(), source };
        let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(spawn)?;
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).map_err(spawn)?;
        let out = child.wait_with_output().map_err(spawn)?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(TestbedError::Failed {
                cmd: name,
                status: out.status.to_string(),
                output: format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(text)
    }

    /// `ovn-nbctl --db=OVN_NB_DB args...`.
    pub fn nbctl(&self, args: &[&str]) -> Result<String, TestbedError> {
        let mut c = Command::new("ovn-nbctl");
        c.arg(format!("--db={}", self.nb_db())).arg("--timeout=20").args(args);
        run(&mut c)
    }

    /// The network namespace the node agent made for a pod (its annotation
    /// `testbed.ovn-vpcd/netns`), once the pod has one.
    pub fn pod_netns(&self, namespace: &str, pod: &str) -> Option<String> {
        let path = "jsonpath={.metadata.annotations.testbed\\.ovn-vpcd/netns}";
        let ns = self.kubectl(&["get", "pod", pod, "-n", namespace, "-o", path]).ok()?;
        let ns = ns.trim();
        (!ns.is_empty() && Path::new("/run/netns").join(ns).exists()).then(|| ns.to_string())
    }

    fn in_pod(&self, namespace: &str, pod: &str, cmd: &[&str]) -> Result<Command, TestbedError> {
        let ns = self
            .pod_netns(namespace, pod)
            .ok_or_else(|| TestbedError::MissingKey(format!("network namespace of pod {namespace}/{pod}")))?;
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &ns]).args(cmd);
        Ok(c)
    }

    /// Runs `cmd` in the pod's network namespace (`ip netns exec`), to the
    /// end; its output whatever its exit status.
    pub fn exec_in_pod(&self, namespace: &str, pod: &str, cmd: &[&str]) -> Result<Output, TestbedError> {
        let mut c = self.in_pod(namespace, pod, cmd)?;
        let name = format!("{c:?}");
        c.output().map_err(|source| TestbedError::Spawn { cmd: name, source })
    }

    /// Starts `cmd` in the pod's network namespace, its stdout and stderr
    /// into `log`; killed (by its pid) when the handle drops.
    pub fn spawn_in_pod(
        &self,
        namespace: &str,
        pod: &str,
        cmd: &[&str],
        log: &Path,
    ) -> Result<PodProcess, TestbedError> {
        let mut c = self.in_pod(namespace, pod, cmd)?;
        let name = format!("{c:?}");
        let spawn = |source| TestbedError::Spawn { cmd: name.clone(), source };
        let out = std::fs::File::create(log).map_err(spawn)?;
        let err = out.try_clone().map_err(spawn)?;
        let child = c.stdin(Stdio::null()).stdout(out).stderr(err).spawn().map_err(spawn)?;
        Ok(PodProcess { child, log: log.to_path_buf() })
    }

    /// `cluster.sh restart-node DIR I [--reboot]`: node `i` (1-based)
    /// restarted as a kubelet and Open vSwitch restart does (`reboot` false:
    /// the agent, ovs-vswitchd and ovn-controller stop and start, the pods'
    /// network namespaces stay, their containers start again with
    /// restartCount + 1), or rebooted (every process and pod namespace of
    /// the node gone, the vswitch database kept; the pods made anew from
    /// their Pod objects, same addresses, restartCount + 1). Returns once the
    /// chassis, the Node and every pod that ran on it are back, with the
    /// time it took (cluster.sh's own figure, `RESTART_MS=`).
    pub fn restart_node(&self, i: u32, reboot: bool) -> Result<Duration, TestbedError> {
        let mut c = Command::new(testbed_dir().join("cluster.sh"));
        c.arg("restart-node").arg(&self.dir).arg(i.to_string());
        if reboot {
            c.arg("--reboot");
        }
        let name = format!("{c:?}");
        let out = run(&mut c)?;
        out.lines()
            .find_map(|l| l.strip_prefix("RESTART_MS=")?.trim().parse().ok())
            .map(Duration::from_millis)
            .ok_or_else(|| TestbedError::Failed { cmd: name, status: "no RESTART_MS= line".into(), output: out })
    }

    /// Kills a running container of a pod as an OOM kill does (SIGKILL to
    /// its process group, through its node agent's `POST /kill`); the agent
    /// restarts it by the pod's restartPolicy, restartCount + 1, lastState
    /// terminated `OOMKilled` with exit code 137. Returns the killed pid.
    /// (`kubectl exec ... kill 1` is no substitute: a testbed pod has no pid
    /// namespace of its own, its pid 1 is the machine's.)
    pub fn kill_container(&self, namespace: &str, pod: &str, container: &str) -> Result<u32, TestbedError> {
        let node = self.kubectl(&["get", "pod", pod, "-n", namespace, "-o", "jsonpath={.spec.nodeName}"])?;
        let node = node.trim();
        let i = (1..=self.nodes().len())
            .find(|i| self.env.get(&format!("NODE_{i}_NAME")).map(String::as_str) == Some(node))
            .ok_or_else(|| TestbedError::MissingKey(format!("the node of pod {namespace}/{pod} ({node:?})")))?;
        let socket = self.dir.join(format!("n{i}")).join("agent.sock");
        let target = format!("/kill?namespace={namespace}&pod={pod}&container={container}&reason=OOMKilled");
        let (status, body) = agent_post(&socket, &target)?;
        let failed = |why: &str| TestbedError::Failed {
            cmd: format!("POST {target} on {}", socket.display()),
            status: status.clone(),
            output: format!("{why}{body}"),
        };
        if !status.starts_with("HTTP/1.1 200") && !status.starts_with("HTTP/1.0 200") {
            return Err(failed(""));
        }
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| failed(&format!("{e}: ")))?;
        v.get("pid").and_then(serde_json::Value::as_u64).map(|p| p as u32).ok_or_else(|| failed("no pid: "))
    }

    /// A daemon config file in DIR: no TOML tenants, the cluster's API
    /// server with a short lease (what `ovn-vpcd run --config` takes).
    pub fn daemon_config(&self, name: &str, identity: &str) -> PathBuf {
        let path = self.dir.join(name);
        let text = format!(
            "[kubernetes]\nkubeconfig = \"{}\"\nlease_namespace = \"default\"\nidentity = \"{identity}\"\n\
             lease_duration_seconds = 3\nrenew_deadline_seconds = 2\nretry_period_seconds = 1\n",
            self.kubeconfig().display()
        );
        std::fs::write(&path, text).expect("write daemon config");
        path
    }
}

/// One HTTP/1.1 POST without a body on a node agent's unix socket: (status
/// line, body). The agent answers with Content-Length and closes.
fn agent_post(socket: &Path, target: &str) -> Result<(String, String), TestbedError> {
    let io = |source| TestbedError::Spawn { cmd: format!("POST {target} on {}", socket.display()), source };
    let mut s = UnixStream::connect(socket).map_err(io)?;
    s.set_read_timeout(Some(Duration::from_secs(20))).map_err(io)?;
    write!(s, "POST {target} HTTP/1.1\r\nHost: agent\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").map_err(io)?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).map_err(io)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head.lines().next().unwrap_or_default().to_string();
    Ok((status, body.to_string()))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut c = Command::new(testbed_dir().join("cluster.sh"));
        c.arg("stop").arg(&self.dir);
        if let Err(e) = run(&mut c) {
            eprintln!("cluster stop failed: {e}");
        }
        if std::env::var_os("OVN_VPCD_KEEP_TESTBED").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A process a test runs in a pod's namespace (`tcpdump`, a DHCP client).
pub struct PodProcess {
    child: Child,
    log: PathBuf,
}

impl PodProcess {
    /// Takes over a process the caller spawned (writing into `log`).
    pub fn from_child(child: Child, log: &Path) -> PodProcess {
        PodProcess { child, log: log.to_path_buf() }
    }
    /// What it has written so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PodProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
