//! A VpcNatGateway whose `lanIp` another pod holds is refused, and the pod
//! keeps its address and port: through kubectl, the testbed API server, real
//! OVN and the daemon. The pod in the way wears the gateway pod's name and
//! annotation (`vpc-nat-gw-natgw-0`, `ovn.kubernetes.io/vpc_nat_gw: natgw`)
//! in a tenant's namespace: it is still another pod, since the gateway's own
//! lives in the gateway's workload namespace (`kube-system` here).
//!
//! Also: the `lanIp` is held for the gateway while its pod is away (a pod
//! created meanwhile gets another address, one asking for it is refused
//! naming the gateway), and an inline EIP (the old form's `spec.eips`) holds
//! its address against an IptablesEIP and another gateway, across a restart.

use std::time::Duration;

use ovn_vpcd::testbed::Ovn;
use serde_json::Value as Json;

mod common;
use common::kube::{condition, kubectl_json, start_kube, write_config};
use common::nat::{get, validated, FIXTURES};
use common::{wait_for, Daemon};

const SQUATTER: &str = r#"{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "vpc-nat-gw-natgw-0", "namespace": "sukai263", "annotations": {
   "ovn.kubernetes.io/ip_address": "10.0.1.254", "ovn.kubernetes.io/vpc_nat_gw": "natgw"}},
 "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}}"#;

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

/// Port addresses of pod `ns/name` in the NB (`"<mac> <ip>"`), or "".
fn port_of(ovn: &Ovn, ns: &str, name: &str) -> String {
    ovn.nbctl(&["--bare", "--columns=addresses", "find", "Logical_Switch_Port", &format!("name={name}.{ns}")])
        .unwrap()
        .trim()
        .to_string()
}

fn apply_json(kube: &ovn_vpcd::testbed::Kube, dir: &std::path::Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", path.to_str().unwrap()]).unwrap();
}

/// Warning Events about `name`.
fn warnings(kube: &ovn_vpcd::testbed::Kube, name: &str) -> Vec<Json> {
    let events = kubectl_json(kube, &["get", "events", "-A", "-o", "json"]).unwrap();
    let items = events["items"].as_array().unwrap();
    items.iter().filter(|e| e["involvedObject"]["name"] == name && e["type"] == "Warning").cloned().collect()
}

/// The gateway's own pod as its StatefulSet makes it (here played by hand:
/// the testbed runs no StatefulSet controller), in the daemon's namespace.
const OWN_POD: &str = r#"{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "vpc-nat-gw-natgw-0", "namespace": "kube-system", "annotations": {
   "ovn.kubernetes.io/logical_switch": "vmservers", "ovn.kubernetes.io/ip_address": "10.0.1.2",
   "ovn.kubernetes.io/vpc_nat_gw": "natgw"}},
 "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}}"#;

