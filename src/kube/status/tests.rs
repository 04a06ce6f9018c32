use super::*;
use crate::kinds::subnet::status::count;
use crate::kube::apply_merge_patch as merge;
use crate::model::object::ObjectKey;
use crate::model::validate::{validate, Subnet};
use crate::model::{SubnetSpec, VpcSpec};

const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T10:05:00Z";
const T2: &str = "2024-05-01T10:10:00Z";

fn subnet_obj(generation: i64) -> Json {
    json!({"apiVersion": "kubeovn.io/v1", "kind": "Subnet",
           "metadata": {"name": "s1", "uid": "u1", "resourceVersion": "10", "generation": generation},
           "spec": {"cidrBlock": "10.0.0.0/24", "vpc": "v1"}})
}

/// Applies `outcome` as the server would: the patch (if any) merged in.
fn applied(obj: &Json, outcome: &Outcome, fields: &StatusFields, now: &str) -> Json {
    let mut o = obj.clone();
    if let Some(p) = status_patch(obj, outcome, fields, now) {
        merge(&mut o, &p);
    }
    o
}

fn cond<'a>(o: &'a Json, kind: &str) -> &'a Json {
    o["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == kind).unwrap()
}

fn rejection(reason: &str) -> Rejection {
    Rejection::new(ObjectKey::subnet("s1"), "cidrBlock", reason)
}

#[test]
fn first_write_sets_both_conditions_and_a_precondition() {
    let p = status_patch(&subnet_obj(3), &Outcome::Ready, &StatusFields::None, T0).unwrap();
    assert_eq!(p["metadata"], json!({"resourceVersion": "10"}));
    assert_eq!(p["status"]["observedGeneration"], 3);
    let o = applied(&subnet_obj(3), &Outcome::Ready, &StatusFields::None, T0);
    let ready = cond(&o, "Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str(), ready["observedGeneration"].as_i64()),
        (Some("True"), Some(REASON_RECONCILED), Some(3))
    );
    assert_eq!((ready["lastTransitionTime"].as_str(), ready["lastUpdateTime"].as_str()), (Some(T0), Some(T0)));
    assert_eq!(cond(&o, "Validated")["status"], "True");
}

#[test]
fn unchanged_outcome_writes_nothing() {
    let usage = StatusFields::Subnet(SubnetUsage { v4_available: 253, v4_using: 1, ..Default::default() });
    for outcome in [
        Outcome::Ready,
        Outcome::Pending,
        Outcome::Rejected(rejection("bad")),
        Outcome::Refused { message: "x".into() },
        Outcome::Waiting { message: "vpc: VPC \"v\" is not defined".into() },
    ] {
        let o = applied(&subnet_obj(1), &outcome, &usage, T0);
        assert_eq!(status_patch(&o, &outcome, &usage, T1), None, "{outcome:?}");
        assert!(!verdict_changed(&o, &outcome));
    }
}

#[test]
fn a_flip_moves_last_transition_time_a_new_message_does_not() {
    let o = applied(&subnet_obj(1), &Outcome::Ready, &StatusFields::None, T0);
    let o = applied(&o, &Outcome::Rejected(rejection("bad")), &StatusFields::None, T1);
    let (ready, valid) = (cond(&o, "Ready"), cond(&o, "Validated"));
    assert_eq!((ready["status"].as_str(), ready["lastTransitionTime"].as_str()), (Some("False"), Some(T1)));
    assert_eq!((valid["status"].as_str(), valid["reason"].as_str()), (Some("False"), Some("ValidationFailed")));
    assert_eq!(valid["message"], "cidrBlock: bad");
    assert_eq!(valid["lastTransitionTime"], T1);

    // Still rejected, for another reason: same status, new message, transition kept.
    assert!(verdict_changed(&o, &Outcome::Rejected(rejection("worse"))));
    let o = applied(&o, &Outcome::Rejected(rejection("worse")), &StatusFields::None, T2);
    let ready = cond(&o, "Ready");
    assert_eq!(ready["message"], "cidrBlock: worse");
    assert_eq!((ready["lastTransitionTime"].as_str(), ready["lastUpdateTime"].as_str()), (Some(T1), Some(T2)));

    // Fixed but the NB refuses: Validated flips back, Ready stays False.
    let o = applied(&o, &Outcome::Refused { message: "port name taken".into() }, &StatusFields::None, T2);
    assert_eq!(cond(&o, "Validated")["status"], "True");
    assert_eq!(cond(&o, "Ready")["reason"], REASON_NB_REFUSED);
    assert_eq!(cond(&o, "Ready")["lastTransitionTime"], T1);
}

