//! The OVSDB client: one supervisor task that connects (trying each remote in
//! turn, leader only on a RAFT cluster), checks the schema, monitors the chosen
//! tables into the [`Cache`], and reconnects with backoff, resuming the monitor
//! from the last transaction id.
//!
//! Invariants:
//! - The cache is only mutated by the supervisor task. Callers read it
//!   through [`Client::cache`] and never hold that guard across an `.await`.
//! - No write is applied twice: [`Client::transact_retrying`] replays only
//!   transactions whose inserts are guarded, by the uuid they insert (taken
//!   once the row is in) or by a `wait`, so a replay after a lost reply (or a
//!   server-side retry after a RAFT leader change) fails the guard and is
//!   reported as [`Outcome::AlreadyApplied`].
//! - `transact` returns only once the cache shows the rows the transaction
//!   inserted or deleted.

use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::{timeout, Instant};

use super::cache::{Cache, CacheError, TableCache};
use super::connection::{ConnError, Connection};
use super::data::Uuid;
use super::monitor::{self, CondSinceReply, Method, MonitorSpec, TableUpdates1, TableUpdates2, Updates};
use super::ops::{parse_results, transact_params, Cond, Op, OpResult, TxnError};
use super::remote::{self, ConnectError, Remote, TlsFiles};
use super::rpc::{self, RpcError, RpcHandle, RpcOptions};
use super::schema::{DbSchema, SchemaError};
use crate::backoff::{Backoff, BackoffConfig};

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub remotes: Vec<Remote>,
    pub tls: Option<TlsFiles>,
    pub database: String,
    pub monitor: Vec<MonitorSpec>,
    /// Columns that must exist beyond the monitored ones: `(table, columns)`.
    pub require: Vec<(String, Vec<String>)>,
    /// The first monitor method tried; older ones are fallen back to when
    /// the server answers "unknown method".
    pub monitor_method: Method,
    /// Talk only to the RAFT leader (as `ovn-nbctl` does by default).
    pub leader_only: bool,
    /// Inactivity probe on TCP/SSL remotes (unix sockets are not probed).
    pub probe_interval: Option<Duration>,
    pub max_frame: usize,
    pub backoff: BackoffConfig,
    pub connect_timeout: Duration,
    /// How long `transact` waits for its own inserts and deletes to show in the cache.
    pub reflect_timeout: Duration,
}

impl ClientConfig {
    pub fn new(remotes: Vec<Remote>, database: &str, monitor: Vec<MonitorSpec>) -> Self {
        ClientConfig {
            remotes,
            tls: None,
            database: database.into(),
            monitor,
            require: Vec::new(),
            monitor_method: Method::CondSince,
            leader_only: true,
            probe_interval: Some(Duration::from_secs(5)),
            max_frame: super::framing::DEFAULT_MAX_FRAME,
            backoff: BackoffConfig::default(),
            connect_timeout: Duration::from_secs(5),
            reflect_timeout: Duration::from_secs(5),
        }
    }
}

/// Connection state, as shown by metrics and readiness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnState {
    Connecting {
        remote: String,
    },
    /// Connected, schema checked and the monitor's initial contents loaded.
    Synced {
        remote: String,
    },
    Disconnected {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("not connected to the database ({reason})")]
    NotConnected { reason: String },
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error(transparent)]
    Txn(#[from] TxnError),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl ClientError {
    /// Errors after which the same request may succeed on a (new) connection.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::NotConnected { .. } => true,
            ClientError::Rpc(e) => e.maybe_executed(),
            ClientError::Txn(e) => matches!(e.keyword(), Some("not leader") | Some("cluster error")),
            _ => false,
        }
    }
}

/// Result of [`Client::transact_retrying`].
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Committed(Vec<OpResult>),
    /// A guard found the effect already present (committed by an earlier
    /// attempt whose reply was lost, by a server-side retry, or by another
    /// writer the cache has not shown yet): a guard `wait` timed out, or an
    /// insert's own uuid is taken.
    AlreadyApplied,
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("{0}")]
    NotLeader(String),
    #[error(transparent)]
    Conn(#[from] ConnError),
    #[error("cache out of sync, will resynchronise: {0}")]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Notification(#[from] monitor::NotificationError),
}

