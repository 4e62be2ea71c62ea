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

pub use super::error::EvolveError;
use super::evaluate::{at_rate, member_circuits, score, seeds_of, units_of};
use super::files::{TableShape, append, cut_back_table, median, num, write_atomic};
use super::members::{forward_plastic, keep_free_terms, penalty};
use super::search::{Search, new_strategy};
use super::setup::{Pinned, Setup, saved_evolve_file};
use super::sizes::members_in;
use super::state::{self, Best, Identity, SavedState};
use crate::backend::{BackendKind, Precision};
use crate::circuit::Circuit;
use crate::experiment::output::{DirKind, DirLock, claim_locked};
use crate::record::metrics::Metric;

use crate::record::Status;
use crate::record::manifest::{Provenance, sha256_hex};

use serde::Serialize;
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicBool, Ordering};

/// What to evolve and where.
#[derive(Clone, Debug)]
pub struct EvolveRequest {
    pub path: PathBuf,
    /// The output directory (default `runs/evolve-<name>-<unix time>`); required to resume.
    pub out: Option<PathBuf>,
    pub resume: bool,
    /// Empty `out` first, if it holds an evolution (only a directory hetsim marked as one).
    pub replace: bool,
    pub backend: BackendKind,
    pub precision: Option<Precision>,
    /// The vector level and the OpenCL options (`settings`).
    pub backend_options: crate::backend::Options,
    /// The memory budget the evolution's sizes and ensembles are checked against
    /// (`settings`).
    pub budget: crate::circuit::budget::Budget,
    /// Overrides the file's number of generations (for quick checks).
    pub generations: Option<u64>,
    pub command_line: Vec<String>,
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

/// The end of an evolution.
#[derive(Clone, Debug)]
pub struct EvolveOutcome {
    pub dir: PathBuf,
    pub status: Status,
    pub generations_done: u64,
    pub best_fitness: f64,
    pub best_theta: Vec<(String, f64)>,
    /// The figure files drawn, or why none were: the evolution draws none (None); the caller
    /// may (`crate::drawing::evolution`).
    pub figures: Option<Result<Vec<PathBuf>, String>>,
    /// `heldout.csv`, when this run wrote it.
    pub heldout: Option<PathBuf>,
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
    if request.resume && request.replace {
        return Err(EvolveError::Usage(
            "--resume continues the evolution in --out and --replace empties it: give one".into(),
        ));
    }
    // A resume reads the evolution file as it was when the evolution began.
    let saved_text = match (&request.out, request.resume) {
        (Some(dir), true) => Some(saved_evolve_file(dir, &request.path)?),
        (None, true) => {
            return Err(EvolveError::Usage(
                "--resume needs --out DIR, the directory of the evolution to continue".into(),
            ));
        }
        _ => None,
    };
    let setup = super::setup::load(
        &request.path,
        saved_text,
        request.generations,
        &request.budget,
        &Pinned::default(),
    )?;
    let generations = setup.sizes.generations;
    let dir = match &request.out {
        Some(d) => d.clone(),
        None => crate::experiment::output::default_dir(&format!("evolve-{}", setup.spec.name)),
    };
    let (population_header, generations_header, layers) = headers(&setup);
    let state_path = state::path_in(&dir);
    // The directory is an evolution's (marked so when claimed: `--replace` empties only
    // such a one), and one process at a time writes it: the lock is held to the end.
    let _lock = if request.resume {
        DirLock::acquire(&dir)?
    } else {
        claim_locked(&dir, DirKind::Evolution, request.replace)?
    };
    let start = if request.resume {
        resume(&dir, &setup, &population_header, &generations_header)?
    } else {
        None
    };
    let (mut strategy, mut best, mut done, mut identity) = match start {
        Some(resumed) => resumed,
        None => {
            write_atomic(&dir.join("evolve.yaml"), &setup.source.text)?;
            let search = new_strategy(&setup)?;
            let identity = Identity::of(&setup);
            save_state(&state_path, &identity, 0, &search, &None)?;
            (search, None, 0, identity)
        }
    };
    let seeds = setup.spec.seeds_per_member;
    let source = &setup.source;
    let mut manifest_device = None;
    let mut status = Status::Completed;
    let mut reason = None;
    let mut failed: Option<String> = None;
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

