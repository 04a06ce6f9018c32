//! Leader election on a `coordination.k8s.io/v1` Lease, as a pure state
//! machine (`lease.rs` is its I/O driver).
//!
//! As in client-go, a lease is judged expired by when *we* last saw its
//! record change (monotonic time), never by comparing the server's
//! timestamps with our clock, so clock skew between nodes cannot cause two
//! leaders. Defaults: lease 15 s, renew deadline 10 s, retry every 2 s.

use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::time::Instant;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionConfig {
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl ElectionConfig {
    pub fn new(identity: &str) -> Self {
        ElectionConfig {
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// The parts of a Lease's spec the election reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseRecord {
    pub holder: String,
    pub renew_time: String,
    pub acquire_time: String,
    pub transitions: u64,
}

impl LeaseRecord {
    pub fn from_lease(lease: &Json) -> LeaseRecord {
        let s = |k: &str| lease.pointer(&format!("/spec/{k}")).and_then(Json::as_str).unwrap_or("").to_string();
        LeaseRecord {
            holder: s("holderIdentity"),
            renew_time: s("renewTime"),
            acquire_time: s("acquireTime"),
            transitions: lease.pointer("/spec/leaseTransitions").and_then(Json::as_u64).unwrap_or(0),
        }
    }
}

/// What to do this round.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// No Lease exists: create it with this spec.
    Create(Json),
    /// Take over or renew: update the Lease's spec (with its resourceVersion).
    Update(Json),
    /// Someone else holds a live lease.
    Wait,
}

pub struct Elector {
    cfg: ElectionConfig,
    observed: Option<(LeaseRecord, Instant)>,
    renewed_at: Option<Instant>,
}

impl Elector {
    pub fn new(cfg: ElectionConfig) -> Self {
        Elector { cfg, observed: None, renewed_at: None }
    }

    pub fn config(&self) -> &ElectionConfig {
        &self.cfg
    }

    /// Decides from the current Lease (`None`: not found). `wall` is the
    /// current time as RFC 3339 with microseconds, for the Lease's fields.
    pub fn decide(&mut self, lease: Option<&LeaseRecord>, now: Instant, wall: &str) -> Decision {
        let spec = |holder: &str, acquire: &str, transitions: u64| {
            json!({
                "holderIdentity": holder,
                "leaseDurationSeconds": self.cfg.lease_duration.as_secs(),
                "acquireTime": acquire,
                "renewTime": wall,
                "leaseTransitions": transitions,
            })
        };
        let Some(rec) = lease else {
            return Decision::Create(spec(&self.cfg.identity, wall, 0));
        };
        if self.observed.as_ref().map(|(r, _)| r) != Some(rec) {
            self.observed = Some((rec.clone(), now));
        }
        let seen_at = self.observed.as_ref().map(|(_, t)| *t).unwrap_or(now);
        if rec.holder == self.cfg.identity {
            return Decision::Update(spec(&self.cfg.identity, &rec.acquire_time, rec.transitions));
        }
        let expired = now.duration_since(seen_at) >= self.cfg.lease_duration;
        if !rec.holder.is_empty() && !expired {
            self.renewed_at = None;
            return Decision::Wait;
        }
        Decision::Update(spec(&self.cfg.identity, wall, rec.transitions + 1))
    }

    /// Reports whether the Create/Update succeeded (a 409 Conflict is a failure).
    pub fn written(&mut self, ok: bool, now: Instant) {
        if ok {
            self.renewed_at = Some(now);
        }
    }

    /// Leader while the last successful renewal is within the renew deadline.
    pub fn is_leader(&self, now: Instant) -> bool {
        self.renewed_at.is_some_and(|t| now.duration_since(t) < self.cfg.renew_deadline)
    }

    /// When leadership ends unless renewed: the last successful write plus
    /// the renew deadline (`None` if we have not written since last waiting).
    pub fn leader_until(&self) -> Option<Instant> {
        self.renewed_at.map(|t| t + self.cfg.renew_deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Lease on a pretend server: writes succeed only from the version read.
    struct Server(Option<(LeaseRecord, u64)>);

    impl Server {
        fn round(&mut self, e: &mut Elector, wall: &str) {
            let now = Instant::now();
            let seen = self.0.clone();
            let d = e.decide(seen.as_ref().map(|(r, _)| r), now, wall);
            let write = |spec: &Json| LeaseRecord::from_lease(&json!({ "spec": spec }));
            let ok = match d {
                Decision::Wait => return,
                Decision::Create(spec) if self.0.is_none() => {
                    self.0 = Some((write(&spec), 1));
                    true
                }
                Decision::Update(spec) if self.0.as_ref().map(|(_, v)| *v) == seen.as_ref().map(|(_, v)| *v) => {
                    let v = self.0.as_ref().map_or(0, |(_, v)| *v) + 1;
                    self.0 = Some((write(&spec), v));
                    true
                }
                _ => false,
            };
            e.written(ok, now);
        }
        fn holder(&self) -> &str {
            self.0.as_ref().map_or("", |(r, _)| r.holder.as_str())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_leader_then_takeover_within_the_lease_after_the_leader_dies() {
        let mut server = Server(None);
        let mut a = Elector::new(ElectionConfig::new("a"));
        let mut b = Elector::new(ElectionConfig::new("b"));
        let retry = Duration::from_secs(2);
        let mut tick = 0u64;
        let mut wall = || {
            tick += 1;
            format!("2026-11-23T00:00:{:02}.000000Z", tick % 60)
        };
        // Both run for a while: exactly one leads, the same one throughout.
        for _ in 0..10 {
            server.round(&mut a, &wall());
            server.round(&mut b, &wall());
            let now = Instant::now();
            assert!(a.is_leader(now) ^ b.is_leader(now), "exactly one leader");
            tokio::time::advance(retry).await;
        }
        assert_eq!(server.holder(), "a");
        // a dies (stops renewing). b takes over once the record has been
        // unchanged for the lease duration as b observed it, and not before.
        let died = Instant::now();
        let taken = loop {
            server.round(&mut b, &wall());
            if b.is_leader(Instant::now()) {
                break Instant::now().duration_since(died);
            }
            assert!(!a.is_leader(Instant::now()) || Instant::now().duration_since(died) < Duration::from_secs(10));
            tokio::time::advance(retry).await;
        };
        assert!(taken >= Duration::from_secs(14) && taken <= Duration::from_secs(17), "took over after {taken:?}");
        assert_eq!(server.holder(), "b");
        assert_eq!(server.0.as_ref().unwrap().0.transitions, 1);
        // a's own view: it stopped being leader within the renew deadline.
        assert!(!a.is_leader(Instant::now()));
        assert!(a.leader_until().is_some_and(|t| t <= died + Duration::from_secs(10)));
        // a comes back and sees b's live lease: it waits.
        server.round(&mut a, &wall());
        assert!(!a.is_leader(Instant::now()));
        assert_eq!(server.holder(), "b");
    }

    #[test]
    fn reads_the_lease_spec() {
        let r =
            LeaseRecord::from_lease(&json!({"spec": {"holderIdentity": "x", "renewTime": "t", "leaseTransitions": 3}}));
        assert_eq!((r.holder.as_str(), r.renew_time.as_str(), r.transitions), ("x", "t", 3));
    }
}
