//! Kube-OVN's own objects: the daemon on top of Kube-OVN 1.16's CRD manifest
//! (the fixture in `../shared/kube-ovn/`, split at test time), and, with our
//! CRDs, Kube-OVN's fields, the default VPC, status edits by hand and Events
//! as events.k8s.io/v1 clients read them. Every apply uses kubectl's default
//! (strict) validation, which the testbed API server enforces.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ovn_vpcd::kube::crds;
use ovn_vpcd::testbed::{Kube, Ovn};
use serde_json::Value as Json;

mod common;
use common::kube::{crd_dir, crd_docs, KUBE_OVN_CRDS};
use common::{wait_for, Daemon};

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed-002.yaml");

/// net1 of seed 002 as Kube-OVN's controller leaves it (`formatSubnet`
/// writes its defaults into the spec): the same subnet.
const NET1_AS_KUBE_OVN_STORES_IT: &str = "kind: Subnet
apiVersion: kubeovn.io/v1
metadata:
  name: net1
spec:
  vpc: test-vpc-1
  namespaces: [ns1]
  cidrBlock: 10.0.1.0/24
  excludeIps: [10.0.1.1, 10.0.1.250..10.0.1.254]
  gateway: 10.0.1.1
  gatewayType: distributed
  protocol: IPv4
  provider: ovn
  default: true
  natOutgoing: false
  private: false
  enableLb: true
  enableDHCP: false
  enableIPv6RA: false
  enableEcmp: false
  logicalGateway: false
  disableGatewayCheck: false
  disableInterConnection: false
  u2oInterconnection: false
  enableMulticastSnoop: false
  enableExternalLBAddress: false
";

fn kube_ovn_crd_dir() -> tempfile::TempDir {
    crd_dir(crd_docs(&std::fs::read_to_string(KUBE_OVN_CRDS).unwrap()))
}

fn our_crd_dir() -> tempfile::TempDir {
    crd_dir(crds::CRDS.iter().map(|(_, y)| crds::to_json(y).unwrap()))
}

