//! The [`NbState`] validation needs, read from the NB cache: who holds each
//! router, switch and port name, how many ports other than its router
//! port each owned switch carries, and the networks of owned router ports
//! per router. Reads the cache in place; pure.

use crate::model::names::{Holder, NameTable, NbState};
use crate::ovsdb::{Atom, Cache, RowView, Value};

use crate::nb::rows::{ID_KEY, OWNER_KEY, VENDOR, VENDOR_KEY};

/// How a row ovn-vpcd does not own looks, for messages. A row tagged
/// `vendor=ovn-vpcd` without its `ovn-vpcd/id` is not ovn-vpcd's either: the
/// diff knows rows by id only, so it would neither update nor delete it, and
/// would add a second row of the same name beside it.
fn foreign(r: &RowView) -> Holder {
    let tags = match (r.external_id(VENDOR_KEY), r.external_id(OWNER_KEY)) {
        (Some(VENDOR), _) => format!(
            "; it carries {VENDOR_KEY}={VENDOR} but no {ID_KEY}: \
             remove the row, or set its external_ids:{ID_KEY} back"
        ),
        (None, Some(o)) => format!(
            "; it carries {OWNER_KEY}={o} but no {VENDOR_KEY}={VENDOR}: \
             set external_ids:{VENDOR_KEY}={VENDOR} on it to hand it back to ovn-vpcd"
        ),
        (Some(v), _) => format!(", {VENDOR_KEY}={v}"),
        (None, None) => String::new(),
    };
    Holder::Foreign { uuid: r.uuid.to_string(), tags }
}

pub fn nb_state(cache: &Cache) -> NbState {
    let mut nb = NbState::default();
    for t in NameTable::ALL {
        let Some(table) = cache.table(t.table()) else { continue };
        for r in table.iter() {
            let Some(name) = r.get_str("name") else { continue };
            let holder = match (r.external_id(VENDOR_KEY), r.external_id(ID_KEY)) {
                (Some(VENDOR), Some(_)) => Holder::Owned(r.external_id(OWNER_KEY).unwrap_or("").to_string()),
                _ => foreign(&r),
            };
            nb.hold(t, name, holder);
        }
    }
    if let Some(ports) = cache.table("Logical_Router_Port") {
        for p in ports.by_external_id(VENDOR_KEY, VENDOR) {
            let (Some(router), Some(owner)) = (p.external_id("lr"), p.external_id(OWNER_KEY)) else { continue };
            let networks = p.get("networks").map(Value::atoms).unwrap_or(&[]);
            for n in networks.iter().filter_map(Atom::as_str).filter_map(|n| n.parse::<ipnet::IpNet>().ok()) {
                nb.add_router_network(router, owner, n.trunc());
            }
        }
    }
    if let Some(switches) = cache.table("Logical_Switch") {
        for ls in switches.by_external_id(VENDOR_KEY, VENDOR) {
            let (Some(name), Some(owner)) = (ls.get_str("name"), ls.external_id(OWNER_KEY)) else { continue };
            let ports = ls.get("ports").map(Value::atoms).unwrap_or(&[]);
            let others = ports
                .iter()
                .filter_map(Atom::as_uuid)
                .filter(|u| {
                    cache.row("Logical_Switch_Port", *u).is_none_or(|p| p.external_id(OWNER_KEY) != Some(owner))
                })
                .count();
            nb.set_switch_ports(name, others);
        }
    }
    nb
}
