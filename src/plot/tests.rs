//! Tests of the figures module on synthetic run directories.
//!
//! `small_run` is the minimal fixture (3 times × 2 labels × 2 instances,
//! every file present); `realistic_run` imitates a real comparison (loss
//! falling exponentially, fa near 50°, sgd at 0°) and feeds the ignored
//! `write_example_figures` test, which leaves PNGs to look at.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use super::data::Metric;
use super::figures::{
    prepare_alignment, prepare_hebbian, prepare_learning_curves, prepare_learning_strength,
    prepare_traces, prepare_weights,
};
use super::render::{Figure, YAxis, render_rgb};
use super::stats::{self, BandKind, band_over_time, summarize};
use super::{FIGURES, Formats, PlotError, load_run, plot_run};

/// How one synthetic run is generated.
struct Spec {
    labels: Vec<&'static str>,
    seeds: Vec<u64>,
    times: Vec<f64>,
    projections: Vec<&'static str>,
    /// Value of a metric cell, `None` for an empty cell.
    metric: fn(&Ctx) -> Option<f64>,
    trace_times: Vec<f64>,
    /// Trace value, or `None` when this instance/signal is not traced.
    trace: fn(&Ctx, &str) -> Option<f64>,
    /// Matrices as (name, rows, cols); value per (ctx, stage, name, r, c).
    matrices: Vec<(&'static str, usize, usize)>,
    weight: fn(&Ctx, bool, &str, usize, usize) -> f64,
}

/// The coordinates of one generated value.
struct Ctx<'a> {
    label: &'a str,
    seed: u64,
    t: f64,
    projection: &'a str,
    metric: Metric,
    scale: f64,
}

/// Deterministic noise in [−1, 1] (splitmix64 of the inputs).
fn noise(a: u64, b: u64) -> f64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

fn write_run(dir: &Path, spec: &Spec, scale: f64) {
    fs::create_dir_all(dir).unwrap();
    let rules: Vec<String> = spec.labels.iter().map(|l| format!("\"{l}\"")).collect();
    let seeds: Vec<String> = spec.seeds.iter().map(|s| s.to_string()).collect();
    fs::write(
        dir.join("manifest.json"),
        format!(
            "{{\"circuit\": \"two_layer\", \"rules\": [{}], \"seeds\": [{}], \
             \"dt_s\": 0.0001, \"method\": \"exponential_euler\", \"extra\": {{\"x\": 1}}}}",
            rules.join(", "),
            seeds.join(", ")
        ),
    )
    .unwrap();

    let mut instances = String::from("instance,seed,rule,label,lr\n");
    let mut metrics = String::from(
        "time_s,instance,projection,phase,loss,accuracy,held_out_loss,held_out_accuracy,\
         gradient_angle_deg,loss_angle_deg,learning_strength,hebbian_signature,\
         weight_angle_deg,weight_norm_ratio,first_task_loss\n",
    );
    let mut traces = String::from("time_s,instance,signal,value\n");
    let mut weights = String::from("stage,instance,projection,row,col,value\n");
    let signals = [
        "input x[0]",
        "output y[0]",
        "error e[0]",
        "plasticity W1[0,0]",
    ];
    for label in &spec.labels {
        for &seed in &spec.seeds {
            let id = format!("{label}-s{seed}");
            writeln!(instances, "{id},{seed},{label},{label},0.1").unwrap();
            for &t in &spec.times {
                for &p in &spec.projections {
                    write!(metrics, "{t},{id},{p},run").unwrap();
                    for metric in Metric::ALL {
                        let ctx = Ctx {
                            label,
                            seed,
                            t,
                            projection: p,
                            metric,
                            scale,
                        };
                        match (spec.metric)(&ctx) {
                            Some(v) => write!(metrics, ",{v}").unwrap(),
                            None => metrics.push(','),
                        }
                    }
                    metrics.push('\n');
                }
            }
            for &t in &spec.trace_times {
                for s in signals {
                    let ctx = Ctx {
                        label,
                        seed,
                        t,
                        projection: "",
                        metric: Metric::Loss,
                        scale,
                    };
                    if let Some(v) = (spec.trace)(&ctx, s) {
                        writeln!(traces, "{t},{id},\"{s}\",{v}").unwrap();
                    }
                }
            }
            for &(name, rows, cols) in &spec.matrices {
                for (stage, is_end) in [("start", false), ("end", true)] {
                    for r in 0..rows {
                        for c in 0..cols {
                            let ctx = Ctx {
                                label,
                                seed,
                                t: 0.0,
                                projection: name,
                                metric: Metric::Loss,
                                scale,
                            };
                            let v = (spec.weight)(&ctx, is_end, name, r, c);
                            writeln!(weights, "{stage},{id},{name},{r},{c},{v}").unwrap();
                        }
                    }
                }
            }
        }
    }
    fs::write(dir.join("instances.csv"), instances).unwrap();
    fs::write(dir.join("metrics.csv"), metrics).unwrap();
    if !spec.trace_times.is_empty() {
        fs::write(dir.join("traces.csv"), traces).unwrap();
    }
    if !spec.matrices.is_empty() {
        fs::write(dir.join("weights.csv"), weights).unwrap();
    }
}

/// 3 time points × 2 labels × 2 instances, every metric and file present;
/// `scale` changes the values (not the layout) between two inputs.
fn small_spec() -> Spec {
    Spec {
        labels: vec!["fa", "sgd"],
        seeds: vec![1, 2],
        times: vec![0.0, 0.5, 1.0],
        projections: vec!["all", "W1", "W2"],
        metric: |c| {
            let k = if c.label == "fa" { 1.0 } else { 2.0 } + c.seed as f64 * 0.1;
            let v = match c.metric {
                Metric::Loss | Metric::HeldOutLoss => (1.0 / c.scale) * (-k * c.t).exp(),
                Metric::Accuracy | Metric::HeldOutAccuracy => 0.5 + 0.4 * c.t / c.scale,
                Metric::GradientAngle | Metric::LossAngle => 60.0 * c.scale - 10.0 * c.t * k,
                Metric::WeightAngle => 90.0 - 20.0 * c.t * k * c.scale,
                Metric::LearningStrength => c.scale * k * (1.0 - c.t / 2.0),
                Metric::HebbianSignature => 0.8 * (c.t - 0.5) * c.scale / k,
                Metric::WeightNormRatio => 1.0,
                // Recorded only in protocols that change the task.
                Metric::FirstTaskLoss => return None,
            };
            let instance_level = matches!(
                c.metric,
                Metric::Loss | Metric::Accuracy | Metric::HeldOutLoss | Metric::HeldOutAccuracy
            );
            ((c.projection == "all") == instance_level || c.metric == Metric::GradientAngle)
                .then_some(v)
        },
        trace_times: vec![0.0, 0.001, 0.002],
        trace: |c, s| {
            let k = if c.label == "fa" { 1.0 } else { -1.0 };
            Some(k * c.scale * (c.t * 1000.0 + s.len() as f64))
        },
        matrices: vec![("W1", 3, 2), ("B2", 3, 1), ("W2-B2T", 1, 3)],
        weight: |c, end, _, r, col| {
            let base = (r as f64 - col as f64) * c.scale;
            if end { base * 0.5 } else { base }
        },
    }
}

