//! EIPs in the IPAM through `PodPorts::update`: fixed and allocated
//! addresses, a pod's attachment refused an EIP's address, the EIP refused
//! an attachment's, restore from `status.ip` before the pods, release when
//! the EIP or its gateway goes, a new `v4ip` that cannot be had keeps the old.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::{json, Value as Json};

use super::super::PodPorts;
use crate::kinds::iptables_eip::spec::IptablesEipSpec;
use crate::kinds::vpc_nat_gateway::rules::tests::{gw, model_with};
use crate::kube::resources::Store;
use crate::model::derived::Derived;
use crate::model::validate::{Model, NatSpecs};
use crate::ovsdb::Cache;

const EXT: &str = "ovn-vpc-external-network.kube-system";

fn eip(v4ip: &str) -> IptablesEipSpec {
    IptablesEipSpec { nat_gw_dp: "natgw".into(), v4ip: v4ip.into(), ..Default::default() }
}

fn model(eips: &[(&str, &str)]) -> Arc<Model> {
    let nat = NatSpecs {
        gateways: vec![("natgw".into(), gw())],
        eips: eips.iter().map(|(n, v)| (n.to_string(), eip(v))).collect(),
        ..NatSpecs::default()
    };
    Arc::new(model_with(&nat))
}

fn obj(name: &str, spec: Json, status: Json) -> Arc<Json> {
    Arc::new(json!({"metadata": {"name": name, "uid": format!("u-{name}")}, "spec": spec, "status": status}))
}

/// A store with natgw, the EIPs named (`status.ip` as given) and pods.
fn store(eips: &[(&str, &str)], pods: &[(&str, Option<&str>)]) -> Store {
    let mut s = Store { synced: true, ..Store::default() };
    s.nat_gateways.insert("natgw".into(), obj("natgw", json!({}), json!({})));
    for (name, ip) in eips {
        s.eips.insert(name.to_string(), obj(name, json!({"natGwDp": "natgw"}), json!({"ip": ip})));
    }
    for (name, asked) in pods {
        let mut a = json!({"ovn.kubernetes.io/logical_switch": "vmservers",
                           "k8s.v1.cni.cncf.io/networks": "kube-system/ovn-vpc-external-network"});
        if let Some(ip) = asked {
            a[format!("{EXT}.kubernetes.io/ip_address")] = json!(ip);
        }
        let p = json!({"metadata": {"namespace": "sukai263", "name": name, "resourceVersion": "1", "annotations": a},
                       "spec": {"containers": []}});
        s.pods.insert(format!("sukai263/{name}"), Arc::new(p));
    }
    s
}

