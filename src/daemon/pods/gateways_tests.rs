//! Gateways' addresses in the IPAM through `PodPorts::update`: the `lanIp`
//! held while the gateway's pod is away and handed to its own pod (not to a
//! lookalike, nor to a pod asking for it), a pod that held it first winning,
//! released with the gateway; inline EIPs held like IptablesEIPs (an EIP,
//! an attachment or another gateway asking for one is refused, the holder
//! keeps it), and restored at start from an accepted gateway's status.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value as Json};

use super::super::PodPorts;
use crate::kinds::iptables_eip::spec::IptablesEipSpec;
use crate::kinds::vpc_nat_gateway::rules::tests::{gw, model_with};
use crate::kinds::vpc_nat_gateway::spec::{InlineEip, VpcNatGatewaySpec};
use crate::kube::resources::Store;
use crate::model::derived::Derived;
use crate::model::validate::{Model, NatSpecs};
use crate::ovsdb::Cache;

const EXT: &str = "ovn-vpc-external-network";
const OWN: &str = "kube-system/vpc-nat-gw-natgw-0";

/// Gateway `name` with `lanIp` `lan` and the inline EIPs `inline`.
fn gateway(lan: &str, inline: &[&str]) -> VpcNatGatewaySpec {
    let eips = inline.iter().map(|a| InlineEip { eip_cidr: format!("{a}/24"), gateway: String::new() }).collect();
    VpcNatGatewaySpec { lan_ip: lan.into(), eips, ..gw() }
}

fn model(gateways: &[(&str, VpcNatGatewaySpec)], eips: &[(&str, &str, &str)]) -> Arc<Model> {
    let nat = NatSpecs {
        gateways: gateways.iter().map(|(n, g)| (n.to_string(), g.clone())).collect(),
        eips: eips
            .iter()
            .map(|(n, gw, v4ip)| {
                (
                    n.to_string(),
                    IptablesEipSpec { nat_gw_dp: gw.to_string(), v4ip: v4ip.to_string(), ..Default::default() },
                )
            })
            .collect(),
        ..NatSpecs::default()
    };
    Arc::new(model_with(&nat))
}

fn object(name: &str, status: Json) -> Arc<Json> {
    Arc::new(
        json!({"metadata": {"name": name, "uid": format!("u-{name}"), "generation": 1}, "spec": {}, "status": status}),
    )
}

/// A pod `<ns>/<name>` on vmservers with `annotations` added.
fn pod(key: &str, annotations: Json) -> (String, Arc<Json>) {
    let (ns, name) = key.split_once('/').unwrap();
    let mut a = json!({"ovn.kubernetes.io/logical_switch": "vmservers"});
    for (k, v) in annotations.as_object().unwrap() {
        a[k] = v.clone();
    }
    let p = json!({"metadata": {"namespace": ns, "name": name, "resourceVersion": "1", "annotations": a},
                   "spec": {"containers": []}});
    (key.to_string(), Arc::new(p))
}

/// Gateway `gw`'s own pod, as its StatefulSet makes it.
fn own(lan: &str) -> (String, Arc<Json>) {
    pod(OWN, json!({"ovn.kubernetes.io/vpc_nat_gw": "natgw", "ovn.kubernetes.io/ip_address": lan}))
}

fn store(gateways: &[&str], eips: &[&str], pods: &[(String, Arc<Json>)]) -> Store {
    let mut s = Store { synced: true, ..Store::default() };
    for g in gateways {
        s.nat_gateways.insert(g.to_string(), object(g, json!({})));
    }
    for e in eips {
        s.eips.insert(e.to_string(), object(e, json!({})));
    }
    for (k, p) in pods {
        s.pods.insert(k.clone(), p.clone());
    }
    s
}

fn update(ports: &mut PodPorts, s: &Store, m: &Arc<Model>) -> Arc<Derived> {
    ports.update(s, m, &Cache::default(), &BTreeSet::new(), &Arc::default())
}

fn ip_of(d: &Derived, key: &str) -> Option<String> {
    d.pods.get(key).map(|p| p.ips[0].to_string())
}

