//! The benchmark workloads of DESIGN §4, as circuits, so `hetsim bench`, the criterion benches
//! and the OpenCL comparison all run exactly the same thing.
//!
//! - W1 (sweep-shaped): 64 instances of the 30-20-10 linear FA teacher circuit, inputs N(0, I),
//!   τ_z = 5 ms, instantaneous errors, τ_w = 2 s, dt = 0.1 ms, T = 50 ms, 10 s, loss every 100 ms.
//! - W2 (one large circuit): 784 → 1000 (tanh) → 10 with KP and τ_decay = 60 s on all three
//!   plastic matrices, tanh teacher V2 tanh(V1 x) (50 hidden), dt = 0.5 ms, T = 20 ms, 2 s.

use crate::circuit;
use crate::plan::{InstanceSpec, Plan};
use crate::spec::{self, SourceFile};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    W1,
    W2,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::W1 => "W1",
            Workload::W2 => "W2",
        }
    }
    pub fn instances(self) -> usize {
        match self {
            Workload::W1 => 64,
            Workload::W2 => 1,
        }
    }
    /// Simulated seconds in DESIGN §4.
    pub fn default_seconds(self) -> f64 {
        match self {
            Workload::W1 => 10.0,
            Workload::W2 => 2.0,
        }
    }
    /// The workload's circuit, recording `measures` (e.g. `loss` or `loss, gradient_alignment`).
    pub fn circuit_yaml_with(self, seconds: f64, measures: &str) -> String {
        self.circuit_yaml(seconds)
            .replace("measure: [loss]", &format!("measure: [{measures}]"))
    }

    pub fn circuit_yaml(self, seconds: f64) -> String {
        match self {
            Workload::W1 => format!(
                "name: W1\ntime: {{dt: 0.1 ms, duration: {seconds} s}}\ntask:\n  kind: linear_teacher\n  teacher: {{uniform: [-1, 1]}}\n  stimulus: {{duration: 50 ms}}\n  held_out: 200\npopulations:\n  x: {{role: input, size: 30}}\n  h: {{size: 20, tau: 5 ms}}\n  y: {{size: 10, tau: 5 ms}}\nprojections:\n  W1: {{from: x, to: h, init: {{uniform: [-0.01, 0.01]}}}}\n  W2: {{from: h, to: y, init: {{uniform: [-0.01, 0.01]}}}}\nlearning: {{rule: fa, output: y, feedback_init: {{uniform: [-0.5, 0.5]}}, tau_w: 2 s}}\nrecord: {{every: 100 ms, measure: [loss]}}\n"
            ),
            Workload::W2 => format!(
                "name: W2\ntime: {{dt: 0.5 ms, duration: {seconds} s}}\ntask:\n  kind: tanh_teacher\n  hidden: 50\n  stimulus: {{duration: 20 ms}}\n  held_out: 20\npopulations:\n  x: {{role: input, size: 784}}\n  h: {{size: 1000, tau: 5 ms, activation: tanh}}\n  y: {{size: 10, tau: 5 ms}}\nprojections:\n  W1: {{from: x, to: h, init: {{uniform: [-0.01, 0.01]}}}}\n  W2: {{from: h, to: y, init: {{uniform: [-0.01, 0.01]}}}}\nlearning: {{rule: kp, output: y, feedback_init: {{uniform: [-0.5, 0.5]}}, tau_w: 2 s, tau_decay: 60 s}}\nrecord: {{every: 100 ms, measure: [loss]}}\n"
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
        let instances: Vec<InstanceSpec> = (0..self.instances() as u64)
            .map(|k| InstanceSpec {
                circuit: circuit.clone(),
                seed: 1 + k,
                label: "fa".into(),
            })
            .collect();
        Plan::new(&instances, Path::new(".")).map_err(|e| e.to_string())
    }

    /// Synapse-steps in a run of `seconds`.
    pub fn synapse_steps(self, plan: &Plan) -> f64 {
        plan.synapses_per_instance() as f64 * plan.n_instances() as f64 * plan.steps as f64
    }
}
