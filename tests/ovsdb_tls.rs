//! `ssl:` remotes against ovsdb-server listening with TLS (testbed `--ssl`,
//! a throwaway PKI made with openssl), as `ovn-nbctl -p -c -C` would use them.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use ovn_vpcd::ovsdb::{Client, TlsFiles};
use ovn_vpcd::testbed::{run, Ovn};

fn client_tls(ovn: &Ovn) -> TlsFiles {
    TlsFiles {
        private_key: ovn.get("SSL_PRIVATE_KEY").unwrap().into(),
        certificate: ovn.get("SSL_CERTIFICATE").unwrap().into(),
        ca_cert: ovn.get("SSL_CA_CERT").unwrap().into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_and_writes_over_tls() {
    let ovn = Ovn::start_with(&["--ssl", "--no-northd"]).unwrap();
    ovn.nbctl(&["ls-add", "before"]).unwrap();
    let mut cfg = config(ovn.get("NB_SSL").unwrap(), &["Logical_Switch"]);
    cfg.tls = Some(client_tls(&ovn));
    let client = Client::connect(cfg, Duration::from_secs(10)).await.unwrap();
    assert_eq!(client.cache().table("Logical_Switch").unwrap().len(), 1);
    client.transact(&guarded_switch("over-tls", "1")).await.unwrap();
    assert_eq!(nbctl_column(&ovn, "Logical_Switch", "name"), vec!["before", "over-tls"]);

    // The CLI takes the same files as ovn-nbctl's -p/-c/-C.
    let t = client_tls(&ovn);
    let out = run(Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
        .args(["nb", "--db", ovn.get("NB_SSL").unwrap()])
        .arg("-p")
        .arg(&t.private_key)
        .arg("-c")
        .arg(&t.certificate)
        .arg("-C")
        .arg(&t.ca_cert)
        .args(["dump", "Logical_Switch"]))
    .unwrap();
    assert!(out.contains("\"over-tls\""), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_server_not_signed_by_our_ca() {
    let ovn = Ovn::start_with(&["--ssl", "--no-northd"]).unwrap();
    let other_ca = ovn.dir().join("other-ca.pem");
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=someone else"])
        .arg("-keyout")
        .arg(ovn.dir().join("other-ca-key.pem"))
        .arg("-out")
        .arg(&other_ca))
    .unwrap();
    let mut cfg = config(ovn.get("NB_SSL").unwrap(), &["Logical_Switch"]);
    cfg.tls = Some(TlsFiles { ca_cert: other_ca, ..client_tls(&ovn) });
    let err = Client::connect(cfg, Duration::from_secs(3)).await.err().expect("connected to an untrusted server");
    let text = err.to_string();
    assert!(text.contains("certificate") || text.contains("UnknownIssuer"), "{text}");
}

#[tokio::test]
async fn missing_tls_files_are_named() {
    let mut cfg = config("ssl:127.0.0.1:1", &["Logical_Switch"]);
    cfg.tls = Some(TlsFiles {
        private_key: "/nonexistent/key.pem".into(),
        certificate: "/nonexistent/cert.pem".into(),
        ca_cert: "/nonexistent/ca.pem".into(),
    });
    let err = Client::connect(cfg, Duration::from_secs(2)).await.err().unwrap().to_string();
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    let cfg = config("ssl:127.0.0.1:1", &["Logical_Switch"]);
    let err = Client::connect(cfg, Duration::from_secs(2)).await.err().unwrap().to_string();
    assert!(err.contains("needs private_key, certificate and ca_cert"), "{err}");
}
