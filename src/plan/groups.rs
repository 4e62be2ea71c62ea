//! Instances that must integrate apart: an ensemble split by how each instance would integrate
//! alone.
//!
//! The held-input deferral (`Plan::held_input`) applies to a projection only where every
//! instance of a plan allows it, and deferred and step-by-step updates round differently. An
//! ensemble that mixes instances whose updates defer (sgd, fa, kp, hebbian) with instances whose
//! updates read W or carry weight noise (oja, bcm, noisy rules) would therefore integrate the
//! former differently than their single runs do. `deferral_groups` says which instances agree,
//! and `subset` gives the plan of one group — the same topology, the group's instances only —
//! so a backend can run each group as it would run alone (`backend::split`).

use super::Plan;

impl Plan {
    /// Per projection: whether its update would be deferred in a plan of `instances` alone.
    pub(super) fn held_input_for(&self, instances: &[usize]) -> Vec<bool> {
        use crate::spec::{Method, Role};
        let tied_source: Vec<usize> = self.projections.iter().filter_map(|p| p.tied_to).collect();
        self.projections
            .iter()
            .enumerate()
            .map(|(q, p)| {
                let Some(m) = p.motif else { return false };
                let motif = &self.motifs[m];
                self.defer_held_inputs
                    && self.method != Method::Rk4
                    && p.from == self.input
                    && self.populations[p.from].role == Role::Input
                    && !p.identity
                    && instances.iter().all(|&e| p.delay_steps[e] == 0)
                    && p.tied_to.is_none()
                    && !tied_source.contains(&q)
                    && instances
                        .iter()
                        .all(|&e| super::update_defers(&motif.theta[e], motif.weight_noise[e]))
            })
            .collect()
    }

    /// The instances grouped by the deferral each would have alone, groups in the order of
    /// their first instance and instances ascending within a group. One group when every
    /// instance integrates the same way (the usual case: a sweep packs by this already).
    pub fn deferral_groups(&self) -> Vec<Vec<usize>> {
        let mut groups: Vec<(Vec<bool>, Vec<usize>)> = Vec::new();
        for e in 0..self.n_instances() {
            let key = self.held_input_for(&[e]);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(e),
                None => groups.push((key, vec![e])),
            }
        }
        groups.into_iter().map(|(_, members)| members).collect()
    }

    /// The plan of `instances` (ascending, each < E) alone: the same topology and schedule,
    /// every per-instance table cut to those instances, held-input deferral decided for them.
    /// Activity traces are kept only when the subset starts with instance 0 (the instance they
    /// sample); probes and weight snapshots are the caller's (they are sampled from the whole
    /// ensemble's snapshot) and left out.
    pub fn subset(&self, instances: &[usize]) -> Plan {
        let pick = |v: &[f64]| instances.iter().map(|&e| v[e]).collect::<Vec<f64>>();
        let mut plan = self.clone();
        for p in &mut plan.populations {
            p.tau_s = pick(&p.tau_s);
            p.bias = pick(&p.bias);
            p.noise = pick(&p.noise);
            if let Some(t) = &mut p.trace {
                t.tau_s = pick(&t.tau_s);
                t.init = pick(&t.init);
            }
        }
        for p in &mut plan.projections {
            p.tied = instances.iter().map(|&e| p.tied[e]).collect();
            p.sign = pick(&p.sign);
            p.delay_steps = instances.iter().map(|&e| p.delay_steps[e]).collect();
        }
        for m in &mut plan.motifs {
            m.theta = instances.iter().map(|&e| m.theta[e]).collect();
            m.tau_w_s = pick(&m.tau_w_s);
            m.tau_decay_s = pick(&m.tau_decay_s);
            m.weight_noise = pick(&m.weight_noise);
        }
        plan.seeds = instances.iter().map(|&e| self.seeds[e]).collect();
        plan.labels = instances.iter().map(|&e| self.labels[e].clone()).collect();
        plan.timing = instances.iter().map(|&e| self.timing[e]).collect();
        plan.tasks = instances.iter().map(|&e| self.tasks[e].clone()).collect();
        plan.held_out = instances
            .iter()
            .map(|&e| self.held_out[e].clone())
            .collect();
        plan.circuits = instances
            .iter()
            .map(|&e| self.circuits[e].clone())
            .collect();
        plan.initial_weights = self
            .projections
            .iter()
            .zip(&self.initial_weights)
            .map(|(p, w)| {
                let n = p.synapses();
                instances
                    .iter()
                    .flat_map(|&e| w[e * n..(e + 1) * n].iter().copied())
                    .collect()
            })
            .collect();
        plan.masks = self
            .projections
            .iter()
            .zip(&self.masks)
            .map(|(p, mask)| {
                let n = p.synapses();
                mask.as_ref().map(|m| {
                    instances
                        .iter()
                        .flat_map(|&e| m[e * n..(e + 1) * n].iter().copied())
                        .collect()
                })
            })
            .collect();
        for phase in &mut plan.phases {
            let t = &mut phase.tables;
            let per_instance = |rows: &mut Vec<Vec<f64>>| {
                rows.iter_mut().for_each(|row| *row = pick(row));
            };
            per_instance(&mut t.tau_w_s);
            per_instance(&mut t.tau_decay_s);
            per_instance(&mut t.weight_noise);
            per_instance(&mut t.noise);
            for row in &mut t.theta {
                *row = instances.iter().map(|&e| row[e]).collect();
            }
            for row in &mut t.clamp {
                *row = instances.iter().map(|&e| row[e]).collect();
            }
            t.input_scale = pick(&t.input_scale);
            t.tasks = instances.iter().map(|&e| t.tasks[e].clone()).collect();
            t.held_out = instances.iter().map(|&e| t.held_out[e].clone()).collect();
        }
        plan.probes = Default::default();
        if instances.first() != Some(&0) {
            plan.trace_steps = 0;
        }
        plan.held_input = self.held_input_for(instances);
        plan
    }
}
