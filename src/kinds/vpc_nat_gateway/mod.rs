//! Kube-OVN's `VpcNatGateway` (`kubeovn.io/v1`, cluster-scoped): a NAT
//! gateway of a VPC, with a leg on one of its subnets at `lanIp` and one on
//! an external attachment network. Its EIPs and FIP/DNAT/SNAT rules are
//! objects of their own (`kinds::iptables_*`) naming it; Kube-OVN's older
//! inline form (`eips`, `floatingIpRules`, `dnatRules`, `snatRules` in the
//! spec) is accepted and noticed on the status as the old form.
//!
//! Its rule set is rendered in `rules.rs` (the old inline form's rules
//! checked in `inline.rs`), its workload (rules ConfigMap, StatefulSet
//! running the agent, ServiceAccount, Role, RoleBinding) in `workload.rs`;
//! the daemon hands those to `kube::objects` and judges readiness from the
//! agent's report (`daemon::nat`). A gateway renders no NB rows. Gateways
//! do not count as tenants for `reconcile::removal`.

pub mod inline;
pub mod rules;
pub mod running;
pub mod spec;
pub mod status;
pub mod validate;
pub mod workload;

/// The collection VpcNatGateways are listed and watched at.
pub const API_PATH: &str = "/apis/kubeovn.io/v1/vpc-nat-gateways";

/// One VpcNatGateway's path.
pub fn object_path(name: &str) -> String {
    format!("{API_PATH}/{name}")
}
