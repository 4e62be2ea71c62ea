//! What proposes a generation's members: an evolution strategy (CMA-ES, OpenAI-ES), or — for
//! experiments without selection — uniform draws within the bounds; and what `state.json`
//! keeps of either.

use super::error::EvolveError;
use super::members::circuit_coordinates;
use super::setup::Setup;
use super::spec::{FreeParameter, Start, StrategySpec};
use super::strategy::{self, Bounds, CmaEsSettings, OpenAiEsSettings, Strategy, StrategyState};
use serde::{Deserialize, Serialize};

/// What proposes the members: an evolution strategy, or (no selection) uniform draws.
pub(super) enum Search {
    Es(Box<dyn Strategy>),
    Random {
        seed: u64,
        samples: usize,
        batch: usize,
        drawn: usize,
    },
}

impl Search {
    pub(super) fn ask(&mut self, free: &[FreeParameter]) -> Vec<Vec<f64>> {
        match self {
            Search::Es(s) => s.ask(),
            Search::Random {
                seed,
                samples,
                batch,
                drawn,
            } => {
                let n = (*batch).min(*samples - *drawn);
                let stream = crate::rng::stream_id("evolve/random");
                (0..n)
                    .map(|k| {
                        let mut u = vec![0.0; free.len()];
                        crate::rng::fill_uniform(*seed, stream, (*drawn + k) as u64, &mut u);
                        free.iter()
                            .zip(&u)
                            .map(|(p, u)| p.lower + (p.upper - p.lower) * u)
                            .collect()
                    })
                    .collect()
            }
        }
    }
    pub(super) fn tell(&mut self, fitness: &[f64]) -> Result<(), EvolveError> {
        match self {
            Search::Es(s) => Ok(s.tell(fitness)?),
            Search::Random { drawn, .. } => {
                *drawn += fitness.len();
                Ok(())
            }
        }
    }
    pub(super) fn evaluations(&self) -> u64 {
        match self {
            Search::Es(s) => s.evaluations(),
            Search::Random { drawn, .. } => *drawn as u64,
        }
    }
    /// The strategy's step size (none for random draws).
    pub(super) fn sigma(&self) -> f64 {
        match self {
            Search::Es(s) => s.sigma(),
            Search::Random { .. } => f64::NAN,
        }
    }
    pub(super) fn state(&self) -> SearchState {
        match self {
            Search::Es(s) => SearchState::Strategy(s.state()),
            Search::Random { drawn, .. } => SearchState::Random { drawn: *drawn },
        }
    }
}

/// What `state.json` keeps of the search (one per evolution: its size does not matter).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum SearchState {
    Strategy(StrategyState),
    Random { drawn: usize },
}

pub(super) fn new_strategy(setup: &Setup) -> Result<Search, EvolveError> {
    let free = &setup.free;
    let x0 = match setup.spec.start {
        Start::Circuit => circuit_coordinates(&setup.circuit, free),
        Start::Random => {
            let mut u = vec![0.0; free.len()];
            crate::rng::fill_uniform(
                setup.spec.strategy.seed(),
                crate::rng::stream_id("evolve/start"),
                0,
                &mut u,
            );
            free.iter()
                .zip(&u)
                .map(|(p, u)| p.lower + (p.upper - p.lower) * u)
                .collect()
        }
    };
    let bounds = Bounds {
        lower: free.iter().map(|p| p.lower).collect(),
        upper: free.iter().map(|p| p.upper).collect(),
    };
    Ok(Search::Es(match &setup.spec.strategy {
        StrategySpec::Random {
            samples,
            batch,
            seed,
        } => {
            return Ok(Search::Random {
                seed: *seed,
                samples: *samples,
                batch: *batch,
                drawn: 0,
            });
        }
        StrategySpec::CmaEs {
            population,
            sigma0,
            seed,
            ..
        } => Box::new(strategy::CmaEs::new(&CmaEsSettings {
            x0,
            sigma0: *sigma0,
            population_size: *population,
            seed: *seed,
            bounds: Some(bounds),
        })?),
        StrategySpec::OpenaiEs {
            population,
            sigma,
            learning_rate,
            seed,
            ..
        } => {
            let mut s = OpenAiEsSettings::new(x0, *sigma, *population);
            s.learning_rate = *learning_rate;
            s.seed = *seed;
            Box::new(strategy::OpenAiEs::new(&s)?)
        }
    }))
}
