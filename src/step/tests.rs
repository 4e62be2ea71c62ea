//! The step program of reviewed circuits, printed and compared with listings read line by
//! line against the step order, and each pass on its own.

use super::*;
use crate::circuit::Circuit;
use crate::plan::InstanceSpec;
use crate::spec::{self, SourceFile};
use std::path::Path;

fn circuit(text: &str) -> Circuit {
    let source = SourceFile::from_text(Path::new("t.yaml"), text.to_string());
    let spec = spec::parse_circuit(&source).unwrap_or_else(|d| panic!("{d}"));
    crate::circuit::build(&source, &spec).unwrap_or_else(|d| panic!("{d}"))
}

fn plan(text: &str) -> Plan {
    let instance = InstanceSpec {
        circuit: circuit(text),
        seed: 1,
        label: "t".into(),
    };
    Plan::new(&[instance], Path::new(".")).unwrap()
}

/// The shipped main-job circuit: fa on a 30-20-10 linear teacher, expanded. Rate populations
/// come in the plan's evaluation order (y before h here); their inputs and integration read
/// only the state at the start of the step, so that order changes no number.
fn teacher_fa() -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("circuits/teacher_fa.yaml");
    plan(&std::fs::read_to_string(path).unwrap())
}

/// A circuit with everything the step orders: an instantaneous error, a delayed projection, a
/// trace, a tied matrix, a rule reading W (Oja) and one reading the trace (BCM).
const EVERYTHING: &str = "
name: everything
time: {dt: 0.1 ms, duration: 10 ms}
task: {kind: linear_teacher, stimulus: {duration: 5 ms}, held_out: 4}
populations:
  x: {role: input, size: 3}
  h: {size: 4, tau: 5 ms, trace: {of: rate_squared, tau: 1 s}}
  y: {size: 2, tau: 5 ms}
  ystar: {role: target, size: 2}
  e: {role: error, size: 2, tau: 0 ms}
  dh: {role: error, size: 4, tau: 0 ms, gain_from: h}
projections:
  W1: {from: x, to: h, init: {uniform: [-0.1, 0.1]}}
  W2: {from: h, to: y, init: {uniform: [-0.1, 0.1]}, delay: 1 ms}
  to_e_target: {from: ystar, to: e, init: identity}
  to_e_output: {from: y, to: e, init: identity, sign: -1}
  B2: {from: e, to: dh, init: {uniform: [-0.5, 0.5]}, tied: W2}
motifs:
  - {plastic: W1, modulator: dh, rule: {m_x: 1}, tau_w: 1 s}
  - {plastic: W2, modulator: e, rule: {m_x: 1, zz_w: -1}, tau_w: 1 s}
record: {every: 1 ms, measure: [loss]}
";

fn names(plan: &Plan, program: &StepProgram) -> String {
    program.listing(plan).to_string()
}

#[test]
fn the_main_job_lowers_in_the_step_order() {
    let plan = teacher_fa();
    let program = StepProgram::lower(&plan);
    assert_eq!(
        names(&plan, &program),
        "stimulus
instantaneous e
instantaneous dh
input y
input h
accumulate
update W1 (m_x)
update W2 (m_x)
integrate y
integrate h
"
    );
}

#[test]
fn the_main_job_defers_its_input_projection() {
    let plan = teacher_fa();
    let program = StepProgram::for_plan(&plan, |_| false);
    assert_eq!(
        names(&plan, &program),
        "stimulus
rebase held
instantaneous e
instantaneous dh
input y
input h
accumulate
update W1 (m_x, deferred)
update W2 (m_x)
integrate y
integrate h
"
    );
}

#[test]
fn every_kind_of_operation_has_its_place() {
    let plan = plan(EVERYTHING);
    let program = StepProgram::for_plan(&plan, |_| false);
    assert_eq!(
        names(&plan, &program),
        "stimulus
rebase held
instantaneous e
instantaneous dh
input y
input h
ring W2
accumulate
update W1 (m_x, deferred)
update W2 (m_x zz_w)
trace h
integrate y
integrate h
tie B2 = W2ᵀ
"
    );
}

