use super::*;
use crate::kinds::iptables_dnat_rule::spec::Port;
use crate::model::validate::validate;
use crate::model::{SubnetSpec, VpcSpec};

/// Seed 003's VPC, its subnet (gateway 10.0.1.1, as tests/fixtures/seed-003.yaml) and external network.
fn seed_003() -> Model {
    let vpc = VpcSpec { namespaces: vec!["sukai263".into()], ..Default::default() };
    let sub = |vpc: &str, cidr: &str, gw: &str| SubnetSpec {
        vpc: vpc.into(),
        cidr_block: cidr.into(),
        gateway: gw.into(),
        ..Default::default()
    };
    let mut vmservers = sub("mail263", "10.0.1.0/24", "10.0.1.1");
    vmservers.exclude_ips = vec!["10.0.1.200..10.0.1.210".into()];
    let mut ext = sub("", "172.16.3.0/24", "172.16.3.2");
    ext.provider = "ovn-vpc-external-network.kube-system".into();
    ext.exclude_ips = vec!["172.16.3.1..172.16.3.100".into()];
    let (model, rejected) = validate(
        &[("mail263".into(), vpc)],
        &[("vmservers".into(), vmservers), ("ovn-vpc-external-network".into(), ext)],
    );
    assert!(rejected.is_empty(), "{rejected:?}");
    model
}

fn gw(lan_ip: &str) -> VpcNatGatewaySpec {
    VpcNatGatewaySpec { vpc: "mail263".into(), subnet: "vmservers".into(), lan_ip: lan_ip.into(), ..Default::default() }
}

fn eip(v4ip: &str) -> IptablesEipSpec {
    IptablesEipSpec { nat_gw_dp: "natgw".into(), v4ip: v4ip.into(), ..Default::default() }
}

fn dnat(eip: &str, port: &str) -> IptablesDnatRuleSpec {
    IptablesDnatRuleSpec {
        eip: eip.into(),
        external_port: Port::Text(port.into()),
        protocol: "tcp".into(),
        internal_ip: "10.0.1.2".into(),
        internal_port: Port::Text("80".into()),
        name: None,
    }
}

fn fip(eip: &str) -> IptablesFipRuleSpec {
    IptablesFipRuleSpec { eip: eip.into(), internal_ip: "10.0.1.5".into(), name: None }
}

/// Seed 003's NAT objects.
fn seed_003_nat() -> NatSpecs {
    NatSpecs {
        gateways: vec![("natgw".into(), gw("10.0.1.254"))],
        eips: vec![("eips01".into(), eip("172.16.3.208")), ("eipd01".into(), eip("172.16.3.203"))],
        fips: vec![],
        dnats: vec![("dnat01".into(), dnat("eipd01", "8888"))],
        snats: vec![(
            "snat01".into(),
            IptablesSnatRuleSpec { eip: "eips01".into(), internal_cidr: "10.0.1.0/24".into(), name: None },
        )],
        ..NatSpecs::default()
    }
}

fn run(nat: &NatSpecs) -> (Model, Vec<String>) {
    let mut model = seed_003();
    let rejected = validate_nat(&mut model, nat);
    (model, rejected.iter().map(|r| format!("{}{}", if r.waiting { "waiting " } else { "" }, r)).collect())
}

#[test]
fn seed_003_is_valid() {
    let (model, rejected) = run(&seed_003_nat());
    assert!(rejected.is_empty(), "{rejected:?}");
    let g = &model.nat_gateways["natgw"];
    assert_eq!(
        (g.lan_ip.to_string(), g.external_subnets.clone()),
        ("10.0.1.254".into(), vec!["ovn-vpc-external-network".to_string()])
    );
    assert_eq!(model.eips["eips01"].external_subnet, "ovn-vpc-external-network");
    let d = &model.dnat_rules["dnat01"];
    assert_eq!((d.external_port, d.protocol.as_str(), d.internal_port), (8888, "tcp", 80));
    assert_eq!(model.snat_rules["snat01"].internal_cidr.to_string(), "10.0.1.0/24");
}

