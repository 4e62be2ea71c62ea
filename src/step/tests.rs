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

/// `EVERYTHING` with a 40-unit hidden layer (W1 3 → 40 and B2 2 → 40 become tall matrices with
/// short rows) and weight noise on W2.
fn everything_tall() -> Plan {
    plan(
        &EVERYTHING
            .replace("h: {size: 4,", "h: {size: 40,")
            .replace("dh: {role: error, size: 4,", "dh: {role: error, size: 40,")
            .replace(
                "zz_w: -1}, tau_w: 1 s}",
                "zz_w: -1}, tau_w: 1 s, weight_noise: 0.01}",
            ),
    )
}

fn launches(plan: &Plan, short_row: usize) -> String {
    rows::RowSchedule::for_plan(plan, short_row)
        .listing(plan)
        .to_string()
}

/// The main job in the row layout: the output error e = y* − y reads only fixed matrices of
/// known rates, so the update launch evaluates it for step n + 1; dh is read by no projection
/// and rides along in `integrate`; W1's held input defers its update, W2's fuses.
#[test]
fn the_main_job_groups_into_two_launches_and_the_accumulators() {
    let plan = teacher_fa();
    assert_eq!(
        launches(&plan, 16),
        "integrate:
  input y
  integrate y
  input h
  integrate h
  instantaneous dh
  stimulus (step n + 1)
  accumulate (loss, traces)
accumulators:
  accumulate (δ, outer products)
update:
  instantaneous e (step n + 1)
  rebase held
  next input
  update W1 (m_x, deferred)
  update W2 (m_x, fused)
drive (priming):
  stimulus
"
    );
}

/// Tall matrices are stored transposed and so not deferred (no rebase left); the delayed W2
/// pushes h's rates of step n inside h's block; noisy W2 gets the weight-noise launch, the tied
/// B2 the copy launch.
#[test]
fn every_kind_of_operation_has_its_launch() {
    let plan = everything_tall();
    assert_eq!(
        launches(&plan, 16),
        "transposed W1 B2
integrate:
  input y
  integrate y
  input h
  ring W2
  integrate h
  instantaneous dh
  stimulus (step n + 1)
  accumulate (loss, traces)
accumulators:
  accumulate (δ, outer products)
update:
  instantaneous e (step n + 1)
  update W1 (m_x)
  update W2 (m_x zz_w)
  trace h
wnoise:
  update W2 (m_x zz_w) (its weight noise)
tied:
  tie B2 = W2ᵀ
drive (priming):
  stimulus
"
    );
}

#[test]
fn the_row_transposition_stores_tall_matrices_by_columns_and_undefers_them() {
    let plan = everything_tall();
    let names = |t: &[bool]| -> Vec<&str> {
        plan.projections
            .iter()
            .zip(t)
            .filter(|(_, t)| **t)
            .map(|(p, _)| p.name.as_str())
            .collect()
    };
    // 3 → 40 and 2 → 40 have rows shorter than 16 and at least 32 of them; 40 → 2 does not.
    assert_eq!(names(&rows::stored_transposed(&plan, 16)), ["W1", "B2"]);
    assert!(rows::stored_transposed(&plan, 0).iter().all(|t| !t));
    let mut program = StepProgram::lower(&plan);
    passes::defer_held_inputs(&mut program, &plan);
    assert!(program.ops.contains(&Op::RebaseHeld));
    let transposed = rows::transpose(&mut program, &plan, 16);
    assert_eq!(names(&transposed), ["W1", "B2"]);
    assert!(!program.ops.contains(&Op::RebaseHeld));
    assert!(
        !program
            .ops
            .iter()
            .any(|op| matches!(op, Op::Update { deferred: true, .. }))
    );
    // Without transposition the held input still defers.
    let mut program = StepProgram::lower(&plan);
    passes::defer_held_inputs(&mut program, &plan);
    rows::transpose(&mut program, &plan, 0);
    assert!(program.ops.contains(&Op::RebaseHeld));
}

/// The grouping drops no operation and invents none: every op of the program is in exactly one
/// launch, except the two the row layout splits on purpose (the window accumulators: the loss
/// and traces on `integrate`'s last work-item, δ and the outer products in their own launches;
/// a noisy update: its rows in `update`, its noise in `wnoise`). The priming launch is step
/// 0's stimulus and the rings of driven sources.
#[test]
fn every_operation_lands_in_one_launch() {
    for plan in [teacher_fa(), plan(EVERYTHING), everything_tall()] {
        for short_row in [0, 16] {
            let schedule = rows::RowSchedule::for_plan(&plan, short_row);
            let placed: Vec<Op> = schedule
                .launches
                .iter()
                .flat_map(|l| l.ops.iter().copied())
                .collect();
            for op in &schedule.program.ops {
                let expected = match *op {
                    Op::Accumulate => 2,
                    Op::Update { motif, .. } if plan.motifs[motif].has_noise() => 2,
                    _ => 1,
                };
                let found = placed.iter().filter(|o| *o == op).count();
                assert_eq!(found, expected, "{op:?}");
            }
            assert_eq!(
                placed.len(),
                schedule.program.ops.len()
                    + 1
                    + plan.motifs.iter().filter(|m| m.has_noise()).count()
            );
            assert_eq!(schedule.drive.ops.first(), Some(&Op::Stimulus));
        }
    }
}

/// Products formed by the update: the fused and the deferred ones, which the input sums of
/// their targets then read instead of a matrix product.
#[test]
fn the_row_layout_fuses_what_its_rows_can_carry() {
    let plan = teacher_fa();
    let schedule = rows::RowSchedule::for_plan(&plan, 16);
    let by_update: Vec<&str> = plan
        .projections
        .iter()
        .zip(&schedule.product_by_update)
        .filter(|(_, b)| **b)
        .map(|(p, _)| p.name.as_str())
        .collect();
    assert_eq!(by_update, ["W1", "W2"]);
    assert!(schedule.update_forms_next());
    // A delayed, noisy, tall or tied matrix forms no product in its update.
    let schedule = rows::RowSchedule::for_plan(&everything_tall(), 16);
    assert!(schedule.product_by_update.iter().all(|b| !b));
    // e is still evaluated early, so step 0 is primed.
    assert!(schedule.update_forms_next());
}
