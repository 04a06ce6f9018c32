use super::*;
use crate::gateway::nat::testset::seed_003;
use crate::rules::VERSION;

fn cfg() -> AgentConfig {
    let b = BackoffConfig { initial: Duration::from_secs(1), max: Duration::from_secs(8), factor: 2.0, jitter: 0.0 };
    AgentConfig { recheck: Duration::from_secs(5), apply_backoff: b, report_backoff: b }
}

fn report(applied: &str, error: Option<&str>) -> Report {
    Report { applied: applied.into(), error: error.map(str::to_string) }
}

/// Runs reports and applies to completion (each succeeding) until the
/// agent waits; returns what it did.
fn settle(a: &mut Agent) -> Vec<Action> {
    let mut done = Vec::new();
    for _ in 0..10 {
        let now = Instant::now();
        match a.next(now) {
            Action::Report(r) => {
                a.reported(r.clone(), Ok(()), now);
                done.push(Action::Report(r));
            }
            Action::Apply(set) => {
                a.applied(&set.digest(), Ok(()), now);
                done.push(Action::Apply(set));
            }
            Action::Wait(_) => return done,
        }
    }
    panic!("the agent never waits: {done:?}");
}

#[tokio::test(start_paused = true)]
async fn reports_none_then_applies_the_set_reports_its_digest_and_rechecks() {
    let mut a = Agent::new(cfg(), Instant::now());
    // Nothing is applied before a set is read: only `none` is reported.
    assert_eq!(settle(&mut a), [Action::Report(report(APPLIED_NONE, None))]);
    assert_eq!(a.next(Instant::now()), Action::Wait(None));
    let set = seed_003();
    let digest = set.digest();
    a.rules(Rules::Set(set.clone()), Instant::now());
    assert_eq!(settle(&mut a), [Action::Apply(set.clone()), Action::Report(report(&digest, None))]);
    let applied_at = Instant::now();
    assert_eq!(a.next(applied_at), Action::Wait(Some(applied_at + Duration::from_secs(5))));
    // The same set again (a relist) changes nothing.
    a.rules(Rules::Set(set.clone()), Instant::now());
    assert!(matches!(a.next(Instant::now()), Action::Wait(Some(_))));
    // The re-check: the same set applied again, nothing reported anew.
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(settle(&mut a), [Action::Apply(set)]);
}

#[tokio::test(start_paused = true)]
async fn a_new_set_is_applied_at_once() {
    let mut a = Agent::new(cfg(), Instant::now());
    a.rules(Rules::Set(seed_003()), Instant::now());
    settle(&mut a);
    tokio::time::advance(Duration::from_secs(1)).await;
    let mut next = seed_003();
    next.dnats.clear();
    a.rules(Rules::Set(next.clone()), Instant::now());
    assert_eq!(settle(&mut a), [Action::Apply(next.clone()), Action::Report(report(&next.digest(), None))]);
}

#[tokio::test(start_paused = true)]
async fn a_bad_or_deleted_set_keeps_what_is_applied_and_reports_why() {
    let mut a = Agent::new(cfg(), Instant::now());
    let set = seed_003();
    a.rules(Rules::Set(set.clone()), Instant::now());
    settle(&mut a);
    let mut wrong = serde_json::from_str::<Json>(&set.to_json()).unwrap();
    wrong["version"] = json!(99);
    let cm = json!({"metadata": {"name": "r"}, "data": {DATA_KEY: wrong.to_string()}});
    let rules = rules_of(&Event::Applied(cm), "kube-system/r");
    let why = format!("ConfigMap kube-system/r: rule set version 99, this build reads version {VERSION}");
    assert!(matches!(&rules, Rules::Invalid(m) if m.starts_with(&why)), "{rules:?}");
    a.rules(rules.clone(), Instant::now());
    let Rules::Invalid(m) = rules else { unreachable!() };
    // Reported with the digest still applied; no apply of anything else.
    assert_eq!(settle(&mut a), [Action::Report(report(&set.digest(), Some(&m)))]);
    // The re-check keeps the last good set in the kernel.
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(settle(&mut a), [Action::Apply(set.clone())]);
    // Deleted: the same.
    a.rules(rules_of(&Event::Deleted(json!({})), "kube-system/r"), Instant::now());
    assert_eq!(settle(&mut a), [Action::Report(report(&set.digest(), Some("ConfigMap kube-system/r was deleted")))]);
    // Good again: the error goes.
    a.rules(
        rules_of(&Event::Restarted(vec![json!({"data": {DATA_KEY: set.to_json()}})]), "kube-system/r"),
        Instant::now(),
    );
    assert_eq!(settle(&mut a), [Action::Report(report(&set.digest(), None))]);
}

