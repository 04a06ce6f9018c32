//! Defects found by a hostile review of issue 9's fixes, on the Kubernetes
//! side: the daemon against real OVN and the testbed API server, driven
//! with kubectl.

use std::time::Duration;

use ovn_vpcd::testbed::{Kube, Ovn};
use serde_json::json;

mod common;
use common::kube::{
    condition, kubectl_json, start_kube, start_kube_with, subnets_keep_unknown_fields, uuid_of, write_config,
    SEED_002_YAML,
};
use common::{wait_for, Daemon};

const FIXTURE: &str = SEED_002_YAML;

/// Pod `web` in namespace `x-test-vpc-2` has port `web.x-test-vpc-2`, which
/// is also subnet `web.x`'s switch port in VPC `test-vpc-2`
/// (`<subnet>-<vpc>`), and both rows had the id `lsp:web.x-test-vpc-2`: the
/// subnet arriving took the pod's port over (type router, the subnet's
/// owner) and the two fought over it on every pass. The pod's port, already
/// in the NB, keeps its name; the subnet is refused naming it.
#[test]
fn a_subnet_whose_switch_port_is_a_pods_port_name_is_refused() {
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "-f", FIXTURE]).unwrap();
    kube.kubectl(&["create", "namespace", "x-test-vpc-2"]).unwrap();
    let dir = ovn.dir();
    let pod = dir.join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: x-test-vpc-2\n  annotations:\n    \
         ovn.kubernetes.io/logical_switch: net2\nspec:\n  containers:\n    - name: c\n      image: nginx\n",
    )
    .unwrap();
    kube.kubectl(&["apply", "-f", pod.to_str().unwrap()]).unwrap();
    let port = wait_for("the pod's port", Duration::from_secs(20), || {
        Some(uuid_of(&ovn, "Logical_Switch_Port", "web.x-test-vpc-2")).filter(|u| !u.is_empty())
    });
    let addresses = ovn.nbctl(&["get", "Logical_Switch_Port", &port, "addresses"]).unwrap();
    let subnet = dir.join("subnet.yaml");
    std::fs::write(
        &subnet,
        "apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata:\n  name: web.x\nspec:\n  vpc: test-vpc-2\n  \
         cidrBlock: 10.0.9.0/24\n",
    )
    .unwrap();
    kube.kubectl(&["apply", "-f", subnet.to_str().unwrap()]).unwrap();
    let o = wait_for("web.x refused", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "subnet", "web.x", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "False").then_some(o)
    });
    assert!(o.to_string().contains("is the port of Pod x-test-vpc-2/web in the NB"), "the message names the pod: {o}");
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(uuid_of(&ovn, "Logical_Switch_Port", "web.x-test-vpc-2"), port, "the pod keeps its port");
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", &port, "addresses"]).unwrap(), addresses);
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", &port, "type"]).unwrap().trim(), "\"\"");
    assert_eq!(
        ovn.nbctl(&["get", "Logical_Switch_Port", &port, "external_ids:ovn-vpcd/owner"]).unwrap().trim(),
        "\"Pod/x-test-vpc-2/web\""
    );
    assert!(!daemon.log().contains("not converged"), "{}", daemon.log());
}

