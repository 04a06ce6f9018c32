//! The daemon's inputs: the TOML file (re-read on change and SIGHUP; a bad
//! file keeps the last good one in force) and, with `[kubernetes]`, the
//! Vpc and Subnet resources; and what they validate to together.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::metrics::Metrics;
use super::pods::PodPorts;
use crate::config::{Config, ConfigError};
use crate::kube::resources::{merge, Merged, Store, NAME_CLASH_FIELD};
use crate::model::names::NbState;
use crate::model::validate::{validate_keeping, Model, Rejection};
use crate::ovsdb::{Cache, Client};
use crate::reconcile::desired::{OWNER_KEY, VENDOR, VENDOR_KEY};
use crate::reconcile::nb_state::nb_state;

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
    /// Refused objects, whose rows are left as they are: by validation, by
    /// the merge (a spec that does not decode), and pods whose subnet is
    /// refused (they keep their ports).
    pub rejected: Vec<Rejection>,
    /// What the NB held when this was validated (incumbent names, foreign
    /// rows): a change of it re-validates.
    pub nb: NbState,
    /// Validated against the synced NB, and with Kubernetes every resource
    /// listed, so the pods' ports are in the model too (the IPAM is rebuilt
    /// from both). A pass must not run before.
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
        let nb_now = nb.map(|c| nb_state(&c.cache())).unwrap_or_default();
        // A resource whose spec does not decode keeps its rows as well (a
        // TOML name clash concerns the resource only: the TOML's object stays),
        // and so its names and networks.
        let undecoded: Vec<&Rejection> = merged.refused.iter().filter(|r| r.field != NAME_CLASH_FIELD).collect();
        let kept: BTreeSet<String> = undecoded.iter().map(|r| format!("{}/{}", r.kind, r.name)).collect();
        let (mut model, mut rejected) = validate_keeping(&merged.vpcs, &merged.subnets, &nb_now, &kept);
        rejected.extend(undecoded.into_iter().cloned());
        let held: BTreeSet<String> = rejected.iter().filter(|r| r.kind == "Subnet").map(|r| r.name.clone()).collect();
        let complete = match (store, nb) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(s), Some(nb)) if s.synced => {
                pods.update(s, &mut model, nb, &held, &nb_now);
                rejected.extend(held_pods(&nb.cache(), &held));
                true
            }
            (Some(_), Some(_)) => false,
        };
        Desired { merged, model: Arc::new(model), rejected, nb: nb_now, complete }
    }

    /// The NB no longer holds what this state was validated against.
    pub fn nb_moved(&self, client: &Client) -> bool {
        nb_state(&client.cache()) != self.nb
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

/// Pods whose ports sit on a refused subnet's switch: their ports stay as
/// they are until the subnet is valid again (or deleted).
fn held_pods(cache: &Cache, held: &BTreeSet<String>) -> Vec<Rejection> {
    let Some(ports) = cache.table("Logical_Switch_Port") else { return vec![] };
    let mut out = vec![];
    for subnet in held {
        for p in ports.by_external_id("ls", subnet).filter(|p| p.external_id(VENDOR_KEY) == Some(VENDOR)) {
            let Some(key) = p.external_id(OWNER_KEY).and_then(|o| o.strip_prefix("Pod/")) else { continue };
            out.push(Rejection {
                kind: "Pod",
                name: key.to_string(),
                field: "subnet".into(),
                reason: format!("subnet {subnet:?} is refused; the pod's port is kept as it is"),
                waiting: true,
            });
        }
    }
    out
}
