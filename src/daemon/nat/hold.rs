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
//! force is the set this process last rendered, or, for what it never
//! rendered (just restarted), what the objects' statuses show ready
//! (`from_status`): a restart does not cost a refused object its rule. A
//! held rule never takes what an accepted object has, and never follows its
//! address to another EIP. A refused gateway keeps its workload: as last
//! rendered, or left alone by the object reconciler (`daemon::nat`).

use serde_json::Value as Json;

use crate::kinds::iptables_fip_rule::status::RuleStatus;
use crate::kube::resources::Store;
use crate::model::object::Kind;
use crate::rules::nat::{Dnat, Eip, Fip, NatRuleSet, Protocol, Snat};

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
pub fn hold(mut set: NatRuleSet, prev: &Parts, held: impl Fn(Kind, &str) -> bool) -> NatRuleSet {
    for e in &prev.eips {
        if held(Kind::IptablesEip, &e.name) && !set.eips.iter().any(|n| n.name == e.name || n.ip == e.ip) {
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

/// What the statuses in `store` say gateway `gateway` ran for the `held`
/// objects: what is held from when this process rendered none (just restarted): an EIP at its
/// status's `ip`, a rule its status shows ready, as its status fields
/// show it, on the EIP its spec names. A rule whose refused edit moved it
/// to another EIP is not held this way (its old EIP is not known).
pub fn from_status(store: &Store, gateway: &str, held: impl Fn(Kind, &str) -> bool) -> Parts {
    let mut set = Parts::default();
    let spec_str =
        |o: &Json, k: &str| o.pointer(&format!("/spec/{k}")).and_then(Json::as_str).unwrap_or("").to_string();
    for (name, o) in store.eips.iter().filter(|(n, _)| held(Kind::IptablesEip, n)) {
        let s = crate::kinds::iptables_eip::status::EipStatus::of(o);
        if let (Some(ip), true) = (s.ip, spec_str(o, "natGwDp") == gateway) {
            set.eips.push(Eip { name: name.clone(), ip });
        }
    }
    // A held rule's status, if it was in force on gateway `gateway`; its
    // EIP (by its spec) joins `set.eips` at that address.
    let mut ready = |kind: Kind, name: &str, o: &Json| -> Option<RuleStatus> {
        let on_gateway = o.pointer("/status/natGwDp").and_then(Json::as_str) == Some(gateway);
        if !held(kind, name) || !on_gateway {
            return None;
        }
        let s = RuleStatus::of(o).ready.then(|| RuleStatus::of(o))?;
        let (eip, ip) = (spec_str(o, "eip"), s.v4ip?);
        if !set.eips.iter().any(|e| e.name == eip && e.ip == ip) {
            set.eips.push(Eip { name: eip, ip });
        }
        Some(s)
    };
    let mut fips = vec![];
    for (name, o) in store.fip_rules.iter() {
        if let Some(s) = ready(Kind::IptablesFipRule, name, o) {
            fips.extend(s.internal_ip.map(|internal_ip| Fip { name: name.clone(), eip: s.v4ip.unwrap(), internal_ip }));
        }
    }
    let mut dnats = vec![];
    for (name, o) in store.dnat_rules.iter() {
        let Some(s) = ready(Kind::IptablesDnatRule, name, o) else { continue };
        let protocol = match s.protocol.as_deref() {
            Some("tcp") => Protocol::Tcp,
            Some("udp") => Protocol::Udp,
            Some(_) | None => continue,
        };
        if let (Some(internal_ip), Some(internal_port), Some(external_port)) =
            (s.internal_ip, s.internal_port, s.external_port)
        {
            let eip = s.v4ip.unwrap();
            dnats.push(Dnat { name: name.clone(), eip, protocol, external_port, internal_ip, internal_port });
        }
    }
    let mut snats = vec![];
    for (name, o) in store.snat_rules.iter() {
        if let Some(s) = ready(Kind::IptablesSnatRule, name, o) {
            snats.extend(s.internal_cidr.map(|internal_cidr| Snat {
                name: name.clone(),
                eip: s.v4ip.unwrap(),
                internal_cidr,
            }));
        }
    }
    (set.fips, set.dnats, set.snats) = (fips, dnats, snats);
    set
}

/// `memory`'s EIPs and rules (the set this process last rendered), with
/// those of `status` it lacks by name.
pub fn join(memory: Option<&NatRuleSet>, status: Parts) -> Parts {
    let Some(m) = memory else { return status };
    let mut out = Parts::of(m);
    fn add<T: Clone>(to: &mut Vec<T>, from: Vec<T>, name: impl Fn(&T) -> &str) {
        for x in from {
            if !to.iter().any(|t| name(t) == name(&x)) {
                to.push(x);
            }
        }
    }
    add(&mut out.eips, status.eips, |e| &e.name);
    add(&mut out.fips, status.fips, |e| &e.name);
    add(&mut out.dnats, status.dnats, |e| &e.name);
    add(&mut out.snats, status.snats, |e| &e.name);
    out
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
        let kept = hold(now, &Parts::of(&prev), held);
        assert_eq!(kept.dnats, prev.dnats);
        assert!(kept.fips.is_empty());
        // A rule the new set has (edited and valid) is the new one.
        let mut edited = prev.clone();
        edited.dnats[0].internal_port = 8080;
        let kept = hold(edited.clone(), &Parts::of(&prev), |_, _| true);
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
        let kept = hold(now, &Parts::of(&prev), |k, n| held(k, n) && n != "eipd01");
        assert!(kept.dnats.is_empty(), "{kept:?}");
        assert!(!kept.eips.iter().any(|e| e.name == "eipd01"), "{kept:?}");
        // An accepted DNAT now has dnat01's port: the held one is not added beside it.
        let mut now = prev.clone();
        now.dnats[0].name = "a-new".into();
        let kept = hold(now.clone(), &Parts::of(&prev), held);
        assert_eq!(kept.dnats, now.dnats);
    }

    #[test]
    fn after_a_restart_a_held_rule_is_held_as_its_status_shows_it() {
        use serde_json::json;
        use std::sync::Arc;
        let mut store = Store::default();
        let dnat = json!({"metadata": {"name": "dnat01"}, "spec": {"eip": "eipd01", "externalPort": "8888",
            "internalIp": "fd00::2", "internalPort": "80"},
            "status": {"ready": true, "v4ip": "172.16.3.203", "natGwDp": "natgw", "protocol": "tcp",
            "externalPort": "8888", "internalIp": "10.0.1.2", "internalPort": "80"}});
        store.dnat_rules.insert("dnat01".into(), Arc::new(dnat.clone()));
        let mut other = dnat.clone();
        other["status"]["natGwDp"] = json!("another");
        store.dnat_rules.insert("elsewhere".into(), Arc::new(other));
        let held = |_: Kind, _: &str| true;
        let parts = from_status(&store, "natgw", held);
        let want = seed().dnats;
        assert_eq!(parts.dnats, want);
        assert_eq!(parts.eips, [Eip { name: "eipd01".into(), ip: "172.16.3.203".parse().unwrap() }]);
        // Into the set rendered without it: back, on its EIP.
        let mut now = seed();
        now.dnats.clear();
        let kept = hold(now, &join(None, parts.clone()), held);
        assert_eq!(kept.dnats, want);
        // Not ready, or not held: nothing.
        assert!(from_status(&store, "natgw", |_, _| false).dnats.is_empty());
        let mut s = store.clone();
        let mut not_ready = dnat;
        not_ready["status"]["ready"] = json!(false);
        s.dnat_rules.insert("dnat01".into(), Arc::new(not_ready));
        assert!(from_status(&s, "natgw", held).dnats.is_empty());
    }
}
