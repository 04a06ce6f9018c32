//! The daemon's Kubernetes side (with a `[kubernetes]` section): watches of
//! the Vpc and Subnet resources and of pods into one [`Store`], the Lease
//! election, and a reporter that writes status, Events, finalizers, the
//! pods' annotations and Kube-OVN's defaults into accepted subnets' specs.
//!
//! The main loop reads the store and leadership from watch channels and
//! hands the reporter the verdicts of each pass; only the leader's loop
//! reconciles and reports, so only the leader writes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::annotate::{annotate_pods, Annotated};
use crate::config::KubernetesSection;
use crate::kube::client::{KubeClient, KubeError};
use crate::kube::defaults;
use crate::kube::driver::{watch as watch_resource, WatchOptions};
use crate::kube::leader::Elector;
use crate::kube::lease::{run_election, wall_clock, LeaseLock};
use crate::kube::objects::{self as workload_objects, Desired, ObjectsConfig, Outcomes, MANAGED_BY_SELECTOR};
use crate::kube::resources::{
    api_path, apply_feed, has_finalizer, set_toml_gateways, Feed, Store, Verdict, FINALIZER, RULE_SETS_PATH,
};
use crate::kube::status::{self, object_path};
use crate::model::derived::Derived;
use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::Model;

#[derive(Debug, thiserror::Error)]
pub enum KubeSideError {
    #[error("kubernetes client: {0}")]
    Client(#[from] KubeError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// What the reporter should make the resources show after a pass.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub verdicts: Vec<Verdict>,
    /// Resources being deleted whose rows are gone: drop our finalizer.
    pub finalize: Vec<ObjectKey>,
    /// Pods whose ports are in the NB, with their addresses, and pods'
    /// attachment addresses: annotate them.
    pub pods: Arc<Derived>,
    /// The model of the pass (the pods' subnets).
    pub model: Arc<Model>,
    /// Pods that want a port but get none (`<ns>/<name>`, reason): one
    /// Warning Event each, until the reason changes or goes away.
    pub pod_errors: Vec<(String, String)>,
    /// The NAT gateways' workloads and rendered sets: their verdicts are
    /// refined against the agents' reports each round (`daemon::nat::readiness`).
    pub nat: Arc<super::nat::readiness::NatView>,
}

/// The reason of the Event on a pod that gets no address.
pub const REASON_NO_ADDRESS: &str = "AddressNotAllocated";

pub struct KubeSide {
    pub store: watch::Receiver<Arc<Store>>,
    pub leading: watch::Receiver<bool>,
    /// The NAT gateway settings (`None` until the ConfigMaps are listed).
    pub nat_settings: watch::Receiver<Option<super::nat::settings::NatSettings>>,
    /// The gateway workloads the object reconciler keeps, and whether it
    /// may write (leading, and a set was handed to it this term).
    objects: watch::Sender<Arc<Desired>>,
    objects_leading: Arc<watch::Sender<bool>>,
    reports: watch::Sender<Arc<Report>>,
    /// The gateways the TOML defines, for the store (`set_toml_gateways`).
    toml_gateways: watch::Sender<BTreeSet<String>>,
    lock: LeaseLock,
    identity: String,
    tasks: Vec<JoinHandle<()>>,
}

impl KubeSide {
    /// `toml`: the gateways the TOML defines ([`KubeSide::set_toml_gateways`]).
    pub fn start(section: &KubernetesSection, toml: BTreeSet<String>) -> Result<KubeSide, KubeSideError> {
        let client = Arc::new(KubeClient::from_settings(&section.kube)?);
        let identity = section.identity()?;
        let mut tasks = vec![];
        // Watches → one store.
        let initial = Store { workloads: section.namespace.clone(), toml_gateways: toml.clone(), ..Store::default() };
        let (store_tx, store) = watch::channel(Arc::new(initial));
        let (toml_gateways, toml_rx) = watch::channel(toml);
        let mut feeds = vec![];
        for kind in Kind::ALL {
            let path = api_path(kind);
            let (tx, rx) = mpsc::channel(256);
            let opts = WatchOptions { decode: crate::kube::resources::decoder(kind), ..WatchOptions::default() };
            tasks.push(tokio::spawn(watch_resource(client.clone(), path.into(), opts, tx)));
            feeds.push((Feed::Kind(kind), rx));
        }
        // What the NAT gateways run: the rules ConfigMaps we wrote.
        let (tx, rx) = mpsc::channel(64);
        let opts = WatchOptions { label_selector: Some(MANAGED_BY_SELECTOR.into()), ..WatchOptions::default() };
        tasks.push(tokio::spawn(watch_resource(client.clone(), RULE_SETS_PATH.into(), opts, tx)));
        feeds.push((Feed::RuleSets, rx));
        tasks.push(tokio::spawn(keep_store(feeds, toml_rx, store_tx)));
        // The election.
        let lock = LeaseLock::new(client.clone(), &section.lease_namespace, &section.lease_name);
        let (leading_tx, leading) = watch::channel(false);
        let elector = Elector::new(section.election_config()?);
        tasks.push(tokio::spawn(run_election(lock.clone(), elector, leading_tx)));
        // The NAT gateways' settings and workloads.
        let (settings_tx, nat_settings) = watch::channel(None);
        tasks.push(tokio::spawn(super::nat::watch_settings(client.clone(), section.namespace.clone(), settings_tx)));
        let (objects, objects_rx) = watch::channel(Arc::new(Desired::default()));
        let (objects_leading, objects_leading_rx) = watch::channel(false);
        let objects_leading = Arc::new(objects_leading);
        // The Lease lost stops the object reconciler at once, even while the
        // loop waits on a long NB transaction (it would hand the next set).
        tasks.push(tokio::spawn(follow_election(leading.clone(), objects_leading.clone())));
        let (outcomes_tx, outcomes) = watch::channel(Arc::new(Outcomes::new()));
        let config = ObjectsConfig::new(vec![crate::kinds::vpc_nat_gateway::workload::owner_kind()]);
        tasks.push(tokio::spawn(workload_objects::run(
            client.clone(),
            config,
            objects_rx,
            objects_leading_rx,
            outcomes_tx,
        )));
        // The reporter.
        let (reports, reports_rx) = watch::channel(Arc::new(Report::default()));
        tasks.push(tokio::spawn(reporter(client, store.clone(), reports_rx, leading.clone(), outcomes)));
        tracing::info!(identity = %identity, lease = %lock.describe(), "watching Vpc and Subnet resources");
        Ok(KubeSide {
            store,
            leading,
            nat_settings,
            objects,
            objects_leading,
            reports,
            toml_gateways,
            lock,
            identity,
            tasks,
        })
    }

