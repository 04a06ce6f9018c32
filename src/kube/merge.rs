//! The resources merged with the TOML: the specs TOML and resources ask for
//! together ([`Merged`]), before validation.
//!
//! - A name the TOML already defines is refused on the resource; the TOML
//!   definition stays in force (see `kube::resources`).
//! - A resource being deleted (`deletionTimestamp`) is left out; an
//!   IptablesEIP being deleted stays in while a FIP, DNAT or SNAT rule
//!   names it ([`Merged::in_use`]).
//! - Each IptablesEIP resource's status as last written is read as its
//!   previous state (`NatSpecs::eip_status`: the immutability checks).
//! - A spec is read without the defaults this daemon wrote into it
//!   (`defaults::user_spec`): they are derived from it, never inputs.
//!
//! Invariant, kept by structure: [`merge`] reads a resource only through
//! [`Read::of`], so two versions of a resource with the same [`Read`] merge
//! the same. [`read_changes`] uses that to tell, from the keys a map logged
//! as changed, that a merge need not run again: a status or a finalizer we
//! wrote (the watch echoes each), a label edited, a new resourceVersion; or
//! that only generations moved (our defaults written into a spec), which
//! [`Merged::with_generations`] follows without merging.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value as Json;

use crate::config::Config;
use crate::kinds::iptables_eip::status::EipStatus;
use crate::kube::keyed::Keyed;
use crate::kube::resources::Store;
use crate::model::object::{Kind, ObjectKey};
use crate::model::validate::{NatSpecs, Rejection};
use crate::model::{NamedSubnet, NamedVpc, SubnetSpec, VpcSpec};

/// `Rejection::field` of a resource refused because the TOML defines its name.
pub const NAME_CLASH_FIELD: &str = "metadata.name";

/// The specs TOML and resources ask for together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Merged {
    pub vpcs: Vec<NamedVpc>,
    pub subnets: Vec<NamedSubnet>,
    /// The NAT gateway kinds, TOML first.
    pub nat: NatSpecs,
    /// The gateways written in the TOML (their workloads are the anchor's).
    pub toml_gateways: BTreeSet<String>,
    /// Resources refused before validation: the name is the TOML's, or the
    /// spec does not decode.
    pub refused: Vec<Rejection>,
    /// Resources being deleted.
    pub deleting: Vec<ObjectKey>,
    /// Every resource's `metadata.generation`: a new
    /// generation is a new input even when its spec decodes the same (a
    /// default written into it), so that its status follows.
    pub generations: BTreeMap<ObjectKey, i64>,
    /// The VPC of an OVN subnet without `vpc` (`[daemon] default_vpc`).
    pub default_vpc: String,
}

/// What [`merge`] reads of one resource of a merged kind, and all it
/// reads (see the module head).
#[derive(Debug, PartialEq)]
pub(crate) struct Read {
    generation: Option<i64>,
    deleting: bool,
    /// The spec as its users wrote it: without the defaults that are ours
    /// (`defaults::user_spec`, which reads our annotation for that).
    spec: Json,
    /// An IptablesEIP's status as last written (`None` for other kinds).
    eip: Option<EipStatus>,
}

impl Read {
    pub(crate) fn of(kind: Kind, obj: &Json) -> Read {
        // Of the statuses, only an IptablesEIP's is an input (see the module head).
        let eip = (kind == Kind::IptablesEip).then(|| EipStatus::of(obj));
        Read {
            generation: obj.pointer("/metadata/generation").and_then(Json::as_i64),
            deleting: obj.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()),
            spec: crate::kube::defaults::user_spec(obj),
            eip,
        }
    }

    fn same_but_generation(&self, other: &Read) -> bool {
        let Read { generation: _, deleting, spec, eip } = self;
        *deleting == other.deleting && *spec == other.spec && *eip == other.eip
    }

    /// The spec, decoded by the same model type as the TOML.
    fn spec<T: serde::de::DeserializeOwned>(self, key: &ObjectKey) -> Result<T, Rejection> {
        let reject = |reason: String| Rejection::new(key.clone(), "spec", reason);
        if self.spec.get("name").is_some() {
            return Err(reject("unknown field `name` (the name is metadata.name)".into()));
        }
        serde_json::from_value(self.spec).map_err(|e| reject(e.to_string()))
    }
}

/// How the merge of `now`, a later version of the map `was` of `kind`,
/// differs from that of `was`: `Some` of the keys whose
/// `metadata.generation` alone changed (with the new one), when merging
/// reads nothing else new (the same nodes, or changed keys with the same
/// [`Read`] but for the generation); `None` otherwise. A log that no
/// longer reaches back to `was` (or another map's) answers `None`, which
/// only costs a merge.
pub(crate) fn read_changes(kind: Kind, was: &Keyed, now: &Keyed) -> Option<Vec<(ObjectKey, Option<i64>)>> {
    if was.ptr_eq(now) {
        return Some(vec![]);
    }
    let keys: BTreeSet<&String> = now.changed_since(was.mark())?.collect();
    let mut generations = vec![];
    for key in keys {
        match (was.get(key), now.get(key)) {
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => {}
            (Some(a), Some(b)) => {
                let (a, b) = (Read::of(kind, a), Read::of(kind, b));
                if !a.same_but_generation(&b) {
                    return None;
                }
                if a.generation != b.generation {
                    generations.push((ObjectKey::cluster(kind, key), b.generation));
                }
            }
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => return None,
        }
    }
    Some(generations)
}

