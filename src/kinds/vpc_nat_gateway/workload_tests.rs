use serde_json::json;

use super::*;
use crate::kinds::vpc_nat_gateway::rules::tests::{model_with, seed_003};
use crate::kinds::vpc_nat_gateway::rules::{fixed_addresses, rule_set};

fn owner() -> Owner {
    Owner::Resource(crate::kube::objects::OwnerRef {
        api_version: "kubeovn.io/v1".into(),
        kind: "VpcNatGateway".into(),
        name: "natgw".into(),
        uid: "u-1".into(),
        namespace: None,
    })
}

fn rendered(edit: impl Fn(&mut crate::model::validate::NatSpecs)) -> (Names, Vec<DesiredObject>, NatRuleSet) {
    let mut nat = seed_003();
    edit(&mut nat);
    let model = model_with(&nat);
    let g = &model.nat_gateways["natgw"];
    let set = rule_set(&model, g, &fixed_addresses(&model)).unwrap();
    let names = Names::of(g, DEFAULT_PREFIX, "kube-system");
    let objects = objects(&model, g, &set, &owner(), &names, "ovn-vpcd:test");
    (names, objects, set)
}

fn find(objects: &[DesiredObject], kind: ObjectKind) -> &DesiredObject {
    objects.iter().find(|o| o.id.kind == kind).unwrap()
}

#[test]
fn names_follow_the_prefix_and_the_namespace() {
    let (names, objects, _) = rendered(|_| {});
    assert_eq!(
        names,
        Names {
            namespace: "kube-system".into(),
            workload: "vpc-nat-gw-natgw".into(),
            configmap: "vpc-nat-gw-natgw-rules".into(),
            pod: "vpc-nat-gw-natgw-0".into(),
        }
    );
    let ids: Vec<String> = objects.iter().map(|o| o.id.to_string()).collect();
    assert_eq!(
        ids,
        [
            "ConfigMap/kube-system/vpc-nat-gw-natgw-rules",
            "ServiceAccount/kube-system/vpc-nat-gw-natgw",
            "Role/kube-system/vpc-nat-gw-natgw",
            "RoleBinding/kube-system/vpc-nat-gw-natgw",
            "StatefulSet/kube-system/vpc-nat-gw-natgw",
        ]
    );
    assert!(objects.iter().all(|o| o.owner == owner()));
    let (names, _, _) = rendered(|nat| nat.gateways[0].1.namespace = "tenant".into());
    assert_eq!(names.namespace, "tenant");
    let model = model_with(&seed_003());
    assert_eq!(Names::of(&model.nat_gateways["natgw"], "gw", "ns").workload, "gw-natgw");
}

#[test]
fn the_configmap_holds_the_rule_set() {
    let (_, objects, set) = rendered(|_| {});
    let cm = find(&objects, ObjectKind::ConfigMap);
    let text = cm.fields["data"][DATA_KEY].as_str().unwrap();
    assert_eq!(NatRuleSet::from_json(text).unwrap(), set);
}

