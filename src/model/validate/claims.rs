//! What two NAT rules cannot share, and which of them keeps it: a DNAT's
//! (EIP, externalPort, protocol); an EIP as a FIP's (no second FIP, no
//! DNAT beside it); a FIP's internalIp on one gateway (one address, one
//! FIP, as Kube-OVN's webhook has it).
//!
//! Who keeps a claim is settled by who holds it, never by name alone: a
//! rule whose status shows it ready with that claim (it is in force in its
//! gateway) keeps it, and the newcomer is refused, whatever their names;
//! among newcomers, the first by name. A rule refused or waiting this pass
//! whose status shows it ready keeps its claim too: its previous version
//! stays in force (`daemon::nat::hold`), so a rule cannot take the place of
//! a working one whose edit is refused — as long as it still names the EIP
//! at the address its status shows, exactly when `daemon::nat::hold` keeps
//! it in force (a rule whose EIP was deleted, its address given to another,
//! holds nothing). Of a FIP and DNAT rules on one EIP,
//! the newcomer goes; of two newcomers, the FIP (it asks for its EIP alone).
//!
//! The previous state is the rules' statuses as last written
//! (`NatSpecs::fip_status`, `dnat_status`: ready ones only), and an EIP's
//! address its fixed `v4ip` or its status's `ip`. A TOML rule has no
//! status: TOML rules settle by name. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::{reject, Model, NatSpecs, Rejection};
use crate::kinds::iptables_dnat_rule::validate::IptablesDnatRule;
use crate::kinds::iptables_fip_rule::validate::IptablesFipRule;
use crate::model::object::Kind;

/// A DNAT's claim: (EIP, externalPort, protocol).
type PortKey = (String, u16, String);

/// The claims rules hold from their statuses.
struct Held<'a> {
    model: &'a Model,
    nat: &'a NatSpecs,
}

impl<'a> Held<'a> {
    /// EIP `name`'s address as far as validation knows it.
    fn address(&self, eip: &str) -> Option<Ipv4Addr> {
        let e = self.model.eips.get(eip)?;
        e.v4ip.or_else(|| self.nat.eip_status.get(eip).and_then(|s| s.ip))
    }

    /// The EIP whose address is `ip`.
    fn eip_at(&self, ip: Option<Ipv4Addr>) -> Option<&'a str> {
        let ip = ip?;
        let found = self.model.eips.values().find(|e| self.address(&e.name) == Some(ip))?;
        Some(found.name.as_str())
    }

    fn gateway_of(&self, eip: &str) -> Option<&'a str> {
        self.model.eips.get(eip).map(|e| e.gateway.as_str())
    }

    /// Whether DNAT `d` is in force as it is now.
    fn holds_dnat(&self, d: &IptablesDnatRule) -> bool {
        self.nat.dnat_status.get(&d.name).is_some_and(|s| {
            s.ready_on(self.address(&d.eip))
                && s.external_port == Some(d.external_port)
                && s.protocol.as_deref() == Some(d.protocol.as_str())
        })
    }

    /// Whether FIP `f` is in force as it is now.
    fn holds_fip(&self, f: &IptablesFipRule) -> bool {
        self.nat
            .fip_status
            .get(&f.name)
            .is_some_and(|s| s.ready_on(self.address(&f.eip)) && s.internal_ip == Some(f.internal_ip))
    }

    /// The claims of the rules not accepted this pass that were in force:
    /// (DNAT keys, FIP EIPs, DNAT EIPs, FIP (gateway, internalIp)), each
    /// with the rule's name.
    fn reserved(
        &self,
        fips: &BTreeMap<String, IptablesFipRule>,
        dnats: &BTreeMap<String, IptablesDnatRule>,
    ) -> Reserved {
        let mut r = Reserved::default();
        for (name, spec) in self.nat.dnats.iter().filter(|(n, _)| !dnats.contains_key(n)) {
            let Some(s) = self.nat.dnat_status.get(name) else { continue };
            let Some(eip) = self.eip_at(s.v4ip).filter(|e| *e == spec.eip) else { continue };
            if let (Some(port), Some(proto)) = (s.external_port, &s.protocol) {
                r.ports.insert((eip.to_string(), port, proto.clone()), name.clone());
            }
            r.dnat_eips.entry(eip.to_string()).or_insert_with(|| name.clone());
        }
        for (name, spec) in self.nat.fips.iter().filter(|(n, _)| !fips.contains_key(n)) {
            let Some(s) = self.nat.fip_status.get(name) else { continue };
            let Some(eip) = self.eip_at(s.v4ip).filter(|e| *e == spec.eip) else { continue };
            r.fip_eips.insert(eip.to_string(), name.clone());
            if let (Some(g), Some(ip)) = (self.gateway_of(eip), s.internal_ip) {
                r.internal.insert((g.to_string(), ip), name.clone());
            }
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
        let at = (held.gateway_of(&f.eip).unwrap_or_default().to_string(), f.internal_ip);
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
