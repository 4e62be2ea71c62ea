//! Issue 10 through the real binary: no input, size or broken run directory makes hetsim abort,
//! hang or exhaust memory, and every refusal is exit 2 with a message that points at the right
//! place. Each child runs under a memory limit (`ulimit -v`) and a wall-clock limit, so a
//! regression shows as a failed test, not as a stuck or killed test run.
//!
//! The bad-circuit corpus (`tests/bad_inputs/`, replayed by `cli_validate.rs`) holds the
//! single-file cases; this file holds what needs a device, a stream, a data file, the
//! environment or `--set`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hetsim");
/// Virtual memory a child may map, in KiB (1 GiB).
const MEMORY_KIB: u64 = 1 << 20;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs hetsim with `args` under the memory limit, killing it after `limit`.
fn hetsim_env(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Outcome {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {MEMORY_KIB} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .current_dir(root())
        .env_remove("HETSIM_MEMORY_BUDGET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("hetsim starts");
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
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
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

fn hetsim(args: &[&str]) -> Outcome {
    hetsim_env(args, &[], Duration::from_secs(60))
}

/// Asserts a refusal: exit 2, no panic, and every expected piece in stderr.
fn refused(o: &Outcome, expected: &[&str]) {
    assert_eq!(o.code, Some(2), "exit status; stderr:\n{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    for e in expected {
        assert!(o.stderr.contains(e), "missing {e:?} in:\n{}", o.stderr);
    }
}

const TEACHER: &str = "circuits/teacher_fa.yaml";

fn run_args<'a>(circuit: &'a str, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        circuit,
        "--duration",
        "1ms",
        "--backend",
        "cpu",
        "--no-plots",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args
}

// ---- class 1: unbounded reads -------------------------------------------------------------

#[test]
fn a_device_as_circuit_file_is_refused_at_the_size_limit() {
    let o = hetsim(&["validate", "/dev/zero"]);
    refused(&o, &["/dev/zero:1:1", "4 MiB"]);
    assert!(o.elapsed < Duration::from_secs(20), "{:?}", o.elapsed);
}

#[test]
fn an_endless_pipe_as_circuit_file_is_refused_at_the_size_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("endless.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo is not available; skipped");
        return;
    }
    // A writer that never stops (it dies of SIGPIPE once hetsim closes the pipe).
    let mut writer = Command::new("sh")
        .arg("-c")
        .arg("yes 'name: x' > \"$0\"")
        .arg(&fifo)
        .spawn()
        .unwrap();
    let o = hetsim(&["validate", fifo.to_str().unwrap()]);
    writer.kill().ok();
    writer.wait().ok();
    refused(&o, &["endless.yaml:1:1", "4 MiB"]);
}

#[test]
fn a_device_as_csv_data_is_refused_at_the_size_limit_and_located() {
    let tmp = tempfile::tempdir().unwrap();
    let circuit = tmp.path().join("csv.yaml");
    std::fs::write(
        &circuit,
        "name: csv\ntime: {dt: 1 ms, duration: 1 s}\ntask:\n  kind: csv\n  path: /dev/zero\n  inputs: 2\n  stimulus: {duration: 50 ms}\n  held_out: 1\npopulations:\n  x: {role: input, size: 2}\n  y: {size: 1, tau: 5 ms}\nprojections:\n  W: {from: x, to: y}\n",
    )
    .unwrap();
    let o = hetsim(&["validate", circuit.to_str().unwrap()]);
    refused(&o, &["csv.yaml:5:3", "`task.path`", "256 MiB", "/dev/zero"]);
}

// ---- class 2: sizes are checked before anything is allocated ------------------------------

#[test]
fn huge_sizes_are_refused_by_validate_within_the_memory_limit() {
    // The corpus files ask for TiB; under a 1 GiB limit an allocation would abort (134).
    for file in [
        "held_out_huge.yaml",
        "held_out_times_classes.yaml",
        "held_out_times_classes_no_target.yaml",
        "delay_of_days.yaml",
        "error_delay_of_days.yaml",
        "dt_too_small.yaml",
        "many_large_projections.yaml",
    ] {
        let path = format!("tests/bad_inputs/{file}");
        let o = hetsim(&["validate", &path]);
        refused(&o, &[&format!("{file}:")]);
        // `run` refuses the same, before it writes anything.
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let o = hetsim(&run_args(&path, &out, &[]));
        refused(&o, &[&format!("{file}:")]);
        assert!(!out.exists(), "{file}: run wrote {}", out.display());
    }
}

