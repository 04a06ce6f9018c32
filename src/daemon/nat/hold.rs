//! What a refused NAT object keeps: its part of the rule set as this
//! process last rendered it, as a refused VPC or subnet keeps its NB rows.
//! An edit that is refused (a DNAT moved onto a FIP's EIP, an IPv6
//! internalIp) must not take the working rule out of the gateway, and a
//! gateway refused (its lanIp edited onto another pod's) keeps its
//! workload. Pure.
//!
//! Invariants: only objects refused or waiting this pass (`held`) are
//! kept, and only what was last in force for them; an object deleted (not
//! in the inputs any more) is never held, so its rule goes. What was in
//! force is the set this process last rendered, or, just restarted, the
//! set the gateway runs (its rules ConfigMap, `kinds::vpc_nat_gateway::running`;
//! never a status, which anyone allowed to patch it could forge): a
//! restart does not cost a refused object its rule. A
//! held rule never takes what an accepted object has, and never follows its
//! address to another EIP; a held EIP never keeps an address the IPAM gives
//! another. A refused gateway keeps its workload: as last
//! rendered, or left alone by the object reconciler (`daemon::nat`).

use crate::kinds::vpc_nat_gateway::rules::EipAddresses;
use crate::model::object::Kind;
use crate::rules::nat::{Dnat, Eip, Fip, NatRuleSet, Snat};

/// The EIPs and rules of a rule set: what is held from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    pub eips: Vec<Eip>,
    pub fips: Vec<Fip>,
    pub dnats: Vec<Dnat>,
    pub snats: Vec<Snat>,
}

impl Parts {
    pub fn of(set: &NatRuleSet) -> Parts {
        Parts { eips: set.eips.clone(), fips: set.fips.clone(), dnats: set.dnats.clone(), snats: set.snats.clone() }
    }
}

/// `set` with the EIPs and rules of `prev` whose objects are `held` and
/// that `set` lacks — each only while it still means what it meant: a
/// rule only on the same EIP at the same address (an EIP deleted and its
/// address given to another is not the rule's any more), and nothing that
/// takes what an accepted object of `set` has (an address, a DNAT port, a
/// FIP's EIP or internal address, a SNAT's source range).
pub fn hold(
    mut set: NatRuleSet,
    prev: &Parts,
    addresses: &EipAddresses,
    held: impl Fn(Kind, &str) -> bool,
) -> NatRuleSet {
    // An EIP's address the IPAM gives another EIP is that one's.
    let elsewhere = |e: &Eip| addresses.iter().any(|(n, ip)| *n != e.name && *ip == e.ip);
    for e in &prev.eips {
        let taken = set.eips.iter().any(|n| n.name == e.name || n.ip == e.ip) || elsewhere(e);
        if held(Kind::IptablesEip, &e.name) && !taken {
            set.eips.push(e.clone());
        }
    }
    let name_at = |eips: &[Eip], ip| eips.iter().find(|e| e.ip == ip).map(|e| e.name.clone());
    let same_eip =
        |set: &NatRuleSet, ip| name_at(&prev.eips, ip).is_some() && name_at(&prev.eips, ip) == name_at(&set.eips, ip);
    for p in &prev.fips {
        let free = !set.fips.iter().any(|f| f.name == p.name || f.eip == p.eip || f.internal_ip == p.internal_ip)
            && !set.dnats.iter().any(|d| d.eip == p.eip);
        if held(Kind::IptablesFipRule, &p.name) && free && same_eip(&set, p.eip) {
            set.fips.push(p.clone());
        }
    }
    for p in &prev.dnats {
        let key = |d: &Dnat| (d.eip, d.external_port, d.protocol);
        let free =
            !set.dnats.iter().any(|d| d.name == p.name || key(d) == key(p)) && !set.fips.iter().any(|f| f.eip == p.eip);
        if held(Kind::IptablesDnatRule, &p.name) && free && same_eip(&set, p.eip) {
            set.dnats.push(p.clone());
        }
    }
    for p in &prev.snats {
        let free = !set.snats.iter().any(|n| n.name == p.name || n.internal_cidr == p.internal_cidr);
        if held(Kind::IptablesSnatRule, &p.name) && free && same_eip(&set, p.eip) {
            set.snats.push(p.clone());
        }
    }
    set.canonical()
}

