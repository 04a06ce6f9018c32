//! Reconciliation: validated model → desired NB rows → diff against the
//! cache → one transaction; repeated until the cache shows no difference.
//!
//! A pass covers a [`Scope`]: everything, or only some objects (a config
//! reload re-derives and diffs just the objects whose validated spec
//! changed; each object's rows depend on that object alone).
//!
//! If the northbound database refuses the transaction (say a router port
//! name is already taken by a row someone else made), the plan is applied
//! object by object instead, so the refusal stays with the object that
//! caused it and every other object still converges.
//!
//! Invariants:
//! - Rows owned by an object refused this pass are neither updated nor
//!   deleted, however it was refused (validation, a spec that does not
//!   decode, the NB): the refusals are the diff's `protected` owners. A
//!   refused object's rows keep their names and networks: no other object's
//!   row of the same id updates them (`diff`), and no subnet overlapping them
//!   joins their router (`model::validate`).
//! - When a refusal ends, the object is re-planned ([`protection_changed`]);
//!   a finalizer is released only once the NB shows none of the object's
//!   rows ([`owns_rows`]).
//! - A scoped pass plans exactly what a full pass would plan for the objects
//!   in its scope (`desired`; tested by
//!   `diff::tests::a_scoped_plan_equals_the_full_plan_for_the_changed_objects`).
//! - `apply` repeats until a fresh diff is empty, or until its own commit is
//!   provably the only update since the plan.

pub mod desired;
pub mod diff;
pub mod nb_state;
pub mod removal;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::model::derived::Derived;
use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::{validate_in, Model, Rejection};
use crate::model::{NamedSubnet, NamedVpc};
use crate::ovsdb::{Cache, Client, ClientError, Op, OpResult, Outcome};
use desired::desired_rows_in;
use diff::{diff, Existing, Plan, PlanError};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("not converged after {0} transactions; the NB keeps changing under us")]
    NotConverged(usize),
}

/// Which objects a pass covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Owners(BTreeSet<ObjectKey>),
}

/// The objects added, removed or changed between two validated models and
/// their derived facts, and the objects whose rows use a changed one.
pub fn changed_owners(old: (&Model, &Derived), new: (&Model, &Derived)) -> BTreeSet<ObjectKey> {
    let ((old, old_derived), (new, new_derived)) = (old, new);
    fn differ<T: PartialEq>(
        key: fn(&str) -> ObjectKey,
        a: &std::collections::BTreeMap<String, T>,
        b: &std::collections::BTreeMap<String, T>,
    ) -> Vec<ObjectKey> {
        // Both ordered by name: one walk, side by side (pods are many).
        use std::cmp::Ordering;
        let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
        let mut out = vec![];
        loop {
            match (a.peek().copied(), b.peek().copied()) {
                (None, None) => return out,
                (Some((x, vx)), Some((y, vy))) => match x.cmp(y) {
                    Ordering::Equal => {
                        if vx != vy {
                            out.push(key(x));
                        }
                        a.next();
                        b.next();
                    }
                    Ordering::Less => {
                        out.push(key(x));
                        a.next();
                    }
                    Ordering::Greater => {
                        out.push(key(y));
                        b.next();
                    }
                },
                (Some((x, _)), None) => {
                    out.push(key(x));
                    a.next();
                }
                (None, Some((y, _))) => {
                    out.push(key(y));
                    b.next();
                }
            }
        }
    }
    let mut out: BTreeSet<ObjectKey> = differ(|n| ObjectKey::vpc(n), &old.vpcs, &new.vpcs).into_iter().collect();
    out.extend(differ(|n| ObjectKey::subnet(n), &old.subnets, &new.subnets));
    // Persistent maps: only the nodes the two versions do not share are walked.
    out.extend(old_derived.pods.diff(&new_derived.pods).map(|d| match d {
        imbl::ordmap::DiffItem::Add(k, _) | imbl::ordmap::DiffItem::Remove(k, _) => ObjectKey::pod(k),
        imbl::ordmap::DiffItem::Update { new: (k, _), .. } => ObjectKey::pod(k),
    }));
    // The NAT gateway kinds have no rows yet: a change re-reports their status.
    out.extend(differ(|n| ObjectKey::cluster(Kind::VpcNatGateway, n), &old.nat_gateways, &new.nat_gateways));
    out.extend(differ(|n| ObjectKey::cluster(Kind::IptablesEip, n), &old.eips, &new.eips));
    out.extend(differ(|n| ObjectKey::cluster(Kind::IptablesFipRule, n), &old.fip_rules, &new.fip_rules));
    out.extend(differ(|n| ObjectKey::cluster(Kind::IptablesDnatRule, n), &old.dnat_rules, &new.dnat_rules));
    out.extend(differ(|n| ObjectKey::cluster(Kind::IptablesSnatRule, n), &old.snat_rules, &new.snat_rules));
    // A pod's port depends on its subnet too (its DHCP options).
    let subnets: BTreeSet<&str> = out.iter().filter(|o| o.kind == Kind::Subnet).map(|o| o.name.as_str()).collect();
    if subnets.is_empty() {
        return out;
    }
    let pods: Vec<ObjectKey> = new_derived
        .pods
        .values()
        .filter(|p| subnets.contains(p.subnet.as_str()))
        .map(|p| ObjectKey::pod(&p.key))
        .collect();
    out.extend(pods);
    out
}

