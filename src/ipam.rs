//! IP address management for pods: which pod holds which address and MAC in
//! which subnet. Pure (no I/O) and in memory only: the state is rebuilt at
//! start from what the northbound ports and the pods' annotations say
//! ([`Ipam::restore`]) and never persisted anywhere else.
//!
//! Per subnet and family a pool keeps the *free* addresses as a map of
//! inclusive ranges (start → end) and the *taken* ones by owner, so a /16
//! (or an IPv6 /64) costs memory per allocation, not per address. The
//! usable addresses of a CIDR are those between its network address and
//! its last address, both excluded (for IPv6 too, as Kube-OVN; /31, /32,
//! /127 and /128 have none), less the gateway and `excludeIps`.
//!
//! Allocation takes the lowest free address, as Kube-OVN does from its
//! free range list. Unlike Kube-OVN, a released address is free again at
//! once (Kube-OVN parks released addresses in a "released" list reused
//! only when the free list is exhausted).
//!
//! Requested addresses (`ovn.kubernetes.io/ip_address`) must be inside the
//! subnet, a host address, not the gateway, not in `excludeIps` and not
//! taken. [`Ipam::restore`] accepts excluded addresses (they describe what
//! exists; `excludeIps` only governs new allocations), but nothing else.
//!
//! MACs are unique per subnet (as Kube-OVN's `MacToPod`). A requested MAC
//! is honoured unless another pod of the subnet holds it; otherwise the MAC
//! is derived from the pod key (`0a:` + 40 bits of a hash, retried with a
//! counter on collision), so a pod gets the same MAC on every allocation.
//! Derived MACs never start with `0a:00:00`, the space of
//! [`crate::reconcile::desired::stable_mac`] (router ports, DHCP).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::model::validate::{Model, Subnet};

/// The address of one pod: its subnet, one IP per family of the subnet
/// (IPv4 first) and its MAC (lowercase, colon-separated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodAddress {
    pub subnet: String,
    pub ips: Vec<IpAddr>,
    pub mac: String,
}

impl PodAddress {
    /// The IPs comma-joined, IPv4 first (`ovn.kubernetes.io/ip_address`).
    pub fn ip_list(&self) -> String {
        join(&self.ips)
    }

    /// OVN's `"<mac> <ip> [<ip6>]"` (Logical_Switch_Port `addresses`).
    pub fn lsp_address(&self) -> String {
        let mut s = self.mac.clone();
        for ip in &self.ips {
            s.push(' ');
            s.push_str(&ip.to_string());
        }
        s
    }
}

/// A pod's switch port as the reconciler needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodPort {
    /// `<namespace>/<name>`.
    pub key: String,
    pub pod: String,
    pub namespace: String,
    pub subnet: String,
    /// IPv4 first.
    pub ips: Vec<IpAddr>,
    pub mac: String,
}

impl PodPort {
    /// `None` when `key` is not `<namespace>/<name>`.
    pub fn new(key: &str, addr: &PodAddress) -> Option<PodPort> {
        let (namespace, pod) = key.split_once('/')?;
        if namespace.is_empty() || pod.is_empty() || pod.contains('/') {
            return None;
        }
        Some(PodPort {
            key: key.to_string(),
            pod: pod.to_string(),
            namespace: namespace.to_string(),
            subnet: addr.subnet.clone(),
            ips: addr.ips.clone(),
            mac: addr.mac.clone(),
        })
    }
}

/// Why an address cannot be given to (or kept by) a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not inside any CIDR of the subnet (`cidrs`: the subnet's CIDRs).
    Outside {
        cidrs: String,
    },
    NetworkAddress,
    LastAddress,
    Gateway,
    Excluded,
    Taken {
        holder: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Outside { cidrs } => write!(f, "is outside {cidrs}"),
            Refusal::NetworkAddress => write!(f, "is the network address"),
            Refusal::LastAddress => write!(f, "is the last (broadcast) address"),
            Refusal::Gateway => write!(f, "is the gateway"),
            Refusal::Excluded => write!(f, "is excluded (excludeIps)"),
            Refusal::Taken { holder } => write!(f, "is taken by pod {holder}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("pod {pod}: subnet {subnet} does not exist (or is not valid)")]
    UnknownSubnet { pod: String, subnet: String },
    /// `what`: "requested ip", "requested mac", "ip", "mac".
    #[error("pod {pod}: {what} {value:?} {reason}")]
    Malformed { pod: String, what: &'static str, value: String, reason: String },
    /// `what`: "requested ip" (allocate) or "ip" (restore).
    #[error("pod {pod}: {what} {ip} in subnet {subnet} {reason}")]
    Refused { pod: String, what: &'static str, ip: IpAddr, subnet: String, reason: Refusal },
    #[error("pod {pod}: mac {mac} in subnet {subnet} is taken by pod {holder}")]
    MacTaken { pod: String, mac: String, subnet: String, holder: String },
    #[error("pod {pod}: subnet {subnet} has no free {family} address")]
    Exhausted { pod: String, subnet: String, family: &'static str },
    #[error("pod {pod}: no free MAC in subnet {subnet} after {tries} derivations")]
    NoMac { pod: String, subnet: String, tries: u32 },
    /// The pod already holds another address; a pod's address does not
    /// change while it exists (release it first, i.e. delete the pod).
    #[error("pod {pod}: already holds {held} in subnet {subnet}; asked for {asked}")]
    AlreadyAllocated { pod: String, subnet: String, held: String, asked: String },
}

/// Why [`Ipam::sync_subnets`] released a pod's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvictReason {
    /// The subnet is gone from the model (deleted or refused).
    SubnetRemoved,
    /// The subnet changed and this address of the pod no longer fits.
    NoLongerFits { ip: IpAddr, reason: Refusal },
}

/// A pod whose address was released by [`Ipam::sync_subnets`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eviction {
    pub pod: String,
    /// What the pod held (all of it is released).
    pub address: PodAddress,
    pub reason: EvictReason,
}

impl fmt::Display for Eviction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.address;
        match &self.reason {
            EvictReason::SubnetRemoved => {
                write!(f, "pod {}: released {} (subnet {} removed)", self.pod, a.lsp_address(), a.subnet)
            }
            EvictReason::NoLongerFits { ip, reason } => write!(
                f,
                "pod {}: released {}: {ip} no longer fits subnet {}: it {reason}",
                self.pod,
                a.lsp_address(),
                a.subnet
            ),
        }
    }
}

