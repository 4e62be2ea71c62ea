//! Unit tests of the plan: the union of rules, per-instance tables, and the invariants that
//! keep an ensemble one clock and one recording schedule.

use super::*;
use crate::spec::{self, RuleName, SourceFile};
use std::path::Path;

const TEACHER: &str = "
name: t
time: {dt: 0.1 ms, duration: 10 ms}
task:
  kind: linear_teacher
  stimulus: {duration: 5 ms}
  held_out: 4
populations:
  x: {role: input, size: 3}
  h: {size: 4, tau: 5 ms}
  y: {size: 2, tau: 5 ms}
projections:
  W1: {from: x, to: h, init: {uniform: [-0.1, 0.1]}}
  W2: {from: h, to: y, init: {uniform: [-0.1, 0.1]}}
learning: {rule: fa, output: y, tau_w: 1 s}
record: {every: 1 ms, measure: [loss, weight_alignment]}
";

fn circuit(text: &str, sets: &[(&str, &str)]) -> Circuit {
    let source = SourceFile::from_text(Path::new("t.yaml"), text.to_string());
    let spec = spec::parse_circuit(&source).unwrap_or_else(|d| panic!("{d}"));
    let sets: Vec<(String, String)> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let spec = spec::apply_overrides(&spec, &sets).unwrap();
    crate::circuit::build(&source, &spec).unwrap_or_else(|d| panic!("{d}"))
}

fn instance(c: Circuit, seed: u64, label: &str) -> InstanceSpec {
    InstanceSpec {
        circuit: c,
        seed,
        label: label.into(),
    }
}

fn plan(instances: &[InstanceSpec]) -> Result<Plan, PlanError> {
    Plan::new(instances, Path::new("."))
}

fn projection<'a>(plan: &'a Plan, name: &str) -> &'a PlanProjection {
    plan.projections
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no projection `{name}`"))
}

#[test]
fn the_union_of_rules_keeps_each_rules_own_feedback() {
    let rules = [RuleName::Sgd, RuleName::Fa, RuleName::Dfa, RuleName::Kp];
    let instances: Vec<InstanceSpec> = rules
        .iter()
        .map(|&r| {
            let c = circuit(
                TEACHER,
                &[("learning.rule", r.name()), ("learning.tau_decay", "10 s")],
            );
            instance(c, 1, r.name())
        })
        .collect();
    let p = plan(&instances).unwrap();
    // sgd, fa and kp name their feedback B2 (e → dh); dfa names its own B_h, so the two stay
    // two projections although they join the same populations.
    let b2 = projection(&p, "B2");
    let bh = projection(&p, "B_h");
    assert_eq!((b2.from, b2.to), (bh.from, bh.to));
    assert_eq!(b2.sign, vec![1.0, 1.0, 0.0, 1.0]);
    assert_eq!(bh.sign, vec![0.0, 0.0, 1.0, 0.0]);
    assert_eq!(b2.tied, vec![true, false, false, false]);
    // Both stand in for W2, so every rule's weight angle is defined.
    let w2 = p.projections.iter().position(|q| q.name == "W2");
    assert_eq!(b2.stands_for, w2);
    assert_eq!(bh.stands_for, w2);
    // Only kp makes B2 plastic: its motif has θ_mx = 1 there and 0 elsewhere.
    let m = &p.motifs[b2.motif.expect("kp's feedback motif")];
    let mx: Vec<f64> = m.theta.iter().map(|t| t[0]).collect();
    assert_eq!(mx, vec![0.0, 0.0, 0.0, 1.0]);
    assert!(bh.motif.is_none());
    // The forward motifs learn in every instance; decay only where the file set it (kp keeps
    // tau_decay, the others drop it).
    let w1 = projection(&p, "W1");
    let m1 = &p.motifs[w1.motif.unwrap()];
    assert!(m1.theta.iter().all(|t| t[0] == 1.0));
    assert_eq!(m1.tau_decay_s[3], 10.0);
}

