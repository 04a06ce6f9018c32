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

mod annotate;
pub mod http;
pub mod inputs;
pub mod kube;
pub mod metrics;
pub mod nat;
pub mod notify;
pub mod pods;
pub mod schedule;
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
use crate::model::derived::Derived;
use crate::model::validate::Model;
use crate::ovsdb::{Client, ConnState};
use crate::reconcile;
use inputs::{first_read, poll_reload, reload, Desired, Loaded, Polled, RemovalGuard};
use kube::{KubeSide, KubeSideError, Report};
use metrics::Metrics;
use pods::PodPorts;
use schedule::{Next, PassResult, Schedule, Trigger};

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

const CONFIG_POLL: Duration = Duration::from_millis(250);

/// The desired state of the current inputs (see [`Desired::after`]).
fn derive(
    config: &crate::config::Config,
    store: &Option<watch::Receiver<Arc<Store>>>,
    pods: &mut PodPorts,
    client: &Client,
    nat: Option<&nat::NatSide>,
) -> Desired {
    derive_after(None, config, store, pods, client, nat)
}

/// As [`derive`], after a change of the resources or pods only (see
/// [`Desired::after`]): `prev`'s validation stands if the specs are the same.
fn derive_after(
    prev: Option<&Desired>,
    config: &crate::config::Config,
    store: &Option<watch::Receiver<Arc<Store>>>,
    pods: &mut PodPorts,
    client: &Client,
    nat: Option<&nat::NatSide>,
) -> Desired {
    let store = store.as_ref().map(|r| r.borrow().clone());
    let synced = matches!(*client.subscribe_state().borrow(), ConnState::Synced { .. });
    Desired::after(prev, config, store.as_deref(), pods, synced.then_some(client), nat)
}

/// The names of the gateways `config` defines.
fn toml_gateways(config: &crate::config::Config) -> BTreeSet<String> {
    config.nat.gateways.iter().map(|(n, _)| n.clone()).collect()
}

