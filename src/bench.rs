//! `hetsim bench`: synapse-steps per second on the workloads of DESIGN §4, measured the way a
//! run spends its time (advance, read the window and the state, compute the recorded
//! measurements) but without writing files.

use crate::backend::{self, BackendError, BackendKind, Precision};
use crate::workload::Workload;
use std::sync::Arc;
use std::time::Instant;

/// One measured backend on one workload.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub workload: Workload,
    pub backend: String,
    pub synapse_steps: f64,
    pub wall_s: f64,
    pub synapse_steps_per_s: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Workload(String),
    #[error("{0}")]
    Backend(#[from] BackendError),
}

/// Times `workload` for `seconds` of simulated time (default: DESIGN §4's) on `kind` in f32,
/// after an untimed warm-up window (first-touch allocation, program compilation on devices).
pub fn measure(
    workload: Workload,
    kind: BackendKind,
    seconds: Option<f64>,
    measures: &str,
) -> Result<Measurement, BenchError> {
    let secs = seconds.unwrap_or(workload.default_seconds());
    let plan = Arc::new(
        workload
            .plan_with(secs, measures)
            .map_err(|e| BenchError::Workload(e.to_string()))?,
    );
    let mut b = backend::make(plan.clone(), kind, Some(Precision::F32))?.backend;
    let record = plan.record_every_steps;
    b.advance(record.min(plan.steps))?;
    b.take_window()?;
    let active = vec![true; plan.n_instances()];
    let mut previous = b.snapshot()?;
    let start = Instant::now();
    let mut done = 0;
    while done < plan.steps {
        let n = record.min(plan.steps - done);
        b.advance(n)?;
        let window = b.take_window()?;
        let end = b.snapshot()?;
        let rows = crate::record::metrics::window_rows(&plan, &window, &previous, &end, &active);
        std::hint::black_box(rows);
        previous = end;
        done += n;
    }
    let wall_s = start.elapsed().as_secs_f64();
    let total = workload.synapse_steps(&plan);
    Ok(Measurement {
        workload,
        backend: b.describe(),
        synapse_steps: total,
        wall_s,
        synapse_steps_per_s: total / wall_s,
    })
}
