//! A pod's Logical_Switch_Port, in Kube-OVN's shape: name
//! `<pod>.<namespace>`, `addresses` and `port_security` both
//! `"<mac> <ip> [<ip6>]"`, `external_ids` `pod=<namespace>/<pod>` (Kube-OVN's
//! key and value), `ns`, `ls` and the daemon's vendor, owner and id tags;
//! attached to the subnet's switch (`ports`). Pure.
//!
//! Unlike Kube-OVN, `port_security` is set by default (Kube-OVN sets it only
//! for pods annotated `ovn.kubernetes.io/port_security=true`): a tenant pod
//! may only send from its own MAC and IPs. A pod annotated
//! `ovn.kubernetes.io/port_security: "false"` gets none (`[]`): OVN then
//! delivers to it traffic for other addresses, so it can be the next hop
//! of a static route or a reroute policy (a router, a gateway, an
//! appliance), as every Kube-OVN pod can by default.
//!
//! The owner is `Pod/<namespace>/<name>`, so that a pod's port is diffed
//! and deleted with the pod, independently of its subnet.

use std::net::IpAddr;

use crate::ipam::{parse_mac, PodPort};
use crate::model::object::ObjectKey;
use crate::model::validate::Subnet;
use crate::nb::rows::{col, dhcp_ref, ext, switch_parent, switch_port_id, DesiredRow, RowRef, DHCP_COLUMNS};
use crate::ovsdb::{Atom, Row, Value};

pub use crate::model::names::pod_port_name as port_name;

/// The pod's switch port row. With DHCP on its subnet, the port points at
/// the subnet's DHCP_Options rows (`dhcpv4_options` / `dhcpv6_options`), as
/// Kube-OVN's; otherwise those columns are kept empty.
pub fn pod_rows(port: &PodPort, subnet: Option<&Subnet>) -> DesiredRow {
    let name = port_name(&port.pod, &port.namespace);
    let id = switch_port_id(&name);
    let o = ObjectKey::pod(&port.key).owner_tag();
    let mut address = port.mac.clone();
    for ip in &port.ips {
        address.push(' ');
        address.push_str(&ip.to_string());
    }
    let refs = dhcp_refs(subnet);
    let mut row = DesiredRow {
        table: "Logical_Switch_Port",
        id: id.clone(),
        owner: o.clone(),
        columns: Row::from([
            col("name", Value::string(&name)),
            col("addresses", Value::set([Atom::from(address.as_str())])),
            col(
                "port_security",
                match port.port_security {
                    true => Value::set([Atom::from(address.as_str())]),
                    false => Value::empty_set(),
                },
            ),
            col("external_ids", ext(&o, &id, &[("pod", &port.key), ("ns", &port.namespace), ("ls", &port.subnet)])),
        ]),
        parent: switch_parent(&port.subnet),
        refs,
    };
    for (column, _) in DHCP_COLUMNS {
        if !row.refs.iter().any(|r| r.column == column) {
            row.columns.insert(column.to_string(), Value::empty_set());
        }
    }
    row
}

/// The DHCP_Options rows a port of `subnet` points at.
fn dhcp_refs(subnet: Option<&Subnet>) -> Vec<RowRef> {
    let Some(s) = subnet.filter(|s| s.spec.enable_dhcp) else { return vec![] };
    let has = |v6: bool| s.cidrs.iter().any(|c| c.addr().is_ipv6() == v6);
    DHCP_COLUMNS.iter().filter(|(_, v6)| has(*v6)).map(|(column, v6)| dhcp_ref(column, *v6, &s.name)).collect()
}