#[test]
fn the_statefulset_is_kube_ovns_with_the_agent_container() {
    let (_, objects, _) = rendered(|nat| {
        let g = &mut nat.gateways[0].1;
        g.annotations =
            BTreeMap::from([("user".into(), "x".into()), ("ovn.kubernetes.io/ip_address".into(), "1.2.3.4".into())]);
        g.selector = vec!["kubernetes.io/hostname: ubuntuserver1".into(), "kubernetes.io/os: linux".into()];
        g.tolerations = vec![json!({"key": "k", "operator": "Exists", "effect": "NoSchedule"})];
        g.affinity = Some(json!({"nodeAffinity": {}}));
    });
    let sts = find(&objects, ObjectKind::StatefulSet);
    assert_eq!(sts.labels["app"], "vpc-nat-gw-natgw");
    assert_eq!(sts.labels[GATEWAY_LABEL], "true");
    let spec = &sts.fields["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["selector"]["matchLabels"], json!({"app": "vpc-nat-gw-natgw", GATEWAY_LABEL: "true"}));
    let tmpl = &spec["template"];
    assert_eq!(tmpl["metadata"]["labels"], spec["selector"]["matchLabels"]);
    assert_eq!(
        tmpl["metadata"]["annotations"],
        json!({
            "k8s.v1.cni.cncf.io/networks": "kube-system/ovn-vpc-external-network",
            "ovn.kubernetes.io/logical_switch": "vmservers",
            "ovn.kubernetes.io/ip_address": "10.0.1.254",
            "ovn.kubernetes.io/vpc_nat_gw": "natgw",
            "ovn.kubernetes.io/port_security": "false",
            "user": "x",
        })
    );
    let pod = &tmpl["spec"];
    assert_eq!(pod["serviceAccountName"], "vpc-nat-gw-natgw");
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/hostname": "ubuntuserver1", "kubernetes.io/os": "linux"}));
    assert_eq!(pod["tolerations"], json!([{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]));
    assert_eq!(pod["affinity"], json!({"nodeAffinity": {}}));
    let c = &pod["containers"][0];
    assert_eq!(pod["containers"].as_array().unwrap().len(), 1);
    assert_eq!(c["image"], "ovn-vpcd:test");
    assert_eq!(c["command"], json!(["ovn-vpcd", "gateway", "nat", "--rules", "kube-system/vpc-nat-gw-natgw-rules"]));
    assert_eq!(
        c["env"],
        json!([
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        ])
    );
    assert_eq!(c["securityContext"]["privileged"], false);
    assert_eq!(c["securityContext"]["capabilities"], json!({"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}));
    // No selector, tolerations or affinity: rendered absent.
    let (_, objects, _) = rendered(|_| {});
    let pod = &find(&objects, ObjectKind::StatefulSet).fields["spec"]["template"]["spec"];
    assert!(pod["nodeSelector"].is_null() && pod["tolerations"].is_null() && pod["affinity"].is_null(), "{pod}");
}

/// Forwarding is switched on by one privileged init container, run before
/// the agent's: exactly this spec; the agent container stays unprivileged
/// with NET_ADMIN and NET_RAW only.
#[test]
fn the_init_container_alone_is_privileged_and_switches_forwarding_on() {
    let (_, objects, _) = rendered(|_| {});
    let pod = &find(&objects, ObjectKind::StatefulSet).fields["spec"]["template"]["spec"];
    assert_eq!(
        pod["initContainers"],
        json!([{
            "name": "init-forwarding",
            "image": "ovn-vpcd:test",
            "command": ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"],
            "securityContext": {"privileged": true},
        }])
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0]["name"], CONTAINER);
    assert_eq!(
        containers[0]["securityContext"],
        json!({
            "privileged": false,
            "allowPrivilegeEscalation": false,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        })
    );
    // The agent's error names the same init container.
    assert_eq!(pod["initContainers"][0]["name"], crate::rules::nat::FORWARDING_INIT_CONTAINER);
}

/// The Role grants reading the one rules ConfigMap and patching the one
/// pod, by name, and nothing else; the binding gives it to the
/// ServiceAccount only.
#[test]
fn the_role_grants_nothing_else() {
    let (_, objects, _) = rendered(|_| {});
    let role = find(&objects, ObjectKind::Role);
    assert_eq!(role.fields.as_object().unwrap().keys().collect::<Vec<_>>(), ["rules"]);
    let rules = role.fields["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    let mut grants = vec![];
    for r in rules {
        assert_eq!(r["apiGroups"], json!([""]), "{r}");
        let mut keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["apiGroups", "resourceNames", "resources", "verbs"], "{r}");
        for res in r["resources"].as_array().unwrap() {
            for name in r["resourceNames"].as_array().unwrap() {
                for verb in r["verbs"].as_array().unwrap() {
                    grants.push(format!("{verb} {res} {name}").replace('"', ""));
                }
            }
        }
    }
    grants.sort();
    assert_eq!(
        grants,
        [
            "get configmaps vpc-nat-gw-natgw-rules",
            "get pods vpc-nat-gw-natgw-0",
            "list configmaps vpc-nat-gw-natgw-rules",
            "patch pods vpc-nat-gw-natgw-0",
            "watch configmaps vpc-nat-gw-natgw-rules",
        ]
    );
    let binding = find(&objects, ObjectKind::RoleBinding);
    assert_eq!(
        binding.fields,
        json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "vpc-nat-gw-natgw"},
            "subjects": [{"kind": "ServiceAccount", "name": "vpc-nat-gw-natgw", "namespace": "kube-system"}],
        })
    );
}

#[test]
fn selector_strings_become_a_node_selector() {
    let s = node_selector(&["a: b".into(), " c:d ".into(), "e".into()]);
    assert_eq!(s, BTreeMap::from([("a".into(), "b".into()), ("c".into(), "d".into()), ("e".into(), String::new())]));
}
