//! What the store keeps of a pod ([`trimmed`], [`decode_trimmed`]): only
//! what the rules of [`super::cni`] and [`super::attach`], the reporter,
//! the NAT gateways' readiness and the Events read. That is `apiVersion`,
//! `kind`, and of the metadata the name, namespace, uid, resourceVersion,
//! deletionTimestamp and annotations
//! (without `kubectl.kubernetes.io/last-applied-configuration`, a copy of
//! the whole object); `spec.hostNetwork`; `status.phase`. A pod's full
//! object is several kilobytes, and each JSON map kept costs over half a
//! kilobyte however few its fields: ten thousand pods kept whole, or with
//! their conditions, labels and owner references, were most of the
//! daemon's memory. A rule that reads another field names it here first.

use serde_json::{Map, Value as Json};

/// The annotation `kubectl apply` keeps: the whole object as last applied.
/// No rule reads it, and it would be most of a pod applied by hand.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// [`trimmed`] decoded straight from a list's or a watch event's JSON: the
/// fields not kept are skipped by serde without being built (a pod's spec,
/// conditions and `managedFields` are most of it).
pub fn decode_trimmed(raw: &serde_json::value::RawValue) -> Result<Json, serde_json::Error> {
    use serde::Deserialize;
    type Field = Option<Json>;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        api_version: Field,
        kind: Field,
        metadata: Option<Meta>,
        spec: Option<Spec>,
        status: Option<Status>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Meta {
        name: Field,
        namespace: Field,
        uid: Field,
        resource_version: Field,
        deletion_timestamp: Field,
        annotations: Field,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        host_network: Field,
    }
    #[derive(Deserialize)]
    struct Status {
        phase: Field,
    }
    /// The object of the fields present (a field absent or null is left
    /// out), the values moved, not copied.
    fn object<const N: usize>(fields: [(&str, Field); N]) -> Json {
        Json::Object(fields.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))).collect())
    }
    let wire: Wire = serde_json::from_str(raw.get())?;
    let metadata = wire.metadata.map(|m| {
        object([
            ("name", m.name),
            ("namespace", m.namespace),
            ("uid", m.uid),
            ("resourceVersion", m.resource_version),
            ("deletionTimestamp", m.deletion_timestamp),
            ("annotations", m.annotations.map(without_last_applied)),
        ])
    });
    let spec = wire.spec.map(|s| object([("hostNetwork", s.host_network)]));
    let status = wire.status.map(|s| object([("phase", s.phase)]));
    Ok(object([
        ("apiVersion", wire.api_version),
        ("kind", wire.kind),
        ("metadata", metadata),
        ("spec", spec),
        ("status", status),
    ]))
}

fn without_last_applied(mut annotations: Json) -> Json {
    if let Some(a) = annotations.as_object_mut() {
        a.remove(LAST_APPLIED);
    }
    annotations
}

