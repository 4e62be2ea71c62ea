//! Learning tasks: deterministic streams of (input, target) samples.
//!
//! A [`Task`] is built from [`TaskParams`] and an instance seed. Every sample
//! is a pure function of `(seed, sample index)` through the counter-based
//! generator in [`crate::rng`], so runs are reproducible and a GPU kernel can
//! regenerate the same stream from [`Task::device_form`] alone.
//!
//! # Sampling rules
//!
//! Notation: `normals(stream, c, n)` is `rng::fill_normal(seed, stream, c, ·)`
//! into `n` numbers, `uniforms(..)` likewise with `rng::fill_uniform`,
//! `word(stream, c)` is lane 0 of block 0 of draw `(seed, stream, c)`, i.e.
//! `philox4x32_10([0, c as u32, (c >> 32) as u32, stream], seed_key(seed))[0]`,
//! and `pick(u, n) = floor(u01_f64(u) * n) = ((2u + 1) * n) >> 33`
//! ([`rng::pick_index`]). Matrices are filled row-major from one draw:
//! entry `(r, c)` of an `R × C` matrix is element `r * C + c`.
//!
//! **Fixed parts, drawn once per seed on [`rng::STREAM_TEACHER`]:**
//! * `LinearTeacher`: `T[r][c] = low + (high - low) * uniforms(TEACHER, 0, n_targets * n_inputs)[r * n_inputs + c]`.
//! * `TanhTeacher`: `V1 = normals(TEACHER, 0, hidden * n_inputs) / sqrt(n_inputs)`,
//!   `V2 = normals(TEACHER, 1, n_targets * hidden) / sqrt(hidden)`.
//! * `GaussianMixture`: `means = normals(TEACHER, 0, classes * n_inputs) * separation / sqrt(n_inputs)`
//!   (row `c` is the mean of class `c`).
//!
//! **Training sample `k`** (`k = 0, 1, 2, …`):
//! * teachers: `x = input_std * normals(TRAIN, k, n_inputs)`; `y = T x`
//!   (linear) or `y = V2 tanh(V1 x)` (tanh).
//! * mixture: `class = pick(word(TRAIN_CLASS, k), classes)`,
//!   `x = means[class] + input_std * normals(TRAIN, k, n_inputs)`,
//!   `y = one_hot(class)`.
//! * data sets (digits, CSV): `row = train_rows[pick(word(TRAIN, k), train_rows.len())]`,
//!   `x`, `y` = that row's inputs and targets. `input_std` is not used.
//!
//! **Held-out sample `i`** (`i < held_out_len()`):
//! * teachers and mixture: the training rules with `HELD_OUT` in place of
//!   `TRAIN` and `HELD_OUT_CLASS` in place of `TRAIN_CLASS`, counter `i`;
//!   there are `held_out` of them.
//! * data sets: row `perm[i]` for `i < held_out`, where `perm` is the split
//!   permutation below.
//!
//! **Split of a data set with `n` rows:** start from `perm = [0, 1, …, n-1]`;
//! for `i = n-1` down to `1`: `j = pick(word(SPLIT, i), i + 1)`, swap
//! `perm[i]` and `perm[j]` (Fisher–Yates). The first `held_out` entries are
//! the held-out rows (in that order), the rest, in permutation order, are
//! `train_rows`. `held_out` must leave at least one training row.
//!
//! **Data sets.** Digits: the 1,797 embedded 8×8 images, `x = pixels / 16`
//! (64 inputs in [0, 1]) and `y` one-hot over the 10 labels. CSV: a header
//! row, then the first `inputs` columns are inputs and the remaining columns
//! targets, all finite numbers. For a classification CSV with a single
//! target column and `n_targets ≥ 2`, that column holds integer labels
//! `0..n_targets` and `y` is their one-hot code; otherwise the number of
//! target columns must equal `n_targets` and they are used as they are.

mod table;
pub use table::MAX_CSV_BYTES;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use nalgebra::DMatrix;

use crate::rng::{self, STREAM_HELD_OUT, STREAM_HELD_OUT_CLASS, STREAM_SPLIT, STREAM_TEACHER};
use crate::rng::{STREAM_TRAIN, STREAM_TRAIN_CLASS};

