//! `ovn-vpcd gateway nat`: the VPC NAT gateway agent. It reads its
//! gateway's [`NatRuleSet`](crate::rules::nat::NatRuleSet) from a ConfigMap
//! (list+watch of that one object), applies it to the pod's network
//! namespace and reports the digest it applied on its own pod.
//!
//! The pure parts, tested without a kernel: [`iptables`] (the nat and
//! mangle tables in Kube-OVN 1.16's chains and rule text, the kernel's
//! `iptables-save` read back, the diff as one `iptables-restore --noflush`
//! input, the conntrack flushes of rules that went away), [`net`] (EIP
//! addresses on `net1`, our routes, gratuitous ARP) and [`agent`] (when to
//! apply, re-check and report: a state machine on tokio's clock). The I/O:
//! [`kernel`] (runs the tools) and [`driver`] (the watch, the loop, the
//! pod annotations).
//!
//! Invariants:
//! - The kernel only ever changes from a set read from the API: nothing is
//!   applied before the first set arrives, and a deleted ConfigMap or a
//!   set that does not decode (another version) keeps what is applied and
//!   is reported as the error — never a flush on bad input.
//! - Only what is ours is removed: rules in our chains (all of them: a rule
//!   added there by hand goes), addresses on `net1` with our label
//!   ([`net::EIP_LABEL`]), routes with our protocol number
//!   ([`net::ROUTE_PROTO`]). The CNI's addresses and routes, and other
//!   chains, are never touched.
//! - The tables change in one `iptables-restore --noflush` process, never
//!   one process per rule, and the jumps from the built-in chains exist
//!   exactly once.
//! - Addresses and routes (one `ip -force -batch -`) and the tables are
//!   applied independently ([`kernel`]): a line the kernel refuses (a
//!   route whose next hop it cannot reach) applies everything else, and
//!   the apply is still an error, reported by line, not reported as
//!   applied, and retried.

pub mod agent;
pub mod driver;
pub mod iptables;
pub mod kernel;
pub mod net;
#[cfg(test)]
mod testset;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NatError {
    #[error("{field} {value:?} is not an IPv4 address or a.b.c.d/len")]
    Cidr { field: &'static str, value: String },
    #[error("`{command}` printed what the agent cannot read: {reason}")]
    Parse { command: String, reason: String },
}
