//! The in-memory replica of the monitored tables.
//!
//! Rows are stored column-indexed (one `Value` per monitored column, schema
//! defaults filled in), and every table with an `external_ids` column keeps an
//! index `key -> value -> rows`, so "all rows owned by X" is a lookup, not a scan.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::data::{Uuid, Value};
use super::monitor::{RowUpdate1, RowUpdate2, TableUpdates1, TableUpdates2, Updates};
use super::ops::Row;
use super::schema::{ColumnType, TableSchema};
use super::update2::apply_diff;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    #[error("update for unmonitored table {0}")]
    UnknownTable(String),
    #[error("table {table}: {what} for row {uuid} that is not in the cache")]
    MissingRow { table: String, uuid: Uuid, what: &'static str },
    #[error("table {table}: insert of row {uuid} that is already in the cache")]
    DuplicateRow { table: String, uuid: Uuid },
    #[error("table {table}: row update {uuid} has no initial, insert, modify or delete")]
    EmptyUpdate { table: String, uuid: Uuid },
}

pub struct TableCache {
    name: String,
    columns: Vec<String>,
    types: Vec<ColumnType>,
    index_of: HashMap<String, usize>,
    rows: HashMap<Uuid, Box<[Value]>>,
    ext_col: Option<usize>,
    ext_index: HashMap<String, HashMap<String, HashSet<Uuid>>>,
}

/// A read-only view of one cached row.
#[derive(Clone, Copy)]
pub struct RowView<'a> {
    table: &'a TableCache,
    pub uuid: Uuid,
    values: &'a [Value],
}

impl<'a> RowView<'a> {
    /// A monitored column's value (`None` if the column is not monitored).
    pub fn get(&self, column: &str) -> Option<&'a Value> {
        self.table.index_of.get(column).map(|&i| &self.values[i])
    }
    pub fn get_str(&self, column: &str) -> Option<&'a str> {
        self.get(column).and_then(Value::as_str)
    }
    /// `(column, value)` pairs in column order.
    pub fn columns(&self) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.table.columns.iter().map(String::as_str).zip(self.values.iter())
    }
    /// A value of the row's `external_ids`.
    pub fn external_id(&self, key: &str) -> Option<&'a str> {
        self.get("external_ids")?.map_get(key)?.as_str()
    }
}

