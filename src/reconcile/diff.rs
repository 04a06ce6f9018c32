//! Desired rows vs. the rows ovn-vpcd owns in the NB cache → a [`Plan`] →
//! OVSDB operations. Pure: the diff reads the cache in place (the caller
//! holds its read guard for the duration), copies only what changes, and
//! does no I/O.
//!
//! Only rows tagged `vendor=ovn-vpcd` are ever considered, so rows made by
//! anyone else — a route added by hand to an owned router — are never
//! changed or deleted. Children are attached and detached with `mutate`
//! on the parent's set column, never by rewriting the whole set.
//!
//! A row's id is derived from its name, not from its parent, so an owned
//! child can sit under another owned parent than its desired one (a name
//! handed from one object to another in one edit, a pod recreated on
//! another subnet): it is moved, detached from the one parent and attached
//! to the other in the same transaction, never left where it is.
//!
//! No insert can happen twice ([`InsertGuard`]): a row is inserted with the
//! uuid derived from its table and id (`nb::row_uuid`), so a replay, or a
//! plan made from a cache that has not yet seen the row, fails on
//! `duplicate uuid` instead of inserting a second one. Where the cache shows
//! that uuid taken, the insert falls back to a `wait` on its id; the waits
//! come before every insert of their transaction (a `wait` sees the
//! transaction's own earlier inserts).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use super::Scope;
use crate::nb::row_uuid::row_uuid;
use crate::nb::rows::{is_root, DesiredRow, ParentRef, RowRef, ID_KEY, OWNER_KEY, VENDOR, VENDOR_KEY};
use crate::ovsdb::{Atom, Cache, Cond, Mutation, Op, Row, RowView, Uuid, Value};

use crate::model::object::ObjectKey;
use crate::nb::rows::{owned_tables, OWNED};

/// The owned rows of the cache within a scope, by table and id, borrowed.
pub struct Existing<'c> {
    cache: &'c Cache,
    rows: HashMap<(&'static str, &'c str), RowView<'c>>,
    /// Extra rows carrying an id another row already has (left by a crash
    /// of an older version, or by hand): always deleted.
    duplicates: Vec<(&'static str, &'c str, RowView<'c>)>,
}

fn owner_of<'c>(r: &RowView<'c>) -> &'c str {
    r.external_id(OWNER_KEY).unwrap_or("")
}

