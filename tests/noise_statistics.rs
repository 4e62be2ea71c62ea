//! The noise normals' statistics on every backend and vector level: mean, variance, fourth
//! moment and independence (across synapses, steps, instances and streams) of the normals each
//! synapse and unit receives each step, and their scale in the noise conventions of
//! docs/circuits.md, with W3's numbers (`hetsim::workload`): σ_w = 0.3 and τ_w = 2 s at dt =
//! 0.1 ms give a per-step weight increment of std σ_w √dt / τ_w = 1.5e-3, and `noise: 0.05` on a
//! rate population with τ = 5 ms a stationary std of 0.05.
//!
//! The circuit's weights only diffuse: the error that modulates W's update receives nothing,
//! so ΔW per step is the weight noise alone; the rate population h receives nothing either, so
//! u_n − a u_{n−1} (a = e^{−dt/τ}) is its noise alone.

#[macro_use]
mod common;

use common::{BackendCase, plan_from, pop_values, weights};
use hetsim::backend::{Backend, Precision, cpu};
use hetsim::plan::Plan;
use hetsim::simd::{Level, Simd};
use hetsim::workload::Workload;
use std::sync::Arc;

const SIGMA_W: f64 = 0.3;
const TAU_W_S: f64 = 2.0;
const SIGMA_H: f64 = 0.05;
const TAU_H_S: f64 = 5e-3;
const DT_S: f64 = 1e-4;

fn diffusion(inputs: usize, outputs: usize) -> String {
    format!(
        "name: diffusion
time: {{dt: 0.1 ms, duration: 2 s, method: exponential_euler}}
task: {{kind: linear_teacher, stimulus: {{duration: 50 ms}}, held_out: 1}}
populations:
  x: {{role: input, size: {inputs}}}
  h: {{size: 20, tau: 5 ms, noise: {SIGMA_H}}}
  y: {{size: {outputs}, tau: 0 ms}}
  ystar: {{role: target, size: {outputs}}}
  e: {{role: error, size: {outputs}, tau: 0 ms}}
projections:
  W: {{from: x, to: y, init: zeros}}
  to_h: {{from: x, to: h, init: zeros}}
  to_e_target: {{from: ystar, to: e, init: zeros}}
  to_e_output: {{from: y, to: e, init: zeros, sign: -1}}
motifs:
  - {{plastic: W, modulator: e, rule: {{m_x: 1}}, tau_w: {TAU_W_S} s, weight_noise: {SIGMA_W}}}
record: {{every: 100 ms, measure: [loss]}}
"
    )
}

/// Normals by [step][instance][element].
type Draws = Vec<Vec<Vec<f64>>>;

/// The weight increments and h's noise increments of `steps` single steps, each divided by
/// the std the conventions predict (so both should be standard normals), and the increments'
/// own std in weight units.
fn increments(b: &mut dyn Backend, plan: &Plan, steps: usize) -> (Draws, Draws, f64) {
    let n = plan.n_instances();
    let a = (-DT_S / TAU_H_S).exp();
    let w_step = SIGMA_W * DT_S.sqrt() / TAU_W_S;
    let h_step = SIGMA_H * (1.0 - a * a).sqrt();
    let read = |b: &mut dyn Backend| {
        let s = b.snapshot().unwrap_or_else(|e| panic!("{e}"));
        let w: Vec<Vec<f64>> = (0..n).map(|e| weights(plan, &s, "W", e)).collect();
        let h: Vec<Vec<f64>> = (0..n).map(|e| pop_values(plan, &s, "h", e)).collect();
        (w, h)
    };
    let (mut w0, mut h0) = read(b);
    let (mut dw, mut dh) = (Vec::new(), Vec::new());
    let (mut sum2, mut count) = (0.0, 0.0);
    for _ in 0..steps {
        b.advance(1).unwrap_or_else(|e| panic!("{e}"));
        let (w1, h1) = read(b);
        let mut step_w = Vec::new();
        let mut step_h = Vec::new();
        for e in 0..n {
            let d: Vec<f64> = w1[e].iter().zip(&w0[e]).map(|(x, y)| x - y).collect();
            sum2 += d.iter().map(|v| v * v).sum::<f64>();
            count += d.len() as f64;
            step_w.push(d.iter().map(|v| v / w_step).collect());
            step_h.push(
                h1[e]
                    .iter()
                    .zip(&h0[e])
                    .map(|(x, y)| (x - a * y) / h_step)
                    .collect(),
            );
        }
        dw.push(step_w);
        dh.push(step_h);
        (w0, h0) = (w1, h1);
    }
    (dw, dh, (sum2 / count).sqrt())
}