fn write_config(dir: &Path, kube: &Kube, toml: &str) -> PathBuf {
    let path = dir.join("k.toml");
    let text = format!(
        "{toml}\n[kubernetes]\nkubeconfig = \"{}\"\nlease_namespace = \"default\"\nidentity = \"a\"\n\
         lease_duration_seconds = 3\nrenew_deadline_seconds = 2\nretry_period_seconds = 1\n",
        kube.kubeconfig().display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn apply(kube: &Kube, dir: &Path, name: &str, yaml: &str) {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    // kubectl's default validation: strict, unknown fields refused.
    kube.kubectl(&["apply", "-f", path.to_str().unwrap()]).unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

fn get(kube: &Kube, kind: &str, name: &str) -> Option<Json> {
    kube.kubectl(&["get", kind, name, "-o", "json"]).ok().and_then(|t| serde_json::from_str(&t).ok())
}

/// `(status, reason, message)` of a condition.
fn condition(o: &Json, kind: &str) -> Option<(String, String, String)> {
    let c = o["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == kind)?;
    Some((c["status"].as_str()?.into(), c["reason"].as_str()?.into(), c["message"].as_str()?.into()))
}

fn switches(ovn: &Ovn) -> Vec<String> {
    common::nbctl_column(ovn, "Logical_Switch", "name")
}

/// The NB the TOML of seed 002 gives: its switches and routers.
fn reference(ovn_toml: &str) -> (Vec<String>, Vec<String>) {
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
        .args(["apply", "--config", ovn_toml, "--db", ovn.nb_unix()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dump(&ovn), switches(&ovn))
}

/// Owned rows of the tables seed 002 fills, references and uuids left out.
fn dump(ovn: &Ovn) -> Vec<String> {
    let mut out = vec![];
    for (t, cols) in [
        ("Logical_Router", "name,external_ids"),
        ("Logical_Switch", "name,external_ids,other_config"),
        ("Logical_Router_Port", "name,mac,networks,external_ids"),
        ("Logical_Switch_Port", "name,type,addresses,options,external_ids"),
        ("Logical_Router_Static_Route", "ip_prefix,nexthop,policy,route_table,external_ids"),
        ("Logical_Router_Policy", "priority,match,action,nexthops,external_ids"),
        ("DHCP_Options", "cidr,options,external_ids"),
    ] {
        let text =
            ovn.nbctl(&["--bare", "--format=csv", "--no-headings", &format!("--columns={cols}"), "list", t]).unwrap();
        let mut rows: Vec<String> = text.lines().map(|l| format!("{t}: {l}")).collect();
        rows.sort();
        out.extend(rows);
    }
    out
}

#[test]
fn on_kube_ovn_own_crds_seed_002_with_kube_ovn_defaults_converges_and_is_ready() {
    let (want, want_switches) = reference(concat!(env!("CARGO_MANIFEST_DIR"), "/config/ovn-vpcd.toml"));
    assert_eq!(want_switches, ["net1", "net2"]);
    let crds = kube_ovn_crd_dir();
    let kube = Kube::start(Some(crds.path()), &["--quiet"]).unwrap();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), &kube, "");
    let _daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "-f", SEED]).unwrap();
    apply(&kube, ovn.dir(), "net1.yaml", NET1_AS_KUBE_OVN_STORES_IT);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while dump(&ovn) != want {
        if tokio::time::Instant::now() > deadline {
            let got = dump(&ovn);
            let missing: Vec<_> = want.iter().filter(|r| !got.contains(r)).collect();
            let extra: Vec<_> = got.iter().filter(|r| !want.contains(r)).collect();
            panic!("the NB differs from the TOML's: missing {missing:#?}, extra {extra:#?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for (kind, name) in [("vpc", "test-vpc-1"), ("vpc", "test-vpc-2"), ("subnet", "net1"), ("subnet", "net2")] {
        wait_for(&format!("{kind} {name} Ready"), Duration::from_secs(15), || {
            let o = get(&kube, kind, name)?;
            (condition(&o, "Ready")?.0 == "True" && condition(&o, "Validated")?.0 == "True").then_some(())
        });
    }
    // Kube-OVN's enableLb has no effect here, and says so without taking Realised down.
    let net1 = get(&kube, "subnet", "net1").unwrap();
    let realised = condition(&net1, "Realised").unwrap();
    assert_eq!(realised.0, "True", "{net1}");
    assert!(realised.2.contains("enableLb"), "{net1}");
    assert_eq!(net1["spec"]["enableLb"], true, "kept as written: {net1}");
    // Kube-OVN's schema has no status.observedGeneration: the status settles
    // instead of being rewritten over and over.
    let rv = |o: &Json| o["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let before = rv(&get(&kube, "subnet", "net1").unwrap());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rv(&get(&kube, "subnet", "net1").unwrap()), before, "the status keeps being rewritten");
}

#[test]
fn kube_ovn_fields_default_vpc_status_edits_and_events_with_our_crds() {
    let crds = our_crd_dir();
    let kube = Kube::start(Some(crds.path()), &["--quiet"]).unwrap();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), &kube, "");
    let _daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "-f", SEED]).unwrap();
    apply(&kube, ovn.dir(), "net1.yaml", NET1_AS_KUBE_OVN_STORES_IT);
    apply(
        &kube,
        ovn.dir(),
        "ext.yaml",
        "kind: Vpc\napiVersion: kubeovn.io/v1\nmetadata:\n  name: ext\nspec:\n  enableExternal: true\n---\n\
         kind: Subnet\napiVersion: kubeovn.io/v1\nmetadata:\n  name: ext-net\nspec:\n  vpc: ext\n  \
         cidrBlock: 10.20.0.0/24\n  vlan: vlan1\n  enableLb: true\n",
    );
    // Accepted, realised where it can be, and not claimed where it is not.
    let vpc = wait_for("ext not realised", Duration::from_secs(20), || {
        let o = get(&kube, "vpc", "ext")?;
        (condition(&o, "Realised")?.0 == "False").then_some(o)
    });
    let (_, reason, message) = condition(&vpc, "Realised").unwrap();
    assert_eq!(reason, "FieldsNotRealised");
    assert!(message.contains("enableExternal"), "{message}");
    let ready = condition(&vpc, "Ready").unwrap();
    assert!(ready.2.contains("except enableExternal"), "Ready must not claim enableExternal: {ready:?}");
    let net = wait_for("ext-net not realised", Duration::from_secs(20), || {
        let o = get(&kube, "subnet", "ext-net")?;
        (condition(&o, "Realised")?.0 == "False").then_some(o)
    });
    assert!(condition(&net, "Realised").unwrap().2.contains("vlan"), "{net}");
    // STANDBY true once reconciled, and Kube-OVN's columns.
    let table = kube.kubectl(&["get", "vpc", "ext"]).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    for col in ["ENABLEEXTERNAL", "ENABLEBFD", "STANDBY", "EXTRAEXTERNALSUBNETS", "AGE"] {
        assert!(header.contains(&col), "{table}");
    }
    assert_eq!(vpc["status"]["standby"], true, "{vpc}");

    // A subnet without vpc belongs to ovn-cluster: it waits, then converges.
    apply(
        &kube,
        ovn.dir(),
        "plain.yaml",
        "kind: Subnet\napiVersion: kubeovn.io/v1\nmetadata:\n  name: plain\nspec:\n  cidrBlock: 10.30.0.0/24\n",
    );
    wait_for("plain waits for ovn-cluster", Duration::from_secs(20), || {
        let (status, reason, message) = condition(&get(&kube, "subnet", "plain")?, "Ready")?;
        (status == "False" && reason == "WaitingForDependency" && message.contains("ovn-cluster")).then_some(())
    });
    assert!(!switches(&ovn).contains(&"plain".to_string()));
    apply(
        &kube,
        ovn.dir(),
        "cluster.yaml",
        "kind: Vpc\napiVersion: kubeovn.io/v1\nmetadata:\n  name: ovn-cluster\nspec: {}\n",
    );
    wait_for("plain Ready in ovn-cluster", Duration::from_secs(20), || {
        let o = get(&kube, "subnet", "plain")?;
        (condition(&o, "Ready")?.0 == "True" && switches(&ovn).contains(&"plain".to_string())).then_some(())
    });
    assert!(common::nbctl_column(&ovn, "Logical_Router_Port", "name").contains(&"ovn-cluster-plain".into()));

    // A status edited by hand is put back within seconds, not at the resync.
    let edit = r#"{"status":{"conditions":[{"type":"Ready","status":"False","reason":"Edited","message":"by hand","lastTransitionTime":"2020-01-01T00:00:00Z"}]}}"#;
    let patched = kube
        .kubectl(&["patch", "subnet", "net2", "--subresource=status", "--type=merge", "-p", edit, "-o", "json"])
        .unwrap();
    let o: Json = serde_json::from_str(&patched).unwrap();
    assert_eq!(condition(&o, "Ready").unwrap().1, "Edited", "the edit landed: {o}");
    wait_for("net2's status put back", Duration::from_secs(5), || {
        (condition(&get(&kube, "subnet", "net2")?, "Ready")?.0 == "True").then_some(())
    });

    // The Event of a refusal reads as events.k8s.io/v1.
    apply(
        &kube,
        ovn.dir(),
        "bad.yaml",
        "kind: Subnet\napiVersion: kubeovn.io/v1\nmetadata:\n  name: bad\nspec:\n  vpc: test-vpc-2\n  \
         cidrBlock: 10.9.0.0/24\n  gateway: 10.8.0.1\n",
    );
    let ev = wait_for("the refusal's Event", Duration::from_secs(20), || {
        let list: Json =
            serde_json::from_str(&kube.kubectl(&["get", "events.events.k8s.io", "-n", "default", "-o", "json"]).ok()?)
                .ok()?;
        list["items"].as_array()?.iter().find(|e| e["regarding"]["name"] == "bad").cloned()
    });
    assert_eq!(ev["apiVersion"], "events.k8s.io/v1", "{ev}");
    let t = ev["eventTime"].as_str().unwrap_or_else(|| panic!("no eventTime: {ev}"));
    assert!(t.len() == 27 && t.ends_with('Z') && t.as_bytes()[19] == b'.', "MicroTime: {t}");
    assert_eq!(ev["reportingController"], "ovn-vpcd", "{ev}");
    assert!(ev["reportingInstance"].as_str().is_some_and(|s| !s.is_empty()), "{ev}");
    assert_eq!(ev["action"], "Validate", "{ev}");
    assert!(ev["note"].as_str().unwrap().contains("gateway"), "{ev}");
    let table = kube.kubectl(&["get", "events.events.k8s.io", "-n", "default"]).unwrap();
    assert!(table.contains("ValidationFailed"), "{table}");
}

