//! `hetsim._hetsim`: the compiled half of the Python package. It turns Python arguments into the
//! library's requests (`hetsim::experiment`, `hetsim::sweep`, `hetsim::evolve`), runs them with
//! the GIL released and Ctrl-C turned into the library's stop flag, and hands back plain
//! columns, which `hetsim/` (pure Python) makes into pandas DataFrames.
//!
//! - [`errors`]: the exception classes and the mapping of library errors onto them;
//! - [`columns`]: table cells (as the run directory writes them) into typed columns;
//! - [`interrupt`]: a job on a worker thread while the calling thread watches for signals;
//! - [`circuit`]: `load_circuit` and the `Circuit` class;
//! - [`running`]: `run` / `compare`;
//! - [`batch`]: `sweep` and `evolve`;
//! - [`progress`]: the job's progress, polled into a Python callback;
//! - [`figures`]: the CLI's figures as SVG, and its colours.

mod batch;
mod circuit;
mod columns;
mod errors;
mod figures;
mod interrupt;
mod progress;
mod running;

use pyo3::prelude::*;

#[pymodule]
fn _hetsim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<circuit::Circuit>()?;
    m.add_function(wrap_pyfunction!(circuit::load_circuit, m)?)?;
    m.add_function(wrap_pyfunction!(running::run, m)?)?;
    m.add_function(wrap_pyfunction!(running::resume, m)?)?;
    m.add_function(wrap_pyfunction!(batch::sweep, m)?)?;
    m.add_function(wrap_pyfunction!(batch::evolve, m)?)?;
    m.add_function(wrap_pyfunction!(columns::metrics_header, m)?)?;
    m.add_function(wrap_pyfunction!(figures::draw, m)?)?;
    m.add_function(wrap_pyfunction!(figures::figure_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(figures::colours, m)?)?;
    m.add_function(wrap_pyfunction!(figures::palette, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
