use super::*;
use crate::config::Config;
use crate::model::validate::validate;
use serde_json::json;

fn obj(kind: &str, name: &str, spec: Json) -> Json {
    json!({"apiVersion": "kubeovn.io/v1", "kind": kind, "metadata": {"name": name, "generation": 1}, "spec": spec})
}

fn arc(kind: &str, name: &str, spec: Json) -> Arc<Json> {
    Arc::new(obj(kind, name, spec))
}

fn store() -> Store {
    let mut s = Store { synced: true, ..Store::default() };
    s.vpcs.insert(
        "cr-vpc".into(),
        arc(
            "Vpc",
            "cr-vpc",
            json!({"staticRoutes": [
        {"cidr": "0.0.0.0/0", "nextHopIP": "10.7.0.254", "policy": "policyDst"}]}),
        ),
    );
    s.vpcs.insert("test-vpc-1".into(), arc("Vpc", "test-vpc-1", json!({})));
    s.subnets.insert("cr-net".into(), arc("Subnet", "cr-net", json!({"vpc": "cr-vpc", "cidrBlock": "10.7.0.0/24"})));
    s.subnets.insert("bad".into(), arc("Subnet", "bad", json!({"vpc": "cr-vpc", "cidrBlock": 7})));
    let mut gone = obj("Subnet", "gone", json!({"vpc": "cr-vpc", "cidrBlock": "10.8.0.0/24"}));
    gone["metadata"]["deletionTimestamp"] = json!("2026-11-24T00:00:00Z");
    gone["metadata"]["finalizers"] = json!([FINALIZER]);
    s.subnets.insert("gone".into(), Arc::new(gone));
    s
}

fn toml() -> Config {
    Config::parse("t", include_str!("../../config/ovn-vpcd.toml")).unwrap()
}

#[test]
fn resources_join_the_toml_and_a_name_clash_is_refused_on_the_resource() {
    let m = merge(&toml(), &store());
    let vpcs: Vec<&str> = m.vpcs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(vpcs, ["test-vpc-1", "test-vpc-2", "cr-vpc"]);
    let subnets: Vec<&str> = m.subnets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(subnets, ["net1", "net2", "cr-net"]);
    // The TOML's test-vpc-1 keeps its routes: the resource's empty spec is not used.
    assert_eq!(m.vpcs[0].1.static_routes.len(), 2);
    let refused: Vec<String> = m.refused.iter().map(ToString::to_string).collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].starts_with("Vpc \"test-vpc-1\": metadata.name: also defined in the TOML"), "{refused:?}");
    assert!(refused[1].starts_with("Subnet \"bad\": spec: invalid type: integer `7`"), "{refused:?}");
    assert_eq!(m.deleting, [ObjectKey::subnet("gone")]);
}

