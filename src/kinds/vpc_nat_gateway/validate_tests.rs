use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::daemon::nat::settings::{NatSettings, Workloads};
use crate::daemon::nat::NatSide;
use crate::kinds::vpc_nat_gateway::rules::fixed_addresses;
use crate::kinds::vpc_nat_gateway::rules::tests::{gw, model_with, seed_003};
use crate::kinds::vpc_nat_gateway::spec::GatewayRoute;
use crate::kube::resources::Store;
use crate::model::validate::{validate_nat, NatSpecs};

fn route(cidr: &str, next_hop_ip: &str) -> GatewayRoute {
    GatewayRoute { cidr: cidr.into(), next_hop_ip: next_hop_ip.into() }
}

/// Seed 003's VPC (subnets vmservers 10.0.1.0/24 gw 10.0.1.1, dbservers
/// 10.0.2.0/24) and external network 172.16.3.0/24, no NAT objects.
fn base() -> Model {
    model_with(&NatSpecs::default())
}

/// The gateway natgw (lanIp 10.0.1.254) with these routes, checked.
fn check(routes: &[GatewayRoute]) -> Result<VpcNatGateway, Rejection> {
    let spec = VpcNatGatewaySpec { routes: routes.to_vec(), ..gw() };
    check_vpc_nat_gateway("natgw", &spec, &base())
}

/// The refusal of these routes as `field: reason`.
fn refusal(routes: &[GatewayRoute]) -> (String, String) {
    let r = check(routes).expect_err("refused");
    assert!(!r.waiting, "{r}");
    (r.field, r.reason)
}

#[test]
fn routes_on_the_vpc_leg_are_accepted_and_gateway_means_the_subnet_gateway() {
    let g =
        check(&[route("10.9.0.0/16", "10.0.1.9"), route("192.168.5.7/32", "gateway"), route("10.0.0.0/8", "10.0.1.1")])
            .unwrap();
    let net = |s: &str| s.parse::<Ipv4Net>().unwrap();
    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    assert_eq!(
        g.routes,
        [
            (net("10.9.0.0/16"), ip("10.0.1.9")),
            (net("192.168.5.7/32"), ip("10.0.1.1")),
            (net("10.0.0.0/8"), ip("10.0.1.1"))
        ]
    );
}

#[test]
fn a_next_hop_off_the_vpc_leg_or_not_a_host_is_refused() {
    let (field, why) = refusal(&[route("10.9.0.0/16", "10.0.1.9"), route("10.8.0.0/16", "192.168.77.1")]);
    assert_eq!(field, "routes[1].nextHopIP");
    assert_eq!(
        why,
        "192.168.77.1 is not inside the gateway's subnet \"vmservers\" ([\"10.0.1.0/24\"]): a next hop must be reachable on eth0"
    );
    // Another subnet of the VPC is not on eth0 either.
    assert_eq!(refusal(&[route("10.8.0.0/16", "10.0.2.5")]).0, "routes[0].nextHopIP");
    assert_eq!(
        refusal(&[route("10.8.0.0/16", "10.0.1.254")]),
        ("routes[0].nextHopIP".into(), "10.0.1.254 is the gateway's own lanIp: a route cannot go via itself".into())
    );
    assert_eq!(
        refusal(&[route("10.8.0.0/16", "10.0.1.0")]).1,
        "10.0.1.0 is the network address of 10.0.1.0/24, not a host"
    );
    assert_eq!(
        refusal(&[route("10.8.0.0/16", "10.0.1.255")]).1,
        "10.0.1.255 is the broadcast address of 10.0.1.0/24, not a host"
    );
    let (field, why) = refusal(&[route("10.8.0.0/16", "fd00::1")]);
    assert_eq!(
        (field.as_str(), why.as_str()),
        ("routes[0].nextHopIP", "fd00::1 is IPv6; the iptables gateway is IPv4-only")
    );
    assert_eq!(refusal(&[route("10.8.0.0/16", "")]).0, "routes[0].nextHopIP");
}

#[test]
fn the_default_route_is_the_external_sides() {
    assert_eq!(
        refusal(&[route("0.0.0.0/0", "10.0.1.1")]),
        (
            "routes[0].cidr".into(),
            "0.0.0.0/0 is the default route, which is the external side's: the gateway sends it via the external gateway on net1"
                .into()
        )
    );
}

#[test]
fn a_non_canonical_cidr_is_refused_with_both_readings() {
    assert_eq!(
        refusal(&[route("10.9.0.1/16", "10.0.1.9")]),
        (
            "routes[0].cidr".into(),
            "10.9.0.1/16 has host bits set, which the kernel refuses for a route: write the network 10.9.0.0/16 (or 10.9.0.1/32 for the one host)".into()
        )
    );
    assert_eq!(refusal(&[route("10.9.0.0", "10.0.1.9")]).1, "\"10.9.0.0\" is not a CIDR (address/prefix)");
    assert_eq!(refusal(&[route("fd00::/64", "10.0.1.9")]).1, "fd00::/64 is IPv6; the iptables gateway is IPv4-only");
}

