//! How an evolution fails: the one error type every evolution module returns (a leaf, so the
//! modules that report errors need not reach into the generation loop).

use crate::experiment::ExperimentError;
use crate::spec::Diagnostics;
use std::path::PathBuf;

use super::strategy;

#[derive(Debug, thiserror::Error)]
pub enum EvolveError {
    #[error("{0}")]
    Input(Diagnostics),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Experiment(#[from] ExperimentError),
    #[error("{0}")]
    Strategy(#[from] strategy::StrategyError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A saved state that this evolution cannot continue from.
    #[error("--resume: {}: `{field}`: {message}", path.display())]
    State {
        path: PathBuf,
        field: String,
        message: String,
    },
    /// Every member of a generation failed: the evolution stops (its tables and state are
    /// written up to that generation).
    #[error("every member of generation {generation} failed, so the evolution stopped: {reason}")]
    AllFailed { generation: u64, reason: String },
}

impl EvolveError {
    pub fn is_bad_input(&self) -> bool {
        match self {
            EvolveError::Input(_)
            | EvolveError::Usage(_)
            | EvolveError::Strategy(_)
            | EvolveError::State { .. } => true,
            EvolveError::Experiment(e) => e.is_bad_input(),
            EvolveError::Write { .. } | EvolveError::AllFailed { .. } => false,
        }
    }
}
