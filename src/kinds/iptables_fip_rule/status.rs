//! What a NAT rule's `status` shows besides the conditions, as Kube-OVN
//! shows it: `ready` (true once its gateway's agent reports a set holding it), `v4ip`
//! (its EIP's address), `natGwDp` (its EIP's gateway) and the rule's own
//! fields. Shared by the three rule kinds. Read back ([`RuleStatus`]), the
//! same fields are the previous state the conflict checks read: a rule
//! whose status shows it ready with a claim (an EIP's address, a DNAT
//! port) holds that claim against a newcomer. Pure.

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

/// What a FIP or DNAT rule's status says as last written. It survives a
/// daemon restart (it is the object's), and a refusal leaves it as it was
/// (a refused rule's status shows no fields of ours but the conditions),
/// so a rule kept in force while its edit is refused still shows what it
/// holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleStatus {
    pub ready: bool,
    pub v4ip: Option<Ipv4Addr>,
    pub internal_ip: Option<Ipv4Addr>,
    pub internal_port: Option<u16>,
    pub external_port: Option<u16>,
    /// Lowercase.
    pub protocol: Option<String>,
    pub internal_cidr: Option<String>,
}

impl RuleStatus {
    pub fn of(obj: &Json) -> RuleStatus {
        let status = obj.get("status");
        let text = |k: &str| {
            let v = status.and_then(|s| s.get(k))?;
            let t = match v {
                Json::String(s) => s.trim().to_string(),
                Json::Number(n) => n.to_string(),
                _ => return None,
            };
            Some(t).filter(|t| !t.is_empty())
        };
        RuleStatus {
            ready: status.and_then(|s| s.get("ready")).and_then(Json::as_bool) == Some(true),
            v4ip: text("v4ip").and_then(|s| s.parse().ok()),
            internal_ip: text("internalIp").and_then(|s| s.parse().ok()),
            internal_port: text("internalPort").and_then(|s| s.parse().ok()),
            external_port: text("externalPort").and_then(|s| s.parse().ok()),
            protocol: text("protocol").map(|p| p.to_ascii_lowercase()),
            internal_cidr: text("internalCIDR"),
        }
    }

    /// Whether it shows the rule applied on EIP address `v4ip`.
    pub fn ready_on(&self, v4ip: Option<Ipv4Addr>) -> bool {
        self.ready && self.v4ip.is_some() && self.v4ip == v4ip
    }
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