#[test]
fn a_new_generation_is_observed_without_a_transition() {
    let o = applied(&subnet_obj(1), &Outcome::Ready, &StatusFields::None, T0);
    let mut o2 = o.clone();
    o2["metadata"]["generation"] = 2.into();
    let p = status_patch(&o2, &Outcome::Ready, &StatusFields::None, T1).unwrap();
    assert_eq!(p["status"]["observedGeneration"], 2);
    let o2 = applied(&o2, &Outcome::Ready, &StatusFields::None, T1);
    assert_eq!(cond(&o2, "Ready")["observedGeneration"], 2);
    assert_eq!(cond(&o2, "Ready")["lastTransitionTime"], T0);
    assert!(!verdict_changed(&o, &Outcome::Ready), "no Event for a generation bump");
}

#[test]
fn other_conditions_are_kept_in_place() {
    let foreign = json!({"type": "Foreign", "status": "True", "reason": "X", "message": "m",
                         "lastTransitionTime": "2020-01-01T00:00:00Z"});
    let mut o = subnet_obj(1);
    o["status"] = json!({"conditions": [foreign.clone(),
        {"type": "Ready", "status": "True", "reason": "Old", "message": "", "lastTransitionTime": "2020-01-01T00:00:00Z"}],
        "activateGateway": "node-1"});
    let o = applied(&o, &Outcome::Pending, &StatusFields::None, T0);
    let cs = o["status"]["conditions"].as_array().unwrap();
    assert_eq!(cs.len(), 3);
    assert_eq!(cs[0], foreign);
    assert_eq!((cs[1]["type"].as_str(), cs[1]["status"].as_str()), (Some("Ready"), Some("Unknown")));
    assert_eq!(cs[1]["lastTransitionTime"], T0);
    assert_eq!(cs[2]["type"], "Validated");
    assert_eq!(o["status"]["activateGateway"], "node-1", "fields we do not own are left alone");
}

#[test]
fn counts_read_back_as_floats_are_the_same() {
    let usage = StatusFields::Subnet(SubnetUsage { v4_available: 253, ..Default::default() });
    let mut o = applied(&subnet_obj(1), &Outcome::Ready, &usage, T0);
    assert!(o["status"]["v4availableIPs"].is_u64());
    o["status"]["v4availableIPs"] = json!(253.0);
    o["status"]["v6usingIPs"] = json!(0.0);
    assert_eq!(status_patch(&o, &Outcome::Ready, &usage, T1), None);
    assert_eq!(count(1 << 53), json!(1u64 << 53));
    assert!(count((1 << 64) - 3).is_f64());
}

#[test]
fn nb_refusals_map_to_refused() {
    let mut r = rejection("rows refused by the NB: boom");
    assert!(matches!(Outcome::from_rejection(r.clone()), Outcome::Rejected(_)));
    r.field = crate::reconcile::NB_REFUSAL_FIELD.into();
    assert_eq!(Outcome::from_rejection(r), Outcome::Refused { message: "rows refused by the NB: boom".into() });
    let w = Rejection { waiting: true, ..rejection("VPC \"v\" is not defined") };
    assert_eq!(Outcome::from_rejection(w), Outcome::Waiting { message: "cidrBlock: VPC \"v\" is not defined".into() });
    assert_eq!(Outcome::Waiting { message: "m".into() }.warning(), None, "no Warning Event for waiting");
}

