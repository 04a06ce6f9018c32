//! What the IPAM reports: refusals, errors, evictions, and what a subnet
//! sync did.

use std::fmt;
use std::net::IpAddr;

use super::PodAddress;

/// Why an address cannot be given to (or kept by) a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not inside any CIDR of the subnet (`cidrs`: the subnet's CIDRs).
    Outside {
        cidrs: String,
    },
    NetworkAddress,
    LastAddress,
    Gateway,
    Excluded,
    Taken {
        holder: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Outside { cidrs } => write!(f, "is outside {cidrs}"),
            Refusal::NetworkAddress => write!(f, "is the network address"),
            Refusal::LastAddress => write!(f, "is the last (broadcast) address"),
            Refusal::Gateway => write!(f, "is the gateway"),
            Refusal::Excluded => write!(f, "is excluded (excludeIps)"),
            Refusal::Taken { holder } => write!(f, "is taken by pod {holder}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("pod {pod}: subnet {subnet} does not exist (or is not valid)")]
    UnknownSubnet { pod: String, subnet: String },
    /// `what`: "requested ip", "requested mac", "ip", "mac".
    #[error("pod {pod}: {what} {value:?} {reason}")]
    Malformed { pod: String, what: &'static str, value: String, reason: String },
    /// `what`: "requested ip" (allocate) or "ip" (restore).
    #[error("pod {pod}: {what} {ip} in subnet {subnet} {reason}")]
    Refused { pod: String, what: &'static str, ip: IpAddr, subnet: String, reason: Refusal },
    #[error("pod {pod}: mac {mac} in subnet {subnet} is taken by pod {holder}")]
    MacTaken { pod: String, mac: String, subnet: String, holder: String },
    #[error("pod {pod}: subnet {subnet} has no free {family} address")]
    Exhausted { pod: String, subnet: String, family: &'static str },
    #[error("pod {pod}: no free MAC in subnet {subnet} after {tries} derivations")]
    NoMac { pod: String, subnet: String, tries: u32 },
    /// The pod already holds another address; a pod's address does not
    /// change while it exists (release it first, i.e. delete the pod).
    #[error("pod {pod}: already holds {held} in subnet {subnet}; asked for {asked}")]
    AlreadyAllocated { pod: String, subnet: String, held: String, asked: String },
}

/// Why [`Ipam::sync_subnets`] released a pod's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvictReason {
    /// The subnet is gone from the model (deleted or refused).
    SubnetRemoved,
    /// The subnet changed and this address of the pod no longer fits.
    NoLongerFits { ip: IpAddr, reason: Refusal },
}

/// A pod whose address was released by [`Ipam::sync_subnets`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eviction {
    pub pod: String,
    /// What the pod held (all of it is released).
    pub address: PodAddress,
    pub reason: EvictReason,
}

impl fmt::Display for Eviction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.address;
        match &self.reason {
            EvictReason::SubnetRemoved => {
                write!(f, "pod {}: released {} (subnet {} removed)", self.pod, a.lsp_address(), a.subnet)
            }
            EvictReason::NoLongerFits { ip, reason } => write!(
                f,
                "pod {}: released {}: {ip} no longer fits subnet {}: it {reason}",
                self.pod,
                a.lsp_address(),
                a.subnet
            ),
        }
    }
}

/// What [`Ipam::sync_subnets`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Subnets whose CIDRs, gateways or excludes changed.
    pub changed: Vec<String>,
    pub evicted: Vec<Eviction>,
}
