//! OVN logical-flow match expressions, checked before they reach the NB.
//!
//! A `Logical_Router_Policy.match` is copied by ovn-northd into a logical
//! flow unchecked; only ovn-controller parses it, and drops the flow with a
//! log line nobody reads. This module parses a match with OVN's own grammar
//! and symbol table and refuses what OVN would refuse, with OVN's message and
//! the column where it went wrong. Pure: no I/O.
//!
//! It follows OVN **23.03** (`lib/lex.c`, `lib/expr.c`, `lib/logical-fields.c`,
//! the `match` column of `Logical_Flow` in ovn-sb(5)); the symbol table's
//! widths and levels were read back from Debian's OVN 23.03.1 with `ovn-trace`,
//! and `tests/ovn_match.rs` compares verdicts and messages with it.
//!
//! Invariants:
//! - Every match OVN 23.03 rejects is rejected, with OVN's message, except for
//!   address sets (`$name`) and port groups (`@name`), which live in the NB
//!   and are not known here: any well-formed name is accepted.
//! - A match is accepted only if OVN accepts it, except for three deliberate,
//!   stricter checks where OVN silently does something else than asked: an
//!   address field takes only its own kind of address (`ip6.src == 10.0.0.1`,
//!   `eth.src == 10.0.0.1`); a constant must fit a subfield's own width
//!   (`ip4.src[0..7] == 256`, which OVN truncates); and an address set or port
//!   group is never ordered (`tcp.dst < $set`). These are checked last: when
//!   OVN would refuse a match anyway, its message is the one given.
//! - Symbols that make no sense in a router policy (`icmp4.frag_mtu`, which is
//!   for actions) are left out, and so are rejected.
//! - Columns are 1-based byte columns; the error's `offset` is 0-based.

mod lexer;
mod parser;
mod symbols;

use std::net::IpAddr;

/// Why a match is refused: where (0-based byte offset) and OVN's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {}: {message}", offset + 1)]
pub struct MatchError {
    pub offset: usize,
    pub message: String,
}

/// Which IP families a match refers to, through the symbols it names
/// (`ip4.src`, `icmp6`, `nd.target`, ...; `ip`, `tcp`, `reg0` name none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Families {
    Neither,
    Ip4,
    Ip6,
    Both,
}

impl Families {
    /// Why a reroute to `hop` cannot serve this match, if it cannot: the
    /// match names only the other family.
    pub fn refuses(self, hop: IpAddr) -> Option<String> {
        match (self, hop) {
            (Families::Ip4, IpAddr::V6(_)) => Some(format!("{hop} is IPv6 but the match refers to IPv4 only")),
            (Families::Ip6, IpAddr::V4(_)) => Some(format!("{hop} is IPv4 but the match refers to IPv6 only")),
            (Families::Neither | Families::Both, _)
            | (Families::Ip4, IpAddr::V4(_))
            | (Families::Ip6, IpAddr::V6(_)) => None,
        }
    }
}

/// Parses `text` as OVN would; returns the families it refers to.
pub fn check(text: &str) -> Result<Families, MatchError> {
    parser::Parser::new(text).parse()
}

/// The field and network of a match that is one comparison
/// `FIELD == NETWORK`, however it is spelled: either side first, in
/// parentheses, the network alone in braces, as a prefix, a mask or a bare
/// address (`ip4.dst == {10.0.4.0/24}`, `(10.0.4.0/255.255.255.0 ==
/// ip4.dst)`): OVN makes one flow of each. `None` for anything else,
/// including a match OVN refuses.
pub fn single_network(text: &str) -> Option<(String, ipnet::IpNet)> {
    use lexer::Tok;
    check(text).ok()?;
    let mut toks = vec![];
    let mut pos = 0;
    loop {
        let t = lexer::next(text, pos);
        pos = t.end;
        match t.tok {
            Tok::End => break,
            Tok::LParen | Tok::RParen | Tok::LCurly | Tok::RCurly => {}
            _ => toks.push(t),
        }
    }
    let (field, num) = match toks.as_slice() {
        [f, e, n] | [n, e, f] if e.tok == Tok::Eq && matches!((&f.tok, &n.tok), (Tok::Id(_), Tok::Num(_))) => {
            (text[f.start..f.end].to_string(), &text[n.start..n.end])
        }
        _ => return None,
    };
    let (addr, prefix) = match num.split_once('/') {
        None => {
            let a: IpAddr = num.parse().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
        Some((a, m)) => {
            let a: IpAddr = a.parse().ok()?;
            let prefix = match (m.parse::<u8>(), m.parse::<IpAddr>()) {
                (Ok(p), _) => p,
                (_, Ok(IpAddr::V4(m))) if a.is_ipv4() => contiguous(u32::from(m).into(), 32)?,
                (_, Ok(IpAddr::V6(m))) if a.is_ipv6() => contiguous(u128::from(m), 128)?,
                _ => return None,
            };
            (a, prefix)
        }
    };
    Some((field, ipnet::IpNet::new(addr, prefix).ok()?.trunc()))
}

/// The prefix length of a contiguous mask `width` bits wide.
fn contiguous(mask: u128, width: u32) -> Option<u8> {
    let shifted = mask << (128 - width);
    let ones = shifted.leading_ones();
    (shifted.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

#[cfg(test)]
mod tests;
