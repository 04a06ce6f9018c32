//! The symbol table of OVN 23.03's logical-flow matches (`ovn_init_symtab` in
//! `lib/logical-fields.c`), cut to what a router policy can use. Widths and
//! levels were read back from Debian's OVN 23.03.1 (`ovn-trace`), not guessed:
//! a field is ordinal when OpenFlow can mask it fully, nominal otherwise;
//! subfields take their parent's level; a predicate is nominal when its
//! expansion tests a nominal field, else Boolean.

/// How a symbol may be compared (OVN's `enum expr_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Only `==`/`!=`, and only positively (`inport`, `eth.type`, `ip4`).
    Nominal,
    /// Only `==`/`!=` (`eth.bcast`, `ip.is_frag`).
    Boolean,
    /// Every relational operator (`tcp.dst < 1024`).
    Ordinal,
}

/// What a symbol's values are; the address kinds take only their own
/// kind of address constant (stricter than OVN, which compares widths only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Ipv4,
    Ipv6,
    Mac,
}

/// The IP family a symbol implies (through its prerequisites).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: &'static str,
    /// Bits; 0 for a string field.
    pub width: u32,
    pub level: Level,
    /// A predicate (`ip4`, `tcp`): a 1-bit boolean standing for an expression.
    pub predicate: bool,
    pub kind: Kind,
    pub family: Family,
}

use Family::{Any, V4, V6};
use Kind::{Int, Ipv4, Ipv6, Mac, Str};
use Level::{Boolean, Nominal, Ordinal};

const fn field(name: &'static str, width: u32, level: Level, kind: Kind, family: Family) -> Symbol {
    Symbol { name, width, level, predicate: false, kind, family }
}

const fn predicate(name: &'static str, level: Level, family: Family) -> Symbol {
    Symbol { name, width: 1, level, predicate: true, kind: Int, family }
}

const fn int(name: &'static str, width: u32) -> Symbol {
    field(name, width, Ordinal, Int, Any)
}

