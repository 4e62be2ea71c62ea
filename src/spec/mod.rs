//! Circuit files: reading, parsing and writing YAML, with errors that point at file, line,
//! column and YAML path.
//!
//! This module knows the file format and nothing of simulation. It turns bytes into a
//! [`CircuitSpec`] or into [`Diagnostics`]; checking what the circuit *means* is `circuit`'s job.

pub mod diagnostic;
pub mod document;
pub mod init;
pub mod locate;
pub mod quantity;
pub mod task;
pub mod types;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use locate::{Locator, Seg, YamlPath};
pub use quantity::Time;
pub use task::*;
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
///
/// The size limit is enforced on the bytes actually read, not on the file's metadata: a device
/// (`/dev/zero`), a pipe or an endless stream reports no length, and must still stop at the limit.
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
    let too_large = |what: String| {
        whole_file_error(
            path,
            format!(
                "{what}; circuit files are limited to {} MiB",
                MAX_CIRCUIT_BYTES / (1024 * 1024)
            ),
            Some("is this the right file? circuit files are small YAML documents".into()),
        )
    };
    if metadata.len() > MAX_CIRCUIT_BYTES {
        return Err(too_large(format!(
            "the file is {:.1} MB",
            metadata.len() as f64 / 1e6
        )));
    }
    let bytes = read_bounded(path, MAX_CIRCUIT_BYTES)
        .map_err(|e| whole_file_error(path, format!("cannot read the file: {e}"), None))?
        .ok_or_else(|| {
            too_large(format!(
                "more than {} MiB could be read from it (a device, a pipe or a stream?)",
                MAX_CIRCUIT_BYTES / (1024 * 1024)
            ))
        })?;
    source_from_bytes(path, &bytes)
}

/// Checks the bytes of a circuit file (text, not empty) and indexes them; `path` labels errors.
pub fn source_from_bytes(path: &Path, bytes: &[u8]) -> Result<SourceFile, Diagnostics> {
    // A byte-order mark is legal at the start of UTF-8 text but is not part of the YAML.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // Report the first sign of binary data, whether a NUL byte or a byte sequence that is not
    // UTF-8, at the line and column where it occurs.
    let utf8_end = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) => e.valid_up_to(),
    };
    let nul = bytes[..utf8_end].iter().position(|&b| b == 0);
    if let Some(offset) = nul.or((utf8_end < bytes.len()).then_some(utf8_end)) {
        return Err(binary_error(path, &bytes[..offset]));
    }
    let text = String::from_utf8_lossy(bytes).into_owned();
    if text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    }) {
        let message = if text.trim().is_empty() {
            "the file is empty"
        } else {
            "the file holds only comments, no circuit"
        };
        return Err(whole_file_error(
            path,
            message.into(),
            Some("a circuit needs at least `name`, `time`, `task` and `populations`; see circuits/ for examples".into()),
        ));
    }
    Ok(SourceFile::from_text(path, text))
}

/// How long opening a named pipe waits for a process to write to it.
pub const PIPE_WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens an input file for reading without hanging on a named pipe that nobody writes to: a
/// pipe is opened on a helper thread, and if no writer appears within [`PIPE_WRITER_WAIT`] the
/// open is released (by briefly opening the write end) and refused with a reason, while
/// `<(command)` and `mkfifo` + a writer still stream.
pub fn open_input(path: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let is_pipe = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo());
        if !is_pipe {
            return std::fs::File::open(path);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let owned = path.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(std::fs::File::open(owned));
        });
        match rx.recv_timeout(PIPE_WRITER_WAIT) {
            Ok(result) => result,
            Err(_) => {
                // Our own write end lets the waiting open return; closing it again makes the
                // pipe read as ended for that thread, which then finishes.
                let _ = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(path);
                Err(std::io::Error::other(format!(
                    "it is a named pipe and no process wrote to it within {} s",
                    PIPE_WRITER_WAIT.as_secs()
                )))
            }
        }
    }
    #[cfg(not(unix))]
    {
        std::fs::File::open(path)
    }
}

