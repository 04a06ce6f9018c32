//! The I/O driver of leader election: runs the pure `Elector` of `leader.rs`
//! against a `coordination.k8s.io/v1` Lease with client-go's semantics.
//!
//! - `LeaseLock` names the Lease and does the four requests: read (404 is
//!   "no Lease"), create, update from the object as read (always with its
//!   `metadata.resourceVersion`, so a write based on a stale read is a 409
//!   Conflict, never a silent overwrite), and `release`.
//! - `run_election` ticks every retry period, leader or not: read, decide,
//!   write, and publish `is_leader` on a watch channel whenever it changes. It
//!   also wakes at the moment the renew deadline passes, and bounds every round
//!   by it, so a leader that cannot renew (API server down, requests hanging,
//!   conflicts) steps down on time. A demoted candidate keeps competing and may
//!   lead again: treat every `false → true` as a fresh start.
//! - At shutdown, stop the election task (abort it or drop its future), then
//!   `release` (client-go's ReleaseOnCancel): the Lease is left with an empty
//!   holder, so another candidate takes over at its next retry instead of
//!   waiting out the lease duration. Bound it with `tokio::time::timeout`.
//!
//! Only this driver writes the Lease. Expiry is judged on tokio's monotonic
//! clock (see `leader.rs`); the wall clock only fills in the Lease's
//! `acquireTime` / `renewTime` for people and other tools to read.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::client::{KubeClient, KubeError};
use super::leader::{Decision, Elector, LeaseRecord};

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error("{path}: the Lease as read has no metadata.resourceVersion; refusing an unconditional update")]
    NoResourceVersion { path: String },
}

/// A Lease by namespace and name, and the requests the election makes on it.
#[derive(Clone)]
pub struct LeaseLock {
    client: Arc<KubeClient>,
    namespace: String,
    name: String,
}

/// Attempts of `release` when its write meets a conflict (the record changed
/// between our read and our write: read it again and look).
const RELEASE_ATTEMPTS: usize = 3;

impl LeaseLock {
    pub fn new(client: Arc<KubeClient>, namespace: &str, name: &str) -> LeaseLock {
        LeaseLock { client, namespace: namespace.into(), name: name.into() }
    }

