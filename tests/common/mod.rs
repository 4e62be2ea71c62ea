//! Shared test support: building plans from YAML text, and running one test body on every
//! available backend.
#![allow(dead_code)]

use hetsim::backend::{Backend, Precision};
use hetsim::circuit;
use hetsim::plan::{InstanceSpec, Plan};
use hetsim::spec::{self, SourceFile};
use std::path::Path;
use std::sync::Arc;

/// A checked circuit from YAML text (panics with the diagnostics: test input is ours).
pub fn circuit_from(yaml: &str) -> circuit::Circuit {
    let source = SourceFile::from_text(Path::new("test.yaml"), yaml.to_string());
    let spec = spec::parse_circuit(&source).unwrap_or_else(|d| panic!("{d}"));
    circuit::build(&source, &spec).unwrap_or_else(|d| panic!("{d}"))
}

/// A plan of `seeds` instances of one circuit.
pub fn plan_from(yaml: &str, seeds: &[u64]) -> Arc<Plan> {
    let c = circuit_from(yaml);
    let label = "test".to_string();
    let instances: Vec<InstanceSpec> = seeds
        .iter()
        .map(|&seed| InstanceSpec {
            circuit: c.clone(),
            seed,
            label: label.clone(),
        })
        .collect();
    Arc::new(
        Plan::new(&instances, Path::new(env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

/// A way to make a backend, with a name for messages and the tolerance its precision allows
/// against the f64 CPU reference.
pub struct BackendCase {
    pub name: String,
    pub make: Box<dyn Fn(Arc<Plan>) -> Box<dyn Backend>>,
    /// Relative tolerance for trajectories compared with closed forms.
    pub tolerance: f64,
}

/// Every backend available here: the CPU in f64 and f32 always; OpenCL where a device exists.
pub fn backends() -> Vec<BackendCase> {
    vec![
        BackendCase {
            name: "cpu f64".into(),
            make: Box::new(|p| hetsim::backend::cpu::new(p, Precision::F64)),
            tolerance: 1e-9,
        },
        BackendCase {
            name: "cpu f32".into(),
            make: Box::new(|p| hetsim::backend::cpu::new(p, Precision::F32)),
            tolerance: 2e-4,
        },
    ]
}

/// Population values of instance `e` from a snapshot.
pub fn pop_values(plan: &Plan, snap: &hetsim::backend::Snapshot, name: &str, e: usize) -> Vec<f64> {
    let p = plan
        .populations
        .iter()
        .position(|p| p.name == name)
        .expect("population");
    let n = plan.populations[p].size;
    snap.u[p][e * n..(e + 1) * n].to_vec()
}

/// Weights of instance `e` from a snapshot.
pub fn weights(plan: &Plan, snap: &hetsim::backend::Snapshot, name: &str, e: usize) -> Vec<f64> {
    let q = plan
        .projections
        .iter()
        .position(|p| p.name == name)
        .expect("projection");
    let n = plan.projections[q].synapses();
    snap.weights[q][e * n..(e + 1) * n].to_vec()
}
