//! A pod's Multus attachments, purely: which attachment networks the pod
//! names, which subnet each one's addresses come from, what it asks for,
//! and the per-provider annotations Kube-OVN writes for them.
//!
//! Which attachments ([`parse_networks`]), as Multus and Kube-OVN read
//! `k8s.v1.cni.cncf.io/networks`: either a JSON list of selections
//! (`{"name", "namespace", "interface", ...}`; other fields are Multus' own
//! and ignored here) or a comma list of `name`, `namespace/name` and either
//! with `@interface`. The namespace defaults to the pod's. Naming the same
//! NetworkAttachmentDefinition twice gives one address (Kube-OVN 1.16 makes
//! the interface part of the provider then; not done here).
//!
//! Which subnet ([`resolve`]), as Kube-OVN's `getPodKubeovnNets` for a NAD
//! whose CNI is not Kube-OVN's: the provider is `<nad-name>.<nad-namespace>`
//! and the subnet is the first, by name, whose `spec.provider` is that and
//! which is not an OVN subnet (`is_ovn` false). The NAD itself is not read:
//! a NAD of `type: kube-ovn` (provider `<name>.<ns>.ovn`, an OVN port of its
//! own) and a NAD naming another provider in its `ipam` are not supported.
//! A provider no subnet has is an error naming the attachment (Kube-OVN
//! skips it silently); the pod's primary port does not depend on it.
//!
//! Annotations, each under `<provider>.kubernetes.io/`: `allocated`,
//! `logical_switch` (the subnet), `ip_address`, `mac_address`, `cidr`,
//! `gateway`. A requested `ip_address` and `mac_address` are honoured as
//! the primary ones are (the same IPAM and rules). No NB rows: an
//! attachment is not an OVN port.
//!
//! In the IPAM an attachment's address is held under `<ns>/<pod>@<provider>`
//! ([`ipam_key`]): pod names are DNS labels, so `@` never occurs in a pod
//! key, and a refusal names both the pod and the attachment.

use std::net::IpAddr;

use serde_json::{Map, Value as Json};

use super::cni::{annotation, gets_no_network, pod_key};
use crate::model::derived::AttachmentAddress;
use crate::model::validate::{Model, Subnet};

/// The Multus annotation naming a pod's attachments.
pub const NETWORKS: &str = "k8s.v1.cni.cncf.io/networks";

/// One attachment a pod names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub namespace: String,
    pub name: String,
    pub interface: Option<String>,
}

impl Attachment {
    /// Kube-OVN's provider of a non-Kube-OVN NAD: `<name>.<namespace>`.
    pub fn provider(&self) -> String {
        format!("{}.{}", self.name, self.namespace)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("pod {pod}: annotation {NETWORKS} {value:?}: {reason}")]
    Malformed { pod: String, value: String, reason: String },
    #[error("pod {pod}: attachment {attachment} (provider {provider:?}): no attachment subnet has this provider")]
    NoSubnet { pod: String, attachment: String, provider: String },
}

/// `<provider>.kubernetes.io/<what>`.
pub fn key(provider: &str, what: &str) -> String {
    format!("{provider}.kubernetes.io/{what}")
}

/// The IPAM key of `pod_key`'s address on `provider` (see the module head).
pub fn ipam_key(pod_key: &str, provider: &str) -> String {
    format!("{pod_key}@{provider}")
}

/// The pod an IPAM key belongs to (itself for a pod's primary address).
pub fn pod_of(ipam_key: &str) -> &str {
    ipam_key.split_once('@').map_or(ipam_key, |(pod, _)| pod)
}

/// The attachments `value` names, for a pod in `pod_ns` (see the module head).
pub fn parse_networks(value: &str, pod_ns: &str) -> Result<Vec<Attachment>, String> {
    let value = value.trim();
    let mut out: Vec<Attachment> = vec![];
    if value.starts_with('[') {
        let list: Vec<Json> = serde_json::from_str(value).map_err(|e| format!("is not a JSON list: {e}"))?;
        for (i, sel) in list.iter().enumerate() {
            let field = |f: &str| sel.get(f).and_then(Json::as_str).map(str::trim).filter(|s| !s.is_empty());
            let name = field("name").ok_or_else(|| format!("[{i}] has no \"name\""))?;
            let namespace = field("namespace").unwrap_or(pod_ns);
            out.push(Attachment {
                namespace: namespace.into(),
                name: name.into(),
                interface: field("interface").map(String::from),
            });
        }
    } else {
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (namespace, rest) = match item.split_once('/') {
                Some((ns, rest)) => (ns, rest),
                None => (pod_ns, item),
            };
            let (name, interface) = match rest.split_once('@') {
                Some((n, i)) => (n, Some(i)),
                None => (rest, None),
            };
            if namespace.is_empty() || name.is_empty() || interface == Some("") || rest.contains('/') {
                return Err(format!("{item:?} is not name, namespace/name or either with @interface"));
            }
            if name.contains('@') || interface.is_some_and(|i| i.contains('@')) {
                return Err(format!("{item:?} names more than one interface"));
            }
            out.push(Attachment {
                namespace: namespace.into(),
                name: name.into(),
                interface: interface.map(String::from),
            });
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|a| seen.insert(a.provider()));
    Ok(out)
}

