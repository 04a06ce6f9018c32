//! `nat_recovery_1000`: the gateway with its DNAT rules applied, then
//! (b) its pod deleted and (a) its container killed, until the rules are
//! back in the kernel, polled every 50 ms in the pod's namespace.
//!
//! (b) First, with the daemon running (the new pod's switch port and
//! annotations are its work) and idle (`Bed::settle`): the pod is deleted
//! through the API and the clock runs from the DELETE. The StatefulSet
//! makes the pod again once the old one is gone, the node agent wires it,
//! and its agent applies everything in the new namespace.
//!
//! (a) Then the daemon is stopped. The agent is frozen (SIGSTOP), every
//! rule of our chains and the EIP addresses are removed from the kernel
//! (as `tests/nat_dataplane.rs` does: only the new container can repair),
//! then the agent is killed (SIGKILL): the clock runs from the kill. The
//! node agent restarts the container after its back-off (0.5 s for a first
//! restart, as `testbed/cluster/agent_pod.py` says; a kubelet's is 10 s),
//! and the new agent re-applies from the API alone.
//!
//! Figures (`nat_recovery_1000 <key>`): `pod_deleted_seconds` (all rules
//! in the new pod), `pod_deleted_old_pod_gone_seconds` (the old pod's
//! object gone from the API), `pod_deleted_new_pod_seconds` (the
//! StatefulSet's new pod object seen), `pod_deleted_annotated_seconds` (the
//! daemon's `ovn.kubernetes.io/allocated` on it: the node agent wires a pod
//! only then), `pod_deleted_pod_running_seconds`
//! (the new pod Running with its namespace),
//! `pod_deleted_agent_started_seconds`,
//! `pod_deleted_after_agent_start_seconds`, `settle_seconds` (the wait
//! before the delete); `container_killed_seconds` (all rules back),
//! `container_killed_agent_started_seconds` (the new agent process seen),
//! `container_killed_after_agent_start_seconds`,
//! `container_killed_eip_seconds` (the EIP back on net1).

use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::json;
use tokio::time::Instant;

use super::{agent_pid, bench_rules, check_rules, figure, note, poll, Bed, BENCH_EIP, GW_NS, GW_POD, LIMIT};

const NAME: &str = "nat_recovery_1000";
const ALLOCATED: &str = "ovn.kubernetes.io/allocated";
const CHAINS: [&str; 5] = ["EXCLUSIVE_DNAT", "EXCLUSIVE_SNAT", "SHARED_DNAT", "SHARED_SNAT", "HAIRPIN_SNAT"];

