//! Protocol phases (`protocol:` in a circuit file): the state carries over a boundary exactly,
//! phases that change nothing leave every table as it is without a protocol, plasticity off
//! keeps weights exactly constant, a task switch takes effect at exactly the boundary step, every
//! backend runs every phase (plasticity, noise, task, input scale, clamps) as the CPU engine
//! does, and what a phase gets wrong is a located error.

#[macro_use]
mod common;

use common::{BackendCase, circuit_from, plan_from};
use hetsim::backend::{Backend, Precision, Snapshot};
use hetsim::plan::Plan;
use hetsim::record::memory::Collector;
use hetsim::record::metrics::{COLUMNS, Metric};
use std::sync::Arc;

/// A two-layer tanh-teacher circuit whose input-fed W1 is deferred while the input is held
/// (so a boundary inside a stimulus exercises the deferral), with `protocol` appended.
fn circuit(protocol: &str, decay: &str) -> String {
    format!(
        "name: phases\ntime: {{dt: 0.5 ms, duration: 120 ms}}\ntask: {{kind: tanh_teacher, hidden: 5, stimulus: {{duration: 15 ms, gap: 2 ms}}, held_out: 6}}\npopulations:\n  x: {{role: input, size: 4}}\n  h: {{size: 5, tau: 3 ms, activation: tanh, noise: 0.05}}\n  y: {{size: 3, tau: 2 ms}}\nprojections:\n  W1: {{from: x, to: h, init: {{uniform: [-0.3, 0.3]}}}}\n  W2: {{from: h, to: y, init: {{uniform: [-0.3, 0.3]}}}}\nlearning: {{rule: sgd, output: y, tau_w: 50 ms{decay}}}\nrecord: {{every: 10 ms, traces: 20 ms, measure: [loss, gradient_alignment, loss_alignment, learning_strength, hebbian_signature]}}\n{protocol}"
    )
}

