use super::*;
use crate::model::names::{Holder, NameTable, NbState};
use crate::model::object::Kind;
use crate::model::{PolicyAction, PolicyRoute, Protocol, StaticRoute};

fn subnet(vpc: &str, cidr: &str) -> SubnetSpec {
    SubnetSpec { vpc: vpc.into(), cidr_block: cidr.into(), ..Default::default() }
}

fn seed_002() -> (Vec<crate::model::NamedVpc>, Vec<crate::model::NamedSubnet>) {
    let vpc1 = VpcSpec {
        namespaces: vec!["ns1".into()],
        static_routes: vec![
            StaticRoute { cidr: "0.0.0.0/0".into(), next_hop_ip: "10.0.1.254".into(), ..Default::default() },
            StaticRoute {
                cidr: "172.31.0.0/24".into(),
                next_hop_ip: "10.0.1.253".into(),
                policy: crate::model::RoutePolicy::Src,
                ..Default::default()
            },
        ],
        policy_routes: vec![
            PolicyRoute {
                priority: 11,
                match_: "ip4.src==10.0.1.0/24 && ip4.dst==10.0.1.250".into(),
                action: PolicyAction::Drop,
                next_hop_ip: String::new(),
            },
            PolicyRoute {
                priority: 10,
                match_: "ip4.src==10.0.1.0/24".into(),
                action: PolicyAction::Reroute,
                next_hop_ip: "10.0.1.252".into(),
            },
        ],
        ..Default::default()
    };
    (
        vec![("test-vpc-1".into(), vpc1), ("test-vpc-2".into(), VpcSpec::default())],
        vec![
            ("net1".into(), subnet("test-vpc-1", "10.0.1.0/24")),
            ("net2".into(), subnet("test-vpc-2", "10.0.1.0/24")),
        ],
    )
}

#[test]
fn seed_002_is_valid_with_the_same_cidr_in_two_vpcs() {
    let (v, s) = seed_002();
    let (m, rejected) = validate(&v, &s);
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(m.vpcs.len(), 2);
    assert_eq!(m.subnets["net1"].gateways, vec!["10.0.1.1".parse::<IpAddr>().unwrap()], "default gateway: first host");
}

fn only_rejection(v: &[(String, VpcSpec)], s: &[(String, SubnetSpec)]) -> String {
    let (_, r) = validate(v, s);
    assert_eq!(r.len(), 1, "{r:?}");
    r[0].to_string()
}

#[test]
fn subnet_rules_name_the_field() {
    let vpc = vec![("v".to_string(), VpcSpec::default())];
    let case = |s: SubnetSpec| only_rejection(&vpc, &[("s".into(), s)]);
    assert!(case(subnet("v", "10.0.1.0/33")).contains("cidrBlock: \"10.0.1.0/33\" is not a CIDR"));
    assert!(case(subnet("v", "10.0.1.5/24")).contains("did you mean 10.0.1.0/24?"));
    assert!(case(subnet("v", "10.0.0.0/24,10.1.0.0/24")).contains("at most one IPv4 and one IPv6"));
    assert!(case(SubnetSpec { gateway: "10.0.2.1".into(), ..subnet("v", "10.0.1.0/24") })
        .contains("gateway: 10.0.2.1 is not a host address of 10.0.1.0/24"));
    assert!(case(SubnetSpec { protocol: Some(Protocol::IPv6), ..subnet("v", "10.0.1.0/24") })
        .contains("protocol: IPv6 does not match"));
    assert!(case(SubnetSpec { exclude_ips: vec!["10.0.1.9..10.0.1.2".into()], ..subnet("v", "10.0.1.0/24") })
        .contains("excludeIps[0]"));
    assert!(case(SubnetSpec { exclude_ips: vec!["10.0.2.1".into()], ..subnet("v", "10.0.1.0/24") })
        .contains("excludeIps[0]: \"10.0.2.1\" is not inside"));
    assert!(case(subnet("nope", "10.0.1.0/24")).contains("vpc: VPC \"nope\" is not defined"));
    assert!(case(subnet("", "10.0.1.0/24")).contains("an OVN subnet must name its VPC"));
    assert!(case(SubnetSpec { dhcp_v4_options: "lease_time".into(), ..subnet("v", "10.0.1.0/24") })
        .contains("dhcpV4Options: \"lease_time\" is not key=value"));
    let (_, r) = validate(&vpc, &[("Bad_Name".into(), subnet("v", "10.0.1.0/24"))]);
    assert_eq!(r[0].field, "name");
}