/// Waits for a change of an optional watch channel (never, without one).
async fn changed<T>(rx: &mut Option<watch::Receiver<T>>) -> bool {
    match rx {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Runs the daemon until SIGTERM or SIGINT, on the calling thread (the
/// binary's `main`, which blocks on it), not as a task any runtime worker
/// may run: glibc gives each thread that allocates an arena of its own and
/// keeps each at its peak, so a loop moving among the workers left its
/// transient peak (a reload parses, validates and plans every tenant) in
/// each worker's arena in turn, and the daemon's memory grew with the
/// node's cores (`reload_rss`, BENCHMARKS.md). The workers carry the I/O:
/// the watches, the store, the reporter, the NB connection.
pub async fn run(opts: RunOptions) -> Result<(), DaemonError> {
    // Still `Send`, as a spawned task must be: so no lock guard (the NB
    // cache's) is ever held across an await, which with one worker would
    // stall every watch and the Lease behind it.
    fn send<F: std::future::Future + Send>(f: F) -> F {
        f
    }
    send(run_loop(opts)).await
}

async fn run_loop(opts: RunOptions) -> Result<(), DaemonError> {
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
        Some(k) => Some(KubeSide::start(k, toml_gateways(&loaded.config))?),
        None => None,
    };
    let mut store_rx = kube.as_ref().map(|k| k.store.clone());
    let mut leading_rx = kube.as_ref().map(|k| k.leading.clone());
    let mut nat_settings_rx = kube.as_ref().map(|k| k.nat_settings.clone());
    let mut nat_side = loaded.config.kubernetes.as_ref().map(|k| nat::NatSide::new(&k.namespace));
    let snapshot = |rx: &Option<watch::Receiver<Arc<Store>>>| rx.as_ref().map(|r| r.borrow().clone());
    let mut pod_ports = PodPorts::default();
    let mut desired = derive(&loaded.config, &store_rx, &mut pod_ports, &client, nat_side.as_ref());
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
    // With Kubernetes, only the leader writes, and only once it has listed
    // every resource (an unlisted one would look deleted).
    let writable =
        |kube: &Option<KubeSide>| kube.as_ref().is_none_or(|k| *k.leading.borrow() && k.store.borrow().synced);
    let mut schedule = Schedule::new(Instant::now(), resync_every, writable(&kube));
    let synced_now = matches!(*state.borrow_and_update(), ConnState::Synced { .. });
    schedule.on(Instant::now(), Trigger::NbConnection { synced: synced_now });
    schedule.on(Instant::now(), Trigger::Inputs { changed: BTreeSet::new(), complete: desired.complete });
    // The model and derived facts of the last pass that left a baseline (see `Schedule`).
    let mut applied_model: Option<(Arc<Model>, Arc<Derived>)> = None;
    let mut last_refusals: BTreeSet<String> = BTreeSet::new();
    // The refusals of the last pass that converged (to report again when
    // only the NAT settings change).
    let mut last_rejected: Option<Vec<crate::model::validate::Rejection>> = None;
    let mut notified = false;
    let (vpcs, subnets) = (loaded.config.vpcs.len(), loaded.config.subnets.len());
    tracing::info!(config = %path, vpcs, subnets, kubernetes = kube.is_some(), "ovn-vpcd running");
    // New inputs: re-derive only the objects whose validated spec (or
    // protection) changed, against the last pass's baseline.
    // `watched`: the change came from the Kubernetes watch (gathered under
    // load, see `schedule::GATHER`).
    let inputs = |new: Desired, desired: &mut Desired, applied: &Option<(Arc<Model>, Arc<Derived>)>, watched: bool| {
        new.log_news(Some(desired));
        let mut changed = BTreeSet::new();
        if let Some((model, derived)) = applied {
            changed = reconcile::changed_owners((model, derived), (&new.model, &new.derived));
            changed.extend(reconcile::protection_changed(&desired.rejected, &new.rejected));
        }
        let complete = new.complete;
        *desired = new;
        match watched {
            true => Trigger::Watched { changed, complete },
            false => Trigger::Inputs { changed, complete },
        }
    };
    loop {
        let synced = matches!(*state.borrow(), ConnState::Synced { .. });
        metrics.nb_connected.store(synced, Ordering::Relaxed);
        metrics.leader.store(kube.as_ref().is_none_or(|k| *k.leading.borrow()), Ordering::Relaxed);
        let standby = kube.as_ref().is_some_and(|k| !*k.leading.borrow() && k.store.borrow().synced);
        if !notified && standby {
            // Started fine; another instance leads. systemd must not wait for us.
            notified = notify_ready("READY=1\nSTATUS=standby");
        }
        schedule.on(Instant::now(), Trigger::Writable(writable(&kube)));
        if schedule.needs_inputs() {
            // Everything listed and the NB synced: the pods' ports can be known.
            let new = derive(&loaded.config, &store_rx, &mut pod_ports, &client, nat_side.as_ref());
            let t = inputs(new, &mut desired, &applied_model, false);
            schedule.on(Instant::now(), t);
        }
        let wake = match schedule.next(Instant::now()) {
            Next::Pass(scope) => {
                let started = Instant::now();
                let allow = loaded.config.daemon.allow_mass_removal;
                let rejected = removal.rejected(&desired, allow, &client, &metrics);
                let result = reconcile::apply(&desired.model, &desired.derived, &rejected, &client, &scope).await;
                metrics.reconcile_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                let passed = match result {
                    Ok(applied) => {
                        metrics.reconciles_ok.fetch_add(1, Ordering::Relaxed);
                        metrics.changes_applied.fetch_add(applied.changes as u64, Ordering::Relaxed);
                        metrics.refused_objects.store(applied.rejected.len() as u64, Ordering::Relaxed);
                        metrics.converged.store(true, Ordering::Relaxed);
                        log_refusals(&applied.rejected, &mut last_refusals);
                        if applied.changes > 0 {
                            let elapsed_ms = started.elapsed().as_millis() as u64;
                            tracing::info!(changes = applied.changes, elapsed_ms, ?scope, "converged");
                        }
                        if let (Some(k), Some(store), Some(nat)) = (&kube, snapshot(&store_rx), nat_side.as_mut()) {
                            let view = workloads(k, nat, &desired, &store);
                            report(k, &store, &desired, &applied.rejected, &pod_ports, &client, &metrics, view);
                        }
                        last_rejected = Some(applied.rejected.clone());
                        // Rows kept against a refused mass removal are not this
                        // model's: the next input change must check everything.
                        let baseline = !removal.refusing();
                        applied_model = baseline.then(|| (desired.model.clone(), desired.derived.clone()));
                        if !notified {
                            notified = notify_ready("READY=1\nSTATUS=converged");
                        }
                        PassResult::Converged { scope, own_updates: applied.own_updates, baseline }
                    }
                    Err(e) => {
                        metrics.reconciles_failed.fetch_add(1, Ordering::Relaxed);
                        metrics.converged.store(false, Ordering::Relaxed);
                        tracing::warn!(error = %e, "reconcile failed; retrying");
                        PassResult::Failed
                    }
                };
                count_owned(&client, &metrics);
                schedule.on(Instant::now(), Trigger::Passed(passed));
                continue;
            }
            Next::Wait(wake) => wake,
        };
        // While a pass gathers a burst, the store's changes wait for it.
        let gathering = schedule.gathering(Instant::now());
        let trigger = tokio::select! {
            _ = sleep_until(wake.unwrap_or_else(|| Instant::now() + resync_every)), if wake.is_some() => None,
            r = changes.changed() => {
                if r.is_err() { return Ok(()) }
                let generation = *changes.borrow_and_update();
                if !schedule.accounts_for(generation) && desired.complete && desired.nb_moved(&client) {
                    // A name taken or freed, a pod port moved: validate anew.
                    let new = derive(&loaded.config, &store_rx, &mut pod_ports, &client, nat_side.as_ref());
                    let t = inputs(new, &mut desired, &applied_model, false);
                    schedule.on(Instant::now(), t);
                }
                Some(Trigger::NbChanged { generation })
            }
            r = state.changed() => {
                if r.is_err() { return Ok(()) }
                let synced = matches!(*state.borrow_and_update(), ConnState::Synced { .. });
                if !synced {
                    metrics.converged.store(false, Ordering::Relaxed);
                }
                Some(Trigger::NbConnection { synced })
            }
            true = changed(&mut store_rx), if !gathering => {
                let errors = pod_ports.errors();
                let new = derive_after(Some(&desired), &loaded.config, &store_rx, &mut pod_ports, &client, nat_side.as_ref());
                // A new pod error changes nothing in the NB but is reported.
                // A pod gone may end a refusal (the eviction rule) with the
                // specs and ports as they were.
                let pods_changed = new.derived != desired.derived
                    || new.complete != desired.complete
                    || pod_ports.errors() != errors
                    || !(Arc::ptr_eq(&new.model, &desired.model) || new.model == desired.model)
                    || new.rejected != desired.rejected;
                if new.merged != desired.merged || pods_changed {
                    Some(inputs(new, &mut desired, &applied_model, true))
                } else {
                    desired.merged_from_newer(&new);
                    None
                }
            }
            true = changed(&mut nat_settings_rx) => {
                // The gateways' workloads follow at once, and their status says so.
                if let (Some(k), Some(store), Some(nat), Some(rejected)) =
                    (&kube, snapshot(&store_rx), nat_side.as_mut(), &last_rejected)
                {
                    if *k.leading.borrow() && store.synced {
                        let view = workloads(k, nat, &desired, &store);
                        report(k, &store, &desired, rejected, &pod_ports, &client, &metrics, view);
                    }
                }
                None
            }
            true = changed(&mut leading_rx) => {
                let leading = leading_rx.as_ref().is_some_and(|r| *r.borrow());
                if !leading {
                    if let Some(k) = &kube {
                        k.stop_workloads();
                    }
                    // What another leader writes meanwhile is unknown here.
                    if let Some(nat) = nat_side.as_mut() {
                        nat.forget();
                    }
                    last_rejected = None;
                } else if desired.complete {
                    // Validated while another led: what it wrote since (the
                    // rules ConfigMaps, what runs) decides now, not verdicts
                    // reused from then.
                    let new = derive(&loaded.config, &store_rx, &mut pod_ports, &client, nat_side.as_ref());
                    let t = inputs(new, &mut desired, &applied_model, false);
                    schedule.on(Instant::now(), t);
                }
                tracing::info!(leading, "leadership changed");
                metrics.converged.store(false, Ordering::Relaxed);
                Some(Trigger::Leadership)
            }
            _ = poll.tick() => match poll_reload(&opts.config_path, &mut settle, &metrics) {
                Polled::Loaded(new) => {
                    loaded = *new;
                    if let Some(k) = &kube {
                        k.set_toml_gateways(toml_gateways(&loaded.config));
                    }
                    let new = derive(&loaded.config, &store_rx, &mut pod_ports, &client, nat_side.as_ref());
                    Some(inputs(new, &mut desired, &applied_model, false))
                }
                // Not stable yet: the next poll comes when it may be.
                Polled::RecheckAt(at) => {
                    poll.reset_at(at);
                    None
                }
                Polled::Nothing => None,
            },
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading configuration");
                match reload(&opts.config_path, &mut settle, &metrics).await {
                    Some(new) if new.text != loaded.text => {
                        loaded = new;
                        if let Some(k) = &kube {
                            k.set_toml_gateways(toml_gateways(&loaded.config));
                        }
                        let new = derive(&loaded.config, &store_rx, &mut pod_ports, &client, nat_side.as_ref());
                        Some(inputs(new, &mut desired, &applied_model, false))
                    }
                    // Nothing changed: a SIGHUP still checks everything.
                    _ => Some(Trigger::Hangup),
                }
            }
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break }
        };
        if let Some(t) = trigger {
            schedule.on(Instant::now(), t);
        }
    }
    if let Some(k) = kube {
        k.stop().await;
    }
    Ok(())
}

