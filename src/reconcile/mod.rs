//! Reconciliation: validated model → desired NB rows → diff against the
//! cache → one transaction; repeated until the cache shows no difference.
//!
//! If the northbound database refuses the transaction (say a router port
//! name is already taken by a row someone else made), the plan is applied
//! object by object instead, so the refusal stays with the object that
//! caused it and every other object still converges.

pub mod desired;
pub mod diff;

use std::collections::BTreeSet;
use std::time::Duration;

use crate::model::validate::{validate, Model, Rejection};
use crate::model::{NamedSubnet, NamedVpc};
use crate::ovsdb::{Client, ClientError, Op, Outcome};
use desired::{desired_rows, owner};
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

/// What one pass decided: the valid model, the refusals, and the plan.
pub struct Pass {
    pub model: Model,
    pub rejected: Vec<Rejection>,
    pub plan: Plan,
    pub existing: Existing,
}

/// Pure: specs + cache → plan. Rows of refused objects are left as they are.
pub fn plan(vpcs: &[NamedVpc], subnets: &[NamedSubnet], client: &Client) -> Pass {
    plan_without(vpcs, subnets, client, &[])
}

/// As [`plan`], with `failed` (refused by the NB this pass) also left alone.
fn plan_without(vpcs: &[NamedVpc], subnets: &[NamedSubnet], client: &Client, failed: &[Rejection]) -> Pass {
    let (model, mut rejected) = validate(vpcs, subnets);
    rejected.extend(failed.iter().cloned());
    let protected: BTreeSet<String> = rejected.iter().map(|r| owner(r.kind, &r.name)).collect();
    let desired: Vec<_> = desired_rows(&model).into_iter().filter(|r| !protected.contains(&r.owner)).collect();
    let existing = Existing::from_cache(&client.cache());
    let plan = diff(&desired, &existing, &protected);
    Pass { model, rejected, plan, existing }
}

/// Commits `plan` in one transaction; returns the number of changes.
async fn commit(client: &Client, plan: &Plan, existing: &Existing) -> Result<usize, ReconcileError> {
    let mut ops = vec![Op::Comment(format!("ovn-vpcd: {} changes", plan.changes.len()))];
    ops.extend(plan.to_ops(existing)?);
    match client.transact_retrying(&ops, Duration::from_secs(30)).await? {
        Outcome::Committed(_) => {
            tracing::info!(changes = plan.changes.len(), "reconcile transaction committed");
            Ok(plan.changes.len())
        }
        Outcome::AlreadyApplied => {
            tracing::info!("reconcile found its inserts already present; re-planning");
            Ok(0)
        }
    }
}

/// `Rejection::field` of an object whose rows the northbound database refused
/// (it passed validation).
pub const NB_REFUSAL_FIELD: &str = "northbound";

fn nb_refusal(owner: &str, e: &ReconcileError) -> Rejection {
    let (kind, name) = owner.split_once('/').unwrap_or(("Object", owner));
    let kind = if kind == "Vpc" { "Vpc" } else { "Subnet" };
    Rejection {
        kind,
        name: name.into(),
        field: NB_REFUSAL_FIELD.into(),
        reason: format!("rows refused by the NB: {e}"),
    }
}

fn is_refusal(e: &ReconcileError) -> bool {
    matches!(e, ReconcileError::Plan(_) | ReconcileError::Client(ClientError::Txn(_)))
}

/// Applies until converged. Returns the refusals and the number of changes made.
pub async fn apply(
    vpcs: &[NamedVpc],
    subnets: &[NamedSubnet],
    client: &Client,
) -> Result<(Vec<Rejection>, usize), ReconcileError> {
    let mut applied = 0;
    let mut failed: Vec<Rejection> = vec![];
    for round in 0..3 {
        let mut pass = plan_without(vpcs, subnets, client, &failed);
        if pass.plan.is_empty() {
            return Ok((pass.rejected, applied));
        }
        if round > 0 {
            // The monitor may still be delivering our last commit: give it a moment.
            let mut changes = client.subscribe_changes();
            let settled = tokio::time::timeout(Duration::from_secs(2), async {
                loop {
                    if changes.changed().await.is_err() {
                        return false;
                    }
                    pass = plan_without(vpcs, subnets, client, &failed);
                    if pass.plan.is_empty() {
                        return true;
                    }
                }
            })
            .await;
            if settled == Ok(true) {
                return Ok((pass.rejected, applied));
            }
        }
        match commit(client, &pass.plan, &pass.existing).await {
            Ok(n) => applied += n,
            Err(e) if is_refusal(&e) => {
                tracing::warn!(error = %e, "transaction refused; applying object by object");
                for o in pass.plan.owners() {
                    let fresh = plan_without(vpcs, subnets, client, &failed);
                    let part = fresh.plan.only(&o);
                    if part.is_empty() {
                        continue;
                    }
                    match commit(client, &part, &fresh.existing).await {
                        Ok(n) => applied += n,
                        Err(e) if is_refusal(&e) => {
                            let r = nb_refusal(&o, &e);
                            tracing::error!(refused = %r, "object refused by the northbound database");
                            failed.push(r);
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    let pass = plan_without(vpcs, subnets, client, &failed);
    if pass.plan.is_empty() {
        Ok((pass.rejected, applied))
    } else {
        Err(ReconcileError::NotConverged(3))
    }
}
