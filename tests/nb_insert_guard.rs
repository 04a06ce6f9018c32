//! What keeps an insert from happening twice, on the real ovsdb-server:
//! every owned row is inserted with the uuid derived from its table and id
//! (`nb::row_uuid`), so a replay, or a second writer planning from the same
//! NB, fails on `duplicate uuid`; where that uuid is taken, the insert falls
//! back to a `wait` on its id. Checked with ovn-nbctl.

mod common;
use common::bed::Bed;

use std::time::Duration;

use ovn_vpcd::config::Config;
use ovn_vpcd::nb::row_uuid::row_uuid;
use ovn_vpcd::ovsdb::{Client, ClientConfig, ClientError, MonitorSpec, Op, Outcome, Remote, Row, TxnError, Value};

const SEED_002: &str = include_str!("../config/ovn-vpcd.toml");

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn client(bed: &Bed) -> Client {
    let monitor = ovn_vpcd::nb::TABLES.iter().map(|(t, _)| MonitorSpec::all(t)).collect();
    let cc = ClientConfig::new(Remote::parse_list(bed.ovn.nb_unix(), 6641).unwrap(), "OVN_Northbound", monitor);
    Client::connect(cc, Duration::from_secs(10)).await.unwrap()
}

fn plan_ops(client: &Client) -> Vec<Op> {
    let cfg = Config::parse("seed", SEED_002).unwrap();
    ovn_vpcd::reconcile::plan(&cfg.vpcs, &cfg.subnets, client).plan.to_ops().unwrap()
}

/// `name` of every row of `table`, sorted.
fn names(bed: &Bed, table: &str) -> Vec<String> {
    let out = bed.nbctl(&["--bare", "--columns=name", "list", table]);
    let mut v: Vec<String> = out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    v.sort();
    v
}

/// The config's rows, each once, each under its derived uuid (or not).
fn assert_seed_once(bed: &Bed) {
    assert_eq!(names(bed, "Logical_Switch"), ["net1", "net2"]);
    assert_eq!(names(bed, "Logical_Router"), ["test-vpc-1", "test-vpc-2"]);
    assert_eq!(bed.ports("lsp-list", "net1"), ["net1-test-vpc-1"]);
    assert_eq!(bed.nbctl(&["lr-route-list", "test-vpc-1"]).lines().count(), 4, "two routes under two headings");
    assert_eq!(bed.plan_code(), 0, "nothing left to do");
}

/// The `_uuid` and `ovn-vpcd/id` of `table`'s row `name`.
fn uuid_and_id(bed: &Bed, table: &str, name: &str) -> (String, String) {
    let uuid = bed.nbctl(&["--bare", "--columns=_uuid", "find", table, &format!("name={name}")]);
    let id = bed.nbctl(&["--if-exists", "get", table, &uuid, "external_ids:\"ovn-vpcd/id\""]);
    (uuid, id.trim_matches('"').to_string())
}

#[test]
fn every_insert_carries_its_derived_uuid_and_a_replay_inserts_nothing() {
    let bed = Bed::new();
    bed.write(SEED_002);
    runtime().block_on(async {
        let client = client(&bed).await;
        let ops = plan_ops(&client);
        assert!(!ops.iter().any(|o| matches!(o, Op::Wait { .. })), "no scan of a table to guard: {ops:?}");
        assert!(ops.iter().all(|o| !matches!(o, Op::Insert { uuid: None, .. })), "{ops:?}");
        client.transact(&ops).await.unwrap();
        // The reply was lost, say: the very same transaction again.
        match client.transact(&ops).await {
            Err(ClientError::Txn(TxnError::Operation { op: "insert", error, .. })) => {
                assert_eq!(error, "duplicate uuid")
            }
            other => panic!("the replay must fail on its first insert's uuid: {other:?}"),
        }
        let again = client.transact_retrying(&ops, Duration::from_secs(5)).await.unwrap();
        assert_eq!(again, Outcome::AlreadyApplied);
    });
    assert_seed_once(&bed);
    for (table, name) in
        [("Logical_Switch", "net1"), ("Logical_Router", "test-vpc-1"), ("Logical_Switch_Port", "net1-test-vpc-1")]
    {
        let (uuid, id) = uuid_and_id(&bed, table, name);
        assert!(!id.is_empty(), "{table} {name} is owned");
        assert_eq!(uuid, row_uuid(table, &id).to_string(), "{table} {name}");
    }
}

/// Two daemons that both believe they lead plan from the same NB: the
/// second commit finds its rows' uuids taken and inserts nothing.
#[test]
fn a_second_writer_of_the_same_plan_inserts_nothing() {
    let bed = Bed::new();
    bed.write(SEED_002);
    runtime().block_on(async {
        let (a, b) = (client(&bed).await, client(&bed).await);
        let (ops_a, ops_b) = (plan_ops(&a), plan_ops(&b));
        let first = a.transact_retrying(&ops_a, Duration::from_secs(5)).await.unwrap();
        assert!(matches!(first, Outcome::Committed(_)), "{first:?}");
        let second = b.transact_retrying(&ops_b, Duration::from_secs(5)).await.unwrap();
        assert_eq!(second, Outcome::AlreadyApplied);
    });
    assert_seed_once(&bed);
}

