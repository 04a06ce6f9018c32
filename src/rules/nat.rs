//! A VPC NAT gateway's rule set: its two legs, its EIPs and its FIP, DNAT
//! and SNAT rules, as validated and rendered by the daemon
//! (`kinds::vpc_nat_gateway::rules`) and applied by `ovn-vpcd gateway nat`.
//!
//! Invariants: the lists are sorted as [`NatRuleSet::canonical`] orders
//! them (EIPs and rules by name; SNATs longest prefix first, the order the
//! kernel must see them in), so equal sets serialise, and digest, alike.
//! IPv4 only: the iptables gateway is IPv4-only (Kube-OVN's too).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{RulesError, VERSION};

/// The interface of the gateway pod's VPC leg.
pub const LAN_INTERFACE: &str = "eth0";
/// The interface of its external leg (the Multus attachment).
pub const EXTERNAL_INTERFACE: &str = "net1";
/// The gateway pod's privileged init container that switches on
/// `net.ipv4.ip_forward` before the agent starts: the agent is not
/// privileged, and a container runtime mounts `/proc/sys` read-only in
/// such a container, so the agent's own write fails on a real cluster.
pub const FORWARDING_INIT_CONTAINER: &str = "init-forwarding";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NatRuleSet {
    pub version: u32,
    /// The VpcNatGateway's name.
    pub gateway: String,
    pub lan: Lan,
    pub external: External,
    pub eips: Vec<Eip>,
    pub fips: Vec<Fip>,
    pub dnats: Vec<Dnat>,
    pub snats: Vec<Snat>,
}

/// The VPC leg (`eth0`, its address `lanIp` is the CNI's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lan {
    pub ip: Ipv4Addr,
    /// Routes via `eth0`: the VPC's other subnets via the gateway's
    /// subnet gateway, and the gateway spec's `routes`.
    pub routes: Vec<Route>,
}

/// The external leg (`net1`): its subnet's prefix length (the EIPs'),
/// and the gateway the default route goes through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct External {
    pub subnet: String,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// `a.b.c.d/len`, network address (validated by the daemon).
    pub cidr: String,
    pub via: Ipv4Addr,
}

/// An address on `net1` (with the external subnet's prefix length).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Eip {
    pub name: String,
    pub ip: Ipv4Addr,
}

/// EIP ↔ internal address, both ways.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fip {
    pub name: String,
    pub eip: Ipv4Addr,
    pub internal_ip: Ipv4Addr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// `eip:external_port/protocol` → `internal_ip:internal_port`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dnat {
    pub name: String,
    pub eip: Ipv4Addr,
    pub protocol: Protocol,
    pub external_port: u16,
    pub internal_ip: Ipv4Addr,
    pub internal_port: u16,
}

/// Sources in `internal_cidr` leave `net1` as `eip`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snat {
    pub name: String,
    pub eip: Ipv4Addr,
    /// `a.b.c.d/len` (a bare address is `/32`).
    pub internal_cidr: String,
}

impl Snat {
    /// The CIDR's prefix length (32 for a bare or unparsable address).
    pub fn prefix_len(&self) -> u8 {
        self.internal_cidr.split_once('/').and_then(|(_, l)| l.parse().ok()).unwrap_or(32)
    }
}

impl NatRuleSet {
    /// A set of this build's version with its lists in canonical order.
    pub fn canonical(mut self) -> NatRuleSet {
        self.version = VERSION;
        self.eips.sort_by(|a, b| a.name.cmp(&b.name));
        self.fips.sort_by(|a, b| a.name.cmp(&b.name));
        self.dnats.sort_by(|a, b| a.name.cmp(&b.name));
        // Longest prefix first, then by name: the kernel takes the first match.
        self.snats.sort_by(|a, b| b.prefix_len().cmp(&a.prefix_len()).then_with(|| a.name.cmp(&b.name)));
        self
    }

    /// The set as the JSON a ConfigMap holds.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a rule set always serialises")
    }

    /// Reads a set, refusing another version by name.
    pub fn from_json(text: &str) -> Result<NatRuleSet, RulesError> {
        let found = version_of(text)?;
        if found != VERSION {
            return Err(RulesError::Version { found });
        }
        serde_json::from_str(text).map_err(|e| RulesError::Decode(e.to_string()))
    }

    /// Reads a set as the daemon reads what a gateway runs (its rules
    /// ConfigMap, `kinds::vpc_nat_gateway::running`): this build's version,
    /// or an earlier one through that version's reader ([`earlier`]), so a
    /// daemon upgraded while its gateways run what the old one wrote still
    /// knows who holds what. A later version is refused by name. (The agent
    /// applies its own version only: [`NatRuleSet::from_json`].)
    pub fn from_running_json(text: &str) -> Result<NatRuleSet, RulesError> {
        let found = version_of(text)?;
        match found.cmp(&VERSION) {
            std::cmp::Ordering::Equal => NatRuleSet::from_json(text),
            std::cmp::Ordering::Less => earlier(found, text),
            std::cmp::Ordering::Greater => Err(RulesError::Version { found }),
        }
    }

    /// The set's digest: 16 hex digits of FNV-1a over its canonical JSON.
    pub fn digest(&self) -> String {
        let canonical = self.clone().canonical();
        format!("{:016x}", crate::hash::fnv1a64(canonical.to_json().into_bytes()))
    }
}

