//! Helpers shared by the benches that run the release binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};

/// The release `ovn-vpcd` (`OVN_VPCD_BIN` overrides).
pub fn binary() -> Result<PathBuf> {
    let p = std::env::var_os("OVN_VPCD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/ovn-vpcd"));
    ensure!(p.is_file(), "{} not found: run `cargo build --release` first (or set OVN_VPCD_BIN)", p.display());
    Ok(p)
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}
