//! The rows of `probes.csv` and `weight_snapshots.csv`, defined once — the run-directory
//! recorder writes them and the in-memory collector keeps them — and their sampling from a
//! backend's [`Snapshot`].
//!
//! Both are tidy long tables, one value per row, written a sampling time at a time:
//!
//! `probes.csv` — what `record.probes` asks for:
//! - `time_s`: the sampling time, a whole number of steps k·dt (t = 0 is the initial state;
//!   t > 0 the state after the step that ends there);
//! - `instance`: the instance index, as in `instances.csv`;
//! - `population`: the population's name;
//! - `variable`: `rate` (z = φ(u)), `potential` (u) or `trace` (the population's slow trace q);
//! - `unit`: the unit's index in the population, from 0;
//! - `value`: the value, written in full precision (it reads back to the same f64).
//!
//! `weight_snapshots.csv` — what `record.weights` asks for:
//! - `time_s`, `instance`: as above;
//! - `projection`: the projection's name;
//! - `post`, `pre`: the synapse's post- and presynaptic unit indices (row and column of W);
//! - `weight`: W[post, pre], in full precision.
//!
//! An instance that diverged is left out from the time it was frozen (its state is zeroed, not
//! simulated), and an instance whose circuit lacks the population or projection (a rule
//! comparison) has no rows for it.

use crate::backend::Snapshot;
use crate::plan::Plan;
use crate::spec::ProbeVariable;
use std::sync::Arc;

/// The columns of `probes.csv`.
pub const PROBE_COLUMNS: [&str; 6] = [
    "time_s",
    "instance",
    "population",
    "variable",
    "unit",
    "value",
];

/// The columns of `weight_snapshots.csv`.
pub const SNAPSHOT_COLUMNS: [&str; 6] =
    ["time_s", "instance", "projection", "post", "pre", "weight"];

/// One row of `probes.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeRow {
    pub time_s: f64,
    pub instance: usize,
    pub population: Arc<str>,
    pub variable: ProbeVariable,
    pub unit: usize,
    pub value: f64,
}

/// One row of `weight_snapshots.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotRow {
    pub time_s: f64,
    pub instance: usize,
    pub projection: Arc<str>,
    pub post: usize,
    pub pre: usize,
    pub weight: f64,
}

/// A sampling time as the tables write it: k·dt without the float noise of the product
/// (3 × 0.1 ms is written 0.0003, not 0.00030000000000000003).
fn time_cell(time_s: f64) -> String {
    format!("{}", (time_s * 1e12).round() / 1e12)
}

/// A value in full precision: the shortest text that reads back to the same f64.
fn value_cell(x: f64) -> String {
    format!("{x:e}")
}

impl ProbeRow {
    pub fn cells(&self) -> [String; 6] {
        [
            time_cell(self.time_s),
            self.instance.to_string(),
            self.population.to_string(),
            self.variable.name().to_string(),
            self.unit.to_string(),
            value_cell(self.value),
        ]
    }
}

impl SnapshotRow {
    pub fn cells(&self) -> [String; 6] {
        [
            time_cell(self.time_s),
            self.instance.to_string(),
            self.projection.to_string(),
            self.post.to_string(),
            self.pre.to_string(),
            value_cell(self.weight),
        ]
    }
}

/// The probe rows due at `step`, read from `snap` (the state at `step`), for the instances
/// still `active`.
pub fn probe_rows(plan: &Plan, snap: &Snapshot, step: u64, active: &[bool]) -> Vec<ProbeRow> {
    let time_s = step as f64 * plan.dt_s;
    let mut out = Vec::new();
    for p in &plan.probes.probes {
        if !step.is_multiple_of(p.every_steps) {
            continue;
        }
        let size = plan.populations[p.population].size;
        let values = match p.variable {
            ProbeVariable::Rate => &snap.z[p.population],
            ProbeVariable::Potential => &snap.u[p.population],
            ProbeVariable::Trace => &snap.traces[p.population],
        };
        for &e in &p.instances {
            // (A backend gives an empty trace vector where no instance has the trace.)
            if !active[e] || !has(plan, e, &p.name, p.variable) || values.len() < (e + 1) * size {
                continue;
            }
            let block = &values[e * size..(e + 1) * size];
            out.extend(p.units.iter().map(|&unit| ProbeRow {
                time_s,
                instance: e,
                population: p.name.clone(),
                variable: p.variable,
                unit,
                value: block[unit],
            }));
        }
    }
    out
}

/// Whether instance `e`'s own circuit has the population (and its trace, for a trace probe).
fn has(plan: &Plan, e: usize, name: &str, variable: ProbeVariable) -> bool {
    plan.circuits[e]
        .populations
        .iter()
        .find(|q| q.name == name)
        .is_some_and(|q| variable != ProbeVariable::Trace || q.trace.is_some())
}

/// The weight snapshot rows due at `step`, read from `snap`, for the instances still `active`.
pub fn snapshot_rows(plan: &Plan, snap: &Snapshot, step: u64, active: &[bool]) -> Vec<SnapshotRow> {
    let Some(s) = &plan.probes.snapshots else {
        return Vec::new();
    };
    if !step.is_multiple_of(s.every_steps) {
        return Vec::new();
    }
    let time_s = step as f64 * plan.dt_s;
    let mut out = Vec::new();
    for &e in &s.instances {
        if !active[e] {
            continue;
        }
        for (q, name) in &s.projections {
            let p = &plan.projections[*q];
            if p.sign[e] == 0.0 {
                continue;
            }
            let n = p.synapses();
            let w = &snap.weights[*q][e * n..(e + 1) * n];
            let row = |post: usize, pre: usize| SnapshotRow {
                time_s,
                instance: e,
                projection: name.clone(),
                post,
                pre,
                weight: w[post * p.cols + pre],
            };
            match &s.synapses {
                Some(pairs) => out.extend(pairs.iter().map(|&[post, pre]| row(post, pre))),
                None => out.extend(
                    (0..p.rows)
                        .flat_map(|post| (0..p.cols).map(move |pre| (post, pre)))
                        .map(|(post, pre)| row(post, pre)),
                ),
            }
        }
    }
    out
}
