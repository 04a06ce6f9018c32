//! What a refused NAT object keeps: its part of the rule set as this
//! process last rendered it, as a refused VPC or subnet keeps its NB rows.
//! An edit that is refused (a DNAT moved onto a FIP's EIP, an IPv6
//! internalIp) must not take the working rule out of the gateway, and a
//! gateway refused (its lanIp edited onto another pod's) keeps its
//! workload. Pure.
//!
//! Invariants: only objects refused or waiting this pass (`held`) are
//! kept, and only what the last rendered set held for them; an object
//! deleted (not in the inputs any more) is never held, so its rule goes.
//! The memory is this process's: after a restart a refused object has no
//! previous rendering here, and its rule is left out (said on its status).

use crate::model::object::Kind;
use crate::rules::nat::NatRuleSet;

/// `set` with the EIPs and rules of `prev` whose objects are `held` and
/// that `set` lacks.
pub fn hold(mut set: NatRuleSet, prev: &NatRuleSet, held: impl Fn(Kind, &str) -> bool) -> NatRuleSet {
    fn keep<T: Clone>(now: &mut Vec<T>, prev: &[T], name: impl Fn(&T) -> &str, held: impl Fn(&str) -> bool) {
        for p in prev {
            if held(name(p)) && !now.iter().any(|n| name(n) == name(p)) {
                now.push(p.clone());
            }
        }
    }
    keep(&mut set.eips, &prev.eips, |e| &e.name, |n| held(Kind::IptablesEip, n));
    keep(&mut set.fips, &prev.fips, |e| &e.name, |n| held(Kind::IptablesFipRule, n));
    keep(&mut set.dnats, &prev.dnats, |e| &e.name, |n| held(Kind::IptablesDnatRule, n));
    keep(&mut set.snats, &prev.snats, |e| &e.name, |n| held(Kind::IptablesSnatRule, n));
    set.canonical()
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
        let kept = hold(now, &prev, held);
        assert_eq!(kept.dnats, prev.dnats);
        assert!(kept.fips.is_empty());
        // A rule the new set has (edited and valid) is the new one.
        let mut edited = prev.clone();
        edited.dnats[0].internal_port = 8080;
        let kept = hold(edited.clone(), &prev, |_, _| true);
        assert_eq!(kept.dnats, edited.dnats);
    }
}
