//! Desired rows vs. the rows ovn-vpcd owns in the NB cache → a [`Plan`] →
//! OVSDB operations. Pure: the cache is read into an [`Existing`] snapshot
//! first, and nothing here does I/O.
//!
//! Only rows tagged `vendor=ovn-vpcd` are ever considered, so rows made by
//! anyone else — a route added by hand to an owned router — are never
//! changed or deleted. Children are attached and detached with `mutate`
//! on the parent's set column, never by rewriting the whole set.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use super::desired::{is_root, DesiredRow, ParentRef, ID_KEY, OWNER_KEY, VENDOR, VENDOR_KEY};
use crate::ovsdb::{Atom, Cache, Cond, Mutation, Op, Row, Uuid, Value};

/// The tables ovn-vpcd writes, parents after children.
pub const TABLES: &[&str] = &[
    "Logical_Router_Static_Route",
    "Logical_Router_Policy",
    "Logical_Router_Port",
    "Logical_Switch_Port",
    "DHCP_Options",
    "Logical_Router",
    "Logical_Switch",
];

/// Which parent columns hold children, per parent table.
const PARENT_COLUMNS: &[(&str, &[&str])] =
    &[("Logical_Router", &["ports", "static_routes", "policies"]), ("Logical_Switch", &["ports"])];

#[derive(Clone, Debug, PartialEq)]
pub struct ExistingRow {
    pub uuid: Uuid,
    pub owner: String,
    pub columns: Row,
}

/// The owned rows of the cache, by table and id, plus who references whom.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Existing {
    pub rows: BTreeMap<(&'static str, String), ExistingRow>,
    /// Extra rows carrying an id another row already has (left by a crash
    /// of an older version, or by hand): always deleted.
    pub duplicates: Vec<(&'static str, String, ExistingRow)>,
    /// child uuid → (parent table, parent uuid, column)
    pub parents: HashMap<Uuid, (&'static str, Uuid, &'static str)>,
}

impl Existing {
    /// Reads the owned rows out of the cache.
    pub fn from_cache(cache: &Cache) -> Existing {
        let mut ex = Existing::default();
        for &table in TABLES {
            let Some(t) = cache.table(table) else { continue };
            let mut rows: Vec<_> = t.by_external_id(VENDOR_KEY, VENDOR).collect();
            rows.sort_by_key(|r| r.uuid);
            for r in rows {
                let Some(id) = r.external_id(ID_KEY) else { continue };
                let row = ExistingRow {
                    uuid: r.uuid,
                    owner: r.external_id(OWNER_KEY).unwrap_or("").to_string(),
                    columns: r.columns().map(|(c, v)| (c.to_string(), v.clone())).collect(),
                };
                match ex.rows.entry((table, id.to_string())) {
                    std::collections::btree_map::Entry::Occupied(_) => ex.duplicates.push((table, id.to_string(), row)),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(row);
                    }
                }
            }
        }
        for (table, cols) in PARENT_COLUMNS {
            let Some(t) = cache.table(table) else { continue };
            for r in t.by_external_id(VENDOR_KEY, VENDOR) {
                for c in *cols {
                    for child in r.get(c).map(Value::atoms).unwrap_or(&[]).iter().filter_map(Atom::as_uuid) {
                        ex.parents.insert(child, (table, r.uuid, c));
                    }
                }
            }
        }
        ex
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Insert(DesiredRow),
    Update {
        table: &'static str,
        id: String,
        owner: String,
        uuid: Uuid,
        old: Row,
        new: Row,
    },
    Delete {
        table: &'static str,
        id: String,
        owner: String,
        uuid: Uuid,
        parent: Option<(&'static str, Uuid, &'static str)>,
    },
}

impl Change {
    /// `<Kind>/<name>` of the object this change belongs to.
    pub fn owner(&self) -> &str {
        match self {
            Change::Insert(r) => &r.owner,
            Change::Update { owner, .. } | Change::Delete { owner, .. } => owner,
        }
    }

    fn sort_key(&self) -> (usize, &str, u8) {
        let (table, id, kind) = match self {
            Change::Delete { table, id, .. } => (*table, id.as_str(), 0),
            Change::Update { table, id, .. } => (*table, id.as_str(), 1),
            Change::Insert(r) => (r.table, r.id.as_str(), 2),
        };
        (TABLES.iter().position(|t| *t == table).unwrap_or(usize::MAX), id, kind)
    }
}

/// The changes that take the NB from what exists to what is desired.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub changes: Vec<Change>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("{table} {id}: parent {parent_table} {parent_id} is neither present nor desired")]
    MissingParent { table: String, id: String, parent_table: String, parent_id: String },
}

