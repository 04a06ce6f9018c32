use crate::config::Config;
use crate::kinds::iptables_dnat_rule::spec::Port;

const KUBE: &str = "[kubernetes]\nkubeconfig = \"k\"\n";

/// Seed 003's gateway and rules, as tables.
const SEED_003: &str = "
[[vpcNatGateway]]
name = \"natgw\"
vpc = \"mail263\"
subnet = \"vmservers\"
lanIp = \"10.0.1.254\"
selector = [\"kubernetes.io/hostname: ubuntuserver1\", \"kubernetes.io/os: linux\"]

[[iptablesEip]]
name = \"eips01\"
natGwDp = \"natgw\"
v4ip = \"172.16.3.208\"

[[iptablesSnatRule]]
name = \"snat01\"
eip = \"eips01\"
internalCIDR = \"10.0.1.0/24\"

[[iptablesEip]]
name = \"eipd01\"
natGwDp = \"natgw\"
v4ip = \"172.16.3.203\"

[[iptablesDnatRule]]
name = \"dnat01\"
eip = \"eipd01\"
externalPort = \"8888\"
internalIp = \"10.0.1.2\"
internalPort = \"80\"
protocol = \"tcp\"

[[iptablesFipRule]]
name = \"fip01\"
eip = \"eipf01\"
internalIp = \"10.0.1.5\"
";

fn err(text: &str) -> String {
    Config::parse("t.toml", text).unwrap_err().to_string()
}

#[test]
fn the_nat_tables_hold_name_and_the_crds_spec_fields() {
    let cfg = Config::parse("t.toml", &format!("{KUBE}{SEED_003}")).unwrap();
    let nat = &cfg.nat;
    let names = |v: Vec<&String>| v.into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(names(nat.gateways.iter().map(|(n, _)| n).collect()), ["natgw"]);
    assert_eq!(names(nat.eips.iter().map(|(n, _)| n).collect()), ["eips01", "eipd01"]);
    let (_, g) = &nat.gateways[0];
    assert_eq!((g.vpc.as_str(), g.subnet.as_str(), g.lan_ip.as_str()), ("mail263", "vmservers", "10.0.1.254"));
    assert_eq!(g.selector.len(), 2);
    assert_eq!(g.name, None, "the name is taken out of the spec");
    assert_eq!((nat.eips[1].1.nat_gw_dp.as_str(), nat.eips[1].1.v4ip.as_str()), ("natgw", "172.16.3.203"));
    let (n, d) = &nat.dnats[0];
    assert_eq!(
        (n.as_str(), &d.external_port, &d.internal_port),
        ("dnat01", &Port::Text("8888".into()), &Port::Text("80".into()))
    );
    assert_eq!((nat.snats[0].0.as_str(), nat.snats[0].1.internal_cidr.as_str()), ("snat01", "10.0.1.0/24"));
    assert_eq!((nat.fips[0].0.as_str(), nat.fips[0].1.internal_ip.as_str()), ("fip01", "10.0.1.5"));
    // Ports as numbers too, as the old inline form wrote them.
    let cfg =
        Config::parse("t.toml", &format!("{KUBE}[[iptablesDnatRule]]\nname = \"d\"\nexternalPort = 8888\n")).unwrap();
    assert_eq!(cfg.nat.dnats[0].1.external_port, Port::Number(8888));
}

#[test]
fn each_nat_table_without_kubernetes_is_refused_at_its_position() {
    for (table, field) in [
        ("vpcNatGateway", "lanIp = \"10.0.1.254\""),
        ("iptablesEip", "natGwDp = \"g\""),
        ("iptablesFipRule", "eip = \"e\""),
        ("iptablesDnatRule", "eip = \"e\""),
        ("iptablesSnatRule", "eip = \"e\""),
    ] {
        let e = err(&format!("[ovn]\nnb_db = \"unix:/x\"\n\n[[{table}]]\nname = \"x\"\n{field}\n"));
        assert_eq!(
            e,
            format!(
                "t.toml:4:1: [[{table}]] needs [kubernetes]: a NAT gateway's workload is a pod, which the daemon \
                 keeps through the API server"
            )
        );
    }
    // The first such table is the one named.
    let e = err(&format!("[[vpc]]\nname = \"v\"\n{}", SEED_003));
    assert!(e.starts_with("t.toml:4:1: [[vpcNatGateway]] needs [kubernetes]"), "{e}");
}

#[test]
fn nat_table_errors_name_line_column_and_field() {
    let e = err(&format!("{KUBE}\n[[vpcNatGateway]]\nvpc = \"v\"\n"));
    assert_eq!(e, "t.toml:4:1: [[vpcNatGateway]] entry without `name`");
    let e =
        err(&format!("{KUBE}[[iptablesEip]]\nname = \"a\"\nv4ip = \"172.16.3.9\"\n[[iptablesEip]]\nnatGwDp = \"g\"\n"));
    assert_eq!(e, "t.toml:6:1: [[iptablesEip]] entry without `name`");
    let e = err(&format!("{KUBE}[[iptablesSnatRule]]\nname = \"\"\neip = \"e\"\n"));
    assert_eq!(e, "t.toml:3:1: [[iptablesSnatRule]] `name` must not be empty");

    // Unknown fields, by name, with the known ones listed.
    let e = err(&format!("{KUBE}[[vpcNatGateway]]\nname = \"g\"\nlanIP = \"10.0.1.254\"\n"));
    assert!(e.starts_with("t.toml:5:1:") && e.contains("unknown field `lanIP`") && e.contains("lanIp"), "{e}");
    let e = err(&format!("{KUBE}[[iptablesSnatRule]]\nname = \"s\"\neip = \"e\"\ninternalCidr = \"10.0.1.0/24\"\n"));
    assert!(e.starts_with("t.toml:6:1:") && e.contains("unknown field `internalCidr`"), "{e}");
    let e = err(&format!("{KUBE}[[iptablesEIP]]\nname = \"e\"\n"));
    assert!(
        e.starts_with("t.toml:3:") && e.contains("unknown field `iptablesEIP`") && e.contains("iptablesEip"),
        "{e}"
    );

    // Bad values, at the value.
    let e = err(&format!("{KUBE}[[vpcNatGateway]]\nname = \"g\"\nlanIp = 5\n"));
    assert!(e.starts_with("t.toml:5:9: field `lanIp`: invalid type: integer"), "{e}");
    let e = err(&format!("{KUBE}[[vpcNatGateway]]\nname = \"g\"\nselector = [\"a: b\", 7]\n"));
    assert!(e.starts_with("t.toml:5:21: field `selector`: invalid type: integer"), "{e}");
    let e = err(&format!("{KUBE}[[iptablesDnatRule]]\nname = \"d\"\nexternalPort = true\n"));
    assert!(e.starts_with("t.toml:5:16: field `externalPort`:"), "{e}");
}

/// A TOML EIP names its address: an allocated one would live in a status,
/// which a TOML object does not have, and could move at the next start.
#[test]
fn a_toml_eip_without_v4ip_is_refused_at_its_table() {
    let text = format!("{KUBE}[[iptablesEip]]\nname = \"auto\"\nnatGwDp = \"natgw\"\n");
    let e = err(&text);
    assert!(e.starts_with("t.toml:3:1: [[iptablesEip]] needs `v4ip` in the TOML"), "{e}");
    assert!(e.ends_with("(\"auto\")"), "{e}");
}
