//! `hetsim bench --scaling`: throughput and memory as the work grows, in two parts —
//! the W1 ensemble over more and more instances, and one circuit (W2's layered tanh circuit
//! learning by Kolen–Pollack, its input and hidden layers n wide) over more and more synapses.
//!
//! Each point is timed as `hetsim bench` times a workload ([`super::time_plan`]), for a
//! simulated time chosen from the rate of the point before it (a short pilot run for the first
//! point of a part) so that it takes about `target_wall_s`. Its memory is the process's peak
//! resident set while the point's plan and backend were built and ran, reset at the point's
//! start ([`super::memory`]), and what the point added above the resident set it started from.
//! A point whose estimate exceeds the memory budget is skipped with the budget's reason.
//!
//! Rows go to `scaling.csv` ([`COLUMNS`], one row per point, skipped points included with their
//! reason), which `plot::scaling` draws.

use super::memory;
use super::{BenchError, Ceilings, time_plan};
use crate::backend::{self, BackendKind};
use crate::circuit::budget::{self, Budget};
use crate::circuit::{self, Circuit};
use crate::spec::{self, SourceFile};
use crate::workload::{Workload, plan_of};
use std::path::Path;
use std::sync::Arc;

/// Which curve a point belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The W1 ensemble (30-20-10, 1,020 synapses per instance) at a number of instances.
    Ensemble,
    /// One instance of W2's circuit with n inputs and n hidden units.
    Circuit,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Ensemble => "ensemble",
            Part::Circuit => "circuit",
        }
    }
}

/// The points to measure and how long each should take.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Instances of the W1 ensemble.
    pub instances: Vec<usize>,
    /// Target synapse counts of the single circuit (the nearest n is taken).
    pub synapses: Vec<f64>,
    /// Wall time each point should take, roughly.
    pub target_wall_s: f64,
}

impl Sizes {
    /// 1 … 4,096 instances (×4) and 10³ … 10⁷ synapses (5 per decade), about 1 s a point.
    pub fn full() -> Sizes {
        Sizes {
            instances: vec![1, 4, 16, 64, 256, 1024, 4096],
            synapses: (0..=20).map(|k| 10f64.powf(3.0 + k as f64 / 5.0)).collect(),
            target_wall_s: 1.0,
        }
    }

    /// A look in seconds: 1 … 256 instances and 10³ … 10⁶ synapses (2 per decade), 0.2 s a
    /// point.
    pub fn quick() -> Sizes {
        Sizes {
            instances: vec![1, 4, 16, 64, 256],
            synapses: (0..=6).map(|k| 10f64.powf(3.0 + k as f64 / 2.0)).collect(),
            target_wall_s: 0.2,
        }
    }
}

/// One point to measure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub part: Part,
    pub instances: usize,
    /// Inputs and hidden units of the single circuit (0 for the ensemble).
    pub width: usize,
}

impl Point {
    /// The layer widths, as `30-20-10`.
    pub fn widths(&self) -> String {
        match self.part {
            Part::Ensemble => "30-20-10".into(),
            Part::Circuit => format!("{0}-{0}-10", self.width),
        }
    }

    /// The point's circuit file, `seconds` of simulated time.
    fn yaml(&self, seconds: f64) -> String {
        match self.part {
            Part::Ensemble => Workload::W1.circuit_yaml(seconds),
            Part::Circuit => Workload::W2
                .circuit_yaml(seconds)
                .replace("name: W2", &format!("name: scaling-{}", self.width))
                .replace("size: 784", &format!("size: {}", self.width))
                .replace("size: 1000", &format!("size: {}", self.width)),
        }
    }
}

impl Point {
    /// Synapse-steps per simulated second, for sizing the point's run only (the row counts
    /// the plan's own synapses and steps): W1's 1,020 synapses at dt = 0.1 ms, W2's circuit's
    /// n² + 20 n + 20 at dt = 0.5 ms.
    fn synapse_steps_per_model_second(&self) -> f64 {
        match self.part {
            Part::Ensemble => 1020.0 * self.instances as f64 * 1e4,
            Part::Circuit => {
                let n = self.width as f64;
                (n * n + 20.0 * n + 20.0) * 2e3
            }
        }
    }
}

