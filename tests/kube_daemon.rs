//! `ovn-vpcd run` with a `[kubernetes]` section, against real OVN and the
//! testbed API server: seed 002 applied with kubectl gives the same NB as
//! the equivalent TOML; status, Events, finalizers; deletes (also while the
//! daemon is down); a TOML name wins over a resource; two daemons elect one
//! leader and the other takes over when it is killed.

use std::time::Duration;

use ovn_vpcd::testbed::Ovn;
use serde_json::Value as Json;

mod common;
use common::kube::{condition, kubectl_json, nb_state, start_kube, write_config};
use common::{http_get, wait_for, Daemon};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed-002.yaml");

/// The NB a TOML file produces with `ovn-vpcd apply`.
fn reference_state_of(config: &str) -> Vec<String> {
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
        .args(["apply", "--config", config, "--db", ovn.nb_unix()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    nb_state(&ovn)
}

/// The NB the TOML equivalent of the seed 002 fixture produces.
fn reference_state() -> Vec<String> {
    reference_state_of(concat!(env!("CARGO_MANIFEST_DIR"), "/config/ovn-vpcd.toml"))
}

#[test]
fn seeds_000_and_003_applied_with_kubectl_give_their_toml_states() {
    for seed in ["seed-000", "seed-003"] {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let want = reference_state_of(&format!("{dir}/{seed}.toml"));
        assert!(want.iter().any(|r| r.starts_with("Logical_Router_Static_Route: ")), "{seed}: {want:?}");
        let (kube, _crds) = start_kube();
        let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
        let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
        let _daemon = Daemon::start(&ovn, &config, &[]);
        kube.kubectl(&["apply", "--validate=false", "-f", &format!("{dir}/{seed}.yaml")]).unwrap();
        wait_for(&format!("{seed}: the NB to equal the TOML's"), Duration::from_secs(30), || {
            (nb_state(&ovn) == want).then_some(())
        });
        // The external network is an attachment subnet: Ready, with no switch.
        wait_for(&format!("{seed}: every resource Ready"), Duration::from_secs(15), || {
            let subnets = kubectl_json(&kube, &["get", "subnets", "-o", "json"])?;
            let vpcs = kubectl_json(&kube, &["get", "vpcs", "-o", "json"])?;
            let items: Vec<&Json> = subnets["items"].as_array()?.iter().chain(vpcs["items"].as_array()?).collect();
            (items.len() == 3 && items.iter().all(|o| condition(o, "Ready").is_some_and(|c| c.0 == "True")))
                .then_some(())
        });
        // `plan` with the same config lists the resources too: nothing to change
        // (not every resource-owned row shown as a pending delete).
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
            .args(["plan", "--config"])
            .arg(&config)
            .args(["--db", ovn.nb_unix()])
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{seed}: {text}");
    }
}

#[test]
fn seed_002_applied_with_kubectl_gives_the_toml_state_with_status_finalizers_and_deletes() {
    let want = reference_state();
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "--validate=false", "-f", FIXTURE]).unwrap();
    wait_for("the NB to equal the TOML's", Duration::from_secs(30), || (nb_state(&ovn) == want).then_some(()));

    // Status and finalizer on every resource.
    for (kind, name) in [("vpc", "test-vpc-1"), ("vpc", "test-vpc-2"), ("subnet", "net1"), ("subnet", "net2")] {
        let o = wait_for(&format!("{kind} {name} Ready"), Duration::from_secs(15), || {
            let o = kubectl_json(&kube, &["get", kind, name, "-o", "json"])?;
            (condition(&o, "Ready")?.0 == "True").then_some(o)
        });
        assert_eq!(condition(&o, "Validated").unwrap().0, "True", "{o}");
        assert!(o["metadata"]["finalizers"].as_array().unwrap().iter().any(|f| f == "kubeovn.io/ovn-vpcd"), "{o}");
    }
    // A VPC applied before the subnet holding its next hops waits for it:
    // no Warning Event for that ordering artefact.
    let events = kubectl_json(&kube, &["get", "events", "-n", "default", "-o", "json"]).unwrap();
    assert!(events["items"].as_array().unwrap().is_empty(), "{events}");
    let net1 = kubectl_json(&kube, &["get", "subnet", "net1", "-o", "json"]).unwrap();
    // 254 hosts, less the gateway and the five excluded addresses.
    assert_eq!(net1["status"]["v4availableIPs"].as_f64(), Some(248.0), "{net1}");

    // An invalid resource: refused on its status with an Event; nothing else moves.
    let bad = ovn.dir().join("bad.yaml");
    std::fs::write(
        &bad,
        "kind: Subnet\napiVersion: kubeovn.io/v1\nmetadata:\n  name: bad\nspec:\n  vpc: test-vpc-2\n  cidrBlock: 10.9.0.0/24\n  gateway: 10.8.0.1\n",
    )
    .unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", bad.to_str().unwrap()]).unwrap();
    let o = wait_for("bad refused", Duration::from_secs(15), || {
        let o = kubectl_json(&kube, &["get", "subnet", "bad", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "False").then_some(o)
    });
    let msg = o["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Validated").unwrap()
        ["message"]
        .to_string();
    assert!(msg.contains("gateway"), "{msg}");
    let events = kubectl_json(&kube, &["get", "events", "-n", "default", "-o", "json"]).unwrap();
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["involvedObject"]["name"] == "bad" && e["type"] == "Warning"),
        "{events}"
    );
    assert_eq!(nb_state(&ovn), want, "a refused resource disturbs nothing");

    // A name the TOML defines stays the TOML's; the resource is refused.
    let config2 = write_config(ovn.dir(), "k.toml", &kube, "a", "[[vpc]]\nname = \"toml-vpc\"\n");
    assert_eq!(config, config2);
    daemon.signal("HUP");
    let clash = ovn.dir().join("clash.yaml");
    std::fs::write(
        &clash,
        "kind: Vpc\napiVersion: kubeovn.io/v1\nmetadata:\n  name: toml-vpc\nspec:\n  staticRoutes:\n    - cidr: 0.0.0.0/0\n      nextHopIP: 10.0.0.1\n      policy: policyDst\n",
    )
    .unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", clash.to_str().unwrap()]).unwrap();
    let o = wait_for("clash refused", Duration::from_secs(15), || {
        let o = kubectl_json(&kube, &["get", "vpc", "toml-vpc", "-o", "json"])?;
        (condition(&o, "Validated")?.0 == "False").then_some(o)
    });
    assert!(o.to_string().contains("also defined in the TOML"), "{o}");
    assert!(
        ovn.nbctl(&["lr-route-list", "toml-vpc"]).unwrap().trim().is_empty(),
        "the TOML's spec (no routes) is in force"
    );

    // Deleted while running: rows go, then the finalizer, then the object.
    kube.kubectl(&["delete", "subnet", "net2", "--timeout=20s"]).unwrap();
    assert!(ovn.nbctl(&["--bare", "--columns=name", "find", "Logical_Switch", "name=net2"]).unwrap().trim().is_empty());
    assert!(kube.kubectl(&["get", "subnet", "net2"]).is_err(), "the resource is gone");

    // Deleted while the daemon is down: gone once it is back.
    drop(daemon);
    kube.kubectl(&["delete", "subnet", "net1", "--wait=false"]).unwrap();
    let o = kubectl_json(&kube, &["get", "subnet", "net1", "-o", "json"]).unwrap();
    assert!(o["metadata"]["deletionTimestamp"].is_string(), "held by our finalizer: {o}");
    assert!(!ovn
        .nbctl(&["--bare", "--columns=name", "find", "Logical_Switch", "name=net1"])
        .unwrap()
        .trim()
        .is_empty());
    let _daemon = Daemon::start(&ovn, &config, &[]);
    wait_for("net1's rows and resource gone", Duration::from_secs(20), || {
        let rows = ovn.nbctl(&["--bare", "--columns=name", "find", "Logical_Switch", "name=net1"]).ok()?;
        (rows.trim().is_empty() && kube.kubectl(&["get", "subnet", "net1"]).is_err()).then_some(())
    });
    assert!(!ovn.nbctl(&["--bare", "--columns=name", "find", "Logical_Router", "name=test-vpc-1"]).unwrap().is_empty());
}