fn holder(ports: &PodPorts, subnet: &str, ip: &str) -> Option<String> {
    ports.holder(subnet, ip.parse().unwrap())
}

/// Issue 12's lanIp defect: the gateway's pod deleted, a new pod in the
/// subnet is given the lowest free address, which was the lanIp.
#[test]
fn the_lan_ip_is_held_while_the_gateway_pod_is_away_and_given_back_to_it() {
    let m = model(&[("natgw", gateway("10.0.1.2", &[]))], &[]);
    let mut ports = PodPorts::default();
    let d = update(&mut ports, &store(&["natgw"], &[], &[own("10.0.1.2")]), &m);
    assert_eq!(ip_of(&d, OWN).as_deref(), Some("10.0.1.2"), "its own pod takes it");
    assert!(ports.gateway_errors().is_empty(), "{:?}", ports.gateway_errors());
    assert_eq!(ports.using("vmservers"), 1, "the pod holds it, no reservation beside");

    // The pod deleted; a new pod in the subnet meanwhile: the next address.
    let web = pod("sukai263/web", json!({}));
    let d = update(&mut ports, &store(&["natgw"], &[], std::slice::from_ref(&web)), &m);
    assert_eq!(holder(&ports, "vmservers", "10.0.1.2").as_deref(), Some("VpcNatGateway/natgw"));
    assert_eq!(ip_of(&d, "sukai263/web").as_deref(), Some("10.0.1.3"), "not the lanIp");
    assert!(ports.gateway_errors().is_empty(), "{:?}", ports.gateway_errors());

    // Its pod back: it gets the lanIp through the reservation.
    let d = update(&mut ports, &store(&["natgw"], &[], &[web.clone(), own("10.0.1.2")]), &m);
    assert_eq!(ip_of(&d, OWN).as_deref(), Some("10.0.1.2"), "{:?}", ports.errors());
    assert!(ports.gateway_errors().is_empty(), "{:?}", ports.gateway_errors());
    assert_eq!(ports.using("vmservers"), 2);

    // The pod being deleted: reserved again in the same update.
    let (k, p) = own("10.0.1.2");
    let mut going = (*p).clone();
    going["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    update(&mut ports, &store(&["natgw"], &[], &[web.clone(), (k, Arc::new(going))]), &m);
    assert_eq!(holder(&ports, "vmservers", "10.0.1.2").as_deref(), Some("VpcNatGateway/natgw"));
}

#[test]
fn a_pod_asking_for_a_gateways_lan_ip_is_refused_naming_the_gateway() {
    let m = model(&[("natgw", gateway("10.0.1.2", &[]))], &[]);
    let mut ports = PodPorts::default();
    let asking = pod("sukai263/p", json!({"ovn.kubernetes.io/ip_address": "10.0.1.2"}));
    // A lookalike: the own pod's name and annotation, in a tenant's namespace.
    let lookalike = pod(
        "sukai263/vpc-nat-gw-natgw-0",
        json!({"ovn.kubernetes.io/vpc_nat_gw": "natgw", "ovn.kubernetes.io/ip_address": "10.0.1.2"}),
    );
    let d = update(&mut ports, &store(&["natgw"], &[], &[asking, lookalike]), &m);
    assert_eq!(ip_of(&d, "sukai263/p"), None);
    assert_eq!(ip_of(&d, "sukai263/vpc-nat-gw-natgw-0"), None);
    let errors = ports.errors();
    for k in ["sukai263/p", "sukai263/vpc-nat-gw-natgw-0"] {
        let e = errors.iter().find(|(p, _)| p == k).map(|(_, e)| e.as_str()).unwrap_or("");
        assert!(e.contains("10.0.1.2") && e.contains("VpcNatGateway \"natgw\" (its lanIp)"), "{k}: {errors:?}");
    }
    assert!(ports.gateway_errors().is_empty(), "{:?}", ports.gateway_errors());
}

#[test]
fn a_pod_that_held_the_lan_ip_first_keeps_it_and_the_gateway_is_refused() {
    let mut ports = PodPorts::default();
    let first = pod("sukai263/p", json!({"ovn.kubernetes.io/ip_address": "10.0.1.2"}));
    let s = store(&["natgw"], &[], std::slice::from_ref(&first));
    let d = update(&mut ports, &s, &model(&[], &[]));
    assert_eq!(ip_of(&d, "sukai263/p").as_deref(), Some("10.0.1.2"));
    let m = model(&[("natgw", gateway("10.0.1.2", &[]))], &[]);
    let d = update(&mut ports, &s, &m);
    assert_eq!(ip_of(&d, "sukai263/p").as_deref(), Some("10.0.1.2"), "the pod keeps it");
    let (field, why) = &ports.gateway_errors()["natgw"];
    assert_eq!((field.as_str(), why.as_str()), ("lanIp", "10.0.1.2 is taken by pod sukai263/p"));
    // The pod gone: the gateway has it.
    update(&mut ports, &store(&["natgw"], &[], &[]), &m);
    assert!(ports.gateway_errors().is_empty(), "{:?}", ports.gateway_errors());
    assert_eq!(holder(&ports, "vmservers", "10.0.1.2").as_deref(), Some("VpcNatGateway/natgw"));
}

#[test]
fn a_gateways_addresses_go_with_its_object_and_stay_while_it_is_refused() {
    let m = model(&[("natgw", gateway("10.0.1.254", &["172.16.3.208"]))], &[]);
    let mut ports = PodPorts::default();
    update(&mut ports, &store(&["natgw"], &[], &[]), &m);
    assert_eq!((ports.using("vmservers"), ports.using(EXT)), (1, 1));
    // Refused for another reason (out of the model), its object there: kept.
    let none = model(&[], &[]);
    update(&mut ports, &store(&["natgw"], &[], &[]), &none);
    assert_eq!((ports.using("vmservers"), ports.using(EXT)), (1, 1));
    // Being deleted: released.
    let mut s = store(&["natgw"], &[], &[]);
    let mut g = (*s.nat_gateways["natgw"]).clone();
    g["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    s.nat_gateways.insert("natgw".into(), Arc::new(g));
    update(&mut ports, &s, &none);
    assert_eq!((ports.using("vmservers"), ports.using(EXT)), (0, 0));
    // Back, then gone from the store: released.
    update(&mut ports, &store(&["natgw"], &[], &[]), &m);
    assert_eq!((ports.using("vmservers"), ports.using(EXT)), (1, 1));
    update(&mut ports, &store(&[], &[], &[]), &none);
    assert_eq!((ports.using("vmservers"), ports.using(EXT)), (0, 0));
}

/// Issue 12's inline EIP defect: an inline EIP was in no IPAM, so an
/// IptablesEIP, a pod's attachment or a second gateway got its address.
#[test]
fn an_inline_eip_holds_its_address_against_eips_attachments_and_other_gateways() {
    let natgw = gateway("10.0.1.254", &["172.16.3.208", "172.16.3.209"]);
    let m = model(&[("natgw", natgw.clone())], &[]);
    let mut ports = PodPorts::default();
    update(&mut ports, &store(&["natgw"], &[], &[]), &m);
    assert_eq!(holder(&ports, EXT, "172.16.3.208").as_deref(), Some("VpcNatGateway/natgw/eips/172.16.3.208"));

    // Later: an IptablesEIP, a second gateway and a pod's attachment asking for it.
    let m = model(
        &[("natgw", natgw.clone()), ("natgw2", gateway("10.0.1.253", &["172.16.3.209"]))],
        &[("dup", "natgw2", "172.16.3.208")],
    );
    let attach = pod(
        "sukai263/q",
        json!({"k8s.v1.cni.cncf.io/networks": "kube-system/ovn-vpc-external-network",
               "ovn-vpc-external-network.kube-system.kubernetes.io/ip_address": "172.16.3.208"}),
    );
    let d = update(&mut ports, &store(&["natgw", "natgw2"], &["dup"], &[attach]), &m);
    assert_eq!(d.eips.get("dup"), None);
    let why = &ports.eip_errors()["dup"];
    assert!(why.contains("172.16.3.208") && why.contains("an inline EIP of VpcNatGateway \"natgw\""), "{why}");
    let (field, why) = &ports.gateway_errors()["natgw2"];
    assert_eq!(field, "eips[0]");
    assert!(why.contains("172.16.3.209") && why.contains("an inline EIP of VpcNatGateway \"natgw\""), "{why}");
    assert!(!ports.gateway_errors().contains_key("natgw"), "the holder keeps it: {:?}", ports.gateway_errors());
    let errors = ports.errors();
    assert!(errors.iter().any(|(k, e)| k == "sukai263/q" && e.contains("VpcNatGateway \"natgw\"")), "{errors:?}");
    assert!(!d.attachments.contains_key("sukai263/q"));
    assert_eq!(holder(&ports, EXT, "172.16.3.208").as_deref(), Some("VpcNatGateway/natgw/eips/172.16.3.208"));

    // An inline EIP no longer listed is released, and the EIP asking for it gets it.
    let m = model(&[("natgw", gateway("10.0.1.254", &["172.16.3.209"]))], &[("dup", "natgw", "172.16.3.208")]);
    let d = update(&mut ports, &store(&["natgw"], &["dup"], &[]), &m);
    assert_eq!(d.eips.get("dup").map(ToString::to_string).as_deref(), Some("172.16.3.208"));
    assert!(ports.gateway_errors().is_empty(), "{:?}", ports.gateway_errors());
}

/// At start, an accepted gateway's inline EIPs are restored before the
/// pods' annotations: a pod whose stale annotations claim one does not get
/// it. A gateway refused then is not: the pod restored first keeps it.
#[test]
fn inline_eips_of_an_accepted_gateway_are_restored_before_any_pod() {
    let m = model(&[("natgw", gateway("10.0.1.254", &["172.16.3.208"]))], &[]);
    let stale = pod(
        "sukai263/p",
        json!({"k8s.v1.cni.cncf.io/networks": "kube-system/ovn-vpc-external-network",
               "ovn-vpc-external-network.kube-system.kubernetes.io/allocated": "true",
               "ovn-vpc-external-network.kube-system.kubernetes.io/logical_switch": EXT,
               "ovn-vpc-external-network.kube-system.kubernetes.io/ip_address": "172.16.3.208",
               "ovn-vpc-external-network.kube-system.kubernetes.io/mac_address": "0a:11:22:33:44:55"}),
    );
    let status =
        |validated: &str| json!({"conditions": [{"type": "Validated", "status": validated, "observedGeneration": 1}]});
    let mut s = store(&[], &[], std::slice::from_ref(&stale));
    s.nat_gateways.insert("natgw".into(), object("natgw", status("True")));
    let mut ports = PodPorts::default();
    let d = update(&mut ports, &s, &m);
    assert_eq!(holder(&ports, EXT, "172.16.3.208").as_deref(), Some("VpcNatGateway/natgw/eips/172.16.3.208"));
    assert!(ports.gateway_errors().is_empty(), "{:?}", ports.gateway_errors());
    assert!(d.attachments.get("sukai263/p").is_none_or(|a| a[0].ips[0].to_string() != "172.16.3.208"));

    s.nat_gateways.insert("natgw".into(), object("natgw", status("False")));
    let mut ports = PodPorts::default();
    update(&mut ports, &s, &m);
    assert_eq!(holder(&ports, EXT, "172.16.3.208").as_deref(), Some("sukai263/p@ovn-vpc-external-network.kube-system"));
    let (field, why) = &ports.gateway_errors()["natgw"];
    assert_eq!(field, "eips[0]");
    assert!(why.contains("taken by the attachment of pod sukai263/p"), "{why}");
}

/// A gateway refused after it held its lanIp (an edit refused: its workload
/// is kept running) keeps the reservation, and its pod, recreated, gets it.
#[test]
fn a_refused_gateways_pod_still_takes_its_lan_ip_over() {
    let m = model(&[("natgw", gateway("10.0.1.2", &[]))], &[]);
    let mut ports = PodPorts::default();
    update(&mut ports, &store(&["natgw"], &[], &[]), &m);
    let refused = model(&[], &[]);
    let web = pod("sukai263/web", json!({}));
    let d = update(&mut ports, &store(&["natgw"], &[], std::slice::from_ref(&web)), &refused);
    assert_eq!(ip_of(&d, "sukai263/web").as_deref(), Some("10.0.1.3"), "the lanIp stays reserved");
    let d = update(&mut ports, &store(&["natgw"], &[], &[web, own("10.0.1.2")]), &refused);
    assert_eq!(ip_of(&d, OWN).as_deref(), Some("10.0.1.2"), "{:?}", ports.errors());
}

#[test]
fn two_gateways_with_one_lan_ip_the_later_is_refused() {
    let m = model(&[("a", gateway("10.0.1.9", &[])), ("b", gateway("10.0.1.9", &[]))], &[]);
    let mut ports = PodPorts::default();
    update(&mut ports, &store(&["a", "b"], &[], &[]), &m);
    let (field, why) = &ports.gateway_errors()["b"];
    assert_eq!((field.as_str(), why.as_str()), ("lanIp", "10.0.1.9 is taken by VpcNatGateway \"a\" (its lanIp)"));
    assert!(!ports.gateway_errors().contains_key("a"));
}

/// A running gateway's `namespace` edited (a typo): its workload stays
/// where it runs (`daemon::nat`), so the pod its StatefulSet makes there is
/// still its own and gets the lanIp.
#[test]
fn after_a_namespace_edit_the_pod_where_the_gateway_runs_is_still_its_own() {
    let moved = VpcNatGatewaySpec { namespace: "kube-sytem".into(), ..gateway("10.0.1.2", &[]) };
    let m = model(&[("natgw", moved)], &[]);
    let mut s = store(&["natgw"], &[], &[own("10.0.1.2")]);
    let mut ports = PodPorts::default();
    // Without knowing where it runs: the pod in kube-system is not its own.
    update(&mut ports, &s, &m);
    assert!(!ports.gateway_errors().is_empty() || ports.errors().iter().any(|(k, _)| k == OWN));
    // Its rules ConfigMap shows it runs in kube-system.
    let set =
        crate::rules::nat::NatRuleSet::from_json(include_str!("../../../tests/fixtures/seed-003-rules.json")).unwrap();
    let running = crate::kinds::vpc_nat_gateway::running::Running { namespace: "kube-system".into(), set };
    s.running = Arc::new([("natgw".to_string(), Arc::new(running))].into());
    let mut ports = PodPorts::default();
    let d = update(&mut ports, &s, &m);
    assert_eq!(ip_of(&d, OWN).as_deref(), Some("10.0.1.2"), "{:?}", ports.errors());
    assert!(ports.gateway_errors().is_empty(), "{:?}", ports.gateway_errors());
}

/// Just restarted with the running gateway's pod away: of two gateways
/// wanting one lanIp, the one that runs with it reserves it, not the
/// newcomer first by name.
#[test]
fn of_two_gateways_wanting_one_lan_ip_the_running_one_reserves_it_after_a_restart() {
    let m = model(&[("a-new", gateway("10.0.1.2", &[])), ("natgw", gateway("10.0.1.2", &[]))], &[]);
    let mut s = store(&["a-new", "natgw"], &[], &[]);
    let set =
        crate::rules::nat::NatRuleSet::from_json(include_str!("../../../tests/fixtures/seed-003-rules.json")).unwrap();
    let set = crate::rules::nat::NatRuleSet {
        lan: crate::rules::nat::Lan { ip: "10.0.1.2".parse().unwrap(), ..set.lan.clone() },
        ..set
    };
    let running = crate::kinds::vpc_nat_gateway::running::Running { namespace: "kube-system".into(), set };
    s.running = Arc::new([("natgw".to_string(), Arc::new(running))].into());
    let mut ports = PodPorts::default();
    update(&mut ports, &s, &m);
    assert_eq!(holder(&ports, "vmservers", "10.0.1.2").as_deref(), Some("VpcNatGateway/natgw"));
    assert_eq!(ports.gateway_errors().keys().collect::<Vec<_>>(), ["a-new"], "{:?}", ports.gateway_errors());
}

/// A gateway refused while its own pod held the lanIp (an edit refused: its
/// workload keeps running): the pod restarting, the address is reserved for
/// the gateway again, so a pod created meanwhile does not take it, and the
/// gateway's pod, back, gets it.
#[test]
fn a_refused_gateway_that_runs_keeps_its_lan_ip_while_its_pod_restarts() {
    let m = model(&[("natgw", gateway("10.0.1.2", &[]))], &[]);
    let running_store = |pods: &[(String, Arc<Json>)]| {
        let mut s = store(&["a-new", "natgw"], &[], pods);
        let mut g = (*s.nat_gateways["natgw"]).clone();
        // The refused edit: a typo'd field, and another subnet named.
        g["spec"] = json!({"subnet": "elsewhere", "lanIp": "10.0.1.2", "vpc": "mail263", "bogus": 1});
        s.nat_gateways.insert("natgw".into(), Arc::new(g));
        let set = crate::rules::nat::NatRuleSet::from_json(include_str!("../../../tests/fixtures/seed-003-rules.json"))
            .unwrap();
        let lan = crate::rules::nat::Lan { ip: "10.0.1.2".parse().unwrap(), ..set.lan.clone() };
        let running = crate::kinds::vpc_nat_gateway::running::Running {
            namespace: "kube-system".into(),
            set: crate::rules::nat::NatRuleSet { lan, ..set },
        };
        s.running = Arc::new([("natgw".to_string(), Arc::new(running))].into());
        s
    };
    let mut ports = PodPorts::default();
    let d = update(&mut ports, &running_store(&[own("10.0.1.2")]), &m);
    assert_eq!(ip_of(&d, OWN).as_deref(), Some("10.0.1.2"));
    assert_eq!(ports.using("vmservers"), 1, "the pod holds it, no reservation beside");
    // Refused now (out of the model); its pod restarts while a new pod and
    // a new gateway wanting its lanIp come: neither gets it.
    let refused = model(&[("a-new", gateway("10.0.1.2", &[]))], &[]);
    let web = pod("sukai263/web", json!({}));
    let d = update(&mut ports, &running_store(std::slice::from_ref(&web)), &refused);
    assert_eq!(holder(&ports, "vmservers", "10.0.1.2").as_deref(), Some("VpcNatGateway/natgw"));
    assert_eq!(ip_of(&d, "sukai263/web").as_deref(), Some("10.0.1.3"), "not the lanIp");
    let (field, why) = &ports.gateway_errors()["a-new"];
    assert_eq!((field.as_str(), why.as_str()), ("lanIp", "10.0.1.2 is taken by VpcNatGateway \"natgw\" (its lanIp)"));
    let d = update(&mut ports, &running_store(&[web.clone(), own("10.0.1.2")]), &refused);
    assert_eq!(ip_of(&d, OWN).as_deref(), Some("10.0.1.2"), "{:?}", ports.errors());

    // Just restarted while refused: learnt from its own pod's address, and
    // reserved when the pod goes; with the pod away at the start, where the
    // address lives is not known and nothing is reserved.
    let alone = model(&[], &[]);
    let mut restarted = PodPorts::default();
    update(&mut restarted, &running_store(&[web.clone(), own("10.0.1.2")]), &alone);
    update(&mut restarted, &running_store(std::slice::from_ref(&web)), &alone);
    assert_eq!(holder(&restarted, "vmservers", "10.0.1.2").as_deref(), Some("VpcNatGateway/natgw"));
    let mut away = PodPorts::default();
    update(&mut away, &running_store(std::slice::from_ref(&web)), &alone);
    assert_eq!(holder(&away, "elsewhere", "10.0.1.2"), None, "never where a refused edit points");
}
