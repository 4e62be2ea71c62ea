//! Reading a run directory into memory.
//!
//! The files are written by other code, so this layer is strict about what
//! it needs (the three required files, the tables the manifest says were
//! recorded, every column hetsim writes, at least one row, numbers that
//! parse) and lenient about everything else (unknown JSON keys, extra CSV
//! columns). Errors name the file, the column and, for CSV rows, the line,
//! so a broken run can be fixed without a debugger.
//!
//! Two defects of an interrupted run are drawn around, with a warning in
//! [`RunData::warnings`]: a last row cut short (the file does not end in a
//! newline, as a full disk or a kill leaves it) is left out, and NaN or
//! infinite cells (a diverged measurement) become gaps in the curves.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::PlotError;

/// The keys of `manifest.json` the figures use; other keys are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub circuit: String,
    pub rules: Vec<String>,
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub dt_s: Option<f64>,
    #[serde(default)]
    pub method: Option<String>,
    /// Per label, the explicit circuit that ran (YAML); absent in hand-made run directories.
    #[serde(default)]
    pub circuits: Option<std::collections::BTreeMap<String, String>>,
}

impl Manifest {
    /// The explicit circuits that ran, parsed (those that parse), in label order.
    fn circuit_specs(&self) -> Vec<crate::spec::CircuitSpec> {
        self.circuits
            .iter()
            .flatten()
            .filter_map(|(_, yaml)| {
                let source =
                    crate::spec::SourceFile::from_text(Path::new("manifest.json"), yaml.clone());
                crate::spec::parse_circuit(&source).ok()
            })
            .collect()
    }

    /// Whether the run recorded activity traces: some circuit has `record.traces` > 0.
    fn records_traces(&self) -> bool {
        self.circuit_specs()
            .iter()
            .any(|c| !c.record.traces.is_zero())
    }

    /// The forward projection each feedback matrix stands in for (`stands_for`), over all
    /// circuits of the run: `B2 → W2`.
    pub fn stands_for(&self, feedback: &str) -> Option<String> {
        self.circuit_specs()
            .into_iter()
            .find_map(|c| c.projections.get(feedback)?.stands_for.clone())
    }

    /// The number of target units (classes, for a classification task), when one circuit
    /// names a target population.
    pub fn target_size(&self) -> Option<usize> {
        self.circuit_specs().into_iter().find_map(|c| {
            c.populations
                .values()
                .find(|p| p.role == crate::spec::Role::Target)
                .map(|p| p.size)
        })
    }

    /// Held-out samples behind each held-out loss and accuracy.
    pub fn held_out(&self) -> Option<usize> {
        self.circuit_specs().first().map(|c| c.task.held_out)
    }
}

/// One row of `instances.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub instance: String,
    pub seed: String,
    pub rule: String,
    pub label: String,
}

/// The numeric columns of `metrics.csv`: the schema the recorder writes.
pub use crate::record::metrics::Metric;

/// The columns of `metrics.csv` as the recorder writes them.
const METRICS_COLUMNS: &[&str] = &crate::record::metrics::COLUMNS;

/// One row of `metrics.csv`. Unmeasured cells (empty or `NaN`) are stored
/// as `NaN`: no figure distinguishes the two, and it keeps rows flat.
#[derive(Debug, Clone)]
pub struct MetricRow {
    pub time_s: f64,
    pub instance: String,
    pub projection: String,
    /// The protocol phase of the row's window.
    pub phase: String,
    values: [f64; Metric::ALL.len()],
}

impl MetricRow {
    pub fn new(time_s: f64, instance: &str, projection: &str) -> MetricRow {
        MetricRow {
            time_s,
            instance: instance.to_string(),
            projection: projection.to_string(),
            phase: String::new(),
            values: [f64::NAN; Metric::ALL.len()],
        }
    }

    /// The value, or `NaN` when the cell was empty or not a finite number.
    pub fn get(&self, metric: Metric) -> f64 {
        self.values[metric.index()]
    }

    pub fn set(&mut self, metric: Metric, value: f64) {
        self.values[metric.index()] = value;
    }
}

/// One row of `traces.csv`.
#[derive(Debug, Clone)]
pub struct TraceRow {
    pub time_s: f64,
    pub instance: String,
    pub signal: String,
    pub value: f64,
}

/// When a weight snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Start,
    End,
}

