//! FNV-1a (64 bit): the one hash behind every name and MAC ovn-vpcd derives
//! (router port and DHCP MACs, pods' MACs, Event names). Its output is part
//! of what the NB and the API server hold: it must never change.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

pub fn fnv1a64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(super::fnv1a64(*b""), 0xcbf29ce484222325);
        assert_eq!(super::fnv1a64(*b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(super::fnv1a64(*b"foobar"), 0x85944171f73967e8);
    }

    /// MACs already in NBs and pod annotations (computed independently).
    #[test]
    fn derived_macs_never_change() {
        assert_eq!(crate::nb::rows::stable_mac("vpc1-net1"), "0a:00:00:c6:3a:a5");
        assert_eq!(crate::mac::derived_mac("ns/p", 0), "0a:90:b7:29:80:de");
    }
}
