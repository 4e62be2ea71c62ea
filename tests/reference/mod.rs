//! An independent reference integrator for the conformance suite: a plan integrated step by
//! step in plain f64, one instance at a time, written from the documented equations (circuit
//! files, measurements, and the step order, integration coefficients, noise, error delay,
//! traces and update shapes of ARCHITECTURE.md) and not from the engine's code. No lanes, no
//! SIMD, no held-input deferral, no fused updates, no identity shortcut: every backend is
//! compared with this, so that a mistake shared by the engines' common code still shows.
//!
//! What it takes from the library is what the docs name as the one definition of a number:
//! the plan (per-instance tables and initial weights), its coefficient functions
//! (`Plan::leak`, `noise_step`, `weight_rate`, `weight_retention`, `trace_keep`), the task's
//! samples, φ and φ′ (`hetsim::activation`), the direct evaluation of a term from its
//! declaration (`hetsim::rule::drive`) and the Philox streams (`hetsim::rng`).
//!
//! Conventions the docs leave open, settled by reading the engine (and written down here):
//! - Every population starts at rest, u = 0, with z = φ(0) (z = 0 for the driven input and
//!   target until the first stimulus); traces start at their `init`; weights at the plan's initial
//!   weights, except that a tied matrix is its partner's transpose from the start ("always the
//!   transpose", docs/circuits.md) and copies it again at the end of every step.
//! - Sample k = ⌊n / period⌋ is shown while n mod period < presented steps; in the gap the input
//!   and target rates are 0. A driven population's u stays 0.
//! - `gain_from` multiplies the whole input, bias included, by φ′(u_g) of the partner as it
//!   stands when the input is summed (the step's start for a rate partner).
//! - A d-step delay (the task's error delay is already folded into the plan's per-instance
//!   `delay_steps`) reads the source's rates of step n − d, as they stood after the step's
//!   instantaneous populations were evaluated, and zeros before step d.
//! - Noise element j of a population at step n is element j of
//!   `normals::fill_noise(seed, stream_id("noise/<pop>"), n, ·)`: Philox key = the instance
//!   seed's low and high 32 bits, counter = [j / 4, n low, n high, stream], lane j % 4, f64
//!   Box–Muller with the project's own ln and sincos (src/normals.rs), scaled by `Plan::noise_step(σ, τ)` and added to
//!   u after the leak (instantaneous populations: σ/√dt, σ being a white-noise intensity). Weight noise of
//!   synapse (i, j) is element i·cols + j of the "wnoise/<projection>" draw, scaled by
//!   σ_w·√dt/τ_w and added after the deterministic update (Euler–Maruyama for the noise even
//!   under exponential Euler).
//! - The update is W ← W·g + k·Σ_k θ_k term_k(x_j, z_i, m_i, W_ij, q_i), every quantity from
//!   the step's start; m_i = 0 without a modulator, q_i = 0 where the post population has no
//!   trace.
//! - A fixed identity projection is multiplied as the matrix it is (the engines copy sign·r,
//!   which is the same: the zero entries add nothing).
//! - The window's loss is Σ over the steps a sample is shown of ½‖y* − y‖²·dt, with y the
//!   output's rates and y* the target's at the step's start.

// Each test binary that includes this module reads only part of the state.
#![allow(dead_code)]

use hetsim::plan::Plan;
use hetsim::rule::{self, Local};
use hetsim::spec::{Method, Role};
use hetsim::{normals, rng};
use std::collections::VecDeque;
use std::sync::Arc;

/// One instance's state.
struct Instance {
    e: usize,
    seed: u64,
    /// Per population.
    u: Vec<Vec<f64>>,
    z: Vec<Vec<f64>>,
    /// Per population: its trace q (empty without one).
    q: Vec<Vec<f64>>,
    /// Per projection, row-major `[post][pre]`.
    w: Vec<Vec<f64>>,
    /// Per projection with a delay in this instance: (step, source rates) of past steps.
    history: Vec<VecDeque<(u64, Vec<f64>)>>,
    /// The sample shown, fetched once per sample.
    sample: Option<(u64, Vec<f64>, Vec<f64>)>,
    loss: f64,
}

