//! Circuit files: reading, parsing and writing YAML, with errors that point at file, line,
//! column and YAML path.
//!
//! This module knows the file format and nothing of simulation. It turns bytes into a
//! [`CircuitSpec`] or into [`Diagnostics`]; checking what the circuit *means* is `circuit`'s job.

pub mod diagnostic;
pub mod locate;
pub mod quantity;
pub mod types;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use locate::{Locator, Seg, YamlPath};
pub use quantity::Time;
pub use types::*;

use std::path::{Path, PathBuf};

/// Circuit files larger than this are refused before parsing: a real circuit is a few KiB, and
/// a huge file is almost certainly the wrong file.
pub const MAX_CIRCUIT_BYTES: u64 = 4 * 1024 * 1024;

/// The text of a circuit file together with its key index, for locating later errors.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    pub locator: Locator,
}

impl SourceFile {
    pub fn from_text(path: &Path, text: String) -> Self {
        let locator = Locator::new(&text);
        SourceFile {
            path: path.to_path_buf(),
            text,
            locator,
        }
    }

    /// A diagnostic located at `path` in this file.
    pub fn diagnostic(
        &self,
        path: YamlPath,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Diagnostic {
        Diagnostic::at(&self.path, &self.locator, path, message, hint)
    }
}

fn whole_file_error(path: &Path, message: String, hint: Option<String>) -> Diagnostics {
    Diagnostics(vec![Diagnostic {
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        path: YamlPath::root(),
        message,
        hint,
    }])
}

/// Reads a circuit file, refusing missing, oversized, empty and non-text files with a reason.
pub fn read_source(path: &Path) -> Result<SourceFile, Diagnostics> {
    let metadata = std::fs::metadata(path).map_err(|e| {
        whole_file_error(
            path,
            format!("cannot read the file: {e}"),
            Some("check the path".into()),
        )
    })?;
    if metadata.is_dir() {
        return Err(whole_file_error(
            path,
            "is a directory, not a circuit file".into(),
            None,
        ));
    }
    if metadata.len() > MAX_CIRCUIT_BYTES {
        return Err(whole_file_error(
            path,
            format!(
                "the file is {:.1} MB; circuit files are limited to {} MiB",
                metadata.len() as f64 / 1e6,
                MAX_CIRCUIT_BYTES / (1024 * 1024)
            ),
            Some("is this the right file? circuit files are small YAML documents".into()),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| whole_file_error(path, format!("cannot read the file: {e}"), None))?;
    let text = match String::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => text,
        Ok(text) => {
            let offset = text.find('\0').unwrap_or(0);
            return Err(binary_error(path, &text.as_bytes()[..offset]));
        }
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            return Err(binary_error(path, &e.as_bytes()[..offset]));
        }
    };
    if text.trim().is_empty() {
        return Err(whole_file_error(
            path,
            "the file is empty".into(),
            Some("a circuit needs at least `name`, `time`, `task` and `populations`".into()),
        ));
    }
    Ok(SourceFile::from_text(path, text))
}

fn binary_error(path: &Path, valid_prefix: &[u8]) -> Diagnostics {
    let line = valid_prefix.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = valid_prefix
        .iter()
        .rev()
        .take_while(|&&b| b != b'\n')
        .count()
        + 1;
    Diagnostics(vec![Diagnostic {
        file: path.to_path_buf(),
        line,
        column,
        path: YamlPath::root(),
        message: "the file is not UTF-8 text (binary data found here)".into(),
        hint: Some("circuit files are YAML text".into()),
    }])
}

/// Parses the text into a spec; syntax, type, unknown-key and duplicate-key errors are located.
pub fn parse_circuit(source: &SourceFile) -> Result<CircuitSpec, Diagnostics> {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    serde_saphyr::from_str_with_options::<CircuitSpec>(&source.text, options)
        .map_err(|e| Diagnostics(vec![yaml_error_diagnostic(source, &e)]))
}

/// Reads and parses a circuit file.
pub fn load_circuit(path: &Path) -> Result<(SourceFile, CircuitSpec), Diagnostics> {
    let source = read_source(path)?;
    let spec = parse_circuit(&source)?;
    Ok((source, spec))
}

/// Turns a serde-saphyr error into a located diagnostic with a hint where one helps.
fn yaml_error_diagnostic(source: &SourceFile, error: &serde_saphyr::Error) -> Diagnostic {
    let (line, column) = error
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .unwrap_or((1, 1));
    let raw = error.to_string();
    // The rendered error may repeat the location; keep the first line's message only.
    let message = clean_message(&raw);
    let path = source
        .locator
        .path_at(line, column)
        .cloned()
        .unwrap_or_default();
    let hint = unknown_field_hint(&message).or_else(|| {
        if message.contains("duplicate") {
            Some("each key may appear once in a mapping; remove or rename one".into())
        } else if message.contains("missing field") {
            Some("add the field; see circuits/ for complete examples".into())
        } else {
            None
        }
    });
    Diagnostic {
        file: source.path.clone(),
        line: line.max(1),
        column: column.max(1),
        path,
        message,
        hint,
    }
}

fn clean_message(raw: &str) -> String {
    let first = raw
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(raw)
        .trim();
    // Drop a trailing " at line X, column Y" that the location already says.
    match first.rfind(" at line ") {
        Some(at) => first[..at].trim_end_matches(',').to_string(),
        None => first.to_string(),
    }
}

/// For `unknown field `tua`, expected one of `size`, `tau`…`, suggests the nearest valid key.
pub fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let unknown = rest.split('`').next()?;
    let expected: Vec<&str> = rest
        .split('`')
        .skip(1)
        .filter(|s| !s.trim().is_empty() && !s.contains(',') && !s.contains("expected"))
        .collect();
    let nearest = expected
        .iter()
        .map(|candidate| (levenshtein(unknown, candidate), *candidate))
        .min()
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 2))
        .map(|(_, c)| c);
    Some(match nearest {
        Some(c) => format!("did you mean `{c}`? valid keys: {}", expected.join(", ")),
        None => format!("valid keys: {}", expected.join(", ")),
    })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = if ca == *cb { prev } else { prev + 1 };
            prev = row[j + 1];
            row[j + 1] = cost.min(row[j] + 1).min(prev + 1);
        }
    }
    row[b.len()]
}

