//! The four-synapse circuit on every shape it ships for: `circuits/four_synapse.yaml` (the
//! 30-20-10 linear teacher), `four_synapse_tanh.yaml` (a 20-40-5 tanh network on a tanh
//! teacher), `four_synapse_two_levels.yaml` (the motif at both levels of two tanh hidden layers)
//! and `four_synapse_digits.yaml` (the digits), each run for its shipped duration against the
//! matching sgd circuit (same task, sizes, initial weights, duration and seeds), and its
//! ablations: the cross synapses frozen at their random init (their motifs removed, so they are
//! fixed projections) and no decay (every `tau_decay` removed). The tests run seeds 1–3; the
//! bounds were measured on seeds 1–5 (and for the teacher and digits 4–9 as well; docs/motifs.md
//! "Heterosynaptic motifs") and leave room for the spread seen across them.

use hetsim::experiment::{CircuitSource, Output, Request};
use hetsim::record::Collector;
use hetsim::record::tables::Stage;
use hetsim::run::Quiet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const SEEDS: usize = 3;

fn circuit(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("circuits")
        .join(name)
}

/// How one instance ended.
#[derive(Debug)]
struct End {
    /// Diverged (and frozen) before the end.
    diverged: bool,
    /// The held-out loss and accuracy of the last recorded window.
    loss: f64,
    accuracy: Option<f64>,
    /// The held-out loss before any learning, and the lowest of any window.
    first_loss: f64,
    best_loss: f64,
    /// ∠(B, Wᵀ) of every feedback matrix B at the first and the last window, by name.
    angles: Vec<(String, f64, f64)>,
    /// ‖C − I‖_F / √n at the start and the end of every cross synapse C_down… by name (weights
    /// are recorded for instance 0 only).
    cross_distance: Vec<(String, f64, f64)>,
}

/// Runs a shipped circuit (its text edited by `edit`, with `--set` overrides) for `SEEDS`
/// seeds on the CPU in f64, into memory.
fn run(name: &str, edit: &dyn Fn(&str) -> String, sets: &[(&str, &str)]) -> Vec<End> {
    let path = circuit(name);
    let text = edit(&std::fs::read_to_string(&path).unwrap());
    let source = CircuitSource {
        path,
        text: Some(text),
        sets: sets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..CircuitSource::default()
    };
    let finished = Request {
        seeds: SEEDS,
        output: Output::Memory,
        ..Request::new(source)
    }
    .prepare()
    .unwrap_or_else(|e| panic!("{name}: {e}"))
    .execute(&mut Quiet, None)
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let collected: Collector = finished.collected.expect("memory output collects");
    (0..SEEDS)
        .map(|i| {
            let all: Vec<_> = collected
                .rows
                .iter()
                .filter(|r| r.instance == i && r.projection == "all")
                .filter(|r| r.held_out_loss.is_some())
                .collect();
            let last = all.last().expect("at least one window");
            let mut angles: Vec<(String, f64, f64)> = Vec::new();
            for r in collected.rows.iter().filter(|r| r.instance == i) {
                let (Some(a), false) = (r.weight_angle_deg, r.projection == "all") else {
                    continue;
                };
                match angles.iter_mut().find(|(name, _, _)| *name == r.projection) {
                    Some(entry) => entry.2 = a,
                    None => angles.push((r.projection.clone(), a, a)),
                }
            }
            let distance = |name: &str, stage: Stage| {
                let w: Vec<_> = collected
                    .weights
                    .iter()
                    .filter(|w| w.instance == i && w.projection == name && w.stage == stage)
                    .collect();
                let n = w.iter().map(|w| w.row + 1).max()?;
                let sq: f64 = w
                    .iter()
                    .map(|w| (w.value - if w.row == w.col { 1.0 } else { 0.0 }).powi(2))
                    .sum();
                Some((sq / n as f64).sqrt())
            };
            let mut cross: Vec<String> = collected
                .weights
                .iter()
                .filter(|w| w.projection.starts_with("C_down"))
                .map(|w| w.projection.clone())
                .collect();
            cross.sort();
            cross.dedup();
            let cross_distance = cross
                .into_iter()
                .filter_map(|c| {
                    let start = distance(&c, Stage::Start)?;
                    let end = distance(&c, Stage::End)?;
                    Some((c, start, end))
                })
                .collect();
            End {
                diverged: collected.failures.iter().any(|f| f.instance == i),
                loss: last.held_out_loss.unwrap(),
                accuracy: last.held_out_accuracy,
                first_loss: all[0].held_out_loss.unwrap(),
                best_loss: all
                    .iter()
                    .filter_map(|r| r.held_out_loss)
                    .fold(f64::INFINITY, f64::min),
                angles,
                cross_distance,
            }
        })
        .collect()
}

