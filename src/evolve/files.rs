//! The evolution's tables and state files: appended whole and synced, written by rename, and
//! on `--resume` checked against the saved state and cut back to the generations it includes.

use super::error::EvolveError;
use std::io::{BufRead, Read, Write};
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
    // On disk before the state that counts these rows is renamed into place.
    f.sync_data().map_err(write_err(path))
}

/// What a table of an evolution holds after `done` generations: its header, and `rows_of(g)`
/// rows for generation `g`, in order, the first cell the generation and (in `population.csv`)
/// the second the member.
pub(super) struct TableShape<'a> {
    pub(super) header: &'a [String],
    pub(super) done: u64,
    pub(super) rows_of: &'a dyn Fn(u64) -> usize,
    pub(super) member_column: bool,
}

/// Why a table does not hold what the state says was done: the line and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TableProblem {
    pub(super) line: u64,
    pub(super) message: String,
}

/// The longest line a table of an evolution can have: a cell is at most about 25 characters.
fn max_line_bytes(columns: usize) -> u64 {
    (1 << 16) + 32 * columns as u64
}

/// Reads one line (with its `\n`) into `buf`, at most `limit` bytes; whether it was complete.
fn next_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: u64,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let n = reader.by_ref().take(limit).read_until(b'\n', buf)?;
    Ok((n > 0).then(|| buf.last() == Some(&b'\n')))
}

/// Scans a table for the rows of generations `1..=shape.done` and returns the number of bytes
/// to keep: the header and exactly those rows. What follows them — rows of a generation the
/// state does not include, a torn last line — is to be cut; a missing, torn or misplaced row
/// among them is a problem (the state is past it, so it cannot be written again).
pub(super) fn scan_table(
    mut reader: impl BufRead,
    shape: &TableShape,
) -> Result<u64, TableProblem> {
    let limit = max_line_bytes(shape.header.len());
    let done = shape.done;
    let io = |e: std::io::Error| TableProblem {
        line: 0,
        message: format!("cannot be read: {e}"),
    };
    let mut buf = Vec::new();
    let header = shape.header.join(",");
    let complete_header = match next_line(&mut reader, &mut buf, limit).map_err(io)? {
        Some(true) => buf[..buf.len() - 1] == *header.as_bytes(),
        _ => false,
    };
    if !complete_header {
        // Before the first generation the whole table is to be written anew.
        return if done == 0 {
            Ok(0)
        } else {
            Err(TableProblem {
                line: 1,
                message: format!(
                    "the header is not this evolution's columns (`{}`…), but state.json says {done} generations are done",
                    header.chars().take(60).collect::<String>()
                ),
            })
        };
    }
    let mut kept = buf.len() as u64;
    let mut line = 1u64;
    for g in 1..=done {
        for k in 0..(shape.rows_of)(g) {
            line += 1;
            let which = if shape.member_column {
                format!("the row of generation {g}, member {k}")
            } else {
                format!("the row of generation {g}")
            };
            let complete = next_line(&mut reader, &mut buf, limit).map_err(io)?;
            let fail = |message: String| Err(TableProblem { line, message });
            match complete {
                None => {
                    return fail(format!(
                        "the table ends before {which}, but state.json says {done} generations are done"
                    ));
                }
                Some(false) => return fail(format!("{which} is cut off (torn)")),
                Some(true) => {}
            }
            let text = String::from_utf8_lossy(&buf[..buf.len() - 1]);
            let cells: Vec<&str> = text.split(',').collect();
            if cells.len() != shape.header.len() {
                return fail(format!(
                    "{which} has {} cells, the header {}",
                    cells.len(),
                    shape.header.len()
                ));
            }
            let at = cells[0] == g.to_string()
                && (!shape.member_column || cells.get(1) == Some(&k.to_string().as_str()));
            if !at {
                return fail(format!(
                    "expected {which}, found a row starting `{}`",
                    cells.iter().take(2).copied().collect::<Vec<_>>().join(",")
                ));
            }
            kept += buf.len() as u64;
        }
    }
    Ok(kept)
}

/// Cuts a table back to the rows of the generations the state includes (see [`scan_table`]);
/// a table cut to nothing is removed, so the next generation writes its header.
pub(super) fn cut_back_table(path: &Path, shape: &TableShape) -> Result<(), EvolveError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && shape.done == 0 => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EvolveError::Usage(format!(
                "--resume: {} is missing, but state.json says {} generations are done; the table cannot be written again: start a new evolution (--replace)",
                path.display(),
                shape.done
            )));
        }
        Err(e) => return Err(write_err(path)(e)),
    };
    let length = file.metadata().map_err(write_err(path))?.len();
    let keep = scan_table(std::io::BufReader::new(file), shape).map_err(|p| {
        EvolveError::Usage(format!(
            "--resume: {}:{}: {}; the table cannot be written again: start a new evolution (--replace)",
            path.display(),
            p.line,
            p.message
        ))
    })?;
    if keep == 0 {
        std::fs::remove_file(path).map_err(write_err(path))?;
    } else if keep < length {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(write_err(path))?;
        f.set_len(keep).map_err(write_err(path))?;
        f.sync_all().map_err(write_err(path))?;
    }
    Ok(())
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
