//! Exact deferred updates for held inputs (`Plan::held_input`): the CPU engine with the
//! deferral on must reproduce the step-by-step engine (the same plan with it forced off) in
//! every state it shows and every table it feeds — to 1e-9 relative in f64 and to rounding in
//! f32 — across decay on and off, gaps, error delays, window boundaries and snapshots inside a
//! stimulus, frozen instances, single instances (large matrices, rows on threads) and ensembles.
//!
//! Every backend case (`per_backend!`: the CPU engine, OpenCL in both layouts, each deferring
//! where its layout allows; one test each) is compared with the CPU engine of the same precision
//! step by step: the deferral changes only where rounding happens, so f64 must agree to 1e-9
//! and f32 to 1e-3 (what f32 rounding alone moves these circuits by; the conformance suite
//! bounds f32 against the f64 reference).

#[macro_use]
mod common;

use common::{BackendCase, plan_from, rel_diff};
use hetsim::backend::{Precision, Snapshot, Window};
use hetsim::plan::Plan;
use std::sync::Arc;

/// A two-layer teacher circuit with the given rule, timing and recording.
#[allow(clippy::too_many_arguments)]
fn circuit(
    rule: &str,
    decay: &str,
    method: &str,
    stimulus: &str,
    gap: &str,
    error_delay: &str,
    every: &str,
    sizes: (usize, usize),
) -> String {
    let (n_in, n_h) = sizes;
    format!(
        "name: held\ntime: {{dt: 0.5 ms, duration: 120 ms, method: {method}}}\ntask: {{kind: tanh_teacher, hidden: 5, stimulus: {{duration: {stimulus}, gap: {gap}, error_delay: {error_delay}}}, held_out: 6}}\npopulations:\n  x: {{role: input, size: {n_in}}}\n  h: {{size: {n_h}, tau: 3 ms, activation: tanh}}\n  y: {{size: 3, tau: 2 ms}}\nprojections:\n  W1: {{from: x, to: h, init: {{uniform: [-0.3, 0.3]}}}}\n  W2: {{from: h, to: y, init: {{uniform: [-0.3, 0.3]}}}}\nlearning: {{rule: {rule}, output: y, feedback_init: {{uniform: [-0.5, 0.5]}}, tau_w: 50 ms{decay}}}\nrecord: {{every: {every}, traces: 20 ms, measure: [loss, gradient_alignment, loss_alignment, hebbian_signature, learning_strength, weight_alignment]}}\n"
    )
}

/// Every number of a window's metric rows, None as NaN (so both must agree on presence).
fn row_values(plan: &Plan, w: &Window, start: &Snapshot, end: &Snapshot) -> Vec<f64> {
    let active = vec![true; plan.n_instances()];
    hetsim::record::metrics::window_rows(plan, w, start, end, &active, hetsim::simd::Simd::auto())
        .iter()
        .flat_map(|r| {
            [
                r.loss,
                r.accuracy,
                r.held_out_loss,
                r.held_out_accuracy,
                r.gradient_angle_deg,
                r.loss_angle_deg,
                r.learning_strength,
                r.hebbian_signature,
                r.weight_angle_deg,
                r.weight_norm_ratio,
            ]
        })
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

fn close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(
        got.iter().map(|v| v.is_nan()).collect::<Vec<_>>(),
        want.iter().map(|v| v.is_nan()).collect::<Vec<_>>(),
        "{what}: missing values differ"
    );
    let (g, w): (Vec<f64>, Vec<f64>) = got
        .iter()
        .zip(want)
        .filter(|(a, _)| !a.is_nan())
        .map(|(a, b)| (*a, *b))
        .unzip();
    let d = rel_diff(&g, &w);
    assert!(d <= tol, "{what}: relative difference {d:.3e} > {tol:.1e}");
}

