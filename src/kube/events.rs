//! core/v1 Events about kubeovn.io objects, as `kubectl describe` and
//! `kubectl get events` show them.
//!
//! An Event lives in its object's namespace; for a cluster-scoped object
//! (Vpc, Subnet) in "default", as Kubernetes' own recorders do. Its name is
//! `<object>.<hash>`, the hash over the object's uid, reason, message and
//! time, so a retried POST of the same Event finds it (409) instead of
//! creating a second one. When to post at all is decided by the caller
//! (`status::report` posts only when a status write changed the verdict).
//!
//! Each Event is also a complete `events.k8s.io/v1` Event: `eventTime`
//! (MicroTime), `reportingComponent` (v1's `reportingController`),
//! `reportingInstance` (this host) and `action` are set, which the API
//! server requires of any Event with an `eventTime`.

use serde_json::{json, Value as Json};

use super::client::{KubeClient, KubeError};
use super::status::truncate;
use crate::model::object::Kind;
use crate::model::validate::Rejection;

/// `source.component` and `reportingComponent` of our Events.
pub const COMPONENT: &str = "ovn-vpcd";

/// `reportingInstance`: this host's name, read once (`ovn-vpcd` if unknown).
fn reporting_instance() -> &'static str {
    static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    INSTANCE.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = host.trim();
        let host = if host.is_empty() { COMPONENT } else { host };
        truncate(host, 128)
    })
}

/// What the daemon was doing when it saw what an Event reports (`action`).
fn action_of(reason: &str) -> &'static str {
    match reason {
        super::status::REASON_VALIDATION_FAILED => "Validate",
        "AddressNotAllocated" => "AllocateAddress",
        _ => "Reconcile",
    }
}

/// An RFC 3339 time as Kubernetes' MicroTime (six fractional digits).
fn micro_time(rfc3339: &str) -> String {
    let Some(body) = rfc3339.strip_suffix('Z') else { return rfc3339.to_string() };
    let (secs, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    format!("{secs}.{digits}Z")
}

/// Longest message we send (Kubernetes' event note limit is 1 KiB).
const MAX_MESSAGE: usize = 1024;

/// Kubernetes object names are at most 253 characters.
const MAX_NAME: usize = 253;

/// Each part followed by a zero byte, so that parts cannot run into each other.
fn fnv1a64(parts: &[&str]) -> u64 {
    crate::hash::fnv1a64(parts.iter().flat_map(|p| p.bytes().chain(std::iter::once(0))))
}

/// `<object>.<16 hex digits>`, the object part shortened to fit 253 characters.
fn event_name(object: &str, uid: &str, reason: &str, message: &str, now: &str) -> String {
    let hash = format!("{:016x}", fnv1a64(&[uid, reason, message, now]));
    let head = truncate(object, MAX_NAME - hash.len() - 1);
    let head = head.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{head}.{hash}")
}

/// A Warning Event about `object` (as read from the API: name, uid,
/// resourceVersion, namespace if any) of kind `kind`. `now` is RFC 3339.
pub fn warning_event(kind: Kind, object: &Json, reason: &str, message: &str, now: &str) -> Json {
    let md = |k: &str| object.pointer(&format!("/metadata/{k}")).and_then(Json::as_str).unwrap_or("");
    let (name, uid, namespace) = (md("name"), md("uid"), md("namespace"));
    let api_version = object.get("apiVersion").and_then(Json::as_str).unwrap_or("kubeovn.io/v1");
    let message = truncate(message, MAX_MESSAGE);
    let mut involved = json!({
        "apiVersion": api_version,
        "kind": kind.as_str(),
        "name": name,
        "uid": uid,
        "resourceVersion": md("resourceVersion"),
    });
    if !namespace.is_empty() {
        involved["namespace"] = namespace.into();
    }
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": event_name(name, uid, reason, &message, now),
            "namespace": if namespace.is_empty() { "default" } else { namespace },
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": "Warning",
        "source": { "component": COMPONENT },
        "reportingComponent": COMPONENT,
        "reportingInstance": reporting_instance(),
        "action": action_of(reason),
        "eventTime": micro_time(now),
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    })
}

