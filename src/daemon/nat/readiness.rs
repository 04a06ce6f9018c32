//! Whether a gateway, its EIPs and its rules are applied, from what its
//! agent reports on its pod (`rules::APPLIED_ANNOTATION`,
//! `rules::APPLY_ERROR_ANNOTATION`) against what this daemon rendered, and
//! from the object reconciler's outcomes. Pure: the reporter calls
//! [`refine`] on each round's verdicts with the store and outcomes of that
//! round, so a report of the agent is shown without waiting for a pass.
//!
//! - A gateway is `Ready` only when its pod reports the digest of the set
//!   rendered now; an EIP or a rule when it is in the set whose digest the
//!   pod reports.
//! - The daemon remembers the sets it rendered in this process (digest →
//!   names, a few per gateway, [`GatewayView::known`]). A digest it never
//!   rendered (reported to a daemon restarted meanwhile) says nothing about
//!   the rules: an EIP or rule whose status says `ready` is left as it is
//!   rather than flapped to not ready and back; the gateway is not ready
//!   (it does not run what is rendered now).
//! - A workload object refused by the reconciler (a foreign StatefulSet of
//!   our name) makes the gateway `WorkloadRefused` (one Warning Event); the
//!   settings being off or incomplete are said on the gateway and its EIPs
//!   and rules.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::kinds::vpc_nat_gateway::status::OLD_FORM;
use crate::kinds::vpc_nat_gateway::workload::Names;
use crate::kube::objects::{ObjectId, Outcome as ObjectOutcome, Outcomes};
use crate::kube::resources::{Store, Verdict};
use crate::kube::status::{Outcome, StatusFields};
use crate::model::object::Kind;
use crate::model::validate::Model;
use crate::rules::nat::NatRuleSet;
use crate::rules::{APPLIED_ANNOTATION, APPLIED_NONE, APPLY_ERROR_ANNOTATION};

/// The names of a rendered set's EIPs and rules, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleNames {
    pub eips: BTreeSet<String>,
    pub fips: BTreeSet<String>,
    pub dnats: BTreeSet<String>,
    pub snats: BTreeSet<String>,
}

impl RuleNames {
    pub fn of(set: &NatRuleSet) -> RuleNames {
        RuleNames {
            eips: set.eips.iter().map(|e| e.name.clone()).collect(),
            fips: set.fips.iter().map(|e| e.name.clone()).collect(),
            dnats: set.dnats.iter().map(|e| e.name.clone()).collect(),
            snats: set.snats.iter().map(|e| e.name.clone()).collect(),
        }
    }

    fn has(&self, kind: Kind, name: &str) -> bool {
        let set = match kind {
            Kind::IptablesEip => &self.eips,
            Kind::IptablesFipRule => &self.fips,
            Kind::IptablesDnatRule => &self.dnats,
            Kind::IptablesSnatRule => &self.snats,
            Kind::Vpc | Kind::Subnet | Kind::Pod | Kind::VpcNatGateway => return false,
        };
        set.contains(name)
    }
}

/// What the reporter needs to judge one gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayView {
    pub names: Names,
    /// The workload objects desired, or why there is none.
    pub workload: Result<Vec<ObjectId>, String>,
    /// The digest of the set rendered now.
    pub digest: String,
    /// Sets rendered by this process, by digest (the current one included).
    pub known: BTreeMap<String, RuleNames>,
    /// The spec uses the old inline form.
    pub inline: bool,
    /// Written in the TOML (no status: where it stands is logged).
    pub toml: bool,
}

/// Every accepted gateway's view, by name.
pub type NatView = BTreeMap<String, GatewayView>;

/// Where a gateway stands.
enum State {
    /// No workload (why), or a workload object refused (why).
    None(String),
    Refused(String),
    Writing(String),
    /// The pod and what its agent reports (`None`: nothing yet).
    Running {
        pod: String,
        applied: Option<String>,
        error: Option<String>,
    },
}

fn annotation(pod: &Json, key: &str) -> Option<String> {
    pod.pointer("/metadata/annotations")?.get(key)?.as_str().map(str::to_string)
}

fn state(view: &GatewayView, store: &Store, outcomes: &Outcomes) -> State {
    let ids = match &view.workload {
        Err(why) => return State::None(why.clone()),
        Ok(ids) => ids,
    };
    for id in ids {
        match outcomes.get(id) {
            Some(ObjectOutcome::Refused(why)) => return State::Refused(format!("{id}: {why}")),
            Some(ObjectOutcome::Applied) => {}
            Some(ObjectOutcome::Pending(why)) => return State::Writing(format!("{id} is not written yet: {why}")),
            Some(ObjectOutcome::Conflict) | None => return State::Writing(format!("{id} is being written")),
        }
    }
    let pod = format!("{}/{}", view.names.namespace, view.names.pod);
    match store.pods.get(&pod) {
        None => State::Writing(format!("pod {pod} does not exist yet")),
        Some(p) => State::Running {
            applied: annotation(p, APPLIED_ANNOTATION).filter(|a| a != APPLIED_NONE),
            error: annotation(p, APPLY_ERROR_ANNOTATION),
            pod,
        },
    }
}