fn in_netns(netns: &str, args: &[&str]) -> Result<String> {
    let out = Command::new("ip").args(["netns", "exec", netns]).args(args).output()?;
    ensure!(out.status.success(), "{args:?} in {netns}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn signal(sig: &str, pid: u32) -> Result<()> {
    ensure!(Command::new("kill").args([sig, &pid.to_string()]).status()?.success(), "kill {sig} {pid}");
    Ok(())
}

fn has_eip(netns: &str) -> bool {
    in_netns(netns, &["ip", "-4", "-o", "addr", "show", "dev", "net1"])
        .is_ok_and(|t| t.contains(&format!("{BENCH_EIP}/")))
}

pub fn run(bed: &mut Bed, n: usize) -> Result<()> {
    pod_deleted(bed, n)?;
    container_killed(bed, n)
}

fn container_killed(bed: &mut Bed, n: usize) -> Result<()> {
    bed.daemon.take();
    let (uid, netns) = bed.wait_running(GW_NS, GW_POD)?;
    check_rules(&netns, n)?;
    let agent = agent_pid(&netns).context("the gateway agent's pid")?;
    signal("-STOP", agent)?;
    for chain in CHAINS {
        in_netns(&netns, &["iptables", "-t", "nat", "-F", chain])?;
    }
    in_netns(&netns, &["ip", "addr", "flush", "dev", "net1", "label", "net1:eip"])?;
    ensure!(bench_rules(&netns)? == 0 && !has_eip(&netns), "the kernel not emptied");
    note("the gateway container killed (daemon stopped, rules and EIPs removed while frozen)");
    let start = Instant::now();
    signal("-KILL", agent)?;
    let (mut started, mut eip) = (None, None);
    let done = poll("all rules back after the container restart", LIMIT, || {
        let now = start.elapsed();
        if started.is_none() && agent_pid(&netns).is_some_and(|p| p != agent) {
            started = Some(now);
        }
        if eip.is_none() && has_eip(&netns) {
            eip = Some(now);
        }
        Ok((bench_rules(&netns)? >= n && eip.is_some()).then_some(now))
    })?;
    check_rules(&netns, n)?;
    let (same_uid, _) = bed.running(GW_NS, GW_POD).context("the gateway pod")?;
    ensure!(same_uid == uid, "the pod was remade: not a container restart");
    let started = started.unwrap_or(done);
    figure(NAME, "container_killed_seconds", done.as_secs_f64(), "s");
    figure(NAME, "container_killed_agent_started_seconds", started.as_secs_f64(), "s");
    figure(NAME, "container_killed_after_agent_start_seconds", (done - started).as_secs_f64(), "s");
    figure(NAME, "container_killed_eip_seconds", eip.unwrap_or(done).as_secs_f64(), "s");
    Ok(())
}

fn pod_deleted(bed: &Bed, n: usize) -> Result<()> {
    let (uid, _) = bed.wait_running(GW_NS, GW_POD)?;
    let settle = bed.settle()?;
    note("the gateway pod deleted");
    let path = format!("/api/v1/namespaces/{GW_NS}/pods/{GW_POD}");
    let start = Instant::now();
    bed.rt.block_on(bed.client.delete_with(&path, &json!({"propagationPolicy": "Background"})))?;
    let (mut gone, mut made, mut annotated) = (None, None, None);
    let (mut running, mut started) = (None::<(Duration, String)>, None);
    let done = poll("all rules in the new gateway pod", LIMIT, || {
        let now = start.elapsed();
        if annotated.is_none() {
            let pod = bed.pod(GW_NS, GW_POD);
            let uid_now = pod.as_ref().and_then(|p| p["metadata"]["uid"].as_str());
            if gone.is_none() && uid_now != Some(uid.as_str()) {
                gone = Some(now);
            }
            if made.is_none() && uid_now.is_some_and(|u| u != uid) {
                made = Some(now);
            }
            // The daemon's addresses on the new pod (what the node agent waits for).
            if made.is_some() && pod.is_some_and(|p| p["metadata"]["annotations"][ALLOCATED] == "true") {
                annotated = Some(now);
            }
        }
        if running.is_none() {
            running = bed.running(GW_NS, GW_POD).filter(|(u, _)| *u != uid).map(|(_, ns)| (now, ns));
        }
        let Some((_, netns)) = &running else { return Ok(None) };
        if started.is_none() && agent_pid(netns).is_some() {
            started = Some(now);
        }
        Ok((bench_rules(netns)? >= n).then_some(now))
    })?;
    let (running, netns) = running.context("the new pod")?;
    check_rules(&netns, n)?;
    let started = started.unwrap_or(done);
    figure(NAME, "pod_deleted_seconds", done.as_secs_f64(), "s");
    figure(NAME, "pod_deleted_old_pod_gone_seconds", gone.unwrap_or(running).as_secs_f64(), "s");
    figure(NAME, "pod_deleted_new_pod_seconds", made.unwrap_or(running).as_secs_f64(), "s");
    figure(NAME, "pod_deleted_annotated_seconds", annotated.unwrap_or(running).as_secs_f64(), "s");
    figure(NAME, "pod_deleted_pod_running_seconds", running.as_secs_f64(), "s");
    figure(NAME, "pod_deleted_agent_started_seconds", started.as_secs_f64(), "s");
    figure(NAME, "pod_deleted_after_agent_start_seconds", (done - started).as_secs_f64(), "s");
    figure(NAME, "settle_seconds", settle, "s");
    Ok(())
}
