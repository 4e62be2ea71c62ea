//! A protocol lowered into per-phase parameter tables: for every phase, the numbers each
//! instance runs with from its first step (rule coefficients, τ_w, decay, weight noise,
//! population noise, clamped rates, the input scale, the task and its held-out set). Every
//! backend and every measurement reads a phase's numbers from here, so they agree.
//!
//! A circuit without `protocol:` has one phase named [`RUN_PHASE`] covering the run, whose
//! tables are the circuit's own settings. Phase boundaries are recording-window boundaries
//! (checked in `circuit::protocol`).

use super::{InstanceSpec, PlanError, PlanMotif, PlanPopulation, PlanProjection};
use crate::rng;
use crate::rule::{N_TERMS, Theta};
use crate::spec::PlasticityChange;
use crate::task::Task;
use nalgebra::DMatrix;
use std::sync::Arc;

/// The phase name of a run without a protocol (the `phase` column's value then).
pub const RUN_PHASE: &str = "run";

/// One phase of the plan: steps `[start_step, end_step)`.
#[derive(Clone, Debug)]
pub struct PlanPhase {
    pub name: String,
    pub start_step: u64,
    pub end_step: u64,
    pub tables: PhaseTables,
}

/// The per-instance numbers of one phase. Motif tables are `[motif][instance]`, population
/// tables `[population][instance]`.
#[derive(Clone, Debug)]
pub struct PhaseTables {
    pub theta: Vec<Vec<Theta>>,
    pub tau_w_s: Vec<Vec<f64>>,
    /// Infinity: no decay.
    pub tau_decay_s: Vec<Vec<f64>>,
    pub weight_noise: Vec<Vec<f64>>,
    pub noise: Vec<Vec<f64>>,
    /// A driven population held at this rate in every unit (None: as the task drives it).
    pub clamp: Vec<Vec<Option<f64>>>,
    /// Per instance: the factor on the input population's rates from the task.
    pub input_scale: Vec<f64>,
    /// Per instance: the task its stimuli come from.
    pub tasks: Vec<Arc<Task>>,
    /// Per instance: the held-out set of that task.
    pub held_out: Vec<Arc<(DMatrix<f64>, DMatrix<f64>)>>,
}

impl PhaseTables {
    /// Whether the stimulus an instance sees may differ between two phases' tables (another
    /// task, scale or clamp): a backend then redraws the stimulus at the boundary.
    pub fn same_stimulus(&self, other: &PhaseTables) -> bool {
        self.input_scale == other.input_scale
            && self.clamp == other.clamp
            && self
                .tasks
                .iter()
                .zip(&other.tasks)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }
    /// Whether instance `e` learns at all in this phase on motif `m` (some θ non-zero).
    pub fn learns(&self, m: usize, e: usize) -> bool {
        self.theta[m][e].iter().any(|c| *c != 0.0)
    }
}

/// The seed of instance seed `seed`'s task in a phase that asks for task seed `offset`: the
/// instance's own seed for 0, else a Philox draw keyed by both (so each instance gets its own
/// other task, and another offset another one).
pub fn phase_task_seed(seed: u64, offset: u64) -> u64 {
    if offset == 0 {
        return seed;
    }
    let b = rng::draw_block(seed, rng::stream_id("phase-task"), offset, 0);
    (u64::from(b[0]) << 32) | u64::from(b[1])
}

/// The context the tables are built from (the plan under construction).
pub(super) struct Lowering<'a> {
    pub instances: &'a [InstanceSpec],
    pub populations: &'a [PlanPopulation],
    pub projections: &'a [PlanProjection],
    pub motifs: &'a [PlanMotif],
    /// Each instance's population indices in the plan's.
    pub pop_maps: &'a [Vec<usize>],
    pub tasks: &'a [Arc<Task>],
    pub held_out: Vec<Arc<(DMatrix<f64>, DMatrix<f64>)>>,
    pub dt_s: f64,
    pub steps: u64,
    pub base_dir: &'a std::path::Path,
}