/// The owners whose protection changed between two sets of refusals: a
/// refused object's rows are left alone, so when it is no longer refused
/// (valid again, or gone) its rows must be planned anew.
pub fn protection_changed(old: &[Rejection], new: &[Rejection]) -> BTreeSet<ObjectKey> {
    let set = |r: &[Rejection]| r.iter().map(|r| r.object.clone()).collect::<BTreeSet<_>>();
    let (a, b) = (set(old), set(new));
    a.symmetric_difference(&b).cloned().collect()
}

/// Whether any row of `object` is still in the NB.
pub fn owns_rows(cache: &Cache, object: &ObjectKey) -> bool {
    let owner = object.owner_tag();
    crate::nb::rows::owned_tables().filter_map(|t| cache.table(t)).any(|t| {
        t.by_external_id(crate::nb::rows::OWNER_KEY, &owner)
            .any(|r| r.external_id(crate::nb::rows::VENDOR_KEY) == Some(crate::nb::rows::VENDOR))
    })
}

/// What one plan decided, with the model it was made from.
pub struct Pass {
    pub model: Model,
    pub rejected: Vec<Rejection>,
    pub plan: Plan,
}

/// Validates and plans everything against the client's cache (`ovn-vpcd plan`).
pub fn plan(vpcs: &[NamedVpc], subnets: &[NamedSubnet], client: &Client) -> Pass {
    let cache = client.cache();
    let (model, rejected) = validate_in(vpcs, subnets, &nb_state::nb_state(&cache));
    let plan = plan_in(&model, &Derived::default(), &rejected, &cache, &Scope::All);
    Pass { model, rejected, plan }
}

/// Pure: the plan for `scope`. Rows of `rejected` objects are left as they are.
pub fn plan_in(model: &Model, derived: &Derived, rejected: &[Rejection], cache: &Cache, scope: &Scope) -> Plan {
    let protected: BTreeSet<String> = rejected.iter().map(|r| r.object.owner_tag()).collect();
    let desired: Vec<_> =
        desired_rows_in(model, derived, scope).into_iter().filter(|r| !protected.contains(&r.owner)).collect();
    diff(desired, &Existing::new(cache, scope), &protected)
}

/// Plans under one read of the cache; returns the plan and the cache
/// generation it was made at.
fn plan_now(model: &Model, derived: &Derived, rejected: &[Rejection], client: &Client, scope: &Scope) -> (Plan, u64) {
    let cache = client.cache();
    (plan_in(model, derived, rejected, &cache, scope), cache.generation)
}

/// How many times the monitor has been (re)loaded: a reconnect between two
/// readings of the generation means updates we cannot account for.
fn loads(client: &Client) -> u64 {
    let s = client.monitor_stats();
    s.full_loads.load(Ordering::Relaxed) + s.resumed.load(Ordering::Relaxed)
}

/// A committed transaction.
struct Committed {
    changes: usize,
    /// Every operation changed a row and an inserted or deleted row is
    /// already in the cache: so is the whole (one) update of this commit.
    reflected: bool,
}

/// Commits `plan` in one transaction.
async fn commit(client: &Client, plan: Plan) -> Result<Option<Committed>, ReconcileError> {
    let changes = plan.changes.len();
    let mut ops = vec![Op::Comment(format!("ovn-vpcd: {changes} changes"))];
    ops.extend(plan.into_ops()?);
    match client.transact_retrying(&ops, Duration::from_secs(30)).await? {
        Outcome::Committed(results) => {
            tracing::info!(changes, "reconcile transaction committed");
            Ok(Some(Committed { changes, reflected: reflected(&ops, &results) }))
        }
        Outcome::AlreadyApplied => {
            tracing::info!("reconcile found its inserts already present; re-planning");
            Ok(None)
        }
    }
}

/// `Client::transact` returns once the inserted and deleted rows show in the
/// cache. If every update, mutate and delete matched a row, the commit
/// produced exactly one monitor update, and an insert or delete in it
/// proves that update has arrived.
fn reflected(ops: &[Op], results: &[OpResult]) -> bool {
    let mut seen = false;
    for (op, r) in ops.iter().zip(results) {
        match op {
            Op::Insert { .. } => seen = true,
            Op::Delete { .. } if r.count == Some(1) => seen = true,
            Op::Update { .. } | Op::Mutate { .. } | Op::Delete { .. } if r.count != Some(1) => return false,
            _ => {}
        }
    }
    seen
}

/// `Rejection::field` of an object whose rows the northbound database refused
/// (it passed validation).
pub const NB_REFUSAL_FIELD: &str = "northbound";

