//! A VpcNatGateway's rule set (`rules::nat::NatRuleSet`), rendered from the
//! validated model: what the daemon writes to the gateway's rule-set
//! ConfigMap and the agent applies. Pure.
//!
//! - The VPC leg: `lanIp`, and routes via `eth0` to the VPC's other subnets
//!   through the gateway subnet's gateway address, plus `spec.routes`.
//! - The external leg: the gateway's first external subnet, its prefix
//!   length and gateway address.
//! - EIPs: the gateway's IptablesEIPs on that subnet that have an address,
//!   and the old inline form's `eips`. An EIP's address comes from
//!   [`EipAddresses`], an input: the IPAM's (`model::derived::Derived::eips`,
//!   fixed or allocated; [`fixed_addresses`] for tests of fixed ones). An EIP without an address
//!   is left out, and so are the rules on it (they are not ready).
//! - FIP, DNAT and SNAT rules on those EIPs, each naming its EIP by address;
//!   the inline form's rules likewise, named by their place in the spec
//!   (`inline::inline_name`).
//!
//! Invariants: the set is canonical (`NatRuleSet::canonical`), so the same
//! model renders the same digest in every daemon process; a rule is in the
//! set only if its EIP is.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::IpNet;

use super::inline::inline_name;
use super::validate::VpcNatGateway;
use crate::model::validate::{Model, Subnet};
use crate::rules::nat::{Dnat, Eip, External, Fip, Lan, NatRuleSet, Protocol, Route, Snat};
use crate::rules::VERSION;

/// Each IptablesEIP's address, by name: the seam between address allocation
/// and rendering.
pub type EipAddresses = BTreeMap<String, Ipv4Addr>;

/// The addresses of the EIPs with a fixed `v4ip`.
pub fn fixed_addresses(model: &Model) -> EipAddresses {
    model.eips.values().filter_map(|e| Some((e.name.clone(), e.v4ip?))).collect()
}

fn v4_net(s: &Subnet) -> Option<ipnet::Ipv4Net> {
    s.cidrs.iter().find_map(|c| match c {
        IpNet::V4(n) => Some(*n),
        IpNet::V6(_) => None,
    })
}

fn v4_gateway(s: &Subnet) -> Option<Ipv4Addr> {
    s.gateways.iter().find_map(|g| match g {
        std::net::IpAddr::V4(a) => Some(*a),
        std::net::IpAddr::V6(_) => None,
    })
}

fn protocol(p: &str) -> Protocol {
    match p {
        "udp" => Protocol::Udp,
        _ => Protocol::Tcp,
    }
}

/// The rule set of every accepted gateway, by name (a gateway whose subnets
/// have no IPv4 network is left out; validation refuses it).
pub fn rule_sets(model: &Model, addresses: &EipAddresses) -> BTreeMap<String, NatRuleSet> {
    model.nat_gateways.values().filter_map(|g| Some((g.name.clone(), rule_set(model, g, addresses)?))).collect()
}

/// Gateway `g`'s rule set.
pub fn rule_set(model: &Model, g: &VpcNatGateway, addresses: &EipAddresses) -> Option<NatRuleSet> {
    let subnet = model.subnets.get(&g.spec.subnet)?;
    let ext = model.subnets.get(&g.external_subnets[0])?;
    let ext_net = v4_net(ext)?;
    let via = v4_gateway(subnet)?;
    let mut routes: Vec<Route> = model
        .subnets_of(&g.spec.vpc)
        .filter(|s| s.name != subnet.name)
        .filter_map(v4_net)
        .map(|n| Route { cidr: n.to_string(), via })
        .collect();
    routes.extend(g.routes.iter().map(|(cidr, via)| Route { cidr: cidr.to_string(), via: *via }));
    let mut set = NatRuleSet {
        version: VERSION,
        gateway: g.name.clone(),
        lan: Lan { ip: g.lan_ip, routes },
        external: External { subnet: ext.name.clone(), prefix_len: ext_net.prefix_len(), gateway: v4_gateway(ext)? },
        eips: vec![],
        fips: vec![],
        dnats: vec![],
        snats: vec![],
    };
    // The gateway's EIPs with an address, by name.
    let eips: BTreeMap<&str, Ipv4Addr> = model
        .eips
        .values()
        .filter(|e| e.gateway == g.name && e.external_subnet == ext.name)
        .filter_map(|e| Some((e.name.as_str(), *addresses.get(&e.name)?)))
        .collect();
    set.eips.extend(eips.iter().map(|(name, ip)| Eip { name: name.to_string(), ip: *ip }));
    for r in model.fip_rules.values() {
        if let Some(eip) = eips.get(r.eip.as_str()) {
            set.fips.push(Fip { name: r.name.clone(), eip: *eip, internal_ip: r.internal_ip });
        }
    }
    for r in model.dnat_rules.values() {
        if let Some(eip) = eips.get(r.eip.as_str()) {
            set.dnats.push(Dnat {
                name: r.name.clone(),
                eip: *eip,
                protocol: protocol(&r.protocol),
                external_port: r.external_port,
                internal_ip: r.internal_ip,
                internal_port: r.internal_port,
            });
        }
    }
    for r in model.snat_rules.values() {
        if let Some(eip) = eips.get(r.eip.as_str()) {
            set.snats.push(Snat { name: r.name.clone(), eip: *eip, internal_cidr: r.internal_cidr.to_string() });
        }
    }
    // The old inline form: the same rules.
    let inline = &g.inline;
    for (i, ip) in inline.eips.iter().enumerate() {
        set.eips.push(Eip { name: inline_name("eips", i), ip: *ip });
    }
    for (i, (eip, internal_ip)) in inline.fips.iter().enumerate() {
        set.fips.push(Fip { name: inline_name("floatingIpRules", i), eip: *eip, internal_ip: *internal_ip });
    }
    for (i, d) in inline.dnats.iter().enumerate() {
        set.dnats.push(Dnat {
            name: inline_name("dnatRules", i),
            eip: d.eip,
            protocol: protocol(&d.protocol),
            external_port: d.external_port,
            internal_ip: d.internal_ip,
            internal_port: d.internal_port,
        });
    }
    for (i, (eip, cidr)) in inline.snats.iter().enumerate() {
        set.snats.push(Snat { name: inline_name("snatRules", i), eip: *eip, internal_cidr: cidr.to_string() });
    }
    Some(set.canonical())
}

#[cfg(test)]
#[path = "rules_tests.rs"]
pub(crate) mod tests;
