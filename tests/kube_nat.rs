//! The NAT gateway kinds through kubectl, the testbed API server and the
//! daemon with real OVN: seed 003's gateway, EIPs and rules are Validated
//! and say they are not applied yet, with Kube-OVN's status fields; a DNAT
//! reusing another's (eip, externalPort, protocol) is refused with its
//! condition and one Warning Event while the others stay Validated; a FIP on
//! a missing EIP waits; the VPC's and subnets' NB rows are untouched; the
//! gateway's workload (StatefulSet, rules ConfigMap, RBAC) follows its spec,
//! the NAT ConfigMaps and the agent's report; EIPs hold addresses in the
//! IPAM (allocated, restored after a restart, refused to a pod, kept when a
//! v4ip or natGwDp edit of a ready EIP is refused, held by a finalizer while
//! a SNAT names it, released with their gateway). Runs on our CRDs and, with
//! `OVN_VPCD_TEST_CRDS=kube-ovn`, on Kube-OVN's.

use std::collections::BTreeSet;
use std::time::Duration;

use ovn_vpcd::testbed::Ovn;
use serde_json::Value as Json;

mod common;
use common::kube::{condition, kubectl_json, nb_state, start_kube, write_config};
use common::nat::{apply, get, get_ns, gw_config, nat_config, ready, rule_set, FIXTURES};
use common::{wait_for, Daemon};

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
        // No ovn-vpc-nat-gw-config in the daemon's namespace: NAT gateways are off, as in Kube-OVN.
        assert!(message(&gw, "Ready").contains("kube-system/ovn-vpc-nat-gw-config does not exist"), "{gw}");
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

/// Seed 003's rule set as the daemon must render it.
fn seed_003_set() -> ovn_vpcd::rules::nat::NatRuleSet {
    ovn_vpcd::rules::nat::NatRuleSet::from_json(include_str!("fixtures/seed-003-rules.json")).unwrap()
}

