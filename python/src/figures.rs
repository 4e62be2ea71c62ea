//! The CLI's figures and colours for Python: `draw` renders a directory's figures as SVG with
//! the library's plot module (the same code `hetsim plot` runs), into a folder the caller gives,
//! so `Result.figure` can show them inline; `palette` and `colours` are the figures' colours.
//! The Python side hands over a folder of run files (a directory hetsim wrote, or the tables of a
//! run kept in memory written out), so nothing here writes into a user's run directory.

use crate::errors;
use hetsim::plot::{self, FIGURES, Formats};
use hetsim::spec::RuleName;
use pyo3::prelude::*;
use std::path::PathBuf;

fn plot_error(e: plot::PlotError) -> PyErr {
    errors::RunError::new_err(format!("figures: {e}"))
}

/// Draws the figures of the run, sweep or evolution in `dir` as SVG: for a run, those whose kind
/// (`learning_curves`, `alignment`, `hebbian`, `learning_strength`, `traces`, `weights`,
/// `plasticity`) is `kind` (every kind when None) into `out`; a sweep's or an evolution's into
/// `dir/figures` (their plot functions choose the folder). Returns the files written and the
/// warnings about what was drawn around.
#[pyfunction]
#[pyo3(signature = (dir, out, kind=None))]
pub fn draw(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    kind: Option<String>,
) -> PyResult<(Vec<PathBuf>, Vec<String>)> {
    let dir = errors::path(dir)?;
    let out = errors::path(out)?;
    errors::guard(|| {
        py.detach(|| {
            // As `plot_run_reporting` tells them apart (a sweep has a metrics.csv too).
            let evolution =
                dir.join("generations.csv").is_file() && !dir.join("metrics.csv").exists();
            let sweep = dir.join("summary.csv").is_file() && dir.join("sweep.yaml").is_file();
            if evolution || sweep {
                return plot::plot_run_reporting(&dir, Formats::SVG);
            }
            let run = plot::load_run(&dir)?;
            let wanted = |name: &str| kind.as_deref().is_none_or(|k| k == name);
            let mut written = Vec::new();
            for (name, figure) in FIGURES {
                if wanted(name) {
                    written.extend(figure(&run, &out, Formats::SVG)?);
                }
            }
            let mut warnings = run.warnings.clone();
            if wanted("plasticity") {
                let samples = plot::data::read_plasticity(&dir, &mut warnings)?;
                written.extend(plot::plasticity::plasticity(
                    &run,
                    &samples,
                    &out,
                    Formats::SVG,
                )?);
            }
            Ok((written, warnings))
        })
        .map_err(plot_error)
    })
}

/// The figure kinds of a run, in the order the CLI draws them.
#[pyfunction]
pub fn figure_kinds() -> Vec<&'static str> {
    FIGURES
        .iter()
        .map(|(name, _)| *name)
        .chain(["plasticity"])
        .collect()
}

/// The colour of each label as a figure with these labels (in this order) draws it: the
/// rules' fixed colours, other labels the next free colour; as `#rrggbb`.
#[pyfunction]
pub fn colours(labels: Vec<String>) -> Vec<(String, String)> {
    plot::label_colours(&labels)
        .into_iter()
        .map(|(l, c)| (l, format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)))
        .collect()
}

/// Every rule's colour, as the CLI's figures draw them.
#[pyfunction]
pub fn palette() -> Vec<(String, String)> {
    let rules: Vec<String> = RuleName::ALL.iter().map(|r| r.name().to_string()).collect();
    colours(rules)
}