/// The circuit with the cross synapses' motifs removed: C_up and C_down (at every level) stay
/// at their init.
fn frozen(text: &str) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("{plastic: C_up") && !l.contains("{plastic: C_down"))
        .collect();
    let removed = text.lines().count() - kept.len();
    assert!(
        removed >= 2 && removed.is_multiple_of(2),
        "cross motifs in pairs"
    );
    kept.join("\n") + "\n"
}

/// The circuit with every motif's decay removed.
fn no_decay(text: &str) -> String {
    let mut removed = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|l| match l.split_once(", tau_decay:") {
            Some((head, _)) => {
                removed += 1;
                format!("{head}}}")
            }
            None => l.to_string(),
        })
        .collect();
    assert!(removed >= 2, "W2 and B2 decay");
    lines.join("\n") + "\n"
}

fn same(text: &str) -> String {
    text.to_string()
}

/// One task's four runs.
struct Task {
    sgd: Vec<End>,
    full: Vec<End>,
    frozen: Vec<End>,
    no_decay: Vec<End>,
}

fn task(file: &str, sgd_file: &str, sgd_sets: &[(&str, &str)]) -> Task {
    // The four runs are independent ensembles of 3 instances (one SIMD block each, so one
    // thread each): run them side by side.
    std::thread::scope(|s| {
        let sgd = s.spawn(|| run(sgd_file, &same, sgd_sets));
        let frozen = s.spawn(|| run(file, &frozen, &[]));
        let no_decay = s.spawn(|| run(file, &no_decay, &[]));
        let full = run(file, &same, &[]);
        Task {
            sgd: sgd.join().unwrap(),
            full,
            frozen: frozen.join().unwrap(),
            no_decay: no_decay.join().unwrap(),
        }
    })
}

fn teacher() -> &'static Task {
    static T: OnceLock<Task> = OnceLock::new();
    T.get_or_init(|| {
        task(
            "four_synapse.yaml",
            "teacher_sgd.yaml",
            &[("time.duration", "60 s")],
        )
    })
}

fn digits() -> &'static Task {
    static T: OnceLock<Task> = OnceLock::new();
    T.get_or_init(|| {
        task(
            "four_synapse_digits.yaml",
            "digits_tanh.yaml",
            &[("learning.rule", "sgd"), ("time.duration", "120 s")],
        )
    })
}

fn tanh() -> &'static Task {
    static T: OnceLock<Task> = OnceLock::new();
    T.get_or_init(|| task("four_synapse_tanh.yaml", "teacher_tanh_sgd.yaml", &[]))
}

fn two_levels() -> &'static Task {
    static T: OnceLock<Task> = OnceLock::new();
    T.get_or_init(|| {
        task(
            "four_synapse_two_levels.yaml",
            "teacher_tanh_two_levels_sgd.yaml",
            &[],
        )
    })
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

fn mean_loss(ends: &[End]) -> f64 {
    assert!(ends.iter().all(|e| !e.diverged), "{ends:?}");
    mean(ends.iter().map(|e| e.loss))
}

fn mean_accuracy(ends: &[End]) -> f64 {
    assert!(ends.iter().all(|e| !e.diverged), "{ends:?}");
    mean(
        ends.iter()
            .map(|e| e.accuracy.expect("a classification task")),
    )
}

/// The last angle of every feedback matrix of every instance.
fn angles(ends: &[End]) -> Vec<f64> {
    let all: Vec<f64> = ends
        .iter()
        .flat_map(|e| e.angles.iter().map(|(_, _, last)| *last))
        .collect();
    assert!(!all.is_empty(), "a feedback matrix records its angle");
    all
}

#[test]
fn teacher_reaches_a_held_out_loss_within_a_quarter_of_sgds() {
    let t = teacher();
    let (full, sgd) = (mean_loss(&t.full), mean_loss(&t.sgd));
    eprintln!(
        "teacher held-out loss at 60 s: four-synapse {full:.4}, sgd {sgd:.4} ({:.2}×)",
        full / sgd
    );
    // Measured 1.09× (seeds 1–3), 0.93× (4–6), 0.76× (7–9).
    assert!(full <= 1.25 * sgd, "{full} against sgd's {sgd}");
}

