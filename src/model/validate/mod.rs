//! Validation: specs in, validated objects and per-object rejections out.
//! Pure. An invalid object is refused alone with a reason naming its field;
//! every valid object is kept.
//!
//! This module orders the checks across kinds (subnets, overlaps with the
//! incumbent first, VPCs, derived-name conflicts, orphans; then the NAT
//! gateway kinds against them, `nat.rs`) and holds the
//! helpers they share; one object's own rules live in its kind's home
//! (`kinds::subnet::validate`, `kinds::vpc::validate`).
//!
//! Invariants: a refusal stops at its object. A subnet's checks do not
//! depend on its siblings' validity; a refused VPC's subnets wait for it
//! (refused as waiting, so their rows are kept); a VPC's next hops are
//! checked against all its subnets' networks, refused ones included (their
//! rows stay). A subnet overlapping a refused object's networks does not
//! join its router. Validation sees the NB only as plain data
//! (`names::NbState`), and a change of it re-validates.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::names::{self, router_port_name, switch_port_name, Claim, Holder, NameTable, NbState};
use super::notices::{nat_notices, notices};
pub use super::notices::{Effect, Notice};
use super::object::{Kind, ObjectKey};
use super::{SubnetSpec, VpcSpec};
pub use crate::kinds::iptables_dnat_rule::validate::IptablesDnatRule;
pub use crate::kinds::iptables_eip::validate::IptablesEip;
pub use crate::kinds::iptables_fip_rule::validate::IptablesFipRule;
pub use crate::kinds::iptables_snat_rule::validate::IptablesSnatRule;
use crate::kinds::subnet::validate::check_subnet;
pub use crate::kinds::subnet::validate::Subnet;
pub use crate::kinds::vpc::validate::Vpc;
use crate::kinds::vpc::validate::{self as vpc, check_vpc};
pub use crate::kinds::vpc_nat_gateway::validate::VpcNatGateway;
pub use nat::{drop_eip, drop_gateway, validate_nat, NatSpecs, Running};
pub(crate) use nat::{eip_of, ipv4};

mod claims;
mod nat;

/// OVN's range for `Logical_Router_Policy.priority`.
pub const MAX_POLICY_PRIORITY: i64 = 32767;

/// Why one object was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub object: ObjectKey,
    pub field: String,
    pub reason: String,
    /// The spec itself is fine but names an object that is missing or
    /// refused (a VPC, a subnet holding a next hop): it may come later, as
    /// when `kubectl apply` sends a VPC before its subnets.
    pub waiting: bool,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.field, self.reason)
    }
}

/// The validated desired state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub vpcs: BTreeMap<String, Vpc>,
    pub subnets: BTreeMap<String, Subnet>,
    /// The NAT gateway kinds (validated by [`validate_nat`], after the rest).
    pub nat_gateways: BTreeMap<String, VpcNatGateway>,
    pub eips: BTreeMap<String, IptablesEip>,
    pub fip_rules: BTreeMap<String, IptablesFipRule>,
    pub dnat_rules: BTreeMap<String, IptablesDnatRule>,
    pub snat_rules: BTreeMap<String, IptablesSnatRule>,
    /// Fields accepted but not (yet) turned into NB rows, or of no effect
    /// here, one per object and field, so that nobody believes they took effect.
    pub notices: Vec<Notice>,
}

impl Model {
    pub fn subnets_of<'a>(&'a self, vpc: &'a str) -> impl Iterator<Item = &'a Subnet> + 'a {
        self.subnets.values().filter(move |s| s.is_ovn && s.spec.vpc == vpc)
    }
}

impl Rejection {
    pub fn new(object: ObjectKey, field: impl Into<String>, reason: impl Into<String>) -> Rejection {
        Rejection { object, field: field.into(), reason: reason.into(), waiting: false }
    }

    /// A refusal for want of another object (see [`Rejection::waiting`]).
    pub fn waiting(object: ObjectKey, field: impl Into<String>, reason: impl Into<String>) -> Rejection {
        Rejection { waiting: true, ..Rejection::new(object, field, reason) }
    }

    /// Whether it refuses `kind` `name` (a cluster-scoped object).
    pub fn is(&self, kind: Kind, name: &str) -> bool {
        self.object.kind == kind && self.object.namespace.is_none() && self.object.name == name
    }
}

pub(crate) fn reject(kind: Kind, name: &str, field: impl Into<String>, reason: impl Into<String>) -> Rejection {
    Rejection::new(ObjectKey::cluster(kind, name), field, reason)
}