fn subnet(cidr: &str, gateway: &str, excludes: &[&str]) -> Subnet {
    let spec = SubnetSpec {
        vpc: "v1".into(),
        cidr_block: cidr.into(),
        gateway: gateway.into(),
        exclude_ips: excludes.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let (model, rejected) = validate(&[("v1".into(), VpcSpec::default())], &[("s".into(), spec)]);
    assert!(rejected.is_empty(), "{rejected:?}");
    model.subnets["s"].clone()
}

fn v4(available: u128, using: u128) -> SubnetUsage {
    SubnetUsage { v4_available: available, v4_using: using, ..Default::default() }
}

#[test]
fn usage_of_a_v4_24_with_excludes_and_ranges() {
    // 254 hosts; the gateway .1 inside the range .1..10 counts once (10);
    // .200 (1); .250..255 is clipped at the broadcast (5); 3 in use.
    let s = subnet("10.0.0.0/24", "", &["10.0.0.1..10.0.0.10", "10.0.0.200", "10.0.0.250..10.0.0.255"]);
    assert_eq!(SubnetUsage::of(&s, 3), v4(254 - 10 - 1 - 5 - 3, 3));
    // Overlapping ranges count once; the gateway alone is excluded by default.
    let s = subnet("10.0.0.0/24", "", &["10.0.0.20..10.0.0.40", "10.0.0.30..10.0.0.50", "10.0.0.50"]);
    assert_eq!(SubnetUsage::of(&s, 0), v4(254 - 1 - 31, 0));
    assert_eq!(SubnetUsage::of(&subnet("10.0.0.0/24", "10.0.0.254", &[]), 0), v4(253, 0));
    // More in use than free: 0, as Kube-OVN.
    assert_eq!(SubnetUsage::of(&subnet("10.0.0.0/30", "", &[]), 5), v4(0, 5));
}

#[test]
fn usage_of_tiny_v4_subnets() {
    // Kube-OVN's AddressCount: 2^hostbits - 2, and 0 below 2 host bits.
    assert_eq!(SubnetUsage::of(&subnet("10.0.0.0/30", "", &[]), 0), v4(1, 0));
    // Validation refuses /31 and /32 subnets now; the arithmetic still holds.
    let tiny = |c: &str, gw: &str, using| usage(&[c.parse().unwrap()], &[gw.parse().unwrap()], &[], using);
    assert_eq!(tiny("10.0.0.0/31", "10.0.0.0", 0), v4(0, 0));
    assert_eq!(tiny("10.0.0.7/32", "10.0.0.7", 1), v4(0, 1));
}

#[test]
fn usage_of_v6_and_dual_stack() {
    let s = subnet("fd00::/120", "", &["fd00::10..fd00::1f"]);
    assert_eq!(
        SubnetUsage::of(&s, 2),
        SubnetUsage { v6_available: 254 - 1 - 16 - 2, v6_using: 2, ..Default::default() }
    );
    let s = subnet("fd00:1::/64", "", &[]);
    assert_eq!(SubnetUsage::of(&s, 0).v6_available, (1u128 << 64) - 3);
    let s = subnet("10.1.0.0/24,fd00:2::/120", "", &["10.1.0.2..10.1.0.9", "fd00:2::2"]);
    assert_eq!(
        SubnetUsage::of(&s, 4),
        SubnetUsage { v4_available: 254 - 9 - 4, v4_using: 4, v6_available: 254 - 2 - 4, v6_using: 4 }
    );
    // The whole IPv6 space does not overflow.
    let all = usage(&["::/0".parse().unwrap()], &[], &[], 0);
    assert_eq!(all.v6_available, u128::MAX - 1);
}

#[test]
fn vpc_fields_from_the_model() {
    let vpc = VpcSpec { enable_external: true, ..Default::default() };
    let sub = |cidr: &str, default: bool| SubnetSpec {
        vpc: "v1".into(),
        cidr_block: cidr.into(),
        default,
        ..Default::default()
    };
    let (model, rejected) = validate(
        &[("v1".into(), vpc)],
        &[("b".into(), sub("10.0.1.0/24", true)), ("a".into(), sub("10.0.2.0/24", false))],
    );
    assert!(rejected.is_empty(), "{rejected:?}");
    let f = VpcFields::of(&model, "v1", true);
    assert_eq!(
        f,
        VpcFields {
            standby: true,
            router: "v1".into(),
            subnets: vec!["a".into(), "b".into()],
            default_logical_switch: "b".into(),
            enable_external: true,
        }
    );
}

/// Checks `v` against an OpenAPI v3 schema the way the API server prunes and
/// validates: every field must be declared (else it would be dropped), of
/// the declared type, enum and minimum respected, required fields present.
fn check(v: &Json, schema: &Json, path: &str) {
    let ty = schema["type"].as_str().unwrap_or_else(|| panic!("{path}: schema has no type"));
    let ok = match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        _ => false,
    };
    assert!(ok, "{path}: {v} is not a {ty}");
    if let Some(e) = schema["enum"].as_array() {
        assert!(e.contains(v), "{path}: {v} not in {e:?}");
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), v.as_f64()) {
        assert!(n >= min, "{path}: {n} < {min}");
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        assert!(v.as_str().is_none_or(|s| s.chars().count() as u64 <= max), "{path}: too long");
    }
    if let Some(o) = v.as_object() {
        assert!(
            schema.get("x-kubernetes-preserve-unknown-fields").is_none(),
            "{path}: must have a real schema, not preserve-unknown-fields"
        );
        for k in schema["required"].as_array().into_iter().flatten() {
            assert!(o.contains_key(k.as_str().unwrap()), "{path}: lacks required {k}");
        }
        for (k, sub) in o {
            let s = schema["properties"].get(k).unwrap_or_else(|| panic!("CRD schema lacks {path}.{k}"));
            check(sub, s, &format!("{path}.{k}"));
        }
    }
    if let Some(items) = v.as_array() {
        for (i, item) in items.iter().enumerate() {
            check(item, &schema["items"], &format!("{path}[{i}]"));
        }
    }
}

