//! The complete state of an ensemble as one value (`Backend::save_state`/`restore_state`): a
//! backend run N steps, saved to a checkpoint file, read back and restored into a fresh backend
//! of the same plan, then run M more steps, must show every snapshot and every window exactly
//! (bit for bit) as the backend that ran N + M steps without stopping — on every backend, in
//! both precisions, saved in the middle of a recording window and of a stimulus, with deferred
//! held-input updates, delays, noise, slow traces, RK4, a frozen instance, a protocol that
//! switches the task, scales the input and clamps the target (saved before and after a phase
//! boundary) and an ensemble split by deferral groups.

mod common;

use common::{BackendCase, backends, plan_from};
use hetsim::backend::{Backend, Snapshot, Window};
use hetsim::plan::Plan;
use hetsim::record::checkpoint;
use std::sync::Arc;

/// Kolen–Pollack with decay, gaps, an error delay, hidden noise and a rate-squared trace:
/// held-input deferral with accumulators in an ensemble of three.
fn kp_ensemble() -> String {
    "name: img\ntime: {dt: 0.5 ms, duration: 100 ms, method: euler}\ntask: {kind: tanh_teacher, hidden: 5, stimulus: {duration: 10 ms, gap: 4 ms, error_delay: 2 ms}, held_out: 6}\npopulations:\n  x: {role: input, size: 7}\n  h: {size: 11, tau: 3 ms, activation: tanh, noise: 0.05, trace: {of: rate_squared, tau: 20 ms, init: 0.1}}\n  y: {size: 3, tau: 2 ms}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}}\n  W2: {from: h, to: y, init: {uniform: [-0.3, 0.3]}}\nlearning: {rule: kp, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 50 ms, tau_decay: 200 ms}\nrecord: {every: 25 ms, traces: 20 ms, measure: [loss, gradient_alignment, loss_alignment, hebbian_signature, learning_strength, weight_alignment]}\n".into()
}

/// One instance with a large input matrix (fused updates on the CPU, the row layout on
/// OpenCL), a transmission delay, classification and weight noise.
fn fa_single_large() -> String {
    "name: img\ntime: {dt: 0.5 ms, duration: 60 ms}\ntask: {kind: gaussian_mixture, classes: 3, separation: 3, stimulus: {duration: 10 ms, gap: 2 ms, error_delay: 1 ms}, held_out: 4}\npopulations:\n  x: {role: input, size: 300}\n  h: {size: 240, tau: 4 ms, activation: softplus}\n  y: {size: 3, tau: 3 ms, activation: sigmoid}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.05, 0.05]}}\n  W2: {from: h, to: y, init: {uniform: [-0.1, 0.1]}, delay: 1 ms}\nlearning: {rule: fa, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 300 ms, tau_decay: 2 s}\nrecord: {every: 20 ms, traces: 30 ms, measure: [loss, gradient_alignment, hebbian_signature]}\n".into()
}

/// RK4 with population noise, two instances (`weight: true`: exponential Euler with weight
/// noise instead, which RK4 does not integrate).
fn sgd_noise(weight: bool) -> String {
    let s = sgd_rk4();
    if weight {
        s.replace("method: rk4", "method: exponential_euler")
            .replace("tau_w: 100 ms", "tau_w: 100 ms, weight_noise: 0.02")
    } else {
        s
    }
}

fn sgd_rk4() -> String {
    "name: img\ntime: {dt: 0.2 ms, duration: 40 ms, method: rk4}\ntask: {kind: linear_teacher, teacher: {uniform: [-1, 1]}, stimulus: {duration: 5 ms}, held_out: 4}\npopulations:\n  x: {role: input, size: 4}\n  h: {size: 6, tau: 3 ms, activation: tanh, noise: 0.1}\n  y: {size: 2, tau: 2 ms, noise: 0.05}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.5, 0.5]}}\n  W2: {from: h, to: y, init: {uniform: [-0.5, 0.5]}}\nlearning: {rule: sgd, output: y, tau_w: 100 ms}\nrecord: {every: 10 ms, measure: [loss, gradient_alignment]}\n".into()
}

fn same_numbers(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{what}[{k}]: {g:e} after restoring, {w:e} without stopping"
        );
    }
}

fn same_snapshots(what: &str, got: &Snapshot, want: &Snapshot) {
    assert_eq!(got.step, want.step, "{what}: step");
    for (name, g, w) in [
        ("weights", &got.weights, &want.weights),
        ("u", &got.u, &want.u),
        ("z", &got.z, &want.z),
        ("traces", &got.traces, &want.traces),
    ] {
        assert_eq!(g.len(), w.len());
        for (k, (g, w)) in g.iter().zip(w).enumerate() {
            same_numbers(&format!("{what}: {name} {k}"), g, w);
        }
    }
}

