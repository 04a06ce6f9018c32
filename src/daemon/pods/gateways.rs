//! VpcNatGateways' addresses in the IPAM, derived as the IptablesEIPs' are
//! (`eips`): a gateway's `lanIp` in its subnet and its inline EIPs (the old
//! inline form's `spec.eips`) in its first external subnet, each under a key
//! of its own that no pod, attachment or EIP key can spell (a pod key's
//! namespace is lowercase; an EIP's key is `IptablesEIP/<name>`):
//! `VpcNatGateway/<gw>` for the `lanIp`, `VpcNatGateway/<gw>/eips/<ip>` for
//! an inline EIP. An inline EIP is keyed by its address, not its place in
//! the spec: it has no name, the rules name it by address, and a reordered
//! `spec.eips` moves nothing.
//!
//! Invariants:
//! - The holder in the IPAM keeps an address (the incumbent): a gateway
//!   whose `lanIp` or inline EIP another holds is refused (`errors`, by the
//!   field: `lanIp` or `eips[i]`, with the IPAM's reason) and takes nothing
//!   from it; a pod, attachment or EIP asking for a gateway's address is
//!   refused with a reason naming the gateway.
//! - An accepted gateway's `lanIp` is held for it while its pod is away
//!   (deleted, recreated, its node restarting): no pod is given it by the
//!   lowest-free rule. Its own pod (the one its StatefulSet makes, see
//!   [`own_pod`]) takes it over from the reservation ([`hand_over`]; also
//!   while the gateway is refused and keeps it, its workload running), and
//!   while it holds it there is no reservation; when it goes, the address
//!   is reserved again in the same update, before any pod allocates; so is
//!   a refused gateway's that runs (at the address it runs with: its
//!   workload is kept running, and its pod comes back for it).
//! - Inline EIPs always give their address (fixed): held while the gateway
//!   is in the model with them; an address no longer listed, or in another
//!   external subnet, is released.
//! - Everything a gateway holds is released when its object is gone from
//!   the store or being deleted (a TOML gateway has no object: released once
//!   out of the model, as a TOML EIP is); a gateway refused or waiting for
//!   another reason keeps what it holds (a refusal stops at its object).
//!
//! Restore after a restart: the IPAM is rebuilt from what exists, and the
//! holder is whatever is restored first. The `lanIp` is not restored for the
//! gateway: the gateway's own pod restores it from its annotations, and a
//! pod that held it before the gateway existed keeps it (the gateway stays
//! refused); a reservation is made at the first update, before any pod
//! allocates. An inline EIP has no `status.ip` to restore from; it is
//! restored from the gateway's own status instead: a gateway whose
//! `Validated` condition is `True` for its current generation held all its
//! inline EIPs when that was written, so they are restored (after the
//! IptablesEIPs' `status.ip`, before any pod or attachment), as an
//! IptablesEIP's `status.ip` is. A gateway refused then (or edited since)
//! is not: its inline EIPs are allocated at the first update, after the
//! pods' addresses are back, so a holder restored from its annotations
//! keeps what it had. Reservations are made for the gateways that run with
//! their `lanIp` first (their rules ConfigMap, `Store::running`), then the
//! others by name: of two gateways wanting one `lanIp`, the running one
//! keeps it, also after a restart with its pod away.
//!
//! Pure apart from the IPAM it is handed.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value as Json;

use crate::ipam::{Ipam, IpamError, PodAddress, Refusal};
use crate::kube::resources::Store;
use crate::model::validate::{Model, VpcNatGateway};

/// What a gateway's IPAM keys start with.
pub const KEY_PREFIX: &str = "VpcNatGateway/";

/// The pod annotation naming the gateway a gateway pod belongs to.
const GATEWAY_ANNOTATION: &str = "/metadata/annotations/ovn.kubernetes.io~1vpc_nat_gw";

