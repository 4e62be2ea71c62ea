//! The CPU engine against closed forms and published behaviour (issue: the continuous-time
//! engine). Tests that take one test body run on every backend in `common::backends()`.

#[macro_use]
mod common;

use common::{BackendCase, plan_from, pop_values, weights};
use nalgebra::{DMatrix, DVector};

/// A circuit with one driven input population (unused) and the given populations/projections.
fn tiny(dt: &str, method: &str, body: &str) -> String {
    format!(
        "name: tiny\ntime: {{dt: {dt}, duration: 1 s, method: {method}}}\ntask: {{kind: linear_teacher, stimulus: {{duration: 1 s}}, held_out: 1}}\npopulations:\n  x: {{role: input, size: 1}}\n{body}record: {{every: 10 ms, measure: [loss]}}\n"
    )
}

fn leaky_unit_matches_closed_form_and_exponential_euler_is_exact(case: &BackendCase) {
    // τ du/dt = −u + I with I = 2 (a bias), u0 = 0: u(t) = I (1 − e^{−t/τ}).
    let yaml = tiny(
        "1 ms",
        "exponential_euler",
        "  h: {size: 1, tau: 10 ms, bias: 2}\n",
    );
    let plan = plan_from(&yaml, &[1]);
    let mut b = (case.make)(plan.clone());
    for k in 1..=5 {
        b.advance(7).unwrap();
        let t = 7.0 * k as f64 * 1e-3;
        let u = pop_values(&plan, &b.snapshot().unwrap(), "h", 0)[0];
        let exact = 2.0 * (1.0 - (-t / 0.01f64).exp());
        assert!(
            (u - exact).abs() <= case.tolerance * 2.0 + 1e-12,
            "{}: u({t}) = {u}, exact {exact}",
            case.name
        );
    }
}
per_backend!(leaky_unit_matches_closed_form_and_exponential_euler_is_exact);

/// u2(t) of τ1 u1' = −u1 + b, τ2 u2' = −u2 + w u1 with u(0) = 0.
fn two_population_exact(t: f64, b: f64, w: f64, tau1: f64, tau2: f64) -> f64 {
    w * b * (1.0 - (tau1 * (-t / tau1).exp() - tau2 * (-t / tau2).exp()) / (tau1 - tau2))
}

fn two_population_error(method: &str, dt_ms: f64) -> f64 {
    let yaml = tiny(
        &format!("{dt_ms} ms"),
        method,
        "  a: {size: 1, tau: 10 ms, bias: 1}\n  b: {size: 1, tau: 20 ms}\nprojections:\n  Wab: {from: a, to: b, init: {constant: 1.5}}\n",
    );
    let plan = plan_from(&yaml, &[1]);
    let mut backend = hetsim::backend::cpu::new(plan.clone(), hetsim::backend::Precision::F64);
    let steps = (40.0 / dt_ms).round() as u64;
    backend.advance(steps).unwrap();
    let u = pop_values(&plan, &backend.snapshot().unwrap(), "b", 0)[0];
    (u - two_population_exact(0.04, 1.0, 1.5, 0.01, 0.02)).abs()
}

#[test]
fn halving_dt_cuts_euler_error_twofold_and_rk4_error_sixteenfold() {
    let euler = two_population_error("euler", 1.0) / two_population_error("euler", 0.5);
    let rk4 = two_population_error("rk4", 1.0) / two_population_error("rk4", 0.5);
    assert!((1.8..2.2).contains(&euler), "Euler error ratio {euler}");
    assert!((14.0..18.0).contains(&rk4), "RK4 error ratio {rk4}");
}