fn small_run(dir: &Path, scale: f64) {
    write_run(dir, &small_spec(), scale);
}

/// A run that looks like a real fa / kp / sgd comparison.
fn realistic_spec() -> Spec {
    let times: Vec<f64> = (0..=60).map(|i| i as f64 * 0.05).collect();
    Spec {
        labels: vec!["sgd", "fa", "kp"],
        seeds: vec![1, 2, 3],
        times,
        projections: vec!["all", "W1", "W2"],
        metric: |c| {
            let n = |k: u64| noise(c.seed * 1000 + k, (c.t * 1000.0) as u64);
            let lid = match c.label {
                "sgd" => 0,
                "fa" => 1,
                _ => 2,
            };
            let tau = [0.35, 0.8, 0.5][lid] * (1.0 + 0.08 * noise(c.seed, lid as u64));
            let decay = (-c.t / tau).exp();
            let all = c.projection == "all";
            let w2 = c.projection == "W2";
            match c.metric {
                Metric::Loss if all => Some(0.7 * decay + 0.004 * (1.0 + 0.2 * n(1))),
                Metric::HeldOutLoss if all => Some(0.75 * decay + 0.006 * (1.0 + 0.3 * n(2))),
                Metric::Accuracy if all => Some(1.0 - 0.5 * decay + 0.01 * n(3).min(0.0)),
                Metric::HeldOutAccuracy if all => {
                    Some((0.98 - 0.48 * decay + 0.015 * n(4)).min(1.0))
                }
                Metric::GradientAngle => Some(match lid {
                    0 => 0.0,
                    // fa settles near 50°, the output layer aligning first.
                    1 => {
                        let target = if w2 { 40.0 } else { 50.0 };
                        target + (85.0 - target) * (-c.t / 0.6).exp() + 3.0 * n(5)
                    }
                    _ => 8.0 + 75.0 * (-c.t / 0.4).exp() + 2.0 * n(6),
                }),
                Metric::WeightAngle if w2 && lid > 0 => Some(match lid {
                    1 => 55.0 + 35.0 * (-c.t / 1.0).exp() + 2.0 * n(7),
                    _ => 3.0 + 87.0 * (-c.t / 0.5).exp() + 1.0 * n(8),
                }),
                Metric::LossAngle if !c.projection.is_empty() => Some(match lid {
                    0 => 0.0,
                    1 => 55.0 + 25.0 * (-c.t / 0.6).exp() + 3.0 * n(9),
                    _ => 10.0 + 70.0 * (-c.t / 0.4).exp() + 2.0 * n(10),
                }),
                Metric::LearningStrength => {
                    Some((0.2 + 0.8 * decay) * (1.0 + 0.05 * n(11)) * [1.0, 0.6, 0.8][lid])
                }
                Metric::HebbianSignature if !all => Some(match lid {
                    0 => 0.05 * n(12),
                    1 => 0.35 * decay - 0.1 + 0.05 * n(13),
                    _ => -0.3 * (1.0 - decay) + 0.05 * n(14),
                }),
                Metric::WeightNormRatio if w2 => Some(1.0 + 0.1 * c.t),
                _ => None,
            }
        },
        trace_times: (0..=400).map(|i| i as f64 * 1e-4).collect(),
        trace: |c, s| {
            if c.seed != 1 {
                return None;
            }
            // Two stimuli of 20 ms each; the output relaxes towards a target
            // that depends on the stimulus, with a rule-dependent gain.
            let stim = if c.t < 0.02 { 1.0 } else { -0.5 };
            let t0 = if c.t < 0.02 { c.t } else { c.t - 0.02 };
            let gain = match c.label {
                "sgd" => 0.9,
                "fa" => 0.7,
                _ => 0.8,
            };
            let y = gain * stim * (1.0 - (-t0 / 0.004).exp());
            Some(match s {
                "input x[0]" => stim,
                "output y[0]" => y,
                "error e[0]" => stim * 0.95 - y,
                _ => 0.3 + 0.05 * gain * c.t / 0.04,
            })
        },
        matrices: vec![("W1", 6, 4), ("B2", 6, 3), ("W2-B2T", 3, 6)],
        weight: |c, end, name, r, col| {
            let init = 0.5 * noise(r as u64 * 31 + col as u64, c.seed + name.len() as u64);
            match (name, end) {
                ("W2-B2T", true) if c.label == "kp" => 0.05 * init,
                ("W2-B2T", true) if c.label == "fa" => 0.6 * init,
                ("W1", true) => init + 0.3 * noise(r as u64, col as u64),
                _ => init,
            }
        },
    }
}

