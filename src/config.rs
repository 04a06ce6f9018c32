//! The operator's TOML file: `[ovn]` (where the northbound database is),
//! `[daemon]`, the optional `[kubernetes]` (API server credentials and the
//! leader-election Lease; without it the daemon is TOML-only) and
//! `[[vpc]]` / `[[subnet]]` tables holding `name` plus the custom resources'
//! spec fields, and the NAT gateway kinds' tables (`nat.rs`, which need
//! `[kubernetes]`). Errors name the file, line, column and field.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::kube::client::KubeSettings;
use crate::kube::leader::ElectionConfig;
use crate::model::validate::NatSpecs;
use crate::model::{
    IptablesDnatRuleSpec, IptablesEipSpec, IptablesFipRuleSpec, IptablesSnatRuleSpec, SubnetSpec, VpcNatGatewaySpec,
    VpcSpec,
};

mod nat;
pub use nat::NEEDS_KUBERNETES;

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
    #[error("[kubernetes] identity: no identity set and no host name in {HOSTNAME_FILE} or {ETC_HOSTNAME}: {reason}")]
    Hostname { reason: String },
}

/// Where the default election identity comes from.
pub const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";
/// Read when /proc/sys is hidden (the unit's `ProcSubset=pid`).
pub const ETC_HOSTNAME: &str = "/etc/hostname";

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
    /// The VPC of an OVN subnet that names none (Kube-OVN's default VPC).
    /// Until a VPC of that name exists, such a subnet waits for it.
    #[serde(default = "default_vpc")]
    pub default_vpc: String,
    /// The operator's word that this file may remove most tenants at once
    /// (see `reconcile::removal`); read from the file being loaded.
    #[serde(default)]
    pub allow_mass_removal: bool,
}

fn default_vpc() -> String {
    "ovn-cluster".into()
}

fn default_listen() -> String {
    "127.0.0.1:9476".into()
}
fn default_resync() -> u64 {
    300
}

impl Default for DaemonSection {
    fn default() -> Self {
        DaemonSection {
            listen: default_listen(),
            resync_seconds: default_resync(),
            default_vpc: default_vpc(),
            allow_mass_removal: false,
        }
    }
}

/// `[kubernetes]`: the API server and the leader-election Lease. Durations
/// as client-go's (`retry < renew deadline < lease duration`, checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesSection {
    /// Credentials: exactly one of `kubeconfig` (with an optional
    /// `context`) or `in_cluster = true`.
    pub kube: KubeSettings,
    pub lease_name: String,
    pub lease_namespace: String,
    /// The daemon's namespace (Kube-OVN's): where the NAT gateway
    /// ConfigMaps `ovn-vpc-nat-config` and `ovn-vpc-nat-gw-config` are
    /// read, and where gateway workloads go by default.
    pub namespace: String,
    /// The holder name written in the Lease; `None`: the host name (see
    /// `KubernetesSection::identity`).
    pub identity: Option<String>,
    pub lease_duration_seconds: u64,
    pub renew_deadline_seconds: u64,
    pub retry_period_seconds: u64,
}

pub const DEFAULT_LEASE_NAME: &str = "ovn-vpcd";
pub const DEFAULT_LEASE_NAMESPACE: &str = "kube-system";
pub const DEFAULT_NAMESPACE: &str = "kube-system";
pub const DEFAULT_LEASE_DURATION: u64 = 15;
pub const DEFAULT_RENEW_DEADLINE: u64 = 10;
pub const DEFAULT_RETRY_PERIOD: u64 = 2;

impl KubernetesSection {
    /// The configured identity, else the host name.
    pub fn identity(&self) -> Result<String, ConfigError> {
        if let Some(id) = &self.identity {
            return Ok(id.clone());
        }
        let mut reasons = vec![];
        for file in [HOSTNAME_FILE, ETC_HOSTNAME] {
            match std::fs::read_to_string(file) {
                Ok(name) if !name.trim().is_empty() => return Ok(name.trim().to_string()),
                Ok(_) => reasons.push(format!("{file}: empty")),
                Err(e) => reasons.push(format!("{file}: {e}")),
            }
        }
        Err(ConfigError::Hostname { reason: reasons.join("; ") })
    }