#[test]
fn linear_recurrent_circuit_matches_matrix_exponential() {
    // τ du/dt = −u + W u + b: u(t) = u* + e^{At}(u0 − u*), A = (W − I)/τ, u* = (I − W)^{-1} b.
    let yaml = tiny(
        "0.1 ms",
        "rk4",
        "  h: {size: 3, tau: 10 ms, bias: 0.5}\nprojections:\n  R: {from: h, to: h, init: {normal: [0, 0.4]}}\n",
    );
    let plan = plan_from(&yaml, &[7]);
    let w = DMatrix::from_row_slice(3, 3, &plan.initial_weights[0][..9]);
    let tau = 0.01;
    let a = (&w - DMatrix::identity(3, 3)) / tau;
    let b = DVector::from_element(3, 0.5);
    let fixed = (DMatrix::identity(3, 3) - &w)
        .try_inverse()
        .expect("invertible")
        * &b;
    let mut backend = hetsim::backend::cpu::new(plan.clone(), hetsim::backend::Precision::F64);
    backend.advance(300).unwrap();
    let u = DVector::from_vec(pop_values(&plan, &backend.snapshot().unwrap(), "h", 0));
    let exact = &fixed + (&a * 0.03).exp() * (DVector::zeros(3) - &fixed);
    assert!(
        (&u - &exact).norm() < 1e-9 * exact.norm().max(1.0),
        "u = {u}, exact = {exact}"
    );
}

fn kolen_pollack_difference_decays_at_the_decay_rate(case: &BackendCase) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/circuits/teacher_kp.yaml"
    ))
    .unwrap();
    let yaml = text.replace("duration: 30 s", "duration: 3 s");
    let plan = plan_from(&yaml, &[1, 2]);
    let mut b = (case.make)(plan.clone());
    let mut times = Vec::new();
    let mut logs = Vec::new();
    for k in 0..=6 {
        if k > 0 {
            b.advance(5000).unwrap();
        }
        let snap = b.snapshot().unwrap();
        let w2 = DMatrix::from_row_slice(10, 20, &weights(&plan, &snap, "W2", 1));
        let b2 = DMatrix::from_row_slice(20, 10, &weights(&plan, &snap, "B2", 1));
        times.push(k as f64 * 0.5);
        logs.push((w2 - b2.transpose()).norm().ln());
    }
    // Least-squares slope of ln‖W − Bᵀ‖ against t is −1/τ_decay = −0.05 /s.
    let n = times.len() as f64;
    let (mt, ml) = (times.iter().sum::<f64>() / n, logs.iter().sum::<f64>() / n);
    let slope = times
        .iter()
        .zip(&logs)
        .map(|(t, l)| (t - mt) * (l - ml))
        .sum::<f64>()
        / times.iter().map(|t| (t - mt).powi(2)).sum::<f64>();
    let rate = -slope;
    assert!(
        (rate - 0.05).abs() < 0.02 * 0.05,
        "{}: fitted decay rate {rate} /s, expected 0.05 /s",
        case.name
    );
}
per_backend!(kolen_pollack_difference_decays_at_the_decay_rate);

#[test]
fn oja_weight_vector_converges_to_top_principal_component_with_unit_norm() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/circuits/oja.yaml")).unwrap();
    let plan = plan_from(&text, &[3]);
    let mut b = hetsim::backend::cpu::new(plan.clone(), hetsim::backend::Precision::F64);
    b.advance(plan.steps).unwrap();
    let w = DVector::from_vec(weights(&plan, &b.snapshot().unwrap(), "w", 0));
    // Oja's rule finds the top eigenvector of E[x xᵀ]: σ² I + mean over classes of μ μᵀ.
    let hetsim::task::DeviceTaskForm::Mixture { means, input_std } = plan.tasks[0].device_form()
    else {
        panic!("mixture task")
    };
    let n = means.ncols();
    let mut second = DMatrix::identity(n, n) * input_std * input_std;
    for c in 0..means.nrows() {
        let mu = means.row(c).transpose();
        second += &mu * mu.transpose() / means.nrows() as f64;
    }
    let eig = second.symmetric_eigen();
    let top = eig.eigenvalues.imax();
    let pc = eig.eigenvectors.column(top).into_owned();
    let cos = w.dot(&pc).abs() / w.norm();
    assert!(cos > 0.995, "|cos(w, top PC)| = {cos}");
    assert!((w.norm() - 1.0).abs() < 0.03, "‖w‖ = {}", w.norm());
}

