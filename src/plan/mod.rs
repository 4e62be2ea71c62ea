//! Lowers circuits into an ensemble plan: one topology, `E` instances, flat buffers.
//!
//! Every run is an ensemble. Each instance is a checked circuit plus a seed; the instances must
//! share their populations (names, sizes, roles, activations, which are instantaneous), and the
//! plan takes the union of their projections and motifs. Anything that may differ between
//! instances — τ's, delays, signs, decay, noise, θ, which feedback matrices are tied, stimulus
//! timing — becomes a per-instance table. A projection an instance lacks gets sign 0 there; a
//! motif it lacks gets θ = 0. That is how `compare` runs sgd, fa, dfa and kp side by side in one
//! ensemble, and how sweeps and evolution fill their tables.
//!
//! Buffers are instance-major (`[instance][element]`) and in f64; each backend re-lays them out
//! for its own vector width. Nothing here is CPU-specific.

use crate::activation::Activation;
use crate::circuit::connectivity::Wiring;
use crate::circuit::{Circuit, OutputPath};
use crate::rng;
use crate::rule::{N_TERMS, Theta};
use crate::spec::{Init, Measure, Method, Role};
use crate::task::Task;
use std::sync::Arc;

pub mod fuzzing;
mod groups;
mod key;
pub mod phases;
pub mod probes;
pub use key::ensemble_key;
pub use phases::{PhaseTables, PlanPhase, RUN_PHASE};

/// One instance of an ensemble: a checked circuit, its seed and a label (e.g. the rule name).
#[derive(Clone, Debug)]
pub struct InstanceSpec {
    pub circuit: Circuit,
    pub seed: u64,
    pub label: String,
}

#[derive(Clone, Debug)]
pub struct PlanPopulation {
    pub name: String,
    pub role: Role,
    pub size: usize,
    pub activation: Activation,
    pub instantaneous: bool,
    pub gain_from: Option<usize>,
    /// Per instance. 0 for instantaneous and driven populations.
    pub tau_s: Vec<f64>,
    pub bias: Vec<f64>,
    pub noise: Vec<f64>,
    /// The slow trace q rules may read, if the population declares one.
    pub trace: Option<PlanTrace>,
}

/// A population's trace: τ dq/dt = s − q with s = z or z² (`squared`); per instance τ and q(0).
#[derive(Clone, Debug)]
pub struct PlanTrace {
    pub squared: bool,
    pub tau_s: Vec<f64>,
    pub init: Vec<f64>,
}

#[derive(Clone, Debug)]
pub struct PlanProjection {
    pub name: String,
    pub from: usize,
    pub to: usize,
    /// Post size × pre size; weights are row-major `[post][pre]`.
    pub rows: usize,
    pub cols: usize,
    pub forward: bool,
    pub stands_for: Option<usize>,
    /// The projection this one copies the transpose of, in the instances where `tied` is set.
    pub tied_to: Option<usize>,
    pub tied: Vec<bool>,
    /// Per instance: ±1, or 0 where the instance has no such projection.
    pub sign: Vec<f64>,
    /// Per instance, in steps (includes the task's error delay for the output error's inputs).
    pub delay_steps: Vec<usize>,
    pub motif: Option<usize>,
    /// A fixed identity matrix in every instance (e.g. into an error population): engines copy
    /// `sign · r` instead of multiplying by the matrix.
    pub identity: bool,
}

impl PlanProjection {
    pub fn synapses(&self) -> usize {
        self.rows * self.cols
    }
    pub fn max_delay(&self) -> usize {
        self.delay_steps.iter().copied().max().unwrap_or(0)
    }
    /// Slots in the ring buffer of past presynaptic rates (0 when no instance delays it).
    pub fn ring_len(&self) -> usize {
        match self.max_delay() {
            0 => 0,
            d => d + 1,
        }
    }
}

#[derive(Clone, Debug)]
pub struct PlanMotif {
    pub projection: usize,
    pub modulator: Option<usize>,
    /// Per instance.
    pub theta: Vec<Theta>,
    pub tau_w_s: Vec<f64>,
    /// Per instance; infinity = no decay.
    pub tau_decay_s: Vec<f64>,
    pub weight_noise: Vec<f64>,
    /// Terms kept in the kernels even where every instance's θ is zero (evolution frees them,
    /// so one compiled program serves every generation).
    pub keep_terms: [bool; N_TERMS],
}

