//! Tests of the task streams, the data sets and their error messages.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

fn params(kind: TaskKind, n_inputs: usize, n_targets: usize) -> TaskParams {
    TaskParams {
        kind,
        n_inputs,
        n_targets,
        input_std: 1.0,
        held_out: 100,
    }
}

fn build(p: &TaskParams, seed: u64) -> Task {
    match Task::new(p, seed, Path::new(".")) {
        Ok(t) => t,
        Err(e) => panic!("task should build: {e}"),
    }
}

fn build_err(p: &TaskParams, base: &Path) -> String {
    match Task::new(p, 1, base) {
        Ok(_) => panic!("task should not build"),
        Err(e) => e.to_string(),
    }
}

/// The first `n` training samples, flattened.
fn stream(task: &Task, n: u64) -> (Vec<f64>, Vec<f64>) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let mut x = vec![0.0; task.n_inputs()];
    let mut y = vec![0.0; task.n_targets()];
    for k in 0..n {
        task.train_sample(k, &mut x, &mut y);
        xs.extend_from_slice(&x);
        ys.extend_from_slice(&y);
    }
    (xs, ys)
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &e) in v.iter().enumerate() {
        if e > v[best] {
            best = i;
        }
    }
    best
}

fn assert_one_hot(y: &[f64]) {
    assert_eq!(y.iter().filter(|&&v| v == 1.0).count(), 1, "{y:?}");
    assert!(y.iter().all(|&v| v == 0.0 || v == 1.0), "{y:?}");
}

/// A CSV file in the temp folder, removed when dropped.
struct TempCsv(PathBuf);

impl TempCsv {
    fn new(contents: &str) -> TempCsv {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("hetsim-task-test-{}-{n}.csv", std::process::id());
        let path = std::env::temp_dir().join(name);
        if let Err(e) = std::fs::write(&path, contents) {
            panic!("cannot write {}: {e}", path.display());
        }
        TempCsv(path)
    }
}

