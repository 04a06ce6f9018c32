//! Kube-OVN's `Vpc` (`kubeovn.io/v1`, cluster-scoped): a tenant's router.

pub mod rows;
pub mod spec;
pub mod status;
pub mod validate;

/// The collection Vpcs are listed and watched at.
pub const API_PATH: &str = "/apis/kubeovn.io/v1/vpcs";

/// One Vpc's path.
pub fn object_path(name: &str) -> String {
    format!("{API_PATH}/{name}")
}
