//! Every backend against the independent reference integrator (`tests/reference/`), one
//! `#[test]` per backend case and circuit, so that a failing backend never hides another: the
//! shipped circuits (200 ms each) and circuits written here for what they leave out — delays
//! and an error delay, population noise, weight noise, traces and every plasticity term, Euler
//! beside exponential Euler, activations and gains, and a mixed ensemble of instances with
//! different parameters.
//!
//! Weights, u, z and traces of every instance are compared halfway and at the end, and each
//! half's loss integral. Tolerances, relative (‖got − want‖/‖want‖, absolute where want is 0):
//! - f64 backends, 1e-9: the reference does the same arithmetic in another order (its dot
//!   products sum left to right, the engines in 16 or 8 partial sums; its update adds the terms
//!   one by one, the engines by slot), so they differ by rounding only: at most 9e-15 relative
//!   here (AMD EPYC, PoCL). A wrong convention shows far above it: starting rates at 0
//!   instead of φ(0) gave 1e-2, a tied matrix not transposed from the start 2e-4.
//! - f32 backends, 1e-3: f32 rounds each operation at 6e-8 relative and ≤ 3000 steps add it up
//!   (measured at most 8e-5, in `four_synapse_two_levels`); the OpenCL f32 normals come from
//!   f32 Box–Muller. 1e-3 leaves a factor of ten; it catches the first error above, not the
//!   second (2e-4), which the f64 cases of the same circuit catch.

#[macro_use]
mod common;
mod reference;

use common::{BackendCase, circuit_from, plan_from, rel_diff};
use hetsim::plan::{InstanceSpec, Plan};
use reference::Reference;
use std::path::Path;
use std::sync::Arc;

/// Relative tolerance of a case against the reference (see the module docs).
fn tolerance(case: &BackendCase) -> f64 {
    if case.f32 { 1e-3 } else { 1e-9 }
}

/// `got` against `want` within `tol`; a failure names the backend, circuit, quantity, instance
/// and the largest difference (with its element).
fn check(case: &BackendCase, circuit: &str, what: &str, e: usize, got: &[f64], want: &[f64]) {
    let tol = tolerance(case);
    let d = rel_diff(got, want);
    if d <= tol && d.is_finite() {
        return;
    }
    let (at, largest) = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .enumerate()
        .fold(
            (0, 0.0),
            |best, (k, v)| if v > best.1 { (k, v) } else { best },
        );
    panic!(
        "{}: circuit {circuit}: {what} of instance {e}: relative difference {d:.3e} > {tol:.0e}; largest difference {largest:.3e} at element {at} (got {}, reference {})",
        case.name, got[at], want[at]
    );
}

/// Runs the plan on the case's backend and on the reference, comparing the state halfway and
/// at the end and each half's loss.
fn conform(case: &BackendCase, circuit: &str, plan: Arc<Plan>) {
    let mut backend = (case.make)(plan.clone());
    let mut reference = Reference::new(plan.clone());
    let half = plan.steps / 2;
    for (at, steps) in [("halfway", half), ("at the end", plan.steps - half)] {
        backend.advance(steps).unwrap();
        reference.advance(steps);
        let snap = backend.snapshot().unwrap();
        let window = backend.take_window().unwrap();
        for e in 0..plan.n_instances() {
            for (q, proj) in plan.projections.iter().enumerate() {
                let n = proj.synapses();
                let got = &snap.weights[q][e * n..(e + 1) * n];
                let what = format!("weights {} {at}", proj.name);
                check(case, circuit, &what, e, got, reference.weights(q, e));
            }
            for (p, pop) in plan.populations.iter().enumerate() {
                let n = pop.size;
                let what = |v: &str| format!("{v} of {} {at}", pop.name);
                let u = &snap.u[p][e * n..(e + 1) * n];
                check(case, circuit, &what("u"), e, u, reference.u(p, e));
                let z = &snap.z[p][e * n..(e + 1) * n];
                check(case, circuit, &what("z"), e, z, reference.z(p, e));
                if pop.trace.is_some() {
                    let t = &snap.traces[p][e * n..(e + 1) * n];
                    check(case, circuit, &what("trace"), e, t, reference.trace(p, e));
                }
            }
            let loss = reference.take_loss(e);
            let what = format!("loss integral {at}");
            check(case, circuit, &what, e, &[window.loss_integral[e]], &[loss]);
        }
    }
}