/// The IPAM key of gateway `gw`'s `lanIp` reservation.
pub fn lan_key(gw: &str) -> String {
    format!("{KEY_PREFIX}{gw}")
}

/// The IPAM key of gateway `gw`'s inline EIP `ip`.
pub fn inline_key(gw: &str, ip: Ipv4Addr) -> String {
    format!("{KEY_PREFIX}{gw}/eips/{ip}")
}

/// The gateway an IPAM key is held for, if it is a gateway's.
pub fn gateway_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    Some(rest.split_once('/').map_or(rest, |(gw, _)| gw))
}

/// Who an IPAM key is, said in a refusal ("is taken by …").
pub fn describe(key: &str) -> String {
    if let Some(rest) = key.strip_prefix(KEY_PREFIX) {
        return match rest.split_once("/eips/") {
            Some((gw, _)) => format!("an inline EIP of VpcNatGateway {gw:?}"),
            None => format!("VpcNatGateway {rest:?} (its lanIp)"),
        };
    }
    match super::eips::eip_of_key(key) {
        Some(eip) => format!("IptablesEIP {eip:?}"),
        None if key.contains('@') => format!("the attachment of pod {key}"),
        None => format!("pod {key}"),
    }
}

/// An IPAM error as said to a pod: a holder that is no pod is named as
/// what it is (a gateway, an EIP), not as "pod" (a pod's or attachment's
/// key is said as the IPAM says it).
pub fn said(e: &IpamError) -> String {
    let other_kind = |h: &str| gateway_of_key(h).is_some() || super::eips::eip_of_key(h).is_some();
    match e {
        IpamError::Refused { pod, what, ip, subnet, reason: Refusal::Taken { holder } } if other_kind(holder) => {
            format!("pod {pod}: {what} {ip} in subnet {subnet} is taken by {}", describe(holder))
        }
        other => other.to_string(),
    }
}

/// Whether pod `key` (its object `pod`) is gateway `g`'s own: the one its
/// StatefulSet makes, in the gateway's workload namespace (its `namespace`,
/// else `workloads`, the daemon's), named `<prefix>-<gateway>-0` and
/// annotated `ovn.kubernetes.io/vpc_nat_gw` with the gateway's name. A pod
/// elsewhere wearing the name and annotation is another pod — but for the
/// namespace the gateway runs in (its rules ConfigMap's, `store.running`):
/// a running gateway does not move (`daemon::nat`), so after an edit of its
/// `namespace` its pod is still made there, and is still its own.
pub fn own_pod(key: &str, pod: Option<&Json>, g: &VpcNatGateway, workloads: &str, store: &Store) -> bool {
    own_pod_of(key, pod, &g.name, &g.spec.namespace, workloads, store)
}

/// As [`own_pod`], of gateway `gw` whose `spec.namespace` is `namespace`.
fn own_pod_of(key: &str, pod: Option<&Json>, gw: &str, namespace: &str, workloads: &str, store: &Store) -> bool {
    let annotated = pod.and_then(|p| p.pointer(GATEWAY_ANNOTATION)).and_then(Json::as_str) == Some(gw);
    let namespace = if namespace.is_empty() { workloads } else { namespace };
    let running = store.running.get(gw).map(|r| r.namespace.as_str());
    let in_namespace = |ns: &str| key.starts_with(&format!("{ns}/"));
    annotated && (in_namespace(namespace) || running.is_some_and(in_namespace)) && key.ends_with(&format!("-{gw}-0"))
}

/// Whether a gateway's object says, for its current generation, that it
/// was accepted (`Validated` is `True`): it held its inline EIPs then.
fn was_accepted(obj: &Json) -> bool {
    let generation = obj.pointer("/metadata/generation").and_then(Json::as_i64);
    let conditions = obj.pointer("/status/conditions").and_then(Json::as_array);
    conditions.into_iter().flatten().any(|c| {
        c.get("type").and_then(Json::as_str) == Some("Validated")
            && c.get("status").and_then(Json::as_str) == Some("True")
            && c.get("observedGeneration").and_then(Json::as_i64) == generation
    })
}