#[test]
fn two_projections_between_the_same_populations_stay_two() {
    let text = TEACHER.replace(
        "  W2: {from: h, to: y, init: {uniform: [-0.1, 0.1]}}",
        "  W2: {from: h, to: y, init: {uniform: [-0.1, 0.1]}}\n  W2b: {from: h, to: y, init: {constant: 0.5}}",
    );
    let c = circuit(&text, &[]);
    let p = plan(&[instance(c, 1, "a")]).unwrap();
    let w2 = projection(&p, "W2");
    let w2b = projection(&p, "W2b");
    assert_eq!((w2.from, w2.to), (w2b.from, w2b.to));
    let q = p.projections.iter().position(|q| q.name == "W2b").unwrap();
    assert!(p.initial_weights[q].iter().all(|&w| w == 0.5));
    let q2 = p.projections.iter().position(|q| q.name == "W2").unwrap();
    assert!(p.initial_weights[q2].iter().all(|&w| w.abs() <= 0.1));
}

#[test]
fn per_instance_tables_hold_each_instances_values() {
    let a = circuit(
        TEACHER,
        &[("populations.h.tau", "2 ms"), ("learning.tau_w", "3 s")],
    );
    let b = circuit(
        TEACHER,
        &[
            ("populations.h.noise", "0.25"),
            ("projections.W2.delay", "0.5 ms"),
            ("task.stimulus.gap", "1 ms"),
        ],
    );
    let p = plan(&[instance(a, 7, "a"), instance(b, 8, "b")]).unwrap();
    let h = p.populations.iter().find(|q| q.name == "h").unwrap();
    assert_eq!(h.tau_s, vec![0.002, 0.005]);
    assert_eq!(h.noise, vec![0.0, 0.25]);
    let w2 = projection(&p, "W2");
    assert_eq!(w2.delay_steps, vec![0, 5]);
    let m = &p.motifs[projection(&p, "W1").motif.unwrap()];
    assert_eq!(m.tau_w_s, vec![3.0, 1.0]);
    assert_eq!(p.timing[0].period_steps, 50);
    assert_eq!(p.timing[1].period_steps, 60);
    assert_eq!(p.seeds, vec![7, 8]);
    assert_eq!(p.labels, vec!["a", "b"]);
}

#[test]
fn instances_that_disagree_on_the_schedule_are_refused_by_field() {
    let cases: [(&str, &str, &str); 5] = [
        ("time.dt", "0.2 ms", "time.dt"),
        ("time.method", "euler", "time.method"),
        ("time.duration", "20 ms", "time.duration"),
        ("record.every", "2 ms", "record.every"),
        ("record.measure", "[loss]", "record.measure"),
    ];
    for (key, value, field) in cases {
        let base = circuit(TEACHER, &[]);
        let other = circuit(TEACHER, &[(key, value)]);
        let err = plan(&[
            instance(base.clone(), 1, "a"),
            instance(base, 2, "a"),
            instance(other, 3, "odd"),
        ])
        .expect_err(key);
        match &err {
            PlanError::Mismatch {
                instance, field: f, ..
            } => {
                assert_eq!(*instance, 2, "{err}");
                assert_eq!(*f, field, "{err}");
            }
            other => panic!("{key}: expected a mismatch, got {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("instance 2 (odd)") && text.contains(field),
            "{text}"
        );
    }
    // The same measures in another order are the same schedule.
    let a = circuit(TEACHER, &[]);
    let b = circuit(TEACHER, &[("record.measure", "[weight_alignment, loss]")]);
    assert!(plan(&[instance(a, 1, "a"), instance(b, 1, "b")]).is_ok());
}

#[test]
fn a_name_used_for_different_endpoints_is_refused() {
    let a = circuit(TEACHER, &[]);
    let text = TEACHER
        .replace(
            "  y: {size: 2, tau: 5 ms}",
            "  y: {size: 2, tau: 5 ms}\n  k: {size: 4, tau: 5 ms}",
        )
        .replace("W1: {from: x, to: h", "W1: {from: x, to: k")
        .replace(
            "  W2: {from: h, to: y",
            "  Wk: {from: k, to: h, init: identity}\n  W2: {from: h, to: y",
        );
    let b = circuit(&text, &[]);
    let err = plan(&[instance(b, 1, "wide"), instance(a, 1, "narrow")]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`W1`") && text.contains("x → h") && text.contains("x → k"),
        "{text}"
    );
}
