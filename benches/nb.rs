//! Northbound benchmarks of the OVSDB client (harness = false).
//!
//!     cargo bench --bench nb [-- FIGURE]
//!
//! FIGURE is `insert_10k_routes`, `small_txn_1k`, `monitor_100k` or `all` (the
//! default; the three figures).
//!
//! Every figure runs against its own fresh testbed (a real standalone NB
//! ovsdb-server, SB and ovn-northd started by `testbed/ovn.sh`, stopped on drop;
//! `monitor_100k` without northd) over the unix socket, and prints
//! `name key: value unit` lines on stdout. Progress goes to stderr. Testbeds go
//! under `$TMPDIR` (bench.sh points it at its scratch dir to clean up after a kill).
//!
//! `monitor_100k` reports the peak RSS (VmHWM) of the process, so under `all`
//! it runs in a child process of its own, and its 100,000 rows are written by
//! another child (`populate` mode) so that the writer's memory is not counted.
//!
//! Internal modes (used by the above): `populate REMOTE ROWS`.

use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use ovn_vpcd::ovsdb::ops::{parse_results, transact_params};
use ovn_vpcd::ovsdb::{Atom, Client, ClientConfig, MonitorSpec, Op, Remote, Row, Value};
use ovn_vpcd::testbed::Ovn;

const NB: &str = "OVN_Northbound";
const ROUTES: usize = 10_000;
const SMALL_TXNS: usize = 1_000;
const MONITOR_ROWS: usize = 100_000;
const POPULATE_BATCH: usize = 10_000;
/// Bound on each figure's measured part, so a hang fails instead of blocking CI.
const FIGURE_TIMEOUT: Duration = Duration::from_secs(180);

fn main() -> Result<()> {
    // cargo bench passes `--bench`; ignore every `--flag`.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let what = args.first().map(String::as_str).unwrap_or("all");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match what {
        "insert_10k_routes" => insert_10k_routes(&rt),
        "small_txn_1k" => small_txn_1k(&rt),
        "monitor_100k" => monitor_100k(&rt),
        "all" => {
            insert_10k_routes(&rt)?;
            small_txn_1k(&rt)?;
            drop(rt);
            // Its own process: VmHWM must not include the figures above.
            run_self(&["monitor_100k"], true)
        }
        "populate" => {
            let remote = args.get(1).context("populate REMOTE ROWS")?;
            let rows: usize = args.get(2).context("populate REMOTE ROWS")?.parse()?;
            rt.block_on(populate(remote, rows))
        }
        other => bail!("unknown figure {other:?}: expected insert_10k_routes, small_txn_1k, monitor_100k or all"),
    }
}

fn figure(name: &str, key: &str, value: f64, unit: &str) {
    println!("{name} {key}: {value:.3} {unit}");
}

fn config(remote: &str, monitor: Vec<MonitorSpec>) -> Result<ClientConfig> {
    Ok(ClientConfig::new(Remote::parse_list(remote, 6641)?, NB, monitor))
}

/// `NB_BENCH_NORTHD=0`: testbeds without ovn-northd (diagnosis only: shows how much of a
/// figure is northd competing for the CPUs; bench.sh and its peers always run northd).
fn start_testbed(flags: &[&str]) -> Result<Ovn> {
    let t = Instant::now();
    let mut flags = flags.to_vec();
    if std::env::var("NB_BENCH_NORTHD").as_deref() == Ok("0") && !flags.contains(&"--no-northd") {
        flags.push("--no-northd");
    }
    let ovn = Ovn::start_with(&flags).context("starting testbed")?;
    eprintln!("nb bench: testbed {} up in {:.2} s", ovn.dir().display(), t.elapsed().as_secs_f64());
    Ok(ovn)
}

/// Number of rows of `table` as ovn-nbctl sees them.
fn nbctl_count(ovn: &Ovn, table: &str) -> Result<usize> {
    let out = ovn.nbctl(&["--bare", "--columns=_uuid", "list", table])?;
    Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
}

/// utime + stime of a process, in seconds (Linux USER_HZ is 100).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some((f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?) as f64 / 100.0)
}

