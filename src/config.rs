//! The operator's TOML file: `[ovn]` (where the northbound database is) and
//! `[[vpc]]` / `[[subnet]]` tables holding `name` plus the custom resources'
//! spec fields. Errors name the file, line, column and field.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::model::{SubnetSpec, VpcSpec};

pub const DEFAULT_PATH: &str = "/etc/ovn-vpcd/ovn-vpcd.toml";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid { path: String, line: usize, column: usize, message: String },
    #[error("[ovn] nb_db: {0}")]
    Remote(#[from] crate::ovsdb::remote::RemoteError),
    #[error("[ovn]: TLS needs all three of private_key, certificate and ca_cert")]
    TlsIncomplete,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OvnSection {
    /// Northbound remotes in `OVN_NB_DB` syntax.
    pub nb_db: Option<String>,
    pub private_key: Option<PathBuf>,
    pub certificate: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
}

/// `[daemon]`: how `ovn-vpcd run` serves and paces itself.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSection {
    /// Address of `/healthz`, `/readyz` and `/metrics`; empty disables it.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// A full reconcile at least this often, even with no trigger.
    #[serde(default = "default_resync")]
    pub resync_seconds: u64,
}

fn default_listen() -> String {
    "127.0.0.1:9476".into()
}
fn default_resync() -> u64 {
    300
}

impl Default for DaemonSection {
    fn default() -> Self {
        DaemonSection { listen: default_listen(), resync_seconds: default_resync() }
    }
}

/// Default northbound remote, as ovn-nbctl's.
pub const DEFAULT_NB: &str = "unix:/var/run/ovn/ovnnb_db.sock";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    ovn: OvnSection,
    #[serde(default)]
    daemon: DaemonSection,
    #[serde(default)]
    vpc: Vec<Spanned<VpcSpec>>,
    #[serde(default)]
    subnet: Vec<Spanned<SubnetSpec>>,
}

/// A parsed configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub ovn: OvnSection,
    pub daemon: DaemonSection,
    pub vpcs: Vec<(String, VpcSpec)>,
    pub subnets: Vec<(String, SubnetSpec)>,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |i| before.len() - i - 1) + 1;
    (line, column)
}

/// The key whose value starts at `offset` (`key = <value>`, also inside an
/// inline table or as an element of `key = [ ... ]`), for error messages.
fn key_of_value(text: &str, offset: usize) -> Option<&str> {
    let before = text.get(..offset)?.trim_end();
    let before = match before.chars().last()? {
        '=' => before,
        '[' | ',' => &before[..before.rfind('=')? + 1],
        _ => return None,
    };
    let before = before.strip_suffix('=')?.trim_end();
    let start = before.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).map_or(0, |i| i + 1);
    Some(&before[start..]).filter(|k| !k.is_empty())
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.display().to_string(), reason: e.to_string() })?;
        Config::parse(&path.display().to_string(), &text)
    }

    /// Parses `text`; `path` is only used in error messages.
    pub fn parse(path: &str, text: &str) -> Result<Config, ConfigError> {
        let at = |span: Option<Range<usize>>, message: String| {
            let (line, column) = line_col(text, span.map_or(0, |s| s.start));
            ConfigError::Invalid { path: path.into(), line, column, message }
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let message = e.message().trim();
            let message = match e.span().and_then(|s| key_of_value(text, s.start)) {
                Some(key) if !message.contains("field `") => format!("field `{key}`: {message}"),
                _ => message.to_string(),
            };
            at(e.span(), message)
        })?;
        let mut cfg = Config { ovn: file.ovn, daemon: file.daemon, ..Default::default() };
        for v in file.vpc {
            let span = v.span();
            let mut spec = v.into_inner();
            let name = spec.name.take().ok_or_else(|| at(Some(span), "[[vpc]] entry without `name`".into()))?;
            cfg.vpcs.push((name, spec));
        }
        for s in file.subnet {
            let span = s.span();
            let mut spec = s.into_inner();
            let name = spec.name.take().ok_or_else(|| at(Some(span), "[[subnet]] entry without `name`".into()))?;
            cfg.subnets.push((name, spec));
        }
        Ok(cfg)
    }
}

