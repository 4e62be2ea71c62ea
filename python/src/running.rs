//! `run` and `compare`: one `experiment::Request` from the Python arguments, prepared (every
//! check before anything runs) and executed on a worker thread with Ctrl-C as its stop flag.
//! Into memory the tables come back as columns built from the same cells the run directory
//! writes; into a directory the Python side reads the files.

use crate::circuit::Circuit;
use crate::progress::RunWatch;
use crate::{columns, errors, interrupt};
use hetsim::backend::{BackendKind, Precision};
use hetsim::experiment::{Design, ExperimentError, Output, Prepared, Request, Threads};
use hetsim::record::Collector;
use hetsim::record::tables::WeightRow;
use hetsim::settings::{Explicit, Settings, process_environment};
use hetsim::spec::RuleName;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// The request's design: the circuit's own rule, or `compare`'s rules.
fn design(rules: Option<Vec<String>>) -> PyResult<Design> {
    let Some(rules) = rules else {
        return Ok(Design::Run);
    };
    let parsed = rules
        .iter()
        .map(|r| {
            RuleName::from_name(r.trim()).ok_or_else(|| {
                let known: Vec<_> = RuleName::ALL.iter().map(|r| r.name()).collect();
                errors::UsageError::new_err(format!(
                    "unknown rule `{r}`; the rules are {}",
                    known.join(", ")
                ))
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Design::Compare { rules: parsed })
}

pub fn backend(name: &str) -> PyResult<BackendKind> {
    name.parse::<BackendKind>()
        .map_err(|e| PyValueError::new_err(format!("backend: {e}")))
}

pub fn precision(name: &str) -> PyResult<Option<Precision>> {
    if name == "auto" {
        return Ok(None);
    }
    Precision::parse(name).map(Some).ok_or_else(|| {
        PyValueError::new_err(format!("precision must be auto, f64 or f32, not `{name}`"))
    })
}

/// The settings of a call: its arguments over the environment (`HETSIM_SIMD`,
/// `HETSIM_MEMORY_BUDGET`, the OpenCL variables), resolved once as the command line resolves
/// them, and carried in the request.
pub fn settings(backend: &str, precision: &str, threads: Option<usize>) -> PyResult<Settings> {
    let (backend, precision, threads) = (
        self::backend(backend)?,
        self::precision(precision)?,
        self::threads(threads)?,
    );
    let from_environment = Settings::resolve(&Explicit::default(), &process_environment)
        .map_err(errors::UsageError::new_err)?;
    Ok(Settings {
        backend,
        precision,
        threads,
        ..from_environment
    })
}

/// `threads=`: None (every core) or a count of at least 1.
pub fn threads(n: Option<usize>) -> PyResult<Threads> {
    match n {
        None => Ok(Threads::DEFAULT),
        Some(n) => Threads::exactly(n).map_err(|e| PyValueError::new_err(format!("threads {e}"))),
    }
}

/// The collected tables as columns, keyed by the run directory's file stems.
fn tables<'py>(py: Python<'py>, c: &Collector) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item(
        "instances",
        columns::table(py, &c.instances.header, &c.instances.rows)?,
    )?;
    let header = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let rows: Vec<Vec<String>> = c.rows.iter().map(|r| r.cells()).collect();
    out.set_item(
        "metrics",
        columns::table(py, &header(&hetsim::record::metrics::COLUMNS), &rows)?,
    )?;
    if !c.traces.is_empty() {
        // As `Recorder::traces` writes them: traces follow instance 0.
        let rows: Vec<Vec<String>> = c
            .traces
            .iter()
            .map(|p| {
                vec![
                    format!("{:.6}", p.time_s),
                    "0".into(),
                    p.signal.clone(),
                    format!("{:.6e}", p.value),
                ]
            })
            .collect();
        out.set_item(
            "traces",
            columns::table(
                py,
                &header(&["time_s", "instance", "signal", "value"]),
                &rows,
            )?,
        )?;
    }
    if !c.weights.is_empty() {
        let rows: Vec<Vec<String>> = c
            .weights
            .iter()
            .map(|w| WeightRow::cells(w).to_vec())
            .collect();
        out.set_item(
            "weights",
            columns::table(py, &header(&hetsim::record::tables::WEIGHT_COLUMNS), &rows)?,
        )?;
    }
    // The probe tables, as `Recorder` writes them (present whenever the circuit asks for them).
    use hetsim::record::probes::{PROBE_COLUMNS, ProbeRow, SNAPSHOT_COLUMNS, SnapshotRow};
    if !c.probes.is_empty() {
        let rows: Vec<Vec<String>> = c
            .probes
            .iter()
            .map(|r| ProbeRow::cells(r).to_vec())
            .collect();
        out.set_item(
            "probes",
            columns::table(py, &header(&PROBE_COLUMNS), &rows)?,
        )?;
    }
    if !c.weight_snapshots.is_empty() {
        let rows: Vec<Vec<String>> = c
            .weight_snapshots
            .iter()
            .map(|r| SnapshotRow::cells(r).to_vec())
            .collect();
        out.set_item(
            "weight_snapshots",
            columns::table(py, &header(&SNAPSHOT_COLUMNS), &rows)?,
        )?;
    }
    Ok(out)
}

/// Runs (`rules=None`) or compares a circuit. Returns a dict: `status`, `interrupted`,
/// `manifest` (JSON text), `dir` (None in memory), `tables` (in memory), `summary` (the table
/// the CLI prints), `notes`, `warnings`, `figures`.
#[pyfunction]
#[pyo3(signature = (circuit, rules=None, seeds=1, seed=1, backend="auto", precision="auto", out=None, replace=false, figures=false, command_line=Vec::new(), threads=None, progress=None, from_run=None, carry_activities=false))]
#[allow(clippy::too_many_arguments)]
pub fn run<'py>(
    py: Python<'py>,
    circuit: &Circuit,
    rules: Option<Vec<String>>,
    seeds: usize,
    seed: u64,
    backend: &str,
    precision: &str,
    out: Option<&Bound<'py, PyAny>>,
    replace: bool,
    figures: bool,
    command_line: Vec<String>,
    threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
    from_run: Option<String>,
    carry_activities: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let out = errors::optional_path(out)?;
    errors::guard(|| {
        let settings = self::settings(backend, precision, threads)?;
        let request = Request {
            circuit: circuit.source.clone(),
            design: design(rules)?,
            seeds,
            first_seed: seed,
            backend: settings.backend,
            precision: settings.precision,
            backend_options: settings.backend_options,
            budget: settings.budget,
            output: match out {
                None => Output::Memory,
                Some(path) => Output::Directory {
                    path: Some(path),
                    replace,
                },
            },
            command_line,
            threads: settings.threads,
            checkpoint_every: None,
            from: from_run,
            carry_activities,
        };
        execute(py, progress, figures, move || request.prepare())
    })
}

