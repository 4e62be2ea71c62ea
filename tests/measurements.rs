//! The measurements against known answers and published behaviour (issue: measurements).
//! Each test runs a circuit through the real run loop into a run directory and reads
//! metrics.csv back, as a user would.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

/// Runs `yaml` for the given seeds into a temp run directory; returns the parsed metrics rows
/// and the manifest.
fn run(yaml: &str, seeds: &[u64]) -> (Vec<BTreeMap<String, String>>, serde_json::Value) {
    let c = common::circuit_from(yaml);
    let instances: Vec<_> = seeds
        .iter()
        .map(|&seed| hetsim::plan::InstanceSpec {
            circuit: c.clone(),
            seed,
            label: "test".into(),
        })
        .collect();
    let plan = std::sync::Arc::new(
        hetsim::plan::Plan::new(&instances, Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let manifest = common::test_manifest(&plan);
    let mut recorder = hetsim::record::Recorder::create(&dir, &plan, manifest).unwrap();
    let mut backend = hetsim::backend::cpu::new(plan.clone(), hetsim::backend::Precision::F64);
    hetsim::run::execute(
        &plan,
        backend.as_mut(),
        hetsim::simd::Simd::auto(),
        &mut recorder,
        &mut hetsim::run::Quiet,
        None,
    )
    .unwrap();
    let mut reader = csv::Reader::from_path(dir.join("metrics.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let rows = reader
        .records()
        .map(|r| {
            headers
                .iter()
                .zip(r.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    let manifest =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    (rows, manifest)
}

fn values(
    rows: &[BTreeMap<String, String>],
    projection: &str,
    column: &str,
    after_s: f64,
) -> Vec<(f64, f64)> {
    rows.iter()
        .filter(|r| r["projection"] == projection)
        .filter_map(|r| {
            Some((
                r["time_s"].parse::<f64>().ok()?,
                r[column].parse::<f64>().ok()?,
            ))
        })
        .filter(|(t, _)| *t > after_s)
        .collect()
}

fn mean(v: &[(f64, f64)]) -> f64 {
    v.iter().map(|(_, x)| x).sum::<f64>() / v.len() as f64
}

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{}/circuits/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn sgd_reads_zero_gradient_angle_at_every_window() {
    let yaml = example("teacher_sgd.yaml").replace("duration: 30 s", "duration: 2 s");
    let (rows, _) = run(&yaml, &[1, 2]);
    for projection in ["all", "W1", "W2"] {
        let angles = values(&rows, projection, "gradient_angle_deg", 0.0);
        assert_eq!(
            angles.len(),
            40,
            "{projection}: one angle per window and instance"
        );
        for (t, a) in angles {
            assert!(a < 1e-3, "{projection} at {t} s: sgd gradient angle {a}°");
        }
    }
}

#[test]
fn feedback_alignment_hidden_angle_is_below_ninety_degrees() {
    // DESIGN's W1 circuit (inputs N(0, I)) for 20 s, as in Lillicrap et al. 2016.
    let yaml = example("teacher_fa.yaml")
        .replace("duration: 30 s", "duration: 20 s")
        .replace("input_std: 0.5", "input_std: 1");
    let (rows, _) = run(&yaml, &[1, 2]);
    let angles = values(&rows, "W1", "gradient_angle_deg", 0.0);
    let at = |t: f64| {
        mean(
            &angles
                .iter()
                .filter(|(s, _)| (s - t).abs() < 1e-6)
                .copied()
                .collect::<Vec<_>>(),
        )
    };
    eprintln!(
        "fa hidden gradient angle: {:.1}° at 0.1 s, {:.1}° at 1 s, {:.1}° at 20 s",
        at(0.1),
        at(1.0),
        at(20.0)
    );
    let after = values(&rows, "W1", "gradient_angle_deg", 1.0);
    let m = mean(&after);
    eprintln!("fa hidden gradient angle averaged after the first 5%: {m:.1}°");
    assert!(
        m < 90.0,
        "mean hidden gradient angle after the first 5% is {m}°"
    );
    let first_second = mean(
        &values(&rows, "W1", "gradient_angle_deg", 0.0)
            .into_iter()
            .filter(|(t, _)| *t <= 1.0)
            .collect::<Vec<_>>(),
    );
    assert!(
        first_second < 60.0,
        "the angle starts well aligned ({first_second}° over the first second)"
    );
}

#[test]
fn kolen_pollack_weight_angle_falls_below_five_degrees() {
    // 5 τ_decay with τ_decay = 5 s.
    let yaml = example("teacher_kp.yaml")
        .replace("duration: 30 s", "duration: 25 s")
        .replace("tau_decay: 20 s", "tau_decay: 5 s");
    let (rows, _) = run(&yaml, &[1, 2]);
    let angles = values(&rows, "B2", "weight_angle_deg", 24.9);
    assert_eq!(angles.len(), 2);
    for (_, a) in &angles {
        assert!(*a < 5.0, "kp weight angle at the end: {a}°");
    }
    let start = values(&rows, "B2", "weight_angle_deg", 0.0);
    assert!(
        start[0].1 > 45.0,
        "and it started unaligned ({}°)",
        start[0].1
    );
}

fn delay_law_circuit(delay_ms: f64, gap_ms: f64) -> String {
    format!(
        "name: delay-law\ntime: {{dt: 0.1 ms, duration: 3 s}}\ntask:\n  kind: linear_teacher\n  stimulus: {{duration: 20 ms, gap: {gap_ms} ms, error_delay: {delay_ms} ms}}\n  held_out: 10\npopulations:\n  x: {{role: input, size: 10}}\n  y: {{size: 5, tau: 0 ms}}\nprojections:\n  W: {{from: x, to: y, init: {{uniform: [-0.1, 0.1]}}}}\nlearning: {{rule: sgd, output: y, tau_w: 100 s}}\nrecord: {{every: 500 ms, measure: [learning_strength]}}\n"
    )
}

#[test]
fn learning_strength_falls_linearly_with_the_input_error_delay() {
    // Bacvanski, Ziyin, Poggio 2025: strength = max(0, 1 − Δ/T), T = 20 ms, gap 30 ms ≥ Δ,
    // instantaneous populations, τ_w/T = 5000.
    for ratio in [0.0, 0.25, 0.5, 0.75, 1.0, 1.25] {
        let (rows, _) = run(&delay_law_circuit(ratio * 20.0, 30.0), &[1, 2]);
        let strength = mean(&values(&rows, "all", "learning_strength", 0.0));
        let expected = (1.0f64 - ratio).max(0.0);
        assert!(
            (strength - expected).abs() < 0.02,
            "Δ/T = {ratio}: learning strength {strength}, expected {expected}"
        );
    }
    // Reported, not asserted: back-to-back stimuli, where the late error meets the next input.
    let curve: Vec<String> = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
        .iter()
        .map(|r| {
            let (rows, _) = run(&delay_law_circuit(r * 20.0, 0.0), &[1]);
            format!(
                "{r}: {:.3}",
                mean(&values(&rows, "all", "learning_strength", 0.0))
            )
        })
        .collect();
    eprintln!(
        "learning strength without a gap (Δ/T: strength): {}",
        curve.join(", ")
    );
}

fn hebbian_circuit(extra: &str) -> String {
    format!(
        "name: hebbian-signature\ntime: {{dt: 0.5 ms, duration: 60 s}}\ntask:\n  kind: linear_teacher\n  stimulus: {{duration: 20 ms}}\n  held_out: 20\npopulations:\n  x: {{role: input, size: 5}}\n  y: {{size: 3, tau: 0 ms}}\nprojections:\n  W: {{from: x, to: y, init: {{uniform: [-0.1, 0.1]}}}}\nlearning: {{rule: sgd, output: y, tau_w: 1 s{extra}}}\nrecord: {{every: 500 ms, measure: [loss, hebbian_signature]}}\n"
    )
}

#[test]
fn hebbian_signature_is_positive_with_decay_and_negative_with_noise() {
    // Koplow, Poggio, Ziyin 2025: weight decay makes the learning signal Hebbian, injected
    // noise anti-Hebbian. Averaged over the second half of a converged run.
    let seeds = [1, 2, 3, 4];
    let per_seed = |rows: &[BTreeMap<String, String>]| -> Vec<f64> {
        (0..seeds.len())
            .map(|e| {
                let v: Vec<(f64, f64)> = rows
                    .iter()
                    .filter(|r| r["instance"] == e.to_string() && r["projection"] == "all")
                    .filter_map(|r| {
                        Some((
                            r["time_s"].parse::<f64>().ok()?,
                            r["hebbian_signature"].parse::<f64>().ok()?,
                        ))
                    })
                    .filter(|(t, _)| *t > 30.0)
                    .collect();
                mean(&v)
            })
            .collect()
    };
    let (decay_rows, _) = run(&hebbian_circuit(", tau_decay: 5 s"), &seeds);
    let (noise_rows, _) = run(&hebbian_circuit(", weight_noise: 0.3"), &seeds);
    let (decay, noise) = (per_seed(&decay_rows), per_seed(&noise_rows));
    eprintln!("Hebbian signature, second half: decay {decay:?}, noise {noise:?}");
    assert!(
        decay.iter().all(|s| *s > 0.5),
        "with weight decay: {decay:?}"
    );
    assert!(
        noise.iter().all(|s| *s < 0.0),
        "with weight noise: {noise:?}"
    );
}

/// A forward pathway with a loop (h → h) is measured at its fixed point: every backprop-based
/// column has numbers, and no note says otherwise.
#[test]
fn recurrent_forward_pathways_are_measured_at_their_fixed_point() {
    let yaml = "name: recurrent\ntime: {dt: 1 ms, duration: 1 s}\ntask: {kind: linear_teacher, stimulus: {duration: 20 ms}, held_out: 5}\npopulations:\n  x: {role: input, size: 3}\n  h: {size: 4, tau: 5 ms}\n  y: {size: 2, tau: 5 ms}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.1, 0.1]}}\n  R: {from: h, to: h, init: {uniform: [-0.1, 0.1]}}\n  W2: {from: h, to: y, init: {uniform: [-0.1, 0.1]}}\nlearning: {rule: fa, output: y, tau_w: 2 s, plastic: [W1, W2]}\nrecord: {every: 100 ms, measure: [loss, gradient_alignment, loss_alignment, learning_strength, weight_alignment]}\n";
    let (rows, manifest) = run(yaml, &[1]);
    assert!(!manifest["notes"].to_string().contains("fixed point"));
    for column in [
        "gradient_angle_deg",
        "loss_angle_deg",
        "learning_strength",
        "held_out_loss",
    ] {
        assert_eq!(values(&rows, "all", column, 0.05).len(), 10, "{column}");
    }
    assert_eq!(values(&rows, "W1", "gradient_angle_deg", 0.05).len(), 10);
    assert!(
        !values(&rows, "B2", "weight_angle_deg", 0.0).is_empty(),
        "weight alignment needs no forward map"
    );
}

/// The signature is that of the rule that ran (its own ΔW over the window against ∫ u xᵀ): a
/// Hebbian rule on a linear unit moves W along ∫ z xᵀ = ∫ u xᵀ and reads +1, its anti-Hebbian
/// twin −1; a three-factor rule with θ_mx < 0 reads the opposite of the same rule with θ_mx > 0
/// (whose value is cos(∫ m xᵀ, ∫ u xᵀ), the definition for error-driven rules).
#[test]
fn hebbian_signature_is_that_of_the_rule_that_ran() {
    let hebbian = |rule: &str| {
        format!(
            "name: sig\ntime: {{dt: 0.5 ms, duration: 2 s}}\ntask: {{kind: linear_teacher, stimulus: {{duration: 20 ms}}, held_out: 20}}\npopulations:\n  x: {{role: input, size: 5}}\n  y: {{size: 3, tau: 0 ms}}\nprojections:\n  W: {{from: x, to: y, init: {{uniform: [-0.3, 0.3]}}}}\nlearning: {{rule: {rule}, tau_w: 50 s}}\nrecord: {{every: 500 ms, measure: [loss, hebbian_signature]}}\n"
        )
    };
    for (rule, want) in [("hebbian", 1.0), ("anti_hebbian", -1.0)] {
        let (rows, _) = run(&hebbian(rule), &[1]);
        let v = values(&rows, "W", "hebbian_signature", 0.0);
        assert_eq!(v.len(), 4, "{rule}: {v:?}");
        assert!(
            v.iter().all(|(_, s)| (s - want).abs() < 1e-9),
            "{rule}: {v:?}"
        );
    }
    let three_factor = |mx: f64| {
        format!(
            "name: sig\ntime: {{dt: 0.5 ms, duration: 500 ms}}\ntask: {{kind: linear_teacher, stimulus: {{duration: 20 ms}}, held_out: 20}}\npopulations:\n  x: {{role: input, size: 5}}\n  y: {{size: 3, tau: 0 ms}}\n  ystar: {{role: target, size: 3}}\n  e: {{role: error, size: 3}}\nprojections:\n  W: {{from: x, to: y, init: {{uniform: [-0.3, 0.3]}}}}\n  to_e_target: {{from: ystar, to: e, init: identity}}\n  to_e_output: {{from: y, to: e, init: identity, sign: -1}}\nmotifs:\n  - {{plastic: W, modulator: e, rule: {{m_x: {mx}}}, tau_w: 100000 s}}\nrecord: {{every: 500 ms, measure: [loss, hebbian_signature]}}\n"
        )
    };
    let signature = |mx: f64| {
        let (rows, _) = run(&three_factor(mx), &[1]);
        values(&rows, "W", "hebbian_signature", 0.0)[0].1
    };
    let (plus, minus) = (signature(1.0), signature(-1.0));
    assert!(plus.abs() > 0.05, "θ_mx = 1: {plus}");
    assert!(
        (plus + minus).abs() < 1e-4,
        "θ_mx = ±1 read {plus} and {minus}"
    );
}

/// Each measurement's declaration (`record::metrics::MetricDef`: the `record.measure` entries
/// that record a column, and through them the window sums, `backend::Accumulate::needed_by`)
/// against what a run records: asking for one measurement alone fills exactly the columns
/// declared for it and those every run records — none declared for another, and every one a
/// regression circuit with feedback defines.
#[test]
fn each_measurement_fills_the_columns_declared_for_it() {
    use hetsim::record::metrics::Metric;
    use hetsim::spec::Measure;
    let base = example("teacher_fa.yaml").replace("duration: 30 s", "duration: 0.2 s");
    assert!(
        base.contains("measure: ["),
        "teacher_fa.yaml names its measures"
    );
    for measure in [
        Measure::Loss,
        Measure::Accuracy,
        Measure::GradientAlignment,
        Measure::LossAlignment,
        Measure::WeightAlignment,
        Measure::HebbianSignature,
        Measure::LearningStrength,
    ] {
        let name = hetsim::plan::measure_name(measure);
        let start = base.find("measure: [").unwrap();
        let end = start + base[start..].find(']').unwrap() + 1;
        let yaml = format!("{}measure: [{name}]{}", &base[..start], &base[end..]);
        let (rows, _) = run(&yaml, &[1]);
        let filled: Vec<Metric> = Metric::ALL
            .into_iter()
            // The row at t = 0 holds the initial held-out loss in every run (the reference of
            // relative losses); the windows hold what was asked for.
            .filter(|m| {
                rows.iter()
                    .any(|r| r["time_s"].parse::<f64>().unwrap() > 0.0 && !r[m.column()].is_empty())
            })
            .collect();
        let declared: Vec<Metric> = Metric::ALL
            .into_iter()
            .filter(|m| {
                let by = m.def().recorded_by;
                by.is_empty() || by.contains(&measure)
            })
            // Accuracy needs a classification task; the first task's loss a task switch.
            .filter(|m| !matches!(m, Metric::Accuracy | Metric::HeldOutAccuracy))
            .filter(|m| *m != Metric::FirstTaskLoss)
            .collect();
        assert_eq!(filled, declared, "measure: [{name}]");
    }
}