/// The width n whose circuit (n² input synapses, n·10 output and n·10 feedback synapses, and
/// the 2 × 10 of the output error's fixed identity projections) is nearest `synapses`.
pub fn width_for(synapses: f64) -> usize {
    ((80.0 + synapses).sqrt() - 10.0).round().max(1.0) as usize
}

/// A measured point.
#[derive(Clone, Debug)]
pub struct Row {
    pub point: Point,
    pub kind: BackendKind,
    /// The backend's description (device, vector level, threads).
    pub backend: String,
    pub synapses_per_instance: usize,
    pub simulated_s: f64,
    pub steps: u64,
    pub synapse_steps: f64,
    pub wall_s: f64,
    /// CPU seconds the process used over the timed steps (every thread; None where unknown).
    pub cpu_s: Option<f64>,
    pub synapse_steps_per_s: f64,
    pub of_fma: f64,
    pub of_read: f64,
    /// The process's peak resident set during the point (None where it cannot be read).
    pub memory: Option<memory::Peak>,
    /// The budget's estimate of the ensemble's state (the number checked against it).
    pub estimate_bytes: f64,
}

/// A point's outcome: measured, or skipped and why.
#[derive(Clone, Debug)]
pub enum Outcome {
    Measured(Row),
    Skipped {
        point: Point,
        backend: BackendKind,
        reason: String,
    },
}

/// The columns of `scaling.csv`, in order: the one declaration of its schema.
pub const COLUMNS: [&str; 22] = [
    "part",
    "backend",
    "device",
    "instances",
    "widths",
    "synapses_per_instance",
    "synapses",
    "simulated_s",
    "steps",
    "synapse_steps",
    "wall_s",
    "cpu_s",
    "synapse_steps_per_s",
    "of_fma",
    "of_read",
    "peak_rss_bytes",
    "added_rss_bytes",
    "estimate_bytes",
    "ceiling_fma_per_s",
    "ceiling_read_bytes_per_s",
    "threads",
    "skipped",
];

/// Every point of `sizes` on each of `kinds`, in order (each part's sizes ascending), each
/// reported to `report` as it finishes.
pub fn scaling(
    sizes: &Sizes,
    kinds: &[BackendKind],
    options: &backend::Options,
    budget: &Budget,
    ceilings: &Ceilings,
    report: &mut dyn FnMut(&Outcome),
) -> Result<Vec<Outcome>, BenchError> {
    let mut out = Vec::new();
    let parts = [
        (
            Part::Ensemble,
            sizes
                .instances
                .iter()
                .map(|&n| Point {
                    part: Part::Ensemble,
                    instances: n,
                    width: 0,
                })
                .collect::<Vec<_>>(),
        ),
        (Part::Circuit, {
            let mut widths: Vec<usize> = sizes.synapses.iter().map(|&s| width_for(s)).collect();
            widths.dedup();
            widths
                .into_iter()
                .map(|w| Point {
                    part: Part::Circuit,
                    instances: 1,
                    width: w,
                })
                .collect()
        }),
    ];
    for &kind in kinds {
        for (_, points) in &parts {
            // The previous point's rate sizes the next one's simulated time.
            let mut rate: Option<f64> = None;
            for point in points {
                let outcome = measure_point(
                    *point,
                    kind,
                    options,
                    budget,
                    ceilings,
                    sizes.target_wall_s,
                    rate,
                )?;
                if let Outcome::Measured(r) = &outcome {
                    rate = Some(r.synapse_steps_per_s);
                }
                report(&outcome);
                out.push(outcome);
            }
        }
    }
    Ok(out)
}

/// The shortest simulated time a point runs (the warm-up window and one timed window of W1
/// and W2, which record every 100 ms).
const MIN_SECONDS: f64 = 0.2;
/// The longest (a tiny circuit at a high rate would otherwise ask for hours of model time).
const MAX_SECONDS: f64 = 1000.0;