/// `hetsim run --resume RUN_DIR`: the run continued from its newest checkpoint, in its own
/// directory. Returns the dict [`run`] returns.
#[pyfunction]
#[pyo3(signature = (run_dir, command_line=Vec::new(), threads=None, progress=None))]
pub fn resume<'py>(
    py: Python<'py>,
    run_dir: &Bound<'py, PyAny>,
    command_line: Vec<String>,
    threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let run_dir = errors::path(run_dir)?;
    errors::guard(|| {
        let settings = self::settings("auto", "auto", threads)?;
        execute(py, progress, true, move || {
            Request::resume(
                &run_dir,
                command_line,
                settings.threads,
                settings.backend_options,
                settings.budget,
            )
        })
    })
}

/// Prepares (on the worker thread) and runs a request, draws its figures if `figures` and it
/// wrote a directory, and describes the outcome.
fn execute<'py>(
    py: Python<'py>,
    progress: Option<&Bound<'py, PyAny>>,
    figures: bool,
    prepare: impl FnOnce() -> Result<Prepared, ExperimentError> + Send,
) -> PyResult<Bound<'py, PyDict>> {
    let (result, interrupted) = interrupt::run(py, progress, move |stop, latest| {
        let prepared = prepare()?;
        let notes = prepared.notes.clone();
        let warnings = prepared.warnings.clone();
        let backend = prepared.backend_description();
        let mut finished = prepared.execute(&mut RunWatch(latest), Some(stop))?;
        if figures {
            hetsim::drawing::run(&mut finished);
        }
        Ok::<_, ExperimentError>((finished, notes, warnings, backend))
    })?;
    let (finished, notes, warnings, backend) = result.map_err(errors::experiment)?;
    let d = PyDict::new(py);
    d.set_item("status", finished.manifest.status.name())?;
    d.set_item("interrupted", interrupted)?;
    d.set_item(
        "manifest",
        serde_json::to_string(&finished.manifest).unwrap_or_default(),
    )?;
    // The path itself (not its display), so a name that is not UTF-8 round-trips.
    d.set_item("dir", finished.dir.as_ref())?;
    d.set_item("summary", finished.summary.table())?;
    d.set_item("notes", notes)?;
    d.set_item("warnings", warnings)?;
    // What the CLI's first line says the run ran on (the backend, its precision and threads).
    d.set_item("backend", backend)?;
    let figure_files: Vec<PathBuf> = match &finished.figures {
        Some(Ok(paths)) => paths.clone(),
        _ => Vec::new(),
    };
    d.set_item("figures", figure_files)?;
    if let Some(c) = &finished.collected {
        d.set_item("tables", tables(py, c)?)?;
    }
    Ok(d)
}
