//! The identity of every object ovn-vpcd reconciles: a [`Kind`] (a type,
//! so that every `match` on it is exhaustive and a new kind is named by the
//! compiler everywhere it must be handled), an optional namespace and a name.
//!
//! The owner tag written into `external_ids:ovn-vpcd/owner` is
//! `Kind/<name>` for cluster-scoped kinds (the spelling every NB written so
//! far holds) and `Kind/<namespace>/<name>` for namespaced ones.
//!
//! Invariant: [`Kind::ALL`] is the one list of kinds, and no `match` on a
//! kind has a catch-all arm (`_ =>`): adding a variant makes the compiler
//! name every dispatch (ARCHITECTURE.md, "Adding a kind").

use std::fmt;

/// The kinds of object ovn-vpcd reconciles. Their order is the order in
/// which an object's rows are applied on their own (parents first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Vpc,
    Subnet,
    Pod,
    VpcNatGateway,
    IptablesEip,
    IptablesFipRule,
    IptablesDnatRule,
    IptablesSnatRule,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Vpc,
        Kind::Subnet,
        Kind::Pod,
        Kind::VpcNatGateway,
        Kind::IptablesEip,
        Kind::IptablesFipRule,
        Kind::IptablesDnatRule,
        Kind::IptablesSnatRule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vpc => "Vpc",
            Kind::Subnet => "Subnet",
            Kind::Pod => "Pod",
            Kind::VpcNatGateway => "VpcNatGateway",
            Kind::IptablesEip => "IptablesEIP",
            Kind::IptablesFipRule => "IptablesFIPRule",
            Kind::IptablesDnatRule => "IptablesDnatRule",
            Kind::IptablesSnatRule => "IptablesSnatRule",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether its objects live in a namespace.
    pub fn namespaced(self) -> bool {
        match self {
            Kind::Vpc
            | Kind::Subnet
            | Kind::VpcNatGateway
            | Kind::IptablesEip
            | Kind::IptablesFipRule
            | Kind::IptablesDnatRule
            | Kind::IptablesSnatRule => false,
            Kind::Pod => true,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object: kind, namespace (namespaced kinds only) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    /// A cluster-scoped object.
    pub fn cluster(kind: Kind, name: impl Into<String>) -> ObjectKey {
        debug_assert!(!kind.namespaced(), "{kind} is namespaced");
        ObjectKey { kind, namespace: None, name: name.into() }
    }

    /// A namespaced object.
    pub fn namespaced(kind: Kind, namespace: impl Into<String>, name: impl Into<String>) -> ObjectKey {
        debug_assert!(kind.namespaced(), "{kind} is cluster-scoped");
        ObjectKey { kind, namespace: Some(namespace.into()), name: name.into() }
    }

    pub fn vpc(name: impl Into<String>) -> ObjectKey {
        ObjectKey::cluster(Kind::Vpc, name)
    }

    pub fn subnet(name: impl Into<String>) -> ObjectKey {
        ObjectKey::cluster(Kind::Subnet, name)
    }

    /// A pod by its `<namespace>/<name>` key.
    pub fn pod(key: &str) -> ObjectKey {
        let (ns, name) = key.split_once('/').unwrap_or(("", key));
        ObjectKey::namespaced(Kind::Pod, ns, name)
    }

    /// `<name>`, or `<namespace>/<name>`.
    pub fn qualified_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The `ovn-vpcd/owner` tag of its rows.
    pub fn owner_tag(&self) -> String {
        format!("{}/{}", self.kind, self.qualified_name())
    }

    /// The object an `ovn-vpcd/owner` tag names; `None` for a tag no kind
    /// of this version writes.
    pub fn from_owner_tag(tag: &str) -> Option<ObjectKey> {
        let (kind, rest) = tag.split_once('/')?;
        let kind = Kind::parse(kind)?;
        if kind.namespaced() {
            let (ns, name) = rest.split_once('/')?;
            Some(ObjectKey::namespaced(kind, ns, name))
        } else {
            Some(ObjectKey::cluster(kind, rest))
        }
    }
}

impl fmt::Display for ObjectKey {
    /// `Subnet "net1"`, `Pod "ns1/web"`: as messages name objects.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.kind, self.qualified_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_tags_keep_todays_spelling_and_round_trip() {
        assert_eq!(ObjectKey::vpc("v").owner_tag(), "Vpc/v");
        assert_eq!(ObjectKey::subnet("s").owner_tag(), "Subnet/s");
        assert_eq!(ObjectKey::pod("ns1/web").owner_tag(), "Pod/ns1/web");
        for k in [ObjectKey::vpc("a.b"), ObjectKey::subnet("x"), ObjectKey::pod("n/p")] {
            assert_eq!(ObjectKey::from_owner_tag(&k.owner_tag()), Some(k));
        }
        assert_eq!(ObjectKey::from_owner_tag("Widget/x"), None);
        assert_eq!(ObjectKey::from_owner_tag("Pod/no-namespace"), None);
        assert_eq!(ObjectKey::pod("ns1/web").to_string(), "Pod \"ns1/web\"");
    }

    #[test]
    fn parents_sort_first() {
        let mut v = [ObjectKey::pod("a/b"), ObjectKey::subnet("a"), ObjectKey::vpc("z")];
        v.sort();
        assert_eq!(v.map(|k| k.kind), [Kind::Vpc, Kind::Subnet, Kind::Pod]);
    }
}
