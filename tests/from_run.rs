//! Starting from saved weights: `hetsim run --from RUN_DIR[@TIME]`, `init: {from: …}` and
//! `init: {file: …}` (CSV and `.npy`). A continued run's weights at its start are the source's
//! snapshot bit for bit; a two-stage experiment (learn, then run on with learning off or under
//! another rule) starts where the first stage ended; matrix files round-trip exactly; every
//! mistake is an error naming the file, line and setting, or the run and the projection; a
//! rerun of a `--from` run replays it byte for byte and refuses once the source has changed.
//!
//! `--carry activities` starts from the source's checkpoint: continued from the end of a run,
//! every table of the continued run equals the uninterrupted run's from that time on, through
//! the binary (CPU, OpenCL) and on every backend through `Backend::set_activities`; another
//! rule still starts from the activities; every refusal names what is missing.

#[macro_use]
mod common;

use common::{BackendCase, hetsim};
use hetsim::experiment::{CircuitSource, Request};
use hetsim::run::Quiet;
use std::collections::BTreeMap;
use std::path::Path;

/// The circuit: 4 inputs → 3 → 2 under sgd, 2 s of 1 ms steps, weights of every instance
/// snapshot every 500 ms. `W1`'s init is line 9.
fn circuit(w1_init: &str, learning: &str) -> String {
    format!(
        "name: two-stage\n\
         time: {{dt: 1 ms, duration: 2 s, method: exponential_euler}}\n\
         task: {{kind: linear_teacher, input_std: 0.5, stimulus: {{duration: 50 ms}}, held_out: 20}}\n\
         populations:\n  \
           x: {{role: input, size: 4}}\n  \
           h: {{size: 3, tau: 5 ms}}\n  \
           y: {{size: 2, tau: 5 ms}}\n\
         projections:\n  \
           W1: {{from: x, to: h, init: {w1_init}}}\n  \
           W2: {{from: h, to: y, init: {{uniform: [-0.5, 0.5]}}}}\n\
         {learning}\
         record:\n  \
           every: 100 ms\n  \
           measure: [loss]\n  \
           weights: {{every: 500 ms, projections: [W1, W2], instances: all}}\n"
    )
}

const SGD: &str = "learning: {rule: sgd, output: y, tau_w: 200 ms}\n";
const DRAWN: &str = "{uniform: [-0.5, 0.5]}";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_string()
}

