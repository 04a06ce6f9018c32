//! Typed OVSDB data (RFC 7047 §5.1): atoms, sets, maps, uuids and named uuids.
//!
//! A column value is always a [`Value`]: a set of atoms or a map. A scalar is a
//! set of exactly one atom; an optional value is a set of zero or one atom. The
//! JSON forms are the wire forms: a bare atom for a one-element set,
//! `["set",[..]]`, `["map",[[k,v],..]]`, `["uuid","…"]`, `["named-uuid","…"]`.
//!
//! Deserialisation is written against serde's visitor API, not via
//! `serde_json::Value`, so a 100k-row monitor reply is decoded straight into
//! these types without an intermediate JSON tree.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeSeq, Serializer};

/// A row UUID, stored as 128 bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub u128);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid uuid {0:?}: expected 8-4-4-4-12 hex digits")]
pub struct UuidError(pub String);

impl FromStr for Uuid {
    type Err = UuidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UuidError(s.to_string());
        let b = s.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return Err(bad());
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if [8, 13, 18, 23].contains(&i) {
                continue;
            }
            let d = (c as char).to_digit(16).ok_or_else(bad)?;
            v = (v << 4) | d as u128;
        }
        Ok(Uuid(v))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(f, "{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One OVSDB atom.
#[derive(Clone, Debug, PartialEq)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(Uuid),
    /// A reference to a row inserted earlier in the same transaction.
    NamedUuid(String),
}

impl Atom {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }
}

impl From<&str> for Atom {
    fn from(s: &str) -> Self {
        Atom::String(s.to_string())
    }
}
impl From<String> for Atom {
    fn from(s: String) -> Self {
        Atom::String(s)
    }
}
impl From<i64> for Atom {
    fn from(i: i64) -> Self {
        Atom::Integer(i)
    }
}
impl From<bool> for Atom {
    fn from(b: bool) -> Self {
        Atom::Boolean(b)
    }
}
impl From<Uuid> for Atom {
    fn from(u: Uuid) -> Self {
        Atom::Uuid(u)
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Integer(i) => write!(f, "{i}"),
            Atom::Real(r) => write!(f, "{r}"),
            Atom::Boolean(b) => write!(f, "{b}"),
            Atom::String(s) => write!(f, "{s:?}"),
            Atom::Uuid(u) => write!(f, "{u}"),
            Atom::NamedUuid(n) => write!(f, "@{n}"),
        }
    }
}

/// A column value: a set of atoms (scalars are one-element sets) or a map.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Set(Vec<Atom>),
    Map(Vec<(Atom, Atom)>),
}

impl Value {
    pub fn empty_set() -> Self {
        Value::Set(Vec::new())
    }
    pub fn empty_map() -> Self {
        Value::Map(Vec::new())
    }
    pub fn atom(a: impl Into<Atom>) -> Self {
        Value::Set(vec![a.into()])
    }
    pub fn string(s: impl Into<String>) -> Self {
        Value::Set(vec![Atom::String(s.into())])
    }
    pub fn uuid(u: Uuid) -> Self {
        Value::Set(vec![Atom::Uuid(u)])
    }
    pub fn named(name: impl Into<String>) -> Self {
        Value::Set(vec![Atom::NamedUuid(name.into())])
    }
    pub fn set(atoms: impl IntoIterator<Item = Atom>) -> Self {
        Value::Set(atoms.into_iter().collect())
    }
    /// A string→string map, the shape of `external_ids`, `options`, ….
    pub fn str_map<K: Into<String>, V: Into<String>>(kv: impl IntoIterator<Item = (K, V)>) -> Self {
        Value::Map(kv.into_iter().map(|(k, v)| (Atom::String(k.into()), Atom::String(v.into()))).collect())
    }

