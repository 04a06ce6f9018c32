//! A VpcNatGateway whose `lanIp` another pod holds is refused, and the pod
//! keeps its address and port: through kubectl, the testbed API server, real
//! OVN and the daemon. The pod in the way wears the gateway pod's name and
//! annotation (`vpc-nat-gw-natgw-0`, `ovn.kubernetes.io/vpc_nat_gw: natgw`)
//! in a tenant's namespace: it is still another pod, since the gateway's own
//! lives in the gateway's workload namespace (`kube-system` here).

use std::time::Duration;

use ovn_vpcd::testbed::Ovn;
use serde_json::Value as Json;

mod common;
use common::kube::{condition, kubectl_json, start_kube, write_config};
use common::{wait_for, Daemon};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

const SQUATTER: &str = r#"{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "vpc-nat-gw-natgw-0", "namespace": "sukai263", "annotations": {
   "ovn.kubernetes.io/ip_address": "10.0.1.254", "ovn.kubernetes.io/vpc_nat_gw": "natgw"}},
 "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}}"#;

fn get(kube: &ovn_vpcd::testbed::Kube, plural: &str, name: &str) -> Option<Json> {
    kubectl_json(kube, &["get", plural, name, "-o", "json"])
}

fn validated(o: &Json) -> Option<(String, String)> {
    let c = o["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Validated")?;
    Some((c["status"].as_str()?.into(), c["message"].as_str().unwrap_or("").into()))
}

#[test]
fn a_gateway_whose_lan_ip_another_pod_holds_is_refused_and_the_pod_keeps_it() {
    if common::kube::on_kube_ovn_crds() {
        return; // Kube-OVN's VpcNatGateway status has no conditions.
    }
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let _daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003.yaml")]).unwrap();
    kube.kubectl(&["create", "namespace", "sukai263"]).unwrap();
    let file = ovn.dir().join("squatter.json");
    std::fs::write(&file, SQUATTER).unwrap();
    kube.kubectl(&["apply", "-f", file.to_str().unwrap()]).unwrap();
    let port_addresses = || {
        ovn.nbctl(&["--bare", "--columns=addresses", "find", "Logical_Switch_Port", "name=vpc-nat-gw-natgw-0.sukai263"])
            .unwrap()
            .trim()
            .to_string()
    };
    wait_for("the pod's port at 10.0.1.254", Duration::from_secs(30), || {
        port_addresses().ends_with(" 10.0.1.254").then_some(())
    });
    let before = port_addresses();

    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003-nat.yaml")]).unwrap();
    let gw = wait_for("natgw refused", Duration::from_secs(30), || {
        let o = get(&kube, "vpc-nat-gateways", "natgw")?;
        (validated(&o)?.0 == "False").then_some(o)
    });
    let why = validated(&gw).unwrap().1;
    assert!(why.contains("lanIp") && why.contains("10.0.1.254 is taken by pod sukai263/vpc-nat-gw-natgw-0"), "{why}");
    // Its EIPs wait for it (no refusal of their own), and nothing reaches the pod.
    let eip = wait_for("eips01 waiting", Duration::from_secs(20), || {
        let o = get(&kube, "iptables-eips", "eips01")?;
        (condition(&o, "Ready")?.1 == "WaitingForDependency").then_some(o)
    });
    assert_ne!(condition(&eip, "Validated").map(|c| c.0), Some("False".into()), "{eip}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(port_addresses(), before, "the pod in the way keeps its port and address");
    let pod = get(&kube, "pods", "vpc-nat-gw-natgw-0")
        .or_else(|| kubectl_json(&kube, &["get", "pod", "vpc-nat-gw-natgw-0", "-n", "sukai263", "-o", "json"]));
    let ann = &pod.unwrap()["metadata"]["annotations"];
    assert_eq!(ann["ovn.kubernetes.io/ip_address"], "10.0.1.254", "{ann}");

    // The pod gone, the gateway is taken.
    kube.kubectl(&["delete", "pod", "vpc-nat-gw-natgw-0", "-n", "sukai263", "--wait=false"]).unwrap();
    wait_for("natgw accepted once the pod is gone", Duration::from_secs(30), || {
        let o = get(&kube, "vpc-nat-gateways", "natgw")?;
        (validated(&o)?.0 == "True").then_some(())
    });
}
