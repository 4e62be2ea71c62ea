//! Probes and weight snapshots (`record.probes`, `record.weights`): the values are the state
//! they claim, against closed forms and against the backends' own snapshots; the chosen units,
//! instances, synapses and intervals are honoured; sampling does not change the run; every bad
//! input gets a located error — through the library on every backend, and through the binary.

#[macro_use]
mod common;

use common::{BackendCase, hetsim, plan_from};
use hetsim::record::Collector;
use hetsim::record::probes::{PROBE_COLUMNS, SNAPSHOT_COLUMNS};
use hetsim::spec::ProbeVariable;
use std::path::Path;

/// A small circuit without a task-driven pathway: `h` (3 units, biased, recurrent through a
/// random R, with a slow trace) and `y` reading it. 60 steps of 1 ms, windows of 10 ms.
fn circuit(record_extra: &str) -> String {
    format!(
        "name: probed\ntime: {{dt: 1 ms, duration: 60 ms}}\ntask: {{kind: linear_teacher, stimulus: {{duration: 20 ms}}, held_out: 1}}\npopulations:\n  x: {{role: input, size: 1}}\n  h: {{size: 3, tau: 10 ms, bias: 0.5, activation: tanh, trace: {{of: rate, tau: 30 ms}}}}\n  y: {{size: 2, tau: 5 ms}}\nprojections:\n  R: {{from: h, to: h, init: {{normal: [0, 0.6]}}}}\n  Wy: {{from: h, to: y, init: {{normal: [0, 1]}}}}\nrecord:\n  every: 10 ms\n  measure: [loss]\n{record_extra}"
    )
}

const PROBES: &str = "  probes:\n    - {population: h, variable: rate, units: [2, 0], instances: [0, 2], every: 3 ms}\n    - {population: h, variable: trace, instances: all, every: 5 ms}\n    - {population: y, variable: potential}\n  weights: {every: 7 ms, projections: [R, Wy], instances: [1], synapses: [[0, 1], [1, 2]]}\n";

/// Runs `plan` on a backend into an in-memory collector.
fn collect(
    plan: &std::sync::Arc<hetsim::plan::Plan>,
    backend: &mut dyn hetsim::backend::Backend,
) -> Collector {
    let mut c = Collector::default();
    hetsim::run::execute(
        plan,
        backend,
        hetsim::simd::Simd::auto(),
        &mut c,
        &mut hetsim::run::Quiet,
        None,
    )
    .unwrap();
    c
}

