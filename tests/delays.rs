//! Transmission delays, error delays and frozen instances against their exact definitions, on
//! every backend (issue 10, class 7): a projection with a d-step delay delivers exactly the rate
//! its source had d steps earlier, whether the source is an input, an instantaneous or a leaky
//! rate population; the task's error delay reaches the error equally from the output and the
//! target; and a frozen instance stays at zero even with noise.

#[macro_use]
mod common;

use common::{BackendCase, plan_from, pop_values};
use hetsim::backend::{Backend, Snapshot};

// The backend calls go through these helpers: a device error fails the test with its message.
fn advance(b: &mut dyn Backend, steps: u64) {
    b.advance(steps).unwrap_or_else(|e| panic!("{e}"));
}
fn snapshot(b: &mut dyn Backend) -> Snapshot {
    b.snapshot().unwrap_or_else(|e| panic!("{e}"))
}
fn freeze(b: &mut dyn Backend, instance: usize) {
    b.freeze(instance).unwrap_or_else(|e| panic!("{e}"));
}

/// Three kinds of source (the input `x`, an instantaneous `i`, a leaky `h`), each read by two
/// instantaneous linear read-outs: `a<src>` without delay and `b<src>` with `delay` (`ah` is
/// not used: the leaky source's own state is the reference).
fn delay_circuit(delay_steps: usize, method: &str) -> String {
    let mut pops = String::from(
        "  x: {role: input, size: 1}\n  i: {size: 1, tau: 0 ms}\n  h: {size: 1, tau: 5 ms}\n",
    );
    let mut projs = String::from(
        "  Wi: {from: x, to: i, init: {constant: 1}}\n  Wh: {from: x, to: h, init: {constant: 1}}\n",
    );
    for src in ["x", "i", "h"] {
        pops.push_str(&format!(
            "  a{src}: {{size: 1, tau: 0 ms}}\n  b{src}: {{size: 1, tau: 0 ms}}\n"
        ));
        projs.push_str(&format!(
            "  A{src}: {{from: {src}, to: a{src}, init: {{constant: 1}}}}\n  D{src}: {{from: {src}, to: b{src}, init: {{constant: 1}}, delay: {delay_steps} ms}}\n"
        ));
    }
    format!(
        "name: delays\ntime: {{dt: 1 ms, duration: 1 s, method: {method}}}\ntask: {{kind: linear_teacher, stimulus: {{duration: 3 ms}}, held_out: 1}}\npopulations:\n{pops}projections:\n{projs}record: {{every: 10 ms, measure: [loss]}}\n"
    )
}

fn a_d_step_delay_lags_exactly_d_steps_for_every_kind_of_source(case: &BackendCase) {
    for method in ["exponential_euler", "euler", "rk4"] {
        if method == "rk4" && case.name.starts_with("opencl") {
            continue; // RK4 is CPU-only
        }
        for d in [1usize, 3] {
            let yaml = delay_circuit(d, method);
            let plan = plan_from(&yaml, &[7]);
            let mut b = (case.make)(plan.clone());
            let mut undelayed: Vec<[f64; 3]> = Vec::new();
            let mut moved = [false; 3];
            for n in 0..30 {
                // The leaky source's rate during step n is its state at the start of the
                // step (linear activation: z = u); read-outs of it after the step are at
                // the end of the step under RK4.
                let h_now = pop_values(&plan, &snapshot(b.as_mut()), "h", 0)[0];
                advance(b.as_mut(), 1);
                let snap = snapshot(b.as_mut());
                let read = |name: &str| pop_values(&plan, &snap, name, 0)[0];
                let now = [read("ax"), read("ai"), h_now];
                let delayed = [read("bx"), read("bi"), read("bh")];
                undelayed.push(now);
                for (k, src) in ["input x", "instantaneous i", "leaky h"].iter().enumerate() {
                    let expected = if n >= d { undelayed[n - d][k] } else { 0.0 };
                    let tolerance = case.tolerance * expected.abs().max(1.0) + 1e-12;
                    assert!(
                        (delayed[k] - expected).abs() <= tolerance,
                        "{} ({method}), delay {d}, source {src}, step {n}: delayed {} but {d} steps earlier it was {expected}",
                        case.name,
                        delayed[k]
                    );
                    if n > 0 && (undelayed[n][k] - undelayed[n - 1][k]).abs() > 1e-6 {
                        moved[k] = true;
                    }
                }
            }
            // The check means something only if every source changes over time.
            assert_eq!(moved, [true; 3], "{}: a source never changed", case.name);
        }
    }
}

