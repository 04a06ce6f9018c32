//! Defects found by a hostile review of issue 9's fixes: each input here
//! cost a tenant a working row (or gave it another tenant's) on real OVN.
//! `ovn-vpcd plan/apply`, checked with ovn-nbctl.

mod common;
use common::bed::{Bed, ONE_TENANT};

/// Subnet `vb-net` renamed to `vb-net2` in the same edit that adds VPC
/// `vb-vb` + subnet `net`, which derives `vb-net`'s old router port name
/// `vb-vb-net`. The row's id comes from its name, so it was updated in place
/// for the newcomer and stayed on router `vb`: tenant `vb`'s router carried
/// tenant `vb-vb`'s 10.0.5.1/24, `vb-vb`'s router had no port, and the plan
/// said converged.
#[test]
fn a_port_name_handed_over_in_one_edit_moves_to_its_new_owners_router() {
    let bed = Bed::new();
    bed.write(ONE_TENANT);
    bed.apply_ok();
    bed.write(
        r#"
[[vpc]]
name = "vb"
[[subnet]]
name = "vb-net2"
vpc = "vb"
cidrBlock = "10.0.4.0/24"
[[vpc]]
name = "vb-vb"
[[subnet]]
name = "net"
vpc = "vb-vb"
cidrBlock = "10.0.5.0/24"
"#,
    );
    bed.apply_ok();
    assert_eq!(bed.ports("lrp-list", "vb"), ["vb-vb-net2"], "tenant vb has only its own port");
    assert_eq!(bed.ports("lrp-list", "vb-vb"), ["vb-vb-net"], "tenant vb-vb's port is on its router");
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "vb-vb-net", "networks"]), "[\"10.0.5.1/24\"]");
    assert_eq!(bed.vpcd("plan").status.code(), Some(0), "converged");
}

/// The same with a switch port: subnet `vb-net` of VPC `vb` (switch port
/// `vb-net-vb`) renamed while subnet `vb` of VPC `net-vb` takes that name.
#[test]
fn a_switch_port_name_handed_over_in_one_edit_moves_to_its_new_owners_switch() {
    let bed = Bed::new();
    bed.write(ONE_TENANT);
    bed.apply_ok();
    bed.write(
        r#"
[[vpc]]
name = "vb"
[[subnet]]
name = "vb-net2"
vpc = "vb"
cidrBlock = "10.0.4.0/24"
[[vpc]]
name = "net-vb"
[[subnet]]
name = "vb"
vpc = "net-vb"
cidrBlock = "10.0.5.0/24"
"#,
    );
    bed.apply_ok();
    assert_eq!(bed.ports("lsp-list", "vb"), ["vb-net-vb"], "the new subnet's switch has its router port");
    assert_eq!(bed.ports("lsp-list", "vb-net2"), ["vb-net2-vb"]);
    assert_eq!(bed.nbctl(&["get", "Logical_Switch_Port", "vb-net-vb", "options:router-port"]), "net-vb-vb");
    assert_eq!(bed.vpcd("plan").status.code(), Some(0), "converged");
}

/// A router whose `ovn-vpcd/id` tag was removed by hand (its `vendor` and
/// owner kept): the diff knows rows by id only, so it added a second router
/// `vb` beside it and said converged; `ovn-nbctl lr-route-list vb` then
/// failed ("Multiple logical routers named 'vb'"). Now the row is treated as
/// foreign: the VPC is refused naming it, and nothing is added.
#[test]
fn a_router_without_its_id_tag_is_not_doubled() {
    let bed = Bed::new();
    bed.write(ONE_TENANT);
    bed.apply_ok();
    bed.nbctl(&["remove", "Logical_Router", "vb", "external_ids", "ovn-vpcd/id"]);
    let out = bed.vpcd("apply");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refused: Vpc \"vb\": name: its router \"vb\"")
            && err.contains("carries vendor=ovn-vpcd but no ovn-vpcd/id"),
        "{err}"
    );
    assert_eq!(bed.nbctl(&["--bare", "--columns=name", "list", "Logical_Router"]), "vb", "one router vb");
    assert_eq!(bed.ports("lrp-list", "vb"), ["vb-vb-net"], "its port stays");
    assert!(bed.ovn.nbctl(&["lr-route-list", "vb"]).is_ok());
}

