//! A validated subnet ([`Subnet`]) and one subnet's own rules: its CIDRs,
//! gateway, excluded ranges, provider and DHCP options, each refusal naming
//! its field. The NB is consulted for one rule only: a subnet whose switch
//! still holds ports may not become an attachment network (that would
//! delete the switch under its pods).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::dhcp;
use crate::model::names::NbState;
use crate::model::object::Kind;
use crate::model::validate::{check_name, first_host, overlaps, parse_cidr, parse_ip, reject, Rejection};
use crate::model::{Protocol, SubnetSpec};

/// Where the subnet's addresses live.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Provider {
    /// An OVN logical switch (`""` or `"ovn"`).
    Ovn,
    /// An attachment network `<nad>.<namespace>` (address management only).
    Attachment,
}

/// A validated subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub name: String,
    /// One network per family, IPv4 first.
    pub cidrs: Vec<IpNet>,
    /// One gateway per CIDR, same order.
    pub gateways: Vec<IpAddr>,
    /// Inclusive ranges, each within one CIDR.
    pub excludes: Vec<(IpAddr, IpAddr)>,
    /// Empty or "ovn": an OVN logical switch. Else an attachment network
    /// (IP management only, no switch).
    pub is_ovn: bool,
    pub dhcp_v4_options: BTreeMap<String, String>,
    pub dhcp_v6_options: BTreeMap<String, String>,
    pub spec: SubnetSpec,
}

/// `provider`: `ovn` (or empty), or `<nad>.<namespace>` naming a
/// NetworkAttachmentDefinition, as Kube-OVN spells them.
fn provider(p: &str) -> Result<Provider, String> {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && l.as_bytes()[0].is_ascii_alphanumeric()
            && l.as_bytes()[l.len() - 1].is_ascii_alphanumeric()
    };
    if p.is_empty() || p == "ovn" {
        return Ok(Provider::Ovn);
    }
    let hint = if p.eq_ignore_ascii_case("ovn") { "; did you mean \"ovn\"?" } else { "" };
    match p.split('.').collect::<Vec<_>>()[..] {
        [nad, ns] if label(nad) && label(ns) => Ok(Provider::Attachment),
        [nad, ns, "ovn"] if label(nad) && label(ns) => {
            Err(format!("{p:?}: an attachment on an OVN switch (<nad>.<namespace>.ovn) is not supported by ovn-vpcd"))
        }
        _ => Err(format!(
            "{p:?} is neither \"ovn\" nor \"<nad>.<namespace>\" naming a NetworkAttachmentDefinition{hint}"
        )),
    }
}

/// Address ranges no tenant subnet may use, with what they are.
fn reserved(c: &IpNet) -> Option<&'static str> {
    const V4: &[(&str, &str)] = &[
        ("0.0.0.0/8", "\"this network\" (0.0.0.0/8)"),
        ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
        ("169.254.0.0/16", "link-local (169.254.0.0/16, used by OVN's DHCP server)"),
        ("224.0.0.0/4", "multicast (224.0.0.0/4)"),
        ("240.0.0.0/4", "reserved (240.0.0.0/4)"),
    ];
    const V6: &[(&str, &str)] = &[
        ("::/128", "the unspecified address (::)"),
        ("::1/128", "loopback (::1)"),
        ("::ffff:0:0/96", "IPv4-mapped addresses (::ffff:0:0/96), never used on the wire"),
        ("100::/64", "discard-only (100::/64)"),
        ("fe80::/10", "link-local (fe80::/10)"),
        ("ff00::/8", "multicast (ff00::/8)"),
    ];
    let table = if c.addr().is_ipv4() { V4 } else { V6 };
    table.iter().find(|(r, _)| overlaps(&[*c], &[r.parse().expect("constant")])).map(|(_, what)| *what)
}

