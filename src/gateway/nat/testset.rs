//! Seed 003's rule set (SNAT EIP, DNAT 8888 → :80, plus a FIP), for the
//! unit tests of the agent's pure parts.

use crate::rules::nat::{Dnat, Eip, External, Fip, Lan, NatRuleSet, Protocol, Route, Snat};
use crate::rules::VERSION;

pub fn seed_003() -> NatRuleSet {
    let ip = |s: &str| s.parse().unwrap();
    NatRuleSet {
        version: VERSION,
        gateway: "natgw".into(),
        lan: Lan { ip: ip("10.0.1.254"), routes: vec![Route { cidr: "10.0.2.0/24".into(), via: ip("10.0.1.1") }] },
        external: External { subnet: "ovn-vpc-external-network".into(), prefix_len: 24, gateway: ip("172.16.3.2") },
        eips: vec![
            Eip { name: "eipd01".into(), ip: ip("172.16.3.203") },
            Eip { name: "eipf01".into(), ip: ip("172.16.3.204") },
            Eip { name: "eips01".into(), ip: ip("172.16.3.208") },
        ],
        fips: vec![Fip { name: "fip01".into(), eip: ip("172.16.3.204"), internal_ip: ip("10.0.1.5") }],
        dnats: vec![Dnat {
            name: "dnat01".into(),
            eip: ip("172.16.3.203"),
            protocol: Protocol::Tcp,
            external_port: 8888,
            internal_ip: ip("10.0.1.2"),
            internal_port: 80,
        }],
        snats: vec![Snat { name: "snat01".into(), eip: ip("172.16.3.208"), internal_cidr: "10.0.1.0/24".into() }],
    }
}
