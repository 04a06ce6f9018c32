//! The NAT gateway kinds' checks, in order: gateways (against the validated
//! VPCs and subnets), EIPs (against the gateways), then FIP, DNAT and SNAT
//! rules (against the EIPs), then what concerns several objects of one
//! kind: an address taken by two EIPs (the one holding it keeps it), and
//! the rules' conflicts (`claims.rs`): two FIPs on one EIP or one internal
//! address, a FIP on an EIP that DNAT rules use, a DNAT (eip, externalPort,
//! protocol) used twice.
//!
//! Checks that need the previous state read it from the EIP's status as
//! last written (`EipStatus`, kept in `NatSpecs::eip_status`): `natGwDp`
//! changed (Kube-OVN's webhook: immutable) and `v4ip` changed once the EIP
//! is ready (Kube-OVN: immutable). Such an EIP is refused *and kept as it
//! was*: validated with its previous gateway and address, so its rules and
//! its address stay in force (the refusal is on its status, with one Event).
//!
//! Invariants: a refusal stops at its object — of two objects wanting one
//! thing, the one holding it keeps it (an EIP its gateway runs at that
//! address, or whose status shows it; a rule its gateway runs: `claims.rs`),
//! else the first by name; an
//! object naming a missing or refused one waits (no Event), as a VPC's
//! subnets do. The VPC and subnet model is read, never changed. Pure.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::{parse_ip, reject, wait_for, Model, Rejection};
use crate::kinds::iptables_dnat_rule::spec::IptablesDnatRuleSpec;
use crate::kinds::iptables_dnat_rule::validate::check_iptables_dnat_rule;
use crate::kinds::iptables_eip::spec::IptablesEipSpec;
use crate::kinds::iptables_eip::status::EipStatus;
use crate::kinds::iptables_eip::validate::{check_iptables_eip, IptablesEip};
use crate::kinds::iptables_fip_rule::spec::IptablesFipRuleSpec;
use crate::kinds::iptables_fip_rule::validate::check_iptables_fip_rule;
use crate::kinds::iptables_snat_rule::spec::IptablesSnatRuleSpec;
use crate::kinds::iptables_snat_rule::validate::check_iptables_snat_rule;
use crate::kinds::vpc_nat_gateway::running::RunningSets;
use crate::kinds::vpc_nat_gateway::spec::VpcNatGatewaySpec;
use crate::kinds::vpc_nat_gateway::validate::check_vpc_nat_gateway;
use crate::model::object::Kind;

/// The NAT gateway kinds' specs, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatSpecs {
    pub gateways: Vec<(String, VpcNatGatewaySpec)>,
    pub eips: Vec<(String, IptablesEipSpec)>,
    pub fips: Vec<(String, IptablesFipRuleSpec)>,
    pub dnats: Vec<(String, IptablesDnatRuleSpec)>,
    pub snats: Vec<(String, IptablesSnatRuleSpec)>,
    /// Each EIP's status as last written (the previous state), by name.
    pub eip_status: BTreeMap<String, EipStatus>,
    /// What each gateway runs (its rules ConfigMap): which rule holds a
    /// claim two rules make (`claims`), and whether an EIP is in force.
    pub running: Running,
    /// The gateways whose rules ConfigMap this build cannot read (a later
    /// format), with why: refused, so that their workload is left as it
    /// runs and never written over with a set that may drop rules.
    pub unreadable: BTreeMap<String, String>,
}

/// What the gateways run, carried beside the specs but never itself a
/// reason to validate again (it compares equal): it changes after each of
/// our own writes, and what it decides — who holds a claim, what an EIP is
/// fixed to — matters only when a spec changes, which validates again and
/// reads it then. (At start, no pass runs before it is listed: the store is
/// synced only then.)
#[derive(Clone, Debug, Default)]
pub struct Running(pub RunningSets);

impl PartialEq for Running {
    fn eq(&self, _: &Running) -> bool {
        true
    }
}

impl Eq for Running {}

impl Running {
    /// What the gateways run: `rendered` (what this process last handed
    /// each gateway, `NatSide::rendered`) ahead of `watched` (their rules
    /// ConfigMaps as the watch shows them). The watch lags our own writes
    /// and loses a ConfigMap while it is deleted and made again; what this
    /// process rendered is what it keeps in force meanwhile. After a
    /// restart (nothing rendered yet) the watch alone says it.
    pub fn ahead(rendered: RunningSets, watched: &RunningSets) -> Running {
        let mut all = watched.clone();
        all.extend(rendered);
        Running(all)
    }
}

impl std::ops::Deref for Running {
    type Target = RunningSets;
    fn deref(&self) -> &RunningSets {
        &self.0
    }
}

