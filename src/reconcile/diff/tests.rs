use super::*;
use crate::config::Config;
use crate::model::derived::Derived;
use crate::model::object::ObjectKey;
use crate::model::validate::validate;
use crate::ovsdb::TableCache;
use crate::reconcile::desired::desired_rows;

fn seed_rows() -> Vec<DesiredRow> {
    let cfg = Config::parse("t", include_str!("../../../config/ovn-vpcd.toml")).unwrap();
    let (model, rejected) = validate(&cfg.vpcs, &cfg.subnets);
    assert!(rejected.is_empty());
    desired_rows(&model, &Derived::default())
}

const SCHEMA: &str = r#"{"name":"OVN_Northbound","version":"7.0.0","tables":{
  "Logical_Router":{"columns":{"name":{"type":"string"},"ports":{"type":{"key":"uuid","min":0,"max":"unlimited"}},
    "static_routes":{"type":{"key":"uuid","min":0,"max":"unlimited"}},"policies":{"type":{"key":"uuid","min":0,"max":"unlimited"}},
    "external_ids":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}}}},
  "Logical_Switch":{"columns":{"name":{"type":"string"},"ports":{"type":{"key":"uuid","min":0,"max":"unlimited"}},
    "other_config":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}},
    "external_ids":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}}}},
  "Logical_Router_Port":{"columns":{"name":{"type":"string"},"mac":{"type":"string"},
    "networks":{"type":{"key":"string","min":1,"max":"unlimited"}},"ipv6_prefix":{"type":{"key":"string","min":0,"max":"unlimited"}},
    "ipv6_ra_configs":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}},
    "external_ids":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}}}},
  "Logical_Switch_Port":{"columns":{"name":{"type":"string"},"type":{"type":"string"},
    "addresses":{"type":{"key":"string","min":0,"max":"unlimited"}},
    "port_security":{"type":{"key":"string","min":0,"max":"unlimited"}},
    "dhcpv4_options":{"type":{"key":{"type":"uuid","refTable":"DHCP_Options","refType":"weak"},"min":0,"max":1}},
    "dhcpv6_options":{"type":{"key":{"type":"uuid","refTable":"DHCP_Options","refType":"weak"},"min":0,"max":1}},
    "options":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}},
    "external_ids":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}}}},
  "Logical_Router_Static_Route":{"columns":{"ip_prefix":{"type":"string"},"nexthop":{"type":"string"},
    "policy":{"type":{"key":"string","min":0,"max":1}},"route_table":{"type":"string"},
    "external_ids":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}}}},
  "Logical_Router_Policy":{"columns":{"priority":{"type":"integer"},"match":{"type":"string"},"action":{"type":"string"},
    "nexthops":{"type":{"key":"string","min":0,"max":"unlimited"}},
    "external_ids":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}}}},
  "DHCP_Options":{"columns":{"cidr":{"type":"string"},
    "options":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}},
    "external_ids":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}}}}}}"#;