/// Logs each refusal once, as it appears.
fn log_refusals(rejected: &[crate::model::validate::Rejection], last: &mut BTreeSet<String>) {
    let now: BTreeSet<String> = rejected.iter().map(ToString::to_string).collect();
    // A refused mass removal is logged once, as a whole, by the guard.
    for r in rejected.iter().filter(|r| !last.contains(&r.to_string())) {
        if r.field == reconcile::removal::REMOVAL_FIELD {
            continue;
        }
        if r.waiting {
            tracing::warn!(waiting = %r, "object waits for another; its NB rows are left as they are");
        } else {
            tracing::error!(refused = %r, "object refused; its NB rows are left as they are");
        }
    }
    *last = now;
}

/// The gateway workloads of `model`, handed to the object reconciler once
/// the settings are read; what the reporter needs to judge them.
fn workloads(k: &KubeSide, nat: &mut nat::NatSide, desired: &Desired, store: &Store) -> Arc<nat::readiness::NatView> {
    let settings = k.nat_settings.borrow().clone();
    let toml = &desired.merged.toml_gateways;
    // NAT objects refused or waiting this pass keep what they had (`nat::hold`).
    let held = desired.rejected.iter().map(|r| r.object.clone()).collect();
    let (objects, view) = nat.render(&desired.model, &desired.derived.eips, store, toml, settings.as_ref(), &held);
    // Read, and the borrow dropped, before handing the set: `set_workloads`
    // reads `leading` again, and a read held across it would deadlock with
    // the election's write (a writer waiting blocks a second read).
    let leading = *k.leading.borrow();
    match (objects, leading) {
        (Some(objects), true) => k.set_workloads(objects),
        // Rendered, never handed over: nothing of it runs.
        (_, false) => nat.forget(),
        (None, true) => {}
    }
    Arc::new(view)
}

