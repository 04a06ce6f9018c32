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
    /// The mass removal refused in the last pass, if any (see
    /// `reconcile::removal`); `/readyz` is not ready while one is.
    pub mass_removal: Mutex<Option<String>>,
}

/// One metric family: its HELP and TYPE lines, then `(suffix, value)`
/// samples, the suffix being labels (`{k="v"}`), a name suffix (a summary's
/// `_sum`), or empty.
fn family(s: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, String)]) {
    let _ = writeln!(s, "# HELP {name} {help}");
    let _ = writeln!(s, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(s, "{name}{labels} {value}");
    }
}

fn one(v: impl ToString) -> Vec<(String, String)> {
    vec![(String::new(), v.to_string())]
}

fn by(label: &str, map: &Mutex<BTreeMap<String, u64>>) -> Vec<(String, String)> {
    map.lock().expect("metrics lock").iter().map(|(k, n)| (format!("{{{label}=\"{k}\"}}"), n.to_string())).collect()
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let flag = |a: &AtomicBool| a.load(Ordering::Relaxed) as u8;
        let (ok, failed) = (get(&self.reconciles_ok), get(&self.reconciles_failed));
        let results = vec![
            ("{result=\"ok\"}".to_string(), ok.to_string()),
            ("{result=\"error\"}".to_string(), failed.to_string()),
        ];
        family(&mut s, "ovn_vpcd_reconciles_total", "counter", "Reconcile passes by result.", &results);
        family(
            &mut s,
            "ovn_vpcd_reconcile_duration_seconds",
            "summary",
            "Time spent reconciling.",
            &[
                ("_sum".to_string(), (get(&self.reconcile_micros) as f64 / 1e6).to_string()),
                ("_count".to_string(), (ok + failed).to_string()),
            ],
        );
        let rows = [
            ("ovn_vpcd_changes_applied_total", "counter", "NB row changes committed.", one(get(&self.changes_applied))),
            (
                "ovn_vpcd_config_errors_total",
                "counter",
                "Configuration loads that failed.",
                one(get(&self.config_errors)),
            ),
            (
                "ovn_vpcd_refused_objects",
                "gauge",
                "Objects refused by validation in the last pass.",
                one(get(&self.refused_objects)),
            ),
            (
                "ovn_vpcd_nb_connected",
                "gauge",
                "1 when the northbound database is connected and synced.",
                one(flag(&self.nb_connected)),
            ),
            ("ovn_vpcd_converged", "gauge", "1 when the last pass left nothing to change.", one(flag(&self.converged))),
            (
                "ovn_vpcd_leader",
                "gauge",
                "1 when this instance may write (it leads, or runs without Kubernetes).",
                one(flag(&self.leader)),
            ),
            ("ovn_vpcd_resources", "gauge", "Kubernetes resources seen, by kind.", by("kind", &self.resources)),
            ("ovn_vpcd_pod_ports", "gauge", "Pods with a switch port.", one(get(&self.pod_ports))),
            (
                "ovn_vpcd_pods_without_address",
                "gauge",
                "Pods that want a port but cannot have an address.",
                one(get(&self.pods_without_address)),
            ),
            (
                "ovn_vpcd_mass_removal_refused",
                "gauge",
                "1 while a pass would remove most tenants and the config does not allow it.",
                one(self.mass_removal.lock().expect("metrics lock").is_some() as u8),
            ),
            ("ovn_vpcd_owned_rows", "gauge", "NB rows owned by ovn-vpcd, per table.", by("table", &self.owned_rows)),
        ];
        for (name, kind, help, samples) in rows {
            family(&mut s, name, kind, help, &samples);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_exposition_format() {
        let m = Metrics::default();
        m.reconciles_ok.store(3, Ordering::Relaxed);
        m.reconcile_micros.store(1_500_000, Ordering::Relaxed);
        m.leader.store(true, Ordering::Relaxed);
        m.owned_rows.lock().unwrap().insert("Logical_Router".into(), 2);
        *m.mass_removal.lock().unwrap() = Some("would remove 2 of 2 VPCs".into());
        let text = m.render();
        for line in [
            "# HELP ovn_vpcd_reconciles_total Reconcile passes by result.",
            "# TYPE ovn_vpcd_reconciles_total counter",
            "ovn_vpcd_reconciles_total{result=\"ok\"} 3",
            "ovn_vpcd_reconciles_total{result=\"error\"} 0",
            "# TYPE ovn_vpcd_reconcile_duration_seconds summary",
            "ovn_vpcd_reconcile_duration_seconds_sum 1.5",
            "ovn_vpcd_reconcile_duration_seconds_count 3",
            "ovn_vpcd_leader 1",
            "ovn_vpcd_nb_connected 0",
            "# TYPE ovn_vpcd_owned_rows gauge",
            "ovn_vpcd_owned_rows{table=\"Logical_Router\"} 2",
            "ovn_vpcd_mass_removal_refused 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
        }
        // Every sample line belongs to a family declared just before it.
        let mut declared = String::new();
        for l in text.lines() {
            match l.strip_prefix("# TYPE ") {
                Some(t) => declared = t.split(' ').next().unwrap().to_string(),
                None if !l.starts_with('#') => assert!(l.starts_with(&declared), "{l} after {declared}"),
                None => {}
            }
        }
    }
}
