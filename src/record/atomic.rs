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

/// Writes `bytes` to `path` durably: a temporary file beside it, synced, renamed over `path`,
/// and the directory synced, so after a crash at any moment `path` holds either the old file
/// or the whole new one.
pub fn write_durable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