fn is_svg(path: &Path) -> bool {
    let text = fs::read_to_string(path).unwrap();
    text.trim_start().starts_with("<svg") && text.trim_end().ends_with("</svg>")
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(path: &Path) -> (u32, u32) {
    let b = fs::read(path).unwrap();
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&b[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

fn variance(buf: &[u8]) -> f64 {
    let n = buf.len() as f64;
    let mean = buf.iter().map(|&v| v as f64).sum::<f64>() / n;
    buf.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n
}

/// Pixels that differ below the header (rows `from_row..`) of two renders.
fn body_diff(a: &[u8], b: &[u8], width: u32, from_row: u32) -> usize {
    let start = (from_row * width * 3) as usize;
    a[start..]
        .chunks(3)
        .zip(b[start..].chunks(3))
        .filter(|(p, q)| p != q)
        .count()
}

/// Renders a figure and checks it is neither blank nor the same as another.
fn check_pixels<F: Figure>(a: &F, b: &F, header_height: u32) {
    assert_eq!(a.size(), b.size());
    let (w, _) = a.size();
    let (pa, _) = render_rgb(a).unwrap();
    let (pb, _) = render_rgb(b).unwrap();
    assert!(variance(&pa) > 100.0, "figure looks blank");
    let diff = body_diff(&pa, &pb, w, header_height);
    assert!(diff > 200, "data region barely changed: {diff} pixels");
}

fn files_named(paths: &[PathBuf], stem: &str) -> Vec<PathBuf> {
    paths
        .iter()
        .filter(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(|s| s.starts_with(stem))
        })
        .cloned()
        .collect()
}

#[test]
fn summarize_hand_numbers() {
    let s = summarize(&[1.0, 2.0, 3.0, f64::NAN]).unwrap();
    assert_eq!((s.n, s.mean, s.min, s.max), (3, 2.0, 1.0, 3.0));
    assert!((s.sd - 1.0).abs() < 1e-12);
    let one = summarize(&[4.0]).unwrap();
    assert_eq!((one.mean, one.sd), (4.0, 0.0));
    assert!(summarize(&[f64::NAN]).is_none());
    assert!(summarize(&[]).is_none());
}

#[test]
fn band_over_time_hand_numbers() {
    let samples = [
        (1.0, 2.0),
        (0.0, 1.0),
        (0.0, 3.0),
        (1.0, f64::NAN),
        (2.0, f64::NAN),
    ];
    let mm = band_over_time(&samples, BandKind::MinMax);
    assert_eq!(mm.len(), 2, "a time with only NaN gives no point");
    assert_eq!(
        (mm[0].t, mm[0].mean, mm[0].lo, mm[0].hi, mm[0].n),
        (0.0, 2.0, 1.0, 3.0, 2)
    );
    assert_eq!(
        (mm[1].t, mm[1].mean, mm[1].lo, mm[1].hi, mm[1].n),
        (1.0, 2.0, 2.0, 2.0, 1)
    );
    let sd = band_over_time(&samples, BandKind::StdDev);
    let r2 = 2f64.sqrt();
    assert!((sd[0].lo - (2.0 - r2)).abs() < 1e-12 && (sd[0].hi - (2.0 + r2)).abs() < 1e-12);
    assert!(BandKind::MinMax.describe().contains("min–max"));
}

#[test]
fn loads_and_groups_small_run() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    let run = load_run(tmp.path()).unwrap();
    assert_eq!(run.manifest.circuit, "two_layer");
    assert_eq!(run.manifest.seeds, vec![1, 2]);
    assert_eq!(run.labels(), vec!["fa", "sgd"]);
    assert_eq!(run.metrics.len(), 3 * 2 * 2 * 3);
    assert_eq!(run.projections_with(Metric::HeldOutLoss), vec!["all"]);
    assert_eq!(
        run.projections_with(Metric::HebbianSignature),
        vec!["W1", "W2"]
    );

    // fa instances: k = 1.1 and 1.2; at t = 0 the gradient angle is 60 for both.
    let series = stats::metric_series(&run, Metric::GradientAngle, "W1", BandKind::MinMax, |_| {
        true
    });
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].label, "fa");
    let p = series[0].points[2]; // t = 1: 60 − 10·k
    assert!((p.mean - (60.0 - 11.5)).abs() < 1e-9);
    assert!((p.lo - 48.0).abs() < 1e-9 && (p.hi - 49.0).abs() < 1e-9);
    assert_eq!(p.n, 2);

    let traces = stats::trace_panels(&run);
    assert_eq!(traces.len(), 4);
    assert_eq!(traces[0].lines.len(), 4);
    let w = stats::weight_sets(&run);
    assert_eq!(w.len(), 4);
    assert_eq!(w[0].projections[0].start.as_ref().unwrap().rows, 3);
    assert_eq!(w[0].projections[0].start.as_ref().unwrap().max_abs(), 2.0);
}

#[test]
fn missing_metrics_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    fs::remove_file(tmp.path().join("metrics.csv")).unwrap();
    let err = load_run(tmp.path()).unwrap_err();
    assert!(
        matches!(&err, PlotError::MissingFile { path } if path.ends_with("metrics.csv")),
        "{err:?}"
    );
    assert!(err.to_string().contains("metrics.csv"));
    // plot_run reports the same error rather than writing anything.
    assert!(matches!(
        plot_run(tmp.path(), Formats::SVG),
        Err(PlotError::MissingFile { .. })
    ));
}

#[test]
fn malformed_row_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    let path = tmp.path().join("metrics.csv");
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    // Line 3 of the file (index 2): the loss cell becomes a word.
    let fields: Vec<&str> = text.lines().nth(2).unwrap().split(',').collect();
    let mut bad: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    bad[Metric::Loss.index() + crate::record::metrics::KEYS] = "abc".into();
    lines[2] = bad.join(",");
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let msg = load_run(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("metrics.csv:3"), "{msg}");
    assert!(msg.contains("loss"), "{msg}");

    // An instance the metrics mention but instances.csv does not.
    small_run(tmp.path(), 1.0);
    let text = fs::read_to_string(&path)
        .unwrap()
        .replacen("fa-s1", "ghost", 1);
    fs::write(&path, text).unwrap();
    let msg = load_run(tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains("ghost") && msg.contains("metrics.csv:2"),
        "{msg}"
    );

    // Bad JSON in the manifest names the manifest.
    small_run(tmp.path(), 1.0);
    fs::write(tmp.path().join("manifest.json"), "{\"circuit\": 3}").unwrap();
    let msg = load_run(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("manifest.json"), "{msg}");
}

#[test]
fn formats_parse() {
    assert_eq!("svg".parse::<Formats>().unwrap(), Formats::SVG);
    assert_eq!(" PNG ".parse::<Formats>().unwrap(), Formats::PNG);
    assert_eq!(Formats::parse("both").unwrap(), Formats::BOTH);
    assert!(matches!(
        Formats::parse("pdf"),
        Err(PlotError::BadFormat(_))
    ));
    assert_eq!(Formats::BOTH.to_string(), "both");
}

/// Writes every figure of the small run as SVG through `plot_run`.
#[test]
fn every_figure_writes_valid_svg() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    let paths = plot_run(tmp.path(), Formats::SVG).unwrap();
    for stem in [
        "learning_curves",
        "alignment",
        "hebbian",
        "learning_strength",
        "traces",
        "weights_",
    ] {
        let files = files_named(&paths, stem);
        assert!(!files.is_empty(), "{stem}: {paths:?}");
        for f in files {
            assert!(f.starts_with(tmp.path().join("figures")));
            assert_eq!(f.extension().and_then(|e| e.to_str()), Some("svg"));
            assert!(is_svg(&f), "{}", f.display());
        }
    }
    // One weights figure per instance.
    assert_eq!(files_named(&paths, "weights_").len(), 4);
}

/// Writes every figure kind as PNG and checks signature and IHDR size.
/// (PNG encoding is the slow part in a debug build, so weights are cut to
/// one instance here; `every_figure_writes_valid_svg` covers all four.)
#[test]
fn every_figure_writes_png_of_the_right_size() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    let mut run = load_run(tmp.path()).unwrap();
    run.weights.retain(|w| w.instance == "fa-s1");
    let out = tmp.path().join("png");
    let expected = [
        prepare_learning_curves(&run).unwrap().size(),
        prepare_alignment(&run).unwrap().size(),
        prepare_hebbian(&run).unwrap().size(),
        prepare_learning_strength(&run).unwrap().size(),
        prepare_traces(&run).unwrap().size(),
        prepare_weights(&run)[0].1.size(),
    ];
    for ((stem, figure), size) in FIGURES.iter().zip(expected) {
        let files = figure(&run, &out, Formats::PNG).unwrap();
        assert_eq!(files.len(), 1, "{stem}: {files:?}");
        assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("png"));
        assert_eq!(png_size(&files[0]), size, "{stem}");
    }
    assert_eq!(expected[0], (1200, 800), "standard slide size");
}