impl Config {
    /// The northbound client for this configuration. Remotes come from
    /// `db_override`, else `[ovn] nb_db`, else `$OVN_NB_DB`, else the default.
    pub fn client_config(&self, db_override: Option<&str>) -> Result<crate::ovsdb::ClientConfig, ConfigError> {
        use crate::ovsdb::{ClientConfig, Remote, TlsFiles};
        let env = std::env::var("OVN_NB_DB").ok();
        let db = db_override.or(self.ovn.nb_db.as_deref()).or(env.as_deref()).unwrap_or(DEFAULT_NB);
        let remotes = Remote::parse_list(db, crate::ovsdb::remote::NB_PORT)?;
        let mut c = ClientConfig::new(remotes, crate::nb::DATABASE, crate::nb::monitor_specs());
        c.require = crate::nb::required_columns();
        let o = &self.ovn;
        c.tls = match (&o.private_key, &o.certificate, &o.ca_cert) {
            (None, None, None) => None,
            (Some(k), Some(cert), Some(ca)) => {
                Some(TlsFiles { private_key: k.clone(), certificate: cert.clone(), ca_cert: ca.clone() })
            }
            _ => return Err(ConfigError::TlsIncomplete),
        };
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_line_column_and_field() {
        let text = "[ovn]\nnb_db = \"unix:/x\"\n\n[[vpc]]\nname = \"a\"\nstaticRoutes = [{ cidr = \"0.0.0.0/0\", nextHop = \"1.2.3.4\" }]\n";
        let e = Config::parse("t.toml", text).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:6:"), "{e}");
        assert!(e.contains("unknown field `nextHop`") && e.contains("nextHopIP"), "{e}");

        let e = Config::parse("t.toml", "[[subnet]]\nname = \"s\"\ncidrBlock = 5\n").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:3:13: field `cidrBlock`: invalid type: integer"), "{e}");
        let e = Config::parse("t.toml", "[[subnet]]\nname = \"s\"\nexcludeIps = [\"10.0.0.1\", 7]\n").unwrap_err();
        assert!(e.to_string().starts_with("t.toml:3:27: field `excludeIps`: invalid type: integer"), "{e}");
        let text = "[[vpc]]\nname = \"a\"\nstaticRoutes = [{ cidr = \"0.0.0.0/0\", nextHopIP = 4 }]\n";
        let e = Config::parse("t.toml", text).unwrap_err().to_string();
        assert!(e.contains("field `nextHopIP`: invalid type: integer"), "{e}");

        let e = Config::parse("t.toml", "\n[[vpc]]\nnamespaces = []\n").unwrap_err().to_string();
        assert_eq!(e, "t.toml:2:1: [[vpc]] entry without `name`");

        let e = Config::parse("t.toml", "[ovn]\nnbdb = \"x\"\n").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:2:1:") && e.contains("unknown field `nbdb`"), "{e}");

        let e = Config::parse(
            "t.toml",
            "[[vpc]]\nname = \"a\"\npolicyRoutes = [{ priority = 1, match = \"x\", action = \"permit\" }]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown variant `permit`") && e.contains("reroute"), "{e}");
    }

    #[test]
    fn the_example_config_parses_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ovn-vpcd.toml");
        let cfg = Config::load(&path).unwrap();
        assert!(cfg.ovn.nb_db.is_some());
        let (model, rejected) = crate::model::validate::validate(&cfg.vpcs, &cfg.subnets);
        assert!(rejected.is_empty(), "{rejected:?}");
        assert!(model.vpcs.len() >= 2 && model.subnets.len() >= 2);
    }
}
