//! The benchmark workloads of DESIGN §4, as circuits, so `hetsim bench`, the criterion benches
//! and the OpenCL comparison all run exactly the same thing.
//!
//! - W1 (sweep-shaped): 64 instances of the 30-20-10 linear FA teacher circuit, inputs N(0, I),
//!   τ_z = 5 ms, instantaneous errors, τ_w = 2 s, dt = 0.1 ms, T = 50 ms, 10 s, loss every 100 ms.
//! - W2 (one large circuit): 784 → 1000 (tanh) → 10 with KP and τ_decay = 60 s on all three
//!   plastic matrices, tanh teacher V2 tanh(V1 x) (50 hidden), dt = 0.5 ms, T = 20 ms, 2 s.
//! - W3 (the noisy ensemble): W1 with τ_decay = 10 s and weight noise σ_w = 0.3 on both plastic
//!   matrices (τ_w dW = … dt − (τ_w/τ_decay) W dt + σ_w dB: each step adds noise of std
//!   σ_w √dt / τ_w = 1.5e-3 per entry) and noise on h of stationary std 0.05 (exact OU step,
//!   std 0.05 √(1 − e^{−2dt/τ_z}) = 9.9e-3 per step); y and the feedback B stay noise-free.

use crate::circuit;
use crate::plan::{InstanceSpec, Plan};
use crate::spec::{self, SourceFile};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    W1,
    W2,
    W3,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::W1 => "W1",
            Workload::W2 => "W2",
            Workload::W3 => "W3",
        }
    }
    pub fn instances(self) -> usize {
        match self {
            Workload::W1 | Workload::W3 => 64,
            Workload::W2 => 1,
        }
    }
    /// Simulated seconds in DESIGN §4.
    pub fn default_seconds(self) -> f64 {
        match self {
            Workload::W1 | Workload::W3 => 10.0,
            Workload::W2 => 2.0,
        }
    }
    /// The workload's circuit, recording `measures` (e.g. `loss` or `loss, gradient_alignment`).
    pub fn circuit_yaml_with(self, seconds: f64, measures: &str) -> String {
        self.circuit_yaml(seconds)
            .replace("measure: [loss]", &format!("measure: [{measures}]"))
    }

    /// Every workload, in order (`hetsim bench --workload all`).
    pub const ALL: [Workload; 3] = [Workload::W1, Workload::W2, Workload::W3];

    /// The workload named `w1`, `W1`, …, if any.
    pub fn parse(name: &str) -> Option<Workload> {
        Self::ALL
            .into_iter()
            .find(|w| w.name().eq_ignore_ascii_case(name))
    }

    pub fn circuit_yaml(self, seconds: f64) -> String {
        match self {
            Workload::W1 => format!(
                "name: W1\ntime: {{dt: 0.1 ms, duration: {seconds} s}}\ntask:\n  kind: linear_teacher\n  teacher: {{uniform: [-1, 1]}}\n  stimulus: {{duration: 50 ms}}\n  held_out: 200\npopulations:\n  x: {{role: input, size: 30}}\n  h: {{size: 20, tau: 5 ms}}\n  y: {{size: 10, tau: 5 ms}}\nprojections:\n  W1: {{from: x, to: h, init: {{uniform: [-0.01, 0.01]}}}}\n  W2: {{from: h, to: y, init: {{uniform: [-0.01, 0.01]}}}}\nlearning: {{rule: fa, output: y, feedback_init: {{uniform: [-0.5, 0.5]}}, tau_w: 2 s}}\nrecord: {{every: 100 ms, measure: [loss]}}\n"
            ),
            Workload::W2 => format!(
                "name: W2\ntime: {{dt: 0.5 ms, duration: {seconds} s}}\ntask:\n  kind: tanh_teacher\n  hidden: 50\n  stimulus: {{duration: 20 ms}}\n  held_out: 20\npopulations:\n  x: {{role: input, size: 784}}\n  h: {{size: 1000, tau: 5 ms, activation: tanh}}\n  y: {{size: 10, tau: 5 ms}}\nprojections:\n  W1: {{from: x, to: h, init: {{uniform: [-0.01, 0.01]}}}}\n  W2: {{from: h, to: y, init: {{uniform: [-0.01, 0.01]}}}}\nlearning: {{rule: kp, output: y, feedback_init: {{uniform: [-0.5, 0.5]}}, tau_w: 2 s, tau_decay: 60 s}}\nrecord: {{every: 100 ms, measure: [loss]}}\n"
            ),
            // W1's circuit, with decay and weight noise on both plastic matrices (`learning`
            // gives them to every motif it expands) and noise on h only.
            Workload::W3 => Workload::W1
                .circuit_yaml(seconds)
                .replace("name: W1", "name: W3")
                .replace(
                    "h: {size: 20, tau: 5 ms}",
                    "h: {size: 20, tau: 5 ms, noise: 0.05}",
                )
                .replace(
                    "tau_w: 2 s}",
                    "tau_w: 2 s, tau_decay: 10 s, weight_noise: 0.3}",
                ),
        }
    }

    /// The workload's plan, `seconds` long.
    pub fn plan(self, seconds: f64) -> Result<Plan, String> {
        self.plan_with(seconds, "loss")
    }

    /// The workload's plan, recording `measures`.
    pub fn plan_with(self, seconds: f64, measures: &str) -> Result<Plan, String> {
        let text = self.circuit_yaml_with(seconds, measures);
        let source = SourceFile::from_text(Path::new(self.name()), text);
        let spec = spec::parse_circuit(&source).map_err(|d| d.to_string())?;
        let circuit = circuit::build(&source, &spec).map_err(|d| d.to_string())?;
        plan_of(&circuit, self.instances())
    }
}

/// The plan of `instances` instances of `circuit`, seeds 1, 2, … (the workloads' seeds).
pub fn plan_of(circuit: &circuit::Circuit, instances: usize) -> Result<Plan, String> {
    let instances: Vec<InstanceSpec> = (0..instances as u64)
        .map(|k| InstanceSpec {
            circuit: circuit.clone(),
            seed: 1 + k,
            label: "fa".into(),
        })
        .collect();
    Plan::new(&instances, Path::new(".")).map_err(|e| e.to_string())
}

impl Workload {
    /// Synapse-steps in a run of `seconds`.
    pub fn synapse_steps(self, plan: &Plan) -> f64 {
        plan.synapses_per_instance() as f64 * plan.n_instances() as f64 * plan.steps as f64
    }
}