/// Whether EIP `name`'s `spec` changes what its previous state fixes: the
/// refusal, and the spec it is kept with (its previous gateway and address).
fn immutable(name: &str, spec: &IptablesEipSpec, prev: &EipStatus) -> Option<(Rejection, IptablesEipSpec)> {
    let mut kept = spec.clone();
    let mut refusal = None;
    if let Some(g) = prev.nat_gw_dp.as_ref().filter(|g| **g != spec.nat_gw_dp) {
        kept.nat_gw_dp = g.clone();
        let why = format!("is immutable: the EIP belongs to VpcNatGateway {g:?}, and stays there");
        refusal = Some(reject(Kind::IptablesEip, name, "natGwDp", why));
    }
    let asked = spec.v4ip.trim();
    if let (true, Some(ip)) = (prev.ready, prev.ip) {
        if !asked.is_empty() && asked.parse::<Ipv4Addr>().ok() != Some(ip) {
            kept.v4ip = ip.to_string();
            let why = format!("{asked}: the address of a ready EIP is immutable; it keeps {ip}");
            refusal = refusal.or(Some(reject(Kind::IptablesEip, name, "v4ip", why)));
        }
    }
    refusal.map(|r| (r, kept))
}

/// EIP `name`'s previous state: its status, and what its gateway runs —
/// an EIP in a running set is in force there, at that address (so it stays
/// immutable while its pod restarts and its status says not ready, and on
/// Kube-OVN's CRD, whose EIP status has no `natGwDp`).
fn previous(nat: &NatSpecs, name: &str) -> Option<EipStatus> {
    let status = nat.eip_status.get(name).cloned();
    let running = nat.running.values().find_map(|r| {
        let e = r.set.eips.iter().find(|e| e.name == name)?;
        Some((r.set.gateway.clone(), e.ip))
    });
    match (status, running) {
        (status, None) => status,
        (status, Some((gateway, ip))) => {
            let s = status.unwrap_or_default();
            Some(EipStatus { ip: Some(ip), ready: true, nat_gw_dp: s.nat_gw_dp.or(Some(gateway)) })
        }
    }
}

/// An IPv4 address in `field` (the iptables gateway is IPv4-only).
pub(crate) fn ipv4(kind: Kind, name: &str, field: &str, s: &str) -> Result<Ipv4Addr, Rejection> {
    match parse_ip(s).map_err(|e| reject(kind, name, field, e))? {
        IpAddr::V4(a) => Ok(a),
        IpAddr::V6(_) => Err(reject(kind, name, field, format!("{s} is IPv6; the iptables gateway is IPv4-only"))),
    }
}

/// A rule's EIP: required, and valid (else the rule waits for it).
pub(crate) fn eip_of(kind: Kind, name: &str, eip: &str, model: &Model) -> Result<(), Rejection> {
    if eip.is_empty() {
        return Err(reject(kind, name, "eip", "is required"));
    }
    if !model.eips.contains_key(eip) {
        return Err(wait_for(kind, name, "eip", format!("IptablesEIP {eip:?} is not defined or refused")));
    }
    Ok(())
}

/// Runs one kind's own check over `specs`, keeping the valid objects in
/// `into` and a refusal for a name given twice.
fn each<S, T>(
    kind: Kind,
    specs: &[(String, S)],
    model: &Model,
    mut check: impl FnMut(&str, &S, &Model) -> Result<T, Rejection>,
    rejected: &mut Vec<Rejection>,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    for (name, spec) in specs {
        if out.contains_key(name) || rejected.iter().any(|r| r.is(kind, name)) {
            rejected.push(reject(kind, name, "name", "defined more than once"));
            continue;
        }
        match check(name, spec, model) {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(r) => rejected.push(r),
        }
    }
    out
}

