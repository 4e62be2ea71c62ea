//! Another run's saved weights at one time: its `weight_snapshots.csv` (every bit), or the
//! `start`/`end` of its `weights.csv` (six significant digits) where no snapshot is at that time.

use super::{MAX_WEIGHTS_BYTES, WeightSource, absolute, sha256_hex};
use crate::circuit::budget::Budget;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One source instance's matrix of one projection: entries (post, pre) → weight.
type Entries = BTreeMap<(usize, usize), f64>;

/// The weights a run saved at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct RunWeights {
    pub run_dir: PathBuf,
    pub manifest_sha256: String,
    pub time_s: f64,
    /// The table they were read from, its SHA-256, and whether it rounds (`weights.csv`).
    pub file: PathBuf,
    pub file_sha256: String,
    pub rounded: bool,
    matrices: BTreeMap<(usize, String), Entries>,
}

/// The times of a run's weight snapshots, in the order written.
fn snapshot_times(run_dir: &Path, budget: &Budget) -> Result<Vec<f64>, String> {
    let mut snapshots = Vec::new();
    let path = run_dir.join("weight_snapshots.csv");
    if path.exists() {
        let text = read_text(&path, budget)?.0;
        for line in text.lines().skip(1) {
            let t = line.split(',').next().unwrap_or("");
            if let Ok(t) = t.parse::<f64>()
                && snapshots.last() != Some(&t)
                && !snapshots.contains(&t)
            {
                snapshots.push(t);
            }
        }
    }
    Ok(snapshots)
}

/// Memory per byte of a run's weights table read back: the bytes, the text, and its weights
/// held by (post, pre) — a row of at least 12 bytes (`0,0,W,0,0,1` and its line end) takes
/// about 48 bytes in the maps, 4 per byte of the table.
const TABLE_MEMORY_PER_BYTE: f64 = 6.0;

