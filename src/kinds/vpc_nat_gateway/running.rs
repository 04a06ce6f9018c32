//! What each gateway runs: the rule sets in the rules ConfigMaps this
//! daemon wrote (`workload.rs`), as the watch shows them. They are the
//! record of what is in force — the agent applies exactly that set — and
//! the previous state the conflict checks (`model::validate::claims`), the
//! hold of refused objects (`daemon::nat::hold`) and the immutability of a
//! running gateway's namespace read. Pure.
//!
//! Invariants: only a ConfigMap that is ovn-vpcd's counts — labelled
//! `app.kubernetes.io/managed-by: ovn-vpcd`, named `<prefix>-<gateway>-rules`,
//! its controller the VpcNatGateway of that name *and uid* (a gateway
//! deleted and made again under its name is another gateway: its
//! predecessor's ConfigMap, still being garbage-collected, says nothing of
//! it) or the anchor (a TOML gateway), its `rules.json` decoding to that
//! gateway's set, not being deleted — and in a namespace the gateway's
//! workload may be in (the daemon's, or the one its spec names, or where its set was chosen, `Store::ran_in`; an
//! anchor-owned one only the daemon's; checked by the caller, `place`).
//! Owner references are free-form, so a tenant allowed to write ConfigMaps
//! in its own namespace could make a lookalike; it neither counts nor hides
//! the real one. In those namespaces tenants cannot write (the gateway's own
//! Role only reads it), unlike a resource's status, which is why what runs
//! is read from here and never from statuses. Of two ConfigMaps for
//! one gateway (a prefix being changed), the first by namespace and name
//! counts.
//!
//! Work per change, not per ConfigMap (a tenant may make as many labelled
//! lookalikes as it likes): each ConfigMap is checked for its identity
//! (label, name, controller) before its set is read, and decoded once, when
//! it changes ([`candidate`]); what each gateway runs is then chosen among
//! the decoded candidates of that gateway alone ([`Candidates::of`],
//! [`chosen`]).
//!
//! A set of an earlier format version is read through that version's
//! reader (`rules::nat::NatRuleSet::from_running_json`): a daemon upgraded
//! while its gateways run what the old one wrote keeps their claims. One it
//! cannot read (a later version: a daemon rolled back) is not taken for
//! "nothing runs": its gateway is refused, so its workload is left as it
//! runs (`Chosen::unreadable`, `model::validate::nat`), and the log says
//! so once per change of the ConfigMap.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value as Json;

use crate::kube::objects::anchor::names_anchor;
use crate::kube::objects::{controller_of, has_managed_by};
use crate::rules::nat::NatRuleSet;
use crate::rules::{RulesError, DATA_KEY};

/// A gateway's running set and where it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    pub namespace: String,
    pub set: NatRuleSet,
}

/// Every gateway's running set, by gateway name.
pub type RunningSets = BTreeMap<String, Arc<Running>>;

/// Who a rules ConfigMap says controls it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Controller {
    /// The VpcNatGateway of the set's name, with this uid.
    Gateway { uid: String },
    /// The anchor (a TOML gateway's).
    Anchor,
}

/// One ConfigMap that may hold a gateway's running set, decoded once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The gateway it is the set of (the set's own `gateway`).
    pub gateway: String,
    pub namespace: String,
    pub controller: Controller,
    pub read: Read,
}

/// A candidate's set, or why this build cannot read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    Set(Arc<Running>),
    /// A set of a format this build does not read (a later version: the
    /// daemon rolled back). Its gateway runs something unknown here.
    Unreadable(String),
}

/// What `cm` (a watched ConfigMap labelled ours) may be: `None` unless it
/// is named, labelled and controlled as a gateway's rules ConfigMap and not
/// being deleted. The cheap checks come first: the set is decoded only for
/// a ConfigMap that passes them. A set of a later format is a candidate
/// too ([`Read::Unreadable`], its gateway read from the set's `gateway`),
/// so that it is not taken for "nothing runs".
pub fn candidate(cm: &Json) -> Option<Candidate> {
    let deleting = cm.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null());
    if !has_managed_by(cm) || deleting {
        return None;
    }
    let meta = |k: &str| cm.pointer(&format!("/metadata/{k}")).and_then(Json::as_str);
    let (namespace, name) = (meta("namespace")?, meta("name")?);
    let c = controller_of(cm)?;
    let s = |k: &str| c.get(k).and_then(Json::as_str).unwrap_or("");
    let gateway_kind = s("apiVersion").starts_with("kubeovn.io/") && s("kind") == "VpcNatGateway";
    let controller = match (gateway_kind, names_anchor(c)) {
        (true, _) => Controller::Gateway { uid: s("uid").to_string() },
        (false, true) => Controller::Anchor,
        (false, false) => return None,
    };
    if !name.ends_with("-rules") {
        return None;
    }
    let text = cm.pointer(&format!("/data/{DATA_KEY}"))?.as_str()?;
    let (gateway, read) = match NatRuleSet::from_running_json(text) {
        Ok(set) => {
            let gateway = set.gateway.clone();
            (gateway, Read::Set(Arc::new(Running { namespace: namespace.to_string(), set })))
        }
        Err(e @ RulesError::Version { .. }) => {
            #[derive(serde::Deserialize)]
            struct Named {
                gateway: String,
            }
            let gateway = serde_json::from_str::<Named>(text).ok()?.gateway;
            tracing::warn!(configmap = %format!("{namespace}/{name}"), reason = %e,
                "a rules ConfigMap this build cannot read: its gateway is refused and left as it runs");
            (gateway, Read::Unreadable(e.to_string()))
        }
        Err(RulesError::Decode(_)) => return None,
    };
    if !name.ends_with(&format!("-{gateway}-rules")) {
        return None;
    }
    if let Controller::Gateway { .. } = controller {
        if s("name") != gateway {
            return None;
        }
    }
    Some(Candidate { gateway, namespace: namespace.to_string(), controller, read })
}

