//! A validated VPC ([`Vpc`]) and one VPC's own rules: static routes, policy
//! routes, the BFD port. Next hops are checked against the networks of the
//! VPC's subnets, including subnets refused for reasons of their own: a
//! refused subnet keeps its rows, so a route into it still leads somewhere,
//! and one bad subnet must not refuse its VPC (and with it every sibling).
//!
//! The validated spec is normalised: prefixes and next hops trimmed, bare
//! addresses as host prefixes, matches trimmed, so what is written is what
//! was checked.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::kinds::subnet::rows::{subnet_policy_match, SUBNET_POLICY_PRIORITY};
use crate::kinds::subnet::validate::is_edge_address;
use crate::model::object::Kind;
use crate::model::validate::{
    check_name, parse_cidr, parse_ip, reject, wait_for, Model, Rejection, MAX_POLICY_PRIORITY,
};
use crate::model::{ovn_match, PolicyAction, SubnetSpec, VpcSpec};

/// A validated VPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vpc {
    pub name: String,
    pub spec: VpcSpec,
}

/// A match with its blanks removed, for comparing matches.
fn squeeze(m: &str) -> String {
    m.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Two matches OVN makes one flow of: equal but for blanks, or one
/// comparison of one field with one network however spelled.
fn same_match(a: &str, b: &str) -> bool {
    squeeze(a) == squeeze(b) || ovn_match::single_network(a).is_some_and(|n| Some(n) == ovn_match::single_network(b))
}

/// What the subnets of every VPC offer its routes.
pub(crate) struct Networks {
    /// (VPC, subnet, network): every OVN subnet spec whose CIDRs parse.
    declared: BTreeMap<String, Vec<(String, IpNet)>>,
    /// (VPC, subnet, gateway) of the valid subnets.
    gateways: BTreeMap<String, Vec<(String, IpAddr)>>,
}

/// [`Networks`] of one VPC.
pub(crate) struct VpcNetworks<'a> {
    vpc: &'a str,
    all: &'a Networks,
}

impl Networks {
    pub(crate) fn new(subnets: &[(String, SubnetSpec)], model: &Model) -> Networks {
        let mut declared: BTreeMap<String, Vec<(String, IpNet)>> = BTreeMap::new();
        for (name, s) in subnets.iter().filter(|(_, s)| s.provider.is_empty() || s.provider == "ovn") {
            for c in s.cidr_block.split(',').filter_map(|c| parse_cidr(c).ok()) {
                declared.entry(s.vpc.clone()).or_default().push((name.clone(), c));
            }
        }
        let mut gateways: BTreeMap<String, Vec<(String, IpAddr)>> = BTreeMap::new();
        for s in model.subnets.values().filter(|s| s.is_ovn) {
            let of_vpc = gateways.entry(s.spec.vpc.clone()).or_default();
            of_vpc.extend(s.gateways.iter().map(|g| (s.name.clone(), *g)));
        }
        Networks { declared, gateways }
    }

    pub(crate) fn of<'a>(&'a self, vpc: &'a str) -> VpcNetworks<'a> {
        VpcNetworks { vpc, all: self }
    }
}

impl VpcNetworks<'_> {
    fn declared(&self) -> impl Iterator<Item = (&str, &IpNet)> {
        self.all.declared.get(self.vpc).into_iter().flatten().map(|(s, c)| (s.as_str(), c))
    }

    /// A next hop must be a host of one of the VPC's subnets, not its
    /// router's own address; `Err((waiting, why))`.
    fn check_hop(&self, hop: &IpAddr) -> Result<(), (bool, String)> {
        let Some((subnet, c)) = self.declared().find(|(_, c)| c.contains(hop)) else {
            return Err((true, format!("{hop} is not inside any subnet of VPC {:?}", self.vpc)));
        };
        if is_edge_address(c, hop) {
            return Err((false, format!("{hop} is the network or broadcast address of subnet {subnet:?} ({c})")));
        }
        if let Some((s, _)) = self.all.gateways.get(self.vpc).into_iter().flatten().find(|(_, g)| g == hop) {
            return Err((false, format!("{hop} is the VPC router's own address on subnet {s:?} (its gateway)")));
        }
        Ok(())
    }

    /// The automatic allow policy of a subnet with this priority and match.
    fn reserved_policy(&self, priority: i64, m: &str) -> Option<&str> {
        if priority != SUBNET_POLICY_PRIORITY {
            return None;
        }
        // However spelled: `ip4.dst == {10.0.4.0/24}` is the same flow.
        let net = ovn_match::single_network(m);
        let m = squeeze(m);
        self.declared()
            .find(|(_, c)| {
                let field = if c.addr().is_ipv4() { "ip4.dst" } else { "ip6.dst" };
                squeeze(&subnet_policy_match(c)) == m || net == Some((field.to_string(), **c))
            })
            .map(|(s, _)| s)
    }
}

