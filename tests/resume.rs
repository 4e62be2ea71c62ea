//! Checkpoints and `hetsim run --resume` through the real binary: a run killed with SIGKILL at
//! several moments (after the first checkpoint, after a later one, while a checkpoint is being
//! written, and a resumed run killed again) and resumed must finish with every table equal, byte
//! for byte, to the same run left uninterrupted — on the CPU and on OpenCL (f64). Resume refuses,
//! with a clear message, what it cannot continue.

mod common;

use common::hetsim;
use hetsim::record::checkpoint;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DURATION: &str = "16 s";

fn circuit() -> String {
    format!("{}/circuits/teacher_fa.yaml", env!("CARGO_MANIFEST_DIR"))
}

fn run_args<'a>(backend: &'a str, out: &'a str, checkpoints: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        &circuit(),
        "--duration",
        DURATION,
        "--seeds",
        "2",
        "--backend",
        backend,
        "--precision",
        "f64",
        "--threads",
        "1",
        "--no-plots",
        "-q",
        "--out",
        out,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if checkpoints {
        args.extend(["--checkpoint-every".into(), "1 s".into()]);
    }
    args
}

fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hetsim"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hetsim")
}

/// The step of the run's newest checkpoint, if one is there.
fn checkpoint_step(dir: &Path) -> Option<u64> {
    let path = dir.join("checkpoint").join("state");
    checkpoint::read(&path).ok().map(|c| c.image.step)
}

/// When to kill the child.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// Once the k-th checkpoint (counting from the first one this process writes) is there.
    AfterCheckpoint(u64),
    /// While a checkpoint's temporary file exists (written but not yet renamed).
    MidWrite,
}

