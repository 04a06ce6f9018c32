//! The nat and mangle tables of a NAT gateway, pure: a rule set rendered in
//! Kube-OVN 1.16's chains and rule text (spelled as `iptables -S` and
//! `iptables-save` print them, so the kernel's listing compares with the
//! rendering line for line), the kernel's `iptables-save` read back, and
//! the diff between the two as ONE `iptables-restore --noflush` input.
//!
//! Invariants:
//! - Our chains ([`NAT_CHAINS`], [`MANGLE_CHAINS`]) hold exactly the
//!   rendered rules: a chain whose content differs is flushed and refilled
//!   inside the restore (`-F`, then its rules, one commit per table), so a
//!   rule someone added by hand disappears and nothing is duplicated.
//! - A chain that exists is never re-declared (`:CHAIN` would flush it
//!   too, but says less), and one that is missing is declared before any
//!   rule names it.
//! - The jumps from the built-in chains are ours only by their exact text:
//!   added when missing, extra copies deleted, every other rule of a
//!   built-in chain left alone.
//! - An unchanged kernel gives no restore input at all.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::NatError;
use crate::rules::nat::{NatRuleSet, Protocol, EXTERNAL_INTERFACE, LAN_INTERFACE};

pub const NAT_CHAINS: [&str; 7] =
    ["DNAT_FILTER", "SNAT_FILTER", "EXCLUSIVE_DNAT", "EXCLUSIVE_SNAT", "SHARED_DNAT", "SHARED_SNAT", "HAIRPIN_SNAT"];
pub const MANGLE_CHAINS: [&str; 1] = ["VPC_MARK"];

/// The mark `VPC_MARK` sets on packets entering from the VPC leg, which
/// `HAIRPIN_SNAT` matches.
const VPC_MARK: &str = "0x1/0x1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    Nat,
    Mangle,
}

impl Table {
    pub const ALL: [Table; 2] = [Table::Nat, Table::Mangle];

    pub fn name(self) -> &'static str {
        match self {
            Table::Nat => "nat",
            Table::Mangle => "mangle",
        }
    }

    /// The built-in chains, in the order `iptables -S` lists them.
    fn builtins(self) -> &'static [&'static str] {
        match self {
            Table::Nat => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
            Table::Mangle => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        }
    }
}

/// A table's desired content: our chains with their rules (whole lines,
/// `-A CHAIN ...`), and the jumps from built-in chains into them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRules {
    pub table: Table,
    pub chains: Vec<(&'static str, Vec<String>)>,
    /// `(built-in chain, our chain)`: the rule `-A BUILTIN -j OURS`.
    pub jumps: Vec<(&'static str, &'static str)>,
}

fn jump_line(from: &str, to: &str) -> String {
    format!("-A {from} -j {to}")
}

/// `a.b.c.d/len` (or a bare address, /32) as its network and length.
pub fn parse_cidr(field: &'static str, text: &str) -> Result<(Ipv4Addr, u8), NatError> {
    let bad = || NatError::Cidr { field, value: text.to_string() };
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, l.parse::<u8>().map_err(|_| bad())?),
        None => (text, 32),
    };
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
    Ok((Ipv4Addr::from(u32::from(addr) & mask), len))
}

