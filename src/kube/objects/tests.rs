use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value as Json};

use super::*;
use crate::kube::apply_merge_patch;

fn owners() -> Vec<OwnerKind> {
    vec![OwnerKind::new("example.test", "Widget")]
}

fn owner(uid: &str) -> OwnerRef {
    OwnerRef {
        api_version: "example.test/v1".into(),
        kind: "Widget".into(),
        name: "w1".into(),
        uid: uid.into(),
        namespace: None,
    }
}

fn deployment() -> DesiredObject {
    DesiredObject {
        id: ObjectId::new(ObjectKind::Deployment, "beta", "w1"),
        owner: owner("u1").into(),
        labels: BTreeMap::from([("app".to_string(), "w1".to_string())]),
        fields: json!({"spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "w1"}},
            "template": {
                "metadata": {"labels": {"app": "w1"}},
                "spec": {"containers": [{"name": "w", "image": "registry.test/w:1"}]},
            },
        }}),
    }
}

fn config_map() -> DesiredObject {
    DesiredObject {
        id: ObjectId::new(ObjectKind::ConfigMap, "alpha", "w1-config"),
        owner: owner("u1").into(),
        labels: BTreeMap::new(),
        fields: json!({"data": {"message": "hello"}}),
    }
}

/// What the API server makes of a create: metadata it adds, the defaults
/// of a Deployment's pod template, and the controller's status.
fn as_stored(d: &DesiredObject, rv: &str) -> Json {
    let mut o = d.body();
    o["metadata"]["uid"] = json!(format!("obj-{}", d.id.name));
    o["metadata"]["resourceVersion"] = json!(rv);
    o["metadata"]["creationTimestamp"] = json!("2026-12-01T00:00:00Z");
    o["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
    if d.id.kind == ObjectKind::Deployment {
        let spec = &mut o["spec"];
        spec["strategy"] = json!({"type": "RollingUpdate"});
        spec["revisionHistoryLimit"] = json!(10);
        let c = &mut spec["template"]["spec"]["containers"][0];
        c["imagePullPolicy"] = json!("IfNotPresent");
        c["resources"] = json!({});
        spec["template"]["spec"]["restartPolicy"] = json!("Always");
        o["status"] = json!({"replicas": 1, "readyReplicas": 1, "observedGeneration": 1});
    }
    o
}

fn store(objects: &[Json]) -> BTreeMap<ObjectId, Json> {
    objects
        .iter()
        .map(|o| {
            let kind = ObjectKind::ALL.into_iter().find(|k| k.kind() == o["kind"]).unwrap();
            (ObjectId::of(kind, o).unwrap(), o.clone())
        })
        .collect()
}

fn patch_of(actions: &[Action]) -> &Json {
    match actions {
        [Action::Patch { patch, .. }] => patch,
        other => panic!("expected one patch, got {other:?}"),
    }
}

#[test]
fn absent_objects_are_created_with_the_label_and_the_owner_reference() {
    let actions = diff(&owners(), &[config_map(), deployment()], &BTreeMap::new(), &BTreeSet::new());
    assert_eq!(actions.len(), 2, "{actions:?}");
    let Action::Create { id, body } = &actions[0] else { panic!("{actions:?}") };
    assert_eq!(id.path(), "/api/v1/namespaces/alpha/configmaps/w1-config");
    assert_eq!(id.collection_path(), "/api/v1/namespaces/alpha/configmaps");
    assert_eq!(body["apiVersion"], "v1");
    assert_eq!(body["kind"], "ConfigMap");
    assert_eq!(body["metadata"]["namespace"], "alpha");
    assert_eq!(body["metadata"]["labels"][MANAGED_BY_KEY], "ovn-vpcd");
    assert_eq!(
        body["metadata"]["ownerReferences"],
        json!([{"apiVersion": "example.test/v1", "kind": "Widget", "name": "w1", "uid": "u1",
                "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(body["data"], json!({"message": "hello"}));
    let Action::Create { id, body } = &actions[1] else { panic!("{actions:?}") };
    assert_eq!(id.collection_path(), "/apis/apps/v1/namespaces/beta/deployments");
    assert_eq!(
        (body["apiVersion"].as_str(), body["metadata"]["labels"]["app"].as_str()),
        (Some("apps/v1"), Some("w1"))
    );
}

#[test]
fn nothing_to_do_when_the_owned_fields_show_as_rendered_whatever_the_server_added() {
    let observed = store(&[as_stored(&config_map(), "10"), as_stored(&deployment(), "11")]);
    assert_eq!(diff(&owners(), &[config_map(), deployment()], &observed, &BTreeSet::new()), vec![]);
}

#[test]
fn a_hand_edit_of_an_owned_field_is_restored_and_nothing_else_is_sent() {
    let mut edited = as_stored(&deployment(), "12");
    edited["spec"]["replicas"] = json!(3);
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("evil:latest");
    let actions = diff(&owners(), &[deployment()], &store(&[edited.clone()]), &BTreeSet::new());
    let patch = patch_of(&actions);
    // Exactly the differing owned fields, the container list whole (a merge
    // patch replaces lists), and the version read as a precondition.
    assert_eq!(
        patch,
        &json!({
            "metadata": {"resourceVersion": "12"},
            "spec": {
                "replicas": 1,
                "template": {"spec": {"containers": [{"name": "w", "image": "registry.test/w:1"}]}},
            },
        })
    );
    let mut after = edited;
    apply_merge_patch(&mut after, patch);
    assert!(contains(&after, &deployment().fields));
    assert_eq!(after["status"]["readyReplicas"], 1, "the controller's status is not touched");
    assert_eq!(after["spec"]["revisionHistoryLimit"], 10, "defaults are not touched");
}

#[test]
fn a_hand_added_label_annotation_or_data_key_is_kept() {
    let mut o = as_stored(&config_map(), "13");
    o["metadata"]["labels"]["team"] = json!("blue");
    o["metadata"]["annotations"]["note"] = json!("mine");
    o["data"]["extra"] = json!("x");
    assert_eq!(diff(&owners(), &[config_map()], &store(&[o.clone()]), &BTreeSet::new()), vec![]);
    // And restoring an owned field leaves them be.
    o["data"]["message"] = json!("tampered");
    let actions = diff(&owners(), &[config_map()], &store(&[o.clone()]), &BTreeSet::new());
    let patch = patch_of(&actions);
    assert_eq!(patch, &json!({"metadata": {"resourceVersion": "13"}, "data": {"message": "hello"}}));
    apply_merge_patch(&mut o, patch);
    assert_eq!(
        (&o["metadata"]["labels"]["team"], &o["metadata"]["annotations"]["note"], &o["data"]["extra"]),
        (&json!("blue"), &json!("mine"), &json!("x"))
    );
}

#[test]
fn a_removed_owned_label_and_a_stale_owner_reference_are_restored() {
    let mut o = as_stored(&config_map(), "14");
    o["metadata"]["labels"]["app"] = json!("other");
    // The owner was deleted and made again (a new uid); a user's extra,
    // non-controller reference stays.
    let extra = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "ux"});
    o["metadata"]["ownerReferences"] = json!([owner("old").to_json(), extra]);
    let mut d = config_map();
    d.labels.insert("app".into(), "w1".into());
    let actions = diff(&owners(), &[d], &store(&[o]), &BTreeSet::new());
    let patch = patch_of(&actions);
    assert_eq!(patch["metadata"]["labels"], json!({"app": "w1"}));
    assert_eq!(patch["metadata"]["ownerReferences"], json!([extra, owner("u1").to_json()]));
    assert!(patch.get("data").is_none(), "{patch}");
}

#[test]
fn an_owned_object_no_longer_desired_is_deleted_on_condition_it_is_the_one_read() {
    let observed = store(&[as_stored(&config_map(), "15"), as_stored(&deployment(), "16")]);
    let actions = diff(&owners(), &[deployment()], &observed, &BTreeSet::new());
    assert_eq!(
        actions,
        vec![Action::Delete { id: config_map().id, uid: "obj-w1-config".into(), resource_version: "15".into() }]
    );
    // Already being deleted: nothing more to send.
    let mut going = as_stored(&config_map(), "17");
    going["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:01Z");
    assert_eq!(diff(&owners(), &[], &store(&[going]), &BTreeSet::new()), vec![]);
}

#[test]
fn foreign_objects_are_never_touched_and_their_desired_twins_are_refused() {
    // Without our label (a watch of our label would not show it, but the
    // diff does not rely on that).
    let mut unlabelled = as_stored(&config_map(), "20");
    unlabelled["metadata"]["labels"] = json!({"app": "theirs"});
    unlabelled["data"] = json!({"message": "theirs"});
    // With our label, controlled by something we do not render from.
    let mut copied = as_stored(&deployment(), "21");
    copied["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "r", "controller": true}]);
    copied["spec"]["replicas"] = json!(5);
    // With our label and no controller at all (orphaned by hand).
    let mut orphan = as_stored(&config_map(), "22");
    orphan["metadata"]["name"] = json!("orphan");
    orphan["metadata"].as_object_mut().unwrap().remove("ownerReferences");
    let observed = store(&[unlabelled, copied, orphan]);

    // Nothing desired: nothing deleted.
    assert_eq!(diff(&owners(), &[], &observed, &BTreeSet::new()), vec![]);
    // Their twins desired: refused, saying why, and nothing sent.
    let actions = diff(&owners(), &[config_map(), deployment()], &observed, &BTreeSet::new());
    let reasons: Vec<(&ObjectId, &str)> = actions
        .iter()
        .map(|a| match a {
            Action::Refuse { id, reason } => (id, reason.as_str()),
            other => panic!("expected refusals only: {other:?}"),
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{actions:?}");
    assert!(reasons[0].1.contains("not labelled app.kubernetes.io/managed-by=ovn-vpcd"), "{}", reasons[0].1);
    assert!(reasons[1].1.contains("its controller is apps/v1 ReplicaSet/rs"), "{}", reasons[1].1);
    let orphan_id = ObjectId::new(ObjectKind::ConfigMap, "alpha", "orphan");
    let mut d = config_map();
    d.id = orphan_id;
    let actions = diff(&owners(), &[d], &observed, &BTreeSet::new());
    assert!(
        matches!(&actions[..], [Action::Refuse { reason, .. }] if reason.contains("no controller owner reference")),
        "{actions:?}"
    );
}

#[test]
fn desired_objects_that_cannot_be_owned_so_are_refused() {
    let mut cross = config_map();
    cross.id.name = "cross".into();
    cross.owner = OwnerRef { namespace: Some("gamma".into()), ..owner("u1") }.into();
    let mut unknown = deployment();
    unknown.owner = OwnerRef { api_version: "other.test/v1".into(), ..owner("u1") }.into();
    let mut status = deployment();
    status.id.name = "w2".into();
    status.fields = json!({"spec": {}, "status": {"replicas": 1}});
    let mut twice = config_map();
    twice.owner = OwnerRef { name: "w9".into(), ..owner("u9") }.into();
    let mut no_ns = config_map();
    no_ns.id.name = "x".into();
    no_ns.id.namespace = String::new();
    let actions =
        diff(&owners(), &[cross, unknown, status, config_map(), twice, no_ns], &BTreeMap::new(), &BTreeSet::new());
    let reason = |i: usize| match &actions[i] {
        Action::Refuse { reason, .. } => reason.clone(),
        other => panic!("{i}: {other:?}"),
    };
    assert!(reason(0).contains("cannot cross namespaces"), "{}", reason(0));
    assert!(reason(1).contains("not one the reconciler renders from"), "{}", reason(1));
    assert!(reason(2).contains("renders status"), "{}", reason(2));
    assert!(matches!(&actions[3], Action::Create { .. }), "{:?}", actions[3]);
    assert!(reason(4).contains("also rendered for Widget/w1"), "{}", reason(4));
    assert!(reason(5).contains("a namespace is needed"), "{}", reason(5));
}

#[test]
fn a_rendered_null_means_absent() {
    let mut d = config_map();
    d.fields = json!({"data": {"message": "hello", "old": null}});
    assert_eq!(d.body()["data"], json!({"message": "hello"}));
    let mut o = as_stored(&config_map(), "30");
    assert_eq!(diff(&owners(), std::slice::from_ref(&d), &store(&[o.clone()]), &BTreeSet::new()), vec![]);
    o["data"]["old"] = json!("x");
    let actions = diff(&owners(), &[d], &store(&[o]), &BTreeSet::new());
    assert_eq!(patch_of(&actions)["data"], json!({"old": null}));
}

#[test]
fn kinds_know_their_paths_and_scope() {
    for k in ObjectKind::ALL {
        assert!(k.namespaced());
        let id = ObjectId::new(k, "ns", "n");
        assert!(id.path().ends_with(&format!("/namespaces/ns/{}/n", k.plural())), "{}", id.path());
        assert_eq!(format!("{id}"), format!("{}/ns/n", k.kind()));
    }
    assert_eq!(ObjectKind::StatefulSet.all_path(), "/apis/apps/v1/statefulsets");
    assert_eq!(ObjectKind::ConfigMap.all_path(), "/api/v1/configmaps");
    assert_eq!(
        ObjectId::new(ObjectKind::RoleBinding, "ns", "n").path(),
        "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/rolebindings/n"
    );
}
