//! The reporter's writes on pods: each pod's address annotations, `routed`
//! once the NB shows its port, and its attachments' annotations, in one
//! merge patch per pod.
//!
//! Work follows the change: a round looks only at the pods whose object
//! (the store's log, `kube::keyed`), port or attachments (the derived maps'
//! diff: persistent maps, only what two versions do not share is walked)
//! changed since the last round, and at those whose write failed. It looks
//! at every pod after a relist, a change of the model (the pods' subnets),
//! a log that no longer reaches back to the last round, and after a round
//! off the lead ([`Annotated::forget`]). A pod written is looked at again
//! when the watch brings it back changed.
//!
//! Ordering: each pod is written at most once per round and a round awaits
//! all its writes, so two writes of one pod are never in flight together;
//! the next round's write is against the newer object. A write carries the
//! pod's resourceVersion: one that loses a race (409) is tried again.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures_util::StreamExt as _;
use serde_json::{json, Value as Json};

use crate::ipam::PodAddress;
use crate::kinds::pod::attach;
use crate::kinds::pod::cni::{annotations_patch, routed_patch, ROUTED};
use crate::kube::client::KubeClient;
use crate::kube::keyed::Mark;
use crate::kube::resources::{name_of, Store};
use crate::model::derived::{AttachmentAddress, Derived, PodPort};
use crate::model::validate::Model;

/// Pod annotation PATCHes in flight at once (over the client's connection
/// pool). One at a time, a busy API server serves the daemon's writes behind
/// every other client's and the pods wait in that queue; a few in flight let
/// them keep pace with the creates.
const PATCHES_IN_FLIGHT: usize = 8;

/// Pods found carrying every annotation of their address, as the object
/// they were checked in (the store keeps a pod as an `Arc`: an unchanged pod
/// is the same `Arc`), under the model they were checked with; and what the
/// last round looked at, so that the next looks only at what changed.
#[derive(Default)]
pub(super) struct Annotated {
    model: Option<Arc<Model>>,
    pods: HashMap<String, Checked>,
    /// The derived facts of the last round.
    derived: Option<Arc<Derived>>,
    /// The store's pod log at the last round.
    mark: Option<Mark>,
    /// Pods whose write failed: looked at again next round.
    again: BTreeSet<String>,
}

/// A pod as checked, with the port and attachments it was checked against.
type Checked = (Arc<Json>, Option<Arc<PodPort>>, Option<Attached>);

/// A pod's attachment addresses as derived.
type Attached = Arc<Vec<AttachmentAddress>>;

impl Annotated {
    /// The next round looks at every pod.
    pub(super) fn forget(&mut self) {
        self.derived = None;
        self.mark = None;
    }

    /// The pods of `store` this round must look at: those with a port or
    /// attachments in `derived`, changed since the last round (or whose
    /// write failed), and not found done.
    pub(super) fn this_round<'s>(
        &mut self,
        model: &Arc<Model>,
        store: &'s Store,
        derived: &Arc<Derived>,
    ) -> Vec<(&'s String, &'s Arc<Json>)> {
        let same_model = self.model.as_ref().is_some_and(|m| Arc::ptr_eq(m, model) || **m == **model);
        if !same_model {
            self.pods.clear();
            self.model = Some(model.clone());
        }
        let changed = self.mark.filter(|_| same_model).and_then(|m| store.pods.changed_since(m));
        let mut keys: BTreeSet<String> = std::mem::take(&mut self.again);
        match (changed, self.derived.as_ref().filter(|_| same_model)) {
            (Some(changed), Some(last)) => {
                for key in changed {
                    if !store.pods.contains_key(key) {
                        self.pods.remove(key);
                    }
                    keys.insert(key.clone());
                }
                keys.extend(last.pods.diff(&derived.pods).map(|d| diff_key(d).clone()));
                keys.extend(last.attachments.diff(&derived.attachments).map(|d| diff_key(d).clone()));
            }
            _ => {
                if self.pods.len() > store.pods.len() {
                    self.pods.retain(|k, _| store.pods.contains_key(k));
                }
                keys.extend(derived.pods.keys().chain(derived.attachments.keys()).cloned());
            }
        }
        self.mark = Some(store.pods.mark());
        self.derived = Some(derived.clone());
        let mut out = vec![];
        for key in &keys {
            let (port, attached) = (derived.pods.get(key), derived.attachments.get(key));
            if port.is_none() && attached.is_none() {
                continue;
            }
            match store.pods.get_key_value(key) {
                Some((key, pod)) if !self.done(key, pod, port, attached) => out.push((key, pod)),
                Some(_) | None => {}
            }
        }
        out
    }

    fn done(&self, key: &str, pod: &Arc<Json>, port: Option<&Arc<PodPort>>, attached: Option<&Attached>) -> bool {
        self.pods.get(key).is_some_and(|(p, a, b)| Arc::ptr_eq(p, pod) && a.as_ref() == port && b.as_ref() == attached)
    }

    fn insert(&mut self, key: &str, pod: &Arc<Json>, port: Option<&Arc<PodPort>>, attached: Option<&Attached>) {
        self.pods.insert(key.to_string(), (pod.clone(), port.cloned(), attached.cloned()));
    }
}

