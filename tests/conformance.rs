//! One test body per behaviour, run on every backend `common::backends()` finds: the CPU in
//! f64 and f32, and OpenCL (both layouts, f32 and, where the device has doubles, f64).
//!
//! Closed forms where there are any (a leaky unit, the Kolen–Pollack decay of `W − Bᵀ`);
//! elsewhere the f64 CPU engine is the reference. An f64 backend must match it to 1e-9; an f32
//! one to the tolerance stated in each test (rounding only: both draw the same numbers). Where
//! the engine stands in as the reference, it is first checked against the independent reference
//! integrator (`tests/reference/`), which `tests/reference_conformance.rs` compares with every
//! backend directly.

mod common;
mod reference;

use common::{BackendCase, backends, plan_from, pop_values, rel_diff, weights};
use hetsim::backend::{Backend, Precision, Window};
use hetsim::plan::{InstanceSpec, Plan};
use std::path::Path;
use std::sync::Arc;

/// The f64 CPU engine on the same plan.
fn reference(plan: &Arc<Plan>) -> Box<dyn Backend> {
    hetsim::backend::cpu::new(plan.clone(), Precision::F64)
}

/// The f64 CPU engine's state after the whole run, checked first against the independent
/// reference integrator (weights and rates of every instance, 1e-9: rounding only).
fn anchored_reference(plan: &Arc<Plan>) -> hetsim::backend::Snapshot {
    let mut r = reference(plan);
    r.advance(plan.steps).unwrap();
    let snap = r.snapshot().unwrap();
    let mut independent = reference::Reference::new(plan.clone());
    independent.advance(plan.steps);
    for e in 0..plan.n_instances() {
        for (q, proj) in plan.projections.iter().enumerate() {
            let n = proj.synapses();
            let d = rel_diff(
                &snap.weights[q][e * n..(e + 1) * n],
                independent.weights(q, e),
            );
            assert!(
                d <= 1e-9,
                "the f64 CPU engine against the independent reference: {} of instance {e}: relative difference {d:.3e}",
                proj.name
            );
        }
        for (p, pop) in plan.populations.iter().enumerate() {
            let n = pop.size;
            let d = rel_diff(&snap.z[p][e * n..(e + 1) * n], independent.z(p, e));
            assert!(
                d <= 1e-9,
                "the f64 CPU engine against the independent reference: z of {} of instance {e}: relative difference {d:.3e}",
                pop.name
            );
        }
    }
    snap
}

/// The tolerance of a comparison with the f64 reference: `f32_tol` for f32 backends.
fn tol(case: &BackendCase, f32_tol: f64) -> f64 {
    if case.f32 { f32_tol } else { 1e-9 }
}

fn assert_close(case: &BackendCase, what: &str, got: &[f64], want: &[f64], tol: f64) {
    let d = rel_diff(got, want);
    assert!(
        d <= tol,
        "{}: {what}: relative difference {d:.3e} > {tol:.1e}",
        case.name
    );
}

/// (a) u(t) = I + (u0 − I) e^{−t/τ} for a leaky unit with constant input (bias 2, u0 = 0).
#[test]
fn leaky_unit_relaxes_exponentially() {
    let yaml = "name: leak\ntime: {dt: 0.1 ms, duration: 100 ms}\ntask: {kind: linear_teacher, teacher: {uniform: [-1, 1]}, stimulus: {duration: 50 ms}, held_out: 1}\npopulations:\n  x: {role: input, size: 1}\n  ystar: {role: target, size: 1}\n  u: {size: 1, tau: 10 ms, bias: 2}\nrecord: {every: 10 ms, measure: [loss]}\n";
    let plan = plan_from(yaml, &[1]);
    for case in backends() {
        let mut b = (case.make)(plan.clone());
        for k in 1..=10u64 {
            b.advance(100).unwrap();
            let u = pop_values(&plan, &b.snapshot().unwrap(), "u", 0)[0];
            let t = (k * 100) as f64 * plan.dt_s;
            let want = 2.0 + (0.0 - 2.0) * (-t / 0.010).exp();
            assert!(
                ((u - want) / want).abs() < case.tolerance,
                "{}: u({t}) = {u}, closed form {want}",
                case.name
            );
        }
    }
}

