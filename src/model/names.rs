//! The NB names ovn-vpcd derives from object names, and what the NB already
//! holds under them.
//!
//! Kube-OVN's names are kept as they are, because users look for them: a
//! VPC's router is `<vpc>`, a subnet's switch `<subnet>`, its router port
//! `<vpc>-<subnet>` and switch port `<subnet>-<vpc>`, a pod's port
//! `<pod>.<namespace>`. Joining names with `-` and `.` lets two valid objects
//! derive the same name (VPC `vb` + subnet `vb-net` and VPC `vb-vb` + subnet
//! `net` both want router port `vb-vb-net`), and a name may already be held
//! by a row ovn-vpcd does not own. Validation therefore checks every derived
//! name against every other object's and against the NB ([`NbState`], plain
//! data read from the cache at the edge):
//!
//! - a name held by a foreign row (no `vendor=ovn-vpcd`) refuses its
//!   claimant, naming the row: such rows are never touched;
//! - of two objects deriving one name, the one whose row already holds it
//!   in the NB keeps it; the other is refused, naming both. With neither in
//!   the NB, the first VPC (then subnet) in name order keeps it; a name
//!   held by the row of an object refused this pass (its rows stay) is not
//!   free either;
//! - pods' ports (`<pod>.<namespace>`) can equal a subnet's switch port
//!   (`<subnet>-<vpc>`, subnet `web.x` of VPC `a` and pod `web` in namespace
//!   `x-a`): a pod's port in the NB refuses the subnet, otherwise the
//!   subnet's port wins and the pod gets no port ([`pod_port_taken`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use super::object::ObjectKey;

/// The NB tables whose rows ovn-vpcd names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NameTable {
    Router,
    Switch,
    RouterPort,
    SwitchPort,
}

impl NameTable {
    pub const ALL: [NameTable; 4] =
        [NameTable::Router, NameTable::Switch, NameTable::RouterPort, NameTable::SwitchPort];

    pub fn table(self) -> &'static str {
        match self {
            NameTable::Router => "Logical_Router",
            NameTable::Switch => "Logical_Switch",
            NameTable::RouterPort => "Logical_Router_Port",
            NameTable::SwitchPort => "Logical_Switch_Port",
        }
    }

    /// As a person says it.
    pub fn noun(self) -> &'static str {
        match self {
            NameTable::Router => "router",
            NameTable::Switch => "switch",
            NameTable::RouterPort => "router port",
            NameTable::SwitchPort => "switch port",
        }
    }
}

pub fn router_port_name(vpc: &str, subnet: &str) -> String {
    format!("{vpc}-{subnet}")
}

pub fn switch_port_name(subnet: &str, vpc: &str) -> String {
    format!("{subnet}-{vpc}")
}

/// Kube-OVN's port name for a pod (`ovs.PodNameToPortName` without a provider).
pub fn pod_port_name(pod: &str, namespace: &str) -> String {
    format!("{pod}.{namespace}")
}

/// Who holds a row of some name in the NB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A row ovn-vpcd owns, by its owner (`<Kind>/<name>`).
    Owned(String),
    /// A row without `vendor=ovn-vpcd`: never touched.
    Foreign { uuid: String, tags: String },
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Owned(o) => write!(f, "{o}"),
            Holder::Foreign { uuid, tags } => write!(f, "a row ovn-vpcd does not own ({uuid}{tags})"),
        }
    }
}

/// What the NB holds that validation must respect. Plain data: built from
/// the cache by `reconcile::nb_state`, empty for a validation without NB.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NbState {
    names: HashMap<(NameTable, String), Holder>,
    /// Ports on owned switches that are not the switch's own router port
    /// (pods' ports, ovn-vpcd's or anyone's), by switch name.
    switch_ports: BTreeMap<String, usize>,
    /// The networks of owned router ports, by router name: (owner, network).
    router_networks: BTreeMap<String, Vec<(String, ipnet::IpNet)>>,
}

