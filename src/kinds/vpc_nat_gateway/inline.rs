//! The old inline form of a VpcNatGateway (`eips`, `floatingIpRules`,
//! `dnatRules`, `snatRules` in its spec, seeds 001 and 002), checked into
//! the same rules the separate kinds mean. Pure.
//!
//! Invariants: an inline EIP is an IPv4 `address/prefix` inside the
//! gateway's (first) external subnet, with that subnet's prefix length and,
//! if given, its gateway (the pod's external leg is the subnet's; an EIP
//! disagreeing with it is refused, not silently re-read); a rule names an
//! inline EIP by its address; anything else refuses the whole gateway (never
//! half-applied). Inline objects have no names of their own: the rule set
//! calls them by their place in the spec (`eips[0]`, `dnatRules[1]`), which no
//! Kubernetes object name can spell.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

use super::spec::VpcNatGatewaySpec;
use crate::model::object::Kind;
use crate::model::validate::{ipv4, reject, Rejection, Subnet};

/// The inline rules of a valid gateway, in spec order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inline {
    pub eips: Vec<Ipv4Addr>,
    /// (eip, internalIp).
    pub fips: Vec<(Ipv4Addr, Ipv4Addr)>,
    pub dnats: Vec<InlineDnatRule>,
    /// (eip, internalCIDR).
    pub snats: Vec<(Ipv4Addr, Ipv4Net)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlineDnatRule {
    pub eip: Ipv4Addr,
    pub external_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    pub internal_ip: Ipv4Addr,
    pub internal_port: u16,
}

/// The name the rule set gives the inline object at `field[i]`.
pub fn inline_name(field: &str, i: usize) -> String {
    format!("{field}[{i}]")
}

/// Checks the inline form of gateway `name` against its external subnet `ext`.
pub fn check_inline(name: &str, spec: &VpcNatGatewaySpec, ext: &Subnet) -> Result<Inline, Rejection> {
    let kind = Kind::VpcNatGateway;
    let no = |field: String, why: String| reject(kind, name, field, why);
    let v4 = |net: &IpNet| match net {
        IpNet::V4(n) => Some(*n),
        IpNet::V6(_) => None,
    };
    let ext_net = ext.cidrs.iter().find_map(v4);
    let ext_gw = ext.gateways.iter().find(|g| g.is_ipv4()).copied();
    let mut out = Inline::default();
    for (i, e) in spec.eips.iter().enumerate() {
        let field = format!("eips[{i}].eipCIDR");
        let net: Ipv4Net = e.eip_cidr.trim().parse().map_err(|_| {
            no(
                field.clone(),
                format!("{:?} is not an IPv4 address/prefix (the iptables gateway is IPv4-only)", e.eip_cidr),
            )
        })?;
        let Some(ext_net) = ext_net.filter(|n| n.contains(&net.addr())) else {
            let cidrs: Vec<String> = ext.cidrs.iter().map(ToString::to_string).collect();
            return Err(no(
                field,
                format!("{} is outside external subnet {:?} ({})", net.addr(), ext.name, cidrs.join(",")),
            ));
        };
        if net.prefix_len() != ext_net.prefix_len() {
            return Err(no(
                field,
                format!(
                    "prefix /{} differs from external subnet {:?}'s /{}",
                    net.prefix_len(),
                    ext.name,
                    ext_net.prefix_len()
                ),
            ));
        }
        if ext_gw == Some(IpAddr::V4(net.addr())) {
            return Err(no(field, format!("{} is the gateway of external subnet {:?}", net.addr(), ext.name)));
        }
        if !e.gateway.trim().is_empty() {
            let gw = ipv4(kind, name, &format!("eips[{i}].gateway"), &e.gateway)?;
            if ext_gw != Some(IpAddr::V4(gw)) {
                let why = format!("{gw} is not external subnet {:?}'s gateway ({ext_gw:?})", ext.name);
                return Err(no(format!("eips[{i}].gateway"), why));
            }
        }
        if out.eips.contains(&net.addr()) {
            return Err(no(field, format!("{} is listed twice", net.addr())));
        }
        out.eips.push(net.addr());
    }
    let eip = |field: String, s: &str, eips: &[Ipv4Addr]| -> Result<Ipv4Addr, Rejection> {
        let a = ipv4(kind, name, &field, s)?;
        match eips.contains(&a) {
            true => Ok(a),
            false => Err(no(field, format!("{a} is none of the inline eips"))),
        }
    };
    for (i, f) in spec.floating_ip_rules.iter().enumerate() {
        let e = eip(format!("floatingIpRules[{i}].eip"), &f.eip, &out.eips)?;
        let internal = ipv4(kind, name, &format!("floatingIpRules[{i}].internalIp"), &f.internal_ip)?;
        out.fips.push((e, internal));
    }
    for (i, d) in spec.dnat_rules.iter().enumerate() {
        let f = |k: &str| format!("dnatRules[{i}].{k}");
        let e = eip(f("eip"), &d.eip, &out.eips)?;
        let external_port = d.external_port.parse().map_err(|why| no(f("externalPort"), why))?;
        let internal_port = d.internal_port.parse().map_err(|why| no(f("internalPort"), why))?;
        let protocol = match d.protocol.to_ascii_lowercase().as_str() {
            "" | "tcp" => "tcp",
            "udp" => "udp",
            other => return Err(no(f("protocol"), format!("{other:?} is neither tcp nor udp"))),
        };
        let internal_ip = ipv4(kind, name, &f("internalIp"), &d.internal_ip)?;
        out.dnats.push(InlineDnatRule { eip: e, external_port, protocol: protocol.into(), internal_ip, internal_port });
    }
    for (i, s) in spec.snat_rules.iter().enumerate() {
        let e = eip(format!("snatRules[{i}].eip"), &s.eip, &out.eips)?;
        let text = s.internal_cidr.trim();
        let with_prefix = if text.contains('/') { text.to_string() } else { format!("{text}/32") };
        let field = format!("snatRules[{i}].internalCIDR");
        let cidr = match crate::model::validate::parse_cidr(&with_prefix) {
            Ok(IpNet::V4(n)) => n,
            Ok(IpNet::V6(_)) => return Err(no(field, format!("{text} is IPv6; the iptables gateway is IPv4-only"))),
            Err(why) => return Err(no(field, why)),
        };
        out.snats.push((e, cidr));
    }
    // The same conflicts as between the separate kinds.
    for (i, (e, _)) in out.fips.iter().enumerate() {
        if out.fips[..i].iter().any(|(f, _)| f == e) {
            return Err(no(format!("floatingIpRules[{i}].eip"), format!("{e} is the FIP of an earlier rule")));
        }
        if out.dnats.iter().any(|d| d.eip == *e) {
            return Err(no(
                format!("floatingIpRules[{i}].eip"),
                format!("{e} is used by dnatRules; a FIP needs its EIP alone"),
            ));
        }
    }
    for (i, d) in out.dnats.iter().enumerate() {
        let same =
            |o: &InlineDnatRule| o.eip == d.eip && o.external_port == d.external_port && o.protocol == d.protocol;
        if out.dnats[..i].iter().any(same) {
            let why = format!("{}/{} of {} is used by an earlier rule", d.external_port, d.protocol, d.eip);
            return Err(no(format!("dnatRules[{i}].externalPort"), why));
        }
    }
    Ok(out)
}
