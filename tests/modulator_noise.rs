//! Noise in the learning signal against its closed form, on every backend. An instantaneous
//! population's `noise: σ` is a white noise of intensity σ added to u; in a linear layer whose
//! error is that noise alone (τ_w dW = e xᵀ dt, e = σ ξ), every weight diffuses as
//! Var W_ij(T) = σ² ∫ x_j² dt / τ_w² = σ² s² T / τ_w² — the same at every dt. (Under the old
//! convention, a fresh draw of std σ each step, the variance was σ² s² T dt / τ_w²: 5.0e-4 at
//! dt = 1 ms and 1.25e-4 at 0.25 ms, measured 4.8e-4 and 1.3e-4.)

#[macro_use]
mod common;

use common::{BackendCase, plan_from, weights};

/// A layer W: x → y whose error population e receives nothing (zero projections) but its
/// noise, so the update is pure noise times the input.
fn clamped(dt_ms: f64, sigma: f64) -> String {
    format!(
        "name: clamped-error
time: {{dt: {dt_ms} ms, duration: {T} s, method: exponential_euler}}
task: {{kind: linear_teacher, input_std: {S}, stimulus: {{duration: 50 ms}}, held_out: 1}}
populations:
  x: {{role: input, size: 30}}
  y: {{size: 10, tau: 0 ms}}
  ystar: {{role: target, size: 10}}
  e: {{role: error, size: 10, tau: 0 ms, noise: {sigma}}}
projections:
  W: {{from: x, to: y, init: zeros}}
  to_e_target: {{from: ystar, to: e, init: zeros}}
  to_e_output: {{from: y, to: e, init: zeros, sign: -1}}
motifs:
  - {{plastic: W, modulator: e, rule: {{m_x: 1}}, tau_w: {TAU_W} s}}
record: {{every: 100 ms, measure: [loss]}}
",
        T = T_S,
        S = INPUT_STD,
        TAU_W = TAU_W_S,
    )
}

const T_S: f64 = 4.0;
const INPUT_STD: f64 = 0.5;
const TAU_W_S: f64 = 1.0;

fn modulator_noise_diffuses_the_weights_at_its_intensity_whatever_the_step(case: &BackendCase) {
    let sigma = 0.3;
    let predicted = sigma * sigma * INPUT_STD * INPUT_STD * T_S / (TAU_W_S * TAU_W_S);
    let seeds: Vec<u64> = (1..=16).collect();
    for dt_ms in [1.0, 0.25] {
        let plan = plan_from(&clamped(dt_ms, sigma), &seeds);
        let mut b = (case.make)(plan.clone());
        let steps = (T_S * 1e3 / dt_ms).round() as u64;
        b.advance(steps).unwrap_or_else(|e| panic!("{e}"));
        let snap = b.snapshot().unwrap_or_else(|e| panic!("{e}"));
        let w: Vec<f64> = (0..seeds.len())
            .flat_map(|e| weights(&plan, &snap, "W", e))
            .collect();
        let n = w.len() as f64;
        let mean = w.iter().sum::<f64>() / n;
        let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        eprintln!(
            "{} dt = {dt_ms} ms: Var W = {var:.4e}, predicted {predicted:.4e} ({} weights)",
            case.name,
            w.len()
        );
        // Sampling error: about 2% from 4800 weights, 1% from the inputs' power.
        assert!(
            (var / predicted - 1.0).abs() < 0.08,
            "{} dt = {dt_ms} ms: Var W = {var:.4e} against σ² s² T / τ_w² = {predicted:.4e}",
            case.name
        );
    }
}
per_backend!(modulator_noise_diffuses_the_weights_at_its_intensity_whatever_the_step);