/// Reads at most `limit` bytes of a file; `Ok(None)` when there is more than that. Reading stops
/// one byte past the limit, so memory stays bounded whatever the file is.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let file = open_input(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

fn binary_error(path: &Path, valid_prefix: &[u8]) -> Diagnostics {
    let line = valid_prefix.iter().filter(|&&b| b == b'\n').count() + 1;
    let last_line = match valid_prefix.iter().rposition(|&b| b == b'\n') {
        Some(newline) => &valid_prefix[newline + 1..],
        None => valid_prefix,
    };
    // Columns count characters, as the YAML parser's do; the prefix is valid UTF-8.
    let column = String::from_utf8_lossy(last_line).chars().count() + 1;
    Diagnostics(vec![Diagnostic {
        file: path.to_path_buf(),
        line,
        column,
        path: YamlPath::root(),
        message: "the file is not UTF-8 text (binary data found here)".into(),
        hint: Some("circuit files are YAML text; is this the right file?".into()),
    }])
}

fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    // A circuit file has at most a few thousand YAML events; the parser's default allows a
    // million replayed through aliases, which an alias bomb spends in seconds. (Found by the
    // fuzz target: a nested-alias document took more than 10 s under its instrumentation.)
    options.alias_limits.max_total_replayed_events = 20_000;
    options.alias_limits.max_replay_stack_depth = 16;
    options
}

/// Parses the text into a spec; syntax, type, unknown-key and duplicate-key errors are located.
pub fn parse_circuit(source: &SourceFile) -> Result<CircuitSpec, Diagnostics> {
    // Syntax first: read the document without a schema, so that a structural mistake (an
    // unclosed bracket, a bad indentation) is reported as such and not as a type error about
    // text that the parser swallowed into a neighbouring value.
    serde_saphyr::from_str_with_options::<serde::de::IgnoredAny>(&source.text, yaml_options())
        .map_err(|e| Diagnostics(vec![yaml_error_diagnostic(source, &e)]))?;
    serde_saphyr::from_str_with_options::<CircuitSpec>(&source.text, yaml_options())
        .map_err(|e| Diagnostics(vec![yaml_error_diagnostic(source, &e)]))
}

/// Reads and parses a circuit file.
pub fn load_circuit(path: &Path) -> Result<(SourceFile, CircuitSpec), Diagnostics> {
    let source = read_source(path)?;
    let spec = parse_circuit(&source)?;
    Ok((source, spec))
}

