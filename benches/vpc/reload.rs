//! `reload_rss`: the daemon's memory across config reloads.
//!
//! `ovn-vpcd run` on a generated config of ~14,600 owned NB rows (221 VPCs of the VPC
//! workload: 66 rows each), converged from an empty NB, rested and idle: `VmRSS`
//! (`rss_after_start`). Then 1,000 reloads, each a rewrite of the file (atomically) with
//! VPC 0's default route flipped and a SIGHUP, waiting until our own client sees the new
//! next hop; rested and idle again: `VmRSS` (`rss_after_reloads`), and their ratio (target:
//! at most 1.10). The RSS every 100 reloads goes to stderr.
//!
//! `reload_rss in-place`: instead, 300 rapid edits as an editor or script makes them, with no
//! signal: each opens the file with truncate, writes the first half (up to a `[[vpc]]` table near the
//! middle: valid TOML with fewer tenants), waits 10 ms, writes the
//! rest and closes; the next follows 100 ms later. The daemon sees them through its 250 ms
//! file poll. Afterwards the last edit must be in the NB, with every router's uuid unchanged
//! (`replaced_routers`: a reload that acted on a half-written file replaces them).

use super::*;

const RELOAD_VPCS: usize = 221;
const RELOADS: usize = 1000;

const IN_PLACE_EDITS: usize = 300;

/// One edit in place: truncate, half, 10 ms, the rest.
fn rewrite_in_place(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(path)?;
    // Cut at a table near the middle: the first half alone is valid TOML with fewer tenants.
    let cut = text[..text.len() / 2].rfind("\n[[vpc]]").unwrap_or(text.len() / 2);
    let (a, b) = text.as_bytes().split_at(cut);
    f.write_all(a)?;
    f.flush()?;
    std::thread::sleep(Duration::from_millis(10));
    f.write_all(b)?;
    Ok(())
}

/// name → uuid of every router, as our cache has them.
fn router_uuids(client: &Client) -> std::collections::BTreeMap<String, String> {
    let c = client.cache();
    let Some(t) = c.table("Logical_Router") else { return Default::default() };
    t.iter().filter_map(|r| Some((r.get_str("name")?.to_string(), r.uuid.to_string()))).collect()
}

pub(super) fn reload_rss(rt: &tokio::runtime::Runtime, in_place: bool) -> Result<()> {
    let bin = binary()?;
    let work = Workload::with(RELOAD_VPCS);
    let dir = scratch()?;
    let config = dir.path().join("vpc.toml");
    let texts = [work.toml(false), work.toml(true)];
    write_config(&config, &texts[0])?;
    // Per VPC: its router, per subnet a switch, two ports and the 31000 allow policy; routes; policies.
    let rows = RELOAD_VPCS * (1 + 4 * SUBNETS + ROUTES + POLICIES);
    let expected_routes = RELOAD_VPCS * ROUTES;
    let router = work.vpcs[0].name.clone();
    note(format!("reload_rss: {RELOAD_VPCS} VPCs, {rows} NB rows, {} KB of TOML", texts[0].len() / 1024));

    let (ovn, client) = super::testbed_with_route_client(rt)?;
    let mut d = Daemon::start(&bin, &config, ovn.nb_unix(), dir.path().join("daemon.log"))?;
    rt.block_on(wait_cache(&client, Duration::from_secs(120), "the daemon's first convergence", |c| {
        c.cache().table("Logical_Router_Static_Route").map_or(0, |t| t.len()) == expected_routes
    }))?;
    std::thread::sleep(REST);
    let pid = d.pid().to_string();
    wait_idle(&pid)?;
    ensure!(d.alive(), "ovn-vpcd run exited:\n{}", d.log());
    let start = proc_status_mb(d.pid(), "VmRSS:")?;
    note(format!("converged and idle: VmRSS {start:.1} MB"));

    let routers = router_uuids(&client);
    let edits = if in_place { IN_PLACE_EDITS } else { RELOADS };
    let t0 = Instant::now();
    for i in (0..edits).filter(|_| in_place) {
        rewrite_in_place(&config, &texts[(i + 1) % 2])?;
        std::thread::sleep(Duration::from_millis(100));
        if (i + 1) % 100 == 0 {
            note(format!("after {} edits: VmRSS {:.1} MB", i + 1, proc_status_mb(d.pid(), "VmRSS:")?));
        }
    }
    if in_place {
        let last = FLIP_HOPS[edits % 2];
        rt.block_on(wait_cache(&client, Duration::from_secs(30), "the last edit", |c| {
            hops_of(c, &router, "0.0.0.0/0") == [last]
                && c.cache().table("Logical_Router_Static_Route").map_or(0, |t| t.len()) == expected_routes
        }))?;
    }
    for i in (0..edits).filter(|_| !in_place) {
        let new = if i % 2 == 0 { FLIP_HOPS[1] } else { FLIP_HOPS[0] };
        write_config(&config, &texts[(i + 1) % 2])?;
        d.signal("HUP")?;
        rt.block_on(wait_cache(&client, Duration::from_secs(10), "the changed route", |c| {
            hops_of(c, &router, "0.0.0.0/0") == [new]
        }))?;
        if (i + 1) % 100 == 0 {
            ensure!(d.alive(), "ovn-vpcd run exited during the reloads:\n{}", d.log());
            note(format!("after {} reloads: VmRSS {:.1} MB", i + 1, proc_status_mb(d.pid(), "VmRSS:")?));
        }
    }
    let reloads_s = t0.elapsed().as_secs_f64();
    std::thread::sleep(REST);
    wait_idle(&pid)?;
    let after = proc_status_mb(d.pid(), "VmRSS:")?;
    let hwm = proc_status_mb(d.pid(), "VmHWM:")?;
    let log = d.log();
    // Signals sent while the daemon is still busy with the last one coalesce, and its file
    // poll may load a change first: every change was seen in the NB, so count loads.
    let loads = log.matches("configuration loaded").count();
    ensure!(in_place || loads >= RELOADS, "daemon logged {loads} loads, expected at least {RELOADS}");
    let now = router_uuids(&client);
    let replaced = routers.iter().filter(|(name, uuid)| now.get(*name) != Some(*uuid)).count();
    let problems = log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).count();
    ensure!(d.stop(), "ovn-vpcd run did not exit 0 on SIGTERM:\n{}", d.log());
    let name = if in_place { "reload_rss_in_place" } else { "reload_rss" };
    let n = ovn.nbctl(&["--bare", "--columns=_uuid", "list", "Logical_Router_Static_Route"])?;
    let n = n.lines().filter(|l| !l.trim().is_empty()).count();
    ensure!(n == expected_routes, "ovn-nbctl sees {n} static routes after the reloads, expected {expected_routes}");

    figure(name, "nb_rows", rows as f64, "rows");
    figure(name, "rss_after_start", start, "MB");
    figure(name, "rss_after_reloads", after, "MB");
    figure(name, "peak_rss", hwm, "MB");
    figure(name, "ratio", after / start, "x");
    figure(name, "edits", edits as f64, "count");
    figure(name, "ms_per_edit", reloads_s * 1e3 / edits as f64, "ms");
    figure(name, "replaced_routers", replaced as f64, "count");
    figure(name, "loads", loads as f64, "count");
    figure(name, "daemon_warnings", problems as f64, "count");
    Ok(())
}