/// Subnets `a` (VPC `v1`) and `b` (VPC `v2`) share 10.0.1.0/24, which is
/// fine across VPCs. Moving `a` into `v2` made them overlap, and since both
/// switches were in the NB the tie went by name: established `b` was
/// refused and `a` joined router `v2` beside it, two router ports with
/// 10.0.1.1/24 on one router (and `a` took `b`'s automatic policy, which has
/// the same id). The subnet that moved is the newcomer.
#[test]
fn a_subnet_moved_into_a_vpc_where_it_overlaps_is_refused_not_the_incumbent() {
    let bed = Bed::new();
    let two = r#"
[[vpc]]
name = "v1"
[[vpc]]
name = "v2"
[[subnet]]
name = "a"
vpc = "v1"
cidrBlock = "10.0.1.0/24"
[[subnet]]
name = "b"
vpc = "v2"
cidrBlock = "10.0.1.0/24"
"#;
    bed.write(two);
    bed.apply_ok();
    let policy = bed.nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Router_Policy", "external_ids:subnet=b"]);
    bed.write(&two.replacen("vpc = \"v1\"", "vpc = \"v2\"", 1));
    let out = bed.vpcd("apply");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refused: Subnet \"a\": cidrBlock: overlaps subnet \"b\" in VPC \"v2\""), "{err}");
    assert!(!err.contains("refused: Subnet \"b\""), "{err}");
    assert_eq!(bed.ports("lrp-list", "v2"), ["v2-b"], "router v2 keeps one port for 10.0.1.0/24");
    assert_eq!(bed.ports("lrp-list", "v1"), ["v1-a"], "a keeps its rows where they are");
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Policy", &policy, "external_ids:ovn-vpcd/owner"]), "\"Subnet/b\"");
}

/// Subnet `b` of VPC `v2` refused for a bad excludeIps (its rows kept), and
/// subnet `a` moved into `v2` with the same 10.0.1.0/24: the overlap check
/// saw only valid subnets, so `a` joined router `v2` beside `b`'s kept port
/// (two ports with 10.0.1.1/24) and took over `b`'s automatic policy (same
/// id), although `b`'s rows are to be left as they are.
#[test]
fn a_subnet_overlapping_a_refused_subnets_kept_rows_is_refused() {
    let bed = Bed::new();
    let two = r#"
[[vpc]]
name = "v1"
[[vpc]]
name = "v2"
[[subnet]]
name = "a"
vpc = "v1"
cidrBlock = "10.0.1.0/24"
[[subnet]]
name = "b"
vpc = "v2"
cidrBlock = "10.0.1.0/24"
"#;
    bed.write(two);
    bed.apply_ok();
    let policy = bed.nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Router_Policy", "external_ids:subnet=b"]);
    bed.write(
        r#"
[[vpc]]
name = "v1"
[[vpc]]
name = "v2"
[[subnet]]
name = "a"
vpc = "v2"
cidrBlock = "10.0.1.0/24"
[[subnet]]
name = "b"
vpc = "v2"
cidrBlock = "10.0.1.0/24"
excludeIps = ["10.9.9.9"]
[[subnet]]
name = "z"
vpc = "v2"
cidrBlock = "10.0.2.0/24"
"#,
    );
    let out = bed.vpcd("apply");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "refused: Subnet \"a\": cidrBlock: overlaps subnet \"b\" in VPC \"v2\", which is refused and keeps its rows"
        ),
        "{err}"
    );
    assert_eq!(bed.ports("lrp-list", "v2"), ["v2-b", "v2-z"], "router v2: b's kept port and the valid z");
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Policy", &policy, "external_ids:ovn-vpcd/owner"]), "\"Subnet/b\"");
}