fn merge_kind<T: serde::de::DeserializeOwned>(
    kind: Kind,
    toml: &[(String, T)],
    objects: &imbl::OrdMap<String, Arc<Json>>,
    out: &mut Vec<(String, T)>,
    merged: &mut Merged,
) {
    let in_toml: BTreeSet<&str> = toml.iter().map(|(n, _)| n.as_str()).collect();
    for (name, obj) in objects {
        let key = ObjectKey::cluster(kind, name);
        let read = Read::of(kind, obj);
        if let Some(g) = read.generation {
            merged.generations.insert(key.clone(), g);
        }
        if read.deleting {
            merged.deleting.push(key);
            continue;
        }
        if in_toml.contains(name.as_str()) {
            let why = "also defined in the TOML configuration, which stays in force";
            merged.refused.push(Rejection::new(key, NAME_CLASH_FIELD, why));
            continue;
        }
        match read.spec::<T>(&key) {
            Ok(s) => out.push((name.clone(), s)),
            Err(r) => merged.refused.push(r),
        }
    }
}

/// Whether a FIP, DNAT or SNAT rule of `nat` names EIP `eip`.
fn nat_in_use(nat: &NatSpecs, eip: &str) -> bool {
    nat.fips.iter().any(|(_, r)| r.eip == eip)
        || nat.dnats.iter().any(|(_, r)| r.eip == eip)
        || nat.snats.iter().any(|(_, r)| r.eip == eip)
}

impl Merged {
    /// Whether the specs are those of `other`, whatever the generations:
    /// what validation reads (a new generation alone is reported, not
    /// validated again).
    pub fn same_specs(&self, other: &Merged) -> bool {
        let Merged { vpcs, subnets, nat, toml_gateways, refused, deleting, generations: _, default_vpc } = self;
        *vpcs == other.vpcs
            && *subnets == other.subnets
            && *nat == other.nat
            && *toml_gateways == other.toml_gateways
            && *refused == other.refused
            && *deleting == other.deleting
            && *default_vpc == other.default_vpc
    }

    /// This merge with the generations of `changes` (from
    /// `Store::merge_changes`): what merging the later store gives.
    pub fn with_generations(&self, changes: Vec<(ObjectKey, Option<i64>)>) -> Merged {
        let mut out = self.clone();
        for (key, generation) in changes {
            match generation {
                Some(g) => out.generations.insert(key, g),
                None => out.generations.remove(&key),
            };
        }
        out
    }

    /// Whether `object`, being deleted, is still in use: an IptablesEIP
    /// that rules name (its finalizer stays).
    pub fn in_use(&self, object: &ObjectKey) -> bool {
        match object.kind {
            Kind::IptablesEip => nat_in_use(&self.nat, &object.name),
            Kind::Vpc
            | Kind::Subnet
            | Kind::Pod
            | Kind::VpcNatGateway
            | Kind::IptablesFipRule
            | Kind::IptablesDnatRule
            | Kind::IptablesSnatRule => false,
        }
    }
}

/// TOML first, then the resources whose names it does not use: the kinds
/// `kube::resources::merged` names, and only those, each object only
/// through [`Read`] (see [`Store::same_merge_inputs`]). What the gateways run is not merged:
/// validation reads it from the store (`daemon::inputs`).
pub fn merge(config: &Config, store: &Store) -> Merged {
    let mut merged = Merged {
        vpcs: config.vpcs.clone(),
        subnets: config.subnets.clone(),
        default_vpc: config.daemon.default_vpc.clone(),
        toml_gateways: config.nat.gateways.iter().map(|(n, _)| n.clone()).collect(),
        ..Merged::default()
    };
    let mut vpcs: Vec<(String, VpcSpec)> = vec![];
    let mut subnets: Vec<(String, SubnetSpec)> = vec![];
    merge_kind(Kind::Vpc, &config.vpcs, &store.vpcs, &mut vpcs, &mut merged);
    merge_kind(Kind::Subnet, &config.subnets, &store.subnets, &mut subnets, &mut merged);
    for (_, s) in &mut subnets {
        s.use_default_vpc(&config.daemon.default_vpc);
    }
    let toml = &config.nat;
    let nat = &mut toml.clone();
    merge_kind(Kind::VpcNatGateway, &toml.gateways, &store.nat_gateways, &mut nat.gateways, &mut merged);
    merge_kind(Kind::IptablesEip, &toml.eips, &store.eips, &mut nat.eips, &mut merged);
    merge_kind(Kind::IptablesFipRule, &toml.fips, &store.fip_rules, &mut nat.fips, &mut merged);
    merge_kind(Kind::IptablesDnatRule, &toml.dnats, &store.dnat_rules, &mut nat.dnats, &mut merged);
    merge_kind(Kind::IptablesSnatRule, &toml.snats, &store.snat_rules, &mut nat.snats, &mut merged);
    // An EIP being deleted stays while rules name it (see the module head).
    let toml_eip = |name: &str| toml.eips.iter().any(|(n, _)| n == name);
    nat.eip_status.clear();
    for (name, obj) in store.eips.iter().filter(|(n, _)| !toml_eip(n)) {
        let read = Read::of(Kind::IptablesEip, obj);
        if let Some(s) = read.eip.clone().filter(|s| *s != EipStatus::default()) {
            nat.eip_status.insert(name.clone(), s);
        }
        if read.deleting && nat_in_use(nat, name) {
            if let Ok(s) = read.spec(&ObjectKey::cluster(Kind::IptablesEip, name)) {
                nat.eips.push((name.clone(), s));
            }
        }
    }
    merged.nat = std::mem::take(nat);
    merged.vpcs.extend(vpcs);
    merged.subnets.extend(subnets);
    merged
}
#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
