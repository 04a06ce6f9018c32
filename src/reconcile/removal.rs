//! Mass removal needs an explicit word from the operator.
//!
//! A half-written or emptied config file parses as a valid configuration
//! with fewer (or no) tenants; acting on it deletes every tenant's rows. So
//! a pass that would remove most tenants at once is refused unless the
//! operator said so (`--allow-mass-removal` on `plan`/`apply`, or
//! `[daemon] allow_mass_removal = true` in the file being loaded).
//!
//! The rule, over the VPCs and subnets that have rows in the NB
//! (`Logical_Router` rows owned by `Vpc/<name>`, `Logical_Switch` rows owned
//! by `Subnet/<name>`, tagged `vendor=ovn-vpcd`):
//!
//! - an object is *removed* when it has rows in the NB but is not in the
//!   validated model, is not refused (a refused object's rows are kept
//!   anyway), and is not being deleted explicitly (a Kubernetes resource
//!   with a `deletionTimestamp`: an explicit word for that object);
//! - the removal is *massive* when more than one object is removed and the
//!   removed objects are more than half of the objects with rows in the NB
//!   (VPCs and subnets counted together).
//!
//! So the first start on an empty NB is never a removal, and a start whose
//! config has no tenants while the NB holds owned rows is one. Pure: the
//! caller extracts [`Owned`] from the cache under its read lock.

use std::collections::BTreeSet;
use std::fmt;

use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::{Model, Rejection};
use crate::nb::rows::{OWNER_KEY, VENDOR, VENDOR_KEY};
use crate::ovsdb::Cache;

/// `Rejection::field` of an object whose removal is refused.
pub const REMOVAL_FIELD: &str = "removal";

/// How the operator allows a mass removal, for messages.
pub const HOW_TO_ALLOW: &str = "pass --allow-mass-removal or set [daemon] allow_mass_removal = true";

/// The VPCs and subnets with rows in the NB, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owned {
    pub vpcs: BTreeSet<String>,
    pub subnets: BTreeSet<String>,
}

impl Owned {
    /// Reads the owned routers and switches of the cache.
    pub fn of(cache: &Cache) -> Owned {
        let names = |table: &str, kind: Kind| -> BTreeSet<String> {
            let Some(t) = cache.table(table) else { return BTreeSet::new() };
            t.by_external_id(VENDOR_KEY, VENDOR)
                .filter_map(|r| ObjectKey::from_owner_tag(r.external_id(OWNER_KEY)?))
                .filter(|o| o.kind == kind)
                .map(|o| o.name)
                .collect()
        };
        Owned { vpcs: names("Logical_Router", Kind::Vpc), subnets: names("Logical_Switch", Kind::Subnet) }
    }
}

/// A refused mass removal: the objects that would go, out of how many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MassRemoval {
    pub vpcs: BTreeSet<String>,
    pub subnets: BTreeSet<String>,
    pub owned_vpcs: usize,
    pub owned_subnets: usize,
}

impl fmt::Display for MassRemoval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "would remove {} of {} VPCs and {} of {} subnets; {HOW_TO_ALLOW}",
            self.vpcs.len(),
            self.owned_vpcs,
            self.subnets.len(),
            self.owned_subnets
        )
    }
}

impl MassRemoval {
    /// One rejection per object that would be removed, so that a pass
    /// leaves its rows as they are (as any refused object's).
    pub fn rejections(&self) -> Vec<Rejection> {
        let reason = format!("kept: {self}");
        let one = |object: ObjectKey| Rejection::new(object, REMOVAL_FIELD, reason.clone());
        let mut out: Vec<Rejection> = self.vpcs.iter().map(|n| one(ObjectKey::vpc(n))).collect();
        out.extend(self.subnets.iter().map(|n| one(ObjectKey::subnet(n))));
        out
    }
}

