//! Saved weights read back: a matrix from a file (`init: {file: …}`: a numbers-only `.csv` or
//! a 2-D `.npy`), and the weights another run saved (`init: {from: …}`, `hetsim run --from`):
//! its `weight_snapshots.csv` (full precision, the times `record.weights` asked for) and the
//! `start`/`end` matrices of its `weights.csv` (six significant digits, the first instance of
//! each label) where no snapshot covers that time. Each read says where it came from
//! ([`WeightSource`]), with the SHA-256 of what it read, so the manifest can record it and a
//! rerun can refuse when it changed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The largest weights file read (a run's `weight_snapshots.csv` included).
pub const MAX_WEIGHTS_BYTES: u64 = 1 << 30;

/// Where a projection's initial weights were read from, as the manifest records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightSource {
    /// The projection that starts from these weights.
    pub projection: String,
    /// The file read (a matrix file, or the run's `weight_snapshots.csv` or `weights.csv`).
    pub file: String,
    pub file_sha256: String,
    /// For another run's weights: its directory, its `manifest.json`'s SHA-256 and the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_s: Option<f64>,
}

impl WeightSource {
    /// Why a replay would not read the same weights now (None: it would).
    pub fn changed(&self) -> Option<String> {
        let hash = |path: &Path| -> Result<String, String> {
            crate::spec::read_bounded(path, MAX_WEIGHTS_BYTES)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .map(|b| sha256_hex(&b))
                .ok_or_else(|| format!("{}: larger than a weights file may be", path.display()))
        };
        let check = |path: &Path, then: &str| match hash(path) {
            Err(e) => Some(format!(
                "the initial weights of `{}` came from {}, which cannot be read now ({e})",
                self.projection,
                path.display()
            )),
            Ok(now) if now != then => Some(format!(
                "the initial weights of `{}` came from {}, which has changed since (SHA-256 {then} then, {now} now)",
                self.projection,
                path.display()
            )),
            Ok(_) => None,
        };
        if let (Some(dir), Some(then)) = (&self.run_dir, &self.manifest_sha256)
            && let Some(why) = check(&Path::new(dir).join("manifest.json"), then)
        {
            return Some(why);
        }
        check(Path::new(&self.file), &self.file_sha256)
    }
}

/// A matrix read from a file, rows × cols (post × pre), row-major.
pub fn read_matrix_file(path: &Path) -> Result<(usize, usize, Vec<f64>, String), String> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !matches!(ext, "csv" | "npy") {
        return Err(format!(
            "{}: a weights file is read by its extension, `.csv` or `.npy`, not `{ext}`",
            path.display()
        ));
    }
    let bytes = crate::spec::read_bounded(path, MAX_WEIGHTS_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .ok_or_else(|| {
            format!(
                "{} is larger than {MAX_WEIGHTS_BYTES} bytes, more than a weights file may be",
                path.display()
            )
        })?;
    let sha = sha256_hex(&bytes);
    let (rows, cols, values) = match ext {
        "npy" => read_npy(&bytes),
        _ => read_csv_matrix(&bytes),
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(k) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "{}: the weight at row {}, column {} is {}, not a finite number",
            path.display(),
            k / cols.max(1),
            k % cols.max(1),
            values[k]
        ));
    }
    Ok((rows, cols, values, sha))
}

/// A numbers-only CSV: one line per row (post unit), the same count of numbers on each.
fn read_csv_matrix(bytes: &[u8]) -> Result<(usize, usize, Vec<f64>), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let mut values = Vec::new();
    let mut cols = None;
    let mut rows = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        for (j, cell) in cells.iter().enumerate() {
            let v: f64 = cell.parse().map_err(|_| {
                let hint = if i == 0 {
                    " (a weights CSV has no header: one line of numbers per postsynaptic unit; a run's tables are read with `init: {from: RUN_DIR}`)"
                } else {
                    ""
                };
                format!("line {}, column {}: `{cell}` is not a number{hint}", i + 1, j + 1)
            })?;
            values.push(v);
        }
        match cols {
            None => cols = Some(cells.len()),
            Some(c) if c != cells.len() => {
                return Err(format!(
                    "line {} has {} numbers, the lines before it {c}: a matrix has the same count on every line",
                    i + 1,
                    cells.len()
                ));
            }
            _ => {}
        }
        rows += 1;
    }
    let cols = cols.ok_or_else(|| "no numbers in the file".to_string())?;
    Ok((rows, cols, values))
}

