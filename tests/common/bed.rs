//! One real OVN (no northd) and a config file beside it, for the tests that
//! drive `ovn-vpcd plan/apply` and check the NB with ovn-nbctl.

use std::path::PathBuf;
use std::process::{Command, Output};

use ovn_vpcd::testbed::Ovn;

/// One tenant: VPC `vb` with subnet `vb-net` (10.0.4.0/24).
pub const ONE_TENANT: &str = r#"
[[vpc]]
name = "vb"
[[subnet]]
name = "vb-net"
vpc = "vb"
cidrBlock = "10.0.4.0/24"
"#;

pub struct Bed {
    pub ovn: Ovn,
    pub config: PathBuf,
}

impl Bed {
    pub fn new() -> Bed {
        let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
        let config = ovn.dir().join("ovn-vpcd.toml");
        Bed { ovn, config }
    }

    pub fn write(&self, toml: &str) {
        std::fs::write(&self.config, toml).unwrap();
    }

    pub fn vpcd(&self, cmd: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
            .args([cmd, "--config"])
            .arg(&self.config)
            .args(["--db", self.ovn.nb_unix()])
            .output()
            .unwrap()
    }

    pub fn apply_ok(&self) {
        let out = self.vpcd("apply");
        assert!(out.status.success(), "apply failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// `apply` that refuses something: exit 1, converged all the same; its stderr.
    pub fn apply_refused(&self) -> String {
        let out = self.vpcd("apply");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(!err.contains("not converged"), "a refusal converges: {err}");
        err
    }

    pub fn plan_code(&self) -> i32 {
        self.vpcd("plan").status.code().unwrap()
    }

    /// ovn-nbctl output with runs of blanks folded and lines trimmed, for exact comparisons.
    pub fn nbctl(&self, args: &[&str]) -> String {
        let out = self.ovn.nbctl(args).unwrap();
        out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join("\n")
    }

    /// `name uuid` of every row of the named tables, sorted: what must not move.
    pub fn rows(&self) -> Vec<String> {
        let mut out = vec![];
        for t in ["Logical_Router", "Logical_Switch", "Logical_Router_Port", "Logical_Switch_Port"] {
            let text = self.nbctl(&["--bare", "--columns=name,_uuid", "--format=csv", "--no-headings", "list", t]);
            out.extend(text.lines().map(|l| format!("{t} {l}")));
        }
        out.sort();
        out
    }

    /// The names of `lrp-list ROUTER` / `lsp-list SWITCH`, sorted.
    pub fn ports(&self, cmd: &str, parent: &str) -> Vec<String> {
        let text = self.nbctl(&[cmd, parent]);
        let mut v: Vec<String> =
            text.lines().filter_map(|l| l.split_once(" (")).map(|(_, n)| n.trim_end_matches(')').to_string()).collect();
        v.sort();
        v
    }
}