/// Turns a serde-saphyr error into a located diagnostic, in the words of the circuit format
/// (keys, numbers, lists) rather than of serde (fields, u64, tuples), with a hint where one helps.
fn yaml_error_diagnostic(source: &SourceFile, error: &serde_saphyr::Error) -> Diagnostic {
    use serde_saphyr::Error as E;
    let (mut line, mut column) = error
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .filter(|&(l, _)| l > 0)
        .unwrap_or((1, 1));
    let mut inner = error;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = inner {
        inner = error;
    }
    let locator = &source.locator;
    let mut path = locator.path_at(line, column).cloned().unwrap_or_default();
    let mut hint = None;
    let message = match inner {
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            hint = Some(match field.split_once(':') {
                Some((key, _)) => format!("a key needs a space after its colon: `{key}: …`"),
                None => suggest(field, expected, "valid keys here"),
            });
            format!("unknown key `{field}`")
        }
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            hint = Some(suggest(variant, expected, "valid values"));
            format!("unknown value `{variant}`")
        }
        E::SerdeMissingField { field, .. } => {
            // serde-saphyr points at the mapping's last key (or, for an empty mapping, at
            // the mapping itself); the field is missing from the mapping, so point there.
            let mapping = match locator.key_at(line, column) {
                Some(key) => parent(key),
                None => path.clone(),
            };
            let at = if mapping.0.is_empty() {
                locator.first_key()
            } else {
                locator.find_within(&mapping)
            };
            if let Some((l, c)) = at {
                (line, column) = (l, c);
            }
            path = mapping;
            hint = Some(match example_for(field) {
                Some(example) => format!("add it, e.g. `{example}`"),
                None => "add it; see circuits/ for complete examples".into(),
            });
            format!("missing required key `{field}`")
        }
        E::DuplicateMappingKey { key, .. } => {
            let key = key.clone().unwrap_or_else(|| path.to_string());
            hint = Some(match locator.find(&path) {
                Some((first, _)) if first < line => {
                    format!(
                        "`{key}` is already set on line {first}; each key may appear once in a mapping"
                    )
                }
                _ => "each key may appear once in a mapping; remove or rename one".into(),
            });
            format!("duplicate key `{key}`")
        }
        E::InvalidScalar { .. } if is_size(&path) => {
            let found = scalar_at(&source.text, line, column);
            format!("{SIZE_RULE}, found `{found}`")
        }
        E::InvalidScalar { ty, .. } => {
            let found = scalar_at(&source.text, line, column);
            format!("expected {}, found `{found}`", describe_type(ty))
        }
        E::SerdeInvalidType { unexpected, .. } | E::SerdeInvalidValue { unexpected, .. }
            if is_size(&path) =>
        {
            format!("{SIZE_RULE}, found {unexpected}")
        }
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => format!(
            "expected {}, found {}",
            plain_expected(expected),
            unexpected
        ),
        E::SerdeInvalidLength { len, expected, .. } => format!(
            "expected {}, found {len} item{}",
            plain_expected(expected),
            if *len == 1 { "" } else { "s" }
        ),
        E::NullIntoString { .. } => "a value is required here, found nothing".into(),
        E::Unexpected { expected, .. } => {
            let wanted = match *expected {
                e if e.contains("mapping") => "a mapping of `key: value` entries",
                e if e.contains("sequence") => "a list (`[a, b]`, or one `- item` per line)",
                e => e,
            };
            if starts_document(&source.text, line, column) {
                path = YamlPath::root();
                hint = Some("a circuit file is a mapping with the keys `name`, `time`, `task`, `populations`, …; see circuits/".into());
                format!("expected the circuit as {wanted}")
            } else {
                format!("expected {wanted} here")
            }
        }
        E::Eof { .. } => {
            path = YamlPath::root();
            hint = Some("is a bracket or a quote left open?".into());
            "the file ends in the middle of a value".into()
        }
        E::UnknownAnchor { .. } => {
            hint = Some("`*name` repeats a value marked `&name` earlier in the file".into());
            "reference to an unknown anchor".into()
        }
        E::MultipleDocuments { .. } => {
            path = YamlPath::root();
            hint = Some("remove the second `---` and what follows, or split the file".into());
            "the file holds more than one YAML document; a circuit file holds one".into()
        }
        E::Budget { .. }
        | E::AliasReplayCounterOverflow { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => {
            path = YamlPath::root();
            hint = Some("circuit files are small documents; is this the right file?".into());
            "the document is too large, too deeply nested or expands too many aliases".into()
        }
        E::ExternalMessage { msg, .. } => {
            // A syntax error from the YAML parser: the document has no structure yet, so a
            // path from the key index could name the wrong mapping; give none.
            path = YamlPath::root();
            if let Some((l, c, bracket)) = unclosed_flow(&source.text, line, msg) {
                let closing = if bracket == '{' { '}' } else { ']' };
                hint = Some(format!(
                    "add the closing `{closing}` at the end of this line (the parser noticed on line {line}: {})",
                    clean_message(msg)
                ));
                (line, column) = (l, c);
                format!("`{bracket}` opened here is never closed")
            } else {
                hint = syntax_hint(msg);
                clean_message(msg)
            }
        }
        other => {
            use serde_saphyr::MessageFormatter;
            clean_message(&serde_saphyr::UserMessageFormatter.format_message(other))
        }
    };
    Diagnostic {
        file: source.path.clone(),
        line: line.max(1),
        column: column.max(1),
        path,
        message,
        hint,
    }
}

