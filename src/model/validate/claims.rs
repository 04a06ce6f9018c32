//! What two NAT rules cannot share, and which of them keeps it: a DNAT's
//! (EIP, externalPort, protocol); an EIP as a FIP's (no second FIP, no
//! DNAT beside it); a FIP's internalIp on one gateway (one address, one
//! FIP, as Kube-OVN's webhook has it).
//!
//! Who keeps a claim is settled by who holds it, never by name alone: a
//! rule its gateway runs with that claim (in the gateway's rules ConfigMap,
//! `kinds::vpc_nat_gateway::running`: what the agent applies) keeps it, and
//! the newcomer is refused, whatever their names; among newcomers, the
//! first by name. A rule refused or waiting this pass that its gateway runs,
//! on the EIP it still names, keeps its claim too: that version stays in
//! force (`daemon::nat::hold`), so a rule cannot take the place of a working
//! one whose edit is refused. Of a FIP and DNAT rules on one EIP, the
//! newcomer goes; of two newcomers, the FIP (it asks for its EIP alone).
//!
//! What runs is read from the daemon's own output, never from statuses: a
//! status says `ready: false` while a gateway pod restarts (the claim must
//! not lapse then), and a status can be written by whoever may patch the
//! status subresource. TOML rules are in the running sets as any other.
//! What runs is what this process last rendered, else what the watch shows
//! (`Running::ahead`): a rules ConfigMap deleted by hand, moved by a prefix
//! change or held in deletion is missing from the watch for a while, and the
//! claims do not fall back to name order meanwhile. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::{reject, Model, NatSpecs, Rejection};
use crate::kinds::iptables_dnat_rule::validate::IptablesDnatRule;
use crate::kinds::iptables_fip_rule::validate::IptablesFipRule;
use crate::model::object::Kind;
use crate::rules::nat::{Dnat, Fip, NatRuleSet};

/// A DNAT's claim: (EIP, externalPort, protocol).
type PortKey = (String, u16, String);

/// The claims rules hold by what their gateways run.
struct Held<'a> {
    model: &'a Model,
    nat: &'a NatSpecs,
}

impl<'a> Held<'a> {
    /// The set EIP `eip`'s gateway runs, and the EIP's address in it.
    fn running(&self, eip: &str) -> Option<(&'a NatRuleSet, Ipv4Addr)> {
        let gateway = match self.model.eips.get(eip) {
            Some(e) => e.gateway.as_str(),
            None => self.nat.eips.iter().find(|(n, _)| n == eip).map(|(_, s)| s.nat_gw_dp.as_str())?,
        };
        let set = &self.nat.running.get(gateway)?.set;
        Some((set, set.eips.iter().find(|e| e.name == eip)?.ip))
    }

    /// DNAT `name` as its gateway runs it, on EIP `eip` (by name and address).
    fn running_dnat(&self, name: &str, eip: &str) -> Option<&'a Dnat> {
        let (set, ip) = self.running(eip)?;
        set.dnats.iter().find(|r| r.name == name && r.eip == ip)
    }

    fn running_fip(&self, name: &str, eip: &str) -> Option<(&'a NatRuleSet, &'a Fip)> {
        let (set, ip) = self.running(eip)?;
        Some((set, set.fips.iter().find(|r| r.name == name && r.eip == ip)?))
    }

    /// Whether DNAT `d` is in force as it is now.
    fn holds_dnat(&self, d: &IptablesDnatRule) -> bool {
        self.running_dnat(&d.name, &d.eip)
            .is_some_and(|r| r.external_port == d.external_port && r.protocol.as_str() == d.protocol)
    }

    /// Whether FIP `f` is in force as it is now.
    fn holds_fip(&self, f: &IptablesFipRule) -> bool {
        self.running_fip(&f.name, &f.eip).is_some_and(|(_, r)| r.internal_ip == f.internal_ip)
    }

    /// The claims of the rules not accepted this pass that are in force,
    /// on the EIP they name: (DNAT keys, FIP EIPs, DNAT EIPs, FIP (gateway,
    /// internalIp)), each with the rule's name.
    fn reserved(
        &self,
        fips: &BTreeMap<String, IptablesFipRule>,
        dnats: &BTreeMap<String, IptablesDnatRule>,
    ) -> Reserved {
        let mut r = Reserved::default();
        for (name, spec) in self.nat.dnats.iter().filter(|(n, _)| !dnats.contains_key(n)) {
            let Some(d) = self.running_dnat(name, &spec.eip) else { continue };
            r.ports.insert((spec.eip.clone(), d.external_port, d.protocol.as_str().to_string()), name.clone());
            r.dnat_eips.entry(spec.eip.clone()).or_insert_with(|| name.clone());
        }
        for (name, spec) in self.nat.fips.iter().filter(|(n, _)| !fips.contains_key(n)) {
            let Some((set, f)) = self.running_fip(name, &spec.eip) else { continue };
            r.fip_eips.insert(spec.eip.clone(), name.clone());
            r.internal.insert((set.gateway.clone(), f.internal_ip), name.clone());
        }
        r
    }
}