/// The candidate that says what `gateway` runs, among `candidates` (its
/// own, in namespace and name order: the first that counts wins); `uid`:
/// the VpcNatGateway resource's uid, if it is a resource's gateway; `toml`:
/// the TOML defines it (then only an anchor-owned one counts, and only for
/// it); `place`: whether the gateway's workload may be in a namespace
/// (`true` for an anchor-owned one: see [`running_sets`]).
pub fn chosen<'a>(
    gateway: &str,
    candidates: impl IntoIterator<Item = &'a Candidate>,
    uid: Option<&str>,
    toml: bool,
    place: impl Fn(&str, bool) -> bool,
) -> Option<&'a Candidate> {
    candidates.into_iter().filter(|c| c.gateway == gateway).find(|c| {
        let (ours, anchored) = match &c.controller {
            Controller::Gateway { uid: u } => (!toml && uid == Some(u.as_str()), false),
            Controller::Anchor => (toml, true),
        };
        ours && place(&c.namespace, anchored)
    })
}

/// The candidates, by ConfigMap (`<namespace>/<name>`) and by gateway, so
/// that choosing one gateway's set reads that gateway's candidates only.
/// Persistent maps: a store snapshot's copy shares them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// By (gateway, ConfigMap key): a gateway's in namespace and name order.
    by_gateway: imbl::OrdMap<(String, String), Arc<Candidate>>,
    /// The gateway of each ConfigMap key.
    gateway_of: imbl::OrdMap<String, String>,
}

impl Candidates {
    /// ConfigMap `key` is `c` now (or no candidate); the gateways concerned
    /// (the one it was of, the one it is of).
    pub fn set(&mut self, key: &str, c: Option<Candidate>) -> BTreeSet<String> {
        let mut touched = BTreeSet::new();
        if let Some(was) = self.gateway_of.remove(key) {
            self.by_gateway.remove(&(was.clone(), key.to_string()));
            touched.insert(was);
        }
        if let Some(c) = c {
            self.gateway_of.insert(key.to_string(), c.gateway.clone());
            touched.insert(c.gateway.clone());
            self.by_gateway.insert((c.gateway.clone(), key.to_string()), Arc::new(c));
        }
        touched
    }

    /// Gateway `g`'s candidates, in namespace and name order.
    pub fn of<'a>(&'a self, g: &str) -> impl Iterator<Item = &'a Candidate> + 'a {
        let g = g.to_string();
        let from = (g.clone(), String::new());
        self.by_gateway.range(from..).take_while(move |((gw, _), _)| *gw == g).map(|(_, c)| &**c)
    }

    /// Every candidate, by gateway.
    pub fn all(&self) -> impl Iterator<Item = &Candidate> {
        self.by_gateway.values().map(|c| &**c)
    }

    /// The ConfigMap keys of every candidate.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.gateway_of.keys()
    }
}

/// What the gateways run, chosen among the candidates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chosen {
    pub running: RunningSets,
    /// The gateways whose chosen set this build cannot read, with why.
    pub unreadable: BTreeMap<String, String>,
}

impl Chosen {
    /// Sets gateway `g`'s entry to `c` (or none).
    pub fn set(&mut self, g: &str, c: Option<&Candidate>) {
        self.running.remove(g);
        self.unreadable.remove(g);
        match c.map(|c| &c.read) {
            Some(Read::Set(r)) => {
                self.running.insert(g.to_string(), r.clone());
            }
            Some(Read::Unreadable(why)) => {
                self.unreadable.insert(g.to_string(), why.clone());
            }
            None => {}
        }
    }
}