/// The reference integrator of a plan.
pub struct Reference {
    plan: Arc<Plan>,
    step: u64,
    instances: Vec<Instance>,
}

fn unsupported(what: &str) -> ! {
    panic!("reference: unsupported {what}")
}

impl Reference {
    /// The plan at step 0. Panics with "reference: unsupported …" on what it does not model.
    pub fn new(plan: Arc<Plan>) -> Reference {
        if plan.method == Method::Rk4 {
            unsupported("method rk4");
        }
        for (p, pop) in plan.populations.iter().enumerate() {
            match pop.role {
                Role::Input if p != plan.input => unsupported("second input population"),
                Role::Target if plan.output.as_ref().map(|o| o.target) != Some(p) => {
                    unsupported("target population outside the output path")
                }
                _ => {}
            }
        }
        let instances = (0..plan.n_instances())
            .map(|e| Instance {
                e,
                seed: plan.seeds[e],
                u: plan.populations.iter().map(|p| vec![0.0; p.size]).collect(),
                z: plan
                    .populations
                    .iter()
                    .map(|p| {
                        let rest = match p.role {
                            Role::Input | Role::Target => 0.0,
                            Role::Rate | Role::Error => p.activation.apply(0.0),
                        };
                        vec![rest; p.size]
                    })
                    .collect(),
                q: plan
                    .populations
                    .iter()
                    .map(|p| match &p.trace {
                        Some(t) => vec![t.init[e]; p.size],
                        None => Vec::new(),
                    })
                    .collect(),
                w: plan
                    .projections
                    .iter()
                    .enumerate()
                    .map(|(q, p)| {
                        let n = p.synapses();
                        plan.initial_weights[q][e * n..(e + 1) * n].to_vec()
                    })
                    .collect(),
                history: plan.projections.iter().map(|_| VecDeque::new()).collect(),
                sample: None,
                loss: 0.0,
            })
            .collect();
        let mut reference = Reference {
            plan,
            step: 0,
            instances,
        };
        for inst in &mut reference.instances {
            inst.copy_tied(&reference.plan);
        }
        reference
    }

    /// Integrates `steps` steps.
    pub fn advance(&mut self, steps: u64) {
        for _ in 0..steps {
            for inst in &mut self.instances {
                inst.step(&self.plan, self.step);
            }
            self.step += 1;
        }
    }

    pub fn u(&self, p: usize, e: usize) -> &[f64] {
        &self.instances[e].u[p]
    }
    pub fn z(&self, p: usize, e: usize) -> &[f64] {
        &self.instances[e].z[p]
    }
    pub fn trace(&self, p: usize, e: usize) -> &[f64] {
        &self.instances[e].q[p]
    }
    pub fn weights(&self, q: usize, e: usize) -> &[f64] {
        &self.instances[e].w[q]
    }

    /// ∫ ½‖y* − y‖² dt over the shown samples since the last call, and starts a new window.
    pub fn take_loss(&mut self, e: usize) -> f64 {
        std::mem::take(&mut self.instances[e].loss)
    }
}

impl Instance {
    /// The presynaptic rates projection `q` delivers at step `n`.
    fn presynaptic(&self, plan: &Plan, q: usize, n: u64) -> Vec<f64> {
        let proj = &plan.projections[q];
        let d = proj.delay_steps[self.e] as u64;
        if d == 0 {
            return self.z[proj.from].clone();
        }
        if n < d {
            return vec![0.0; plan.populations[proj.from].size];
        }
        self.history[q]
            .iter()
            .find(|(s, _)| *s == n - d)
            .map(|(_, r)| r.clone())
            .expect("the history keeps the last d steps")
    }