/// A shipped circuit, shortened to 200 ms (windows of 100 ms), one instance (so the OpenCL row
/// layout runs it too).
fn shipped(file: &str) -> Arc<Plan> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("circuits").join(file);
    let (source, spec) = hetsim::spec::load_circuit(&path).unwrap_or_else(|d| panic!("{d}"));
    let sets = [("time.duration", "200 ms"), ("record.every", "100 ms")]
        .map(|(k, v)| (k.to_string(), v.to_string()));
    let spec = hetsim::spec::apply_overrides(&spec, &sets).unwrap();
    let circuit = hetsim::circuit::build(&source, &spec).unwrap_or_else(|d| panic!("{d}"));
    let instance = InstanceSpec {
        circuit,
        seed: 7,
        label: file.into(),
    };
    Arc::new(Plan::new(&[instance], &root.join("circuits")).unwrap_or_else(|e| panic!("{e}")))
}

macro_rules! shipped_circuits {
    ($($name:ident),* $(,)?) => {
        $(
            per_backend!($name, |case| {
                let file = concat!(stringify!($name), ".yaml");
                super::conform(case, file, super::shipped(file))
            });
        )*
    };
}

shipped_circuits!(
    bcm,
    digits_tanh,
    four_synapse,
    four_synapse_digits,
    four_synapse_tanh,
    four_synapse_two_levels,
    metaplasticity,
    oja,
    sparse_teacher,
    teacher_dfa,
    teacher_fa,
    teacher_fa_explicit,
    teacher_kp,
    teacher_sgd,
    teacher_tanh_sgd,
    teacher_tanh_two_levels_sgd,
);

/// Every plasticity term with a non-zero θ on one motif (with decay and a modulator), a trace
/// of z read by `qz_x`, sigmoid, softplus and tanh units, a gain partner and a bias.
fn all_terms(method: &str) -> String {
    format!(
        "name: all-terms
time: {{dt: 0.5 ms, duration: 150 ms, method: {method}}}
task: {{kind: tanh_teacher, hidden: 4, input_std: 0.8, stimulus: {{duration: 20 ms, gap: 5 ms}}, held_out: 2}}
populations:
  x: {{role: input, size: 6}}
  h: {{size: 5, tau: 4 ms, activation: softplus, bias: -0.2, trace: {{of: rate, tau: 30 ms, init: 0.3}}}}
  s: {{size: 5, tau: 0 ms, activation: sigmoid, gain_from: h}}
  y: {{size: 3, tau: 6 ms, activation: tanh}}
  ystar: {{role: target, size: 3}}
  e: {{role: error, size: 3, tau: 0 ms}}
projections:
  W1: {{from: x, to: h, init: {{uniform: [-0.4, 0.6]}}}}
  S: {{from: h, to: s, init: {{normal: [0, 0.5]}}}}
  W2: {{from: h, to: y, init: {{uniform: [-0.5, 0.5]}}}}
  to_e_target: {{from: ystar, to: e, init: identity}}
  to_e_output: {{from: y, to: e, init: identity, sign: -1}}
  B: {{from: e, to: s, init: {{uniform: [-0.5, 0.5]}}}}
motifs:
  - {{plastic: W1, modulator: s, rule: {{m_x: 0.7, z_x: 0.3, zz_w: -0.4, z: 0.05, x: -0.02, m: 0.03, one: 0.01, zz_x: 0.2, qz_x: -0.25, mz_x: 0.1}}, tau_w: 50 ms, tau_decay: 300 ms}}
  - {{plastic: W2, modulator: e, rule: {{m_x: 1}}, tau_w: 80 ms}}
record: {{every: 50 ms, measure: [loss]}}
"
    )
}

