//! `sweep` and `evolve`: the library's sweep and evolution loops into their directories, on a
//! worker thread with Ctrl-C as the stop flag. The Python side reads the tables they write.

use crate::progress::Update;
use crate::running::settings;
use crate::{errors, interrupt};
use hetsim::evolve::EvolveRequest;
use hetsim::sweep::SweepRequest;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

fn figure_list(f: &Option<Result<Vec<PathBuf>, String>>) -> Vec<PathBuf> {
    match f {
        Some(Ok(paths)) => paths.clone(),
        _ => Vec::new(),
    }
}

/// Runs (or resumes) a sweep. `text` is the sweep file's text when it did not come from `path`
/// (`path` then only says where the circuit path inside it is relative to).
#[pyfunction]
#[pyo3(signature = (path, text=None, out=None, resume=false, backend="auto", precision="auto", ensemble_size=None, figures=false, command_line=Vec::new(), threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn sweep<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    text: Option<String>,
    out: Option<&Bound<'py, PyAny>>,
    resume: bool,
    backend: &str,
    precision: &str,
    ensemble_size: Option<usize>,
    figures: bool,
    command_line: Vec<String>,
    threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let path = errors::path(path)?;
    let out = errors::optional_path(out)?;
    // As the command line refuses `--ensemble-size 0`.
    if ensemble_size == Some(0) {
        return Err(errors::UsageError::new_err(
            "ensemble_size must be at least 1",
        ));
    }
    errors::guard(|| {
        let settings = settings(backend, precision, threads)?;
        let request = SweepRequest {
            path,
            text,
            out,
            resume,
            backend: settings.backend,
            precision: settings.precision,
            backend_options: settings.backend_options,
            budget: settings.budget,
            shard: None,
            ensemble_size,
            command_line,
            overrides: Default::default(),
            threads: settings.threads,
        };
        let (result, interrupted) = interrupt::run(py, progress, |stop, latest| {
            let mut outcome = hetsim::sweep::sweep(
                &request,
                &mut |p| latest.put(Update::Sweep(p.clone())),
                Some(stop),
            )?;
            if figures {
                hetsim::drawing::sweep(&mut outcome);
            }
            Ok::<_, hetsim::sweep::SweepError>(outcome)
        })?;
        let outcome = result.map_err(errors::sweep)?;
        let d = PyDict::new(py);
        d.set_item("dir", &outcome.dir)?;
        d.set_item("status", outcome.status.name())?;
        d.set_item("interrupted", interrupted)?;
        d.set_item("points_done", outcome.points_done)?;
        d.set_item("points_total", outcome.points_total)?;
        d.set_item("instances_failed", outcome.instances_failed)?;
        d.set_item("wall_s", outcome.wall_s)?;
        d.set_item("notes", outcome.notes.clone())?;
        d.set_item("figures", figure_list(&outcome.figures))?;
        Ok(d)
    })
}

/// Runs (or resumes) an evolution.
#[pyfunction]
#[pyo3(signature = (path, out=None, resume=false, backend="auto", precision="auto", generations=None, command_line=Vec::new(), replace=false, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn evolve<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
    resume: bool,
    backend: &str,
    precision: &str,
    generations: Option<u64>,
    command_line: Vec<String>,
    replace: bool,
    threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let path = errors::path(path)?;
    let out = errors::optional_path(out)?;
    errors::guard(|| {
        let settings = settings(backend, precision, threads)?;
        let request = EvolveRequest {
            path,
            out,
            resume,
            replace,
            backend: settings.backend,
            precision: settings.precision,
            backend_options: settings.backend_options,
            budget: settings.budget,
            generations,
            command_line,
        };
        // The evolution loop takes no thread count: it runs whole in a pool of that size.
        let pool = settings
            .threads
            .pool()
            .map_err(|e| errors::UsageError::new_err(format!("threads: {e}")))?;
        let (result, interrupted) = interrupt::run(py, progress, |stop, latest| {
            pool.install(|| {
                let mut outcome = hetsim::evolve::evolve(
                    &request,
                    &mut |g| latest.put(Update::Evolve(g.clone())),
                    Some(stop),
                )?;
                hetsim::drawing::evolution(&mut outcome);
                Ok::<_, hetsim::evolve::EvolveError>(outcome)
            })
        })?;
        let outcome = result.map_err(errors::evolve)?;
        let d = PyDict::new(py);
        d.set_item("dir", &outcome.dir)?;
        d.set_item("status", outcome.status.name())?;
        d.set_item("interrupted", interrupted)?;
        d.set_item("generations_done", outcome.generations_done)?;
        d.set_item("best_fitness", outcome.best_fitness)?;
        d.set_item("best_theta", outcome.best_theta.clone())?;
        d.set_item("figures", figure_list(&outcome.figures))?;
        Ok(d)
    })
}