/// The other order: subnet `web.x` first, then pod `web` in namespace
/// `x-test-vpc-2`. The pod's port had the subnet port's id, so the pod took
/// the subnet's router-type port over (now its `addresses`, its owner) and
/// the two rewrote it in turn. The subnet keeps its port; the pod gets none
/// and says why.
#[test]
fn a_pod_whose_port_name_is_a_subnets_switch_port_gets_no_port() {
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "-f", FIXTURE]).unwrap();
    let dir = ovn.dir();
    let subnet = dir.join("subnet.yaml");
    std::fs::write(
        &subnet,
        "apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata:\n  name: web.x\nspec:\n  vpc: test-vpc-2\n  \
         cidrBlock: 10.0.9.0/24\n",
    )
    .unwrap();
    kube.kubectl(&["apply", "-f", subnet.to_str().unwrap()]).unwrap();
    let port = wait_for("the subnet's port", Duration::from_secs(20), || {
        Some(uuid_of(&ovn, "Logical_Switch_Port", "web.x-test-vpc-2")).filter(|u| !u.is_empty())
    });
    kube.kubectl(&["create", "namespace", "x-test-vpc-2"]).unwrap();
    let pod = dir.join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: x-test-vpc-2\n  annotations:\n    \
         ovn.kubernetes.io/logical_switch: net2\nspec:\n  containers:\n    - name: c\n      image: nginx\n",
    )
    .unwrap();
    kube.kubectl(&["apply", "-f", pod.to_str().unwrap()]).unwrap();
    wait_for("the pod refused", Duration::from_secs(20), || {
        daemon.log().contains("is the switch port of subnet").then_some(())
    });
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(uuid_of(&ovn, "Logical_Switch_Port", "web.x-test-vpc-2"), port);
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", &port, "type"]).unwrap().trim(), "router");
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", &port, "addresses"]).unwrap().trim(), "[router]");
    assert_eq!(
        ovn.nbctl(&["get", "Logical_Switch_Port", &port, "external_ids:ovn-vpcd/owner"]).unwrap().trim(),
        "\"Subnet/web.x\""
    );
    assert_eq!(ovn.nbctl(&["lsp-list", "net2"]).unwrap().lines().count(), 1, "no port for the pod on net2");
    assert!(!daemon.log().contains("not converged"), "{}", daemon.log());
}

fn pod_yaml(dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: ns1\nspec:\n  containers:\n    - name: c\n      \
             image: nginx\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// Seed 002 with pod `web` on net1 (10.0.1.2), converged by a running
/// daemon: `(kube, crds, ovn, config, the daemon, web's port uuid, its addresses)`.
fn web_on_net1() -> (Kube, tempfile::TempDir, Ovn, std::path::PathBuf, Daemon, String, String) {
    let (kube, crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "-f", FIXTURE]).unwrap();
    kube.kubectl(&["create", "namespace", "ns1"]).unwrap();
    kube.kubectl(&["apply", "-f", &pod_yaml(ovn.dir(), "web")]).unwrap();
    let port = wait_for("web's port", Duration::from_secs(20), || {
        Some(uuid_of(&ovn, "Logical_Switch_Port", "web.ns1")).filter(|u| !u.is_empty())
    });
    let addresses = ovn.nbctl(&["get", "Logical_Switch_Port", &port, "addresses"]).unwrap();
    (kube, crds, ovn, config, daemon, port, addresses)
}

/// As [`web_on_net1`], the daemon then stopped.
fn web_on_net1_daemon_stopped() -> (Kube, tempfile::TempDir, Ovn, std::path::PathBuf, String, String) {
    let (kube, crds, ovn, config, daemon, port, addresses) = web_on_net1();
    drop(daemon);
    (kube, crds, ovn, config, port, addresses)
}

/// A subnet refused when the daemon starts: its pods' addresses could not be
/// restored (the IPAM knew no such subnet), so when the subnet was valid
/// again every pod was allocated anew, in name order, and a pod created in
/// the meantime (`api`, before `web`) got `web`'s address: `web` was refused
/// ("requested ip … taken") and lost its port. The pods of a refused subnet
/// are restored as soon as the subnet is valid, before anyone allocates.
#[test]
fn a_subnet_refused_at_start_gives_its_pods_their_addresses_back_first() {
    let (kube, _crds, ovn, config, port, addresses) = web_on_net1_daemon_stopped();
    // While the daemon is down, net1 is edited into a spec it refuses.
    let cidr = |c: &str| json!({"spec": {"cidrBlock": c}}).to_string();
    kube.kubectl(&["patch", "subnet", "net1", "--type=merge", "-p", &cidr("10.0.1.1/24")]).unwrap();
    let daemon = Daemon::start(&ovn, &config, &[]);
    wait_for("net1 refused", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net1", "-o", "json"])?;
        (condition(&o, "Validated")? == ("False".into(), "ValidationFailed".into())).then_some(())
    });
    kube.kubectl(&["apply", "-f", &pod_yaml(ovn.dir(), "api")]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    kube.kubectl(&["patch", "subnet", "net1", "--type=merge", "-p", &cidr("10.0.1.0/24")]).unwrap();
    let api = wait_for("api's port", Duration::from_secs(20), || {
        Some(uuid_of(&ovn, "Logical_Switch_Port", "api.ns1")).filter(|u| !u.is_empty())
    });
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(uuid_of(&ovn, "Logical_Switch_Port", "web.ns1"), port, "web keeps its port: {}", daemon.log());
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", &port, "addresses"]).unwrap(), addresses);
    assert_ne!(ovn.nbctl(&["get", "Logical_Switch_Port", &api, "addresses"]).unwrap(), addresses);
}

