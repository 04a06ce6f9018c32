use std::net::Ipv4Addr;

use super::*;
use crate::kinds::iptables_dnat_rule::spec::{IptablesDnatRuleSpec, Port};
use crate::kinds::iptables_eip::spec::IptablesEipSpec;
use crate::kinds::iptables_fip_rule::spec::IptablesFipRuleSpec;
use crate::kinds::iptables_snat_rule::spec::IptablesSnatRuleSpec;
use crate::kinds::vpc_nat_gateway::spec::{
    GatewayRoute, InlineDnat, InlineEip, InlineFip, InlineSnat, VpcNatGatewaySpec,
};
use crate::model::validate::{validate, validate_nat, NatSpecs};
use crate::model::{SubnetSpec, VpcSpec};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Seed 003's VPC with a second subnet, and its external network.
pub(crate) fn model_with(nat: &NatSpecs) -> Model {
    let vpc = VpcSpec { namespaces: vec!["sukai263".into()], ..Default::default() };
    let sub = |vpc: &str, cidr: &str, gw: &str| SubnetSpec {
        vpc: vpc.into(),
        cidr_block: cidr.into(),
        gateway: gw.into(),
        ..Default::default()
    };
    let mut ext = sub("", "172.16.3.0/24", "172.16.3.2");
    ext.provider = "ovn-vpc-external-network.kube-system".into();
    let (mut model, rejected) = validate(
        &[("mail263".into(), vpc)],
        &[
            ("vmservers".into(), sub("mail263", "10.0.1.0/24", "10.0.1.1")),
            ("dbservers".into(), sub("mail263", "10.0.2.0/24", "10.0.2.1")),
            ("ovn-vpc-external-network".into(), ext),
        ],
    );
    assert!(rejected.is_empty(), "{rejected:?}");
    let rejected = validate_nat(&mut model, nat);
    assert!(rejected.is_empty(), "{rejected:?}");
    model
}

pub(crate) fn gw() -> VpcNatGatewaySpec {
    VpcNatGatewaySpec {
        vpc: "mail263".into(),
        subnet: "vmservers".into(),
        lan_ip: "10.0.1.254".into(),
        ..Default::default()
    }
}

fn eip(v4ip: &str) -> IptablesEipSpec {
    IptablesEipSpec { nat_gw_dp: "natgw".into(), v4ip: v4ip.into(), ..Default::default() }
}

/// Seed 003's objects, plus a FIP on a third EIP.
pub(crate) fn seed_003() -> NatSpecs {
    NatSpecs {
        gateways: vec![("natgw".into(), gw())],
        eips: vec![
            ("eips01".into(), eip("172.16.3.208")),
            ("eipd01".into(), eip("172.16.3.203")),
            ("eipf01".into(), eip("172.16.3.204")),
        ],
        fips: vec![(
            "fip01".into(),
            IptablesFipRuleSpec { eip: "eipf01".into(), internal_ip: "10.0.1.5".into(), name: None },
        )],
        dnats: vec![(
            "dnat01".into(),
            IptablesDnatRuleSpec {
                eip: "eipd01".into(),
                external_port: Port::Text("8888".into()),
                protocol: "tcp".into(),
                internal_ip: "10.0.1.2".into(),
                internal_port: Port::Text("80".into()),
                name: None,
            },
        )],
        snats: vec![(
            "snat01".into(),
            IptablesSnatRuleSpec { eip: "eips01".into(), internal_cidr: "10.0.1.0/24".into(), name: None },
        )],
        ..NatSpecs::default()
    }
}

fn expected_seed_003() -> NatRuleSet {
    NatRuleSet::from_json(include_str!("../../../tests/fixtures/seed-003-rules-fip.json")).unwrap()
}

#[test]
fn seed_003_renders_its_legs_eips_and_rules() {
    let model = model_with(&seed_003());
    let sets = rule_sets(&model, &fixed_addresses(&model));
    assert_eq!(sets.keys().collect::<Vec<_>>(), ["natgw"]);
    assert_eq!(sets["natgw"], expected_seed_003());
}

#[test]
fn spec_routes_join_the_vpc_subnets() {
    let mut nat = seed_003();
    nat.gateways[0].1.routes = vec![GatewayRoute { cidr: "10.9.0.0/16".into(), next_hop_ip: "10.0.1.9".into() }];
    let model = model_with(&nat);
    let set = rule_set(&model, &model.nat_gateways["natgw"], &fixed_addresses(&model)).unwrap();
    assert_eq!(
        set.lan.routes,
        [
            Route { cidr: "10.0.2.0/24".into(), via: ip("10.0.1.1") },
            Route { cidr: "10.9.0.0/16".into(), via: ip("10.0.1.9") }
        ]
    );
}

