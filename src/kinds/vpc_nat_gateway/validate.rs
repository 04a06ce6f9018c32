//! A VpcNatGateway's own rules: its VPC and subnet exist (else it waits),
//! the subnet is the VPC's, `lanIp` is an IPv4 address inside the subnet,
//! not its gateway and not excluded, each external subnet exists (else it
//! waits) and is an attachment network (a non-OVN provider); `routes` are
//! checked in [`check_routes`]; the old inline form is checked in
//! `inline.rs`. Pure.
//!
//! `routes` become `ip route replace <cidr> via <nextHopIP> dev eth0` in the
//! gateway pod (`gateway::nat::net`), beside the routes the gateway always
//! has: the connected `eth0` and `net1` networks (the CNI's), the default
//! route via the external gateway on `net1`, and one route per other subnet
//! of the VPC via the gateway subnet's gateway (`rules.rs`). A route is
//! refused (field `routes[i].cidr` or `routes[i].nextHopIP`) when the kernel
//! would refuse it or when it would fight one of those:
//! - `cidr`: an IPv4 network with no host bits set. A non-canonical CIDR
//!   (`10.0.0.1/24`) is refused, not canonicalised: the kernel itself
//!   refuses it ("Invalid prefix for given prefix length"), and whether
//!   the author meant the network `10.0.0.0/24` or the host `10.0.0.1/32`
//!   is theirs to say; what is accepted is then exactly what
//!   `ip -j route show` shows back, so the agent's re-checks never re-plan
//!   it. Not `0.0.0.0/0`: the default route is the external side's. Not
//!   inside the gateway's subnet or an external subnet (a route with the
//!   connected network's prefix would replace the kernel's connected route
//!   and cut that leg off), not another subnet of the VPC (already routed
//!   via the subnet gateway), and no CIDR twice.
//! - `nextHopIP`: an IPv4 address on the VPC leg: inside the gateway's
//!   subnet (an IPv4 CIDR of it), not `lanIp` itself, not the network or
//!   broadcast address. `gateway` means the subnet's IPv4 gateway, as in
//!   Kube-OVN.
//!
//! Checked elsewhere: `lanIp` and the inline EIPs held in the IPAM (taken
//! by another pod, EIP or gateway: `daemon::pods::gateways`, reported from
//! `daemon::inputs`); a running gateway's `namespace` (it does not move:
//! `daemon::nat`). Not checked yet: a changed `vpc`/`subnet` of a running
//! gateway.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

use super::inline::{check_inline, Inline};
use super::spec::VpcNatGatewaySpec;
use crate::kinds::iptables_eip::spec::DEFAULT_EXTERNAL_SUBNET;
use crate::model::object::Kind;
use crate::model::validate::{ipv4, parse_ip, reject, wait_for, Model, Rejection, Subnet};

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
    let routes = check_routes(name, spec, model, subnet, lan_ip, &external_subnets)?;
    let ext = &model.subnets[&external_subnets[0]];
    let inline = check_inline(name, spec, ext)?;
    Ok(VpcNatGateway { name: name.to_string(), lan_ip, external_subnets, routes, inline, spec: spec.clone() })
}

/// The value of `nextHopIP` meaning the gateway subnet's gateway (Kube-OVN's).
pub const NEXT_HOP_GATEWAY: &str = "gateway";

fn v4_nets(s: &Subnet) -> impl Iterator<Item = Ipv4Net> + '_ {
    s.cidrs.iter().filter_map(|c| match c {
        IpNet::V4(n) => Some(*n),
        IpNet::V6(_) => None,
    })
}