/// Issue 12's review: the gateway pod's `lanIp` was taken only while the
/// pod existed. Deleted (recreated by its StatefulSet, its node
/// restarting), a pod created in the subnet meanwhile was given the lowest
/// free address — the `lanIp` here — and the gateway was then refused.
/// Now the address is held for the gateway: the new pod gets another, the
/// gateway stays accepted, and its pod gets the `lanIp` back.
#[test]
fn a_gateway_pods_lan_ip_is_not_given_to_a_pod_created_while_it_is_away() {
    if common::kube::on_kube_ovn_crds() {
        return; // Kube-OVN's VpcNatGateway status has no conditions.
    }
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let dir = ovn.dir().to_path_buf();
    let config = write_config(&dir, "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003.yaml")]).unwrap();
    kube.kubectl(&["create", "namespace", "sukai263"]).unwrap();
    // lanIp 10.0.1.2: vmservers' lowest free address (its gateway is .1).
    let gateway = "kind: VpcNatGateway\napiVersion: kubeovn.io/v1\nmetadata:\n  name: natgw\nspec:\n  vpc: mail263\n  \
                   subnet: vmservers\n  lanIp: 10.0.1.2\n";
    apply_json(&kube, &dir, "gw.yaml", gateway);
    apply_json(&kube, &dir, "own.json", OWN_POD);
    wait_for("the gateway pod's port at 10.0.1.2", Duration::from_secs(30), || {
        port_of(&ovn, "kube-system", "vpc-nat-gw-natgw-0").ends_with(" 10.0.1.2").then_some(())
    });
    wait_for("natgw accepted", Duration::from_secs(30), || {
        (validated(&get(&kube, "vpc-nat-gateways", "natgw")?)?.0 == "True").then_some(())
    });

    // The gateway pod deleted; a tenant pod created before it is back.
    kube.kubectl(&["delete", "pod", "vpc-nat-gw-natgw-0", "-n", "kube-system", "--wait=false"]).unwrap();
    wait_for("the gateway pod's port gone", Duration::from_secs(30), || {
        port_of(&ovn, "kube-system", "vpc-nat-gw-natgw-0").is_empty().then_some(())
    });
    let web = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "sukai263"},
 "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}}"#;
    apply_json(&kube, &dir, "web.json", web);
    let port = wait_for("web's port", Duration::from_secs(30), || {
        Some(port_of(&ovn, "sukai263", "web")).filter(|p| !p.is_empty())
    });
    assert!(port.ends_with(" 10.0.1.3"), "web is given the next address, not the gateway's lanIp: {port}");
    // The annotation follows the port (the reporter writes it after the pass).
    wait_for("web annotated with 10.0.1.3", Duration::from_secs(20), || {
        let pod = kubectl_json(&kube, &["get", "pod", "web", "-n", "sukai263", "-o", "json"])?;
        (pod["metadata"]["annotations"]["ovn.kubernetes.io/ip_address"] == "10.0.1.3").then_some(())
    });

    // The gateway pod back: it gets its lanIp, and the gateway was never refused.
    apply_json(&kube, &dir, "own.json", OWN_POD);
    wait_for("the gateway pod's port at 10.0.1.2 again", Duration::from_secs(30), || {
        port_of(&ovn, "kube-system", "vpc-nat-gw-natgw-0").ends_with(" 10.0.1.2").then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let gw = get(&kube, "vpc-nat-gateways", "natgw").unwrap();
    assert_eq!(validated(&gw).map(|v| v.0).as_deref(), Some("True"), "{gw}");
    assert!(warnings(&kube, "natgw").is_empty(), "{:?}", warnings(&kube, "natgw"));
    assert_eq!(port_of(&ovn, "sukai263", "web"), port, "web keeps its address");

    // A pod asking for the lanIp is refused with a reason naming the gateway.
    let asking = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "asking", "namespace": "sukai263",
 "annotations": {"ovn.kubernetes.io/ip_address": "10.0.1.2"}},
 "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}}"#;
    kube.kubectl(&["delete", "pod", "vpc-nat-gw-natgw-0", "-n", "kube-system", "--wait=false"]).unwrap();
    apply_json(&kube, &dir, "asking.json", asking);
    wait_for("the asking pod told", Duration::from_secs(30), || {
        warnings(&kube, "asking")
            .iter()
            .any(|e| {
                e["message"].as_str().is_some_and(|m| m.contains("10.0.1.2") && m.contains("VpcNatGateway \"natgw\""))
            })
            .then_some(())
    });
    assert!(port_of(&ovn, "sukai263", "asking").is_empty());
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}

/// Seed 001/002's inline form: a gateway's `spec.eips`.
const INLINE: &str =
    "kind: VpcNatGateway\napiVersion: kubeovn.io/v1\nmetadata:\n  name: natgw\nspec:\n  vpc: mail263\n  \
subnet: vmservers\n  lanIp: 10.0.1.254\n  eips:\n    - eipCIDR: 172.16.3.208/24\n      gateway: 172.16.3.2\n  \
snatRules:\n    - eip: 172.16.3.208\n      internalCIDR: 10.0.1.0/24\n";

