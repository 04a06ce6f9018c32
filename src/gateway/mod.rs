//! `ovn-vpcd gateway`: the agents that run inside gateway pods. Each
//! applies the rule set the daemon rendered for its gateway (`rules`) to
//! the pod's own network namespace, and reports what it applied.
//!
//! Invariant (ARCHITECTURE.md, "API boundaries"): an agent depends on
//! `rules` and `kube` (its client, and the list+watch state machine and
//! driver) only — never on `daemon`, `reconcile`, `nb` or `ovsdb`.

pub mod nat;
