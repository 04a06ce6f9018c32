//! The incremental rules of `PodPorts::update`: an unchanged pod is not
//! derived again, a changed or new one is, a gone one is released, a failed
//! one is retried, and a subnet change re-derives every pod.

use super::*;
use crate::model::validate::validate;
use crate::model::{SubnetSpec, VpcSpec};
use serde_json::json;

fn model(cidr: &str) -> Arc<Model> {
    let subnet =
        SubnetSpec { cidr_block: cidr.into(), vpc: "v".into(), namespaces: vec!["ns".into()], ..Default::default() };
    let (m, rejected) = validate(&[("v".into(), VpcSpec::default())], &[("s".into(), subnet)]);
    assert!(rejected.is_empty(), "{rejected:?}");
    Arc::new(m)
}

fn pod(name: &str, annotations: Json) -> Arc<Json> {
    Arc::new(json!({"metadata": {"namespace": "ns", "name": name, "resourceVersion": "1", "annotations": annotations},
                    "spec": {"containers": []}}))
}

fn store(pods: &[(&str, &Arc<Json>)]) -> Store {
    let mut s = Store { synced: true, ..Store::default() };
    for (name, p) in pods {
        s.pods.insert(format!("ns/{name}"), Arc::clone(p));
    }
    s
}

fn ip(derived: &Derived, key: &str) -> String {
    derived
        .pods
        .get(key)
        .map(|p| p.ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

#[test]
fn an_unchanged_pod_is_not_derived_again() {
    let (m, nb, held, names) = (model("10.1.0.0/24"), Cache::default(), BTreeSet::new(), Arc::default());
    let (a, b, c) = (pod("a", json!({})), pod("b", json!({})), pod("c", json!({})));
    let mut ports = PodPorts::default();
    let first = ports.update(&store(&[("a", &a), ("b", &b), ("c", &c)]), &m, &nb, &held, &names);
    assert_eq!(ports.rederived(), 3);
    assert_eq!([ip(&first, "ns/a"), ip(&first, "ns/b"), ip(&first, "ns/c")], ["10.1.0.2", "10.1.0.3", "10.1.0.4"]);

    // The same objects: nothing is derived, and the ports are the same value (and `Arc`).
    let again = ports.update(&store(&[("a", &a), ("b", &b), ("c", &c)]), &m, &nb, &held, &names);
    assert_eq!(ports.rederived(), 0);
    assert!(Arc::ptr_eq(&first, &again));

    // b changed (our own annotations came back): b alone is derived; its port stays.
    let b2 = pod("b", json!({"ovn.kubernetes.io/routed": "true"}));
    let after = ports.update(&store(&[("a", &a), ("b", &b2), ("c", &c)]), &m, &nb, &held, &names);
    assert_eq!(ports.rederived(), 1);
    assert!(Arc::ptr_eq(&first, &after), "an unchanged port keeps the derived facts as they were");

    // A new pod: it alone is derived, and gets the next address.
    let d = pod("d", json!({}));
    let after = ports.update(&store(&[("a", &a), ("b", &b2), ("c", &c), ("d", &d)]), &m, &nb, &held, &names);
    assert_eq!(ports.rederived(), 1);
    assert_eq!(ip(&after, "ns/d"), "10.1.0.5");
    assert_eq!(ports.using("s"), 4);

    // c deleted: nothing is derived; its address is released and reused.
    let after = ports.update(&store(&[("a", &a), ("b", &b2), ("d", &d)]), &m, &nb, &held, &names);
    assert_eq!(ports.rederived(), 0);
    assert!(!after.pods.contains_key("ns/c"));
    assert_eq!(ports.using("s"), 3);
    let e = pod("e", json!({}));
    let after = ports.update(&store(&[("a", &a), ("b", &b2), ("d", &d), ("e", &e)]), &m, &nb, &held, &names);
    assert_eq!(ports.rederived(), 1);
    assert_eq!(ip(&after, "ns/e"), "10.1.0.4", "c's address, the lowest free");
}

#[test]
fn a_failed_pod_is_retried_once_its_address_is_free() {
    let (m, nb, held, names) = (model("10.1.0.0/24"), Cache::default(), BTreeSet::new(), Arc::default());
    let ask = json!({"ovn.kubernetes.io/ip_address": "10.1.0.9"});
    let (a, b) = (pod("a", ask.clone()), pod("b", ask));
    let mut ports = PodPorts::default();
    let first = ports.update(&store(&[("a", &a), ("b", &b)]), &m, &nb, &held, &names);
    assert_eq!(ip(&first, "ns/a"), "10.1.0.9");
    assert!(!first.pods.contains_key("ns/b"));
    assert_eq!(ports.errors().len(), 1, "{:?}", ports.errors());
    // Unchanged, b is still tried (and still fails): the error stays, once.
    ports.update(&store(&[("a", &a), ("b", &b)]), &m, &nb, &held, &names);
    assert_eq!(ports.rederived(), 1);
    assert_eq!(ports.errors().len(), 1);
    // a deleted, b unchanged: b gets the address.
    let after = ports.update(&store(&[("b", &b)]), &m, &nb, &held, &names);
    assert_eq!(ip(&after, "ns/b"), "10.1.0.9");
    assert!(ports.errors().is_empty(), "{:?}", ports.errors());
}

#[test]
fn a_subnet_change_rederives_its_pods() {
    let (nb, held, names) = (Cache::default(), BTreeSet::new(), Arc::default());
    let (a, b) = (pod("a", json!({})), pod("b", json!({})));
    let mut ports = PodPorts::default();
    let s = store(&[("a", &a), ("b", &b)]);
    ports.update(&s, &model("10.1.0.0/24"), &nb, &held, &names);
    // An equal model (validated again) is the same basis: nothing is derived.
    ports.update(&s, &model("10.1.0.0/24"), &nb, &held, &names);
    assert_eq!(ports.rederived(), 0);
    // A new CIDR: every pod of the subnet is derived again, in the new range.
    let after = ports.update(&s, &model("10.2.0.0/24"), &nb, &held, &names);
    assert_eq!(ports.rederived(), 2);
    assert_eq!([ip(&after, "ns/a"), ip(&after, "ns/b")], ["10.2.0.2", "10.2.0.3"]);
    assert_eq!(ports.using("s"), 2);
}

#[test]
fn a_foreign_port_name_rederives_the_pods_and_owned_rows_do_not() {
    use crate::model::names::Holder;
    let (m, nb, held) = (model("10.1.0.0/24"), Cache::default(), BTreeSet::new());
    let (a, b) = (pod("a", json!({})), pod("b", json!({})));
    let s = store(&[("a", &a), ("b", &b)]);
    let mut ports = PodPorts::default();
    ports.update(&s, &m, &nb, &held, &Arc::default());
    assert_eq!(ports.rederived(), 2);

    // The NB now holds both ports, as after the commit: nothing to derive again.
    let mut owned = NbState::default();
    for p in ["a.ns", "b.ns"] {
        owned.hold(NameTable::SwitchPort, p, Holder::Owned(format!("Pod/ns/{}", &p[..1])));
    }
    let after = ports.update(&s, &m, &nb, &held, &Arc::new(owned.clone()));
    assert_eq!(ports.rederived(), 0);
    assert_eq!(ip(&after, "ns/a"), "10.1.0.2");

    // Someone else's row takes b's port name: b is derived again and gets no port.
    let mut foreign = owned;
    foreign.hold(NameTable::SwitchPort, "b.ns", Holder::Foreign { uuid: "u".into(), tags: String::new() });
    let after = ports.update(&s, &m, &nb, &held, &Arc::new(foreign));
    assert_eq!(ports.rederived(), 2);
    assert_eq!(ip(&after, "ns/a"), "10.1.0.2", "a keeps its address");
    assert!(!after.pods.contains_key("ns/b"), "b's name is taken by a foreign row");
    assert!(ports.errors().iter().any(|(k, e)| k == "ns/b" && e.contains("already taken")), "{:?}", ports.errors());
}

#[test]
fn a_store_changed_in_place_is_read_by_its_log() {
    // As the daemon's store: one map, changed in place, its log read.
    let (m, nb, held, names) = (model("10.1.0.0/24"), Cache::default(), BTreeSet::new(), Arc::default());
    let mut s = Store { synced: true, ..Store::default() };
    for i in 0..50 {
        s.pods.insert(format!("ns/p{i}"), pod(&format!("p{i}"), json!({})));
    }
    let mut ports = PodPorts::default();
    ports.update(&s, &m, &nb, &held, &names);
    assert_eq!(ports.rederived(), 50);
    ports.update(&s, &m, &nb, &held, &names);
    assert_eq!(ports.rederived(), 0);
    // One changed, one gone, one new, one asking for a taken address: those alone.
    s.pods.insert("ns/p7".into(), pod("p7", json!({"ovn.kubernetes.io/routed": "true"})));
    s.pods.remove("ns/p3");
    s.pods.insert("ns/new".into(), pod("new", json!({})));
    s.pods.insert("ns/dup".into(), pod("dup", json!({"ovn.kubernetes.io/ip_address": "10.1.0.2"})));
    let after = ports.update(&s, &m, &nb, &held, &names);
    assert_eq!(ports.rederived(), 3);
    // Keys in string order: p0, p1, p10 .. p19, p2, p20 .. p29, p3: p3 held 10.1.0.25.
    assert_eq!(ip(&after, "ns/new"), "10.1.0.25", "p3's address, the lowest free");
    assert!(!after.pods.contains_key("ns/p3"));
    assert!(!after.pods.contains_key("ns/dup"));
    assert_eq!(ports.using("s"), 50);
    // Nothing changed: only the failed pod is tried again.
    ports.update(&s, &m, &nb, &held, &names);
    assert_eq!(ports.rederived(), 1);
    // p0 (holding 10.1.0.2) goes: dup, unchanged, now gets it.
    s.pods.remove("ns/p0");
    let after = ports.update(&s, &m, &nb, &held, &names);
    assert_eq!(ip(&after, "ns/dup"), "10.1.0.2");
    assert!(ports.errors().is_empty(), "{:?}", ports.errors());
    // The same answers as a full walk of a fresh copy of the store.
    let mut fresh = PodPorts::default();
    let full = fresh.update(&Store { synced: true, pods: s.pods.clone(), ..Store::default() }, &m, &nb, &held, &names);
    assert_eq!(full.pods.len(), after.pods.len());
}

/// `model` with an attachment subnet `ext` (provider `ext.kube-system`,
/// 192.168.239.0/24, excluding .2 to .9).
fn with_ext() -> Arc<Model> {
    let subnet = SubnetSpec {
        cidr_block: "10.1.0.0/24".into(),
        vpc: "v".into(),
        namespaces: vec!["ns".into()],
        ..Default::default()
    };
    let ext = SubnetSpec {
        cidr_block: "192.168.239.0/24".into(),
        provider: "ext.kube-system".into(),
        exclude_ips: vec!["192.168.239.2..192.168.239.9".into()],
        ..Default::default()
    };
    let (m, rejected) = validate(&[("v".into(), VpcSpec::default())], &[("s".into(), subnet), ("ext".into(), ext)]);
    assert!(rejected.is_empty(), "{rejected:?}");
    Arc::new(m)
}

const EXT: &str = "k8s.v1.cni.cncf.io/networks";
const EXT_IP: &str = "ext.kube-system.kubernetes.io/ip_address";

fn ext_ip(derived: &Derived, key: &str) -> String {
    let a = derived.attachments.get(key).and_then(|v| v.iter().find(|a| a.provider == "ext.kube-system").cloned());
    a.map(|a| a.ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")).unwrap_or_default()
}

#[test]
fn an_attachment_gets_an_address_of_its_providers_subnet() {
    let (m, nb, held, names) = (with_ext(), Cache::default(), BTreeSet::new(), Arc::default());
    let a = pod("a", json!({EXT: "kube-system/ext"}));
    let b = pod("b", json!({EXT: r#"[{"name": "ext", "namespace": "kube-system"}]"#, EXT_IP: "192.168.239.20"}));
    let c = pod("c", json!({EXT: "kube-system/ext", EXT_IP: "192.168.239.20"}));
    let mut ports = PodPorts::default();
    let d = ports.update(&store(&[("a", &a), ("b", &b), ("c", &c)]), &m, &nb, &held, &names);
    // The lowest free address past the excludes; the requested one; the same one again refused.
    assert_eq!([ext_ip(&d, "ns/a"), ext_ip(&d, "ns/b"), ext_ip(&d, "ns/c")], ["192.168.239.10", "192.168.239.20", ""]);
    assert_eq!(d.attachments["ns/a"][0].subnet, "ext");
    // Every pod keeps its primary port, c too.
    assert_eq!([ip(&d, "ns/a"), ip(&d, "ns/b"), ip(&d, "ns/c")], ["10.1.0.2", "10.1.0.3", "10.1.0.4"]);
    let errors = ports.errors();
    assert!(
        errors.iter().any(|(k, e)| k == "ns/c" && e.contains("192.168.239.20") && e.contains("taken by pod ns/b")),
        "{errors:?}"
    );
    assert_eq!(ports.using("ext"), 2);
    assert_eq!(ports.using("s"), 3);

    // b deleted: its address is free, and c (unchanged, retried) gets it.
    let d = ports.update(&store(&[("a", &a), ("c", &c)]), &m, &nb, &held, &names);
    assert_eq!(ext_ip(&d, "ns/c"), "192.168.239.20");
    assert!(ports.errors().is_empty(), "{:?}", ports.errors());
    assert!(!d.attachments.contains_key("ns/b"));

    // The attachment removed from a's annotation: released, its primary port stays.
    let a2 = pod("a", json!({}));
    let d = ports.update(&store(&[("a", &a2), ("c", &c)]), &m, &nb, &held, &names);
    assert!(!d.attachments.contains_key("ns/a"));
    assert_eq!(ip(&d, "ns/a"), "10.1.0.2");
    assert_eq!(ports.using("ext"), 1);
}

#[test]
fn an_attachment_no_subnet_provides_is_the_pods_error_and_not_its_ports() {
    let (m, nb, held, names) = (with_ext(), Cache::default(), BTreeSet::new(), Arc::default());
    let a = pod("a", json!({EXT: "kube-system/ext, default/nowhere"}));
    let mut ports = PodPorts::default();
    let d = ports.update(&store(&[("a", &a)]), &m, &nb, &held, &names);
    assert_eq!(ip(&d, "ns/a"), "10.1.0.2");
    assert_eq!(ext_ip(&d, "ns/a"), "192.168.239.10");
    let errors = ports.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].0 == "ns/a" && errors[0].1.contains("default/nowhere"), "{errors:?}");
}

#[test]
fn attachment_addresses_are_restored_from_the_annotations() {
    let (m, nb, held, names) = (with_ext(), Cache::default(), BTreeSet::new(), Arc::default());
    let a = pod(
        "a",
        json!({EXT: "kube-system/ext", "ext.kube-system.kubernetes.io/allocated": "true",
               "ext.kube-system.kubernetes.io/logical_switch": "ext", EXT_IP: "192.168.239.30",
               "ext.kube-system.kubernetes.io/mac_address": "0a:01:02:03:04:05"}),
    );
    // A newcomer listed before a, asking for nothing: it must not be given a's address.
    let b = pod("0b", json!({EXT: "kube-system/ext"}));
    let stale = pod(
        "stale",
        json!({"ext.kube-system.kubernetes.io/allocated": "true", "ext.kube-system.kubernetes.io/logical_switch": "ext",
               EXT_IP: "192.168.239.10", "ext.kube-system.kubernetes.io/mac_address": "0a:01:02:03:04:06"}),
    );
    let mut ports = PodPorts::default();
    let d = ports.update(&store(&[("0b", &b), ("a", &a), ("stale", &stale)]), &m, &nb, &held, &names);
    assert_eq!(ext_ip(&d, "ns/a"), "192.168.239.30");
    assert_eq!(d.attachments["ns/a"][0].mac, "0a:01:02:03:04:05");
    // The stale pod no longer names the attachment: restored, then released.
    assert!(!d.attachments.contains_key("ns/stale"));
    assert_eq!(ports.using("ext"), 2);
    // The newcomer was allocated while the restored addresses were held.
    assert_eq!(ext_ip(&d, "ns/0b"), "192.168.239.11");
}