/// Simulated seconds for `target_wall_s` at `rate` synapse-steps/s, whole 100 ms windows.
fn seconds_for(target_wall_s: f64, rate: f64, synapse_steps_per_second: f64) -> f64 {
    let s = target_wall_s * rate / synapse_steps_per_second;
    ((s * 10.0).round() / 10.0).clamp(MIN_SECONDS, MAX_SECONDS)
}

/// Builds `point`'s circuit for `seconds` under `budget`, refusing an ensemble over it.
fn build(
    point: &Point,
    seconds: f64,
    budget: &Budget,
) -> Result<Result<(Circuit, f64), String>, BenchError> {
    let source = SourceFile::from_text(
        Path::new(&format!("scaling-{}", point.widths())),
        point.yaml(seconds),
    );
    let spec = spec::parse_circuit(&source).map_err(|d| BenchError::Workload(d.to_string()))?;
    let circuit = match circuit::build_within(&source, &spec, budget) {
        Ok(c) => c,
        // Only a size refusal is a skip; any other error is the harness's own mistake.
        Err(d) if d.to_string().contains("budget") => return Ok(Err(d.to_string())),
        Err(d) => return Err(BenchError::Workload(d.to_string())),
    };
    let bytes = budget.bytes().map_err(BenchError::Workload)?;
    if let Err(reason) = budget::check_instances(&circuit, point.instances, &bytes, budget) {
        return Ok(Err(reason));
    }
    let estimate = budget::instance_bytes(&circuit) * point.instances as f64;
    Ok(Ok((circuit, estimate)))
}

/// Measures one point: a pilot run sizes it when no `rate` is known yet.
pub fn measure_point(
    point: Point,
    kind: BackendKind,
    options: &backend::Options,
    budget: &Budget,
    ceilings: &Ceilings,
    target_wall_s: f64,
    rate: Option<f64>,
) -> Result<Outcome, BenchError> {
    let skipped = |reason: String| Outcome::Skipped {
        point,
        backend: kind,
        reason,
    };
    let (circuit, _) = match build(&point, MIN_SECONDS, budget)? {
        Ok(c) => c,
        Err(reason) => return Ok(skipped(reason)),
    };
    let per_model_second = point.synapse_steps_per_model_second();
    let rate = match rate {
        Some(r) => r,
        None => {
            let plan = Arc::new(plan_of(&circuit, point.instances).map_err(BenchError::Workload)?);
            let t = time_plan(plan, kind, options)?;
            per_model_second * MIN_SECONDS / t.wall_s
        }
    };
    drop(circuit);
    let seconds = seconds_for(target_wall_s, rate, per_model_second);
    let row = timed_point(point, kind, options, budget, ceilings, seconds)?;
    // A rate from a smaller point (or a pilot dominated by its start) can be far too low: a
    // point that ran in under a third of its target runs again at its own rate.
    match row {
        Outcome::Measured(r) if r.wall_s < target_wall_s / 3.0 && r.simulated_s < MAX_SECONDS => {
            let seconds = seconds_for(target_wall_s, r.synapse_steps_per_s, per_model_second);
            timed_point(point, kind, options, budget, ceilings, seconds)
        }
        other => Ok(other),
    }
}

/// Times `point` for `seconds` of simulated time, its memory measured from the circuit's
/// building on.
fn timed_point(
    point: Point,
    kind: BackendKind,
    options: &backend::Options,
    budget: &Budget,
    ceilings: &Ceilings,
    seconds: f64,
) -> Result<Outcome, BenchError> {
    let skipped = |reason: String| Outcome::Skipped {
        point,
        backend: kind,
        reason,
    };
    let resident = memory::start();
    let (circuit, estimate_bytes) = match build(&point, seconds, budget)? {
        Ok(c) => c,
        Err(reason) => return Ok(skipped(reason)),
    };
    let plan = Arc::new(plan_of(&circuit, point.instances).map_err(BenchError::Workload)?);
    drop(circuit);
    let (synapses_per_instance, steps) = (plan.synapses_per_instance(), plan.steps);
    let synapse_steps = synapses_per_instance as f64 * point.instances as f64 * steps as f64;
    let timed = time_plan(plan, kind, options)?;
    let memory = resident.and_then(|r| r.peak());
    let synapse_steps_per_s = synapse_steps / timed.wall_s;
    let (of_fma, of_read) = ceilings.fractions(synapse_steps_per_s);
    Ok(Outcome::Measured(Row {
        point,
        kind,
        backend: timed.backend,
        synapses_per_instance,
        simulated_s: seconds,
        steps,
        synapse_steps,
        wall_s: timed.wall_s,
        cpu_s: timed.cpu_s,
        synapse_steps_per_s,
        of_fma,
        of_read,
        memory,
        estimate_bytes,
    }))
}

