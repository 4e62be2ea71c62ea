//! (μ/μ_w, λ)-CMA-ES with the default parameters of N. Hansen, "The CMA Evolution Strategy: A
//! Tutorial" (arXiv:1604.00772, 2016), the variant with positive recombination weights only
//! (no active covariance update).
//!
//! One generation samples `x_k = m + σ B (D ∘ z_k)`, `z_k ~ N(0, I)`, where `C = B D² Bᵀ` is the
//! covariance matrix, and updates from the `μ` best of the `λ` candidates, with
//! `y_k = (x_k − m) / σ` and `w` the recombination weights:
//!
//! ```text
//! m'  = Σ_{i≤μ} w_i x_{i:λ}                      y_w = (m' − m) / σ
//! p_σ = (1 − c_σ) p_σ + √(c_σ (2 − c_σ) μ_eff) · C^{−1/2} y_w
//! h_σ = [ ‖p_σ‖ / √(1 − (1 − c_σ)^{2(g+1)}) < (1.4 + 2/(n+1)) E‖N(0, I)‖ ]
//! p_c = (1 − c_c) p_c + h_σ √(c_c (2 − c_c) μ_eff) · y_w
//! C   = (1 − c_1 − c_μ + (1 − h_σ) c_1 c_c (2 − c_c)) C + c_1 p_c p_cᵀ + c_μ Σ_{i≤μ} w_i y_{i:λ} y_{i:λ}ᵀ
//! σ   = σ · exp((c_σ / d_σ) (‖p_σ‖ / E‖N(0, I)‖ − 1))
//! ```
//!
//! with the tutorial's defaults ([`CmaEsParameters::defaults`]). `h_σ` stalls the update of
//! `p_c` while `‖p_σ‖` is large, so that a fast-growing σ does not stretch `C` too. The
//! eigendecomposition of `C` (a cost of order n³) is refreshed lazily, once at least
//! `λ / ((c_1 + c_μ) n 10)` evaluations have passed since the last one, as the tutorial
//! suggests: `C` changes little in that time, and `B`, `D` may lag behind it.
//!
//! # Bounds
//!
//! With box [`Bounds`] a candidate is *resampled* until it lies inside the box, at most
//! [`MAX_BOUNDED_ATTEMPTS`] draws; if every draw falls outside, the last one is projected onto
//! the box. The update uses the candidates as returned (so always points inside the box), and
//! the mean, a weighted average of them, stays inside too. Resampling truncates the search
//! distribution, which is harmless while the optimum lies well inside the box; an optimum on
//! the boundary is approached more slowly.
//!
//! # Random numbers
//!
//! Draw `d` (one candidate's `z`) is `rng::fill_normal(seed, cma_es_stream(), d, z)`; the next
//! draw number is part of the state, so a restored run continues the same sequence.

use super::{
    BestPoint, Bounds, Strategy, StrategyError, StrategyState, cma_es_stream, order_by_fitness,
    update_best, validate_best, validate_fitness_count, validate_length, validate_positive,
    validate_start,
};
use crate::rng;
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// How many draws a candidate gets to land inside the bounds before the last one is projected
/// onto them.
pub const MAX_BOUNDED_ATTEMPTS: u32 = 100;

/// Eigenvalues of `C` are kept at or above this fraction of the largest one, so that `D` stays
/// invertible (an axis ratio of at most 10^14) when rounding makes `C` nearly singular.
const MIN_EIGENVALUE_RATIO: f64 = 1e-28;

/// What a CMA-ES run starts from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CmaEsSettings {
    /// Initial mean `m₀`; its length is the search-space dimension `n`.
    pub x0: Vec<f64>,
    /// Initial step size `σ₀ > 0`. The tutorial's advice: the optimum should lie within about
    /// `m₀ ± 3σ₀` in every coordinate, so scale the coordinates to similar ranges.
    pub sigma0: f64,
    /// Candidates per generation `λ ≥ 2`; `None` gives the default `4 + ⌊3 ln n⌋`. Larger
    /// populations make the search more global (e.g. on multimodal fitness) and slower.
    #[serde(default)]
    pub population_size: Option<usize>,
    /// Seed of the counter-based generator for the sampling.
    #[serde(default)]
    pub seed: u64,
    /// Optional box constraints; see the module docs for how they are handled.
    #[serde(default)]
    pub bounds: Option<Bounds>,
}

impl CmaEsSettings {
    /// Settings with the default population size, seed 0 and no bounds.
    pub fn new(x0: Vec<f64>, sigma0: f64) -> Self {
        CmaEsSettings {
            x0,
            sigma0,
            population_size: None,
            seed: 0,
            bounds: None,
        }
    }
}

