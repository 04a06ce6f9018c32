use super::*;
use crate::model::validate::validate;
use crate::model::{SubnetSpec, VpcSpec};
use serde_json::json;

fn at(ns: &str, name: &str, iface: Option<&str>) -> Attachment {
    Attachment { namespace: ns.into(), name: name.into(), interface: iface.map(String::from) }
}

#[test]
fn the_text_forms_of_the_networks_annotation() {
    assert_eq!(
        parse_networks(" kube-system/ext , net2@eth3,other/n@e9 ", "default"),
        Ok(vec![at("kube-system", "ext", None), at("default", "net2", Some("eth3")), at("other", "n", Some("e9"))])
    );
    assert_eq!(parse_networks("", "default"), Ok(vec![]));
    // The same NAD twice: one address.
    assert_eq!(parse_networks("a, default/a@eth2", "default"), Ok(vec![at("default", "a", None)]));
    for bad in ["/x", "ns/", "a/b/c", "x@", "x@a@b"] {
        assert!(parse_networks(bad, "default").is_err(), "{bad}");
    }
}

#[test]
fn the_json_form_of_the_networks_annotation() {
    let v =
        r#"[{"name": "ext", "namespace": "kube-system", "interface": "net1"}, {"name": "eth1", "ips": ["1.2.3.4"]}]"#;
    assert_eq!(
        parse_networks(v, "default"),
        Ok(vec![at("kube-system", "ext", Some("net1")), at("default", "eth1", None)])
    );
    assert!(parse_networks(r#"[{"namespace": "x"}]"#, "default").unwrap_err().contains("\"name\""));
    assert!(parse_networks("[nonsense", "default").is_err());
}

fn pod(annotations: Json) -> Json {
    json!({"metadata": {"namespace": "default", "name": "p", "annotations": annotations}, "spec": {}})
}

#[test]
fn which_pods_want_attachments() {
    let p = pod(json!({NETWORKS: "kube-system/ovn-vpc-external-network"}));
    let want = wants_attachments(&p).unwrap();
    assert_eq!(want[0].provider(), "ovn-vpc-external-network.kube-system");
    assert_eq!(wants_attachments(&pod(json!({}))), Ok(vec![]));
    let mut gone = p.clone();
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
    assert_eq!(wants_attachments(&gone), Ok(vec![]));
    let mut host = p.clone();
    host["spec"]["hostNetwork"] = true.into();
    assert_eq!(wants_attachments(&host), Ok(vec![]));
    let e = wants_attachments(&pod(json!({NETWORKS: "a/b/c"}))).unwrap_err();
    assert!(e.to_string().contains("default/p") && e.to_string().contains(NETWORKS), "{e}");
}

fn model() -> Model {
    let sub = |cidr: &str, vpc: &str, provider: &str| SubnetSpec {
        cidr_block: cidr.into(),
        vpc: vpc.into(),
        provider: provider.into(),
        ..Default::default()
    };
    let (m, rejected) = validate(
        &[("vpc1".into(), VpcSpec::default())],
        &[
            ("ovn1".into(), sub("10.0.1.0/24", "vpc1", "")),
            ("z-ext".into(), sub("192.168.2.0/24", "", "ext.kube-system")),
            ("b-ext".into(), sub("192.168.1.0/24", "", "ext.kube-system")),
            ("eth1".into(), sub("172.17.0.0/16", "", "eth1.default")),
        ],
    );
    assert!(rejected.is_empty(), "{rejected:?}");
    m
}

#[test]
fn an_attachment_resolves_to_the_first_subnet_with_its_provider() {
    let m = model();
    let ext = at("kube-system", "ext", None);
    assert_eq!(resolve("default/p", &ext, &m, None).map(|s| s.name.as_str()), Ok("b-ext"));
    // The subnet it already holds an address in, while that has the provider.
    assert_eq!(resolve("default/p", &ext, &m, Some("z-ext")).map(|s| s.name.as_str()), Ok("z-ext"));
    assert_eq!(resolve("default/p", &ext, &m, Some("eth1")).map(|s| s.name.as_str()), Ok("b-ext"));
    assert_eq!(resolve("default/p", &at("default", "eth1", None), &m, None).map(|s| s.name.as_str()), Ok("eth1"));
    let e = resolve("default/p", &at("default", "nope", None), &m, None).unwrap_err();
    assert_eq!(
        e,
        AttachError::NoSubnet {
            pod: "default/p".into(),
            attachment: "default/nope".into(),
            provider: "nope.default".into()
        }
    );
    assert!(e.to_string().contains("default/nope") && e.to_string().contains("nope.default"), "{e}");
}

#[test]
fn annotations_per_provider_and_restoring_them() {
    let m = model();
    let a = AttachmentAddress {
        provider: "ext.kube-system".into(),
        subnet: "b-ext".into(),
        ips: vec!["192.168.1.2".parse().unwrap()],
        mac: "0a:11:22:33:44:55".into(),
    };
    let p = pod(json!({NETWORKS: "kube-system/ext", "ext.kube-system.kubernetes.io/ip_address": "192.168.1.2"}));
    let missing = annotations_missing(&p, &m, std::slice::from_ref(&a));
    assert_eq!(
        Json::Object(missing.clone()),
        json!({
            "ext.kube-system.kubernetes.io/allocated": "true",
            "ext.kube-system.kubernetes.io/logical_switch": "b-ext",
            "ext.kube-system.kubernetes.io/mac_address": "0a:11:22:33:44:55",
            "ext.kube-system.kubernetes.io/cidr": "192.168.1.0/24",
            "ext.kube-system.kubernetes.io/gateway": "192.168.1.1",
        })
    );
    let mut annotated = p.clone();
    annotated["metadata"]["annotations"].as_object_mut().unwrap().extend(missing);
    assert!(annotations_missing(&annotated, &m, std::slice::from_ref(&a)).is_empty());
    assert_eq!(
        restore_from_annotations(&annotated),
        vec![("ext.kube-system".into(), "b-ext".into(), a.ips.clone(), a.mac.clone())]
    );
    // The primary address is not an attachment's; nor is one not allocated.
    let primary = pod(json!({"ovn.kubernetes.io/allocated": "true", "ovn.kubernetes.io/logical_switch": "ovn1",
                             "ovn.kubernetes.io/ip_address": "10.0.1.2", "ovn.kubernetes.io/mac_address": "0a:00:01:00:00:01"}));
    assert_eq!(restore_from_annotations(&primary), vec![]);
    annotated["metadata"]["annotations"]["ext.kube-system.kubernetes.io/allocated"] = "false".into();
    assert_eq!(restore_from_annotations(&annotated), vec![]);
}

#[test]
fn ipam_keys() {
    assert_eq!(ipam_key("default/p", "ext.kube-system"), "default/p@ext.kube-system");
    assert_eq!(pod_of("default/p@ext.kube-system"), "default/p");
    assert_eq!(pod_of("default/p"), "default/p");
}
