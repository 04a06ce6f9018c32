//! An OVSDB client (RFC 7047 plus Open vSwitch's extensions) on tokio and
//! serde_json: framing, JSON-RPC 1.0, typed data, transactions, monitors, a
//! cache, and a reconnecting, leader-following supervisor.

pub mod cache;
pub mod client;
pub mod connection;
pub mod data;
pub mod framing;
pub mod jsonrpc;
pub mod monitor;
pub mod ops;
pub mod remote;
pub mod rpc;
pub mod schema;
pub mod update2;

pub use cache::{Cache, RowView, TableCache};
pub use client::{Client, ClientConfig, ClientError, ConnState, MonitorStats, Outcome};
pub use data::{Atom, Uuid, Value};
pub use monitor::{Method as MonitorMethod, MonitorSpec};
pub use ops::{Cond, Mutation, Op, OpResult, Row, TxnError};
pub use remote::{Remote, TlsFiles};
