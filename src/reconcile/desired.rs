//! Validated model → the NB rows ovn-vpcd wants, for a [`Scope`]: each
//! kind's rows are built in its home (`kinds::<kind>::rows`, in Kube-OVN's
//! shapes); this is the one dispatch over the kinds. Pure: no I/O,
//! deterministic output.
//!
//! Invariant: an object's rows depend on that object and on the derived
//! inputs it uses alone (a pod's port on its port and its subnet's DHCP
//! setting), so the rows of a [`Scope`] are exactly a full pass's rows of
//! those objects.

use super::Scope;
use crate::kinds::pod::rows::pod_rows;
use crate::kinds::subnet::rows::subnet_rows;
use crate::kinds::vpc::rows::vpc_rows;
use crate::model::derived::Derived;
use crate::model::object::Kind;
use crate::model::validate::Model;
use crate::nb::rows::DesiredRow;

/// All desired rows, sorted by (table, id).
pub fn desired_rows(model: &Model, derived: &Derived) -> Vec<DesiredRow> {
    desired_rows_in(model, derived, &Scope::All)
}

/// The desired rows of the objects in `scope`, sorted by (table, id). Each
/// object's rows depend on that object alone.
pub fn desired_rows_in(model: &Model, derived: &Derived, scope: &Scope) -> Vec<DesiredRow> {
    let mut rows = vec![];
    match scope {
        Scope::All => {
            model.vpcs.values().for_each(|v| vpc_rows(v, &mut rows));
            model.subnets.values().filter(|s| s.is_ovn).for_each(|s| subnet_rows(s, &mut rows));
            rows.extend(derived.pods.values().map(|p| pod_rows(p, model.subnets.get(&p.subnet))));
        }
        Scope::Owners(owners) => {
            for o in owners {
                match o.kind {
                    Kind::Vpc => model.vpcs.get(&o.name).into_iter().for_each(|v| vpc_rows(v, &mut rows)),
                    Kind::Subnet => model
                        .subnets
                        .get(&o.name)
                        .filter(|s| s.is_ovn)
                        .into_iter()
                        .for_each(|s| subnet_rows(s, &mut rows)),
                    Kind::Pod => rows.extend(
                        derived.pods.get(&o.qualified_name()).map(|p| pod_rows(p, model.subnets.get(&p.subnet))),
                    ),
                    // No NB rows (yet): a NAT gateway's rules are its agent's (next slice).
                    Kind::VpcNatGateway
                    | Kind::IptablesEip
                    | Kind::IptablesFipRule
                    | Kind::IptablesDnatRule
                    | Kind::IptablesSnatRule => {}
                }
            }
        }
    }
    rows.sort_by(|a, b| (a.table, &a.id).cmp(&(b.table, &b.id)));
    rows
}
