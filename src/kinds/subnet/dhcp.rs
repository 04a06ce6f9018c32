//! `dhcpV4Options` / `dhcpV6Options`: Kube-OVN's `k=v,k=v` strings, each
//! key one of the options ovn-nb(5) documents for `DHCP_Options` (OVN
//! 23.03) and each value of the type that option takes. OVN ignores an
//! option it does not know and fails on a value it cannot parse (the flow
//! that serves DHCP is then dropped), so both are refused here.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The type of an option's value, as OVN's action parser reads it.
#[derive(Clone, Copy, Debug)]
enum Ty {
    Ipv4,
    /// One IPv4 address or `{a, b, ...}`.
    Ipv4List,
    Ipv6List,
    Uint(u64),
    Bool,
    /// A double-quoted string.
    Str,
    Mac,
    /// `{cidr, next hop, cidr, next hop, ...}`.
    StaticRoutes,
    /// An address or a quoted host name.
    Host,
}

const V4: &[(&str, Ty)] = &[
    ("arp_cache_timeout", Ty::Uint(u32::MAX as u64)),
    ("bootfile_name", Ty::Str),
    ("bootfile_name_alt", Ty::Str),
    ("broadcast_address", Ty::Ipv4),
    ("classless_static_route", Ty::StaticRoutes),
    ("default_ttl", Ty::Uint(255)),
    ("dns_server", Ty::Ipv4List),
    ("domain_name", Ty::Str),
    ("domain_search_list", Ty::Str),
    ("ethernet_encap", Ty::Bool),
    ("hostname", Ty::Str),
    ("ip_forward_enable", Ty::Bool),
    ("lease_time", Ty::Uint(u32::MAX as u64)),
    ("log_server", Ty::Ipv4List),
    ("lpr_server", Ty::Ipv4List),
    ("ms_classless_static_route", Ty::StaticRoutes),
    ("mtu", Ty::Uint(65535)),
    ("netbios_name_server", Ty::Ipv4List),
    ("netbios_node_type", Ty::Uint(255)),
    ("netmask", Ty::Ipv4),
    ("next_server", Ty::Ipv4),
    ("nis_server", Ty::Ipv4List),
    ("ntp_server", Ty::Ipv4List),
    ("path_prefix", Ty::Str),
    ("policy_filter", Ty::Ipv4List),
    ("router", Ty::Ipv4),
    ("router_discovery", Ty::Bool),
    ("router_solicitation", Ty::Ipv4),
    ("server_id", Ty::Ipv4),
    ("server_mac", Ty::Mac),
    ("swap_server", Ty::Ipv4),
    ("T1", Ty::Uint(u32::MAX as u64)),
    ("T2", Ty::Uint(u32::MAX as u64)),
    ("tcp_keepalive_interval", Ty::Uint(u32::MAX as u64)),
    ("tcp_ttl", Ty::Uint(255)),
    ("tftp_server", Ty::Host),
    ("tftp_server_address", Ty::Ipv4),
    ("wpad", Ty::Str),
];

const V6: &[(&str, Ty)] =
    &[("dhcpv6_stateless", Ty::Bool), ("dns_server", Ty::Ipv6List), ("domain_search", Ty::Str), ("server_id", Ty::Mac)];

fn list<T: std::str::FromStr>(v: &str) -> bool {
    let inner = v.strip_prefix('{').and_then(|v| v.strip_suffix('}')).unwrap_or(v);
    let items: Vec<&str> = inner.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()).collect();
    !items.is_empty() && items.iter().all(|p| p.parse::<T>().is_ok())
}

fn quoted(v: &str) -> bool {
    v.len() >= 2 && v.starts_with('"') && v.ends_with('"') && !v[1..v.len() - 1].contains('"')
}

