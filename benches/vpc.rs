//! VPC core benchmarks (harness = false): the `ovn-vpcd` binary against real OVN.
//!
//!     cargo build --release && cargo bench --bench vpc [-- FIGURE]
//!
//! FIGURE is `converge_100vpc [with-per-vpc]`, `daemon` (`daemon_rss` and
//! `one_route_change`, on one running daemon), `reload_rss [in-place]` (RSS across 1,000 reloads of a
//! ~14,600-row config, or 300 rapid in-place edits; `vpc/reload.rs`), `diagnose` (timing and memory breakdowns)
//! or `all` (the default: converge, daemon and diagnose, with the per-VPC peer).
//!
//! The workload is generated: 100 VPCs × 10 subnets (10.0.N.0/24, N = 0..9, the same
//! CIDRs in every VPC) × 20 static routes (next hops inside those subnets) × 5 policies
//! (priorities 100..104, distinct matches, reroute/drop/allow).
//!
//! - `converge_100vpc`: cold start to converged: from spawning `ovn-vpcd apply --config F
//!   --db unix:...` (the release binary) until it exits 0, on an empty NB. The peers,
//!   each on its own fresh NB: ONE `ovn-nbctl` process writing the same rows in one
//!   `--` batch, and (`with-per-vpc`) one `ovn-nbctl` process per VPC. Afterwards every table's rows are
//!   compared between the ovn-vpcd-built and the ovn-nbctl-built NB (counts, and the
//!   columns both write; ids and external_ids are not compared) and the run fails if
//!   they differ. Then, in-process on a fourth NB, the same through the library
//!   (`Client::connect` + `reconcile::apply`), with a breakdown of one pass.
//! - `daemon`: `ovn-vpcd run --config F --db unix:... --listen ""` on an empty NB; once
//!   it has converged, rested and gone idle, its VmRSS (`daemon_rss`). Then 50 times,
//!   each with the daemon idle: rewrite F with one route's next hop changed, SIGHUP the
//!   daemon, and time until a client of our own (monitoring Logical_Router and
//!   Logical_Router_Static_Route) sees the new next hop on that router
//!   (`one_route_change`). The daemon also polls F every 250 ms; SIGHUP makes it act
//!   at once, and `poll_reloads` counts changes the poll saw before the signal.
//! - `diagnose`: the pure steps of a pass at 50/100/200 VPCs; the NB cost of the initial
//!   transaction as sent, without its `wait` guards, and also without external_ids; the
//!   memory of config, cache and one pass in a fresh process (`rss-probe`).
//!
//! Every measurement runs on its own fresh standalone testbed without ovn-northd (both sides
//! of a comparison alike; `VPC_BENCH_NORTHD=1` runs northd too) over the NB unix socket,
//! and prints `name key: value unit` lines on stdout; progress goes to stderr. Testbeds
//! and scratch files go under `$TMPDIR`. The binary is `$OVN_VPCD_BIN`, by default
//! `target/release/ovn-vpcd` of this repository: build it first.
//!
//! Helper modes: `config FILE` writes the generated configuration; `nbctl-script FILE`
//! writes the equivalent `ovn-nbctl` batch as a shell script (`sh FILE NB_REMOTE`);
//! `rss-probe REMOTE CONFIG [required-columns]` is run by `diagnose`.

mod common;
#[path = "vpc/diagnose.rs"]
mod diagnose;
#[path = "vpc/reload.rs"]
mod reload;
#[path = "vpc/workload.rs"]
mod workload;
use common::{binary, percentile};
use diagnose::{diagnose, rss_probe};
use workload::*;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use ovn_vpcd::config::Config;
use ovn_vpcd::model::names::{router_port_name, switch_port_name};
use ovn_vpcd::model::validate::validate;
use ovn_vpcd::nb::rows::stable_mac;
use ovn_vpcd::ovsdb::ops::transact_params;
use ovn_vpcd::ovsdb::{Client, ClientConfig, MonitorSpec, Op, Remote};
use ovn_vpcd::reconcile;
use ovn_vpcd::reconcile::desired::desired_rows;
use ovn_vpcd::reconcile::diff::{diff, Existing};
use ovn_vpcd::testbed::Ovn;

