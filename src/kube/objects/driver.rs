//! The I/O driver of the object reconciler: list+watch of every managed
//! kind (label-selected, through `kube::driver::watch`) into the observed
//! store, the desired set and leadership from watch channels, the pure
//! [`diff`], and the writes, each with a timeout.
//!
//! - Only the leader writes: while `leading` is false nothing is sent, and
//!   requests in flight when leadership ends are abandoned. Every
//!   `false → true` starts afresh.
//! - Nothing is written before every kind was listed (an unlisted object
//!   would look absent and be created twice).
//! - At most one request per object is in flight, and after a write the
//!   object waits for the watch to show it (`pace.rs`): a 409 is a re-read,
//!   never an overwrite.
//! - A create meeting an object outside our label selection (409
//!   AlreadyExists) reads it once: if it is foreign, the desired object is
//!   refused with the API server's message and why; it is tried again only
//!   after a backoff (a watch of our label cannot see it go).
//! - Failures are retried per object after a backoff (`pace.rs`); a new
//!   desired version of the object resets it. A write whose answer does not
//!   show what was rendered is refused rather than sent again.
//! - Outcomes: per desired object, the latest [`Outcome`], on a watch
//!   channel; objects no longer desired leave the map.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::diff::{diff, foreign_reason, owned_patch, Action, Desired, DesiredObject};
use super::kind::{ObjectId, ObjectKind, OwnerKind, MANAGED_BY_SELECTOR};
use super::pace::{Pacer, Sent};
use crate::backoff::BackoffConfig;
use crate::kube::client::{KubeClient, KubeError};
use crate::kube::driver::{watch as watch_kind, WatchOptions};
use crate::kube::watcher::Event;

#[derive(Clone, Debug)]
pub struct ObjectsConfig {
    /// The kinds of resources whose objects own the managed objects.
    pub owners: Vec<OwnerKind>,
    /// The kinds watched and managed.
    pub kinds: Vec<ObjectKind>,
    /// Paging and timeouts of the watches (the label selector is ours).
    pub watch: WatchOptions,
    /// Each write gives up after this (and is retried).
    pub request_timeout: Duration,
    pub retry: BackoffConfig,
    /// How long a write waits for the watch to show it before the object is
    /// looked at again regardless.
    pub settle: Duration,
}

impl ObjectsConfig {
    pub fn new(owners: Vec<OwnerKind>) -> ObjectsConfig {
        ObjectsConfig {
            owners,
            kinds: ObjectKind::ALL.to_vec(),
            watch: WatchOptions::default(),
            request_timeout: Duration::from_secs(10),
            retry: BackoffConfig {
                initial: Duration::from_millis(200),
                max: Duration::from_secs(30),
                factor: 2.0,
                jitter: 0.25,
            },
            settle: Duration::from_secs(5),
        }
    }
}

/// What became of a desired object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It shows every owned field as rendered (just written, or already so).
    Applied,
    /// A write lost a race (409): tried again once the watch shows the newer object.
    Conflict,
    /// Not realised, and not retried before a backoff: the API server's
    /// message, or why the object is not ours to write.
    Refused(String),
    /// Not written yet (why): the API server did not answer, or the object
    /// is being deleted.
    Pending(String),
}

pub type Outcomes = BTreeMap<ObjectId, Outcome>;

/// The objects the watches show, by identity.
#[derive(Default)]
struct Observed {
    objects: BTreeMap<ObjectId, Json>,
    listed: BTreeSet<ObjectKind>,
}

impl Observed {
    fn apply(&mut self, kind: ObjectKind, e: Event) {
        match e {
            Event::Restarted(items) => {
                self.objects.retain(|id, _| id.kind != kind);
                for o in items {
                    if let Some(id) = ObjectId::of(kind, &o) {
                        self.objects.insert(id, o);
                    }
                }
                self.listed.insert(kind);
            }
            Event::Applied(o) => {
                if let Some(id) = ObjectId::of(kind, &o) {
                    self.objects.insert(id, o);
                }
            }
            Event::Deleted(o) => {
                if let Some(id) = ObjectId::of(kind, &o) {
                    self.objects.remove(&id);
                }
            }
        }
    }

    fn version(&self, id: &ObjectId) -> Option<String> {
        let o = self.objects.get(id)?;
        Some(o.pointer("/metadata/resourceVersion").and_then(Json::as_str).unwrap_or("").to_string())
    }
}

