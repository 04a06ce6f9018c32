//! Pods' switch ports: the IPAM, driven by the pods in the store.
//!
//! The IPAM is rebuilt once, before its first allocation, from what already
//! exists: the pods' `allocated` annotations, then the NB's pod ports (a
//! port committed by a daemon that died before annotating its pod). After
//! that every change of the inputs allocates for new pods, releases the
//! addresses of pods that are gone or no longer want a port, and evicts pods
//! whose subnet changed under them. Nothing is persisted elsewhere.
//!
//! A pod whose subnet is refused at start cannot be restored then (the IPAM
//! knows only valid subnets), nor one whose subnet was changed while the
//! daemon was down so that its address no longer fits: its address waits in
//! `pending` and is restored as soon as the subnet takes it, before anyone
//! else allocates in it, so a pod created meanwhile cannot be given it. A
//! subnet that would not take it is refused meanwhile (`would_evict`).

use std::collections::{BTreeMap, BTreeSet};

use crate::ipam::{Ipam, IpamError, PodAddress, Refusal};
use crate::kube::pods::{annotation, is_deleting, requested, restore_from_annotations, wants_port, LOGICAL_SWITCH};
use crate::kube::resources::Store;
use crate::model::derived::Derived;
use crate::model::names::{pod_port_taken, switch_port_name, NbState};
use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::Model;
use crate::ovsdb::{Cache, Client};
use crate::reconcile::desired::{OWNER_KEY, VENDOR, VENDOR_KEY};
use crate::reconcile::pod_rows::parse_addresses;

/// An address read at start for a subnet the IPAM did not know then.
struct Restore {
    key: String,
    ips: Vec<std::net::IpAddr>,
    mac: String,
    from: &'static str,
}

#[derive(Default)]
pub struct PodPorts {
    ipam: Option<Ipam>,
    /// By subnet: addresses to restore once the subnet is valid.
    pending: BTreeMap<String, Vec<Restore>>,
    /// The last error per pod, so that each is logged once.
    errors: BTreeMap<String, String>,
}

impl PodPorts {
    /// Addresses in use in `subnet` (for its status).
    pub fn using(&self, subnet: &str) -> u64 {
        self.ipam.as_ref().map_or(0, |i| i.using(subnet))
    }

    /// Rebuilds the IPAM from what exists, once (see the module head).
    pub fn restore_once(&mut self, store: &Store, model: &Model, nb: &Client) {
        if self.ipam.is_none() {
            let (ipam, pending) = restored(store, model, &nb.cache());
            self.ipam = Some(ipam);
            self.pending = pending;
        }
    }

    /// The pods of `store` that `model` would take addresses from, by
    /// subnet: addresses that no longer fit a changed subnet (see
    /// [`Ipam::would_evict`]), and addresses waiting to be restored into a
    /// subnet that would not take them.
    pub fn would_evict(&self, store: &Store, model: &Model) -> BTreeMap<String, Vec<String>> {
        let Some(ipam) = &self.ipam else { return BTreeMap::new() };
        let mut out = ipam.would_evict(model);
        let waiting: Vec<_> = self.pending.iter().filter(|(s, _)| model.subnets.contains_key(*s)).collect();
        if waiting.is_empty() {
            return out;
        }
        // A trial on a copy that follows `model` already.
        let mut trial = ipam.clone();
        trial.sync_subnets(model);
        for (subnet, waiting) in waiting {
            for r in waiting.iter().filter(|r| store.pods.contains_key(&r.key) && ipam.lookup(&r.key).is_none()) {
                // A conflict between pods is the pods' (the later one is
                // allocated anew), not a reason to refuse the subnet.
                if trial.restore(&r.key, subnet, &r.ips, &r.mac).is_err_and(|e| waits_for_subnet(&e)) {
                    out.entry(subnet.clone()).or_default().push(r.key.clone());
                }
            }
        }
        out
    }

    /// Pods that want a port but get none, with the reason.
    pub fn errors(&self) -> Vec<(String, String)> {
        self.errors.iter().map(|(k, e)| (k.clone(), e.clone())).collect()
    }

    /// The allocated address of every pod that has a port.
    pub fn addresses(&self, derived: &Derived) -> Vec<(String, PodAddress)> {
        let Some(ipam) = &self.ipam else { return vec![] };
        derived.pods.keys().filter_map(|k| ipam.lookup(k).map(|a| (k.clone(), a.clone()))).collect()
    }

