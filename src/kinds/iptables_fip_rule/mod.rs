//! Kube-OVN's `IptablesFIPRule` (`kubeovn.io/v1`, cluster-scoped): a floating IP: one EIP mapped both ways to one internal address.
//!
//! This slice: spec, validation and status only. It renders no NB rows
//! (a gateway's rules are applied by its agent, not in the NB) and nothing
//! applies it yet (the gateway's rule set and agent are the next slice), so
//! its status never claims `Ready`. Its objects do not count as tenants
//! for `reconcile::removal`.

pub mod spec;
pub mod status;
pub mod validate;

/// The collection IptablesFIPRules are listed and watched at.
pub const API_PATH: &str = "/apis/kubeovn.io/v1/iptables-fip-rules";

/// One IptablesFIPRule's path.
pub fn object_path(name: &str) -> String {
    format!("{API_PATH}/{name}")
}