fn same_windows(what: &str, got: &Window, want: &Window) {
    assert_eq!(got.steps, want.steps, "{what}: steps");
    same_numbers(
        &format!("{what}: loss"),
        &got.loss_integral,
        &want.loss_integral,
    );
    same_numbers(&format!("{what}: present"), &got.present_s, &want.present_s);
    same_numbers(&format!("{what}: correct"), &got.correct_s, &want.correct_s);
    for (q, (g, w)) in got.projections.iter().zip(&want.projections).enumerate() {
        same_numbers(&format!("{what}: ΔW_rule {q}"), &g.dw_rule, &w.dw_rule);
        same_numbers(&format!("{what}: ∫δxᵀ {q}"), &g.backprop, &w.backprop);
        same_numbers(&format!("{what}: ∫uxᵀ {q}"), &g.u_x, &w.u_x);
    }
    assert_eq!(got.traces, want.traces, "{what}: trace points");
}

/// Runs `plan` on `case` in stretches (a window taken at each recording interval), once
/// without stopping and once saved at `save_at` (inside a window), written to a checkpoint
/// file, read back and restored into a fresh backend; every later snapshot and window must be
/// the same bits. `freeze` freezes an instance before the save.
fn restores_exactly(
    case: &BackendCase,
    plan: Arc<Plan>,
    save_at: u64,
    freeze: Option<(u64, usize)>,
) {
    let every = plan.record_every_steps;
    assert!(!save_at.is_multiple_of(every), "save inside a window");
    // Stops: every window end, the save point, the freeze point, the end.
    let mut stops: Vec<u64> = (1..=plan.steps / every).map(|k| k * every).collect();
    stops.push(save_at);
    stops.push(plan.steps);
    if let Some((at, _)) = freeze {
        stops.push(at);
    }
    stops.sort();
    stops.dedup();
    let go =
        |b: &mut dyn Backend, from: u64, to: u64, log: &mut Vec<(Snapshot, Option<Window>)>| {
            let mut at = from;
            for &s in stops.iter().filter(|s| **s > from && **s <= to) {
                // As the run loop does: the phase of the step a stretch starts at.
                b.enter_phase(plan.phase_at(at)).unwrap();
                b.advance(s - at).unwrap();
                at = s;
                if let Some((f, e)) = freeze
                    && f == s
                {
                    b.freeze(e).unwrap();
                }
                let window =
                    (s.is_multiple_of(every) || s == plan.steps).then(|| b.take_window().unwrap());
                log.push((b.snapshot().unwrap(), window));
            }
        };
    let name = &case.name;
    let mut whole = (case.make)(plan.clone());
    let mut want = Vec::new();
    go(whole.as_mut(), 0, plan.steps, &mut want);

    let mut first = (case.make)(plan.clone());
    let mut got = Vec::new();
    go(first.as_mut(), 0, save_at, &mut got);
    let image = first.save_state().unwrap();
    assert_eq!(image.step, save_at);
    drop(first);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let identity = checkpoint::Identity::from([("test".into(), name.clone())]);
    checkpoint::write(&path, &image, &identity, serde_json::Value::Null).unwrap();
    let back = checkpoint::read(&path).unwrap();
    assert_eq!(back.image, image);
    let mut second = (case.make)(plan.clone());
    second.restore_state(&back.image).unwrap();
    assert_eq!(second.step(), save_at);
    go(second.as_mut(), save_at, plan.steps, &mut got);

    assert_eq!(got.len(), want.len());
    for (k, ((gs, gw), (ws, ww))) in got.iter().zip(&want).enumerate() {
        let what = format!("{name}, stop {k} (step {})", ws.step);
        same_snapshots(&what, gs, ws);
        assert_eq!(gw.is_some(), ww.is_some());
        if let (Some(g), Some(w)) = (gw, ww) {
            same_windows(&what, g, w);
        }
    }
    // The run must have moved: a state that never changes would restore trivially.
    let (first_snap, last_snap) = (&want[0].0, &want[want.len() - 1].0);
    assert_ne!(
        first_snap.weights, last_snap.weights,
        "{name}: weights never moved"
    );
}

/// `kp_ensemble` as a protocol of three phases (boundaries at 50 ms = step 100 and 75 ms = step
/// 150, both inside a stimulus): the second switches the teacher, halves the input, stops W1's
/// plasticity, doubles W2's τ_w and raises the hidden noise; the third clamps the target.
fn kp_protocol() -> String {
    format!(
        "{}protocol:\n  - {{name: A, duration: 50 ms}}\n  - {{name: B, duration: 25 ms, task: {{seed: 1}}, input_scale: 0.5, plasticity: {{W1: off, W2: {{tau_w_scale: 2}}}}, noise: {{h: 0.2}}}}\n  - {{name: C, clamp: {{ystar: 0.3}}}}\n",
        kp_ensemble()
    )
}

