use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::daemon::nat::settings::{NatSettings, Workloads};
use crate::daemon::nat::NatSide;
use crate::kinds::vpc_nat_gateway::rules::fixed_addresses;
use crate::kinds::vpc_nat_gateway::rules::tests::{model_with, seed_003};
use crate::kube::status::{EipFields, RuleFields};
use crate::model::object::ObjectKey;

fn on() -> NatSettings {
    NatSettings { workloads: Ok(Workloads { image: "i".into(), prefix: "vpc-nat-gw".into() }), off: false }
}

fn store() -> Store {
    let mut s = Store::default();
    let gw = json!({"metadata": {"name": "natgw", "uid": "u-1"}});
    s.nat_gateways.insert("natgw".into(), Arc::new(gw));
    s
}

fn with_pod(mut s: Store, annotations: Json) -> Store {
    let pod =
        json!({"metadata": {"namespace": "kube-system", "name": "vpc-nat-gw-natgw-0", "annotations": annotations}});
    s.pods.insert("kube-system/vpc-nat-gw-natgw-0".into(), Arc::new(pod));
    s
}

fn not_applied(kind: Kind, name: &str, fields: StatusFields) -> Verdict {
    Verdict {
        object: ObjectKey::cluster(kind, name),
        outcome: Outcome::NotApplied { message: "x".into() },
        fields,
        generation: Some(1),
        defaults: Default::default(),
    }
}

fn verdicts(model: &Model) -> Vec<Verdict> {
    vec![
        not_applied(Kind::VpcNatGateway, "natgw", StatusFields::None),
        not_applied(
            Kind::IptablesEip,
            "eipd01",
            StatusFields::Eip(EipFields::of(model, "eipd01", &fixed_addresses(model))),
        ),
        not_applied(
            Kind::IptablesDnatRule,
            "dnat01",
            StatusFields::Rule(RuleFields::on(model, &Default::default(), "eipd01", vec![])),
        ),
    ]
}

/// All objects applied, as the reconciler reports them.
fn applied(view: &NatView) -> Outcomes {
    view["natgw"].workload.as_ref().unwrap().iter().map(|id| (id.clone(), ObjectOutcome::Applied)).collect()
}

fn reasons(v: &[Verdict]) -> Vec<(String, bool)> {
    v.iter()
        .map(|v| {
            let ready = match &v.fields {
                StatusFields::Eip(e) => e.ready,
                StatusFields::Rule(r) => r.ready,
                _ => false,
            };
            let o = match &v.outcome {
                Outcome::Applied { .. } => "Applied",
                Outcome::NotApplied { .. } => "NotApplied",
                Outcome::WorkloadRefused { .. } => "WorkloadRefused",
                _ => "other",
            };
            (format!("{} {o}", v.object.name), ready)
        })
        .collect()
}

#[test]
fn ready_only_when_the_pod_reports_the_rendered_digest() {
    let model = model_with(&seed_003());
    let mut side = NatSide::new("kube-system");
    let (_, view) =
        side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &Default::default());
    let digest = view["natgw"].digest.clone();
    let outcomes = applied(&view);
    let run = |s: &Store| {
        let mut v = verdicts(&model);
        refine(&mut v, &view, &model, s, &outcomes);
        (reasons(&v), v)
    };
    // No pod yet, then a pod that applied nothing.
    let (r, _) = run(&store());
    assert!(r.iter().all(|(n, ready)| n.ends_with("NotApplied") && !ready), "{r:?}");
    let (r, _) = run(&with_pod(store(), json!({APPLIED_ANNOTATION: APPLIED_NONE})));
    assert!(r.iter().all(|(n, _)| n.ends_with("NotApplied")), "{r:?}");
    // The rendered digest: everything ready.
    let (r, v) = run(&with_pod(store(), json!({APPLIED_ANNOTATION: digest})));
    assert_eq!(
        r,
        [("natgw Applied".into(), false), ("eipd01 Applied".into(), true), ("dnat01 Applied".into(), true)],
        "{v:?}"
    );
    // A failed apply is shown on the gateway.
    let (_, v) = run(&with_pod(
        store(),
        json!({APPLIED_ANNOTATION: digest, APPLY_ERROR_ANNOTATION: "iptables-restore: exit 1"}),
    ));
    assert!(matches!(&v[0].outcome, Outcome::NotApplied { message } if message.contains("iptables-restore: exit 1")));
}

