//! Facts derived from other objects, an input of their own to rendering
//! beside the validated [`Model`](super::validate::Model): pods' switch
//! ports with the addresses the IPAM gave them now, and the addresses of
//! their Multus attachments (no rows: only the pods' annotations use them), and
//! the IptablesEIPs' addresses (no rows: the gateways' rule sets use them). A pass's scope follows them: when a derived fact changes,
//! exactly the objects whose rows use it are re-planned
//! (`reconcile::changed_owners`).
//!
//! The pods' maps are persistent ([`imbl::OrdMap`]): a copy shares every
//! node with the original, a change copies only the path to the key it
//! changes, and two versions are compared by walking only the nodes they
//! do not share. So a pass that changes a few pods costs in proportion to
//! them, not to every pod, although the previous version is still held (by
//! the last pass's baseline and the reporter).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use imbl::OrdMap;

/// A pod's switch port as the reconciler needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodPort {
    /// `<namespace>/<name>`.
    pub key: String,
    pub pod: String,
    pub namespace: String,
    pub subnet: String,
    /// IPv4 first.
    pub ips: Vec<IpAddr>,
    pub mac: String,
    /// The port's `port_security` holds its address (see `kinds::pod::rows`).
    pub port_security: bool,
}

/// Everything derived, by owner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Derived {
    /// Pods' switch ports by `<namespace>/<name>`; persistent, so that a
    /// copy of the map is cheap, and shared, so that an unchanged port
    /// compares by pointer.
    pub pods: OrdMap<String, Arc<PodPort>>,
    /// Pods' attachment addresses by `<namespace>/<name>`, in the order the
    /// pod names them (only pods with at least one).
    pub attachments: OrdMap<String, Arc<Vec<AttachmentAddress>>>,
    /// The IptablesEIPs' addresses by name, fixed or allocated by the IPAM
    /// (`daemon::pods::eips`): only EIPs that hold one.
    pub eips: BTreeMap<String, Ipv4Addr>,
}

/// The address of one of a pod's Multus attachments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentAddress {
    /// `<nad-name>.<nad-namespace>`.
    pub provider: String,
    pub subnet: String,
    /// IPv4 first.
    pub ips: Vec<IpAddr>,
    pub mac: String,
}