/// The set's nat and mangle tables.
pub fn desired(set: &NatRuleSet) -> Result<[TableRules; 2], NatError> {
    let set = set.clone().canonical();
    let line = |chain: &str, rest: String| format!("-A {chain} {rest}");
    let exclusive_dnat = set
        .fips
        .iter()
        .map(|f| line("EXCLUSIVE_DNAT", format!("-d {}/32 -j DNAT --to-destination {}", f.eip, f.internal_ip)))
        .collect();
    let exclusive_snat = set
        .fips
        .iter()
        .map(|f| line("EXCLUSIVE_SNAT", format!("-s {}/32 -j SNAT --to-source {}", f.internal_ip, f.eip)))
        .collect();
    let shared_dnat = set
        .dnats
        .iter()
        .map(|d| {
            let p = d.protocol.as_str();
            line(
                "SHARED_DNAT",
                format!(
                    "-d {}/32 -p {p} -m {p} --dport {} -j DNAT --to-destination {}:{}",
                    d.eip, d.external_port, d.internal_ip, d.internal_port
                ),
            )
        })
        .collect();
    let mut shared_snat = Vec::new();
    for s in &set.snats {
        let (net, len) = parse_cidr("internalCIDR", &s.internal_cidr)?;
        shared_snat.push(line(
            "SHARED_SNAT",
            format!("-s {net}/{len} -o {EXTERNAL_INTERFACE} -j SNAT --to-source {} --random-fully", s.eip),
        ));
    }
    let hairpin = set
        .eips
        .iter()
        .map(|e| {
            line(
                "HAIRPIN_SNAT",
                format!(
                    "-o {LAN_INTERFACE} -m mark --mark {VPC_MARK} -m conntrack --ctstate DNAT --ctorigdst {ip} -j SNAT --to-source {ip} --random-fully",
                    ip = e.ip
                ),
            )
        })
        .collect();
    let nat = TableRules {
        table: Table::Nat,
        chains: vec![
            ("DNAT_FILTER", vec![jump_line("DNAT_FILTER", "EXCLUSIVE_DNAT"), jump_line("DNAT_FILTER", "SHARED_DNAT")]),
            (
                "SNAT_FILTER",
                vec![
                    jump_line("SNAT_FILTER", "EXCLUSIVE_SNAT"),
                    jump_line("SNAT_FILTER", "SHARED_SNAT"),
                    jump_line("SNAT_FILTER", "HAIRPIN_SNAT"),
                ],
            ),
            ("EXCLUSIVE_DNAT", exclusive_dnat),
            ("EXCLUSIVE_SNAT", exclusive_snat),
            ("SHARED_DNAT", shared_dnat),
            ("SHARED_SNAT", shared_snat),
            ("HAIRPIN_SNAT", hairpin),
        ],
        jumps: vec![("PREROUTING", "DNAT_FILTER"), ("POSTROUTING", "SNAT_FILTER")],
    };
    let mangle = TableRules {
        table: Table::Mangle,
        chains: vec![(
            "VPC_MARK",
            vec![line("VPC_MARK", format!("-i {LAN_INTERFACE} -j MARK --set-xmark {VPC_MARK}"))],
        )],
        jumps: vec![("PREROUTING", "VPC_MARK")],
    };
    Ok([nat, mangle])
}

/// What `iptables -t TABLE -S` prints in a namespace holding only these
/// rules (built-in policies ACCEPT): policies, our chains by name, the
/// built-in chains' rules, then each of our chains' rules by chain name.
pub fn listing(rules: &TableRules) -> Vec<String> {
    let mut out: Vec<String> = rules.table.builtins().iter().map(|b| format!("-P {b} ACCEPT")).collect();
    let mut chains: Vec<&(&str, Vec<String>)> = rules.chains.iter().collect();
    chains.sort_by_key(|(name, _)| *name);
    out.extend(chains.iter().map(|(name, _)| format!("-N {name}")));
    for b in rules.table.builtins() {
        out.extend(rules.jumps.iter().filter(|(from, _)| from == b).map(|(from, to)| jump_line(from, to)));
    }
    for (_, lines) in chains {
        out.extend(lines.iter().cloned());
    }
    out
}

/// A table as `iptables-save` printed it: every chain (built-in or not)
/// with its rules, whole lines without counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedTable {
    pub chains: BTreeMap<String, Vec<String>>,
}

