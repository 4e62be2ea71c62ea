//! The figures of finished jobs. The run layers (`experiment`, `sweep`, `evolve`) write their
//! directories and return what they did; `plot` draws from a directory. This module is the one
//! place that asks both, for the CLI and the Python package, so neither layer reaches into the
//! other.

use crate::evolve::run::EvolveOutcome;
use crate::experiment::Finished;
use crate::plot::{self, Formats};
use crate::record::Status;
use crate::sweep::merge::MergeOutcome;
use crate::sweep::run::SweepOutcome;
use std::path::PathBuf;

/// The figure files drawn, or why none were.
pub type Drawn = Result<Vec<PathBuf>, String>;

/// Draws a finished run's figures into its directory (a run kept in memory has none).
pub fn run(finished: &mut Finished) {
    finished.figures = finished
        .dir
        .as_ref()
        .map(|dir| plot::plot_run(dir, Formats::BOTH).map_err(|e| e.to_string()));
}

/// Draws a sweep's figures, unless it was interrupted (a resumed sweep draws them at its end).
pub fn sweep(outcome: &mut SweepOutcome) {
    outcome.figures = (outcome.status != Status::Interrupted)
        .then(|| plot::plot_sweep(&outcome.dir, Formats::BOTH).map_err(|e| e.to_string()));
}

/// Draws a merged sweep's figures.
pub fn merge(outcome: &mut MergeOutcome) {
    outcome.figures =
        Some(plot::plot_sweep(&outcome.dir, Formats::BOTH).map_err(|e| e.to_string()));
}

/// Draws an evolution's figures once a generation has finished.
pub fn evolution(outcome: &mut EvolveOutcome) {
    outcome.figures = if outcome.generations_done > 0 {
        Some(plot::plot_evolution(&outcome.dir, Formats::BOTH).map_err(|e| e.to_string()))
    } else {
        None
    };
}