/// The strategy parameters, all functions of `n` and `λ` (Hansen 2016, Table 1).
#[derive(Clone, Debug, PartialEq)]
pub struct CmaEsParameters {
    /// Candidates per generation, `λ`.
    pub population_size: usize,
    /// Number of candidates recombined, `μ = ⌊λ/2⌋`.
    pub parents: usize,
    /// Recombination weights `w_i ∝ ln((λ+1)/2) − ln i`, `i = 1..μ`, summing to 1.
    pub weights: Vec<f64>,
    /// Variance-effective selection mass `μ_eff = 1 / Σ w_i²`.
    pub mu_eff: f64,
    /// Learning rate of the step-size path, `c_σ = (μ_eff + 2) / (n + μ_eff + 5)`.
    pub c_sigma: f64,
    /// Damping of the step-size update, `d_σ = 1 + 2 max(0, √((μ_eff − 1)/(n + 1)) − 1) + c_σ`.
    pub d_sigma: f64,
    /// Learning rate of the covariance path, `c_c = (4 + μ_eff/n) / (n + 4 + 2 μ_eff/n)`.
    pub c_c: f64,
    /// Rank-one learning rate, `c_1 = 2 / ((n + 1.3)² + μ_eff)`.
    pub c_1: f64,
    /// Rank-μ learning rate, `c_μ = min(1 − c_1, 2 (μ_eff − 2 + 1/μ_eff) / ((n + 2)² + μ_eff))`.
    pub c_mu: f64,
    /// `E‖N(0, I)‖ ≈ √n (1 − 1/(4n) + 1/(21n²))`.
    pub expected_norm: f64,
    /// Evaluations between two eigendecompositions of `C`, `λ / ((c_1 + c_μ) n 10)`.
    pub eigen_interval: f64,
}

impl CmaEsParameters {
    /// The tutorial's defaults for dimension `n ≥ 1` and population size `λ ≥ 2`.
    pub fn defaults(dimension: usize, population_size: usize) -> Self {
        let n = dimension as f64;
        let lambda = population_size as f64;
        let parents = population_size / 2;
        let raw: Vec<f64> = (1..=parents)
            .map(|i| ((lambda + 1.0) / 2.0).ln() - (i as f64).ln())
            .collect();
        let total: f64 = raw.iter().sum();
        let weights: Vec<f64> = raw.iter().map(|w| w / total).collect();
        let mu_eff = 1.0 / weights.iter().map(|w| w * w).sum::<f64>();
        let c_sigma = (mu_eff + 2.0) / (n + mu_eff + 5.0);
        let d_sigma = 1.0 + 2.0 * (((mu_eff - 1.0) / (n + 1.0)).sqrt() - 1.0).max(0.0) + c_sigma;
        let c_c = (4.0 + mu_eff / n) / (n + 4.0 + 2.0 * mu_eff / n);
        let c_1 = 2.0 / ((n + 1.3).powi(2) + mu_eff);
        let c_mu =
            (1.0 - c_1).min(2.0 * (mu_eff - 2.0 + 1.0 / mu_eff) / ((n + 2.0).powi(2) + mu_eff));
        let expected_norm = n.sqrt() * (1.0 - 1.0 / (4.0 * n) + 1.0 / (21.0 * n * n));
        let eigen_interval = lambda / ((c_1 + c_mu) * n * 10.0);
        CmaEsParameters {
            population_size,
            parents,
            weights,
            mu_eff,
            c_sigma,
            d_sigma,
            c_c,
            c_1,
            c_mu,
            expected_norm,
            eigen_interval,
        }
    }
}

/// Everything a CMA-ES run needs to continue. Matrices are `n × n`, row-major.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CmaEsState {
    pub seed: u64,
    pub population_size: usize,
    pub bounds: Option<Bounds>,
    /// Mean `m`.
    #[serde(with = "super::exact::vector")]
    pub mean: Vec<f64>,
    /// Step size `σ`.
    #[serde(with = "super::exact::scalar")]
    pub sigma: f64,
    /// Covariance matrix `C`.
    #[serde(with = "super::exact::vector")]
    pub covariance: Vec<f64>,
    /// `B`: column `j` is the `j`-th eigenvector of `C` as of the last decomposition.
    #[serde(with = "super::exact::vector")]
    pub eigenvectors: Vec<f64>,
    /// `D`: square roots of the eigenvalues of `C` as of the last decomposition.
    #[serde(with = "super::exact::vector")]
    pub axis_lengths: Vec<f64>,
    /// Evolution path of the step size, `p_σ`.
    #[serde(with = "super::exact::vector")]
    pub path_sigma: Vec<f64>,
    /// Evolution path of the covariance, `p_c`.
    #[serde(with = "super::exact::vector")]
    pub path_c: Vec<f64>,
    pub generation: u64,
    pub evaluations: u64,
    /// `evaluations` at the last eigendecomposition.
    pub eigen_evaluations: u64,
    /// Number of the next Philox draw.
    pub next_draw: u64,
    /// First draw of the generation asked but not yet told, if any.
    pub pending_draw: Option<u64>,
    pub best: Option<BestPoint>,
}

/// Candidates handed out by `ask` and not yet told.
#[derive(Clone, Debug)]
struct Pending {
    first_draw: u64,
    candidates: Vec<Vec<f64>>,
}

/// A CMA-ES run; see the module docs.
#[derive(Clone, Debug)]
pub struct CmaEs {
    parameters: CmaEsParameters,
    seed: u64,
    bounds: Option<Bounds>,
    mean: DVector<f64>,
    sigma: f64,
    covariance: DMatrix<f64>,
    eigenvectors: DMatrix<f64>,
    axis_lengths: DVector<f64>,
    path_sigma: DVector<f64>,
    path_c: DVector<f64>,
    generation: u64,
    evaluations: u64,
    eigen_evaluations: u64,
    next_draw: u64,
    pending: Option<Pending>,
    best: Option<BestPoint>,
}

