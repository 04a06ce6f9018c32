//! Desired objects vs. what the watches show → [`Action`]s. Pure: no I/O,
//! no clock.
//!
//! Ownership: an observed object is ours when it carries
//! `app.kubernetes.io/managed-by: ovn-vpcd` *and* its controller owner
//! reference names one of the owner kinds the reconciler renders from or
//! the anchor (`anchor.rs`: the one owner of what the TOML renders, itself
//! ours with the label, its annotation and no controller). The
//! label alone is not enough (a label is easily copied: by a user, by a
//! chart, by a controller stamping a template's labels on what it makes),
//! and an owner reference alone is not either (someone else's controller
//! may point at our resources too). Anything else is foreign: never
//! patched, never deleted, and a desired object of the same identity is
//! refused, naming why. An owned object whose owner reference names an
//! owner of the right kind but another uid (the owner was deleted and made
//! again) is ours, and its reference is corrected.
//!
//! Owned fields: only what a [`DesiredObject`] renders is compared, and
//! "the same" means the observed value *contains* the rendered one: maps
//! may hold more keys (defaults the API server adds, a user's extra labels
//! or data keys), lists must have the rendered length with each element
//! containing the rendered one, scalars are equal, and a rendered `null`
//! means "absent". A difference is restored by a merge patch of exactly the
//! differing owned fields (a list is replaced whole, as merge patches do)
//! carrying the object's `resourceVersion`, so a concurrent write makes it
//! a 409 instead of being overwritten. Status is never rendered, so the
//! controllers' own writes are never fought.
//!
//! Left alone: observed objects carrying one of [`Desired::left_alone`]'s
//! labels (those of an owner refused this pass whose last rendering this
//! process does not know, e.g. just after a restart) are neither patched
//! nor deleted, and neither is the anchor owning one of them: a refusal
//! never deletes what was running.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value as Json};

use super::anchor::{anchor_foreign_reason, is_anchor_id, names_anchor, ANCHOR_ABOUT, ANCHOR_ANNOTATION};
use super::kind::{controller_of, has_managed_by, ObjectId, Owner, OwnerKind, MANAGED_BY, MANAGED_BY_KEY};

/// What the reconciler is handed: the objects as rendered, and the labels
/// (key, value) of observed objects to leave as they are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    pub objects: Vec<DesiredObject>,
    pub left_alone: BTreeSet<(String, String)>,
}

/// Whether `o` carries one of `labels`.
fn labelled(o: &Json, labels: &BTreeSet<(String, String)>) -> bool {
    let Some(ls) = o.pointer("/metadata/labels").and_then(Json::as_object) else { return false };
    ls.iter().any(|(k, v)| v.as_str().is_some_and(|v| labels.contains(&(k.clone(), v.to_string()))))
}

/// An object as rendered from its owner's spec.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredObject {
    pub id: ObjectId,
    pub owner: Owner,
    /// Labels we own (`app.kubernetes.io/managed-by` is always added).
    pub labels: BTreeMap<String, String>,
    /// The top-level fields we own besides metadata, e.g. `{"data": {..}}`
    /// or `{"spec": {..}}`. Never `status`, `metadata`, `apiVersion`, `kind`.
    pub fields: Json,
}

impl DesiredObject {
    /// Our labels, with `app.kubernetes.io/managed-by: ovn-vpcd`.
    pub fn all_labels(&self) -> BTreeMap<String, String> {
        let mut l = self.labels.clone();
        l.insert(MANAGED_BY_KEY.into(), MANAGED_BY.into());
        l
    }

    /// The whole object, for a create.
    pub fn body(&self) -> Json {
        let mut md = json!({"name": self.id.name, "labels": self.all_labels()});
        match &self.owner {
            Owner::Resource(r) | Owner::Anchored(r) => md["ownerReferences"] = json!([r.to_json()]),
            Owner::None => md["annotations"] = json!({ANCHOR_ANNOTATION: ANCHOR_ABOUT}),
            Owner::Anchor => {}
        }
        if self.id.kind.namespaced() {
            md["namespace"] = json!(self.id.namespace);
        }
        let mut o = json!({"apiVersion": self.id.kind.api_version(), "kind": self.id.kind.kind(), "metadata": md});
        if let (Some(to), Some(from)) = (o.as_object_mut(), without_nulls(&self.fields).as_object()) {
            for (k, v) in from {
                to.insert(k.clone(), v.clone());
            }
        }
        o
    }