/// How a population size is described in every message about it, whether the parser or the
/// checks find the problem (`size: -3` and `size: 0` read alike).
pub const SIZE_RULE: &str = "size must be a whole number ≥ 1";

fn is_size(path: &YamlPath) -> bool {
    matches!(path.0.as_slice(), [Seg::Key(p), _, Seg::Key(k)] if p == "populations" && k == "size")
}

/// Whether only comments, blank lines and `---` precede `line`:`column`: the error is about the
/// document as a whole.
fn starts_document(text: &str, line: usize, column: usize) -> bool {
    text.lines().enumerate().take(line).all(|(i, l)| {
        let l = if i + 1 == line {
            let end = l
                .char_indices()
                .nth(column.saturating_sub(1))
                .map_or(l.len(), |(b, _)| b);
            &l[..end]
        } else {
            l
        };
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

fn parent(path: &YamlPath) -> YamlPath {
    let mut segs = path.0.clone();
    segs.pop();
    YamlPath(segs)
}

/// `did you mean `tau`? valid keys here: role, size, tau, …`
fn suggest(given: &str, expected: &[&str], what: &str) -> String {
    let list = expected.join(", ");
    match nearest(given, expected.iter().copied()) {
        Some(c) => format!("did you mean `{c}`? {what}: {list}"),
        None => format!("{what}: {list}"),
    }
}

/// The candidate closest to `given` by edit distance, if it is close enough to be a typo.
fn nearest<'a>(given: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|candidate| (levenshtein(given, candidate), candidate))
        .min()
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 2))
        .map(|(_, c)| c)
}

/// A complete example line for a required key, for the hint of a missing-key error.
fn example_for(field: &str) -> Option<&'static str> {
    Some(match field {
        "name" => "name: my-circuit",
        "time" => "time: {dt: 0.1 ms, duration: 10 s}",
        "dt" => "dt: 0.1 ms",
        "duration" => "duration: 10 s",
        "task" => "task: {kind: linear_teacher, stimulus: {duration: 50 ms}}",
        "kind" => "kind: linear_teacher",
        "stimulus" => "stimulus: {duration: 50 ms}",
        "populations" => "populations: {x: {role: input, size: 30}, y: {size: 10, tau: 5 ms}}",
        "size" => "size: 10",
        "from" => "from: x",
        "to" => "to: h",
        "plastic" => "plastic: W1",
        "rule" => "rule: {m_x: 1}",
        "tau_w" => "tau_w: 2 s",
        _ => return None,
    })
}

/// Words for a Rust scalar type in a parse error.
fn describe_type(ty: &str) -> &'static str {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number ≥ 0",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "bool" => "true or false",
        "char" => "a single character",
        _ => "a different kind of value",
    }
}

/// serde's descriptions of expected values, in the file format's words.
fn plain_expected(expected: &str) -> String {
    if let Some(n) = expected.strip_prefix("a tuple of size ") {
        return format!("a list of {n} numbers");
    }
    match expected {
        "u64" | "usize" | "u32" => "a whole number ≥ 0".into(),
        "f64" | "f32" => "a number".into(),
        e if e.starts_with("struct ") => "a mapping of `key: value` entries".into(),
        e if e.starts_with("enum ") => "one of the listed values".into(),
        e => e.to_string(),
    }
}

