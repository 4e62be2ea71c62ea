//! The row layout's step (one large instance, a few kernel launches per step), derived from the
//! step program by passes: which matrices it stores transposed ([`transpose`]), which updates
//! form the next step's product as they write W, and how the operations group into launches
//! ([`group`]). The OpenCL row generator emits each launch from the operations it holds and
//! the host enqueues the launches in the order listed here.
//!
//! The launches of step n, in order, each reading the copy of the rates of step n and writing
//! that of step n + 1 (rates and inputs live in two copies, so a kernel's work-items never
//! read what another one writes):
//! - an instantaneous population that a projection or a gain reads, alone;
//! - `integrate`: the rate populations' input sums and integration (pushing their delayed
//!   rates), the instantaneous populations nobody reads (`late`), step n + 1's stimulus (with
//!   the rings of driven and instantaneous sources) and the loss and traces of step n;
//! - the window accumulators (the emitter gives δ and the outer products a launch each);
//! - `update`: the instantaneous populations of step n + 1 whose inputs are fixed matrices of
//!   known rates (`early`), the rebase of deferred matrices, every motif's update (fused ones
//!   forming step n + 1's product as they go) and the slow traces;
//! - `wnoise`: the weight noise of noisy motifs; `mask`: masked matrices zero their absent
//!   synapses (after the update and the noise; a masked update is never fused, so the next
//!   product reads the masked matrix); `tied`: tied matrices copy their partner.
//!
//! A new operation takes one arm in [`group`] (the launch that computes it) and one in that
//! launch's emitter in the row generator; `step::tests` checks that no operation is dropped.

use super::{Op, StepProgram, passes};
use crate::plan::Plan;
use crate::spec::Role;
use std::fmt;

/// A kernel of the row layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// One instantaneous population of step n, read by later launches of the step.
    Instantaneous { population: usize },
    /// Rate populations to step n + 1, unread instantaneous populations, the next stimulus,
    /// loss and traces.
    Integrate,
    /// The window accumulators (the emitter launches δ per population and the outer products).
    Accumulators,
    /// Every motif's update, early populations of step n + 1, fused products and traces.
    Update,
    /// Weight noise of the noisy motifs.
    WeightNoise,
    /// Masked matrices zero their absent synapses.
    Mask,
    /// Tied matrices copy their partner's transpose.
    Tied,
    /// Step 0's stimulus, before the first step (priming only).
    Drive,
}

impl Kernel {
    fn name(self) -> String {
        match self {
            Kernel::Instantaneous { population } => format!("inst_{population}"),
            Kernel::Integrate => "integrate".into(),
            Kernel::Accumulators => "accumulators".into(),
            Kernel::Update => "update".into(),
            Kernel::WeightNoise => "wnoise".into(),
            Kernel::Mask => "mask".into(),
            Kernel::Tied => "tied".into(),
            Kernel::Drive => "drive (priming)".into(),
        }
    }
}

/// One launch: a kernel and the operations of the step program it computes, in the order its
/// work-items take them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub kernel: Kernel,
    pub ops: Vec<Op>,
}

/// The row layout's step: the program after its passes, grouped into launches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowSchedule {
    /// The step program as the row layout runs it (held inputs deferred, updates fused).
    pub program: StepProgram,
    /// Per projection: stored transposed (`[pre][post]`).
    pub transposed: Vec<bool>,
    /// Per projection: its next step's product is formed by its update (fused or deferred),
    /// so its target's input sum reads that product.
    pub product_by_update: Vec<bool>,
    /// The launches of one step, in order.
    pub launches: Vec<Launch>,
    /// The priming launch before step 0: its stimulus and the rings of driven sources.
    pub drive: Launch,
}

impl RowSchedule {
    /// The row layout's schedule of `plan` (one instance); `short_row`: rows shorter than
    /// this, in matrices at least twice as tall, are stored transposed (0: none).
    pub fn for_plan(plan: &Plan, short_row: usize) -> RowSchedule {
        let mut program = StepProgram::lower(plan);
        passes::defer_held_inputs(&mut program, plan);
        // The row layout's deferral has no mask: masked matrices update step by step.
        passes::undefer_masked(&mut program, plan);
        let transposed = transpose(&mut program, plan, short_row);
        passes::fuse_updates(&mut program, |mi| {
            let q = plan.motifs[mi].projection;
            fusable(plan, &transposed, q) && plan.masks[q].is_none()
        });
        let mut product_by_update = vec![false; plan.projections.len()];
        for op in &program.ops {
            if let Op::Update {
                motif,
                deferred,
                fused,
            } = *op
            {
                product_by_update[plan.motifs[motif].projection] = deferred || fused;
            }
        }
        let (launches, drive) = group(&program, plan);
        RowSchedule {
            program,
            transposed,
            product_by_update,
            launches,
            drive,
        }
    }

