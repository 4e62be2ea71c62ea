//! Where a run's results go: the [`Sink`] trait, the run directory that streams them to disk
//! ([`Recorder`]), and an in-memory collector ([`Collector`]) for evolution and tests.
//!
//! The run loop hands every sink the same rows, defined once (`metrics::Row`, the tables of
//! `tables`). The recorder writes every recording interval's rows with one call (cut back to
//! the last whole rows if the write fails part-way), so memory does not
//! grow with simulated time and an interrupted or failed run keeps everything written so far.
//! The manifest is written when the run starts (status `running`) and rewritten, whole, by a
//! rename, whenever its status changes.

pub mod atomic;
pub mod checkpoint;
pub mod manifest;
pub mod memory;
pub mod metrics;
pub mod plasticity;
pub mod probes;
pub mod tables;

use crate::backend::TracePoint;
use crate::plan::Plan;
pub use manifest::{Failure, Manifest, Status, peak_rss_bytes, unix_now};
pub use memory::Collector;
use metrics::{COLUMNS, Row};
use probes::{PROBE_COLUMNS, ProbeRow, SNAPSHOT_COLUMNS, SnapshotRow};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use tables::{Table, WEIGHT_COLUMNS, WeightRow};

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

/// How a run ended, as the run loop reports it to its sinks.
#[derive(Clone, Debug, PartialEq)]
pub struct Ending {
    pub status: Status,
    pub reason: Option<String>,
    pub time_reached_s: f64,
    pub failures: Vec<Failure>,
    pub wall_s: f64,
    pub synapse_steps_per_s: f64,
}

/// Receives a run's results as the run loop produces them. Every method may fail (a full
/// disk); the run then stops with that error and what was already written stays.
pub trait Sink {
    /// `instances.csv`, once, before any row.
    fn instances(&mut self, table: &Table) -> Result<(), RecordError>;
    /// Rows of `metrics.csv`, one recording window (or the initial row) at a time.
    fn rows(&mut self, rows: &[Row]) -> Result<(), RecordError>;
    // The tables below default to being ignored, for sinks that keep statistics only (the
    // summary, a sweep's per-instance statistics); the recorder, the collector and `Tee` take
    // them all.
    /// Samples of activity traces.
    fn traces(&mut self, _points: &[TracePoint]) -> Result<(), RecordError> {
        Ok(())
    }
    /// A weight snapshot (start or end).
    fn weights(&mut self, _rows: &[WeightRow]) -> Result<(), RecordError> {
        Ok(())
    }
    /// Rows of `probes.csv`, one sampling time at a time.
    fn probes(&mut self, _rows: &[ProbeRow]) -> Result<(), RecordError> {
        Ok(())
    }
    /// Rows of `weight_snapshots.csv`, one sampling time at a time.
    fn weight_snapshots(&mut self, _rows: &[SnapshotRow]) -> Result<(), RecordError> {
        Ok(())
    }
    /// A line for the run's notes, found while it runs (a forward pathway with loops without a
    /// fixed point). Each kind is recorded once: a note is dropped where one with the same words
    /// before its first " (" is there already. Sinks without notes ignore it.
    fn note(&mut self, _note: &str) -> Result<(), RecordError> {
        Ok(())
    }
    /// The instances that diverged so far (called when the list grows).
    fn failures(&mut self, failures: &[Failure]) -> Result<(), RecordError>;
    /// The end of the run, whichever way it ended.
    fn finish(&mut self, ending: &Ending) -> Result<(), RecordError>;
    /// Sampled plasticity curves (only circuits that ask for them; most sinks ignore them).
    fn plasticity(&mut self, _curves: &[plasticity::Curve]) -> Result<(), RecordError> {
        Ok(())
    }
    /// At a checkpoint: makes everything received so far durable and says what a resumed run
    /// needs to continue this sink (the recorder: each table's length; the summary: its sums).
    /// Sinks that cannot resume say nothing.
    fn checkpoint(&mut self) -> Result<serde_json::Value, RecordError> {
        Ok(serde_json::Value::Null)
    }
}

/// Adds `note` to `notes` unless one of its kind is there (the same words before the first
/// " ("); whether it was added.
pub fn push_note(notes: &mut Vec<String>, note: &str) -> bool {
    let kind = |n: &str| n.split(" (").next().unwrap_or_default().to_string();
    if notes.iter().any(|n| kind(n) == kind(note)) {
        return false;
    }
    notes.push(note.to_string());
    true
}