impl<'c> Existing<'c> {
    /// Indexes the owned rows of `scope` (a lookup per owner, not a scan).
    pub fn new(cache: &'c Cache, scope: &Scope) -> Self {
        let mut ex = Existing { cache, rows: HashMap::new(), duplicates: vec![] };
        for table in owned_tables() {
            let Some(t) = cache.table(table) else { continue };
            let mut rows: Vec<RowView<'c>> = match scope {
                Scope::All => t.by_external_id(VENDOR_KEY, VENDOR).collect(),
                Scope::Owners(owners) => owners
                    .iter()
                    .flat_map(|o| t.by_external_id(OWNER_KEY, &o.owner_tag()).collect::<Vec<_>>())
                    .filter(|r| r.external_id(VENDOR_KEY) == Some(VENDOR))
                    .collect(),
            };
            rows.sort_by_key(|r| r.uuid);
            for r in rows {
                let Some(id) = r.external_id(ID_KEY) else { continue };
                match ex.rows.entry((table, id)) {
                    // The row on its derived uuid stays (else the lowest uuid):
                    // deleting it would free that uuid for a stale insert.
                    std::collections::hash_map::Entry::Occupied(mut kept) => {
                        let derived = row_uuid(table, id);
                        if r.uuid == derived && kept.get().uuid != derived {
                            let other = kept.insert(r);
                            ex.duplicates.push((table, id, other));
                        } else {
                            ex.duplicates.push((table, id, r));
                        }
                    }
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(r);
                    }
                }
            }
        }
        ex
    }

    pub fn len(&self) -> usize {
        self.rows.len() + self.duplicates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An owned row by id, also outside the scope (for parents).
    fn find(&self, table: &'static str, id: &str, owner: &str) -> Option<RowView<'c>> {
        if let Some(r) = self.rows.get(&(table, id)) {
            return Some(*r);
        }
        let mut found = self.cache.table(table)?.by_external_id(OWNER_KEY, owner);
        found.find(|r| r.external_id(ID_KEY) == Some(id) && r.external_id(VENDOR_KEY) == Some(VENDOR))
    }

    /// child uuid → (parent table, parent uuid, column), over all owned parents.
    fn parents(&self) -> HashMap<Uuid, (&'static str, Uuid, &'static str)> {
        let mut parents = HashMap::new();
        for (table, cols) in OWNED.iter().filter(|t| !t.children.is_empty()).map(|t| (t.table, t.children)) {
            let Some(t) = self.cache.table(table) else { continue };
            for r in t.by_external_id(VENDOR_KEY, VENDOR) {
                for c in cols {
                    for child in r.get(c).map(Value::atoms).unwrap_or(&[]).iter().filter_map(Atom::as_uuid) {
                        parents.insert(child, (table, r.uuid, *c));
                    }
                }
            }
        }
        parents
    }
}

/// Where an inserted row's parent is.
#[derive(Clone, Debug, PartialEq)]
pub enum ParentLink {
    /// A root: no parent.
    None,
    /// Already in the NB.
    Existing(Uuid),
    /// Inserted by the same plan.
    New,
    /// Neither present nor desired (the parent's owner is refused).
    Missing,
}

/// Where a referenced row is (see [`RowRef`]).
enum Target {
    Existing(Uuid),
    /// Inserted by the same plan: referenced by its named uuid.
    New,
    /// Neither present nor desired: the column stays empty.
    Missing,
}

/// A child row moving to its desired parent: detached from the owned parent
/// that holds it (if any) and attached to the desired one, in one
/// transaction, so OVSDB's garbage collection never sees it unreferenced.
#[derive(Clone, Debug, PartialEq)]
pub struct Move {
    pub from: Option<(&'static str, Uuid, &'static str)>,
    /// `Existing` or `New`.
    pub to: ParentLink,
    pub parent: ParentRef,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Insert {
        row: DesiredRow,
        link: ParentLink,
        guard: InsertGuard,
    },
    Update {
        table: &'static str,
        id: String,
        owner: String,
        uuid: Uuid,
        old: Row,
        new: Row,
        /// Columns of `new` that point at rows inserted by the same plan.
        refs: Vec<RowRef>,
        /// The row sits under another parent than its desired one (its id
        /// was derived by another object before): it moves there.
        moved: Option<Box<Move>>,
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
            Change::Insert { row, .. } => &row.owner,
            Change::Update { owner, .. } | Change::Delete { owner, .. } => owner,
        }
    }

    pub fn table(&self) -> &'static str {
        match self {
            Change::Insert { row, .. } => row.table,
            Change::Update { table, .. } | Change::Delete { table, .. } => table,
        }
    }

    fn sort_key(&self) -> (usize, &str, u8) {
        let (id, kind) = match self {
            Change::Delete { id, .. } => (id.as_str(), 0),
            Change::Update { id, .. } => (id.as_str(), 1),
            Change::Insert { row, .. } => (row.id.as_str(), 2),
        };
        (owned_tables().position(|t| t == self.table()).unwrap_or(usize::MAX), id, kind)
    }
}

/// What keeps an insert from happening twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertGuard {
    /// Inserted with its derived uuid (`nb::row_uuid`): a second insert of
    /// the row fails on `duplicate uuid`, one index lookup in ovsdb-server.
    Uuid(Uuid),
    /// The derived uuid is taken in the cache (by a row of another id, or
    /// by one this plan deletes): the server chooses the uuid, and a `wait`
    /// for "no owned row carries this id" (a table scan) guards the insert.
    Wait,
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
    #[error("{table} {id}: inserted twice by one plan (another object derives the same row id)")]
    RepeatedInsert { table: String, id: String },
    #[error("{table} {id}: {column} points at {target_table} {target_id}, which this plan does not insert")]
    MissingRef { table: String, id: String, column: String, target_table: String, target_id: String },
}