/// Number of pixels of one digits image.
pub const DIGITS_INPUTS: usize = 64;
/// Number of classes of the digits data.
pub const DIGITS_CLASSES: usize = 10;
/// Largest pixel value of the digits data; inputs are scaled by its inverse.
const DIGITS_MAX_PIXEL: f64 = 16.0;

/// Which task a circuit learns.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    /// y* = T x, T (n_targets × n_inputs) with entries ~ U[low, high]  (Lillicrap et al. 2016)
    LinearTeacher { low: f64, high: f64 },
    /// y* = V2 tanh(V1 x), V1 (hidden × n_inputs) ~ N(0, 1/n_inputs), V2 (n_targets × hidden) ~ N(0, 1/hidden)
    TanhTeacher { hidden: usize },
    /// class c uniform in 0..classes; x = mu_c + input_std * N(0, I); mu_c ~ N(0, separation² I / n_inputs)
    /// drawn once per seed; target one-hot (n_targets == classes)
    GaussianMixture { classes: usize, separation: f64 },
    /// the 8×8 digits: x = pixels / 16 (64 inputs), target one-hot over 10 classes
    Digits,
    /// user CSV with a header row: the first `inputs` columns are inputs, the rest targets
    Csv {
        path: PathBuf,
        inputs: usize,
        classification: bool,
    },
}

/// Everything that defines a task apart from the seed.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskParams {
    pub kind: TaskKind,
    pub n_inputs: usize,
    pub n_targets: usize,
    /// Standard deviation of the normal inputs (teachers, mixture noise).
    pub input_std: f64,
    /// Held-out samples (generated tasks) or rows put aside (data sets).
    pub held_out: usize,
}

/// What a device needs to regenerate a task's stream itself; the rules are
/// in the module docs.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceTaskForm {
    /// x = input_std * normals(seed, STREAM_TRAIN, k), y = matrix · x
    NormalLinear {
        matrix: DMatrix<f64>,
        input_std: f64,
    },
    /// x as for `NormalLinear`, y = v2 · tanh(v1 · x)
    NormalTanh {
        v1: DMatrix<f64>,
        v2: DMatrix<f64>,
        input_std: f64,
    },
    /// class from STREAM_TRAIN_CLASS, x = means[class] + input_std * normals
    Mixture {
        /// classes × n_inputs
        means: DMatrix<f64>,
        input_std: f64,
    },
    /// rows of a data set; sample k picks train_rows[floor(u01(first u32 of draw k) * len)]
    Dataset {
        /// rows × n_inputs
        inputs: DMatrix<f64>,
        /// rows × n_targets
        targets: DMatrix<f64>,
        train_rows: Vec<u32>,
    },
}

