//! Validation: specs in, validated objects and per-object rejections out.
//! Pure. An invalid object is refused alone with a reason naming its field;
//! every valid object is kept.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{PolicyAction, Protocol, SubnetSpec, VpcSpec};

/// OVN's range for `Logical_Router_Policy.priority`.
pub const MAX_POLICY_PRIORITY: i64 = 32767;

/// Why one object was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub kind: &'static str,
    pub name: String,
    pub field: String,
    pub reason: String,
    /// The spec itself is fine but names an object that is missing or
    /// refused (a VPC, a subnet holding a next hop): it may come later, as
    /// when `kubectl apply` sends a VPC before its subnets.
    pub waiting: bool,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: {}: {}", self.kind, self.name, self.field, self.reason)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vpc {
    pub name: String,
    pub spec: VpcSpec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub name: String,
    /// One network per family, IPv4 first.
    pub cidrs: Vec<IpNet>,
    /// One gateway per CIDR, same order.
    pub gateways: Vec<IpAddr>,
    /// Inclusive ranges, each within one CIDR.
    pub excludes: Vec<(IpAddr, IpAddr)>,
    /// Empty or "ovn": an OVN logical switch. Else an attachment network
    /// (IP management only, no switch).
    pub is_ovn: bool,
    pub dhcp_v4_options: BTreeMap<String, String>,
    pub dhcp_v6_options: BTreeMap<String, String>,
    pub spec: SubnetSpec,
}

/// The validated desired state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub vpcs: BTreeMap<String, Vpc>,
    pub subnets: BTreeMap<String, Subnet>,
    /// Fields accepted but not (yet) turned into NB rows, one line each,
    /// so that nobody believes they took effect.
    pub notices: Vec<String>,
    /// Pods' switch ports by `<namespace>/<name>`: not validated specs but
    /// the IPAM's allocations, filled in by the daemon's Kubernetes side.
    pub pods: BTreeMap<String, crate::ipam::PodPort>,
}

impl Model {
    pub fn subnets_of<'a>(&'a self, vpc: &'a str) -> impl Iterator<Item = &'a Subnet> + 'a {
        self.subnets.values().filter(move |s| s.is_ovn && s.spec.vpc == vpc)
    }
}

fn reject(kind: &'static str, name: &str, field: impl Into<String>, reason: impl Into<String>) -> Rejection {
    Rejection { kind, name: name.into(), field: field.into(), reason: reason.into(), waiting: false }
}

/// A refusal for want of another object (see [`Rejection::waiting`]).
fn wait_for(kind: &'static str, name: &str, field: impl Into<String>, reason: impl Into<String>) -> Rejection {
    Rejection { waiting: true, ..reject(kind, name, field, reason) }
}

/// Kubernetes object names (RFC 1123 subdomain), which Kube-OVN's are.
fn check_name(kind: &'static str, name: &str) -> Result<(), Rejection> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(reject(kind, name, "name", "must be a lowercase RFC 1123 name (a-z, 0-9, '-', '.')"))
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.trim().parse().map_err(|_| format!("{s:?} is not an IP address"))
}

/// A CIDR with no host bits set.
fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let net: IpNet = s.trim().parse().map_err(|_| format!("{s:?} is not a CIDR (address/prefix)"))?;
    if net.trunc() != net {
        return Err(format!("{s:?} has host bits set; did you mean {}?", net.trunc()));
    }
    Ok(net)
}

