//! Issue 27, the run layer: output directories hetsim may replace only when it marked them as
//! its own, one writer per directory, SIGTERM on the OpenCL backend, results lost on a full
//! stdout, and `rerun` of inconsistent, forged or oversized manifests.

mod common;

use common::hetsim;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn circuit(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("circuits")
        .join(name)
        .display()
        .to_string()
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"))
        .expect("json")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A short teacher run on the CPU into `dir`.
fn short_run(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run".to_string(),
        circuit("teacher_fa.yaml"),
        "--duration".into(),
        "0.2 s".into(),
        "--backend".into(),
        "cpu".into(),
        "--no-plots".into(),
        "--out".into(),
        dir.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    hetsim(&refs)
}

/// Every file under `dir` with its bytes, for "nothing changed" checks.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
                out.push((p, Vec::new()));
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A long run (`command` is `run` or `compare`) started in the background.
fn start_long(command: &str, backend: &str, dir: &Path) -> Child {
    let mut args = vec![command.to_string(), circuit("teacher_fa.yaml")];
    if command == "compare" {
        args.extend(["--rules".into(), "fa,sgd".into()]);
    }
    args.extend(
        [
            "--duration",
            "2 h",
            "--backend",
            backend,
            "--no-plots",
            "--out",
            dir.to_str().unwrap(),
        ]
        .map(String::from),
    );
    Command::new(env!("CARGO_BIN_EXE_hetsim"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the run in `dir` has written a few windows.
fn wait_for_rows(dir: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(dir.join("metrics.csv"))
        .map(|t| t.lines().count() < 10)
        .unwrap_or(true)
    {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended before writing rows: {status}");
        }
        assert!(Instant::now() < deadline, "the run never wrote rows");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, name: &str) {
    let kill = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

/// The run in `dir` was interrupted, recorded as such, with whole rows up to the time reached.
fn assert_interrupted(dir: &Path, out: &std::process::Output, what: &str) {
    assert_eq!(out.status.code(), Some(130), "{what}: {}", stderr(out));
    let m = manifest(dir);
    assert_eq!(m["status"], "interrupted", "{what}");
    let reached = m["time_reached_s"].as_f64().unwrap();
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let columns = lines.next().unwrap().split(',').count();
    let mut last = 0.0f64;
    for line in lines {
        assert_eq!(
            line.split(',').count(),
            columns,
            "{what}: a torn row `{line}`"
        );
        last = last.max(line.split(',').next().unwrap().parse().unwrap());
    }
    assert!((last - reached).abs() < 1e-6, "{what}: {last} vs {reached}");
}

// ---- A: hetsim's own marker, and one writer per directory ----

#[test]
fn replace_never_empties_a_folder_that_merely_holds_a_manifest_json() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("web-app");
    std::fs::create_dir_all(app.join(".git")).unwrap();
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(app.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(app.join("src/main.js"), "console.log(1)\n").unwrap();
    std::fs::write(app.join("manifest.json"), r#"{"name": "web-app"}"#).unwrap();
    let before = snapshot(&app);
    let out = short_run(&app, &["--replace"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&app.display().to_string()) && err.contains("has no .hetsim-dir marker"),
        "{err}"
    );
    assert_eq!(snapshot(&app), before, "nothing written or removed");

    // A real run directory's marker copied in does not make the folder hetsim's.
    let run = tmp.path().join("run");
    assert!(short_run(&run, &[]).status.success());
    std::fs::copy(run.join(".hetsim-dir"), app.join(".hetsim-dir")).unwrap();
    let out = short_run(&app, &["--replace"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("written for another directory"),
        "{}",
        stderr(&out)
    );
    assert!(app.join(".git/HEAD").is_file() && app.join("src/main.js").is_file());

    // hetsim's own run directory is replaced, by `run` and by `rerun`.
    std::fs::write(run.join("notes.txt"), "old").unwrap();
    assert!(
        short_run(&run, &["--replace", "--seed", "4"])
            .status
            .success()
    );
    assert!(!run.join("notes.txt").exists());
    let again = tmp.path().join("again");
    assert!(
        hetsim(&[
            "rerun",
            run.to_str().unwrap(),
            "--out",
            again.to_str().unwrap()
        ])
        .status
        .success()
    );
    let out = hetsim(&[
        "rerun",
        run.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--replace",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_directory_being_written_is_refused_to_a_second_process() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("busy");
    let mut first = start_long("run", "cpu", &dir);
    wait_for_rows(&dir, &mut first);
    let holder = first.id();
    let out = short_run(&dir, &["--replace"]);
    signal(&first, "INT");
    let first_out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&dir.display().to_string())
            && err.contains(&format!("in use by another hetsim process (pid {holder})")),
        "{err}"
    );
    // The first run was not disturbed: it stopped on its own signal with its rows whole.
    assert_interrupted(&dir, &first_out, "the first run");
}

// ---- B: SIGTERM and SIGINT on the OpenCL backend ----

/// Whether an OpenCL device is here; under CI (`CI=true`) it must be.
fn opencl_here() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match hetsim::backend::opencl::device() {
        Ok(_) => true,
        Err(e) => {
            assert!(!ci, "CI: no OpenCL device: {e}");
            eprintln!("skipped: no OpenCL device here ({e})");
            false
        }
    }
}

#[test]
fn sigterm_and_sigint_stop_an_opencl_run_cleanly() {
    if !opencl_here() {
        return;
    }
    for command in ["run", "compare"] {
        for name in ["TERM", "INT"] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("run");
            let mut child = start_long(command, "opencl", &dir);
            wait_for_rows(&dir, &mut child);
            signal(&child, name);
            let out = child.wait_with_output().unwrap();
            assert_interrupted(&dir, &out, &format!("{command} on opencl, SIG{name}"));
        }
    }
}

#[test]
fn a_signal_outside_a_run_still_ends_the_process() {
    // `validate` of a named pipe nobody writes to waits (up to 10 s) for a writer.
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let child = Command::new(env!("CARGO_BIN_EXE_hetsim"))
        .args(["validate", fifo.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(15), "{:?}", out.status);
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ---- C: results that cannot be written to stdout ----

#[test]
fn a_full_stdout_is_an_error_and_the_run_directory_is_still_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cmp");
    let out = Command::new(env!("CARGO_BIN_EXE_hetsim"))
        .args([
            "compare",
            &circuit("teacher_fa.yaml"),
            "--rules",
            "fa,sgd",
            "--duration",
            "0.2 s",
            "--backend",
            "cpu",
            "--no-plots",
            "--out",
            dir.to_str().unwrap(),
        ])
        .stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("could not be written to standard output") && err.contains("No space left"),
        "{err}"
    );
    assert_eq!(manifest(&dir)["status"], "completed");
    assert!(dir.join("compare.csv").is_file() && dir.join("metrics.csv").is_file());
}

// ---- D: rerun of inconsistent, forged and oversized manifests ----

/// A run directory made by a short run, whose manifest `edit` then changes.
fn edited_run(tmp: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let dir = tmp.join("run");
    let out = short_run(&dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut m = manifest(&dir);
    edit(&mut m);
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&m).unwrap(),
    )
    .unwrap();
    dir
}

fn rerun(dir: &Path, out: &Path) -> std::process::Output {
    hetsim(&[
        "rerun",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn rerun_refuses_a_circuit_text_that_is_not_the_one_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = edited_run(tmp.path(), |m| {
        let text = m["replay"]["circuit_text"].as_str().unwrap().to_string();
        m["replay"]["circuit_text"] = text.replace("rule: fa", "rule: sgd").into();
    });
    let again = tmp.path().join("again");
    let out = rerun(&dir, &again);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("manifest.json")
            && err.contains("inconsistent")
            && err.contains("replay.circuit_text"),
        "{err}"
    );
    assert!(!again.exists());
}

#[test]
fn rerun_refuses_a_manifest_without_the_data_files_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from("a,b,t\n");
    for i in 0..40 {
        text.push_str(&format!("{},{},{}\n", i % 5, i % 3, (i % 5) as f64 * 0.1));
    }
    std::fs::write(tmp.path().join("data.csv"), &text).unwrap();
    let file = tmp.path().join("c.yaml");
    std::fs::write(
        &file,
        "name: csvtask
time: {dt: 0.1 ms, duration: 20 ms}
task: {kind: csv, path: data.csv, inputs: 2, stimulus: {duration: 5 ms}, held_out: 5}
populations:
  x: {role: input, size: 2}
  y: {size: 1, tau: 5 ms}
projections:
  W: {from: x, to: y, init: zeros}
learning: {rule: sgd, output: y, tau_w: 1 s}
record: {every: 5 ms, measure: [loss]}
",
    )
    .unwrap();
    let dir = tmp.path().join("run");
    let out = hetsim(&[
        "run",
        file.to_str().unwrap(),
        "--backend",
        "cpu",
        "--no-plots",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut m = manifest(&dir);
    let inputs = m["inputs"].as_array_mut().unwrap();
    inputs.retain(|i| i["role"] != "data");
    std::fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
    let out = rerun(&dir, &tmp.path().join("again"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("inconsistent") && err.contains("`inputs`") && err.contains("data.csv"),
        "{err}"
    );
}

#[test]
fn seeds_past_the_largest_are_refused_not_wrapped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = edited_run(tmp.path(), |m| {
        m["replay"]["first_seed"] = u64::MAX.into();
        m["replay"]["seeds"] = 2.into();
    });
    let out = rerun(&dir, &tmp.path().join("again"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("replay.first_seed") && err.contains("2^64"),
        "{err}"
    );
    // The command line: the same check, before anything is written.
    let fresh = tmp.path().join("fresh");
    let out = short_run(&fresh, &["--seed", &u64::MAX.to_string(), "--seeds", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("2^64"), "{}", stderr(&out));
    assert!(!fresh.exists());
    // The largest seed itself is a seed.
    let last = tmp.path().join("last");
    let out = short_run(&last, &["--seed", &u64::MAX.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(manifest(&last)["seeds"][0].as_u64(), Some(u64::MAX));
}

#[test]
fn rerun_reads_only_a_bounded_regular_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("zero");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("manifest.json")).unwrap();
    let started = Instant::now();
    let out = rerun(&dir, &tmp.path().join("a"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // A sparse file past the limit is refused before reading.
    let big = tmp.path().join("big");
    std::fs::create_dir(&big).unwrap();
    let f = std::fs::File::create(big.join("manifest.json")).unwrap();
    f.set_len(65 * 1024 * 1024).unwrap();
    let out = rerun(&big, &tmp.path().join("b"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("larger than 64 MiB"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rerun_never_quotes_a_file_that_is_not_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let secrets = [
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n",
        "\"root:x:0:0:root:/root:/bin/bash\"",
        "{\"hetsim\": \"root:x:0:0:root:/root:/bin/bash\"}",
        "[\"root:x:0:0:root:/root:/bin/bash\", 1]",
    ];
    for (k, secret) in secrets.iter().enumerate() {
        let file = tmp.path().join(format!("secret{k}"));
        std::fs::write(&file, secret).unwrap();
        let dir = tmp.path().join(format!("d{k}"));
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(&file, dir.join("manifest.json")).unwrap();
        let out = rerun(&dir, &tmp.path().join(format!("o{k}")));
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(!err.contains("root:x"), "{err}");
        assert!(
            err.contains(&format!("{}:1:", dir.join("manifest.json").display()))
                || err.contains("has no `hetsim_version`"),
            "{err}"
        );
        assert!(err.contains("not a hetsim manifest"), "{err}");
    }
}
