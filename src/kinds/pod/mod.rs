//! A `Pod` (`v1`, namespaced): a switch port on its subnet's switch with an
//! address from the IPAM (`ipam`, driven by `daemon::pods`). It has no spec
//! of ours to validate and no `status` of ours: which subnet it wants, the
//! address it asks for and its verdict (the CNI's annotations) are
//! [`cni`]; the addresses of its Multus attachments (no NB rows) are
//! [`attach`].

pub mod attach;
pub mod cni;
pub mod kept;
pub mod rows;

/// The collection pods are listed and watched at (all namespaces).
pub const API_PATH: &str = "/api/v1/pods";

/// One pod's path.
pub fn object_path(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/pods/{name}")
}