fn probe_rows_are_the_state_at_their_times_with_the_chosen_units_and_instances(case: &BackendCase) {
    let yaml = circuit(PROBES);
    let plan = plan_from(&yaml, &[1, 2, 3]);
    let collected = collect(&plan, (case.make)(plan.clone()).as_mut());
    // The reference: the same backend advanced one step at a time, snapshotted each step.
    let mut reference = (case.make)(plan.clone());
    let mut states = vec![reference.snapshot().unwrap()];
    for _ in 0..plan.steps {
        reference.advance(1).unwrap();
        states.push(reference.snapshot().unwrap());
    }
    let pop = |name: &str| {
        plan.populations
            .iter()
            .position(|p| p.name == name)
            .unwrap()
    };
    let size = |k: usize| plan.populations[k].size;
    for r in &collected.probes {
        let step = (r.time_s / plan.dt_s).round() as usize;
        let k = pop(&r.population);
        let s = &states[step];
        let values = match r.variable {
            ProbeVariable::Rate => &s.z[k],
            ProbeVariable::Potential => &s.u[k],
            ProbeVariable::Trace => &s.traces[k],
        };
        let expected = values[r.instance * size(k) + r.unit];
        assert!(
            (r.value - expected).abs() <= 1e-6 * expected.abs().max(1e-3),
            "{}: {r:?} but the state holds {expected}",
            case.name
        );
    }
    for r in &collected.weight_snapshots {
        let step = (r.time_s / plan.dt_s).round() as usize;
        let q = plan
            .projections
            .iter()
            .position(|p| *p.name == *r.projection)
            .unwrap();
        let p = &plan.projections[q];
        let expected = states[step].weights[q][r.instance * p.synapses() + r.post * p.cols + r.pre];
        assert!(
            (r.weight - expected).abs() <= 1e-6 * expected.abs().max(1e-3),
            "{}: {r:?} but the state holds {expected}",
            case.name
        );
    }

    // Selection and counts: #times × #units × #instances, t = 0 included.
    let of = |name: &str, v: ProbeVariable| {
        collected
            .probes
            .iter()
            .filter(|r| &*r.population == name && r.variable == v)
            .collect::<Vec<_>>()
    };
    let rates = of("h", ProbeVariable::Rate);
    assert_eq!(rates.len(), 21 * 2 * 2, "{}", case.name);
    assert!(
        rates
            .iter()
            .all(|r| [0, 2].contains(&r.instance) && [0, 2].contains(&r.unit))
    );
    assert_eq!(
        (
            rates[0].unit,
            rates[1].unit,
            rates[0].instance,
            rates[2].instance
        ),
        (2, 0, 0, 2),
        "{}: units and instances in the order written",
        case.name
    );
    let times: Vec<f64> = rates.iter().step_by(4).map(|r| r.time_s).collect();
    assert!(
        times
            .iter()
            .enumerate()
            .all(|(i, t)| (t - 0.003 * i as f64).abs() < 1e-12)
    );
    let traces = of("h", ProbeVariable::Trace);
    assert_eq!(traces.len(), 13 * 3 * 3, "{}", case.name);
    // y defaults: every unit, instance 0, every record.every.
    let y = of("y", ProbeVariable::Potential);
    assert_eq!(y.len(), 7 * 2, "{}", case.name);
    assert!(y.iter().all(|r| r.instance == 0));
    // Snapshots: t = 0, 7, …, 56 ms, two synapses of two projections, instance 1.
    assert_eq!(collected.weight_snapshots.len(), 9 * 2 * 2, "{}", case.name);
    assert!(collected.weight_snapshots.iter().all(|r| r.instance == 1));
}
per_backend!(probe_rows_are_the_state_at_their_times_with_the_chosen_units_and_instances);

fn potential_and_trace_follow_their_closed_forms(case: &BackendCase) {
    // τ du/dt = −u + 2 from u(0) = 0 (linear, so z = u); τ_q dq/dt = z − q from q(0) = 0.
    let yaml = "name: leak\ntime: {dt: 0.1 ms, duration: 100 ms}\ntask: {kind: linear_teacher, stimulus: {duration: 50 ms}, held_out: 1}\npopulations:\n  x: {role: input, size: 1}\n  h: {size: 2, tau: 10 ms, bias: 2, trace: {of: rate, tau: 30 ms}}\nrecord:\n  every: 50 ms\n  measure: [loss]\n  probes:\n    - {population: h, variable: potential, units: [1], every: 5 ms}\n    - {population: h, variable: trace, units: [0], every: 5 ms}\n";
    let (tau, tau_q) = (0.01f64, 0.03f64);
    let u = |t: f64| 2.0 * (1.0 - (-t / tau).exp());
    let q = |t: f64| {
        2.0 * (1.0 - (tau_q * (-t / tau_q).exp() - tau * (-t / tau).exp()) / (tau_q - tau))
    };
    let plan = plan_from(yaml, &[1]);
    let c = collect(&plan, (case.make)(plan.clone()).as_mut());
    assert_eq!(c.probes.len(), 2 * 21, "{}", case.name);
    for r in &c.probes {
        let (exact, tolerance) = match r.variable {
            // Exponential Euler is exact for a constant input.
            ProbeVariable::Potential => (u(r.time_s), case.tolerance * 2.0 + 1e-12),
            // The trace holds z over each step, so it is first order: off by at most
            // one step's change dt·dq/dt = dt·(z − q)/τ_q.
            _ => {
                let t = r.time_s;
                (q(t), 1e-4 * (u(t) - q(t)).abs() / tau_q + 1e-9)
            }
        };
        assert!(
            (r.value - exact).abs() <= tolerance,
            "{}: {r:?}, exact {exact}",
            case.name
        );
    }
}
per_backend!(potential_and_trace_follow_their_closed_forms);