/// Sends everything to two sinks (e.g. the run directory and the summary statistics).
pub struct Tee<'a> {
    pub first: &'a mut dyn Sink,
    pub second: &'a mut dyn Sink,
}

impl Sink for Tee<'_> {
    fn instances(&mut self, table: &Table) -> Result<(), RecordError> {
        self.first.instances(table)?;
        self.second.instances(table)
    }
    fn rows(&mut self, rows: &[Row]) -> Result<(), RecordError> {
        self.first.rows(rows)?;
        self.second.rows(rows)
    }
    fn note(&mut self, note: &str) -> Result<(), RecordError> {
        self.first.note(note)?;
        self.second.note(note)
    }
    fn traces(&mut self, points: &[TracePoint]) -> Result<(), RecordError> {
        self.first.traces(points)?;
        self.second.traces(points)
    }
    fn weights(&mut self, rows: &[WeightRow]) -> Result<(), RecordError> {
        self.first.weights(rows)?;
        self.second.weights(rows)
    }
    fn probes(&mut self, rows: &[ProbeRow]) -> Result<(), RecordError> {
        self.first.probes(rows)?;
        self.second.probes(rows)
    }
    fn weight_snapshots(&mut self, rows: &[SnapshotRow]) -> Result<(), RecordError> {
        self.first.weight_snapshots(rows)?;
        self.second.weight_snapshots(rows)
    }
    fn failures(&mut self, failures: &[Failure]) -> Result<(), RecordError> {
        self.first.failures(failures)?;
        self.second.failures(failures)
    }
    fn plasticity(&mut self, curves: &[plasticity::Curve]) -> Result<(), RecordError> {
        self.first.plasticity(curves)?;
        self.second.plasticity(curves)
    }
    fn checkpoint(&mut self) -> Result<serde_json::Value, RecordError> {
        Ok(serde_json::json!({
            "first": self.first.checkpoint()?,
            "second": self.second.checkpoint()?,
        }))
    }
    fn finish(&mut self, ending: &Ending) -> Result<(), RecordError> {
        // The second sink hears the ending even when the first could not record it.
        let a = self.first.finish(ending);
        let b = self.second.finish(ending);
        a.and(b)
    }
}

/// One table of the run directory, appended a batch of whole rows at a time: the rows are
/// formatted in memory and written with one call, and a write that fails part-way (a full disk)
/// is cut back to the last whole batch, so the file never ends in half a row.
struct TableFile {
    path: PathBuf,
    file: File,
    /// Length of the file after the last batch that was written whole.
    whole_len: u64,
}

