//! The NAT gateway kinds through kubectl, the testbed API server and the
//! daemon with real OVN (this slice: resources, validation and status; no
//! workload or agent yet): seed 003's gateway, EIPs and rules are Validated
//! and say they are not applied yet, with Kube-OVN's status fields; a DNAT
//! reusing another's (eip, externalPort, protocol) is refused with its
//! condition and one Warning Event while the others stay Validated; a FIP on
//! a missing EIP waits; the VPC's and subnets' NB rows are untouched. Runs on
//! our CRDs and, with `OVN_VPCD_TEST_CRDS=kube-ovn`, on Kube-OVN's.

use std::collections::BTreeSet;
use std::time::Duration;

use ovn_vpcd::testbed::Ovn;
use serde_json::Value as Json;

mod common;
use common::kube::{condition, kubectl_json, nb_state, start_kube, write_config};
use common::{wait_for, Daemon};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Every row uuid of the tables the VPC core writes.
fn uuids(ovn: &Ovn) -> BTreeSet<String> {
    let tables = ["Logical_Router", "Logical_Router_Port", "Logical_Router_Static_Route", "Logical_Router_Policy"];
    let tables = tables.into_iter().chain(["Logical_Switch", "Logical_Switch_Port"]);
    tables
        .flat_map(|t| {
            let out = ovn.nbctl(&["--bare", "--columns=_uuid", "list", t]).unwrap();
            out.lines().filter(|l| !l.is_empty()).map(|l| format!("{t} {l}")).collect::<Vec<_>>()
        })
        .collect()
}

fn get(kube: &ovn_vpcd::testbed::Kube, plural: &str, name: &str) -> Option<Json> {
    kubectl_json(kube, &["get", plural, name, "-o", "json"])
}

fn message(o: &Json, kind: &str) -> String {
    let c = o["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == kind).unwrap();
    c["message"].as_str().unwrap().to_string()
}

/// Warning Events about `name`.
fn warnings(kube: &ovn_vpcd::testbed::Kube, name: &str) -> Vec<Json> {
    let events = kubectl_json(kube, &["get", "events", "-A", "-o", "json"]).unwrap();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == name && e["type"] == "Warning")
        .cloned()
        .collect()
}