/// CPU used during a figure by this process, the NB ovsdb-server and ovn-northd:
/// shows which side a figure's time is spent on.
struct CpuMeter {
    pids: Vec<(&'static str, String, f64)>,
}

impl CpuMeter {
    fn start(ovn: &Ovn) -> CpuMeter {
        let pid_of = |f: &str| std::fs::read_to_string(ovn.dir().join(f)).ok().map(|s| s.trim().to_string());
        let mut pids = vec![("ovn-vpcd_cpu_seconds", "self".to_string())];
        pids.extend(pid_of("nb.pid").map(|p| ("nb-ovsdb-server_cpu_seconds", p)));
        pids.extend(pid_of("northd.pid").map(|p| ("northd_cpu_seconds", p)));
        CpuMeter { pids: pids.into_iter().filter_map(|(k, p)| cpu_seconds(&p).map(|c| (k, p, c))).collect() }
    }
    fn stop(self) -> CpuUsed {
        CpuUsed(self.pids.into_iter().filter_map(|(k, p, c0)| cpu_seconds(&p).map(|c1| (k, c1 - c0))).collect())
    }
}

struct CpuUsed(Vec<(&'static str, f64)>);

impl CpuUsed {
    fn report(&self, name: &str) {
        for (key, used) in &self.0 {
            figure(name, key, *used, "s");
        }
    }
}

fn timed<T>(rt: &tokio::runtime::Runtime, what: &str, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    rt.block_on(async { tokio::time::timeout(FIGURE_TIMEOUT, f).await })
        .map_err(|_| anyhow::anyhow!("{what}: no result within {FIGURE_TIMEOUT:?}"))?
}

fn str_col(v: &str) -> Value {
    Value::string(v)
}

// ---- insert_10k_routes -------------------------------------------------------------------

/// One transaction: 10,000 Logical_Router_Static_Route inserts (uuid-named) and one
/// Logical_Router insert whose `static_routes` is the set of those named uuids.
fn route_ops() -> Vec<Op> {
    let mut ops = Vec::with_capacity(ROUTES + 1);
    let mut names = Vec::with_capacity(ROUTES);
    for i in 0..ROUTES {
        let name = format!("rt{i}");
        let row = Row::from([
            ("ip_prefix".to_string(), str_col(&format!("10.{}.{}.0/24", i / 256, i % 256))),
            ("nexthop".to_string(), str_col("192.168.255.1")),
        ]);
        ops.push(Op::Insert {
            table: "Logical_Router_Static_Route".into(),
            row,
            uuid_name: Some(name.clone()),
            uuid: None,
        });
        names.push(Atom::NamedUuid(name));
    }
    let row = Row::from([("name".to_string(), str_col("r0")), ("static_routes".to_string(), Value::set(names))]);
    ops.push(Op::Insert { table: "Logical_Router".into(), row, uuid_name: Some("r0".into()), uuid: None });
    ops
}

fn insert_10k_routes(rt: &tokio::runtime::Runtime) -> Result<()> {
    let name = "insert_10k_routes";
    let ovn = start_testbed(&[])?;
    let cfg = config(
        ovn.nb_unix(),
        vec![MonitorSpec::all("Logical_Router"), MonitorSpec::all("Logical_Router_Static_Route")],
    )?;
    let (reply, cached, cpu) = timed(rt, name, async {
        let client = Client::connect(cfg, Duration::from_secs(10)).await?;
        let mut changes = client.subscribe_changes();
        let rpc = client.rpc().await?;
        // Clock starts before the ops are even built: building and encoding are the client's cost.
        let meter = CpuMeter::start(&ovn);
        let t0 = Instant::now();
        let ops = route_ops();
        let raw = rpc.call_raw("transact", &transact_params(NB, &ops)).await?;
        let results = parse_results(&ops, raw.get())?;
        let reply = t0.elapsed();
        ensure!(results.iter().filter(|r| r.uuid.is_some()).count() == ROUTES + 1, "missing insert uuids");
        let router = results[ROUTES].uuid.context("router uuid")?;
        // Then until the monitor has delivered all of it into the cache.
        loop {
            let done = {
                let c = client.cache();
                let routes = c.table("Logical_Router_Static_Route").map_or(0, |t| t.len());
                let attached =
                    c.row("Logical_Router", router).and_then(|r| r.get("static_routes")).map_or(0, |v| v.atoms().len());
                routes == ROUTES && attached == ROUTES
            };
            if done {
                break;
            }
            changes.changed().await?;
        }
        let cached = t0.elapsed();
        Ok((reply, cached, meter.stop()))
    })?;
    let n = nbctl_count(&ovn, "Logical_Router_Static_Route")?;
    assert_eq!(n, ROUTES, "ovn-nbctl sees {n} static routes, expected {ROUTES}");
    let attached = ovn.nbctl(&["--bare", "--columns=static_routes", "list", "Logical_Router", "r0"])?;
    let attached = attached.split_whitespace().count();
    assert_eq!(attached, ROUTES, "router r0 has {attached} static_routes, expected {ROUTES}");
    figure(name, "ovn-vpcd_seconds", reply.as_secs_f64(), "s");
    figure(name, "ovn-vpcd_cached_seconds", cached.as_secs_f64(), "s");
    cpu.report(name);
    Ok(())
}

// ---- small_txn_1k ------------------------------------------------------------------------

/// 1,000 one-insert transactions spawned at once on one client, all in flight
/// together, pipelined on its one connection. Each `Client::transact` returns once
/// its reply is in and its row is in the cache.
async fn run_small_txns(client: Arc<Client>, ovn: &Ovn) -> Result<(Duration, CpuUsed)> {
    let cpu = CpuMeter::start(ovn);
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..SMALL_TXNS {
        let c = client.clone();
        set.spawn(async move {
            let row = Row::from([("name".to_string(), str_col(&format!("ls{i}")))]);
            c.transact(&[Op::Insert { table: "Logical_Switch".into(), row, uuid_name: None, uuid: None }]).await
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let elapsed = t0.elapsed();
    let cpu = cpu.stop();
    let cached = client.cache().table("Logical_Switch").map_or(0, |t| t.len());
    ensure!(cached == SMALL_TXNS, "cache holds {cached} switches after all replies");
    Ok((elapsed, cpu))
}

fn small_txn_1k(rt: &tokio::runtime::Runtime) -> Result<()> {
    let name = "small_txn_1k";
    let ovn = start_testbed(&[])?;
    let cfg = config(ovn.nb_unix(), vec![MonitorSpec::all("Logical_Switch")])?;
    let (elapsed, cpu) = timed(rt, name, async {
        let client = Arc::new(Client::connect(cfg, Duration::from_secs(10)).await?);
        run_small_txns(client, &ovn).await
    })?;
    let n = nbctl_count(&ovn, "Logical_Switch")?;
    assert_eq!(n, SMALL_TXNS, "ovn-nbctl sees {n} logical switches, expected {SMALL_TXNS}");
    figure(name, "ovn-vpcd_seconds", elapsed.as_secs_f64(), "s");
    cpu.report(name);
    Ok(())
}

// ---- monitor_100k ------------------------------------------------------------------------

/// `populate` mode: inserts ROWS Logical_Switch rows in transactions of 10,000.
async fn populate(remote: &str, rows: usize) -> Result<()> {
    let client = Client::connect(config(remote, vec![])?, Duration::from_secs(10)).await?;
    let mut i = 0;
    while i < rows {
        let n = POPULATE_BATCH.min(rows - i);
        let ops: Vec<Op> = (i..i + n)
            .map(|k| Op::Insert {
                table: "Logical_Switch".into(),
                row: Row::from([("name".to_string(), str_col(&format!("ls{k}")))]),
                uuid_name: None,
                uuid: None,
            })
            .collect();
        client.transact(&ops).await?;
        i += n;
    }
    Ok(())
}

/// Runs this binary again with `args`; `forward`: its stdout is passed through.
fn run_self(args: &[&str], forward: bool) -> Result<()> {
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(args).stdin(std::process::Stdio::null());
    if !forward {
        cmd.stdout(std::process::Stdio::null());
    }
    let status = cmd.status().with_context(|| format!("running {}", exe.display()))?;
    ensure!(status.success(), "{} {:?} failed: {status}", exe.display(), args);
    Ok(())
}

/// A `Vm*:` line of /proc/self/status, in kB.
fn proc_status_kb(key: &str) -> Result<u64> {
    let s = std::fs::read_to_string("/proc/self/status")?;
    let line = s.lines().find(|l| l.starts_with(key)).with_context(|| format!("no {key} in /proc/self/status"))?;
    Ok(line[key.len()..].trim().trim_end_matches("kB").trim().parse()?)
}

fn monitor_100k(rt: &tokio::runtime::Runtime) -> Result<()> {
    let name = "monitor_100k";
    // No northd: 100,000 switches would keep it busy (and growing) for minutes on the
    // same CPUs; this figure is about the client's initial monitor load only.
    let ovn = start_testbed(&["--no-northd"])?;
    let t = Instant::now();
    run_self(&["populate", ovn.nb_unix(), &MONITOR_ROWS.to_string()], false)?;
    eprintln!("nb bench: populated {MONITOR_ROWS} switches in {:.2} s", t.elapsed().as_secs_f64());
    let n = nbctl_count(&ovn, "Logical_Switch")?;
    assert_eq!(n, MONITOR_ROWS, "ovn-nbctl sees {n} logical switches after populate, expected {MONITOR_ROWS}");

    let before_kb = proc_status_kb("VmHWM:")?;
    let cfg = config(ovn.nb_unix(), vec![MonitorSpec::all("Logical_Switch")])?;
    let cpu = CpuMeter::start(&ovn);
    let (elapsed, client) = timed(rt, name, async {
        let t0 = Instant::now();
        let client = Client::connect(cfg, Duration::from_secs(120)).await?;
        let rows = client.cache().table("Logical_Switch").map_or(0, |t| t.len());
        ensure!(rows == MONITOR_ROWS, "cache holds {rows} switches when synced, expected {MONITOR_ROWS}");
        Ok((t0.elapsed(), client))
    })?;
    let cpu = cpu.stop();
    let hwm_kb = proc_status_kb("VmHWM:")?;
    let rss_kb = proc_status_kb("VmRSS:")?;
    drop(client);
    figure(name, "seconds", elapsed.as_secs_f64(), "s");
    figure(name, "peak_rss", hwm_kb as f64 / 1024.0, "MB");
    figure(name, "rss_before_connect", before_kb as f64 / 1024.0, "MB");
    figure(name, "rss_after_sync", rss_kb as f64 / 1024.0, "MB");
    cpu.report(name);
    Ok(())
}
