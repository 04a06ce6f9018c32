//! What an IptablesEIP's `status` shows besides the conditions, as Kube-OVN
//! shows it: `ip` (fixed or allocated: the IPAM's, `Derived::eips`), `nat`
//! (the kinds of rule using it, `dnat,fip,snat`) and `ready` (set by the
//! reporter from the agent's report), and `natGwDp`, the gateway it was
//! accepted for: with `ip` and `ready`, the previous state the immutability
//! checks read back (`model::validate::nat`). Pure.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{Map, Value as Json};

use crate::model::validate::Model;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EipFields {
    /// Its address; empty while it holds none.
    pub ip: String,
    pub nat: String,
    pub ready: bool,
    pub nat_gw_dp: String,
}

/// What an EIP's status says as last written: the previous state the
/// immutability checks compare the spec with. It survives a daemon restart
/// (it is the object's), and a refusal leaves it as it was (a refused
/// object's status shows no fields of ours but the conditions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EipStatus {
    pub ip: Option<Ipv4Addr>,
    pub ready: bool,
    /// The gateway it was accepted for (`None`: never accepted, or a CRD
    /// that prunes the field, as Kube-OVN's: then nothing is checked).
    pub nat_gw_dp: Option<String>,
}

impl EipStatus {
    pub fn of(obj: &Json) -> EipStatus {
        let status = obj.get("status");
        let text = |k: &str| status.and_then(|s| s.get(k)).and_then(Json::as_str).map(str::trim);
        EipStatus {
            ip: text("ip").and_then(|s| s.parse().ok()),
            ready: status.and_then(|s| s.get("ready")).and_then(Json::as_bool) == Some(true),
            nat_gw_dp: text("natGwDp").filter(|s| !s.is_empty()).map(str::to_string),
        }
    }
}

impl EipFields {
    /// EIP `name` of a validated `model`, its address in `addresses`.
    pub fn of(model: &Model, name: &str, addresses: &BTreeMap<String, Ipv4Addr>) -> EipFields {
        let ip = addresses.get(name).map(|a| a.to_string()).unwrap_or_default();
        let nat_gw_dp = model.eips.get(name).map(|e| e.gateway.clone()).unwrap_or_default();
        let uses = [
            ("dnat", model.dnat_rules.values().any(|r| r.eip == name)),
            ("fip", model.fip_rules.values().any(|r| r.eip == name)),
            ("snat", model.snat_rules.values().any(|r| r.eip == name)),
        ];
        let nat = uses.iter().filter(|(_, u)| *u).map(|(k, _)| *k).collect::<Vec<_>>().join(",");
        EipFields { ip, nat, ready: false, nat_gw_dp }
    }

    pub fn insert_into(&self, out: &mut Map<String, Json>) {
        out.insert("ip".into(), self.ip.clone().into());
        out.insert("nat".into(), self.nat.clone().into());
        out.insert("ready".into(), self.ready.into());
        out.insert("natGwDp".into(), self.nat_gw_dp.clone().into());
    }
}
