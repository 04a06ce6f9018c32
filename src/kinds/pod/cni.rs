//! Pods, purely: which pods get a switch port and in which subnet, what
//! address they ask for, and the annotations Kube-OVN's CNI reads, as a JSON
//! merge patch computed from the pod as read (`None` when it already says
//! exactly that). Pods are `serde_json::Value`s as the API returns them.
//!
//! Which subnet ([`wants_port`]), as Kube-OVN's `getPodDefaultSubnet`:
//! 1. the pod's annotation `ovn.kubernetes.io/logical_switch` (an unknown
//!    subnet is an error naming the pod and the annotation);
//! 2. otherwise the OVN subnets whose `spec.namespaces` list the pod's
//!    namespace. Kube-OVN keeps them in the namespace's own
//!    `ovn.kubernetes.io/logical_switch` annotation (a comma list) and takes
//!    the first one whose CIDRs hold the pod's requested `ip_address`, else
//!    the first. Here the list is the subnets listing the namespace, in name
//!    order, with the same rule for a requested address.
//!
//! 3. otherwise, if a VPC's `namespaces` list the namespace, that VPC's
//!    default subnet (`default: true`), Kube-OVN's `defaultLogicalSwitch`.
//!
//! No binding means no port (Kube-OVN would fall back to its default subnet;
//! ovn-vpcd has none). Nor do pods with `hostNetwork`, pods being deleted
//! (`metadata.deletionTimestamp`), finished pods (`status.phase` Succeeded
//! or Failed), or pods of an attachment subnet (`is_ovn` false: addresses
//! there are Multus attachments', with their own provider's annotations,
//! see [`super::attach`]).
//!
//! Annotations: `allocated`, `logical_switch`, `ip_address` (comma-joined,
//! IPv4 first), `mac_address`, `cidr` and `gateway` (the subnet's, comma-
//! joined, IPv4 first) and `logical_router` (the subnet's VPC), all under
//! `ovn.kubernetes.io/`. `routed` is separate ([`routed_patch`]): Kube-OVN's
//! CNI waits for `routed=true` before it finishes setting the pod up, and
//! Kube-OVN writes it only once the pod's switch port exists, so the caller
//! sends it once the northbound cache shows the port.
//!
//! The store keeps of a pod only what these rules read: see [`super::kept`].
//!
//! Both patches carry the pod's `metadata.resourceVersion`: the allocation
//! was decided from the annotations read (requested address, subnet), so a
//! pod changed since fails with 409 and is re-read instead of overwritten.

use std::net::IpAddr;

use serde_json::{json, Map, Value as Json};

use crate::ipam::PodAddress;
use crate::model::validate::{Model, Subnet};

pub const ALLOCATED: &str = "ovn.kubernetes.io/allocated";
pub const LOGICAL_SWITCH: &str = "ovn.kubernetes.io/logical_switch";
pub const IP_ADDRESS: &str = "ovn.kubernetes.io/ip_address";
pub const MAC_ADDRESS: &str = "ovn.kubernetes.io/mac_address";
pub const CIDR: &str = "ovn.kubernetes.io/cidr";
pub const GATEWAY: &str = "ovn.kubernetes.io/gateway";
pub const LOGICAL_ROUTER: &str = "ovn.kubernetes.io/logical_router";
pub const ROUTED: &str = "ovn.kubernetes.io/routed";
/// `"false"` leaves the pod's port without `port_security` (see `kinds::pod::rows`).
pub const PORT_SECURITY: &str = "ovn.kubernetes.io/port_security";

