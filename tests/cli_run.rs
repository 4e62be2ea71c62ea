//! `hetsim run` and `hetsim compare` through the real binary and the run loop: run directories,
//! reproducibility, flat memory, divergence handling and bad arguments.

mod common;

use std::path::{Path, PathBuf};

use common::hetsim;

fn circuit(name: &str) -> String {
    format!("{}/circuits/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"))
        .expect("json")
}

#[test]
fn run_writes_a_run_directory_and_same_seed_gives_identical_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for dir in [&a, &b] {
        let out = hetsim(&[
            "run",
            &circuit("teacher_fa.yaml"),
            "--duration",
            "1 s",
            "--seeds",
            "3",
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
    }
    let (ma, mb) = (
        std::fs::read(a.join("metrics.csv")).unwrap(),
        std::fs::read(b.join("metrics.csv")).unwrap(),
    );
    assert_eq!(ma, mb, "same seeds must give identical metrics.csv");
    let m = manifest(&a);
    assert_eq!(m["status"], "completed");
    assert_eq!(m["method"], "exponential_euler");
    assert_eq!(m["dt_s"], 1e-4);
    assert_eq!(m["seeds"], serde_json::json!([1, 2, 3]));
    assert!(m["backend"].as_str().unwrap().starts_with("cpu"));
    assert!(
        m["circuits"]["fa"].as_str().unwrap().contains("B2"),
        "the manifest holds the expanded circuit"
    );
    // 11 windows (t = 0 and every 100 ms) × 3 instances of `all` rows.
    let text = String::from_utf8(ma).unwrap();
    assert_eq!(text.lines().filter(|l| l.contains(",all,")).count(), 33);
    let instances = std::fs::read_to_string(a.join("instances.csv")).unwrap();
    assert_eq!(instances.lines().count(), 4);
}

#[test]
fn memory_stays_flat_for_a_ten_times_longer_run() {
    let tmp = tempfile::tempdir().unwrap();
    let mut peaks = Vec::new();
    for (name, duration) in [("short", "2 s"), ("long", "20 s")] {
        let dir = tmp.path().join(name);
        let out = hetsim(&[
            "run",
            &circuit("teacher_fa.yaml"),
            "--duration",
            duration,
            "--seeds",
            "2",
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
        peaks.push(
            manifest(&dir)["peak_rss_bytes"]
                .as_f64()
                .expect("peak RSS recorded"),
        );
    }
    assert!(
        peaks[1] <= peaks[0] * 1.10,
        "peak RSS {} B for 20 s vs {} B for 2 s",
        peaks[1],
        peaks[0]
    );
}

#[test]
fn compare_prints_a_table_and_writes_compare_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cmp");
    let out = hetsim(&[
        "compare",
        &circuit("teacher_fa.yaml"),
        "--rules",
        "sgd,fa",
        "--seeds",
        "2",
        "--duration",
        "1 s",
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
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sgd") && stdout.contains("fa") && stdout.contains("grad angle"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(dir.join("compare.csv")).unwrap();
    let sgd = csv
        .lines()
        .find(|l| l.starts_with("sgd,"))
        .expect("sgd row");
    let column = csv
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|h| h == "mean_gradient_angle_deg")
        .expect("compare.csv has the gradient angle");
    let angle: f64 = sgd.split(',').nth(column).unwrap().parse().unwrap();
    assert!(
        angle < 1e-6,
        "sgd's mean gradient angle is {angle}°, must be 0"
    );
}

#[test]
fn a_diverging_instance_is_stopped_named_and_the_rest_run_on() {
    let fa = std::fs::read_to_string(circuit("teacher_fa.yaml"))
        .unwrap()
        .replace("duration: 30 s", "duration: 3 s");
    let hebbian = fa
        .replace("rule: fa", "rule: hebbian")
        .replace("tau_w: 2 s", "tau_w: 300 ms");
    let instances = vec![
        hetsim::plan::InstanceSpec {
            circuit: common::circuit_from(&fa),
            seed: 1,
            label: "fa".into(),
        },
        hetsim::plan::InstanceSpec {
            circuit: common::circuit_from(&hebbian),
            seed: 1,
            label: "hebbian".into(),
        },
    ];
    let plan = hetsim::plan::Plan::new(&instances, Path::new(".")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("run");
    let manifest_in = common::test_manifest(&plan);
    let mut recorder = hetsim::record::Recorder::create(&dir, &plan, manifest_in).unwrap();
    let plan = std::sync::Arc::new(plan);
    let mut backend = hetsim::backend::cpu::new(plan.clone(), hetsim::backend::Precision::F64);
    let outcome = hetsim::run::execute(
        &plan,
        backend.as_mut(),
        hetsim::simd::Simd::auto(),
        &mut recorder,
        &mut hetsim::run::Quiet,
        None,
    )
    .unwrap();
    assert_eq!(outcome.failures.len(), 1, "{:?}", outcome.failures);
    let failure = &outcome.failures[0];
    assert_eq!(failure.instance, 1);
    assert!(
        failure.message.contains("diverged between t ="),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("population `") || failure.message.contains("projection `"),
        "{}",
        failure.message
    );
    let m = manifest(&dir);
    assert_eq!(m["status"], "completed with failures");
    assert_eq!(m["failures"][0]["instance"], 1);
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let times = |inst: &str| {
        text.lines()
            .filter(|l| l.split(',').nth(1) == Some(inst) && l.contains(",all,"))
            .count()
    };
    assert_eq!(times("0"), 31, "the stable instance records every window");
    let kept = times("1");
    let windows_before = (failure.time_s / 0.1).round() as usize; // rows at t = 0 … failure − 0.1 s
    assert!(
        kept >= 2,
        "the diverged instance keeps its rows from before the failure ({kept})"
    );
    assert_eq!(
        kept, windows_before,
        "rows stop at the failure at t = {} s",
        failure.time_s
    );
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.split(',').count() == hetsim::record::metrics::COLUMNS.len()),
        "every row is complete"
    );
}

#[test]
fn bad_run_arguments_are_clear_errors() {
    let out = hetsim(&[
        "run",
        &circuit("teacher_fa.yaml"),
        "--set",
        "populations.h.tau=5",
        "--no-plots",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no unit"));
    let out = hetsim(&[
        "run",
        &circuit("teacher_fa.yaml"),
        "--set",
        "populations.h.taux=5 ms",
        "--no-plots",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("taux"));
    let out = hetsim(&[
        "run",
        &circuit("teacher_fa.yaml"),
        "--backend",
        "gpu",
        "--no-plots",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = hetsim(&[
        "compare",
        &circuit("teacher_fa.yaml"),
        "--rules",
        "sgd,backprop",
        "--no-plots",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown rule `backprop`"));
}

#[test]
fn plot_names_the_missing_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let out = hetsim(&[
        "run",
        &circuit("teacher_sgd.yaml"),
        "--duration",
        "0.3 s",
        "--backend",
        "cpu",
        "--no-plots",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let out = hetsim(&["plot", dir.to_str().unwrap(), "--format", "svg"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("figures/learning_curves.svg").exists());
    std::fs::remove_file(dir.join("metrics.csv")).unwrap();
    let out = hetsim(&["plot", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("metrics.csv"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
