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
//! - A field present in the spec is the user's: the patch only adds fields
//!   that are absent (or null), and never changes a value someone wrote.
//!   Kube-OVN also rewrites written values (canonical CIDR, the gateway
//!   appended to a written `excludeIps`, a second family's gateway, `default`
//!   reset outside the default VPC); ovn-vpcd does not.
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
//! Consequences of a default in the spec: a later `kubectl apply` of the
//! user's file keeps it (the three-way merge keeps fields absent from both
//! the last-applied configuration and the new file); it pins the subnet to
//! the default VPC of the day and to the gateway of its CIDR, as in
//! Kube-OVN. TOML subnets are not resources and get no patch.
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

/// The merge patch adding to `current.spec` the `defaults` it lacks, or
/// `None` when it has them all. Carries `metadata.resourceVersion`.
pub fn defaults_patch(current: &Json, defaults: &Map<String, Json>) -> Option<Json> {
    let spec = current.get("spec");
    let absent = |k: &str| spec.and_then(|s| s.get(k)).is_none_or(Json::is_null);
    let add: Map<String, Json> =
        defaults.iter().filter(|(k, _)| absent(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if add.is_empty() {
        return None;
    }
    let mut patch = json!({ "spec": add });
    if let Some(rv) = current.pointer("/metadata/resourceVersion").and_then(Json::as_str) {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    Some(patch)
}

/// Merge-patches the object at `object_path`; returns it as stored.
pub async fn write_defaults(client: &KubeClient, object_path: &str, patch: &Json) -> Result<Json, KubeError> {
    client.merge_patch(object_path, patch).await
}

#[cfg(test)]
mod tests;