/// What the store keeps of `pod` (see the module head).
pub fn trimmed(mut pod: Json) -> Json {
    fn keep(obj: Option<&mut Json>, fields: &[&str]) -> Option<Json> {
        let map = obj?.as_object_mut()?;
        let kept: Map<String, Json> =
            fields.iter().filter_map(|f| Some((f.to_string(), map.remove(*f).filter(|v| !v.is_null())?))).collect();
        Some(Json::Object(kept))
    }
    let mut out = Map::new();
    for top in ["apiVersion", "kind"] {
        if let Some(v) = pod.get_mut(top).map(Json::take).filter(|v| !v.is_null()) {
            out.insert(top.into(), v);
        }
    }
    let metadata = ["name", "namespace", "uid", "resourceVersion", "deletionTimestamp", "annotations"];
    if let Some(mut m) = keep(pod.get_mut("metadata"), &metadata) {
        if let Some(a) = m.get_mut("annotations") {
            *a = without_last_applied(a.take());
        }
        out.insert("metadata".into(), m);
    }
    if let Some(spec) = keep(pod.get_mut("spec"), &["hostNetwork"]) {
        out.insert("spec".into(), spec);
    }
    if let Some(status) = keep(pod.get_mut("status"), &["phase"]) {
        out.insert("status".into(), status);
    }
    Json::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam::PodAddress;
    use crate::kinds::pod::cni::tests::model;
    use crate::kinds::pod::cni::*;
    use serde_json::json;

    #[test]
    fn the_store_keeps_what_the_rules_read_of_a_pod() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "resourceVersion": "7", "uid": "u",
                         "deletionTimestamp": "2026-01-01T00:00:00Z",
                         "annotations": {"a": "b", LAST_APPLIED: "{\"kind\": \"Pod\"}"},
                         "labels": {"app": "x"}, "managedFields": [{"manager": "kubectl"}]},
            "spec": {"hostNetwork": true, "nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.2"}],
                       "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{}]}});
        let kept = trimmed(pod);
        assert_eq!(
            kept,
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "ns", "resourceVersion": "7", "uid": "u",
                             "deletionTimestamp": "2026-01-01T00:00:00Z", "annotations": {"a": "b"}},
                "spec": {"hostNetwork": true},
                "status": {"phase": "Running"}})
        );
        // The rules read the trimmed pod as they read the whole one.
        assert!(is_deleting(&kept));
        assert!(gets_no_network(&kept));
        assert_eq!(pod_key(&kept).as_deref(), Some("ns/p"));
    }

    /// Every rule of this module, the Events and the reporter's patch read
    /// the kept pod as they read the whole one.
    #[test]
    fn the_rules_decide_on_the_kept_pod_as_on_the_whole_one() {
        let m = model();
        let whole = |ann: Json, host: bool, phase: &str, deleting: bool| {
            let mut p = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "ns1", "resourceVersion": "7", "uid": "u", "generation": 1,
                             "labels": {"app": "x"}, "annotations": ann,
                             "ownerReferences": [{"kind": "ReplicaSet", "name": "r", "uid": "o"}]},
                "spec": {"hostNetwork": host, "nodeName": "n1", "containers": [{"name": "c"}]},
                "status": {"phase": phase, "podIP": "10.0.1.9", "conditions": [{"type": "Ready", "status": "True"}]}});
            if deleting {
                p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
            }
            p
        };
        let mut cases = vec![];
        for ann in [
            json!({}),
            json!({LOGICAL_SWITCH: "b-net"}),
            json!({LOGICAL_SWITCH: "nope"}),
            json!({IP_ADDRESS: "10.0.1.7", PORT_SECURITY: "false", ROUTED: "true"}),
            json!({ALLOCATED: "true", LOGICAL_SWITCH: "a-net", IP_ADDRESS: "10.0.1.5",
                           MAC_ADDRESS: "00:00:00:00:00:05"}),
            json!({"k8s.v1.cni.cncf.io/networks": "default/macvlan",
                           "macvlan.default.kubernetes.io/allocated": "true",
                           "macvlan.default.kubernetes.io/logical_switch": "attach",
                           "macvlan.default.kubernetes.io/ip_address": "192.168.0.9",
                           "macvlan.default.kubernetes.io/mac_address": "00:00:00:00:00:09"}),
        ] {
            for (host, phase, deleting) in [
                (false, "Running", false),
                (true, "Running", false),
                (false, "Succeeded", false),
                (false, "Pending", true),
            ] {
                cases.push(whole(ann.clone(), host, phase, deleting));
            }
        }
        let (mut ports, mut attached) = (0, 0);
        for pod in cases {
            let kept = trimmed(pod.clone());
            ports += usize::from(matches!(wants_port(&pod, &m), Ok(Some(_))));
            attached += usize::from(!crate::kinds::pod::attach::restore_from_annotations(&pod).is_empty());
            let text = serde_json::to_string(&pod).unwrap();
            let raw: Box<serde_json::value::RawValue> = serde_json::from_str(&text).unwrap();
            assert_eq!(decode_trimmed(&raw).unwrap(), kept);
            assert_eq!(wants_port(&kept, &m), wants_port(&pod, &m), "{pod}");
            assert_eq!(gets_no_network(&kept), gets_no_network(&pod));
            assert_eq!(port_security(&kept), port_security(&pod));
            assert_eq!(requested(&kept), requested(&pod));
            assert_eq!(restore_from_annotations(&kept), restore_from_annotations(&pod));
            assert_eq!(routed_patch(&kept), routed_patch(&pod));
            use crate::kinds::pod::attach;
            assert_eq!(attach::wants_attachments(&kept), attach::wants_attachments(&pod));
            assert_eq!(attach::requested(&kept, "macvlan.default"), attach::requested(&pod, "macvlan.default"));
            assert_eq!(attach::restore_from_annotations(&kept), attach::restore_from_annotations(&pod));
            let event = |p: &Json| {
                let mut e = crate::kube::events::warning_event(crate::model::object::Kind::Pod, p, "R", "m", "t");
                e["reportingInstance"] = Json::Null;
                e
            };
            assert_eq!(event(&kept), event(&pod));
            if let Ok(Some(subnet)) = wants_port(&pod, &m) {
                let addr = PodAddress {
                    subnet: subnet.clone(),
                    ips: vec!["10.0.1.2".parse().unwrap()],
                    mac: "00:00:00:00:00:01".into(),
                };
                let sub = &m.subnets[&subnet];
                assert_eq!(annotations_patch(&kept, sub, &addr), annotations_patch(&pod, sub, &addr));
            }
        }
        // The cases reach the rules' interesting answers, not only `None`.
        assert!(ports >= 3 && attached >= 1, "{ports} ports, {attached} attached");
    }

    /// A pod decoded from the wire keeps exactly what `trimmed` keeps of
    /// the whole object, from a pod with every metadata field Kubernetes sets.
    #[test]
    fn a_pod_decoded_from_the_wire_is_the_trimmed_pod() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "generateName": "web-", "namespace": "ns", "selfLink": "/x",
                         "uid": "u", "resourceVersion": "7", "generation": 2,
                         "creationTimestamp": "2026-01-01T00:00:00Z",
                         "deletionTimestamp": "2026-01-01T00:01:00Z", "deletionGracePeriodSeconds": 30,
                         "labels": {"app": "x"},
                         "annotations": {"ovn.kubernetes.io/routed": "true", LAST_APPLIED: "{}"},
                         "ownerReferences": [{"kind": "StatefulSet", "name": "web", "uid": "o", "controller": true}],
                         "finalizers": ["f"], "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"hostNetwork": false, "nodeName": "n1", "containers": [{"name": "c", "image": "i",
                     "env": [{"name": "A", "value": "\"quoted\" \u{e9}"}]}], "volumes": []},
            "status": {"phase": "Running", "podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.2"}],
                       "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{}]}});
        let text = serde_json::to_string(&pod).unwrap();
        let raw: Box<serde_json::value::RawValue> = serde_json::from_str(&text).unwrap();
        let decoded = decode_trimmed(&raw).unwrap();
        assert_eq!(decoded, trimmed(pod));
        assert_eq!(
            decoded,
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web-0", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                             "deletionTimestamp": "2026-01-01T00:01:00Z",
                             "annotations": {"ovn.kubernetes.io/routed": "true"}},
                "spec": {"hostNetwork": false}, "status": {"phase": "Running"}})
        );
        let bare: Box<serde_json::value::RawValue> = serde_json::from_str(r#"{"metadata": {"name": "p"}}"#).unwrap();
        assert_eq!(decode_trimmed(&bare).unwrap(), json!({"metadata": {"name": "p"}}));
        // A null is no field; an empty section stays (as it always did).
        let nulls: Box<serde_json::value::RawValue> =
            serde_json::from_str(r#"{"metadata": {"name": "p", "deletionTimestamp": null}, "spec": {}}"#).unwrap();
        assert_eq!(decode_trimmed(&nulls).unwrap(), json!({"metadata": {"name": "p"}, "spec": {}}));
    }
}
