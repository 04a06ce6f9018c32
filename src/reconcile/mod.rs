//! Reconciliation: validated model → desired NB rows → diff against the
//! cache → one transaction; repeated until the cache shows no difference.

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
    let (model, rejected) = validate(vpcs, subnets);
    let protected: BTreeSet<String> = rejected.iter().map(|r| owner(r.kind, &r.name)).collect();
    let desired = desired_rows(&model);
    let existing = Existing::from_cache(&client.cache());
    let plan = diff(&desired, &existing, &protected);
    Pass { model, rejected, plan, existing }
}

/// Applies until converged. Returns the refusals and the number of changes made.
pub async fn apply(
    vpcs: &[NamedVpc],
    subnets: &[NamedSubnet],
    client: &Client,
) -> Result<(Vec<Rejection>, usize), ReconcileError> {
    let mut applied = 0;
    for round in 0..3 {
        let mut pass = plan(vpcs, subnets, client);
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
                    pass = plan(vpcs, subnets, client);
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
        let mut ops = vec![Op::Comment(format!("ovn-vpcd: {} changes", pass.plan.changes.len()))];
        ops.extend(pass.plan.to_ops(&pass.existing)?);
        match client.transact_retrying(&ops, Duration::from_secs(30)).await? {
            Outcome::Committed(_) => applied += pass.plan.changes.len(),
            Outcome::AlreadyApplied => tracing::info!("reconcile found its inserts already present; re-planning"),
        }
        tracing::info!(changes = pass.plan.changes.len(), "reconcile transaction committed");
    }
    let pass = plan(vpcs, subnets, client);
    if pass.plan.is_empty() {
        Ok((pass.rejected, applied))
    } else {
        Err(ReconcileError::NotConverged(3))
    }
}
