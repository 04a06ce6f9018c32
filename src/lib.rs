//! ovn-vpcd: Kube-OVN's tenant VPC networking for OVN, as a standalone daemon.
//! ARCHITECTURE.md maps the crate; each module states the invariants it
//! keeps at its head.
//!
//! Invariants of the whole crate:
//! - Everything between the config text (or a resource's JSON) and the list
//!   of OVSDB operations is pure: `config`, `model`, `kinds`, `nb::rows`,
//!   `reconcile::{desired, diff}`, `ipam` and the pure halves of `kube` and
//!   `daemon` do no I/O; I/O lives in `ovsdb`, `kube::{client, driver,
//!   lease, objects::driver}` and the `daemon`'s drivers.
//! - No clock but tokio's: `clippy.toml` bans `std::time::Instant` and
//!   `SystemTime` (denied by Cargo.toml's `[lints]`), so timing code runs
//!   under tokio's paused clock in tests.
//! - No `unsafe` (`unsafe_code = "forbid"` in Cargo.toml's `[lints]`, and
//!   below), no `ovn-nbctl` in the daemon (tests use it to verify), no
//!   fake OVSDB or API server in tests of their behaviour (only the
//!   malformed-input tests use a raw socket).
#![forbid(unsafe_code)]

pub mod backoff;
pub mod config;
pub mod daemon;
pub mod gateway;
pub mod hash;
pub mod ipam;
pub mod kinds;
pub mod kube;
pub mod mac;
pub mod model;
pub mod nb;
pub mod ovsdb;
pub mod reconcile;
pub mod rules;
pub mod testbed;
