//! `hetsim evolve --dry-run`: what an evolution will cost before it runs — per generation the
//! members, the instances (members and baselines × rate factors × seeds), the synapse-steps
//! and the memory its ensemble plans, the held-out evaluation's, and the wall time these take
//! at the engine's rate measured here on a short stretch of the first generation's ensemble.

use super::error::EvolveError;
use super::evaluate::{Unit, instances};
use super::evaluate::{member_circuits, seeds_of, units_of};
use super::run::EvolveRequest;
use super::search::new_strategy;
use super::setup::Pinned;
use crate::circuit::budget::{MemoryBudget, instance_bytes};
use crate::experiment::ExperimentError;
use crate::plan::Plan;
use std::sync::Arc;

/// The cost of an evolution.
#[derive(Clone, Debug)]
pub struct Cost {
    pub generations: u64,
    pub members: usize,
    pub baselines: usize,
    pub rates: usize,
    pub seeds: usize,
    /// Instances per generation.
    pub instances: usize,
    /// Synapse-steps per generation.
    pub synapse_steps: f64,
    /// Bytes a generation's ensemble plans (its state and tables), and the budget.
    pub bytes: f64,
    pub budget: MemoryBudget,
    /// The held-out evaluation: instances and synapse-steps (0 without one).
    pub heldout_instances: usize,
    pub heldout_synapse_steps: f64,
    /// The measured rate, synapse-steps per second, and what it was measured on.
    pub rate: f64,
    pub measured_on: String,
}

impl Cost {
    pub fn generation_s(&self) -> f64 {
        self.synapse_steps / self.rate
    }
    pub fn total_synapse_steps(&self) -> f64 {
        self.synapse_steps * self.generations as f64 + self.heldout_synapse_steps
    }
    pub fn total_s(&self) -> f64 {
        self.total_synapse_steps() / self.rate
    }
}

/// Synapse-steps of a plan: every instance's synapses (identity projections count a row
/// each, as the engine reads them), every step.
fn synapse_steps(plan: &Plan) -> f64 {
    plan.synapses_per_instance() as f64 * plan.n_instances() as f64 * plan.steps as f64
}

/// Reads the evolution file, plans its first generation and measures the engine on it.
pub fn dry_run(request: &EvolveRequest) -> Result<Cost, EvolveError> {
    let setup = super::setup::load(
        &request.path,
        None,
        request.generations,
        &request.budget,
        &Pinned::default(),
    )?;
    let candidates = new_strategy(&setup)?.ask(&setup.free);
    let circuits = member_circuits(&setup, &candidates);
    let units = units_of(&setup, &circuits);
    let specs = instances(&units, &setup.spec.rates, &seeds_of(&setup, 1));
    let plan = Arc::new(
        Plan::within(&specs, &setup.base_dir, &setup.budget).map_err(ExperimentError::Plan)?,
    );
    let per_generation = synapse_steps(&plan);
    let bytes: f64 = specs.iter().map(|s| instance_bytes(&s.circuit)).sum();
    // The held-out evaluation: the best rule and the baselines in every shape.
    let (mut heldout_instances, mut heldout_synapse_steps) = (0, 0.0);
    if let Some(h) = &setup.spec.heldout {
        let seeds: Vec<u64> = (0..h.seeds as u64).map(|s| h.first_seed + s).collect();
        let mut shapes = vec![(&setup.circuit, &setup.baselines)];
        shapes.extend(setup.shapes.iter().map(|s| (&s.circuit, &s.baselines)));
        for (c, baselines) in shapes {
            let mut units = vec![Unit {
                label: "evolved".into(),
                circuit: c,
            }];
            units.extend(baselines.iter().map(|(l, c)| Unit {
                label: l.clone(),
                circuit: c,
            }));
            let specs = instances(&units, &setup.spec.rates, &seeds);
            let plan = Plan::within(&specs, &setup.base_dir, &setup.budget)
                .map_err(ExperimentError::Plan)?;
            heldout_instances += specs.len();
            heldout_synapse_steps += synapse_steps(&plan);
        }
    }
    // The rate: a stretch of the first generation's ensemble, about 10⁸ synapse-steps.
    let mut backend = crate::backend::make(
        plan.clone(),
        request.backend,
        request.precision,
        &request.backend_options,
    )
    .map_err(ExperimentError::Backend)?
    .backend;
    let per_step = (per_generation / plan.steps.max(1) as f64).max(1.0);
    let steps = ((1e8 / per_step) as u64).clamp(10, plan.steps.max(10));
    let started = std::time::Instant::now();
    backend
        .advance(steps)
        .map_err(|e| ExperimentError::Run(crate::run::RunError::Backend(e)))?;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    Ok(Cost {
        generations: setup.sizes.generations,
        members: setup.sizes.members,
        baselines: setup.baselines.len(),
        rates: setup.spec.rates.len(),
        seeds: setup.spec.seeds_per_member,
        instances: specs.len(),
        synapse_steps: per_generation,
        bytes,
        budget: setup.budget.bytes().map_err(EvolveError::Usage)?,
        heldout_instances,
        heldout_synapse_steps,
        rate: per_step * steps as f64 / elapsed,
        measured_on: backend.describe(),
    })
}
