use super::*;

fn ready(now: Instant) -> Schedule {
    let mut s = Schedule::new(now, Duration::from_secs(300), true);
    s.on(now, Trigger::NbConnection { synced: true });
    s.on(now, Trigger::Inputs { changed: BTreeSet::new(), complete: true });
    s
}

fn converged(scope: Scope, own: Option<(u64, u64)>) -> Trigger {
    Trigger::Passed(PassResult::Converged { scope, own_updates: own, baseline: true })
}

fn owners(names: &[&str]) -> BTreeSet<ObjectKey> {
    names.iter().map(|n| ObjectKey::subnet(*n)).collect()
}

#[tokio::test(start_paused = true)]
async fn nothing_runs_until_synced_writable_and_complete() {
    let t0 = Instant::now();
    let mut s = Schedule::new(t0, Duration::from_secs(300), false);
    assert_eq!(s.next(t0), Next::Wait(None));
    s.on(t0, Trigger::NbConnection { synced: true });
    s.on(t0, Trigger::Inputs { changed: BTreeSet::new(), complete: true });
    assert_eq!(s.next(t0), Next::Wait(None), "not the leader yet");
    s.on(t0, Trigger::Writable(true));
    assert_eq!(s.next(t0), Next::Pass(Scope::All));
}

#[tokio::test(start_paused = true)]
async fn the_first_pass_covers_everything_then_changes_are_scoped() {
    let t0 = Instant::now();
    let mut s = ready(t0);
    assert_eq!(s.next(t0), Next::Pass(Scope::All));
    s.on(t0, converged(Scope::All, Some((4, 5))));
    assert_eq!(s.next(t0), Next::Wait(Some(t0 + Duration::from_secs(300))), "then the resync");
    // Two input changes before the pass runs: one pass over both.
    s.on(t0, Trigger::Inputs { changed: owners(&["a"]), complete: true });
    s.on(t0, Trigger::Inputs { changed: owners(&["b"]), complete: true });
    assert_eq!(s.next(t0), Next::Pass(Scope::Owners(owners(&["a", "b"]))));
    // Our own commit (5 -> 6) is accounted for: no pass for its update.
    s.on(t0, converged(Scope::Owners(owners(&["a", "b"])), Some((5, 6))));
    assert!(s.accounts_for(6));
    s.on(t0, Trigger::NbChanged { generation: 6 });
    assert!(matches!(s.next(t0), Next::Wait(Some(_))));
    // Someone else's update: everything, after the debounce.
    s.on(t0, Trigger::NbChanged { generation: 7 });
    assert_eq!(s.next(t0), Next::Wait(Some(t0 + DEBOUNCE)));
    assert_eq!(s.next(t0 + DEBOUNCE), Next::Pass(Scope::All));
}

#[tokio::test(start_paused = true)]
async fn without_a_baseline_a_change_plans_everything() {
    let t0 = Instant::now();
    let mut s = ready(t0);
    assert_eq!(s.next(t0), Next::Pass(Scope::All));
    // A pass that kept rows against a refused mass removal is no baseline.
    s.on(t0, Trigger::Passed(PassResult::Converged { scope: Scope::All, own_updates: None, baseline: false }));
    s.on(t0, Trigger::Inputs { changed: owners(&["a"]), complete: true });
    assert_eq!(s.next(t0), Next::Pass(Scope::All));
}