#[derive(Default)]
struct Reserved {
    ports: BTreeMap<PortKey, String>,
    fip_eips: BTreeMap<String, String>,
    dnat_eips: BTreeMap<String, String>,
    internal: BTreeMap<(String, Ipv4Addr), String>,
}

/// `rules` with the ones that hold their claim first, each part by name.
fn holders_first<T>(rules: &BTreeMap<String, T>, holds: impl Fn(&T) -> bool) -> Vec<&T> {
    let (mut first, rest): (Vec<&T>, Vec<&T>) = rules.values().partition(|r| holds(r));
    first.extend(rest);
    first
}

/// Settles the conflicts among the FIPs and DNATs that passed their own
/// checks (`fips`, `dnats`), taking the refused ones out; returns their
/// refusals.
pub(super) fn settle(
    model: &Model,
    nat: &NatSpecs,
    fips: &mut BTreeMap<String, IptablesFipRule>,
    dnats: &mut BTreeMap<String, IptablesDnatRule>,
) -> Vec<Rejection> {
    let held = Held { model, nat };
    let reserved = held.reserved(fips, dnats);
    let mut out = vec![];
    let mut refused_dnats = BTreeSet::new();
    let mut refused_fips = BTreeSet::new();
    // A DNAT (eip, externalPort, protocol) once.
    let mut ports = reserved.ports.clone();
    for d in holders_first(dnats, |d| held.holds_dnat(d)) {
        let key = (d.eip.clone(), d.external_port, d.protocol.clone());
        match ports.get(&key) {
            Some(first) => {
                let why = format!(
                    "{}/{} of IptablesEIP {:?} is used by IptablesDnatRule {first:?}",
                    d.external_port, d.protocol, d.eip
                );
                out.push(reject(Kind::IptablesDnatRule, &d.name, "externalPort", why));
                refused_dnats.insert(d.name.clone());
            }
            None => {
                ports.insert(key, d.name.clone());
            }
        }
    }
    // A FIP has its EIP alone, and an internal address one FIP per gateway.
    let mut fip_of = reserved.fip_eips.clone();
    let mut internal = reserved.internal.clone();
    for f in holders_first(fips, |f| held.holds_fip(f)) {
        let at = (model.eips.get(&f.eip).map(|e| e.gateway.clone()).unwrap_or_default(), f.internal_ip);
        let (field, why) = match (fip_of.get(&f.eip), internal.get(&at), reserved.dnat_eips.get(&f.eip)) {
            (Some(first), _, _) => ("eip", format!("IptablesEIP {:?} is the FIP of IptablesFIPRule {first:?}", f.eip)),
            (None, Some(first), _) => (
                "internalIp",
                format!("{} has a FIP already on VpcNatGateway {:?}: IptablesFIPRule {first:?}", f.internal_ip, at.0),
            ),
            (None, None, Some(d)) => {
                ("eip", format!("IptablesEIP {:?} is used by IptablesDnatRule {d:?}; a FIP needs its EIP alone", f.eip))
            }
            (None, None, None) => {
                fip_of.insert(f.eip.clone(), f.name.clone());
                internal.insert(at, f.name.clone());
                continue;
            }
        };
        out.push(reject(Kind::IptablesFipRule, &f.name, field, why));
        refused_fips.insert(f.name.clone());
    }
    // A FIP beside DNAT rules: the one in force keeps the EIP.
    let standing: Vec<&IptablesFipRule> = fips.values().filter(|f| !refused_fips.contains(&f.name)).collect();
    for f in standing {
        let beside: Vec<&IptablesDnatRule> =
            dnats.values().filter(|d| d.eip == f.eip && !refused_dnats.contains(&d.name)).collect();
        if beside.is_empty() {
            continue;
        }
        let fip_holds = held.holds_fip(f) && !beside.iter().any(|d| held.holds_dnat(d));
        match fip_holds {
            true => {
                for d in beside {
                    let why = format!("IptablesEIP {:?} is the FIP of IptablesFIPRule {:?}", f.eip, f.name);
                    out.push(reject(Kind::IptablesDnatRule, &d.name, "eip", why));
                    refused_dnats.insert(d.name.clone());
                }
            }
            false => {
                let why = format!(
                    "IptablesEIP {:?} is used by IptablesDnatRule {:?}; a FIP needs its EIP alone",
                    f.eip, beside[0].name
                );
                out.push(reject(Kind::IptablesFipRule, &f.name, "eip", why));
                refused_fips.insert(f.name.clone());
            }
        }
    }
    // A reserved FIP's EIP takes no DNAT.
    for d in dnats.values().filter(|d| !refused_dnats.contains(&d.name)) {
        if let Some(f) = reserved.fip_eips.get(&d.eip) {
            let why = format!("IptablesEIP {:?} is the FIP of IptablesFIPRule {f:?}", d.eip);
            out.push(reject(Kind::IptablesDnatRule, &d.name, "eip", why));
        }
    }
    dnats.retain(|n, _| !out.iter().any(|r| r.is(Kind::IptablesDnatRule, n)));
    fips.retain(|n, _| !out.iter().any(|r| r.is(Kind::IptablesFipRule, n)));
    out
}
