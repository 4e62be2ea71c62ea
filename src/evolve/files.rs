//! The evolution's tables and state files: appended whole, written by rename, and cut back to
//! the generations a saved state includes.

use super::run::EvolveError;
use std::io::Write;
use std::path::Path;

pub(super) fn write_err(path: &Path) -> impl Fn(std::io::Error) -> EvolveError + '_ {
    move |source| EvolveError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `text` to `path` through a temporary file and a rename (never half a file).
pub(super) fn write_atomic(path: &Path, text: &str) -> Result<(), EvolveError> {
    crate::record::atomic::write_atomic(path, text).map_err(write_err(path))
}

/// Appends lines to a table, writing the header first when the file is new.
pub(super) fn append(
    path: &Path,
    header: &[String],
    rows: &[Vec<String>],
) -> Result<(), EvolveError> {
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(write_err(path))?;
    let mut text = String::new();
    if new {
        text.push_str(&header.join(","));
        text.push('\n');
    }
    for r in rows {
        text.push_str(&r.join(","));
        text.push('\n');
    }
    f.write_all(text.as_bytes()).map_err(write_err(path))?;
    f.flush().map_err(write_err(path))
}

/// Keeps the header and the rows of generations up to `done` (a resume drops the rows of a
/// generation whose state was never saved).
pub(super) fn truncate_table(path: &Path, done: u64) -> Result<(), EvolveError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let mut kept = String::new();
    for (i, line) in text.lines().enumerate() {
        let generation = line.split(',').next().and_then(|g| g.parse::<u64>().ok());
        if i == 0 || generation.is_some_and(|g| g <= done) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    write_atomic(path, &kept)
}

/// A number as the tables write it: shortest text that reads back to the same f64.
pub(super) fn num(x: f64) -> String {
    crate::record::atomic::number_cell(x)
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}
