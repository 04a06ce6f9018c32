//! `IptablesFIPRule.spec`, spelled exactly as the CRD spells it; an unknown
//! field is refused by name.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IptablesFipRuleSpec {
    /// The IptablesEIP, by name.
    #[serde(default)]
    pub eip: String,
    #[serde(default)]
    pub internal_ip: String,
}
