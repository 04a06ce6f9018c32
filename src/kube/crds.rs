//! The CRD manifests of `config/crds/`, embedded in the binary so that
//! `ovn-vpcd crds` prints exactly what the daemon expects.

use serde_json::Value as Json;

/// `(plural, YAML)` for the eight kubeovn.io/v1 kinds.
pub const CRDS: &[(&str, &str)] = &[
    ("vpcs", include_str!("../../config/crds/vpcs.yaml")),
    ("subnets", include_str!("../../config/crds/subnets.yaml")),
    ("vpc-nat-gateways", include_str!("../../config/crds/vpc-nat-gateways.yaml")),
    ("iptables-eips", include_str!("../../config/crds/iptables-eips.yaml")),
    ("iptables-fip-rules", include_str!("../../config/crds/iptables-fip-rules.yaml")),
    ("iptables-dnat-rules", include_str!("../../config/crds/iptables-dnat-rules.yaml")),
    ("iptables-snat-rules", include_str!("../../config/crds/iptables-snat-rules.yaml")),
    ("vpc-egress-gateways", include_str!("../../config/crds/vpc-egress-gateways.yaml")),
];

/// All manifests as one multi-document YAML stream.
pub fn yaml() -> String {
    CRDS.iter().map(|(_, y)| format!("---\n{}", y.trim_start_matches("---\n"))).collect()
}

/// One manifest as JSON.
pub fn to_json(yaml: &str) -> Result<Json, serde_yaml::Error> {
    serde_yaml::from_str(yaml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_is_a_kubeovn_v1_crd_with_status() {
        for (plural, y) in CRDS {
            let j = to_json(y).unwrap_or_else(|e| panic!("{plural}: {e}"));
            assert_eq!(j["kind"], "CustomResourceDefinition");
            assert_eq!(j["spec"]["group"], "kubeovn.io");
            assert_eq!(j["spec"]["names"]["plural"], *plural);
            assert_eq!(j["metadata"]["name"], format!("{plural}.kubeovn.io"));
            let v = &j["spec"]["versions"][0];
            assert_eq!(v["name"], "v1");
            assert!(v["subresources"]["status"].is_object(), "{plural}: status subresource");
        }
    }

    /// Every field the Rust model can hold is in the CRD's schema, spelled the same.
    #[test]
    fn schemas_accept_every_model_field() {
        let cfg = crate::config::Config::parse("t", include_str!("../../config/ovn-vpcd.toml")).unwrap();
        let schema_props = |plural: &str| {
            let y = CRDS.iter().find(|(p, _)| *p == plural).unwrap().1;
            to_json(y).unwrap()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
                .clone()
        };
        let full_vpc = crate::model::VpcSpec {
            bfd_port: Some(Default::default()),
            static_routes: vec![Default::default()],
            ..cfg.vpcs[0].1.clone()
        };
        let vpc = serde_json::to_value(full_vpc).unwrap();
        let props = schema_props("vpcs");
        for k in vpc.as_object().unwrap().keys() {
            assert!(props.get(k).is_some(), "Vpc CRD lacks spec.{k}");
        }
        for (k, _) in serde_json::to_value(&vpc["staticRoutes"][0]).unwrap().as_object().unwrap() {
            assert!(props["staticRoutes"]["items"]["properties"].get(k).is_some(), "Vpc CRD lacks staticRoutes[].{k}");
        }
        let subnet = serde_json::to_value(&cfg.subnets[1].1).unwrap();
        let props = schema_props("subnets");
        for k in subnet.as_object().unwrap().keys() {
            assert!(props.get(k).is_some(), "Subnet CRD lacks spec.{k}");
        }
    }
}
