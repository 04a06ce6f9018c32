//! The `status` of Vpc and Subnet objects: what the daemon made of each one.
//!
//! Pure part: [`status_patch`] turns an object as read from the API, the
//! daemon's [`Outcome`] for it and the kind's extra [`StatusFields`] into a
//! JSON merge patch for its `/status` subresource, or `None` when the status
//! already says exactly that (so an unchanged object costs no write and no
//! new resourceVersion). Conditions `Validated` and `Ready` carry status,
//! reason, message and `observedGeneration`; `lastTransitionTime` moves only
//! when a condition's status flips, `lastUpdateTime` when anything in it
//! changes; conditions of other types are kept. [`usage`] computes a
//! Subnet's address counts with Kube-OVN's arithmetic. Times are RFC 3339
//! strings passed in by the caller (no clock here).
//!
//! I/O part: [`write_status`] sends a patch; [`report`] does a whole object:
//! patch, write, and a Warning Event (see `events.rs`) for a rejection or an
//! NB refusal. Duplicate Events are avoided by construction: an Event is
//! posted only after a status write that changed the verdict (the status,
//! reason or message of `Validated`/`Ready`). The same rejection seen again,
//! on the next pass or by the next leader, finds its verdict already in the
//! status and posts nothing. Events are at most once: if posting fails after
//! the write, that Event is lost (as with any Kubernetes event recorder).
//!
//! Concurrency: a merge patch replaces the whole `conditions` list, so the
//! patch carries the object's `metadata.resourceVersion` as a precondition.
//! If someone changed the object since it was read, the write fails with 409
//! Conflict and the caller re-reads and recomputes instead of erasing a
//! condition it never saw.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value as Json};

use super::client::{KubeClient, KubeError};
use super::events;
use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::{Effect, Notice, Rejection};

/// Condition reasons (CamelCase, as the CRD's `reason` pattern requires).
pub const REASON_VALIDATED: &str = "Validated";
pub const REASON_VALIDATION_FAILED: &str = "ValidationFailed";
pub const REASON_RECONCILED: &str = "Reconciled";
pub const REASON_RECONCILING: &str = "Reconciling";
pub const REASON_NB_REFUSED: &str = "NorthboundRefused";
pub const REASON_WAITING: &str = "WaitingForDependency";
pub const REASON_REALISED: &str = "Realised";
pub const REASON_NOT_REALISED: &str = "FieldsNotRealised";
/// Valid, and nothing applies it yet (the NAT gateway kinds before their agent).
pub const REASON_NOT_APPLIED: &str = "NotApplied";
/// The message of [`REASON_NOT_APPLIED`].
pub const NO_AGENT: &str = "no gateway agent yet";
/// Applied by a gateway agent (a NAT gateway, its EIPs and rules).
pub const REASON_APPLIED: &str = "Applied";
/// A gateway's workload object cannot be written (a foreign object of its name).
pub const REASON_WORKLOAD_REFUSED: &str = "WorkloadRefused";

/// The CRDs' `maxLength` of a condition message.
const MAX_MESSAGE: usize = 32768;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error("{0} object without metadata.namespace")]
    NoNamespace(String),
    #[error("{0} object without metadata.name")]
    NoName(String),
}

impl StatusError {
    /// The HTTP status of an API error (409: re-read the object and retry).
    pub fn code(&self) -> u16 {
        match self {
            StatusError::Kube(e) => e.code(),
            _ => 0,
        }
    }
}

/// What the daemon made of one object this pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Valid and realised in the northbound database.
    Ready,
    /// Valid and realised in the northbound database, except for the fields
    /// named (each accepted but not realised, or of no effect here): the
    /// `Realised` condition names them, and `Ready` claims only the rest.
    ReadyExcept(Vec<Notice>),
    /// Valid; the northbound database does not show it yet.
    Pending,
    /// Refused by validation: `Validated=False`, `Ready=False`.
    Rejected(Rejection),
    /// Valid, but the northbound database refused its rows (the text is the
    /// NB's error): `Validated=True`, `Ready=False`.
    Refused { message: String },
    /// The spec is fine but names an object that is missing or refused
    /// ([`Rejection::waiting`]): `Validated=True`, `Ready=False`, no Event.
    Waiting { message: String },
    /// Valid, but nothing applies it yet (a NAT gateway kind, whose agent
    /// is to come): `Validated=True`, `Ready=False` ([`REASON_NOT_APPLIED`]),
    /// no Event. `message` follows [`NO_AGENT`].
    NotApplied { message: String },
    /// Valid and applied by its gateway agent (the message says which set):
    /// `Validated=True`, `Ready=True` ([`REASON_APPLIED`]).
    Applied { message: String },
    /// Valid, but its workload cannot be written (the reconciler's reason):
    /// `Validated=True`, `Ready=False` ([`REASON_WORKLOAD_REFUSED`]), one
    /// Warning Event.
    WorkloadRefused { message: String },
}