impl Lowering<'_> {
    /// The circuit's own settings, before any phase changes them.
    fn base(&self) -> PhaseTables {
        PhaseTables {
            theta: self.motifs.iter().map(|m| m.theta.clone()).collect(),
            tau_w_s: self.motifs.iter().map(|m| m.tau_w_s.clone()).collect(),
            tau_decay_s: self.motifs.iter().map(|m| m.tau_decay_s.clone()).collect(),
            weight_noise: self.motifs.iter().map(|m| m.weight_noise.clone()).collect(),
            noise: self.populations.iter().map(|p| p.noise.clone()).collect(),
            clamp: vec![vec![None; self.instances.len()]; self.populations.len()],
            input_scale: vec![1.0; self.instances.len()],
            tasks: self.tasks.to_vec(),
            held_out: self.held_out.clone(),
        }
    }

    /// Every phase of the plan. Instances share phase names and boundaries (instance 0's);
    /// each instance's own protocol sets its tables.
    pub fn phases(&self) -> Result<Vec<PlanPhase>, PlanError> {
        let first = &self.instances[0].circuit;
        if first.protocol.is_empty() {
            return Ok(vec![PlanPhase {
                name: RUN_PHASE.into(),
                start_step: 0,
                end_step: self.steps,
                tables: self.base(),
            }]);
        }
        let steps_of = |s: f64| (s / self.dt_s).round() as u64;
        let mut out = Vec::new();
        let n = first.protocol.len();
        for (k, ph) in first.protocol.iter().enumerate() {
            let mut t = self.base();
            for (i, inst) in self.instances.iter().enumerate() {
                let c = &inst.circuit;
                let own = &c.protocol[k];
                for &(m, change) in &own.plasticity {
                    let name = &c.projections[c.motifs[m].projection].name;
                    let Some(pm) = self
                        .projections
                        .iter()
                        .find(|p| &p.name == name)
                        .and_then(|p| p.motif)
                    else {
                        continue;
                    };
                    match change {
                        PlasticityChange::On => {}
                        PlasticityChange::Off => {
                            t.theta[pm][i] = [0.0; N_TERMS];
                            t.tau_decay_s[pm][i] = f64::INFINITY;
                            t.weight_noise[pm][i] = 0.0;
                        }
                        PlasticityChange::TauWScale(f) => t.tau_w_s[pm][i] *= f,
                    }
                }
                for &(p, sigma) in &own.noise {
                    t.noise[self.pop_maps[i][p]][i] = sigma;
                }
                for &(p, rate) in &own.clamp {
                    t.clamp[self.pop_maps[i][p]][i] = Some(rate);
                }
                t.input_scale[i] = own.input_scale;
                if let Some((spec_task, offset)) = &own.task {
                    let task = self.task(i, spec_task, *offset)?;
                    t.held_out[i] = Arc::new(super::held_out_set(&task));
                    t.tasks[i] = Arc::new(task);
                }
            }
            let start_step = steps_of(ph.start_s);
            let end_step = if k + 1 == n {
                self.steps
            } else {
                steps_of(ph.start_s + ph.duration_s)
            };
            out.push(PlanPhase {
                name: ph.name.clone(),
                start_step,
                end_step,
                tables: t,
            });
        }
        Ok(out)
    }

    /// Instance `i`'s task in a phase, which must present samples of the same shape as its
    /// own task (the populations it drives are the same).
    fn task(
        &self,
        i: usize,
        spec_task: &crate::spec::TaskSpec,
        offset: u64,
    ) -> Result<Task, PlanError> {
        let inst = &self.instances[i];
        let c = &inst.circuit;
        let own = &self.tasks[i];
        let fail = |message: String| PlanError::Task {
            instance: i,
            message,
        };
        let mut spec = c.spec.clone();
        spec.task = spec_task.clone();
        let n_targets = (own.n_targets() > 0).then_some(own.n_targets());
        let params = crate::circuit::task_params(&spec, own.n_inputs(), n_targets)
            .map_err(|m| fail(format!("a phase's task: {m}")))?;
        let task = Task::new(&params, phase_task_seed(inst.seed, offset), self.base_dir)
            .map_err(|e| fail(format!("a phase's task: {e}")))?;
        if task.n_inputs() != own.n_inputs()
            || task.n_targets() != own.n_targets()
            || task.is_classification() != own.is_classification()
        {
            return Err(fail(format!(
                "a phase's task has {} inputs and {} targets ({}), the circuit's task {} and {} ({}): a phase's task must fit the same input and target populations",
                task.n_inputs(),
                task.n_targets(),
                kind(task.is_classification()),
                own.n_inputs(),
                own.n_targets(),
                kind(own.is_classification()),
            )));
        }
        Ok(task)
    }
}

fn kind(classification: bool) -> &'static str {
    if classification {
        "classification"
    } else {
        "regression"
    }
}

impl super::Plan {
    /// What the first phase that runs with other numbers than the circuit's own settings
    /// changes, in words; None when every phase runs with the circuit's settings (no protocol,
    /// or phases that only name stretches of the run). For backends that cannot change them.
    pub fn phase_change(&self) -> Option<String> {
        for ph in &self.phases {
            let t = &ph.tables;
            let what = if t
                .tasks
                .iter()
                .zip(&self.tasks)
                .any(|(a, b)| !Arc::ptr_eq(a, b))
            {
                Some("the task")
            } else if t.input_scale.iter().any(|s| *s != 1.0)
                || t.clamp.iter().flatten().any(Option::is_some)
            {
                Some("the input (scale or clamp)")
            } else if self.motifs.iter().enumerate().any(|(m, pm)| {
                t.theta[m] != pm.theta
                    || t.tau_w_s[m] != pm.tau_w_s
                    || t.tau_decay_s[m] != pm.tau_decay_s
                    || t.weight_noise[m] != pm.weight_noise
            }) {
                Some("plasticity")
            } else if self
                .populations
                .iter()
                .enumerate()
                .any(|(p, pp)| t.noise[p] != pp.noise)
            {
                Some("noise")
            } else {
                None
            };
            if let Some(what) = what {
                return Some(format!("phase `{}` changes {what}", ph.name));
            }
        }
        None
    }
}
