//! Transaction operations (RFC 7047 §5.2) and their results.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value as Json;

use super::data::{Uuid, Value};

/// Column values of a row, by column name.
pub type Row = BTreeMap<String, Value>;

/// A `where` clause element: `[column, function, value]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cond(pub String, pub &'static str, pub Value);

impl Cond {
    pub fn eq(column: &str, v: Value) -> Self {
        Cond(column.into(), "==", v)
    }
    pub fn ne(column: &str, v: Value) -> Self {
        Cond(column.into(), "!=", v)
    }
    pub fn includes(column: &str, v: Value) -> Self {
        Cond(column.into(), "includes", v)
    }
    pub fn uuid(u: Uuid) -> Self {
        Cond("_uuid".into(), "==", Value::uuid(u))
    }
}

/// A `mutate` mutation: `[column, mutator, value]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mutation(pub String, pub &'static str, pub Value);

impl Mutation {
    pub fn insert(column: &str, v: Value) -> Self {
        Mutation(column.into(), "insert", v)
    }
    pub fn delete(column: &str, v: Value) -> Self {
        Mutation(column.into(), "delete", v)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Insert {
        table: String,
        row: Row,
        uuid_name: Option<String>,
        /// The new row's uuid, chosen by the client (an Open vSwitch 2.13+
        /// extension): it must not be taken in the table, nor deleted earlier
        /// in the same transaction, or the insert fails with `duplicate uuid`.
        uuid: Option<Uuid>,
    },
    Select {
        table: String,
        conds: Vec<Cond>,
        columns: Option<Vec<String>>,
    },
    Update {
        table: String,
        conds: Vec<Cond>,
        row: Row,
    },
    Mutate {
        table: String,
        conds: Vec<Cond>,
        mutations: Vec<Mutation>,
    },
    Delete {
        table: String,
        conds: Vec<Cond>,
    },
    /// Fails the transaction unless the rows matching `conds`, projected on
    /// `columns`, are (`until = "=="`) or are not (`"!="`) exactly `rows`.
    Wait {
        table: String,
        conds: Vec<Cond>,
        columns: Vec<String>,
        until: &'static str,
        rows: Vec<Row>,
        timeout_ms: u64,
    },
    Comment(String),
}

impl Op {
    /// A `wait` that succeeds only if no row matches `conds`: guards an insert
    /// so that replaying the same transaction cannot insert twice.
    pub fn wait_absent(table: &str, conds: Vec<Cond>) -> Op {
        Op::Wait { table: table.into(), conds, columns: vec!["_uuid".into()], until: "==", rows: vec![], timeout_ms: 0 }
    }

    pub fn table(&self) -> Option<&str> {
        match self {
            Op::Insert { table, .. }
            | Op::Select { table, .. }
            | Op::Update { table, .. }
            | Op::Mutate { table, .. }
            | Op::Delete { table, .. }
            | Op::Wait { table, .. } => Some(table),
            Op::Comment(_) => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Op::Insert { .. } => "insert",
            Op::Select { .. } => "select",
            Op::Update { .. } => "update",
            Op::Mutate { .. } => "mutate",
            Op::Delete { .. } => "delete",
            Op::Wait { .. } => "wait",
            Op::Comment(_) => "comment",
        }
    }

    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).expect("operations always encode")
    }
}

impl Serialize for Cond {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.0, self.1, &self.2).serialize(s)
    }
}

impl Serialize for Mutation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.0, self.1, &self.2).serialize(s)
    }
}

/// Encodes straight to the wire: no intermediate JSON tree.
impl Serialize for Op {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("op", self.name())?;
        if let Some(t) = self.table() {
            m.serialize_entry("table", t)?;
        }
        match self {
            Op::Insert { row, uuid_name, uuid, .. } => {
                m.serialize_entry("row", row)?;
                if let Some(n) = uuid_name {
                    m.serialize_entry("uuid-name", n)?;
                }
                if let Some(u) = uuid {
                    m.serialize_entry("uuid", &u.to_string())?;
                }
            }
            Op::Select { conds, columns, .. } => {
                m.serialize_entry("where", conds)?;
                if let Some(cols) = columns {
                    m.serialize_entry("columns", cols)?;
                }
            }
            Op::Update { conds, row, .. } => {
                m.serialize_entry("where", conds)?;
                m.serialize_entry("row", row)?;
            }
            Op::Mutate { conds, mutations, .. } => {
                m.serialize_entry("where", conds)?;
                m.serialize_entry("mutations", mutations)?;
            }
            Op::Delete { conds, .. } => m.serialize_entry("where", conds)?,
            Op::Wait { conds, columns, until, rows, timeout_ms, .. } => {
                m.serialize_entry("where", conds)?;
                m.serialize_entry("columns", columns)?;
                m.serialize_entry("until", until)?;
                m.serialize_entry("rows", rows)?;
                m.serialize_entry("timeout", timeout_ms)?;
            }
            Op::Comment(text) => m.serialize_entry("comment", text)?,
        }
        m.end()
    }
}

