//! Saved weights read back: a matrix from a file (`init: {file: …}`: a numbers-only `.csv` or
//! a 2-D `.npy`, [`file`]), and the weights another run saved (`init: {from: …}`,
//! `hetsim run --from`, [`run`]): its `weight_snapshots.csv` (full precision, the times
//! `record.weights` asked for) and the `start`/`end` matrices of its `weights.csv` (six
//! significant digits, the first instance of each label) where no snapshot covers that time.
//! Each read says where it came from ([`WeightSource`]), with the SHA-256 of what it read, so
//! the manifest can record it and a rerun can refuse when it changed.

pub mod file;
pub mod run;

pub use file::{read_matrix_file, write_npy};
pub use run::RunWeights;

use crate::circuit::budget::Budget;
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
        let what = format!("the initial weights of `{}`", self.projection);
        if let (Some(dir), Some(then)) = (&self.run_dir, &self.manifest_sha256)
            && let Some(why) = file_changed(&what, &Path::new(dir).join("manifest.json"), then)
        {
            return Some(why);
        }
        file_changed(&what, Path::new(&self.file), &self.file_sha256)
    }
}

/// Where carried activities came from (`--from RUN_DIR --carry activities`): the run, its
/// manifest's SHA-256, its checkpoint file and that file's SHA-256, the time, and the
/// populations whose u or q were set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateSource {
    pub run_dir: String,
    pub manifest_sha256: String,
    pub checkpoint: String,
    pub checkpoint_sha256: String,
    pub time_s: f64,
    pub populations: Vec<String>,
}

impl StateSource {
    /// Why a replay would not read the same activities now (None: it would).
    pub fn changed(&self) -> Option<String> {
        let what = "the carried activities";
        file_changed(
            what,
            &Path::new(&self.run_dir).join("manifest.json"),
            &self.manifest_sha256,
        )
        .or_else(|| file_changed(what, Path::new(&self.checkpoint), &self.checkpoint_sha256))
    }
}

/// Why `path` no longer has the SHA-256 `then` that `what` was read with (None: it has).
fn file_changed(what: &str, path: &Path, then: &str) -> Option<String> {
    let now = crate::spec::read_bounded(path, MAX_WEIGHTS_BYTES)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|b| {
            b.map(|b| sha256_hex(&b))
                .ok_or_else(|| format!("{}: larger than a weights file may be", path.display()))
        });
    match now {
        Err(e) => Some(format!(
            "{what} came from {}, which cannot be read now ({e})",
            path.display()
        )),
        Ok(now) if now != then => Some(format!(
            "{what} came from {}, which has changed since (SHA-256 {then} then, {now} now)",
            path.display()
        )),
        Ok(_) => None,
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
        budget: &Budget,
    ) -> Result<SavedInit, String> {
        let (r, c, values, sha) = read_matrix_file(path, budget)?;
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

/// Reads the saved weights a circuit's projections start from, each run's table once, each
/// file checked against the memory budget before it is read.
pub struct Reader<'a> {
    budget: &'a Budget,
    runs: Vec<(RunKey, std::rc::Rc<RunWeights>)>,
}

impl<'a> Reader<'a> {
    pub fn new(budget: &'a Budget) -> Reader<'a> {
        Reader {
            budget,
            runs: Vec::new(),
        }
    }

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
            Init::File(path) => {
                SavedInit::from_file(&base_dir.join(path), projection, rows, cols, self.budget)
            }
            Init::From { run, time } => {
                let dir = base_dir.join(run);
                let seconds = time.map(|t| t.seconds());
                let key = (dir.clone(), seconds.map(f64::to_bits));
                let weights = match self.runs.iter().find(|(k, _)| *k == key) {
                    Some((_, w)) => w.clone(),
                    None => {
                        let w = std::rc::Rc::new(RunWeights::read(&dir, seconds, self.budget)?);
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
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