/// Order-insensitive equality of OVSDB values (sets and maps are unordered).
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Set(x), Value::Set(y)) => x.len() == y.len() && x.iter().all(|e| y.contains(e)),
        (Value::Map(x), Value::Map(y)) => x.len() == y.len() && x.iter().all(|e| y.contains(e)),
        _ => false,
    }
}

/// Computes the plan for the rows of `existing`'s scope; `desired` must be
/// the desired rows of the same scope (inserted ones move into the plan).
/// Rows owned by `protected` owners (objects refused this round) are
/// neither updated nor deleted, also not by another owner's row of the
/// same id.
pub fn diff(desired: Vec<DesiredRow>, existing: &Existing, protected: &BTreeSet<String>) -> Plan {
    enum Decision {
        Insert(ParentLink, Vec<Target>),
        Update(Change),
        Keep,
    }
    let (decisions, gone) = {
        let wanted: BTreeSet<(&str, &str)> = desired.iter().map(|d| (d.table, d.id.as_str())).collect();
        let target = |r: &RowRef| match existing.find(r.table, &r.id, &r.owner) {
            Some(row) => Target::Existing(row.uuid),
            None if wanted.contains(&(r.table, r.id.as_str())) => Target::New,
            None => Target::Missing,
        };
        let link = |p: &ParentRef| match existing.find(p.table, &p.id, &p.owner) {
            Some(r) => ParentLink::Existing(r.uuid),
            None if wanted.contains(&(p.table, p.id.as_str())) => ParentLink::New,
            None => ParentLink::Missing,
        };
        // Where each existing child is attached: an id names a row, not its
        // parent, so a row may sit under another parent than desired. The
        // children of the desired parents are read (cheap for a small
        // scope); every owned parent only when some row is elsewhere.
        let mut attached: HashSet<(Uuid, Uuid)> = HashSet::new();
        let mut read: HashSet<(Uuid, &str)> = HashSet::new();
        for d in desired.iter().filter(|d| existing.rows.contains_key(&(d.table, d.id.as_str()))) {
            let Some(p) = &d.parent else { continue };
            let Some(r) = existing.find(p.table, &p.id, &p.owner) else { continue };
            if read.insert((r.uuid, p.column)) {
                let children = r.get(p.column).map(Value::atoms).unwrap_or(&[]);
                attached.extend(children.iter().filter_map(Atom::as_uuid).map(|c| (r.uuid, c)));
            }
        }
        let held_by = std::cell::OnceCell::new();
        let decide = |d: &DesiredRow| match existing.rows.get(&(d.table, d.id.as_str())) {
            None => Decision::Insert(
                match &d.parent {
                    None => ParentLink::None,
                    Some(p) => link(p),
                },
                d.refs.iter().map(target).collect(),
            ),
            // A refused object's row is not another object's to take over
            // (validation keeps their ids apart; this is the last guard).
            Some(e) if protected.contains(owner_of(e)) => Decision::Keep,
            Some(e) => {
                let moved = d.parent.as_ref().and_then(|p| match link(p) {
                    ParentLink::Existing(u) if attached.contains(&(u, e.uuid)) => None,
                    to @ (ParentLink::Existing(_) | ParentLink::New) => {
                        let from = held_by.get_or_init(|| existing.parents()).get(&e.uuid).copied();
                        Some(Box::new(Move { from, to, parent: p.clone() }))
                    }
                    ParentLink::None | ParentLink::Missing => None,
                });
                let mut old = Row::new();
                let mut new = Row::new();
                let mut refs = vec![];
                // Values are copied only where they differ.
                let mut differs = |c: &str, v: &Value| {
                    let cur = e.get(c);
                    if !cur.is_some_and(|cur| same_value(cur, v)) {
                        old.insert(c.to_string(), cur.cloned().unwrap_or_else(Value::empty_set));
                        new.insert(c.to_string(), v.clone());
                    }
                };
                for (c, v) in &d.columns {
                    differs(c, v);
                }
                for r in &d.refs {
                    match target(r) {
                        Target::Existing(u) => differs(r.column, &Value::uuid(u)),
                        Target::Missing => differs(r.column, &Value::empty_set()),
                        Target::New => {
                            // Filled with the insert's named uuid by `to_ops`.
                            differs(r.column, &Value::named(&r.id));
                            refs.push(r.clone());
                        }
                    }
                }
                if new.is_empty() && moved.is_none() {
                    return Decision::Keep;
                }
                Decision::Update(Change::Update {
                    table: d.table,
                    id: d.id.clone(),
                    owner: d.owner.clone(),
                    uuid: e.uuid,
                    old,
                    new,
                    refs,
                    moved,
                })
            }
        };
        let decisions: Vec<Decision> = desired.iter().map(decide).collect();
        let stale =
            existing.rows.iter().filter(|((t, id), _)| !wanted.contains(&(*t, *id))).map(|((t, id), r)| (*t, *id, r));
        let dups = existing.duplicates.iter().map(|(t, id, r)| (*t, *id, r));
        let gone: Vec<_> = stale.chain(dups).filter(|(_, _, r)| !protected.contains(owner_of(r))).collect();
        let parents = if gone.iter().any(|(t, _, _)| !is_root(t)) { existing.parents() } else { HashMap::new() };
        let gone: Vec<Change> = gone
            .into_iter()
            .map(|(table, id, e)| Change::Delete {
                table,
                id: id.to_string(),
                owner: owner_of(e).to_string(),
                uuid: e.uuid,
                parent: parents.get(&e.uuid).copied(),
            })
            .collect();
        (decisions, gone)
    };
    // Taken: by any row the cache shows, which includes every row this plan
    // deletes (ovsdb-server refuses a uuid deleted in the same transaction).
    let guard = |d: &DesiredRow| {
        let u = row_uuid(d.table, &d.id);
        if existing.cache.row(d.table, u).is_some() {
            InsertGuard::Wait
        } else {
            InsertGuard::Uuid(u)
        }
    };
    let mut changes: Vec<Change> = desired
        .into_iter()
        .zip(decisions)
        .filter_map(|(mut d, decision)| match decision {
            Decision::Insert(link, targets) => {
                // Refs to existing rows become their uuids; the rest stay
                // pending for `to_ops`.
                let refs = std::mem::take(&mut d.refs);
                for (r, t) in refs.into_iter().zip(targets) {
                    match t {
                        Target::Existing(u) => {
                            d.columns.insert(r.column.to_string(), Value::uuid(u));
                        }
                        Target::Missing => {
                            d.columns.insert(r.column.to_string(), Value::empty_set());
                        }
                        Target::New => d.refs.push(r),
                    }
                }
                let guard = guard(&d);
                Some(Change::Insert { row: d, link, guard })
            }
            Decision::Update(c) => Some(c),
            Decision::Keep => None,
        })
        .chain(gone)
        .collect();
    changes.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Plan { changes }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The owners with changes, parents first: VPCs, subnets, then pods.
    /// Owner tags no kind of this version writes (rows of someone's making) come first.
    pub fn owners(&self) -> Vec<String> {
        let rank = |o: &str| ObjectKey::from_owner_tag(o).map(|k| k.kind);
        let mut v: Vec<String> = self.changes.iter().map(|c| c.owner().to_string()).collect();
        v.sort_by(|a, b| (rank(a), a).cmp(&(rank(b), b)));
        v.dedup();
        v
    }

    /// The part of the plan that belongs to one owner.
    pub fn only(&self, owner: &str) -> Plan {
        Plan { changes: self.changes.iter().filter(|c| c.owner() == owner).cloned().collect() }
    }

    /// The operations of one transaction applying this plan. Every insert
    /// carries its [`InsertGuard`] (a child inserted with its parent is also
    /// covered by the parent's), so a replay cannot insert twice.
    pub fn to_ops(&self) -> Result<Vec<Op>, PlanError> {
        self.clone().into_ops()
    }

    /// As [`Plan::to_ops`], moving the rows into the operations.
    pub fn into_ops(self) -> Result<Vec<Op>, PlanError> {
        // One insert per row id: a second would be refused on its uuid (the
        // first's), which reads as a replay; refusing the plan instead sends
        // the pass object by object, where the NB's refusal stays with one.
        let mut inserted: HashMap<(&str, String), String> = HashMap::new();
        for (i, c) in self.changes.iter().enumerate() {
            if let Change::Insert { row: r, .. } = c {
                if inserted.insert((r.table, r.id.clone()), format!("row{i}")).is_some() {
                    return Err(PlanError::RepeatedInsert { table: r.table.into(), id: r.id.clone() });
                }
            }
        }
        let deleted: BTreeSet<Uuid> = self
            .changes
            .iter()
            .filter_map(|c| if let Change::Delete { uuid, .. } = c { Some(*uuid) } else { None })
            .collect();
        // Children of parents inserted in this transaction go into the parent's row.
        let mut child_refs: HashMap<(&str, String), BTreeMap<&str, Vec<Atom>>> = HashMap::new();
        // Waits first: a `wait` sees the transaction's own earlier inserts,
        // so one placed after its row's insert would fail on it.
        let mut guards = vec![];
        let mut ops = vec![];
        let mut mutations = vec![];
        for (i, c) in self.changes.into_iter().enumerate() {
            match c {
                Change::Insert { row: r, link, guard } => {
                    let name = format!("row{i}");
                    let missing = || PlanError::MissingParent {
                        table: r.table.into(),
                        id: r.id.clone(),
                        parent_table: r.parent.as_ref().map_or("", |p| p.table).into(),
                        parent_id: r.parent.as_ref().map_or("", |p| p.id.as_str()).into(),
                    };
                    let wait = (guard == InsertGuard::Wait).then(|| wait_for_id(&r));
                    match (&link, &r.parent) {
                        (ParentLink::New, Some(p)) => {
                            if !inserted.contains_key(&(p.table, p.id.clone())) {
                                return Err(missing());
                            }
                            // Covered by the parent's guard.
                            child_refs
                                .entry((p.table, p.id.clone()))
                                .or_default()
                                .entry(p.column)
                                .or_default()
                                .push(Atom::NamedUuid(name.clone()));
                        }
                        (ParentLink::Existing(uuid), Some(p)) => {
                            guards.extend(wait);
                            mutations.push(Op::Mutate {
                                table: p.table.to_string(),
                                conds: vec![Cond::uuid(*uuid)],
                                mutations: vec![Mutation::insert(p.column, Value::named(&name))],
                            });
                        }
                        (ParentLink::None, None) => guards.extend(wait),
                        _ => return Err(missing()),
                    }
                    let refs = child_refs.remove(&(r.table, r.id.clone()));
                    let mut row = r.columns;
                    for rr in &r.refs {
                        row.insert(rr.column.to_string(), named_ref(&inserted, r.table, &r.id, rr)?);
                    }
                    for (column, atoms) in refs.into_iter().flatten() {
                        row.insert(column.to_string(), Value::Set(atoms));
                    }
                    let uuid = match guard {
                        InsertGuard::Uuid(u) => Some(u),
                        InsertGuard::Wait => None,
                    };
                    ops.push(Op::Insert { table: r.table.to_string(), row, uuid_name: Some(name), uuid });
                }
                Change::Update { table, id, uuid, mut new, refs, moved, .. } => {
                    for rr in &refs {
                        new.insert(rr.column.to_string(), named_ref(&inserted, table, &id, rr)?);
                    }
                    if !new.is_empty() {
                        ops.push(Op::Update { table: table.to_string(), conds: vec![Cond::uuid(uuid)], row: new });
                    }
                    if let Some(m) = moved {
                        let p = &m.parent;
                        if let Some((ft, fu, fc)) = m.from.filter(|(_, fu, _)| !deleted.contains(fu)) {
                            mutations.push(Op::Mutate {
                                table: ft.to_string(),
                                conds: vec![Cond::uuid(fu)],
                                mutations: vec![Mutation::delete(fc, Value::uuid(uuid))],
                            });
                        }
                        match m.to {
                            ParentLink::Existing(pu) => mutations.push(Op::Mutate {
                                table: p.table.to_string(),
                                conds: vec![Cond::uuid(pu)],
                                mutations: vec![Mutation::insert(p.column, Value::uuid(uuid))],
                            }),
                            ParentLink::New if inserted.contains_key(&(p.table, p.id.clone())) => child_refs
                                .entry((p.table, p.id.clone()))
                                .or_default()
                                .entry(p.column)
                                .or_default()
                                .push(Atom::Uuid(uuid)),
                            ParentLink::New | ParentLink::None | ParentLink::Missing => {
                                return Err(PlanError::MissingParent {
                                    table: table.into(),
                                    id,
                                    parent_table: p.table.into(),
                                    parent_id: p.id.clone(),
                                })
                            }
                        }
                    }
                }
                Change::Delete { table, uuid, parent, .. } => {
                    if is_root(table) {
                        ops.push(Op::Delete { table: table.to_string(), conds: vec![Cond::uuid(uuid)] });
                    } else if let Some((pt, pu, pc)) = parent.filter(|(_, pu, _)| !deleted.contains(pu)) {
                        // Detaching a child deletes it (OVSDB garbage collection).
                        mutations.push(Op::Mutate {
                            table: pt.to_string(),
                            conds: vec![Cond::uuid(pu)],
                            mutations: vec![Mutation::delete(pc, Value::uuid(uuid))],
                        });
                    }
                }
            }
        }
        guards.extend(ops);
        guards.extend(mutations);
        Ok(guards)
    }
}

