//! Where each kind lives in the Kubernetes API: the one dispatch from a
//! [`Kind`] to its REST paths, which each kind's home defines
//! (`kinds::<kind>::{API_PATH, object_path}`).

use crate::model::object::{Kind, ObjectKey};

use crate::kinds;

pub const VPCS: &str = kinds::vpc::API_PATH;
pub const SUBNETS: &str = kinds::subnet::API_PATH;
pub const PODS: &str = kinds::pod::API_PATH;

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
        Kind::Vpc => kinds::vpc::object_path(&object.name),
        Kind::Subnet => kinds::subnet::object_path(&object.name),
        Kind::Pod => kinds::pod::object_path(ns, &object.name),
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
