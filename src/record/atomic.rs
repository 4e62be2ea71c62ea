//! Files that appear whole or not at all, and the one way tables print a number.

use std::path::Path;

/// Writes `text` to `path` through a temporary file beside it and a rename, so a reader (or a
/// process killed mid-write) never sees half a file.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// A number as the summary tables write it: the shortest text that reads back to the same
/// f64; `inf`/`-inf` for infinities and an empty cell for NaN.
pub fn number_cell(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else if x > 0.0 {
        "inf".into()
    } else if x < 0.0 {
        "-inf".into()
    } else {
        String::new()
    }
}