impl PlanMotif {
    /// Whether term `k` is non-zero for some instance or kept (zero terms are left out of
    /// kernels).
    pub fn term_used(&self, k: usize) -> bool {
        self.keep_terms[k] || self.theta.iter().any(|t| t[k] != 0.0)
    }
    /// The update every backend builds: the terms in use grouped by slot.
    pub fn form(&self) -> crate::rule::UpdateForm {
        crate::rule::UpdateForm::of(|k| self.term_used(k))
    }
    pub fn has_decay(&self) -> bool {
        self.tau_decay_s.iter().any(|t| t.is_finite())
    }
    pub fn has_noise(&self) -> bool {
        self.weight_noise.iter().any(|s| *s != 0.0)
    }
}

/// Per-step integration coefficients. Every backend takes them from here, so all integrate
/// with the same numbers (exponential Euler: exact for the leak and the weight decay with inputs
/// held over the step; Euler: the explicit step).
impl Plan {
    fn exponential(&self) -> bool {
        self.method == Method::ExponentialEuler
    }

    /// The fraction of u a population keeps over one step: u ← I + (u − I)·leak
    /// (0 for an instantaneous population).
    pub fn leak(&self, tau_s: f64) -> f64 {
        let dt = self.dt_s;
        if tau_s <= 0.0 {
            0.0
        } else if self.exponential() {
            (-dt / tau_s).exp()
        } else {
            1.0 - dt / tau_s
        }
    }

    /// The std of one step's noise increment. For a rate population, σ is the stationary std of
    /// u its noise alone gives (exact OU increments under exponential Euler). For an
    /// instantaneous population, σ is the intensity of a white noise σ ξ(t) added to u (units
    /// of u·√s): each step adds its mean over the step, of std σ/√dt. A fixed std per step would
    /// be an intensity of σ√dt, whose effect on the weights (τ_w dW = m xᵀ dt) vanishes as
    /// dt → 0; with the intensity, the weights diffuse at σ²x_j²/τ_w² whatever dt.
    pub fn noise_step(&self, sigma: f64, tau_s: f64) -> f64 {
        let dt = self.dt_s;
        if tau_s <= 0.0 {
            sigma / dt.sqrt()
        } else if self.exponential() {
            // expm1: 1 − e^{−x} keeps its digits for the small x of long time constants.
            sigma * (-(-2.0 * dt / tau_s).exp_m1()).sqrt()
        } else {
            sigma * (2.0 * dt / tau_s).sqrt()
        }
    }

    /// The std of the weight noise one step adds to each entry: τ_w dW = … + σ_w dB gives
    /// σ_w √dt / τ_w (Euler–Maruyama under every method that allows weight noise).
    pub fn weight_noise_step(&self, sigma_w: f64, tau_w_s: f64) -> f64 {
        sigma_w / tau_w_s * self.dt_s.sqrt()
    }

    /// k in W ← W·g + k·drive: dt/τ_w, or τ_d(1 − e^{−dt/τ_d})/τ_w under exponential Euler with
    /// decay (exact for a drive held over the step).
    pub fn weight_rate(&self, tau_w_s: f64, tau_decay_s: f64) -> f64 {
        let dt = self.dt_s;
        if self.exponential() && tau_decay_s.is_finite() {
            // −expm1(−x) rather than 1 − e^{−x}: for τ_d ≫ dt the latter loses its digits
            // (at τ_d = 10¹² s with dt = 0.1 ms it came out 11% high).
            -tau_decay_s * (-dt / tau_decay_s).exp_m1() / tau_w_s
        } else {
            dt / tau_w_s
        }
    }

    /// The fraction of a trace kept over one step: q ← s + (q − s)·keep (exact under exponential
    /// Euler with s held over the step, as the leak of u).
    pub fn trace_keep(&self, tau_s: f64) -> f64 {
        self.leak(tau_s)
    }

    /// g in W ← W·g + k·drive: the fraction of a weight kept over one step of decay (1 without).
    pub fn weight_retention(&self, tau_decay_s: f64) -> f64 {
        let dt = self.dt_s;
        if !tau_decay_s.is_finite() {
            1.0
        } else if self.exponential() {
            (-dt / tau_decay_s).exp()
        } else {
            1.0 - dt / tau_decay_s
        }
    }
}

/// Per-instance stimulus timing, in steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    pub present_steps: u64,
    pub period_steps: u64,
}

impl Timing {
    /// The sample shown at step n and whether it is shown (false in the gap).
    #[inline]
    pub fn at(&self, step: u64) -> (u64, bool) {
        (
            step / self.period_steps,
            step % self.period_steps < self.present_steps,
        )
    }
}

