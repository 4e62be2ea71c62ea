//! Every plasticity term, on every backend, against a direct evaluation of its declaration
//! (`hetsim::rule::TERMS`); the order of motifs in a file does not matter; slow traces and the
//! BCM rule that reads one, against closed forms.
//!
//! One step of a rule changes W by k · Σ_k θ_k term_k(x_j, z_i, m_i, W_ij) (no decay, no
//! noise; k = dt/τ_w), with every quantity read from the state before the step. The circuit
//! has a tall matrix with short rows (stored transposed by OpenCL's single-instance layout) and
//! a wide one (stored by rows), so every generated update is exercised. Inputs are exact data
//! and activations relu and linear, so f64 backends agree to rounding.

#[macro_use]
mod common;

use common::{BackendCase, plan_from, weights};
use hetsim::backend::Snapshot;
use hetsim::plan::Plan;
use hetsim::rule::{KEYS, Local, N_TERMS, Term, Theta};

/// The 8×8 digits (exact inputs: a device regenerating normal draws may differ from the host
/// in the last bit) x(64) → h(37) through W (plastic, modulated by g, stored by rows); h → o(3)
/// fixed; o → p(37) through U (plastic, modulated by gp; tall with short rows, so OpenCL's
/// single-instance layout stores it transposed). The modulators are rate populations driven
/// through fixed matrices, linked to the post populations so that they reach them.
fn circuit(rule: &str, order_swapped: bool) -> String {
    let w = format!("  - {{plastic: W, modulator: g, rule: {rule}, tau_w: 10 ms}}\n");
    let u = format!("  - {{plastic: U, modulator: gp, rule: {rule}, tau_w: 20 ms}}\n");
    let motifs = if order_swapped { u + &w } else { w + &u };
    format!(
        "name: terms
time: {{dt: 0.1 ms, duration: 10 ms}}
task: {{kind: digits, stimulus: {{duration: 20 ms}}, held_out: 10}}
populations:
  x: {{role: input, size: 64}}
  ystar: {{role: target, size: 10}}
  h: {{size: 37, tau: 2 ms, activation: relu, bias: 0.3, trace: {{of: rate_squared, tau: 3 ms, init: 0.5}}}}
  g: {{size: 37, tau: 1 ms, bias: -0.2}}
  o: {{size: 3, tau: 2 ms}}
  p: {{size: 37, tau: 2 ms, bias: 0.1, trace: {{of: rate, tau: 1 ms, init: -0.2}}}}
  gp: {{size: 37, tau: 1 ms, bias: 0.1}}
projections:
  V: {{from: x, to: g, init: {{uniform: [-0.2, 0.2]}}}}
  G: {{from: g, to: h, init: {{uniform: [-0.3, 0.3]}}}}
  W: {{from: x, to: h, init: {{uniform: [-0.2, 0.2]}}}}
  Q: {{from: h, to: o, init: {{uniform: [-0.5, 0.5]}}}}
  U: {{from: o, to: p, init: {{uniform: [-0.5, 0.5]}}}}
  Vp: {{from: o, to: gp, init: {{uniform: [-0.5, 0.5]}}}}
  Gp: {{from: gp, to: p, init: {{uniform: [-0.3, 0.3]}}}}
motifs:
{motifs}record: {{every: 1 ms, measure: [loss]}}
"
    )
}

/// The rule as a flow mapping, and its θ.
fn rule(coefficients: &[(usize, f64)]) -> (String, Theta) {
    let mut theta = [0.0; N_TERMS];
    let parts: Vec<String> = coefficients
        .iter()
        .map(|(k, c)| {
            theta[*k] = *c;
            format!("{}: {c}", KEYS[*k])
        })
        .collect();
    (format!("{{{}}}", parts.join(", ")), theta)
}

fn rates(plan: &Plan, snap: &Snapshot, name: &str) -> Vec<f64> {
    let p = plan
        .populations
        .iter()
        .position(|p| p.name == name)
        .expect("population");
    snap.z[p].clone()
}

