//! The generated workload: 100 VPCs as TOML, and the same rows as an `ovn-nbctl` batch.

use super::*;

// ---- the workload ------------------------------------------------------------------------

pub(super) struct Route {
    pub(super) cidr: String,
    pub(super) hop: String,
    pub(super) src: bool,
}

pub(super) struct Policy {
    pub(super) priority: u32,
    pub(super) match_: String,
    pub(super) action: &'static str,
    pub(super) hop: Option<String>,
}

pub(super) struct Vpc {
    pub(super) name: String,
    pub(super) routes: Vec<Route>,
    pub(super) policies: Vec<Policy>,
    pub(super) subnets: Vec<String>,
}

/// The generated tenants, from which both the TOML and the ovn-nbctl peer are written.
pub(super) struct Workload {
    pub(super) vpcs: Vec<Vpc>,
}

pub(super) fn subnet_cidr(n: usize) -> String {
    format!("10.0.{n}.0/24")
}
pub(super) fn subnet_gateway(n: usize) -> String {
    format!("10.0.{n}.1")
}

impl Workload {
    pub(super) fn new() -> Workload {
        Workload::with(VPCS)
    }

    pub(super) fn with(n_vpcs: usize) -> Workload {
        let vpcs = (0..n_vpcs)
            .map(|v| {
                let name = format!("vpc{v:03}");
                // Route 0: the default route (the one one_route_change flips). Every 4th is
                // source-based. Next hops .250/.251 of each subnet; prefixes distinct per router.
                let routes = (0..ROUTES)
                    .map(|j| match j {
                        0 => Route { cidr: "0.0.0.0/0".into(), hop: FLIP_HOPS[0].into(), src: false },
                        _ if j % 4 == 3 => Route {
                            cidr: format!("192.168.{j}.0/24"),
                            hop: format!("10.0.{}.{}", j % SUBNETS, 250 + j / SUBNETS),
                            src: true,
                        },
                        _ => Route {
                            cidr: format!("172.16.{j}.0/24"),
                            hop: format!("10.0.{}.{}", j % SUBNETS, 250 + j / SUBNETS),
                            src: false,
                        },
                    })
                    .collect();
                let actions = ["reroute", "drop", "allow", "reroute", "drop"];
                let policies = (0..POLICIES)
                    .map(|k| Policy {
                        priority: 100 + k as u32,
                        match_: format!("ip4.src == 10.0.{k}.0/24 && ip4.dst == 172.17.{k}.0/24"),
                        action: actions[k],
                        hop: (actions[k] == "reroute").then(|| format!("10.0.{k}.252")),
                    })
                    .collect();
                let subnets = (0..SUBNETS).map(|n| format!("{name}-net{n}")).collect();
                Vpc { name, routes, policies, subnets }
            })
            .collect();
        Workload { vpcs }
    }

