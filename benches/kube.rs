//! The Kubernetes side under load: 1,000 Subnet resources created through
//! the testbed API server against a running release `ovn-vpcd run`.
//!
//! `cargo build --release && cargo bench --bench kube` (run by `testbed/bench.sh`).
//!
//! Set-up (untimed): a standalone OVN testbed (no northd, as `benches/vpc.rs`),
//! the testbed API server with the project's CRDs, 100 Vpc resources, and
//! the daemon with a `[kubernetes]` section, converged and leading. Then
//! 1,000 Subnets (10 per VPC, `10.N.x.0/24`) are created by POSTs from
//! 8 concurrent clients, as fast as the server accepts them.
//!
//! Figures:
//! - `create_seconds`: the API server accepting all 1,000 creates (the floor:
//!   the NB cannot follow faster than the resources appear);
//! - `converged_seconds`: from the first POST until all 1,000 switches (with
//!   their router ports) are in the NB, as our own monitor sees them;
//! - `ratio_vs_create`: converged / create;
//! - `event_to_commit` p50 / p99 / max: per Subnet, from its create being
//!   acknowledged (the server has committed it and queued the watch event)
//!   until its Logical_Switch shows in our NB monitor. This includes the
//!   watch delivery, so it bounds the daemon's event → commit latency from
//!   above;
//! - `ready_seconds`: until every Subnet's status says Ready (status writes
//!   go one by one to the API server after the NB commits);
//! - the daemon's CPU seconds and RSS at the end.
//!
//! With the argument `kube_10k_pods` it runs the pods benchmark instead
//! (`kube/pods.rs`; `KUBE_BENCH_PODS` sets the count):
//! `cargo bench --bench kube -- kube_10k_pods`.

mod common;
#[path = "kube/pods.rs"]
mod pods;
use common::{binary, percentile};

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use ovn_vpcd::kube::client::KubeClient;
use ovn_vpcd::kube::crds;
use ovn_vpcd::ovsdb::{Client, ClientConfig, MonitorSpec, Remote};
use ovn_vpcd::testbed::{Kube, Ovn};
use serde_json::json;
use tokio::time::Instant;

const VPCS: usize = 100;
const PER_VPC: usize = 10;
pub(crate) const CLIENTS: usize = 8;
const LIMIT: Duration = Duration::from_secs(300);

fn figure(key: &str, value: f64, unit: &str) {
    println!("kube_1000_subnets {key}: {value:.3} {unit}");
}

fn note(msg: impl AsRef<str>) {
    eprintln!("kube bench: {}", msg.as_ref());
}

