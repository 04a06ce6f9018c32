//! `ovn-vpcd plan` and `ovn-vpcd apply`: one reconcile pass of the TOML config
//! and, with a `[kubernetes]` section, of the resources and pods as listed now
//! (the same desired state the daemon would reconcile).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use ovn_vpcd::config::{self, Config};
use ovn_vpcd::daemon::inputs::Desired;
use ovn_vpcd::daemon::pods::PodPorts;
use ovn_vpcd::kube::client::KubeClient;
use ovn_vpcd::kube::resources::list_store;
use ovn_vpcd::ovsdb::Client;
use ovn_vpcd::reconcile;
use ovn_vpcd::reconcile::removal::{self, MassRemoval, Owned};

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

/// `plan` and `apply`.
#[derive(clap::Args, Debug)]
pub struct PassArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Allow a pass that removes most tenants at once (as `[daemon] allow_mass_removal = true`).
    #[arg(long)]
    pub allow_mass_removal: bool,
}

/// The mass removal this pass would make without the operator's word.
fn mass_removal(args: &PassArgs, cfg: &Config, d: &Desired, client: &Client) -> Option<MassRemoval> {
    if args.allow_mass_removal || cfg.daemon.allow_mass_removal {
        return None;
    }
    removal::judge(&Owned::of(&client.cache()), &d.model, &d.rejected, &d.merged.deleting)
}

async fn connect(args: &ConfigArgs) -> Result<(Config, Client)> {
    let cfg = Config::load(&args.config)?;
    let cc = cfg.client_config(args.db.as_deref())?;
    let client = Client::connect(cc, Duration::from_secs(args.timeout))
        .await
        .context("connecting to the northbound database")?;
    Ok((cfg, client))
}

/// The desired state: the TOML, plus the resources listed once when the
/// config has a `[kubernetes]` section (else their rows would look stale).
async fn desired(cfg: &Config, client: &Client) -> Result<Desired> {
    let store = match &cfg.kubernetes {
        Some(k) => {
            let kube = KubeClient::from_settings(&k.kube).context("kubernetes client")?;
            let mut store = list_store(&kube).await.context("listing Vpc, Subnet and Pod resources")?;
            let toml = cfg.nat.gateways.iter().map(|(n, _)| n.clone()).collect();
            ovn_vpcd::kube::resources::set_toml_gateways(&mut store, toml);
            Some(store)
        }
        None => None,
    };
    let d = Desired::after(None, cfg, store.as_ref(), &mut PodPorts::default(), Some(client), None);
    for r in &d.merged.refused {
        eprintln!("resource refused: {r}");
    }
    Ok(d)
}

fn report_rejections(rejected: &[ovn_vpcd::model::validate::Rejection]) {
    for r in rejected {
        eprintln!("refused: {r}");
    }
}

/// Prints the changes; exit 0 = nothing to change, 2 = changes pending, 1 = error
/// or refused (an object, or a mass removal without the operator's word).
pub async fn plan(args: &PassArgs) -> Result<ExitCode> {
    let (cfg, client) = connect(&args.config).await?;
    let d = desired(&cfg, &client).await?;
    let plan = reconcile::plan_in(&d.model, &d.derived, &d.rejected, &client.cache(), &reconcile::Scope::All);
    print!("{plan}");
    for n in &d.model.notices {
        eprintln!("note: {n}");
    }
    report_rejections(&d.rejected);
    let removal = mass_removal(args, &cfg, &d, &client);
    if let Some(m) = &removal {
        eprintln!("refused: {m}");
    }
    Ok(if !d.rejected.is_empty() || removal.is_some() {
        ExitCode::from(1)
    } else if plan.is_empty() {
        eprintln!("no changes");
        ExitCode::SUCCESS
    } else {
        eprintln!("{} changes pending", plan.changes.len());
        ExitCode::from(2)
    })
}

/// Reconciles once; exit 0 when converged with nothing refused. A mass
/// removal without the operator's word writes nothing. The last line sums
/// up what was applied and what was refused.
pub async fn apply(args: &PassArgs) -> Result<ExitCode> {
    let (cfg, client) = connect(&args.config).await?;
    let d = desired(&cfg, &client).await?;
    for n in &d.model.notices {
        eprintln!("note: {n}");
    }
    if let Some(m) = mass_removal(args, &cfg, &d, &client) {
        eprintln!("refused: {m}");
        eprintln!("applied: 0 changes; mass removal refused, nothing written");
        return Ok(ExitCode::from(1));
    }
    let applied = reconcile::apply(&d.model, &d.derived, &d.rejected, &client, &reconcile::Scope::All).await?;
    report_rejections(&applied.rejected);
    Ok(if applied.rejected.is_empty() {
        eprintln!("converged: {} changes applied", applied.changes);
        ExitCode::SUCCESS
    } else {
        let refused = applied.rejected.len();
        eprintln!("applied: {} changes; {refused} objects refused, their rows left as they are", applied.changes);
        ExitCode::from(1)
    })
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address for /healthz, /readyz and /metrics; overrides `[daemon] listen` ("" disables).
    #[arg(long)]
    pub listen: Option<String>,
}

/// The daemon.
pub async fn run(args: &RunArgs) -> Result<ExitCode> {
    ovn_vpcd::daemon::run(ovn_vpcd::daemon::RunOptions {
        config_path: args.config.config.clone(),
        db_override: args.config.db.clone(),
        listen: args.listen.clone(),
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
