//! Leader election against the testbed API server over real HTTPS, in real
//! time (lease 3 s, renew deadline 2 s, retry 0.5 s): one leader at a time,
//! takeover only after expiry when the leader dies, at once after a release,
//! step-down when renewals fail, and writes conditional on resourceVersion.

use std::sync::Arc;
use std::time::Duration;

use ovn_vpcd::kube::client::KubeClient;
use ovn_vpcd::kube::leader::{ElectionConfig, Elector};
use ovn_vpcd::kube::lease::{run_election, LeaseLock};
use ovn_vpcd::testbed::Kube;
use serde_json::{json, Value as Json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const NS: &str = "kube-system";
const NAME: &str = "ovn-vpcd";
const LEASE: Duration = Duration::from_secs(3);
const RENEW: Duration = Duration::from_secs(2);
const RETRY: Duration = Duration::from_millis(500);
/// Request latency and scheduling on a small, busy machine.
const SLACK: Duration = Duration::from_millis(300);
const SAMPLE: Duration = Duration::from_millis(20);

fn lock(kube: &Kube) -> LeaseLock {
    // Each candidate has its own client (its own connections), as separate
    // processes would.
    let client = KubeClient::from_kubeconfig(&kube.kubeconfig(), None).unwrap();
    LeaseLock::new(Arc::new(client), NS, NAME)
}

struct Candidate {
    task: JoinHandle<()>,
    leading: watch::Receiver<bool>,
}

impl Candidate {
    fn start(kube: &Kube, identity: &str) -> Candidate {
        let cfg = ElectionConfig {
            identity: identity.into(),
            lease_duration: LEASE,
            renew_deadline: RENEW,
            retry_period: RETRY,
        };
        let (tx, leading) = watch::channel(false);
        let task = tokio::spawn(run_election(lock(kube), Elector::new(cfg), tx));
        Candidate { task, leading }
    }
    fn leads(&self) -> bool {
        *self.leading.borrow()
    }
    /// Stops the task the way SIGKILL would stop the process: no release.
    async fn kill(self) {
        self.task.abort();
        assert!(self.task.await.unwrap_err().is_cancelled());
    }
}

/// Waits (bounded) until `c` leads or stops leading; returns how long it took.
async fn until_leading(c: &Candidate, want: bool, within: Duration) -> Duration {
    let start = Instant::now();
    while c.leads() != want {
        assert!(start.elapsed() < within, "leading={want} not reached within {within:?}");
        tokio::time::sleep(SAMPLE).await;
    }
    start.elapsed()
}

fn kubectl_lease(kube: &Kube) -> Json {
    serde_json::from_str(&kube.kubectl(&["get", "lease", "-n", NS, NAME, "-o", "json"]).unwrap()).unwrap()
}

fn holder(lease: &Json) -> &str {
    lease["spec"]["holderIdentity"].as_str().unwrap_or("")
}

fn transitions(lease: &Json) -> u64 {
    lease["spec"]["leaseTransitions"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_leader_renewing_and_the_lease_names_it() {
    let kube = Kube::start(None, &[]).unwrap();
    let a = Candidate::start(&kube, "a");
    let b = Candidate::start(&kube, "b");
    // Both race to create the Lease: one wins, the other's create is a 409.
    let start = Instant::now();
    while !(a.leads() || b.leads()) {
        assert!(start.elapsed() < RETRY * 4, "nobody leads");
        tokio::time::sleep(SAMPLE).await;
    }
    let leader = if a.leads() { "a" } else { "b" };
    let renewed = kubectl_lease(&kube)["spec"]["renewTime"].as_str().unwrap().to_string();
    // Longer than the lease: a leader that did not renew would lose it here.
    let until = Instant::now() + LEASE + Duration::from_secs(1);
    while Instant::now() < until {
        assert!(a.leads() != b.leads(), "exactly one leader (a={}, b={})", a.leads(), b.leads());
        assert_eq!(if a.leads() { "a" } else { "b" }, leader, "leadership stays put");
        tokio::time::sleep(SAMPLE).await;
    }
    let lease = kubectl_lease(&kube);
    assert_eq!(holder(&lease), leader);
    assert_eq!(transitions(&lease), 0, "created by the leader, never taken over");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], json!(3));
    let renew_time = lease["spec"]["renewTime"].as_str().unwrap();
    assert_ne!(renew_time, renewed, "the leader renews");
    assert!(renew_time.len() == 27 && renew_time.ends_with('Z'), "MicroTime: {renew_time}");
    a.kill().await;
    b.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_only_once_its_lease_expired() {
    let kube = Kube::start(None, &[]).unwrap();
    let a = Candidate::start(&kube, "a");
    until_leading(&a, true, RETRY * 4).await;
    let b = Candidate::start(&kube, "b");
    tokio::time::sleep(RETRY * 3).await;
    assert!(a.leads() && !b.leads(), "b waits while a renews");
    let before = transitions(&kubectl_lease(&kube));

    a.kill().await;
    let took = until_leading(&b, true, LEASE + RETRY * 2 + SLACK).await;
    eprintln!("b took over {took:?} after a died");
    // a's last renewal was at most one retry before it died: b must have
    // waited for the lease to run out from there.
    assert!(took >= LEASE - RETRY - Duration::from_millis(100), "b took over after {took:?}: too early");
    let lease = kubectl_lease(&kube);
    assert_eq!(holder(&lease), "b");
    assert_eq!(transitions(&lease), before + 1);
    b.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_over_at_once() {
    let kube = Kube::start(None, &[]).unwrap();
    let a = Candidate::start(&kube, "a");
    until_leading(&a, true, RETRY * 4).await;
    let b = Candidate::start(&kube, "b");
    tokio::time::sleep(RETRY * 2).await;
    assert!(!b.leads());

    a.kill().await;
    let l = lock(&kube);
    assert!(!l.release("b").await.unwrap(), "b does not hold it: nothing to release");
    assert!(l.release("a").await.unwrap(), "a held it");
    let lease = l.get().await.unwrap().unwrap();
    assert_eq!((holder(&lease), transitions(&lease)), ("", 0));
    let took = until_leading(&b, true, RETRY * 2 + SLACK).await;
    eprintln!("b took over {took:?} after the release");
    assert!(took < LEASE / 2, "{took:?}");
    let lease = kubectl_lease(&kube);
    assert_eq!((holder(&lease), transitions(&lease)), ("b", 1));
    b.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_steps_down_when_it_cannot_renew() {
    let kube = Kube::start(None, &[]).unwrap();
    let a = Candidate::start(&kube, "a");
    until_leading(&a, true, RETRY * 4).await;
    tokio::time::sleep(RETRY * 2).await;
    // The API server goes away: every read fails from now on.
    let stopping = Instant::now();
    tokio::task::spawn_blocking(move || drop(kube)).await.unwrap();
    let stopped = Instant::now();
    let took = until_leading(&a, false, RENEW + SLACK).await;
    let since_stopping = stopped.duration_since(stopping) + took;
    eprintln!("stepped down {took:?} after the server stopped ({since_stopping:?} after stopping began)");
    // It kept leading through failures until its last renewal (at most a
    // retry before the server went) was a renew deadline old.
    assert!(since_stopping >= RENEW - RETRY - Duration::from_millis(100), "stepped down after {since_stopping:?}");
    a.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_steps_down_when_someone_else_holds_the_lease() {
    let kube = Kube::start(None, &[]).unwrap();
    let a = Candidate::start(&kube, "a");
    until_leading(&a, true, RETRY * 4).await;
    // Another holder appears (a misconfigured twin, an operator): a must
    // stop leading at its next read, not at its renew deadline.
    let l = lock(&kube);
    let mut stolen = false;
    for _ in 0..5 {
        // a renews concurrently: our write may conflict; read again.
        let read = l.get().await.unwrap().unwrap();
        let mut spec = read["spec"].clone();
        spec["holderIdentity"] = json!("intruder");
        if l.update(&read, &spec).await.unwrap() {
            stolen = true;
            break;
        }
    }
    assert!(stolen);
    until_leading(&a, false, RETRY + SLACK).await;
    a.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_conditional_on_the_version_read() {
    let kube = Kube::start(None, &[]).unwrap();
    let l = lock(&kube);
    assert_eq!(l.get().await.unwrap(), None);
    let spec = |h: &str| json!({"holderIdentity": h, "leaseDurationSeconds": 3, "leaseTransitions": 0});
    assert!(l.create(&spec("a")).await.unwrap());
    assert!(!l.create(&spec("b")).await.unwrap(), "a second create is a 409, not a success");
    let read = l.get().await.unwrap().unwrap();
    assert!(l.update(&read, &spec("b")).await.unwrap());
    // Based on a stale read: must fail, or two candidates could both win.
    assert!(!l.update(&read, &spec("c")).await.unwrap(), "a stale update must conflict");
    let lease = kubectl_lease(&kube);
    assert_eq!(holder(&lease), "b");
    let mut no_version = read.clone();
    no_version["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    assert!(l.update(&no_version, &spec("c")).await.is_err(), "never an unconditional update");
}
