//! `hetsim evolve`: one generation is one ensemble run. Every member of the population (× its
//! seeds) is one instance of the circuit with the member's θ; the fitness comes from the
//! run's in-memory rows; the strategy's state is saved after every generation, so a stopped
//! evolution resumes exactly where it was.
//!
//! Files (all under the output directory): `evolve.yaml` (the evolution file as it was),
//! `manifest.json`, `generations.csv`, `population.csv`, `best.yaml` (the best rule so far as a
//! circuit `hetsim run` accepts) and `state.json`. Tables are appended and flushed after each
//! generation, then the state is renamed into place; a resume first drops any table row of a
//! generation the state does not include, so an interrupted and resumed evolution writes the
//! same tables as an uninterrupted one.

use super::files::{append, median, num, truncate_table, write_atomic, write_err};
use super::members::{fitness, forward_plastic, keep_free_terms, layer_angle, member_circuit};
use super::search::{Search, SearchState, new_strategy};
use super::spec::{self, EvolveSpec, FreeParameter, StrategySpec};
use super::strategy;
use crate::backend::{self, BackendKind, Precision};
use crate::circuit::{self, Circuit};
use crate::experiment::summary::{Summarizer, mean_sd};
use crate::experiment::{CircuitSource, ExperimentError};
use crate::plan::{InstanceSpec, Plan};
use crate::record::manifest::{Provenance, sha256_hex};
use crate::record::{Collector, Status, Tee};

