//! The VPC NAT gateway under load, on a 2-node testbed cluster
//! (`ovn_vpcd::testbed::cluster::Cluster`) with the release daemon and the
//! release agent (the node agents run `OVN_VPCD_BIN` for the gateway's
//! `ovn-vpcd gateway nat` container), seed 003's tenant applied with kubectl
//! as `tests/nat_dataplane.rs` does.
//!
//! `cargo bench --bench nat` (run by `BENCH_FIGURES=nat testbed/bench.sh`).
//!
//! Set-up (untimed): the cluster, the CRDs, the daemon, seed 003 (VPC
//! mail263, subnet vmservers, the external network behind its macvlan NAD,
//! the gateway natgw with its SNAT and DNAT EIPs), the DNAT target pod `web`
//! (10.0.1.2, on the other node) and one more EIP, `eipbench`
//! ([`BENCH_EIP`]), ready.
//!
//! Figures (one line each, `name key: value unit`):
//! - `nat_1000_dnat`: [`RULES`] IptablesDnatRule objects on `eipbench`
//!   (externalPort 10000.., internalIp 10.0.1.2, internalPort 80) in ONE
//!   `kubectl apply` of a multi-document file: `apply_seconds` (kubectl's own
//!   run), `seconds_to_kernel` (from the apply's start until the gateway
//!   pod's `SHARED_DNAT` holds all of them, polled in the pod's namespace
//!   every 250 ms while kubectl runs and every 50 ms after it: the last
//!   rule cannot be there before its object exists), `seconds_to_ready`
//!   (until every object's status says ready, by list + watch), the
//!   daemon's, the agent's and the testbed API server's CPU over those
//!   spans (the agent's includes the tools it ran and waited for:
//!   iptables-save, iptables-restore, ip; `agent_own_cpu` excludes them),
//!   the agent's and the daemon's RSS after (`VmRSS`). The kernel's count
//!   over time is noted on stderr;
//! - `nat_kube_ovn_way` (`nat/peer.rs`): the peer, Kube-OVN's way: one
//!   `kubectl exec` of `iptables -t nat -A SHARED_DNAT ...` per rule;
//! - `nat_recovery_1000` (`nat/recovery.rs`): the gateway container killed
//!   (the daemon stopped) and the gateway pod deleted, until all rules are
//!   back.
//!
//! Every figure is checked: the kernel holds each rule exactly once, with
//! Kube-OVN's rule text.
//!
//! Env: `NAT_BENCH_RULES` (default 1000), `NAT_BENCH_PEER_RULES` (default
//! 200: one `kubectl exec` costs ~0.2-0.5 s here), `NAT_BENCH_CLUSTER_FILE`
//! (a file the cluster's directory is written to, so that `bench.sh` can stop
//! the cluster if this process is killed).

mod common;
#[path = "nat/peer.rs"]
mod peer;
#[path = "nat/recovery.rs"]
mod recovery;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use ovn_vpcd::kube::client::KubeClient;
use ovn_vpcd::testbed::cluster::Cluster;
use serde_json::Value as Json;
use tokio::runtime::Runtime;
use tokio::time::Instant;

const SEED_003: &str = include_str!("../tests/fixtures/seed-003.yaml");
const SEED_003_NAT: &str = include_str!("../tests/fixtures/seed-003-nat.yaml");

/// What seed 003 sets up around its YAML (as `tests/nat_dataplane.rs`): the
/// NAD of the external network on the chassis' `eth1` and the ConfigMaps
/// that enable the gateway.
const AROUND_003: &str = r#"
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: ovn-vpc-external-network, namespace: kube-system}
spec:
  config: '{"cniVersion": "0.3.0", "type": "macvlan", "master": "eth1", "mode": "bridge",
            "ipam": {"type": "kube-ovn", "server_socket": "/run/openvswitch/kube-ovn-daemon.sock",
                     "provider": "ovn-vpc-external-network.kube-system"}}'
