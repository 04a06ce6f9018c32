//! When the daemon reconciles, and what a pass covers: a pure state machine
//! (triggers in, decisions out), driven by `daemon::run`, in the manner of
//! `kube/watcher.rs` and `kube/leader.rs`. No I/O and no clock of its own:
//! every trigger carries the time it happened.
//!
//! Invariants:
//! - A pass runs only when the NB is synced, the daemon may write (with
//!   Kubernetes: it leads and every kind was listed) and the desired state is
//!   complete; until then triggers only accumulate.
//! - What a pass covers only widens until it runs: several changes of
//!   objects make one scoped pass over all of them; anything that may have
//!   touched rows we cannot name (drift, a reconnect, leadership, a resync, a
//!   failed pass) makes it cover everything.
//! - A change of inputs is scoped to the objects it changed only when the
//!   last pass left a baseline (converged, with the model it was made from);
//!   otherwise everything is planned.
//! - An NB update that is provably the daemon's own commit (`accounted`)
//!   causes no pass.
//! - Under load, passes for what the Kubernetes watch shows are gathered:
//!   one seen within [`GATHER`] of the last pass's end waits until then, and
//!   meanwhile the driver does not derive again ([`Schedule::gathering`]),
//!   so a burst of pod events costs one derivation and one pass per
//!   `GATHER`, not one per event. A change after a quiet spell, a reload, a
//!   signal, drift or a reconnect is planned at once.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use crate::model::object::ObjectKey;
use crate::reconcile::Scope;

/// How long to gather a burst of NB updates before one pass.
pub const DEBOUNCE: Duration = Duration::from_millis(10);
/// The least time from a pass's end to a pass for what the watch showed
/// since (see the module head): at most this much added latency per change.
pub const GATHER: Duration = Duration::from_millis(10);
/// How soon a failed pass is tried again.
pub const RETRY: Duration = Duration::from_secs(1);

/// Something that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The NB cache moved to `generation`.
    NbChanged { generation: u64 },
    /// The NB connection was (re)established or lost.
    NbConnection { synced: bool },
    /// Whether the daemon may write now (leads, and listed every kind).
    Writable(bool),
    /// Leadership changed hands: whatever the other leader did is unknown.
    Leadership,
    /// The desired state was derived anew. `changed`: the objects whose
    /// validated input or protection changed, against the current state;
    /// `complete`: see `Desired::complete`.
    Inputs { changed: BTreeSet<ObjectKey>, complete: bool },
    /// As `Inputs`, for a change the Kubernetes watch showed: gathered
    /// with the others of its burst (see [`GATHER`]).
    Watched { changed: BTreeSet<ObjectKey>, complete: bool },
    /// SIGHUP: check everything now, changed or not.
    Hangup,
    /// A pass ended.
    Passed(PassResult),
}

/// How a pass ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassResult {
    Converged {
        scope: Scope,
        /// See `reconcile::Applied::own_updates`.
        own_updates: Option<(u64, u64)>,
        /// The pass kept rows against a refused mass removal: its model is
        /// not a baseline for the next change.
        baseline: bool,
    },
    Failed,
}

/// What the driver does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Run a pass over this scope now.
    Pass(Scope),
    /// Wait for a trigger, or until this time (then call `next` again).
    Wait(Option<Instant>),
}

/// The schedule of passes.
#[derive(Clone, Debug)]
pub struct Schedule {
    resync: Duration,
    /// What the next pass must cover; `None`: no pass is due.
    pending: Option<Scope>,
    /// When the next pass is due (with `pending`), else the next resync.
    due: Option<Instant>,
    /// The cache generation at which every owned row was known converged.
    accounted: Option<u64>,
    /// The last pass left a model to scope changes against.
    baseline: bool,
    synced: bool,
    writable: bool,
    complete: bool,
    /// When the last pass ended.
    last_pass: Option<Instant>,
    /// Watched changes are being gathered until then (see [`GATHER`]).
    held_until: Option<Instant>,
}

/// `pending` widened by `more`.
fn widen(pending: Option<Scope>, more: Scope) -> Scope {
    match (pending, more) {
        (Some(Scope::Owners(mut a)), Scope::Owners(b)) => {
            a.extend(b);
            Scope::Owners(a)
        }
        (None, s) => s,
        _ => Scope::All,
    }
}

