//! Kube-OVN's `IptablesFIPRule` (`kubeovn.io/v1`, cluster-scoped): a floating IP: one EIP mapped both ways to one internal address.
//!
//! Spec, validation and status here; it renders no NB rows: its gateway's
//! rule set (`kinds::vpc_nat_gateway::rules`) carries it to the gateway's
//! agent, and its status says `Ready` once the agent reports a set holding it
//! (`daemon::nat::readiness`). Its objects do not count as tenants
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
