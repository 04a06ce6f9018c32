//! A VpcNatGateway's workload as the Kubernetes objects the object
//! reconciler (`kube::objects`) keeps: the rule-set ConfigMap, the
//! StatefulSet running the agent (`ovn-vpcd gateway nat`), its
//! ServiceAccount, and a Role and RoleBinding granting it exactly what the
//! agent needs. Pure.
//!
//! Names (Kube-OVN's): `<prefix>-<gateway>` for the StatefulSet, the
//! ServiceAccount, the Role and the RoleBinding, `<prefix>-<gateway>-rules`
//! for the ConfigMap, `<prefix>-<gateway>-0` for the one pod; `prefix` is
//! `natGwNamePrefix` of `ovn-vpc-nat-config` (default `vpc-nat-gw`), the
//! namespace the gateway's `spec.namespace`, else the daemon's.
//!
//! Invariants: every object is owned by the VpcNatGateway (a cluster-scoped
//! owner, so the reference crosses no namespace and the garbage collector
//! removes the workload with the gateway), or for a gateway written in the
//! TOML by the anchor of its namespace (`kube::objects::anchor`); the Role grants `get`, `list`,
//! `watch` on the one rules ConfigMap and `get`, `patch` on the one pod,
//! by `resourceNames`, and nothing else; the agent container has NET_ADMIN
//! and NET_RAW and no other capability, and is not privileged. The one
//! privileged thing is the init container [`FORWARDING_INIT_CONTAINER`]:
//! the same image, `sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'`, run to
//! completion before the agent starts (a runtime mounts `/proc/sys`
//! read-only in an unprivileged container, and `securityContext.sysctls`
//! would need every kubelet to allow the unsafe sysctl). So the image needs
//! a POSIX `sh` besides `ovn-vpcd` and the agent's tools.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use super::validate::VpcNatGateway;
use crate::kube::objects::{DesiredObject, ObjectId, ObjectKind, Owner, OwnerKind};
use crate::model::validate::Model;
use crate::rules::nat::{NatRuleSet, FORWARDING_INIT_CONTAINER};
use crate::rules::DATA_KEY;

/// The owner kind of every gateway workload object.
pub fn owner_kind() -> OwnerKind {
    OwnerKind::new("kubeovn.io", "VpcNatGateway")
}

/// `natGwNamePrefix`'s default.
pub const DEFAULT_PREFIX: &str = "vpc-nat-gw";
/// The label Kube-OVN puts on gateway StatefulSets and pods.
pub const GATEWAY_LABEL: &str = "ovn.kubernetes.io/vpc-nat-gw";
/// The container's name.
pub const CONTAINER: &str = "vpc-nat-gw";
/// What the init container runs: forwarding on in the pod's namespace.
pub const FORWARDING_COMMAND: [&str; 3] = ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"];

/// The label every object of a gateway's workload carries, valued
/// [`workload_name`].
pub const APP_LABEL: &str = "app";

/// The name of gateway `gateway`'s StatefulSet (and its `app` label).
pub fn workload_name(prefix: &str, gateway: &str) -> String {
    format!("{prefix}-{gateway}")
}

/// Where and under which names a gateway's workload lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub namespace: String,
    /// The StatefulSet, ServiceAccount, Role and RoleBinding.
    pub workload: String,
    pub configmap: String,
    pub pod: String,
}

impl Names {
    pub fn of(g: &VpcNatGateway, prefix: &str, default_namespace: &str) -> Names {
        let namespace = match g.spec.namespace.is_empty() {
            true => default_namespace.to_string(),
            false => g.spec.namespace.clone(),
        };
        let workload = workload_name(prefix, &g.name);
        Names { namespace, configmap: format!("{workload}-rules"), pod: format!("{workload}-0"), workload }
    }
}

/// `selector`'s `"key: value"` strings as a node selector (a string
/// without `:` is a key with an empty value).
pub fn node_selector(selector: &[String]) -> BTreeMap<String, String> {
    selector
        .iter()
        .map(|s| match s.split_once(':') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (s.trim().to_string(), String::new()),
        })
        .collect()
}

/// The Multus attachment of an external subnet: its provider
/// `<nad>.<namespace>` as `<namespace>/<nad>`.
fn attachment(model: &Model, subnet: &str) -> String {
    let provider = model.subnets.get(subnet).map(|s| s.spec.provider.as_str()).unwrap_or("");
    match provider.split_once('.') {
        Some((nad, ns)) => format!("{ns}/{nad}"),
        None => provider.to_string(),
    }
}

