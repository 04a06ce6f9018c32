//! The daemon's inputs: the TOML file (re-read on change and SIGHUP; a bad
//! file keeps the last good one in force) and, with `[kubernetes]`, the
//! Vpc and Subnet resources; and what they validate to together.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::metrics::Metrics;
use super::pods::PodPorts;
use crate::config::{Config, ConfigError};
use crate::kube::resources::{merge, Merged, Store};
use crate::model::validate::{validate, Model, Rejection};
use crate::ovsdb::Client;

/// One successfully parsed configuration text.
pub struct Loaded {
    pub text: String,
    pub config: Config,
}

impl Loaded {
    pub fn new(path: &str, text: String) -> Result<Loaded, ConfigError> {
        let config = Config::parse(path, &text)?;
        Ok(Loaded { text, config })
    }
}

/// The validated desired state of the TOML and the resources together.
pub struct Desired {
    pub merged: Merged,
    pub model: Arc<Model>,
    pub rejected: Vec<Rejection>,
    /// The pods' ports are in the model: without Kubernetes always; with
    /// it once every resource was listed and the NB synced (the IPAM is
    /// rebuilt from both). A pass must not run before.
    pub complete: bool,
}

impl Desired {
    /// `store`: the resources, when the daemon watches them; `pods` and the
    /// NB client (`None` while the NB is not synced) for the pods' ports.
    pub fn new(config: &Config, store: Option<&Store>, pods: &mut PodPorts, nb: Option<&Client>) -> Desired {
        let merged = match store {
            Some(s) => merge(config, s),
            None => Merged { vpcs: config.vpcs.clone(), subnets: config.subnets.clone(), ..Merged::default() },
        };
        let (mut model, rejected) = validate(&merged.vpcs, &merged.subnets);
        let complete = match (store, nb) {
            (None, _) => true,
            (Some(s), Some(nb)) if s.synced => {
                pods.update(s, &mut model, nb);
                true
            }
            _ => false,
        };
        Desired { merged, model: Arc::new(model), rejected, complete }
    }

    /// Refusals of this state that are not in `before`, for the log.
    pub fn log_news(&self, before: Option<&Desired>) {
        let old_notices = before.map(|d| d.model.notices.as_slice()).unwrap_or_default();
        for n in self.model.notices.iter().filter(|n| !old_notices.contains(n)) {
            tracing::warn!(notice = %n, "configuration field not realised");
        }
        let old_refused = before.map(|d| d.merged.refused.as_slice()).unwrap_or_default();
        for r in self.merged.refused.iter().filter(|r| !old_refused.contains(r)) {
            tracing::error!(refused = %r, "resource refused");
        }
    }
}

/// Re-reads the config file. A file that fails to load keeps the last good
/// configuration in force (`None`); so does an unchanged file unless `force`.
/// A bad text is remembered in `current`, so it is reported once.
pub fn reload(path: &Path, current: &mut String, force: bool, metrics: &Metrics) -> Option<Loaded> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            if force {
                metrics.config_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(path = %shown, error = %e, "cannot read configuration; keeping the last good one");
            }
            return None;
        }
    };
    if text == *current && !force {
        return None;
    }
    match Loaded::new(&shown, text.clone()) {
        Ok(l) => {
            let (vpcs, subnets) = (l.config.vpcs.len(), l.config.subnets.len());
            tracing::info!(path = %shown, vpcs, subnets, "configuration loaded");
            Some(l)
        }
        Err(e) => {
            metrics.config_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "invalid configuration; keeping the last good one");
            *current = text;
            None
        }
    }
}
