//! Issue 27, sweeps: sizes refused before expansion, merges and resumes that compare what makes
//! results comparable, parts checked whole, the directory locked, names and columns refused
//! where they would collide or escape, dependent ratio axes refused, and located messages —
//! through the library and, where the process matters (memory, exit codes), the binary under
//! a memory limit. Also replays the `sweep` fuzz target's corpus.

use hetsim::backend::{BackendKind, Precision};
use hetsim::sweep::run::SweepManifest;
use hetsim::sweep::{SweepError, SweepRequest, dry_run, merge::merge, setup, sweep};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hetsim");
/// Virtual memory a child may map, in KiB (1 GiB).
const MEMORY_KIB: u64 = 1 << 20;

/// A small linear teacher: 4 → 3 → 2, fa, 0.2 s at dt = 1 ms.
const CIRCUIT: &str = "name: small
time: {dt: 1 ms, duration: 200 ms}
task:
  kind: linear_teacher
  teacher: {uniform: [-1, 1]}
  input_std: 0.5
  stimulus: {duration: 50 ms}
  held_out: 20
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

/// Held by every test of this file: a child spawned by one test inherits, until it execs, the
/// open lock file of a sweep another test is running, and holds that directory's lock a moment
/// past the sweep's end (flock belongs to the open file, which the fork shares).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), CIRCUIT).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
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

fn run(r: &SweepRequest) -> Result<hetsim::sweep::SweepOutcome, SweepError> {
    sweep(r, &mut |_| {}, None)
}

/// Every file of a directory tree with its bytes, for "nothing changed" checks.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".hetsim-lock") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A refusal of bad input, its message containing every piece.
fn refused(r: Result<impl std::fmt::Debug, SweepError>, pieces: &[&str]) -> String {
    let e = r.expect_err("refused");
    let text = e.to_string();
    assert!(e.is_bad_input(), "not a bad-input refusal: {text}");
    for p in pieces {
        assert!(text.contains(p), "missing {p:?} in:\n{text}");
    }
    text
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs the binary under the memory limit in `cwd`, killed after `limit`.
fn hetsim(args: &[&str], cwd: &Path, limit: Duration) -> Outcome {
    hetsim_within(MEMORY_KIB, args, cwd, limit)
}

/// [`hetsim`] under a memory limit of `kib`.
fn hetsim_within(kib: u64, args: &[&str], cwd: &Path, limit: Duration) -> Outcome {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("HETSIM_MEMORY_BUDGET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hetsim starts");
    let start = Instant::now();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    let reader_err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).ok();
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("hetsim {args:?} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        code: status.code(),
        stdout: reader.join().unwrap(),
        stderr: reader_err.join().unwrap(),
        elapsed: start.elapsed(),
    }
}

fn exit2(o: &Outcome, pieces: &[&str]) {
    assert_eq!(o.code, Some(2), "exit status; stderr:\n{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    for p in pieces {
        assert!(o.stderr.contains(p), "missing {p:?} in:\n{}", o.stderr);
    }
}

#[test]
fn every_sweep_corpus_input_passes_the_fuzz_checks() {
    let _serial = serial();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let data = root.join("data/sweep");
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("corpus/sweep"))
        .expect("fuzz/corpus/sweep exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "the corpus has only {} files",
        files.len()
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| {
            hetsim::sweep::fuzzing::check_bytes(&bytes, &data);
        });
        assert!(outcome.is_ok(), "fuzz check failed on {}", file.display());
    }
}

// Item 1: sizes.

