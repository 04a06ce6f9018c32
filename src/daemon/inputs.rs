//! The daemon's inputs: the TOML file (re-read on change and SIGHUP, acted
//! on only once stable; a bad or empty file keeps the last good one in
//! force) and, with `[kubernetes]`, the Vpc and Subnet resources; what they
//! validate to together; and the mass-removal guard of each pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::metrics::Metrics;
use super::nat::NatSide;
use super::pods::PodPorts;
use super::settle::{Decision, Reading, Settle, SETTLE};
use crate::config::{Config, ConfigError};
use crate::kinds::vpc_nat_gateway::running::RunningSets;
use crate::kube::resources::{merge, Merged, Store, NAME_CLASH_FIELD};
use crate::model::derived::Derived;
use crate::model::names::NbState;
use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::{
    drop_eip, drop_gateway, validate_keeping, validate_nat, Model, NatSpecs, Rejection, Running,
};
use crate::nb::rows::{OWNER_KEY, VENDOR, VENDOR_KEY};
use crate::ovsdb::{Cache, Client};
use crate::reconcile::nb_state::nb_state;
use crate::reconcile::removal::{self, MassRemoval, Owned};
use tokio::time::Instant;

/// One successfully parsed configuration text.
pub struct Loaded {
    pub text: String,
    pub config: Config,
}

impl Loaded {
    pub fn new(path: &str, text: String) -> Result<Loaded, ConfigError> {
        let config = Config::parse(path, &text)?;
        Ok(Loaded { text, config })
    }
}

/// The validated desired state of the TOML and the resources together.
pub struct Desired {
    pub merged: Merged,
    pub model: Arc<Model>,
    /// What is derived from other objects (the pods' ports).
    pub derived: Arc<Derived>,
    /// Refused objects, whose rows are left as they are: by validation, by
    /// the merge (a spec that does not decode), and pods whose subnet is
    /// refused (they keep their ports).
    pub rejected: Vec<Rejection>,
    /// The model and refusals of validation and the merge alone, before
    /// the pods are looked at (a pass whose specs are unchanged reuses them).
    validated_model: Arc<Model>,
    validated: Vec<Rejection>,
    /// What the NB held when this was validated (incumbent names, foreign
    /// rows): a change of it re-validates.
    pub nb: Arc<NbState>,
    /// Validated against the synced NB, and with Kubernetes every resource
    /// listed, so the pods' ports are derived too (the IPAM is rebuilt
    /// from both). A pass must not run before.
    pub complete: bool,
    /// What `merged` was merged from: the configuration and the store's
    /// maps that the merge reads (`None` without a store). A store whose
    /// maps are these same versions merges the same (see [`Desired::after`]).
    merged_from: Option<Arc<(Config, Store)>>,
    /// What validation read of the NAT gateways besides the merged specs:
    /// a change of it validates anew.
    nat_basis: NatBasis,
}

/// What validation reads of the store besides the merged specs: what the
/// NAT gateways run as the watch shows it (`Store::running`) and which of
/// them run a set this build cannot read (`Store::unreadable`). Neither is
/// merged (a merge may be reused across their changes), so validation
/// stands only while this is the same: a rules ConfigMap changed alone (an
/// agent applied a set, a claim released) validates anew. (What this
/// process rendered is read ahead of it, `NatSide::rendered`: it changes
/// with the passes, which follow validation.)
#[derive(Clone, Debug, Default, PartialEq)]
struct NatBasis {
    running: Arc<RunningSets>,
    unreadable: Arc<BTreeMap<String, String>>,
}

impl NatBasis {
    fn of(store: Option<&Store>) -> NatBasis {
        store.map_or_else(NatBasis::default, |s| NatBasis {
            running: s.running.clone(),
            unreadable: s.unreadable.clone(),
        })
    }
}