    /// The single atom of a scalar (or present optional) value.
    pub fn as_atom(&self) -> Option<&Atom> {
        match self {
            Value::Set(v) if v.len() == 1 => Some(&v[0]),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        self.as_atom().and_then(Atom::as_str)
    }
    pub fn as_uuid(&self) -> Option<Uuid> {
        self.as_atom().and_then(Atom::as_uuid)
    }
    pub fn as_i64(&self) -> Option<i64> {
        self.as_atom().and_then(Atom::as_i64)
    }
    pub fn atoms(&self) -> &[Atom] {
        match self {
            Value::Set(v) => v,
            Value::Map(_) => &[],
        }
    }
    pub fn pairs(&self) -> &[(Atom, Atom)] {
        match self {
            Value::Map(m) => m,
            Value::Set(_) => &[],
        }
    }
    /// Looks a string key up in a map value.
    pub fn map_get(&self, key: &str) -> Option<&Atom> {
        self.pairs().iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }
    /// Iterates the string pairs of a string→string map.
    pub fn str_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs().iter().filter_map(|(k, v)| Some((k.as_str()?, v.as_str()?)))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Set(v) if v.len() == 1 => write!(f, "{}", v[0]),
            Value::Set(v) => {
                write!(f, "[")?;
                for (i, a) in v.iter().enumerate() {
                    write!(f, "{}{a}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, "]")
            }
            Value::Map(m) => {
                write!(f, "{{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    let k = k.as_str().map(str::to_string).unwrap_or_else(|| k.to_string());
                    write!(f, "{}{k}={v}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, "}}")
            }
        }
    }
}

// ---- serialisation -------------------------------------------------------

impl Serialize for Atom {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Atom::Integer(i) => s.serialize_i64(*i),
            Atom::Real(r) => s.serialize_f64(*r),
            Atom::Boolean(b) => s.serialize_bool(*b),
            Atom::String(v) => s.serialize_str(v),
            Atom::Uuid(u) => ("uuid", u.to_string()).serialize(s),
            Atom::NamedUuid(n) => ("named-uuid", n).serialize(s),
        }
    }
}

struct Pair<'a>(&'a Atom, &'a Atom);
impl Serialize for Pair<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.0, self.1).serialize(s)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Set(v) if v.len() == 1 => v[0].serialize(s),
            Value::Set(v) => ("set", v).serialize(s),
            Value::Map(m) => {
                struct Pairs<'a>(&'a [(Atom, Atom)]);
                impl Serialize for Pairs<'_> {
                    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let mut seq = s.serialize_seq(Some(self.0.len()))?;
                        for (k, v) in self.0 {
                            seq.serialize_element(&Pair(k, v))?;
                        }
                        seq.end()
                    }
                }
                ("map", Pairs(m)).serialize(s)
            }
        }
    }
}

impl Serialize for Uuid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ("uuid", self.to_string()).serialize(s)
    }
}

// ---- deserialisation -----------------------------------------------------

/// Either an atom or a whole value: what one JSON datum decodes to.
enum Datum {
    Atom(Atom),
    Value(Value),
}

struct DatumVisitor;