/// Counters of how monitors were (re)established.
#[derive(Debug, Default)]
pub struct MonitorStats {
    /// Initial loads of the whole content.
    pub full_loads: std::sync::atomic::AtomicU64,
    /// `monitor_cond_since` resumptions that only sent what changed.
    pub resumed: std::sync::atomic::AtomicU64,
}

struct Shared {
    db: String,
    stats: MonitorStats,
    cache: RwLock<Cache>,
    rpc: Mutex<Option<RpcHandle>>,
    state: watch::Sender<ConnState>,
    changed: watch::Sender<u64>,
    schema: Mutex<Option<Arc<DbSchema>>>,
}

impl Shared {
    fn set_state(&self, s: ConnState) {
        self.state.send_replace(s);
    }
    fn current_rpc(&self) -> Result<RpcHandle, ClientError> {
        match self.rpc.lock().expect("rpc lock").as_ref() {
            Some(h) if !h.is_closed() => Ok(h.clone()),
            _ => Err(ClientError::NotConnected {
                reason: match &*self.state.borrow() {
                    ConnState::Disconnected { reason } => reason.clone(),
                    ConnState::Connecting { remote } => format!("connecting to {remote}"),
                    ConnState::Synced { remote } => format!("connection to {remote} closing"),
                },
            }),
        }
    }
    fn apply(&self, f: impl FnOnce(&mut Cache) -> Result<(), CacheError>) -> Result<(), CacheError> {
        let (r, generation) = {
            let mut c = self.cache.write().expect("cache lock");
            let r = f(&mut c);
            if r.is_err() {
                // Forget the position: the next monitor loads everything afresh.
                c.last_txn_id = None;
            }
            (r, c.generation)
        };
        self.changed.send_replace(generation);
        r
    }
}

/// A handle to the client; dropping it stops the supervisor task.
pub struct Client {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Starts the supervisor; returns at once. See [`Client::wait_synced`].
    pub fn start(config: ClientConfig) -> Client {
        let shared = Arc::new(Shared {
            db: config.database.clone(),
            stats: MonitorStats::default(),
            cache: RwLock::new(Cache::default()),
            rpc: Mutex::new(None),
            state: watch::channel(ConnState::Disconnected { reason: "not started".into() }).0,
            changed: watch::channel(0).0,
            schema: Mutex::new(None),
        });
        let task = tokio::spawn(supervise(shared.clone(), config));
        Client { shared, task }
    }

    /// Starts and waits until the monitor is loaded, or fails with the last error.
    pub async fn connect(config: ClientConfig, wait: Duration) -> Result<Client, ClientError> {
        let c = Client::start(config);
        c.wait_synced(wait).await?;
        Ok(c)
    }

