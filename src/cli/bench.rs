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
    let c = measure_and_print_ceilings(options.simd);
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

/// `hetsim bench --scaling` and `--sweep-cost`'s options.
pub struct ScalingArgs<'a> {
    pub backend: &'a str,
    pub scaling: bool,
    pub sweep_cost: bool,
    pub quick: bool,
    pub out: Option<&'a std::path::Path>,
    pub memory_budget: Option<&'a str>,
}

/// The sweep sizes of `--sweep-cost` (and `--quick`), and their simulated seconds.
const SWEEP_POINTS: [usize; 4] = [10, 100, 1_000, 10_000];
const SWEEP_POINTS_QUICK: [usize; 3] = [10, 100, 1_000];
const SWEEP_SECONDS: f64 = 0.5;
const SWEEP_SECONDS_QUICK: f64 = 0.2;

/// `hetsim bench --scaling` and/or `--sweep-cost`: measures, prints a table per part, writes
/// the CSVs and the figure into `--out`.
pub fn scaling(args: &ScalingArgs) -> i32 {
    use crate::bench::scaling::{self, Outcome, Sizes};
    let settings = match super::settings(&crate::settings::Explicit {
        backend: Some(args.backend),
        memory_budget: args.memory_budget,
        ..Default::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            tellln!("hetsim bench: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let options = &settings.backend_options;
    // The chosen backend, then the CPU backend for comparison; `auto` is OpenCL where a device
    // answers.
    let mut kinds = match settings.backend {
        BackendKind::Auto => match crate::backend::opencl::device_numbered(options.opencl.device) {
            Ok(_) => vec![BackendKind::OpenCl],
            Err(e) => {
                tellln!("hetsim bench: no OpenCL device ({e}); the CPU backend only");
                vec![]
            }
        },
        BackendKind::OpenCl => vec![BackendKind::OpenCl],
        BackendKind::Cpu => vec![],
    };
    kinds.push(BackendKind::Cpu);
    let fail = |e: crate::bench::BenchError| {
        tellln!("hetsim bench: {e}");
        match e {
            crate::bench::BenchError::Backend(crate::backend::BackendError::Device { .. })
            | crate::bench::BenchError::Job(_)
            | crate::bench::BenchError::Write { .. } => EXIT_FAILED,
            _ => EXIT_BAD_INPUT,
        }
    };
    if args.scaling {
        let c = measure_and_print_ceilings(options.simd);
        sayln!(
            "memory: the process's peak resident set during each point (its plan, backend and run), and what the point added above the resident set it started from"
        );
        sayln!(
            "{:<8} {:<6} {:>9} {:>14} {:>11} {:>9} {:>8} {:>7} {:>16} {:>7} {:>7} {:>10} {:>10}",
            "part",
            "backend",
            "instances",
            "widths",
            "synapses",
            "sim (s)",
            "wall (s)",
            "CPU (s)",
            "synapse-steps/s",
            "of FMA",
            "of read",
            "peak RSS",
            "added"
        );
        let sizes = if args.quick {
            Sizes::quick()
        } else {
            Sizes::full()
        };
        let mb =
            |b: Option<u64>| b.map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
        let outcomes = scaling::scaling(&sizes, &kinds, options, &settings.budget, &c, &mut |o| {
            match o {
                Outcome::Measured(r) => sayln!(
                    "{:<8} {:<6} {:>9} {:>14} {:>11} {:>9} {:>8.3} {:>7} {:>16.3e} {:>7.3} {:>7.3} {:>10} {:>10}",
                    r.point.part.name(),
                    r.kind.name(),
                    r.point.instances,
                    r.point.widths(),
                    r.synapses_per_instance * r.point.instances,
                    r.simulated_s,
                    r.wall_s,
                    r.cpu_s.map_or("n/a".into(), |c| format!("{c:.3}")),
                    r.synapse_steps_per_s,
                    r.of_fma,
                    r.of_read,
                    mb(r.memory.map(|m| m.peak_bytes)),
                    mb(r.memory.map(|m| m.added_bytes)),
                ),
                Outcome::Skipped {
                    point,
                    backend,
                    reason,
                } => sayln!(
                    "{:<8} {:<6} {:>9} {:>14} skipped: {}",
                    point.part.name(),
                    backend.name(),
                    point.instances,
                    point.widths(),
                    reason.lines().next().unwrap_or("")
                ),
            }
        });
        let outcomes = match outcomes {
            Ok(o) => o,
            Err(e) => return fail(e),
        };
        if let Some(dir) = args.out {
            match scaling::write_csv(dir, &outcomes, &c) {
                Ok(path) => sayln!("wrote {}", path.display()),
                Err(e) => return fail(e),
            }
            match crate::plot::scaling::plot_scaling(dir, crate::plot::Formats::BOTH) {
                Ok(files) => {
                    for f in files {
                        sayln!("wrote {}", f.display());
                    }
                }
                Err(e) => {
                    tellln!("hetsim bench: the figure: {e}");
                    return EXIT_FAILED;
                }
            }
        }
    }
    if args.sweep_cost {
        let (points, seconds): (&[usize], f64) = if args.quick {
            (&SWEEP_POINTS_QUICK, SWEEP_SECONDS_QUICK)
        } else {
            (&SWEEP_POINTS, SWEEP_SECONDS)
        };
        let scratch = args
            .out
            .map(|d| d.join("sweep-cost-scratch"))
            .unwrap_or_else(|| {
                std::env::temp_dir().join(format!("hetsim-sweep-cost-{}", std::process::id()))
            });
        // The first backend alone: the question is the sweep's overhead, not the device.
        let kind = kinds[0];
        sayln!(
            "sweep of N points (W1, τ_w over N values, {seconds} s simulated, f32, {}) against N instances in one run",
            kind.name()
        );
        sayln!(
            "{:>7} {:>9} {:>10} {:>10} {:>7} {:>13} {:>11} {:>9} {:>12} {:>12}",
            "points",
            "ensembles",
            "sweep (s)",
            "run (s)",
            "ratio",
            "sweep CPU (s)",
            "run CPU (s)",
            "CPU ratio",
            "sweep peak",
            "run peak"
        );
        let mb = |m: Option<crate::bench::memory::Peak>| {
            m.map_or("n/a".into(), |m| {
                format!("{:.1} MiB", m.peak_bytes as f64 / 1048576.0)
            })
        };
        let costs = crate::bench::sweep_cost::sweep_cost(
            points,
            seconds,
            &scratch,
            kind,
            options,
            &settings.budget,
            &mut |c| {
                let secs = |s: Option<f64>| s.map_or("n/a".into(), |s| format!("{s:.3}"));
                sayln!(
                    "{:>7} {:>9} {:>10.3} {:>10.3} {:>7.2} {:>13} {:>11} {:>9} {:>12} {:>12}",
                    c.points,
                    c.ensembles,
                    c.sweep_wall_s,
                    c.run_wall_s,
                    c.ratio(),
                    secs(c.sweep_cpu_s),
                    secs(c.run_cpu_s),
                    c.cpu_ratio().map_or("n/a".into(), |r| format!("{r:.2}")),
                    mb(c.sweep_memory),
                    mb(c.run_memory)
                )
            },
        );
        let _ = std::fs::remove_dir(&scratch);
        let costs = match costs {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        if let Some(dir) = args.out {
            match crate::bench::sweep_cost::write_csv(dir, &costs) {
                Ok(path) => sayln!("wrote {}", path.display()),
                Err(e) => return fail(e),
            }
        }
    }
    EXIT_OK
}

/// Measures the machine's ceilings on the threads the CPU backend uses and prints them: the
/// line every bench table starts with.
fn measure_and_print_ceilings(simd: crate::simd::Simd) -> crate::bench::Ceilings {
    let c = crate::bench::ceilings(CEILING_FMA_ITERATIONS, CEILING_READ_BYTES, simd);
    sayln!(
        "ceilings on {} ({}): {:.3e} f32 FMA/s, {:.3e} B/s streaming read",
        crate::text::count(c.threads, "thread"),
        c.simd,
        c.fma_per_s,
        c.read_bytes_per_s
    );
    c
}