impl CmaEs {
    /// A run at generation 0: `C = I`, both paths zero.
    pub fn new(settings: &CmaEsSettings) -> Result<Self, StrategyError> {
        validate_start(&settings.x0)?;
        validate_positive("sigma0", settings.sigma0)?;
        let n = settings.x0.len();
        let population_size = settings
            .population_size
            .unwrap_or(4 + (3.0 * (n as f64).ln()).floor() as usize);
        validate_population(population_size)?;
        if let Some(bounds) = &settings.bounds {
            validate_inside(bounds, &settings.x0)?;
        }
        Ok(CmaEs {
            parameters: CmaEsParameters::defaults(n, population_size),
            seed: settings.seed,
            bounds: settings.bounds.clone(),
            mean: DVector::from_column_slice(&settings.x0),
            sigma: settings.sigma0,
            covariance: DMatrix::identity(n, n),
            eigenvectors: DMatrix::identity(n, n),
            axis_lengths: DVector::from_element(n, 1.0),
            path_sigma: DVector::zeros(n),
            path_c: DVector::zeros(n),
            generation: 0,
            evaluations: 0,
            eigen_evaluations: 0,
            next_draw: 0,
            pending: None,
            best: None,
        })
    }

    /// Rebuilds a run from [`CmaEs::state`]'s output, after checking it.
    pub fn from_state(state: CmaEsState) -> Result<Self, StrategyError> {
        validate_start(&state.mean)?;
        let n = state.mean.len();
        validate_positive("sigma", state.sigma)?;
        validate_population(state.population_size)?;
        validate_length("covariance", &state.covariance, n * n)?;
        validate_length("eigenvectors", &state.eigenvectors, n * n)?;
        validate_length("axis_lengths", &state.axis_lengths, n)?;
        validate_length("path_sigma", &state.path_sigma, n)?;
        validate_length("path_c", &state.path_c, n)?;
        validate_best(&state.best, n)?;
        if let Some(bounds) = &state.bounds {
            validate_inside(bounds, &state.mean)?;
        }
        let all_finite = [
            &state.covariance,
            &state.eigenvectors,
            &state.path_sigma,
            &state.path_c,
        ]
        .iter()
        .all(|values| values.iter().all(|v| v.is_finite()));
        if !all_finite {
            return Err(StrategyError::InvalidState {
                field: "covariance, eigenvectors or paths",
                reason: "every entry must be finite",
            });
        }
        if !state.axis_lengths.iter().all(|&d| d.is_finite() && d > 0.0) {
            return Err(StrategyError::InvalidState {
                field: "axis_lengths",
                reason: "every entry must be finite and greater than 0",
            });
        }
        validate_covariance(n, &state.covariance, &state.eigenvectors)?;
        if let Some(bounds) = &state.bounds {
            validate_step_size(bounds, state.sigma, &state.axis_lengths)?;
        }
        if state.eigen_evaluations > state.evaluations {
            return Err(StrategyError::InvalidState {
                field: "eigen_evaluations",
                reason: "it cannot exceed evaluations",
            });
        }
        let mut strategy = CmaEs {
            parameters: CmaEsParameters::defaults(n, state.population_size),
            seed: state.seed,
            bounds: state.bounds,
            mean: DVector::from_vec(state.mean),
            sigma: state.sigma,
            covariance: from_row_major(n, &state.covariance),
            eigenvectors: from_row_major(n, &state.eigenvectors),
            axis_lengths: DVector::from_vec(state.axis_lengths),
            path_sigma: DVector::from_vec(state.path_sigma),
            path_c: DVector::from_vec(state.path_c),
            generation: state.generation,
            evaluations: state.evaluations,
            eigen_evaluations: state.eigen_evaluations,
            next_draw: state.next_draw,
            pending: None,
            best: state.best,
        };
        if let Some(first_draw) = state.pending_draw {
            // The pending candidates are a function of the state: draw them again.
            let (candidates, next_draw) = strategy.sample_generation(first_draw);
            if next_draw != state.next_draw {
                return Err(StrategyError::InvalidState {
                    field: "pending_draw",
                    reason: "redrawing the pending generation does not end at next_draw",
                });
            }
            strategy.pending = Some(Pending {
                first_draw,
                candidates,
            });
        }
        Ok(strategy)
    }

    /// The strategy parameters in use.
    pub fn parameters(&self) -> &CmaEsParameters {
        &self.parameters
    }

    /// `D`, the square roots of the eigenvalues of `C` as of the last decomposition: the
    /// relative lengths of the principal axes of the search distribution.
    pub fn axis_lengths(&self) -> &[f64] {
        self.axis_lengths.as_slice()
    }

    /// Condition number of `C` as of the last decomposition, `(max D / min D)²`: how elongated
    /// the search distribution has become (a value near 10^14 means it can shrink no further).
    pub fn condition_number(&self) -> f64 {
        let largest = self.axis_lengths.max();
        let smallest = self.axis_lengths.min();
        (largest / smallest).powi(2)
    }

