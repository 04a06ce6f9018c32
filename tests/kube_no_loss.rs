//! Nothing lost on the Kubernetes side (issue 9, items 4, 5 and 9): the
//! daemon against real OVN and the testbed API server, driven with kubectl.

use std::time::Duration;

use ovn_vpcd::testbed::Ovn;
use serde_json::{json, Value as Json};

mod common;
use common::kube::{
    condition, kubectl_json, start_kube, start_kube_with, subnets_keep_unknown_fields, uuid_of, write_config,
    SEED_002_YAML,
};
use common::{wait_for, Daemon};

const FIXTURE: &str = SEED_002_YAML;

fn ready(kube: &ovn_vpcd::testbed::Kube, kind: &str, name: &str) -> Option<Json> {
    let o = kubectl_json(kube, &["get", kind, name, "-o", "json"])?;
    (condition(&o, "Ready")?.0 == "True").then_some(o)
}

/// 9.9: `kubectl delete -f` of a file holding a VPC and its subnet removes
/// both objects' rows before the finalizers let the objects go.
#[test]
fn kubectl_delete_of_a_vpc_and_its_subnet_removes_all_their_rows() {
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let _daemon = Daemon::start(&ovn, &config, &[]);
    let file = ovn.dir().join("tenant.yaml");
    std::fs::write(
        &file,
        "kind: Vpc\napiVersion: kubeovn.io/v1\nmetadata:\n  name: vd\nspec:\n  staticRoutes:\n    - cidr: 0.0.0.0/0\n      \
         nextHopIP: 10.0.8.254\n      policy: policyDst\n---\nkind: Subnet\napiVersion: kubeovn.io/v1\nmetadata:\n  name: vd-net\n\
         spec:\n  vpc: vd\n  cidrBlock: 10.0.8.0/24\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    for round in 0..2 {
        kube.kubectl(&["apply", "-f", file]).unwrap();
        wait_for(&format!("round {round}: both Ready"), Duration::from_secs(20), || {
            ready(&kube, "vpc", "vd")?;
            ready(&kube, "subnet", "vd-net")
        });
        assert!(!uuid_of(&ovn, "Logical_Switch", "vd-net").is_empty());
        kube.kubectl(&["delete", "-f", file, "--timeout=30s"]).unwrap();
        // kubectl returns once both objects are gone: their rows went first.
        assert_eq!(uuid_of(&ovn, "Logical_Switch", "vd-net"), "", "round {round}: the subnet's switch");
        assert_eq!(uuid_of(&ovn, "Logical_Switch_Port", "vd-net-vd"), "", "round {round}: its port");
        assert_eq!(uuid_of(&ovn, "Logical_Router", "vd"), "", "round {round}: the router");
    }
}

/// 9.5: one bad static route on a VPC refuses the VPC; its subnet waits for
/// it and its pods keep their ports; fixed, everything is Ready again with
/// the same rows.
#[test]
fn a_refused_vpc_keeps_its_subnets_and_pods_ports() {
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "-f", FIXTURE]).unwrap();
    kube.kubectl(&["create", "namespace", "ns1"]).unwrap();
    let pod = ovn.dir().join("pod.yaml");
    std::fs::write(&pod, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: ns1\nspec:\n  containers:\n    - name: c\n      image: nginx\n").unwrap();
    kube.kubectl(&["apply", "-f", pod.to_str().unwrap()]).unwrap();
    wait_for("the pod's port", Duration::from_secs(20), || {
        Some(uuid_of(&ovn, "Logical_Switch_Port", "web.ns1")).filter(|u| !u.is_empty())
    });
    wait_for("net1 Ready", Duration::from_secs(20), || ready(&kube, "subnet", "net1"));
    let rows = |ovn: &Ovn| {
        [
            ("Logical_Switch", "net1"),
            ("Logical_Switch_Port", "web.ns1"),
            ("Logical_Router_Port", "test-vpc-1-net1"),
            ("Logical_Router", "test-vpc-1"),
        ]
        .map(|(t, n)| uuid_of(ovn, t, n))
    };
    let before = rows(&ovn);
    let address = ovn.nbctl(&["get", "Logical_Switch_Port", "web.ns1", "addresses"]).unwrap();

    // A next hop of the wrong family: the VPC is refused.
    let patch =
        json!({"spec": {"staticRoutes": [{"cidr": "0.0.0.0/0", "nextHopIP": "fd00::1", "policy": "policyDst"}]}});
    kube.kubectl(&["patch", "vpc", "test-vpc-1", "--type=merge", "-p", &patch.to_string()]).unwrap();
    wait_for("the VPC refused", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "vpc", "test-vpc-1", "-o", "json"])?;
        (condition(&o, "Validated")? == ("False".into(), "ValidationFailed".into())).then_some(())
    });
    let net1 = wait_for("net1 waiting", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net1", "-o", "json"])?;
        (condition(&o, "Ready")? == ("False".into(), "WaitingForDependency".into())).then_some(o)
    });
    assert!(net1.to_string().contains("VPC \\\"test-vpc-1\\\" is refused"), "{net1}");
    // A few passes later (SIGHUP forces one): nothing moved.
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rows(&ovn), before, "switch, pod port, router port and router keep their rows");
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", "web.ns1", "addresses"]).unwrap(), address);
    assert!(!daemon.log().contains("pod address released"), "{}", daemon.log());

    // Fixed: Ready again, the same rows.
    let patch =
        json!({"spec": {"staticRoutes": [{"cidr": "0.0.0.0/0", "nextHopIP": "10.0.1.254", "policy": "policyDst"}]}});
    kube.kubectl(&["patch", "vpc", "test-vpc-1", "--type=merge", "-p", &patch.to_string()]).unwrap();
    wait_for("VPC and net1 Ready", Duration::from_secs(20), || {
        ready(&kube, "vpc", "test-vpc-1")?;
        ready(&kube, "subnet", "net1")
    });
    assert_eq!(rows(&ovn), before);
    assert_eq!(ovn.nbctl(&["get", "Logical_Switch_Port", "web.ns1", "addresses"]).unwrap(), address);
}

/// 9.4: a spec the daemon cannot read (here a field no version knows, let
/// through by a CRD that keeps unknown fields) refuses the resource, which
/// keeps its rows.
#[test]
fn a_resource_refused_for_its_spec_keeps_its_rows() {
    let (kube, _crds) = start_kube_with(subnets_keep_unknown_fields);
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let _daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "-f", FIXTURE]).unwrap();
    wait_for("net2 Ready", Duration::from_secs(20), || ready(&kube, "subnet", "net2"));
    let switch = uuid_of(&ovn, "Logical_Switch", "net2");
    let port = uuid_of(&ovn, "Logical_Router_Port", "test-vpc-2-net2");
    let patch = json!({"spec": {"someFieldNoVersionHas": 1}});
    kube.kubectl(&["patch", "subnet", "net2", "--type=merge", "-p", &patch.to_string()]).unwrap();
    let o = wait_for("net2 refused", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net2", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "False").then_some(o)
    });
    assert!(o.to_string().contains("someFieldNoVersionHas"), "{o}");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(uuid_of(&ovn, "Logical_Switch", "net2"), switch, "the switch stays");
    assert_eq!(uuid_of(&ovn, "Logical_Router_Port", "test-vpc-2-net2"), port, "its router port stays");
}