    /// The gateways the TOML defines now (after a reload): only the
    /// anchor's rules ConfigMaps say what they run.
    pub fn set_toml_gateways(&self, names: BTreeSet<String>) {
        self.toml_gateways.send_if_modified(|n| {
            let changed = *n != names;
            if changed {
                *n = names;
            }
            changed
        });
    }

    /// Hands the object reconciler the gateway workloads of a pass, and lets
    /// it write while we lead.
    pub fn set_workloads(&self, desired: Desired) {
        self.objects.send_if_modified(|d| {
            let changed = **d != desired;
            if changed {
                *d = Arc::new(desired);
            }
            changed
        });
        self.objects_leading.send_if_modified(|l| {
            let now = *self.leading.borrow();
            let changed = *l != now;
            *l = now;
            changed
        });
    }

    /// Leadership was lost: the object reconciler stops writing until the
    /// next set of this daemon's next term.
    pub fn stop_workloads(&self) {
        self.objects_leading.send_if_modified(|l| std::mem::replace(l, false));
    }

    pub fn report(&self, r: Report) {
        self.reports.send_replace(Arc::new(r));
    }

    /// Stops every task and, if we lead, hands the Lease over at once.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        let leading = *self.leading.borrow();
        if leading {
            match tokio::time::timeout(Duration::from_secs(2), self.lock.release(&self.identity)).await {
                Ok(Ok(true)) => tracing::info!("released the leader lease"),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot release the leader lease"),
                Err(_) => tracing::warn!("releasing the leader lease timed out"),
            }
        }
    }
}

