//! The NAT agent's driver, I/O: a list+watch of the one rules ConfigMap
//! (`kube::driver::watch` with `fieldSelector=metadata.name=NAME`, which
//! RBAC's `resourceNames` allows), the pure [`Agent`] deciding, the
//! [`Kernel`] applying, and a merge patch of the pod's annotations
//! reporting. One thing at a time: an apply and a report never overlap.
//!
//! It needs nothing but the API server: a restarted agent re-applies from
//! the set it reads, and a daemon that is down changes nothing here.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::agent::{rules_of, Action, Agent, AgentConfig};
use super::kernel::{Kernel, Tools};
use crate::kube::client::KubeClient;
use crate::kube::driver::{watch, WatchOptions};

/// The longest a report may take before it counts as failed.
const REPORT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone, Debug)]
pub struct Options {
    pub rules_namespace: String,
    pub rules_name: String,
    pub pod_namespace: String,
    pub pod_name: String,
    pub agent: AgentConfig,
    pub tools: Tools,
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("the watch of ConfigMap {0} ended")]
    WatchEnded(String),
}

/// Runs the agent until its watch ends (it does not, short of a panic).
pub async fn run(client: Arc<KubeClient>, opts: Options) -> Result<(), DriverError> {
    let cm = format!("{}/{}", opts.rules_namespace, opts.rules_name);
    let pod_path = format!("/api/v1/namespaces/{}/pods/{}", opts.pod_namespace, opts.pod_name);
    let (tx, mut rx) = mpsc::channel(16);
    let watch_opts =
        WatchOptions { field_selector: Some(format!("metadata.name={}", opts.rules_name)), ..WatchOptions::default() };
    let path = format!("/api/v1/namespaces/{}/configmaps", opts.rules_namespace);
    let watcher = tokio::spawn(watch(client.clone(), path, watch_opts, tx));
    let mut kernel = Kernel::new(opts.tools.clone()).await;
    let mut agent = Agent::new(opts.agent, Instant::now());
    tracing::info!(rules = %cm, pod = %format!("{}/{}", opts.pod_namespace, opts.pod_name), "NAT gateway agent started");
    let result = loop {
        match agent.next(Instant::now()) {
            Action::Apply(set) => {
                let digest = set.digest();
                let started = Instant::now();
                let result = kernel.apply(&set).await;
                match &result {
                    Ok(c) if c.any() => tracing::info!(
                        %digest, restore_lines = c.restore_lines, net_lines = c.net_lines,
                        conntrack_flushes = c.conntrack_flushes, announced = c.announced,
                        forwarding_enabled = c.forwarding_enabled, seconds = started.elapsed().as_secs_f64(),
                        "applied the rule set"),
                    Ok(_) => tracing::debug!(%digest, "the kernel holds the rule set"),
                    Err(e) => tracing::warn!(%digest, error = %e, "applying the rule set failed"),
                }
                agent.applied(&digest, result.map(drop).map_err(|e| e.to_string()), Instant::now());
            }
            Action::Report(report) => {
                let sent = tokio::time::timeout(REPORT_TIMEOUT, client.merge_patch(&pod_path, &report.patch())).await;
                let result = match sent {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {REPORT_TIMEOUT:?}")),
                };
                match &result {
                    Ok(()) => tracing::info!(applied = %report.applied, error = ?report.error, "reported"),
                    Err(e) => tracing::warn!(error = %e, "reporting on the pod failed"),
                }
                agent.reported(report, result, Instant::now());
            }
            Action::Wait(until) => {
                let sleep = async {
                    match until {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    event = rx.recv() => match event {
                        Some(e) => {
                            agent.rules(rules_of(&e, &cm), Instant::now());
                            // Whatever else is queued too: only the latest set is
                            // applied, not every version written while we applied.
                            while let Ok(e) = rx.try_recv() {
                                agent.rules(rules_of(&e, &cm), Instant::now());
                            }
                        }
                        None => break Err(DriverError::WatchEnded(cm.clone())),
                    },
                    () = sleep => {}
                }
            }
        }
    };
    watcher.abort();
    result
}