#[tokio::test(start_paused = true)]
async fn a_scoped_change_widens_to_everything_on_drift_reconnect_or_leadership() {
    for t in [Trigger::NbConnection { synced: true }, Trigger::Leadership, Trigger::Hangup] {
        let t0 = Instant::now();
        let mut s = ready(t0);
        assert_eq!(s.next(t0), Next::Pass(Scope::All));
        s.on(t0, converged(Scope::All, Some((1, 2))));
        s.on(t0, Trigger::Inputs { changed: owners(&["a"]), complete: true });
        s.on(t0, t.clone());
        assert_eq!(s.next(t0), Next::Pass(Scope::All), "{t:?}");
        assert!(!s.accounts_for(2) || t == Trigger::Hangup, "{t:?}: what happened meanwhile is unknown");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_pass_is_retried_in_full_and_a_lost_connection_waits() {
    let t0 = Instant::now();
    let mut s = ready(t0);
    assert_eq!(s.next(t0), Next::Pass(Scope::All));
    s.on(t0, Trigger::Passed(PassResult::Failed));
    assert_eq!(s.next(t0), Next::Wait(Some(t0 + RETRY)));
    tokio::time::advance(RETRY).await;
    assert_eq!(s.next(Instant::now()), Next::Pass(Scope::All));
    s.on(Instant::now(), Trigger::NbConnection { synced: false });
    assert_eq!(s.next(Instant::now()), Next::Wait(None), "no pass without the NB");
    s.on(Instant::now(), Trigger::NbConnection { synced: true });
    assert_eq!(s.next(Instant::now()), Next::Pass(Scope::All));
}

#[tokio::test(start_paused = true)]
async fn the_resync_passes_everything() {
    let t0 = Instant::now();
    let mut s = ready(t0);
    assert_eq!(s.next(t0), Next::Pass(Scope::All));
    s.on(t0, converged(Scope::All, None));
    tokio::time::advance(Duration::from_secs(300)).await;
    assert_eq!(s.next(Instant::now()), Next::Pass(Scope::All));
}

#[tokio::test(start_paused = true)]
async fn becoming_complete_plans_everything() {
    let t0 = Instant::now();
    let mut s = Schedule::new(t0, Duration::from_secs(300), true);
    s.on(t0, Trigger::NbConnection { synced: true });
    assert!(s.needs_inputs(), "synced and writable but the pods are not known yet");
    s.on(t0, Trigger::Inputs { changed: owners(&["a"]), complete: true });
    assert!(!s.needs_inputs());
    assert_eq!(s.next(t0), Next::Pass(Scope::All));
}

fn watched(names: &[&str]) -> Trigger {
    Trigger::Watched { changed: owners(names), complete: true }
}

#[tokio::test(start_paused = true)]
async fn watched_changes_after_a_quiet_spell_pass_at_once() {
    let t0 = Instant::now();
    let mut s = ready(t0);
    assert_eq!(s.next(t0), Next::Pass(Scope::All));
    s.on(t0, converged(Scope::All, Some((1, 2))));
    tokio::time::advance(GATHER).await;
    let t1 = Instant::now();
    s.on(t1, watched(&["a"]));
    assert!(!s.gathering(t1));
    assert_eq!(s.next(t1), Next::Pass(Scope::Owners(owners(&["a"]))));
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_watched_changes_is_gathered_into_one_pass() {
    let t0 = Instant::now();
    let mut s = ready(t0);
    assert_eq!(s.next(t0), Next::Pass(Scope::All));
    s.on(t0, converged(Scope::All, Some((1, 2))));
    // Right after a pass: held until GATHER after its end, and the driver
    // is told not to derive again meanwhile.
    tokio::time::advance(GATHER / 4).await;
    let t1 = Instant::now();
    s.on(t1, watched(&["a"]));
    assert!(s.gathering(t1));
    assert_eq!(s.next(t1), Next::Wait(Some(t0 + GATHER)));
    s.on(t1, watched(&["b"]));
    assert_eq!(s.next(t1), Next::Wait(Some(t0 + GATHER)), "a later change does not push it back");
    tokio::time::advance(GATHER).await;
    let t2 = Instant::now();
    assert!(!s.gathering(t2));
    assert_eq!(s.next(t2), Next::Pass(Scope::Owners(owners(&["a", "b"]))));
    assert!(!s.gathering(t2), "nothing is held once the pass runs");
}

#[tokio::test(start_paused = true)]
async fn a_reload_or_signal_is_not_held_by_a_gathering() {
    for t in [Trigger::Inputs { changed: owners(&["b"]), complete: true }, Trigger::Hangup] {
        let t0 = Instant::now();
        let mut s = ready(t0);
        assert_eq!(s.next(t0), Next::Pass(Scope::All));
        s.on(t0, converged(Scope::All, Some((1, 2))));
        s.on(t0, watched(&["a"]));
        assert!(s.gathering(t0));
        s.on(t0, t.clone());
        assert!(!s.gathering(t0), "{t:?}");
        assert!(matches!(s.next(t0), Next::Pass(_)), "{t:?}: at once");
    }
}

#[tokio::test(start_paused = true)]
async fn nothing_is_held_while_no_pass_may_run() {
    let t0 = Instant::now();
    let mut s = ready(t0);
    assert_eq!(s.next(t0), Next::Pass(Scope::All));
    s.on(t0, converged(Scope::All, Some((1, 2))));
    s.on(t0, Trigger::NbConnection { synced: false });
    s.on(t0, watched(&["a"]));
    assert!(!s.gathering(t0), "the driver keeps deriving: nothing would wake it at the end of a hold");
}