/// Seed 003's gateway gets its workload through the object reconciler:
/// the rules ConfigMap (the rendered set), the StatefulSet, ServiceAccount,
/// Role and RoleBinding, owned by the gateway and labelled; hand edits and
/// deletes are undone; a foreign StatefulSet of a gateway's name is refused
/// on its status and left alone; `enable-vpc-nat-gw: "false"` removes the
/// workloads and says so; `natGwNamePrefix` is honoured; a rule added moves
/// the ConfigMap; the pod reporting the rendered digest makes the gateway,
/// its EIPs and rules Ready, another digest does not; the gateway deleted,
/// its workload goes with it and nothing else.
#[test]
fn seed_003_gateway_workload_follows_the_spec_settings_and_the_agents_report() {
    if common::kube::on_kube_ovn_crds() {
        return; // Kube-OVN's VpcNatGateway status has no conditions to read.
    }
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let dir = ovn.dir().to_path_buf();
    let config = write_config(&dir, "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003.yaml")]).unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003-nat.yaml")]).unwrap();
    // No ovn-vpc-nat-gw-config: off, as Kube-OVN; said on the status.
    let off = wait_for("natgw says NAT gateways are off", Duration::from_secs(30), || {
        let o = get(&kube, "vpc-nat-gateways", "natgw")?;
        message(&o, "Ready").contains("ovn-vpc-nat-gw-config does not exist").then_some(o)
    });
    assert_eq!(condition(&off, "Ready").unwrap(), ("False".into(), "NotApplied".into()), "{off}");
    assert!(get_ns(&kube, "statefulset", "vpc-nat-gw-natgw").is_none());

    apply(&kube, &dir, "nat-config.yaml", &nat_config("ovn-vpcd:test", None));
    apply(&kube, &dir, "gw-config.yaml", &gw_config("true"));
    let sts = wait_for("the StatefulSet", Duration::from_secs(30), || get_ns(&kube, "statefulset", "vpc-nat-gw-natgw"));
    let gw = get(&kube, "vpc-nat-gateways", "natgw").unwrap();
    let uid = gw["metadata"]["uid"].as_str().unwrap();
    for (kind, name) in [
        ("configmap", "vpc-nat-gw-natgw-rules"),
        ("serviceaccount", "vpc-nat-gw-natgw"),
        ("role", "vpc-nat-gw-natgw"),
        ("rolebinding", "vpc-nat-gw-natgw"),
        ("statefulset", "vpc-nat-gw-natgw"),
    ] {
        let o = wait_for(&format!("{kind} {name}"), Duration::from_secs(20), || get_ns(&kube, kind, name));
        let owner = &o["metadata"]["ownerReferences"][0];
        assert_eq!(
            (&owner["kind"], &owner["uid"], &owner["controller"]),
            (&"VpcNatGateway".into(), &uid.into(), &true.into()),
            "{o}"
        );
        assert_eq!(o["metadata"]["labels"]["app.kubernetes.io/managed-by"], "ovn-vpcd", "{o}");
    }
    assert_eq!(rule_set(&kube, "vpc-nat-gw-natgw-rules").unwrap(), seed_003_set());
    let tmpl = &sts["spec"]["template"];
    assert_eq!(tmpl["metadata"]["labels"]["ovn.kubernetes.io/vpc-nat-gw"], "true", "{sts}");
    assert_eq!(tmpl["metadata"]["annotations"]["ovn.kubernetes.io/ip_address"], "10.0.1.254", "{sts}");
    assert_eq!(tmpl["spec"]["nodeSelector"]["kubernetes.io/hostname"], "ubuntuserver1", "{sts}");
    assert_eq!(tmpl["spec"]["containers"][0]["image"], "ovn-vpcd:test", "{sts}");
    let role = get_ns(&kube, "role", "vpc-nat-gw-natgw").unwrap();
    assert_eq!(role["rules"].as_array().unwrap().len(), 2, "{role}");

    // Edited by hand, then deleted by hand: restored.
    kube.kubectl(&["set", "image", "-n", "kube-system", "statefulset/vpc-nat-gw-natgw", "vpc-nat-gw=evil:1"]).unwrap();
    wait_for("the image restored", Duration::from_secs(20), || {
        let o = get_ns(&kube, "statefulset", "vpc-nat-gw-natgw")?;
        (o["spec"]["template"]["spec"]["containers"][0]["image"] == "ovn-vpcd:test").then_some(())
    });
    let old_uid = get_ns(&kube, "statefulset", "vpc-nat-gw-natgw").unwrap()["metadata"]["uid"].clone();
    kube.kubectl(&["delete", "statefulset", "-n", "kube-system", "vpc-nat-gw-natgw"]).unwrap();
    wait_for("the StatefulSet made again", Duration::from_secs(20), || {
        let o = get_ns(&kube, "statefulset", "vpc-nat-gw-natgw")?;
        (o["metadata"]["uid"] != old_uid).then_some(())
    });

    // The agent's report, played by hand: the rendered digest → Ready.
    let digest = seed_003_set().digest();
    let pod = wait_for("the gateway pod", Duration::from_secs(20), || get_ns(&kube, "pod", "vpc-nat-gw-natgw-0"));
    assert_eq!(pod["metadata"]["annotations"]["ovn.kubernetes.io/port_security"], "false", "{pod}");
    let report = |d: &str| {
        kube.kubectl(&[
            "annotate",
            "pod",
            "-n",
            "kube-system",
            "vpc-nat-gw-natgw-0",
            "--overwrite",
            &format!("ovn-vpcd.io/applied-rules={d}"),
        ])
        .unwrap()
    };
    assert!(ready(&kube, "vpc-nat-gateways", "natgw").unwrap().0 == "False");
    report(&digest);
    for (plural, name) in [
        ("vpc-nat-gateways", "natgw"),
        ("iptables-eips", "eipd01"),
        ("iptables-eips", "eips01"),
        ("iptables-dnat-rules", "dnat01"),
        ("iptables-snat-rules", "snat01"),
    ] {
        let o = wait_for(&format!("{plural} {name} Ready"), Duration::from_secs(20), || {
            let o = get(&kube, plural, name)?;
            (condition(&o, "Ready")? == ("True".into(), "Applied".into())).then_some(o)
        });
        if plural != "vpc-nat-gateways" {
            assert_eq!(o["status"]["ready"], true, "{o}");
        }
    }
    report("0123456789abcdef");
    wait_for("natgw not ready on another digest", Duration::from_secs(20), || {
        (ready(&kube, "vpc-nat-gateways", "natgw")? == ("False".into(), "NotApplied".into())).then_some(())
    });
    report(&digest);
    wait_for("natgw Ready again", Duration::from_secs(20), || {
        (ready(&kube, "vpc-nat-gateways", "natgw")?.0 == "True").then_some(())
    });

    // A rule added: the ConfigMap follows; until it is applied, the gateway
    // and the new rule are not ready, the others stay ready.
    apply(
        &kube,
        &dir,
        "fip.yaml",
        "kind: IptablesEIP\napiVersion: kubeovn.io/v1\nmetadata:\n  name: eipf01\nspec:\n  natGwDp: natgw\n  v4ip: 172.16.3.205\n---\n\
         kind: IptablesFIPRule\napiVersion: kubeovn.io/v1\nmetadata:\n  name: fip01\nspec:\n  eip: eipf01\n  internalIp: 10.0.1.5\n",
    );
    let grown = wait_for("the ConfigMap with the FIP", Duration::from_secs(20), || {
        rule_set(&kube, "vpc-nat-gw-natgw-rules").filter(|s| s.fips.len() == 1)
    });
    assert_eq!(grown.fips[0].internal_ip.to_string(), "10.0.1.5");
    wait_for("natgw not ready, fip01 not ready", Duration::from_secs(20), || {
        (ready(&kube, "vpc-nat-gateways", "natgw")?.0 == "False"
            && ready(&kube, "iptables-fip-rules", "fip01")?.0 == "False")
            .then_some(())
    });
    assert_eq!(ready(&kube, "iptables-dnat-rules", "dnat01").unwrap().0, "True");
    report(&grown.digest());
    wait_for("fip01 Ready", Duration::from_secs(20), || {
        (ready(&kube, "iptables-fip-rules", "fip01")?.0 == "True"
            && ready(&kube, "vpc-nat-gateways", "natgw")?.0 == "True")
            .then_some(())
    });

    // A foreign StatefulSet with a gateway's name: refused, left alone.
    apply(
        &kube,
        &dir,
        "foreign.yaml",
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: vpc-nat-gw-natgw2\n  namespace: kube-system\nspec:\n  \
         replicas: 0\n  selector:\n    matchLabels:\n      app: mine\n  template:\n    metadata:\n      labels:\n        app: mine\n    \
         spec:\n      containers:\n        - name: c\n          image: mine:1\n",
    );
    let foreign = get_ns(&kube, "statefulset", "vpc-nat-gw-natgw2").unwrap();
    apply(
        &kube,
        &dir,
        "natgw2.yaml",
        "kind: VpcNatGateway\napiVersion: kubeovn.io/v1\nmetadata:\n  name: natgw2\nspec:\n  vpc: mail263\n  subnet: vmservers\n  \
         lanIp: 10.0.1.250\n",
    );
    let refused = wait_for("natgw2 refused", Duration::from_secs(30), || {
        let o = get(&kube, "vpc-nat-gateways", "natgw2")?;
        (condition(&o, "Ready")? == ("False".into(), "WorkloadRefused".into())).then_some(o)
    });
    assert!(message(&refused, "Ready").contains("StatefulSet/kube-system/vpc-nat-gw-natgw2"), "{refused}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(warnings(&kube, "natgw2").len(), 1, "{:?}", warnings(&kube, "natgw2"));
    let still = get_ns(&kube, "statefulset", "vpc-nat-gw-natgw2").unwrap();
    assert_eq!(still["metadata"]["resourceVersion"], foreign["metadata"]["resourceVersion"], "{still}");

    // Off: no workload, said on the status; on again: made again.
    apply(&kube, &dir, "gw-config.yaml", &gw_config("false"));
    wait_for("the workload gone", Duration::from_secs(30), || {
        (get_ns(&kube, "statefulset", "vpc-nat-gw-natgw").is_none()
            && get_ns(&kube, "configmap", "vpc-nat-gw-natgw-rules").is_none()
            && get_ns(&kube, "role", "vpc-nat-gw-natgw").is_none())
        .then_some(())
    });
    wait_for("natgw says off", Duration::from_secs(20), || {
        let o = get(&kube, "vpc-nat-gateways", "natgw")?;
        message(&o, "Ready").contains("enable-vpc-nat-gw: \"false\"").then_some(())
    });
    assert!(get_ns(&kube, "statefulset", "vpc-nat-gw-natgw2").is_some(), "the foreign one stays");
    apply(&kube, &dir, "gw-config.yaml", &gw_config("true"));
    wait_for("the StatefulSet back", Duration::from_secs(30), || get_ns(&kube, "statefulset", "vpc-nat-gw-natgw"));

    // natGwNamePrefix: the workload under the new names, the old ones gone.
    apply(&kube, &dir, "nat-config.yaml", &nat_config("ovn-vpcd:test", Some("gw")));
    wait_for("gw-natgw, and vpc-nat-gw-natgw gone", Duration::from_secs(30), || {
        let sts = get_ns(&kube, "statefulset", "gw-natgw")?;
        let cmd = sts["spec"]["template"]["spec"]["containers"][0]["command"].to_string();
        (cmd.contains("kube-system/gw-natgw-rules")
            && get_ns(&kube, "statefulset", "vpc-nat-gw-natgw").is_none()
            && get_ns(&kube, "configmap", "gw-natgw-rules").is_some())
        .then_some(())
    });

    // The gateway deleted: its workload goes, nothing else.
    kube.kubectl(&["delete", "vpc-nat-gateway", "natgw"]).unwrap();
    wait_for("natgw's workload gone", Duration::from_secs(30), || {
        (get_ns(&kube, "statefulset", "gw-natgw").is_none()
            && get_ns(&kube, "configmap", "gw-natgw-rules").is_none()
            && get_ns(&kube, "serviceaccount", "gw-natgw").is_none()
            && get_ns(&kube, "role", "gw-natgw").is_none()
            && get_ns(&kube, "rolebinding", "gw-natgw").is_none())
        .then_some(())
    });
    let still = get_ns(&kube, "statefulset", "vpc-nat-gw-natgw2").unwrap();
    assert_eq!(still["metadata"]["resourceVersion"], foreign["metadata"]["resourceVersion"], "{still}");
    assert!(get_ns(&kube, "configmap", "ovn-vpc-nat-config").is_some());
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}

