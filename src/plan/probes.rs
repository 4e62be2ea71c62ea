//! The `record:` block's probes and weight snapshots resolved for one ensemble: plan indices
//! instead of names, intervals in steps, instance lists checked against the run's instance
//! count, and the sampling schedule the run loop follows.
//!
//! The circuit checks (`circuit::probes`) have already refused unknown names, indices out of
//! range and intervals that are not whole steps; what is left for here is what only the run
//! knows — how many instances it has — and the size of the tables, which is bounded by the
//! memory budget (`circuit::budget`): the in-memory collector holds every row, and a run
//! directory's tables should not outgrow what the machine could hold either.

use super::{Plan, PlanError};
use crate::spec::{Indices, ProbeVariable, RecordSpec, Synapses};
use std::sync::Arc;

/// One resolved probe.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanProbe {
    /// Where it stands in `record.probes` (for messages).
    pub index: usize,
    /// The plan's population index.
    pub population: usize,
    pub name: Arc<str>,
    pub variable: ProbeVariable,
    pub units: Vec<usize>,
    pub instances: Vec<usize>,
    pub every_steps: u64,
}

/// Resolved weight snapshots.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanSnapshots {
    /// Plan projection indices, with their names.
    pub projections: Vec<(usize, Arc<str>)>,
    pub instances: Vec<usize>,
    /// `[post, pre]` pairs; `None` = every synapse.
    pub synapses: Option<Vec<[usize; 2]>>,
    pub every_steps: u64,
}

/// What the run samples besides the recording windows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Probes {
    pub probes: Vec<PlanProbe>,
    pub snapshots: Option<PlanSnapshots>,
}

pub use crate::circuit::budget::ROW_BYTES;

impl Probes {
    pub fn is_empty(&self) -> bool {
        self.probes.is_empty() && self.snapshots.is_none()
    }

    /// Whether anything is sampled at `step`.
    pub fn due(&self, step: u64) -> bool {
        self.probes
            .iter()
            .any(|p| step.is_multiple_of(p.every_steps))
            || self
                .snapshots
                .as_ref()
                .is_some_and(|s| step.is_multiple_of(s.every_steps))
    }

    /// The first sampling step after `step`, if any.
    pub fn next_after(&self, step: u64) -> Option<u64> {
        let next = |every: u64| (step / every + 1) * every;
        self.probes
            .iter()
            .map(|p| next(p.every_steps))
            .chain(self.snapshots.as_ref().map(|s| next(s.every_steps)))
            .min()
    }

    /// Rows the run will write over `steps` steps (t = 0 included), counting every listed
    /// instance.
    pub fn estimated_rows(&self, plan: &Plan, steps: u64) -> f64 {
        let times = |every: u64| (steps / every + 1) as f64;
        let probes: f64 = self
            .probes
            .iter()
            .map(|p| times(p.every_steps) * (p.units.len() * p.instances.len()) as f64)
            .sum();
        let snapshots = self.snapshots.as_ref().map_or(0.0, |s| {
            let per_instance: usize = match &s.synapses {
                Some(pairs) => pairs.len() * s.projections.len(),
                None => s
                    .projections
                    .iter()
                    .map(|(q, _)| plan.projections[*q].synapses())
                    .sum(),
            };
            times(s.every_steps) * (per_instance * s.instances.len()) as f64
        });
        probes + snapshots
    }
}

/// Resolves instance 0's `record` block for `plan` (every instance shares it; the plan checks
/// that). Refuses instance indices the run does not have and tables larger than the memory
/// `budget`.
pub fn resolve(
    plan: &Plan,
    record: &RecordSpec,
    budget: &crate::circuit::budget::Budget,
) -> Result<Probes, PlanError> {
    let e_count = plan.n_instances();
    let steps_of = |every: Option<crate::spec::Time>| match every {
        Some(t) => ((t.seconds() / plan.dt_s).round() as u64).max(1),
        None => plan.record_every_steps,
    };
    let instances = |list: &Indices, what: String| -> Result<Vec<usize>, PlanError> {
        let v = list.among(e_count);
        match v.iter().find(|&&e| e >= e_count) {
            Some(&e) => Err(PlanError::Probe {
                message: format!(
                    "{what} asks for instance {e}, but this run has {} (0 to {})",
                    crate::text::count(e_count, "instance"),
                    e_count - 1
                ),
                hint: format!(
                    "list instances below {e_count} or write `instances: all`, or run more instances (`--seeds`)"
                ),
            }),
            None => Ok(v),
        }
    };
    let mut out = Probes::default();
    for (i, p) in record.probes.iter().enumerate() {
        // The circuit checks found the name; a plan without it is a bug upstream, said plainly.
        let k = plan
            .populations
            .iter()
            .position(|q| q.name == p.population)
            .ok_or_else(|| PlanError::Probe {
                message: format!(
                    "record.probes[{i}] names population `{}`, which the ensemble does not have",
                    p.population
                ),
                hint: "check the circuit with `hetsim validate`".into(),
            })?;
        let what = format!("record.probes[{i}] (population `{}`)", p.population);
        out.probes.push(PlanProbe {
            index: i,
            population: k,
            name: Arc::from(p.population.as_str()),
            variable: p.variable,
            units: p.units.among(plan.populations[k].size),
            instances: instances(&p.instances, what)?,
            every_steps: steps_of(p.every),
        });
    }
    if let Some(w) = &record.weights {
        let names: Vec<String> = match &w.projections {
            Some(v) => v.clone(),
            None => plan.plastic().map(|(_, p)| p.name.clone()).collect(),
        };
        let mut projections = Vec::new();
        for name in names {
            let q = plan
                .projections
                .iter()
                .position(|p| p.name == name)
                .ok_or_else(|| PlanError::Probe {
                    message: format!(
                        "record.weights names projection `{name}`, which the ensemble does not have"
                    ),
                    hint: "check the circuit with `hetsim validate`".into(),
                })?;
            projections.push((q, Arc::from(name.as_str())));
        }
        out.snapshots = Some(PlanSnapshots {
            projections,
            instances: instances(&w.instances, "record.weights".into())?,
            synapses: match &w.synapses {
                Synapses::All => None,
                Synapses::Only(v) => Some(v.clone()),
            },
            every_steps: steps_of(w.every),
        });
    }
    let rows = out.estimated_rows(plan, plan.steps);
    if let Ok(bytes) = budget.bytes()
        && rows * ROW_BYTES > bytes.bytes as f64
    {
        return Err(PlanError::Probe {
            message: format!(
                "record.probes and record.weights would write about {rows:.3e} rows ({}), more than the memory budget of {bytes}",
                crate::circuit::budget::human_bytes(rows * ROW_BYTES)
            ),
            hint: format!(
                "sample less often (`every`), or fewer units, synapses or instances, or {}",
                budget.how_to_raise()
            ),
        });
    }
    Ok(out)
}