/// `(mac, ips)` from one `addresses` entry `"<mac> <ip> [<ip6>]"` of a
/// port, for restoring the IPAM from the northbound database; `None` for
/// anything else (`router`, `unknown`, `dynamic`, a MAC alone, junk).
pub fn parse_addresses(entry: &str) -> Option<(String, Vec<IpAddr>)> {
    let mut words = entry.split_whitespace();
    let mac = parse_mac(words.next()?).ok()?;
    let ips = words.map(|w| w.parse::<IpAddr>().ok()).collect::<Option<Vec<_>>>()?;
    if ips.is_empty() {
        return None;
    }
    Some((mac, ips))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb::rows::ParentRef;

    fn port(ips: &[&str]) -> PodPort {
        PodPort {
            key: "ns1/web-0".into(),
            pod: "web-0".into(),
            namespace: "ns1".into(),
            subnet: "net1".into(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            mac: "0a:12:34:56:78:9a".into(),
            port_security: true,
        }
    }

    fn ext_of(r: &DesiredRow) -> Vec<(&str, &str)> {
        let mut v: Vec<_> = r.columns["external_ids"].str_pairs().collect();
        v.sort();
        v
    }

    #[test]
    fn single_stack_row() {
        let r = pod_rows(&port(&["10.0.1.2"]), None);
        assert_eq!(r.table, "Logical_Switch_Port");
        assert_eq!(r.id, "lsp:web-0.ns1");
        assert_eq!(r.owner, "Pod/ns1/web-0");
        let cols: Vec<&str> = r.columns.keys().map(String::as_str).collect();
        assert_eq!(cols, ["addresses", "dhcpv4_options", "dhcpv6_options", "external_ids", "name", "port_security"]);
        assert_eq!(r.columns["dhcpv4_options"], Value::empty_set(), "no DHCP on the subnet: kept empty");
        assert!(r.refs.is_empty());
        assert_eq!(r.columns["name"], Value::string("web-0.ns1"));
        assert_eq!(r.columns["addresses"], Value::string("0a:12:34:56:78:9a 10.0.1.2"));
        assert_eq!(r.columns["port_security"], Value::string("0a:12:34:56:78:9a 10.0.1.2"));
        assert_eq!(
            ext_of(&r),
            [
                ("ls", "net1"),
                ("ns", "ns1"),
                ("ovn-vpcd/id", "lsp:web-0.ns1"),
                ("ovn-vpcd/owner", "Pod/ns1/web-0"),
                ("pod", "ns1/web-0"),
                ("vendor", "ovn-vpcd"),
            ]
        );
        assert_eq!(
            r.parent,
            Some(ParentRef {
                table: "Logical_Switch",
                id: "ls:net1".into(),
                owner: "Subnet/net1".into(),
                column: "ports"
            })
        );
    }

    #[test]
    fn a_pod_that_forwards_has_no_port_security() {
        let r = pod_rows(&PodPort { port_security: false, ..port(&["10.0.1.2"]) }, None);
        assert_eq!(r.columns["addresses"], Value::string("0a:12:34:56:78:9a 10.0.1.2"));
        assert_eq!(r.columns["port_security"], Value::empty_set());
    }

    #[test]
    fn dual_stack_row() {
        let r = pod_rows(&port(&["10.0.1.2", "fd00::2"]), None);
        let want = Value::string("0a:12:34:56:78:9a 10.0.1.2 fd00::2");
        assert_eq!(r.columns["addresses"], want);
        assert_eq!(r.columns["port_security"], want);
    }

    #[test]
    fn parent_matches_the_subnet_switch_row() {
        use crate::model::validate::validate;
        use crate::model::{SubnetSpec, VpcSpec};
        use crate::reconcile::desired::desired_rows;
        let spec = SubnetSpec { cidr_block: "10.0.1.0/24".into(), vpc: "v".into(), ..Default::default() };
        let (m, rej) = validate(&[("v".into(), VpcSpec::default())], &[("net1".into(), spec)]);
        assert!(rej.is_empty());
        let ls = desired_rows(&m, &Default::default()).into_iter().find(|r| r.table == "Logical_Switch").unwrap();
        let p = pod_rows(&port(&["10.0.1.2"]), None).parent.unwrap();
        assert_eq!((p.table, p.id.as_str(), p.owner.as_str()), (ls.table, ls.id.as_str(), ls.owner.as_str()));
    }

    #[test]
    fn ports_of_a_dhcp_subnet_point_at_its_options() {
        use crate::model::validate::validate;
        use crate::model::{SubnetSpec, VpcSpec};
        use crate::reconcile::desired::desired_rows;
        let spec = SubnetSpec {
            cidr_block: "10.0.1.0/24,fd00::/64".into(),
            vpc: "v".into(),
            enable_dhcp: true,
            ..Default::default()
        };
        let (m, rej) = validate(&[("v".into(), VpcSpec::default())], &[("net1".into(), spec)]);
        assert!(rej.is_empty(), "{rej:?}");
        let r = pod_rows(&port(&["10.0.1.2", "fd00::2"]), m.subnets.get("net1"));
        let refs: Vec<(&str, &str, &str)> = r.refs.iter().map(|r| (r.column, r.table, r.id.as_str())).collect();
        assert_eq!(
            refs,
            [("dhcpv4_options", "DHCP_Options", "dhcp4:net1"), ("dhcpv6_options", "DHCP_Options", "dhcp6:net1")]
        );
        assert!(!r.columns.contains_key("dhcpv4_options"), "a reference, not a plain column");
        // The ids are those of the subnet's DHCP_Options rows.
        let dhcp: Vec<String> = desired_rows(&m, &Default::default())
            .into_iter()
            .filter(|r| r.table == "DHCP_Options")
            .map(|r| r.id)
            .collect();
        assert_eq!(dhcp, ["dhcp4:net1", "dhcp6:net1"]);
    }

    #[test]
    fn addresses_round_trip() {
        let r = pod_rows(&port(&["10.0.1.2", "fd00::2"]), None);
        let entry = r.columns["addresses"].as_str().unwrap();
        let (mac, ips) = parse_addresses(entry).unwrap();
        assert_eq!(mac, "0a:12:34:56:78:9a");
        assert_eq!(ips, port(&["10.0.1.2", "fd00::2"]).ips);
        for other in ["router", "unknown", "dynamic", "0a:12:34:56:78:9a", "0a:12:34:56:78:9a nonsense", ""] {
            assert_eq!(parse_addresses(other), None, "{other:?}");
        }
        assert_eq!(
            parse_addresses("0A:12:34:56:78:9A 10.0.0.5"),
            Some(("0a:12:34:56:78:9a".into(), vec!["10.0.0.5".parse().unwrap()]))
        );
    }
}
