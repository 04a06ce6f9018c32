//! An IptablesDnatRule's own rules: `eip` names a valid EIP (else it
//! waits), the ports are 1-65535, `protocol` is tcp or udp (default tcp),
//! `internalIp` is an IPv4 address (the iptables gateway is IPv4-only). A
//! (eip, externalPort, protocol) used twice, and a DNAT on a FIP's EIP, are
//! checked across rules (`model::validate::nat`). Pure.

use std::net::Ipv4Addr;

use super::spec::IptablesDnatRuleSpec;
use crate::model::object::Kind;
use crate::model::validate::{eip_of, ipv4, reject, Model, Rejection};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IptablesDnatRule {
    pub name: String,
    pub eip: String,
    pub external_port: u16,
    /// `tcp` or `udp`, lowercase.
    pub protocol: String,
    pub internal_ip: Ipv4Addr,
    pub internal_port: u16,
    pub spec: IptablesDnatRuleSpec,
}

pub fn check_iptables_dnat_rule(
    name: &str,
    spec: &IptablesDnatRuleSpec,
    model: &Model,
) -> Result<IptablesDnatRule, Rejection> {
    let kind = Kind::IptablesDnatRule;
    crate::model::validate::check_name(kind, name)?;
    let no = |field: &str, why: String| reject(kind, name, field, why);
    let external_port = spec.external_port.parse().map_err(|e| no("externalPort", e))?;
    let internal_port = spec.internal_port.parse().map_err(|e| no("internalPort", e))?;
    let protocol = match spec.protocol.to_ascii_lowercase().as_str() {
        "" | "tcp" => "tcp",
        "udp" => "udp",
        other => return Err(no("protocol", format!("{other:?} is neither tcp nor udp"))),
    };
    let internal_ip = ipv4(kind, name, "internalIp", &spec.internal_ip)?;
    eip_of(kind, name, &spec.eip, model)?;
    Ok(IptablesDnatRule {
        name: name.to_string(),
        eip: spec.eip.clone(),
        external_port,
        protocol: protocol.to_string(),
        internal_ip,
        internal_port,
        spec: spec.clone(),
    })
}
