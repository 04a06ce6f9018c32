//! The VPC core end to end: TOML → `ovn-vpcd plan/apply` → real OVN,
//! verified with ovn-nbctl.

mod common;
use common::bed::Bed;

const SEED_002: &str = include_str!("../config/ovn-vpcd.toml");

const VPC1_ROUTES: &str =
    "IPv4 Routes\nRoute Table <main>:\n172.31.0.0/24 10.0.1.253 src-ip\n0.0.0.0/0 10.0.1.254 dst-ip";
const VPC1_POLICIES: &str = "Routing Policies\n31000 ip4.dst == 10.0.1.0/24 allow\n11 ip4.src==10.0.1.0/24 && ip4.dst==10.0.1.250 drop\n10 ip4.src==10.0.1.0/24 reroute 10.0.1.252";

#[test]
fn seed_002_converges_and_a_second_apply_changes_nothing() {
    let bed = Bed::new();
    bed.write(SEED_002);
    assert_eq!(bed.plan_code(), 2, "changes pending before the first apply");
    bed.apply_ok();
    assert_eq!(bed.nbctl(&["lr-route-list", "test-vpc-1"]), VPC1_ROUTES);
    assert_eq!(bed.nbctl(&["lr-policy-list", "test-vpc-1"]), VPC1_POLICIES);
    assert_eq!(bed.nbctl(&["lr-route-list", "test-vpc-2"]), "");
    // Both VPCs carry 10.0.1.0/24, each on its own router port.
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "test-vpc-1-net1", "networks"]), "[\"10.0.1.1/24\"]");
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "test-vpc-2-net2", "networks"]), "[\"10.0.1.1/24\"]");
    assert_eq!(bed.nbctl(&["lsp-get-type", "net1-test-vpc-1"]), "router");
    assert_eq!(bed.nbctl(&["lsp-get-options", "net1-test-vpc-1"]), "router-port=test-vpc-1-net1");
    assert_eq!(
        bed.nbctl(&["get", "Logical_Switch", "net1", "other_config:exclude_ips"]),
        "\"10.0.1.1 10.0.1.250..10.0.1.254\""
    );
    assert_eq!(bed.nbctl(&["get", "Logical_Router", "test-vpc-1", "external_ids:vendor"]), "ovn-vpcd");
    let dhcp = bed.nbctl(&["dhcp-options-list"]);
    assert_eq!(dhcp.lines().count(), 1, "DHCP only where enableDHCP: {dhcp}");
    assert_eq!(bed.plan_code(), 0, "plan after apply must show nothing");
    let out = bed.vpcd("apply");
    assert!(String::from_utf8_lossy(&out.stderr).contains("converged: 0 changes"), "{out:?}");
}