/// A cache holding `rows` (uuids 1, 2, ... in order), children listed in
/// their parents' columns; `edit` may change a row's columns first.
fn cache_of(rows: &[DesiredRow], edit: impl Fn(&str, &mut Row), extra: &[(&'static str, Uuid, Row)]) -> Cache {
    use crate::ovsdb::monitor::{RowUpdate2, Updates};
    let schema = crate::ovsdb::schema::DbSchema::parse(SCHEMA).unwrap();
    let mut cache = Cache::default();
    cache.set_tables(
        schema
            .tables
            .iter()
            .map(|(n, t)| TableCache::new(n, t, &t.columns.keys().cloned().collect::<Vec<_>>()))
            .collect(),
    );
    let uuid_of = |id: &str| Uuid(rows.iter().position(|r| r.id == id).unwrap() as u128 + 1);
    let mut built: Vec<(&str, Uuid, Row)> = rows
        .iter()
        .map(|r| {
            let mut cols = r.columns.clone();
            for rr in &r.refs {
                cols.insert(rr.column.to_string(), Value::uuid(uuid_of(&rr.id)));
            }
            edit(&r.id, &mut cols);
            (r.table, uuid_of(&r.id), cols)
        })
        .collect();
    for r in rows {
        if let Some(p) = &r.parent {
            let parent = built.iter_mut().find(|(_, u, _)| *u == uuid_of(&p.id)).unwrap();
            let mut atoms = parent.2.get(p.column).map(|v| v.atoms().to_vec()).unwrap_or_default();
            atoms.push(Atom::Uuid(uuid_of(&r.id)));
            parent.2.insert(p.column.to_string(), Value::Set(atoms));
        }
    }
    built.extend(extra.iter().cloned());
    let mut updates: crate::ovsdb::monitor::TableUpdates2 = BTreeMap::new();
    for (table, uuid, row) in built {
        updates
            .entry(table.to_string())
            .or_default()
            .insert(uuid, RowUpdate2 { insert: Some(row), ..Default::default() });
    }
    cache.apply(Updates::V2(updates)).unwrap();
    cache
}

fn applied(rows: &[DesiredRow]) -> Cache {
    cache_of(rows, |_, _| {}, &[])
}

fn uuid_in(cache: &Cache, table: &'static str, id: &str) -> Uuid {
    cache.table(table).unwrap().by_external_id(ID_KEY, id).next().unwrap().uuid
}

fn all(cache: &Cache) -> Existing<'_> {
    Existing::new(cache, &Scope::All)
}

#[test]
fn nothing_to_do_when_applied() {
    let rows = seed_rows();
    let cache = applied(&rows);
    assert!(diff(rows.clone(), &all(&cache), &BTreeSet::new()).is_empty());
}

#[test]
fn set_and_map_order_does_not_matter() {
    let rows = seed_rows();
    let cache = cache_of(
        &rows,
        |_, cols| {
            for v in cols.values_mut() {
                match v {
                    Value::Set(a) => a.reverse(),
                    Value::Map(m) => m.reverse(),
                }
            }
        },
        &[],
    );
    assert!(diff(rows.clone(), &all(&cache), &BTreeSet::new()).is_empty());
}

#[test]
fn changed_columns_become_one_update_with_only_those_columns() {
    let rows = seed_rows();
    let cache = cache_of(
        &rows,
        |id, cols| {
            if id == "lrp:test-vpc-1-net1" {
                cols.insert("networks".into(), Value::set(["10.0.1.9/24".into()]));
            }
        },
        &[],
    );
    let plan = diff(rows.clone(), &all(&cache), &BTreeSet::new());
    match plan.changes.as_slice() {
        [Change::Update { id, new, .. }] => {
            assert_eq!(id, "lrp:test-vpc-1-net1");
            assert_eq!(new.keys().collect::<Vec<_>>(), vec!["networks"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stale_children_are_detached_from_their_parent_and_roots_deleted() {
    let rows = seed_rows();
    let cache = applied(&rows);
    let fewer: Vec<DesiredRow> = rows
        .iter()
        .filter(|r| !r.id.contains("172.31.0.0/24") && r.owner != ObjectKey::subnet("net2").owner_tag())
        .cloned()
        .collect();
    let plan = diff(fewer, &all(&cache), &BTreeSet::new());
    let ops = plan.to_ops().unwrap();
    let json: Vec<String> = ops.iter().map(|o| o.to_json().to_string()).collect();
    // The route is detached from test-vpc-1's router, not deleted outright.
    let route = uuid_in(&cache, "Logical_Router_Static_Route", "route:test-vpc-1::src-ip:172.31.0.0/24:10.0.1.253");
    assert!(
        json.iter()
            .any(|j| j.contains("\"op\":\"mutate\"") && j.contains("static_routes") && j.contains(&route.to_string())),
        "{json:#?}"
    );
    // The switch and DHCP options of net2 are roots: deleted.
    assert_eq!(json.iter().filter(|j| j.contains("\"op\":\"delete\"")).count(), 2, "{json:#?}");
    assert!(!json.iter().any(|j| j.contains("\"op\":\"insert\"")));
}

#[test]
fn refused_owners_keep_their_rows() {
    let rows = seed_rows();
    let cache = applied(&rows);
    let without_net2: Vec<DesiredRow> =
        rows.iter().filter(|r| r.owner != ObjectKey::subnet("net2").owner_tag()).cloned().collect();
    let protected = BTreeSet::from([ObjectKey::subnet("net2").owner_tag()]);
    assert!(diff(without_net2, &all(&cache), &protected).is_empty());
}

#[test]
fn duplicate_ids_are_deleted() {
    let rows = seed_rows();
    let first = rows.iter().find(|r| r.id == "lr:test-vpc-2").unwrap();
    let cache = cache_of(&rows, |_, _| {}, &[("Logical_Router", Uuid(999), first.columns.clone())]);
    let plan = diff(rows.clone(), &all(&cache), &BTreeSet::new());
    assert!(matches!(plan.changes.as_slice(), [Change::Delete { uuid: Uuid(999), .. }]), "{plan:?}");
}

#[test]
fn of_two_rows_of_one_id_the_one_on_its_derived_uuid_stays() {
    use crate::nb::row_uuid::row_uuid;
    let rows = seed_rows();
    let first = rows.iter().find(|r| r.id == "lr:test-vpc-2").unwrap();
    let derived = row_uuid("Logical_Router", "lr:test-vpc-2");
    let cache = cache_of(&rows, |_, _| {}, &[("Logical_Router", derived, first.columns.clone())]);
    let plan = diff(rows.clone(), &all(&cache), &BTreeSet::new());
    let deleted: Vec<Uuid> = plan
        .changes
        .iter()
        .filter_map(|c| if let Change::Delete { uuid, .. } = c { Some(*uuid) } else { None })
        .collect();
    // `cache_of` put the configured one at uuid position + 1.
    let original = Uuid(rows.iter().position(|r| r.id == "lr:test-vpc-2").unwrap() as u128 + 1);
    assert_eq!(deleted, [original], "{plan:?}");
}

#[test]
fn a_plan_inserting_one_row_id_twice_is_refused_before_the_nb() {
    let rows = seed_rows();
    let mut twice = rows.clone();
    let mut again = rows.iter().find(|r| r.id == "lr:test-vpc-2").unwrap().clone();
    again.owner = ObjectKey::vpc("someone-else").owner_tag();
    twice.push(again);
    let empty = cache_of(&[], |_, _| {}, &[]);
    let err = diff(twice, &all(&empty), &BTreeSet::new()).to_ops().unwrap_err();
    assert_eq!(err, PlanError::RepeatedInsert { table: "Logical_Router".into(), id: "lr:test-vpc-2".into() });
}

#[test]
fn inserts_are_guarded_and_children_ride_in_their_new_parent() {
    use crate::nb::row_uuid::row_uuid;
    let rows = seed_rows();
    let empty = cache_of(&[], |_, _| {}, &[]);
    let plan = diff(rows.clone(), &all(&empty), &BTreeSet::new());
    let ops = plan.to_ops().unwrap();
    let inserts = ops.iter().filter(|o| matches!(o, Op::Insert { .. })).count();
    assert_eq!(inserts, rows.len());
    // Every row is inserted with the uuid derived from its table and id, so
    // no `wait` (a table scan in ovsdb-server) is needed.
    for r in &rows {
        let uuid = row_uuid(r.table, &r.id);
        let with_it = ops.iter().filter(|o| matches!(o, Op::Insert { uuid: Some(u), .. } if *u == uuid)).count();
        assert_eq!(with_it, 1, "{} {}: {ops:?}", r.table, r.id);
    }
    assert!(!ops.iter().any(|o| matches!(o, Op::Wait { .. })), "{ops:?}");
    // A child added to an existing parent: its own uuid, attached by mutate.
    let cache = applied(&rows);
    let mut more = rows.clone();
    let mut extra = rows.iter().find(|r| r.table == "Logical_Router_Static_Route").unwrap().clone();
    extra.id.push_str(":extra");
    more.push(extra.clone());
    let ops2 = diff(more.clone(), &all(&cache), &BTreeSet::new()).to_ops().unwrap();
    let extra_uuid = row_uuid(extra.table, &extra.id);
    assert!(
        matches!(ops2.as_slice(), [Op::Insert { uuid: Some(u), .. }, Op::Mutate { .. }] if *u == extra_uuid),
        "{ops2:?}"
    );
    // Where the cache shows the derived uuid taken (here by a row someone
    // else made), the insert falls back to a server-chosen uuid and a `wait`
    // on its id, placed before every insert (a `wait` sees the transaction's
    // own earlier inserts).
    let foreign = Row::from([("ip_prefix".to_string(), Value::string("192.0.2.0/24"))]);
    let taken = cache_of(&rows, |_, _| {}, &[("Logical_Router_Static_Route", extra_uuid, foreign)]);
    let ops3 = diff(more.clone(), &all(&taken), &BTreeSet::new()).to_ops().unwrap();
    assert!(matches!(ops3.as_slice(), [Op::Wait { .. }, Op::Insert { uuid: None, .. }, Op::Mutate { .. }]), "{ops3:?}");
    assert!(ops3[0].to_json().to_string().contains(&extra.id), "{ops3:?}");
    // The same when this plan deletes the row holding it: ovsdb-server
    // refuses a uuid deleted earlier in the same transaction. (An owned
    // route whose id was edited by hand sits on the new route's uuid.)
    let stale_id = "route:test-vpc-1::dst-ip:198.51.100.0/24:10.0.1.254";
    let mut stale = extra.clone();
    stale.id = stale_id.to_string();
    let stale_cols = {
        let mut c = stale.columns.clone();
        c.insert(
            "external_ids".into(),
            Value::str_map([(VENDOR_KEY, VENDOR), (OWNER_KEY, stale.owner.as_str()), (ID_KEY, stale_id)]),
        );
        c
    };
    // (Left unattached here: the guard is decided from the plan's deletes.)
    let held = cache_of(&rows, |_, _| {}, &[("Logical_Router_Static_Route", extra_uuid, stale_cols)]);
    let plan4 = diff(more, &all(&held), &BTreeSet::new());
    assert!(plan4.changes.iter().any(|c| matches!(c, Change::Delete { uuid, .. } if *uuid == extra_uuid)), "{plan4:?}");
    let ops4 = plan4.to_ops().unwrap();
    let insert = ops4.iter().position(|o| matches!(o, Op::Insert { .. })).unwrap();
    let wait = ops4.iter().position(|o| matches!(o, Op::Wait { .. })).unwrap();
    assert!(wait < insert && matches!(ops4[insert], Op::Insert { uuid: None, .. }), "{ops4:?}");
    assert!(!ops.iter().any(|o| matches!(o, Op::Mutate { .. })), "new parents carry their children");
    let lr = ops
        .iter()
        .find_map(|o| match o {
            Op::Insert { table, row, .. }
                if table == "Logical_Router" && row["name"] == Value::string("test-vpc-1") =>
            {
                Some(row)
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(lr["static_routes"].atoms().len(), 2);
    assert_eq!(lr["policies"].atoms().len(), 3, "two from the spec, the subnet's 31000 allow");
    assert_eq!(lr["ports"].atoms().len(), 1);
    // The plan reads stably.
    let text = plan.to_string();
    assert!(
        text.starts_with("DHCP_Options:\n  + dhcp4:net2 cidr=\"10.0.1.0/24\"")
            && text.contains("Logical_Router_Static_Route:\n  + route:test-vpc-1::dst-ip:0.0.0.0/0:10.0.1.254"),
        "{text}"
    );
}

/// A reload plans only the objects that changed: that plan must equal the
/// full plan whenever the cache holds the old configuration, including
/// children whose parent belongs to an object outside the scope.
#[test]
fn a_scoped_plan_equals_the_full_plan_for_the_changed_objects() {
    use crate::reconcile::{changed_owners, plan_in};
    let text = include_str!("../../../config/ovn-vpcd.toml");
    let old = Config::parse("t", text).unwrap();
    let (old_model, _) = validate(&old.vpcs, &old.subnets);
    let cache = applied(&desired_rows(&old_model, &Derived::default()));
    type Edit = fn(&mut Config);
    let edits: [(&str, Edit); 5] = [
        ("route removed", |c| {
            c.vpcs[0].1.static_routes.pop();
        }),
        ("route next hop changed", |c| c.vpcs[0].1.static_routes[0].next_hop_ip = "10.0.1.200".into()),
        ("subnet removed: its port leaves a router outside the scope", |c| {
            c.subnets.retain(|(n, _)| n != "net2");
        }),
        ("subnet added to an existing VPC", |c| {
            let mut s = c.subnets[0].1.clone();
            s.cidr_block = "10.9.0.0/24".into();
            s.exclude_ips = vec![];
            c.subnets.push(("net9".into(), s));
        }),
        ("VPC and its subnet added", |c| {
            c.vpcs.push(("vpc-new".into(), c.vpcs[1].1.clone()));
            let mut s = c.subnets[1].1.clone();
            s.vpc = "vpc-new".into();
            c.subnets.push(("net-new".into(), s));
        }),
    ];
    for (what, edit) in edits {
        let mut new = Config::parse("t", text).unwrap();
        edit(&mut new);
        let (model, rejected) = validate(&new.vpcs, &new.subnets);
        assert!(rejected.is_empty(), "{what}: {rejected:?}");
        let none = Derived::default();
        let owners = changed_owners((&old_model, &none), (&model, &none));
        assert!(!owners.is_empty() && owners.len() <= 2, "{what}: {owners:?}");
        let full = plan_in(&model, &none, &rejected, &cache, &Scope::All);
        let scoped = plan_in(&model, &none, &rejected, &cache, &Scope::Owners(owners.clone()));
        assert!(!full.is_empty(), "{what}");
        assert_eq!(scoped, full, "{what}: scope {owners:?}");
        assert!(scoped.to_ops().is_ok(), "{what}");
    }
    let none = Derived::default();
    assert!(changed_owners((&old_model, &none), (&old_model, &none)).is_empty());
}

/// A pod's port on a DHCP subnet points at the subnet's DHCP_Options: by
/// named uuid when both are new (the options inserted first), by uuid once
/// they exist; enabling DHCP later updates the port, also in a scoped pass.
#[test]
fn pod_ports_reference_their_subnets_dhcp_options() {
    use crate::ipam::PodAddress;
    use crate::reconcile::{changed_owners, plan_in};
    let text = include_str!("../../../config/ovn-vpcd.toml");
    let cfg = Config::parse("seed", text).unwrap();
    let with_pod = |cfg: &Config| {
        let (m, rejected) = validate(&cfg.vpcs, &cfg.subnets);
        assert!(rejected.is_empty());
        let addr = PodAddress {
            subnet: "net2".into(),
            ips: vec!["10.0.1.2".parse().unwrap()],
            mac: "0a:01:02:03:04:05".into(),
        };
        let mut d = Derived::default();
        d.pods.insert("default/p".into(), addr.port("default/p").unwrap().into());
        (m, d)
    };
    let (model, derived) = with_pod(&cfg);
    let rows = desired_rows(&model, &derived);
    let empty = cache_of(&[], |_, _| {}, &[]);
    let ops = diff(rows.clone(), &all(&empty), &BTreeSet::new()).to_ops().unwrap();
    let pos = |f: &dyn Fn(&Op) -> bool| ops.iter().position(f).unwrap();
    let dhcp = pos(&|o| matches!(o, Op::Insert { table, .. } if table == "DHCP_Options"));
    let lsp = pos(&|o| matches!(o, Op::Insert { row, .. } if row.get("name") == Some(&Value::string("p.default"))));
    assert!(dhcp < lsp, "the options first: {ops:?}");
    let (Op::Insert { uuid_name: Some(name), .. }, Op::Insert { row, .. }) = (&ops[dhcp], &ops[lsp]) else { panic!() };
    assert_eq!(row["dhcpv4_options"], Value::named(name));
    // Applied: nothing to do (the reference resolves to the options' uuid).
    let cache = applied(&rows);
    assert!(diff(rows.clone(), &all(&cache), &BTreeSet::new()).is_empty());
    // DHCP enabled on net1 too, with a pod there: the port gets updated in
    // the same transaction as the options are inserted, scoped or not.
    let mut on = Config::parse("seed", text).unwrap();
    on.subnets[0].1.enable_dhcp = true;
    let (model2, mut derived2) = with_pod(&on);
    let addr =
        PodAddress { subnet: "net1".into(), ips: vec!["10.0.1.3".parse().unwrap()], mac: "0a:01:02:03:04:06".into() };
    derived2.pods.insert("default/q".into(), addr.port("default/q").unwrap().into());
    let (model1, mut derived1) = with_pod(&cfg);
    derived1.pods.insert("default/q".into(), derived2.pods["default/q"].clone());
    let cache1 = applied(&desired_rows(&model1, &derived1));
    let owners = changed_owners((&model1, &derived1), (&model2, &derived2));
    assert!(owners.contains(&ObjectKey::subnet("net1")) && owners.contains(&ObjectKey::pod("default/q")), "{owners:?}");
    assert!(!owners.contains(&ObjectKey::pod("default/p")), "the pod on net2 does not use net1's options");
    let full = plan_in(&model2, &derived2, &[], &cache1, &Scope::All);
    let scoped = plan_in(&model2, &derived2, &[], &cache1, &Scope::Owners(owners));
    assert_eq!(scoped, full);
    // A derived fact alone changes (a pod's address): exactly that pod is re-planned.
    let mut derived3 = derived1.clone();
    let moved =
        PodAddress { subnet: "net1".into(), ips: vec!["10.0.1.9".parse().unwrap()], mac: "0a:01:02:03:04:06".into() };
    derived3.pods.insert("default/q".into(), moved.port("default/q").unwrap().into());
    let owners = changed_owners((&model1, &derived1), (&model1, &derived3));
    assert_eq!(owners, BTreeSet::from([ObjectKey::pod("default/q")]));
    let full = plan_in(&model1, &derived3, &[], &cache1, &Scope::All);
    assert_eq!(full.changes.len(), 1, "{full}");
    assert_eq!(plan_in(&model1, &derived3, &[], &cache1, &Scope::Owners(owners)), full);
    let ops = full.to_ops().unwrap();
    let insert = ops.iter().find_map(|o| match o {
        Op::Insert { table, uuid_name, .. } if table == "DHCP_Options" => uuid_name.clone(),
        _ => None,
    });
    let update = ops.iter().find_map(|o| match o {
        Op::Update { table, row, .. } if table == "Logical_Switch_Port" => row.get("dhcpv4_options").cloned(),
        _ => None,
    });
    assert_eq!(update, insert.map(|n| Value::named(&n)), "{ops:?}");
}