/// Hands the reporter what the resources should show after a pass.
#[allow(clippy::too_many_arguments)]
fn report(
    k: &KubeSide,
    store: &Store,
    desired: &Desired,
    rejected: &[crate::model::validate::Rejection],
    pod_ports: &PodPorts,
    client: &Client,
    metrics: &Metrics,
    nat: Arc<nat::readiness::NatView>,
) {
    *metrics.resources.lock().expect("metrics lock") =
        crate::model::object::Kind::ALL.iter().map(|k| (k.to_string(), store.of_kind(*k).len() as u64)).collect();
    metrics.pod_ports.store(desired.derived.pods.len() as u64, Ordering::Relaxed);
    metrics.pods_without_address.store(pod_ports.errors().len() as u64, Ordering::Relaxed);
    let using = |s: &str| pod_ports.using(s);
    let verdicts = verdicts(store, &desired.merged, &desired.model, rejected, &desired.derived.eips, using);
    // A finalizer goes only once the NB shows none of the object's rows.
    let cache = client.cache();
    // An EIP's goes only once no rule names it.
    let gone = |object: &&crate::model::object::ObjectKey| {
        !reconcile::owns_rows(&cache, object) && !desired.merged.in_use(object)
    };
    let finalize = desired.merged.deleting.iter().filter(gone).cloned().collect();
    drop(cache);
    k.report(Report {
        verdicts,
        finalize,
        pods: desired.derived.clone(),
        pod_errors: pod_ports.errors(),
        model: desired.model.clone(),
        nat,
    });
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
    for t in crate::nb::rows::owned_tables() {
        let n =
            cache.table(t).map_or(0, |t| t.count_by_external_id(crate::nb::rows::VENDOR_KEY, crate::nb::rows::VENDOR));
        owned.insert(t.to_string(), n as u64);
    }
}