#[test]
fn removed_routes_and_objects_go_while_hand_made_rows_survive() {
    let bed = Bed::new();
    bed.write(SEED_002);
    bed.apply_ok();
    bed.ovn.nbctl(&["lr-route-add", "test-vpc-1", "192.168.100.0/24", "10.0.1.99"]).unwrap();
    bed.ovn.nbctl(&["lr-policy-add", "test-vpc-1", "500", "ip4.dst==1.1.1.1", "allow"]).unwrap();
    bed.ovn.nbctl(&["lr-add", "not-ours"]).unwrap();
    // The src route, the second VPC and its subnet are gone from the config.
    let cut = r#"
[[vpc]]
name = "test-vpc-1"
staticRoutes = [{ cidr = "0.0.0.0/0", nextHopIP = "10.0.1.254" }]
policyRoutes = [
  { priority = 11, match = "ip4.src==10.0.1.0/24 && ip4.dst==10.0.1.250", action = "drop" },
  { priority = 10, match = "ip4.src==10.0.1.0/24", action = "reroute", nextHopIP = "10.0.1.252" },
]
[[subnet]]
name = "net1"
vpc = "test-vpc-1"
cidrBlock = "10.0.1.0/24"
excludeIps = ["10.0.1.250..10.0.1.254"]
"#;
    bed.write(cut);
    bed.apply_ok();
    assert_eq!(
        bed.nbctl(&["lr-route-list", "test-vpc-1"]),
        "IPv4 Routes\nRoute Table <main>:\n192.168.100.0/24 10.0.1.99 dst-ip\n0.0.0.0/0 10.0.1.254 dst-ip"
    );
    assert!(bed.nbctl(&["lr-policy-list", "test-vpc-1"]).contains("500 ip4.dst==1.1.1.1 allow"));
    let routers = bed.nbctl(&["--bare", "--columns=name", "list", "Logical_Router"]);
    let mut routers: Vec<&str> = routers.lines().filter(|l| !l.is_empty()).collect();
    routers.sort();
    assert_eq!(routers, vec!["not-ours", "test-vpc-1"]);
    assert_eq!(bed.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch"]), "net1");
    assert_eq!(bed.nbctl(&["dhcp-options-list"]), "", "net2's DHCP options went with it");
    assert_eq!(bed.plan_code(), 0);
}

#[test]
fn a_bad_subnet_is_refused_alone_and_its_rows_are_left_alone() {
    let bed = Bed::new();
    bed.write(SEED_002);
    bed.apply_ok();
    // net2 turns invalid; a new valid subnet is added beside it.
    let bad = SEED_002.replace(
        "cidrBlock = \"10.0.1.0/24\"\nenableDHCP",
        "cidrBlock = \"10.0.1.0/24\"\ngateway = \"10.9.9.9\"\nenableDHCP",
    ) + "\n[[subnet]]\nname = \"net3\"\nvpc = \"test-vpc-1\"\ncidrBlock = \"10.0.3.0/24\"\n";
    bed.write(&bad);
    let out = bed.vpcd("apply");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused: Subnet \"net2\": gateway: 10.9.9.9 is not a host address of 10.0.1.0/24"), "{err}");
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "test-vpc-1-net3", "networks"]), "[\"10.0.3.1/24\"]");
    // The refused subnet's existing rows stay exactly as they were.
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "test-vpc-2-net2", "networks"]), "[\"10.0.1.1/24\"]");
    assert_eq!(bed.nbctl(&["dhcp-options-list"]).lines().count(), 1);
    assert_eq!(bed.plan_code(), 1, "plan reports the refusal as an error");
}

#[test]
fn drift_on_owned_rows_is_shown_and_reverted() {
    let bed = Bed::new();
    bed.write(SEED_002);
    bed.apply_ok();
    bed.ovn.nbctl(&["set", "Logical_Router_Port", "test-vpc-1-net1", "networks=\"10.0.1.77/24\""]).unwrap();
    bed.ovn.nbctl(&["lr-route-del", "test-vpc-1", "0.0.0.0/0"]).unwrap();
    let out = bed.vpcd("plan");
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("~ lrp:test-vpc-1-net1 networks: \"10.0.1.77/24\" -> \"10.0.1.1/24\""), "{text}");
    assert!(text.contains("+ route:test-vpc-1::dst-ip:0.0.0.0/0:10.0.1.254"), "{text}");
    bed.apply_ok();
    assert_eq!(bed.nbctl(&["lr-route-list", "test-vpc-1"]), VPC1_ROUTES);
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "test-vpc-1-net1", "networks"]), "[\"10.0.1.1/24\"]");
}

#[test]
fn config_errors_name_file_line_and_field_and_write_nothing() {
    let bed = Bed::new();
    bed.write("[[vpc]]\nname = \"a\"\nstaticRoutes = [{ cidr = \"0.0.0.0/0\", nexthop = \"10.0.0.1\" }]\n");
    let out = bed.vpcd("apply");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", bed.config.display())) && err.contains("unknown field `nexthop`"), "{err}");
    assert_eq!(bed.nbctl(&["lr-list"]), "");
}