/// The ensemble plan.
#[derive(Clone, Debug)]
pub struct Plan {
    pub name: String,
    pub dt_s: f64,
    pub steps: u64,
    pub method: Method,
    pub record_every_steps: u64,
    pub trace_steps: u64,
    /// The `record:` block's probes and weight snapshots.
    pub probes: probes::Probes,
    pub measures: Vec<Measure>,
    pub populations: Vec<PlanPopulation>,
    pub projections: Vec<PlanProjection>,
    pub motifs: Vec<PlanMotif>,
    /// Non-driven populations in evaluation order.
    pub order: Vec<usize>,
    /// The forward pathway's populations in topological order, or None when it is recurrent
    /// (then the backprop-based measurements take it at its fixed point, on the host).
    pub forward_order: Option<Vec<usize>>,
    pub input: usize,
    pub output: Option<OutputPath>,
    pub seeds: Vec<u64>,
    pub labels: Vec<String>,
    pub timing: Vec<Timing>,
    pub tasks: Vec<Arc<Task>>,
    /// Per projection, `E × rows × cols`, instance-major.
    pub initial_weights: Vec<Vec<f64>>,
    /// Per projection whose synapses are not all present in some instance (`connectivity:`),
    /// `E × rows × cols` instance-major, 1 where the synapse exists and 0 where it does not:
    /// drawn once here, so every backend runs the same mask. None: every synapse exists (a
    /// tied projection copies its partner's transpose, absent synapses included, and has none).
    pub masks: Vec<Option<Vec<f64>>>,
    /// Per instance, the held-out inputs and targets as columns (n_inputs × N, n_targets × N),
    /// drawn once so every window evaluates the same set.
    pub held_out: Vec<(nalgebra::DMatrix<f64>, nalgebra::DMatrix<f64>)>,
    /// The circuits the instances were built from (for the manifest).
    pub circuits: Vec<Circuit>,
    /// Per projection: whether its weight update may be deferred while its input is held
    /// (`held_input_deferral`); backends that do not defer ignore it.
    pub held_input: Vec<bool>,
    /// False in the reference plan that applies every update step by step
    /// (`without_held_input_deferral`), and in every part split from it.
    pub defer_held_inputs: bool,
    /// The protocol's phases in order, covering every step (one phase, `run`, without a
    /// protocol). The tables a backend runs with come from here.
    pub phases: Vec<PlanPhase>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("an ensemble needs at least one instance")]
    Empty,
    #[error("instance {instance} ({label}) does not share the ensemble's topology: {what}")]
    Topology {
        instance: usize,
        label: String,
        what: String,
    },
    /// Instances of one ensemble share one clock and one recording schedule.
    #[error(
        "instance {instance} ({label}) cannot share an ensemble with instance 0: its `{field}` is {value}, instance 0's is {expected}"
    )]
    Mismatch {
        instance: usize,
        label: String,
        field: &'static str,
        value: String,
        expected: String,
    },
    #[error("instance {instance}: the task cannot be built: {message}")]
    Task { instance: usize, message: String },
    /// A probe or weight snapshot the run cannot take (an instance it does not have, or tables
    /// beyond the memory budget).
    #[error("{message}\n  hint: {hint}")]
    Probe { message: String, hint: String },
    /// The recording asks for something the ensemble does not have.
    #[error("{0}")]
    Record(String),
    /// The process could not set aside the memory the ensemble is estimated to need.
    #[error("{0}")]
    Memory(String),
    /// Saved initial weights that do not cover an instance.
    #[error("{0}")]
    InitialWeights(String),
}

impl Plan {
    pub fn n_instances(&self) -> usize {
        self.seeds.len()
    }
    /// Synapses of one instance; a fixed identity projection counts its diagonal only, since
    /// that is all the engines compute for it.
    pub fn synapses_per_instance(&self) -> usize {
        self.projections
            .iter()
            .map(|p| if p.identity { p.rows } else { p.synapses() })
            .sum()
    }
    /// The phase that step `step` belongs to (the step's first instant: a phase's start step
    /// is in it).
    pub fn phase_at(&self, step: u64) -> usize {
        self.phases
            .iter()
            .rposition(|p| p.start_step <= step)
            .unwrap_or(0)
    }
    pub fn measures(&self, m: Measure) -> bool {
        self.measures.contains(&m)
    }
    /// Projections that learn in at least one instance.
    pub fn plastic(&self) -> impl Iterator<Item = (usize, &PlanProjection)> {
        self.projections
            .iter()
            .enumerate()
            .filter(|(_, p)| p.motif.is_some())
    }

    /// The plan of `instances` under the machine's default budget (as a library caller
    /// without settings gets; a job passes its own to [`Plan::within`]).
    pub fn new(instances: &[InstanceSpec], base_dir: &std::path::Path) -> Result<Plan, PlanError> {
        Plan::within(
            instances,
            base_dir,
            &crate::circuit::budget::Budget::default(),
        )
    }

