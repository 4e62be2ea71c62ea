//! `hetsim sweep`: expansion, seeds, shards, merge, resume after SIGKILL, failures, errors, and
//! the shipped sweeps at reduced size (the direction of each published result).

mod common;

use hetsim::backend::BackendKind;
use hetsim::sweep::tables::read_csv;
use hetsim::sweep::{Shard, SweepError, SweepRequest, dry_run, merge::merge, sweep};
use std::path::{Path, PathBuf};

/// A small linear teacher: 4 → 3 → 2, fa, 2 s at dt = 1 ms.
const CIRCUIT: &str = "name: small
time: {dt: 1 ms, duration: 2 s}
task:
  kind: linear_teacher
  teacher: {uniform: [-1, 1]}
  input_std: 0.5
  stimulus: {duration: 50 ms}
  held_out: 50
populations:
  x: {role: input, size: 4}
  h: {size: 3, tau: 5 ms}
  y: {size: 2, tau: 5 ms}
projections:
  W1: {from: x, to: h, init: {uniform: [-0.1, 0.1]}}
  W2: {from: h, to: y, init: {uniform: [-0.1, 0.1]}}
learning: {rule: fa, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 500 ms}
record: {every: 100 ms, measure: [loss, gradient_alignment]}
";

/// A temporary folder with the small circuit in `c.yaml`.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), CIRCUIT).unwrap();
    dir
}

fn write_sweep(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn request(path: &Path, out: &Path) -> SweepRequest {
    SweepRequest {
        out: Some(out.to_path_buf()),
        backend: BackendKind::Cpu,
        ..SweepRequest::new(path)
    }
}

fn run(path: &Path, out: &Path) -> hetsim::sweep::SweepOutcome {
    sweep(&request(path, out), &mut |_| {}, None).unwrap()
}

/// `summary.csv` as rows of named cells.
fn summary(dir: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let (header, rows) = read_csv(&dir.join("summary.csv")).unwrap();
    rows.into_iter()
        .map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

fn num(row: &std::collections::HashMap<String, String>, key: &str) -> f64 {
    row[key].parse().unwrap_or(f64::NAN)
}

#[test]
fn ratio_axes_resolve_against_each_point_and_grids_cover_every_combination() {
    let dir = folder();
    let path = write_sweep(
        dir.path(),
        "s.yaml",
        "name: r\ncircuit: c.yaml\nset: [time.duration=0.2 s]\naxes:\n  - path: T\n    values: [20 ms, 40 ms]\n  - ratio: tau_w/T\n    log: {from: 10, to: 1000, count: 3}\n",
    );
    let out = dir.path().join("out");
    let o = run(&path, &out);
    assert_eq!(o.points_done, 6);
    let rows = summary(&out);
    assert_eq!(rows.len(), 6);
    for r in &rows {
        // τ_w = (τ_w/T) × T, with T the point's own swept stimulus duration.
        let expected = num(r, "tau_w/T") * num(r, "T_s");
        assert!((num(r, "tau_w_s") - expected).abs() < 1e-12, "{r:?}");
        assert_eq!(r["status"], "completed");
    }
    let pairs: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (num(r, "T_s"), num(r, "tau_w/T")))
        .collect();
    assert_eq!(
        pairs,
        vec![
            (0.02, 10.0),
            (0.02, 100.0),
            (0.02, 1000.0),
            (0.04, 10.0),
            (0.04, 100.0),
            (0.04, 1000.0)
        ]
    );
    // The instances really ran with the resolved τ_w: instances.csv of the part records it.
    let part = out.join("parts/000000");
    let (h, inst) = read_csv(&part.join("instances.csv")).unwrap();
    let c = h
        .iter()
        .position(|x| x.starts_with("tau_w_s"))
        .expect("a τ_w column");
    let taus: Vec<f64> = inst.iter().map(|r| r[c].parse().unwrap()).collect();
    assert!(taus.contains(&0.2) && taus.contains(&40.0), "{taus:?}");
}

#[test]
fn zipped_axes_pair_values_and_unequal_lengths_are_refused_with_a_location() {
    let dir = folder();
    let path = write_sweep(
        dir.path(),
        "z.yaml",
        "name: z\ncircuit: c.yaml\nset: [time.duration=0.2 s]\ncombine: zip\naxes:\n  - {path: tau_w, values: [100 ms, 200 ms]}\n  - {path: weight_noise, values: [0, 0.001]}\n",
    );
    let d = dry_run(&SweepRequest::new(&path)).unwrap();
    assert_eq!(d.points.len(), 2);
    assert_eq!(d.points[1].2, vec!["0.2".to_string(), "0.001".to_string()]);
    let bad = write_sweep(
        dir.path(),
        "bad.yaml",
        "name: z\ncircuit: c.yaml\ncombine: zip\naxes:\n  - {path: tau_w, values: [100 ms, 200 ms]}\n  - {path: weight_noise, values: [0]}\n",
    );
    let e = dry_run(&SweepRequest::new(&bad)).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("bad.yaml:6:"), "{text}");
    assert!(text.contains("equal length"), "{text}");
}