    pub async fn wait_synced(&self, wait: Duration) -> Result<(), ClientError> {
        let mut rx = self.shared.state.subscribe();
        let r = timeout(wait, rx.wait_for(|s| matches!(s, ConnState::Synced { .. }))).await;
        match r {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ClientError::NotConnected {
                reason: match &*self.shared.state.borrow() {
                    ConnState::Disconnected { reason } => reason.clone(),
                    other => format!("{other:?} after {wait:?}"),
                },
            }),
        }
    }

    pub fn state(&self) -> ConnState {
        self.shared.state.borrow().clone()
    }
    pub fn subscribe_state(&self) -> watch::Receiver<ConnState> {
        self.shared.state.subscribe()
    }
    /// Notified (with the cache generation) after every applied update.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }
    /// Read access to the cache. Do not hold across an `.await`.
    pub fn cache(&self) -> RwLockReadGuard<'_, Cache> {
        self.shared.cache.read().expect("cache lock")
    }
    pub fn schema(&self) -> Option<Arc<DbSchema>> {
        self.shared.schema.lock().expect("schema lock").clone()
    }
    pub fn database(&self) -> &str {
        &self.shared.db
    }
    /// How often the monitor was loaded in full or resumed.
    pub fn monitor_stats(&self) -> &MonitorStats {
        &self.shared.stats
    }

    /// Cancels the database monitor (`monitor_cancel`): the cache stops
    /// following the database until the next reconnect re-establishes it.
    pub async fn monitor_cancel(&self) -> Result<(), ClientError> {
        let rpc = self.shared.current_rpc()?;
        rpc.call_raw("monitor_cancel", &json!([DB_MONITOR])).await?;
        Ok(())
    }

    /// Sends a raw request on the current connection.
    pub async fn rpc(&self) -> Result<RpcHandle, ClientError> {
        self.shared.current_rpc()
    }

    /// Runs one transaction. On success the cache already shows the rows it
    /// inserted into, and no longer shows the rows it deleted by uuid from,
    /// monitored tables.
    pub async fn transact(&self, ops: &[Op]) -> Result<Vec<OpResult>, ClientError> {
        let rpc = self.shared.current_rpc()?;
        let raw = rpc.call_raw("transact", &transact_params(&self.shared.db, ops)).await?;
        let results = parse_results(ops, raw.get())?;
        self.await_reflected(ops, &results).await;
        Ok(results)
    }

    /// Runs a transaction whose inserts are guarded, each by the uuid it
    /// inserts (`Op::Insert::uuid`) or by a `wait` ([`Op::wait_absent`]),
    /// retrying across reconnects until `within` elapses. Because the guards
    /// make a replay harmless, a write is never applied twice even when a
    /// reply is lost.
    pub async fn transact_retrying(&self, ops: &[Op], within: Duration) -> Result<Outcome, ClientError> {
        let deadline = Instant::now() + within;
        loop {
            match self.transact(ops).await {
                Ok(r) => return Ok(Outcome::Committed(r)),
                Err(ClientError::Txn(TxnError::Operation { index, error, .. }))
                    if error == "timed out" && matches!(ops.get(index), Some(Op::Wait { .. })) =>
                {
                    tracing::debug!(guard = ?ops.get(index), "guard found its rows present");
                    return Ok(Outcome::AlreadyApplied);
                }
                Err(ClientError::Txn(TxnError::Operation { index, error, .. }))
                    if error == "duplicate uuid"
                        && matches!(ops.get(index), Some(Op::Insert { uuid: Some(_), .. })) =>
                {
                    tracing::debug!(insert = ?ops.get(index), "an insert found its uuid taken");
                    return Ok(Outcome::AlreadyApplied);
                }
                Err(e) if e.is_retryable() && Instant::now() < deadline => {
                    tracing::debug!(error = %e, "transaction will be retried");
                    let mut rx = self.shared.state.subscribe();
                    let left = deadline.saturating_duration_since(Instant::now());
                    let _ = timeout(
                        left.min(Duration::from_millis(500)),
                        rx.wait_for(|s| matches!(s, ConnState::Synced { .. })),
                    )
                    .await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn await_reflected(&self, ops: &[Op], results: &[OpResult]) {
        let mut want_present: Vec<(String, Uuid)> = vec![];
        let mut want_absent: Vec<(String, Uuid)> = vec![];
        for (op, r) in ops.iter().zip(results) {
            match op {
                Op::Insert { table, .. } => want_present.extend(r.uuid.map(|u| (table.clone(), u))),
                Op::Delete { table, conds } => {
                    if let [Cond(c, "==", v)] = conds.as_slice() {
                        if c == "_uuid" {
                            want_absent.extend(v.as_uuid().map(|u| (table.clone(), u)));
                        }
                    }
                }
                _ => {}
            }
        }
        let done = |c: &Cache| {
            let monitored = |t: &str| c.table(t).is_some();
            want_present.iter().all(|(t, u)| !monitored(t) || c.row(t, *u).is_some())
                && want_absent.iter().all(|(t, u)| !monitored(t) || c.row(t, *u).is_none())
        };
        let mut rx = self.shared.changed.subscribe();
        let wait = async {
            loop {
                if done(&self.cache()) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        if timeout(Duration::from_secs(5), wait).await.is_err() {
            tracing::warn!("committed transaction not reflected in the monitor after 5 s");
        }
    }
}

async fn supervise(shared: Arc<Shared>, cfg: ClientConfig) {
    let mut backoff = Backoff::new(cfg.backoff);
    let n = cfg.remotes.len().max(1);
    let mut next = rand::random::<usize>() % n;
    let mut failures = 0usize;
    loop {
        let remote = &cfg.remotes[next % n];
        next += 1;
        shared.set_state(ConnState::Connecting { remote: remote.to_string() });
        let mut synced = false;
        let err = session(&shared, &cfg, remote, &mut synced).await;
        *shared.rpc.lock().expect("rpc lock") = None;
        // Errors of opening a remote already name it.
        let text = err.to_string();
        let reason = if text.starts_with(&remote.to_string()) { text } else { format!("{remote}: {text}") };
        shared.set_state(ConnState::Disconnected { reason: reason.clone() });
        if matches!(err, SessionError::Conn(ConnError::Shutdown)) {
            return;
        }
        if synced {
            tracing::warn!(%remote, error = %err, "database connection lost");
            backoff.reset();
            failures = 0;
        } else {
            tracing::info!(%remote, error = %err, "cannot use remote");
            failures += 1;
            // Try every remote once before waiting.
            if !failures.is_multiple_of(n) {
                continue;
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

const SERVER_MONITOR: &str = "_server";
const DB_MONITOR: &str = "db";

async fn session(shared: &Shared, cfg: &ClientConfig, remote: &Remote, synced: &mut bool) -> SessionError {
    let stream = match timeout(cfg.connect_timeout, remote::open(remote, cfg.tls.as_ref())).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return e.into(),
        Err(_) => return SessionError::ConnectTimeout(cfg.connect_timeout),
    };
    let probe = if matches!(remote, Remote::Unix { .. }) { None } else { cfg.probe_interval };
    let (rpc, mut notes, task) = rpc::spawn(
        Connection::new(stream, cfg.max_frame),
        RpcOptions { probe_interval: probe, max_frame: cfg.max_frame },
    );
    let abort = task.abort_handle();
    let result = async {
        let mut server = ServerRows::default();
        if cfg.leader_only {
            let params = json!(["_Server", SERVER_MONITOR, {"Database": [{"columns": ["name", "model", "connected", "leader"]}]}]);
            let initial: TableUpdates2 = rpc.call("monitor_cond", &params).await?;
            server.apply(initial);
            server.check(&shared.db)?;
        }
        let schema = load_schema(shared, cfg, &rpc).await?;
        monitor_initial(shared, cfg, &rpc, &schema).await?;
        *shared.rpc.lock().expect("rpc lock") = Some(rpc.clone());
        shared.set_state(ConnState::Synced { remote: remote.to_string() });
        *synced = true;
        tracing::info!(%remote, db = %shared.db, "database synchronised");
        while let Some(n) = notes.recv().await {
            let Some(decoded) = monitor::decode_notification(&n.method, n.params.get()) else { continue };
            let u = decoded?;
            if u.monitor_id == SERVER_MONITOR {
                if let Updates::V2(t) = u.updates {
                    server.apply(t);
                }
                server.check(&shared.db)?;
            } else if u.monitor_id == DB_MONITOR {
                let txn = u.last_txn_id;
                shared.apply(|c| {
                    c.apply(u.updates)?;
                    if txn.is_some() {
                        c.last_txn_id = txn;
                    }
                    Ok(())
                })?;
            }
        }
        Ok::<(), SessionError>(())
    }
    .await;
    drop(rpc);
    match result {
        Err(e) => {
            abort.abort();
            e
        }
        Ok(()) => match task.await {
            Ok(e) => e.into(),
            Err(_) => SessionError::Conn(ConnError::Closed),
        },
    }
}

async fn load_schema(shared: &Shared, cfg: &ClientConfig, rpc: &RpcHandle) -> Result<Arc<DbSchema>, SessionError> {
    let raw = rpc.call_raw("get_schema", &json!([shared.db])).await?;
    let schema = DbSchema::parse(raw.get())?;
    let needs: Vec<(&str, Vec<&str>)> = cfg
        .monitor
        .iter()
        .map(|m| (m.table.as_str(), m.columns.iter().flatten().map(String::as_str).collect()))
        .chain(cfg.require.iter().map(|(t, c)| (t.as_str(), c.iter().map(String::as_str).collect())))
        .collect();
    schema.require(needs.iter().map(|(t, c)| (*t, c.as_slice())))?;
    let schema = Arc::new(schema);
    *shared.schema.lock().expect("schema lock") = Some(schema.clone());
    Ok(schema)
}

/// The monitored column list of each table (all columns when unspecified).
fn resolved_specs(cfg: &ClientConfig, schema: &DbSchema) -> Vec<(String, Vec<String>)> {
    cfg.monitor
        .iter()
        .map(|m| {
            let cols = match &m.columns {
                Some(c) => c.clone(),
                None => schema.tables[&m.table].columns.keys().filter(|c| !c.starts_with('_')).cloned().collect(),
            };
            (m.table.clone(), cols)
        })
        .collect()
}

async fn monitor_initial(
    shared: &Shared,
    cfg: &ClientConfig,
    rpc: &RpcHandle,
    schema: &DbSchema,
) -> Result<(), SessionError> {
    let specs = resolved_specs(cfg, schema);
    let tables = specs.iter().map(|(t, cols)| TableCache::new(t, &schema.tables[t], cols)).collect();
    let last = {
        let mut c = shared.cache.write().expect("cache lock");
        c.set_tables(tables);
        c.last_txn_id.clone()
    };
    let id = json!(DB_MONITOR);
    let mut method = cfg.monitor_method;
    loop {
        let params = monitor::request_params(method, &shared.db, &id, &specs, last.as_deref());
        let raw = match rpc.call_raw(method.name(), &params).await {
            Ok(raw) => raw,
            Err(RpcError::Server { reply, .. }) if reply.error == "unknown method" && method.fallback().is_some() => {
                tracing::info!(method = method.name(), "server lacks monitor method, falling back");
                method = method.fallback().expect("checked");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let decode = |e: serde_json::Error| RpcError::Decode { method: method.name().into(), reason: e.to_string() };
        let (resume, txn, updates) = match method {
            Method::CondSince => {
                let CondSinceReply(found, txn, u) = serde_json::from_str(raw.get()).map_err(decode)?;
                (found, Some(txn), Updates::V2(u))
            }
            Method::Cond => {
                (false, None, Updates::V2(serde_json::from_str::<TableUpdates2>(raw.get()).map_err(decode)?))
            }
            Method::Plain => {
                (false, None, Updates::V1(serde_json::from_str::<TableUpdates1>(raw.get()).map_err(decode)?))
            }
        };
        drop(raw);
        shared.apply(|c| {
            if !resume {
                c.clear();
            }
            c.apply(updates)?;
            c.last_txn_id = txn;
            Ok(())
        })?;
        let counter = if resume { &shared.stats.resumed } else { &shared.stats.full_loads };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(method = method.name(), resumed = resume, "monitor established");
        return Ok(());
    }
}

/// Rows of `_Server.Database`, to follow RAFT leadership.
#[derive(Default)]
struct ServerRows(std::collections::HashMap<Uuid, super::ops::Row>);

impl ServerRows {
    fn apply(&mut self, u: TableUpdates2) {
        for (_, rows) in u {
            for (uuid, ru) in rows {
                if let Some(r) = ru.initial.or(ru.insert) {
                    self.0.insert(uuid, r);
                } else if let Some(diff) = ru.modify {
                    let row = self.0.entry(uuid).or_default();
                    for (c, v) in diff {
                        // All monitored columns here are scalars: diffs replace.
                        row.insert(c, v);
                    }
                } else if ru.delete {
                    self.0.remove(&uuid);
                }
            }
        }
    }

    fn check(&self, db: &str) -> Result<(), SessionError> {
        let row = self
            .0
            .values()
            .find(|r| r.get("name").and_then(|v| v.as_str()) == Some(db))
            .ok_or_else(|| SessionError::NotLeader(format!("server does not serve database {db}")))?;
        let flag = |c: &str| matches!(row.get(c).and_then(|v| v.as_atom()), Some(super::data::Atom::Boolean(true)));
        let model = row.get("model").and_then(|v| v.as_str()).unwrap_or("");
        if model == "clustered" && !(flag("leader") && flag("connected")) {
            return Err(SessionError::NotLeader(format!(
                "not the RAFT leader for {db} (leader={}, connected={})",
                flag("leader"),
                flag("connected")
            )));
        }
        Ok(())
    }
}