    /// The plan of `instances`, whose recorded tables must fit `budget`.
    pub fn within(
        instances: &[InstanceSpec],
        base_dir: &std::path::Path,
        budget: &crate::circuit::budget::Budget,
    ) -> Result<Plan, PlanError> {
        instances.first().ok_or(PlanError::Empty)?;
        // Every command builds its ensembles here: ask the allocator for the estimate before
        // allocating anything, so that a limit the budget did not see (overcommit, another
        // process's use) is a message instead of an abort midway.
        let estimate: f64 = instances
            .iter()
            .map(|i| crate::circuit::budget::instance_bytes(&i.circuit))
            .sum();
        crate::circuit::budget::reserve(estimate, instances.len()).map_err(PlanError::Memory)?;
        // The instance with the most populations sets the population list; every other
        // instance's populations must be a compatible subset (populations an instance lacks
        // stay idle there: every projection touching them has sign 0 in that instance).
        let widest = (0..instances.len())
            .max_by_key(|&i| (instances[i].circuit.populations.len(), usize::MAX - i))
            .unwrap_or(0);
        let c0 = &instances[widest].circuit;
        let e_count = instances.len();
        let topology = |i: usize, what: String| PlanError::Topology {
            instance: i,
            label: instances[i].label.clone(),
            what,
        };
        let dt = c0.dt_s;
        let steps_of = |seconds: f64| (seconds / dt).round() as u64;

        let mut populations: Vec<PlanPopulation> = c0
            .populations
            .iter()
            .map(|p| PlanPopulation {
                name: p.name.clone(),
                role: p.role,
                size: p.size,
                activation: p.activation,
                instantaneous: p.is_instantaneous(),
                gain_from: p.gain_from,
                tau_s: Vec::new(),
                bias: Vec::new(),
                noise: Vec::new(),
                trace: p.trace.map(|t| PlanTrace {
                    squared: t.squared,
                    tau_s: Vec::new(),
                    init: Vec::new(),
                }),
            })
            .collect();
        // Maps each instance's population indices to the plan's.
        let mut pop_maps: Vec<Vec<usize>> = Vec::new();
        for (i, inst) in instances.iter().enumerate() {
            let c = &inst.circuit;
            check_shared_schedule(instances, i)?;
            let mut map = Vec::new();
            for p in &c.populations {
                let Some(k) = populations.iter().position(|pp| pp.name == p.name) else {
                    return Err(topology(
                        i,
                        format!("population `{}` is missing from instance {widest}", p.name),
                    ));
                };
                let pp = &populations[k];
                let gain = p.gain_from.map(|g| c.populations[g].name.clone());
                let pp_gain = pp.gain_from.map(|g| populations[g].name.clone());
                if p.size != pp.size
                    || p.role != pp.role
                    || p.activation != pp.activation
                    || p.is_instantaneous() != pp.instantaneous
                    || gain != pp_gain
                    || p.trace.map(|t| t.squared) != pp.trace.as_ref().map(|t| t.squared)
                {
                    return Err(topology(
                        i,
                        format!(
                            "population `{}` differs (size, role, activation, gain, trace or instantaneity)",
                            p.name
                        ),
                    ));
                }
                map.push(k);
            }
            for (k, pp) in populations.iter_mut().enumerate() {
                let own = map.iter().position(|&m| m == k).map(|j| &c.populations[j]);
                let fallback = &c0.populations[k];
                let p = own.unwrap_or(fallback);
                pp.tau_s.push(p.tau_s);
                pp.bias.push(if own.is_some() { p.bias } else { 0.0 });
                pp.noise.push(if own.is_some() { p.noise } else { 0.0 });
                if let (Some(pt), Some(t)) = (pp.trace.as_mut(), p.trace) {
                    pt.tau_s.push(t.tau_s);
                    pt.init.push(t.init);
                }
            }
            pop_maps.push(map);
        }

        // Projections: the union over instances, matched by their endpoints.
        let mut projections: Vec<PlanProjection> = Vec::new();
        let mut motifs: Vec<PlanMotif> = Vec::new();
        for (i, inst) in instances.iter().enumerate() {
            let c = &inst.circuit;
            let error_delay = steps_of(c.spec.task.stimulus.error_delay.seconds()) as usize;
            let pm = &pop_maps[i];
            for pr in &c.projections {
                let (from, to) = (pm[pr.from], pm[pr.to]);
                let slot = match projections.iter().position(|q| q.name == pr.name) {
                    Some(slot) if projections[slot].from != from || projections[slot].to != to => {
                        return Err(topology(
                            i,
                            format!(
                                "projection `{}` runs {} → {} here but {} → {} in another instance",
                                pr.name,
                                populations[from].name,
                                populations[to].name,
                                populations[projections[slot].from].name,
                                populations[projections[slot].to].name
                            ),
                        ));
                    }
                    Some(slot) => slot,
                    None => {
                        projections.push(PlanProjection {
                            name: pr.name.clone(),
                            from,
                            to,
                            rows: c.populations[pr.to].size,
                            cols: c.populations[pr.from].size,
                            forward: pr.forward,
                            stands_for: None,
                            tied_to: None,
                            tied: vec![false; e_count],
                            sign: vec![0.0; e_count],
                            delay_steps: vec![0; e_count],
                            motif: None,
                            identity: true,
                        });
                        projections.len() - 1
                    }
                };
                let q = &mut projections[slot];
                q.sign[i] = pr.sign;
                q.identity &= pr.init == Init::Identity && pr.motif.is_none() && pr.tied.is_none();
                // The task's error delay lengthens every path into the output error.
                let into_output_error = c.output.as_ref().is_some_and(|o| o.error == pr.to);
                q.delay_steps[i] =
                    steps_of(pr.delay_s) as usize + if into_output_error { error_delay } else { 0 };
            }
            // Second pass: references between projections and motifs, by endpoints.
            for pr in &c.projections {
                let slot = find(&projections, &pr.name);
                let resolve = |projections: &[PlanProjection], other: usize| {
                    find(projections, &c.projections[other].name)
                };
                if let Some(t) = pr.tied {
                    let target = resolve(&projections, t);
                    match projections[slot].tied_to {
                        Some(existing) if existing != target => {
                            return Err(topology(
                                i,
                                format!(
                                    "`{}` is tied to different projections in different instances",
                                    pr.name
                                ),
                            ));
                        }
                        _ => projections[slot].tied_to = Some(target),
                    }
                    projections[slot].tied[i] = true;
                }
                if let Some(s) = pr.stands_for {
                    projections[slot].stands_for = Some(resolve(&projections, s));
                }
                if let Some(m) = pr.motif {
                    let motif = &c.motifs[m];
                    let index = match projections[slot].motif {
                        Some(index) => index,
                        None => {
                            motifs.push(PlanMotif {
                                projection: slot,
                                modulator: motif.modulator.map(|m| pm[m]),
                                theta: vec![[0.0; N_TERMS]; e_count],
                                tau_w_s: vec![1.0; e_count],
                                tau_decay_s: vec![f64::INFINITY; e_count],
                                weight_noise: vec![0.0; e_count],
                                keep_terms: [false; N_TERMS],
                            });
                            projections[slot].motif = Some(motifs.len() - 1);
                            motifs.len() - 1
                        }
                    };
                    let pm = &mut motifs[index];
                    let modulator = motif.modulator.map(|m| pop_maps[i][m]);
                    if pm.modulator.is_none() {
                        pm.modulator = modulator;
                    }
                    if modulator.is_some() && pm.modulator != modulator {
                        return Err(topology(
                            i,
                            format!(
                                "the motif of `{}` takes its modulator from different populations in different instances",
                                pr.name
                            ),
                        ));
                    }
                    pm.theta[i] = motif.theta;
                    pm.tau_w_s[i] = motif.tau_w_s;
                    pm.tau_decay_s[i] = motif.tau_decay_s.unwrap_or(f64::INFINITY);
                    pm.weight_noise[i] = motif.weight_noise;
                }
            }
        }

        // The widest instance's order is checked acyclic; another instance may only use it if
        // none of its undelayed projections into an instantaneous population reads a population
        // that comes later in that order.
        let order = c0.order.clone();
        let position = |p: usize| order.iter().position(|&o| o == p);
        for (i, inst) in instances.iter().enumerate() {
            for pr in &inst.circuit.projections {
                let (from, to) = (pop_maps[i][pr.from], pop_maps[i][pr.to]);
                if populations[to].instantaneous
                    && pr.delay_s == 0.0
                    && let (Some(a), Some(b)) = (position(from), position(to))
                    && a > b
                {
                    return Err(topology(
                        i,
                        format!(
                            "projection `{}` reads `{}` before the shared order evaluates it",
                            pr.name, populations[from].name
                        ),
                    ));
                }
            }
        }
        let forward_order = forward_order(&populations, &projections);

        let mut tasks = Vec::new();
        let mut timing = Vec::new();
        for (i, inst) in instances.iter().enumerate() {
            let c = &inst.circuit;
            let input = c
                .input
                .ok_or_else(|| topology(i, "no input population".into()))?;
            // Targets follow the union's target population, so every instance draws samples
            // of the same shape.
            let n_targets = populations
                .iter()
                .find(|p| p.role == Role::Target)
                .map(|p| p.size);
            let params = crate::circuit::task_params(&c.spec, c.populations[input].size, n_targets)
                .map_err(|message| PlanError::Task {
                    instance: i,
                    message,
                })?;
            let task = Task::new(&params, inst.seed, base_dir).map_err(|e| PlanError::Task {
                instance: i,
                message: e.to_string(),
            })?;
            tasks.push(Arc::new(task));
            let stim = &c.spec.task.stimulus;
            let present_steps = steps_of(stim.duration.seconds()).max(1);
            timing.push(Timing {
                present_steps,
                period_steps: present_steps + steps_of(stim.gap.seconds()),
            });
        }

        let masks: Vec<Option<Vec<f64>>> =
            projections.iter().map(|p| masks(p, instances)).collect();
        let mut initial_weights: Vec<Vec<f64>> = projections
            .iter()
            .map(|p| initial_weights(p, instances))
            .collect::<Result<_, _>>()?;
        for (w, m) in initial_weights.iter_mut().zip(&masks) {
            if let Some(m) = m {
                // Selected rather than multiplied: an absent synapse is +0, never −0.
                w.iter_mut()
                    .zip(m)
                    .for_each(|(w, m)| *w = if *m == 0.0 { 0.0 } else { *w });
            }
        }
        let held_out: Vec<_> = tasks.iter().map(|t| held_out_set(t)).collect();
        let steps = instances
            .iter()
            .map(|i| i.circuit.steps())
            .max()
            .unwrap_or(0);
        let phases = phases::Lowering {
            instances,
            populations: &populations,
            projections: &projections,
            motifs: &motifs,
            pop_maps: &pop_maps,
            tasks: &tasks,
            held_out: held_out.iter().cloned().map(Arc::new).collect(),
            dt_s: dt,
            steps,
            base_dir,
        }
        .phases()?;
        let record = &c0.spec.record;
        if let Some(pc) = &record.plasticity_curve
            && let Some(&e) = pc.instances.iter().find(|&&e| e >= e_count)
        {
            return Err(PlanError::Record(format!(
                "record.plasticity_curve.instances names instance {e}, but the ensemble has {} (numbered from 0)",
                crate::text::count(e_count, "instance")
            )));
        }
        let mut plan = Plan {
            name: c0.spec.name.clone(),
            dt_s: dt,
            steps,
            method: c0.method,
            record_every_steps: steps_of(record.every.seconds()).max(1),
            trace_steps: steps_of(record.traces.seconds()),
            probes: probes::Probes::default(),
            measures: record.measure.clone(),
            populations,
            projections,
            motifs,
            order,
            forward_order,
            input: c0.input.unwrap_or(0),
            output: c0.output.clone(),
            seeds: instances.iter().map(|i| i.seed).collect(),
            labels: instances.iter().map(|i| i.label.clone()).collect(),
            timing,
            tasks,
            initial_weights,
            masks,
            held_out,
            circuits: instances.iter().map(|i| i.circuit.clone()).collect(),
            held_input: Vec::new(),
            defer_held_inputs: true,
            phases,
        };
        plan.held_input = plan.held_input_deferral();
        plan.probes = probes::resolve(&plan, record, budget)?;
        Ok(plan)
    }
}