/// `spec.routes` of gateway `name` on `subnet` at `lan_ip` (see the module
/// head): each (cidr, next hop), in order.
fn check_routes(
    name: &str,
    spec: &VpcNatGatewaySpec,
    model: &Model,
    subnet: &Subnet,
    lan_ip: Ipv4Addr,
    external_subnets: &[String],
) -> Result<Vec<(Ipv4Net, Ipv4Addr)>, Rejection> {
    let mut routes: Vec<(Ipv4Net, Ipv4Addr)> = vec![];
    for (i, r) in spec.routes.iter().enumerate() {
        let field = format!("routes[{i}].cidr");
        let cidr = check_route_cidr(name, &field, &r.cidr)?;
        if cidr.prefix_len() == 0 {
            let why = format!(
                "{cidr} is the default route, which is the external side's: the gateway sends it via the external gateway on net1"
            );
            return Err(no(name, &field, why));
        }
        if let Some(j) = routes.iter().position(|(c, _)| *c == cidr) {
            return Err(no(name, &field, format!("{cidr} is routed twice: also routes[{j}].cidr")));
        }
        if let Some(n) = v4_nets(subnet).find(|n| n.contains(&cidr)) {
            let why = format!(
                "{cidr} is inside the gateway's subnet {:?} ({n}), which eth0 reaches directly: a route there would replace or shadow that connected route",
                subnet.name
            );
            return Err(no(name, &field, why));
        }
        for ext in external_subnets.iter().filter_map(|e| model.subnets.get(e)) {
            if let Some(n) = v4_nets(ext).find(|n| n.contains(&cidr)) {
                let why = format!(
                    "{cidr} is inside the external subnet {:?} ({n}), which net1 reaches directly: a route there via eth0 would cut the external side off",
                    ext.name
                );
                return Err(no(name, &field, why));
            }
        }
        let other =
            model.subnets_of(&spec.vpc).filter(|s| s.name != subnet.name).find(|s| v4_nets(s).any(|n| n == cidr));
        if let Some(s) = other {
            let why = format!(
                "{cidr} is subnet {:?} of VPC {:?}, which the gateway already routes via its subnet's gateway",
                s.name, spec.vpc
            );
            return Err(no(name, &field, why));
        }
        let via = check_next_hop(name, &format!("routes[{i}].nextHopIP"), &r.next_hop_ip, subnet, lan_ip)?;
        routes.push((cidr, via));
    }
    Ok(routes)
}

/// A route's `cidr`: IPv4, no host bits set.
fn check_route_cidr(name: &str, field: &str, text: &str) -> Result<Ipv4Net, Rejection> {
    let net: IpNet =
        text.trim().parse().map_err(|_| no(name, field, format!("{text:?} is not a CIDR (address/prefix)")))?;
    let IpNet::V4(net) = net else {
        return Err(no(name, field, format!("{text} is IPv6; the iptables gateway is IPv4-only")));
    };
    if net.trunc() != net {
        let why = format!(
            "{text} has host bits set, which the kernel refuses for a route: write the network {} (or {}/32 for the one host)",
            net.trunc(),
            net.addr()
        );
        return Err(no(name, field, why));
    }
    Ok(net)
}

/// A route's `nextHopIP`: an address of the VPC leg other than the
/// gateway's own, or `gateway`.
fn check_next_hop(
    name: &str,
    field: &str,
    text: &str,
    subnet: &Subnet,
    lan_ip: Ipv4Addr,
) -> Result<Ipv4Addr, Rejection> {
    let via = match text.trim() {
        NEXT_HOP_GATEWAY => {
            let gateway = subnet.gateways.iter().find_map(|g| match g {
                IpAddr::V4(a) => Some(*a),
                IpAddr::V6(_) => None,
            });
            return gateway.ok_or_else(|| no(name, field, format!("subnet {:?} has no IPv4 gateway", subnet.name)));
        }
        _ => ipv4(Kind::VpcNatGateway, name, field, text)?,
    };
    let Some(net) = v4_nets(subnet).find(|n| n.contains(&via)) else {
        let why = format!(
            "{via} is not inside the gateway's subnet {:?} ({:?}): a next hop must be reachable on eth0",
            subnet.name,
            cidrs(subnet)
        );
        return Err(no(name, field, why));
    };
    if via == lan_ip {
        return Err(no(name, field, format!("{via} is the gateway's own lanIp: a route cannot go via itself")));
    }
    if net.prefix_len() <= 30 && (via == net.network() || via == net.broadcast()) {
        let what = if via == net.network() { "network" } else { "broadcast" };
        return Err(no(name, field, format!("{via} is the {what} address of {net}, not a host")));
    }
    Ok(via)
}

fn cidrs(s: &Subnet) -> Vec<String> {
    s.cidrs.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