#[test]
fn figures_are_not_blank_and_follow_the_data() {
    let (ta, tb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    small_run(ta.path(), 1.0);
    small_run(tb.path(), 1.4);
    let (a, b) = (load_run(ta.path()).unwrap(), load_run(tb.path()).unwrap());
    macro_rules! check {
        ($prep:ident) => {{
            let (fa, fb) = ($prep(&a).unwrap(), $prep(&b).unwrap());
            let h = fa.header.height(fa.size().0);
            check_pixels(&fa, &fb, h);
        }};
    }
    check!(prepare_learning_curves);
    check!(prepare_alignment);
    check!(prepare_hebbian);
    check!(prepare_learning_strength);
    check!(prepare_traces);
    let (wa, wb) = (prepare_weights(&a), prepare_weights(&b));
    let h = wa[0].1.header.height(wa[0].1.size().0);
    check_pixels(&wa[0].1, &wb[0].1, h);
}

#[test]
fn figures_without_data_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = small_spec();
    spec.trace_times.clear();
    spec.matrices.clear();
    // Only losses: every angle, strength and signature column stays empty.
    spec.metric =
        |c| (c.projection == "all" && c.metric == Metric::HeldOutLoss).then_some(1.0 / (1.0 + c.t));
    write_run(tmp.path(), &spec, 1.0);
    let paths = plot_run(tmp.path(), Formats::SVG).unwrap();
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["learning_curves.svg"]);
}

/// Writes example PNGs of every figure kind from a realistic synthetic run,
/// to look at by eye: `cargo test write_example_figures -- --ignored`.
/// The directory is `$HETSIM_PLOT_EXAMPLES` or `target/plot-examples`.
#[test]
#[ignore]
fn write_example_figures() {
    let dir = std::env::var_os("HETSIM_PLOT_EXAMPLES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/plot-examples"),
        PathBuf::from,
    );
    let _ = fs::remove_dir_all(&dir);
    write_run(&dir, &realistic_spec(), 1.0);
    let paths = plot_run(&dir, Formats::BOTH).unwrap();
    for p in &paths {
        println!("{}", p.display());
    }
    assert!(paths.len() >= 12);
}

#[test]
fn style_helpers() {
    use super::style::{diverging, label_colours, log_tick, tick};
    assert_eq!(tick(0.25, 1.0), "0.25");
    assert_eq!(tick(-0.5, 2.0), "−0.5");
    assert_eq!(tick(0.30000000000000004, 1.0), "0.3");
    assert_eq!(tick(2e-5, 1e-4), "2e-5");
    assert_eq!(log_tick(0.01), "0.01");
    assert_eq!(log_tick(0.7), "");
    assert_eq!(log_tick(1e-4), "1e-4");
    assert_eq!(diverging(0.0), plotters::style::RGBColor(247, 247, 247));
    assert_ne!(diverging(1.0), diverging(-1.0));
    // Known rules keep fixed colours; other labels get distinct ones.
    let labels: Vec<String> = ["fa", "mine", "sgd", "other"].map(String::from).to_vec();
    let c = label_colours(&labels);
    assert_eq!(c[2].1, plotters::style::RGBColor(0, 0, 0));
    for (i, a) in c.iter().enumerate() {
        assert!(c[i + 1..].iter().all(|b| b.1 != a.1), "{c:?}");
    }
}

/// Colour of the test series below: nothing else in a figure is magenta.
const PROBE: plotters::style::RGBColor = plotters::style::RGBColor(255, 0, 255);

/// Pixels of `buf` (a `width`-wide RGB image) that carry some of the probe
/// colour, blended or not: red and blue well above green.
fn probe_pixels(buf: &[u8], width: u32) -> Vec<(i32, i32)> {
    buf.chunks(3)
        .enumerate()
        .filter(|(_, p)| p[0] as i32 > p[1] as i32 + 60 && p[2] as i32 > p[1] as i32 + 60)
        .map(|(i, _)| ((i as u32 % width) as i32, (i as u32 / width) as i32))
        .collect()
}

fn probe_curve(points: Vec<(f64, f64)>, spread: f64) -> super::render::Curve {
    super::render::Curve {
        colour: PROBE,
        points: points
            .into_iter()
            .map(|(t, v)| stats::BandPoint {
                t,
                mean: v,
                lo: v - spread,
                hi: v + spread,
                n: 3,
            })
            .collect(),
        band: true,
        width: 3,
    }
}

fn probe_panel(caption: &str, curve: super::render::Curve) -> super::render::CurvePanel {
    super::render::CurvePanel {
        caption: caption.into(),
        y_label: "value".into(),
        y_axis: super::render::YAxis::Fixed(-1.05, 1.05),
        curves: vec![curve],
        hlines: Vec::new(),
    }
}

/// A series far outside its fixed range, and a dense noisy series within
/// [−0.83, 0.99] (like the Hebbian signature of a real run, whose wide-line
/// joins used to shoot past the panel), paint only inside their panels'
/// data rectangles.
#[test]
fn series_stay_inside_their_data_rectangle() {
    use super::render::{CurveFigure, Header};
    let wild: Vec<(f64, f64)> = (0..40)
        .map(|i| (i as f64, if i % 2 == 0 { 5.0 } else { -4.0 }))
        .collect();
    let dense: Vec<(f64, f64)> = (0..300)
        .map(|i| (i as f64 * 39.0 / 299.0, 0.91 * noise(7, i) + 0.08))
        .collect();
    let fig = CurveFigure {
        header: Header {
            title: "clipping".into(),
            subtitle: String::new(),
            legend: Vec::new(),
            note: String::new(),
        },
        grid: vec![
            vec![
                probe_panel("out of range", probe_curve(wild, 0.5)),
                probe_panel("dense", probe_curve(dense.clone(), 0.0)),
            ],
            vec![probe_panel("below", probe_curve(dense, 0.1))],
        ],
        min_panel_height: 300,
        x_name: None,
        phases: Vec::new(),
    };
    let (w, _) = fig.size();
    let (buf, rects) = render_rgb(&fig).unwrap();
    assert_eq!(rects.len(), 3);
    let painted = probe_pixels(&buf, w);
    for r in &rects {
        let inside = painted.iter().filter(|p| r.contains(**p)).count();
        assert!(inside > 500, "series missing from {r:?}: {inside} pixels");
    }
    let outside: Vec<_> = painted
        .iter()
        .filter(|p| !rects.iter().any(|r| r.contains(**p)))
        .collect();
    assert!(
        outside.is_empty(),
        "{} series pixels outside the data rectangles, e.g. {:?}",
        outside.len(),
        &outside[..outside.len().min(5)]
    );
}

/// The same for the figures of a realistic run, by the labels' own
/// colours (the header's legend swatches excepted).
#[test]
fn real_figures_keep_series_inside_panels() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path(), &realistic_spec(), 1.0);
    let run = load_run(tmp.path()).unwrap();
    let colours = super::style::label_colours(&run.labels());
    // sgd is drawn in black, like the text, so only fa and kp are probed.
    let probes: Vec<[u8; 3]> = colours
        .iter()
        .filter(|(l, _)| l != "sgd")
        .map(|(_, c)| [c.0, c.1, c.2])
        .collect();
    for fig in [
        prepare_learning_curves(&run),
        prepare_alignment(&run),
        prepare_hebbian(&run),
        prepare_learning_strength(&run),
    ] {
        let fig = fig.unwrap();
        let (w, _) = fig.size();
        let header = fig.header.height(w) as i32;
        let (buf, rects) = render_rgb(&fig).unwrap();
        let stray = buf
            .chunks(3)
            .enumerate()
            .filter(|(_, p)| probes.iter().any(|c| c[..] == p[..]))
            .map(|(i, _)| ((i as u32 % w) as i32, (i as u32 / w) as i32))
            .filter(|&(_, y)| y >= header)
            .filter(|p| !rects.iter().any(|r| r.contains(*p)))
            .count();
        assert_eq!(
            stray, 0,
            "{}: series pixels outside panels",
            fig.header.title
        );
    }
}

