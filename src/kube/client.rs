//! A raw REST client for the Kubernetes API on reqwest: kubeconfig
//! (current context; token, token file, client certificate, CA) or the
//! in-cluster service account (token re-read about once a minute), JSON
//! requests, Status errors, and watch streams read line by line with a
//! per-read timeout (never a whole-request timeout on a stream).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value as Json;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("{path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("kubeconfig {path}: {reason}")]
    Config { path: String, reason: String },
    #[error("{method} {url}: {reason}")]
    Transport { method: String, url: String, reason: String },
    /// A `Status` from the API server.
    #[error("{method} {url}: {code} {reason}: {message}")]
    Api { method: String, url: String, code: u16, reason: String, message: String },
    #[error("{url}: malformed response: {reason}")]
    Decode { url: String, reason: String },
}

impl KubeError {
    pub fn code(&self) -> u16 {
        match self {
            KubeError::Api { code, .. } => *code,
            _ => 0,
        }
    }
    pub fn reason(&self) -> &str {
        match self {
            KubeError::Api { reason, .. } => reason,
            _ => "",
        }
    }
}

/// Where the credentials come from.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeSettings {
    /// A kubeconfig file; its current context is used unless `context` is set.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Use the pod's service account (`KUBERNETES_SERVICE_HOST`, token, CA).
    #[serde(default)]
    pub in_cluster: bool,
}

#[derive(Deserialize)]
struct KubeConfigFile {
    #[serde(default)]
    clusters: Vec<Named<ClusterEntry>>,
    #[serde(default)]
    users: Vec<Named<UserEntry>>,
    #[serde(default)]
    contexts: Vec<Named<ContextEntry>>,
    #[serde(rename = "current-context", default)]
    current_context: String,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct ClusterEntry {
    server: String,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct UserEntry {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
}

#[derive(Deserialize)]
struct ContextEntry {
    cluster: String,
    user: String,
}

enum Auth {
    None,
    Token(String),
    /// Re-read periodically: projected service-account tokens rotate.
    TokenFile {
        path: PathBuf,
        cached: Mutex<(String, Instant)>,
    },
}

const TOKEN_REREAD: Duration = Duration::from_secs(60);
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

pub struct KubeClient {
    http: reqwest::Client,
    base: String,
    auth: Auth,
}

fn read(path: &Path) -> Result<Vec<u8>, KubeError> {
    std::fs::read(path).map_err(|source| KubeError::File { path: path.display().to_string(), source })
}

impl KubeClient {
    pub fn from_settings(s: &KubeSettings) -> Result<KubeClient, KubeError> {
        if s.in_cluster {
            return KubeClient::in_cluster();
        }
        let path = match &s.kubeconfig {
            Some(p) => p.clone(),
            None => std::env::var_os("KUBECONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube/config")))
                .ok_or_else(|| KubeError::Config { path: "~/.kube/config".into(), reason: "no kubeconfig".into() })?,
        };
        KubeClient::from_kubeconfig(&path, s.context.as_deref())
    }

