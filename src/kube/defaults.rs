//! Kube-OVN's defaults written into an accepted Subnet's `spec`, so that
//! `kubectl get subnet` shows PROVIDER, PROTOCOL, GATEWAYTYPE, EXCLUDEIPS,
//! PRIVATE, NAT and DEFAULT as Kube-OVN's controller leaves them
//! (`formatSubnet` fills its defaults into the spec with an update).
//!
//! Pure part: [`subnet_defaults`] names, for a validated subnet, the spec
//! fields Kube-OVN 1.16 fills in and the values it fills in, computed from
//! what the model itself used (the same gateway, the same VPC), so writing
//! them changes nothing in the NB; [`defaults_patch`] turns those into a JSON
//! merge patch of the object's spec, or `None` when nothing is to be written.
//!
//! Invariants:
//! - A field present in the spec is the user's, unless this daemon wrote it
//!   and nobody changed it since (recorded in [`DEFAULTS_ANNOTATION`]): the
//!   patch adds absent fields, updates only its own, and never changes a
//!   value someone wrote. Kube-OVN also rewrites written values (canonical
//!   CIDR, the gateway appended to a written `excludeIps`, a second family's
//!   gateway, `default` reset outside the default VPC); ovn-vpcd does not.
//! - The model is validated from [`user_spec`], the spec without our own
//!   defaults: a default is derived from the user's fields, never an input
//!   beside them. A changed `cidrBlock` gets the new gateway (the old one,
//!   still in the spec, would be refused), and a changed `[daemon]
//!   default_vpc` moves the subnets that did not name their VPC.
//! - The patch carries `metadata.resourceVersion`: a spec changed since it
//!   was read makes it fail with 409 (re-read, recompute), never overwrite.
//! - Only fields whose value means the same as their absence are written:
//!   `provider: ovn`, `protocol` from the CIDRs, `gateway` (the first host of
//!   each CIDR, as the model takes it), `excludeIps` (the gateways, which the
//!   model excludes anyway), `vpc` (the default VPC the model put the subnet
//!   in), `gatewayType: distributed` (in the default VPC only, as Kube-OVN
//!   since 1.14), and `private`/`natOutgoing`/`default` false (Kube-OVN's
//!   types serialise them always). Not written: `enableLb` (ovn-vpcd writes
//!   no load balancers; it would claim one) and `gatewayNode: ""`.
//!
//! A later `kubectl apply` of the user's file keeps the defaults (the
//! three-way merge keeps fields, and annotations, absent from both the
//! last-applied configuration and the new file); a value the file then sets
//! is the user's from then on. TOML subnets are not resources and get no
//! patch.
//!
//! I/O part: [`write_defaults`] sends a patch to the object itself (not to
//! `/status`); the write bumps `metadata.generation`, and the next pass
//! reports the status for that generation.

use serde_json::{json, Map, Value as Json};

use super::client::{KubeClient, KubeError};
use crate::model::validate::Subnet;

/// The spec fields Kube-OVN's controller fills into `subnet`, with their
/// values, in the daemon's default VPC `default_vpc`.
pub fn subnet_defaults(subnet: &Subnet, default_vpc: &str) -> Map<String, Json> {
    let mut out = Map::new();
    out.insert("provider".into(), json!("ovn"));
    let v4 = subnet.cidrs.iter().any(|c| c.addr().is_ipv4());
    let v6 = subnet.cidrs.iter().any(|c| c.addr().is_ipv6());
    let protocol = match (v4, v6) {
        (true, true) => "Dual",
        (false, true) => "IPv6",
        _ => "IPv4",
    };
    out.insert("protocol".into(), json!(protocol));
    // In the order of cidrBlock, as Kube-OVN writes it (the model keeps IPv4 first).
    let mut gateways: Vec<String> = subnet.gateways.iter().map(ToString::to_string).collect();
    let v6_first = subnet.spec.cidr_block.split(',').next().is_some_and(|c| c.contains(':'));
    if v6_first {
        gateways.reverse();
    }
    out.insert("gateway".into(), json!(gateways.join(",")));
    let mut excludes = gateways;
    excludes.sort();
    out.insert("excludeIps".into(), json!(excludes));
    if subnet.is_ovn && !subnet.spec.vpc.is_empty() {
        out.insert("vpc".into(), json!(subnet.spec.vpc));
    }
    if subnet.spec.vpc == default_vpc {
        out.insert("gatewayType".into(), json!("distributed"));
    }
    for flag in ["private", "natOutgoing", "default"] {
        out.insert(flag.into(), json!(false));
    }
    out
}

/// The annotation naming the defaults this daemon wrote into a spec, with
/// their values (a JSON object as a string).
pub const DEFAULTS_ANNOTATION: &str = "ovn-vpcd.kubeovn.io/defaults";

/// The fields of `obj`'s spec that hold a default this daemon wrote and
/// nobody changed since: still ours to update (a new CIDR, a new default VPC).
pub fn ours(obj: &Json) -> Map<String, Json> {
    let recorded: Map<String, Json> = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(DEFAULTS_ANNOTATION))
        .and_then(Json::as_str)
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let spec = obj.get("spec");
    recorded.into_iter().filter(|(k, v)| spec.and_then(|s| s.get(k)) == Some(v)).collect()
}

/// `obj`'s spec as its users wrote it: without the defaults that are
/// [`ours`]. This is what the model is validated from, so a default never
/// outlives what it was derived from (a changed `cidrBlock` gets a new
/// gateway, not a refusal for the old one).
pub fn user_spec(obj: &Json) -> Json {
    let mut spec = obj.get("spec").cloned().unwrap_or_else(|| Json::Object(Map::new()));
    if let Some(s) = spec.as_object_mut() {
        for k in ours(obj).keys() {
            s.remove(k);
        }
    }
    spec
}

/// The merge patch bringing `current.spec` to `defaults`: absent fields are
/// added, fields that are [`ours`] follow their new value (or go, when no
/// longer a default), anything else stays. `None` when nothing is to be
/// written. Records what is ours in [`DEFAULTS_ANNOTATION`] and carries
/// `metadata.resourceVersion`.
pub fn defaults_patch(current: &Json, defaults: &Map<String, Json>) -> Option<Json> {
    let spec = current.get("spec");
    let have = |k: &str| spec.and_then(|s| s.get(k)).filter(|v| !v.is_null());
    let ours = ours(current);
    let mut changes = Map::new();
    let mut record = Map::new();
    for (k, v) in defaults {
        match have(k) {
            Some(h) if h == v => {
                if ours.contains_key(k) {
                    record.insert(k.clone(), v.clone());
                }
            }
            Some(_) if !ours.contains_key(k) => {} // the user's
            _ => {
                changes.insert(k.clone(), v.clone());
                record.insert(k.clone(), v.clone());
            }
        }
    }
    for k in ours.keys().filter(|k| !defaults.contains_key(*k)) {
        changes.insert(k.clone(), Json::Null);
    }
    if changes.is_empty() {
        return None;
    }
    let mut patch = json!({
        "spec": changes,
        "metadata": {"annotations": {DEFAULTS_ANNOTATION: Json::Object(record).to_string()}},
    });
    if let Some(rv) = current.pointer("/metadata/resourceVersion").and_then(Json::as_str) {
        patch["metadata"]["resourceVersion"] = json!(rv);
    }
    Some(patch)
}

/// Merge-patches the object at `object_path`; returns it as stored.
pub async fn write_defaults(client: &KubeClient, object_path: &str, patch: &Json) -> Result<Json, KubeError> {
    client.merge_patch(object_path, patch).await
}

#[cfg(test)]
mod tests;