---
kind: ConfigMap
apiVersion: v1
metadata: {name: ovn-vpc-nat-gw-config, namespace: kube-system}
data: {enable-vpc-nat-gw: "true"}
---
kind: ConfigMap
apiVersion: v1
metadata: {name: ovn-vpc-nat-config, namespace: kube-system}
data: {image: "docker.io/kubeovn/vpc-nat-gateway:v1.16.2"}
---
apiVersion: v1
kind: Namespace
metadata: {name: sukai263}
"#;

pub(crate) const GW_NS: &str = "kube-system";
pub(crate) const GW_POD: &str = "vpc-nat-gw-natgw-0";
pub(crate) const TENANT_NS: &str = "sukai263";
/// The EIP every benchmark rule uses (outside seed 003's excluded range and
/// its own EIPs .203 and .208).
pub(crate) const BENCH_EIP: &str = "172.16.3.230";
/// The DNAT target: the pod `web`.
pub(crate) const TARGET_IP: &str = "10.0.1.2";
pub(crate) const FIRST_PORT: u32 = 10_000;
const POLL: Duration = Duration::from_millis(50);
pub(crate) const LIMIT: Duration = Duration::from_secs(300);

pub(crate) fn figure(name: &str, key: &str, value: f64, unit: &str) {
    println!("{name} {key}: {value:.3} {unit}");
}

pub(crate) fn note(msg: impl AsRef<str>) {
    eprintln!("nat bench: {}", msg.as_ref());
}

fn env_count(var: &str, default: usize) -> Result<usize> {
    match std::env::var(var) {
        Ok(v) => v.parse().with_context(|| format!("{var}={v:?}")),
        Err(_) => Ok(default),
    }
}

/// The rule text the agent writes for DNAT `port` (and the peer writes by
/// hand), as `iptables -S` shows it.
pub(crate) fn dnat_rule(port: u32) -> String {
    format!("-A SHARED_DNAT -d {BENCH_EIP}/32 -p tcp -m tcp --dport {port} -j DNAT --to-destination {TARGET_IP}:80")
}

/// How many of `SHARED_DNAT`'s rules are for [`BENCH_EIP`] in netns `ns`
/// (0 while the chain does not exist); fails on a rule there twice.
pub(crate) fn bench_rules(ns: &str) -> Result<usize> {
    let out = Command::new("ip").args(["netns", "exec", ns, "iptables", "-t", "nat", "-S", "SHARED_DNAT"]).output()?;
    if !out.status.success() {
        return Ok(0);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("-A SHARED_DNAT -d {BENCH_EIP}/32 ");
    let mut ours: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    let n = ours.len();
    ours.sort_unstable();
    ours.dedup();
    ensure!(ours.len() == n, "a SHARED_DNAT rule twice in {ns}");
    Ok(n)
}

/// Fails unless netns `ns` holds exactly the `n` rules from [`FIRST_PORT`].
pub(crate) fn check_rules(ns: &str, n: usize) -> Result<()> {
    let out = Command::new("ip").args(["netns", "exec", ns, "iptables", "-t", "nat", "-S", "SHARED_DNAT"]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let have: std::collections::HashSet<&str> = text.lines().collect();
    for i in 0..n as u32 {
        let want = dnat_rule(FIRST_PORT + i);
        ensure!(have.contains(want.as_str()), "{ns}: missing {want}");
    }
    ensure!(bench_rules(ns)? == n, "{ns}: not exactly {n} rules for {BENCH_EIP}");
    Ok(())
}

/// utime + stime of `pid`, and of its waited-for children (cutime +
/// cstime), in seconds.
pub(crate) fn cpu_seconds(pid: u32, children: bool) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt,
    // cminflt, majflt, cmajflt, utime, stime, cutime, cstime (fields 3-17 of proc(5)).
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let own = tick(11) + tick(12);
    let waited = if children { tick(13) + tick(14) } else { 0 };
    (own + waited) as f64 / 100.0
}

/// `VmRSS` of `pid` in MiB.
pub(crate) fn rss_mb(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = text
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// The pid of the gateway agent among netns `ns`'s processes (one).
pub(crate) fn agent_pid(ns: &str) -> Option<u32> {
    let pids = Command::new("ip").args(["netns", "pids", ns]).output().ok()?;
    let agents: Vec<u32> = String::from_utf8_lossy(&pids.stdout)
        .split_whitespace()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).replace('\0', " ").contains("gateway nat --rules")
        })
        .filter_map(|p| p.parse().ok())
        .collect();
    (agents.len() == 1).then(|| agents[0])
}

