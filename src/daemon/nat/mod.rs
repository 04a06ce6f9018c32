//! The daemon's side of the NAT gateways' workloads: the settings read
//! from the ConfigMaps in `[kubernetes] namespace` (`settings.rs`, a
//! watch), the desired workload objects recomputed from each pass's model
//! and handed to the object reconciler (`kube::objects::run`, leader only),
//! and what the reporter needs to say whether each gateway, EIP and rule
//! is applied (`readiness.rs`).
//!
//! A gateway written in the TOML has no resource to own its workload: it is
//! owned by the anchor of its namespace (`kube::objects::anchor`), which
//! the object reconciler keeps; a resource of the same name (refused) never
//! owns it.
//!
//! Invariants: no desired set is handed to the reconciler before the
//! settings were read and a pass ran while leading (an empty set would
//! delete every running gateway's workload); the sets rendered by this
//! process are remembered, a few per gateway, so a report of one of them is
//! judged rule by rule, and one of an earlier process leaves ready rules
//! as they are; a refused gateway's running objects are never deleted
//! (rendered as last time, or left alone: `Desired::left_alone`).

pub mod hold;
pub mod readiness;
pub mod settings;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::Value as Json;
use tokio::sync::{mpsc, watch};

use crate::kinds::vpc_nat_gateway::rules::{rule_sets, EipAddresses};
use crate::kinds::vpc_nat_gateway::running::{Running, RunningSets};
use crate::kinds::vpc_nat_gateway::workload::{objects, workload_name, Names, APP_LABEL, DEFAULT_PREFIX};
use crate::kube::client::KubeClient;
use crate::kube::driver::{watch as watch_kind, WatchOptions};
use crate::kube::objects::{Desired as DesiredWorkloads, DesiredObject, Owner, OwnerRef};
use crate::kube::resources::Store;
use crate::kube::watcher::Event;
use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::Model;
use crate::rules::nat::NatRuleSet;
use readiness::{GatewayView, NatView, RuleNames};
use settings::{settings, NatSettings, Workloads, NAT_CONFIG, NAT_GW_CONFIG};

/// How many rendered sets are remembered per gateway.
const KNOWN_SETS: usize = 16;
/// From how many digests of the sets handed over a gateway's list is cut
/// back to the one the watch shows (what came before it is in the past).
const HANDED_PRUNE: usize = 64;
/// At most this many are kept; past it, the oldest go, and a watched set
/// not among them is taken for one of ours (the watch lagging that far).
const HANDED_DIGESTS: usize = 4096;

/// The digests of the sets handed over to one gateway, oldest first.
#[derive(Default)]
struct Digests {
    list: VecDeque<String>,
    /// Some were dropped unseen by the watch.
    overflowed: bool,
}

/// The desired workloads, and the sets rendered so far.
pub struct NatSide {
    namespace: String,
    known: BTreeMap<String, VecDeque<(String, RuleNames)>>,
    /// Per gateway, what was last rendered: what a refused gateway or rule
    /// keeps (`hold`).
    last: BTreeMap<String, Last>,
    /// Per gateway, the set its rules ConfigMap was last handed with (a
    /// refused gateway's: less what was deleted since), and where: what the
    /// next validation takes as running ([`NatSide::rendered`]).
    handed: BTreeMap<String, Arc<Running>>,
    /// Per gateway, the digests of the sets handed over, newest last.
    handed_digests: BTreeMap<String, Digests>,
    /// The last settings that rendered workloads: what running gateways keep
    /// while the ConfigMaps say something that cannot be used.
    last_good: Option<Workloads>,
}

/// A gateway's last rendered set and workload, and their owner: the
/// gateway they were rendered for (a gateway deleted and made again under
/// its name is another one, with another uid, and inherits none of it).
struct Last {
    set: NatRuleSet,
    objects: Vec<DesiredObject>,
    owner: Owner,
}

impl Last {
    /// Whether `gateway` (of `store`, or the TOML's) is still the one this
    /// was rendered for.
    fn current(&self, gateway: &str, store: &Store, toml: &BTreeSet<String>) -> bool {
        match &self.owner {
            Owner::Resource(r) => !toml.contains(gateway) && owner(store, gateway).is_some_and(|o| o.uid == r.uid),
            Owner::Anchor | Owner::Anchored(_) => toml.contains(gateway),
            // (Only the anchor itself has no owner; a gateway's objects always do.)
            Owner::None => false,
        }
    }
}