/// A `.npy` array: 2-D, little-endian f64 or f32, C order (what `numpy.save` writes for a
/// float matrix); anything else is refused, naming what it is.
fn read_npy(bytes: &[u8]) -> Result<(usize, usize, Vec<f64>), String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (it does not start with \\x93NUMPY)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => {
            return Err(format!(
                ".npy format version {v} is not one this reader knows (1–3)"
            ));
        }
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("the .npy header is cut short")?;
    let header = std::str::from_utf8(header).map_err(|_| "the .npy header is not text")?;
    let field = |key: &str| -> Result<&str, String> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!("the .npy header has no '{key}'"))?;
        let rest = &header[at + key.len() + 2..];
        let rest = rest
            .trim_start()
            .strip_prefix(':')
            .ok_or("malformed .npy header")?;
        Ok(rest.trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("malformed 'descr' in the .npy header")?;
    let width = match descr {
        "<f8" => 8,
        "<f4" => 4,
        other => {
            return Err(format!(
                "the array's type is `{other}`; weights are read from little-endian float64 (`<f8`) or float32 (`<f4`) arrays"
            ));
        }
    };
    if !field("fortran_order")?.starts_with("False") {
        return Err(
            "the array is in Fortran order; save it in C order (`numpy.ascontiguousarray`)".into(),
        );
    }
    let shape = field("shape")?;
    let shape = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("malformed 'shape' in the .npy header")?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("malformed shape ({shape})")))
        .collect::<Result<_, String>>()?;
    let [rows, cols] = dims[..] else {
        return Err(format!(
            "the array has {} dimensions (shape ({shape})); a weight matrix has 2, post × pre",
            dims.len()
        ));
    };
    let data = &bytes[start + header_len..];
    let n = rows.checked_mul(cols).ok_or("the shape is too large")?;
    if data.len() != n * width {
        return Err(format!(
            "the array should hold {n} numbers of {width} bytes ({rows} × {cols}), but the file has {} bytes of data",
            data.len()
        ));
    }
    let values = data
        .chunks_exact(width)
        .map(|c| match width {
            8 => f64::from_le_bytes(c.try_into().expect("8 bytes")),
            _ => f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64,
        })
        .collect();
    Ok((rows, cols, values))
}