/// `outcomes` as the cells of [`COLUMNS`], one record per point.
pub fn records(outcomes: &[Outcome], ceilings: &Ceilings) -> Vec<Vec<String>> {
    let num = crate::record::atomic::number_cell;
    let ceiling = [
        num(ceilings.fma_per_s),
        num(ceilings.read_bytes_per_s),
        ceilings.threads.to_string(),
    ];
    outcomes
        .iter()
        .map(|o| match o {
            Outcome::Measured(r) => {
                let mut cells = vec![
                    r.point.part.name().to_string(),
                    r.kind.name().to_string(),
                    r.backend.clone(),
                    r.point.instances.to_string(),
                    r.point.widths(),
                    r.synapses_per_instance.to_string(),
                    (r.synapses_per_instance * r.point.instances).to_string(),
                    num(r.simulated_s),
                    r.steps.to_string(),
                    num(r.synapse_steps),
                    num(r.wall_s),
                    r.cpu_s.map_or(String::new(), num),
                    num(r.synapse_steps_per_s),
                    num(r.of_fma),
                    num(r.of_read),
                    r.memory.map_or(String::new(), |m| m.peak_bytes.to_string()),
                    r.memory
                        .map_or(String::new(), |m| m.added_bytes.to_string()),
                    num(r.estimate_bytes),
                ];
                cells.extend(ceiling.iter().cloned());
                cells.push(String::new());
                cells
            }
            Outcome::Skipped {
                point,
                backend,
                reason,
            } => {
                let mut cells = vec![
                    point.part.name().to_string(),
                    backend.name().to_string(),
                    String::new(),
                    point.instances.to_string(),
                    point.widths(),
                ];
                cells.resize(18, String::new());
                cells.extend(ceiling.iter().cloned());
                cells.push(reason.lines().next().unwrap_or("").to_string());
                cells
            }
        })
        .collect()
}

