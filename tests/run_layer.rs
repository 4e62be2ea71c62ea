//! The library run layer (`hetsim::experiment`): sinks that receive identical rows, fallible
//! backends, tables that carry their parameters, provenance and byte-for-byte replay, honest
//! summaries, interruption, and run directories that are never overwritten.

mod common;

use hetsim::backend::{
    Backend, BackendError, BackendKind, DeviceDescription, Precision, Snapshot, Window,
};
use hetsim::experiment::{CircuitSource, Design, ExperimentError, Output, Request};
use hetsim::record::metrics::{COLUMNS, Row};
use hetsim::record::{Collector, Status};
use hetsim::run::Quiet;
use hetsim::spec::RuleName;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::hetsim;

fn circuit(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("circuits")
        .join(name)
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"))
        .expect("json")
}

/// A short teacher run on the CPU, as a request to adjust.
fn teacher_request(duration: &str, output: Output) -> Request {
    let mut source = CircuitSource::file(circuit("teacher_fa.yaml"));
    source.duration = Some(duration.into());
    Request {
        seeds: 2,
        output,
        ..Request::new(source)
    }
}

/// A new run directory (the run layer draws no figures).
fn into_dir(dir: &Path) -> Output {
    Output::Directory {
        path: Some(dir.to_path_buf()),
        replace: false,
    }
}

fn read_rows(dir: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(dir.join("metrics.csv")).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        COLUMNS.to_vec()
    );
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn the_run_directory_and_the_collector_receive_identical_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let on_disk = teacher_request("0.3 s", into_dir(&dir))
        .prepare()
        .unwrap()
        .execute(&mut Quiet, None)
        .unwrap();
    let in_memory = teacher_request("0.3 s", Output::Memory)
        .prepare()
        .unwrap()
        .execute(&mut Quiet, None)
        .unwrap();
    assert!(in_memory.dir.is_none());
    let collected: Collector = in_memory.collected.expect("memory output collects");
    let written = read_rows(&dir);
    assert!(written.len() > 10);
    let memory: Vec<Vec<String>> = collected.rows.iter().map(Row::cells).collect();
    assert_eq!(written, memory, "metrics.csv and the collector differ");
    // The schema's reader gives back the rows the writer wrote (to the printed precision).
    for (cells, row) in written.iter().zip(&collected.rows) {
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        let back = Row::from_cells(&refs).expect("a written row parses back");
        assert_eq!(back.cells(), row.cells());
    }
    // instances.csv and weights.csv likewise.
    let mut inst = csv::Reader::from_path(dir.join("instances.csv")).unwrap();
    let header: Vec<String> = inst.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, collected.instances.header);
    let rows: Vec<Vec<String>> = inst
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(rows, collected.instances.rows);
    let weights = std::fs::read_to_string(dir.join("weights.csv")).unwrap();
    assert_eq!(weights.lines().count(), collected.weights.len() + 1);
    assert_eq!(in_memory.summary, on_disk.summary);
    assert_eq!(collected.ending.unwrap().status, Status::Completed);
}

#[test]
fn the_plot_reader_reads_what_the_recorder_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let done = teacher_request("0.3 s", into_dir(&dir))
        .prepare()
        .unwrap()
        .execute(&mut Quiet, None)
        .unwrap();
    let run = hetsim::plot::data::load_run(&dir).expect("plot reads the run directory");
    let memory = teacher_request("0.3 s", Output::Memory)
        .prepare()
        .unwrap()
        .execute(&mut Quiet, None)
        .unwrap()
        .collected
        .unwrap();
    assert_eq!(run.metrics.len(), memory.rows.len());
    for (read, row) in run.metrics.iter().zip(&memory.rows) {
        assert_eq!(read.projection, row.projection);
        for m in hetsim::record::metrics::Metric::ALL {
            let (a, b) = (read.get(m), row.get(m));
            match b {
                Some(b) => assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1e-300),
                    "{}: {a} vs {b}",
                    m.column()
                ),
                None => assert!(a.is_nan(), "{} should be empty", m.column()),
            }
        }
    }
    assert_eq!(done.outcome.status, Status::Completed);
}

