//! `Subnet.spec`, spelled exactly as the CRD spells it (camelCase): one
//! type deserialises both the operator's TOML (`[[subnet]]`) and the custom
//! resource's `spec`.
//!
//! Invariants: every field of Kube-OVN 1.16's Subnet spec is accepted (its own
//! controller writes some, such as `enableLb`, into every subnet), and a
//! field Kube-OVN does not have either is refused by name (a typo must not
//! pass silently: `deny_unknown_fields`). Each accepted field is either
//! realised (turned into NB rows), of no effect in a custom VPC (said so),
//! or not realised: the last two are listed per object by
//! `model::notices`, which is what the status' `Realised` condition shows.

use serde::{Deserialize, Serialize};

use crate::model::{is_false, is_zero, LabelSelector};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum Protocol {
    IPv4,
    IPv6,
    Dual,
}

/// `Subnet.spec`, plus `name` for the TOML form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubnetSpec {
    /// TOML only: the subnet's name (a custom resource's is `metadata.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub vpc: String,
    pub cidr_block: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default)]
    pub gateway: String,
    #[serde(default)]
    pub exclude_ips: Vec<String>,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    pub nat_outgoing: bool,
    #[serde(rename = "enableDHCP", default)]
    pub enable_dhcp: bool,
    #[serde(rename = "dhcpV4Options", default)]
    pub dhcp_v4_options: String,
    #[serde(rename = "dhcpV6Options", default)]
    pub dhcp_v6_options: String,
    #[serde(rename = "enableIPv6RA", default)]
    pub enable_ipv6_ra: bool,
    #[serde(default)]
    pub gateway_type: String,
    // Kube-OVN's other Subnet fields. What each means here is decided in
    // `validate::notices`: `enableLb`, `enableEcmp`, `gatewayNode(Selectors)`,
    // `natOutgoingPolicyRules`, `disableGatewayCheck` and
    // `disableInterConnection` have no effect in a custom VPC; the rest are
    // not realised when set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vlan: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub logical_gateway: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_gateway_check: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_inter_connection: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub external_egress_gateway: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub policy_routing_priority: i64,
    #[serde(rename = "policyRoutingTableID", default, skip_serializing_if = "is_zero")]
    pub policy_routing_table_id: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mtu: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_subnets: Vec<String>,
    #[serde(rename = "allowEWTraffic", default, skip_serializing_if = "is_false")]
    pub allow_ew_traffic: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acls: Vec<Acl>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nat_outgoing_policy_rules: Vec<NatOutgoingPolicyRule>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub u2o_interconnection: bool,
    #[serde(rename = "u2oInterconnectionIP", default, skip_serializing_if = "String::is_empty")]
    pub u2o_interconnection_ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u2o_features: Option<U2oFeatures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_lb: Option<bool>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable_ecmp: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable_multicast_snoop: bool,
    #[serde(rename = "enableExternalLBAddress", default, skip_serializing_if = "is_false")]
    pub enable_external_lb_address: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway_node: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateway_node_selectors: Vec<LabelSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_selectors: Vec<LabelSelector>,
    #[serde(rename = "ipv6RAConfigs", default, skip_serializing_if = "String::is_empty")]
    pub ipv6_ra_configs: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub route_table: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_network: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vips: Vec<String>,
}

impl SubnetSpec {
    /// An OVN subnet without `vpc` belongs to `default_vpc`, as in Kube-OVN.
    pub fn use_default_vpc(&mut self, default_vpc: &str) {
        if self.vpc.is_empty() && (self.provider.is_empty() || self.provider == "ovn") {
            self.vpc = default_vpc.to_string();
        }
    }
}

/// Kube-OVN's subnet ACL (`acls[]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Acl {
    #[serde(default)]
    pub direction: String,
    #[serde(default)]
    pub priority: i64,
    #[serde(rename = "match", default)]
    pub match_: String,
    #[serde(default)]
    pub action: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NatOutgoingPolicyRule {
    #[serde(rename = "match", default)]
    pub match_: NatOutgoingMatch,
    #[serde(default)]
    pub action: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NatOutgoingMatch {
    #[serde(rename = "srcIPs", default)]
    pub src_ips: String,
    #[serde(rename = "dstIPs", default)]
    pub dst_ips: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct U2oFeatures {
    #[serde(default)]
    pub overlay_only_routing: bool,
}