/// Exact deferred updates for held inputs: the one place that decides where they apply.
///
/// Whether one instance's update of a motif has the form a held input can defer: no weight
/// noise, and only terms in the a_i x_j slot — read from the θ values, not the kernels' kept
/// terms (a term kept for later generations but zero adds nothing to the update). A plan defers
/// a projection only where every instance's update does; instances that differ here would be
/// integrated another way than alone and differ in the last bits, so sweeps pack them apart
/// (`plan::ensemble_key`) and `backend::make` runs them as separate parts
/// (`Plan::deferral_groups`).
pub(crate) fn update_defers(theta: &crate::rule::Theta, weight_noise: f64) -> bool {
    weight_noise == 0.0 && crate::rule::UpdateForm::of(|k| theta[k] != 0.0).is_outer()
}

/// While the input population's rates x stay the same, a projection from it whose update is
/// W ← g·W + a xᵀ (an outer product with x, a per-step retention g, no weight noise, no term
/// reading W_ij) evolves as W_k = g^k W₀ + D_k xᵀ with D_{k+1} = g·D_k + a_k, one number per
/// post unit, and its forward current is W_k x = g^k (W₀x) + (xᵀx)·D_k. A backend may then keep
/// W₀, g^k and D and write the matrix only when x changes (or when the state is read), which is
/// exact up to rounding. The window accumulators of such a projection (the rule's ΔW, ∫δxᵀ,
/// ∫uxᵀ) are rank-one with the same x and defer the same way.
///
/// Excluded: delayed projections (x comes from a ring buffer), tied matrices and matrices
/// another projection copies (the copy reads W every step), weight noise, RK4 (its stages
/// read W), and any update with a term outside the a_i x_j slot.
impl Plan {
    fn held_input_deferral(&self) -> Vec<bool> {
        self.held_input_for(&(0..self.n_instances()).collect::<Vec<_>>())
    }

