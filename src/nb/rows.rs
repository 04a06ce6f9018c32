//! The vocabulary every kind's NB rows are written in, apart from the
//! per-kind builders (`crate::kinds::<kind>::rows`): the tables ovn-vpcd
//! writes ([`OWNED`], listed once), the `external_ids` tags that mark and
//! identify its rows, a desired row ([`DesiredRow`]) with its parent
//! ([`ParentRef`]) and references ([`RowRef`]), and the row ids and
//! parents one kind's rows use to point at another's (a subnet's port on its
//! VPC's router, a pod's port on its subnet's switch and DHCP options).
//!
//! Invariants kept here:
//! - A row's id comes from its object's name, never from its parent, and
//!   is unique within its table: every id is built by a function of this
//!   module, so a row and the references to it cannot spell it apart.
//! - A row is ovn-vpcd's only with `vendor=ovn-vpcd`, and it names its owner
//!   by [`ObjectKey::owner_tag`] and its id under [`ID_KEY`] ([`ext`] writes
//!   all three); the diff considers no other row.

use crate::model::object::ObjectKey;
use crate::ovsdb::{Atom, Row, Value};

/// `external_ids` keys that mark and identify the rows ovn-vpcd owns.
pub const VENDOR_KEY: &str = "vendor";
pub const VENDOR: &str = "ovn-vpcd";
/// The owning object's [`ObjectKey::owner_tag`].
pub const OWNER_KEY: &str = "ovn-vpcd/owner";
/// Identity of the row among the daemon's rows of its table.
pub const ID_KEY: &str = "ovn-vpcd/id";

/// A table ovn-vpcd writes rows into.
pub struct Owned {
    pub table: &'static str,
    /// Rows live only while a parent references them (OVSDB garbage-collects them).
    pub child: bool,
    /// The set columns of this table that hold owned children.
    pub children: &'static [&'static str],
}

/// The tables ovn-vpcd writes, in the order of a plan: rows referenced by
/// others first (DHCP options, before the ports that point at them), then
/// children before their parents. The one list of them.
pub const OWNED: &[Owned] = &[
    Owned { table: "DHCP_Options", child: false, children: &[] },
    Owned { table: "Logical_Router_Static_Route", child: true, children: &[] },
    Owned { table: "Logical_Router_Policy", child: true, children: &[] },
    Owned { table: "Logical_Router_Port", child: true, children: &[] },
    Owned { table: "Logical_Switch_Port", child: true, children: &[] },
    Owned { table: "Logical_Router", child: false, children: &["ports", "static_routes", "policies"] },
    Owned { table: "Logical_Switch", child: false, children: &["ports"] },
];

/// The owned tables' names, in plan order.
pub fn owned_tables() -> impl Iterator<Item = &'static str> {
    OWNED.iter().map(|t| t.table)
}

/// A table whose rows are not garbage-collected children: tables not
/// written are roots too.
pub fn is_root(table: &str) -> bool {
    !OWNED.iter().any(|t| t.table == table && t.child)
}

/// A reference from a parent row's set column to a child row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ParentRef {
    pub table: &'static str,
    pub id: String,
    /// The owner tag of the parent row.
    pub owner: String,
    pub column: &'static str,
}

/// A column holding a reference to another owned row that is not this
/// row's parent (a switch port's `dhcpv4_options`): resolved to the row's
/// uuid, or to the named uuid of its insert in the same transaction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowRef {
    pub column: &'static str,
    pub table: &'static str,
    pub id: String,
    /// The owner tag of the referenced row.
    pub owner: String,
}

/// One row ovn-vpcd wants in the NB.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredRow {
    pub table: &'static str,
    pub id: String,
    pub owner: String,
    /// Every managed column, `external_ids` included. Reference columns
    /// that hold children are not listed: children name their parent.
    pub columns: Row,
    pub parent: Option<ParentRef>,
    /// Reference columns (not listed in `columns`).
    pub refs: Vec<RowRef>,
}

