//! An IptablesEIP's own rules: `natGwDp` names a valid gateway (else it
//! waits), its external subnet (the spec's, else the gateway's first) exists
//! (else it waits) and is an attachment network, a fixed `v4ip` is an IPv4
//! address inside it and not its gateway, and `v6ip` is refused (the
//! iptables gateway is IPv4-only). An address taken by another EIP is
//! checked across EIPs (`model::validate::nat`). Pure.
//!
//! Checked elsewhere: what needs the previous state (the address changed
//! after the EIP is ready, `natGwDp` changed) in `model::validate::nat`,
//! from the EIP's status; whether its address can be had, in the IPAM
//! (`daemon::pods::eips`).

use std::net::{IpAddr, Ipv4Addr};

use super::spec::IptablesEipSpec;
use crate::model::object::Kind;
use crate::model::validate::{parse_ip, reject, wait_for, Model, Rejection};

/// A valid EIP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IptablesEip {
    pub name: String,
    pub gateway: String,
    pub external_subnet: String,
    /// The fixed address; `None`: allocated by the IPAM (`daemon::pods::eips`).
    pub v4ip: Option<Ipv4Addr>,
    pub spec: IptablesEipSpec,
}

pub fn check_iptables_eip(name: &str, spec: &IptablesEipSpec, model: &Model) -> Result<IptablesEip, Rejection> {
    crate::model::validate::check_name(Kind::IptablesEip, name)?;
    let no = |field: &str, why: String| reject(Kind::IptablesEip, name, field, why);
    let wait = |field: &str, why: String| wait_for(Kind::IptablesEip, name, field, why);
    if spec.nat_gw_dp.is_empty() {
        return Err(no("natGwDp", "is required".into()));
    }
    if !spec.v6ip.is_empty() {
        return Err(no("v6ip", format!("{}: the iptables gateway is IPv4-only", spec.v6ip)));
    }
    let v4ip = match spec.v4ip.trim() {
        "" => None,
        s => match parse_ip(s).map_err(|e| no("v4ip", e))? {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => return Err(no("v4ip", format!("{s} is IPv6; the iptables gateway is IPv4-only"))),
        },
    };
    let Some(gw) = model.nat_gateways.get(&spec.nat_gw_dp) else {
        return Err(wait("natGwDp", format!("VpcNatGateway {:?} is not defined or refused", spec.nat_gw_dp)));
    };
    let external_subnet = match spec.external_subnet.is_empty() {
        true => gw.external_subnets[0].clone(),
        false => spec.external_subnet.clone(),
    };
    // The gateway has one external leg (net1), on its first external subnet.
    if external_subnet != gw.external_subnets[0] {
        return Err(no(
            "externalSubnet",
            format!(
                "{external_subnet:?} is not the external leg of VpcNatGateway {:?}, which is on {:?} (its first externalSubnets entry)",
                spec.nat_gw_dp, gw.external_subnets[0]
            ),
        ));
    }
    let Some(ext) = model.subnets.get(&external_subnet) else {
        return Err(wait("externalSubnet", format!("subnet {external_subnet:?} is not defined or refused")));
    };
    if ext.is_ovn {
        return Err(no(
            "externalSubnet",
            format!("subnet {external_subnet:?} is an OVN subnet, not an attachment network"),
        ));
    }
    if let Some(a) = v4ip {
        let ip = IpAddr::V4(a);
        if !ext.cidrs.iter().any(|c| c.contains(&ip)) {
            let cidrs: Vec<String> = ext.cidrs.iter().map(ToString::to_string).collect();
            return Err(no(
                "v4ip",
                format!("{a} is outside external subnet {external_subnet:?} ({})", cidrs.join(",")),
            ));
        }
        if ext.gateways.contains(&ip) {
            return Err(no("v4ip", format!("{a} is the gateway of external subnet {external_subnet:?}")));
        }
    }
    Ok(IptablesEip {
        name: name.to_string(),
        gateway: spec.nat_gw_dp.clone(),
        external_subnet,
        v4ip,
        spec: spec.clone(),
    })
}
