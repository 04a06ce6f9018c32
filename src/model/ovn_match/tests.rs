use super::*;

fn ok(m: &str) -> Families {
    check(m).unwrap_or_else(|e| panic!("{m:?} refused: {e}"))
}

/// The refusal of `m`, as displayed (`column N: message`).
fn err(m: &str) -> String {
    match check(m) {
        Ok(f) => panic!("{m:?} accepted ({f:?})"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_matches_of_the_seeds_config_and_tests_are_accepted() {
    for m in [
        // config/ovn-vpcd.toml, seed 002, tests/fixtures/seed-002.yaml, tests/vpc_core.rs
        "ip4.src==10.0.1.0/24 && ip4.dst==10.0.1.250",
        "ip4.src==10.0.1.0/24",
        "ip4.dst==1.1.1.1",
        "ip4.dst == 10.0.1.0/24",
        "ip6.dst == fd00:10::/120",
        // seed 004 (Kube-OVN's own policies)
        "ip4.dst == 10.16.0.0/16",
        "ip4.dst == 100.64.0.0/16",
        "ip4.dst == 172.18.0.2",
        "ip4.src == 10.16.0.0/16",
        "ip4.src == $ovn.default.kube.ovn.control.plane_ip4",
        "ip4.src == $ovn.default.kube.ovn.worker2_ip4",
    ] {
        ok(m);
    }
}

#[test]
fn the_examples_of_ovn_sb_5_are_accepted() {
    for m in [
        "ip4.dst == 192.168.0.1",
        "ip.proto == 6",
        "arp.op == 1",
        "eth.type == 0x800",
        "vlan.tci[0..11] == 5",
        "vlan.tci[13..15] == 3",
        "eth.dst[40]",
        "icmp4.type == 0",
        "inport == \"eth0\"",
        "!(inport != \"eth0\")",
        "ip4.src == {10.0.0.1, 10.0.0.2}",
        "ip4.src == {10.0.0.1 10.0.0.2,}",
        "tcp.src == 80",
        "80 == tcp.src",
        "1024 <= tcp.src <= 49151",
        "1024 <= tcp.src && tcp.src <= 49151",
        "vlan.present",
        "vlan.present == 1",
        "vlan.tci[12]",
        "tcp.src != 0",
        "(eth.type == 0x800 || eth.type == 0x86dd) && ip.proto == 6",
        "eth.dst == ff:ff:ff:ff:ff:ff",
        "ip4.src[28..31] == 0xe",
        "ip4 || ip6",
        "ip4 && ip.proto == 1",
        "ip.is_frag && !ip.later_frag",
        "icmp6.type == {135, 136} && icmp6.code == 0 && ip.ttl == 255",
        "eth.dst[32..47] == 0x3333",
        "ip6.dst == ff02::1:ff00:0000/104",
        "ip6.src == fe80::/10",
        "eth.src == 00:11:22:33:44:55/ff:ff:ff:00:00:00",
        "ip4.src == 10.0.0.0/255.0.0.0",
        "ip6.src == ::ffff:1.2.3.4",
        "tcp.dst == 0/0xff",
        "1",
        "0",
        "ct.est && !ct.new",
        "ct.trk && ct_label.blocked == 0",
        "inport == @pg1 && ip4",
        "is_chassis_resident(\"cr-lrp\")",
        "reg0[0..31] == 10.0.0.1",
        "tcp.dst != {80, 443} /* web */ && tcp // rest",
        "xxreg0 == 0x1/0x1",
        "flags.loopback == 1",
        "eth.src == 0a:00:00:00:00:01",
    ] {
        ok(m);
    }
}

#[test]
fn the_issues_three_matches_are_refused_at_the_right_column() {
    assert_eq!(err("ip4.src=== 10.0.2.0/24 &&"), "column 10: Syntax error at `=' expecting constant.");
    assert_eq!(err("ip4.srcx == 1.2.3.4"), "column 1: Syntax error at `ip4.srcx' expecting field name.");
    assert_eq!(err("inport == \"lsp1 && ip4"), "column 11: Input ends inside quoted string.");
    let e = check("ip4.src == 10.0.0.1 && outport == \"x").unwrap_err();
    assert_eq!((e.offset, e.message.as_str()), (34, "Input ends inside quoted string."));
}

#[test]
fn syntax_errors_name_the_token_and_its_column() {
    for (m, want) in [
        ("ip4.src == 1.1.1.1 &&", "column 22: Syntax error at end of input expecting constant."),
        ("&& ip4", "column 1: Syntax error at `&&' expecting constant."),
        ("ip4.src ==", "column 11: Syntax error at end of input expecting constant."),
        ("ip4.src = 1.1.1.1", "column 9: Syntax error at `=' expecting relational operator."),
        ("ip4 = 1", "column 5: Syntax error at `=' expecting relational operator."),
        ("(ip4.src == 1.1.1.1", "column 20: Syntax error at end of input expecting `)'."),
        ("((ip4) && (tcp)", "column 16: Syntax error at end of input expecting `)'."),
        ("ip4.src == 1.1.1.1)", "column 19: Syntax error at `)' expecting end of input."),
        ("()", "column 2: Syntax error at `)' expecting constant."),
        ("ip4.src == {}", "column 13: Syntax error at `}' expecting constant."),
        ("tcp.dst == {1, \"a\"}", "column 16: Syntax error at `\"a\"' expecting integer."),
        ("inport == {\"a\", 1}", "column 17: Syntax error at `1' expecting string."),
        ("ip4 tcp", "column 5: Syntax error at `tcp' expecting end of input."),
        ("ip4.src == 1.1.1.1 == 2", "column 20: Syntax error at `==' expecting end of input."),
        ("ip4.dst == 10.0.0.1:80", "column 20: Syntax error at `:' expecting end of input."),
        ("!!ct.est", "column 2: Syntax error at `!' expecting constant."),
        ("2", "column 2: Syntax error at end of input expecting relational operator."),
        ("inport", "column 7: Syntax error at end of input expecting relational operator."),
        ("ip4.src[a] == 1", "column 9: Syntax error at `a' expecting small integer."),
        ("ip4.src[1..2 == 1", "column 14: Syntax error at `==' expecting `]'."),
        ("is_chassis_resident(1)", "column 21: Syntax error at `1' expecting string."),
        ("ip4.src == {10.0.0.1; 10.0.0.2}", "column 21: Syntax error at `;' expecting constant."),
    ] {
        assert_eq!(err(m), want, "{m}");
    }
}

#[test]
fn lexical_errors_are_reported_where_the_token_starts() {
    for (m, want) in [
        ("ip4.src == 1.1.1.1 &", "column 20: `&' is only valid as part of `&&'."),
        ("ip4.src == 1.1.1.1 | ip4", "column 20: `|' is only valid as part of `||'."),
        ("ip4.src == 1.1.1.1 #", "column 20: Invalid character `#' in input."),
        (".ip4", "column 1: `.' is only valid as part of `..' or a number."),
        ("ip4.src == 1.1.1.1 /* c", "column 20: `/*' without matching `*/'."),
        ("inport == \"a\\qb\"", "column 11: bad escape \\q"),
        ("inport == \"a\\u00\"", "column 11: quoted string ends within \\u escape"),
        ("ip4.src == $", "column 12: `$' must be followed by a valid identifier."),
        ("inport == @1", "column 11: `@' must be followed by a valid identifier."),
        // Reported in place of the type error OVN was about to give.
        ("tcp.dst == 70000 #", "column 18: Invalid character `#' in input."),
    ] {
        assert_eq!(err(m), want, "{m}");
    }
}

#[test]
fn bad_constants_are_refused() {
    for (m, want) in [
        ("ip4.src == 10.0.0.0/33", "Value and mask have incompatible formats."),
        ("ip4.src == 10.0.0.0/0xff000000", "Value and mask have incompatible formats."),
        ("ip4.src == 010.0.0.1", "Invalid numeric constant."),
        ("ip4.src == 1.2.3", "Invalid numeric constant."),
        ("ip4.src == 256.1.1.1", "Invalid numeric constant."),
        ("ip4.src == 10.0.0.0/", "Integer constant expected."),
        ("tcp.dst == 01", "Decimal constants must not have leading zeros."),
        ("tcp.dst == 0x", "Hex digits expected following 0x."),
        ("tcp.dst == 0xg", "Invalid syntax in hexadecimal constant."),
        ("tcp.dst == 18446744073709551616", "Decimal constants must be less than 2**64."),
        ("ip6.src == fe80:::1", "Invalid numeric constant."),
        ("eth.src == 00:11:22:33:44:5", "Invalid numeric constant."),
        ("eth.src == 00:11:22:33:44:55:66", "Invalid numeric constant."),
    ] {
        assert_eq!(err(m), format!("column 12: {want}"), "{m}");
    }
}

#[test]
fn types_widths_and_levels_are_checked() {
    for (m, want) in [
        // Overflowing integers and addresses of the wrong width.
        ("tcp.dst == 70000", "column 12: 17-bit constant is not compatible with 16-bit field tcp.dst."),
        ("ip4.src == fe80::1", "column 12: 128-bit constant is not compatible with 32-bit field ip4.src."),
        ("ip4.src == 00:11:22:33:44:55", "column 12: 48-bit constant is not compatible with 32-bit field ip4.src."),
        ("tcp.dst == 1.1.1.1", "column 12: 32-bit constant is not compatible with 16-bit field tcp.dst."),
        ("tcp.dst == {80, 65536}", "column 17: 17-bit constant is not compatible with 16-bit field tcp.dst."),
        ("ip4 == 2", "column 8: 2-bit constant is not compatible with 1-bit field ip4."),
        ("ip4.src == 0x1/0x1ffffffff", "column 12: 33-bit constant is not compatible with 32-bit field ip4.src."),
        // Strings and integers.
        ("inport == 1", "column 11: String field inport is not compatible with integer constant."),
        ("ip4.src == \"10.0.0.1\"", "column 12: Integer field ip4.src is not compatible with string constant."),
        ("ip4.src == @pg1", "column 12: Integer field ip4.src is not compatible with string constant."),
        ("inport == $as1", "column 11: String field inport is not compatible with integer constant."),
        // Ordering only on ordinal fields, plain constants.
        ("inport < \"a\"", "column 1: Only == and != operators may be used with nominal field inport."),
        ("ip.proto > 6", "column 1: Only == and != operators may be used with nominal field ip.proto."),
        ("eth.bcast < 1", "column 1: Only == and != operators may be used with Boolean field eth.bcast."),
        ("tcp.dst < {1, 2}", "column 11: Only == and != operators may be used with value sets."),
        ("ip4.src < 10.0.0.0/8", "column 11: Only == and != operators may be used with masked constants.  Consider using subfields instead (e.g. eth.src[0..15] > 0x1111 in place of eth.src > 00:00:00:00:11:11/00:00:00:00:ff:ff)."),
        // Nominal fields and predicates only positively.
        ("inport != \"a\"", "column 1: Nominal field inport may only be tested for equality (taking enclosing `!' operators into account)."),
        ("!(inport == \"a\")", "column 3: Nominal field inport may only be tested for equality (taking enclosing `!' operators into account)."),
        ("!ip4", "column 2: Nominal predicate ip4 may only be tested positively, e.g. `ip4' or `ip4 == 1' but not `!ip4' or `ip4 == 0'."),
        ("tcp == 0", "column 8: Nominal predicate tcp may only be tested positively, e.g. `tcp' or `tcp == 1' but not `!tcp' or `tcp == 0'."),
        // Bare multibit fields, subfields.
        ("ip4.src", "column 1: Explicit `!= 0' is required for inequality test of multibit field against 0."),
        ("ip4.src[7..0] == 1", "column 1: Invalid bit range 7 to 0."),
        ("ip4.src[0..32] == 1", "column 1: Cannot select bits 0 to 32 of 32-bit field ip4.src."),
        ("ip.proto[0..3] == 1", "column 1: Cannot select subfield of nominal field ip.proto."),
        ("inport[0] == 1", "column 1: Cannot select subfield of string field inport."),
        // Grammar rules beyond tokens.
        ("ip4 && tcp || udp", "column 12: && and || must be parenthesized when used together."),
        ("!ip4.src == 1.1.1.1", "column 1: Missing parentheses around operand of !."),
        ("1 < tcp.dst > 100", "column 1: Range expressions must have the form `x < field < y' or `x > field > y', with each `<' optionally replaced by `<=' or `>' by `>=')."),
        ("foo(\"p1\")", "column 1: parsing function name"),
        // ovn-sb(5) shows it for precedence; OVN refuses it (arp.op is nominal).
        ("!(arp.op == 1)", "column 3: Nominal field arp.op may only be tested for equality (taking enclosing `!' operators into account)."),
    ] {
        assert_eq!(err(m), want, "{m}");
    }
}

#[test]
fn unknown_fields_and_out_of_table_symbols_are_refused() {
    for m in ["reg10 == 1", "xxreg2 == 1", "ip4.proto == 1", "icmp4.frag_mtu == 1", "ct_mark.obs_stage == 1"] {
        let name = m.split(' ').next().unwrap();
        assert_eq!(err(m), format!("column 1: Syntax error at `{name}' expecting field name."));
    }
}

#[test]
fn stricter_than_ovn_where_ovn_would_silently_do_something_else() {
    assert_eq!(err("ip6.src == 10.0.0.1"), "column 12: IPv4 constant is not compatible with IPv6 field ip6.src.");
    assert_eq!(err("eth.src == 10.0.0.1"), "column 12: IPv4 constant is not compatible with Ethernet field eth.src.");
    assert_eq!(
        err("ip4.src[0..7] == 256"),
        "column 18: 9-bit constant is not compatible with 8-bit field ip4.src[0..7]."
    );
    assert_eq!(err("tcp.dst < $ports"), "column 11: Only == and != operators may be used with value sets.");
    // Plain integers still go where they fit, as in OVN.
    ok("ip4.src == 0x0a000001");
    ok("reg0 == 10.0.0.1");
}

#[test]
fn the_families_referred_to_are_returned() {
    assert_eq!(ok("ip4.src==10.0.1.0/24"), Families::Ip4);
    assert_eq!(ok("icmp4 && tcp.dst == 80"), Families::Ip4);
    assert_eq!(ok("ip6.dst == fd00::/64 && udp"), Families::Ip6);
    assert_eq!(ok("nd_ns"), Families::Ip6);
    assert_eq!(ok("ip4.src == 10.0.0.1 || ip6.src == ::1"), Families::Both);
    assert_eq!(ok("tcp.dst == 80"), Families::Neither);
    assert_eq!(ok("ip && inport == \"a\""), Families::Neither);
    let v4: IpAddr = "10.0.1.252".parse().unwrap();
    let v6: IpAddr = "fd00::1".parse().unwrap();
    assert_eq!(Families::Ip4.refuses(v4), None);
    assert_eq!(Families::Ip4.refuses(v6).unwrap(), "fd00::1 is IPv6 but the match refers to IPv4 only");
    assert_eq!(Families::Ip6.refuses(v4).unwrap(), "10.0.1.252 is IPv4 but the match refers to IPv6 only");
    assert_eq!(Families::Both.refuses(v6), None);
    assert_eq!(Families::Neither.refuses(v4), None);
}

#[test]
fn every_symbol_is_known_once_and_bare_one_bit_fields_are_booleans() {
    for (i, s) in symbols::SYMBOLS.iter().enumerate() {
        assert!(!symbols::SYMBOLS[..i].iter().any(|o| o.name == s.name), "{} twice", s.name);
        let bare = check(s.name);
        match (s.width, bare) {
            (0, Err(e)) => assert!(e.message.contains("expecting relational operator"), "{}: {e}", s.name),
            (1, Ok(_)) => {}
            (_, Err(e)) => assert!(e.message.starts_with("Explicit `!= 0'"), "{}: {e}", s.name),
            (w, Ok(_)) => panic!("{} ({w} bits) accepted bare", s.name),
        }
    }
}

#[test]
fn every_prefix_of_odd_input_gets_an_answer_not_a_panic() {
    let inputs = [
        "ip4.src == {10.0.0.1/8, $as} && !(inport == @pg || ct.est) /* x */ && reg0[0..7] >= 0x1f // y",
        "1 <= tcp.dst <= 0xffff && eth.src == 00:11:22:33:44:55/ff:ff:ff:00:00:00 && ip6.dst == ::1/64",
        "inport == \"é\\u00e9\\ud83d\\ude00\" && é == ☃ \u{0} \u{7f}",
        "is_chassis_resident(\"x\") && 0x 0X1 0/0xff 1.2.3.4:5 ::ffff:1.2.3.4 :: : ; - -- <-> = [ ]",
    ];
    for input in inputs {
        for (i, _) in input.char_indices().chain([(input.len(), ' ')]) {
            if let Err(e) = check(&input[..i]) {
                assert!(e.offset <= i, "{:?}: {e}", &input[..i]);
            }
        }
    }
    assert_eq!(err("ip4 && é"), "column 8: Invalid byte 0xc3 in input.");
}

#[test]
fn one_network_however_spelled() {
    let net = |m: &str| single_network(m).map(|(f, n)| format!("{f} {n}"));
    for m in ["ip4.dst == 10.0.4.0/24", "ip4.dst=={10.0.4.0/24}", "(10.0.4.0/255.255.255.0 == ip4.dst)"] {
        assert_eq!(net(m).as_deref(), Some("ip4.dst 10.0.4.0/24"), "{m}");
    }
    assert_eq!(net("ip6.dst == fd00::/64").as_deref(), Some("ip6.dst fd00::/64"));
    assert_eq!(net("ip4.dst == 10.0.4.7").as_deref(), Some("ip4.dst 10.0.4.7/32"));
    for m in
        ["ip4.dst == {10.0.4.0/24, 10.0.5.0/24}", "ip4.dst != 10.0.4.0/24", "ip4.dst == 10.0.4.0/255.0.255.0", "ip4"]
    {
        assert_eq!(net(m), None, "{m}");
    }
}