#[test]
fn instances_csv_carries_every_per_instance_parameter_where_it_applies() {
    let mut source = CircuitSource::file(circuit("teacher_fa.yaml"));
    source.duration = Some("50 ms".into());
    source.sets = vec![
        ("populations.h.noise".into(), "0.01".into()),
        ("task.stimulus.error_delay".into(), "2 ms".into()),
        ("learning.tau_decay".into(), "30 s".into()),
    ];
    let request = Request {
        design: Design::Compare {
            rules: vec![RuleName::Sgd, RuleName::Fa, RuleName::Kp],
        },
        ..Request::new(source)
    };
    let done = request
        .prepare()
        .unwrap()
        .execute(&mut Quiet, None)
        .unwrap();
    let table = done.collected.unwrap().instances;
    let col = |name: &str| {
        table
            .column(name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", table.header))
    };
    assert_eq!(col("rule"), vec!["sgd", "fa", "kp"]);
    assert_eq!(col("tau_s:h"), vec!["0.005"; 3]);
    assert_eq!(col("noise:h"), vec!["0.01"; 3]);
    assert_eq!(col("error_delay_s"), vec!["0.002"; 3]);
    assert_eq!(col("stimulus_s"), vec!["0.05"; 3]);
    assert_eq!(col("tau_w_s:W1"), vec!["2"; 3]);
    assert_eq!(col("theta_m_x:W1"), vec!["1"; 3]);
    // B2 is tied under sgd, fixed under fa, plastic only under kp: τ_w, θ and decay appear
    // for kp alone.
    assert_eq!(col("tau_w_s:B2"), vec!["", "", "2"]);
    assert_eq!(col("theta_m_x:B2"), vec!["", "", "1"]);
    assert_eq!(col("tau_decay_s:B2"), vec!["", "", "30"]);
    // The error delay lengthens the paths into the output error.
    assert_eq!(col("delay_s:to_e_output"), vec!["0.002"; 3]);
    // Instantaneous populations have no τ column; inputs have no columns at all.
    assert!(
        !table
            .header
            .iter()
            .any(|h| h == "tau_s:e" || h == "noise:x")
    );
}

/// A backend that fails on its `fail_at`-th advance, as a lost device would.
struct FailingBackend {
    inner: Box<dyn Backend>,
    advances: usize,
    fail_at: usize,
}

impl Backend for FailingBackend {
    fn describe(&self) -> String {
        "failing test device".into()
    }
    fn precision(&self) -> Precision {
        self.inner.precision()
    }
    fn device(&self) -> DeviceDescription {
        DeviceDescription {
            kind: BackendKind::OpenCl,
            name: "Test Device 9000".into(),
            platform: Some("test".into()),
            driver_version: Some("0".into()),
        }
    }
    fn step(&self) -> u64 {
        self.inner.step()
    }
    fn advance(&mut self, steps: u64) -> Result<(), BackendError> {
        self.advances += 1;
        if self.advances == self.fail_at {
            return Err(BackendError::Device {
                device: "Test Device 9000".into(),
                step: self.inner.step(),
                operation: "advance",
                message: "CL_OUT_OF_RESOURCES".into(),
            });
        }
        self.inner.advance(steps)
    }
    fn snapshot(&self) -> Result<Snapshot, BackendError> {
        self.inner.snapshot()
    }
    fn take_window(&mut self) -> Result<Window, BackendError> {
        self.inner.take_window()
    }
    fn enter_phase(&mut self, phase: usize) -> Result<(), BackendError> {
        self.inner.enter_phase(phase)
    }
    fn freeze(&mut self, instance: usize) -> Result<(), BackendError> {
        self.inner.freeze(instance)
    }
    fn save_state(&self) -> Result<hetsim::backend::StateImage, BackendError> {
        self.inner.save_state()
    }
    fn restore_state(&mut self, image: &hetsim::backend::StateImage) -> Result<(), BackendError> {
        self.inner.restore_state(image)
    }
}

#[test]
fn a_device_failure_keeps_the_rows_and_marks_the_manifest_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let prepared = teacher_request("1 s", into_dir(&dir))
        .prepare()
        .unwrap()
        .with_backend(|plan| {
            Box::new(FailingBackend {
                inner: hetsim::backend::cpu::new(plan, Precision::F64),
                advances: 0,
                fail_at: 4,
            })
        });
    let err = match prepared.execute(&mut Quiet, None) {
        Err(e) => e,
        Ok(_) => panic!("the failing device should stop the run"),
    };
    assert!(!err.is_bad_input());
    let text = err.to_string();
    assert!(
        text.contains("Test Device 9000") && text.contains("step 3000"),
        "{text}"
    );
    let m = manifest(&dir);
    assert_eq!(m["status"], "failed");
    assert!(
        m["status_reason"]
            .as_str()
            .unwrap()
            .contains("CL_OUT_OF_RESOURCES")
    );
    // The initial rows and three windows × two instances × (all, W1, W2, B2) stay whole.
    let rows = read_rows(&dir);
    assert_eq!(rows.len(), 2 + 3 * 2 * 4, "{rows:?}");
    assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
}

