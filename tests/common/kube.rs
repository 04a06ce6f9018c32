//! Helpers for the tests that run the daemon against the testbed API server.

use std::path::{Path, PathBuf};

use ovn_vpcd::kube::crds;
use ovn_vpcd::testbed::{Kube, Ovn};
use serde_json::Value as Json;

/// The tables the daemon writes.
pub const TABLES: &[&str] = &[
    "Logical_Router",
    "Logical_Switch",
    "Logical_Router_Port",
    "Logical_Switch_Port",
    "Logical_Router_Static_Route",
    "Logical_Router_Policy",
    "DHCP_Options",
];

/// Kube-OVN 1.16.2's CRD manifest (a fixture beside the repository).
pub const KUBE_OVN_CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/kube-ovn/kube-ovn-crd-v1.16.2.yaml");

/// With `OVN_VPCD_TEST_CRDS=kube-ovn` the Kubernetes tests run on Kube-OVN's
/// own CRDs instead of ours (`testbed/test.sh` runs them once so).
pub fn on_kube_ovn_crds() -> bool {
    std::env::var("OVN_VPCD_TEST_CRDS").is_ok_and(|v| v == "kube-ovn")
}

/// Every CRD document of a manifest stream.
pub fn crd_docs(text: &str) -> Vec<Json> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| <Json as serde::Deserialize>::deserialize(d).unwrap())
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect()
}

/// Kube-OVN's CRDs, or ours.
pub fn crds_in_use() -> Vec<Json> {
    if on_kube_ovn_crds() {
        let docs = crd_docs(&std::fs::read_to_string(KUBE_OVN_CRDS).unwrap());
        // Kube-OVN's manifest, not ours: it also defines kinds we do not ship.
        assert!(docs.iter().any(|d| d["metadata"]["name"] == "ippools.kubeovn.io"), "{KUBE_OVN_CRDS}");
        docs
    } else {
        crds::CRDS.iter().map(|(_, y)| crds::to_json(y).unwrap()).collect()
    }
}

/// Each CRD as `<name>.json` in a new directory (what the testbed takes).
pub fn crd_dir(docs: impl IntoIterator<Item = Json>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in docs {
        let name = d["metadata"]["name"].as_str().unwrap().to_string();
        std::fs::write(dir.path().join(format!("{name}.json")), d.to_string()).unwrap();
    }
    dir
}

/// The testbed API server with the CRDs in use (see [`on_kube_ovn_crds`]).
pub fn start_kube() -> (Kube, tempfile::TempDir) {
    start_kube_with(|_, _| {})
}

/// As [`start_kube`], with each CRD (by plural) edited first.
pub fn start_kube_with(edit: impl Fn(&str, &mut Json)) -> (Kube, tempfile::TempDir) {
    let docs = crds_in_use().into_iter().map(|mut d| {
        let plural = d["spec"]["names"]["plural"].as_str().unwrap_or("").to_string();
        edit(&plural, &mut d);
        d
    });
    let dir = crd_dir(docs);
    (Kube::start(Some(dir.path()), &["--quiet"]).unwrap(), dir)
}

/// A daemon config: `toml` objects plus the `[kubernetes]` section.
pub fn write_config(dir: &Path, name: &str, kube: &Kube, identity: &str, toml: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!(
        "{toml}\n[kubernetes]\nkubeconfig = \"{}\"\nlease_namespace = \"default\"\nidentity = \"{identity}\"\n\
         lease_duration_seconds = 3\nrenew_deadline_seconds = 2\nretry_period_seconds = 1\n",
        kube.kubeconfig().display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Every owned table as sorted rows, row references replaced by counts, so
/// that two NBs built independently compare equal.
pub fn nb_state(ovn: &Ovn) -> Vec<String> {
    fn strip(v: &Json) -> Json {
        match v {
            Json::Array(a) if a.len() == 2 && a[0] == "uuid" => Json::String("ref".into()),
            Json::Array(a)
                if a.len() == 2
                    && a[0] == "set"
                    && a[1].as_array().is_some_and(|s| s.iter().all(|x| x[0] == "uuid")) =>
            {
                Json::String(format!("refs:{}", a[1].as_array().map_or(0, Vec::len)))
            }
            other => other.clone(),
        }
    }
    let mut out = vec![];
    for t in TABLES {
        let j: Json = serde_json::from_str(&ovn.nbctl(&["--format=json", "list", t]).unwrap()).unwrap();
        let heads: Vec<String> = j["headings"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().into()).collect();
        let mut rows: Vec<String> = j["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let cells: Vec<String> = r
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(&heads)
                    .filter(|(_, h)| *h != "_uuid")
                    .map(|(c, h)| format!("{h}={}", strip(c)))
                    .collect();
                format!("{t}: {}", cells.join(" "))
            })
            .collect();
        rows.sort();
        out.extend(rows);
    }
    out
}

pub fn kubectl_json(kube: &Kube, args: &[&str]) -> Option<Json> {
    kube.kubectl(args).ok().and_then(|t| serde_json::from_str(&t).ok())
}

pub fn condition(o: &Json, kind: &str) -> Option<(String, String)> {
    let c = o["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == kind)?;
    Some((c["status"].as_str()?.into(), c["reason"].as_str()?.into()))
}

/// Seed 002's Vpc and Subnet resources.
pub const SEED_002_YAML: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed-002.yaml");

/// The uuid of the row of `table` named `name` ("" when there is none).
pub fn uuid_of(ovn: &Ovn, table: &str, name: &str) -> String {
    ovn.nbctl(&["--bare", "--columns=_uuid", "find", table, &format!("name={name}")]).unwrap().trim().to_string()
}

/// A CRD edit: the Subnet CRD keeps unknown spec fields (as a looser CRD of
/// another version would), so they reach the daemon.
pub fn subnets_keep_unknown_fields(plural: &str, crd: &mut Json) {
    if plural == "subnets" {
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["x-kubernetes-preserve-unknown-fields"] = Json::Bool(true);
    }
}