/// Validates everything; returns the valid objects and one rejection per refused object.
pub fn validate(vpcs: &[(String, VpcSpec)], subnets: &[(String, SubnetSpec)]) -> (Model, Vec<Rejection>) {
    let mut model = Model::default();
    let mut rejected = vec![];
    for (name, spec) in subnets {
        if model.subnets.contains_key(name) {
            rejected.push(reject("Subnet", name, "name", "defined more than once"));
            continue;
        }
        match check_subnet(name, spec) {
            Ok(s) => {
                model.subnets.insert(name.clone(), s);
            }
            Err(r) => rejected.push(r),
        }
    }
    // Subnets of one VPC must not overlap (across VPCs they may). Compared
    // within each VPC only, in name order; the later one of a pair is refused.
    let mut by_vpc: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in model.subnets.values().filter(|s| s.is_ovn) {
        by_vpc.entry(s.spec.vpc.clone()).or_default().push(s.name.clone());
    }
    for (vpc, names) in &by_vpc {
        let mut kept: Vec<&str> = vec![];
        for a in names {
            let sa = &model.subnets[a];
            match kept.iter().find(|b| overlaps(&sa.cidrs, &model.subnets[**b].cidrs)) {
                Some(b) => {
                    rejected.push(reject("Subnet", a, "cidrBlock", format!("overlaps subnet {b:?} in VPC {vpc:?}")))
                }
                None => kept.push(a),
            }
        }
    }
    model.subnets.retain(|n, _| !rejected.iter().any(|r| r.kind == "Subnet" && r.name == *n));
    let mut cidrs_by_vpc: BTreeMap<&str, Vec<IpNet>> = BTreeMap::new();
    for s in model.subnets.values().filter(|s| s.is_ovn) {
        cidrs_by_vpc.entry(s.spec.vpc.as_str()).or_default().extend(s.cidrs.iter().copied());
    }
    let mut checked = vec![];
    for (name, spec) in vpcs {
        if checked.iter().any(|(n, _)| n == name) || model.vpcs.contains_key(name) {
            rejected.push(reject("Vpc", name, "name", "defined more than once"));
            continue;
        }
        let cidrs = cidrs_by_vpc.get(name.as_str()).map_or(&[][..], Vec::as_slice);
        checked.push((name.clone(), check_vpc(name, spec, cidrs)));
    }
    for (name, result) in checked {
        match result {
            Ok(v) => {
                model.vpcs.insert(name, v);
            }
            Err(r) => rejected.push(r),
        }
    }
    // Every OVN subnet's VPC must exist (and be valid).
    let orphans: Vec<String> = model
        .subnets
        .values()
        .filter(|s| s.is_ovn && !model.vpcs.contains_key(&s.spec.vpc))
        .map(|s| s.name.clone())
        .collect();
    for name in orphans {
        let vpc = model.subnets[&name].spec.vpc.clone();
        let why = if vpcs.iter().any(|(n, _)| *n == vpc) { "is refused" } else { "is not defined" };
        rejected.push(wait_for("Subnet", &name, "vpc", format!("VPC {vpc:?} {why}")));
        model.subnets.remove(&name);
    }
    model.notices = notices(&model);
    (model, rejected)
}

/// What the configuration asks for that this version does not realise.
fn notices(model: &Model) -> Vec<String> {
    let mut out = vec![];
    let mut note = |kind: &str, name: &str, field: &str, what: &str| {
        out.push(format!("{kind} {name:?}: {field}: {what}"));
    };
    for v in model.vpcs.values() {
        if v.spec.enable_external {
            note("Vpc", &v.name, "enableExternal", "accepted, not yet realised (comes with the NAT gateway)");
        }
        if v.spec.bfd_port.as_ref().is_some_and(|b| b.enabled) {
            note("Vpc", &v.name, "bfdPort", "accepted, not yet realised (comes with the egress gateway)");
        }
        if v.spec.static_routes.iter().any(|r| !r.route_table.is_empty()) {
            note(
                "Vpc",
                &v.name,
                "staticRoutes.routeTable",
                "routes are written to that table; no subnet selects it yet",
            );
        }
    }
    for s in model.subnets.values() {
        if !s.is_ovn {
            note("Subnet", &s.name, "provider", "attachment network: address management only, no logical switch");
        }
        if s.spec.private {
            note("Subnet", &s.name, "private", "accepted, not yet realised (no ACLs are written)");
        }
        if s.spec.nat_outgoing {
            note(
                "Subnet",
                &s.name,
                "natOutgoing",
                "no effect in a custom VPC (egress goes through a NAT or egress gateway)",
            );
        }
        if s.spec.gateway_type == "centralized" {
            note("Subnet", &s.name, "gatewayType", "no effect in a custom VPC, as in Kube-OVN");
        }
    }
    out
}

fn overlaps(a: &[IpNet], b: &[IpNet]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.contains(&y.network()) || y.contains(&x.network())))
}

