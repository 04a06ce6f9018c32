//! `ovn-vpcd gateway nat` as an operator sees it: the built binary run in a
//! network namespace of the test's own (with `eth0` and `net1`), reading
//! its rule set from the testbed API server, and judged by `iptables -t nat
//! -S`, `ip addr`, `ip route` in that namespace and its pod's annotations.
//!
//! The agent reaches the API server (on the host's 127.0.0.1) through a
//! relay listening on the namespace's own 127.0.0.1 at the same port, so
//! the kubeconfig and the server certificate work unchanged.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ovn_vpcd::rules::nat::{Dnat, NatRuleSet, Protocol, Route};
use ovn_vpcd::rules::{APPLIED_ANNOTATION, APPLY_ERROR_ANNOTATION, DATA_KEY, VERSION};
use ovn_vpcd::testbed::Kube;
use serde_json::{json, Value as Json};
use tokio::time::Instant;

const NS: &str = "natgw-test";
const POD: &str = "vpc-nat-gw-natgw-0";
const CM: &str = "vpc-nat-gw-natgw-rules";
/// The agent's re-check period in these tests.
const RECHECK: Duration = Duration::from_secs(1);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace with `lo`, `eth0` (10.0.1.254/24, the lanIp) and
/// `net1` (172.16.3.10/24, the CNI's primary address on the external
/// network), each a veth whose peer stays inside; removed on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        let name = format!("natgw-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        sh(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        for cmd in [
            "ip link set lo up",
            "ip link add eth0 type veth peer name eth0-peer",
            "ip link add net1 type veth peer name net1-peer",
            "ip link set eth0 up",
            "ip link set eth0-peer up",
            "ip link set net1 up",
            "ip link set net1-peer up",
            "ip addr add 10.0.1.254/24 dev eth0",
            "ip addr add 172.16.3.10/24 dev net1",
        ] {
            ns.run(cmd);
        }
        ns
    }

    fn command(&self, cmd: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(cmd.split_whitespace());
        c
    }

    fn run(&self, cmd: &str) -> String {
        sh(&mut self.command(cmd))
    }

    fn lines(&self, cmd: &str) -> Vec<String> {
        self.run(cmd).lines().map(str::to_string).collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// The relay: listens on 127.0.0.1:PORT inside the namespace and forwards
/// each connection to 127.0.0.1:PORT of the host's namespace.
const RELAY: &str = r#"
import ctypes, os, socket, sys, threading
ns, port = sys.argv[1], int(sys.argv[2])
libc = ctypes.CDLL("libc.so.6", use_errno=True)
def enter(fd):
    if libc.setns(fd, 0x40000000) != 0:
        raise OSError(ctypes.get_errno(), "setns")
host = os.open("/proc/self/ns/net", os.O_RDONLY)
enter(os.open("/run/netns/" + ns, os.O_RDONLY))
lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("127.0.0.1", port))
lst.listen(64)
enter(host)
print("ready", flush=True)
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = lst.accept()
    u = socket.create_connection(("127.0.0.1", port))
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
"#;

/// A child process stopped (by its pid) on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test's world: the API server, the namespace, the relay.
struct Gateway {
    kube: Kube,
    // Dropped before the namespace: fields drop in declaration order.
    _relay: Process,
    netns: Netns,
}

