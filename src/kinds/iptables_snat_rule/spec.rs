//! `IptablesSnatRule.spec`, spelled exactly as the CRD spells it; an unknown
//! field is refused by name.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IptablesSnatRuleSpec {
    /// TOML only: the rule's name (a custom resource's is `metadata.name`, and a
    /// `name` in its spec is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The IptablesEIP, by name.
    #[serde(default)]
    pub eip: String,
    #[serde(rename = "internalCIDR", default)]
    pub internal_cidr: String,
}