impl Drop for TempCsv {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn csv_params(path: &Path, inputs: usize, n_targets: usize, classification: bool) -> TaskParams {
    TaskParams {
        kind: TaskKind::Csv {
            path: path.to_path_buf(),
            inputs,
            classification,
        },
        n_inputs: inputs,
        n_targets,
        input_std: 1.0,
        held_out: 1,
    }
}

#[test]
fn linear_teacher_is_exactly_linear() {
    let p = params(
        TaskKind::LinearTeacher {
            low: -1.0,
            high: 1.0,
        },
        5,
        3,
    );
    let task = build(&p, 42);
    let DeviceTaskForm::NormalLinear { matrix, input_std } = task.device_form() else {
        panic!("linear teacher should have a linear device form");
    };
    assert_eq!(input_std, 1.0);
    assert_eq!(matrix.shape(), (3, 5));
    assert!(matrix.iter().all(|&t| (-1.0..=1.0).contains(&t)));
    let (xs, ys) = stream(&task, 50);
    for (x, y) in xs.chunks(5).zip(ys.chunks(3)) {
        for (r, &yr) in y.iter().enumerate() {
            let expected: f64 = (0..5).map(|c| matrix[(r, c)] * x[c]).sum();
            assert_eq!(yr, expected);
        }
    }
    // The device rule for inputs: input_std * fill_normal(seed, TRAIN, k).
    let mut x = [0.0; 5];
    rng::fill_normal(42, STREAM_TRAIN, 7, &mut x);
    assert_eq!(&xs[35..40], &x[..]);
}

#[test]
fn tanh_teacher_matches_device_form() {
    let mut p = params(TaskKind::TanhTeacher { hidden: 7 }, 4, 2);
    p.input_std = 0.5;
    let task = build(&p, 3);
    let DeviceTaskForm::NormalTanh { v1, v2, input_std } = task.device_form() else {
        panic!("tanh teacher should have a tanh device form");
    };
    assert_eq!((v1.shape(), v2.shape(), input_std), ((7, 4), (2, 7), 0.5));
    let mut x = [0.0; 4];
    let mut y = [0.0; 2];
    task.held_out_sample(3, &mut x, &mut y);
    let mut raw = [0.0; 4];
    rng::fill_normal(3, STREAM_HELD_OUT, 3, &mut raw);
    let xv = nalgebra::DVector::from_iterator(4, raw.iter().map(|v| v * 0.5));
    let expected = &v2 * (&v1 * &xv).map(f64::tanh);
    assert_eq!(&x[..], xv.as_slice());
    for r in 0..2 {
        assert!((y[r] - expected[r]).abs() < 1e-12);
    }
}

#[test]
fn same_seed_same_stream_other_seed_other_stream() {
    let kinds = [
        TaskKind::LinearTeacher {
            low: 0.0,
            high: 1.0,
        },
        TaskKind::TanhTeacher { hidden: 3 },
        TaskKind::GaussianMixture {
            classes: 3,
            separation: 2.0,
        },
    ];
    for kind in kinds {
        let p = params(kind, 6, 3);
        let a = stream(&build(&p, 10), 20);
        assert_eq!(a, stream(&build(&p, 10), 20));
        assert_ne!(a, stream(&build(&p, 11), 20));
    }
    let digits = params(TaskKind::Digits, 64, 10);
    let a = stream(&build(&digits, 10), 20);
    assert_eq!(a, stream(&build(&digits, 10), 20));
    assert_ne!(a, stream(&build(&digits, 11), 20));
}

#[test]
fn input_statistics() {
    let mut p = params(
        TaskKind::LinearTeacher {
            low: -1.0,
            high: 1.0,
        },
        10,
        2,
    );
    p.input_std = 2.5;
    let task = build(&p, 9);
    let (xs, _) = stream(&task, 4000);
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    // 40,000 draws: standard errors 0.0125 (mean) and 0.009 (std).
    assert!(mean.abs() < 0.08, "mean {mean}");
    assert!((std - 2.5).abs() < 0.06, "std {std}");
    // Held-out inputs follow the same law but are different numbers.
    let mut x = vec![0.0; 10];
    let mut y = vec![0.0; 2];
    task.held_out_sample(0, &mut x, &mut y);
    assert_ne!(&x[..], &xs[..10]);
    assert_eq!(task.held_out_len(), 100);
}

#[test]
fn digits_data() {
    let mut p = params(TaskKind::Digits, 64, 10);
    p.held_out = 0;
    // held_out = 0 is allowed: every row is a training row.
    let task = build(&p, 1);
    let DeviceTaskForm::Dataset {
        inputs,
        targets,
        train_rows,
    } = task.device_form()
    else {
        panic!("digits should be a data set");
    };
    assert_eq!(inputs.shape(), (1797, 64));
    assert_eq!(targets.shape(), (1797, 10));
    assert_eq!(train_rows.len(), 1797);
    assert!(task.is_classification());
    assert!(inputs.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(inputs.max(), 1.0);
    let mut counts = [0usize; 10];
    for r in 0..1797 {
        let row: Vec<f64> = targets.row(r).iter().copied().collect();
        assert_one_hot(&row);
        counts[argmax(&row)] += 1;
    }
    assert!(counts.iter().all(|c| (170..=190).contains(c)), "{counts:?}");
    // The first row of the file is a 0 whose third pixel is 5.
    assert_eq!(targets[(0, 0)], 1.0);
    assert_eq!(inputs[(0, 2)], 5.0 / 16.0);
}

#[test]
fn split_is_disjoint_and_complete() {
    let mut p = params(TaskKind::Digits, 64, 10);
    p.held_out = 297;
    let task = build(&p, 5);
    let DeviceTaskForm::Dataset {
        inputs, train_rows, ..
    } = task.device_form()
    else {
        panic!("digits should be a data set");
    };
    assert_eq!(task.held_out_len(), 297);
    assert_eq!(train_rows.len(), 1500);
    let (held, train) = split_rows(5, 1797, 297).expect("split");
    assert_eq!(train, train_rows);
    let mut all: Vec<u32> = held.iter().chain(&train).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..1797).collect::<Vec<u32>>());
    // Held-out samples are the held rows, in order.
    let mut x = vec![0.0; 64];
    let mut y = vec![0.0; 10];
    task.held_out_sample(4, &mut x, &mut y);
    assert_eq!(
        x,
        inputs
            .row(held[4] as usize)
            .iter()
            .copied()
            .collect::<Vec<_>>()
    );
    // Training samples only ever come from training rows, chosen by the
    // documented rule.
    for k in 0..200 {
        task.train_sample(k, &mut x, &mut y);
        let u = rng::draw_block(5, STREAM_TRAIN, k, 0)[0];
        let row = train_rows[(rng::u01_f64(u) * 1500.0).floor() as usize] as usize;
        assert_eq!(x, inputs.row(row).iter().copied().collect::<Vec<_>>());
    }
    // Different seeds split differently.
    assert_ne!(split_rows(6, 1797, 297).expect("split").0, held);
}