/// Applies the watch events of every kind to the store, publishing a new
/// snapshot per burst. The store is synced once every kind was listed.
/// The snapshot is changed in place when nobody holds the last one (no
/// copy of the whole store per burst), and copied once when somebody does:
/// a snapshot taken never changes.
async fn keep_store(
    mut feeds: Vec<(Feed, mpsc::Receiver<crate::kube::watcher::Event>)>,
    mut toml: watch::Receiver<BTreeSet<String>>,
    tx: watch::Sender<Arc<Store>>,
) {
    use crate::kube::watcher::Event;
    let mut listed = vec![false; feeds.len()];
    loop {
        // The next event of any kind, then whatever else is already queued;
        // or the TOML's gateways changed (a reload).
        let next = futures_util::future::select_all(feeds.iter_mut().map(|(_, rx)| Box::pin(rx.recv())));
        let (first, i, _) = tokio::select! {
            n = next => n,
            r = toml.changed() => {
                if r.is_err() {
                    return;
                }
                let names = toml.borrow_and_update().clone();
                tx.send_if_modified(|snapshot| {
                    let changed = snapshot.toml_gateways != names;
                    if changed {
                        set_toml_gateways(Arc::make_mut(snapshot), names);
                    }
                    changed
                });
                continue;
            }
        };
        let Some(first) = first else { return };
        let mut batch = vec![(i, first)];
        for (j, (_, rx)) in feeds.iter_mut().enumerate() {
            while let Ok(e) = rx.try_recv() {
                batch.push((j, e));
            }
        }
        if tx.is_closed() {
            return;
        }
        tx.send_modify(|snapshot| {
            let store = Arc::make_mut(snapshot);
            for (j, e) in batch {
                listed[j] |= matches!(e, Event::Restarted(_));
                // Decoded by `resources::decoder`: as the store keeps them.
                apply_feed(store, feeds[j].0, e);
            }
            store.synced = listed.iter().all(|l| *l);
        });
    }
}

/// Stops the object reconciler (`objects_leading` false) as soon as the
/// election says this process does not lead; only the loop starts it again,
/// with a set rendered in the new term (`KubeSide::set_workloads`). Runs
/// until the election's channel is gone.
async fn follow_election(mut leading: watch::Receiver<bool>, objects_leading: Arc<watch::Sender<bool>>) {
    while leading.changed().await.is_ok() {
        let now = *leading.borrow_and_update();
        if !now {
            objects_leading.send_if_modified(|l| std::mem::replace(l, false));
        }
    }
}

/// Logs where each TOML gateway stands when it changes (it has no status).
fn log_toml_gateways(now: BTreeMap<String, (bool, String)>, said: &mut BTreeMap<String, (bool, String)>) {
    for (name, (applied, message)) in &now {
        if said.get(name) == Some(&(*applied, message.clone())) {
            continue;
        }
        match applied {
            true => tracing::info!(gateway = %name, %message, "TOML VpcNatGateway applied"),
            false => tracing::warn!(gateway = %name, %message, "TOML VpcNatGateway not applied"),
        }
    }
    *said = now;
}

