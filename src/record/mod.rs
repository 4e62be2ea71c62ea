//! Run directories: the manifest, the tidy tables, streamed to disk as the run goes.
//!
//! Rows are written and flushed every recording interval, so memory does not grow with
//! simulated time and an interrupted or failed run keeps everything written so far. The
//! manifest is written when the run starts (status `running`) and rewritten when it ends.

pub mod metrics;

use crate::backend::{Snapshot, TracePoint};
use crate::plan::Plan;
use metrics::{COLUMNS, Row};
use serde::Serialize;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot create the run directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Csv { path: PathBuf, source: csv::Error },
}

/// An instance that stopped because its state diverged.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Failure {
    pub instance: usize,
    pub seed: u64,
    pub label: String,
    pub time_s: f64,
    pub message: String,
}

/// What the manifest says about the run.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    pub hetsim_version: String,
    pub circuit: String,
    pub circuit_file: Option<String>,
    pub command: String,
    pub status: String,
    pub backend: String,
    pub device: String,
    pub precision: String,
    pub method: String,
    pub dt_s: f64,
    pub duration_s: f64,
    pub steps: u64,
    pub record_every_s: f64,
    pub measures: Vec<String>,
    pub instances: usize,
    pub seeds: Vec<u64>,
    pub rules: Vec<String>,
    pub started_unix_s: f64,
    pub ended_unix_s: Option<f64>,
    pub wall_s: Option<f64>,
    pub synapse_steps_per_s: Option<f64>,
    /// Peak resident memory of the process (Linux), for checking that memory stays flat.
    pub peak_rss_bytes: Option<u64>,
    pub notes: Vec<String>,
    pub failures: Vec<Failure>,
    /// Per distinct label, the explicit circuit it ran (YAML).
    pub circuits: std::collections::BTreeMap<String, String>,
    pub overrides: Vec<String>,
}

/// Peak resident set size of this process, from /proc (None elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub struct Recorder {
    dir: PathBuf,
    metrics: csv::Writer<BufWriter<File>>,
    traces: Option<csv::Writer<BufWriter<File>>>,
    pub manifest: Manifest,
}

