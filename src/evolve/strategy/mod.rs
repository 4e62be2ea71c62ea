//! Evolution strategies behind one ask/tell interface, for `hetsim evolve` (DESIGN.md §1.6).
//!
//! A strategy proposes a generation of candidate points ([`Strategy::ask`]), the caller
//! evaluates them — in `hetsim evolve` one generation is one ensemble run, every candidate θ
//! (× seeds) one instance — and hands the fitness values back ([`Strategy::tell`]). Fitness is
//! *minimised*: lower is better, and a non-finite value (a diverged run) ranks below every
//! finite one.
//!
//! Two strategies are provided:
//! * [`CmaEs`]: (μ/μ_w, λ)-CMA-ES with the default parameters of Hansen's tutorial (2016), the
//!   choice for the few-dozen-dimensional θ of polynomial rules (Confavreux et al. 2020).
//! * [`OpenAiEs`]: the OpenAI evolution strategy of Salimans et al. (2017) with mirrored
//!   sampling, centred-rank fitness shaping and Adam, the choice for many parameters and large
//!   populations (Najarro & Risi 2020).
//!
//! # Saved state and determinism
//!
//! [`Strategy::state`] returns a [`StrategyState`] that serde can write and read back;
//! [`restore`] rebuilds the strategy from it, and the restored strategy proposes bit for bit the
//! same candidates as one that never stopped, also when the state was taken between an `ask` and
//! its `tell`. Two things make that possible:
//! * Random numbers come from the crate's counter-based Philox ([`crate::rng`]): every draw is
//!   `(seed, stream, counter)` with a stream of its own per strategy ([`cma_es_stream`],
//!   [`openai_es_stream`]) and a counter that is part of the state, so there is no generator
//!   object to save.
//! * Every real number in a state is written as the shortest decimal string that parses back to
//!   the same `f64` (`"0.1"`, `"1e-300"`, `"inf"`). serde_json's default number parser is not
//!   exactly rounded (it loses the last bit of many values), and JSON has no infinity; strings
//!   sidestep both, in any serde format. Plain numbers are accepted on input too, e.g. in a
//!   hand-written state or in [`Bounds`] in a settings file.
//!
//! Same seed, same settings, same fitness values → same candidates, on the same platform (the
//! normals go through `ln`, `cos` and `sin`, whose last bits depend on the math library).

mod cmaes;
mod openai_es;

#[cfg(test)]
mod objectives;

pub use cmaes::{CmaEs, CmaEsParameters, CmaEsSettings, CmaEsState, MAX_BOUNDED_ATTEMPTS};
pub use openai_es::{OpenAiEs, OpenAiEsSettings, OpenAiEsState};

use crate::rng;
use serde::{Deserialize, Serialize};

/// The largest search-space dimension a strategy accepts: one draw of the counter-based
/// generator yields at most 2^34 numbers, and a candidate is one draw.
pub const MAX_DIMENSION: usize = 1 << 32;

/// The Philox stream of CMA-ES draws: `rng::stream_id("evolve/cma-es")`.
pub fn cma_es_stream() -> u32 {
    rng::stream_id("evolve/cma-es")
}

/// The Philox stream of OpenAI-ES draws: `rng::stream_id("evolve/openai-es")`.
pub fn openai_es_stream() -> u32 {
    rng::stream_id("evolve/openai-es")
}

/// An evolution strategy with an ask/tell interface that minimises a fitness.
pub trait Strategy: Send {
    /// Dimension `n` of the search space.
    fn dimension(&self) -> usize;

    /// Number `λ` of candidates per generation.
    fn population_size(&self) -> usize;

    /// Candidates of the current generation: `λ` points of dimension `n`, in the search space.
    ///
    /// Asking again before [`Strategy::tell`] returns the same candidates: they are a function
    /// of the state, so a caller that lost them can ask for them again.
    fn ask(&mut self) -> Vec<Vec<f64>>;

    /// Fitness of each candidate of the last [`Strategy::ask`], in the same order. Lower is
    /// better; NaN and ±∞ rank below every finite value (and tie with each other).
    ///
    /// On error the strategy is unchanged, so the same generation can be told again.
    fn tell(&mut self, fitness: &[f64]) -> Result<(), StrategyError>;

    /// Number of completed generations (successful tells).
    fn generation(&self) -> u64;

    /// Number of fitness values told so far (`λ` per generation).
    fn evaluations(&self) -> u64;

    /// Centre of the search distribution (CMA-ES: the mean `m`; OpenAI-ES: the parameters `θ`).
    fn mean(&self) -> &[f64];

