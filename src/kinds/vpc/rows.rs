//! A VPC's NB rows, in Kube-OVN's shapes: its Logical_Router (named as
//! the VPC), one Logical_Router_Static_Route per static route and next hop
//! (several next hops for one prefix: ECMP), one Logical_Router_Policy per
//! policy route. Owner `Vpc/<name>`. Pure.

use std::net::IpAddr;

use crate::model::object::ObjectKey;
use crate::model::validate::Vpc;
use crate::model::{PolicyAction, RoutePolicy};
use crate::nb::rows::{col, ext, policy_id, route_id, router_id, router_parent, strs, DesiredRow};
use crate::ovsdb::{Row, Value};

/// The VPC's rows, appended to `out`.
pub fn vpc_rows(vpc: &Vpc, out: &mut Vec<DesiredRow>) {
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
