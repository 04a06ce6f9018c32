//! Seed 003's rule set (SNAT EIP, DNAT 8888 → :80, plus a FIP and a VPC
//! route), for the unit tests of the agent's pure parts:
//! tests/fixtures/seed-003-rules-fip.json, shared with the integration tests.

use crate::rules::nat::NatRuleSet;

pub fn seed_003() -> NatRuleSet {
    NatRuleSet::from_json(include_str!("../../../tests/fixtures/seed-003-rules-fip.json")).expect("the fixture")
}