/// Seed 002 plus a subnet of the default VPC, as a user writes them.
const DEFAULT_VPC: &str = "kind: Vpc\napiVersion: kubeovn.io/v1\nmetadata:\n  name: ovn-cluster\nspec: {}\n---\n\
     kind: Subnet\napiVersion: kubeovn.io/v1\nmetadata:\n  name: plain\nspec:\n  cidrBlock: 10.30.0.0/24\n";

/// `kubectl get subnet` as `(name, column → cell)`, cells cut at the
/// header's column starts (an empty cell is blank).
fn subnet_table(kube: &Kube) -> Vec<(String, std::collections::BTreeMap<String, String>)> {
    let table = kube.kubectl(&["get", "subnet"]).unwrap();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    let mut starts: Vec<(usize, &str)> = vec![];
    for (i, _) in header.char_indices().filter(|(i, c)| *c != ' ' && (*i == 0 || header.as_bytes()[i - 1] == b' ')) {
        starts.push((i, header[i..].split(' ').next().unwrap()));
    }
    lines
        .map(|l| {
            let cell = |k: usize| {
                let end = starts.get(k + 1).map_or(l.len(), |s| s.0.min(l.len()));
                l.get(starts[k].0..end).unwrap_or("").trim().to_string()
            };
            let row: std::collections::BTreeMap<String, String> =
                starts.iter().enumerate().map(|(k, (_, h))| (h.to_string(), cell(k))).collect();
            (cell(0), row)
        })
        .collect()
}