/// Why a task could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{what} must be at least 1")]
    ZeroSize { what: &'static str },
    #[error("the {task} task needs {what} = {expected}, but {got} was given")]
    Dimension {
        task: &'static str,
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{name} = {value} is invalid: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    #[error("the linear teacher's range needs finite low <= high, got low = {low}, high = {high}")]
    BadRange { low: f64, high: f64 },
    #[error("a classification task needs at least 2 classes, got {classes}")]
    TooFewClasses { classes: usize },
    #[error("held_out = {held_out} leaves no training rows: the data set has {rows} rows")]
    HeldOutTooLarge { held_out: usize, rows: usize },
    #[error("the data set has {rows} rows, more than the 2^32 - 1 a row index can hold")]
    TooManyRows { rows: usize },
    #[error("cannot open CSV file {}: {source}", path.display())]
    CsvOpen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read CSV file {}: {source}", path.display())]
    CsvRead { path: PathBuf, source: csv::Error },
    #[error("more than {} MiB could be read from CSV file {} (the limit for a data set; is it a device, a pipe or a stream?)", limit / (1024 * 1024), path.display())]
    CsvTooLarge { path: PathBuf, limit: u64 },
    #[error("CSV file {} is empty (it needs a header row)", path.display())]
    CsvEmpty { path: PathBuf },
    #[error("CSV file {} has no data rows", path.display())]
    CsvNoRows { path: PathBuf },
    #[error("{}: line {line} has {got} columns, but the first row has {expected}", path.display())]
    CsvColumnCount {
        path: PathBuf,
        line: u64,
        expected: usize,
        got: usize,
    },
    #[error("{}: line {line}, column {column}{}: {value:?} is not a finite number", path.display(), name_suffix(name))]
    CsvNotNumeric {
        path: PathBuf,
        line: u64,
        column: usize,
        name: String,
        value: String,
    },
    #[error("{}: {columns} columns are too few for {inputs} input columns and at least one target column", path.display())]
    CsvTooFewColumns {
        path: PathBuf,
        columns: usize,
        inputs: usize,
    },
    #[error("{}: {columns} target columns follow the {inputs} inputs, but n_targets is {n_targets}", path.display())]
    CsvTargetColumns {
        path: PathBuf,
        columns: usize,
        inputs: usize,
        n_targets: usize,
    },
    #[error("{}: line {line}, column {column}{}: label {value} is not an integer in 0..{classes}", path.display(), name_suffix(name))]
    CsvBadLabel {
        path: PathBuf,
        line: u64,
        column: usize,
        name: String,
        value: f64,
        classes: usize,
    },
}

/// Formats an optional column name for error messages: ` ("x1")` or nothing.
fn name_suffix(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!(" ({name:?})")
    }
}

/// The seed-dependent data behind a task.
#[derive(Debug, Clone)]
enum Source {
    Linear {
        t: DMatrix<f64>,
    },
    Tanh {
        v1: DMatrix<f64>,
        v2: DMatrix<f64>,
    },
    Mixture {
        means: DMatrix<f64>,
    },
    Dataset {
        inputs: DMatrix<f64>,
        targets: DMatrix<f64>,
        train_rows: Vec<u32>,
        held_rows: Vec<u32>,
    },
}

/// One seed's instance of a task: a deterministic stream of samples.
#[derive(Debug, Clone)]
pub struct Task {
    seed: u64,
    n_inputs: usize,
    n_targets: usize,
    input_std: f64,
    held_out: usize,
    classification: bool,
    source: Source,
}

impl Task {
    /// `base_dir` resolves a relative CSV path (the circuit file's folder).
    pub fn new(params: &TaskParams, seed: u64, base_dir: &Path) -> Result<Task, TaskError> {
        let &TaskParams {
            n_inputs,
            n_targets,
            input_std,
            held_out,
            ..
        } = params;
        if n_inputs == 0 {
            return Err(TaskError::ZeroSize { what: "n_inputs" });
        }
        if n_targets == 0 {
            return Err(TaskError::ZeroSize { what: "n_targets" });
        }
        let needs_input_std = matches!(
            params.kind,
            TaskKind::LinearTeacher { .. }
                | TaskKind::TanhTeacher { .. }
                | TaskKind::GaussianMixture { .. }
        );
        if needs_input_std && !(input_std.is_finite() && input_std >= 0.0) {
            return Err(TaskError::InvalidParameter {
                name: "input_std",
                value: input_std,
                reason: "it must be finite and non-negative",
            });
        }

        let (source, classification) = match &params.kind {
            &TaskKind::LinearTeacher { low, high } => {
                if !(low.is_finite() && high.is_finite() && low <= high) {
                    return Err(TaskError::BadRange { low, high });
                }
                let mut u = vec![0.0; n_targets * n_inputs];
                rng::fill_uniform(seed, STREAM_TEACHER, 0, &mut u);
                u.iter_mut().for_each(|v| *v = low + (high - low) * *v);
                let t = DMatrix::from_row_slice(n_targets, n_inputs, &u);
                (Source::Linear { t }, false)
            }
            &TaskKind::TanhTeacher { hidden } => {
                if hidden == 0 {
                    return Err(TaskError::ZeroSize {
                        what: "the tanh teacher's hidden size",
                    });
                }
                let v1 = normal_matrix(seed, 0, hidden, n_inputs, 1.0 / (n_inputs as f64).sqrt());
                let v2 = normal_matrix(seed, 1, n_targets, hidden, 1.0 / (hidden as f64).sqrt());
                (Source::Tanh { v1, v2 }, false)
            }
            &TaskKind::GaussianMixture {
                classes,
                separation,
            } => {
                if classes < 2 {
                    return Err(TaskError::TooFewClasses { classes });
                }
                if n_targets != classes {
                    return Err(TaskError::Dimension {
                        task: "gaussian-mixture",
                        what: "n_targets (one per class)",
                        expected: classes,
                        got: n_targets,
                    });
                }
                if !(separation.is_finite() && separation >= 0.0) {
                    return Err(TaskError::InvalidParameter {
                        name: "separation",
                        value: separation,
                        reason: "it must be finite and non-negative",
                    });
                }
                let scale = separation / (n_inputs as f64).sqrt();
                let means = normal_matrix(seed, 0, classes, n_inputs, scale);
                (Source::Mixture { means }, true)
            }
            TaskKind::Digits => (digits_source(n_inputs, n_targets, held_out, seed)?, true),
            TaskKind::Csv {
                path,
                inputs,
                classification,
            } => {
                let path = base_dir.join(path);
                let source = csv_source(&path, *inputs, *classification, params, seed)?;
                (source, *classification)
            }
        };
        Ok(Task {
            seed,
            n_inputs,
            n_targets,
            input_std,
            held_out,
            classification,
            source,
        })
    }

    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    /// Whether targets are one-hot class codes (accuracy is meaningful).
    pub fn is_classification(&self) -> bool {
        self.classification
    }

