//! `nat_kube_ovn_way`: the same DNAT rules applied as Kube-OVN's controller
//! does, one `kubectl exec <pod> -- iptables -t nat -A SHARED_DNAT ...` per
//! rule (what nat-gateway.sh's `dnat-add` runs, minus its shell's start),
//! one after the other, timed end to end.
//!
//! Against a second, gateway-like pod, `kopeer`: a plain `sleep infinity`
//! pod in seed 003's subnet on the gateway's node, whose namespace our
//! agent never touches (it only keeps its own pod's). Its `SHARED_DNAT`
//! chain is made first, untimed, as Kube-OVN's `init` would.
//!
//! Figures (`nat_kube_ovn_way <key>`): `rules`, `seconds`,
//! `seconds_per_rule`, `extrapolated_seconds_for_1000`, and
//! `kubectl_exec_true_seconds_per_call` (10 `kubectl exec kopeer -- true`:
//! what the transport alone costs per rule here: kubectl's start, the
//! testbed API server's WebSocket relay, the node agent's process start),
//! `kubectl_start_seconds_per_call` (10 `kubectl version --client`: the
//! kubectl process alone, which Kube-OVN's controller does not pay: it
//! execs through client-go in its own process) and
//! `seconds_per_rule_less_kubectl_start`.

use std::process::Command;

use anyhow::{ensure, Result};
use tokio::time::Instant;

use super::{check_rules, figure, note, pod_yaml, Bed, BENCH_EIP, FIRST_PORT, TARGET_IP, TENANT_NS};

const NAME: &str = "nat_kube_ovn_way";
const POD: &str = "kopeer";
const FLOOR_CALLS: usize = 10;

/// Returns the seconds for the `n` rules, and kubectl's own start per call.
pub fn run(bed: &Bed, n: usize) -> Result<(f64, f64)> {
    let nodes = bed.cluster.nodes();
    let container = r#"{"name": "c", "image": "busybox", "command": ["sleep", "infinity"]}"#;
    bed.apply(&pod_yaml(POD, "10.0.1.30", &nodes[0], container))?;
    let (_, netns) = bed.wait_running(TENANT_NS, POD)?;
    let st =
        Command::new("ip").args(["netns", "exec", &netns, "iptables", "-t", "nat", "-N", "SHARED_DNAT"]).status()?;
    ensure!(st.success(), "iptables -N SHARED_DNAT in {POD}");

    bed.settle()?;
    let start = Instant::now();
    for _ in 0..FLOOR_CALLS {
        bed.kubectl(&["exec", "-n", TENANT_NS, POD, "--", "true"])?;
    }
    let floor = start.elapsed().as_secs_f64() / FLOOR_CALLS as f64;
    let start = Instant::now();
    for _ in 0..FLOOR_CALLS {
        bed.kubectl(&["version", "--client"])?;
    }
    let kubectl_start = start.elapsed().as_secs_f64() / FLOOR_CALLS as f64;

    note(format!("the peer: {n} kubectl exec of iptables -A, one per rule"));
    let start = Instant::now();
    for i in 0..n as u32 {
        let (port, to) = ((FIRST_PORT + i).to_string(), format!("{TARGET_IP}:80"));
        let dst = format!("{BENCH_EIP}/32");
        bed.kubectl(&[
            "exec",
            "-n",
            TENANT_NS,
            POD,
            "--",
            "iptables",
            "-t",
            "nat",
            "-A",
            "SHARED_DNAT",
            "-d",
            &dst,
            "-p",
            "tcp",
            "-m",
            "tcp",
            "--dport",
            &port,
            "-j",
            "DNAT",
            "--to-destination",
            &to,
        ])?;
    }
    let secs = start.elapsed().as_secs_f64();
    check_rules(&netns, n)?;
    bed.kubectl(&["delete", "pod", "-n", TENANT_NS, POD, "--wait=false"])?;
    figure(NAME, "rules", n as f64, "count");
    figure(NAME, "seconds", secs, "s");
    figure(NAME, "seconds_per_rule", secs / n as f64, "s");
    figure(NAME, "extrapolated_seconds_for_1000", secs / n as f64 * 1000.0, "s");
    figure(NAME, "kubectl_exec_true_seconds_per_call", floor, "s");
    figure(NAME, "kubectl_start_seconds_per_call", kubectl_start, "s");
    figure(NAME, "seconds_per_rule_less_kubectl_start", secs / n as f64 - kubectl_start, "s");
    Ok((secs, kubectl_start))
}
