//! When a write may be sent, per object, and what its answer means: the
//! driver's rules apart from its I/O, on tokio's clock (tested paused).
//!
//! - At most one request per object is in flight (`start` … `finished`).
//! - After a write, the object waits until the watch shows a
//!   resourceVersion other than the one the write was based on, or until
//!   `settle` passes: a diff against a store that has not caught up yet is
//!   not acted on. A 409 is the same wait (re-read, never overwrite), after
//!   a backoff.
//! - A refusal or failure waits a backoff (`backoff.rs`) that grows while
//!   they repeat and is reset by a success or a new desired version.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value as Json;
use tokio::time::Instant;

use super::driver::Outcome;
use super::kind::ObjectId;
use crate::backoff::{Backoff, BackoffConfig};

/// How a request ended.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Sent {
    Done,
    /// 404: the object is gone (the watch will show it).
    Gone,
    Conflict,
    Refused(String),
    Failed(String),
    /// Written, but the object as stored does not show what was sent (the
    /// API server normalises or drops a rendered value): sending it again
    /// would fight the server, so it is refused, naming the fields.
    NotKept(Json),
}

struct Track {
    backoff: Backoff,
    not_before: Option<Instant>,
    /// A write was based on this resourceVersion (`None`: the object was
    /// absent), and the deadline of the wait for the watch to show another.
    settling: Option<(Option<String>, Instant)>,
}

pub(super) struct Pacer {
    retry: BackoffConfig,
    settle: Duration,
    tracks: BTreeMap<ObjectId, Track>,
    busy: BTreeSet<ObjectId>,
}

impl Pacer {
    pub(super) fn new(retry: BackoffConfig, settle: Duration) -> Pacer {
        Pacer { retry, settle, tracks: BTreeMap::new(), busy: BTreeSet::new() }
    }

    /// Forget everything (a new term of leadership; requests in flight were abandoned).
    pub(super) fn reset(&mut self) {
        self.tracks.clear();
        self.busy.clear();
    }

    /// The desired object changed: it may be written at once.
    pub(super) fn desired_changed(&mut self, id: &ObjectId) {
        self.tracks.remove(id);
    }

    /// Whether a write of `id` may start now, the watch showing `version`
    /// (`None`: absent). If so, it is in flight until [`Pacer::finished`].
    pub(super) fn start(&mut self, id: &ObjectId, version: Option<&str>, now: Instant) -> bool {
        if self.busy.contains(id) {
            return false;
        }
        if let Some(t) = self.tracks.get_mut(id) {
            if t.not_before.is_some_and(|nb| nb > now) {
                return false;
            }
            if let Some((based_on, until)) = &t.settling {
                if based_on.as_deref() == version && *until > now {
                    return false;
                }
            }
            t.settling = None;
        }
        self.busy.insert(id.clone());
        true
    }

    /// A request ended (or was lost: `sent` is `None`). Returns what the
    /// desired object's outcome becomes.
    pub(super) fn finished(
        &mut self,
        id: &ObjectId,
        based_on: Option<String>,
        sent: Option<Sent>,
        now: Instant,
    ) -> Option<Outcome> {
        self.busy.remove(id);
        let sent = sent?;
        let (retry, settle) = (self.retry, self.settle);
        let t = self.tracks.entry(id.clone()).or_insert_with(|| Track {
            backoff: Backoff::new(retry),
            not_before: None,
            settling: None,
        });
        let settle_on = |t: &mut Track| t.settling = Some((based_on.clone(), now + settle));
        Some(match sent {
            Sent::Done => {
                t.backoff.reset();
                settle_on(t);
                Outcome::Applied
            }
            Sent::Gone => {
                settle_on(t);
                Outcome::Pending(format!("{id} was deleted meanwhile"))
            }
            Sent::Conflict => {
                settle_on(t);
                t.not_before = Some(now + t.backoff.next_delay());
                Outcome::Conflict
            }
            Sent::Refused(m) => {
                t.not_before = Some(now + t.backoff.next_delay());
                Outcome::Refused(m)
            }
            Sent::Failed(m) => {
                t.not_before = Some(now + t.backoff.next_delay());
                Outcome::Pending(m)
            }
            Sent::NotKept(fields) => {
                settle_on(t);
                t.not_before = Some(now + t.backoff.next_delay());
                Outcome::Refused(format!("the API server does not keep these rendered fields as sent: {fields}"))
            }
        })
    }