/// `iptables-save` output, by table name.
pub fn parse_save(text: &str) -> Result<BTreeMap<String, SavedTable>, NatError> {
    let bad = |reason: String| NatError::Parse { command: "iptables-save".into(), reason };
    let mut tables = BTreeMap::new();
    let mut current: Option<(String, SavedTable)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            current = Some((name.to_string(), SavedTable::default()));
        } else if line == "COMMIT" {
            let (name, t) = current.take().ok_or_else(|| bad(format!("line {}: COMMIT outside a table", n + 1)))?;
            tables.insert(name, t);
        } else {
            let (_, t) = current.as_mut().ok_or_else(|| bad(format!("line {}: {line:?} outside a table", n + 1)))?;
            // Rules may carry counters (`[p:b] -A ...`) with `-c`.
            let line = if line.starts_with('[') { line.split_once(' ').map_or(line, |(_, r)| r) } else { line };
            if let Some(decl) = line.strip_prefix(':') {
                let chain = decl.split_whitespace().next().unwrap_or("");
                t.chains.entry(chain.to_string()).or_default();
            } else if let Some(rest) = line.strip_prefix("-A ") {
                let chain = rest.split_whitespace().next().unwrap_or("");
                t.chains.entry(chain.to_string()).or_default().push(line.to_string());
            } else {
                return Err(bad(format!("line {}: {line:?}", n + 1)));
            }
        }
    }
    if let Some((name, _)) = current {
        return Err(bad(format!("table {name} has no COMMIT")));
    }
    Ok(tables)
}

/// A conntrack flush for a DNAT that went away: the entries whose original
/// destination is `eip` (and `protocol`/`port`, for a DNAT; all of them,
/// for a FIP).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flush {
    pub eip: Ipv4Addr,
    pub port: Option<(Protocol, u16)>,
}

impl Flush {
    /// `conntrack`'s arguments.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["-D".to_string(), "-d".to_string(), self.eip.to_string()];
        if let Some((p, port)) = self.port {
            a.extend(["-p".to_string(), p.as_str().to_string(), "--dport".to_string(), port.to_string()]);
        }
        a
    }
}

/// A DNAT rule's destination as written in our chains.
fn flush_of(line: &str) -> Option<Flush> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |flag: &str| words.windows(2).find(|w| w[0] == flag).map(|w| w[1]);
    let eip = after("-d")?.trim_end_matches("/32").parse().ok()?;
    let protocol = match after("-p") {
        Some("tcp") => Some(Protocol::Tcp),
        Some("udp") => Some(Protocol::Udp),
        _ => None,
    };
    let port = protocol.zip(after("--dport").and_then(|p| p.parse().ok()));
    Some(Flush { eip, port })
}

/// What the kernel needs: the restore input (`None`: nothing differs) and
/// the conntrack flushes of the DNAT rules (FIP or DNAT) it removes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TablesPlan {
    pub restore: Option<String>,
    pub flushes: Vec<Flush>,
}

/// The diff of the kernel's tables against the desired ones.
pub fn plan(desired: &[TableRules], kernel: &BTreeMap<String, SavedTable>) -> TablesPlan {
    let empty = SavedTable::default();
    let mut restore = String::new();
    let mut flushes = Vec::new();
    for want in desired {
        let have = kernel.get(want.table.name()).unwrap_or(&empty);
        let mut declare = Vec::new();
        let mut fill = Vec::new();
        for (chain, lines) in &want.chains {
            match have.chains.get(*chain) {
                None => {
                    declare.push(format!(":{chain} - [0:0]"));
                    fill.extend(lines.iter().cloned());
                }
                Some(existing) if existing != lines => {
                    fill.push(format!("-F {chain}"));
                    fill.extend(lines.iter().cloned());
                    if matches!(*chain, "EXCLUSIVE_DNAT" | "SHARED_DNAT") {
                        flushes.extend(existing.iter().filter(|l| !lines.contains(l)).filter_map(|l| flush_of(l)));
                    }
                }
                Some(_) => {}
            }
        }
        for (from, to) in &want.jumps {
            let jump = jump_line(from, to);
            let count = have.chains.get(*from).map_or(0, |rules| rules.iter().filter(|r| **r == jump).count());
            if count == 0 {
                fill.push(jump);
            } else {
                fill.extend((1..count).map(|_| format!("-D {from} -j {to}")));
            }
        }
        if declare.is_empty() && fill.is_empty() {
            continue;
        }
        restore.push_str(&format!("*{}\n", want.table.name()));
        for l in declare.iter().chain(&fill) {
            restore.push_str(l);
            restore.push('\n');
        }
        restore.push_str("COMMIT\n");
    }
    flushes.sort();
    flushes.dedup();
    TablesPlan { restore: (!restore.is_empty()).then_some(restore), flushes }
}

#[cfg(test)]
mod tests;
