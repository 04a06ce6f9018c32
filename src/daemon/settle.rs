//! When a re-read config file may be acted on: only once it is stable.
//!
//! An editor or a script rewriting the file in place (open with truncate,
//! write, close) leaves it empty or cut short for a while; a reader in that
//! window sees a text that may even parse, with fewer tenants. So:
//!
//! - a reading whose text differs from the last one acted on is only acted
//!   on once a second reading, at least [`SETTLE`] later, has the same text,
//!   length and modification time (any write in between changes the time);
//! - a reading is *torn* (never stable) when the file's length or time
//!   changed while it was read, or the text is not the file's length;
//! - an empty or whitespace-only text is never a configuration: once
//!   stable it is reported ([`Decision::Empty`]) once, and the last good one
//!   stays in force;
//! - a forced reading (SIGHUP: the operator's word that the file is
//!   complete, as `systemctl reload` after writing it) acts on the text at
//!   once, changed or not, if it is whole (not torn) and not empty; the
//!   mass-removal guard still stands behind it.
//!
//! Pure: [`Settle::observe`] takes the time and a [`Reading`] and returns a
//! [`Decision`]; the drivers do the reading: `inputs::poll_reload` once per
//! poll (a recheck is the next poll, the loop never waits on it) and
//! `inputs::reload` on SIGHUP (reading again while the file is torn).

use std::time::Duration;

use tokio::time::Instant;

/// The gap between two readings that must agree.
pub const SETTLE: Duration = Duration::from_millis(50);

/// The file's length and modification time (seconds, nanoseconds).
pub type Stamp = (u64, i64, i64);

/// One reading of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    pub text: String,
    /// `None`: torn (the file changed while it was read).
    pub stamp: Option<Stamp>,
}

impl Reading {
    /// A reading from the stamps taken before and after reading `text`.
    pub fn new(text: String, before: Stamp, after: Stamp) -> Reading {
        let whole = before == after && before.0 == text.len() as u64;
        Reading { text, stamp: whole.then_some(before) }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The text acted on last: nothing to do.
    Unchanged,
    /// Changed but not yet stable: read again at this time.
    Recheck(Instant),
    /// A stable new text: load it.
    Load(String),
    /// A stable empty text: keep the last good configuration (say so).
    Empty,
}

#[derive(Debug)]
pub struct Settle {
    /// The text last acted on (loaded, refused as invalid, or reported empty).
    current: String,
    /// A changed reading waiting for its confirmation, and when it was seen.
    pending: Option<(Instant, Reading)>,
    forced: bool,
}

impl Settle {
    /// `text`: the configuration in force.
    pub fn new(text: String) -> Settle {
        Settle { current: text, pending: None, forced: false }
    }

    /// The next stable reading is acted on even if unchanged (SIGHUP).
    pub fn force(&mut self) {
        self.forced = true;
    }