/// Validates the NAT gateway kinds into `model` (whose VPCs and subnets are
/// validated already); returns their refusals.
pub fn validate_nat(model: &mut Model, nat: &NatSpecs) -> Vec<Rejection> {
    let mut rejected = vec![];
    let check_gateway = |name: &str, spec: &VpcNatGatewaySpec, model: &Model| match nat.unreadable.get(name) {
        Some(why) => Err(reject(
            Kind::VpcNatGateway,
            name,
            "status",
            format!("runs a rule set this build cannot read ({why}); left as it runs until ovn-vpcd is upgraded"),
        )),
        None => check_vpc_nat_gateway(name, spec, model),
    };
    model.nat_gateways = each(Kind::VpcNatGateway, &nat.gateways, model, check_gateway, &mut rejected);
    // An EIP changing what its previous state fixes is checked as it was.
    let mut kept: Vec<Rejection> = vec![];
    let check_eip = |name: &str, spec: &IptablesEipSpec, model: &Model| match previous(nat, name)
        .and_then(|prev| immutable(name, spec, &prev))
    {
        None => check_iptables_eip(name, spec, model),
        Some((refusal, was)) => {
            let e = check_iptables_eip(name, &was, model)?;
            kept.push(refusal);
            Ok(e)
        }
    };
    let mut eips = each(Kind::IptablesEip, &nat.eips, model, check_eip, &mut rejected);
    // One address, one EIP (per external subnet): the one whose status
    // shows it (it holds it) keeps it, else the first by name.
    let mut taken: BTreeMap<(String, Ipv4Addr), String> = BTreeMap::new();
    let holds = |e: &&IptablesEip| e.v4ip.is_some() && previous(nat, &e.name).and_then(|s| s.ip) == e.v4ip;
    let (holders, others): (Vec<&IptablesEip>, Vec<&IptablesEip>) = eips.values().partition(holds);
    for e in holders.into_iter().chain(others) {
        let Some(ip) = e.v4ip else { continue };
        match taken.get(&(e.external_subnet.clone(), ip)) {
            Some(first) => rejected.push(reject(
                Kind::IptablesEip,
                &e.name,
                "v4ip",
                format!("{ip} is taken by IptablesEIP {first:?} in subnet {:?}", e.external_subnet),
            )),
            None => {
                taken.insert((e.external_subnet.clone(), ip), e.name.clone());
            }
        }
    }
    eips.retain(|n, _| !rejected.iter().any(|r| r.is(Kind::IptablesEip, n)));
    // Refused, and kept as they were (their refusals come after the retain).
    kept.retain(|r| eips.contains_key(&r.object.name));
    rejected.extend(kept);
    model.eips = eips;
    let mut fips = each(Kind::IptablesFipRule, &nat.fips, model, check_iptables_fip_rule, &mut rejected);
    let mut dnats = each(Kind::IptablesDnatRule, &nat.dnats, model, check_iptables_dnat_rule, &mut rejected);
    model.snat_rules = each(Kind::IptablesSnatRule, &nat.snats, model, check_iptables_snat_rule, &mut rejected);
    rejected.extend(super::claims::settle(model, nat, &mut fips, &mut dnats));
    model.fip_rules = fips;
    model.dnat_rules = dnats;
    let notes = super::nat_notices(model);
    model.notices.extend(notes);
    rejected
}

/// Takes EIP `name` out of `model` (refused after validation: its address
/// could not be had), and the rules naming it, which wait for it.
pub fn drop_eip(model: &mut Model, name: &str) -> Vec<Rejection> {
    let mut out = vec![];
    if model.eips.remove(name).is_none() {
        return out;
    }
    let why = format!("IptablesEIP {name:?} is refused");
    let on = |eip: &str| eip == name;
    let fips: Vec<String> = model.fip_rules.values().filter(|r| on(&r.eip)).map(|r| r.name.clone()).collect();
    let dnats: Vec<String> = model.dnat_rules.values().filter(|r| on(&r.eip)).map(|r| r.name.clone()).collect();
    let snats: Vec<String> = model.snat_rules.values().filter(|r| on(&r.eip)).map(|r| r.name.clone()).collect();
    for r in fips {
        model.fip_rules.remove(&r);
        out.push(wait_for(Kind::IptablesFipRule, &r, "eip", why.clone()));
    }
    for r in dnats {
        model.dnat_rules.remove(&r);
        out.push(wait_for(Kind::IptablesDnatRule, &r, "eip", why.clone()));
    }
    for r in snats {
        model.snat_rules.remove(&r);
        out.push(wait_for(Kind::IptablesSnatRule, &r, "eip", why.clone()));
    }
    out
}

/// Takes gateway `name` out of `model` (refused after validation: its
/// `lanIp` is another pod's), and its EIPs and their rules, which wait for it.
pub fn drop_gateway(model: &mut Model, name: &str) -> Vec<Rejection> {
    let mut out = vec![];
    if model.nat_gateways.remove(name).is_none() {
        return out;
    }
    let eips: Vec<String> = model.eips.values().filter(|e| e.gateway == name).map(|e| e.name.clone()).collect();
    for eip in eips {
        out.extend(drop_eip(model, &eip));
        out.push(wait_for(Kind::IptablesEip, &eip, "natGwDp", format!("VpcNatGateway {name:?} is refused")));
    }
    out
}

#[cfg(test)]
#[path = "nat_tests.rs"]
mod tests;