#[test]
fn bad_sweep_files_get_located_errors() {
    let dir = folder();
    let cases = [
        (
            "name: b\ncircuit: c.yaml\naxes:\n  - {path: tau_w, valeus: [1 s]}\n",
            "4:",
            "valeus",
        ),
        (
            "name: b\ncircuit: c.yaml\naxes:\n  - {path: tau_w, values: [5]}\n",
            "4:",
            "unit",
        ),
        (
            "name: b\ncircuit: c.yaml\naxes:\n  - {path: tau_w, values: [5 ms, -1 ms]}\n",
            "4:",
            "negative",
        ),
        (
            "name: b\ncircuit: c.yaml\naxes:\n  - {ratio: tau_w, values: [5]}\n",
            "4:",
            "not a ratio",
        ),
        (
            "name: b\ncircuit: c.yaml\naxes:\n  - {ratio: tau_w/nothing.here, values: [5]}\n",
            "4:",
            "nothing.here",
        ),
        (
            "name: b\ncircuit: c.yaml\naxes:\n  - {path: tau_w, log: {from: 0 s, to: 1 s, count: 3}}\n",
            "4:",
            "positive",
        ),
        (
            "name: b\ncircuit: c.yaml\naxes: [{path: tau_w, values: [1 s]}]\nsummary:\n  - {measure: held_out_los, stat: final}\n",
            "5:",
            "not a column",
        ),
        (
            "name: b\ncircuit: c.yaml\naxes: [{path: tau_w, values: [1 s]}]\nsummary:\n  - {measure: loss, projection: W9, stat: final}\n",
            "5:",
            "W9",
        ),
    ];
    for (text, line, needle) in cases {
        let path = write_sweep(dir.path(), "b.yaml", text);
        let e = dry_run(&SweepRequest::new(&path)).unwrap_err();
        let shown = e.to_string();
        assert!(matches!(e, SweepError::Input(_)), "{shown}");
        assert!(
            shown.contains(&format!("b.yaml:{line}")),
            "{text}\n→ {shown}"
        );
        assert!(shown.contains(needle), "{text}\n→ {shown}");
    }
    // A value that makes an invalid circuit names the point.
    let path = write_sweep(
        dir.path(),
        "neg.yaml",
        "name: b\ncircuit: c.yaml\naxes:\n  - {path: populations.h.size, values: [3, 0]}\n",
    );
    let e = dry_run(&SweepRequest::new(&path)).unwrap_err().to_string();
    assert!(
        e.contains("the point size=0 does not make a valid circuit"),
        "{e}"
    );
    assert!(e.contains("size"), "{e}");
}