/// A rule added: until the agent applies the new set, the gateway and the
/// new rule are not ready, the rules already applied stay ready.
#[test]
fn a_known_older_set_is_judged_rule_by_rule_and_an_unknown_one_leaves_ready_rules() {
    let model = model_with(&seed_003());
    let mut side = NatSide::new("kube-system");
    let (_, first) =
        side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &Default::default());
    let old = first["natgw"].digest.clone();
    let mut nat = seed_003();
    nat.eips.push((
        "eipx".into(),
        crate::kinds::iptables_eip::spec::IptablesEipSpec {
            nat_gw_dp: "natgw".into(),
            v4ip: "172.16.3.230".into(),
            ..Default::default()
        },
    ));
    let model2 = model_with(&nat);
    let (_, view) = side.render(
        &model2,
        &fixed_addresses(&model2),
        &store(),
        &Default::default(),
        Some(&on()),
        &Default::default(),
    );
    assert_ne!(view["natgw"].digest, old);
    let outcomes = applied(&view);
    let mut v = verdicts(&model2);
    v.push(not_applied(
        Kind::IptablesEip,
        "eipx",
        StatusFields::Eip(EipFields::of(&model2, "eipx", &fixed_addresses(&model2))),
    ));
    refine(&mut v, &view, &model2, &with_pod(store(), json!({APPLIED_ANNOTATION: old})), &outcomes);
    assert_eq!(
        reasons(&v),
        [
            ("natgw NotApplied".into(), false),
            ("eipd01 Applied".into(), true),
            ("dnat01 Applied".into(), true),
            ("eipx NotApplied".into(), false)
        ]
    );
    // A digest this process never rendered: a ready EIP's verdict is dropped
    // (its status stays), one not ready says why; the gateway is not ready.
    let mut s = with_pod(store(), json!({APPLIED_ANNOTATION: "0123456789abcdef"}));
    s.eips.insert("eipd01".into(), Arc::new(json!({"metadata": {"name": "eipd01"}, "status": {"ready": true}})));
    let mut v = verdicts(&model2);
    refine(&mut v, &view, &model2, &s, &outcomes);
    assert_eq!(reasons(&v), [("natgw NotApplied".into(), false), ("dnat01 NotApplied".into(), false)]);
}

#[test]
fn settings_off_and_refused_objects_are_said_on_the_gateway() {
    let model = model_with(&seed_003());
    let mut side = NatSide::new("kube-system");
    let off = NatSettings { workloads: Err("VPC NAT gateways are off".into()), off: true };
    let (desired, view) =
        side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&off), &Default::default());
    assert!(desired.as_ref().unwrap().objects.is_empty());
    let mut v = verdicts(&model);
    refine(&mut v, &view, &model, &store(), &Outcomes::new());
    assert!(matches!(&v[0].outcome, Outcome::NotApplied { message } if message == "VPC NAT gateways are off"));
    assert!(matches!(&v[2].outcome, Outcome::NotApplied { message } if message.contains("VPC NAT gateways are off")));

    let (desired, view) =
        side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &Default::default());
    assert_eq!(desired.as_ref().unwrap().objects.len(), 5);
    let mut outcomes = applied(&view);
    let sts = desired
        .as_ref()
        .unwrap()
        .objects
        .iter()
        .find(|d| d.id.kind == crate::kube::objects::ObjectKind::StatefulSet)
        .unwrap();
    outcomes.insert(sts.id.clone(), ObjectOutcome::Refused("it exists and is not labelled".into()));
    let mut v = verdicts(&model);
    refine(&mut v, &view, &model, &with_pod(store(), json!({})), &outcomes);
    assert!(
        matches!(&v[0].outcome, Outcome::WorkloadRefused { message } if message.contains("StatefulSet/kube-system/vpc-nat-gw-natgw: it exists")),
        "{:?}",
        v[0]
    );
    // No settings read yet: nothing is handed to the reconciler.
    let (desired, _) =
        side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), None, &Default::default());
    assert!(desired.is_none());
}