/// Every panel of a figure has a data rectangle of the same size, also in
/// a wrapped grid whose upper row labels the time axis where no panel sits
/// below (the Hebbian figure of a four-projection run).
#[test]
fn panels_have_equal_data_rectangles() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = realistic_spec();
    spec.projections = vec!["all", "W1", "W2", "B2", "B3"];
    write_run(tmp.path(), &spec, 1.0);
    let run = load_run(tmp.path()).unwrap();
    let hebbian = prepare_hebbian(&run).unwrap();
    let lens: Vec<usize> = hebbian.grid.iter().map(Vec::len).collect();
    assert_eq!(lens, vec![2, 2], "four projections as 2 × 2");
    let figures = [
        ("hebbian", Some(hebbian)),
        ("alignment", prepare_alignment(&run)),
        ("learning_strength", prepare_learning_strength(&run)),
        ("learning_curves", prepare_learning_curves(&run)),
        ("traces", prepare_traces(&run)),
    ];
    for (name, fig) in figures {
        let fig = fig.unwrap();
        let (_, rects) = render_rgb(&fig).unwrap();
        assert_eq!(rects.len(), fig.panels().count(), "{name}");
        let sizes: Vec<(i32, i32)> = rects.iter().map(|r| (r.width(), r.height())).collect();
        assert!(
            sizes.iter().all(|s| *s == sizes[0]),
            "{name}: data rectangles differ: {sizes:?}"
        );
        assert!(sizes[0].0 > 150 && sizes[0].1 > 60, "{name}: {sizes:?}");
    }
    // Heat maps of one figure share a size too.
    let (_, fig) = &prepare_weights(&run)[0];
    let (_, rects) = render_rgb(fig).unwrap();
    assert_eq!(rects.len(), 6);
    for pair in rects.chunks(2) {
        assert_eq!(
            (pair[0].width(), pair[0].height()),
            (pair[1].width(), pair[1].height())
        );
    }
}

/// A projection with neither angle gets no column, and one measured for
/// only one of the two angles appears only in that row: no panel of the
/// alignment figure is left to say "not measured".
#[test]
fn alignment_drops_projections_without_data() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = small_spec();
    spec.projections = vec!["all", "W1", "W2", "B2"];
    spec.metric = |c| {
        let v = 40.0 + 10.0 * c.t + c.seed as f64;
        match (c.metric, c.projection) {
            (Metric::HeldOutLoss, "all") => Some(1.0 / (1.0 + c.t)),
            (Metric::GradientAngle, "all" | "W1") => Some(v),
            (Metric::WeightAngle, "all" | "B2") => Some(v),
            // W2 has a Hebbian signature only: no angle at all.
            (Metric::HebbianSignature, "W2") => Some(0.2),
            _ => None,
        }
    };
    write_run(tmp.path(), &spec, 1.0);
    let run = load_run(tmp.path()).unwrap();
    let fig = prepare_alignment(&run).unwrap();
    let captions: Vec<Vec<&str>> = fig
        .grid
        .iter()
        .map(|row| row.iter().map(|p| p.caption.as_str()).collect())
        .collect();
    // Every instance has one plastic projection with an angle (W1) and one feedback matrix
    // (B2), so the "all" panels would repeat theirs and are left out.
    assert_eq!(captions, vec![vec!["W1"], vec!["B2"]]);
    assert!(fig.panels().all(|p| !p.curves.is_empty()));
    let labels: Vec<&str> = fig.panels().map(|p| p.y_label.as_str()).collect();
    assert_eq!(labels, vec!["gradient angle (°)", "∠(B, Wᵀ) (°)"]);
    // With a second gradient angle the "all" panel says something again; the rows then differ
    // in length and flow into one grid with no empty cell, each panel naming its metric.
    spec.metric = |c| {
        let v = 40.0 + 10.0 * c.t + c.seed as f64;
        match (c.metric, c.projection) {
            (Metric::GradientAngle, "all" | "W1" | "W2") => Some(v),
            (Metric::WeightAngle, "all" | "B2") => Some(v),
            _ => None,
        }
    };
    write_run(tmp.path(), &spec, 1.0);
    let fig = prepare_alignment(&load_run(tmp.path()).unwrap()).unwrap();
    let captions: Vec<Vec<&str>> = fig
        .grid
        .iter()
        .map(|row| row.iter().map(|p| p.caption.as_str()).collect())
        .collect();
    assert_eq!(
        captions,
        vec![vec!["all plastic projections", "W1"], vec!["W2", "B2"]]
    );
    let labels: Vec<&str> = fig.panels().map(|p| p.y_label.as_str()).collect();
    assert_eq!(
        labels,
        vec![
            "gradient angle (°)",
            "gradient angle (°)",
            "gradient angle (°)",
            "∠(B, Wᵀ) (°)"
        ]
    );
    // A projection with data in every row keeps its place in each.
    spec.metric =
        |c| matches!(c.metric, Metric::GradientAngle | Metric::WeightAngle).then_some(45.0);
    write_run(tmp.path(), &spec, 1.0);
    let fig = prepare_alignment(&load_run(tmp.path()).unwrap()).unwrap();
    assert_eq!(fig.grid.len(), 2);
    assert!(fig.grid.iter().all(|row| row.len() == 4));
}

/// Weight figures are named after their label when it has one instance
/// with snapshots, else after label and seed, else with the instance id;
/// the subtitle says which instance and seed a figure shows.
#[test]
fn weight_figures_are_named_by_label() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    let mut run = load_run(tmp.path()).unwrap();
    let stems = |run: &super::RunData| -> Vec<String> {
        prepare_weights(run).into_iter().map(|(s, _)| s).collect()
    };
    assert_eq!(
        stems(&run),
        vec![
            "weights_fa_seed1",
            "weights_fa_seed2",
            "weights_sgd_seed1",
            "weights_sgd_seed2"
        ]
    );
    run.weights.retain(|w| w.instance.ends_with("s2"));
    let figs = prepare_weights(&run);
    let names: Vec<&str> = figs.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, vec!["weights_fa", "weights_sgd"]);
    let sub = &figs[0].1.header.subtitle;
    // Rule and seed; not the instance's number in instances.csv, which read as a second seed.
    assert!(sub.contains("rule fa") && sub.contains("seed 2"), "{sub}");
    assert!(!sub.contains("instance"), "{sub}");
    assert!(figs[0].1.header.title.contains("fa"));

    // Two instances of one label with the same seed stay apart.
    let mut run = load_run(tmp.path()).unwrap();
    for inst in run.instances.iter_mut() {
        inst.seed = "7".into();
    }
    let names = stems(&run);
    assert_eq!(names[0], "weights_fa_seed7_fa-s1");
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");

    // plot_run writes them under those names.
    small_run(tmp.path(), 1.0);
    let text = fs::read_to_string(tmp.path().join("weights.csv")).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("stage") || l.contains("-s1,"))
        .collect();
    fs::write(tmp.path().join("weights.csv"), kept.join("\n") + "\n").unwrap();
    let paths = plot_run(tmp.path(), Formats::SVG).unwrap();
    let weights: Vec<String> = files_named(&paths, "weights_")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(weights, vec!["weights_fa.svg", "weights_sgd.svg"]);
}

