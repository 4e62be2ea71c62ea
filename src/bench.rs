//! `hetsim bench`: synapse-steps per second on the workloads of DESIGN §4, measured the way a
//! run spends its time (advance, read the window and the state, compute the recorded
//! measurements) but without writing files.
//!
//! - [`scaling`]: the same measurement over ensembles of 1 to 4,096 instances and one circuit of
//!   10³ to 10⁷ synapses, with each point's peak resident memory (`hetsim bench --scaling`);
//! - [`sweep_cost`]: a sweep of N points against the same N instances run as one ensemble;
//! - [`memory`]: the process's resident set and its peak, reset per measurement;
//! - [`cpu`]: the CPU time the process used, beside the wall time on a shared machine.

pub mod cpu;
pub mod memory;
pub mod scaling;
pub mod sweep_cost;

use crate::backend::{self, BackendError, BackendKind, Precision};
use crate::simd::Simd;
use crate::workload::Workload;
use std::sync::Arc;
use std::time::Instant;

/// One measured backend on one workload.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub workload: Workload,
    pub backend: String,
    pub synapse_steps: f64,
    pub wall_s: f64,
    pub synapse_steps_per_s: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Workload(String),
    #[error("{0}")]
    Backend(#[from] BackendError),
    /// A sweep or run of the sweep-cost measurement failed.
    #[error("{0}")]
    Job(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Times `workload` for `seconds` of simulated time (default: DESIGN §4's) on `kind` in f32,
/// after an untimed warm-up window (first-touch allocation, program compilation on devices),
/// with `options` (the vector level, the OpenCL options).
pub fn measure(
    workload: Workload,
    kind: BackendKind,
    seconds: Option<f64>,
    measures: &str,
    options: &backend::Options,
) -> Result<Measurement, BenchError> {
    let secs = seconds.unwrap_or(workload.default_seconds());
    let plan = Arc::new(
        workload
            .plan_with(secs, measures)
            .map_err(|e| BenchError::Workload(e.to_string()))?,
    );
    let timed = time_plan(plan.clone(), kind, options)?;
    let total = workload.synapse_steps(&plan);
    Ok(Measurement {
        workload,
        backend: timed.backend,
        synapse_steps: total,
        wall_s: timed.wall_s,
        synapse_steps_per_s: total / timed.wall_s,
    })
}

/// A plan's steps timed on one backend: which backend, and the wall time.
#[derive(Clone, Debug)]
pub struct Timed {
    pub backend: String,
    pub wall_s: f64,
    /// CPU seconds the process used meanwhile, every thread (None where unknown).
    pub cpu_s: Option<f64>,
}

/// Times every step of `plan` on `kind` in f32 as a run spends it (advance, the window and the
/// state read back, the recorded measurements computed), after an untimed warm-up window.
pub fn time_plan(
    plan: Arc<crate::plan::Plan>,
    kind: BackendKind,
    options: &backend::Options,
) -> Result<Timed, BenchError> {
    let mut b = backend::make(plan.clone(), kind, Some(Precision::F32), options)?.backend;
    let record = plan.record_every_steps;
    b.advance(record.min(plan.steps))?;
    b.take_window()?;
    let active = vec![true; plan.n_instances()];
    let mut previous = b.snapshot()?;
    let mut end = previous.clone();
    let cpu_start = cpu::process_seconds();
    let start = Instant::now();
    let mut done = 0;
    // As in a run (`run.rs`): the next window's steps start before this one is measured.
    b.advance(record.min(plan.steps))?;
    while done < plan.steps {
        let n = record.min(plan.steps - done);
        let window = b.take_window()?;
        b.snapshot_into(&mut end)?;
        done += n;
        if done < plan.steps {
            b.advance(record.min(plan.steps - done))?;
        }
        let rows = crate::record::metrics::window_rows(
            &plan,
            &window,
            &previous,
            &end,
            &active,
            options.simd,
        );
        std::hint::black_box(rows);
        std::mem::swap(&mut previous, &mut end);
    }
    let wall_s = start.elapsed().as_secs_f64();
    Ok(Timed {
        backend: b.describe(),
        wall_s,
        cpu_s: cpu::since(cpu_start),
    })
}

/// The machine's own ceilings on the threads the CPU backend uses, so each workload's figure
/// can be read as a fraction of what the hardware could do.
#[derive(Clone, Copy, Debug)]
pub struct Ceilings {
    pub threads: usize,
    /// The vector level both were measured on (the engine's).
    pub simd: Simd,
    /// Peak f32 fused multiply-adds per second (a register-resident FMA loop on every thread).
    pub fma_per_s: f64,
    /// Streaming read bandwidth in bytes per second (a sum over a buffer far larger than cache).
    pub read_bytes_per_s: f64,
}

impl Ceilings {
    /// A workload's synapse-steps per second as fractions of the FMA and bandwidth ceilings,
    /// counting one FMA and one f32 weight read per synapse-step (the least a step-by-step
    /// forward pass does). Above 1 means the engine did less than that work: deferred updates
    /// skip the held input's matrix on most steps.
    pub fn fractions(&self, synapse_steps_per_s: f64) -> (f64, f64) {
        (
            synapse_steps_per_s / self.fma_per_s,
            synapse_steps_per_s * 4.0 / self.read_bytes_per_s,
        )
    }
}

/// Measures both ceilings on rayon's threads: `fma_iterations` rounds of the FMA loop per
/// thread and the best of three passes over a `read_bytes` buffer, on the vector level `simd`
/// (the engine's: its ceiling, not one it could not reach).
pub fn ceilings(fma_iterations: u64, read_bytes: usize, simd: Simd) -> Ceilings {
    let threads = rayon::current_num_threads();
    let start = Instant::now();
    let per_thread = rayon::broadcast(|_| {
        simd.run(
            #[inline(always)]
            || fma_loop(fma_iterations),
        )
    });
    let fma_s = start.elapsed().as_secs_f64();
    let fmas: f64 = per_thread.iter().sum();
    let data = vec![1.0f32; (read_bytes / 4).max(1 << 10)];
    // First touch outside the timing (page faults are not bandwidth).
    std::hint::black_box(read_sum(simd, &data));
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        std::hint::black_box(read_sum(simd, &data));
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ceilings {
        threads,
        simd,
        fma_per_s: fmas / fma_s,
        read_bytes_per_s: (data.len() * 4) as f64 / best,
    }
}

/// Independent accumulators: enough to cover the FMA latency, few enough to stay in registers
/// (6 × 16 f32 is 12 of AVX2's 16 registers, 6 of AVX-512's 32).
const FMA_CHAINS: usize = 6;
/// f32 lanes per chain (one AVX-512 register, or several narrower ones).
const FMA_LANES: usize = 16;

/// `iterations` rounds of FMA_CHAINS × FMA_LANES fused multiply-adds kept in registers;
/// returns the number of FMAs done.
#[inline(always)]
fn fma_loop(iterations: u64) -> f64 {
    let mut acc = [[1.0f32; FMA_LANES]; FMA_CHAINS];
    // Opaque to the optimiser, and chosen so the values stay finite (a contraction to 1).
    let (a, b) = (
        std::hint::black_box(0.999_999f32),
        std::hint::black_box(1e-6f32),
    );
    for _ in 0..iterations {
        for chain in acc.iter_mut() {
            for v in chain.iter_mut() {
                *v = v.mul_add(a, b);
            }
        }
    }
    std::hint::black_box(acc);
    iterations as f64 * (FMA_CHAINS * FMA_LANES) as f64
}

/// Σ data on rayon's threads with independent partial sums per thread (vectorised reads).
fn read_sum(simd: Simd, data: &[f32]) -> f32 {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    let chunk = data.len().div_ceil(threads).max(1);
    data.par_chunks(chunk)
        .map(|c| {
            simd.run(
                #[inline(always)]
                || {
                    let mut partial = [0.0f32; 16];
                    let body = c.chunks_exact(16);
                    let rest: f32 = body.remainder().iter().sum();
                    for block in body {
                        for k in 0..16 {
                            partial[k] += block[k];
                        }
                    }
                    partial.iter().sum::<f32>() + rest
                },
            )
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The measured ceilings are positive, finite rates, and the FMA loop counts its work.
    #[test]
    fn ceilings_are_positive_and_finite() {
        assert_eq!(fma_loop(10), (10 * FMA_CHAINS * FMA_LANES) as f64);
        let c = ceilings(20_000, 8 << 20, Simd::auto());
        assert!(c.threads >= 1);
        for v in [c.fma_per_s, c.read_bytes_per_s] {
            assert!(v.is_finite() && v > 0.0, "ceiling {v}");
        }
        let (f, b) = c.fractions(c.fma_per_s);
        assert!((f - 1.0).abs() < 1e-12 && b.is_finite() && b > 0.0);
    }

    /// The read kernel sums every element exactly once.
    #[test]
    fn read_sum_reads_everything() {
        let data: Vec<f32> = (0..10_007).map(|k| (k % 7) as f32).collect();
        let want: f32 = data.iter().sum();
        for simd in Simd::available() {
            assert_eq!(read_sum(simd, &data), want, "{simd}");
        }
    }
}