    /// Why this object cannot be rendered as it is, if it cannot.
    fn problem(&self, owners: &[OwnerKind]) -> Option<String> {
        let id = &self.id;
        if id.kind.namespaced() == id.namespace.is_empty() {
            return Some(match id.kind.namespaced() {
                true => format!("{} is namespaced: a namespace is needed", id.kind),
                false => format!("{} is cluster-scoped: no namespace may be given", id.kind),
            });
        }
        let reference = self.owner.reference();
        if let Some((r, ns)) =
            reference.and_then(|r| Some((r, r.namespace.as_deref()?))).filter(|(_, ns)| *ns != id.namespace)
        {
            return Some(format!(
                "its owner {r} is in namespace {ns}: an owner reference cannot cross namespaces (the garbage \
                 collector would delete the object)"
            ));
        }
        match &self.owner {
            Owner::Resource(r) if !owners.contains(&r.owner_kind()) => {
                return Some(format!("its owner's kind {} is not one the reconciler renders from", r.kind));
            }
            Owner::Anchored(r) if !names_anchor(&r.to_json()) => {
                return Some(format!("its owner {r} is not an anchor"));
            }
            Owner::None if !is_anchor_id(id) => {
                return Some("it has no owner, and only the anchor may have none".into())
            }
            Owner::Resource(_) | Owner::Anchored(_) | Owner::None | Owner::Anchor => {}
        }
        let Some(fields) = self.fields.as_object() else {
            return Some("its fields are not a JSON object".into());
        };
        let reserved: Vec<&str> =
            ["apiVersion", "kind", "metadata", "status"].into_iter().filter(|k| fields.contains_key(*k)).collect();
        if !reserved.is_empty() {
            return Some(format!("it renders {}, which are not owned fields", reserved.join(", ")));
        }
        None
    }
}

/// What to do about one object.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create it (`body` is the whole object).
    Create { id: ObjectId, body: Json },
    /// Merge-patch exactly the owned fields that differ; the patch carries
    /// `metadata.resourceVersion` (a precondition).
    Patch { id: ObjectId, patch: Json },
    /// Delete an owned object no longer desired, on condition that it is
    /// still the object (uid) as read (resourceVersion).
    Delete { id: ObjectId, uid: String, resource_version: String },
    /// Leave it: the desired object cannot be realised (why).
    Refuse { id: ObjectId, reason: String },
    /// Nothing to send yet (why): the object is being deleted.
    Wait { id: ObjectId, reason: String },
}

impl Action {
    pub fn id(&self) -> &ObjectId {
        match self {
            Action::Create { id, .. }
            | Action::Patch { id, .. }
            | Action::Delete { id, .. }
            | Action::Refuse { id, .. }
            | Action::Wait { id, .. } => id,
        }
    }
}

/// Why `object`, at `id`, is not ours, or `None` if it is (see the module's doc).
pub fn foreign_reason(owners: &[OwnerKind], id: &ObjectId, object: &Json) -> Option<String> {
    if !has_managed_by(object) {
        return Some(format!("it exists and is not labelled {MANAGED_BY_KEY}={MANAGED_BY}"));
    }
    if is_anchor_id(id) {
        return anchor_foreign_reason(object);
    }
    let Some(c) = controller_of(object) else {
        return Some(format!("it is labelled {MANAGED_BY_KEY}={MANAGED_BY} but has no controller owner reference"));
    };
    let s = |k: &str| c.get(k).and_then(Json::as_str).unwrap_or("");
    if owners.iter().any(|o| o.names(s("apiVersion"), s("kind"))) || names_anchor(c) {
        return None;
    }
    Some(format!(
        "it is labelled {MANAGED_BY_KEY}={MANAGED_BY} but its controller is {} {}/{}, not a resource ovn-vpcd \
         renders from",
        s("apiVersion"),
        s("kind"),
        s("name")
    ))
}

fn being_deleted(o: &Json) -> bool {
    o.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

fn meta_str<'a>(o: &'a Json, key: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(key)).and_then(Json::as_str).unwrap_or("")
}

