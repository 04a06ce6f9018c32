//! An IptablesSnatRule's own rules: `eip` names a valid EIP (else it
//! waits), `internalCIDR` is an IPv4 CIDR (or a single address, as
//! Kube-OVN accepts; the iptables gateway is IPv4-only). Pure.

use ipnet::{IpNet, Ipv4Net};

use super::spec::IptablesSnatRuleSpec;
use crate::model::object::Kind;
use crate::model::validate::{eip_of, reject, Model, Rejection};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IptablesSnatRule {
    pub name: String,
    pub eip: String,
    pub internal_cidr: Ipv4Net,
    pub spec: IptablesSnatRuleSpec,
}

pub fn check_iptables_snat_rule(
    name: &str,
    spec: &IptablesSnatRuleSpec,
    model: &Model,
) -> Result<IptablesSnatRule, Rejection> {
    let kind = Kind::IptablesSnatRule;
    crate::model::validate::check_name(kind, name)?;
    let text = spec.internal_cidr.trim();
    let with_prefix = if text.contains('/') { text.to_string() } else { format!("{text}/32") };
    let internal_cidr = match crate::model::validate::parse_cidr(&with_prefix) {
        Ok(IpNet::V4(n)) => n,
        Ok(IpNet::V6(_)) => {
            return Err(reject(
                kind,
                name,
                "internalCIDR",
                format!("{text} is IPv6; the iptables gateway is IPv4-only"),
            ))
        }
        Err(e) => return Err(reject(kind, name, "internalCIDR", e)),
    };
    eip_of(kind, name, &spec.eip, model)?;
    Ok(IptablesSnatRule { name: name.to_string(), eip: spec.eip.clone(), internal_cidr, spec: spec.clone() })
}