/// The CRD's reason pattern `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`, without a regex crate.
fn reason_ok(r: &str) -> bool {
    let b = r.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b',' | b':');
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter().all(inner)
        && b.last().is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn status_schema(plural: &str) -> Json {
    let y = crate::kube::crds::CRDS.iter().find(|(p, _)| *p == plural).unwrap().1;
    let crd = crate::kube::crds::to_json(y).unwrap();
    assert!(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
        ["x-kubernetes-preserve-unknown-fields"]
        .is_null());
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"].clone()
}

/// Every status field this module writes is in the CRDs' status schemas, so a
/// real API server keeps it (unknown fields are pruned).
#[test]
fn everything_written_is_in_the_crd_status_schemas() {
    let outcomes = [
        Outcome::Ready,
        Outcome::Pending,
        Outcome::Rejected(rejection("bad")),
        Outcome::Refused { message: "x".repeat(40000) },
        Outcome::Waiting { message: "vpc: VPC \"v\" is not defined".into() },
    ];
    let big = SubnetUsage { v4_available: 1, v4_using: 2, v6_available: u128::MAX, v6_using: 2 };
    let vpc = VpcFields { standby: true, router: "v".into(), subnets: vec!["s".into()], ..Default::default() };
    for (plural, fields) in [("subnets", StatusFields::Subnet(big)), ("vpcs", StatusFields::Vpc(vpc))] {
        let schema = status_schema(plural);
        for o in &outcomes {
            let status = Json::Object(desired_status(&subnet_obj(1), o, &fields, T0));
            check(&status, &schema, "status");
            for c in status["conditions"].as_array().unwrap() {
                assert!(reason_ok(c["reason"].as_str().unwrap()), "{c}");
            }
        }
    }
}

