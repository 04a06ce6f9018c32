//! The kubeovn.io/v1 resources (Vpc, Subnet, and the NAT gateway's kinds)
//! as a second source of desired state beside the TOML: the store of what
//! the watches show, the rules by which `kube::merge` merges it with the
//! TOML, and the verdict each resource's status should show after a pass
//! (for the NAT kinds `NotApplied` at best: the reporter refines it by the
//! agents' reports, `daemon::nat::readiness`).
//!
//! - A name the TOML already defines is refused on the resource; the TOML
//!   definition stays in force (and its rows are not protected: the refusal
//!   concerns the resource only). So for the NAT kinds: a TOML gateway's
//!   workload stays the TOML's (owned by the anchor, `kube::objects`), and
//!   only the resources get a status; the TOML objects' refusals and
//!   notices are logged and printed by `plan`, as a TOML Vpc's are.
//! - A resource being deleted (`deletionTimestamp`) is left out, so its rows
//!   go; once they are gone the daemon removes its finalizer. An IptablesEIP
//!   being deleted stays in while a FIP, DNAT or SNAT rule names it (its
//!   address and the rules stay in force), and its finalizer stays until
//!   none does ([`Merged::in_use`]); then it goes and its address is freed.
//! - Each IptablesEIP resource's status as last written is read as its
//!   previous state (`NatSpecs::eip_status`: the immutability checks); a
//!   TOML EIP has none (not even that of a refused resource of its name).
//! - A spec is read without the defaults this daemon wrote into it
//!   (`defaults::user_spec`): they are derived from it, never inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::kinds::vpc_nat_gateway::running::{candidate, chosen, running_sets, Candidates, Chosen, RunningSets};
use crate::kinds::vpc_nat_gateway::status::OLD_FORM;
use crate::kube::defaults::subnet_defaults;
use crate::kube::keyed::Keyed;
use crate::kube::status::{
    EipFields, NatGatewayFields, Outcome, RuleFields, StatusFields, SubnetUsage, VpcFields, NO_AGENT,
};
use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::{Model, Rejection};

/// Ours on every Vpc and Subnet resource, so that one deleted while the
/// daemon is down keeps existing until its rows are removed.
pub const FINALIZER: &str = "kubeovn.io/ovn-vpcd";
pub use crate::kube::merge::{merge, Merged, NAME_CLASH_FIELD};
pub use crate::kube::paths::{api_path, PODS, SUBNETS, VPCS};

/// The store key of an object of `kind`: `<namespace>/<name>` for
/// namespaced kinds, the name for the others.
fn store_key(kind: Kind, obj: &Json) -> String {
    match kind.namespaced() {
        true => crate::kinds::pod::cni::pod_key(obj).unwrap_or_default(),
        false => name_of(obj).to_string(),
    }
}

/// What the store keeps of an object of `kind`: Vpcs and Subnets whole
/// (their status is compared and written back), pods trimmed to what is read.
fn kept(kind: Kind, obj: Json) -> Json {
    match kind {
        Kind::Vpc
        | Kind::Subnet
        | Kind::VpcNatGateway
        | Kind::IptablesEip
        | Kind::IptablesFipRule
        | Kind::IptablesDnatRule
        | Kind::IptablesSnatRule => obj,
        Kind::Pod => crate::kinds::pod::kept::trimmed(obj),
    }
}

/// How the watch of `kind` decodes its objects: whole, or (pods) only what
/// [`kept`] keeps, straight from the wire.
pub fn decoder(kind: Kind) -> crate::kube::client::Decode {
    match kind {
        Kind::Vpc
        | Kind::Subnet
        | Kind::VpcNatGateway
        | Kind::IptablesEip
        | Kind::IptablesFipRule
        | Kind::IptablesDnatRule
        | Kind::IptablesSnatRule => crate::kube::client::decode_json,
        Kind::Pod => crate::kinds::pod::kept::decode_trimmed,
    }
}

/// Applies one watch event of `kind` (its objects as the API serves them).
pub fn apply_event(store: &mut Store, kind: Kind, event: crate::kube::watcher::Event) {
    use crate::kube::watcher::Event;
    let event = match event {
        Event::Restarted(all) => Event::Restarted(all.into_iter().map(|o| kept(kind, o)).collect()),
        Event::Applied(o) => Event::Applied(kept(kind, o)),
        Event::Deleted(o) => Event::Deleted(o),
    };
    apply_decoded(store, kind, event);
}

