//! What ovn-vpcd needs from OVN's northbound database: the tables it
//! monitors and the columns it relies on, checked against the server's
//! schema on every connect; and in [`rows`], the vocabulary every kind's
//! rows are written in (the owned tables, row ids, ownership tags,
//! parents and references); in [`row_uuid`], the uuid each owned row is
//! inserted with.

use crate::ovsdb::MonitorSpec;

pub mod row_uuid;
pub mod rows;

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

/// The columns the daemon relies on, for [`crate::ovsdb::ClientConfig::require`].
pub fn required_columns() -> Vec<(String, Vec<String>)> {
    TABLES.iter().map(|(t, c)| (t.to_string(), c.iter().map(|c| c.to_string()).collect())).collect()
}

/// Monitor specs for the daemon's tables (all columns, so `nb dump` shows
/// what `ovn-nbctl list` shows).
pub fn monitor_specs() -> Vec<MonitorSpec> {
    TABLES.iter().map(|(t, _)| MonitorSpec::all(t)).collect()
}
