//! A VpcNatGateway's own rules: its VPC and subnet exist (else it waits),
//! the subnet is the VPC's, `lanIp` is an IPv4 address inside the subnet,
//! not its gateway and not excluded, each external subnet exists (else it
//! waits) and is an attachment network (a non-OVN provider); each of
//! `routes` is an IPv4 CIDR with an IPv4 `nextHopIP`; the old inline form is
//! checked in `inline.rs`. Pure.
//!
//! Checked elsewhere: `lanIp` used by a pod other than the gateway's own,
//! against the IPAM (`daemon::inputs`, after the pods' update). Not checked
//! yet: a changed `vpc`/`subnet` of a running gateway.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

use super::inline::{check_inline, Inline};
use super::spec::VpcNatGatewaySpec;
use crate::kinds::iptables_eip::spec::DEFAULT_EXTERNAL_SUBNET;
use crate::model::object::Kind;
use crate::model::validate::{ipv4, parse_cidr, parse_ip, reject, wait_for, Model, Rejection};

/// A valid gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpcNatGateway {
    pub name: String,
    pub lan_ip: Ipv4Addr,
    /// `externalSubnets`, or `[ovn-vpc-external-network]`.
    pub external_subnets: Vec<String>,
    /// `routes`, parsed: (cidr, nextHopIP).
    pub routes: Vec<(Ipv4Net, Ipv4Addr)>,
    /// The old inline form's rules (empty when it is not used).
    pub inline: Inline,
    pub spec: VpcNatGatewaySpec,
}

/// What a refusal of gateway `name` says about `field`.
fn no(name: &str, field: &str, why: String) -> Rejection {
    reject(Kind::VpcNatGateway, name, field, why)
}

/// Checks one gateway against the validated VPCs and subnets.
pub fn check_vpc_nat_gateway(name: &str, spec: &VpcNatGatewaySpec, model: &Model) -> Result<VpcNatGateway, Rejection> {
    crate::model::validate::check_name(Kind::VpcNatGateway, name)?;
    // Its workload is named after it: the StatefulSet `vpc-nat-gw-<name>` is
    // also a label value (no dots) and, for the StatefulSet controller's
    // revision label, at most 52 characters.
    let max = 52 - crate::kinds::vpc_nat_gateway::workload::DEFAULT_PREFIX.len() - 1;
    if name.contains('.') || name.len() > max {
        return Err(no(
            name,
            "name",
            format!(
                "its workload is named vpc-nat-gw-<name>: at most {max} characters and no '.' (this one has {})",
                name.len()
            ),
        ));
    }
    let wait = |field: &str, why: String| wait_for(Kind::VpcNatGateway, name, field, why);
    if spec.vpc.is_empty() {
        return Err(no(name, "vpc", "is required".into()));
    }
    if spec.subnet.is_empty() {
        return Err(no(name, "subnet", "is required".into()));
    }
    if !model.vpcs.contains_key(&spec.vpc) {
        return Err(wait("vpc", format!("VPC {:?} is not defined or refused", spec.vpc)));
    }
    let Some(subnet) = model.subnets.get(&spec.subnet) else {
        return Err(wait("subnet", format!("subnet {:?} is not defined or refused", spec.subnet)));
    };
    if !subnet.is_ovn || subnet.spec.vpc != spec.vpc {
        return Err(no(name, "subnet", format!("subnet {:?} is not an OVN subnet of VPC {:?}", spec.subnet, spec.vpc)));
    }
    let lan_ip = match parse_ip(&spec.lan_ip).map_err(|e| no(name, "lanIp", e))? {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => {
            return Err(no(name, "lanIp", format!("{} is IPv6; the iptables gateway is IPv4-only", spec.lan_ip)))
        }
    };
    let ip = IpAddr::V4(lan_ip);
    if !subnet.cidrs.iter().any(|c| c.contains(&ip)) {
        return Err(no(name, "lanIp", format!("{ip} is not inside subnet {:?} ({:?})", subnet.name, cidrs(subnet))));
    }
    if subnet.gateways.contains(&ip) {
        return Err(no(name, "lanIp", format!("{ip} is the gateway of subnet {:?}", subnet.name)));
    }
    if subnet.excludes.iter().any(|(a, b)| *a <= ip && ip <= *b) {
        return Err(no(name, "lanIp", format!("{ip} is in excludeIps of subnet {:?}", subnet.name)));
    }
    let external_subnets = match spec.external_subnets.is_empty() {
        true => vec![DEFAULT_EXTERNAL_SUBNET.to_string()],
        false => spec.external_subnets.clone(),
    };
    for (i, ext) in external_subnets.iter().enumerate() {
        let field = format!("externalSubnets[{i}]");
        match model.subnets.get(ext) {
            None => return Err(wait(&field, format!("external subnet {ext:?} is not defined or refused"))),
            Some(s) if s.is_ovn => {
                let why = format!("subnet {ext:?} is an OVN subnet; an external subnet is an attachment network (provider <nad>.<namespace>)");
                return Err(no(name, &field, why));
            }
            Some(s) if !s.cidrs.iter().any(|c| matches!(c, IpNet::V4(_))) => {
                let why = format!("subnet {ext:?} has no IPv4 network; the iptables gateway is IPv4-only");
                return Err(no(name, &field, why));
            }
            Some(_) => {}
        }
    }
    let mut routes = vec![];
    for (i, r) in spec.routes.iter().enumerate() {
        let field = format!("routes[{i}].cidr");
        let cidr = match parse_cidr(&r.cidr).map_err(|e| no(name, &field, e))? {
            IpNet::V4(n) => n,
            IpNet::V6(_) => {
                return Err(no(name, &field, format!("{} is IPv6; the iptables gateway is IPv4-only", r.cidr)))
            }
        };
        let via = ipv4(Kind::VpcNatGateway, name, &format!("routes[{i}].nextHopIP"), &r.next_hop_ip)?;
        routes.push((cidr, via));
    }
    let ext = &model.subnets[&external_subnets[0]];
    let inline = check_inline(name, spec, ext)?;
    Ok(VpcNatGateway { name: name.to_string(), lan_ip, external_subnets, routes, inline, spec: spec.clone() })
}

fn cidrs(s: &crate::model::validate::Subnet) -> Vec<String> {
    s.cidrs.iter().map(ToString::to_string).collect()
}