/// What [`Ipam::sync_subnets`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Subnets whose CIDRs, gateways or excludes changed.
    pub changed: Vec<String>,
    pub evicted: Vec<Eviction>,
}

/// The pod address manager. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Ipam {
    subnets: BTreeMap<String, SubnetState>,
    pods: BTreeMap<String, PodAddress>,
}

/// What of a subnet the pools are built from (a change rebuilds them).
#[derive(Clone, Debug, PartialEq, Eq)]
struct SubnetDef {
    cidrs: Vec<IpNet>,
    gateways: Vec<IpAddr>,
    excludes: Vec<(IpAddr, IpAddr)>,
}

impl SubnetDef {
    fn of(s: &Subnet) -> SubnetDef {
        SubnetDef { cidrs: s.cidrs.clone(), gateways: s.gateways.clone(), excludes: s.excludes.clone() }
    }
}

#[derive(Clone, Debug)]
struct SubnetState {
    def: SubnetDef,
    is_ovn: bool,
    /// One per CIDR, IPv4 first.
    pools: Vec<Pool>,
    /// MAC → pod key.
    macs: HashMap<String, String>,
    pods: BTreeSet<String>,
}

impl SubnetState {
    fn new(s: &Subnet) -> SubnetState {
        let def = SubnetDef::of(s);
        let pools = def
            .cidrs
            .iter()
            .map(|net| {
                let gw = def.gateways.iter().find(|g| net.contains(*g)).map(|g| to_u128(*g));
                let ex = def.excludes.iter().filter(|(a, _)| net.contains(a)).map(|(a, b)| (to_u128(*a), to_u128(*b)));
                Pool::new(*net, gw, ex)
            })
            .collect();
        SubnetState { def, is_ovn: s.is_ovn, pools, macs: HashMap::new(), pods: BTreeSet::new() }
    }

    fn cidr_list(&self) -> String {
        join(&self.def.cidrs)
    }

    fn pool_of(&self, ip: &IpAddr) -> Option<usize> {
        self.pools.iter().position(|p| p.v6 == ip.is_ipv6())
    }

    /// Why `ip` cannot be taken by `pod`; `allow_excluded` for restores.
    fn check(&self, pod: &str, ip: &IpAddr, allow_excluded: bool) -> Result<usize, Refusal> {
        let outside = || Refusal::Outside { cidrs: self.cidr_list() };
        let i = self.pool_of(ip).ok_or_else(outside)?;
        let p = &self.pools[i];
        if !p.net.contains(ip) {
            return Err(outside());
        }
        let x = to_u128(*ip);
        if x == to_u128(p.net.network()) {
            return Err(Refusal::NetworkAddress);
        }
        if x == to_u128(p.net.broadcast()) {
            return Err(Refusal::LastAddress);
        }
        if p.gateway == Some(x) {
            return Err(Refusal::Gateway);
        }
        if let Some(holder) = p.taken.get(&x).filter(|h| *h != pod) {
            return Err(Refusal::Taken { holder: holder.clone() });
        }
        if !allow_excluded && p.is_excluded(x) {
            return Err(Refusal::Excluded);
        }
        Ok(i)
    }

    fn mac_holder(&self, pod: &str, mac: &str) -> Option<&String> {
        self.macs.get(mac).filter(|h| *h != pod)
    }

    fn commit(&mut self, pod: &str, addrs: &[(usize, u128)], mac: &str) {
        for &(i, x) in addrs {
            self.pools[i].take(x, pod);
        }
        self.macs.insert(mac.to_string(), pod.to_string());
        self.pods.insert(pod.to_string());
    }

    fn free(&mut self, pod: &str, addr: &PodAddress) {
        for ip in &addr.ips {
            if let Some(i) = self.pool_of(ip) {
                if self.pools[i].taken.get(&to_u128(*ip)).is_some_and(|h| h == pod) {
                    self.pools[i].give(to_u128(*ip));
                }
            }
        }
        if self.macs.get(&addr.mac).is_some_and(|h| h == pod) {
            self.macs.remove(&addr.mac);
        }
        self.pods.remove(pod);
    }

    /// Places an existing address (restore, or a rebuild after a change):
    /// everything is checked before anything is taken.
    fn place(&mut self, pod: &str, ips: &[IpAddr], mac: &str) -> Result<(), (IpAddr, Refusal)> {
        let mut addrs = vec![];
        for ip in ips {
            let i = self.check(pod, ip, true).map_err(|r| (*ip, r))?;
            addrs.push((i, to_u128(*ip)));
        }
        self.commit(pod, &addrs, mac);
        Ok(())
    }
}

/// The addresses of one CIDR.
#[derive(Clone, Debug)]
struct Pool {
    v6: bool,
    net: IpNet,
    gateway: Option<u128>,
    /// Merged, sorted inclusive ranges.
    excludes: Vec<(u128, u128)>,
    /// Free addresses: inclusive ranges, start → end, disjoint, not adjacent.
    free: BTreeMap<u128, u128>,
    /// Taken address → pod key.
    taken: HashMap<u128, String>,
}