/// `prefix`: a CIDR without host bits, or a bare address (a host route).
fn route_prefix(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if s.contains('/') {
        return parse_cidr(s);
    }
    s.parse::<IpAddr>().map(IpNet::from).map_err(|_| format!("{s:?} is not a CIDR (address/prefix) or an address"))
}

pub(crate) fn check_vpc(name: &str, spec: &VpcSpec, nets: &VpcNetworks) -> Result<Vpc, Rejection> {
    check_name(Kind::Vpc, name)?;
    let bad = |field: String, reason: String| reject(Kind::Vpc, name, field, reason);
    let hop_error = |field: String, (waiting, why): (bool, String)| {
        if waiting {
            wait_for(Kind::Vpc, name, field, why)
        } else {
            bad(field, why)
        }
    };
    let mut out = spec.clone();
    for (i, r) in spec.static_routes.iter().enumerate() {
        let f = |k: &str| format!("staticRoutes[{i}].{k}");
        let cidr = route_prefix(&r.cidr).map_err(|e| bad(f("cidr"), e))?;
        let hop = parse_ip(&r.next_hop_ip).map_err(|e| bad(f("nextHopIP"), e))?;
        if hop.is_ipv4() != cidr.addr().is_ipv4() {
            return Err(bad(f("nextHopIP"), format!("{hop} is not of the same family as {}", r.cidr.trim())));
        }
        nets.check_hop(&hop).map_err(|e| hop_error(f("nextHopIP"), e))?;
        // A bare address stays as OVN prints it (no /32).
        out.static_routes[i].cidr = if r.cidr.contains('/') { cidr.to_string() } else { cidr.addr().to_string() };
        out.static_routes[i].next_hop_ip = hop.to_string();
    }
    for (i, r) in out.static_routes.iter().enumerate() {
        if let Some(j) = out.static_routes[..i].iter().position(|o| {
            (&o.cidr, &o.next_hop_ip, o.policy, o.route_table.as_str())
                == (&r.cidr, &r.next_hop_ip, r.policy, r.route_table.as_str())
        }) {
            return Err(bad(format!("staticRoutes[{i}]"), format!("repeats staticRoutes[{j}]")));
        }
    }
    for (i, p) in spec.policy_routes.iter().enumerate() {
        if let Some(j) =
            spec.policy_routes[..i].iter().position(|o| o.priority == p.priority && same_match(&o.match_, &p.match_))
        {
            return Err(bad(format!("policyRoutes[{i}]"), format!("same priority and match as policyRoutes[{j}]")));
        }
    }
    for (i, p) in spec.policy_routes.iter().enumerate() {
        let f = |k: &str| format!("policyRoutes[{i}].{k}");
        if !(0..=MAX_POLICY_PRIORITY).contains(&p.priority) {
            return Err(bad(f("priority"), format!("{} is outside OVN's range 0..={MAX_POLICY_PRIORITY}", p.priority)));
        }
        if p.match_.trim().is_empty() {
            return Err(bad(f("match"), "must not be empty".into()));
        }
        let families = ovn_match::check(&p.match_).map_err(|e| bad(f("match"), e.to_string()))?;
        if let Some(s) = nets.reserved_policy(p.priority, &p.match_) {
            return Err(bad(
                format!("policyRoutes[{i}]"),
                format!(
                    "priority {SUBNET_POLICY_PRIORITY} with match {:?} is the automatic allow policy of subnet {s:?}, \
                     which ovn-vpcd keeps; use another priority",
                    p.match_.trim()
                ),
            ));
        }
        out.policy_routes[i].match_ = p.match_.trim().to_string();
        match (p.action, p.next_hop_ip.trim().is_empty()) {
            (PolicyAction::Reroute, true) => return Err(bad(f("nextHopIP"), "reroute needs a next hop".into())),
            (PolicyAction::Reroute, false) => {
                let mut hops = vec![];
                for hop in p.next_hop_ip.split(',') {
                    let ip = parse_ip(hop).map_err(|e| bad(f("nextHopIP"), e))?;
                    if let Some(why) = families.refuses(ip) {
                        return Err(bad(f("nextHopIP"), why));
                    }
                    nets.check_hop(&ip).map_err(|e| hop_error(f("nextHopIP"), e))?;
                    hops.push(ip.to_string());
                }
                out.policy_routes[i].next_hop_ip = hops.join(",");
            }
            (_, false) => return Err(bad(f("nextHopIP"), format!("{:?} takes no next hop", p.action))),
            (_, true) => {}
        }
    }
    if let Some(b) = spec.bfd_port.as_ref().filter(|b| b.enabled) {
        if b.ip.trim().is_empty() {
            return Err(bad("bfdPort.ip".into(), "required when bfdPort.enabled".into()));
        }
        for ip in b.ip.split(',') {
            parse_ip(ip).map_err(|e| bad("bfdPort.ip".into(), e))?;
        }
    }
    Ok(Vpc { name: name.into(), spec: out })
}