/// The result of one successful operation.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct OpResult {
    #[serde(default)]
    pub uuid: Option<Uuid>,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub rows: Option<Vec<Row>>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TxnError {
    #[error("operation {index} ({op} {table}) failed: {error}{}", details.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Operation { index: usize, op: &'static str, table: String, error: String, details: Option<String> },
    #[error("transaction failed on commit: {error}{}", details.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Commit { error: String, details: Option<String> },
    #[error("malformed transact reply: {0}")]
    Reply(String),
}

impl TxnError {
    /// The server's error keyword (`"timed out"`, `"constraint violation"`, ...).
    pub fn keyword(&self) -> Option<&str> {
        match self {
            TxnError::Operation { error, .. } | TxnError::Commit { error, .. } => Some(error),
            TxnError::Reply(_) => None,
        }
    }
}

/// The `params` of a `transact` request.
pub fn transact_params<'a>(db: &'a str, ops: &'a [Op]) -> TransactParams<'a> {
    TransactParams { db, ops }
}

/// `[db, op...]`, encoded without copying the operations.
pub struct TransactParams<'a> {
    db: &'a str,
    ops: &'a [Op],
}

impl Serialize for TransactParams<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.ops.len() + 1))?;
        seq.serialize_element(self.db)?;
        for op in self.ops {
            seq.serialize_element(op)?;
        }
        seq.end()
    }
}

/// Interprets a `transact` reply: per-operation errors name the operation's
/// index, kind and table; an extra trailing error is a commit failure.
pub fn parse_results(ops: &[Op], reply: &str) -> Result<Vec<OpResult>, TxnError> {
    let items: Vec<Json> = serde_json::from_str(reply).map_err(|e| TxnError::Reply(e.to_string()))?;
    let err_of = |j: &Json| -> Option<(String, Option<String>)> {
        let e = j.get("error")?;
        let error = e.as_str().map(str::to_string).unwrap_or_else(|| e.to_string());
        let details = j.get("details").map(|d| d.as_str().map(str::to_string).unwrap_or_else(|| d.to_string()));
        Some((error, details))
    };
    for (index, item) in items.iter().enumerate() {
        if let Some((error, details)) = err_of(item) {
            return Err(match ops.get(index) {
                Some(op) => TxnError::Operation {
                    index,
                    op: op.name(),
                    table: op.table().unwrap_or("-").to_string(),
                    error,
                    details,
                },
                None => TxnError::Commit { error, details },
            });
        }
    }
    if items.len() < ops.len() {
        return Err(TxnError::Reply(format!("{} results for {} operations", items.len(), ops.len())));
    }
    items
        .into_iter()
        .take(ops.len())
        .map(|j| if j.is_null() { Ok(OpResult::default()) } else { serde_json::from_value(j) })
        .collect::<Result<_, _>>()
        .map_err(|e| TxnError::Reply(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_operations() {
        let ops = [
            Op::wait_absent("Logical_Switch", vec![Cond::includes("external_ids", Value::str_map([("k", "v")]))]),
            Op::Insert {
                table: "Logical_Switch".into(),
                row: Row::from([("name".into(), Value::string("a"))]),
                uuid_name: Some("ls".into()),
                uuid: Some(Uuid(0x0123_4567_89ab_8def_8123_4567_89ab_cdef)),
            },
            Op::Mutate {
                table: "Logical_Router".into(),
                conds: vec![Cond::eq("name", Value::string("r"))],
                mutations: vec![Mutation::insert("ports", Value::named("ls"))],
            },
            Op::Comment("hi".into()),
        ];
        let j = transact_params("OVN_Northbound", &ops);
        assert_eq!(
            serde_json::to_value(&j).unwrap(),
            serde_json::from_str::<Json>(r#"["OVN_Northbound",{"columns":["_uuid"],"op":"wait","rows":[],"table":"Logical_Switch","timeout":0,"until":"==","where":[["external_ids","includes",["map",[["k","v"]]]]]},{"op":"insert","row":{"name":"a"},"table":"Logical_Switch","uuid":"01234567-89ab-8def-8123-456789abcdef","uuid-name":"ls"},{"mutations":[["ports","insert",["named-uuid","ls"]]],"op":"mutate","table":"Logical_Router","where":[["name","==","r"]]},{"comment":"hi","op":"comment"}]"#)
                .unwrap()
        );
    }

    #[test]
    fn reports_failing_operation_with_index_and_details() {
        let ops = [Op::Comment("x".into()), Op::Delete { table: "T".into(), conds: vec![] }];
        let e = parse_results(&ops, r#"[{},{"error":"referential integrity violation","details":"cannot delete"}]"#)
            .unwrap_err();
        assert_eq!(e.to_string(), "operation 1 (delete T) failed: referential integrity violation: cannot delete");
        let e =
            parse_results(&ops, r#"[{},{"count":1},{"error":"constraint violation","details":"dup"}]"#).unwrap_err();
        assert_eq!(e, TxnError::Commit { error: "constraint violation".into(), details: Some("dup".into()) });
        let ok = parse_results(&ops, r#"[{},{"count":3}]"#).unwrap();
        assert_eq!(ok[1].count, Some(3));
        assert!(parse_results(&ops, r#"[{}]"#).is_err());
    }
}