/// One row of `weights.csv`: a single matrix entry.
#[derive(Debug, Clone)]
pub struct WeightEntry {
    pub stage: Stage,
    pub instance: String,
    pub projection: String,
    pub row: usize,
    pub col: usize,
    pub value: f64,
}

/// Everything the figures need from one run directory.
#[derive(Debug, Clone)]
pub struct RunData {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub instances: Vec<Instance>,
    pub metrics: Vec<MetricRow>,
    /// Empty when `traces.csv` is absent.
    pub traces: Vec<TraceRow>,
    /// Empty when `weights.csv` is absent.
    pub weights: Vec<WeightEntry>,
    /// What was drawn around: a cut last row left out, NaN or infinite cells.
    pub warnings: Vec<String>,
}

impl RunData {
    /// The protocol's phases as (start time, name), read from the `phase` column of the first
    /// instance's rows: a phase starts where the window before its first row ends. Empty when
    /// the run has one phase.
    pub fn phases(&self) -> Vec<(f64, String)> {
        let Some(first) = self.metrics.first().map(|r| r.instance.clone()) else {
            return Vec::new();
        };
        let mut rows: Vec<&MetricRow> = self
            .metrics
            .iter()
            .filter(|r| r.instance == first && r.projection == "all")
            .collect();
        rows.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        let mut out: Vec<(f64, String)> = Vec::new();
        let mut before: Option<&MetricRow> = None;
        for r in rows {
            match before {
                None => out.push((r.time_s, r.phase.clone())),
                Some(b) if b.phase != r.phase => out.push((b.time_s, r.phase.clone())),
                _ => {}
            }
            before = Some(r);
        }
        if out.len() < 2 { Vec::new() } else { out }
    }

    /// Curve labels in the order they first appear in `instances.csv`, so
    /// colours follow the order the run author chose.
    pub fn labels(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for inst in &self.instances {
            if !out.contains(&inst.label) {
                out.push(inst.label.clone());
            }
        }
        out
    }

    /// The label of an instance id, if it is listed in `instances.csv`.
    pub fn label_of(&self, instance: &str) -> Option<&str> {
        self.instances
            .iter()
            .find(|i| i.instance == instance)
            .map(|i| i.label.as_str())
    }

    /// Projections that carry at least one finite value of `metric`, with
    /// `all` first and the others in order of first appearance.
    pub fn projections_with(&self, metric: Metric) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for row in &self.metrics {
            if row.get(metric).is_finite() && !out.contains(&row.projection) {
                out.push(row.projection.clone());
            }
        }
        if let Some(pos) = out.iter().position(|p| p == "all") {
            let all = out.remove(pos);
            out.insert(0, all);
        }
        out
    }

    /// True when some row of `projection` has a finite value of `metric`.
    pub fn has(&self, metric: Metric, projection: &str) -> bool {
        self.metrics
            .iter()
            .any(|r| r.projection == projection && r.get(metric).is_finite())
    }
}

/// Reads and checks the run files in `run_dir`.
pub fn load_run(run_dir: &Path) -> Result<RunData, PlotError> {
    let manifest_path = required(run_dir, "manifest.json")?;
    let instances_path = required(run_dir, "instances.csv")?;
    let metrics_path = required(run_dir, "metrics.csv")?;

    let manifest = read_manifest(&manifest_path)?;
    let mut warnings = Vec::new();
    let instances = read_instances(&instances_path, &mut warnings)?;
    let metrics = read_metrics(&metrics_path, &instances, &mut warnings)?;

    // A run written by hetsim (its manifest lists the circuits) always records the start
    // weights, and traces when a circuit asks for them: those tables are then required.
    let from_hetsim = manifest.circuits.is_some();
    let traces_path = run_dir.join("traces.csv");
    let traces = if traces_path.is_file() {
        read_traces(&traces_path, &mut warnings)?
    } else if from_hetsim && manifest.records_traces() {
        return Err(PlotError::MissingFile { path: traces_path });
    } else {
        Vec::new()
    };
    let weights_path = run_dir.join("weights.csv");
    let weights = if weights_path.is_file() {
        read_weights(&weights_path, &mut warnings)?
    } else if from_hetsim {
        return Err(PlotError::MissingFile { path: weights_path });
    } else {
        Vec::new()
    };

    Ok(RunData {
        dir: run_dir.to_path_buf(),
        manifest,
        instances,
        metrics,
        traces,
        weights,
        warnings,
    })
}

fn required(dir: &Path, name: &str) -> Result<PathBuf, PlotError> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(PlotError::MissingFile { path })
    }
}