fn sampling_between_windows_does_not_change_the_run(case: &BackendCase) {
    let with = plan_from(&circuit(PROBES), &[1, 2, 3]);
    let without = plan_from(&circuit(""), &[1, 2, 3]);
    let a = collect(&with, (case.make)(with.clone()).as_mut());
    let b = collect(&without, (case.make)(without.clone()).as_mut());
    assert!(!a.probes.is_empty() && b.probes.is_empty());
    assert_eq!(a.rows, b.rows, "{}: metrics differ", case.name);
    assert_eq!(a.weights, b.weights, "{}: weights differ", case.name);
}
per_backend!(sampling_between_windows_does_not_change_the_run);

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// A copy of the shipped feedback-alignment circuit with `record` replaced, written into `dir`.
fn fa_circuit(dir: &Path, record: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string("circuits/teacher_fa.yaml").unwrap();
    let start = text
        .find("\nrecord:")
        .expect("the circuit has a record block");
    let path = dir.join("fa.yaml");
    std::fs::write(&path, format!("{}\nrecord:\n{record}", &text[..start])).unwrap();
    path
}

#[test]
fn binary_writes_the_tables_and_the_last_snapshot_is_the_end_of_weights_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let record = "  every: 100 ms\n  measure: [loss]\n  probes:\n    - {population: h, variable: rate, units: [0, 5, 19], instances: [0, 1], every: 20 ms}\n  weights: {every: 250 ms, instances: all}\n";
    let circuit = fa_circuit(tmp.path(), record);
    let out = tmp.path().join("run");
    for backend in ["cpu", "opencl"] {
        if backend == "opencl" && hetsim::backend::opencl::device().is_err() {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI: no OpenCL device"
            );
            eprintln!("no OpenCL device here; the binary's OpenCL run is skipped");
            continue;
        }
        let o = hetsim(&[
            "run",
            circuit.to_str().unwrap(),
            "--duration",
            "1s",
            "--seeds",
            "3",
            "--backend",
            backend,
            "--no-plots",
            "-q",
            "--replace",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let (header, rows) = read_csv(&out.join("probes.csv"));
        assert_eq!(header, PROBE_COLUMNS);
        assert_eq!(
            rows.len(),
            51 * 3 * 2,
            "{backend}: 51 times × 3 units × 2 instances"
        );
        assert!(rows.iter().all(|r| r[2] == "h" && r[3] == "rate"));
        let (header, snaps) = read_csv(&out.join("weight_snapshots.csv"));
        assert_eq!(header, SNAPSHOT_COLUMNS);
        // Every plastic projection (W1 20×30, W2 10×20) of every instance at 0, 0.25, …, 1 s.
        assert_eq!(snaps.len(), 5 * 3 * (600 + 200), "{backend}");
        // The snapshot at the end is weights.csv's `end` matrix (which writes 6 digits).
        let (_, weights) = read_csv(&out.join("weights.csv"));
        let end: Vec<&Vec<String>> = weights
            .iter()
            .filter(|r| r[0] == "end" && (r[2] == "W1" || r[2] == "W2"))
            .collect();
        let last: Vec<&Vec<String>> = snaps
            .iter()
            .filter(|r| r[0] == "1" && r[1] == "0")
            .collect();
        assert_eq!(end.len(), last.len(), "{backend}");
        for (w, s) in end.iter().zip(&last) {
            assert_eq!((&w[2], &w[3], &w[4]), (&s[2], &s[3], &s[4]), "{backend}");
            let v: f64 = s[5].parse().unwrap();
            assert_eq!(format!("{v:.5e}"), w[5], "{backend}: {s:?} against {w:?}");
        }
    }
}

