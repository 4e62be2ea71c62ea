//! The exceptions Python sees. `CircuitError` carries the library's located diagnostics (the
//! `file:line:column` text the CLI prints); `UsageError` a request that cannot run as asked (an
//! override, a rule list, an existing output directory); `RunError` a run that failed (a
//! device, a disk). All derive from `HetsimError`.
//!
//! Arguments that are paths are converted by [`path`] (not PyO3's own conversion, which panics
//! on a string the file system cannot encode), and every call runs inside [`guard`], so that
//! a bug that panics still reaches Python as a `RunError` saying so, never as the
//! `PanicException` that `except Exception` does not catch.

use hetsim::evolve::EvolveError;
use hetsim::experiment::ExperimentError;
use hetsim::sweep::SweepError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use std::path::PathBuf;

create_exception!(
    _hetsim,
    HetsimError,
    PyException,
    "Any error hetsim reports."
);
create_exception!(
    _hetsim,
    CircuitError,
    HetsimError,
    "A circuit (or sweep or evolution) file is malformed; the message locates every error as file:line:column."
);
create_exception!(
    _hetsim,
    UsageError,
    HetsimError,
    "A request that cannot be run as asked."
);
create_exception!(
    _hetsim,
    RunError,
    HetsimError,
    "A run that failed (a device, a disk)."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("HetsimError", py.get_type::<HetsimError>())?;
    m.add("CircuitError", py.get_type::<CircuitError>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("RunError", py.get_type::<RunError>())?;
    Ok(())
}

pub fn experiment(e: ExperimentError) -> PyErr {
    match &e {
        ExperimentError::Input(d) => CircuitError::new_err(d.to_string()),
        _ if e.is_bad_input() => UsageError::new_err(e.to_string()),
        _ => RunError::new_err(e.to_string()),
    }
}

pub fn sweep(e: SweepError) -> PyErr {
    match e {
        SweepError::Input(d) => CircuitError::new_err(d.to_string()),
        SweepError::Experiment(e) => experiment(e),
        e if e.is_bad_input() => UsageError::new_err(e.to_string()),
        e => RunError::new_err(e.to_string()),
    }
}

pub fn evolve(e: EvolveError) -> PyErr {
    match e {
        EvolveError::Input(d) => CircuitError::new_err(d.to_string()),
        EvolveError::Experiment(e) => experiment(e),
        e if e.is_bad_input() => UsageError::new_err(e.to_string()),
        e => RunError::new_err(e.to_string()),
    }
}

/// A path argument (`str`, `bytes` or `os.PathLike`) as `os.fsencode` encodes it: a string
/// the file system cannot encode raises `UnicodeEncodeError`, other types `TypeError`.
pub fn path(obj: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    let encoded = obj.py().import("os")?.call_method1("fsencode", (obj,))?;
    let bytes: Vec<u8> = encoded.extract()?;
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
    }
    #[cfg(not(unix))]
    {
        Ok(PathBuf::from(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// [`path`] for an optional argument.
pub fn optional_path(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<PathBuf>> {
    obj.filter(|o| !o.is_none()).map(path).transpose()
}

/// Runs a call's body; a panic (a bug) becomes a `RunError` with the panic's message.
pub fn guard<T>(body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "no message".into());
            Err(RunError::new_err(format!(
                "internal error in hetsim (a bug; please report it with the call that caused it): {message}"
            )))
        }
    }
}