/// `set` without its EIPs and rules (what a refused gateway holds into).
pub fn emptied(set: &NatRuleSet) -> NatRuleSet {
    NatRuleSet { eips: vec![], fips: vec![], dnats: vec![], snats: vec![], ..set.clone() }
}

/// What was last in force: the set this process last rendered, else (just
/// restarted) the one the gateway runs (its rules ConfigMap).
pub fn previous(memory: Option<&NatRuleSet>, running: Option<&NatRuleSet>) -> Parts {
    memory.or(running).map(Parts::of).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> NatRuleSet {
        NatRuleSet::from_json(include_str!("../../../tests/fixtures/seed-003-rules-fip.json")).unwrap()
    }

    #[test]
    fn a_refused_rule_keeps_what_it_had_and_a_deleted_one_goes() {
        let prev = seed();
        let mut now = prev.clone();
        now.dnats.clear(); // dnat01 refused this pass
        now.fips.clear(); // fip01 deleted
        let held = |k: Kind, n: &str| k == Kind::IptablesDnatRule && n == "dnat01";
        let kept = hold(now, &Parts::of(&prev), &EipAddresses::new(), held);
        assert_eq!(kept.dnats, prev.dnats);
        assert!(kept.fips.is_empty());
        // A rule the new set has (edited and valid) is the new one.
        let mut edited = prev.clone();
        edited.dnats[0].internal_port = 8080;
        let kept = hold(edited.clone(), &Parts::of(&prev), &EipAddresses::new(), |_, _| true);
        assert_eq!(kept.dnats, edited.dnats);
    }

    #[test]
    fn a_held_rule_goes_once_its_address_is_another_eips_or_its_claim_is_taken() {
        let prev = seed();
        let held = |_: Kind, _: &str| true;
        // eipd01 deleted, and its address given to a new EIP: dnat01 (refused,
        // waiting for eipd01) is not held onto the newcomer's address.
        let mut now = prev.clone();
        now.dnats.clear();
        let at = now.eips.iter().position(|e| e.name == "eipd01").unwrap();
        now.eips[at].name = "eip-new".into();
        let kept = hold(now, &Parts::of(&prev), &EipAddresses::new(), |k, n| held(k, n) && n != "eipd01");
        assert!(kept.dnats.is_empty(), "{kept:?}");
        assert!(!kept.eips.iter().any(|e| e.name == "eipd01"), "{kept:?}");
        // An accepted DNAT now has dnat01's port: the held one is not added beside it.
        let mut now = prev.clone();
        now.dnats[0].name = "a-new".into();
        let kept = hold(now.clone(), &Parts::of(&prev), &EipAddresses::new(), held);
        assert_eq!(kept.dnats, now.dnats);
    }

    #[test]
    fn a_held_eip_never_keeps_an_address_the_ipam_gives_another() {
        let prev = seed();
        let mut now = prev.clone();
        now.eips.retain(|e| e.name != "eipd01");
        now.dnats.clear();
        let addresses = EipAddresses::from([("eip-b".to_string(), "172.16.3.203".parse().unwrap())]);
        let kept = hold(now, &Parts::of(&prev), &addresses, |_, _| true);
        assert!(!kept.eips.iter().any(|e| e.ip.to_string() == "172.16.3.203"), "{kept:?}");
        assert!(kept.dnats.is_empty(), "its DNAT goes with it: {kept:?}");
    }

    #[test]
    fn just_restarted_what_the_gateway_runs_is_held() {
        let running = seed();
        assert_eq!(previous(None, Some(&running)), Parts::of(&running));
        let mut memory = running.clone();
        memory.dnats.clear();
        assert_eq!(previous(Some(&memory), Some(&running)), Parts::of(&memory));
        assert_eq!(previous(None, None), Parts::default());
    }
}