/// Runs `hetsim validate` on the circuit with `record` as its record block.
fn validate(record: &str) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let circuit = fa_circuit(tmp.path(), record);
    let o = hetsim(&["validate", circuit.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    // The file name is the temporary one; report it as `fa.yaml`.
    let err = err.replace(tmp.path().to_str().unwrap(), "");
    (o.status.code().unwrap_or(-1), err)
}

#[test]
fn every_bad_probe_gets_an_error_at_its_line_and_setting() {
    // The record block starts at line 26 of the copied circuit; the probe entry is line 28.
    let base = "  probes:\n    - {population: h, variable: rate, units: [0, 1], every: 1 ms}\n  weights: {every: 1 s, projections: [W1], synapses: [[0, 0]]}\n";
    let cases: [(&str, &str, &str, &str); 10] = [
        (
            "population: h",
            "population: hh",
            "record.probes[0].population",
            "unknown population `hh`",
        ),
        (
            "units: [0, 1]",
            "units: [0, 20]",
            "record.probes[0].units[1]",
            "unit 20 is out of range: `h` has 20 units (0 to 19)",
        ),
        (
            "variable: rate",
            "variable: trace",
            "record.probes[0].variable",
            "population `h` has no trace to probe",
        ),
        (
            "every: 1 ms",
            "every: 0.25 ms",
            "record.probes[0].every",
            "not a whole number of steps",
        ),
        (
            "every: 1 ms",
            "every: 0 ms",
            "record.probes[0].every",
            "the interval must be positive",
        ),
        (
            "projections: [W1]",
            "projections: [W7]",
            "record.weights.projections[0]",
            "unknown projection `W7`",
        ),
        (
            "[[0, 0]]",
            "[[0, 30]]",
            "record.weights.synapses[0]",
            "synapse [0, 30] is out of range for `W1`",
        ),
        (
            "every: 1 s",
            "every: 1.00005 s",
            "record.weights.every",
            "not a whole number of steps",
        ),
        (
            "units: [0, 1]",
            "units: [0, 1], colour: red",
            "record.probes[0].colour",
            "unknown key `colour`",
        ),
        (
            "units: [0, 1]",
            "units: [1, 1]",
            "record.probes[0].units[1]",
            "unit 1 is listed twice",
        ),
    ];
    let (code, err) = validate(&format!("  every: 100 ms\n{base}"));
    assert_eq!(code, 0, "the base is valid: {err}");
    for (from, to, path, message) in cases {
        let record = format!("  every: 100 ms\n{}", base.replacen(from, to, 1));
        let (code, err) = validate(&record);
        assert_eq!(code, 2, "{to}: {err}");
        let line = if path.starts_with("record.weights") {
            29
        } else {
            28
        };
        assert!(
            err.contains(&format!("fa.yaml:{line}:")),
            "{to}: not located at line {line}: {err}"
        );
        assert!(err.contains(path), "{to}: no `{path}` in {err}");
        assert!(err.contains(message), "{to}: no `{message}` in {err}");
    }
}

#[test]
fn an_instance_the_run_does_not_have_is_refused_naming_the_probe() {
    let tmp = tempfile::tempdir().unwrap();
    let record = "  every: 100 ms\n  probes:\n    - {population: y, variable: rate}\n    - {population: h, variable: potential, instances: [0, 4]}\n";
    let circuit = fa_circuit(tmp.path(), record);
    let o = hetsim(&[
        "run",
        circuit.to_str().unwrap(),
        "--seeds",
        "2",
        "--backend",
        "cpu",
        "--no-plots",
        "--out",
        tmp.path().join("run").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "record.probes[1] (population `h`) asks for instance 4, but this run has 2 instances"
        ),
        "{err}"
    );
}

#[test]
fn probe_tables_beyond_the_memory_budget_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // Every unit of h at every step for 30 s: 300 001 × 20 rows, about 336 MB.
    let record =
        "  every: 100 ms\n  probes:\n    - {population: h, variable: rate, every: 0.1 ms}\n";
    let circuit = fa_circuit(tmp.path(), record);
    let o = hetsim(&[
        "run",
        circuit.to_str().unwrap(),
        "--backend",
        "cpu",
        "--memory-budget",
        "200MB",
        "--no-plots",
        "--out",
        tmp.path().join("run").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // Refused with the circuit's own checks, at the probe's line, before a plan exists.
    assert!(err.contains("fa.yaml:28:5: `record.probes[0]`"), "{err}");
    assert!(err.contains("the rows of probes.csv for `h`"), "{err}");
    assert!(err.contains("sample less often"), "{err}");
}
