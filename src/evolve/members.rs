//! The members of a generation: a search-space point written into the circuit's motifs, the
//! free terms kept in the plan, and the fitness and per-layer angles read from the run's rows.

use super::setup::Setup;
use super::spec::{FreeKind, FreeParameter};
use crate::circuit::Circuit;
use crate::experiment::summary::mean_sd;
use crate::plan::Plan;
use crate::record::Collector;
use crate::rule::Term;
use crate::spec::RuleSpec;
use crate::spec::Time;

/// The index in `circuit.motifs` of the spec's motif `k`.
pub(super) fn circuit_motif(c: &Circuit, k: usize) -> usize {
    let name = &c.spec.motifs[k].plastic;
    c.motifs
        .iter()
        .position(|m| &c.projections[m.projection].name == name)
        .unwrap_or(k)
}

/// The circuit of one member: the free coordinates `x` (clipped into their bounds) written
/// into its motifs, in the circuit and in its spec alike, so `best.yaml` is exactly what ran.
pub(super) fn member_circuit(base: &Circuit, free: &[FreeParameter], x: &[f64]) -> Circuit {
    let mut c = base.clone();
    for (p, &v) in free.iter().zip(x) {
        let v = v.clamp(p.lower, p.upper);
        let m = circuit_motif(&c, p.motif);
        match p.kind {
            FreeKind::Theta(term) => {
                let k = Term::ALL.iter().position(|t| *t == term).unwrap_or(0);
                c.motifs[m].theta[k] = v;
                c.spec.motifs[p.motif].rule = RuleSpec(c.motifs[m].theta);
            }
            FreeKind::LogTauW => {
                c.motifs[m].tau_w_s = v.exp();
                c.spec.motifs[p.motif].tau_w = Time::from_seconds(v.exp());
            }
        }
    }
    c
}

/// Keeps every free θ term in the plan's kernels even where this generation's members all
/// have it at zero, so the generated OpenCL source — and so the compiled program — is the same
/// in every generation.
pub(super) fn keep_free_terms(plan: &mut Plan, setup: &Setup) {
    for p in &setup.free {
        let FreeKind::Theta(term) = p.kind else {
            continue;
        };
        let name = &setup.circuit.spec.motifs[p.motif].plastic;
        let k = Term::ALL.iter().position(|t| *t == term).unwrap_or(0);
        if let Some(q) = plan.projections.iter().find(|q| &q.name == name)
            && let Some(m) = q.motif
        {
            plan.motifs[m].keep_terms[k] = true;
        }
    }
}

/// The coordinates of the circuit as it is (for `start: circuit`), clipped into the bounds.
pub(super) fn circuit_coordinates(c: &Circuit, free: &[FreeParameter]) -> Vec<f64> {
    free.iter()
        .map(|p| {
            let m = &c.motifs[circuit_motif(c, p.motif)];
            let v = match p.kind {
                FreeKind::Theta(term) => {
                    m.theta[Term::ALL.iter().position(|t| *t == term).unwrap_or(0)]
                }
                FreeKind::LogTauW => m.tau_w_s.ln(),
            };
            v.clamp(p.lower, p.upper)
        })
        .collect()
}

/// The L1 penalty of a point: `l1` · Σ|θ| over its free θ (τ_w coordinates excluded).
pub(super) fn penalty(x: &[f64], free: &[FreeParameter], l1: f64) -> f64 {
    if l1 == 0.0 {
        return 0.0;
    }
    free.iter()
        .zip(x)
        .filter(|(p, _)| matches!(p.kind, FreeKind::Theta(_)))
        .map(|(p, v)| v.clamp(p.lower, p.upper).abs())
        .sum::<f64>()
        * l1
}

/// The forward projections that learn, in circuit order.
pub(super) fn forward_plastic(c: &Circuit) -> Vec<String> {
    c.motifs
        .iter()
        .map(|m| &c.projections[m.projection])
        .filter(|p| p.forward)
        .map(|p| p.name.clone())
        .collect()
}

/// The gradient angle on one projection of the instances `first..first + seeds`: per seed the
/// mean over the windows after the first 5% of the run (as the summary does for `all`), then
/// the mean over seeds.
pub(super) fn layer_angle(
    collected: &Collector,
    first: usize,
    seeds: usize,
    layer: &str,
    end_s: f64,
) -> f64 {
    let per_seed: Vec<f64> = (first..first + seeds)
        .filter_map(|e| {
            let v: Vec<f64> = collected
                .rows
                .iter()
                .filter(|r| r.instance == e && r.projection == layer && r.time_s > 0.05 * end_s)
                .filter_map(|r| r.gradient_angle_deg)
                .filter(|a| a.is_finite())
                .collect();
            mean_sd(&v).map(|(m, _)| m)
        })
        .collect();
    mean_sd(&per_seed).map(|(m, _)| m).unwrap_or(f64::NAN)
}
