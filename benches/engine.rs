//! Criterion benchmarks of the workloads of DESIGN §4 on the CPU backend and, where a device is
//! present, on OpenCL: each iteration is one `hetsim bench` measurement (`hetsim::bench::measure`,
//! f32: advance plus snapshots and the recorded loss, after an untimed warm-up window), so the
//! throughput criterion prints is the synapse-steps per second `hetsim bench` reports.
//!
//! `HETSIM_BENCH_SECONDS` shortens the simulated time of every workload (default: the full
//! workloads, 10 s for W1 and W3, 2 s for W2).

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use hetsim::backend::BackendKind;
use hetsim::bench::measure;
use hetsim::workload::Workload;
use std::time::Duration;

fn workloads(c: &mut Criterion) {
    let seconds: Option<f64> = std::env::var("HETSIM_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    for (kind, name) in [(BackendKind::Cpu, "cpu"), (BackendKind::OpenCl, "opencl")] {
        let mut group = c.benchmark_group(name);
        // Each iteration is a whole workload: few, equal samples.
        group.sample_size(10);
        group.sampling_mode(SamplingMode::Flat);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        for w in Workload::ALL {
            let first = match measure(w, kind, seconds, "loss", &Default::default()) {
                Ok(m) => m,
                Err(e) => {
                    // No device (or no OpenCL library): say so and go on with the rest.
                    eprintln!("{name} {}: skipped: {e}", w.name());
                    continue;
                }
            };
            group.throughput(Throughput::Elements(first.synapse_steps as u64));
            group.bench_function(format!("{} f32 ({})", w.name(), first.backend), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let m = measure(w, kind, seconds, "loss", &Default::default())
                                .expect("measured once");
                            Duration::from_secs_f64(m.wall_s)
                        })
                        .sum()
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // No plots: they need system fonts, which a bare machine lacks (criterion panics).
    config = Criterion::default().without_plots();
    targets = workloads
}
criterion_main!(benches);
