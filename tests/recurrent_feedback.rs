//! Error-driven rules on forward pathways with loops: the expansion gives every projection
//! between populations that carry an error its feedback (self-connections and projections out
//! of the output included) and makes the local errors integrate, so with feedback tied to Wᵀ
//! (sgd) they settle to the adjoint of the pathway's fixed point — recurrent backpropagation.
//!
//! For a linear pathway held at a constant input the fixed point and its adjoint are closed
//! forms: h* = (I − W_hh)⁻¹ (W1 x + W_yh y*) … and, with e = y* − y at the fixed point,
//! λ_y = e + W_yhᵀ λ_h and λ_h = W_hhᵀ λ_h + W2ᵀ λ_y. Every backend's settled local errors are
//! compared with them.

#[macro_use]
mod common;

use common::{BackendCase, plan_from, pop, weights};
use nalgebra::{DMatrix, DVector};

const HIDDEN_LOOP: &str = "name: recurrent_sgd
time: {dt: 0.1 ms, duration: 0.25 s}
task:
  kind: linear_teacher
  teacher: {uniform: [-1, 1]}
  stimulus: {duration: 300 ms}
  held_out: 20
populations:
  x: {role: input, size: 3}
  h: {size: 6, tau: 5 ms}
  y: {size: 2, tau: 5 ms}
projections:
  W1: {from: x, to: h, init: {uniform: [-0.5, 0.5]}}
  W_hh: {from: h, to: h, init: {uniform: [-0.15, 0.15]}}
  W2: {from: h, to: y, init: {uniform: [-0.5, 0.5]}}
learning: {rule: sgd, output: y, tau_w: 1e9 s}
record: {every: 50 ms, measure: [loss]}
";

/// The same pathway with the output projecting back onto the hidden population.
fn output_loop() -> String {
    HIDDEN_LOOP.replace(
        "  W2: {from: h, to: y, init: {uniform: [-0.5, 0.5]}}\n",
        "  W2: {from: h, to: y, init: {uniform: [-0.5, 0.5]}}\n  W_yh: {from: y, to: h, init: {uniform: [-0.3, 0.3]}}\n",
    )
}

fn matrix(plan: &hetsim::plan::Plan, snap: &hetsim::backend::Snapshot, name: &str) -> DMatrix<f64> {
    let q = plan
        .projections
        .iter()
        .position(|p| p.name == name)
        .expect("projection");
    let p = &plan.projections[q];
    DMatrix::from_row_slice(p.rows, p.cols, &weights(plan, snap, name, 0))
}

/// Instance 0's rates z of population `name` (inputs keep no potential).
fn rates(plan: &hetsim::plan::Plan, snap: &hetsim::backend::Snapshot, name: &str) -> DVector<f64> {
    let p = pop(plan, name);
    DVector::from_vec(snap.z[p][..plan.populations[p].size].to_vec())
}