impl Desired {
    /// The desired state of `config` and `store` (the resources, when the
    /// daemon watches them), with `pods` and the NB client (`None` while the
    /// NB is not synced) for the pods' ports, and `nat`: what this process
    /// handed the NAT gateways so far (what they run, ahead of the watch:
    /// `NatSide::rendered`). After `prev` (a change of the resources or pods
    /// only): when the merged specs are those `prev` validated (against the
    /// synced NB), its model and refusals stand and only the pods are
    /// derived anew.
    /// A change of the NB goes through [`Desired::nb_moved`] and `after(None, ..)`.
    pub fn after(
        prev: Option<&Desired>,
        config: &Config,
        store: Option<&Store>,
        pods: &mut PodPorts,
        nb: Option<&Client>,
        nat: Option<&NatSide>,
    ) -> Desired {
        let t0 = Instant::now();
        // The same configuration, and the merged maps changed only in what
        // merging does not read (persistent maps: a pointer comparison
        // each, then the keys their logs name): a burst of pod events, a
        // status written back, does not decode every resource again; a
        // default written into a spec moves only its generation.
        let changes = |p: &Desired| {
            let (from, s) = (p.merged_from.as_ref()?, store?);
            (from.0 == *config).then(|| from.1.merge_changes(s)).flatten()
        };
        let again = prev.and_then(|p| Some((p, changes(p)?)));
        let merged_again = again.as_ref().map(|(p, _)| *p);
        // Merged from these maps now (when only what merging does not read
        // changed, the next comparison starts from here, not further back).
        let merged_from = match (merged_again, store) {
            (Some(p), Some(s)) if !p.merged_from.as_ref().is_some_and(|f| f.1.same_maps(s)) => {
                Some(Arc::new((config.clone(), s.merge_inputs())))
            }
            (Some(p), _) => p.merged_from.clone(),
            (None, Some(s)) => Some(Arc::new((config.clone(), s.merge_inputs()))),
            (None, None) => None,
        };
        let merged = match (again, store) {
            (Some((p, generations)), _) => p.merged.with_generations(generations),
            (None, Some(s)) => merge(config, s),
            (None, None) => Merged {
                vpcs: config.vpcs.clone(),
                subnets: config.subnets.clone(),
                nat: config.nat.clone(),
                toml_gateways: config.nat.gateways.iter().map(|(n, _)| n.clone()).collect(),
                ..Merged::default()
            },
        };
        let t_merge = t0.elapsed();
        // (Merged again from the same sources: equal without comparing.)
        // What the gateways run is read from the store now, not from the
        // merge (which may be reused from before the rules ConfigMaps were
        // listed or changed): a change of it validates anew.
        let nat_basis = NatBasis::of(store);
        let reuse = prev.filter(|p| {
            p.complete
                && nb.is_some()
                && p.nat_basis == nat_basis
                && (merged_again.is_some() || p.merged.same_specs(&merged))
        });
        let (validated_model, nb_now, validated) = match reuse {
            Some(p) => (p.validated_model.clone(), p.nb.clone(), p.validated.clone()),
            None => {
                let nb_now = nb.map(|c| nb_state(&c.cache())).unwrap_or_default();
                // A resource whose spec does not decode keeps its rows as well (a
                // TOML name clash concerns the resource only: the TOML's object stays),
                // and so its names and networks.
                let undecoded: Vec<&Rejection> =
                    merged.refused.iter().filter(|r| r.field != NAME_CLASH_FIELD).collect();
                let kept: BTreeSet<String> = undecoded.iter().map(|r| r.object.owner_tag()).collect();
                let (mut model, mut rejected) = validate_keeping(&merged.vpcs, &merged.subnets, &nb_now, &kept);
                // What runs is what this process last rendered, ahead of
                // the watch (which loses a rules ConfigMap while it is made
                // again): who holds a claim does not lapse meanwhile.
                let rendered = match (nat, store) {
                    (Some(n), Some(s)) => n.rendered(s, &merged.toml_gateways),
                    (None, _) | (_, None) => Default::default(),
                };
                let watched = store.map_or(&merged.nat.running.0, |s| &*s.running);
                let specs = NatSpecs {
                    running: Running::ahead(rendered, watched),
                    unreadable: (*nat_basis.unreadable).clone(),
                    ..merged.nat.clone()
                };
                rejected.extend(validate_nat(&mut model, &specs));
                rejected.extend(undecoded.into_iter().cloned());
                (Arc::new(model), Arc::new(nb_now), rejected)
            }
        };
        let t_validate = t0.elapsed();
        let mut model = validated_model.clone();
        let mut rejected = validated.clone();
        let mut t_pods = t_validate;
        let (derived, complete) = match (store, nb) {
            (_, None) => (Arc::default(), false),
            (None, Some(_)) => (Arc::default(), true),
            (Some(s), Some(nb)) if s.synced => {
                let workloads = config.kubernetes.as_ref().map_or(crate::config::DEFAULT_NAMESPACE, |k| &k.namespace);
                let (m, r, held, derived) =
                    with_pods(pods, s, &nb.cache(), &validated_model, &validated, &nb_now, workloads);
                (model, rejected) = (m, r);
                t_pods = t0.elapsed();
                rejected.extend(held_pods(&nb.cache(), &held));
                (derived, true)
            }
            (Some(_), Some(_)) => (Arc::default(), false),
        };
        let us = |d: std::time::Duration| d.as_micros() as u64;
        tracing::debug!(
            merge_us = us(t_merge),
            merged = merged_again.is_none(),
            validate_us = us(t_validate - t_merge),
            revalidated = reuse.is_none(),
            pods_us = us(t_pods - t_validate),
            rederived = pods.rederived(),
            held_us = us(t0.elapsed() - t_pods),
            pods = derived.pods.len(),
            "inputs derived"
        );
        Desired {
            merged,
            model,
            validated_model,
            derived,
            rejected,
            validated,
            nb: nb_now,
            complete,
            merged_from,
            nat_basis,
        }
    }

