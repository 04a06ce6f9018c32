//! Prometheus metrics, rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    pub reconciles_ok: AtomicU64,
    pub reconciles_failed: AtomicU64,
    /// Sum of reconcile durations, in microseconds.
    pub reconcile_micros: AtomicU64,
    pub changes_applied: AtomicU64,
    pub config_errors: AtomicU64,
    pub refused_objects: AtomicU64,
    pub nb_connected: AtomicBool,
    pub converged: AtomicBool,
    /// True without Kubernetes; else whether this instance holds the Lease.
    pub leader: AtomicBool,
    pub owned_rows: Mutex<BTreeMap<String, u64>>,
    /// With Kubernetes: resources seen, by kind (`Vpc`, `Subnet`, `Pod`).
    pub resources: Mutex<BTreeMap<String, u64>>,
    /// Pods with a switch port, and pods that want one but have no address.
    pub pod_ports: AtomicU64,
    pub pods_without_address: AtomicU64,
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let ok = get(&self.reconciles_ok);
        let failed = get(&self.reconciles_failed);
        let _ = writeln!(s, "# HELP ovn_vpcd_reconciles_total Reconcile passes by result.");
        let _ = writeln!(s, "# TYPE ovn_vpcd_reconciles_total counter");
        let _ = writeln!(s, "ovn_vpcd_reconciles_total{{result=\"ok\"}} {ok}");
        let _ = writeln!(s, "ovn_vpcd_reconciles_total{{result=\"error\"}} {failed}");
        let _ = writeln!(s, "# HELP ovn_vpcd_reconcile_duration_seconds Time spent reconciling.");
        let _ = writeln!(s, "# TYPE ovn_vpcd_reconcile_duration_seconds summary");
        let _ = writeln!(s, "ovn_vpcd_reconcile_duration_seconds_sum {}", get(&self.reconcile_micros) as f64 / 1e6);
        let _ = writeln!(s, "ovn_vpcd_reconcile_duration_seconds_count {}", ok + failed);
        let _ = writeln!(s, "# HELP ovn_vpcd_changes_applied_total NB row changes committed.");
        let _ = writeln!(s, "# TYPE ovn_vpcd_changes_applied_total counter");
        let _ = writeln!(s, "ovn_vpcd_changes_applied_total {}", get(&self.changes_applied));
        let _ = writeln!(s, "# HELP ovn_vpcd_config_errors_total Configuration loads that failed.");
        let _ = writeln!(s, "# TYPE ovn_vpcd_config_errors_total counter");
        let _ = writeln!(s, "ovn_vpcd_config_errors_total {}", get(&self.config_errors));
        let _ = writeln!(s, "# HELP ovn_vpcd_refused_objects Objects refused by validation in the last pass.");
        let _ = writeln!(s, "# TYPE ovn_vpcd_refused_objects gauge");
        let _ = writeln!(s, "ovn_vpcd_refused_objects {}", get(&self.refused_objects));
        let _ = writeln!(s, "# HELP ovn_vpcd_nb_connected 1 when the northbound database is connected and synced.");
        let _ = writeln!(s, "# TYPE ovn_vpcd_nb_connected gauge");
        let _ = writeln!(s, "ovn_vpcd_nb_connected {}", self.nb_connected.load(Ordering::Relaxed) as u8);
        let _ = writeln!(s, "# HELP ovn_vpcd_converged 1 when the last pass left nothing to change.");
        let _ = writeln!(s, "# TYPE ovn_vpcd_converged gauge");
        let _ = writeln!(s, "ovn_vpcd_converged {}", self.converged.load(Ordering::Relaxed) as u8);
        let _ = writeln!(
            s,
            "# HELP ovn_vpcd_leader 1 when this instance may write (it leads, or runs without Kubernetes)."
        );
        let _ = writeln!(s, "# TYPE ovn_vpcd_leader gauge");
        let _ = writeln!(s, "ovn_vpcd_leader {}", self.leader.load(Ordering::Relaxed) as u8);
        let _ = writeln!(s, "# HELP ovn_vpcd_resources Kubernetes resources seen, by kind.");
        let _ = writeln!(s, "# TYPE ovn_vpcd_resources gauge");
        for (k, n) in self.resources.lock().expect("metrics lock").iter() {
            let _ = writeln!(s, "ovn_vpcd_resources{{kind=\"{k}\"}} {n}");
        }
        let _ = writeln!(s, "# HELP ovn_vpcd_pod_ports Pods with a switch port.");
        let _ = writeln!(s, "# TYPE ovn_vpcd_pod_ports gauge");
        let _ = writeln!(s, "ovn_vpcd_pod_ports {}", get(&self.pod_ports));
        let _ = writeln!(s, "# HELP ovn_vpcd_pods_without_address Pods that want a port but cannot have an address.");
        let _ = writeln!(s, "# TYPE ovn_vpcd_pods_without_address gauge");
        let _ = writeln!(s, "ovn_vpcd_pods_without_address {}", get(&self.pods_without_address));
        let _ = writeln!(s, "# HELP ovn_vpcd_owned_rows NB rows owned by ovn-vpcd, per table.");
        let _ = writeln!(s, "# TYPE ovn_vpcd_owned_rows gauge");
        for (t, n) in self.owned_rows.lock().expect("metrics lock").iter() {
            let _ = writeln!(s, "ovn_vpcd_owned_rows{{table=\"{t}\"}} {n}");
        }
        s
    }
}
