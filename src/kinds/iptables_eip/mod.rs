//! Kube-OVN's `IptablesEIP` (`kubeovn.io/v1`, cluster-scoped): an external IPv4 address of a VPC NAT gateway, fixed (`v4ip`) or allocated.
//!
//! It renders no NB rows (a gateway's rules are applied by its agent, not in
//! the NB); its address is held in the IPAM (`daemon::pods::eips`) and goes
//! into its gateway's rule set. A finalizer holds it while rules name it
//! (`kube::resources::Merged::in_use`). Its objects do not count as tenants
//! for `reconcile::removal`.

pub mod spec;
pub mod status;
pub mod validate;

/// The collection IptablesEIPs are listed and watched at.
pub const API_PATH: &str = "/apis/kubeovn.io/v1/iptables-eips";

/// One IptablesEIP's path.
pub fn object_path(name: &str) -> String {
    format!("{API_PATH}/{name}")
}