fn trace(plan: &Plan, snap: &Snapshot, name: &str) -> Vec<f64> {
    let p = plan
        .populations
        .iter()
        .position(|p| p.name == name)
        .expect("population");
    snap.traces[p].clone()
}

/// k · Σ θ term for every synapse of `proj` (post `post`, pre `pre`, modulator `modulator`).
fn expected_change(
    plan: &Plan,
    snap: &Snapshot,
    theta: &Theta,
    (proj, pre, post, modulator): (&str, &str, &str, &str),
    tau_w_s: f64,
) -> Vec<f64> {
    let (x, z, m) = (
        rates(plan, snap, pre),
        rates(plan, snap, post),
        rates(plan, snap, modulator),
    );
    let q = trace(plan, snap, post);
    let w = weights(plan, snap, proj, 0);
    let k = plan.weight_rate(tau_w_s, f64::INFINITY);
    let mut out = Vec::with_capacity(w.len());
    for i in 0..z.len() {
        for j in 0..x.len() {
            let s = Local {
                x: x[j],
                z: z[i],
                m: m[i],
                w: w[i * x.len() + j],
                q: q[i],
            };
            out.push(k * hetsim::rule::drive(theta, &s));
        }
    }
    out
}

fn check_rule(case: &BackendCase, rule_text: &str, theta: &Theta) {
    let plan = plan_from(&circuit(rule_text, false), &[7]);
    let motifs = [("W", "x", "h", "g", 0.010), ("U", "o", "p", "gp", 0.020)];
    let mut b = (case.make)(plan.clone());
    // Into the first stimulus, so that x is the same before and during the step.
    b.advance(20).unwrap();
    let before = b.snapshot().unwrap();
    b.advance(1).unwrap();
    let after = b.snapshot().unwrap();
    for (proj, pre, post, modulator, tau_w) in motifs {
        let want = expected_change(&plan, &before, theta, (proj, pre, post, modulator), tau_w);
        let (w0, w1) = (
            weights(&plan, &before, proj, 0),
            weights(&plan, &after, proj, 0),
        );
        let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(scale > 0.0, "{rule_text}: the rule does not change {proj}");
        let tol = if case.f32 { 2e-3 } else { 1e-9 } * scale;
        for (n, ((a, b), d)) in w0.iter().zip(&w1).zip(&want).enumerate() {
            assert!(
                ((b - a) - d).abs() <= tol,
                "{}: {rule_text}: {proj}[{n}] changed by {} where the declaration gives {d}",
                case.name,
                b - a
            );
        }
    }
}

fn every_term_changes_weights_as_its_declaration_says(case: &BackendCase) {
    for t in Term::ALL {
        let (text, theta) = rule(&[(t.index(), 1.0)]);
        check_rule(case, &text, &theta);
    }
}
per_backend!(every_term_changes_weights_as_its_declaration_says);

fn all_terms_together_sum_as_declared(case: &BackendCase) {
    let coefficients: Vec<(usize, f64)> =
        (0..N_TERMS).map(|k| (k, 0.3 - 0.17 * k as f64)).collect();
    let (text, theta) = rule(&coefficients);
    check_rule(case, &text, &theta);
}
per_backend!(all_terms_together_sum_as_declared);

fn motif_order_in_the_file_does_not_matter(case: &BackendCase) {
    let (text, _) = rule(&[
        (Term::MX.index(), 1.0),
        (Term::ZX.index(), 0.2),
        (Term::ZZW.index(), -0.5),
    ]);
    let a = plan_from(&circuit(&text, false), &[3]);
    let b = plan_from(&circuit(&text, true), &[3]);
    let mut ra = (case.make)(a.clone());
    let mut rb = (case.make)(b.clone());
    ra.advance(200).unwrap();
    rb.advance(200).unwrap();
    let (sa, sb) = (ra.snapshot().unwrap(), rb.snapshot().unwrap());
    for name in ["W", "U"] {
        let (wa, wb) = (weights(&a, &sa, name, 0), weights(&b, &sb, name, 0));
        assert!(
            wa.iter().zip(&wb).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{}: {name} depends on the order of the motifs",
            case.name
        );
    }
}
per_backend!(motif_order_in_the_file_does_not_matter);

