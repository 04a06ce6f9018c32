//! A SNAT rule's status fields: the shared rule fields
//! (`kinds::iptables_fip_rule::status`) with `internalCIDR`. Pure.

pub use crate::kinds::iptables_fip_rule::status::RuleFields;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::model::validate::Model;

/// SNAT rule `name` of a validated `model`.
pub fn fields(model: &Model, addresses: &BTreeMap<String, Ipv4Addr>, name: &str) -> Option<RuleFields> {
    let r = model.snat_rules.get(name)?;
    Some(RuleFields::on(model, addresses, &r.eip, vec![("internalCIDR", r.internal_cidr.to_string())]))
}
