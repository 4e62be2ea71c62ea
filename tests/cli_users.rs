//! Issue 32, through the binary: `--threads N` on every command that runs (the tables do not
//! depend on it; bad counts refused naming the option), and `hetsim sweep --set/--seeds/
//! --duration` (applied on top of the file, recorded, and a resume or merge under other
//! changes refused).

mod common;

use common::hetsim;
use std::path::{Path, PathBuf};

/// A small linear teacher: 4 → 3 → 2, fa, 0.4 s at dt = 1 ms.
const CIRCUIT: &str = "name: small
time: {dt: 1 ms, duration: 400 ms}
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

/// Three points × two rules × three seeds of the circuit above.
const SWEEP: &str = "name: small
circuit: c.yaml
set: [\"task.stimulus.duration=40 ms\"]
axes:
  - path: learning.tau_w
    values: [\"300 ms\", \"600 ms\", \"900 ms\"]
rules: [fa, sgd]
seeds: 3
";

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), CIRCUIT).unwrap();
    std::fs::write(dir.path().join("s.yaml"), SWEEP).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the binary and insists on success.
fn ok(args: &[&str]) -> String {
    let out = hetsim(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "hetsim {args:?} failed:\n{stderr}");
    stderr
}

/// Runs the binary and insists on exit code 2; returns stderr.
fn refused(args: &[&str]) -> String {
    let out = hetsim(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "hetsim {args:?}:\n{stderr}");
    stderr
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn one_thread_and_two_give_the_same_tables() {
    let dir = folder();
    let c = dir.path().join("c.yaml");
    let run = |threads: &str, out: &Path| {
        ok(&[
            "run",
            s(&c),
            "--backend",
            "cpu",
            "--seeds",
            "19",
            "--no-plots",
            "--threads",
            threads,
            "--out",
            s(out),
        ]);
    };
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    run("1", &one);
    run("2", &two);
    for table in ["metrics.csv", "instances.csv", "weights.csv"] {
        assert_eq!(read(one.join(table)), read(two.join(table)), "{table}");
    }
    // The pool is really the one asked for: the backend describes its threads.
    let described = |d: &Path| manifest(d)["backend"].as_str().unwrap().to_string();
    assert!(described(&one).contains("1 thread,"), "{}", described(&one));
    assert!(described(&two).contains("2 threads"), "{}", described(&two));
    // A rerun on another count reproduces the tables too.
    let again = dir.path().join("again");
    ok(&[
        "rerun",
        s(&two),
        "--threads",
        "1",
        "--no-plots",
        "--out",
        s(&again),
    ]);
    assert_eq!(
        read(again.join("metrics.csv")),
        read(one.join("metrics.csv"))
    );
    assert!(described(&again).contains("1 thread,"));

    // A compare and a sweep likewise.
    let (c1, c2) = (dir.path().join("c1"), dir.path().join("c2"));
    for (t, out) in [("1", &c1), ("2", &c2)] {
        ok(&[
            "compare",
            s(&c),
            "--rules",
            "sgd,fa,kp",
            "--backend",
            "cpu",
            "--seeds",
            "3",
            "--no-plots",
            "--threads",
            t,
            "--out",
            s(out),
        ]);
    }
    assert_eq!(read(c1.join("metrics.csv")), read(c2.join("metrics.csv")));
    assert_eq!(read(c1.join("compare.csv")), read(c2.join("compare.csv")));
    let sweep = dir.path().join("s.yaml");
    let (s1, s2) = (dir.path().join("s1"), dir.path().join("s2"));
    for (t, out) in [("1", &s1), ("2", &s2)] {
        ok(&[
            "sweep",
            s(&sweep),
            "--backend",
            "cpu",
            "--no-plots",
            "--threads",
            t,
            "--out",
            s(out),
        ]);
    }
    assert_eq!(read(s1.join("summary.csv")), read(s2.join("summary.csv")));
    assert_eq!(read(s1.join("metrics.csv")), read(s2.join("metrics.csv")));
    assert!(
        manifest(&s1)["backend"]
            .as_str()
            .unwrap()
            .contains("1 thread,")
    );
}

#[test]
fn bad_thread_counts_are_refused_naming_the_option_on_every_command() {
    let commands: [&[&str]; 6] = [
        &["run", "c.yaml"],
        &["compare", "c.yaml"],
        &["rerun", "runs/x"],
        &["sweep", "s.yaml"],
        &["evolve", "e.yaml"],
        &["bench"],
    ];
    for command in commands {
        for bad in ["0", "x", "-2", "1.5"] {
            // `--threads=-2`: a negative number after a space would read as an option.
            let option = format!("--threads={bad}");
            let mut args = command.to_vec();
            args.push(&option);
            let e = refused(&args);
            assert!(
                e.contains(&format!("invalid value '{bad}' for '--threads <N>'")),
                "{args:?}: {e}"
            );
            assert!(e.contains("at least 1"), "{args:?}: {e}");
        }
    }
}

fn summary_rows(dir: &Path) -> Vec<String> {
    String::from_utf8(read(dir.join("summary.csv")))
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn sweep_options_shrink_the_sweep_and_are_recorded() {
    let dir = folder();
    let sweep = dir.path().join("s.yaml");
    // The dry run already counts with them.
    let out = hetsim(&["sweep", s(&sweep), "--dry-run", "--seeds", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3 point(s) × 2 rule(s) [fa, sgd] × 1 seed(s)"),
        "{text}"
    );
    let small = dir.path().join("small");
    ok(&[
        "sweep",
        s(&sweep),
        "--backend",
        "cpu",
        "--no-plots",
        "--seeds",
        "1",
        "--duration",
        "200ms",
        "--set",
        "learning.feedback_init={uniform: [-0.2, 0.2]}",
        "--out",
        s(&small),
    ]);
    // 3 points × 2 rules × 1 seed.
    assert_eq!(summary_rows(&small).len(), 6);
    let m = manifest(&small);
    assert_eq!(m["seeds"], 1);
    assert_eq!(
        m["overrides"],
        serde_json::json!({
            "set": ["learning.feedback_init={uniform: [-0.2, 0.2]}"],
            "seeds": 1,
            "duration": "200 ms"
        })
    );
    // Each part ran 0.2 s (the file's circuit says 0.4 s).
    let parts: Vec<PathBuf> = std::fs::read_dir(small.join("parts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!parts.is_empty());
    for p in &parts {
        assert_eq!(manifest(p)["duration_s"], 0.2, "{}", p.display());
    }
    // The --set reached the circuit: a different feedback draw, different numbers.
    let plain = dir.path().join("plain");
    ok(&[
        "sweep",
        s(&sweep),
        "--backend",
        "cpu",
        "--no-plots",
        "--seeds",
        "1",
        "--duration",
        "200ms",
        "--out",
        s(&plain),
    ]);
    let fa_rows = |d: &Path| -> Vec<String> {
        summary_rows(d)
            .into_iter()
            .filter(|r| r.contains(",fa,"))
            .collect()
    };
    assert_ne!(fa_rows(&small), fa_rows(&plain));
    let sgd_rows = |d: &Path| -> Vec<String> {
        summary_rows(d)
            .into_iter()
            .filter(|r| r.contains(",sgd,"))
            .collect()
    };
    // sgd has no feedback matrix to draw: the same rows either way.
    assert_eq!(sgd_rows(&small), sgd_rows(&plain));
    assert!(manifest(&plain)["overrides"]["set"].is_null());

    // Bad options: named and exit 2, nothing run.
    let e = refused(&["sweep", s(&sweep), "--seeds", "0"]);
    assert!(e.contains("--seeds must be at least 1"), "{e}");
    let e = refused(&["sweep", s(&sweep), "--set", "learning.tau_w"]);
    assert!(e.contains("--set needs PATH=VALUE"), "{e}");
    let e = refused(&["sweep", s(&sweep), "--duration", "2"]);
    assert!(e.contains("--duration: time `2` has no unit"), "{e}");
    let e = refused(&[
        "sweep",
        s(&sweep),
        "--out",
        s(&dir.path().join("bad")),
        "--set",
        "populations.zz.tau=1 ms",
    ]);
    assert!(e.contains("--set populations.zz.tau=1 ms"), "{e}");
    assert!(!dir.path().join("bad").join("parts").exists());
}

#[test]
fn resume_and_merge_refuse_other_sweep_options() {
    let dir = folder();
    let sweep = dir.path().join("s.yaml");
    let base = [
        "--backend",
        "cpu",
        "--no-plots",
        "--seeds",
        "1",
        "--duration",
        "200 ms",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        let mut v = vec!["sweep".to_string(), s(&sweep).to_string()];
        v.extend(base.iter().map(|a| a.to_string()));
        v.extend(extra.iter().map(|a| a.to_string()));
        v
    };
    let whole = dir.path().join("whole");
    ok(&args(&with(&["--out", s(&whole)])));
    let before = read(whole.join("summary.csv"));
    // The same options resume (nothing left to run); `5s`-style spellings are the same option.
    let same = with(&["--out", s(&whole), "--resume"]);
    let mut respelled = same.clone();
    let d = respelled.iter().position(|a| a == "200 ms").unwrap();
    respelled[d] = "200ms".into();
    ok(&args(&respelled));
    // Other options are refused by name, and the results stay as they were.
    for (change, expect) in [
        (
            ("200 ms", "300 ms"),
            "this run has --seeds 1 --duration \"300 ms\"",
        ),
        (("1", "2"), "this run has --seeds 2 --duration \"200 ms\""),
    ] {
        let mut other = same.clone();
        let k = other.iter().position(|a| a == change.0).unwrap();
        other[k] = change.1.into();
        let e = refused(&args(&other));
        assert!(
            e.contains("it ran with --seeds 1 --duration \"200 ms\"") && e.contains(expect),
            "{e}"
        );
    }
    let mut none: Vec<String> = vec!["sweep".into(), s(&sweep).into(), "--backend".into()];
    none.extend(["cpu", "--resume", "--out", s(&whole)].map(String::from));
    let e = refused(&args(&none));
    assert!(
        e.contains("this run has no --set, --seeds or --duration"),
        "{e}"
    );
    assert_eq!(read(whole.join("summary.csv")), before);

    // Shards with the same options merge into the unsharded sweep; other options are refused.
    let shard = |i: usize, extra: &[&str]| {
        let out = dir.path().join(format!("shard-{i}{}", extra.len()));
        let mut v = with(&["--shard", &format!("{i}/2"), "--out", s(&out)]);
        v.extend(extra.iter().map(|a| a.to_string()));
        ok(&args(&v));
        out
    };
    let (a, b) = (shard(0, &[]), shard(1, &[]));
    let merged = dir.path().join("merged");
    ok(&[
        "sweep",
        "merge",
        s(&a),
        s(&b),
        "--no-plots",
        "--out",
        s(&merged),
    ]);
    assert_eq!(read(merged.join("summary.csv")), before);
    assert_eq!(
        manifest(&merged)["overrides"],
        manifest(&whole)["overrides"]
    );
    let odd = shard(1, &["--set", "task.input_std=0.4"]);
    let e = refused(&[
        "sweep",
        "merge",
        s(&a),
        s(&odd),
        "--out",
        s(&dir.path().join("m2")),
    ]);
    assert!(
        e.contains("is not a shard of the same sweep")
            && e.contains("--set \"task.input_std=0.4\""),
        "{e}"
    );
}

#[test]
fn the_sweep_docs_quote_the_shipped_slurm_scripts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let docs = std::fs::read_to_string(root.join("docs/sweeps.md")).unwrap();
    for name in ["sweep_array.sbatch", "sweep_merge.sbatch"] {
        let text = std::fs::read_to_string(root.join("scripts/slurm").join(name)).unwrap();
        assert!(
            docs.contains(&format!("```bash\n# scripts/slurm/{name}\n{text}```")),
            "docs/sweeps.md does not quote scripts/slurm/{name} as it is"
        );
    }
}
