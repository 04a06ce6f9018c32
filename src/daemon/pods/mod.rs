//! Pods' switch ports: the IPAM, driven by the pods in the store.
//!
//! The IPAM is rebuilt once, before its first allocation, from what already
//! exists: the pods' `allocated` annotations, then the NB's pod ports (a
//! port committed by a daemon that died before annotating its pod). After
//! that every change of the inputs allocates for new pods, releases the
//! addresses of pods that are gone or no longer want a port, and evicts pods
//! whose subnet changed under them. Nothing is persisted elsewhere.
//!
//! Work is proportional to the change: an update re-derives only the pods
//! whose object changed (the store keeps each pod as an `Arc`: an unchanged
//! pod is the same `Arc`), the pods that are gone, and the pods that got no
//! port for an error (an address freed since may be the one they ask for).
//! A change of the basis (the validated model, or the subnets held) re-derives
//! every pod, as the first update does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value as Json;

use crate::ipam::Ipam;
use crate::kube::pods::{annotation, is_deleting, requested, restore_from_annotations, wants_port, LOGICAL_SWITCH};
use crate::kube::resources::Store;
use crate::model::derived::{Derived, PodPort};
use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::Model;
use crate::ovsdb::Cache;
use crate::reconcile::desired::{OWNER_KEY, VENDOR, VENDOR_KEY};
use crate::reconcile::pod_rows::parse_addresses;

/// What the last derivation gave a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// It has an address (or keeps it, on a held subnet).
    Wanted,
    /// It wants no port.
    NoPort,
    /// It wants one but got none: derived again at every update.
    Failed,
}

/// A pod as last derived: the object it was derived from, and the outcome.
struct Seen {
    pod: Arc<Json>,
    outcome: Outcome,
}

/// What every pod's derivation depends on besides the pod itself.
struct Basis {
    model: Arc<Model>,
    held: BTreeSet<String>,
}

#[derive(Default)]
pub struct PodPorts {
    ipam: Option<Ipam>,
    /// The last error per pod, so that each is logged once.
    errors: BTreeMap<String, String>,
    /// The basis of the last update.
    basis: Option<Basis>,
    /// Every pod of the last update's store, as derived.
    seen: BTreeMap<String, Seen>,
    /// The ports as of the last update: the same `Arc` while they stay so.
    derived: Arc<Derived>,
    /// How many pods the last update derived (not carried over).
    rederived: usize,
}

impl PodPorts {
    /// Addresses in use in `subnet` (for its status).
    pub fn using(&self, subnet: &str) -> u64 {
        self.ipam.as_ref().map_or(0, |i| i.using(subnet))
    }

    /// Pods that want a port but get none, with the reason.
    pub fn errors(&self) -> Vec<(String, String)> {
        self.errors.iter().map(|(k, e)| (k.clone(), e.clone())).collect()
    }

    /// How many pods the last update derived anew.
    pub fn rederived(&self) -> usize {
        self.rederived
    }

    /// The pods' ports of `store`, allocating and releasing.
    /// The NB (`nb`) is read once, for the first restore.
    /// `held`: subnets refused this pass but not deleted; their pods keep
    /// their addresses (and, by the caller's protection, their ports).
    pub fn update(&mut self, store: &Store, model: &Arc<Model>, nb: &Cache, held: &BTreeSet<String>) -> Arc<Derived> {
        let ipam = self.ipam.get_or_insert_with(|| restored(store, model, nb));
        let same_basis = self
            .basis
            .as_ref()
            .is_some_and(|b| (Arc::ptr_eq(&b.model, model) || *b.model == **model) && b.held == *held);
        if !same_basis {
            for e in ipam.sync_subnets_holding(model, held).evicted {
                tracing::warn!(evicted = %e, "pod address released: its subnet changed");
            }
            // Every pod is derived anew.
            self.seen.clear();
            self.derived = Arc::default();
            self.basis = Some(Basis { model: model.clone(), held: held.clone() });
        }
        self.rederived = 0;
        // Both maps are ordered by key: walk them side by side (reading
        // only), for the pods that are new, changed, failed or gone.
        let mut gone: Vec<String> = vec![];
        let mut todo: Vec<(&String, &Arc<Json>)> = vec![];
        let mut old = self.seen.iter().peekable();
        for (key, pod) in &store.pods {
            while let Some((k, _)) = old.next_if(|(k, _)| *k < key) {
                gone.push(k.clone());
            }
            match old.next_if(|(k, _)| *k == key) {
                Some((_, s)) if Arc::ptr_eq(&s.pod, pod) && s.outcome != Outcome::Failed => {}
                _ => todo.push((key, pod)),
            }
        }
        gone.extend(old.map(|(k, _)| k.clone()));
        // The pods gone first: a new pod may ask for an address they held.
        for key in &gone {
            self.seen.remove(key);
            self.release(key);
        }
        let ipam = self.ipam.as_mut().expect("restored above");
        let mut release: Vec<String> = vec![];
        for (key, pod) in todo {
            self.rederived += 1;
            let (outcome, port) = derive_one(ipam, &mut self.errors, key, pod, model, held);
            if self.derived.pods.get(key) != port.as_ref() {
                let pods = &mut Arc::make_mut(&mut self.derived).pods;
                match port {
                    Some(p) => pods.insert(key.clone(), p),
                    None => pods.remove(key),
                };
            }
            if outcome != Outcome::Wanted {
                release.push(key.clone());
            }
            self.seen.insert(key.clone(), Seen { pod: pod.clone(), outcome });
        }
        self.errors.retain(|k, _| store.pods.contains_key(k));
        if !same_basis {
            // Restored addresses of pods the store does not hold.
            let wanted = |k: &str| self.seen.get(k).is_some_and(|s| s.outcome == Outcome::Wanted);
            release = ipam.pods().map(|(k, _)| k).filter(|k| !wanted(k)).map(str::to_string).collect();
        }
        for key in &release {
            self.release(key);
        }
        self.derived.clone()
    }