/// Restores at start the inline EIPs of the gateways of `model` whose
/// object says they were accepted as they are (see the module head).
pub(super) fn restore(ipam: &mut Ipam, store: &Store, model: &Model) {
    for (name, obj) in &store.nat_gateways {
        let Some(g) = model.nat_gateways.get(name).filter(|_| was_accepted(obj)) else { continue };
        for ip in &g.inline.eips {
            match super::eips::restore_key(ipam, &inline_key(name, *ip), &g.external_subnets[0], *ip) {
                Ok(()) => tracing::debug!(gateway = %name, %ip, "inline EIP address restored"),
                Err(e) => tracing::warn!(gateway = %name, %ip, error = %e, "inline EIP address not restored"),
            }
        }
    }
}

/// One derivation of the gateways' addresses.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Derived {
    /// Why a gateway of the model cannot have an address it names, by
    /// name: (field, reason). The first such field only.
    pub errors: BTreeMap<String, (String, String)>,
}

fn deleting(obj: &Json) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// Whether what gateway `name` holds is released: its object is gone or
/// being deleted (in the model or not; a TOML gateway in the model stays).
fn released(store: &Store, model: &Model, name: &str) -> bool {
    match store.nat_gateways.get(name) {
        Some(obj) => deleting(obj),
        None => !model.nat_gateways.contains_key(name),
    }
}

fn holds(a: &PodAddress, subnet: &str, ip: Ipv4Addr) -> bool {
    a.subnet == subnet && a.ips.contains(&IpAddr::V4(ip))
}

/// Brings the gateways' addresses in line with `model` (see the module
/// head). `store` says which gateways and pods exist; `workloads` is the
/// daemon's namespace (where a gateway's pod is by default).
pub(super) fn derive(ipam: &mut Ipam, model: &Model, store: &Store, workloads: &str, lans: &mut Lans) -> Derived {
    let mut out = Derived::default();
    // The gateways' keys only (a range of the IPAM's map): a pass costs per gateway, not per pod.
    let held: Vec<(String, PodAddress)> =
        ipam.with_prefix(KEY_PREFIX).map(|(k, a)| (k.to_string(), a.clone())).collect();
    for (key, a) in &held {
        let Some(gw) = gateway_of_key(key) else { continue };
        let keep = match model.nat_gateways.get(gw) {
            _ if released(store, model, gw) => false,
            None => true, // refused or waiting: it keeps what it holds
            Some(g) if *key == lan_key(gw) => holds(a, &g.spec.subnet, g.lan_ip),
            Some(g) => {
                g.inline.eips.iter().any(|ip| *key == inline_key(gw, *ip) && holds(a, &g.external_subnets[0], *ip))
            }
        };
        if !keep {
            ipam.release(key);
            tracing::info!(gateway = %gw, key = %key, ip = %a.ip_list(), "gateway address released");
        }
    }
    // A gateway that runs with its lanIp (its rules ConfigMap says so)
    // reserves first: of two wanting one lanIp, the running one keeps it,
    // also just restarted with its pod away, and also while it is refused.
    refused_lan_ips(ipam, model, store, lans);
    let runs = |g: &&VpcNatGateway| store.running.get(&g.name).is_some_and(|r| r.set.lan.ip == g.lan_ip);
    let (running, others): (Vec<&VpcNatGateway>, Vec<&VpcNatGateway>) = model.nat_gateways.values().partition(runs);
    for g in running.into_iter().chain(others) {
        if released(store, model, &g.name) {
            continue;
        }
        match lan_ip(ipam, g, store, workloads) {
            Some(why) => {
                out.errors.insert(g.name.clone(), ("lanIp".into(), why));
            }
            None => {
                let uid = uid_of(store, &g.name);
                lans.insert(g.name.clone(), Lan { uid, subnet: g.spec.subnet.clone(), ip: g.lan_ip });
            }
        }
        let ext = &g.external_subnets[0];
        for (i, ip) in g.inline.eips.iter().enumerate() {
            let key = inline_key(&g.name, *ip);
            if ipam.lookup(&key).is_some() {
                continue;
            }
            match ipam.allocate(&key, ext, Some(&ip.to_string()), None) {
                Ok(_) => tracing::info!(gateway = %g.name, %ip, subnet = %ext, "inline EIP address held"),
                Err(e) => {
                    out.errors.entry(g.name.clone()).or_insert_with(|| (format!("eips[{i}]"), reason(&e)));
                }
            }
        }
    }
    out
}

