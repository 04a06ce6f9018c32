//! What a VpcNatGateway's `status` shows besides the conditions: Kube-OVN's
//! `externalSubnets` and `selector` as validated. Pure.

use serde_json::{Map, Value as Json};

use super::validate::VpcNatGateway;

/// What `Ready`'s message adds for a gateway written in the old inline form.
pub const OLD_FORM: &str = "the spec uses Kube-OVN's old inline form (eips, floatingIpRules, dnatRules, snatRules): \
accepted, meaning the same rules as IptablesEIP/IptablesFIPRule/IptablesDnatRule/IptablesSnatRule objects";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatGatewayFields {
    pub external_subnets: Vec<String>,
    pub selector: Vec<String>,
}

impl NatGatewayFields {
    pub fn of(g: &VpcNatGateway) -> NatGatewayFields {
        NatGatewayFields { external_subnets: g.external_subnets.clone(), selector: g.spec.selector.clone() }
    }

    pub fn insert_into(&self, out: &mut Map<String, Json>) {
        out.insert("externalSubnets".into(), self.external_subnets.clone().into());
        out.insert("selector".into(), self.selector.clone().into());
    }
}
