//! `hetsim bench --sweep-cost`: what a sweep of N points costs against the same N instances
//! run as one ensemble (`hetsim run --seeds N`), in wall time and peak resident memory.
//!
//! The circuit is W1's with a short simulated time; the sweep has one axis, τ_w over N
//! log-spaced values from 1 s to 10 s, one seed per point, a final-loss summary column, and
//! packs its points into ensembles as `hetsim sweep` does (256 instances each by default).
//! Both jobs run through the library calls the commands make, write their directories into a
//! scratch folder (removed after each measurement) and run in f32 on the same backend. The
//! sweep's time includes everything `hetsim sweep` does before and after its ensembles
//! (every point's circuit built and checked, the parts and tables written); the run's includes
//! its preparation and its directory. An uncounted sweep and run of one point go first, so
//! that neither side of the first N pays for what the process does only once, and N of up to
//! 100 (jobs of milliseconds) are measured five times, each side's fastest taken.

use super::BenchError;
use super::memory;
use crate::backend::{self, BackendKind, Precision};
use crate::circuit::budget::Budget;
use crate::experiment::{CircuitSource, Output, Request};
use crate::sweep::SweepRequest;
use crate::workload::Workload;
use std::path::Path;
use std::time::Instant;

/// One N measured both ways.
#[derive(Clone, Debug)]
pub struct Cost {
    pub points: usize,
    /// Ensembles the sweep ran.
    pub ensembles: usize,
    pub sweep_wall_s: f64,
    pub run_wall_s: f64,
    /// CPU seconds the process used for each (every thread; None where unknown): on a shared
    /// machine the wall times include waiting for the other processes, these do not.
    pub sweep_cpu_s: Option<f64>,
    pub run_cpu_s: Option<f64>,
    /// Peak resident sets (None where they cannot be read).
    pub sweep_memory: Option<memory::Peak>,
    pub run_memory: Option<memory::Peak>,
}

impl Cost {
    /// The sweep's wall time over the ensemble run's.
    pub fn ratio(&self) -> f64 {
        self.sweep_wall_s / self.run_wall_s
    }

    /// The sweep's CPU time over the ensemble run's.
    pub fn cpu_ratio(&self) -> Option<f64> {
        Some(self.sweep_cpu_s? / self.run_cpu_s?)
    }

    /// Two measurements of the same N as one: each time the shorter of the two, each side
    /// on its own; the memory of the first (every measurement starts from a reset peak).
    fn fastest(self, other: Cost) -> Cost {
        let min = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Cost {
            sweep_wall_s: self.sweep_wall_s.min(other.sweep_wall_s),
            run_wall_s: self.run_wall_s.min(other.run_wall_s),
            sweep_cpu_s: min(self.sweep_cpu_s, other.sweep_cpu_s),
            run_cpu_s: min(self.run_cpu_s, other.run_cpu_s),
            ..self
        }
    }
}

/// The sweep file of `points` points over the circuit `w1.yaml` beside it.
pub fn sweep_yaml(points: usize) -> String {
    let axis = if points == 1 {
        "values: [2 s]".to_string()
    } else {
        format!("log: {{from: 1 s, to: 10 s, count: {points}}}")
    };
    format!(
        "name: cost-{points}\ncircuit: w1.yaml\naxes:\n  - path: tau_w\n    {axis}\nseeds: 1\nsummary:\n  - {{measure: loss, stat: final}}\n"
    )
}

/// Measures each of `points` both ways, W1 for `seconds` of simulated time, in `scratch`
/// (created; what each measurement writes there is removed after it). `report` hears each.
pub fn sweep_cost(
    points: &[usize],
    seconds: f64,
    scratch: &Path,
    kind: BackendKind,
    options: &backend::Options,
    budget: &Budget,
    report: &mut dyn FnMut(&Cost),
) -> Result<Vec<Cost>, BenchError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BenchError::Write { path, source }
    };
    std::fs::create_dir_all(scratch).map_err(io(scratch))?;
    let circuit = scratch.join("w1.yaml");
    std::fs::write(&circuit, Workload::W1.circuit_yaml(seconds)).map_err(io(&circuit))?;
    let job = Job {
        scratch,
        circuit: &circuit,
        kind,
        options,
        budget,
    };
    // What a process does once (code paged in, tables built on first use) is paid here, by a
    // sweep and a run of one point that are not counted, rather than by whichever job of the
    // first N came first.
    job.measure(1)?;
    let mut out = Vec::new();
    for &n in points {
        let mut cost = job.measure(n)?;
        for _ in 1..repeats(n) {
            cost = cost.fastest(job.measure(n)?);
        }
        report(&cost);
        out.push(cost);
    }
    std::fs::remove_file(&circuit).map_err(io(&circuit))?;
    Ok(out)
}

/// How many times `n` points are measured: a job of a few milliseconds several times, its
/// fastest times taken (the other processes of a shared machine only ever add time to it).
fn repeats(n: usize) -> usize {
    if n <= 100 { 5 } else { 1 }
}

/// What every measurement of one bench shares.
struct Job<'a> {
    scratch: &'a Path,
    /// The circuit file, in `scratch`.
    circuit: &'a Path,
    kind: BackendKind,
    options: &'a backend::Options,
    budget: &'a Budget,
}