fn run(plan: &Arc<Plan>, backend: &mut dyn Backend) -> Collector {
    let mut sink = Collector::default();
    hetsim::run::execute(
        plan,
        backend,
        hetsim::simd::Simd::auto(),
        &mut sink,
        &mut hetsim::run::Quiet,
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    sink
}

/// Every metrics cell but the phase column, every weight row and every trace value, as text.
fn tables(c: &Collector) -> Vec<String> {
    let phase = COLUMNS.iter().position(|c| *c == "phase").unwrap();
    let mut out: Vec<String> = c
        .rows
        .iter()
        .map(|r| {
            let mut cells = r.cells();
            cells.remove(phase);
            cells.join(",")
        })
        .collect();
    out.extend(c.weights.iter().map(|w| format!("{w:?}")));
    out.extend(
        c.traces
            .iter()
            .map(|t| format!("{} {} {:e}", t.time_s, t.signal, t.value)),
    );
    out
}

const SAME: &str = "protocol:\n  - {name: a, duration: 40 ms, plasticity: {W1: on}, input_scale: 1}\n  - {name: b, duration: 30 ms}\n  - {name: c}\n";

/// Phases that change nothing: every backend writes the tables it writes without a protocol,
/// cell for cell, in ensembles and for a single instance (the fused and deferred paths).
fn phases_that_change_nothing_leave_every_table_as_it_is(case: &BackendCase) {
    for seeds in [&[3u64, 4, 5][..], &[7]] {
        let plain = plan_from(&circuit("", ""), seeds);
        let phased = plan_from(&circuit(SAME, ""), seeds);
        assert_eq!(phased.phases.len(), 3);
        assert_eq!(phased.phase_change(), None);
        let a = run(&plain, (case.make)(plain.clone()).as_mut());
        let b = run(&phased, (case.make)(phased.clone()).as_mut());
        assert_eq!(tables(&a), tables(&b), "{}: {seeds:?}", case.name);
        let names: Vec<&str> = b.rows.iter().map(|r| r.phase.as_str()).collect();
        assert!(names.contains(&"a") && names.contains(&"b") && names.contains(&"c"));
        assert!(a.rows.iter().all(|r| r.phase == "run"));
    }
}
per_backend!(phases_that_change_nothing_leave_every_table_as_it_is);

fn weights_of(s: &Snapshot) -> Vec<Vec<f64>> {
    s.weights.clone()
}

/// With plasticity off in the middle phase the weights stay exactly what they were at its
/// start, decay included, and learn again after it.
#[test]
fn plasticity_off_keeps_every_weight_exactly() {
    let protocol = "protocol:\n  - {name: learn, duration: 40 ms}\n  - {name: rest, duration: 40 ms, plasticity: {W1: off, W2: off}}\n  - {name: again}\n";
    let plan = plan_from(&circuit(protocol, ", tau_decay: 200 ms"), &[1, 2, 3]);
    assert!(plan.phase_change().unwrap().contains("plasticity"));
    for precision in [Precision::F64, Precision::F32] {
        let mut b = hetsim::backend::cpu::new(plan.clone(), precision);
        b.advance(80).unwrap();
        b.enter_phase(1).unwrap();
        let start = weights_of(&b.snapshot().unwrap());
        b.advance(80).unwrap();
        let end = weights_of(&b.snapshot().unwrap());
        assert_eq!(
            start, end,
            "{precision:?}: weights moved with plasticity off"
        );
        b.enter_phase(2).unwrap();
        b.advance(10).unwrap();
        assert_ne!(
            end,
            weights_of(&b.snapshot().unwrap()),
            "{precision:?}: no learning after"
        );
    }
}

/// Plasticity and noise phases on every backend: weights stay constant where learning is off
/// (exactly on the CPU; to the device's rounding of deferred matrices on OpenCL), and every table agrees with the CPU engine of the same precision (f64 to 1e-9, f32
/// to 1e-3, as the held-input comparisons allow).
fn every_backend_runs_plasticity_and_noise_phases(case: &BackendCase) {
    let protocol = "protocol:\n  - {name: learn, duration: 40 ms}\n  - {name: rest, duration: 40 ms, plasticity: {W1: off, W2: off}, noise: {h: 0.2}}\n  - {name: slow, plasticity: {W2: {tau_w_scale: 3}}}\n";
    for seeds in [&[1u64, 2, 3][..], &[4]] {
        let plan = plan_from(&circuit(protocol, ", tau_decay: 200 ms"), seeds);
        let reference = |f32: bool| {
            let precision = if f32 { Precision::F32 } else { Precision::F64 };
            run(
                &plan,
                hetsim::backend::cpu::new(plan.clone(), precision).as_mut(),
            )
        };
        let (r64, r32) = (reference(false), reference(true));
        let mut b = (case.make)(plan.clone());
        b.advance(80).unwrap();
        b.enter_phase(1).unwrap();
        let start = weights_of(&b.snapshot().unwrap());
        b.advance(80).unwrap();
        let end = weights_of(&b.snapshot().unwrap());
        if case.name.starts_with("cpu") {
            assert_eq!(start, end, "{}: weights moved", case.name);
        } else {
            // OpenCL completes a deferred matrix's snapshot on the host (G·W₀ + D xᵀ in
            // f64) while the device writes it in its own precision when the input changes:
            // the same weights up to that rounding.
            let tol = if case.f32 { 1e-6 } else { 1e-14 };
            for (a, b) in start.iter().flatten().zip(end.iter().flatten()) {
                assert!(
                    (a - b).abs() <= tol * a.abs().max(1.0),
                    "{}: {a} → {b}",
                    case.name
                );
            }
        }
        let got = run(&plan, (case.make)(plan.clone()).as_mut());
        let (want, tol) = if case.f32 { (&r32, 1e-3) } else { (&r64, 1e-9) };
        same_metrics(&case.name, &got, want, tol);
    }
}
per_backend!(every_backend_runs_plasticity_and_noise_phases);

/// Every metrics cell of `got` within `tol` of `want`'s (relative, or in hundreds of degrees
/// for the angles: near 0°, as sgd against backprop, they are rounding), the same cells NaN.
fn same_metrics(name: &str, got: &Collector, want: &Collector, tol: f64) {
    let values = |c: &Collector| -> Vec<(Metric, f64)> {
        c.rows
            .iter()
            .flat_map(|r| Metric::ALL.map(|m| (m, r.get(m).unwrap_or(f64::NAN))))
            .collect()
    };
    let (g, w) = (values(got), values(want));
    assert_eq!(g.len(), w.len(), "{name}");
    for (k, ((m, a), (_, b))) in g.iter().zip(&w).enumerate() {
        assert_eq!(a.is_nan(), b.is_nan(), "{name}: cell {k}");
        let angle = matches!(m, Metric::GradientAngle | Metric::LossAngle);
        let d = if angle {
            (a - b).abs() / 100.0
        } else {
            (a - b).abs() / b.abs().max(1e-3)
        };
        assert!(
            a.is_nan() || d <= tol,
            "{name}: {m:?} cell {k}: {a} against {b}"
        );
    }
}

/// Phases that change the stimulus, each boundary inside a stimulus (the sample being shown is
/// replaced, a deferred matrix's held input changes): after a first phase that already changes
/// a number (W2's τ_w), another teacher with a larger hidden layer at half the input, then the
/// input and the target clamped (and noise on y, which has none in the circuit), then a teacher
/// of another kind (a linear one).
const STIMULUS_PHASES: &str = "protocol:\n  - {name: A, duration: 40 ms, plasticity: {W2: {tau_w_scale: 2}}}\n  - {name: B, duration: 30 ms, task: {seed: 2, hidden: 8}, input_scale: 0.5}\n  - {name: C, duration: 20 ms, clamp: {x: 0.2, ystar: 0.1}, noise: {y: 0.1}}\n  - {name: D, task: {kind: linear_teacher, teacher: {uniform: [-1, 1]}, seed: 3}}\n";

/// A task switch (of the same kind and of another), an input scale and clamps: every backend
/// gives the f64 CPU engine's tables (f64 within 1e-9, f32 within 1e-3), in ensembles and for a
/// single instance (the row layout on OpenCL), and its weights at the end.
fn every_backend_switches_the_task_scales_and_clamps(case: &BackendCase) {
    for seeds in [&[1u64, 2, 3][..], &[4]] {
        let plan = plan_from(&circuit(STIMULUS_PHASES, ", tau_decay: 200 ms"), seeds);
        let period = plan.timing[0].period_steps;
        let present = plan.timing[0].present_steps;
        for ph in &plan.phases[1..] {
            assert!(
                ph.start_step % period < present,
                "{}: inside a stimulus",
                ph.name
            );
        }
        let mut reference = hetsim::backend::cpu::new(plan.clone(), Precision::F64);
        let want = run(&plan, reference.as_mut());
        let mut backend = (case.make)(plan.clone());
        let got = run(&plan, backend.as_mut());
        let tol = if case.f32 { 1e-3 } else { 1e-9 };
        same_metrics(&format!("{}, {seeds:?}", case.name), &got, &want, tol);
        let (a, b) = (backend.snapshot().unwrap(), reference.snapshot().unwrap());
        let (a, b): (Vec<f64>, Vec<f64>) = (a.weights.concat(), b.weights.concat());
        let d = common::rel_diff(&a, &b);
        assert!(
            d <= tol,
            "{}, {seeds:?}: final weights differ by {d:e}",
            case.name
        );
    }
}
per_backend!(every_backend_switches_the_task_scales_and_clamps);

/// The shipped protocols, shortened, on every backend as on the f64 CPU engine (tables, and the
/// weights and traces at the end): `task_switch.yaml` (another teacher) and `priming.yaml`
/// (conditioning at twice the input, the strong priming; its threshold is the trace of y).
fn shipped_protocols_run_on_every_backend(case: &BackendCase) {
    let task_switch = common::shipped_with(
        "task_switch.yaml",
        &[
            ("duration: 30 s", "duration: 400 ms"),
            ("{name: A, duration: 15 s}", "{name: A, duration: 200 ms}"),
        ],
    );
    let priming = common::shipped_with(
        "priming.yaml",
        &[
            ("duration: 120 s", "duration: 4 s"),
            (
                "{name: baseline, duration: 90 s}",
                "{name: baseline, duration: 2 s}",
            ),
            (
                "{name: conditioning, duration: 20 s, input_scale: 1,",
                "{name: conditioning, duration: 1 s, input_scale: 2,",
            ),
            ("instances: [0, 1, 2, 3, 4]", "instances: [0]"),
        ],
    );
    let runs: [(&str, &[u64]); 4] = [
        (&task_switch, &[1, 2]),
        (&task_switch, &[3]),
        (&priming, &[1, 2, 3]),
        (&priming, &[4]),
    ];
    for (yaml, seeds) in runs {
        let plan = plan_from(yaml, seeds);
        let name = format!("{}, {}, {seeds:?}", case.name, plan.name);
        assert!(plan.phase_change().is_some(), "{name}");
        let mut reference = hetsim::backend::cpu::new(plan.clone(), Precision::F64);
        let want = run(&plan, reference.as_mut());
        let mut backend = (case.make)(plan.clone());
        let got = run(&plan, backend.as_mut());
        let tol = if case.f32 { 1e-3 } else { 1e-9 };
        same_metrics(&name, &got, &want, tol);
        let (a, b) = (backend.snapshot().unwrap(), reference.snapshot().unwrap());
        for (what, a, b) in [
            ("weights", a.weights.concat(), b.weights.concat()),
            ("traces", a.traces.concat(), b.traces.concat()),
        ] {
            let d = common::rel_diff(&a, &b);
            assert!(d <= tol, "{name}: {what} at the end differ by {d:e}");
        }
    }
}
per_backend!(shipped_protocols_run_on_every_backend);

/// A task switch: up to the boundary the run is the run without a protocol, bit for bit; the
/// first step of the new phase shows the new task's sample for that step (in the backend's
/// precision), and the held-out loss of the rows follows the phase's task while
/// `first_task_loss` stays on the first — on every backend, in an ensemble and for a single
/// instance.
fn a_task_switch_changes_the_teacher_at_exactly_the_boundary(case: &BackendCase) {
    let protocol = "protocol:\n  - {name: A, duration: 40 ms}\n  - {name: B, task: {seed: 1}, input_scale: 2}\n";
    for seeds in [&[5u64, 6][..], &[7]] {
        let name = format!("{}, {seeds:?}", case.name);
        let plain = plan_from(&circuit("", ""), seeds);
        let plan = plan_from(&circuit(protocol, ""), seeds);
        let boundary = plan.phases[1].start_step;
        assert_eq!(boundary, 80);
        // Inside a stimulus: the switch replaces the sample being shown.
        let period = plan.timing[0].period_steps;
        assert_ne!(boundary % period, 0);
        let mut a = (case.make)(plain.clone());
        let mut b = (case.make)(plan.clone());
        a.advance(boundary).unwrap();
        b.advance(boundary).unwrap();
        let (sa, sb) = (a.snapshot().unwrap(), b.snapshot().unwrap());
        assert_eq!(sa.weights, sb.weights, "{name}");
        assert_eq!(sa.u, sb.u, "{name}");
        b.enter_phase(1).unwrap();
        b.enter_phase(1).unwrap(); // entering the loaded phase again changes nothing
        b.advance(1).unwrap();
        let x = &b.snapshot().unwrap().z[plan.input];
        let n_in = plan.populations[plan.input].size;
        let k = boundary / period;
        // OpenCL draws its normals to 1e-12 of the host's (tests/opencl_rng.rs); f32 rounds
        // them.
        let tol = match (case.f32, case.name.starts_with("cpu")) {
            (true, _) => 1.2e-7,
            (false, false) => 1e-12,
            (false, true) => 0.0,
        };
        for e in 0..seeds.len() {
            let (mut want, mut y) = (vec![0.0; n_in], vec![0.0; 3]);
            plan.phases[1].tables.tasks[e].train_sample(k, &mut want, &mut y);
            let got = &x[e * n_in..(e + 1) * n_in];
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w * 2.0).abs() <= tol * (w * 2.0).abs(),
                    "{name}, instance {e}: {g} is not the new task's sample, scaled: {}",
                    w * 2.0
                );
            }
            let mut old = vec![0.0; n_in];
            plan.phases[0].tables.tasks[e].train_sample(k, &mut old, &mut y);
            assert_ne!(got, old.as_slice(), "{name}");
        }
        // The rows: held-out loss on the phase's task, first-task loss on A's throughout.
        let rows = run(&plan, (case.make)(plan.clone()).as_mut()).rows;
        let all: Vec<_> = rows
            .iter()
            .filter(|r| r.projection == "all" && r.instance == 0)
            .collect();
        for r in &all {
            let in_b = r.time_s > 0.04 + 1e-9;
            assert_eq!(r.phase, if in_b { "B" } else { "A" }, "t = {}", r.time_s);
            let first = r
                .get(Metric::FirstTaskLoss)
                .expect("first-task loss recorded");
            let held = r.get(Metric::HeldOutLoss).unwrap();
            if in_b {
                assert_ne!(first, held, "{name}: t = {}", r.time_s);
            } else {
                assert_eq!(first, held, "{name}: t = {}", r.time_s);
            }
        }
        let plain_rows = run(&plain, (case.make)(plain.clone()).as_mut()).rows;
        assert!(plain_rows.iter().all(|r| r.first_task_loss.is_none()));
    }
}
per_backend!(a_task_switch_changes_the_teacher_at_exactly_the_boundary);