#[test]
fn data_set_parameter_errors() {
    let mut p = params(TaskKind::Digits, 63, 10);
    let msg = build_err(&p, Path::new("."));
    assert!(
        msg.contains("digits") && msg.contains("64") && msg.contains("63"),
        "{msg}"
    );
    p.n_inputs = 64;
    p.n_targets = 2;
    let msg = build_err(&p, Path::new("."));
    assert!(msg.contains("10") && msg.contains("2 was given"), "{msg}");
    p.n_targets = 10;
    p.held_out = 1797;
    let msg = build_err(&p, Path::new("."));
    assert!(msg.contains("1797 rows"), "{msg}");
}

#[test]
fn generated_task_parameter_errors() {
    let p = params(
        TaskKind::GaussianMixture {
            classes: 1,
            separation: 1.0,
        },
        4,
        1,
    );
    assert!(build_err(&p, Path::new(".")).contains("at least 2 classes"));
    let p = params(
        TaskKind::GaussianMixture {
            classes: 3,
            separation: 1.0,
        },
        4,
        2,
    );
    assert!(build_err(&p, Path::new(".")).contains("n_targets"));
    let p = params(
        TaskKind::LinearTeacher {
            low: 1.0,
            high: 0.0,
        },
        4,
        2,
    );
    assert!(build_err(&p, Path::new(".")).contains("low <= high"));
    let p = params(TaskKind::TanhTeacher { hidden: 0 }, 4, 2);
    assert!(build_err(&p, Path::new(".")).contains("hidden"));
    let mut p = params(TaskKind::TanhTeacher { hidden: 2 }, 4, 2);
    p.input_std = -1.0;
    assert!(build_err(&p, Path::new(".")).contains("input_std"));
    p.n_inputs = 0;
    assert!(build_err(&p, Path::new(".")).contains("n_inputs"));
}

#[test]
fn csv_round_trip() {
    let file = TempCsv::new("a, b, t1, t2\n1, 2, 3, 4\n5, 6.5, 7, 8\n\n-1,-2,-3,-4\n");
    // A relative path is resolved against base_dir.
    let (dir, name) = (
        file.0.parent().expect("dir"),
        file.0.file_name().expect("name"),
    );
    let p = csv_params(Path::new(name), 2, 2, false);
    let task = match Task::new(&p, 8, dir) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert!(!task.is_classification());
    assert_eq!(task.held_out_len(), 1);
    let DeviceTaskForm::Dataset {
        inputs,
        targets,
        train_rows,
    } = task.device_form()
    else {
        panic!("CSV should be a data set");
    };
    assert_eq!(inputs.shape(), (3, 2));
    assert_eq!(
        (inputs[(1, 1)], targets[(1, 0)], targets[(2, 1)]),
        (6.5, 7.0, -4.0)
    );
    assert_eq!(train_rows.len(), 2);
    let mut seen = [false; 3];
    let (mut x, mut y) = ([0.0; 2], [0.0; 2]);
    task.held_out_sample(0, &mut x, &mut y);
    let held = (0..3)
        .find(|&r| inputs[(r, 0)] == x[0])
        .expect("a file row");
    seen[held] = true;
    for k in 0..50 {
        task.train_sample(k, &mut x, &mut y);
        let r = (0..3)
            .find(|&r| inputs[(r, 0)] == x[0])
            .expect("a file row");
        assert_ne!(r, held, "a held-out row was used for training");
        assert_eq!(y[0], targets[(r, 0)]);
        seen[r] = true;
    }
    assert_eq!(seen, [true; 3]);
}

#[test]
fn csv_labels_become_one_hot() {
    let file = TempCsv::new("x,label\n0.5,2\n0.25,0\n1,1\n");
    let task = build(&csv_params(&file.0, 1, 3, true), 2);
    assert!(task.is_classification());
    let DeviceTaskForm::Dataset { targets, .. } = task.device_form() else {
        panic!("CSV should be a data set");
    };
    assert_eq!(
        targets.row(0).iter().copied().collect::<Vec<_>>(),
        [0.0, 0.0, 1.0]
    );
    assert_eq!(
        targets.row(1).iter().copied().collect::<Vec<_>>(),
        [1.0, 0.0, 0.0]
    );

    let bad = TempCsv::new("x,label\n0.5,2\n0.25,3\n");
    let msg = build_err(&csv_params(&bad.0, 1, 3, true), Path::new("."));
    assert!(
        msg.contains("line 3, column 2 (\"label\")") && msg.contains("0..3"),
        "{msg}"
    );
}