#[test]
fn point_seeds_and_results_do_not_change_when_an_axis_grows() {
    let dir = folder();
    let small = write_sweep(
        dir.path(),
        "a.yaml",
        "name: g\ncircuit: c.yaml\nset: [time.duration=0.3 s]\naxes: [{path: tau_w, values: [100 ms, 400 ms]}]\nseeds: 2\n",
    );
    let large = write_sweep(
        dir.path(),
        "b.yaml",
        "name: g\ncircuit: c.yaml\nset: [time.duration=0.3 s]\naxes: [{path: tau_w, values: [50 ms, 100 ms, 200 ms, 400 ms]}]\nseeds: 2\n",
    );
    run(&small, &dir.path().join("a"));
    run(&large, &dir.path().join("b"));
    let a = summary(&dir.path().join("a"));
    let b = summary(&dir.path().join("b"));
    assert_eq!(b.len(), 8);
    for ra in &a {
        let rb = b
            .iter()
            .find(|r| r["point_id"] == ra["point_id"] && r["replicate"] == ra["replicate"])
            .expect("the same point in the larger grid");
        assert_eq!(ra["seed"], rb["seed"]);
        let (x, y) = (
            num(ra, "held_out_loss_final"),
            num(rb, "held_out_loss_final"),
        );
        assert!((x - y).abs() <= 1e-9 * x.abs(), "{x} vs {y}");
    }
    // Replicates differ in seed; points differ in seed.
    assert_ne!(a[0]["seed"], a[1]["seed"]);
    assert_ne!(a[0]["seed"], a[2]["seed"]);
}

/// A sweep over τ_w of `values` (ms) of the small circuit, 0.1 s each, in ensembles of 64.
fn tau_sweep(dir: &Path, name: &str, values: &[usize]) -> PathBuf {
    let list: Vec<String> = values.iter().map(|v| format!("{v} ms")).collect();
    write_sweep(
        dir,
        name,
        &format!(
            "name: t\ncircuit: c.yaml\nset: [time.duration=0.1 s]\naxes: [{{path: tau_w, values: [{}]}}]\nensemble_size: 64\n",
            list.join(", ")
        ),
    )
}

#[test]
fn circuits_kept_from_the_checks_and_circuits_built_again_run_the_same_points() {
    // More points than the checks keep circuits for: the first ones run on the circuits the
    // checks built, the rest on circuits built again for their ensembles. In reverse order
    // the other points are kept, and every point's results must be the same either way.
    let n = hetsim::sweep::setup::KEPT_CIRCUITS + 44;
    let values: Vec<usize> = (0..n).map(|k| 100 + 3 * k).collect();
    let reversed: Vec<usize> = values.iter().rev().copied().collect();
    let dir = folder();
    let forward = tau_sweep(dir.path(), "f.yaml", &values);
    let backward = tau_sweep(dir.path(), "b.yaml", &reversed);
    assert_eq!(run(&forward, &dir.path().join("f")).points_done, n);
    assert_eq!(run(&backward, &dir.path().join("b")).points_done, n);
    let (f, b) = (
        summary(&dir.path().join("f")),
        summary(&dir.path().join("b")),
    );
    assert_eq!((f.len(), b.len()), (n, n));
    for rf in &f {
        let rb = b
            .iter()
            .find(|r| r["point_id"] == rf["point_id"])
            .expect("every point in both sweeps");
        for (column, cell) in rf {
            if column != "point" {
                assert_eq!(cell, &rb[column], "{column} of {}", rf["point_id"]);
            }
        }
    }
    // The points differ from each other (τ_w reaches the results).
    assert_ne!(f[0]["held_out_loss_final"], f[n - 1]["held_out_loss_final"]);
}

#[test]
fn an_invalid_point_after_the_kept_ones_is_refused_before_anything_is_written() {
    let dir = folder();
    let mut sizes: Vec<String> = (1..=hetsim::sweep::setup::KEPT_CIRCUITS + 10)
        .map(|k| k.to_string())
        .collect();
    sizes.push("0".into());
    let path = write_sweep(
        dir.path(),
        "bad.yaml",
        &format!(
            "name: b\ncircuit: c.yaml\naxes:\n  - {{path: populations.h.size, values: [{}]}}\n",
            sizes.join(", ")
        ),
    );
    let out = dir.path().join("out");
    let e = sweep(&request(&path, &out), &mut |_| {}, None).unwrap_err();
    let shown = e.to_string();
    assert!(matches!(e, SweepError::Point { .. }), "{shown}");
    assert!(
        shown.contains("the point size=0 does not make a valid circuit"),
        "{shown}"
    );
    assert!(
        !out.exists(),
        "nothing is written before every point is checked"
    );
}

