//! One CIDR's addresses: free ones as merged inclusive ranges, taken ones
//! by holder (see the module documentation of `ipam`).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The addresses of one CIDR.
#[derive(Clone, Debug)]
pub(super) struct Pool {
    pub(super) v6: bool,
    pub(super) net: IpNet,
    pub(super) gateway: Option<u128>,
    /// Merged, sorted inclusive ranges.
    pub(super) excludes: Vec<(u128, u128)>,
    /// Free addresses: inclusive ranges, start → end, disjoint, not adjacent.
    pub(super) free: BTreeMap<u128, u128>,
    /// Taken address → pod key.
    pub(super) taken: HashMap<u128, String>,
}

impl Pool {
    pub(super) fn new(net: IpNet, gateway: Option<u128>, excludes: impl Iterator<Item = (u128, u128)>) -> Pool {
        let mut ex: Vec<(u128, u128)> = excludes.collect();
        ex.sort_unstable();
        let excludes = merge(ex);
        let mut pool =
            Pool { v6: net.addr().is_ipv6(), net, gateway, excludes, free: BTreeMap::new(), taken: HashMap::new() };
        if net.max_prefix_len() - net.prefix_len() >= 2 {
            let (first, last) = (to_u128(net.network()) + 1, to_u128(net.broadcast()) - 1);
            let mut holes: Vec<(u128, u128)> = pool.excludes.clone();
            holes.extend(gateway.map(|g| (g, g)));
            holes.sort_unstable();
            let mut next = first;
            for (a, b) in merge(holes) {
                if b < next || a > last {
                    continue;
                }
                if a > next {
                    pool.free.insert(next, a - 1);
                }
                next = match b.checked_add(1) {
                    Some(n) => n,
                    None => return pool,
                };
                if next > last {
                    return pool;
                }
            }
            pool.free.insert(next, last);
        }
        pool
    }

    pub(super) fn is_excluded(&self, x: u128) -> bool {
        let i = self.excludes.partition_point(|(a, _)| *a <= x);
        i > 0 && self.excludes[i - 1].1 >= x
    }

    pub(super) fn lowest_free(&self) -> Option<u128> {
        self.free.first_key_value().map(|(s, _)| *s)
    }

    /// Marks `x` taken by `pod` (out of the free ranges if it was there;
    /// an excluded address never is).
    pub(super) fn take(&mut self, x: u128, pod: &str) {
        if let Some((&s, &e)) = self.free.range(..=x).next_back() {
            if e >= x {
                self.free.remove(&s);
                if s < x {
                    self.free.insert(s, x - 1);
                }
                if x < e {
                    self.free.insert(x + 1, e);
                }
            }
        }
        self.taken.insert(x, pod.to_string());
    }

    /// Releases `x`; it becomes free again unless excluded (or outside the
    /// host range or the gateway, which only a rebuild could leave behind).
    pub(super) fn give(&mut self, x: u128) {
        self.taken.remove(&x);
        let net = self.net;
        let host = net.max_prefix_len() - net.prefix_len() >= 2
            && x > to_u128(net.network())
            && x < to_u128(net.broadcast())
            && net.contains(&from_u128(x, self.v6));
        if !host || self.gateway == Some(x) || self.is_excluded(x) {
            return;
        }
        let (mut s, mut e) = (x, x);
        if let Some((&ps, &pe)) = self.free.range(..x).next_back() {
            if pe.checked_add(1) == Some(x) {
                s = ps;
                self.free.remove(&ps);
            }
        }
        if let Some(n) = x.checked_add(1) {
            if let Some(ne) = self.free.remove(&n) {
                e = ne;
            }
        }
        self.free.insert(s, e);
    }
}

/// Sorted inclusive ranges → merged (overlapping or adjacent joined).
pub(super) fn merge(sorted: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(sorted.len());
    for (a, b) in sorted {
        match out.last_mut() {
            Some((_, e)) if a <= e.saturating_add(1) => *e = (*e).max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

pub(super) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

pub(super) fn from_u128(x: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(x))
    } else {
        IpAddr::V4(Ipv4Addr::from(x as u32))
    }
}