fn status_ip(kube: &ovn_vpcd::testbed::Kube, eip: &str) -> Option<String> {
    get(kube, "iptables-eips", eip)?["status"]["ip"].as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn ext_using(kube: &ovn_vpcd::testbed::Kube) -> Option<f64> {
    get(kube, "subnets", "ovn-vpc-external-network")?["status"]["v4usingIPs"].as_f64()
}

fn refused(kube: &ovn_vpcd::testbed::Kube, plural: &str, name: &str, why: &str) -> Json {
    wait_for(&format!("{plural} {name} refused: {why}"), Duration::from_secs(30), || {
        let o = get(kube, plural, name)?;
        (condition(&o, "Validated")?.0 == "False" && message(&o, "Validated").contains(why)).then_some(o)
    })
}

/// EIPs in the IPAM, through kubectl: an EIP without v4ip gets the external
/// subnet's lowest free address, shown by `kubectl get iptables-eip` and
/// counted in the subnet's status, the same after a daemon restart; a pod's
/// attachment asking for it is refused and the EIP keeps it; of two EIPs
/// wanting one address the later is refused; once ready (the agent's report
/// played by annotating the gateway pod), a v4ip edit and a natGwDp edit are
/// refused and the EIP keeps its address and rules; `kubectl delete` of an
/// EIP a SNAT uses waits until the SNAT goes, then its address is free; the
/// gateway deleted first, a rule's delete returns at once and the EIPs'
/// addresses are released.
#[test]
fn eips_hold_addresses_of_the_external_subnet_and_keep_what_they_had() {
    if common::kube::on_kube_ovn_crds() {
        return; // Kube-OVN's EIP status has no natGwDp; its gateway status no conditions.
    }
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let dir = ovn.dir().to_path_buf();
    let config = write_config(&dir, "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003.yaml")]).unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003-nat.yaml")]).unwrap();
    apply(
        &kube,
        &dir,
        "auto.yaml",
        "kind: IptablesEIP\napiVersion: kubeovn.io/v1\nmetadata:\n  name: eipauto\nspec:\n  natGwDp: natgw\n",
    );
    // excludeIps 172.16.3.1..172.16.3.100: the lowest free address is .101.
    wait_for("eipauto's address", Duration::from_secs(30), || {
        (status_ip(&kube, "eipauto")? == "172.16.3.101").then_some(())
    });
    let table = kube.kubectl(&["get", "iptables-eip", "eipauto"]).unwrap();
    assert!(table.contains("172.16.3.101"), "{table}");
    wait_for("three EIPs counted", Duration::from_secs(20), || (ext_using(&kube)? == 3.0).then_some(()));

    // A pod's attachment asking for eipauto's address: refused (an Event), the EIP keeps it.
    apply(
        &kube,
        &dir,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: thief\n  namespace: default\n  annotations:\n    \
         ovn.kubernetes.io/logical_switch: vmservers\n    k8s.v1.cni.cncf.io/networks: kube-system/ovn-vpc-external-network\n    \
         ovn-vpc-external-network.kube-system.kubernetes.io/ip_address: 172.16.3.101\nspec:\n  containers:\n    - name: c\n      image: busybox\n",
    );
    wait_for("the thief told", Duration::from_secs(20), || {
        warnings(&kube, "thief")
            .iter()
            .any(|e| e["message"].as_str().is_some_and(|m| m.contains("172.16.3.101")))
            .then_some(())
    });
    // Of two EIPs wanting eips01's address, the later is refused (though first by name).
    apply(
        &kube,
        &dir,
        "dup.yaml",
        "kind: IptablesEIP\napiVersion: kubeovn.io/v1\nmetadata:\n  name: eipa-dup\nspec:\n  natGwDp: natgw\n  v4ip: 172.16.3.208\n",
    );
    refused(&kube, "iptables-eips", "eipa-dup", "172.16.3.208 is taken by IptablesEIP \"eips01\"");
    assert_eq!(condition(&get(&kube, "iptables-eips", "eips01").unwrap(), "Validated").unwrap().0, "True");
    assert_eq!(status_ip(&kube, "eipauto").as_deref(), Some("172.16.3.101"));

    // Restarted: the same address, counted the same.
    drop(daemon);
    let daemon = Daemon::start(&ovn, &config, &[]);
    apply(
        &kube,
        &dir,
        "auto2.yaml",
        "kind: IptablesEIP\napiVersion: kubeovn.io/v1\nmetadata:\n  name: eipauto2\nspec:\n  natGwDp: natgw\n",
    );
    wait_for("eipauto2's address", Duration::from_secs(30), || {
        (status_ip(&kube, "eipauto2")? == "172.16.3.102").then_some(())
    });
    assert_eq!(status_ip(&kube, "eipauto").as_deref(), Some("172.16.3.101"), "{}", daemon.log());
    wait_for("four EIPs counted", Duration::from_secs(20), || (ext_using(&kube)? == 4.0).then_some(()));

    // Ready: the workload on, the agent's report played on the gateway pod.
    apply(&kube, &dir, "nat-config.yaml", &nat_config("ovn-vpcd:test", None));
    apply(&kube, &dir, "gw-config.yaml", &gw_config("true"));
    let set = wait_for("the rule set with four EIPs", Duration::from_secs(30), || {
        rule_set(&kube, "vpc-nat-gw-natgw-rules").filter(|s| s.eips.len() == 4)
    });
    let auto = set.eips.iter().find(|e| e.name == "eipauto").unwrap();
    assert_eq!(auto.ip.to_string(), "172.16.3.101", "the allocated address in the rule set");
    wait_for("the gateway pod", Duration::from_secs(20), || get_ns(&kube, "pod", "vpc-nat-gw-natgw-0"));
    let annotate = format!("ovn-vpcd.io/applied-rules={}", set.digest());
    kube.kubectl(&["annotate", "pod", "-n", "kube-system", "vpc-nat-gw-natgw-0", "--overwrite", &annotate]).unwrap();
    for eip in ["eipd01", "eips01"] {
        wait_for(&format!("{eip} ready"), Duration::from_secs(20), || {
            (get(&kube, "iptables-eips", eip)?["status"]["ready"] == true).then_some(())
        });
    }
    // The gateway pod's own net1 is no EIP's address.
    let pod = get_ns(&kube, "pod", "vpc-nat-gw-natgw-0").unwrap();
    let net1 = &pod["metadata"]["annotations"]["ovn-vpc-external-network.kube-system.kubernetes.io/ip_address"];
    assert!(set.eips.iter().all(|e| *net1 != e.ip.to_string().as_str()), "{net1} {set:?}");

    // v4ip edited once ready: refused, the old address and its DNAT kept.
    kube.kubectl(&["patch", "iptables-eip", "eipd01", "--type=merge", "-p", r#"{"spec":{"v4ip":"172.16.3.233"}}"#])
        .unwrap();
    refused(&kube, "iptables-eips", "eipd01", "the address of a ready EIP is immutable; it keeps 172.16.3.203");
    // natGwDp edited: refused, it stays on natgw with its SNAT.
    kube.kubectl(&["patch", "iptables-eip", "eips01", "--type=merge", "-p", r#"{"spec":{"natGwDp":"natgw9"}}"#])
        .unwrap();
    let o = refused(&kube, "iptables-eips", "eips01", "is immutable: the EIP belongs to VpcNatGateway \"natgw\"");
    assert_eq!(o["status"]["ip"], "172.16.3.208", "{o}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(warnings(&kube, "eipd01").len(), 1, "{:?}", warnings(&kube, "eipd01"));
    assert_eq!(warnings(&kube, "eips01").len(), 1, "{:?}", warnings(&kube, "eips01"));
    assert_eq!(status_ip(&kube, "eipd01").as_deref(), Some("172.16.3.203"));
    let now = rule_set(&kube, "vpc-nat-gw-natgw-rules").unwrap();
    let d = now.eips.iter().find(|e| e.name == "eipd01").unwrap();
    assert_eq!(d.ip.to_string(), "172.16.3.203", "{now:?}");
    assert_eq!((now.dnats.len(), now.snats.len()), (1, 1), "the rules stay: {now:?}");
    assert_eq!(now, set, "nothing moved");

    // kubectl delete of eips01 while snat01 names it: waits; snat01 gone → eips01 goes, .208 free.
    let using = ext_using(&kube).unwrap();
    kube.kubectl(&["delete", "iptables-eip", "eips01", "--wait=false"]).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let held = get(&kube, "iptables-eips", "eips01").expect("held by its finalizer while snat01 names it");
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    assert_eq!(rule_set(&kube, "vpc-nat-gw-natgw-rules").unwrap().snats.len(), 1, "snat01 still applied");
    kube.kubectl(&["delete", "iptables-snat-rule", "snat01", "--timeout=20s"]).unwrap();
    wait_for("eips01 gone", Duration::from_secs(20), || get(&kube, "iptables-eips", "eips01").is_none().then_some(()));
    // Its address free: eipa-dup, refused for it until now, has it.
    wait_for("eipa-dup gets .208", Duration::from_secs(20), || {
        let o = get(&kube, "iptables-eips", "eipa-dup")?;
        (o["status"]["ip"] == "172.16.3.208" && condition(&o, "Validated")?.0 == "True").then_some(())
    });
    assert_eq!(ext_using(&kube), Some(using), "eips01's address is eipa-dup's now");

    // The gateway deleted first: a rule's delete returns at once; the EIPs' addresses go.
    kube.kubectl(&["delete", "vpc-nat-gateway", "natgw", "--timeout=20s"]).unwrap();
    wait_for("natgw gone", Duration::from_secs(20), || get(&kube, "vpc-nat-gateways", "natgw").is_none().then_some(()));
    let started = tokio::time::Instant::now();
    kube.kubectl(&["delete", "iptables-dnat-rule", "dnat01", "--timeout=20s"]).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "the rule's delete hung: {:?}", started.elapsed());
    // eipauto's address released: the pod that asked for it gets it; only pods hold addresses there now.
    wait_for("the thief gets .101", Duration::from_secs(30), || {
        let o = kubectl_json(&kube, &["get", "pod", "-n", "default", "thief", "-o", "json"])?;
        let a = &o["metadata"]["annotations"];
        (a["ovn-vpc-external-network.kube-system.kubernetes.io/ip_address"] == "172.16.3.101").then_some(())
    });
    let pods = kubectl_json(&kube, &["get", "pods", "-A", "-o", "json"]).unwrap();
    let attached = pods["items"].as_array().unwrap().iter().filter(|p| {
        p["metadata"]["annotations"]["ovn-vpc-external-network.kube-system.kubernetes.io/allocated"] == "true"
            && p["metadata"]["deletionTimestamp"].is_null()
    });
    let attached = attached.count() as f64;
    wait_for("the EIPs' addresses released", Duration::from_secs(30), || (ext_using(&kube)? == attached).then_some(()));
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}
