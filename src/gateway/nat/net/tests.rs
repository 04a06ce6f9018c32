use super::*;
use crate::gateway::nat::testset::seed_003;

/// `ip -j addr show dev net1` with the CNI's address, one EIP of ours and
/// one left from an older set.
const ADDRS: &str = r#"[{"ifindex":3,"ifname":"net1","addr_info":[
 {"family":"inet","local":"172.16.3.10","prefixlen":24,"scope":"global","label":"net1"},
 {"family":"inet","local":"172.16.3.203","prefixlen":24,"scope":"global","secondary":true,"label":"net1:eip"},
 {"family":"inet","local":"172.16.3.99","prefixlen":24,"scope":"global","secondary":true,"label":"net1:eip"},
 {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]}]"#;

#[test]
fn only_our_labelled_addresses_are_removed_and_added_ones_are_announced() {
    let addrs = parse_addresses(ADDRS).unwrap();
    assert_eq!(addrs.len(), 3);
    let p = plan(&seed_003(), &addrs, &[]).unwrap();
    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    assert_eq!(p.remove_addresses, [Address { ip: ip("172.16.3.99"), prefix_len: 24, label: EIP_LABEL.into() }]);
    assert_eq!(p.announce, [ip("172.16.3.204"), ip("172.16.3.208")]);
    let batch = p.batch();
    assert_eq!(
        batch[..3],
        [
            "address del 172.16.3.99/24 dev net1",
            "address add 172.16.3.204/24 dev net1 label net1:eip",
            "address add 172.16.3.208/24 dev net1 label net1:eip",
        ]
    );
}

#[test]
fn the_cni_address_is_never_touched_even_when_it_is_an_eip() {
    let mut set = seed_003();
    set.eips.retain(|e| e.name == "eipd01");
    set.eips[0].ip = "172.16.3.10".parse().unwrap();
    let addrs = parse_addresses(ADDRS).unwrap();
    let p = plan(&set, &addrs, &[]).unwrap();
    assert!(p.add_addresses.is_empty(), "{p:?}");
    assert_eq!(p.remove_addresses.len(), 2, "both of ours go, the CNI's stays: {p:?}");
    assert!(p.remove_addresses.iter().all(|a| a.label == EIP_LABEL));
}

#[test]
fn a_changed_prefix_length_replaces_the_address() {
    let mut set = seed_003();
    set.external.prefix_len = 25;
    let addrs = parse_addresses(ADDRS).unwrap();
    let p = plan(&set, &addrs, &[]).unwrap();
    assert!(p.batch().contains(&"address del 172.16.3.203/24 dev net1".to_string()));
    assert!(p.batch().contains(&"address add 172.16.3.203/25 dev net1 label net1:eip".to_string()));
}

#[test]
fn routes_default_via_net1_onlink_and_lan_routes_via_eth0_only_ours_removed() {
    // `ip -j route show table main proto 157`: our default, and a LAN route
    // of an older set.
    let ours = parse_routes(
        r#"[{"dst":"default","gateway":"172.16.3.2","dev":"net1","flags":["onlink"]},
            {"dst":"10.0.9.0/24","gateway":"10.0.1.1","dev":"eth0","flags":[]}]"#,
    )
    .unwrap();
    let p = plan(&seed_003(), &parse_addresses(ADDRS).unwrap(), &ours).unwrap();
    let batch = p.batch();
    let routes: Vec<&str> = batch.iter().filter(|l| l.starts_with("route")).map(String::as_str).collect();
    assert_eq!(
        routes,
        [
            "route del 10.0.9.0/24 via 10.0.1.1 dev eth0 proto 157",
            "route replace 10.0.2.0/24 via 10.0.1.1 dev eth0 proto 157",
        ]
    );
    let fresh = plan(&seed_003(), &[], &[]).unwrap();
    assert!(fresh.batch().contains(&"route replace default via 172.16.3.2 dev net1 onlink proto 157".to_string()));
    assert_eq!(parse_routes("").unwrap(), []);
    assert_eq!(parse_routes("[]").unwrap(), []);
}

#[test]
fn an_applied_set_needs_no_change() {
    let set = seed_003();
    let addrs: Vec<Address> = set
        .eips
        .iter()
        .map(|e| Address { ip: e.ip, prefix_len: 24, label: EIP_LABEL.into() })
        .chain([Address { ip: "172.16.3.10".parse().unwrap(), prefix_len: 24, label: "net1".into() }])
        .collect();
    let routes = desired_routes(&set).unwrap();
    let p = plan(&set, &addrs, &routes).unwrap();
    assert!(p.is_empty() && p.announce.is_empty(), "{p:?}");
    let mut host = set.clone();
    host.lan.routes[0].cidr = "10.0.3.7/32".into();
    assert_eq!(desired_routes(&host).unwrap()[1].dst, "10.0.3.7");
}