fn check_subnet(name: &str, spec: &SubnetSpec) -> Result<Subnet, Rejection> {
    check_name("Subnet", name)?;
    let bad = |field: &str, reason: String| reject("Subnet", name, field, reason);
    let mut cidrs =
        spec.cidr_block.split(',').map(parse_cidr).collect::<Result<Vec<_>, _>>().map_err(|e| bad("cidrBlock", e))?;
    cidrs.sort_by_key(|c| c.addr().is_ipv6());
    let v4 = cidrs.iter().filter(|c| c.addr().is_ipv4()).count();
    let v6 = cidrs.len() - v4;
    if v4 > 1 || v6 > 1 {
        return Err(bad("cidrBlock", "at most one IPv4 and one IPv6 CIDR (dual stack: \"v4,v6\")".into()));
    }
    let family = match (v4, v6) {
        (1, 1) => Protocol::Dual,
        (1, 0) => Protocol::IPv4,
        _ => Protocol::IPv6,
    };
    if let Some(p) = spec.protocol {
        if p != family {
            return Err(bad("protocol", format!("{p:?} does not match cidrBlock {:?} ({family:?})", spec.cidr_block)));
        }
    }
    let gateways = if spec.gateway.trim().is_empty() {
        cidrs.iter().map(first_host).collect()
    } else {
        let mut gws =
            spec.gateway.split(',').map(parse_ip).collect::<Result<Vec<_>, _>>().map_err(|e| bad("gateway", e))?;
        gws.sort_by_key(|g| g.is_ipv6());
        if gws.len() != cidrs.len() {
            return Err(bad("gateway", format!("needs one address per CIDR of {:?}", spec.cidr_block)));
        }
        for (g, c) in gws.iter().zip(&cidrs) {
            if !c.contains(g) || *g == c.network() || (c.addr().is_ipv4() && *g == c.broadcast() && c.prefix_len() < 31)
            {
                return Err(bad("gateway", format!("{g} is not a host address of {c}")));
            }
        }
        gws
    };
    let mut excludes = vec![];
    for (i, e) in spec.exclude_ips.iter().enumerate() {
        let field = format!("excludeIps[{i}]");
        let (a, b) = match e.split_once("..") {
            Some((a, b)) => (parse_ip(a).map_err(|r| bad(&field, r))?, parse_ip(b).map_err(|r| bad(&field, r))?),
            None => {
                let ip = parse_ip(e).map_err(|r| bad(&field, r))?;
                (ip, ip)
            }
        };
        if a.is_ipv4() != b.is_ipv4() || a > b {
            return Err(bad(&field, format!("{e:?} is not a range a..b with a <= b of one family")));
        }
        if !cidrs.iter().any(|c| c.contains(&a) && c.contains(&b)) {
            return Err(bad(&field, format!("{e:?} is not inside {:?}", spec.cidr_block)));
        }
        excludes.push((a, b));
    }
    let is_ovn = spec.provider.is_empty() || spec.provider == "ovn";
    if is_ovn && spec.vpc.is_empty() {
        return Err(bad("vpc", "an OVN subnet must name its VPC".into()));
    }
    if !matches!(spec.gateway_type.as_str(), "" | "distributed" | "centralized") {
        return Err(bad("gatewayType", format!("{:?} is not distributed or centralized", spec.gateway_type)));
    }
    let dhcp_v4_options = parse_options(&spec.dhcp_v4_options).map_err(|r| bad("dhcpV4Options", r))?;
    let dhcp_v6_options = parse_options(&spec.dhcp_v6_options).map_err(|r| bad("dhcpV6Options", r))?;
    Ok(Subnet {
        name: name.into(),
        cidrs,
        gateways,
        excludes,
        is_ovn,
        dhcp_v4_options,
        dhcp_v6_options,
        spec: spec.clone(),
    })
}

/// Kube-OVN's `k=v,k=v` option strings.
pub fn parse_options(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("{part:?} is not key=value"))?;
        if k.trim().is_empty() {
            return Err(format!("{part:?} has an empty key"));
        }
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

fn first_host(c: &IpNet) -> IpAddr {
    match c.network() {
        IpAddr::V4(a) if c.prefix_len() < 31 => IpAddr::V4((u32::from(a) + 1).into()),
        IpAddr::V6(a) if c.prefix_len() < 127 => IpAddr::V6((u128::from(a) + 1).into()),
        other => other,
    }
}

