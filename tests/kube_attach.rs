//! Multus attachment addresses, through kubectl against the testbed API
//! server with the daemon and real OVN: a pod naming `kube-system/ext` gets
//! an address of the subnet whose provider is `ext.kube-system`, with
//! Kube-OVN's per-provider annotations; a requested address is honoured and
//! a second pod asking for it gets an Event; an attachment no subnet
//! provides is an Event too; the subnet's status counts them; no NB rows;
//! the addresses survive a restart and go with their pods.

use std::time::Duration;

use ovn_vpcd::testbed::{Kube, Ovn};
use serde_json::Value as Json;

mod common;
use common::kube::{kubectl_json, start_kube, write_config};
use common::{wait_for, Daemon};

const RESOURCES: &str = r#"
kind: Vpc
apiVersion: kubeovn.io/v1
metadata:
  name: va
---
kind: Subnet
apiVersion: kubeovn.io/v1
metadata:
  name: va-net
spec:
  vpc: va
  cidrBlock: 10.0.9.0/24
  protocol: IPv4
  namespaces:
    - default
---
kind: Subnet
apiVersion: kubeovn.io/v1
metadata:
  name: ext
spec:
  cidrBlock: 192.168.239.0/24
  gateway: 192.168.239.1
  protocol: IPv4
  provider: ext.kube-system
  excludeIps:
    - 192.168.239.2..192.168.239.9
"#;

const P: &str = "ext.kube-system.kubernetes.io";

fn pod_yaml(name: &str, annotations: &[(&str, &str)]) -> String {
    let mut y = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\n  annotations:\n");
    for (k, v) in annotations {
        y.push_str(&format!("    {k}: \"{v}\"\n"));
    }
    y.push_str("spec:\n  containers:\n    - name: c\n      image: busybox\n");
    y
}

fn apply(kube: &Kube, ovn: &Ovn, docs: &[String]) {
    let file = ovn.dir().join("attach.yaml");
    std::fs::write(&file, docs.join("---\n")).unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", file.to_str().unwrap()]).unwrap();
}

/// The pod's annotations once its attachment on `ext.kube-system` is allocated.
fn attached(kube: &Kube, pod: &str) -> Json {
    wait_for(&format!("{pod}'s attachment annotated"), Duration::from_secs(20), || {
        let o = kubectl_json(kube, &["get", "pod", pod, "-o", "json"])?;
        let a = &o["metadata"]["annotations"];
        (a[format!("{P}/allocated")] == "true").then(|| a.clone())
    })
}

fn ext_used(kube: &Kube, n: f64) {
    wait_for(&format!("ext counts {n} used"), Duration::from_secs(20), || {
        let o = kubectl_json(kube, &["get", "subnet", "ext", "-o", "json"])?;
        (o["status"]["v4usingIPs"].as_f64() == Some(n)).then_some(())
    });
}

fn event_of(kube: &Kube, pod: &str) -> Json {
    wait_for(&format!("{pod}'s Event"), Duration::from_secs(20), || {
        let events = kubectl_json(kube, &["get", "events", "-o", "json"])?;
        events["items"].as_array()?.iter().find(|e| e["involvedObject"]["name"] == pod).cloned()
    })
}

#[test]
fn attachments_get_addresses_of_their_providers_subnet_with_kube_ovns_annotations() {
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    apply(&kube, &ovn, &[RESOURCES.to_string()]);
    let net = "k8s.v1.cni.cncf.io/networks";
    let ip = format!("{P}/ip_address");
    apply(&kube, &ovn, &[pod_yaml("a", &[(net, "kube-system/ext")])]);
    let a = attached(&kube, "a");
    assert_eq!(a[&ip], "192.168.239.10", "the lowest address past the excludes: {a}");
    assert_eq!(a[format!("{P}/logical_switch")], "ext", "{a}");
    assert_eq!(a[format!("{P}/cidr")], "192.168.239.0/24", "{a}");
    assert_eq!(a[format!("{P}/gateway")], "192.168.239.1", "{a}");
    let mac = a[format!("{P}/mac_address")].as_str().unwrap().to_string();
    assert_eq!(mac.len(), 17, "{a}");
    // Its primary port is as without the attachment.
    assert_eq!(a["ovn.kubernetes.io/logical_switch"], "va-net", "{a}");
    assert_eq!(a["ovn.kubernetes.io/ip_address"], "10.0.9.2", "{a}");

    apply(
        &kube,
        &ovn,
        &[
            pod_yaml("fixed", &[(net, "kube-system/ext"), (&ip, "192.168.239.50")]),
            // Asks for fixed's address.
            pod_yaml("zdup", &[(net, "kube-system/ext"), (&ip, "192.168.239.50")]),
            pod_yaml("lost", &[(net, "kube-system/nowhere")]),
        ],
    );
    assert_eq!(attached(&kube, "fixed")[&ip], "192.168.239.50");
    let event = event_of(&kube, "zdup");
    assert_eq!(event["reason"], "AddressNotAllocated", "{event}");
    let message = event["message"].as_str().unwrap();
    assert!(message.contains("192.168.239.50") && message.contains("default/fixed"), "{message}");
    let event = event_of(&kube, "lost");
    let message = event["message"].as_str().unwrap();
    assert!(message.contains("kube-system/nowhere") && message.contains("nowhere.kube-system"), "{message}");
    // Their primary ports are unaffected.
    for pod in ["zdup", "lost"] {
        wait_for(&format!("{pod} routed"), Duration::from_secs(20), || {
            let o = kubectl_json(&kube, &["get", "pod", pod, "-o", "json"])?;
            (o["metadata"]["annotations"]["ovn.kubernetes.io/routed"] == "true").then_some(())
        });
    }
    ext_used(&kube, 2.0);
    // No NB rows for the attachment network.
    let switches = ovn.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch"]).unwrap();
    assert!(!switches.split_whitespace().any(|s| s == "ext"), "{switches}");
    let ports = ovn.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch_Port"]).unwrap();
    assert!(!ports.contains("ext."), "{ports}");

    // Restarted, the daemon restores the attachments from the annotations
    // before allocating: "aaa", new and first, does not get a's address.
    drop(daemon);
    apply(&kube, &ovn, &[pod_yaml("aaa", &[(net, "kube-system/ext")])]);
    let _daemon = Daemon::start(&ovn, &config, &[]);
    assert_eq!(attached(&kube, "aaa")[&ip], "192.168.239.11");
    ext_used(&kube, 3.0);
    let a = kubectl_json(&kube, &["get", "pod", "a", "-o", "json"]).unwrap();
    assert_eq!(a["metadata"]["annotations"][&ip], "192.168.239.10");

    // A deleted pod releases its attachment: the next pod gets its address.
    kube.kubectl(&["delete", "pod", "a"]).unwrap();
    ext_used(&kube, 2.0);
    apply(&kube, &ovn, &[pod_yaml("b", &[(net, "kube-system/ext")])]);
    assert_eq!(attached(&kube, "b")[&ip], "192.168.239.10");
    ext_used(&kube, 3.0);
}