per_backend!(all_terms_exponential_euler, |case| {
    let plan = super::plan_from(&super::all_terms("exponential_euler"), &[1, 2]);
    super::conform(case, "all terms, exponential Euler", plan)
});
per_backend!(all_terms_euler, |case| {
    let plan = super::plan_from(&super::all_terms("euler"), &[1, 2]);
    super::conform(case, "all terms, Euler", plan)
});

/// Transmission delays from an input, a leaky and an instantaneous source, and an error delay.
const DELAYS: &str = "name: delays
time: {dt: 1 ms, duration: 200 ms, method: exponential_euler}
task: {kind: linear_teacher, teacher: {uniform: [-1, 1]}, stimulus: {duration: 15 ms, gap: 3 ms, error_delay: 4 ms}, held_out: 2}
populations:
  x: {role: input, size: 4}
  h: {size: 6, tau: 5 ms, activation: tanh}
  r: {size: 6, tau: 0 ms, activation: relu}
  y: {size: 2, tau: 3 ms}
  ystar: {role: target, size: 2}
  e: {role: error, size: 2, tau: 0 ms}
projections:
  W1: {from: x, to: h, init: {uniform: [-0.5, 0.5]}, delay: 3 ms}
  R: {from: h, to: r, init: {uniform: [-0.2, 0.8]}, delay: 2 ms}
  W2: {from: r, to: y, init: {uniform: [-0.3, 0.3]}, delay: 1 ms}
  to_e_target: {from: ystar, to: e, init: identity}
  to_e_output: {from: y, to: e, init: identity, sign: -1}
motifs:
  - {plastic: W2, modulator: e, rule: {m_x: 1}, tau_w: 100 ms}
  - {plastic: W1, rule: {z_x: 0.5, zz_w: -0.5}, tau_w: 200 ms}
record: {every: 50 ms, measure: [loss]}
";

per_backend!(delays, |case| {
    super::conform(case, "delays", super::plan_from(super::DELAYS, &[3, 4]))
});

/// Population noise on a leaky and an instantaneous population, and weight noise.
fn noisy(method: &str) -> String {
    format!(
        "name: noisy
time: {{dt: 0.5 ms, duration: 200 ms, method: {method}}}
task: {{kind: linear_teacher, teacher: {{uniform: [-1, 1]}}, stimulus: {{duration: 20 ms}}, held_out: 2}}
populations:
  x: {{role: input, size: 5}}
  h: {{size: 7, tau: 10 ms, activation: tanh, noise: 0.3}}
  y: {{size: 3, tau: 5 ms}}
  ystar: {{role: target, size: 3}}
  e: {{role: error, size: 3, tau: 0 ms, noise: 0.05}}
  dh: {{role: error, size: 7, tau: 0 ms, gain_from: h}}
projections:
  W1: {{from: x, to: h, init: {{uniform: [-0.3, 0.3]}}}}
  W2: {{from: h, to: y, init: {{uniform: [-0.3, 0.3]}}}}
  to_e_target: {{from: ystar, to: e, init: identity}}
  to_e_output: {{from: y, to: e, init: identity, sign: -1}}
  B2: {{from: e, to: dh, init: {{uniform: [-0.5, 0.5]}}}}
motifs:
  - {{plastic: W1, modulator: dh, rule: {{m_x: 1}}, tau_w: 100 ms, weight_noise: 0.02}}
  - {{plastic: W2, modulator: e, rule: {{m_x: 1}}, tau_w: 100 ms, tau_decay: 2 s, weight_noise: 0.01}}
  - {{plastic: B2, modulator: dh, rule: {{zz_w: -0.5}}, tau_w: 1 s, weight_noise: 0.05}}
record: {{every: 50 ms, measure: [loss]}}
"
    )
}

