//! `ovn-vpcd run`: keeps the northbound database converged.
//!
//! One loop owns the configuration and decides when to reconcile: at start,
//! on SIGHUP, when the config file changes (acted on once stable, see
//! [`settle`]), when the NB cache changes (drift,
//! or anyone's commit), on reconnect, after a failure, and every
//! `resync_seconds`. Each pass is [`crate::reconcile::apply`]; a pass that
//! finds nothing to change costs one diff and no transaction.
//!
//! A pass that would remove most tenants without `[daemon] allow_mass_removal`
//! keeps their rows as they are (see [`crate::reconcile::removal`] and
//! [`inputs::RemovalGuard`]); `/readyz` is not ready while it does.

pub mod http;
pub mod inputs;
pub mod kube;
pub mod metrics;
pub mod notify;
pub mod pods;
pub mod settle;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use crate::config::ConfigError;
use crate::kube::resources::{verdicts, Store};
use crate::model::validate::Model;
use crate::ovsdb::{Client, ConnState};
use crate::reconcile::{self, Scope};
use inputs::{first_read, reload, Desired, Loaded, RemovalGuard};
use kube::{KubeSide, KubeSideError, Report};
use metrics::Metrics;
use pods::PodPorts;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error(transparent)]
    Kube(#[from] KubeSideError),
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

/// The desired state of the current inputs (see [`Desired::new`]).
fn derive(
    config: &crate::config::Config,
    store: &Option<watch::Receiver<Arc<Store>>>,
    pods: &mut PodPorts,
    client: &Client,
) -> Desired {
    let store = store.as_ref().map(|r| r.borrow().clone());
    let synced = matches!(*client.subscribe_state().borrow(), ConnState::Synced { .. });
    Desired::new(config, store.as_deref(), pods, synced.then_some(client))
}

/// Waits for a change of an optional watch channel (never, without one).
async fn changed<T>(rx: &mut Option<watch::Receiver<T>>) -> bool {
    match rx {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
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
    let text = first_read(&opts.config_path)
        .await
        .map_err(|e| ConfigError::Read { path: path.clone(), reason: e.to_string() })?;
    let mut settle = settle::Settle::new(text.clone());
    let mut removal = RemovalGuard::default();
    let mut loaded = Loaded::new(&path, text)?;
    let client = Client::start(loaded.config.client_config(opts.db_override.as_deref())?);
    let metrics = Arc::new(Metrics::default());
    let kube = match &loaded.config.kubernetes {
        Some(k) => Some(KubeSide::start(k)?),
        None => None,
    };
    let mut store_rx = kube.as_ref().map(|k| k.store.clone());
    let mut leading_rx = kube.as_ref().map(|k| k.leading.clone());
    let snapshot = |rx: &Option<watch::Receiver<Arc<Store>>>| rx.as_ref().map(|r| r.borrow().clone());
    let mut pod_ports = PodPorts::default();
    let mut desired = derive(&loaded.config, &store_rx, &mut pod_ports, &client);
    desired.log_news(None);
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
    let (vpcs, subnets) = (loaded.config.vpcs.len(), loaded.config.subnets.len());
    tracing::info!(config = %path, vpcs, subnets, kubernetes = kube.is_some(), "ovn-vpcd running");
    loop {
        let synced = matches!(*state.borrow(), ConnState::Synced { .. });
        // With Kubernetes, only the leader writes, and only once it has
        // listed every resource (an unlisted one would look deleted).
        let may_write = kube.as_ref().is_none_or(|k| *k.leading.borrow() && k.store.borrow().synced);
        metrics.nb_connected.store(synced, Ordering::Relaxed);
        metrics.leader.store(kube.as_ref().is_none_or(|k| *k.leading.borrow()), Ordering::Relaxed);
        let standby = kube.as_ref().is_some_and(|k| !*k.leading.borrow() && k.store.borrow().synced);
        if !notified && standby {
            // Started fine; another instance leads. systemd must not wait for us.
            notified = notify_ready("READY=1\nSTATUS=standby");
        }
        if synced && may_write && !desired.complete {
            // Everything listed and the NB synced: the pods' ports can be known.
            desired = derive(&loaded.config, &store_rx, &mut pod_ports, &client);
            pending = widen(pending.take(), Scope::All);
        }
        if synced && may_write && desired.complete && next_pass.is_some_and(|t| t <= Instant::now()) {
            let scope = pending.take().unwrap_or(Scope::All);
            let started = Instant::now();
            let allow = loaded.config.daemon.allow_mass_removal;
            let rejected = removal.rejected(&desired, allow, &client, &metrics);
            let result = reconcile::apply(&desired.model, &rejected, &client, &scope).await;
            metrics.reconcile_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            match result {
                Ok(applied) => {
                    metrics.reconciles_ok.fetch_add(1, Ordering::Relaxed);
                    metrics.changes_applied.fetch_add(applied.changes as u64, Ordering::Relaxed);
                    metrics.refused_objects.store(applied.rejected.len() as u64, Ordering::Relaxed);
                    metrics.converged.store(true, Ordering::Relaxed);
                    let refusals: BTreeSet<String> = applied.rejected.iter().map(ToString::to_string).collect();
                    let new_refusals = applied.rejected.iter().filter(|r| !last_refusals.contains(&r.to_string()));
                    // A refused mass removal is logged once, as a whole, by the guard.
                    for r in new_refusals.filter(|r| r.field != reconcile::removal::REMOVAL_FIELD) {
                        if r.waiting {
                            tracing::warn!(waiting = %r, "object waits for another; its NB rows are left as they are");
                        } else {
                            tracing::error!(refused = %r, "object refused; its NB rows are left as they are");
                        }
                    }
                    last_refusals = refusals;
                    if applied.changes > 0 {
                        let elapsed_ms = started.elapsed().as_millis() as u64;
                        tracing::info!(changes = applied.changes, elapsed_ms, ?scope, "converged");
                    }
                    if let (Some(k), Some(store)) = (&kube, snapshot(&store_rx)) {
                        *metrics.resources.lock().expect("metrics lock") = crate::model::object::Kind::ALL
                            .iter()
                            .map(|k| (k.to_string(), store.of_kind(*k).len() as u64))
                            .collect();
                        metrics.pod_ports.store(desired.model.pods.len() as u64, Ordering::Relaxed);
                        metrics.pods_without_address.store(pod_ports.errors().len() as u64, Ordering::Relaxed);
                        let using = |s: &str| pod_ports.using(s);
                        let verdicts = verdicts(&store, &desired.merged, &desired.model, &applied.rejected, using);
                        // A finalizer goes only once the NB shows none of the object's rows.
                        let cache = client.cache();
                        let finalize = desired
                            .merged
                            .deleting
                            .iter()
                            .filter(|object| !reconcile::owns_rows(&cache, object))
                            .cloned()
                            .collect();
                        drop(cache);
                        k.report(Report {
                            verdicts,
                            finalize,
                            pods: pod_ports.addresses(&desired.model),
                            pod_errors: pod_ports.errors(),
                            model: desired.model.clone(),
                        });
                    }
                    // Rows kept against a refused mass removal are not this
                    // model's: the next input change must check everything.
                    applied_model = (!removal.refusing()).then(|| desired.model.clone());
                    accounted = match (applied.own_updates, &scope) {
                        (Some((_, to)), Scope::All) => Some(to),
                        (Some((from, to)), Scope::Owners(_)) if accounted == Some(from) => Some(to),
                        _ => accounted,
                    };
                    next_pass = Some(Instant::now() + resync_every);
                    pending = None;
                    if !notified {
                        notified = notify_ready("READY=1\nSTATUS=converged");
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
        // New inputs re-derive only the objects whose validated spec
        // changed, when the last pass left everything converged.
        let mut inputs_changed = |new: Desired, desired: &mut Desired, pending: &mut Option<Scope>| {
            new.log_news(Some(desired));
            let scope = match &applied_model {
                Some(old) => {
                    let mut owners = reconcile::changed_owners(old, &new.model);
                    owners.extend(reconcile::protection_changed(&desired.rejected, &new.rejected));
                    Scope::Owners(owners)
                }
                None => Scope::All,
            };
            // Even with no object to re-derive, a pass reports the new
            // verdicts (a refused resource) and releases finalizers.
            *desired = new;
            *pending = widen(pending.take(), scope);
            next_pass = Some(Instant::now());
        };
        tokio::select! {
            _ = sleep_until(wake), if synced && may_write => {
                pending = widen(pending.take(), Scope::All);
            }
            r = changes.changed() => {
                if r.is_err() { return Ok(()) }
                let generation = *changes.borrow_and_update();
                if accounted != Some(generation) {
                    if desired.complete && desired.nb_moved(&client) {
                        // A name taken or freed, a pod port moved: validate anew.
                        let new = derive(&loaded.config, &store_rx, &mut pod_ports, &client);
                        inputs_changed(new, &mut desired, &mut pending);
                    }
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
            true = changed(&mut store_rx) => {
                let errors = pod_ports.errors();
                let new = derive(&loaded.config, &store_rx, &mut pod_ports, &client);
                // A new pod error changes nothing in the NB but is reported.
                let pods_changed = new.model.pods != desired.model.pods
                    || new.complete != desired.complete
                    || pod_ports.errors() != errors;
                if new.merged != desired.merged || pods_changed {
                    inputs_changed(new, &mut desired, &mut pending);
                }
            }
            true = changed(&mut leading_rx) => {
                let leading = leading_rx.as_ref().is_some_and(|r| *r.borrow());
                tracing::info!(leading, "leadership changed");
                metrics.converged.store(false, Ordering::Relaxed);
                accounted = None;
                pending = widen(pending.take(), Scope::All);
                next_pass = Some(Instant::now());
            }
            _ = poll.tick() => {
                if let Some(new) = reload(&opts.config_path, &mut settle, false, &metrics).await {
                    loaded = new;
                    let new = derive(&loaded.config, &store_rx, &mut pod_ports, &client);
                    inputs_changed(new, &mut desired, &mut pending);
                }
            }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading configuration");
                if let Some(new) = reload(&opts.config_path, &mut settle, true, &metrics).await {
                    loaded = new;
                    let new = derive(&loaded.config, &store_rx, &mut pod_ports, &client);
                    inputs_changed(new, &mut desired, &mut pending);
                }
                // Nothing changed: a SIGHUP still checks everything.
                if pending.is_none() {
                    pending = Some(Scope::All);
                }
                next_pass = Some(Instant::now());
            }
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break }
        }
    }
    if let Some(k) = kube {
        k.stop().await;
    }
    Ok(())
}

/// Tells systemd we are up (once; true when done or not under systemd).
fn notify_ready(message: &str) -> bool {
    match notify::notify(message) {
        Ok(true) => tracing::info!(message, "notified systemd"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot notify systemd"),
    }
    true
}

fn count_owned(client: &Client, metrics: &Metrics) {
    let cache = client.cache();
    let mut owned = metrics.owned_rows.lock().expect("metrics lock");
    for t in crate::nb::owned_tables() {
        let n = cache
            .table(t)
            .map_or(0, |t| t.by_external_id(reconcile::desired::VENDOR_KEY, reconcile::desired::VENDOR).count());
        owned.insert(t.to_string(), n as u64);
    }
}