/// The refusal of `owner`'s rows; `None` for an owner tag no kind of this
/// version writes (a stale row of someone's making: logged, never attributed).
fn nb_refusal(owner: &str, e: &ReconcileError) -> Option<Rejection> {
    let object = ObjectKey::from_owner_tag(owner)?;
    Some(Rejection::new(object, NB_REFUSAL_FIELD, format!("rows refused by the NB: {e}")))
}

fn is_refusal(e: &ReconcileError) -> bool {
    matches!(e, ReconcileError::Plan(_) | ReconcileError::Client(ClientError::Txn(_)))
}

/// The outcome of [`apply`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// Refused objects: by validation, then by the NB.
    pub rejected: Vec<Rejection>,
    pub changes: usize,
    /// `(from, to)`: the scope was planned at cache generation `from`, and
    /// every update up to `to` was this pass's own commit. So a pass covering
    /// everything at `from` leaves everything converged at `to`.
    pub own_updates: Option<(u64, u64)>,
}

/// Applies `scope` until converged.
pub async fn apply(
    model: &Model,
    derived: &Derived,
    rejected: &[Rejection],
    client: &Client,
    scope: &Scope,
) -> Result<Applied, ReconcileError> {
    let mut out = Applied { rejected: rejected.to_vec(), ..Applied::default() };
    for round in 0..3 {
        let loaded = loads(client);
        let (mut plan, generation) = plan_now(model, derived, &out.rejected, client, scope);
        if plan.is_empty() {
            if round == 0 {
                out.own_updates = Some((generation, generation));
            }
            return Ok(out);
        }
        if round > 0 {
            // The monitor may still be delivering our last commit: give it a moment.
            let mut changes = client.subscribe_changes();
            let settled = tokio::time::timeout(Duration::from_secs(2), async {
                loop {
                    if changes.changed().await.is_err() {
                        return false;
                    }
                    plan = plan_now(model, derived, &out.rejected, client, scope).0;
                    if plan.is_empty() {
                        return true;
                    }
                }
            })
            .await;
            if settled == Ok(true) {
                return Ok(out);
            }
        }
        let owners = plan.owners();
        match commit(client, plan).await {
            Ok(Some(c)) => {
                out.changes += c.changes;
                // Our one update is in, and nothing else arrived since the
                // plan: the cache is the plan applied, so nothing is left.
                if round == 0 && c.reflected && client.cache().generation == generation + 1 && loads(client) == loaded {
                    out.own_updates = Some((generation, generation + 1));
                    return Ok(out);
                }
            }
            // A guard found its rows present: re-plan from the cache. Again in
            // a later round (after the settle above), the cache does not show
            // what holds the uuid: one object must not stall every other.
            Ok(None) if round == 0 => {}
            Ok(None) => {
                tracing::warn!("an insert's uuid stays taken; applying object by object");
                by_object(model, derived, client, scope, owners, Stuck::RefuseIt, &mut out).await?;
            }
            Err(e) if is_refusal(&e) => {
                tracing::warn!(error = %e, "transaction refused; applying object by object");
                by_object(model, derived, client, scope, owners, Stuck::Replan, &mut out).await?;
            }
            Err(e) => return Err(e),
        }
    }
    if plan_now(model, derived, &out.rejected, client, scope).0.is_empty() {
        Ok(out)
    } else {
        Err(ReconcileError::NotConverged(3))
    }
}

/// What [`by_object`] makes of an owner's part that finds its rows present.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stuck {
    /// A later round re-plans it (the whole plan was refused for another reason).
    Replan,
    /// The whole plan already found its uuids taken after the settle: the
    /// cache does not show what holds them, so the owner is refused.
    RefuseIt,
}

/// Applies the plan one owner at a time, so the NB's refusal stays with the
/// owner that caused it.
async fn by_object(
    model: &Model,
    derived: &Derived,
    client: &Client,
    scope: &Scope,
    owners: Vec<String>,
    stuck: Stuck,
    out: &mut Applied,
) -> Result<(), ReconcileError> {
    for o in owners {
        let part = plan_now(model, derived, &out.rejected, client, scope).0.only(&o);
        if part.is_empty() {
            continue;
        }
        match commit(client, part).await {
            Ok(Some(c)) => out.changes += c.changes,
            Ok(None) if stuck == Stuck::Replan => {}
            Ok(None) => match ObjectKey::from_owner_tag(&o) {
                Some(object) => {
                    let r = Rejection::new(
                        object,
                        NB_REFUSAL_FIELD,
                        "rows refused by the NB: the uuid of a row it inserts is taken by a row not yet seen",
                    );
                    tracing::error!(refused = %r, "object refused by the northbound database");
                    out.rejected.push(r);
                }
                None => tracing::error!(owner = %o, "rows of an unknown owner keep finding their uuid taken"),
            },
            Err(e) if is_refusal(&e) => match nb_refusal(&o, &e) {
                Some(r) => {
                    tracing::error!(refused = %r, "object refused by the northbound database");
                    out.rejected.push(r);
                }
                None => tracing::error!(owner = %o, error = %e, "rows of an unknown owner refused"),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
