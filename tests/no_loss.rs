//! Nothing lost, whatever the input (issue 9): each hostile input found by
//! hand is refused alone, with its reason, and costs no tenant a working
//! row. Real OVN, `ovn-vpcd plan/apply`, checked with ovn-nbctl.

use std::process::Command;

mod common;
use common::bed::{Bed, ONE_TENANT};

const COLLIDING: &str = r#"
[[vpc]]
name = "vb-vb"
[[subnet]]
name = "net"
vpc = "vb-vb"
cidrBlock = "10.0.5.0/24"
"#;

/// 9.1: VPC `vb` + subnet `vb-net` and VPC `vb-vb` + subnet `net` both derive
/// router port `vb-vb-net`: the first tenant keeps it, the second is refused
/// naming both, and applying again changes nothing (no flip-flop).
#[test]
fn a_derived_name_collision_refuses_the_newcomer_and_leaves_the_first_tenant_alone() {
    let bed = Bed::new();
    bed.write(ONE_TENANT);
    bed.apply_ok();
    let before = bed.rows();
    bed.write(&format!("{COLLIDING}{ONE_TENANT}"));
    for _ in 0..2 {
        let err = bed.apply_refused();
        assert!(
            err.contains(
                "refused: Subnet \"net\": name: its router port \"vb-vb-net\" (VPC \"vb-vb\" + subnet \"net\")"
            ) && err.contains("Subnet vb-net (VPC \"vb\" + subnet \"vb-net\"), which holds it in the NB"),
            "{err}"
        );
        assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "vb-vb-net", "networks"]), "[\"10.0.4.1/24\"]");
        assert_eq!(
            bed.nbctl(&["get", "Logical_Router_Port", "vb-vb-net", "external_ids:ovn-vpcd/owner"]),
            "\"Subnet/vb-net\""
        );
    }
    // The newcomer's router exists (its VPC is valid); nothing of the first moved.
    let after = bed.rows();
    assert!(before.iter().all(|r| after.contains(r)), "{before:?}\n{after:?}");
    assert_eq!(bed.vpcd("plan").status.code(), Some(1), "plan shows the refusal too");
}

/// 9.2: a policy with the automatic allow policy's priority and match.
#[test]
fn a_policy_taking_the_automatic_policys_place_is_refused() {
    let bed = Bed::new();
    bed.write(ONE_TENANT);
    bed.apply_ok();
    bed.write(&ONE_TENANT.replace(
        "name = \"vb\"\n",
        "name = \"vb\"\npolicyRoutes = [{ priority = 31000, match = \"ip4.dst == 10.0.4.0/24\", action = \"drop\" }]\n",
    ));
    let err = bed.apply_refused();
    assert!(err.contains("policyRoutes[0]: priority 31000 with match \"ip4.dst == 10.0.4.0/24\" is the automatic allow policy of subnet \"vb-net\""), "{err}");
    assert_eq!(bed.nbctl(&["lr-policy-list", "vb"]).lines().last().unwrap().split_whitespace().last(), Some("allow"));
    assert_eq!(bed.nbctl(&["lr-policy-list", "vb"]).lines().count(), 2, "one policy, no drop beside it");
}