#[test]
fn lan_ip_must_be_a_usable_address_of_its_subnet() {
    for (ip, why) in [
        ("10.0.2.4", "lanIp: 10.0.2.4 is not inside subnet \"vmservers\""),
        ("10.0.1.1", "lanIp: 10.0.1.1 is the gateway of subnet \"vmservers\""),
        ("10.0.1.205", "lanIp: 10.0.1.205 is in excludeIps of subnet \"vmservers\""),
        ("fd00::4", "lanIp: fd00::4 is IPv6; the iptables gateway is IPv4-only"),
        ("10.0.1", "lanIp: \"10.0.1\" is not an IP address"),
    ] {
        let nat = NatSpecs { gateways: vec![("natgw".into(), gw(ip))], ..NatSpecs::default() };
        let (model, rejected) = run(&nat);
        assert_eq!(rejected.len(), 1, "{ip}: {rejected:?}");
        assert!(rejected[0].starts_with(&format!("VpcNatGateway \"natgw\": {why}")), "{ip}: {rejected:?}");
        assert!(model.nat_gateways.is_empty());
    }
}

#[test]
fn the_external_subnet_must_exist_and_be_an_attachment_network() {
    let mut g = gw("10.0.1.254");
    g.external_subnets = vec!["vmservers".into()];
    let (_, rejected) = run(&NatSpecs { gateways: vec![("natgw".into(), g.clone())], ..NatSpecs::default() });
    assert!(
        rejected[0].starts_with("VpcNatGateway \"natgw\": externalSubnets[0]: subnet \"vmservers\" is an OVN subnet"),
        "{rejected:?}"
    );
    g.external_subnets = vec!["nowhere".into()];
    let (_, rejected) = run(&NatSpecs { gateways: vec![("natgw".into(), g)], ..NatSpecs::default() });
    assert!(
        rejected[0].starts_with("waiting VpcNatGateway \"natgw\": externalSubnets[0]: external subnet \"nowhere\""),
        "{rejected:?}"
    );
    let mut wrong_vpc = gw("10.0.1.254");
    wrong_vpc.vpc = "other".into();
    let (_, rejected) = run(&NatSpecs { gateways: vec![("natgw".into(), wrong_vpc)], ..NatSpecs::default() });
    assert!(rejected[0].starts_with("waiting VpcNatGateway \"natgw\": vpc: VPC \"other\""), "{rejected:?}");
}

#[test]
fn an_eip_must_be_ipv4_inside_its_external_subnet_and_its_own() {
    let mut nat = seed_003_nat();
    nat.dnats.clear();
    nat.snats.clear();
    let mut v6 = eip("");
    v6.v6ip = "fd00::5".into();
    nat.eips = vec![
        ("a-outside".into(), eip("172.16.4.9")),
        ("b-v6".into(), eip("fd00::9")),
        ("c-first".into(), eip("172.16.3.210")),
        ("d-second".into(), eip("172.16.3.210")),
        ("e-random".into(), eip("")),
        ("f-v6ip".into(), v6),
        ("g-nogw".into(), IptablesEipSpec { nat_gw_dp: "gone".into(), ..eip("172.16.3.211") }),
    ];
    let (model, rejected) = run(&nat);
    assert_eq!(rejected, [
        "IptablesEIP \"a-outside\": v4ip: 172.16.4.9 is outside external subnet \"ovn-vpc-external-network\" (172.16.3.0/24)",
        "IptablesEIP \"b-v6\": v4ip: fd00::9 is IPv6; the iptables gateway is IPv4-only",
        "IptablesEIP \"f-v6ip\": v6ip: fd00::5: the iptables gateway is IPv4-only",
        "waiting IptablesEIP \"g-nogw\": natGwDp: VpcNatGateway \"gone\" is not defined or refused",
        "IptablesEIP \"d-second\": v4ip: 172.16.3.210 is taken by IptablesEIP \"c-first\" in subnet \"ovn-vpc-external-network\"",
    ]);
    assert_eq!(model.eips.keys().collect::<Vec<_>>(), ["c-first", "e-random"]);
    assert_eq!(model.eips["e-random"].v4ip, None);
}