#[tokio::test(start_paused = true)]
async fn a_missing_configmap_applies_nothing() {
    let mut a = Agent::new(cfg(), Instant::now());
    a.rules(rules_of(&Event::Restarted(vec![]), "ns/r"), Instant::now());
    assert_eq!(settle(&mut a), [Action::Report(report(APPLIED_NONE, Some("ConfigMap ns/r not found")))]);
    a.rules(rules_of(&Event::Applied(json!({"data": {}})), "ns/r"), Instant::now());
    assert_eq!(
        settle(&mut a),
        [Action::Report(report(APPLIED_NONE, Some("ConfigMap ns/r has no data key rules.json")))]
    );
    assert_eq!(a.next(Instant::now()), Action::Wait(None));
}

#[tokio::test(start_paused = true)]
async fn a_failed_apply_is_reported_and_retried_with_backoff() {
    let mut a = Agent::new(cfg(), Instant::now());
    let set = seed_003();
    a.rules(Rules::Set(set.clone()), Instant::now());
    settle(&mut a);
    tokio::time::advance(Duration::from_secs(5)).await;
    let t0 = Instant::now();
    assert_eq!(a.next(t0), Action::Apply(set.clone()));
    a.applied(&set.digest(), Err("iptables-restore: line 2 failed".into()), t0);
    assert_eq!(a.next(t0), Action::Report(report(&set.digest(), Some("iptables-restore: line 2 failed"))));
    a.reported(a.report(), Ok(()), t0);
    assert_eq!(a.next(t0), Action::Wait(Some(t0 + Duration::from_secs(1))));
    tokio::time::advance(Duration::from_secs(1)).await;
    let t1 = Instant::now();
    a.applied(&set.digest(), Err("again".into()), t1);
    a.reported(a.report(), Ok(()), t1);
    assert_eq!(a.next(t1), Action::Wait(Some(t1 + Duration::from_secs(2))), "the backoff grows");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(settle(&mut a), [Action::Apply(set.clone()), Action::Report(report(&set.digest(), None))]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_report_never_stops_the_applies() {
    let mut a = Agent::new(cfg(), Instant::now());
    let set = seed_003();
    let t0 = Instant::now();
    assert!(matches!(a.next(t0), Action::Report(_)));
    a.reported(report(APPLIED_NONE, None), Err("connection refused".into()), t0);
    a.rules(Rules::Set(set.clone()), t0);
    // The report waits for its backoff; the apply goes ahead.
    assert_eq!(a.next(t0), Action::Apply(set.clone()));
    a.applied(&set.digest(), Ok(()), t0);
    assert_eq!(a.next(t0), Action::Wait(Some(t0 + Duration::from_secs(1))));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(a.next(Instant::now()), Action::Report(report(&set.digest(), None)));
}

#[test]
fn the_report_patch_sets_the_digest_and_removes_the_error() {
    assert_eq!(
        report("0123", None).patch(),
        json!({"metadata": {"annotations": {"ovn-vpcd.io/applied-rules": "0123", "ovn-vpcd.io/apply-error": null}}})
    );
    assert_eq!(report(APPLIED_NONE, Some("x")).patch()["metadata"]["annotations"]["ovn-vpcd.io/apply-error"], "x");
}
