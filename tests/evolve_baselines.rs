//! Explicit-θ baselines (`baselines: [{name: …, theta: {MOTIF: {TERM: value}}}]`): scored
//! exactly as a rule baseline with the same circuit and as a member with the same θ, named in
//! the tables wherever rule baselines are, and refused with a located error when they name
//! no free motif, an unknown or unreadable term, a taken name or a non-finite value.

mod common;

use hetsim::backend::BackendKind;
use hetsim::evolve::{EvolveRequest, evolve};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::hetsim;

/// An evolution of the kp teacher's feedback rule B2 (kp's own B2 rule is θ_mx = 1, all
/// else 0) with the given strategy and baselines.
fn file(dir: &Path, name: &str, strategy: &str, baselines: &str) -> PathBuf {
    let text = format!(
        "name: theta-test
circuit: {}
set: [\"time.duration=1 s\", \"time.dt=0.5 ms\", \"task.held_out=30\", \"record.every=250 ms\", \"projections.W1.init={{uniform: [-0.3, 0.3]}}\", \"projections.W2.init={{uniform: [-0.3, 0.3]}}\"]
free:
  - {{motif: B2, terms: [m_x, z_x], bounds: [-1.5, 1.5]}}
strategy: {strategy}
seeds_per_member: 2
tasks: fresh
rates: [0.5, 1]
baselines:
{baselines}
",
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("circuits/teacher_kp.yaml")
            .display()
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

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

fn run(path: &Path, out: &Path) {
    evolve(&request(path, out, None, false), &mut |_| {}, None).unwrap();
}

/// The table's rows as maps from column to cell.
fn table(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn an_explicit_theta_equal_to_kps_rule_scores_exactly_as_the_kp_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    // `kp_theta` is kp's B2 rule written out; `kp_zx` adds a term, so it must differ (the θ
    // is really written). The kp teacher's B2 already has kp's rule: the equality checks
    // that an explicit θ is scored on the same seeds, rates and measurements as a rule
    // baseline, and that its θ replaces the motif's whole rule (z_x would be 0 either way).
    let path = file(
        tmp.path(),
        "evolve.yaml",
        "{kind: cma_es, population: 4, sigma0: 0.5, generations: 2, seed: 5}",
        "  - kp
  - {name: kp_theta, theta: {B2: {m_x: 1}}}
  - {name: kp_zx, theta: {B2: {m_x: 1, z_x: 0.5}}}
heldout: {seeds: 2, first_seed: 1001, shapes: [{name: wide, set: [\"populations.h.size=30\"]}]}",
    );
    let out = tmp.path().join("out");
    run(&path, &out);
    let rows = table(&out.join("generations.csv"));
    assert_eq!(rows.len(), 2);
    let columns: Vec<String> = rows[0]
        .keys()
        .filter_map(|k| k.strip_prefix("kp_").map(String::from))
        .filter(|k| !k.starts_with("theta_") && !k.starts_with("zx_"))
        .collect();
    for suffix in [
        "fitness",
        "rate",
        "gradient_angle_deg",
        "gradient_angle_deg:W1",
    ] {
        assert!(columns.iter().any(|c| c == suffix), "{columns:?}");
    }
    for row in &rows {
        assert!(row["kp_fitness"].parse::<f64>().unwrap().is_finite());
        for c in &columns {
            assert_eq!(
                row[&format!("kp_{c}")],
                row[&format!("kp_theta_{c}")],
                "{c}"
            );
        }
        assert_ne!(row["kp_fitness"], row["kp_zx_fitness"]);
    }
    // Held out, in both shapes: the same rows for kp and its θ, a different one for kp_zx.
    let held = table(&out.join("heldout.csv"));
    let rules: Vec<&str> = held.iter().map(|r| r["rule"].as_str()).collect();
    assert_eq!(
        rules,
        [
            "evolved", "kp", "kp_theta", "kp_zx", "evolved", "kp", "kp_theta", "kp_zx"
        ]
    );
    for shape in held.chunks(4) {
        let cells = |r: &HashMap<String, String>| {
            let mut v: Vec<(String, String)> = r
                .iter()
                .filter(|(k, _)| *k != "rule")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(cells(&shape[1]), cells(&shape[2]));
        assert_ne!(shape[1]["fitness"], shape[3]["fitness"]);
    }
    // Stopped after one generation and resumed: the same bytes as the run in one go.
    let parts = tmp.path().join("parts");
    evolve(&request(&path, &parts, Some(1), false), &mut |_| {}, None).unwrap();
    evolve(&request(&path, &parts, None, true), &mut |_| {}, None).unwrap();
    for f in ["generations.csv", "population.csv", "heldout.csv"] {
        assert!(
            std::fs::read(out.join(f)).unwrap() == std::fs::read(parts.join(f)).unwrap(),
            "{f} differs after resuming"
        );
    }
    // An explicit θ is part of the evolution file, which the state identifies by its hash:
    // changed, the resume is refused.
    let cut = tmp.path().join("cut");
    evolve(&request(&path, &cut, Some(1), false), &mut |_| {}, None).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("z_x: 0.5", "z_x: 0.25")).unwrap();
    let e = evolve(&request(&path, &cut, None, true), &mut |_| {}, None).unwrap_err();
    assert!(e.to_string().contains("differs from the copy"), "{e}");
}

#[test]
fn an_explicit_theta_equal_to_a_members_scores_exactly_as_that_member() {
    let tmp = tempfile::tempdir().unwrap();
    // One member drawn at random within the bounds; the first run says which θ it drew.
    let strategy = "{kind: random, samples: 1, batch: 1, seed: 9}";
    let first = file(tmp.path(), "first.yaml", strategy, "  - kp");
    run(&first, &tmp.path().join("first"));
    let member = &table(&tmp.path().join("first/population.csv"))[0];
    let (mx, zx) = (&member["theta_m_x:B2"], &member["theta_z_x:B2"]);
    assert_ne!(mx, "1");
    let second = file(
        tmp.path(),
        "second.yaml",
        strategy,
        &format!("  - {{name: drawn, theta: {{B2: {{m_x: {mx}, z_x: {zx}}}}}}}"),
    );
    run(&second, &tmp.path().join("second"));
    let again = &table(&tmp.path().join("second/population.csv"))[0];
    assert_eq!(again["fitness"], member["fitness"]);
    let row = &table(&tmp.path().join("second/generations.csv"))[0];
    assert!(row["drawn_fitness"].parse::<f64>().unwrap().is_finite());
    assert_eq!(row["drawn_fitness"], member["fitness"]);
    assert_eq!(row["drawn_rate"], member["rate"]);
    assert_eq!(
        row["drawn_gradient_angle_deg"],
        member["gradient_angle_deg"]
    );
}

#[test]
fn a_bad_explicit_theta_is_refused_where_it_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let path = file(
        tmp.path(),
        "bad.yaml",
        "{kind: cma_es, population: 4, sigma0: 0.5, generations: 1, seed: 5}",
        "  - kp
  - name: kp
    theta: {B2: {m_x: 1}}
  - name: oja
    theta: {B2: {m_x: 1}}
  - name: mine
    theta:
      W1: {m_x: 1}
      B2: {qz_x: 1, mx: 2, z_x: 1e300}",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let line_of = |needle: &str| 1 + text.lines().position(|l| l.contains(needle)).unwrap();
    let o = hetsim(&["validate", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let at = |line: usize| format!("{}:{line}:", path.display());
    for (line, message) in [
        (line_of("- name: kp"), "the baseline `kp` is listed twice"),
        (line_of("- name: oja"), "the baseline name `oja` is taken"),
        (line_of("W1: {m_x"), "`W1` is not a free motif"),
        (line_of("qz_x"), "`qz_x` reads the trace q"),
        (line_of("qz_x"), "unknown term `mx`"),
        (
            line_of("qz_x"),
            "θ must be finite and within ±1e6, got 1e300",
        ),
    ] {
        let found = err
            .lines()
            .any(|l| l.contains(&at(line)) && l.contains(message))
            || err.contains(&format!("{}\n", at(line))) && err.contains(message);
        assert!(found, "no `{message}` at line {line} in:\n{err}");
    }
    // A non-finite θ is refused as the file is read, at its place.
    std::fs::write(&path, text.replace("1e300", ".nan")).unwrap();
    let o = hetsim(&["validate", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&at(line_of("qz_x"))), "{err}");
    assert!(
        err.contains("z_x") && err.contains("not a finite number"),
        "{err}"
    );
}