fn read_text(path: &Path, budget: &Budget) -> Result<(String, String), String> {
    if let Ok(meta) = std::fs::metadata(path) {
        crate::circuit::budget::check_read(
            path,
            &format!("a table of {} bytes and the weights in it", meta.len()),
            meta.len() as f64 * TABLE_MEMORY_PER_BYTE,
            budget,
        )?;
    }
    let bytes = crate::spec::read_bounded(path, MAX_WEIGHTS_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .ok_or_else(|| format!("{} is larger than a weights table may be", path.display()))?;
    let sha = sha256_hex(&bytes);
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    Ok((text, sha))
}

/// Two times are the same when they differ by less than a nanosecond's rounding.
pub fn same_time(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn shown(times: &[f64]) -> String {
    times
        .iter()
        .map(|t| format!("{t} s"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl RunWeights {
    /// The weights the run in `run_dir` saved at `time_s` (None: the latest it saved).
    /// Snapshots (`weight_snapshots.csv`) come first; `weights.csv` gives the start (t = 0)
    /// and, once the run ended, its end, where no snapshot is at that time. Each table is
    /// checked against `budget` before it is read.
    pub fn read(
        run_dir: &Path,
        time_s: Option<f64>,
        budget: &Budget,
    ) -> Result<RunWeights, String> {
        let shown_dir = run_dir.display();
        let manifest_path = run_dir.join("manifest.json");
        let manifest_bytes = crate::spec::read_bounded(&manifest_path, 64 << 20)
            .map_err(|e| {
                format!(
                    "{shown_dir} is not a run directory ({}: {e})",
                    manifest_path.display()
                )
            })?
            .ok_or_else(|| format!("{}: larger than a manifest may be", manifest_path.display()))?;
        let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| format!("{}: not a run's manifest: {e}", manifest_path.display()))?;
        let manifest_sha256 = sha256_hex(&manifest_bytes);
        let snapshots = snapshot_times(run_dir, budget)?;
        // weights.csv: the start always, the end once the run finished.
        let ended = manifest["status"].as_str().is_some_and(|s| s != "running");
        let end = manifest["time_reached_s"].as_f64().filter(|_| ended);
        let mut available: Vec<f64> = snapshots.clone();
        let weights_csv = run_dir.join("weights.csv");
        let has_table = weights_csv.exists();
        if has_table {
            for t in std::iter::once(0.0).chain(end) {
                if !available.iter().any(|&s| same_time(s, t)) {
                    available.push(t);
                }
            }
        }
        available.sort_by(f64::total_cmp);
        if available.is_empty() {
            return Err(format!(
                "{shown_dir} saved no weights (no weight_snapshots.csv or weights.csv); record them with `record.weights` in its circuit"
            ));
        }
        let time = match time_s {
            None => *available.last().expect("not empty"),
            Some(t) => *available
                .iter()
                .find(|&&a| same_time(a, t))
                .ok_or_else(|| {
                    format!(
                        "{shown_dir} saved no weights at t = {t} s; it has them at {}",
                        shown(&available)
                    )
                })?,
        };
        let from_snapshots = snapshots.iter().any(|&s| same_time(s, time));
        let (file, stage) = if from_snapshots {
            (run_dir.join("weight_snapshots.csv"), None)
        } else if same_time(time, 0.0) {
            (weights_csv, Some("start"))
        } else {
            (weights_csv, Some("end"))
        };
        let (text, file_sha256) = read_text(&file, budget)?;
        let mut matrices: BTreeMap<(usize, String), Entries> = BTreeMap::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            let cells: Vec<&str> = line.split(',').collect();
            let bad = || {
                format!(
                    "{}: line {} is not a row of this table",
                    file.display(),
                    i + 1
                )
            };
            if cells.len() != 6 {
                return Err(bad());
            }
            let keep = match stage {
                None => cells[0].parse::<f64>().is_ok_and(|t| same_time(t, time)),
                Some(s) => cells[0] == s,
            };
            if !keep {
                continue;
            }
            let num = |k: usize| cells[k].parse::<usize>().map_err(|_| bad());
            let value: f64 = cells[5].parse().map_err(|_| bad())?;
            matrices
                .entry((num(1)?, cells[2].to_string()))
                .or_default()
                .insert((num(3)?, num(4)?), value);
        }
        Ok(RunWeights {
            run_dir: run_dir.to_path_buf(),
            manifest_sha256,
            time_s: time,
            file,
            file_sha256,
            rounded: stage.is_some(),
            matrices,
        })
    }

    /// Weights held in memory (a run's checkpoint, read back): per (instance, projection),
    /// its rows × cols matrix, row-major. `file` is what they were read from.
    pub fn from_matrices<'a>(
        run_dir: &Path,
        manifest_sha256: String,
        time_s: f64,
        (file, file_sha256): (PathBuf, String),
        matrices: impl IntoIterator<Item = (usize, &'a str, usize, &'a [f64])>,
    ) -> RunWeights {
        let matrices = matrices
            .into_iter()
            .map(|(e, name, cols, values)| {
                let entries = values
                    .iter()
                    .enumerate()
                    .map(|(k, v)| ((k / cols, k % cols), *v))
                    .collect();
                ((e, name.to_string()), entries)
            })
            .collect();
        RunWeights {
            run_dir: run_dir.to_path_buf(),
            manifest_sha256,
            time_s,
            file,
            file_sha256,
            rounded: false,
            matrices,
        }
    }

    /// The instances that have weights of `projection` here.
    pub fn instances_of(&self, projection: &str) -> Vec<usize> {
        self.matrices
            .keys()
            .filter(|(_, p)| p == projection)
            .map(|(e, _)| *e)
            .collect()
    }

    /// Instance `instance`'s matrix of `projection`, which must be rows × cols and whole.
    pub fn matrix(
        &self,
        instance: usize,
        projection: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Vec<f64>, String> {
        let at = format!(
            "{} at t = {} s ({})",
            self.run_dir.display(),
            self.time_s,
            self.file.display()
        );
        let Some(entries) = self.matrices.get(&(instance, projection.to_string())) else {
            let have = self.instances_of(projection);
            return Err(if have.is_empty() {
                let names: std::collections::BTreeSet<&str> =
                    self.matrices.keys().map(|(_, p)| p.as_str()).collect();
                format!(
                    "{at} has no weights of the projection `{projection}` (it has {}); a snapshot covers the projections `record.weights` lists",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names
                            .into_iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )
            } else {
                format!(
                    "{at} has `{projection}` for {} only, not for instance {instance}: instance k of this run starts from instance k of that one",
                    crate::text::count(have.len(), "instance")
                )
            });
        };
        let (src_rows, src_cols) = entries
            .keys()
            .fold((0, 0), |(r, c), &(i, j)| (r.max(i + 1), c.max(j + 1)));
        if (src_rows, src_cols) != (rows, cols) {
            return Err(format!(
                "{at}: `{projection}` is {src_rows} × {src_cols} there, {rows} × {cols} (post × pre) here"
            ));
        }
        if entries.len() != rows * cols {
            return Err(format!(
                "{at} has {} of the {} synapses of `{projection}` (its snapshot lists `synapses:`); starting from it needs them all",
                entries.len(),
                rows * cols
            ));
        }
        Ok(entries.values().copied().collect())
    }

    /// What the manifest records of these weights, for `projection`.
    pub fn source(&self, projection: &str) -> WeightSource {
        WeightSource {
            projection: projection.to_string(),
            file: absolute(&self.file),
            file_sha256: self.file_sha256.clone(),
            run_dir: Some(absolute(&self.run_dir)),
            manifest_sha256: Some(self.manifest_sha256.clone()),
            time_s: Some(self.time_s),
        }
    }
}