    /// The pods' ports of `store`, allocating and releasing.
    /// The NB is read once, for the first restore.
    /// `held`: subnets refused this pass but not deleted; their pods keep
    /// their addresses (and, by the caller's protection, their ports).
    /// `names`: what the NB holds (pods' port names taken by subnets or
    /// foreign rows give those pods no port).
    pub fn update(
        &mut self,
        store: &Store,
        model: &Model,
        nb: &Client,
        held: &BTreeSet<String>,
        names: &NbState,
    ) -> Derived {
        let mut derived = Derived::default();
        let subnet_ports: BTreeMap<String, String> = model
            .subnets
            .values()
            .filter(|s| s.is_ovn)
            .map(|s| (switch_port_name(&s.name, &s.spec.vpc), format!("subnet {:?} (VPC {:?})", s.name, s.spec.vpc)))
            .collect();
        self.restore_once(store, model, nb);
        let ipam = self.ipam.as_mut().expect("restored above");
        for e in ipam.sync_subnets_holding(model, held).evicted {
            tracing::warn!(evicted = %e, "pod address released: its subnet changed");
        }
        let valid: Vec<String> = self.pending.keys().filter(|s| model.subnets.contains_key(*s)).cloned().collect();
        for subnet in valid {
            for r in self.pending.remove(&subnet).unwrap_or_default() {
                if ipam.lookup(&r.key).is_some() || !store.pods.contains_key(&r.key) {
                    continue;
                }
                match ipam.restore(&r.key, &subnet, &r.ips, &r.mac) {
                    Ok(_) => tracing::info!(pod = %r.key, from = r.from, "address restored: its subnet is valid now"),
                    Err(e) => tracing::warn!(pod = %r.key, from = r.from, error = %e, "address not restored"),
                }
            }
        }
        // A subnet neither valid nor refused is gone, and so are its pods' addresses.
        self.pending.retain(|s, _| held.contains(s));
        let mut wanted = BTreeSet::new();
        for (key, pod) in &store.pods {
            let on_held = ipam.lookup(key).map(|a| a.subnet.as_str()).or_else(|| annotation(pod, LOGICAL_SWITCH));
            if on_held.is_some_and(|s| held.contains(s)) && !is_deleting(pod) {
                // Its subnet waits or is refused: the pod keeps what it has.
                self.errors.remove(key);
                wanted.insert(key.clone());
                continue;
            }
            let result = match wants_port(pod, model) {
                Ok(Some(subnet)) => match pod_port_taken(key, &subnet_ports, names) {
                    Some(why) => Err(why),
                    None => {
                        let (ip, mac) = requested(pod);
                        ipam.allocate(key, &subnet, ip, mac).map(Some).map_err(|e| e.to_string())
                    }
                },
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(Some(addr)) => {
                    self.errors.remove(key);
                    wanted.insert(key.clone());
                    if let Some(port) = addr.port(key) {
                        derived.pods.insert(key.clone(), port);
                    }
                }
                Ok(None) => {
                    self.errors.remove(key);
                }
                Err(e) => {
                    if self.errors.get(key) != Some(&e) {
                        tracing::error!(pod = %key, error = %e, "pod gets no port");
                        self.errors.insert(key.clone(), e);
                    }
                }
            }
        }
        let held: Vec<String> = ipam.pods().map(|(k, _)| k.to_string()).filter(|k| !wanted.contains(k)).collect();
        for key in held {
            if let Some(a) = ipam.release(&key) {
                tracing::info!(pod = %key, ips = %a.ip_list(), "pod address released");
            }
        }
        self.errors.retain(|k, _| store.pods.contains_key(k));
        derived
    }
}

/// A restore that fails for the subnet's sake, not the pod's: the subnet is
/// refused now, or was changed (while the daemon was down) so that the
/// address no longer fits. The address waits; a conflict between pods does not.
fn waits_for_subnet(e: &IpamError) -> bool {
    match e {
        IpamError::UnknownSubnet { .. } => true,
        IpamError::Refused { reason, .. } => match reason {
            Refusal::Outside { .. } | Refusal::NetworkAddress | Refusal::LastAddress | Refusal::Gateway => true,
            Refusal::Excluded | Refusal::Taken { .. } => false,
        },
        IpamError::Malformed { .. }
        | IpamError::MacTaken { .. }
        | IpamError::Exhausted { .. }
        | IpamError::NoMac { .. }
        | IpamError::AlreadyAllocated { .. } => false,
    }
}

/// The IPAM as the pods' annotations and the NB's pod ports describe it,
/// and the addresses of subnets it does not know (refused now), by subnet.
fn restored(store: &Store, model: &Model, cache: &Cache) -> (Ipam, BTreeMap<String, Vec<Restore>>) {
    let mut ipam = Ipam::new();
    let mut pending: BTreeMap<String, Vec<Restore>> = BTreeMap::new();
    // The annotations come first; the NB's port of the same pod is not a second address.
    let mut waiting: BTreeSet<String> = BTreeSet::new();
    ipam.sync_subnets(model);
    let mut restore = |key: &str, subnet: &str, ips: &[std::net::IpAddr], mac: &str, from: &'static str| {
        if ipam.lookup(key).is_some() || waiting.contains(key) {
            return;
        }
        match ipam.restore(key, subnet, ips, mac) {
            Ok(_) => tracing::debug!(pod = %key, from, "address restored"),
            Err(e) if waits_for_subnet(&e) => {
                tracing::info!(pod = %key, from, subnet, error = %e, "address kept until its subnet takes it");
                waiting.insert(key.to_string());
                let r = Restore { key: key.to_string(), ips: ips.to_vec(), mac: mac.to_string(), from };
                pending.entry(subnet.to_string()).or_default().push(r);
            }
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
    (ipam, pending)
}
