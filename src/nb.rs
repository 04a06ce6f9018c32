//! What ovn-vpcd needs from OVN's northbound database: the tables it
//! monitors and the columns it relies on, checked against the server's
//! schema on every connect.

use crate::ovsdb::MonitorSpec;

pub const DATABASE: &str = "OVN_Northbound";

/// `(table, columns the daemon reads or writes)`.
pub const TABLES: &[(&str, &[&str])] = &[
    ("NB_Global", &["name", "external_ids", "options"]),
    ("Logical_Router", &["name", "ports", "static_routes", "policies", "options", "external_ids"]),
    ("Logical_Router_Port", &["name", "mac", "networks", "ha_chassis_group", "options", "external_ids"]),
    (
        "Logical_Router_Static_Route",
        &["ip_prefix", "nexthop", "policy", "output_port", "route_table", "bfd", "options", "external_ids"],
    ),
    ("Logical_Router_Policy", &["priority", "match", "action", "nexthop", "nexthops", "options", "external_ids"]),
    ("Logical_Switch", &["name", "ports", "other_config", "external_ids"]),
    (
        "Logical_Switch_Port",
        &["name", "type", "addresses", "port_security", "options", "dhcpv4_options", "external_ids"],
    ),
    ("DHCP_Options", &["cidr", "options", "external_ids"]),
    ("BFD", &["logical_port", "dst_ip", "min_tx", "min_rx", "detect_mult", "status", "options", "external_ids"]),
    ("HA_Chassis_Group", &["name", "ha_chassis", "external_ids"]),
    ("HA_Chassis", &["chassis_name", "priority", "external_ids"]),
];

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

/// A table whose rows live only while referenced; tables not written are roots.
pub fn is_child(table: &str) -> bool {
    OWNED.iter().any(|t| t.table == table && t.child)
}

/// The columns the daemon relies on, for [`crate::ovsdb::ClientConfig::require`].
pub fn required_columns() -> Vec<(String, Vec<String>)> {
    TABLES.iter().map(|(t, c)| (t.to_string(), c.iter().map(|c| c.to_string()).collect())).collect()
}

/// Monitor specs for the daemon's tables (all columns, so `nb dump` shows
/// what `ovn-nbctl list` shows).
pub fn monitor_specs() -> Vec<MonitorSpec> {
    TABLES.iter().map(|(t, _)| MonitorSpec::all(t)).collect()
}