impl TableCache {
    pub fn new(name: &str, schema: &TableSchema, columns: &[String]) -> Self {
        let types: Vec<ColumnType> = columns.iter().map(|c| schema.columns[c].clone()).collect();
        let index_of = columns.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect::<HashMap<_, _>>();
        TableCache {
            name: name.into(),
            ext_col: index_of.get("external_ids").copied(),
            columns: columns.to_vec(),
            types,
            index_of,
            rows: HashMap::new(),
            ext_index: HashMap::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
    /// The schema type of a monitored column.
    pub fn column_type(&self, column: &str) -> Option<&ColumnType> {
        self.index_of.get(column).map(|&i| &self.types[i])
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    pub fn get(&self, uuid: Uuid) -> Option<RowView<'_>> {
        self.rows.get(&uuid).map(|v| RowView { table: self, uuid, values: v })
    }
    pub fn iter(&self) -> impl Iterator<Item = RowView<'_>> {
        self.rows.iter().map(|(u, v)| RowView { table: self, uuid: *u, values: v })
    }
    /// Rows whose `external_ids[key] == value`, without a scan.
    pub fn by_external_id(&self, key: &str, value: &str) -> impl Iterator<Item = RowView<'_>> {
        self.ext_index.get(key).and_then(|m| m.get(value)).into_iter().flatten().filter_map(|u| self.get(*u))
    }
    /// How many rows have `external_ids:key=value` (the index's count: no row is read).
    pub fn count_by_external_id(&self, key: &str, value: &str) -> usize {
        self.ext_index.get(key).and_then(|m| m.get(value)).map_or(0, |s| s.len())
    }
    /// Rows that have `key` in `external_ids`, whatever its value.
    pub fn with_external_id(&self, key: &str) -> impl Iterator<Item = RowView<'_>> {
        self.ext_index.get(key).into_iter().flat_map(|m| m.values()).flatten().filter_map(|u| self.get(*u))
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.ext_index.clear();
    }

    fn index(&mut self, uuid: Uuid, add: bool) {
        let Some(c) = self.ext_col else { return };
        let Some(values) = self.rows.get(&uuid) else { return };
        for (k, v) in values[c].str_pairs() {
            if add {
                self.ext_index.entry(k.to_string()).or_default().entry(v.to_string()).or_default().insert(uuid);
            } else if let Some(m) = self.ext_index.get_mut(k) {
                if let Some(s) = m.get_mut(v) {
                    s.remove(&uuid);
                    if s.is_empty() {
                        m.remove(v);
                    }
                }
                if m.is_empty() {
                    self.ext_index.remove(k);
                }
            }
        }
    }

    fn fresh_row(&self, row: Row) -> Box<[Value]> {
        let mut values: Vec<Value> = self.types.iter().map(ColumnType::default_value).collect();
        for (c, v) in row {
            if let Some(&i) = self.index_of.get(&c) {
                values[i] = v;
            }
        }
        values.into_boxed_slice()
    }

    fn put(&mut self, uuid: Uuid, values: Box<[Value]>) {
        self.index(uuid, false);
        self.rows.insert(uuid, values);
        self.index(uuid, true);
    }

    fn remove(&mut self, uuid: Uuid) -> bool {
        self.index(uuid, false);
        self.rows.remove(&uuid).is_some()
    }

    fn missing(&self, uuid: Uuid, what: &'static str) -> CacheError {
        CacheError::MissingRow { table: self.name.clone(), uuid, what }
    }

    fn apply2(&mut self, uuid: Uuid, u: RowUpdate2) -> Result<(), CacheError> {
        if let Some(row) = u.initial.or(u.insert) {
            let fresh = self.fresh_row(row);
            self.put(uuid, fresh);
        } else if let Some(diff) = u.modify {
            if !self.rows.contains_key(&uuid) {
                return Err(self.missing(uuid, "modify"));
            }
            // In place: a row is not copied for a diff (see `update2`).
            self.index(uuid, false);
            let values = self.rows.get_mut(&uuid).expect("checked above");
            for (c, d) in diff {
                if let Some(&i) = self.index_of.get(&c) {
                    let old = std::mem::replace(&mut values[i], Value::empty_set());
                    values[i] = apply_diff(&self.types[i], old, d);
                }
            }
            self.index(uuid, true);
        } else if u.delete {
            if !self.remove(uuid) {
                return Err(self.missing(uuid, "delete"));
            }
        } else {
            return Err(CacheError::EmptyUpdate { table: self.name.clone(), uuid });
        }
        Ok(())
    }

    fn apply1(&mut self, uuid: Uuid, u: RowUpdate1) -> Result<(), CacheError> {
        match u.new {
            Some(new) => {
                let fresh = self.fresh_row(new);
                self.put(uuid, fresh);
            }
            None if u.old.is_some() => {
                if !self.remove(uuid) {
                    return Err(self.missing(uuid, "delete"));
                }
            }
            None => return Err(CacheError::EmptyUpdate { table: self.name.clone(), uuid }),
        }
        Ok(())
    }
}

/// All monitored tables of one database.
#[derive(Default)]
pub struct Cache {
    tables: BTreeMap<String, TableCache>,
    /// Id of the last transaction reflected here (from `monitor_cond_since`).
    pub last_txn_id: Option<String>,
    /// Increases on every applied update.
    pub generation: u64,
}