impl Job<'_> {
    /// A sweep of `n` points, then a run of `n` instances, each timed and its directory removed.
    fn measure(&self, n: usize) -> Result<Cost, BenchError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BenchError::Write { path, source }
        };
        let (scratch, circuit, kind, options, budget) = (
            self.scratch,
            self.circuit,
            self.kind,
            self.options,
            self.budget,
        );
        let file = scratch.join(format!("sweep-{n}.yaml"));
        std::fs::write(&file, sweep_yaml(n)).map_err(io(&file))?;
        let sweep_dir = scratch.join(format!("sweep-{n}"));
        let run_dir = scratch.join(format!("run-{n}"));

        let mut request = SweepRequest::new(&file);
        request.out = Some(sweep_dir.clone());
        request.backend = kind;
        request.precision = Some(Precision::F32);
        request.backend_options = options.clone();
        request.budget = budget.clone();
        let resident = memory::start();
        let cpu_start = super::cpu::process_seconds();
        let start = Instant::now();
        let outcome = crate::sweep::sweep(&request, &mut |_| {}, None)
            .map_err(|e| BenchError::Job(format!("the sweep of {n} points: {e}")))?;
        let sweep_wall_s = start.elapsed().as_secs_f64();
        let sweep_cpu_s = super::cpu::since(cpu_start);
        let sweep_memory = resident.and_then(|r| r.peak());
        if outcome.points_done != n {
            return Err(BenchError::Job(format!(
                "the sweep of {n} points finished {} of them",
                outcome.points_done
            )));
        }
        std::fs::remove_dir_all(&sweep_dir).map_err(io(&sweep_dir))?;

        let mut request = Request::new(CircuitSource::file(circuit));
        request.seeds = n;
        request.backend = kind;
        request.precision = Some(Precision::F32);
        request.backend_options = options.clone();
        request.budget = budget.clone();
        request.output = Output::Directory {
            path: Some(run_dir.clone()),
            replace: false,
        };
        let resident = memory::start();
        let cpu_start = super::cpu::process_seconds();
        let start = Instant::now();
        let job = |e: crate::experiment::ExperimentError| {
            BenchError::Job(format!("the run of {n} instances: {e}"))
        };
        let finished = request
            .prepare()
            .map_err(job)?
            .execute(&mut crate::run::Quiet, None)
            .map_err(job)?;
        let run_wall_s = start.elapsed().as_secs_f64();
        let run_cpu_s = super::cpu::since(cpu_start);
        let run_memory = resident.and_then(|r| r.peak());
        drop(finished);
        std::fs::remove_dir_all(&run_dir).map_err(io(&run_dir))?;
        std::fs::remove_file(&file).map_err(io(&file))?;

        Ok(Cost {
            points: n,
            ensembles: outcome.ensembles_run,
            sweep_wall_s,
            run_wall_s,
            sweep_cpu_s,
            run_cpu_s,
            sweep_memory,
            run_memory,
        })
    }
}

/// The columns of `sweep_cost.csv`, in order.
pub const COLUMNS: [&str; 12] = [
    "points",
    "ensembles",
    "sweep_wall_s",
    "run_wall_s",
    "ratio",
    "sweep_cpu_s",
    "run_cpu_s",
    "cpu_ratio",
    "sweep_peak_rss_bytes",
    "run_peak_rss_bytes",
    "sweep_added_rss_bytes",
    "run_added_rss_bytes",
];

/// `costs` as the cells of [`COLUMNS`].
pub fn records(costs: &[Cost]) -> Vec<Vec<String>> {
    let num = crate::record::atomic::number_cell;
    let bytes = |m: Option<memory::Peak>, f: fn(memory::Peak) -> u64| {
        m.map_or(String::new(), |m| f(m).to_string())
    };
    costs
        .iter()
        .map(|c| {
            vec![
                c.points.to_string(),
                c.ensembles.to_string(),
                num(c.sweep_wall_s),
                num(c.run_wall_s),
                num(c.ratio()),
                c.sweep_cpu_s.map_or(String::new(), num),
                c.run_cpu_s.map_or(String::new(), num),
                c.cpu_ratio().map_or(String::new(), num),
                bytes(c.sweep_memory, |m| m.peak_bytes),
                bytes(c.run_memory, |m| m.peak_bytes),
                bytes(c.sweep_memory, |m| m.added_bytes),
                bytes(c.run_memory, |m| m.added_bytes),
            ]
        })
        .collect()
}

/// Writes `sweep_cost.csv` into `dir`, whole.
pub fn write_csv(dir: &Path, costs: &[Cost]) -> Result<std::path::PathBuf, BenchError> {
    let path = dir.join("sweep_cost.csv");
    let mut text = COLUMNS.join(",") + "\n";
    for r in records(costs) {
        text += &(r.join(",") + "\n");
    }
    std::fs::create_dir_all(dir)
        .and_then(|_| crate::record::atomic::write_atomic(&path, &text))
        .map_err(|source| BenchError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiny N both ways: every point done, the ensembles the packing predicts, positive times.
    #[test]
    fn tiny_sweeps_and_runs_are_measured() {
        let scratch =
            std::env::temp_dir().join(format!("hetsim-sweep-cost-{}", std::process::id()));
        let mut heard = 0;
        let costs = sweep_cost(
            &[1, 3],
            0.2,
            &scratch,
            BackendKind::Cpu,
            &Default::default(),
            &Budget::default(),
            &mut |_| heard += 1,
        )
        .unwrap();
        assert_eq!(heard, 2);
        assert_eq!(
            costs.iter().map(|c| c.points).collect::<Vec<_>>(),
            vec![1, 3]
        );
        for c in &costs {
            // Points that differ only in τ_w pack into one ensemble.
            assert_eq!(c.ensembles, 1);
            assert!(c.sweep_wall_s > 0.0 && c.run_wall_s > 0.0 && c.ratio() > 0.0);
        }
        let rows = records(&costs);
        assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
        // Nothing is left behind.
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
        std::fs::remove_dir(&scratch).unwrap();
    }
}