/// Writes a 2-D f64 `.npy` file (little-endian, C order): for tests and users' scripts.
pub fn write_npy(path: &Path, rows: usize, cols: usize, values: &[f64]) -> std::io::Result<()> {
    let mut header =
        format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic, version and length take 10 bytes; the header ends with a newline at a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in values {
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(path, bytes)
}

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
fn snapshot_times(run_dir: &Path) -> Result<Vec<f64>, String> {
    let mut snapshots = Vec::new();
    let path = run_dir.join("weight_snapshots.csv");
    if path.exists() {
        let text = read_text(&path)?.0;
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

fn read_text(path: &Path) -> Result<(String, String), String> {
    let bytes = crate::spec::read_bounded(path, MAX_WEIGHTS_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .ok_or_else(|| format!("{} is larger than a weights table may be", path.display()))?;
    let sha = sha256_hex(&bytes);
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    Ok((text, sha))
}

/// Two times are the same when they differ by less than a nanosecond's rounding.
fn same_time(a: f64, b: f64) -> bool {
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
    /// and, once the run ended, its end, where no snapshot is at that time.
    pub fn read(run_dir: &Path, time_s: Option<f64>) -> Result<RunWeights, String> {
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
        let snapshots = snapshot_times(run_dir)?;
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
        let (text, file_sha256) = read_text(&file)?;
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

/// A projection's initial weights read from saved ones (`init: {file}`, `init: {from}`,
/// `hetsim run --from`), with where they came from.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedInit {
    pub matrices: SavedMatrices,
    pub source: WeightSource,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SavedMatrices {
    /// One matrix for every instance (a file).
    Shared(Vec<f64>),
    /// Per instance of the run they came from: instance k starts from its instance k.
    PerInstance(BTreeMap<usize, Vec<f64>>),
}

impl SavedInit {
    /// A matrix file as the initial weights of `projection` (rows × cols, post × pre).
    pub fn from_file(
        path: &Path,
        projection: &str,
        rows: usize,
        cols: usize,
    ) -> Result<SavedInit, String> {
        let (r, c, values, sha) = read_matrix_file(path)?;
        if (r, c) != (rows, cols) {
            return Err(format!(
                "{} holds a {r} × {c} matrix; `{projection}` is {rows} × {cols} (post × pre)",
                path.display()
            ));
        }
        Ok(SavedInit {
            matrices: SavedMatrices::Shared(values),
            source: WeightSource {
                projection: projection.to_string(),
                file: absolute(path),
                file_sha256: sha,
                run_dir: None,
                manifest_sha256: None,
                time_s: None,
            },
        })
    }

    /// Another run's weights of `projection` (every instance it saved), rows × cols.
    pub fn from_run(
        run: &RunWeights,
        projection: &str,
        rows: usize,
        cols: usize,
    ) -> Result<SavedInit, String> {
        let instances = run.instances_of(projection);
        if instances.is_empty() {
            // Says what the run has instead.
            run.matrix(0, projection, rows, cols)?;
        }
        let mut matrices = BTreeMap::new();
        for e in instances {
            matrices.insert(e, run.matrix(e, projection, rows, cols)?);
        }
        Ok(SavedInit {
            matrices: SavedMatrices::PerInstance(matrices),
            source: run.source(projection),
        })
    }

    /// The matrix instance `k` of a circuit starts from (k counts the instances of that
    /// circuit: the seeds of a run, each rule's seeds in a comparison).
    pub fn for_instance(&self, k: usize) -> Result<&[f64], String> {
        match &self.matrices {
            SavedMatrices::Shared(m) => Ok(m),
            SavedMatrices::PerInstance(by) => by.get(&k).map(Vec::as_slice).ok_or_else(|| {
                let place = match (&self.source.run_dir, self.source.time_s) {
                    (Some(d), Some(t)) => format!("{d} at t = {t} s"),
                    _ => self.source.file.clone(),
                };
                format!(
                    "the initial weights of `{}` come from {place}, which has them for {} ({}); instance {k} starts from that run's instance {k}: run fewer seeds, or record more instances there (`record.weights: {{instances: all}}`)",
                    self.source.projection,
                    crate::text::count(by.len(), "instance"),
                    by.keys().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
                )
            }),
        }
    }
}

/// A run directory and a time's bits (None: the latest), as [`Reader`] keys what it read.
type RunKey = (PathBuf, Option<u64>);

/// Reads the saved weights a circuit's projections start from, each run's table once.
#[derive(Default)]
pub struct Reader {
    runs: Vec<(RunKey, std::rc::Rc<RunWeights>)>,
}

impl Reader {
    /// The saved weights `init` names (`{file}` or `{from}`) for `projection`, of `shape`
    /// (post × pre); paths are relative to `base_dir`, the circuit file's folder.
    pub fn init(
        &mut self,
        base_dir: &Path,
        projection: &str,
        init: &crate::spec::Init,
        (rows, cols): (usize, usize),
    ) -> Result<SavedInit, String> {
        use crate::spec::Init;
        match init {
            Init::File(path) => SavedInit::from_file(&base_dir.join(path), projection, rows, cols),
            Init::From { run, time } => {
                let dir = base_dir.join(run);
                let seconds = time.map(|t| t.seconds());
                let key = (dir.clone(), seconds.map(f64::to_bits));
                let weights = match self.runs.iter().find(|(k, _)| *k == key) {
                    Some((_, w)) => w.clone(),
                    None => {
                        let w = std::rc::Rc::new(RunWeights::read(&dir, seconds)?);
                        self.runs.push((key, w.clone()));
                        w
                    }
                };
                SavedInit::from_run(&weights, projection, rows, cols)
            }
            _ => Err(format!("`{projection}`'s init is drawn, not saved")),
        }
    }
}

/// A path as the manifest records it: absolute, so a rerun from elsewhere finds it.
pub fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// SHA-256 of `bytes` in hex (as the manifest writes every hash).
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips_and_refuses_other_arrays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.npy");
        let values = [0.1, -2.5, 1e-300, 3.0, 4.25, -0.0];
        write_npy(&path, 2, 3, &values).unwrap();
        let (r, c, v, _) = read_matrix_file(&path).unwrap();
        assert_eq!((r, c), (2, 3));
        assert_eq!(
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            values.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        // A 1-D array, Fortran order and an integer type are refused by name.
        let mut bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes[10..]).to_string();
        let at = text.find("(2, 3)").unwrap() + 10;
        bytes[at..at + 6].copy_from_slice(b"(6,)  ");
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            read_matrix_file(&path)
                .unwrap_err()
                .contains("1 dimensions")
        );
        write_npy(&path, 2, 3, &values).unwrap();
        let original = std::fs::read(&path).unwrap();
        for (from, to, says) in [("'<f8'", "'<i8'", "<i8"), ("False", "True ", "Fortran")] {
            let mut b = original.clone();
            let pos = b
                .windows(from.len())
                .position(|w| w == from.as_bytes())
                .unwrap();
            b[pos..pos + to.len()].copy_from_slice(to.as_bytes());
            std::fs::write(&path, &b).unwrap();
            let err = read_matrix_file(&path).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn csv_matrices_read_exactly_and_ragged_lines_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.csv");
        std::fs::write(&path, "0.1,-0.2\n3e-5, 4\n5,6\n").unwrap();
        let (r, c, v, _) = read_matrix_file(&path).unwrap();
        assert_eq!((r, c, v), (3, 2, vec![0.1, -0.2, 3e-5, 4.0, 5.0, 6.0]));
        std::fs::write(&path, "1,2\n3\n").unwrap();
        assert!(
            read_matrix_file(&path)
                .unwrap_err()
                .contains("line 2 has 1 numbers")
        );
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        assert!(read_matrix_file(&path).unwrap_err().contains("no header"));
        std::fs::write(&path, "1,NaN\n").unwrap();
        assert!(read_matrix_file(&path).unwrap_err().contains("finite"));
    }
}