const VPCS: usize = 100;
const SUBNETS: usize = 10;
const ROUTES: usize = 20;
const POLICIES: usize = 5;
const CHANGES: usize = 50;
/// The route `one_route_change` flips: VPC 0's default route, between these next hops.
const FLIP_HOPS: [&str; 2] = ["10.0.0.254", "10.0.0.253"];
/// After each change is seen, the daemon must be idle this long (its CPU time unchanged)
/// before the next SIGHUP: its own commit changes the cache, which triggers one more
/// (no-op) pass, and the next change must not queue behind it.
const IDLE: Duration = Duration::from_millis(200);
/// How long the converged daemon idles before its RSS is read.
const REST: Duration = Duration::from_secs(2);
const FIGURE_TIMEOUT: Duration = Duration::from_secs(120);
/// Tables compared between the two NBs: (table, columns); `#col` compares the size of a
/// reference set (the uuids differ between databases).
const COMPARED: &[(&str, &[&str])] = &[
    ("Logical_Router", &["name", "#ports", "#static_routes", "#policies"]),
    ("Logical_Switch", &["name", "other_config", "#ports"]),
    ("Logical_Router_Port", &["name", "mac", "networks"]),
    ("Logical_Switch_Port", &["name", "type", "addresses", "options"]),
    ("Logical_Router_Static_Route", &["ip_prefix", "nexthop", "policy", "route_table"]),
    ("Logical_Router_Policy", &["priority", "match", "action", "nexthops"]),
    ("DHCP_Options", &["cidr"]),
];

fn main() -> Result<()> {
    // cargo bench passes `--bench`; ignore every `--flag`.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let what = args.first().map(String::as_str).unwrap_or("all");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match what {
        "converge_100vpc" => converge_100vpc(&rt, args.get(1).map(String::as_str) == Some("with-per-vpc")),
        "daemon" => daemon(&rt),
        "reload_rss" => reload::reload_rss(&rt, args.get(1).map(String::as_str) == Some("in-place")),
        "diagnose" => diagnose(&rt),
        "rss-probe" => {
            let remote = args.get(1).context("rss-probe REMOTE CONFIG [required-columns]")?;
            let config = args.get(2).context("rss-probe REMOTE CONFIG [required-columns]")?;
            rss_probe(&rt, remote, Path::new(config), args.get(3).map(String::as_str) == Some("required-columns"))
        }
        "all" => {
            converge_100vpc(&rt, true)?;
            daemon(&rt)?;
            diagnose(&rt)
        }
        "config" => {
            let f = args.get(1).context("config FILE")?;
            Ok(std::fs::write(f, Workload::new().toml(false))?)
        }
        "nbctl-script" => {
            let f = args.get(1).context("nbctl-script FILE")?;
            Ok(std::fs::write(f, Workload::new().nbctl_script())?)
        }
        other => bail!(
            "unknown figure {other:?}: expected converge_100vpc [with-per-vpc], daemon, reload_rss [in-place], diagnose or all"
        ),
    }
}

fn figure(name: &str, key: &str, value: f64, unit: &str) {
    println!("{name} {key}: {value:.3} {unit}");
}

fn note(msg: impl AsRef<str>) {
    eprintln!("vpc bench: {}", msg.as_ref());
}

// ---- testbeds, processes, measurements -----------------------------------------------------

/// `VPC_BENCH_NORTHD=1`: run ovn-northd too (it then competes for the same CPUs).
fn start_testbed() -> Result<Ovn> {
    let t = Instant::now();
    let flags: &[&str] = if std::env::var("VPC_BENCH_NORTHD").as_deref() == Ok("1") { &[] } else { &["--no-northd"] };
    let ovn = Ovn::start_with(flags).context("starting testbed")?;
    note(format!("testbed {} up in {:.2} s ({flags:?})", ovn.dir().display(), t.elapsed().as_secs_f64()));
    Ok(ovn)
}

fn scratch() -> Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new().prefix("vpcb").tempdir()?)
}

/// Fields of /proc/PID/stat after the command name (index 0 = state).
fn stat_fields(pid: &str) -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    Some(after.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect())
}

/// utime + stime (own = true) or cutime + cstime (waited-for children), in seconds.
fn cpu_seconds(pid: &str, own: bool) -> f64 {
    let i = if own { 11 } else { 13 };
    stat_fields(pid).map_or(0.0, |f| (f[i] + f[i + 1]) as f64 / 100.0)
}

