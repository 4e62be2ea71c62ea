//! `hetsim bench`: prints the library's measurements of the workloads of DESIGN §4 on the
//! chosen backend and, for comparison in the same run, on the CPU backend.

use super::exit::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};
use super::out::{sayln, tellln};
use crate::backend::BackendKind;
use crate::workload::Workload;

/// Rounds of the FMA loop per thread (about 0.2 s here) and the size of the streamed buffer
/// (far beyond any cache).
const CEILING_FMA_ITERATIONS: u64 = 20_000_000;
const CEILING_READ_BYTES: usize = 1 << 29;

pub fn bench(backend: &str, workload: &str, seconds: Option<f64>, measures: &str) -> i32 {
    let workloads = match (workload, Workload::parse(workload)) {
        ("all", _) => Workload::ALL.to_vec(),
        (_, Some(w)) => vec![w],
        (other, None) => {
            tellln!("hetsim bench: --workload must be w1, w2, w3 or all, not `{other}`");
            return EXIT_BAD_INPUT;
        }
    };
    let settings = match super::settings(&crate::settings::Explicit {
        backend: Some(backend),
        ..Default::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            tellln!("hetsim bench: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let (kind, options) = (settings.backend, &settings.backend_options);
    let c = crate::bench::ceilings(CEILING_FMA_ITERATIONS, CEILING_READ_BYTES, options.simd);
    sayln!(
        "ceilings on {} ({}): {:.3e} f32 FMA/s, {:.3e} B/s streaming read",
        crate::text::count(c.threads, "thread"),
        c.simd,
        c.fma_per_s,
        c.read_bytes_per_s
    );
    sayln!(
        "{:<4} {:<48} {:>12} {:>10} {:>16} {:>8} {:>8}",
        "load",
        "backend",
        "synapse-steps",
        "wall (s)",
        "synapse-steps/s",
        "of FMA",
        "of read"
    );
    for w in workloads {
        let mut kinds = vec![kind];
        if kind != BackendKind::Cpu {
            kinds.push(BackendKind::Cpu);
        }
        let mut rates = Vec::new();
        for k in kinds {
            let m = match crate::bench::measure(w, k, seconds, measures, options) {
                Ok(m) => m,
                Err(e) => {
                    tellln!("hetsim bench: {e}");
                    return match e {
                        crate::bench::BenchError::Backend(
                            crate::backend::BackendError::Device { .. },
                        ) => EXIT_FAILED,
                        _ => EXIT_BAD_INPUT,
                    };
                }
            };
            rates.push(m.synapse_steps_per_s);
            let (of_fma, of_read) = c.fractions(m.synapse_steps_per_s);
            sayln!(
                "{:<4} {:<48} {:>12.3e} {:>10.3} {:>16.3e} {:>8.3} {:>8.3}",
                w.name(),
                m.backend,
                m.synapse_steps,
                m.wall_s,
                m.synapse_steps_per_s,
                of_fma,
                of_read
            );
        }
        if rates.len() == 2 {
            sayln!(
                "{:<4} ratio to the CPU backend in this run: {:.2}×",
                w.name(),
                rates[0] / rates[1]
            );
        }
    }
    EXIT_OK
}
