//! An IptablesFIPRule's own rules: `eip` names a valid EIP (else it waits),
//! `internalIp` is an IPv4 address (the iptables gateway is IPv4-only). Two
//! FIPs, or a FIP and a DNAT, on one EIP are checked across rules
//! (`model::validate::nat`). Pure.

use std::net::Ipv4Addr;

use super::spec::IptablesFipRuleSpec;
use crate::model::object::Kind;
use crate::model::validate::{eip_of, ipv4, Model, Rejection};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IptablesFipRule {
    pub name: String,
    pub eip: String,
    pub internal_ip: Ipv4Addr,
    pub spec: IptablesFipRuleSpec,
}

pub fn check_iptables_fip_rule(
    name: &str,
    spec: &IptablesFipRuleSpec,
    model: &Model,
) -> Result<IptablesFipRule, Rejection> {
    let kind = Kind::IptablesFipRule;
    crate::model::validate::check_name(kind, name)?;
    let internal_ip = ipv4(kind, name, "internalIp", &spec.internal_ip)?;
    eip_of(kind, name, &spec.eip, model)?;
    Ok(IptablesFipRule { name: name.to_string(), eip: spec.eip.clone(), internal_ip, spec: spec.clone() })
}
