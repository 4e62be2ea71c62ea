//! Checks a circuit's `protocol:` and resolves it into phases: names to indices, durations to
//! whole recording windows, each phase's task to a full task spec.
//!
//! Choices: a phase changes only what it names, relative to the circuit file (not to the phase
//! before); phase boundaries fall on recording-window boundaries (so every row of the tables
//! belongs to one phase and the run loop needs no split windows); the last phase may leave out
//! its duration and runs to `time.duration`, which the durations must add up to. What a phase
//! cannot change is refused with the reason: the stimulus schedule (one clock for the whole
//! run), clamping a population the engine integrates, noise on a driven population.

use super::check::identifier_problem;
use super::probes::{Problem, steps_are_whole};
use super::{Population, Projection};
use crate::spec::{CircuitSpec, PlasticityChange, TaskSpec, YamlPath};

/// One checked phase. Indices are the circuit's.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub name: String,
    pub start_s: f64,
    pub duration_s: f64,
    /// The phase's task spec (the circuit's with the phase's changes) and its seed (0: the
    /// instance's own task), or None where the phase keeps the circuit's task.
    pub task: Option<(TaskSpec, u64)>,
    pub input_scale: f64,
    /// Driven populations held at a rate.
    pub clamp: Vec<(usize, f64)>,
    /// Per motif index.
    pub plasticity: Vec<(usize, PlasticityChange)>,
    /// Population noise σ per population index.
    pub noise: Vec<(usize, f64)>,
}

fn problem(path: YamlPath, message: String, hint: Option<&str>) -> Problem {
    Problem {
        path,
        message,
        hint: hint.map(str::to_string),
    }
}

