//! Status and Events against the testbed API server over HTTPS, with the
//! project's CRDs: what `status::report` writes is kept by the server's
//! schema, shows in `kubectl get`, leaves spec and generation alone, is not
//! written again when nothing changed, and a rejection gives one Event.

use ovn_vpcd::kube::client::KubeClient;
use ovn_vpcd::kube::crds;
use ovn_vpcd::kube::status::{report, Outcome, StatusFields, SubnetUsage, VpcFields};
use ovn_vpcd::model::object::{Kind, ObjectKey};
use ovn_vpcd::model::validate::{validate, Rejection};
use ovn_vpcd::model::{SubnetSpec, VpcSpec};
use ovn_vpcd::testbed::Kube;
use serde_json::{json, Value as Json};

const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T10:05:00Z";
const T2: &str = "2024-05-01T10:10:00Z";
const SUBNETS: &str = "/apis/kubeovn.io/v1/subnets";
const VPCS: &str = "/apis/kubeovn.io/v1/vpcs";

/// The testbed server with the project's CRDs (written as JSON, as `ovn-vpcd crds --json-dir` does).
fn start() -> (Kube, KubeClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (plural, yaml) in crds::CRDS {
        let j = crds::to_json(yaml).unwrap();
        std::fs::write(dir.path().join(format!("{plural}.json")), j.to_string()).unwrap();
    }
    let kube = Kube::start(Some(dir.path()), &["--quiet"]).unwrap();
    let client = KubeClient::from_kubeconfig(&kube.kubeconfig(), None).unwrap();
    (kube, client, dir)
}

fn kubectl_json(kube: &Kube, args: &[&str]) -> Json {
    serde_json::from_str(&kube.kubectl(args).unwrap()).unwrap()
}

fn cond<'a>(o: &'a Json, kind: &str) -> &'a Json {
    let cs = o["status"]["conditions"].as_array().unwrap_or_else(|| panic!("no conditions: {o}"));
    cs.iter().find(|c| c["type"] == kind).unwrap_or_else(|| panic!("no {kind} condition: {o}"))
}

/// The first row's cell under `name` in kubectl's table (cells may be empty,
/// so columns are found by the header's offsets).
fn cell<'a>(table: &'a str, name: &str) -> &'a str {
    let mut lines = table.lines();
    let (header, row) = (lines.next().unwrap(), lines.next().unwrap());
    let start = header.find(&format!("{name} ")).or_else(|| header.strip_suffix(name).map(str::len));
    let start = start.unwrap_or_else(|| panic!("no column {name}: {table}"));
    let end = header[start..].find(char::is_whitespace).map_or(header.len(), |w| {
        start + w + header[start + w..].find(|c: char| !c.is_whitespace()).unwrap_or(header.len() - start - w)
    });
    row.get(start..end.min(row.len())).unwrap_or("").trim()
}