    /// Overall step size (CMA-ES: `σ`, which adapts; OpenAI-ES: the fixed noise std `σ`).
    fn sigma(&self) -> f64;

    /// The best candidate ever told with a finite fitness, and that fitness.
    fn best(&self) -> Option<(&[f64], f64)>;

    /// Everything needed to continue later; see [`restore`].
    fn state(&self) -> StrategyState;
}

/// Settings of either strategy, e.g. as read from an `evolve` configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "strategy")]
pub enum StrategySettings {
    #[serde(rename = "cma-es")]
    CmaEs(CmaEsSettings),
    #[serde(rename = "openai-es")]
    OpenAiEs(OpenAiEsSettings),
}

impl StrategySettings {
    /// A new strategy at generation 0.
    pub fn build(&self) -> Result<Box<dyn Strategy>, StrategyError> {
        Ok(match self {
            StrategySettings::CmaEs(settings) => Box::new(CmaEs::new(settings)?),
            StrategySettings::OpenAiEs(settings) => Box::new(OpenAiEs::new(settings)?),
        })
    }
}

/// The saved state of either strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "strategy")]
pub enum StrategyState {
    #[serde(rename = "cma-es")]
    CmaEs(CmaEsState),
    #[serde(rename = "openai-es")]
    OpenAiEs(OpenAiEsState),
}

/// Rebuilds a strategy from a saved state; it continues exactly where the saved one was.
///
/// The state is checked (lengths, finite positive step size, …), because it may come from an
/// edited file.
pub fn restore(state: StrategyState) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(match state {
        StrategyState::CmaEs(state) => Box::new(CmaEs::from_state(state)?),
        StrategyState::OpenAiEs(state) => Box::new(OpenAiEs::from_state(state)?),
    })
}

/// A box `lower[i] <= x[i] <= upper[i]`; either side may be infinite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    #[serde(with = "exact::vector")]
    pub lower: Vec<f64>,
    #[serde(with = "exact::vector")]
    pub upper: Vec<f64>,
}

impl Bounds {
    /// Whether `x` lies in the box (boundary included).
    pub fn contains(&self, x: &[f64]) -> bool {
        x.iter()
            .zip(self.lower.iter().zip(&self.upper))
            .all(|(&value, (&low, &high))| low <= value && value <= high)
    }

    /// Moves every coordinate of `x` to the nearest point of the box.
    pub fn project(&self, x: &mut [f64]) {
        for (value, (&low, &high)) in x.iter_mut().zip(self.lower.iter().zip(&self.upper)) {
            *value = value.clamp(low, high);
        }
    }

    /// Checks the lengths, that no bound is NaN and that `lower < upper` everywhere.
    fn validate(&self, dimension: usize) -> Result<(), StrategyError> {
        for (which, side) in [("lower", &self.lower), ("upper", &self.upper)] {
            if side.len() != dimension {
                return Err(StrategyError::BoundsLength {
                    which,
                    expected: dimension,
                    got: side.len(),
                });
            }
        }
        for (index, (&lower, &upper)) in self.lower.iter().zip(&self.upper).enumerate() {
            // NaN on either side compares as not less, so it is caught here too.
            let ordered = lower < upper;
            if !ordered {
                return Err(StrategyError::BoundsReversed {
                    index,
                    lower,
                    upper,
                });
            }
        }
        Ok(())
    }
}

/// The best candidate seen so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestPoint {
    #[serde(with = "exact::vector")]
    pub x: Vec<f64>,
    #[serde(with = "exact::scalar")]
    pub fitness: f64,
}

/// Why a strategy could not be built, restored or told.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StrategyError {
    #[error("the start point is empty: the search space needs dimension at least 1")]
    ZeroDimension,
    #[error("dimension {dimension} exceeds the largest supported, {maximum}")]
    DimensionTooLarge { dimension: usize, maximum: usize },
    #[error("population size {population_size} is below the minimum of {minimum}")]
    PopulationTooSmall {
        population_size: usize,
        minimum: usize,
    },
    #[error("population size {population_size} is odd, but mirrored sampling needs pairs")]
    PopulationOdd { population_size: usize },
    #[error("{name} = {value} is invalid: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    #[error("coordinate {index} of the start point is {value}; it must be finite")]
    NonFiniteStart { index: usize, value: f64 },
    #[error("the {which} bounds have {got} entries, but the search space has dimension {expected}")]
    BoundsLength {
        which: &'static str,
        expected: usize,
        got: usize,
    },
    #[error(
        "bounds of coordinate {index} need lower < upper, got lower = {lower}, upper = {upper}"
    )]
    BoundsReversed {
        index: usize,
        lower: f64,
        upper: f64,
    },
    #[error(
        "coordinate {index} of the start point, {value}, lies outside its bounds [{lower}, {upper}]"
    )]
    StartOutsideBounds {
        index: usize,
        value: f64,
        lower: f64,
        upper: f64,
    },
    #[error("tell got {got} fitness values for a generation of {expected} candidates")]
    FitnessCount { expected: usize, got: usize },
    #[error("tell was called without a pending ask")]
    TellWithoutAsk,
    #[error("saved state: {field} has {got} entries, expected {expected}")]
    StateLength {
        field: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("saved state: {field} is invalid: {reason}")]
    InvalidState {
        field: &'static str,
        reason: &'static str,
    },
    #[error("numerical failure: {what}")]
    Numerical { what: &'static str },
}

