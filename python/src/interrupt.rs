//! Long jobs with the GIL released and Ctrl-C working. The job runs on a worker thread; the
//! calling (Python main) thread, without the GIL, polls the worker every 50 ms and in between
//! takes the GIL just long enough for `Python::check_signals`, which runs Python's own signal
//! handlers. A `KeyboardInterrupt` there sets the job's stop flag: the library stops after the
//! current recording window (a run), inside the current ensemble (a sweep) or after the
//! current generation (an evolution), and the job returns normally with status `interrupted`.
//! Further Ctrl-C's while it stops are absorbed (the rows are kept); any other exception a
//! signal handler raises stops the job too and is raised once it has stopped.

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Runs `job` with a stop flag; returns its result and whether Ctrl-C was pressed, or the
/// exception a signal handler raised.
pub fn run<T: Send>(
    py: Python<'_>,
    job: impl FnOnce(&AtomicBool) -> T + Send,
) -> PyResult<(T, bool)> {
    let stop = AtomicBool::new(false);
    let mut interrupted = false;
    let mut raised: Option<PyErr> = None;
    let out = py.detach(|| {
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| job(&stop));
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(50));
                Python::attach(|py| {
                    if let Err(e) = py.check_signals() {
                        stop.store(true, Ordering::SeqCst);
                        if e.is_instance_of::<PyKeyboardInterrupt>(py) {
                            interrupted = true;
                        } else if raised.is_none() {
                            raised = Some(e);
                        }
                    }
                });
            }
            match worker.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    });
    match raised {
        Some(e) => Err(e),
        None => Ok((out, interrupted)),
    }
}