/// Writes what the latest report asks for, while leading. A write that
/// loses a race (409) is retried against the newer object shortly after.
/// The report is also held against every new store snapshot, so a status
/// someone else edited is put back at once, not at the next pass (a write
/// that changes nothing is not sent: this costs no request).
async fn reporter(
    client: Arc<KubeClient>,
    mut store: watch::Receiver<Arc<Store>>,
    mut reports: watch::Receiver<Arc<Report>>,
    leading: watch::Receiver<bool>,
    mut outcomes: watch::Receiver<Arc<Outcomes>>,
) {
    // Objects as we last wrote them, by the resourceVersion they replaced:
    // the watch may not have brought our own write back yet.
    let mut written: HashMap<ObjectKey, (String, Json)> = HashMap::new();
    // Pod errors already reported by an Event.
    let mut told: HashSet<(String, String)> = HashSet::new();
    // Status fields the API server prunes, by kind (see `status_patch_without`).
    let mut pruned: HashMap<Kind, BTreeSet<String>> = HashMap::new();
    // Subnets whose spec got Kube-OVN's defaults, with the generation the
    // patch was sent for: at most one write per generation, even if the API
    // server drops what it is sent.
    let mut defaulted: HashMap<String, i64> = HashMap::new();
    let mut annotated = Annotated::default();
    // What was last logged of each TOML gateway.
    let mut toml_said: BTreeMap<String, (bool, String)> = BTreeMap::new();
    loop {
        let round = {
            let mut report = reports.borrow_and_update().clone();
            let synced = store.borrow().synced;
            if *leading.borrow() && synced {
                // The NAT kinds' verdicts, against what the agents report now.
                if !report.nat.is_empty() {
                    let outcomes = outcomes.borrow_and_update().clone();
                    let mut r = (*report).clone();
                    super::nat::readiness::refine(&mut r.verdicts, &r.nat, &r.model, &store.borrow(), &outcomes);
                    log_toml_gateways(
                        super::nat::readiness::toml_gateways(&r.nat, &store.borrow(), &outcomes),
                        &mut toml_said,
                    );
                    report = Arc::new(r);
                }
                let started = tokio::time::Instant::now();
                // Only what the round needs, taken at once: the snapshot is
                // not held across the writes (the store's next batch would
                // copy every object meanwhile).
                let snapshot =
                    needed(&store.borrow_and_update(), &report, &mut written, &mut defaulted, &mut annotated);
                let mut round = write_report(
                    &client,
                    &snapshot,
                    &report,
                    &mut written,
                    &mut pruned,
                    &mut defaulted,
                    &mut annotated,
                )
                .await;
                round.retry |= tell_pod_errors(&client, &snapshot, &report, &mut told).await;
                tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, more = round.more, "report round");
                round
            } else {
                annotated.forget();
                Round::default()
            }
        };
        if round.more {
            continue;
        }
        if round.retry {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                r = reports.changed() => if r.is_err() { return },
            }
        } else {
            tokio::select! {
                r = reports.changed() => if r.is_err() { return },
                r = store.changed() => if r.is_err() { return },
                r = outcomes.changed() => if r.is_err() { return },
            }
        }
    }
}

fn resource_version(o: &Json) -> &str {
    o.pointer("/metadata/resourceVersion").and_then(Json::as_str).unwrap_or("")
}

/// What a round of writes needs of `store`: the objects with a verdict or
/// to finalize, and the pods to annotate (changed since the last round and
/// not found done: see `daemon::annotate`) or to tell about; the
/// bookkeeping of statuses of objects gone is dropped here. The copy shares
/// every object (`Arc`).
fn needed(
    store: &Store,
    report: &Report,
    written: &mut HashMap<ObjectKey, (String, Json)>,
    defaulted: &mut HashMap<String, i64>,
    annotated: &mut Annotated,
) -> Store {
    written.retain(|o, _| store.of_kind(o.kind).contains_key(&o.qualified_name()));
    defaulted.retain(|n, _| store.subnets.contains_key(n));
    let mut out = Store { synced: store.synced, ..Store::default() };
    for object in report.verdicts.iter().map(|v| &v.object).chain(&report.finalize) {
        let key = object.qualified_name();
        if let Some(obj) = store.of_kind(object.kind).get(&key) {
            out.of_kind_mut(object.kind).insert(key, obj.clone());
        }
    }
    for (key, pod) in annotated.this_round(&report.model, store, &report.pods) {
        out.pods.insert(key.clone(), pod.clone());
    }
    for (key, _) in &report.pod_errors {
        if let Some(pod) = store.pods.get(key) {
            out.pods.insert(key.clone(), pod.clone());
        }
    }
    out
}

