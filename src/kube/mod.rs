//! The Kubernetes side: raw REST list+watch on reqwest (no kube-rs, no
//! controller framework).
//!
//! - `watcher`: the pure list+watch state machine and its backoff layer;
//! - `client`: kubeconfig / in-cluster credentials and the REST calls;
//! - `driver`: runs the state machine against a `KubeClient`;
//! - `leader`: Lease-based leader election as a pure state machine;
//! - `lease`: its I/O driver (`LeaseLock`, `run_election`, `release`), the
//!   only writer of the Lease;
//! - `crds`: the CRD manifests of `config/crds/`, embedded.
//!
//! The custom resources and status come next.

pub mod client;
pub mod crds;
pub mod driver;
pub mod leader;
pub mod lease;
pub mod watcher;