/// The Event for a validation rejection of `object`.
pub fn rejection_event(object: &Json, rejection: &Rejection, now: &str) -> Json {
    let message = super::status::rejection_message(rejection);
    warning_event(rejection.object.kind, object, super::status::REASON_VALIDATION_FAILED, &message, now)
}

/// Creates `event` in its `metadata.namespace`. `Ok(false)`: an Event of that
/// name already exists (a retry of one already posted).
pub async fn post_event(client: &KubeClient, event: &Json) -> Result<bool, KubeError> {
    let ns = event.pointer("/metadata/namespace").and_then(Json::as_str).unwrap_or("default");
    match client.create(&format!("/api/v1/namespaces/{ns}/events"), event).await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet() -> Json {
        json!({"apiVersion": "kubeovn.io/v1", "kind": "Subnet",
               "metadata": {"name": "s1", "uid": "u-1", "resourceVersion": "7", "generation": 2}})
    }

    #[test]
    fn rejection_event_names_the_object_and_lands_in_default() {
        let r = Rejection::new(crate::model::object::ObjectKey::subnet("s1"), "cidrBlock", "bad");
        let e = rejection_event(&subnet(), &r, "2024-05-01T10:00:00Z");
        assert_eq!(e["metadata"]["namespace"], "default");
        assert_eq!(
            e["involvedObject"],
            json!({"apiVersion": "kubeovn.io/v1", "kind": "Subnet", "name": "s1", "uid": "u-1", "resourceVersion": "7"})
        );
        assert_eq!((e["type"].as_str(), e["reason"].as_str()), (Some("Warning"), Some("ValidationFailed")));
        assert_eq!(e["message"], "cidrBlock: bad");
        assert_eq!(e["source"]["component"], "ovn-vpcd");
        assert_eq!((e["count"].as_i64(), e["firstTimestamp"].as_str()), (Some(1), Some("2024-05-01T10:00:00Z")));
        // What events.k8s.io/v1 requires of an Event.
        assert_eq!(e["eventTime"], "2024-05-01T10:00:00.000000Z");
        assert_eq!((e["reportingComponent"].as_str(), e["action"].as_str()), (Some("ovn-vpcd"), Some("Validate")));
        assert!(!e["reportingInstance"].as_str().unwrap().is_empty());
        assert_eq!(micro_time("2024-05-01T10:00:00.123456Z"), "2024-05-01T10:00:00.123456Z");
        assert_eq!(micro_time("2024-05-01T10:00:00.5Z"), "2024-05-01T10:00:00.500000Z");
        let name = e["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with("s1.") && name.len() == 3 + 16, "{name}");
        // Deterministic: the same event twice has the same name; another time, another name.
        assert_eq!(rejection_event(&subnet(), &r, "2024-05-01T10:00:00Z")["metadata"]["name"], name);
        assert_ne!(rejection_event(&subnet(), &r, "2024-05-01T10:00:01Z")["metadata"]["name"], name);
    }

    #[test]
    fn long_names_and_messages_are_cut_to_the_limits() {
        let long = format!("{}-{}", "a".repeat(235), "b".repeat(20)); // cut right after the '-'
        let o = json!({"metadata": {"name": long, "uid": "u", "namespace": "ns1"}});
        let e = warning_event(Kind::Vpc, &o, "NorthboundRefused", &"é".repeat(2000), "2024-05-01T10:00:00Z");
        let name = e["metadata"]["name"].as_str().unwrap();
        assert!(name.len() <= 253 && name.split('.').next().unwrap().ends_with('a'), "{name}");
        assert!(e["message"].as_str().unwrap().len() <= 1024);
        assert_eq!(e["metadata"]["namespace"], "ns1", "a namespaced object's events stay in its namespace");
        assert_eq!(e["involvedObject"]["namespace"], "ns1");
    }
}
