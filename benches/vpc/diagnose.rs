//! `diagnose`: timing breakdowns behind the VPC figures, and the RSS probe.

use super::*;

// ---- diagnose: timing breakdowns behind the figures ---------------------------------------

/// Where the time goes, without a profiler: the pure steps of a pass against the
/// workload's size (linear or not), and the NB's cost of ovn-vpcd's initial transaction
/// with and without its insert guards (each insert's own derived uuid, or a `wait` where
/// that uuid is taken).
pub(super) fn diagnose(rt: &tokio::runtime::Runtime) -> Result<()> {
    let name = "diag";
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    // Pure steps at 50, 100 and 200 VPCs (best of 3 each): linear steps double, quadratic
    // ones quadruple. `validate_subnets_only` validates the subnets alone (no VPCs: the
    // per-VPC overlap check runs, then every subnet is refused as an orphan).
    for n in [50, 100, 200] {
        let text = Workload::with(n).toml(false);
        let mut best = [f64::MAX; 4];
        let mut rows = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let cfg = Config::parse("vpc.toml", &text)?;
            best[0] = best[0].min(ms(t));
            let t = Instant::now();
            let (model, rejected) = validate(&cfg.vpcs, &cfg.subnets);
            best[1] = best[1].min(ms(t));
            ensure!(rejected.is_empty(), "{n} VPCs: refused {rejected:?}");
            let t = Instant::now();
            let (_, orphans) = validate(&[], &cfg.subnets);
            best[2] = best[2].min(ms(t));
            ensure!(orphans.len() == cfg.subnets.len(), "subnets without VPCs not refused");
            let t = Instant::now();
            rows = desired_rows(&model, &Default::default()).len();
            best[3] = best[3].min(ms(t));
        }
        note(format!("{n} VPCs: {rows} rows"));
        for (k, v) in ["config_parse", "validate", "validate_subnets_only", "desired_rows"].iter().zip(best) {
            figure(name, &format!("vpcs{n}_{k}_ms"), v, "ms");
        }
    }

    let text = Workload::new().toml(false);
    let cfg = Config::parse("vpc.toml", &text)?;
    // The same transaction three ways: as ovn-vpcd sends it; without its insert guards;
    // and also without external_ids (what the ovn-nbctl peer writes).
    for (k, guarded, tagged) in [
        ("txn_as_sent", true, true),
        ("txn_without_guards", false, true),
        ("txn_without_guards_or_external_ids", false, false),
    ] {
        let ovn = start_testbed()?;
        let nb = nb_pid(&ovn);
        let cc = cfg.client_config(Some(ovn.nb_unix()))?;
        let r = rt
            .block_on(async {
                tokio::time::timeout(FIGURE_TIMEOUT, async {
                    let client = Client::connect(cc, Duration::from_secs(30)).await?;
                    let mut changes = client.subscribe_changes();
                    let t = Instant::now();
                    let pass = reconcile::plan(&cfg.vpcs, &cfg.subnets, &client);
                    let mut ops = vec![Op::Comment("ovn-vpcd bench".into())];
                    ops.extend(pass.plan.to_ops()?);
                    if !guarded {
                        ops.retain(|o| !matches!(o, Op::Wait { .. }));
                        for o in &mut ops {
                            if let Op::Insert { uuid, .. } = o {
                                *uuid = None;
                            }
                        }
                    }
                    if !tagged {
                        for o in &mut ops {
                            if let Op::Insert { row, .. } = o {
                                row.remove("external_ids");
                            }
                        }
                    }
                    let plan_ms = ms(t);
                    let t = Instant::now();
                    let bytes = serde_json::to_string(&transact_params("OVN_Northbound", &ops)).expect("encode").len();
                    let encode_ms = ms(t);
                    let rpc = client.rpc().await?;
                    let nb0 = cpu_seconds(&nb, true);
                    let t = Instant::now();
                    let raw = rpc.call_raw("transact", &transact_params("OVN_Northbound", &ops)).await?;
                    let reply_ms = ms(t);
                    ovn_vpcd::ovsdb::ops::parse_results(&ops, raw.get())?;
                    let count = |c: &Client| -> usize {
                        ovn_vpcd::nb::rows::owned_tables().map(|t| c.cache().table(t).map_or(0, |t| t.len())).sum()
                    };
                    while count(&client) < pass.plan.changes.len() {
                        changes.changed().await?;
                    }
                    let cached_ms = ms(t);
                    let nb_cpu = cpu_seconds(&nb, true) - nb0;
                    let t = Instant::now();
                    let again = reconcile::plan(&cfg.vpcs, &cfg.subnets, &client);
                    let replan_ms = ms(t);
                    ensure!(!tagged || again.plan.is_empty(), "not converged after the transaction");
                    anyhow::Ok((
                        plan_ms,
                        encode_ms,
                        reply_ms,
                        cached_ms,
                        replan_ms,
                        nb_cpu,
                        ops.len(),
                        bytes,
                        count(&client),
                    ))
                })
                .await
            })
            .map_err(|_| anyhow::anyhow!("diagnose: no result within {FIGURE_TIMEOUT:?}"))??;
        let (plan_ms, encode_ms, reply_ms, cached_ms, replan_ms, nb_cpu, n_ops, bytes, rows) = r;
        let total: usize = snapshot(&ovn)?.iter().map(|(_, r)| r.len()).sum();
        ensure!(total == rows, "diagnose: ovn-nbctl sees {total} rows, the cache {rows}");
        if guarded {
            // Memory of the daemon's state, in a fresh process: the cache of the converged NB,
            // then one reconcile pass over it.
            let cfg_path = ovn.dir().join("vpc.toml");
            std::fs::write(&cfg_path, &text)?;
            let exe = std::env::current_exe()?;
            for variant in ["all-columns", "required-columns"] {
                let out = Command::new(&exe)
                    .arg("rss-probe")
                    .arg(ovn.nb_unix())
                    .arg(&cfg_path)
                    .arg(variant)
                    .stdin(Stdio::null())
                    .stderr(Stdio::inherit())
                    .output()?;
                ensure!(out.status.success(), "rss-probe failed: {}", out.status);
                print!("{}", String::from_utf8_lossy(&out.stdout));
            }
        }
        note(format!("{k}: {n_ops} operations, {bytes} bytes of JSON, {rows} rows"));
        if guarded {
            figure(name, "apply_plan_and_ops_ms", plan_ms, "ms");
            figure(name, "apply_encode_json_ms", encode_ms, "ms");
            figure(name, "apply_replan_converged_ms", replan_ms, "ms");
        }
        figure(name, &format!("{k}_reply_ms"), reply_ms, "ms");
        figure(name, &format!("{k}_in_cache_ms"), cached_ms, "ms");
        figure(name, &format!("{k}_nb-ovsdb-server_cpu_seconds"), nb_cpu, "s");
        figure(name, &format!("{k}_ops"), n_ops as f64, "count");
    }
    Ok(())
}

