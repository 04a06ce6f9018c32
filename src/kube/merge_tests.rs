use super::*;
use serde_json::json;

fn obj(kind: &str, name: &str, spec: Json) -> Arc<Json> {
    Arc::new(json!({"apiVersion": "kubeovn.io/v1", "kind": kind,
        "metadata": {"name": name, "generation": 1, "resourceVersion": "1"}, "spec": spec}))
}

fn store() -> Store {
    let mut s = Store { synced: true, ..Store::default() };
    s.vpcs.insert("v".into(), obj("Vpc", "v", json!({})));
    s.subnets.insert("n".into(), obj("Subnet", "n", json!({"vpc": "v", "cidrBlock": "10.7.0.0/24"})));
    s.nat_gateways
        .insert("gw".into(), obj("VpcNatGateway", "gw", json!({"vpc": "v", "subnet": "n", "lanIp": "10.7.0.9"})));
    s.eips.insert("e".into(), obj("IptablesEIP", "e", json!({"natGwDp": "gw"})));
    s.dnat_rules.insert("d".into(), obj("IptablesDnatRule", "d", json!({"eip": "e"})));
    s
}

/// `s` with the object `key` of `kind` edited by `edit`.
fn edited(s: &Store, kind: Kind, key: &str, edit: impl FnOnce(&mut Json)) -> Store {
    let mut s = s.clone();
    let mut o = (**s.of_kind(kind).get(key).expect("present")).clone();
    edit(&mut o);
    s.of_kind_mut(kind).insert(key.to_string(), Arc::new(o));
    s
}

/// What our own writes change (each watch echo) merges the same and is
/// not merged again; whatever merging reads is. And wherever the store
/// says "the same", merging both gives the same, by construction.
#[test]
fn only_what_merging_reads_makes_it_merge_again() {
    let config = Config::default();
    let s = store();
    let from = s.merge_inputs();
    let same: Vec<(&str, Store)> = vec![
        ("a status written", edited(&s, Kind::Subnet, "n", |o| o["status"] = json!({"v4usingIPs": 3}))),
        (
            "our finalizer",
            edited(&s, Kind::Vpc, "v", |o| o["metadata"]["finalizers"] = json!([crate::kube::resources::FINALIZER])),
        ),
        (
            "a label and a resourceVersion",
            edited(&s, Kind::VpcNatGateway, "gw", |o| {
                o["metadata"]["labels"] = json!({"a": "b"});
                o["metadata"]["resourceVersion"] = json!("2");
            }),
        ),
        ("an EIP's conditions", edited(&s, Kind::IptablesEip, "e", |o| o["status"] = json!({"conditions": []}))),
        ("a rule's status", edited(&s, Kind::IptablesDnatRule, "d", |o| o["status"] = json!({"ready": true}))),
        ("an object put back as it was", edited(&s, Kind::Subnet, "n", |_| {})),
    ];
    for (why, now) in &same {
        assert!(from.same_merge_inputs(now), "{why}: merged again");
        assert_eq!(merge(&config, &from), merge(&config, now), "{why}: merges otherwise");
    }
    let mut removed = s.clone();
    removed.dnat_rules.remove("d");
    let mut added = s.clone();
    added.vpcs.insert("w".into(), obj("Vpc", "w", json!({})));
    let recorded = |o: &mut Json| {
        let defaults = json!({"cidrBlock": "10.7.0.0/24"}).to_string();
        o["metadata"]["annotations"][crate::kube::defaults::DEFAULTS_ANNOTATION] = json!(defaults);
    };
    let differ: Vec<(&str, Store)> = vec![
        ("a spec edited", edited(&s, Kind::Subnet, "n", |o| o["spec"]["cidrBlock"] = json!("10.8.0.0/24"))),
        ("a generation", edited(&s, Kind::Vpc, "v", |o| o["metadata"]["generation"] = json!(2))),
        ("a deletion", edited(&s, Kind::VpcNatGateway, "gw", |o| o["metadata"]["deletionTimestamp"] = json!("t"))),
        ("an EIP's address", edited(&s, Kind::IptablesEip, "e", |o| o["status"] = json!({"ip": "172.18.0.5"}))),
        ("an EIP's gateway", edited(&s, Kind::IptablesEip, "e", |o| o["status"] = json!({"natGwDp": "gw"}))),
        ("a default recorded as ours", edited(&s, Kind::Subnet, "n", recorded)),
        ("a rule removed", removed),
        ("a VPC added", added),
    ];
    for (why, now) in &differ {
        assert!(!from.same_merge_inputs(now), "{why}: not merged again");
    }
    // Each of these changes how the merge comes out, so the list is honest.
    for (why, now) in &differ {
        assert_ne!(merge(&config, &from), merge(&config, now), "{why}");
    }
}

/// Beyond its log, a map cannot tell what changed: merge again.
#[test]
fn a_change_beyond_the_log_merges_again() {
    let s = store();
    let from = s.merge_inputs();
    let mut now = s.clone();
    for i in 0..=crate::kube::keyed::LOG_LIMIT {
        let status = json!({"v4usingIPs": i});
        now = edited(&now, Kind::Subnet, "n", |o| o["status"] = status);
    }
    assert!(!from.same_merge_inputs(&now));
    // Taken anew, the next status written is not merged again.
    let from = now.merge_inputs();
    assert!(from.same_merge_inputs(&edited(&now, Kind::Subnet, "n", |o| o["status"] = json!({}))));
}

/// Our defaults written into a spec move only its generation: the merge
/// follows without merging again, and is what merging anew gives.
#[test]
fn a_generation_alone_is_followed_without_merging() {
    let config = Config::default();
    let s = store();
    let from = s.merge_inputs();
    let defaulted = edited(&s, Kind::Subnet, "n", |o| {
        o["spec"]["private"] = json!(false);
        let ours = json!({"private": false}).to_string();
        o["metadata"]["annotations"][crate::kube::defaults::DEFAULTS_ANNOTATION] = json!(ours);
        o["metadata"]["generation"] = json!(2);
    });
    let changes = from.merge_changes(&defaulted).expect("only a generation moved");
    assert_eq!(changes, [(ObjectKey::subnet("n"), Some(2))]);
    let (before, after) = (merge(&config, &from), merge(&config, &defaulted));
    assert_eq!(before.with_generations(changes), after);
    assert!(before.same_specs(&after) && before != after);
    // The user's own edit with it is merged again.
    let edited_too = edited(&defaulted, Kind::Subnet, "n", |o| o["spec"]["private"] = json!(true));
    assert_eq!(from.merge_changes(&edited_too), None);
    assert!(!before.same_specs(&merge(&config, &edited_too)));
}