fn update(ports: &mut PodPorts, s: &Store, m: &Arc<Model>) -> Arc<Derived> {
    ports.update(s, m, &Cache::default(), &BTreeSet::new(), &Arc::default())
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn attachment_ip(d: &Derived, pod: &str) -> Option<String> {
    d.attachments.get(&format!("sukai263/{pod}")).map(|a| a[0].ips[0].to_string())
}

#[test]
fn fixed_and_allocated_eips_hold_addresses_no_attachment_gets() {
    let m = model(&[("fixed", "172.16.3.5"), ("auto", "")]);
    let mut ports = PodPorts::default();
    // A pod asking for the fixed EIP's address, created with the EIPs.
    let s = store(&[("fixed", ""), ("auto", "")], &[("p", Some("172.16.3.5")), ("q", None)]);
    let d = update(&mut ports, &s, &m);
    assert_eq!(d.eips.get("fixed"), Some(&ip("172.16.3.5")));
    assert_eq!(d.eips.get("auto"), Some(&ip("172.16.3.1")), "the lowest free address");
    assert!(ports.eip_errors().is_empty(), "{:?}", ports.eip_errors());
    assert_eq!(attachment_ip(&d, "p"), None, "the EIP's address is not the attachment's");
    let errors = ports.errors();
    assert!(errors.iter().any(|(k, e)| k == "sukai263/p" && e.contains("172.16.3.5")), "{errors:?}");
    assert_eq!(attachment_ip(&d, "q").as_deref(), Some("172.16.3.3"), "past the EIPs and the gateway");
    assert_eq!(ports.using("ovn-vpc-external-network"), 3, "two EIPs and one attachment");

    // The same inputs again: the same addresses.
    let again = update(&mut ports, &s, &m);
    assert_eq!(again.eips, d.eips);
}

#[test]
fn an_eip_asking_for_an_attachments_address_is_refused_with_the_holder() {
    let mut ports = PodPorts::default();
    let s = store(&[], &[("p", Some("172.16.3.9"))]);
    let d = update(&mut ports, &s, &model(&[]));
    assert_eq!(attachment_ip(&d, "p").as_deref(), Some("172.16.3.9"));
    let m = model(&[("late", "172.16.3.9")]);
    let s = store(&[("late", "")], &[("p", Some("172.16.3.9"))]);
    let d = update(&mut ports, &s, &m);
    assert_eq!(d.eips.get("late"), None);
    let why = &ports.eip_errors()["late"];
    assert!(why.contains("172.16.3.9") && why.contains("taken by the attachment of pod sukai263/p"), "{why}");
    assert_eq!(attachment_ip(&d, "p").as_deref(), Some("172.16.3.9"), "the pod keeps it");
}

/// At start the EIPs' `status.ip` is restored before the pods' annotations:
/// a pod whose (stale) annotations claim an EIP's address does not get it.
#[test]
fn status_ip_is_restored_before_any_pod() {
    let m = model(&[("auto", "")]);
    let mut s = store(&[("auto", "172.16.3.77")], &[]);
    let stale = json!({"metadata": {"namespace": "sukai263", "name": "p", "resourceVersion": "1", "annotations": {
        "ovn.kubernetes.io/logical_switch": "vmservers",
        "k8s.v1.cni.cncf.io/networks": "kube-system/ovn-vpc-external-network",
        format!("{EXT}.kubernetes.io/allocated"): "true",
        format!("{EXT}.kubernetes.io/logical_switch"): "ovn-vpc-external-network",
        format!("{EXT}.kubernetes.io/ip_address"): "172.16.3.77",
        format!("{EXT}.kubernetes.io/mac_address"): "0a:11:22:33:44:55"}}, "spec": {"containers": []}});
    s.pods.insert("sukai263/p".into(), Arc::new(stale));
    let mut ports = PodPorts::default();
    let d = update(&mut ports, &s, &m);
    assert_eq!(d.eips.get("auto"), Some(&ip("172.16.3.77")), "the allocated address of before the restart");
    assert_ne!(attachment_ip(&d, "p").as_deref(), Some("172.16.3.77"));
}

#[test]
fn an_address_goes_with_its_eip_or_gateway_and_a_refused_one_stays() {
    let m = model(&[("a", ""), ("b", "172.16.3.50")]);
    let mut ports = PodPorts::default();
    let d = update(&mut ports, &store(&[("a", ""), ("b", "")], &[]), &m);
    assert_eq!((d.eips["a"], d.eips["b"]), (ip("172.16.3.1"), ip("172.16.3.50")));
    // b refused (out of the model) but its object is there: it keeps its address.
    let only_a = model(&[("a", "")]);
    update(&mut ports, &store(&[("a", ""), ("b", "")], &[]), &only_a);
    let q = store(&[("a", ""), ("b", "")], &[("q", Some("172.16.3.50"))]);
    let d = update(&mut ports, &q, &only_a);
    assert_eq!(attachment_ip(&d, "q"), None, "b still holds .50");
    // b deleted: released, and the pod asking for it gets it.
    let d = update(&mut ports, &store(&[("a", "")], &[("q", Some("172.16.3.50"))]), &only_a);
    assert_eq!(attachment_ip(&d, "q").as_deref(), Some("172.16.3.50"));
    // The gateway being deleted: a's address goes too.
    let mut s = store(&[("a", "")], &[]);
    let mut g = (*s.nat_gateways["natgw"]).clone();
    g["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    s.nat_gateways.insert("natgw".into(), Arc::new(g));
    update(
        &mut ports,
        &s,
        &Arc::new(Model { nat_gateways: Default::default(), eips: Default::default(), ..(*m).clone() }),
    );
    assert_eq!(ports.using("ovn-vpc-external-network"), 0);
}

#[test]
fn a_new_v4ip_that_cannot_be_had_keeps_the_old_address() {
    let mut ports = PodPorts::default();
    let s = store(&[("e", "")], &[("p", Some("172.16.3.60"))]);
    let d = update(&mut ports, &s, &model(&[("e", "172.16.3.50")]));
    assert_eq!(d.eips["e"], ip("172.16.3.50"));
    let d = update(&mut ports, &s, &model(&[("e", "172.16.3.60")]));
    assert_eq!(d.eips["e"], ip("172.16.3.50"), "kept");
    assert!(
        ports.eip_errors()["e"].contains("172.16.3.60 cannot be had, 172.16.3.50 is kept"),
        "{:?}",
        ports.eip_errors()
    );
    // A free one: it moves.
    let d = update(&mut ports, &s, &model(&[("e", "172.16.3.61")]));
    assert_eq!(d.eips["e"], ip("172.16.3.61"));
    assert!(ports.eip_errors().is_empty());
    assert_eq!(ports.using("ovn-vpc-external-network"), 2);
}

/// At a restart, an EIP its gateway runs gets its running address back
/// first: another EIP whose status claims that address (written by hand,
/// or stale) does not take it, whatever the names.
#[test]
fn what_a_gateway_runs_is_restored_before_any_status() {
    let m = model(&[("a-claims", ""), ("runs", "")]);
    let mut s = store(&[("a-claims", "172.16.3.77"), ("runs", "172.16.3.78")], &[]);
    let set =
        crate::rules::nat::NatRuleSet::from_json(include_str!("../../../tests/fixtures/seed-003-rules.json")).unwrap();
    let eips = vec![crate::rules::nat::Eip { name: "runs".into(), ip: ip("172.16.3.77") }];
    let set = crate::rules::nat::NatRuleSet { eips, ..set };
    let running = crate::kinds::vpc_nat_gateway::running::Running { namespace: "kube-system".into(), set };
    s.running = Arc::new([("natgw".to_string(), Arc::new(running))].into());
    let mut ports = PodPorts::default();
    let d = update(&mut ports, &s, &m);
    assert_eq!(d.eips.get("runs"), Some(&ip("172.16.3.77")), "{:?}", ports.eip_errors());
    assert_ne!(d.eips.get("a-claims"), Some(&ip("172.16.3.77")));
}