/// The generation the Ready condition was reported for.
fn ready_generation(o: &Json) -> Option<i64> {
    let c = o["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Ready" && c["status"] == "True")?;
    c["observedGeneration"].as_i64()
}

/// Kube-OVN's defaults appear in the spec (`kubectl get subnet` shows them
/// as Kube-OVN does), what the user wrote stays, the NB does not move, the
/// daemon writes once, and a second `kubectl apply` of the user's files
/// neither undoes them nor fights them.
fn defaults_written_once_as_kube_ovn_fills_them(crds: &Path) {
    let kube = Kube::start(Some(crds), &["--quiet"]).unwrap();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), &kube, "");
    kube.kubectl(&["apply", "-f", SEED]).unwrap();
    apply(&kube, ovn.dir(), "default-vpc.yaml", DEFAULT_VPC);
    // The NB the resources give without the daemon (no defaults written).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
        .args(["apply", "--config", config.to_str().unwrap(), "--db", ovn.nb_unix()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = common::kube::nb_state(&ovn);
    assert!(switches(&ovn) == ["net1", "net2", "plain"], "{before:#?}");
    assert!(get(&kube, "subnet", "net2").unwrap()["spec"].get("provider").is_none());

    let daemon = Daemon::start(&ovn, &config, &[]);
    for name in ["net1", "net2", "plain"] {
        wait_for(&format!("{name}'s defaults and a status of their generation"), Duration::from_secs(30), || {
            let o = get(&kube, "subnet", name)?;
            let generation = o["metadata"]["generation"].as_i64()?;
            (o["spec"]["provider"] == "ovn" && ready_generation(&o) == Some(generation)).then_some(())
        });
    }
    let rows = subnet_table(&kube);
    let row = |n: &str| rows.iter().find(|(name, _)| name == n).map(|(_, r)| r.clone()).unwrap();
    let (net1, net2, plain) = (row("net1"), row("net2"), row("plain"));
    for r in [&net1, &net2, &plain] {
        assert_eq!((r["PROVIDER"].as_str(), r["PROTOCOL"].as_str()), ("ovn", "IPv4"), "{rows:?}");
        assert_eq!((r["PRIVATE"].as_str(), r["NAT"].as_str()), ("false", "false"), "{rows:?}");
    }
    // Written by the user: kept as written (net1 is the default subnet, its
    // excludeIps lack the gateway, which the NB excludes anyway).
    assert_eq!(net1["DEFAULT"], "true", "{rows:?}");
    assert_eq!(net1["EXCLUDEIPS"], r#"["10.0.1.250..10.0.1.254"]"#, "{rows:?}");
    assert_eq!(net2["DEFAULT"], "false", "{rows:?}");
    assert_eq!(net2["EXCLUDEIPS"], r#"["10.0.1.1"]"#, "{rows:?}");
    assert_eq!(plain["EXCLUDEIPS"], r#"["10.30.0.1"]"#, "{rows:?}");
    // Kube-OVN 1.16 fills gatewayType in only in the default VPC (a custom
    // VPC has no gateway type), and an OVN subnet's VPC.
    assert_eq!((plain["VPC"].as_str(), plain["GATEWAYTYPE"].as_str()), ("ovn-cluster", "distributed"), "{rows:?}");
    assert_eq!(net1["GATEWAYTYPE"], "", "{rows:?}");
    let net2_obj = get(&kube, "subnet", "net2").unwrap();
    assert_eq!(net2_obj["spec"]["gateway"], "10.0.1.1", "{net2_obj}");
    assert_eq!(net2_obj["spec"]["enableDHCP"], true, "{net2_obj}");
    assert_eq!(common::kube::nb_state(&ovn), before, "the defaults moved the NB");

    // Written once: one spec write (generation 2), then nothing moves.
    let versions = || -> Vec<(String, i64)> {
        ["net1", "net2", "plain"]
            .iter()
            .map(|n| {
                let o = get(&kube, "subnet", n).unwrap();
                (
                    o["metadata"]["resourceVersion"].as_str().unwrap().to_string(),
                    o["metadata"]["generation"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let settled = versions();
    assert!(settled.iter().all(|(_, g)| *g == 2), "one spec write per subnet: {settled:?}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(versions(), settled, "the subnets keep being rewritten");
    let log = std::fs::read_to_string(&daemon.log).unwrap();
    assert_eq!(log.matches("Kube-OVN's defaults written").count(), 3, "{log}");

    // The user's files again: nothing to undo, nothing to fight.
    let again = kube.kubectl(&["apply", "-f", SEED]).unwrap();
    for name in ["net1", "net2"] {
        let line = again.lines().find(|l| l.contains(&format!("subnet.kubeovn.io/{name} "))).unwrap_or_default();
        assert!(line.ends_with("unchanged") || line.ends_with("configured"), "{again}");
    }
    apply(&kube, ovn.dir(), "default-vpc.yaml", DEFAULT_VPC);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(versions(), settled, "a second apply changed the subnets");
    assert_eq!(get(&kube, "subnet", "plain").unwrap()["spec"]["gatewayType"], "distributed");
    assert_eq!(common::kube::nb_state(&ovn), before, "a second apply moved the NB");
    let log = std::fs::read_to_string(&daemon.log).unwrap();
    assert_eq!(log.matches("Kube-OVN's defaults written").count(), 3, "{log}");

    // The user's file with a new cidrBlock: the gateway the daemon wrote for
    // the old one is replaced, not held against the user.
    apply(&kube, ovn.dir(), "default-vpc.yaml", &DEFAULT_VPC.replace("10.30.0.0/24", "10.31.0.0/24"));
    let plain = wait_for("plain on its new CIDR", Duration::from_secs(20), || {
        let o = get(&kube, "subnet", "plain")?;
        let converged = ready_generation(&o) == o["metadata"]["generation"].as_i64()
            && common::nbctl_column(&ovn, "Logical_Router_Port", "networks").contains(&"10.31.0.1/24".to_string());
        converged.then_some(o)
    });
    assert_eq!(plain["spec"]["gateway"], "10.31.0.1", "{plain}");
    assert_eq!(plain["spec"]["excludeIps"], serde_json::json!(["10.31.0.1"]), "{plain}");
    assert_eq!((&plain["spec"]["vpc"], &plain["spec"]["gatewayType"]), (&"ovn-cluster".into(), &"distributed".into()));
    assert_eq!(condition(&plain, "Validated").unwrap().0, "True", "{plain}");
}

#[test]
fn subnet_defaults_as_kube_ovn_fills_them_with_our_crds() {
    defaults_written_once_as_kube_ovn_fills_them(our_crd_dir().path());
}

#[test]
fn subnet_defaults_as_kube_ovn_fills_them_on_kube_ovn_own_crds() {
    defaults_written_once_as_kube_ovn_fills_them(kube_ovn_crd_dir().path());
}