#[test]
fn the_budget_follows_the_process_address_space_limit() {
    // Every child runs under a 1 GiB `ulimit -v`, far below half of any machine this runs on:
    // a million instances, or one population of a million units, must be refused naming the
    // limit (before: SIGABRT at the limit), and the same run without the limit is refused
    // only for what exceeds the machine.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = hetsim(&run_args(TEACHER, &out, &["--seeds", "1000000"]));
    refused(
        &o,
        &["1000000 instances", "ulimit -v", "instances fit", "--mem"],
    );
    assert!(!out.exists());
    let o = hetsim(&run_args(
        TEACHER,
        &out,
        &["--set", "populations.h.size=999999"],
    ));
    refused(&o, &["ulimit -v", "`task.held_out`"]);
    assert!(!out.exists());
    // A budget set by hand cannot lift the process's own limit either.
    let o = hetsim_env(
        &run_args(TEACHER, &out, &["--seeds", "1000000"]),
        &[("HETSIM_MEMORY_BUDGET", "1TiB")],
        Duration::from_secs(60),
    );
    refused(&o, &["1000000 instances", "ulimit -v"]);
    // `validate` reads the same budget: a circuit of about 600 MiB fits the machine but not
    // the limit.
    let big = tmp.path().join("big.yaml");
    std::fs::write(
        &big,
        "name: big\ntime: {dt: 1 ms, duration: 1 s}\ntask: {kind: linear_teacher, stimulus: {duration: 20 ms}, held_out: 10}\npopulations:\n  x: {role: input, size: 2000}\n  h: {size: 2000, tau: 5 ms}\nprojections:\n  W1: {from: x, to: h}\nlearning: {rule: sgd, output: h, tau_w: 1 s}\n",
    )
    .unwrap();
    let o = hetsim(&["validate", big.to_str().unwrap()]);
    refused(&o, &["big.yaml:", "ulimit -v"]);
    let unlimited = Command::new(BIN)
        .args(["validate", big.to_str().unwrap()])
        .env_remove("HETSIM_MEMORY_BUDGET")
        .output()
        .unwrap();
    assert!(
        unlimited.status.success(),
        "{}",
        String::from_utf8_lossy(&unlimited.stderr)
    );
}