#[test]
fn huge_axis_counts_are_refused_at_their_line_before_anything_is_allocated() {
    let _serial = serial();
    let dir = folder();
    for count in ["18446744073709551615", "1e12", "4294967296", "1000001"] {
        let text = format!(
            "name: big\ncircuit: c.yaml\naxes:\n  - path: tau_w\n    log: {{from: 1 ms, to: 1 s, count: {count}}}\n"
        );
        write(dir.path(), "s.yaml", &text);
        for args in [
            vec!["sweep", "s.yaml", "--dry-run"],
            vec!["validate", "s.yaml"],
        ] {
            let o = hetsim(&args, dir.path(), Duration::from_secs(30));
            // `1e12` is no whole number to the parser already; the others are counted.
            let expected: &[&str] = if count == "1e12" {
                &["s.yaml:5:", "whole number"]
            } else {
                &["s.yaml:5:", "1000000 points"]
            };
            exit2(&o, expected);
        }
    }
    // A grid whose product passes the maximum (or u64) is refused at the axis that passes it.
    let text = "name: big\ncircuit: c.yaml\naxes:\n  - {path: tau_w, linear: {from: 1 ms, to: 1 s, count: 100000}}\n  - {path: weight_noise, linear: {from: 0, to: 0.1, count: 100000}}\n";
    write(dir.path(), "g.yaml", text);
    let o = hetsim(
        &["sweep", "g.yaml", "--dry-run"],
        dir.path(),
        Duration::from_secs(30),
    );
    exit2(&o, &["g.yaml:5:", "grid has 1.000e10 points"]);
    // Points × seeds past the instance maximum, at `seeds:`.
    let text = "name: big\ncircuit: c.yaml\naxes: [{path: tau_w, values: [1 s, 2 s]}]\nseeds: 18446744073709551615\n";
    write(dir.path(), "i.yaml", text);
    let o = hetsim(
        &["sweep", "i.yaml", "--dry-run"],
        dir.path(),
        Duration::from_secs(30),
    );
    exit2(&o, &["i.yaml:4:", "instances"]);
}

#[test]
fn a_million_point_dry_run_answers_quickly_with_an_estimate() {
    let _serial = serial();
    let dir = folder();
    let text = "name: big\ncircuit: c.yaml\naxes:\n  - {path: tau_w, linear: {from: 1 ms, to: 1 s, count: 1000}}\n  - {path: weight_noise, linear: {from: 0, to: 0.1, count: 1000}}\n";
    write(dir.path(), "m.yaml", text);
    // Its tables would take about a gigabyte when it runs; the dry run builds none of it.
    let args = ["sweep", "m.yaml", "--dry-run", "--memory-budget", "3GiB"];
    let o = hetsim_within(4 << 20, &args, dir.path(), Duration::from_secs(60));
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("1000000 points in all"), "{}", o.stdout);
    assert!(o.stdout.contains("1000000 instance(s)"), "{}", o.stdout);
    assert!(o.elapsed < Duration::from_secs(20), "took {:?}", o.elapsed);
    // The memory budget counts the sweep's own tables: a smaller budget refuses the same file.
    let o = hetsim(
        &["sweep", "m.yaml", "--dry-run", "--memory-budget", "256MiB"],
        dir.path(),
        Duration::from_secs(60),
    );
    exit2(
        &o,
        &[
            "m.yaml:3:",
            "sweep's tables",
            "more than the budget of 256.0 MiB",
        ],
    );
}

// Item 2: merge and resume compare what makes results comparable.

const SHARDED: &str = "name: m\ncircuit: c.yaml\nset: [task.held_out=20]\naxes: [{path: tau_w, values: [100 ms, 200 ms, 400 ms, 800 ms]}]\nensemble_size: 1\n";

fn shard(path: &Path, out: &Path, i: usize, precision: Option<Precision>) {
    let r = SweepRequest {
        shard: Some(hetsim::sweep::Shard { index: i, count: 2 }),
        precision,
        ..request(path, out)
    };
    run(&r).unwrap();
}