#[test]
fn dual_stack_and_ranges() {
    let vpc = vec![("v".to_string(), VpcSpec::default())];
    let s = SubnetSpec {
        exclude_ips: vec!["10.0.1.1..10.0.1.10".into(), "fd00::5".into()],
        ..subnet("v", "fd00::/64,10.0.1.0/24")
    };
    let (m, r) = validate(&vpc, &[("d".into(), s)]);
    assert!(r.is_empty(), "{r:?}");
    let d = &m.subnets["d"];
    assert!(d.cidrs[0].addr().is_ipv4(), "IPv4 first");
    assert_eq!(d.gateways[1], "fd00::1".parse::<IpAddr>().unwrap());
    assert_eq!(d.excludes.len(), 2);
}

#[test]
fn overlapping_subnets_in_one_vpc_refuse_only_the_later_one() {
    let vpc = vec![("v".to_string(), VpcSpec::default())];
    let subnets = vec![
        ("a".to_string(), subnet("v", "10.0.0.0/16")),
        ("b".to_string(), subnet("v", "10.0.1.0/24")),
        ("c".to_string(), subnet("v", "10.1.0.0/24")),
    ];
    let (m, r) = validate(&vpc, &subnets);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].to_string(), "Subnet \"b\": cidrBlock: overlaps subnet \"a\" in VPC \"v\"");
    assert!(m.subnets.contains_key("a") && m.subnets.contains_key("c"));
}

#[test]
fn vpc_rules_name_the_field_and_leave_others_alone() {
    let (mut v, s) = seed_002();
    v[0].1.static_routes[1].next_hop_ip = "192.168.9.9".into();
    let (m, r) = validate(&v, &s);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(
        r[0].to_string(),
        "Vpc \"test-vpc-1\": staticRoutes[1].nextHopIP: 192.168.9.9 is not inside any subnet of VPC \"test-vpc-1\""
    );
    assert_eq!(r[1].to_string(), "Subnet \"net1\": vpc: VPC \"test-vpc-1\" is refused");
    assert!(m.vpcs.contains_key("test-vpc-2") && m.subnets.contains_key("net2"), "the other VPC is untouched");

    let (mut v, s) = seed_002();
    v[0].1.policy_routes[0].priority = 40000;
    assert!(validate(&v, &s).1[0].to_string().contains("policyRoutes[0].priority: 40000 is outside OVN's range"));
    let (mut v, s) = seed_002();
    v[0].1.policy_routes[1].next_hop_ip.clear();
    assert!(validate(&v, &s).1[0].to_string().contains("policyRoutes[1].nextHopIP: reroute needs a next hop"));
    let (mut v, s) = seed_002();
    v[0].1.policy_routes[0].next_hop_ip = "10.0.1.2".into();
    assert!(validate(&v, &s).1[0].to_string().contains("Drop takes no next hop"));
    let (mut v, s) = seed_002();
    v[0].1.static_routes[0].next_hop_ip = "fd00::1".into();
    assert!(validate(&v, &s).1[0].to_string().contains("not of the same family"));
}

