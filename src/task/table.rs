//! Reading numeric tables (user CSV files and the embedded digits data) into
//! row-major `f64` buffers, with errors that point at the offending line and
//! column.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::TaskError;

/// A rectangular table of finite numbers.
pub(crate) struct Table {
    /// Column names from the header row; empty when the source has none.
    pub header: Vec<String>,
    /// Number of columns of every row.
    pub width: usize,
    /// Row-major values, `rows() * width` of them.
    pub values: Vec<f64>,
    /// The 1-based line in the source of each row, for later error messages.
    pub lines: Vec<u64>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    pub fn row(&self, r: usize) -> &[f64] {
        &self.values[r * self.width..(r + 1) * self.width]
    }

    /// The name to show for 0-based column `c` in error messages.
    pub fn column_name(&self, c: usize) -> String {
        self.header.get(c).cloned().unwrap_or_default()
    }
}

/// Reads a comma-separated table of numbers; `path` only labels errors.
///
/// With `has_header`, the first record names the columns and fixes the
/// width; otherwise the first data row fixes it. Cells are trimmed, blank
/// lines are skipped, and every cell must parse as a finite `f64`.
pub(crate) fn read_table<R: Read>(
    reader: R,
    path: &Path,
    has_header: bool,
) -> Result<Table, TaskError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(has_header)
        // Ragged rows are reported by our own check, which names the line
        // and both column counts, instead of the csv crate's generic error.
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let csv_err = |source: csv::Error| TaskError::CsvRead {
        path: path.to_path_buf(),
        source,
    };

    let header: Vec<String> = if has_header {
        rdr.headers()
            .map_err(csv_err)?
            .iter()
            .map(str::to_owned)
            .collect()
    } else {
        Vec::new()
    };
    let mut width = if has_header { Some(header.len()) } else { None };
    if width == Some(0) {
        return Err(TaskError::CsvEmpty {
            path: path.to_path_buf(),
        });
    }

    let mut values = Vec::new();
    let mut lines = Vec::new();
    let mut record = csv::StringRecord::new();
    while rdr.read_record(&mut record).map_err(csv_err)? {
        let line = record.position().map_or(0, csv::Position::line);
        let expected = *width.get_or_insert(record.len());
        if record.len() != expected {
            return Err(TaskError::CsvColumnCount {
                path: path.to_path_buf(),
                line,
                expected,
                got: record.len(),
            });
        }
        for (c, cell) in record.iter().enumerate() {
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => values.push(v),
                _ => {
                    return Err(TaskError::CsvNotNumeric {
                        path: path.to_path_buf(),
                        line,
                        column: c + 1,
                        name: header.get(c).cloned().unwrap_or_default(),
                        value: cell.to_owned(),
                    });
                }
            }
        }
        lines.push(line);
    }
    let Some(width) = width.filter(|_| !lines.is_empty()) else {
        return Err(TaskError::CsvNoRows {
            path: path.to_path_buf(),
        });
    };
    Ok(Table {
        header,
        width,
        values,
        lines,
    })
}

/// The largest CSV file a task reads, in bytes. A data set for a circuit of this simulator is
/// at most tens of MB (MNIST as CSV is about 110 MB); the limit keeps a wrong path (a device, a
/// pipe, an endless stream) from filling memory.
pub const MAX_CSV_BYTES: u64 = 256 * 1024 * 1024;

/// A reader that fails once more than `limit` bytes have been read from it, so that parsing an
/// endless source stops with a clear reason instead of growing memory without bound.
struct Bounded<R> {
    inner: R,
    left: u64,
    exceeded: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more than the limit tells an over-long source from one of exactly the
            // limit's length.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded.set(true);
            return Err(std::io::Error::other("size limit exceeded"));
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Opens a user CSV file (with a header row) and reads it, at most [`MAX_CSV_BYTES`] of it.
pub(crate) fn read_csv_file(path: &Path) -> Result<Table, TaskError> {
    read_csv_file_limited(path, MAX_CSV_BYTES)
}

pub(crate) fn read_csv_file_limited(path: &Path, limit: u64) -> Result<Table, TaskError> {
    let file = crate::spec::open_input(path).map_err(|source| TaskError::CsvOpen {
        path: path.to_path_buf(),
        source,
    })?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(TaskError::CsvOpen {
            path: path.to_path_buf(),
            source: std::io::Error::other("it is a directory"),
        });
    }
    let exceeded = std::rc::Rc::new(std::cell::Cell::new(false));
    let bounded = Bounded {
        inner: std::io::BufReader::new(file),
        left: limit,
        exceeded: exceeded.clone(),
    };
    let result = read_table(bounded, path, true);
    // Whatever the parser made of the truncated input, the reason is the size.
    if exceeded.get() {
        return Err(TaskError::CsvTooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    result
}

/// The 8×8 digits data shipped with the crate (gzip-compressed CSV, no
/// header, 64 pixel columns in 0..=16 followed by the label).
const DIGITS_GZ: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz"));

/// The label errors use for the embedded file.
pub(crate) fn digits_path() -> PathBuf {
    PathBuf::from("data/digits.csv.gz (embedded)")
}

/// Decompresses and parses the embedded digits table.
pub(crate) fn read_digits() -> Result<Table, TaskError> {
    let gz = flate2::read::GzDecoder::new(DIGITS_GZ);
    read_table(gz, &digits_path(), false)
}