/// A refusal for want of another object (see [`Rejection::waiting`]).
pub(crate) fn wait_for(kind: Kind, name: &str, field: impl Into<String>, reason: impl Into<String>) -> Rejection {
    Rejection::waiting(ObjectKey::cluster(kind, name), field, reason)
}

/// Kubernetes object names (RFC 1123 subdomain), which Kube-OVN's are.
pub(crate) fn check_name(kind: Kind, name: &str) -> Result<(), Rejection> {
    const MAX: usize = 253;
    if name.len() > MAX {
        return Err(reject(kind, name, "name", format!("is {} characters long; at most {MAX}", name.len())));
    }
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(reject(kind, name, "name", "must be a lowercase RFC 1123 name (a-z, 0-9, '-', '.')"))
    }
}

pub(crate) fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.trim().parse().map_err(|_| format!("{s:?} is not an IP address"))
}

/// A CIDR with no host bits set.
pub(crate) fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let net: IpNet = s.trim().parse().map_err(|_| format!("{s:?} is not a CIDR (address/prefix)"))?;
    if net.trunc() != net {
        return Err(format!("{s:?} has host bits set; did you mean {}?", net.trunc()));
    }
    Ok(net)
}

/// Validates everything without regard to the NB (see [`validate_in`]).
pub fn validate(vpcs: &[(String, VpcSpec)], subnets: &[(String, SubnetSpec)]) -> (Model, Vec<Rejection>) {
    validate_in(vpcs, subnets, &NbState::default())
}

/// Validates everything; returns the valid objects and one rejection per
/// refused object. `nb` is what the northbound database holds: where two
/// objects want the same thing (an address range, a derived name), the one
/// already in the NB keeps it and the newcomer is refused.
pub fn validate_in(
    vpcs: &[(String, VpcSpec)],
    subnets: &[(String, SubnetSpec)],
    nb: &NbState,
) -> (Model, Vec<Rejection>) {
    validate_keeping(vpcs, subnets, nb, &BTreeSet::new())
}

