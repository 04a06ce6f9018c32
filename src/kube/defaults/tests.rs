use std::sync::Arc;

use serde_json::{json, Value as Json};

use super::*;
use crate::config::Config;
use crate::kube::apply_merge_patch;
use crate::kube::resources::{merge, Store};
use crate::model::validate::{validate, Model};
use crate::reconcile::desired::desired_rows;

fn object(name: &str, spec: Json) -> Json {
    json!({"apiVersion": "kubeovn.io/v1", "kind": "Subnet",
           "metadata": {"name": name, "generation": 1, "resourceVersion": "41"}, "spec": spec})
}

/// Seed 002's VPCs, the default VPC, and `subnets` as resources.
fn store(subnets: &[Json]) -> Store {
    let mut s = Store { synced: true, ..Store::default() };
    for vpc in ["test-vpc-1", "test-vpc-2", "ovn-cluster"] {
        let o = json!({"apiVersion": "kubeovn.io/v1", "kind": "Vpc", "metadata": {"name": vpc}, "spec": {}});
        s.vpcs.insert(vpc.into(), Arc::new(o));
    }
    for o in subnets {
        s.subnets.insert(o["metadata"]["name"].as_str().unwrap().into(), Arc::new(o.clone()));
    }
    s
}

fn model(store: &Store) -> Model {
    let m = merge(&Config::default(), store);
    assert!(m.refused.is_empty(), "{:?}", m.refused);
    let (model, rejected) = validate(&m.vpcs, &m.subnets);
    assert!(rejected.is_empty(), "{rejected:?}");
    model
}

/// The patch for `obj`, and the object after the API server applied it.
fn patched(obj: &Json) -> (Option<Json>, Json) {
    let s = store(std::slice::from_ref(obj));
    let name = obj["metadata"]["name"].as_str().unwrap();
    let defaults = subnet_defaults(&model(&s).subnets[name], "ovn-cluster");
    let patch = defaults_patch(obj, &defaults);
    let mut after = obj.clone();
    if let Some(p) = &patch {
        apply_merge_patch(&mut after, p);
    }
    (patch, after)
}

#[test]
fn absent_defaults_are_added_as_kube_ovn_fills_them_in_a_custom_vpc() {
    // Seed 002's net2.
    let net2 = object(
        "net2",
        json!({"vpc": "test-vpc-2", "cidrBlock": "10.0.1.0/24", "natOutgoing": false, "enableDHCP": true}),
    );
    let (patch, after) = patched(&net2);
    let patch = patch.expect("defaults are missing");
    assert_eq!(
        patch["spec"],
        json!({"provider": "ovn", "protocol": "IPv4", "gateway": "10.0.1.1", "excludeIps": ["10.0.1.1"],
               "private": false, "default": false}),
        "written fields stay, and gatewayType is Kube-OVN's default only in the default VPC"
    );
    assert_eq!(patch["metadata"]["resourceVersion"], "41", "a precondition");
    let recorded: Json =
        serde_json::from_str(patch["metadata"]["annotations"][DEFAULTS_ANNOTATION].as_str().unwrap()).unwrap();
    assert_eq!(recorded, patch["spec"], "what was written is recorded as ours");
    assert_eq!(after["spec"]["natOutgoing"], false);
    assert_eq!(after["spec"]["enableDHCP"], true);
    assert_eq!(after["spec"]["vpc"], "test-vpc-2");
    // Once written, nothing more to write.
    assert_eq!(
        defaults_patch(
            &after,
            &subnet_defaults(&model(&store(std::slice::from_ref(&after))).subnets["net2"], "ovn-cluster")
        ),
        None
    );
}

#[test]
fn values_the_user_wrote_are_never_changed() {
    // Seed 002's net1: its excludeIps lack the gateway, and default is true.
    let net1 = object(
        "net1",
        json!({"vpc": "test-vpc-1", "namespaces": ["ns1"], "cidrBlock": "10.0.1.0/24",
               "excludeIps": ["10.0.1.250..10.0.1.254"], "default": true, "natOutgoing": false,
               "gateway": "10.0.1.254"}),
    );
    let (patch, after) = patched(&net1);
    let patch = patch.unwrap();
    assert_eq!(patch["spec"], json!({"provider": "ovn", "protocol": "IPv4", "private": false}));
    assert_eq!(after["spec"]["excludeIps"], json!(["10.0.1.250..10.0.1.254"]));
    assert_eq!(after["spec"]["default"], true);
    assert_eq!(after["spec"]["gateway"], "10.0.1.254");
    // Everything present: no patch, no write.
    let full = object(
        "full",
        json!({"vpc": "test-vpc-1", "cidrBlock": "10.0.2.0/24", "provider": "ovn", "protocol": "IPv4",
               "gateway": "10.0.2.1", "excludeIps": [], "private": false, "natOutgoing": false, "default": false}),
    );
    assert_eq!(patched(&full).0, None);
}