fn close_snapshots(what: &str, got: &Snapshot, want: &Snapshot, tol: f64) {
    for (q, (g, w)) in got.weights.iter().zip(&want.weights).enumerate() {
        close(&format!("{what}: weights of projection {q}"), g, w, tol);
    }
    for (p, (g, w)) in got.u.iter().zip(&want.u).enumerate() {
        close(&format!("{what}: u of population {p}"), g, w, tol);
    }
}

fn close_windows(what: &str, got: &Window, want: &Window, tol: f64) {
    close(
        &format!("{what}: loss"),
        &got.loss_integral,
        &want.loss_integral,
        tol,
    );
    for (q, (g, w)) in got.projections.iter().zip(&want.projections).enumerate() {
        close(&format!("{what}: ΔW_rule {q}"), &g.dw_rule, &w.dw_rule, tol);
        close(&format!("{what}: ∫δxᵀ {q}"), &g.backprop, &w.backprop, tol);
        close(&format!("{what}: ∫uxᵀ {q}"), &g.u_x, &w.u_x, tol);
    }
    let values = |w: &Window| w.traces.iter().map(|t| t.value).collect::<Vec<_>>();
    close(&format!("{what}: traces"), &values(got), &values(want), tol);
}

/// Runs `yaml` deferred and step by step in both precisions, reading the state at step counts
/// that fall inside stimuli and taking windows at the recording interval; `freeze` freezes an
/// instance at the given step.
fn deferral_matches(case: &BackendCase, yaml: &str, seeds: &[u64], freeze: Option<(u64, usize)>) {
    deferral_matches_within(case, yaml, seeds, freeze, 1e-9);
}

/// `deferral_matches` with f64 agreement to `tol64` relative.
fn deferral_matches_within(
    case: &BackendCase,
    yaml: &str,
    seeds: &[u64],
    freeze: Option<(u64, usize)>,
    tol64: f64,
) {
    let plan = plan_from(yaml, seeds);
    assert!(
        plan.held_input.iter().any(|d| *d),
        "the deferral should apply to this circuit"
    );
    let step_by_step = Arc::new((*plan).clone().without_held_input_deferral());
    assert!(step_by_step.held_input.iter().all(|d| !*d));
    let (precision, tol) = if case.f32 {
        (Precision::F32, 1e-3)
    } else {
        (Precision::F64, tol64)
    };
    let name = &case.name;
    let mut a = (case.make)(plan.clone());
    let mut b = hetsim::backend::cpu::new(step_by_step.clone(), precision);
    let record = plan.record_every_steps;
    let (mut start_a, mut start_b) = (a.snapshot().unwrap(), b.snapshot().unwrap());
    let mut done = 0;
    while done < plan.steps {
        // A snapshot 7 steps into each window: inside a stimulus, between rebases.
        for n in [7.min(record), record.saturating_sub(7)] {
            let n = n.min(plan.steps - done);
            if let Some((at, e)) = freeze
                && done <= at
                && at < done + n
            {
                a.advance(at - done).unwrap();
                b.advance(at - done).unwrap();
                a.freeze(e).unwrap();
                b.freeze(e).unwrap();
                a.advance(done + n - at).unwrap();
                b.advance(done + n - at).unwrap();
            } else {
                a.advance(n).unwrap();
                b.advance(n).unwrap();
            }
            done += n;
            let at = format!("{name} step {done}");
            let reference = b.snapshot().unwrap();
            // A diverging circuit would amplify rounding until any two paths disagree: the
            // comparison is only meaningful while the reference stays bounded.
            let largest = reference
                .weights
                .iter()
                .flatten()
                .fold(0.0_f64, |m, v| m.max(v.abs()));
            assert!(
                largest < 100.0,
                "{at}: the reference's weights reached {largest:.3e}"
            );
            close_snapshots(&at, &a.snapshot().unwrap(), &reference, tol);
        }
        let (wa, wb) = (a.take_window().unwrap(), b.take_window().unwrap());
        let (end_a, end_b) = (a.snapshot().unwrap(), b.snapshot().unwrap());
        let at = format!("{name} window ending at step {done}");
        close_windows(&at, &wa, &wb, tol);
        close(
            &format!("{at}: metrics"),
            &row_values(&plan, &wa, &start_a, &end_a),
            &row_values(&step_by_step, &wb, &start_b, &end_b),
            tol.max(1e-7)
                * if precision == Precision::F32 {
                    10.0
                } else {
                    1.0
                },
        );
        (start_a, start_b) = (end_a, end_b);
    }
}