/// Pure: the mass removal this desired state would make, if any (see the
/// module head). `deleting`: resources deleted explicitly.
pub fn judge(owned: &Owned, model: &Model, rejected: &[Rejection], deleting: &[ObjectKey]) -> Option<MassRemoval> {
    let kept = |kind: Kind, name: &String, in_model: bool| {
        in_model
            || rejected.iter().any(|r| r.is(kind, name))
            || deleting.iter().any(|d| d.kind == kind && d.namespace.is_none() && d.name == *name)
    };
    let vpcs: BTreeSet<String> =
        owned.vpcs.iter().filter(|n| !kept(Kind::Vpc, n, model.vpcs.contains_key(*n))).cloned().collect();
    let subnets: BTreeSet<String> =
        owned.subnets.iter().filter(|n| !kept(Kind::Subnet, n, model.subnets.contains_key(*n))).cloned().collect();
    let removed = vpcs.len() + subnets.len();
    let total = owned.vpcs.len() + owned.subnets.len();
    (removed > 1 && 2 * removed > total).then_some(MassRemoval {
        vpcs,
        subnets,
        owned_vpcs: owned.vpcs.len(),
        owned_subnets: owned.subnets.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::validate::validate;
    use crate::model::{SubnetSpec, VpcSpec};

    fn owned(vpcs: &[&str], subnets: &[&str]) -> Owned {
        Owned {
            vpcs: vpcs.iter().map(|s| s.to_string()).collect(),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A model of VPCs `vpcs` and subnets `(name, vpc, cidr)`.
    fn model(vpcs: &[&str], subnets: &[(&str, &str, &str)]) -> Model {
        let vpcs: Vec<(String, VpcSpec)> = vpcs.iter().map(|n| (n.to_string(), VpcSpec::default())).collect();
        let subnets: Vec<(String, SubnetSpec)> = subnets
            .iter()
            .map(|(n, v, c)| {
                (n.to_string(), SubnetSpec { vpc: v.to_string(), cidr_block: c.to_string(), ..SubnetSpec::default() })
            })
            .collect();
        let (m, rejected) = validate(&vpcs, &subnets);
        assert!(rejected.is_empty(), "{rejected:?}");
        m
    }

    #[test]
    fn an_empty_config_over_owned_rows_is_a_mass_removal() {
        let nb = owned(&["a", "b"], &["a1", "b1"]);
        let m = judge(&nb, &Model::default(), &[], &[]).expect("refused");
        assert_eq!(m.to_string(), format!("would remove 2 of 2 VPCs and 2 of 2 subnets; {HOW_TO_ALLOW}"));
        let r = m.rejections();
        assert_eq!(r.len(), 4);
        assert!(r.iter().all(|r| r.field == REMOVAL_FIELD && !r.waiting));
        assert_eq!((&r[0].object, r[2].object.kind), (&ObjectKey::vpc("a"), Kind::Subnet));
    }

    #[test]
    fn first_start_and_small_removals_are_not_mass_removals() {
        // Empty NB, new config: nothing to remove.
        assert_eq!(judge(&Owned::default(), &model(&["a"], &[("a1", "a", "10.0.0.0/24")]), &[], &[]), None);
        // One object of one: not "more than one".
        assert_eq!(judge(&owned(&["a"], &[]), &Model::default(), &[], &[]), None);
        // Exactly half: not "more than half".
        let keep = model(&["a"], &[("a1", "a", "10.0.0.0/24")]);
        assert_eq!(judge(&owned(&["a", "b"], &["a1", "b1"]), &keep, &[], &[]), None);
        // Three of four: refused, and names only the removed ones.
        let keep = model(&["a"], &[]);
        let m = judge(&owned(&["a", "b"], &["a1", "b1"]), &keep, &[], &[]).unwrap();
        assert_eq!(m.vpcs, BTreeSet::from(["b".to_string()]));
        assert_eq!(m.subnets.len(), 2);
        assert!(m.to_string().starts_with("would remove 1 of 2 VPCs and 2 of 2 subnets"), "{m}");
    }

    #[test]
    fn explicit_deletes_and_refused_objects_are_not_removals() {
        let nb = owned(&["a", "b"], &["a1", "b1"]);
        // Kubernetes resources being deleted: the operator's word.
        let deleting = [ObjectKey::vpc("a"), ObjectKey::vpc("b"), ObjectKey::subnet("a1")];
        assert_eq!(judge(&nb, &Model::default(), &[], &deleting), None);
        // Refused objects keep their rows anyway.
        let refused: Vec<Rejection> = ["a", "b"].iter().map(|n| Rejection::new(ObjectKey::vpc(*n), "x", "y")).collect();
        assert_eq!(judge(&nb, &Model::default(), &refused, &[ObjectKey::subnet("a1")]), None);
        // Only the kind named counts: a Subnet "a" being deleted is no word for Vpc "a".
        let m = judge(&nb, &Model::default(), &[], &[ObjectKey::subnet("a")]).unwrap();
        assert_eq!(m.vpcs.len(), 2);
    }
}