#[test]
fn repeated_routes_and_policies_are_refused() {
    let (mut v, s) = seed_002();
    let again = v[0].1.static_routes[0].clone();
    v[0].1.static_routes.push(again);
    assert!(validate(&v, &s).1[0].to_string().contains("staticRoutes[2]: repeats staticRoutes[0]"));
    let (mut v, s) = seed_002();
    let mut p = v[0].1.policy_routes[1].clone();
    p.action = PolicyAction::Allow;
    p.next_hop_ip.clear();
    v[0].1.policy_routes.push(p);
    assert!(validate(&v, &s).1[0].to_string().contains("policyRoutes[2]: same priority and match as policyRoutes[1]"));
}

#[test]
fn unrealised_fields_are_noticed_not_ignored() {
    let (mut v, mut s) = seed_002();
    v[0].1.enable_external = true;
    s[0].1.private = true;
    let (m, r) = validate(&v, &s);
    assert!(r.is_empty());
    assert_eq!(
        m.notices.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            "Vpc \"test-vpc-1\": enableExternal: accepted, not yet realised (OVN's own external gateway comes with OVN-native NAT; the VPC NAT gateway needs no more than a route to its lanIp)".to_string(),
            "Subnet \"net1\": private: accepted, not yet realised (no ACLs are written)".to_string(),
        ]
    );
    assert!(validate(&seed_002().0, &seed_002().1).0.notices.is_empty());
}

/// `kubectl apply` of a VPC before its subnets, or of a subnet before its
/// VPC: those refusals wait for another object; a bad spec does not.
#[test]
fn refusals_for_a_missing_object_are_marked_waiting() {
    let (v, s) = seed_002();
    // test-vpc-1 without net1: its next hops are in no subnet (yet).
    let (_, r) = validate(&v, &s[1..]);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].waiting && r[0].object.kind == Kind::Vpc && r[0].field.ends_with("nextHopIP"), "{r:?}");
    // net1 without its VPC.
    let (_, r) = validate(&v[1..], &s);
    assert!(
        r.iter().any(|r| r.object.kind == Kind::Subnet && r.object.name == "net1" && r.field == "vpc" && r.waiting),
        "{r:?}"
    );
    // A bad CIDR is not waiting for anything.
    let (_, r) = validate(&v, &[("bad".into(), subnet("test-vpc-2", "10.0.1.0/33"))]);
    assert!(r.iter().any(|r| r.object.name == "bad" && !r.waiting), "{r:?}");
}

fn owned(nb: &mut NbState, table: NameTable, name: &str, owner: &str) {
    nb.hold(table, name, Holder::Owned(owner.into()));
}

/// Issue 9.1: VPC `vb` + subnet `vb-net` and VPC `vb-vb` + subnet `net`
/// both derive router port `vb-vb-net`: the one in the NB keeps it.
#[test]
fn derived_name_collisions_refuse_the_newcomer_naming_both() {
    let vpcs = vec![("vb".to_string(), VpcSpec::default()), ("vb-vb".to_string(), VpcSpec::default())];
    let subnets =
        vec![("vb-net".to_string(), subnet("vb", "10.0.4.0/24")), ("net".to_string(), subnet("vb-vb", "10.0.5.0/24"))];
    let mut nb = NbState::default();
    owned(&mut nb, NameTable::RouterPort, "vb-vb-net", "Subnet/vb-net");
    let (m, r) = validate_in(&vpcs, &subnets, &nb);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].object.kind, r[0].object.name.as_str(), r[0].field.as_str()), (Kind::Subnet, "net", "name"));
    assert!(r[0].reason.contains("router port \"vb-vb-net\"") && r[0].reason.contains("Subnet vb-net"), "{}", r[0]);
    assert!(m.subnets.contains_key("vb-net") && !m.subnets.contains_key("net"));
    // The other way round when `net` holds it.
    let mut nb = NbState::default();
    owned(&mut nb, NameTable::RouterPort, "vb-vb-net", "Subnet/net");
    let (m, r) = validate_in(&vpcs, &subnets, &nb);
    assert_eq!(r[0].object.name, "vb-net", "{r:?}");
    assert!(m.subnets.contains_key("net"));
    // Switch ports: VPC `net-vb` + subnet `vb` and VPC `vb` + subnet `vb-net`... `vb-net-vb`.
    let vpcs = vec![("net-vb".to_string(), VpcSpec::default()), ("vb".to_string(), VpcSpec::default())];
    let subnets =
        vec![("vb".to_string(), subnet("net-vb", "10.0.4.0/24")), ("vb-net".to_string(), subnet("vb", "10.0.5.0/24"))];
    let (_, r) = validate(&vpcs, &subnets);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].reason.contains("switch port \"vb-net-vb\""), "{}", r[0]);
}

