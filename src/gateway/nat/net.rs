//! The gateway pod's addresses and routes, pure: what `ip -j` shows read
//! back, the changes to make as one `ip -force -batch -` input, and the
//! gratuitous ARP to send for each EIP added.
//!
//! Invariants:
//! - EIPs are addresses on `net1` with our label [`EIP_LABEL`], the
//!   external subnet's prefix length; only addresses with that label are
//!   ever removed (never the CNI's primary address, label `net1`), and an
//!   EIP already on `net1` under another label is left as it is.
//! - Our routes carry the protocol number [`ROUTE_PROTO`] and only those
//!   are ever removed: the default route via the external gateway
//!   (`dev net1 onlink`, replacing the CNI's default) and `lan.routes` via
//!   `eth0`.
//! - The set is not trusted (the daemon validates it; a set written by
//!   hand or by another release may not be): each destination is planned
//!   once, spelled as `ip -j route show` shows it back (host bits cleared,
//!   `default`, a bare address for a /32), the first route to it winning —
//!   the default route via `net1` before any LAN route, a LAN route before
//!   a later one to the same destination. So an applied set plans nothing
//!   at the next re-check: no route is re-planned every period.
//! - The batch is run with `ip -force`: a line the kernel refuses (a next
//!   hop it cannot reach) does not stop the lines after it, and
//!   [`batch_failures`] names each failed line and the kernel's reason.

use std::net::Ipv4Addr;

use serde::Deserialize;

use super::iptables::parse_cidr;
use super::NatError;
use crate::rules::nat::{NatRuleSet, EXTERNAL_INTERFACE, LAN_INTERFACE};

/// The label of the EIP addresses the agent adds to `net1` (at most 15
/// bytes, starting with the device's name, as the kernel wants).
pub const EIP_LABEL: &str = "net1:eip";
/// The `proto` of the routes the agent adds (unassigned in
/// /etc/iproute2/rt_protos).
pub const ROUTE_PROTO: u8 = 157;
/// Gratuitous ARPs sent for each EIP added (as Kube-OVN).
pub const ARP_COUNT: u32 = 3;

/// An IPv4 address on `net1` as `ip -j addr show dev net1` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub label: String,
}

impl Address {
    fn cidr(&self) -> String {
        format!("{}/{}", self.ip, self.prefix_len)
    }
}

/// A route as `ip -j route show` shows it: `dst` is `default`, a bare
/// address for a /32, else `net/len`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: String,
    pub via: Option<Ipv4Addr>,
    pub dev: String,
}

fn parse_error(command: &str, e: impl std::fmt::Display) -> NatError {
    NatError::Parse { command: command.into(), reason: e.to_string() }
}

/// `ip -j addr show dev net1`: its IPv4 addresses.
pub fn parse_addresses(json: &str) -> Result<Vec<Address>, NatError> {
    #[derive(Deserialize)]
    struct Link {
        #[serde(default)]
        addr_info: Vec<Info>,
    }
    #[derive(Deserialize)]
    struct Info {
        family: String,
        #[serde(default)]
        local: String,
        #[serde(default)]
        prefixlen: u8,
        #[serde(default)]
        label: String,
    }
    let command = "ip -j addr show";
    let links: Vec<Link> = serde_json::from_str(json).map_err(|e| parse_error(command, e))?;
    let mut out = Vec::new();
    for info in links.into_iter().flat_map(|l| l.addr_info) {
        if info.family == "inet" {
            let ip = info.local.parse().map_err(|e| parse_error(command, format!("{:?}: {e}", info.local)))?;
            out.push(Address { ip, prefix_len: info.prefixlen, label: info.label });
        }
    }
    Ok(out)
}

/// `ip -j route show table main proto 157`: our routes.
pub fn parse_routes(json: &str) -> Result<Vec<Route>, NatError> {
    #[derive(Deserialize)]
    struct Entry {
        dst: String,
        gateway: Option<Ipv4Addr>,
        #[serde(default)]
        dev: String,
    }
    let command = "ip -j route show";
    // `ip -j` prints nothing at all for an empty table on some versions.
    if json.trim().is_empty() {
        return Ok(vec![]);
    }
    let entries: Vec<Entry> = serde_json::from_str(json).map_err(|e| parse_error(command, e))?;
    Ok(entries.into_iter().map(|e| Route { dst: e.dst, via: e.gateway, dev: e.dev }).collect())
}

/// A route's destination as `ip -j route` spells it.
fn route_dst(cidr: &str) -> Result<String, NatError> {
    let (net, len) = parse_cidr("lan.routes.cidr", cidr)?;
    Ok(match len {
        0 => "default".into(),
        32 => net.to_string(),
        _ => format!("{net}/{len}"),
    })
}