#[test]
fn a_budget_setting_that_does_not_parse_fails_the_sweep_once_before_anything_is_written() {
    let dir = folder();
    let path = write_sweep(
        dir.path(),
        "s.yaml",
        "name: s\ncircuit: c.yaml\naxes: [{path: tau_w, values: [100 ms, 200 ms, 400 ms]}]\n",
    );
    let out = dir.path().join("out");
    let mut r = request(&path, &out);
    r.budget = hetsim::circuit::budget::Budget::from_setting(Err("`lots` is not a size".into()));
    let e = sweep(&r, &mut |_| {}, None).unwrap_err();
    let shown = e.to_string();
    assert!(matches!(e, SweepError::Input(_)), "{shown}");
    // Located at the setting's name, said once (not once per point).
    assert_eq!(shown.matches("`lots` is not a size").count(), 1, "{shown}");
    assert!(shown.contains("HETSIM_MEMORY_BUDGET"), "{shown}");
    assert!(!out.exists(), "nothing is written");
}

fn grid_sweep(dir: &Path) -> PathBuf {
    write_sweep(
        dir,
        "grid.yaml",
        "name: grid\ncircuit: c.yaml\nset: [time.duration=0.3 s]\naxes:\n  - {path: tau_w, values: [100 ms, 200 ms, 400 ms]}\n  - {path: weight_noise, values: [0, 0.0001]}\nrules: [fa, sgd]\nseeds: 2\nensemble_size: 4\n",
    )
}

#[test]
fn shards_hold_every_point_exactly_once() {
    let dir = folder();
    let path = grid_sweep(dir.path());
    let all = dry_run(&SweepRequest::new(&path)).unwrap();
    assert_eq!(all.points.len(), 6);
    // ensemble_size 4 = one point (2 rules × 2 seeds) per ensemble.
    assert_eq!(all.ensembles.len(), 6);
    for n in [1, 2, 3, 4, 7] {
        let mut seen = Vec::new();
        for i in 0..n {
            let d = dry_run(&SweepRequest {
                shard: Some(Shard { index: i, count: n }),
                ..SweepRequest::new(&path)
            })
            .unwrap();
            seen.extend(d.points.iter().map(|p| p.1.clone()));
        }
        seen.sort();
        let mut expected: Vec<String> = all.points.iter().map(|p| p.1.clone()).collect();
        expected.sort();
        assert_eq!(seen, expected, "{n} shards");
    }
}

#[test]
fn merged_shards_equal_the_whole_sweep_and_gaps_or_duplicates_are_refused() {
    let dir = folder();
    let path = grid_sweep(dir.path());
    let whole = dir.path().join("whole");
    run(&path, &whole);
    let shard = |i: usize| {
        let out = dir.path().join(format!("shard{i}"));
        let r = SweepRequest {
            shard: Some(Shard { index: i, count: 3 }),
            ..request(&path, &out)
        };
        sweep(&r, &mut |_| {}, None).unwrap();
        out
    };
    let shards: Vec<PathBuf> = (0..3).map(shard).collect();
    // A gap: shard 2 left out.
    let e = merge(&shards[..2], &dir.path().join("m1"), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 of 6 points are not finished"), "{e}");
    assert!(e.contains("shard(s) 2 of 3"), "{e}");
    // A duplicate: shard 0 given twice.
    let twice = vec![
        shards[0].clone(),
        shards[0].clone(),
        shards[1].clone(),
        shards[2].clone(),
    ];
    let e = merge(&twice, &dir.path().join("m2"), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("finished more than once"), "{e}");
    let merged = dir.path().join("merged");
    let o = merge(&shards, &merged, &[]).unwrap();
    assert_eq!((o.points, o.rows), (6, 24));
    let (a, b) = (summary(&whole), summary(&merged));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        for key in ["point", "point_id", "rule", "replicate", "seed", "status"] {
            assert_eq!(x[key], y[key]);
        }
        let (u, v) = (num(x, "held_out_loss_final"), num(y, "held_out_loss_final"));
        assert!((u - v).abs() <= 1e-9 * u.abs(), "{u} vs {v}");
    }
    // The merged metrics hold every point's series.
    let (h, rows) = read_csv(&merged.join("metrics.csv")).unwrap();
    assert_eq!(&h[..3], &["point_id", "rule", "seed"]);
    let ids: std::collections::HashSet<&String> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(ids.len(), 6);
}