/// The `version` a set's JSON says it is.
fn version_of(text: &str) -> Result<u32, RulesError> {
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let v: Versioned = serde_json::from_str(text).map_err(|e| RulesError::Decode(e.to_string()))?;
    Ok(v.version)
}

/// A set of `version`, earlier than [`VERSION`], as this build's: one
/// reader per released earlier version, kept until no gateway can run it.
/// Invariant: every released version has one (the test
/// `every_released_version_reads_as_running` holds a frozen set of each,
/// `tests/fixtures/frozen/nat-rules-v<N>.json`; bumping [`VERSION`] fails it
/// until the reader of the version before is written here).
fn earlier(version: u32, _text: &str) -> Result<NatRuleSet, RulesError> {
    // Version 1 is the first format and this build's: there is no earlier
    // one to read yet.
    Err(RulesError::Version { found: version })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> NatRuleSet {
        NatRuleSet {
            version: VERSION,
            gateway: "gw1".into(),
            lan: Lan { ip: "10.0.1.254".parse().unwrap(), routes: vec![] },
            external: External {
                subnet: "ovn-vpc-external-network".into(),
                prefix_len: 24,
                gateway: "192.168.239.1".parse().unwrap(),
            },
            eips: vec![Eip { name: "e1".into(), ip: "192.168.239.11".parse().unwrap() }],
            fips: vec![],
            dnats: vec![],
            snats: vec![
                Snat {
                    name: "wide".into(),
                    eip: "192.168.239.11".parse().unwrap(),
                    internal_cidr: "10.0.0.0/16".into(),
                },
                Snat { name: "host".into(), eip: "192.168.239.11".parse().unwrap(), internal_cidr: "10.0.1.5".into() },
                Snat {
                    name: "net".into(),
                    eip: "192.168.239.11".parse().unwrap(),
                    internal_cidr: "10.0.1.0/24".into(),
                },
            ],
        }
    }

    #[test]
    fn snats_are_ordered_longest_prefix_first() {
        let names: Vec<String> = set().canonical().snats.into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["host", "net", "wide"]);
    }

    #[test]
    fn the_digest_follows_content_not_order() {
        let a = set();
        let mut b = set();
        b.snats.reverse();
        assert_eq!(a.digest(), b.digest());
        b.eips[0].ip = "192.168.239.12".parse().unwrap();
        assert_ne!(a.digest(), b.digest());
    }

    /// What a gateway runs stays readable to the daemon across a format
    /// change: each released version's frozen set reads as running, and a
    /// later version is refused by name (a daemon rolled back says so).
    #[test]
    fn every_released_version_reads_as_running() {
        let frozen = [(1, include_str!("../../tests/fixtures/frozen/nat-rules-v1.json"))];
        assert_eq!(frozen.len() as u32, VERSION, "a frozen set of every released version");
        for (version, text) in frozen {
            // Every part of the format: a route, each list, both protocols.
            let set = NatRuleSet::from_running_json(text).unwrap_or_else(|e| panic!("version {version}: {e}"));
            let counts = (set.eips.len(), set.fips.len(), set.dnats.len(), set.snats.len(), set.lan.routes.len());
            assert_eq!((set.gateway.as_str(), counts), ("natgw", (3, 1, 2, 1, 1)));
            assert_eq!(set.fips[0].internal_ip.to_string(), "10.0.1.5");
            assert_eq!(set.lan.routes[0].via.to_string(), "10.0.1.1");
            let dnats: Vec<_> = set.dnats.iter().map(|d| (d.protocol, d.external_port, d.internal_port)).collect();
            assert_eq!(dnats, [(Protocol::Tcp, 8888, 80), (Protocol::Udp, 53, 5353)]);
        }
        let mut later = set().canonical();
        later.version = VERSION + 1;
        let found = VERSION + 1;
        assert_eq!(NatRuleSet::from_running_json(&later.to_json()), Err(RulesError::Version { found }));
    }

    #[test]
    fn a_set_round_trips_and_another_version_is_refused() {
        let s = set().canonical();
        assert_eq!(NatRuleSet::from_json(&s.to_json()).unwrap(), s);
        let mut other = s.clone();
        other.version = VERSION + 1;
        assert_eq!(NatRuleSet::from_json(&other.to_json()), Err(RulesError::Version { found: VERSION + 1 }));
        let unknown = s.to_json().replacen('{', "{\"shaping\":1,", 1);
        assert!(matches!(NatRuleSet::from_json(&unknown), Err(RulesError::Decode(m)) if m.contains("shaping")));
    }
}
