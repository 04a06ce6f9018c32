//! Notices: the fields of validated objects that are accepted but not
//! realised, or that have no effect in a custom VPC, one per object and
//! field. Pure. The daemon logs them, `plan`/`apply` print them, and the
//! Kubernetes status shows them (condition `Realised`); a notice never
//! refuses an object.

use super::object::Kind;
use std::fmt;

use super::validate::Model;

/// What an accepted field does not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// It would change the NB (or the pods), and this version does not do it.
    NotRealised,
    /// It has no effect in a custom VPC (in Kube-OVN neither), or nothing
    /// here that it would act on.
    NoEffect,
}

/// One field of one object that is accepted but not realised, or of no effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub kind: Kind,
    pub name: String,
    pub field: String,
    pub effect: Effect,
    pub what: String,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: {}: {}", self.kind, self.name, self.field, self.what)
    }
}

/// What the configuration asks for that this version does not realise, or
/// that has no effect in a custom VPC: one notice per object and field.
pub(crate) fn notices(model: &Model) -> Vec<Notice> {
    use Effect::{NoEffect, NotRealised};
    let mut out = vec![];
    let mut note = |kind: Kind, name: &str, field: &str, effect: Effect, what: &str| {
        out.push(Notice { kind, name: name.into(), field: field.into(), effect, what: what.into() });
    };
    for v in model.vpcs.values() {
        let mut vpc = |on: bool, field: &str, effect: Effect, what: &str| {
            if on {
                note(Kind::Vpc, &v.name, field, effect, what);
            }
        };
        let spec = &v.spec;
        vpc(
            spec.enable_external,
            "enableExternal",
            NotRealised,
            "accepted, not yet realised (OVN's own external gateway comes with OVN-native NAT; the VPC NAT gateway needs no more than a route to its lanIp)",
        );
        vpc(
            spec.bfd_port.as_ref().is_some_and(|b| b.enabled),
            "bfdPort",
            NotRealised,
            "accepted, not yet realised (comes with the egress gateway)",
        );
        vpc(
            spec.static_routes.iter().any(|r| !r.route_table.is_empty()),
            "staticRoutes.routeTable",
            NotRealised,
            "routes are written to that table; no subnet selects it yet",
        );
        vpc(
            spec.static_routes.iter().any(|r| !r.bfd_id.is_empty()),
            "staticRoutes.bfdId",
            NotRealised,
            "accepted, not yet realised (no BFD rows are written)",
        );
        vpc(
            spec.static_routes.iter().any(|r| !r.ecmp_mode.is_empty()),
            "staticRoutes.ecmpMode",
            NotRealised,
            "accepted, not realised (routes sharing cidr and policy are plain ECMP)",
        );
        vpc(spec.enable_bfd, "enableBfd", NotRealised, "accepted, not yet realised (comes with the egress gateway)");
        vpc(
            !spec.default_subnet.is_empty(),
            "defaultSubnet",
            NotRealised,
            "accepted, not realised (ovn-vpcd takes the VPC's default subnet from a subnet's spec.default)",
        );
        vpc(
            !spec.extra_external_subnets.is_empty(),
            "extraExternalSubnets",
            NotRealised,
            "accepted, not yet realised (comes with the NAT gateway)",
        );
        vpc(!spec.vpc_peerings.is_empty(), "vpcPeerings", NotRealised, "accepted, not yet realised (no peering ports)");
    }
    for s in model.subnets.values() {
        let mut subnet = |on: bool, field: &str, effect: Effect, what: &str| {
            if on {
                note(Kind::Subnet, &s.name, field, effect, what);
            }
        };
        let spec = &s.spec;
        let underlay = "accepted, not realised (underlay networks are not managed by ovn-vpcd)";
        subnet(!s.is_ovn, "provider", NotRealised, "attachment network: address management only, no logical switch");
        subnet(!spec.vlan.is_empty(), "vlan", NotRealised, underlay);
        subnet(spec.logical_gateway, "logicalGateway", NotRealised, underlay);
        subnet(!spec.node_network.is_empty(), "nodeNetwork", NotRealised, underlay);
        subnet(spec.u2o_interconnection, "u2oInterconnection", NotRealised, underlay);
        subnet(!spec.u2o_interconnection_ip.is_empty(), "u2oInterconnectionIP", NotRealised, underlay);
        subnet(
            spec.u2o_features.as_ref().is_some_and(|f| f.overlay_only_routing),
            "u2oFeatures",
            NotRealised,
            underlay,
        );
        subnet(spec.private, "private", NotRealised, "accepted, not yet realised (no ACLs are written)");
        subnet(
            !spec.allow_subnets.is_empty(),
            "allowSubnets",
            NotRealised,
            "accepted, not yet realised (no ACLs are written)",
        );
        subnet(
            spec.allow_ew_traffic,
            "allowEWTraffic",
            NotRealised,
            "accepted, not yet realised (no ACLs are written)",
        );
        subnet(!spec.acls.is_empty(), "acls", NotRealised, "accepted, not yet realised (no ACLs are written)");
        subnet(spec.mtu != 0, "mtu", NotRealised, "accepted, not realised (pods get no MTU from ovn-vpcd)");
        subnet(
            !spec.external_egress_gateway.is_empty()
                || spec.policy_routing_priority != 0
                || spec.policy_routing_table_id != 0,
            "externalEgressGateway",
            NotRealised,
            "accepted, not realised (use a VpcEgressGateway)",
        );
        subnet(
            spec.enable_multicast_snoop,
            "enableMulticastSnoop",
            NotRealised,
            "accepted, not realised (no multicast options are written)",
        );
        subnet(
            spec.enable_external_lb_address,
            "enableExternalLBAddress",
            NotRealised,
            "accepted, not realised (ovn-vpcd writes no load balancers)",
        );
        subnet(
            !spec.namespace_selectors.is_empty(),
            "namespaceSelectors",
            NotRealised,
            "accepted, not realised (pods are placed by namespaces and the logical_switch annotation)",
        );
        subnet(
            !spec.ipv6_ra_configs.is_empty(),
            "ipv6RAConfigs",
            NotRealised,
            "accepted, not realised (enableIPv6RA writes OVN's defaults)",
        );
        subnet(
            !spec.route_table.is_empty(),
            "routeTable",
            NotRealised,
            "accepted, not yet realised (the router port selects no route table)",
        );
        subnet(!spec.vips.is_empty(), "vips", NotRealised, "accepted, not realised (no virtual ports are written)");
        let custom_vpc = "no effect in a custom VPC, as in Kube-OVN";
        subnet(
            spec.nat_outgoing,
            "natOutgoing",
            NoEffect,
            "no effect in a custom VPC (egress goes through a NAT or egress gateway)",
        );
        subnet(!spec.nat_outgoing_policy_rules.is_empty(), "natOutgoingPolicyRules", NoEffect, custom_vpc);
        subnet(spec.gateway_type == "centralized", "gatewayType", NoEffect, custom_vpc);
        subnet(!spec.gateway_node.is_empty(), "gatewayNode", NoEffect, custom_vpc);
        subnet(!spec.gateway_node_selectors.is_empty(), "gatewayNodeSelectors", NoEffect, custom_vpc);
        subnet(spec.enable_ecmp, "enableEcmp", NoEffect, custom_vpc);
        subnet(
            spec.disable_gateway_check,
            "disableGatewayCheck",
            NoEffect,
            "no effect: ovn-vpcd runs no gateway check",
        );
        subnet(
            spec.disable_inter_connection,
            "disableInterConnection",
            NoEffect,
            "no effect: ovn-vpcd does not use OVN interconnection",
        );
        subnet(
            spec.enable_lb == Some(true),
            "enableLb",
            NoEffect,
            "no effect: ovn-vpcd realises no Services, so there is no load balancer to attach",
        );
    }
    out
}

