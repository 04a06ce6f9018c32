//! The desired-state model: the `spec` of Kube-OVN's `kubeovn.io/v1` Vpc and
//! Subnet, spelled exactly as the CRDs spell them (camelCase). One set of
//! types deserialises both the operator's TOML (`[[vpc]]`, `[[subnet]]`) and,
//! later, the custom resources' `spec`.

pub mod ovn_match;
pub mod validate;

/// A VPC spec with its name.
pub type NamedVpc = (String, VpcSpec);
/// A subnet spec with its name.
pub type NamedSubnet = (String, SubnetSpec);

use serde::{Deserialize, Serialize};

/// `Vpc.spec`, plus `name` for the TOML form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VpcSpec {
    /// TOML only: the VPC's name (a custom resource's is `metadata.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub static_routes: Vec<StaticRoute>,
    #[serde(default)]
    pub policy_routes: Vec<PolicyRoute>,
    #[serde(default)]
    pub enable_external: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd_port: Option<BfdPort>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum RoutePolicy {
    /// Match the destination (OVN `dst-ip`); the default.
    #[default]
    #[serde(rename = "policyDst")]
    Dst,
    /// Match the source (OVN `src-ip`).
    #[serde(rename = "policySrc")]
    Src,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaticRoute {
    pub cidr: String,
    #[serde(rename = "nextHopIP")]
    pub next_hop_ip: String,
    #[serde(default)]
    pub policy: RoutePolicy,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub route_table: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyAction {
    Allow,
    Drop,
    Reroute,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRoute {
    pub priority: i64,
    #[serde(rename = "match")]
    pub match_: String,
    pub action: PolicyAction,
    #[serde(rename = "nextHopIP", default, skip_serializing_if = "String::is_empty")]
    pub next_hop_ip: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BfdPort {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
}

/// A Kubernetes label selector.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<SelectorRequirement>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

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
}
