//! Runs a plan on a backend into a sink: the loop of advance → read window → measure →
//! write, with divergence checks, a stop flag and progress reports between windows. Probes and
//! weight snapshots (`record.probes`, `record.weights`) are sampled host-side from the
//! backend's snapshot: the loop advances to the next sampling time or window end, whichever
//! comes first, so each sampling time between window ends costs one extra snapshot.
//!
//! An instance whose state turns non-finite or explodes is frozen; the others go on, the rows
//! already written stay, and the sink hears the instance, the time and what diverged. When
//! every instance has diverged the run stops at once. A stop request (SIGINT/SIGTERM in the
//! CLI) ends the run between two windows with status `interrupted` (with checkpoints on, at
//! the end of the window under way, whose state is then saved); a device failure ends it
//! with status `failed` and the device's message. Every row written is whole.
//!
//! The loop starts the next stretch of steps before it measures and writes the window just
//! read: a device (OpenCL) then computes while the host measures, and a CPU backend, whose
//! advance returns when done, runs as before. The measurement reads only the snapshots already
//! taken, so the order changes no number; an error from that stretch is reported after the
//! window's rows are written, so they are not lost.
//!
//! Checkpoints ([`Checkpoints`], `execute_checkpointed`): at the window ends they ask for, the
//! backend's state is taken before the next stretch starts and saved once the window's rows
//! are in the sinks; a resumed run starts the loop at the saved window end, with the backend
//! restored and the tables cut back to that point by the caller.

use crate::backend::{Backend, BackendError, Snapshot};
use crate::plan::Plan;
use crate::record::metrics;
use crate::record::plasticity::CurveProbe;
use crate::record::probes;
use crate::record::tables::{Stage, instances_table, weight_rows};
use crate::record::{Ending, Failure, RecordError, Sink, Status};
use crate::simd::Simd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Values above this count as exploded: no sensible rate or weight gets near it.
pub const DIVERGENCE_LIMIT: f64 = 1e8;

/// Where a run stands after a window, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    pub step: u64,
    pub steps: u64,
    pub time_s: f64,
    pub instances: usize,
    pub diverged: usize,
}