    // The generations of one evolution run on one backend and precision: the first backend
    // made (or the first shard files taken) fixes them, and the manifest names the device.
    let check_backend = |family: String,
                         precision: Precision,
                         describe: String,
                         device: crate::backend::DeviceDescription,
                         identity: &mut Identity,
                         manifest_device: &mut Option<(
        String,
        crate::backend::DeviceDescription,
        Precision,
    )>|
     -> Result<bool, EvolveError> {
        match (&identity.backend, identity.precision) {
            (Some(b), Some(p)) if *b != family || p != precision => {
                return Err(EvolveError::Usage(format!(
                    "--resume: the evolution's generations ran on {b} in {}, this resume would run on {family} in {}; resume with --backend {b} --precision {}",
                    p.name(),
                    precision.name(),
                    p.name()
                )));
            }
            _ => {
                identity.backend = Some(family);
                identity.precision = Some(precision);
            }
        }
        let first = manifest_device.is_none();
        if first {
            *manifest_device = Some((describe, device, precision));
        }
        Ok(first)
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
        let circuits = member_circuits(&setup, &candidates);
        let units = units_of(&setup, &circuits);
        let task_seeds = seeds_of(&setup, generation);
        let (scores, first_failure, run_s) =
            match super::shard::collect(&dir, generation, &candidates, units.len(), &identity)? {
                Some(c) => {
                    let family = state::backend_family(&c.backend);
                    if check_backend(
                        family,
                        c.precision,
                        c.backend,
                        c.device,
                        &mut identity,
                        &mut manifest_device,
                    )? {
                        write_manifest(Status::Running, None, done, &manifest_device)?;
                    }
                    (c.scores, c.first_failure, 0.0)
                }
                None => {
                    let mut first_backend = false;
                    let scored = score(
                        &units,
                        &setup.spec.rates,
                        &task_seeds,
                        &layers,
                        &setup.base_dir,
                        &setup.budget,
                        request.backend,
                        request.precision,
                        &request.backend_options,
                        &|p| keep_free_terms(p, &setup),
                        &mut |b| {
                            first_backend = check_backend(
                                state::backend_family(&b.describe()),
                                b.precision(),
                                b.describe(),
                                b.device(),
                                &mut identity,
                                &mut manifest_device,
                            )?;
                            Ok(())
                        },
                    )?;
                    if first_backend {
                        write_manifest(Status::Running, None, done, &manifest_device)?;
                    }
                    (scored.scores, scored.first_failure, scored.run_s)
                }
            };
        let (member_scores, baseline_scores) = scores.split_at(members);
        let values: Vec<f64> = member_scores
            .iter()
            .zip(&candidates)
            .map(|(s, x)| {
                if s.diverged {
                    f64::INFINITY
                } else {
                    s.value + penalty(x, &setup.free, setup.spec.fitness.l1)
                }
            })
            .collect();
        strategy.tell(&values)?;
        let clipped = |x: &[f64]| -> Vec<f64> {
            setup
                .free
                .iter()
                .zip(x)
                .map(|(p, v)| v.clamp(p.lower, p.upper))
                .collect()
        };
        let mut population_rows = Vec::new();
        for (k, x) in candidates.iter().enumerate() {
            let s = &member_scores[k];
            let mut row = vec![
                generation.to_string(),
                k.to_string(),
                num(values[k]),
                (s.diverged as u8).to_string(),
            ];
            row.extend(clipped(x).into_iter().map(num));
            row.push(num(s.rate));
            row.push(num(s.gradient_angle));
            row.push(num(s.weight_angle));
            row.push(num(s.hebbian));
            row.extend(s.layers.iter().map(|v| num(*v)));
            row.push(num(penalty(x, &setup.free, setup.spec.fitness.l1)));
            row.extend(s.per_rate.iter().map(|v| num(*v)));
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
            write_best(
                &dir,
                request,
                &setup,
                &at_rate(&circuits[best_k], member_scores[best_k].rate),
                generation,
                best_value,
                &task_seeds,
            )?;
        }
        let best_ever = best.as_ref().map(|b| b.values().1).unwrap_or(f64::INFINITY);
        let mean = if finite.is_empty() {
            f64::NAN
        } else {
            finite.iter().sum::<f64>() / finite.len() as f64
        };
        let s = &member_scores[best_k];
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
        row.push(num(s.rate));
        row.push(num(s.gradient_angle));
        row.push(num(s.weight_angle));
        row.push(num(s.hebbian));
        row.extend(s.layers.iter().map(|v| num(*v)));
        row.push(num(best_ever));
        for b in baseline_scores {
            row.push(num(b.value));
            row.push(num(b.rate));
            row.push(num(b.gradient_angle));
            row.extend(b.layers.iter().map(|v| num(*v)));
        }
        append(
            &dir.join("population.csv"),
            &population_header,
            &population_rows,
        )?;
        append(&dir.join("generations.csv"), &generations_header, &[row])?;
        done = generation;
        save_state(&state_path, &identity, done, &strategy, &best)?;
        super::shard::clear(&dir, generation);
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
        if diverged == members {
            // Nothing was learnt from this generation, and a strategy told only failures
            // moves blindly: stop, and say why.
            let why = first_failure.unwrap_or_else(|| {
                "no member has a finite fitness (ln(final / initial held-out loss) is not a number)".into()
            });
            failed = Some(why.clone());
            status = Status::Failed;
            reason = Some(format!(
                "every member of generation {generation} failed: {why}"
            ));
            break;
        }
    }
    // The held-out evaluation, once the file's generations are done (a resume of a finished
    // evolution whose evaluation was stopped writes it then).
    let mut heldout = None;
    if failed.is_none()
        && status == Status::Completed
        && done >= setup.spec.strategy.generations()
        && !dir.join("heldout.csv").exists()
        && let Some(b) = &best
    {
        heldout = super::heldout::evaluate(
            &dir,
            &setup,
            &b.values().0,
            &layers,
            request.backend,
            request.precision,
            &request.backend_options,
            &mut |b| {
                if check_backend(
                    state::backend_family(&b.describe()),
                    b.precision(),
                    b.describe(),
                    b.device(),
                    &mut identity,
                    &mut manifest_device,
                )? {
                    write_manifest(Status::Running, None, done, &manifest_device)?;
                }
                Ok(())
            },
        )?;
    }
    write_manifest(status, reason, done, &manifest_device)?;
    if let Some(reason) = failed {
        return Err(EvolveError::AllFailed {
            generation: done,
            reason,
        });
    }
    let (best_x, best_fitness) = best
        .as_ref()
        .map(|b| b.values())
        .unwrap_or((Vec::new(), f64::INFINITY));
    Ok(EvolveOutcome {
        figures: None,
        heldout,
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

/// The columns of `population.csv` and `generations.csv`, and the forward plastic projections
/// whose own gradient angles the tables keep.
fn headers(setup: &Setup) -> (Vec<String>, Vec<String>, Vec<String>) {
    let header_free: Vec<String> = setup.free.iter().map(|p| p.column.clone()).collect();
    // The concatenated angle is dominated by a layer whose rule is exact (an output layer fed
    // the output error reads 0°), so each forward plastic projection's own angle is kept too.
    let layers = forward_plastic(&setup.circuit);
    let measured = |prefix: &str| -> Vec<String> {
        let mut v: Vec<String> = [
            "rate",
            Metric::GradientAngle.column(),
            Metric::WeightAngle.column(),
            Metric::HebbianSignature.column(),
        ]
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect();
        let angle = Metric::GradientAngle.column();
        v.extend(layers.iter().map(|n| format!("{prefix}{angle}:{n}")));
        v
    };
    let mut population_header: Vec<String> = ["generation", "member", "fitness", "diverged"]
        .map(String::from)
        .to_vec();
    population_header.extend(header_free.iter().cloned());
    population_header.extend(measured(""));
    // The fitness's parts: the L1 penalty, and the score at each factor of the grid.
    population_header.push("l1_penalty".into());
    population_header.extend(
        setup
            .spec
            .rates
            .iter()
            .map(|r| format!("score_at_rate_{}", num(*r))),
    );
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
    generations_header.extend(measured("best_"));
    generations_header.push("best_ever_fitness".into());
    // Each baseline of the generation, on the members' seeds: its tuned score, its rate and
    // its angles.
    for (rule, _) in &setup.baselines {
        generations_header.push(format!("{rule}_fitness"));
        generations_header.push(format!("{rule}_rate"));
        generations_header.push(format!("{rule}_gradient_angle_deg"));
        generations_header.extend(
            layers
                .iter()
                .map(|n| format!("{rule}_gradient_angle_deg:{n}")),
        );
    }
    (population_header, generations_header, layers)
}

/// Writes `best.yaml`: the best rule, at its best rate, as a circuit.
fn write_best(
    dir: &Path,
    request: &EvolveRequest,
    setup: &Setup,
    circuit: &Circuit,
    generation: u64,
    value: f64,
    seeds: &[u64],
) -> Result<(), EvolveError> {
    let first = seeds.first().copied().unwrap_or(setup.spec.first_seed);
    let header = format!(
        "# The best rule of `hetsim evolve {}` (generation {generation}), written out as a circuit\n# at its best rate of the grid. Fitness {value} = mean over seeds {}..{} of ln(final / initial held-out loss){}.\n# Re-run it with: hetsim run best.yaml --seeds {} --seed {first}\n",
        request.path.display(),
        first,
        first + seeds.len() as u64 - 1,
        if setup.spec.fitness.l1 > 0.0 {
            format!(" + {} × Σ|θ|", setup.spec.fitness.l1)
        } else {
            String::new()
        },
        seeds.len(),
    );
    write_atomic(
        &dir.join("best.yaml"),
        &(header + &crate::spec::to_yaml(&circuit.spec)),
    )
}

/// Where a resumed evolution continues: its search, best rule, generations done and identity,
/// after checking the state against the evolution and cutting the tables back to it. `None`
/// where the evolution stopped before its first state was saved (nothing ran: it starts anew).
#[allow(clippy::type_complexity)]
fn resume(
    dir: &Path,
    setup: &Setup,
    population_header: &[String],
    generations_header: &[String],
) -> Result<Option<(Search, Option<Best>, u64, Identity)>, EvolveError> {
    let path = state::path_in(dir);
    let Some(text) = state::read(&path, state::max_state_bytes(setup))? else {
        // Only an evolution stopped before its first state has none; one whose state was
        // deleted still has finished generations in its table.
        let table = dir.join("generations.csv");
        let finished = std::fs::File::open(&table)
            .map(|f| {
                let mut head = Vec::new();
                // A header and one whole row fit in this, whatever the columns.
                let _ =
                    std::io::Read::read_to_end(&mut std::io::Read::take(f, 16 << 20), &mut head);
                head.iter().filter(|&&b| b == b'\n').count() > 1
            })
            .unwrap_or(false);
        if finished {
            return Err(EvolveError::Usage(format!(
                "--resume: {} is missing, but {} holds finished generations; the evolution cannot continue without its state: start a new evolution (--replace)",
                path.display(),
                table.display()
            )));
        }
        cut_tables(dir, setup, population_header, generations_header, 0)?;
        return Ok(None);
    };
    let saved: SavedState = state::parse(&path, &text)?;
    state::check_identity(&path, &saved.identity, setup)?;
    let identity = saved.identity.clone();
    let (search, best, done) = state::restore(&path, saved, setup)?;
    cut_tables(dir, setup, population_header, generations_header, done)?;
    if best.is_none() {
        // A best.yaml ahead of the state is written again when its generation runs again.
        let _ = std::fs::remove_file(dir.join("best.yaml"));
    }
    Ok(Some((search, best, done, identity)))
}

/// Cuts both tables back to the generations `done` (or refuses: see `files::scan_table`).
fn cut_tables(
    dir: &Path,
    setup: &Setup,
    population_header: &[String],
    generations_header: &[String],
    done: u64,
) -> Result<(), EvolveError> {
    let members = |g: u64| members_in(&setup.spec.strategy, setup.sizes.members, g);
    let one = |_: u64| 1;
    cut_back_table(
        &dir.join("generations.csv"),
        &TableShape {
            header: generations_header,
            done,
            rows_of: &one,
            member_column: false,
        },
    )?;
    cut_back_table(
        &dir.join("population.csv"),
        &TableShape {
            header: population_header,
            done,
            rows_of: &members,
            member_column: true,
        },
    )
}

/// Writes `state.json` (by rename: a kill leaves the old state or the new one whole).
fn save_state(
    path: &Path,
    identity: &Identity,
    done: u64,
    search: &Search,
    best: &Option<Best>,
) -> Result<(), EvolveError> {
    let saved = SavedState {
        identity: identity.clone(),
        generations_done: done,
        search: search.state(),
        best: best.clone(),
    };
    write_atomic(
        path,
        &serde_json::to_string_pretty(&saved).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{InstanceSpec, Plan};

    /// A free term stays in the plan's kernels even when every member has it at zero, so the
    /// generated OpenCL source does not change between generations.
    #[test]
    fn free_terms_stay_in_the_kernels_at_zero() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = format!(
            "name: t\ncircuit: {}\nset: [\"time.duration=10 ms\"]\nfree:\n  - {{motif: W1, terms: [z_x, one]}}\nstrategy: {{kind: cma_es, population: 4, sigma0: 0.1, generations: 1}}\n",
            dir.join("circuits/teacher_fa.yaml").display()
        );
        let budget =
            crate::circuit::budget::Budget::exactly(crate::circuit::budget::MemoryBudget {
                bytes: 8 << 30,
            });
        let setup = super::super::setup::load(
            &dir.join("e.yaml"),
            Some(text),
            None,
            &budget,
            &Pinned::default(),
        )
        .unwrap();
        let zero = vec![0.0; setup.free.len()];
        let c = super::super::members::member_circuit(&setup.circuit, &setup.free, &zero);
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