/// (b) W1's FA teacher, 5 instances, 1 s: weights and held-out loss as the f64 CPU engine's.
#[test]
fn fa_teacher_matches_reference() {
    let yaml = hetsim::workload::Workload::W1.circuit_yaml(1.0);
    let plan = plan_from(&yaml, &[1, 2, 3, 4, 5]);
    let want = anchored_reference(&plan);
    for case in backends() {
        let mut b = (case.make)(plan.clone());
        b.advance(plan.steps).unwrap();
        let got = b.snapshot().unwrap();
        for e in 0..5 {
            for name in ["W1", "W2"] {
                assert_close(
                    &case,
                    &format!("{name} of instance {e}"),
                    &weights(&plan, &got, name, e),
                    &weights(&plan, &want, name, e),
                    tol(&case, 1e-4),
                );
            }
            let (lg, _) = hetsim::record::metrics::held_out(
                &plan,
                &got.weights,
                e,
                hetsim::simd::Simd::auto(),
            );
            let (lw, _) = hetsim::record::metrics::held_out(
                &plan,
                &want.weights,
                e,
                hetsim::simd::Simd::auto(),
            );
            let (lg, lw) = (lg.unwrap_or(f64::NAN), lw.unwrap_or(f64::NAN));
            assert!(
                ((lg - lw) / lw).abs() <= tol(&case, 1e-4),
                "{}: held-out loss of instance {e}: {lg} vs {lw}",
                case.name
            );
        }
    }
}

/// (c) With population and weight noise, every backend draws the same numbers.
#[test]
fn noise_is_the_same_on_every_backend() {
    // KP makes the feedback matrix plastic (and noisy); h = 37 units takes whole vectors and
    // a tail in the row layout, and stores the tall feedback matrix transposed.
    for rule in ["fa", "kp"] {
        let yaml = &"name: noisy\ntime: {dt: 0.1 ms, duration: 200 ms}\ntask: {kind: linear_teacher, teacher: {uniform: [-1, 1]}, stimulus: {duration: 20 ms}, held_out: 10}\npopulations:\n  x: {role: input, size: 6}\n  h: {size: 37, tau: 5 ms, activation: tanh, noise: 0.1}\n  y: {size: 3, tau: 5 ms, noise: 0.05}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}}\n  W2: {from: h, to: y, init: {uniform: [-0.3, 0.3]}}\nlearning: {rule: fa, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 200 ms, tau_decay: 2 s, weight_noise: 0.05}\nrecord: {every: 50 ms, measure: [loss]}\n".replace("rule: fa", &format!("rule: {rule}"));
        for seeds in [&[7u64][..], &[7, 8, 9]] {
            let plan = plan_from(yaml, seeds);
            let mut quiet = hetsim::backend::cpu::new(
                plan_from(
                    &yaml
                        .replace("noise: 0.1", "noise: 0")
                        .replace("weight_noise: 0.05", "weight_noise: 0"),
                    seeds,
                ),
                Precision::F64,
            );
            quiet.advance(plan.steps).unwrap();
            let want = anchored_reference(&plan);
            // The noise must matter, or this test would prove nothing.
            assert!(rel_diff(&quiet.snapshot().unwrap().weights[0], &want.weights[0]) > 1e-3);
            for case in backends() {
                let mut b = (case.make)(plan.clone());
                b.advance(plan.steps).unwrap();
                let got = b.snapshot().unwrap();
                for e in 0..seeds.len() {
                    assert_close(
                        &case,
                        &format!("h of instance {e}"),
                        &pop_values(&plan, &got, "h", e),
                        &pop_values(&plan, &want, "h", e),
                        tol(&case, 1e-4),
                    );
                    for name in ["W1", "W2"] {
                        assert_close(
                            &case,
                            &format!("{name} of instance {e}"),
                            &weights(&plan, &got, name, e),
                            &weights(&plan, &want, name, e),
                            tol(&case, 1e-4),
                        );
                    }
                }
            }
        }
    }
}