    /// Whether the exact-backprop reference of projection `q` is, in instance `e`, its rule's
    /// own update: the output layer of a linear output population, modulated by the output
    /// error, with θ_mx alone (then δ = e and the update is θ_mx·e xᵀ/τ_w). Measurements then
    /// compare the update with itself.
    pub fn backprop_is_rule(&self, q: usize, e: usize) -> bool {
        let p = &self.projections[q];
        let (Some(out), Some(m)) = (&self.output, p.motif) else {
            return false;
        };
        let motif = &self.motifs[m];
        let mx = crate::rule::Term::MX.index();
        p.to == out.output
            && motif.modulator == Some(out.error)
            && motif.theta[e]
                .iter()
                .enumerate()
                .all(|(k, c)| k == mx || *c == 0.0)
            && self.populations[out.output].activation == Activation::Linear
    }

    /// The same in every instance: backends accumulate the backprop reference of a projection
    /// only where this is false.
    pub fn backprop_is_rule_everywhere(&self, q: usize) -> bool {
        (0..self.n_instances()).all(|e| self.backprop_is_rule(q, e))
    }

    /// The same plan with every update applied step by step (the reference the deferred path
    /// is tested against).
    pub fn without_held_input_deferral(mut self) -> Self {
        self.defer_held_inputs = false;
        self.held_input.iter_mut().for_each(|d| *d = false);
        self
    }
}

