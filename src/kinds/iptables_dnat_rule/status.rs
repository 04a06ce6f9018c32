//! A DNAT rule's status fields: the shared rule fields
//! (`kinds::iptables_fip_rule::status`) with `protocol`, `internalIp`,
//! `internalPort` and `externalPort`. Pure.

pub use crate::kinds::iptables_fip_rule::status::RuleFields;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::model::validate::Model;

/// DNAT rule `name` of a validated `model`.
pub fn fields(model: &Model, addresses: &BTreeMap<String, Ipv4Addr>, name: &str) -> Option<RuleFields> {
    let r = model.dnat_rules.get(name)?;
    let own = vec![
        ("protocol", r.protocol.clone()),
        ("internalIp", r.internal_ip.to_string()),
        ("internalPort", r.internal_port.to_string()),
        ("externalPort", r.external_port.to_string()),
    ];
    Some(RuleFields::on(model, addresses, &r.eip, own))
}
