//! The exceptions Python sees. `CircuitError` carries the library's located diagnostics (the
//! `file:line:column` text the CLI prints); `UsageError` a request that cannot run as asked (an
//! override, a rule list, an existing output directory); `RunError` a run that failed (a
//! device, a disk). All derive from `HetsimError`.

use hetsim::evolve::EvolveError;
use hetsim::experiment::ExperimentError;
use hetsim::sweep::SweepError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

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
