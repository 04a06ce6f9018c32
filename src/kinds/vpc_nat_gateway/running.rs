//! What each gateway runs: the rule sets in the rules ConfigMaps this
//! daemon wrote (`workload.rs`), as the watch shows them. They are the
//! record of what is in force — the agent applies exactly that set — and
//! the previous state the conflict checks (`model::validate::claims`), the
//! hold of refused objects (`daemon::nat::hold`) and the immutability of a
//! running gateway's namespace read. Pure.
//!
//! Invariants: only a ConfigMap that is ovn-vpcd's counts — labelled
//! `app.kubernetes.io/managed-by: ovn-vpcd`, named `<prefix>-<gateway>-rules`,
//! its controller the VpcNatGateway of that name *and uid* (a gateway
//! deleted and made again under its name is another gateway: its
//! predecessor's ConfigMap, still being garbage-collected, says nothing of
//! it) or the anchor (a TOML gateway), its `rules.json` decoding to that
//! gateway's set, not being deleted — and in a namespace the gateway's
//! workload may be in (the daemon's, or the one its spec names; an
//! anchor-owned one only the daemon's; checked by the caller, `place`).
//! Owner references are free-form, so a tenant allowed to write ConfigMaps
//! in its own namespace could make a lookalike; it neither counts nor hides
//! the real one. In those namespaces tenants cannot write (the gateway's own
//! Role only reads it), unlike a resource's status, which is why what runs
//! is read from here and never from statuses. Of two ConfigMaps for
//! one gateway (a prefix being changed), the first by namespace and name
//! counts.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::kube::objects::anchor::names_anchor;
use crate::kube::objects::{controller_of, has_managed_by};
use crate::rules::nat::NatRuleSet;
use crate::rules::DATA_KEY;

/// A gateway's running set and where it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    pub namespace: String,
    pub set: NatRuleSet,
}

/// Every gateway's running set, by gateway name.
pub type RunningSets = BTreeMap<String, Running>;

/// The running sets in `config_maps` (the watched ConfigMaps labelled ours);
/// `uid`: a VpcNatGateway resource's uid, by name; `place`: whether a
/// gateway's workload may be in a namespace (the daemon's, or the one its
/// spec names: a tenant may write ConfigMaps elsewhere, and a ConfigMap
/// elsewhere never counts, nor hides the real one), `true` for an
/// anchor-owned one (a TOML gateway's: only the daemon's namespace).
pub fn running_sets<'a>(
    config_maps: impl IntoIterator<Item = &'a Json>,
    uid: impl Fn(&str) -> Option<String>,
    place: impl Fn(&str, &str, bool) -> bool,
) -> RunningSets {
    let mut out = RunningSets::new();
    for cm in config_maps {
        let Some((gateway, running, anchored)) = running(cm, &uid) else { continue };
        if place(&gateway, &running.namespace, anchored) {
            out.entry(gateway).or_insert(running);
        }
    }
    out
}

fn running(cm: &Json, uid: impl Fn(&str) -> Option<String>) -> Option<(String, Running, bool)> {
    let deleting = cm.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null());
    if !has_managed_by(cm) || deleting {
        return None;
    }
    let meta = |k: &str| cm.pointer(&format!("/metadata/{k}")).and_then(Json::as_str);
    let (namespace, name) = (meta("namespace")?, meta("name")?);
    let set = NatRuleSet::from_json(cm.pointer(&format!("/data/{DATA_KEY}"))?.as_str()?).ok()?;
    if !name.ends_with(&format!("-{}-rules", set.gateway)) {
        return None;
    }
    let c = controller_of(cm)?;
    let s = |k: &str| c.get(k).and_then(Json::as_str).unwrap_or("");
    let by_gateway = s("apiVersion").starts_with("kubeovn.io/")
        && s("kind") == "VpcNatGateway"
        && s("name") == set.gateway
        && uid(&set.gateway).is_some_and(|u| u == s("uid"));
    if !by_gateway && !names_anchor(c) {
        return None;
    }
    Some((set.gateway.clone(), Running { namespace: namespace.to_string(), set }, !by_gateway))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str, owner: Json, data: &str) -> Json {
        json!({"metadata": {"namespace": "kube-system", "name": name,
            "labels": {"app.kubernetes.io/managed-by": "ovn-vpcd"}, "ownerReferences": [owner]},
            "data": {DATA_KEY: data}})
    }

    #[test]
    fn only_our_rules_config_maps_count() {
        let set = include_str!("../../../tests/fixtures/seed-003-rules.json");
        let gw = json!({"apiVersion": "kubeovn.io/v1", "kind": "VpcNatGateway", "name": "natgw", "uid": "u", "controller": true});
        let anchor = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "ovn-vpcd-toml-gateways", "uid": "a", "controller": true});
        let other = json!({"apiVersion": "kubeovn.io/v1", "kind": "VpcNatGateway", "name": "other", "uid": "o", "controller": true});
        let ours = cm("vpc-nat-gw-natgw-rules", gw.clone(), set);
        let uid = |g: &str| (g == "natgw").then(|| "u".to_string());
        let r = running_sets([&ours], uid, |_, _, _| true);
        assert_eq!(r["natgw"].namespace, "kube-system");
        assert_eq!(r["natgw"].set, NatRuleSet::from_json(set).unwrap());
        assert_eq!(running_sets([&cm("vpc-nat-gw-natgw-rules", anchor, set)], uid, |_, _, _| true).len(), 1);
        // natgw deleted and made again (another uid): its predecessor's set is not its.
        assert!(running_sets([&ours], |_| Some("u2".to_string()), |_, _, _| true).is_empty());
        assert!(running_sets([&ours], |_| None, |_, _, _| true).is_empty());
        // A lookalike in a namespace the gateway's workload may not be in
        // (a tenant's) neither counts nor hides ours.
        let mut forged = ours.clone();
        forged["metadata"]["namespace"] = json!("a-tenant");
        forged["data"][DATA_KEY] = json!(set.replace("10.0.1.254", "10.0.1.99"));
        let place = |_: &str, ns: &str, _| ns == "kube-system";
        let r = running_sets([&forged, &ours], uid, place);
        assert_eq!(r["natgw"].namespace, "kube-system");
        assert_eq!(r["natgw"].set, NatRuleSet::from_json(set).unwrap());
        // Not ours: another gateway's controller, a name not the gateway's, no label, not a set.
        let mut unlabelled = ours.clone();
        unlabelled["metadata"]["labels"] = json!({});
        for not in [
            cm("vpc-nat-gw-natgw-rules", other, set),
            cm("vpc-nat-gw-elsewhere-rules", gw.clone(), set),
            cm("vpc-nat-gw-natgw-rules", gw, "{\"version\": 1}"),
            unlabelled,
        ] {
            assert!(running_sets([&not], uid, |_, _, _| true).is_empty(), "{not}");
        }
        // One being deleted (a finalizer of someone's holding it) does not count.
        let mut going = ours.clone();
        going["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
        assert!(running_sets([&going], uid, |_, _, _| true).is_empty());
    }
}
