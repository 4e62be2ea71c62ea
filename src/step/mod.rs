//! The integration step, declared once: the plan lowers into an ordered list of operations
//! over its named state (populations' rates and inputs, projections' weights and delay rings,
//! motifs' updates, traces, window accumulators), and every backend executes or emits that
//! list in order. The step order is written here and nowhere else.
//!
//! The order (Euler and exponential Euler), at step n and time t = n·dt:
//! 1. the task sets the input and target populations for t (`Stimulus`);
//! 2. instantaneous populations are evaluated in the plan's order (`Instantaneous`);
//! 3. rate populations' inputs are summed (`SumInput`);
//! 4. delayed projections push this step's presynaptic rates into their rings (`PushRing`),
//!    before any rate moves, so that a d-step delay lags exactly d steps whatever the source;
//! 5. the window accumulators read these rates (`Accumulate`);
//! 6. every motif updates its weights from the same rates (`Update`); a motif reads only those
//!    rates and its own W, so motifs are independent and their order does not matter; then the
//!    populations' slow traces take this step's rates (`Trace`);
//! 7. rate populations integrate their input (`Integrate`); tied matrices copy their partner's
//!    transpose (`CopyTied`).
//!
//! Passes rewrite the list without changing what it computes: [`passes::defer_held_inputs`]
//! marks the updates a held input lets a backend defer and writes the rebase of their matrices
//! right after the stimulus; [`passes::fuse_updates`] marks updates that compute the next step's
//! forward product as they go and fetches the next input before them. The RK4 step is derived
//! from the same program ([`rk4::derive`]), and the OpenCL row layout derives its launches from
//! it by passes of its own ([`rows`]).

pub mod passes;
pub mod rk4;
pub mod rows;
#[cfg(test)]
mod tests;

use crate::plan::Plan;
use crate::spec::Method;
use std::fmt;

/// One operation of the step. Indices are the plan's (populations, projections, motifs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The task sets the input and target populations for this step.
    Stimulus,
    /// Deferred matrices whose held input has changed are written out, and the new input held.
    RebaseHeld,
    /// An instantaneous population: u = bias + Σ sign·W·r (× its gain partner's φ′) (+ noise),
    /// z = φ(u).
    Instantaneous { population: usize },
    /// A rate population's input: bias + Σ sign·W·r (× its gain partner's φ′).
    SumInput { population: usize },
    /// A delayed projection's ring takes its source's rates of this step.
    PushRing { projection: usize },
    /// The window accumulators (loss, backprop's δ xᵀ, the Hebbian direction u xᵀ) read this
    /// step's rates.
    Accumulate,
    /// The input population's rates of the next step, fetched for fused updates.
    PrepareNextInput,
    /// A motif updates its projection's weights from this step's rates.
    Update {
        motif: usize,
        /// The input is held: the update is kept as a rank-one sum until the input changes.
        deferred: bool,
        /// The update also computes the next step's forward product W·x.
        fused: bool,
    },
    /// A plastic projection with absent synapses (`Plan::masks`) zeroes them again after
    /// its update (and weight noise): W ← W ⊙ M.
    Mask { projection: usize },
    /// A population's slow trace q takes this step's rates.
    Trace { population: usize },
    /// A rate population integrates its input (+ noise), z = φ(u).
    Integrate { population: usize },
    /// A tied matrix copies its partner's transpose.
    CopyTied { projection: usize },
    /// RK4: the state the stages start from (u₀, W₀) is kept.
    StageStart,
    /// RK4: a rate population's slope du/dt = (I − u)/τ at this stage's point.
    Slope { population: usize },
    /// RK4: a motif's slope dW/dt (its drive over τ_w, less the decay) at this stage's point.
    WeightSlope { motif: usize },
    /// RK4: the window's ΔW of the rule from the first stage's weight slopes.
    AccumulateRuleSlope,
    /// RK4: stage `stage`'s slopes join the weighted sum (1, 2, 2, 1), and u and W move to the
    /// next stage's point.
    Stage { stage: u8 },
    /// RK4: u, W ← u₀, W₀ + dt/6 · (the weighted sum of slopes).
    StageEnd,
    /// A rate population's rates follow its u: z = φ(u).
    Rates { population: usize },
    /// A rate population's additive noise (if its phase gives it any), after the RK4 stages.
    Noise { population: usize },
}

/// The ordered operations of one step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepProgram {
    pub ops: Vec<Op>,
}

impl StepProgram {
    /// The step of an Euler or exponential Euler plan, before any pass.
    pub fn lower(plan: &Plan) -> StepProgram {
        let pops = &plan.populations;
        let mut ops = vec![Op::Stimulus];
        ops.extend(
            plan.order
                .iter()
                .filter(|&&p| pops[p].instantaneous)
                .map(|&population| Op::Instantaneous { population }),
        );
        ops.extend(
            plan.order
                .iter()
                .filter(|&&p| !pops[p].instantaneous)
                .map(|&population| Op::SumInput { population }),
        );
        ops.extend(
            plan.projections
                .iter()
                .enumerate()
                .filter(|(_, p)| p.ring_len() > 0)
                .map(|(projection, _)| Op::PushRing { projection }),
        );
        ops.push(Op::Accumulate);
        ops.extend((0..plan.motifs.len()).map(|motif| Op::Update {
            motif,
            deferred: false,
            fused: false,
        }));
        ops.extend(
            plan.motifs
                .iter()
                .map(|m| m.projection)
                .filter(|&q| plan.masks[q].is_some())
                .map(|projection| Op::Mask { projection }),
        );
        ops.extend(
            pops.iter()
                .enumerate()
                .filter(|(_, p)| p.trace.is_some())
                .map(|(population, _)| Op::Trace { population }),
        );
        ops.extend(
            plan.order
                .iter()
                .filter(|&&p| !pops[p].instantaneous)
                .map(|&population| Op::Integrate { population }),
        );
        ops.extend(
            plan.projections
                .iter()
                .enumerate()
                .filter(|(_, p)| p.tied_to.is_some())
                .map(|(projection, _)| Op::CopyTied { projection }),
        );
        StepProgram { ops }
    }