impl Schedule {
    /// At start: a full pass is due as soon as it may run.
    pub fn new(now: Instant, resync: Duration, writable: bool) -> Schedule {
        Schedule {
            resync,
            pending: Some(Scope::All),
            due: Some(now),
            accounted: None,
            baseline: false,
            synced: false,
            writable,
            complete: false,
            last_pass: None,
            held_until: None,
        }
    }

    fn want(&mut self, scope: Scope, at: Instant) {
        self.pending = Some(widen(self.pending.take(), scope));
        self.due = Some(self.due.filter(|d| *d <= at).unwrap_or(at));
    }

    /// Synced and writable, but the desired state is not complete yet: the
    /// driver should derive it again (the pods' ports can now be known).
    pub fn needs_inputs(&self) -> bool {
        self.synced && self.writable && !self.complete
    }

    /// A pass is pending but held to gather what the watch shows (see
    /// [`GATHER`]): the driver should not derive the inputs again before it.
    pub fn gathering(&self, now: Instant) -> bool {
        let runnable = self.synced && self.writable && self.complete;
        let held = self.held_until.is_some_and(|h| h > now) && self.due.is_some_and(|d| d > now);
        runnable && self.pending.is_some() && held
    }

    fn inputs(&mut self, changed: BTreeSet<ObjectKey>, complete: bool, at: Instant) {
        let scope = match (self.baseline, complete && !self.complete) {
            (true, false) => Scope::Owners(changed),
            _ => Scope::All,
        };
        self.complete = complete;
        // Even with no object to re-derive, a pass reports the new
        // verdicts (a refused resource) and releases finalizers.
        self.want(scope, at);
    }

    /// Whether an NB update at `generation` is the daemon's own, accounted for.
    pub fn accounts_for(&self, generation: u64) -> bool {
        self.accounted == Some(generation)
    }

    pub fn on(&mut self, now: Instant, trigger: Trigger) {
        match trigger {
            Trigger::NbChanged { generation } => {
                if !self.accounts_for(generation) {
                    // Drift, or anyone's commit: check everything, after a short gathering.
                    self.want(Scope::All, now + DEBOUNCE);
                }
            }
            Trigger::NbConnection { synced } => {
                self.synced = synced;
                self.accounted = None;
                self.want(Scope::All, now);
            }
            Trigger::Writable(w) => {
                if w && !self.writable {
                    self.want(Scope::All, now);
                }
                self.writable = w;
            }
            Trigger::Leadership => {
                self.accounted = None;
                self.want(Scope::All, now);
            }
            Trigger::Inputs { changed, complete } => self.inputs(changed, complete, now),
            Trigger::Watched { changed, complete } => {
                let at = self.last_pass.map_or(now, |end| (end + GATHER).max(now));
                if at > now {
                    self.held_until = Some(at);
                }
                self.inputs(changed, complete, at);
            }
            Trigger::Hangup => self.want(Scope::All, now),
            Trigger::Passed(PassResult::Converged { scope, own_updates, baseline }) => {
                self.accounted = match (own_updates, &scope) {
                    (Some((_, to)), Scope::All) => Some(to),
                    (Some((from, to)), Scope::Owners(_)) if self.accounted == Some(from) => Some(to),
                    _ => self.accounted,
                };
                self.baseline = baseline;
                self.due = Some(now + self.resync);
                self.last_pass = Some(now);
            }
            Trigger::Passed(PassResult::Failed) => {
                self.last_pass = Some(now);
                self.accounted = None;
                self.pending = Some(Scope::All);
                self.due = Some(now + RETRY);
            }
        }
    }

    /// The next decision at `now`.
    pub fn next(&mut self, now: Instant) -> Next {
        if !(self.synced && self.writable && self.complete) {
            return Next::Wait(None);
        }
        match self.due {
            Some(due) if due <= now => {
                let scope = self.pending.take().unwrap_or(Scope::All);
                // Until the pass reports back, nothing else is due.
                self.due = None;
                self.held_until = None;
                Next::Pass(scope)
            }
            due => Next::Wait(due),
        }
    }
}

#[cfg(test)]
mod tests;