impl Outcome {
    /// A rejection from `reconcile`: NB refusals (field
    /// [`crate::reconcile::NB_REFUSAL_FIELD`]) are `Refused`, those waiting
    /// for another object `Waiting`, the rest `Rejected`.
    pub fn from_rejection(r: Rejection) -> Outcome {
        if r.field == crate::reconcile::NB_REFUSAL_FIELD {
            Outcome::Refused { message: r.reason }
        } else if r.waiting {
            Outcome::Waiting { message: rejection_message(&r) }
        } else {
            Outcome::Rejected(r)
        }
    }

    /// `(type, status, reason, message)` of `Validated`, `Ready` and, for a
    /// realised object, `Realised`.
    fn conditions(&self) -> Vec<(&'static str, &'static str, &'static str, String)> {
        let valid = ("Validated", "True", REASON_VALIDATED, "the spec is valid".to_string());
        const REALISED: &str = "realised in the OVN northbound database";
        let all = ("Realised", "True", REASON_REALISED, "every field is realised".to_string());
        match self {
            Outcome::Ready => vec![valid, ("Ready", "True", REASON_RECONCILED, REALISED.into()), all],
            Outcome::ReadyExcept(notices) => {
                let of = |e: Effect| notices.iter().filter(move |n| n.effect == e);
                let list = |e: Effect| of(e).map(|n| format!("{}: {}", n.field, n.what)).collect::<Vec<_>>().join("; ");
                let missing: Vec<&str> = of(Effect::NotRealised).map(|n| n.field.as_str()).collect();
                let no_effect = list(Effect::NoEffect);
                let (ready, realised) = if missing.is_empty() {
                    let m = format!("every field with an effect here is realised; no effect: {no_effect}");
                    (REALISED.to_string(), ("Realised", "True", REASON_REALISED, m))
                } else {
                    let mut m = format!("not realised: {}", list(Effect::NotRealised));
                    if !no_effect.is_empty() {
                        m += &format!("; no effect: {no_effect}");
                    }
                    let ready = format!("{REALISED}, except {} (see condition Realised)", missing.join(", "));
                    (ready, ("Realised", "False", REASON_NOT_REALISED, m))
                };
                let realised = (realised.0, realised.1, realised.2, truncate(&realised.3, MAX_MESSAGE));
                vec![valid, ("Ready", "True", REASON_RECONCILED, truncate(&ready, MAX_MESSAGE)), realised]
            }
            Outcome::Pending => vec![
                valid,
                ("Ready", "Unknown", REASON_RECONCILING, "waiting for the OVN northbound database to show it".into()),
            ],
            Outcome::Rejected(r) => {
                let m = rejection_message(r);
                vec![
                    ("Validated", "False", REASON_VALIDATION_FAILED, m.clone()),
                    ("Ready", "False", REASON_VALIDATION_FAILED, m),
                ]
            }
            Outcome::Refused { message } => {
                vec![valid, ("Ready", "False", REASON_NB_REFUSED, truncate(message, MAX_MESSAGE))]
            }
            Outcome::Waiting { message } => {
                vec![valid, ("Ready", "False", REASON_WAITING, truncate(message, MAX_MESSAGE))]
            }
            Outcome::NotApplied { message } => {
                vec![valid, ("Ready", "False", REASON_NOT_APPLIED, truncate(message, MAX_MESSAGE))]
            }
            Outcome::Applied { message } => {
                vec![valid, ("Ready", "True", REASON_APPLIED, truncate(message, MAX_MESSAGE))]
            }
            Outcome::WorkloadRefused { message } => {
                vec![valid, ("Ready", "False", REASON_WORKLOAD_REFUSED, truncate(message, MAX_MESSAGE))]
            }
        }
    }

    /// `(reason, message)` of the Warning Event this outcome deserves, if any.
    pub fn warning(&self) -> Option<(&'static str, String)> {
        match self {
            Outcome::Rejected(r) => Some((REASON_VALIDATION_FAILED, rejection_message(r))),
            Outcome::Refused { message } => Some((REASON_NB_REFUSED, truncate(message, MAX_MESSAGE))),
            Outcome::WorkloadRefused { message } => Some((REASON_WORKLOAD_REFUSED, truncate(message, MAX_MESSAGE))),
            // Often an ordering artefact (`kubectl apply` of a VPC before its
            // subnets): the status says so, without a Warning.
            Outcome::Ready
            | Outcome::ReadyExcept(_)
            | Outcome::Pending
            | Outcome::Waiting { .. }
            | Outcome::NotApplied { .. }
            | Outcome::Applied { .. } => None,
        }
    }
}