/// Every symbol, in `ovn_init_symtab`'s order.
pub static SYMBOLS: &[Symbol] = &[
    field("inport", 0, Nominal, Str, Any),
    field("outport", 0, Nominal, Str, Any),
    // Logical registers (MFF_N_LOG_REGS = 10 in 23.03).
    int("xxreg0", 128),
    int("xxreg1", 128),
    int("xreg0", 64),
    int("xreg1", 64),
    int("xreg2", 64),
    int("xreg3", 64),
    int("xreg4", 64),
    int("reg0", 32),
    int("reg1", 32),
    int("reg2", 32),
    int("reg3", 32),
    int("reg4", 32),
    int("reg5", 32),
    int("reg6", 32),
    int("reg7", 32),
    int("reg8", 32),
    int("reg9", 32),
    int("flags", 32),
    int("flags.loopback", 1),
    int("flags.force_snat_for_dnat", 1),
    int("flags.force_snat_for_lb", 1),
    int("flags.skip_snat_for_lb", 1),
    int("flags.use_snat_zone", 1),
    // Connection tracking.
    int("ct_mark", 32),
    int("ct_mark.blocked", 1),
    int("ct_mark.natted", 1),
    int("ct_mark.ecmp_reply_port", 16),
    int("ct_mark.skip_snat", 1),
    int("ct_mark.force_snat", 1),
    int("ct_label", 128),
    int("ct_label.blocked", 1),
    int("ct_label.natted", 1),
    int("ct_label.ecmp_reply_eth", 48),
    int("ct_label.ecmp_reply_port", 16),
    int("ct_label.label", 32),
    int("ct_state", 32),
    int("ct.new", 1),
    int("ct.est", 1),
    int("ct.rel", 1),
    int("ct.rpl", 1),
    int("ct.inv", 1),
    int("ct.trk", 1),
    int("ct.snat", 1),
    int("ct.dnat", 1),
    // Ethernet and VLAN.
    field("eth.src", 48, Ordinal, Mac, Any),
    field("eth.dst", 48, Ordinal, Mac, Any),
    field("eth.type", 16, Nominal, Int, Any),
    predicate("eth.bcast", Boolean, Any),
    int("eth.mcast", 1),
    predicate("eth.mcastv6", Boolean, Any),
    int("vlan.tci", 16),
    predicate("vlan.present", Boolean, Any),
    int("vlan.pcp", 3),
    int("vlan.vid", 12),
    // IP, either family.
    predicate("ip4", Nominal, V4),
    predicate("ip6", Nominal, V6),
    predicate("ip", Nominal, Any),
    field("ip.proto", 8, Nominal, Int, Any),
    field("ip.dscp", 6, Nominal, Int, Any),
    field("ip.ecn", 2, Nominal, Int, Any),
    field("ip.ttl", 8, Nominal, Int, Any),
    // IPv4.
    field("ip4.src", 32, Ordinal, Ipv4, V4),
    field("ip4.dst", 32, Ordinal, Ipv4, V4),
    predicate("ip4.src_mcast", Boolean, V4),
    predicate("ip4.mcast", Boolean, V4),
    predicate("icmp4", Nominal, V4),
    field("icmp4.type", 8, Nominal, Int, V4),
    field("icmp4.code", 8, Nominal, Int, V4),
    predicate("igmp", Nominal, V4),
    // IPv6.
    field("ip6.src", 128, Ordinal, Ipv6, V6),
    field("ip6.dst", 128, Ordinal, Ipv6, V6),
    field("ip6.label", 20, Ordinal, Int, V6),
    predicate("ip6.mcast_rsvd", Boolean, V6),
    predicate("ip6.mcast_all_nodes", Boolean, V6),
    predicate("ip6.mcast_all_rtrs", Boolean, V6),
    predicate("ip6.mcast_sol_node", Boolean, V6),
    predicate("ip6.mcast_flood", Boolean, V6),
    predicate("ip6.mcast", Boolean, V6),
    predicate("icmp6", Nominal, V6),
    field("icmp6.type", 8, Nominal, Int, V6),
    field("icmp6.code", 8, Nominal, Int, V6),
    predicate("icmp", Nominal, Any),
    // Fragments.
    int("ip.frag", 2),
    predicate("ip.is_frag", Boolean, Any),
    predicate("ip.later_frag", Boolean, Any),
    predicate("ip.first_frag", Boolean, Any),
    // ARP and RARP.
    predicate("arp", Nominal, Any),
    field("arp.op", 16, Nominal, Int, Any),
    field("arp.spa", 32, Ordinal, Ipv4, Any),
    field("arp.sha", 48, Ordinal, Mac, Any),
    field("arp.tpa", 32, Ordinal, Ipv4, Any),
    field("arp.tha", 48, Ordinal, Mac, Any),
    predicate("rarp", Nominal, Any),
    field("rarp.op", 16, Nominal, Int, Any),
    field("rarp.spa", 32, Ordinal, Ipv4, Any),
    field("rarp.sha", 48, Ordinal, Mac, Any),
    field("rarp.tpa", 32, Ordinal, Ipv4, Any),
    field("rarp.tha", 48, Ordinal, Mac, Any),
    // Neighbour discovery and MLD.
    predicate("nd", Nominal, V6),
    predicate("nd_ns", Nominal, V6),
    predicate("nd_na", Nominal, V6),
    predicate("nd_rs", Nominal, V6),
    predicate("nd_ra", Nominal, V6),
    field("nd.target", 128, Ordinal, Ipv6, V6),
    field("nd.sll", 48, Ordinal, Mac, V6),
    field("nd.tll", 48, Ordinal, Mac, V6),
    predicate("mldv1", Nominal, V6),
    predicate("mldv2", Nominal, V6),
    // Transport.
    predicate("tcp", Nominal, Any),
    int("tcp.src", 16),
    int("tcp.dst", 16),
    int("tcp.flags", 12),
    predicate("udp", Nominal, Any),
    int("udp.src", 16),
    int("udp.dst", 16),
    predicate("sctp", Nominal, Any),
    int("sctp.src", 16),
    int("sctp.dst", 16),
    int("pkt.mark", 32),
];

pub fn lookup(name: &str) -> Option<&'static Symbol> {
    SYMBOLS.iter().find(|s| s.name == name)
}
