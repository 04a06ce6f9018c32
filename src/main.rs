//! The `ovn-vpcd` binary.
#![forbid(unsafe_code)]

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "ovn-vpcd", version, about = "Kube-OVN tenant VPC networking for OVN")]
struct Cli {
    /// Log format.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Inspect the northbound database through ovn-vpcd's monitored cache.
    Nb {
        #[command(flatten)]
        db: cmd::nb::DbArgs,
        #[command(subcommand)]
        command: cmd::nb::NbCommand,
    },
    /// Show the northbound changes the configuration would make, without writing.
    /// Exit status: 0 nothing to change, 2 changes pending, 1 error or refused
    /// (an object, or a mass removal without --allow-mass-removal).
    Plan(cmd::vpc::PassArgs),
    /// Reconcile the northbound database with the configuration once.
    Apply(cmd::vpc::PassArgs),
    /// The daemon: keep the northbound database converged with the configuration.
    Run(cmd::vpc::RunArgs),
    /// The agents of gateway pods (`gateway nat --rules NAMESPACE/NAME`).
    Gateway {
        #[command(subcommand)]
        command: cmd::gateway::GatewayCommand,
    },
    /// Print the kubeovn.io/v1 CRD manifests (for `kubectl apply -f -`).
    Crds {
        /// Instead, write each as JSON into this directory (for the testbed API server).
        #[arg(long)]
        json_dir: Option<std::path::PathBuf>,
    },
}

fn crds(json_dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    use anyhow::Context;
    use ovn_vpcd::kube::crds;
    let Some(dir) = json_dir else {
        print!("{}", crds::yaml());
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    for (plural, yaml) in crds::CRDS {
        let path = dir.join(format!("{plural}.json"));
        let json = serde_json::to_string_pretty(&crds::to_json(yaml)?)?;
        std::fs::write(&path, json).with_context(|| path.display().to_string())?;
    }
    Ok(())
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OVN_VPCD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// For the daemon (`run`), one runtime worker unless `TOKIO_WORKER_THREADS`
/// says otherwise; the other commands keep tokio's default. The daemon's
/// loop runs on the main thread, which blocks on it (`daemon::run`: its
/// allocations stay in one glibc arena); the worker carries the I/O (the
/// watches, the store, the reporter, the NB connection). Two threads, so
/// the reporter's writes never wait behind a pass, and no worker wakes
/// another to steal work (`kube_10k_pods`: 0.39-0.43 ms of CPU per pod
/// against 0.49-0.50 with two workers; BENCHMARKS.md).
fn runtime(daemon: bool) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if daemon && std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    builder.enable_all().build()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_format);
    match runtime(matches!(cli.command, Command::Run(_))) {
        Ok(rt) => rt.block_on(run(cli)),
        Err(e) => {
            eprintln!("ovn-vpcd: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Nb { db, command } => cmd::nb::run(db, command).await.map(|()| ExitCode::SUCCESS),
        Command::Plan(args) => cmd::vpc::plan(args).await,
        Command::Apply(args) => cmd::vpc::apply(args).await,
        Command::Run(args) => cmd::vpc::run(args).await,
        Command::Gateway { command } => cmd::gateway::run(command).await,
        Command::Crds { json_dir } => crds(json_dir.as_deref()).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("ovn-vpcd: {}", message(&e));
        ExitCode::from(1)
    })
}

/// The error and its causes, each said once: many of our errors already
/// carry their source's text, which `{:#}` would print a second time.
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}
