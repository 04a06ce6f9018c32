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

/// The testbed API server with ovn-vpcd's CRDs.
pub fn start_kube() -> (Kube, tempfile::TempDir) {
    start_kube_with(|_, _| {})
}

/// As [`start_kube`], with each CRD (plural, JSON) edited first.
pub fn start_kube_with(edit: impl Fn(&str, &mut Json)) -> (Kube, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (plural, yaml) in crds::CRDS {
        let mut crd = crds::to_json(yaml).unwrap();
        edit(plural, &mut crd);
        std::fs::write(dir.path().join(format!("{plural}.json")), crd.to_string()).unwrap();
    }
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