    /// `newer` merged the same specs from newer versions of the store's
    /// maps (a status written, say): later derivations compare against
    /// those, so that they need not merge again.
    pub fn merged_from_newer(&mut self, newer: &Desired) {
        if newer.merged == self.merged {
            self.merged_from.clone_from(&newer.merged_from);
        }
    }

    /// The NB no longer holds what this state was validated against.
    pub fn nb_moved(&self, client: &Client) -> bool {
        nb_state(&client.cache()) != *self.nb
    }

    /// Refusals of this state that are not in `before`, for the log.
    pub fn log_news(&self, before: Option<&Desired>) {
        let old_notices = before.map(|d| d.model.notices.as_slice()).unwrap_or_default();
        for n in self.model.notices.iter().filter(|n| !old_notices.contains(n)) {
            tracing::warn!(notice = %n, "configuration field not realised");
        }
        let old_refused = before.map(|d| d.merged.refused.as_slice()).unwrap_or_default();
        for r in self.merged.refused.iter().filter(|r| !old_refused.contains(r)) {
            tracing::error!(refused = %r, "resource refused");
        }
    }
}

/// One reading of the file: its length and modification time before and
/// after reading the text (see [`Reading::new`]).
fn read_once(path: &Path) -> std::io::Result<Reading> {
    use std::os::unix::fs::MetadataExt;
    let stamp = || std::fs::metadata(path).map(|m| (m.len(), m.mtime(), m.mtime_nsec()));
    let before = stamp()?;
    let text = std::fs::read_to_string(path)?;
    Ok(Reading::new(text, before, stamp()?))
}

/// How many readings a SIGHUP's reload takes at most before leaving a file
/// that is still being written to the next poll.
const READINGS: usize = 10;

/// What one poll of the config file found ([`poll_reload`]).
pub enum Polled {
    /// A stable new text, valid: load it (boxed: a configuration is large).
    Loaded(Box<Loaded>),
    /// Nothing to act on: unchanged, empty, unreadable or invalid (each bad
    /// text reported once); the last good configuration stays in force.
    Nothing,
    /// Changed but not yet stable: read again at this time.
    RecheckAt(Instant),
}

/// One reading of the config file by the poll, acted on once it is stable
/// (see [`Settle`]). Never waits: a text not yet stable asks for a reading
/// at a later time instead ([`Polled::RecheckAt`]), so that the loop stays
/// free meanwhile (a SIGHUP then acts at once).
pub fn poll_reload(path: &Path, settle: &mut Settle, metrics: &Metrics) -> Polled {
    let reading = match read_once(path) {
        Ok(r) => r,
        Err(_) => return Polled::Nothing,
    };
    let now = Instant::now();
    match settle.observe(now, reading) {
        // Half the settle time between readings while the file changes: a
        // writer rewriting it at a steady pace cannot keep every reading
        // off its quiet spells (readings a whole SETTLE apart can fall into
        // step with it), so any spell of 1.5 x SETTLE is seen twice.
        Decision::Recheck(at) => Polled::RecheckAt(at.min(now + SETTLE / 2)),
        decision => load(path, decision, metrics).map_or(Polled::Nothing, |l| Polled::Loaded(Box::new(l))),
    }
}