/// The routes the set wants, in order: the default route first, then one
/// route per other destination (the first of `lan.routes` to it).
pub fn desired_routes(set: &NatRuleSet) -> Result<Vec<Route>, NatError> {
    let mut routes =
        vec![Route { dst: "default".into(), via: Some(set.external.gateway), dev: EXTERNAL_INTERFACE.into() }];
    for r in &set.lan.routes {
        let dst = route_dst(&r.cidr)?;
        if !routes.iter().any(|have| have.dst == dst) {
            routes.push(Route { dst, via: Some(r.via), dev: LAN_INTERFACE.into() });
        }
    }
    Ok(routes)
}

/// The address and route changes, and the EIPs to announce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetPlan {
    pub remove_addresses: Vec<Address>,
    pub add_addresses: Vec<Address>,
    pub remove_routes: Vec<Route>,
    pub add_routes: Vec<Route>,
    /// The EIPs added: each gets gratuitous ARP once it is on `net1`.
    pub announce: Vec<Ipv4Addr>,
}

/// The diff of `net1`'s addresses and our routes against the set.
pub fn plan(set: &NatRuleSet, addresses: &[Address], our_routes: &[Route]) -> Result<NetPlan, NatError> {
    let mut p = NetPlan::default();
    let want: Vec<Address> = set
        .eips
        .iter()
        .map(|e| Address { ip: e.ip, prefix_len: set.external.prefix_len, label: EIP_LABEL.into() })
        .collect();
    for have in addresses.iter().filter(|a| a.label == EIP_LABEL) {
        if !want.contains(have) {
            p.remove_addresses.push(have.clone());
        }
    }
    for w in &want {
        let present = addresses.iter().any(|a| a == w || (a.ip == w.ip && a.label != EIP_LABEL));
        if !present {
            p.add_addresses.push(w.clone());
            p.announce.push(w.ip);
        }
    }
    let routes = desired_routes(set)?;
    p.remove_routes = our_routes.iter().filter(|r| !routes.contains(r)).cloned().collect();
    p.add_routes = routes.into_iter().filter(|r| !our_routes.contains(r)).collect();
    Ok(p)
}

impl NetPlan {
    pub fn is_empty(&self) -> bool {
        self.batch().is_empty()
    }

    /// The changes as `ip -force -batch -` lines: addresses first (a route's
    /// gateway may need one), removals before additions.
    pub fn batch(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.remove_addresses {
            out.push(format!("address del {} dev {EXTERNAL_INTERFACE}", a.cidr()));
        }
        for a in &self.add_addresses {
            out.push(format!("address add {} dev {EXTERNAL_INTERFACE} label {}", a.cidr(), a.label));
        }
        let spell = |r: &Route| {
            let via = r.via.map(|v| format!(" via {v}")).unwrap_or_default();
            let onlink = if r.dev == EXTERNAL_INTERFACE { " onlink" } else { "" };
            format!("{}{via} dev {}{onlink} proto {ROUTE_PROTO}", r.dst, r.dev)
        };
        for r in &self.remove_routes {
            out.push(format!("route del {}", spell(r)));
        }
        for r in &self.add_routes {
            out.push(format!("route replace {}", spell(r)));
        }
        out
    }
}

/// The lines of `batch` that `ip -force -batch -` reports as failed on
/// its `stderr` (the kernel's message, then `Command failed -:N`), each as
/// ``"`line`: message"``, in order.
pub fn batch_failures(batch: &[String], stderr: &str) -> Vec<String> {
    let mut out = vec![];
    let mut message: Vec<&str> = vec![];
    for l in stderr.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match l.strip_prefix("Command failed -:").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => {
                let line = n.checked_sub(1).and_then(|i| batch.get(i)).map_or("?", String::as_str);
                out.push(format!("`{line}`: {}", message.join(" ")));
                message.clear();
            }
            None => message.push(l),
        }
    }
    out
}

/// The two `arping`s Debian ships take different flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arping {
    /// iputils-arping: `-U` unsolicited, `-I` interface, source = target.
    Iputils,
    /// Thomas Habets' arping (package `arping`): `-i`, `-S` source.
    Habets,
}

impl Arping {
    /// Which one printed this `arping --help` text.
    pub fn from_help(text: &str) -> Arping {
        if text.contains("Habets") {
            Arping::Habets
        } else {
            Arping::Iputils
        }
    }

    /// The arguments announcing `ip` on `net1` by [`ARP_COUNT`] gratuitous
    /// (unsolicited) ARPs.
    pub fn announce_args(self, ip: Ipv4Addr) -> Vec<String> {
        let (ip, count) = (ip.to_string(), ARP_COUNT.to_string());
        let args: Vec<&str> = match self {
            Arping::Iputils => vec!["-q", "-U", "-c", &count, "-I", EXTERNAL_INTERFACE, &ip],
            Arping::Habets => vec!["-q", "-U", "-c", &count, "-i", EXTERNAL_INTERFACE, "-S", &ip, &ip],
        };
        args.into_iter().map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests;