    /// The configuration; `flipped`: VPC 0's default route uses `FLIP_HOPS[1]`.
    pub(super) fn toml(&self, flipped: bool) -> String {
        let mut s = String::from("# ovn-vpcd VPC benchmark workload (benches/vpc.rs)\n");
        for (i, v) in self.vpcs.iter().enumerate() {
            let _ = writeln!(s, "\n[[vpc]]\nname = \"{}\"\nstaticRoutes = [", v.name);
            for (j, r) in v.routes.iter().enumerate() {
                let hop = if i == 0 && j == 0 && flipped { FLIP_HOPS[1] } else { r.hop.as_str() };
                let policy = if r.src { "policySrc" } else { "policyDst" };
                let _ = writeln!(s, "  {{ cidr = \"{}\", nextHopIP = \"{hop}\", policy = \"{policy}\" }},", r.cidr);
            }
            s.push_str("]\npolicyRoutes = [\n");
            for p in &v.policies {
                let _ =
                    write!(s, "  {{ priority = {}, match = \"{}\", action = \"{}\"", p.priority, p.match_, p.action);
                if let Some(h) = &p.hop {
                    let _ = write!(s, ", nextHopIP = \"{h}\"");
                }
                s.push_str(" },\n");
            }
            s.push_str("]\n");
            for (n, sn) in v.subnets.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "\n[[subnet]]\nname = \"{sn}\"\nvpc = \"{}\"\ncidrBlock = \"{}\"",
                    v.name,
                    subnet_cidr(n)
                );
            }
        }
        s
    }

    /// The ovn-nbctl commands (without `--` separators) that write one VPC's rows as
    /// ovn-vpcd writes them: router; per subnet the switch (with ovn-vpcd's
    /// `other_config`), router port `<vpc>-<subnet>` (same MAC and network), switch port
    /// `<subnet>-<vpc>` of type router, and the priority-31000 allow policy; the static
    /// routes (with an explicit `--policy`, as ovn-vpcd sets the column); the policies.
    /// No external_ids (ovn-vpcd writes 4-5 keys on every row: the peer does less).
    pub(super) fn nbctl_commands(v: &Vpc) -> Vec<Vec<String>> {
        let s = |x: &str| x.to_string();
        let mut cmds = vec![vec![s("lr-add"), v.name.clone()]];
        for (n, sn) in v.subnets.iter().enumerate() {
            let lrp = router_port_name(&v.name, sn);
            let lsp = switch_port_name(sn, &v.name);
            cmds.push(vec![s("ls-add"), sn.clone()]);
            cmds.push(vec![
                s("set"),
                s("Logical_Switch"),
                sn.clone(),
                format!("other_config:subnet={}", subnet_cidr(n)),
                format!("other_config:exclude_ips={}", subnet_gateway(n)),
            ]);
            cmds.push(vec![
                s("lrp-add"),
                v.name.clone(),
                lrp.clone(),
                stable_mac(&lrp),
                format!("{}/24", subnet_gateway(n)),
            ]);
            cmds.push(vec![s("lsp-add"), sn.clone(), lsp.clone()]);
            cmds.push(vec![s("lsp-set-type"), lsp.clone(), s("router")]);
            cmds.push(vec![s("lsp-set-addresses"), lsp.clone(), s("router")]);
            cmds.push(vec![s("lsp-set-options"), lsp, format!("router-port={lrp}")]);
            cmds.push(vec![
                s("lr-policy-add"),
                v.name.clone(),
                s("31000"),
                format!("ip4.dst == {}", subnet_cidr(n)),
                s("allow"),
            ]);
        }
        for r in &v.routes {
            let policy = if r.src { "--policy=src-ip" } else { "--policy=dst-ip" };
            cmds.push(vec![s(policy), s("lr-route-add"), v.name.clone(), r.cidr.clone(), r.hop.clone()]);
        }
        for p in &v.policies {
            let mut c = vec![s("lr-policy-add"), v.name.clone(), p.priority.to_string(), p.match_.clone(), s(p.action)];
            c.extend(p.hop.clone());
            cmds.push(c);
        }
        cmds
    }

    /// Arguments of one ovn-nbctl process writing `vpcs` in one `--` batch.
    pub(super) fn nbctl_args<'a>(remote: &str, vpcs: impl IntoIterator<Item = &'a Vpc>) -> Vec<String> {
        let mut args = vec![format!("--db={remote}"), "--timeout=120".to_string()];
        for c in vpcs.into_iter().flat_map(Workload::nbctl_commands) {
            args.push("--".into());
            args.extend(c);
        }
        args
    }

    pub(super) fn nbctl_script(&self) -> String {
        let quote = |a: &str| {
            if a.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=,".contains(&b)) {
                a.to_string()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        };
        let mut s = String::from(
            "#!/bin/sh\n# The ovn-nbctl peer of converge_100vpc (benches/vpc.rs): sh THIS_FILE NB_REMOTE\n\
             exec ovn-nbctl --db=\"$1\" --timeout=120",
        );
        for c in self.vpcs.iter().flat_map(Workload::nbctl_commands) {
            s.push_str(" \\\n  --");
            for a in c {
                s.push(' ');
                s.push_str(&quote(&a));
            }
        }
        s.push('\n');
        s
    }
}
