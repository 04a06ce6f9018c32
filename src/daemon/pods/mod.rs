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
//!
//! Work is proportional to the change: an update re-derives only the pods
//! whose object changed (the store keeps each pod as an `Arc`: an unchanged
//! pod is the same `Arc`), the pods that are gone, and the pods that got no
//! port for an error (an address freed since may be the one they ask for).
//! A change of the basis (the validated model, the subnets held, or the
//! switch port names foreign rows hold in the NB) re-derives every pod, as
//! the first update does; a pending address is restored only then (its
//! subnet becomes valid: the model changed).
//!
//! A pod's Multus attachments (`attach`) are derived with it, in the same
//! IPAM under keys of their own, and restored from their own annotations;
//! their errors are the pod's too, and retried as its own are.
//!
//! The IptablesEIPs' addresses (`eips`) live in the same IPAM under keys of
//! their own too: restored first at start, from each EIP's `status.ip`,
//! before any pod or attachment, so a running gateway's EIP is never given
//! to a pod; derived at every update before the pods, so a pod created
//! together with an EIP asking for the same address does not get it.
//!
//! The VpcNatGateways' addresses (`gateways`: each `lanIp`, held for the
//! gateway while its pod is away, and the old form's inline EIPs) live
//! there too, derived before the IptablesEIPs at every update (an inline
//! EIP is fixed; an IptablesEIP may take any free address) and again after
//! the update's releases, so no pod allocates while a gateway's address is
//! free; the inline EIPs of a gateway accepted for its current generation
//! are restored at start right after the EIPs (see `gateways`' head for why).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value as Json;

use crate::ipam::{Ipam, IpamError, Refusal};
use crate::kinds::pod::attach::{self as attachment, pod_of};
use crate::kinds::pod::cni::{
    annotation, is_deleting, requested, restore_from_annotations, wants_port, LOGICAL_SWITCH,
};
use crate::kinds::pod::rows::parse_addresses;
use crate::kube::keyed::Mark;
use crate::kube::resources::Store;
use crate::model::derived::{Derived, PodPort};
use crate::model::names::{pod_port_taken, switch_port_name, NameTable, NbState};
use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::Model;
use crate::nb::rows::{OWNER_KEY, VENDOR, VENDOR_KEY};
use crate::ovsdb::Cache;

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
    /// Its port or an attachment failed: derived again at every update.
    retry: bool,
}

/// What every pod's derivation depends on besides the pod itself.
struct Basis {
    model: Arc<Model>,
    held: BTreeSet<String>,
    nb: Arc<NbState>,
    /// Switch port names held by foreign rows (no pod gets one of them).
    foreign_ports: BTreeSet<String>,
    /// The valid subnets' switch port names, and which subnet derives each.
    subnet_ports: BTreeMap<String, String>,
}

impl Basis {
    fn new(model: &Arc<Model>, held: &BTreeSet<String>, nb: &Arc<NbState>) -> Basis {
        let foreign_ports = nb.foreign_names(NameTable::SwitchPort);
        let subnet_ports = model
            .subnets
            .values()
            .filter(|s| s.is_ovn)
            .map(|s| (switch_port_name(&s.name, &s.spec.vpc), format!("subnet {:?} (VPC {:?})", s.name, s.spec.vpc)))
            .collect();
        Basis { model: model.clone(), held: held.clone(), nb: nb.clone(), foreign_ports, subnet_ports }
    }

    /// The same basis: the NB compared by what pods' ports depend on only
    /// (an NB that differs in owned rows, as after every commit, is the same).
    /// When it is, the basis takes the new `model` and `nb` (equal, perhaps
    /// validated anew), so that the next update compares them by pointer.
    fn same(&mut self, model: &Arc<Model>, held: &BTreeSet<String>, nb: &Arc<NbState>) -> bool {
        let same = (Arc::ptr_eq(&self.model, model) || *self.model == **model)
            && self.held == *held
            && (Arc::ptr_eq(&self.nb, nb) || self.foreign_ports == nb.foreign_names(NameTable::SwitchPort));
        if same {
            self.model = model.clone();
            self.nb = nb.clone();
        }
        same
    }
}

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
    /// The last attachment errors per pod (`; `-joined).
    attach_errors: BTreeMap<String, String>,
    /// The basis of the last update.
    basis: Option<Basis>,
    /// Every pod of the last update's store, as derived.
    seen: BTreeMap<String, Seen>,
    /// The ports as of the last update: the same `Arc` while they stay so.
    derived: Arc<Derived>,
    /// How many pods the last update derived (not carried over).
    rederived: usize,
    /// Where the store's pod log was at the last update.
    mark: Option<Mark>,
    /// The pods whose last derivation failed (derived again every update).
    failed: BTreeSet<String>,
    /// Why an EIP of the last update's model holds no address (or not the
    /// one it asks for), by name.
    eip_errors: BTreeMap<String, String>,
    /// Why a gateway of the last update's model cannot have an address it
    /// names, by name: (field, reason).
    gateway_errors: BTreeMap<String, (String, String)>,
    /// Where each gateway's lanIp is known to live, by name
    /// (`gateways::Lans`): what a refused gateway keeps reserved.
    gateway_lans: gateways::Lans,
    /// The daemon's namespace, where a gateway's pod is by default (empty:
    /// [`crate::config::DEFAULT_NAMESPACE`]).
    workloads: String,
}