    /// bias + Σ sign·W·r over the projections into `p`, times φ′(u_g) of a gain partner.
    fn summed_input(&self, plan: &Plan, p: usize, n: u64) -> Vec<f64> {
        let pop = &plan.populations[p];
        let mut input = vec![pop.bias[self.e]; pop.size];
        for (q, proj) in plan.projections.iter().enumerate() {
            if proj.to != p {
                continue;
            }
            let sign = proj.sign[self.e];
            let r = self.presynaptic(plan, q, n);
            let w = &self.w[q];
            for (i, v) in input.iter_mut().enumerate() {
                let mut s = 0.0;
                for (j, rj) in r.iter().enumerate() {
                    s += w[i * proj.cols + j] * rj;
                }
                *v += sign * s;
            }
        }
        if let Some(g) = pop.gain_from {
            let act = plan.populations[g].activation;
            for (v, ug) in input.iter_mut().zip(&self.u[g]) {
                *v *= act.derivative(*ug);
            }
        }
        input
    }

    /// Adds population `p`'s noise of step `n` to its u.
    fn add_noise(&mut self, plan: &Plan, p: usize, n: u64) {
        let pop = &plan.populations[p];
        let sigma = pop.noise[self.e];
        if sigma == 0.0 {
            return;
        }
        // Written out here rather than taken from `Plan::noise_step`, so the convention is
        // checked: an instantaneous population's σ is a white-noise intensity (std σ/√dt per
        // step); a rate population's σ the stationary std of u (exact OU increments under
        // exponential Euler, σ√(2dt/τ) under Euler).
        let (dt, tau) = (plan.dt_s, pop.tau_s[self.e]);
        let scale = if tau <= 0.0 {
            sigma / dt.sqrt()
        } else if plan.method == Method::ExponentialEuler {
            sigma * (-(-2.0 * dt / tau).exp_m1()).sqrt()
        } else {
            sigma * (2.0 * dt / tau).sqrt()
        };
        let mut xi = vec![0.0; pop.size];
        let stream = rng::stream_id(&format!("noise/{}", pop.name));
        normals::fill_noise(self.seed, stream, n, &mut xi);
        for (u, x) in self.u[p].iter_mut().zip(&xi) {
            *u += scale * x;
        }
    }

    fn set_rates(&mut self, plan: &Plan, p: usize) {
        let act = plan.populations[p].activation;
        self.z[p] = self.u[p].iter().map(|u| act.apply(*u)).collect();
    }