/// The gateway an EIP or rule of `model` belongs to.
fn gateway_of<'a>(model: &'a Model, kind: Kind, name: &str) -> Option<&'a str> {
    let eip = match kind {
        Kind::VpcNatGateway => return Some(model.nat_gateways.get(name)?.name.as_str()),
        Kind::IptablesEip => name,
        Kind::IptablesFipRule => model.fip_rules.get(name)?.eip.as_str(),
        Kind::IptablesDnatRule => model.dnat_rules.get(name)?.eip.as_str(),
        Kind::IptablesSnatRule => model.snat_rules.get(name)?.eip.as_str(),
        Kind::Vpc | Kind::Subnet | Kind::Pod => return None,
    };
    Some(model.eips.get(eip)?.gateway.as_str())
}

fn set_ready(fields: &mut StatusFields, ready: bool) {
    match fields {
        StatusFields::Eip(e) => e.ready = ready,
        StatusFields::Rule(r) => r.ready = ready,
        StatusFields::None | StatusFields::Vpc(_) | StatusFields::Subnet(_) | StatusFields::NatGateway(_) => {}
    }
}

/// Whether the status of `object` (as stored) says `ready: true`.
fn shows_ready(store: &Store, kind: Kind, name: &str) -> bool {
    store.of_kind(kind).get(name).and_then(|o| o.pointer("/status/ready")).and_then(Json::as_bool) == Some(true)
}

/// A gateway's outcome: applied only when its pod reports the digest
/// rendered now.
fn gateway_outcome(g: &GatewayView, st: &State) -> Outcome {
    let old_form = |m: String| if g.inline { format!("{m}; {OLD_FORM}") } else { m };
    match st {
        State::None(why) => Outcome::NotApplied { message: old_form(why.clone()) },
        State::Refused(why) => Outcome::WorkloadRefused { message: why.clone() },
        State::Writing(why) => Outcome::NotApplied { message: old_form(why.clone()) },
        State::Running { pod, error: Some(e), .. } => Outcome::NotApplied {
            message: old_form(format!("the gateway agent in pod {pod} reports a failed apply: {e}")),
        },
        State::Running { pod, applied: Some(a), error: None } if *a == g.digest => {
            Outcome::Applied { message: old_form(format!("the gateway agent in pod {pod} applied rule set {a}")) }
        }
        State::Running { pod, applied, error: None } => Outcome::NotApplied {
            message: old_form(format!(
                "the gateway agent in pod {pod} has applied {}, not rule set {} yet",
                applied.as_deref().map_or("nothing".to_string(), |a| format!("rule set {a}")),
                g.digest
            )),
        },
    }
}

/// The gateways written in the TOML, which have no status to say where
/// they stand: (applied, what their status would say), by name, for the
/// log.
pub fn toml_gateways(view: &NatView, store: &Store, outcomes: &Outcomes) -> BTreeMap<String, (bool, String)> {
    let said = |o: Outcome| match o {
        Outcome::Applied { message } => (true, message),
        Outcome::NotApplied { message } | Outcome::WorkloadRefused { message } => (false, message),
        other => (false, format!("{other:?}")),
    };
    view.iter()
        .filter(|(_, g)| g.toml)
        .map(|(name, g)| (name.clone(), said(gateway_outcome(g, &state(g, store, outcomes)))))
        .collect()
}

/// Rewrites the NAT kinds' `NotApplied` verdicts (accepted, nothing known
/// applied) by what the workload and the agent show; drops the verdict of
/// an EIP or rule that is to be left as it is.
pub fn refine(verdicts: &mut Vec<Verdict>, view: &NatView, model: &Model, store: &Store, outcomes: &Outcomes) {
    let states: BTreeMap<&str, State> =
        view.iter().map(|(name, v)| (name.as_str(), state(v, store, outcomes))).collect();
    verdicts.retain_mut(|v| {
        if !matches!(v.outcome, Outcome::NotApplied { .. }) {
            return true;
        }
        let (kind, name) = (v.object.kind, v.object.name.as_str());
        let Some(gw) = gateway_of(model, kind, name) else { return true };
        let (Some(g), Some(st)) = (view.get(gw), states.get(gw)) else { return true };
        if kind == Kind::VpcNatGateway {
            v.outcome = gateway_outcome(g, st);
            return true;
        }
        let why = match st {
            State::None(why) | State::Writing(why) => format!("VpcNatGateway {gw}: {why}"),
            State::Refused(why) => format!("VpcNatGateway {gw}'s workload is refused: {why}"),
            State::Running { pod, applied: None, .. } => {
                format!("the gateway agent of VpcNatGateway {gw} (pod {pod}) has applied nothing yet")
            }
            State::Running { pod, applied: Some(a), .. } => match g.known.get(a) {
                Some(names) if names.has(kind, name) => {
                    set_ready(&mut v.fields, true);
                    v.outcome = Outcome::Applied {
                        message: format!(
                            "applied by the gateway agent of VpcNatGateway {gw} (pod {pod}, rule set {a})"
                        ),
                    };
                    return true;
                }
                Some(_) => format!("not in rule set {a}, which the gateway agent of VpcNatGateway {gw} applied"),
                // Rendered by an earlier process: nothing known; a ready status stays.
                None if shows_ready(store, kind, name) => return false,
                None => format!(
                    "the gateway agent of VpcNatGateway {gw} reports rule set {a}, which this daemon process did \
                     not render; waiting for it to apply {}",
                    g.digest
                ),
            },
        };
        v.outcome = Outcome::NotApplied { message: why };
        true
    });
}

#[cfg(test)]
#[path = "readiness_tests.rs"]
mod tests;