/// Re-reads the config file on SIGHUP and loads it even if unchanged (see
/// [`Settle`]), reading again while it is torn (at most [`READINGS`]
/// times): `None` while it is still being written, empty, unreadable or
/// invalid, which keeps the last good configuration in force. Each bad
/// text is reported once.
pub async fn reload(path: &Path, settle: &mut Settle, metrics: &Metrics) -> Option<Loaded> {
    let shown = path.display().to_string();
    settle.force();
    for _ in 0..READINGS {
        let reading = match read_once(path) {
            Ok(r) => r,
            Err(e) => {
                metrics.config_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(path = %shown, error = %e, "cannot read configuration; keeping the last good one");
                return None;
            }
        };
        match settle.observe(Instant::now(), reading) {
            Decision::Recheck(at) => tokio::time::sleep_until(at).await,
            decision => return load(path, decision, metrics),
        }
    }
    tracing::debug!(path = %shown, "configuration still being written; looking again later");
    None
}

/// Acts on a decision other than [`Decision::Recheck`]: the loaded text,
/// or `None` (said once per bad text).
fn load(path: &Path, decision: Decision, metrics: &Metrics) -> Option<Loaded> {
    let shown = path.display().to_string();
    let text = match decision {
        Decision::Unchanged | Decision::Recheck(_) => return None,
        Decision::Empty => {
            metrics.config_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(path = %shown, "configuration file is empty; keeping the last good one");
            return None;
        }
        Decision::Load(text) => text,
    };
    match Loaded::new(&shown, text) {
        Ok(l) => {
            let (vpcs, subnets) = (l.config.vpcs.len(), l.config.subnets.len());
            let nat_gateways = l.config.nat.gateways.len();
            tracing::info!(path = %shown, vpcs, subnets, nat_gateways, "configuration loaded");
            Some(l)
        }
        Err(e) => {
            metrics.config_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "invalid configuration; keeping the last good one");
            None
        }
    }
}

/// The first reading at start, once stable (or, if the file never settles
/// within a second, the last text read).
pub async fn first_read(path: &Path) -> std::io::Result<String> {
    let mut settle = Settle::new(String::new());
    settle.force();
    let mut last = String::new();
    for _ in 0..20 {
        let reading = read_once(path)?;
        last.clone_from(&reading.text);
        match settle.observe(Instant::now(), reading) {
            Decision::Recheck(at) => tokio::time::sleep_until(at).await,
            Decision::Load(text) => return Ok(text),
            Decision::Unchanged | Decision::Empty => return Ok(last),
        }
    }
    Ok(last)
}

/// The mass-removal rule of `run` (see [`crate::reconcile::removal`]):
/// remembers the refusal in force, so that it is logged once.
#[derive(Default)]
pub struct RemovalGuard {
    refused: Option<MassRemoval>,
}

impl RemovalGuard {
    /// A mass removal was refused in the last pass.
    pub fn refusing(&self) -> bool {
        self.refused.is_some()
    }

    /// The refusals a pass over `desired` must respect: the validation's,
    /// plus, when the pass would remove most tenants and `allow` is not
    /// set, every object it would remove (their rows stay as they are).
    pub fn rejected(&mut self, desired: &Desired, allow: bool, client: &Client, metrics: &Metrics) -> Vec<Rejection> {
        let refused = if allow {
            None
        } else {
            let owned = Owned::of(&client.cache());
            removal::judge(&owned, &desired.model, &desired.rejected, &desired.merged.deleting)
        };
        if refused != self.refused {
            match &refused {
                Some(m) => tracing::error!(refused = %m, "mass removal refused; those tenants' rows are kept"),
                None if self.refused.is_some() => tracing::info!(allowed = allow, "mass removal no longer refused"),
                None => {}
            }
        }
        *metrics.mass_removal.lock().expect("metrics lock") = refused.as_ref().map(ToString::to_string);
        let mut out = desired.rejected.clone();
        out.extend(refused.iter().flat_map(MassRemoval::rejections));
        self.refused = refused;
        out
    }
}

/// Pods whose ports sit on a refused subnet's switch: their ports stay as
/// they are until the subnet is valid again (or deleted).
/// Subnets refused but not deleted: their rows and pods' addresses stay.
fn held_subnets(rejected: &[Rejection]) -> BTreeSet<String> {
    rejected.iter().filter(|r| r.object.kind == Kind::Subnet).map(|r| r.object.name.clone()).collect()
}