    pub fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<KubeClient, KubeError> {
        let p = path.display().to_string();
        let bad = |reason: String| KubeError::Config { path: p.clone(), reason };
        let file: KubeConfigFile = serde_yaml::from_slice(&read(path)?).map_err(|e| bad(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let rel = |f: &PathBuf| if f.is_absolute() { f.clone() } else { dir.join(f) };
        let ctx_name = context.unwrap_or(&file.current_context);
        let ctx =
            file.contexts.iter().find(|c| c.name == ctx_name).ok_or_else(|| bad(format!("no context {ctx_name:?}")))?;
        let cluster = file
            .clusters
            .iter()
            .find(|c| c.name == ctx.value.cluster)
            .ok_or_else(|| bad(format!("no cluster {:?}", ctx.value.cluster)))?;
        let user = file.users.iter().find(|u| u.name == ctx.value.user);
        let b64 = |d: &str| base64::engine::general_purpose::STANDARD.decode(d.trim()).map_err(|e| bad(e.to_string()));
        let c = &cluster.value;
        let ca = match (&c.certificate_authority_data, &c.certificate_authority) {
            (Some(d), _) => Some(b64(d)?),
            (None, Some(f)) => Some(read(&rel(f))?),
            _ => None,
        };
        let mut identity = None;
        let mut auth = Auth::None;
        if let Some(u) = user.map(|u| &u.value) {
            let cert = match (&u.client_certificate_data, &u.client_certificate) {
                (Some(d), _) => Some(b64(d)?),
                (None, Some(f)) => Some(read(&rel(f))?),
                _ => None,
            };
            let key = match (&u.client_key_data, &u.client_key) {
                (Some(d), _) => Some(b64(d)?),
                (None, Some(f)) => Some(read(&rel(f))?),
                _ => None,
            };
            if let (Some(mut cert), Some(key)) = (cert, key) {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                identity = Some(cert);
            }
            auth = match (&u.token, &u.token_file) {
                (Some(t), _) => Auth::Token(t.clone()),
                (None, Some(f)) => {
                    Auth::TokenFile { path: rel(f), cached: Mutex::new((String::new(), Instant::now())) }
                }
                _ => Auth::None,
            };
        }
        KubeClient::build(&c.server, ca, identity, auth, c.insecure_skip_tls_verify).map_err(|e| bad(e.to_string()))
    }

    pub fn in_cluster() -> Result<KubeClient, KubeError> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| KubeError::Config {
            path: "in-cluster".into(),
            reason: "KUBERNETES_SERVICE_HOST is not set".into(),
        })?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        let ca = read(&Path::new(SA_DIR).join("ca.crt"))?;
        let auth = Auth::TokenFile {
            path: Path::new(SA_DIR).join("token"),
            cached: Mutex::new((String::new(), Instant::now())),
        };
        KubeClient::build(&format!("https://{host}:{port}"), Some(ca), None, auth, false)
            .map_err(|reason| KubeError::Config { path: "in-cluster".into(), reason })
    }

