//! What a NAT rule's `status` shows besides the conditions, as Kube-OVN
//! shows it: `ready` (true once its gateway's agent reports a set holding it), `v4ip`
//! (its EIP's address), `natGwDp` (its EIP's gateway) and the rule's own
//! fields. Shared by the three rule kinds. Never read back as a previous
//! state: what runs is the gateway's rules ConfigMap
//! (`kinds::vpc_nat_gateway::running`). Pure.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{Map, Value as Json};

use crate::model::validate::Model;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFields {
    pub ready: bool,
    pub v4ip: String,
    pub nat_gw_dp: String,
    /// The rule's own fields, by their status names (`internalIp`, ...).
    pub own: Vec<(&'static str, String)>,
}

impl RuleFields {
    /// A rule on EIP `eip` of a validated `model`, whose address is
    /// `addresses`' (fixed or allocated: `Derived::eips`).
    pub fn on(
        model: &Model,
        addresses: &BTreeMap<String, Ipv4Addr>,
        eip: &str,
        own: Vec<(&'static str, String)>,
    ) -> RuleFields {
        let e = model.eips.get(eip);
        RuleFields {
            ready: false,
            v4ip: addresses.get(eip).or(e.and_then(|e| e.v4ip.as_ref())).map(|a| a.to_string()).unwrap_or_default(),
            nat_gw_dp: e.map(|e| e.gateway.clone()).unwrap_or_default(),
            own,
        }
    }

    /// FIP rule `name` of a validated `model`.
    pub fn fip(model: &Model, addresses: &BTreeMap<String, Ipv4Addr>, name: &str) -> Option<RuleFields> {
        let r = model.fip_rules.get(name)?;
        Some(RuleFields::on(model, addresses, &r.eip, vec![("internalIp", r.internal_ip.to_string())]))
    }

    pub fn insert_into(&self, out: &mut Map<String, Json>) {
        out.insert("ready".into(), self.ready.into());
        out.insert("v4ip".into(), self.v4ip.clone().into());
        out.insert("natGwDp".into(), self.nat_gw_dp.clone().into());
        for (k, v) in &self.own {
            out.insert((*k).into(), v.clone().into());
        }
    }
}
