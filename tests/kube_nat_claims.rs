//! Who holds a claim two NAT rules make does not lapse while the gateway's
//! rules ConfigMap is missing from the watch: through kubectl, the testbed
//! API server, real OVN and the daemon. A FIP runs on an EIP; its rules
//! ConfigMap is deleted by hand and held in deletion by a finalizer (so it
//! does not count as what runs, and the daemon cannot make it again); a
//! second FIP on the same EIP, named earlier, is refused all along, and the
//! running one stays: what this process rendered is what runs meanwhile
//! (`NatSide::rendered`, `Running::ahead`). Without that, the claims fell
//! back to name order and the newcomer took the EIP.
//!
//! Also: a rules ConfigMap of a later format (a daemon rolled back) is not
//! taken for "nothing runs": the gateway is refused and left as it runs.

use std::time::Duration;

mod common;
use common::nat::{apply, apply_seed_003_nat, get, get_ns, rule_set, start_nat, validated};
use common::wait_for;

const RULES: &str = "vpc-nat-gw-natgw-rules";
const FINALIZER: &str = "test.ovn-vpcd.io/hold";

const EIP_AND_FIP: &str = "kind: IptablesEIP\napiVersion: kubeovn.io/v1\nmetadata:\n  name: eipf01\nspec:\n  \
     natGwDp: natgw\n  v4ip: 172.16.3.205\n---\nkind: IptablesFIPRule\napiVersion: kubeovn.io/v1\nmetadata:\n  \
     name: fip-b\nspec:\n  eip: eipf01\n  internalIp: 10.0.1.5\n";
/// Named before `fip-b`: by name order it would win the EIP.
const NEWCOMER: &str = "kind: IptablesFIPRule\napiVersion: kubeovn.io/v1\nmetadata:\n  name: fip-a\nspec:\n  \
     eip: eipf01\n  internalIp: 10.0.1.6\n";

fn fip_names(kube: &ovn_vpcd::testbed::Kube) -> Option<Vec<String>> {
    Some(rule_set(kube, RULES)?.fips.iter().map(|f| f.name.clone()).collect())
}

#[test]
fn a_running_fip_keeps_its_eip_while_its_rules_config_map_is_away() {
    if common::kube::on_kube_ovn_crds() {
        return; // Kube-OVN's rule status has no conditions to read.
    }
    let (kube, _crds, ovn, dir, config) = start_nat();
    let _daemon = common::Daemon::start(&ovn, &config, &[]);
    apply_seed_003_nat(&kube, &dir);
    apply(&kube, &dir, "fip-b.yaml", EIP_AND_FIP);
    wait_for("fip-b in the running set", Duration::from_secs(30), || (fip_names(&kube)? == ["fip-b"]).then_some(()));

    // The rules ConfigMap deleted by hand and held in deletion.
    let hold = format!("{{\"metadata\":{{\"finalizers\":[\"{FINALIZER}\"]}}}}");
    kube.kubectl(&["patch", "configmap", RULES, "-n", "kube-system", "--type=merge", "-p", &hold]).unwrap();
    kube.kubectl(&["delete", "configmap", RULES, "-n", "kube-system", "--wait=false"]).unwrap();
    wait_for("the rules ConfigMap being deleted", Duration::from_secs(10), || {
        get_ns(&kube, "configmap", RULES)?["metadata"]["deletionTimestamp"].as_str().map(|_| ())
    });
    // (The watch hands the daemon the deletion meanwhile.)
    std::thread::sleep(Duration::from_secs(2));

    apply(&kube, &dir, "fip-a.yaml", NEWCOMER);
    let a = wait_for("fip-a refused", Duration::from_secs(30), || {
        let v = validated(&get(&kube, "iptables-fip-rules", "fip-a")?)?;
        (v.0 == "False").then_some(v.1)
    });
    assert!(a.contains("fip-b"), "the refusal names the FIP that holds the EIP: {a}");
    let b = validated(&get(&kube, "iptables-fip-rules", "fip-b").unwrap());
    assert_eq!(b.map(|v| v.0), Some("True".into()), "the running FIP stays accepted");

    // The finalizer gone, the ConfigMap is made again with the running FIP only.
    let release = "{\"metadata\":{\"finalizers\":null}}";
    kube.kubectl(&["patch", "configmap", RULES, "-n", "kube-system", "--type=merge", "-p", release]).unwrap();
    wait_for("the rules ConfigMap made again", Duration::from_secs(30), || {
        let cm = get_ns(&kube, "configmap", RULES)?;
        cm["metadata"]["deletionTimestamp"].is_null().then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(fip_names(&kube), Some(vec!["fip-b".to_string()]));
    let a = validated(&get(&kube, "iptables-fip-rules", "fip-a").unwrap()).unwrap();
    assert_eq!(a.0, "False", "fip-a stays refused: {}", a.1);
}

/// A daemon rolled back finds its gateway running a rule set of a later
/// format: it refuses the gateway, saying why, and leaves its workload as
/// it runs — it never writes a set of its own over one it cannot read
/// (which could drop rules the later version holds).
#[test]
fn a_rules_config_map_of_a_later_format_is_left_as_it_runs() {
    if common::kube::on_kube_ovn_crds() {
        return; // Kube-OVN's VpcNatGateway status has no conditions to read.
    }
    let (kube, _crds, ovn, dir, config) = start_nat();
    let daemon = common::Daemon::start(&ovn, &config, &[]);
    apply_seed_003_nat(&kube, &dir);
    let set = wait_for("the rules ConfigMap", Duration::from_secs(30), || rule_set(&kube, RULES));
    let sts = wait_for("the StatefulSet", Duration::from_secs(30), || get_ns(&kube, "statefulset", "vpc-nat-gw-natgw"));
    drop(daemon);

    // What a later version wrote: another version, a field this build does not know.
    let later = set.to_json().replacen("\"version\":1", "\"version\":2,\"shaping\":{}", 1);
    let patch = serde_json::json!({"data": {ovn_vpcd::rules::DATA_KEY: later}}).to_string();
    kube.kubectl(&["patch", "configmap", RULES, "-n", "kube-system", "--type=merge", "-p", &patch]).unwrap();
    let _daemon = common::Daemon::start(&ovn, &config, &[]);
    let why = wait_for("natgw refused", Duration::from_secs(30), || {
        let v = validated(&get(&kube, "vpc-nat-gateways", "natgw")?)?;
        (v.0 == "False").then_some(v.1)
    });
    assert!(why.contains("cannot read") && why.contains("version 2"), "{why}");
    std::thread::sleep(Duration::from_secs(3));
    let cm = get_ns(&kube, "configmap", RULES).unwrap();
    assert_eq!(cm["data"][ovn_vpcd::rules::DATA_KEY].as_str(), Some(later.as_str()), "not written over");
    let now = get_ns(&kube, "statefulset", "vpc-nat-gw-natgw").expect("the workload stays");
    assert_eq!(now["metadata"]["uid"], sts["metadata"]["uid"]);
    assert_eq!(now["spec"], sts["spec"]);
}