/// The scalar text at a location, for quoting in a message (shortened if long).
fn scalar_at(text: &str, line: usize, column: usize) -> String {
    let Some(source_line) = text.lines().nth(line.saturating_sub(1)) else {
        return String::new();
    };
    let rest: String = source_line.chars().skip(column.saturating_sub(1)).collect();
    let rest = rest.trim_start();
    let scalar = if let Some(quoted) = rest.strip_prefix('"') {
        format!("\"{}\"", quoted.split('"').next().unwrap_or(""))
    } else if let Some(quoted) = rest.strip_prefix('\'') {
        format!("'{}'", quoted.split('\'').next().unwrap_or(""))
    } else {
        let end = rest.find([',', '}', ']', '#']).unwrap_or(rest.len());
        rest[..end].trim().to_string()
    };
    if scalar.chars().count() > 40 {
        format!("{}…", scalar.chars().take(40).collect::<String>())
    } else {
        scalar
    }
}

/// A hint for a YAML syntax error from the parser's wording.
fn syntax_hint(message: &str) -> Option<String> {
    let m = message.to_lowercase();
    if m.contains("recursion") || m.contains("nesting") || m.contains("depth") {
        Some("the document is nested far more deeply than a circuit file is".into())
    } else if m.contains("tab") {
        Some("indent with spaces; YAML does not allow tabs in indentation".into())
    } else if m.contains("'-' indicator") {
        Some("a list and a mapping are mixed here: use either `- item` lines or `key: value` lines at one indentation".into())
    } else if m.contains("block mapping")
        || m.contains("block sequence")
        || m.contains("mapping values are not allowed")
        || m.contains("expected key")
        || m.contains("indent")
    {
        Some("check the indentation: the keys of one mapping start in the same column, and nested entries are indented further than their parent; a key needs `: ` after it".into())
    } else if m.contains("bracket") || m.contains("flow") || m.contains("','") {
        Some("every `{` needs a matching `}` and every `[` a matching `]`".into())
    } else if m.contains("quote") || m.contains("quoted") {
        Some("is a quote left open?".into())
    } else {
        None
    }
}

/// For a syntax error about flow collections: the outermost `{` or `[` still open at the error,
/// if it was opened on an earlier line that looks finished (it does not end in `,`, `{` or `[`,
/// as a deliberately multi-line flow collection would). Circuit files write flow collections
/// on one line, so such a bracket is almost certainly the one left open.
fn unclosed_flow(text: &str, error_line: usize, message: &str) -> Option<(usize, usize, char)> {
    let m = message.to_lowercase();
    let about_flow = m.contains("flow")
        || m.contains("bracket")
        || m.contains("','")
        || m.contains("'}'")
        || m.contains("']'")
        || m.contains("end of stream")
        || m.contains("end of input");
    if !about_flow {
        return None;
    }
    let mut open: Vec<(usize, usize, char)> = Vec::new(); // (line, column, bracket)
    let mut suspect = None;
    for (index, raw) in text.lines().enumerate().take(error_line) {
        let line_no = index + 1;
        let line = locate::strip_comment(raw);
        let was_open = !open.is_empty();
        let mut quote: Option<char> = None;
        for (col, c) in line.chars().enumerate() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') if !open.is_empty() => quote = Some(c),
                (None, '{' | '[') => open.push((line_no, col + 1, c)),
                (None, '}' | ']') => {
                    open.pop();
                }
                _ => {}
            }
        }
        let tail = line.trim_end();
        let looks_finished = !(tail.ends_with(',') || tail.ends_with('{') || tail.ends_with('['));
        if !was_open && !open.is_empty() && looks_finished && line_no < error_line {
            suspect = open.first().copied();
        }
        if open.is_empty() {
            suspect = None;
        }
    }
    suspect
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

/// For `unknown field `tua`, expected one of `size`, `tau`…` (serde's wording, with or without
/// backticks around the candidates), suggests the nearest valid key.
pub fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let unknown = rest.split('`').next()?;
    let list = rest.split("expected one of ").nth(1).unwrap_or("");
    let expected: Vec<&str> = list
        .split(',')
        .map(|s| s.trim().trim_matches('`'))
        .filter(|s| !s.is_empty())
        .collect();
    if expected.is_empty() {
        return None;
    }
    Some(suggest(unknown, &expected, "valid keys"))
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