    fn step(&mut self, plan: &Plan, n: u64) {
        let e = self.e;
        // 1. Stimulus.
        let (k, present) = plan.timing[e].at(n);
        if self.sample.as_ref().is_none_or(|(s, _, _)| *s != k) {
            let task = &plan.tasks[e];
            let (mut x, mut y) = (vec![0.0; task.n_inputs()], vec![0.0; task.n_targets()]);
            task.train_sample(k, &mut x, &mut y);
            self.sample = Some((k, x, y));
        }
        let (_, x, y) = self.sample.as_ref().expect("fetched above");
        let shown = |v: &[f64]| -> Vec<f64> {
            if present {
                v.to_vec()
            } else {
                vec![0.0; v.len()]
            }
        };
        self.z[plan.input] = shown(x);
        if let Some(out) = &plan.output {
            self.z[out.target] = shown(y);
        }

        // 2. Instantaneous populations in topological order.
        for &p in &plan.order {
            if plan.populations[p].instantaneous {
                self.u[p] = self.summed_input(plan, p, n);
                self.add_noise(plan, p, n);
                self.set_rates(plan, p);
            }
        }
        // 3. Inputs of rate populations, from the step's start.
        let inputs: Vec<Option<Vec<f64>>> = (0..plan.populations.len())
            .map(|p| {
                let pop = &plan.populations[p];
                (plan.order.contains(&p) && !pop.instantaneous)
                    .then(|| self.summed_input(plan, p, n))
            })
            .collect();
        // 4. Delayed projections keep this step's source rates.
        for (q, proj) in plan.projections.iter().enumerate() {
            let d = proj.delay_steps[e] as u64;
            if d > 0 {
                let h = &mut self.history[q];
                h.push_back((n, self.z[proj.from].clone()));
                // d + 1 entries: the updates read step n − d after this step's push.
                while h.len() as u64 > d + 1 {
                    h.pop_front();
                }
            }
        }
        // 5. The window's loss.
        if let Some(out) = &plan.output
            && present
        {
            let l: f64 = self.z[out.target]
                .iter()
                .zip(&self.z[out.output])
                .map(|(t, y)| 0.5 * (t - y) * (t - y))
                .sum();
            self.loss += l * plan.dt_s;
        }
        // 6. Every motif's update from the step's start, then the traces.
        let mut new_w: Vec<(usize, Vec<f64>)> = Vec::new();
        for motif in &plan.motifs {
            let q = motif.projection;
            let proj = &plan.projections[q];
            let (tau_w, tau_d) = (motif.tau_w_s[e], motif.tau_decay_s[e]);
            let k = plan.weight_rate(tau_w, tau_d);
            let g = plan.weight_retention(tau_d);
            let theta = &motif.theta[e];
            let x = self.presynaptic(plan, q, n);
            let z = &self.z[proj.to];
            let trace = &self.q[proj.to];
            let mut w = self.w[q].clone();
            for i in 0..proj.rows {
                let m = motif.modulator.map_or(0.0, |mp| self.z[mp][i]);
                let qi = trace.get(i).copied().unwrap_or(0.0);
                for j in 0..proj.cols {
                    let old = self.w[q][i * proj.cols + j];
                    let local = Local {
                        x: x[j],
                        z: z[i],
                        m,
                        w: old,
                        q: qi,
                    };
                    w[i * proj.cols + j] = old * g + k * rule::drive(theta, &local);
                }
            }
            let sigma_w = motif.weight_noise[e];
            if sigma_w != 0.0 {
                let scale = sigma_w * plan.dt_s.sqrt() / tau_w;
                let mut xi = vec![0.0; w.len()];
                let stream = rng::stream_id(&format!("wnoise/{}", proj.name));
                normals::fill_noise(self.seed, stream, n, &mut xi);
                for (v, x) in w.iter_mut().zip(&xi) {
                    *v += scale * x;
                }
            }
            // An absent synapse (docs/circuits.md, Connectivity) is zero after every step.
            if let Some(mask) = &plan.masks[q] {
                let size = proj.synapses();
                for (v, m) in w.iter_mut().zip(&mask[e * size..(e + 1) * size]) {
                    if *m == 0.0 {
                        *v = 0.0;
                    }
                }
            }
            new_w.push((q, w));
        }
        for (q, w) in new_w {
            self.w[q] = w;
        }
        for (p, pop) in plan.populations.iter().enumerate() {
            if let Some(t) = &pop.trace {
                let keep = plan.trace_keep(t.tau_s[e]);
                for (qv, z) in self.q[p].iter_mut().zip(&self.z[p]) {
                    let s = if t.squared { z * z } else { *z };
                    *qv = s + (*qv - s) * keep;
                }
            }
        }
        // 7. Rate populations integrate; tied matrices copy their partner's transpose.
        for (p, input) in inputs.into_iter().enumerate() {
            let Some(input) = input else { continue };
            let leak = plan.leak(plan.populations[p].tau_s[e]);
            for (u, i) in self.u[p].iter_mut().zip(&input) {
                *u = i + (*u - i) * leak;
            }
            self.add_noise(plan, p, n);
            self.set_rates(plan, p);
        }
        self.copy_tied(plan);
    }

    /// Tied matrices take their partner's transpose, in the instances where they are tied.
    fn copy_tied(&mut self, plan: &Plan) {
        let e = self.e;
        for (q, proj) in plan.projections.iter().enumerate() {
            if let Some(t) = proj.tied_to
                && proj.tied[e]
            {
                let src = &plan.projections[t];
                let mut w = vec![0.0; proj.synapses()];
                for i in 0..src.rows {
                    for j in 0..src.cols {
                        w[j * src.rows + i] = self.w[t][i * src.cols + j];
                    }
                }
                self.w[q] = w;
            }
        }
    }
}
