//! `hetsim evolve`: a small evolution finds a gradient-aligned rule, `best.yaml` re-runs to its
//! fitness, a resumed evolution writes the same tables as an uninterrupted one, and bad
//! evolution files are refused with located messages.

mod common;

use hetsim::backend::BackendKind;
use hetsim::evolve::{EvolveRequest, evolve};
use hetsim::experiment::{CircuitSource, Output, Request};
use std::path::{Path, PathBuf};

use common::hetsim;

fn teacher() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("circuits/teacher_fa.yaml")
        .display()
        .to_string()
}

/// An evolution file over the fa teacher's forward motifs.
fn evolve_file(dir: &Path, strategy: &str, free: &str) -> PathBuf {
    let text = format!(
        "name: test
circuit: {}
set: [\"time.duration=1 s\", \"task.held_out=30\", \"record.every=250 ms\"]
free:
{free}
strategy: {strategy}
seeds_per_member: 2
start: random
",
        teacher()
    );
    let path = dir.join("evolve.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

const FORWARD: &str = "  - {motif: W1, terms: [m_x, z_x], bounds: [-1.5, 1.5]}\n  - {motif: W2, terms: [m_x, z_x], bounds: [-1.5, 1.5]}";

fn request(path: &Path, out: &Path, generations: Option<u64>, resume: bool) -> EvolveRequest {
    EvolveRequest {
        path: path.to_path_buf(),
        out: Some(out.to_path_buf()),
        resume,
        replace: false,
        backend: BackendKind::Cpu,
        precision: None,
        backend_options: Default::default(),
        budget: Default::default(),
        generations,
        command_line: vec![],
    }
}

fn column(csv_text: &str, name: &str) -> Vec<f64> {
    let mut lines = csv_text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let c = header.iter().position(|h| *h == name).expect(name);
    lines
        .map(|l| l.split(',').nth(c).unwrap().parse().unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn a_small_evolution_finds_a_gradient_aligned_rule_that_reduces_the_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let path = evolve_file(
        tmp.path(),
        "{kind: cma_es, population: 8, sigma0: 0.6, generations: 8, seed: 2}",
        FORWARD,
    );
    let out = tmp.path().join("out");
    let outcome = evolve(&request(&path, &out, None, false), &mut |_| {}, None).unwrap();
    assert_eq!(outcome.generations_done, 8);
    assert!(
        outcome.best_fitness < 0.0,
        "no loss reduction: {}",
        outcome.best_fitness
    );
    let generations = std::fs::read_to_string(out.join("generations.csv")).unwrap();
    let fitness = column(&generations, "best_fitness");
    let angle = column(&generations, "best_gradient_angle_deg");
    let k = fitness
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0;
    assert!(
        angle[k] < 90.0,
        "the best rule's gradient angle is {}°",
        angle[k]
    );
    // The best rule uses the error: its m_x terms are positive.
    let best = |c: &str| {
        outcome
            .best_theta
            .iter()
            .find(|(n, _)| n == c)
            .map(|(_, v)| *v)
            .unwrap()
    };
    assert!(best("theta_m_x:W2") > 0.0, "{:?}", outcome.best_theta);
    let population = std::fs::read_to_string(out.join("population.csv")).unwrap();
    assert_eq!(population.lines().count(), 1 + 8 * 8);
}

#[test]
fn best_yaml_reruns_to_its_recorded_fitness() {
    let tmp = tempfile::tempdir().unwrap();
    let path = evolve_file(
        tmp.path(),
        "{kind: openai_es, population: 6, sigma: 0.3, learning_rate: 0.1, generations: 2, seed: 4}",
        "  - {motif: W1, terms: [m_x, z_x], bounds: [-1.5, 1.5]}\n  - {motif: W2, terms: [m_x], tau_w: [0.5 s, 5 s]}",
    );
    let out = tmp.path().join("out");
    let outcome = evolve(&request(&path, &out, None, false), &mut |_| {}, None).unwrap();
    let mut source = CircuitSource::file(out.join("best.yaml"));
    source.text = None;
    let done = Request {
        seeds: 2,
        first_seed: 1,
        output: Output::Memory,
        ..Request::new(source)
    }
    .prepare()
    .unwrap()
    .execute(&mut hetsim::run::Quiet, None)
    .unwrap();
    let rows = done.collected.unwrap().rows;
    let mut logs = Vec::new();
    for e in 0..2 {
        let losses: Vec<f64> = rows
            .iter()
            .filter(|r| r.instance == e && r.projection == "all")
            .filter_map(|r| r.held_out_loss)
            .collect();
        logs.push((losses.last().unwrap() / losses[0]).ln());
    }
    let fitness = (logs[0] + logs[1]) / 2.0;
    assert!(
        (fitness - outcome.best_fitness).abs() <= 1e-12 * fitness.abs().max(1.0),
        "best.yaml re-runs to {fitness}, the evolution recorded {}",
        outcome.best_fitness
    );
}

#[test]
fn a_resumed_evolution_writes_the_same_tables_as_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let path = evolve_file(
        tmp.path(),
        "{kind: cma_es, population: 6, sigma0: 0.5, generations: 4, seed: 3}",
        FORWARD,
    );
    let whole = tmp.path().join("whole");
    evolve(&request(&path, &whole, None, false), &mut |_| {}, None).unwrap();
    let parts = tmp.path().join("parts");
    evolve(&request(&path, &parts, Some(2), false), &mut |_| {}, None).unwrap();
    // A kill between writing generation 3's rows and saving its state leaves rows the state
    // does not know; the resume drops them.
    for table in ["generations.csv", "population.csv"] {
        let p = parts.join(table);
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("3,torn row\n");
        std::fs::write(&p, text).unwrap();
    }
    evolve(&request(&path, &parts, None, true), &mut |_| {}, None).unwrap();
    for table in ["generations.csv", "population.csv", "best.yaml"] {
        let a = std::fs::read(whole.join(table)).unwrap();
        let b = std::fs::read(parts.join(table)).unwrap();
        assert!(a == b, "{table} differs after resuming");
    }
    // Resuming a finished evolution runs nothing more; starting anew in its folder is refused.
    let again = evolve(&request(&path, &parts, None, false), &mut |_| {}, None);
    assert!(again.is_err());
}

#[test]
fn bad_evolution_files_are_refused_with_located_messages() {
    let cases: [(&str, &str, &str); 5] = [
        (
            "{kind: cma_es, population: 6, sigma0: 0.5, generations: 2}",
            "  - {motif: W1, terms: [m_x, hebb]}",
            "unknown term `hebb`",
        ),
        (
            "{kind: cma_es, population: 6, sigma0: 0.5, generations: 2}",
            "  - {motif: W1, terms: [m_x], bounds: [1, -1]}",
            "bounds must be finite and increasing",
        ),
        (
            "{kind: cma_es, population: 1, sigma0: 0.5, generations: 2}",
            "  - {motif: W1, terms: [m_x]}",
            "at least 2",
        ),
        (
            "{kind: cma_es, population: 6, sigma0: 0.5, generations: 2}",
            "  - {motif: W9, terms: [m_x]}",
            "no motif on `W9`",
        ),
        (
            "{kind: cma_es, population: 6, sigma0: 0.5, generations: 2, sigma: 3}",
            "  - {motif: W1, terms: [m_x]}",
            "sigma",
        ),
    ];
    for (strategy, free, expected) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let path = evolve_file(tmp.path(), strategy, free);
        let out = tmp.path().join("out");
        let result = hetsim(&[
            "evolve",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--backend",
            "cpu",
        ]);
        let err = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(2), "{expected}: {err}");
        assert!(err.contains(expected), "expected `{expected}` in: {err}");
        // Located: the evolution file, a line and a column.
        let prefix = format!("{}:", path.display());
        assert!(err.contains(&prefix), "{err}");
        assert!(!out.join("generations.csv").exists());
    }
}

/// The shipped experiments, one generation each (their full runs are in docs/evolution.md).
#[test]
fn the_shipped_evolutions_run_one_generation() {
    for name in ["evolve_forward", "evolve_feedback", "random_feedback_rules"] {
        let tmp = tempfile::tempdir().unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("configs")
            .join(format!("{name}.yaml"));
        let out = tmp.path().join("out");
        let mut outcome = evolve(&request(&path, &out, Some(1), false), &mut |_| {}, None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(outcome.generations_done, 1, "{name}");
        hetsim::drawing::evolution(&mut outcome);
        let population = std::fs::read_to_string(out.join("population.csv")).unwrap();
        assert!(population.lines().count() > 10, "{name}");
        assert!(
            out.join("figures/evolution.png").is_file(),
            "{name}: no figure"
        );
    }
}