/// A field not realised is named on `Realised` and excepted from `Ready`;
/// one of no effect is named without taking `Realised` down; an object
/// refused later loses `Realised` instead of keeping a stale one.
#[test]
fn fields_not_realised_are_named_and_not_claimed() {
    use crate::model::validate::{Effect, Notice};
    let n = |field: &str, effect| Notice {
        kind: crate::model::object::Kind::Subnet,
        name: "s1".into(),
        field: field.into(),
        effect,
        what: "why".into(),
    };
    let partly = Outcome::ReadyExcept(vec![n("vlan", Effect::NotRealised), n("enableLb", Effect::NoEffect)]);
    let o = applied(&subnet_obj(1), &partly, &StatusFields::None, T0);
    let r = cond(&o, "Realised");
    assert_eq!((r["status"].as_str(), r["reason"].as_str()), (Some("False"), Some(REASON_NOT_REALISED)));
    assert_eq!(r["message"], "not realised: vlan: why; no effect: enableLb: why");
    assert_eq!(
        cond(&o, "Ready")["message"],
        "realised in the OVN northbound database, except vlan (see condition Realised)"
    );
    let no_effect = Outcome::ReadyExcept(vec![n("enableLb", Effect::NoEffect)]);
    let o = applied(&o, &no_effect, &StatusFields::None, T1);
    assert_eq!(cond(&o, "Realised")["status"], "True");
    assert_eq!(cond(&o, "Ready")["message"], "realised in the OVN northbound database");
    let o = applied(&o, &Outcome::Rejected(rejection("bad")), &StatusFields::None, T1);
    assert!(o["status"]["conditions"].as_array().unwrap().iter().all(|c| c["type"] != "Realised"), "{o}");
}

/// A status field the API server prunes is not written again and again.
#[test]
fn pruned_fields_are_left_out() {
    let mut o = applied(&subnet_obj(2), &Outcome::Ready, &StatusFields::None, T0);
    o["status"].as_object_mut().unwrap().remove("observedGeneration");
    assert!(status_patch(&o, &Outcome::Ready, &StatusFields::None, T1).is_some());
    let pruned = ["observedGeneration".to_string()].into_iter().collect();
    assert_eq!(status_patch_without(&o, &Outcome::Ready, &StatusFields::None, T1, &pruned), None);
}

/// A NAT gateway kind before its agent: valid, never claimed Ready, no
/// Warning, with Kube-OVN's fields (`ready: false`).
#[test]
fn not_applied_is_validated_not_ready_and_warns_nothing() {
    let outcome = Outcome::NotApplied { message: NO_AGENT.into() };
    let fields = StatusFields::Eip(EipFields {
        ip: "172.16.3.203".into(),
        nat: "dnat".into(),
        ready: false,
        nat_gw_dp: "natgw".into(),
    });
    let o = applied(&subnet_obj(1), &outcome, &fields, T0);
    assert_eq!((&cond(&o, "Validated")["status"], &cond(&o, "Ready")["status"]), (&json!("True"), &json!("False")));
    assert_eq!((&cond(&o, "Ready")["reason"], &cond(&o, "Ready")["message"]), (&json!("NotApplied"), &json!(NO_AGENT)));
    assert_eq!(
        (&o["status"]["ip"], &o["status"]["nat"], &o["status"]["ready"]),
        (&json!("172.16.3.203"), &json!("dnat"), &json!(false))
    );
    assert_eq!(outcome.warning(), None);
    assert_eq!(status_patch(&o, &outcome, &fields, T1), None, "written once");
}