/// Checks a start point: not empty, not too long, every coordinate finite.
fn validate_start(x0: &[f64]) -> Result<(), StrategyError> {
    if x0.is_empty() {
        return Err(StrategyError::ZeroDimension);
    }
    if x0.len() > MAX_DIMENSION {
        return Err(StrategyError::DimensionTooLarge {
            dimension: x0.len(),
            maximum: MAX_DIMENSION,
        });
    }
    if let Some((index, &value)) = x0.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(StrategyError::NonFiniteStart { index, value });
    }
    Ok(())
}

/// Checks a parameter that must be finite and strictly positive.
fn validate_positive(name: &'static str, value: f64) -> Result<(), StrategyError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(StrategyError::InvalidParameter {
            name,
            value,
            reason: "it must be finite and greater than 0",
        })
    }
}

/// Checks the length of a saved vector.
fn validate_length(
    field: &'static str,
    values: &[f64],
    expected: usize,
) -> Result<(), StrategyError> {
    if values.len() == expected {
        Ok(())
    } else {
        Err(StrategyError::StateLength {
            field,
            expected,
            got: values.len(),
        })
    }
}

/// Checks the number of fitness values of a tell.
fn validate_fitness_count(fitness: &[f64], expected: usize) -> Result<(), StrategyError> {
    if fitness.len() == expected {
        Ok(())
    } else {
        Err(StrategyError::FitnessCount {
            expected,
            got: fitness.len(),
        })
    }
}

/// Fitness as used for ranking: every non-finite value becomes +∞, the worst.
fn rank_key(fitness: f64) -> f64 {
    if fitness.is_finite() {
        fitness
    } else {
        f64::INFINITY
    }
}

/// Candidate indices from best (lowest fitness) to worst; ties keep their ask order, so the
/// order is a function of the values alone.
fn order_by_fitness(fitness: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..fitness.len()).collect();
    // sort_by is stable: equal keys keep index order.
    order.sort_by(|&a, &b| rank_key(fitness[a]).total_cmp(&rank_key(fitness[b])));
    order
}

/// Centred ranks in [−0.5, 0.5]: the best candidate gets −0.5, the worst +0.5, evenly spaced
/// in between, and tied candidates share the mean of their ranks (so a mirrored pair with equal
/// fitness contributes nothing to the gradient). Needs at least two values.
fn centred_ranks(fitness: &[f64]) -> Vec<f64> {
    let order = order_by_fitness(fitness);
    let last = (fitness.len() - 1) as f64;
    let mut shaped = vec![0.0; fitness.len()];
    let mut start = 0;
    while start < order.len() {
        let key = rank_key(fitness[order[start]]);
        let mut end = start + 1;
        while end < order.len() && rank_key(fitness[order[end]]) == key {
            end += 1;
        }
        // Ranks start..end share their mean, (start + end - 1) / 2.
        let rank = (start + end - 1) as f64 / 2.0;
        for &index in &order[start..end] {
            shaped[index] = rank / last - 0.5;
        }
        start = end;
    }
    shaped
}

/// Updates the best point with the finite fitness values of one generation.
fn update_best(best: &mut Option<BestPoint>, candidates: &[Vec<f64>], fitness: &[f64]) {
    for (x, &value) in candidates.iter().zip(fitness) {
        let improves = match best {
            Some(point) => value < point.fitness,
            None => true,
        };
        if value.is_finite() && improves {
            *best = Some(BestPoint {
                x: x.clone(),
                fitness: value,
            });
        }
    }
}