impl Pool {
    fn new(net: IpNet, gateway: Option<u128>, excludes: impl Iterator<Item = (u128, u128)>) -> Pool {
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

    fn is_excluded(&self, x: u128) -> bool {
        let i = self.excludes.partition_point(|(a, _)| *a <= x);
        i > 0 && self.excludes[i - 1].1 >= x
    }

    fn lowest_free(&self) -> Option<u128> {
        self.free.first_key_value().map(|(s, _)| *s)
    }

    /// Marks `x` taken by `pod` (out of the free ranges if it was there;
    /// an excluded address never is).
    fn take(&mut self, x: u128, pod: &str) {
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
    fn give(&mut self, x: u128) {
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
fn merge(sorted: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(sorted.len());
    for (a, b) in sorted {
        match out.last_mut() {
            Some((_, e)) if a <= e.saturating_add(1) => *e = (*e).max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(x: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(x))
    } else {
        IpAddr::V4(Ipv4Addr::from(x as u32))
    }
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(",")
}

fn family(v6: bool) -> &'static str {
    if v6 {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// `aa:bb:cc:dd:ee:ff` (or with `-`), any case → lowercase with colons.
/// Refuses multicast (including broadcast) and all-zero MACs.
pub fn parse_mac(s: &str) -> Result<String, String> {
    let s = s.trim();
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err("is not a MAC address (six hex octets, aa:bb:cc:dd:ee:ff)".into());
    }
    let bytes: Vec<u8> = parts.iter().map(|p| u8::from_str_radix(p, 16).unwrap_or(0)).collect();
    if bytes[0] & 1 == 1 {
        return Err("is a multicast MAC address".into());
    }
    if bytes.iter().all(|b| *b == 0) {
        return Err("is the all-zero MAC address".into());
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

/// The `attempt`-th MAC derived from a pod key: `0a:` (locally
/// administered, unicast) and 40 bits of a hash of key and attempt.
pub fn derived_mac(pod_key: &str, attempt: u32) -> String {
    // FNV-1a, 64 bit, then the splitmix64 finaliser to spread the bits.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in pod_key.bytes().chain(attempt.to_be_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d049bb133111eb);
    h ^= h >> 31;
    let b = h.to_be_bytes();
    format!("0a:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4])
}

/// How many derivations are tried before giving up (a collision needs the
/// same 40 bits within one subnet; running out means something is wrong).
const MAC_TRIES: u32 = 64;

impl Ipam {
    pub fn new() -> Ipam {
        Ipam::default()
    }

    /// Brings the subnets in line with the validated model (every subnet,
    /// OVN or not: attachment networks get address management too). A
    /// removed subnet releases all its pods; a subnet whose CIDRs, gateways
    /// or excludes changed is rebuilt, and the pods whose addresses no
    /// longer fit (outside the new CIDRs, the new gateway, a network or last
    /// address) are released. Changed excludes alone evict nobody: they only
    /// govern new allocations; a family added to a subnet gives its pods
    /// nothing (as Kube-OVN: they keep what they have). Evictions are
    /// reported in pod order.
    pub fn sync_subnets(&mut self, model: &Model) -> SyncReport {
        let mut report = SyncReport::default();
        let gone: Vec<String> = self.subnets.keys().filter(|n| !model.subnets.contains_key(*n)).cloned().collect();
        for name in gone {
            let state = self.subnets.remove(&name).expect("listed");
            for pod in &state.pods {
                if let Some(address) = self.pods.remove(pod) {
                    report.evicted.push(Eviction { pod: pod.clone(), address, reason: EvictReason::SubnetRemoved });
                }
            }
            report.removed.push(name);
        }
        for (name, s) in &model.subnets {
            match self.subnets.get_mut(name) {
                None => {
                    self.subnets.insert(name.clone(), SubnetState::new(s));
                    report.added.push(name.clone());
                }
                Some(state) if state.def == SubnetDef::of(s) => state.is_ovn = s.is_ovn,
                Some(state) => {
                    let old = std::mem::replace(state, SubnetState::new(s));
                    for pod in &old.pods {
                        let Some(addr) = self.pods.get(pod) else { continue };
                        if let Err((ip, reason)) = state.place(pod, &addr.ips, &addr.mac) {
                            let address = self.pods.remove(pod).expect("present");
                            let reason = EvictReason::NoLongerFits { ip, reason };
                            report.evicted.push(Eviction { pod: pod.clone(), address, reason });
                        }
                    }
                    report.changed.push(name.clone());
                }
            }
        }
        report.evicted.sort_by(|a, b| a.pod.cmp(&b.pod));
        report
    }

    /// Gives `pod_key` an address in `subnet`: the requested IPs (comma
    /// list, at most one per family; a family not requested gets its lowest
    /// free address) and MAC, or the lowest free address per family and a
    /// derived MAC. Idempotent: a pod that already holds an address in
    /// `subnet` gets it back, as long as the request (if any) matches it.
    /// Nothing is taken unless everything succeeds.
    pub fn allocate(
        &mut self,
        pod_key: &str,
        subnet: &str,
        requested_ip: Option<&str>,
        requested_mac: Option<&str>,
    ) -> Result<PodAddress, IpamError> {
        let pod = pod_key.to_string();
        let state = self
            .subnets
            .get(subnet)
            .ok_or_else(|| IpamError::UnknownSubnet { pod: pod.clone(), subnet: subnet.into() })?;
        let want_ips = parse_ips(pod_key, "requested ip", requested_ip.unwrap_or(""))?;
        let want_mac = match requested_mac.map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) => Some(parse_mac(m).map_err(|reason| IpamError::Malformed {
                pod: pod.clone(),
                what: "requested mac",
                value: m.into(),
                reason,
            })?),
            None => None,
        };
        if let Some(held) = self.pods.get(pod_key) {
            let same = held.subnet == subnet
                && want_ips.iter().all(|ip| held.ips.contains(ip))
                && want_mac.as_ref().is_none_or(|m| *m == held.mac);
            if same {
                return Ok(held.clone());
            }
            let mut asked = want_ips.iter().map(ToString::to_string).collect::<Vec<_>>();
            asked.extend(want_mac.clone());
            asked.push(format!("in subnet {subnet}"));
            return Err(IpamError::AlreadyAllocated {
                pod,
                subnet: held.subnet.clone(),
                held: held.lsp_address(),
                asked: asked.join(" "),
            });
        }
        let mut addrs: Vec<(usize, u128)> = vec![];
        for ip in &want_ips {
            let i = state.check(pod_key, ip, false).map_err(|reason| IpamError::Refused {
                pod: pod.clone(),
                what: "requested ip",
                ip: *ip,
                subnet: subnet.into(),
                reason,
            })?;
            addrs.push((i, to_u128(*ip)));
        }
        for (i, p) in state.pools.iter().enumerate() {
            if addrs.iter().any(|(j, _)| *j == i) {
                continue;
            }
            let x = p.lowest_free().ok_or_else(|| IpamError::Exhausted {
                pod: pod.clone(),
                subnet: subnet.into(),
                family: family(p.v6),
            })?;
            addrs.push((i, x));
        }
        addrs.sort_unstable();
        let mac = match want_mac {
            Some(m) => {
                if let Some(holder) = state.mac_holder(pod_key, &m) {
                    return Err(IpamError::MacTaken { pod, mac: m, subnet: subnet.into(), holder: holder.clone() });
                }
                m
            }
            None => (0..MAC_TRIES)
                .map(|n| derived_mac(pod_key, n))
                .find(|m| !m.starts_with("0a:00:00:") && state.mac_holder(pod_key, m).is_none())
                .ok_or_else(|| IpamError::NoMac { pod: pod.clone(), subnet: subnet.into(), tries: MAC_TRIES })?,
        };
        let state = self.subnets.get_mut(subnet).expect("looked up above");
        state.commit(pod_key, &addrs, &mac);
        let ips = addrs.iter().map(|(i, x)| from_u128(*x, state.pools[*i].v6)).collect();
        let addr = PodAddress { subnet: subnet.to_string(), ips, mac };
        self.pods.insert(pod, addr.clone());
        Ok(addr)
    }

    /// Frees the pod's address (a no-op for an unknown pod); returns it.
    pub fn release(&mut self, pod_key: &str) -> Option<PodAddress> {
        let addr = self.pods.remove(pod_key)?;
        if let Some(state) = self.subnets.get_mut(&addr.subnet) {
            state.free(pod_key, &addr);
        }
        Some(addr)
    }

    /// Records an address that already exists (from a northbound port or
    /// the pod's annotations) at start; call [`Ipam::sync_subnets`] first.
    /// Excluded addresses are accepted; an address outside the subnet, a
    /// network, last or gateway address, an IP or MAC held by another pod,
    /// or a pod already holding a different address is a conflict: reported,
    /// nothing recorded. Restoring what the pod already holds is a no-op.
    pub fn restore(&mut self, pod_key: &str, subnet: &str, ips: &[IpAddr], mac: &str) -> Result<PodAddress, IpamError> {
        let pod = pod_key.to_string();
        let state = self
            .subnets
            .get_mut(subnet)
            .ok_or_else(|| IpamError::UnknownSubnet { pod: pod.clone(), subnet: subnet.into() })?;
        let mac = parse_mac(mac).map_err(|reason| IpamError::Malformed {
            pod: pod.clone(),
            what: "mac",
            value: mac.into(),
            reason,
        })?;
        let mut ips = ips.to_vec();
        ips.sort_by_key(|ip| ip.is_ipv6());
        ips.dedup();
        if ips.is_empty()
            || ips.iter().filter(|ip| ip.is_ipv4()).count() > 1
            || ips.iter().filter(|ip| ip.is_ipv6()).count() > 1
        {
            return Err(IpamError::Malformed {
                pod,
                what: "ip",
                value: join(&ips),
                reason: "is not one address per family".into(),
            });
        }
        let addr = PodAddress { subnet: subnet.to_string(), ips, mac };
        if let Some(held) = self.pods.get(pod_key) {
            if *held == addr {
                return Ok(addr);
            }
            return Err(IpamError::AlreadyAllocated {
                pod,
                subnet: held.subnet.clone(),
                held: held.lsp_address(),
                asked: format!("{} in subnet {subnet}", addr.lsp_address()),
            });
        }
        if let Some(holder) = state.mac_holder(pod_key, &addr.mac) {
            return Err(IpamError::MacTaken { pod, mac: addr.mac, subnet: subnet.into(), holder: holder.clone() });
        }
        state.place(pod_key, &addr.ips, &addr.mac).map_err(|(ip, reason)| IpamError::Refused {
            pod: pod.clone(),
            what: "ip",
            ip,
            subnet: subnet.into(),
            reason,
        })?;
        self.pods.insert(pod, addr.clone());
        Ok(addr)
    }

    /// How many pods hold an address in `subnet` (Kube-OVN's `usingIPs`: a
    /// dual-stack pod counts once per family, i.e. this number in each).
    pub fn using(&self, subnet: &str) -> u64 {
        self.subnets.get(subnet).map_or(0, |s| s.pods.len() as u64)
    }

    pub fn lookup(&self, pod_key: &str) -> Option<&PodAddress> {
        self.pods.get(pod_key)
    }

    /// Every allocation, by pod key.
    pub fn pods(&self) -> impl Iterator<Item = (&str, &PodAddress)> {
        self.pods.iter().map(|(k, a)| (k.as_str(), a))
    }

    /// The switch ports of the pods in OVN subnets, in pod key order.
    pub fn ports(&self) -> Vec<PodPort> {
        self.pods
            .iter()
            .filter(|(_, a)| self.subnets.get(&a.subnet).is_some_and(|s| s.is_ovn))
            .filter_map(|(k, a)| PodPort::new(k, a))
            .collect()
    }
}

/// A comma list of IPs, at most one per family, IPv4 first.
fn parse_ips(pod: &str, what: &'static str, s: &str) -> Result<Vec<IpAddr>, IpamError> {
    let bad = |reason: &str| IpamError::Malformed { pod: pod.into(), what, value: s.into(), reason: reason.into() };
    let mut ips = vec![];
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let ip: IpAddr = part.parse().map_err(|_| bad("is not a comma list of IP addresses"))?;
        if ips.iter().any(|o: &IpAddr| o.is_ipv6() == ip.is_ipv6()) {
            return Err(bad("names two addresses of one family"));
        }
        ips.push(ip);
    }
    ips.sort_by_key(|ip| ip.is_ipv6());
    Ok(ips)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::validate::validate;
    use crate::model::{SubnetSpec, VpcSpec};

    fn spec(cidr: &str, excludes: &[&str]) -> SubnetSpec {
        SubnetSpec {
            cidr_block: cidr.into(),
            vpc: "vpc1".into(),
            exclude_ips: excludes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn model(subnets: &[(&str, SubnetSpec)]) -> Model {
        let subnets: Vec<(String, SubnetSpec)> = subnets.iter().map(|(n, s)| (n.to_string(), s.clone())).collect();
        let (m, rejected) = validate(&[("vpc1".into(), VpcSpec::default())], &subnets);
        assert!(rejected.is_empty(), "{rejected:?}");
        m
    }

    fn ipam(subnets: &[(&str, SubnetSpec)]) -> Ipam {
        let mut i = Ipam::new();
        let r = i.sync_subnets(&model(subnets));
        assert!(r.evicted.is_empty());
        i
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ips(a: &PodAddress) -> Vec<String> {
        a.ips.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn allocation_order_and_exhaustion_of_a_29() {
        let mut i = ipam(&[("net1", spec("10.0.0.0/29", &[]))]);
        // .0 network, .1 gateway, .7 last: .2 to .6 in order.
        for n in 2..=6 {
            let a = i.allocate(&format!("ns/p{n}"), "net1", None, None).unwrap();
            assert_eq!(ips(&a), [format!("10.0.0.{n}")]);
        }
        assert_eq!(i.using("net1"), 5);
        let e = i.allocate("ns/p7", "net1", None, None).unwrap_err();
        assert_eq!(e, IpamError::Exhausted { pod: "ns/p7".into(), subnet: "net1".into(), family: "IPv4" });
        assert_eq!(e.to_string(), "pod ns/p7: subnet net1 has no free IPv4 address");
        assert_eq!(i.using("net1"), 5);
        assert_eq!(i.lookup("ns/p7"), None);
    }

    #[test]
    fn excludes_and_ranges_are_skipped() {
        let mut i = ipam(&[("net1", spec("10.0.0.0/24", &["10.0.0.2..10.0.0.4", "10.0.0.6", "10.0.0.8..10.0.0.9"]))]);
        let got: Vec<String> =
            (0..4).map(|n| ips(&i.allocate(&format!("ns/p{n}"), "net1", None, None).unwrap())[0].clone()).collect();
        assert_eq!(got, ["10.0.0.5", "10.0.0.7", "10.0.0.10", "10.0.0.11"]);
        // A subnet whose every host is excluded or the gateway is exhausted.
        let mut j = ipam(&[("tiny", spec("10.9.0.0/29", &["10.9.0.2..10.9.0.6"]))]);
        assert!(matches!(j.allocate("ns/p", "tiny", None, None), Err(IpamError::Exhausted { .. })));
    }

    #[test]
    fn requested_ip_is_honoured() {
        let mut i = ipam(&[("net1", spec("10.0.1.0/24", &[]))]);
        let a = i.allocate("ns1/web-0", "net1", Some("10.0.1.77"), Some("0A-00-00-AA-BB-CC")).unwrap();
        assert_eq!(ips(&a), ["10.0.1.77"]);
        assert_eq!(a.mac, "0a:00:00:aa:bb:cc", "normalised");
        // Dynamic allocations go around it.
        assert_eq!(ips(&i.allocate("ns1/web-1", "net1", None, None).unwrap()), ["10.0.1.2"]);
    }

    #[test]
    fn requested_ip_is_refused_for_each_reason() {
        let mut i = ipam(&[("net1", spec("10.0.1.0/24", &["10.0.1.100..10.0.1.110"]))]);
        i.allocate("ns1/other", "net1", Some("10.0.1.50"), Some("0a:01:01:01:01:01")).unwrap();
        let refused = |i: &mut Ipam, req: &str| match i.allocate("ns1/web-0", "net1", Some(req), None) {
            Err(IpamError::Refused { reason, .. }) => reason,
            other => panic!("{req}: {other:?}"),
        };
        assert_eq!(refused(&mut i, "10.0.2.5"), Refusal::Outside { cidrs: "10.0.1.0/24".into() });
        assert_eq!(refused(&mut i, "fd00::5"), Refusal::Outside { cidrs: "10.0.1.0/24".into() });
        assert_eq!(refused(&mut i, "10.0.1.0"), Refusal::NetworkAddress);
        assert_eq!(refused(&mut i, "10.0.1.255"), Refusal::LastAddress);
        assert_eq!(refused(&mut i, "10.0.1.1"), Refusal::Gateway);
        assert_eq!(refused(&mut i, "10.0.1.105"), Refusal::Excluded);
        assert_eq!(refused(&mut i, "10.0.1.50"), Refusal::Taken { holder: "ns1/other".into() });
        let e = i.allocate("ns1/web-0", "net1", Some("10.0.1.1"), None).unwrap_err();
        assert_eq!(e.to_string(), "pod ns1/web-0: requested ip 10.0.1.1 in subnet net1 is the gateway");
        let e = i.allocate("ns1/web-0", "net1", Some("10.0.1.50"), None).unwrap_err();
        assert_eq!(e.to_string(), "pod ns1/web-0: requested ip 10.0.1.50 in subnet net1 is taken by pod ns1/other");
        for bad in ["nonsense", "10.0.1.5,10.0.1.6", "10.0.1.5/24"] {
            let e = i.allocate("ns1/web-0", "net1", Some(bad), None).unwrap_err();
            assert!(matches!(e, IpamError::Malformed { what: "requested ip", .. }), "{bad}: {e:?}");
        }
        for bad in ["nonsense", "01:00:5e:00:00:01", "00:00:00:00:00:00", "0a:00:00:00:00"] {
            let e = i.allocate("ns1/web-0", "net1", None, Some(bad)).unwrap_err();
            assert!(matches!(e, IpamError::Malformed { what: "requested mac", .. }), "{bad}: {e:?}");
        }
        let e = i.allocate("ns1/web-0", "net1", None, Some("0A:01:01:01:01:01")).unwrap_err();
        assert_eq!(
            e,
            IpamError::MacTaken {
                pod: "ns1/web-0".into(),
                mac: "0a:01:01:01:01:01".into(),
                subnet: "net1".into(),
                holder: "ns1/other".into()
            }
        );
        let e = i.allocate("ns1/web-0", "nope", None, None).unwrap_err();
        assert_eq!(e.to_string(), "pod ns1/web-0: subnet nope does not exist (or is not valid)");
        // Nothing was taken by the failures.
        assert_eq!(i.using("net1"), 1);
        assert_eq!(i.lookup("ns1/web-0"), None);
        assert_eq!(ips(&i.allocate("ns1/web-0", "net1", None, None).unwrap()), ["10.0.1.2"]);
    }

    #[test]
    fn allocate_is_idempotent() {
        let mut i = ipam(&[("net1", spec("10.0.1.0/24", &[])), ("net2", spec("10.0.2.0/24", &[]))]);
        let a = i.allocate("ns/p", "net1", None, None).unwrap();
        assert_eq!(i.allocate("ns/p", "net1", None, None).unwrap(), a);
        // What the pod's own annotations say after the first allocation.
        assert_eq!(i.allocate("ns/p", "net1", Some(&a.ip_list()), Some(&a.mac)).unwrap(), a);
        assert_eq!(i.using("net1"), 1);
        // Asking for something else, or elsewhere, is refused: a pod keeps its address.
        let e = i.allocate("ns/p", "net1", Some("10.0.1.9"), None).unwrap_err();
        assert!(matches!(e, IpamError::AlreadyAllocated { .. }), "{e:?}");
        assert!(e.to_string().contains("already holds") && e.to_string().contains("10.0.1.9"), "{e}");
        let e = i.allocate("ns/p", "net2", None, None).unwrap_err();
        assert!(matches!(e, IpamError::AlreadyAllocated { ref subnet, .. } if subnet == "net1"), "{e:?}");
        assert_eq!(i.lookup("ns/p"), Some(&a));
    }

    #[test]
    fn release_then_reallocate_reuses() {
        let mut i = ipam(&[("net1", spec("10.0.1.0/24", &[]))]);
        for n in 0..5 {
            i.allocate(&format!("ns/p{n}"), "net1", None, None).unwrap();
        }
        let gone = i.release("ns/p1").unwrap();
        assert_eq!(ips(&gone), ["10.0.1.3"]);
        assert_eq!(i.release("ns/p1"), None, "twice is a no-op");
        assert_eq!(i.using("net1"), 4);
        // The lowest free address is the released one; its MAC is free too.
        let a = i.allocate("ns/new", "net1", None, Some(&gone.mac)).unwrap();
        assert_eq!(ips(&a), ["10.0.1.3"]);
        assert_eq!(a.mac, gone.mac);
        assert_eq!(ips(&i.allocate("ns/next", "net1", None, None).unwrap()), ["10.0.1.7"]);
        // The free ranges merge back: releasing everything leaves one range.
        for k in ["ns/p0", "ns/p2", "ns/p3", "ns/p4", "ns/new", "ns/next"] {
            i.release(k).unwrap();
        }
        let pool = &i.subnets["net1"].pools[0];
        assert_eq!(pool.free.len(), 1);
        assert!(pool.taken.is_empty());
        assert_eq!(i.using("net1"), 0);
    }

    #[test]
    fn dual_stack() {
        let mut i = ipam(&[("dual", spec("10.0.3.0/24,fd00::/64", &[]))]);
        let a = i.allocate("ns/a", "dual", None, None).unwrap();
        assert_eq!(ips(&a), ["10.0.3.2", "fd00::2"]);
        assert_eq!(a.lsp_address(), format!("{} 10.0.3.2 fd00::2", a.mac));
        // One family requested: the other gets its lowest free address.
        let b = i.allocate("ns/b", "dual", Some("fd00::99"), None).unwrap();
        assert_eq!(ips(&b), ["10.0.3.3", "fd00::99"]);
        let c = i.allocate("ns/c", "dual", Some("fd00::7, 10.0.3.40"), None).unwrap();
        assert_eq!(ips(&c), ["10.0.3.40", "fd00::7"]);
        assert_eq!(c.ip_list(), "10.0.3.40,fd00::7");
        assert_eq!(i.using("dual"), 3);
        let e = i.allocate("ns/d", "dual", Some("fd00::1"), None).unwrap_err();
        assert!(matches!(e, IpamError::Refused { reason: Refusal::Gateway, .. }), "{e:?}");
    }

    #[test]
    fn dual_stack_exhaustion_takes_nothing() {
        // The IPv6 /126 has one usable address (::1 is the gateway).
        let mut i = ipam(&[("dual", spec("10.0.3.0/24,fd00::/126", &[]))]);
        assert_eq!(ips(&i.allocate("ns/a", "dual", None, None).unwrap()), ["10.0.3.2", "fd00::2"]);
        let e = i.allocate("ns/b", "dual", None, None).unwrap_err();
        assert_eq!(e, IpamError::Exhausted { pod: "ns/b".into(), subnet: "dual".into(), family: "IPv6" });
        assert_eq!(i.using("dual"), 1);
        assert_eq!(i.subnets["dual"].pools[0].lowest_free(), Some(to_u128(ip("10.0.3.3"))));
    }

    #[test]
    fn restore_rebuilds_and_reports_conflicts() {
        let mut i = ipam(&[("net1", spec("10.0.1.0/24", &["10.0.1.200..10.0.1.210"]))]);
        let a = i.restore("ns/a", "net1", &[ip("10.0.1.2")], "0A:AA:AA:AA:AA:AA").unwrap();
        assert_eq!(a, PodAddress { subnet: "net1".into(), ips: vec![ip("10.0.1.2")], mac: "0a:aa:aa:aa:aa:aa".into() });
        // Both sources (NB port and annotations) restoring the same thing: fine.
        assert_eq!(i.restore("ns/a", "net1", &[ip("10.0.1.2")], "0a:aa:aa:aa:aa:aa").unwrap(), a);
        // An excluded address exists: accepted (excludeIps only steer new allocations).
        i.restore("ns/b", "net1", &[ip("10.0.1.205")], "0a:bb:bb:bb:bb:bb").unwrap();
        // Conflicts: reported, nothing recorded.
        let e = i.restore("ns/c", "net1", &[ip("10.0.1.2")], "0a:cc:cc:cc:cc:cc").unwrap_err();
        assert_eq!(e.to_string(), "pod ns/c: ip 10.0.1.2 in subnet net1 is taken by pod ns/a");
        let e = i.restore("ns/c", "net1", &[ip("10.0.1.3")], "0a:aa:aa:aa:aa:aa").unwrap_err();
        assert!(matches!(e, IpamError::MacTaken { ref holder, .. } if holder == "ns/a"), "{e:?}");
        let e = i.restore("ns/c", "net1", &[ip("10.0.1.1")], "0a:cc:cc:cc:cc:cc").unwrap_err();
        assert!(matches!(e, IpamError::Refused { reason: Refusal::Gateway, what: "ip", .. }), "{e:?}");
        let e = i.restore("ns/c", "net1", &[ip("10.0.9.1")], "0a:cc:cc:cc:cc:cc").unwrap_err();
        assert!(matches!(e, IpamError::Refused { reason: Refusal::Outside { .. }, .. }), "{e:?}");
        let e = i.restore("ns/c", "net1", &[], "0a:cc:cc:cc:cc:cc").unwrap_err();
        assert!(matches!(e, IpamError::Malformed { what: "ip", .. }), "{e:?}");
        let e = i.restore("ns/c", "net1", &[ip("10.0.1.3"), ip("10.0.1.4")], "0a:cc:cc:cc:cc:cc").unwrap_err();
        assert!(matches!(e, IpamError::Malformed { what: "ip", .. }), "{e:?}");
        let e = i.restore("ns/c", "net1", &[ip("10.0.1.3")], "junk").unwrap_err();
        assert!(matches!(e, IpamError::Malformed { what: "mac", .. }), "{e:?}");
        let e = i.restore("ns/c", "gone", &[ip("10.0.1.3")], "0a:cc:cc:cc:cc:cc").unwrap_err();
        assert!(matches!(e, IpamError::UnknownSubnet { .. }), "{e:?}");
        let e = i.restore("ns/a", "net1", &[ip("10.0.1.9")], "0a:aa:aa:aa:aa:aa").unwrap_err();
        assert!(matches!(e, IpamError::AlreadyAllocated { .. }), "{e:?}");
        assert_eq!(i.lookup("ns/c"), None);
        assert_eq!(i.using("net1"), 2);
        // Allocation goes around restored addresses; a restored pod gets its own back.
        assert_eq!(ips(&i.allocate("ns/c", "net1", None, None).unwrap()), ["10.0.1.3"]);
        assert_eq!(i.allocate("ns/a", "net1", Some("10.0.1.2"), None).unwrap(), a);
        // Releasing an excluded address does not make it allocatable.
        i.release("ns/b").unwrap();
        let e = i.allocate("ns/d", "net1", Some("10.0.1.205"), None).unwrap_err();
        assert!(matches!(e, IpamError::Refused { reason: Refusal::Excluded, .. }), "{e:?}");
    }

    #[test]
    fn subnet_changes_evict_pods_that_no_longer_fit() {
        let mut i = ipam(&[("net1", spec("10.0.0.0/24", &[])), ("net2", spec("10.0.2.0/24", &[]))]);
        for (k, a) in [("ns/a", "10.0.0.2"), ("ns/b", "10.0.0.3"), ("ns/c", "10.0.0.200"), ("ns/d", "10.0.0.127")] {
            i.allocate(k, "net1", Some(a), None).unwrap();
        }
        i.allocate("ns/z", "net2", None, None).unwrap();
        // Excludes alone evict nobody, but steer new allocations.
        let r = i.sync_subnets(&model(&[
            ("net1", spec("10.0.0.0/24", &["10.0.0.3..10.0.0.10"])),
            ("net2", spec("10.0.2.0/24", &[])),
        ]));
        assert_eq!((r.changed.as_slice(), r.evicted.as_slice()), (&["net1".to_string()][..], &[][..]));
        assert_eq!(i.using("net1"), 4);
        assert_eq!(ips(&i.allocate("ns/e", "net1", None, None).unwrap()), ["10.0.0.11"]);
        // Shrink to a /25 with gateway .3: .200 is outside, .3 the gateway, .127 the last address.
        let mut s = spec("10.0.0.0/25", &[]);
        s.gateway = "10.0.0.3".into();
        let r = i.sync_subnets(&model(&[("net1", s), ("net2", spec("10.0.2.0/24", &[]))]));
        let why: Vec<(&str, IpAddr, Refusal)> = r
            .evicted
            .iter()
            .map(|e| match &e.reason {
                EvictReason::NoLongerFits { ip, reason } => (e.pod.as_str(), *ip, reason.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            why,
            [
                ("ns/b", ip("10.0.0.3"), Refusal::Gateway),
                ("ns/c", ip("10.0.0.200"), Refusal::Outside { cidrs: "10.0.0.0/25".into() }),
                ("ns/d", ip("10.0.0.127"), Refusal::LastAddress),
            ]
        );
        assert!(r.evicted[1].to_string().contains("10.0.0.200 no longer fits subnet net1"), "{}", r.evicted[1]);
        assert_eq!(i.using("net1"), 2);
        assert_eq!(i.lookup("ns/c"), None);
        assert!(i.lookup("ns/a").is_some() && i.lookup("ns/e").is_some());
        assert_eq!(i.using("net2"), 1, "other subnets untouched");
        // The old gateway is a host now; evicted addresses inside the new
        // CIDR are free again, the new gateway is not.
        assert_eq!(ips(&i.allocate("ns/f", "net1", None, None).unwrap()), ["10.0.0.1"]);
        assert_eq!(ips(&i.allocate("ns/g", "net1", None, None).unwrap()), ["10.0.0.4"]);
        // A removed subnet releases all its pods.
        let r = i.sync_subnets(&model(&[("net2", spec("10.0.2.0/24", &[]))]));
        assert_eq!(r.removed, ["net1"]);
        let gone: Vec<&str> = r.evicted.iter().map(|e| e.pod.as_str()).collect();
        assert_eq!(gone, ["ns/a", "ns/e", "ns/f", "ns/g"]);
        assert!(r.evicted.iter().all(|e| e.reason == EvictReason::SubnetRemoved));
        assert_eq!(i.using("net1"), 0);
        assert_eq!(i.lookup("ns/a"), None);
        let e = i.allocate("ns/a", "net1", None, None).unwrap_err();
        assert!(matches!(e, IpamError::UnknownSubnet { .. }));
        // Added again: empty.
        let r = i.sync_subnets(&model(&[("net1", spec("10.0.0.0/24", &[])), ("net2", spec("10.0.2.0/24", &[]))]));
        assert_eq!(r.added, ["net1"]);
        assert_eq!(ips(&i.allocate("ns/a", "net1", None, None).unwrap()), ["10.0.0.2"]);
    }

    #[test]
    fn family_removed_evicts_dual_stack_pods() {
        let mut i = ipam(&[("net1", spec("10.0.0.0/24,fd00::/64", &[]))]);
        i.allocate("ns/a", "net1", None, None).unwrap();
        let r = i.sync_subnets(&model(&[("net1", spec("10.0.0.0/24", &[]))]));
        assert_eq!(r.evicted.len(), 1);
        assert!(matches!(&r.evicted[0].reason, EvictReason::NoLongerFits { ip: gone, .. } if *gone == ip("fd00::2")));
        assert_eq!(i.using("net1"), 0);
    }

    #[test]
    fn a_16_with_5000_pods() {
        let mut i = ipam(&[("big", spec("10.1.0.0/16", &["10.1.0.2..10.1.0.255"])), ("v6", spec("fd00:1::/64", &[]))]);
        for n in 0..5000 {
            let k = format!("ns/p{n}");
            i.allocate(&k, "big", None, None).unwrap();
            i.allocate(&format!("ns/q{n}"), "v6", None, None).unwrap();
        }
        assert_eq!(i.using("big"), 5000);
        assert_eq!(i.using("v6"), 5000);
        assert_eq!(ips(i.lookup("ns/p0").unwrap()), ["10.1.1.0"]);
        // 256 + 4999 = 5255 = 20 * 256 + 135.
        assert_eq!(ips(i.lookup("ns/p4999").unwrap()), ["10.1.20.135"]);
        assert_eq!(ips(i.lookup("ns/q4999").unwrap()), ["fd00:1::1389"]);
        let macs: BTreeSet<&str> = i.pods().map(|(_, a)| a.mac.as_str()).collect();
        assert_eq!(macs.len(), 10000);
        // Release every other pod, then allocate again: the holes are refilled lowest first.
        for n in (0..5000).step_by(2) {
            i.release(&format!("ns/p{n}")).unwrap();
        }
        assert_eq!(i.subnets["big"].pools[0].free.len(), 2501);
        let a = i.allocate("ns/new", "big", None, None).unwrap();
        assert_eq!(ips(&a), ["10.1.1.0"]);
        for n in 0..2499 {
            i.allocate(&format!("ns/r{n}"), "big", None, None).unwrap();
        }
        assert_eq!(i.subnets["big"].pools[0].free.len(), 1);
        assert_eq!(i.using("big"), 5000);
    }

    #[test]
    fn derived_macs() {
        let m = derived_mac("ns/p", 0);
        assert_eq!(m, derived_mac("ns/p", 0), "deterministic");
        assert_ne!(m, derived_mac("ns/p", 1));
        assert_ne!(m, derived_mac("ns/q", 0));
        assert!(m.starts_with("0a:") && m.len() == 17, "{m}");
        assert_eq!(parse_mac(&m).unwrap(), m, "a valid unicast MAC");
        // The same pod gets the same MAC after a release.
        let mut i = ipam(&[("net1", spec("10.0.1.0/24", &[]))]);
        let first = i.allocate("ns/p", "net1", None, None).unwrap().mac;
        assert_eq!(first, derived_mac("ns/p", 0));
        i.release("ns/p");
        assert_eq!(i.allocate("ns/p", "net1", None, None).unwrap().mac, first);
        // A collision moves on to the next derivation.
        i.allocate("ns/squatter", "net1", None, Some(&derived_mac("ns/victim", 0))).unwrap();
        assert_eq!(i.allocate("ns/victim", "net1", None, None).unwrap().mac, derived_mac("ns/victim", 1));
        // Never in stable_mac's 0a:00:00 space.
        let clash = (0..1_000_000u32).map(|n| format!("ns/k{n}")).find(|k| derived_mac(k, 0).starts_with("0a:00:00:"));
        let clash = clash.expect("about one key in 65536 derives into 0a:00:00 at attempt 0");
        assert_eq!(i.allocate(&clash, "net1", None, None).unwrap().mac, derived_mac(&clash, 1));
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(parse_mac(" 0A-1b-2C-3d-4E-5f ").unwrap(), "0a:1b:2c:3d:4e:5f");
        assert!(parse_mac("ff:ff:ff:ff:ff:ff").is_err());
        assert!(parse_mac("0a:1b:2c:3d:4e").is_err());
        assert!(parse_mac("0a:1b:2c:3d:4e:5g").is_err());
        assert!(parse_mac("0a:1b:2c:3d:4e:5").is_err());
    }

    #[test]
    fn ports_of_ovn_subnets_only() {
        let mut attach = spec("192.168.0.0/24", &[]);
        attach.provider = "macvlan.default".into();
        attach.vpc = String::new();
        let mut i = ipam(&[("net1", spec("10.0.1.0/24", &[])), ("attach", attach)]);
        i.allocate("ns1/web-0", "net1", None, None).unwrap();
        i.allocate("ns1/web-1", "attach", None, None).unwrap();
        let ports = i.ports();
        assert_eq!(ports.len(), 1);
        let p = &ports[0];
        assert_eq!(
            (p.key.as_str(), p.pod.as_str(), p.namespace.as_str(), p.subnet.as_str()),
            ("ns1/web-0", "web-0", "ns1", "net1")
        );
        assert_eq!(p.ips, vec![ip("10.0.1.2")]);
        assert_eq!(i.using("attach"), 1);
        assert_eq!(PodPort::new("no-slash", i.lookup("ns1/web-0").unwrap()), None);
    }

    #[test]
    fn pool_edges() {
        // /31, /32: no hosts at all.
        for c in ["10.0.0.0/31", "10.0.0.0/32", "fd00::/127"] {
            let net: IpNet = c.parse().unwrap();
            let p = Pool::new(net, None, std::iter::empty());
            assert!(p.free.is_empty(), "{c}");
        }
        // Excludes overlapping, adjacent and reaching past the host range merge.
        let net: IpNet = "10.0.0.0/28".parse().unwrap();
        let x = |s: &str| to_u128(ip(s));
        let ex = [(x("10.0.0.0"), x("10.0.0.3")), (x("10.0.0.4"), x("10.0.0.5")), (x("10.0.0.14"), x("10.0.0.15"))];
        let p = Pool::new(net, Some(x("10.0.0.9")), ex.into_iter());
        let free: Vec<(u128, u128)> = p.free.iter().map(|(a, b)| (*a, *b)).collect();
        assert_eq!(free, [(x("10.0.0.6"), x("10.0.0.8")), (x("10.0.0.10"), x("10.0.0.13"))]);
        assert_eq!(p.excludes, [(x("10.0.0.0"), x("10.0.0.5")), (x("10.0.0.14"), x("10.0.0.15"))]);
    }
}
