//! A pod's Logical_Switch_Port, in Kube-OVN's shape: name
//! `<pod>.<namespace>`, `addresses` and `port_security` both
//! `"<mac> <ip> [<ip6>]"`, `external_ids` `pod=<namespace>/<pod>` (Kube-OVN's
//! key and value), `ns`, `ls` and the daemon's vendor, owner and id tags;
//! attached to the subnet's switch (`ports`). Pure.
//!
//! Unlike Kube-OVN, `port_security` is always set (Kube-OVN sets it only
//! for pods annotated `ovn.kubernetes.io/port_security=true`): a tenant pod
//! may only send from its own MAC and IPs.
//!
//! The owner is `Pod/<namespace>/<name>`, so that a pod's port is diffed
//! and deleted with the pod, independently of its subnet.

use std::net::IpAddr;

use super::desired::{col, ext, owner, DesiredRow, ParentRef};
use crate::ipam::{parse_mac, PodPort};
use crate::ovsdb::{Atom, Row, Value};

/// Kube-OVN's port name for a pod (`ovs.PodNameToPortName` without a provider).
pub fn port_name(pod: &str, namespace: &str) -> String {
    format!("{pod}.{namespace}")
}

/// The pod's switch port row.
pub fn pod_rows(port: &PodPort) -> DesiredRow {
    let name = port_name(&port.pod, &port.namespace);
    let id = format!("lsp:{name}");
    let o = owner("Pod", &port.key);
    let mut address = port.mac.clone();
    for ip in &port.ips {
        address.push(' ');
        address.push_str(&ip.to_string());
    }
    DesiredRow {
        table: "Logical_Switch_Port",
        id: id.clone(),
        owner: o.clone(),
        columns: Row::from([
            col("name", Value::string(&name)),
            col("addresses", Value::set([Atom::from(address.as_str())])),
            col("port_security", Value::set([Atom::from(address.as_str())])),
            col("external_ids", ext(&o, &id, &[("pod", &port.key), ("ns", &port.namespace), ("ls", &port.subnet)])),
        ]),
        parent: Some(ParentRef {
            table: "Logical_Switch",
            id: format!("ls:{}", port.subnet),
            owner: owner("Subnet", &port.subnet),
            column: "ports",
        }),
    }
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

    fn port(ips: &[&str]) -> PodPort {
        PodPort {
            key: "ns1/web-0".into(),
            pod: "web-0".into(),
            namespace: "ns1".into(),
            subnet: "net1".into(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            mac: "0a:12:34:56:78:9a".into(),
        }
    }

    fn ext_of(r: &DesiredRow) -> Vec<(&str, &str)> {
        let mut v: Vec<_> = r.columns["external_ids"].str_pairs().collect();
        v.sort();
        v
    }

    #[test]
    fn single_stack_row() {
        let r = pod_rows(&port(&["10.0.1.2"]));
        assert_eq!(r.table, "Logical_Switch_Port");
        assert_eq!(r.id, "lsp:web-0.ns1");
        assert_eq!(r.owner, "Pod/ns1/web-0");
        let cols: Vec<&str> = r.columns.keys().map(String::as_str).collect();
        assert_eq!(cols, ["addresses", "external_ids", "name", "port_security"]);
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
    fn dual_stack_row() {
        let r = pod_rows(&port(&["10.0.1.2", "fd00::2"]));
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
        let ls = desired_rows(&m).into_iter().find(|r| r.table == "Logical_Switch").unwrap();
        let p = pod_rows(&port(&["10.0.1.2"])).parent.unwrap();
        assert_eq!((p.table, p.id.as_str(), p.owner.as_str()), (ls.table, ls.id.as_str(), ls.owner.as_str()));
    }

    #[test]
    fn addresses_round_trip() {
        let r = pod_rows(&port(&["10.0.1.2", "fd00::2"]));
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
