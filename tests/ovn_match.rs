//! Policy matches against real OVN: `ovn-vpcd plan/apply` refuse a bad
//! match before it reaches the NB, and OVN 23.03 itself (ovn-trace, which
//! parses every logical flow with ovn-controller's lexer and symbol table)
//! agrees with `ovn_match` on a sample of matches, message for message.

use std::process::{Command, Output};

use ovn_vpcd::model::ovn_match;
use ovn_vpcd::testbed::{run, Ovn};

fn vpcd(ovn: &Ovn, cmd: &str, config: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ovn-vpcd"))
        .args([cmd, "--config"])
        .arg(config)
        .args(["--db", ovn.nb_unix()])
        .output()
        .unwrap()
}

const CONFIG: &str = r#"
[[vpc]]
name = "good"
policyRoutes = [{ priority = 10, match = "ip4.src == 10.0.1.0/24", action = "reroute", nextHopIP = "10.0.1.252" }]

[[vpc]]
name = "bad"
policyRoutes = [{ priority = 10, match = "ip4.src=== 10.0.2.0/24 &&", action = "drop" }]

[[vpc]]
name = "mixed"
policyRoutes = [{ priority = 10, match = "ip6.src == fd00:3::/64", action = "reroute", nextHopIP = "10.0.3.252" }]

[[subnet]]
name = "net-good"
vpc = "good"
cidrBlock = "10.0.1.0/24"

[[subnet]]
name = "net-bad"
vpc = "bad"
cidrBlock = "10.0.2.0/24"

[[subnet]]
name = "net-mixed"
vpc = "mixed"
cidrBlock = "10.0.3.0/24,fd00:3::/64"
"#;

