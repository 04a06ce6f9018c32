//! `kube_10k_pods`: pods created through the testbed API server against a
//! running `ovn-vpcd run`, until every one is `routed`.
//!
//! Set-up (untimed): a standalone OVN testbed (no northd), the testbed API
//! server with the project's CRDs, namespace `bench`, one Vpc and one Subnet
//! (`10.64.0.0/16`, `namespaces: [bench]`), and the daemon converged and
//! leading (the Subnet's status says Ready). Then `KUBE_BENCH_PODS` pods
//! (default 10,000) are created in `bench` by 8 concurrent clients, as fast
//! as the server accepts them, while a watch of the namespace records when
//! each pod first carries `ovn.kubernetes.io/routed=true` (the daemon writes
//! it once the pod's port is in the NB).
//!
//! Figures (`kube_10k_pods <key>`):
//! - `pods`: how many were created;
//! - `create_seconds`: the API server accepting all creates (the floor);
//! - `routed_seconds`: from the first create until every pod is routed;
//! - `routed_after_last_create_seconds`: from the last create's reply until
//!   every pod is routed (target ≤ 2 s);
//! - `daemon_cpu_seconds` and `daemon_cpu_ms_per_pod` (utime + stime from
//!   `/proc/<pid>/stat`, from the first create until all are routed; target
//!   ≤ 0.5 ms per pod);
//! - `daemon_rss` at the end (target ≤ 200 MB);
//! - `apiserver_cpu_seconds` and `apiserver_cpu_ms_per_pod` over the same
//!   span, so the testbed's share of the machine is visible beside ours;
//! - `daemon_warnings`.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use ovn_vpcd::kube::client::KubeClient;
use ovn_vpcd::kube::crds;
use ovn_vpcd::testbed::{Kube, Ovn};
use serde_json::{json, Value as Json};
use tokio::time::Instant;

use super::{cpu_seconds, proc_field, Daemon, CLIENTS};

const NAMESPACE: &str = "bench";
const ROUTED: &str = "ovn.kubernetes.io/routed";
const LIMIT: Duration = Duration::from_secs(900);

fn figure(key: &str, value: f64, unit: &str) {
    println!("kube_10k_pods {key}: {value:.3} {unit}");
}

fn note(msg: impl AsRef<str>) {
    eprintln!("kube_10k_pods bench: {}", msg.as_ref());
}

/// `KUBE_BENCH_PODS`, default 10,000.
fn pod_count() -> Result<usize> {
    match std::env::var("KUBE_BENCH_PODS") {
        Ok(v) => v.parse().with_context(|| format!("KUBE_BENCH_PODS={v:?}")),
        Err(_) => Ok(10_000),
    }
}

fn pod(i: usize) -> Json {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": format!("p{i:05}"), "namespace": NAMESPACE},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

fn routed(pod: &Json) -> Option<&str> {
    let name = pod.pointer("/metadata/name")?.as_str()?;
    (pod.pointer("/metadata/annotations")?.get(ROUTED)?.as_str()? == "true").then_some(name)
}

async fn subnet_ready(client: &KubeClient) -> Result<bool> {
    let s = client.get("/apis/kubeovn.io/v1/subnets/s").await?;
    Ok(s["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")))
}

