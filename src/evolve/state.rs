//! `state.json`: what an evolution saves after every generation (and once before the first),
//! and its checks on `--resume`. A state may have been edited, torn or copied from another
//! evolution, so it is read with a size limit and checked before anything continues from it:
//! that it belongs to this evolution file, this circuit and this hetsim (`Identity`); that its
//! shape fits the file (strategy kind, population, seed, dimension, bounds, σ); that its counts
//! agree (generations, evaluations, draws); and, in `strategy`, that its numbers are a state a
//! strategy can be in (finite, a symmetric positive semi-definite covariance, …). Every refusal
//! names the file and the field.

use super::error::EvolveError;
use super::search::{Search, SearchState};
use super::setup::Setup;
use super::sizes::{MAX_GENERATIONS, members_in};
use super::spec::StrategySpec;
use super::strategy::{self, StrategyState};
use crate::backend::Precision;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The state saved after every generation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SavedState {
    pub(super) identity: Identity,
    pub(super) generations_done: u64,
    pub(super) search: SearchState,
    pub(super) best: Option<Best>,
}

/// What an evolution's results depend on besides the state: the evolution file, the circuit,
/// the code, and the backend and precision its generations ran on. A resume refuses to mix.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(super) struct Identity {
    pub(super) evolve_sha256: String,
    pub(super) circuit_sha256: String,
    pub(super) hetsim_version: String,
    pub(super) git_commit: String,
    /// The backend (`cpu`, `opencl`) and precision of the generations so far; none before the
    /// first generation ran.
    pub(super) backend: Option<String>,
    pub(super) precision: Option<Precision>,
}