#[test]
fn tick_choice() {
    use super::style::{angle_ticks, axis_exponent, nice_ticks, time_unit, times_ten};
    assert_eq!(nice_ticks(-1.05, 1.05, 5), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
    assert_eq!(nice_ticks(-1.05, 1.05, 3), vec![-1.0, 0.0, 1.0]);
    // Never a single labelled tick, even on a short panel.
    assert_eq!(nice_ticks(-0.85, 0.2, 2), vec![-0.5, 0.0]);
    assert_eq!(nice_ticks(0.0, 0.0027, 3), vec![0.0, 0.001, 0.002]);
    assert_eq!(angle_ticks(-2.0, 102.0), vec![0.0, 30.0, 60.0, 90.0]);
    assert_eq!(
        angle_ticks(-4.0, 184.0),
        vec![0.0, 45.0, 90.0, 135.0, 180.0]
    );
    // 0.0025-style labels become 2.5 with ×10⁻³ written once.
    assert_eq!(axis_exponent(0.0, 0.0027, 0.0005), -3);
    assert_eq!(axis_exponent(-0.0115, 0.001, 0.005), -3);
    assert_eq!(axis_exponent(-1.05, 1.05, 0.5), 0);
    assert_eq!(axis_exponent(0.0, 0.05, 0.01), 0);
    assert_eq!(axis_exponent(0.0, 25000.0, 5000.0), 3);
    assert_eq!(times_ten(-3), "×10⁻³");
    assert_eq!(times_ten(6), "×10⁶");
    assert_eq!(time_unit(30.0), (1.0, "s"));
    assert_eq!(time_unit(0.3), (1e3, "ms"));
}

#[test]
fn clipping_hand_numbers() {
    use super::clip::{PixelRect, clip_polygon, clip_polyline};
    let r = PixelRect {
        left: 0,
        top: 0,
        right: 10,
        bottom: 10,
    };
    // In, out through the top, back in, and out through the right.
    let line = [(2.0, 5.0), (4.0, -5.0), (6.0, 5.0), (20.0, 5.0)];
    let runs = clip_polyline(&line, &r);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0], vec![(2.0, 5.0), (3.0, 0.0)]);
    assert_eq!(runs[1], vec![(5.0, 0.0), (6.0, 5.0), (10.0, 5.0)]);
    assert!(clip_polyline(&[(-5.0, -5.0), (-1.0, 20.0)], &r).is_empty());
    // A NaN breaks the line rather than joining across it.
    let gap = clip_polyline(
        &[
            (1.0, 1.0),
            (2.0, 2.0),
            (f64::NAN, 3.0),
            (4.0, 4.0),
            (5.0, 5.0),
        ],
        &r,
    );
    assert_eq!(gap.len(), 2);

    let square = [(-5.0, -5.0), (5.0, -5.0), (5.0, 5.0), (-5.0, 5.0)];
    let mut clipped = clip_polygon(&square, &r);
    clipped.sort_by(|a, b| a.partial_cmp(b).unwrap());
    clipped.dedup();
    assert_eq!(
        clipped,
        vec![(0.0, 0.0), (0.0, 5.0), (5.0, 0.0), (5.0, 5.0)]
    );
    assert!(clip_polygon(&[(20.0, 20.0), (30.0, 20.0), (30.0, 30.0)], &r).is_empty());
}

/// Traces name the one instance they show, and a sub-second time axis is
/// written in milliseconds.
#[test]
fn traces_name_their_instance() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path(), &realistic_spec(), 1.0);
    let run = load_run(tmp.path()).unwrap();
    let fig = prepare_traces(&run).unwrap();
    // The realistic run traces seed 1 of every label: three instances.
    assert_eq!(fig.header.note, "one line per traced instance");
    assert_eq!(
        fig.header.title,
        "Activity traces: sgd, seed 1, fa, seed 1 and kp, seed 1 on two_layer"
    );
    let mut run = run;
    run.traces.retain(|t| t.instance == "kp-s1");
    let fig = prepare_traces(&run).unwrap();
    // The title names the one rule and seed shown, not every rule of the run.
    assert_eq!(fig.header.title, "Activity traces: kp, seed 1 on two_layer");
    assert_eq!(fig.header.note, "instance kp-s1 of instances.csv");
    // An input unit's value is the task's, negative half the time: not a rate.
    let captions: Vec<&str> = fig.panels().map(|p| p.caption.as_str()).collect();
    let input = captions.iter().find(|c| c.starts_with("input")).unwrap();
    assert_eq!(*input, "input x₀ (input value, a.u.)");
    assert!(captions.iter().all(|c| !c.contains('[')), "{captions:?}");
    assert!(fig.grid.iter().all(|row| row.len() == 1));
}

#[test]
fn a_cut_last_row_is_left_out_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    let path = tmp.path().join("metrics.csv");
    let whole = load_run(tmp.path()).unwrap();
    assert!(whole.warnings.is_empty(), "{:?}", whole.warnings);
    // Cut the file in the middle of its last row, as a full disk or a kill leaves it.
    let text = fs::read_to_string(&path).unwrap();
    let lines = text.lines().count();
    let cut = text.trim_end().len() - 5;
    fs::write(&path, &text[..cut]).unwrap();
    let run = load_run(tmp.path()).unwrap();
    assert_eq!(run.metrics.len(), whole.metrics.len() - 1);
    assert!(
        run.warnings.iter().any(|w| w.contains("metrics.csv")
            && w.contains(&format!(":{lines}:"))
            && w.contains("cut off")),
        "{:?}",
        run.warnings
    );
}

#[test]
fn a_header_only_table_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    let path = tmp.path().join("metrics.csv");
    let text = fs::read_to_string(&path).unwrap();
    let header = text.lines().next().unwrap();
    fs::write(&path, format!("{header}\n")).unwrap();
    let msg = load_run(tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains("metrics.csv") && msg.contains("no rows"),
        "{msg}"
    );
}

#[test]
fn a_renamed_or_missing_column_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    let path = tmp.path().join("metrics.csv");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replacen("hebbian_signature", "hebbian", 1)).unwrap();
    let msg = load_run(tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains("metrics.csv:1") && msg.contains("`hebbian_signature`"),
        "{msg}"
    );
}