/// The task's held-out samples as matrix columns.
pub(crate) fn held_out_set(task: &Task) -> (nalgebra::DMatrix<f64>, nalgebra::DMatrix<f64>) {
    let n = task.held_out_len();
    let (mut xs, mut ys) = (
        nalgebra::DMatrix::zeros(task.n_inputs(), n),
        nalgebra::DMatrix::zeros(task.n_targets(), n),
    );
    let (mut x, mut y) = (vec![0.0; task.n_inputs()], vec![0.0; task.n_targets()]);
    for i in 0..n {
        task.held_out_sample(i, &mut x, &mut y);
        xs.column_mut(i).copy_from_slice(&x);
        ys.column_mut(i).copy_from_slice(&y);
    }
    (xs, ys)
}

/// The slot of the projection named `name` (every instance's projections were entered by name
/// in the first pass, so it is there).
fn find(projections: &[PlanProjection], name: &str) -> usize {
    projections.iter().position(|q| q.name == name).unwrap_or(0)
}

/// A measurement's name as circuit files write it (`gradient_alignment`).
pub fn measure_name(m: Measure) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Instances of one ensemble advance on one clock and are recorded on one schedule: the
/// method, step, duration, recording interval, trace length, measurements, probes and weight
/// snapshots must agree with instance 0's, or the plan names the instance and the field.
fn check_shared_schedule(instances: &[InstanceSpec], i: usize) -> Result<(), PlanError> {
    let (a, b) = (&instances[0].circuit, &instances[i].circuit);
    let (ra, rb) = (&a.spec.record, &b.spec.record);
    let seconds = |s: f64| format!("{s} s");
    let names = |m: &[Measure]| {
        let mut v: Vec<String> = m.iter().map(|m| measure_name(*m)).collect();
        v.sort();
        v.dedup();
        format!("[{}]", v.join(", "))
    };
    fn json<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }
    let protocol = |c: &Circuit| {
        let v: Vec<String> = c
            .protocol
            .iter()
            .map(|p| format!("{} {} s", p.name, p.duration_s))
            .collect();
        format!("[{}]", v.join(", "))
    };
    let checks: [(&'static str, String, String); 9] = [
        ("protocol", protocol(b), protocol(a)),
        (
            "time.method",
            b.method.name().into(),
            a.method.name().into(),
        ),
        ("time.dt", seconds(b.dt_s), seconds(a.dt_s)),
        (
            "time.duration",
            seconds(b.duration_s),
            seconds(a.duration_s),
        ),
        (
            "record.every",
            seconds(rb.every.seconds()),
            seconds(ra.every.seconds()),
        ),
        (
            "record.traces",
            seconds(rb.traces.seconds()),
            seconds(ra.traces.seconds()),
        ),
        ("record.measure", names(&rb.measure), names(&ra.measure)),
        ("record.probes", json(&rb.probes), json(&ra.probes)),
        ("record.weights", json(&rb.weights), json(&ra.weights)),
    ];
    for (field, value, expected) in checks {
        if value != expected {
            return Err(PlanError::Mismatch {
                instance: i,
                label: instances[i].label.clone(),
                field,
                value,
                expected,
            });
        }
    }
    Ok(())
}