#[test]
fn a_diverging_point_is_recorded_as_failed_and_the_others_finish() {
    let dir = folder();
    // At τ_w = 1 ms each stimulus overshoots and the circuit explodes; at 10 s it learns slowly.
    let path = write_sweep(
        dir.path(),
        "f.yaml",
        "name: f\ncircuit: c.yaml\nset: [time.duration=1 s]\naxes: [{path: tau_w, values: [1 ms, 10 s]}]\nensemble_size: 1\n",
    );
    let out = dir.path().join("out");
    let o = run(&path, &out);
    assert_eq!(o.points_done, 2);
    let rows = summary(&out);
    let fast = rows.iter().find(|r| num(r, "tau_w_s") == 0.001).unwrap();
    let slow = rows.iter().find(|r| num(r, "tau_w_s") == 10.0).unwrap();
    assert_eq!(fast["status"], "failed", "{fast:?}");
    assert!(fast["reason"].contains("diverged"), "{fast:?}");
    assert!(num(fast, "failed_at_s") > 0.0);
    assert_eq!(fast["held_out_loss_final"], "");
    assert_eq!(slow["status"], "completed", "{slow:?}");
    assert!(num(slow, "held_out_loss_final").is_finite());
}

#[test]
fn an_occupied_directory_is_refused_and_resume_checks_the_sweep() {
    let dir = folder();
    let path = write_sweep(
        dir.path(),
        "o.yaml",
        "name: o\ncircuit: c.yaml\nset: [time.duration=0.2 s]\naxes: [{path: tau_w, values: [100 ms]}]\n",
    );
    let out = dir.path().join("out");
    run(&path, &out);
    let e = sweep(&request(&path, &out), &mut |_| {}, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--resume"), "{e}");
    // Resuming a finished sweep runs nothing and keeps its summary.
    let before = std::fs::read(out.join("summary.csv")).unwrap();
    let o = sweep(
        &SweepRequest {
            resume: true,
            ..request(&path, &out)
        },
        &mut |_| {},
        None,
    )
    .unwrap();
    assert_eq!((o.ensembles_run, o.points_resumed), (0, 1));
    assert_eq!(before, std::fs::read(out.join("summary.csv")).unwrap());
    // Another seed count is another sweep.
    std::fs::write(
        &path,
        std::fs::read_to_string(&path).unwrap() + "seeds: 3\n",
    )
    .unwrap();
    let e = sweep(
        &SweepRequest {
            resume: true,
            ..request(&path, &out)
        },
        &mut |_| {},
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("cannot resume"), "{e}");
}

/// `hetsim sweep PATH --out OUT --backend cpu --no-plots EXTRA…`, which must succeed.
fn cli_sweep(path: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "sweep",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--no-plots",
    ];
    args.extend(extra);
    let status = common::hetsim(&args);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// Kills `hetsim sweep` with SIGKILL once `parts` finished ensembles exist (plus `extra_ms`).
fn run_and_kill(path: &Path, out: &Path, parts: usize, extra_ms: u64) -> bool {
    let mut args = vec![
        "sweep".to_string(),
        path.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--backend".into(),
        "cpu".into(),
        "--no-plots".into(),
    ];
    if out.join("manifest.json").exists() {
        args.push("--resume".into());
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hetsim"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let done = hetsim::sweep::tables::finished_parts(out).len();
        if done >= parts {
            std::thread::sleep(std::time::Duration::from_millis(extra_ms));
            break;
        }
        if started.elapsed().as_secs() > 300 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}

#[test]
fn a_sweep_killed_at_several_moments_and_resumed_equals_an_uninterrupted_one() {
    let dir = folder();
    let path = write_sweep(
        dir.path(),
        "k.yaml",
        "name: k\ncircuit: c.yaml\nset: [time.duration=5 s, time.dt=0.1 ms, populations.h.size=40]\naxes: [{path: tau_w, log: {from: 100 ms, to: 10 s, count: 10}}]\nrules: [fa, kp]\nseeds: 2\nensemble_size: 4\n",
    );
    let whole = dir.path().join("whole");
    cli_sweep(&path, &whole, &[]);
    let killed = dir.path().join("killed");
    // Kill during the first ensemble, just after a rename, and mid-way through later ones.
    let mut kills = 0;
    for (parts, extra) in [(0, 20), (1, 0), (3, 10), (6, 25)] {
        if run_and_kill(&path, &killed, parts, extra) {
            kills += 1;
        }
        // A killed sweep never shows a torn part: every finished part has its tables, and
        // summary.csv holds whole points only (2 rules × 2 seeds each).
        for part in hetsim::sweep::tables::finished_parts(&killed) {
            assert!(part.join("points.csv").is_file() && part.join("metrics.csv").is_file());
        }
        if killed.join("summary.csv").exists() {
            let (_, rows) = read_csv(&killed.join("summary.csv")).unwrap();
            assert_eq!(rows.len() % 4, 0, "{} rows", rows.len());
        }
    }
    assert!(kills >= 2, "the sweep finished before it could be killed");
    cli_sweep(&path, &killed, &["--resume"]);
    assert_eq!(
        std::fs::read_to_string(whole.join("summary.csv")).unwrap(),
        std::fs::read_to_string(killed.join("summary.csv")).unwrap()
    );
    let (_, a) = read_csv(&whole.join("metrics.csv")).unwrap();
    let (_, b) = read_csv(&killed.join("metrics.csv")).unwrap();
    assert_eq!(a.len(), b.len());
}

#[test]
fn the_command_line_dry_runs_sweeps_and_redraws_their_figures() {
    let dir = folder();
    let path = grid_sweep(dir.path());
    let p = path.to_str().unwrap();
    let dry = common::hetsim(&["sweep", p, "--dry-run", "--shard", "1/2"]);
    assert!(dry.status.success());
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains("3 point(s) (shard 1/2 of 6 in all) × 2 rule(s) [fa, sgd] × 2 seed(s)"),
        "{text}"
    );
    assert!(text.contains("3 ensemble(s)"), "{text}");
    let out = dir.path().join("out");
    let run = common::hetsim(&[
        "sweep",
        p,
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Two axes: one heat map per summary column, redrawn from the files alone.
    let figures = out.join("figures");
    std::fs::remove_dir_all(&figures).unwrap();
    let plot = common::hetsim(&["plot", out.to_str().unwrap()]);
    assert!(
        plot.status.success(),
        "{}",
        String::from_utf8_lossy(&plot.stderr)
    );
    let png = std::fs::read(figures.join("sweep_held_out_loss_final.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let bad = common::hetsim(&["sweep", p, "--shard", "2/2", "--dry-run"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("0 ≤ I < N"));
}

#[test]
fn ctrl_c_stops_a_sweep_as_interrupted_and_resume_finishes_it() {
    let dir = folder();
    let path = write_sweep(
        dir.path(),
        "i.yaml",
        "name: i\ncircuit: c.yaml\nset: [time.duration=2 s, time.dt=0.1 ms, populations.h.size=40]\naxes: [{path: tau_w, log: {from: 100 ms, to: 10 s, count: 12}}]\nrules: [fa, kp]\nseeds: 2\nensemble_size: 4\n",
    );
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hetsim"))
        .args([
            "sweep",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--backend",
            "cpu",
            "--no-plots",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while hetsim::sweep::tables::finished_parts(&out).is_empty()
        && started.elapsed().as_secs() < 120
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // SAFETY: sends SIGINT to the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    if status.code() == Some(0) {
        // The sweep finished before the signal arrived: nothing to check on this machine.
        return;
    }
    assert_eq!(status.code(), Some(130));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "interrupted");
    let done = manifest["points_done"].as_u64().unwrap();
    assert!((1..12).contains(&done), "{done}");
    assert_eq!(summary(&out).len() as u64, done * 4);
    let r = sweep(
        &SweepRequest {
            resume: true,
            ..request(&path, &out)
        },
        &mut |_| {},
        None,
    )
    .unwrap();
    assert_eq!(r.points_done, 12);
    assert_eq!(r.points_resumed as u64, done);
    assert_eq!(summary(&out).len(), 48);
}
