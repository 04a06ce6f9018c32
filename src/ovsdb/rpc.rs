//! The connection task: one per connection, sole owner of the [`Connection`].
//!
//! It pipelines requests (any number in flight, matched to replies by id),
//! answers the server's `echo`, sends its own inactivity probe, forwards
//! notifications, and when the connection ends fails every pending request
//! with the reason.
//!
//! Invariants: the socket is only touched by this task's reader and writer
//! (nothing else holds it); reading never waits on a write; no request
//! waits forever: when the connection ends, every pending and queued
//! request fails with [`RpcError::Disconnected`], which says it may or may
//! not have executed.

use std::collections::HashMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use super::connection::{ConnError, Connection, Reader};
use super::jsonrpc::{encode_reply, Message, RpcErrorReply};

#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error("{method}: server error: {reply}")]
    Server { method: String, reply: RpcErrorReply },
    #[error("{method}: connection lost before the reply ({reason}); the request may or may not have been executed")]
    Disconnected { method: String, reason: String },
    #[error("{method}: cannot decode reply: {reason}")]
    Decode { method: String, reason: String },
    #[error("{method}: cannot encode params: {reason}")]
    Encode { method: String, reason: String },
}

impl RpcError {
    /// True when the server may have executed the request.
    pub fn maybe_executed(&self) -> bool {
        matches!(self, RpcError::Disconnected { .. })
    }
}

/// A notification from the server (`update`, `update2`, `update3`, ...).
#[derive(Debug)]
pub struct Notification {
    pub method: String,
    pub params: Box<RawValue>,
}

struct Outgoing {
    method: String,
    params: Box<RawValue>,
    reply: oneshot::Sender<Result<Box<RawValue>, RpcError>>,
}

/// A cheap handle for sending requests over one connection.
#[derive(Clone)]
pub struct RpcHandle {
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl RpcHandle {
    /// Sends a request and waits for its raw reply.
    pub async fn call_raw(&self, method: &str, params: &impl Serialize) -> Result<Box<RawValue>, RpcError> {
        let params = serde_json::value::to_raw_value(params)
            .map_err(|e| RpcError::Encode { method: method.into(), reason: e.to_string() })?;
        let (reply, rx) = oneshot::channel();
        let lost = |reason: &str| RpcError::Disconnected { method: method.into(), reason: reason.into() };
        self.tx
            .send(Outgoing { method: method.into(), params, reply })
            .map_err(|_| lost("connection task has ended"))?;
        rx.await.map_err(|_| lost("connection task has ended"))?
    }

    /// Sends a request and decodes its reply as `T`.
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: &impl Serialize) -> Result<T, RpcError> {
        let raw = self.call_raw(method, params).await?;
        serde_json::from_str(raw.get()).map_err(|e| RpcError::Decode { method: method.into(), reason: e.to_string() })
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Options of the connection task.
#[derive(Clone, Copy, Debug)]
pub struct RpcOptions {
    /// Send an `echo` after this long without a message; give up after as long
    /// again. `None` disables the probe (as for unix sockets in OVS).
    pub probe_interval: Option<Duration>,
    pub max_frame: usize,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions { probe_interval: Some(Duration::from_secs(5)), max_frame: super::framing::DEFAULT_MAX_FRAME }
    }
}

/// Spawns the connection task. Returns the request handle, the stream of
/// notifications and the task's handle, which yields why the connection ended.
pub fn spawn(
    conn: Connection,
    opts: RpcOptions,
) -> (RpcHandle, mpsc::UnboundedReceiver<Notification>, tokio::task::JoinHandle<ConnError>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (ntx, nrx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(conn, rx, ntx, opts));
    (RpcHandle { tx }, nrx, task)
}

type Pending = HashMap<u64, (String, oneshot::Sender<Result<Box<RawValue>, RpcError>>)>;

async fn run(
    conn: Connection,
    mut requests: mpsc::UnboundedReceiver<Outgoing>,
    notifications: mpsc::UnboundedSender<Notification>,
    opts: RpcOptions,
) -> ConnError {
    let (mut reader, mut writer) = conn.split();
    // The writer runs on its own so that reading never waits for a write.
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let mut write_task = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            writer.write_frame(&bytes).await?;
        }
        Ok::<(), ConnError>(())
    });
    let mut pending: Pending = HashMap::new();
    let reason = tokio::select! {
        e = serve(&mut reader, &mut requests, &notifications, &out_tx, &mut pending, opts) => e,
        r = &mut write_task => match r {
            Ok(Err(e)) => e,
            _ => ConnError::Closed,
        },
    };
    write_task.abort();
    let text = reason.to_string();
    for (_, (method, tx)) in pending.drain() {
        let _ = tx.send(Err(RpcError::Disconnected { method, reason: text.clone() }));
    }
    // Requests queued but never sent were certainly not executed; they still
    // get an error rather than hanging.
    requests.close();
    while let Ok(o) = requests.try_recv() {
        let _ = o.reply.send(Err(RpcError::Disconnected { method: o.method, reason: text.clone() }));
    }
    reason
}