    /// Draws one generation starting at draw `first_draw`: the candidates and the next free
    /// draw number.
    fn sample_generation(&self, first_draw: u64) -> (Vec<Vec<f64>>, u64) {
        let n = self.mean.len();
        let stream = cma_es_stream();
        let mut draw = first_draw;
        let mut normals = vec![0.0; n];
        let mut candidates = Vec::with_capacity(self.parameters.population_size);
        for _ in 0..self.parameters.population_size {
            let mut attempts = 0;
            let candidate = loop {
                rng::fill_normal(self.seed, stream, draw, &mut normals);
                draw = draw.wrapping_add(1);
                attempts += 1;
                let mut x = self.point_from_normals(&normals);
                match &self.bounds {
                    None => break x,
                    Some(bounds) if bounds.contains(&x) => break x,
                    Some(bounds) if attempts >= MAX_BOUNDED_ATTEMPTS => {
                        bounds.project(&mut x);
                        break x;
                    }
                    Some(_) => {}
                }
            };
            candidates.push(candidate);
        }
        (candidates, draw)
    }

    /// `m + σ B (D ∘ z)`.
    fn point_from_normals(&self, normals: &[f64]) -> Vec<f64> {
        let scaled = DVector::from_iterator(
            normals.len(),
            normals
                .iter()
                .zip(self.axis_lengths.iter())
                .map(|(z, d)| z * d),
        );
        let step = &self.eigenvectors * scaled;
        self.mean
            .iter()
            .zip(step.iter())
            .map(|(m, y)| m + self.sigma * y)
            .collect()
    }
}

impl Strategy for CmaEs {
    fn dimension(&self) -> usize {
        self.mean.len()
    }

    fn population_size(&self) -> usize {
        self.parameters.population_size
    }

    fn ask(&mut self) -> Vec<Vec<f64>> {
        if let Some(pending) = &self.pending {
            return pending.candidates.clone();
        }
        let first_draw = self.next_draw;
        let (candidates, next_draw) = self.sample_generation(first_draw);
        self.next_draw = next_draw;
        self.pending = Some(Pending {
            first_draw,
            candidates: candidates.clone(),
        });
        candidates
    }

    fn tell(&mut self, fitness: &[f64]) -> Result<(), StrategyError> {
        let Some(pending) = &self.pending else {
            return Err(StrategyError::TellWithoutAsk);
        };
        let p = &self.parameters;
        validate_fitness_count(fitness, p.population_size)?;
        let n = self.mean.len();
        let order = order_by_fitness(fitness);
        let selected: Vec<DVector<f64>> = order[..p.parents]
            .iter()
            .map(|&k| DVector::from_column_slice(&pending.candidates[k]))
            .collect();

        // Recombination: the new mean is the weighted mean of the μ best.
        let mut mean = DVector::zeros(n);
        for (w, x) in p.weights.iter().zip(&selected) {
            mean.axpy(*w, x, 1.0);
        }
        if let Some(bounds) = &self.bounds {
            // Only rounding can take a weighted mean of points in the box outside it.
            bounds.project(mean.as_mut_slice());
        }
        let mean_step = (&mean - &self.mean) / self.sigma;

        // Step-size path, with C^{-1/2} = B D^{-1} Bᵀ from the last decomposition.
        let mut rotated = self.eigenvectors.tr_mul(&mean_step);
        rotated.component_div_assign(&self.axis_lengths);
        let whitened = &self.eigenvectors * rotated;
        let path_sigma = &self.path_sigma * (1.0 - p.c_sigma)
            + whitened * (p.c_sigma * (2.0 - p.c_sigma) * p.mu_eff).sqrt();
        let generation = self.generation.saturating_add(1);
        let path_sigma_norm = path_sigma.norm();
        let bias_correction = (1.0 - (1.0 - p.c_sigma).powf(2.0 * generation as f64)).sqrt();
        let stalled =
            path_sigma_norm / bias_correction >= (1.4 + 2.0 / (n as f64 + 1.0)) * p.expected_norm;

        // Covariance path and covariance matrix.
        let path_c_gain = (p.c_c * (2.0 - p.c_c) * p.mu_eff).sqrt();
        let mut path_c = &self.path_c * (1.0 - p.c_c);
        if !stalled {
            path_c.axpy(path_c_gain, &mean_step, 1.0);
        }
        // While stalled, c_1 c_c (2 − c_c) puts back the variance that the missing path
        // increment would have brought.
        let stall_compensation = if stalled {
            p.c_1 * p.c_c * (2.0 - p.c_c)
        } else {
            0.0
        };
        let mut covariance = &self.covariance * (1.0 - p.c_1 - p.c_mu + stall_compensation);
        covariance.ger(p.c_1, &path_c, &path_c, 1.0);
        for (w, x) in p.weights.iter().zip(&selected) {
            let step = (x - &self.mean) / self.sigma;
            covariance.ger(p.c_mu * w, &step, &step, 1.0);
        }
        // `ger` rounds entry (i, j) and (j, i) differently; keep C exactly symmetric so that
        // the saved matrix and the decomposition see one and the same matrix.
        let covariance = (&covariance + covariance.transpose()) * 0.5;

        // Cumulative step-size adaptation.
        let sigma = self.sigma
            * ((p.c_sigma / p.d_sigma) * (path_sigma_norm / p.expected_norm - 1.0)).exp();

        if !(sigma.is_finite() && sigma > 0.0) {
            return Err(StrategyError::Numerical {
                what: "the step size became zero or non-finite",
            });
        }
        if !mean.iter().all(|v| v.is_finite()) || !covariance.iter().all(|v| v.is_finite()) {
            return Err(StrategyError::Numerical {
                what: "the mean or the covariance matrix became non-finite",
            });
        }
        let evaluations = self.evaluations.saturating_add(p.population_size as u64);
        let decomposition = if (evaluations - self.eigen_evaluations) as f64 > p.eigen_interval {
            Some(decompose(&covariance)?)
        } else {
            None
        };

        update_best(&mut self.best, &pending.candidates, fitness);
        self.mean = mean;
        self.sigma = sigma;
        self.covariance = covariance;
        self.path_sigma = path_sigma;
        self.path_c = path_c;
        self.generation = generation;
        self.evaluations = evaluations;
        if let Some((eigenvectors, axis_lengths)) = decomposition {
            self.eigenvectors = eigenvectors;
            self.axis_lengths = axis_lengths;
            self.eigen_evaluations = evaluations;
        }
        self.pending = None;
        Ok(())
    }

