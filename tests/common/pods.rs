//! Pods on the testbed cluster, as the dataplane tests drive them.

use std::time::Duration;

use ovn_vpcd::testbed::cluster::Cluster;

use super::wait_for;

/// Waits (up to `limit`) until pod `namespace/pod` is Running with its
/// network namespace.
pub fn running(cluster: &Cluster, namespace: &str, pod: &str, limit: Duration) {
    wait_for(&format!("pod {namespace}/{pod} Running with its namespace"), limit, || {
        let phase = cluster.kubectl(&["get", "pod", pod, "-n", namespace, "-o", "jsonpath={.status.phase}"]).ok()?;
        (phase == "Running").then_some(())?;
        cluster.pod_netns(namespace, pod)
    });
}

/// `cmd` in the pod; (exit success, stdout + stderr).
pub fn exec(cluster: &Cluster, namespace: &str, pod: &str, cmd: &[&str]) -> (bool, String) {
    let out = cluster.exec_in_pod(namespace, pod, cmd).unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}