    pub fn election_config(&self) -> Result<ElectionConfig, ConfigError> {
        Ok(ElectionConfig {
            identity: self.identity()?,
            lease_duration: Duration::from_secs(self.lease_duration_seconds),
            renew_deadline: Duration::from_secs(self.renew_deadline_seconds),
            retry_period: Duration::from_secs(self.retry_period_seconds),
        })
    }
}

/// `[kubernetes]` as written, with positions for error messages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KubernetesFile {
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    #[serde(default)]
    in_cluster: bool,
    lease_name: Option<Spanned<String>>,
    lease_namespace: Option<Spanned<String>>,
    namespace: Option<Spanned<String>>,
    identity: Option<Spanned<String>>,
    lease_duration_seconds: Option<Spanned<u64>>,
    renew_deadline_seconds: Option<Spanned<u64>>,
    retry_period_seconds: Option<Spanned<u64>>,
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
    kubernetes: Option<Spanned<KubernetesFile>>,
    #[serde(default)]
    vpc: Vec<Spanned<VpcSpec>>,
    #[serde(default)]
    subnet: Vec<Spanned<SubnetSpec>>,
    #[serde(default, rename = "vpcNatGateway")]
    vpc_nat_gateway: Vec<Spanned<VpcNatGatewaySpec>>,
    #[serde(default, rename = "iptablesEip")]
    iptables_eip: Vec<Spanned<IptablesEipSpec>>,
    #[serde(default, rename = "iptablesFipRule")]
    iptables_fip_rule: Vec<Spanned<IptablesFipRuleSpec>>,
    #[serde(default, rename = "iptablesDnatRule")]
    iptables_dnat_rule: Vec<Spanned<IptablesDnatRuleSpec>>,
    #[serde(default, rename = "iptablesSnatRule")]
    iptables_snat_rule: Vec<Spanned<IptablesSnatRuleSpec>>,
}

/// A parsed configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub ovn: OvnSection,
    pub daemon: DaemonSection,
    /// `None`: TOML-only, no API server.
    pub kubernetes: Option<KubernetesSection>,
    pub vpcs: Vec<(String, VpcSpec)>,
    pub subnets: Vec<(String, SubnetSpec)>,
    /// `[[vpcNatGateway]]`, `[[iptablesEip]]`, ... (only with `[kubernetes]`).
    pub nat: NatSpecs,
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
        let kubernetes = match file.kubernetes {
            Some(k) => Some(kubernetes_section(k, &at)?),
            None => None,
        };
        let tables = nat::NatFile {
            gateways: file.vpc_nat_gateway,
            eips: file.iptables_eip,
            fips: file.iptables_fip_rule,
            dnats: file.iptables_dnat_rule,
            snats: file.iptables_snat_rule,
        };
        let nat = nat::nat_specs(tables, kubernetes.is_some(), &at)?;
        let mut cfg = Config { ovn: file.ovn, daemon: file.daemon, kubernetes, nat, ..Default::default() };
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
            spec.use_default_vpc(&cfg.daemon.default_vpc);
            cfg.subnets.push((name, spec));
        }
        Ok(cfg)
    }
}

type At<'a> = &'a dyn Fn(Option<Range<usize>>, String) -> ConfigError;

