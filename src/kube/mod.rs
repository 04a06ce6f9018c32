//! The Kubernetes side: raw REST list+watch (no kube-rs). So far the
//! watcher's state machine; the HTTP client and resources come next.

pub mod watcher;
