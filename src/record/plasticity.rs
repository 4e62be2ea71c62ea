//! The plasticity curve (`plasticity.csv`, `plasticity_threshold.csv`): how one synapse's rule
//! would change its weight for a fixed presynaptic rate, as a function of the postsynaptic
//! rate, given everything else the rule reads as it is at that moment.
//!
//! For synapse (i, j) of a plastic projection the curve is
//!
//! ```text
//! f(z) = Σ_k θ_k term_k(x_j = pre_rate, z_i = z, m_i, W_ij, q_i) / τ_w
//! ```
//!
//! with m_i (the modulator's rate), W_ij and q_i (the post population's trace) read from the
//! state at the sampled time — decay and weight noise excluded, as in the rule's ΔW of the
//! other measurements. It is evaluated by `rule::drive`, the terms' direct evaluation, so it is
//! the rule every backend runs. The threshold is where f crosses from depression (f < 0) to
//! potentiation (f ≥ 0) as z grows; in a metaplastic circuit it moves with the state: BCM's
//! sits at z = q, the trace of z²; a dendritic motif's at the dendrite's rate.

use crate::backend::Snapshot;
use crate::plan::Plan;
use crate::rule::{self, Local};

/// Columns of `plasticity.csv`, in order.
pub const CURVE_COLUMNS: [&str; 8] = [
    "time_s",
    "instance",
    "projection",
    "post",
    "pre",
    "pre_rate",
    "post_rate",
    "dw_dt",
];

/// Columns of `plasticity_threshold.csv`, in order (`threshold` empty when f does not cross
/// from depression to potentiation within the sampled rates).
pub const THRESHOLD_COLUMNS: [&str; 6] = [
    "time_s",
    "instance",
    "projection",
    "post",
    "pre",
    "threshold",
];

/// The curve a plan asks for, resolved against its projections.
#[derive(Clone, Debug, PartialEq)]
pub struct CurveProbe {
    /// The plan's projection index and its name.
    pub projection: usize,
    pub name: String,
    pub post: usize,
    pub pre: usize,
    pub pre_rate: f64,
    pub post_rates: Vec<f64>,
    /// Sampled when the step count is a multiple of this (and at step 0).
    pub every_steps: u64,
    pub instances: Vec<usize>,
}

/// One sampled curve: f at every post rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    pub time_s: f64,
    pub instance: usize,
    pub projection: String,
    pub post: usize,
    pub pre: usize,
    pub pre_rate: f64,
    pub post_rates: Vec<f64>,
    pub dw_dt: Vec<f64>,
}

impl Curve {
    /// Where f crosses from depression to potentiation, linearly interpolated.
    pub fn threshold(&self) -> Option<f64> {
        crossing(&self.post_rates, &self.dw_dt)
    }
}

/// The first z where `f` goes from negative to non-negative, interpolated between samples.
pub fn crossing(z: &[f64], f: &[f64]) -> Option<f64> {
    z.windows(2).zip(f.windows(2)).find_map(|(z, f)| {
        (f[0] < 0.0 && f[1] >= 0.0).then(|| z[0] + (z[1] - z[0]) * (-f[0]) / (f[1] - f[0]))
    })
}

impl CurveProbe {
    /// The plan's curve, if its circuit (instance 0's: instances share the recording schedule)
    /// asks for one. The circuit check has made sure the projection is plastic and the synapse
    /// and interval valid; `Plan::new` has checked the instances.
    pub fn for_plan(plan: &Plan) -> Option<CurveProbe> {
        let c0 = plan.circuits.first()?;
        let spec = c0.spec.record.plasticity_curve.as_ref()?;
        let projection = plan
            .projections
            .iter()
            .position(|p| p.name == spec.projection && p.motif.is_some())?;
        let every_steps = match spec.every {
            Some(t) => (t.seconds() / plan.dt_s).round() as u64,
            None => plan.record_every_steps,
        }
        .max(1);
        Some(CurveProbe {
            projection,
            name: spec.projection.clone(),
            post: spec.synapse[0],
            pre: spec.synapse[1],
            pre_rate: spec.pre_rate,
            post_rates: spec.post_rates.values(),
            every_steps,
            instances: spec.instances.clone(),
        })
    }

    pub fn due(&self, step: u64) -> bool {
        step.is_multiple_of(self.every_steps)
    }

    /// The curves of the chosen instances at the snapshot's state.
    pub fn sample(&self, plan: &Plan, snap: &Snapshot, time_s: f64) -> Vec<Curve> {
        let p = &plan.projections[self.projection];
        let Some(motif) = p.motif.map(|m| &plan.motifs[m]) else {
            return vec![];
        };
        let post_pop = &plan.populations[p.to];
        let at = |v: &[f64], e: usize, size: usize, k: usize| {
            v.get(e * size + k).copied().unwrap_or(0.0)
        };
        self.instances
            .iter()
            .filter(|&&e| e < plan.n_instances())
            .map(|&e| {
                let w = at(
                    &snap.weights[self.projection],
                    e,
                    p.synapses(),
                    self.post * p.cols + self.pre,
                );
                let m = motif.modulator.map_or(0.0, |mi| {
                    at(&snap.z[mi], e, plan.populations[mi].size, self.post)
                });
                let q = snap
                    .traces
                    .get(p.to)
                    .map_or(0.0, |t| at(t, e, post_pop.size, self.post));
                let dw_dt = self
                    .post_rates
                    .iter()
                    .map(|&z| {
                        let local = Local {
                            x: self.pre_rate,
                            z,
                            m,
                            w,
                            q,
                        };
                        rule::drive(&motif.theta[e], &local) / motif.tau_w_s[e]
                    })
                    .collect();
                Curve {
                    time_s,
                    instance: e,
                    projection: self.name.clone(),
                    post: self.post,
                    pre: self.pre,
                    pre_rate: self.pre_rate,
                    post_rates: self.post_rates.clone(),
                    dw_dt,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crossing_is_interpolated_from_depression_to_potentiation() {
        // f(z) = z (z − 2.5): zero at 0, negative below 2.5, positive above.
        let z: Vec<f64> = (0..=12).map(|k| k as f64 * 0.5).collect();
        let f: Vec<f64> = z.iter().map(|z| z * (z - 2.5)).collect();
        assert_eq!(crossing(&z, &f), Some(2.5));
        let f: Vec<f64> = z.iter().map(|z| z * (z - 2.2)).collect();
        let t = crossing(&z, &f).unwrap();
        assert!(t > 2.0 && t < 2.5, "{t}");
        // Potentiation everywhere, or depression everywhere: no threshold.
        assert_eq!(
            crossing(&z, &z.iter().map(|z| z + 1.0).collect::<Vec<_>>()),
            None
        );
        assert_eq!(
            crossing(&z, &z.iter().map(|z| -z - 1.0).collect::<Vec<_>>()),
            None
        );
    }
}
