//! What the ConfigMaps `ovn-vpc-nat-config` (`image`, `natGwNamePrefix`)
//! and `ovn-vpc-nat-gw-config` (`enable-vpc-nat-gw`) in the daemon's
//! namespace say, with Kube-OVN's semantics. Pure.
//!
//! - `enable-vpc-nat-gw: "false"`: VPC NAT gateways are off (Kube-OVN's
//!   `resyncVpcNatGwConfig` cleans their workloads up then; so do we: none
//!   is desired). `"true"` or the key absent: on. `ovn-vpc-nat-gw-config`
//!   absent, or any other value (refused by name): no gateway starts, but
//!   running ones keep the last good settings (`NatSide::render`): a typo or
//!   a ConfigMap deleted and made again by a chart upgrade must not take
//!   every tenant's gateway down (Kube-OVN reads a typo as on, and cleans
//!   up on an absent ConfigMap).
//! - `ovn-vpc-nat-config` absent or without `image`: no workload can be
//!   rendered; said, not guessed. `natGwNamePrefix` absent or empty:
//!   `vpc-nat-gw`; one that cannot prefix a Kubernetes name is refused.
//! - Whatever they say, it ends on the gateways' status, never in a crash.

use serde_json::Value as Json;

use crate::kinds::vpc_nat_gateway::workload::DEFAULT_PREFIX;

pub const NAT_CONFIG: &str = "ovn-vpc-nat-config";
pub const NAT_GW_CONFIG: &str = "ovn-vpc-nat-gw-config";
pub const ENABLE_KEY: &str = "enable-vpc-nat-gw";

/// The gateways' workload settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatSettings {
    /// The image and name prefix, or why no workload is rendered.
    pub workloads: Result<Workloads, String>,
    /// The operator said `enable-vpc-nat-gw: "false"`: gateways are off on
    /// purpose. Any other reason (a ConfigMap missing, a typo, no image) is
    /// an input to refuse: running gateways keep the last good settings
    /// (`NatSide::render`), and only a daemon that never saw good ones runs none.
    pub off: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workloads {
    pub image: String,
    pub prefix: String,
}

fn data<'a>(cm: Option<&'a Json>, key: &str) -> Option<&'a str> {
    cm?.pointer("/data")?.get(key)?.as_str()
}

/// The settings `nat_config` and `gw_config` (the ConfigMaps as read, or
/// absent) in `namespace` make.
pub fn settings(namespace: &str, nat_config: Option<&Json>, gw_config: Option<&Json>) -> NatSettings {
    let off = gw_config.is_some() && data(gw_config, ENABLE_KEY).map(str::trim) == Some("false");
    NatSettings { workloads: workloads(namespace, nat_config, gw_config), off }
}

fn workloads(namespace: &str, nat_config: Option<&Json>, gw_config: Option<&Json>) -> Result<Workloads, String> {
    let off = "VPC NAT gateways are off, so no gateway workload runs";
    match (gw_config, data(gw_config, ENABLE_KEY).map(str::trim)) {
        (None, _) => return Err(format!("ConfigMap {namespace}/{NAT_GW_CONFIG} does not exist: {off}")),
        (Some(_), Some("false")) => {
            return Err(format!("ConfigMap {namespace}/{NAT_GW_CONFIG} says {ENABLE_KEY}: \"false\": {off}"))
        }
        (Some(_), None | Some("true")) => {}
        (Some(_), Some(other)) => {
            return Err(format!(
            "ConfigMap {namespace}/{NAT_GW_CONFIG}: {ENABLE_KEY}: {other:?} is neither \"true\" nor \"false\": {off}"
        ))
        }
    }
    let Some(cm) = nat_config else {
        return Err(format!("ConfigMap {namespace}/{NAT_CONFIG} does not exist: it names the gateway image (`image`)"));
    };
    let image = match data(Some(cm), "image").map(str::trim) {
        Some(i) if !i.is_empty() => i.to_string(),
        _ => return Err(format!("ConfigMap {namespace}/{NAT_CONFIG} has no `image`: no gateway workload can run")),
    };
    let prefix = match data(Some(cm), "natGwNamePrefix").map(str::trim) {
        None | Some("") => DEFAULT_PREFIX.to_string(),
        Some(p) if valid_prefix(p) => p.to_string(),
        Some(p) => {
            return Err(format!(
                "ConfigMap {namespace}/{NAT_CONFIG}: natGwNamePrefix {p:?} is not a lowercase RFC 1123 label \
                 (a-z, 0-9, '-', at most 50 characters)"
            ))
        }
    };
    Ok(Workloads { image, prefix })
}

