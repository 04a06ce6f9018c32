//! Database schemas (`get_schema`), column types, and the check that the
//! tables and columns the daemon needs exist.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value as Json;

use super::data::{Atom, Uuid, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicType {
    Integer,
    Real,
    Boolean,
    String,
    Uuid,
}

impl AtomicType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "integer" => AtomicType::Integer,
            "real" => AtomicType::Real,
            "boolean" => AtomicType::Boolean,
            "string" => AtomicType::String,
            "uuid" => AtomicType::Uuid,
            _ => return None,
        })
    }
    /// The default atom of this type (RFC 7047 §5.1).
    pub fn default_atom(self) -> Atom {
        match self {
            AtomicType::Integer => Atom::Integer(0),
            AtomicType::Real => Atom::Real(0.0),
            AtomicType::Boolean => Atom::Boolean(false),
            AtomicType::String => Atom::String(String::new()),
            AtomicType::Uuid => Atom::Uuid(Uuid(0)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnType {
    pub key: AtomicType,
    pub value: Option<AtomicType>,
    pub min: u64,
    /// `u64::MAX` for "unlimited".
    pub max: u64,
}

impl ColumnType {
    pub fn is_map(&self) -> bool {
        self.value.is_some()
    }
    /// Exactly one atom, no value: diffs of such columns replace the value.
    pub fn is_scalar(&self) -> bool {
        self.value.is_none() && self.min == 1 && self.max == 1
    }
    /// The value a row has in this column when the column is not mentioned.
    pub fn default_value(&self) -> Value {
        if self.is_map() {
            Value::empty_map()
        } else if self.min == 1 {
            Value::Set(vec![self.key.default_atom()])
        } else {
            Value::empty_set()
        }
    }
}

#[derive(Clone, Debug)]
pub struct TableSchema {
    pub columns: BTreeMap<String, ColumnType>,
    pub is_root: bool,
}

#[derive(Clone, Debug)]
pub struct DbSchema {
    pub name: String,
    pub version: String,
    pub tables: BTreeMap<String, TableSchema>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    #[error("malformed schema: {0}")]
    Malformed(String),
    #[error("database {db} (schema {version}) lacks what ovn-vpcd needs: {}", missing.join(", "))]
    Missing { db: String, version: String, missing: Vec<String> },
}

#[derive(Deserialize)]
struct RawSchema {
    name: String,
    #[serde(default)]
    version: String,
    tables: BTreeMap<String, RawTable>,
}

#[derive(Deserialize)]
struct RawTable {
    columns: BTreeMap<String, RawColumn>,
    #[serde(rename = "isRoot", default)]
    is_root: bool,
}

#[derive(Deserialize)]
struct RawColumn {
    #[serde(rename = "type")]
    ty: Json,
}

fn base_type(v: &Json) -> Option<AtomicType> {
    match v {
        Json::String(s) => AtomicType::parse(s),
        Json::Object(o) => AtomicType::parse(o.get("type")?.as_str()?),
        _ => None,
    }
}

fn column_type(v: &Json) -> Option<ColumnType> {
    if let Some(t) = base_type(v) {
        return Some(ColumnType { key: t, value: None, min: 1, max: 1 });
    }
    let o = v.as_object()?;
    let key = base_type(o.get("key")?)?;
    let value = match o.get("value") {
        Some(v) => Some(base_type(v)?),
        None => None,
    };
    let min = match o.get("min") {
        Some(m) => m.as_u64()?,
        None => 1,
    };
    let max = match o.get("max") {
        Some(Json::String(s)) if s == "unlimited" => u64::MAX,
        Some(m) => m.as_u64()?,
        None => 1,
    };
    Some(ColumnType { key, value, min, max })
}

impl DbSchema {
    pub fn parse(json: &str) -> Result<DbSchema, SchemaError> {
        let raw: RawSchema = serde_json::from_str(json).map_err(|e| SchemaError::Malformed(e.to_string()))?;
        let mut tables = BTreeMap::new();
        for (tname, t) in raw.tables {
            let mut columns = BTreeMap::new();
            for (cname, c) in t.columns {
                let ty = column_type(&c.ty).ok_or_else(|| {
                    SchemaError::Malformed(format!("table {tname} column {cname}: bad type {}", c.ty))
                })?;
                columns.insert(cname, ty);
            }
            // Every table has these implicitly.
            columns.insert("_uuid".into(), ColumnType { key: AtomicType::Uuid, value: None, min: 1, max: 1 });
            tables.insert(tname, TableSchema { columns, is_root: t.is_root });
        }
        Ok(DbSchema { name: raw.name, version: raw.version, tables })
    }

    pub fn column(&self, table: &str, column: &str) -> Option<&ColumnType> {
        self.tables.get(table)?.columns.get(column)
    }

    /// Checks that every `(table, columns)` exists; names all that are missing.
    pub fn require<'a>(&self, needs: impl IntoIterator<Item = (&'a str, &'a [&'a str])>) -> Result<(), SchemaError> {
        let mut missing = vec![];
        for (table, columns) in needs {
            match self.tables.get(table) {
                None => missing.push(format!("table {table}")),
                Some(t) => missing.extend(
                    columns.iter().filter(|c| !t.columns.contains_key(**c)).map(|c| format!("column {table}.{c}")),
                ),
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(SchemaError::Missing { db: self.name.clone(), version: self.version.clone(), missing })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"name":"T","version":"1.2.3","tables":{
        "R":{"isRoot":true,"columns":{
            "name":{"type":"string"},
            "ports":{"type":{"key":{"type":"uuid","refTable":"P"},"min":0,"max":"unlimited"}},
            "external_ids":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}},
            "prio":{"type":{"key":{"type":"integer","minInteger":0,"maxInteger":32767}}},
            "opt":{"type":{"key":"string","min":0,"max":1}}}}}}"#;

    #[test]
    fn parses_types_and_defaults() {
        let s = DbSchema::parse(SCHEMA).unwrap();
        let c = |n| s.column("R", n).unwrap().clone();
        assert!(c("name").is_scalar());
        assert_eq!(c("name").default_value(), Value::string(""));
        assert_eq!(c("prio").default_value(), Value::atom(0i64));
        assert_eq!(c("ports").max, u64::MAX);
        assert_eq!(c("ports").default_value(), Value::empty_set());
        assert!(c("external_ids").is_map());
        assert!(!c("opt").is_scalar());
        assert!(c("_uuid").is_scalar());
    }

    #[test]
    fn require_names_everything_missing() {
        let s = DbSchema::parse(SCHEMA).unwrap();
        assert!(s.require([("R", &["name", "ports"][..])]).is_ok());
        let e = s.require([("R", &["name", "nope"][..]), ("Q", &[][..])]).unwrap_err();
        assert_eq!(e.to_string(), "database T (schema 1.2.3) lacks what ovn-vpcd needs: column R.nope, table Q");
    }
}