/// The pod template's annotations, as Kube-OVN sets them, over the
/// gateway's `spec.annotations`.
pub fn pod_annotations(model: &Model, g: &VpcNatGateway) -> BTreeMap<String, String> {
    let mut a = g.spec.annotations.clone();
    let networks: Vec<String> = g.external_subnets.iter().map(|s| attachment(model, s)).collect();
    a.insert("k8s.v1.cni.cncf.io/networks".into(), networks.join(","));
    a.insert("ovn.kubernetes.io/logical_switch".into(), g.spec.subnet.clone());
    a.insert("ovn.kubernetes.io/ip_address".into(), g.lan_ip.to_string());
    a.insert("ovn.kubernetes.io/vpc_nat_gw".into(), g.name.clone());
    // A gateway forwards other hosts' traffic: OVN's port security would drop it.
    a.insert("ovn.kubernetes.io/port_security".into(), "false".into());
    a
}

/// The Role's rules: the agent reads its rule set and reports on its pod.
pub fn role_rules(names: &Names) -> Json {
    json!([
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [names.configmap], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "resourceNames": [names.pod], "verbs": ["get", "patch"]},
    ])
}

/// The StatefulSet's owned fields.
fn statefulset_fields(model: &Model, g: &VpcNatGateway, names: &Names, image: &str) -> Json {
    let labels = json!({APP_LABEL: names.workload, GATEWAY_LABEL: "true"});
    let selector = node_selector(&g.spec.selector);
    let field = |path: &str| json!({"valueFrom": {"fieldRef": {"fieldPath": path}}});
    let mut pod_name = field("metadata.name");
    pod_name["name"] = json!("POD_NAME");
    let mut pod_namespace = field("metadata.namespace");
    pod_namespace["name"] = json!("POD_NAMESPACE");
    let rules = format!("{}/{}", names.namespace, names.configmap);
    json!({"spec": {
        "replicas": 1,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels, "annotations": pod_annotations(model, g)},
            "spec": {
                "serviceAccountName": names.workload,
                "nodeSelector": if selector.is_empty() { Json::Null } else { json!(selector) },
                "tolerations": if g.spec.tolerations.is_empty() { Json::Null } else { json!(g.spec.tolerations) },
                "affinity": g.spec.affinity.clone().unwrap_or(Json::Null),
                "initContainers": [{
                    "name": FORWARDING_INIT_CONTAINER,
                    "image": image,
                    "command": FORWARDING_COMMAND,
                    "securityContext": {"privileged": true},
                }],
                "containers": [{
                    "name": CONTAINER,
                    "image": image,
                    "command": ["ovn-vpcd", "gateway", "nat", "--rules", rules],
                    "env": [pod_name, pod_namespace],
                    "securityContext": {
                        "privileged": false,
                        "allowPrivilegeEscalation": false,
                        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
                    },
                }],
            },
        },
    }})
}

/// Every object of gateway `g`'s workload, its rule set being `set`.
pub fn objects(
    model: &Model,
    g: &VpcNatGateway,
    set: &NatRuleSet,
    owner: &Owner,
    names: &Names,
    image: &str,
) -> Vec<DesiredObject> {
    let object = |kind: ObjectKind, name: &str, labels: BTreeMap<String, String>, fields: Json| DesiredObject {
        id: ObjectId::new(kind, &names.namespace, name),
        owner: owner.clone(),
        labels,
        fields,
    };
    let app = BTreeMap::from([(APP_LABEL.to_string(), names.workload.clone())]);
    let mut sts_labels = app.clone();
    sts_labels.insert(GATEWAY_LABEL.into(), "true".into());
    let w = names.workload.as_str();
    vec![
        object(ObjectKind::ConfigMap, &names.configmap, app.clone(), json!({"data": {DATA_KEY: set.to_json()}})),
        object(ObjectKind::ServiceAccount, w, app.clone(), json!({})),
        object(ObjectKind::Role, w, app.clone(), json!({"rules": role_rules(names)})),
        object(
            ObjectKind::RoleBinding,
            w,
            app,
            json!({
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": w},
                "subjects": [{"kind": "ServiceAccount", "name": w, "namespace": names.namespace}],
            }),
        ),
        object(ObjectKind::StatefulSet, w, sts_labels, statefulset_fields(model, g, names, image)),
    ]
}

#[cfg(test)]
#[path = "workload_tests.rs"]
mod tests;
