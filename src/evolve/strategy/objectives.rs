//! Test objectives with a known minimum of 0, and a driver that runs a strategy on them.

use super::Strategy;

/// `Σ x_i²`.
pub fn sphere(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum()
}

/// `Σ 10^{6 (i−1)/(n−1)} x_i²`: a sphere stretched to condition number 10^6 along the axes.
pub fn ellipsoid(x: &[f64]) -> f64 {
    let n = x.len();
    if n == 1 {
        return x[0] * x[0];
    }
    x.iter()
        .enumerate()
        .map(|(i, v)| 10f64.powf(6.0 * i as f64 / (n - 1) as f64) * v * v)
        .sum()
}

/// `Σ_{i<n} 100 (x_{i+1} − x_i²)² + (1 − x_i)²`, minimum 0 at `x = 1`; for `n ≥ 4` it also has
/// a local minimum near `x_1 = −1`.
pub fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|pair| 100.0 * (pair[1] - pair[0] * pair[0]).powi(2) + (1.0 - pair[0]).powi(2))
        .sum()
}

/// Runs whole generations until a candidate's fitness falls below `target`; returns the
/// evaluations used by then, or `None` once `max_evaluations` have passed.
pub fn run_to_target(
    strategy: &mut dyn Strategy,
    objective: fn(&[f64]) -> f64,
    target: f64,
    max_evaluations: u64,
) -> Option<u64> {
    while strategy.evaluations() < max_evaluations {
        let candidates = strategy.ask();
        let fitness: Vec<f64> = candidates.iter().map(|x| objective(x)).collect();
        strategy.tell(&fitness).expect("tell after ask");
        if fitness.iter().any(|&f| f < target) {
            return Some(strategy.evaluations());
        }
    }
    None
}