#[test]
fn ecmp_routes_dual_stack_dhcp_and_ipv6_ra() {
    let bed = Bed::new();
    bed.write(
        r#"
[[vpc]]
name = "v6"
staticRoutes = [
  { cidr = "0.0.0.0/0", nextHopIP = "10.0.1.2" },
  { cidr = "0.0.0.0/0", nextHopIP = "10.0.1.3" },
  { cidr = "::/0", nextHopIP = "fd00:10::2" },
]
[[subnet]]
name = "dual"
vpc = "v6"
cidrBlock = "10.0.1.0/24,fd00:10::/120"
enableDHCP = true
enableIPv6RA = true
"#,
    );
    bed.apply_ok();
    let routes = bed.nbctl(&["lr-route-list", "v6"]);
    assert!(
        routes.contains("0.0.0.0/0 10.0.1.2 dst-ip ecmp") && routes.contains("0.0.0.0/0 10.0.1.3 dst-ip ecmp"),
        "{routes}"
    );
    assert!(routes.contains("::/0 fd00:10::2 dst-ip"), "{routes}");
    assert_eq!(
        bed.nbctl(&["get", "Logical_Router_Port", "v6-dual", "networks"]),
        "[\"10.0.1.1/24\", \"fd00:10::1/120\"]"
    );
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "v6-dual", "ipv6_prefix"]), "[\"120\"]");
    assert_eq!(
        bed.nbctl(&["get", "Logical_Router_Port", "v6-dual", "ipv6_ra_configs:address_mode"]),
        "dhcpv6_stateful"
    );
    let dhcp = bed.nbctl(&["dhcp-options-list"]);
    assert_eq!(dhcp.lines().count(), 2, "{dhcp}");
    // Turning RA off clears what it set.
    let text = std::fs::read_to_string(&bed.config).unwrap().replace("enableIPv6RA = true", "enableIPv6RA = false");
    bed.write(&text);
    bed.apply_ok();
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "v6-dual", "ipv6_prefix"]), "[]");
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "v6-dual", "ipv6_ra_configs"]), "{}");
    let policies = bed.nbctl(&["lr-policy-list", "v6"]);
    assert!(
        policies.contains("31000 ip4.dst == 10.0.1.0/24 allow")
            && policies.contains("31000 ip6.dst == fd00:10::/120 allow"),
        "{policies}"
    );
    assert_eq!(bed.plan_code(), 0);
}

#[test]
fn a_name_taken_by_a_foreign_row_fails_only_its_owner() {
    let bed = Bed::new();
    // Someone else's router port already has the name net1's port would get.
    bed.ovn
        .nbctl(&[
            "lr-add",
            "theirs",
            "--",
            "lrp-add",
            "theirs",
            "test-vpc-1-net1",
            "00:00:00:00:00:99",
            "192.168.0.1/24",
        ])
        .unwrap();
    bed.write(SEED_002);
    let out = bed.vpcd("apply");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // Refused before any transaction, naming the row (the NB's own refusal,
    // applied object by object, remains the fallback for a race).
    assert!(
        err.contains("refused: Subnet \"net1\": name: its router port \"test-vpc-1-net1\"")
            && err.contains("already taken in the NB by a row ovn-vpcd does not own"),
        "{err}"
    );
    // Everything else converged; the foreign port is untouched.
    assert_eq!(bed.nbctl(&["lr-route-list", "test-vpc-1"]), VPC1_ROUTES);
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "test-vpc-2-net2", "networks"]), "[\"10.0.1.1/24\"]");
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "test-vpc-1-net1", "networks"]), "[\"192.168.0.1/24\"]");
    assert_eq!(
        bed.nbctl(&["--bare", "--columns=name", "find", "Logical_Switch", "name=net1"]),
        "",
        "net1 not half-applied"
    );
}
