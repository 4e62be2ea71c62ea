//! Rewrites of a step program that change how a backend computes the step, not what it
//! computes. Each is tested on its own (`step::tests`).

use super::{Op, StepProgram};
use crate::plan::Plan;

/// Marks the updates of projections whose input is held (`Plan::held_input`: an outer-product
/// update from the input population, see `plan::update_defers`) as deferred, and writes the
/// rebase of their matrices right after the stimulus, the only operation that changes the input.
/// A deferred masked matrix has no mask op: its rebase writes absent synapses as zero.
pub fn defer_held_inputs(program: &mut StepProgram, plan: &Plan) {
    mark_deferred(program, plan, |projection, _| plan.held_input[projection]);
}

/// Keeps masked matrices' updates step by step (for a backend whose deferral has no mask).
pub fn undefer_masked(program: &mut StepProgram, plan: &Plan) {
    mark_deferred(program, plan, |projection, d| {
        d && plan.masks[projection].is_none()
    });
}

/// Sets each update's `deferred` to `deferred(its projection, what it was)`, keeps the
/// rebase of held matrices (right after the stimulus, the only operation that changes the
/// input) exactly when some update is deferred, and the mask op of exactly the masked matrices
/// updated step by step (right after the last update, in the motifs' order).
pub(super) fn mark_deferred(
    program: &mut StepProgram,
    plan: &Plan,
    deferred: impl Fn(usize, bool) -> bool,
) {
    let mut any = false;
    for op in &mut program.ops {
        if let Op::Update {
            motif, deferred: d, ..
        } = op
        {
            *d = deferred(plan.motifs[*motif].projection, *d);
            any |= *d;
        }
    }
    let rebase = program.ops.iter().position(|op| *op == Op::RebaseHeld);
    match (any, rebase) {
        (true, None) => {
            let at = stimulus_end(program);
            program.ops.insert(at, Op::RebaseHeld);
        }
        (false, Some(i)) => {
            program.ops.remove(i);
        }
        _ => {}
    }
    program.ops.retain(|op| !matches!(op, Op::Mask { .. }));
    let masks: Vec<Op> = program
        .ops
        .iter()
        .filter_map(|op| match *op {
            Op::Update {
                motif,
                deferred: false,
                ..
            } => Some(plan.motifs[motif].projection),
            _ => None,
        })
        .filter(|&q| plan.masks[q].is_some())
        .map(|projection| Op::Mask { projection })
        .collect();
    if let Some(last) = program
        .ops
        .iter()
        .rposition(|op| matches!(op, Op::Update { .. }))
    {
        program.ops.splice(last + 1..last + 1, masks);
    }
}

/// Marks the updates of the motifs `fusable` names — a backend's choice — as fused (computing
/// the next step's forward product as they write W), and fetches the next step's input before
/// the first of them. A deferred update is never fused: its matrix is not written every step.
pub fn fuse_updates(program: &mut StepProgram, fusable: impl Fn(usize) -> bool) {
    let mut first = None;
    for (i, op) in program.ops.iter_mut().enumerate() {
        if let Op::Update {
            motif,
            deferred,
            fused,
        } = op
            && !*deferred
            && fusable(*motif)
        {
            *fused = true;
            first.get_or_insert(i);
        }
    }
    if let Some(i) = first {
        // After the window accumulators, which still read this step's input.
        let at = program.ops[..i]
            .iter()
            .rposition(|op| *op == Op::Accumulate)
            .map_or(i, |a| a + 1);
        program.ops.insert(at, Op::PrepareNextInput);
    }
}

/// The position just after the stimulus.
fn stimulus_end(program: &StepProgram) -> usize {
    program
        .ops
        .iter()
        .position(|op| *op == Op::Stimulus)
        .map_or(0, |i| i + 1)
}
