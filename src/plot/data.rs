//! Reading a run directory into memory.
//!
//! The files are written by other code, so this layer is strict about what
//! it needs (the three required files, the key columns, numbers that parse)
//! and lenient about everything else (unknown JSON keys, extra CSV columns,
//! missing optional metric columns). Errors name the file and, for CSV rows,
//! the line, so a broken run can be fixed without a debugger.

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

/// One row of `metrics.csv`. Unmeasured cells (empty or `NaN`) are stored
/// as `NaN`: no figure distinguishes the two, and it keeps rows flat.
#[derive(Debug, Clone)]
pub struct MetricRow {
    pub time_s: f64,
    pub instance: String,
    pub projection: String,
    values: [f64; Metric::ALL.len()],
}

impl MetricRow {
    pub fn new(time_s: f64, instance: &str, projection: &str) -> MetricRow {
        MetricRow {
            time_s,
            instance: instance.to_string(),
            projection: projection.to_string(),
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
}

impl RunData {
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
    let instances = read_instances(&instances_path)?;
    let metrics = read_metrics(&metrics_path, &instances)?;

    let traces_path = run_dir.join("traces.csv");
    let traces = if traces_path.is_file() {
        read_traces(&traces_path)?
    } else {
        Vec::new()
    };
    let weights_path = run_dir.join("weights.csv");
    let weights = if weights_path.is_file() {
        read_weights(&weights_path)?
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
    reader: csv::Reader<fs::File>,
    columns: HashMap<String, usize>,
}

impl Table {
    fn open(path: &Path) -> Result<Table, PlotError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(|e| csv_error(path, e))?;
        let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
        let columns = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.to_string(), i))
            .collect();
        Ok(Table {
            path: path.to_path_buf(),
            reader,
            columns,
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
                reason: format!("header has no `{name}` column"),
            })
    }

    /// Calls `f` with each record and its 1-based line number.
    fn for_each(
        &mut self,
        mut f: impl FnMut(&csv::StringRecord, u64) -> Result<(), String>,
    ) -> Result<(), PlotError> {
        let mut record = csv::StringRecord::new();
        loop {
            match self.reader.read_record(&mut record) {
                Ok(false) => return Ok(()),
                Ok(true) => {
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

fn read_instances(path: &Path) -> Result<Vec<Instance>, PlotError> {
    let mut t = Table::open(path)?;
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
    Ok(out)
}

fn read_metrics(path: &Path, instances: &[Instance]) -> Result<Vec<MetricRow>, PlotError> {
    let mut t = Table::open(path)?;
    let (ct, ci, cp) = (
        t.need("time_s")?,
        t.need("instance")?,
        t.need("projection")?,
    );
    // A writer that does not measure something may leave its column out.
    let metric_cols: Vec<(Metric, usize)> = Metric::ALL
        .iter()
        .filter_map(|&m| t.columns.get(m.column()).map(|&c| (m, c)))
        .collect();
    let mut out = Vec::new();
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
        for &(m, c) in &metric_cols {
            row.set(m, number(rec, c, m.column())?);
        }
        out.push(row);
        Ok(())
    })?;
    Ok(out)
}

fn read_traces(path: &Path) -> Result<Vec<TraceRow>, PlotError> {
    let mut t = Table::open(path)?;
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
    Ok(out)
}

fn read_weights(path: &Path) -> Result<Vec<WeightEntry>, PlotError> {
    let mut t = Table::open(path)?;
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
    Ok(out)
}