/// Order-insensitive equality of OVSDB values (sets and maps are unordered).
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Set(x), Value::Set(y)) => x.len() == y.len() && x.iter().all(|e| y.contains(e)),
        (Value::Map(x), Value::Map(y)) => x.len() == y.len() && x.iter().all(|e| y.contains(e)),
        _ => false,
    }
}

/// Computes the plan. Rows owned by `protected` owners (objects refused this
/// round) are neither updated nor deleted.
pub fn diff(desired: &[DesiredRow], existing: &Existing, protected: &BTreeSet<String>) -> Plan {
    let mut changes = vec![];
    let mut wanted: BTreeSet<(&str, &str)> = BTreeSet::new();
    for d in desired {
        wanted.insert((d.table, d.id.as_str()));
        match existing.rows.get(&(d.table, d.id.clone())) {
            None => changes.push(Change::Insert(d.clone())),
            Some(e) => {
                let mut old = Row::new();
                let mut new = Row::new();
                for (c, v) in &d.columns {
                    let cur = e.columns.get(c);
                    if !cur.is_some_and(|cur| same_value(cur, v)) {
                        old.insert(c.clone(), cur.cloned().unwrap_or_else(Value::empty_set));
                        new.insert(c.clone(), v.clone());
                    }
                }
                if !new.is_empty() {
                    changes.push(Change::Update {
                        table: d.table,
                        id: d.id.clone(),
                        owner: d.owner.clone(),
                        uuid: e.uuid,
                        old,
                        new,
                    });
                }
            }
        }
    }
    let stale = existing.rows.iter().filter(|((t, id), _)| !wanted.contains(&(*t, id.as_str())));
    let dups = existing.duplicates.iter().map(|(t, id, r)| ((t, id), r));
    for ((table, id), e) in stale.map(|((t, id), r)| ((t, id), r)).chain(dups) {
        if protected.contains(&e.owner) {
            continue;
        }
        changes.push(Change::Delete {
            table,
            id: id.clone(),
            owner: e.owner.clone(),
            uuid: e.uuid,
            parent: existing.parents.get(&e.uuid).copied(),
        });
    }
    changes.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Plan { changes }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The owners with changes, VPCs before subnets (parents first).
    pub fn owners(&self) -> Vec<String> {
        let mut v: Vec<String> = self.changes.iter().map(|c| c.owner().to_string()).collect();
        v.sort_by(|a, b| (!a.starts_with("Vpc/"), a).cmp(&(!b.starts_with("Vpc/"), b)));
        v.dedup();
        v
    }

    /// The part of the plan that belongs to one owner.
    pub fn only(&self, owner: &str) -> Plan {
        Plan { changes: self.changes.iter().filter(|c| c.owner() == owner).cloned().collect() }
    }

    /// The operations of one transaction applying this plan. Every insert
    /// is guarded by a `wait` on its id (children of a parent inserted in the
    /// same transaction by the parent's), so a replay cannot insert twice.
    pub fn to_ops(&self, existing: &Existing) -> Result<Vec<Op>, PlanError> {
        let inserted: HashMap<(&str, &str), String> = self
            .changes
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c {
                Change::Insert(r) => Some(((r.table, r.id.as_str()), format!("row{i}"))),
                _ => None,
            })
            .collect();
        let deleted: BTreeSet<Uuid> = self
            .changes
            .iter()
            .filter_map(|c| if let Change::Delete { uuid, .. } = c { Some(*uuid) } else { None })
            .collect();
        // Children of parents inserted in this transaction go into the parent's row.
        let mut child_refs: HashMap<(&str, &str), BTreeMap<&str, Vec<Atom>>> = HashMap::new();
        let mut ops = vec![];
        let mut mutations = vec![];
        for (i, c) in self.changes.iter().enumerate() {
            match c {
                Change::Insert(r) => {
                    // A child inserted with its new parent is covered by the
                    // parent's guard; every other insert gets its own.
                    let parent_new =
                        r.parent.as_ref().is_some_and(|p| inserted.contains_key(&(p.table, p.id.as_str())));
                    if !parent_new {
                        let tag = Value::str_map([(ID_KEY, r.id.as_str())]);
                        ops.push(Op::wait_absent(r.table, vec![Cond::includes("external_ids", tag)]));
                    }
                    let name = format!("row{i}");
                    if let Some(ParentRef { table, id, column }) = &r.parent {
                        if inserted.contains_key(&(*table, id.as_str())) {
                            child_refs
                                .entry((*table, id.as_str()))
                                .or_default()
                                .entry(column)
                                .or_default()
                                .push(Atom::NamedUuid(name.clone()));
                        } else if let Some(p) = existing.rows.get(&(*table, id.clone())) {
                            mutations.push(Op::Mutate {
                                table: table.to_string(),
                                conds: vec![Cond::uuid(p.uuid)],
                                mutations: vec![Mutation::insert(column, Value::named(&name))],
                            });
                        } else {
                            return Err(PlanError::MissingParent {
                                table: r.table.into(),
                                id: r.id.clone(),
                                parent_table: table.to_string(),
                                parent_id: id.clone(),
                            });
                        }
                    }
                    let mut row = r.columns.clone();
                    if let Some(refs) = child_refs.remove(&(r.table, r.id.as_str())) {
                        for (column, atoms) in refs {
                            row.insert(column.to_string(), Value::Set(atoms));
                        }
                    }
                    ops.push(Op::Insert { table: r.table.to_string(), row, uuid_name: Some(name) });
                }
                Change::Update { table, uuid, new, .. } => {
                    ops.push(Op::Update { table: table.to_string(), conds: vec![Cond::uuid(*uuid)], row: new.clone() });
                }
                Change::Delete { table, uuid, parent, .. } => {
                    if is_root(table) {
                        ops.push(Op::Delete { table: table.to_string(), conds: vec![Cond::uuid(*uuid)] });
                    } else if let Some((pt, pu, pc)) = parent.filter(|(_, pu, _)| !deleted.contains(pu)) {
                        // Detaching a child deletes it (OVSDB garbage collection).
                        mutations.push(Op::Mutate {
                            table: pt.to_string(),
                            conds: vec![Cond::uuid(pu)],
                            mutations: vec![Mutation::delete(pc, Value::uuid(*uuid))],
                        });
                    }
                }
            }
        }
        ops.extend(mutations);
        Ok(ops)
    }
}

impl fmt::Display for Plan {
    /// One line per change, grouped by table, in a stable order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = "";
        for c in &self.changes {
            let table = match c {
                Change::Insert(r) => r.table,
                Change::Update { table, .. } | Change::Delete { table, .. } => table,
            };
            if table != last {
                writeln!(f, "{table}:")?;
                last = table;
            }
            match c {
                Change::Insert(r) => {
                    write!(f, "  + {}", r.id)?;
                    for (k, v) in r.columns.iter().filter(|(k, _)| *k != "external_ids") {
                        write!(f, " {k}={v}")?;
                    }
                    writeln!(f)?;
                }
                Change::Update { id, old, new, .. } => {
                    write!(f, "  ~ {id}")?;
                    for (k, v) in new {
                        write!(f, " {k}: {} -> {v}", old[k])?;
                    }
                    writeln!(f)?;
                }
                Change::Delete { id, uuid, .. } => writeln!(f, "  - {id} ({uuid})")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