/// Hears about a run as it goes (the CLI draws a bar; nothing below the CLI prints).
pub trait Observer {
    fn window(&mut self, _progress: &Progress) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

#[derive(Debug)]
pub struct RunOutcome {
    pub status: Status,
    pub failures: Vec<Failure>,
    pub time_reached_s: f64,
    pub wall_s: f64,
    pub synapse_steps_per_s: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Record(#[from] RecordError),
    #[error("{0}")]
    Backend(#[from] BackendError),
    #[error("cannot write the checkpoint: {0}")]
    Checkpoint(String),
}

/// Runs `plan` to its end (or until `stop` is set, or every instance diverged) on `backend`,
/// writing into `sink`. `simd` is the vector level of the host's own products (the held-out
/// set's), the one the settings chose (`backend::Options::simd`).
pub fn execute(
    plan: &Plan,
    backend: &mut dyn Backend,
    simd: Simd,
    sink: &mut dyn Sink,
    observer: &mut dyn Observer,
    stop: Option<&AtomicBool>,
) -> Result<RunOutcome, RunError> {
    execute_checkpointed(plan, backend, simd, sink, observer, stop, None)
}

/// [`execute`] with checkpoints: `checkpoints` says at which window ends the state is saved
/// (and saves it), and, for a resumed run, where the loop starts — the backend must then
/// already hold the state restored from that point, and the sinks the tables up to it.
pub fn execute_checkpointed(
    plan: &Plan,
    backend: &mut dyn Backend,
    simd: Simd,
    sink: &mut dyn Sink,
    observer: &mut dyn Observer,
    stop: Option<&AtomicBool>,
    checkpoints: Option<&mut dyn Checkpoints>,
) -> Result<RunOutcome, RunError> {
    let started = Instant::now();
    let from = checkpoints.as_ref().and_then(|c| c.resumed_from());
    let mut state = LoopState {
        step: from.as_ref().map_or(0, |p| p.step),
        failures: from.map(|p| p.failures).unwrap_or_default(),
    };
    let first_step = state.step;
    let result = run_windows(
        plan,
        backend,
        simd,
        sink,
        observer,
        stop,
        &mut state,
        checkpoints,
    );
    let wall_s = started.elapsed().as_secs_f64();
    let time_reached_s = state.step as f64 * plan.dt_s;
    let rate = plan.synapses_per_instance() as f64
        * plan.n_instances() as f64
        * (state.step - first_step) as f64
        / wall_s.max(1e-9);
    let (status, reason) = match &result {
        Ok(Stop::End) if state.failures.is_empty() => (Status::Completed, None),
        Ok(Stop::End) => (Status::CompletedWithFailures, None),
        Ok(Stop::AllDiverged) => (
            Status::Failed,
            Some(format!(
                "every instance diverged; stopped at t = {time_reached_s:.3} s"
            )),
        ),
        Ok(Stop::Requested) => (
            Status::Interrupted,
            Some(format!("stopped on request at t = {time_reached_s:.3} s")),
        ),
        Err(e) => (Status::Failed, Some(e.to_string())),
    };
    let ending = Ending {
        status,
        reason,
        time_reached_s,
        failures: state.failures.clone(),
        wall_s,
        synapse_steps_per_s: rate,
    };
    let finished = sink.finish(&ending);
    result?;
    finished?;
    Ok(RunOutcome {
        status,
        failures: state.failures,
        time_reached_s,
        wall_s,
        synapse_steps_per_s: rate,
    })
}

struct LoopState {
    step: u64,
    failures: Vec<Failure>,
}

/// Where the loop stood at a window end: all a resumed run needs besides the backend's state
/// and the tables written so far.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoopPoint {
    pub step: u64,
    /// The instances that diverged so far (frozen in the backend's state).
    pub failures: Vec<Failure>,
}

/// Checkpoints of a run: when to save, how, and where a resumed run starts.
pub trait Checkpoints {
    /// Whether the state is saved at the end of the window ending at `step`.
    fn due(&self, step: u64) -> bool;
    /// Saves `image`, taken at `point` (after the window's divergence checks), once the
    /// window's rows are in the sinks; `sinks` is what the sinks said of themselves then
    /// ([`Sink::checkpoint`]).
    fn save(
        &mut self,
        image: &crate::backend::StateImage,
        point: &LoopPoint,
        sinks: serde_json::Value,
    ) -> Result<(), RunError>;
    /// For a resumed run, the point it starts from (None: from the start).
    fn resumed_from(&self) -> Option<LoopPoint>;
}

enum Stop {
    End,
    AllDiverged,
    Requested,
}

#[allow(clippy::too_many_arguments)]
fn run_windows(
    plan: &Plan,
    backend: &mut dyn Backend,
    simd: Simd,
    sink: &mut dyn Sink,
    observer: &mut dyn Observer,
    stop: Option<&AtomicBool>,
    state: &mut LoopState,
    mut checkpoints: Option<&mut dyn Checkpoints>,
) -> Result<Stop, RunError> {
    let e_count = plan.n_instances();
    let mut active = vec![true; e_count];
    let curve = CurveProbe::for_plan(plan);
    let resumed = checkpoints
        .as_ref()
        .is_some_and(|c| c.resumed_from().is_some());
    let mut start = backend.snapshot()?;
    let mut spare = Snapshot::default();
    if resumed {
        // Everything up to this window end is in the tables already.
        for f in &state.failures {
            active[f.instance] = false;
        }
    } else {
        start_rows(plan, backend, simd, sink, &start, curve.as_ref(), &active)?;
    }

    let requested = || stop.is_some_and(|s| s.load(Ordering::Relaxed));
    let mut outcome = Stop::End;
    while state.step < plan.steps {
        if requested() {
            match checkpoints.as_deref_mut() {
                None => {
                    outcome = Stop::Requested;
                    break;
                }
                // The next stretch had started: this window is finished first (nothing more
                // starts ahead now), so that its end can be saved.
                Some(_) if backend.step() > state.step => {}
                Some(c) => {
                    save_checkpoint(c, backend.save_state()?, state, sink)?;
                    outcome = Stop::Requested;
                    break;
                }
            }
        }
        let window_end = end_of_window(plan, state.step);
        let n = window_end - state.step;
        // Within the window, stop at each probe or weight-snapshot time and sample the state
        // there; the window's accumulators go on summing across these stops.
        loop {
            let at = next_stop(plan, state.step, window_end);
            if at == window_end {
                break;
            }
            advance_to(plan, backend, at)?;
            state.step = at;
            sample(
                plan,
                curve.as_ref(),
                &backend.snapshot()?,
                at,
                &active,
                sink,
            )?;
        }
        advance_to(plan, backend, window_end)?;
        state.step = window_end;
        let window = backend.take_window()?;
        // The previous window's start snapshot is no longer needed: its buffers take this one.
        let mut end = std::mem::take(&mut spare);
        backend.snapshot_into(&mut end)?;
        // Sampled before the divergence check, so the values that diverged are on record.
        sample(plan, curve.as_ref(), &end, state.step, &active, sink)?;
        let time_s = state.step as f64 * plan.dt_s;
        let before = state.failures.len();
        for (e, is_active) in active.iter_mut().enumerate() {
            if !*is_active {
                continue;
            }
            if let Some(what) = metrics::divergence(plan, &end, e, DIVERGENCE_LIMIT) {
                *is_active = false;
                backend.freeze(e)?;
                let previous = time_s - n as f64 * plan.dt_s;
                state.failures.push(Failure {
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
        // Saved before the next stretch starts, written once this window's rows are; the end
        // of the run too, so a finished run can be continued with its activities (`--from
        // RUN_DIR --carry activities`).
        let image = match checkpoints.as_deref() {
            Some(c) if state.step == plan.steps || c.due(state.step) => Some(backend.save_state()?),
            _ => None,
        };
        // The next window's first stretch, started before this one is measured (module doc).
        let goes_on = state.step < plan.steps && state.failures.len() < e_count && !requested();
        let ahead = if goes_on {
            advance_to(
                plan,
                backend,
                next_stop(plan, state.step, end_of_window(plan, state.step)),
            )
        } else {
            Ok(())
        };
        let (rows, note) = metrics::window_rows_noted(plan, &window, &start, &end, &active, simd);
        sink.rows(&rows)?;
        if let Some(note) = note {
            sink.note(&note)?;
        }
        sink.traces(&window.traces)?;
        if state.failures.len() != before {
            sink.failures(&state.failures)?;
        }
        ahead?;
        if let (Some(c), Some(image)) = (checkpoints.as_deref_mut(), image) {
            save_checkpoint(c, image, state, sink)?;
        }
        spare = std::mem::replace(&mut start, end);
        observer.window(&Progress {
            step: state.step,
            steps: plan.steps,
            time_s,
            instances: e_count,
            diverged: state.failures.len(),
        });
        if state.failures.len() == e_count {
            outcome = Stop::AllDiverged;
            break;
        }
    }
    sink.weights(&weight_rows(plan, &start, Stage::End))?;
    Ok(outcome)
}

/// What a run from the start writes before its first window: `instances.csv`, the row at
/// t = 0 (the held-out loss of the initial weights, the reference for "fraction of the initial
/// loss"), the start weights and the samples due at step 0. The first stretch of steps runs
/// meanwhile.
fn start_rows(
    plan: &Plan,
    backend: &mut dyn Backend,
    simd: Simd,
    sink: &mut dyn Sink,
    start: &Snapshot,
    curve: Option<&CurveProbe>,
    active: &[bool],
) -> Result<(), RunError> {
    sink.instances(&instances_table(plan))?;
    // The first stretch runs while the initial held-out loss is measured.
    let ahead = match plan.steps {
        0 => Ok(()),
        _ => advance_to(plan, backend, next_stop(plan, 0, end_of_window(plan, 0))),
    };
    // Row at t = 0: the held-out loss of the initial weights, the reference for "fraction of
    // the initial loss".
    let (initial, note) = metrics::initial_rows(plan, start, simd);
    sink.rows(&initial)?;
    if let Some(note) = note {
        sink.note(&note)?;
    }
    sink.weights(&weight_rows(plan, start, Stage::Start))?;
    sample(plan, curve, start, 0, active, sink)?;
    Ok(ahead?)
}

/// Writes a checkpoint of the window end `state` stands at, with what the sinks say of
/// themselves (their tables flushed up to here).
fn save_checkpoint(
    checkpoints: &mut dyn Checkpoints,
    image: crate::backend::StateImage,
    state: &LoopState,
    sink: &mut dyn Sink,
) -> Result<(), RunError> {
    let sinks = sink.checkpoint()?;
    let point = LoopPoint {
        step: state.step,
        failures: state.failures.clone(),
    };
    checkpoints.save(&image, &point, sinks)
}

/// The end of the recording window that starts at `step` (the last one may be short).
fn end_of_window(plan: &Plan, step: u64) -> u64 {
    step + plan.record_every_steps.min(plan.steps - step)
}

/// Where the loop next stops after `step` in the window ending at `window_end`: the next probe
/// or weight-snapshot time before that end, or the end.
fn next_stop(plan: &Plan, step: u64, window_end: u64) -> u64 {
    plan.probes
        .next_after(step)
        .filter(|&s| s < window_end)
        .unwrap_or(window_end)
}

/// Advances `backend` to step `to`, or not at all when it is there already (the stretch was
/// started ahead, before the previous window was measured). The protocol phase that the
/// stretch's first step belongs to is entered first: phase boundaries are window boundaries
/// (checked with the circuit), so no stretch crosses one, and entering the phase already
/// loaded changes nothing.
fn advance_to(plan: &Plan, backend: &mut dyn Backend, to: u64) -> Result<(), BackendError> {
    let at = backend.step();
    if to > at {
        backend.enter_phase(plan.phase_at(at))?;
        backend.advance(to - at)
    } else {
        Ok(())
    }
}

/// Writes what is sampled from the state and due at `step`: the plasticity curve (at window
/// ends only: its interval is a multiple of the window's), the probe and the weight-snapshot
/// rows (none when nothing is due).
fn sample(
    plan: &Plan,
    curve: Option<&CurveProbe>,
    snap: &Snapshot,
    step: u64,
    active: &[bool],
    sink: &mut dyn Sink,
) -> Result<(), RecordError> {
    if let Some(c) = curve.filter(|c| c.due(step)) {
        sink.plasticity(&c.sample(plan, snap, step as f64 * plan.dt_s))?;
    }
    if plan.probes.is_empty() || !plan.probes.due(step) {
        return Ok(());
    }
    let rows = probes::probe_rows(plan, snap, step, active);
    if !rows.is_empty() {
        sink.probes(&rows)?;
    }
    let rows = probes::snapshot_rows(plan, snap, step, active);
    if !rows.is_empty() {
        sink.weight_snapshots(&rows)?;
    }
    Ok(())
}