/// (d) Kolen–Pollack: W and Bᵀ get the same update, so ‖W − Bᵀ‖ decays as exp(−t/τ_decay).
#[test]
fn kolen_pollack_difference_decays() {
    let yaml = "name: kp\ntime: {dt: 0.5 ms, duration: 500 ms}\ntask: {kind: tanh_teacher, hidden: 8, stimulus: {duration: 20 ms}, held_out: 10}\npopulations:\n  x: {role: input, size: 12}\n  h: {size: 40, tau: 5 ms, activation: tanh}\n  y: {size: 4, tau: 5 ms}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}}\n  W2: {from: h, to: y, init: {uniform: [-0.3, 0.3]}}\nlearning: {rule: kp, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 200 ms, tau_decay: 250 ms}\nrecord: {every: 50 ms, measure: [loss]}\n";
    let tau_decay = 0.25;
    for seeds in [&[3u64][..], &[3, 4]] {
        let plan = plan_from(yaml, seeds);
        let diff = |snap: &hetsim::backend::Snapshot, e: usize| {
            let w = weights(&plan, snap, "W2", e);
            let b = weights(&plan, snap, "B2", e);
            let (rows, cols) = (4, 40);
            let mut s = 0.0;
            for i in 0..rows {
                for j in 0..cols {
                    let d = w[i * cols + j] - b[j * rows + i];
                    s += d * d;
                }
            }
            s.sqrt()
        };
        for case in backends() {
            let mut b = (case.make)(plan.clone());
            let start = b.snapshot().unwrap();
            let mut learned = false;
            for k in 1..=5u64 {
                b.advance(200).unwrap();
                let snap = b.snapshot().unwrap();
                let t = (k * 200) as f64 * plan.dt_s;
                for e in 0..seeds.len() {
                    let ratio = diff(&snap, e) / diff(&start, e);
                    let want = (-t / tau_decay).exp();
                    assert!(
                        ((ratio - want) / want).abs() < tol(&case, 1e-4),
                        "{}: ‖W − Bᵀ‖ ratio {ratio} at t = {t}, exp(−t/τ) = {want}",
                        case.name
                    );
                    learned |= rel_diff(
                        &weights(&plan, &snap, "W2", e),
                        &weights(&plan, &start, "W2", e),
                    ) > 1e-2;
                }
            }
            assert!(learned, "{}: W2 did not learn", case.name);
        }
    }
}

/// Runs both for `windows` windows of `every` steps and compares every window.
fn compare_windows(plan: &Arc<Plan>, windows: usize, f32_tol: f64) {
    let every = plan.record_every_steps;
    let mut r = reference(plan);
    let want: Vec<Window> = (0..windows)
        .map(|_| {
            r.advance(every).unwrap();
            r.take_window().unwrap()
        })
        .collect();
    for case in backends() {
        let mut b = (case.make)(plan.clone());
        for (k, w) in want.iter().enumerate() {
            b.advance(every).unwrap();
            let got = b.take_window().unwrap();
            let t = tol(&case, f32_tol);
            assert_eq!(got.steps, w.steps, "{}: window steps", case.name);
            assert_close(
                &case,
                &format!("loss of window {k}"),
                &got.loss_integral,
                &w.loss_integral,
                t,
            );
            assert_eq!(got.present_s.len(), w.present_s.len());
            for (a, c) in got.present_s.iter().zip(&w.present_s) {
                assert!(
                    (a - c).abs() < 1e-9,
                    "{}: presented time {a} vs {c}",
                    case.name
                );
            }
            for (q, (pg, pw)) in got.projections.iter().zip(&w.projections).enumerate() {
                let name = &plan.projections[q].name;
                for (what, a, c) in [
                    ("dw_rule", &pg.dw_rule, &pw.dw_rule),
                    ("backprop", &pg.backprop, &pw.backprop),
                    ("u_x", &pg.u_x, &pw.u_x),
                ] {
                    assert_eq!(
                        a.len(),
                        c.len(),
                        "{}: {what} of {name} has another size",
                        case.name
                    );
                    if !c.is_empty() {
                        assert_close(&case, &format!("{what} of {name}, window {k}"), a, c, t);
                    }
                }
            }
            assert_eq!(
                got.traces.len(),
                w.traces.len(),
                "{}: trace points",
                case.name
            );
            for (a, c) in got.traces.iter().zip(&w.traces) {
                assert_eq!(a.signal, c.signal);
                assert!((a.time_s - c.time_s).abs() < 1e-12);
                assert!(
                    (a.value - c.value).abs() <= t.max(1e-12) * (1.0 + c.value.abs()) * 10.0,
                    "{}: trace {} at {}: {} vs {}",
                    case.name,
                    a.signal,
                    a.time_s,
                    a.value,
                    c.value
                );
            }
        }
    }
}