    /// The program as a backend runs it: lowered, with held inputs deferred where the plan
    /// allows it, and the updates `fusable` names fused.
    pub fn for_plan(plan: &Plan, fusable: impl Fn(usize) -> bool) -> StepProgram {
        let mut program = StepProgram::lower(plan);
        if plan.method == Method::Rk4 {
            return rk4::derive(&program, plan);
        }
        passes::defer_held_inputs(&mut program, plan);
        // A masked matrix's next product must read it after the mask.
        passes::fuse_updates(&mut program, |m| {
            fusable(m) && plan.masks[plan.motifs[m].projection].is_none()
        });
        program
    }

    /// Per projection: whether its update is deferred while its input is held (what a
    /// backend's memory layout must provide for).
    pub fn deferred_projections(&self, plan: &Plan) -> Vec<bool> {
        let mut deferred = vec![false; plan.projections.len()];
        for op in &self.ops {
            if let Op::Update {
                motif,
                deferred: true,
                ..
            } = *op
            {
                deferred[plan.motifs[motif].projection] = true;
            }
        }
        deferred
    }

    /// The program with its operations named by the plan (one per line), for reading and for
    /// tests that compare it with a reviewed listing.
    pub fn listing<'a>(&'a self, plan: &'a Plan) -> Listing<'a> {
        Listing {
            program: self,
            plan,
        }
    }

    /// Per projection: whether its motif's update is fused.
    pub fn fused_projections(&self, plan: &Plan) -> Vec<bool> {
        let mut fused = vec![false; plan.projections.len()];
        for op in &self.ops {
            if let Op::Update {
                motif, fused: true, ..
            } = *op
            {
                fused[plan.motifs[motif].projection] = true;
            }
        }
        fused
    }

    /// Whether any update is fused (the next input must then be fetched).
    pub fn any_fused(&self) -> bool {
        self.ops
            .iter()
            .any(|op| matches!(op, Op::Update { fused: true, .. }))
    }
}

/// A program printed with the plan's names.
pub struct Listing<'a> {
    program: &'a StepProgram,
    plan: &'a Plan,
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = self.plan;
        let pop = |p: usize| plan.populations[p].name.as_str();
        let proj = |q: usize| plan.projections[q].name.as_str();
        for op in &self.program.ops {
            match *op {
                Op::Stimulus => writeln!(f, "stimulus")?,
                Op::RebaseHeld => writeln!(f, "rebase held")?,
                Op::Instantaneous { population } => {
                    writeln!(f, "instantaneous {}", pop(population))?
                }
                Op::SumInput { population } => writeln!(f, "input {}", pop(population))?,
                Op::PushRing { projection } => writeln!(f, "ring {}", proj(projection))?,
                Op::Accumulate => writeln!(f, "accumulate")?,
                Op::PrepareNextInput => writeln!(f, "next input")?,
                Op::Update {
                    motif,
                    deferred,
                    fused,
                } => {
                    let m = &plan.motifs[motif];
                    let form = m.form();
                    let terms: Vec<&str> =
                        form.slots.iter().flatten().map(|t| t.def().key).collect();
                    write!(f, "update {} ({}", proj(m.projection), terms.join(" "))?;
                    if deferred {
                        write!(f, ", deferred")?;
                    }
                    if fused {
                        write!(f, ", fused")?;
                    }
                    writeln!(f, ")")?
                }
                Op::Mask { projection } => writeln!(f, "mask {}", proj(projection))?,
                Op::Trace { population } => writeln!(f, "trace {}", pop(population))?,
                Op::Integrate { population } => writeln!(f, "integrate {}", pop(population))?,
                Op::CopyTied { projection } => {
                    let from = plan.projections[projection].tied_to.map_or("?", proj);
                    writeln!(f, "tie {} = {}ᵀ", proj(projection), from)?
                }
                Op::StageStart => writeln!(f, "stage start")?,
                Op::Slope { population } => writeln!(f, "slope {}", pop(population))?,
                Op::WeightSlope { motif } => {
                    writeln!(f, "slope {}", proj(plan.motifs[motif].projection))?
                }
                Op::AccumulateRuleSlope => writeln!(f, "accumulate rule slope")?,
                Op::Stage { stage } => writeln!(f, "stage {}", stage + 1)?,
                Op::StageEnd => writeln!(f, "stage end")?,
                Op::Rates { population } => writeln!(f, "rates {}", pop(population))?,
                Op::Noise { population } => writeln!(f, "noise {}", pop(population))?,
            }
        }
        Ok(())
    }
}
