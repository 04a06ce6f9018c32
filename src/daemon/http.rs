//! A minimal HTTP/1.1 endpoint for `/healthz`, `/readyz` and `/metrics`:
//! one request per connection, GET only, bounded request size and time.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::metrics::Metrics;

pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let m = metrics.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), answer(stream, &m)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 16 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = match (method, path) {
        ("GET", "/healthz") => ("200 OK", "ok\n".to_string()),
        ("GET", "/readyz") => {
            let connected = metrics.nb_connected.load(Ordering::Relaxed);
            let converged = metrics.converged.load(Ordering::Relaxed);
            let removal = metrics.mass_removal.lock().expect("metrics lock").clone();
            if !metrics.leader.load(Ordering::Relaxed) {
                ("503 Service Unavailable", "not ready: standby (another instance holds the leader lease)\n".into())
            } else if let Some(m) = removal {
                ("503 Service Unavailable", format!("not ready: mass removal refused: {m}\n"))
            } else if connected && converged {
                ("200 OK", "ready\n".to_string())
            } else {
                ("503 Service Unavailable", format!("not ready: nb_connected={connected} converged={converged}\n"))
            }
        }
        ("GET", "/metrics") => ("200 OK", metrics.render()),
        ("GET", _) => ("404 Not Found", "not found\n".to_string()),
        _ => ("405 Method Not Allowed", "GET only\n".to_string()),
    };
    let ctype = if path == "/metrics" { "text/plain; version=0.0.4" } else { "text/plain" };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