pub fn run(bin: &std::path::Path) -> Result<()> {
    let pods = pod_count()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let ovn = Ovn::start_with(&["--no-northd"]).context("starting OVN")?;
    let crd_dir = tempfile::tempdir()?;
    for (plural, yaml) in crds::CRDS {
        std::fs::write(crd_dir.path().join(format!("{plural}.json")), crds::to_json(yaml)?.to_string())?;
    }
    let kube = Kube::start(Some(crd_dir.path()), &["--quiet"]).context("starting the API server")?;
    let api_pid: u32 = kube.get("KUBE_PID")?.parse().context("KUBE_PID")?;
    let client = Arc::new(KubeClient::from_kubeconfig(&kube.kubeconfig(), None)?);
    rt.block_on(async {
        client
            .create(
                "/api/v1/namespaces",
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
            )
            .await?;
        let vpc = json!({"apiVersion": "kubeovn.io/v1", "kind": "Vpc", "metadata": {"name": "v"}, "spec": {}});
        client.create("/apis/kubeovn.io/v1/vpcs", &vpc).await?;
        let subnet = json!({"apiVersion": "kubeovn.io/v1", "kind": "Subnet", "metadata": {"name": "s"},
                            "spec": {"vpc": "v", "cidrBlock": "10.64.0.0/16", "namespaces": [NAMESPACE]}});
        client.create("/apis/kubeovn.io/v1/subnets", &subnet).await?;
        anyhow::Ok(())
    })?;
    let config = ovn.dir().join("kube-pods-bench.toml");
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
    let result = rt
        .block_on(async {
            tokio::time::timeout(LIMIT, async {
                while !subnet_ready(&client).await? {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                note(format!("daemon converged the subnet; creating {pods} pods"));
                // Watch the namespace from now on: each pod's first routed sighting.
                let path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
                let (_, _, rv) = client.list_page(&path, 1, None).await?;
                let mut stream = client.watch(&path, &rv, LIMIT.as_secs()).await?;
                let watcher = async move {
                    let mut seen: HashSet<String> = HashSet::new();
                    while seen.len() < pods {
                        let Some((kind, obj)) = stream.next_event().await? else {
                            anyhow::bail!("the watch ended with {} of {pods} pods routed", seen.len());
                        };
                        if kind == "ADDED" || kind == "MODIFIED" {
                            if let Some(name) = routed(&obj) {
                                seen.insert(name.to_string());
                            }
                        }
                    }
                    anyhow::Ok(Instant::now())
                };
                let (cpu0, api0) = (cpu_seconds(pid), cpu_seconds(api_pid));
                let start = Instant::now();
                let mut creators = tokio::task::JoinSet::new();
                for c in 0..CLIENTS {
                    let (client, path) = (client.clone(), path.clone());
                    creators.spawn(async move {
                        for i in (c..pods).step_by(CLIENTS) {
                            client.create(&path, &pod(i)).await?;
                        }
                        anyhow::Ok(())
                    });
                }
                let creating = async {
                    while let Some(r) = creators.join_next().await {
                        r??;
                    }
                    anyhow::Ok(Instant::now())
                };
                let (created, all_routed) = tokio::join!(creating, watcher);
                let (created, all_routed) = (created?, all_routed?);
                let cpu = cpu_seconds(pid) - cpu0;
                let api = cpu_seconds(api_pid) - api0;
                anyhow::Ok((start, created, all_routed, cpu, api))
            })
            .await
        })
        .context("not every pod routed within the time limit")?;
    let (start, created, all_routed, cpu, api) = result?;
    let ports = ovn
        .nbctl(&[
            "--bare",
            "--columns=_uuid",
            "find",
            "Logical_Switch_Port",
            "external_ids:vendor=ovn-vpcd",
            "type=\"\"",
        ])?
        .lines()
        .filter(|l| !l.is_empty())
        .count();
    ensure!(ports == pods, "NB has {ports} pod ports for {pods} pods");
    let after_last = all_routed.saturating_duration_since(created).as_secs_f64();
    figure("pods", pods as f64, "count");
    figure("create_seconds", (created - start).as_secs_f64(), "s");
    figure("routed_seconds", (all_routed - start).as_secs_f64(), "s");
    figure("routed_after_last_create_seconds", after_last, "s");
    figure("daemon_cpu_seconds", cpu, "s");
    figure("daemon_cpu_ms_per_pod", cpu * 1e3 / pods as f64, "ms");
    figure("daemon_rss", proc_field(pid, "status", "VmRSS:").unwrap_or(0.0) / 1024.0, "MB");
    figure("apiserver_cpu_seconds", api, "s");
    figure("apiserver_cpu_ms_per_pod", api * 1e3 / pods as f64, "ms");
    let text = std::fs::read_to_string(&log)?;
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
    for w in warnings.iter().take(20) {
        note(format!("daemon: {w}"));
    }
    figure("daemon_warnings", warnings.len() as f64, "count");
    drop(daemon);
    Ok(())
}