#[test]
fn rules_conflicting_on_one_eip_are_refused_and_the_first_keeps_it() {
    let mut nat = seed_003_nat();
    nat.eips.push(("eipf01".into(), eip("172.16.3.220")));
    nat.dnats.push(("dnat02".into(), dnat("eipd01", "8888")));
    let mut udp = dnat("eipd01", "8888");
    udp.protocol = "UDP".into();
    nat.dnats.push(("dnat03-udp".into(), udp));
    nat.fips = vec![
        ("fip01".into(), fip("eipf01")),
        ("fip02".into(), fip("eipf01")),
        ("fip03".into(), IptablesFipRuleSpec { internal_ip: "10.0.1.6".into(), ..fip("eipd01") }),
        ("fip04".into(), fip("nowhere")),
        ("fip05".into(), fip("eipf05")),
    ];
    nat.eips.push(("eipf05".into(), eip("172.16.3.225")));
    let (model, rejected) = run(&nat);
    assert_eq!(rejected, [
        "waiting IptablesFIPRule \"fip04\": eip: IptablesEIP \"nowhere\" is not defined or refused",
        "IptablesDnatRule \"dnat02\": externalPort: 8888/tcp of IptablesEIP \"eipd01\" is used by IptablesDnatRule \"dnat01\"",
        "IptablesFIPRule \"fip02\": eip: IptablesEIP \"eipf01\" is the FIP of IptablesFIPRule \"fip01\"",
        "IptablesFIPRule \"fip05\": internalIp: 10.0.1.5 has a FIP already on VpcNatGateway \"natgw\": IptablesFIPRule \"fip01\"",
        "IptablesFIPRule \"fip03\": eip: IptablesEIP \"eipd01\" is used by IptablesDnatRule \"dnat01\"; a FIP needs its EIP alone",
    ]);
    assert_eq!(model.dnat_rules.keys().collect::<Vec<_>>(), ["dnat01", "dnat03-udp"]);
    assert_eq!(model.fip_rules.keys().collect::<Vec<_>>(), ["fip01"]);
    assert_eq!(model.dnat_rules["dnat03-udp"].protocol, "udp");
}

#[test]
fn rule_fields_are_checked() {
    let mut nat = seed_003_nat();
    nat.dnats = vec![
        ("p0".into(), dnat("eipd01", "0")),
        ("p1".into(), IptablesDnatRuleSpec { protocol: "sctp".into(), ..dnat("eipd01", "1") }),
    ];
    nat.fips =
        vec![("f6".into(), IptablesFipRuleSpec { eip: "eips01".into(), internal_ip: "fd00::1".into(), name: None })];
    nat.snats = vec![
        ("s6".into(), IptablesSnatRuleSpec { eip: "eips01".into(), internal_cidr: "fd00::/64".into(), name: None }),
        ("s1".into(), IptablesSnatRuleSpec { eip: "eips01".into(), internal_cidr: "10.0.1.7".into(), name: None }),
    ];
    let (model, rejected) = run(&nat);
    assert_eq!(
        rejected,
        [
            "IptablesFIPRule \"f6\": internalIp: fd00::1 is IPv6; the iptables gateway is IPv4-only",
            "IptablesDnatRule \"p0\": externalPort: 0 is not a port (1-65535)",
            "IptablesDnatRule \"p1\": protocol: \"sctp\" is neither tcp nor udp",
            "IptablesSnatRule \"s6\": internalCIDR: fd00::/64 is IPv6; the iptables gateway is IPv4-only",
        ]
    );
    assert_eq!(model.snat_rules["s1"].internal_cidr.to_string(), "10.0.1.7/32");
}

