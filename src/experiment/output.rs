//! Where a run's files go, and the rule that protects results already written: a run never
//! writes into an existing non-empty directory unless asked to replace it, and then only if
//! that directory is a hetsim run directory.

use super::ExperimentError;
use std::path::{Path, PathBuf};

/// Where results go.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// A run directory. `path: None` picks `runs/<circuit name>-<unix time>`.
    Directory {
        path: Option<PathBuf>,
        /// Replace an existing run directory at `path` (its files are deleted first).
        replace: bool,
        /// Draw the figures when the run ends.
        figures: bool,
    },
    /// Keep everything in memory (the [`crate::record::Collector`] of the result).
    Memory,
}

/// The default run directory for a circuit: `runs/<name>-<unix seconds>`, with `-2`, `-3`, …
/// appended if that exists already (two runs in the same second).
pub fn default_dir(name: &str) -> PathBuf {
    let secs = crate::record::unix_now() as u64;
    unused_name(PathBuf::from("runs").join(format!("{name}-{secs}")))
}

/// `base`, or `base-2`, `base-3`, … — the first that does not exist yet.
pub fn unused_name(base: PathBuf) -> PathBuf {
    let mut candidate = base.clone();
    let mut k = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{}-{k}", base.display()));
        k += 1;
    }
    candidate
}

/// Makes `dir` ready for a new run: creates it, or accepts it empty, or — with `replace` — empties
/// a previous run directory. Anything else is refused, naming the directory.
pub fn claim(dir: &Path, replace: bool) -> Result<(), ExperimentError> {
    if dir.exists() && !dir.is_dir() {
        return Err(ExperimentError::Usage(format!(
            "the run directory {} exists and is not a directory",
            dir.display()
        )));
    }
    let entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    };
    if !entries.is_empty() {
        if !replace {
            return Err(ExperimentError::OutputExists(dir.to_path_buf()));
        }
        if !dir.join("manifest.json").is_file() {
            return Err(ExperimentError::Usage(format!(
                "--replace: {} is not a hetsim run directory (it has no manifest.json); refusing to delete its files",
                dir.display()
            )));
        }
        for path in entries {
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| {
                ExperimentError::Usage(format!("--replace: cannot remove {}: {e}", path.display()))
            })?;
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| {
        ExperimentError::Record(crate::record::RecordError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })
    })
}
