//! The rule sets the daemon renders for gateway agents, as plain data: what
//! one side writes and the other reads, and nothing else (the API boundary
//! between the daemon and `ovn-vpcd gateway`, ARCHITECTURE.md).
//!
//! Invariants:
//! - No I/O, no dependency on the daemon, the NB or OVSDB: the agent links
//!   this module and `kube::client` only.
//! - Each set carries [`VERSION`]; a reader refuses a set of another
//!   version by name ([`RulesError::Version`]) rather than applying what it
//!   may misread, so a daemon and an agent of different releases see that
//!   they disagree. The daemon, reading what a gateway runs (its rules
//!   ConfigMap), reads every earlier released version too
//!   ([`nat::NatRuleSet::from_running_json`]): an upgraded daemon keeps
//!   knowing who holds which EIP and port while the agents still run the
//!   old sets. A frozen set of each released version is in
//!   `tests/fixtures/frozen/`, and a test reads each.
//! - A set's [`digest`](nat::NatRuleSet::digest) is a pure function of its
//!   content (canonical JSON, FNV-1a): the daemon and the agent compute it
//!   alike, a restarted daemon renders the same digest for the same specs,
//!   and "the agent applied digest D" means exactly the rules of the set
//!   whose digest is D.
//! - Unknown fields are refused (`deny_unknown_fields`): a newer daemon's
//!   field is a version bump, never silently ignored.

pub mod nat;

use thiserror::Error;

/// The version of the rule-set format this build writes and reads.
pub const VERSION: u32 = 1;

/// The key of a rule-set ConfigMap's data holding the set as JSON.
pub const DATA_KEY: &str = "rules.json";

/// The pod annotation an agent reports the digest it applied in (`none`
/// while it has applied nothing since it started), and the one it reports
/// a failed apply in (absent once an apply succeeds).
pub const APPLIED_ANNOTATION: &str = "ovn-vpcd.io/applied-rules";
pub const APPLY_ERROR_ANNOTATION: &str = "ovn-vpcd.io/apply-error";
/// [`APPLIED_ANNOTATION`]'s value before the first apply of a process.
pub const APPLIED_NONE: &str = "none";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RulesError {
    #[error("rule set version {found}, this build reads version {VERSION}: upgrade the agent and the daemon together")]
    Version { found: u32 },
    #[error("rule set is not valid JSON of version {VERSION}: {0}")]
    Decode(String),
}