/// The old inline form of seeds 001 and 002 decodes (ports as numbers) and
/// is said to be the old form.
#[test]
fn the_old_inline_form_decodes() {
    let spec: VpcNatGatewaySpec = serde_json::from_value(serde_json::json!({
        "vpc": "mail263", "subnet": "vmservers", "lanIp": "10.0.1.254",
        "eips": [{"eipCIDR": "192.168.0.111/24", "gateway": "192.168.0.254"}],
        "floatingIpRules": [{"eip": "192.168.0.111", "internalIp": "10.0.1.5"}],
        "dnatRules": [{"eip": "192.168.0.112", "externalPort": 8888, "protocol": "tcp", "internalIp": "10.0.1.10", "internalPort": 80}],
        "snatRules": [{"eip": "192.168.0.112", "internalCIDR": "10.0.1.0/24"}]
    }))
    .unwrap();
    assert!(spec.is_inline());
    assert_eq!(spec.dnat_rules[0].external_port.parse(), Ok(8888));
    assert!(!gw("10.0.1.254").is_inline());
    let typo = serde_json::from_value::<VpcNatGatewaySpec>(serde_json::json!({"vpc": "v", "lanIP": "x"}));
    assert!(typo.unwrap_err().to_string().contains("unknown field `lanIP`"));
}

/// The previous state (the EIP's status as last written): `natGwDp`
/// changed is refused, and so is `v4ip` changed once ready; the EIP is kept
/// as it was, so its rules stay valid and it keeps its address. Before it is
/// ready, a new `v4ip` is a new address.
#[test]
fn an_eip_changing_what_its_previous_state_fixes_is_refused_and_kept_as_it_was() {
    use crate::kinds::iptables_eip::status::EipStatus;
    let was =
        |ip: &str, ready: bool| EipStatus { ip: Some(ip.parse().unwrap()), ready, nat_gw_dp: Some("natgw".into()) };
    let mut nat = seed_003_nat();
    nat.gateways.push(("natgw2".into(), gw("10.0.1.253")));
    nat.eip_status.insert("eipd01".into(), was("172.16.3.203", true));
    nat.eip_status.insert("eips01".into(), was("172.16.3.208", true));
    // eipd01's address edited, eips01 moved to another gateway.
    nat.eips[1].1.v4ip = "172.16.3.233".into();
    nat.eips[0].1.nat_gw_dp = "natgw2".into();
    let (model, rejected) = run(&nat);
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(
        rejected.iter().any(|r| {
            r.starts_with(
        "IptablesEIP \"eipd01\": v4ip: 172.16.3.233: the address of a ready EIP is immutable; it keeps 172.16.3.203"
    )
        }),
        "{rejected:?}"
    );
    assert!(
        rejected.iter().any(|r| r
            .starts_with("IptablesEIP \"eips01\": natGwDp: is immutable: the EIP belongs to VpcNatGateway \"natgw\"")),
        "{rejected:?}"
    );
    assert_eq!(model.eips["eipd01"].v4ip, Some("172.16.3.203".parse().unwrap()), "kept as it was");
    assert_eq!(model.eips["eips01"].gateway, "natgw");
    assert!(model.dnat_rules.contains_key("dnat01") && model.snat_rules.contains_key("snat01"), "its rules stay");

    // Not ready yet: the new address is taken as asked.
    nat.eip_status.insert("eipd01".into(), was("172.16.3.203", false));
    let (model, rejected) = run(&nat);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(model.eips["eipd01"].v4ip, Some("172.16.3.233".parse().unwrap()));
    // Not ready because its gateway's pod restarts (status `ready: false`),
    // but in force in what the gateway runs: immutable all the same; and a
    // status without natGwDp (Kube-OVN's CRD prunes it) is no way around.
    let mut restarting = nat.clone();
    restarting.eip_status.insert("eips01".into(), EipStatus { nat_gw_dp: None, ..was("172.16.3.208", false) });
    runs(&mut restarting, "dnat01", "eipd01", "172.16.3.203", "10.0.1.2", Some(8888));
    runs(&mut restarting, "snat01", "eips01", "172.16.3.208", "10.0.1.9", None);
    let (model, rejected) = run(&restarting);
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(model.eips["eipd01"].v4ip, Some("172.16.3.203".parse().unwrap()), "kept as it runs");
    assert_eq!(model.eips["eips01"].gateway, "natgw");
    // The same address, or none (an allocated one kept): nothing to refuse.
    nat.eips[1].1.v4ip = String::new();
    nat.eips[0].1.nat_gw_dp = "natgw".into();
    nat.eip_status.insert("eipd01".into(), was("172.16.3.203", true));
    let (_, rejected) = run(&nat);
    assert!(rejected.is_empty(), "{rejected:?}");
}

