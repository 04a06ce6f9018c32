//! The Kubernetes side: raw REST list+watch on reqwest (no kube-rs, no
//! controller framework).
//!
//! - `watcher`: the pure list+watch state machine and its backoff layer;
//! - `client`: kubeconfig / in-cluster credentials and the REST calls;
//! - `driver`: runs the state machine against a `KubeClient`;
//! - `leader`: Lease-based leader election as a pure state machine;
//! - `crds`: the CRD manifests of `config/crds/`, embedded.
//!
//! The custom resources, status and the election's driver come next.

pub mod client;
pub mod crds;
pub mod driver;
pub mod leader;
pub mod watcher;