fn diff_key<'a, K, V>(d: imbl::ordmap::DiffItem<'a, 'a, K, V>) -> &'a K {
    match d {
        imbl::ordmap::DiffItem::Add(k, _) | imbl::ordmap::DiffItem::Remove(k, _) => k,
        imbl::ordmap::DiffItem::Update { new: (k, _), .. } => k,
    }
}

/// Annotates the pods of `store` that need it (their addresses, `routed`);
/// true if something should be retried. First in every round: a pod waits
/// for these to start (its CNI does), while a status can wait.
pub(super) async fn annotate_pods(
    client: &KubeClient,
    store: &Store,
    pods: &Arc<Derived>,
    model: &Model,
    annotated: &mut Annotated,
) -> bool {
    let mut writes = vec![];
    for (key, pod) in &store.pods {
        let (port, attached) = (pods.pods.get(key), pods.attachments.get(key));
        if port.is_none() && attached.is_none() {
            continue; // a pod told about (an error), with nothing to annotate
        }
        let Some(patch) = pod_patch(pod, model, port, attached) else {
            annotated.insert(key, pod, port, attached);
            continue;
        };
        let path = format!("/api/v1/namespaces/{}/pods/{}", key.split_once('/').map_or("", |k| k.0), name_of(pod));
        writes.push((key, path, patch));
    }
    let mut writes = writes.into_iter();
    let mut in_flight = futures_util::stream::FuturesUnordered::new();
    let mut retry = false;
    loop {
        while in_flight.len() < PATCHES_IN_FLIGHT {
            let Some((key, path, patch)) = writes.next() else { break };
            in_flight.push(async move { (key, client.merge_patch_unread(&path, &patch).await) });
        }
        let Some((key, result)) = in_flight.next().await else { break };
        match result {
            Ok(()) => tracing::debug!(pod = %key, "pod annotated"),
            Err(e) if e.code() == 409 => {
                retry = true;
                annotated.again.insert(key.clone());
            }
            Err(e) if e.code() == 404 => {}
            Err(e) => {
                annotated.again.insert(key.clone());
                tracing::warn!(pod = %key, error = %e, "cannot annotate the pod");
            }
        }
    }
    retry
}