    pub fn observe(&mut self, now: Instant, reading: Reading) -> Decision {
        if reading.stamp.is_some() && reading.text == self.current && !self.forced {
            self.pending = None;
            return Decision::Unchanged;
        }
        let confirmed = match &self.pending {
            _ if self.forced => reading.stamp.is_some(),
            Some((seen, p)) => reading.stamp.is_some() && *p == reading && now >= *seen + SETTLE,
            None => false,
        };
        if !confirmed {
            // Keep the first sighting of the same reading: the gap counts from it.
            if !matches!(&self.pending, Some((_, p)) if *p == reading && reading.stamp.is_some()) {
                self.pending = Some((now, reading));
            }
            let seen = self.pending.as_ref().map_or(now, |(t, _)| *t);
            return Decision::Recheck((seen + SETTLE).max(now));
        }
        self.pending = None;
        self.forced = false;
        self.current = reading.text;
        if self.current.trim().is_empty() {
            Decision::Empty
        } else {
            Decision::Load(self.current.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, mtime: i64) -> Reading {
        let s = (text.len() as u64, mtime, 0);
        Reading::new(text.to_string(), s, s)
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_file_is_loaded_only_when_two_readings_agree() {
        let mut s = Settle::new("a = 1\n".into());
        let t0 = Instant::now();
        assert_eq!(s.observe(t0, read("a = 1\n", 1)), Decision::Unchanged);
        // Half written: wait.
        assert_eq!(s.observe(t0, read("[[vpc]]\n", 2)), Decision::Recheck(t0 + SETTLE));
        // The rest arrives: a new reading, wait again from now.
        tokio::time::advance(SETTLE).await;
        let t1 = Instant::now();
        let full = "[[vpc]]\nname = \"x\"\n";
        assert_eq!(s.observe(t1, read(full, 3)), Decision::Recheck(t1 + SETTLE));
        // Too soon to confirm.
        let soon = t1 + SETTLE / 2;
        assert_eq!(s.observe(soon, read(full, 3)), Decision::Recheck(t1 + SETTLE));
        assert_eq!(s.observe(t1 + SETTLE, read(full, 3)), Decision::Load(full.to_string()));
        assert_eq!(s.observe(t1 + 2 * SETTLE, read(full, 3)), Decision::Unchanged);
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_text_rewritten_is_not_stable_and_a_torn_reading_never_is() {
        let mut s = Settle::new("old\n".into());
        let t0 = Instant::now();
        // Same half text, but written again in between (another mtime).
        assert!(matches!(s.observe(t0, read("half", 5)), Decision::Recheck(_)));
        assert!(matches!(s.observe(t0 + SETTLE, read("half", 6)), Decision::Recheck(_)));
        // The length changed while reading.
        let torn = Reading::new("new\n".into(), (4, 7, 0), (9, 8, 0));
        assert_eq!(torn.stamp, None);
        assert!(matches!(s.observe(t0 + 2 * SETTLE, torn.clone()), Decision::Recheck(_)));
        assert!(matches!(s.observe(t0 + 4 * SETTLE, torn), Decision::Recheck(_)));
        // Text shorter than the file says: torn too.
        assert_eq!(Reading::new("ab".into(), (3, 1, 0), (3, 1, 0)).stamp, None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_file_is_reported_once_and_never_loaded() {
        let mut s = Settle::new("a = 1\n".into());
        let t0 = Instant::now();
        assert!(matches!(s.observe(t0, read(" \n\t", 1)), Decision::Recheck(_)));
        assert_eq!(s.observe(t0 + SETTLE, read(" \n\t", 1)), Decision::Empty);
        assert_eq!(s.observe(t0 + 2 * SETTLE, read(" \n\t", 1)), Decision::Unchanged);
        // The good text back is loaded again.
        assert!(matches!(s.observe(t0 + 3 * SETTLE, read("a = 1\n", 2)), Decision::Recheck(_)));
        assert_eq!(s.observe(t0 + 4 * SETTLE, read("a = 1\n", 2)), Decision::Load("a = 1\n".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_forced_reading_loads_a_whole_file_at_once_changed_or_not() {
        let mut s = Settle::new("a = 1\n".into());
        let t0 = Instant::now();
        s.force();
        assert_eq!(s.observe(t0, read("a = 1\n", 1)), Decision::Load("a = 1\n".into()));
        assert_eq!(s.observe(t0 + SETTLE, read("a = 1\n", 1)), Decision::Unchanged);
        // A torn reading is never acted on, forced or not; nor an empty file.
        s.force();
        let torn = Reading::new("new\n".into(), (4, 7, 0), (9, 8, 0));
        assert!(matches!(s.observe(t0, torn), Decision::Recheck(_)));
        assert_eq!(s.observe(t0, read("b = 2\n", 9)), Decision::Load("b = 2\n".into()));
        s.force();
        assert_eq!(s.observe(t0, read("", 10)), Decision::Empty);
    }
}
