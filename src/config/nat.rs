//! The NAT gateway kinds in the TOML: `[[vpcNatGateway]]`, `[[iptablesEip]]`,
//! `[[iptablesFipRule]]`, `[[iptablesDnatRule]]` and `[[iptablesSnatRule]]`,
//! each holding `name` plus the custom resource's spec fields, spelled as the
//! CRD spells them (the same spec types decode both).
//!
//! Invariants: an unknown field, a bad value or a missing `name` is refused
//! at its file:line:column as in `[[vpc]]`; any of these tables without
//! `[kubernetes]` is refused at the table's position, since a gateway's
//! workload is a pod that the daemon keeps through the API server (its
//! owner, the anchor ConfigMap of `kube::objects::anchor`, lives there too).

use std::ops::Range;

use toml::Spanned;

use super::{At, ConfigError};
use crate::model::validate::NatSpecs;
use crate::model::{
    IptablesDnatRuleSpec, IptablesEipSpec, IptablesFipRuleSpec, IptablesSnatRuleSpec, VpcNatGatewaySpec,
};

/// The NAT tables as written (`File`'s fields), with positions for error messages.
#[derive(Debug, Default)]
pub(super) struct NatFile {
    pub gateways: Vec<Spanned<VpcNatGatewaySpec>>,
    pub eips: Vec<Spanned<IptablesEipSpec>>,
    pub fips: Vec<Spanned<IptablesFipRuleSpec>>,
    pub dnats: Vec<Spanned<IptablesDnatRuleSpec>>,
    pub snats: Vec<Spanned<IptablesSnatRuleSpec>>,
}

/// A spec type that carries the TOML-only `name`.
trait Named {
    fn name_mut(&mut self) -> &mut Option<String>;
}

macro_rules! named {
    ($($t:ty),*) => {$(
        impl Named for $t {
            fn name_mut(&mut self) -> &mut Option<String> {
                &mut self.name
            }
        }
    )*};
}
named!(VpcNatGatewaySpec, IptablesEipSpec, IptablesFipRuleSpec, IptablesDnatRuleSpec, IptablesSnatRuleSpec);

/// Why a NAT table needs `[kubernetes]`.
pub const NEEDS_KUBERNETES: &str =
    "needs [kubernetes]: a NAT gateway's workload is a pod, which the daemon keeps through the API server";

/// Each entry of table `table` as (name, spec), or the first entry's error.
fn entries<T: Named>(
    table: &str,
    items: Vec<Spanned<T>>,
    kubernetes: bool,
    at: At,
    check: impl Fn(&T) -> Option<String>,
) -> Result<Vec<(String, T)>, ConfigError> {
    let mut out = vec![];
    for item in items {
        let span: Range<usize> = item.span();
        if !kubernetes {
            return Err(at(Some(span), format!("[[{table}]] {NEEDS_KUBERNETES}")));
        }
        let mut spec = item.into_inner();
        let name = spec
            .name_mut()
            .take()
            .ok_or_else(|| at(Some(span.clone()), format!("[[{table}]] entry without `name`")))?;
        if name.is_empty() {
            return Err(at(Some(span), format!("[[{table}]] `name` must not be empty")));
        }
        if let Some(why) = check(&spec) {
            return Err(at(Some(span), format!("{why} ({name:?})")));
        }
        out.push((name, spec));
    }
    Ok(out)
}

/// Why a TOML EIP needs `v4ip`.
pub const EIP_NEEDS_V4IP: &str = "[[iptablesEip]] needs `v4ip` in the TOML: an allocated address is kept in \
     a resource's status, and a TOML EIP has none, so it could change at the daemon's next start";

/// TOML EIPs name their address (`v4ip`): the daemon restores an allocated
/// one from the resource's `status.ip` at start, and a TOML object has no
/// status, so an allocated address could move under a running gateway.
fn fixed(eip: &IptablesEipSpec) -> Option<String> {
    eip.v4ip.trim().is_empty().then(|| EIP_NEEDS_V4IP.to_string())
}

/// The NAT tables of `file` as specs; `kubernetes`: `[kubernetes]` is there.
pub(super) fn nat_specs(file: NatFile, kubernetes: bool, at: At) -> Result<NatSpecs, ConfigError> {
    Ok(NatSpecs {
        gateways: entries("vpcNatGateway", file.gateways, kubernetes, at, |_| None)?,
        eips: entries("iptablesEip", file.eips, kubernetes, at, fixed)?,
        fips: entries("iptablesFipRule", file.fips, kubernetes, at, |_| None)?,
        dnats: entries("iptablesDnatRule", file.dnats, kubernetes, at, |_| None)?,
        snats: entries("iptablesSnatRule", file.snats, kubernetes, at, |_| None)?,
        eip_status: Default::default(),
        running: Default::default(),
        unreadable: Default::default(),
    })
}

#[cfg(test)]
#[path = "nat_tests.rs"]
mod tests;
