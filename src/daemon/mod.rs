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
use crate::model::validate::{validate, Model, Rejection};
use crate::ovsdb::{Client, ConnState};
use crate::reconcile::{self, Scope};
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

/// The validated form of one configuration text.
struct Loaded {
    text: String,
    config: Config,
    model: Arc<Model>,
    rejected: Vec<Rejection>,
}

impl Loaded {
    fn new(path: &str, text: String) -> Result<Loaded, ConfigError> {
        let config = Config::parse(path, &text)?;
        let (model, rejected) = validate(&config.vpcs, &config.subnets);
        for n in &model.notices {
            tracing::warn!(notice = %n, "configuration field not realised");
        }
        Ok(Loaded { text, config, model: Arc::new(model), rejected })
    }
}

/// What the next pass must cover: `None` = no pass is due.
fn widen(pending: Option<Scope>, more: Scope) -> Option<Scope> {
    Some(match (pending, more) {
        (Some(Scope::Owners(mut a)), Scope::Owners(b)) => {
            a.extend(b);
            Scope::Owners(a)
        }
        (None, s) => s,
        _ => Scope::All,
    })
}

pub async fn run(opts: RunOptions) -> Result<(), DaemonError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| DaemonError::Io { what, source }
    };
    // First of all, so that an early `systemctl reload` cannot kill us.
    let mut hup = signal(SignalKind::hangup()).map_err(io("SIGHUP handler"))?;
    let mut term = signal(SignalKind::terminate()).map_err(io("SIGTERM handler"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io("SIGINT handler"))?;
    let path = opts.config_path.display().to_string();
    let text = std::fs::read_to_string(&opts.config_path)
        .map_err(|e| ConfigError::Read { path: path.clone(), reason: e.to_string() })?;
    let mut loaded = Loaded::new(&path, text)?;
    let client = Client::start(loaded.config.client_config(opts.db_override.as_deref())?);
    let metrics = Arc::new(Metrics::default());
    let listen = opts.listen.clone().unwrap_or_else(|| loaded.config.daemon.listen.clone());
    if !listen.is_empty() {
        let l = tokio::net::TcpListener::bind(&listen).await.map_err(io(&format!("listen on {listen}")))?;
        tracing::info!(address = %l.local_addr().map_err(io("listen"))?, "serving /healthz /readyz /metrics");
        tokio::spawn(http::serve(l, metrics.clone()));
    }
    let mut changes = client.subscribe_changes();
    let mut state = client.subscribe_state();
    let mut poll = tokio::time::interval(CONFIG_POLL);
    let resync_every = Duration::from_secs(loaded.config.daemon.resync_seconds.max(1));
    let mut next_pass = Some(Instant::now());
    let mut pending = Some(Scope::All);
    // The model of the last successful pass, and the cache generation at
    // which every owned row was known to be converged.
    let mut applied_model: Option<Arc<Model>> = None;
    let mut accounted: Option<u64> = None;
    let mut last_refusals: BTreeSet<String> = BTreeSet::new();
    let mut notified = false;
    tracing::info!(config = %path, vpcs = loaded.config.vpcs.len(), subnets = loaded.config.subnets.len(), "ovn-vpcd running");
    loop {
        let synced = matches!(*state.borrow(), ConnState::Synced { .. });
        metrics.nb_connected.store(synced, Ordering::Relaxed);
        if synced && next_pass.is_some_and(|t| t <= Instant::now()) {
            let scope = pending.take().unwrap_or(Scope::All);
            let started = Instant::now();
            let result = reconcile::apply(&loaded.model, &loaded.rejected, &client, &scope).await;
            metrics.reconcile_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            match result {
                Ok(applied) => {
                    metrics.reconciles_ok.fetch_add(1, Ordering::Relaxed);
                    metrics.changes_applied.fetch_add(applied.changes as u64, Ordering::Relaxed);
                    metrics.refused_objects.store(applied.rejected.len() as u64, Ordering::Relaxed);
                    metrics.converged.store(true, Ordering::Relaxed);
                    let refusals: BTreeSet<String> = applied.rejected.iter().map(ToString::to_string).collect();
                    for r in refusals.difference(&last_refusals) {
                        tracing::error!(refused = %r, "object refused; its NB rows are left as they are");
                    }
                    last_refusals = refusals;
                    if applied.changes > 0 {
                        let elapsed_ms = started.elapsed().as_millis() as u64;
                        tracing::info!(changes = applied.changes, elapsed_ms, ?scope, "converged");
                    }
                    applied_model = Some(loaded.model.clone());
                    accounted = match (applied.own_updates, &scope) {
                        (Some((_, to)), Scope::All) => Some(to),
                        (Some((from, to)), Scope::Owners(_)) if accounted == Some(from) => Some(to),
                        _ => accounted,
                    };
                    next_pass = Some(Instant::now() + resync_every);
                    pending = None;
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
                    accounted = None;
                    pending = Some(Scope::All);
                    next_pass = Some(Instant::now() + RETRY);
                }
            }
            count_owned(&client, &metrics);
        }
        let wake = next_pass.unwrap_or_else(|| Instant::now() + resync_every);
        // A reload re-derives only the objects whose validated spec changed,
        // when the last pass left everything converged.
        let reloaded = |new: Loaded, pending: Option<Scope>, applied: &Option<Arc<Model>>| match applied {
            Some(old) => {
                let changed = reconcile::changed_owners(old, &new.model);
                (new, if changed.is_empty() { pending } else { widen(pending, Scope::Owners(changed)) })
            }
            None => (new, widen(pending, Scope::All)),
        };
        tokio::select! {
            _ = sleep_until(wake), if synced => {
                pending = widen(pending.take(), Scope::All);
            }
            r = changes.changed() => {
                if r.is_err() { return Ok(()) }
                let generation = *changes.borrow_and_update();
                if accounted != Some(generation) {
                    // Drift, or anyone's commit: check everything.
                    pending = widen(pending.take(), Scope::All);
                    next_pass = Some(Instant::now() + DEBOUNCE);
                }
            }
            r = state.changed() => {
                if r.is_err() { return Ok(()) }
                let now_synced = matches!(*state.borrow_and_update(), ConnState::Synced { .. });
                if !now_synced {
                    metrics.converged.store(false, Ordering::Relaxed);
                }
                accounted = None;
                pending = widen(pending.take(), Scope::All);
                next_pass = Some(Instant::now());
            }
            _ = poll.tick() => {
                if let Some(new) = reload(&opts, &mut loaded.text, false, &metrics) {
                    (loaded, pending) = reloaded(new, pending.take(), &applied_model);
                    if pending.is_some() {
                        next_pass = Some(Instant::now());
                    }
                }
            }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading configuration");
                match reload(&opts, &mut loaded.text, true, &metrics) {
                    Some(new) => (loaded, pending) = reloaded(new, pending.take(), &applied_model),
                    None => pending = widen(pending.take(), Scope::All),
                }
                // Nothing changed: a SIGHUP still checks everything.
                if pending.is_none() {
                    pending = Some(Scope::All);
                }
                next_pass = Some(Instant::now());
            }
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); return Ok(()) }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); return Ok(()) }
        }
    }
}

/// Re-reads the config file. A file that fails to load keeps the last good
/// configuration in force (`None`); so does an unchanged file unless `force`.
fn reload(opts: &RunOptions, current: &mut String, force: bool, metrics: &Metrics) -> Option<Loaded> {
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
    if text == *current && !force {
        return None;
    }
    match Loaded::new(&path, text.clone()) {
        Ok(l) => {
            tracing::info!(%path, vpcs = l.config.vpcs.len(), subnets = l.config.subnets.len(), "configuration loaded");
            Some(l)
        }
        Err(e) => {
            metrics.config_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "invalid configuration; keeping the last good one");
            // Remember the bad text so it is not reported again until it changes.
            *current = text;
            None
        }
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
