//! The anchor (`anchor.rs`) through `resolve` and the diff.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value as Json};

use super::super::*;
use super::*;

fn owners() -> Vec<OwnerKind> {
    vec![OwnerKind::new("kubeovn.io", "VpcNatGateway")]
}

fn sts() -> DesiredObject {
    DesiredObject {
        id: ObjectId::new(ObjectKind::StatefulSet, "kube-system", "vpc-nat-gw-natgw"),
        owner: Owner::Anchor,
        labels: BTreeMap::from([("app".to_string(), "vpc-nat-gw-natgw".to_string())]),
        fields: json!({"spec": {"replicas": 1}}),
    }
}

fn stored(body: Json, uid: &str) -> Json {
    let mut o = body;
    o["metadata"]["uid"] = json!(uid);
    o["metadata"]["resourceVersion"] = json!("1");
    o
}

fn observed(objects: &[(ObjectKind, Json)]) -> BTreeMap<ObjectId, Json> {
    objects.iter().map(|(k, o)| (ObjectId::of(*k, o).unwrap(), o.clone())).collect()
}

fn actions(desired: &[DesiredObject], seen: &BTreeMap<ObjectId, Json>) -> Vec<Action> {
    diff(&owners(), &resolve(desired, seen), seen, &Default::default())
}

/// The anchor of what the diff saw first, as the API server stores it.
fn our_anchor(uid: &str) -> Json {
    stored(anchor("kube-system").body(), uid)
}

#[test]
fn the_anchor_is_made_first_and_what_it_owns_waits_for_it() {
    let a = actions(&[sts()], &BTreeMap::new());
    let [Action::Create { id, body }, Action::Wait { id: waiting, reason }] = &a[..] else { panic!("{a:?}") };
    assert_eq!(id.path(), "/api/v1/namespaces/kube-system/configmaps/ovn-vpcd-toml-gateways");
    assert_eq!(body["metadata"]["labels"][MANAGED_BY_KEY], "ovn-vpcd");
    assert_eq!(body["metadata"]["annotations"][ANCHOR_ANNOTATION], ANCHOR_ABOUT);
    assert!(body["metadata"].get("ownerReferences").is_none(), "{body}");
    assert_eq!(*waiting, sts().id);
    assert!(reason.contains("the anchor ConfigMap/kube-system/ovn-vpcd-toml-gateways"), "{reason}");

    // Once the watch shows it: owned by it, by its uid.
    let seen = observed(&[(ObjectKind::ConfigMap, our_anchor("a1"))]);
    let a = actions(&[sts()], &seen);
    let [Action::Create { body, .. }] = &a[..] else { panic!("{a:?}") };
    assert_eq!(
        body["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": ANCHOR_NAME, "uid": "a1",
                "controller": true, "blockOwnerDeletion": true}])
    );
}

#[test]
fn an_anchor_made_again_takes_over_and_one_owning_nothing_goes() {
    let under = |uid: &str| {
        let mut d = sts();
        d.owner = Owner::Anchored(OwnerRef {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: ANCHOR_NAME.into(),
            uid: uid.into(),
            namespace: Some("kube-system".into()),
        });
        stored(d.body(), "s1")
    };
    // Made under anchor a0, which was deleted and made again as a1: corrected.
    let seen = observed(&[(ObjectKind::ConfigMap, our_anchor("a1")), (ObjectKind::StatefulSet, under("a0"))]);
    let a = actions(&[sts()], &seen);
    let [Action::Patch { patch, .. }] = &a[..] else { panic!("{a:?}") };
    assert_eq!(patch["metadata"]["ownerReferences"][0]["uid"], "a1", "{patch}");
    // Nothing desired owned by it: the anchor and what it owned are deleted.
    let seen = observed(&[(ObjectKind::ConfigMap, our_anchor("a1")), (ObjectKind::StatefulSet, under("a1"))]);
    let a = actions(&[], &seen);
    let deleted: Vec<(String, String)> = a
        .iter()
        .map(|a| match a {
            Action::Delete { id, uid, .. } => (id.to_string(), uid.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        deleted,
        [
            ("ConfigMap/kube-system/ovn-vpcd-toml-gateways".to_string(), "a1".to_string()),
            ("StatefulSet/kube-system/vpc-nat-gw-natgw".to_string(), "s1".to_string())
        ]
    );
}

#[test]
fn a_foreign_object_of_the_anchors_name_is_never_adopted() {
    // Our label, but not the annotation (copied labels), or a controller.
    let mut labelled = our_anchor("f1");
    labelled["metadata"]["annotations"] = json!({});
    let mut controlled = our_anchor("f2");
    controlled["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "x", "uid": "d", "controller": true}]);
    for (foreign, why) in [(labelled, "not annotated"), (controlled, "has a controller, apps/v1 Deployment/x")] {
        let seen = observed(&[(ObjectKind::ConfigMap, foreign)]);
        let a = actions(&[sts()], &seen);
        let [Action::Refuse { reason, .. }, Action::Wait { .. }] = &a[..] else { panic!("{a:?}") };
        assert!(reason.contains(why), "{reason}");
        assert!(actions(&[], &seen).is_empty(), "never deleted");
    }
    // Only an anchor has no owner; a ConfigMap of another name is no anchor.
    let mut d = sts();
    d.owner = Owner::None;
    let a = actions(&[d], &BTreeMap::new());
    assert!(matches!(&a[..], [Action::Refuse { reason, .. }] if reason.contains("only the anchor")), "{a:?}");
    let mut other = stored(sts().body(), "s1");
    other["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "someone", "uid": "c", "controller": true}]);
    let seen = observed(&[(ObjectKind::StatefulSet, other)]);
    assert!(actions(&[], &seen).is_empty(), "not ours: left");
}

/// Objects labelled as left alone (a refused owner's, not rendered this
/// pass) are neither deleted nor is their anchor; without the label they go.
#[test]
fn objects_left_alone_stay_and_so_does_their_anchor() {
    let mut d = sts();
    d.owner = Owner::Anchored(OwnerRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: ANCHOR_NAME.into(),
        uid: "a1".into(),
        namespace: Some("kube-system".into()),
    });
    let seen =
        observed(&[(ObjectKind::ConfigMap, our_anchor("a1")), (ObjectKind::StatefulSet, stored(d.body(), "s1"))]);
    let alone = BTreeSet::from([("app".to_string(), "vpc-nat-gw-natgw".to_string())]);
    assert_eq!(diff(&owners(), &resolve(&[], &seen), &seen, &alone), vec![]);
    let other = BTreeSet::from([("app".to_string(), "vpc-nat-gw-other".to_string())]);
    let a = diff(&owners(), &resolve(&[], &seen), &seen, &other);
    assert_eq!(a.len(), 2, "the StatefulSet and the anchor owning nothing go: {a:?}");
    assert!(a.iter().all(|a| matches!(a, Action::Delete { .. })), "{a:?}");
}
