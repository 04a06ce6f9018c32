//! A half-written or emptied config never wipes tenants, against real OVN:
//! `run` acts only on a stable file, and `plan`, `apply` and `run` refuse a
//! pass that removes most tenants unless the operator said so.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ovn_vpcd::testbed::Ovn;

mod common;
use common::{http_get, wait_for, Daemon};

const SEED_002: &str = include_str!("../config/ovn-vpcd.toml");
const FLAG: &str = "--allow-mass-removal";

fn setup() -> (Ovn, PathBuf) {
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = ovn.dir().join("ovn-vpcd.toml");
    std::fs::write(&config, SEED_002).unwrap();
    (ovn, config)
}

fn vpcd(ovn: &Ovn, config: &Path, cmd: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
        .args([cmd, "--config"])
        .arg(config)
        .args(["--db", ovn.nb_unix()])
        .args(extra)
        .output()
        .unwrap()
}

/// name → uuid of every Logical_Router and Logical_Switch, by ovn-nbctl.
fn roots(ovn: &Ovn) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for table in ["Logical_Router", "Logical_Switch"] {
        let csv = ovn.nbctl(&["--format=csv", "--no-headings", "--columns=name,_uuid", "list", table]).unwrap();
        for line in csv.lines().filter(|l| !l.is_empty()) {
            let (name, uuid) = line.split_once(',').unwrap();
            out.insert(format!("{table} {}", name.trim_matches('"')), uuid.to_string());
        }
    }
    out
}

