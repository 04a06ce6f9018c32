//! The I/O driver of the watcher: performs the requests the state machine
//! asks for, feeds back what they produced, waits the backoff layer's
//! delays, and delivers events on a channel. It keeps one watch stream open
//! while the state machine keeps asking to watch.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::client::{decode_json, Decode, KubeClient, KubeError, Selectors, WatchStream};
use super::watcher::{step, Action, Event, Input, State, WatchBackoff};

#[derive(Clone, Debug)]
pub struct WatchOptions {
    pub page_size: u32,
    /// The server ends each watch after this; it is then reopened.
    pub timeout_seconds: u64,
    /// Only the objects matching this label selector (e.g. `a=b,c`).
    pub label_selector: Option<String>,
    /// Only the objects matching this field selector (e.g.
    /// `metadata.name=x`: one object, as RBAC's `resourceNames` allows).
    pub field_selector: Option<String>,
    /// How each object is decoded (the whole object, or what its store keeps).
    pub decode: Decode,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            page_size: 500,
            timeout_seconds: 290,
            label_selector: None,
            field_selector: None,
            decode: decode_json,
        }
    }
}

fn failed(e: KubeError) -> Input {
    tracing::warn!(error = %e, "kubernetes request failed");
    Input::Failed { status: e.code(), reason: e.reason().to_string() }
}

/// Watches `path` (e.g. `/apis/kubeovn.io/v1/vpcs`) until `tx` is closed.
pub async fn watch(client: Arc<KubeClient>, path: String, opts: WatchOptions, tx: mpsc::Sender<Event>) {
    let mut backoff = WatchBackoff::default();
    let mut state = State::Empty;
    let mut input = Input::Start;
    let mut stream: Option<WatchStream> = None;
    let selectors = Selectors { label: opts.label_selector.as_deref(), field: opts.field_selector.as_deref() };
    loop {
        let mut s = step(state, input);
        // Moved, not copied: a relist's events hold every object.
        for e in std::mem::take(&mut s.events) {
            if tx.send(e).await.is_err() {
                return;
            }
        }
        if s.backoff || !matches!(s.action, Action::Watch { .. }) {
            stream = None;
        }
        let delay = backoff.delay(&s);
        if delay > Duration::ZERO {
            tokio::time::sleep(delay).await;
        }
        state = s.next;
        input = match s.action {
            Action::List { continue_token } => {
                match client
                    .list_page_filtered(&path, &selectors, opts.page_size, continue_token.as_deref(), opts.decode)
                    .await
                {
                    Ok((items, continue_token, resource_version)) => {
                        Input::Page { items, continue_token, resource_version }
                    }
                    Err(e) => failed(e),
                }
            }
            Action::Watch { resource_version } => {
                if stream.is_none() {
                    match client
                        .watch_filtered(&path, &selectors, &resource_version, opts.timeout_seconds, opts.decode)
                        .await
                    {
                        Ok(st) => stream = Some(st),
                        Err(e) => {
                            input = failed(e);
                            continue;
                        }
                    }
                }
                let st = stream.as_mut().expect("opened above");
                match st.next_event().await {
                    Ok(Some((kind, object))) => Input::Event { kind, object },
                    Ok(None) => {
                        stream = None;
                        Input::WatchClosed
                    }
                    Err(e) => {
                        stream = None;
                        failed(e)
                    }
                }
            }
        };
    }
}