/// Where a gateway's lanIp is known to live: learnt while it was accepted
/// and had it, or from its own pod's address (after a restart), never from
/// a spec edited since (a refused edit may name another subnet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Lan {
    /// The gateway object's uid (empty: a TOML gateway).
    uid: String,
    subnet: String,
    ip: Ipv4Addr,
}

/// By gateway name.
pub(super) type Lans = BTreeMap<String, Lan>;

fn uid_of(store: &Store, gw: &str) -> String {
    let obj = store.nat_gateways.get(gw);
    obj.and_then(|o| o.pointer("/metadata/uid")).and_then(Json::as_str).unwrap_or("").to_string()
}

/// Reserves the `lanIp` of each gateway refused this pass that runs, while
/// nothing holds it (its pod away: restarting, its node rebooting), as an
/// accepted gateway's is: its workload is kept running (`daemon::nat`), and
/// its pod, back, takes the address over ([`hand_over`]). Only where the
/// address is known to live ([`Lan`]): learnt while the gateway was
/// accepted, or from its own pod's address in the namespace it runs in.
/// ([`learn`]). Nothing is reserved where that is not known (just restarted
/// with the pod away); what is known of a gateway gone or made again is
/// forgotten.
fn refused_lan_ips(ipam: &mut Ipam, model: &Model, store: &Store, lans: &mut Lans) {
    lans.retain(|g, l| !released(store, model, g) && uid_of(store, g) == l.uid);
    for (name, r) in store.running.iter() {
        if model.nat_gateways.contains_key(name) || released(store, model, name) {
            continue;
        }
        let Some(lan) = lans.get(name).filter(|l| l.ip == r.set.lan.ip) else { continue };
        let (key, ip) = (lan_key(name), lan.ip);
        if ipam.lookup(&key).is_some() || ipam.holder(&lan.subnet, &IpAddr::V4(ip)).is_some() {
            continue;
        }
        match ipam.allocate(&key, &lan.subnet, Some(&ip.to_string()), None) {
            Ok(_) => tracing::info!(gateway = %name, %ip, subnet = %lan.subnet,
                "lanIp reserved for the refused gateway while its pod is away"),
            Err(e) => tracing::debug!(gateway = %name, %ip, error = %e, "lanIp of a refused gateway not reserved"),
        }
    }
}

/// Learns, at the end of an update, where the lanIp of each refused
/// gateway that runs lives from its own pod's address (a pod in the
/// namespace it runs in, annotated with its name, holding the address it
/// runs with): after a restart, nothing else says so.
pub(super) fn learn(ipam: &Ipam, model: &Model, store: &Store, lans: &mut Lans) {
    for (name, r) in store.running.iter() {
        if model.nat_gateways.contains_key(name) || released(store, model, name) || lans.contains_key(name) {
            continue;
        }
        let from = format!("{}/", r.namespace);
        let pods = store.pods.range(from.clone()..).take_while(|(k, _)| k.starts_with(&from));
        let own = pods.filter(|(_, p)| p.pointer(GATEWAY_ANNOTATION).and_then(Json::as_str) == Some(name.as_str()));
        let at = own.filter_map(|(k, _)| ipam.lookup(k)).find(|a| a.ips.contains(&IpAddr::V4(r.set.lan.ip)));
        if let Some(a) = at {
            lans.insert(name.clone(), Lan { uid: uid_of(store, name), subnet: a.subnet.clone(), ip: r.set.lan.ip });
        }
    }
}

