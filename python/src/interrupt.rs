//! Long jobs with the GIL released, Ctrl-C working and progress reported. The job runs on a
//! worker thread; the calling (Python main) thread, without the GIL, polls the worker every
//! 50 ms and in between takes the GIL just long enough for `Python::check_signals`, which runs
//! Python's own signal handlers, and to hand the job's newest progress (if any came since the
//! last poll) to the caller's progress callback. A `KeyboardInterrupt` there sets the job's
//! stop flag: the library stops after the current recording window (a run), inside the current
//! ensemble (a sweep) or after the current generation (an evolution), and the job returns
//! normally with status `interrupted`. Further Ctrl-C's while it stops are absorbed (the rows
//! are kept); any other exception a signal handler or the callback raises stops the job too and
//! is raised once it has stopped (the callback is not called again).

use crate::progress::{Latest, Update};
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Runs `job` with a stop flag and a progress slot; `callback` (when given) is called with each
/// update the poller finds, and once more with the last one after the job ends. Returns the
/// job's result and whether Ctrl-C was pressed, or the exception a signal handler or the
/// callback raised.
pub fn run<T: Send>(
    py: Python<'_>,
    callback: Option<&Bound<'_, PyAny>>,
    job: impl FnOnce(&AtomicBool, &Latest) -> T + Send,
) -> PyResult<(T, bool)> {
    let stop = AtomicBool::new(false);
    let latest = Latest::default();
    let callback = callback
        .filter(|c| !c.is_none())
        .map(|c| c.clone().unbind());
    let mut interrupted = false;
    let mut raised: Option<PyErr> = None;
    // With the GIL held: the callback with the newest update (if any), then the signal handlers.
    let poll = |py: Python<'_>, interrupted: &mut bool, raised: &mut Option<PyErr>| {
        let mut errors = Vec::new();
        if raised.is_none()
            && let (Some(cb), Some(update)) = (&callback, latest.take())
            && let Err(e) = call(py, cb, &update)
        {
            errors.push(e);
        }
        if let Err(e) = py.check_signals() {
            errors.push(e);
        }
        for e in errors {
            stop.store(true, Ordering::SeqCst);
            if e.is_instance_of::<PyKeyboardInterrupt>(py) {
                *interrupted = true;
            } else if raised.is_none() {
                *raised = Some(e);
            }
        }
    };
    let out = py.detach(|| {
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| job(&stop, &latest));
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(50));
                Python::attach(|py| poll(py, &mut interrupted, &mut raised));
            }
            match worker.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    });
    // The last update (the bar's end), unless the callback already failed.
    if raised.is_none()
        && let (Some(cb), Some(update)) = (&callback, latest.take())
        && let Err(e) = call(py, cb, &update)
        && !e.is_instance_of::<PyKeyboardInterrupt>(py)
    {
        raised = Some(e);
    }
    match raised {
        Some(e) => Err(e),
        None => Ok((out, interrupted)),
    }
}

fn call(py: Python<'_>, callback: &Py<PyAny>, update: &Update) -> PyResult<()> {
    callback.bind(py).call1((update.to_dict(py)?,))?;
    Ok(())
}