/// Draws each instance's initial matrix from its own circuit's init, keyed by the instance seed
/// and the projection's name so adding a projection never changes another's weights; saved
/// weights (`init: {file}`/`{from}`, `--from`) are copied instead, instance k of a circuit (its
/// k-th instance in the ensemble) from the saved run's instance k.
fn initial_weights(p: &PlanProjection, instances: &[InstanceSpec]) -> Result<Vec<f64>, PlanError> {
    let n = p.synapses();
    let mut out = vec![0.0; n * instances.len()];
    for (i, inst) in instances.iter().enumerate() {
        let c = &inst.circuit;
        let Some(own) = c.projections.iter().find(|q| q.name == p.name) else {
            continue;
        };
        let block = &mut out[i * n..(i + 1) * n];
        if let Some(saved) = &own.saved {
            let k = instances[..i]
                .iter()
                .filter(|o| o.label == inst.label)
                .count();
            block.copy_from_slice(saved.for_instance(k).map_err(PlanError::InitialWeights)?);
            continue;
        }
        let stream = rng::stream_id(&format!("init/{}", own.name));
        match own.init {
            Init::Zeros => {}
            Init::Constant(v) => block.fill(v),
            Init::Identity => {
                for k in 0..p.rows.min(p.cols) {
                    block[k * p.cols + k] = 1.0;
                }
            }
            Init::Uniform([low, high]) => {
                rng::fill_uniform(inst.seed, stream, 0, block);
                block.iter_mut().for_each(|w| *w = low + (high - low) * *w);
            }
            Init::Normal([mean, std]) => {
                rng::fill_normal(inst.seed, stream, 0, block);
                block.iter_mut().for_each(|w| *w = mean + std * *w);
            }
            // Read at check time into `saved` (handled above).
            Init::File(_) | Init::From { .. } => {}
        }
        // An edge file's weight column sets the weights of the synapses it lists.
        if let Wiring::Edges(f) = &own.wiring
            && let Some(ws) = &f.weights
        {
            for (&(i, j), &w) in f.edges.iter().zip(ws) {
                block[i * p.cols + j] = w;
            }
        }
    }
    Ok(out)
}

/// Each instance's mask of projection `p` from its own circuit's connectivity, drawn with the
/// instance seed (`circuit::connectivity`); None when every instance has every synapse.
/// Instances without the projection get ones (their sign is 0 there).
fn masks(p: &PlanProjection, instances: &[InstanceSpec]) -> Option<Vec<f64>> {
    let n = p.synapses();
    let own = |inst: &InstanceSpec| {
        inst.circuit
            .projections
            .iter()
            .find(|q| q.name == p.name)
            .map(|q| q.wiring.clone())
    };
    if instances.iter().all(|i| own(i).is_none_or(|w| w.is_all())) {
        return None;
    }
    let mut out = vec![1.0; n * instances.len()];
    for (i, inst) in instances.iter().enumerate() {
        if let Some(mask) = own(inst).and_then(|w| w.mask(&p.name, inst.seed, p.rows, p.cols)) {
            out[i * n..(i + 1) * n].copy_from_slice(&mask);
        }
    }
    Some(out)
}

/// Topological order of the forward pathway (input and rate populations joined by forward
/// projections), or None if it has a cycle.
fn forward_order(
    populations: &[PlanPopulation],
    projections: &[PlanProjection],
) -> Option<Vec<usize>> {
    let members: Vec<usize> = (0..populations.len())
        .filter(|&i| matches!(populations[i].role, Role::Input | Role::Rate))
        .collect();
    let mut indegree = vec![0usize; populations.len()];
    for p in projections.iter().filter(|p| p.forward) {
        indegree[p.to] += 1;
    }
    let mut ready: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&i| indegree[i] == 0)
        .collect();
    let mut order = Vec::new();
    while let Some(n) = ready.pop() {
        order.push(n);
        for p in projections.iter().filter(|p| p.forward && p.from == n) {
            indegree[p.to] -= 1;
            if indegree[p.to] == 0 {
                ready.push(p.to);
            }
        }
    }
    (order.len() == members.len()).then_some(order)
}

#[cfg(test)]
mod tests;