/// An EIP's address is an input: without one the EIP and its rules are
/// left out; given one (an allocation), they are in.
#[test]
fn an_eip_without_an_address_is_left_out_with_its_rules() {
    let mut nat = seed_003();
    nat.eips[1].1.v4ip = String::new(); // eipd01: to be allocated
    let model = model_with(&nat);
    let mut addresses = fixed_addresses(&model);
    let set = rule_set(&model, &model.nat_gateways["natgw"], &addresses).unwrap();
    assert!(set.eips.iter().all(|e| e.name != "eipd01") && set.dnats.is_empty(), "{set:?}");
    addresses.insert("eipd01".into(), ip("172.16.3.203"));
    let set = rule_set(&model, &model.nat_gateways["natgw"], &addresses).unwrap();
    assert_eq!(set, expected_seed_003());
}

#[test]
fn another_gateways_eips_are_not_in_the_set() {
    let mut nat = seed_003();
    let mut other = gw();
    other.lan_ip = "10.0.1.253".into();
    nat.gateways.push(("natgw2".into(), other));
    nat.eips.push((
        "eipx".into(),
        IptablesEipSpec { nat_gw_dp: "natgw2".into(), v4ip: "172.16.3.222".into(), ..Default::default() },
    ));
    let model = model_with(&nat);
    let sets = rule_sets(&model, &fixed_addresses(&model));
    assert_eq!(sets["natgw"], expected_seed_003());
    let names: Vec<&str> = sets["natgw2"].eips.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["eipx"]);
}

/// Seed 001's inline form means the same rules as the separate kinds.
#[test]
fn the_old_inline_form_renders_the_same_rules() {
    let mut inline = gw();
    let e = |c: &str| InlineEip { eip_cidr: c.into(), gateway: "172.16.3.2".into() };
    inline.eips = vec![e("172.16.3.203/24"), e("172.16.3.208/24"), e("172.16.3.204/24")];
    inline.floating_ip_rules = vec![InlineFip { eip: "172.16.3.204".into(), internal_ip: "10.0.1.5".into() }];
    inline.dnat_rules = vec![InlineDnat {
        eip: "172.16.3.203".into(),
        external_port: Port::Number(8888),
        protocol: "tcp".into(),
        internal_ip: "10.0.1.2".into(),
        internal_port: Port::Number(80),
    }];
    inline.snat_rules = vec![InlineSnat { eip: "172.16.3.208".into(), internal_cidr: "10.0.1.0/24".into() }];
    let model = model_with(&NatSpecs { gateways: vec![("natgw".into(), inline)], ..NatSpecs::default() });
    let set = rule_set(&model, &model.nat_gateways["natgw"], &fixed_addresses(&model)).unwrap();
    // The same addresses and rules; only the names differ (places in the spec).
    let mut want = expected_seed_003();
    want.eips = vec![
        Eip { name: "eips[0]".into(), ip: ip("172.16.3.203") },
        Eip { name: "eips[1]".into(), ip: ip("172.16.3.208") },
        Eip { name: "eips[2]".into(), ip: ip("172.16.3.204") },
    ];
    want.fips[0].name = "floatingIpRules[0]".into();
    want.dnats[0].name = "dnatRules[0]".into();
    want.snats[0].name = "snatRules[0]".into();
    assert_eq!(set, want);
}

#[test]
fn a_bad_inline_rule_refuses_the_gateway() {
    let mut inline = gw();
    inline.eips = vec![InlineEip { eip_cidr: "172.16.3.203/24".into(), gateway: String::new() }];
    for (snat, why) in [
        ("172.16.3.209", "snatRules[0].eip: 172.16.3.209 is none of the inline eips"),
        ("fd00::1", "snatRules[0].eip: fd00::1 is IPv6"),
    ] {
        let mut g = inline.clone();
        g.snat_rules = vec![InlineSnat { eip: snat.into(), internal_cidr: "10.0.1.0/24".into() }];
        let mut model = model_with(&NatSpecs::default());
        let rejected =
            validate_nat(&mut model, &NatSpecs { gateways: vec![("natgw".into(), g)], ..NatSpecs::default() });
        assert!(rejected.len() == 1 && rejected[0].to_string().contains(why), "{rejected:?}");
        assert!(model.nat_gateways.is_empty());
    }
    let mut g = inline.clone();
    g.eips = vec![InlineEip { eip_cidr: "172.16.3.203/16".into(), gateway: String::new() }];
    let mut model = model_with(&NatSpecs::default());
    let rejected = validate_nat(&mut model, &NatSpecs { gateways: vec![("natgw".into(), g)], ..NatSpecs::default() });
    assert!(rejected[0].to_string().contains("eips[0].eipCIDR: prefix /16 differs"), "{rejected:?}");
}