/// A gateway written in the TOML: its workload is the anchor's, even
/// beside a (refused) resource of its name; without either it has none.
#[test]
fn a_toml_gateways_workload_is_owned_by_the_anchor() {
    let model = model_with(&seed_003());
    let mut side = NatSide::new("kube-system");
    let toml = BTreeSet::from(["natgw".to_string()]);
    for s in [store(), Store::default()] {
        let (desired, view) =
            side.render(&model, &fixed_addresses(&model), &s, &toml, Some(&on()), &Default::default());
        assert_eq!(desired.as_ref().unwrap().objects.len(), 5);
        assert!(
            desired.as_ref().unwrap().objects.iter().all(|d| d.owner == crate::kube::objects::Owner::Anchor),
            "{desired:?}"
        );
        assert_eq!(view["natgw"].workload.as_ref().unwrap().len(), 5);
    }
    let (desired, view) = side.render(
        &model,
        &fixed_addresses(&model),
        &Store::default(),
        &BTreeSet::new(),
        Some(&on()),
        &Default::default(),
    );
    assert!(desired.as_ref().unwrap().objects.is_empty());
    assert!(view["natgw"].workload.as_ref().unwrap_err().contains("needs an owner"));
}

/// Settings that cannot be used (a typo, a ConfigMap gone, no image) keep
/// the running gateways on the last good ones, said on their status; only
/// `enable-vpc-nat-gw: "false"` takes the workloads away.
#[test]
fn bad_settings_keep_the_last_good_ones_and_only_false_turns_gateways_off() {
    let model = model_with(&seed_003());
    let mut side = NatSide::new("kube-system");
    let render = |side: &mut NatSide, s: &NatSettings| {
        side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(s), &Default::default())
    };
    // Never good since this process started (a restart after a typo):
    // nothing is handed to the reconciler, so whatever runs stays.
    let typo = NatSettings { workloads: Err("enable-vpc-nat-gw: \"yes\"".into()), off: false };
    assert!(render(&mut side, &typo).0.is_none());
    let (good, _) = render(&mut side, &on());
    assert_eq!(good.as_ref().unwrap().objects.len(), 5);
    let (kept, view) = render(&mut side, &typo);
    assert_eq!(
        kept.as_ref().unwrap().objects.iter().map(|d| &d.id).collect::<Vec<_>>(),
        good.as_ref().unwrap().objects.iter().map(|d| &d.id).collect::<Vec<_>>()
    );
    let mut v = verdicts(&model);
    refine(&mut v, &view, &model, &store(), &Outcomes::new());
    assert!(
        matches!(&v[0].outcome, Outcome::NotApplied { message } if message.contains("\"yes\"") && message.contains("keeps running with the last good settings")),
        "{:?}",
        v[0]
    );
    let off = NatSettings { workloads: Err("VPC NAT gateways are off".into()), off: true };
    assert!(render(&mut side, &off).0.expect("off is handed").objects.is_empty());
    // After an explicit off, a typo does not bring the old settings back.
    assert!(render(&mut side, &typo).0.is_none());
}

