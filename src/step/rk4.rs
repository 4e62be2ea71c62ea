//! The classical Runge–Kutta step, derived from the Euler step program rather than written
//! beside it: the Euler program's evaluation (instantaneous populations, rate populations'
//! inputs) becomes the vector field evaluated at four stages with the stimulus held over the
//! step; its `Integrate` becomes a population's slope and its `Update` a motif's slope; its
//! rings, accumulators and tied copies keep their meaning.
//!
//! The derived order, at step n:
//! 1. the stimulus for t (`Stimulus`); the state the stages start from is kept (`StageStart`);
//! 2. four times: the evaluation (the Euler program's `Instantaneous` and `SumInput`, in its
//!    order), every rate population's slope (`Slope`) and every motif's (`WeightSlope`); at
//!    the first stage only, the rings and window accumulators read the step's rates (`PushRing`,
//!    `Accumulate`, `AccumulateRuleSlope`: the window uses the first stage); then the slopes join
//!    the weighted sum and u, W move to the next stage's point (`Stage`), and, before stages 2–4,
//!    the rates follow u (`Rates`) and tied matrices their partner (`CopyTied`);
//! 3. u, W ← u₀, W₀ + dt/6 · Σ (`StageEnd`); rates; additive noise (`Noise`); rates again; tied
//!    copies.
//!
//! Traces, weight noise and connectivity masks have no RK4 form; the circuit checks refuse them
//! with `method: rk4`.

use super::{Op, StepProgram};
use crate::plan::Plan;

/// The RK4 program of `plan`, derived from its Euler program `euler` (before any pass: RK4
/// neither defers held inputs nor fuses updates, since its stages read W between changes).
pub fn derive(euler: &StepProgram, plan: &Plan) -> StepProgram {
    let pick =
        |keep: fn(&Op) -> bool| -> Vec<Op> { euler.ops.iter().copied().filter(&keep).collect() };
    let evaluation = pick(|op| matches!(op, Op::Instantaneous { .. } | Op::SumInput { .. }));
    let rings = pick(|op| matches!(op, Op::PushRing { .. }));
    let ties = pick(|op| matches!(op, Op::CopyTied { .. }));
    let rate_populations: Vec<usize> = euler
        .ops
        .iter()
        .filter_map(|op| match *op {
            Op::Integrate { population } => Some(population),
            _ => None,
        })
        .collect();
    let motifs: Vec<usize> = euler
        .ops
        .iter()
        .filter_map(|op| match *op {
            Op::Update { motif, .. } => Some(motif),
            _ => None,
        })
        .collect();
    let rates = || {
        rate_populations
            .iter()
            .map(|&population| Op::Rates { population })
    };

    let mut ops = vec![Op::Stimulus, Op::StageStart];
    for stage in 0..4u8 {
        ops.extend(&evaluation);
        ops.extend(
            rate_populations
                .iter()
                .map(|&population| Op::Slope { population }),
        );
        ops.extend(motifs.iter().map(|&motif| Op::WeightSlope { motif }));
        if stage == 0 {
            ops.extend(&rings);
            ops.push(Op::Accumulate);
            ops.push(Op::AccumulateRuleSlope);
        }
        ops.push(Op::Stage { stage });
        if stage < 3 {
            ops.extend(rates());
            ops.extend(&ties);
        }
    }
    ops.push(Op::StageEnd);
    ops.extend(rates());
    ops.extend(
        rate_populations
            .iter()
            .filter(|&&p| may_be_noisy(plan, p))
            .map(|&population| Op::Noise { population }),
    );
    ops.extend(rates());
    ops.extend(&ties);
    StepProgram { ops }
}

/// Whether population `p` has noise in some instance and some phase.
fn may_be_noisy(plan: &Plan, p: usize) -> bool {
    plan.populations[p].noise.iter().any(|s| *s != 0.0)
        || plan
            .phases
            .iter()
            .any(|ph| ph.tables.noise[p].iter().any(|s| *s != 0.0))
}