/// The pods' ports, with the model, refusals and held subnets after the
/// eviction rule: a change that would take running pods' addresses (their
/// ports) is refused; the subnet and its pods keep their rows. The rule is
/// applied at every pass, not kept with the validation, since the pods in
/// the way may be gone; and when this very pass releases them (they were
/// deleted) it is applied again at once, since no later event may come.
fn with_pods(
    pods: &mut PodPorts,
    store: &Store,
    cache: &Cache,
    validated_model: &Arc<Model>,
    validated: &[Rejection],
    nb: &Arc<NbState>,
    workloads: &str,
) -> (Arc<Model>, Vec<Rejection>, BTreeSet<String>, Arc<Derived>) {
    pods.restore_once(store, validated_model, cache);
    let mut evict = pods.would_evict(store, validated_model);
    // Each round releases pods only, so the set shrinks; three at most.
    let mut rounds = 0;
    loop {
        rounds += 1;
        let (mut model, mut rejected) = (validated_model.clone(), validated.to_vec());
        let mut held = held_subnets(&rejected);
        for (subnet, evicted) in &evict {
            let why = format!(
                "this change would release the addresses of {} pod(s) that no longer fit ({}); \
                 delete them first, or change it back",
                evicted.len(),
                evicted.join(", ")
            );
            rejected.push(Rejection::new(ObjectKey::subnet(subnet), "spec", why));
            Arc::make_mut(&mut model).subnets.remove(subnet);
            held.insert(subnet.clone());
        }
        pods.set_workloads(workloads);
        let derived = pods.update(store, &model, cache, &held, nb);
        let after = if evict.is_empty() { BTreeMap::new() } else { pods.would_evict(store, validated_model) };
        if after == evict || rounds == 3 {
            rejected.extend(nat_after_ipam(pods, &mut model, &derived));
            return (model, rejected, held, derived);
        }
        evict = after;
    }
}

/// The refusals of the NAT kinds that need the IPAM: an EIP whose address
/// could not be had (out of the model, its rules waiting, unless it keeps the
/// address it had: then it stays as it was), and a gateway whose `lanIp` or
/// inline EIP another holds (out of the model with its EIPs and rules, which
/// wait; the holder keeps its address). Which pod is a gateway's own, and
/// what a gateway holds, is `daemon::pods::gateways`'.
fn nat_after_ipam(pods: &PodPorts, model: &mut Arc<Model>, derived: &Derived) -> Vec<Rejection> {
    let mut out = vec![];
    for (name, why) in pods.eip_errors() {
        let Some(e) = model.eips.get(name) else { continue };
        let field = if e.v4ip.is_some() { "v4ip" } else { "externalSubnet" };
        out.push(Rejection::new(ObjectKey::cluster(Kind::IptablesEip, name), field, why.clone()));
        if !derived.eips.contains_key(name) {
            out.extend(drop_eip(Arc::make_mut(model), name));
        }
    }
    for (name, (field, why)) in pods.gateway_errors() {
        if !model.nat_gateways.contains_key(name) {
            continue;
        }
        out.push(Rejection::new(ObjectKey::cluster(Kind::VpcNatGateway, name), field.as_str(), why.clone()));
        out.extend(drop_gateway(Arc::make_mut(model), name));
    }
    out
}

