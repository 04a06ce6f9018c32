//! `IptablesEIP.spec`, spelled exactly as the CRD spells it. Every field of
//! Kube-OVN 1.16's schema is accepted, an unknown one refused by name.

use serde::{Deserialize, Serialize};

/// Where an EIP comes from when its spec and its gateway name none (Kube-OVN's default).
pub const DEFAULT_EXTERNAL_SUBNET: &str = "ovn-vpc-external-network";

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IptablesEipSpec {
    /// TOML only: the EIP's name (a custom resource's is `metadata.name`, and a
    /// `name` in its spec is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The VpcNatGateway that holds the address.
    #[serde(default)]
    pub nat_gw_dp: String,
    /// A fixed IPv4 address; empty: allocated by the IPAM.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub v4ip: String,
    /// Refused: the iptables gateway is IPv4-only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub v6ip: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    /// Empty: the gateway's first external subnet, else [`DEFAULT_EXTERNAL_SUBNET`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub external_subnet: String,
    /// Not realised: QoS comes later.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub qos_policy: String,
}