/// (e) The window accumulators (ΔW of the rule, the backprop reference, the Hebbian terms),
/// loss and traces, with a transmission delay, an error delay, a gap, decay and Euler steps.
#[test]
fn window_accumulators_match_reference() {
    for rule in ["fa", "kp"] {
        let yaml = &"name: acc\ntime: {dt: 0.2 ms, duration: 200 ms, method: euler}\ntask: {kind: gaussian_mixture, classes: 3, separation: 3, stimulus: {duration: 10 ms, gap: 4 ms, error_delay: 2 ms}, held_out: 10}\npopulations:\n  x: {role: input, size: 5}\n  h: {size: 37, tau: 4 ms, activation: softplus}\n  y: {size: 3, tau: 3 ms, activation: sigmoid}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.5, 0.5]}, delay: 1 ms}\n  W2: {from: h, to: y, init: {uniform: [-0.5, 0.5]}}\nlearning: {rule: fa, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 300 ms, tau_decay: 2 s}\nrecord: {every: 50 ms, traces: 30 ms, measure: [loss, gradient_alignment, hebbian_signature]}\n".replace("rule: fa", &format!("rule: {rule}"));
        for seeds in [&[11u64][..], &[11, 12, 13]] {
            let plan = plan_from(yaml, seeds);
            compare_windows(&plan, 4, 1e-4);
        }
    }
}

/// Per-instance error delays, a tied feedback matrix (SGD), relu and a gap.
#[test]
fn tied_feedback_and_per_instance_delays() {
    let yaml = |delay: &str, hidden: usize| {
        format!(
            "name: sgd\ntime: {{dt: 0.1 ms, duration: 150 ms}}\ntask: {{kind: linear_teacher, teacher: {{uniform: [-1, 1]}}, stimulus: {{duration: 15 ms, gap: 5 ms, error_delay: {delay}}}, held_out: 10}}\npopulations:\n  x: {{role: input, size: 6}}\n  h: {{size: {hidden}, tau: 3 ms, activation: relu, bias: 0.1}}\n  y: {{size: 3, tau: 2 ms}}\nprojections:\n  W1: {{from: x, to: h, init: {{uniform: [-0.5, 0.5]}}}}\n  W2: {{from: h, to: y, init: {{uniform: [-0.5, 0.5]}}}}\nlearning: {{rule: sgd, output: y, tau_w: 100 ms}}\nrecord: {{every: 50 ms, measure: [loss, gradient_alignment]}}\n"
        )
    };
    let instances: Vec<InstanceSpec> = ["0 ms", "1 ms", "2.5 ms"]
        .iter()
        .enumerate()
        .map(|(k, d)| InstanceSpec {
            circuit: common::circuit_from(&yaml(d, 5)),
            seed: 21 + k as u64,
            label: format!("delay {d}"),
        })
        .collect();
    let plan = Arc::new(Plan::new(&instances, Path::new(".")).unwrap_or_else(|e| panic!("{e}")));
    compare_windows(&plan, 3, 1e-4);
    // One instance with a tall tied matrix (stored transposed in the row layout).
    let single = plan_from(&yaml("1.5 ms", 37), &[5]);
    compare_windows(&single, 3, 1e-4);
}

