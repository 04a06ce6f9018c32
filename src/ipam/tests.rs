use super::*;
use crate::model::validate::validate;
use crate::model::{SubnetSpec, VpcSpec};

fn spec(cidr: &str, excludes: &[&str]) -> SubnetSpec {
    SubnetSpec {
        cidr_block: cidr.into(),
        vpc: "vpc1".into(),
        exclude_ips: excludes.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn model(subnets: &[(&str, SubnetSpec)]) -> Model {
    let subnets: Vec<(String, SubnetSpec)> = subnets.iter().map(|(n, s)| (n.to_string(), s.clone())).collect();
    let (m, rejected) = validate(&[("vpc1".into(), VpcSpec::default())], &subnets);
    assert!(rejected.is_empty(), "{rejected:?}");
    m
}

fn ipam(subnets: &[(&str, SubnetSpec)]) -> Ipam {
    let mut i = Ipam::new();
    let r = i.sync_subnets(&model(subnets));
    assert!(r.evicted.is_empty());
    i
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ips(a: &PodAddress) -> Vec<String> {
    a.ips.iter().map(ToString::to_string).collect()
}

#[test]
fn allocation_order_and_exhaustion_of_a_29() {
    let mut i = ipam(&[("net1", spec("10.0.0.0/29", &[]))]);
    // .0 network, .1 gateway, .7 last: .2 to .6 in order.
    for n in 2..=6 {
        let a = i.allocate(&format!("ns/p{n}"), "net1", None, None).unwrap();
        assert_eq!(ips(&a), [format!("10.0.0.{n}")]);
    }
    assert_eq!(i.using("net1"), 5);
    let e = i.allocate("ns/p7", "net1", None, None).unwrap_err();
    assert_eq!(e, IpamError::Exhausted { pod: "ns/p7".into(), subnet: "net1".into(), family: "IPv4" });
    assert_eq!(e.to_string(), "pod ns/p7: subnet net1 has no free IPv4 address");
    assert_eq!(i.using("net1"), 5);
    assert_eq!(i.lookup("ns/p7"), None);
}

#[test]
fn excludes_and_ranges_are_skipped() {
    let mut i = ipam(&[("net1", spec("10.0.0.0/24", &["10.0.0.2..10.0.0.4", "10.0.0.6", "10.0.0.8..10.0.0.9"]))]);
    let got: Vec<String> =
        (0..4).map(|n| ips(&i.allocate(&format!("ns/p{n}"), "net1", None, None).unwrap())[0].clone()).collect();
    assert_eq!(got, ["10.0.0.5", "10.0.0.7", "10.0.0.10", "10.0.0.11"]);
    // A subnet whose every host is excluded or the gateway is exhausted.
    let mut j = ipam(&[("tiny", spec("10.9.0.0/29", &["10.9.0.2..10.9.0.6"]))]);
    assert!(matches!(j.allocate("ns/p", "tiny", None, None), Err(IpamError::Exhausted { .. })));
}

#[test]
fn requested_ip_is_honoured() {
    let mut i = ipam(&[("net1", spec("10.0.1.0/24", &[]))]);
    let a = i.allocate("ns1/web-0", "net1", Some("10.0.1.77"), Some("0A-00-00-AA-BB-CC")).unwrap();
    assert_eq!(ips(&a), ["10.0.1.77"]);
    assert_eq!(a.mac, "0a:00:00:aa:bb:cc", "normalised");
    // Dynamic allocations go around it.
    assert_eq!(ips(&i.allocate("ns1/web-1", "net1", None, None).unwrap()), ["10.0.1.2"]);
}

#[test]
fn requested_ip_is_refused_for_each_reason() {
    let mut i = ipam(&[("net1", spec("10.0.1.0/24", &["10.0.1.100..10.0.1.110"]))]);
    i.allocate("ns1/other", "net1", Some("10.0.1.50"), Some("0a:01:01:01:01:01")).unwrap();
    let refused = |i: &mut Ipam, req: &str| match i.allocate("ns1/web-0", "net1", Some(req), None) {
        Err(IpamError::Refused { reason, .. }) => reason,
        other => panic!("{req}: {other:?}"),
    };
    assert_eq!(refused(&mut i, "10.0.2.5"), Refusal::Outside { cidrs: "10.0.1.0/24".into() });
    assert_eq!(refused(&mut i, "fd00::5"), Refusal::Outside { cidrs: "10.0.1.0/24".into() });
    assert_eq!(refused(&mut i, "10.0.1.0"), Refusal::NetworkAddress);
    assert_eq!(refused(&mut i, "10.0.1.255"), Refusal::LastAddress);
    assert_eq!(refused(&mut i, "10.0.1.1"), Refusal::Gateway);
    assert_eq!(refused(&mut i, "10.0.1.105"), Refusal::Excluded);
    assert_eq!(refused(&mut i, "10.0.1.50"), Refusal::Taken { holder: "ns1/other".into() });
    let e = i.allocate("ns1/web-0", "net1", Some("10.0.1.1"), None).unwrap_err();
    assert_eq!(e.to_string(), "pod ns1/web-0: requested ip 10.0.1.1 in subnet net1 is the gateway");
    let e = i.allocate("ns1/web-0", "net1", Some("10.0.1.50"), None).unwrap_err();
    assert_eq!(e.to_string(), "pod ns1/web-0: requested ip 10.0.1.50 in subnet net1 is taken by pod ns1/other");
    for bad in ["nonsense", "10.0.1.5,10.0.1.6", "10.0.1.5/24"] {
        let e = i.allocate("ns1/web-0", "net1", Some(bad), None).unwrap_err();
        assert!(matches!(e, IpamError::Malformed { what: "requested ip", .. }), "{bad}: {e:?}");
    }
    for bad in ["nonsense", "01:00:5e:00:00:01", "00:00:00:00:00:00", "0a:00:00:00:00"] {
        let e = i.allocate("ns1/web-0", "net1", None, Some(bad)).unwrap_err();
        assert!(matches!(e, IpamError::Malformed { what: "requested mac", .. }), "{bad}: {e:?}");
    }
    let e = i.allocate("ns1/web-0", "net1", None, Some("0A:01:01:01:01:01")).unwrap_err();
    assert_eq!(
        e,
        IpamError::MacTaken {
            pod: "ns1/web-0".into(),
            mac: "0a:01:01:01:01:01".into(),
            subnet: "net1".into(),
            holder: "ns1/other".into()
        }
    );
    let e = i.allocate("ns1/web-0", "nope", None, None).unwrap_err();
    assert_eq!(e.to_string(), "pod ns1/web-0: subnet nope does not exist (or is not valid)");
    // Nothing was taken by the failures.
    assert_eq!(i.using("net1"), 1);
    assert_eq!(i.lookup("ns1/web-0"), None);
    assert_eq!(ips(&i.allocate("ns1/web-0", "net1", None, None).unwrap()), ["10.0.1.2"]);
}

#[test]
fn allocate_is_idempotent() {
    let mut i = ipam(&[("net1", spec("10.0.1.0/24", &[])), ("net2", spec("10.0.2.0/24", &[]))]);
    let a = i.allocate("ns/p", "net1", None, None).unwrap();
    assert_eq!(i.allocate("ns/p", "net1", None, None).unwrap(), a);
    // What the pod's own annotations say after the first allocation.
    assert_eq!(i.allocate("ns/p", "net1", Some(&a.ip_list()), Some(&a.mac)).unwrap(), a);
    assert_eq!(i.using("net1"), 1);
    // Asking for something else, or elsewhere, is refused: a pod keeps its address.
    let e = i.allocate("ns/p", "net1", Some("10.0.1.9"), None).unwrap_err();
    assert!(matches!(e, IpamError::AlreadyAllocated { .. }), "{e:?}");
    assert!(e.to_string().contains("already holds") && e.to_string().contains("10.0.1.9"), "{e}");
    let e = i.allocate("ns/p", "net2", None, None).unwrap_err();
    assert!(matches!(e, IpamError::AlreadyAllocated { ref subnet, .. } if subnet == "net1"), "{e:?}");
    assert_eq!(i.lookup("ns/p"), Some(&a));
}

#[test]
fn release_then_reallocate_reuses() {
    let mut i = ipam(&[("net1", spec("10.0.1.0/24", &[]))]);
    for n in 0..5 {
        i.allocate(&format!("ns/p{n}"), "net1", None, None).unwrap();
    }
    let gone = i.release("ns/p1").unwrap();
    assert_eq!(ips(&gone), ["10.0.1.3"]);
    assert_eq!(i.release("ns/p1"), None, "twice is a no-op");
    assert_eq!(i.using("net1"), 4);
    // The lowest free address is the released one; its MAC is free too.
    let a = i.allocate("ns/new", "net1", None, Some(&gone.mac)).unwrap();
    assert_eq!(ips(&a), ["10.0.1.3"]);
    assert_eq!(a.mac, gone.mac);
    assert_eq!(ips(&i.allocate("ns/next", "net1", None, None).unwrap()), ["10.0.1.7"]);
    // The free ranges merge back: releasing everything leaves one range.
    for k in ["ns/p0", "ns/p2", "ns/p3", "ns/p4", "ns/new", "ns/next"] {
        i.release(k).unwrap();
    }
    let pool = &i.subnets["net1"].pools[0];
    assert_eq!(pool.free.len(), 1);
    assert!(pool.taken.is_empty());
    assert_eq!(i.using("net1"), 0);
}

#[test]
fn dual_stack() {
    let mut i = ipam(&[("dual", spec("10.0.3.0/24,fd00::/64", &[]))]);
    let a = i.allocate("ns/a", "dual", None, None).unwrap();
    assert_eq!(ips(&a), ["10.0.3.2", "fd00::2"]);
    assert_eq!(a.lsp_address(), format!("{} 10.0.3.2 fd00::2", a.mac));
    // One family requested: the other gets its lowest free address.
    let b = i.allocate("ns/b", "dual", Some("fd00::99"), None).unwrap();
    assert_eq!(ips(&b), ["10.0.3.3", "fd00::99"]);
    let c = i.allocate("ns/c", "dual", Some("fd00::7, 10.0.3.40"), None).unwrap();
    assert_eq!(ips(&c), ["10.0.3.40", "fd00::7"]);
    assert_eq!(c.ip_list(), "10.0.3.40,fd00::7");
    assert_eq!(i.using("dual"), 3);
    let e = i.allocate("ns/d", "dual", Some("fd00::1"), None).unwrap_err();
    assert!(matches!(e, IpamError::Refused { reason: Refusal::Gateway, .. }), "{e:?}");
}

#[test]
fn dual_stack_exhaustion_takes_nothing() {
    // The IPv6 /126 has one usable address (::1 is the gateway).
    let mut i = ipam(&[("dual", spec("10.0.3.0/24,fd00::/126", &[]))]);
    assert_eq!(ips(&i.allocate("ns/a", "dual", None, None).unwrap()), ["10.0.3.2", "fd00::2"]);
    let e = i.allocate("ns/b", "dual", None, None).unwrap_err();
    assert_eq!(e, IpamError::Exhausted { pod: "ns/b".into(), subnet: "dual".into(), family: "IPv6" });
    assert_eq!(i.using("dual"), 1);
    assert_eq!(i.subnets["dual"].pools[0].lowest_free(), Some(to_u128(ip("10.0.3.3"))));
}

#[test]
fn restore_rebuilds_and_reports_conflicts() {
    let mut i = ipam(&[("net1", spec("10.0.1.0/24", &["10.0.1.200..10.0.1.210"]))]);
    let a = i.restore("ns/a", "net1", &[ip("10.0.1.2")], "0A:AA:AA:AA:AA:AA").unwrap();
    assert_eq!(a, PodAddress { subnet: "net1".into(), ips: vec![ip("10.0.1.2")], mac: "0a:aa:aa:aa:aa:aa".into() });
    // Both sources (NB port and annotations) restoring the same thing: fine.
    assert_eq!(i.restore("ns/a", "net1", &[ip("10.0.1.2")], "0a:aa:aa:aa:aa:aa").unwrap(), a);
    // An excluded address exists: accepted (excludeIps only steer new allocations).
    i.restore("ns/b", "net1", &[ip("10.0.1.205")], "0a:bb:bb:bb:bb:bb").unwrap();
    // Conflicts: reported, nothing recorded.
    let e = i.restore("ns/c", "net1", &[ip("10.0.1.2")], "0a:cc:cc:cc:cc:cc").unwrap_err();
    assert_eq!(e.to_string(), "pod ns/c: ip 10.0.1.2 in subnet net1 is taken by pod ns/a");
    let e = i.restore("ns/c", "net1", &[ip("10.0.1.3")], "0a:aa:aa:aa:aa:aa").unwrap_err();
    assert!(matches!(e, IpamError::MacTaken { ref holder, .. } if holder == "ns/a"), "{e:?}");
    let e = i.restore("ns/c", "net1", &[ip("10.0.1.1")], "0a:cc:cc:cc:cc:cc").unwrap_err();
    assert!(matches!(e, IpamError::Refused { reason: Refusal::Gateway, what: "ip", .. }), "{e:?}");
    let e = i.restore("ns/c", "net1", &[ip("10.0.9.1")], "0a:cc:cc:cc:cc:cc").unwrap_err();
    assert!(matches!(e, IpamError::Refused { reason: Refusal::Outside { .. }, .. }), "{e:?}");
    let e = i.restore("ns/c", "net1", &[], "0a:cc:cc:cc:cc:cc").unwrap_err();
    assert!(matches!(e, IpamError::Malformed { what: "ip", .. }), "{e:?}");
    let e = i.restore("ns/c", "net1", &[ip("10.0.1.3"), ip("10.0.1.4")], "0a:cc:cc:cc:cc:cc").unwrap_err();
    assert!(matches!(e, IpamError::Malformed { what: "ip", .. }), "{e:?}");
    let e = i.restore("ns/c", "net1", &[ip("10.0.1.3")], "junk").unwrap_err();
    assert!(matches!(e, IpamError::Malformed { what: "mac", .. }), "{e:?}");
    let e = i.restore("ns/c", "gone", &[ip("10.0.1.3")], "0a:cc:cc:cc:cc:cc").unwrap_err();
    assert!(matches!(e, IpamError::UnknownSubnet { .. }), "{e:?}");
    let e = i.restore("ns/a", "net1", &[ip("10.0.1.9")], "0a:aa:aa:aa:aa:aa").unwrap_err();
    assert!(matches!(e, IpamError::AlreadyAllocated { .. }), "{e:?}");
    assert_eq!(i.lookup("ns/c"), None);
    assert_eq!(i.using("net1"), 2);
    // Allocation goes around restored addresses; a restored pod gets its own back.
    assert_eq!(ips(&i.allocate("ns/c", "net1", None, None).unwrap()), ["10.0.1.3"]);
    assert_eq!(i.allocate("ns/a", "net1", Some("10.0.1.2"), None).unwrap(), a);
    // Releasing an excluded address does not make it allocatable.
    i.release("ns/b").unwrap();
    let e = i.allocate("ns/d", "net1", Some("10.0.1.205"), None).unwrap_err();
    assert!(matches!(e, IpamError::Refused { reason: Refusal::Excluded, .. }), "{e:?}");
}

#[test]
fn subnet_changes_evict_pods_that_no_longer_fit() {
    let mut i = ipam(&[("net1", spec("10.0.0.0/24", &[])), ("net2", spec("10.0.2.0/24", &[]))]);
    for (k, a) in [("ns/a", "10.0.0.2"), ("ns/b", "10.0.0.3"), ("ns/c", "10.0.0.200"), ("ns/d", "10.0.0.127")] {
        i.allocate(k, "net1", Some(a), None).unwrap();
    }
    i.allocate("ns/z", "net2", None, None).unwrap();
    // Excludes alone evict nobody, but steer new allocations.
    let r = i.sync_subnets(&model(&[
        ("net1", spec("10.0.0.0/24", &["10.0.0.3..10.0.0.10"])),
        ("net2", spec("10.0.2.0/24", &[])),
    ]));
    assert_eq!((r.changed.as_slice(), r.evicted.as_slice()), (&["net1".to_string()][..], &[][..]));
    assert_eq!(i.using("net1"), 4);
    assert_eq!(ips(&i.allocate("ns/e", "net1", None, None).unwrap()), ["10.0.0.11"]);
    // Shrink to a /25 with gateway .3: .200 is outside, .3 the gateway, .127 the last address.
    let mut s = spec("10.0.0.0/25", &[]);
    s.gateway = "10.0.0.3".into();
    let r = i.sync_subnets(&model(&[("net1", s), ("net2", spec("10.0.2.0/24", &[]))]));
    let why: Vec<(&str, IpAddr, Refusal)> = r
        .evicted
        .iter()
        .map(|e| match &e.reason {
            EvictReason::NoLongerFits { ip, reason } => (e.pod.as_str(), *ip, reason.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        why,
        [
            ("ns/b", ip("10.0.0.3"), Refusal::Gateway),
            ("ns/c", ip("10.0.0.200"), Refusal::Outside { cidrs: "10.0.0.0/25".into() }),
            ("ns/d", ip("10.0.0.127"), Refusal::LastAddress),
        ]
    );
    assert!(r.evicted[1].to_string().contains("10.0.0.200 no longer fits subnet net1"), "{}", r.evicted[1]);
    assert_eq!(i.using("net1"), 2);
    assert_eq!(i.lookup("ns/c"), None);
    assert!(i.lookup("ns/a").is_some() && i.lookup("ns/e").is_some());
    assert_eq!(i.using("net2"), 1, "other subnets untouched");
    // The old gateway is a host now; evicted addresses inside the new
    // CIDR are free again, the new gateway is not.
    assert_eq!(ips(&i.allocate("ns/f", "net1", None, None).unwrap()), ["10.0.0.1"]);
    assert_eq!(ips(&i.allocate("ns/g", "net1", None, None).unwrap()), ["10.0.0.4"]);
    // A removed subnet releases all its pods.
    let r = i.sync_subnets(&model(&[("net2", spec("10.0.2.0/24", &[]))]));
    assert_eq!(r.removed, ["net1"]);
    let gone: Vec<&str> = r.evicted.iter().map(|e| e.pod.as_str()).collect();
    assert_eq!(gone, ["ns/a", "ns/e", "ns/f", "ns/g"]);
    assert!(r.evicted.iter().all(|e| e.reason == EvictReason::SubnetRemoved));
    assert_eq!(i.using("net1"), 0);
    assert_eq!(i.lookup("ns/a"), None);
    let e = i.allocate("ns/a", "net1", None, None).unwrap_err();
    assert!(matches!(e, IpamError::UnknownSubnet { .. }));
    // Added again: empty.
    let r = i.sync_subnets(&model(&[("net1", spec("10.0.0.0/24", &[])), ("net2", spec("10.0.2.0/24", &[]))]));
    assert_eq!(r.added, ["net1"]);
    assert_eq!(ips(&i.allocate("ns/a", "net1", None, None).unwrap()), ["10.0.0.2"]);
}

#[test]
fn family_removed_evicts_dual_stack_pods() {
    let mut i = ipam(&[("net1", spec("10.0.0.0/24,fd00::/64", &[]))]);
    i.allocate("ns/a", "net1", None, None).unwrap();
    let r = i.sync_subnets(&model(&[("net1", spec("10.0.0.0/24", &[]))]));
    assert_eq!(r.evicted.len(), 1);
    assert!(matches!(&r.evicted[0].reason, EvictReason::NoLongerFits { ip: gone, .. } if *gone == ip("fd00::2")));
    assert_eq!(i.using("net1"), 0);
}

#[test]
fn a_16_with_5000_pods() {
    let mut i = ipam(&[("big", spec("10.1.0.0/16", &["10.1.0.2..10.1.0.255"])), ("v6", spec("fd00:1::/64", &[]))]);
    for n in 0..5000 {
        let k = format!("ns/p{n}");
        i.allocate(&k, "big", None, None).unwrap();
        i.allocate(&format!("ns/q{n}"), "v6", None, None).unwrap();
    }
    assert_eq!(i.using("big"), 5000);
    assert_eq!(i.using("v6"), 5000);
    assert_eq!(ips(i.lookup("ns/p0").unwrap()), ["10.1.1.0"]);
    // 256 + 4999 = 5255 = 20 * 256 + 135.
    assert_eq!(ips(i.lookup("ns/p4999").unwrap()), ["10.1.20.135"]);
    assert_eq!(ips(i.lookup("ns/q4999").unwrap()), ["fd00:1::1389"]);
    let macs: BTreeSet<&str> = i.pods().map(|(_, a)| a.mac.as_str()).collect();
    assert_eq!(macs.len(), 10000);
    // Release every other pod, then allocate again: the holes are refilled lowest first.
    for n in (0..5000).step_by(2) {
        i.release(&format!("ns/p{n}")).unwrap();
    }
    assert_eq!(i.subnets["big"].pools[0].free.len(), 2501);
    let a = i.allocate("ns/new", "big", None, None).unwrap();
    assert_eq!(ips(&a), ["10.1.1.0"]);
    for n in 0..2499 {
        i.allocate(&format!("ns/r{n}"), "big", None, None).unwrap();
    }
    assert_eq!(i.subnets["big"].pools[0].free.len(), 1);
    assert_eq!(i.using("big"), 5000);
}

#[test]
fn derived_macs() {
    let m = derived_mac("ns/p", 0);
    assert_eq!(m, derived_mac("ns/p", 0), "deterministic");
    assert_ne!(m, derived_mac("ns/p", 1));
    assert_ne!(m, derived_mac("ns/q", 0));
    assert!(m.starts_with("0a:") && m.len() == 17, "{m}");
    assert_eq!(parse_mac(&m).unwrap(), m, "a valid unicast MAC");
    // The same pod gets the same MAC after a release.
    let mut i = ipam(&[("net1", spec("10.0.1.0/24", &[]))]);
    let first = i.allocate("ns/p", "net1", None, None).unwrap().mac;
    assert_eq!(first, derived_mac("ns/p", 0));
    i.release("ns/p");
    assert_eq!(i.allocate("ns/p", "net1", None, None).unwrap().mac, first);
    // A collision moves on to the next derivation.
    i.allocate("ns/squatter", "net1", None, Some(&derived_mac("ns/victim", 0))).unwrap();
    assert_eq!(i.allocate("ns/victim", "net1", None, None).unwrap().mac, derived_mac("ns/victim", 1));
    // Never in stable_mac's 0a:00:00 space.
    let clash = (0..1_000_000u32).map(|n| format!("ns/k{n}")).find(|k| derived_mac(k, 0).starts_with("0a:00:00:"));
    let clash = clash.expect("about one key in 65536 derives into 0a:00:00 at attempt 0");
    assert_eq!(i.allocate(&clash, "net1", None, None).unwrap().mac, derived_mac(&clash, 1));
}

#[test]
fn mac_parsing() {
    assert_eq!(parse_mac(" 0A-1b-2C-3d-4E-5f ").unwrap(), "0a:1b:2c:3d:4e:5f");
    assert!(parse_mac("ff:ff:ff:ff:ff:ff").is_err());
    assert!(parse_mac("0a:1b:2c:3d:4e").is_err());
    assert!(parse_mac("0a:1b:2c:3d:4e:5g").is_err());
    assert!(parse_mac("0a:1b:2c:3d:4e:5").is_err());
}

#[test]
fn ports_of_ovn_subnets_only() {
    let mut attach = spec("192.168.0.0/24", &[]);
    attach.provider = "macvlan.default".into();
    attach.vpc = String::new();
    let mut i = ipam(&[("net1", spec("10.0.1.0/24", &[])), ("attach", attach)]);
    i.allocate("ns1/web-0", "net1", None, None).unwrap();
    i.allocate("ns1/web-1", "attach", None, None).unwrap();
    let ports = i.ports();
    assert_eq!(ports.len(), 1);
    let p = &ports[0];
    assert_eq!(
        (p.key.as_str(), p.pod.as_str(), p.namespace.as_str(), p.subnet.as_str()),
        ("ns1/web-0", "web-0", "ns1", "net1")
    );
    assert_eq!(p.ips, vec![ip("10.0.1.2")]);
    assert_eq!(i.using("attach"), 1);
    assert_eq!(i.lookup("ns1/web-0").unwrap().port("no-slash"), None);
}

#[test]
fn pool_edges() {
    // /31, /32: no hosts at all.
    for c in ["10.0.0.0/31", "10.0.0.0/32", "fd00::/127"] {
        let net: IpNet = c.parse().unwrap();
        let p = Pool::new(net, None, std::iter::empty());
        assert!(p.free.is_empty(), "{c}");
    }
    // Excludes overlapping, adjacent and reaching past the host range merge.
    let net: IpNet = "10.0.0.0/28".parse().unwrap();
    let x = |s: &str| to_u128(ip(s));
    let ex = [(x("10.0.0.0"), x("10.0.0.3")), (x("10.0.0.4"), x("10.0.0.5")), (x("10.0.0.14"), x("10.0.0.15"))];
    let p = Pool::new(net, Some(x("10.0.0.9")), ex.into_iter());
    let free: Vec<(u128, u128)> = p.free.iter().map(|(a, b)| (*a, *b)).collect();
    assert_eq!(free, [(x("10.0.0.6"), x("10.0.0.8")), (x("10.0.0.10"), x("10.0.0.13"))]);
    assert_eq!(p.excludes, [(x("10.0.0.0"), x("10.0.0.5")), (x("10.0.0.14"), x("10.0.0.15"))]);
}

/// `with_prefix` gives exactly the keys under a prefix (a range of the map).
#[test]
fn allocations_under_a_prefix_are_a_range() {
    let mut i = ipam(&[("net1", spec("10.0.1.0/24", &[]))]);
    for key in ["IptablesEIP/a", "ns/p", "IptablesEIP/b", "IptablesEIP0", "IptablesEIP", "A/b"] {
        i.allocate(key, "net1", None, None).unwrap();
    }
    let keys: Vec<&str> = i.with_prefix("IptablesEIP/").map(|(k, _)| k).collect();
    assert_eq!(keys, ["IptablesEIP/a", "IptablesEIP/b"]);
}
