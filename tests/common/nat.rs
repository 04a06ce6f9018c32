//! What the NAT gateway tests share: applying YAML, reading the gateways'
//! objects, the two settings ConfigMaps, the rules ConfigMap's set.

use std::path::Path;

use ovn_vpcd::rules::nat::NatRuleSet;
use ovn_vpcd::testbed::Kube;
use serde_json::Value as Json;

use super::kube::{condition, kubectl_json};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// `yaml` written to `dir/name` and applied.
pub fn apply(kube: &Kube, dir: &Path, name: &str, yaml: &str) {
    let file = dir.join(name);
    std::fs::write(&file, yaml).unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", file.to_str().unwrap()]).unwrap();
}

/// A cluster-scoped object (or one in the default namespace).
pub fn get(kube: &Kube, plural: &str, name: &str) -> Option<Json> {
    kubectl_json(kube, &["get", plural, name, "-o", "json"])
}

/// An object of the daemon's namespace, `kube-system`.
pub fn get_ns(kube: &Kube, kind: &str, name: &str) -> Option<Json> {
    kubectl_json(kube, &["get", kind, "-n", "kube-system", name, "-o", "json"])
}

/// `ovn-vpc-nat-config`: the gateway image and, optionally, `natGwNamePrefix`.
pub fn nat_config(image: &str, prefix: Option<&str>) -> String {
    let prefix = prefix.map(|p| format!("  natGwNamePrefix: {p}\n")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ovn-vpc-nat-config\n  namespace: kube-system\ndata:\n  \
         image: {image}\n{prefix}"
    )
}

/// `ovn-vpc-nat-gw-config` with `enable-vpc-nat-gw: <enable>`.
pub fn gw_config(enable: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ovn-vpc-nat-gw-config\n  namespace: kube-system\ndata:\n  \
         enable-vpc-nat-gw: \"{enable}\"\n"
    )
}

/// The rule set the rules ConfigMap `cm` of `kube-system` holds.
pub fn rule_set(kube: &Kube, cm: &str) -> Option<NatRuleSet> {
    let cm = get_ns(kube, "configmap", cm)?;
    NatRuleSet::from_json(cm["data"][ovn_vpcd::rules::DATA_KEY].as_str()?).ok()
}

/// The `Validated` condition's status and message.
pub fn validated(o: &Json) -> Option<(String, String)> {
    let c = o["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Validated")?;
    Some((c["status"].as_str()?.into(), c["message"].as_str().unwrap_or("").into()))
}

/// The `Ready` condition's status and reason of a cluster-scoped object.
pub fn ready(kube: &Kube, plural: &str, name: &str) -> Option<(String, String)> {
    condition(&get(kube, plural, name)?, "Ready")
}

/// A testbed API server and NB (no northd) with the daemon's config written
/// for them: `(kube, its CRD dir, ovn, the scratch dir, the config path)`.
pub fn start_nat() -> (Kube, tempfile::TempDir, ovn_vpcd::testbed::Ovn, std::path::PathBuf, std::path::PathBuf) {
    let (kube, crds) = super::kube::start_kube();
    let ovn = ovn_vpcd::testbed::Ovn::start_with(&["--no-northd"]).unwrap();
    let dir = ovn.dir().to_path_buf();
    let config = super::kube::write_config(&dir, "k.toml", &kube, "a", "");
    (kube, crds, ovn, dir, config)
}

/// Seed 003's tenant, NAT gateway and rules applied, NAT gateways switched on.
pub fn apply_seed_003_nat(kube: &Kube, dir: &Path) {
    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003.yaml")]).unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", &format!("{FIXTURES}/seed-003-nat.yaml")]).unwrap();
    apply(kube, dir, "nat-config.yaml", &nat_config("ovn-vpcd:test", None));
    apply(kube, dir, "gw-config.yaml", &gw_config("true"));
}