#[test]
fn a_stop_request_ends_the_run_interrupted_with_whole_rows() {
    let stop = AtomicBool::new(false);
    struct StopAfter<'a>(&'a AtomicBool, usize);
    impl hetsim::run::Observer for StopAfter<'_> {
        fn window(&mut self, _: &hetsim::run::Progress) {
            self.1 -= 1;
            if self.1 == 0 {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    let done = teacher_request("5 s", Output::Memory)
        .prepare()
        .unwrap()
        .execute(&mut StopAfter(&stop, 3), Some(&stop))
        .unwrap();
    assert_eq!(done.outcome.status, Status::Interrupted);
    assert!((done.outcome.time_reached_s - 0.3).abs() < 1e-9);
    let c = done.collected.unwrap();
    let end = c.ending.unwrap();
    assert_eq!(end.status, Status::Interrupted);
    assert!(end.reason.unwrap().contains("t = 0.300 s"));
    // End weights are written at the time reached.
    assert!(c.weights.iter().any(|w| w.stage.name() == "end"));
}

#[test]
fn sigint_and_sigterm_end_a_cli_run_between_windows() {
    for signal in ["INT", "TERM"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let child = Command::new(env!("CARGO_BIN_EXE_hetsim"))
            .args([
                "run",
                circuit("teacher_fa.yaml").to_str().unwrap(),
                "--duration",
                "10 min",
                "--backend",
                "cpu",
                "--no-plots",
                "--out",
                dir.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the run has written a few windows.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::fs::read_to_string(dir.join("metrics.csv"))
            .map(|t| t.lines().count() < 10)
            .unwrap_or(true)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the run never wrote rows"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(130),
            "SIG{signal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = manifest(&dir);
        assert_eq!(m["status"], "interrupted");
        let reached = m["time_reached_s"].as_f64().unwrap();
        assert!(reached > 0.0 && reached < 600.0);
        let rows = read_rows(&dir);
        assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
        // The last window's rows are there: the largest time written is the time reached.
        let last: f64 = rows
            .iter()
            .map(|r| r[0].parse::<f64>().unwrap())
            .fold(0.0, f64::max);
        assert!((last - reached).abs() < 1e-6, "{last} vs {reached}");
    }
}

#[test]
fn a_run_where_every_instance_diverges_stops_at_once_and_fails() {
    // Hebbian growth without decay and a fast τ_w explodes within a few windows.
    let mut source = CircuitSource::file(circuit("teacher_fa.yaml"));
    source.duration = Some("20 s".into());
    source.sets = vec![
        ("learning.rule".into(), "hebbian".into()),
        ("learning.tau_w".into(), "5 ms".into()),
        ("task.input_std".into(), "3".into()),
    ];
    let done = Request {
        seeds: 2,
        ..Request::new(source)
    }
    .prepare()
    .unwrap()
    .execute(&mut Quiet, None)
    .unwrap();
    assert_eq!(done.outcome.status, Status::Failed);
    assert_eq!(done.outcome.failures.len(), 2);
    assert!(
        done.outcome.time_reached_s < 20.0,
        "reached {}",
        done.outcome.time_reached_s
    );
    let s = &done.summary.labels[0];
    assert_eq!((s.instances, s.diverged, s.included()), (2, 2, 0));
    assert!(s.final_loss.is_empty(), "a diverged instance was averaged");
    let table = done.summary.table();
    assert!(table.contains("0/2 (2 div.)"), "{table}");
    assert!(!table.contains('±'), "{table}");
}

#[test]
fn a_single_seed_prints_no_plus_minus_and_several_do() {
    let one = Request {
        seeds: 1,
        ..teacher_request("0.2 s", Output::Memory)
    };
    let table = one
        .prepare()
        .unwrap()
        .execute(&mut Quiet, None)
        .unwrap()
        .summary
        .table();
    assert!(!table.contains('±'), "{table}");
    let two = teacher_request("0.2 s", Output::Memory);
    let table = two
        .prepare()
        .unwrap()
        .execute(&mut Quiet, None)
        .unwrap()
        .summary
        .table();
    assert!(table.contains('±'), "{table}");
}

#[test]
fn compare_refuses_a_rule_listed_twice() {
    let request = Request {
        design: Design::Compare {
            rules: vec![RuleName::Fa, RuleName::Sgd, RuleName::Fa],
        },
        ..teacher_request("0.1 s", Output::Memory)
    };
    match request.prepare() {
        Err(ExperimentError::Usage(text)) => {
            assert!(text.contains("`fa` is listed twice"), "{text}")
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("accepted a rule twice"),
    }
    let out = hetsim(&[
        "compare",
        circuit("teacher_fa.yaml").to_str().unwrap(),
        "--rules",
        "sgd,fa,sgd",
        "--duration",
        "0.1 s",
        "--out",
        "/nonexistent/never-written",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listed twice"));
}

#[test]
fn an_existing_run_directory_is_never_overwritten_unless_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "run".to_string(),
            circuit("teacher_fa.yaml").display().to_string(),
            "--duration".into(),
            "0.1 s".into(),
            "--backend".into(),
            "cpu".into(),
            "--no-plots".into(),
            "--out".into(),
            dir.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        hetsim(&refs)
    };
    assert!(run(args(&[])).status.success());
    let first = std::fs::read(dir.join("metrics.csv")).unwrap();
    let again = run(args(&["--seed", "5"]));
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains(&dir.display().to_string()) && err.contains("--replace"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("metrics.csv")).unwrap(), first);
    // --replace starts afresh: no leftover file survives.
    std::fs::write(dir.join("leftover.txt"), "old").unwrap();
    assert!(run(args(&["--seed", "5", "--replace"])).status.success());
    assert!(!dir.join("leftover.txt").exists());
    assert_ne!(std::fs::read(dir.join("metrics.csv")).unwrap(), first);
    // --replace never empties a folder that is not a run directory.
    let other = tmp.path().join("notes");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("thesis.tex"), "precious").unwrap();
    let mut a = args(&["--replace"]);
    let out_pos = a.iter().position(|s| s == "--out").unwrap();
    a[out_pos + 1] = other.display().to_string();
    let refused = run(a);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(other.join("thesis.tex")).unwrap(),
        "precious"
    );
}

#[test]
fn the_manifest_records_provenance_and_input_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let path = circuit("teacher_fa.yaml");
    let out = hetsim(&[
        "run",
        path.to_str().unwrap(),
        "--duration",
        "0.1 s",
        "--set",
        "learning.tau_w=3 s",
        "--backend",
        "cpu",
        "--no-plots",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = manifest(&dir);
    let p = &m["provenance"];
    let line = p["command_line"].as_str().unwrap();
    assert!(line.contains("'learning.tau_w=3 s'"), "{line}");
    assert!(!p["git_commit"].as_str().unwrap().is_empty());
    assert!(p["rustc"].as_str().unwrap().starts_with("rustc "));
    assert!(p["os"].as_str().unwrap().contains(std::env::consts::OS));
    assert!(!p["cpu"].as_str().unwrap().is_empty());
    assert_eq!(p["working_dir"], env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read(&path).unwrap();
    assert_eq!(m["inputs"][0]["role"], "circuit");
    assert_eq!(
        m["inputs"][0]["sha256"],
        hetsim::record::manifest::sha256_hex(&text)
    );
    assert_eq!(m["device"]["kind"], "cpu");
    assert_eq!(m["precision"], "f64");
    assert_eq!(m["status"], "completed");
}

/// The tables a rerun must reproduce.
fn tables(dir: &Path) -> Vec<(String, Vec<u8>)> {
    [
        "metrics.csv",
        "instances.csv",
        "weights.csv",
        "traces.csv",
        "compare.csv",
    ]
    .iter()
    .filter_map(|name| {
        std::fs::read(dir.join(name))
            .ok()
            .map(|b| (name.to_string(), b))
    })
    .collect()
}

#[test]
fn rerun_reproduces_a_compare_run_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    let out = hetsim(&[
        "compare",
        circuit("teacher_fa.yaml").to_str().unwrap(),
        "--rules",
        "sgd,fa,dfa,kp",
        "--seeds",
        "2",
        "--duration",
        "0.5 s",
        "--set",
        "task.stimulus.error_delay=1 ms",
        "--backend",
        "cpu",
        "--no-plots",
        "--out",
        first.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = hetsim(&[
        "rerun",
        first.to_str().unwrap(),
        "--out",
        second.to_str().unwrap(),
        "--no-plots",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = (tables(&first), tables(&second));
    assert_eq!(
        a.iter().map(|t| &t.0).collect::<Vec<_>>(),
        vec!["metrics.csv", "instances.csv", "weights.csv", "compare.csv"]
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs after rerun");
    }
    let m = manifest(&second);
    assert_eq!(m["replay"]["design"], "compare");
    assert_eq!(m["rules"], serde_json::json!(["sgd", "fa", "dfa", "kp"]));
    // dfa's feedback stands in for W2, so its weight angle is recorded (in the replay too).
    let metrics = String::from_utf8(b[0].1.clone()).unwrap();
    let dfa_instance = "4"; // sgd 0–1, fa 2–3, dfa 4–5
    let angle = hetsim::record::metrics::COLUMNS
        .iter()
        .position(|c| *c == "weight_angle_deg")
        .unwrap();
    assert!(
        metrics.lines().any(|l| {
            let c: Vec<&str> = l.split(',').collect();
            c[1] == dfa_instance && c[2] == "B_h" && !c[angle].is_empty()
        }),
        "no weight angle for dfa"
    );
}

#[test]
fn rerun_refuses_a_changed_data_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data.csv");
    let mut text = String::from("a,b,t\n");
    for i in 0..40 {
        text.push_str(&format!("{},{},{}\n", i % 5, i % 3, (i % 5) as f64 * 0.1));
    }
    std::fs::write(&data, &text).unwrap();
    let circuit_text = "
name: csvtask
time: {dt: 0.1 ms, duration: 20 ms}
task:
  kind: csv
  path: data.csv
  inputs: 2
  stimulus: {duration: 5 ms}
  held_out: 5
populations:
  x: {role: input, size: 2}
  y: {size: 1, tau: 5 ms}
projections:
  W: {from: x, to: y, init: zeros}
learning: {rule: sgd, output: y, tau_w: 1 s}
record: {every: 5 ms, measure: [loss]}
";
    let file = tmp.path().join("c.yaml");
    std::fs::write(&file, circuit_text).unwrap();
    let first = tmp.path().join("first");
    let out = hetsim(&[
        "run",
        file.to_str().unwrap(),
        "--backend",
        "cpu",
        "--no-plots",
        "--out",
        first.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = manifest(&first);
    assert_eq!(m["inputs"][1]["role"], "data");
    // Unchanged: the replay reproduces the tables.
    let second = tmp.path().join("second");
    let out = hetsim(&[
        "rerun",
        first.to_str().unwrap(),
        "--out",
        second.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tables(&first), tables(&second));
    // Changed: refused, naming the file.
    std::fs::write(&data, text.replace("0.2", "0.9")).unwrap();
    let out = hetsim(&[
        "rerun",
        first.to_str().unwrap(),
        "--out",
        tmp.path().join("third").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data.csv") && err.contains("changed"), "{err}");
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hetsim"))
        .args([
            "run",
            circuit("teacher_fa.yaml").to_str().unwrap(),
            "--duration",
            "0.2 s",
            "--backend",
            "cpu",
            "--no-plots",
            "--out",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // as `| head -0` would
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(manifest(&dir)["status"], "completed");
}

#[test]
fn backends_report_their_precision_and_device_through_the_trait() {
    let plan = common::plan_from(
        &std::fs::read_to_string(circuit("teacher_fa.yaml")).unwrap(),
        &[1, 2],
    );
    for case in common::backends() {
        let b = (case.make)(plan.clone());
        let expected = if case.f32 {
            Precision::F32
        } else {
            Precision::F64
        };
        assert_eq!(b.precision(), expected, "{}", case.name);
        let d = b.device();
        assert!(!d.name.is_empty(), "{}", case.name);
        assert_eq!(
            d.kind == BackendKind::OpenCl,
            case.name.starts_with("opencl")
        );
        assert_eq!(d.platform.is_some(), d.kind == BackendKind::OpenCl);
    }
    let made =
        hetsim::backend::make(plan.clone(), BackendKind::Cpu, None, &Default::default()).unwrap();
    assert_eq!(made.backend.precision(), Precision::F64);
    assert!(made.fallback.is_none());
    let _ = Arc::clone(&plan);
}

#[test]
fn rerun_reproduces_an_opencl_run_byte_for_byte() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if let Err(e) = hetsim::backend::opencl::device() {
        assert!(!ci, "CI: no OpenCL device: {e}");
        eprintln!("no OpenCL device here ({e}); the OpenCL replay is not tested");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    let out = hetsim(&[
        "compare",
        circuit("teacher_fa.yaml").to_str().unwrap(),
        "--rules",
        "sgd,fa,kp",
        "--seeds",
        "2",
        "--duration",
        "0.5 s",
        "--backend",
        "opencl",
        "--no-plots",
        "--out",
        first.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(manifest(&first)["device"]["kind"], "opencl");
    let out = hetsim(&[
        "rerun",
        first.to_str().unwrap(),
        "--out",
        second.to_str().unwrap(),
        "--no-plots",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(manifest(&second)["precision"], "f32");
    for ((name, x), (_, y)) in tables(&first).iter().zip(&tables(&second)) {
        assert!(x == y, "{name} differs after an OpenCL rerun");
    }
}

/// A disk that fills (here: a file-size limit, which fails writes as a full disk does) stops
/// the run with exit 1; every table holds whole rows only and the manifest says why.
#[test]
fn a_full_disk_leaves_whole_rows_and_a_failed_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    // 96 KiB per file (bash counts 1024-byte blocks): the manifest and instances.csv fit,
    // metrics.csv fills within seconds.
    let script = format!(
        "ulimit -f 96; exec {} run {} --duration '10 min' --backend cpu --no-plots --out {}",
        env!("CARGO_BIN_EXE_hetsim"),
        circuit("teacher_fa.yaml").display(),
        dir.display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("metrics.csv"), "{err}");
    let m = manifest(&dir);
    assert_eq!(m["status"], "failed");
    assert!(
        m["status_reason"].as_str().unwrap().contains("metrics.csv"),
        "{}",
        m["status_reason"]
    );
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert!(text.ends_with('\n'), "a cut last row");
    assert!(text.len() > 10_000);
    let rows = read_rows(&dir);
    assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
}