    /// Whether the update launch forms anything of step n + 1 (products or early populations),
    /// so that a priming launch must form them for step 0.
    pub fn update_forms_next(&self) -> bool {
        self.launches.iter().any(|l| {
            l.kernel == Kernel::Update
                && l.ops.iter().any(|op| match *op {
                    Op::Instantaneous { .. } => true,
                    Op::Update {
                        deferred, fused, ..
                    } => deferred || fused,
                    _ => false,
                })
        })
    }

    /// The launches with their operations named by the plan, for reading and for tests.
    pub fn listing<'a>(&'a self, plan: &'a Plan) -> RowListing<'a> {
        RowListing {
            schedule: self,
            plan,
        }
    }
}

/// Tall matrices with short rows (a feedback matrix 1000 × 10) are stored transposed, so that
/// their products and updates run along the long side as vectors. Their updates are not
/// deferred: a deferred update forms its product along the rows.
pub fn transpose(program: &mut StepProgram, plan: &Plan, short_row: usize) -> Vec<bool> {
    let transposed = stored_transposed(plan, short_row);
    super::passes::mark_deferred(program, plan, |projection, was| {
        was && !transposed[projection]
    });
    transposed
}

/// Per projection: stored transposed with rows shorter than `short_row` (0: none).
pub fn stored_transposed(plan: &Plan, short_row: usize) -> Vec<bool> {
    plan.projections
        .iter()
        .map(|p| short_row > 0 && p.cols < short_row && p.rows >= 2 * short_row)
        .collect()
}

/// Whether projection q's next product can be formed by its update: its source's next rates
/// are known when the weights change (driven or a rate population), no delay, no weight noise,
/// not tied, stored by rows.
fn fusable(plan: &Plan, transposed: &[bool], q: usize) -> bool {
    let proj = &plan.projections[q];
    let Some(mi) = proj.motif else { return false };
    proj.max_delay() == 0
        && known(plan, proj.from)
        && !plan.motifs[mi].has_noise()
        && !tied(plan, q)
        && !transposed[q]
}

/// A source whose rates of step n + 1 are known once step n has integrated.
fn known(plan: &Plan, pop: usize) -> bool {
    let p = &plan.populations[pop];
    matches!(p.role, Role::Input | Role::Target) || !p.instantaneous
}

fn tied(plan: &Plan, q: usize) -> bool {
    let p = &plan.projections[q];
    p.tied_to.is_some() && p.tied.iter().any(|t| *t)
}

/// An instantaneous population that no projection reads (a modulator such as a local error
/// δ): nothing else in step n waits for it, so it is evaluated inside `integrate` instead of a
/// launch of its own.
pub fn late(plan: &Plan, pop: usize) -> bool {
    let p = &plan.populations[pop];
    let read_by_projection = plan.projections.iter().any(|q| q.from == pop);
    let gain_source = plan.populations.iter().any(|o| o.gain_from == Some(pop));
    // The trace (read in the same launch) samples the output error and the first motif.
    let traced = plan.trace_steps > 0
        && (plan.output.as_ref().is_some_and(|o| o.error == pop)
            || plan.motifs.first().is_some_and(|mt| {
                let q = &plan.projections[mt.projection];
                q.to == pop || mt.modulator == Some(pop)
            }));
    p.instantaneous && !read_by_projection && !gain_source && !traced
}

/// An instantaneous population whose inputs are all fixed matrices from driven or rate
/// populations (e.g. the output error e = y* − y): its value for step n + 1 is known once step
/// n has integrated, so the update launch of step n computes it, saving a launch.
pub fn early(plan: &Plan, pop: usize) -> bool {
    let p = &plan.populations[pop];
    p.instantaneous
        && !plan.motifs.is_empty()
        && !late(plan, pop)
        && plan
            .projections
            .iter()
            .enumerate()
            .filter(|(_, proj)| proj.to == pop)
            .all(|(q, proj)| {
                proj.motif.is_none()
                    && !tied(plan, q)
                    && proj.max_delay() == 0
                    && known(plan, proj.from)
            })
        && p.gain_from.is_none_or(|g| known(plan, g))
}