/// `external_ids`: the vendor, owner and id tags, then `extra`.
pub fn ext(owner: &str, id: &str, extra: &[(&str, &str)]) -> Value {
    let mut m: Vec<(&str, &str)> = vec![(VENDOR_KEY, VENDOR), (OWNER_KEY, owner), (ID_KEY, id)];
    m.extend_from_slice(extra);
    Value::str_map(m)
}

/// A set of strings.
pub fn strs<'a>(v: impl IntoIterator<Item = &'a str>) -> Value {
    Value::set(v.into_iter().map(Atom::from))
}

/// One column of a [`Row`].
pub fn col(name: &str, v: Value) -> (String, Value) {
    (name.to_string(), v)
}

/// A stable, locally administered MAC for a router port (Kube-OVN's are
/// random `00:00:00:xx:xx:xx`; ours are derived from the port name so that
/// they survive any restart without state).
pub fn stable_mac(name: &str) -> String {
    let b = crate::hash::fnv1a64(name.bytes()).to_be_bytes();
    format!("0a:00:00:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

// Row ids, by table. Each names its row by what the row is called in the
// NB (or, for rows without a name, by what makes them unique).

/// A VPC's Logical_Router.
pub fn router_id(vpc: &str) -> String {
    format!("lr:{vpc}")
}

/// A subnet's Logical_Switch.
pub fn switch_id(subnet: &str) -> String {
    format!("ls:{subnet}")
}

/// A Logical_Router_Port by its name.
pub fn router_port_id(name: &str) -> String {
    format!("lrp:{name}")
}

/// A Logical_Switch_Port by its name.
pub fn switch_port_id(name: &str) -> String {
    format!("lsp:{name}")
}

/// A Logical_Router_Static_Route of `vpc`'s router (`policy` as OVN
/// spells it, `prefix` normalised).
pub fn route_id(vpc: &str, route_table: &str, policy: &str, prefix: &str, next_hop: &str) -> String {
    format!("route:{vpc}:{route_table}:{policy}:{prefix}:{next_hop}")
}

/// A Logical_Router_Policy of `vpc`'s router.
pub fn policy_id(vpc: &str, priority: impl std::fmt::Display, match_: &str) -> String {
    format!("policy:{vpc}:{priority}:{match_}")
}

/// A subnet's DHCP_Options row of one family.
pub fn dhcp_id(v6: bool, subnet: &str) -> String {
    format!("{}:{subnet}", if v6 { "dhcp6" } else { "dhcp4" })
}

// Parents and references across kinds.

/// `column` (`ports`, `static_routes`, `policies`) of `vpc`'s router.
pub fn router_parent(vpc: &str, column: &'static str) -> Option<ParentRef> {
    Some(ParentRef { table: "Logical_Router", id: router_id(vpc), owner: ObjectKey::vpc(vpc).owner_tag(), column })
}

/// The `ports` of `subnet`'s switch.
pub fn switch_parent(subnet: &str) -> Option<ParentRef> {
    Some(ParentRef {
        table: "Logical_Switch",
        id: switch_id(subnet),
        owner: ObjectKey::subnet(subnet).owner_tag(),
        column: "ports",
    })
}

/// The switch port columns that point at a subnet's DHCP options, by family
/// (IPv4, then IPv6).
pub const DHCP_COLUMNS: [(&str, bool); 2] = [("dhcpv4_options", false), ("dhcpv6_options", true)];

/// `column` pointing at `subnet`'s DHCP_Options row of one family.
pub fn dhcp_ref(column: &'static str, v6: bool, subnet: &str) -> RowRef {
    RowRef { column, table: "DHCP_Options", id: dhcp_id(v6, subnet), owner: ObjectKey::subnet(subnet).owner_tag() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_stable_and_distinct() {
        assert_eq!(stable_mac("vpc1-net1"), stable_mac("vpc1-net1"));
        assert_ne!(stable_mac("vpc1-net1"), stable_mac("vpc1-net2"));
        assert!(stable_mac("x").starts_with("0a:00:00:"));
    }
}
