//! `ovn-vpcd gateway`: the agents of the gateway pods.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use ovn_vpcd::gateway::nat::agent::AgentConfig;
use ovn_vpcd::gateway::nat::driver::{self, Options};
use ovn_vpcd::gateway::nat::kernel::Tools;
use ovn_vpcd::kube::client::KubeClient;

#[derive(Subcommand, Debug)]
pub enum GatewayCommand {
    /// The VPC NAT gateway agent: applies its gateway's rule set (FIP, DNAT,
    /// SNAT, EIPs, routes) in this network namespace and reports the digest
    /// applied on its own pod.
    Nat(NatArgs),
}

#[derive(Args, Debug)]
pub struct NatArgs {
    /// The rule set's ConfigMap.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    rules: String,
    /// This pod's name (from the downward API).
    #[arg(long, env = "POD_NAME")]
    pod_name: String,
    /// This pod's namespace (from the downward API).
    #[arg(long, env = "POD_NAMESPACE")]
    pod_namespace: String,
    /// A kubeconfig instead of the pod's service account.
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// Seconds between checks of the kernel against the set (drift repair).
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    recheck_interval: f64,
    /// The iptables to use: `iptables` (the image's alternative, the one an
    /// operator's `iptables -S` shows), `iptables-legacy` or `iptables-nft`.
    #[arg(long, default_value = "iptables")]
    iptables: String,
}

pub async fn run(command: &GatewayCommand) -> anyhow::Result<ExitCode> {
    match command {
        GatewayCommand::Nat(args) => nat(args).await,
    }
}

async fn nat(args: &NatArgs) -> anyhow::Result<ExitCode> {
    let (rules_namespace, rules_name) = args
        .rules
        .split_once('/')
        .filter(|(ns, name)| !ns.is_empty() && !name.is_empty())
        .with_context(|| format!("--rules {:?}: expected NAMESPACE/NAME", args.rules))?;
    if !(args.recheck_interval > 0.0 && args.recheck_interval.is_finite()) {
        anyhow::bail!("--recheck-interval {}: expected a positive number of seconds", args.recheck_interval);
    }
    let client = match &args.kubeconfig {
        Some(path) => KubeClient::from_kubeconfig(path, None)?,
        None => KubeClient::in_cluster()?,
    };
    let opts = Options {
        rules_namespace: rules_namespace.into(),
        rules_name: rules_name.into(),
        pod_namespace: args.pod_namespace.clone(),
        pod_name: args.pod_name.clone(),
        agent: AgentConfig { recheck: Duration::from_secs_f64(args.recheck_interval), ..AgentConfig::default() },
        tools: Tools { iptables: args.iptables.clone(), ..Tools::default() },
    };
    driver::run(Arc::new(client), opts).await?;
    Ok(ExitCode::FAILURE)
}