    /// `namespace/name`, for logs.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn collection(&self) -> String {
        format!("/apis/coordination.k8s.io/v1/namespaces/{}/leases", self.namespace)
    }

    pub fn path(&self) -> String {
        format!("{}/{}", self.collection(), self.name)
    }

    /// The Lease, or `None` if it does not exist.
    pub async fn get(&self) -> Result<Option<Json>, LeaseError> {
        match self.client.get(&self.path()).await {
            Ok(lease) => Ok(Some(lease)),
            Err(e) if e.code() == 404 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the Lease with `spec`. `Ok(false)`: it already exists.
    pub async fn create(&self, spec: &Json) -> Result<bool, LeaseError> {
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        });
        match self.client.create(&self.collection(), &lease).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the Lease as `read` (keeping its metadata, resourceVersion
    /// included) with `spec`'s fields set. `Ok(false)`: 409 Conflict, the
    /// Lease changed since it was read.
    pub async fn update(&self, read: &Json, spec: &Json) -> Result<bool, LeaseError> {
        let has_version =
            read.pointer("/metadata/resourceVersion").and_then(Json::as_str).is_some_and(|v| !v.is_empty());
        if !has_version {
            return Err(LeaseError::NoResourceVersion { path: self.path() });
        }
        let mut lease = read.clone();
        // Set our fields, keep any others a newer API server knows about.
        if !lease.get("spec").is_some_and(Json::is_object) {
            lease["spec"] = json!({});
        }
        if let (Some(to), Some(from)) = (lease["spec"].as_object_mut(), spec.as_object()) {
            for (k, v) in from {
                to.insert(k.clone(), v.clone());
            }
        }
        match self.client.replace(&self.path(), &lease).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the Lease up if `identity` holds it: holder "", duration 1 s, as
    /// client-go's release. `Ok(true)` if it was ours and is now released.
    /// Stop the election first, or it may take the Lease again.
    pub async fn release(&self, identity: &str) -> Result<bool, LeaseError> {
        for _ in 0..RELEASE_ATTEMPTS {
            let Some(read) = self.get().await? else { return Ok(false) };
            let rec = LeaseRecord::from_lease(&read);
            if rec.holder != identity {
                return Ok(false);
            }
            let wall = wall_clock();
            let spec = json!({
                "holderIdentity": "",
                "leaseDurationSeconds": 1,
                "acquireTime": wall,
                "renewTime": wall,
                "leaseTransitions": rec.transitions,
            });
            if self.update(&read, &spec).await? {
                tracing::info!(lease = %self.describe(), identity, "released the lease");
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Runs the election until every receiver of `leading` is gone (or the task
/// is aborted). `leading` is set to whether we are leader, and changed only
/// when that changes; its initial value should be `false`.
pub async fn run_election(lock: LeaseLock, mut elector: Elector, leading: watch::Sender<bool>) {
    let cfg = elector.config().clone();
    let mut ticks = tokio::time::interval(cfg.retry_period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let now = Instant::now();
        // While leading, also wake when leadership would run out.
        let until = elector.leader_until().filter(|_| elector.is_leader(now));
        tokio::select! {
            _ = ticks.tick() => {
                // A round never outlives our leadership, nor the renew deadline.
                let limit = until.unwrap_or(now + cfg.renew_deadline).min(Instant::now() + cfg.renew_deadline);
                match tokio::time::timeout_at(limit, round(&lock, &mut elector)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(lease = %lock.describe(), error = %e, "lease request failed"),
                    Err(_) => tracing::warn!(lease = %lock.describe(), "lease request timed out"),
                }
            }
            _ = tokio::time::sleep_until(until.unwrap_or(now)), if until.is_some() => {}
        }
        if leading.is_closed() {
            return;
        }
        let is_leader = elector.is_leader(Instant::now());
        let changed = leading.send_if_modified(|v| std::mem::replace(v, is_leader) != is_leader);
        if changed && is_leader {
            tracing::info!(lease = %lock.describe(), identity = %cfg.identity, "became leader");
        } else if changed {
            tracing::info!(lease = %lock.describe(), identity = %cfg.identity, "stopped leading");
        }
    }
}

/// One try: read, decide, write (client-go's tryAcquireOrRenew).
async fn round(lock: &LeaseLock, elector: &mut Elector) -> Result<(), LeaseError> {
    let read = lock.get().await?;
    let record = read.as_ref().map(LeaseRecord::from_lease);
    // Taken after the read (the record was seen no earlier) and before the
    // write (the server stores it no earlier): conservative both ways.
    let now = Instant::now();
    let result = match (elector.decide(record.as_ref(), now, &wall_clock()), &read) {
        (Decision::Wait, _) => return Ok(()),
        (Decision::Create(spec), _) => lock.create(&spec).await,
        (Decision::Update(spec), Some(read)) => lock.update(read, &spec).await,
        // `decide` only updates a Lease it was given.
        (Decision::Update(_), None) => Ok(false),
    };
    elector.written(matches!(result, Ok(true)), now);
    if let Ok(false) = result {
        tracing::debug!(lease = %lock.describe(), "lease write conflicted; retrying next period");
    }
    result.map(drop)
}

/// The wall clock as RFC 3339 timestamps (a Lease's times, conditions'
/// `lastTransitionTime`, Events). The one place the daemon reads it:
/// `clippy.toml` bans `SystemTime` so timing goes through tokio's (pausable)
/// clock, but these fields are wall-clock by protocol, and tokio has no wall
/// clock. No expiry or timeout ever depends on these values.
#[allow(clippy::disallowed_types)]
pub fn wall_clock() -> String {
    let since_epoch =
        std::time::SystemTime::now().duration_since(std::time::SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO);
    rfc3339_micros(since_epoch)
}

/// `since_epoch` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (Kubernetes' MicroTime).
fn rfc3339_micros(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (y, m, d) = civil_from_days(secs / 86_400);
    let s = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z", s / 3600, s / 60 % 60, s % 60, since_epoch.subsec_micros())
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar: Howard Hinnant's `civil_from_days`, for days >= 0.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of the 400-year era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        let at = |secs: u64, micros: u32| rfc3339_micros(Duration::new(secs, micros * 1000));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(1_709_164_800, 0), "2024-02-29T00:00:00.000000Z");
        assert_eq!(at(1_709_164_800 + 86_399, 999_999), "2024-02-29T23:59:59.999999Z");
        assert_eq!(at(1_709_164_800 + 86_400, 0), "2024-03-01T00:00:00.000000Z");
        assert_eq!(at(1_795_514_400, 123_456), "2026-11-24T10:00:00.123456Z");
        assert_eq!(at(946_684_799, 1), "1999-12-31T23:59:59.000001Z");
        assert_eq!(at(951_868_800 - 86_400, 0), "2000-02-29T00:00:00.000000Z"); // 400-year leap
        assert_eq!(at(4_107_542_400 - 86_400, 0), "2100-02-28T00:00:00.000000Z"); // no leap day
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
    }

    #[test]
    fn the_wall_clock_looks_like_a_microtime() {
        let w = wall_clock();
        assert_eq!(w.len(), "2026-11-24T10:00:00.123456Z".len(), "{w}");
        assert!(w.starts_with("20") && w.ends_with('Z') && &w[10..11] == "T" && &w[19..20] == ".", "{w}");
    }
}
