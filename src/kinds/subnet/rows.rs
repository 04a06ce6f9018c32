//! A subnet's NB rows, in Kube-OVN's shapes: its Logical_Switch (named as
//! the subnet, `other_config` `subnet`/`ipv6_prefix`/`exclude_ips`), the
//! router port `<vpc>-<subnet>` on its VPC's router and the switch port
//! `<subnet>-<vpc>` of type router, the automatic allow policy per CIDR on
//! the router, and DHCP_Options per family when DHCP is on. Owner
//! `Subnet/<name>`. Pure.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::model::names::{router_port_name, switch_port_name};
use crate::model::object::ObjectKey;
use crate::model::validate::Subnet;
use crate::nb::rows::{
    col, dhcp_id, ext, policy_id, router_parent, router_port_id, stable_mac, strs, switch_id, switch_parent,
    switch_port_id, DesiredRow,
};
use crate::ovsdb::{Row, Value};

/// Kube-OVN's priority for the per-subnet `allow` policy.
pub const SUBNET_POLICY_PRIORITY: i64 = 31000;

/// The automatic allow policy's match for one subnet network.
pub fn subnet_policy_match(c: &IpNet) -> String {
    let af = if c.addr().is_ipv4() { "ip4" } else { "ip6" };
    format!("{af}.dst == {c}")
}

/// DHCP `mtu` default: 1500 less Geneve's 100, as Kube-OVN.
pub const DEFAULT_MTU: u32 = 1400;

