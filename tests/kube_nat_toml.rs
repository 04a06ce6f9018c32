//! The NAT gateway kinds written in the TOML, through the testbed API
//! server and the daemon with real OVN: seed 003's VPC, subnets, gateway,
//! EIPs and rules as `[[vpc]]`, `[[subnet]]`, `[[vpcNatGateway]]`,
//! `[[iptablesEip]]`, ... → the gateway's workload exists, owned by the
//! anchor ConfigMap `ovn-vpcd-toml-gateways` of the daemon's namespace,
//! with the rule set the resource form renders; a resource of the
//! gateway's name is refused and owns nothing; a hand edit is undone; the
//! anchor deleted by hand is made again and owns the workload again; the
//! gateway removed from the TOML (SIGHUP) → its workload and the anchor go,
//! and nothing else moves.

use std::collections::BTreeSet;
use std::time::Duration;

use ovn_vpcd::testbed::{Kube, Ovn};

mod common;
use common::kube::{condition, kubectl_json, start_kube, write_config};
use common::nat::{apply, get_ns, FIXTURES};
use common::{wait_for, Daemon};

/// Seed 003's gateway and rules (tests/fixtures/seed-003-nat.yaml) as TOML.
const SEED_003_NAT: &str = r#"
[[vpcNatGateway]]
name = "natgw"
vpc = "mail263"
subnet = "vmservers"
lanIp = "10.0.1.254"
selector = ["kubernetes.io/hostname: ubuntuserver1", "kubernetes.io/os: linux"]

[[iptablesEip]]
name = "eips01"
natGwDp = "natgw"
v4ip = "172.16.3.208"

[[iptablesSnatRule]]
name = "snat01"
eip = "eips01"
internalCIDR = "10.0.1.0/24"

[[iptablesEip]]
name = "eipd01"
natGwDp = "natgw"
v4ip = "172.16.3.203"

[[iptablesDnatRule]]
name = "dnat01"
eip = "eipd01"
externalPort = "8888"
internalIp = "10.0.1.2"
internalPort = "80"
protocol = "tcp"
"#;

const WORKLOAD: [(&str, &str); 5] = [
    ("configmap", "vpc-nat-gw-natgw-rules"),
    ("serviceaccount", "vpc-nat-gw-natgw"),
    ("role", "vpc-nat-gw-natgw"),
    ("rolebinding", "vpc-nat-gw-natgw"),
    ("statefulset", "vpc-nat-gw-natgw"),
];
const ANCHOR: &str = "ovn-vpcd-toml-gateways";
/// The gateway pod's switch port, as `ovn-nbctl find` selects it.
const POD_PORT: &str = "name=vpc-nat-gw-natgw-0.kube-system";

/// Seed 003's rule set, as the resource form renders it (tests/kube_nat.rs).
fn seed_003_set() -> ovn_vpcd::rules::nat::NatRuleSet {
    ovn_vpcd::rules::nat::NatRuleSet::from_json(include_str!("fixtures/seed-003-rules.json")).unwrap()
}

/// The anchor, once it is there: its uid.
fn anchor_uid(kube: &Kube) -> String {
    let a = wait_for("the anchor", Duration::from_secs(30), || get_ns(kube, "configmap", ANCHOR));
    assert_eq!(a["metadata"]["labels"]["app.kubernetes.io/managed-by"], "ovn-vpcd", "{a}");
    assert!(a["metadata"]["annotations"]["ovn-vpcd.kubeovn.io/anchor"].is_string(), "{a}");
    assert!(a["metadata"]["ownerReferences"].is_null(), "an anchor has no owner: {a}");
    a["metadata"]["uid"].as_str().unwrap().to_string()
}