/// Checks `[kubernetes]` and fills in the defaults.
fn kubernetes_section(k: Spanned<KubernetesFile>, at: At) -> Result<KubernetesSection, ConfigError> {
    let section = k.span();
    let k = k.into_inner();
    let here = |field: &Option<Spanned<String>>| Some(field.as_ref().map_or(section.clone(), Spanned::span));
    match (&k.kubeconfig, k.in_cluster) {
        (None, false) => {
            return Err(at(Some(section), "[kubernetes] needs `kubeconfig = \"PATH\"` or `in_cluster = true`".into()))
        }
        (Some(_), true) => {
            return Err(at(
                Some(section),
                "[kubernetes]: `kubeconfig` and `in_cluster = true` exclude each other; set one".into(),
            ))
        }
        _ => {}
    }
    if k.in_cluster && k.context.is_some() {
        return Err(at(Some(section), "[kubernetes]: `context` needs `kubeconfig`, not `in_cluster`".into()));
    }
    let text = |field: &Option<Spanned<String>>, key: &str, default: &str| match field {
        Some(v) if v.get_ref().is_empty() => Err(at(here(field), format!("[kubernetes] `{key}` must not be empty"))),
        Some(v) => Ok(v.get_ref().clone()),
        None => Ok(default.to_string()),
    };
    let lease_name = text(&k.lease_name, "lease_name", DEFAULT_LEASE_NAME)?;
    let lease_namespace = text(&k.lease_namespace, "lease_namespace", DEFAULT_LEASE_NAMESPACE)?;
    let namespace = text(&k.namespace, "namespace", DEFAULT_NAMESPACE)?;
    // An empty holder means "nobody holds the Lease": never a valid identity.
    let identity = match &k.identity {
        Some(_) => Some(text(&k.identity, "identity", "")?),
        None => None,
    };
    let secs = |f: &Option<Spanned<u64>>, default: u64| f.as_ref().map_or(default, |v| *v.get_ref());
    let span = |f: &Option<Spanned<u64>>, other: &Option<Spanned<u64>>| {
        Some(f.as_ref().or(other.as_ref()).map_or(section.clone(), Spanned::span))
    };
    let (lease, renew, retry) = (&k.lease_duration_seconds, &k.renew_deadline_seconds, &k.retry_period_seconds);
    let (lease_s, renew_s, retry_s) =
        (secs(lease, DEFAULT_LEASE_DURATION), secs(renew, DEFAULT_RENEW_DEADLINE), secs(retry, DEFAULT_RETRY_PERIOD));
    if retry_s == 0 {
        return Err(at(span(retry, retry), "[kubernetes] `retry_period_seconds` must be at least 1".into()));
    }
    if retry_s >= renew_s {
        return Err(at(
            span(retry, renew),
            format!(
                "[kubernetes] `retry_period_seconds` ({retry_s}) must be less than `renew_deadline_seconds` ({renew_s})"
            ),
        ));
    }
    if renew_s >= lease_s {
        return Err(at(
            span(renew, lease),
            format!(
                "[kubernetes] `renew_deadline_seconds` ({renew_s}) must be less than `lease_duration_seconds` ({lease_s})"
            ),
        ));
    }
    Ok(KubernetesSection {
        kube: KubeSettings { kubeconfig: k.kubeconfig, context: k.context, in_cluster: k.in_cluster },
        lease_name,
        lease_namespace,
        namespace,
        identity,
        lease_duration_seconds: lease_s,
        renew_deadline_seconds: renew_s,
        retry_period_seconds: retry_s,
    })
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
    fn kubernetes_section_defaults_and_values() {
        let cfg = Config::parse("t.toml", "[ovn]\n").unwrap();
        assert_eq!(cfg.kubernetes, None, "no section: TOML-only");

        let cfg = Config::parse("t.toml", "[kubernetes]\nkubeconfig = \"/etc/k.conf\"\n").unwrap();
        let k = cfg.kubernetes.unwrap();
        assert_eq!(
            k,
            KubernetesSection {
                kube: KubeSettings { kubeconfig: Some("/etc/k.conf".into()), context: None, in_cluster: false },
                lease_name: "ovn-vpcd".into(),
                lease_namespace: "kube-system".into(),
                namespace: "kube-system".into(),
                identity: None,
                lease_duration_seconds: 15,
                renew_deadline_seconds: 10,
                retry_period_seconds: 2,
            }
        );
        // Default identity: just the host name.
        let host = std::fs::read_to_string(HOSTNAME_FILE).unwrap().trim().to_string();
        assert_eq!(k.identity().unwrap(), host);
        let e = k.election_config().unwrap();
        assert_eq!((e.identity, e.lease_duration.as_secs(), e.renew_deadline.as_secs()), (host, 15, 10));
        assert_eq!(e.retry_period, Duration::from_secs(2));

        let text =
            "[kubernetes]\nin_cluster = true\nlease_name = \"l\"\nlease_namespace = \"ns\"\nnamespace = \"vpcd\"\nidentity = \"node-1\"\n\
                    lease_duration_seconds = 30\nrenew_deadline_seconds = 20\nretry_period_seconds = 4\n";
        let k = Config::parse("t.toml", text).unwrap().kubernetes.unwrap();
        assert!(k.kube.in_cluster && k.kube.kubeconfig.is_none());
        assert_eq!((k.lease_name.as_str(), k.lease_namespace.as_str()), ("l", "ns"));
        assert_eq!(k.namespace, "vpcd");
        assert_eq!(k.identity().unwrap(), "node-1");
        assert_eq!((k.lease_duration_seconds, k.renew_deadline_seconds, k.retry_period_seconds), (30, 20, 4));

        let k = Config::parse("t.toml", "[kubernetes]\nkubeconfig = \"k\"\ncontext = \"c\"\n").unwrap().kubernetes;
        assert_eq!(k.unwrap().kube.context.as_deref(), Some("c"));
    }

    #[test]
    fn kubernetes_section_errors_name_line_column_and_field() {
        let err = |text: &str| Config::parse("t.toml", text).unwrap_err().to_string();

        let e = err("[ovn]\n\n[kubernetes]\nkubeconfig = \"k\"\nlease_nmae = \"x\"\n");
        assert!(e.starts_with("t.toml:5:1:") && e.contains("unknown field `lease_nmae`"), "{e}");
        assert!(e.contains("lease_name"), "lists the known keys: {e}");

        let e = err("[kubernetes]\ncontext = \"c\"\n");
        assert!(
            e.starts_with("t.toml:1:") && e.contains("needs `kubeconfig = \"PATH\"` or `in_cluster = true`"),
            "{e}"
        );
        let e = err("[kubernetes]\nkubeconfig = \"k\"\nin_cluster = true\n");
        assert!(e.starts_with("t.toml:1:") && e.contains("exclude each other"), "{e}");
        let e = err("[kubernetes]\nin_cluster = true\ncontext = \"c\"\n");
        assert!(e.contains("`context` needs `kubeconfig`"), "{e}");
        let e = err("[kubernetes]\nin_cluster = \"yes\"\n");
        assert!(e.starts_with("t.toml:2:14:") && e.contains("invalid type: string"), "{e}");

        let e = err("[kubernetes]\nin_cluster = true\nrenew_deadline_seconds = 15\n");
        assert_eq!(
            e,
            "t.toml:3:26: [kubernetes] `renew_deadline_seconds` (15) must be less than `lease_duration_seconds` (15)"
        );
        let e = err("[kubernetes]\nin_cluster = true\nlease_duration_seconds = 8\n");
        assert!(e.starts_with("t.toml:3:26:") && e.contains("`renew_deadline_seconds` (10) must be less"), "{e}");
        let e = err("[kubernetes]\nin_cluster = true\nretry_period_seconds = 10\n");
        assert_eq!(
            e,
            "t.toml:3:24: [kubernetes] `retry_period_seconds` (10) must be less than `renew_deadline_seconds` (10)"
        );
        let e = err("[kubernetes]\nin_cluster = true\nretry_period_seconds = 0\n");
        assert_eq!(e, "t.toml:3:24: [kubernetes] `retry_period_seconds` must be at least 1");
        let e = err("[kubernetes]\nin_cluster = true\nretry_period_seconds = -1\n");
        assert!(e.starts_with("t.toml:3:24:"), "{e}");

        let e = err("[kubernetes]\nin_cluster = true\nidentity = \"\"\n");
        assert_eq!(e, "t.toml:3:12: [kubernetes] `identity` must not be empty");
        let e = err("[kubernetes]\nin_cluster = true\nlease_name = \"\"\n");
        assert_eq!(e, "t.toml:3:14: [kubernetes] `lease_name` must not be empty");
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