/// Runs an example circuit for every seed and returns held-out loss relative to the start.
fn relative_held_out_loss(file: &str, seeds: &[u64]) -> Vec<f64> {
    let text =
        std::fs::read_to_string(format!("{}/circuits/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let plan = plan_from(&text, seeds);
    let mut b = hetsim::backend::cpu::new(plan.clone(), hetsim::backend::Precision::F64);
    let start = b.snapshot().unwrap();
    b.advance(plan.steps).unwrap();
    let end = b.snapshot().unwrap();
    (0..seeds.len())
        .map(|e| {
            let l0 = hetsim::record::metrics::held_out(
                &plan,
                &start.weights,
                e,
                hetsim::simd::Simd::auto(),
            )
            .0
            .unwrap();
            let l1 = hetsim::record::metrics::held_out(
                &plan,
                &end.weights,
                e,
                hetsim::simd::Simd::auto(),
            )
            .0
            .unwrap();
            l1 / l0
        })
        .collect()
}

#[test]
fn linear_teacher_is_learned_by_every_rule_for_every_seed() {
    for rule in ["sgd", "fa", "dfa", "kp"] {
        let rel = relative_held_out_loss(&format!("teacher_{rule}.yaml"), &[1, 2, 3, 4, 5]);
        for (seed, r) in rel.iter().enumerate() {
            assert!(
                *r < 0.05,
                "{rule}, seed {}: held-out loss at {:.1}% of its start after 30 s",
                seed + 1,
                r * 100.0
            );
        }
    }
}

fn digits_accuracy(rule: &str) -> f64 {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/circuits/digits_tanh.yaml"
    ))
    .unwrap();
    let text = text.replace("rule: fa", &format!("rule: {rule}"));
    let plan = plan_from(&text, &[1]);
    let mut b = hetsim::backend::cpu::new(plan.clone(), hetsim::backend::Precision::F64);
    b.advance(plan.steps).unwrap();
    hetsim::record::metrics::held_out(
        &plan,
        &b.snapshot().unwrap().weights,
        0,
        hetsim::simd::Simd::auto(),
    )
    .1
    .unwrap()
}

#[test]
fn digits_classifier_reaches_published_accuracy() {
    let sgd = digits_accuracy("sgd");
    let fa = digits_accuracy("fa");
    assert!(sgd > 0.85, "sgd held-out accuracy {sgd}");
    assert!(fa > 0.80, "fa held-out accuracy {fa}");
}

fn instance_k_of_an_ensemble_equals_a_single_run_with_its_parameters(case: &BackendCase) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/circuits/teacher_fa.yaml"
    ))
    .unwrap();
    // A delayed projection too: a single instance reads delayed rates on the one-lane path.
    let yaml = text.replace("duration: 30 s", "duration: 0.5 s").replace(
        "W1: {from: x, to: h, init: {uniform: [-0.01, 0.01]}}",
        "W1: {from: x, to: h, init: {uniform: [-0.01, 0.01]}, delay: 1 ms}",
    );
    assert!(yaml.contains("delay: 1 ms"));
    let ensemble = plan_from(&yaml, &[11, 12, 13, 14, 15]);
    let single = plan_from(&yaml, &[14]);
    let mut a = (case.make)(ensemble.clone());
    let mut b = (case.make)(single.clone());
    a.advance(ensemble.steps).unwrap();
    b.advance(single.steps).unwrap();
    let (sa, sb) = (a.snapshot().unwrap(), b.snapshot().unwrap());
    for name in ["W1", "W2"] {
        let wa = weights(&ensemble, &sa, name, 3);
        let wb = weights(&single, &sb, name, 0);
        let diff = wa
            .iter()
            .zip(&wb)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        let scale = wb.iter().map(|x| x.abs()).fold(0.0, f64::max);
        assert!(
            diff <= 1e-12 * scale.max(1.0) || (case.name.contains("f32") && diff <= 1e-5 * scale),
            "{}: {name} differs by {diff}",
            case.name
        );
    }
}
per_backend!(instance_k_of_an_ensemble_equals_a_single_run_with_its_parameters);

