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

    /// Kube-OVN 1.16's own CRD manifest (a test fixture beside the repository).
    pub(crate) fn kube_ovn_crds() -> Vec<Json> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/kube-ovn/kube-ovn-crd-v1.16.2.yaml");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_yaml::Deserializer::from_str(&text)
            .map(|d| <Json as serde::Deserialize>::deserialize(d).unwrap())
            .filter(|d| d.is_object())
            .collect()
    }

    /// Every property path of `theirs` that `ours` lacks or types differently.
    fn schema_gaps(theirs: &Json, ours: &Json, path: &str, out: &mut Vec<String>) {
        let int_or_string = |s: &Json| s["x-kubernetes-int-or-string"] == true;
        if theirs["type"] != ours["type"] && !(int_or_string(theirs) && int_or_string(ours)) {
            out.push(format!("{path}: type {} here, {} in Kube-OVN's", ours["type"], theirs["type"]));
        }
        if theirs["x-kubernetes-preserve-unknown-fields"] == true
            && ours["x-kubernetes-preserve-unknown-fields"] != true
        {
            out.push(format!("{path}: Kube-OVN's keeps unknown fields"));
        }
        for (k, t) in theirs["properties"].as_object().into_iter().flatten() {
            let sub = format!("{path}.{k}");
            match ours["properties"].get(k) {
                Some(o) => schema_gaps(t, o, &sub, out),
                None => out.push(format!("{sub}: missing")),
            }
        }
        for (key, mark) in [("items", "[]"), ("additionalProperties", "{}")] {
            if theirs[key].is_object() {
                match ours.get(key).filter(|o| o.is_object()) {
                    Some(o) => schema_gaps(&theirs[key], o, &format!("{path}{mark}"), out),
                    None => out.push(format!("{path}{mark}: missing")),
                }
            }
        }
    }

    /// Ours accept every field of Kube-OVN's CRDs for the eight kinds, with the
    /// same type, names, scope and subresources, and show its printer columns.
    #[test]
    fn every_kube_ovn_field_is_accepted_with_its_type() {
        let theirs = kube_ovn_crds();
        let mut gaps = vec![];
        for (plural, y) in CRDS {
            let ours = to_json(y).unwrap();
            let name = format!("{plural}.kubeovn.io");
            let t = theirs.iter().find(|d| d["metadata"]["name"] == *name).unwrap_or_else(|| panic!("{name}"));
            for key in ["scope", "names"] {
                if ours["spec"][key] != t["spec"][key] {
                    gaps.push(format!(
                        "{plural}: spec.{key} {} here, {} in Kube-OVN's",
                        ours["spec"][key], t["spec"][key]
                    ));
                }
            }
            let (ov, tv) = (&ours["spec"]["versions"][0], &t["spec"]["versions"][0]);
            let subresources = |v: &Json| v["subresources"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
            if subresources(ov) != subresources(tv) {
                gaps.push(format!(
                    "{plural}: subresources {:?} here, {:?} in Kube-OVN's",
                    subresources(ov),
                    subresources(tv)
                ));
            }
            for c in tv["additionalPrinterColumns"].as_array().into_iter().flatten() {
                let col =
                    |c: &Json| (c["name"].as_str().map(str::to_lowercase), c["type"].clone(), c["jsonPath"].clone());
                if !ov["additionalPrinterColumns"].as_array().into_iter().flatten().any(|o| col(o) == col(c)) {
                    gaps.push(format!("{plural}: printer column {} missing", c["name"]));
                }
            }
            let mut paths = vec![];
            schema_gaps(&tv["schema"]["openAPIV3Schema"], &ov["schema"]["openAPIV3Schema"], plural, &mut paths);
            gaps.extend(paths);
        }
        assert!(gaps.is_empty(), "{} gaps:\n{}", gaps.len(), gaps.join("\n"));
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
        // The NAT gateway kinds, every field set (the old inline form included).
        use crate::kinds::iptables_dnat_rule::spec::Port;
        use crate::kinds::vpc_nat_gateway::spec::{GatewayRoute, InlineDnat, InlineEip, InlineFip, InlineSnat};
        let s = || "x".to_string();
        // `name` is TOML-only (refused in a resource's spec): None here.
        let gw = crate::model::VpcNatGatewaySpec {
            name: None,
            vpc: s(),
            subnet: s(),
            lan_ip: s(),
            selector: vec![s()],
            external_subnets: vec![s()],
            tolerations: vec![serde_json::json!({})],
            affinity: Some(serde_json::json!({})),
            annotations: [(s(), s())].into(),
            routes: vec![GatewayRoute::default()],
            no_default_eip: true,
            namespace: s(),
            qos_policy: s(),
            bgp_speaker: Some(serde_json::json!({})),
            eips: vec![InlineEip::default()],
            floating_ip_rules: vec![InlineFip::default()],
            dnat_rules: vec![InlineDnat::default()],
            snat_rules: vec![InlineSnat::default()],
        };
        let eip = crate::model::IptablesEipSpec {
            name: None,
            nat_gw_dp: s(),
            v4ip: s(),
            v6ip: s(),
            mac_address: s(),
            external_subnet: s(),
            qos_policy: s(),
        };
        let dnat =
            crate::model::IptablesDnatRuleSpec { protocol: s(), external_port: Port::Number(1), ..Default::default() };
        let specs = [
            ("vpc-nat-gateways", serde_json::to_value(&gw).unwrap()),
            ("iptables-eips", serde_json::to_value(&eip).unwrap()),
            ("iptables-fip-rules", serde_json::to_value(crate::model::IptablesFipRuleSpec::default()).unwrap()),
            ("iptables-dnat-rules", serde_json::to_value(&dnat).unwrap()),
            ("iptables-snat-rules", serde_json::to_value(crate::model::IptablesSnatRuleSpec::default()).unwrap()),
        ];
        for (plural, spec) in specs {
            let props = schema_props(plural);
            for (k, v) in spec.as_object().unwrap() {
                assert!(props.get(k).is_some(), "{plural} CRD lacks spec.{k}");
                for (sub, _) in v.as_array().and_then(|a| a.first()).and_then(Json::as_object).into_iter().flatten() {
                    assert!(props[k]["items"]["properties"].get(sub).is_some(), "{plural} CRD lacks spec.{k}[].{sub}");
                }
            }
        }
        let subnet = serde_json::to_value(&cfg.subnets[1].1).unwrap();
        let props = schema_props("subnets");
        for k in subnet.as_object().unwrap().keys() {
            assert!(props.get(k).is_some(), "Subnet CRD lacks spec.{k}");
        }
    }
}