/// Everything an operator would look at, for "the NB is unchanged".
fn nb_view(ovn: &Ovn) -> String {
    let mut s = ovn.nbctl(&["show"]).unwrap();
    for r in ["test-vpc-1", "test-vpc-2"] {
        s += &ovn.nbctl(&["lr-route-list", r]).unwrap_or_default();
        s += &ovn.nbctl(&["lr-policy-list", r]).unwrap_or_default();
    }
    s + &format!("{:?}", roots(ovn))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const SEED_ROOTS: [&str; 4] =
    ["Logical_Router test-vpc-1", "Logical_Router test-vpc-2", "Logical_Switch net1", "Logical_Switch net2"];

#[test]
fn apply_refuses_to_wipe_every_tenant_without_the_operators_word() {
    let (ovn, config) = setup();
    let out = vpcd(&ovn, &config, "apply", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = nb_view(&ovn);
    assert_eq!(roots(&ovn).keys().map(String::as_str).collect::<Vec<_>>(), SEED_ROOTS);

    for text in ["", "[ovn]\n"] {
        std::fs::write(&config, text).unwrap();
        let out = vpcd(&ovn, &config, "apply", &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{text:?}: {err}");
        assert!(
            err.contains("refused: would remove 2 of 2 VPCs and 2 of 2 subnets; pass --allow-mass-removal"),
            "{text:?}: {err}"
        );
        assert!(!err.lines().any(|l| l.starts_with("converged:")), "{text:?}: {err}");
        assert_eq!(nb_view(&ovn), before, "{text:?} wrote to the NB");
    }

    // With the flag: removed.
    let out = vpcd(&ovn, &config, "apply", &[FLAG]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(roots(&ovn), BTreeMap::new());

    // Or with the word in the file itself.
    std::fs::write(&config, SEED_002).unwrap();
    assert!(vpcd(&ovn, &config, "apply", &[]).status.success());
    std::fs::write(&config, "[daemon]\nallow_mass_removal = true\n").unwrap();
    let out = vpcd(&ovn, &config, "apply", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(roots(&ovn), BTreeMap::new());
}

#[test]
fn plan_shows_the_removal_and_the_refusal() {
    let (ovn, config) = setup();
    assert!(vpcd(&ovn, &config, "apply", &[]).status.success());
    std::fs::write(&config, "[ovn]\n").unwrap();
    let out = vpcd(&ovn, &config, "plan", &[]);
    let (shown, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(shown.contains("Logical_Router:\n  - lr:test-vpc-1 (") && shown.contains("  - lr:test-vpc-2 ("), "{shown}");
    assert!(shown.contains("Logical_Switch:\n  - ls:net1 ("), "{shown}");
    assert!(
        err.contains("refused: would remove 2 of 2 VPCs and 2 of 2 subnets; pass --allow-mass-removal or set [daemon] allow_mass_removal = true"),
        "{err}"
    );
    let out = vpcd(&ovn, &config, "plan", &[FLAG]);
    assert_eq!(out.status.code(), Some(2), "changes pending, allowed: {}", stderr(&out));
    assert!(!stderr(&out).contains("refused"), "{}", stderr(&out));
    assert_eq!(roots(&ovn).len(), 4, "plan never writes");
}

#[test]
fn apply_with_a_refused_object_does_not_claim_convergence() {
    let (ovn, config) = setup();
    let bad = SEED_002.replace("cidrBlock = \"10.0.1.0/24\"\nenableDHCP", "cidrBlock = \"10.0.1.0/99\"\nenableDHCP");
    assert_ne!(bad, SEED_002);
    std::fs::write(&config, bad).unwrap();
    let out = vpcd(&ovn, &config, "apply", &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.lines().any(|l| l.starts_with("converged:")), "{err}");
    // The last line the command printed (log lines from the client's
    // shutdown may follow it on stderr).
    let last = err.lines().rfind(|l| !l.contains(" INFO ") && !l.contains(" WARN ")).unwrap();
    assert!(
        last.starts_with("applied: ") && last.ends_with(" changes; 1 objects refused, their rows left as they are"),
        "{err}"
    );
    assert!(roots(&ovn).contains_key("Logical_Switch net1"), "the rest converged");
}

#[test]
fn run_refuses_a_config_emptied_of_tenants_until_allowed() {
    let (ovn, config) = setup();
    let d = Daemon::start(&ovn, &config, &[]);
    let addr = d.address();
    wait_for("ready", Duration::from_secs(10), || (http_get(&addr, "/readyz").0 == 200).then_some(()));
    let before = roots(&ovn);
    assert_eq!(before.len(), 4);

    std::fs::write(&config, "[ovn]\n").unwrap();
    wait_for("refusal logged", Duration::from_secs(5), || d.log().contains("mass removal refused").then_some(()));
    let (code, body) = http_get(&addr, "/readyz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("would remove 2 of 2 VPCs and 2 of 2 subnets"), "{body}");
    let (_, metrics) = http_get(&addr, "/metrics");
    assert!(metrics.contains("ovn_vpcd_mass_removal_refused 1"), "{metrics}");
    // Drift repair and resync passes keep it refused; the rows stay.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(roots(&ovn), before);
    assert_eq!(d.log().matches("mass removal refused").count(), 1, "logged once:\n{}", d.log());

    // The operator's word, in the new file: removed.
    std::fs::write(&config, "[ovn]\n[daemon]\nallow_mass_removal = true\n").unwrap();
    wait_for("rows removed", Duration::from_secs(5), || roots(&ovn).is_empty().then_some(()));
    wait_for("ready again", Duration::from_secs(5), || (http_get(&addr, "/readyz").0 == 200).then_some(()));
    let (_, metrics) = http_get(&addr, "/metrics");
    assert!(metrics.contains("ovn_vpcd_mass_removal_refused 0"), "{metrics}");
}

#[test]
fn run_started_on_a_config_without_tenants_keeps_the_nb_rows() {
    let (ovn, config) = setup();
    assert!(vpcd(&ovn, &config, "apply", &[]).status.success());
    let before = roots(&ovn);
    std::fs::write(&config, "[ovn]\n").unwrap();
    let d = Daemon::start(&ovn, &config, &[]);
    let addr = d.address();
    wait_for("refusal logged", Duration::from_secs(10), || d.log().contains("mass removal refused").then_some(()));
    let (code, body) = http_get(&addr, "/readyz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("mass removal refused: would remove 2 of 2 VPCs and 2 of 2 subnets"), "{body}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(roots(&ovn), before);
}

#[test]
fn run_never_acts_on_a_config_being_rewritten_in_place() {
    let (ovn, config) = setup();
    let d = Daemon::start(&ovn, &config, &[]);
    let addr = d.address();
    wait_for("ready", Duration::from_secs(10), || (http_get(&addr, "/readyz").0 == 200).then_some(()));
    let before = roots(&ovn);
    assert_eq!(before.keys().map(String::as_str).collect::<Vec<_>>(), SEED_ROOTS);

    // A checker records the routers and switches as fast as ovn-nbctl goes.
    let stop = Arc::new(AtomicBool::new(false));
    let checker = {
        let (stop, nb) = (stop.clone(), ovn.nb_unix().to_string());
        let expected = before.clone();
        std::thread::spawn(move || {
            let mut checks = 0;
            let mut bad = vec![];
            while !stop.load(Ordering::Relaxed) {
                let mut seen = BTreeMap::new();
                for table in ["Logical_Router", "Logical_Switch"] {
                    let out = Command::new("ovn-nbctl")
                        .args(["--db", &nb, "--format=csv", "--no-headings", "--columns=name,_uuid", "list", table])
                        .output()
                        .unwrap();
                    for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()) {
                        let (name, uuid) = line.split_once(',').unwrap();
                        seen.insert(format!("{table} {}", name.trim_matches('"')), uuid.to_string());
                    }
                }
                checks += 1;
                if seen != expected {
                    bad.push(format!("{seen:?}"));
                }
            }
            (checks, bad)
        })
    };
    // 200 rewrites in place: truncate, half, a short pause, the rest. Every
    // other one moves a route, so stable edits still land.
    let variant = |i: usize| {
        if i.is_multiple_of(2) {
            SEED_002.replace("172.31.0.0/24", "172.31.9.0/24")
        } else {
            SEED_002.into()
        }
    };
    let cut = SEED_002.find("[[subnet]]").unwrap();
    for i in 0..200 {
        let text = variant(i);
        let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(&config).unwrap();
        f.write_all(&text.as_bytes()[..cut]).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        f.write_all(&text.as_bytes()[cut..]).unwrap();
        drop(f);
        std::thread::sleep(Duration::from_millis(80));
    }
    // The last (odd) rewrite is the seed itself.
    wait_for("last edit applied", Duration::from_secs(5), || {
        ovn.nbctl(&["lr-route-list", "test-vpc-1"]).unwrap().contains("172.31.0.0/24").then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (checks, bad) = checker.join().unwrap();
    eprintln!("{checks} checks by ovn-nbctl during the rewrites");
    assert!(checks > 50, "{checks}");
    assert!(bad.is_empty(), "{} of {checks} checks saw other routers/switches, first: {}", bad.len(), bad[0]);
    assert_eq!(roots(&ovn), before);
    let loads = d.log().matches("configuration loaded").count();
    eprintln!("{loads} reloads acted on");
    assert!(loads > 0, "stable edits were never loaded:\n{}", d.log());
    assert!(!d.log().contains("vpcs=0"), "{}", d.log());
}