/// Whether the pod's port keeps it to its own MAC and IPs: yes unless the
/// pod says `ovn.kubernetes.io/port_security: "false"` (a router, gateway
/// or appliance pod forwarding traffic that is not its own).
pub fn port_security(pod: &Json) -> bool {
    annotation(pod, PORT_SECURITY).map(str::trim) != Some("false")
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PodError {
    #[error("pod without metadata.namespace and metadata.name")]
    NoKey,
    #[error("pod {pod}: annotation {annotation} names subnet {subnet:?}, which does not exist (or is not valid)")]
    UnknownSubnet { pod: String, annotation: &'static str, subnet: String },
}

/// `<namespace>/<name>`.
pub fn pod_key(pod: &Json) -> Option<String> {
    let m = pod.get("metadata")?;
    let ns = m.get("namespace")?.as_str().filter(|s| !s.is_empty())?;
    let name = m.get("name")?.as_str().filter(|s| !s.is_empty())?;
    Some(format!("{ns}/{name}"))
}

fn annotations(pod: &Json) -> Option<&Map<String, Json>> {
    pod.pointer("/metadata/annotations")?.as_object()
}

/// A non-empty annotation, trimmed.
pub fn annotation<'a>(pod: &'a Json, key: &str) -> Option<&'a str> {
    annotations(pod)?.get(key)?.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// The object has a `deletionTimestamp`.
pub fn is_deleting(obj: &Json) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// A pod with `hostNetwork`, being deleted, or finished: no port, no
/// attachment addresses.
pub fn gets_no_network(pod: &Json) -> bool {
    is_deleting(pod)
        || pod.pointer("/spec/hostNetwork").and_then(Json::as_bool) == Some(true)
        || matches!(pod.pointer("/status/phase").and_then(Json::as_str), Some("Succeeded" | "Failed"))
}

/// The subnet the pod's port belongs in, or `None` when it gets no port
/// (see the module documentation for the rules).
pub fn wants_port(pod: &Json, model: &Model) -> Result<Option<String>, PodError> {
    let key = pod_key(pod).ok_or(PodError::NoKey)?;
    if gets_no_network(pod) {
        return Ok(None);
    }
    if let Some(ls) = annotation(pod, LOGICAL_SWITCH) {
        return match model.subnets.get(ls) {
            Some(s) if s.is_ovn => Ok(Some(s.name.clone())),
            Some(_) => Ok(None),
            None => Err(PodError::UnknownSubnet { pod: key, annotation: LOGICAL_SWITCH, subnet: ls.to_string() }),
        };
    }
    let ns = key.split_once('/').map_or("", |(ns, _)| ns);
    let bound: Vec<&Subnet> =
        model.subnets.values().filter(|s| s.is_ovn && s.spec.namespaces.iter().any(|n| n == ns)).collect();
    let wanted: Vec<IpAddr> = annotation(pod, IP_ADDRESS)
        .map(|s| s.split(',').filter_map(|p| p.trim().parse().ok()).collect())
        .unwrap_or_default();
    if !wanted.is_empty() {
        let holds = |s: &&&Subnet| wanted.iter().all(|ip| s.cidrs.iter().any(|c| c.contains(ip)));
        if let Some(s) = bound.iter().find(holds) {
            return Ok(Some(s.name.clone()));
        }
    }
    if let Some(s) = bound.first() {
        return Ok(Some(s.name.clone()));
    }
    // A namespace bound to a VPC (its `namespaces`): the VPC's default
    // subnet, as Kube-OVN's `status.defaultLogicalSwitch`.
    let vpc = model.vpcs.values().find(|v| v.spec.namespaces.iter().any(|n| n == ns));
    Ok(vpc.and_then(|v| model.subnets_of(&v.name).find(|s| s.spec.default)).map(|s| s.name.clone()))
}

/// The pod's requested IPs (comma list) and MAC, from
/// `ovn.kubernetes.io/ip_address` and `ovn.kubernetes.io/mac_address`.
/// Read whether or not the pod is already allocated: once it is, they hold
/// what was given, so asking again is idempotent, and a pod whose address
/// the IPAM lost keeps asking for the one its network is set up with.
pub fn requested(pod: &Json) -> (Option<&str>, Option<&str>) {
    (annotation(pod, IP_ADDRESS), annotation(pod, MAC_ADDRESS))
}

/// `(subnet, ips, mac)` of a pod marked `allocated=true`, for
/// [`crate::ipam::Ipam::restore`]; `None` when not allocated or when the
/// annotations are missing or do not parse (the MAC is checked by restore).
pub fn restore_from_annotations(pod: &Json) -> Option<(String, Vec<IpAddr>, String)> {
    if annotation(pod, ALLOCATED) != Some("true") {
        return None;
    }
    let subnet = annotation(pod, LOGICAL_SWITCH)?;
    let ips =
        annotation(pod, IP_ADDRESS)?.split(',').map(|p| p.trim().parse::<IpAddr>().ok()).collect::<Option<Vec<_>>>()?;
    let mac = annotation(pod, MAC_ADDRESS)?;
    Some((subnet.to_string(), ips, mac.to_string()))
}

/// The annotations a pod allocated `addr` in `subnet` must carry.
pub fn desired_annotations(subnet: &Subnet, addr: &PodAddress) -> Vec<(&'static str, String)> {
    let join = |v: Vec<String>| v.join(",");
    let mut out = vec![
        (ALLOCATED, "true".to_string()),
        (LOGICAL_SWITCH, subnet.name.clone()),
        (IP_ADDRESS, addr.ip_list()),
        (MAC_ADDRESS, addr.mac.clone()),
        (CIDR, join(subnet.cidrs.iter().map(ToString::to_string).collect())),
        (GATEWAY, join(subnet.gateways.iter().map(ToString::to_string).collect())),
    ];
    if !subnet.spec.vpc.is_empty() {
        out.push((LOGICAL_ROUTER, subnet.spec.vpc.clone()));
    }
    out
}

/// A merge patch setting the annotations that differ from
/// [`desired_annotations`] (with the pod's resourceVersion), or `None` when
/// the pod already carries them all. The VPC is the subnet's `spec.vpc`.
pub fn annotations_patch(pod: &Json, subnet: &Subnet, addr: &PodAddress) -> Option<Json> {
    let have = annotations(pod);
    let changed: Map<String, Json> = desired_annotations(subnet, addr)
        .into_iter()
        .filter(|(k, v)| have.and_then(|a| a.get(*k)).and_then(Json::as_str) != Some(v.as_str()))
        .map(|(k, v)| (k.to_string(), Json::String(v)))
        .collect();
    patch(pod, changed)
}

/// `ovn.kubernetes.io/routed=true`, unless already so. Send it once the
/// northbound cache shows the pod's switch port.
pub fn routed_patch(pod: &Json) -> Option<Json> {
    if annotation(pod, ROUTED) == Some("true") {
        return None;
    }
    patch(pod, Map::from_iter([(ROUTED.to_string(), Json::from("true"))]))
}

fn patch(pod: &Json, annotations: Map<String, Json>) -> Option<Json> {
    if annotations.is_empty() {
        return None;
    }
    let mut meta = json!({ "annotations": annotations });
    if let Some(rv) = pod.pointer("/metadata/resourceVersion").and_then(Json::as_str) {
        meta["resourceVersion"] = rv.into();
    }
    Some(json!({ "metadata": meta }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use crate::kube::apply_merge_patch as merge;
    use crate::model::validate::validate;
    use crate::model::{SubnetSpec, VpcSpec};

    pub(crate) fn model() -> Model {
        let sub = |cidr: &str, vpc: &str, provider: &str, ns: &[&str]| SubnetSpec {
            cidr_block: cidr.into(),
            vpc: vpc.into(),
            provider: provider.into(),
            namespaces: ns.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let vpc2 = VpcSpec { namespaces: vec!["ns4".into()], ..VpcSpec::default() };
        let mut default = sub("10.0.4.0/24", "vpc2", "", &[]);
        default.default = true;
        let (m, rejected) = validate(
            &[("vpc1".into(), VpcSpec::default()), ("vpc2".into(), vpc2)],
            &[
                ("z-default".into(), default),
                ("y-other".into(), sub("10.0.5.0/24", "vpc2", "", &[])),
                ("b-net".into(), sub("10.0.2.0/24", "vpc1", "", &["ns1"])),
                ("a-net".into(), sub("10.0.1.0/24", "vpc1", "", &["ns1", "ns2"])),
                ("dual".into(), sub("10.0.3.0/24,fd00::/64", "vpc1", "", &[])),
                ("attach".into(), sub("192.168.0.0/24", "", "macvlan.default", &["ns3"])),
            ],
        );
        assert!(rejected.is_empty(), "{rejected:?}");
        m
    }

    fn pod(ns: &str, name: &str, annotations: Json) -> Json {
        json!({"metadata": {"namespace": ns, "name": name, "resourceVersion": "7", "annotations": annotations},
               "spec": {"containers": []}, "status": {"phase": "Pending"}})
    }

    #[test]
    fn keys() {
        assert_eq!(pod_key(&pod("ns1", "web-0", json!({}))).as_deref(), Some("ns1/web-0"));
        assert_eq!(pod_key(&json!({"metadata": {"name": "x"}})), None);
        assert_eq!(pod_key(&json!({"metadata": {"namespace": "", "name": "x"}})), None);
        assert_eq!(wants_port(&json!({"metadata": {}}), &model()), Err(PodError::NoKey));
    }

    #[test]
    fn namespace_binding_picks_first_subnet_by_name() {
        let m = model();
        // ns1 is listed by a-net and b-net: a-net comes first by name.
        assert_eq!(wants_port(&pod("ns1", "p", json!({})), &m), Ok(Some("a-net".into())));
        assert_eq!(wants_port(&pod("ns2", "p", json!({})), &m), Ok(Some("a-net".into())));
        // Unbound namespace: no port.
        assert_eq!(wants_port(&pod("other", "p", json!({})), &m), Ok(None));
        // A namespace bound to a VPC: its default subnet.
        assert_eq!(wants_port(&pod("ns4", "p", json!({})), &m), Ok(Some("z-default".into())));
        // A namespace only an attachment subnet lists: no port.
        assert_eq!(wants_port(&pod("ns3", "p", json!({})), &m), Ok(None));
    }

    #[test]
    fn namespace_binding_follows_a_requested_address() {
        let m = model();
        let p = pod("ns1", "p", json!({IP_ADDRESS: "10.0.2.9"}));
        assert_eq!(wants_port(&p, &m), Ok(Some("b-net".into())));
        // An address no bound subnet holds: the first one (allocate refuses it).
        let p = pod("ns1", "p", json!({IP_ADDRESS: "10.9.9.9"}));
        assert_eq!(wants_port(&p, &m), Ok(Some("a-net".into())));
    }

    #[test]
    fn annotation_wins_over_namespace() {
        let m = model();
        let p = pod("ns1", "p", json!({LOGICAL_SWITCH: "dual"}));
        assert_eq!(wants_port(&p, &m), Ok(Some("dual".into())));
        let p = pod("ns1", "p", json!({LOGICAL_SWITCH: "attach"}));
        assert_eq!(wants_port(&p, &m), Ok(None));
        let p = pod("ns1", "web-0", json!({LOGICAL_SWITCH: "nope"}));
        let e = wants_port(&p, &m).unwrap_err();
        assert_eq!(
            e,
            PodError::UnknownSubnet { pod: "ns1/web-0".into(), annotation: LOGICAL_SWITCH, subnet: "nope".into() }
        );
        assert!(e.to_string().contains("ns1/web-0") && e.to_string().contains(LOGICAL_SWITCH), "{e}");
    }

    #[test]
    fn skipped_pods() {
        let m = model();
        let mut p = pod("ns1", "p", json!({}));
        p["spec"]["hostNetwork"] = true.into();
        assert_eq!(wants_port(&p, &m), Ok(None));
        let mut p = pod("ns1", "p", json!({}));
        p["metadata"]["deletionTimestamp"] = "2024-05-01T10:00:00Z".into();
        assert_eq!(wants_port(&p, &m), Ok(None));
        for phase in ["Succeeded", "Failed"] {
            let mut p = pod("ns1", "p", json!({}));
            p["status"]["phase"] = phase.into();
            assert_eq!(wants_port(&p, &m), Ok(None));
        }
        // Skipped before the annotation is looked at: no error for a
        // finished pod naming a subnet that has since gone.
        let mut p = pod("ns1", "p", json!({LOGICAL_SWITCH: "gone"}));
        p["status"]["phase"] = "Succeeded".into();
        assert_eq!(wants_port(&p, &m), Ok(None));
        // Running and explicitly not hostNetwork: a port.
        let mut p = pod("ns1", "p", json!({}));
        p["spec"]["hostNetwork"] = false.into();
        p["status"]["phase"] = "Running".into();
        assert_eq!(wants_port(&p, &m), Ok(Some("a-net".into())));
    }

    #[test]
    fn requests() {
        let p = pod("ns1", "p", json!({IP_ADDRESS: " 10.0.1.5 ", MAC_ADDRESS: "0a:00:00:00:00:01"}));
        assert_eq!(requested(&p), (Some("10.0.1.5"), Some("0a:00:00:00:00:01")));
        assert_eq!(requested(&pod("ns1", "p", json!({IP_ADDRESS: ""}))), (None, None));
        assert_eq!(requested(&json!({"metadata": {"namespace": "a", "name": "b"}})), (None, None));
    }

    fn addr_dual() -> PodAddress {
        PodAddress {
            subnet: "dual".into(),
            ips: vec!["10.0.3.2".parse().unwrap(), "fd00::2".parse().unwrap()],
            mac: "0a:11:22:33:44:55".into(),
        }
    }

    #[test]
    fn annotations_patch_sets_what_the_cni_reads() {
        let m = model();
        let s = &m.subnets["dual"];
        let mut p = pod("ns1", "p", json!({"keep": "me", IP_ADDRESS: "10.0.3.2,fd00::2"}));
        let patch = annotations_patch(&p, s, &addr_dual()).unwrap();
        assert_eq!(
            patch,
            json!({"metadata": {"resourceVersion": "7", "annotations": {
                ALLOCATED: "true",
                LOGICAL_SWITCH: "dual",
                MAC_ADDRESS: "0a:11:22:33:44:55",
                CIDR: "10.0.3.0/24,fd00::/64",
                GATEWAY: "10.0.3.1,fd00::1",
                LOGICAL_ROUTER: "vpc1",
            }}})
        );
        merge(&mut p, &patch);
        assert_eq!(p["metadata"]["annotations"]["keep"], "me");
        assert_eq!(annotations_patch(&p, s, &addr_dual()), None, "already says exactly that");
        // One annotation changed by hand: only it is put back.
        p["metadata"]["annotations"][GATEWAY] = "10.0.3.254".into();
        let again = annotations_patch(&p, s, &addr_dual()).unwrap();
        assert_eq!(again["metadata"]["annotations"], json!({GATEWAY: "10.0.3.1,fd00::1"}));
    }

    #[test]
    fn annotations_patch_without_resource_version_or_annotations() {
        let m = model();
        let s = &m.subnets["a-net"];
        let a = PodAddress {
            subnet: "a-net".into(),
            ips: vec!["10.0.1.2".parse().unwrap()],
            mac: "0a:01:02:03:04:05".into(),
        };
        let p = json!({"metadata": {"namespace": "ns1", "name": "p"}});
        let patch = annotations_patch(&p, s, &a).unwrap();
        assert!(patch["metadata"].get("resourceVersion").is_none());
        assert_eq!(patch["metadata"]["annotations"][IP_ADDRESS], "10.0.1.2");
        assert_eq!(patch["metadata"]["annotations"][CIDR], "10.0.1.0/24");
        assert_eq!(patch["metadata"]["annotations"][GATEWAY], "10.0.1.1");
    }

    #[test]
    fn routed() {
        let p = pod("ns1", "p", json!({}));
        assert_eq!(
            routed_patch(&p),
            Some(json!({"metadata": {"resourceVersion": "7", "annotations": {ROUTED: "true"}}}))
        );
        assert_eq!(routed_patch(&pod("ns1", "p", json!({ROUTED: "true"}))), None);
    }

    #[test]
    fn restore_needs_allocated() {
        let full = json!({ALLOCATED: "true", LOGICAL_SWITCH: "dual", IP_ADDRESS: "10.0.3.2,fd00::2",
                          MAC_ADDRESS: "0a:11:22:33:44:55"});
        let got = restore_from_annotations(&pod("ns1", "p", full.clone())).unwrap();
        assert_eq!(got, ("dual".to_string(), addr_dual().ips, "0a:11:22:33:44:55".to_string()));
        let mut not = full.clone();
        not[ALLOCATED] = "false".into();
        assert_eq!(restore_from_annotations(&pod("ns1", "p", not)), None);
        for missing in [LOGICAL_SWITCH, IP_ADDRESS, MAC_ADDRESS] {
            let mut a = full.clone();
            a.as_object_mut().unwrap().remove(missing);
            assert_eq!(restore_from_annotations(&pod("ns1", "p", a)), None, "{missing}");
        }
        let mut bad = full;
        bad[IP_ADDRESS] = "10.0.3.2,nonsense".into();
        assert_eq!(restore_from_annotations(&pod("ns1", "p", bad)), None);
    }
}