/// All seven θ terms at once (an "evolved" rule), with decay, on explicit elements.
#[test]
fn every_theta_term() {
    let yaml = "name: evolved\ntime: {dt: 0.1 ms, duration: 100 ms}\ntask: {kind: linear_teacher, teacher: {uniform: [-1, 1]}, stimulus: {duration: 10 ms}, held_out: 5}\npopulations:\n  x: {role: input, size: 4}\n  y: {size: 3, tau: 2 ms, activation: tanh}\n  ystar: {role: target, size: 3}\n  e: {role: error, size: 3}\nprojections:\n  W: {from: x, to: y, init: {uniform: [-0.3, 0.3]}}\n  to_e_target: {from: ystar, to: e, init: identity}\n  to_e_output: {from: y, to: e, init: identity, sign: -1}\nmotifs:\n  - {plastic: W, modulator: e, rule: {m_x: 0.5, z_x: 0.1, zz_w: -0.2, z: 0.01, x: 0.02, m: 0.03, one: 0.001}, tau_w: 100 ms, tau_decay: 1 s}\nrecord: {every: 25 ms, measure: [loss, gradient_alignment, hebbian_signature]}\n";
    for seeds in [&[2u64][..], &[2, 3]] {
        let plan = plan_from(yaml, seeds);
        compare_windows(&plan, 4, 1e-4);
        let mut r = reference(&plan);
        r.advance(plan.steps).unwrap();
        let want = r.snapshot().unwrap();
        for case in backends() {
            let mut b = (case.make)(plan.clone());
            b.advance(plan.steps).unwrap();
            let got = b.snapshot().unwrap();
            for e in 0..seeds.len() {
                assert_close(
                    &case,
                    "W",
                    &weights(&plan, &got, "W", e),
                    &weights(&plan, &want, "W", e),
                    tol(&case, 1e-4),
                );
            }
        }
    }
}

/// A frozen instance is zeroed and stops learning; the others run on unaffected.
#[test]
fn freeze_stops_one_instance() {
    let yaml = hetsim::workload::Workload::W1.circuit_yaml(0.1);
    let plan = plan_from(&yaml, &[1, 2, 3]);
    let mut r = reference(&plan);
    r.advance(300).unwrap();
    r.freeze(1).unwrap();
    r.advance(300).unwrap();
    let want = r.snapshot().unwrap();
    for case in backends() {
        let mut b = (case.make)(plan.clone());
        b.advance(300).unwrap();
        b.freeze(1).unwrap();
        b.advance(300).unwrap();
        let got = b.snapshot().unwrap();
        for e in 0..3 {
            for name in ["W1", "W2"] {
                let g = weights(&plan, &got, name, e);
                if e == 1 {
                    assert!(
                        g.iter().all(|w| *w == 0.0),
                        "{}: frozen {name} is not zero",
                        case.name
                    );
                }
                assert_close(
                    &case,
                    &format!("{name} of instance {e}"),
                    &g,
                    &weights(&plan, &want, name, e),
                    tol(&case, 1e-4),
                );
            }
            assert_close(
                &case,
                "h",
                &pop_values(&plan, &got, "h", e),
                &pop_values(&plan, &want, "h", e),
                tol(&case, 1e-4),
            );
        }
    }
}

/// An explicit circuit whose every per-instance parameter is a template slot.
#[allow(clippy::too_many_arguments)]
fn param_circuit(
    stimulus: &str,
    gap: &str,
    error_delay: &str,
    tau_h: &str,
    noise_h: f64,
    delay_w2: &str,
    theta_w2: (f64, f64),
    tau_w: &str,
    tau_decay: &str,
    weight_noise: f64,
    zz_w1: f64,
) -> String {
    format!(
        "name: params
time: {{dt: 0.1 ms, duration: 60 ms}}
task: {{kind: linear_teacher, teacher: {{uniform: [-1, 1]}}, input_std: 0.5, stimulus: {{duration: {stimulus}, gap: {gap}, error_delay: {error_delay}}}, held_out: 4}}
populations:
  x: {{role: input, size: 4}}
  h: {{size: 5, tau: {tau_h}, noise: {noise_h}}}
  y: {{size: 3, tau: 5 ms}}
  ystar: {{role: target, size: 3}}
  e: {{role: error, size: 3, tau: 0 ms}}
  dh: {{role: error, size: 5, tau: 0 ms, gain_from: h}}
projections:
  W1: {{from: x, to: h, init: {{uniform: [-0.2, 0.2]}}}}
  W2: {{from: h, to: y, init: {{uniform: [-0.2, 0.2]}}, delay: {delay_w2}}}
  to_e_target: {{from: ystar, to: e, init: identity}}
  to_e_output: {{from: y, to: e, init: identity, sign: -1}}
  B2: {{from: e, to: dh, init: {{uniform: [-0.5, 0.5]}}, stands_for: W2}}
motifs:
  - {{plastic: W2, modulator: e, rule: {{m_x: {mx}, z_x: {zx}}}, tau_w: {tau_w}, tau_decay: {tau_decay}, weight_noise: {weight_noise}}}
  - {{plastic: W1, modulator: dh, rule: {{m_x: 1, zz_w: {zz_w1}}}, tau_w: 1 s}}
record: {{every: 10 ms, measure: [loss]}}
",
        mx = theta_w2.0,
        zx = theta_w2.1,
    )
}

