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
    /// Whether it computes in f32 (comparisons with the f64 reference then allow rounding).
    pub f32: bool,
}

/// Every backend available here: the CPU in f64 and f32 always; OpenCL where a device exists,
/// in both layouts (the row-parallel one runs single-instance plans; with more instances that
/// case runs the ensemble layout again).
pub fn backends() -> Vec<BackendCase> {
    let mut cases = vec![
        BackendCase {
            name: "cpu f64".into(),
            make: Box::new(|p| hetsim::backend::cpu::new(p, Precision::F64)),
            tolerance: 1e-9,
            f32: false,
        },
        BackendCase {
            name: "cpu f32".into(),
            make: Box::new(|p| hetsim::backend::cpu::new(p, Precision::F32)),
            tolerance: 2e-4,
            f32: true,
        },
    ];
    cases.extend(opencl_cases());
    cases
}

/// The OpenCL cases, or none (with the reason on stderr) where no device exists. Under CI
/// (`CI=true`) the PoCL platform must be there.
fn opencl_cases() -> Vec<BackendCase> {
    use hetsim::backend::opencl;
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if ci {
        let platforms =
            opencl::platforms().unwrap_or_else(|e| panic!("CI: no OpenCL platform found: {e}"));
        assert!(
            platforms
                .iter()
                .any(|p| p.name.contains("Portable Computing Language")),
            "CI: the PoCL platform is missing; platforms: {:?}",
            platforms.iter().map(|p| &p.name).collect::<Vec<_>>()
        );
    }
    let info = match opencl::device() {
        Ok(info) => info,
        Err(e) => {
            assert!(!ci, "CI: no OpenCL device: {e}");
            eprintln!("no OpenCL device here ({e}); testing the CPU backend only");
            return Vec::new();
        }
    };
    let case = |name: &str, precision: Precision, rows: bool, tolerance: f64| BackendCase {
        name: name.into(),
        make: Box::new(move |p: Arc<Plan>| {
            let layout = if rows && p.n_instances() == 1 {
                opencl::Layout::Rows
            } else {
                opencl::Layout::Ensemble
            };
            let options = opencl::Options {
                layout,
                ..Default::default()
            };
            opencl::with_options(p, precision, &options)
                .unwrap_or_else(|e| panic!("opencl backend: {e}"))
                .0
        }),
        tolerance,
        f32: precision == Precision::F32,
    };
    let mut cases = vec![
        case("opencl f32", Precision::F32, false, 2e-4),
        case("opencl f32 rows", Precision::F32, true, 2e-4),
    ];
    if info.fp64 {
        cases.push(case("opencl f64", Precision::F64, false, 1e-9));
        cases.push(case("opencl f64 rows", Precision::F64, true, 1e-9));
    }
    cases
}

/// ‖a − b‖ / ‖b‖ (or the absolute norm where b is zero).
pub fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    let n: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    if n > 0.0 { d / n } else { d }
}

/// The index of the population named `name`.
pub fn pop(plan: &Plan, name: &str) -> usize {
    plan.populations
        .iter()
        .position(|p| p.name == name)
        .expect("population")
}

/// A shipped circuit file (`circuits/NAME`) with textual replacements, each of which must apply.
pub fn shipped_with(name: &str, edits: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("circuits")
        .join(name);
    let mut text = std::fs::read_to_string(path).expect("shipped circuit");
    for (from, to) in edits {
        assert!(text.contains(from), "{name} no longer contains `{from}`");
        text = text.replace(from, to);
    }
    text
}

