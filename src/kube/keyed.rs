//! Objects of one kind by store key, with the log of the keys changed.
//!
//! Invariant, kept by structure: the map changes only through
//! [`Keyed::insert`], [`Keyed::remove`] and [`Keyed::replace_all`] (reading
//! goes through `Deref` to the map), and each records what it changed, so
//! a reader that remembers a [`Mark`] can ask which keys changed since
//! ([`Keyed::changed_since`]) instead of walking every object. The log
//! keeps the last [`LOG_LIMIT`] keys. A new map and a relist start a new
//! epoch, unique in the process, so a mark of one map means nothing to
//! another. A mark the log no longer reaches back to answers `None`: walk
//! everything then. A clone continues the same log: only one of the two may
//! be changed after (the store's published snapshots never change again;
//! `Arc::make_mut` changes the copy). Equality compares the objects only
//! (the log is bookkeeping).
//!
//! The map is persistent ([`imbl::OrdMap`]): a clone shares every node, and
//! a change to one of the two copies copies only the path to its key; the
//! log too ([`imbl::Vector`]). So
//! the store's snapshot (`daemon::kube::keep_store`), copied whenever a
//! reader still holds the previous one, costs per change, not per object.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use imbl::{OrdMap, Vector};
use serde_json::Value as Json;

/// How many changed keys the log keeps.
pub const LOG_LIMIT: usize = 2048;

/// A position in a [`Keyed`]'s log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    epoch: u64,
    at: u64,
}

/// The source of epochs.
static EPOCHS: AtomicU64 = AtomicU64::new(1);

fn new_epoch() -> u64 {
    EPOCHS.fetch_add(1, Ordering::Relaxed)
}

#[derive(Clone, Debug)]
pub struct Keyed {
    map: OrdMap<String, Arc<Json>>,
    /// New with every map and every `replace_all`.
    epoch: u64,
    /// The position of `log[0]` within the epoch.
    start: u64,
    log: Vector<String>,
}

impl Default for Keyed {
    fn default() -> Keyed {
        Keyed { map: OrdMap::new(), epoch: new_epoch(), start: 0, log: Vector::new() }
    }
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Keyed) -> bool {
        self.map == other.map
    }
}

impl Deref for Keyed {
    type Target = OrdMap<String, Arc<Json>>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<'a> IntoIterator for &'a Keyed {
    type Item = (&'a String, &'a Arc<Json>);
    type IntoIter = imbl::ordmap::Iter<'a, String, Arc<Json>, imbl::shared_ptr::DefaultSharedPtr>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl Keyed {
    pub fn insert(&mut self, key: String, obj: Arc<Json>) -> Option<Arc<Json>> {
        self.record(key.clone());
        self.map.insert(key, obj)
    }

    pub fn remove(&mut self, key: &str) -> Option<Arc<Json>> {
        let old = self.map.remove(key);
        if old.is_some() {
            self.record(key.to_string());
        }
        old
    }

    /// Every object anew (a relist): a new epoch, no mark before it holds.
    pub fn replace_all(&mut self, objs: impl IntoIterator<Item = (String, Arc<Json>)>) {
        self.map = objs.into_iter().collect();
        self.epoch = new_epoch();
        self.start = 0;
        self.log.clear();
    }

    /// Where the log is now.
    pub fn mark(&self) -> Mark {
        Mark { epoch: self.epoch, at: self.start + self.log.len() as u64 }
    }

    /// The keys changed since `mark` (a key may come more than once), or
    /// `None` if the log does not reach back to it.
    pub fn changed_since(&self, mark: Mark) -> Option<impl Iterator<Item = &String>> {
        let end = self.start + self.log.len() as u64;
        if mark.epoch != self.epoch || mark.at < self.start || mark.at > end {
            return None;
        }
        Some(((mark.at - self.start) as usize..self.log.len()).map(|i| &self.log[i]))
    }

    fn record(&mut self, key: String) {
        self.log.push_back(key);
        if self.log.len() > LOG_LIMIT {
            self.log.pop_front();
            self.start += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(n: u64) -> Arc<Json> {
        Arc::new(serde_json::json!({ "n": n }))
    }

    fn since(k: &Keyed, m: Mark) -> Option<Vec<String>> {
        k.changed_since(m).map(|i| i.cloned().collect())
    }

    #[test]
    fn a_mark_answers_the_keys_changed_since() {
        let mut k = Keyed::default();
        k.insert("a".into(), obj(1));
        let m = k.mark();
        assert_eq!(since(&k, m), Some(vec![]));
        k.insert("b".into(), obj(2));
        k.remove("a");
        k.remove("zz"); // absent: nothing changed
        assert_eq!(since(&k, m), Some(vec!["b".to_string(), "a".to_string()]));
        assert_eq!(since(&k, k.mark()), Some(vec![]));
    }

    #[test]
    fn a_relist_or_a_log_overrun_answers_none() {
        let mut k = Keyed::default();
        let m = k.mark();
        k.replace_all([("a".to_string(), obj(1))]);
        assert_eq!(since(&k, m), None, "a relist: everything may have changed");
        let m = k.mark();
        for i in 0..=LOG_LIMIT as u64 {
            k.insert(format!("k{i}"), obj(i));
        }
        assert_eq!(since(&k, m), None, "the log no longer reaches back");
        let m = k.mark();
        k.insert("x".into(), obj(0));
        assert_eq!(since(&k, m), Some(vec!["x".to_string()]));
        assert_eq!(since(&Keyed::default(), Keyed::default().mark()), None, "another map's mark");
    }

    #[test]
    fn equality_is_of_the_objects_only() {
        let (mut a, mut b) = (Keyed::default(), Keyed::default());
        a.insert("a".into(), obj(1));
        b.insert("b".into(), obj(1));
        b.remove("b");
        b.insert("a".into(), obj(1));
        assert_eq!(a, b);
    }
}