    fn generation(&self) -> u64 {
        self.generation
    }

    fn evaluations(&self) -> u64 {
        self.evaluations
    }

    fn mean(&self) -> &[f64] {
        self.mean.as_slice()
    }

    fn sigma(&self) -> f64 {
        self.sigma
    }

    fn best(&self) -> Option<(&[f64], f64)> {
        self.best
            .as_ref()
            .map(|point| (point.x.as_slice(), point.fitness))
    }

    fn state(&self) -> StrategyState {
        StrategyState::CmaEs(CmaEsState {
            seed: self.seed,
            population_size: self.parameters.population_size,
            bounds: self.bounds.clone(),
            mean: self.mean.as_slice().to_vec(),
            sigma: self.sigma,
            covariance: to_row_major(&self.covariance),
            eigenvectors: to_row_major(&self.eigenvectors),
            axis_lengths: self.axis_lengths.as_slice().to_vec(),
            path_sigma: self.path_sigma.as_slice().to_vec(),
            path_c: self.path_c.as_slice().to_vec(),
            generation: self.generation,
            evaluations: self.evaluations,
            eigen_evaluations: self.eigen_evaluations,
            next_draw: self.next_draw,
            pending_draw: self.pending.as_ref().map(|pending| pending.first_draw),
            best: self.best.clone(),
        })
    }
}

/// How far the search distribution may reach beyond the bounds in a saved state: `σ · max D`
/// at most this many times the widest bound. Candidates are resampled inside the box, so a
/// running strategy's σ stays near the box's scale; a larger one is an edited file.
pub const MAX_STEP_PER_WIDTH: f64 = 1e6;

/// A saved covariance must be the matrix the strategy keeps: exactly symmetric (the update
/// symmetrises it) and positive-definite (a Cholesky factorisation exists); `B` must be
/// orthonormal, as the eigenvectors of a symmetric matrix are.
fn validate_covariance(
    n: usize,
    covariance: &[f64],
    eigenvectors: &[f64],
) -> Result<(), StrategyError> {
    for i in 0..n {
        for j in 0..i {
            if covariance[i * n + j].to_bits() != covariance[j * n + i].to_bits() {
                return Err(StrategyError::InvalidState {
                    field: "covariance",
                    reason: "the matrix is not symmetric",
                });
            }
        }
    }
    let c = from_row_major(n, covariance);
    // Rounding can leave a valid but nearly singular C without a Cholesky factor; its
    // eigenvalues are then still non-negative to within rounding.
    let positive = (0..n).all(|i| c[(i, i)] > 0.0)
        && (nalgebra::Cholesky::new(c.clone()).is_some()
            || SymmetricEigen::try_new(c, f64::EPSILON, 1000 + 100 * n).is_some_and(|e| {
                let largest = e.eigenvalues.max();
                largest > 0.0 && e.eigenvalues.min() >= -1e-9 * largest
            }));
    if !positive {
        return Err(StrategyError::InvalidState {
            field: "covariance",
            reason: "the matrix is not positive semi-definite",
        });
    }
    let b = from_row_major(n, eigenvectors);
    let gram = b.tr_mul(&b);
    let orthonormal = (0..n).all(|i| {
        (0..n).all(|j| {
            let expected = if i == j { 1.0 } else { 0.0 };
            (gram[(i, j)] - expected).abs() <= 1e-6
        })
    });
    if !orthonormal {
        return Err(StrategyError::InvalidState {
            field: "eigenvectors",
            reason: "the columns are not orthonormal",
        });
    }
    Ok(())
}

/// A saved σ must keep the search distribution on the scale of the box.
fn validate_step_size(
    bounds: &Bounds,
    sigma: f64,
    axis_lengths: &[f64],
) -> Result<(), StrategyError> {
    let widest = bounds
        .lower
        .iter()
        .zip(&bounds.upper)
        .map(|(l, u)| u - l)
        .fold(0.0f64, f64::max);
    let reach = sigma * axis_lengths.iter().copied().fold(0.0f64, f64::max);
    // NaN reaches are refused too.
    let within = reach <= MAX_STEP_PER_WIDTH * widest;
    if widest.is_finite() && !within {
        return Err(StrategyError::InvalidState {
            field: "sigma",
            reason: "σ · max D is more than 10^6 times the widest bound",
        });
    }
    Ok(())
}

fn validate_population(population_size: usize) -> Result<(), StrategyError> {
    if population_size < 2 {
        return Err(StrategyError::PopulationTooSmall {
            population_size,
            minimum: 2,
        });
    }
    Ok(())
}

