//! Criterion benchmarks of the CPU backend on short slices of the workloads of DESIGN §4.
//! `hetsim bench` reports the full workloads in synapse-steps per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hetsim::backend::{Precision, cpu};
use hetsim::workload::Workload;
use std::sync::Arc;

fn workloads(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu");
    group.sample_size(10);
    for (w, seconds) in [(Workload::W1, 0.1), (Workload::W2, 0.02)] {
        let plan = Arc::new(w.plan(seconds).expect("workload plan"));
        group.throughput(Throughput::Elements(w.synapse_steps(&plan) as u64));
        group.bench_function(format!("{} f32 ({} s)", w.name(), seconds), |b| {
            b.iter(|| {
                let mut backend = cpu::new(plan.clone(), Precision::F32);
                backend.advance(plan.steps).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, workloads);
criterion_main!(benches);
