//! Kube-OVN's `IptablesDnatRule` (`kubeovn.io/v1`, cluster-scoped): a port forward from (EIP, externalPort, protocol) to (internalIp, internalPort).
//!
//! Spec, validation and status here; it renders no NB rows: its gateway's
//! rule set (`kinds::vpc_nat_gateway::rules`) carries it to the gateway's
//! agent, and its status says `Ready` once the agent reports a set holding it
//! (`daemon::nat::readiness`). Its objects do not count as tenants
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
