//! The anchor: the owner of managed objects that no resource holds — those
//! rendered from the TOML (today the workloads of the NAT gateways written
//! as `[[vpcNatGateway]]`). Pure.
//!
//! The anchor of a namespace is the ConfigMap [`ANCHOR_NAME`] there,
//! labelled `app.kubernetes.io/managed-by: ovn-vpcd`, annotated
//! [`ANCHOR_ANNOTATION`] and with no controller owner reference. The
//! reconciler keeps it itself: it is desired exactly while some desired
//! object of its namespace is owned by it ([`Owner::Anchor`]), made before
//! them, and deleted (background propagation) once none is. A desired
//! object owned by the anchor is rendered with the anchor's owner reference
//! as the watch shows it ([`resolve`]); until the anchor is there and ours,
//! it waits. One anchor per namespace, since an owner reference never
//! crosses namespaces.
//!
//! Ownership, extended by exactly this case (see `diff.rs`): the anchor is
//! ours with our label *and* the annotation *and* no controller; an object
//! whose controller is a ConfigMap named [`ANCHOR_NAME`] (necessarily in
//! its own namespace) is ours with our label, as one whose controller is a
//! resource of a kind we render from. So a ConfigMap of that name made by
//! someone else is never adopted (the anchor and every object it would own
//! are refused and wait), and taking the label or the annotation off the
//! anchor hands it over, as the label does for any managed object.
//!
//! Deleting the anchor by hand deletes what it owns through the garbage
//! collector, as deleting a VpcNatGateway resource deletes its workload:
//! the TOML gateways' pods stop. The reconciler makes the anchor again at
//! once and the objects under the new anchor (a survivor's owner reference
//! is corrected to the new uid); each gateway's new pod re-applies its rule
//! set from its rules ConfigMap by itself. `--cascade=orphan` instead hands
//! the objects over (they lose their controller reference): they are
//! refused, not adopted, as an orphaned resource's workload is.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value as Json};

use super::diff::DesiredObject;
use super::kind::{controller_of, ObjectId, ObjectKind, Owner, OwnerRef};

/// The anchor's name in each namespace that holds objects it owns.
pub const ANCHOR_NAME: &str = "ovn-vpcd-toml-gateways";
/// The annotation marking the anchor (beside our label).
pub const ANCHOR_ANNOTATION: &str = "ovn-vpcd.kubeovn.io/anchor";
/// The annotation's value: what the anchor is, for whoever reads it.
pub const ANCHOR_ABOUT: &str = "owns the workloads of the NAT gateways written in ovn-vpcd's TOML configuration; \
                                deleting it deletes them (ovn-vpcd makes them again)";

/// The anchor of `namespace`.
pub fn anchor_id(namespace: &str) -> ObjectId {
    ObjectId::new(ObjectKind::ConfigMap, namespace, ANCHOR_NAME)
}

/// Whether `id` is an anchor's identity.
pub fn is_anchor_id(id: &ObjectId) -> bool {
    id.kind == ObjectKind::ConfigMap && id.name == ANCHOR_NAME
}

/// The anchor of `namespace` as desired.
pub fn anchor(namespace: &str) -> DesiredObject {
    DesiredObject { id: anchor_id(namespace), owner: Owner::None, labels: BTreeMap::new(), fields: json!({}) }
}

/// Whether an owner reference names an anchor.
pub fn names_anchor(reference: &Json) -> bool {
    let s = |k: &str| reference.get(k).and_then(Json::as_str).unwrap_or("");
    s("apiVersion") == "v1" && s("kind") == "ConfigMap" && s("name") == ANCHOR_NAME
}

/// Why `object`, at an anchor's identity and labelled ours, is not our
/// anchor, or `None` if it is.
pub fn anchor_foreign_reason(object: &Json) -> Option<String> {
    let annotated = object.pointer("/metadata/annotations").and_then(|a| a.get(ANCHOR_ANNOTATION)).is_some();
    if !annotated {
        return Some(format!("it is not annotated {ANCHOR_ANNOTATION}, so it is not ovn-vpcd's anchor"));
    }
    if let Some(c) = controller_of(object) {
        let s = |k: &str| c.get(k).and_then(Json::as_str).unwrap_or("");
        return Some(format!(
            "it has a controller, {} {}/{}: an anchor has none",
            s("apiVersion"),
            s("kind"),
            s("name")
        ));
    }
    None
}

/// The desired set as the diff takes it: each namespace's anchor (first)
/// where desired objects are owned by it, and those objects with the
/// anchor's reference as `observed` shows it ([`Owner::Anchored`]) when it
/// is there and ours; otherwise they stay [`Owner::Anchor`] and the diff
/// lets them wait.
pub fn resolve(desired: &[DesiredObject], observed: &BTreeMap<ObjectId, Json>) -> Vec<DesiredObject> {
    let namespaces: BTreeSet<&str> =
        desired.iter().filter(|d| d.owner == Owner::Anchor).map(|d| d.id.namespace.as_str()).collect();
    let mut out: Vec<DesiredObject> = namespaces.iter().map(|ns| anchor(ns)).collect();
    let reference = |ns: &str| {
        let o = observed.get(&anchor_id(ns))?;
        if !super::kind::has_managed_by(o) || anchor_foreign_reason(o).is_some() || being_deleted(o) {
            return None;
        }
        let uid = o.pointer("/metadata/uid").and_then(Json::as_str).filter(|u| !u.is_empty())?;
        let (api_version, kind) = (ObjectKind::ConfigMap.api_version(), ObjectKind::ConfigMap.kind());
        Some(OwnerRef {
            api_version: api_version.into(),
            kind: kind.into(),
            name: ANCHOR_NAME.into(),
            uid: uid.into(),
            namespace: Some(ns.to_string()),
        })
    };
    let refs: BTreeMap<&str, Option<OwnerRef>> = namespaces.iter().map(|ns| (*ns, reference(ns))).collect();
    for d in desired {
        let mut d = d.clone();
        if d.owner == Owner::Anchor {
            if let Some(Some(r)) = refs.get(d.id.namespace.as_str()) {
                d.owner = Owner::Anchored(r.clone());
            }
        }
        out.push(d);
    }
    out
}

fn being_deleted(o: &Json) -> bool {
    o.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

#[cfg(test)]
#[path = "anchor_tests.rs"]
mod tests;