#[test]
fn merge_refuses_shards_of_different_set_or_precision_naming_the_field_and_the_shards() {
    let _serial = serial();
    let dir = folder();
    let a = write(dir.path(), "a.yaml", SHARDED);
    let b = write(
        dir.path(),
        "b.yaml",
        &SHARDED.replace("held_out=20", "held_out=21"),
    );
    let (s0, s1) = (dir.path().join("s0"), dir.path().join("s1"));
    shard(&a, &s0, 0, None);
    shard(&b, &s1, 1, None);
    let out = dir.path().join("merged");
    let text = refused(
        merge(&[s0.clone(), s1.clone()], &out, &[]),
        &["`set`", "held_out=20", "held_out=21", "s0", "s1"],
    );
    assert!(text.contains("not a shard of the same sweep"), "{text}");
    assert!(!out.exists(), "a refused merge wrote {}", out.display());
    // Another precision (the CPU in f32) is refused too.
    let s1f = dir.path().join("s1f");
    shard(&a, &s1f, 1, Some(Precision::F32));
    refused(
        merge(&[s0.clone(), s1f], &out, &[]),
        &["f32", "f64", "not comparable"],
    );
    // The same sweep merges, and its manifest claims only what both shards ran.
    let s1 = dir.path().join("s1same");
    shard(&a, &s1, 1, None);
    merge(&[s0.clone(), s1.clone()], &out, &[]).unwrap();
    let merged = SweepManifest::read(&out).unwrap();
    let first = SweepManifest::read(&s0).unwrap();
    assert_eq!(merged.precision, Some(Precision::F64));
    assert_eq!(
        merged.backend, first.backend,
        "the shards share their backend here"
    );
    assert!(
        out.join(".hetsim-dir").is_file(),
        "the merged directory is marked a sweep's"
    );
}

#[test]
fn resuming_a_finished_sweep_keeps_its_backend_and_another_precision_is_refused() {
    let _serial = serial();
    let dir = folder();
    let path = write(dir.path(), "s.yaml", SHARDED);
    let out = dir.path().join("out");
    run(&request(&path, &out)).unwrap();
    let before = SweepManifest::read(&out).unwrap();
    assert!(before.backend.is_some() && before.precision.is_some());
    let r = SweepRequest {
        resume: true,
        ..request(&path, &out)
    };
    let o = run(&r).unwrap();
    assert_eq!(o.ensembles_run, 0);
    let after = SweepManifest::read(&out).unwrap();
    assert_eq!(after.backend, before.backend);
    assert_eq!(after.precision, before.precision);
    assert_eq!(after.device, before.device);
    // More points, asked in f32: refused before anything is written.
    let grown = write(
        dir.path(),
        "s.yaml",
        &SHARDED.replace("800 ms]", "800 ms, 1600 ms]"),
    );
    let files = snapshot(&out);
    let r = SweepRequest {
        resume: true,
        precision: Some(Precision::F32),
        ..request(&grown, &out)
    };
    refused(
        run(&r),
        &["cannot resume", "cpu f64", "cpu f32", "--precision f64"],
    );
    assert_eq!(
        snapshot(&out),
        files,
        "a refused resume changed the directory"
    );
}

// Item 3: parts checked whole; one process per directory.

#[test]
fn a_copied_part_or_a_cut_table_is_refused_naming_the_part_and_nothing_changes() {
    let _serial = serial();
    let dir = folder();
    let path = write(dir.path(), "s.yaml", SHARDED);
    let out = dir.path().join("out");
    run(&request(&path, &out)).unwrap();
    let parts = out.join("parts");
    let resume = SweepRequest {
        resume: true,
        ..request(&path, &out)
    };
    // A duplicated part folder.
    let copy = parts.join("000007");
    let status = Command::new("cp")
        .args(["-r"])
        .arg(parts.join("000001"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let files = snapshot(&out);
    refused(run(&resume), &["finished in two parts", "000001", "000007"]);
    assert_eq!(snapshot(&out), files);
    std::fs::remove_dir_all(&copy).unwrap();
    // A part summary cut short (its last row gone).
    let summary = parts.join("000002").join("summary.csv");
    let text = std::fs::read_to_string(&summary).unwrap();
    let cut: Vec<&str> = text.lines().collect();
    std::fs::write(&summary, cut[..cut.len() - 1].join("\n") + "\n").unwrap();
    let files = snapshot(&out);
    refused(
        run(&resume),
        &[
            "000002",
            "not whole",
            "summary.csv has 0 rows for 1 instances",
            "rm -r",
        ],
    );
    assert_eq!(snapshot(&out), files);
    std::fs::write(&summary, &text).unwrap();
    // A metrics table cut in the middle of its last instance.
    let metrics = parts.join("000003").join("metrics.csv");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&metrics, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    refused(run(&resume), &["000003", "metrics.csv"]);
    std::fs::write(&metrics, &text).unwrap();
    // A part's manifest saying it never finished.
    let manifest = parts.join("000000").join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"completed\"", "\"running\"")).unwrap();
    refused(run(&resume), &["000000", "running"]);
    std::fs::write(&manifest, &text).unwrap();
    // Whole again: the resume finds every point done.
    let o = run(&resume).unwrap();
    assert_eq!((o.points_resumed, o.ensembles_run), (4, 0));
}