/// Reserves gateway `g`'s `lanIp` unless its own pod holds it; why it
/// cannot have it, if another holds it.
fn lan_ip(ipam: &mut Ipam, g: &VpcNatGateway, store: &Store, workloads: &str) -> Option<String> {
    let key = lan_key(&g.name);
    let subnet = &g.spec.subnet;
    let ip = IpAddr::V4(g.lan_ip);
    match ipam.holder(subnet, &ip).map(str::to_string) {
        Some(h) if h == key => None,
        Some(h) if own_pod(&h, store.pods.get(&h).map(|p| &**p), g, workloads, store) => None,
        Some(h) => Some(format!("{} is taken by {}", g.lan_ip, describe(&h))),
        None => match ipam.allocate(&key, subnet, Some(&g.lan_ip.to_string()), None) {
            Ok(_) => {
                tracing::info!(gateway = %g.name, ip = %g.lan_ip, %subnet, "lanIp reserved for the gateway");
                None
            }
            Err(e) => Some(reason(&e)),
        },
    }
}

/// The reservation of a gateway's `lanIp` that pod `key` (object `pod`,
/// asking for `requested` in `subnet`) takes over, released for it: the
/// key and address, to be restored if the pod gets no address after all.
/// `None` unless the pod is the gateway's own and asks for the reserved
/// address. A gateway refused (out of `model`) but whose object is in
/// `store` keeps its reservation, and its pod (its workload is kept
/// running) takes it over as well: its namespace is read from the object.
pub(super) fn hand_over(
    ipam: &mut Ipam,
    key: &str,
    pod: &Json,
    subnet: &str,
    requested: Option<&str>,
    ctx: &Context,
) -> Option<(String, PodAddress)> {
    let gw = pod.pointer(GATEWAY_ANNOTATION).and_then(Json::as_str)?;
    let namespace = match ctx.model.nat_gateways.get(gw) {
        Some(g) => g.spec.namespace.as_str(),
        None => ctx.store.nat_gateways.get(gw)?.pointer("/spec/namespace").and_then(Json::as_str).unwrap_or(""),
    };
    if !own_pod_of(key, Some(pod), gw, namespace, ctx.workloads, ctx.store) {
        return None;
    }
    let lan = lan_key(gw);
    let reserved = ipam.lookup(&lan)?;
    let asks = |ip: &IpAddr| requested.is_some_and(|r| r.split(',').any(|p| p.trim().parse() == Ok(*ip)));
    if reserved.subnet != subnet || !reserved.ips.iter().any(asks) {
        return None;
    }
    let a = ipam.release(&lan)?;
    Some((lan, a))
}

/// What [`hand_over`] reads besides the pod.
pub(super) struct Context<'a> {
    pub model: &'a Model,
    pub store: &'a Store,
    /// The daemon's namespace (a gateway's pod's by default).
    pub workloads: &'a str,
}

/// The IPAM's reason, said of a gateway's address.
fn reason(e: &IpamError) -> String {
    match e {
        IpamError::Refused { ip, subnet, reason, .. } => {
            let why = match reason {
                Refusal::Taken { holder } => format!("is taken by {}", describe(holder)),
                other => other.to_string(),
            };
            format!("{ip} in subnet {subnet} {why}")
        }
        IpamError::Exhausted { subnet, family, .. } => format!("subnet {subnet} has no free {family} address"),
        IpamError::UnknownSubnet { subnet, .. } => format!("subnet {subnet} does not exist (or is not valid)"),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "gateways_tests.rs"]
mod tests;