/// Subnet net2 refused because its spec does not decode (a field no
/// version has, let through by a CRD that keeps unknown fields): its rows
/// stay, but validation never saw it, so a new subnet net3 with net2's
/// 10.0.1.0/24 in the same VPC joined router test-vpc-2 beside net2's kept
/// port (two ports with 10.0.1.1/24) and took net2's automatic policy.
#[test]
fn a_subnet_overlapping_an_undecodable_subnets_kept_rows_is_refused() {
    let (kube, _crds) = start_kube_with(subnets_keep_unknown_fields);
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let _daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "-f", FIXTURE]).unwrap();
    wait_for("net2's port", Duration::from_secs(20), || {
        Some(uuid_of(&ovn, "Logical_Router_Port", "test-vpc-2-net2")).filter(|u| !u.is_empty())
    });
    let policy = ovn
        .nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Router_Policy", "external_ids:subnet=net2"])
        .unwrap()
        .trim()
        .to_string();
    let patch = json!({"spec": {"someFieldNoVersionHas": 1}});
    kube.kubectl(&["patch", "subnet", "net2", "--type=merge", "-p", &patch.to_string()]).unwrap();
    wait_for("net2 refused", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net2", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "False").then_some(())
    });
    let net3 = ovn.dir().join("net3.yaml");
    std::fs::write(
        &net3,
        "apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata:\n  name: net3\nspec:\n  vpc: test-vpc-2\n  cidrBlock: 10.0.1.0/24\n",
    )
    .unwrap();
    kube.kubectl(&["apply", "-f", net3.to_str().unwrap()]).unwrap();
    let o = wait_for("net3 refused", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net3", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "False").then_some(o)
    });
    assert!(o.to_string().contains("overlaps subnet \\\"net2\\\" in VPC \\\"test-vpc-2\\\", which is refused"), "{o}");
    std::thread::sleep(Duration::from_millis(1000));
    let ports = ovn.nbctl(&["lrp-list", "test-vpc-2"]).unwrap();
    assert_eq!(ports.lines().count(), 1, "{ports}");
    assert!(ports.contains("test-vpc-2-net2"), "{ports}");
    assert_eq!(
        ovn.nbctl(&["get", "Logical_Router_Policy", &policy, "external_ids:ovn-vpcd/owner"]).unwrap().trim(),
        "\"Subnet/net2\""
    );
}

/// As [`web_on_net1`], net1 then shrunk to 10.0.1.128/25 under the running
/// daemon and refused: `(kube, crds, ovn, the daemon, web's port, its addresses)`.
fn web_on_net1_shrink_refused() -> (Kube, tempfile::TempDir, Ovn, Daemon, String, String) {
    let (kube, crds, ovn, _config, daemon, port, addresses) = web_on_net1();
    assert!(addresses.contains("10.0.1.2"), "{addresses}");
    let patch = json!({"spec": {"cidrBlock": "10.0.1.128/25", "gateway": "10.0.1.129"}});
    kube.kubectl(&["patch", "subnet", "net1", "--type=merge", "-p", &patch.to_string()]).unwrap();
    let o = wait_for("net1 refused", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net1", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "False").then_some(o)
    });
    assert!(o.to_string().contains("would release the addresses of 1 pod(s) that no longer fit (ns1/web)"), "{o}");
    (kube, crds, ovn, daemon, port, addresses)
}

