//! One pod's attachment addresses in the IPAM (the rules are
//! `kinds::pod::attach`'s): allocated when the pod names an attachment,
//! released when it no longer does (or goes), kept as they are on a subnet
//! refused this pass. Each address is held under its own IPAM key
//! (`<ns>/<pod>@<provider>`), so the subnet's IPAM rules (excludes, gateway,
//! requested addresses, taken ones) and its usage counts hold for it as for
//! a primary address. The pod's primary port never depends on them.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::ipam::Ipam;
use crate::kinds::pod::attach::{self, ipam_key, resolve, wants_attachments};
use crate::kinds::pod::cni::annotation;
use crate::model::derived::AttachmentAddress;
use crate::model::validate::Model;

/// What one derivation of a pod's attachments gave.
pub(super) struct Attached {
    /// The addresses the pod holds now, in the order it names them.
    pub addresses: Vec<AttachmentAddress>,
    /// Why an attachment got no address, one entry per attachment.
    pub errors: Vec<String>,
}

/// Derives `key`'s attachments (`before`: its addresses as last derived),
/// allocating what it names and releasing what it no longer holds.
pub(super) fn derive(
    ipam: &mut Ipam,
    key: &str,
    pod: &Json,
    model: &Model,
    held: &BTreeSet<String>,
    before: &[AttachmentAddress],
) -> Attached {
    let mut out = Attached { addresses: vec![], errors: vec![] };
    match wants_attachments(pod) {
        Ok(wanted) => {
            for a in &wanted {
                let provider = a.provider();
                let ik = ipam_key(key, &provider);
                let current = ipam.lookup(&ik).map(|x| x.subnet.clone());
                let named = annotation(pod, &attach::key(&provider, "logical_switch")).map(String::from);
                if current.as_ref().or(named.as_ref()).is_some_and(|s| held.contains(s)) {
                    // Its subnet is refused this pass: it keeps what it has.
                    out.addresses.extend(ipam.lookup(&ik).map(|x| address(&provider, x)));
                    continue;
                }
                let subnet = match resolve(key, a, model, current.as_deref()) {
                    Ok(s) => s.name.clone(),
                    Err(e) => {
                        out.errors.push(e.to_string());
                        continue;
                    }
                };
                if current.as_ref().is_some_and(|c| *c != subnet) {
                    ipam.release(&ik);
                }
                let (ip, mac) = attach::requested(pod, &provider);
                match ipam.allocate(&ik, &subnet, ip.as_deref(), mac.as_deref()) {
                    Ok(x) => out.addresses.push(address(&provider, &x)),
                    Err(e) => out.errors.push(format!("attachment {provider:?}: {}", super::gateways::said(&e))),
                }
            }
        }
        Err(e) => {
            // A malformed annotation changes nothing held.
            out.errors.push(e.to_string());
            out.addresses = before.to_vec();
        }
    }
    for gone in before.iter().filter(|b| !out.addresses.iter().any(|a| a.provider == b.provider)) {
        release(ipam, key, &gone.provider);
    }
    out
}

/// Releases `key`'s address on `provider`.
pub(super) fn release(ipam: &mut Ipam, key: &str, provider: &str) {
    if let Some(a) = ipam.release(&ipam_key(key, provider)) {
        tracing::info!(pod = %key, provider, ips = %a.ip_list(), "attachment address released");
    }
}

fn address(provider: &str, a: &crate::ipam::PodAddress) -> AttachmentAddress {
    AttachmentAddress { provider: provider.into(), subnet: a.subnet.clone(), ips: a.ips.clone(), mac: a.mac.clone() }
}