#[test]
fn two_daemons_elect_one_leader_and_the_other_takes_over_when_it_is_killed() {
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let a = Daemon::start(&ovn, &write_config(ovn.dir(), "a.toml", &kube, "a", ""), &[]);
    let b = Daemon::start(&ovn, &write_config(ovn.dir(), "b.toml", &kube, "b", ""), &[]);
    let (addr_a, addr_b) = (a.address(), b.address());
    let ready = |addr: &str| http_get(addr, "/readyz").0 == 200;
    wait_for("one ready", Duration::from_secs(15), || (ready(&addr_a) || ready(&addr_b)).then_some(()));
    let (leader, standby, leader_addr, standby_addr) =
        if ready(&addr_a) { (a, b, addr_a, addr_b) } else { (b, a, addr_b, addr_a) };
    // Only one leads, for a while longer than the lease.
    for _ in 0..20 {
        let (code, body) = http_get(&standby_addr, "/readyz");
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("standby"), "{body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    kube.kubectl(&["apply", "--validate=false", "-f", FIXTURE]).unwrap();
    wait_for("the leader converges", Duration::from_secs(20), || {
        ovn.nbctl(&["lr-route-list", "test-vpc-1"]).ok().filter(|r| r.contains("10.0.1.254")).map(drop)
    });
    // The metrics say who leads and what the leader sees.
    let metrics = wait_for("the leader's metrics", Duration::from_secs(10), || {
        let m = http_get(&leader_addr, "/metrics").1;
        m.contains("ovn_vpcd_resources{kind=\"Subnet\"} 2").then_some(m)
    });
    assert!(
        metrics.contains("ovn_vpcd_leader 1") && metrics.contains("ovn_vpcd_resources{kind=\"Vpc\"} 2"),
        "{metrics}"
    );
    assert!(http_get(&standby_addr, "/metrics").1.contains("ovn_vpcd_leader 0"));
    // SIGKILL: no release; the other waits out the 3 s lease, then leads.
    let mut leader = leader;
    leader.child.kill().unwrap();
    leader.child.wait().unwrap();
    let killed = tokio::time::Instant::now();
    wait_for("takeover", Duration::from_secs(10), || ready(&standby_addr).then_some(()));
    let took = killed.elapsed();
    assert!(took >= Duration::from_millis(1500) && took <= Duration::from_secs(6), "took over after {took:?}");
    // The new leader reconciles: a deleted route comes back (ovn-nbctl
    // returns once the delete is committed, so any route seen after it is a
    // new row), under the same uuid: derived from its id (`nb::row_uuid`).
    let uuid =
        ovn.nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Router_Static_Route", "nexthop=10.0.1.254"]).unwrap();
    ovn.nbctl(&["lr-route-del", "test-vpc-1", "0.0.0.0/0"]).unwrap();
    wait_for("the new leader restores the route", Duration::from_secs(10), || {
        let now = ovn
            .nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Router_Static_Route", "nexthop=10.0.1.254"])
            .ok()?;
        (!now.trim().is_empty()).then_some(now)
    });
    let now =
        ovn.nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Router_Static_Route", "nexthop=10.0.1.254"]).unwrap();
    assert_eq!(now, uuid, "a restored row keeps the uuid derived from its id");
    drop(standby);
}

fn pod_yaml(ns: &str, name: &str, annotations: &[(&str, &str)], host_network: bool) -> String {
    let mut y = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n");
    if !annotations.is_empty() {
        y.push_str("  annotations:\n");
        for (k, v) in annotations {
            y.push_str(&format!("    {k}: \"{v}\"\n"));
        }
    }
    y.push_str("spec:\n  containers:\n    - name: c\n      image: busybox\n");
    if host_network {
        y.push_str("  hostNetwork: true\n");
    }
    y
}

/// The LSP `addresses` of a pod's port ("mac ip"), once it exists.
fn port_address(ovn: &Ovn, port: &str) -> Option<String> {
    let out =
        ovn.nbctl(&["--bare", "--columns=addresses", "find", "Logical_Switch_Port", &format!("name={port}")]).ok()?;
    Some(out.trim().to_string()).filter(|s| !s.is_empty())
}

#[test]
fn pods_get_ports_addresses_and_annotations_and_ipam_survives_a_restart() {
    let (kube, _crds) = start_kube();
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = write_config(ovn.dir(), "k.toml", &kube, "a", "");
    let daemon = Daemon::start(&ovn, &config, &[]);
    kube.kubectl(&["apply", "--validate=false", "-f", FIXTURE]).unwrap();
    kube.kubectl(&["create", "namespace", "ns1"]).unwrap();
    // vpc1-pod first, so that it holds net1's lowest address.
    let file = ovn.dir().join("pods.yaml");
    std::fs::write(&file, pod_yaml("default", "vpc1-pod", &[("ovn.kubernetes.io/logical_switch", "net1")], false))
        .unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", file.to_str().unwrap()]).unwrap();
    let first = wait_for("port vpc1-pod.default", Duration::from_secs(20), || port_address(&ovn, "vpc1-pod.default"));
    assert!(first.ends_with(" 10.0.1.2"), "{first}");
    let pods = [
        pod_yaml("ns1", "web", &[], false),
        pod_yaml("ns1", "fixed", &[("ovn.kubernetes.io/ip_address", "10.0.1.100")], false),
        pod_yaml("ns1", "host", &[], true),
        pod_yaml("default", "vpc1-pod", &[("ovn.kubernetes.io/logical_switch", "net1")], false),
        pod_yaml("default", "vpc2-pod", &[("ovn.kubernetes.io/logical_switch", "net2")], false),
        pod_yaml("default", "elsewhere", &[], false),
        // Asks for fixed's address: no port, and a Warning Event saying why.
        pod_yaml("ns1", "zdup", &[("ovn.kubernetes.io/ip_address", "10.0.1.100")], false),
    ];
    std::fs::write(&file, pods.join("---\n")).unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", file.to_str().unwrap()]).unwrap();
    let ports = ["web.ns1", "fixed.ns1", "vpc1-pod.default", "vpc2-pod.default"];
    let addrs: Vec<String> = ports
        .iter()
        .map(|p| wait_for(&format!("port {p}"), Duration::from_secs(20), || port_address(&ovn, p)))
        .collect();
    assert!(addrs[1].ends_with(" 10.0.1.100"), "the requested address: {addrs:?}");
    // net1 and net2 overlap (one per VPC): each has its own address space.
    assert!(addrs[3].ends_with(" 10.0.1.2"), "{addrs:?}");
    let net1: Vec<&str> = [&addrs[0], &addrs[1], &addrs[2]].iter().map(|a| a.rsplit(' ').next().unwrap()).collect();
    assert_eq!(net1.len(), net1.iter().collect::<std::collections::BTreeSet<_>>().len(), "distinct: {net1:?}");
    assert!(port_address(&ovn, "host.ns1").is_none() && port_address(&ovn, "elsewhere.default").is_none());
    assert!(port_address(&ovn, "zdup.ns1").is_none());
    // net2 has DHCP: its pod's port points at net2's DHCP_Options, as Kube-OVN's.
    let col = |port: &str, c: &str| {
        ovn.nbctl(&["--bare", &format!("--columns={c}"), "find", "Logical_Switch_Port", &format!("name={port}")])
            .unwrap()
            .trim()
            .to_string()
    };
    let dhcp = ovn.nbctl(&["--bare", "--columns=_uuid", "find", "DHCP_Options", "cidr=\"10.0.1.0/24\""]).unwrap();
    assert_eq!(col("vpc2-pod.default", "dhcpv4_options"), dhcp.trim(), "net2's options");
    assert_eq!(col("web.ns1", "dhcpv4_options"), "", "net1 has no DHCP");
    let event = wait_for("zdup's Event", Duration::from_secs(15), || {
        let events = kubectl_json(&kube, &["get", "events", "-n", "ns1", "-o", "json"])?;
        events["items"].as_array()?.iter().find(|e| e["involvedObject"]["name"] == "zdup").cloned()
    });
    assert_eq!(event["reason"], "AddressNotAllocated", "{event}");
    assert_eq!(event["involvedObject"]["kind"], "Pod", "{event}");
    let message = event["message"].as_str().unwrap();
    assert!(message.contains("10.0.1.100") && message.contains("ns1/fixed"), "{message}");
    let ls = ovn.nbctl(&["--bare", "--columns=ports", "find", "Logical_Switch", "name=net1"]).unwrap();
    assert_eq!(ls.split_whitespace().count(), 4, "the router port and three pods: {ls}");

    // The annotations Kube-OVN's CNI reads.
    let web = wait_for("web annotated", Duration::from_secs(15), || {
        let o = kubectl_json(&kube, &["get", "pod", "web", "-n", "ns1", "-o", "json"])?;
        (o["metadata"]["annotations"]["ovn.kubernetes.io/routed"] == "true").then_some(o)
    });
    let a = &web["metadata"]["annotations"];
    let (mac, ip) = addrs[0].split_once(' ').unwrap();
    assert_eq!(a["ovn.kubernetes.io/allocated"], "true", "{a}");
    assert_eq!(a["ovn.kubernetes.io/ip_address"], ip, "{a}");
    assert_eq!(a["ovn.kubernetes.io/mac_address"], mac, "{a}");
    assert_eq!(a["ovn.kubernetes.io/logical_switch"], "net1", "{a}");
    assert_eq!(a["ovn.kubernetes.io/cidr"], "10.0.1.0/24", "{a}");
    assert_eq!(a["ovn.kubernetes.io/gateway"], "10.0.1.1", "{a}");
    assert_eq!(a["ovn.kubernetes.io/logical_router"], "test-vpc-1", "{a}");
    wait_for("net1 counts 3 used", Duration::from_secs(15), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net1", "-o", "json"])?;
        (o["status"]["v4usingIPs"].as_f64() == Some(3.0)).then_some(())
    });

    // A deleted pod's port goes and its address is released.
    kube.kubectl(&["delete", "pod", "web", "-n", "ns1"]).unwrap();
    wait_for("web's port gone", Duration::from_secs(15), || port_address(&ovn, "web.ns1").is_none().then_some(()));
    wait_for("net1 counts 2 used", Duration::from_secs(15), || {
        let o = kubectl_json(&kube, &["get", "subnet", "net1", "-o", "json"])?;
        (o["status"]["v4usingIPs"].as_f64() == Some(2.0)).then_some(())
    });

    // Restarted, the daemon rebuilds its IPAM before allocating: ports keep
    // their addresses, and a new pod that sorts first ("default/aaa") gets
    // the lowest free address (web's), not 10.0.1.2, which vpc1-pod holds.
    drop(daemon);
    std::fs::write(&file, pod_yaml("default", "aaa", &[("ovn.kubernetes.io/logical_switch", "net1")], false)).unwrap();
    kube.kubectl(&["apply", "--validate=false", "-f", file.to_str().unwrap()]).unwrap();
    let _daemon = Daemon::start(&ovn, &config, &[]);
    let aaa = wait_for("port aaa.default", Duration::from_secs(20), || port_address(&ovn, "aaa.default"));
    assert_eq!(aaa.rsplit(' ').next(), Some(ip), "web's released address is reused: {aaa} {addrs:?}");
    for (p, a) in ports.iter().zip(&addrs).skip(1) {
        assert_eq!(port_address(&ovn, p).as_ref(), Some(a), "{p} kept its address");
    }
}