    /// Releases `key`'s address and drops its port.
    fn release(&mut self, key: &str) {
        if self.derived.pods.contains_key(key) {
            Arc::make_mut(&mut self.derived).pods.remove(key);
        }
        if let Some(a) = self.ipam.as_mut().and_then(|i| i.release(key)) {
            tracing::info!(pod = %key, ips = %a.ip_list(), "pod address released");
        }
    }
}

/// Derives one pod's port: allocates (or keeps, on a held subnet), records
/// or clears its error. The port, if it has one in the NB's terms.
fn derive_one(
    ipam: &mut Ipam,
    errors: &mut BTreeMap<String, String>,
    key: &str,
    pod: &Json,
    model: &Model,
    held: &BTreeSet<String>,
) -> (Outcome, Option<Arc<PodPort>>) {
    let on_held = ipam.lookup(key).map(|a| a.subnet.as_str()).or_else(|| annotation(pod, LOGICAL_SWITCH));
    if on_held.is_some_and(|s| held.contains(s)) && !is_deleting(pod) {
        // Its subnet waits or is refused: the pod keeps what it has.
        errors.remove(key);
        return (Outcome::Wanted, None);
    }
    let result = match wants_port(pod, model) {
        Ok(Some(subnet)) => {
            let (ip, mac) = requested(pod);
            ipam.allocate(key, &subnet, ip, mac).map(Some).map_err(|e| e.to_string())
        }
        Ok(None) => Ok(None),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(Some(addr)) => {
            errors.remove(key);
            (Outcome::Wanted, addr.port(key).map(Arc::new))
        }
        Ok(None) => {
            errors.remove(key);
            (Outcome::NoPort, None)
        }
        Err(e) => {
            if errors.get(key) != Some(&e) {
                tracing::error!(pod = %key, error = %e, "pod gets no port");
                errors.insert(key.to_string(), e);
            }
            (Outcome::Failed, None)
        }
    }
}

/// The IPAM as the pods' annotations and the NB's pod ports describe it.
fn restored(store: &Store, model: &Model, cache: &Cache) -> Ipam {
    let mut ipam = Ipam::new();
    ipam.sync_subnets(model);
    let mut restore = |key: &str, subnet: &str, ips: &[std::net::IpAddr], mac: &str, from: &str| {
        if ipam.lookup(key).is_some() {
            return;
        }
        match ipam.restore(key, subnet, ips, mac) {
            Ok(_) => tracing::debug!(pod = %key, from, "address restored"),
            Err(e) => tracing::warn!(pod = %key, from, error = %e, "address not restored"),
        }
    };
    for (key, pod) in &store.pods {
        if let Some((subnet, ips, mac)) = restore_from_annotations(pod) {
            restore(key, &subnet, &ips, &mac, "annotations");
        }
    }
    let ports = cache.table("Logical_Switch_Port").into_iter().flat_map(|t| t.by_external_id(VENDOR_KEY, VENDOR));
    for r in ports {
        let Some(pod) = r.external_id(OWNER_KEY).and_then(ObjectKey::from_owner_tag) else { continue };
        if pod.kind != Kind::Pod {
            continue;
        }
        let key = &pod.qualified_name();
        let Some(subnet) = r.external_id("ls") else { continue };
        let first = r.get("addresses").and_then(|v| v.atoms().first()).and_then(|a| a.as_str());
        if let Some((mac, ips)) = first.and_then(parse_addresses) {
            restore(key, subnet, &ips, &mac, "northbound");
        }
    }
    ipam
}

#[cfg(test)]
mod tests;