/// The merge patch that makes `pod` carry the annotations of its port
/// (with `routed`: the port is in the NB, the pass committed it, so the CNI
/// may go on) and of its attachments, in one write; `None` when it carries
/// them all. A port whose subnet the model does not hold is left as it is.
fn pod_patch(pod: &Json, model: &Model, port: Option<&Arc<PodPort>>, attached: Option<&Attached>) -> Option<Json> {
    let primary = port.and_then(|port| {
        let subnet = model.subnets.get(&port.subnet)?;
        let addr = &PodAddress { subnet: port.subnet.clone(), ips: port.ips.clone(), mac: port.mac.clone() };
        match annotations_patch(pod, subnet, addr) {
            Some(mut p) => {
                p["metadata"]["annotations"][ROUTED] = json!("true");
                Some(p)
            }
            None => routed_patch(pod),
        }
    });
    let missing = attached.map(|a| attach::annotations_missing(pod, model, a)).unwrap_or_default();
    if missing.is_empty() {
        return primary;
    }
    let mut patch = primary.unwrap_or_else(|| {
        let rv = pod.pointer("/metadata/resourceVersion").cloned().unwrap_or(Json::Null);
        json!({"metadata": {"resourceVersion": rv, "annotations": {}}})
    });
    if patch["metadata"]["resourceVersion"].is_null() {
        patch["metadata"].as_object_mut().expect("an object").remove("resourceVersion");
    }
    patch["metadata"]["annotations"].as_object_mut().expect("an object").extend(missing);
    Some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, rv: &str) -> Arc<Json> {
        Arc::new(json!({"metadata": {"namespace": "ns", "name": name, "resourceVersion": rv}}))
    }

    fn port(name: &str, ip: &str) -> Arc<PodPort> {
        Arc::new(PodPort {
            key: format!("ns/{name}"),
            pod: name.into(),
            namespace: "ns".into(),
            subnet: "s".into(),
            ips: vec![ip.parse().unwrap()],
            mac: "0a:00:00:00:00:01".into(),
            port_security: true,
        })
    }

    fn keys(round: Vec<(&String, &Arc<Json>)>) -> Vec<String> {
        round.into_iter().map(|(k, _)| k.clone()).collect()
    }

    /// What annotate_pods records of a pod found carrying everything.
    fn done(a: &mut Annotated, store: &Store, derived: &Derived, key: &str) {
        a.insert(key, &store.pods[key], derived.pods.get(key), None);
    }

    #[test]
    fn a_round_looks_only_at_the_pods_changed_since_the_last_one() {
        let model = Arc::new(Model::default());
        let mut store = Store::default();
        let mut derived = Derived::default();
        for (i, name) in ["p0", "p1", "p2"].into_iter().enumerate() {
            store.pods.insert(format!("ns/{name}"), pod(name, "1"));
            derived.pods.insert(format!("ns/{name}"), port(name, &format!("10.0.0.{}", i + 2)));
        }
        // A pod without a port has nothing to annotate.
        store.pods.insert("ns/other".into(), pod("other", "1"));
        let mut derived = Arc::new(derived);
        let mut a = Annotated::default();
        assert_eq!(keys(a.this_round(&model, &store, &derived)), ["ns/p0", "ns/p1", "ns/p2"], "the first: every pod");
        done(&mut a, &store, &derived, "ns/p0");
        done(&mut a, &store, &derived, "ns/p1");
        // p2 was written: nothing to look at until the watch brings it back.
        assert!(a.this_round(&model, &store, &derived).is_empty());
        store.pods.insert("ns/p2".into(), pod("p2", "2"));
        assert_eq!(keys(a.this_round(&model, &store, &derived)), ["ns/p2"], "the pod changed");
        done(&mut a, &store, &derived, "ns/p2");
        // A port changed (its subnet's address moved): that pod again.
        Arc::make_mut(&mut derived).pods.insert("ns/p1".into(), port("p1", "10.0.0.9"));
        assert_eq!(keys(a.this_round(&model, &store, &derived)), ["ns/p1"]);
        done(&mut a, &store, &derived, "ns/p1");
        assert!(a.this_round(&model, &store, &derived).is_empty());
        // A write that failed is looked at again, whatever changed.
        store.pods.insert("ns/p0".into(), pod("p0", "2"));
        assert_eq!(keys(a.this_round(&model, &store, &derived)), ["ns/p0"]);
        a.again.insert("ns/p0".into());
        assert_eq!(keys(a.this_round(&model, &store, &derived)), ["ns/p0"], "again");
        done(&mut a, &store, &derived, "ns/p0");
        // A pod gone is forgotten; one back under its name is looked at.
        store.pods.remove("ns/p1");
        assert!(a.this_round(&model, &store, &derived).is_empty());
        store.pods.insert("ns/p1".into(), pod("p1", "3"));
        assert_eq!(keys(a.this_round(&model, &store, &derived)), ["ns/p1"]);
        done(&mut a, &store, &derived, "ns/p1");
        // A relist, another model, or a round off the lead: every pod again.
        let all = ["ns/p0", "ns/p1", "ns/p2"];
        let objs: Vec<_> = store.pods.iter().map(|(k, v)| (k.clone(), Arc::new((**v).clone()))).collect();
        store.pods.replace_all(objs);
        assert_eq!(keys(a.this_round(&model, &store, &derived)), all, "relisted: new objects");
        for k in all {
            done(&mut a, &store, &derived, k);
        }
        assert!(a.this_round(&model, &store, &derived).is_empty());
        a.forget();
        assert!(a.this_round(&model, &store, &derived).is_empty(), "all looked at, all still done");
        let notice = crate::model::validate::Notice {
            kind: crate::model::object::Kind::Subnet,
            name: "s".into(),
            field: "spec.x".into(),
            effect: crate::model::validate::Effect::NoEffect,
            what: "none".into(),
        };
        let other = Arc::new(Model { notices: vec![notice], ..Model::default() });
        assert_eq!(keys(a.this_round(&other, &store, &derived)), all, "another model");
    }
}