#[test]
fn error_delay_shifts_the_error_by_the_delay() {
    // With instantaneous populations the output error of a delayed circuit at step n equals the
    // undelayed circuit's error at step n − Δ/dt, as long as the weights have not moved (τ_w huge).
    let make = |delay: &str| {
        format!(
            "name: d\ntime: {{dt: 1 ms, duration: 1 s}}\ntask: {{kind: linear_teacher, stimulus: {{duration: 20 ms, error_delay: {delay}}}, held_out: 1}}\npopulations:\n  x: {{role: input, size: 3}}\n  y: {{size: 2, tau: 0 ms}}\nprojections:\n  W: {{from: x, to: y, init: {{uniform: [-1, 1]}}}}\nlearning: {{rule: sgd, output: y, tau_w: 10000 min}}\n"
        )
    };
    let (p0, p5) = (
        plan_from(&make("0 ms"), &[2]),
        plan_from(&make("5 ms"), &[2]),
    );
    let (mut b0, mut b5) = (
        hetsim::backend::cpu::new(p0.clone(), hetsim::backend::Precision::F64),
        hetsim::backend::cpu::new(p5.clone(), hetsim::backend::Precision::F64),
    );
    let mut history = Vec::new();
    for _ in 0..40 {
        b0.advance(1).unwrap();
        b5.advance(1).unwrap();
        history.push(pop_values(&p0, &b0.snapshot().unwrap(), "e", 0));
        let delayed = pop_values(&p5, &b5.snapshot().unwrap(), "e", 0);
        if history.len() > 5 {
            let expected = &history[history.len() - 6];
            for (a, b) in delayed.iter().zip(expected) {
                assert!(
                    (a - b).abs() < 1e-6 * b.abs().max(1.0),
                    "delayed error {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn same_seed_gives_identical_state_and_frozen_instance_stays_finite() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/circuits/teacher_dfa.yaml"
    ))
    .unwrap();
    let yaml = text.replace("duration: 30 s", "duration: 0.3 s");
    let plan = plan_from(&yaml, &[5, 6]);
    let run = |freeze: bool| {
        let mut b = hetsim::backend::cpu::new(plan.clone(), hetsim::backend::Precision::F64);
        if freeze {
            b.freeze(0).unwrap();
        }
        b.advance(plan.steps).unwrap();
        b.snapshot().unwrap()
    };
    let (a, b) = (run(false), run(false));
    assert_eq!(a.weights, b.weights);
    let frozen = run(true);
    assert!(frozen.weights.iter().flatten().all(|w| w.is_finite()));
    assert_eq!(
        weights(&plan, &frozen, "W1", 1),
        weights(&plan, &a, "W1", 1),
        "freezing instance 0 must not touch instance 1"
    );
    assert!(weights(&plan, &frozen, "W1", 0).iter().all(|w| *w == 0.0));
}

#[test]
fn single_large_instance_path_matches_the_ensemble_path() {
    // 300×300 plastic inputs take the row-parallel, update-fused path when run alone (one
    // lane); inside an ensemble the same instance takes the interleaved path. Both must agree.
    let yaml = "name: large\ntime: {dt: 0.5 ms, duration: 0.2 s}\ntask: {kind: tanh_teacher, hidden: 20, stimulus: {duration: 20 ms}, held_out: 5}\npopulations:\n  x: {role: input, size: 300}\n  h: {size: 300, tau: 5 ms, activation: tanh}\n  y: {size: 4, tau: 5 ms}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.05, 0.05]}}\n  W2: {from: h, to: y, init: {uniform: [-0.05, 0.05]}}\nlearning: {rule: kp, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 0.2 s, tau_decay: 2 s}\n";
    let single = plan_from(yaml, &[9]);
    let ensemble = plan_from(yaml, &[8, 9]);
    let mut a = hetsim::backend::cpu::new(single.clone(), hetsim::backend::Precision::F64);
    let mut b = hetsim::backend::cpu::new(ensemble.clone(), hetsim::backend::Precision::F64);
    a.advance(single.steps).unwrap();
    b.advance(ensemble.steps).unwrap();
    let (sa, sb) = (a.snapshot().unwrap(), b.snapshot().unwrap());
    for name in ["W1", "W2", "B2"] {
        let (wa, wb) = (
            weights(&single, &sa, name, 0),
            weights(&ensemble, &sb, name, 1),
        );
        let moved = wa
            .iter()
            .zip(
                &single.initial_weights[single
                    .projections
                    .iter()
                    .position(|p| p.name == name)
                    .unwrap()],
            )
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(
            moved > 1e-4,
            "{name} must learn for the comparison to mean something"
        );
        let diff = wa
            .iter()
            .zip(&wb)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(
            diff < 1e-10,
            "{name}: single-instance and ensemble paths differ by {diff}"
        );
    }
}

#[test]
fn per_step_coefficients_keep_their_digits_for_very_long_time_constants() {
    // k = τ_d (1 − e^{−dt/τ_d}) / τ_w → dt/τ_w as τ_d → ∞; written as 1 − e^{−x} it lost its
    // digits (11% high at τ_d = 10¹² s); likewise the noise step's √(1 − e^{−2dt/τ}).
    let yaml = tiny(
        "0.1 ms",
        "exponential_euler",
        "  a: {size: 1, tau: 10 ms, bias: 1}\n",
    );
    let plan = plan_from(&yaml, &[1]);
    let dt = plan.dt_s;
    for tau_d in [1e3, 1e6, 1e9, 1e12, 1e15] {
        let k = plan.weight_rate(2.0, tau_d);
        let exact = tau_d * (dt / tau_d - (dt / tau_d).powi(2) / 2.0) / 2.0;
        assert!(
            (k / exact - 1.0).abs() < 1e-12,
            "τ_d = {tau_d}: {k} against {exact}"
        );
        let s = plan.noise_step(1.0, tau_d);
        let exact = (2.0 * dt / tau_d).sqrt() * (1.0 - dt / tau_d / 2.0);
        assert!(
            (s / exact - 1.0).abs() < 1e-9,
            "τ = {tau_d}: {s} against {exact}"
        );
    }
}

/// `snapshot_into` reuses a snapshot's buffers: written over one of another circuit (other
/// sizes, garbage values) it gives exactly what `snapshot` gives, on every backend, for an
/// ensemble whose instances span lanes and a deferred (held-input) matrix.
fn a_reused_snapshot_equals_a_fresh_one(case: &BackendCase) {
    let yaml = "name: reuse\ntime: {dt: 0.5 ms, duration: 100 ms}\ntask: {kind: tanh_teacher, hidden: 4, stimulus: {duration: 10 ms}, held_out: 3}\npopulations:\n  x: {role: input, size: 6}\n  h: {size: 5, tau: 3 ms, activation: tanh, trace: {of: rate, tau: 20 ms}}\n  y: {size: 2, tau: 2 ms}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}}\n  W2: {from: h, to: y, init: {uniform: [-0.3, 0.3]}}\nlearning: {rule: kp, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 200 ms, tau_decay: 1 s}\nrecord: {every: 10 ms, measure: [loss]}\n";
    let other = tiny("1 ms", "euler", "  h: {size: 3, tau: 10 ms, bias: 2}\n");
    let plan = plan_from(yaml, &[1, 2, 3]);
    let mut b = (case.make)(plan.clone());
    let mut reused = (case.make)(plan_from(&other, &[9])).snapshot().unwrap();
    for v in reused.weights.iter_mut().chain(&mut reused.u).flatten() {
        *v = f64::NAN;
    }
    for steps in [7, 13, 20] {
        b.advance(steps).unwrap();
        let fresh = b.snapshot().unwrap();
        b.snapshot_into(&mut reused).unwrap();
        assert_eq!(reused.step, fresh.step, "{}", case.name);
        for (what, r, f) in [
            ("weights", &reused.weights, &fresh.weights),
            ("u", &reused.u, &fresh.u),
            ("z", &reused.z, &fresh.z),
            ("traces", &reused.traces, &fresh.traces),
        ] {
            let bits = |v: &Vec<Vec<f64>>| -> Vec<Vec<u64>> {
                v.iter()
                    .map(|x| x.iter().map(|f| f.to_bits()).collect())
                    .collect()
            };
            assert_eq!(
                bits(r),
                bits(f),
                "{}: {what} after {steps} steps",
                case.name
            );
        }
    }
}
per_backend!(a_reused_snapshot_equals_a_fresh_one);
