//! The VPC NAT gateway proven with packets: a 2-node testbed cluster, the
//! daemon, seed 003's tenant applied with kubectl (VPC mail263, subnet
//! vmservers, the external network 172.16.3.0/24 behind a macvlan NAD, the
//! gateway natgw, an SNAT EIP and a DNAT EIP :8888 → a pod's :80), and
//! traffic between VPC pods and the testbed's internet host (203.0.113.10,
//! beyond the external gateway 172.16.3.2).
//!
//! The gateway pod is the daemon's StatefulSet `vpc-nat-gw-natgw`; its
//! container is `ovn-vpcd gateway nat` (the testbed's node agent runs this
//! build's binary for it), which reads the rules ConfigMap with its own
//! ServiceAccount token, under the Role the daemon made (RBAC enforced by
//! the testbed API server). Forwarding in the pod is switched on by its
//! privileged init container `init-forwarding`, which the node agent runs
//! to completion before the agent's container (checked once it is Ready).
//!
//! One cluster for the file: one test runs the cases in sequence.

use std::process::Command;
use std::time::Duration;

use tokio::time::Instant;

use ovn_vpcd::testbed::cluster::Cluster;
use serde_json::Value as Json;

mod common;
use common::{wait_for, Daemon};

const SEED_003: &str = include_str!("fixtures/seed-003.yaml");
const SEED_003_NAT: &str = include_str!("fixtures/seed-003-nat.yaml");

/// What seed 003 sets up around its YAML on the testbed cluster (the NAD,
/// the ConfigMaps, the namespace).
const AROUND_003: &str = include_str!("fixtures/seed-003-cluster.yaml");

const GW_POD: &str = "vpc-nat-gw-natgw-0";
const INET: &str = "203.0.113.10";
const SNAT_EIP: &str = "172.16.3.208";
const DNAT_EIP: &str = "172.16.3.203";
const FIP_EIP: &str = "172.16.3.210";

fn web_pod(name: &str, ip: &str, node: &str) -> String {
    format!(
        r#"{{"apiVersion": "v1", "kind": "Pod",
 "metadata": {{"name": "{name}", "namespace": "sukai263", "annotations": {{"ovn.kubernetes.io/ip_address": "{ip}"}}}},
 "spec": {{"nodeName": "{node}", "terminationGracePeriodSeconds": 1,
   "containers": [{{"name": "web", "image": "nginx"}}]}}}}"#
    )
}

struct Bed {
    cluster: Cluster,
    daemon: Option<Daemon>,
}

impl Bed {
    fn kubectl(&self, args: &[&str]) -> String {
        self.cluster.kubectl(args).unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"))
    }

    fn apply(&self, yaml: &str) {
        self.cluster.kubectl_stdin(&["apply", "-f", "-"], yaml).unwrap_or_else(|e| panic!("kubectl apply: {e}"));
    }