/// Id reserved for our own inactivity probe.
const PROBE_ID: u64 = 0;

async fn serve(
    reader: &mut Reader,
    requests: &mut mpsc::UnboundedReceiver<Outgoing>,
    notifications: &mpsc::UnboundedSender<Notification>,
    out: &mpsc::UnboundedSender<Vec<u8>>,
    pending: &mut Pending,
    opts: RpcOptions,
) -> ConnError {
    let mut next_id: u64 = 1;
    let far = Duration::from_secs(86400 * 365);
    let interval = opts.probe_interval.unwrap_or(far);
    let mut last_rx = Instant::now();
    let mut probe_sent = false;
    let send = |bytes: Vec<u8>| out.send(bytes).map_err(|_| ConnError::Closed);
    loop {
        let deadline = last_rx + if probe_sent { interval * 2 } else { interval };
        tokio::select! {
            msg = reader.read_message() => {
                let msg = match msg { Ok(m) => m, Err(e) => return e };
                tracing::trace!(?msg, "received");
                last_rx = Instant::now();
                probe_sent = false;
                match msg {
                    Message::Reply { id, result } => {
                        let Some(id) = id.as_u64() else { continue };
                        if let Some((method, tx)) = pending.remove(&id) {
                            let _ = tx.send(result.map_err(|reply| RpcError::Server { method, reply }));
                        }
                    }
                    Message::Request { id, method, params } if method == "echo" => {
                        if let Err(e) = send(encode_reply(&id, &params)) { return e }
                    }
                    Message::Request { method, .. } => {
                        tracing::debug!(%method, "ignoring unexpected request from server");
                    }
                    Message::Notification { method, params } => {
                        let _ = notifications.send(Notification { method, params });
                    }
                }
            }
            req = requests.recv() => {
                let Some(req) = req else { return ConnError::Shutdown };
                // Batch everything already queued into one write.
                let mut buf = Vec::with_capacity(req.params.get().len() + 64);
                let mut next = Some(req);
                while let Some(r) = next {
                    let id = next_id;
                    next_id += 1;
                    buf.extend_from_slice(format!("{{\"id\":{id},\"method\":").as_bytes());
                    buf.extend_from_slice(serde_json::to_string(&r.method).expect("string").as_bytes());
                    buf.extend_from_slice(b",\"params\":");
                    buf.extend_from_slice(r.params.get().as_bytes());
                    buf.push(b'}');
                    pending.insert(id, (r.method, r.reply));
                    next = requests.try_recv().ok();
                }
                tracing::trace!(bytes = buf.len(), "sending requests");
                if let Err(e) = send(buf) { return e }
            }
            _ = sleep_until(deadline), if opts.probe_interval.is_some() => {
                if probe_sent {
                    return ConnError::ProbeTimeout(interval);
                }
                let frame = format!("{{\"id\":{PROBE_ID},\"method\":\"echo\",\"params\":[]}}");
                if let Err(e) = send(frame.into_bytes()) { return e }
                probe_sent = true;
            }
        }
    }
}