/// The text of a rejection in a condition or an Event: "field: reason".
pub fn rejection_message(r: &Rejection) -> String {
    truncate(&format!("{}: {}", r.field, r.reason), MAX_MESSAGE)
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

pub use crate::kinds::iptables_eip::status::EipFields;
pub use crate::kinds::iptables_fip_rule::status::RuleFields;
pub use crate::kinds::subnet::status::{usage, SubnetUsage};
pub use crate::kinds::vpc::status::VpcFields;
pub use crate::kinds::vpc_nat_gateway::status::NatGatewayFields;

/// Kind-specific status fields written besides the conditions, each
/// rendered in its kind's home (`kinds::<kind>::status`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StatusFields {
    /// Conditions only (e.g. a rejected object: its other fields stay as they are).
    #[default]
    None,
    Vpc(VpcFields),
    Subnet(SubnetUsage),
    NatGateway(NatGatewayFields),
    Eip(EipFields),
    /// A FIP, DNAT or SNAT rule.
    Rule(RuleFields),
}

impl StatusFields {
    fn insert_into(&self, out: &mut Map<String, Json>) {
        match self {
            StatusFields::None => {}
            StatusFields::Vpc(v) => v.insert_into(out),
            StatusFields::Subnet(u) => u.insert_into(out),
            StatusFields::NatGateway(g) => g.insert_into(out),
            StatusFields::Eip(e) => e.insert_into(out),
            StatusFields::Rule(r) => r.insert_into(out),
        }
    }
}

/// JSON equality with numbers compared by value (`253` equals `253.0`: the
/// API server may hand back a float we wrote as an integer, or the reverse).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn text<'a>(c: &'a Json, key: &str) -> Option<&'a str> {
    c.get(key).and_then(Json::as_str)
}