#[test]
fn a_policy_with_a_bad_match_is_refused_with_its_column_and_never_reaches_the_nb() {
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let config = ovn.dir().join("ovn-vpcd.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let bad = "refused: Vpc \"bad\": policyRoutes[0].match: column 10: Syntax error at `=' expecting constant.";
    let mixed =
        "refused: Vpc \"mixed\": policyRoutes[0].nextHopIP: 10.0.3.252 is IPv4 but the match refers to IPv6 only";
    for cmd in ["plan", "apply"] {
        let out = vpcd(&ovn, cmd, &config);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {err}");
        assert!(err.contains(bad), "{cmd}: {err}");
        assert!(err.contains(mixed), "{cmd}: {err}");
    }
    let matches = ovn.nbctl(&["--bare", "--columns=match", "list", "Logical_Router_Policy"]).unwrap();
    assert!(!matches.contains("==="), "the bad match reached the NB: {matches}");
    assert!(!matches.contains("fd00:3::/64"), "the refused reroute reached the NB: {matches}");
    let policies = ovn.nbctl(&["lr-policy-list", "good"]).unwrap();
    assert!(policies.contains("ip4.src == 10.0.1.0/24") && policies.contains("10.0.1.252"), "{policies}");
    let routers = ovn.nbctl(&["--bare", "--columns=name", "list", "Logical_Router"]).unwrap();
    let routers: Vec<&str> = routers.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(routers, vec!["good"], "only the valid VPC converged");
}

/// Matches whose verdict (and message) must be OVN's own.
const SAMPLE: &[&str] = &[
    // Accepted.
    "ip4.src==10.0.1.0/24 && ip4.dst==10.0.1.250",
    "ip4.src == $as1",
    "$as1 == ip4.src",
    "inport == @pg1 && ip4",
    "inport == {\"a\", \"b\"}",
    "!(inport != \"a\")",
    "tcp.dst == {1 2 3}",
    "tcp.dst == {1, 2, 3,}",
    "tcp.dst != {80, 443}",
    "1 < tcp.dst < 100",
    "100 > tcp.dst >= 1",
    "1 == tcp.dst",
    "1",
    "0",
    "(ip4 && tcp) || udp",
    "!(ip4.src == 1.1.1.1)",
    "!ct.est",
    "ct.est && !ct.new",
    "ct.trk && ct_label.blocked == 0",
    "ip4.src[0..7] == 1",
    "ip4.src[0]",
    "!reg0",
    "!eth.type",
    "reg9 < 5",
    "reg0[0..31] == 10.0.0.1",
    "xxreg0 == 0x1/0x1",
    "ip4.src == 10.0.0.1/8",
    "ip4.src == 10.0.0.0/255.0.0.0",
    "ip4.src == 0.0.0.0/0",
    "ip4.src == 0x0a000001",
    "tcp.dst == 0/0xff",
    "tcp.dst == 5/7",
    "ip6.src == fe80::/10",
    "ip6.src == fe80::1/ffff::",
    "ip6.src == ::ffff:1.2.3.4",
    "ip6.dst == ff02::1:ff00:0000/104",
    "eth.src == 00:11:22:33:44:55/ff:ff:ff:00:00:00",
    "eth.dst == ff:ff:ff:ff:ff:ff",
    "ip4.src == 1.1.1.1 /* c */ && tcp",
    "ip4.src == 1.1.1.1 // c",
    "inport == \"a\\\"b\"",
    "inport == \"a\\u0041\"",
    "is_chassis_resident(\"p1\")",
    "ip4 == 1",
    "vlan.present && vlan.vid == 100",
    "icmp4.type == 8 && icmp4.code == 0",
    "nd_ns && nd.target == fe80::1",
    "ip.ttl == 255 && ip.dscp == 46 && ip.ecn == 3",
    "ip.first_frag || ip.later_frag",
    "arp.op == 1 && arp.spa == 10.0.0.1 && arp.sha == 00:00:00:00:00:01",
    "tcp.flags == 0x2 && udp.src >= 1024 && sctp.dst == 9",
    "pkt.mark == 0x1 && flags.loopback && ct_mark.natted",
    "ip4.mcast || ip6.mcast_flood || eth.bcast || igmp || mldv1",
    "ip4.src == 1.1.1.1 || ip6.src == ::1",
    // Refused.
    "ip4.src=== 10.0.2.0/24 &&",
    "ip4.srcx == 1.2.3.4",
    "inport == \"lsp1 && ip4",
    "ip4.src == 1.1.1.1 &&",
    "ip4.src ==",
    "ip4.src = 1.1.1.1",
    "ip4 = 1",
    "(ip4.src == 1.1.1.1",
    "ip4.src == 1.1.1.1)",
    "()",
    "ip4.src == {}",
    "tcp.dst == {1, \"a\"}",
    "ip4 tcp",
    "&& ip4",
    "!!ct.est",
    "2",
    "inport",
    "ip4.src",
    "ip4 && tcp || udp",
    "!ip4.src == 1.1.1.1",
    "!ip4",
    "tcp == 0",
    "1 < tcp.dst > 100",
    "inport < \"a\"",
    "eth.type < 1",
    "eth.bcast < 1",
    "inport != \"a\"",
    "!(inport == \"a\")",
    "!(arp.op == 1)",
    "eth.type != 0x800",
    "tcp.dst < {1, 2}",
    "ip4.src < 10.0.0.0/8",
    "tcp.dst == 70000",
    "ip4.src == fe80::1",
    "ip4.src == 00:11:22:33:44:55",
    "tcp.dst == 1.1.1.1",
    "ip4 == 2",
    "ip4.src == 0x1/0x1ffffffff",
    "inport == 1",
    "ip4.src == \"10.0.0.1\"",
    "ip4.src == @pg1",
    "inport == $as1",
    "ip4.src == 10.0.0.0/33",
    "ip4.src == 10.0.0.0/0xff000000",
    "ip4.src == 010.0.0.1",
    "ip4.src == 1.2.3",
    "ip4.src == 256.1.1.1",
    "ip4.src == 10.0.0.0/",
    "tcp.dst == 01",
    "tcp.dst == 0x",
    "tcp.dst == 0xg",
    "tcp.dst == 18446744073709551616",
    "ip6.src == fe80:::1",
    "eth.src == 00:11:22:33:44:5",
    "eth.src == 00:11:22:33:44:55:66",
    "ip4.src[7..0] == 1",
    "ip4.src[0..32] == 1",
    "ip.proto[0..3] == 1",
    "inport[0] == 1",
    "ip4.src[a] == 1",
    "ip4.src == 1.1.1.1 &",
    "ip4.src == 1.1.1.1 | ip4",
    "ip4.src == 1.1.1.1 #",
    ".ip4",
    "ip4.src == 1.1.1.1 /* c",
    "inport == \"a\\qb\"",
    "inport == \"a\\u00\"",
    "ip4.src == $",
    "inport == @",
    "foo(\"p1\")",
    "is_chassis_resident(1)",
    "ip4.dst == 10.0.0.1:80",
    "ip4.src == {10.0.0.1; 10.0.0.2}",
    "tcp.dst == 70000 #",
    "reg10 == 1",
    "xxreg2 == 1",
    "ip4.proto == 1",
];

/// Accepted by OVN, refused by us on purpose (see `ovn_match`'s head).
const STRICTER: &[&str] = &["ip6.src == 10.0.0.1", "eth.src == 10.0.0.1", "ip4.src[0..7] == 256"];

/// OVN's verdict on each match: `None` when ovn-trace parsed its logical
/// flow, else its error message.
fn ovn_verdicts(ovn: &Ovn, matches: &[&str]) -> Vec<Option<String>> {
    let sb = format!("--db={}", ovn.get("SB_UNIX").unwrap());
    let sbctl = |args: &[String]| run(Command::new("ovn-sbctl").arg(&sb).args(args)).unwrap();
    let dp = sbctl(&["create", "Datapath_Binding", "tunnel_key=1", "external_ids:name=r1"].map(String::from));
    sbctl(&["create", "Address_Set", "name=as1", "addresses=\"10.0.0.1\""].map(String::from));
    sbctl(&["create", "Port_Group", "name=pg1", "ports=\"p1\""].map(String::from));
    let mut args = vec![];
    for m in matches {
        args.extend(
            [
                "--",
                "create",
                "Logical_Flow",
                &format!("logical_datapath={}", dp.trim()),
                "pipeline=ingress",
                "table_id=0",
                "priority=1",
                &format!("match={}", serde_json::to_string(m).unwrap()),
                "actions=\"next;\"",
            ]
            .map(String::from),
        );
    }
    sbctl(&args);
    // The microflow is deliberately unparseable: ovn-trace reads (and
    // parses) every logical flow first, then stops without tracing.
    let out = Command::new("ovn-trace").arg(&sb).args(["r1", "no_such_field"]).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    matches
        .iter()
        .map(|m| {
            let head = format!("|ovntrace|WARN|{m}: parsing expression failed (");
            log.lines().find_map(|l| l.split_once(&head).map(|(_, e)| e.strip_suffix(')').unwrap_or(e).to_string()))
        })
        .collect()
}

#[test]
fn ovn_itself_gives_the_same_verdicts_and_messages() {
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let all: Vec<&str> = SAMPLE.iter().chain(STRICTER).copied().collect();
    let verdicts = ovn_verdicts(&ovn, &all);
    assert!(verdicts.iter().any(Option::is_some), "ovn-trace reported nothing: is it reading the flows?");
    let mut disagree = vec![];
    for (m, theirs) in SAMPLE.iter().zip(&verdicts) {
        let ours = ovn_match::check(m).err().map(|e| e.message);
        if ours != *theirs {
            disagree.push(format!("{m:?}: ovn-vpcd {ours:?}, OVN {theirs:?}"));
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
    let refused = verdicts[..SAMPLE.len()].iter().filter(|v| v.is_some()).count();
    assert!(refused > 60 && SAMPLE.len() - refused > 40, "the sample has both kinds ({refused} refused)");
    for (m, theirs) in STRICTER.iter().zip(&verdicts[SAMPLE.len()..]) {
        assert_eq!(*theirs, None, "{m}: OVN refuses it too now; drop it from STRICTER");
        assert!(ovn_match::check(m).is_err(), "{m}");
    }
}

/// Our stricter checks' messages (see `ovn_match`'s head).
fn is_stricter(message: &str) -> bool {
    (message.contains("-bit constant is not compatible with") && message.ends_with("].")
        || message.contains("constant is not compatible with IPv")
        || message.contains("constant is not compatible with Ethernet"))
        || message == "Only == and != operators may be used with value sets."
}

const FIELDS: &[&str] = &[
    "ip4.src",
    "ip4.dst",
    "ip6.src",
    "tcp.dst",
    "inport",
    "eth.src",
    "ip.proto",
    "reg0",
    "ct.est",
    "ip4",
    "tcp",
    "eth.type",
    "vlan.tci",
    "ip4.srcx",
    "ct_label",
    "icmp4.type",
    "ip.frag",
    "xreg4",
    "nd.target",
    "eth.bcast",
    "flags.loopback",
];
const CONSTS: &[&str] = &[
    "10.0.0.1",
    "10.0.0.0/8",
    "10.0.0.1/255.255.0.0",
    "fe80::1",
    "::/0",
    "00:11:22:33:44:55",
    "ff:ff:ff:ff:ff:ff/01:00:00:00:00:00",
    "0",
    "1",
    "2",
    "80",
    "65535",
    "65536",
    "0x10",
    "0xffffffff",
    "0x1ffffffff",
    "\"a\"",
    "\"p1\"",
    "@pg1",
    "{1, 2}",
    "{}",
    "{\"a\" \"b\"}",
    "{10.0.0.1, 10.0.0.2}",
    "5/7",
    "0/0xff",
    "01",
    "1.2.3",
];
const OPS: &[&str] = &["==", "!=", "<", "<=", ">", ">=", "="];
const SUBSCRIPTS: &[&str] = &["", "", "", "[0]", "[0..7]", "[1..0]", "[0..31]", "[31]"];

/// Random matches, mostly wrong in some way, from a fixed seed.
struct Generator(rand::rngs::StdRng);

impl Generator {
    fn pick(&mut self, from: &[&'static str]) -> &'static str {
        from[rand::Rng::gen_range(&mut self.0, 0..from.len())]
    }
    fn chance(&mut self, p: f64) -> bool {
        rand::Rng::gen_bool(&mut self.0, p)
    }
    fn expr(&mut self, depth: u32) -> String {
        let mut s = String::new();
        for i in 0..self.pick(&["1", "1", "2", "3"]).parse().unwrap() {
            if i > 0 {
                s += self.pick(&[" && ", " && ", " || "]);
            }
            if self.chance(0.2) {
                s.push('!');
            }
            s += &self.atom(depth);
        }
        s
    }
    fn atom(&mut self, depth: u32) -> String {
        if depth < 2 && self.chance(0.15) {
            return format!("({})", self.expr(depth + 1));
        }
        let field = format!("{}{}", self.pick(FIELDS), self.pick(SUBSCRIPTS));
        match self.pick(&["bare", "reversed", "boolean", "cmp", "cmp", "cmp", "cmp", "cmp"]) {
            "bare" => field,
            "reversed" => format!("{} {} {field}", self.pick(CONSTS), self.pick(OPS)),
            "boolean" => self.pick(&["0", "1"]).to_string(),
            _ => format!("{field} {} {}", self.pick(OPS), self.pick(CONSTS)),
        }
    }
}

fn random_matches(n: usize) -> Vec<String> {
    let mut g = Generator(rand::SeedableRng::seed_from_u64(7));
    let mut out = std::collections::BTreeSet::new();
    while out.len() < n {
        out.insert(g.expr(0));
    }
    out.into_iter().collect()
}

#[test]
fn ovn_itself_agrees_on_a_thousand_random_matches() {
    let ovn = Ovn::start_with(&["--no-northd"]).unwrap();
    let matches = random_matches(1000);
    let refs: Vec<&str> = matches.iter().map(String::as_str).collect();
    let verdicts = ovn_verdicts(&ovn, &refs);
    let (mut refused, mut disagree) = (0, vec![]);
    for (m, theirs) in refs.iter().zip(&verdicts) {
        let ours = ovn_match::check(m).err().map(|e| e.message);
        refused += usize::from(theirs.is_some());
        let agree = match (&ours, theirs) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b,
            (Some(a), None) => is_stricter(a),
            (None, Some(_)) => false,
        };
        if !agree {
            disagree.push(format!("{m:?}: ovn-vpcd {ours:?}, OVN {theirs:?}"));
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
    assert!(refused > 500 && refused < 1000, "{refused} of 1000 refused by OVN");
}