    fn build(
        server: &str,
        ca: Option<Vec<u8>>,
        identity: Option<Vec<u8>>,
        auth: Auth,
        insecure: bool,
    ) -> Result<KubeClient, String> {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Duration::from_secs(30))
            .danger_accept_invalid_certs(insecure);
        if let Some(ca) = ca {
            for c in reqwest::Certificate::from_pem_bundle(&ca).map_err(|e| format!("CA: {e}"))? {
                b = b.add_root_certificate(c);
            }
        }
        if let Some(id) = identity {
            b = b.identity(reqwest::Identity::from_pem(&id).map_err(|e| format!("client certificate: {e}"))?);
        }
        let http = b.build().map_err(|e| e.to_string())?;
        Ok(KubeClient { http, base: server.trim_end_matches('/').to_string(), auth })
    }

    fn token(&self) -> Result<Option<String>, KubeError> {
        match &self.auth {
            Auth::None => Ok(None),
            Auth::Token(t) => Ok(Some(t.clone())),
            Auth::TokenFile { path, cached } => {
                let mut c = cached.lock().expect("token lock");
                if c.0.is_empty() || c.1.elapsed() >= TOKEN_REREAD {
                    let t = String::from_utf8_lossy(&read(path)?).trim().to_string();
                    *c = (t, Instant::now());
                }
                Ok(Some(c.0.clone()))
            }
        }
    }

    fn request(&self, method: reqwest::Method, path_and_query: &str) -> Result<reqwest::RequestBuilder, KubeError> {
        let mut r =
            self.http.request(method, format!("{}{path_and_query}", self.base)).header("Accept", "application/json");
        if let Some(t) = self.token()? {
            r = r.bearer_auth(t);
        }
        Ok(r)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, &Json)>,
    ) -> Result<reqwest::Response, KubeError> {
        let url = format!("{}{path}", self.base);
        let mut r = self.request(method.clone(), path)?;
        if let Some((ctype, body)) = body {
            r = r.header("Content-Type", ctype).body(serde_json::to_vec(body).expect("json"));
        }
        let resp = r.send().await.map_err(|e| KubeError::Transport {
            method: method.to_string(),
            url: url.clone(),
            reason: e.to_string(),
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let status: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
        // A "too large resource version" is a 504 Timeout whose cause says so.
        let too_large = status.pointer("/details/causes").and_then(Json::as_array).is_some_and(|c| {
            c.iter().any(|c| c.get("reason").and_then(Json::as_str) == Some("ResourceVersionTooLarge"))
        });
        let reason = if too_large {
            "ResourceVersionTooLarge"
        } else {
            status.get("reason").and_then(Json::as_str).unwrap_or("")
        };
        Err(KubeError::Api {
            method: method.to_string(),
            url,
            code,
            reason: reason.to_string(),
            message: status.get("message").and_then(Json::as_str).map(str::to_string).unwrap_or(text),
        })
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Option<(&str, &Json)>) -> Result<Json, KubeError> {
        let resp = self.send(method, path, body).await?;
        let url = resp.url().to_string();
        resp.json().await.map_err(|e| KubeError::Decode { url, reason: e.to_string() })
    }

    pub async fn get(&self, path: &str) -> Result<Json, KubeError> {
        self.json(reqwest::Method::GET, path, None).await
    }
    /// A GET's body as text, for decoding by the caller.
    async fn get_text(&self, path: &str) -> Result<String, KubeError> {
        let resp = self.send(reqwest::Method::GET, path, None).await?;
        let url = resp.url().to_string();
        resp.text().await.map_err(|e| KubeError::Transport { method: "GET".into(), url, reason: e.to_string() })
    }
    pub async fn create(&self, path: &str, obj: &Json) -> Result<Json, KubeError> {
        self.json(reqwest::Method::POST, path, Some(("application/json", obj))).await
    }
    pub async fn replace(&self, path: &str, obj: &Json) -> Result<Json, KubeError> {
        self.json(reqwest::Method::PUT, path, Some(("application/json", obj))).await
    }
    pub async fn merge_patch(&self, path: &str, patch: &Json) -> Result<Json, KubeError> {
        self.json(reqwest::Method::PATCH, path, Some(("application/merge-patch+json", patch))).await
    }
    /// A merge patch whose reply (the whole object) is read but not decoded:
    /// for writers that learn the result from their watch.
    pub async fn merge_patch_unread(&self, path: &str, patch: &Json) -> Result<(), KubeError> {
        let resp = self.send(reqwest::Method::PATCH, path, Some(("application/merge-patch+json", patch))).await?;
        let url = resp.url().to_string();
        resp.bytes().await.map_err(|e| KubeError::Transport { method: "PATCH".into(), url, reason: e.to_string() })?;
        Ok(())
    }
    pub async fn delete(&self, path: &str) -> Result<Json, KubeError> {
        self.json(reqwest::Method::DELETE, path, None).await
    }
    /// A delete with `DeleteOptions` (preconditions, propagation policy).
    pub async fn delete_with(&self, path: &str, options: &Json) -> Result<Json, KubeError> {
        self.json(reqwest::Method::DELETE, path, Some(("application/json", options))).await
    }

    /// One page of a list: `(items, continue, resourceVersion)`.
    pub async fn list_page(
        &self,
        path: &str,
        limit: u32,
        continue_token: Option<&str>,
    ) -> Result<(Vec<Json>, Option<String>, String), KubeError> {
        self.list_page_selected(path, None, limit, continue_token).await
    }

    /// One page of a list of the objects matching `label_selector`.
    pub async fn list_page_selected(
        &self,
        path: &str,
        label_selector: Option<&str>,
        limit: u32,
        continue_token: Option<&str>,
    ) -> Result<(Vec<Json>, Option<String>, String), KubeError> {
        let selectors = Selectors { label: label_selector, field: None };
        self.list_page_filtered(path, &selectors, limit, continue_token, decode_json).await
    }

    /// One page of a list of the objects matching `selectors`.
    /// One page of the objects matching `selectors`, each item decoded by
    /// `decode` straight from the reply's bytes (what is not kept is never
    /// built).
    pub async fn list_page_filtered(
        &self,
        path: &str,
        selectors: &Selectors<'_>,
        limit: u32,
        continue_token: Option<&str>,
        decode: Decode,
    ) -> Result<(Vec<Json>, Option<String>, String), KubeError> {
        #[derive(serde::Deserialize)]
        struct Page<'a> {
            #[serde(default)]
            metadata: Option<PageMeta>,
            #[serde(borrow, default)]
            items: Option<Vec<&'a RawValue>>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct PageMeta {
            #[serde(default, rename = "continue")]
            continue_token: Option<String>,
            #[serde(default)]
            resource_version: Option<String>,
        }
        let mut q = format!("{path}?limit={limit}");
        selectors.push_query(&mut q);
        if let Some(c) = continue_token {
            q.push_str(&format!("&continue={}", urlencode(c)));
        }
        let text = self.get_text(&q).await?;
        let bad = |e: serde_json::Error| KubeError::Decode { url: q.clone(), reason: e.to_string() };
        let page: Page = serde_json::from_str(&text).map_err(bad)?;
        let items =
            page.items.unwrap_or_default().into_iter().map(decode).collect::<Result<Vec<_>, _>>().map_err(bad)?;
        let meta = page.metadata.unwrap_or(PageMeta { continue_token: None, resource_version: None });
        let cont = meta.continue_token.filter(|c| !c.is_empty());
        Ok((items, cont, meta.resource_version.unwrap_or_default()))
    }

    /// Opens a watch from `resource_version` with bookmarks. The server ends
    /// it after `timeout_seconds`; each read waits at most a little longer.
    pub async fn watch(
        &self,
        path: &str,
        resource_version: &str,
        timeout_seconds: u64,
    ) -> Result<WatchStream, KubeError> {
        self.watch_selected(path, None, resource_version, timeout_seconds).await
    }

    /// A watch of the objects matching `label_selector` (an object that
    /// stops matching is delivered as DELETED).
    pub async fn watch_selected(
        &self,
        path: &str,
        label_selector: Option<&str>,
        resource_version: &str,
        timeout_seconds: u64,
    ) -> Result<WatchStream, KubeError> {
        let selectors = Selectors { label: label_selector, field: None };
        self.watch_filtered(path, &selectors, resource_version, timeout_seconds, decode_json).await
    }

    /// A watch of the objects matching `selectors` (an object that stops
    /// matching is delivered as DELETED).
    pub async fn watch_filtered(
        &self,
        path: &str,
        selectors: &Selectors<'_>,
        resource_version: &str,
        timeout_seconds: u64,
        decode: Decode,
    ) -> Result<WatchStream, KubeError> {
        let mut q = format!(
            "{path}?watch=true&allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds={timeout_seconds}",
            urlencode(resource_version)
        );
        selectors.push_query(&mut q);
        let resp = self.send(reqwest::Method::GET, &q, None).await?;
        Ok(WatchStream {
            url: resp.url().to_string(),
            body: Box::pin(resp.bytes_stream()),
            buf: Vec::new(),
            read_timeout: Duration::from_secs(timeout_seconds + 5),
            decode,
        })
    }
}

