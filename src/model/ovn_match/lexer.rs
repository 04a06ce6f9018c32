//! OVN's match lexer (`lib/lex.c`, 23.03): one token at a time from a byte
//! offset. A lexical error is a token too (`Tok::Error`), as in OVN: the
//! parser reports it in place of whatever it was about to complain about.

use std::net::{Ipv4Addr, Ipv6Addr};

/// How a numeric constant was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Decimal,
    Hex,
    Ipv4,
    Ipv6,
    Mac,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Decimal => "decimal",
            Format::Hex => "hexadecimal",
            Format::Ipv4 => "IPv4",
            Format::Ipv6 => "IPv6",
            Format::Mac => "Ethernet",
        }
    }
}

/// A numeric constant, possibly masked (`value/mask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Number {
    pub format: Format,
    /// The low 128 bits of the value (already ANDed with the mask).
    pub value: u128,
    /// Bits the value needs (a hex constant may need more than 128).
    pub value_bits: u32,
    /// Bits the mask needs, when masked.
    pub mask_bits: Option<u32>,
}

impl Number {
    /// OVN's `expr_constant_width`: the mask's width, else the value's, an
    /// address being as wide as its kind.
    pub fn width(&self) -> u32 {
        match (self.mask_bits, self.format) {
            (Some(m), _) => m,
            (None, Format::Decimal | Format::Hex) => self.value_bits,
            (None, Format::Ipv4) => 32,
            (None, Format::Ipv6) => 128,
            (None, Format::Mac) => 48,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    End,
    Id(String),
    Str(String),
    Num(Number),
    /// `$name`, an address set.
    AddrSet(String),
    /// `@name`, a port group.
    PortGroup(String),
    LParen,
    RParen,
    LCurly,
    RCurly,
    LSquare,
    RSquare,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Not,
    And,
    Or,
    Ellipsis,
    Comma,
    Semicolon,
    Equals,
    Exchange,
    Decrement,
    Colon,
    Hyphen,
    Error(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    /// Byte offsets of the token's text.
    pub start: usize,
    pub end: usize,
}

fn is_id1(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'.'
}

fn is_idn(c: u8) -> bool {
    is_id1(c) || c.is_ascii_digit()
}

/// The token starting at or after `pos` (white space and comments skipped).
pub fn next(input: &str, mut pos: usize) -> Token {
    let b = input.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    loop {
        match at(pos) {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => pos += 1,
            b'/' if at(pos + 1) == b'/' => {
                while pos < b.len() && b[pos] != b'\n' {
                    pos += 1;
                }
            }
            b'/' if at(pos + 1) == b'*' => match input[pos + 2..].find("*/") {
                Some(i) if !input[pos + 2..pos + 2 + i].contains('\n') => pos += 2 + i + 2,
                _ => {
                    let end = input[pos..].find('\n').map_or(b.len(), |i| pos + i);
                    return Token { tok: Tok::Error("`/*' without matching `*/'.".into()), start: pos, end };
                }
            },
            _ => break,
        }
    }
    let start = pos;
    let simple = |tok: Tok, len: usize| Token { tok, start, end: start + len };
    let error = |msg: &str, len: usize| simple(Tok::Error(msg.into()), len);
    match at(pos) {
        0 if pos >= b.len() => simple(Tok::End, 0),
        b'/' => error("`/' is only valid as part of `//' or `/*'.", 1),
        b'(' => simple(Tok::LParen, 1),
        b')' => simple(Tok::RParen, 1),
        b'{' => simple(Tok::LCurly, 1),
        b'}' => simple(Tok::RCurly, 1),
        b'[' => simple(Tok::LSquare, 1),
        b']' => simple(Tok::RSquare, 1),
        b'=' if at(pos + 1) == b'=' => simple(Tok::Eq, 2),
        b'=' => simple(Tok::Equals, 1),
        b'!' if at(pos + 1) == b'=' => simple(Tok::Ne, 2),
        b'!' => simple(Tok::Not, 1),
        b'&' if at(pos + 1) == b'&' => simple(Tok::And, 2),
        b'&' => error("`&' is only valid as part of `&&'.", 1),
        b'|' if at(pos + 1) == b'|' => simple(Tok::Or, 2),
        b'|' => error("`|' is only valid as part of `||'.", 1),
        b'<' if at(pos + 1) == b'=' => simple(Tok::Le, 2),
        b'<' if at(pos + 1) == b'-' && at(pos + 2) == b'>' => simple(Tok::Exchange, 3),
        b'<' => simple(Tok::Lt, 1),
        b'>' if at(pos + 1) == b'=' => simple(Tok::Ge, 2),
        b'>' => simple(Tok::Gt, 1),
        b'.' if at(pos + 1) == b'.' => simple(Tok::Ellipsis, 2),
        b'.' => error("`.' is only valid as part of `..' or a number.", 1),
        b',' => simple(Tok::Comma, 1),
        b';' => simple(Tok::Semicolon, 1),
        b'-' if at(pos + 1) == b'-' => simple(Tok::Decrement, 2),
        b'-' => simple(Tok::Hyphen, 1),
        b'$' => name(input, start, Tok::AddrSet, "`$' must be followed by a valid identifier."),
        b'@' => name(input, start, Tok::PortGroup, "`@' must be followed by a valid identifier."),
        b':' if at(pos + 1) != b':' => simple(Tok::Colon, 1),
        b'"' => string(input, start),
        c if c.is_ascii_digit() || c == b':' => number(input, start),
        // An Ethernet or IPv6 address may begin with a letter: it is hex
        // digits then a colon, which no identifier is.
        c if c.is_ascii_hexdigit()
            && at(pos + b[pos..].iter().take_while(|c| c.is_ascii_hexdigit()).count()) == b':' =>
        {
            number(input, start)
        }
        c if is_id1(c) => {
            let len = b[pos..].iter().take_while(|c| is_idn(**c)).count();
            simple(Tok::Id(input[pos..pos + len].into()), len)
        }
        c if c.is_ascii_graphic() || c == b' ' => error(&format!("Invalid character `{}' in input.", c as char), 1),
        c => error(&format!("Invalid byte 0x{c:02x} in input."), input[pos..].chars().next().map_or(1, char::len_utf8)),
    }
}

/// `$name` or `@name`.
fn name(input: &str, start: usize, make: fn(String) -> Tok, bad: &str) -> Token {
    let b = input.as_bytes();
    if !b.get(start + 1).copied().is_some_and(is_id1) {
        return Token { tok: Tok::Error(bad.into()), start, end: start + 1 };
    }
    let len = b[start + 1..].iter().take_while(|c| is_idn(**c)).count();
    Token { tok: make(input[start + 1..start + 1 + len].into()), start, end: start + 1 + len }
}

/// A quoted string: its extent as OVN finds it, then JSON unescaping.
fn string(input: &str, start: usize) -> Token {
    let b = input.as_bytes();
    let mut p = start + 1;
    loop {
        match b.get(p) {
            None => {
                let tok = Tok::Error("Input ends inside quoted string.".into());
                return Token { tok, start, end: p };
            }
            Some(b'"') => break,
            Some(b'\\') => p += if p + 1 < b.len() { 2 } else { 1 },
            Some(_) => p += 1,
        }
    }
    let tok = match unescape(&input[start + 1..p]) {
        Ok(s) => Tok::Str(s),
        Err(e) => Tok::Error(e),
    };
    Token { tok, start, end: p + 1 }
}

/// JSON string escapes, with Open vSwitch's messages (`json_string_unescape`).
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or("quoted string may not end with backslash")?;
        match e {
            '"' | '\\' | '/' => out.push(e),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let hi = hex4(&mut chars)?;
                let c = if (0xd800..0xdc00).contains(&hi) {
                    let pair = (chars.next(), chars.next());
                    let lo = match pair {
                        (Some('\\'), Some('u')) => hex4(&mut chars)?,
                        _ => return Err("malformed escaped surrogate pair".into()),
                    };
                    if !(0xdc00..0xe000).contains(&lo) {
                        return Err("second half of escaped surrogate pair is not low surrogate".into());
                    }
                    char::from_u32(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00))
                } else {
                    char::from_u32(hi)
                };
                out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            other => return Err(format!("bad escape \\{other}")),
        }
    }
    Ok(out)
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Result<u32, String> {
    let digits: String = chars.by_ref().take(4).collect();
    if digits.chars().count() < 4 {
        return Err("quoted string ends within \\u escape".into());
    }
    u32::from_str_radix(&digits, 16).map_err(|_| "malformed \\u escape".into())
}

/// A number and its optional `/mask`.
fn number(input: &str, start: usize) -> Token {
    let (value, end) = number_at(input, start);
    let Ok(mut value) = value else {
        return Token { tok: Tok::Error(value.unwrap_err()), start, end };
    };
    if input.as_bytes().get(end) != Some(&b'/') {
        return Token { tok: Tok::Num(value), start, end };
    }
    let (mask, end) = number_at(input, end + 1);
    let tok = match mask.and_then(|mask| apply_mask(&mut value, mask).map(|()| value)) {
        Ok(v) => Tok::Num(v),
        Err(e) => Tok::Error(e),
    };
    Token { tok, start, end }
}

fn bits(v: u128) -> u32 {
    128 - v.leading_zeros()
}

fn apply_mask(value: &mut Number, mask: Number) -> Result<(), String> {
    let prefix = |len: u32, width: u32| if len == 0 { 0 } else { (u128::MAX >> (128 - len)) << (width - len) };
    let (mask_value, mask_bits) = match (value.format, mask.format) {
        (a, b) if a == b => (mask.value, mask.value_bits),
        (Format::Ipv4, Format::Decimal) if mask.value <= 32 => {
            let m = prefix(mask.value as u32, 32);
            (m, bits(m))
        }
        (Format::Ipv6, Format::Decimal) if mask.value <= 128 => {
            let m = prefix(mask.value as u32, 128);
            (m, bits(m))
        }
        (Format::Decimal, Format::Hex) if value.value == 0 => {
            value.format = Format::Hex;
            (mask.value, mask.value_bits)
        }
        _ => return Err("Value and mask have incompatible formats.".into()),
    };
    value.value &= mask_value;
    value.value_bits = bits(value.value);
    value.mask_bits = Some(mask_bits);
    Ok(())
}

/// OVN's `lex_parse_integer__`: the extent of an "integer" (decimal, hex,
/// Ethernet, IPv4 or IPv6), then what it is.
fn number_at(input: &str, start: usize) -> (Result<Number, String>, usize) {
    let b = input.as_bytes();
    let mut end = start;
    let mut saw_dot = false;
    while end < b.len()
        && (b[end].is_ascii_alphanumeric()
            || (b[end] == b':' && !saw_dot)
            || (b[end] == b'.' && b.get(end + 1) != Some(&b'.')))
    {
        saw_dot |= b[end] == b'.';
        end += 1;
    }
    let text = &input[start..end];
    let num = |format, value: u128, value_bits| Ok(Number { format, value, value_bits, mask_bits: None });
    let result = if text.is_empty() {
        Err("Integer constant expected.".to_string())
    } else if let Some(mac) = parse_mac(text) {
        num(Format::Mac, mac, bits(mac))
    } else if text.bytes().all(|c| c.is_ascii_digit()) {
        if text.len() > 1 && text.starts_with('0') {
            Err("Decimal constants must not have leading zeros.".into())
        } else {
            match text.parse::<u64>() {
                Ok(v) => num(Format::Decimal, v.into(), bits(v.into())),
                Err(_) => Err("Decimal constants must be less than 2**64.".into()),
            }
        }
    } else if text.starts_with("0x") || text.starts_with("0X") {
        parse_hex(text)
    } else if text.len() < 46 {
        if let Ok(a) = text.parse::<Ipv4Addr>() {
            num(Format::Ipv4, u32::from(a).into(), bits(u32::from(a).into()))
        } else if let Ok(a) = text.parse::<Ipv6Addr>() {
            num(Format::Ipv6, u128::from(a), bits(u128::from(a)))
        } else {
            Err("Invalid numeric constant.".into())
        }
    } else {
        Err("Invalid numeric constant.".into())
    };
    (result, end)
}

/// `xx:xx:xx:xx:xx:xx`, exactly 17 characters.
fn parse_mac(text: &str) -> Option<u128> {
    let groups: Vec<&str> = text.split(':').collect();
    if text.len() != 17 || groups.len() != 6 {
        return None;
    }
    groups.iter().try_fold(0u128, |acc, g| {
        let ok = (1..=2).contains(&g.len()) && g.bytes().all(|c| c.is_ascii_hexdigit());
        ok.then(|| u8::from_str_radix(g, 16).ok()).flatten().map(|v| (acc << 8) | u128::from(v))
    })
}

/// `0x...`: up to 1024 bits, as OVN's `union mf_subvalue` holds.
fn parse_hex(text: &str) -> Result<Number, String> {
    let digits = &text[2..];
    if digits.is_empty() {
        return Err(format!("Hex digits expected following {}.", &text[..2]));
    }
    if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err("Invalid syntax in hexadecimal constant.".into());
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 256 {
        return Err("Hexadecimal constant requires more than 1024 bits.".into());
    }
    let low = &significant[significant.len().saturating_sub(32)..];
    let value = if low.is_empty() { 0 } else { u128::from_str_radix(low, 16).map_err(|e| e.to_string())? };
    let value_bits = match significant.chars().next().and_then(|c| c.to_digit(16)) {
        Some(first) => 4 * (significant.len() as u32 - 1) + (32 - first.leading_zeros()),
        None => 0,
    };
    Ok(Number { format: Format::Hex, value, value_bits, mask_bits: None })
}
