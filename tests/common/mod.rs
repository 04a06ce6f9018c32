//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod bed;
pub mod kube;
pub mod nat;
pub mod pods;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ovn_vpcd::testbed::Ovn;
use tokio::time::Instant;

use ovn_vpcd::ovsdb::{Client, ClientConfig, Cond, MonitorSpec, Op, Remote, Row, Value};

pub const NB: &str = "OVN_Northbound";

pub fn config(remotes: &str, tables: &[&str]) -> ClientConfig {
    let specs = tables.iter().map(|t| MonitorSpec::all(t)).collect();
    ClientConfig::new(Remote::parse_list(remotes, 6641).unwrap(), NB, specs)
}

pub async fn connect(remotes: &str, tables: &[&str]) -> Client {
    Client::connect(config(remotes, tables), Duration::from_secs(20)).await.expect("connect")
}

/// An insert of a Logical_Switch tagged `test-id=<id>`, guarded so that a
/// replay cannot insert it twice.
pub fn guarded_switch(name: &str, id: &str) -> Vec<Op> {
    let tag = Value::str_map([("test-id", id)]);
    vec![
        Op::wait_absent("Logical_Switch", vec![Cond::includes("external_ids", tag.clone())]),
        Op::Insert {
            table: "Logical_Switch".into(),
            row: Row::from([("name".into(), Value::string(name)), ("external_ids".into(), tag)]),
            uuid_name: None,
            uuid: None,
        },
    ]
}

/// `ovn-nbctl --bare --columns=COL list TABLE`, one value per line, sorted.
pub fn nbctl_column(ovn: &ovn_vpcd::testbed::Ovn, table: &str, col: &str) -> Vec<String> {
    let out = ovn.nbctl(&["--bare", &format!("--columns={col}"), "list", table]).unwrap();
    let mut v: Vec<String> = out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    v.sort();
    v
}

/// `ovn-vpcd run` as a child process, its log in the testbed directory.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(ovn: &Ovn, config: &Path, env: &[(&str, &str)]) -> Daemon {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = ovn.dir().join(format!("daemon-{}-{n}.log", std::process::id()));
        let child = Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
            .args(["run", "--config"])
            .arg(config)
            .args(["--db", ovn.nb_unix(), "--listen", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }
    /// `ovn-vpcd run --config CONFIG --db DB`, its log in `dir` (a cluster's).
    pub fn start_on(db: &str, config: &Path, dir: &Path) -> Daemon {
        let log = dir.join(format!("daemon-{}.log", std::process::id()));
        let child = Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
            .args(["run", "--config"])
            .arg(config)
            .args(["--db", db, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// The address the daemon's HTTP endpoint bound.
    pub fn address(&self) -> String {
        wait_for("daemon listening", Duration::from_secs(10), || {
            self.log().lines().find_map(|l| l.split("address=").nth(1).map(|a| a.trim().to_string()))
        })
    }
    pub fn signal(&self, sig: &str) {
        assert!(Command::new("kill").args(["-s", sig, &self.child.id().to_string()]).status().unwrap().success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, out.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}