/// As [`apply_event`], for an event whose objects [`decoder`] decoded:
/// they are what the store keeps already (a pod is not trimmed twice).
pub fn apply_decoded(store: &mut Store, kind: Kind, event: crate::kube::watcher::Event) {
    use crate::kube::watcher::Event;
    let map = store.of_kind_mut(kind);
    let key = |o: &Json| store_key(kind, o);
    match event {
        Event::Restarted(all) => map.replace_all(all.into_iter().map(|o| (key(&o), Arc::new(o)))),
        Event::Applied(o) => {
            map.insert(key(&o), Arc::new(o));
        }
        Event::Deleted(o) => {
            map.remove(&key(&o));
        }
    }
}

/// Lists every kind once (paginated) into a synced store: what `plan` and
/// `apply` see of the resources, without watching.
pub async fn list_store(client: &crate::kube::client::KubeClient) -> Result<Store, crate::kube::client::KubeError> {
    use crate::kube::watcher::Event;
    let mut store = Store::default();
    for kind in Kind::ALL {
        let path = api_path(kind);
        let mut all = vec![];
        let mut cont: Option<String> = None;
        loop {
            let (items, next, _) = client.list_page(path, 500, cont.as_deref()).await?;
            all.extend(items);
            match next {
                Some(c) => cont = Some(c),
                None => break,
            }
        }
        apply_event(&mut store, kind, Event::Restarted(all));
    }
    let mut all = vec![];
    let mut cont: Option<String> = None;
    loop {
        let selector = Some(crate::kube::objects::MANAGED_BY_SELECTOR);
        let (items, next, _) = client.list_page_selected(RULE_SETS_PATH, selector, 500, cont.as_deref()).await?;
        all.extend(items);
        match next {
            Some(c) => cont = Some(c),
            None => break,
        }
    }
    apply_feed(&mut store, Feed::RuleSets, Event::Restarted(all));
    store.synced = true;
    Ok(store)
}

/// The resources as last listed and watched, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Store {
    pub vpcs: Keyed,
    pub subnets: Keyed,
    /// By `<namespace>/<name>`.
    pub pods: Keyed,
    pub nat_gateways: Keyed,
    pub eips: Keyed,
    pub fip_rules: Keyed,
    pub dnat_rules: Keyed,
    pub snat_rules: Keyed,
    /// The ConfigMaps labelled ours that may be a NAT gateway's rules
    /// ConfigMap, decoded once as they change, by `<namespace>/<name>`
    /// (`kinds::vpc_nat_gateway::running::candidate`).
    pub rule_sets: Candidates,
    /// What each gateway runs, among `rule_sets`: chosen again for the
    /// gateways a change concerns only.
    pub running: Arc<RunningSets>,
    /// The gateways whose chosen rules ConfigMap this build cannot read (a
    /// later format), with why: refused, and left as they run.
    pub unreadable: Arc<BTreeMap<String, String>>,
    /// The daemon's namespace (`[kubernetes] namespace`; empty: the
    /// default), where gateway workloads go unless their spec names another:
    /// a rules ConfigMap counts only there or in its gateway's
    /// `spec.namespace` (a tenant may write ConfigMaps elsewhere).
    pub workloads: String,
    /// Per gateway, its uid and the namespace its running set was last
    /// chosen in: a rules ConfigMap counts there too, beside its current
    /// `spec.namespace` (a running gateway does not move when its
    /// `namespace` is edited, `daemon::nat`, so its ConfigMap stays where it
    /// was made). Only a set chosen through the spec puts a namespace here,
    /// and a gateway made again (another uid) starts afresh; a namespace a
    /// refused edit named and that never held its set is not kept.
    pub ran_in: BTreeMap<String, (String, String)>,
    /// The gateways the TOML defines ([`set_toml_gateways`]): only the
    /// anchor's rules ConfigMap says what they run, never one controlled by
    /// a resource of the same name (refused, and maybe a tenant's).
    pub toml_gateways: BTreeSet<String>,
    /// Every initial list has arrived: before that, an absent resource
    /// may simply not be listed yet, and nothing may be deleted for it.
    pub synced: bool,
}

/// What a watch feeds into the store: a kind's resources, or the rules
/// ConfigMaps ([`Store::rule_sets`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    Kind(Kind),
    RuleSets,
}

/// Where the rules ConfigMaps are listed and watched (with
/// [`crate::kube::objects::MANAGED_BY_SELECTOR`]).
pub const RULE_SETS_PATH: &str = "/api/v1/configmaps";

