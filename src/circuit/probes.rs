//! Checks the `record:` block's probes and weight snapshots against the circuit: the names
//! exist, unit and synapse indices are in range, a `trace` probe has a trace to read, and every
//! interval is a positive whole number of steps.
//!
//! The instance indices cannot be checked here — how many instances a run has is decided by
//! the command (`--seeds`, `compare`) — so the plan checks them (`plan::probes`).

use super::{Population, Projection};
use crate::spec::{CircuitSpec, Indices, ProbeVariable, Synapses, Time, YamlPath};
use crate::text::count;

/// One problem, located at a setting of the `record:` block.
pub(super) struct Problem {
    pub path: YamlPath,
    pub message: String,
    pub hint: Option<String>,
}

fn problem(path: YamlPath, message: String, hint: Option<String>) -> Problem {
    Problem {
        path,
        message,
        hint,
    }
}

/// Every problem of `record.probes` and `record.weights`. `resolved[k]` says whether
/// projection `k`'s endpoints are known (an unresolved one has been reported already).
pub(super) fn problems(
    spec: &CircuitSpec,
    populations: &[Population],
    projections: &[Projection],
    resolved: &[bool],
) -> Vec<Problem> {
    let mut out = Vec::new();
    let record = YamlPath::of(&["record"]);
    let dt = spec.time.dt;
    for (i, p) in spec.record.probes.iter().enumerate() {
        let at = record.key("probes").index(i);
        if let Some(every) = p.every {
            out.extend(interval_problem(at.key("every"), every, dt));
        }
        out.extend(list_problems(at.key("instances"), &p.instances, "instance"));
        let Some(pop) = populations.iter().find(|q| q.name == p.population) else {
            let names: Vec<&str> = populations.iter().map(|q| q.name.as_str()).collect();
            out.push(problem(
                at.key("population"),
                format!("unknown population `{}`", p.population),
                Some(format!("known populations: {}", names.join(", "))),
            ));
            continue;
        };
        if p.variable == ProbeVariable::Trace && pop.trace.is_none() {
            let with: Vec<&str> = populations
                .iter()
                .filter(|q| q.trace.is_some())
                .map(|q| q.name.as_str())
                .collect();
            out.push(problem(
                at.key("variable"),
                format!("population `{}` has no trace to probe", pop.name),
                Some(if with.is_empty() {
                    "probe `rate` or `potential`, or give the population a `trace:`".into()
                } else {
                    format!("populations with a trace: {}", with.join(", "))
                }),
            ));
        }
        out.extend(list_problems(at.key("units"), &p.units, "unit"));
        if let Indices::Only(units) = &p.units {
            for (k, &u) in units.iter().enumerate() {
                if u >= pop.size {
                    out.push(problem(
                        at.key("units").index(k),
                        format!(
                            "unit {u} is out of range: `{}` has {} (0 to {})",
                            pop.name,
                            count(pop.size, "unit"),
                            pop.size - 1
                        ),
                        None,
                    ));
                }
            }
        }
    }
    let Some(w) = &spec.record.weights else {
        return out;
    };
    let at = record.key("weights");
    if let Some(every) = w.every {
        out.extend(interval_problem(at.key("every"), every, dt));
    }
    out.extend(list_problems(at.key("instances"), &w.instances, "instance"));
    let chosen: Vec<usize> = match &w.projections {
        None => {
            let plastic: Vec<usize> = (0..projections.len())
                .filter(|&k| projections[k].motif.is_some())
                .collect();
            if plastic.is_empty() {
                out.push(problem(
                    at.clone(),
                    "the circuit has no plastic projection to snapshot by default".into(),
                    Some("name the projections, e.g. `projections: [W1]`".into()),
                ));
            }
            plastic
        }
        Some(names) => {
            if names.is_empty() {
                out.push(problem(
                    at.key("projections"),
                    "the list names no projection".into(),
                    Some("leave `projections` out for every plastic projection".into()),
                ));
            }
            let mut found = Vec::new();
            for (k, name) in names.iter().enumerate() {
                match projections.iter().position(|q| &q.name == name) {
                    Some(q) => found.push(q),
                    None => {
                        let known: Vec<&str> =
                            projections.iter().map(|q| q.name.as_str()).collect();
                        out.push(problem(
                            at.key("projections").index(k),
                            format!("unknown projection `{name}`"),
                            Some(format!("known projections: {}", known.join(", "))),
                        ));
                    }
                }
            }
            found
        }
    };
    if let Synapses::Only(pairs) = &w.synapses {
        if pairs.is_empty() {
            out.push(problem(
                at.key("synapses"),
                "the list names no synapse".into(),
                Some("write `all`, or `[post, pre]` pairs such as `[[0, 1]]`".into()),
            ));
        }
        for (k, &[post, pre]) in pairs.iter().enumerate() {
            // A synapse listed twice would write every one of its rows twice.
            if pairs[..k].contains(&[post, pre]) {
                out.push(problem(
                    at.key("synapses").index(k),
                    format!("synapse [{post}, {pre}] is listed twice"),
                    None,
                ));
                continue;
            }
            for &q in &chosen {
                let p = &projections[q];
                if !resolved.get(q).copied().unwrap_or(false) {
                    continue;
                }
                let (rows, cols) = (populations[p.to].size, populations[p.from].size);
                if post >= rows || pre >= cols {
                    out.push(problem(
                        at.key("synapses").index(k),
                        format!(
                            "synapse [{post}, {pre}] is out of range for `{}`, whose matrix is {rows} post × {cols} pre units (indices from 0)",
                            p.name
                        ),
                        None,
                    ));
                    break;
                }
            }
        }
    }
    out
}

/// An interval that is not a positive whole number of steps.
fn interval_problem(path: YamlPath, every: Time, dt: Time) -> Option<Problem> {
    if every.seconds() <= 0.0 {
        return Some(problem(
            path,
            "the interval must be positive".into(),
            Some(format!(
                "e.g. `every: {}`",
                Time::from_seconds(dt.seconds() * 10.0)
            )),
        ));
    }
    if dt.seconds() <= 0.0 {
        return None; // reported at `time.dt`
    }
    let steps = every.seconds() / dt.seconds();
    if !steps_are_whole(steps) {
        let below = Time::from_seconds(steps.floor().max(1.0) * dt.seconds());
        let above = Time::from_seconds((steps.floor() + 1.0) * dt.seconds());
        return Some(problem(
            path,
            format!("every {every} is {steps:.4} steps of dt = {dt}, not a whole number of steps"),
            Some(format!("e.g. `every: {below}` or `every: {above}`")),
        ));
    }
    None
}

/// Whether `steps` (an interval over dt) is a whole number, up to the rounding of decimal
/// times (0.3 ms / 0.1 ms is 2.9999999999999996).
pub fn steps_are_whole(steps: f64) -> bool {
    steps.is_finite() && steps >= 1.0 - 1e-9 && (steps - steps.round()).abs() <= 1e-6 * steps
}

/// An empty list, or an index listed twice.
fn list_problems(path: YamlPath, list: &Indices, what: &str) -> Vec<Problem> {
    let Indices::Only(v) = list else {
        return Vec::new();
    };
    if v.is_empty() {
        return vec![problem(
            path,
            format!("the list names no {what}"),
            Some(format!("write `all`, or {what} indices such as `[0]`")),
        )];
    }
    let mut out = Vec::new();
    for (k, x) in v.iter().enumerate() {
        if v[..k].contains(x) {
            out.push(problem(
                path.index(k),
                format!("{what} {x} is listed twice"),
                None,
            ));
        }
    }
    out
}