/// Population values of instance `e` from a snapshot.
pub fn pop_values(plan: &Plan, snap: &hetsim::backend::Snapshot, name: &str, e: usize) -> Vec<f64> {
    let p = pop(plan, name);
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

/// A manifest for runs driven from tests through `hetsim::run::execute`.
pub fn test_manifest(plan: &Plan) -> hetsim::record::Manifest {
    use hetsim::backend::{BackendKind, DeviceDescription};
    hetsim::record::Manifest {
        hetsim_version: "test".into(),
        circuit: plan.name.clone(),
        circuit_file: None,
        command: "test".into(),
        status: hetsim::record::Status::Running,
        status_reason: None,
        time_reached_s: None,
        backend: "cpu".into(),
        device: DeviceDescription {
            kind: BackendKind::Cpu,
            name: "cpu".into(),
            platform: None,
            driver_version: None,
        },
        precision: Precision::F64,
        method: plan.method.name().into(),
        dt_s: plan.dt_s,
        duration_s: plan.steps as f64 * plan.dt_s,
        steps: plan.steps,
        record_every_s: plan.record_every_steps as f64 * plan.dt_s,
        measures: vec![],
        instances: plan.n_instances(),
        seeds: plan.seeds.clone(),
        rules: plan.labels.clone(),
        started_unix_s: 0.0,
        ended_unix_s: None,
        wall_s: None,
        synapse_steps_per_s: None,
        peak_rss_bytes: None,
        notes: vec![],
        failures: vec![],
        circuits: Default::default(),
        overrides: vec![],
        provenance: hetsim::record::manifest::Provenance::of_this_process(&[]),
        inputs: vec![],
        replay: None,
        resumes: Vec::new(),
        weight_sources: Vec::new(),
        state_source: None,
    }
}

/// Runs the hetsim binary from the crate's root.
pub fn hetsim(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hetsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the hetsim binary runs")
}

/// One instance per rule of the circuit in `yaml` (`learning:` rewritten for each, as `compare`
/// does), seeds `first_seed`, `first_seed + 1`, …, labelled by rule: an ensemble whose
/// instances may defer their held inputs differently.
pub fn plan_with_rules(
    yaml: &str,
    rules: &[spec::RuleName],
    first_seed: u64,
) -> (Arc<Plan>, Vec<InstanceSpec>) {
    let source = SourceFile::from_text(Path::new("rules.yaml"), yaml.to_string());
    let spec = spec::parse_circuit(&source).unwrap_or_else(|d| panic!("{d}"));
    let instances: Vec<InstanceSpec> = rules
        .iter()
        .enumerate()
        .map(|(k, &rule)| {
            let (spec, _) = hetsim::experiment::design::with_rule(&spec, rule).unwrap();
            InstanceSpec {
                circuit: circuit::build(&source, &spec).unwrap_or_else(|d| panic!("{d}")),
                seed: first_seed + k as u64,
                label: rule.name().into(),
            }
        })
        .collect();
    let plan = Plan::new(&instances, Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{e}"));
    (Arc::new(plan), instances)
}

/// Runs `body` with the backend case named `name`, or says why it is skipped (no OpenCL
/// device, or none with f64). Under CI (`CI=true`) every case must run.
pub fn with_case(name: &str, body: impl Fn(&BackendCase)) {
    let cases = backends();
    match cases.iter().find(|c| c.name == name) {
        Some(case) => body(case),
        None => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!ci, "CI: backend case `{name}` is not available here");
            eprintln!(
                "skipped: backend case `{name}` is not available here (no OpenCL device, or none with f64)"
            );
        }
    }
}

/// One `#[test]` per backend case: `per_backend!(NAME)` for a test body
/// `fn NAME(case: &BackendCase)`, or `per_backend!(NAME, |case| …)`, makes `NAME::cpu_f64`,
/// `NAME::opencl_f32_rows`, …, so a failing backend never hides the others and the report
/// names it.
#[allow(unused_macros)]
macro_rules! per_backend {
    ($body:ident) => {
        per_backend!($body, super::$body);
    };
    ($name:ident, $body:expr) => {
        mod $name {
            #[test]
            fn cpu_f64() {
                crate::common::with_case("cpu f64", $body)
            }
            #[test]
            fn cpu_f32() {
                crate::common::with_case("cpu f32", $body)
            }
            #[test]
            fn opencl_f32() {
                crate::common::with_case("opencl f32", $body)
            }
            #[test]
            fn opencl_f32_rows() {
                crate::common::with_case("opencl f32 rows", $body)
            }
            #[test]
            fn opencl_f64() {
                crate::common::with_case("opencl f64", $body)
            }
            #[test]
            fn opencl_f64_rows() {
                crate::common::with_case("opencl f64 rows", $body)
            }
        }
    };
}