impl<'de> Visitor<'de> for DatumVisitor {
    type Value = Datum;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OVSDB atom, [\"uuid\",..], [\"named-uuid\",..], [\"set\",..] or [\"map\",..]")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Datum, E> {
        Ok(Datum::Atom(Atom::Integer(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Datum, E> {
        i64::try_from(v)
            .map(|i| Datum::Atom(Atom::Integer(i)))
            .map_err(|_| E::custom(format!("integer {v} out of range")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Datum, E> {
        Ok(Datum::Atom(Atom::Real(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Datum, E> {
        Ok(Datum::Atom(Atom::Boolean(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Datum, E> {
        Ok(Datum::Atom(Atom::String(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Datum, E> {
        Ok(Datum::Atom(Atom::String(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Datum, A::Error> {
        let tag: String = seq.next_element()?.ok_or_else(|| de::Error::custom("empty array is not an OVSDB datum"))?;
        let datum = match tag.as_str() {
            "uuid" => {
                let s: String = seq.next_element()?.ok_or_else(|| de::Error::custom("[\"uuid\"] without a value"))?;
                Datum::Atom(Atom::Uuid(s.parse().map_err(de::Error::custom)?))
            }
            "named-uuid" => {
                let s: String =
                    seq.next_element()?.ok_or_else(|| de::Error::custom("[\"named-uuid\"] without a name"))?;
                Datum::Atom(Atom::NamedUuid(s))
            }
            "set" => {
                let atoms: Vec<AtomDe> =
                    seq.next_element()?.ok_or_else(|| de::Error::custom("[\"set\"] without elements"))?;
                Datum::Value(Value::Set(atoms.into_iter().map(|a| a.0).collect()))
            }
            "map" => {
                let pairs: Vec<(AtomDe, AtomDe)> =
                    seq.next_element()?.ok_or_else(|| de::Error::custom("[\"map\"] without pairs"))?;
                Datum::Value(Value::Map(pairs.into_iter().map(|(k, v)| (k.0, v.0)).collect()))
            }
            other => return Err(de::Error::custom(format!("unknown OVSDB datum tag {other:?}"))),
        };
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(format!("[\"{tag}\", ..] has more than two elements")));
        }
        Ok(datum)
    }
}

struct AtomDe(Atom);
impl<'de> Deserialize<'de> for AtomDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(DatumVisitor)? {
            Datum::Atom(a) => Ok(AtomDe(a)),
            Datum::Value(_) => Err(de::Error::custom("a set or map where an atom was expected")),
        }
    }
}

impl<'de> Deserialize<'de> for Atom {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        AtomDe::deserialize(d).map(|a| a.0)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(DatumVisitor)? {
            Datum::Atom(a) => Value::Set(vec![a]),
            Datum::Value(v) => v,
        })
    }
}

impl<'de> Deserialize<'de> for Uuid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Atom::deserialize(d)? {
            Atom::Uuid(u) => Ok(u),
            // Row keys in table-updates are bare strings.
            Atom::String(s) => s.parse().map_err(de::Error::custom),
            other => Err(de::Error::custom(format!("expected a uuid, got {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uuid_round_trip() {
        let s = "223ede10-9169-4c7d-9524-a546e24bfab5";
        let u: Uuid = s.parse().unwrap();
        assert_eq!(u.to_string(), s);
        assert!("223ede10-9169-4c7d-9524-a546e24bfab".parse::<Uuid>().is_err());
        assert!("223ede10x9169-4c7d-9524-a546e24bfab5".parse::<Uuid>().is_err());
        assert!("g23ede10-9169-4c7d-9524-a546e24bfab5".parse::<Uuid>().is_err());
    }

    #[test]
    fn values_round_trip_through_wire_json() {
        let cases = [
            json!(5),
            json!("x"),
            json!(true),
            json!(1.5),
            json!(["uuid", "223ede10-9169-4c7d-9524-a546e24bfab5"]),
            json!(["named-uuid", "row1"]),
            json!(["set", []]),
            json!(["set", [1, 2, 3]]),
            json!(["map", [["vendor", "ovn-vpcd"], ["k", "v"]]]),
            json!(["map", [[1, ["uuid", "223ede10-9169-4c7d-9524-a546e24bfab5"]]]]),
        ];
        for c in cases {
            let v: Value = serde_json::from_value(c.clone()).unwrap();
            assert_eq!(serde_json::to_value(&v).unwrap(), c, "{v:?}");
        }
    }

    #[test]
    fn malformed_datums_are_errors() {
        for bad in [
            json!([]),
            json!(["uuid"]),
            json!(["uuid", "nope"]),
            json!(["bag", []]),
            json!(["set", [["set", []]]]),
            json!(["map", [[1]]]),
            json!(["set", [], 1]),
            json!(null),
            json!({"a": 1}),
            json!(18446744073709551615u64),
        ] {
            assert!(serde_json::from_value::<Value>(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn accessors() {
        let m = Value::str_map([("vendor", "ovn-vpcd"), ("vpc", "a")]);
        assert_eq!(m.map_get("vpc").and_then(Atom::as_str), Some("a"));
        assert_eq!(m.str_pairs().count(), 2);
        assert_eq!(Value::string("x").as_str(), Some("x"));
        assert_eq!(Value::empty_set().as_str(), None);
    }
}