#[test]
fn csv_errors_name_the_place() {
    let base = Path::new(".");
    let missing = std::env::temp_dir().join("hetsim-task-test-no-such-file.csv");
    let msg = build_err(&csv_params(&missing, 1, 1, false), base);
    assert!(msg.contains("no-such-file.csv"), "{msg}");

    let ragged = TempCsv::new("a,b,c\n1,2,3\n4,5\n");
    let msg = build_err(&csv_params(&ragged.0, 2, 1, false), base);
    assert!(
        msg.contains("line 3 has 2 columns") && msg.contains("has 3"),
        "{msg}"
    );

    let text = TempCsv::new("a,b,c\n1,2,3\n4,five,6\n");
    let msg = build_err(&csv_params(&text.0, 2, 1, false), base);
    assert!(
        msg.contains("line 3, column 2 (\"b\")") && msg.contains("five"),
        "{msg}"
    );

    let nan = TempCsv::new("a,b,c\n1,2,NaN\n");
    let msg = build_err(&csv_params(&nan.0, 2, 1, false), base);
    assert!(msg.contains("line 2, column 3"), "{msg}");

    let narrow = TempCsv::new("a,b\n1,2\n");
    let msg = build_err(&csv_params(&narrow.0, 2, 1, false), base);
    assert!(
        msg.contains("2 columns are too few for 2 input columns"),
        "{msg}"
    );

    let targets = TempCsv::new("a,b,c\n1,2,3\n");
    let msg = build_err(&csv_params(&targets.0, 1, 1, false), base);
    assert!(
        msg.contains("2 target columns") && msg.contains("n_targets is 1"),
        "{msg}"
    );

    let empty = TempCsv::new("");
    assert!(build_err(&csv_params(&empty.0, 1, 1, false), base).contains("empty"));
    let header_only = TempCsv::new("a,b\n");
    assert!(build_err(&csv_params(&header_only.0, 1, 1, false), base).contains("no data rows"));

    let two_rows = TempCsv::new("a,b\n1,2\n3,4\n");
    let mut p = csv_params(&two_rows.0, 1, 1, false);
    p.held_out = 2;
    assert!(build_err(&p, base).contains("held_out = 2"));
    p.held_out = 1;
    p.n_inputs = 2;
    assert!(build_err(&p, base).contains("CSV task needs n_inputs"));
}

#[test]
fn mixture_classes_and_nearest_mean() {
    let (classes, n_inputs) = (4, 20);
    let mut p = params(
        TaskKind::GaussianMixture {
            classes,
            separation: 8.0,
        },
        n_inputs,
        classes,
    );
    p.held_out = 400;
    let task = build(&p, 17);
    assert!(task.is_classification());

    // Class means estimated from training samples.
    let (xs, ys) = stream(&task, 800);
    let mut sums = vec![0.0; classes * n_inputs];
    let mut counts = vec![0usize; classes];
    for (x, y) in xs.chunks(n_inputs).zip(ys.chunks(classes)) {
        assert_one_hot(y);
        let c = argmax(y);
        counts[c] += 1;
        for (s, v) in sums[c * n_inputs..(c + 1) * n_inputs].iter_mut().zip(x) {
            *s += v;
        }
    }
    // 200 expected per class; all present and none far off.
    assert!(
        counts.iter().all(|&c| (120..=280).contains(&c)),
        "{counts:?}"
    );

    let mut correct = 0;
    let (mut x, mut y) = (vec![0.0; n_inputs], vec![0.0; classes]);
    for i in 0..task.held_out_len() {
        task.held_out_sample(i, &mut x, &mut y);
        let dist = |c: usize| -> f64 {
            (0..n_inputs)
                .map(|j| (x[j] - sums[c * n_inputs + j] / counts[c] as f64).powi(2))
                .sum()
        };
        let guess = (0..classes)
            .min_by(|&a, &b| dist(a).total_cmp(&dist(b)))
            .expect("classes");
        if guess == argmax(&y) {
            correct += 1;
        }
    }
    // Chance is 25 %.
    assert!(correct >= 360, "nearest mean got {correct}/400");

    // The device rule for the class: pick(word(TRAIN_CLASS, k), classes).
    let u = rng::draw_block(17, STREAM_TRAIN_CLASS, 5, 0)[0];
    assert_eq!(
        argmax(&ys[5 * classes..6 * classes]),
        rng::pick_index(u, classes)
    );
}