    /// The instance seed the task was built with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Training sample k (k = 0, 1, 2, …) of this seed's stream: deterministic in (seed, k).
    ///
    /// # Panics
    /// If `x` is not `n_inputs` long or `y` not `n_targets` long.
    pub fn train_sample(&self, k: u64, x: &mut [f64], y: &mut [f64]) {
        self.check_lengths(x, y);
        match &self.source {
            Source::Dataset {
                inputs,
                targets,
                train_rows,
                ..
            } => {
                let u = rng::draw_block(self.seed, STREAM_TRAIN, k, 0)[0];
                let row = train_rows[rng::pick_index(u, train_rows.len())] as usize;
                copy_row(inputs, targets, row, x, y);
            }
            _ => self.generated_sample(STREAM_TRAIN, STREAM_TRAIN_CLASS, k, x, y),
        }
    }

    /// How many held-out samples there are.
    pub fn held_out_len(&self) -> usize {
        match &self.source {
            Source::Dataset { held_rows, .. } => held_rows.len(),
            _ => self.held_out,
        }
    }

    /// Held-out sample `i` (`i < held_out_len()`).
    ///
    /// # Panics
    /// If `i` is out of range or the slices have the wrong lengths.
    pub fn held_out_sample(&self, i: usize, x: &mut [f64], y: &mut [f64]) {
        self.check_lengths(x, y);
        assert!(
            i < self.held_out_len(),
            "held-out sample {i} requested, but there are only {}",
            self.held_out_len()
        );
        match &self.source {
            Source::Dataset {
                inputs,
                targets,
                held_rows,
                ..
            } => copy_row(inputs, targets, held_rows[i] as usize, x, y),
            _ => self.generated_sample(STREAM_HELD_OUT, STREAM_HELD_OUT_CLASS, i as u64, x, y),
        }
    }

    /// What a device needs to regenerate the stream itself (for a later OpenCL backend):
    pub fn device_form(&self) -> DeviceTaskForm {
        let input_std = self.input_std;
        match &self.source {
            Source::Linear { t } => DeviceTaskForm::NormalLinear {
                matrix: t.clone(),
                input_std,
            },
            Source::Tanh { v1, v2 } => DeviceTaskForm::NormalTanh {
                v1: v1.clone(),
                v2: v2.clone(),
                input_std,
            },
            Source::Mixture { means } => DeviceTaskForm::Mixture {
                means: means.clone(),
                input_std,
            },
            Source::Dataset {
                inputs,
                targets,
                train_rows,
                ..
            } => DeviceTaskForm::Dataset {
                inputs: inputs.clone(),
                targets: targets.clone(),
                train_rows: train_rows.clone(),
            },
        }
    }

