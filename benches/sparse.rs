//! The crossover of the CPU's two layouts of a masked projection (docs/speed.md, "Sparse
//! projections"): one plastic N × N hidden → output projection of a single instance (f64, one
//! lane) at densities from 1% to 100%, in the mask layout (dense update and product, then the
//! mask op) and the sparse layout (present synapses only), plus a 10%-dense input layer that the
//! held input defers and its dense twin. Each iteration advances 200 steps; the throughput is in
//! synapse-steps of the dense N × N matrix, so the two layouts read on one scale.
//!
//! `cargo bench --bench sparse`; run with one thread (`RAYON_NUM_THREADS=1`) to read the
//! layouts rather than the thread pool.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use hetsim::backend::{Precision, cpu};
use hetsim::circuit;
use hetsim::plan::{InstanceSpec, Plan};
use hetsim::spec::{self, SourceFile};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const STEPS: u64 = 200;

/// `n_in` inputs, `n_h` hidden units and `n_out` outputs; the plastic input layer W1 (Hebbian,
/// deferred while the input is held) wired by `w1`, the plastic W2 (Hebbian with decay) by `w2`.
fn plan(n_in: usize, n_h: usize, n_out: usize, w1: &str, w2: &str) -> Arc<Plan> {
    let yaml = format!(
        "name: sparse-bench
time: {{dt: 0.1 ms, duration: 100 s, method: exponential_euler}}
task:
  kind: linear_teacher
  teacher: {{uniform: [-1, 1]}}
  input_std: 0.1
  stimulus: {{duration: 5 ms}}
  held_out: 4
populations:
  x: {{role: input, size: {n_in}}}
  h: {{size: {n_h}, tau: 5 ms, activation: tanh}}
  y: {{size: {n_out}, tau: 5 ms, activation: tanh}}
projections:
  W1: {{from: x, to: h, init: {{uniform: [-0.3, 0.3]}}, connectivity: {w1}}}
  W2: {{from: h, to: y, init: {{uniform: [-0.05, 0.05]}}, connectivity: {w2}}}
motifs:
  - {{plastic: W1, rule: {{z_x: 1}}, tau_w: 100 s}}
  - {{plastic: W2, rule: {{z_x: 1}}, tau_w: 100 s, tau_decay: 50 s}}
record: {{every: 1 s, measure: [loss]}}
"
    );
    let source = SourceFile::from_text(Path::new("bench.yaml"), yaml);
    let spec = spec::parse_circuit(&source).unwrap_or_else(|d| panic!("{d}"));
    let c = circuit::build(&source, &spec).unwrap_or_else(|d| panic!("{d}"));
    let instance = InstanceSpec {
        circuit: c,
        seed: 1,
        label: "bench".into(),
    };
    Arc::new(Plan::new(&[instance], Path::new(".")).unwrap_or_else(|e| panic!("{e}")))
}

fn connectivity(density: f64) -> String {
    if density >= 1.0 {
        "all".into()
    } else {
        format!("{{probability: {density}}}")
    }
}

fn layouts(c: &mut Criterion) {
    let simd = hetsim::simd::Simd::auto();
    for n in [400, 1000] {
        let mut group = c.benchmark_group(format!("hidden {n}x{n}"));
        group.sample_size(10);
        group.sampling_mode(SamplingMode::Flat);
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_secs(2));
        group.throughput(Throughput::Elements((n * n) as u64 * STEPS));
        for density in [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0] {
            let p = plan(10, n, n, "all", &connectivity(density));
            let percent = (density * 100.0).round();
            for (layout, below) in [("mask", 0.0), ("sparse", 2.0)] {
                if density >= 1.0 && layout == "sparse" {
                    continue;
                }
                let mut b = cpu::with_sparse_below(p.clone(), Precision::F64, simd, below);
                group.bench_function(format!("{percent}% {layout}"), |bench| {
                    bench.iter(|| b.advance(STEPS).unwrap())
                });
            }
        }
        group.finish();
    }
    // The input layer: 400 inputs held over 5-ms stimuli, deferred dense or masked.
    let mut group = c.benchmark_group("input 400x400");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(400 * 400 * STEPS));
    for density in [0.1, 1.0] {
        let p = plan(400, 400, 10, &connectivity(density), "all");
        let mut b = cpu::with_sparse_below(p, Precision::F64, simd, cpu::SPARSE_BELOW);
        let percent = (density * 100.0).round();
        group.bench_function(format!("{percent}% deferred"), |bench| {
            bench.iter(|| b.advance(STEPS).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, layouts);
criterion_main!(benches);
