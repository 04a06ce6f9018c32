//! Kube-OVN's `IptablesDnatRule` (`kubeovn.io/v1`, cluster-scoped): a port forward from (EIP, externalPort, protocol) to (internalIp, internalPort).
//!
//! This slice: spec, validation and status only. It renders no NB rows
//! (a gateway's rules are applied by its agent, not in the NB) and nothing
//! applies it yet (the gateway's rule set and agent are the next slice), so
//! its status never claims `Ready`. Its objects do not count as tenants
//! for `reconcile::removal`.

pub mod spec;
pub mod status;
pub mod validate;

/// The collection IptablesDnatRules are listed and watched at.
pub const API_PATH: &str = "/apis/kubeovn.io/v1/iptables-dnat-rules";

/// One IptablesDnatRule's path.
pub fn object_path(name: &str) -> String {
    format!("{API_PATH}/{name}")
}