/// The NAT gateways' notices (validated after the rest, `model::validate::nat`):
/// fields not realised, and a gateway its VPC sends nothing to.
pub(crate) fn nat_notices(model: &Model) -> Vec<Notice> {
    use Effect::{NoEffect, NotRealised};
    let mut out = vec![];
    for g in model.nat_gateways.values() {
        let mut gateway = |on: bool, field: &str, effect: Effect, what: String| {
            if on {
                out.push(Notice { kind: Kind::VpcNatGateway, name: g.name.clone(), field: field.into(), effect, what });
            }
        };
        let spec = &g.spec;
        gateway(!spec.qos_policy.is_empty(), "qosPolicy", NotRealised, "accepted, not yet realised (no QoS)".into());
        gateway(
            spec.bgp_speaker.is_some(),
            "bgpSpeaker",
            NotRealised,
            "accepted, not realised (no BGP speaker)".into(),
        );
        // The seeds' default route: `staticRoutes` 0.0.0.0/0 → lanIp.
        let lan = g.lan_ip.to_string();
        let routed = model
            .vpcs
            .get(&spec.vpc)
            .is_some_and(|v| v.spec.static_routes.iter().any(|r| r.next_hop_ip.split(',').any(|h| h.trim() == lan)));
        gateway(
            !routed,
            "lanIp",
            NoEffect,
            format!(
                "VPC {:?} has no static route to {lan} (as in the seeds: staticRoutes 0.0.0.0/0 → lanIp): its traffic does not reach this gateway",
                spec.vpc
            ),
        );
    }
    out
}