/// Just restarted (nothing rendered by this process), a refused gateway's
/// running objects are left alone (not deleted), unless gateways are off.
#[test]
fn after_a_restart_a_refused_gateways_workload_is_left_alone() {
    let mut refused = seed_003();
    // natgw refused this pass: neither it nor its EIPs and rules (waiting) in the model.
    (refused.gateways, refused.eips, refused.fips, refused.dnats, refused.snats) = Default::default();
    let model = model_with(&refused);
    let held = BTreeSet::from([ObjectKey::cluster(Kind::VpcNatGateway, "natgw")]);
    let mut side = NatSide::new("kube-system");
    let (desired, _) = side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &held);
    assert!(desired.as_ref().unwrap().objects.is_empty());
    assert_eq!(
        desired.as_ref().unwrap().left_alone,
        BTreeSet::from([("app".to_string(), "vpc-nat-gw-natgw".to_string())])
    );
    let off = NatSettings { workloads: Err("VPC NAT gateways are off".into()), off: true };
    let (desired, _) = side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&off), &held);
    assert!(desired.as_ref().unwrap().left_alone.is_empty());
}

/// A running gateway whose `spec.namespace` is edited (a typo, a move)
/// keeps running where it is, and says why on its status.
#[test]
fn a_running_gateway_does_not_move_namespace() {
    let nat = seed_003();
    let model = model_with(&nat);
    let mut side = NatSide::new("kube-system");
    let none = BTreeSet::new();
    let (running, _) = side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &none);
    assert!(running.as_ref().unwrap().objects.iter().all(|o| o.id.namespace == "kube-system"));
    // The watch shows its rules ConfigMap: it runs in kube-system.
    let mut store = store();
    let cm = running.as_ref().unwrap().objects.iter().find(|o| o.id.name == "vpc-nat-gw-natgw-rules").unwrap();
    let event = crate::kube::watcher::Event::Applied(cm.body());
    crate::kube::resources::apply_feed(&mut store, crate::kube::resources::Feed::RuleSets, event);
    assert_eq!(store.running["natgw"].namespace, "kube-system");
    let mut moved = nat.clone();
    moved.gateways[0].1.namespace = "kube-sytem".into();
    let model2 = model_with(&moved);
    let (desired, view) =
        side.render(&model2, &fixed_addresses(&model2), &store, &Default::default(), Some(&on()), &none);
    assert_eq!(desired.as_ref().unwrap().objects, running.as_ref().unwrap().objects);
    let why = view["natgw"].workload.as_ref().unwrap_err();
    assert!(why.contains("\"kube-sytem\"") && why.contains("does not move"), "{why}");
    let mut v = verdicts(&model2);
    refine(&mut v, &view, &model2, &store, &Outcomes::new());
    assert!(
        matches!(&v[0].outcome, Outcome::NotApplied { message } if message.contains("does not move")),
        "{:?}",
        v[0]
    );
    // Just restarted (nothing rendered by this process): rendered where it runs.
    let mut fresh = NatSide::new("kube-system");
    let (desired, _) =
        fresh.render(&model2, &fixed_addresses(&model2), &store, &Default::default(), Some(&on()), &none);
    assert_eq!(desired.as_ref().unwrap().objects, running.as_ref().unwrap().objects);
    // Put back: as before.
    let (desired, view) =
        side.render(&model, &fixed_addresses(&model), &store, &Default::default(), Some(&on()), &none);
    assert_eq!(desired.as_ref().unwrap().objects, running.as_ref().unwrap().objects);
    assert!(view["natgw"].workload.is_ok());
}

