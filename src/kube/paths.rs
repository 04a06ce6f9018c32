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
        Kind::VpcNatGateway => kinds::vpc_nat_gateway::API_PATH,
        Kind::IptablesEip => kinds::iptables_eip::API_PATH,
        Kind::IptablesFipRule => kinds::iptables_fip_rule::API_PATH,
        Kind::IptablesDnatRule => kinds::iptables_dnat_rule::API_PATH,
        Kind::IptablesSnatRule => kinds::iptables_snat_rule::API_PATH,
    }
}

/// One object's path.
pub fn object_path(object: &ObjectKey) -> String {
    let ns = object.namespace.as_deref().unwrap_or("");
    match object.kind {
        Kind::Vpc => kinds::vpc::object_path(&object.name),
        Kind::Subnet => kinds::subnet::object_path(&object.name),
        Kind::Pod => kinds::pod::object_path(ns, &object.name),
        Kind::VpcNatGateway => kinds::vpc_nat_gateway::object_path(&object.name),
        Kind::IptablesEip => kinds::iptables_eip::object_path(&object.name),
        Kind::IptablesFipRule => kinds::iptables_fip_rule::object_path(&object.name),
        Kind::IptablesDnatRule => kinds::iptables_dnat_rule::object_path(&object.name),
        Kind::IptablesSnatRule => kinds::iptables_snat_rule::object_path(&object.name),
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
        let of = |kind, name| object_path(&ObjectKey::cluster(kind, name));
        assert_eq!(of(Kind::VpcNatGateway, "g"), "/apis/kubeovn.io/v1/vpc-nat-gateways/g");
        assert_eq!(of(Kind::IptablesEip, "e"), "/apis/kubeovn.io/v1/iptables-eips/e");
        assert_eq!(of(Kind::IptablesFipRule, "f"), "/apis/kubeovn.io/v1/iptables-fip-rules/f");
        assert_eq!(of(Kind::IptablesDnatRule, "d"), "/apis/kubeovn.io/v1/iptables-dnat-rules/d");
        assert_eq!(of(Kind::IptablesSnatRule, "s"), "/apis/kubeovn.io/v1/iptables-snat-rules/s");
    }
}