/// The selectors of a list or watch: a label selector (`a=b,c`) and a
/// field selector (`metadata.name=x`, which RBAC's `resourceNames` needs
/// to allow a list or watch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selectors<'a> {
    pub label: Option<&'a str>,
    pub field: Option<&'a str>,
}

impl Selectors<'_> {
    fn push_query(&self, q: &mut String) {
        if let Some(s) = self.label {
            q.push_str(&format!("&labelSelector={}", urlencode(s)));
        }
        if let Some(s) = self.field {
            q.push_str(&format!("&fieldSelector={}", urlencode(s)));
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

type ByteStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Newline-delimited watch events.
pub struct WatchStream {
    url: String,
    body: ByteStream,
    buf: Vec<u8>,
    read_timeout: Duration,
    decode: Decode,
}

/// Decodes one object of a list or a watch from its JSON text: the whole
/// object ([`decode_json`]), or only what a kind's store keeps (serde skips
/// the rest without building it).
pub type Decode = fn(&RawValue) -> Result<Json, serde_json::Error>;

/// The whole object.
pub fn decode_json(raw: &RawValue) -> Result<Json, serde_json::Error> {
    serde_json::from_str(raw.get())
}

impl WatchStream {
    /// The next `(type, object)`; `Ok(None)` when the server ended the watch.
    pub async fn next_event(&mut self) -> Result<Option<(String, Json)>, KubeError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                #[derive(serde::Deserialize)]
                struct Line<'a> {
                    #[serde(default, rename = "type")]
                    kind: String,
                    #[serde(borrow, default)]
                    object: Option<&'a RawValue>,
                }
                let bad = |e: serde_json::Error| KubeError::Decode { url: self.url.clone(), reason: e.to_string() };
                let ev: Line = serde_json::from_slice(&line).map_err(bad)?;
                // A Status (an ERROR event) is read whole: the watcher reads its code.
                let decode = if ev.kind == "ERROR" { decode_json } else { self.decode };
                let object = match ev.object {
                    Some(raw) => decode(raw).map_err(bad)?,
                    None => Json::Null,
                };
                return Ok(Some((ev.kind, object)));
            }
            match tokio::time::timeout(self.read_timeout, self.body.next()).await {
                Err(_) => {
                    return Err(KubeError::Transport {
                        method: "WATCH".into(),
                        url: self.url.clone(),
                        reason: format!("no data for {:?}", self.read_timeout),
                    })
                }
                Ok(None) => return Ok(None),
                Ok(Some(Err(e))) => {
                    return Err(KubeError::Transport {
                        method: "WATCH".into(),
                        url: self.url.clone(),
                        reason: e.to_string(),
                    })
                }
                Ok(Some(Ok(chunk))) => self.buf.extend_from_slice(&chunk),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_current_context_token_and_ca_data() {
        let dir = std::env::temp_dir().join(format!("kc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443/\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: abc\ncontexts:\n- name: a\n  context: {cluster: nope, user: u}\n- name: b\n  context: {cluster: c, user: u}\n",
        )
        .unwrap();
        let c = KubeClient::from_kubeconfig(&path, None).unwrap();
        assert_eq!(c.base, "https://127.0.0.1:6443");
        assert_eq!(c.token().unwrap().as_deref(), Some("abc"));
        let e = KubeClient::from_kubeconfig(&path, Some("a")).err().unwrap().to_string();
        assert!(e.contains("no cluster \"nope\""), "{e}");
        let e = KubeClient::from_kubeconfig(&path, Some("zz")).err().unwrap().to_string();
        assert!(e.contains("no context \"zz\""), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn continue_tokens_are_url_encoded() {
        assert_eq!(urlencode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
    }

    #[test]
    fn selectors_are_query_parameters() {
        let mut q = "/x?limit=1".to_string();
        Selectors { label: Some("a=b"), field: Some("metadata.name=gw-rules") }.push_query(&mut q);
        assert_eq!(q, "/x?limit=1&labelSelector=a%3Db&fieldSelector=metadata.name%3Dgw-rules");
    }
}