/// Waits until every workload object is owned by the anchor `uid`; their uids.
fn owned_by_anchor(kube: &Kube, uid: &str) -> Vec<String> {
    WORKLOAD
        .iter()
        .map(|(kind, name)| {
            let o = wait_for(&format!("{kind} {name} owned by anchor {uid}"), Duration::from_secs(30), || {
                let o = get_ns(kube, kind, name)?;
                (o["metadata"]["ownerReferences"][0]["uid"] == uid).then_some(o)
            });
            let owner = &o["metadata"]["ownerReferences"][0];
            assert_eq!(
                (&owner["apiVersion"], &owner["kind"], &owner["name"], &owner["controller"]),
                (&"v1".into(), &"ConfigMap".into(), &ANCHOR.into(), &true.into()),
                "{o}"
            );
            assert_eq!(o["metadata"]["ownerReferences"].as_array().unwrap().len(), 1, "{o}");
            assert_eq!(o["metadata"]["labels"]["app.kubernetes.io/managed-by"], "ovn-vpcd", "{o}");
            o["metadata"]["uid"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Every row uuid of the tables the VPC core writes.
fn uuids(ovn: &Ovn) -> BTreeSet<String> {
    ["Logical_Router", "Logical_Router_Port", "Logical_Router_Static_Route", "Logical_Switch", "Logical_Switch_Port"]
        .into_iter()
        .flat_map(|t| {
            let out = ovn.nbctl(&["--bare", "--columns=_uuid", "list", t]).unwrap();
            out.lines().filter(|l| !l.is_empty()).map(|l| format!("{t} {l}")).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_toml_gateways_workload_is_owned_by_the_anchor_and_goes_with_the_toml() {
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let dir = ovn.dir().to_path_buf();
    let seed = std::fs::read_to_string(format!("{FIXTURES}/seed-003.toml")).unwrap();
    let config = write_config(&dir, "k.toml", &kube, "a", &format!("{seed}\n{SEED_003_NAT}"));
    apply(
        &kube,
        &dir,
        "nat-config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ovn-vpc-nat-config\n  namespace: kube-system\ndata:\n  \
         image: ovn-vpcd:test\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ovn-vpc-nat-gw-config\n  \
         namespace: kube-system\ndata:\n  enable-vpc-nat-gw: \"true\"\n",
    );
    let daemon = Daemon::start(&ovn, &config, &[]);

    // The anchor, then the workload under it, with the resource form's rule set.
    let uid = anchor_uid(&kube);
    let first = owned_by_anchor(&kube, &uid);
    let cm = get_ns(&kube, "configmap", "vpc-nat-gw-natgw-rules").unwrap();
    let set = ovn_vpcd::rules::nat::NatRuleSet::from_json(cm["data"][ovn_vpcd::rules::DATA_KEY].as_str().unwrap());
    assert_eq!(set.unwrap(), seed_003_set());
    let sts = get_ns(&kube, "statefulset", "vpc-nat-gw-natgw").unwrap();
    let tmpl = &sts["spec"]["template"];
    assert_eq!(tmpl["metadata"]["annotations"]["ovn.kubernetes.io/ip_address"], "10.0.1.254", "{sts}");
    assert_eq!(tmpl["spec"]["containers"][0]["image"], "ovn-vpcd:test", "{sts}");
    wait_for("the gateway pod", Duration::from_secs(20), || get_ns(&kube, "pod", "vpc-nat-gw-natgw-0"));
    // It has no status: where it stands is logged, once per change; the
    // agent's report (played on its pod) makes it applied.
    wait_for("the TOML gateway said not applied", Duration::from_secs(20), || {
        daemon.log().contains("TOML VpcNatGateway not applied").then_some(())
    });
    let annotate = format!("ovn-vpcd.io/applied-rules={}", seed_003_set().digest());
    kube.kubectl(&["annotate", "pod", "-n", "kube-system", "vpc-nat-gw-natgw-0", "--overwrite", &annotate]).unwrap();
    wait_for("the TOML gateway said applied", Duration::from_secs(20), || {
        daemon.log().contains("TOML VpcNatGateway applied").then_some(())
    });
    assert_eq!(daemon.log().matches("TOML VpcNatGateway applied").count(), 1, "{}", daemon.log());
    let ids = uuids(&ovn);
    assert!(ids.iter().any(|r| r.starts_with("Logical_Router_Static_Route ")), "{ids:?}");

    // A resource of the gateway's name: refused, owning nothing.
    apply(
        &kube,
        &dir,
        "clash.yaml",
        "kind: VpcNatGateway\napiVersion: kubeovn.io/v1\nmetadata:\n  name: natgw\nspec:\n  vpc: mail263\n  \
         subnet: vmservers\n  lanIp: 10.0.1.253\n",
    );
    let clash = wait_for("the resource natgw refused", Duration::from_secs(20), || {
        let o = kubectl_json(&kube, &["get", "vpc-nat-gateways", "natgw", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "False").then_some(o)
    });
    let c = clash["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Validated").unwrap();
    assert!(c["message"].as_str().unwrap().contains("also defined in the TOML configuration"), "{clash}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(owned_by_anchor(&kube, &uid), first, "the workload stays the TOML's");
    let sts = get_ns(&kube, "statefulset", "vpc-nat-gw-natgw").unwrap();
    assert_eq!(sts["spec"]["template"]["metadata"]["annotations"]["ovn.kubernetes.io/ip_address"], "10.0.1.254");
    kube.kubectl(&["delete", "vpc-nat-gateway", "natgw"]).unwrap();

    // A hand edit is undone.
    kube.kubectl(&["set", "image", "-n", "kube-system", "statefulset/vpc-nat-gw-natgw", "vpc-nat-gw=evil:1"]).unwrap();
    wait_for("the image restored", Duration::from_secs(20), || {
        let o = get_ns(&kube, "statefulset", "vpc-nat-gw-natgw")?;
        (o["spec"]["template"]["spec"]["containers"][0]["image"] == "ovn-vpcd:test").then_some(())
    });

    // The anchor deleted by hand: made again, and the workload is its.
    kube.kubectl(&["delete", "configmap", "-n", "kube-system", ANCHOR]).unwrap();
    wait_for("the anchor made again", Duration::from_secs(30), || {
        let a = get_ns(&kube, "configmap", ANCHOR)?;
        (a["metadata"]["uid"] != uid.as_str()).then_some(())
    });
    let uid2 = anchor_uid(&kube);
    owned_by_anchor(&kube, &uid2);
    wait_for("the gateway pod again", Duration::from_secs(30), || get_ns(&kube, "pod", "vpc-nat-gw-natgw-0"));

    // The gateway and its rules removed from the TOML: the workload and the anchor go, and with
    // the gateway's pod its port; nothing else.
    let port = wait_for("the gateway pod's port", Duration::from_secs(20), || {
        let out = ovn.nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Switch_Port", POD_PORT]).unwrap();
        (!out.trim().is_empty()).then(|| format!("Logical_Switch_Port {}", out.trim()))
    });
    let mut ids = uuids(&ovn);
    assert!(ids.remove(&port), "{ids:?}");
    let config = write_config(&dir, "k.toml", &kube, "a", &seed);
    assert!(config.exists());
    daemon.signal("HUP");
    for (kind, name) in WORKLOAD.iter().chain(&[("configmap", ANCHOR)]) {
        wait_for(&format!("{kind} {name} gone"), Duration::from_secs(30), || {
            get_ns(&kube, kind, name).is_none().then_some(())
        });
    }
    std::thread::sleep(Duration::from_secs(2));
    wait_for("the gateway pod's port gone", Duration::from_secs(20), || (!uuids(&ovn).contains(&port)).then_some(()));
    assert_eq!(uuids(&ovn), ids, "the VPC's and subnets' rows stay as they were");
    assert!(get_ns(&kube, "configmap", "ovn-vpc-nat-config").is_some());
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}