/// Runs `args` and kills it (SIGKILL) at `moment`; returns whether it was killed before it
/// finished.
fn kill_at(args: &[String], dir: &Path, moment: Moment) -> bool {
    let mut child = spawn(args);
    let started = Instant::now();
    let first = checkpoint_step(dir).unwrap_or(0);
    let tmp = dir.join("checkpoint").join("state.tmp");
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let due = match moment {
            Moment::AfterCheckpoint(k) => {
                checkpoint_step(dir).is_some_and(|s| s >= first + k * 10_000)
            }
            // Replacing an earlier checkpoint, so that one is there to resume from.
            Moment::MidWrite => tmp.exists() && checkpoint_step(dir).is_some(),
        };
        if due || started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// `hetsim run --resume DIR` on one thread, without figures.
fn resume_args(dir: &Path) -> Vec<String> {
    [
        "run",
        "--resume",
        dir.to_str().unwrap(),
        "--threads",
        "1",
        "--no-plots",
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn resume(dir: &Path) -> std::process::Output {
    let args = resume_args(dir);
    hetsim(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Every CSV of `want` is in `got` with the same bytes (and no other CSV is).
fn same_tables(got: &Path, want: &Path, what: &str) {
    let csvs = |d: &Path| {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .map(|p| PathBuf::from(p.file_name().unwrap()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(csvs(got), csvs(want), "{what}: the tables differ");
    for name in csvs(want) {
        let (g, w) = (
            std::fs::read(got.join(&name)).unwrap(),
            std::fs::read(want.join(&name)).unwrap(),
        );
        assert!(
            g == w,
            "{what}: {} differs ({} bytes resumed, {} uninterrupted)",
            name.display(),
            g.len(),
            w.len()
        );
    }
}

fn status(dir: &Path) -> serde_json::Value {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    m
}

/// Kills a run at several moments on `backend`, resumes each and compares the tables.
fn killed_and_resumed(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let out = hetsim(
        &run_args(backend, whole.to_str().unwrap(), false)[..]
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let cases: &[(&str, &[Moment])] = &[
        ("after the first checkpoint", &[Moment::AfterCheckpoint(1)]),
        ("after the fourth checkpoint", &[Moment::AfterCheckpoint(4)]),
        ("while a checkpoint is written", &[Moment::MidWrite]),
        (
            "killed again after resuming",
            &[Moment::AfterCheckpoint(2), Moment::AfterCheckpoint(3)],
        ),
    ];
    for (k, (what, moments)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("part{k}"));
        let args = run_args(backend, dir.to_str().unwrap(), true);
        let mut killed = kill_at(&args, &dir, moments[0]);
        for m in &moments[1..] {
            if killed {
                killed = kill_at(&resume_args(&dir), &dir, *m);
            }
        }
        if !killed {
            // The machine outran the polling: nothing to resume, and nothing was tested.
            eprintln!("{backend}, {what}: the run finished before it could be killed");
            continue;
        }
        let stopped_at = checkpoint_step(&dir).expect("a checkpoint before the kill");
        assert_eq!(status(&dir)["status"], "running", "{backend}, {what}");
        let out = resume(&dir);
        assert!(
            out.status.success(),
            "{backend}, {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        same_tables(
            &dir,
            &whole,
            &format!("{backend}, {what} (step {stopped_at})"),
        );
        let m = status(&dir);
        assert_eq!(m["status"], "completed");
        let resumes = m["resumes"].as_array().unwrap();
        assert_eq!(
            resumes.len(),
            moments.len(),
            "{backend}, {what}: {resumes:?}"
        );
        assert_eq!(resumes[0]["previous_status"], "running");
    }
}

#[test]
fn cpu_killed_and_resumed() {
    killed_and_resumed("cpu");
}

#[test]
fn opencl_killed_and_resumed() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if let Err(e) = hetsim::backend::opencl::device() {
        assert!(!ci, "CI: no OpenCL device: {e}");
        eprintln!("no OpenCL device here ({e}); the OpenCL resume test is skipped");
        return;
    }
    killed_and_resumed("opencl");
}

/// SIGTERM stops a run between windows with status `interrupted` and a checkpoint of where it
/// stopped; resuming it finishes the tables of the uninterrupted run.
#[test]
fn sigterm_leaves_a_checkpoint_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, dir) = (tmp.path().join("whole"), tmp.path().join("part"));
    let args = run_args("cpu", whole.to_str().unwrap(), false);
    let out = hetsim(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(out.status.success());
    // Checkpoints every 8 s: the one SIGTERM writes is the only one before 8 s.
    let mut args = run_args("cpu", dir.to_str().unwrap(), false);
    args.extend(["--checkpoint-every".into(), "8 s".into()]);
    let mut child = spawn(&args);
    // Wait for the first rows, then stop it.
    let metrics = dir.join("metrics.csv");
    let started = Instant::now();
    while std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count()) < 20 {
        assert!(started.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(1));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let code = child.wait().unwrap();
    if code.success() {
        eprintln!("the run finished before SIGTERM reached it");
        return;
    }
    assert_eq!(status(&dir)["status"], "interrupted");
    let m = status(&dir);
    let reached = m["time_reached_s"].as_f64().unwrap();
    let step = checkpoint_step(&dir).expect("a checkpoint at the stop");
    assert_eq!(
        step,
        (reached / 1e-4).round() as u64,
        "checkpoint at the stop"
    );
    let out = resume(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    same_tables(&dir, &whole, "after SIGTERM");
    assert_eq!(status(&dir)["resumes"][0]["previous_status"], "interrupted");
}

/// What resume refuses, each with its reason.
#[test]
fn resume_refuses_what_it_cannot_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let refused = |dir: &Path, extra: &[&str], expect: &str| {
        let mut args = vec!["run", "--resume", dir.to_str().unwrap(), "--no-plots", "-q"];
        args.extend(extra);
        let out = hetsim(&args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{expect}: {err}");
        assert!(err.contains(expect), "wanted `{expect}` in: {err}");
    };
    // Not a run directory.
    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join("notes.txt"), "mine").unwrap();
    refused(&plain, &[], "not a hetsim run directory");
    refused(&tmp.path().join("absent"), &[], "no such directory");
    // A completed run.
    let done = tmp.path().join("done");
    let mut args = run_args("cpu", done.to_str().unwrap(), true);
    args[3] = "2 s".into();
    let out = hetsim(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(out.status.success());
    refused(&done, &[], "the run completed");
    // Options that would change the run.
    refused(
        &done,
        &["--seeds", "3"],
        "--seeds cannot be given with --resume",
    );
    // A run without checkpoints, stopped (its manifest still says running).
    let bare = tmp.path().join("bare");
    let mut args = run_args("cpu", bare.to_str().unwrap(), false);
    args[3] = "2 s".into();
    let out = hetsim(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(out.status.success());
    let mut m = status(&bare);
    m["status"] = "running".into();
    std::fs::write(bare.join("manifest.json"), m.to_string()).unwrap();
    refused(&bare, &[], "it has no checkpoint");
    // A checkpoint of another precision (written here with that identity).
    let mut m = status(&done);
    m["status"] = "interrupted".into();
    std::fs::write(done.join("manifest.json"), m.to_string()).unwrap();
    let path = done.join("checkpoint").join("state");
    let saved = checkpoint::read(&path).unwrap();
    let mut identity = saved.identity.clone();
    identity.insert("precision".into(), "f32".into());
    checkpoint::write(&path, &saved.image, &identity, saved.run.clone()).unwrap();
    refused(
        &done,
        &[],
        "its checkpoint was written with precision `f32`",
    );
    // A damaged checkpoint.
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
    refused(&done, &[], "checksum");
}

/// `record.checkpoints` in the circuit: wrong intervals are located errors; a right one makes
/// the run write its checkpoint as `--checkpoint-every` does.
#[test]
fn record_checkpoints_in_the_circuit() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(circuit()).unwrap();
    let with = |line: &str| {
        let path = tmp.path().join("c.yaml");
        let edited = text.replacen("  every: 100 ms", &format!("  every: 100 ms\n{line}"), 1);
        assert_ne!(edited, text);
        std::fs::write(&path, edited).unwrap();
        path
    };
    for (line, expect) in [
        (
            "  checkpoints: {every: 150 ms}",
            "c.yaml:27:17: `record.checkpoints.every`: checkpoints are taken at recording windows: every must be a multiple of record.every = 100 ms, found 150 ms",
        ),
        (
            "  checkpoints: {every: 100.05 ms}",
            "is not a whole number of steps",
        ),
        ("  checkpoints: {every: 0 s}", "must be positive"),
        ("  checkpoints: {every: -1 s}", "is negative"),
        ("  checkpoints: {every: 1 s, keep: 2}", "keep"),
    ] {
        let path = with(line);
        let out = hetsim(&["validate", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{line}: {err}");
        assert!(err.contains(expect), "{line}: wanted `{expect}` in {err}");
    }
    let path = with("  checkpoints: {every: 500 ms}");
    let dir = tmp.path().join("run");
    let out = hetsim(&[
        "run",
        path.to_str().unwrap(),
        "--duration",
        "1 s",
        "--backend",
        "cpu",
        "--no-plots",
        "-q",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The newest checkpoint: the run's end, kept so the run can be continued from there with
    // its activities (`--from RUN_DIR --carry activities`).
    assert_eq!(checkpoint_step(&dir), Some(10_000));
}
