//! `hetsim sweep`: a grid of parameter settings run as ensembles, summarised per point, safe
//! against kills and split across a cluster's job array.
//!
//! - [`spec`]: the sweep file's serde types;
//! - [`axes`]: axes resolved against the circuit, the points they expand into, point ids and
//!   seeds derived from each point's identity;
//! - [`setup`]: the file read and every point checked before anything runs;
//! - [`pack`]: the shard's slice of the points and the ensembles they pack into;
//! - [`stats`]: the per-instance statistics of `summary.csv`, streamed;
//! - [`tables`]: the sweep's tables, assembled from the finished parts;
//! - [`run`]: the loop — one ensemble after another, each written into a temporary directory
//!   and renamed into `parts/` when it finishes, so results appear whole or not at all;
//! - [`overrides`]: `--set`, `--seeds` and `--duration` on top of the file, recorded so that a
//!   resume or merge under other changes is refused;
//! - [`merge`]: shards combined, refusing gaps and duplicates;
//! - [`size`]: the number of points and instances counted from the file and refused against
//!   a maximum and the memory budget before anything is expanded;
//! - [`parts`]: each finished part checked whole before a resume or a merge counts it;
//! - [`fuzzing`]: the body of the `sweep` fuzz target, replayed over its corpus by the tests.

pub mod axes;
pub mod fuzzing;
pub mod merge;
pub mod overrides;
pub mod pack;
pub mod parts;
pub mod run;
pub mod setup;
pub mod size;
pub mod spec;
pub mod stats;
pub mod tables;

pub use overrides::SweepOverrides;
pub use pack::Shard;
pub use run::{DryRun, SweepOutcome, SweepProgress, SweepRequest, dry_run, sweep};
pub use spec::SweepSpec;

use crate::experiment::ExperimentError;
use crate::spec::Diagnostics;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep file is malformed or does not fit its circuit (every error, located).
    #[error("{0}")]
    Input(Diagnostics),
    /// One point's settings make an invalid circuit.
    #[error("the point {identity} does not make a valid circuit: {message}")]
    Point { identity: String, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Experiment(#[from] ExperimentError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SweepError {
    /// Whether the request was at fault (exit 2) rather than the run (exit 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            SweepError::Input(_) | SweepError::Point { .. } | SweepError::Usage(_) => true,
            SweepError::Experiment(e) => e.is_bad_input(),
            SweepError::Write { .. } => false,
        }
    }
}