impl TableFile {
    fn create(path: &Path) -> Result<TableFile, RecordError> {
        let file = File::create(path).map_err(|source| RecordError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(TableFile {
            path: path.to_path_buf(),
            file,
            whole_len: 0,
        })
    }

    /// Opens a table a checkpoint recorded at `len` bytes, cut back to that length: rows
    /// written after the checkpoint go, those before stay untouched.
    fn reopen(path: &Path, len: u64) -> Result<TableFile, RecordError> {
        let failed = |source| RecordError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(failed)?;
        let now = file.metadata().map_err(failed)?.len();
        if now < len {
            return Err(failed(std::io::Error::other(format!(
                "it holds {now} bytes, fewer than the {len} the checkpoint recorded"
            ))));
        }
        file.set_len(len).map_err(failed)?;
        use std::io::Seek;
        file.seek(std::io::SeekFrom::End(0)).map_err(failed)?;
        Ok(TableFile {
            path: path.to_path_buf(),
            file,
            whole_len: len,
        })
    }

    /// Makes the rows written so far durable.
    fn sync(&mut self) -> Result<u64, RecordError> {
        self.file.sync_data().map_err(|source| RecordError::Write {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.whole_len)
    }

    /// Appends `rows` (each a record of cells) as one batch.
    fn append<R, C>(&mut self, rows: impl IntoIterator<Item = R>) -> Result<(), RecordError>
    where
        R: IntoIterator<Item = C>,
        C: AsRef<[u8]>,
    {
        let mut batch = csv::Writer::from_writer(Vec::new());
        for row in rows {
            batch.write_record(row).map_err(|source| RecordError::Csv {
                path: self.path.clone(),
                source,
            })?;
        }
        let bytes = batch.into_inner().map_err(|e| RecordError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        if bytes.is_empty() {
            return Ok(());
        }
        match self.file.write_all(&bytes) {
            Ok(()) => {
                self.whole_len += bytes.len() as u64;
                Ok(())
            }
            Err(source) => {
                // Best effort: drop the part of the batch that did get written.
                let _ = self.file.set_len(self.whole_len);
                Err(RecordError::Write {
                    path: self.path.clone(),
                    source,
                })
            }
        }
    }
}

/// A run directory: `manifest.json`, `instances.csv`, `metrics.csv`, and where recorded
/// `traces.csv`, `weights.csv`, the plasticity curve's two tables, `probes.csv` and
/// `weight_snapshots.csv`.
pub struct Recorder {
    dir: PathBuf,
    metrics: TableFile,
    traces: Option<TableFile>,
    weights: Option<TableFile>,
    probes: Option<TableFile>,
    weight_snapshots: Option<TableFile>,
    /// `plasticity.csv` and `plasticity_threshold.csv`, created with the first curve.
    plasticity: Option<(TableFile, TableFile)>,
    pub manifest: Manifest,
}

impl Recorder {
    /// Creates the directory's files (the directory may exist; the caller decides whether an
    /// existing one may be used) and writes the manifest with status `running`.
    pub fn create(dir: &Path, plan: &Plan, manifest: Manifest) -> Result<Recorder, RecordError> {
        std::fs::create_dir_all(dir).map_err(|source| RecordError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut metrics = TableFile::create(&dir.join("metrics.csv"))?;
        metrics.append([COLUMNS])?;
        let traces = if plan.trace_steps > 0 {
            let mut w = TableFile::create(&dir.join("traces.csv"))?;
            w.append([["time_s", "instance", "signal", "value"]])?;
            Some(w)
        } else {
            None
        };
        // The probe tables exist, with their header, whenever the circuit asks for them.
        let table = |wanted: bool, name: &str, header: [&str; 6]| -> Result<_, RecordError> {
            if !wanted {
                return Ok(None);
            }
            let mut w = TableFile::create(&dir.join(name))?;
            w.append([header])?;
            Ok(Some(w))
        };
        let probes = table(!plan.probes.probes.is_empty(), "probes.csv", PROBE_COLUMNS)?;
        let weight_snapshots = table(
            plan.probes.snapshots.is_some(),
            "weight_snapshots.csv",
            SNAPSHOT_COLUMNS,
        )?;
        let rec = Recorder {
            dir: dir.to_path_buf(),
            metrics,
            traces,
            weights: None,
            probes,
            weight_snapshots,
            plasticity: None,
            manifest,
        };
        rec.write_manifest()?;
        Ok(rec)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The recorder of a run resumed from a checkpoint: every table the checkpoint recorded
    /// (`tables`, as [`Sink::checkpoint`] returned it) is cut back to its recorded length and
    /// appended to; a table created after the checkpoint is removed, to be written again.
    pub fn resume(
        dir: &Path,
        manifest: Manifest,
        tables: &serde_json::Value,
    ) -> Result<Recorder, RecordError> {
        let open = |name: &str| -> Result<Option<TableFile>, RecordError> {
            let path = dir.join(name);
            match tables.get(name).and_then(|v| v.as_u64()) {
                Some(len) => TableFile::reopen(&path, len).map(Some),
                None => match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(RecordError::Write { path, source: e })
                    }
                    _ => Ok(None),
                },
            }
        };
        let metrics = open("metrics.csv")?.ok_or_else(|| RecordError::Write {
            path: dir.join("metrics.csv"),
            source: std::io::Error::other("the checkpoint records no length for it"),
        })?;
        let plasticity = match (open("plasticity.csv")?, open("plasticity_threshold.csv")?) {
            (Some(c), Some(t)) => Some((c, t)),
            _ => None,
        };
        let rec = Recorder {
            dir: dir.to_path_buf(),
            metrics,
            traces: open("traces.csv")?,
            weights: open("weights.csv")?,
            probes: open("probes.csv")?,
            weight_snapshots: open("weight_snapshots.csv")?,
            plasticity,
            manifest,
        };
        rec.write_manifest()?;
        Ok(rec)
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
}

impl Sink for Recorder {
    fn instances(&mut self, table: &Table) -> Result<(), RecordError> {
        let mut w = TableFile::create(&self.dir.join("instances.csv"))?;
        w.append(std::iter::once(&table.header).chain(&table.rows))
    }

    fn rows(&mut self, rows: &[Row]) -> Result<(), RecordError> {
        self.metrics.append(rows.iter().map(Row::cells))
    }

    fn traces(&mut self, points: &[TracePoint]) -> Result<(), RecordError> {
        let Some(w) = &mut self.traces else {
            return Ok(());
        };
        w.append(points.iter().map(|p| {
            [
                format!("{:.6}", p.time_s),
                "0".into(),
                p.signal.clone(),
                format!("{:.6e}", p.value),
            ]
        }))
    }

    fn weights(&mut self, rows: &[WeightRow]) -> Result<(), RecordError> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.weights.is_none() {
            let mut w = TableFile::create(&self.dir.join("weights.csv"))?;
            w.append([WEIGHT_COLUMNS])?;
            self.weights = Some(w);
        }
        let Some(w) = &mut self.weights else {
            return Ok(());
        };
        w.append(rows.iter().map(WeightRow::cells))
    }

    fn probes(&mut self, rows: &[ProbeRow]) -> Result<(), RecordError> {
        match &mut self.probes {
            Some(w) => w.append(rows.iter().map(ProbeRow::cells)),
            None => Ok(()),
        }
    }

    fn weight_snapshots(&mut self, rows: &[SnapshotRow]) -> Result<(), RecordError> {
        match &mut self.weight_snapshots {
            Some(w) => w.append(rows.iter().map(SnapshotRow::cells)),
            None => Ok(()),
        }
    }

    fn plasticity(&mut self, curves: &[plasticity::Curve]) -> Result<(), RecordError> {
        if curves.is_empty() {
            return Ok(());
        }
        if self.plasticity.is_none() {
            let mut c = TableFile::create(&self.dir.join("plasticity.csv"))?;
            c.append([plasticity::CURVE_COLUMNS])?;
            let mut t = TableFile::create(&self.dir.join("plasticity_threshold.csv"))?;
            t.append([plasticity::THRESHOLD_COLUMNS])?;
            self.plasticity = Some((c, t));
        }
        let Some((c, t)) = &mut self.plasticity else {
            return Ok(());
        };
        let head = |k: &plasticity::Curve| {
            [
                format!("{:.6}", k.time_s),
                k.instance.to_string(),
                k.projection.clone(),
                k.post.to_string(),
                k.pre.to_string(),
            ]
        };
        c.append(curves.iter().flat_map(|k| {
            k.post_rates.iter().zip(&k.dw_dt).map(move |(z, f)| {
                let mut row = head(k).to_vec();
                row.extend([
                    format!("{:.6e}", k.pre_rate),
                    format!("{z:.6e}"),
                    format!("{f:.6e}"),
                ]);
                row
            })
        }))?;
        t.append(curves.iter().map(|k| {
            let mut row = head(k).to_vec();
            row.push(
                k.threshold()
                    .map(|v| format!("{v:.6e}"))
                    .unwrap_or_default(),
            );
            row
        }))
    }

    fn failures(&mut self, failures: &[Failure]) -> Result<(), RecordError> {
        self.manifest.failures = failures.to_vec();
        self.write_manifest()
    }

    fn note(&mut self, note: &str) -> Result<(), RecordError> {
        if push_note(&mut self.manifest.notes, note) {
            self.write_manifest()?;
        }
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<serde_json::Value, RecordError> {
        let mut lengths = serde_json::Map::new();
        let mut put = |name: &str, t: Option<&mut TableFile>| -> Result<(), RecordError> {
            if let Some(t) = t {
                lengths.insert(name.into(), t.sync()?.into());
            }
            Ok(())
        };
        put("metrics.csv", Some(&mut self.metrics))?;
        put("traces.csv", self.traces.as_mut())?;
        put("weights.csv", self.weights.as_mut())?;
        put("probes.csv", self.probes.as_mut())?;
        put("weight_snapshots.csv", self.weight_snapshots.as_mut())?;
        if let Some((c, t)) = &mut self.plasticity {
            put("plasticity.csv", Some(c))?;
            put("plasticity_threshold.csv", Some(t))?;
        }
        Ok(lengths.into())
    }

    fn finish(&mut self, ending: &Ending) -> Result<(), RecordError> {
        let m = &mut self.manifest;
        m.status = ending.status;
        m.status_reason = ending.reason.clone();
        m.time_reached_s = Some(ending.time_reached_s);
        m.failures = ending.failures.clone();
        m.ended_unix_s = Some(unix_now());
        m.wall_s = Some(ending.wall_s);
        m.synapse_steps_per_s = Some(ending.synapse_steps_per_s);
        m.peak_rss_bytes = peak_rss_bytes();
        self.write_manifest()
    }
}