    fn check_lengths(&self, x: &[f64], y: &[f64]) {
        assert_eq!(x.len(), self.n_inputs, "input buffer length");
        assert_eq!(y.len(), self.n_targets, "target buffer length");
    }

    /// A sample of a task with normal inputs, from draw `counter` of
    /// `stream` (inputs) and `class_stream` (mixture class).
    fn generated_sample(
        &self,
        stream: u32,
        class_stream: u32,
        counter: u64,
        x: &mut [f64],
        y: &mut [f64],
    ) {
        rng::fill_normal(self.seed, stream, counter, x);
        x.iter_mut().for_each(|v| *v *= self.input_std);
        match &self.source {
            Source::Linear { t } => {
                for (r, yr) in y.iter_mut().enumerate() {
                    *yr = (0..self.n_inputs).map(|c| t[(r, c)] * x[c]).sum();
                }
            }
            Source::Tanh { v1, v2 } => {
                // Accumulate y one hidden unit at a time so no scratch
                // buffer is needed.
                y.fill(0.0);
                for j in 0..v1.nrows() {
                    let h = (0..self.n_inputs)
                        .map(|c| v1[(j, c)] * x[c])
                        .sum::<f64>()
                        .tanh();
                    for (r, yr) in y.iter_mut().enumerate() {
                        *yr += v2[(r, j)] * h;
                    }
                }
            }
            Source::Mixture { means } => {
                let u = rng::draw_block(self.seed, class_stream, counter, 0)[0];
                let class = rng::pick_index(u, means.nrows());
                for (c, xc) in x.iter_mut().enumerate() {
                    *xc += means[(class, c)];
                }
                y.fill(0.0);
                y[class] = 1.0;
            }
            Source::Dataset { .. } => unreachable!("data sets have no generated samples"),
        }
    }
}

/// A `rows × cols` matrix of normals from draw `counter` of the teacher
/// stream, row-major, times `scale`.
fn normal_matrix(seed: u64, counter: u64, rows: usize, cols: usize, scale: f64) -> DMatrix<f64> {
    let mut v = vec![0.0; rows * cols];
    rng::fill_normal(seed, STREAM_TEACHER, counter, &mut v);
    v.iter_mut().for_each(|e| *e *= scale);
    DMatrix::from_row_slice(rows, cols, &v)
}

fn copy_row(
    inputs: &DMatrix<f64>,
    targets: &DMatrix<f64>,
    row: usize,
    x: &mut [f64],
    y: &mut [f64],
) {
    for (c, xc) in x.iter_mut().enumerate() {
        *xc = inputs[(row, c)];
    }
    for (c, yc) in y.iter_mut().enumerate() {
        *yc = targets[(row, c)];
    }
}

/// The seeded Fisher–Yates split of `rows` rows into (held-out, training).
fn split_rows(seed: u64, rows: usize, held_out: usize) -> Result<(Vec<u32>, Vec<u32>), TaskError> {
    if held_out >= rows {
        return Err(TaskError::HeldOutTooLarge { held_out, rows });
    }
    let n = u32::try_from(rows).map_err(|_| TaskError::TooManyRows { rows })?;
    let mut perm: Vec<u32> = (0..n).collect();
    for i in (1..rows).rev() {
        let u = rng::draw_block(seed, STREAM_SPLIT, i as u64, 0)[0];
        perm.swap(i, rng::pick_index(u, i + 1));
    }
    let train = perm.split_off(held_out);
    Ok((perm, train))
}

/// Builds a data-set source from row-major inputs and targets.
fn dataset_source(
    inputs: Vec<f64>,
    targets: Vec<f64>,
    rows: usize,
    n_inputs: usize,
    n_targets: usize,
    held_out: usize,
    seed: u64,
) -> Result<Source, TaskError> {
    let (held_rows, train_rows) = split_rows(seed, rows, held_out)?;
    Ok(Source::Dataset {
        inputs: DMatrix::from_row_slice(rows, n_inputs, &inputs),
        targets: DMatrix::from_row_slice(rows, n_targets, &targets),
        train_rows,
        held_rows,
    })
}