#[test]
fn non_finite_cells_are_gaps_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    let path = tmp.path().join("metrics.csv");
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for (i, bad) in [(2, "NaN"), (3, "inf")] {
        let mut fields: Vec<String> = lines[i].split(',').map(String::from).collect();
        fields[Metric::Loss.index() + crate::record::metrics::KEYS] = bad.into();
        lines[i] = fields.join(",");
    }
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let run = load_run(tmp.path()).unwrap();
    assert!(run.metrics[1].get(Metric::Loss).is_nan());
    assert!(run.metrics[2].get(Metric::Loss).is_nan());
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("2 cells of `loss`") && w.contains("gaps")),
        "{:?}",
        run.warnings
    );
}

#[test]
fn tables_a_hetsim_manifest_says_were_recorded_are_required() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    // A manifest written by hetsim lists its circuits; this one recorded traces.
    let circuit = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/circuits/teacher_fa.yaml"
    ))
    .unwrap()
    .replace("record:", "record:\n  traces: 0.5 s");
    let manifest = serde_json::json!({
        "circuit": "two_layer", "rules": ["fa", "sgd"], "seeds": [1, 2],
        "circuits": {"fa": circuit},
    });
    fs::write(tmp.path().join("manifest.json"), manifest.to_string()).unwrap();
    assert!(load_run(tmp.path()).is_ok());
    for table in ["traces.csv", "weights.csv"] {
        small_run(tmp.path(), 1.0);
        fs::write(tmp.path().join("manifest.json"), manifest.to_string()).unwrap();
        fs::remove_file(tmp.path().join(table)).unwrap();
        let err = load_run(tmp.path()).unwrap_err();
        assert!(
            matches!(&err, PlotError::MissingFile { path } if path.ends_with(table)),
            "{table}: {err:?}"
        );
    }
}