/// Two EIPs asking for one address: the one whose status shows it (it holds
/// it) keeps it, though the other comes first by name.
#[test]
fn of_two_eips_wanting_one_address_the_holder_keeps_it() {
    let mut nat = seed_003_nat();
    nat.eips.push(("eipa".into(), eip("172.16.3.208")));
    let (model, rejected) = run(&nat);
    assert!(
        rejected[0].starts_with("IptablesEIP \"eips01\": v4ip: 172.16.3.208 is taken by IptablesEIP \"eipa\""),
        "{rejected:?}"
    );
    assert!(model.eips.contains_key("eipa"));
    let held = crate::kinds::iptables_eip::status::EipStatus {
        ip: Some("172.16.3.208".parse().unwrap()),
        ..Default::default()
    };
    nat.eip_status.insert("eips01".into(), held);
    let (model, rejected) = run(&nat);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(
        rejected[0].starts_with("IptablesEIP \"eipa\": v4ip: 172.16.3.208 is taken by IptablesEIP \"eips01\""),
        "{rejected:?}"
    );
    assert!(model.eips.contains_key("eips01") && model.snat_rules.contains_key("snat01"));
}

/// `plan` and the gateway's status say so when its VPC routes nothing to
/// its lanIp (the seeds' `0.0.0.0/0 → lanIp`), and not once it does.
#[test]
fn a_gateway_its_vpc_routes_nothing_to_is_noticed() {
    let (model, rejected) = run(&seed_003_nat());
    assert!(rejected.is_empty(), "{rejected:?}");
    let lan: Vec<String> =
        model.notices.iter().filter(|n| n.kind == Kind::VpcNatGateway).map(ToString::to_string).collect();
    assert_eq!(
        lan,
        ["VpcNatGateway \"natgw\": lanIp: VPC \"mail263\" has no static route to 10.0.1.254 (as in the seeds: \
          staticRoutes 0.0.0.0/0 → lanIp): its traffic does not reach this gateway"]
    );
    let mut routed = seed_003();
    let vpc = routed.vpcs.get_mut("mail263").unwrap();
    vpc.spec.static_routes = vec![crate::model::StaticRoute {
        cidr: "0.0.0.0/0".into(),
        next_hop_ip: "10.0.1.254".into(),
        ..Default::default()
    }];
    validate_nat(&mut routed, &seed_003_nat());
    assert!(!routed.notices.iter().any(|n| n.kind == Kind::VpcNatGateway), "{:?}", routed.notices);
}

/// A gateway name its workload cannot carry, and an EIP on an external
/// subnet the gateway has no leg on, are refused by name (before, both were
/// accepted and never realised).
#[test]
fn names_the_workload_cannot_carry_and_eips_off_the_external_leg_are_refused() {
    let long = "g".repeat(42);
    let mut nat = seed_003_nat();
    nat.gateways = vec![(long.clone(), gw("10.0.1.254")), ("a.b".into(), gw("10.0.1.253"))];
    let (_, rejected) = run(&nat);
    assert!(rejected.iter().any(|r| r.contains(&long) && r.contains("at most 41 characters")), "{rejected:?}");
    assert!(rejected.iter().any(|r| r.contains("\"a.b\"") && r.contains("no '.'")), "{rejected:?}");
    let mut nat = seed_003_nat();
    nat.eips.push(("eipx".into(), IptablesEipSpec { external_subnet: "other".into(), ..eip("") }));
    let (model, rejected) = run(&nat);
    assert!(
        rejected.iter().any(|r| r.contains("eipx") && r.contains("not the external leg of VpcNatGateway \"natgw\"")),
        "{rejected:?}"
    );
    assert!(model.eips.contains_key("eips01"), "the others are untouched");
}

