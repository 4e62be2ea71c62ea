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