/// Pearson correlation of paired samples.
fn correlation(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (ma, mb) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// Mean 0, variance 1, fourth moment 3 and no correlation between neighbours in element, step
/// and instance, each to within 4 standard errors.
fn standard_normal(name: &str, x: &Draws) {
    let all: Vec<f64> = x.iter().flatten().flatten().copied().collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let m4 = all.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n;
    eprintln!("{name}: {n} normals, mean {mean:.2e}, variance {var:.4}, fourth moment {m4:.3}");
    assert!(mean.abs() < 4.0 / n.sqrt(), "{name}: mean {mean}");
    assert!(
        (var - 1.0).abs() < 4.0 * (2.0 / n).sqrt(),
        "{name}: variance {var}"
    );
    assert!(
        (m4 - 3.0).abs() < 4.0 * (96.0 / n).sqrt(),
        "{name}: fourth moment {m4}"
    );
    let across = |what: &str, pairs: Vec<(f64, f64)>| {
        let r = correlation(&pairs);
        let se = 1.0 / (pairs.len() as f64).sqrt();
        eprintln!(
            "{name}: correlation across {what}: {r:.2e} ({} pairs)",
            pairs.len()
        );
        assert!(r.abs() < 4.0 * se, "{name}: correlation across {what}: {r}");
    };
    let (steps, instances, elements) = (x.len(), x[0].len(), x[0][0].len());
    let idx = |s: usize, e: usize, j: usize| x[s][e][j];
    let mut pairs = Vec::new();
    for s in 0..steps {
        for e in 0..instances {
            for j in 0..elements - 1 {
                pairs.push((idx(s, e, j), idx(s, e, j + 1)));
            }
        }
    }
    across("elements", pairs);
    let mut pairs = Vec::new();
    for s in 0..steps - 1 {
        for e in 0..instances {
            for j in 0..elements {
                pairs.push((idx(s, e, j), idx(s + 1, e, j)));
            }
        }
    }
    across("steps", pairs);
    if instances > 1 {
        let mut pairs = Vec::new();
        for s in 0..steps {
            for e in 0..instances - 1 {
                for j in 0..elements {
                    pairs.push((idx(s, e, j), idx(s, e + 1, j)));
                }
            }
        }
        across("instances", pairs);
    }
}

/// Weight and rate noise of one backend: an ensemble (20 instances: full and partial lane
/// blocks) and one larger instance (the single-instance and row layouts).
fn check(name: &str, make: &dyn Fn(Arc<Plan>) -> Box<dyn Backend>) {
    for (label, inputs, outputs, seeds, steps) in [
        ("ensemble", 30, 10, (1..=20).collect::<Vec<u64>>(), 100),
        ("one instance", 64, 50, vec![7], 100),
    ] {
        let plan = plan_from(&diffusion(inputs, outputs), &seeds);
        let mut b = make(plan.clone());
        let (dw, dh, w_std) = increments(b.as_mut(), &plan, steps);
        let name = format!("{name} {label}");
        eprintln!("{name}: weight increments' std {w_std:.4e} (W3: 1.5e-3)");
        assert!(
            (w_std / 1.5e-3 - 1.0).abs() < 0.01,
            "{name}: weight step std {w_std}"
        );
        standard_normal(&format!("{name} weight noise"), &dw);
        standard_normal(&format!("{name} rate noise"), &dh);
        // Weight and rate noise are different streams: uncorrelated.
        let pairs: Vec<(f64, f64)> = dw
            .iter()
            .zip(&dh)
            .flat_map(|(w, h)| w.iter().zip(h))
            .flat_map(|(w, h)| w.iter().zip(h).map(|(a, b)| (*a, *b)))
            .collect();
        let r = correlation(&pairs);
        assert!(
            r.abs() < 4.0 / (pairs.len() as f64).sqrt(),
            "{name}: weight and rate noise correlate: {r}"
        );
        // h's stationary std: after 10 τ, samples 5 τ apart.
        b.advance(500).unwrap_or_else(|e| panic!("{e}"));
        let mut u = Vec::new();
        for _ in 0..40 {
            b.advance(250).unwrap_or_else(|e| panic!("{e}"));
            let s = b.snapshot().unwrap_or_else(|e| panic!("{e}"));
            for e in 0..seeds.len() {
                u.extend(pop_values(&plan, &s, "h", e));
            }
        }
        let n = u.len() as f64;
        let std = (u.iter().map(|v| v * v).sum::<f64>() / n).sqrt();
        eprintln!("{name}: h's stationary std {std:.4} from {n} samples (W3: 0.05)");
        // Relative standard error of a std from n normals: 1/√(2n).
        assert!(
            (std / SIGMA_H - 1.0).abs() < 4.0 / (2.0 * n).sqrt(),
            "{name}: h's stationary std {std}"
        );
    }
}

fn noise_normals_are_independent_standard_normals(case: &BackendCase) {
    check(&case.name, &case.make);
}
per_backend!(noise_normals_are_independent_standard_normals);

/// The CPU backend on one vector level, both precisions (or why the level is skipped).
fn on_level(level: Level) {
    let Ok(simd) = Simd::new(level) else {
        eprintln!("skipped: {level} is not on this CPU");
        return;
    };
    for precision in [Precision::F64, Precision::F32] {
        let make = move |p: Arc<Plan>| cpu::with_simd(p, precision, simd);
        check(&format!("cpu {precision:?} {level}"), &make);
    }
}

#[test]
fn cpu_baseline_level() {
    on_level(Level::Baseline);
}

#[test]
fn cpu_avx2_level() {
    on_level(Level::Avx2);
}

#[test]
fn cpu_avx512_level() {
    on_level(Level::Avx512);
}

/// W3 is W1 plus the noise and decay of the workload's definition, in the spec's numbers:
/// per-step weight noise σ_w √dt / τ_w = 1.5e-3 and h's OU step 0.05 √(1 − e^{−2dt/τ_z}).
#[test]
fn w3_is_w1_with_decay_and_noise() {
    let (w1, w3) = (
        Workload::W1.plan(0.01).unwrap(),
        Workload::W3.plan(0.01).unwrap(),
    );
    assert_eq!(w1.synapses_per_instance(), w3.synapses_per_instance());
    assert_eq!(w1.steps, w3.steps);
    assert_eq!(w3.n_instances(), 64);
    assert_eq!(Workload::parse("w3"), Some(Workload::W3));
    let plastic: Vec<&str> = w3
        .motifs
        .iter()
        .map(|m| w3.projections[m.projection].name.as_str())
        .collect();
    assert_eq!(plastic, ["W1", "W2"]);
    for m in &w3.motifs {
        assert_eq!(m.tau_decay_s[0], 10.0);
        let step = w3.weight_noise_step(m.weight_noise[0], m.tau_w_s[0]);
        assert!(
            (step - 1.5e-3).abs() < 1e-15,
            "weight noise per step {step}"
        );
    }
    for p in &w3.populations {
        let sigma = if p.name == "h" { 0.05 } else { 0.0 };
        assert_eq!(p.noise[0], sigma, "noise on {}", p.name);
    }
    let h = w3.populations.iter().find(|p| p.name == "h").unwrap();
    let a = (-1e-4f64 / 5e-3).exp();
    let expected = 0.05 * (1.0 - a * a).sqrt();
    let step = w3.noise_step(0.05, h.tau_s[0]);
    assert!((step - expected).abs() < 1e-15 && (step - 9.9e-3).abs() < 1e-4);
}