/// Issue 9.7 and 9.8: a name held by a row ovn-vpcd does not own.
#[test]
fn a_foreign_row_holding_a_name_refuses_its_claimant() {
    let (v, s) = seed_002();
    let mut nb = NbState::default();
    nb.hold(NameTable::Router, "test-vpc-2", Holder::Foreign { uuid: "1234".into(), tags: String::new() });
    let (m, r) = validate_in(&v, &s, &nb);
    let vpc = r.iter().find(|r| r.object.kind == Kind::Vpc).expect("refused");
    assert_eq!(vpc.object.name, "test-vpc-2");
    assert!(vpc.reason.contains("router \"test-vpc-2\"") && vpc.reason.contains("(1234"), "{vpc}");
    assert!(r.iter().any(|r| r.object.name == "net2" && r.waiting), "its subnet waits: {r:?}");
    assert!(m.vpcs.contains_key("test-vpc-1") && m.subnets.contains_key("net1"), "the other VPC is untouched");
}

/// Issue 9.2: a user policy may not take the id of a subnet's automatic one.
#[test]
fn a_policy_with_the_automatic_policys_priority_and_match_is_refused() {
    let (mut v, s) = seed_002();
    v[0].1.policy_routes.push(PolicyRoute {
        priority: 31000,
        match_: "ip4.dst==10.0.1.0/24".into(),
        action: PolicyAction::Drop,
        next_hop_ip: String::new(),
    });
    let (_, r) = validate(&v, &s);
    assert_eq!(r[0].field, "policyRoutes[2]", "{r:?}");
    assert!(r[0].reason.contains("automatic allow policy of subnet \"net1\""), "{}", r[0]);
    // Another priority is fine.
    v[0].1.policy_routes[2].priority = 30999;
    assert!(validate(&v, &s).1.is_empty());
}

/// Issue 9.5: one bad subnet refuses neither its VPC nor its siblings.
#[test]
fn a_refused_subnet_does_not_refuse_its_vpc() {
    let (v, mut s) = seed_002();
    s[0].1.gateway = "10.0.9.1".into();
    let (m, r) = validate(&v, &s);
    assert_eq!(r.len(), 1, "only net1: {r:?}");
    assert_eq!((r[0].object.name.as_str(), r[0].field.as_str()), ("net1", "gateway"));
    assert!(m.vpcs.contains_key("test-vpc-1"));
}

/// Issue 9.6: a provider typo is refused, and a switch with pods stays a switch.
#[test]
fn providers_are_checked_and_a_switch_with_pods_is_not_deleted() {
    let (v, mut s) = seed_002();
    s[0].1.provider = "OVN".into();
    let (_, r) = validate(&v, &s);
    assert!(r[0].to_string().contains("provider: \"OVN\" is neither") && r[0].reason.contains("did you mean"), "{r:?}");
    s[0].1.provider = "macvlan1.default".into();
    assert!(validate(&v, &s).1.iter().all(|r| r.object.name != "net1"), "an attachment network is fine");
    let mut nb = NbState::default();
    nb.set_switch_ports("net1", 2);
    let (_, r) = validate_in(&v, &s, &nb);
    let r = r.iter().find(|r| r.object.name == "net1").expect("refused");
    assert!(r.reason.contains("delete switch \"net1\", which still has 2 pod port(s)"), "{r}");
}

