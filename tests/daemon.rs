//! `ovn-vpcd run` against real OVN: converges at start, restores drift,
//! follows config changes and SIGHUP, survives an NB restart and its own
//! SIGKILL, serves health and metrics, and tells systemd it is ready.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tokio::time::Instant;

use ovn_vpcd::testbed::Ovn;

mod common;
use common::{http_get, wait_for, Daemon};

const SEED_002: &str = include_str!("../config/ovn-vpcd.toml");

fn routes(ovn: &Ovn, router: &str) -> String {
    ovn.nbctl(&["lr-route-list", router]).unwrap_or_default()
}

fn setup() -> (Ovn, PathBuf) {
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = ovn.dir().join("ovn-vpcd.toml");
    std::fs::write(&config, SEED_002).unwrap();
    (ovn, config)
}

#[test]
fn converges_at_start_restores_drift_and_reports_health() {
    let (ovn, config) = setup();
    let d = Daemon::start(&ovn, &config, &[]);
    let addr = d.address();
    wait_for("ready", Duration::from_secs(10), || (http_get(&addr, "/readyz").0 == 200).then_some(()));
    assert!(routes(&ovn, "test-vpc-1").contains("0.0.0.0/0"));
    assert_eq!(http_get(&addr, "/healthz"), (200, "ok\n".to_string()));

    // Someone deletes an owned route and edits an owned port: both come back.
    ovn.nbctl(&["lr-route-del", "test-vpc-1", "0.0.0.0/0"]).unwrap();
    ovn.nbctl(&["set", "Logical_Router_Port", "test-vpc-1-net1", "networks=\"10.0.1.77/24\""]).unwrap();
    let t = Instant::now();
    wait_for("drift restored", Duration::from_secs(5), || {
        let ok = routes(&ovn, "test-vpc-1").contains("0.0.0.0/0")
            && ovn
                .nbctl(&["get", "Logical_Router_Port", "test-vpc-1-net1", "networks"])
                .unwrap()
                .contains("10.0.1.1/24");
        ok.then_some(())
    });
    eprintln!("drift restored after {:?} (measured with ovn-nbctl polling)", t.elapsed());

    let (code, metrics) = http_get(&addr, "/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("ovn_vpcd_nb_connected 1"), "{metrics}");
    assert!(metrics.contains("ovn_vpcd_owned_rows{table=\"Logical_Router\"} 2"), "{metrics}");
    let ok: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ovn_vpcd_reconciles_total{result=\"ok\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(ok >= 2, "{metrics}");
    assert_eq!(http_get(&addr, "/nope").0, 404);
}

#[test]
fn follows_config_changes_and_sighup_and_keeps_the_last_good_config() {
    let (ovn, config) = setup();
    let d = Daemon::start(&ovn, &config, &[]);
    wait_for("first converge", Duration::from_secs(10), || {
        routes(&ovn, "test-vpc-1").contains("0.0.0.0/0").then_some(())
    });
    // A broken file is reported and changes nothing.
    std::fs::write(&config, "[[vpc]]\nname = \"x\"\nbogus = 1\n").unwrap();
    wait_for("config error logged", Duration::from_secs(5), || d.log().contains("unknown field `bogus`").then_some(()));
    assert!(routes(&ovn, "test-vpc-1").contains("0.0.0.0/0"));
    // A good edit lands without a signal.
    std::fs::write(&config, SEED_002.replace("172.31.0.0/24", "172.31.9.0/24")).unwrap();
    wait_for("edited route", Duration::from_secs(5), || {
        routes(&ovn, "test-vpc-1").contains("172.31.9.0/24").then_some(())
    });
    assert!(!routes(&ovn, "test-vpc-1").contains("172.31.0.0/24"));
    // SIGHUP forces a reload even of an unchanged file: the log shows a
    // load after the signal.
    let loads_before = d.log().matches("configuration loaded").count();
    d.signal("HUP");
    wait_for("reload after SIGHUP", Duration::from_secs(5), || {
        let log = d.log();
        let after_hup = log.split("SIGHUP").nth(1).unwrap_or("");
        (after_hup.contains("configuration loaded") && log.matches("configuration loaded").count() > loads_before)
            .then_some(())
    });
}

#[test]
fn survives_an_nb_restart_and_converges_after_it() {
    let (ovn, config) = setup();
    let d = Daemon::start(&ovn, &config, &[]);
    let addr = d.address();
    wait_for("ready", Duration::from_secs(10), || (http_get(&addr, "/readyz").0 == 200).then_some(()));
    ovn.kill("nb").unwrap();
    wait_for("not ready while NB is down", Duration::from_secs(10), || {
        (http_get(&addr, "/readyz").0 == 503).then_some(())
    });
    ovn.restart("nb").unwrap();
    ovn.nbctl(&["lr-route-del", "test-vpc-1"]).unwrap();
    wait_for("routes back after NB restart", Duration::from_secs(15), || {
        let r = routes(&ovn, "test-vpc-1");
        (r.contains("0.0.0.0/0") && r.contains("172.31.0.0/24")).then_some(())
    });
    wait_for("ready again", Duration::from_secs(10), || (http_get(&addr, "/readyz").0 == 200).then_some(()));
}

/// 40 VPCs × 5 subnets × 10 routes: big enough that a SIGKILL lands mid-work.
fn big_config() -> String {
    let mut s = String::new();
    for v in 0..40 {
        s += &format!("[[vpc]]\nname = \"v{v}\"\nstaticRoutes = [\n");
        for r in 0..10 {
            s += &format!("  {{ cidr = \"172.{r}.0.0/16\", nextHopIP = \"10.{v}.0.{}\" }},\n", 10 + r);
        }
        s += "]\n";
        for n in 0..5 {
            s += &format!("[[subnet]]\nname = \"v{v}-s{n}\"\nvpc = \"v{v}\"\ncidrBlock = \"10.{v}.{n}.0/24\"\n");
        }
    }
    s
}

#[test]
fn sigkill_mid_apply_then_restart_converges_without_duplicates() {
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = ovn.dir().join("big.toml");
    std::fs::write(&config, big_config()).unwrap();
    for delay_ms in [30, 80, 150] {
        let mut d = Daemon::start(&ovn, &config, &[]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        d.child.kill().unwrap();
        d.child.wait().unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
        .args(["apply", "--config"])
        .arg(&config)
        .args(["--db", ovn.nb_unix()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let count = |table: &str| {
        ovn.nbctl(&["--bare", "--columns=_uuid", "list", table]).unwrap().lines().filter(|l| !l.is_empty()).count()
    };
    assert_eq!(count("Logical_Router"), 40);
    assert_eq!(count("Logical_Switch"), 200);
    assert_eq!(count("Logical_Router_Port"), 200);
    assert_eq!(count("Logical_Router_Static_Route"), 400);
    assert_eq!(count("Logical_Router_Policy"), 200, "one 31000 allow per subnet");
}

#[test]
fn tells_systemd_it_is_ready_after_converging() {
    let (ovn, config) = setup();
    let sock_path = ovn.dir().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _d = Daemon::start(&ovn, &config, &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())]);
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("no READY=1 from the daemon");
    let msg = String::from_utf8_lossy(&buf[..n]);
    assert!(msg.contains("READY=1"), "{msg}");
    assert!(routes(&ovn, "test-vpc-1").contains("0.0.0.0/0"), "READY before converging");
}