/// Groups the program's operations into the row layout's launches (see the module docs), and
/// the priming launch.
pub fn group(program: &StepProgram, plan: &Plan) -> (Vec<Launch>, Launch) {
    let pops = &plan.populations;
    let ring_of_driven = |q: usize| {
        let src = &pops[plan.projections[q].from];
        src.instantaneous || matches!(src.role, Role::Input | Role::Target)
    };
    let mut launches = Vec::new();
    let mut inputs = Vec::new();
    let mut rate_rings = Vec::new();
    let mut integrations = Vec::new();
    let mut late_pops = Vec::new();
    let mut next_stimulus = Vec::new();
    let mut accumulate = Vec::new();
    let mut update = Vec::new();
    let mut early_pops = Vec::new();
    let mut noise = Vec::new();
    let mut tie = Vec::new();
    let mut mask = Vec::new();
    for op in &program.ops {
        match *op {
            Op::Stimulus => next_stimulus.push(*op),
            Op::RebaseHeld | Op::PrepareNextInput | Op::Trace { .. } => update.push(*op),
            Op::Instantaneous { population } if late(plan, population) => late_pops.push(*op),
            Op::Instantaneous { population } if early(plan, population) => early_pops.push(*op),
            Op::Instantaneous { population } => launches.push(Launch {
                kernel: Kernel::Instantaneous { population },
                ops: vec![*op],
            }),
            Op::SumInput { population } => inputs.push(population),
            Op::Integrate { .. } => integrations.push(*op),
            Op::PushRing { projection } if ring_of_driven(projection) => next_stimulus.push(*op),
            Op::PushRing { .. } => rate_rings.push(*op),
            Op::Accumulate => accumulate.push(*op),
            Op::Update { motif, .. } => {
                if plan.motifs[motif].has_noise() {
                    noise.push(*op);
                }
                update.push(*op);
            }
            Op::CopyTied { .. } => tie.push(*op),
            Op::Mask { .. } => mask.push(*op),
            // RK4's operations: `lower` writes the Euler step, and the device layout refuses
            // `method: rk4` before any schedule is made.
            Op::StageStart
            | Op::Slope { .. }
            | Op::WeightSlope { .. }
            | Op::AccumulateRuleSlope
            | Op::Stage { .. }
            | Op::StageEnd
            | Op::Rates { .. }
            | Op::Noise { .. } => {}
        }
    }
    // A rate population's block of work-items: its input, the rings it feeds (with its rates
    // of step n, before they move), its integration.
    let mut integrate = Vec::new();
    for population in inputs {
        let from_it = |op: &&Op| match **op {
            Op::PushRing { projection } => plan.projections[projection].from == population,
            Op::Integrate { population: p } => p == population,
            _ => false,
        };
        integrate.push(Op::SumInput { population });
        integrate.extend(rate_rings.iter().filter(from_it));
        integrate.extend(integrations.iter().filter(from_it));
    }
    let drive = Launch {
        kernel: Kernel::Drive,
        ops: next_stimulus.clone(),
    };
    integrate.extend(late_pops);
    integrate.extend(next_stimulus);
    // The loss and traces of step n, on one work-item.
    integrate.extend(accumulate.iter().copied());
    launches.push(Launch {
        kernel: Kernel::Integrate,
        ops: integrate,
    });
    launches.push(Launch {
        kernel: Kernel::Accumulators,
        ops: accumulate,
    });
    if update
        .iter()
        .any(|op| matches!(op, Op::Update { .. } | Op::Trace { .. }))
    {
        early_pops.extend(update);
        launches.push(Launch {
            kernel: Kernel::Update,
            ops: early_pops,
        });
    }
    for (kernel, ops) in [
        (Kernel::WeightNoise, noise),
        (Kernel::Mask, mask),
        (Kernel::Tied, tie),
    ] {
        if !ops.is_empty() {
            launches.push(Launch { kernel, ops });
        }
    }
    (launches, drive)
}

/// A row schedule printed with the plan's names: one launch a line, its operations after it.
pub struct RowListing<'a> {
    schedule: &'a RowSchedule,
    plan: &'a Plan,
}

impl fmt::Display for RowListing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = self.plan;
        let t: Vec<&str> = (plan.projections.iter().zip(&self.schedule.transposed))
            .filter(|(_, t)| **t)
            .map(|(p, _)| p.name.as_str())
            .collect();
        if !t.is_empty() {
            writeln!(f, "transposed {}", t.join(" "))?;
        }
        let launches = self.schedule.launches.iter();
        for launch in launches.chain([&self.schedule.drive]) {
            writeln!(f, "{}:", launch.kernel.name())?;
            let ops = StepProgram {
                ops: launch.ops.clone(),
            };
            for (line, op) in ops.listing(plan).to_string().lines().zip(&launch.ops) {
                writeln!(f, "  {line}{}", note(launch.kernel, op))?;
            }
        }
        Ok(())
    }
}

/// What a launch computes of an operation, where that is not the operation of step n whole.
fn note(kernel: Kernel, op: &Op) -> &'static str {
    match (kernel, op) {
        (Kernel::Update, Op::Instantaneous { .. }) | (Kernel::Integrate, Op::Stimulus) => {
            " (step n + 1)"
        }
        (Kernel::Integrate, Op::Accumulate) => " (loss, traces)",
        (Kernel::Accumulators, Op::Accumulate) => " (δ, outer products)",
        (Kernel::WeightNoise, Op::Update { .. }) => " (its weight noise)",
        _ => "",
    }
}