/// What a phase gets wrong is reported at its setting, every problem at once.
#[test]
fn protocol_mistakes_are_located_errors() {
    let protocol = "protocol:\n  - {name: a, duration: 25 ms}\n  - name: b\n    duration: 40 ms\n    plasticity: {W9: off, W2: {tau_w_scale: -1}}\n    clamp: {h: 1}\n    noise: {x: 0.1}\n    task: {stimulus: {duration: 5 ms}}\n  - {name: b}\n";
    let yaml = circuit(protocol, "");
    let source = hetsim::spec::SourceFile::from_text(std::path::Path::new("p.yaml"), yaml);
    let spec = hetsim::spec::parse_circuit(&source).unwrap();
    let message = hetsim::circuit::build(&source, &spec)
        .unwrap_err()
        .to_string();
    for expected in [
        "`protocol[0].duration`: phase `a` lasts 0.025 s, 2.5000 recording windows",
        "`protocol[1].plasticity.W9`: unknown projection `W9`",
        "`protocol[1].plasticity.W2`: the τ_w factor must be a positive number",
        "`protocol[1].clamp.h`: `h` is a population the engine integrates",
        "`protocol[1].noise.x`: `x` is driven by the task",
        "`protocol[1].task.stimulus`: the stimulus schedule cannot change in a phase",
        "`protocol[2].name`: two phases are named `b`",
    ] {
        assert!(
            message.contains(expected),
            "missing {expected:?} in:\n{message}"
        );
    }
    // Durations that do not fill the run.
    let short = "protocol:\n  - {name: a, duration: 40 ms}\n  - {name: b, duration: 40 ms}\n";
    let yaml = circuit(short, "");
    let source = hetsim::spec::SourceFile::from_text(std::path::Path::new("p.yaml"), yaml);
    let spec = hetsim::spec::parse_circuit(&source).unwrap();
    let message = hetsim::circuit::build(&source, &spec)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("the phases last 0.08 s together, but `time.duration` is 0.12 s"),
        "{message}"
    );
    // A well-formed protocol checks.
    circuit_from(&circuit(SAME, ""));
}