/// Applies a watch event of `feed` to `store`: a kind's objects decoded by
/// [`decoder`] (as the store keeps them), the rules ConfigMaps whole.
pub fn apply_feed(store: &mut Store, feed: Feed, event: crate::kube::watcher::Event) {
    use crate::kube::watcher::Event;
    let kind = match feed {
        Feed::Kind(kind) => {
            // A gateway's uid and namespace decide which of its candidates count.
            let gateway = match &event {
                Event::Restarted(_) => None,
                Event::Applied(o) | Event::Deleted(o) => Some(BTreeSet::from([name_of(o).to_string()])),
            };
            apply_decoded(store, kind, event);
            if kind == Kind::VpcNatGateway {
                refresh_running(store, gateway);
            }
            return;
        }
        Feed::RuleSets => crate::kube::objects::ObjectKind::ConfigMap,
    };
    let key = |o: &Json| {
        let id = crate::kube::objects::ObjectId::of(kind, o)
            .unwrap_or_else(|| crate::kube::objects::ObjectId::new(kind, "", ""));
        format!("{}/{}", id.namespace, id.name)
    };
    // Each ConfigMap is decoded once, as it changes; then only the gateways
    // it was and is a candidate of are chosen again.
    let touched = match event {
        Event::Restarted(all) => {
            store.rule_sets = Candidates::default();
            for o in &all {
                store.rule_sets.set(&key(o), candidate(o));
            }
            refresh_running(store, None);
            return;
        }
        Event::Applied(o) => store.rule_sets.set(&key(&o), candidate(&o)),
        Event::Deleted(o) => store.rule_sets.set(&key(&o), None),
    };
    refresh_running(store, Some(touched));
}

/// The TOML's gateways are `names` now: what those that changed run is
/// chosen again (an anchor-owned rules ConfigMap counts for a TOML gateway
/// only, one a resource controls for a resource gateway only).
pub fn set_toml_gateways(store: &mut Store, names: BTreeSet<String>) {
    if store.toml_gateways == names {
        return;
    }
    let changed = store.toml_gateways.symmetric_difference(&names).cloned().collect();
    store.toml_gateways = names;
    refresh_running(store, Some(changed));
}

/// Chooses what the gateways run ([`Store::running`]) anew among the
/// decoded candidates: those named in `gateways`, or all (`None`: a relist).
fn refresh_running(store: &mut Store, gateways: Option<BTreeSet<String>>) {
    // A TOML gateway has no resource: a same-named one owns nothing of it.
    let uid = |g: &str| {
        let o = store.nat_gateways.get(g).filter(|_| !store.toml_gateways.contains(g))?;
        o.pointer("/metadata/uid").and_then(Json::as_str).map(str::to_string)
    };
    let toml = |g: &str| store.toml_gateways.contains(g);
    let workloads = match store.workloads.is_empty() {
        true => crate::config::DEFAULT_NAMESPACE,
        false => store.workloads.as_str(),
    };
    let spec_ns = |g: &str| {
        let o = store.nat_gateways.get(g)?;
        o.pointer("/spec/namespace").and_then(Json::as_str).filter(|n| !n.is_empty()).map(str::to_string)
    };
    let ran_in = |g: &str, ns: &str| {
        store.ran_in.get(g).is_some_and(|(u, at)| at == ns && uid(g).as_deref() == Some(u.as_str()))
    };
    let named = |g: &str, ns: &str| spec_ns(g).as_deref() == Some(ns) || ran_in(g, ns);
    let place = |g: &str, ns: &str, anchored: bool| ns == workloads || (!anchored && named(g, ns));
    let touched: Option<Vec<String>> = gateways.as_ref().map(|g| g.iter().cloned().collect());
    let now = match gateways {
        None => running_sets(store.rule_sets.all(), uid, toml, place),
        Some(gateways) => {
            let mut now = Chosen { running: (*store.running).clone(), unreadable: (*store.unreadable).clone() };
            for g in gateways {
                let u = uid(&g);
                now.set(&g, chosen(&g, store.rule_sets.of(&g), u.as_deref(), toml(&g), |ns, a| place(&g, ns, a)));
            }
            now
        }
    };
    // Where each resource gateway's set was chosen (see `Store::ran_in`).
    let touched = touched.unwrap_or_else(|| store.ran_in.keys().chain(now.running.keys()).cloned().collect());
    let mut ran_in = std::mem::take(&mut store.ran_in);
    for g in touched {
        let u = uid(&g);
        if ran_in.get(&g).is_some_and(|(was, _)| u.as_deref() != Some(was.as_str())) {
            ran_in.remove(&g);
        }
        let r = now.running.get(&g).filter(|r| r.namespace != workloads);
        if let (Some(u), Some(r)) = (u, r) {
            ran_in.insert(g, (u, r.namespace.clone()));
        }
    }
    store.ran_in = ran_in;
    store.running = Arc::new(now.running);
    if *store.unreadable != now.unreadable {
        store.unreadable = Arc::new(now.unreadable);
    }
}