/// Issue 12's review: an inline EIP was in no IPAM, so a separate
/// IptablesEIP (or a second gateway) could be given the same address. Now
/// the later one is refused naming the inline EIP's gateway, the inline
/// gateway is untouched, and so after a daemon restart.
#[test]
fn an_eip_asking_for_an_inline_eips_address_is_refused_and_the_inline_gateway_untouched() {
    if common::kube::on_kube_ovn_crds() {
        return; // Kube-OVN's VpcNatGateway status has no conditions.
    }
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let dir = ovn.dir().to_path_buf();
    let config = write_config(&dir, "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003.yaml")]).unwrap();
    apply_json(&kube, &dir, "inline.yaml", INLINE);
    wait_for("natgw accepted", Duration::from_secs(30), || {
        (validated(&get(&kube, "vpc-nat-gateways", "natgw")?)?.0 == "True").then_some(())
    });

    let others = "kind: VpcNatGateway\napiVersion: kubeovn.io/v1\nmetadata:\n  name: natgw2\nspec:\n  vpc: mail263\n  \
                  subnet: vmservers\n  lanIp: 10.0.1.253\n---\n\
                  kind: IptablesEIP\napiVersion: kubeovn.io/v1\nmetadata:\n  name: dup\nspec:\n  natGwDp: natgw2\n  \
                  v4ip: 172.16.3.208\n---\n\
                  kind: VpcNatGateway\napiVersion: kubeovn.io/v1\nmetadata:\n  name: a-natgw\nspec:\n  vpc: mail263\n  \
                  subnet: vmservers\n  lanIp: 10.0.1.252\n  eips:\n    - eipCIDR: 172.16.3.208/24\n";
    apply_json(&kube, &dir, "others.yaml", others);
    let refused = |plural: &str, name: &str, field: &str| {
        wait_for(&format!("{name} refused"), Duration::from_secs(30), || {
            let v = validated(&get(&kube, plural, name)?)?;
            (v.0 == "False").then_some(v.1)
        })
        .contains(field)
    };
    let says = "172.16.3.208 in subnet ovn-vpc-external-network is taken by an inline EIP of VpcNatGateway \"natgw\"";
    let why = wait_for("dup refused", Duration::from_secs(30), || {
        let v = validated(&get(&kube, "iptables-eips", "dup")?)?;
        (v.0 == "False").then_some(v.1)
    });
    assert!(why.contains("v4ip") && why.contains(says), "{why}");
    assert!(refused("vpc-nat-gateways", "a-natgw", "eips[0]"));
    let why_a = validated(&get(&kube, "vpc-nat-gateways", "a-natgw").unwrap()).unwrap().1;
    assert!(why_a.contains(says), "{why_a}");
    let untouched = |when: &str| {
        let gw = get(&kube, "vpc-nat-gateways", "natgw").unwrap();
        assert_eq!(validated(&gw).map(|v| v.0).as_deref(), Some("True"), "{when}: {gw}");
        assert!(warnings(&kube, "natgw").is_empty(), "{when}: {:?}", warnings(&kube, "natgw"));
    };
    untouched("beside the conflicts");
    let eip = get(&kube, "iptables-eips", "dup").unwrap();
    assert_ne!(eip["status"]["ip"], "172.16.3.208", "{eip}");
    // The inline EIP counts in its subnet's usage (it holds an address there).
    let using = || get(&kube, "subnets", "ovn-vpc-external-network")?["status"]["v4usingIPs"].as_f64();
    wait_for("the inline EIP counted in its subnet", Duration::from_secs(20), || (using()? == 1.0).then_some(()));

    // Restarted: the same holders, though a-natgw comes first by name (natgw's
    // inline EIP is restored from its status before anything is derived).
    drop(daemon);
    let daemon = Daemon::start(&ovn, &config, &[]);
    std::thread::sleep(Duration::from_secs(4));
    wait_for("dup still refused", Duration::from_secs(30), || {
        let v = validated(&get(&kube, "iptables-eips", "dup")?)?;
        (v.0 == "False" && v.1.contains(says)).then_some(())
    });
    untouched("after a restart");
    let why_a = validated(&get(&kube, "vpc-nat-gateways", "a-natgw").unwrap()).unwrap();
    assert!(why_a.0 == "False" && why_a.1.contains(says), "{why_a:?}");
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}
