//! `ovn-vpcd plan` and `ovn-vpcd apply`: one reconcile pass of the TOML config.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ovn_vpcd::config::{self, Config};
use ovn_vpcd::ovsdb::{Client, ClientConfig, Remote, TlsFiles};
use ovn_vpcd::{nb, reconcile};

#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    /// The configuration file.
    #[arg(long, default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Northbound remotes; overrides `[ovn] nb_db`, which overrides $OVN_NB_DB.
    #[arg(long)]
    pub db: Option<String>,
    /// Seconds to wait for the northbound connection.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

pub const DEFAULT_NB: &str = "unix:/var/run/ovn/ovnnb_db.sock";

/// The client configuration for a config file (and an optional override).
pub fn client_config(cfg: &Config, db_override: Option<&str>) -> Result<ClientConfig> {
    let env = std::env::var("OVN_NB_DB").ok();
    let db = db_override.or(cfg.ovn.nb_db.as_deref()).or(env.as_deref()).unwrap_or(DEFAULT_NB);
    let remotes = Remote::parse_list(db, ovn_vpcd::ovsdb::remote::NB_PORT)?;
    let mut c = ClientConfig::new(remotes, nb::DATABASE, nb::monitor_specs());
    c.require = nb::required_columns();
    let o = &cfg.ovn;
    c.tls = match (&o.private_key, &o.certificate, &o.ca_cert) {
        (None, None, None) => None,
        (Some(k), Some(cert), Some(ca)) => {
            Some(TlsFiles { private_key: k.clone(), certificate: cert.clone(), ca_cert: ca.clone() })
        }
        _ => bail!("[ovn]: TLS needs all three of private_key, certificate and ca_cert"),
    };
    Ok(c)
}

async fn connect(args: &ConfigArgs) -> Result<(Config, Client)> {
    let cfg = Config::load(&args.config)?;
    let cc = client_config(&cfg, args.db.as_deref())?;
    let client = Client::connect(cc, Duration::from_secs(args.timeout))
        .await
        .context("connecting to the northbound database")?;
    Ok((cfg, client))
}

fn report_rejections(rejected: &[ovn_vpcd::model::validate::Rejection]) {
    for r in rejected {
        eprintln!("refused: {r}");
    }
}

/// Prints the changes; exit 0 = nothing to change, 2 = changes pending, 1 = error.
pub async fn plan(args: &ConfigArgs) -> Result<ExitCode> {
    let (cfg, client) = connect(args).await?;
    let pass = reconcile::plan(&cfg.vpcs, &cfg.subnets, &client);
    print!("{}", pass.plan);
    report_rejections(&pass.rejected);
    Ok(if !pass.rejected.is_empty() {
        ExitCode::from(1)
    } else if pass.plan.is_empty() {
        eprintln!("no changes");
        ExitCode::SUCCESS
    } else {
        eprintln!("{} changes pending", pass.plan.changes.len());
        ExitCode::from(2)
    })
}

/// Reconciles once; exit 0 when converged with nothing refused.
pub async fn apply(args: &ConfigArgs) -> Result<ExitCode> {
    let (cfg, client) = connect(args).await?;
    let (rejected, n) = reconcile::apply(&cfg.vpcs, &cfg.subnets, &client).await?;
    eprintln!("converged: {n} changes applied");
    report_rejections(&rejected);
    Ok(if rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