/// Checks the bounds and that `x` lies inside them.
fn validate_inside(bounds: &Bounds, x: &[f64]) -> Result<(), StrategyError> {
    bounds.validate(x.len())?;
    for (index, (&value, (&lower, &upper))) in x
        .iter()
        .zip(bounds.lower.iter().zip(&bounds.upper))
        .enumerate()
    {
        if !(lower <= value && value <= upper) {
            return Err(StrategyError::StartOutsideBounds {
                index,
                value,
                lower,
                upper,
            });
        }
    }
    Ok(())
}

/// `B` and `D` of `C = B D² Bᵀ`, with eigenvalues floored at [`MIN_EIGENVALUE_RATIO`] of the
/// largest.
fn decompose(covariance: &DMatrix<f64>) -> Result<(DMatrix<f64>, DVector<f64>), StrategyError> {
    let n = covariance.nrows();
    // A bounded iteration count, so that a pathological matrix fails instead of hanging.
    let max_iterations = 1000 + 100 * n;
    let eigen = SymmetricEigen::try_new(covariance.clone(), f64::EPSILON, max_iterations).ok_or(
        StrategyError::Numerical {
            what: "the eigendecomposition of the covariance matrix did not converge",
        },
    )?;
    let largest = eigen.eigenvalues.max();
    if !(largest.is_finite() && largest > 0.0) {
        return Err(StrategyError::Numerical {
            what: "the covariance matrix has no positive eigenvalue",
        });
    }
    let floor = largest * MIN_EIGENVALUE_RATIO;
    let axis_lengths = eigen.eigenvalues.map(|value| value.max(floor).sqrt());
    Ok((eigen.eigenvectors, axis_lengths))
}

fn to_row_major(matrix: &DMatrix<f64>) -> Vec<f64> {
    // nalgebra stores columns; the transpose's columns are the rows.
    matrix.transpose().as_slice().to_vec()
}

fn from_row_major(n: usize, values: &[f64]) -> DMatrix<f64> {
    DMatrix::from_row_slice(n, n, values)
}

#[cfg(test)]
mod tests {
    use super::super::objectives::{ellipsoid, rosenbrock, run_to_target, sphere};
    use super::super::restore;
    use super::*;

    const TARGET: f64 = 1e-8;

    fn settings(x0: Vec<f64>, sigma0: f64, seed: u64) -> CmaEsSettings {
        CmaEsSettings {
            seed,
            ..CmaEsSettings::new(x0, sigma0)
        }
    }

