//! `VpcNatGateway.spec`, spelled exactly as the CRD spells it (camelCase).
//!
//! Invariants: every field of Kube-OVN 1.16's schema is accepted, plus
//! `namespace` (where the workload goes; default the daemon's) and the
//! older inline rules of Kube-OVN's first releases (`eips`,
//! `floatingIpRules`, `dnatRules`, `snatRules`, seeds 001 and 002), which
//! mean the same rules as the separate kinds and are noticed as the old
//! form; a field in neither is refused by name (`deny_unknown_fields`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::kinds::iptables_dnat_rule::spec::Port;

/// `VpcNatGateway.spec`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VpcNatGatewaySpec {
    /// TOML only: the gateway's name (a custom resource's is `metadata.name`, and a
    /// `name` in its spec is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub vpc: String,
    #[serde(default)]
    pub subnet: String,
    #[serde(default)]
    pub lan_ip: String,
    /// Node selector terms as Kube-OVN spells them: `"key: value"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selector: Vec<String>,
    /// The attachment networks of its external leg; empty: `ovn-vpc-external-network`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_subnets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Json>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<GatewayRoute>,
    #[serde(rename = "noDefaultEIP", default, skip_serializing_if = "crate::model::is_false")]
    pub no_default_eip: bool,
    /// The workload's namespace; empty: the daemon's (`[kubernetes] namespace`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Not realised: QoS comes later.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub qos_policy: String,
    /// Not realised: the BGP speaker sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_speaker: Option<Json>,
    /// The old inline form (Kube-OVN's first releases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eips: Vec<InlineEip>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub floating_ip_rules: Vec<InlineFip>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnat_rules: Vec<InlineDnat>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snat_rules: Vec<InlineSnat>,
}

impl VpcNatGatewaySpec {
    /// Whether it uses the old inline form.
    pub fn is_inline(&self) -> bool {
        !(self.eips.is_empty()
            && self.floating_ip_rules.is_empty()
            && self.dnat_rules.is_empty()
            && self.snat_rules.is_empty())
    }
}

/// A route of the gateway pod (via its VPC leg).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayRoute {
    #[serde(default)]
    pub cidr: String,
    #[serde(rename = "nextHopIP", default)]
    pub next_hop_ip: String,
}

/// Old form: an EIP as `address/prefix` on the external network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineEip {
    #[serde(rename = "eipCIDR", default)]
    pub eip_cidr: String,
    #[serde(default)]
    pub gateway: String,
}

/// Old form: a FIP naming its EIP by address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineFip {
    #[serde(default)]
    pub eip: String,
    #[serde(default)]
    pub internal_ip: String,
}

/// Old form: a DNAT naming its EIP by address (ports as numbers or strings).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineDnat {
    #[serde(default)]
    pub eip: String,
    #[serde(default)]
    pub external_port: Port,
    #[serde(default)]
    pub protocol: String,
    #[serde(default)]
    pub internal_ip: String,
    #[serde(default)]
    pub internal_port: Port,
}

/// Old form: a SNAT naming its EIP by address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineSnat {
    #[serde(default)]
    pub eip: String,
    #[serde(rename = "internalCIDR", default)]
    pub internal_cidr: String,
}
