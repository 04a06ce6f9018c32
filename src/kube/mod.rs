//! The Kubernetes side: raw REST list+watch on reqwest (no kube-rs, no
//! controller framework).
//!
//! - `watcher`: the pure list+watch state machine and its backoff layer;
//! - `client`: kubeconfig / in-cluster credentials and the REST calls;
//! - `driver`: runs the state machine against a `KubeClient`;
//! - `leader`: Lease-based leader election as a pure state machine;
//! - `lease`: its I/O driver (`LeaseLock`, `run_election`, `release`), the
//!   only writer of the Lease;
//! - `crds`: the CRD manifests of `config/crds/`, embedded;
//! - `status`: each object's `status` (conditions `Validated` and `Ready`,
//!   Subnet address counts, Vpc router and subnets) as a merge patch computed
//!   purely, written to `/status` only when it changed;
//! - `defaults`: Kube-OVN's defaults added to an accepted Subnet's spec
//!   (only fields that are absent), as a merge patch computed purely;
//! - `events`: Warning Events for rejected objects, posted only when the
//!   status write changed the verdict (no duplicates for an unchanged one);
//! - `resources`: the store of the resources as listed and watched, and the
//!   verdict each resource's status shows after a pass;
//! - `merge`: the resources merged with the TOML (a TOML name wins), each
//!   read only through what merging reads (so a status written back does
//!   not merge again);
//! - `keyed`: a kind's objects by key with the log of the keys changed (the
//!   store's maps: a reader asks what changed instead of walking all);
//! - `paths`: the one dispatch from a kind to its REST paths (each kind's
//!   home, `kinds::<kind>`, defines them);
//! - `objects`: the reconciler of Kubernetes objects (Deployments,
//!   StatefulSets, ConfigMaps) rendered from our resources: a pure diff of
//!   owned fields and a thin driver.
//!

pub mod client;
pub mod crds;
pub mod defaults;
pub mod driver;
pub mod events;
pub mod keyed;
pub mod leader;
pub mod lease;
pub mod merge;
pub mod objects;
pub mod paths;
pub mod resources;
pub mod status;
pub mod watcher;

/// RFC 7386 merge patch, as the API server applies it: for tests of the
/// patches the daemon sends.
#[cfg(test)]
pub(crate) fn apply_merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    apply_merge_patch(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}
