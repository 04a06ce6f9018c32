//! An `update2` column diff applied to a cached value (ovsdb-server(7),
//! "update2"): scalars are replaced; sets take the symmetric difference; in
//! maps, a key with an equal value is removed, with another value replaced,
//! and an absent key added.
//!
//! Invariants:
//! - The value is changed in place: a set of n elements that gains or loses
//!   k costs O(n + k), not a copy of the set and a scan of it per element
//!   (a switch with 10,000 ports gains one per pod).
//! - The result is the one the plain rule gives, element order included:
//!   the elements kept stay in their order, the new ones follow in the
//!   diff's order. Reals are compared as the rule compares them (`==`), so
//!   a set holding one is diffed by the plain scan.

use std::collections::HashMap;

use super::data::{Atom, Uuid, Value};
use super::schema::ColumnType;

/// Below this many element comparisons the plain scan is cheaper than a hash.
const SCAN_LIMIT: usize = 64;

/// `old` with `diff` applied (see the module head).
pub fn apply_diff(ty: &ColumnType, old: Value, diff: Value) -> Value {
    if ty.is_scalar() {
        return diff;
    }
    match (old, diff) {
        (Value::Map(mut out), Value::Map(diff)) => {
            for (k, v) in diff {
                match out.iter().position(|(ok, _)| *ok == k) {
                    Some(i) if out[i].1 == v => {
                        out.remove(i);
                    }
                    Some(i) => out[i].1 = v,
                    None => out.push((k, v)),
                }
            }
            Value::Map(out)
        }
        (Value::Set(mut out), Value::Set(diff)) => {
            toggle(&mut out, diff);
            Value::Set(out)
        }
        (_, diff) => diff,
    }
}

/// An atom as a hash key; `None` for a real (see the module head).
#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    Integer(i64),
    Boolean(bool),
    String(&'a str),
    Uuid(Uuid),
    NamedUuid(&'a str),
}

fn key(a: &Atom) -> Option<Key<'_>> {
    Some(match a {
        Atom::Integer(i) => Key::Integer(*i),
        Atom::Real(_) => return None,
        Atom::Boolean(b) => Key::Boolean(*b),
        Atom::String(s) => Key::String(s),
        Atom::Uuid(u) => Key::Uuid(*u),
        Atom::NamedUuid(s) => Key::NamedUuid(s),
    })
}

/// `out` becomes the symmetric difference of `out` and `diff`.
fn toggle(out: &mut Vec<Atom>, diff: Vec<Atom>) {
    let hashable = || diff.iter().chain(out.iter()).all(|a| key(a).is_some());
    if out.len().saturating_mul(diff.len()) <= SCAN_LIMIT || !hashable() {
        return scan(out, diff);
    }
    // Where each diff element first appears in the diff (a repeated element
    // toggles again, as in the scan: handled by that path below).
    let mut first: HashMap<Key<'_>, usize> = HashMap::with_capacity(diff.len());
    let mut repeated = false;
    for (i, a) in diff.iter().enumerate() {
        let k = key(a).expect("hashable");
        repeated |= first.insert(k, i).is_some();
    }
    if repeated {
        drop(first);
        return scan(out, diff);
    }
    let mut found = vec![false; diff.len()];
    out.retain(|o| match first.get(&key(o).expect("hashable")) {
        Some(&i) if !found[i] => {
            found[i] = true;
            false
        }
        _ => true,
    });
    drop(first);
    out.extend(diff.into_iter().zip(found).filter_map(|(a, f)| (!f).then_some(a)));
}

/// The plain rule: each diff element removes its first equal, or is added.
fn scan(out: &mut Vec<Atom>, diff: Vec<Atom>) {
    for a in diff {
        match out.iter().position(|o| *o == a) {
            Some(i) => {
                out.remove(i);
            }
            None => out.push(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(i: u128) -> Atom {
        Atom::Uuid(Uuid(i))
    }

    /// The hashed path gives exactly what the plain scan gives, order
    /// included, for large sets gaining, losing, and both at once.
    #[test]
    fn a_large_set_diff_equals_the_plain_rule() {
        let old: Vec<Atom> = (0..500).map(u).collect();
        let diffs: Vec<Vec<Atom>> = vec![
            (500..520).map(u).collect(),                              // gains
            (0..500).step_by(7).map(u).collect(),                     // losses
            (490..510).rev().map(u).collect(),                        // both
            vec![u(3), u(9_999), u(3)],                               // repeated: toggles twice
            (0..500).map(u).collect(),                                // emptied
            (0..20).map(|i| Atom::String(format!("s{i}"))).collect(), // other kinds
        ];
        for diff in diffs {
            let mut plain = old.clone();
            scan(&mut plain, diff.clone());
            let mut fast = old.clone();
            toggle(&mut fast, diff.clone());
            assert_eq!(fast, plain, "diff {diff:?}");
        }
        // Reals take the plain path, where -0.0 == 0.0 (their bits differ).
        let mut reals: Vec<Atom> = (0..100).map(|i| Atom::Real(i as f64)).collect();
        toggle(&mut reals, vec![Atom::Real(-0.0)]);
        assert_eq!(reals.len(), 99);
        assert!(!reals.contains(&Atom::Real(0.0)));
    }
}