impl Identity {
    /// The identity of an evolution of `setup` started by this process.
    pub(super) fn of(setup: &Setup) -> Identity {
        Identity {
            evolve_sha256: setup.evolve_sha256(),
            circuit_sha256: setup.circuit_sha256(),
            hetsim_version: env!("CARGO_PKG_VERSION").into(),
            git_commit: env!("HETSIM_GIT_COMMIT").into(),
            backend: None,
            precision: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(super) struct Best {
    /// Search-space coordinates, as exact decimal strings (JSON numbers do not round-trip).
    pub(super) x: Vec<String>,
    pub(super) fitness: String,
    pub(super) generation: u64,
}

impl Best {
    pub(super) fn values(&self) -> (Vec<f64>, f64) {
        (
            self.x
                .iter()
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect(),
            self.fitness.parse().unwrap_or(f64::INFINITY),
        )
    }
}

/// The family of a backend's description: `cpu (f64, 4 lanes, …)` → `cpu`.
pub(super) fn backend_family(describe: &str) -> String {
    describe
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The most bytes `state.json` may have for `setup`: its numbers as text (about 40 bytes
/// each, two n × n matrices for CMA-ES) and a megabyte for the rest.
pub(super) fn max_state_bytes(setup: &Setup) -> u64 {
    let n = setup.free.len() as u64;
    let numbers = match setup.spec.strategy {
        StrategySpec::CmaEs { .. } => 2 * n * n + 8 * n,
        _ => 8 * n,
    };
    (1 << 20) + 64 * numbers
}

fn problem(path: &Path, field: &str, message: String) -> EvolveError {
    EvolveError::State {
        path: path.to_path_buf(),
        field: field.to_string(),
        message,
    }
}

/// A state the strategy refuses, named by the strategy's field.
fn strategy_problem(path: &Path, e: strategy::StrategyError) -> EvolveError {
    use strategy::StrategyError as E;
    let field = match &e {
        E::InvalidState { field, .. } | E::StateLength { field, .. } => {
            format!("search.strategy.{field}")
        }
        E::InvalidParameter { name, .. } => format!("search.strategy.{name}"),
        _ => "search.strategy".into(),
    };
    problem(path, &field, e.to_string())
}

/// Reads `state.json` with a size limit; `Ok(None)` when there is none.
pub(super) fn read(path: &Path, limit: u64) -> Result<Option<String>, EvolveError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(EvolveError::Usage(format!(
                "--resume: cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|e| {
        EvolveError::Usage(format!("--resume: cannot read {}: {e}", path.display()))
    })?;
    if bytes.len() as u64 > limit {
        return Err(problem(
            path,
            "(file)",
            format!("is larger than the {limit} bytes a state of this evolution can have"),
        ));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| problem(path, "(file)", "is not UTF-8 text".into()))
}

/// Parses a state's text; a syntax or shape error names the line and column.
pub(super) fn parse(path: &Path, text: &str) -> Result<SavedState, EvolveError> {
    serde_json::from_str(text).map_err(|e| {
        EvolveError::Usage(format!(
            "{}:{}:{}: not a saved evolution state: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

/// Checks that the state was written by an evolution of `setup` with this hetsim.
pub(super) fn check_identity(
    path: &Path,
    identity: &Identity,
    setup: &Setup,
) -> Result<(), EvolveError> {
    let now = Identity::of(setup);
    if identity.evolve_sha256 != now.evolve_sha256 {
        return Err(problem(
            path,
            "identity.evolve_sha256",
            format!(
                "this state belongs to another evolution: it records an evolution file with SHA-256 {}, the directory's evolve.yaml has {}",
                identity.evolve_sha256, now.evolve_sha256
            ),
        ));
    }
    if identity.circuit_sha256 != now.circuit_sha256 {
        return Err(EvolveError::Usage(format!(
            "--resume: the circuit file {} changed since the evolution started (SHA-256 {} then, {} now); resume with the circuit as it was, or start a new evolution (--replace)",
            setup.circuit_source.path.display(),
            identity.circuit_sha256,
            now.circuit_sha256
        )));
    }
    if (&identity.hetsim_version, &identity.git_commit) != (&now.hetsim_version, &now.git_commit) {
        return Err(EvolveError::Usage(format!(
            "--resume: the evolution was started by hetsim {} (commit {}), this is hetsim {} (commit {}); its generations would not be comparable: finish it with the hetsim that started it, or start a new evolution",
            identity.hetsim_version, identity.git_commit, now.hetsim_version, now.git_commit
        )));
    }
    Ok(())
}

/// Checks a parsed state against the evolution `setup` and rebuilds the search from it.
/// Returns the search, the best rule and the generations done.
pub(super) fn restore(
    path: &Path,
    saved: SavedState,
    setup: &Setup,
) -> Result<(Search, Option<Best>, u64), EvolveError> {
    let done = saved.generations_done;
    let spec = &setup.spec.strategy;
    let generations = spec.generations();
    if done > MAX_GENERATIONS {
        return Err(problem(
            path,
            "generations_done",
            format!("{done} is more than any evolution runs ({MAX_GENERATIONS})"),
        ));
    }
    let members = setup.sizes.members;
    let n = setup.free.len();
    // Candidates told so far: every generation's members.
    let told = (1..=done).try_fold(0u64, |sum, g| {
        sum.checked_add(members_in(spec, members, g) as u64)
    });
    let Some(told) = told else {
        return Err(problem(
            path,
            "generations_done",
            format!("{done} generations are more than this evolution can hold"),
        ));
    };
    let expect = |field: &str, what: &str, got: String, want: String| {
        if got == want {
            Ok(())
        } else {
            Err(problem(
                path,
                field,
                format!("is {got}, but this evolution's {what} is {want}"),
            ))
        }
    };
    let field = |f: &str| format!("search.strategy.{f}");
    // What every evolution strategy's state holds of the file: its seed, population size and
    // number of free parameters (checked before the strategy's own settings)…
    let expect_shape =
        |seed: String, want_seed: String, population: String, dim_field: &str, dim: usize| {
            expect(&field("seed"), "strategy seed", seed, want_seed)?;
            expect(
                &field("population_size"),
                "population",
                population,
                members.to_string(),
            )?;
            expect(
                &field(dim_field),
                "number of free parameters",
                format!("{dim} long"),
                format!("{n} long"),
            )
        };
    // …and where it stands (after them): generations and evaluations done, none pending.
    let expect_progress = |generation: String, evaluations: String, pending: bool| {
        expect(
            &field("generation"),
            "generations_done",
            generation,
            done.to_string(),
        )?;
        expect(
            &field("evaluations"),
            "evaluations after generations_done generations",
            evaluations,
            told.to_string(),
        )?;
        if pending {
            return Err(problem(
                path,
                &field("pending_draw"),
                "an evolution saves its state between generations, never with a generation pending"
                    .into(),
            ));
        }
        Ok(())
    };
    let search = match (saved.search, spec) {
        (
            SearchState::Random { drawn },
            StrategySpec::Random {
                samples,
                batch,
                seed,
            },
        ) => {
            if done > generations {
                return Err(problem(
                    path,
                    "generations_done",
                    format!(
                        "is {done}, but {samples} samples in batches of {batch} make {generations} generations"
                    ),
                ));
            }
            expect(
                "search.random.drawn",
                "number of samples drawn after generations_done generations",
                drawn.to_string(),
                told.to_string(),
            )?;
            Search::Random {
                seed: *seed,
                samples: *samples,
                batch: *batch,
                drawn,
            }
        }
        (SearchState::Strategy(StrategyState::CmaEs(s)), StrategySpec::CmaEs { seed, .. }) => {
            expect_shape(
                s.seed.to_string(),
                seed.to_string(),
                s.population_size.to_string(),
                "mean",
                s.mean.len(),
            )?;
            let bounds = bounds_of(setup);
            if s.bounds.as_ref() != Some(&bounds) {
                return Err(problem(
                    path,
                    &field("bounds"),
                    "differ from this evolution's bounds".into(),
                ));
            }
            expect_progress(
                s.generation.to_string(),
                s.evaluations.to_string(),
                s.pending_draw.is_some(),
            )?;
            // Every candidate takes one draw at least and MAX_BOUNDED_ATTEMPTS at most.
            let most = told.saturating_mul(strategy::MAX_BOUNDED_ATTEMPTS as u64);
            if s.next_draw < told || s.next_draw > most {
                return Err(problem(
                    path,
                    &field("next_draw"),
                    format!(
                        "is {}, but {told} candidates take between {told} and {most} draws",
                        s.next_draw
                    ),
                ));
            }
            Search::Es(
                strategy::restore(StrategyState::CmaEs(s))
                    .map_err(|e| strategy_problem(path, e))?,
            )
        }
        (
            SearchState::Strategy(StrategyState::OpenAiEs(s)),
            StrategySpec::OpenaiEs {
                seed,
                sigma,
                learning_rate,
                ..
            },
        ) => {
            expect_shape(
                s.seed.to_string(),
                seed.to_string(),
                s.population_size.to_string(),
                "theta",
                s.theta.len(),
            )?;
            expect(
                &field("sigma"),
                "σ",
                format!("{:?}", s.sigma),
                format!("{sigma:?}"),
            )?;
            expect(
                &field("learning_rate"),
                "learning rate",
                format!("{:?}", s.learning_rate),
                format!("{learning_rate:?}"),
            )?;
            expect_progress(
                s.generation.to_string(),
                s.evaluations.to_string(),
                s.pending_draw.is_some(),
            )?;
            // What the file does not set is the strategy's default.
            let defaults = strategy::OpenAiEsSettings::new(vec![0.0], *sigma, members);
            for (name, got, want) in [
                ("beta1", s.beta1, defaults.beta1),
                ("beta2", s.beta2, defaults.beta2),
                ("adam_epsilon", s.adam_epsilon, defaults.adam_epsilon),
                ("weight_decay", s.weight_decay, defaults.weight_decay),
            ] {
                expect(&field(name), name, format!("{got:?}"), format!("{want:?}"))?;
            }
            let draws = done.saturating_mul((members / 2) as u64);
            expect(
                &field("next_draw"),
                "draws after generations_done generations",
                s.next_draw.to_string(),
                draws.to_string(),
            )?;
            Search::Es(
                strategy::restore(StrategyState::OpenAiEs(s))
                    .map_err(|e| strategy_problem(path, e))?,
            )
        }
        (other, spec) => {
            let saved = match other {
                SearchState::Random { .. } => "random draws",
                SearchState::Strategy(StrategyState::CmaEs(_)) => "CMA-ES",
                SearchState::Strategy(StrategyState::OpenAiEs(_)) => "OpenAI-ES",
            };
            let file = match spec {
                StrategySpec::Random { .. } => "random draws",
                StrategySpec::CmaEs { .. } => "CMA-ES",
                StrategySpec::OpenaiEs { .. } => "OpenAI-ES",
            };
            return Err(problem(
                path,
                "search",
                format!("is a state of {saved}, but the evolution file's strategy is {file}"),
            ));
        }
    };
    if let Some(best) = &saved.best {
        if best.x.len() != n {
            return Err(problem(
                path,
                "best.x",
                format!(
                    "has {} coordinates, this evolution has {n} free parameters",
                    best.x.len()
                ),
            ));
        }
        let finite = |t: &String| t.parse::<f64>().is_ok_and(f64::is_finite);
        if !best.x.iter().all(finite) {
            return Err(problem(
                path,
                "best.x",
                "every coordinate must be a finite number".into(),
            ));
        }
        if !finite(&best.fitness) {
            return Err(problem(
                path,
                "best.fitness",
                "must be a finite number".into(),
            ));
        }
        if !(1..=done).contains(&best.generation) {
            return Err(problem(
                path,
                "best.generation",
                format!(
                    "is {}, but generations 1 to {done} are done",
                    best.generation
                ),
            ));
        }
    }
    Ok((search, saved.best, done))
}

/// The box the strategies search in.
pub(super) fn bounds_of(setup: &Setup) -> strategy::Bounds {
    strategy::Bounds {
        lower: setup.free.iter().map(|p| p.lower).collect(),
        upper: setup.free.iter().map(|p| p.upper).collect(),
    }
}

/// `state.json` of the directory.
pub(super) fn path_in(dir: &Path) -> PathBuf {
    dir.join("state.json")
}