/// Kolen–Pollack (decay on), Euler, gaps and an error delay, windows of 25 ms over 10-ms
/// stimuli: an ensemble of three (lanes with padding).
fn kp_with_decay_gaps_and_error_delay(case: &BackendCase) {
    let yaml = circuit(
        "kp",
        ", tau_decay: 200 ms",
        "euler",
        "10 ms",
        "4 ms",
        "2 ms",
        "25 ms",
        (7, 11),
    );
    deferral_matches(case, &yaml, &[1, 2, 3], None);
}

per_backend!(kp_with_decay_gaps_and_error_delay);

/// Feedback alignment without decay, exponential Euler, no gap, one instance.
fn fa_without_decay_single_instance(case: &BackendCase) {
    let yaml = circuit(
        "fa",
        "",
        "exponential_euler",
        "15 ms",
        "0 ms",
        "0 ms",
        "20 ms",
        (9, 6),
    );
    deferral_matches(case, &yaml, &[5], None);
}

per_backend!(fa_without_decay_single_instance);

/// A matrix large enough to be rebased on several threads (300 × 256), with decay.
fn large_single_matrix_rebased_on_threads(case: &BackendCase) {
    let yaml = circuit(
        "kp",
        ", tau_decay: 100 ms",
        "exponential_euler",
        "8 ms",
        "2 ms",
        "1 ms",
        "30 ms",
        (300, 256),
    )
    // Small weights and slower learning for 300 inputs and 256 hidden units keep the circuit
    // bounded (at τ_w = 50 ms it explodes within 20 ms).
    .replace(
        "W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}}",
        "W1: {from: x, to: h, init: {uniform: [-0.02, 0.02]}}",
    )
    .replace("tau_w: 50 ms", "tau_w: 200 ms");
    deferral_matches(case, &yaml, &[4], None);
}

per_backend!(large_single_matrix_rebased_on_threads);

/// An instance frozen in the middle of a stimulus stays in step with the reference.
fn frozen_instance_mid_stimulus(case: &BackendCase) {
    let yaml = circuit(
        "fa",
        ", tau_decay: 300 ms",
        "euler",
        "12 ms",
        "3 ms",
        "0 ms",
        "25 ms",
        (5, 8),
    );
    deferral_matches(case, &yaml, &[1, 2, 3, 4, 5, 6, 7, 8, 9], Some((31, 4)));
}

per_backend!(frozen_instance_mid_stimulus);

/// Where the update is not an outer product with the held input, or the input reaches the
/// matrix late, or weight noise moves it, the plan keeps the step-by-step update.
#[test]
fn plan_excludes_what_is_not_an_outer_product_with_the_input() {
    let base = circuit("fa", "", "euler", "10 ms", "0 ms", "0 ms", "20 ms", (4, 5));
    let w1 = |yaml: &str| {
        let plan = plan_from(yaml, &[1]);
        let q = plan
            .projections
            .iter()
            .position(|p| p.name == "W1")
            .unwrap();
        plan.held_input[q]
    };
    assert!(w1(&base));
    let delayed = base.replace(
        "W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}}",
        "W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}, delay: 1 ms}",
    );
    assert!(!w1(&delayed), "a delayed input is not the held one");
    let rk4 = base.replace("method: euler", "method: rk4");
    assert!(!w1(&rk4), "RK4's stages read W");
    let noisy = base.replace("tau_w: 50 ms", "tau_w: 50 ms, weight_noise: 0.01");
    assert!(!w1(&noisy), "weight noise moves every synapse");
    // Oja's z²W term reads W_ij.
    let oja = "name: oja\ntime: {dt: 0.5 ms, duration: 20 ms}\ntask: {kind: linear_teacher, stimulus: {duration: 5 ms}, held_out: 2}\npopulations:\n  x: {role: input, size: 4}\n  y: {size: 3, tau: 2 ms}\n  ystar: {role: target, size: 3}\nprojections:\n  W: {from: x, to: y, init: {uniform: [-0.3, 0.3]}}\nmotifs:\n  - {plastic: W, rule: {z_x: 1.0, zz_w: -1.0}, tau_w: 100 ms}\nrecord: {every: 10 ms, measure: [loss]}\n";
    assert!(!w1_named(oja, "W"));
    let hebb = oja.replace(", zz_w: -1.0", "");
    assert!(
        w1_named(&hebb, "W"),
        "plain Hebbian z xᵀ is an outer product"
    );
}

