//! The NAT agent's kernel side, I/O: reads the pod's tables, addresses and
//! routes, and applies a set's diff — one `ip -force -batch -`, one
//! `iptables-restore --noflush`, a `conntrack -D` per DNAT or FIP removed,
//! and `arping` for each EIP added (in the background: three ARPs a
//! second apart must not hold the apply up). What to change is decided by
//! the pure `iptables` and `net` modules; this module only runs the tools.
//!
//! The whole set is checked (rendered) before anything changes: a set that
//! cannot be rendered changes nothing. Once it is, the two steps —
//! addresses and routes, the nat and mangle tables — are independent: one
//! bad route (or any line the kernel refuses) never takes the NAT rules
//! down with it. `ip -force` runs every line it can (it exits non-zero if
//! any failed); the tables are applied whatever the net step did; the
//! apply is an error (naming each failed line) when either step failed,
//! so the agent does not report the set's digest as applied and retries
//! it (`agent.rs`).
//!
//! Forwarding (`net.ipv4.ip_forward`) is the pod's privileged init
//! container's job ([`FORWARDING_INIT_CONTAINER`]): this container is not
//! privileged, and a container runtime mounts `/proc/sys` read-only in it.
//! The agent reads it at each apply and writes it only when it is 0 (a
//! testbed's container, or a node whose namespace was reset); a write that
//! fails is the apply's error, naming the sysctl and the init container,
//! and changes nothing else. Forwarding already on never writes.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::net::{self, Arping};
use super::{iptables, NatError};
use crate::rules::nat::{NatRuleSet, EXTERNAL_INTERFACE, FORWARDING_INIT_CONTAINER};

/// The longest a tool may run (an `iptables-restore` of thousands of rules
/// takes well under a second).
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(transparent)]
    Nat(#[from] NatError),
    #[error("`{cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("`{cmd}` exited with {status}: {stderr}")]
    Failed { cmd: String, status: String, stderr: String },
    /// Lines of the net step the kernel refused (the others were applied).
    #[error("`ip -force -batch -`: {} failed (the other lines applied): {}", lines(failed.len()), failed.join("; "))]
    NetLines { failed: Vec<String> },
    /// Both steps failed (addresses and routes, the tables).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; and "))]
    Steps(Vec<KernelError>),
    #[error("`{cmd}` did not finish within {TOOL_TIMEOUT:?}")]
    Timeout { cmd: String },
    #[error("reading net.ipv4.ip_forward ({path}): {source}")]
    Sysctl { path: String, source: std::io::Error },
    #[error(
        "net.ipv4.ip_forward is off and this container cannot switch it on ({path}: {source}): \
         the pod's privileged init container `{FORWARDING_INIT_CONTAINER}` does, before the agent starts \
         (is it in the pod, and did it run?)"
    )]
    Forwarding { path: String, source: std::io::Error },
}

/// The tools and where forwarding is switched on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tools {
    /// `iptables` (the image's alternative, the one `iptables -S` shows)
    /// or `iptables-legacy` / `iptables-nft`; `-save` and `-restore` are
    /// appended.
    pub iptables: String,
    pub ip: String,
    pub conntrack: String,
    pub arping: String,
    /// `net.ipv4.ip_forward` of this network namespace.
    pub ip_forward: PathBuf,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            iptables: "iptables".into(),
            ip: "ip".into(),
            conntrack: "conntrack".into(),
            arping: "arping".into(),
            ip_forward: PathBuf::from("/proc/sys/net/ipv4/ip_forward"),
        }
    }
}

/// What an apply changed (all zero: the kernel already held the set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub restore_lines: usize,
    pub net_lines: usize,
    pub conntrack_flushes: usize,
    pub announced: usize,
    pub forwarding_enabled: bool,
}

impl Changes {
    pub fn any(&self) -> bool {
        *self != Changes::default()
    }
}

pub struct Kernel {
    tools: Tools,
    arping: Option<Arping>,
    /// Every EIP is announced once per process (a restarted container may
    /// have a new MAC behind the same addresses, #4690); later only those
    /// added.
    announced_all: bool,
}