/// A request to send. Creates and patches carry what they realise, to
/// check the API server's answer against.
enum Write {
    Create { body: Json, desired: DesiredObject },
    Patch { patch: Json, desired: DesiredObject },
    Delete { uid: String, resource_version: String },
}

/// Runs until the desired set's sender, the leadership sender or every
/// watch is gone.
pub async fn run(
    client: Arc<KubeClient>,
    config: ObjectsConfig,
    mut desired: watch::Receiver<Arc<Desired>>,
    mut leading: watch::Receiver<bool>,
    outcomes: watch::Sender<Arc<Outcomes>>,
) {
    let owners = Arc::new(config.owners.clone());
    let mut watches = JoinSet::new();
    let (ev_tx, mut events) = mpsc::channel::<(ObjectKind, Event)>(256);
    for &kind in &config.kinds {
        let (tx, mut rx) = mpsc::channel(64);
        let opts = WatchOptions { label_selector: Some(MANAGED_BY_SELECTOR.into()), ..config.watch.clone() };
        watches.spawn(watch_kind(client.clone(), kind.all_path(), opts, tx));
        let ev_tx = ev_tx.clone();
        watches.spawn(async move {
            while let Some(e) = rx.recv().await {
                if ev_tx.send((kind, e)).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(ev_tx);

    let mut observed = Observed::default();
    let mut pacer = Pacer::new(config.retry, config.settle);
    let mut last_desired: BTreeMap<ObjectId, DesiredObject> = BTreeMap::new();
    let mut inflight: JoinSet<(ObjectId, Option<String>, Sent)> = JoinSet::new();
    let mut tasks: HashMap<tokio::task::Id, ObjectId> = HashMap::new();
    let mut current: Outcomes = BTreeMap::new();
    let mut was_leading = false;
    loop {
        let wake = pacer.next_wake(Instant::now());
        tokio::select! {
            e = events.recv() => {
                let Some((kind, e)) = e else { return };
                observed.apply(kind, e);
                while let Ok((kind, e)) = events.try_recv() {
                    observed.apply(kind, e);
                }
            }
            r = desired.changed() => if r.is_err() { return },
            r = leading.changed() => if r.is_err() { return },
            Some(done) = inflight.join_next_with_id(), if !inflight.is_empty() => {
                let task = match &done {
                    Ok((task, _)) => *task,
                    Err(e) => e.id(),
                };
                let Some(id) = tasks.remove(&task) else { continue };
                let (based_on, sent) = match done {
                    Ok((_, (_, based_on, sent))) => (based_on, Some(sent)),
                    Err(_) => (None, None),
                };
                let outcome = pacer.finished(&id, based_on, sent, Instant::now());
                if let Some(outcome) = outcome.filter(|_| last_desired.contains_key(&id)) {
                    current.insert(id, outcome);
                }
            }
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
        }
        let is_leading = *leading.borrow_and_update();
        if is_leading != was_leading {
            // Leadership changed: what was in flight or settling belongs to
            // the previous term.
            inflight.abort_all();
            tasks.clear();
            pacer.reset();
            was_leading = is_leading;
        }
        if !is_leading || !config.kinds.iter().all(|k| observed.listed.contains(k)) {
            continue;
        }
        // The anchors, and the objects they own by the anchors' references.
        let handed = desired.borrow_and_update().clone();
        let want = super::anchor::resolve(&handed.objects, &observed.objects);
        let mut now_desired = BTreeMap::new();
        for d in want.iter() {
            if last_desired.get(&d.id) != Some(d) {
                pacer.desired_changed(&d.id);
            }
            now_desired.entry(d.id.clone()).or_insert_with(|| d.clone());
        }
        last_desired = now_desired;
        let mut acted = BTreeSet::new();
        let now = Instant::now();
        for action in diff(&owners, &want, &observed.objects, &handed.left_alone) {
            let id = action.id().clone();
            acted.insert(id.clone());
            let write = match action {
                Action::Refuse { reason, .. } => {
                    current.insert(id, Outcome::Refused(reason));
                    continue;
                }
                Action::Wait { reason, .. } => {
                    current.insert(id, Outcome::Pending(reason));
                    continue;
                }
                Action::Create { body, .. } => match last_desired.get(&id) {
                    Some(d) => Write::Create { body, desired: d.clone() },
                    None => continue,
                },
                Action::Patch { patch, .. } => match last_desired.get(&id) {
                    Some(d) => Write::Patch { patch, desired: d.clone() },
                    None => continue,
                },
                Action::Delete { uid, resource_version, .. } => Write::Delete { uid, resource_version },
            };
            let version = observed.version(&id);
            if !pacer.start(&id, version.as_deref(), now) {
                continue;
            }
            let (client, owners, timeout) = (client.clone(), owners.clone(), config.request_timeout);
            let task_id = id.clone();
            let handle = inflight.spawn(async move {
                let sent = match tokio::time::timeout(timeout, send(&client, &owners, &id, write)).await {
                    Ok(sent) => sent,
                    Err(_) => Sent::Failed(format!("{id}: no answer within {timeout:?}")),
                };
                (id, version, sent)
            });
            tasks.insert(handle.id(), task_id);
        }
        for id in last_desired.keys() {
            if !acted.contains(id) {
                current.insert(id.clone(), Outcome::Applied);
            }
        }
        current.retain(|id, _| last_desired.contains_key(id));
        pacer.retain(|id| last_desired.contains_key(id) || observed.objects.contains_key(id));
        outcomes.send_if_modified(|o| {
            let changed = **o != current;
            if changed {
                *o = Arc::new(current.clone());
            }
            changed
        });
    }
}

/// The API server's own message of a refusal.
fn message(e: &KubeError) -> String {
    match e {
        KubeError::Api { message, .. } => message.clone(),
        KubeError::File { .. } | KubeError::Config { .. } | KubeError::Transport { .. } | KubeError::Decode { .. } => {
            e.to_string()
        }
    }
}

/// 409 is a conflict, transport errors, 429 and 5xx are worth retrying,
/// anything else is the API server refusing what was sent.
fn classify(e: KubeError) -> Sent {
    match e.code() {
        409 => Sent::Conflict,
        0 | 429 | 500..=599 => Sent::Failed(e.to_string()),
        _ => Sent::Refused(message(&e)),
    }
}

async fn send(client: &KubeClient, owners: &[OwnerKind], id: &ObjectId, write: Write) -> Sent {
    let (result, desired) = match write {
        Write::Create { body, desired } => (create(client, owners, id, &body).await, Some(desired)),
        Write::Patch { patch, desired } => {
            (client.merge_patch(&id.path(), &patch).await.map_err(WriteError::Api), Some(desired))
        }
        Write::Delete { uid, resource_version } => {
            let options = json!({
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "preconditions": {"uid": uid, "resourceVersion": resource_version},
                "propagationPolicy": "Background",
            });
            (client.delete_with(&id.path(), &options).await.map_err(WriteError::Api), None)
        }
    };
    match (result, desired) {
        (Ok(stored), Some(d)) => match owned_patch(&d, &stored) {
            Some(fields) => Sent::NotKept(fields),
            None => Sent::Done,
        },
        (Ok(_), None) => Sent::Done,
        (Err(WriteError::Decided(sent)), _) => sent,
        (Err(WriteError::Api(e)), _) if e.code() == 404 => Sent::Gone,
        // Lost a race: expected (re-read, never overwritten), not worth a warning.
        (Err(WriteError::Api(e)), _) if e.code() == 409 => {
            tracing::debug!(object = %id, error = %e, "object write lost a race; re-reading");
            classify(e)
        }
        (Err(WriteError::Api(e)), _) => {
            tracing::warn!(object = %id, error = %e, "object write failed");
            classify(e)
        }
    }
}

/// A write's failure: an answer already decided, or the API server's error.
enum WriteError {
    Decided(Sent),
    Api(KubeError),
}

async fn create(client: &KubeClient, owners: &[OwnerKind], id: &ObjectId, body: &Json) -> Result<Json, WriteError> {
    match client.create(&id.collection_path(), body).await {
        // No such namespace: nothing to retry soon.
        Err(e) if e.code() == 404 => Err(WriteError::Decided(Sent::Refused(message(&e)))),
        // Exists, yet our label-selected watch does not show it: look.
        Err(e) if e.code() == 409 => Err(WriteError::Decided(match client.get(&id.path()).await {
            Ok(o) => match foreign_reason(owners, id, &o) {
                Some(why) => Sent::Refused(format!("{}; {why}, so ovn-vpcd leaves it alone", message(&e))),
                None => Sent::Conflict,
            },
            Err(e) if e.code() == 404 => Sent::Conflict,
            Err(e) => classify(e),
        })),
        r => r.map_err(WriteError::Api),
    }
}