#[test]
fn sizes_from_set_are_refused_against_the_set_argument() {
    for (set, path) in [
        ("task.held_out=100000000000", "`task.held_out`"),
        ("populations.h.size=5000000", "`populations.h.size`"),
        ("projections.W2.delay=100 h", "`projections.W2.delay`"),
        (
            "task.stimulus.error_delay=1000 h",
            "`task.stimulus.error_delay`",
        ),
        ("time.dt=1e-15 s", "`time.dt`"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let o = hetsim(&run_args(TEACHER, &out, &["--set", set]));
        // A consequence may be located in the file (a projection's size follows a
        // population's), but the value that caused it is named.
        let located = o
            .stderr
            .lines()
            .any(|l| l.starts_with(&format!("error: --set {set}: ")) || l.contains(path));
        refused(&o, &[]);
        assert!(located, "{set}: {}", o.stderr);
        assert!(!out.exists());
    }
}

#[test]
fn the_memory_budget_comes_from_the_environment() {
    let o = hetsim_env(
        &["validate", TEACHER],
        &[("HETSIM_MEMORY_BUDGET", "1MB")],
        Duration::from_secs(30),
    );
    refused(
        &o,
        &[
            "teacher_fa.yaml:",
            "HETSIM_MEMORY_BUDGET=1MB",
            "the run would need about",
        ],
    );
    let o = hetsim_env(
        &["validate", TEACHER],
        &[("HETSIM_MEMORY_BUDGET", "64GiB")],
        Duration::from_secs(30),
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let o = hetsim_env(
        &["validate", TEACHER],
        &[("HETSIM_MEMORY_BUDGET", "lots")],
        Duration::from_secs(30),
    );
    refused(&o, &["HETSIM_MEMORY_BUDGET", "`lots` is not a size"]);
}

/// The budget is a value each job carries, not a setting of the process: in one process the
/// same circuit is refused under one budget and accepted under another, in either order, and
/// so is a run request carrying each.
#[test]
fn two_budgets_in_one_process() {
    use hetsim::circuit::budget::{Budget, MemoryBudget};
    use hetsim::experiment::{CircuitSource, ExperimentError, Request};
    let path = root().join(TEACHER);
    let small = Budget::exactly(MemoryBudget::parse("1MB").unwrap());
    let large = Budget::exactly(MemoryBudget::parse("64GiB").unwrap());
    let refusal = hetsim::circuit::load_within(&path, &small)
        .unwrap_err()
        .to_string();
    assert!(
        refusal.contains("more than the budget of 976.6 KiB (set on the command line)"),
        "{refusal}"
    );
    hetsim::circuit::load_within(&path, &large).unwrap_or_else(|d| panic!("{d}"));
    assert!(hetsim::circuit::load_within(&path, &small).is_err());
    let request = |budget: &Budget| Request {
        budget: budget.clone(),
        ..Request::new(CircuitSource {
            path: path.clone(),
            duration: Some("10 ms".into()),
            ..CircuitSource::default()
        })
    };
    match request(&small).prepare() {
        Err(ExperimentError::Input(d)) => {
            assert!(d.to_string().contains("more than the budget of"), "{d}")
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a run of 1 MB was accepted"),
    }
    if let Err(e) = request(&large).prepare() {
        panic!("refused under 64 GiB: {e}");
    }
}

#[test]
fn the_memory_estimate_is_within_a_factor_of_two_of_what_a_run_uses() {
    // A circuit whose memory is dominated by one large plastic matrix, every measurement on,
    // and a delayed projection: the estimate against the peak resident memory the run reports.
    let tmp = tempfile::tempdir().unwrap();
    let circuit = tmp.path().join("big.yaml");
    std::fs::write(
        &circuit,
        "name: big\ntime: {dt: 0.5 ms, duration: 1 s}\ntask: {kind: linear_teacher, stimulus: {duration: 20 ms}, held_out: 2000}\npopulations:\n  x: {role: input, size: 1500}\n  h: {size: 1500, tau: 5 ms}\n  y: {size: 10, tau: 5 ms}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.01, 0.01]}}\n  W2: {from: h, to: y, init: {uniform: [-0.01, 0.01]}, delay: 2 s}\nlearning: {rule: kp, output: y, tau_w: 2 s, tau_decay: 60 s}\nrecord: {every: 100 ms, measure: [loss, gradient_alignment, loss_alignment, weight_alignment, hebbian_signature]}\n",
    )
    .unwrap();
    let (_, c) = hetsim::circuit::load(&circuit).unwrap_or_else(|d| panic!("{d}"));
    let estimate =
        hetsim::circuit::budget::instance_bytes(&c) + hetsim::circuit::budget::SHARED_BYTES;
    let out = tmp.path().join("out");
    let mut args = run_args(circuit.to_str().unwrap(), &out, &[]);
    args[3] = "2ms";
    // Under the children's 1 GiB limit the default budget (half of what the limit leaves)
    // refuses this circuit; a budget set by hand may use the whole limit.
    let o = hetsim_env(
        &args,
        &[("HETSIM_MEMORY_BUDGET", "900MiB")],
        Duration::from_secs(60),
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let Some(peak) = manifest["peak_rss_bytes"].as_f64() else {
        eprintln!("no peak memory reported on this system; skipped");
        return;
    };
    assert!(
        peak <= 2.0 * estimate && estimate <= 2.0 * peak,
        "estimate {estimate:.3e} B, peak resident {peak:.3e} B"
    );
}

// ---- class 3 (names) ----------------------------------------------------------------------

#[test]
fn a_name_from_set_that_is_a_path_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = hetsim(&run_args(TEACHER, &out, &["--set", "name=../../escape"]));
    refused(
        &o,
        &[
            "error: --set name=../../escape: `name`:",
            "not a valid name",
        ],
    );
    assert!(!out.exists());
}

// ---- class 5: messages that point at the right place --------------------------------------

#[test]
fn times_in_scientific_notation_parse() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join(TEACHER))
        .unwrap()
        .replace("dt: 0.1 ms", "dt: 1e-4 s")
        .replace("duration: 30 s", "duration: 3e1 s");
    let path = tmp.path().join("sci.yaml");
    std::fs::write(&path, text).unwrap();
    let o = hetsim(&["validate", path.to_str().unwrap()]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("300000 steps"), "{}", o.stdout);
}

#[test]
fn a_set_value_for_a_name_is_text() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // `y` and `1e3` would be a boolean and a number in YAML.
    let o = hetsim(&run_args(TEACHER, &out, &["--set", "name=y"]));
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"circuit\": \"y\""), "{manifest}");
    let out2 = tmp.path().join("out2");
    let o = hetsim(&run_args(TEACHER, &out2, &["--set", "name=1e3"]));
    assert_eq!(o.code, Some(0), "{}", o.stderr);
}