/// Runs the binary; panics with its stderr unless it succeeds.
fn ok(args: &[&str]) -> String {
    let out = hetsim(args);
    assert!(
        out.status.success(),
        "hetsim {args:?} failed:\n{}",
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// `hetsim run FILE EXTRA… --backend cpu --no-plots --threads 1 --out OUT`.
fn run_args(file: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["run", file];
    args.extend_from_slice(extra);
    args.extend(["--backend", "cpu", "--no-plots", "--threads", "1", "--out"]);
    args.push(out.to_str().unwrap());
    args.into_iter().map(String::from).collect()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Runs the binary expecting a refusal (exit 2); returns stderr.
fn refused(args: &[&str]) -> String {
    let out = hetsim(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "hetsim {args:?}:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// `weight_snapshots.csv` as (time, instance, projection, post, pre) → the weight's text.
type Snapshots = BTreeMap<(String, usize, String, usize, usize), String>;

fn snapshots(run: &Path) -> Snapshots {
    let text = std::fs::read_to_string(run.join("weight_snapshots.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (
                (
                    c[0].to_string(),
                    c[1].parse().unwrap(),
                    c[2].to_string(),
                    c[3].parse().unwrap(),
                    c[4].parse().unwrap(),
                ),
                c[5].to_string(),
            )
        })
        .collect()
}

/// The snapshot at `time` (as the table writes it), keyed without the time.
fn at(s: &Snapshots, time: &str) -> BTreeMap<(usize, String, usize, usize), String> {
    s.iter()
        .filter(|(k, _)| k.0 == time)
        .map(|(k, v)| ((k.1, k.2.clone(), k.3, k.4), v.clone()))
        .collect()
}

/// Trains the source: sgd for 2 s, 2 seeds, into `dir/a`.
fn source(dir: &Path) -> std::path::PathBuf {
    let file = write(dir, "a.yaml", &circuit(DRAWN, SGD));
    let a = dir.join("a");
    ok(&strs(&run_args(&file, &a, &["--seeds", "2"])));
    a
}

#[test]
fn a_run_from_a_snapshot_starts_from_it_bit_for_bit_and_rerun_replays_it() {
    let tmp = tempfile::tempdir().unwrap();
    let a = source(tmp.path());
    let file = write(tmp.path(), "b.yaml", &circuit(DRAWN, SGD));
    let b = tmp.path().join("b");
    let from = format!("{}@1s", a.display());
    let notes = ok(&strs(&run_args(
        &file,
        &b,
        &["--from", &from, "--seeds", "2"],
    )));
    let source = at(&snapshots(&a), "1");
    let start = at(&snapshots(&b), "0");
    assert_eq!(source.len(), 2 * (12 + 6), "{source:?}");
    assert_eq!(start, source, "{notes}");
    // The weights moved on from there: the run learned.
    assert_ne!(at(&snapshots(&b), "2"), source);

    // The manifest says where they came from.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("manifest.json")).unwrap()).unwrap();
    let sources = manifest["weight_sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2, "{sources:?}");
    let a_manifest = std::fs::read(a.join("manifest.json")).unwrap();
    for s in sources {
        assert_eq!(s["time_s"], 1.0);
        assert_eq!(
            s["manifest_sha256"].as_str().unwrap(),
            hetsim::record::manifest::sha256_hex(&a_manifest)
        );
        assert!(s["run_dir"].as_str().unwrap().ends_with("/a"));
    }

    // A rerun replays it byte for byte…
    let r = tmp.path().join("b-rerun");
    ok(&[
        "rerun",
        b.to_str().unwrap(),
        "--no-plots",
        "--out",
        r.to_str().unwrap(),
    ]);
    for table in ["metrics.csv", "weight_snapshots.csv", "weights.csv"] {
        assert_eq!(
            std::fs::read(b.join(table)).unwrap(),
            std::fs::read(r.join(table)).unwrap(),
            "{table}"
        );
    }
    // …and refuses once the source has changed, or vanished.
    let snap = a.join("weight_snapshots.csv");
    let original = std::fs::read(&snap).unwrap();
    std::fs::write(&snap, [original.as_slice(), b"9,0,W1,0,0,1\n"].concat()).unwrap();
    let r2 = tmp.path().join("b-rerun-2");
    let rerun = [
        "rerun",
        b.to_str().unwrap(),
        "--no-plots",
        "--out",
        r2.to_str().unwrap(),
    ];
    let err = refused(&rerun);
    assert!(
        err.contains("weight_snapshots.csv") && err.contains("has changed since"),
        "{err}"
    );
    std::fs::remove_dir_all(&a).unwrap();
    let err = refused(&rerun);
    assert!(err.contains("cannot be read now"), "{err}");
}

#[test]
fn two_stages_learning_then_learning_off_or_another_rule_start_where_the_first_ended() {
    let tmp = tempfile::tempdir().unwrap();
    let a = source(tmp.path());
    let end = at(&snapshots(&a), "2");
    // Stage two without learning: the default time is the latest (the end), and the weights
    // stay exactly there.
    let fixed = write(tmp.path(), "fixed.yaml", &circuit(DRAWN, ""));
    let b = tmp.path().join("b");
    let args =
        |out: &Path, file: &str, from: &str| run_args(file, out, &["--from", from, "--seeds", "2"]);
    let run = |v: Vec<String>| ok(&strs(&v));
    run(args(&b, &fixed, a.to_str().unwrap()));
    let s = snapshots(&b);
    for t in ["0", "0.5", "1", "1.5", "2"] {
        assert_eq!(at(&s, t), end, "t = {t}");
    }
    // Another rule (fa): starts from the same weights, then learns its own way.
    let fa = write(
        tmp.path(),
        "fa.yaml",
        &circuit(
            DRAWN,
            "learning: {rule: fa, output: y, tau_w: 200 ms, feedback_init: {uniform: [-0.5, 0.5]}}\n",
        ),
    );
    let c = tmp.path().join("c");
    run(args(&c, &fa, &format!("{}@2 s", a.display())));
    let s = snapshots(&c);
    assert_eq!(at(&s, "0"), end);
    assert_ne!(at(&s, "2"), end);

    // `compare`: each rule's instance k starts from the source's instance k.
    let d = tmp.path().join("d");
    ok(&[
        "compare",
        &fa,
        "--rules",
        "sgd,fa",
        "--from",
        a.to_str().unwrap(),
        "--seeds",
        "2",
        "--backend",
        "cpu",
        "--no-plots",
        "--duration",
        "0.5s",
        "--out",
        d.to_str().unwrap(),
    ]);
    let start = at(&snapshots(&d), "0");
    for (k, rule_k) in [(0, 0), (1, 1), (0, 2), (1, 3)] {
        for ((e, p, i, j), v) in &end {
            if *e == k {
                assert_eq!(start[&(rule_k, p.clone(), *i, *j)], *v, "instance {rule_k}");
            }
        }
    }

    // Through the library, into memory: the same start.
    let mut request = Request::new(CircuitSource {
        path: tmp.path().join("fixed.yaml"),
        text: Some(circuit(DRAWN, "")),
        ..CircuitSource::default()
    });
    request.seeds = 2;
    request.from = Some(format!("{}@2s", a.display()));
    let finished = request
        .prepare()
        .unwrap()
        .execute(&mut Quiet, None)
        .unwrap();
    let rows = finished.collected.unwrap().weight_snapshots;
    let start: BTreeMap<_, _> = rows
        .iter()
        .filter(|r| r.time_s == 0.0)
        .map(|r| {
            (
                (r.instance, r.projection.to_string(), r.post, r.pre),
                r.weight,
            )
        })
        .collect();
    let expected: BTreeMap<_, _> = end
        .iter()
        .map(|(k, v)| (k.clone(), v.parse::<f64>().unwrap()))
        .collect();
    assert_eq!(start.len(), expected.len());
    for (k, v) in &expected {
        assert_eq!(start[k].to_bits(), v.to_bits(), "{k:?}");
    }
}

/// A 3 × 4 matrix with values that print long, so a rounding reader would be caught.
fn known() -> Vec<f64> {
    (0..12)
        .map(|k| (k as f64 - 5.5) / 7.0 + 1e-13 * k as f64)
        .collect()
}

/// `W1`'s matrix at t = 0 from `weight_snapshots.csv` (instance `e`), row-major.
fn w1_start(run: &Path, e: usize) -> Vec<f64> {
    let s = at(&snapshots(run), "0");
    (0..3)
        .flat_map(|i| (0..4).map(move |j| (i, j)))
        .map(|(i, j)| s[&(e, "W1".to_string(), i, j)].parse().unwrap())
        .collect()
}

#[test]
fn init_files_csv_and_npy_round_trip_exactly_through_the_binary_and_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let w = known();
    let csv: String = w
        .chunks(4)
        .map(|r| {
            r.iter()
                .map(|v| format!("{v}"))
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    write(tmp.path(), "w.csv", &csv);
    hetsim::circuit::saved::write_npy(&tmp.path().join("w.npy"), 3, 4, &w).unwrap();
    for (name, init) in [("csv", "{file: w.csv}"), ("npy", "{file: w.npy}")] {
        let file = write(tmp.path(), &format!("{name}.yaml"), &circuit(init, SGD));
        ok(&["validate", &file]);
        let out = tmp.path().join(name);
        ok(&strs(&run_args(
            &file,
            &out,
            &["--seeds", "2", "--duration", "0.5s"],
        )));
        for e in 0..2 {
            let got = w1_start(&out, e);
            assert_eq!(
                got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                w.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "{name}, instance {e}"
            );
        }
        // The manifest records the file and its hash.
        let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
        assert!(manifest.contains(&format!("w.{name}")), "{manifest}");
        // The library's plan holds them too.
        let text = circuit(init, SGD);
        let source = hetsim::spec::SourceFile::from_text(&tmp.path().join("c.yaml"), text);
        let spec = hetsim::spec::parse_circuit(&source).unwrap();
        let c = hetsim::circuit::build(&source, &spec).unwrap();
        let instances = vec![hetsim::plan::InstanceSpec {
            circuit: c,
            seed: 3,
            label: "x".into(),
        }];
        let plan = hetsim::plan::Plan::new(&instances, tmp.path()).unwrap();
        let q = plan
            .projections
            .iter()
            .position(|p| p.name == "W1")
            .unwrap();
        assert_eq!(plan.initial_weights[q], w, "{name}");
    }
}

/// Each mistake, its message, and (for the circuit's own) the line of `W1`'s init.
#[test]
fn every_mistake_is_refused_with_where_and_what() {
    let tmp = tempfile::tempdir().unwrap();
    let a = source(tmp.path());
    write(tmp.path(), "short.csv", "1,2,3,4\n5,6,7,8\n");
    write(tmp.path(), "ragged.csv", "1,2,3,4\n5,6,7\n1,2,3,4\n");
    hetsim::circuit::saved::write_npy(&tmp.path().join("wide.npy"), 3, 5, &[0.0; 15]).unwrap();
    // A header that claims 10⁶ × 10⁶ float64 numbers (8 TB) ahead of no data: refused by its
    // size before the file is read.
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }\n";
    let mut huge = b"\x93NUMPY\x01\x00".to_vec();
    huge.extend((header.len() as u16).to_le_bytes());
    huge.extend(header.as_bytes());
    std::fs::write(tmp.path().join("huge.npy"), huge).unwrap();
    let a_dir = a.to_str().unwrap();
    for (init, says) in [
        ("{file: missing.csv}", "cannot read"),
        (
            "{file: short.csv}",
            "holds a 2 × 4 matrix; `W1` is 3 × 4 (post × pre)",
        ),
        ("{file: ragged.csv}", "line 2 has 3 numbers"),
        ("{file: wide.npy}", "holds a 3 × 5 matrix"),
        (
            "{file: huge.npy}",
            "huge.npy: reading it would take about 7.3 TiB of memory (its header says 1000000 × 1000000",
        ),
        ("{file: w.txt}", "`.csv` or `.npy`"),
        (
            &format!("{{from: {a_dir}, time: 0.25 s}}"),
            "saved no weights at t = 0.25 s; it has them at 0 s, 0.5 s, 1 s, 1.5 s, 2 s",
        ),
        ("{from: nowhere}", "is not a run directory"),
        ("{form: a}", "unknown value `form`"),
    ] {
        let file = write(tmp.path(), "bad.yaml", &circuit(init, SGD));
        let err = refused(&["validate", &file]);
        assert!(err.contains(says), "{init}: {err}");
        assert!(
            err.contains("bad.yaml:9:"),
            "{init}: not located at line 9: {err}"
        );
    }

    // `--from`: a time the source lacks, a projection it lacks, a shape it lacks, more
    // instances than it has, and `--from` with `--resume`.
    let file = write(tmp.path(), "b.yaml", &circuit(DRAWN, SGD));
    let out = tmp.path().join("b");
    let run = |from: &str, file: &str, seeds: &str| {
        refused(&strs(&run_args(
            file,
            &out,
            &["--from", from, "--seeds", seeds],
        )))
    };
    let err = run(&format!("{a_dir}@3s"), &file, "1");
    assert!(
        err.contains("saved no weights at t = 3 s; it has them at 0 s, 0.5 s"),
        "{err}"
    );
    let err = run(a_dir, &file, "3");
    assert!(
        err.contains("has them for 2 instances (0, 1); instance 2"),
        "{err}"
    );
    let wider = circuit(DRAWN, SGD).replace("h: {size: 3", "h: {size: 5");
    let wider = write(tmp.path(), "wider.yaml", &wider);
    let err = run(a_dir, &wider, "1");
    assert!(
        err.contains("`W1` is 3 × 4 there, 5 × 4 (post × pre) here"),
        "{err}"
    );
    // A source that snapshot `W2` only.
    let only_w2 = circuit(DRAWN, SGD).replace("projections: [W1, W2]", "projections: [W2]");
    let only_w2 = write(tmp.path(), "only_w2.yaml", &only_w2);
    let a2 = tmp.path().join("a2");
    ok(&strs(&run_args(&only_w2, &a2, &["--duration", "0.5s"])));
    let err = run(&format!("{}@0.5s", a2.display()), &file, "1");
    assert!(
        err.contains("no weights of the projection `W1` (it has `W2`)"),
        "{err}"
    );
    // Nothing to carry: no plastic projection, and none of the source's names.
    let renamed = circuit(DRAWN, "")
        .replace("W1:", "V1:")
        .replace("W2:", "V2:")
        .replace("[W1, W2]", "[V1, V2]");
    let renamed = write(tmp.path(), "renamed.yaml", &renamed);
    let err = run(a_dir, &renamed, "1");
    assert!(err.contains("nothing to start from"), "{err}");
    let err = refused(&["run", "--resume", a_dir, "--from", a_dir]);
    assert!(
        err.contains("--from cannot be given with --resume"),
        "{err}"
    );
    assert!(!out.exists(), "a refused run leaves no directory");
}

/// A circuit whose state is all carried: no noise, no delays, and its plastic matrices fed by
/// an instantaneous copy of the input (so no update is deferred while the input is held). The
/// stimulus is one sample held for longer than any run, so a run started at 0 sees what a run
/// at 1 s sees. `h` has a trace; probes read every rate population and the trace.
const CARRIED: &str = "name: carried
time: {dt: 1 ms, duration: 1 s, method: exponential_euler}
task: {kind: linear_teacher, input_std: 0.5, stimulus: {duration: 10 s}, held_out: 5}
populations:
  x: {role: input, size: 4}
  c: {size: 4, tau: 0 ms, activation: tanh}
  h: {size: 3, tau: 20 ms, trace: {of: rate, tau: 50 ms}}
  y: {size: 2, tau: 20 ms}
projections:
  P: {from: x, to: c, init: {uniform: [-1, 1]}}
  W1: {from: c, to: h, init: {uniform: [-0.5, 0.5]}}
  W2: {from: h, to: y, init: {uniform: [-0.5, 0.5]}}
learning: {rule: sgd, output: y, tau_w: 200 ms, plastic: [W1, W2]}
record:
  every: 100 ms
  measure: [loss]
  probes:
    - {population: h, variable: potential, instances: all, every: 50 ms}
    - {population: h, variable: rate, instances: all, every: 50 ms}
    - {population: h, variable: trace, instances: all, every: 50 ms}
    - {population: y, variable: potential, instances: all, every: 50 ms}
    - {population: y, variable: rate, instances: all, every: 50 ms}
  weights: {every: 500 ms, instances: all}
";

/// A table's rows by time (shifted by `shift` s), each the rest of the row as written.
fn by_time(path: &Path, shift: f64) -> BTreeMap<u64, Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let (t, rest) = line.split_once(',').unwrap();
        let t = ((t.parse::<f64>().unwrap() + shift) * 1e6).round() as u64;
        out.entry(t).or_default().push(rest.to_string());
    }
    out
}

/// Trains `a` for 1 s (checkpoints on, so one is kept at the end), runs the same circuit for
/// 1.5 s uninterrupted, and continues `a` from its end with its activities for 0.5 s: every
/// probe and weight row of the continuation (its start included) and every window's metrics
/// equal the uninterrupted run's 1 s later, value for value. Returns the directories.
fn continued_equals_uninterrupted(dir: &Path, backend: &[&str]) -> (PathBuf, PathBuf) {
    let file = write(dir, "carried.yaml", CARRIED);
    let (a, whole, b) = (dir.join("a"), dir.join("whole"), dir.join("b"));
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec!["run", file.as_str(), "--seeds", "2", "--no-plots"];
        args.extend_from_slice(&["--threads", "1"]);
        args.extend_from_slice(backend);
        args.extend_from_slice(extra);
        args.extend(["--out", out.to_str().unwrap()]);
        ok(&args)
    };
    run(&a, &["--checkpoint-every", "500ms"]);
    run(&whole, &["--duration", "1.5s"]);
    let from = format!("{}@1s", a.display());
    let notes = run(
        &b,
        &[
            "--duration",
            "0.5s",
            "--from",
            &from,
            "--carry",
            "activities",
        ],
    );
    assert!(
        notes.contains("--carry activities: `h`, `y` start from"),
        "{notes}"
    );
    for table in ["probes.csv", "weight_snapshots.csv", "metrics.csv"] {
        let continued = by_time(&b.join(table), 1.0);
        let uninterrupted = by_time(&whole.join(table), 0.0);
        assert!(continued.len() >= 2, "{table}: {continued:?}");
        for (t, rows) in &continued {
            // The continuation's start row of metrics.csv is no window: the other's is.
            if table == "metrics.csv" && *t == 1_000_000 {
                continue;
            }
            assert_eq!(
                Some(rows),
                uninterrupted.get(t),
                "{table} at t = {} s of the uninterrupted run",
                *t as f64 / 1e6
            );
        }
    }
    (a, b)
}

use std::path::PathBuf;

#[test]
fn continued_with_activities_from_the_end_equals_the_uninterrupted_run_cpu_and_rerun_replays_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = continued_equals_uninterrupted(tmp.path(), &["--backend", "cpu"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("manifest.json")).unwrap()).unwrap();
    let source = &manifest["state_source"];
    let checkpoint = std::fs::read(a.join("checkpoint").join("state")).unwrap();
    assert_eq!(
        source["checkpoint_sha256"].as_str().unwrap(),
        hetsim::record::manifest::sha256_hex(&checkpoint)
    );
    assert_eq!(source["time_s"], 1.0);
    assert_eq!(source["populations"], serde_json::json!(["h", "y"]));
    assert_eq!(manifest["replay"]["carry_activities"], true);

    // A rerun replays it byte for byte…
    let r = tmp.path().join("b-rerun");
    let rerun = |out: &Path| {
        vec![
            "rerun".to_string(),
            b.display().to_string(),
            "--no-plots".into(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    ok(&strs(&rerun(&r)));
    for table in ["metrics.csv", "probes.csv", "weight_snapshots.csv"] {
        assert_eq!(
            std::fs::read(b.join(table)).unwrap(),
            std::fs::read(r.join(table)).unwrap(),
            "{table}"
        );
    }
    // …and refuses once the source's checkpoint has changed (it is replaced when the source
    // is resumed, or run again in place).
    let mut changed = checkpoint.clone();
    *changed.last_mut().unwrap() ^= 1;
    std::fs::write(a.join("checkpoint").join("state"), &changed).unwrap();
    let err = refused(&strs(&rerun(&tmp.path().join("b-rerun-2"))));
    assert!(
        err.contains("checkpoint/state") && err.contains("has changed since"),
        "{err}"
    );
}

#[test]
fn continued_with_activities_equals_the_uninterrupted_run_opencl_f64() {
    common::with_case("opencl f64", |_| {
        let tmp = tempfile::tempdir().unwrap();
        continued_equals_uninterrupted(tmp.path(), &["--backend", "opencl", "--precision", "f64"]);
    });
}

/// The probes at `time` (as the table writes it): (instance, population, variable, unit) →
/// value.
fn probes_at(run: &Path, time: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(run.join("probes.csv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .filter(|(t, _)| *t == time)
        .map(|(_, rest)| {
            let (key, value) = rest.rsplit_once(',').unwrap();
            (key.to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn another_rule_still_starts_from_the_activities_through_the_binary_and_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "carried.yaml", CARRIED);
    let a = tmp.path().join("a");
    ok(&strs(&run_args(
        &file,
        &a,
        &["--seeds", "2", "--checkpoint-every", "1s"],
    )));
    let end = probes_at(&a, "1");
    assert_eq!(end.len(), 2 * 3 * 3 + 2 * 2 * 2);
    let fa = CARRIED.replace(
        "learning: {rule: sgd, output: y, tau_w: 200 ms, plastic: [W1, W2]}",
        "learning: {rule: fa, output: y, tau_w: 200 ms, plastic: [W1, W2], feedback_init: {uniform: [-0.5, 0.5]}}",
    );
    let fa_file = write(tmp.path(), "fa.yaml", &fa);
    let b = tmp.path().join("b");
    // No time: the checkpoint's.
    ok(&strs(&run_args(
        &fa_file,
        &b,
        &[
            "--seeds",
            "2",
            "--duration",
            "0.2s",
            "--from",
            a.to_str().unwrap(),
            "--carry",
            "activities",
        ],
    )));
    assert_eq!(probes_at(&b, "0"), end);
    // Without --carry the activities start at rest.
    let c = tmp.path().join("c");
    ok(&strs(&run_args(
        &fa_file,
        &c,
        &[
            "--seeds",
            "2",
            "--duration",
            "0.2s",
            "--from",
            a.to_str().unwrap(),
        ],
    )));
    assert_ne!(probes_at(&c, "0"), end);
    // A trace the source lacks starts at its init, and the note says so.
    let traced = CARRIED.replace(
        "  y: {size: 2, tau: 20 ms}\n",
        "  y: {size: 2, tau: 20 ms, trace: {of: rate, tau: 50 ms}}\n",
    );
    let traced = write(tmp.path(), "traced.yaml", &traced);
    let notes = ok(&strs(&run_args(
        &traced,
        &tmp.path().join("d"),
        &[
            "--seeds",
            "2",
            "--duration",
            "0.2s",
            "--from",
            a.to_str().unwrap(),
            "--carry",
            "activities",
        ],
    )));
    assert!(
        notes.contains("the traces of `y` start at their init (the source has none there)"),
        "{notes}"
    );

    // Through the library, into memory.
    let mut request = Request::new(CircuitSource {
        path: tmp.path().join("fa.yaml"),
        text: Some(fa),
        duration: Some("0.2s".into()),
        ..CircuitSource::default()
    });
    request.seeds = 2;
    request.from = Some(format!("{}@1 s", a.display()));
    request.carry_activities = true;
    let finished = request
        .prepare()
        .unwrap()
        .execute(&mut Quiet, None)
        .unwrap();
    let probes = finished.collected.unwrap().probes;
    let start: BTreeMap<String, f64> = probes
        .iter()
        .filter(|r| r.time_s == 0.0)
        .map(|r| {
            (
                format!(
                    "{},{},{},{}",
                    r.instance,
                    r.population,
                    r.variable.name(),
                    r.unit
                ),
                r.value,
            )
        })
        .collect();
    assert_eq!(start.len(), end.len());
    for (k, v) in &end {
        assert_eq!(
            start[k].to_bits(),
            v.parse::<f64>().unwrap().to_bits(),
            "{k}"
        );
    }
    assert!(finished.manifest.state_source.is_some());
}

#[test]
fn carrying_activities_refuses_what_it_cannot_carry_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "carried.yaml", CARRIED);
    let a = tmp.path().join("a");
    ok(&strs(&run_args(
        &file,
        &a,
        &["--seeds", "2", "--checkpoint-every", "500ms"],
    )));
    let plain = tmp.path().join("plain");
    ok(&strs(&run_args(&file, &plain, &["--duration", "0.5s"])));
    let out = tmp.path().join("b");
    let carry = |file: &str, from: &str, seeds: &str| {
        refused(&strs(&run_args(
            file,
            &out,
            &["--from", from, "--carry", "activities", "--seeds", seeds],
        )))
    };
    let a_dir = a.to_str().unwrap();
    // No checkpoint at that time: it says where the one kept is.
    let err = carry(&file, &format!("{a_dir}@0.5s"), "1");
    assert!(
        err.contains("has no checkpoint at t = 0.5 s; its checkpoint is at t = 1 s"),
        "{err}"
    );
    // No checkpoint at all.
    let err = carry(&file, plain.to_str().unwrap(), "1");
    assert!(
        err.contains("has no checkpoint") && err.contains("--checkpoint-every"),
        "{err}"
    );
    // More instances than the source has.
    let err = carry(&file, a_dir, "3");
    assert!(err.contains("instance 2"), "{err}");
    // A population the source lacks, or of another size (a rate population fed by nothing
    // carried: only its activities are at stake).
    let extra = |name: &str, size: usize| {
        CARRIED.replace(
            "  y: {size: 2, tau: 20 ms}\n",
            &format!(
                "  y: {{size: 2, tau: 20 ms}}\n  {name}: {{size: {size}, tau: 20 ms, bias: 0.1}}\n"
            ),
        )
    };
    let with_r = write(tmp.path(), "r.yaml", &extra("r", 2));
    let a2 = tmp.path().join("a2");
    ok(&strs(&run_args(
        &with_r,
        &a2,
        &["--checkpoint-every", "1s"],
    )));
    let absent = write(tmp.path(), "absent.yaml", &extra("s", 2));
    let err = carry(&absent, a2.to_str().unwrap(), "1");
    assert!(
        err.contains("has no population `s` (it has `x`, `c`, `h`, `y`, `r`"),
        "{err}"
    );
    let wider = write(tmp.path(), "wider.yaml", &extra("r", 5));
    let err = carry(&wider, a2.to_str().unwrap(), "1");
    assert!(
        err.contains("the population `r` has 2 units there, 5 units here"),
        "{err}"
    );
    // --carry needs --from; --carry with --resume.
    let out_s = out.to_str().unwrap();
    let err = refused(&["run", &file, "--carry", "activities", "--out", out_s]);
    assert!(err.contains("--from"), "{err}");
    let err = refused(&[
        "run",
        "--resume",
        a_dir,
        "--from",
        a_dir,
        "--carry",
        "activities",
    ]);
    assert!(err.contains("cannot be given with --resume"), "{err}");
    assert!(!out.exists(), "a refused run leaves no directory");
}

/// On every backend: a backend started from another's state at step n (its weights as the
/// plan's, its activities through `set_activities`) steps exactly as the other goes on.
fn set_activities_continues_exactly(case: &BackendCase) {
    let seeds: &[u64] = if case.name.contains("rows") {
        &[1]
    } else {
        &[1, 2, 3]
    };
    let plan = common::plan_from(CARRIED, seeds);
    let mut a = (case.make)(plan.clone());
    // An odd step: the row layout's parity copies are the other way round from a start.
    a.advance(301).unwrap();
    let mid = a.snapshot().unwrap();
    let mut seed = hetsim::backend::ActivitySeed::default();
    for (p, pop) in plan.populations.iter().enumerate() {
        let rate = !pop.instantaneous && !pop.role.is_driven();
        seed.u.push(rate.then(|| mid.u[p].clone()));
        seed.z.push(rate.then(|| mid.z[p].clone()));
        seed.q
            .push(pop.trace.as_ref().map(|_| mid.traces[p].clone()));
    }
    let mut continued = (*plan).clone();
    continued.initial_weights = mid.weights.clone();
    let mut b = (case.make)(std::sync::Arc::new(continued));
    b.set_activities(&seed).unwrap();
    let start = b.snapshot().unwrap();
    assert_eq!(start.weights, mid.weights, "{}", case.name);
    for (p, pop) in plan.populations.iter().enumerate() {
        if seed.u[p].is_some() {
            assert_eq!(start.u[p], mid.u[p], "{}: u of {}", case.name, pop.name);
            assert_eq!(start.z[p], mid.z[p], "{}: z of {}", case.name, pop.name);
        }
        assert_eq!(
            start.traces[p], mid.traces[p],
            "{}: q of {}",
            case.name, pop.name
        );
    }
    a.advance(200).unwrap();
    b.advance(200).unwrap();
    let (x, y) = (a.snapshot().unwrap(), b.snapshot().unwrap());
    assert_eq!(x.weights, y.weights, "{}", case.name);
    assert_eq!(x.u, y.u, "{}", case.name);
    assert_eq!(x.z, y.z, "{}", case.name);
    assert_eq!(x.traces, y.traces, "{}", case.name);
    // A seed of another shape is refused, not written.
    seed.u.pop();
    assert!(b.set_activities(&seed).is_err());
}

per_backend!(set_activities_continues_exactly);