/// Runs the circuit 250 ms (50 time constants) into one held sample with learning too slow to
/// move the weights, and compares the local errors with the closed-form adjoint.
fn settles_to_the_adjoint(case: &BackendCase, yaml: &str) {
    let plan = plan_from(yaml, &[3]);
    let mut backend = (case.make)(plan.clone());
    backend.advance(plan.steps).expect("runs");
    let snap = backend.snapshot().expect("snapshot");
    let w_hh = matrix(&plan, &snap, "W_hh");
    let w2 = matrix(&plan, &snap, "W2");
    let e = rates(&plan, &snap, "e");
    let dh = rates(&plan, &snap, "dh");
    let identity = DMatrix::<f64>::identity(w_hh.nrows(), w_hh.ncols());
    let (lambda_h, lambda_y) = if plan.populations.iter().any(|p| p.name == "dy") {
        let w_yh = matrix(&plan, &snap, "W_yh");
        // λ_h = W_hhᵀ λ_h + W2ᵀ (e + W_yhᵀ λ_h)  ⇒  (I − W_hhᵀ − W2ᵀ W_yhᵀ) λ_h = W2ᵀ e.
        let a = &identity - w_hh.transpose() - w2.transpose() * w_yh.transpose();
        let lambda_h = a.lu().solve(&(w2.transpose() * &e)).expect("invertible");
        let lambda_y = &e + w_yh.transpose() * &lambda_h;
        let dy = rates(&plan, &snap, "dy");
        let err = (&dy - &lambda_y).norm() / lambda_y.norm();
        assert!(
            err < 20.0 * case.tolerance.max(1e-9),
            "{}: dy {dy:?} against λ_y {lambda_y:?} (relative error {err:.2e})",
            case.name
        );
        (lambda_h, lambda_y)
    } else {
        let a = &identity - w_hh.transpose();
        let lambda_h = a.lu().solve(&(w2.transpose() * &e)).expect("invertible");
        (lambda_h, e.clone())
    };
    assert!(
        lambda_y.norm() > 1e-3,
        "the output error is not trivially zero"
    );
    let err = (&dh - &lambda_h).norm() / lambda_h.norm();
    assert!(
        err < 20.0 * case.tolerance.max(1e-9),
        "{}: dh {dh:?} against λ_h {lambda_h:?} (relative error {err:.2e})",
        case.name
    );
    // The loop matters: without W_hh's feedback the local error would be W2ᵀ λ_y alone.
    let open_loop = w2.transpose() * &lambda_y;
    assert!(
        (&open_loop - &lambda_h).norm() / lambda_h.norm() > 1e-2,
        "the recurrent feedback must change the local error measurably"
    );
    // And the forward pathway sits at its own fixed point.
    let h = rates(&plan, &snap, "h");
    let y = rates(&plan, &snap, "y");
    let x = rates(&plan, &snap, "x");
    let mut drive = matrix(&plan, &snap, "W1") * &x + &w_hh * &h;
    if plan.populations.iter().any(|p| p.name == "dy") {
        drive += matrix(&plan, &snap, "W_yh") * &y;
    }
    assert!(
        (&h - &drive).norm() / h.norm() < 20.0 * case.tolerance.max(1e-9),
        "{}: h {h:?} is not at its fixed point {drive:?} (x {x:?})",
        case.name
    );
}

fn hidden_loop(case: &BackendCase) {
    settles_to_the_adjoint(case, HIDDEN_LOOP);
}

fn loop_through_the_output(case: &BackendCase) {
    settles_to_the_adjoint(case, &output_loop());
}

per_backend!(hidden_loop);
per_backend!(loop_through_the_output);

/// What the expansion writes for a looped pathway, and that a pathway without loops keeps
/// instantaneous errors.
#[test]
fn looped_pathways_get_integrating_errors_and_feedback_for_every_projection() {
    let expanded = |yaml: &str| {
        let source = hetsim::spec::SourceFile::from_text(
            std::path::Path::new("test.yaml"),
            yaml.to_string(),
        );
        let spec = hetsim::spec::parse_circuit(&source).expect("parses");
        hetsim::circuit::expand::expand(&source, &spec).expect("expands")
    };
    let hidden = expanded(HIDDEN_LOOP);
    let dh = &hidden.populations["dh"];
    assert_eq!(
        dh.tau.map(|t| t.seconds()),
        Some(0.005),
        "the shortest τ on the pathway"
    );
    assert_eq!(hidden.projections["B_hh"].tied.as_deref(), Some("W_hh"));
    assert_eq!(hidden.projections["B_hh"].from, "dh");
    assert_eq!(hidden.projections["B_hh"].to, "dh");
    assert!(
        !hidden.populations.contains_key("dy"),
        "the output is not in a loop"
    );

    let through =
        expanded(&output_loop().replace("tau_w: 1e9 s}", "tau_w: 1e9 s, tau_error: 2 ms}"));
    assert_eq!(
        through.populations["dy"].tau.map(|t| t.seconds()),
        Some(0.002)
    );
    assert_eq!(
        through.populations["dh"].tau.map(|t| t.seconds()),
        Some(0.002)
    );
    assert_eq!(through.projections["B_yh"].from, "dh");
    assert_eq!(through.projections["B_yh"].to, "dy");
    let w2 = through
        .motifs
        .iter()
        .find(|m| m.plastic == "W2")
        .expect("W2 learns");
    assert_eq!(
        w2.modulator.as_deref(),
        Some("dy"),
        "W2 learns from the output's local error"
    );

    // fa draws its feedback at random for every projection in the loop too.
    let fa = expanded(&HIDDEN_LOOP.replace("rule: sgd", "rule: fa"));
    assert!(fa.projections["B_hh"].tied.is_none());
    // Without the loop nothing changes: local errors stay instantaneous.
    let plain = expanded(&HIDDEN_LOOP.replace(
        "  W_hh: {from: h, to: h, init: {uniform: [-0.15, 0.15]}}\n",
        "",
    ));
    assert!(plain.populations["dh"].tau.is_none_or(|t| t.is_zero()));
}

