//! Remotes in OVN's own syntax (`tcp:IP:PORT`, `ssl:IP:PORT`, `unix:PATH`,
//! comma-separated, as `OVN_NB_DB` and `ovn-nbctl --db` take them) and opening
//! a byte stream to one of them, with TLS for `ssl:` as `ovn-nbctl -p -c -C`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

/// Default northbound port (`ovn-nbctl`'s).
pub const NB_PORT: u16 = 6641;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    Tcp { host: String, port: u16 },
    Ssl { host: String, port: u16 },
    Unix { path: PathBuf },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RemoteError {
    #[error("remote {0:?}: expected tcp:IP:PORT, ssl:IP:PORT or unix:PATH")]
    Syntax(String),
    #[error("remote {0:?}: invalid port")]
    Port(String),
    #[error("no remote given (set --db or OVN_NB_DB)")]
    Empty,
}

impl Remote {
    /// Parses one remote; `default_port` applies when the port is omitted.
    pub fn parse(s: &str, default_port: u16) -> Result<Remote, RemoteError> {
        let s = s.trim();
        let (kind, rest) = s.split_once(':').ok_or_else(|| RemoteError::Syntax(s.into()))?;
        match kind {
            "unix" if !rest.is_empty() => Ok(Remote::Unix { path: rest.into() }),
            "tcp" | "ssl" => {
                let (host, port) = split_host_port(rest, default_port).ok_or_else(|| RemoteError::Port(s.into()))?;
                if host.is_empty() {
                    return Err(RemoteError::Syntax(s.into()));
                }
                Ok(if kind == "tcp" { Remote::Tcp { host, port } } else { Remote::Ssl { host, port } })
            }
            _ => Err(RemoteError::Syntax(s.into())),
        }
    }

    /// Parses a comma-separated list.
    pub fn parse_list(s: &str, default_port: u16) -> Result<Vec<Remote>, RemoteError> {
        let v = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| Remote::parse(p, default_port))
            .collect::<Result<Vec<_>, _>>()?;
        if v.is_empty() {
            return Err(RemoteError::Empty);
        }
        Ok(v)
    }
}

fn split_host_port(rest: &str, default_port: u16) -> Option<(String, u16)> {
    // [v6]:port, [v6], v4:port, v4
    if let Some(r) = rest.strip_prefix('[') {
        let (host, after) = r.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), p.parse().ok()?)),
        Some(_) => None,
        None => Some((rest.to_string(), default_port)),
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = |h: &str| if h.contains(':') { format!("[{h}]") } else { h.to_string() };
        match self {
            Remote::Tcp { host: h, port } => write!(f, "tcp:{}:{port}", host(h)),
            Remote::Ssl { host: h, port } => write!(f, "ssl:{}:{port}", host(h)),
            Remote::Unix { path } => write!(f, "unix:{}", path.display()),
        }
    }
}

/// PEM files for `ssl:` remotes, as `ovn-nbctl -p KEY -c CERT -C CACERT`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub private_key: PathBuf,
    pub certificate: PathBuf,
    pub ca_cert: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{remote}: {source}")]
    Io { remote: String, source: std::io::Error },
    #[error("{remote}: ssl remote needs private_key, certificate and ca_cert")]
    TlsMissing { remote: String },
    #[error("{path}: {reason}")]
    TlsFile { path: String, reason: String },
    #[error("{remote}: TLS setup: {reason}")]
    Tls { remote: String, reason: String },
}

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
pub type BoxStream = Box<dyn Stream>;

/// Opens a stream to `remote`.
pub async fn open(remote: &Remote, tls: Option<&TlsFiles>) -> Result<BoxStream, ConnectError> {
    let io = |source| ConnectError::Io { remote: remote.to_string(), source };
    match remote {
        Remote::Unix { path } => Ok(Box::new(UnixStream::connect(path).await.map_err(io)?)),
        Remote::Tcp { host, port } => {
            let s = TcpStream::connect((host.as_str(), *port)).await.map_err(io)?;
            s.set_nodelay(true).map_err(io)?;
            Ok(Box::new(s))
        }
        Remote::Ssl { host, port } => {
            let files = tls.ok_or_else(|| ConnectError::TlsMissing { remote: remote.to_string() })?;
            let config = tls_config(files)?;
            let s = TcpStream::connect((host.as_str(), *port)).await.map_err(io)?;
            s.set_nodelay(true).map_err(io)?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| ConnectError::Tls { remote: remote.to_string(), reason: e.to_string() })?;
            let conn = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, s).await.map_err(io)?;
            Ok(Box::new(conn))
        }
    }
}

fn read_pem(path: &Path) -> Result<Vec<u8>, ConnectError> {
    std::fs::read(path).map_err(|e| ConnectError::TlsFile { path: path.display().to_string(), reason: e.to_string() })
}

/// Client TLS as OVS does it: the server's chain must verify against the CA,
/// and (like OVS's PKI, whose certificates name no address) the host name in
/// the certificate is not required to match the remote.
pub fn tls_config(files: &TlsFiles) -> Result<rustls::ClientConfig, ConnectError> {
    let file_err = |p: &Path, r: String| ConnectError::TlsFile { path: p.display().to_string(), reason: r };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut read_pem(&files.ca_cert)?.as_slice()) {
        let c = c.map_err(|e| file_err(&files.ca_cert, e.to_string()))?;
        roots.add(c).map_err(|e| file_err(&files.ca_cert, e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(file_err(&files.ca_cert, "no CA certificate in file".into()));
    }
    let chain = rustls_pemfile::certs(&mut read_pem(&files.certificate)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(&files.certificate, e.to_string()))?;
    if chain.is_empty() {
        return Err(file_err(&files.certificate, "no certificate in file".into()));
    }
    let key = rustls_pemfile::private_key(&mut read_pem(&files.private_key)?.as_slice())
        .map_err(|e| file_err(&files.private_key, e.to_string()))?
        .ok_or_else(|| file_err(&files.private_key, "no private key in file".into()))?;
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| file_err(&files.ca_cert, e.to_string()))?;
    let tls_err = |e: rustls::Error| file_err(&files.certificate, e.to_string());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
        .with_client_auth_cert(chain, key)
        .map_err(tls_err)
}

/// Verifies the chain and signatures; accepts a name mismatch only.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(CertificateError::NotValidForName))
            | Err(Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ovn_remote_syntax() {
        let v =
            Remote::parse_list("tcp:127.0.0.1:6641,ssl:[::1]:6643, unix:/run/ovn/ovnnb_db.sock,tcp:10.0.0.1", NB_PORT)
                .unwrap();
        assert_eq!(
            v,
            vec![
                Remote::Tcp { host: "127.0.0.1".into(), port: 6641 },
                Remote::Ssl { host: "::1".into(), port: 6643 },
                Remote::Unix { path: "/run/ovn/ovnnb_db.sock".into() },
                Remote::Tcp { host: "10.0.0.1".into(), port: NB_PORT },
            ]
        );
        assert_eq!(v[1].to_string(), "ssl:[::1]:6643");
        assert_eq!(Remote::parse_list(" ", NB_PORT), Err(RemoteError::Empty));
        assert!(matches!(Remote::parse("http://x", NB_PORT), Err(RemoteError::Syntax(_))));
        assert!(matches!(Remote::parse("tcp:1.2.3.4:99999", NB_PORT), Err(RemoteError::Port(_))));
        assert!(matches!(Remote::parse("tcp:::1:5", NB_PORT), Err(RemoteError::Port(_))));
        assert!(matches!(Remote::parse("unix:", NB_PORT), Err(RemoteError::Syntax(_))));
    }
}