    /// The next moment a wait ends, if any is pending after `now`.
    pub(super) fn next_wake(&self, now: Instant) -> Option<Instant> {
        self.tracks
            .values()
            .flat_map(|t| t.not_before.into_iter().chain(t.settling.as_ref().map(|(_, d)| *d)))
            .filter(|t| *t > now)
            .min()
    }

    /// Keep only the objects `keep` names, and those in flight.
    pub(super) fn retain(&mut self, keep: impl Fn(&ObjectId) -> bool) {
        let busy = &self.busy;
        self.tracks.retain(|id, _| keep(id) || busy.contains(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::objects::ObjectKind;

    fn pacer() -> Pacer {
        let retry = BackoffConfig {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(2),
            factor: 2.0,
            jitter: 0.0,
        };
        Pacer::new(retry, Duration::from_secs(5))
    }

    fn id() -> ObjectId {
        ObjectId::new(ObjectKind::ConfigMap, "ns", "c")
    }

    #[tokio::test(start_paused = true)]
    async fn one_request_in_flight_then_wait_for_the_watch_to_show_the_write() {
        let mut p = pacer();
        let now = Instant::now();
        assert!(p.start(&id(), None, now));
        assert!(!p.start(&id(), None, now), "a second request while one is in flight");
        assert_eq!(p.finished(&id(), None, Some(Sent::Done), now), Some(Outcome::Applied));
        // The watch has not shown the create yet: nothing again.
        assert!(!p.start(&id(), None, now));
        assert_eq!(p.next_wake(now), Some(now + Duration::from_secs(5)));
        // It has: free to act on what the diff says about the object now.
        assert!(p.start(&id(), Some("7"), now));
        p.finished(&id(), Some("7".into()), Some(Sent::Done), now);
        assert!(!p.start(&id(), Some("7"), now));
        // The watch never shows it: after the settle time, look again.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(p.start(&id(), Some("7"), Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_conflict_waits_for_a_newer_read_and_refusals_back_off_until_the_desired_object_changes() {
        let mut p = pacer();
        let now = Instant::now();
        assert!(p.start(&id(), Some("3"), now));
        assert_eq!(p.finished(&id(), Some("3".into()), Some(Sent::Conflict), now), Some(Outcome::Conflict));
        tokio::time::advance(Duration::from_millis(300)).await;
        assert!(!p.start(&id(), Some("3"), Instant::now()), "re-sent against the stale read");
        assert!(p.start(&id(), Some("4"), Instant::now()), "the newer read is acted on");
        // Refusals: the backoff the conflict began grows, 400 ms, 800 ms, 1.6 s.
        let mut waits = vec![];
        for _ in 0..3 {
            let now = Instant::now();
            let o = p.finished(&id(), Some("4".into()), Some(Sent::Refused("no".into())), now);
            assert_eq!(o, Some(Outcome::Refused("no".into())));
            let wake = p.next_wake(now).unwrap();
            waits.push(wake - now);
            assert!(!p.start(&id(), Some("4"), now));
            tokio::time::advance(wake - now).await;
            assert!(p.start(&id(), Some("4"), Instant::now()));
        }
        assert_eq!(waits, [400, 800, 1600].map(Duration::from_millis));
        p.finished(&id(), Some("4".into()), Some(Sent::Failed("down".into())), Instant::now());
        assert!(!p.start(&id(), Some("4"), Instant::now()));
        p.desired_changed(&id());
        assert!(p.start(&id(), Some("4"), Instant::now()), "a new desired version is tried at once");
        // A lost request frees the object and changes no outcome.
        assert_eq!(p.finished(&id(), None, None, Instant::now()), None);
        assert!(p.start(&id(), Some("4"), Instant::now()));
    }
}