/// Issue 9.10 and 9.12: what reaches the NB is what was checked.
#[test]
fn route_values_are_trimmed_and_host_bits_refused() {
    let (mut v, s) = seed_002();
    v[0].1.static_routes[1].cidr = " 172.31.0.0/24 ".into();
    v[0].1.static_routes[1].next_hop_ip = " 10.0.1.253".into();
    v[0].1.policy_routes[0].match_ = "  ip4.src==10.0.1.0/24 && ip4.dst==10.0.1.250 ".into();
    let (m, r) = validate(&v, &s);
    assert!(r.is_empty(), "{r:?}");
    let spec = &m.vpcs["test-vpc-1"].spec;
    assert_eq!(
        (spec.static_routes[1].cidr.as_str(), spec.static_routes[1].next_hop_ip.as_str()),
        ("172.31.0.0/24", "10.0.1.253")
    );
    assert_eq!(spec.policy_routes[0].match_, "ip4.src==10.0.1.0/24 && ip4.dst==10.0.1.250");
    v[0].1.static_routes[1].cidr = "172.31.0.5/24".into();
    assert!(validate(&v, &s).1[0].to_string().contains("staticRoutes[1].cidr: \"172.31.0.5/24\" has host bits set"));
    v[0].1.static_routes[1].cidr = "172.31.0.0/33".into();
    assert!(validate(&v, &s).1[0].to_string().contains("is not a CIDR"), "{:?}", validate(&v, &s).1);
    v[0].1.static_routes[1].cidr = "nonsense".into();
    assert!(validate(&v, &s).1[0].to_string().contains("\"nonsense\" is not a CIDR"));
}

#[test]
fn next_hops_are_hosts_of_a_subnet_not_the_router_itself() {
    for (hop, why) in [
        ("10.0.1.1", "the VPC router's own address on subnet \"net1\""),
        ("10.0.1.0", "network or broadcast address"),
        ("10.0.1.255", "network or broadcast address"),
    ] {
        let (mut v, s) = seed_002();
        v[0].1.static_routes[0].next_hop_ip = hop.into();
        let (_, r) = validate(&v, &s);
        assert!(r[0].reason.contains(why) && !r[0].waiting, "{hop}: {r:?}");
        let (mut v, s) = seed_002();
        v[0].1.policy_routes[1].next_hop_ip = hop.into();
        assert!(validate(&v, &s).1[0].reason.contains(why), "{hop}");
    }
}

#[test]
fn ipv6_subnets_on_mapped_or_discard_ranges_are_refused() {
    let case = |cidr: &str| only_rejection(&[("v".into(), VpcSpec::default())], &[("s".into(), subnet("v", cidr))]);
    assert!(case("::ffff:10.0.7.0/120").contains("IPv4-mapped"));
    assert!(case("10.0.7.0/24,::ffff:0:0/96").contains("IPv4-mapped"));
    assert!(case("100::/64").contains("discard-only"));
}

#[test]
fn subnets_on_special_ranges_or_too_small_are_refused() {
    let case = |cidr: &str| only_rejection(&[("v".into(), VpcSpec::default())], &[("s".into(), subnet("v", cidr))]);
    assert!(case("224.1.0.0/24").contains("multicast"));
    assert!(case("127.0.0.0/24").contains("loopback"));
    assert!(case("0.0.0.0/0").contains("overlaps"));
    assert!(case("169.254.1.0/24").contains("link-local"));
    assert!(case("10.0.0.7/32").contains("too small"));
    assert!(case("10.0.0.0/31").contains("too small"));
    assert!(case("ff02::/64").contains("multicast"));
    assert!(case("fd00::/128").contains("too small"));
    let (_, r) = validate(
        &[("v".into(), VpcSpec::default())],
        &[("s".into(), SubnetSpec { dhcp_v4_options: "lease_time=forever".into(), ..subnet("v", "10.0.1.0/24") })],
    );
    assert!(r[0].to_string().contains("dhcpV4Options: lease_time=\"forever\" is not an integer"), "{r:?}");
}