/// Every problem of `protocol:` and, when there is none, the phases (an empty protocol gives
/// no phases: the plan then runs one phase named `run`).
pub(super) fn resolve(
    spec: &CircuitSpec,
    populations: &[Population],
    projections: &[Projection],
) -> (Vec<Phase>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut phases = Vec::new();
    let root = YamlPath::of(&["protocol"]);
    let dt = spec.time.dt.seconds();
    let every = spec.record.every.seconds();
    let total = spec.time.duration.seconds();
    let pop_names: Vec<&str> = populations.iter().map(|p| p.name.as_str()).collect();
    let known_pops = format!("known populations: {}", pop_names.join(", "));
    let mut start = 0.0;
    let n = spec.protocol.len();
    for (k, ph) in spec.protocol.iter().enumerate() {
        let at = root.index(k);
        if let Some(why) = identifier_problem(&ph.name) {
            out.push(problem(at.key("name"), why, None));
        }
        if spec.protocol[..k].iter().any(|q| q.name == ph.name) {
            out.push(problem(
                at.key("name"),
                format!("two phases are named `{}`", ph.name),
                Some("give every phase its own name: the tables tell phases apart by it"),
            ));
        }
        let duration = match ph.duration {
            Some(d) => d.seconds(),
            None if k + 1 == n => total - start,
            None => {
                out.push(problem(
                    at.key("name"),
                    format!("phase `{}` has no duration", ph.name),
                    Some("only the last phase may leave it out (it then runs to `time.duration`)"),
                ));
                0.0
            }
        };
        let windows = duration / every;
        if duration <= 0.0 {
            out.push(problem(
                at.key("duration"),
                format!(
                    "phase `{}` would last {duration} s: the phases before it already fill `time.duration` = {total} s",
                    ph.name
                ),
                Some("phase durations add up to `time.duration`"),
            ));
        } else if dt > 0.0
            && every > 0.0
            && (!steps_are_whole(windows) || !steps_are_whole(duration / dt))
        {
            out.push(problem(
                at.key("duration"),
                format!(
                    "phase `{}` lasts {duration} s, {windows:.4} recording windows of `record.every` = {every} s: phases begin and end on window boundaries",
                    ph.name
                ),
                Some("make every phase a whole number of `record.every` intervals"),
            ));
        }
        if let Some(t) = &ph.task
            && let Some(s) = &t.stimulus
            && *s != spec.task.stimulus
        {
            out.push(problem(
                at.key("task").key("stimulus"),
                "the stimulus schedule cannot change in a phase: samples are shown on one clock for the whole run (sample k at steps k·period …)".into(),
                Some("remove `stimulus` from the phase; to weaken or strengthen the input, use `input_scale`"),
            ));
        }
        if let Some(s) = ph.input_scale
            && !s.is_finite()
        {
            out.push(problem(
                at.key("input_scale"),
                format!("the input scale must be a finite number, not {s}"),
                None,
            ));
        }
        let mut clamp = Vec::new();
        let pairs = ph
            .clamp
            .iter()
            .map(|(p, r)| (at.key("clamp").key(p), p, *r))
            .chain(
                ph.silence
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (at.key("silence").index(i), p, 0.0)),
            );
        for (path, name, rate) in pairs {
            let Some(p) = populations.iter().position(|q| &q.name == name) else {
                out.push(problem(
                    path,
                    format!("unknown population `{name}`"),
                    Some(&known_pops),
                ));
                continue;
            };
            if !populations[p].role.is_driven() {
                out.push(problem(
                    path,
                    format!(
                        "`{name}` is a population the engine integrates: only driven populations (input, target) can be clamped or silenced in a phase"
                    ),
                    Some("clamp the input population, or scale the input with `input_scale`"),
                ));
                continue;
            }
            if !rate.is_finite() {
                out.push(problem(
                    path,
                    format!("the clamped rate must be a finite number, not {rate}"),
                    None,
                ));
                continue;
            }
            if clamp.iter().any(|(q, _)| *q == p) {
                out.push(problem(
                    path,
                    format!("`{name}` is clamped twice in this phase"),
                    None,
                ));
                continue;
            }
            clamp.push((p, rate));
        }
        let mut plasticity = Vec::new();
        for (name, change) in &ph.plasticity {
            let path = at.key("plasticity").key(name);
            let Some(q) = projections.iter().position(|q| &q.name == name) else {
                let plastic: Vec<&str> = projections
                    .iter()
                    .filter(|q| q.motif.is_some())
                    .map(|q| q.name.as_str())
                    .collect();
                out.push(problem(
                    path,
                    format!("unknown projection `{name}`"),
                    Some(&format!("plastic projections: {}", plastic.join(", "))),
                ));
                continue;
            };
            let Some(m) = projections[q].motif else {
                out.push(problem(
                    path,
                    format!("projection `{name}` has no motif: it does not learn, so a phase cannot change its plasticity"),
                    None,
                ));
                continue;
            };
            if let PlasticityChange::TauWScale(f) = change
                && !(f.is_finite() && *f > 0.0)
            {
                out.push(problem(
                    path,
                    format!("the τ_w factor must be a positive number, not {f}"),
                    Some("e.g. `{tau_w_scale: 2}` learns half as fast; `off` stops learning"),
                ));
                continue;
            }
            plasticity.push((m, *change));
        }
        let mut noise = Vec::new();
        for (name, sigma) in &ph.noise {
            let path = at.key("noise").key(name);
            let Some(p) = populations.iter().position(|q| &q.name == name) else {
                out.push(problem(
                    path,
                    format!("unknown population `{name}`"),
                    Some(&known_pops),
                ));
                continue;
            };
            if populations[p].role.is_driven() {
                out.push(problem(
                    path,
                    format!("`{name}` is driven by the task: it has no noise to change"),
                    None,
                ));
                continue;
            }
            if !(sigma.is_finite() && *sigma >= 0.0) {
                out.push(problem(
                    path,
                    format!("the noise σ must be a number ≥ 0, not {sigma}"),
                    None,
                ));
                continue;
            }
            noise.push((p, *sigma));
        }
        let task = match &ph.task {
            None => None,
            Some(t) => match spec.task.with_phase(t) {
                Ok(spec_task) => Some((spec_task, t.seed.unwrap_or(0))),
                Err(e) => {
                    let path = at.key("task");
                    let path = match &e.key {
                        Some(key) => path.key(key),
                        None => path,
                    };
                    out.push(problem(path, e.message, None));
                    None
                }
            },
        };
        phases.push(Phase {
            name: ph.name.clone(),
            start_s: start,
            duration_s: duration,
            task,
            input_scale: ph.input_scale.unwrap_or(1.0),
            clamp,
            plasticity,
            noise,
        });
        start += duration.max(0.0);
    }
    if n > 0 && dt > 0.0 && ((start - total) / dt).abs() > 1e-6 {
        out.push(problem(
            root.clone(),
            format!(
                "the phases last {start} s together, but `time.duration` is {total} s"
            ),
            Some("make the durations add up to `time.duration`, or leave out the last phase's duration"),
        ));
    }
    (phases, out)
}
