//! The uuid an owned row is inserted with, derived from its table and id:
//! the first 128 bits of SHA-256 over `table NUL id`, marked as an RFC 9562
//! version 8 (custom) uuid.
//!
//! Why: an insert must never happen twice (a transaction replayed after a
//! lost reply, a plan made from a cache one update behind, a second daemon
//! that also believes it leads). ovsdb-server refuses an insert whose uuid
//! is taken with `duplicate uuid`, found by one index lookup; the guard it
//! replaces, a `wait` for "no row's `external_ids` holds this id", is a scan
//! of the whole table per insert, and made bulk inserts quadratic.
//!
//! Invariants:
//! - The derivation never changes: rows already in an NB keep their uuids,
//!   and a replay or a second writer of any later version derives the same
//!   uuid for the same row. `derived_uuids_never_change` pins it.
//! - A derived uuid is used only where it is free: the diff falls back to a
//!   server-chosen uuid and the `wait` guard when the cache shows it taken
//!   (by a row of another id, or by a row the same transaction deletes or
//!   detaches: ovsdb-server refuses a uuid deleted in the same transaction,
//!   and a detached child is still there when the insert runs).
//! - Of two owned rows of one id, the one on its derived uuid is kept.
//!
//! Needs Open vSwitch 2.13 or later (the `uuid` member of `insert`).

use crate::ovsdb::Uuid;

/// The uuid `table`'s row `id` is inserted with.
pub fn row_uuid(table: &str, id: &str) -> Uuid {
    let mut input = Vec::with_capacity(table.len() + 1 + id.len());
    input.extend_from_slice(table.as_bytes());
    input.push(0);
    input.extend_from_slice(id.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest.as_ref()[..16]);
    let bits = u128::from_be_bytes(first);
    // Version 8 in bits 48-51 (counted from the most significant bit), the
    // RFC variant `10` in bits 64-65.
    let versioned = (bits & !(0xf << 76)) | (0x8 << 76);
    Uuid((versioned & !(0x3 << 62)) | (0x2 << 62))
}

#[cfg(test)]
mod tests {
    use super::row_uuid;

    /// Uuids already in NBs (computed independently, with Python's hashlib).
    #[test]
    fn derived_uuids_never_change() {
        assert_eq!(row_uuid("Logical_Switch_Port", "ns/p").to_string(), "bec2e590-e652-8333-ba4b-f4e1a7312971");
    }

    #[test]
    fn a_derived_uuid_is_version_8_and_differs_by_table_and_id() {
        let u = row_uuid("Logical_Switch", "vpc1-net1").to_string();
        assert_eq!(&u[14..15], "8", "{u}");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(row_uuid("Logical_Switch", "a"), row_uuid("Logical_Router", "a"));
        assert_ne!(row_uuid("Logical_Switch", "a"), row_uuid("Logical_Switch", "b"));
        // The separator keeps table and id apart.
        assert_ne!(row_uuid("ab", "c"), row_uuid("a", "bc"));
    }
}