impl NatSide {
    pub fn new(namespace: &str) -> NatSide {
        NatSide {
            namespace: namespace.to_string(),
            known: BTreeMap::new(),
            last: BTreeMap::new(),
            handed: BTreeMap::new(),
            handed_digests: BTreeMap::new(),
            last_good: None,
        }
    }

    /// Forgets what was rendered and handed over: called when this process
    /// does not lead (a standby renders but hands nothing; after a term of
    /// another leader, what it wrote is unknown here). It then knows what
    /// runs from the watch alone, as just started.
    pub fn forget(&mut self) {
        self.last.clear();
        self.handed.clear();
        self.handed_digests.clear();
    }

    /// What this process last handed over for each gateway, as running
    /// sets: the next validation reads them ahead of the watched ones
    /// (`Running::ahead`), so a gateway whose rules ConfigMap is missing
    /// from the watch for a while (deleted by hand and being made again, a
    /// prefix change, the anchor deleted, a finalizer holding it being
    /// deleted) keeps its claims and its EIPs' addresses. Only for the
    /// gateway they were rendered for (`store`'s uid, or the TOML's), and
    /// only while the watch shows no set, or one this process handed over
    /// (it lags our writes): a set we never wrote (another leader's, a hand
    /// edit the agent applies) is what runs.
    pub fn rendered(&self, store: &Store, toml: &BTreeSet<String>) -> RunningSets {
        let current = |g: &str| self.last.get(g).is_some_and(|l| l.current(g, store, toml));
        let ours = |g: &str| match store.running.get(g) {
            None => true,
            Some(w) => self.handed_digests.get(g).is_some_and(|d| d.overflowed || d.list.contains(&w.set.digest())),
        };
        self.handed.iter().filter(|(g, _)| current(g) && ours(g)).map(|(g, r)| (g.clone(), r.clone())).collect()
    }