#[test]
fn tanh_teacher_reaches_a_held_out_loss_within_a_quarter_of_sgds() {
    let t = tanh();
    let (full, sgd) = (mean_loss(&t.full), mean_loss(&t.sgd));
    eprintln!(
        "tanh teacher held-out loss at 90 s: four-synapse {full:.4}, sgd {sgd:.4} ({:.2}×)",
        full / sgd
    );
    // Measured 0.93× (seeds 1–5).
    assert!(full <= 1.25 * sgd, "{full} against sgd's {sgd}");
}

#[test]
fn two_levels_reach_a_held_out_loss_within_a_quarter_of_sgds() {
    let t = two_levels();
    let (full, sgd) = (mean_loss(&t.full), mean_loss(&t.sgd));
    let sgd_best = mean(t.sgd.iter().map(|e| e.best_loss));
    eprintln!(
        "two levels held-out loss at 150 s: four-synapse {full:.4}, sgd {sgd:.4} ({:.2}×), \
         sgd's best window {sgd_best:.4}",
        full / sgd
    );
    // Measured 0.52× sgd at 150 s and 1.13× sgd's best mean window (seeds 1–5): sgd is at its
    // best near 18 s and then degrades; the bound holds against either.
    assert!(full <= 1.25 * sgd, "{full} against sgd's {sgd}");
    assert!(
        full <= 1.5 * sgd_best,
        "{full} against sgd's best {sgd_best}"
    );
}

#[test]
fn digits_reach_sgds_accuracy_within_two_points() {
    let d = digits();
    let (full, sgd) = (mean_accuracy(&d.full), mean_accuracy(&d.sgd));
    let (full_loss, sgd_loss) = (mean_loss(&d.full), mean_loss(&d.sgd));
    eprintln!(
        "digits held-out accuracy at 120 s: four-synapse {full:.4}, sgd {sgd:.4}; \
         loss {full_loss:.4} against {sgd_loss:.4}"
    );
    // Measured −0.9 points (seeds 1–3), −0.5 (4–6), +0.2 (7–9).
    assert!(full >= sgd - 0.02, "accuracy {full} against sgd's {sgd}");
    assert!(
        full_loss <= 1.25 * sgd_loss,
        "loss {full_loss} against {sgd_loss}"
    );
}

/// Every feedback matrix starts random (far from the transpose of its forward matrix) and ends
/// within 10° of it on every seed, and the cross synapse `cross` that the output error teaches
/// assembles into the identity from its random start (instance 0, whose weights are recorded).
fn assert_self_assembles(task: &str, ends: &[End], cross: &str) {
    for e in ends {
        assert!(!e.angles.is_empty(), "{task}: no feedback angle recorded");
        for (b, first, last) in &e.angles {
            eprintln!("{task}: ∠({b}, Wᵀ) {first:.1}° at the first window, {last:.2}° at the end");
            assert!(*first > 45.0, "{task}: {b} starts unaligned ({first}°)");
            assert!(*last < 10.0, "{task}: {b} ends at {last}°");
        }
    }
    for (c, start, end) in &ends[0].cross_distance {
        eprintln!("{task}: ‖{c} − I‖/√n {start:.3} at the start, {end:.4} at the end");
    }
    let (_, start, end) = ends[0]
        .cross_distance
        .iter()
        .find(|(c, _, _)| c == cross)
        .unwrap_or_else(|| panic!("{task}: instance 0 records {cross}"));
    // Measured: 1.37 → below 1e-4 (teacher), 1.37 → 0.13–0.15 (digits, where the error,
    // C_down's only teacher, has become small). A cross synapse one level down (C_down1, taught
    // by the hidden error dh2, which spans few directions) assembles only on that span.
    assert!(*start > 1.0, "{task}: {cross} starts random ({start})");
    assert!(
        *end < 0.2 * start,
        "{task}: {cross} ends near the identity ({end})"
    );
}

#[test]
fn teacher_feedback_aligns_with_the_forward_weights() {
    assert_self_assembles("teacher", &teacher().full, "C_down");
}

#[test]
fn tanh_teacher_feedback_aligns_with_the_forward_weights() {
    assert_self_assembles("tanh teacher", &tanh().full, "C_down");
}