/// One of our conditions, given the object's current one of that type.
fn condition(
    old: Option<&Json>,
    (kind, status, reason, message): &(&'static str, &'static str, &'static str, String),
    generation: Option<i64>,
    now: &str,
) -> Json {
    let same_status = old.is_some_and(|c| text(c, "status") == Some(status));
    let kept_transition = old.and_then(|c| text(c, "lastTransitionTime")).filter(|_| same_status);
    if let Some(c) = old {
        let unchanged = same_status
            && text(c, "reason") == Some(reason)
            && text(c, "message") == Some(message.as_str())
            && c.get("observedGeneration").and_then(Json::as_i64) == generation
            && kept_transition.is_some();
        if unchanged {
            return c.clone();
        }
    }
    let mut c = json!({
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": kept_transition.unwrap_or(now),
    });
    if let Some(g) = generation {
        c["observedGeneration"] = g.into();
    }
    c
}

/// The status fields this daemon owns, as they should be: conditions (ours
/// updated, others kept in place), `observedGeneration`, and `fields`.
pub fn desired_status(current: &Json, outcome: &Outcome, fields: &StatusFields, now: &str) -> Map<String, Json> {
    let generation = current.pointer("/metadata/generation").and_then(Json::as_i64);
    let old: Vec<Json> = current.pointer("/status/conditions").and_then(Json::as_array).cloned().unwrap_or_default();
    let ours = outcome.conditions();
    let mut conditions: Vec<Json> = vec![];
    for c in &old {
        let ty = text(c, "type");
        if conditions.iter().any(|d| text(d, "type") == ty) {
            continue; // a duplicate type: the first one stands for it
        }
        match ours.iter().find(|o| Some(o.0) == ty) {
            Some(o) => conditions.push(condition(Some(c), o, generation, now)),
            // Ours, but this outcome says nothing about it (an object not
            // realised at all has no `Realised`): dropped, not left stale.
            None if ty == Some("Realised") => {}
            None => conditions.push(c.clone()),
        }
    }
    for o in &ours {
        if !conditions.iter().any(|d| text(d, "type") == Some(o.0)) {
            conditions.push(condition(None, o, generation, now));
        }
    }
    let mut out = Map::new();
    out.insert("conditions".into(), conditions.into());
    if let Some(g) = generation {
        out.insert("observedGeneration".into(), g.into());
    }
    fields.insert_into(&mut out);
    out
}

/// The merge patch for the object's `/status`, or `None` when its status
/// already says all of it. The patch carries `metadata.resourceVersion` as a
/// precondition (see the module docs).
pub fn status_patch(current: &Json, outcome: &Outcome, fields: &StatusFields, now: &str) -> Option<Json> {
    status_patch_without(current, outcome, fields, now, &BTreeSet::new())
}

/// [`status_patch`] leaving out the status fields in `pruned`: those the
/// API server dropped from an earlier write (a CRD schema without them, such
/// as Kube-OVN's without `status.observedGeneration`). Without this, every
/// write would look undone and be repeated forever.
pub fn status_patch_without(
    current: &Json,
    outcome: &Outcome,
    fields: &StatusFields,
    now: &str,
    pruned: &BTreeSet<String>,
) -> Option<Json> {
    let mut want = desired_status(current, outcome, fields, now);
    want.retain(|k, _| !pruned.contains(k));
    let have = current.get("status");
    if want.iter().all(|(k, v)| have.and_then(|s| s.get(k)).is_some_and(|h| same(h, v))) {
        return None;
    }
    let mut patch = json!({ "status": want });
    if let Some(rv) = current.pointer("/metadata/resourceVersion").and_then(Json::as_str) {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    Some(patch)
}

/// The status fields of `patch` that `written` (the object the API server
/// returned) does not have: pruned by its schema.
fn pruned_fields(patch: &Json, written: &Json) -> Vec<String> {
    let sent = patch["status"].as_object().into_iter().flatten().map(|(k, _)| k);
    sent.filter(|k| written.pointer(&format!("/status/{k}")).is_none()).cloned().collect()
}

/// Did the verdict (status, reason, message of `Validated` and `Ready`) change?
fn verdict_changed(current: &Json, outcome: &Outcome) -> bool {
    let old = current.pointer("/status/conditions").and_then(Json::as_array);
    outcome.conditions().iter().any(|(kind, status, reason, message)| {
        let c = old.and_then(|cs| cs.iter().find(|c| text(c, "type") == Some(kind)));
        c.is_none_or(|c| {
            text(c, "status") != Some(status)
                || text(c, "reason") != Some(reason)
                || text(c, "message") != Some(message.as_str())
        })
    })
}

/// The REST path of a cluster-scoped kubeovn.io/v1 object whose status this
/// daemon writes.
pub use super::paths::object_path;

/// Merge-patches `object_path` + "/status"; returns the object as stored.
pub async fn write_status(client: &KubeClient, object_path: &str, patch: &Json) -> Result<Json, KubeError> {
    client.merge_patch(&format!("{object_path}/status"), patch).await
}

/// What [`report`] did.
#[derive(Debug, Default)]
pub struct Reported {
    /// The object after the status write; `None` when nothing was written.
    pub written: Option<Json>,
    /// A Warning Event was created (or already existed under its name).
    pub event: bool,
    /// Status fields the API server dropped from the write (see
    /// [`status_patch_without`]).
    pub pruned: Vec<String>,
}

/// Brings one object's status in line with `outcome` and `fields`: writes
/// only when something changed, and posts a Warning Event for a rejection or
/// NB refusal only when that write changed the verdict. `current` is the
/// object as last read; on a 409 the caller re-reads it and calls again.
pub async fn report(
    client: &KubeClient,
    kind: Kind,
    current: &Json,
    outcome: &Outcome,
    fields: &StatusFields,
    now: &str,
) -> Result<Reported, StatusError> {
    report_without(client, kind, current, outcome, fields, now, &BTreeSet::new()).await
}

/// [`report`], leaving out the status fields in `pruned`.
pub async fn report_without(
    client: &KubeClient,
    kind: Kind,
    current: &Json,
    outcome: &Outcome,
    fields: &StatusFields,
    now: &str,
    pruned: &BTreeSet<String>,
) -> Result<Reported, StatusError> {
    let name = current
        .pointer("/metadata/name")
        .and_then(Json::as_str)
        .ok_or_else(|| StatusError::NoName(kind.to_string()))?;
    let namespace = current.pointer("/metadata/namespace").and_then(Json::as_str);
    let object = match (kind.namespaced(), namespace) {
        (true, Some(ns)) => ObjectKey::namespaced(kind, ns, name),
        (true, None) => return Err(StatusError::NoNamespace(kind.to_string())),
        (false, _) => ObjectKey::cluster(kind, name),
    };
    let path = object_path(&object);
    let Some(patch) = status_patch_without(current, outcome, fields, now, pruned) else {
        return Ok(Reported::default());
    };
    let written = write_status(client, &path, &patch).await?;
    let pruned = pruned_fields(&patch, &written);
    let mut event = false;
    if let Some((reason, message)) = outcome.warning().filter(|_| verdict_changed(current, outcome)) {
        let ev = events::warning_event(kind, &written, reason, &message, now);
        events::post_event(client, &ev).await?;
        event = true;
    }
    Ok(Reported { written: Some(written), event, pruned })
}

#[cfg(test)]
mod tests;