/// Writes `scaling.csv` into `dir` (created if needed), whole.
pub fn write_csv(
    dir: &Path,
    outcomes: &[Outcome],
    ceilings: &Ceilings,
) -> Result<std::path::PathBuf, BenchError> {
    let path = dir.join("scaling.csv");
    let io = |source| BenchError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let to_io = |e: csv::Error| std::io::Error::other(e.to_string());
    w.write_record(COLUMNS).map_err(to_io).map_err(io)?;
    for r in records(outcomes, ceilings) {
        w.write_record(&r).map_err(to_io).map_err(io)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let text = String::from_utf8(bytes).expect("CSV of UTF-8 cells");
    crate::record::atomic::write_atomic(&path, &text).map_err(io)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::budget::MemoryBudget;
    use crate::simd::Simd;

    fn ceilings() -> Ceilings {
        Ceilings {
            threads: 1,
            simd: Simd::auto(),
            fma_per_s: 1e10,
            read_bytes_per_s: 1e10,
        }
    }

    #[test]
    fn widths_give_the_nearest_synapse_count() {
        for s in [1e3, 1e4, 1e5, 1e6, 1e7] {
            let n = width_for(s) as f64;
            let count = n * n + 20.0 * n + 20.0;
            assert!((count / s - 1.0).abs() < 0.1, "{s}: n = {n}, {count}");
        }
        assert_eq!(seconds_for(1.0, 1e9, 1e8), 10.0);
        assert_eq!(seconds_for(1.0, 1e9, 1e12), MIN_SECONDS);
        assert_eq!(seconds_for(1.0, 1e12, 1.0), MAX_SECONDS);
    }

    /// Tiny sizes: one row per point in the declared schema, the synapse counts the circuit
    /// has, positive throughput and memory; simulated time in whole recording windows.
    #[test]
    fn tiny_scaling_rows_follow_the_schema() {
        let sizes = Sizes {
            instances: vec![1, 8],
            synapses: vec![1e3, 3e3],
            target_wall_s: 0.02,
        };
        let c = ceilings();
        let mut reported = 0;
        let out = scaling(
            &sizes,
            &[BackendKind::Cpu],
            &Default::default(),
            &Budget::default(),
            &c,
            &mut |_| reported += 1,
        )
        .unwrap();
        assert_eq!((out.len(), reported), (4, 4));
        let rows = records(&out, &c);
        for (o, cells) in out.iter().zip(&rows) {
            assert_eq!(cells.len(), COLUMNS.len());
            let Outcome::Measured(r) = o else {
                panic!("skipped: {o:?}")
            };
            let cell = |name: &str| &cells[COLUMNS.iter().position(|c| *c == name).unwrap()];
            assert!(r.synapse_steps_per_s > 0.0 && r.wall_s > 0.0);
            assert!(cell("synapse_steps_per_s").parse::<f64>().unwrap() > 0.0);
            assert!(cell("skipped").is_empty());
            let windows = r.simulated_s / 0.1;
            assert!(
                (windows - windows.round()).abs() < 1e-9,
                "{}",
                r.simulated_s
            );
            if memory::start().is_some() {
                assert!(cell("peak_rss_bytes").parse::<u64>().unwrap() > 0);
                cell("added_rss_bytes").parse::<u64>().unwrap();
            }
            let expected = match r.point.part {
                Part::Ensemble => 1020,
                Part::Circuit => r.point.width * r.point.width + 20 * r.point.width + 20,
            };
            assert_eq!(r.synapses_per_instance, expected, "{:?}", r.point);
            assert_eq!(
                cell("synapses").parse::<usize>().unwrap(),
                expected * r.point.instances
            );
        }
        let parts: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r[0].as_str(), r[3].as_str()))
            .collect();
        assert_eq!(
            parts,
            [
                ("ensemble", "1"),
                ("ensemble", "8"),
                ("circuit", "1"),
                ("circuit", "1")
            ]
        );
        let dir = std::env::temp_dir().join(format!("hetsim-scaling-{}", std::process::id()));
        let path = write_csv(&dir, &out, &c).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next().unwrap(), COLUMNS.join(","));
        assert_eq!(text.lines().count(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A point whose ensemble would exceed the budget is skipped with the budget's reason, and
    /// its row says so; the small one beside it is measured.
    #[test]
    fn a_point_over_the_budget_is_skipped_with_its_reason() {
        // 128 MiB: one W1 instance fits (the estimate's fixed part is 64 MiB, an instance
        // about 0.5 MiB), 4,096 do not.
        let budget = Budget::exactly(MemoryBudget { bytes: 128 << 20 });
        let sizes = Sizes {
            instances: vec![1, 4096],
            synapses: vec![],
            target_wall_s: 0.01,
        };
        let c = ceilings();
        let out = scaling(
            &sizes,
            &[BackendKind::Cpu],
            &Default::default(),
            &budget,
            &c,
            &mut |_| {},
        )
        .unwrap();
        assert!(matches!(out[0], Outcome::Measured(_)), "{:?}", out[0]);
        let Outcome::Skipped { point, reason, .. } = &out[1] else {
            panic!("measured: {:?}", out[1])
        };
        assert_eq!(point.instances, 4096);
        assert!(reason.contains("budget"), "{reason}");
        let rows = records(&out, &c);
        assert!(rows[1].last().unwrap().contains("budget"));
        assert!(rows[1][COLUMNS.iter().position(|c| *c == "wall_s").unwrap()].is_empty());
    }
}
