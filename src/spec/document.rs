//! Other YAML documents of the project (evolution and, later, sweep files) parsed with the same
//! located errors as circuit files: syntax first, then the schema, each error at file, line,
//! column and YAML path.

use super::{Diagnostics, SourceFile, yaml_error_diagnostic, yaml_options};
use serde::de::DeserializeOwned;

/// Parses `source` as a `T` (a serde type with `deny_unknown_fields`).
pub fn parse_document<T: DeserializeOwned>(source: &SourceFile) -> Result<T, Diagnostics> {
    serde_saphyr::from_str_with_options::<serde::de::IgnoredAny>(&source.text, yaml_options())
        .map_err(|e| Diagnostics(vec![yaml_error_diagnostic(source, &e)]))?;
    serde_saphyr::from_str_with_options::<T>(&source.text, yaml_options())
        .map_err(|e| Diagnostics(vec![yaml_error_diagnostic(source, &e)]))
}