fn read_manifest(path: &Path) -> Result<Manifest, PlotError> {
    let text = fs::read_to_string(path).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| PlotError::Malformed {
        path: path.to_path_buf(),
        line: e.line() as u64,
        reason: e.to_string(),
    })
}

/// A CSV file opened with its header parsed into a name → column map.
struct Table {
    path: PathBuf,
    reader: csv::Reader<std::io::Take<fs::File>>,
    columns: HashMap<String, usize>,
    header: Vec<String>,
    rows: usize,
    /// Non-finite cells per column, for one warning per column.
    non_finite: Vec<(String, usize)>,
}

impl Table {
    /// Opens a table; a last line without its newline (cut by a full disk or a kill) is left
    /// out, with a warning.
    fn open(path: &Path, warnings: &mut Vec<String>) -> Result<Table, PlotError> {
        let io = |source| PlotError::Io {
            path: path.to_path_buf(),
            source,
        };
        let whole = whole_rows_len(path).map_err(io)?;
        if let Some(line) = whole.cut_line {
            warnings.push(format!(
                "{}:{line}: the last row is cut off (the run was interrupted?); it is left out",
                path.display()
            ));
        }
        let file = fs::File::open(path).map_err(io)?;
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(std::io::Read::take(file, whole.len));
        let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
        if headers.iter().all(str::is_empty) {
            return Err(PlotError::Malformed {
                path: path.to_path_buf(),
                line: 1,
                reason: "the file has no header row (it is empty or was cut off)".into(),
            });
        }
        let columns = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.to_string(), i))
            .collect();
        Ok(Table {
            path: path.to_path_buf(),
            reader,
            columns,
            header: headers.iter().map(str::to_string).collect(),
            rows: 0,
            non_finite: Vec::new(),
        })
    }

    /// Column index of a header the file must have.
    fn need(&self, name: &str) -> Result<usize, PlotError> {
        self.columns
            .get(name)
            .copied()
            .ok_or_else(|| PlotError::Malformed {
                path: self.path.clone(),
                line: 1,
                reason: format!(
                    "header has no `{name}` column (it has: {})",
                    self.header.join(", ")
                ),
            })
    }

    /// Calls `f` with each record and its 1-based line number; a table without rows is an
    /// error (a run always writes at least its first row).
    fn for_each(
        &mut self,
        mut f: impl FnMut(&csv::StringRecord, u64) -> Result<(), String>,
    ) -> Result<(), PlotError> {
        let mut record = csv::StringRecord::new();
        loop {
            match self.reader.read_record(&mut record) {
                Ok(false) if self.rows == 0 => {
                    return Err(PlotError::Malformed {
                        path: self.path.clone(),
                        line: 2,
                        reason: "the table has a header but no rows".into(),
                    });
                }
                Ok(false) => return Ok(()),
                Ok(true) => {
                    self.rows += 1;
                    let line = record.position().map_or(0, |p| p.line());
                    f(&record, line).map_err(|reason| PlotError::Malformed {
                        path: self.path.clone(),
                        line,
                        reason,
                    })?;
                }
                Err(e) => return Err(csv_error(&self.path, e)),
            }
        }
    }

    /// Counts a cell that held NaN or an infinity.
    fn note_non_finite(&mut self, column: &str) {
        match self.non_finite.iter_mut().find(|(c, _)| c == column) {
            Some((_, n)) => *n += 1,
            None => self.non_finite.push((column.to_string(), 1)),
        }
    }

    /// One warning per column with non-finite cells.
    fn finish(self, warnings: &mut Vec<String>) {
        for (column, n) in self.non_finite {
            warnings.push(format!(
                "{}: {n} cell{} of `{column}` {} NaN or infinite; they are gaps in the curves",
                self.path.display(),
                if n == 1 { "" } else { "s" },
                if n == 1 { "is" } else { "are" }
            ));
        }
    }
}

/// How much of a file holds whole lines.
struct WholeRows {
    len: u64,
    /// The 1-based line number of a cut last line.
    cut_line: Option<u64>,
}