/// Validates a saved best point.
fn validate_best(best: &Option<BestPoint>, dimension: usize) -> Result<(), StrategyError> {
    if let Some(point) = best {
        validate_length("best.x", &point.x, dimension)?;
        if !point.fitness.is_finite() {
            return Err(StrategyError::InvalidState {
                field: "best.fitness",
                reason: "only finite fitness values are kept as best",
            });
        }
    }
    Ok(())
}

/// Exact serde for `f64`: the shortest decimal string that parses back to the same bits (Rust's
/// `{:?}` formatting and `str::parse`, both exact). Input may also be a plain number.
mod exact {
    use serde::de::{self, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::fmt;

    struct Exact(f64);

    impl Serialize for Exact {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_str(&format_args!("{:?}", self.0))
        }
    }

    struct ExactVisitor;

    impl Visitor<'_> for ExactVisitor {
        type Value = Exact;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a real number or a string holding one")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Exact, E> {
            text.trim()
                .parse::<f64>()
                .map(Exact)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Exact, E> {
            Ok(Exact(value))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Exact, E> {
            Ok(Exact(value as f64))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Exact, E> {
            Ok(Exact(value as f64))
        }
    }

    impl<'de> Deserialize<'de> for Exact {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(ExactVisitor)
        }
    }

    pub mod scalar {
        use super::Exact;
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
            Exact(*value).serialize(serializer)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
            Exact::deserialize(deserializer).map(|exact| exact.0)
        }
    }

    pub mod vector {
        use super::Exact;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(values.iter().map(|&value| Exact(value)))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Vec<f64>, D::Error> {
            Vec::<Exact>::deserialize(deserializer)
                .map(|values| values.into_iter().map(|exact| exact.0).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_puts_non_finite_last() {
        let fitness = [3.0, f64::NAN, -1.0, f64::NEG_INFINITY, 3.0, f64::INFINITY];
        assert_eq!(order_by_fitness(&fitness), vec![2, 0, 4, 1, 3, 5]);
        let shaped = centred_ranks(&fitness);
        // Ranks: -1 → 0; both 3.0 → mean of 1 and 2; the three non-finite → mean of 3, 4, 5.
        let expected = [
            1.5 / 5.0 - 0.5,
            4.0 / 5.0 - 0.5,
            -0.5,
            4.0 / 5.0 - 0.5,
            1.5 / 5.0 - 0.5,
            4.0 / 5.0 - 0.5,
        ];
        assert_eq!(shaped, expected);
        assert_eq!(centred_ranks(&[2.0, 1.0]), vec![0.5, -0.5]);
    }

    #[test]
    fn exact_numbers_survive_json() {
        let values = vec![
            0.1,
            1.0 / 3.0,
            -0.0,
            1e-300,
            5e-324,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            2.638344616030823e-256,
        ];
        let point = BestPoint {
            x: values.clone(),
            fitness: 0.1 + 0.2,
        };
        let text = serde_json::to_string(&point).expect("serialises");
        let back: BestPoint = serde_json::from_str(&text).expect("parses");
        for (a, b) in values.iter().zip(&back.x) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} came back as {b}");
        }
        assert_eq!(back.fitness.to_bits(), (0.1f64 + 0.2).to_bits());
        // Plain numbers are read too.
        let plain: Bounds =
            serde_json::from_str(r#"{"lower": [-1, 0.5], "upper": ["inf", 2]}"#).expect("parses");
        assert_eq!(plain.lower, vec![-1.0, 0.5]);
        assert_eq!(plain.upper, vec![f64::INFINITY, 2.0]);
    }

    #[test]
    fn bounds_validation() {
        let bounds = Bounds {
            lower: vec![0.0, 1.0],
            upper: vec![1.0, 1.0],
        };
        assert_eq!(
            bounds.validate(2),
            Err(StrategyError::BoundsReversed {
                index: 1,
                lower: 1.0,
                upper: 1.0
            })
        );
        assert_eq!(
            bounds.validate(3),
            Err(StrategyError::BoundsLength {
                which: "lower",
                expected: 3,
                got: 2
            })
        );
        let nan = Bounds {
            lower: vec![f64::NAN],
            upper: vec![1.0],
        };
        assert!(matches!(
            nan.validate(1),
            Err(StrategyError::BoundsReversed { index: 0, .. })
        ));
        let mut x = vec![-3.0, 0.5];
        let open = Bounds {
            lower: vec![-1.0, f64::NEG_INFINITY],
            upper: vec![f64::INFINITY, 0.0],
        };
        assert!(open.validate(2).is_ok());
        assert!(!open.contains(&x));
        open.project(&mut x);
        assert_eq!(x, vec![-1.0, 0.0]);
        assert!(open.contains(&x));
    }
}