#[test]
fn a_too_long_name_says_so() {
    let long = "a".repeat(254);
    let r = only_rejection(&[("v".into(), VpcSpec::default())], &[(long, subnet("v", "10.0.1.0/24"))]);
    assert!(r.contains("is 254 characters long; at most 253"), "{r}");
}

/// Issue 9.15: of two overlapping subnets, the new one is refused.
#[test]
fn the_overlap_refuses_the_subnet_not_yet_in_the_nb() {
    let vpc = vec![("v".to_string(), VpcSpec::default())];
    let subnets = vec![("a".to_string(), subnet("v", "10.0.0.0/16")), ("b".to_string(), subnet("v", "10.0.1.0/24"))];
    let mut nb = NbState::default();
    owned(&mut nb, NameTable::Switch, "b", "Subnet/b");
    owned(&mut nb, NameTable::RouterPort, "v-b", "Subnet/b");
    let (m, r) = validate_in(&vpc, &subnets, &nb);
    assert_eq!(r[0].to_string(), "Subnet \"a\": cidrBlock: overlaps subnet \"b\" in VPC \"v\"");
    assert!(m.subnets.contains_key("b"));
    // A switch alone (a subnet attached to another VPC's router) is not
    // in this VPC yet: name order decides.
    let mut nb = NbState::default();
    owned(&mut nb, NameTable::Switch, "b", "Subnet/b");
    owned(&mut nb, NameTable::RouterPort, "w-b", "Subnet/b");
    let (m, r) = validate_in(&vpc, &subnets, &nb);
    assert_eq!(r[0].to_string(), "Subnet \"b\": cidrBlock: overlaps subnet \"a\" in VPC \"v\"");
    assert!(m.subnets.contains_key("a"));
}

#[test]
fn a_policy_match_is_parsed_as_ovn_would_and_a_reroute_hop_follows_its_family() {
    let (mut v, s) = seed_002();
    v[0].1.policy_routes[0].match_ = "ip4.src=== 10.0.2.0/24 &&".into();
    let r: Vec<Rejection> = validate(&v, &s).1.into_iter().filter(|r| r.object.kind == Kind::Vpc).collect();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        (r[0].object.name.as_str(), r[0].field.as_str(), r[0].waiting),
        ("test-vpc-1", "policyRoutes[0].match", false)
    );
    assert_eq!(r[0].reason, "column 10: Syntax error at `=' expecting constant.");
    let (mut v, s) = seed_002();
    v[0].1.policy_routes[1].match_ = "ip6.src == fd00::/64".into();
    let r: Vec<Rejection> = validate(&v, &s).1.into_iter().filter(|r| r.object.kind == Kind::Vpc).collect();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].field, "policyRoutes[1].nextHopIP");
    assert_eq!(r[0].reason, "10.0.1.252 is IPv4 but the match refers to IPv6 only");
    assert!(!r[0].waiting, "a family mismatch is not cured by waiting");
}

/// Two policies of one priority whose matches are one flow for OVN
/// (`ip4.src == 10.0.1.0/24` and `ip4.src == {10.0.1.0/24}`) but opposite
/// actions: which one wins would be up to ovn-controller.
#[test]
fn two_policies_of_one_priority_and_one_match_however_spelled_are_refused() {
    let (mut v, s) = seed_002();
    let mut other = v[0].1.policy_routes[0].clone();
    other.match_ = "10.0.1.0/255.255.255.0 == ip4.src".into();
    other.priority = v[0].1.policy_routes[1].priority;
    v[0].1.policy_routes[1].match_ = "ip4.src == {10.0.1.0/24}".into();
    v[0].1.policy_routes.push(other);
    let r: Vec<Rejection> = validate(&v, &s).1.into_iter().filter(|r| r.to_string().contains("Vpc")).collect();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].field, "policyRoutes[2]");
    assert_eq!(r[0].reason, "same priority and match as policyRoutes[1]");
}
