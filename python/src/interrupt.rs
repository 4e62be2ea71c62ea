//! Long jobs with the GIL released and Ctrl-C working. The job runs on a worker thread; the
//! calling (Python main) thread, without the GIL, polls the worker every 50 ms and in between
//! takes the GIL just long enough for `Python::check_signals`, which runs Python's own SIGINT
//! handler. A `KeyboardInterrupt` there sets the job's stop flag: the library stops after the
//! current recording window (a run), inside the current ensemble (a sweep) or after the
//! current generation (an evolution), and the job returns normally with status `interrupted`.

use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Runs `job` with a stop flag; returns its result and whether Ctrl-C was pressed.
pub fn run<T: Send>(py: Python<'_>, job: impl FnOnce(&AtomicBool) -> T + Send) -> (T, bool) {
    let stop = AtomicBool::new(false);
    let mut interrupted = false;
    let out = py.detach(|| {
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| job(&stop));
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(50));
                if !interrupted && Python::attach(|py| py.check_signals()).is_err() {
                    interrupted = true;
                    stop.store(true, Ordering::SeqCst);
                }
            }
            match worker.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    });
    (out, interrupted)
}
