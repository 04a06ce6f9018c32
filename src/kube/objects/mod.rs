//! A reconciler for Kubernetes objects (Deployments, StatefulSets,
//! ConfigMaps, in any namespace), the counterpart of the NB one
//! (`reconcile/`) and built the same way: desired objects rendered purely
//! from their owners' specs ([`DesiredObject`]), a pure [`diff`] against
//! what the watches show, and a thin driver ([`run`]) that sends the
//! resulting creates, merge patches and deletes and reports an [`Outcome`]
//! per desired object.
//!
//! - `kind`: the kinds as a type ([`ObjectKind`]: apiVersion, kind, REST
//!   paths, scope), an object's identity ([`ObjectId`]), the owner
//!   ([`Owner`]: a resource's [`OwnerRef`] or the anchor) and the
//!   `app.kubernetes.io/managed-by` label;
//! - `anchor`: the owner of objects no resource holds (pure);
//! - `diff`: ownership, owned fields and the [`Action`]s (pure);
//! - `pace`: per object, when a write may be sent and what its answer means
//!   (pure, on tokio's clock);
//! - `driver`: the watches, the store, leadership, the writes.
//!
//! Invariants (kept by `diff.rs` and `driver.rs`):
//! - An object is ours only if it carries `app.kubernetes.io/managed-by:
//!   ovn-vpcd` *and* its controller owner reference names a kind the
//!   reconciler renders from — or, the one other case, the anchor of its
//!   namespace (`anchor.rs`: the ConfigMap `ovn-vpcd-toml-gateways` owning
//!   what the TOML renders, itself ours with the label, the anchor
//!   annotation and no controller); nothing else is ever patched or deleted, and a
//!   desired object whose identity is taken by a foreign one is refused,
//!   saying why. Taking the label off an object (or orphaning it with
//!   `--cascade=orphan`) hands it over: it is not adopted back.
//! - Only the fields a desired object renders are compared and written, as
//!   a merge patch of just the differing ones carrying the object's
//!   `resourceVersion`: defaults the API server adds, the controllers'
//!   status, a user's extra labels, annotations or data keys stay, and a
//!   concurrent write is a 409 (re-read), never overwritten.
//! - Every managed object but an anchor is created with its owner's
//!   reference (`controller`, `blockOwnerDeletion`), so deleting the owner
//!   deletes it through the API server's garbage collector even while the
//!   daemon is down; an owner reference never crosses namespaces. An
//!   object owned by the anchor waits until the anchor is there and ours,
//!   and the anchor is deleted once it owns nothing desired.
//! - Deletes carry the uid and resourceVersion read as preconditions.
//! - Only the leader writes, only once every kind was listed, with at most
//!   one request in flight per object, and not again before the watch shows
//!   the previous write's effect.
//!
//! Run by the daemon (`daemon::nat`) for the NAT gateways' workloads.

pub mod anchor;
mod diff;
mod driver;
mod kind;
mod pace;

pub use diff::{contains, diff, foreign_reason, owned_patch, Action, Desired, DesiredObject};
pub use driver::{run, ObjectsConfig, Outcome, Outcomes};
pub use kind::{
    controller_of, group_of, has_managed_by, ObjectId, ObjectKind, Owner, OwnerKind, OwnerRef, MANAGED_BY,
    MANAGED_BY_KEY, MANAGED_BY_SELECTOR,
};

#[cfg(test)]
mod tests;
