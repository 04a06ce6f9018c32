//! When the NAT agent applies, re-checks and reports, as a pure state
//! machine on tokio's clock (the driver, `driver.rs`, does the I/O): rule
//! sets from the watch, apply results and report results go in; the next
//! thing to do — apply this set, report this, or wait until — comes out of
//! [`Agent::next`].
//!
//! Invariants:
//! - Nothing is applied before a set was read from the API; a set that
//!   does not decode, or a ConfigMap that is gone, changes nothing in the
//!   kernel: the last good set stays the target (and keeps being
//!   re-checked) while the error is reported.
//! - After each successful apply the same set is applied again after the
//!   re-check period: an apply diffs the kernel against the set, so drift
//!   (a chain flushed by hand) is repaired within that period, and a
//!   no-op costs reading the kernel.
//! - Failed applies (also one the kernel applied in part: `kernel.rs`
//!   applies every line it can, and says which failed) and failed reports
//!   are retried with backoff, each on its own: an API server that is down never stops the kernel from
//!   being kept, and a failing kernel never stops the reports.
//! - The report says the digest of the last set applied successfully by
//!   this process (`none` before the first), and the current error, if
//!   any (the set's problem first, else the last apply's); it is sent
//!   only when it differs from what was last reported successfully.

use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::time::Instant;

use crate::backoff::{Backoff, BackoffConfig};
use crate::kube::watcher::Event;
use crate::rules::nat::NatRuleSet;
use crate::rules::{APPLIED_ANNOTATION, APPLIED_NONE, APPLY_ERROR_ANNOTATION, DATA_KEY};

/// What the watch says about the rule set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rules {
    Set(NatRuleSet),
    /// Missing, deleted, or not a set this build reads: why.
    Invalid(String),
}

/// The rule set a ConfigMap event means (`cm` names it, `ns/name`, for
/// the error texts). The watch selects the one ConfigMap by name.
pub fn rules_of(event: &Event, cm: &str) -> Rules {
    let read = |o: &Json| -> Rules {
        let Some(text) = o.get("data").and_then(|d| d.get(DATA_KEY)) else {
            return Rules::Invalid(format!("ConfigMap {cm} has no data key {DATA_KEY}"));
        };
        match NatRuleSet::from_json(text.as_str().unwrap_or("")) {
            Ok(set) => Rules::Set(set),
            Err(e) => Rules::Invalid(format!("ConfigMap {cm}: {e}")),
        }
    };
    match event {
        Event::Restarted(items) => match items.first() {
            Some(o) => read(o),
            None => Rules::Invalid(format!("ConfigMap {cm} not found")),
        },
        Event::Applied(o) => read(o),
        Event::Deleted(_) => Rules::Invalid(format!("ConfigMap {cm} was deleted")),
    }
}

/// What the pod's annotations should say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The digest applied, or [`APPLIED_NONE`].
    pub applied: String,
    pub error: Option<String>,
}

impl Report {
    /// The merge patch of the pod writing it (`null` removes the error).
    pub fn patch(&self) -> Json {
        json!({"metadata": {"annotations": {
            APPLIED_ANNOTATION: self.applied,
            APPLY_ERROR_ANNOTATION: self.error,
        }}})
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Apply(NatRuleSet),
    Report(Report),
    /// Nothing to do before this instant, or before an input arrives.
    Wait(Option<Instant>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AgentConfig {
    /// How long after a successful apply the kernel is checked again.
    pub recheck: Duration,
    pub apply_backoff: BackoffConfig,
    pub report_backoff: BackoffConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            recheck: Duration::from_secs(5),
            apply_backoff: BackoffConfig {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(30),
                factor: 2.0,
                jitter: 0.2,
            },
            report_backoff: BackoffConfig {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(30),
                factor: 2.0,
                jitter: 0.2,
            },
        }
    }
}

pub struct Agent {
    cfg: AgentConfig,
    /// The last good set read: what the kernel is kept at.
    target: Option<NatRuleSet>,
    target_digest: String,
    /// What is wrong with the set the API holds now.
    input_error: Option<String>,
    /// The digest of the last successful apply.
    applied: Option<String>,
    apply_error: Option<String>,
    /// When to apply the target next (`None`: no target yet).
    apply_at: Option<Instant>,
    apply_backoff: Backoff,
    reported: Option<Report>,
    report_at: Instant,
    report_backoff: Backoff,
}

impl Agent {
    pub fn new(cfg: AgentConfig, now: Instant) -> Agent {
        Agent {
            cfg,
            target: None,
            target_digest: String::new(),
            input_error: None,
            applied: None,
            apply_error: None,
            apply_at: None,
            apply_backoff: Backoff::new(cfg.apply_backoff),
            reported: None,
            report_at: now,
            report_backoff: Backoff::new(cfg.report_backoff),
        }
    }

    /// The watch delivered the set (or said what is wrong with it).
    pub fn rules(&mut self, rules: Rules, now: Instant) {
        match rules {
            Rules::Set(set) => {
                self.input_error = None;
                let digest = set.digest();
                if self.target.is_none() || digest != self.target_digest {
                    self.target = Some(set);
                    self.target_digest = digest;
                    self.apply_at = Some(now);
                }
            }
            Rules::Invalid(why) => self.input_error = Some(why),
        }
    }

    /// An apply of the set whose digest is `digest` ended.
    pub fn applied(&mut self, digest: &str, result: Result<(), String>, now: Instant) {
        match result {
            Ok(()) => {
                self.applied = Some(digest.to_string());
                self.apply_error = None;
                self.apply_backoff.reset();
                let again = if digest == self.target_digest { self.cfg.recheck } else { Duration::ZERO };
                self.apply_at = Some(now + again);
            }
            Err(e) => {
                self.apply_error = Some(e);
                self.apply_at = Some(now + self.apply_backoff.next_delay());
            }
        }
    }

    /// A report ended.
    pub fn reported(&mut self, report: Report, result: Result<(), String>, now: Instant) {
        match result {
            Ok(()) => {
                self.reported = Some(report);
                self.report_backoff.reset();
                self.report_at = now;
            }
            Err(_) => self.report_at = now + self.report_backoff.next_delay(),
        }
    }

    /// What the annotations should say now.
    pub fn report(&self) -> Report {
        Report {
            applied: self.applied.clone().unwrap_or_else(|| APPLIED_NONE.to_string()),
            error: self.input_error.clone().or_else(|| self.apply_error.clone()),
        }
    }

    /// The next thing to do: a due report first, then a due apply.
    pub fn next(&self, now: Instant) -> Action {
        let report = self.report();
        let report_pending = self.reported.as_ref() != Some(&report);
        if report_pending && self.report_at <= now {
            return Action::Report(report);
        }
        if let (Some(at), Some(set)) = (self.apply_at, &self.target) {
            if at <= now {
                return Action::Apply(set.clone());
            }
        }
        let wake = [report_pending.then_some(self.report_at), self.apply_at.filter(|_| self.target.is_some())];
        Action::Wait(wake.into_iter().flatten().min())
    }
}

#[cfg(test)]
mod tests;