#[test]
fn seed_003_nat_objects_are_validated_and_a_conflict_refused_alone() {
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003.yaml")]).unwrap();
    wait_for("seed 003's VPC and subnets Ready", Duration::from_secs(30), || {
        let subnets = kubectl_json(&kube, &["get", "subnets", "-o", "json"])?;
        let vpcs = kubectl_json(&kube, &["get", "vpcs", "-o", "json"])?;
        let items: Vec<&Json> = subnets["items"].as_array()?.iter().chain(vpcs["items"].as_array()?).collect();
        (items.len() == 3 && items.iter().all(|o| condition(o, "Ready").is_some_and(|c| c.0 == "True"))).then_some(())
    });
    let (rows, ids) = (nb_state(&ovn), uuids(&ovn));
    assert!(rows.iter().any(|r| r.starts_with("Logical_Router_Static_Route: ")), "{rows:?}");

    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003-nat.yaml")]).unwrap();
    let not_applied = |plural: &str, name: &str| {
        wait_for(&format!("{plural} {name} Validated, not applied"), Duration::from_secs(20), || {
            let o = get(&kube, plural, name)?;
            (condition(&o, "Validated")?.0 == "True"
                && condition(&o, "Ready")? == ("False".into(), "NotApplied".into()))
                .then_some(o)
        })
    };
    if common::kube::on_kube_ovn_crds() {
        // Kube-OVN's VpcNatGateway status has no conditions (they are pruned): its own fields show.
        let gw = wait_for("natgw's status", Duration::from_secs(20), || {
            let o = get(&kube, "vpc-nat-gateways", "natgw")?;
            (o["status"]["externalSubnets"] == serde_json::json!(["ovn-vpc-external-network"])).then_some(o)
        });
        // Written once, not at every pass although the conditions never show.
        std::thread::sleep(Duration::from_secs(3));
        let again = get(&kube, "vpc-nat-gateways", "natgw").unwrap();
        assert_eq!(again["metadata"]["resourceVersion"], gw["metadata"]["resourceVersion"], "{again}");
    } else {
        let gw = not_applied("vpc-nat-gateways", "natgw");
        assert_eq!(message(&gw, "Ready"), "no gateway agent yet", "{gw}");
        assert_eq!(gw["status"]["externalSubnets"], serde_json::json!(["ovn-vpc-external-network"]), "{gw}");
    }
    let eipd = not_applied("iptables-eips", "eipd01");
    assert_eq!(
        (&eipd["status"]["ip"], &eipd["status"]["nat"], &eipd["status"]["ready"]),
        (&Json::from("172.16.3.203"), &Json::from("dnat"), &Json::from(false)),
        "{eipd}"
    );
    let eips = not_applied("iptables-eips", "eips01");
    assert_eq!((&eips["status"]["ip"], &eips["status"]["nat"]), (&Json::from("172.16.3.208"), &Json::from("snat")));
    let dnat = not_applied("iptables-dnat-rules", "dnat01");
    let st = &dnat["status"];
    assert_eq!(
        [&st["v4ip"], &st["natGwDp"], &st["externalPort"], &st["internalIp"], &st["internalPort"], &st["protocol"]],
        ["172.16.3.203", "natgw", "8888", "10.0.1.2", "80", "tcp"].map(Json::from).each_ref(),
        "{dnat}"
    );
    assert_eq!(st["ready"], false, "{dnat}");
    let snat = not_applied("iptables-snat-rules", "snat01");
    assert_eq!(
        (&snat["status"]["v4ip"], &snat["status"]["internalCIDR"]),
        (&Json::from("172.16.3.208"), &Json::from("10.0.1.0/24"))
    );
    // Kube-OVN's printer columns show it.
    let table = kube.kubectl(&["get", "iptables-dnat-rules"]).unwrap();
    assert!(table.contains("172.16.3.203") && table.contains("8888"), "{table}");

    // A DNAT reusing dnat01's port, and a FIP on a missing EIP.
    let more = ovn.dir().join("more.yaml");
    std::fs::write(
        &more,
        "kind: IptablesDnatRule\napiVersion: kubeovn.io/v1\nmetadata:\n  name: dnat02\nspec:\n  eip: eipd01\n  \
         externalPort: '8888'\n  internalIp: 10.0.1.3\n  internalPort: '80'\n  protocol: tcp\n---\n\
         kind: IptablesFIPRule\napiVersion: kubeovn.io/v1\nmetadata:\n  name: fip01\nspec:\n  eip: eipf01\n  \
         internalIp: 10.0.1.5\n",
    )
    .unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", more.to_str().unwrap()]).unwrap();
    let bad = wait_for("dnat02 refused", Duration::from_secs(20), || {
        let o = get(&kube, "iptables-dnat-rules", "dnat02")?;
        (condition(&o, "Validated")?.0 == "False").then_some(o)
    });
    let why = message(&bad, "Validated");
    assert!(why.contains("8888/tcp of IptablesEIP \"eipd01\" is used by IptablesDnatRule \"dnat01\""), "{why}");
    let fip = wait_for("fip01 waiting", Duration::from_secs(20), || {
        let o = get(&kube, "iptables-fip-rules", "fip01")?;
        (condition(&o, "Ready")? == ("False".into(), "WaitingForDependency".into())).then_some(o)
    });
    assert_eq!(condition(&fip, "Validated").unwrap().0, "True", "{fip}");
    assert!(message(&fip, "Ready").contains("IptablesEIP \"eipf01\""), "{fip}");
    // One Warning for the refusal, none for the wait, even after more passes.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(warnings(&kube, "dnat02").len(), 1, "{:?}", warnings(&kube, "dnat02"));
    assert!(warnings(&kube, "fip01").is_empty(), "{:?}", warnings(&kube, "fip01"));
    // Nothing else disturbed.
    let mut others = vec![("iptables-eips", "eipd01"), ("iptables-dnat-rules", "dnat01")];
    if !common::kube::on_kube_ovn_crds() {
        others.push(("vpc-nat-gateways", "natgw"));
    }
    for (plural, name) in others {
        let o = get(&kube, plural, name).unwrap();
        assert_eq!(condition(&o, "Validated").unwrap().0, "True", "{o}");
        assert_eq!(condition(&o, "Ready").unwrap(), ("False".into(), "NotApplied".into()), "{o}");
    }
    let eipd = get(&kube, "iptables-eips", "eipd01").unwrap();
    assert_eq!(eipd["status"]["nat"], "dnat", "the refused DNAT does not count: {eipd}");
    assert_eq!(nb_state(&ovn), rows, "{}", daemon.log());
    assert_eq!(uuids(&ovn), ids, "the VPC's and subnets' rows are the same rows");
}

/// The NAT CRDs are not installed (a cluster upgraded from a version that
/// watched Vpcs and Subnets only): those kinds list as empty, the daemon
/// converges the VPC core as before, and once the CRDs are installed their
/// objects are picked up. Before, the first listing never finished and the
/// daemon wrote nothing.
#[test]
fn a_kind_whose_crd_is_missing_does_not_stall_the_others() {
    const NAT: [&str; 5] = [
        "vpc-nat-gateways.kubeovn.io",
        "iptables-eips.kubeovn.io",
        "iptables-fip-rules.kubeovn.io",
        "iptables-dnat-rules.kubeovn.io",
        "iptables-snat-rules.kubeovn.io",
    ];
    let (kube, _crds) = start_kube();
    let saved = kube.kubectl(&["get", "crd", "-o", "yaml"]).unwrap();
    let mut delete = vec!["delete", "crd"];
    delete.extend(NAT);
    kube.kubectl(&delete).unwrap();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003.yaml")]).unwrap();
    wait_for("the VPC core's router", Duration::from_secs(20), || {
        let r = ovn.nbctl(&["--bare", "--columns=name", "find", "Logical_Router", "name=mail263"]).ok()?;
        (r.trim() == "mail263").then_some(())
    });
    // The CRDs installed: a NAT object gets its status.
    let file = ovn.dir().join("crds.yaml");
    std::fs::write(&file, saved).unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", file.to_str().unwrap()]).unwrap();
    let eip = "apiVersion: kubeovn.io/v1\nkind: IptablesEIP\nmetadata:\n  name: eip-late\nspec:\n  natGwDp: gw-none\n";
    let eip_file = ovn.dir().join("eip.yaml");
    std::fs::write(&eip_file, eip).unwrap();
    wait_for("the IptablesEIP kind served", Duration::from_secs(20), || {
        kube.kubectl(&["apply", "--validate=false", "-f", eip_file.to_str().unwrap()]).ok()
    });
    wait_for("eip-late's status", Duration::from_secs(45), || {
        let o = get(&kube, "iptables-eips", "eip-late")?;
        condition(&o, "Validated").map(drop)
    });
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}