per_backend!(noise_exponential_euler, |case| {
    let plan = super::plan_from(&super::noisy("exponential_euler"), &[5, 6]);
    super::conform(case, "noise, exponential Euler", plan)
});
per_backend!(noise_euler, |case| {
    let plan = super::plan_from(&super::noisy("euler"), &[5, 6]);
    super::conform(case, "noise, Euler", plan)
});

/// Three instances of one topology with different τ's, biases, noise, delays, signs, rules,
/// τ_w, decay and tied feedback (sgd's transpose beside fixed feedback), in one ensemble.
fn mixed_instance(k: usize) -> InstanceSpec {
    let tau_h = [4, 7, 12][k];
    let bias = [0.0, 0.1, -0.2][k];
    let noise = [0.0, 0.2, 0.1][k];
    let delay = [0, 2, 5][k];
    let sign = ["1", "-1", "1"][k];
    let feedback = [
        "tied: W2",
        "init: {uniform: [-0.5, 0.5]}",
        "init: {uniform: [-0.5, 0.5]}",
    ][k];
    let rule = ["{m_x: 1}", "{m_x: 0.8, zz_w: -0.1}", "{m_x: 1.2, z: 0.01}"][k];
    let decay = ["", ", tau_decay: 1 s", ", tau_decay: 3 s"][k];
    let b_motif = if k == 2 {
        "  - {plastic: B2, modulator: h, rule: {m_x: 1}, tau_w: 200 ms, tau_decay: 1 s}\n"
    } else {
        ""
    };
    let yaml = format!(
        "name: mixed
time: {{dt: 0.5 ms, duration: 300 ms, method: exponential_euler}}
task: {{kind: linear_teacher, teacher: {{uniform: [-1, 1]}}, stimulus: {{duration: {} ms}}, held_out: 2}}
populations:
  x: {{role: input, size: 4}}
  h: {{size: 6, tau: {tau_h} ms, bias: {bias}, noise: {noise}}}
  y: {{size: 3, tau: 5 ms}}
  ystar: {{role: target, size: 3}}
  e: {{role: error, size: 3, tau: 0 ms}}
  dh: {{role: error, size: 6, tau: 0 ms, gain_from: h}}
projections:
  W1: {{from: x, to: h, init: {{uniform: [-0.3, 0.3]}}, delay: {delay} ms}}
  W2: {{from: h, to: y, init: {{uniform: [-0.3, 0.3]}}}}
  to_e_target: {{from: ystar, to: e, init: identity}}
  to_e_output: {{from: y, to: e, init: identity, sign: -1}}
  B2: {{from: e, to: dh, {feedback}, sign: {sign}}}
motifs:
  - {{plastic: W1, modulator: dh, rule: {rule}, tau_w: 150 ms{decay}}}
  - {{plastic: W2, modulator: e, rule: {{m_x: 1}}, tau_w: 150 ms{decay}}}
{b_motif}record: {{every: 50 ms, measure: [loss]}}
",
        [20, 30, 25][k]
    );
    InstanceSpec {
        circuit: circuit_from(&yaml),
        seed: 11 + k as u64,
        label: format!("mixed {k}"),
    }
}

per_backend!(mixed_ensemble, |case| {
    let instances: Vec<super::InstanceSpec> = (0..3).map(super::mixed_instance).collect();
    let plan =
        super::Plan::new(&instances, std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    super::conform(case, "mixed ensemble", std::sync::Arc::new(plan))
});

/// The reference refuses what it does not model, rather than guessing.
#[test]
fn the_reference_refuses_rk4() {
    let yaml = all_terms("rk4").replace("trace: {of: rate, tau: 30 ms, init: 0.3}", "");
    let yaml = yaml.replace("qz_x: -0.25, ", "");
    let plan = plan_from(&yaml, &[1]);
    let refused = std::panic::catch_unwind(|| Reference::new(plan.clone()));
    let message = refused
        .err()
        .and_then(|e| e.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        message.contains("reference: unsupported method rk4"),
        "{message}"
    );
}