/// Polls `f` every 50 ms until it answers; fails after `limit`.
pub(crate) fn poll<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if start.elapsed() > limit {
            bail!("{what}: not within {limit:?}");
        }
        std::thread::sleep(POLL);
    }
}

pub(crate) struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The running testbed: cluster, daemon, an API client.
/// Fields drop in order: the daemon stops before the cluster does.
pub(crate) struct Bed {
    pub(crate) daemon: Option<Daemon>,
    pub(crate) client: Arc<KubeClient>,
    pub(crate) rt: Runtime,
    pub(crate) bin: PathBuf,
    daemons: usize,
    pub(crate) cluster: Cluster,
}

impl Bed {
    pub(crate) fn kubectl(&self, args: &[&str]) -> Result<String> {
        self.cluster.kubectl(args).with_context(|| format!("kubectl {args:?}"))
    }

    pub(crate) fn apply(&self, yaml: &str) -> Result<()> {
        self.cluster.kubectl_stdin(&["apply", "-f", "-"], yaml).context("kubectl apply")?;
        Ok(())
    }

    pub(crate) fn get(&self, path: &str) -> Result<Json> {
        Ok(self.rt.block_on(self.client.get(path))?)
    }

    /// Starts the daemon and waits until it leads.
    pub(crate) fn start_daemon(&mut self) -> Result<()> {
        self.daemons += 1;
        let config = self.cluster.daemon_config("ovn-vpcd.toml", "nat-bench");
        let log = self.cluster.dir().join(format!("daemon-{}.log", self.daemons));
        let child = Command::new(&self.bin)
            .args(["run", "--config"])
            .arg(&config)
            .args(["--db", self.cluster.nb_db(), "--listen", ""])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        let daemon = Daemon { child, log };
        poll("the daemon leading", Duration::from_secs(30), || {
            Ok(std::fs::read_to_string(&daemon.log)?.contains("became leader").then_some(()))
        })?;
        self.daemon = Some(daemon);
        Ok(())
    }

    /// The testbed API server's pid (`DIR/kube/env`).
    pub(crate) fn apiserver_pid(&self) -> Result<u32> {
        let env = std::fs::read_to_string(self.cluster.dir().join("kube/env"))?;
        let pid = env.lines().find_map(|l| l.strip_prefix("KUBE_PID=")).context("KUBE_PID in kube/env")?;
        Ok(pid.trim().parse()?)
    }