#[test]
fn arping_flags_per_flavour() {
    let ip = "172.16.3.204".parse().unwrap();
    assert_eq!(Arping::from_help("ARPing 2.23, by Thomas Habets <thomas@habets.se>"), Arping::Habets);
    assert_eq!(Arping::from_help("Usage: arping [-fqbDUAV] [-c count] ... -I device"), Arping::Iputils);
    assert_eq!(Arping::Iputils.announce_args(ip), ["-q", "-U", "-c", "3", "-I", "net1", "172.16.3.204"]);
    assert_eq!(
        Arping::Habets.announce_args(ip),
        ["-q", "-U", "-c", "3", "-i", "net1", "-S", "172.16.3.204", "172.16.3.204"]
    );
}

#[test]
fn unreadable_output_is_an_error() {
    assert!(matches!(parse_addresses("not json"), Err(NatError::Parse { .. })));
    assert!(matches!(parse_routes("{"), Err(NatError::Parse { .. })));
}

/// A set the daemon did not validate: a default route among the LAN
/// routes, a CIDR with host bits set and one destination twice. Each
/// destination is planned once, as `ip -j route show` shows it back, so
/// the next re-check plans nothing (no route re-planned every period).
#[test]
fn an_untrusted_sets_routes_are_planned_once_per_destination_and_do_not_flap() {
    use crate::rules::nat::Route as SetRoute;
    let mut set = seed_003();
    let via = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    set.lan.routes = vec![
        SetRoute { cidr: "10.0.2.0/24".into(), via: via("10.0.1.1") },
        SetRoute { cidr: "0.0.0.0/0".into(), via: via("10.0.1.1") },
        SetRoute { cidr: "10.9.0.1/16".into(), via: via("10.0.1.9") },
        SetRoute { cidr: "10.9.0.0/16".into(), via: via("10.0.1.8") },
        SetRoute { cidr: "10.0.2.0/24".into(), via: via("10.0.1.7") },
    ];
    let p = plan(&set, &[], &[]).unwrap();
    let routes: Vec<String> = p.batch().into_iter().filter(|l| l.starts_with("route")).collect();
    assert_eq!(
        routes,
        [
            "route replace default via 172.16.3.2 dev net1 onlink proto 157",
            "route replace 10.0.2.0/24 via 10.0.1.1 dev eth0 proto 157",
            "route replace 10.9.0.0/16 via 10.0.1.9 dev eth0 proto 157",
        ]
    );
    // What `ip -j route show table main proto 157` shows once applied.
    let shown = parse_routes(
        r#"[{"dst":"default","gateway":"172.16.3.2","dev":"net1","protocol":"157","flags":["onlink"]},
            {"dst":"10.0.2.0/24","gateway":"10.0.1.1","dev":"eth0","protocol":"157","flags":[]},
            {"dst":"10.9.0.0/16","gateway":"10.0.1.9","dev":"eth0","protocol":"157","flags":[]}]"#,
    )
    .unwrap();
    let again = plan(&set, &[], &shown).unwrap();
    assert!(again.remove_routes.is_empty() && again.add_routes.is_empty(), "{again:?}");
}

/// `ip -force -batch -`'s stderr (as iproute2 6.1 prints it) names the
/// failed lines by number: each is reported with the kernel's reason.
#[test]
fn batch_failures_name_each_failed_line_and_its_reason() {
    let batch: Vec<String> = [
        "address del 172.16.3.99/24 dev net1",
        "route replace 10.9.0.0/24 via 192.168.77.1 dev eth0 proto 157",
        "route replace 10.8.0.0/24 via 10.0.1.1 dev eth0 proto 157",
        "route del 10.7.0.0/24 via 10.0.1.1 dev eth0 proto 157",
    ]
    .map(String::from)
    .into();
    let stderr = "Error: ipv4: Address not found.\nCommand failed -:1\nError: Nexthop has invalid gateway.\n\
                  Command failed -:2\nRTNETLINK answers: No such process\nCommand failed -:4\n";
    assert_eq!(
        batch_failures(&batch, stderr),
        [
            "`address del 172.16.3.99/24 dev net1`: Error: ipv4: Address not found.",
            "`route replace 10.9.0.0/24 via 192.168.77.1 dev eth0 proto 157`: Error: Nexthop has invalid gateway.",
            "`route del 10.7.0.0/24 via 10.0.1.1 dev eth0 proto 157`: RTNETLINK answers: No such process",
        ]
    );
    assert!(batch_failures(&batch, "").is_empty());
}
