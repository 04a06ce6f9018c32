//! The object reconciler (`kube::objects`) against the testbed API server,
//! driven by a kind of this suite's own: a cluster-scoped `Widget` rendered
//! into a ConfigMap in namespace `alpha` and a Deployment and a StatefulSet
//! in `beta`. What a user sees with kubectl: the objects made with our
//! label and the Widget as owner, hand edits of what we render put back
//! within a second or two while their own additions stay, deleted objects
//! made again, objects no longer rendered deleted, nothing written while
//! not leading, the garbage collector removing them with their Widget, and
//! objects that are not ours never touched (their twins reported refused).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ovn_vpcd::kube::client::KubeClient;
use ovn_vpcd::kube::objects::{
    run, Desired, DesiredObject, ObjectId, ObjectKind, ObjectsConfig, Outcome, Outcomes, OwnerKind, OwnerRef,
};
use ovn_vpcd::testbed::Kube;
use serde_json::{json, Value as Json};
use tokio::sync::watch;

const WIDGETS: &str = "/apis/example.test/v1/widgets";

fn widget_crd() -> Json {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.test"},
        "spec": {
            "group": "example.test",
            "scope": "Cluster",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    })
}

/// The testbed server with the Widget CRD and namespaces `alpha` and `beta`.
fn start() -> (Kube, Arc<KubeClient>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("widgets.example.test.json"), widget_crd().to_string()).unwrap();
    let kube = Kube::start(Some(dir.path()), &["--quiet"]).unwrap();
    for ns in ["alpha", "beta"] {
        kube.kubectl(&["create", "namespace", ns]).unwrap();
    }
    let client = Arc::new(KubeClient::from_kubeconfig(&kube.kubeconfig(), None).unwrap());
    (kube, client, dir)
}

/// The Widget's objects, rendered purely from its spec.
fn render(widget: &Json) -> Vec<DesiredObject> {
    let owner = OwnerRef::of(widget).unwrap();
    let name = widget["metadata"]["name"].as_str().unwrap();
    let spec = &widget["spec"];
    let labels = BTreeMap::from([("app".to_string(), name.to_string())]);
    let pod = |image: &Json| {
        json!({
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "widget", "image": image}]},
        })
    };
    let mut out = vec![
        DesiredObject {
            id: ObjectId::new(ObjectKind::ConfigMap, "alpha", &format!("{name}-config")),
            owner: owner.clone().into(),
            labels: labels.clone(),
            fields: json!({"data": {"message": spec["message"]}}),
        },
        DesiredObject {
            id: ObjectId::new(ObjectKind::Deployment, "beta", name),
            owner: owner.clone().into(),
            labels: labels.clone(),
            fields: json!({"spec": {
                "replicas": spec["replicas"],
                "selector": {"matchLabels": {"app": name}},
                "template": pod(&spec["image"]),
            }}),
        },
    ];
    if spec["database"] != json!(false) {
        out.push(DesiredObject {
            id: ObjectId::new(ObjectKind::StatefulSet, "beta", &format!("{name}-db")),
            owner: owner.into(),
            labels,
            fields: json!({"spec": {
                "replicas": 1,
                "serviceName": format!("{name}-db"),
                "selector": {"matchLabels": {"app": name}},
                "template": pod(&json!("registry.test/db:1")),
            }}),
        });
    }
    out
}

struct Reconciler {
    desired: watch::Sender<Arc<Desired>>,
    leading: watch::Sender<bool>,
    outcomes: watch::Receiver<Arc<Outcomes>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Reconciler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn start_reconciler(client: &Arc<KubeClient>, leading: bool) -> Reconciler {
    let (desired, desired_rx) = watch::channel(Arc::new(Desired::default()));
    let (leading, leading_rx) = watch::channel(leading);
    let (outcomes_tx, outcomes) = watch::channel(Arc::new(Outcomes::new()));
    let config = ObjectsConfig::new(vec![OwnerKind::new("example.test", "Widget")]);
    let task = tokio::spawn(run(client.clone(), config, desired_rx, leading_rx, outcomes_tx));
    Reconciler { desired, leading, outcomes, task }
}

impl Reconciler {
    /// Renders every Widget as the server has it now.
    async fn render_from(&self, client: &KubeClient) {
        let list = client.get(WIDGETS).await.unwrap();
        let desired = list["items"].as_array().unwrap().iter().flat_map(render).collect();
        self.desired.send_replace(Arc::new(Desired { objects: desired, ..Desired::default() }));
    }