/// Status and finalizer writes that succeed in one round at most: the round
/// ends after them and the next starts at once, with the pods first, so a
/// pod created meanwhile is not kept waiting behind a thousand statuses.
/// (Only successes count: writes that fail do not make rounds spin.)
const WRITES_PER_ROUND: usize = 32;

/// What a round of writes left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Round {
    /// Something lost a race or failed: again shortly.
    retry: bool,
    /// The round stopped at [`WRITES_PER_ROUND`]: again at once.
    more: bool,
}

/// One round of writes: pods first, then at most [`WRITES_PER_ROUND`]
/// status and finalizer writes. `store` holds what the round needs (see
/// [`needed`]).
async fn write_report(
    client: &KubeClient,
    store: &Store,
    report: &Report,
    written: &mut HashMap<ObjectKey, (String, Json)>,
    pruned: &mut HashMap<Kind, BTreeSet<String>>,
    defaulted: &mut HashMap<String, i64>,
    annotated: &mut Annotated,
) -> Round {
    let mut retry = annotate_pods(client, store, &report.pods, &report.model, annotated).await;
    let mut sent = 0;
    let now = wall_clock();
    for v in &report.verdicts {
        if sent >= WRITES_PER_ROUND {
            return Round { retry, more: true };
        }
        let Some(seen) = store.of_kind(v.object.kind).get(&v.object.qualified_name()) else { continue };
        if seen.pointer("/metadata/generation").and_then(Json::as_i64) != v.generation {
            continue; // a newer spec: the next pass decides
        }
        let key = v.object.clone();
        let current = match written.get(&key) {
            Some((from, ours)) if from == resource_version(seen) => ours.clone(),
            _ => (**seen).clone(),
        };
        let mut current = current;
        if current.pointer("/metadata/generation").and_then(Json::as_i64) != v.generation {
            continue; // our own spec write moved it on: the next pass decides
        }
        if !has_finalizer(&current) {
            match set_finalizer(client, &v.object, &current, true).await {
                Ok(o) => {
                    sent += 1;
                    current = o;
                }
                Err(e) => {
                    retry |= e.code() == 409;
                    if e.code() != 409 {
                        tracing::warn!(object = %v.object, error = %e, "cannot add the finalizer");
                    }
                    continue;
                }
            }
        }
        match write_defaults(client, v, &current, defaulted).await {
            Ok(Some(o)) => {
                sent += 1;
                // A new generation: its status comes with the next pass's verdict.
                written.insert(key, (resource_version(seen).to_string(), o));
                continue;
            }
            Ok(None) => {}
            Err(e) if e.code() == 409 => {
                retry = true;
                tracing::debug!(object = %v.object, error = %e, "spec defaults lost a race; retrying");
                continue;
            }
            Err(e) => tracing::warn!(object = %v.object, error = %e, "cannot write the subnet's defaults"),
        }
        let skip = pruned.entry(v.object.kind).or_default();
        match status::report_without(client, v.object.kind, &current, &v.outcome, &v.fields, &now, skip).await {
            Ok(r) => {
                sent += usize::from(r.written.is_some());
                if !r.pruned.is_empty() {
                    tracing::info!(kind = %v.object.kind, fields = ?r.pruned, "status fields pruned by the CRD schema; not written again");
                    skip.extend(r.pruned);
                }
                if let Some(o) =
                    r.written.or_else(|| (resource_version(&current) != resource_version(seen)).then_some(current))
                {
                    written.insert(key, (resource_version(seen).to_string(), o));
                }
            }
            // A conflict is expected (the object moved on since we read it):
            // retried against the newer version shortly.
            Err(e) if e.code() == 409 => {
                retry = true;
                tracing::debug!(object = %v.object, error = %e, "status write lost a race; retrying");
            }
            Err(e) => tracing::warn!(object = %v.object, error = %e, "cannot write status"),
        }
    }
    for object in &report.finalize {
        let Some(obj) = store.of_kind(object.kind).get(&object.qualified_name()) else { continue };
        if has_finalizer(obj) {
            if sent >= WRITES_PER_ROUND {
                return Round { retry, more: true };
            }
            match set_finalizer(client, object, obj, false).await {
                Ok(_) => {
                    sent += 1;
                    tracing::info!(%object, "rows removed; finalizer released");
                }
                Err(e) if e.code() == 404 => {}
                Err(e) => {
                    retry = true;
                    tracing::warn!(%object, error = %e, "cannot release the finalizer");
                }
            }
        }
    }
    Round { retry, more: false }
}

