//! `IptablesDnatRule.spec`, spelled exactly as the CRD spells it; an unknown
//! field is refused by name. Ports are strings in the CRD; the old inline
//! form wrote numbers, so [`Port`] reads both.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IptablesDnatRuleSpec {
    /// TOML only: the rule's name (a custom resource's is `metadata.name`, and a
    /// `name` in its spec is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The IptablesEIP, by name.
    #[serde(default)]
    pub eip: String,
    #[serde(default)]
    pub external_port: Port,
    /// `tcp` (the default) or `udp`, either case.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[serde(default)]
    pub internal_ip: String,
    #[serde(default)]
    pub internal_port: Port,
}

/// A port as a string (`"8888"`) or a number (`8888`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Port {
    Number(i64),
    Text(String),
}

impl Default for Port {
    fn default() -> Port {
        Port::Text(String::new())
    }
}

impl Port {
    /// The port, 1-65535.
    pub fn parse(&self) -> Result<u16, String> {
        let n = match self {
            Port::Number(n) => *n,
            Port::Text(s) => s.trim().parse().map_err(|_| format!("{s:?} is not a port number"))?,
        };
        u16::try_from(n).ok().filter(|p| *p != 0).ok_or_else(|| format!("{n} is not a port (1-65535)"))
    }
}