/// The named uuid of the insert `rr` points at (`row`'s table and id for
/// the error).
fn named_ref(
    inserted: &HashMap<(&str, String), String>,
    table: &str,
    id: &str,
    rr: &RowRef,
) -> Result<Value, PlanError> {
    match inserted.get(&(rr.table, rr.id.clone())) {
        Some(name) => Ok(Value::named(name)),
        None => Err(PlanError::MissingRef {
            table: table.into(),
            id: id.into(),
            column: rr.column.into(),
            target_table: rr.table.into(),
            target_id: rr.id.clone(),
        }),
    }
}

/// The [`InsertGuard::Wait`] for inserting `r`: no owned row carries its id
/// yet (the rows [`Existing`] considers: one whose `vendor` tag was removed
/// by hand is someone else's, and must not block the insert forever).
fn wait_for_id(r: &DesiredRow) -> Op {
    let tags = Value::str_map([(VENDOR_KEY, VENDOR), (ID_KEY, r.id.as_str())]);
    Op::wait_absent(r.table, vec![Cond::includes("external_ids", tags)])
}

impl fmt::Display for Plan {
    /// One line per change, grouped by table, in a stable order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = "";
        for c in &self.changes {
            let table = c.table();
            if table != last {
                writeln!(f, "{table}:")?;
                last = table;
            }
            match c {
                Change::Insert { row: r, .. } => {
                    write!(f, "  + {}", r.id)?;
                    for (k, v) in r.columns.iter().filter(|(k, _)| *k != "external_ids") {
                        write!(f, " {k}={v}")?;
                    }
                    writeln!(f)?;
                }
                Change::Update { id, old, new, moved, .. } => {
                    write!(f, "  ~ {id}")?;
                    for (k, v) in new {
                        write!(f, " {k}: {} -> {v}", old[k])?;
                    }
                    if let Some(m) = moved {
                        write!(f, " moved to {} {}", m.parent.table, m.parent.id)?;
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