impl Cache {
    pub fn table(&self, name: &str) -> Option<&TableCache> {
        self.tables.get(name)
    }
    pub fn tables(&self) -> impl Iterator<Item = &TableCache> {
        self.tables.values()
    }
    /// Finds a row by uuid in any table.
    pub fn row(&self, table: &str, uuid: Uuid) -> Option<RowView<'_>> {
        self.tables.get(table)?.get(uuid)
    }

    /// Replaces the table set (after a (re)connect with a possibly new schema).
    /// Tables whose column set is unchanged keep their rows.
    pub fn set_tables(&mut self, tables: Vec<TableCache>) {
        let mut old = std::mem::take(&mut self.tables);
        for mut t in tables {
            if let Some(prev) = old.remove(&t.name) {
                if prev.columns == t.columns && prev.types == t.types {
                    t = prev;
                }
            }
            self.tables.insert(t.name.clone(), t);
        }
    }

    /// Empties every table (before a full initial snapshot).
    pub fn clear(&mut self) {
        self.tables.values_mut().for_each(TableCache::clear);
        self.last_txn_id = None;
        self.generation += 1;
    }

    /// Applies monitor updates. On error the cache may be partially updated
    /// and must be resynchronised from scratch.
    pub fn apply(&mut self, updates: Updates) -> Result<(), CacheError> {
        self.generation += 1;
        match updates {
            Updates::V2(u) => self.apply2(u),
            Updates::V1(u) => self.apply1(u),
        }
    }

    fn apply2(&mut self, u: TableUpdates2) -> Result<(), CacheError> {
        for (table, rows) in u {
            let t = self.tables.get_mut(&table).ok_or(CacheError::UnknownTable(table))?;
            for (uuid, ru) in rows {
                t.apply2(uuid, ru)?;
            }
        }
        Ok(())
    }

    fn apply1(&mut self, u: TableUpdates1) -> Result<(), CacheError> {
        for (table, rows) in u {
            let t = self.tables.get_mut(&table).ok_or(CacheError::UnknownTable(table))?;
            for (uuid, ru) in rows {
                t.apply1(uuid, ru)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::schema::DbSchema;

    fn table() -> TableCache {
        let s = DbSchema::parse(
            r#"{"name":"T","tables":{"R":{"columns":{
                "name":{"type":"string"},
                "tags":{"type":{"key":"string","min":0,"max":"unlimited"}},
                "opt":{"type":{"key":"string","min":0,"max":1}},
                "external_ids":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}}}}}}"#,
        )
        .unwrap();
        let cols: Vec<String> = ["name", "tags", "opt", "external_ids"].iter().map(|s| s.to_string()).collect();
        TableCache::new("R", &s.tables["R"], &cols)
    }

    fn row(j: serde_json::Value) -> Row {
        serde_json::from_value(j).unwrap()
    }

    #[test]
    fn update2_diffs_and_external_id_index() {
        let mut t = table();
        let u = Uuid(7);
        t.apply2(
            u,
            RowUpdate2 {
                insert: Some(row(
                    serde_json::json!({"name": "a", "external_ids": ["map", [["vendor", "x"], ["vpc", "v1"]]]}),
                )),
                ..Default::default()
            },
        )
        .unwrap();
        let r = t.get(u).unwrap();
        assert_eq!(r.get_str("name"), Some("a"));
        assert_eq!(r.get("tags"), Some(&Value::empty_set()), "defaults filled");
        assert_eq!(t.by_external_id("vpc", "v1").count(), 1);

        // Map diff: equal value deletes, other value replaces, new key inserts.
        let diff = row(serde_json::json!({
            "external_ids": ["map", [["vendor", "x"], ["vpc", "v2"], ["new", "1"]]],
            "tags": ["set", ["p", "q"]], "opt": "z", "name": "b"}));
        t.apply2(u, RowUpdate2 { modify: Some(diff), ..Default::default() }).unwrap();
        let r = t.get(u).unwrap();
        assert_eq!(r.get_str("name"), Some("b"));
        assert_eq!(r.external_id("vendor"), None);
        assert_eq!(r.external_id("vpc"), Some("v2"));
        assert_eq!(r.external_id("new"), Some("1"));
        assert_eq!(t.by_external_id("vpc", "v1").count(), 0);
        assert_eq!(t.by_external_id("vpc", "v2").count(), 1);
        assert_eq!(t.with_external_id("vendor").count(), 0);
        // Set diff is a symmetric difference; optional "z" -> "y" arrives as {z, y}.
        let diff = row(serde_json::json!({"tags": ["set", ["p", "r"]], "opt": ["set", ["z", "y"]]}));
        t.apply2(u, RowUpdate2 { modify: Some(diff), ..Default::default() }).unwrap();
        let r = t.get(u).unwrap();
        assert_eq!(r.get("tags"), Some(&Value::set(["q".into(), "r".into()])));
        assert_eq!(r.get_str("opt"), Some("y"));

        t.apply2(u, RowUpdate2 { delete: true, ..Default::default() }).unwrap();
        assert!(t.get(u).is_none());
        assert_eq!(t.with_external_id("vpc").count(), 0);
        assert!(t.apply2(u, RowUpdate2 { delete: true, ..Default::default() }).is_err());
        assert!(t.apply2(u, RowUpdate2 { modify: Some(Row::new()), ..Default::default() }).is_err());
    }

    #[test]
    fn update1_replaces_rows() {
        let mut t = table();
        t.apply1(Uuid(1), RowUpdate1 { old: None, new: Some(row(serde_json::json!({"name": "a"}))) }).unwrap();
        t.apply1(Uuid(1), RowUpdate1 { old: Some(Row::new()), new: Some(row(serde_json::json!({"name": "b"}))) })
            .unwrap();
        assert_eq!(t.get(Uuid(1)).unwrap().get_str("name"), Some("b"));
        t.apply1(Uuid(1), RowUpdate1 { old: Some(Row::new()), new: None }).unwrap();
        assert_eq!(t.len(), 0);
    }
}