    async fn wait_outcomes(&mut self, what: &str, ok: impl Fn(&Outcomes) -> bool) -> Arc<Outcomes> {
        let r = tokio::time::timeout(Duration::from_secs(10), self.outcomes.wait_for(|o| ok(o)))
            .await
            .map(|o| o.map(|o| o.clone()));
        match r {
            Ok(o) => o.unwrap(),
            Err(_) => panic!("{what}: outcomes are {:?}", self.outcomes.borrow()),
        }
    }
}

fn get(kube: &Kube, kind: &str, ns: &str, name: &str) -> Option<Json> {
    let text = kube.kubectl(&["get", kind, "-n", ns, name, "-o", "json", "--ignore-not-found"]).ok()?;
    serde_json::from_str(&text).ok()
}

/// Polls kubectl until `ok` holds, for at most `within`; returns how long it took.
async fn until(
    kube: &Kube,
    within: Duration,
    what: &str,
    (kind, ns, name): (&str, &str, &str),
    ok: impl Fn(Option<&Json>) -> bool,
) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        let o = get(kube, kind, ns, name);
        if ok(o.as_ref()) {
            return start.elapsed();
        }
        if start.elapsed() > within {
            panic!("{what}: not so within {within:?}: {}", o.map_or("absent".into(), |o| o.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn all_applied(n: usize) -> impl Fn(&Outcomes) -> bool {
    move |o: &Outcomes| o.len() == n && o.values().all(|v| *v == Outcome::Applied)
}

const CM: (&str, &str, &str) = ("configmap", "alpha", "w1-config");
const DEPLOY: (&str, &str, &str) = ("deployment", "beta", "w1");
const STS: (&str, &str, &str) = ("statefulset", "beta", "w1-db");
const RESTORED_WITHIN: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_objects_are_made_restored_deleted_and_collected_with_their_owner() {
    let (kube, c, _crds) = start();
    let widget = json!({"apiVersion": "example.test/v1", "kind": "Widget", "metadata": {"name": "w1"},
                        "spec": {"message": "hello", "replicas": 1, "image": "registry.test/widget:1"}});
    let widget = c.create(WIDGETS, &widget).await.unwrap();
    let uid = widget["metadata"]["uid"].as_str().unwrap().to_string();

    // Not leading: nothing is written.
    let mut r = start_reconciler(&c, false);
    r.render_from(&c).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(get(&kube, CM.0, CM.1, CM.2).is_none(), "a follower wrote");
    assert!(r.outcomes.borrow().is_empty());

    // Leading: made, labelled, owned by the Widget.
    r.leading.send_replace(true);
    r.wait_outcomes("all three applied", all_applied(3)).await;
    for (kind, ns, name) in [CM, DEPLOY, STS] {
        let o = get(&kube, kind, ns, name).unwrap_or_else(|| panic!("no {kind} {ns}/{name}"));
        let md = &o["metadata"];
        assert_eq!(md["labels"]["app.kubernetes.io/managed-by"], "ovn-vpcd", "{o}");
        assert_eq!(md["labels"]["app"], "w1", "{o}");
        let refs = md["ownerReferences"].as_array().unwrap();
        assert_eq!(refs.len(), 1, "{o}");
        assert_eq!(
            (&refs[0]["kind"], &refs[0]["name"], refs[0]["uid"].as_str(), &refs[0]["controller"]),
            (&json!("Widget"), &json!("w1"), Some(uid.as_str()), &json!(true)),
            "{o}"
        );
    }
    assert_eq!(get(&kube, CM.0, CM.1, CM.2).unwrap()["data"], json!({"message": "hello"}));

    // The Deployment controller's status and the server's defaults are not
    // fought: once running, the spec is not written again.
    until(&kube, Duration::from_secs(10), "deployment ready", DEPLOY, |o| {
        o.is_some_and(|o| o["status"]["readyReplicas"] == 1)
    })
    .await;
    let before = get(&kube, DEPLOY.0, DEPLOY.1, DEPLOY.2).unwrap();
    assert_eq!(before["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = get(&kube, DEPLOY.0, DEPLOY.1, DEPLOY.2).unwrap();
    assert_eq!(after["metadata"]["generation"], before["metadata"]["generation"], "the spec was rewritten: {after}");
    assert_eq!(after["spec"], before["spec"]);

    // Owned fields edited by hand are restored; what the user added stays.
    kube.kubectl(&[
        "patch",
        "configmap",
        "-n",
        "alpha",
        "w1-config",
        "--type=merge",
        "-p",
        r#"{"data":{"message":"tampered","extra":"mine"}}"#,
    ])
    .unwrap();
    kube.kubectl(&["label", "configmap", "-n", "alpha", "w1-config", "team=blue"]).unwrap();
    kube.kubectl(&["annotate", "configmap", "-n", "alpha", "w1-config", "note=kept"]).unwrap();
    until(&kube, RESTORED_WITHIN, "message restored", CM, |o| o.is_some_and(|o| o["data"]["message"] == "hello")).await;
    let cm = get(&kube, CM.0, CM.1, CM.2).unwrap();
    assert_eq!(cm["data"]["extra"], "mine", "{cm}");
    assert_eq!(cm["metadata"]["labels"]["team"], "blue", "{cm}");
    assert_eq!(cm["metadata"]["annotations"]["note"], "kept", "{cm}");
    kube.kubectl(&["scale", "deployment", "-n", "beta", "w1", "--replicas=3"]).unwrap();
    until(&kube, RESTORED_WITHIN, "replicas restored", DEPLOY, |o| o.is_some_and(|o| o["spec"]["replicas"] == 1)).await;
    kube.kubectl(&["label", "deployment", "-n", "beta", "w1", "app=other", "--overwrite"]).unwrap();
    until(&kube, RESTORED_WITHIN, "owned label restored", DEPLOY, |o| {
        o.is_some_and(|o| o["metadata"]["labels"]["app"] == "w1")
    })
    .await;
    // A little later the user's additions are still there.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cm = get(&kube, CM.0, CM.1, CM.2).unwrap();
    assert_eq!((&cm["metadata"]["labels"]["team"], &cm["data"]["extra"]), (&json!("blue"), &json!("mine")), "{cm}");

    // Deleted by hand: made again.
    let old_uid = cm["metadata"]["uid"].clone();
    kube.kubectl(&["delete", "configmap", "-n", "alpha", "w1-config"]).unwrap();
    kube.kubectl(&["delete", "statefulset", "-n", "beta", "w1-db"]).unwrap();
    until(&kube, RESTORED_WITHIN, "configmap made again", CM, |o| {
        o.is_some_and(|o| o["metadata"]["uid"] != old_uid && o["data"]["message"] == "hello")
    })
    .await;
    until(&kube, RESTORED_WITHIN, "statefulset made again", STS, |o| o.is_some()).await;
    r.wait_outcomes("all three applied again", all_applied(3)).await;

    // No longer rendered: deleted; the rest stays.
    kube.kubectl(&["patch", "widget", "w1", "--type=merge", "-p", r#"{"spec":{"database":false}}"#]).unwrap();
    r.render_from(&c).await;
    until(&kube, RESTORED_WITHIN, "statefulset deleted", STS, |o| o.is_none()).await;
    r.wait_outcomes("two applied", all_applied(2)).await;
    assert!(get(&kube, CM.0, CM.1, CM.2).is_some() && get(&kube, DEPLOY.0, DEPLOY.1, DEPLOY.2).is_some());

    // The daemon stops leading, the Widget is deleted: the API server's
    // garbage collector removes its objects.
    r.leading.send_replace(false);
    kube.kubectl(&["delete", "widget", "w1"]).unwrap();
    until(&kube, Duration::from_secs(10), "configmap collected", CM, |o| o.is_none()).await;
    until(&kube, Duration::from_secs(10), "deployment collected", DEPLOY, |o| o.is_none()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_that_are_not_ours_are_never_touched_and_their_twins_are_refused() {
    let (kube, c, _crds) = start();
    // Someone else's ConfigMap with the name we render, without our label.
    kube.kubectl(&["create", "configmap", "-n", "alpha", "w1-config", "--from-literal=message=theirs"]).unwrap();
    // A Deployment with our label, but controlled by someone else's object.
    let keeper = c
        .create("/api/v1/namespaces/beta/configmaps", &json!({"metadata": {"name": "keeper"}, "data": {}}))
        .await
        .unwrap();
    let theirs = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "w1", "labels": {"app.kubernetes.io/managed-by": "ovn-vpcd"},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper",
                                          "uid": keeper["metadata"]["uid"], "controller": true}]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "theirs"}},
                 "template": {"metadata": {"labels": {"app": "theirs"}},
                              "spec": {"containers": [{"name": "c", "image": "theirs:1"}]}}},
    });
    c.create("/apis/apps/v1/namespaces/beta/deployments", &theirs).await.unwrap();
    // And a ConfigMap with our label and no owner at all: not rendered, yet not deleted.
    kube.kubectl(&["create", "configmap", "-n", "alpha", "stray", "--from-literal=k=v"]).unwrap();
    kube.kubectl(&["label", "configmap", "-n", "alpha", "stray", "app.kubernetes.io/managed-by=ovn-vpcd"]).unwrap();
    let snapshot = |kube: &Kube| {
        [("configmap", "alpha", "w1-config"), ("deployment", "beta", "w1"), ("configmap", "alpha", "stray")]
            .map(|(k, ns, n)| get(kube, k, ns, n).map(|o| o["metadata"]["resourceVersion"].clone()))
    };
    let before = snapshot(&kube);

    let widget = json!({"apiVersion": "example.test/v1", "kind": "Widget", "metadata": {"name": "w1"},
                        "spec": {"message": "hello", "replicas": 1, "image": "registry.test/widget:1"}});
    c.create(WIDGETS, &widget).await.unwrap();
    let mut r = start_reconciler(&c, true);
    r.render_from(&c).await;
    let cm_id = ObjectId::new(ObjectKind::ConfigMap, "alpha", "w1-config");
    let deploy_id = ObjectId::new(ObjectKind::Deployment, "beta", "w1");
    let sts_id = ObjectId::new(ObjectKind::StatefulSet, "beta", "w1-db");
    let refused = |o: &Outcomes, id: &ObjectId, needle: &str| matches!(o.get(id), Some(Outcome::Refused(m)) if m.contains(needle));
    let got = r
        .wait_outcomes("twins refused, the free one applied", |o| {
            refused(o, &cm_id, "already exists")
                && refused(o, &deploy_id, "ConfigMap/keeper")
                && o.get(&sts_id) == Some(&Outcome::Applied)
        })
        .await;
    let Some(Outcome::Refused(m)) = got.get(&cm_id) else { unreachable!() };
    assert!(m.contains("not labelled app.kubernetes.io/managed-by=ovn-vpcd"), "{m}");

    // A while later, none of them was written.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(snapshot(&kube), before, "an object that is not ours was written");
    let cm = get(&kube, "configmap", "alpha", "w1-config").unwrap();
    assert_eq!(cm["data"]["message"], "theirs");
    let d = get(&kube, "deployment", "beta", "w1").unwrap();
    assert_eq!(d["spec"]["replicas"], 2);

    // Once its owner deletes the foreign ConfigMap, ours is made.
    kube.kubectl(&["delete", "configmap", "-n", "alpha", "w1-config"]).unwrap();
    until(&kube, Duration::from_secs(15), "our configmap made once the name is free", CM, |o| {
        o.is_some_and(|o| o["data"]["message"] == "hello")
    })
    .await;
    r.wait_outcomes("configmap applied", |o| o.get(&cm_id) == Some(&Outcome::Applied)).await;
    assert!(get(&kube, "configmap", "alpha", "stray").is_some(), "the stray labelled ConfigMap was deleted");

    // A rendering the API server refuses is reported with its message; once
    // the Widget is fixed, it is applied at once (no backoff left over).
    let bad = json!({"apiVersion": "example.test/v1", "kind": "Widget", "metadata": {"name": "w2"},
                     "spec": {"message": "hi", "replicas": -1, "image": "registry.test/widget:1"}});
    c.create(WIDGETS, &bad).await.unwrap();
    r.render_from(&c).await;
    let w2 = ObjectId::new(ObjectKind::Deployment, "beta", "w2");
    let w2_config = ObjectId::new(ObjectKind::ConfigMap, "alpha", "w2-config");
    r.wait_outcomes("the invalid deployment refused with the server's message", |o| {
        refused(o, &w2, "spec.replicas")
            && refused(o, &w2, "must be greater than or equal to 0")
            && o.get(&w2_config) == Some(&Outcome::Applied)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kube.kubectl(&["patch", "widget", "w2", "--type=merge", "-p", r#"{"spec":{"replicas":1}}"#]).unwrap();
    r.render_from(&c).await;
    until(&kube, RESTORED_WITHIN, "the fixed deployment made", ("deployment", "beta", "w2"), |o| o.is_some()).await;
    r.wait_outcomes("w2 applied", |o| o.get(&w2) == Some(&Outcome::Applied)).await;
}