async fn run(program: &str, args: &[String], stdin: Option<&str>) -> Result<String, KernelError> {
    let cmd = std::iter::once(program.to_string()).chain(args.iter().cloned()).collect::<Vec<_>>().join(" ");
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| KernelError::Spawn { cmd: cmd.clone(), source })?;
    let work = async {
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).await?;
        }
        child.wait_with_output().await
    };
    let out = match tokio::time::timeout(TOOL_TIMEOUT, work).await {
        Err(_) => return Err(KernelError::Timeout { cmd }),
        Ok(Err(source)) => return Err(KernelError::Spawn { cmd, source }),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        return Err(KernelError::Failed {
            cmd,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// "1 line", "2 lines".
fn lines(n: usize) -> String {
    format!("{n} line{}", if n == 1 { "" } else { "s" })
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Kernel {
    /// Finds which `arping` is installed (none: no announcements, said once).
    pub async fn new(tools: Tools) -> Kernel {
        let help = Command::new(&tools.arping).arg("--help").stdin(Stdio::null()).output().await;
        let arping = match help {
            Ok(out) => {
                let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                Some(Arping::from_help(&text))
            }
            Err(e) => {
                tracing::warn!(arping = %tools.arping, error = %e, "no arping: EIPs will not be announced");
                None
            }
        };
        Kernel { tools, arping, announced_all: false }
    }

    /// Brings the namespace to `set`: forwarding, addresses and routes,
    /// the nat and mangle tables, conntrack and announcements. The two
    /// steps are independent: addresses and routes failing (a line the
    /// kernel refuses) never keeps the tables from being applied, nor the
    /// other way round; whatever failed is the error, after both ran.
    pub async fn apply(&mut self, set: &NatRuleSet) -> Result<Changes, KernelError> {
        let rules = iptables::desired(set)?;
        net::desired_routes(set)?;
        let mut changes = Changes { forwarding_enabled: self.enable_forwarding()?, ..Changes::default() };
        let mut failed = vec![];
        let added = match self.apply_net(set).await {
            Ok((plan, lines, error)) => {
                changes.net_lines = lines;
                failed.extend(error);
                plan.announce
            }
            Err(e) => {
                failed.push(e);
                vec![]
            }
        };
        match self.apply_tables(&rules).await {
            Ok((lines, flushes)) => (changes.restore_lines, changes.conntrack_flushes) = (lines, flushes),
            Err(e) => failed.push(e),
        }
        changes.announced = self.announce(set, added);
        match failed.len() {
            0 => Ok(changes),
            1 => Err(failed.remove(0)),
            _ => Err(KernelError::Steps(failed)),
        }
    }

    /// `net1`'s addresses and our routes: read, diffed, changed in one
    /// `ip -force -batch -` (every line it can). The plan, the lines run,
    /// and the lines that failed; `Err` when nothing could be read or run.
    async fn apply_net(&self, set: &NatRuleSet) -> Result<(net::NetPlan, usize, Option<KernelError>), KernelError> {
        let t = &self.tools;
        let addresses =
            net::parse_addresses(&run(&t.ip, &args(&["-j", "addr", "show", "dev", EXTERNAL_INTERFACE]), None).await?)?;
        let proto = net::ROUTE_PROTO.to_string();
        let routes = net::parse_routes(
            &run(&t.ip, &args(&["-j", "route", "show", "table", "main", "proto", &proto]), None).await?,
        )?;
        let plan = net::plan(set, &addresses, &routes)?;
        let batch = plan.batch();
        if batch.is_empty() {
            return Ok((plan, 0, None));
        }
        let mut input = batch.join("\n");
        input.push('\n');
        let error = match run(&t.ip, &args(&["-force", "-batch", "-"]), Some(&input)).await {
            Ok(_) => None,
            Err(KernelError::Failed { cmd, status, stderr }) => match net::batch_failures(&batch, &stderr) {
                lines if lines.is_empty() => Some(KernelError::Failed { cmd, status, stderr }),
                lines => Some(KernelError::NetLines { failed: lines }),
            },
            Err(e) => return Err(e),
        };
        Ok((plan, batch.len(), error))
    }

    /// The nat and mangle tables: read, diffed, changed in one
    /// `iptables-restore --noflush`, then the conntrack entries of the
    /// rules removed flushed. The lines restored and the flushes.
    async fn apply_tables(&self, rules: &[iptables::TableRules; 2]) -> Result<(usize, usize), KernelError> {
        let t = &self.tools;
        let saved = iptables::parse_save(&run(&format!("{}-save", t.iptables), &[], None).await?)?;
        let tables = iptables::plan(rules, &saved);
        let mut lines = 0;
        if let Some(input) = &tables.restore {
            run(&format!("{}-restore", t.iptables), &args(&["-w", "5", "--noflush"]), Some(input)).await?;
            lines = input.lines().count();
        }
        let mut flushes = 0;
        for f in &tables.flushes {
            // `conntrack -D` exits 1 when no entry matched: not a failure.
            match run(&t.conntrack, &f.args(), None).await {
                Ok(_) | Err(KernelError::Failed { .. }) => flushes += 1,
                Err(e) => tracing::warn!(error = %e, "conntrack flush failed"),
            }
        }
        Ok((lines, flushes))
    }

    /// Gratuitous ARP for the EIPs `added` (every EIP of `set` the first
    /// time in this process), in the background; how many.
    fn announce(&mut self, set: &NatRuleSet, added: Vec<std::net::Ipv4Addr>) -> usize {
        let announce = if self.announced_all { added } else { set.eips.iter().map(|e| e.ip).collect() };
        self.announced_all = true;
        let Some(flavour) = self.arping else { return 0 };
        for &ip in &announce {
            let (program, a) = (self.tools.arping.clone(), flavour.announce_args(ip));
            // arping exits 1 when nobody answers, as no one does to an
            // unsolicited ARP: only a failure to run it is worth a word.
            tokio::spawn(async move {
                if let Err(e @ (KernelError::Spawn { .. } | KernelError::Timeout { .. })) =
                    run(&program, &a, None).await
                {
                    tracing::warn!(%ip, error = %e, "gratuitous ARP failed");
                }
            });
        }
        announce.len()
    }

    /// `net.ipv4.ip_forward = 1` in this namespace; `true` if it was off.
    fn enable_forwarding(&self) -> Result<bool, KernelError> {
        let path = &self.tools.ip_forward;
        let shown = || path.display().to_string();
        let now = std::fs::read_to_string(path).map_err(|source| KernelError::Sysctl { path: shown(), source })?;
        if now.trim() == "1" {
            return Ok(false);
        }
        std::fs::write(path, "1\n").map_err(|source| KernelError::Forwarding { path: shown(), source })?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(ip_forward: &str) -> Kernel {
        Kernel {
            tools: Tools { ip_forward: ip_forward.into(), ..Tools::default() },
            arping: None,
            announced_all: false,
        }
    }

    /// A sysctl that cannot be written (as `/proc/sys` in an unprivileged
    /// container): the error names the sysctl and the init container.
    #[test]
    fn a_forwarding_write_that_fails_names_the_init_container() {
        // Mode 0444 in /proc/sys: not writable even by root, and not "1".
        let e = kernel("/proc/sys/kernel/osrelease").enable_forwarding().unwrap_err();
        assert!(matches!(e, KernelError::Forwarding { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.starts_with("net.ipv4.ip_forward is off and this container cannot switch it on"), "{text}");
        assert!(text.contains("/proc/sys/kernel/osrelease: Permission denied"), "{text}");
        assert!(text.contains("privileged init container `init-forwarding`"), "{text}");
    }

    /// Forwarding already on (the init container ran): read, never written.
    #[test]
    fn forwarding_already_on_is_not_written() {
        let dir = std::env::temp_dir().join(format!("ovn-vpcd-fwd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let on = dir.join("on");
        std::fs::write(&on, "1\n").unwrap();
        let mut perms = std::fs::metadata(&on).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&on, perms).unwrap();
        let before = std::fs::metadata(&on).unwrap().modified().unwrap();
        assert!(!kernel(on.to_str().unwrap()).enable_forwarding().unwrap());
        assert_eq!(std::fs::metadata(&on).unwrap().modified().unwrap(), before);
        let off = dir.join("off");
        std::fs::write(&off, "0\n").unwrap();
        assert!(kernel(off.to_str().unwrap()).enable_forwarding().unwrap());
        assert_eq!(std::fs::read_to_string(&off).unwrap(), "1\n");
        let e = kernel(dir.join("missing").to_str().unwrap()).enable_forwarding().unwrap_err();
        assert!(e.to_string().starts_with("reading net.ipv4.ip_forward ("), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The gateway image (the repository's Containerfile) installs the
    /// Debian package of every tool the agent runs by default.
    #[test]
    fn the_containerfile_installs_every_tool_the_agent_runs() {
        let text = include_str!("../../../Containerfile");
        let install = text.lines().find(|l| l.contains("apt-get install")).expect("an apt-get install line");
        let packages: Vec<&str> = install.split_whitespace().filter(|w| !w.starts_with('-')).collect();
        let t = Tools::default();
        for (tool, package) in
            [(&t.iptables, "iptables"), (&t.ip, "iproute2"), (&t.conntrack, "conntrack"), (&t.arping, "arping")]
        {
            assert!(packages.contains(&package), "{tool} comes from Debian's {package}, not installed: {install}");
        }
        assert!(text.contains("COPY --from=build /src/target/release/ovn-vpcd /usr/bin/ovn-vpcd"), "{text}");
    }
}