/// natgw runs `rule` (a FIP when `port` is `None`, else a DNAT), named
/// `name`, on EIP `eip` at `ip`: its rules ConfigMap as the watch shows it.
fn runs(nat: &mut NatSpecs, name: &str, eip: &str, ip: &str, internal_ip: &str, port: Option<u16>) {
    use crate::kinds::vpc_nat_gateway::running::Running;
    use crate::rules::nat::{Dnat, Eip, Fip, NatRuleSet, Protocol};
    let base = NatRuleSet::from_json(include_str!("../../../tests/fixtures/seed-003-rules.json")).unwrap();
    let r = nat.running.0.entry("natgw".into()).or_insert_with(|| {
        std::sync::Arc::new(Running {
            namespace: "kube-system".into(),
            set: NatRuleSet { eips: vec![], fips: vec![], dnats: vec![], snats: vec![], ..base },
        })
    });
    let r = std::sync::Arc::make_mut(r);
    let ip = ip.parse().unwrap();
    if !r.set.eips.iter().any(|e| e.name == eip) {
        r.set.eips.push(Eip { name: eip.into(), ip });
    }
    let internal_ip = internal_ip.parse().unwrap();
    match port {
        None => r.set.fips.push(Fip { name: name.into(), eip: ip, internal_ip }),
        Some(external_port) => r.set.dnats.push(Dnat {
            name: name.into(),
            eip: ip,
            protocol: Protocol::Tcp,
            external_port,
            internal_ip,
            internal_port: 80,
        }),
    }
}

#[test]
fn a_rule_in_force_keeps_its_claim_against_an_earlier_named_newcomer() {
    // dnat01 is in force on 172.16.3.203:8888; "a-new" asks for the same.
    let mut nat = seed_003_nat();
    nat.dnats.push(("a-new".into(), dnat("eipd01", "8888")));
    runs(&mut nat, "dnat01", "eipd01", "172.16.3.203", "10.0.1.2", Some(8888));
    let (model, rejected) = run(&nat);
    assert_eq!(rejected, [
        "IptablesDnatRule \"a-new\": externalPort: 8888/tcp of IptablesEIP \"eipd01\" is used by IptablesDnatRule \"dnat01\"",
    ]);
    assert_eq!(model.dnat_rules.keys().collect::<Vec<_>>(), ["dnat01"]);
    // Its status showing another port (an edit since) holds nothing.
    nat.running.0.clear();
    runs(&mut nat, "dnat01", "eipd01", "172.16.3.203", "10.0.1.2", Some(80));
    let (model, _) = run(&nat);
    assert_eq!(model.dnat_rules.keys().collect::<Vec<_>>(), ["a-new"]);

    // fip01 is in force on eipf01; "a-fip" on its EIP, and "a-dnat" beside it, are refused.
    let mut nat = seed_003_nat();
    nat.eips.push(("eipf01".into(), eip("172.16.3.220")));
    nat.fips = vec![("fip01".into(), fip("eipf01")), ("a-fip".into(), fip("eipf01"))];
    nat.dnats.push(("a-dnat".into(), dnat("eipf01", "80")));
    runs(&mut nat, "fip01", "eipf01", "172.16.3.220", "10.0.1.5", None);
    let (model, rejected) = run(&nat);
    assert_eq!(
        rejected,
        [
            "IptablesFIPRule \"a-fip\": eip: IptablesEIP \"eipf01\" is the FIP of IptablesFIPRule \"fip01\"",
            "IptablesDnatRule \"a-dnat\": eip: IptablesEIP \"eipf01\" is the FIP of IptablesFIPRule \"fip01\"",
        ]
    );
    assert_eq!(model.fip_rules.keys().collect::<Vec<_>>(), ["fip01"]);
    assert_eq!(model.dnat_rules.keys().collect::<Vec<_>>(), ["dnat01"]);
}

