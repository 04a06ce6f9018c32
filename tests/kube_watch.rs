//! The watcher against the testbed API server over real HTTPS: paginated
//! list, watch, a cut connection and a forced 410 — and no event missed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ovn_vpcd::kube::client::KubeClient;
use ovn_vpcd::kube::driver::{watch, WatchOptions};
use ovn_vpcd::kube::watcher::Event;
use ovn_vpcd::testbed::Kube;
use serde_json::{json, Value as Json};
use tokio::sync::mpsc;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn cm(name: &str, v: &str) -> Json {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": v}})
}

/// What a user of the watcher believes exists: name → data.v.
#[derive(Default)]
struct View(BTreeMap<String, String>, usize);

impl View {
    fn apply(&mut self, e: Event) {
        let key = |o: &Json| o.pointer("/metadata/name").and_then(Json::as_str).unwrap_or("").to_string();
        let val = |o: &Json| o.pointer("/data/v").and_then(Json::as_str).unwrap_or("").to_string();
        match e {
            Event::Restarted(all) => {
                self.0 = all.iter().map(|o| (key(o), val(o))).collect();
                self.1 += 1;
            }
            Event::Applied(o) => {
                self.0.insert(key(&o), val(&o));
            }
            Event::Deleted(o) => {
                self.0.remove(&key(&o));
            }
        }
    }
}

async fn server_view(c: &KubeClient) -> BTreeMap<String, String> {
    let list = c.get(CMS).await.unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (o["metadata"]["name"].as_str().unwrap().to_string(), o["data"]["v"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

/// Applies events until the view equals the server's list (bounded).
async fn converge(rx: &mut mpsc::Receiver<Event>, view: &mut View, c: &KubeClient) {
    let want = server_view(c).await;
    let r = tokio::time::timeout(Duration::from_secs(20), async {
        while view.0 != want {
            view.apply(rx.recv().await.expect("watcher ended"));
        }
    })
    .await;
    assert!(r.is_ok(), "watcher view {:?} never matched server {:?}", view.0, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_missed_across_cuts_and_410() {
    let kube = Kube::start(None, &[]).unwrap();
    let c = Arc::new(KubeClient::from_kubeconfig(&kube.kubeconfig(), None).unwrap());
    for i in 0..5 {
        c.create(CMS, &cm(&format!("cm{i}"), "0")).await.unwrap();
    }
    // Capacity 1: when the test stops reading, the watcher stalls at once.
    let (tx, mut rx) = mpsc::channel(1);
    let opts = WatchOptions { page_size: 2, timeout_seconds: 30, ..WatchOptions::default() };
    let task = tokio::spawn(watch(c.clone(), CMS.to_string(), opts, tx));
    let mut view = View::default();
    match rx.recv().await.unwrap() {
        e @ Event::Restarted(_) => view.apply(e),
        e => panic!("first event must be the full list: {e:?}"),
    }
    assert_eq!(view.0.len(), 5, "all pages of the list");

    c.merge_patch(&format!("{CMS}/cm1"), &json!({"data": {"v": "1"}})).await.unwrap();
    c.delete(&format!("{CMS}/cm2")).await.unwrap();
    c.create(CMS, &cm("cm9", "9")).await.unwrap();
    converge(&mut rx, &mut view, &c).await;

    // The connection is cut; changes made meanwhile still arrive.
    c.create("/testbed/cut-watches", &json!({})).await.unwrap();
    c.create(CMS, &cm("during-cut", "x")).await.unwrap();
    c.delete(&format!("{CMS}/cm3")).await.unwrap();
    converge(&mut rx, &mut view, &c).await;
    assert_eq!(view.1, 1, "a cut watch resumes from its resourceVersion, no relist");

    // The watcher falls behind (nobody reads its events), its connection is
    // cut, and the history it would resume from is compacted away: the
    // reopen gets 410 Gone and the watcher relists.
    c.create(CMS, &cm("stall1", "y")).await.unwrap();
    c.create(CMS, &cm("stall2", "y")).await.unwrap();
    c.create(CMS, &cm("stall3", "y")).await.unwrap();
    c.create("/testbed/cut-watches", &json!({})).await.unwrap();
    c.delete(&format!("{CMS}/cm4")).await.unwrap();
    c.merge_patch(&format!("{CMS}/cm0"), &json!({"data": {"v": "after"}})).await.unwrap();
    c.create("/testbed/compact", &json!({})).await.unwrap();
    converge(&mut rx, &mut view, &c).await;
    assert_eq!(view.0.get("cm0").map(String::as_str), Some("after"));
    assert!(!view.0.contains_key("cm4"));
    assert_eq!(view.1, 2, "the 410 forced exactly one relist");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_carry_the_status_reason() {
    let kube = Kube::start(None, &[]).unwrap();
    let c = KubeClient::from_kubeconfig(&kube.kubeconfig(), None).unwrap();
    let e = c.get(&format!("{CMS}/nope")).await.unwrap_err();
    assert_eq!((e.code(), e.reason()), (404, "NotFound"));
    c.create(CMS, &cm("a", "1")).await.unwrap();
    let e = c.create(CMS, &cm("a", "1")).await.unwrap_err();
    assert_eq!((e.code(), e.reason()), (409, "AlreadyExists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relists_after_the_server_lost_its_history() {
    let kube = Kube::start(None, &[]).unwrap();
    let c = Arc::new(KubeClient::from_kubeconfig(&kube.kubeconfig(), None).unwrap());
    for i in 0..30 {
        c.create(CMS, &cm(&format!("old{i}"), "0")).await.unwrap();
    }
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(watch(
        c.clone(),
        CMS.to_string(),
        WatchOptions { page_size: 10, timeout_seconds: 30, ..WatchOptions::default() },
        tx,
    ));
    let mut view = View::default();
    converge(&mut rx, &mut view, &c).await;
    // The server restarts empty: our resourceVersion is now newer than its
    // own (504 ResourceVersionTooLarge), which only a relist can cure.
    kube.restart().unwrap();
    c.create(CMS, &cm("new", "1")).await.unwrap();
    converge(&mut rx, &mut view, &c).await;
    assert_eq!(view.0.keys().collect::<Vec<_>>(), vec!["new"]);
    assert_eq!(view.1, 2, "one relist after the restart");
    task.abort();
}