#[test]
fn two_levels_feedback_aligns_at_both_levels() {
    let ends = &two_levels().full;
    for e in ends {
        let mut names: Vec<&str> = e.angles.iter().map(|(b, _, _)| b.as_str()).collect();
        names.sort();
        assert_eq!(names, ["B2", "B3"], "both levels record their angle");
    }
    assert_self_assembles("two levels", ends, "C_down2");
}

#[test]
fn digits_feedback_aligns_with_the_forward_weights() {
    assert_self_assembles("digits", &digits().full, "C_down");
}

/// Frozen random cross synapses deliver a randomly mixed error to W2 (and a mixed activity to
/// B2): not a descent direction, so the held-out loss never falls below its start.
fn assert_frozen_cross_synapses_fail(task: &str, t: &Task) {
    let full = mean_loss(&t.full);
    for e in &t.frozen {
        eprintln!(
            "{task} frozen cross synapses: held-out loss {:.3} at the start, best {:.3} \
             (full circuit {full:.3} at the end), diverged: {}",
            e.first_loss, e.best_loss, e.diverged
        );
        // Measured on seeds 1–6 (teacher, digits): the best loss is the first (within 1%),
        // 3.7–60× the full circuit's; each seed diverges (teacher by 3 s, digits by 15 s) or,
        // two digits seeds, ends at chance accuracy. On the tanh teacher one seed of 1–3 first
        // dips to 0.86× its start (still 10× the full circuit) before it diverges.
        assert!(e.best_loss > 0.8 * e.first_loss, "{task}: {e:?}");
        assert!(e.best_loss > 2.0 * full, "{task}: {e:?}");
    }
}

#[test]
fn teacher_with_frozen_cross_synapses_fails() {
    assert_frozen_cross_synapses_fail("teacher", teacher());
}

#[test]
fn digits_with_frozen_cross_synapses_fail() {
    assert_frozen_cross_synapses_fail("digits", digits());
}

#[test]
fn teacher_without_decay_ends_worse_and_unaligned() {
    // Measured 1.26 against 0.20 and 33–36° (seeds 1–3), likewise on 4–6.
    assert_without_decay_worse_and_unaligned("teacher", teacher(), 3.0);
}

#[test]
fn digits_without_decay_learn_but_stay_unaligned() {
    // On the digits, decay costs accuracy rather than buying it (without it: 94.9% against
    // 93.5%): what it buys is the alignment. So only the angle is asserted here.
    let d = digits();
    let a = angles(&d.no_decay);
    eprintln!(
        "digits without decay: accuracy {:.4} (full {:.4}), angles {a:.1?}",
        mean_accuracy(&d.no_decay),
        mean_accuracy(&d.full)
    );
    // Measured 57° on every seed.
    assert!(a.iter().all(|&a| a > 30.0), "{a:?}");
}

#[test]
fn tanh_teacher_with_frozen_cross_synapses_fails() {
    // Measured (seeds 1–5): every seed diverges within 9 s.
    assert_frozen_cross_synapses_fail("tanh teacher", tanh());
}

#[test]
fn two_levels_with_frozen_cross_synapses_fail() {
    // Measured (seeds 1–3): every seed diverges within 7 s.
    assert_frozen_cross_synapses_fail("two levels", two_levels());
}

/// Without decay nothing removes the random part of the feedback: the angles stay far from 0
/// and the loss ends worse than with decay.
fn assert_without_decay_worse_and_unaligned(task: &str, t: &Task, loss_factor: f64) {
    let (full, none) = (mean_loss(&t.full), mean_loss(&t.no_decay));
    let a = angles(&t.no_decay);
    eprintln!("{task} without decay: held-out loss {none:.3} (full {full:.3}), angles {a:.1?}");
    assert!(none > loss_factor * full, "loss {none} against {full}");
    assert!(a.iter().all(|&a| a > 20.0), "{a:?}");
}

#[test]
fn tanh_teacher_without_decay_ends_worse_and_unaligned() {
    // Measured (seeds 1–5): 0.122 against 0.075 (1.6×), 35–38°.
    assert_without_decay_worse_and_unaligned("tanh teacher", tanh(), 1.2);
}

#[test]
fn two_levels_without_decay_end_worse_and_unaligned() {
    // Measured (seeds 1–3): 0.314 against 0.112 (2.8×), ∠B2 32–34°, ∠B3 58–66°.
    assert_without_decay_worse_and_unaligned("two levels", two_levels(), 1.5);
}