/// Subnet `vb-net` (router port `vb-vb-net`) refused for a bad excludeIps,
/// its rows kept, while VPC `vb-vb` + subnet `net` arrive deriving that same
/// port name: the name looked free (no valid claimant held it), so the
/// newcomer's row of the same id rewrote tenant `vb`'s port with 10.0.5.1/24.
/// A name held by a refused object's kept row is not free.
#[test]
fn a_name_held_by_a_refused_subnets_kept_row_is_not_handed_over() {
    let bed = Bed::new();
    bed.write(ONE_TENANT);
    bed.apply_ok();
    bed.write(&format!(
        "{}\n[[vpc]]\nname = \"vb-vb\"\n[[subnet]]\nname = \"net\"\nvpc = \"vb-vb\"\ncidrBlock = \"10.0.5.0/24\"\n",
        ONE_TENANT.replace("cidrBlock = \"10.0.4.0/24\"", "cidrBlock = \"10.0.4.0/24\"\nexcludeIps = [\"10.9.9.9\"]")
    ));
    let out = bed.vpcd("apply");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refused: Subnet \"net\": name: its router port \"vb-vb-net\" (VPC \"vb-vb\" + subnet \"net\") is held in the NB by Subnet vb-net, which is refused and keeps its rows"),
        "{err}"
    );
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "vb-vb-net", "networks"]), "[\"10.0.4.1/24\"]");
    assert_eq!(bed.ports("lrp-list", "vb"), ["vb-vb-net"]);
    assert_eq!(
        bed.nbctl(&["get", "Logical_Router_Port", "vb-vb-net", "external_ids:ovn-vpcd/owner"]),
        "\"Subnet/vb-net\""
    );
}

/// 9.2 refused a policy with the automatic allow policy's priority and its
/// match as written, blanks aside; other spellings of the same match
/// (braces, a mask, the sides swapped, parentheses) got a second priority
/// 31000 row with the opposite action: one OpenFlow match, two actions, and
/// which one wins is up to ovn-controller.
#[test]
fn the_automatic_policys_match_however_spelled_is_refused_at_its_priority() {
    let bed = Bed::new();
    bed.write(ONE_TENANT);
    bed.apply_ok();
    for m in [
        "ip4.dst == {10.0.4.0/24}",
        "ip4.dst == 10.0.4.0/255.255.255.0",
        "10.0.4.0/24 == ip4.dst",
        "(ip4.dst == 10.0.4.0/24)",
    ] {
        bed.write(&ONE_TENANT.replace(
            "name = \"vb\"\n",
            &format!("name = \"vb\"\npolicyRoutes = [{{ priority = 31000, match = \"{m}\", action = \"drop\" }}]\n"),
        ));
        let out = bed.vpcd("apply");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{m}: {err}");
        assert!(err.contains("is the automatic allow policy of subnet \"vb-net\""), "{m}: {err}");
        assert_eq!(bed.nbctl(&["lr-policy-list", "vb"]).lines().count(), 2, "{m}: one policy, no drop beside it");
    }
}

/// An owned router port moved by hand to another owned router
/// (`ovn-nbctl remove`/`add` of the `ports` columns): the plan compared
/// columns only, said "no changes", and tenant vb's subnet stayed routed by
/// tenant vc's router. It is moved back.
#[test]
fn an_owned_port_moved_by_hand_to_another_router_is_moved_back() {
    let bed = Bed::new();
    bed.write(&format!("{ONE_TENANT}\n[[vpc]]\nname = \"vc\"\n"));
    bed.apply_ok();
    let port = bed.nbctl(&["get", "Logical_Router_Port", "vb-vb-net", "_uuid"]);
    bed.nbctl(&["remove", "Logical_Router", "vb", "ports", &port, "--", "add", "Logical_Router", "vc", "ports", &port]);
    assert_eq!(bed.ports("lrp-list", "vc"), ["vb-vb-net"], "moved by hand");
    assert_eq!(bed.vpcd("plan").status.code(), Some(2), "the plan sees it");
    bed.apply_ok();
    assert_eq!(bed.ports("lrp-list", "vb"), ["vb-vb-net"]);
    assert!(bed.ports("lrp-list", "vc").is_empty());
    assert_eq!(bed.nbctl(&["get", "Logical_Router_Port", "vb-vb-net", "_uuid"]), port, "the same row");
}
