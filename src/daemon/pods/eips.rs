//! IptablesEIPs' addresses in the IPAM, a derived fact like pods'
//! attachment addresses: each valid EIP holds one IPv4 address of its
//! external subnet under its own IPAM key (`IptablesEIP/<name>`, which no
//! pod key can be: a namespace is lowercase), so the subnet's rules
//! (gateway, excludes, taken addresses) and usage counts hold for it as for
//! a pod, and no pod or attachment (the gateway pod's own `net1` among them)
//! is given an EIP's address.
//!
//! - A fixed `v4ip` is taken as asked, or refused with the IPAM's reason
//!   (held by a pod's attachment or another EIP, excluded, the gateway).
//! - Without `v4ip` the EIP gets the subnet's lowest free address. Kube-OVN
//!   says "random"; the lowest free address is what the IPAM gives every
//!   other holder, it makes the allocation reproducible in tests and plans,
//!   and stability across restarts does not depend on it (the address is
//!   restored from the EIP's `status.ip`, see `PodPorts::restore_once`).
//! - An EIP keeps what it holds while its spec agrees (no `v4ip`, or the
//!   same one); a new `v4ip` moves it only if the new address can be had,
//!   else it keeps the old one and is refused.
//! - An address is released when the EIP object is gone from the store,
//!   or its gateway object is gone or being deleted ("a gateway delete
//!   releases its EIPs"). An EIP refused or waiting for another reason keeps
//!   what it holds (a refusal stops at its object; its address is not given
//!   to a pod meanwhile).
//!
//! Pure apart from the IPAM it is handed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value as Json;

use crate::ipam::{derived_mac, Ipam, IpamError};
use crate::kube::resources::Store;
use crate::model::validate::Model;

/// What an EIP's IPAM key starts with.
pub const KEY_PREFIX: &str = "IptablesEIP/";

/// EIP `name`'s IPAM key.
pub fn ipam_key(name: &str) -> String {
    format!("{KEY_PREFIX}{name}")
}

/// The EIP name of an IPAM key, if it is an EIP's.
pub fn eip_of_key(key: &str) -> Option<&str> {
    key.strip_prefix(KEY_PREFIX)
}

/// What an EIP's object says of its address as last written (`status.ip`).
pub fn status_ip(obj: &Json) -> Option<Ipv4Addr> {
    obj.pointer("/status/ip")?.as_str()?.trim().parse().ok()
}

/// Restores every EIP's address at start: first those its gateway runs
/// (its rules ConfigMap, `Store::running`: the address on its `net1`), then
/// the others from their `status.ip`. A status is written by the daemon but
/// could be patched by anyone allowed to: what runs is restored first, so
/// no status can take a running EIP's address at a restart.
pub fn restore_all(ipam: &mut Ipam, store: &Store, model: &Model) {
    let running = store.running.values().flat_map(|r| {
        r.set.eips.iter().filter(|e| model.eips.get(&e.name).is_some_and(|m| m.gateway == r.set.gateway))
    });
    let running: Vec<(&str, Ipv4Addr)> = running.map(|e| (e.name.as_str(), e.ip)).collect();
    let from_status = store.eips.iter().filter_map(|(name, obj)| Some((name.as_str(), status_ip(obj)?)));
    for (name, ip) in running.into_iter().chain(from_status) {
        let Some(e) = model.eips.get(name) else { continue };
        if ipam.lookup(&ipam_key(name)).is_some() {
            continue;
        }
        match restore(ipam, name, &e.external_subnet, ip) {
            Ok(()) => tracing::debug!(eip = %name, %ip, "EIP address restored"),
            Err(e) => tracing::warn!(eip = %name, %ip, error = %e, "EIP address not restored"),
        }
    }
}

/// Records EIP `name`'s address `ip` in `subnet` at start (from its
/// status), with a MAC derived from its key as an allocation would give.
pub fn restore(ipam: &mut Ipam, name: &str, subnet: &str, ip: Ipv4Addr) -> Result<(), IpamError> {
    restore_key(ipam, &ipam_key(name), subnet, ip)
}

