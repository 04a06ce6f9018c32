//! Rust side of `testbed/`: gives each test (and benchmark) its own real OVN,
//! started by `testbed/ovn.sh` in a scratch directory and stopped, by pid, when
//! dropped. Used by tests and benches only; the daemon never calls it.

pub mod cluster;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error("{cmd}: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("{cmd} failed ({status}):\n{output}")]
    Failed { cmd: String, status: String, output: String },
    #[error("testbed env file lacks {0}")]
    MissingKey(String),
}

/// The repository's `testbed/` directory.
pub fn testbed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed")
}

/// Runs a command, returning stdout or an error carrying stdout and stderr.
pub fn run(cmd: &mut Command) -> Result<String, TestbedError> {
    let name = format!("{cmd:?}");
    let out = cmd.output().map_err(|source| TestbedError::Spawn { cmd: name.clone(), source })?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(TestbedError::Failed {
            cmd: name,
            status: out.status.to_string(),
            output: format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
        });
    }
    Ok(text)
}

/// One running OVN (standalone or 3-member RAFT NB, optional dataplane).
pub struct Ovn {
    dir: PathBuf,
    env: HashMap<String, String>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Ovn {
    /// Standalone NB + SB + northd.
    pub fn start() -> Result<Ovn, TestbedError> {
        Ovn::start_with(&[])
    }

    /// `flags` are passed to `ovn.sh start` (`--raft`, `--dataplane`, `--no-northd`).
    pub fn start_with(flags: &[&str]) -> Result<Ovn, TestbedError> {
        // Short path: unix socket names are limited to 108 bytes.
        let dir =
            std::env::temp_dir().join(format!("ovt{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&dir);
        let mut ovn = Ovn { dir, env: HashMap::new() };
        ovn.script(&["start"], flags)?;
        ovn.reload_env()?;
        Ok(ovn)
    }

    fn script(&self, sub: &[&str], extra: &[&str]) -> Result<String, TestbedError> {
        let mut c = Command::new(testbed_dir().join("ovn.sh"));
        c.arg(sub[0]).arg(&self.dir).args(&sub[1..]).args(extra);
        run(&mut c)
    }

    fn reload_env(&mut self) -> Result<(), TestbedError> {
        let text = std::fs::read_to_string(self.dir.join("env"))
            .map_err(|source| TestbedError::Spawn { cmd: "read env".into(), source })?;
        self.env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A key of the testbed's env file (`NB_UNIX`, `NB_TCP`, `NB_DB`, ...).
    pub fn get(&self, key: &str) -> Result<&str, TestbedError> {
        self.env.get(key).map(String::as_str).ok_or_else(|| TestbedError::MissingKey(key.into()))
    }
    pub fn nb_unix(&self) -> &str {
        self.get("NB_UNIX").expect("NB_UNIX")
    }
    pub fn nb_tcp(&self) -> &str {
        self.get("NB_TCP").expect("NB_TCP")
    }
    /// The remote a client should use (all members, for RAFT).
    pub fn nb_db(&self) -> &str {
        self.get("NB_DB").expect("NB_DB")
    }

    /// SIGKILLs one member (`nb`, `sb`, `nb1`.., `northd`).
    pub fn kill(&self, member: &str) -> Result<(), TestbedError> {
        self.script(&["kill", member], &[]).map(drop)
    }
    /// Starts a killed member again, same files and ports.
    pub fn restart(&self, member: &str) -> Result<(), TestbedError> {
        self.script(&["restart", member], &[]).map(drop)
    }
    /// The current RAFT leader's member name.
    pub fn leader(&self) -> Result<String, TestbedError> {
        self.script(&["leader"], &[]).map(|s| s.trim().to_string())
    }

    /// Runs `ovn-nbctl --db=<NB_DB> args...` (leader-only, as by default).
    pub fn nbctl(&self, args: &[&str]) -> Result<String, TestbedError> {
        let mut c = Command::new("ovn-nbctl");
        c.arg(format!("--db={}", self.nb_db())).arg("--timeout=20").args(args);
        run(&mut c)
    }
}

impl Drop for Ovn {
    fn drop(&mut self) {
        if let Err(e) = self.script(&["stop"], &[]) {
            eprintln!("testbed stop failed: {e}");
        }
        if std::env::var_os("OVN_VPCD_KEEP_TESTBED").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The testbed Kubernetes API server (`testbed/kube/kube.sh`), one per test.
pub struct Kube {
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Kube {
    /// Starts it with the CRDs of `crds_dir` (JSON files) and extra
    /// `apiserver.py` flags.
    pub fn start(crds_dir: Option<&Path>, flags: &[&str]) -> Result<Kube, TestbedError> {
        let dir =
            std::env::temp_dir().join(format!("kt{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&dir);
        let mut c = Command::new(testbed_dir().join("kube/kube.sh"));
        c.arg("start").arg(&dir);
        if let Some(crds) = crds_dir {
            c.arg("--crds").arg(crds);
        }
        c.args(flags);
        run(&mut c)?;
        let text = std::fs::read_to_string(dir.join("env"))
            .map_err(|source| TestbedError::Spawn { cmd: "read kube env".into(), source })?;
        let env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Ok(Kube { dir, env })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn get(&self, key: &str) -> Result<&str, TestbedError> {
        self.env.get(key).map(String::as_str).ok_or_else(|| TestbedError::MissingKey(key.into()))
    }
    pub fn kubeconfig(&self) -> PathBuf {
        PathBuf::from(self.get("KUBECONFIG").expect("KUBECONFIG"))
    }

    /// Restarts the server on the same port with the same credentials; its
    /// state (and resourceVersion counter) starts afresh.
    pub fn restart(&self) -> Result<(), TestbedError> {
        let mut c = Command::new(testbed_dir().join("kube/kube.sh"));
        c.arg("restart").arg(&self.dir);
        run(&mut c).map(drop)
    }

    /// Runs Debian's kubectl against this server.
    pub fn kubectl(&self, args: &[&str]) -> Result<String, TestbedError> {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig").arg(self.kubeconfig()).arg("--cache-dir").arg(self.dir.join("kubecache")).args(args);
        run(&mut c)
    }
}

impl Drop for Kube {
    fn drop(&mut self) {
        let mut c = Command::new(testbed_dir().join("kube/kube.sh"));
        c.arg("stop").arg(&self.dir);
        if let Err(e) = run(&mut c) {
            eprintln!("kube testbed stop failed: {e}");
        }
        if std::env::var_os("OVN_VPCD_KEEP_TESTBED").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