impl Store {
    pub fn of_kind(&self, kind: Kind) -> &imbl::OrdMap<String, Arc<Json>> {
        self.keyed(kind)
    }

    /// The store with only the maps [`merge`] reads (a copy: the maps are
    /// persistent, so it shares every object and node with `self`).
    pub fn merge_inputs(&self) -> Store {
        let mut out = Store { synced: self.synced, ..Store::default() };
        for kind in Kind::ALL.into_iter().filter(|k| merged(*k)) {
            *out.of_kind_mut(kind) = self.keyed(kind).clone();
        }
        out
    }

    /// How merging `other`, a later version of the same store, differs
    /// from merging `self`: `Some` of the generations alone that changed
    /// (empty: the same merge), when merging reads nothing else new in any
    /// map (`crate::kube::merge::read_changes`: a status written is not
    /// read); `None` otherwise. A map changed and changed back, or changed
    /// beyond its log, counts as changed: that only costs a merge.
    pub fn merge_changes(&self, other: &Store) -> Option<Vec<(ObjectKey, Option<i64>)>> {
        use crate::kube::merge::read_changes;
        let mut changes = vec![];
        for kind in Kind::ALL.into_iter().filter(|k| merged(*k)) {
            changes.extend(read_changes(kind, self.keyed(kind), other.keyed(kind))?);
        }
        Some(changes)
    }

    /// Whether merging `other` gives what merging `self` gives (see
    /// [`Store::merge_changes`]).
    pub fn same_merge_inputs(&self, other: &Store) -> bool {
        self.merge_changes(other).is_some_and(|c| c.is_empty())
    }

    /// Whether the maps [`merge`] reads are the same nodes in `self` and
    /// `other` (compared by pointer).
    pub fn same_maps(&self, other: &Store) -> bool {
        Kind::ALL.into_iter().filter(|k| merged(*k)).all(|k| self.of_kind(k).ptr_eq(other.of_kind(k)))
    }

    fn keyed(&self, kind: Kind) -> &Keyed {
        match kind {
            Kind::Vpc => &self.vpcs,
            Kind::Subnet => &self.subnets,
            Kind::Pod => &self.pods,
            Kind::VpcNatGateway => &self.nat_gateways,
            Kind::IptablesEip => &self.eips,
            Kind::IptablesFipRule => &self.fip_rules,
            Kind::IptablesDnatRule => &self.dnat_rules,
            Kind::IptablesSnatRule => &self.snat_rules,
        }
    }

    pub fn of_kind_mut(&mut self, kind: Kind) -> &mut Keyed {
        match kind {
            Kind::Vpc => &mut self.vpcs,
            Kind::Subnet => &mut self.subnets,
            Kind::Pod => &mut self.pods,
            Kind::VpcNatGateway => &mut self.nat_gateways,
            Kind::IptablesEip => &mut self.eips,
            Kind::IptablesFipRule => &mut self.fip_rules,
            Kind::IptablesDnatRule => &mut self.dnat_rules,
            Kind::IptablesSnatRule => &mut self.snat_rules,
        }
    }
}

pub fn name_of(obj: &Json) -> &str {
    obj.pointer("/metadata/name").and_then(Json::as_str).unwrap_or("")
}

fn is_deleting(obj: &Json) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

pub fn has_finalizer(obj: &Json) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Json::as_array)
        .is_some_and(|f| f.iter().any(|x| x.as_str() == Some(FINALIZER)))
}

/// Whether [`merge`](crate::kube::merge::merge) reads the objects of `kind` (pods are derived from,
/// not merged).
pub(crate) fn merged(kind: Kind) -> bool {
    match kind {
        Kind::Vpc
        | Kind::Subnet
        | Kind::VpcNatGateway
        | Kind::IptablesEip
        | Kind::IptablesFipRule
        | Kind::IptablesDnatRule
        | Kind::IptablesSnatRule => true,
        Kind::Pod => false,
    }
}

