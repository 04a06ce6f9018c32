use super::*;
use crate::config::Config;
use crate::model::validate::validate;
use crate::reconcile::desired::{desired_rows, owner};

fn seed_rows() -> Vec<DesiredRow> {
    let cfg = Config::parse("t", include_str!("../../../config/ovn-vpcd.toml")).unwrap();
    let (model, rejected) = validate(&cfg.vpcs, &cfg.subnets);
    assert!(rejected.is_empty());
    desired_rows(&model)
}

/// What the cache would hold after applying `rows` (uuids 1, 2, ...).
fn applied(rows: &[DesiredRow]) -> Existing {
    let mut ex = Existing::default();
    let uuid_of = |id: &str| Uuid(rows.iter().position(|r| r.id == id).unwrap() as u128 + 1);
    for r in rows {
        let uuid = uuid_of(&r.id);
        ex.rows
            .insert((r.table, r.id.clone()), ExistingRow { uuid, owner: r.owner.clone(), columns: r.columns.clone() });
        if let Some(p) = &r.parent {
            ex.parents.insert(uuid, (p.table, uuid_of(&p.id), p.column));
        }
    }
    ex
}

#[test]
fn nothing_to_do_when_applied() {
    let rows = seed_rows();
    assert!(diff(&rows, &applied(&rows), &BTreeSet::new()).is_empty());
}

#[test]
fn set_and_map_order_does_not_matter() {
    let rows = seed_rows();
    let mut ex = applied(&rows);
    for r in ex.rows.values_mut() {
        for v in r.columns.values_mut() {
            match v {
                Value::Set(a) => a.reverse(),
                Value::Map(m) => m.reverse(),
            }
        }
    }
    assert!(diff(&rows, &ex, &BTreeSet::new()).is_empty());
}

#[test]
fn changed_columns_become_one_update_with_only_those_columns() {
    let rows = seed_rows();
    let mut ex = applied(&rows);
    let key = ("Logical_Router_Port", "lrp:test-vpc-1-net1".to_string());
    ex.rows.get_mut(&key).unwrap().columns.insert("networks".into(), Value::set(["10.0.1.9/24".into()]));
    let plan = diff(&rows, &ex, &BTreeSet::new());
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
    let ex = applied(&rows);
    let fewer: Vec<DesiredRow> = rows
        .iter()
        .filter(|r| !r.id.contains("172.31.0.0/24") && r.owner != owner("Subnet", "net2"))
        .cloned()
        .collect();
    let plan = diff(&fewer, &ex, &BTreeSet::new());
    let ops = plan.to_ops(&ex).unwrap();
    let json: Vec<String> = ops.iter().map(|o| o.to_json().to_string()).collect();
    // The route is detached from test-vpc-1's router, not deleted outright.
    let route =
        &ex.rows[&("Logical_Router_Static_Route", "route:test-vpc-1::src-ip:172.31.0.0/24:10.0.1.253".to_string())];
    assert!(
        json.iter().any(|j| j.contains("\"op\":\"mutate\"")
            && j.contains("static_routes")
            && j.contains(&route.uuid.to_string())),
        "{json:#?}"
    );
    // The switch and DHCP options of net2 are roots: deleted.
    assert_eq!(json.iter().filter(|j| j.contains("\"op\":\"delete\"")).count(), 2, "{json:#?}");
    assert!(!json.iter().any(|j| j.contains("\"op\":\"insert\"")));
}

#[test]
fn refused_owners_keep_their_rows() {
    let rows = seed_rows();
    let ex = applied(&rows);
    let without_net2: Vec<DesiredRow> = rows.iter().filter(|r| r.owner != owner("Subnet", "net2")).cloned().collect();
    let protected = BTreeSet::from([owner("Subnet", "net2")]);
    assert!(diff(&without_net2, &ex, &protected).is_empty());
}

#[test]
fn duplicate_ids_are_deleted() {
    let rows = seed_rows();
    let mut ex = applied(&rows);
    let first = ex.rows[&("Logical_Router", "lr:test-vpc-2".to_string())].clone();
    ex.duplicates.push(("Logical_Router", "lr:test-vpc-2".into(), ExistingRow { uuid: Uuid(999), ..first }));
    let plan = diff(&rows, &ex, &BTreeSet::new());
    assert!(matches!(plan.changes.as_slice(), [Change::Delete { uuid: Uuid(999), .. }]), "{plan:?}");
}

#[test]
fn inserts_are_guarded_and_children_ride_in_their_new_parent() {
    let rows = seed_rows();
    let plan = diff(&rows, &Existing::default(), &BTreeSet::new());
    let ops = plan.to_ops(&Existing::default()).unwrap();
    let inserts = ops.iter().filter(|o| matches!(o, Op::Insert { .. })).count();
    let waits = ops.iter().filter(|o| matches!(o, Op::Wait { .. })).count();
    assert_eq!(inserts, rows.len());
    let roots = rows.iter().filter(|r| r.parent.is_none()).count();
    assert_eq!(waits, roots, "roots guarded; their new children ride on the guard");
    // A child added to an existing parent gets a guard of its own.
    let ex = applied(&rows);
    let mut more = rows.clone();
    let mut extra = rows.iter().find(|r| r.table == "Logical_Router_Static_Route").unwrap().clone();
    extra.id.push_str(":extra");
    more.push(extra);
    let ops2 = diff(&more, &ex, &BTreeSet::new()).to_ops(&ex).unwrap();
    assert!(matches!(ops2.as_slice(), [Op::Wait { .. }, Op::Insert { .. }, Op::Mutate { .. }]), "{ops2:?}");
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
        text.starts_with("Logical_Router_Static_Route:\n  + route:test-vpc-1::dst-ip:0.0.0.0/0:10.0.1.254"),
        "{text}"
    );
}