/// `kp_ensemble` with each instance under its own rule: kp and fa defer their held-input
/// updates and oja does not, so the backend is split into two parts (`by_deferral_groups`).
fn split_plan() -> Arc<Plan> {
    use hetsim::spec::RuleName;
    let rules = [RuleName::Kp, RuleName::Oja, RuleName::Fa];
    let (plan, _) = common::plan_with_rules(&kp_ensemble(), &rules, 11);
    assert_eq!(plan.deferral_groups().len(), 2, "a split plan");
    plan
}

/// Every circuit on one backend case, or the reason it is absent.
fn on_case(name: &str) {
    let Some(case) = backends().into_iter().find(|c| c.name == name) else {
        eprintln!("{name}: no such backend here (no OpenCL device, or no fp64); skipped");
        return;
    };
    // Saved 7 steps into the third window (inside a stimulus), one instance frozen before.
    restores_exactly(
        &case,
        plan_from(&kp_ensemble(), &[1, 2, 3]),
        107,
        Some((60, 1)),
    );
    restores_exactly(&case, plan_from(&fa_single_large(), &[5]), 53, None);
    // Masks: a masked input layer deferred (its masked norms are state) in an ensemble, and
    // one instance (the CPU's sparse layout for W2).
    let masked = kp_ensemble()
        .replace(
            "W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}}",
            "W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}, connectivity: {probability: 0.3}}",
        )
        .replace(
            "W2: {from: h, to: y, init: {uniform: [-0.3, 0.3]}}",
            "W2: {from: h, to: y, init: {uniform: [-0.3, 0.3]}, connectivity: {in_degree: 6}}",
        );
    assert!(masked.contains("probability") && masked.contains("in_degree"));
    restores_exactly(&case, plan_from(&masked, &[1, 2, 3]), 107, Some((60, 1)));
    restores_exactly(&case, plan_from(&masked, &[5]), 107, None);
    // OpenCL does not run RK4.
    if name.starts_with("cpu") {
        restores_exactly(&case, plan_from(&sgd_noise(false), &[3, 4]), 77, None);
    }
    restores_exactly(&case, plan_from(&sgd_noise(true), &[3, 4]), 77, None);
    // Protocols: saved in the first phase (the restored backend crosses both boundaries) and
    // in the second (it goes on in that phase, with the stimulus it held); an ensemble, and one
    // instance (OpenCL's row layout).
    let protocol = plan_from(&kp_protocol(), &[1, 2, 3]);
    assert_eq!(protocol.phases.len(), 3);
    restores_exactly(&case, protocol.clone(), 77, Some((50, 2)));
    restores_exactly(&case, protocol, 107, Some((50, 2)));
    restores_exactly(&case, plan_from(&kp_protocol(), &[4]), 107, None);
    // An ensemble split by deferral: the image holds each part's, and restores part by part.
    let split = case_split(&case);
    restores_exactly(&split, split_plan(), 107, Some((50, 1)));
    // A state image refuses a backend of another shape.
    let image = (case.make)(plan_from(&kp_ensemble(), &[1, 2, 3]))
        .save_state()
        .unwrap();
    let mut other = (case.make)(plan_from(&sgd_noise(true), &[3, 4]));
    let err = other.restore_state(&image).unwrap_err().to_string();
    assert!(err.starts_with("cannot restore the state"), "{name}: {err}");
}

/// `case`'s backend split by deferral groups, as `backend::make` builds it for mixed rules.
fn case_split(case: &BackendCase) -> BackendCase {
    let name = case.name.clone();
    let make_name = name.clone();
    BackendCase {
        name: format!("{name}, split"),
        make: Box::new(move |p| {
            let case = backends()
                .into_iter()
                .find(|c| c.name == make_name)
                .unwrap();
            hetsim::backend::by_deferral_groups(p, |q| Ok((case.make)(q))).unwrap()
        }),
        tolerance: case.tolerance,
        f32: case.f32,
    }
}

#[test]
fn cpu_f64() {
    on_case("cpu f64");
}

#[test]
fn cpu_f32() {
    on_case("cpu f32");
}

#[test]
fn opencl_f32() {
    on_case("opencl f32");
}

#[test]
fn opencl_f32_rows() {
    on_case("opencl f32 rows");
}

#[test]
fn opencl_f64() {
    on_case("opencl f64");
}

#[test]
fn opencl_f64_rows() {
    on_case("opencl f64 rows");
}