    /// Every accepted gateway's workload objects and view, from `model`,
    /// the EIPs' `addresses` (`Derived::eips`), the gateways' uids in
    /// `store` (the owners of their workloads), the gateways written in
    /// the TOML (`toml`: owned by the anchor instead) and `settings`
    /// (`None`: not read yet). Objects refused or waiting this pass
    /// (`held`) keep what they had: a gateway its last workload, a rule or
    /// EIP its part of its gateway's last set (`hold`).
    pub fn render(
        &mut self,
        model: &Model,
        addresses: &EipAddresses,
        store: &Store,
        toml: &BTreeSet<String>,
        settings: Option<&NatSettings>,
        held: &BTreeSet<ObjectKey>,
    ) -> (Option<DesiredWorkloads>, NatView) {
        let is_held = |kind: Kind, name: &str| held.contains(&ObjectKey::cluster(kind, name));
        // The settings to render with: bad ones keep the last good (said on
        // the gateways' status); only `enable-vpc-nat-gw: "false"` turns
        // running gateways off.
        let (effective, kept): (Option<Result<Workloads, String>>, Option<String>) = match settings {
            None => (None, None),
            Some(NatSettings { workloads: Ok(w), .. }) => {
                self.last_good = Some(w.clone());
                (Some(Ok(w.clone())), None)
            }
            Some(NatSettings { workloads: Err(why), off: true }) => {
                self.last_good = None;
                (Some(Err(why.clone())), None)
            }
            Some(NatSettings { workloads: Err(why), off: false }) => match &self.last_good {
                Some(w) => (Some(Ok(w.clone())), Some(why.clone())),
                None => (Some(Err(why.clone())), None),
            },
        };
        if let Some(why) = &kept {
            tracing::warn!(reason = %why, "NAT gateway settings refused; the gateways keep the last good ones");
        }
        let off = matches!(settings, Some(NatSettings { off: true, .. }));
        let settings = effective.as_ref();
        let mut sets = rule_sets(model, addresses);
        let running = &store.running;
        self.last.retain(|g, l| l.current(g, store, toml));
        for (name, set) in sets.iter_mut() {
            let prev = hold::previous(self.last.get(name).map(|l| &l.set), running.get(name).map(|r| &r.set));
            *set = hold::hold(set.clone(), &prev, addresses, is_held);
        }
        let mut desired = vec![];
        let mut view = NatView::new();
        // A refused gateway keeps its workload as last rendered; one gone loses it.
        self.last.retain(|g, _| sets.contains_key(g) || is_held(Kind::VpcNatGateway, g));
        let on = matches!(settings, Some(Ok(_)));
        // Its rule set as last rendered, less what was deleted since (an
        // EIP deleted meanwhile leaves it: its address is free for others).
        let mut handed = BTreeMap::new();
        // (One whose rules ConfigMap this build cannot read is left as it
        // runs: `left_alone`, never written over.)
        for (g, last) in self.last.iter().filter(|(g, _)| on && !store.unreadable.contains_key(*g)) {
            if !sets.contains_key(g) {
                let set = &last.set;
                let kept = hold::hold(hold::emptied(set), &hold::Parts::of(set), addresses, is_held);
                desired.extend(last.objects.iter().map(|o| with_set(o, &kept)));
                if let Some(o) = last.objects.first() {
                    handed.insert(g.clone(), Running { namespace: o.id.namespace.clone(), set: kept });
                }
            }
        }
        let prefix = match settings {
            Some(Ok(w)) => w.prefix.as_str(),
            Some(Err(_)) | None => DEFAULT_PREFIX,
        };
        // A refused gateway's objects are left as they run, whether or not
        // this process rendered them (after a restart it did not).
        // Under the prefix now and the default one: a prefix changed while
        // the daemon was down leaves the old objects alone too.
        let left_alone: BTreeSet<(String, String)> = held
            .iter()
            .filter(|k| on && k.kind == Kind::VpcNatGateway)
            .flat_map(|k| [prefix, DEFAULT_PREFIX].map(|p| (APP_LABEL.to_string(), workload_name(p, &k.name))))
            .collect();
        self.known.retain(|g, _| sets.contains_key(g) || self.last.contains_key(g));
        for (name, set) in &sets {
            let g = &model.nat_gateways[name];
            let digest = set.digest();
            let known = self.known.entry(name.clone()).or_default();
            if !known.iter().any(|(d, _)| *d == digest) {
                known.push_back((digest.clone(), RuleNames::of(set)));
                if known.len() > KNOWN_SETS {
                    known.pop_front();
                }
            }
            let mut names = Names::of(g, prefix, &self.namespace);
            let owner = match toml.contains(name) {
                true => Some(Owner::Anchor),
                false => owner(store, name).map(Owner::Resource),
            };
            // A running gateway does not move: it is rendered where it runs
            // (its rules ConfigMap's namespace), and the new namespace is
            // refused on its status; the rest of it is applied as usual.
            let runs_in = match self.last.get(name).and_then(|l| l.objects.first()) {
                Some(o) => Some(o.id.namespace.clone()),
                None => running.get(name).map(|r| r.namespace.clone()),
            };
            let moved = runs_in.filter(|ns| on && *ns != names.namespace);
            let moved = moved.map(|ns| {
                let why = format!(
                    "spec.namespace {:?}: refused; a running gateway does not move (it runs in {ns:?}): \
                     delete the VpcNatGateway and create it again to move it",
                    names.namespace
                );
                names.namespace = ns;
                why
            });
            let workload = match (settings, owner) {
                (None, _) => Err(format!("the ConfigMaps {NAT_CONFIG} and {NAT_GW_CONFIG} are not read yet")),
                (Some(Err(why)), _) => Err(why.clone()),
                (Some(Ok(_)), None) => Err("not a VpcNatGateway resource: its workload needs an owner".into()),
                (Some(Ok(w)), Some(owner)) => {
                    let objs = objects(model, g, set, &owner, &names, &w.image);
                    let ids = objs.iter().map(|o| o.id.clone()).collect();
                    self.last.insert(name.clone(), Last { set: set.clone(), objects: objs.clone(), owner });
                    handed.insert(name.clone(), Running { namespace: names.namespace.clone(), set: set.clone() });
                    desired.extend(objs);
                    match (&kept, moved) {
                        (_, Some(why)) => Err(why),
                        (None, None) => Ok(ids),
                        (Some(why), None) => Err(format!(
                            "{why}: refused; the gateway keeps running with the last good settings (image {}, prefix {})",
                            w.image, w.prefix
                        )),
                    }
                }
            };
            let known = known.iter().cloned().collect();
            view.insert(
                name.clone(),
                GatewayView { names, workload, digest, known, inline: g.spec.is_inline(), toml: toml.contains(name) },
            );
        }
        // Nothing is handed to the reconciler (what runs stays as it is)
        // unless the settings are usable, or say off on purpose: settings
        // unreadable since this process started (a typo, a ConfigMap gone)
        // must not delete every gateway (there is no last good to keep).
        let hand = on || off;
        self.remember_handed(if hand { handed } else { BTreeMap::new() }, store);
        (hand.then_some(DesiredWorkloads { objects: desired, left_alone }), view)
    }