/// Adds Kube-OVN's defaults to an accepted Subnet's spec (see
/// `kube/defaults.rs`), once per generation; the object as stored when
/// something was written.
async fn write_defaults(
    client: &KubeClient,
    v: &Verdict,
    current: &Json,
    defaulted: &mut HashMap<String, i64>,
) -> Result<Option<Json>, KubeError> {
    let generation = current.pointer("/metadata/generation").and_then(Json::as_i64).unwrap_or(0);
    if defaulted.get(&v.object.name) == Some(&generation) {
        return Ok(None);
    }
    let Some(patch) = defaults::defaults_patch(current, &v.defaults) else { return Ok(None) };
    let path = object_path(&v.object);
    let stored = defaults::write_defaults(client, &path, &patch).await?;
    defaulted.insert(v.object.name.clone(), generation);
    tracing::info!(object = %v.object, fields = ?patch["spec"].as_object().map(|m| m.keys().collect::<Vec<_>>()), "Kube-OVN's defaults written into the subnet's spec");
    Ok(Some(stored))
}

/// One Warning Event per pod error (true if one should be retried).
async fn tell_pod_errors(
    client: &KubeClient,
    store: &Store,
    report: &Report,
    told: &mut HashSet<(String, String)>,
) -> bool {
    told.retain(|e| report.pod_errors.contains(e));
    let mut retry = false;
    let now = wall_clock();
    let new: Vec<&(String, String)> = report.pod_errors.iter().filter(|e| !told.contains(*e)).collect();
    for e in new {
        let Some(pod) = store.pods.get(&e.0) else { continue };
        let mut pod = (**pod).clone();
        pod["apiVersion"] = json!("v1"); // list items may not say
        let event =
            crate::kube::events::warning_event(crate::model::object::Kind::Pod, &pod, REASON_NO_ADDRESS, &e.1, &now);
        match crate::kube::events::post_event(client, &event).await {
            Ok(_) => {
                told.insert(e.clone());
            }
            Err(err) => {
                retry = true;
                tracing::warn!(pod = %e.0, error = %err, "cannot post an Event");
            }
        }
    }
    retry
}

/// Adds or removes our finalizer, conditional on the resourceVersion read.
async fn set_finalizer(client: &KubeClient, object: &ObjectKey, obj: &Json, present: bool) -> Result<Json, KubeError> {
    let mut list: Vec<Json> = obj
        .pointer("/metadata/finalizers")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.as_str() != Some(FINALIZER))
        .collect();
    if present {
        list.push(json!(FINALIZER));
    }
    let path = object_path(object);
    let patch = json!({"metadata": {"finalizers": list, "resourceVersion": resource_version(obj)}});
    client.merge_patch(&path, &patch).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Lease lost stops the object reconciler without the loop, and
    /// won again does not start it: only a set handed in the new term does.
    #[tokio::test(start_paused = true)]
    async fn the_object_reconciler_stops_when_the_lease_is_lost() {
        let (election, leading) = watch::channel(true);
        let objects_leading = Arc::new(watch::channel(true).0);
        let mut seen = objects_leading.subscribe();
        let task = tokio::spawn(follow_election(leading, objects_leading.clone()));
        election.send_replace(false);
        tokio::time::timeout(Duration::from_secs(1), seen.wait_for(|l| !*l)).await.unwrap().unwrap();
        election.send_replace(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!*objects_leading.borrow(), "won again: still stopped until a set is handed");
        drop(election);
        task.await.unwrap();
    }
}