impl Gateway {
    fn start() -> Gateway {
        let kube = Kube::start(None, &[]).unwrap();
        let netns = Netns::new();
        let port = kube.get("KUBE_URL").unwrap().rsplit(':').next().unwrap().to_string();
        let script = kube.dir().join("relay.py");
        std::fs::write(&script, RELAY).unwrap();
        let mut child =
            Command::new("python3").arg(&script).args([&netns.name, &port]).stdout(Stdio::piped()).spawn().unwrap();
        let mut ready = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut ready).unwrap();
        assert_eq!(ready.trim(), "ready");
        let relay = Process(child);
        kube.kubectl(&["create", "namespace", NS]).unwrap();
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": POD, "namespace": NS, "labels": {"app": "vpc-nat-gw-natgw"}},
            "spec": {"containers": [{"name": "vpc-nat-gw", "image": "ovn-vpcd",
                     "args": ["gateway", "nat", "--rules", format!("{NS}/{CM}")]}]},
        });
        let g = Gateway { kube, _relay: relay, netns };
        g.kubectl_file("create", "pod.json", &pod);
        g
    }

    fn kubectl_file(&self, verb: &str, name: &str, obj: &Json) {
        let path = self.kube.dir().join(name);
        std::fs::write(&path, obj.to_string()).unwrap();
        self.kube.kubectl(&[verb, "-f", path.to_str().unwrap()]).unwrap();
    }

    fn write_rules(&self, verb: &str, json_text: &str) {
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CM, "namespace": NS},
            "data": {DATA_KEY: json_text},
        });
        self.kubectl_file(verb, "rules.json", &cm);
    }

    fn set_rules(&self, verb: &str, set: &NatRuleSet) {
        self.write_rules(verb, &set.to_json());
    }

    fn log_path(&self) -> PathBuf {
        self.kube.dir().join("agent.log")
    }

    /// `ip netns exec NS ovn-vpcd gateway nat --rules ... --kubeconfig ...`.
    fn agent(&self) -> Process {
        let log = File::options().create(true).append(true).open(self.log_path()).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns.name, env!("CARGO_BIN_EXE_ovn-vpcd"), "gateway", "nat"])
            .args(["--rules", &format!("{NS}/{CM}")])
            .arg("--kubeconfig")
            .arg(self.kube.kubeconfig())
            .args(["--recheck-interval", &RECHECK.as_secs_f64().to_string()])
            .env("POD_NAME", POD)
            .env("POD_NAMESPACE", NS)
            .env("OVN_VPCD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Process(child)
    }

    fn annotations(&self) -> Json {
        let out = self.kube.kubectl(&["get", "pod", "-n", NS, POD, "-o", "jsonpath={.metadata.annotations}"]).unwrap();
        if out.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&out).unwrap()
        }
    }

    fn annotation(&self, key: &str) -> Option<String> {
        self.annotations().get(key).and_then(Json::as_str).map(str::to_string)
    }

    fn nat(&self) -> Vec<String> {
        self.netns.lines("iptables -t nat -S")
    }

    /// Polls `check` every 50 ms up to `limit`; the time it took.
    async fn until(&self, what: &str, limit: Duration, check: impl Fn(&Gateway) -> bool) -> Duration {
        let t0 = Instant::now();
        while !check(self) {
            if t0.elapsed() > limit {
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                panic!(
                    "{what}: not within {limit:?}\nnat: {:#?}\nannotations: {}\nagent log:\n{log}",
                    self.nat(),
                    self.annotations()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        t0.elapsed()
    }

    async fn until_applied(&self, set: &NatRuleSet) -> Duration {
        let digest = set.digest();
        self.until(&format!("digest {digest} reported"), Duration::from_secs(30), |g| {
            g.annotation(APPLIED_ANNOTATION).as_deref() == Some(digest.as_str())
                && g.annotation(APPLY_ERROR_ANNOTATION).is_none()
        })
        .await
    }
}

fn ip(s: &str) -> std::net::Ipv4Addr {
    s.parse().unwrap()
}

/// Seed 003's set: SNAT EIP eips01 for the subnet, DNAT eipd01:8888 → the
/// web pod's :80, plus a FIP (eipf01 → 10.0.1.5) and a VPC route.
fn seed_003() -> NatRuleSet {
    NatRuleSet::from_json(include_str!("fixtures/seed-003-rules-fip.json")).unwrap()
}

const DNAT_8888: &str =
    "-A SHARED_DNAT -d 172.16.3.203/32 -p tcp -m tcp --dport 8888 -j DNAT --to-destination 10.0.1.2:80";
const FIP_DNAT: &str = "-A EXCLUSIVE_DNAT -d 172.16.3.204/32 -j DNAT --to-destination 10.0.1.5";
const FIP_SNAT: &str = "-A EXCLUSIVE_SNAT -s 10.0.1.5/32 -j SNAT --to-source 172.16.3.204";
const SNAT: &str = "-A SHARED_SNAT -s 10.0.1.0/24 -o net1 -j SNAT --to-source 172.16.3.208 --random-fully";

/// `iptables -t nat -S` as Kube-OVN 1.16's gateway shows it, with these
/// rules in their chains.
fn expected_nat(fip: bool, dnat: bool) -> Vec<String> {
    include_str!("fixtures/seed-003-iptables-nat.txt")
        .lines()
        .filter(|l| (fip || (*l != FIP_DNAT && *l != FIP_SNAT)) && (dnat || *l != DNAT_8888))
        .map(String::from)
        .collect()
}

/// `iptables -t mangle -S` as Kube-OVN 1.16's gateway shows it.
const EXPECTED_MANGLE: &str = include_str!("fixtures/seed-003-iptables-mangle.txt");

/// `ip -4 addr show dev net1` as `address/len label`, sorted.
fn net1_addresses(g: &Gateway) -> Vec<String> {
    let links: Json = serde_json::from_str(&g.netns.run("ip -j -4 addr show dev net1")).unwrap();
    let mut out: Vec<String> = links[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{} {}", a["local"].as_str().unwrap(), a["prefixlen"], a["label"].as_str().unwrap()))
        .collect();
    out.sort();
    out
}

fn assert_seed_003_state(g: &Gateway, fip: bool, dnat: bool) {
    assert_eq!(g.nat(), expected_nat(fip, dnat));
    assert_eq!(g.netns.lines("iptables -t mangle -S"), EXPECTED_MANGLE.lines().collect::<Vec<_>>());
    assert_eq!(
        net1_addresses(g),
        ["172.16.3.10/24 net1", "172.16.3.203/24 net1:eip", "172.16.3.204/24 net1:eip", "172.16.3.208/24 net1:eip"]
    );
    let routes = g.netns.lines("ip route show");
    assert!(routes.contains(&"default via 172.16.3.2 dev net1 proto 157 onlink ".into()), "{routes:#?}");
    assert!(routes.contains(&"10.0.2.0/24 via 10.0.1.1 dev eth0 proto 157 ".into()), "{routes:#?}");
    assert_eq!(g.netns.run("cat /proc/sys/net/ipv4/ip_forward").trim(), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_is_applied_kept_repaired_and_re_applied_after_a_restart() {
    let g = Gateway::start();
    let set = seed_003();
    g.set_rules("create", &set);
    let agent = g.agent();
    let took = g.until_applied(&set).await;
    eprintln!("seed 003 applied and reported {:.2} s after the agent started", took.as_secs_f64());
    assert_seed_003_state(&g, true, true);

    // A rule removed from the ConfigMap disappears; several updates
    // later nothing is duplicated.
    // Its connections are forgotten (conntrack), others' are not.
    g.netns.run("conntrack -I -s 172.16.3.50 -d 172.16.3.203 -p tcp --sport 40000 --dport 8888 --state ESTABLISHED -t 120 --reply-src 10.0.1.2 --reply-dst 172.16.3.50 --reply-port-src 80 --reply-port-dst 40000");
    g.netns.run("conntrack -I -s 172.16.3.50 -d 172.16.3.208 -p tcp --sport 40001 --dport 22 --state ESTABLISHED -t 120 --reply-src 172.16.3.208 --reply-dst 172.16.3.50 --reply-port-src 22 --reply-port-dst 40001");
    let flows = |g: &Gateway, dst: &str| g.netns.lines(&format!("conntrack -L -d {dst}")).len();
    assert_eq!((flows(&g, "172.16.3.203"), flows(&g, "172.16.3.208")), (1, 1));
    let mut no_dnat = set.clone();
    no_dnat.dnats.clear();
    g.set_rules("replace", &no_dnat);
    g.until_applied(&no_dnat).await;
    assert_eq!(g.nat(), expected_nat(true, false));
    assert_eq!((flows(&g, "172.16.3.203"), flows(&g, "172.16.3.208")), (0, 1), "the DNAT's flow flushed, only it");
    let mut no_fip = no_dnat.clone();
    no_fip.fips.clear();
    for s in [&no_fip, &set, &no_dnat, &set] {
        g.set_rules("replace", s);
        g.until_applied(s).await;
    }
    assert_seed_003_state(&g, true, true);

    // A rule added by hand to SHARED_DNAT goes.
    g.netns.run("iptables -t nat -A SHARED_DNAT -d 172.16.3.203/32 -p tcp -m tcp --dport 2222 -j DNAT --to-destination 10.0.1.9:22");
    assert_ne!(g.nat(), expected_nat(true, true));
    let t = g.until("the hand-added rule removed", RECHECK * 5, |g| g.nat() == expected_nat(true, true)).await;
    eprintln!("hand-added rule removed after {:.2} s", t.as_secs_f64());

    // A chain flushed by hand is back within the re-check period.
    g.netns.run("iptables -t nat -F SHARED_SNAT");
    assert!(!g.nat().contains(&SNAT.to_string()));
    let t = g.until("SHARED_SNAT refilled", RECHECK * 3, |g| g.nat() == expected_nat(true, true)).await;
    eprintln!("flushed SHARED_SNAT back after {:.2} s (re-check period {RECHECK:?})", t.as_secs_f64());

    // The agent killed; meanwhile the kernel loses a chain's rules and an
    // EIP. A new agent puts everything back from the API alone, once.
    drop(agent);
    g.netns.run("iptables -t nat -F SHARED_DNAT");
    g.netns.run("ip addr del 172.16.3.204/24 dev net1");
    g.kube.kubectl(&["annotate", "pod", "-n", NS, POD, "--overwrite", &format!("{APPLIED_ANNOTATION}=stale")]).unwrap();
    let agent = g.agent();
    let t = g.until_applied(&set).await;
    eprintln!("restarted agent re-applied and reported after {:.2} s", t.as_secs_f64());
    assert_seed_003_state(&g, true, true);

    // A set of another version: the rules stay, the error says why.
    let mut v99: Json = serde_json::from_str(&set.to_json()).unwrap();
    v99["version"] = json!(99);
    g.write_rules("replace", &v99.to_string());
    g.until("the version error reported", Duration::from_secs(20), |g| {
        g.annotation(APPLY_ERROR_ANNOTATION).is_some_and(|e| e.contains("version 99"))
    })
    .await;
    let error = g.annotation(APPLY_ERROR_ANNOTATION).unwrap();
    assert!(error.contains(&format!("this build reads version {VERSION}")), "{error}");
    assert_eq!(g.annotation(APPLIED_ANNOTATION), Some(set.digest()));
    // Kept through re-checks, and still repaired.
    g.netns.run("iptables -t nat -F SHARED_SNAT");
    g.until("SHARED_SNAT refilled from the last good set", RECHECK * 3, |g| g.nat() == expected_nat(true, true)).await;
    assert_seed_003_state(&g, true, true);

    // The ConfigMap deleted: the same.
    g.kube.kubectl(&["delete", "configmap", "-n", NS, CM]).unwrap();
    g.until("the deletion reported", Duration::from_secs(20), |g| {
        g.annotation(APPLY_ERROR_ANNOTATION).is_some_and(|e| e.contains("deleted"))
    })
    .await;
    tokio::time::sleep(RECHECK * 2).await;
    assert_seed_003_state(&g, true, true);
    drop(agent);
}

/// A set with a route whose next hop the kernel cannot reach, written
/// straight into the ConfigMap (the daemon refuses it; the agent must not
/// trust it): the NAT rules, the EIPs and the other routes are applied
/// anyway, the failed line is reported with the kernel's reason, the set's
/// digest is not reported as applied, and the apply is retried. The route
/// fixed, the set is applied and reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_the_kernel_refuses_leaves_the_nat_rules_and_eips_applied_and_is_reported() {
    let g = Gateway::start();
    let mut set = seed_003();
    set.lan.routes.insert(0, Route { cidr: "10.9.0.0/16".into(), via: ip("192.168.77.1") });
    g.set_rules("create", &set);
    let _agent = g.agent();
    g.until("an apply error reported", Duration::from_secs(30), |g| g.annotation(APPLY_ERROR_ANNOTATION).is_some())
        .await;
    assert_seed_003_state(&g, true, true);
    let error = g.annotation(APPLY_ERROR_ANNOTATION).unwrap();
    assert_eq!(
        error,
        "`ip -force -batch -`: 1 line failed (the other lines applied): \
         `route replace 10.9.0.0/16 via 192.168.77.1 dev eth0 proto 157`: Error: Nexthop has invalid gateway."
    );
    assert_eq!(g.annotation(APPLIED_ANNOTATION).as_deref(), Some("none"), "not reported as applied");
    assert!(!g.netns.run("ip route show").contains("10.9.0.0/16"));

    // Retried (with backoff), the rest kept as it is, nothing duplicated.
    g.until("the apply retried", Duration::from_secs(10), |g| {
        std::fs::read_to_string(g.log_path()).unwrap().matches("applying the rule set failed").count() >= 3
    })
    .await;
    assert_seed_003_state(&g, true, true);
    assert_eq!(g.annotation(APPLY_ERROR_ANNOTATION).as_deref(), Some(error.as_str()));

    // A next hop on eth0: applied and reported, the error gone.
    set.lan.routes[0].via = ip("10.0.1.9");
    g.set_rules("replace", &set);
    g.until_applied(&set).await;
    assert_seed_003_state(&g, true, true);
    let routes = g.netns.lines("ip route show");
    assert!(routes.contains(&"10.9.0.0/16 via 10.0.1.9 dev eth0 proto 157 ".into()), "{routes:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_dnat_rules_are_applied_in_one_restore() {
    let g = Gateway::start();
    let mut set = seed_003();
    set.dnats = (0..1000u16)
        .map(|i| Dnat {
            name: format!("dnat{i:04}"),
            eip: ip("172.16.3.203"),
            protocol: if i % 2 == 0 { Protocol::Tcp } else { Protocol::Udp },
            external_port: 10000 + i,
            internal_ip: ip("10.0.1.2"),
            internal_port: 80,
        })
        .collect();
    let set = set.canonical();
    let _agent = g.agent();
    g.until("none reported", Duration::from_secs(20), |g| g.annotation(APPLIED_ANNOTATION).as_deref() == Some("none"))
        .await;
    let t0 = Instant::now();
    g.set_rules("create", &set);
    g.until_applied(&set).await;
    let total = t0.elapsed();
    let nat = g.nat();
    assert_eq!(nat.iter().filter(|l| l.starts_with("-A SHARED_DNAT ")).count(), 1000);
    assert!(nat.contains(
        &"-A SHARED_DNAT -d 172.16.3.203/32 -p udp -m udp --dport 10999 -j DNAT --to-destination 10.0.1.2:80"
            .to_string()
    ));
    let log = std::fs::read_to_string(g.log_path()).unwrap();
    let applied: Vec<&str> = log.lines().filter(|l| l.contains("applied the rule set")).collect();
    assert_eq!(applied.len(), 1, "one apply, one restore: {log}");
    let seconds = applied[0].split("seconds=").nth(1).and_then(|s| s.split_whitespace().next()).unwrap_or("?");
    eprintln!(
        "BENCH 1000 DNAT rules: {:.3} s from the ConfigMap's creation to the digest reported; the agent's apply (one iptables-restore) {seconds} s",
        total.as_secs_f64()
    );
}