impl PodPorts {
    /// Addresses in use in `subnet` (for its status).
    pub fn using(&self, subnet: &str) -> u64 {
        self.ipam.as_ref().map_or(0, |i| i.using(subnet))
    }

    /// Rebuilds the IPAM from what exists, once (see the module head).
    pub fn restore_once(&mut self, store: &Store, model: &Model, nb: &Cache) {
        if self.ipam.is_none() {
            let (ipam, pending) = restored(store, model, nb);
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
            let pending = |r: &&Restore| store.pods.contains_key(pod_of(&r.key)) && ipam.lookup(&r.key).is_none();
            for r in waiting.iter().filter(pending) {
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
    /// Pods whose attachments get no address are there too, with theirs.
    pub fn errors(&self) -> Vec<(String, String)> {
        self.errors.iter().chain(&self.attach_errors).map(|(k, e)| (k.clone(), e.clone())).collect()
    }

    /// Why EIPs of the last update's model hold no address, or not the one
    /// they ask for (they keep the one they had), by name.
    pub fn eip_errors(&self) -> &BTreeMap<String, String> {
        &self.eip_errors
    }

    /// Why gateways of the last update's model cannot have their `lanIp`
    /// or an inline EIP, by name: (field, reason).
    pub fn gateway_errors(&self) -> &BTreeMap<String, (String, String)> {
        &self.gateway_errors
    }

    /// The daemon's namespace, where a gateway's pod is by default: which
    /// pod is a gateway's own depends on it (a change derives every pod anew).
    pub fn set_workloads(&mut self, namespace: &str) {
        if self.workloads() != namespace {
            self.workloads = namespace.to_string();
            self.basis = None;
        }
    }

    fn workloads(&self) -> &str {
        match self.workloads.is_empty() {
            true => crate::config::DEFAULT_NAMESPACE,
            false => &self.workloads,
        }
    }

    /// Who holds `ip` in `subnet` (an IPAM key: `<ns>/<pod>`, an
    /// attachment's `<ns>/<pod>@<provider>`, an EIP's `IptablesEIP/<name>`,
    /// a gateway's `VpcNatGateway/<gw>[/eips/<ip>]`).
    pub fn holder(&self, subnet: &str, ip: std::net::IpAddr) -> Option<String> {
        self.ipam.as_ref()?.holder(subnet, &ip).map(str::to_string)
    }

    /// How many pods the last update derived anew.
    pub fn rederived(&self) -> usize {
        self.rederived
    }

    /// The pods' ports of `store`, allocating and releasing.
    /// The NB (`nb`) is read once, for the first restore.
    /// `held`: subnets refused this pass but not deleted; their pods keep
    /// their addresses (and, by the caller's protection, their ports).
    /// `names`: what the NB holds (pods' port names taken by subnets or
    /// foreign rows give those pods no port).
    pub fn update(
        &mut self,
        store: &Store,
        model: &Arc<Model>,
        nb: &Cache,
        held: &BTreeSet<String>,
        names: &Arc<NbState>,
    ) -> Arc<Derived> {
        self.restore_once(store, model, nb);
        let same_basis = self.basis.as_mut().is_some_and(|b| b.same(model, held, names));
        if !same_basis {
            self.rebase(store, model, held, names);
        }
        self.rederived = 0;
        let (gone, todo) = match self.mark.filter(|_| same_basis).and_then(|m| store.pods.changed_since(m)) {
            Some(changed) => self.changed(store, changed),
            None => self.walk(store),
        };
        self.mark = Some(store.pods.mark());
        // The pods gone first: a new pod may ask for an address they held.
        for key in &gone {
            self.seen.remove(key);
            self.failed.remove(key);
            self.attach_errors.remove(key);
            self.release(key);
            self.release_attachments(key);
        }
        let workloads = self.workloads().to_string();
        let ipam = self.ipam.as_mut().expect("restored above");
        let gateways = gateways::derive(ipam, model, store, &workloads, &mut self.gateway_lans);
        let eips = eips::derive(ipam, model, store);
        if self.derived.eips != eips.addresses {
            Arc::make_mut(&mut self.derived).eips = eips.addresses;
        }
        for (name, e) in &eips.errors {
            if self.eip_errors.get(name) != Some(e) {
                tracing::error!(eip = %name, error = %e, "EIP gets no address");
            }
        }
        self.eip_errors = eips.errors;
        let b = self.basis.as_ref().expect("set above");
        let gateway = gateways::Context { model, store, workloads: &workloads };
        let basis = Inputs { model, held, names, subnet_ports: &b.subnet_ports, gateway };
        let mut release: Vec<String> = vec![];
        for (key, pod) in todo {
            self.rederived += 1;
            let (outcome, port) = derive_one(ipam, &mut self.errors, key, pod, &basis);
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
            let before = self.derived.attachments.get(key).cloned();
            let attached =
                attach::derive(ipam, key, pod, model, held, before.as_deref().map_or(&[][..], |v| v.as_slice()));
            if before.as_deref() != Some(&attached.addresses).filter(|a| !a.is_empty()) {
                let all = &mut Arc::make_mut(&mut self.derived).attachments;
                match attached.addresses.is_empty() {
                    true => all.remove(key),
                    false => all.insert(key.clone(), Arc::new(attached.addresses)),
                };
            }
            let retry = outcome == Outcome::Failed || !attached.errors.is_empty();
            if attached.errors.is_empty() {
                self.attach_errors.remove(key);
            } else {
                let e = attached.errors.join("; ");
                if self.attach_errors.get(key) != Some(&e) {
                    tracing::error!(pod = %key, error = %e, "pod attachment gets no address");
                    self.attach_errors.insert(key.clone(), e);
                }
            }
            if retry {
                self.failed.insert(key.clone());
            } else {
                self.failed.remove(key);
            }
            self.seen.insert(key.clone(), Seen { pod: pod.clone(), outcome, retry });
        }
        self.errors.retain(|k, _| store.pods.contains_key(k));
        self.attach_errors.retain(|k, _| store.pods.contains_key(k));
        if !same_basis {
            // Restored addresses of pods the store does not hold, or of
            // attachments no pod names.
            let attached = |pod: &str, provider: &str| {
                self.derived.attachments.get(pod).is_some_and(|v| v.iter().any(|a| a.provider == provider))
            };
            let wanted = |k: &str| match k.split_once('@') {
                _ if eips::eip_of_key(k).is_some() => true,         // `eips::derive` decides
                _ if gateways::gateway_of_key(k).is_some() => true, // `gateways::derive` decides
                Some((pod, provider)) => attached(pod, provider),
                None => self.seen.get(k).is_some_and(|s| s.outcome == Outcome::Wanted),
            };
            release = ipam.pods().map(|(k, _)| k).filter(|k| !wanted(k)).map(str::to_string).collect();
        }
        for key in &release {
            self.release(key);
        }
        // An address released just now (a gateway's pod gone) is reserved
        // again before anyone allocates.
        let ipam = self.ipam.as_mut().expect("restored above");
        let gateways = match release.is_empty() {
            true => gateways,
            false => gateways::derive(ipam, model, store, &workloads, &mut self.gateway_lans),
        };
        for (name, (field, e)) in &gateways.errors {
            if self.gateway_errors.get(name) != Some(&(field.clone(), e.clone())) {
                tracing::error!(gateway = %name, field = %field, error = %e, "gateway address cannot be had");
            }
        }
        self.gateway_errors = gateways.errors;
        if let Some(ipam) = self.ipam.as_ref() {
            gateways::learn(ipam, model, store, &mut self.gateway_lans);
        }
        self.derived.clone()
    }

    /// The pods gone and the pods to derive, of every pod in `store`: both
    /// maps are ordered by key, walked side by side (reading only).
    fn walk<'s>(&self, store: &'s Store) -> (Vec<String>, Vec<(&'s String, &'s Arc<Json>)>) {
        let mut gone: Vec<String> = vec![];
        let mut todo = vec![];
        let mut old = self.seen.iter().peekable();
        for (key, pod) in &store.pods {
            while let Some((k, _)) = old.next_if(|(k, _)| *k < key) {
                gone.push(k.clone());
            }
            match old.next_if(|(k, _)| *k == key) {
                Some((_, s)) if Arc::ptr_eq(&s.pod, pod) && !s.retry => {}
                _ => todo.push((key, pod)),
            }
        }
        gone.extend(old.map(|(k, _)| k.clone()));
        (gone, todo)
    }

    /// As [`PodPorts::walk`], of the pods the store's log names since the
    /// last update and the pods that failed: work in proportion to the change.
    fn changed<'s>(
        &self,
        store: &'s Store,
        changed: impl Iterator<Item = &'s String>,
    ) -> (Vec<String>, Vec<(&'s String, &'s Arc<Json>)>) {
        let keys: BTreeSet<&String> =
            changed.chain(self.failed.iter().filter_map(|k| store.pods.get_key_value(k).map(|(k, _)| k))).collect();
        let mut gone: Vec<String> = vec![];
        let mut todo = vec![];
        for key in keys {
            match (store.pods.get_key_value(key), self.seen.get(key)) {
                (Some((_, pod)), Some(s)) if Arc::ptr_eq(&s.pod, pod) && !s.retry => {}
                (Some((k, pod)), _) => todo.push((k, pod)),
                (None, Some(_)) => gone.push(key.clone()),
                (None, None) => {}
            }
        }
        (gone, todo)
    }

    /// A new basis: the IPAM follows the model (evicting what no longer
    /// fits), pending addresses whose subnet is valid now are restored
    /// before anyone allocates, and every pod is derived anew.
    fn rebase(&mut self, store: &Store, model: &Arc<Model>, held: &BTreeSet<String>, names: &Arc<NbState>) {
        let ipam = self.ipam.as_mut().expect("restored before");
        for e in ipam.sync_subnets_holding(model, held).evicted {
            tracing::warn!(evicted = %e, "pod address released: its subnet changed");
        }
        let valid: Vec<String> = self.pending.keys().filter(|s| model.subnets.contains_key(*s)).cloned().collect();
        for subnet in valid {
            for r in self.pending.remove(&subnet).unwrap_or_default() {
                if ipam.lookup(&r.key).is_some() || !store.pods.contains_key(pod_of(&r.key)) {
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
        self.seen.clear();
        self.derived = Arc::default();
        self.basis = Some(Basis::new(model, held, names));
    }

    /// Releases the addresses of `key`'s attachments and drops them.
    fn release_attachments(&mut self, key: &str) {
        let Some(held) = Arc::make_mut(&mut self.derived).attachments.remove(key) else { return };
        let ipam = self.ipam.as_mut().expect("restored before");
        for a in held.iter() {
            attach::release(ipam, key, &a.provider);
        }
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

/// What a pod's port is derived from besides the pod (see [`Basis`]).
struct Inputs<'a> {
    model: &'a Model,
    held: &'a BTreeSet<String>,
    names: &'a NbState,
    /// The valid subnets' switch port names, and which subnet derives each.
    subnet_ports: &'a BTreeMap<String, String>,
    /// Which pod is a gateway's own (it takes the gateway's lanIp over).
    gateway: gateways::Context<'a>,
}

/// Derives one pod's port: allocates (or keeps, on a held subnet), records
/// or clears its error. The port, if it has one in the NB's terms.
fn derive_one(
    ipam: &mut Ipam,
    errors: &mut BTreeMap<String, String>,
    key: &str,
    pod: &Json,
    inputs: &Inputs,
) -> (Outcome, Option<Arc<PodPort>>) {
    let Inputs { model, held, names, subnet_ports, ref gateway } = *inputs;
    let on_held = ipam.lookup(key).map(|a| a.subnet.as_str()).or_else(|| annotation(pod, LOGICAL_SWITCH));
    if on_held.is_some_and(|s| held.contains(s)) && !is_deleting(pod) {
        // Its subnet waits or is refused: the pod keeps what it has.
        errors.remove(key);
        return (Outcome::Wanted, None);
    }
    let result = match wants_port(pod, model) {
        Ok(Some(subnet)) => match pod_port_taken(key, subnet_ports, names) {
            Some(why) => Err(why),
            None => {
                let (ip, mac) = requested(pod);
                // A gateway's own pod takes its lanIp over from the reservation.
                let handed = gateways::hand_over(ipam, key, pod, &subnet, ip, gateway);
                let got = ipam.allocate(key, &subnet, ip, mac);
                if let (Err(_), Some((k, a))) = (&got, &handed) {
                    if let Err(e) = ipam.restore(k, &a.subnet, &a.ips, &a.mac) {
                        tracing::warn!(reservation = %k, error = %e, "lanIp reservation not restored");
                    }
                }
                got.map(Some).map_err(|e| gateways::said(&e))
            }
        },
        Ok(None) => Ok(None),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(Some(addr)) => {
            errors.remove(key);
            let port =
                addr.port(key).map(|p| PodPort { port_security: crate::kinds::pod::cni::port_security(pod), ..p });
            (Outcome::Wanted, port.map(Arc::new))
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
    // The EIPs first: no pod may be given one's address.
    eips::restore_all(&mut ipam, store, model);
    // Then the inline EIPs of the gateways accepted as they are.
    gateways::restore(&mut ipam, store, model);
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
        for (provider, subnet, ips, mac) in attachment::restore_from_annotations(pod) {
            restore(&attachment::ipam_key(key, &provider), &subnet, &ips, &mac, "attachment annotations");
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

mod attach;
pub mod eips;
pub mod gateways;

#[cfg(test)]
mod tests;