fn nb_pid(ovn: &Ovn) -> String {
    std::fs::read_to_string(ovn.dir().join("nb.pid")).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// A `Vm*:` line of /proc/PID/status, in MiB.
fn proc_status_mb(pid: u32, key: &str) -> Result<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = s.lines().find(|l| l.starts_with(key)).with_context(|| format!("no {key} in /proc/{pid}/status"))?;
    Ok(line[key.len()..].trim().trim_end_matches("kB").trim().parse::<f64>()? / 1024.0)
}

/// Runs a child to completion: (wall seconds from spawn to exit, its CPU seconds).
fn timed_child(cmd: &mut Command, what: &str, log: &Path) -> Result<(f64, f64)> {
    let cpu0 = cpu_seconds("self", false);
    let t0 = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .status()
        .with_context(|| format!("spawning {what}"))?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self", false) - cpu0;
    if !status.success() {
        let tail = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(20).collect();
        bail!(
            "{what} failed ({status}); last lines of its stderr:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok((wall, cpu))
}

// ---- verification -------------------------------------------------------------------------

/// One OVSDB value as `ovn-nbctl --format=json` prints it, canonicalised.
fn canon(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::String(s) => s.clone(),
        J::Array(a) if a.len() == 2 && a[0] == "uuid" => a[1].as_str().unwrap_or("").to_string(),
        J::Array(a) if a.len() == 2 && a[0] == "set" => {
            let mut items: Vec<String> = a[1].as_array().into_iter().flatten().map(canon).collect();
            items.sort();
            items.join(" ")
        }
        J::Array(a) if a.len() == 2 && a[0] == "map" => {
            let mut items: Vec<String> = a[1]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_array().map(|p| format!("{}={}", canon(&p[0]), canon(&p[1]))))
                .collect();
            items.sort();
            items.join(" ")
        }
        other => other.to_string(),
    }
}