#[test]
fn a_second_process_on_the_same_sweep_directory_is_refused() {
    let _serial = serial();
    let dir = folder();
    let path = write(dir.path(), "s.yaml", SHARDED);
    let out = dir.path().join("out");
    run(&request(&path, &out)).unwrap();
    let held = hetsim::experiment::output::DirLock::acquire(&out).unwrap();
    let files = snapshot(&out);
    let resume = SweepRequest {
        resume: true,
        ..request(&path, &out)
    };
    let e = run(&resume).unwrap_err().to_string();
    assert!(e.contains(&out.display().to_string()), "{e}");
    assert_eq!(snapshot(&out), files);
    drop(held);
    run(&resume).unwrap();
}

// Item 4: names that would collide in the tables.

#[test]
fn axis_and_summary_names_that_collide_with_a_column_are_refused_at_their_line() {
    let _serial = serial();
    let dir = folder();
    let cases = [
        (
            "axes:\n  - {path: tau_w, name: failed_at, values: [1 s]}\n",
            "failed_at_s",
            "4:",
        ),
        (
            "axes:\n  - {path: weight_noise, name: point_id, values: [0]}\n",
            "point_id",
            "4:",
        ),
        (
            "axes:\n  - {path: weight_noise, name: status, values: [0]}\n",
            "status",
            "4:",
        ),
        (
            "axes: [{path: tau_w, values: [1 s]}]\nsummary:\n  - {measure: held_out_loss, stat: final, name: replicate}\n",
            "replicate",
            "5:",
        ),
        (
            "axes: [{path: tau_w, name: x, values: [1 s]}]\nsummary:\n  - {measure: held_out_loss, stat: final, name: x_s}\n",
            "x_s",
            "5:",
        ),
        (
            "axes:\n  - {path: tau_w, values: [1 s]}\n  - {path: learning.tau_w, name: other, values: [2 s]}\n",
            "already sets",
            "5:",
        ),
    ];
    for (tail, needle, line) in cases {
        let text = format!("name: n\ncircuit: c.yaml\n{tail}");
        let path = write(dir.path(), "n.yaml", &text);
        let shown = refused(dry_run(&SweepRequest::new(&path)), &[needle]);
        assert!(
            shown.contains(&format!("n.yaml:{line}")),
            "{text}\n→ {shown}"
        );
    }
    // seed is not an axis column unless its kind makes it one: `seed` on a number axis is.
    let path = write(
        dir.path(),
        "n.yaml",
        "name: n\ncircuit: c.yaml\naxes:\n  - {path: weight_noise, name: seed, values: [0]}\n",
    );
    refused(
        dry_run(&SweepRequest::new(&path)),
        &["n.yaml:4:", "`seed`", "fixed column"],
    );
}

// Item 5: ratio axes.