/// The attachments `pod` wants addresses for, in the order it names them;
/// none for pods that get no network (hostNetwork, deleted, finished).
pub fn wants_attachments(pod: &Json) -> Result<Vec<Attachment>, AttachError> {
    let Some(key) = pod_key(pod) else { return Ok(vec![]) };
    if gets_no_network(pod) {
        return Ok(vec![]);
    }
    let Some(value) = annotation(pod, NETWORKS) else { return Ok(vec![]) };
    let ns = key.split_once('/').map_or("", |(ns, _)| ns);
    parse_networks(value, ns).map_err(|reason| AttachError::Malformed { pod: key, value: value.into(), reason })
}

/// The subnet `attachment`'s addresses come from: `current` (the subnet it
/// holds an address in) while it still has the provider, else the first
/// attachment subnet by name with the provider.
pub fn resolve<'m>(
    pod: &str,
    attachment: &Attachment,
    model: &'m Model,
    current: Option<&str>,
) -> Result<&'m Subnet, AttachError> {
    let provider = attachment.provider();
    let fits = |s: &&Subnet| !s.is_ovn && s.spec.provider == provider;
    current.and_then(|c| model.subnets.get(c)).filter(fits).or_else(|| model.subnets.values().find(fits)).ok_or_else(
        || AttachError::NoSubnet {
            pod: pod.into(),
            attachment: format!("{}/{}", attachment.namespace, attachment.name),
            provider,
        },
    )
}

/// The requested IPs and MAC of `provider`'s address.
pub fn requested(pod: &Json, provider: &str) -> (Option<String>, Option<String>) {
    let get = |what| annotation(pod, &key(provider, what)).map(String::from);
    (get("ip_address"), get("mac_address"))
}

/// `(provider, subnet, ips, mac)` of every attachment address the pod's
/// annotations say was allocated (`<provider>.kubernetes.io/allocated=true`
/// for a provider other than `ovn`), for restoring the IPAM at start.
pub fn restore_from_annotations(pod: &Json) -> Vec<(String, String, Vec<IpAddr>, String)> {
    let Some(annotations) = pod.pointer("/metadata/annotations").and_then(Json::as_object) else { return vec![] };
    let providers = annotations
        .iter()
        .filter(|(_, v)| v.as_str() == Some("true"))
        .filter_map(|(k, _)| k.strip_suffix(".kubernetes.io/allocated"))
        .filter(|p| *p != "ovn" && !p.is_empty());
    providers
        .filter_map(|p| {
            let subnet = annotation(pod, &key(p, "logical_switch"))?;
            let ips = annotation(pod, &key(p, "ip_address"))?
                .split(',')
                .map(|s| s.trim().parse::<IpAddr>().ok())
                .collect::<Option<Vec<_>>>()?;
            let mac = annotation(pod, &key(p, "mac_address"))?;
            Some((p.to_string(), subnet.to_string(), ips, mac.to_string()))
        })
        .collect()
}

/// The annotations an attachment allocated `a` in `subnet` must carry.
pub fn desired_annotations(subnet: &Subnet, a: &AttachmentAddress) -> Vec<(String, String)> {
    let join = |v: Vec<String>| v.join(",");
    let p = &a.provider;
    vec![
        (key(p, "allocated"), "true".into()),
        (key(p, "logical_switch"), subnet.name.clone()),
        (key(p, "ip_address"), join(a.ips.iter().map(ToString::to_string).collect())),
        (key(p, "mac_address"), a.mac.clone()),
        (key(p, "cidr"), join(subnet.cidrs.iter().map(ToString::to_string).collect())),
        (key(p, "gateway"), join(subnet.gateways.iter().map(ToString::to_string).collect())),
    ]
}

/// The annotations of `attachments` that `pod` does not carry yet (empty
/// when it carries them all). An attachment whose subnet is not in `model`
/// (refused: it keeps its address) is left as it is.
pub fn annotations_missing(pod: &Json, model: &Model, attachments: &[AttachmentAddress]) -> Map<String, Json> {
    let have = pod.pointer("/metadata/annotations").and_then(Json::as_object);
    attachments
        .iter()
        .filter_map(|a| Some(desired_annotations(model.subnets.get(&a.subnet)?, a)))
        .flatten()
        .filter(|(k, v)| have.and_then(|m| m.get(k)).and_then(Json::as_str) != Some(v.as_str()))
        .map(|(k, v)| (k, Json::String(v)))
        .collect()
}

#[cfg(test)]
mod tests;