    fn json(&self, args: &[&str]) -> Json {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl(&all)).unwrap()
    }

    fn start_daemon(&mut self) {
        let config = self.cluster.daemon_config("ovn-vpcd.toml", "nat-dataplane");
        self.daemon = Some(Daemon::start_on(self.cluster.nb_db(), &config, self.cluster.dir()));
    }

    fn running(&self, namespace: &str, pod: &str) {
        common::pods::running(&self.cluster, namespace, pod, Duration::from_secs(60));
    }

    /// `cmd` in the pod; (exit success, stdout + stderr).
    fn exec(&self, namespace: &str, pod: &str, cmd: &[&str]) -> (bool, String) {
        common::pods::exec(&self.cluster, namespace, pod, cmd)
    }

    /// `cmd` on the internet host.
    fn on_inet(&self, cmd: &[&str]) -> (bool, String) {
        let ns = self.cluster.get("INET_NETNS").unwrap();
        let out = Command::new("ip").args(["netns", "exec", ns]).args(cmd).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    fn curl_from_pod(&self, pod: &str, url: &str) -> (bool, String) {
        self.exec("sukai263", pod, &["curl", "-sS", "--max-time", "2", url])
    }

    fn curl_from_inet(&self, url: &str) -> (bool, String) {
        self.on_inet(&["curl", "-sS", "--max-time", "2", url])
    }

    /// Waits until `f` answers (ok, text) with ok and `text` containing
    /// `want`; returns how long it took.
    fn until(&self, what: &str, limit: Duration, want: &str, f: impl Fn() -> (bool, String)) -> Duration {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < limit {
            let (ok, text) = f();
            if ok && text.contains(want) {
                return start.elapsed();
            }
            last = text;
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what}: not within {limit:?}; last answer: {last}");
    }

    /// The internet host's page, as reached by the pod: it names the
    /// source address it saw.
    fn inet_saw(&self, pod: &str) -> String {
        let (ok, text) = self.curl_from_pod(pod, &format!("http://{INET}/"));
        assert!(ok, "{pod} → internet host: {text}");
        text
    }

    fn nat_rules(&self) -> String {
        let (ok, text) = self.exec("kube-system", GW_POD, &["iptables", "-t", "nat", "-S"]);
        assert!(ok, "iptables in the gateway pod: {text}");
        text
    }

    fn ready(&self, kind: &str, name: &str) -> bool {
        let o = self.json(&["get", kind, name]);
        o["status"]["ready"] == Json::Bool(true)
            || o["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    }
}

fn start() -> Bed {
    let cluster = Cluster::start(2).unwrap_or_else(|e| panic!("the testbed cluster did not start: {e}"));
    let crds = Command::new(env!("CARGO_BIN_EXE_ovn-vpcd")).arg("crds").output().unwrap();
    assert!(crds.status.success());
    cluster.kubectl_stdin(&["apply", "-f", "-"], &String::from_utf8_lossy(&crds.stdout)).unwrap();
    let mut bed = Bed { cluster, daemon: None };
    bed.start_daemon();
    bed
}

#[test]
fn seed_003_nat_gateway_carries_snat_dnat_and_fip_traffic() {
    let mut bed = start();
    let nodes = bed.cluster.nodes();
    bed.apply(AROUND_003);
    bed.apply(SEED_003);
    // The seed pins the gateway to its machine; here it is the first node.
    bed.apply(
        &SEED_003_NAT
            .replace("kubernetes.io/hostname: ubuntuserver1", &format!("kubernetes.io/hostname: {}", nodes[0])),
    );
    // The DNAT target (10.0.1.2:80) on the other node: traffic crosses geneve.
    bed.apply(&web_pod("web", "10.0.1.2", &nodes[1]));
    bed.running("kube-system", GW_POD);
    bed.running("sukai263", "web");
    wait_for("the gateway Ready (the agent applied the rendered set)", Duration::from_secs(60), || {
        bed.ready("vpc-nat-gateways", "natgw").then_some(())
    });

    // Forwarding was switched on by the privileged init container, which
    // ran to completion before the (unprivileged) agent started; the agent
    // found it on and did not write it.
    let pod = bed.json(&["get", "pod", GW_POD, "-n", "kube-system"]);
    let init = &pod["status"]["initContainerStatuses"];
    assert_eq!(init.as_array().map(Vec::len), Some(1), "{pod}");
    assert_eq!(init[0]["name"], "init-forwarding", "{init}");
    assert_eq!(init[0]["state"]["terminated"]["exitCode"], 0, "{init}");
    assert_eq!(init[0]["state"]["terminated"]["reason"], "Completed", "{init}");
    assert!(
        pod["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Initialized" && c["status"] == "True")),
        "{pod}"
    );
    assert_eq!(pod["spec"]["initContainers"][0]["securityContext"]["privileged"], true, "{pod}");
    assert_eq!(pod["spec"]["containers"][0]["securityContext"]["privileged"], false, "{pod}");
    let (ok, forwarding) = bed.exec("kube-system", GW_POD, &["cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert!(ok && forwarding.trim() == "1", "ip_forward in the gateway pod: {forwarding}");
    let log = bed.kubectl(&["logs", GW_POD, "-n", "kube-system", "-c", "vpc-nat-gw"]);
    assert!(log.contains("applied the rule set"), "{log}");
    assert!(!log.contains("forwarding_enabled=true"), "the agent had to switch forwarding on itself:\n{log}");

    // SNAT: the VPC pod reaches the internet host as the SNAT EIP.
    let t = bed.until("SNAT", Duration::from_secs(20), &format!("saw {SNAT_EIP}"), || {
        bed.curl_from_pod("web", &format!("http://{INET}/"))
    });
    eprintln!("SNAT flowing {t:?} after the gateway was ready");
    // DNAT: the internet host reaches the pod's web server at eip:8888.
    let page = bed.until("DNAT", Duration::from_secs(20), "Welcome to nginx! pod web", || {
        bed.curl_from_inet(&format!("http://{DNAT_EIP}:8888/"))
    });
    eprintln!("DNAT flowing after {page:?}");
    // The pod sees the internet host's own address (DNAT keeps the source).
    let (_, text) = bed.curl_from_inet(&format!("http://{DNAT_EIP}:8888/"));
    assert!(text.contains(&format!("saw {INET}")), "{text}");

    // What an operator sees in the gateway pod: exactly the rendered set, in
    // Kube-OVN's chains and rules.
    let set = bed.kubectl(&[
        "get",
        "cm",
        "vpc-nat-gw-natgw-rules",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.data.rules\\.json}",
    ]);
    let set = ovn_vpcd::rules::nat::NatRuleSet::from_json(&set).unwrap();
    let [nat, _mangle] = ovn_vpcd::gateway::nat::iptables::desired(&set).unwrap();
    let want = ovn_vpcd::gateway::nat::iptables::listing(&nat);
    let rules = bed.nat_rules();
    assert_eq!(rules.lines().collect::<Vec<_>>(), want, "kubectl exec ... iptables -t nat -S");
    for want in [
        format!("-A SHARED_DNAT -d {DNAT_EIP}/32 -p tcp -m tcp --dport 8888 -j DNAT --to-destination 10.0.1.2:80"),
        format!("-A SHARED_SNAT -s 10.0.1.0/24 -o net1 -j SNAT --to-source {SNAT_EIP} --random-fully"),
        "-A PREROUTING -j DNAT_FILTER".to_string(),
        "-A POSTROUTING -j SNAT_FILTER".to_string(),
    ] {
        assert_eq!(rules.lines().filter(|l| *l == want).count(), 1, "once: {want}\n{rules}");
    }

    // FIP both ways: a second pod behind its own EIP.
    bed.apply(&web_pod("fipped", "10.0.1.5", &nodes[1]));
    bed.running("sukai263", "fipped");
    // The upstream router still maps the FIP's address to an old MAC (as
    // after a gateway moved, #4690): the agent's gratuitous ARP for the new
    // EIP corrects it before any traffic asks.
    let ext = bed.cluster.get("EXT_NETNS").unwrap().to_string();
    let neigh = |args: &[&str]| {
        let out = Command::new("ip").args(["-n", &ext, "neigh"]).args(args).output().unwrap();
        assert!(out.status.success(), "ip neigh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    neigh(&["replace", FIP_EIP, "lladdr", "02:00:00:00:00:99", "dev", "br-ext", "nud", "stale"]);
    let (ok, net1_mac) = bed.exec("kube-system", GW_POD, &["cat", "/sys/class/net/net1/address"]);
    assert!(ok, "{net1_mac}");
    bed.apply(&format!(
        "kind: IptablesEIP\napiVersion: kubeovn.io/v1\nmetadata: {{name: eipf01}}\nspec: {{natGwDp: natgw, v4ip: {FIP_EIP}}}\n---\n\
         kind: IptablesFIPRule\napiVersion: kubeovn.io/v1\nmetadata: {{name: fip01}}\nspec: {{eip: eipf01, internalIp: 10.0.1.5}}\n"
    ));
    wait_for(
        "the upstream neighbour entry of the new EIP corrected by gratuitous ARP",
        Duration::from_secs(20),
        || neigh(&["show", FIP_EIP, "dev", "br-ext"]).contains(net1_mac.trim()).then_some(()),
    );
    bed.until("FIP inbound", Duration::from_secs(20), "pod fipped", || {
        bed.curl_from_inet(&format!("http://{FIP_EIP}/"))
    });
    bed.until("FIP outbound", Duration::from_secs(20), &format!("saw {FIP_EIP}"), || {
        bed.curl_from_pod("fipped", &format!("http://{INET}/"))
    });
    // The other pod still leaves as the SNAT EIP.
    assert!(bed.inet_saw("web").contains(&format!("saw {SNAT_EIP}")));
    wait_for("fip01 ready", Duration::from_secs(20), || bed.ready("iptables-fip-rules", "fip01").then_some(()));

    // Hairpin: a VPC pod reaches another VPC pod through the gateway at its
    // DNAT EIP (#5572).
    bed.until("hairpin to the DNAT EIP", Duration::from_secs(20), "Welcome to nginx! pod web", || {
        bed.curl_from_pod("fipped", &format!("http://{DNAT_EIP}:8888/"))
    });

    // An edit that is refused does not cost the working rule: dnat01 moved
    // to an IPv6 internalIp (the iptables gateway is IPv4-only) is refused
    // on its status, and eip:8888 still reaches the pod.
    bed.kubectl(&[
        "patch",
        "iptables-dnat-rules",
        "dnat01",
        "--type=merge",
        "-p",
        r#"{"spec":{"internalIp":"fd00::2"}}"#,
    ]);
    wait_for("the refused edit of dnat01", Duration::from_secs(20), || {
        let o = bed.json(&["get", "iptables-dnat-rules", "dnat01"]);
        o["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Validated" && c["status"] == "False")
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    bed.until("DNAT kept through the refused edit", Duration::from_secs(5), "Welcome to nginx! pod web", || {
        bed.curl_from_inet(&format!("http://{DNAT_EIP}:8888/"))
    });
    assert!(bed.nat_rules().contains("--dport 8888 -j DNAT --to-destination 10.0.1.2:80"), "{}", bed.nat_rules());
    // The daemon restarted while the edit is still refused: the new process
    // never rendered dnat01, and keeps it as its status shows it in force.
    bed.daemon.take();
    bed.start_daemon();
    wait_for("the restarted daemon's first pass", Duration::from_secs(30), || {
        bed.daemon.as_ref().unwrap().log().contains("NAT gateway settings").then_some(())
    });
    std::thread::sleep(Duration::from_secs(4));
    let rules = bed.json(&["get", "configmap", "-n", "kube-system", "vpc-nat-gw-natgw-rules"]);
    assert!(rules["data"]["rules.json"].as_str().unwrap().contains("\"dnat01\""), "{rules}");
    bed.until("DNAT kept through a restart while refused", Duration::from_secs(5), "Welcome to nginx! pod web", || {
        bed.curl_from_inet(&format!("http://{DNAT_EIP}:8888/"))
    });

    // Deleting a rule stops exactly its traffic.
    bed.kubectl(&["delete", "iptables-dnat-rules", "dnat01"]);
    wait_for("the DNAT gone", Duration::from_secs(20), || {
        (!bed.curl_from_inet(&format!("http://{DNAT_EIP}:8888/")).0).then_some(())
    });
    assert!(bed.inet_saw("web").contains(&format!("saw {SNAT_EIP}")), "SNAT untouched");
    bed.until("FIP untouched", Duration::from_secs(5), "pod fipped", || {
        bed.curl_from_inet(&format!("http://{FIP_EIP}/"))
    });
    assert!(!bed.nat_rules().contains("--dport 8888"), "{}", bed.nat_rules());

    // A conflict is refused alone: a second FIP on eipf01, named before the
    // working one (the one in force keeps its EIP, whatever the names).
    bed.apply("kind: IptablesFIPRule\napiVersion: kubeovn.io/v1\nmetadata: {name: fip00}\nspec: {eip: eipf01, internalIp: 10.0.1.2}\n");
    wait_for("fip00 refused", Duration::from_secs(20), || {
        let o = bed.json(&["get", "iptables-fip-rules", "fip00"]);
        o["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Validated" && c["status"] == "False")
            .then_some(())
    });
    bed.until("FIP untouched by the refused one", Duration::from_secs(5), "pod fipped", || {
        bed.curl_from_inet(&format!("http://{FIP_EIP}/"))
    });
    assert!(!bed.nat_rules().contains("--to-destination 10.0.1.2\n"), "{}", bed.nat_rules());
    // fip00 stays while the gateway's container, daemon and pod restart below.

    // With the daemon stopped, someone flushes a chain: the agent repairs it.
    bed.daemon.take();
    let netns = bed.cluster.pod_netns("kube-system", GW_POD).unwrap();
    let in_gw = |args: &[&str]| {
        let st = Command::new("ip").args(["netns", "exec", &netns]).args(args).status().unwrap();
        assert!(st.success(), "{args:?}");
    };
    in_gw(&["iptables", "-t", "nat", "-F", "SHARED_SNAT"]);
    let t =
        bed.until("SNAT repaired with the daemon stopped", Duration::from_secs(20), &format!("saw {SNAT_EIP}"), || {
            bed.curl_from_pod("web", &format!("http://{INET}/"))
        });
    eprintln!("a flushed chain repaired by the agent's re-check (daemon stopped) in {t:?}");

    // The gateway container dies with its rules and EIPs gone meanwhile
    // (frozen first, so that only the restarted container can repair):
    // the new container re-applies from the API alone (#4987).
    let before: Json = bed.json(&["get", "pod", GW_POD, "-n", "kube-system"]);
    let restarts = |p: &Json| p["status"]["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0);
    let agent = agent_pid(&netns);
    assert!(Command::new("kill").args(["-STOP", &agent]).status().unwrap().success());
    for chain in ["EXCLUSIVE_DNAT", "EXCLUSIVE_SNAT", "SHARED_DNAT", "SHARED_SNAT", "HAIRPIN_SNAT"] {
        in_gw(&["iptables", "-t", "nat", "-F", chain]);
    }
    in_gw(&["ip", "addr", "flush", "dev", "net1", "label", "net1:eip"]);
    assert!(!bed.curl_from_inet(&format!("http://{FIP_EIP}/")).0, "the FIP is down while the agent is");
    let start = Instant::now();
    assert!(Command::new("kill").args(["-KILL", &agent]).status().unwrap().success());
    bed.until("FIP after the container restart", Duration::from_secs(30), "pod fipped", || {
        bed.curl_from_inet(&format!("http://{FIP_EIP}/"))
    });
    eprintln!("container killed → FIP traffic again in {:?} (daemon stopped)", start.elapsed());
    assert!(restarts(&bed.json(&["get", "pod", GW_POD, "-n", "kube-system"])) > restarts(&before));
    assert!(bed.inet_saw("web").contains(&format!("saw {SNAT_EIP}")));
    let rules = bed.nat_rules();
    assert_eq!(rules.lines().filter(|l| l.starts_with("-A PREROUTING -j DNAT_FILTER")).count(), 1, "{rules}");

    // The daemon back: nothing duplicated.
    bed.start_daemon();
    std::thread::sleep(Duration::from_secs(3));
    no_rule_twice(&bed.nat_rules());
    assert!(bed.inet_saw("web").contains(&format!("saw {SNAT_EIP}")));

    // The gateway pod deleted: the StatefulSet makes it again, and its
    // agent applies everything in the new pod's namespace.
    let start = Instant::now();
    bed.kubectl(&["delete", "pod", GW_POD, "-n", "kube-system", "--wait=false"]);
    wait_for("the old gateway pod gone", Duration::from_secs(30), || {
        let uid = bed.cluster.kubectl(&["get", "pod", GW_POD, "-n", "kube-system", "-o", "jsonpath={.metadata.uid}"]);
        (uid.ok().as_deref() != before["metadata"]["uid"].as_str()).then_some(())
    });
    bed.running("kube-system", GW_POD);
    bed.until("FIP in the new gateway pod", Duration::from_secs(30), "pod fipped", || {
        bed.curl_from_inet(&format!("http://{FIP_EIP}/"))
    });
    bed.until("SNAT in the new gateway pod", Duration::from_secs(10), &format!("saw {SNAT_EIP}"), || {
        bed.curl_from_pod("web", &format!("http://{INET}/"))
    });
    eprintln!("gateway pod deleted → FIP and SNAT traffic again in {:?}", start.elapsed());
    // Through the restarts (the pod away: fip01's status said not ready), the
    // conflicting fip00 stayed refused and fip01 kept its EIP.
    let o = bed.json(&["get", "iptables-fip-rules", "fip00"]);
    let validated =
        o["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Validated").cloned());
    assert_eq!(validated.as_ref().map(|c| c["status"].clone()), Some(Json::from("False")), "{o}");
    assert!(!bed.nat_rules().contains("--to-destination 10.0.1.2\n"), "{}", bed.nat_rules());
    bed.kubectl(&["delete", "iptables-fip-rules", "fip00"]);

    // A fast create/delete loop of 100 FIPs (#5115 #5799) leaves no rule.
    let mut batch = String::new();
    let loop_ip = |i: u32| if i < 90 { 110 + i } else { 211 + (i - 90) };
    for i in 0..100u32 {
        let ip = loop_ip(i);
        batch.push_str(&format!(
            "---\nkind: IptablesEIP\napiVersion: kubeovn.io/v1\nmetadata: {{name: loop-e{i}}}\nspec: {{natGwDp: natgw, v4ip: 172.16.3.{ip}}}\n\
             ---\nkind: IptablesFIPRule\napiVersion: kubeovn.io/v1\nmetadata: {{name: loop-f{i}}}\nspec: {{eip: loop-e{i}, internalIp: 10.0.2.{i}}}\n"
        ));
    }
    for _ in 0..3 {
        bed.apply(&batch);
        bed.cluster.kubectl_stdin(&["delete", "--wait=false", "--ignore-not-found", "-f", "-"], &batch).unwrap();
    }
    wait_for("every loop object gone", Duration::from_secs(60), || {
        let left = bed.kubectl(&["get", "iptables-fip-rules,iptables-eips", "-o", "name"]);
        (!left.contains("loop-")).then_some(())
    });
    // The set after the loop is the one before it (same digest): Ready says
    // nothing here, so wait for the kernel itself to hold no loop object.
    let (rules, addrs) = (std::cell::RefCell::new(String::new()), std::cell::RefCell::new(String::new()));
    let clean = || {
        *rules.borrow_mut() = bed.nat_rules();
        *addrs.borrow_mut() = bed.exec("kube-system", GW_POD, &["ip", "-4", "-o", "addr", "show", "dev", "net1"]).1;
        !rules.borrow().contains("10.0.2.")
            && (0..100).all(|i| !addrs.borrow().contains(&format!("172.16.3.{}/", loop_ip(i))))
    };
    let start = Instant::now();
    while !clean() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "a loop FIP or EIP left behind:\n{}\n{}",
            rules.borrow(),
            addrs.borrow()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("100 FIPs created and deleted 3 times: the kernel clean {:?} after the last delete", start.elapsed());
    let rules = rules.into_inner();
    no_rule_twice(&rules);
    bed.until("FIP after the loop", Duration::from_secs(5), "pod fipped", || {
        bed.curl_from_inet(&format!("http://{FIP_EIP}/"))
    });

    // The gateway's node: its agent and OVS restarted, then rebooted, with
    // the daemon stopped (#3241 #5029 #4684): rules and EIPs come back in
    // the gateway pod by themselves, and traffic flows again.
    bed.daemon.take();
    for reboot in [false, true] {
        let what = if reboot { "rebooted" } else { "agent and OVS restarted" };
        let start = Instant::now();
        let took = bed.cluster.restart_node(1, reboot).unwrap_or_else(|e| panic!("node-1 {what}: {e}"));
        bed.until(&format!("FIP after node-1 {what}"), Duration::from_secs(30), "pod fipped", || {
            bed.curl_from_inet(&format!("http://{FIP_EIP}/"))
        });
        bed.until(&format!("SNAT after node-1 {what}"), Duration::from_secs(10), &format!("saw {SNAT_EIP}"), || {
            bed.curl_from_pod("web", &format!("http://{INET}/"))
        });
        eprintln!(
            "node-1 {what} (daemon stopped): the node back in {took:?}, FIP and SNAT traffic again {:?} after the start",
            start.elapsed()
        );
        no_rule_twice(&bed.nat_rules());
    }

    // The daemon back: nothing duplicated, nothing moved.
    let rules = bed.nat_rules();
    bed.start_daemon();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(bed.nat_rules(), rules, "the daemon's restart changed the gateway's rules");
}

/// The pid of the gateway agent, among the pod namespace's processes.
fn agent_pid(netns: &str) -> String {
    let pids = Command::new("ip").args(["netns", "pids", netns]).output().unwrap();
    let agent: Vec<String> = String::from_utf8_lossy(&pids.stdout)
        .split_whitespace()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).replace('\0', " ").contains("gateway nat --rules")
        })
        .map(str::to_string)
        .collect();
    assert_eq!(agent.len(), 1, "one agent process in {netns}: {agent:?}");
    agent[0].clone()
}

fn no_rule_twice(rules: &str) {
    let mut lines: Vec<&str> = rules.lines().collect();
    let n = lines.len();
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), n, "a rule twice:\n{rules}");
}