impl NbState {
    /// Records a row named `name`; a foreign holder outranks an owned one.
    pub fn hold(&mut self, table: NameTable, name: &str, holder: Holder) {
        let slot = self.names.entry((table, name.to_string())).or_insert_with(|| holder.clone());
        if matches!(holder, Holder::Foreign { .. }) {
            *slot = holder;
        }
    }

    pub fn set_switch_ports(&mut self, switch: &str, ports: usize) {
        self.switch_ports.insert(switch.to_string(), ports);
    }

    /// Records that an owned port of router `router`, owned by `owner`,
    /// serves `network`.
    pub fn add_router_network(&mut self, router: &str, owner: &str, network: ipnet::IpNet) {
        self.router_networks.entry(router.to_string()).or_default().push((owner.to_string(), network));
    }

    /// (owner, network) of the owned ports of router `router`.
    pub fn router_networks(&self, router: &str) -> &[(String, ipnet::IpNet)] {
        self.router_networks.get(router).map_or(&[], Vec::as_slice)
    }

    /// The names of `table` that rows ovn-vpcd does not own hold.
    pub fn foreign_names(&self, table: NameTable) -> BTreeSet<String> {
        let foreign = |((t, n), h): (&(NameTable, String), &Holder)| {
            (*t == table && matches!(h, Holder::Foreign { .. })).then(|| n.clone())
        };
        self.names.iter().filter_map(foreign).collect()
    }

    pub fn holder(&self, table: NameTable, name: &str) -> Option<&Holder> {
        self.names.get(&(table, name.to_string()))
    }

    /// Ports other than its router port on the owned switch `switch`.
    pub fn switch_ports(&self, switch: &str) -> usize {
        self.switch_ports.get(switch).copied().unwrap_or(0)
    }
}

/// Why the pod `key` (`<namespace>/<name>`) cannot have its port name, if
/// it cannot: `subnet_ports` (switch port name → which subnet derives it)
/// are the valid subnets' switch ports, granted before pods' ports (a pod
/// whose port already holds the name refuses the subnet instead, in
/// [`conflicts`]); a foreign row is never touched.
pub fn pod_port_taken(key: &str, subnet_ports: &BTreeMap<String, String>, nb: &NbState) -> Option<String> {
    let (namespace, pod) = key.split_once('/')?;
    let name = pod_port_name(pod, namespace);
    if let Some(from) = subnet_ports.get(&name) {
        return Some(format!("its port name {name:?} is the switch port of {from}; rename one of them"));
    }
    match nb.holder(NameTable::SwitchPort, &name) {
        Some(h @ Holder::Foreign { .. }) => {
            Some(format!("its port name {name:?} is already taken in the NB by {h}; ovn-vpcd never touches it"))
        }
        Some(Holder::Owned(_)) | None => None,
    }
}

/// A derived name claimed by an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub table: NameTable,
    pub name: String,
    pub owner: ObjectKey,
    /// How the name came about, for messages (`VPC "vb" + subnet "vb-net"`).
    pub from: String,
}

/// A claim that cannot be had, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub loser: Claim,
    pub reason: String,
}

