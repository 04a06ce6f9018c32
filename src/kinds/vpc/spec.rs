//! `Vpc.spec`, spelled exactly as the CRD spells it (camelCase): one type
//! deserialises both the operator's TOML (`[[vpc]]`) and the custom
//! resource's `spec`.
//!
//! Invariants: every field of Kube-OVN 1.16's Vpc spec is accepted (its own
//! controller writes some, such as `enableLb`, into every subnet), and a
//! field Kube-OVN does not have either is refused by name (a typo must not
//! pass silently: `deny_unknown_fields`). Each accepted field is either
//! realised (turned into NB rows), of no effect in a custom VPC (said so),
//! or not realised: the last two are listed per object by
//! `model::notices`, which is what the status' `Realised` condition shows.

use serde::{Deserialize, Serialize};

use crate::model::{is_false, LabelSelector};

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
    /// Not realised: BFD for the VPC's ECMP routes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable_bfd: bool,
    /// Not realised: ovn-vpcd takes the VPC's default subnet from a subnet's
    /// `default`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_subnet: String,
    /// Not realised (OVN-native NAT, later).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_external_subnets: Vec<String>,
    /// Not realised (VPC peering comes later).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_peerings: Vec<VpcPeering>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VpcPeering {
    #[serde(default)]
    pub remote_vpc: String,
    #[serde(rename = "localConnectIP", default)]
    pub local_connect_ip: String,
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
    /// Not realised: a BFD row for the next hop.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bfd_id: String,
    /// Not realised: routes sharing cidr and policy are ECMP already.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ecmp_mode: String,
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