    #[test]
    fn default_parameters_for_n_10() {
        let p = CmaEsParameters::defaults(10, 10);
        assert_eq!(p.parents, 5);
        assert!((p.weights.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!(p.weights.windows(2).all(|w| w[0] > w[1]));
        // μ_eff of the log weights for λ = 10 is about 3.17.
        assert!((p.mu_eff - 3.1672).abs() < 1e-3, "mu_eff {}", p.mu_eff);
        assert!((p.expected_norm - 3.0847).abs() < 1e-3);
        let strategy = CmaEs::new(&CmaEsSettings::new(vec![1.0; 10], 0.5)).expect("valid");
        assert_eq!(strategy.population_size(), 10);
        let strategy = CmaEs::new(&CmaEsSettings::new(vec![1.0], 0.5)).expect("valid");
        assert_eq!(strategy.population_size(), 4);
    }

    // Evaluations to reach f < 1e-8 (best candidate of a generation), counted in whole
    // generations, n = 10, default λ = 10, σ₀ = 0.5. Reference figures, measured for this
    // project with pycma 4.5.0 with CMA_active=False (the variant implemented here) and with
    // its purecma module, 20 seeds each, same starts and the same counting (median, range):
    //   sphere, x0 = ones:       pycma 1,340 (1,120–1,430)   purecma 1,470 (1,350–1,580)
    //   ellipsoid, x0 = ones:    pycma 5,530 (5,140–6,120)   purecma 5,870 (5,450–6,320)
    //   Rosenbrock, x0 = zeros:  pycma 5,830 (4,980–6,690)   purecma 6,030 (5,070–8,070),
    //                            19 of 20 runs reach the global minimum in both.
    // This implementation over seeds 0..30: sphere 1,330 (1,140–1,450), ellipsoid 5,770
    // (4,870–6,330), Rosenbrock 6,300 (5,010–8,000) with 29 of 30 successful. (pycma's default,
    // active CMA, needs about 3,980 on the ellipsoid.) Without covariance adaptation the
    // ellipsoid would cost orders of magnitude more (an isotropic step is limited by the
    // narrowest axis, 10^3 times narrower than the widest), far above the bounds below.

    #[test]
    fn sphere_n10() {
        let mut strategy = CmaEs::new(&settings(vec![1.0; 10], 0.5, 1)).expect("valid");
        let evaluations = run_to_target(&mut strategy, sphere, TARGET, 20_000)
            .expect("reaches 1e-8 on the sphere");
        // Measured: 1,350 evaluations with seed 1.
        assert!(
            (1_000..=3_000).contains(&evaluations),
            "{evaluations} evaluations"
        );
    }

    #[test]
    fn ellipsoid_n10() {
        let mut strategy = CmaEs::new(&settings(vec![1.0; 10], 0.5, 2)).expect("valid");
        let evaluations = run_to_target(&mut strategy, ellipsoid, TARGET, 50_000)
            .expect("reaches 1e-8 on the ellipsoid");
        // Measured: 5,400 evaluations with seed 2. The condition number of C must have grown
        // to match the function's 10^6.
        assert!(
            (3_000..=9_000).contains(&evaluations),
            "{evaluations} evaluations"
        );
        let condition = strategy.condition_number();
        assert!((1e5..1e7).contains(&condition), "condition {condition}");
    }

    #[test]
    fn rosenbrock_n10() {
        let mut strategy = CmaEs::new(&settings(vec![0.0; 10], 0.5, 3)).expect("valid");
        let evaluations = run_to_target(&mut strategy, rosenbrock, TARGET, 50_000)
            .expect("seed 3 reaches the global minimum");
        // Measured: 6,950 evaluations with seed 3 (seed 4 is one that ends in the local minimum).
        assert!(
            (3_000..=10_000).contains(&evaluations),
            "{evaluations} evaluations"
        );
        let (best, _) = strategy.best().expect("has a best point");
        assert!(best.iter().all(|&x| (x - 1.0).abs() < 1e-3), "{best:?}");
    }

    #[test]
    fn rosenbrock_most_seeds_succeed() {
        // With default λ a run occasionally ends in the local minimum near x_1 = −1 (about 1 in
        // 20 for pycma and for this implementation); most must not. Measured: 10 of 10.
        let mut successes = 0;
        for seed in 10..20 {
            let mut strategy = CmaEs::new(&settings(vec![0.0; 10], 0.5, seed)).expect("valid");
            if run_to_target(&mut strategy, rosenbrock, TARGET, 20_000).is_some() {
                successes += 1;
            }
        }
        assert!(successes >= 8, "{successes} of 10 seeds succeeded");
    }

    #[test]
    fn bounded_candidates_stay_inside() {
        // The unconstrained optimum of the sphere is 0; the box keeps every coordinate ≥ 0.5,
        // so the constrained optimum is the corner 0.5·ones.
        let bounds = Bounds {
            lower: vec![0.5; 4],
            upper: vec![3.0; 4],
        };
        let mut strategy = CmaEs::new(&CmaEsSettings {
            bounds: Some(bounds.clone()),
            ..settings(vec![2.0; 4], 1.0, 4)
        })
        .expect("valid");
        for _ in 0..200 {
            let candidates = strategy.ask();
            assert!(candidates.iter().all(|x| bounds.contains(x)));
            let fitness: Vec<f64> = candidates.iter().map(|x| sphere(x)).collect();
            strategy.tell(&fitness).expect("tell");
        }
        assert!(bounds.contains(strategy.mean()));
        let (_, best) = strategy.best().expect("has a best point");
        // f at the corner is 4 · 0.25 = 1.
        assert!(best < 1.0 + 1e-4, "best {best}");
    }

    #[test]
    fn same_seed_same_candidates() {
        let run = |seed| {
            let mut strategy = CmaEs::new(&settings(vec![0.3; 5], 0.2, seed)).expect("valid");
            let mut all = Vec::new();
            for _ in 0..5 {
                let candidates = strategy.ask();
                let fitness: Vec<f64> = candidates.iter().map(|x| ellipsoid(x)).collect();
                strategy.tell(&fitness).expect("tell");
                all.extend(candidates);
            }
            all
        };
        let bits = |points: Vec<Vec<f64>>| -> Vec<u64> {
            points.iter().flatten().map(|v| v.to_bits()).collect()
        };
        assert_eq!(bits(run(7)), bits(run(7)));
        assert_ne!(bits(run(7)), bits(run(8)));
    }

    #[test]
    fn ask_twice_returns_the_same_generation() {
        let mut strategy = CmaEs::new(&settings(vec![0.0; 3], 1.0, 5)).expect("valid");
        let first = strategy.ask();
        assert_eq!(first, strategy.ask());
        strategy.tell(&vec![1.0; first.len()]).expect("tell");
        assert_ne!(first, strategy.ask());
    }

    /// Runs 10 generations on the ellipsoid, saving the state through JSON after generation
    /// `save_after` (and, if `mid_generation`, after that generation's ask), and compares every
    /// candidate of the restored run with the uninterrupted one bit for bit.
    fn check_restore(save_after: usize, mid_generation: bool, bounds: Option<Bounds>) {
        let start = CmaEsSettings {
            bounds,
            ..settings(vec![0.5; 6], 0.3, 11)
        };
        let mut straight = CmaEs::new(&start).expect("valid");
        let mut reference = Vec::new();
        for _ in 0..10 {
            let candidates = straight.ask();
            let fitness: Vec<f64> = candidates.iter().map(|x| ellipsoid(x)).collect();
            straight.tell(&fitness).expect("tell");
            reference.push(candidates);
        }

        let mut first = CmaEs::new(&start).expect("valid");
        let mut resumed_candidates = Vec::new();
        for _ in 0..save_after {
            let candidates = first.ask();
            let fitness: Vec<f64> = candidates.iter().map(|x| ellipsoid(x)).collect();
            first.tell(&fitness).expect("tell");
            resumed_candidates.push(candidates);
        }
        if mid_generation {
            first.ask();
        }
        let text = serde_json::to_string(&first.state()).expect("serialises");
        drop(first);
        let state: StrategyState = serde_json::from_str(&text).expect("parses");
        let mut second = restore(state).expect("restores");
        for _ in save_after..10 {
            let candidates = second.ask();
            let fitness: Vec<f64> = candidates.iter().map(|x| ellipsoid(x)).collect();
            second.tell(&fitness).expect("tell");
            resumed_candidates.push(candidates);
        }
        assert_eq!(reference.len(), resumed_candidates.len());
        for (g, (a, b)) in reference.iter().zip(&resumed_candidates).enumerate() {
            for (x, y) in a.iter().zip(b) {
                let x_bits: Vec<u64> = x.iter().map(|v| v.to_bits()).collect();
                let y_bits: Vec<u64> = y.iter().map(|v| v.to_bits()).collect();
                assert_eq!(x_bits, y_bits, "generation {g}");
            }
        }
        assert_eq!(second.state(), straight.state());
    }

    #[test]
    fn restore_is_bit_identical() {
        check_restore(5, false, None);
        check_restore(5, true, None);
        check_restore(
            5,
            true,
            Some(Bounds {
                lower: vec![0.0; 6],
                upper: vec![0.7; 6],
            }),
        );
    }

    #[test]
    fn bad_settings_are_errors() {
        let ok = CmaEsSettings::new(vec![0.0; 3], 1.0);
        let build = |s: CmaEsSettings| CmaEs::new(&s).map(|_| ());
        assert_eq!(
            build(CmaEsSettings::new(vec![], 1.0)),
            Err(StrategyError::ZeroDimension)
        );
        for sigma0 in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                build(CmaEsSettings::new(vec![0.0; 3], sigma0)),
                Err(StrategyError::InvalidParameter { name: "sigma0", .. })
            ));
        }
        assert_eq!(
            build(CmaEsSettings {
                population_size: Some(1),
                ..ok.clone()
            }),
            Err(StrategyError::PopulationTooSmall {
                population_size: 1,
                minimum: 2
            })
        );
        assert!(matches!(
            build(CmaEsSettings::new(vec![0.0, f64::NAN], 1.0)),
            Err(StrategyError::NonFiniteStart { index: 1, .. })
        ));
        assert_eq!(
            build(CmaEsSettings {
                bounds: Some(Bounds {
                    lower: vec![0.0, 1.0, 0.0],
                    upper: vec![1.0, 0.0, 1.0],
                }),
                ..ok.clone()
            }),
            Err(StrategyError::BoundsReversed {
                index: 1,
                lower: 1.0,
                upper: 0.0
            })
        );
        assert_eq!(
            build(CmaEsSettings {
                bounds: Some(Bounds {
                    lower: vec![0.0; 2],
                    upper: vec![1.0; 2],
                }),
                ..ok.clone()
            }),
            Err(StrategyError::BoundsLength {
                which: "lower",
                expected: 3,
                got: 2
            })
        );
        assert_eq!(
            build(CmaEsSettings {
                bounds: Some(Bounds {
                    lower: vec![0.5; 3],
                    upper: vec![1.0; 3],
                }),
                ..ok
            }),
            Err(StrategyError::StartOutsideBounds {
                index: 0,
                value: 0.0,
                lower: 0.5,
                upper: 1.0
            })
        );
    }

    #[test]
    fn bad_tell_is_an_error_and_changes_nothing() {
        let mut strategy = CmaEs::new(&settings(vec![0.0; 3], 1.0, 6)).expect("valid");
        assert_eq!(strategy.tell(&[1.0; 7]), Err(StrategyError::TellWithoutAsk));
        let candidates = strategy.ask();
        let before = strategy.state();
        assert_eq!(
            strategy.tell(&[1.0; 3]),
            Err(StrategyError::FitnessCount {
                expected: candidates.len(),
                got: 3
            })
        );
        assert_eq!(strategy.state(), before);
        // Non-finite fitness is allowed and ranks last.
        let mut fitness = vec![f64::NAN; candidates.len()];
        fitness[2] = 0.5;
        strategy.tell(&fitness).expect("tell");
        assert_eq!(strategy.best(), Some((candidates[2].as_slice(), 0.5)));
        assert_eq!(strategy.tell(&fitness), Err(StrategyError::TellWithoutAsk));
    }

    #[test]
    fn bad_states_are_errors() {
        let mut strategy = CmaEs::new(&settings(vec![0.0; 3], 1.0, 6)).expect("valid");
        strategy.ask();
        let StrategyState::CmaEs(good) = strategy.state() else {
            panic!("a CMA-ES state");
        };
        let mut short = good.clone();
        short.covariance.pop();
        assert_eq!(
            CmaEs::from_state(short).map(|_| ()),
            Err(StrategyError::StateLength {
                field: "covariance",
                expected: 9,
                got: 8
            })
        );
        let mut shifted = good.clone();
        shifted.pending_draw = Some(1);
        assert!(matches!(
            CmaEs::from_state(shifted),
            Err(StrategyError::InvalidState {
                field: "pending_draw",
                ..
            })
        ));
        let mut flat = good;
        flat.axis_lengths[0] = 0.0;
        assert!(matches!(
            CmaEs::from_state(flat),
            Err(StrategyError::InvalidState {
                field: "axis_lengths",
                ..
            })
        ));
    }
}
