//! A located error message: file, line, column, YAML path, what is wrong and a hint.
//!
//! Shared by parsing (`spec`) and meaning checks (`circuit`) so every error a user sees about a
//! circuit file has the same shape and can be collected into one report.

use super::locate::{Locator, YamlPath};
use std::fmt;
use std::path::{Path, PathBuf};

/// `line` 0 marks a diagnostic about something outside the file (a `--set` argument, an
/// environment variable); `file` then names that origin, and no line or column is shown.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub path: YamlPath,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic for `path`, located through `locator` (line 1 when the path is absent).
    pub fn at(
        file: &Path,
        locator: &Locator,
        path: YamlPath,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        let (line, column) = locator.locate(&path).unwrap_or((1, 1));
        Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            path,
            message: message.into(),
            hint,
        }
    }
}

impl Diagnostic {
    /// A diagnostic about a setting that came from outside the file: `origin` is e.g.
    /// `--set task.held_out=1e12` or `HETSIM_MEMORY_BUDGET`.
    pub fn outside_file(
        origin: &str,
        path: YamlPath,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Diagnostic {
            file: PathBuf::from(origin),
            line: 0,
            column: 0,
            path,
            message: message.into(),
            hint,
        }
    }

    pub fn is_outside_file(&self) -> bool {
        self.line == 0
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_outside_file() {
            write!(f, "{}: ", self.file.display())?;
        } else {
            write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        }
        if !self.path.0.is_empty() {
            write!(f, "`{}`: ", self.path)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Several diagnostics, reported together.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