/// A panel that is zero throughout (W2's gradient angle when every rule is
/// exact there) is left out and named in the note; a metric not recorded
/// is named too, and the title names only what is drawn.
#[test]
fn zero_panels_and_unrecorded_metrics_are_said_not_drawn() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = small_spec();
    spec.projections = vec!["all", "W1", "W2"];
    spec.metric = |c| match (c.metric, c.projection) {
        (Metric::HeldOutLoss, "all") => Some(1.0 / (1.0 + c.t)),
        (Metric::GradientAngle, "all" | "W1") => Some(30.0 + c.t),
        (Metric::GradientAngle, "W2") => Some(0.0),
        (Metric::LossAngle, _) => Some(40.0),
        _ => None,
    };
    write_run(tmp.path(), &spec, 1.0);
    let run = load_run(tmp.path()).unwrap();
    let fig = prepare_alignment(&run).unwrap();
    let captions: Vec<&str> = fig.panels().map(|p| p.caption.as_str()).collect();
    assert_eq!(captions, vec!["all plastic projections", "W1"]);
    assert!(
        fig.header.note.contains("not drawn: gradient angle of W2"),
        "{}",
        fig.header.note
    );
    assert!(
        fig.header.note.contains("weight angle: not recorded"),
        "{}",
        fig.header.note
    );
    assert!(
        fig.header.title.starts_with("Gradient angle: "),
        "{}",
        fig.header.title
    );
    let fig = prepare_learning_strength(&run).unwrap();
    assert!(
        fig.header.title.starts_with("Loss angle: "),
        "{}",
        fig.header.title
    );
    assert!(fig.header.note.contains("learning strength: not recorded"));
    // Not half empty: one row, the loss angle on an axis fitted to its 40° (not 0–180°).
    assert_eq!(fig.grid.len(), 1);
    for p in fig.panels() {
        match p.y_axis {
            YAxis::AngleIn(lo, hi) => {
                assert!(lo <= 0.0 && (40.0..=50.0).contains(&hi), "{lo}..{hi}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(fig.header.note.contains("even sgd"), "{}", fig.header.note);
}

/// The alignment figure's angles are on 0–180° whatever the data, so two runs compare.
#[test]
fn alignment_angles_are_on_a_fixed_half_turn() {
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    let run = load_run(tmp.path()).unwrap();
    let fig = prepare_alignment(&run).unwrap();
    assert!(fig.panels().all(|p| p.y_axis == YAxis::Angle));
    assert_eq!(
        super::render::y_range(fig.panels().next().unwrap()),
        (-6.0, 186.0)
    );
    assert!(fig.header.note.contains("0–180°"), "{}", fig.header.note);
}

#[test]
fn grids_leave_no_cell_empty_where_a_count_allows() {
    use super::figures::grid_cols;
    for n in 1..=12usize {
        let c = grid_cols(n);
        let exact = n <= 3 || [2usize, 3, 4].iter().any(|k| n.is_multiple_of(*k));
        assert_eq!(n.is_multiple_of(c), exact, "{n} panels in {c} columns");
        assert!(c <= 4, "{n}: {c}");
    }
    assert_eq!(grid_cols(4), 2, "four panels as 2 × 2");
    // The main job's Hebbian figure: four projections, 2 × 2, each cell used.
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = realistic_spec();
    spec.projections = vec!["all", "W1", "W2", "B2"];
    spec.metric = |c| {
        (c.metric == Metric::HebbianSignature && (c.projection != "B2" || c.label == "kp"))
            .then_some(0.3 + 0.1 * c.t)
    };
    write_run(tmp.path(), &spec, 1.0);
    let fig = prepare_hebbian(&load_run(tmp.path()).unwrap()).unwrap();
    assert_eq!(fig.grid.len(), 2);
    assert!(fig.grid.iter().all(|r| r.len() == 2));
    // B2, plastic under kp alone, says so; the axis says it is a cosine.
    let b2 = fig.panels().find(|p| p.caption.starts_with("B")).unwrap();
    assert_eq!(b2.caption, "B2: plastic under kp only");
    assert_eq!(fig.grid[0][0].y_label, "cosine");
    assert!(fig.header.note.contains("cosine"), "{}", fig.header.note);
    // A smoothed line over a lighter raw one for each label.
    assert_eq!(fig.grid[0][0].curves.len(), 6);
}

#[test]
fn subscripts_are_drawn_as_subscripts() {
    use super::style::{plain, rich_segments, subscripts};
    assert_eq!(subscripts("B_h"), "Bₕ");
    assert_eq!(subscripts("W_12"), "W₁₂");
    assert_eq!(subscripts("∠(B_h, W2ᵀ)"), "∠(Bₕ, W2ᵀ)");
    // No Unicode subscript w: markup the figures draw as a lowered smaller w.
    assert_eq!(subscripts("τ_w/T"), "τ_{w}/T");
    assert_eq!(
        rich_segments("τ_{w}/T"),
        vec![
            ("τ".to_string(), false),
            ("w".to_string(), true),
            ("/T".to_string(), false)
        ]
    );
    assert_eq!(plain("τ_{decay} (s)"), "τdecay (s)");
    // Words with an underscore that are not names keep it where they are not converted.
    assert_eq!(subscripts("_x"), "_x");
    // A figure with a projection named B_h shows no underscore anywhere in its captions.
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = small_spec();
    spec.projections = vec!["all", "W1", "B_h"];
    spec.metric =
        |c| (c.metric == Metric::HebbianSignature && c.projection != "all").then_some(0.5);
    write_run(tmp.path(), &spec, 1.0);
    let fig = prepare_hebbian(&load_run(tmp.path()).unwrap()).unwrap();
    for p in fig.panels() {
        assert!(!plain(&p.caption).contains('_'), "{}", p.caption);
    }
    assert!(fig.panels().any(|p| p.caption == "Bₕ"));
}

/// Matrices that are compared share one colour scale: W, W − Bᵀ, start and end.
#[test]
fn compared_matrices_share_one_colour_scale() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = small_spec();
    spec.matrices = vec![("W1", 3, 2), ("W2", 1, 3), ("W2-B2T", 1, 3)];
    spec.weight = |_, end, name, r, col| {
        let base = 1.0 + r as f64 + col as f64;
        match (name, end) {
            ("W2-B2T", false) => 4.0 * base,
            ("W2-B2T", true) => 0.25 * base,
            ("W1", false) => 0.01 * base,
            _ => base,
        }
    };
    write_run(tmp.path(), &spec, 1.0);
    let run = load_run(tmp.path()).unwrap();
    let (_, fig) = prepare_weights(&run).into_iter().next().unwrap();
    let scales: Vec<Vec<f64>> = fig
        .rows
        .iter()
        .map(|r| r.cells.iter().map(|c| c.scale).collect())
        .collect();
    // W1: start (0.04 at most) and end (4) on the end's scale.
    assert_eq!(scales[0], vec![4.0, 4.0]);
    // W2 and W2 − B2ᵀ: one scale, the largest of the four matrices (W2 − B2ᵀ at start).
    assert_eq!(scales[1], vec![12.0, 12.0]);
    assert_eq!(scales[2], vec![12.0, 12.0]);
    assert!(
        fig.header.note.contains("one colour scale"),
        "{}",
        fig.header.note
    );
    assert!(fig.rows[2].cells[0].caption.starts_with("W2 − B2ᵀ"));
}

#[test]
fn learning_curves_say_why_accuracy_is_absent() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = small_spec();
    spec.metric =
        |c| (c.metric == Metric::HeldOutLoss && c.projection == "all").then_some(1.0 / (1.0 + c.t));
    write_run(tmp.path(), &spec, 1.0);
    let fig = prepare_learning_curves(&load_run(tmp.path()).unwrap()).unwrap();
    assert_eq!(fig.panels().count(), 1);
    assert!(
        fig.header.note.contains("no accuracy panel"),
        "{}",
        fig.header.note
    );
    // With accuracy recorded the note says nothing of the kind.
    let tmp = tempfile::tempdir().unwrap();
    small_run(tmp.path(), 1.0);
    let fig = prepare_learning_curves(&load_run(tmp.path()).unwrap()).unwrap();
    assert!(
        !fig.header.note.contains("no accuracy"),
        "{}",
        fig.header.note
    );
}

/// fa and dfa, the pair most often compared, differ in hue and lightness.
#[test]
fn fa_and_dfa_get_distinct_colours() {
    let c = super::style::label_colours(&["fa".to_string(), "dfa".to_string()]);
    let (a, b) = (c[0].1, c[1].1);
    let lightness =
        |c: plotters::style::RGBColor| 0.3 * c.0 as f64 + 0.59 * c.1 as f64 + 0.11 * c.2 as f64;
    assert!((lightness(a) - lightness(b)).abs() > 40.0, "{a:?} {b:?}");
    assert!(a.2 > a.0 && b.0 > b.2, "blue against orange: {a:?} {b:?}");
}

/// A held-out table as an evolution writes it: two shapes, the evolved rule and two
/// baselines, a hidden layer W1 and an output layer W2 that reads 0° for every rule.
const HELDOUT_CSV: &str = "shape,rule,fitness,diverged,rate,final_loss,gradient_angle_deg,weight_angle_deg,hebbian_signature,gradient_angle_deg:W1,gradient_angle_deg:W2
trained,evolved,-3.2,0,1,0.5,30,31,0.3,36,0
trained,sgd,-4.1,0,1,0.2,0,,0.03,0,0
trained,fa,-3.6,0,2,0.3,40,49,0.08,52,0
wide,evolved,-3.3,0,1,0.5,37,38,0.29,44,0
wide,sgd,-4.3,0,0.5,0.1,0,,0.04,0,0
wide,fa,,1,0.5,,49,56,0.1,63,0
";

#[test]
fn heldout_figure_shows_each_rule_per_shape_and_only_hidden_layers() {
    use super::heldout::{plot_heldout, read_heldout, rule_colours};
    let tmp = tempfile::tempdir().unwrap();
    // No heldout.csv (an older directory): no figure and no error.
    assert!(read_heldout(tmp.path()).unwrap().is_none());
    assert!(plot_heldout(tmp.path(), Formats::PNG).unwrap().is_empty());

    fs::write(tmp.path().join("heldout.csv"), HELDOUT_CSV).unwrap();
    fs::write(
        tmp.path().join("evolve.yaml"),
        "name: t\nheldout:\n  seeds: 4\n",
    )
    .unwrap();
    let data = read_heldout(tmp.path()).unwrap().unwrap();
    assert_eq!(data.shapes, ["trained", "wide"]);
    assert_eq!(data.rules, ["evolved", "sgd", "fa"]);
    // W2's angle is 0° in every row: not a hidden layer, not drawn.
    assert_eq!(data.hidden, ["W1"]);
    assert_eq!(data.rows.len(), 6);
    assert_eq!(data.rows[2].angles, [52.0]);
    assert_eq!(data.rows[2].rate, 2.0);
    // A diverged rule's empty fitness is a gap, not an error.
    assert!(data.rows[5].fitness.is_nan());
    let colours = rule_colours(&data.rules);
    assert_eq!(colours[0].1, super::evolution::THETA_COLOURS[3]);
    assert_eq!(colours[1].1, plotters::style::RGBColor(0, 0, 0));
    let written = plot_heldout(tmp.path(), Formats::BOTH).unwrap();
    assert_eq!(written.len(), 2);
    let svg = fs::read_to_string(tmp.path().join("figures/heldout.svg")).unwrap();
    assert!(svg.contains("4 held-out tasks per shape"));
    assert!(svg.contains("hidden layer W1"));
    assert!(!svg.contains("layer W2"));

    // A row with a cell too many: an error naming the file and the line.
    let bad = HELDOUT_CSV.replacen("trained,sgd,-4.1,", "trained,sgd,-4.1,9,", 1);
    fs::write(tmp.path().join("heldout.csv"), bad).unwrap();
    match read_heldout(tmp.path()) {
        Err(PlotError::Malformed { path, line, .. }) => {
            assert!(path.ends_with("heldout.csv"));
            assert_eq!(line, 3);
        }
        other => panic!("expected a malformed-file error, got {other:?}"),
    }
}