use crate::spec::{Diagnostics, Measure, SourceFile};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What to evolve and where.
#[derive(Clone, Debug)]
pub struct EvolveRequest {
    pub path: PathBuf,
    /// The output directory (default `runs/evolve-<name>-<unix time>`); required to resume.
    pub out: Option<PathBuf>,
    pub resume: bool,
    pub backend: BackendKind,
    pub precision: Option<Precision>,
    /// Overrides the file's number of generations (for quick checks).
    pub generations: Option<u64>,
    pub command_line: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvolveError {
    #[error("{0}")]
    Input(Diagnostics),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Experiment(#[from] ExperimentError),
    #[error("{0}")]
    Strategy(#[from] strategy::StrategyError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl EvolveError {
    pub fn is_bad_input(&self) -> bool {
        match self {
            EvolveError::Input(_) | EvolveError::Usage(_) | EvolveError::Strategy(_) => true,
            EvolveError::Experiment(e) => e.is_bad_input(),
            EvolveError::Write { .. } => false,
        }
    }
}

/// One generation's outcome, for progress displays.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationReport {
    pub generation: u64,
    pub generations: u64,
    pub best_fitness: f64,
    pub best_ever: f64,
    pub median_fitness: f64,
    pub sigma: f64,
    pub diverged: usize,
    pub members: usize,
    /// Wall time of the generation, and of its ensemble run alone (the rest is the strategy,
    /// the bookkeeping and the writing).
    pub wall_s: f64,
    pub run_s: f64,
}

/// The state saved after every generation.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SavedState {
    generations_done: u64,
    search: SearchState,
    best: Option<Best>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Best {
    /// Search-space coordinates, as exact decimal strings (JSON numbers do not round-trip).
    x: Vec<String>,
    fitness: String,
    generation: u64,
}

impl Best {
    fn values(&self) -> (Vec<f64>, f64) {
        (
            self.x
                .iter()
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect(),
            self.fitness.parse().unwrap_or(f64::INFINITY),
        )
    }
}

/// The end of an evolution.
#[derive(Clone, Debug)]
pub struct EvolveOutcome {
    pub dir: PathBuf,
    pub status: Status,
    pub generations_done: u64,
    pub best_fitness: f64,
    pub best_theta: Vec<(String, f64)>,
    /// The figure files, or why none were drawn.
    pub figures: Result<Vec<PathBuf>, String>,
}

/// Everything fixed for the whole evolution.
pub(super) struct Setup {
    pub(super) spec: EvolveSpec,
    pub(super) circuit: Circuit,
    pub(super) free: Vec<FreeParameter>,
    pub(super) base_dir: PathBuf,
    pub(super) circuit_source: SourceFile,
}

fn load(path: &Path, text: Option<String>) -> Result<(Setup, SourceFile), EvolveError> {
    let source = match text {
        Some(t) => SourceFile::from_text(path, t),
        None => crate::spec::read_source(path).map_err(EvolveError::Input)?,
    };
    let spec: EvolveSpec =
        crate::spec::document::parse_document(&source).map_err(EvolveError::Input)?;
    let circuit_source = CircuitSource::named_by(path, &spec.circuit, &spec.set)?;
    let circuit_path = circuit_source.path.clone();
    let (csource, mut cspec) = circuit_source.load()?;
    // The fitness and the report need these measurements, whatever the circuit records.
    for m in [
        Measure::Loss,
        Measure::GradientAlignment,
        Measure::WeightAlignment,
        Measure::HebbianSignature,
    ] {
        if !cspec.record.measure.contains(&m) {
            cspec.record.measure.push(m);
        }
    }
    // Members are scored in memory; probes would only hold every member's samples there.
    cspec.record.probes.clear();
    cspec.record.weights = None;
    let circuit = circuit::build(&csource, &cspec).map_err(EvolveError::Input)?;
    let free = spec::free_parameters(&spec, &source, &circuit).map_err(EvolveError::Input)?;
    let base_dir = circuit_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok((
        Setup {
            spec,
            circuit,
            free,
            base_dir,
            circuit_source: csource,
        },
        source,
    ))
}

/// The evolution's record in `manifest.json`.
#[derive(Serialize)]
struct EvolveManifest<'a> {
    kind: &'static str,
    name: &'a str,
    evolve_file: String,
    circuit_file: String,
    status: Status,
    status_reason: Option<String>,
    generations_done: u64,
    generations: u64,
    backend: String,
    device: crate::backend::DeviceDescription,
    precision: Precision,
    free: Vec<String>,
    seeds_per_member: usize,
    first_seed: u64,
    inputs: Vec<crate::record::manifest::InputFile>,
    provenance: Provenance,
}

/// Runs (or resumes) an evolution. `report` hears about each generation; `stop` ends the
/// evolution after the current generation (status `interrupted`; `--resume` continues).
pub fn evolve(
    request: &EvolveRequest,
    report: &mut dyn FnMut(&GenerationReport),
    stop: Option<&AtomicBool>,
) -> Result<EvolveOutcome, EvolveError> {
    // A resume reads the evolution file as it was when the evolution began.
    let saved_text = match (&request.out, request.resume) {
        (Some(dir), true) => Some(std::fs::read_to_string(dir.join("evolve.yaml")).map_err(
            |e| {
                EvolveError::Usage(format!(
                    "--resume: {} holds no evolution ({e})",
                    dir.display()
                ))
            },
        )?),
        (None, true) => {
            return Err(EvolveError::Usage(
                "--resume needs --out DIR, the directory of the evolution to continue".into(),
            ));
        }
        _ => None,
    };
    if let Some(saved) = &saved_text {
        let now = std::fs::read_to_string(&request.path).unwrap_or_default();
        if &now != saved {
            return Err(EvolveError::Usage(format!(
                "--resume: {} differs from the copy the evolution started with ({}); resume with the same file, or start a new evolution",
                request.path.display(),
                request
                    .out
                    .as_ref()
                    .map(|d| d.join("evolve.yaml").display().to_string())
                    .unwrap_or_default()
            )));
        }
    }
    let (setup, source) = load(&request.path, saved_text.clone())?;
    let generations = request
        .generations
        .unwrap_or(setup.spec.strategy.generations());
    let dir = match &request.out {
        Some(d) => d.clone(),
        None => crate::experiment::output::default_dir(&format!("evolve-{}", setup.spec.name)),
    };
    let state_path = dir.join("state.json");
    let (mut strategy, mut best, mut done) = if request.resume {
        let text = std::fs::read_to_string(&state_path).map_err(|e| {
            EvolveError::Usage(format!(
                "--resume: cannot read {}: {e}",
                state_path.display()
            ))
        })?;
        let saved: SavedState = serde_json::from_str(&text).map_err(|e| {
            EvolveError::Usage(format!(
                "--resume: {} is not a saved state: {e}",
                state_path.display()
            ))
        })?;
        for table in ["generations.csv", "population.csv"] {
            truncate_table(&dir.join(table), saved.generations_done)?;
        }
        let search = match (saved.search, &setup.spec.strategy) {
            (SearchState::Strategy(state), _) => Search::Es(strategy::restore(state)?),
            (
                SearchState::Random { drawn },
                StrategySpec::Random {
                    samples,
                    batch,
                    seed,
                },
            ) => Search::Random {
                seed: *seed,
                samples: *samples,
                batch: *batch,
                drawn,
            },
            (SearchState::Random { .. }, _) => {
                return Err(EvolveError::Usage(
                    "--resume: the saved state is of random draws, the file names a strategy"
                        .into(),
                ));
            }
        };
        (search, saved.best, saved.generations_done)
    } else {
        crate::experiment::output::claim(&dir, false)?;
        std::fs::write(dir.join("evolve.yaml"), &source.text).map_err(write_err(&dir))?;
        (new_strategy(&setup)?, None, 0)
    };
    let seeds = setup.spec.seeds_per_member;
    let budget =
        crate::circuit::budget::MemoryBudget::from_env_or_machine().map_err(EvolveError::Usage)?;
    let members = match &setup.spec.strategy {
        StrategySpec::CmaEs { population, .. } => {
            population.unwrap_or(4 + (3.0 * (setup.free.len() as f64).ln()).floor() as usize)
        }
        StrategySpec::OpenaiEs { population, .. } => *population,
        StrategySpec::Random { batch, .. } => *batch,
    };
    crate::circuit::budget::check_instances(&setup.circuit, members * seeds, &budget)
        .map_err(EvolveError::Usage)?;
    let header_free: Vec<String> = setup.free.iter().map(|p| p.column.clone()).collect();
    let mut population_header: Vec<String> = ["generation", "member", "fitness", "diverged"]
        .map(String::from)
        .to_vec();
    population_header.extend(header_free.iter().cloned());
    population_header.extend(
        [
            "gradient_angle_deg",
            "weight_angle_deg",
            "hebbian_signature",
        ]
        .map(String::from),
    );
    // The concatenated angle is dominated by a layer whose rule is exact (an output layer fed
    // the output error reads 0°), so each forward plastic projection's own angle is kept too.
    let layers = forward_plastic(&setup.circuit);
    population_header.extend(layers.iter().map(|n| format!("gradient_angle_deg:{n}")));
    let mut generations_header: Vec<String> = [
        "generation",
        "evaluations",
        "best_fitness",
        "mean_fitness",
        "median_fitness",
        "diverged",
        "sigma",
    ]
    .map(String::from)
    .to_vec();
    generations_header.extend(header_free.iter().map(|c| format!("best_{c}")));
    generations_header.extend(
        [
            "best_gradient_angle_deg",
            "best_weight_angle_deg",
            "best_hebbian_signature",
            "best_ever_fitness",
        ]
        .map(String::from),
    );

    let mut manifest_device = None;
    let mut status = Status::Completed;
    let mut reason = None;
    let write_manifest =
        |status: Status,
         reason: Option<String>,
         done: u64,
         device: &Option<(String, crate::backend::DeviceDescription, Precision)>|
         -> Result<(), EvolveError> {
            let Some((backend, device, precision)) = device else {
                return Ok(());
            };
            let m = EvolveManifest {
                kind: "evolve",
                name: &setup.spec.name,
                evolve_file: request.path.display().to_string(),
                circuit_file: setup.circuit_source.path.display().to_string(),
                status,
                status_reason: reason,
                generations_done: done,
                generations,
                backend: backend.clone(),
                device: device.clone(),
                precision: *precision,
                free: setup.free.iter().map(|p| p.column.clone()).collect(),
                seeds_per_member: seeds,
                first_seed: setup.spec.first_seed,
                inputs: vec![
                    crate::record::manifest::InputFile {
                        role: "evolve".into(),
                        path: request.path.display().to_string(),
                        sha256: sha256_hex(source.text.as_bytes()),
                    },
                    crate::record::manifest::InputFile {
                        role: "circuit".into(),
                        path: setup.circuit_source.path.display().to_string(),
                        sha256: sha256_hex(setup.circuit_source.text.as_bytes()),
                    },
                ],
                provenance: Provenance::of_this_process(&request.command_line),
            };
            write_atomic(
                &dir.join("manifest.json"),
                &serde_json::to_string_pretty(&m).unwrap_or_default(),
            )
        };

    while done < generations {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            status = Status::Interrupted;
            reason = Some(format!("stopped on request after generation {done}"));
            break;
        }
        let generation = done + 1;
        let started = std::time::Instant::now();
        let candidates = strategy.ask(&setup.free);
        let members = candidates.len();
        let instances: Vec<InstanceSpec> = candidates
            .iter()
            .enumerate()
            .flat_map(|(k, x)| {
                let c = member_circuit(&setup.circuit, &setup.free, x);
                (0..seeds as u64).map(move |s| InstanceSpec {
                    circuit: c.clone(),
                    seed: setup.spec.first_seed + s,
                    label: format!("m{k}"),
                })
            })
            .collect();
        let mut plan = Plan::new(&instances, &setup.base_dir).map_err(ExperimentError::Plan)?;
        keep_free_terms(&mut plan, &setup);
        let plan = Arc::new(plan);
        // The ensemble run: making the backend (on OpenCL: buffers, and the program the first
        // time) and running it.
        let run_started = std::time::Instant::now();
        let made = backend::make(plan.clone(), request.backend, request.precision)
            .map_err(ExperimentError::Backend)?;
        let mut backend = made.backend;
        if manifest_device.is_none() {
            manifest_device = Some((backend.describe(), backend.device(), backend.precision()));
            write_manifest(Status::Running, None, done, &manifest_device)?;
        }
        let mut collected = Collector::default();
        let mut summarizer = Summarizer::new(&plan);
        {
            let mut tee = Tee {
                first: &mut collected,
                second: &mut summarizer,
            };
            crate::run::execute(
                &plan,
                backend.as_mut(),
                &mut tee,
                &mut crate::run::Quiet,
                None,
            )
            .map_err(ExperimentError::Run)?;
        }
        let run_s = run_started.elapsed().as_secs_f64();
        let scores = fitness(
            &collected,
            members,
            seeds,
            &candidates,
            &setup.free,
            setup.spec.fitness.l1,
        );
        let values: Vec<f64> = scores.iter().map(|s| s.0).collect();
        strategy.tell(&values)?;
        let summary = summarizer.summary();
        let stat =
            |k: usize, pick: &dyn Fn(&crate::experiment::summary::LabelSummary) -> &Vec<f64>| {
                summary
                    .labels
                    .iter()
                    .find(|l| l.label == format!("m{k}"))
                    .and_then(|l| mean_sd(pick(l)))
                    .map(|(m, _)| m)
                    .unwrap_or(f64::NAN)
            };
        let clipped = |x: &[f64]| -> Vec<f64> {
            setup
                .free
                .iter()
                .zip(x)
                .map(|(p, v)| v.clamp(p.lower, p.upper))
                .collect()
        };
        let end_s = plan.steps as f64 * plan.dt_s;
        let mut population_rows = Vec::new();
        for (k, x) in candidates.iter().enumerate() {
            let mut row = vec![
                generation.to_string(),
                k.to_string(),
                num(scores[k].0),
                (scores[k].1 as u8).to_string(),
            ];
            row.extend(clipped(x).into_iter().map(num));
            row.push(num(stat(k, &|l| &l.mean_gradient_angle)));
            row.push(num(stat(k, &|l| &l.final_weight_angle)));
            row.push(num(stat(k, &|l| &l.hebbian)));
            for layer in &layers {
                row.push(num(layer_angle(&collected, k, seeds, layer, end_s)));
            }
            population_rows.push(row);
        }
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let diverged = values.len() - finite.len();
        let (best_k, best_value) = values
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(k, v)| (k, *v))
            .unwrap_or((0, f64::INFINITY));
        let improved = best.as_ref().is_none_or(|b| best_value < b.values().1);
        if improved && best_value.is_finite() {
            best = Some(Best {
                x: candidates[best_k].iter().map(|v| format!("{v}")).collect(),
                fitness: format!("{best_value}"),
                generation,
            });
            let circuit = member_circuit(&setup.circuit, &setup.free, &candidates[best_k]);
            let header = format!(
                "# The best rule of `hetsim evolve {}` (generation {generation}), written out as a circuit.\n# Fitness {best_value} = mean over seeds {}..{} of ln(final / initial held-out loss){}.\n# Re-run it with: hetsim run best.yaml --seeds {seeds} --seed {}\n",
                request.path.display(),
                setup.spec.first_seed,
                setup.spec.first_seed + seeds as u64 - 1,
                if setup.spec.fitness.l1 > 0.0 {
                    format!(" + {} × Σ|θ|", setup.spec.fitness.l1)
                } else {
                    String::new()
                },
                setup.spec.first_seed,
            );
            write_atomic(
                &dir.join("best.yaml"),
                &(header + &crate::spec::to_yaml(&circuit.spec)),
            )?;
        }
        let best_ever = best.as_ref().map(|b| b.values().1).unwrap_or(f64::INFINITY);
        let mean = if finite.is_empty() {
            f64::NAN
        } else {
            finite.iter().sum::<f64>() / finite.len() as f64
        };
        let mut row = vec![
            generation.to_string(),
            strategy.evaluations().to_string(),
            num(best_value),
            num(mean),
            num(median(finite.clone())),
            diverged.to_string(),
            num(strategy.sigma()),
        ];
        row.extend(clipped(&candidates[best_k]).into_iter().map(num));
        row.push(num(stat(best_k, &|l| &l.mean_gradient_angle)));
        row.push(num(stat(best_k, &|l| &l.final_weight_angle)));
        row.push(num(stat(best_k, &|l| &l.hebbian)));
        row.push(num(best_ever));
        append(
            &dir.join("population.csv"),
            &population_header,
            &population_rows,
        )?;
        append(&dir.join("generations.csv"), &generations_header, &[row])?;
        done = generation;
        let saved = SavedState {
            generations_done: done,
            search: strategy.state(),
            best: best.clone(),
        };
        write_atomic(
            &state_path,
            &serde_json::to_string_pretty(&saved).unwrap_or_default(),
        )?;
        write_manifest(Status::Running, None, done, &manifest_device)?;
        report(&GenerationReport {
            generation,
            generations,
            best_fitness: best_value,
            best_ever,
            median_fitness: median(finite),
            sigma: strategy.sigma(),
            diverged,
            members,
            wall_s: started.elapsed().as_secs_f64(),
            run_s,
        });
    }
    write_manifest(status, reason, done, &manifest_device)?;
    let (best_x, best_fitness) = best
        .as_ref()
        .map(|b| b.values())
        .unwrap_or((Vec::new(), f64::INFINITY));
    let figures = if done > 0 {
        crate::plot::plot_evolution(&dir, crate::plot::Formats::BOTH).map_err(|e| e.to_string())
    } else {
        Ok(Vec::new())
    };
    Ok(EvolveOutcome {
        figures,
        dir,
        status,
        generations_done: done,
        best_fitness,
        best_theta: setup
            .free
            .iter()
            .zip(best_x)
            .map(|(p, v)| (p.column.clone(), v.clamp(p.lower, p.upper)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A free term stays in the plan's kernels even when every member has it at zero, so the
    /// generated OpenCL source does not change between generations.
    #[test]
    fn free_terms_stay_in_the_kernels_at_zero() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = format!(
            "name: t\ncircuit: {}\nset: [\"time.duration=10 ms\"]\nfree:\n  - {{motif: W1, terms: [z_x, one]}}\nstrategy: {{kind: cma_es, population: 4, sigma0: 0.1, generations: 1}}\n",
            dir.join("circuits/teacher_fa.yaml").display()
        );
        let (setup, _) = load(&dir.join("e.yaml"), Some(text)).unwrap();
        let zero = vec![0.0; setup.free.len()];
        let c = member_circuit(&setup.circuit, &setup.free, &zero);
        let inst = InstanceSpec {
            circuit: c,
            seed: 1,
            label: "m0".into(),
        };
        let mut plan = Plan::new(std::slice::from_ref(&inst), &setup.base_dir).unwrap();
        let w1 = plan.projections.iter().find(|p| p.name == "W1").unwrap();
        let m = w1.motif.unwrap();
        let (zx, one) = (1, 6);
        assert!(!plan.motifs[m].term_used(zx) && !plan.motifs[m].term_used(one));
        keep_free_terms(&mut plan, &setup);
        assert!(plan.motifs[m].term_used(zx) && plan.motifs[m].term_used(one));
        // The term that is not free and zero stays out.
        assert!(!plan.motifs[m].term_used(2));
    }
}
