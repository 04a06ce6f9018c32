//! Validated model → the NB rows ovn-vpcd wants, in Kube-OVN's shapes:
//! a Logical_Router per VPC; per subnet a Logical_Switch, a router port
//! `<vpc>-<subnet>` and a switch port `<subnet>-<vpc>` of type router;
//! static routes and policies on the router; DHCP_Options when enabled.
//! Pure: no I/O, deterministic output.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::pod_rows::pod_rows;
use super::Scope;
use crate::model::derived::Derived;
use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::{Model, Subnet, Vpc};
use crate::model::{PolicyAction, RoutePolicy};
use crate::nb::rows::{
    col, dhcp_id, ext, policy_id, route_id, router_id, router_parent, router_port_id, stable_mac, strs, switch_id,
    switch_parent, switch_port_id, DesiredRow,
};
use crate::ovsdb::{Row, Value};

pub use crate::model::names::{router_port_name, switch_port_name};
use crate::model::validate::subnet_policy_match;
pub use crate::model::validate::SUBNET_POLICY_PRIORITY;
/// DHCP `mtu` default: 1500 less Geneve's 100, as Kube-OVN.
pub const DEFAULT_MTU: u32 = 1400;

/// All desired rows, sorted by (table, id).
pub fn desired_rows(model: &Model, derived: &Derived) -> Vec<DesiredRow> {
    desired_rows_in(model, derived, &Scope::All)
}

/// The desired rows of the objects in `scope`, sorted by (table, id). Each
/// object's rows depend on that object alone.
pub fn desired_rows_in(model: &Model, derived: &Derived, scope: &Scope) -> Vec<DesiredRow> {
    let mut rows = vec![];
    match scope {
        Scope::All => {
            model.vpcs.values().for_each(|v| vpc_rows(v, &mut rows));
            model.subnets.values().filter(|s| s.is_ovn).for_each(|s| subnet_rows(s, &mut rows));
            rows.extend(derived.pods.values().map(|p| pod_rows(p, model.subnets.get(&p.subnet))));
        }
        Scope::Owners(owners) => {
            for o in owners {
                match o.kind {
                    Kind::Vpc => model.vpcs.get(&o.name).into_iter().for_each(|v| vpc_rows(v, &mut rows)),
                    Kind::Subnet => model
                        .subnets
                        .get(&o.name)
                        .filter(|s| s.is_ovn)
                        .into_iter()
                        .for_each(|s| subnet_rows(s, &mut rows)),
                    Kind::Pod => rows.extend(
                        derived.pods.get(&o.qualified_name()).map(|p| pod_rows(p, model.subnets.get(&p.subnet))),
                    ),
                }
            }
        }
    }
    rows.sort_by(|a, b| (a.table, &a.id).cmp(&(b.table, &b.id)));
    rows
}

fn vpc_rows(vpc: &Vpc, out: &mut Vec<DesiredRow>) {
    let o = ObjectKey::vpc(&vpc.name).owner_tag();
    let lr = router_id(&vpc.name);
    out.push(DesiredRow {
        table: "Logical_Router",
        id: lr.clone(),
        owner: o.clone(),
        columns: Row::from([
            col("name", Value::string(&vpc.name)),
            col("external_ids", ext(&o, &lr, &[("vpc", &vpc.name)])),
        ]),
        parent: None,
        refs: vec![],
    });
    let parent = |column| router_parent(&vpc.name, column);
    // Several next hops for one prefix become several routes: ECMP.
    for r in &vpc.spec.static_routes {
        let policy = match r.policy {
            RoutePolicy::Dst => "dst-ip",
            RoutePolicy::Src => "src-ip",
        };
        let prefix = normalize_prefix(&r.cidr);
        let id = route_id(&vpc.name, &r.route_table, policy, &prefix, &r.next_hop_ip);
        out.push(DesiredRow {
            table: "Logical_Router_Static_Route",
            id: id.clone(),
            owner: o.clone(),
            columns: Row::from([
                col("ip_prefix", Value::string(prefix)),
                col("nexthop", Value::string(&r.next_hop_ip)),
                col("policy", Value::string(policy)),
                col("route_table", Value::string(&r.route_table)),
                col("external_ids", ext(&o, &id, &[("vpc", &vpc.name)])),
            ]),
            parent: parent("static_routes"),
            refs: vec![],
        });
    }
    for p in &vpc.spec.policy_routes {
        let id = policy_id(&vpc.name, p.priority, &p.match_);
        let (action, hops): (&str, Vec<&str>) = match p.action {
            PolicyAction::Allow => ("allow", vec![]),
            PolicyAction::Drop => ("drop", vec![]),
            PolicyAction::Reroute => ("reroute", p.next_hop_ip.split(',').map(str::trim).collect()),
        };
        out.push(DesiredRow {
            table: "Logical_Router_Policy",
            id: id.clone(),
            owner: o.clone(),
            columns: Row::from([
                col("priority", Value::atom(p.priority)),
                col("match", Value::string(&p.match_)),
                col("action", Value::string(action)),
                col("nexthops", strs(hops)),
                col("external_ids", ext(&o, &id, &[("vpc", &vpc.name)])),
            ]),
            parent: parent("policies"),
            refs: vec![],
        });
    }
}

/// `0.0.0.0/0` stays; a bare address becomes a host prefix as OVN prints it.
fn normalize_prefix(cidr: &str) -> String {
    match cidr.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => cidr.to_string(),
    }
}

fn subnet_rows(s: &Subnet, out: &mut Vec<DesiredRow>) {
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
            ipnet::IpNet::V4(n) => {
                other_config.insert("subnet", n.to_string());
                v4_excludes.push(g.to_string());
            }
            ipnet::IpNet::V6(n) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_stable_and_distinct() {
        assert_eq!(stable_mac("vpc1-net1"), stable_mac("vpc1-net1"));
        assert_ne!(stable_mac("vpc1-net1"), stable_mac("vpc1-net2"));
        assert!(stable_mac("x").starts_with("0a:00:00:"));
    }
}