/// A population held at a constant rate s (instantaneous, bias only): its trace follows
/// q(t) = s + (q(0) − s) e^{−t/τ}, exactly at every step under exponential Euler; of the squared
/// rate, the same with s².
fn a_trace_of_a_constant_rate_approaches_it_exponentially(case: &BackendCase) {
    let yaml = "name: trace
time: {dt: 0.1 ms, duration: 100 ms}
task: {kind: linear_teacher, teacher: {uniform: [-1, 1]}, stimulus: {duration: 50 ms}, held_out: 1}
populations:
  x: {role: input, size: 1}
  ystar: {role: target, size: 1}
  c: {size: 2, tau: 0 ms, bias: 0.7, trace: {of: rate, tau: 10 ms}}
  d: {size: 3, tau: 0 ms, bias: -0.6, trace: {of: rate_squared, tau: 4 ms, init: 1.5}}
record: {every: 10 ms, measure: [loss]}
";
    let plan = plan_from(yaml, &[1, 2]);
    let index = |name: &str| {
        plan.populations
            .iter()
            .position(|p| p.name == name)
            .unwrap()
    };
    let mut b = (case.make)(plan.clone());
    for k in 1..=10u64 {
        b.advance(50).unwrap();
        let snap = b.snapshot().unwrap();
        let t = (k * 50) as f64 * plan.dt_s;
        for (name, s, q0, tau) in [("c", 0.7, 0.0, 0.010), ("d", 0.36, 1.5, 0.004)] {
            let want = s + (q0 - s) * (-t / tau).exp();
            for q in &snap.traces[index(name)] {
                assert!(
                    (q - want).abs() < case.tolerance * want.abs().max(1e-3),
                    "{}: trace of {name} at {t} s is {q}, closed form {want}",
                    case.name
                );
            }
        }
    }
}
per_backend!(a_trace_of_a_constant_rate_approaches_it_exponentially);

/// BCM (`learning: {rule: bcm}`: τ_w dW/dt = z (z − q) x with q the trace of z²) on one linear
/// unit with constant input: the fixed point with z > 0 has q = z² and z = q, so the rate
/// settles at 1 and the threshold with it, whatever the input and the starting weights; below
/// the threshold the synapse is depressed, above it potentiated.
fn bcm_threshold_slides_to_the_rate_and_the_rate_to_one(case: &BackendCase) {
    let yaml = "name: bcm
time: {dt: 0.1 ms, duration: 3 s}
task: {kind: linear_teacher, teacher: {uniform: [-1, 1]}, stimulus: {duration: 50 ms}, held_out: 1}
populations:
  x: {role: input, size: 1}
  ystar: {role: target, size: 1}
  c: {size: 4, tau: 0 ms, bias: 0.5}
  y: {size: 1, tau: 0 ms}
projections:
  W: {from: c, to: y, init: {constant: 0.1}}
learning: {rule: bcm, tau_w: 100 ms, tau_trace: 20 ms, plastic: [W]}
record: {every: 100 ms, measure: [loss]}
";
    let plan = plan_from(yaml, &[1]);
    let y = plan.populations.iter().position(|p| p.name == "y").unwrap();
    let mut b = (case.make)(plan.clone());
    // Early on the threshold lags the rising rate (q < z² < z while z < 1): potentiation.
    b.advance(1000).unwrap();
    let early = b.snapshot().unwrap();
    let (z, q) = (early.z[y][0], early.traces[y][0]);
    assert!(
        z > 0.2 && q < z,
        "{}: after 0.1 s z = {z}, q = {q}",
        case.name
    );
    b.advance(plan.steps - 1000).unwrap();
    let end = b.snapshot().unwrap();
    let (z, q) = (end.z[y][0], end.traces[y][0]);
    assert!(
        (z - 1.0).abs() < 1e-3 && (q - 1.0).abs() < 2e-3,
        "{}: BCM settles at z = {z}, q = {q}; the fixed point is z = q = 1",
        case.name
    );
}
per_backend!(bcm_threshold_slides_to_the_rate_and_the_rate_to_one);
