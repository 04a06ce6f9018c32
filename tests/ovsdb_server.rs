//! The OVSDB client against the real ovsdb-server with OVN's NB schema,
//! started by testbed/ovn.sh; effects verified with ovn-nbctl.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use ovn_vpcd::ovsdb::{Cond, ConnState, Op, Outcome, Value};
use ovn_vpcd::testbed::Ovn;
use serde_json::json;
use tokio::task::JoinSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_dbs_get_schema_and_transact_operations() {
    let ovn = Ovn::start().unwrap();
    let client = connect(ovn.nb_unix(), &["Logical_Switch", "Logical_Router"]).await;
    let rpc = client.rpc().await.unwrap();
    let dbs: Vec<String> = rpc.call("list_dbs", &json!([])).await.unwrap();
    assert!(dbs.contains(&"OVN_Northbound".to_string()), "{dbs:?}");
    let schema = client.schema().unwrap();
    assert!(schema.column("Logical_Router_Static_Route", "ecmp_symmetric_reply").is_none());
    assert!(schema.column("Logical_Router_Static_Route", "bfd").is_some());

    // insert with uuid-name, mutate referencing it, select, update, delete, comment.
    let r = client
        .transact(&[
            Op::Comment("ovn-vpcd test".into()),
            Op::Insert {
                table: "Logical_Router_Port".into(),
                row: [
                    ("name".to_string(), Value::string("r1-p")),
                    ("mac".into(), Value::string("00:00:00:00:00:01")),
                    ("networks".into(), Value::set(["10.0.0.1/24".into()])),
                ]
                .into(),
                uuid_name: Some("p".into()),
                uuid: None,
            },
            Op::Insert {
                table: "Logical_Router".into(),
                row: [("name".to_string(), Value::string("r1")), ("ports".into(), Value::named("p"))].into(),
                uuid_name: None,
                uuid: None,
            },
        ])
        .await
        .unwrap();
    let router = r[2].uuid.unwrap();
    assert_eq!(client.cache().row("Logical_Router", router).unwrap().get_str("name"), Some("r1"), "read-your-writes");
    assert_eq!(ovn.nbctl(&["lrp-get-enabled", "r1-p"]).unwrap().trim(), "enabled");

    let sel = client
        .transact(&[Op::Select {
            table: "Logical_Router".into(),
            conds: vec![Cond::eq("name", Value::string("r1"))],
            columns: Some(vec!["name".into()]),
        }])
        .await
        .unwrap();
    assert_eq!(sel[0].rows.as_ref().unwrap().len(), 1);

    let upd = client
        .transact(&[Op::Update {
            table: "Logical_Router".into(),
            conds: vec![Cond::uuid(router)],
            row: [("external_ids".to_string(), Value::str_map([("vendor", "ovn-vpcd")]))].into(),
        }])
        .await
        .unwrap();
    assert_eq!(upd[0].count, Some(1));
    assert_eq!(ovn.nbctl(&["get", "Logical_Router", "r1", "external_ids:vendor"]).unwrap().trim(), "ovn-vpcd");

    // A failing operation is reported with its index, kind, table and the server's error.
    let err = client
        .transact(&[
            Op::Comment("x".into()),
            Op::Insert {
                table: "Logical_Router".into(),
                row: [("nope".to_string(), Value::string("x"))].into(),
                uuid_name: None,
                uuid: None,
            },
        ])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("operation 1 (insert Logical_Router) failed") && text.contains("unknown column"), "{text}");

    // wait: fails with "timed out" when the condition does not hold.
    let err = client
        .transact(&[Op::wait_absent("Logical_Router", vec![Cond::eq("name", Value::string("r1"))])])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("operation 0 (wait Logical_Router) failed: timed out"), "{err}");

    let del = client
        .transact(&[Op::Delete { table: "Logical_Router".into(), conds: vec![Cond::uuid(router)] }])
        .await
        .unwrap();
    assert_eq!(del[0].count, Some(1));
    assert!(client.cache().row("Logical_Router", router).is_none(), "delete reflected");
    assert_eq!(ovn.nbctl(&["lr-list"]).unwrap().trim(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_pipelined_requests_are_matched_by_id() {
    let ovn = Ovn::start().unwrap();
    let client = connect(ovn.nb_unix(), &["Logical_Switch"]).await;
    let rpc = client.rpc().await.unwrap();
    let mut set = JoinSet::new();
    for i in 0..1000u32 {
        let rpc = rpc.clone();
        set.spawn(async move {
            let echo: Vec<u32> = rpc.call("echo", &json!([i])).await.unwrap();
            assert_eq!(echo, vec![i], "reply matched to the wrong request");
            let ops = guarded_switch(&format!("ls{i}"), &i.to_string());
            let reply = rpc.call_raw("transact", &ovn_vpcd::ovsdb::ops::transact_params(NB, &ops)).await.unwrap();
            ovn_vpcd::ovsdb::ops::parse_results(&ops, reply.get()).unwrap()[1].uuid.unwrap()
        });
    }
    let mut uuids = vec![];
    // Bounded: a client that stops reading while it writes deadlocks with
    // ovsdb-server here, which must fail the test rather than hang it.
    let all = async {
        while let Some(r) = set.join_next().await {
            uuids.push(r.unwrap().to_string());
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all).await.expect("pipelined requests stalled");
    uuids.sort();
    assert_eq!(uuids.len(), 1000);
    assert_eq!(nbctl_column(&ovn, "Logical_Switch", "_uuid"), uuids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_server_echo_across_idle_time_on_tcp() {
    let ovn = Ovn::start().unwrap();
    let mut cfg = config(ovn.nb_tcp(), &["Logical_Switch"]);
    // Our own probe off: only answering the server's echo keeps the session.
    cfg.probe_interval = None;
    let client = ovn_vpcd::ovsdb::Client::connect(cfg, Duration::from_secs(10)).await.unwrap();
    let mut states = client.subscribe_state();
    states.borrow_and_update();
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(!states.has_changed().unwrap(), "session dropped while idle: {:?}", client.state());
    assert!(matches!(client.state(), ConnState::Synced { .. }));
    client.transact(&guarded_switch("after-idle", "1")).await.unwrap();
    let log = std::fs::read_to_string(ovn.dir().join("nb.log")).unwrap();
    assert!(!log.contains("no response to inactivity probe"), "server probed us out:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_and_dumps_a_100k_row_table() {
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let writer = connect(ovn.nb_unix(), &["NB_Global"]).await;
    for chunk in 0..10 {
        let ops: Vec<Op> = (0..10_000)
            .map(|i| Op::Insert {
                table: "Logical_Switch".into(),
                row: [
                    ("name".to_string(), Value::string(format!("ls-{chunk}-{i}"))),
                    ("external_ids".into(), Value::str_map([("chunk", chunk.to_string())])),
                ]
                .into(),
                uuid_name: None,
                uuid: None,
            })
            .collect();
        writer.transact(&ops).await.unwrap();
    }
    let client = connect(ovn.nb_unix(), &["Logical_Switch"]).await;
    {
        let cache = client.cache();
        let t = cache.table("Logical_Switch").unwrap();
        assert_eq!(t.len(), 100_000);
        assert_eq!(t.by_external_id("chunk", "7").count(), 10_000);
        let mut cached: Vec<String> = t.iter().map(|r| r.get_str("name").unwrap().to_string()).collect();
        cached.sort();
        assert_eq!(cached, nbctl_column(&ovn, "Logical_Switch", "name"));
    }
    // The CLI prints the same rows.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
        .args(["nb", "--db", ovn.nb_unix(), "dump", "Logical_Switch"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("_uuid")).count(), 100_000);
    let has_row = text.lines().any(|l| {
        let mut parts = l.splitn(2, ':');
        parts.next().map(str::trim) == Some("name") && parts.next().map(str::trim) == Some("\"ls-3-1234\"")
    });
    assert!(has_row, "{}", &text[..400]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nb_tables_command_lists_row_counts() {
    let ovn = Ovn::start().unwrap();
    ovn.nbctl(&["lr-add", "vpc1", "--", "ls-add", "s1", "--", "ls-add", "s2"]).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
        .args(["nb", "tables"])
        .env("OVN_NB_DB", ovn.nb_tcp())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let count = |t: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(t))
            .unwrap_or_else(|| panic!("{t} missing:\n{text}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(count("Logical_Switch"), 2);
    assert_eq!(count("Logical_Router"), 1);
    assert_eq!(count("BFD"), 0);

    // A database that lacks what we need is named clearly.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
        .args(["nb", "--db", ovn.get("SB_UNIX").unwrap(), "--timeout", "3", "tables"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("OVN_Northbound"), "{err}");
}

/// Drives `n` guarded inserts through `transact_retrying`, returning each outcome.
async fn insert_stream(
    client: &ovn_vpcd::ovsdb::Client,
    n: usize,
    pause: Duration,
) -> HashMap<usize, Result<Outcome, String>> {
    let mut out = HashMap::new();
    for i in 0..n {
        let r =
            client.transact_retrying(&guarded_switch(&format!("s{i}"), &i.to_string()), Duration::from_secs(30)).await;
        out.insert(i, r.map_err(|e| e.to_string()));
        tokio::time::sleep(pause).await;
    }
    out
}

fn assert_exactly_once(ovn: &Ovn, n: usize, outcomes: &HashMap<usize, Result<Outcome, String>>) {
    let names = nbctl_column(ovn, "Logical_Switch", "name");
    let mut per: HashMap<String, usize> = HashMap::new();
    for name in names {
        *per.entry(name).or_default() += 1;
    }
    for i in 0..n {
        let name = format!("s{i}");
        let rows = per.get(&name).copied().unwrap_or(0);
        match &outcomes[&i] {
            Ok(_) => assert_eq!(rows, 1, "{name}: reported committed, {rows} rows"),
            Err(e) => assert!(rows <= 1, "{name}: reported failed ({e}) yet {rows} rows"),
        }
    }
    let failed: Vec<_> = outcomes.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "transactions failed despite retrying: {failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_server_kill_and_restart_without_duplicates() {
    let ovn = Ovn::start().unwrap();
    let client = connect(ovn.nb_tcp(), &["Logical_Switch"]).await;
    let n = 150;
    let stream = insert_stream(&client, n, Duration::from_millis(10));
    let chaos = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        ovn.kill("nb").unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        ovn.restart("nb").unwrap();
        // Someone else writes while we reconnect.
        ovn.nbctl(&["ls-add", "by-hand"]).unwrap();
    };
    let (outcomes, ()) = tokio::join!(stream, chaos);
    assert_exactly_once(&ovn, n, &outcomes);
    // The cache converges to exactly the server's content.
    let mut changes = client.subscribe_changes();
    let want = nbctl_column(&ovn, "Logical_Switch", "_uuid");
    let ok = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let mut got: Vec<String> =
                client.cache().table("Logical_Switch").unwrap().iter().map(|r| r.uuid.to_string()).collect();
            got.sort();
            if got == want {
                return;
            }
            changes.changed().await.unwrap();
        }
    })
    .await;
    assert!(ok.is_ok(), "cache never matched the server after restart");
    assert_eq!(want.len(), n + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_the_raft_leader_and_commits_each_write_once() {
    let ovn = Ovn::start_with(&["--raft", "--no-northd"]).unwrap();
    let client = connect(ovn.nb_db(), &["Logical_Switch"]).await;
    let leader = ovn.leader().unwrap();
    let leader_remote = ovn.get(&format!("{}_TCP", leader.to_uppercase())).unwrap().to_string();
    assert!(
        matches!(client.state(), ConnState::Synced { ref remote } if *remote == leader_remote),
        "{:?} vs {leader_remote}",
        client.state()
    );

    let n = 200;
    let stream = insert_stream(&client, n, Duration::from_millis(10));
    let chaos = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        ovn.kill(&leader).unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        ovn.restart(&leader).unwrap();
    };
    let (outcomes, ()) = tokio::join!(stream, chaos);
    assert_exactly_once(&ovn, n, &outcomes);
    let new_leader = ovn.leader().unwrap();
    match client.state() {
        ConnState::Synced { remote } => {
            assert_ne!(remote, leader_remote, "still on the killed member");
            assert_eq!(remote, ovn.get(&format!("{}_TCP", new_leader.to_uppercase())).unwrap(), "not on the leader");
        }
        s => panic!("not synced: {s:?}"),
    }
    assert_eq!(client.cache().table("Logical_Switch").unwrap().len(), n);
    // Reconnecting to another member resumed the monitor from the last
    // transaction id instead of reloading everything.
    let stats = client.monitor_stats();
    assert_eq!(stats.full_loads.load(std::sync::atomic::Ordering::Relaxed), 1, "only the first load is full");
    assert!(stats.resumed.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_monitor_method_follows_inserts_modifies_and_deletes() {
    use ovn_vpcd::ovsdb::MonitorMethod;
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    ovn.nbctl(&["ls-add", "a", "--", "set", "Logical_Switch", "a", "external_ids:owner=x"]).unwrap();
    for method in [MonitorMethod::CondSince, MonitorMethod::Cond, MonitorMethod::Plain] {
        let mut cfg = config(ovn.nb_unix(), &["Logical_Switch"]);
        cfg.monitor_method = method;
        let client = ovn_vpcd::ovsdb::Client::connect(cfg, Duration::from_secs(10)).await.unwrap();
        let mut changes = client.subscribe_changes();
        let wait_for = |pred: &dyn Fn(&ovn_vpcd::ovsdb::Cache) -> bool| pred(&client.cache());
        assert!(
            wait_for(&|c| c.table("Logical_Switch").unwrap().by_external_id("owner", "x").count() == 1),
            "{method:?}"
        );
        type Check<'a> = &'a dyn Fn(&ovn_vpcd::ovsdb::Cache) -> bool;
        let steps: [(&[&str], Check); 3] = [
            (&["ls-add", "b"], &|c| c.table("Logical_Switch").unwrap().len() == 2),
            (&["set", "Logical_Switch", "a", "external_ids:owner=y"], &|c| {
                let t = c.table("Logical_Switch").unwrap();
                t.by_external_id("owner", "y").count() == 1 && t.by_external_id("owner", "x").count() == 0
            }),
            (&["ls-del", "b"], &|c| c.table("Logical_Switch").unwrap().len() == 1),
        ];
        for (args, done) in steps {
            ovn.nbctl(args).unwrap();
            let ok = tokio::time::timeout(Duration::from_secs(5), async {
                while !wait_for(done) {
                    changes.changed().await.unwrap();
                }
            })
            .await;
            assert!(ok.is_ok(), "{method:?}: cache did not follow ovn-nbctl {args:?}");
        }
        ovn.nbctl(&["set", "Logical_Switch", "a", "external_ids:owner=x"]).unwrap();
        drop(client);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_cancel_stops_updates() {
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let client = connect(ovn.nb_unix(), &["Logical_Switch"]).await;
    client.monitor_cancel().await.unwrap();
    ovn.nbctl(&["ls-add", "unseen"]).unwrap();
    // Prove the server processed the insert before we look: a round trip after it.
    let rpc = client.rpc().await.unwrap();
    let _: serde_json::Value = rpc.call("echo", &json!([])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.cache().table("Logical_Switch").unwrap().len(), 0, "updates after monitor_cancel");
    // Cancelling an unknown monitor is a server error, reported as such.
    let err = rpc.call_raw("monitor_cancel", &json!(["nope"])).await.unwrap_err();
    assert!(err.to_string().contains("unknown monitor"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_schema_columns_are_named() {
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let mut cfg = config(ovn.nb_unix(), &["Logical_Switch"]);
    cfg.require = vec![
        ("Logical_Router_Policy".into(), vec!["match".into(), "bfd_sessions".into()]),
        ("Logical_Router_Static_Route".into(), vec!["ecmp_symmetric_reply".into()]),
    ];
    let err = ovn_vpcd::ovsdb::Client::connect(cfg, Duration::from_secs(3)).await.err().unwrap().to_string();
    assert!(
        err.contains("lacks what ovn-vpcd needs: column Logical_Router_Policy.bfd_sessions, column Logical_Router_Static_Route.ecmp_symmetric_reply"),
        "{err}"
    );
}
