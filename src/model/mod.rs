//! The desired-state model: the specs (each kind's in its home,
//! `kinds::<kind>::spec`, re-exported here), validation into a [`validate::Model`],
//! the NB names objects derive ([`names`]), object identity ([`object`]),
//! derived inputs ([`derived`]) and what is accepted but not realised
//! ([`notices`]). Types shared by several kinds' specs live here.

pub mod derived;
pub mod names;
pub mod notices;
pub mod object;
pub mod ovn_match;
pub mod validate;

/// A VPC spec with its name.
pub type NamedVpc = (String, VpcSpec);
/// A subnet spec with its name.
pub type NamedSubnet = (String, SubnetSpec);

use serde::{Deserialize, Serialize};

pub use crate::kinds::iptables_dnat_rule::spec::IptablesDnatRuleSpec;
pub use crate::kinds::iptables_eip::spec::IptablesEipSpec;
pub use crate::kinds::iptables_fip_rule::spec::IptablesFipRuleSpec;
pub use crate::kinds::iptables_snat_rule::spec::IptablesSnatRuleSpec;
pub use crate::kinds::subnet::spec::{Acl, NatOutgoingMatch, NatOutgoingPolicyRule, Protocol, SubnetSpec, U2oFeatures};
pub use crate::kinds::vpc::spec::{BfdPort, PolicyAction, PolicyRoute, RoutePolicy, StaticRoute, VpcPeering, VpcSpec};
pub use crate::kinds::vpc_nat_gateway::spec::VpcNatGatewaySpec;

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_zero(n: &i64) -> bool {
    *n == 0
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