impl Recorder {
    pub fn create(dir: &Path, plan: &Plan, manifest: Manifest) -> Result<Recorder, RecordError> {
        std::fs::create_dir_all(dir).map_err(|source| RecordError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let open = |name: &str| open_csv(&dir.join(name), false);
        let mut metrics = open("metrics.csv")?;
        let path = dir.join("metrics.csv");
        metrics
            .write_record(COLUMNS)
            .map_err(|source| RecordError::Csv {
                path: path.clone(),
                source,
            })?;
        let traces = if plan.trace_steps > 0 {
            let mut w = open("traces.csv")?;
            w.write_record(["time_s", "instance", "signal", "value"])
                .map_err(|source| RecordError::Csv {
                    path: dir.join("traces.csv"),
                    source,
                })?;
            Some(w)
        } else {
            None
        };
        write_instances(dir, plan)?;
        let rec = Recorder {
            dir: dir.to_path_buf(),
            metrics,
            traces,
            manifest,
        };
        rec.write_manifest()?;
        Ok(rec)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn write_rows(&mut self, rows: &[Row]) -> Result<(), RecordError> {
        let path = self.dir.join("metrics.csv");
        for row in rows {
            self.metrics
                .write_record(row.cells())
                .map_err(|source| RecordError::Csv {
                    path: path.clone(),
                    source,
                })?;
        }
        self.metrics
            .flush()
            .map_err(|source| RecordError::Write { path, source })
    }

    pub fn write_traces(&mut self, points: &[TracePoint]) -> Result<(), RecordError> {
        let Some(w) = &mut self.traces else {
            return Ok(());
        };
        let path = self.dir.join("traces.csv");
        for p in points {
            w.write_record([
                format!("{:.6}", p.time_s),
                "0".into(),
                p.signal.clone(),
                format!("{:.6e}", p.value),
            ])
            .map_err(|source| RecordError::Csv {
                path: path.clone(),
                source,
            })?;
        }
        w.flush()
            .map_err(|source| RecordError::Write { path, source })
    }

    pub fn write_manifest(&self) -> Result<(), RecordError> {
        let path = self.dir.join("manifest.json");
        let text = serde_json::to_string_pretty(&self.manifest).unwrap_or_default();
        // Write to a temporary file and rename, so a crash never leaves half a manifest.
        let tmp = self.dir.join(".manifest.json.tmp");
        std::fs::write(&tmp, text).map_err(|source| RecordError::Write {
            path: path.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| RecordError::Write { path, source })
    }

    /// Weight matrices of the first instance of each label, at `stage` (`start` or `end`),
    /// with `W − Bᵀ` for every feedback matrix that stands in for a forward one.
    pub fn write_weights(
        &self,
        plan: &Plan,
        snap: &Snapshot,
        stage: &str,
        append: bool,
    ) -> Result<(), RecordError> {
        const MAX_SYNAPSES: usize = 50_000;
        if plan.synapses_per_instance() > MAX_SYNAPSES {
            return Ok(());
        }
        let path = self.dir.join("weights.csv");
        let mut w = open_csv(&path, append)?;
        let err = |source| RecordError::Csv {
            path: path.clone(),
            source,
        };
        if !append {
            w.write_record(["stage", "instance", "projection", "row", "col", "value"])
                .map_err(err)?;
        }
        let mut seen = Vec::new();
        for (e, label) in plan.labels.iter().enumerate() {
            if seen.contains(label) {
                continue;
            }
            seen.push(label.clone());
            for (q, p) in plan.projections.iter().enumerate() {
                if p.sign[e] == 0.0 || !(p.motif.is_some() || p.stands_for.is_some()) {
                    continue;
                }
                let n = p.synapses();
                let m = &snap.weights[q][e * n..(e + 1) * n];
                for i in 0..p.rows {
                    for j in 0..p.cols {
                        w.write_record([
                            stage.to_string(),
                            e.to_string(),
                            p.name.clone(),
                            i.to_string(),
                            j.to_string(),
                            format!("{:.5e}", m[i * p.cols + j]),
                        ])
                        .map_err(err)?;
                    }
                }
                if let Some(f) = p.stands_for {
                    let fp = &plan.projections[f];
                    let wf = &snap.weights[f][e * fp.synapses()..(e + 1) * fp.synapses()];
                    let name = format!("{}-{}T", fp.name, p.name);
                    for i in 0..fp.rows {
                        for j in 0..fp.cols {
                            let diff = wf[i * fp.cols + j] - m[j * p.cols + i];
                            w.write_record([
                                stage.to_string(),
                                e.to_string(),
                                name.clone(),
                                i.to_string(),
                                j.to_string(),
                                format!("{diff:.5e}"),
                            ])
                            .map_err(err)?;
                        }
                    }
                }
            }
        }
        w.flush().map_err(|source| RecordError::Write {
            path: path.clone(),
            source,
        })
    }
}

/// A buffered CSV writer on `path`, created afresh or appended to.
fn open_csv(path: &Path, append: bool) -> Result<csv::Writer<BufWriter<File>>, RecordError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(|source| RecordError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(csv::Writer::from_writer(BufWriter::new(file)))
}

/// instances.csv: one row per instance with its seed, label and main parameters.
fn write_instances(dir: &Path, plan: &Plan) -> Result<(), RecordError> {
    let path = dir.join("instances.csv");
    let mut w = open_csv(&path, false)?;
    let err = |source| RecordError::Csv {
        path: path.clone(),
        source,
    };
    let mut header = vec![
        "instance".to_string(),
        "seed".into(),
        "rule".into(),
        "label".into(),
        "stimulus_s".into(),
        "gap_s".into(),
    ];
    for m in &plan.motifs {
        let name = &plan.projections[m.projection].name;
        header.push(format!("tau_w_s:{name}"));
        header.push(format!("tau_decay_s:{name}"));
    }
    w.write_record(&header).map_err(err)?;
    for e in 0..plan.n_instances() {
        let t = plan.timing[e];
        let mut row = vec![
            e.to_string(),
            plan.seeds[e].to_string(),
            plan.labels[e]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string(),
            plan.labels[e].clone(),
            format!("{}", t.present_steps as f64 * plan.dt_s),
            format!("{}", (t.period_steps - t.present_steps) as f64 * plan.dt_s),
        ];
        for m in &plan.motifs {
            row.push(format!("{}", m.tau_w_s[e]));
            row.push(if m.tau_decay_s[e].is_finite() {
                format!("{}", m.tau_decay_s[e])
            } else {
                String::new()
            });
        }
        w.write_record(&row).map_err(err)?;
    }
    w.flush()
        .map_err(|source| RecordError::Write { path, source })
}