    /// Waits until the daemon and the API server are idle (under 0.05 CPU-s
    /// each in a second), at most 60 s; returns how long that took.
    pub(crate) fn settle(&self) -> Result<f64> {
        let daemon = self.daemon.as_ref().context("the daemon")?.pid();
        let api = self.apiserver_pid()?;
        let start = Instant::now();
        let busy = |pid| cpu_seconds(pid, true);
        let (mut d0, mut a0) = (busy(daemon), busy(api));
        while start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_secs(1));
            let (d1, a1) = (busy(daemon), busy(api));
            if d1 - d0 < 0.05 && a1 - a0 < 0.05 {
                return Ok(start.elapsed().as_secs_f64());
            }
            (d0, a0) = (d1, a1);
        }
        note("the daemon or the API server still busy after 60 s");
        Ok(start.elapsed().as_secs_f64())
    }

    /// The daemon's WARN and ERROR lines so far (every daemon started).
    pub(crate) fn daemon_warnings(&self) -> Vec<String> {
        (1..=self.daemons)
            .flat_map(|n| {
                let text =
                    std::fs::read_to_string(self.cluster.dir().join(format!("daemon-{n}.log"))).unwrap_or_default();
                text.lines()
                    .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The pod, if it exists.
    pub(crate) fn pod(&self, ns: &str, name: &str) -> Option<Json> {
        self.get(&format!("/api/v1/namespaces/{ns}/pods/{name}")).ok()
    }

    /// The pod's uid and network namespace once it is Running with one.
    pub(crate) fn running(&self, ns: &str, name: &str) -> Option<(String, String)> {
        let pod = self.pod(ns, name)?;
        (pod["status"]["phase"] == "Running").then_some(())?;
        let netns = pod["metadata"]["annotations"]["testbed.ovn-vpcd/netns"].as_str()?;
        Path::new("/run/netns").join(netns).exists().then_some(())?;
        Some((pod["metadata"]["uid"].as_str()?.to_string(), netns.to_string()))
    }

    pub(crate) fn wait_running(&self, ns: &str, name: &str) -> Result<(String, String)> {
        poll(&format!("pod {ns}/{name} Running with its namespace"), Duration::from_secs(60), || {
            Ok(self.running(ns, name))
        })
    }

    pub(crate) fn ready(&self, path: &str) -> bool {
        self.get(path).is_ok_and(|o| is_ready(&o))
    }
}

pub(crate) fn is_ready(o: &Json) -> bool {
    o["status"]["ready"] == Json::Bool(true)
        || o["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn pod_yaml(name: &str, ip: &str, node: &str, container: &str) -> String {
    format!(
        r#"{{"apiVersion": "v1", "kind": "Pod",
 "metadata": {{"name": "{name}", "namespace": "{TENANT_NS}", "annotations": {{"ovn.kubernetes.io/ip_address": "{ip}"}}}},
 "spec": {{"nodeName": "{node}", "terminationGracePeriodSeconds": 1, "containers": [{container}]}}}}"#
    )
}

/// The cluster with seed 003's gateway Ready, the DNAT target pod and the
/// bench EIP ready.
fn set_up(bin: &Path) -> Result<Bed> {
    // The node agents start the gateway's `ovn-vpcd` container from this.
    std::env::set_var("OVN_VPCD_BIN", bin);
    let t0 = Instant::now();
    let cluster = Cluster::start(2).context("the testbed cluster did not start")?;
    if let Some(file) = std::env::var_os("NAT_BENCH_CLUSTER_FILE") {
        std::fs::write(file, format!("{}\n", cluster.dir().display()))?;
    }
    let crds = Command::new(bin).arg("crds").output()?;
    ensure!(crds.status.success(), "ovn-vpcd crds");
    cluster.kubectl_stdin(&["apply", "-f", "-"], &String::from_utf8_lossy(&crds.stdout))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let client = Arc::new(KubeClient::from_kubeconfig(&cluster.kubeconfig(), None)?);
    let mut bed = Bed { daemon: None, client, rt, bin: bin.to_path_buf(), daemons: 0, cluster };
    bed.start_daemon()?;
    let nodes = bed.cluster.nodes();
    bed.apply(AROUND_003)?;
    bed.apply(SEED_003)?;
    bed.apply(
        &SEED_003_NAT
            .replace("kubernetes.io/hostname: ubuntuserver1", &format!("kubernetes.io/hostname: {}", nodes[0])),
    )?;
    bed.apply(&pod_yaml("web", TARGET_IP, &nodes[1], r#"{"name": "web", "image": "nginx"}"#))?;
    bed.wait_running(GW_NS, GW_POD)?;
    bed.wait_running(TENANT_NS, "web")?;
    poll("the gateway Ready", Duration::from_secs(60), || {
        Ok(bed.ready("/apis/kubeovn.io/v1/vpc-nat-gateways/natgw").then_some(()))
    })?;
    bed.apply(&format!(
        "kind: IptablesEIP\napiVersion: kubeovn.io/v1\nmetadata: {{name: eipbench}}\nspec: {{natGwDp: natgw, v4ip: {BENCH_EIP}}}\n"
    ))?;
    poll("eipbench ready", Duration::from_secs(60), || {
        Ok(bed.ready("/apis/kubeovn.io/v1/iptables-eips/eipbench").then_some(()))
    })?;
    note(format!("set-up done in {:.1} s", t0.elapsed().as_secs_f64()));
    Ok(bed)
}

/// The multi-document file of `n` DNAT rules on `eipbench`.
fn dnat_file(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n as u32 {
        out.push_str(&format!(
            "---\nkind: IptablesDnatRule\napiVersion: kubeovn.io/v1\nmetadata: {{name: bench-dnat-{i:04}}}\n\
             spec: {{eip: eipbench, externalPort: '{}', protocol: tcp, internalIp: {TARGET_IP}, internalPort: '80'}}\n",
            FIRST_PORT + i
        ));
    }
    out
}

/// Until every `bench-dnat-*` object's status says ready, by list + watch
/// (a watch that ends or fails is followed by a new list).
async fn all_ready(client: Arc<KubeClient>, n: usize) -> Result<Instant> {
    const PATH: &str = "/apis/kubeovn.io/v1/iptables-dnat-rules";
    let mut ready = std::collections::HashSet::new();
    loop {
        let (items, _, rv) = client.list_page(PATH, 5000, None).await?;
        ready.clear();
        for o in &items {
            if let (Some(name), true) = (o["metadata"]["name"].as_str(), is_ready(o)) {
                if name.starts_with("bench-dnat-") {
                    ready.insert(name.to_string());
                }
            }
        }
        if ready.len() >= n {
            return Ok(Instant::now());
        }
        let Ok(mut stream) = client.watch(PATH, &rv, LIMIT.as_secs()).await else { continue };
        while let Ok(Some((kind, o))) = stream.next_event().await {
            let Some(name) = o["metadata"]["name"].as_str().filter(|n| n.starts_with("bench-dnat-")) else { continue };
            if kind != "DELETED" && is_ready(&o) {
                ready.insert(name.to_string());
            } else {
                ready.remove(name);
            }
            if ready.len() >= n {
                return Ok(Instant::now());
            }
        }
    }
}

/// `nat_1000_dnat`; returns the seconds to the kernel.
fn dnat(bed: &Bed, n: usize) -> Result<f64> {
    const NAME: &str = "nat_1000_dnat";
    let (_, netns) = bed.wait_running(GW_NS, GW_POD)?;
    let agent = agent_pid(&netns).context("the gateway agent's pid")?;
    let daemon = bed.daemon.as_ref().context("the daemon")?.pid();
    let api = bed.apiserver_pid()?;
    bed.settle()?;
    let file = dnat_file(n);
    let path = bed.cluster.dir().join("bench-dnat.yaml");
    std::fs::write(&path, &file)?;
    let ready = bed.rt.spawn(all_ready(bed.client.clone(), n));
    // Let the watch open before the clock starts.
    std::thread::sleep(Duration::from_millis(500));
    let (cpu_d, cpu_a, own_a) = (cpu_seconds(daemon, true), cpu_seconds(agent, true), cpu_seconds(agent, false));
    let api0 = cpu_seconds(api, false);
    note(format!("applying {n} IptablesDnatRule objects in one kubectl apply"));
    let start = Instant::now();
    let applying = {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(bed.cluster.kubeconfig())
            .arg("--cache-dir")
            .arg(bed.cluster.dir().join("kubecache"))
            .args(["--request-timeout=60s", "apply", "-f"])
            .arg(&path)
            .stdout(Stdio::null());
        std::thread::spawn(move || -> Result<f64> {
            let st = c.status()?;
            ensure!(st.success(), "kubectl apply of the rules: {st}");
            Ok(start.elapsed().as_secs_f64())
        })
    };
    // The kernel cannot hold the last rule before the apply has created it:
    // while kubectl runs, poll every 250 ms (for the trace; each poll is an
    // `iptables -S` of up to 1,000 rules, ~20 ms of CPU), then every 50 ms.
    let mut trace: Vec<(f64, usize)> = Vec::new();
    let to_kernel = loop {
        let (count, at) = (bench_rules(&netns)?, start.elapsed());
        if trace.last().is_none_or(|(_, c)| *c != count) {
            trace.push((at.as_secs_f64(), count));
        }
        if count >= n {
            break at;
        }
        ensure!(at < LIMIT, "not all rules in the kernel within {LIMIT:?}: {count} of {n}");
        std::thread::sleep(if applying.is_finished() { POLL } else { Duration::from_millis(250) });
    };
    let (kernel_d, kernel_a) = (cpu_seconds(daemon, true), cpu_seconds(agent, true));
    let applied = applying.join().map_err(|_| anyhow::anyhow!("the apply thread panicked"))??;
    let api_kernel = cpu_seconds(api, false);
    let steps: Vec<String> = trace.iter().map(|(t, c)| format!("{t:.2}s:{c}")).collect();
    note(format!("kernel: rules for {BENCH_EIP} over time (apply ended at {applied:.2}s): {}", steps.join(" ")));
    let ready_at = bed
        .rt
        .block_on(async { tokio::time::timeout(LIMIT, ready).await })
        .context("not every rule ready in time")???;
    let to_ready = ready_at.saturating_duration_since(start);
    let (ready_d, ready_a, api_ready) = (cpu_seconds(daemon, true), cpu_seconds(agent, true), cpu_seconds(api, false));
    check_rules(&netns, n)?;
    ensure!(agent_pid(&netns) == Some(agent), "the agent restarted during the measurement");
    figure(NAME, "rules", n as f64, "count");
    figure(NAME, "apply_seconds", applied, "s");
    figure(NAME, "seconds_to_kernel", to_kernel.as_secs_f64(), "s");
    figure(NAME, "seconds_to_ready", to_ready.as_secs_f64(), "s");
    figure(NAME, "ms_per_rule_to_kernel", to_kernel.as_secs_f64() * 1e3 / n as f64, "ms");
    figure(NAME, "daemon_cpu_seconds_to_kernel", kernel_d - cpu_d, "s");
    figure(NAME, "agent_cpu_seconds_to_kernel", kernel_a - cpu_a, "s");
    figure(NAME, "daemon_cpu_seconds_to_ready", ready_d - cpu_d, "s");
    figure(NAME, "agent_cpu_seconds_to_ready", ready_a - cpu_a, "s");
    figure(NAME, "agent_own_cpu_seconds_to_ready", cpu_seconds(agent, false) - own_a, "s");
    figure(NAME, "apiserver_cpu_seconds_to_kernel", api_kernel - api0, "s");
    figure(NAME, "apiserver_cpu_seconds_to_ready", api_ready - api0, "s");
    figure(NAME, "agent_rss", rss_mb(agent), "MB");
    figure(NAME, "daemon_rss", rss_mb(daemon), "MB");
    Ok(to_kernel.as_secs_f64())
}

fn main() -> Result<()> {
    let bin = common::binary()?;
    let n = env_count("NAT_BENCH_RULES", 1000)?;
    let peer_n = env_count("NAT_BENCH_PEER_RULES", 200)?;
    let t0 = Instant::now();
    let mut bed = set_up(&bin)?;
    let ours = dnat(&bed, n)?;
    let (theirs, kubectl_start) = peer::run(&bed, peer_n)?;
    let (ours_per, theirs_per) = (ours / n as f64, theirs / peer_n as f64);
    figure("nat_1000_dnat", "ratio_vs_kube_ovn_per_rule", ours_per / theirs_per, "x");
    figure("nat_1000_dnat", "speedup_vs_kube_ovn_per_rule", theirs_per / ours_per, "x");
    let less = theirs_per - kubectl_start;
    figure("nat_1000_dnat", "ratio_vs_kube_ovn_per_rule_less_kubectl_start", ours_per / less, "x");
    recovery::run(&mut bed, n)?;
    let warnings = bed.daemon_warnings();
    // By what they say (module, then the message up to its first field).
    let mut kinds: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for w in &warnings {
        let what = w.split_once(" WARN ").or_else(|| w.split_once(" ERROR ")).map_or(w.as_str(), |(_, r)| r);
        let what = what.split_once('=').map_or(what, |(head, _)| head.rsplit_once(' ').map_or(head, |(h, _)| h));
        *kinds.entry(what.to_string()).or_default() += 1;
    }
    for (what, count) in &kinds {
        note(format!("daemon warnings: {count} x {what}"));
    }
    figure("nat_1000_dnat", "daemon_warnings", warnings.len() as f64, "count");
    note(format!("total {:.1} s", t0.elapsed().as_secs_f64()));
    Ok(())
}