/// What every gateway runs among `candidates` (in namespace and name
/// order); `uid`: a VpcNatGateway resource's uid, by name; `toml`: whether
/// the TOML defines a gateway; `place`: whether
/// a gateway's workload may be in a namespace (the daemon's, or the one its
/// spec names: a tenant may write ConfigMaps elsewhere, and a ConfigMap
/// elsewhere never counts, nor hides the real one), `true` for an
/// anchor-owned one (a TOML gateway's: only the daemon's namespace).
pub fn running_sets<'a>(
    candidates: impl IntoIterator<Item = &'a Candidate>,
    uid: impl Fn(&str) -> Option<String>,
    toml: impl Fn(&str) -> bool,
    place: impl Fn(&str, &str, bool) -> bool,
) -> Chosen {
    let mut by_gateway: BTreeMap<&str, Vec<&Candidate>> = BTreeMap::new();
    for c in candidates {
        by_gateway.entry(c.gateway.as_str()).or_default().push(c);
    }
    let mut out = Chosen::default();
    for (g, cs) in by_gateway {
        let u = uid(g);
        out.set(g, chosen(g, cs, u.as_deref(), toml(g), |ns, a| place(g, ns, a)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The running sets of ConfigMaps `cms`.
    fn running_sets<'a>(
        cms: impl IntoIterator<Item = &'a Json>,
        uid: impl Fn(&str) -> Option<String>,
        place: impl Fn(&str, &str, bool) -> bool,
    ) -> RunningSets {
        let candidates: Vec<Candidate> = cms.into_iter().filter_map(candidate).collect();
        super::running_sets(&candidates, uid, |_| false, place).running
    }

    /// As `running_sets`, for gateways the TOML defines.
    fn toml_sets<'a>(cms: impl IntoIterator<Item = &'a Json>) -> RunningSets {
        let candidates: Vec<Candidate> = cms.into_iter().filter_map(candidate).collect();
        super::running_sets(&candidates, |_| None, |_| true, |_, _, _| true).running
    }

    fn cm(name: &str, owner: Json, data: &str) -> Json {
        json!({"metadata": {"namespace": "kube-system", "name": name,
            "labels": {"app.kubernetes.io/managed-by": "ovn-vpcd"}, "ownerReferences": [owner]},
            "data": {DATA_KEY: data}})
    }

    #[test]
    fn only_our_rules_config_maps_count() {
        let set = include_str!("../../../tests/fixtures/seed-003-rules.json");
        let gw = json!({"apiVersion": "kubeovn.io/v1", "kind": "VpcNatGateway", "name": "natgw", "uid": "u", "controller": true});
        let anchor = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "ovn-vpcd-toml-gateways", "uid": "a", "controller": true});
        let other = json!({"apiVersion": "kubeovn.io/v1", "kind": "VpcNatGateway", "name": "other", "uid": "o", "controller": true});
        let ours = cm("vpc-nat-gw-natgw-rules", gw.clone(), set);
        let uid = |g: &str| (g == "natgw").then(|| "u".to_string());
        let r = running_sets([&ours], uid, |_, _, _| true);
        assert_eq!(r["natgw"].namespace, "kube-system");
        assert_eq!(r["natgw"].set, NatRuleSet::from_json(set).unwrap());
        // The anchor's counts for a TOML gateway only, and a resource's never for one.
        let anchored = cm("vpc-nat-gw-natgw-rules", anchor, set);
        assert_eq!(toml_sets([&anchored]).len(), 1);
        assert!(running_sets([&anchored], uid, |_, _, _| true).is_empty());
        assert!(toml_sets([&ours]).is_empty());
        // natgw deleted and made again (another uid): its predecessor's set is not its.
        assert!(running_sets([&ours], |_| Some("u2".to_string()), |_, _, _| true).is_empty());
        assert!(running_sets([&ours], |_| None, |_, _, _| true).is_empty());
        // A lookalike in a namespace the gateway's workload may not be in
        // (a tenant's) neither counts nor hides ours.
        let mut forged = ours.clone();
        forged["metadata"]["namespace"] = json!("a-tenant");
        forged["data"][DATA_KEY] = json!(set.replace("10.0.1.254", "10.0.1.99"));
        let place = |_: &str, ns: &str, _| ns == "kube-system";
        let r = running_sets([&forged, &ours], uid, place);
        assert_eq!(r["natgw"].namespace, "kube-system");
        assert_eq!(r["natgw"].set, NatRuleSet::from_json(set).unwrap());
        // Not ours: another gateway's controller, a name not the gateway's, no label, not a set.
        let mut unlabelled = ours.clone();
        unlabelled["metadata"]["labels"] = json!({});
        for not in [
            cm("vpc-nat-gw-natgw-rules", other, set),
            cm("vpc-nat-gw-elsewhere-rules", gw.clone(), set),
            cm("vpc-nat-gw-natgw-rules", gw.clone(), "{\"version\": 1}"),
            unlabelled,
        ] {
            assert!(running_sets([&not], uid, |_, _, _| true).is_empty(), "{not}");
        }
        // A later format (a daemon rolled back): not what runs, and not
        // "nothing runs" either: its gateway runs something unknown here.
        let later = cm("vpc-nat-gw-natgw-rules", gw, &set.replacen("\"version\":1", "\"version\":2", 1));
        let candidates: Vec<Candidate> = [&later].into_iter().filter_map(candidate).collect();
        let chosen = super::running_sets(&candidates, uid, |_| false, |_, _, _| true);
        assert!(chosen.running.is_empty());
        assert!(chosen.unreadable["natgw"].contains("version 2"), "{:?}", chosen.unreadable);
        // One being deleted (a finalizer of someone's holding it) does not count.
        let mut going = ours.clone();
        going["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
        assert!(running_sets([&going], uid, |_, _, _| true).is_empty());
    }
}