/// Resolves `claims` (in priority order: earlier claims win among new
/// names) against each other and `nb`. `refused`: owners (`<Kind>/<name>`)
/// of objects refused this pass, whose rows stay: a name their row holds is
/// not free. Returns the refused claims.
pub fn conflicts(claims: &[Claim], nb: &NbState, refused: &BTreeSet<String>) -> Vec<Conflict> {
    let mut out = vec![];
    let mut by_name: BTreeMap<(NameTable, &str), Vec<&Claim>> = BTreeMap::new();
    for c in claims {
        by_name.entry((c.table, c.name.as_str())).or_default().push(c);
    }
    for ((table, name), mut group) in by_name {
        match nb.holder(table, name) {
            Some(h @ Holder::Foreign { .. }) => {
                for c in group {
                    let reason = format!(
                        "its {} {name:?} ({}) is already taken in the NB by {h}; ovn-vpcd never touches it: \
                         rename the object, or remove that row",
                        table.noun(),
                        c.from
                    );
                    out.push(Conflict { loser: c.clone(), reason });
                }
                continue;
            }
            Some(Holder::Owned(o)) if o.starts_with("Pod/") && !group.iter().any(|c| c.owner.owner_tag() == *o) => {
                // Pods are not claimants here (they get their ports after
                // validation): a pod's port in the NB keeps its name.
                for c in group {
                    let reason = format!(
                        "its {} {name:?} ({}) is the port of {} in the NB; rename the subnet or its VPC",
                        table.noun(),
                        c.from,
                        o.replacen('/', " ", 1)
                    );
                    out.push(Conflict { loser: c.clone(), reason });
                }
                continue;
            }
            Some(Holder::Owned(o)) if refused.contains(o) => {
                for c in group {
                    let reason = format!(
                        "its {} {name:?} ({}) is held in the NB by {}, which is refused and keeps its rows; \
                         rename one of them",
                        table.noun(),
                        c.from,
                        o.replacen('/', " ", 1)
                    );
                    out.push(Conflict { loser: c.clone(), reason });
                }
                continue;
            }
            Some(Holder::Owned(o)) => {
                // The incumbent first.
                if let Some(i) = group.iter().position(|c| c.owner.owner_tag() == *o) {
                    let c = group.remove(i);
                    group.insert(0, c);
                }
            }
            None => {}
        }
        let Some((winner, rest)) = group.split_first() else { continue };
        let held = matches!(nb.holder(table, name), Some(Holder::Owned(o)) if *o == winner.owner.owner_tag());
        for c in rest.iter().filter(|c| c.owner != winner.owner) {
            let reason = format!(
                "its {} {name:?} ({}) is also the {} of {} ({}), which {}; rename one of them",
                table.noun(),
                c.from,
                table.noun(),
                format_args!("{} {}", winner.owner.kind, winner.owner.qualified_name()),
                winner.from,
                if held { "holds it in the NB" } else { "comes first and keeps it" }
            );
            out.push(Conflict { loser: (*c).clone(), reason });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(table: NameTable, name: &str, owner: &str) -> Claim {
        let owner = ObjectKey::from_owner_tag(owner).unwrap();
        Claim { table, name: name.into(), from: format!("of {owner}"), owner }
    }

    #[test]
    fn the_row_in_the_nb_keeps_its_name_and_the_newcomer_is_refused() {
        let claims = [
            claim(NameTable::RouterPort, "vb-vb-net", "Subnet/net"),
            claim(NameTable::RouterPort, "vb-vb-net", "Subnet/vb-net"),
        ];
        // Nothing in the NB: the first claim keeps it.
        let c = conflicts(&claims, &NbState::default(), &BTreeSet::new());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].loser.owner, ObjectKey::subnet("vb-net"));
        assert!(c[0].reason.contains("Subnet net"), "{}", c[0].reason);
        // The second one holds it: it keeps it.
        let mut nb = NbState::default();
        nb.hold(NameTable::RouterPort, "vb-vb-net", Holder::Owned("Subnet/vb-net".into()));
        let c = conflicts(&claims, &nb, &BTreeSet::new());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].loser.owner, ObjectKey::subnet("net"));
        assert!(c[0].reason.contains("Subnet vb-net") && c[0].reason.contains("holds it"), "{}", c[0].reason);
    }

    #[test]
    fn a_foreign_row_refuses_every_claimant() {
        let mut nb = NbState::default();
        nb.hold(NameTable::Router, "vb", Holder::Owned("Vpc/vb".into()));
        nb.hold(NameTable::Router, "vb", Holder::Foreign { uuid: "u1".into(), tags: String::new() });
        let c = conflicts(&[claim(NameTable::Router, "vb", "Vpc/vb")], &nb, &BTreeSet::new());
        assert_eq!(c.len(), 1);
        assert!(c[0].reason.contains("does not own (u1)"), "{}", c[0].reason);
        // Other tables' names are not confused with it.
        assert!(conflicts(&[claim(NameTable::Switch, "vb", "Subnet/vb")], &nb, &BTreeSet::new()).is_empty());
    }
}