fn check(ty: Ty, v: &str) -> Result<(), String> {
    let ok = match ty {
        Ty::Ipv4 => v.parse::<Ipv4Addr>().is_ok(),
        Ty::Ipv4List => list::<Ipv4Addr>(v),
        Ty::Ipv6List => list::<Ipv6Addr>(v),
        Ty::Uint(max) => v.parse::<u64>().is_ok_and(|n| n <= max),
        Ty::Bool => matches!(v, "0" | "1" | "true" | "false"),
        Ty::Str => quoted(v),
        Ty::Mac => crate::mac::parse_mac(v).is_ok(),
        Ty::StaticRoutes => {
            let inner = v.strip_prefix('{').and_then(|v| v.strip_suffix('}')).unwrap_or("");
            let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
            parts.len().is_multiple_of(2)
                && parts.chunks(2).all(|p| p[0].parse::<ipnet::Ipv4Net>().is_ok() && p[1].parse::<Ipv4Addr>().is_ok())
        }
        Ty::Host => v.parse::<Ipv4Addr>().is_ok() || quoted(v),
    };
    if ok {
        return Ok(());
    }
    Err(match ty {
        Ty::Ipv4 => "is not an IPv4 address".into(),
        Ty::Ipv4List => "is not an IPv4 address or a list {a, b}".into(),
        Ty::Ipv6List => "is not an IPv6 address or a list {a, b}".into(),
        Ty::Uint(max) => format!("is not an integer from 0 to {max}"),
        Ty::Bool => "is not 0, 1, true or false".into(),
        Ty::Str => "is not a double-quoted string (OVN reads strings in quotes: key=\"value\")".into(),
        Ty::Mac => "is not a MAC address".into(),
        Ty::StaticRoutes => "is not a list {cidr, next hop, ...}".into(),
        Ty::Host => "is not an IPv4 address or a double-quoted host name".into(),
    })
}

fn options(s: &str, table: &[(&str, Ty)]) -> Result<BTreeMap<String, String>, String> {
    let parsed = crate::model::validate::parse_options(s)?;
    for (k, v) in &parsed {
        let Some((_, ty)) = table.iter().find(|(n, _)| n == k) else {
            let known: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            return Err(format!("{k:?} is not a DHCP option OVN knows (one of {})", known.join(", ")));
        };
        check(*ty, v).map_err(|why| format!("{k}={v:?} {why}"))?;
    }
    Ok(parsed)
}

pub(super) fn v4_options(s: &str, net: Option<&IpNet>) -> Result<BTreeMap<String, String>, String> {
    let parsed = options(s, V4)?;
    if let (Some(r), Some(net)) = (parsed.get("router"), net) {
        let ip: std::net::IpAddr = r.parse::<Ipv4Addr>().expect("checked").into();
        if !net.contains(&ip) {
            return Err(format!("router={r} is not inside {net}"));
        }
    }
    Ok(parsed)
}

pub(super) fn v6_options(s: &str) -> Result<BTreeMap<String, String>, String> {
    options(s, V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_must_be_what_the_option_takes() {
        let net: IpNet = "10.0.1.0/24".parse().unwrap();
        assert!(v4_options("lease_time=3600,router=10.0.1.1,mtu=1400,dns_server={8.8.8.8 1.1.1.1}", Some(&net)).is_ok());
        assert!(v4_options("domain_name=\"example.org\"", Some(&net)).is_ok());
        let e = |s: &str| v4_options(s, Some(&net)).unwrap_err();
        assert!(e("lease_time=forever").contains("not an integer"), "{}", e("lease_time=forever"));
        assert!(e("mtu=70000").contains("from 0 to 65535"));
        assert!(e("router=10.0.2.1").contains("not inside 10.0.1.0/24"));
        assert!(e("router=gateway").contains("not an IPv4 address"));
        assert!(e("domain_name=example.org").contains("double-quoted"));
        assert!(e("lease=3600").contains("not a DHCP option OVN knows"));
        assert!(e("server_mac=00:00:zz:00:00:00").contains("not a MAC"));
        assert!(v6_options("dns_server=fd00::53").is_ok());
        assert!(v6_options("dns_server=8.8.8.8").unwrap_err().contains("IPv6"));
    }
}
