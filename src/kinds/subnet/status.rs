//! What a Subnet's `status` shows besides the conditions every status
//! carries (`kube::status`): its address counts, with Kube-OVN's
//! arithmetic. Pure.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value as Json};

use crate::model::validate::Subnet;

/// A Subnet's address counts as Kube-OVN shows them (`kubectl get subnet`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubnetUsage {
    pub v4_available: u128,
    pub v4_using: u128,
    pub v6_available: u128,
    pub v6_using: u128,
}

impl SubnetUsage {
    /// [`usage`] of a validated subnet with `using` addresses in use.
    pub fn of(subnet: &Subnet, using: u64) -> SubnetUsage {
        usage(&subnet.cidrs, &subnet.gateways, &subnet.excludes, using)
    }

    /// Its counts as Kube-OVN's `SubnetStatus` fields, into `status`.
    pub fn insert_into(&self, out: &mut Map<String, Json>) {
        out.insert("v4availableIPs".into(), count(self.v4_available));
        out.insert("v4usingIPs".into(), count(self.v4_using));
        out.insert("v6availableIPs".into(), count(self.v6_available));
        out.insert("v6usingIPs".into(), count(self.v6_using));
    }
}

/// Kube-OVN's arithmetic (`calcSubnetStatusIP`, `calcDualSubnetStatusIP`):
/// per family, the range's size minus its network and last address
/// (2^hostbits - 2, for IPv6 too; 0 for /31, /32, /127, /128), minus the
/// excluded addresses inside it, minus `using`, floored at 0. Excludes are
/// the gateways (Kube-OVN adds the gateway to `excludeIps`) and the
/// inclusive ranges, clipped to the host range; overlaps count once
/// (Kube-OVN merges `excludeIps` before counting). `using` counts objects
/// holding addresses: a dual-stack pod counts once in each family. A family
/// the subnet lacks shows 0 and 0.
pub fn usage(cidrs: &[IpNet], gateways: &[IpAddr], excludes: &[(IpAddr, IpAddr)], using: u64) -> SubnetUsage {
    let mut u = SubnetUsage::default();
    for net in cidrs {
        let avail = host_count(net, gateways, excludes).saturating_sub(u128::from(using));
        if net.addr().is_ipv4() {
            (u.v4_available, u.v4_using) = (avail, u128::from(using));
        } else {
            (u.v6_available, u.v6_using) = (avail, u128::from(using));
        }
    }
    u
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Host addresses of `net` that are not excluded.
fn host_count(net: &IpNet, gateways: &[IpAddr], excludes: &[(IpAddr, IpAddr)]) -> u128 {
    if net.max_prefix_len() - net.prefix_len() < 2 {
        return 0;
    }
    let (first, last) = (to_u128(net.network()) + 1, to_u128(net.broadcast()) - 1);
    let family = |ip: &IpAddr| ip.is_ipv4() == net.addr().is_ipv4();
    let mut ranges: Vec<(u128, u128)> = gateways
        .iter()
        .filter(|g| family(g))
        .map(|g| (to_u128(*g), to_u128(*g)))
        .chain(excludes.iter().filter(|(a, _)| family(a)).map(|(a, b)| (to_u128(*a), to_u128(*b))))
        .map(|(a, b)| (a.max(first), b.min(last)))
        .filter(|(a, b)| a <= b)
        .collect();
    ranges.sort_unstable();
    let mut excluded = 0u128;
    let mut cur: Option<(u128, u128)> = None;
    for (a, b) in ranges {
        cur = match cur {
            Some((s, e)) if a <= e.saturating_add(1) => Some((s, e.max(b))),
            Some((s, e)) => {
                excluded += e - s + 1;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((s, e)) = cur {
        excluded += e - s + 1;
    }
    (last - first + 1) - excluded
}

/// A count as JSON: an integer while exact in a float64 (what Kube-OVN's
/// `float64` fields hold), beyond that a float.
pub(crate) fn count(n: u128) -> Json {
    const EXACT: u128 = 1 << 53;
    match u64::try_from(n) {
        Ok(v) if n <= EXACT => Json::from(v),
        _ => Json::from(n as f64),
    }
}