#[test]
fn dependent_ratio_axes_are_refused_and_recorded_values_are_the_values_used() {
    let _serial = serial();
    let dir = folder();
    let path = write(
        dir.path(),
        "r.yaml",
        "name: r\ncircuit: c.yaml\naxes:\n  - {ratio: T/tau_w, values: [0.1, 0.2]}\n  - {ratio: tau_w/T, values: [10, 20]}\n",
    );
    refused(
        dry_run(&SweepRequest::new(&path)),
        &["r.yaml:4:", "r.yaml:5:", "depend on each other"],
    );
    let path = write(
        dir.path(),
        "r.yaml",
        "name: r\ncircuit: c.yaml\naxes:\n  - {ratio: tau_w/tau_w, values: [2]}\n",
    );
    refused(
        dry_run(&SweepRequest::new(&path)),
        &["r.yaml:4:", "its own numerator"],
    );
    // A plain axis on T and a ratio on it: every recorded value is the one the point's circuit holds.
    let path = write(
        dir.path(),
        "ok.yaml",
        "name: r\ncircuit: c.yaml\naxes:\n  - {path: T, values: [20 ms, 30 ms, 70 ms]}\n  - {ratio: tau_w/T, log: {from: 3, to: 300, count: 4}}\n  - {ratio: gap/T, values: [0, 0.5]}\n",
    );
    let s = setup::load(&path, None).unwrap();
    assert_eq!(s.points.len(), 24);
    for p in &s.points {
        let spec = hetsim::spec::apply_overrides(&s.base, &p.sets).unwrap();
        for (k, a) in s.axes.iter().enumerate() {
            let used = hetsim::sweep::axes::read_value(&spec, &a.target).map_or(0.0, |(_, x)| x);
            assert!(
                (used - p.resolved[k]).abs() <= 1e-12 * used.abs(),
                "{} of {}",
                a.target,
                p.identity
            );
            if let Some((den, _)) = &a.ratio {
                let d = hetsim::sweep::axes::read_value(&spec, den).unwrap().1;
                assert!(
                    (used / d - p.values[k]).abs() <= 1e-9 * p.values[k].abs(),
                    "{}",
                    p.identity
                );
            }
        }
    }
}

// Item 6: names that leave runs/.

#[test]
fn sweep_names_that_are_not_plain_names_are_refused_at_their_line() {
    let _serial = serial();
    let dir = folder();
    for name in ["../../../escaped", "/tmp/abs", "\"a\\nb\"", "\"\""] {
        let text =
            format!("name: {name}\ncircuit: c.yaml\naxes: [{{path: tau_w, values: [1 s]}}]\n");
        let path = write(dir.path(), "e.yaml", &text);
        refused(dry_run(&SweepRequest::new(&path)), &["e.yaml:1:", "`name`"]);
    }
    let o = hetsim(&["sweep", "e.yaml"], dir.path(), Duration::from_secs(30));
    exit2(&o, &["e.yaml:1:"]);
    assert!(
        !dir.path().join("runs").exists(),
        "a refused sweep made runs/"
    );
}

// Item 8: messages.