/// The integer label in `0..classes` a cell holds, if it holds one.
fn as_label(v: f64, classes: usize) -> Option<usize> {
    (v >= 0.0 && v.fract() == 0.0 && v < classes as f64).then_some(v as usize)
}

fn digits_source(
    n_inputs: usize,
    n_targets: usize,
    held_out: usize,
    seed: u64,
) -> Result<Source, TaskError> {
    for (what, expected, got) in [
        ("n_inputs (8×8 pixels)", DIGITS_INPUTS, n_inputs),
        ("n_targets (10 classes)", DIGITS_CLASSES, n_targets),
    ] {
        if got != expected {
            return Err(TaskError::Dimension {
                task: "digits",
                what,
                expected,
                got,
            });
        }
    }
    let table = table::read_digits()?;
    if table.width != DIGITS_INPUTS + 1 {
        return Err(TaskError::CsvColumnCount {
            path: table::digits_path(),
            line: 1,
            expected: DIGITS_INPUTS + 1,
            got: table.width,
        });
    }
    let rows = table.rows();
    let mut inputs = Vec::with_capacity(rows * DIGITS_INPUTS);
    let mut targets = vec![0.0; rows * DIGITS_CLASSES];
    for r in 0..rows {
        let row = table.row(r);
        inputs.extend(row[..DIGITS_INPUTS].iter().map(|p| p / DIGITS_MAX_PIXEL));
        let label = row[DIGITS_INPUTS];
        let Some(class) = as_label(label, DIGITS_CLASSES) else {
            return Err(TaskError::CsvBadLabel {
                path: table::digits_path(),
                line: table.lines[r],
                column: DIGITS_INPUTS + 1,
                name: String::new(),
                value: label,
                classes: DIGITS_CLASSES,
            });
        };
        targets[r * DIGITS_CLASSES + class] = 1.0;
    }
    dataset_source(
        inputs,
        targets,
        rows,
        DIGITS_INPUTS,
        DIGITS_CLASSES,
        held_out,
        seed,
    )
}

fn csv_source(
    path: &Path,
    inputs: usize,
    classification: bool,
    params: &TaskParams,
    seed: u64,
) -> Result<Source, TaskError> {
    let TaskParams {
        n_inputs,
        n_targets,
        held_out,
        ..
    } = *params;
    if inputs != n_inputs {
        return Err(TaskError::Dimension {
            task: "CSV",
            what: "n_inputs (the CSV's `inputs`)",
            expected: inputs,
            got: n_inputs,
        });
    }
    let table = table::read_csv_file(path)?;
    if table.width < inputs + 1 {
        return Err(TaskError::CsvTooFewColumns {
            path: path.to_path_buf(),
            columns: table.width,
            inputs,
        });
    }
    let target_cols = table.width - inputs;
    let labels = classification && target_cols == 1 && n_targets >= 2;
    if !labels && target_cols != n_targets {
        return Err(TaskError::CsvTargetColumns {
            path: path.to_path_buf(),
            columns: target_cols,
            inputs,
            n_targets,
        });
    }
    let rows = table.rows();
    let mut xs = Vec::with_capacity(rows * inputs);
    let mut ys = Vec::with_capacity(rows * n_targets);
    for r in 0..rows {
        let row = table.row(r);
        xs.extend_from_slice(&row[..inputs]);
        if labels {
            let Some(class) = as_label(row[inputs], n_targets) else {
                return Err(TaskError::CsvBadLabel {
                    path: path.to_path_buf(),
                    line: table.lines[r],
                    column: inputs + 1,
                    name: table.column_name(inputs),
                    value: row[inputs],
                    classes: n_targets,
                });
            };
            ys.extend((0..n_targets).map(|c| if c == class { 1.0 } else { 0.0 }));
        } else {
            ys.extend_from_slice(&row[inputs..]);
        }
    }
    dataset_source(xs, ys, rows, inputs, n_targets, held_out, seed)
}