/// Runs `instances` as one ensemble and each alone on every backend: instance k of the
/// ensemble must equal the single run of its own circuit and seed, in every weight and
/// potential (1e-12 in f64; f32 rounding elsewhere).
fn assert_ensemble_equals_single_runs(instances: &[InstanceSpec]) {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plan = Arc::new(Plan::new(instances, base).unwrap());
    for case in backends() {
        let mut ensemble = (case.make)(plan.clone());
        ensemble.advance(plan.steps).unwrap();
        let together = ensemble.snapshot().unwrap();
        let tolerance = if case.f32 { 1e-4 } else { 1e-12 };
        for (k, inst) in instances.iter().enumerate() {
            let alone_plan = Arc::new(Plan::new(std::slice::from_ref(inst), base).unwrap());
            let mut alone = (case.make)(alone_plan.clone());
            alone.advance(alone_plan.steps).unwrap();
            let single = alone.snapshot().unwrap();
            for p in &alone_plan.projections {
                assert_close(
                    &case,
                    &format!("{} of instance {k} ({})", p.name, inst.label),
                    &weights(&plan, &together, &p.name, k),
                    &weights(&alone_plan, &single, &p.name, 0),
                    tolerance,
                );
            }
            for p in &alone_plan.populations {
                assert_close(
                    &case,
                    &format!("u of {} in instance {k} ({})", p.name, inst.label),
                    &pop_values(&plan, &together, &p.name, k),
                    &pop_values(&alone_plan, &single, &p.name, 0),
                    tolerance,
                );
            }
        }
    }
}

/// θ, τ_w, τ_decay, weight noise, population τ and noise, delays and stimulus timing all
/// differ across the instances of one ensemble.
#[test]
fn every_per_instance_parameter_is_honoured() {
    let texts = [
        param_circuit(
            "5 ms",
            "0 ms",
            "0 ms",
            "5 ms",
            0.0,
            "0 ms",
            (1.0, 0.0),
            "1 s",
            "100 s",
            0.0,
            0.0,
        ),
        param_circuit(
            "7 ms",
            "2 ms",
            "1 ms",
            "3 ms",
            0.05,
            "0.3 ms",
            (0.5, 0.2),
            "0.5 s",
            "2 s",
            0.01,
            -0.1,
        ),
        param_circuit(
            "4 ms",
            "1 ms",
            "0.5 ms",
            "8 ms",
            0.1,
            "1 ms",
            (-1.0, 0.5),
            "2 s",
            "10 s",
            0.02,
            0.3,
        ),
    ];
    let instances: Vec<InstanceSpec> = texts
        .iter()
        .enumerate()
        .map(|(k, text)| InstanceSpec {
            circuit: common::circuit_from(text),
            seed: 11 + k as u64,
            label: format!("variant{k}"),
        })
        .collect();
    assert_ensemble_equals_single_runs(&instances);
}