/// `cidrs`: the networks of the VPC's (valid) subnets.
fn check_vpc(name: &str, spec: &VpcSpec, cidrs: &[IpNet]) -> Result<Vpc, Rejection> {
    check_name("Vpc", name)?;
    let bad = |field: String, reason: String| reject("Vpc", name, field, reason);
    let inside_a_subnet = |ip: &IpAddr| cidrs.iter().any(|c| c.contains(ip));
    for (i, r) in spec.static_routes.iter().enumerate() {
        let f = |k: &str| format!("staticRoutes[{i}].{k}");
        let cidr: IpNet = match r.cidr.parse::<IpNet>() {
            Ok(c) => c,
            Err(_) => {
                let ip = parse_ip(&r.cidr).map_err(|e| bad(f("cidr"), e))?;
                IpNet::from(ip)
            }
        };
        let hop = parse_ip(&r.next_hop_ip).map_err(|e| bad(f("nextHopIP"), e))?;
        if hop.is_ipv4() != cidr.addr().is_ipv4() {
            return Err(bad(f("nextHopIP"), format!("{hop} is not of the same family as {}", r.cidr)));
        }
        if !inside_a_subnet(&hop) {
            return Err(wait_for(
                "Vpc",
                name,
                f("nextHopIP"),
                format!("{hop} is not inside any subnet of VPC {name:?}"),
            ));
        }
    }
    for (i, r) in spec.static_routes.iter().enumerate() {
        if let Some(j) = spec.static_routes[..i].iter().position(|o| {
            (o.cidr.trim(), o.next_hop_ip.trim(), o.policy, o.route_table.as_str())
                == (r.cidr.trim(), r.next_hop_ip.trim(), r.policy, r.route_table.as_str())
        }) {
            return Err(bad(format!("staticRoutes[{i}]"), format!("repeats staticRoutes[{j}]")));
        }
    }
    for (i, p) in spec.policy_routes.iter().enumerate() {
        if let Some(j) =
            spec.policy_routes[..i].iter().position(|o| (o.priority, o.match_.trim()) == (p.priority, p.match_.trim()))
        {
            return Err(bad(format!("policyRoutes[{i}]"), format!("same priority and match as policyRoutes[{j}]")));
        }
    }
    for (i, p) in spec.policy_routes.iter().enumerate() {
        let f = |k: &str| format!("policyRoutes[{i}].{k}");
        if !(0..=MAX_POLICY_PRIORITY).contains(&p.priority) {
            return Err(bad(f("priority"), format!("{} is outside OVN's range 0..={MAX_POLICY_PRIORITY}", p.priority)));
        }
        if p.match_.trim().is_empty() {
            return Err(bad(f("match"), "must not be empty".into()));
        }
        let families = super::ovn_match::check(&p.match_).map_err(|e| bad(f("match"), e.to_string()))?;
        match (p.action, p.next_hop_ip.trim().is_empty()) {
            (PolicyAction::Reroute, true) => return Err(bad(f("nextHopIP"), "reroute needs a next hop".into())),
            (PolicyAction::Reroute, false) => {
                for hop in p.next_hop_ip.split(',') {
                    let ip = parse_ip(hop).map_err(|e| bad(f("nextHopIP"), e))?;
                    if let Some(why) = families.refuses(ip) {
                        return Err(bad(f("nextHopIP"), why));
                    }
                    if !inside_a_subnet(&ip) {
                        let why = format!("{ip} is not inside any subnet of VPC {name:?}");
                        return Err(wait_for("Vpc", name, f("nextHopIP"), why));
                    }
                }
            }
            (_, false) => return Err(bad(f("nextHopIP"), format!("{:?} takes no next hop", p.action))),
            (_, true) => {}
        }
    }
    if let Some(b) = spec.bfd_port.as_ref().filter(|b| b.enabled) {
        if b.ip.trim().is_empty() {
            return Err(bad("bfdPort.ip".into(), "required when bfdPort.enabled".into()));
        }
        for ip in b.ip.split(',') {
            parse_ip(ip).map_err(|e| bad("bfdPort.ip".into(), e))?;
        }
    }
    Ok(Vpc { name: name.into(), spec: spec.clone() })
}

#[cfg(test)]
mod tests;
