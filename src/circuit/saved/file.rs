//! Matrix files: a numbers-only `.csv` (one line per post unit) or a 2-D `.npy` (float64 or
//! float32, little-endian, C order) — a small reader, no numpy dependency — and a `.npy` writer.

use super::{MAX_WEIGHTS_BYTES, sha256_hex};
use crate::circuit::budget::Budget;
use std::path::Path;

/// A matrix read from a file, rows × cols (post × pre), row-major.
/// The file's size is checked against `budget` before it is read.
pub fn read_matrix_file(
    path: &Path,
    budget: &Budget,
) -> Result<(usize, usize, Vec<f64>, String), String> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !matches!(ext, "csv" | "npy") {
        return Err(format!(
            "{}: a weights file is read by its extension, `.csv` or `.npy`, not `{ext}`",
            path.display()
        ));
    }
    let (cost, what) = read_cost(path, ext)?;
    crate::circuit::budget::check_read(path, &what, cost, budget)?;
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

/// The memory reading a matrix file takes, known before it is read — the file's bytes and
/// its numbers as f64: a `.npy` header's shape, or for a CSV the most numbers its length can
/// hold (each takes a digit and a separator) — and what it is, for messages. A file that
/// cannot be opened costs nothing here: reading it says why.
fn read_cost(path: &Path, ext: &str) -> Result<(f64, String), String> {
    use std::io::Read;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok((0.0, String::new()));
    };
    let len = meta.len() as f64;
    if ext == "npy" {
        let mut head = Vec::new();
        if let Ok(f) = std::fs::File::open(path) {
            f.take(NPY_HEAD_BYTES)
                .read_to_end(&mut head)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        }
        let h = npy_header(&head).map_err(|e| format!("{}: {e}", path.display()))?;
        let numbers = h.rows as f64 * h.cols as f64;
        return Ok((
            len + 8.0 * numbers,
            format!(
                "its header says {} × {}: {} numbers, held as float64",
                h.rows, h.cols, numbers
            ),
        ));
    }
    let numbers = (len / 2.0).ceil();
    Ok((
        len + 8.0 * numbers,
        format!("{} bytes of text: up to {numbers} numbers", meta.len()),
    ))
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

/// What a `.npy` header says: the matrix's shape, the width of its numbers and where they
/// start. Read from the first bytes alone, so the size is known before the file is read.
struct NpyHeader {
    rows: usize,
    cols: usize,
    width: usize,
    start: usize,
}

/// The most of a `.npy` file's head read to find its header (versions 2 and 3 allow longer
/// headers; `numpy.save` writes a few dozen bytes).
const NPY_HEAD_BYTES: u64 = 1 << 16;

/// A `.npy` header: 2-D, little-endian f64 or f32, C order (what `numpy.save` writes for a
/// float matrix); anything else is refused, naming what it is.
fn npy_header(bytes: &[u8]) -> Result<NpyHeader, String> {
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
    Ok(NpyHeader {
        rows,
        cols,
        width,
        start: start + header_len,
    })
}

/// A `.npy` matrix read whole (its header by [`npy_header`]).
fn read_npy(bytes: &[u8]) -> Result<(usize, usize, Vec<f64>), String> {
    let NpyHeader {
        rows,
        cols,
        width,
        start,
    } = npy_header(bytes)?;
    let data = &bytes[start..];
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips_and_refuses_other_arrays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.npy");
        let values = [0.1, -2.5, 1e-300, 3.0, 4.25, -0.0];
        write_npy(&path, 2, 3, &values).unwrap();
        let (r, c, v, _) = read_matrix_file(&path, &Budget::default()).unwrap();
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
            read_matrix_file(&path, &Budget::default())
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
            let err = read_matrix_file(&path, &Budget::default()).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn csv_matrices_read_exactly_and_ragged_lines_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.csv");
        std::fs::write(&path, "0.1,-0.2\n3e-5, 4\n5,6\n").unwrap();
        let (r, c, v, _) = read_matrix_file(&path, &Budget::default()).unwrap();
        assert_eq!((r, c, v), (3, 2, vec![0.1, -0.2, 3e-5, 4.0, 5.0, 6.0]));
        std::fs::write(&path, "1,2\n3\n").unwrap();
        assert!(
            read_matrix_file(&path, &Budget::default())
                .unwrap_err()
                .contains("line 2 has 1 numbers")
        );
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        assert!(
            read_matrix_file(&path, &Budget::default())
                .unwrap_err()
                .contains("no header")
        );
        std::fs::write(&path, "1,NaN\n").unwrap();
        assert!(
            read_matrix_file(&path, &Budget::default())
                .unwrap_err()
                .contains("finite")
        );
    }
}