/// The rows of `table` as sorted lines of the compared columns.
fn table_rows(ovn: &Ovn, table: &str, cols: &[&str]) -> Result<Vec<String>> {
    let names: Vec<&str> = cols.iter().map(|c| c.trim_start_matches('#')).collect();
    let out = ovn.nbctl(&["--format=json", &format!("--columns={}", names.join(",")), "list", table])?;
    let j: serde_json::Value = serde_json::from_str(&out).context("ovn-nbctl --format=json output")?;
    let mut rows: Vec<String> = j["data"]
        .as_array()
        .context("no data in ovn-nbctl json")?
        .iter()
        .map(|r| {
            cols.iter()
                .zip(r.as_array().map(Vec::as_slice).unwrap_or(&[]))
                .map(|(c, v)| {
                    if c.starts_with('#') {
                        let s = canon(v);
                        format!("{}={}", c, s.split_whitespace().count())
                    } else {
                        canon(v)
                    }
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    rows.sort();
    Ok(rows)
}

type Snapshot = Vec<(&'static str, Vec<String>)>;

fn snapshot(ovn: &Ovn) -> Result<Snapshot> {
    COMPARED.iter().map(|(t, cols)| Ok((*t, table_rows(ovn, t, cols)?))).collect()
}

fn counts(s: &Snapshot) -> String {
    s.iter().map(|(t, r)| format!("{t}={}", r.len())).collect::<Vec<_>>().join(" ")
}

/// Fails unless `got` holds the same rows, table by table, as `want`.
fn same_rows(want: &Snapshot, got: &Snapshot, what: &str) -> Result<()> {
    for ((t, a), (_, b)) in want.iter().zip(got) {
        ensure!(a.len() == b.len(), "{what}: {t} has {} rows, ovn-vpcd's NB {}", b.len(), a.len());
        if let Some((x, y)) = a.iter().zip(b).find(|(x, y)| x != y) {
            bail!("{what}: {t} differs from ovn-vpcd's NB: first difference {y:?} vs {x:?}");
        }
    }
    Ok(())
}

// ---- converge_100vpc ---------------------------------------------------------------------

fn converge_100vpc(rt: &tokio::runtime::Runtime, per_vpc: bool) -> Result<()> {
    let name = "converge_100vpc";
    let bin = binary()?;
    let work = Workload::new();
    let dir = scratch()?;
    let config = dir.path().join("vpc.toml");
    let text = work.toml(false);
    std::fs::write(&config, &text)?;
    let parsed = Config::parse("vpc.toml", &text)?;
    let (model, rejected) = validate(&parsed.vpcs, &parsed.subnets);
    ensure!(rejected.is_empty(), "generated config refused: {rejected:?}");
    let n_rows = desired_rows(&model, &Default::default()).len();
    note(format!(
        "workload: {} VPCs, {} subnets, {n_rows} NB rows, {} bytes of TOML",
        model.vpcs.len(),
        model.subnets.len(),
        text.len()
    ));

    // ovn-vpcd: the release binary, cold: process start, connect, monitor, plan, commit.
    let (vpcd_s, vpcd_cpu, nb_cpu, reference) = {
        let ovn = start_testbed()?;
        let nb0 = cpu_seconds(&nb_pid(&ovn), true);
        let mut cmd = Command::new(&bin);
        cmd.args(["apply", "--config"]).arg(&config).args(["--db", ovn.nb_unix()]);
        let (s, cpu) = timed_child(&mut cmd, "ovn-vpcd apply", &dir.path().join("apply.log"))?;
        let nb = cpu_seconds(&nb_pid(&ovn), true) - nb0;
        let snap = snapshot(&ovn)?;
        let total: usize = snap.iter().map(|(_, r)| r.len()).sum();
        ensure!(total == n_rows, "ovn-vpcd apply: ovn-nbctl sees {total} rows ({}), expected {n_rows}", counts(&snap));
        // Converged: a fresh `plan` finds nothing to change (exit 0).
        let mut cmd = Command::new(&bin);
        cmd.args(["plan", "--config"]).arg(&config).args(["--db", ovn.nb_unix()]);
        timed_child(&mut cmd, "ovn-vpcd plan after apply", &dir.path().join("plan.log"))?;
        note(format!("ovn-vpcd apply: {s:.3} s; rows {}", counts(&snap)));
        (s, cpu, nb, snap)
    };
    figure(name, "ovn-vpcd_seconds", vpcd_s, "s");
    figure(name, "ovn-vpcd_cpu_seconds", vpcd_cpu, "s");
    figure(name, "ovn-vpcd_nb-ovsdb-server_cpu_seconds", nb_cpu, "s");

    // The ovn-nbctl peer: one process, one `--` batch, one transaction.
    {
        let ovn = start_testbed()?;
        let nb0 = cpu_seconds(&nb_pid(&ovn), true);
        let args = Workload::nbctl_args(ovn.nb_unix(), &work.vpcs);
        let mut cmd = Command::new("ovn-nbctl");
        cmd.args(&args);
        let (s, cpu) = timed_child(&mut cmd, "ovn-nbctl batch", &dir.path().join("nbctl.log"))?;
        let nb = cpu_seconds(&nb_pid(&ovn), true) - nb0;
        same_rows(&reference, &snapshot(&ovn)?, "ovn-nbctl batch")?;
        note(format!("ovn-nbctl batch: {s:.3} s, {} arguments; same rows as ovn-vpcd's", args.len()));
        figure(name, "ovn-nbctl_seconds", s, "s");
        figure(name, "ovn-nbctl_cpu_seconds", cpu, "s");
        figure(name, "ovn-nbctl_nb-ovsdb-server_cpu_seconds", nb, "s");
    }

    // One ovn-nbctl process per VPC (each its own `--` batch), one after the other.
    if per_vpc {
        let ovn = start_testbed()?;
        let log = dir.path().join("nbctl-vpc.log");
        let (mut s, mut cpu) = (0.0, 0.0);
        for v in &work.vpcs {
            let mut cmd = Command::new("ovn-nbctl");
            cmd.args(Workload::nbctl_args(ovn.nb_unix(), [v]));
            let (w, c) = timed_child(&mut cmd, &format!("ovn-nbctl for {}", v.name), &log)?;
            s += w;
            cpu += c;
        }
        same_rows(&reference, &snapshot(&ovn)?, "ovn-nbctl per VPC")?;
        note(format!("ovn-nbctl per VPC: {s:.3} s; same rows as ovn-vpcd's"));
        figure(name, "ovn-nbctl_per_vpc_seconds", s, "s");
        figure(name, "ovn-nbctl_per_vpc_cpu_seconds", cpu, "s");
    }

    // In process, through the library: where the binary's time goes.
    {
        let ovn = start_testbed()?;
        let nb = ovn.nb_unix().to_string();
        let t = Instant::now();
        let cfg = Config::load(&config)?;
        let parse = t.elapsed();
        let cc = cfg.client_config(Some(&nb))?;
        let r = rt
            .block_on(async {
                tokio::time::timeout(FIGURE_TIMEOUT, async {
                    let t = Instant::now();
                    let client = Client::connect(cc, Duration::from_secs(30)).await?;
                    let connect = t.elapsed();
                    let t = Instant::now();
                    let pass = reconcile::plan(&cfg.vpcs, &cfg.subnets, &client);
                    let plan = (t.elapsed(), pass.plan.changes.len());
                    let t = Instant::now();
                    let (model, rejected) = validate(&cfg.vpcs, &cfg.subnets);
                    let applied =
                        reconcile::apply(&model, &Default::default(), &rejected, &client, &reconcile::Scope::All)
                            .await?;
                    let (rejected, changes) = (applied.rejected, applied.changes);
                    let apply = t.elapsed();
                    ensure!(rejected.is_empty() && changes == n_rows, "apply: {changes} changes, refused {rejected:?}");
                    let breakdown = pass_breakdown(&cfg, &client);
                    anyhow::Ok((connect, plan, apply, breakdown))
                })
                .await
            })
            .map_err(|_| anyhow::anyhow!("{name} in process: no result within {FIGURE_TIMEOUT:?}"))??;
        let (connect, (plan, plan_changes), apply, breakdown) = r;
        ensure!(plan_changes == n_rows, "plan on an empty NB has {plan_changes} changes, expected {n_rows}");
        same_rows(&reference, &snapshot(&ovn)?, "in-process apply")?;
        figure(name, "in_process_config_load_seconds", parse.as_secs_f64(), "s");
        figure(name, "in_process_connect_seconds", connect.as_secs_f64(), "s");
        figure(name, "in_process_plan_seconds", plan.as_secs_f64(), "s");
        figure(name, "in_process_apply_seconds", apply.as_secs_f64(), "s");
        for (k, v) in breakdown {
            figure("converged_pass", k, v, "ms");
        }
    }
    Ok(())
}

/// One reconcile pass over the converged NB, step by step (what every daemon pass costs
/// before its transaction): validate, desired rows, the cache snapshot, the diff.
fn pass_breakdown(cfg: &Config, client: &Client) -> Vec<(&'static str, f64)> {
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let (model, _) = validate(&cfg.vpcs, &cfg.subnets);
    let validate_ms = ms(t);
    let t = Instant::now();
    let desired = desired_rows(&model, &Default::default());
    let desired_ms = ms(t);
    let cache = client.cache();
    let t = Instant::now();
    let existing = Existing::new(&cache, &reconcile::Scope::All);
    let existing_ms = ms(t);
    let t = Instant::now();
    let plan = diff(desired, &existing, &Default::default());
    let diff_ms = ms(t);
    drop(existing);
    drop(cache);
    let t = Instant::now();
    let pass = reconcile::plan(&cfg.vpcs, &cfg.subnets, client);
    let plan_ms = ms(t);
    assert!(plan.is_empty() && pass.plan.is_empty(), "not converged after apply");
    vec![
        ("validate_ms", validate_ms),
        ("desired_rows_ms", desired_ms),
        ("existing_from_cache_ms", existing_ms),
        ("diff_ms", diff_ms),
        ("plan_total_ms", plan_ms),
    ]
}

// ---- daemon: daemon_rss and one_route_change ----------------------------------------------

/// `ovn-vpcd run`, stopped (TERM, then KILL) when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(bin: &Path, config: &Path, nb: &str, log: PathBuf) -> Result<Daemon> {
        let child = Command::new(bin)
            .args(["run", "--config"])
            .arg(config)
            .args(["--db", nb, "--listen", ""])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("spawning ovn-vpcd run")?;
        Ok(Daemon { child, log })
    }
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    fn signal(&self, sig: &str) -> Result<()> {
        let st = Command::new("kill").args(["-s", sig, &self.pid().to_string()]).status()?;
        ensure!(st.success(), "kill -s {sig} {} failed", self.pid());
        Ok(())
    }
    /// SIGTERM; true if it exited 0 within 5 s.
    fn stop(&mut self) -> bool {
        if !self.alive() || self.signal("TERM").is_err() {
            return false;
        }
        for _ in 0..100 {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.alive() && !self.stop() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Next hops of the routes on router `router` whose prefix is `prefix`, as our cache has them.
fn hops_of(client: &Client, router: &str, prefix: &str) -> Vec<String> {
    let c = client.cache();
    let Some(lr) = c.table("Logical_Router").and_then(|t| t.iter().find(|r| r.get_str("name") == Some(router))) else {
        return vec![];
    };
    let routes = lr.get("static_routes").map(|v| v.atoms()).unwrap_or(&[]);
    let mut hops: Vec<String> = routes
        .iter()
        .filter_map(|a| a.as_uuid())
        .filter_map(|u| c.row("Logical_Router_Static_Route", u))
        .filter(|r| r.get_str("ip_prefix") == Some(prefix))
        .filter_map(|r| r.get_str("nexthop").map(str::to_string))
        .collect();
    hops.sort();
    hops
}

/// Waits until `cond` holds on our cache (checked now and after every update).
async fn wait_cache(client: &Client, limit: Duration, what: &str, cond: impl Fn(&Client) -> bool) -> Result<()> {
    let mut changes = client.subscribe_changes();
    tokio::time::timeout(limit, async {
        loop {
            changes.borrow_and_update();
            if cond(client) {
                return Ok(());
            }
            changes.changed().await?;
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("timed out after {limit:?} waiting for {what}"))?
}

/// Waits until process `pid` has used no CPU for [`IDLE`] (ticks are 10 ms).
fn wait_idle(pid: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let step = Duration::from_millis(25);
    let (mut last, mut since) = (cpu_seconds(pid, true), Instant::now());
    loop {
        std::thread::sleep(step);
        let now = cpu_seconds(pid, true);
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= IDLE {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "process {pid} still busy after 10 s");
    }
}

/// Writes the config atomically (a whole file or none: the daemon also polls it).
/// A fresh testbed and a client of ours watching its routers' routes (to
/// see when the daemon's change is in the NB).
fn testbed_with_route_client(rt: &tokio::runtime::Runtime) -> Result<(Ovn, Client)> {
    let ovn = start_testbed()?;
    let mut cc = ClientConfig::new(
        Remote::parse_list(ovn.nb_unix(), 6641)?,
        "OVN_Northbound",
        vec![
            MonitorSpec::columns("Logical_Router", &["name", "static_routes"]),
            MonitorSpec::columns("Logical_Router_Static_Route", &["ip_prefix", "nexthop"]),
        ],
    );
    cc.probe_interval = None;
    let client = rt.block_on(Client::connect(cc, Duration::from_secs(10)))?;
    Ok((ovn, client))
}

fn write_config(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn daemon(rt: &tokio::runtime::Runtime) -> Result<()> {
    let bin = binary()?;
    let work = Workload::new();
    let dir = scratch()?;
    let config = dir.path().join("vpc.toml");
    let texts = [work.toml(false), work.toml(true)];
    write_config(&config, &texts[0])?;
    let expected_routes = VPCS * ROUTES;
    let router = work.vpcs[0].name.clone();

    let (ovn, client) = testbed_with_route_client(rt)?;

    let t0 = Instant::now();
    let mut d = Daemon::start(&bin, &config, ovn.nb_unix(), dir.path().join("daemon.log"))?;
    rt.block_on(wait_cache(&client, Duration::from_secs(60), "the daemon's first convergence", |c| {
        c.cache().table("Logical_Router_Static_Route").map_or(0, |t| t.len()) == expected_routes
    }))?;
    let start_s = t0.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !d.log().contains("converged") {
        ensure!(d.alive(), "ovn-vpcd run exited:\n{}", d.log());
        ensure!(Instant::now() < deadline, "ovn-vpcd run never logged `converged`:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    note(format!("daemon converged {start_s:.3} s after spawn; resting {REST:?}"));
    std::thread::sleep(REST);
    wait_idle(&d.pid().to_string())?;
    ensure!(d.alive(), "ovn-vpcd run exited:\n{}", d.log());
    let rss = proc_status_mb(d.pid(), "VmRSS:")?;
    let hwm = proc_status_mb(d.pid(), "VmHWM:")?;
    figure("daemon_rss", "rss", rss, "MB");
    figure("daemon_rss", "peak_rss", hwm, "MB");
    figure("daemon_rss", "start_to_converged_seconds", start_s, "s");

    // one_route_change: flip VPC 0's default route, 50 times.
    let pid = d.pid().to_string();
    let (cpu0, nb0) = (cpu_seconds(&pid, true), cpu_seconds(&nb_pid(&ovn), true));
    let mut samples = Vec::with_capacity(CHANGES);
    let mut send = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let (old, new) = if i % 2 == 0 { (FLIP_HOPS[0], FLIP_HOPS[1]) } else { (FLIP_HOPS[1], FLIP_HOPS[0]) };
        ensure!(
            hops_of(&client, &router, "0.0.0.0/0") == [old],
            "before change {i}: {router} default route is not via {old}"
        );
        write_config(&config, &texts[(i + 1) % 2])?;
        let (elapsed, sent) = rt.block_on(async {
            let t0 = Instant::now();
            d.signal("HUP")?;
            let sent = t0.elapsed();
            wait_cache(&client, Duration::from_secs(10), "the changed route", |c| {
                hops_of(c, &router, "0.0.0.0/0") == [new]
            })
            .await?;
            anyhow::Ok((t0.elapsed(), sent))
        })?;
        samples.push(elapsed.as_secs_f64() * 1e3);
        send.push(sent.as_secs_f64() * 1e3);
        wait_idle(&pid)?;
    }
    let (cpu, nb) = (cpu_seconds(&pid, true) - cpu0, cpu_seconds(&nb_pid(&ovn), true) - nb0);
    ensure!(d.alive(), "ovn-vpcd run exited during the changes:\n{}", d.log());
    let rss_after = proc_status_mb(d.pid(), "VmRSS:")?;
    let hwm_after = proc_status_mb(d.pid(), "VmHWM:")?;

    // What the daemon saw: one SIGHUP per change; reloads the 250 ms file poll made first.
    let log = d.log();
    let sighups = log.lines().filter(|l| l.contains("SIGHUP")).count();
    let mut poll_reloads = 0;
    let mut after_hup = false;
    for l in log.lines() {
        if l.contains("SIGHUP") {
            after_hup = true;
        } else if l.contains("configuration loaded") {
            if !after_hup {
                poll_reloads += 1;
            }
            after_hup = false;
        }
    }
    let problems = log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).count();
    note(format!(
        "one_route_change samples (ms, in order): {}",
        samples.iter().map(|s| format!("{s:.1}")).collect::<Vec<_>>().join(" ")
    ));
    if std::env::var_os("VPC_BENCH_SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    ensure!(sighups == CHANGES, "daemon logged {sighups} SIGHUPs, expected {CHANGES}");
    ensure!(d.stop(), "ovn-vpcd run did not exit 0 on SIGTERM:\n{}", d.log());
    let n = ovn.nbctl(&["--bare", "--columns=_uuid", "list", "Logical_Router_Static_Route"])?;
    let n = n.lines().filter(|l| !l.trim().is_empty()).count();
    ensure!(n == expected_routes, "ovn-nbctl sees {n} static routes after the changes, expected {expected_routes}");
    let last = ovn.nbctl(&["lr-route-list", &router])?;
    let want = FLIP_HOPS[CHANGES % 2];
    ensure!(
        last.lines().any(|l| l.contains("0.0.0.0/0") && l.contains(want)),
        "ovn-nbctl lr-route-list {router} does not show 0.0.0.0/0 via {want}:\n{last}"
    );

    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    send.sort_by(f64::total_cmp);
    let name = "one_route_change";
    figure(name, "p50_ms", percentile(&sorted, 50.0), "ms");
    figure(name, "p99_ms", percentile(&sorted, 99.0), "ms");
    figure(name, "min_ms", sorted[0], "ms");
    figure(name, "max_ms", sorted[sorted.len() - 1], "ms");
    figure(name, "mean_ms", sorted.iter().sum::<f64>() / sorted.len() as f64, "ms");
    figure(name, "sighup_send_p50_ms", percentile(&send, 50.0), "ms");
    figure(name, "daemon_cpu_ms_per_change", cpu * 1e3 / CHANGES as f64, "ms");
    figure(name, "nb-ovsdb-server_cpu_ms_per_change", nb * 1e3 / CHANGES as f64, "ms");
    figure(name, "poll_reloads", poll_reloads as f64, "count");
    figure(name, "daemon_warnings", problems as f64, "count");
    figure("daemon_rss", "rss_after_changes", rss_after, "MB");
    figure("daemon_rss", "peak_rss_after_changes", hwm_after, "MB");
    Ok(())
}