/// Keys whose values are names or other text: a `--set` value for them is the text as given,
/// even where YAML would read it as a boolean or a number (`--set name=y`, `--set name=1e3`).
const TEXT_KEYS: &[&str] = &[
    "name",
    "description",
    "path",
    "from",
    "to",
    "tied",
    "stands_for",
    "gain_from",
    "plastic",
    "modulator",
    "output",
    "kind",
    "role",
    "activation",
    "method",
];

/// Applies `path=value` overrides (`--set learning.tau_w="5 s"`) to a spec. The value is read
/// as YAML, so numbers, strings with units and small maps all work; the result is checked
/// against the schema like the file itself. A value for a text field (a name, a path, a time
/// with its unit) stays text. The returned spec remembers the overrides, so that later checks
/// report their problems against the `--set` argument.
pub fn apply_overrides(
    spec: &CircuitSpec,
    overrides: &[(String, String)],
) -> Result<CircuitSpec, String> {
    if overrides.is_empty() {
        return Ok(spec.clone());
    }
    let mut tree = serde_json::to_value(spec).map_err(|e| e.to_string())?;
    let mut applied = spec.overrides.clone();
    // The first override after which the tree no longer reads as a spec: the one to blame if
    // the end result does not read either (a later override may complete an earlier one).
    let mut first_broken: Option<usize> = None;
    for (i, (path, value_text)) in overrides.iter().enumerate() {
        let argument = format!("{path}={value_text}");
        let parsed = parse_path(path).map_err(|e| format!("--set {argument}: {e}"))?;
        // YAML 1.2 booleans (only true/false): read as YAML 1.1, a population named `y` or
        // `n` inside a mapping (`--set 'record.probes=[{population: y}]'`) turned into a
        // boolean here, although the same text in a file reads as the name.
        let mut options = yaml_options();
        options.strict_booleans = true;
        let mut value: serde_json::Value = serde_saphyr::from_str_with_options(value_text, options)
            .map_err(|e| {
                format!(
                    "--set {argument}: cannot read the value: {}",
                    clean_message(&e.to_string())
                )
            })?;
        let scalar = !(value.is_object() || value.is_array() || value.is_string());
        if scalar && (is_text_at(&tree, &parsed) || is_text_key(&parsed)) {
            value = serde_json::Value::String(value_text.clone());
        }
        set_path(&mut tree, path, value).map_err(|e| format!("--set {argument}: {e}"))?;
        applied.retain(|o| o.path != parsed);
        applied.push(Override {
            path: parsed,
            argument,
        });
        if first_broken.is_none() && serde_json::from_value::<CircuitSpec>(tree.clone()).is_err() {
            first_broken = Some(i);
        }
    }
    let mut out: CircuitSpec = serde_json::from_value(tree).map_err(|e| {
        let (path, value) = &overrides[first_broken.unwrap_or(overrides.len() - 1)];
        format!("--set {path}={value}: {}", plain_json_error(&e.to_string()))
    })?;
    out.overrides = applied;
    Ok(out)
}

/// Whether the current value at `path` is text (the key exists and holds a string).
fn is_text_at(tree: &serde_json::Value, path: &YamlPath) -> bool {
    let mut node = tree;
    for seg in &path.0 {
        node = match (seg, node) {
            (Seg::Key(k), serde_json::Value::Object(map)) => match map.get(k) {
                Some(n) => n,
                None => return false,
            },
            (Seg::Index(i), serde_json::Value::Array(list)) => match list.get(*i) {
                Some(n) => n,
                None => return false,
            },
            _ => return false,
        };
    }
    node.is_string()
}

fn is_text_key(path: &YamlPath) -> bool {
    matches!(path.0.last(), Some(Seg::Key(k)) if TEXT_KEYS.contains(&k.as_str()))
}