/// Whether objects of `kind` get a `status` (and a verdict) from us; pods
/// get the CNI's annotations instead (`kinds::pod::cni`).
fn has_status(kind: Kind) -> bool {
    match kind {
        Kind::Vpc
        | Kind::Subnet
        | Kind::VpcNatGateway
        | Kind::IptablesEip
        | Kind::IptablesFipRule
        | Kind::IptablesDnatRule
        | Kind::IptablesSnatRule => true,
        Kind::Pod => false,
    }
}

/// What one resource's status should say.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub object: ObjectKey,
    pub outcome: Outcome,
    pub fields: StatusFields,
    /// The `metadata.generation` the verdict was made for: a newer spec
    /// waits for the next pass's verdict.
    pub generation: Option<i64>,
    /// An accepted Subnet's defaults as Kube-OVN fills them into its spec
    /// (see `defaults.rs`); empty for anything else.
    pub defaults: Map<String, Json>,
}

/// The verdicts after a pass that converged: every live resource is Ready,
/// or refused with its reason. `rejected` are the pass's refusals
/// (validation and NB); `using` gives a subnet's allocated addresses.
pub fn verdicts(
    store: &Store,
    merged: &Merged,
    model: &Model,
    rejected: &[Rejection],
    eips: &BTreeMap<String, std::net::Ipv4Addr>,
    using: impl Fn(&str) -> u64,
) -> Vec<Verdict> {
    let mut out = vec![];
    let not_applied = || Outcome::NotApplied { message: NO_AGENT.to_string() };
    let rule = |f: Option<RuleFields>| match f {
        Some(f) => (not_applied(), StatusFields::Rule(f)),
        None => (Outcome::Pending, StatusFields::None),
    };
    let refusal = |kind: Kind, name: &str| merged.refused.iter().chain(rejected).find(|r| r.is(kind, name)).cloned();
    for kind in Kind::ALL.into_iter().filter(|k| has_status(*k)) {
        for (name, obj) in store.of_kind(kind) {
            if is_deleting(obj) {
                continue;
            }
            let notices: Vec<_> = model.notices.iter().filter(|n| n.kind == kind && n.name == *name).cloned().collect();
            let ready = || if notices.is_empty() { Outcome::Ready } else { Outcome::ReadyExcept(notices.clone()) };
            let mut defaults = Map::new();
            let (outcome, fields) = match refusal(kind, name) {
                Some(r) => (Outcome::from_rejection(r), StatusFields::None),
                // After a pass that converged, the VPC's router exists: standby, as Kube-OVN says.
                None => match kind {
                    Kind::Vpc => (ready(), StatusFields::Vpc(VpcFields::of(model, name, true))),
                    Kind::Pod => (ready(), StatusFields::None),
                    Kind::Subnet => match model.subnets.get(name) {
                        Some(s) => {
                            defaults = subnet_defaults(s, &merged.default_vpc);
                            (ready(), StatusFields::Subnet(SubnetUsage::of(s, using(name))))
                        }
                        None => (Outcome::Pending, StatusFields::None),
                    },
                    // Valid, and not applied: the gateway agent is the next slice.
                    Kind::VpcNatGateway => match model.nat_gateways.get(name) {
                        Some(g) => {
                            let message = match g.spec.is_inline() {
                                true => format!("{NO_AGENT}; {OLD_FORM}"),
                                false => NO_AGENT.to_string(),
                            };
                            (Outcome::NotApplied { message }, StatusFields::NatGateway(NatGatewayFields::of(g)))
                        }
                        None => (Outcome::Pending, StatusFields::None),
                    },
                    Kind::IptablesEip => match model.eips.contains_key(name) {
                        true => (not_applied(), StatusFields::Eip(EipFields::of(model, name, eips))),
                        false => (Outcome::Pending, StatusFields::None),
                    },
                    Kind::IptablesFipRule => rule(RuleFields::fip(model, eips, name)),
                    Kind::IptablesDnatRule => rule(crate::kinds::iptables_dnat_rule::status::fields(model, eips, name)),
                    Kind::IptablesSnatRule => rule(crate::kinds::iptables_snat_rule::status::fields(model, eips, name)),
                },
            };
            let generation = obj.pointer("/metadata/generation").and_then(Json::as_i64);
            out.push(Verdict { object: ObjectKey::cluster(kind, name), outcome, fields, generation, defaults });
        }
    }
    out
}

#[cfg(test)]
#[path = "resources_tests.rs"]
pub(crate) mod tests;