per_backend!(a_d_step_delay_lags_exactly_d_steps_for_every_kind_of_source);

fn error_delay_reaches_the_error_equally_from_a_leaky_output_and_the_target(case: &BackendCase) {
    // With weights that do not move (τ_w huge), the output error of a circuit with an error
    // delay of Δ = 4 steps at step n is the undelayed circuit's error at step n − 4: output and
    // target are delayed alike, even though the output is a leaky population.
    let make = |delay: &str| {
        format!(
            "name: d\ntime: {{dt: 1 ms, duration: 1 s}}\ntask: {{kind: linear_teacher, stimulus: {{duration: 7 ms, error_delay: {delay}}}, held_out: 1}}\npopulations:\n  x: {{role: input, size: 3}}\n  y: {{size: 2, tau: 5 ms}}\nprojections:\n  W: {{from: x, to: y, init: {{uniform: [-1, 1]}}}}\nlearning: {{rule: sgd, output: y, tau_w: 10000 min}}\n"
        )
    };
    let (p0, p4) = (
        plan_from(&make("0 ms"), &[2]),
        plan_from(&make("4 ms"), &[2]),
    );
    let (mut b0, mut b4) = ((case.make)(p0.clone()), (case.make)(p4.clone()));
    let mut history = Vec::new();
    for n in 0..40 {
        advance(b0.as_mut(), 1);
        advance(b4.as_mut(), 1);
        history.push(pop_values(&p0, &snapshot(b0.as_mut()), "e", 0));
        let delayed = pop_values(&p4, &snapshot(b4.as_mut()), "e", 0);
        if n >= 4 {
            for (a, b) in delayed.iter().zip(&history[n - 4]) {
                assert!(
                    (a - b).abs() <= (case.tolerance + 1e-6) * b.abs().max(1.0),
                    "{}: step {n}: delayed error {a}, undelayed error 4 steps earlier {b}",
                    case.name
                );
            }
        }
    }
}
per_backend!(error_delay_reaches_the_error_equally_from_a_leaky_output_and_the_target);

fn a_frozen_instance_receives_no_noise(case: &BackendCase) {
    let yaml = "name: noisy\ntime: {dt: 1 ms, duration: 1 s}\ntask: {kind: linear_teacher, stimulus: {duration: 5 ms}, held_out: 1}\npopulations:\n  x: {role: input, size: 2}\n  h: {size: 3, tau: 5 ms, noise: 0.5}\n  y: {size: 1, tau: 5 ms, noise: 0.5}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-1, 1]}}\n  W2: {from: h, to: y, init: {uniform: [-1, 1]}}\nmotifs:\n  - {plastic: W1, rule: {z_x: 1}, tau_w: 1 s, weight_noise: 0.3}\nrecord: {every: 10 ms, measure: [loss]}\n";
    let plan = plan_from(yaml, &[3, 4]);
    let mut b = (case.make)(plan.clone());
    freeze(b.as_mut(), 0);
    advance(b.as_mut(), 50);
    let snap = snapshot(b.as_mut());
    for pop in ["h", "y"] {
        let frozen = pop_values(&plan, &snap, pop, 0);
        assert!(
            frozen.iter().all(|u| *u == 0.0),
            "{}: frozen instance's `{pop}` moved: {frozen:?}",
            case.name
        );
        let live = pop_values(&plan, &snap, pop, 1);
        assert!(
            live.iter().any(|u| *u != 0.0),
            "{}: the live instance should move",
            case.name
        );
    }
    assert!(
        common::weights(&plan, &snap, "W1", 0)
            .iter()
            .all(|w| *w == 0.0),
        "{}: frozen weights moved",
        case.name
    );
}
per_backend!(a_frozen_instance_receives_no_noise);
