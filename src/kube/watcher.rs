//! List+watch resilience as a pure state machine, in the manner of
//! kube-runtime's watcher: [`step`] takes the current state and what the
//! last request produced, and returns the events to deliver, the next state
//! and the next request to make. The I/O driver and the backoff layer
//! ([`WatchBackoff`]) are separate, so every transition is tested without a
//! server and every delay under tokio's paused clock.
//!
//! Semantics: a paginated list (limit/continue) is delivered as one
//! `Restarted` with every object; the watch starts at the list's
//! resourceVersion; bookmarks move the resourceVersion without an event; a
//! watch closed by the server (its `timeoutSeconds`) is reopened at once
//! from the last resourceVersion; `410 Gone` (or an ERROR event with code
//! 410 / reason `Expired`) forces a fresh list; any other failure repeats
//! the same request after a backoff.
//!
//! A `404` on the list means the API server does not serve the kind (its
//! CRD is not installed): no object of it can exist, so that is an empty
//! list, delivered once as `Restarted(vec![])` (the user is synced and goes
//! on with the other kinds), and the list is retried with backoff until the
//! kind is served. A `404` on the watch (the CRD deleted meanwhile) lists
//! again.

use std::time::Duration;

use serde_json::Value as Json;
use tokio::time::Instant;

use crate::backoff::{Backoff, BackoffConfig};

/// The next request the driver must make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    List { continue_token: Option<String> },
    Watch { resource_version: String },
}

/// What the driver observed.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Nothing yet: start.
    Start,
    /// One page of a list.
    Page { items: Vec<Json>, continue_token: Option<String>, resource_version: String },
    /// One event of an open watch (`{"type": .., "object": ..}`).
    Event { kind: String, object: Json },
    /// The server ended the watch normally.
    WatchClosed,
    /// The request failed with an HTTP status (0 for transport errors).
    Failed { status: u16, reason: String },
}

/// What the watcher tells its user.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A full (re)list: the complete current set of objects.
    Restarted(Vec<Json>),
    Applied(Json),
    Deleted(Json),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Empty,
    /// The kind is not served (404): delivered as empty, the list retried.
    Absent,
    Listing {
        continue_token: String,
        items: Vec<JsonEq>,
    },
    Watching {
        resource_version: String,
    },
}

/// `serde_json::Value` with `Eq`, for state comparisons in tests.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonEq(pub Json);
impl Eq for JsonEq {}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub events: Vec<Event>,
    pub next: State,
    pub action: Action,
    /// Wait a backoff delay before the action.
    pub backoff: bool,
}

fn object_version(o: &Json) -> Option<String> {
    o.pointer("/metadata/resourceVersion").and_then(Json::as_str).map(str::to_string)
}

/// The resourceVersion cannot be used any more: only a fresh list helps.
/// `410 Gone`/`Expired` (compacted away), and a version *newer* than the
/// server's (`ResourceVersionTooLarge`, e.g. after an etcd restore), which
/// would otherwise be retried forever.
fn is_gone(status: u16, reason: &str) -> bool {
    status == 410 || matches!(reason, "Expired" | "Gone" | "ResourceVersionTooLarge")
}

fn relist() -> (State, Action) {
    (State::Empty, Action::List { continue_token: None })
}