/// A refused gateway keeps its workload as last rendered, less what was
/// deleted meanwhile: an EIP deleted (and its DNAT) leaves its rule set, so
/// its address is on no gateway while the IPAM may give it to another.
#[test]
fn a_refused_gateway_keeps_its_set_less_what_was_deleted() {
    let nat = seed_003();
    let model = model_with(&nat);
    let mut side = NatSide::new("kube-system");
    let none = BTreeSet::new();
    let (running, _) = side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &none);
    let rules = |d: &Option<crate::kube::objects::Desired>| {
        let cm = d.as_ref().unwrap().objects.iter().find(|o| o.id.name == "vpc-nat-gw-natgw-rules").unwrap().clone();
        crate::rules::nat::NatRuleSet::from_json(cm.fields["data"][crate::rules::DATA_KEY].as_str().unwrap()).unwrap()
    };
    let before = rules(&running);
    assert!(before.eips.iter().any(|e| e.name == "eipd01") && before.dnats.iter().any(|d| d.name == "dnat01"));
    // natgw refused; eipd01 and dnat01 deleted meanwhile (not held), the rest waits.
    let mut refused = nat.clone();
    (refused.gateways, refused.eips, refused.fips, refused.dnats, refused.snats) = Default::default();
    let gone = model_with(&refused);
    let mut held = BTreeSet::from([ObjectKey::cluster(Kind::VpcNatGateway, "natgw")]);
    for e in before.eips.iter().filter(|e| e.name != "eipd01") {
        held.insert(ObjectKey::cluster(Kind::IptablesEip, &e.name));
    }
    for r in &before.snats {
        held.insert(ObjectKey::cluster(Kind::IptablesSnatRule, &r.name));
    }
    let (desired, _) = side.render(&gone, &fixed_addresses(&gone), &store(), &Default::default(), Some(&on()), &held);
    let after = rules(&desired);
    assert!(!after.eips.iter().any(|e| e.name == "eipd01"), "{after:?}");
    assert!(after.dnats.is_empty(), "{after:?}");
    assert_eq!(after.snats, before.snats);
    assert_eq!(after.lan, before.lan);
    // What the next validation takes as running is what was handed over:
    // the deleted EIP's name is no claim of natgw's any more.
    assert_eq!(side.rendered(&store(), &Default::default())["natgw"].set, after);
}

/// The rule set in a rendering's rules ConfigMap.
fn rendered_set(desired: &Option<crate::kube::objects::Desired>) -> crate::rules::nat::NatRuleSet {
    let objects = &desired.as_ref().unwrap().objects;
    let cm = objects.iter().find(|o| o.id.name == "vpc-nat-gw-natgw-rules").unwrap();
    let text = cm.fields.pointer(&format!("/data/{}", crate::rules::DATA_KEY)).unwrap().as_str().unwrap();
    crate::rules::nat::NatRuleSet::from_json(text).unwrap()
}

/// What this process rendered is what the next validation takes as
/// running, ahead of the watch (`NatSide::rendered`), and only for the
/// gateway it was rendered for: one deleted and made again under its name
/// (another uid), or a TOML gateway of that name, inherits nothing of it,
/// neither its claims nor the parts a refused rule keeps.
#[test]
fn what_was_rendered_runs_for_that_gateway_only() {
    let nat = seed_003();
    let model = model_with(&nat);
    let mut side = NatSide::new("kube-system");
    let none = BTreeSet::new();
    let (desired, _) = side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &none);
    let rendered = side.rendered(&store(), &Default::default());
    assert_eq!(rendered["natgw"].namespace, "kube-system");
    assert_eq!(rendered["natgw"].set, rendered_set(&desired));
    assert_eq!(rendered["natgw"].set.dnats.len(), 1);
    let mut again = Store::default();
    let gw = json!({"metadata": {"name": "natgw", "uid": "u-2"}});
    again.nat_gateways.insert("natgw".into(), Arc::new(gw));
    assert!(side.rendered(&again, &Default::default()).is_empty());
    assert!(side.rendered(&store(), &BTreeSet::from(["natgw".to_string()])).is_empty());

    // dnat01 refused next: the same gateway keeps its part, one made again does not.
    let mut without = nat.clone();
    without.dnats.clear();
    let model2 = model_with(&without);
    let held = BTreeSet::from([ObjectKey::cluster(Kind::IptablesDnatRule, "dnat01")]);
    let mut same = NatSide::new("kube-system");
    same.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &none);
    let (kept, _) = same.render(&model2, &fixed_addresses(&model2), &store(), &Default::default(), Some(&on()), &held);
    assert_eq!(rendered_set(&kept).dnats.len(), 1, "the refused DNAT keeps its part");
    let (fresh, _) = side.render(&model2, &fixed_addresses(&model2), &again, &Default::default(), Some(&on()), &held);
    assert!(rendered_set(&fresh).dnats.is_empty(), "another gateway of that name inherits nothing");
}