#[test]
fn a_problem_with_a_set_value_is_reported_against_the_set_argument_only() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = hetsim(&run_args(TEACHER, &out, &["--set", "populations.h.size=0"]));
    refused(
        &o,
        &[
            "error: --set populations.h.size=0: `populations.h.size`: size must be a whole number ≥ 1, found `0`",
        ],
    );
    // Not also against a line of the file (the local error population copies the size).
    assert!(!o.stderr.contains("teacher_fa.yaml:"), "{}", o.stderr);
    // A value that does not fit the schema names its argument, among several.
    let o = hetsim(&run_args(
        TEACHER,
        &out,
        &["--set", "task.input_std=0.5", "--set", "task.held_out=abc"],
    ));
    refused(&o, &["--set task.held_out=abc:"]);
}

#[test]
fn a_default_held_out_that_does_not_fit_says_it_is_a_default() {
    let tmp = tempfile::tempdir().unwrap();
    let mut csv = String::from("a,b,y\n");
    for i in 0..10 {
        csv.push_str(&format!("{i},{},{}\n", i * 2, i % 2));
    }
    std::fs::write(tmp.path().join("small.csv"), csv).unwrap();
    let circuit = tmp.path().join("c.yaml");
    std::fs::write(
        &circuit,
        "name: small\ntime: {dt: 1 ms, duration: 1 s}\ntask:\n  kind: csv\n  path: small.csv\n  inputs: 2\n  stimulus: {duration: 50 ms}\npopulations:\n  x: {role: input, size: 2}\n  y: {size: 1, tau: 5 ms}\nprojections:\n  W: {from: x, to: y}\n",
    )
    .unwrap();
    let o = hetsim(&["validate", circuit.to_str().unwrap()]);
    refused(
        &o,
        &[
            "c.yaml:3:1: `task`:",
            "the default `held_out: 200`",
            "10 rows",
            "held_out: 2",
        ],
    );
}

// ---- class 6: hetsim plot is strict and draws around an interrupted run -------------------

fn finished_run(tmp: &Path) -> PathBuf {
    let out = tmp.join("run");
    let mut args = run_args(TEACHER, &out, &[]);
    args[3] = "300ms";
    let o = hetsim(&args);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    out
}

#[test]
fn plot_draws_a_run_whose_last_row_was_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let run = finished_run(tmp.path());
    let metrics = run.join("metrics.csv");
    let text = std::fs::read_to_string(&metrics).unwrap();
    std::fs::write(&metrics, &text[..text.trim_end().len() - 4]).unwrap();
    let o = hetsim(&["plot", run.to_str().unwrap(), "--format", "svg"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(run.join("figures/learning_curves.svg").is_file());
}

#[test]
fn plot_refuses_missing_tables_columns_and_rows_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let run = finished_run(tmp.path());
    let metrics = run.join("metrics.csv");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let dir = run.to_str().unwrap();

    std::fs::write(&metrics, text.replacen("held_out_loss", "heldout_loss", 1)).unwrap();
    let o = hetsim(&["plot", dir]);
    refused(&o, &["metrics.csv:1", "`held_out_loss`"]);

    let header = text.lines().next().unwrap();
    std::fs::write(&metrics, format!("{header}\n")).unwrap();
    let o = hetsim(&["plot", dir]);
    refused(&o, &["metrics.csv", "no rows"]);

    // NaN cells are gaps, not an error.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[2].split(',').map(String::from).collect();
    cells[5] = "NaN".into();
    lines[2] = cells.join(",");
    std::fs::write(&metrics, lines.join("\n") + "\n").unwrap();
    let o = hetsim(&["plot", dir, "--format", "svg"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);

    std::fs::remove_file(run.join("weights.csv")).unwrap();
    let o = hetsim(&["plot", dir]);
    refused(&o, &["weights.csv"]);
}

// ---- class 7 through the binary -----------------------------------------------------------

#[test]
fn rk4_with_weight_noise_is_refused_from_set_too() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = hetsim(&run_args(
        TEACHER,
        &out,
        &[
            "--set",
            "time.method=rk4",
            "--set",
            "learning.weight_noise=0.1",
        ],
    ));
    refused(
        &o,
        &[
            "--set learning.weight_noise=0.1",
            "weight noise is not integrated by `method: rk4`",
        ],
    );
}

/// A named pipe that nobody writes to is refused after a bounded wait, not waited on forever.
#[test]
fn a_pipe_without_a_writer_does_not_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("circuit.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hetsim"))
        .args(["validate", fifo.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("hetsim validate hangs on a pipe without a writer");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(2));
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("no process wrote to it"), "{err}");
}