pub(crate) struct Daemon(pub(crate) Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn proc_field(pid: u32, file: &str, key: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt,
    // cminflt, majflt, cmajflt, utime, stime (fields 3-15 of proc(5)). Taken by
    // position: the state is a letter and tpgid is -1 without a terminal.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / 100.0
}

fn subnet(vpc: usize, n: usize) -> serde_json::Value {
    json!({"apiVersion": "kubeovn.io/v1", "kind": "Subnet",
           "metadata": {"name": format!("s{vpc:03}-{n}")},
           "spec": {"vpc": format!("v{vpc:03}"), "cidrBlock": format!("10.{}.{n}.0/24", vpc + 1)}})
}

fn main() -> Result<()> {
    let bin = binary()?;
    // `cargo bench` passes `--bench`; the figure is the first other argument.
    match std::env::args().skip(1).find(|a| !a.starts_with("--")).as_deref() {
        None | Some("kube_1000_subnets") => subnets(&bin),
        Some("kube_10k_pods") => pods::run(&bin),
        Some(other) => anyhow::bail!("unknown figure {other:?} (kube_1000_subnets, kube_10k_pods)"),
    }
}

fn subnets(bin: &std::path::Path) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let ovn = Ovn::start_with(&["--no-northd"]).context("starting OVN")?;
    let crd_dir = tempfile::tempdir()?;
    for (plural, yaml) in crds::CRDS {
        std::fs::write(crd_dir.path().join(format!("{plural}.json")), crds::to_json(yaml)?.to_string())?;
    }
    let kube = Kube::start(Some(crd_dir.path()), &["--quiet"]).context("starting the API server")?;
    let client = Arc::new(KubeClient::from_kubeconfig(&kube.kubeconfig(), None)?);
    rt.block_on(async {
        for v in 0..VPCS {
            let vpc = json!({"apiVersion": "kubeovn.io/v1", "kind": "Vpc", "metadata": {"name": format!("v{v:03}")}, "spec": {}});
            client.create("/apis/kubeovn.io/v1/vpcs", &vpc).await?;
        }
        anyhow::Ok(())
    })?;
    let config = ovn.dir().join("kube-bench.toml");
    std::fs::write(
        &config,
        format!(
            "[kubernetes]\nkubeconfig = \"{}\"\nlease_namespace = \"default\"\nidentity = \"bench\"\n",
            kube.kubeconfig().display()
        ),
    )?;
    let log = ovn.dir().join("daemon.log");
    let daemon = Daemon(
        Command::new(bin)
            .args(["run", "--config"])
            .arg(&config)
            .args(["--db", ovn.nb_unix(), "--listen", ""])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
    );
    let pid = daemon.0.id();
    let nb = ovn.nb_unix().to_string();
    let result = rt
        .block_on(async {
            tokio::time::timeout(LIMIT, async {
                let cc = ClientConfig::new(
                    Remote::parse_list(&nb, 6641)?,
                    "OVN_Northbound",
                    vec![
                        MonitorSpec::columns("Logical_Switch", &["name", "ports"]),
                        MonitorSpec::columns("Logical_Router", &["name"]),
                    ],
                );
                let nbc = Client::connect(cc, Duration::from_secs(30)).await?;
                let routers = || nbc.cache().table("Logical_Router").map_or(0, |t| t.len());
                let mut changes = nbc.subscribe_changes();
                while routers() < VPCS {
                    changes.changed().await?;
                }
                note(format!("daemon converged the {VPCS} VPCs; creating {} subnets", VPCS * PER_VPC));
                let cpu0 = cpu_seconds(pid);
                // Record when each switch appears (with its router port attached).
                let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
                let watcher = {
                    let seen = seen.clone();
                    let mut changes = nbc.subscribe_changes();
                    let nbc = &nbc;
                    async move {
                        loop {
                            {
                                let now = Instant::now();
                                let cache = nbc.cache();
                                let mut seen = seen.lock().expect("seen");
                                for r in cache.table("Logical_Switch").into_iter().flat_map(|t| t.iter()) {
                                    let attached = r.get("ports").is_some_and(|p| !p.atoms().is_empty());
                                    if let (Some(name), true) = (r.get_str("name"), attached) {
                                        seen.entry(name.to_string()).or_insert(now);
                                    }
                                }
                                if seen.len() >= VPCS * PER_VPC {
                                    return;
                                }
                            }
                            if changes.changed().await.is_err() {
                                return;
                            }
                        }
                    }
                };
                let start = Instant::now();
                let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
                let mut creators = tokio::task::JoinSet::new();
                for c in 0..CLIENTS {
                    let (client, acked) = (client.clone(), acked.clone());
                    creators.spawn(async move {
                        for i in (c..VPCS * PER_VPC).step_by(CLIENTS) {
                            let s = subnet(i / PER_VPC, i % PER_VPC);
                            client.create("/apis/kubeovn.io/v1/subnets", &s).await?;
                            acked
                                .lock()
                                .expect("acked")
                                .insert(s["metadata"]["name"].as_str().unwrap_or("").into(), Instant::now());
                        }
                        anyhow::Ok(())
                    });
                }
                let creating = async {
                    while let Some(r) = creators.join_next().await {
                        r??;
                    }
                    anyhow::Ok(start.elapsed())
                };
                let (created, ()) = tokio::join!(creating, watcher);
                let created = created?;
                let converged = start.elapsed();
                let cpu = cpu_seconds(pid) - cpu0;
                let (acked, seen) = (acked.lock().expect("acked").clone(), seen.lock().expect("seen").clone());
                let mut lat: Vec<f64> = acked
                    .iter()
                    .filter_map(|(n, a)| seen.get(n).map(|s| s.saturating_duration_since(*a).as_secs_f64() * 1e3))
                    .collect();
                ensure!(lat.len() == VPCS * PER_VPC, "only {} of the subnets were matched", lat.len());
                lat.sort_by(f64::total_cmp);
                // Status: every Subnet Ready.
                let ready = loop {
                    let list = client.get("/apis/kubeovn.io/v1/subnets").await?;
                    let n = list["items"].as_array().map_or(0, |a| {
                        a.iter()
                            .filter(|o| {
                                o["status"]["conditions"]
                                    .as_array()
                                    .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
                            })
                            .count()
                    });
                    if n == VPCS * PER_VPC {
                        break start.elapsed();
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                };
                anyhow::Ok((created, converged, lat, ready, cpu))
            })
            .await
        })
        .context("no result within the time limit")?;
    let (created, converged, lat, ready, cpu) = result?;
    let switches =
        ovn.nbctl(&["--bare", "--columns=_uuid", "list", "Logical_Switch"])?.lines().filter(|l| !l.is_empty()).count();
    ensure!(switches == VPCS * PER_VPC, "NB has {switches} switches");
    figure("create_seconds", created.as_secs_f64(), "s");
    figure("converged_seconds", converged.as_secs_f64(), "s");
    figure("ratio_vs_create", converged.as_secs_f64() / created.as_secs_f64(), "x");
    figure("event_to_commit_p50_ms", percentile(&lat, 50.0), "ms");
    figure("event_to_commit_p99_ms", percentile(&lat, 99.0), "ms");
    figure("event_to_commit_max_ms", percentile(&lat, 100.0), "ms");
    figure("ready_seconds", ready.as_secs_f64(), "s");
    figure("daemon_cpu_seconds", cpu, "s");
    figure("daemon_rss", proc_field(pid, "status", "VmRSS:").unwrap_or(0.0) / 1024.0, "MB");
    let text = std::fs::read_to_string(&log)?;
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
    for w in &warnings {
        note(format!("daemon: {w}"));
    }
    figure("daemon_warnings", warnings.len() as f64, "count");
    drop(daemon);
    Ok(())
}