/// A prefix of a Kubernetes name: a lowercase label, leaving room for the
/// gateway's name.
fn valid_prefix(p: &str) -> bool {
    p.len() <= 50
        && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && p.as_bytes()[0].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cm(data: Json) -> Json {
        json!({"metadata": {"name": "x"}, "data": data})
    }

    #[test]
    fn kube_ovns_semantics() {
        let image = cm(json!({"image": "reg/ovn-vpcd:1"}));
        let on = Ok(Workloads { image: "reg/ovn-vpcd:1".into(), prefix: "vpc-nat-gw".into() });
        for gw in [json!({"enable-vpc-nat-gw": "true"}), json!({})] {
            assert_eq!(settings("kube-system", Some(&image), Some(&cm(gw))).workloads, on);
        }
        let off = settings("kube-system", Some(&image), Some(&cm(json!({"enable-vpc-nat-gw": "false"}))));
        assert_eq!(
            off.workloads.unwrap_err(),
            "ConfigMap kube-system/ovn-vpc-nat-gw-config says enable-vpc-nat-gw: \"false\": VPC NAT gateways are off, \
             so no gateway workload runs"
        );
        let absent = settings("kube-system", Some(&image), None).workloads.unwrap_err();
        assert!(absent.starts_with("ConfigMap kube-system/ovn-vpc-nat-gw-config does not exist"), "{absent}");
        let bad = settings("ns", Some(&image), Some(&cm(json!({"enable-vpc-nat-gw": "yes"})))).workloads.unwrap_err();
        assert!(bad.contains("\"yes\" is neither"), "{bad}");
    }

    #[test]
    fn the_image_is_needed_and_the_prefix_honoured() {
        let on = cm(json!({"enable-vpc-nat-gw": "true"}));
        let no_cm = settings("ns", None, Some(&on)).workloads.unwrap_err();
        assert!(no_cm.starts_with("ConfigMap ns/ovn-vpc-nat-config does not exist"), "{no_cm}");
        let no_image = settings("ns", Some(&cm(json!({"natGwNamePrefix": "gw"}))), Some(&on)).workloads.unwrap_err();
        assert!(no_image.contains("has no `image`"), "{no_image}");
        let prefixed = settings("ns", Some(&cm(json!({"image": "i", "natGwNamePrefix": "my-gw"}))), Some(&on));
        assert_eq!(prefixed.workloads, Ok(Workloads { image: "i".into(), prefix: "my-gw".into() }));
        let bad = settings("ns", Some(&cm(json!({"image": "i", "natGwNamePrefix": "My_GW"}))), Some(&on));
        assert!(bad.workloads.unwrap_err().contains("natGwNamePrefix \"My_GW\""));
    }

    /// Only an explicit "false" is off on purpose; a missing ConfigMap or a
    /// typo is an input the running gateways do not follow.
    #[test]
    fn only_false_is_off_on_purpose() {
        let image = cm(json!({"image": "reg/ovn-vpcd:1"}));
        let off = |gw: Option<Json>| settings("kube-system", Some(&image), gw.as_ref()).off;
        assert!(off(Some(cm(json!({ENABLE_KEY: "false"})))));
        assert!(!off(None));
        assert!(!off(Some(cm(json!({ENABLE_KEY: "yes"})))));
        assert!(!off(Some(cm(json!({ENABLE_KEY: "true"})))));
    }
}