/// Every action that brings `observed` to `desired`. Desired objects come
/// first, in their order, then the deletions by identity. A second desired
/// object with the identity of an earlier one is refused. Objects carrying
/// a label of `left_alone`, and the anchors owning them, are not deleted.
pub fn diff(
    owners: &[OwnerKind],
    desired: &[DesiredObject],
    observed: &BTreeMap<ObjectId, Json>,
    left_alone: &BTreeSet<(String, String)>,
) -> Vec<Action> {
    let mut actions = vec![];
    let mut seen: BTreeMap<&ObjectId, &Owner> = BTreeMap::new();
    for d in desired {
        let id = d.id.clone();
        if let Some(first) = seen.get(&d.id) {
            let reason = format!("{} is also rendered for {first}, which came first", d.id);
            actions.push(Action::Refuse { id, reason });
            continue;
        }
        seen.insert(&d.id, &d.owner);
        if let Some(reason) = d.problem(owners) {
            actions.push(Action::Refuse { id, reason });
            continue;
        }
        if d.owner == Owner::Anchor {
            let a = super::anchor::anchor_id(&d.id.namespace);
            let reason = format!("its owner, the anchor {a}, is not there yet or not ovn-vpcd's (see its outcome)");
            actions.push(Action::Wait { id, reason });
            continue;
        }
        let Some(o) = observed.get(&d.id) else {
            actions.push(Action::Create { id, body: d.body() });
            continue;
        };
        if let Some(reason) = foreign_reason(owners, &d.id, o) {
            actions.push(Action::Refuse { id, reason });
        } else if being_deleted(o) {
            actions.push(Action::Wait { id, reason: "it is being deleted; it is made again once gone".into() });
        } else if let Some(patch) = owned_patch(d, o) {
            actions.push(Action::Patch { id, patch });
        }
    }
    let desired_ids: BTreeSet<&ObjectId> = seen.into_keys().collect();
    let anchored = |o: &Json| {
        o.pointer("/metadata/ownerReferences").and_then(Json::as_array).is_some_and(|rs| rs.iter().any(names_anchor))
    };
    let kept_anchors: BTreeSet<&str> = observed
        .iter()
        .filter(|(_, o)| labelled(o, left_alone) && anchored(o))
        .map(|(id, _)| id.namespace.as_str())
        .collect();
    for (id, o) in observed {
        if desired_ids.contains(id) || being_deleted(o) || foreign_reason(owners, id, o).is_some() {
            continue;
        }
        if labelled(o, left_alone) || (is_anchor_id(id) && kept_anchors.contains(id.namespace.as_str())) {
            continue;
        }
        let (uid, resource_version) = (meta_str(o, "uid").to_string(), meta_str(o, "resourceVersion").to_string());
        actions.push(Action::Delete { id: id.clone(), uid, resource_version });
    }
    actions
}

/// The merge patch restoring `d`'s owned fields on `o` (ours), or `None`
/// when `o` already shows them all.
pub fn owned_patch(d: &DesiredObject, o: &Json) -> Option<Json> {
    let mut patch = field_patch(Some(o), &d.fields).unwrap_or_else(|| json!({}));
    let mut md = Map::new();
    let labels = o.pointer("/metadata/labels");
    let mut label_patch = Map::new();
    for (k, v) in d.all_labels() {
        if labels.and_then(|l| l.get(&k)).and_then(Json::as_str) != Some(v.as_str()) {
            label_patch.insert(k, Json::String(v));
        }
    }
    if !label_patch.is_empty() {
        md.insert("labels".into(), Json::Object(label_patch));
    }
    let refs = o.pointer("/metadata/ownerReferences").and_then(Json::as_array).cloned().unwrap_or_default();
    let owner = d.owner.reference();
    let controlled = |owner: &super::kind::OwnerRef| {
        refs.iter().any(|r| owner.is(r) && r.get("controller").and_then(Json::as_bool) == Some(true))
    };
    if let Some(owner) = owner.filter(|o| !controlled(o)) {
        // A list is replaced whole: keep the references that are not a
        // controller's (ours is the controller; the old one is stale).
        let mut kept: Vec<Json> =
            refs.into_iter().filter(|r| r.get("controller").and_then(Json::as_bool) != Some(true)).collect();
        kept.push(owner.to_json());
        md.insert("ownerReferences".into(), Json::Array(kept));
    }
    if md.is_empty() && patch.as_object().is_some_and(Map::is_empty) {
        return None;
    }
    md.insert("resourceVersion".into(), json!(meta_str(o, "resourceVersion")));
    patch["metadata"] = Json::Object(md);
    Some(patch)
}

/// Whether `observed` contains `desired` (see the module's doc).
pub fn contains(observed: &Json, desired: &Json) -> bool {
    match (observed, desired) {
        (Json::Object(o), Json::Object(d)) => d.iter().all(|(k, dv)| match o.get(k) {
            None => dv.is_null(),
            Some(ov) => contains(ov, dv),
        }),
        (Json::Array(o), Json::Array(d)) => o.len() == d.len() && o.iter().zip(d).all(|(ov, dv)| contains(ov, dv)),
        (o, d) => o == d,
    }
}

/// The merge patch that makes `observed` contain `desired`, or `None`.
fn field_patch(observed: Option<&Json>, desired: &Json) -> Option<Json> {
    match (observed, desired) {
        (Some(Json::Object(o)), Json::Object(d)) => {
            let mut p = Map::new();
            for (k, dv) in d {
                if dv.is_null() {
                    if o.get(k).is_some_and(|v| !v.is_null()) {
                        p.insert(k.clone(), Json::Null);
                    }
                } else if let Some(sub) = field_patch(o.get(k), dv) {
                    p.insert(k.clone(), sub);
                }
            }
            (!p.is_empty()).then_some(Json::Object(p))
        }
        (Some(o), d) if contains(o, d) => None,
        (_, d) => Some(without_nulls(d)),
    }
}

/// `v` with every `null` map entry left out (a rendered `null` is "absent").
fn without_nulls(v: &Json) -> Json {
    match v {
        Json::Object(m) => {
            Json::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect())
        }
        Json::Array(a) => Json::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}