/// `rss-probe REMOTE CONFIG [required-columns]` (a fresh process, run by `diagnose`
/// against a converged NB): VmRSS after loading the config, after a client with the
/// daemon's monitor (all columns of its tables) has synced, and after one (no-op)
/// reconcile pass; VmHWM at the end. `required-columns`: the cache alone, monitoring only
/// the columns `src/nb/mod.rs` says the daemon relies on (what a leaner monitor would hold).
pub(super) fn rss_probe(rt: &tokio::runtime::Runtime, remote: &str, config: &Path, required_only: bool) -> Result<()> {
    let name = "diag";
    let me = std::process::id();
    let base = proc_status_mb(me, "VmRSS:")?;
    let cfg = Config::load(config)?;
    let loaded = proc_status_mb(me, "VmRSS:")?;
    let mut cc = cfg.client_config(Some(remote))?;
    if required_only {
        cc.monitor = ovn_vpcd::nb::TABLES.iter().map(|(t, cols)| MonitorSpec::columns(t, cols)).collect();
    }
    let client = rt.block_on(Client::connect(cc, Duration::from_secs(30)))?;
    let synced = proc_status_mb(me, "VmRSS:")?;
    let rows: usize = client.cache().tables().map(|t| t.len()).sum();
    note(format!("rss-probe: {rows} rows cached"));
    if required_only {
        figure(name, "probe_cache_required_columns_rss_delta", synced - loaded, "MB");
        return Ok(());
    }
    let pass = reconcile::plan(&cfg.vpcs, &cfg.subnets, &client);
    ensure!(pass.plan.is_empty(), "rss-probe: NB not converged");
    drop(pass);
    let after = proc_status_mb(me, "VmRSS:")?;
    let hwm = proc_status_mb(me, "VmHWM:")?;
    figure(name, "probe_rss_base", base, "MB");
    figure(name, "probe_rss_config_loaded", loaded, "MB");
    figure(name, "probe_rss_cache_synced", synced, "MB");
    figure(name, "probe_cache_all_columns_rss_delta", synced - loaded, "MB");
    figure(name, "probe_rss_after_one_pass", after, "MB");
    figure(name, "probe_peak_rss", hwm, "MB");
    Ok(())
}
