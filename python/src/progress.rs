//! Progress from a job on the worker thread to a Python callback. The worker never touches
//! Python: the library's observers (a run's recording windows, a sweep's ensembles, an
//! evolution's generations) store the latest [`Update`] in a [`Latest`], and the calling thread,
//! which polls the worker anyway for Ctrl-C (see [`crate::interrupt`]), takes it with the GIL
//! held and calls the callback with a dict. Updates between two polls are coalesced: the
//! callback sees the newest, never a queue that grows while Python is busy.

use hetsim::evolve::GenerationReport;
use hetsim::run::{Observer, Progress};
use hetsim::sweep::SweepProgress;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;

/// Where a job stands.
#[derive(Clone, Debug)]
pub enum Update {
    Run(Progress),
    Sweep(SweepProgress),
    Evolve(GenerationReport),
}

/// The newest update not yet handed to Python.
#[derive(Default)]
pub struct Latest(Mutex<Option<Update>>);

impl Latest {
    pub fn put(&self, u: Update) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(u);
        }
    }
    pub fn take(&self) -> Option<Update> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// A run's observer: every recording window becomes an update.
pub struct RunWatch<'a>(pub &'a Latest);

impl Observer for RunWatch<'_> {
    fn window(&mut self, p: &Progress) {
        self.0.put(Update::Run(*p));
    }
}

impl Update {
    /// `{"kind", "done", "total", "unit", …}`: `done` of `total` in `unit`s (steps, points,
    /// generations), and what else the library reports at that moment.
    pub fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        match self {
            Update::Run(p) => {
                d.set_item("kind", "run")?;
                d.set_item("done", p.step)?;
                d.set_item("total", p.steps)?;
                d.set_item("unit", "step")?;
                d.set_item("time_s", p.time_s)?;
                d.set_item("instances", p.instances)?;
                d.set_item("diverged", p.diverged)?;
            }
            Update::Sweep(p) => {
                d.set_item("kind", "sweep")?;
                d.set_item("done", p.points_done)?;
                d.set_item("total", p.points_total)?;
                d.set_item("unit", "point")?;
                d.set_item("ensemble", p.ensemble)?;
                d.set_item("ensembles", p.ensembles)?;
                d.set_item("instances_failed", p.instances_failed)?;
                d.set_item("elapsed_s", p.elapsed_s)?;
                d.set_item("eta_s", p.eta_s)?;
            }
            Update::Evolve(g) => {
                d.set_item("kind", "evolve")?;
                d.set_item("done", g.generation)?;
                d.set_item("total", g.generations)?;
                d.set_item("unit", "generation")?;
                d.set_item("best_fitness", g.best_fitness)?;
                d.set_item("best_ever", g.best_ever)?;
                d.set_item("median_fitness", g.median_fitness)?;
                d.set_item("sigma", g.sigma)?;
                d.set_item("diverged", g.diverged)?;
                d.set_item("members", g.members)?;
            }
        }
        Ok(d)
    }
}
