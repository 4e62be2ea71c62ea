//! `load_circuit` and the `Circuit` class: a circuit file (or YAML text) with its overrides,
//! read, expanded and checked exactly as `hetsim validate` and `hetsim run` do. The object keeps
//! the source and overrides, so a run from it reads the same text the check read.

use crate::errors;
use hetsim::experiment::{CircuitSource, Design, design};
use pyo3::prelude::*;
use std::path::PathBuf;

/// A validated circuit.
#[pyclass(module = "hetsim._hetsim", frozen)]
pub struct Circuit {
    pub source: CircuitSource,
    /// The circuit's name.
    #[pyo3(get)]
    name: String,
    /// The one-line summary `hetsim validate` prints.
    #[pyo3(get)]
    summary: String,
    /// The circuit with `learning:` written out (what `hetsim expand` prints).
    #[pyo3(get)]
    expanded: String,
    /// The circuit as written, with the overrides applied (before `learning:` is written out):
    /// the text the Python `Circuit` edits as nested dicts.
    #[pyo3(get)]
    spec_yaml: String,
    /// The checks' warnings, located.
    #[pyo3(get)]
    warnings: Vec<String>,
}

#[pymethods]
impl Circuit {
    /// The path the circuit was read from (or that names its text in messages).
    #[getter]
    fn path(&self) -> String {
        self.source.path.display().to_string()
    }
    /// The file's text, as given (None when it was read from the path).
    #[getter]
    fn text(&self) -> Option<String> {
        self.source.text.clone()
    }
    /// The overrides, as (path, value) pairs.
    #[getter]
    fn overrides(&self) -> Vec<(String, String)> {
        self.source.sets.clone()
    }
    fn __repr__(&self) -> String {
        // The summary starts with the name; say it once.
        let rest = self
            .summary
            .strip_prefix(&format!("{}: ", self.name))
            .unwrap_or(&self.summary);
        format!("<hetsim.Circuit `{}`: {rest}>", self.name)
    }
}

/// Builds the source a request reads.
pub fn source(
    path: PathBuf,
    text: Option<String>,
    base_dir: Option<PathBuf>,
    sets: Vec<(String, String)>,
    duration: Option<String>,
) -> CircuitSource {
    CircuitSource {
        path,
        text,
        base_dir,
        sets,
        duration,
    }
}

/// Reads, overrides, expands and checks a circuit; errors are `CircuitError` (located) or
/// `UsageError` (an override that does not apply).
#[pyfunction]
#[pyo3(signature = (path, text=None, base_dir=None, sets=Vec::new(), duration=None))]
pub fn load_circuit(
    path: &Bound<'_, PyAny>,
    text: Option<String>,
    base_dir: Option<&Bound<'_, PyAny>>,
    sets: Vec<(String, String)>,
    duration: Option<String>,
) -> PyResult<Circuit> {
    let path = errors::path(path)?;
    let base_dir = errors::optional_path(base_dir)?;
    errors::guard(|| {
        let source = source(path, text, base_dir, sets, duration);
        let (file, spec) = source.load().map_err(errors::experiment)?;
        // Checked against the budget a run would have (`HETSIM_MEMORY_BUDGET`, else the
        // machine's), as `hetsim validate` checks it.
        let budget = crate::running::settings("auto", "auto", None)?.budget;
        let (circuits, _) = design::circuits(&Design::Run, &file, &spec, &budget)
            .map_err(errors::experiment)?;
        let Some((_, c)) = circuits.first() else {
            return Err(errors::UsageError::new_err(
                "the circuit makes no circuit to run",
            ));
        };
        Ok(Circuit {
            name: c.spec.name.clone(),
            summary: c.summary(),
            expanded: hetsim::spec::to_yaml(&c.spec),
            spec_yaml: hetsim::spec::to_yaml(&spec),
            warnings: c.warnings.iter().map(|w| w.to_string()).collect(),
            source,
        })
    })
}