/// As [`validate_in`]; `kept` names (`<Kind>/<name>`) objects refused before
/// validation (a resource whose spec does not decode) whose rows stay: their
/// names and networks in the NB are not free.
pub fn validate_keeping(
    vpcs: &[(String, VpcSpec)],
    subnets: &[(String, SubnetSpec)],
    nb: &NbState,
    kept: &BTreeSet<String>,
) -> (Model, Vec<Rejection>) {
    let mut model = Model::default();
    let mut rejected = vec![];
    for (name, spec) in subnets {
        if model.subnets.contains_key(name) || rejected.iter().any(|r: &Rejection| r.is(Kind::Subnet, name)) {
            rejected.push(reject(Kind::Subnet, name, "name", "defined more than once"));
            continue;
        }
        match check_subnet(name, spec, nb) {
            Ok(s) => {
                model.subnets.insert(name.clone(), s);
            }
            Err(r) => rejected.push(r),
        }
    }
    // Subnets of one VPC must not overlap (across VPCs they may). Compared
    // within each VPC only: subnets already attached to that VPC's router
    // in the NB first (not merely with a switch: a subnet moved from
    // another VPC is the newcomer), then in name order; the later one of a
    // pair is refused.
    let mut by_vpc: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in model.subnets.values().filter(|s| s.is_ovn) {
        by_vpc.entry(s.spec.vpc.clone()).or_default().push(s.name.clone());
    }
    for (vpc, names) in &mut by_vpc {
        let incumbent = |n: &str| {
            matches!(nb.holder(NameTable::RouterPort, &router_port_name(vpc, n)),
                Some(Holder::Owned(o)) if *o == ObjectKey::subnet(n).owner_tag())
        };
        names.sort_by_key(|n| !incumbent(n));
        // Refused subnets keep their rows, and so their networks on the router.
        let kept_by_refused: Vec<(&str, IpNet)> = nb
            .router_networks(vpc)
            .iter()
            .filter_map(|(o, n)| Some((o.strip_prefix("Subnet/")?, *n)))
            .filter(|(x, _)| {
                !model.subnets.contains_key(*x)
                    && (subnets.iter().any(|(n, _)| n == x) || kept.contains(&ObjectKey::subnet(*x).owner_tag()))
            })
            .collect();
        let mut kept: Vec<&str> = vec![];
        for a in names.iter() {
            let sa = &model.subnets[a];
            if let Some((x, _)) = kept_by_refused.iter().find(|(_, n)| overlaps(&sa.cidrs, &[*n])) {
                let why = format!("overlaps subnet {x:?} in VPC {vpc:?}, which is refused and keeps its rows");
                rejected.push(reject(Kind::Subnet, a, "cidrBlock", why));
                continue;
            }
            match kept.iter().find(|b| overlaps(&sa.cidrs, &model.subnets[**b].cidrs)) {
                Some(b) => {
                    rejected.push(reject(Kind::Subnet, a, "cidrBlock", format!("overlaps subnet {b:?} in VPC {vpc:?}")))
                }
                None => kept.push(a),
            }
        }
    }
    model.subnets.retain(|n, _| !rejected.iter().any(|r| r.is(Kind::Subnet, n)));
    let networks = vpc::Networks::new(subnets, &model);
    let mut checked = vec![];
    for (name, spec) in vpcs {
        if checked.iter().any(|(n, _)| n == name) || model.vpcs.contains_key(name) {
            rejected.push(reject(Kind::Vpc, name, "name", "defined more than once"));
            continue;
        }
        checked.push((name.clone(), check_vpc(name, spec, &networks.of(name))));
    }
    for (name, result) in checked {
        match result {
            Ok(v) => {
                model.vpcs.insert(name, v);
            }
            Err(r) => rejected.push(r),
        }
    }
    // Derived NB names: unique among objects, and not held by foreign rows.
    let refused: BTreeSet<String> = vpcs
        .iter()
        .filter(|(n, _)| !model.vpcs.contains_key(n))
        .map(|(n, _)| ObjectKey::vpc(n).owner_tag())
        .chain(
            subnets
                .iter()
                .filter(|(n, _)| !model.subnets.contains_key(n))
                .map(|(n, _)| ObjectKey::subnet(n).owner_tag()),
        )
        .chain(kept.iter().cloned())
        .collect();
    for c in names::conflicts(&claims(&model), nb, &refused) {
        let name = c.loser.owner.name.clone();
        match c.loser.owner.kind {
            Kind::Vpc => model.vpcs.remove(&name).map(|_| ()),
            Kind::Subnet => model.subnets.remove(&name).map(|_| ()),
            Kind::Pod
            | Kind::VpcNatGateway
            | Kind::IptablesEip
            | Kind::IptablesFipRule
            | Kind::IptablesDnatRule
            | Kind::IptablesSnatRule => None,
        };
        rejected.push(Rejection::new(c.loser.owner, "name", c.reason));
    }
    // Every OVN subnet's VPC must exist (and be valid).
    let orphans: Vec<String> = model
        .subnets
        .values()
        .filter(|s| s.is_ovn && !model.vpcs.contains_key(&s.spec.vpc))
        .map(|s| s.name.clone())
        .collect();
    for name in orphans {
        let vpc = model.subnets[&name].spec.vpc.clone();
        let why = if vpcs.iter().any(|(n, _)| *n == vpc) { "is refused" } else { "is not defined" };
        rejected.push(wait_for(Kind::Subnet, &name, "vpc", format!("VPC {vpc:?} {why}")));
        model.subnets.remove(&name);
    }
    model.notices = notices(&model);
    (model, rejected)
}

/// The NB names the valid objects derive: VPCs first, then subnets, each in
/// name order (the order in which new names are granted).
fn claims(model: &Model) -> Vec<Claim> {
    let mut out = vec![];
    for v in model.vpcs.values() {
        let from = format!("VPC {:?}", v.name);
        out.push(Claim { table: NameTable::Router, name: v.name.clone(), owner: ObjectKey::vpc(&v.name), from });
    }
    for s in model.subnets.values().filter(|s| s.is_ovn) {
        let (o, vpc) = (ObjectKey::subnet(&s.name), &s.spec.vpc);
        let from = format!("VPC {vpc:?} + subnet {:?}", s.name);
        let names = [
            (NameTable::Switch, s.name.clone()),
            (NameTable::RouterPort, router_port_name(vpc, &s.name)),
            (NameTable::SwitchPort, switch_port_name(&s.name, vpc)),
        ];
        for (table, name) in names {
            out.push(Claim { table, name, owner: o.clone(), from: from.clone() });
        }
    }
    out
}

pub(crate) fn overlaps(a: &[IpNet], b: &[IpNet]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.contains(&y.network()) || y.contains(&x.network())))
}

/// Kube-OVN's `k=v,k=v` option strings.
pub fn parse_options(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("{part:?} is not key=value"))?;
        if k.trim().is_empty() {
            return Err(format!("{part:?} has an empty key"));
        }
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

pub(crate) fn first_host(c: &IpNet) -> IpAddr {
    match c.network() {
        IpAddr::V4(a) if c.prefix_len() < 31 => IpAddr::V4((u32::from(a) + 1).into()),
        IpAddr::V6(a) if c.prefix_len() < 127 => IpAddr::V6((u128::from(a) + 1).into()),
        other => other,
    }
}

#[cfg(test)]
mod tests;