/// The length of the file up to its last newline, and where a cut last line starts. Reads the
/// file once, in blocks.
fn whole_rows_len(path: &Path) -> std::io::Result<WholeRows> {
    use std::io::Read;
    let mut file = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let (mut total, mut last_newline, mut lines) = (0u64, None::<u64>, 0u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            if *b == b'\n' {
                last_newline = Some(total + i as u64);
                lines += 1;
            }
        }
        total += n as u64;
    }
    let whole = last_newline.map_or(0, |p| p + 1);
    if whole == total {
        return Ok(WholeRows {
            len: total,
            cut_line: None,
        });
    }
    Ok(WholeRows {
        len: whole,
        cut_line: Some(lines + 1),
    })
}

fn csv_error(path: &Path, e: csv::Error) -> PlotError {
    let line = e.position().map_or(0, |p| p.line());
    let reason = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => PlotError::Io {
            path: path.to_path_buf(),
            source,
        },
        _ => PlotError::Malformed {
            path: path.to_path_buf(),
            line,
            reason,
        },
    }
}

fn cell<'r>(rec: &'r csv::StringRecord, col: usize, name: &str) -> Result<&'r str, String> {
    rec.get(col)
        .ok_or_else(|| format!("row has no `{name}` cell"))
}

/// A number cell; empty means "not measured" and becomes `NaN`, as do
/// infinities, which no figure can place on an axis.
fn number(rec: &csv::StringRecord, col: usize, name: &str) -> Result<f64, String> {
    let s = cell(rec, col, name)?;
    if s.is_empty() {
        return Ok(f64::NAN);
    }
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{name}` is not a number: {s:?}"))?;
    Ok(if v.is_finite() { v } else { f64::NAN })
}

/// A number cell that must be present and finite (times, indices).
fn finite(rec: &csv::StringRecord, col: usize, name: &str) -> Result<f64, String> {
    let v = number(rec, col, name)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("`{name}` must be a finite number"))
    }
}

fn index(rec: &csv::StringRecord, col: usize, name: &str) -> Result<usize, String> {
    let s = cell(rec, col, name)?;
    s.parse()
        .map_err(|_| format!("`{name}` is not a non-negative integer: {s:?}"))
}

fn read_instances(path: &Path, warnings: &mut Vec<String>) -> Result<Vec<Instance>, PlotError> {
    let mut t = Table::open(path, warnings)?;
    let (ci, cs, cr, cl) = (
        t.need("instance")?,
        t.need("seed")?,
        t.need("rule")?,
        t.need("label")?,
    );
    let mut out: Vec<Instance> = Vec::new();
    t.for_each(|rec, _| {
        let inst = Instance {
            instance: cell(rec, ci, "instance")?.to_string(),
            seed: cell(rec, cs, "seed")?.to_string(),
            rule: cell(rec, cr, "rule")?.to_string(),
            label: cell(rec, cl, "label")?.to_string(),
        };
        if inst.instance.is_empty() {
            return Err("empty `instance`".into());
        }
        if out.iter().any(|i| i.instance == inst.instance) {
            return Err(format!("instance {:?} listed twice", inst.instance));
        }
        out.push(inst);
        Ok(())
    })?;
    t.finish(warnings);
    Ok(out)
}

fn read_metrics(
    path: &Path,
    instances: &[Instance],
    warnings: &mut Vec<String>,
) -> Result<Vec<MetricRow>, PlotError> {
    let mut t = Table::open(path, warnings)?;
    // Every column the recorder writes must be there: a renamed or missing one is an error
    // naming it, not a figure that silently lacks a curve.
    for name in METRICS_COLUMNS {
        t.need(name)?;
    }
    let (ct, ci, cp, cph) = (
        t.need("time_s")?,
        t.need("instance")?,
        t.need("projection")?,
        t.need("phase")?,
    );
    let metric_cols: Vec<(Metric, usize)> = Metric::ALL
        .iter()
        .map(|&m| t.need(m.column()).map(|c| (m, c)))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    let mut non_finite: Vec<&'static str> = Vec::new();
    t.for_each(|rec, _| {
        let instance = cell(rec, ci, "instance")?;
        if !instances.iter().any(|i| i.instance == instance) {
            return Err(format!("instance {instance:?} is not in instances.csv"));
        }
        let mut row = MetricRow::new(
            finite(rec, ct, "time_s")?,
            instance,
            cell(rec, cp, "projection")?,
        );
        row.phase = cell(rec, cph, "phase")?.to_string();
        for &(m, c) in &metric_cols {
            let v = number(rec, c, m.column())?;
            if v.is_nan() && !cell(rec, c, m.column())?.is_empty() {
                non_finite.push(m.column());
            }
            row.set(m, v);
        }
        out.push(row);
        Ok(())
    })?;
    for column in non_finite {
        t.note_non_finite(column);
    }
    t.finish(warnings);
    Ok(out)
}

fn read_traces(path: &Path, warnings: &mut Vec<String>) -> Result<Vec<TraceRow>, PlotError> {
    let mut t = Table::open(path, warnings)?;
    let (ct, ci, cs, cv) = (
        t.need("time_s")?,
        t.need("instance")?,
        t.need("signal")?,
        t.need("value")?,
    );
    let mut out = Vec::new();
    t.for_each(|rec, _| {
        out.push(TraceRow {
            time_s: finite(rec, ct, "time_s")?,
            instance: cell(rec, ci, "instance")?.to_string(),
            signal: cell(rec, cs, "signal")?.to_string(),
            value: number(rec, cv, "value")?,
        });
        Ok(())
    })?;
    t.finish(warnings);
    Ok(out)
}

fn read_weights(path: &Path, warnings: &mut Vec<String>) -> Result<Vec<WeightEntry>, PlotError> {
    let mut t = Table::open(path, warnings)?;
    let (cs, ci, cp, cr, cc, cv) = (
        t.need("stage")?,
        t.need("instance")?,
        t.need("projection")?,
        t.need("row")?,
        t.need("col")?,
        t.need("value")?,
    );
    let mut out = Vec::new();
    t.for_each(|rec, _| {
        let stage = match cell(rec, cs, "stage")? {
            "start" => Stage::Start,
            "end" => Stage::End,
            other => return Err(format!("`stage` must be start or end, not {other:?}")),
        };
        out.push(WeightEntry {
            stage,
            instance: cell(rec, ci, "instance")?.to_string(),
            projection: cell(rec, cp, "projection")?.to_string(),
            row: index(rec, cr, "row")?,
            col: index(rec, cc, "col")?,
            value: number(rec, cv, "value")?,
        });
        Ok(())
    })?;
    t.finish(warnings);
    Ok(out)
}

/// One sampled curve of `plasticity.csv` (rows grouped by time, instance, projection and
/// synapse, in file order).
#[derive(Debug, Clone, PartialEq)]
pub struct PlasticitySample {
    pub time_s: f64,
    pub instance: String,
    pub projection: String,
    pub synapse: (String, String),
    pub pre_rate: f64,
    /// (post rate, dW/dt) in file order.
    pub points: Vec<(f64, f64)>,
}

impl PlasticitySample {
    /// Where the curve turns from depression to potentiation (the run's own definition).
    pub fn threshold(&self) -> Option<f64> {
        let (z, f): (Vec<f64>, Vec<f64>) = self.points.iter().copied().unzip();
        crate::record::plasticity::crossing(&z, &f)
    }
}

/// `plasticity.csv` if the run recorded a plasticity curve (empty otherwise).
pub fn read_plasticity(
    run_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<PlasticitySample>, PlotError> {
    let path = run_dir.join("plasticity.csv");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut t = Table::open(&path, warnings)?;
    let (ct, ci, cp, cpost, cpre, cx, cz, cf) = (
        t.need("time_s")?,
        t.need("instance")?,
        t.need("projection")?,
        t.need("post")?,
        t.need("pre")?,
        t.need("pre_rate")?,
        t.need("post_rate")?,
        t.need("dw_dt")?,
    );
    let mut out: Vec<PlasticitySample> = Vec::new();
    t.for_each(|rec, _| {
        let time_s = finite(rec, ct, "time_s")?;
        let instance = cell(rec, ci, "instance")?;
        let projection = cell(rec, cp, "projection")?;
        let synapse = (cell(rec, cpost, "post")?, cell(rec, cpre, "pre")?);
        let point = (finite(rec, cz, "post_rate")?, number(rec, cf, "dw_dt")?);
        let same = out.last().is_some_and(|s| {
            s.time_s == time_s
                && s.instance == instance
                && s.projection == projection
                && s.synapse.0 == synapse.0
                && s.synapse.1 == synapse.1
        });
        if same {
            if let Some(s) = out.last_mut() {
                s.points.push(point);
            }
        } else {
            out.push(PlasticitySample {
                time_s,
                instance: instance.to_string(),
                projection: projection.to_string(),
                synapse: (synapse.0.to_string(), synapse.1.to_string()),
                pre_rate: number(rec, cx, "pre_rate")?,
                points: vec![point],
            });
        }
        Ok(())
    })?;
    t.finish(warnings);
    Ok(out)
}