pub(crate) fn check_subnet(name: &str, spec: &SubnetSpec, nb: &NbState) -> Result<Subnet, Rejection> {
    check_name(Kind::Subnet, name)?;
    let bad = |field: &str, reason: String| reject(Kind::Subnet, name, field, reason);
    let mut cidrs =
        spec.cidr_block.split(',').map(parse_cidr).collect::<Result<Vec<_>, _>>().map_err(|e| bad("cidrBlock", e))?;
    cidrs.sort_by_key(|c| c.addr().is_ipv6());
    let v4 = cidrs.iter().filter(|c| c.addr().is_ipv4()).count();
    let v6 = cidrs.len() - v4;
    if v4 > 1 || v6 > 1 {
        return Err(bad("cidrBlock", "at most one IPv4 and one IPv6 CIDR (dual stack: \"v4,v6\")".into()));
    }
    for c in &cidrs {
        if let Some(what) = reserved(c) {
            return Err(bad("cidrBlock", format!("{c} overlaps {what}")));
        }
        let max = if c.addr().is_ipv4() { 30 } else { 126 };
        if c.prefix_len() > max {
            return Err(bad(
                "cidrBlock",
                format!("{c} is too small: a subnet needs room for a gateway and a host (at most /{max})"),
            ));
        }
    }
    let family = match (v4, v6) {
        (1, 1) => Protocol::Dual,
        (1, 0) => Protocol::IPv4,
        _ => Protocol::IPv6,
    };
    if let Some(p) = spec.protocol {
        if p != family {
            return Err(bad("protocol", format!("{p:?} does not match cidrBlock {:?} ({family:?})", spec.cidr_block)));
        }
    }
    let gateways = if spec.gateway.trim().is_empty() {
        cidrs.iter().map(first_host).collect()
    } else {
        let mut gws =
            spec.gateway.split(',').map(parse_ip).collect::<Result<Vec<_>, _>>().map_err(|e| bad("gateway", e))?;
        gws.sort_by_key(|g| g.is_ipv6());
        if gws.len() != cidrs.len() {
            return Err(bad("gateway", format!("needs one address per CIDR of {:?}", spec.cidr_block)));
        }
        for (g, c) in gws.iter().zip(&cidrs) {
            if !c.contains(g) || *g == c.network() || (c.addr().is_ipv4() && *g == c.broadcast()) {
                return Err(bad("gateway", format!("{g} is not a host address of {c}")));
            }
        }
        gws
    };
    let mut excludes = vec![];
    for (i, e) in spec.exclude_ips.iter().enumerate() {
        let field = format!("excludeIps[{i}]");
        let (a, b) = match e.split_once("..") {
            Some((a, b)) => (parse_ip(a).map_err(|r| bad(&field, r))?, parse_ip(b).map_err(|r| bad(&field, r))?),
            None => {
                let ip = parse_ip(e).map_err(|r| bad(&field, r))?;
                (ip, ip)
            }
        };
        if a.is_ipv4() != b.is_ipv4() || a > b {
            return Err(bad(&field, format!("{e:?} is not a range a..b with a <= b of one family")));
        }
        if !cidrs.iter().any(|c| c.contains(&a) && c.contains(&b)) {
            return Err(bad(&field, format!("{e:?} is not inside {:?}", spec.cidr_block)));
        }
        excludes.push((a, b));
    }
    let is_ovn = provider(&spec.provider).map_err(|e| bad("provider", e))? == Provider::Ovn;
    if !is_ovn && nb.switch_ports(name) > 0 {
        return Err(bad(
            "provider",
            format!(
                "{:?} would make this an attachment network and delete switch {name:?}, which still has {} \
                 pod port(s); move or delete those pods first",
                spec.provider,
                nb.switch_ports(name)
            ),
        ));
    }
    if is_ovn && spec.vpc.is_empty() {
        return Err(bad("vpc", "an OVN subnet must name its VPC".into()));
    }
    if !matches!(spec.gateway_type.as_str(), "" | "distributed" | "centralized") {
        return Err(bad("gatewayType", format!("{:?} is not distributed or centralized", spec.gateway_type)));
    }
    let v4_net = cidrs.iter().find(|c| c.addr().is_ipv4());
    let dhcp_v4_options = dhcp::v4_options(&spec.dhcp_v4_options, v4_net).map_err(|r| bad("dhcpV4Options", r))?;
    let dhcp_v6_options = dhcp::v6_options(&spec.dhcp_v6_options).map_err(|r| bad("dhcpV6Options", r))?;
    Ok(Subnet {
        name: name.into(),
        cidrs,
        gateways,
        excludes,
        is_ovn,
        dhcp_v4_options,
        dhcp_v6_options,
        spec: spec.clone(),
    })
}

/// The addresses a next hop may not be: a subnet's network address and,
/// for IPv4, its broadcast address.
pub(crate) fn is_edge_address(c: &IpNet, ip: &IpAddr) -> bool {
    *ip == c.network() || (c.addr().is_ipv4() && *ip == c.broadcast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_ovn_or_a_nad() {
        assert_eq!(provider(""), Ok(Provider::Ovn));
        assert_eq!(provider("ovn"), Ok(Provider::Ovn));
        assert_eq!(provider("ovn-vpc-external-network.kube-system"), Ok(Provider::Attachment));
        assert!(provider("OVN").unwrap_err().contains("did you mean \"ovn\"?"));
        assert!(provider("macvlan").is_err());
        assert!(provider("a.b.c").is_err());
        assert!(provider("a.b.ovn").unwrap_err().contains("not supported"));
        assert!(provider("A.b").is_err());
    }
}