#[test]
fn without_deferral_no_rebase_is_written() {
    let plan = teacher_fa().without_held_input_deferral();
    let program = StepProgram::for_plan(&plan, |_| false);
    assert_eq!(program, StepProgram::lower(&plan));
    assert!(!program.ops.contains(&Op::RebaseHeld));
}

#[test]
fn fusing_fetches_the_next_input_after_the_accumulators() {
    let plan = teacher_fa().without_held_input_deferral();
    let mut program = StepProgram::lower(&plan);
    passes::fuse_updates(&mut program, |m| m == 0);
    let listing = names(&plan, &program);
    assert!(
        listing.contains("accumulate\nnext input\nupdate W1 (m_x, fused)\nupdate W2 (m_x)\n"),
        "{listing}"
    );
    assert!(program.any_fused());
}

#[test]
fn a_deferred_update_is_never_fused() {
    let plan = teacher_fa();
    let program = StepProgram::for_plan(&plan, |_| true);
    let listing = names(&plan, &program);
    assert!(listing.contains("update W1 (m_x, deferred)\n"), "{listing}");
    assert!(listing.contains("update W2 (m_x, fused)\n"), "{listing}");
    // The next input is fetched before the first fused update only.
    assert_eq!(
        program
            .ops
            .iter()
            .filter(|op| **op == Op::PrepareNextInput)
            .count(),
        1
    );
}

/// The circuit with everything the RK4 step orders: `EVERYTHING` without its trace (RK4 has
/// none), integrated by RK4, with noise on the hidden rates.
fn rk4_everything() -> Plan {
    let text = EVERYTHING
        .replace("time: {dt: 0.1 ms,", "time: {method: rk4, dt: 0.1 ms,")
        .replace(", trace: {of: rate_squared, tau: 1 s}", ", noise: 0.1");
    plan(&text)
}

#[test]
fn rk4_is_derived_from_the_euler_program() {
    let plan = rk4_everything();
    let program = StepProgram::for_plan(&plan, |_| true);
    let stage = |k: usize, first: bool, last: bool| {
        let mut s = String::from(
            "instantaneous e\ninstantaneous dh\ninput y\ninput h\nslope y\nslope h\nslope W1\nslope W2\n",
        );
        if first {
            s.push_str("ring W2\naccumulate\naccumulate rule slope\n");
        }
        s.push_str(&format!("stage {k}\n"));
        if !last {
            s.push_str("rates y\nrates h\ntie B2 = W2ᵀ\n");
        }
        s
    };
    let expected = format!(
        "stimulus\nstage start\n{}{}{}{}stage end\nrates y\nrates h\nnoise h\nrates y\nrates h\ntie B2 = W2ᵀ\n",
        stage(1, true, false),
        stage(2, false, false),
        stage(3, false, false),
        stage(4, false, true),
    );
    assert_eq!(names(&plan, &program), expected);
    // No pass applies: RK4's stages read W between changes, so nothing is deferred or fused.
    assert!(!program.any_fused());
    assert!(!program.ops.contains(&Op::RebaseHeld));
    // The evaluation at each stage is the Euler program's, in its order.
    let euler = StepProgram::lower(&plan);
    let evaluation: Vec<Op> = euler
        .ops
        .iter()
        .copied()
        .filter(|op| matches!(op, Op::Instantaneous { .. } | Op::SumInput { .. }))
        .collect();
    let first_stage: Vec<Op> = program.ops[2..2 + evaluation.len()].to_vec();
    assert_eq!(first_stage, evaluation);
}

#[test]
fn rk4_adds_noise_only_where_some_phase_has_it() {
    let plan = plan(
        &EVERYTHING
            .replace("time: {dt: 0.1 ms,", "time: {method: rk4, dt: 0.1 ms,")
            .replace(", trace: {of: rate_squared, tau: 1 s}", ""),
    );
    let program = StepProgram::for_plan(&plan, |_| false);
    assert!(!program.ops.iter().any(|op| matches!(op, Op::Noise { .. })));
}