/// serde_json's words for a value that does not fit the schema, in the file format's words.
fn plain_json_error(message: &str) -> String {
    let message = message
        .replace("usize", "a whole number ≥ 0")
        .replace("u64", "a whole number ≥ 0")
        .replace("f64", "a number")
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing required key");
    match message.split_once(", expected one of") {
        Some((head, tail)) => format!("{head}; valid keys:{tail}"),
        None => message,
    }
}

/// The `--set` argument behind a diagnostic's setting, if one set it (or a mapping above it).
pub fn override_for<'a>(spec: &'a CircuitSpec, path: &YamlPath) -> Option<&'a Override> {
    spec.overrides
        .iter()
        .filter(|o| path.0.starts_with(&o.path.0))
        .max_by_key(|o| o.path.0.len())
}

/// Moves diagnostics about settings that came from `--set` onto those arguments.
pub fn relocate_overridden(spec: &CircuitSpec, diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics
        .into_iter()
        .map(|d| match override_for(spec, &d.path) {
            Some(o) if !d.is_outside_file() => Diagnostic::outside_file(
                &format!("--set {}", o.argument),
                d.path,
                d.message,
                d.hint,
            ),
            _ => d,
        })
        .collect()
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

    fn parse(text: &str) -> Diagnostic {
        let source = SourceFile::from_text(Path::new("c.yaml"), text.to_string());
        parse_circuit(&source).unwrap_err().0.remove(0)
    }

    #[test]
    fn an_unclosed_bracket_is_reported_where_it_opens() {
        let d = parse("name: x\ntime: {dt: 1 ms, duration: 1 s\ntask: {kind: digits}\n");
        assert_eq!((d.line, d.column), (2, 7), "{d}");
        assert!(d.message.contains("`{` opened here is never closed"), "{d}");
        // A flow mapping spread over lines on purpose is not mistaken for an unclosed one.
        let text = "time: {dt: 1 ms,\n  duration: 1 s}\nx: [1, 2\ny: 3\n";
        assert_eq!(
            unclosed_flow(text, 4, "did not find expected ','"),
            Some((3, 4, '['))
        );
    }

    #[test]
    fn a_missing_key_points_at_its_mapping() {
        let d = parse("name: x\ntime: {dt: 1 ms}\n");
        assert_eq!((d.line, d.column), (2, 1), "{d}");
        assert_eq!(d.path.to_string(), "time");
        assert!(d.message.contains("missing required key `duration`"), "{d}");
    }

    #[test]
    fn a_population_named_y_stays_a_name_inside_a_set_mapping() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("circuits/teacher_fa.yaml"),
        )
        .unwrap();
        let source = SourceFile::from_text(Path::new("c.yaml"), text);
        let spec = parse_circuit(&source).unwrap();
        let probes = "[{population: y, variable: rate}, {population: n, variable: rate}]";
        let out = apply_overrides(&spec, &[("record.probes".into(), probes.into())]).unwrap();
        let names: Vec<String> = out
            .record
            .probes
            .iter()
            .map(|p| p.population.clone())
            .collect();
        assert_eq!(names, ["y", "n"]);
        // true and false stay booleans.
        let keep = apply_overrides(&spec, &[("learning.tau_w".into(), "true".into())]);
        assert!(keep.is_err(), "a boolean is not a time");
    }

    #[test]
    fn document_start_skips_comments() {
        assert!(starts_document("# c\n\n- a\n", 3, 1));
        assert!(!starts_document("name: x\n- a\n", 2, 1));
    }

    #[test]
    fn nearest_key_is_suggested() {
        let hint = unknown_field_hint("unknown field `tua`, expected one of `role`, `size`, `tau`")
            .unwrap();
        assert!(hint.starts_with("did you mean `tau`?"), "{hint}");
        let hint =
            unknown_field_hint("unknown field `tua`, expected one of role, size, tau").unwrap();
        assert!(hint.starts_with("did you mean `tau`?"), "{hint}");
        assert!(hint.ends_with("role, size, tau"), "{hint}");
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