/// What runs, as the next validation reads it, is what this process
/// handed over, and only while it is ours to say: a watched set this
/// process never handed over (another leader's, a hand edit its agent
/// applies) is what runs; a process not leading, or whose settings were
/// never usable (it hands nothing), says nothing of what runs.
#[test]
fn what_was_handed_over_runs_only_while_ours() {
    let nat = seed_003();
    let model = model_with(&nat);
    let none = BTreeSet::new();
    let mut side = NatSide::new("kube-system");
    let (desired, _) = side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &none);
    // The watch shows our own write: ours (the watch lags our writes).
    let mut watched = store();
    let cm = desired.as_ref().unwrap().objects.iter().find(|o| o.id.name == "vpc-nat-gw-natgw-rules").unwrap();
    let mut body = cm.body();
    let event = crate::kube::watcher::Event::Applied(body.clone());
    crate::kube::resources::apply_feed(&mut watched, crate::kube::resources::Feed::RuleSets, event);
    assert_eq!(watched.running.len(), 1);
    assert_eq!(side.rendered(&watched, &Default::default()).len(), 1);
    // Another set there (another leader's term, a hand edit): the watch says what runs.
    let text = body["data"][crate::rules::DATA_KEY].as_str().unwrap().replace("8888", "8889");
    body["data"][crate::rules::DATA_KEY] = json!(text);
    let event = crate::kube::watcher::Event::Applied(body);
    crate::kube::resources::apply_feed(&mut watched, crate::kube::resources::Feed::RuleSets, event);
    assert_eq!(watched.running["natgw"].set.dnats[0].external_port, 8889);
    assert!(side.rendered(&watched, &Default::default()).is_empty());
    // Not leading: forgotten.
    assert_eq!(side.rendered(&store(), &Default::default()).len(), 1);
    side.forget();
    assert!(side.rendered(&store(), &Default::default()).is_empty());
    // Settings unusable since start: nothing handed, nothing said.
    let mut fresh = NatSide::new("kube-system");
    let typo = NatSettings { workloads: Err("enable-vpc-nat-gw: \"yes\"".into()), off: false };
    let (nothing, _) =
        fresh.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&typo), &none);
    assert!(nothing.is_none());
    assert!(fresh.rendered(&store(), &Default::default()).is_empty());
}

/// A gateway refused because its rules ConfigMap holds a set this build
/// cannot read is left as it runs, even with a set of its own rendered
/// earlier by this process (a hand edit, another leader): never written over.
#[test]
fn a_gateway_running_an_unreadable_set_is_not_written_over() {
    let nat = seed_003();
    let model = model_with(&nat);
    let mut side = NatSide::new("kube-system");
    let none = BTreeSet::new();
    side.render(&model, &fixed_addresses(&model), &store(), &Default::default(), Some(&on()), &none);
    let mut s = store();
    s.unreadable = Arc::new([("natgw".to_string(), "rule set version 2".to_string())].into());
    let mut refused = nat.clone();
    (refused.gateways, refused.eips, refused.fips, refused.dnats, refused.snats) = Default::default();
    let gone = model_with(&refused);
    let held = BTreeSet::from([ObjectKey::cluster(Kind::VpcNatGateway, "natgw")]);
    let (desired, _) = side.render(&gone, &fixed_addresses(&gone), &s, &Default::default(), Some(&on()), &held);
    let desired = desired.unwrap();
    assert!(desired.objects.is_empty(), "{:?}", desired.objects.iter().map(|o| &o.id).collect::<Vec<_>>());
    assert!(desired.left_alone.iter().any(|(_, v)| v == "vpc-nat-gw-natgw"), "{:?}", desired.left_alone);
}