#[test]
fn verdicts_say_ready_or_why_not_and_skip_deleted_resources() {
    let (s, config) = (store(), toml());
    let m = merge(&config, &s);
    let (model, rejected) = validate(&m.vpcs, &m.subnets);
    assert!(rejected.is_empty(), "{rejected:?}");
    let v = verdicts(&s, &m, &model, &rejected, &BTreeMap::new(), |n| if n == "cr-net" { 3 } else { 0 });
    let by: BTreeMap<(&str, &str), &Verdict> =
        v.iter().map(|v| ((v.object.kind.as_str(), v.object.name.as_str()), v)).collect();
    assert_eq!(by.len(), 4, "the deleted subnet gets no verdict: {v:?}");
    assert_eq!(by[&("Vpc", "cr-vpc")].outcome, Outcome::Ready);
    match &by[&("Vpc", "cr-vpc")].fields {
        StatusFields::Vpc(f) => assert_eq!(f.subnets, ["cr-net"]),
        other => panic!("{other:?}"),
    }
    match &by[&("Subnet", "cr-net")].fields {
        StatusFields::Subnet(u) => assert_eq!((u.v4_using, u.v4_available), (3, 250)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(&by[&("Vpc", "test-vpc-1")].outcome, Outcome::Rejected(r) if r.field == "metadata.name"));
    assert!(matches!(&by[&("Subnet", "bad")].outcome, Outcome::Rejected(r) if r.field == "spec"));
}

/// Kube-OVN's defaults written into a spec change the generation but
/// not what the spec decodes to: the merge still differs, so a pass
/// reports the status of the new generation.
#[test]
fn a_new_generation_is_a_new_input_even_when_the_spec_decodes_the_same() {
    let mut s = store();
    let before = merge(&Config::default(), &s);
    let mut net = (*s.subnets["cr-net"]).clone();
    net["spec"]["private"] = json!(false);
    net["metadata"]["generation"] = json!(2);
    s.subnets.insert("cr-net".into(), Arc::new(net));
    let after = merge(&Config::default(), &s);
    assert_eq!(after.subnets, before.subnets);
    assert_ne!(after, before);
    assert_eq!(after.generations[&ObjectKey::subnet("cr-net")], 2);
}

/// An EIP being deleted stays in the specs (and keeps its finalizer)
/// while a rule names it; its status is read as its previous state.
#[test]
fn an_eip_being_deleted_stays_while_rules_name_it() {
    let mut s = Store::default();
    let mut e = obj("IptablesEIP", "e", json!({"natGwDp": "gw"}));
    e["metadata"]["deletionTimestamp"] = json!("2026-11-24T00:00:00Z");
    e["status"] = json!({"ip": "172.16.3.9", "ready": true, "natGwDp": "gw"});
    s.eips.insert("e".into(), Arc::new(e));
    s.snat_rules.insert("r".into(), arc("IptablesSnatRule", "r", json!({"eip": "e", "internalCIDR": "10.0.0.0/24"})));
    let m = merge(&Config::default(), &s);
    let key = ObjectKey::cluster(Kind::IptablesEip, "e");
    assert_eq!((m.deleting.as_slice(), m.nat.eips.len()), (std::slice::from_ref(&key), 1));
    assert!(m.in_use(&key));
    let prev = &m.nat.eip_status["e"];
    assert_eq!(
        (prev.ip, prev.ready, prev.nat_gw_dp.as_deref()),
        (Some("172.16.3.9".parse().unwrap()), true, Some("gw"))
    );
    s.snat_rules.remove("r");
    let m = merge(&Config::default(), &s);
    assert!(m.nat.eips.is_empty() && !m.in_use(&key));
}

#[test]
fn a_spec_naming_itself_is_refused() {
    let mut s = Store::default();
    s.vpcs.insert("v".into(), arc("Vpc", "v", json!({"name": "other"})));
    let m = merge(&Config::default(), &s);
    assert!(m.vpcs.is_empty());
    assert_eq!(m.refused[0].field, "spec");
}

/// Kube-OVN's own fields (its controller writes `enableLb` into every
/// subnet) are accepted and named on the status; a field Kube-OVN does
/// not have either is refused by name; a subnet without `vpc` is the
/// default VPC's and waits for it.
#[test]
fn kube_ovn_fields_are_accepted_and_noticed_and_typos_refused() {
    let mut s = Store { synced: true, ..Store::default() };
    s.vpcs
        .insert("v".into(), arc("Vpc", "v", json!({"enableExternal": true, "defaultSubnet": "s", "vpcPeerings": []})));
    s.subnets.insert(
        "s".into(),
        arc(
            "Subnet",
            "s",
            json!({"vpc": "v", "cidrBlock": "10.9.0.0/24", "enableLb": true, "vlan": "vlan1",
                                  "u2oInterconnection": false, "acls": [], "provider": "ovn",
                                  "gatewayType": "distributed", "excludeIps": ["10.9.0.1"]}),
        ),
    );
    s.subnets.insert(
        "typo".into(),
        arc("Subnet", "typo", json!({"vpc": "v", "cidrBlock": "10.8.0.0/24", "enableLB": true})),
    );
    s.subnets.insert("nodefault".into(), arc("Subnet", "nodefault", json!({"cidrBlock": "10.7.0.0/24"})));
    let m = merge(&Config::default(), &s);
    assert_eq!(m.refused.len(), 1, "{:?}", m.refused);
    assert!(m.refused[0].to_string().starts_with("Subnet \"typo\": spec: unknown field `enableLB`"), "{:?}", m.refused);
    let (model, rejected) = validate(&m.vpcs, &m.subnets);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(
        rejected[0].waiting
            && rejected[0].to_string() == "Subnet \"nodefault\": vpc: VPC \"ovn-cluster\" is not defined"
    );
    let v = verdicts(&s, &m, &model, &rejected, &BTreeMap::new(), |_| 0);
    let of = |n: &str| v.iter().find(|v| v.object.name == n).unwrap();
    let fields = |n: &str| match &of(n).outcome {
        Outcome::ReadyExcept(ns) => ns.iter().map(|n| (n.field.as_str(), n.effect)).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    use crate::model::validate::Effect::{NoEffect, NotRealised};
    assert_eq!(fields("v"), [("enableExternal", NotRealised), ("defaultSubnet", NotRealised)]);
    assert_eq!(fields("s"), [("vlan", NotRealised), ("enableLb", NoEffect)]);
    match &of("v").fields {
        StatusFields::Vpc(f) => assert!(f.standby, "the router exists once the pass converged"),
        other => panic!("{other:?}"),
    }
}

fn names<T>(v: &[(String, T)]) -> Vec<String> {
    v.iter().map(|(n, _)| n.clone()).collect()
}

/// The TOML's NAT objects join the resources, first; a resource of a
/// TOML object's name is refused with the name-clash reason (the TOML's
/// stays, and no resource's status is read as its previous state), and
/// a `name` in a NAT resource's spec is refused by name.
#[test]
fn toml_nat_objects_join_the_resources_and_a_name_clash_is_refused_on_the_resource() {
    let text = "[kubernetes]\nkubeconfig = \"k\"\n[[vpcNatGateway]]\nname = \"natgw\"\nvpc = \"v\"\nsubnet = \"s\"\n\
                lanIp = \"10.0.1.254\"\n[[iptablesEip]]\nname = \"eips01\"\nnatGwDp = \"natgw\"\nv4ip = \"172.16.3.208\"\n\
                [[iptablesSnatRule]]\nname = \"snat01\"\neip = \"eips01\"\ninternalCIDR = \"10.0.1.0/24\"\n";
    let config = Config::parse("t.toml", text).unwrap();
    let mut s = Store { synced: true, ..Store::default() };
    s.nat_gateways.insert("natgw".into(), arc("VpcNatGateway", "natgw", json!({"vpc": "other", "lanIp": "10.9.0.9"})));
    s.nat_gateways.insert("gw2".into(), arc("VpcNatGateway", "gw2", json!({"vpc": "v", "subnet": "s"})));
    let mut eip = obj("IptablesEIP", "eips01", json!({"natGwDp": "gw2"}));
    eip["status"] = json!({"ip": "172.16.3.9", "ready": true, "natGwDp": "gw2"});
    s.eips.insert("eips01".into(), Arc::new(eip));
    s.eips.insert("eipd01".into(), arc("IptablesEIP", "eipd01", json!({"natGwDp": "gw2"})));
    s.snat_rules.insert("named".into(), arc("IptablesSnatRule", "named", json!({"name": "x", "eip": "eipd01"})));
    let m = merge(&config, &s);
    assert_eq!(names(&m.nat.gateways), ["natgw", "gw2"]);
    assert_eq!(m.nat.gateways[0].1.vpc, "v", "the TOML's natgw, not the resource's");
    assert_eq!(names(&m.nat.eips), ["eips01", "eipd01"]);
    assert_eq!(m.nat.eips[0].1.nat_gw_dp, "natgw");
    assert_eq!(names(&m.nat.snats), ["snat01"]);
    assert!(m.nat.eip_status.is_empty(), "{:?}", m.nat.eip_status);
    let refused: Vec<String> = m.refused.iter().map(ToString::to_string).collect();
    assert_eq!(
        refused,
        [
            "VpcNatGateway \"natgw\": metadata.name: also defined in the TOML configuration, which stays in force",
            "IptablesEIP \"eips01\": metadata.name: also defined in the TOML configuration, which stays in force",
            "IptablesSnatRule \"named\": spec: unknown field `name` (the name is metadata.name)",
        ]
    );
}

/// The merge is reused across pod events: a change of a merged kind's spec
/// merges again (what merging does not read, `merge::tests`), and a copy of
/// the store shares the versions it was taken from.
#[test]
fn the_merge_inputs_follow_every_merged_kind_but_not_pods() {
    let mut s = store();
    let from = s.merge_inputs();
    assert!(from.same_merge_inputs(&s) && from.pods.is_empty());
    s.pods.insert("ns/p".into(), Arc::new(json!({"metadata": {"namespace": "ns", "name": "p"}})));
    assert!(from.same_merge_inputs(&s), "a pod is not merged");
    let copy = s.clone();
    s.subnets.insert("cr-net".into(), arc("Subnet", "cr-net", json!({"vpc": "cr-vpc", "cidrBlock": "10.9.0.0/24"})));
    assert!(!from.same_merge_inputs(&s), "a subnet changed");
    assert!(from.same_merge_inputs(&copy), "the copy kept the version it shared");
    let mut s = copy;
    s.dnat_rules.insert("d".into(), arc("IptablesDnatRule", "d", json!({})));
    assert!(!from.same_merge_inputs(&s), "a NAT kind changed");
}

/// A rules ConfigMap as the daemon writes it for gateway `gw` (uid `uid`)
/// in `ns`, holding seed 003's set renamed to `gw`.
pub(crate) fn rules_cm(ns: &str, gw: &str, uid: &str) -> Json {
    let set = include_str!("../../tests/fixtures/seed-003-rules.json").replace("\"natgw\"", &format!("\"{gw}\""));
    json!({"metadata": {"namespace": ns, "name": format!("vpc-nat-gw-{gw}-rules"),
        "labels": {"app.kubernetes.io/managed-by": "ovn-vpcd"},
        "ownerReferences": [{"apiVersion": "kubeovn.io/v1", "kind": "VpcNatGateway", "name": gw,
            "uid": uid, "controller": true}]},
        "data": {"rules.json": set}})
}

/// What the gateways run costs per change, not per ConfigMap: a tenant's
/// lookalike (in its own namespace, where it never counts) changing again
/// and again decodes that one only, and leaves every gateway's running set
/// as it was decoded (the same allocation); a change of one gateway's
/// ConfigMap chooses that gateway's set again, not the others'.
#[test]
fn a_rules_config_map_is_decoded_once_per_change_of_its_own() {
    use crate::kube::watcher::Event;
    let mut s = Store::default();
    for g in ["gw1", "gw2"] {
        s.nat_gateways.insert(g.into(), Arc::new(json!({"metadata": {"name": g, "uid": format!("u-{g}")}})));
    }
    let all = vec![rules_cm("kube-system", "gw1", "u-gw1"), rules_cm("kube-system", "gw2", "u-gw2")];
    apply_feed(&mut s, Feed::RuleSets, Event::Restarted(all));
    assert_eq!(s.running.keys().collect::<Vec<_>>(), ["gw1", "gw2"]);
    let before = s.running.clone();
    for _ in 0..3 {
        apply_feed(&mut s, Feed::RuleSets, Event::Applied(rules_cm("a-tenant", "gw1", "u-gw1")));
    }
    for g in ["gw1", "gw2"] {
        assert!(Arc::ptr_eq(&before[g], &s.running[g]), "{g} was chosen again");
        assert_eq!(s.running[g].namespace, "kube-system");
    }
    // gw2's own ConfigMap changes: gw2 is read anew, gw1 untouched.
    let mut changed = rules_cm("kube-system", "gw2", "u-gw2");
    let text = changed["data"]["rules.json"].as_str().unwrap().replace("10.0.1.254", "10.0.1.253");
    changed["data"]["rules.json"] = json!(text);
    apply_feed(&mut s, Feed::RuleSets, Event::Applied(changed.clone()));
    assert!(Arc::ptr_eq(&before["gw1"], &s.running["gw1"]));
    assert_eq!(s.running["gw2"].set.lan.ip.to_string(), "10.0.1.253");
    // gw2 deleted and made again (another uid): its predecessor's set is not its.
    s.nat_gateways.insert("gw2".into(), Arc::new(json!({"metadata": {"name": "gw2", "uid": "u-again"}})));
    apply_feed(
        &mut s,
        Feed::Kind(Kind::VpcNatGateway),
        Event::Applied(json!({"metadata": {"name": "gw2", "uid": "u-again"}})),
    );
    assert_eq!(s.running.keys().collect::<Vec<_>>(), ["gw1"]);
    // Its ConfigMap deleted: nothing left of it; the tenant's is gone too.
    apply_feed(&mut s, Feed::RuleSets, Event::Deleted(changed));
    apply_feed(&mut s, Feed::RuleSets, Event::Deleted(rules_cm("a-tenant", "gw1", "u-gw1")));
    assert_eq!(s.rule_sets.keys().collect::<Vec<_>>(), ["kube-system/vpc-nat-gw-gw1-rules"]);
    assert_eq!(s.rule_sets.of("gw1").map(|c| c.namespace.as_str()).collect::<Vec<_>>(), ["kube-system"]);
    assert_eq!(s.rule_sets.of("gw2").count(), 0);
}

/// A running gateway whose `spec.namespace` is edited keeps its rules
/// ConfigMap where it was made as what it runs (it does not move), while a
/// namespace its spec named only in an edit since reverted counts for
/// nothing, and a gateway made again under its name starts afresh.
#[test]
fn a_gateways_rules_config_map_counts_where_it_ran_and_where_its_spec_says() {
    use crate::kube::watcher::Event;
    let gw = |uid: &str, ns: &str| json!({"metadata": {"name": "gw1", "uid": uid}, "spec": {"namespace": ns}});
    let mut s = Store::default();
    apply_feed(&mut s, Feed::Kind(Kind::VpcNatGateway), Event::Restarted(vec![gw("u1", "gw-ns")]));
    let rules = vec![rules_cm("gw-ns", "gw1", "u1"), rules_cm("a-tenant", "gw1", "u1")];
    apply_feed(&mut s, Feed::RuleSets, Event::Restarted(rules));
    assert_eq!(s.running["gw1"].namespace, "gw-ns");
    // Edited (a typo): it still runs in gw-ns.
    apply_feed(&mut s, Feed::Kind(Kind::VpcNatGateway), Event::Applied(gw("u1", "gw-nss")));
    assert_eq!(s.running["gw1"].namespace, "gw-ns");
    // A relist of the gateways keeps what was named.
    apply_feed(&mut s, Feed::Kind(Kind::VpcNatGateway), Event::Restarted(vec![gw("u1", "gw-nss")]));
    assert_eq!(s.running["gw1"].namespace, "gw-ns");
    // An edit naming another namespace, reverted: a ConfigMap made there
    // meanwhile (by whoever may write there) does not count.
    apply_feed(&mut s, Feed::Kind(Kind::VpcNatGateway), Event::Applied(gw("u1", "other")));
    apply_feed(&mut s, Feed::Kind(Kind::VpcNatGateway), Event::Applied(gw("u1", "gw-nss")));
    apply_feed(&mut s, Feed::RuleSets, Event::Applied(rules_cm("other", "gw1", "u1")));
    assert_eq!(s.running["gw1"].namespace, "gw-ns");
    apply_feed(&mut s, Feed::RuleSets, Event::Deleted(rules_cm("gw-ns", "gw1", "u1")));
    assert!(s.running.is_empty(), "{:?}", s.running);
    apply_feed(&mut s, Feed::RuleSets, Event::Applied(rules_cm("gw-ns", "gw1", "u1")));
    assert_eq!(s.running["gw1"].namespace, "gw-ns", "made again where it ran");
    // Made again (another uid) in another namespace: the old one is not its.
    apply_feed(&mut s, Feed::Kind(Kind::VpcNatGateway), Event::Applied(gw("u2", "gw-nss")));
    apply_feed(&mut s, Feed::RuleSets, Event::Applied(rules_cm("gw-ns", "gw1", "u2")));
    assert!(s.running.is_empty(), "{:?}", s.running);
}

/// A TOML gateway's running set is its anchor's rules ConfigMap only: a
/// resource of the same name (refused) controls nothing of it, even with
/// its `spec.namespace` naming a namespace where it planted a ConfigMap of
/// its own (readable, or of a later format that would refuse the gateway).
#[test]
fn a_same_named_resource_says_nothing_of_what_a_toml_gateway_runs() {
    use crate::kube::watcher::Event;
    let mut s = Store::default();
    let resource = json!({"metadata": {"name": "gw1", "uid": "u-res"}, "spec": {"namespace": "a-tenant"}});
    apply_feed(&mut s, Feed::Kind(Kind::VpcNatGateway), Event::Restarted(vec![resource]));
    set_toml_gateways(&mut s, BTreeSet::from(["gw1".to_string()]));
    let mut anchored = rules_cm("kube-system", "gw1", "a");
    anchored["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "ConfigMap",
        "name": "ovn-vpcd-toml-gateways", "uid": "a", "controller": true}]);
    let mut later = rules_cm("a-tenant", "gw1", "u-res");
    later["data"]["rules.json"] = json!("{\"version\":2,\"gateway\":\"gw1\"}");
    let forged = rules_cm("a-tenant", "gw1", "u-res");
    apply_feed(&mut s, Feed::RuleSets, Event::Restarted(vec![forged.clone(), anchored.clone()]));
    assert_eq!(s.running["gw1"].namespace, "kube-system");
    apply_feed(&mut s, Feed::RuleSets, Event::Applied(later));
    assert_eq!(s.running["gw1"].namespace, "kube-system");
    assert!(s.unreadable.is_empty(), "{:?}", s.unreadable);
    apply_feed(&mut s, Feed::RuleSets, Event::Deleted(anchored.clone()));
    assert!(s.running.is_empty() && s.unreadable.is_empty(), "{:?} {:?}", s.running, s.unreadable);
    // Out of the TOML: the resource's gateway, and the anchor's set is not its.
    apply_feed(&mut s, Feed::RuleSets, Event::Applied(anchored));
    set_toml_gateways(&mut s, BTreeSet::new());
    // (Its own ConfigMap, in the namespace its spec names, is what it runs.)
    assert!(s.running.is_empty(), "{:?}", s.running);
    assert!(s.unreadable.contains_key("gw1"), "{:?}", s.unreadable);
}
