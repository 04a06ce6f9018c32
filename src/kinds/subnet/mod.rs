//! Kube-OVN's `Subnet` (`kubeovn.io/v1`, cluster-scoped): a switch on a
//! VPC's router. Kube-OVN's defaults for its spec are `kube::defaults`.

pub mod dhcp;
pub mod rows;
pub mod spec;
pub mod status;
pub mod validate;

/// The collection Subnets are listed and watched at.
pub const API_PATH: &str = "/apis/kubeovn.io/v1/subnets";

/// One Subnet's path.
pub fn object_path(name: &str) -> String {
    format!("{API_PATH}/{name}")
}
