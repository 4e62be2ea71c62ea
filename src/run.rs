//! Runs a plan on a backend and records it: the loop of advance → read window → measure →
//! write, with divergence checks between windows.
//!
//! An instance whose state turns non-finite or explodes is frozen; the others go on, the rows
//! already written stay, and the manifest names the instance, the time and what diverged.

use crate::backend::Backend;
use crate::plan::Plan;
use crate::record::metrics::{self, Row};
use crate::record::{Failure, RecordError, Recorder, unix_now};
use std::time::Instant;

/// Values above this count as exploded: no sensible rate or weight gets near it.
pub const DIVERGENCE_LIMIT: f64 = 1e8;

#[derive(Debug)]
pub struct RunOutcome {
    pub failures: Vec<Failure>,
    pub wall_s: f64,
    pub synapse_steps_per_s: f64,
}

/// Runs `plan` to its end on `backend`, writing into `recorder`. `progress(step, steps)` is
/// called after every window (the CLI draws a bar with it).
pub fn execute(
    plan: &Plan,
    backend: &mut dyn Backend,
    recorder: &mut Recorder,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RunOutcome, RecordError> {
    let started = Instant::now();
    let e_count = plan.n_instances();
    let mut active = vec![true; e_count];
    let mut start = backend.snapshot();

    // Row at t = 0: the held-out loss of the initial weights, the reference for "fraction of
    // the initial loss".
    let initial: Vec<Row> = (0..e_count)
        .map(|e| {
            let (loss, acc) = metrics::held_out(plan, &start.weights, e);
            Row {
                time_s: 0.0,
                instance: e,
                projection: "all".into(),
                held_out_loss: loss,
                held_out_accuracy: acc,
                ..Row::default()
            }
        })
        .collect();
    recorder.write_rows(&initial)?;
    recorder.write_weights(plan, &start, "start", false)?;

    let mut step = 0;
    let mut failures = Vec::new();
    while step < plan.steps {
        let n = plan.record_every_steps.min(plan.steps - step);
        backend.advance(n);
        step += n;
        let window = backend.take_window();
        let end = backend.snapshot();
        let time_s = step as f64 * plan.dt_s;
        for (e, is_active) in active.iter_mut().enumerate() {
            if !*is_active {
                continue;
            }
            if let Some(what) = metrics::divergence(plan, &end, e, DIVERGENCE_LIMIT) {
                *is_active = false;
                backend.freeze(e);
                let previous = time_s - n as f64 * plan.dt_s;
                failures.push(Failure {
                    instance: e,
                    seed: plan.seeds[e],
                    label: plan.labels[e].clone(),
                    time_s: (time_s * 1e9).round() / 1e9,
                    message: format!(
                        "instance {e} (seed {}, {}) diverged between t = {previous:.3} s and t = {time_s:.3} s: {what}. Likely cause: the step dt = {} s is too large for the fastest time constant, or the plasticity rule is unstable (τ_w too short for the input scale, or a positive-feedback term such as Hebbian growth without decay)",
                        plan.seeds[e], plan.labels[e], plan.dt_s
                    ),
                });
            }
        }
        let rows = metrics::window_rows(plan, &window, &start, &end, &active);
        recorder.write_rows(&rows)?;
        recorder.write_traces(&window.traces)?;
        if !failures.is_empty() && recorder.manifest.failures.len() != failures.len() {
            recorder.manifest.failures = failures.clone();
            recorder.write_manifest()?;
        }
        start = end;
        progress(step, plan.steps);
    }
    recorder.write_weights(plan, &start, "end", true)?;
    let wall_s = started.elapsed().as_secs_f64();
    let rate =
        plan.synapses_per_instance() as f64 * e_count as f64 * plan.steps as f64 / wall_s.max(1e-9);
    let m = &mut recorder.manifest;
    m.failures = failures.clone();
    m.status = if failures.is_empty() {
        "completed".into()
    } else if failures.len() == e_count {
        "failed".into()
    } else {
        "completed with failures".into()
    };
    m.ended_unix_s = Some(unix_now());
    m.wall_s = Some(wall_s);
    m.synapse_steps_per_s = Some(rate);
    m.peak_rss_bytes = crate::record::peak_rss_bytes();
    recorder.write_manifest()?;
    Ok(RunOutcome {
        failures,
        wall_s,
        synapse_steps_per_s: rate,
    })
}