/// The subnet's rows (an OVN subnet's; the caller leaves out the others),
/// appended to `out`.
pub fn subnet_rows(s: &Subnet, out: &mut Vec<DesiredRow>) {
    let o = ObjectKey::subnet(&s.name).owner_tag();
    let vpc = &s.spec.vpc;
    let ls = switch_id(&s.name);
    let lrp_name = router_port_name(vpc, &s.name);
    let lsp_name = switch_port_name(&s.name, vpc);
    let networks: Vec<String> =
        s.gateways.iter().zip(&s.cidrs).map(|(g, c)| format!("{g}/{}", c.prefix_len())).collect();

    let mut other_config: BTreeMap<&str, String> = BTreeMap::new();
    let mut v4_excludes: Vec<String> = vec![];
    for (g, c) in s.gateways.iter().zip(&s.cidrs) {
        match c {
            IpNet::V4(n) => {
                other_config.insert("subnet", n.to_string());
                v4_excludes.push(g.to_string());
            }
            IpNet::V6(n) => {
                other_config.insert("ipv6_prefix", n.network().to_string());
            }
        }
    }
    for (a, b) in s.excludes.iter().filter(|(a, _)| a.is_ipv4()) {
        let e = if a == b { a.to_string() } else { format!("{a}..{b}") };
        // Kube-OVN lists the gateway in excludeIps itself: once is enough.
        if !v4_excludes.contains(&e) {
            v4_excludes.push(e);
        }
    }
    if other_config.contains_key("subnet") {
        other_config.insert("exclude_ips", v4_excludes.join(" "));
    }
    out.push(DesiredRow {
        table: "Logical_Switch",
        id: ls.clone(),
        owner: o.clone(),
        columns: Row::from([
            col("name", Value::string(&s.name)),
            col("other_config", Value::str_map(other_config.iter().map(|(k, v)| (*k, v.as_str())))),
            col("external_ids", ext(&o, &ls, &[("vpc", vpc)])),
        ]),
        parent: None,
        refs: vec![],
    });
    let lrp = router_port_id(&lrp_name);
    let mut lrp_cols = Row::from([
        col("name", Value::string(&lrp_name)),
        col("mac", Value::string(stable_mac(&lrp_name))),
        col("networks", strs(networks.iter().map(String::as_str))),
        col("external_ids", ext(&o, &lrp, &[("lr", vpc)])),
    ]);
    // As Kube-OVN: the prefix *lengths* of the port's IPv6 networks, and its
    // RA defaults. Always listed, so that disabling RA clears them.
    let lens: Vec<String> = s.cidrs.iter().filter(|c| c.addr().is_ipv6()).map(|c| c.prefix_len().to_string()).collect();
    let ra = s.spec.enable_ipv6_ra && !lens.is_empty();
    lrp_cols.insert("ipv6_prefix".into(), if ra { strs(lens.iter().map(String::as_str)) } else { Value::empty_set() });
    lrp_cols.insert(
        "ipv6_ra_configs".into(),
        if ra {
            Value::str_map([
                ("address_mode", "dhcpv6_stateful"),
                ("max_interval", "30"),
                ("min_interval", "5"),
                ("send_periodic", "true"),
            ])
        } else {
            Value::empty_map()
        },
    );
    out.push(DesiredRow {
        table: "Logical_Router_Port",
        id: lrp,
        owner: o.clone(),
        columns: lrp_cols,
        parent: router_parent(vpc, "ports"),
        refs: vec![],
    });
    let lsp = switch_port_id(&lsp_name);
    out.push(DesiredRow {
        table: "Logical_Switch_Port",
        id: lsp.clone(),
        owner: o.clone(),
        columns: Row::from([
            col("name", Value::string(&lsp_name)),
            col("type", Value::string("router")),
            col("addresses", strs(["router"])),
            col("options", Value::str_map([("router-port", lrp_name.as_str())])),
            col("external_ids", ext(&o, &lsp, &[("ls", &s.name)])),
        ]),
        parent: switch_parent(&s.name),
        refs: vec![],
    });
    // As Kube-OVN: traffic to the subnet itself is never rerouted.
    for c in &s.cidrs {
        let m = subnet_policy_match(c);
        let id = policy_id(vpc, SUBNET_POLICY_PRIORITY, &m);
        out.push(DesiredRow {
            table: "Logical_Router_Policy",
            id: id.clone(),
            owner: o.clone(),
            columns: Row::from([
                col("priority", Value::atom(SUBNET_POLICY_PRIORITY)),
                col("match", Value::string(m)),
                col("action", Value::string("allow")),
                col("nexthops", Value::empty_set()),
                col("external_ids", ext(&o, &id, &[("vpc", vpc), ("subnet", &s.name)])),
            ]),
            parent: router_parent(vpc, "policies"),
            refs: vec![],
        });
    }
    if s.spec.enable_dhcp {
        if let Some(v6) = s.cidrs.iter().find(|c| c.addr().is_ipv6()) {
            let id = dhcp_id(true, &s.name);
            let mut opts = BTreeMap::from([("server_id".to_string(), stable_mac(&format!("dhcp6:{}", s.name)))]);
            opts.extend(s.dhcp_v6_options.clone());
            out.push(DesiredRow {
                table: "DHCP_Options",
                id: id.clone(),
                owner: o.clone(),
                columns: Row::from([
                    col("cidr", Value::string(v6.to_string())),
                    col("options", Value::str_map(opts.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
                    col("external_ids", ext(&o, &id, &[("ls", &s.name), ("protocol", "IPv6")])),
                ]),
                parent: None,
                refs: vec![],
            });
        }
        if let Some((v4, gw)) = s.cidrs.iter().zip(&s.gateways).find(|(c, _)| c.addr().is_ipv4()) {
            let id = dhcp_id(false, &s.name);
            // Kube-OVN's defaults; dhcpV4Options entries override them.
            let mut opts: BTreeMap<String, String> = BTreeMap::from([
                ("lease_time".into(), "3600".into()),
                ("router".into(), gw.to_string()),
                ("server_id".into(), "169.254.0.254".into()),
                ("server_mac".into(), stable_mac(&format!("dhcp:{}", s.name))),
                ("mtu".into(), DEFAULT_MTU.to_string()),
            ]);
            opts.extend(s.dhcp_v4_options.clone());
            out.push(DesiredRow {
                table: "DHCP_Options",
                id: id.clone(),
                owner: o.clone(),
                columns: Row::from([
                    col("cidr", Value::string(v4.to_string())),
                    col("options", Value::str_map(opts.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
                    col("external_ids", ext(&o, &id, &[("ls", &s.name), ("protocol", "IPv4")])),
                ]),
                parent: None,
                refs: vec![],
            });
        }
    }
}