/// One transition.
pub fn step(state: State, input: Input) -> Step {
    let ok = |events, next, action| Step { events, next, action, backoff: false };
    let retry = |next: State, action| Step { events: vec![], next, action, backoff: true };
    match (state, input) {
        (_, Input::Start) => {
            let (next, action) = relist();
            ok(vec![], next, action)
        }
        (state, Input::Page { mut items, continue_token, resource_version }) => {
            let mut all: Vec<Json> = match state {
                State::Listing { items, .. } => items.into_iter().map(|j| j.0).collect(),
                _ => vec![],
            };
            all.append(&mut items);
            match continue_token.filter(|c| !c.is_empty()) {
                Some(c) => ok(
                    vec![],
                    State::Listing { continue_token: c.clone(), items: all.into_iter().map(JsonEq).collect() },
                    Action::List { continue_token: Some(c) },
                ),
                None => ok(
                    vec![Event::Restarted(all)],
                    State::Watching { resource_version: resource_version.clone() },
                    Action::Watch { resource_version },
                ),
            }
        }
        (State::Watching { resource_version }, Input::Event { kind, object }) => {
            let rv = object_version(&object).unwrap_or(resource_version);
            let watch =
                |rv: String| (State::Watching { resource_version: rv.clone() }, Action::Watch { resource_version: rv });
            match kind.as_str() {
                "ADDED" | "MODIFIED" => {
                    let (n, a) = watch(rv);
                    ok(vec![Event::Applied(object)], n, a)
                }
                "DELETED" => {
                    let (n, a) = watch(rv);
                    ok(vec![Event::Deleted(object)], n, a)
                }
                "BOOKMARK" => {
                    let (n, a) = watch(rv);
                    ok(vec![], n, a)
                }
                _ => {
                    // ERROR carries a Status object.
                    let code = object.get("code").and_then(Json::as_u64).unwrap_or(0) as u16;
                    let reason = object.get("reason").and_then(Json::as_str).unwrap_or("");
                    if is_gone(code, reason) {
                        let (n, a) = relist();
                        ok(vec![], n, a)
                    } else {
                        let (n, a) = watch(rv);
                        retry(n, a)
                    }
                }
            }
        }
        (State::Watching { resource_version }, Input::WatchClosed) => ok(
            vec![],
            State::Watching { resource_version: resource_version.clone() },
            Action::Watch { resource_version },
        ),
        (_, Input::Failed { status, reason }) if is_gone(status, &reason) => {
            let (n, a) = relist();
            ok(vec![], n, a)
        }
        (State::Empty | State::Listing { .. }, Input::Failed { status: 404, .. }) => Step {
            events: vec![Event::Restarted(vec![])],
            next: State::Absent,
            action: Action::List { continue_token: None },
            backoff: true,
        },
        (State::Absent, Input::Failed { .. }) => retry(State::Absent, Action::List { continue_token: None }),
        (State::Watching { .. }, Input::Failed { status: 404, .. }) => {
            let (n, a) = relist();
            ok(vec![], n, a)
        }
        (State::Watching { resource_version }, Input::Failed { .. }) => {
            retry(State::Watching { resource_version: resource_version.clone() }, Action::Watch { resource_version })
        }
        (State::Listing { continue_token, items }, Input::Failed { .. }) => {
            let action = Action::List { continue_token: Some(continue_token.clone()) };
            retry(State::Listing { continue_token, items }, action)
        }
        (State::Empty, Input::Failed { .. }) => retry(State::Empty, Action::List { continue_token: None }),
        // Events or closures without an open watch: the driver is confused;
        // start over.
        (_, Input::Event { .. } | Input::WatchClosed) => {
            let (n, a) = relist();
            retry(n, a)
        }
    }
}

/// The backoff layer: 0.8 s doubling to 30 s with jitter, back to 0.8 s
/// after a healthy period without failures.
pub struct WatchBackoff {
    backoff: Backoff,
    healthy_since: Option<Instant>,
    healthy_period: Duration,
}

pub const WATCH_BACKOFF: BackoffConfig =
    BackoffConfig { initial: Duration::from_millis(800), max: Duration::from_secs(30), factor: 2.0, jitter: 0.25 };

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff::new(WATCH_BACKOFF, Duration::from_secs(120))
    }
}

impl WatchBackoff {
    pub fn new(config: BackoffConfig, healthy_period: Duration) -> Self {
        WatchBackoff { backoff: Backoff::new(config), healthy_since: None, healthy_period }
    }

    /// Call after each step: returns how long to wait before its action.
    pub fn delay(&mut self, step: &Step) -> Duration {
        let now = Instant::now();
        if step.backoff {
            self.healthy_since = None;
            return self.backoff.next_delay();
        }
        match self.healthy_since {
            None => self.healthy_since = Some(now),
            Some(t) if now.duration_since(t) >= self.healthy_period => self.backoff.reset(),
            Some(_) => {}
        }
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests;