/// Writes a spec as YAML (used by `hetsim expand` and the run manifest).
pub fn to_yaml(spec: &CircuitSpec) -> String {
    serde_saphyr::to_string(spec).unwrap_or_else(|e| format!("# could not write YAML: {e}\n"))
}

/// Applies `path=value` overrides (`--set learning.tau_w="5 s"`) to a spec. The value is read
/// as YAML, so numbers, strings with units and small maps all work; the result is checked
/// against the schema like the file itself.
pub fn apply_overrides(
    spec: &CircuitSpec,
    overrides: &[(String, String)],
) -> Result<CircuitSpec, String> {
    if overrides.is_empty() {
        return Ok(spec.clone());
    }
    let mut tree = serde_json::to_value(spec).map_err(|e| e.to_string())?;
    for (path, value_text) in overrides {
        let value: serde_json::Value = serde_saphyr::from_str(value_text).map_err(|e| {
            format!(
                "--set {path}={value_text}: cannot read the value: {}",
                clean_message(&e.to_string())
            )
        })?;
        set_path(&mut tree, path, value).map_err(|e| format!("--set {path}={value_text}: {e}"))?;
    }
    serde_json::from_value(tree).map_err(|e| format!("--set: {e}"))
}

/// Parses `a.b[2].c` into segments.
pub fn parse_path(path: &str) -> Result<YamlPath, String> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && rest.is_empty() {
            return Err(format!("empty segment in path `{path}`"));
        }
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_string()));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let end = inner
                .find(']')
                .ok_or_else(|| format!("unclosed `[` in `{path}`"))?;
            let index = inner[..end]
                .parse()
                .map_err(|_| format!("bad index in `{path}`"))?;
            segs.push(Seg::Index(index));
            rest = &inner[end + 1..];
        }
    }
    Ok(YamlPath(segs))
}

fn set_path(
    tree: &mut serde_json::Value,
    path: &str,
    value: serde_json::Value,
) -> Result<(), String> {
    let parsed = parse_path(path)?;
    let mut node = tree;
    let count = parsed.0.len();
    for (i, seg) in parsed.0.iter().enumerate() {
        let last = i + 1 == count;
        node = match seg {
            Seg::Key(k) => {
                let map = node
                    .as_object_mut()
                    .ok_or_else(|| format!("`{k}` is not inside a mapping"))?;
                if last {
                    map.insert(k.clone(), value);
                    return Ok(());
                }
                map.entry(k.clone())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()))
            }
            Seg::Index(n) => {
                let list = node
                    .as_array_mut()
                    .ok_or_else(|| format!("[{n}] is not inside a list"))?;
                let len = list.len();
                let slot = list
                    .get_mut(*n)
                    .ok_or_else(|| format!("index {n} is out of range (the list has {len})"))?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
        };
    }
    Err("empty path".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_key_is_suggested() {
        let hint = unknown_field_hint("unknown field `tua`, expected one of `role`, `size`, `tau`")
            .unwrap();
        assert!(hint.starts_with("did you mean `tau`?"), "{hint}");
    }

    #[test]
    fn paths_parse() {
        assert_eq!(
            parse_path("motifs[1].tau_w").unwrap().to_string(),
            "motifs[1].tau_w"
        );
        assert!(parse_path("a..b").is_err());
    }
}