/// The expansion's tied feedback through a loop, read by the fixed-point gradient measurement:
/// recurrent backprop is defined at the fixed point, so sgd's update follows it once each
/// sample is held long compared with the settling (here 500 ms against τ = 1 ms: under 5°),
/// and departs from it while the pathway and its errors are still settling (50 ms against
/// τ = 5 ms: the angle is the transient's, several times larger).
#[test]
fn tied_feedback_through_a_loop_follows_the_fixed_point_gradient_once_settled() {
    let circuit = |stimulus: &str, tau: &str| {
        format!(
            "name: loop_sgd
time: {{dt: 0.1 ms, duration: 2 s}}
task:
  kind: linear_teacher
  teacher: {{uniform: [-1, 1]}}
  input_std: 0.5
  stimulus: {{duration: {stimulus}}}
  held_out: 20
populations:
  x: {{role: input, size: 10}}
  h: {{size: 16, tau: {tau}, activation: tanh}}
  y: {{size: 4, tau: {tau}}}
projections:
  W1: {{from: x, to: h, init: {{uniform: [-0.1, 0.1]}}}}
  R: {{from: h, to: h, init: {{uniform: [-0.1, 0.1]}}}}
  W2: {{from: h, to: y, init: {{uniform: [-0.1, 0.1]}}}}
  V: {{from: y, to: h, init: {{uniform: [-0.1, 0.1]}}}}
learning: {{rule: sgd, output: y, tau_w: 2 s, plastic: [W1, R, W2]}}
record: {{every: 100 ms, measure: [loss, gradient_alignment]}}
"
        )
    };
    let mean_angle = |yaml: &str| {
        let plan = plan_from(yaml, &[1, 2]);
        let mut backend = hetsim::backend::cpu::new(plan.clone(), hetsim::backend::Precision::F64);
        let mut sink = hetsim::record::Collector::default();
        hetsim::run::execute(
            &plan,
            backend.as_mut(),
            hetsim::simd::Simd::auto(),
            &mut sink,
            &mut hetsim::run::Quiet,
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let angles: Vec<f64> = sink
            .rows
            .iter()
            .filter(|r| r.projection == "all" && r.time_s > 0.1)
            .filter_map(|r| r.gradient_angle_deg)
            .collect();
        assert!(
            angles.len() >= 30,
            "gradient angles recorded: {}",
            angles.len()
        );
        angles.iter().sum::<f64>() / angles.len() as f64
    };
    let settled = mean_angle(&circuit("500 ms", "1 ms"));
    let transient = mean_angle(&circuit("50 ms", "5 ms"));
    assert!(
        settled < 5.0,
        "held samples: sgd's update is recurrent backprop's ({settled:.2}°)"
    );
    assert!(
        transient > 5.0 && transient > 3.0 * settled,
        "short samples: the settling shows ({transient:.2}° against {settled:.2}°), so the measurement can tell"
    );
}
