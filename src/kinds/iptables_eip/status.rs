//! What an IptablesEIP's `status` shows besides the conditions, as Kube-OVN
//! shows it: `ip`, `nat` (the kinds of rule using it, `dnat,fip,snat`) and
//! `ready` (false until an agent applies it: next slice). Pure.

use serde_json::{Map, Value as Json};

use crate::model::validate::Model;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EipFields {
    /// The fixed address; empty until allocated.
    pub ip: String,
    pub nat: String,
    pub ready: bool,
}

impl EipFields {
    /// EIP `name` of a validated `model`.
    pub fn of(model: &Model, name: &str) -> EipFields {
        let ip = model.eips.get(name).and_then(|e| e.v4ip).map(|a| a.to_string()).unwrap_or_default();
        let uses = [
            ("dnat", model.dnat_rules.values().any(|r| r.eip == name)),
            ("fip", model.fip_rules.values().any(|r| r.eip == name)),
            ("snat", model.snat_rules.values().any(|r| r.eip == name)),
        ];
        let nat = uses.iter().filter(|(_, u)| *u).map(|(k, _)| *k).collect::<Vec<_>>().join(",");
        EipFields { ip, nat, ready: false }
    }

    pub fn insert_into(&self, out: &mut Map<String, Json>) {
        out.insert("ip".into(), self.ip.clone().into());
        out.insert("nat".into(), self.nat.clone().into());
        out.insert("ready".into(), self.ready.into());
    }
}