fn held_pods(cache: &Cache, held: &BTreeSet<String>) -> Vec<Rejection> {
    let Some(ports) = cache.table("Logical_Switch_Port") else { return vec![] };
    let mut out = vec![];
    for subnet in held {
        for p in ports.by_external_id("ls", subnet).filter(|p| p.external_id(VENDOR_KEY) == Some(VENDOR)) {
            let Some(pod) = p.external_id(OWNER_KEY).and_then(ObjectKey::from_owner_tag) else { continue };
            if pod.kind != Kind::Pod {
                continue;
            }
            let why = format!("subnet {subnet:?} is refused; the pod's port is kept as it is");
            out.push(Rejection::waiting(pod, "subnet", why));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const FULL: &str = "[[vpc]]\nname = \"a\"\n\n[[vpc]]\nname = \"b\"\n";

    /// A merge reused across a status written back must not carry the
    /// validation past a change of what a gateway runs: that is read from
    /// the store, not merged (a claim released when an agent applies a
    /// new set lets a waiting rule in).
    #[test]
    fn what_a_gateway_runs_is_part_of_what_validation_stands_on() {
        use crate::kube::resources::{apply_feed, tests::rules_cm, Feed};
        use crate::kube::watcher::Event;
        let mut s = Store { synced: true, ..Store::default() };
        s.nat_gateways.insert("gw1".into(), Arc::new(serde_json::json!({"metadata": {"name": "gw1", "uid": "u1"}})));
        s.subnets.insert("n".into(), Arc::new(serde_json::json!({"metadata": {"name": "n", "generation": 1}})));
        apply_feed(&mut s, Feed::RuleSets, Event::Restarted(vec![rules_cm("kube-system", "gw1", "u1")]));
        let (from, basis) = (s.merge_inputs(), NatBasis::of(Some(&s)));
        // A status written back: the same merge, the same basis.
        let mut echoed = (*s.subnets["n"]).clone();
        echoed["status"] = serde_json::json!({"v4usingIPs": 1});
        s.subnets.insert("n".into(), Arc::new(echoed));
        assert!(from.same_merge_inputs(&s));
        assert_eq!(NatBasis::of(Some(&s)), basis);
        // The agent applied a new set: still the same merge, not the same basis.
        let mut cm = rules_cm("kube-system", "gw1", "u1");
        let text = cm["data"]["rules.json"].as_str().unwrap().replace("10.0.1.254", "10.0.1.253");
        cm["data"]["rules.json"] = serde_json::json!(text);
        apply_feed(&mut s, Feed::RuleSets, Event::Applied(cm));
        assert!(from.same_merge_inputs(&s), "what runs is not merged");
        assert_ne!(NatBasis::of(Some(&s)), basis, "validation would stand on what ran before");
    }

    /// The poll as the loop drives it: read again at each recheck time.
    async fn poll(path: &Path, settle: &mut Settle, metrics: &Metrics) -> Option<Loaded> {
        loop {
            match poll_reload(path, settle, metrics) {
                Polled::Loaded(l) => return Some(*l),
                Polled::Nothing => return None,
                Polled::RecheckAt(at) => tokio::time::sleep_until(at).await,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_waits_for_the_writer_to_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "").unwrap();
        let mut settle = Settle::new(String::new());
        let metrics = Metrics::default();
        // Cut after the first table: valid TOML, one tenant fewer.
        std::fs::write(&path, &FULL[..FULL.find("\n\n").unwrap() + 1]).unwrap();
        let writer = {
            let path = path.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                std::fs::write(&path, FULL).unwrap();
            })
        };
        let loaded = poll(&path, &mut settle, &metrics).await.expect("loaded once stable");
        writer.await.unwrap();
        assert_eq!(loaded.text, FULL);
        assert_eq!(loaded.config.vpcs.len(), 2);
        assert!(poll(&path, &mut settle, &metrics).await.is_none(), "unchanged");

        // Emptied: never a configuration; counted once.
        std::fs::write(&path, "\n  \n").unwrap();
        assert!(poll(&path, &mut settle, &metrics).await.is_none());
        assert!(poll(&path, &mut settle, &metrics).await.is_none());
        assert_eq!(metrics.config_errors.load(Ordering::Relaxed), 1);
        // SIGHUP on the good file loads it, even though it was loaded before.
        std::fs::write(&path, FULL).unwrap();
        assert!(poll(&path, &mut settle, &metrics).await.is_some());
        assert!(reload(&path, &mut settle, &metrics).await.is_some());
    }

    /// A poll that finds the file changed does not wait for it to settle:
    /// it asks for a later reading, and a SIGHUP meanwhile loads the file
    /// at once (the operator's word that it is complete).
    #[tokio::test(start_paused = true)]
    async fn a_poll_never_waits_and_a_sighup_meanwhile_acts_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, FULL).unwrap();
        let mut settle = Settle::new(String::new());
        let metrics = Metrics::default();
        let t0 = Instant::now();
        match poll_reload(&path, &mut settle, &metrics) {
            Polled::RecheckAt(at) => assert_eq!(at, t0 + SETTLE / 2),
            Polled::Loaded(_) | Polled::Nothing => panic!("acted on a text not yet stable"),
        }
        let loaded = reload(&path, &mut settle, &metrics).await.expect("the SIGHUP loads it");
        assert_eq!((loaded.text.as_str(), Instant::now()), (FULL, t0), "at once");
        assert!(matches!(poll_reload(&path, &mut settle, &metrics), Polled::Nothing), "acted on already");
    }
}