#[test]
fn a_rule_whose_edit_is_refused_keeps_its_claim() {
    // dnat01 was in force on :8888 and is edited to an IPv6 internalIp (refused,
    // kept as it was by the hold); "a-new" cannot take :8888 meanwhile.
    let mut nat = seed_003_nat();
    nat.dnats[0].1.internal_ip = "fd00::2".into();
    nat.dnats.push(("a-new".into(), dnat("eipd01", "8888")));
    runs(&mut nat, "dnat01", "eipd01", "172.16.3.203", "10.0.1.2", Some(8888));
    let (model, rejected) = run(&nat);
    assert!(rejected[0].starts_with("IptablesDnatRule \"dnat01\": internalIp:"), "{rejected:?}");
    assert_eq!(rejected[1..], [
        "IptablesDnatRule \"a-new\": externalPort: 8888/tcp of IptablesEIP \"eipd01\" is used by IptablesDnatRule \"dnat01\"",
    ]);
    assert!(model.dnat_rules.is_empty());

    // A FIP in force whose edit is refused keeps its EIP and its internal address.
    let mut nat = seed_003_nat();
    nat.eips.push(("eipf01".into(), eip("172.16.3.220")));
    nat.eips.push(("eipf02".into(), eip("172.16.3.221")));
    let mut edited = fip("eipf01");
    edited.internal_ip = "fd00::5".into();
    nat.fips = vec![("fip01".into(), edited), ("a-fip".into(), fip("eipf01")), ("b-fip".into(), fip("eipf02"))];
    nat.dnats.push(("a-dnat".into(), dnat("eipf01", "80")));
    runs(&mut nat, "fip01", "eipf01", "172.16.3.220", "10.0.1.5", None);
    let (model, rejected) = run(&nat);
    assert_eq!(rejected[1..], [
        "IptablesFIPRule \"a-fip\": eip: IptablesEIP \"eipf01\" is the FIP of IptablesFIPRule \"fip01\"",
        "IptablesFIPRule \"b-fip\": internalIp: 10.0.1.5 has a FIP already on VpcNatGateway \"natgw\": IptablesFIPRule \"fip01\"",
        "IptablesDnatRule \"a-dnat\": eip: IptablesEIP \"eipf01\" is the FIP of IptablesFIPRule \"fip01\"",
    ]);
    assert!(model.fip_rules.is_empty());
}

#[test]
fn a_rule_whose_eip_is_gone_holds_nothing_at_its_old_address() {
    // dnat01 was in force on eipd01 (172.16.3.203:8888); eipd01 is deleted and
    // "eip-new" takes its address: dnat01 waits, and "a-new" on eip-new:8888 is accepted.
    let mut nat = seed_003_nat();
    nat.eips.retain(|(n, _)| n != "eipd01");
    nat.eips.push(("eip-new".into(), eip("172.16.3.203")));
    nat.dnats.push(("a-new".into(), dnat("eip-new", "8888")));
    runs(&mut nat, "dnat01", "eipd01", "172.16.3.203", "10.0.1.2", Some(8888));
    let (model, rejected) = run(&nat);
    assert_eq!(
        rejected,
        ["waiting IptablesDnatRule \"dnat01\": eip: IptablesEIP \"eipd01\" is not defined or refused"]
    );
    assert_eq!(model.dnat_rules.keys().collect::<Vec<_>>(), ["a-new"]);
}

/// A gateway whose rules ConfigMap holds a set of a later format (the
/// daemon rolled back) is refused, saying why, so its workload is left as
/// it runs; its EIPs and rules wait for it; nothing else moves.
#[test]
fn a_gateway_running_a_set_this_build_cannot_read_is_refused_and_its_rules_wait() {
    let mut nat = seed_003_nat();
    nat.unreadable.insert("natgw".into(), "rule set version 2, this build reads version 1".into());
    let (model, rejected) = run(&nat);
    assert!(model.nat_gateways.is_empty());
    assert!(
        rejected[0]
            .starts_with("VpcNatGateway \"natgw\": status: runs a rule set this build cannot read (rule set version 2"),
        "{rejected:?}"
    );
    assert!(rejected[1..].iter().all(|r| r.starts_with("waiting ")), "{rejected:?}");
    assert!(model.eips.is_empty() && model.dnat_rules.is_empty() && model.snat_rules.is_empty());
}