#[test]
fn a_cidr_twice_is_refused_naming_the_first() {
    let (field, why) = refusal(&[
        route("10.9.0.0/16", "10.0.1.9"),
        route("10.7.0.0/16", "10.0.1.9"),
        route(" 10.9.0.0/16", "10.0.1.8"),
    ]);
    assert_eq!((field.as_str(), why.as_str()), ("routes[2].cidr", "10.9.0.0/16 is routed twice: also routes[0].cidr"));
}

#[test]
fn a_cidr_on_a_connected_leg_or_a_vpc_subnet_is_refused() {
    // The gateway's own subnet: `ip route replace 10.0.1.0/24 via ...`
    // would replace eth0's connected route.
    let (field, why) = refusal(&[route("10.0.1.0/24", "10.0.1.9")]);
    assert_eq!(field, "routes[0].cidr");
    assert_eq!(
        why,
        "10.0.1.0/24 is inside the gateway's subnet \"vmservers\" (10.0.1.0/24), which eth0 reaches directly: a route there would replace or shadow that connected route"
    );
    assert_eq!(refusal(&[route("10.0.1.128/25", "10.0.1.9")]).0, "routes[0].cidr");
    let (_, why) = refusal(&[route("172.16.3.0/24", "10.0.1.9")]);
    assert!(why.starts_with("172.16.3.0/24 is inside the external subnet \"ovn-vpc-external-network\""), "{why}");
    assert_eq!(
        refusal(&[route("10.0.2.0/24", "10.0.1.9")]).1,
        "10.0.2.0/24 is subnet \"dbservers\" of VPC \"mail263\", which the gateway already routes via its subnet's gateway"
    );
    // A supernet of a leg, or a part of another subnet, is a route of its own.
    assert!(check(&[
        route("10.0.0.0/16", "10.0.1.9"),
        route("10.0.2.128/25", "10.0.1.9"),
        route("172.16.0.0/12", "gateway")
    ])
    .is_ok());
}

fn on() -> NatSettings {
    NatSettings { workloads: Ok(Workloads { image: "i".into(), prefix: "vpc-nat-gw".into() }), off: false }
}

fn store() -> Store {
    let mut s = Store::default();
    s.nat_gateways.insert("natgw".into(), Arc::new(json!({"metadata": {"name": "natgw", "uid": "u-1"}})));
    s
}

/// A running gateway whose routes are edited into ones refused: the
/// gateway is refused by the field, and the daemon keeps handing the
/// object reconciler exactly the workload it ran (rules ConfigMap with the
/// old routes, StatefulSet, RBAC), so nothing in the running gateway
/// changes. The edit fixed, the new routes go out.
#[test]
fn a_bad_edit_of_a_running_gateways_routes_leaves_it_running_as_it_was() {
    let mut nat = seed_003();
    nat.gateways[0].1.routes = vec![route("10.9.0.0/16", "10.0.1.9")];
    let model = model_with(&nat);
    let mut side = NatSide::new("kube-system");
    let none = BTreeSet::new();
    let (running, _) = side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &none);
    assert_eq!(running.as_ref().unwrap().objects.len(), 5);
    let rules = |desired: &[crate::kube::objects::DesiredObject]| -> String {
        let cm = desired.iter().find(|d| d.id.name == "vpc-nat-gw-natgw-rules").expect("the rules ConfigMap");
        cm.fields["data"][crate::rules::DATA_KEY].as_str().unwrap().to_string()
    };
    assert!(
        rules(&running.as_ref().unwrap().objects).contains(r#"{"cidr":"10.9.0.0/16","via":"10.0.1.9"}"#),
        "{}",
        rules(&running.as_ref().unwrap().objects)
    );

    for bad in [
        route("10.9.0.0/16", "192.168.77.1"),
        route("0.0.0.0/0", "10.0.1.1"),
        route("10.9.0.1/16", "10.0.1.9"),
        route("10.0.1.0/24", "10.0.1.9"),
    ] {
        let mut edited = nat.clone();
        edited.gateways[0].1.routes = vec![route("10.9.0.0/16", "10.0.1.9"), bad.clone()];
        let mut model = base();
        let rejected = validate_nat(&mut model, &edited);
        let refused = rejected.iter().find(|r| r.object.name == "natgw").expect("natgw refused");
        assert!(refused.field.starts_with("routes[1]."), "{bad:?}: {refused}");
        assert!(!model.nat_gateways.contains_key("natgw"));
        // What the daemon holds: every object refused or waiting this pass.
        let held = rejected.iter().map(|r| r.object.clone()).collect();
        let (desired, view) =
            side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &held);
        assert_eq!(
            desired.as_ref().unwrap().objects,
            running.as_ref().unwrap().objects,
            "{bad:?}: the running gateway's workload as it was"
        );
        assert!(!view.contains_key("natgw"));
    }

    let mut fixed = nat.clone();
    fixed.gateways[0].1.routes = vec![route("10.9.0.0/16", "10.0.1.9"), route("10.8.0.0/16", "10.0.1.8")];
    let model = model_with(&fixed);
    let (desired, _) = side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &none);
    assert!(
        rules(&desired.as_ref().unwrap().objects).contains(r#"{"cidr":"10.8.0.0/16","via":"10.0.1.8"}"#),
        "{}",
        rules(&desired.as_ref().unwrap().objects)
    );
}