fn events_about(kube: &Kube, name: &str) -> Vec<Json> {
    let list = kubectl_json(kube, &["get", "events", "-n", "default", "-o", "json"]);
    list["items"].as_array().unwrap().iter().filter(|e| e["involvedObject"]["name"] == name).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subnet_status_counts_conditions_and_one_event_per_rejection() {
    let (kube, c, _crds) = start();
    let spec = json!({"vpc": "v1", "cidrBlock": "10.0.1.0/24", "excludeIps": ["10.0.1.2..10.0.1.10"]});
    let body = json!({"apiVersion": "kubeovn.io/v1", "kind": "Subnet", "metadata": {"name": "s1"}, "spec": spec});
    let created = c.create(SUBNETS, &body).await.unwrap();
    let path = format!("{SUBNETS}/s1");

    // 254 hosts - gateway .1 - .2..10 (9) - 3 in use = 241.
    let subnet_spec: SubnetSpec = serde_json::from_value(created["spec"].clone()).unwrap();
    let (model, rejected) = validate(&[("v1".into(), VpcSpec::default())], &[("s1".into(), subnet_spec)]);
    assert!(rejected.is_empty(), "{rejected:?}");
    let usage = SubnetUsage::of(&model.subnets["s1"], 3);
    let fields = StatusFields::Subnet(usage);

    let r = report(&c, Kind::Subnet, &created, &Outcome::Ready, &fields, T0).await.unwrap();
    assert!(r.written.is_some() && !r.event, "Ready: a write and no Event");
    let got = kubectl_json(&kube, &["get", "subnet", "s1", "-o", "json"]);
    let st = &got["status"];
    assert_eq!(
        (
            st["v4availableIPs"].as_f64(),
            st["v4usingIPs"].as_f64(),
            st["v6availableIPs"].as_f64(),
            st["v6usingIPs"].as_f64()
        ),
        (Some(241.0), Some(3.0), Some(0.0), Some(0.0)),
        "{st}"
    );
    assert_eq!(st["observedGeneration"], 1);
    let ready = cond(&got, "Ready");
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("True"), Some("Reconciled")));
    assert_eq!((ready["lastTransitionTime"].as_str(), ready["observedGeneration"].as_i64()), (Some(T0), Some(1)));
    assert_eq!(cond(&got, "Validated")["status"], "True");
    assert_eq!(got["spec"], created["spec"], "a status write leaves spec alone");
    assert_eq!(got["metadata"]["generation"], 1, "and the generation");

    // The printer columns read the counts.
    let table = kube.kubectl(&["get", "subnet", "s1"]).unwrap();
    let col = |name: &str| cell(&table, name);
    assert_eq!((col("V4USED"), col("V4AVAILABLE"), col("V6USED")), ("3", "241", "0"), "{table}");

    // The same outcome again: nothing sent, resourceVersion unchanged.
    let rv = got["metadata"]["resourceVersion"].clone();
    let r = report(&c, Kind::Subnet, &got, &Outcome::Ready, &fields, T1).await.unwrap();
    assert!(r.written.is_none() && !r.event);
    assert_eq!(c.get(&path).await.unwrap()["metadata"]["resourceVersion"], rv);

    // A rejection: conditions flip, counts stay, one Warning Event.
    let rej = Rejection::new(ObjectKey::subnet("s1"), "excludeIps[0]", "not inside");
    let r = report(&c, Kind::Subnet, &got, &Outcome::Rejected(rej.clone()), &StatusFields::None, T1).await.unwrap();
    assert!(r.event);
    let written = r.written.unwrap();
    let got = kubectl_json(&kube, &["get", "subnet", "s1", "-o", "json"]);
    for kind in ["Ready", "Validated"] {
        let c = cond(&got, kind);
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str(), c["message"].as_str(), c["lastTransitionTime"].as_str()),
            (Some("False"), Some("ValidationFailed"), Some("excludeIps[0]: not inside"), Some(T1))
        );
    }
    assert_eq!(got["status"]["v4availableIPs"].as_f64(), Some(241.0));
    let evs = events_about(&kube, "s1");
    assert_eq!(evs.len(), 1, "{evs:?}");
    let e = &evs[0];
    assert_eq!(
        e["involvedObject"],
        json!({"apiVersion": "kubeovn.io/v1", "kind": "Subnet", "name": "s1",
               "uid": created["metadata"]["uid"], "resourceVersion": written["metadata"]["resourceVersion"]})
    );
    assert_eq!((e["type"].as_str(), e["reason"].as_str()), (Some("Warning"), Some("ValidationFailed")));
    assert_eq!(e["message"], "excludeIps[0]: not inside");
    assert_eq!(e["source"]["component"], "ovn-vpcd");
    assert_eq!(e["metadata"]["namespace"], "default");

    // The same rejection on a later pass: no write, no second Event.
    let cur = c.get(&path).await.unwrap();
    let r = report(&c, Kind::Subnet, &cur, &Outcome::Rejected(rej), &StatusFields::None, T2).await.unwrap();
    assert!(r.written.is_none() && !r.event);
    assert_eq!(events_about(&kube, "s1").len(), 1);

    // A stale read: the resourceVersion precondition refuses the write.
    let e = report(&c, Kind::Subnet, &created, &Outcome::Ready, &fields, T2).await.unwrap_err();
    assert_eq!(e.code(), 409, "{e}");

    // A spec change is observed: generation 2, Ready again from T2.
    c.merge_patch(&path, &json!({"spec": {"excludeIps": []}})).await.unwrap();
    let cur = c.get(&path).await.unwrap();
    assert_eq!(cur["metadata"]["generation"], 2);
    let usage = StatusFields::Subnet(SubnetUsage { v4_available: 250, v4_using: 3, ..Default::default() });
    report(&c, Kind::Subnet, &cur, &Outcome::Ready, &usage, T2).await.unwrap().written.unwrap();
    let got = c.get(&path).await.unwrap();
    assert_eq!(
        (got["status"]["observedGeneration"].as_i64(), got["metadata"]["generation"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(cond(&got, "Ready")["lastTransitionTime"], T2);
    assert_eq!(cond(&got, "Validated")["observedGeneration"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpc_status_fields_and_foreign_conditions() {
    let (kube, c, _crds) = start();
    let body = json!({"apiVersion": "kubeovn.io/v1", "kind": "Vpc", "metadata": {"name": "v1"},
                      "spec": {"enableExternal": true}});
    c.create(VPCS, &body).await.unwrap();
    let path = format!("{VPCS}/v1");
    // Someone else's condition, written before ours.
    let foreign = json!({"type": "Peered", "status": "True", "reason": "Other", "message": "m",
                         "lastTransitionTime": "2020-01-01T00:00:00Z"});
    c.merge_patch(&format!("{path}/status"), &json!({"status": {"conditions": [foreign.clone()]}})).await.unwrap();

    let cur = c.get(&path).await.unwrap();
    let fields = StatusFields::Vpc(VpcFields {
        standby: true,
        router: "v1".into(),
        subnets: vec!["sa".into(), "sb".into()],
        default_logical_switch: "sa".into(),
        enable_external: true,
    });
    report(&c, Kind::Vpc, &cur, &Outcome::Pending, &fields, T0).await.unwrap().written.unwrap();
    let cur = c.get(&path).await.unwrap();
    assert_eq!(cond(&cur, "Ready")["status"], "Unknown");
    report(&c, Kind::Vpc, &cur, &Outcome::Ready, &fields, T1).await.unwrap().written.unwrap();

    let got = kubectl_json(&kube, &["get", "vpc", "v1", "-o", "json"]);
    let st = &got["status"];
    assert_eq!(st["conditions"][0], foreign, "a foreign condition is kept, in place");
    assert_eq!(cond(&got, "Ready")["lastTransitionTime"], T1);
    assert_eq!(cond(&got, "Validated")["lastTransitionTime"], T0);
    assert_eq!(
        (
            &st["standby"],
            &st["default"],
            &st["router"],
            &st["subnets"],
            &st["defaultLogicalSwitch"],
            &st["enableExternal"]
        ),
        (&json!(true), &json!(false), &json!("v1"), &json!(["sa", "sb"]), &json!("sa"), &json!(true)),
        "{st}"
    );
    let table = kube.kubectl(&["get", "vpc", "v1"]).unwrap();
    let row = table.lines().nth(1).unwrap();
    assert!(row.contains("true") && row.contains("sa") && row.contains("sb"), "{table}");
    assert!(events_about(&kube, "v1").is_empty(), "no Event for a VPC that is fine");
}
