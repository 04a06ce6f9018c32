//! Monitor requests and the updates they produce: `monitor_cond_since`
//! (`update3`), `monitor_cond` (`update2`) and plain `monitor` (`update`).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value as Json};

use super::data::Uuid;
use super::ops::Row;

/// Which tables and columns to monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorSpec {
    pub table: String,
    /// `None` = every column of the table.
    pub columns: Option<Vec<String>>,
}

impl MonitorSpec {
    pub fn all(table: &str) -> Self {
        MonitorSpec { table: table.into(), columns: None }
    }
    pub fn columns(table: &str, columns: &[&str]) -> Self {
        MonitorSpec { table: table.into(), columns: Some(columns.iter().map(|c| c.to_string()).collect()) }
    }
}

/// The monitor methods, newest first: each falls back to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    CondSince,
    Cond,
    Plain,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::CondSince => "monitor_cond_since",
            Method::Cond => "monitor_cond",
            Method::Plain => "monitor",
        }
    }
    pub fn fallback(self) -> Option<Method> {
        match self {
            Method::CondSince => Some(Method::Cond),
            Method::Cond => Some(Method::Plain),
            Method::Plain => None,
        }
    }
}

/// The `params` of a monitor request. `columns` must already be resolved.
pub fn request_params(
    method: Method,
    db: &str,
    id: &Json,
    specs: &[(String, Vec<String>)],
    last_txn_id: Option<&str>,
) -> Json {
    let mut reqs = serde_json::Map::new();
    for (table, cols) in specs {
        let one = json!({"columns": cols});
        reqs.insert(table.clone(), if method == Method::Plain { one } else { json!([one]) });
    }
    match method {
        Method::CondSince => {
            json!([db, id, reqs, last_txn_id.unwrap_or("00000000-0000-0000-0000-000000000000")])
        }
        _ => json!([db, id, reqs]),
    }
}

/// `<row-update2>`: exactly one of the members is present.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowUpdate2 {
    #[serde(default)]
    pub initial: Option<Row>,
    #[serde(default)]
    pub insert: Option<Row>,
    #[serde(default)]
    pub modify: Option<Row>,
    #[serde(default, deserialize_with = "present")]
    pub delete: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// `<row-update>` of the original `monitor`.
#[derive(Debug, Default, Deserialize)]
pub struct RowUpdate1 {
    #[serde(default)]
    pub old: Option<Row>,
    #[serde(default)]
    pub new: Option<Row>,
}

pub type TableUpdates2 = BTreeMap<String, HashMap<Uuid, RowUpdate2>>;
pub type TableUpdates1 = BTreeMap<String, HashMap<Uuid, RowUpdate1>>;

/// Updates in either format.
#[derive(Debug)]
pub enum Updates {
    V1(TableUpdates1),
    V2(TableUpdates2),
}

/// Reply to `monitor_cond_since`: `[found, last_txn_id, updates]`.
#[derive(Debug, Deserialize)]
pub struct CondSinceReply(pub bool, pub String, pub TableUpdates2);

/// A decoded monitor notification.
#[derive(Debug)]
pub struct UpdateNotification {
    pub monitor_id: Json,
    pub last_txn_id: Option<String>,
    pub updates: Updates,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed {method} notification: {reason}")]
pub struct NotificationError {
    pub method: String,
    pub reason: String,
}

/// Decodes `update`, `update2` and `update3` notifications; `None` for
/// other methods.
pub fn decode_notification(method: &str, params: &str) -> Option<Result<UpdateNotification, NotificationError>> {
    let err = |e: serde_json::Error| NotificationError { method: method.into(), reason: e.to_string() };
    Some(match method {
        "update3" => serde_json::from_str::<(Json, String, TableUpdates2)>(params)
            .map(|(id, txn, u)| UpdateNotification { monitor_id: id, last_txn_id: Some(txn), updates: Updates::V2(u) })
            .map_err(err),
        "update2" => serde_json::from_str::<(Json, TableUpdates2)>(params)
            .map(|(id, u)| UpdateNotification { monitor_id: id, last_txn_id: None, updates: Updates::V2(u) })
            .map_err(err),
        "update" => serde_json::from_str::<(Json, TableUpdates1)>(params)
            .map(|(id, u)| UpdateNotification { monitor_id: id, last_txn_id: None, updates: Updates::V1(u) })
            .map_err(err),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_all_three_notification_forms() {
        let u = "5e7c0c8a-1111-2222-3333-444455556666";
        let n = decode_notification(
            "update3",
            &format!(r#"["nb",  "aaaaaaaa-1111-2222-3333-444455556666", {{"T":{{"{u}":{{"modify":{{"a":1}}}}}}}}]"#),
        )
        .unwrap()
        .unwrap();
        assert_eq!(n.last_txn_id.as_deref(), Some("aaaaaaaa-1111-2222-3333-444455556666"));
        let Updates::V2(t) = n.updates else { panic!() };
        assert!(t["T"][&u.parse().unwrap()].modify.is_some());

        let n = decode_notification("update2", &format!(r#"["nb", {{"T":{{"{u}":{{"delete":null}}}}}}]"#))
            .unwrap()
            .unwrap();
        let Updates::V2(t) = n.updates else { panic!() };
        assert!(t["T"][&u.parse().unwrap()].delete);

        let n = decode_notification("update", &format!(r#"["nb", {{"T":{{"{u}":{{"new":{{"a":1}}}}}}}}]"#))
            .unwrap()
            .unwrap();
        assert!(matches!(n.updates, Updates::V1(_)));

        assert!(decode_notification("update2", r#"["nb", {"T":{"not-a-uuid":{}}}]"#).unwrap().is_err());
        assert!(decode_notification(
            "update2",
            r#"["nb", {"T":{"5e7c0c8a-1111-2222-3333-444455556666":{"bogus":1}}}]"#
        )
        .unwrap()
        .is_err());
        assert!(decode_notification("locked", "[]").is_none());
    }

    #[test]
    fn request_forms() {
        let specs = vec![("T".to_string(), vec!["a".to_string()])];
        let id = json!("m");
        assert_eq!(
            request_params(Method::CondSince, "nb", &id, &specs, Some("x")).to_string(),
            r#"["nb","m",{"T":[{"columns":["a"]}]},"x"]"#
        );
        assert_eq!(
            request_params(Method::Cond, "nb", &id, &specs, None).to_string(),
            r#"["nb","m",{"T":[{"columns":["a"]}]}]"#
        );
        assert_eq!(
            request_params(Method::Plain, "nb", &id, &specs, None).to_string(),
            r#"["nb","m",{"T":{"columns":["a"]}}]"#
        );
    }
}
