//! Where each kind lives in the Kubernetes API: the one place that maps a
//! [`Kind`] to its REST paths.

use crate::model::object::{Kind, ObjectKey};

pub const VPCS: &str = "/apis/kubeovn.io/v1/vpcs";
pub const SUBNETS: &str = "/apis/kubeovn.io/v1/subnets";
pub const PODS: &str = "/api/v1/pods";

/// The collection a kind is listed and watched at (all namespaces).
pub fn api_path(kind: Kind) -> &'static str {
    match kind {
        Kind::Vpc => VPCS,
        Kind::Subnet => SUBNETS,
        Kind::Pod => PODS,
    }
}

/// One object's path.
pub fn object_path(object: &ObjectKey) -> String {
    let ns = object.namespace.as_deref().unwrap_or("");
    match object.kind {
        Kind::Vpc => format!("{VPCS}/{}", object.name),
        Kind::Subnet => format!("{SUBNETS}/{}", object.name),
        Kind::Pod => format!("/api/v1/namespaces/{ns}/pods/{}", object.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(object_path(&ObjectKey::vpc("v")), "/apis/kubeovn.io/v1/vpcs/v");
        assert_eq!(object_path(&ObjectKey::subnet("s")), "/apis/kubeovn.io/v1/subnets/s");
        assert_eq!(object_path(&ObjectKey::pod("ns1/web")), "/api/v1/namespaces/ns1/pods/web");
    }
}