#[test]
fn in_the_default_vpc_the_vpc_and_gateway_type_are_filled_too() {
    let plain = object("plain", json!({"cidrBlock": "10.30.0.0/24"}));
    let (patch, _) = patched(&plain);
    let spec = &patch.unwrap()["spec"];
    assert_eq!(spec["vpc"], "ovn-cluster");
    assert_eq!(spec["gatewayType"], "distributed");
    // A written gatewayType stays.
    let central = object("central", json!({"cidrBlock": "10.31.0.0/24", "gatewayType": "centralized"}));
    let (patch, after) = patched(&central);
    assert!(patch.unwrap()["spec"].get("gatewayType").is_none());
    assert_eq!(after["spec"]["gatewayType"], "centralized");
}

#[test]
fn dual_stack_gateways_follow_the_cidr_order_and_excludes_are_sorted() {
    let dual = object("dual", json!({"vpc": "test-vpc-1", "cidrBlock": "fd00:10::/64,10.40.0.0/24"}));
    let (patch, _) = patched(&dual);
    let spec = &patch.unwrap()["spec"];
    assert_eq!(spec["protocol"], "Dual");
    assert_eq!(spec["gateway"], "fd00:10::1,10.40.0.1");
    assert_eq!(spec["excludeIps"], json!(["10.40.0.1", "fd00:10::1"]));
    let v6 = object("v6", json!({"vpc": "test-vpc-1", "cidrBlock": "fd00:20::/64"}));
    assert_eq!(patched(&v6).0.unwrap()["spec"]["protocol"], "IPv6");
}

/// Writing the defaults changes nothing the daemon makes of the subnet:
/// the same NB rows, the same notices (no new "no effect" on the status).
#[test]
fn the_defaults_change_neither_the_nb_rows_nor_the_notices() {
    let subnets = [
        object(
            "net1",
            json!({"vpc": "test-vpc-1", "cidrBlock": "10.0.1.0/24", "excludeIps": ["10.0.1.250..10.0.1.254"]}),
        ),
        object("net2", json!({"vpc": "test-vpc-2", "cidrBlock": "10.0.1.0/24"})),
        object("plain", json!({"cidrBlock": "10.30.0.0/24"})),
        object("dual", json!({"vpc": "test-vpc-1", "cidrBlock": "fd00:10::/64,10.40.0.0/24"})),
    ];
    let before = model(&store(&subnets));
    let after: Vec<Json> = subnets.iter().map(|o| patched(o).1).collect();
    assert_ne!(after, subnets, "something was written");
    // Also read as the user's own values (the annotation lost): the same.
    let unmarked: Vec<Json> = after
        .iter()
        .map(|o| {
            let mut o = o.clone();
            o["metadata"].as_object_mut().unwrap().remove("annotations");
            o
        })
        .collect();
    for after in [after, unmarked] {
        let after = model(&store(&after));
        assert_eq!(desired_rows(&after), desired_rows(&before));
        assert_eq!(after.notices, before.notices);
        for (name, s) in &before.subnets {
            let t = &after.subnets[name];
            assert_eq!((&t.cidrs, &t.gateways, t.is_ovn), (&s.cidrs, &s.gateways, s.is_ovn), "{name}");
        }
    }
}

/// A default never outlives what it came from: a new cidrBlock gets a new
/// gateway (the old one would be refused), and a value the user set since
/// is the user's.
#[test]
fn our_defaults_follow_the_cidr_and_the_vpc_and_the_users_values_win() {
    let (_, mut net) = patched(&object("net", json!({"vpc": "test-vpc-1", "cidrBlock": "10.0.1.0/24"})));
    assert_eq!(net["spec"]["gateway"], "10.0.1.1");
    net["spec"]["cidrBlock"] = json!("10.0.2.0/24"); // kubectl apply of an edited file
    let (patch, net) = patched(&net);
    let spec = &patch.expect("the stale defaults are replaced")["spec"];
    assert_eq!(spec, &json!({"gateway": "10.0.2.1", "excludeIps": ["10.0.2.1"]}));
    assert_eq!(
        model(&store(std::slice::from_ref(&net))).subnets["net"].gateways,
        ["10.0.2.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(patched(&net).0, None, "settled");
    // The user sets a gateway of their own: kept; excludeIps (still ours) follows it.
    let mut net = net;
    net["spec"]["gateway"] = json!("10.0.2.254");
    let (patch, net) = patched(&net);
    assert_eq!(patch.unwrap()["spec"], json!({"excludeIps": ["10.0.2.254"]}));
    assert_eq!(net["spec"]["gateway"], "10.0.2.254");
    assert_eq!(patched(&net).0, None);
    // Out of the default VPC: gatewayType, Kube-OVN's default only there, goes.
    let (_, mut plain) = patched(&object("plain", json!({"cidrBlock": "10.30.0.0/24"})));
    assert_eq!(plain["spec"]["gatewayType"], "distributed");
    plain["spec"]["vpc"] = json!("test-vpc-1");
    let (patch, plain) = patched(&plain);
    assert_eq!(patch.unwrap()["spec"], json!({"gatewayType": null}));
    assert!(plain["spec"].get("gatewayType").is_none());
    assert_eq!(plain["spec"]["vpc"], "test-vpc-1");
}