    /// Records the sets handed over this pass (nothing: none handed).
    /// (`store`: what the watch shows, which digests before it are past.)
    fn remember_handed(&mut self, handed: BTreeMap<String, Running>, store: &Store) {
        self.handed_digests.retain(|g, _| handed.contains_key(g));
        for (g, r) in &handed {
            let d = self.handed_digests.entry(g.clone()).or_default();
            let digest = r.set.digest();
            if d.list.back() == Some(&digest) {
                continue;
            }
            d.list.push_back(digest);
            if d.list.len() > HANDED_PRUNE {
                let watched = store.running.get(g).map(|w| w.set.digest());
                if let Some(at) = watched.and_then(|w| d.list.iter().position(|x| *x == w)) {
                    d.list.drain(..at);
                    d.overflowed = false;
                }
            }
            if d.list.len() > HANDED_DIGESTS {
                d.list.pop_front();
                d.overflowed = true;
            }
        }
        self.handed = handed.into_iter().map(|(g, r)| (g, Arc::new(r))).collect();
    }
}

/// `o`, carrying `set` if it is the rules ConfigMap.
fn with_set(o: &DesiredObject, set: &NatRuleSet) -> DesiredObject {
    let mut o = o.clone();
    if let Some(data) = o.fields.pointer_mut(&format!("/data/{}", crate::rules::DATA_KEY)) {
        *data = Json::String(set.to_json());
    }
    o
}

/// The owner reference of VpcNatGateway `name` as the store has it.
fn owner(store: &Store, name: &str) -> Option<OwnerRef> {
    let o = store.nat_gateways.get(name)?;
    let uid = o.pointer("/metadata/uid").and_then(Json::as_str).filter(|u| !u.is_empty())?;
    Some(OwnerRef {
        api_version: "kubeovn.io/v1".into(),
        kind: "VpcNatGateway".into(),
        name: name.to_string(),
        uid: uid.to_string(),
        namespace: None,
    })
}

/// Watches the ConfigMaps of `namespace` and publishes the settings the two
/// NAT ones make (`None` until the first list). Runs until `tx` is closed.
pub async fn watch_settings(client: Arc<KubeClient>, namespace: String, tx: watch::Sender<Option<NatSettings>>) {
    let (events_tx, mut events) = mpsc::channel(16);
    let path = format!("/api/v1/namespaces/{namespace}/configmaps");
    let watcher = tokio::spawn(watch_kind(client, path, WatchOptions::default(), events_tx));
    let mut maps: BTreeMap<String, Json> = BTreeMap::new();
    let mut listed = false;
    let name = |o: &Json| o.pointer("/metadata/name").and_then(Json::as_str).unwrap_or("").to_string();
    let ours = |n: &str| n == NAT_CONFIG || n == NAT_GW_CONFIG;
    while let Some(e) = events.recv().await {
        match e {
            Event::Restarted(all) => {
                maps = all.into_iter().filter(|o| ours(&name(o))).map(|o| (name(&o), o)).collect();
                listed = true;
            }
            Event::Applied(o) if ours(&name(&o)) => {
                maps.insert(name(&o), o);
            }
            Event::Deleted(o) => {
                maps.remove(&name(&o));
            }
            Event::Applied(_) => continue,
        }
        if !listed {
            continue;
        }
        let now = settings(&namespace, maps.get(NAT_CONFIG), maps.get(NAT_GW_CONFIG));
        tx.send_if_modified(|s| {
            let changed = s.as_ref() != Some(&now);
            if changed {
                tracing::info!(settings = ?now, "NAT gateway settings");
                *s = Some(now.clone());
            }
            changed
        });
        if tx.is_closed() {
            break;
        }
    }
    watcher.abort();
}
