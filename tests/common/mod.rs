//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use ovn_vpcd::ovsdb::{Client, ClientConfig, Cond, MonitorSpec, Op, Remote, Row, Value};

pub const NB: &str = "OVN_Northbound";

pub fn config(remotes: &str, tables: &[&str]) -> ClientConfig {
    let specs = tables.iter().map(|t| MonitorSpec::all(t)).collect();
    ClientConfig::new(Remote::parse_list(remotes, 6641).unwrap(), NB, specs)
}

pub async fn connect(remotes: &str, tables: &[&str]) -> Client {
    Client::connect(config(remotes, tables), Duration::from_secs(20)).await.expect("connect")
}

/// An insert of a Logical_Switch tagged `test-id=<id>`, guarded so that a
/// replay cannot insert it twice.
pub fn guarded_switch(name: &str, id: &str) -> Vec<Op> {
    let tag = Value::str_map([("test-id", id)]);
    vec![
        Op::wait_absent("Logical_Switch", vec![Cond::includes("external_ids", tag.clone())]),
        Op::Insert {
            table: "Logical_Switch".into(),
            row: Row::from([("name".into(), Value::string(name)), ("external_ids".into(), tag)]),
            uuid_name: None,
        },
    ]
}

/// `ovn-nbctl --bare --columns=COL list TABLE`, one value per line, sorted.
pub fn nbctl_column(ovn: &ovn_vpcd::testbed::Ovn, table: &str, col: &str) -> Vec<String> {
    let out = ovn.nbctl(&["--bare", &format!("--columns={col}"), "list", table]).unwrap();
    let mut v: Vec<String> = out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    v.sort();
    v
}
