//! Malformed, truncated and oversized input from a peer socket: the client
//! reports a clear error, never panics and never hangs. The peer here is a
//! raw TCP socket on 127.0.0.1 port 0 that writes the given bytes.

use std::time::Duration;

use ovn_vpcd::ovsdb::connection::{ConnError, Connection};
use ovn_vpcd::ovsdb::rpc::{self, RpcError, RpcOptions};
use ovn_vpcd::ovsdb::{Client, ClientConfig, MonitorSpec, Remote};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A peer that reads the first request, then writes `reply` and optionally closes.
async fn peer(reply: Vec<u8>, close: bool) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(&reply).await;
        if !close {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
    addr
}

async fn call_against(reply: &[u8], close: bool, max_frame: usize) -> (RpcError, ConnError) {
    let addr = peer(reply.to_vec(), close).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let conn = Connection::new(Box::new(stream), max_frame);
    let (h, _notes, task) = rpc::spawn(conn, RpcOptions { probe_interval: None, max_frame });
    let r = tokio::time::timeout(Duration::from_secs(5), h.call_raw("list_dbs", &json!([]))).await.expect("call hung");
    let end = tokio::time::timeout(Duration::from_secs(5), task).await.expect("task hung").expect("task panicked");
    (r.unwrap_err(), end)
}

#[tokio::test]
async fn garbage_is_a_protocol_error() {
    let (e, end) = call_against(b"HTTP/1.1 400 Bad Request\r\n\r\n", false, 1 << 20).await;
    assert!(matches!(e, RpcError::Disconnected { .. }), "{e}");
    assert!(e.to_string().contains("protocol error from peer: unexpected byte 'H'"), "{e}");
    assert!(matches!(end, ConnError::Frame(_)));
}

#[tokio::test]
async fn invalid_json_inside_a_frame_is_a_protocol_error() {
    let (e, end) = call_against(br#"{"id":1,"result":[1,,2],"error":null}"#, false, 1 << 20).await;
    assert!(matches!(end, ConnError::Message(_)), "{end}");
    assert!(e.to_string().contains("malformed JSON-RPC message"), "{e}");
}

#[tokio::test]
async fn invalid_utf8_is_a_protocol_error() {
    let (_, end) = call_against(b"{\"id\":1,\"result\":\"\xff\xfe\",\"error\":null}", false, 1 << 20).await;
    assert!(matches!(end, ConnError::Message(_)), "{end}");
}

#[tokio::test]
async fn truncated_message_then_close_is_reported() {
    let (e, end) = call_against(br#"{"id":1,"result":["OVN_North"#, true, 1 << 20).await;
    assert!(matches!(end, ConnError::Truncated(28)), "{end}");
    assert!(e.to_string().contains("in the middle of a message"), "{e}");
}

#[tokio::test]
async fn oversized_message_is_refused_without_buffering_it_all() {
    let mut big = br#"{"id":1,"result":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 200_000));
    let (e, end) = call_against(&big, false, 64 * 1024).await;
    assert!(
        matches!(end, ConnError::Frame(ovn_vpcd::ovsdb::framing::FrameError::TooLarge { limit: 65536, .. })),
        "{end}"
    );
    assert!(e.to_string().contains("exceeds the 65536-byte limit"), "{e}");
}

#[tokio::test]
async fn deeply_nested_input_is_refused() {
    let mut deep = br#"{"id":1,"result":"#.to_vec();
    deep.extend(std::iter::repeat_n(b'[', 10_000));
    let (_, end) = call_against(&deep, false, 1 << 20).await;
    assert!(matches!(end, ConnError::Frame(ovn_vpcd::ovsdb::framing::FrameError::TooDeep(_))), "{end}");
}

#[tokio::test]
async fn reply_of_the_wrong_shape_is_a_decode_error_not_a_panic() {
    let addr = peer(br#"{"id":1,"result":{"not":"a list"},"error":null}"#.to_vec(), false).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (h, _n, _t) = rpc::spawn(Connection::new(Box::new(stream), 1 << 20), RpcOptions::default());
    let e = h.call::<Vec<String>>("list_dbs", &json!([])).await.unwrap_err();
    assert!(matches!(e, RpcError::Decode { .. }), "{e}");
}

#[tokio::test(start_paused = true)]
async fn silent_peer_is_dropped_by_the_inactivity_probe() {
    let addr = peer(Vec::new(), false).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let opts = RpcOptions { probe_interval: Some(Duration::from_secs(5)), max_frame: 1 << 20 };
    let (h, _n, task) = rpc::spawn(Connection::new(Box::new(stream), 1 << 20), opts);
    let call = tokio::spawn(async move { h.call_raw("list_dbs", &json!([])).await });
    let end = task.await.unwrap();
    assert!(matches!(end, ConnError::ProbeTimeout(d) if d == Duration::from_secs(5)), "{end}");
    assert!(call.await.unwrap().unwrap_err().maybe_executed());
}

#[tokio::test]
async fn client_reports_the_peer_error_and_keeps_retrying() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepts = tokio::spawn(async move {
        let mut n = 0;
        while let Ok(Ok((mut s, _))) = tokio::time::timeout(Duration::from_secs(3), l.accept()).await {
            n += 1;
            let _ = s.write_all(b"\x00\x01garbage").await;
        }
        n
    });
    let remote = Remote::parse(&format!("tcp:{addr}"), 6641).unwrap();
    let mut cfg = ClientConfig::new(vec![remote], "OVN_Northbound", vec![MonitorSpec::all("Logical_Switch")]);
    cfg.backoff.initial = Duration::from_millis(50);
    let e = match Client::connect(cfg, Duration::from_secs(1)).await {
        Ok(_) => panic!("connected to a garbage peer"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("protocol error from peer"), "{e}");
    assert!(accepts.await.unwrap() >= 2, "client did not retry");
}
