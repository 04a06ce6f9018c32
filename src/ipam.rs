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
//! [`crate::nb::rows::stable_mac`] (router ports, DHCP).

mod pool;
mod report;
use pool::{from_u128, to_u128, Pool};
pub use report::{EvictReason, Eviction, IpamError, Refusal, SyncReport};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

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

pub use crate::mac::{derived_mac, parse_mac};
pub use crate::model::derived::PodPort;

impl PodAddress {
    /// The port of pod `key` at this address; `None` when `key` is not
    /// `<namespace>/<name>`.
    pub fn port(&self, key: &str) -> Option<PodPort> {
        let addr = self;
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
            port_security: true,
        })
    }
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
        self.sync_subnets_holding(model, &BTreeSet::new())
    }

    /// As [`Ipam::sync_subnets`], but the subnets in `held` (refused this
    /// pass, not deleted: their rows stay) keep their state as it is.
    pub fn sync_subnets_holding(&mut self, model: &Model, held: &BTreeSet<String>) -> SyncReport {
        let mut report = SyncReport::default();
        let gone: Vec<String> =
            self.subnets.keys().filter(|n| !model.subnets.contains_key(*n) && !held.contains(*n)).cloned().collect();
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

    /// The pods whose addresses would no longer fit if `model` were
    /// adopted, by subnet (a changed CIDR, gateway or excludeIps). Pure: a
    /// dry run of [`Ipam::sync_subnets`] for the subnets that changed.
    pub fn would_evict(&self, model: &Model) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, s) in &model.subnets {
            let Some(state) = self.subnets.get(name).filter(|st| st.def != SubnetDef::of(s)) else { continue };
            let mut fresh = SubnetState::new(s);
            for pod in &state.pods {
                let Some(addr) = self.pods.get(pod) else { continue };
                if fresh.place(pod, &addr.ips, &addr.mac).is_err() {
                    out.entry(name.clone()).or_default().push(pod.clone());
                }
            }
        }
        out
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

    /// Who holds `ip` in `subnet` (a pod key, or another holder's key).
    pub fn holder(&self, subnet: &str, ip: &IpAddr) -> Option<&str> {
        let s = self.subnets.get(subnet)?;
        let p = &s.pools[s.pool_of(ip)?];
        p.taken.get(&to_u128(*ip)).map(String::as_str)
    }

    pub fn lookup(&self, pod_key: &str) -> Option<&PodAddress> {
        self.pods.get(pod_key)
    }

    /// The allocations whose key starts with `prefix`, in key order: a range
    /// of the map, not a walk of every allocation.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a PodAddress)> + 'a {
        self.pods
            .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, a)| (k.as_str(), a))
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
            .filter_map(|(k, a)| a.port(k))
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
mod tests;