/// sgd, fa, dfa, kp, hebbian and oja in one ensemble: each instance equals its single run.
#[test]
fn a_mixed_rule_ensemble_equals_its_single_runs() {
    use hetsim::spec::RuleName;
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("circuits/teacher_fa.yaml"),
    )
    .unwrap()
    .replace("duration: 30 s", "duration: 80 ms")
    .replace("every: 100 ms", "every: 20 ms");
    let source = hetsim::spec::SourceFile::from_text(Path::new("mixed.yaml"), text);
    let spec = hetsim::spec::parse_circuit(&source).unwrap();
    let rules = [
        RuleName::Sgd,
        RuleName::Fa,
        RuleName::Dfa,
        RuleName::Kp,
        RuleName::Hebbian,
        RuleName::Oja,
    ];
    let instances: Vec<InstanceSpec> = rules
        .iter()
        .enumerate()
        .map(|(k, &rule)| {
            let (spec, _) = hetsim::experiment::design::with_rule(&spec, rule).unwrap();
            InstanceSpec {
                circuit: hetsim::circuit::build(&source, &spec).unwrap(),
                seed: 3 + (k as u64 % 2),
                label: rule.name().into(),
            }
        })
        .collect();
    assert_ensemble_equals_single_runs(&instances);
}

/// An ensemble whose instances would integrate differently alone — rules whose updates defer
/// while the input is held (sgd, fa, kp, hebbian) interleaved with rules whose updates read W
/// (oja) — runs as parts (`backend::by_deferral_groups`), and then instance k is bit for bit
/// its single run wherever the single run takes the same layout (every case but OpenCL's row
/// layout, which a single instance takes alone and which rounds differently by design).
#[test]
fn a_split_ensemble_equals_its_single_runs_bit_for_bit() {
    use hetsim::spec::RuleName;
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(base.join("circuits/teacher_fa.yaml"))
        .unwrap()
        .replace("duration: 30 s", "duration: 200 ms")
        .replace("every: 100 ms", "every: 20 ms");
    let rules = [
        RuleName::Sgd,
        RuleName::Oja,
        RuleName::Fa,
        RuleName::Oja,
        RuleName::Kp,
        RuleName::Hebbian,
    ];
    let (plan, instances) = common::plan_with_rules(&text, &rules, 5);
    let groups = plan.deferral_groups();
    assert_eq!(
        groups,
        vec![vec![0, 2, 4, 5], vec![1, 3]],
        "oja's updates read W and do not defer; the others' do"
    );
    for case in backends() {
        let exact = !case.name.contains("rows");
        let mut split = hetsim::backend::by_deferral_groups(plan.clone(), |p| Ok((case.make)(p)))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        split.advance(plan.steps).unwrap();
        let together = split.snapshot().unwrap();
        let window = split.take_window().unwrap();
        let mut unsplit = (case.make)(plan.clone());
        unsplit.advance(plan.steps).unwrap();
        let mixed = unsplit.snapshot().unwrap();
        let mut any_differs_unsplit = false;
        for (k, inst) in instances.iter().enumerate() {
            let alone_plan = Arc::new(Plan::new(std::slice::from_ref(inst), base).unwrap());
            let mut alone = (case.make)(alone_plan.clone());
            alone.advance(alone_plan.steps).unwrap();
            let single = alone.snapshot().unwrap();
            let single_window = alone.take_window().unwrap();
            let what =
                |name: &str| format!("{}: {name} of instance {k} ({})", case.name, inst.label);
            let same = |label: String, a: &[f64], b: &[f64]| {
                if exact {
                    assert!(
                        a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{label}: not bit for bit"
                    );
                } else {
                    let d = rel_diff(a, b);
                    assert!(d < 1e-4, "{label}: differs by {d}");
                }
            };
            for p in &alone_plan.projections {
                let w = weights(&plan, &together, &p.name, k);
                same(
                    what(&p.name),
                    &w,
                    &weights(&alone_plan, &single, &p.name, 0),
                );
                any_differs_unsplit |= weights(&plan, &mixed, &p.name, k) != w;
            }
            for p in &alone_plan.populations {
                same(
                    what(&format!("u of {}", p.name)),
                    &pop_values(&plan, &together, &p.name, k),
                    &pop_values(&alone_plan, &single, &p.name, 0),
                );
            }
            // (oja alone has no output pathway, hence no loss.)
            if alone_plan.output.is_some() {
                same(
                    what("the window's loss"),
                    &window.loss_integral[k..=k],
                    &single_window.loss_integral,
                );
            }
        }
        if case.name == "cpu f64" {
            assert!(
                any_differs_unsplit,
                "the control: integrated as one ensemble, some deferrable instance must differ from its single run, or this test shows nothing"
            );
        }
    }
}