/// A row someone else made under the uuid one of ours derives: ours is
/// inserted under a server-chosen uuid, guarded by a `wait` on its id, and
/// theirs is left as it is.
#[test]
fn a_derived_uuid_taken_by_a_foreign_row_falls_back_to_a_wait() {
    let bed = Bed::new();
    bed.write(SEED_002);
    let squatted = runtime().block_on(async {
        let client = client(&bed).await;
        let ops = plan_ops(&client);
        let net1 = ops
            .iter()
            .find_map(|o| match o {
                Op::Insert { table, row, uuid: Some(u), .. }
                    if table == "Logical_Switch" && row.get("name") == Some(&Value::string("net1")) =>
                {
                    Some(*u)
                }
                _ => None,
            })
            .expect("net1's switch is inserted under its derived uuid");
        let foreign = Op::Insert {
            table: "Logical_Switch".into(),
            row: Row::from([("name".into(), Value::string("squatter"))]),
            uuid_name: None,
            uuid: Some(net1),
        };
        client.transact(&[foreign]).await.unwrap();
        net1
    });
    bed.apply_ok();
    assert_eq!(names(&bed, "Logical_Switch"), ["net1", "net2", "squatter"]);
    let (squatter, _) = uuid_and_id(&bed, "Logical_Switch", "squatter");
    assert_eq!(squatter, squatted.to_string(), "the foreign row keeps its uuid");
    assert_eq!(bed.nbctl(&["get", "Logical_Switch", "squatter", "external_ids"]), "{}", "and is not taken over");
    let (net1, id) = uuid_and_id(&bed, "Logical_Switch", "net1");
    assert_ne!(net1, squatted.to_string());
    assert_eq!(id, "ls:net1");
    assert_eq!(bed.nbctl(&["ls-list"]).lines().count(), 3);
    assert_eq!(bed.ports("lsp-list", "net1"), ["net1-test-vpc-1"]);
    assert_eq!(bed.plan_code(), 0);
}

/// An owned row whose id was edited by hand sits on the uuid the wanted row
/// derives. One pass deletes it and inserts the wanted row: ovsdb-server
/// refuses a uuid deleted earlier in the same transaction, so the insert
/// takes a server-chosen uuid, and the switch's ports move to it.
#[test]
fn an_owned_row_on_a_wanted_rows_uuid_is_replaced_in_one_pass() {
    let bed = Bed::new();
    bed.write(SEED_002);
    bed.apply_ok();
    let (old, id) = uuid_and_id(&bed, "Logical_Switch", "net1");
    assert_eq!(old, row_uuid("Logical_Switch", &id).to_string());
    bed.ovn.nbctl(&["set", "Logical_Switch", "net1", "external_ids:\"ovn-vpcd/id\"=\"ls:by-hand\""]).unwrap();
    let out = bed.vpcd("apply");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("refused"), "one transaction, not object by object: {err}");
    assert_eq!(names(&bed, "Logical_Switch"), ["net1", "net2"]);
    let (new, id) = uuid_and_id(&bed, "Logical_Switch", "net1");
    assert_eq!(id, "ls:net1");
    assert_ne!(new, old, "the edited row is gone");
    assert_seed_once(&bed);
}

/// The promise a derived uuid cannot keep alone: a writer that picks random
/// uuids (a daemon of an older version, in a race with this one) can add a
/// row of an id the cache did not show yet. The next pass deletes the
/// second row (the one with the higher uuid) and moves its children.
#[test]
fn a_second_row_of_an_id_made_by_a_random_uuid_writer_goes_on_the_next_pass() {
    let bed = Bed::new();
    bed.write(SEED_002);
    runtime().block_on(async {
        let (ours, older) = (client(&bed).await, client(&bed).await);
        let ops = plan_ops(&ours);
        // The older writer's net1 switch: our row, under a random uuid.
        let theirs: Vec<Op> = ops
            .iter()
            .filter(|o| {
                matches!(o, Op::Insert { table, row, .. }
                if table == "Logical_Switch" && row.get("name") == Some(&Value::string("net1")))
            })
            .map(|o| match o.clone() {
                Op::Insert { table, mut row, .. } => {
                    row.remove("ports");
                    Op::Insert { table, row, uuid_name: None, uuid: None }
                }
                other => other,
            })
            .collect();
        assert_eq!(theirs.len(), 1);
        older.transact(&theirs).await.unwrap();
        // Ours, planned before that row was seen.
        ours.transact(&ops).await.unwrap();
    });
    assert_eq!(names(&bed, "Logical_Switch"), ["net1", "net1", "net2"], "a second row of one id, for now");
    bed.apply_ok();
    assert_seed_once(&bed);
}

/// An owned route whose `vendor` tag was removed by hand is someone else's
/// row now, still on the uuid ours derives: ours is inserted beside it, under
/// a server-chosen uuid, and its `wait` looks only for owned rows of the id
/// (one on the id alone would fail on the stripped row forever).
#[test]
fn a_route_stripped_of_its_vendor_tag_does_not_block_ours() {
    let bed = Bed::new();
    bed.write(SEED_002);
    bed.apply_ok();
    let find = |extra: &str| {
        let out = bed.nbctl(&[
            "--bare",
            "--columns=_uuid",
            "find",
            "Logical_Router_Static_Route",
            "nexthop=10.0.1.254",
            extra,
        ]);
        let mut v: Vec<String> = out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
        v.sort();
        v
    };
    let [stripped] = find("external_ids:vendor=ovn-vpcd").try_into().expect("one owned default route");
    bed.ovn.nbctl(&["remove", "Logical_Router_Static_Route", &stripped, "external_ids", "vendor"]).unwrap();
    let out = bed.vpcd("apply");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("not converged"), "{err}");
    let [ours] = find("external_ids:vendor=ovn-vpcd").try_into().expect("one owned default route again");
    assert_ne!(ours, stripped);
    let mut both = vec![ours, stripped];
    both.sort();
    assert_eq!(find("nexthop=10.0.1.254"), both, "the stripped row is left as it is");
    assert_eq!(bed.plan_code(), 0);
}
