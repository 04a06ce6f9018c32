//! MAC addresses: parsing what users write, and the MACs ovn-vpcd derives
//! for pods (stable across restarts, without state).

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
    let mut h = crate::hash::fnv1a64(pod_key.bytes().chain(attempt.to_be_bytes()));
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d049bb133111eb);
    h ^= h >> 31;
    let b = h.to_be_bytes();
    format!("0a:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4])
}
