//! Starting from saved weights: `hetsim run --from RUN_DIR[@TIME]`, `init: {from: …}` and
//! `init: {file: …}` (CSV and `.npy`). A continued run's weights at its start are the source's
//! snapshot bit for bit; a two-stage experiment (learn, then run on with learning off or under
//! another rule) starts where the first stage ended; matrix files round-trip exactly; every
//! mistake is an error naming the file, line and setting, or the run and the projection; a
//! rerun of a `--from` run replays it byte for byte and refuses once the source has changed.

mod common;

use common::hetsim;
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
    let a_dir = a.to_str().unwrap();
    for (init, says) in [
        ("{file: missing.csv}", "cannot read"),
        (
            "{file: short.csv}",
            "holds a 2 × 4 matrix; `W1` is 3 × 4 (post × pre)",
        ),
        ("{file: ragged.csv}", "line 2 has 3 numbers"),
        ("{file: wide.npy}", "holds a 3 × 5 matrix"),
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
