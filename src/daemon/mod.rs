//! `ovn-vpcd run`: keeps the northbound database converged.
//!
//! One loop owns the configuration and decides when to reconcile: at start,
//! on SIGHUP, when the config file changes, when the NB cache changes (drift,
//! or anyone's commit), on reconnect, after a failure, and every
//! `resync_seconds`. Each pass is [`crate::reconcile::apply`]; a pass that
//! finds nothing to change costs one diff and no transaction.

pub mod http;
pub mod metrics;
pub mod notify;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::time::{sleep_until, Instant};

use crate::config::{Config, ConfigError};
use crate::ovsdb::{Client, ConnState};
use crate::reconcile;
use metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

pub struct RunOptions {
    pub config_path: PathBuf,
    pub db_override: Option<String>,
    /// Overrides `[daemon] listen`.
    pub listen: Option<String>,
}

/// How long to gather a burst of NB updates before one pass.
const DEBOUNCE: Duration = Duration::from_millis(10);
const RETRY: Duration = Duration::from_secs(1);
const CONFIG_POLL: Duration = Duration::from_millis(250);

pub async fn run(opts: RunOptions) -> Result<(), DaemonError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| DaemonError::Io { what, source }
    };
    // First of all, so that an early `systemctl reload` cannot kill us.
    let mut hup = signal(SignalKind::hangup()).map_err(io("SIGHUP handler"))?;
    let mut term = signal(SignalKind::terminate()).map_err(io("SIGTERM handler"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io("SIGINT handler"))?;
    let mut text = std::fs::read_to_string(&opts.config_path)
        .map_err(|e| ConfigError::Read { path: opts.config_path.display().to_string(), reason: e.to_string() })?;
    let mut config = Config::parse(&opts.config_path.display().to_string(), &text)?;
    let client = Client::start(config.client_config(opts.db_override.as_deref())?);
    let metrics = Arc::new(Metrics::default());
    let listen = opts.listen.clone().unwrap_or_else(|| config.daemon.listen.clone());
    if !listen.is_empty() {
        let l = tokio::net::TcpListener::bind(&listen).await.map_err(io(&format!("listen on {listen}")))?;
        tracing::info!(address = %l.local_addr().map_err(io("listen"))?, "serving /healthz /readyz /metrics");
        tokio::spawn(http::serve(l, metrics.clone()));
    }
    let mut changes = client.subscribe_changes();
    let mut state = client.subscribe_state();
    let mut poll = tokio::time::interval(CONFIG_POLL);
    let resync_every = Duration::from_secs(config.daemon.resync_seconds.max(1));
    let mut next_pass = Some(Instant::now());
    let mut last_refusals: BTreeSet<String> = BTreeSet::new();
    let mut notified = false;
    tracing::info!(config = %opts.config_path.display(), vpcs = config.vpcs.len(), subnets = config.subnets.len(), "ovn-vpcd running");
    log_notices(&config);
    loop {
        let synced = matches!(*state.borrow(), ConnState::Synced { .. });
        metrics.nb_connected.store(synced, Ordering::Relaxed);
        if synced && next_pass.is_some_and(|t| t <= Instant::now()) {
            let started = Instant::now();
            let result = reconcile::apply(&config.vpcs, &config.subnets, &client).await;
            metrics.reconcile_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            match result {
                Ok((rejected, n)) => {
                    metrics.reconciles_ok.fetch_add(1, Ordering::Relaxed);
                    metrics.changes_applied.fetch_add(n as u64, Ordering::Relaxed);
                    metrics.refused_objects.store(rejected.len() as u64, Ordering::Relaxed);
                    metrics.converged.store(true, Ordering::Relaxed);
                    let refusals: BTreeSet<String> = rejected.iter().map(ToString::to_string).collect();
                    for r in refusals.difference(&last_refusals) {
                        tracing::error!(refused = %r, "object refused; its NB rows are left as they are");
                    }
                    last_refusals = refusals;
                    if n > 0 {
                        tracing::info!(changes = n, elapsed_ms = started.elapsed().as_millis() as u64, "converged");
                    }
                    next_pass = Some(Instant::now() + resync_every);
                    if !notified {
                        notified = true;
                        match notify::notify("READY=1\nSTATUS=converged") {
                            Ok(true) => tracing::info!("notified systemd: ready"),
                            Ok(false) => {}
                            Err(e) => tracing::warn!(error = %e, "cannot notify systemd"),
                        }
                    }
                }
                Err(e) => {
                    metrics.reconciles_failed.fetch_add(1, Ordering::Relaxed);
                    metrics.converged.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, "reconcile failed; retrying");
                    next_pass = Some(Instant::now() + RETRY);
                }
            }
            count_owned(&client, &metrics);
        }
        let wake = next_pass.unwrap_or_else(|| Instant::now() + resync_every);
        tokio::select! {
            _ = sleep_until(wake), if synced => {}
            r = changes.changed() => {
                if r.is_err() { return Ok(()) }
                tokio::time::sleep(DEBOUNCE).await;
                changes.borrow_and_update();
                next_pass = Some(Instant::now());
            }
            r = state.changed() => {
                if r.is_err() { return Ok(()) }
                let now_synced = matches!(*state.borrow_and_update(), ConnState::Synced { .. });
                if !now_synced {
                    metrics.converged.store(false, Ordering::Relaxed);
                }
                next_pass = Some(Instant::now());
            }
            _ = poll.tick() => {
                if let Some(new) = reload(&opts, &text, false, &metrics) {
                    (text, config) = new;
                    next_pass = Some(Instant::now());
                }
            }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading configuration");
                if let Some(new) = reload(&opts, &text, true, &metrics) {
                    (text, config) = new;
                }
                next_pass = Some(Instant::now());
            }
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); return Ok(()) }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); return Ok(()) }
        }
    }
}

/// Re-reads the config file. A file that fails to load keeps the last good
/// configuration in force.
fn reload(opts: &RunOptions, current: &str, force: bool, metrics: &Metrics) -> Option<(String, Config)> {
    let path = opts.config_path.display().to_string();
    let text = match std::fs::read_to_string(&opts.config_path) {
        Ok(t) => t,
        Err(e) => {
            if force {
                metrics.config_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%path, error = %e, "cannot read configuration; keeping the last good one");
            }
            return None;
        }
    };
    if text == current && !force {
        return None;
    }
    match Config::parse(&path, &text) {
        Ok(c) => {
            tracing::info!(%path, vpcs = c.vpcs.len(), subnets = c.subnets.len(), "configuration loaded");
            log_notices(&c);
            Some((text, c))
        }
        Err(e) => {
            metrics.config_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "invalid configuration; keeping the last good one");
            // Remember the bad text so it is not reported again until it changes.
            Some((text, Config::parse(&path, current).ok()?))
        }
    }
}

fn log_notices(config: &Config) {
    for n in crate::model::validate::validate(&config.vpcs, &config.subnets).0.notices {
        tracing::warn!(notice = %n, "configuration field not realised");
    }
}

fn count_owned(client: &Client, metrics: &Metrics) {
    let cache = client.cache();
    let mut owned = metrics.owned_rows.lock().expect("metrics lock");
    for t in reconcile::diff::TABLES {
        let n = cache
            .table(t)
            .map_or(0, |t| t.by_external_id(reconcile::desired::VENDOR_KEY, reconcile::desired::VENDOR).count());
        owned.insert(t.to_string(), n as u64);
    }
}