#[test]
fn poor_messages_became_located_plain_ones() {
    let _serial = serial();
    let dir = folder();
    let cases: [(&str, &[&str]); 6] = [
        (
            "axes: [{path: learning.rule, values: [fa, kp]}]\n",
            &["p.yaml:3:", "holds the text `fa`", "numbers and times"],
        ),
        (
            "axes: [{path: populations.hiddn.tau, values: [5 ms]}]\n",
            &["p.yaml:3:", "no `populations.hiddn`", "h, x, y"],
        ),
        (
            "axes: [{path: tau_w, values: [[1, 2]]}]\n",
            &["p.yaml:3:", "a number or a time with its unit"],
        ),
        (
            "set:\n  - time.duration=5 s\n  - task.held_out=-3\naxes: [{path: tau_w, values: [1 s]}]\n",
            &["p.yaml:5:", "`set[1]`"],
        ),
        (
            "set:\n  - populations.h.size=0\naxes: [{path: tau_w, values: [1 s]}]\n",
            &["p.yaml:4:", "`set[0]`", "size"],
        ),
        (
            "set: [no-equals-sign]\naxes: [{path: tau_w, values: [1 s]}]\n",
            &["p.yaml:3:", "PATH=VALUE"],
        ),
    ];
    for (tail, pieces) in cases {
        let text = format!("name: p\ncircuit: c.yaml\n{tail}");
        let path = write(dir.path(), "p.yaml", &text);
        let shown = refused(dry_run(&SweepRequest::new(&path)), pieces);
        assert!(!shown.contains("untagged"), "{shown}");
        assert!(!shown.contains("--set"), "{shown}");
    }
    // A copied sweep file whose relative circuit no longer resolves.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let path = write(
        &elsewhere,
        "copy.yaml",
        "name: p\ncircuit: c.yaml\naxes: [{path: tau_w, values: [1 s]}]\n",
    );
    refused(
        dry_run(&SweepRequest::new(&path)),
        &["copy.yaml:2:", "`circuit`", "relative", "elsewhere"],
    );
}

#[test]
fn validate_plot_and_resume_speak_of_sweeps_as_sweeps() {
    let _serial = serial();
    let dir = folder();
    let path = write(dir.path(), "s.yaml", SHARDED);
    // validate checks a sweep file as a sweep.
    let o = hetsim(&["validate", "s.yaml"], dir.path(), Duration::from_secs(30));
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("sweep `m`: 4 points"), "{}", o.stdout);
    write(
        dir.path(),
        "bad.yaml",
        &SHARDED.replace("tau_w, values", "tau_w, valeus"),
    );
    let o = hetsim(
        &["validate", "bad.yaml"],
        dir.path(),
        Duration::from_secs(30),
    );
    exit2(&o, &["bad.yaml:4:", "valeus"]);
    // An evolution file is read as one.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let o = hetsim(
        &["validate", "configs/evolve_forward.yaml"],
        &root,
        Duration::from_secs(30),
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("ok — evolution"), "{}", o.stdout);
    // …and checked against its circuit, as `hetsim evolve` checks it before it starts.
    let bad = std::fs::read_to_string(root.join("configs/evolve_forward.yaml"))
        .unwrap()
        .replace(
            "circuit: ../circuits/",
            "circuit: ../configs/../circuits/missing-",
        );
    std::fs::write(dir.path().join("evo.yaml"), bad).unwrap();
    let o = hetsim(
        &["validate", "evo.yaml"],
        dir.path(),
        Duration::from_secs(30),
    );
    exit2(&o, &["evo.yaml:", "circuit"]);
    // plot on a sweep directory with no finished part says what to run.
    let out = dir.path().join("out");
    let stop = std::sync::atomic::AtomicBool::new(true);
    let o = sweep(&request(&path, &out), &mut |_| {}, Some(&stop)).unwrap();
    assert_eq!(o.points_done, 0);
    std::fs::remove_file(out.join("summary.csv")).unwrap();
    let o = hetsim(&["plot", "out"], dir.path(), Duration::from_secs(30));
    exit2(&o, &["no point has finished", "--resume --out"]);
    assert!(!o.stderr.contains("instances.csv"), "{}", o.stderr);
    // A deleted sweep.yaml: the same file resumes (and the copy comes back); another is refused.
    std::fs::remove_file(out.join("sweep.yaml")).unwrap();
    let other = write(dir.path(), "t.yaml", &SHARDED.replace("name: m", "name: t"));
    let r = SweepRequest {
        resume: true,
        ..request(&other, &out)
    };
    refused(
        run(&r),
        &[
            "sweep.yaml",
            "cannot be read",
            "not the file it started with",
        ],
    );
    let r = SweepRequest {
        resume: true,
        ..request(&path, &out)
    };
    let o = run(&r).unwrap();
    assert_eq!(o.points_done, 4);
    assert!(out.join("sweep.yaml").is_file());
}
