//! `ovn-vpcd nb`: what the monitored northbound cache holds.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ovn_vpcd::nb;
use ovn_vpcd::ovsdb::{Client, ClientConfig, MonitorSpec, Remote, TableCache, TlsFiles};

#[derive(clap::Args, Debug)]
pub struct DbArgs {
    /// Northbound remotes in OVN syntax (tcp:IP:PORT, ssl:IP:PORT, unix:PATH, comma-separated).
    #[arg(long, env = "OVN_NB_DB", default_value = "unix:/var/run/ovn/ovnnb_db.sock")]
    pub db: String,
    /// Private key for ssl: remotes (as ovn-nbctl -p).
    #[arg(short = 'p', long)]
    pub private_key: Option<std::path::PathBuf>,
    /// Certificate for ssl: remotes (as ovn-nbctl -c).
    #[arg(short = 'c', long)]
    pub certificate: Option<std::path::PathBuf>,
    /// CA certificate for ssl: remotes (as ovn-nbctl -C).
    #[arg(short = 'C', long)]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Seconds to wait for the connection and the initial monitor.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

impl DbArgs {
    pub fn tls(&self) -> Result<Option<TlsFiles>> {
        match (&self.private_key, &self.certificate, &self.ca_cert) {
            (None, None, None) => Ok(None),
            (Some(k), Some(c), Some(ca)) => {
                Ok(Some(TlsFiles { private_key: k.clone(), certificate: c.clone(), ca_cert: ca.clone() }))
            }
            _ => bail!("TLS needs all three of --private-key, --certificate and --ca-cert"),
        }
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum NbCommand {
    /// Lists the monitored tables with their row counts.
    Tables,
    /// Prints every cached row of TABLE, as `ovn-nbctl list` does.
    Dump { table: String },
}

pub async fn run(db: &DbArgs, cmd: &NbCommand) -> Result<()> {
    let remotes = Remote::parse_list(&db.db, ovn_vpcd::ovsdb::remote::NB_PORT)?;
    let mut specs = nb::monitor_specs();
    if let NbCommand::Dump { table } = cmd {
        if !specs.iter().any(|s| &s.table == table) {
            specs.push(MonitorSpec::all(table));
        }
    }
    let mut cfg = ClientConfig::new(remotes, nb::DATABASE, specs);
    cfg.tls = db.tls()?;
    cfg.require = nb::required_columns();
    let client = Client::connect(cfg, Duration::from_secs(db.timeout))
        .await
        .with_context(|| format!("connecting to {}", db.db))?;
    let cache = client.cache();
    let out = match cmd {
        NbCommand::Tables => {
            let mut s = String::new();
            for t in cache.tables() {
                writeln!(s, "{:<30} {:>8} rows  {} columns", t.name(), t.len(), t.columns().len())?;
            }
            s
        }
        NbCommand::Dump { table } => dump(cache.table(table).with_context(|| format!("no table {table}"))?),
    };
    print!("{out}");
    Ok(())
}

/// Rows sorted by uuid, columns sorted by name, `ovn-nbctl list` style.
pub fn dump(t: &TableCache) -> String {
    let mut rows: Vec<_> = t.iter().collect();
    rows.sort_by_key(|r| r.uuid);
    let width = t.columns().iter().map(String::len).max().unwrap_or(5).max(5);
    let mut s = String::with_capacity(rows.len() * 128);
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let _ = writeln!(s, "{:<width$} : {}", "_uuid", r.uuid);
        let mut cols: Vec<_> = r.columns().collect();
        cols.sort_by_key(|(c, _)| *c);
        for (c, v) in cols {
            // Like ovn-nbctl: sets in brackets even with one element.
            let scalar = t.column_type(c).is_some_and(|ty| ty.is_scalar());
            match v.atoms() {
                [one] if !scalar => {
                    let _ = writeln!(s, "{c:<width$} : [{one}]");
                }
                _ => {
                    let _ = writeln!(s, "{c:<width$} : {v}");
                }
            }
        }
    }
    s
}