fn w1_named(yaml: &str, name: &str) -> bool {
    let plan = plan_from(yaml, &[1]);
    let q = plan
        .projections
        .iter()
        .position(|p| p.name == name)
        .unwrap();
    plan.held_input[q]
}

/// The Hebbian signature alone: the ∫uxᵀ accumulator deferred without the backprop one.
fn hebbian_accumulator_without_backprop(case: &BackendCase) {
    let yaml = circuit(
        "fa",
        ", tau_decay: 300 ms",
        "euler",
        "10 ms",
        "2 ms",
        "0 ms",
        "25 ms",
        (6, 7),
    )
    .replace(
        "measure: [loss, gradient_alignment, loss_alignment, hebbian_signature, learning_strength, weight_alignment]",
        "measure: [loss, hebbian_signature]",
    );
    assert!(yaml.contains("measure: [loss, hebbian_signature]"));
    deferral_matches(case, &yaml, &[1, 2], None);
}

per_backend!(hebbian_accumulator_without_backprop);

/// `W1` of `yaml` wired by `connectivity` (each instance its own mask).
fn masked_w1(yaml: &str, connectivity: &str) -> String {
    let (from, to) = (
        "W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}}",
        format!(
            "W1: {{from: x, to: h, init: {{uniform: [-0.3, 0.3]}}, connectivity: {connectivity}}}"
        ),
    );
    assert!(yaml.contains(from));
    yaml.replace(from, &to)
}

/// A masked input layer deferred while its input is held, W = G·W₀ + (D xᵀ) ⊙ M with the
/// current G·(W₀x) + D ⊙ (M x²), follows the step-by-step masked update to rounding: an
/// ensemble of three instances with their own masks, Kolen–Pollack with decay, gaps and an
/// error delay, a frozen instance, the f64 states and tables within 1e-12.
fn masked_input_layer_with_decay_and_a_frozen_instance(case: &BackendCase) {
    let yaml = masked_w1(
        &circuit(
            "kp",
            ", tau_decay: 200 ms",
            "euler",
            "10 ms",
            "4 ms",
            "2 ms",
            "25 ms",
            (9, 11),
        ),
        "{probability: 0.3}",
    );
    deferral_matches_within(case, &yaml, &[1, 2, 3], Some((37, 1)), 1e-12);
}

per_backend!(masked_input_layer_with_decay_and_a_frozen_instance);

/// A masked matrix large enough to be rebased on several threads (300 × 256 at 10% density),
/// one instance, feedback alignment without decay.
fn masked_large_matrix_rebased_on_threads(case: &BackendCase) {
    let yaml = masked_w1(
        &circuit(
            "fa",
            "",
            "exponential_euler",
            "8 ms",
            "2 ms",
            "1 ms",
            "30 ms",
            (300, 256),
        ),
        "{probability: 0.1}",
    )
    .replace(
        "uniform: [-0.3, 0.3]}, connectivity",
        "uniform: [-0.05, 0.05]}, connectivity",
    )
    .replace("tau_w: 50 ms", "tau_w: 200 ms");
    deferral_matches_within(case, &yaml, &[4], None, 1e-12);
}

per_backend!(masked_large_matrix_rebased_on_threads);