/// 9.7 and 9.8: a router named like a tenant's but not ovn-vpcd's, made by
/// hand or stripped of its vendor tag: refused with the row named, converged.
#[test]
fn a_foreign_router_with_a_tenants_name_is_refused_not_duplicated() {
    let bed = Bed::new();
    bed.nbctl(&["lr-add", "vb"]);
    bed.write(ONE_TENANT);
    let err = bed.apply_refused();
    assert!(err.contains("refused: Vpc \"vb\": name: its router \"vb\" (VPC \"vb\") is already taken in the NB by a row ovn-vpcd does not own"), "{err}");
    assert!(err.contains("refused: Subnet \"vb-net\": vpc: VPC \"vb\" is refused"), "{err}");
    assert_eq!(bed.nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Router", "name=vb"]).lines().count(), 1);
    assert_eq!(bed.nbctl(&["lr-route-list", "vb"]), "", "ovn-nbctl finds exactly one router vb");

    let bed = Bed::new();
    bed.write(ONE_TENANT);
    bed.apply_ok();
    let uuid = bed.nbctl(&["get", "Logical_Router", "vb", "_uuid"]);
    bed.nbctl(&["remove", "Logical_Router", "vb", "external_ids", "vendor"]);
    let started = tokio::time::Instant::now();
    let err = bed.apply_refused();
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "converged at once: {err}");
    assert!(
        err.contains("it carries ovn-vpcd/owner=Vpc/vb but no vendor=ovn-vpcd: set external_ids:vendor=ovn-vpcd"),
        "{err}"
    );
    assert_eq!(bed.nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Router", "name=vb"]), uuid, "not duplicated");
    // Handing it back: converged, the same row.
    bed.nbctl(&["set", "Logical_Router", "vb", "external_ids:vendor=ovn-vpcd"]);
    bed.apply_ok();
    assert_eq!(bed.nbctl(&["get", "Logical_Router", "vb", "_uuid"]), uuid);
    assert_eq!(bed.vpcd("plan").status.code(), Some(0));
}

/// 9.6: a provider typo, and an attachment provider on a switch with pods.
#[test]
fn a_provider_change_never_deletes_a_working_switch() {
    let bed = Bed::new();
    bed.write(ONE_TENANT);
    bed.apply_ok();
    let before = bed.rows();
    bed.write(&ONE_TENANT.replace("cidrBlock", "provider = \"OVN\"\ncidrBlock"));
    let err = bed.apply_refused();
    assert!(
        err.contains("provider: \"OVN\" is neither \"ovn\" nor \"<nad>.<namespace>\"")
            && err.contains("did you mean \"ovn\"?"),
        "{err}"
    );
    assert_eq!(bed.rows(), before);
    // A port someone plugged into the switch (a pod's): the switch stays a switch.
    bed.nbctl(&["lsp-add", "vb-net", "pod1.default"]);
    let before = bed.rows();
    bed.write(&ONE_TENANT.replace("cidrBlock", "provider = \"macvlan.default\"\ncidrBlock"));
    let err = bed.apply_refused();
    assert!(
        err.contains(
            "would make this an attachment network and delete switch \"vb-net\", which still has 1 pod port(s)"
        ),
        "{err}"
    );
    assert_eq!(bed.rows(), before);
}

/// 9.5 and 9.10: a bad subnet refuses only itself; route values are written
/// as validated, host bits refused.
#[test]
fn a_bad_subnet_leaves_its_vpc_and_routes_are_written_as_checked() {
    let bed = Bed::new();
    let seed = include_str!("../config/ovn-vpcd.toml");
    bed.write(seed);
    bed.apply_ok();
    let before = bed.rows();
    let routes = bed.nbctl(&["lr-route-list", "test-vpc-1"]);
    bed.write(&seed.replace(
        "cidrBlock = \"10.0.1.0/24\"\nexcludeIps",
        "cidrBlock = \"10.0.1.0/24\"\ngateway = \"10.0.7.1\"\nexcludeIps",
    ));
    let err = bed.apply_refused();
    let refusals: Vec<&str> = err.lines().filter(|l| l.starts_with("refused:")).collect();
    assert_eq!(refusals, ["refused: Subnet \"net1\": gateway: 10.0.7.1 is not a host address of 10.0.1.0/24"], "{err}");
    assert_eq!(bed.rows(), before);
    assert_eq!(bed.nbctl(&["lr-route-list", "test-vpc-1"]), routes, "the VPC's routes stay");

    bed.write(&seed.replace(
        "{ cidr = \"172.31.0.0/24\", nextHopIP = \"10.0.1.253\"",
        "{ cidr = \" 172.31.0.0/24 \", nextHopIP = \" 10.0.1.253 \"",
    ));
    bed.apply_ok();
    assert_eq!(bed.nbctl(&["lr-route-list", "test-vpc-1"]), routes, "trimmed: the same routes");
    assert_eq!(bed.vpcd("plan").status.code(), Some(0));
    bed.write(&seed.replace("cidr = \"172.31.0.0/24\"", "cidr = \"172.31.0.9/24\""));
    let err = bed.apply_refused();
    assert!(
        err.contains("staticRoutes[1].cidr: \"172.31.0.9/24\" has host bits set; did you mean 172.31.0.0/24?"),
        "{err}"
    );
    assert_eq!(bed.nbctl(&["lr-route-list", "test-vpc-1"]), routes);
}

/// 9.15: an error says each thing once.
#[test]
fn errors_say_each_thing_once() {
    let bed = Bed::new();
    bed.write("[ovn]\nnb_db = \"foo:bar\"\n");
    let out =
        Command::new(env!("CARGO_BIN_EXE_ovn-vpcd")).args(["plan", "--config"]).arg(&bed.config).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("expected tcp:IP:PORT").count(), 1, "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
        .args(["plan", "--timeout", "1", "--db", "unix:/nonexistent/nb.sock", "--config"])
        .arg(&bed.config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or("");
    assert_eq!(last.matches("unix:/nonexistent/nb.sock").count(), 1, "{last}");
}

/// 9.12 and 9.15: bad values are refused with a message that says what is
/// wrong and names the refused object; nothing of them reaches the NB, and the
/// valid tenant converges beside them. The overlap refuses the newcomer, not
/// the subnet already in the NB.
#[test]
fn bad_values_never_reach_the_nb_and_each_refusal_says_why() {
    let bed = Bed::new();
    bed.write(ONE_TENANT);
    bed.apply_ok();
    let long = "n".repeat(254);
    let bad = format!(
        r#"{ONE_TENANT}
[[subnet]]
name = "mcast"
vpc = "vb"
cidrBlock = "224.1.0.0/24"
[[subnet]]
name = "tiny"
vpc = "vb"
cidrBlock = "10.0.9.7/32"
[[subnet]]
name = "dhcp-bad"
vpc = "vb"
cidrBlock = "10.0.6.0/24"
enableDHCP = true
dhcpV4Options = "lease_time=forever"
[[subnet]]
name = "{long}"
vpc = "vb"
cidrBlock = "10.0.7.0/24"
[[subnet]]
name = "aa-first-by-name"
vpc = "vb"
cidrBlock = "10.0.4.0/23"
[[vpc]]
name = "hop-is-gateway"
staticRoutes = [{{ cidr = "0.0.0.0/0", nextHopIP = "10.0.8.1" }}]
[[vpc]]
name = "cidr-typo"
staticRoutes = [{{ cidr = "10.0.0.0/", nextHopIP = "10.0.8.2" }}]
[[subnet]]
name = "hop-net"
vpc = "hop-is-gateway"
cidrBlock = "10.0.8.0/24"
"#
    );
    bed.write(&bad);
    let err = bed.apply_refused();
    for want in [
        "Subnet \"mcast\": cidrBlock: 224.1.0.0/24 overlaps multicast (224.0.0.0/4)",
        "Subnet \"tiny\": cidrBlock: 10.0.9.7/32 is too small",
        "Subnet \"dhcp-bad\": dhcpV4Options: lease_time=\"forever\" is not an integer",
        "name: is 254 characters long; at most 253",
        "Subnet \"aa-first-by-name\": cidrBlock: overlaps subnet \"vb-net\" in VPC \"vb\"",
        "Vpc \"hop-is-gateway\": staticRoutes[0].nextHopIP: 10.0.8.1 is the VPC router's own address",
        "Vpc \"cidr-typo\": staticRoutes[0].cidr: \"10.0.0.0/\" is not a CIDR",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // And hop-net waits for its refused VPC: eight in all, nothing else.
    assert_eq!(err.lines().filter(|l| l.starts_with("refused:")).count(), 8, "and nothing else refused:\n{err}");
    let switches = bed.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch"]);
    let mut switches: Vec<&str> = switches.lines().filter(|l| !l.is_empty()).collect();
    switches.sort();
    assert_eq!(switches, ["vb-net"], "no refused subnet has a switch");
    assert_eq!(bed.nbctl(&["--bare", "--columns=name", "find", "Logical_Router", "name=hop-is-gateway"]), "");
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "vb-vb-net", "networks"]), "[\"10.0.4.1/24\"]");
}