/// net1 shrunk from 10.0.1.0/24 to 10.0.1.128/25, which leaves running pod
/// web's 10.0.1.2 outside: the IPAM evicted the pod ("no longer fits") and
/// its port was deleted at once, a working pod cut off by a subnet edit.
/// The edit is refused while it would take addresses of running pods; the
/// subnet and the pod keep their rows.
#[test]
fn a_subnet_edit_that_would_take_running_pods_addresses_is_refused() {
    let (kube, _crds, ovn, daemon, port, addresses) = web_on_net1_shrink_refused();
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(uuid_of(&ovn, "Logical_Switch_Port", "web.ns1"), port, "web keeps its port: {}", daemon.log());
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", &port, "addresses"]).unwrap(), addresses);
    assert!(!daemon.log().contains("pod address released"), "{}", daemon.log());
    // Changed back: Ready again, the same port.
    let patch = json!({"spec": {"cidrBlock": "10.0.1.0/24", "gateway": "10.0.1.1"}});
    kube.kubectl(&["patch", "subnet", "net1", "--type=merge", "-p", &patch.to_string()]).unwrap();
    wait_for("net1 valid", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net1", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "True").then_some(o)
    });
    assert_eq!(uuid_of(&ovn, "Logical_Switch_Port", "web.ns1"), port);
}

/// The refusal says "delete them first": once the pod in the way is gone
/// the same edit (unchanged since) is taken, with no other change to the
/// subnet, and the switch follows it. A refusal kept with the validation of
/// unchanged specs would hold the subnet refused for ever.
#[test]
fn a_refused_subnet_edit_is_taken_once_the_pods_in_its_way_are_deleted() {
    let (kube, _crds, ovn, daemon, _port, _addresses) = web_on_net1_shrink_refused();
    kube.kubectl(&["delete", "pod", "-n", "ns1", "web", "--wait=false"]).unwrap();
    wait_for("net1 valid", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net1", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "True").then_some(o)
    });
    let switch = uuid_of(&ovn, "Logical_Switch", "net1");
    wait_for("net1's switch on the new CIDR", Duration::from_secs(20), || {
        let subnet = ovn.nbctl(&["get", "Logical_Switch", &switch, "other_config:subnet"]).ok()?;
        (subnet.trim().trim_matches('"') == "10.0.1.128/25").then_some(())
    });
    assert_eq!(uuid_of(&ovn, "Logical_Switch_Port", "web.ns1"), "", "{}", daemon.log());
}

/// The same edit made while the daemon is down: at start web's address no
/// longer fit, could not be restored, web was given nothing (its annotated
/// address is outside) and its port was deleted. The subnet is refused,
/// web keeps its port, and changing the subnet back gives it its address.
#[test]
fn a_subnet_edit_made_while_the_daemon_was_down_does_not_cost_its_pods_their_ports() {
    let (kube, _crds, ovn, config, port, addresses) = web_on_net1_daemon_stopped();
    let patch = json!({"spec": {"cidrBlock": "10.0.1.128/25", "gateway": "10.0.1.129"}});
    kube.kubectl(&["patch", "subnet", "net1", "--type=merge", "-p", &patch.to_string()]).unwrap();
    let daemon = Daemon::start(&ovn, &config, &[]);
    let o = wait_for("net1 refused", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net1", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "False").then_some(o)
    });
    assert!(o.to_string().contains("would release the addresses of 1 pod(s) that no longer fit (ns1/web)"), "{o}");
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(uuid_of(&ovn, "Logical_Switch_Port", "web.ns1"), port, "web keeps its port: {}", daemon.log());
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", &port, "addresses"]).unwrap(), addresses);
    let patch = json!({"spec": {"cidrBlock": "10.0.1.0/24", "gateway": "10.0.1.1"}});
    kube.kubectl(&["patch", "subnet", "net1", "--type=merge", "-p", &patch.to_string()]).unwrap();
    wait_for("net1 valid", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net1", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "True").then_some(o)
    });
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(uuid_of(&ovn, "Logical_Switch_Port", "web.ns1"), port, "{}", daemon.log());
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", &port, "addresses"]).unwrap(), addresses);
    assert!(!daemon.log().contains("pod gets no port"), "{}", daemon.log());
}