/// Records `ip` in `subnet` under `key` (an EIP's, or a gateway's inline
/// EIP's) at start, with a MAC derived from the key as an allocation would give.
pub fn restore_key(ipam: &mut Ipam, key: &str, subnet: &str, ip: Ipv4Addr) -> Result<(), IpamError> {
    let key = key.to_string();
    let mut last = None;
    for n in 0..8 {
        let mac = derived_mac(&key, n);
        if mac.starts_with("0a:00:00:") {
            continue;
        }
        match ipam.restore(&key, subnet, &[IpAddr::V4(ip)], &mac) {
            Ok(_) => return Ok(()),
            Err(e @ IpamError::MacTaken { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(IpamError::NoMac { pod: key, subnet: subnet.into(), tries: 8 }))
}

/// One derivation of every EIP's address.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Derived {
    /// The EIPs of the model that hold an address, by name.
    pub addresses: BTreeMap<String, Ipv4Addr>,
    /// Why an EIP of the model holds none (or not the one it asks for), by name.
    pub errors: BTreeMap<String, String>,
}

fn deleting(obj: &Json) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// Whether the address of EIP `name`, not in the model, is released: its
/// object is gone, or its gateway's is gone or being deleted.
fn released(store: &Store, name: &str) -> bool {
    let Some(obj) = store.eips.get(name) else { return true };
    let gateway = obj.pointer("/spec/natGwDp").and_then(Json::as_str).unwrap_or("");
    store.nat_gateways.get(gateway).is_none_or(|g| deleting(g))
}

fn first_v4(ips: &[IpAddr]) -> Option<Ipv4Addr> {
    ips.iter().find_map(|ip| match ip {
        IpAddr::V4(a) => Some(*a),
        IpAddr::V6(_) => None,
    })
}

/// Brings the EIPs' addresses in line with `model` (see the module head).
/// `store` says which EIPs and gateways still exist.
pub(super) fn derive(ipam: &mut Ipam, model: &Model, store: &Store) -> Derived {
    let mut out = Derived::default();
    // The EIPs' keys only (a range of the IPAM's map): a pass costs per EIP, not per pod.
    let held: BTreeSet<String> =
        ipam.with_prefix(KEY_PREFIX).filter_map(|(k, _)| eip_of_key(k)).map(str::to_string).collect();
    for name in held.iter().filter(|n| !model.eips.contains_key(*n)) {
        if released(store, name) {
            if let Some(a) = ipam.release(&ipam_key(name)) {
                tracing::info!(eip = %name, ip = %a.ip_list(), "EIP address released");
            }
        }
    }
    for e in model.eips.values() {
        let key = ipam_key(&e.name);
        let current = ipam.lookup(&key).cloned();
        if let Some(c) = current.as_ref().filter(|c| c.subnet != e.external_subnet) {
            // Another external subnet (the field is immutable in the CRD; the TOML may change it).
            tracing::info!(eip = %e.name, ip = %c.ip_list(), "EIP address released: another external subnet");
            ipam.release(&key);
        }
        let current = ipam.lookup(&key).cloned();
        let have = current.as_ref().and_then(|c| first_v4(&c.ips));
        let result = match (have, e.v4ip) {
            (Some(h), None) => Ok(h),
            (Some(h), Some(w)) if h == w => Ok(h),
            (Some(h), Some(w)) => {
                ipam.release(&key);
                match ipam.allocate(&key, &e.external_subnet, Some(&w.to_string()), None) {
                    Ok(_) => Ok(w),
                    Err(err) => {
                        // It keeps the address it had.
                        let back = current.as_ref().expect("held");
                        if let Err(e2) = ipam.restore(&key, &back.subnet, &back.ips, &back.mac) {
                            tracing::warn!(eip = %e.name, error = %e2, "EIP address not restored");
                        }
                        Err(format!("{w} cannot be had, {h} is kept: {}", reason(&err)))
                    }
                }
            }
            (None, want) => {
                let asked = want.map(|w| w.to_string());
                match ipam.allocate(&key, &e.external_subnet, asked.as_deref(), None) {
                    Ok(a) => first_v4(&a.ips).ok_or_else(|| "no IPv4 address".to_string()),
                    Err(err) => Err(reason(&err)),
                }
            }
        };
        match result {
            Ok(ip) => {
                if have != Some(ip) {
                    tracing::info!(eip = %e.name, %ip, subnet = %e.external_subnet, "EIP address allocated");
                }
                out.addresses.insert(e.name.clone(), ip);
            }
            Err(why) => {
                if let Some(h) = have.filter(|_| e.v4ip.is_some()) {
                    // A new v4ip refused: the old address stays in force.
                    if ipam.lookup(&key).is_some() {
                        out.addresses.insert(e.name.clone(), h);
                    }
                }
                out.errors.insert(e.name.clone(), why);
            }
        }
    }
    out
}

/// The IPAM's reason, said of an EIP (not of a "pod").
fn reason(e: &IpamError) -> String {
    match e {
        IpamError::Refused { ip, subnet, reason, .. } => {
            let holder = match reason {
                crate::ipam::Refusal::Taken { holder } => format!("is taken by {}", super::gateways::describe(holder)),
                other => other.to_string(),
            };
            format!("{ip} in subnet {subnet} {holder}")
        }
        IpamError::Exhausted { subnet, family, .. } => format!("subnet {subnet} has no free {family} address"),
        IpamError::UnknownSubnet { subnet, .. } => format!("subnet {subnet} does not exist (or is not valid)"),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "eips_tests.rs"]
mod tests;
