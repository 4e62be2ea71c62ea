//! The backprop reference of a forward pathway with loops: the pathway at its fixed point, and the
//! exact gradient there by implicit differentiation (recurrent backpropagation).
//!
//! With the plasticity and the feedback pathway switched off, rate populations settle where
//!
//! ```text
//! u = A z + c,   z = φ(u),      c_p = b_p + Σ_{input projections q→p} sign · W x
//! ```
//!
//! over every non-input population at once (`A` holds `sign · W` of every projection between
//! them, loops included); input populations are clamped to `x` as in [`FeedForward`]. The fixed
//! point is found by iterating `u ← A φ(u) + c` from rest (`u = 0`), the map whose attracting
//! fixed points are those with a Jacobian `J = diag(φ′(u*)) A` of spectral radius below 1 (then
//! the continuous dynamics settles there too, whatever the time constants).
//!
//! The loss `L = ½ ‖y* − z_out‖²` at the fixed point has the gradient
//!
//! ```text
//! (I − Jᵀ) μ = e,     δ = φ′(u*) ⊙ μ,     −∂L/∂W = sign · δ_to z_fromᵀ      (projection from → to)
//! ```
//!
//! with `e = y* − z_out` at the output's units and 0 elsewhere: the adjoint linear system of the
//! fixed point (`μ = −∂L/∂z` through the loops). On a graph without loops `(I − Jᵀ)` is triangular
//! and this is [`FeedForward`]'s backward pass, `δ` the same `−∂L/∂u` (the tests check both).
//!
//! There is no fixed point — [`MeasureError::NotSettled`] or [`MeasureError::Unstable`] — when the
//! iteration does not settle (oscillation, chaos, growth: its step is no smaller after
//! [`CHECK_EVERY`] more iterations, or [`MAX_ITERATIONS`] are spent) or settles where the spectral
//! radius of `J` is ≥ 1 (an unstable point, reached only from exactly on it).

use super::MeasureError;
use super::feedforward::{FfPopulation, FfProjection, PopulationState, check_network};
use nalgebra::{DMatrix, DVector};

/// The most iterations the fixed-point iteration takes.
pub const MAX_ITERATIONS: usize = 10_000;
/// How often the iteration checks that its step still shrinks.
pub const CHECK_EVERY: usize = 250;
/// Settled when the largest change of a potential is at most this, relative to `1 + max |u|`.
pub const TOLERANCE: f64 = 1e-13;

/// A forward pathway that may have loops, in steady state; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct FixedPoint {
    /// Populations in any order.
    pub populations: Vec<FfPopulation>,
    pub projections: Vec<FfProjection>,
    /// Index of the population the loss is taken at.
    pub output: usize,
}

/// The fixed point for one input.
#[derive(Clone, Debug, PartialEq)]
pub struct Settled {
    /// `(u, z)` of every population, in population order.
    pub states: Vec<PopulationState>,
    /// The spectral radius of `J = diag(φ′(u*)) A` there (below 1).
    pub spectral_radius: f64,
    /// Iterations it took.
    pub iterations: usize,
    /// `J`, over the non-input units in population order.
    jacobian: DMatrix<f64>,
}

impl FixedPoint {
    /// Builds the network after the checks of [`FeedForward::new`](super::FeedForward::new) other
    /// than the order of the populations.
    pub fn new(
        populations: Vec<FfPopulation>,
        projections: Vec<FfProjection>,
        output: usize,
    ) -> Result<Self, MeasureError> {
        check_network(&populations, &projections, output, false)?;
        Ok(Self {
            populations,
            projections,
            output,
        })
    }

    /// Length of `x`: the sizes of the input populations, added up in index order.
    pub fn input_size(&self) -> usize {
        self.populations
            .iter()
            .filter(|p| p.is_input)
            .map(|p| p.size)
            .sum()
    }

    /// Size of the output population.
    pub fn output_size(&self) -> usize {
        self.populations.get(self.output).map_or(0, |p| p.size)
    }

    /// Where each population's units start in the vector of non-input units (inputs: their start
    /// in `x`), and that vector's length.
    fn offsets(&self) -> (Vec<usize>, usize) {
        let (mut inner, mut outer) = (0, 0);
        let offsets = self
            .populations
            .iter()
            .map(|p| {
                let at = if p.is_input { &mut outer } else { &mut inner };
                let start = *at;
                *at += p.size;
                start
            })
            .collect();
        (offsets, inner)
    }

    /// `A` and `c` for input `x`.
    fn system(&self, x: &[f64]) -> Result<(DMatrix<f64>, DVector<f64>), MeasureError> {
        check_network(&self.populations, &self.projections, self.output, false)?;
        let expected = self.input_size();
        if x.len() != expected {
            return Err(MeasureError::InputLength {
                expected,
                found: x.len(),
            });
        }
        let (at, n) = self.offsets();
        let mut c = DVector::zeros(n);
        for (p, pop) in self.populations.iter().enumerate() {
            if !pop.is_input {
                c.rows_mut(at[p], pop.size)
                    .copy_from_slice(&pop.bias[..pop.size]);
            }
        }
        let mut a = DMatrix::zeros(n, n);
        for proj in &self.projections {
            let (from, to) = (&self.populations[proj.from], at[proj.to]);
            let (rows, cols) = proj.weights.shape();
            if from.is_input {
                let x_p = DVector::from_column_slice(&x[at[proj.from]..at[proj.from] + cols]);
                c.rows_mut(to, rows)
                    .gemv(proj.sign, &proj.weights, &x_p, 1.0);
            } else {
                let mut block = a.view_mut((to, at[proj.from]), (rows, cols));
                block += &proj.weights * proj.sign;
            }
        }
        Ok((a, c))
    }

    /// The activations and their derivatives of the non-input units, in order.
    fn activations(&self) -> Vec<crate::activation::Activation> {
        self.populations
            .iter()
            .filter(|p| !p.is_input)
            .flat_map(|p| std::iter::repeat_n(p.activation, p.size))
            .collect()
    }

    /// The fixed point for input `x` (the concatenation of the input populations' values), or why
    /// there is none.
    pub fn solve(&self, x: &[f64]) -> Result<Settled, MeasureError> {
        let (a, c) = self.system(x)?;
        let phi = self.activations();
        let apply = |u: &DVector<f64>| DVector::from_fn(u.len(), |i, _| phi[i].apply(u[i]));
        let mut u = DVector::zeros(c.len());
        let (mut iterations, mut checked_step) = (0, f64::INFINITY);
        loop {
            let next = &a * apply(&u) + &c;
            iterations += 1;
            let step = (&next - &u).amax();
            let scale = 1.0 + next.amax();
            u = next;
            if !step.is_finite() || !scale.is_finite() {
                return Err(MeasureError::NotSettled {
                    iterations,
                    step: f64::INFINITY,
                });
            }
            if step <= TOLERANCE * scale {
                break;
            }
            if iterations >= MAX_ITERATIONS {
                return Err(MeasureError::NotSettled { iterations, step });
            }
            if iterations % CHECK_EVERY == 0 {
                if step >= checked_step {
                    return Err(MeasureError::NotSettled { iterations, step });
                }
                checked_step = step;
            }
        }
        let jacobian = DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| {
            phi[i].derivative(u[i]) * a[(i, j)]
        });
        let spectral_radius = spectral_radius(&jacobian).ok_or(MeasureError::NotSettled {
            iterations,
            step: 0.0,
        })?;
        if spectral_radius >= 1.0 {
            return Err(MeasureError::Unstable { spectral_radius });
        }
        let (at, _) = self.offsets();
        let states = self
            .populations
            .iter()
            .enumerate()
            .map(|(p, pop)| {
                let range = at[p]..at[p] + pop.size;
                if pop.is_input {
                    (x[range.clone()].to_vec(), x[range].to_vec())
                } else {
                    let u_p: Vec<f64> = u.as_slice()[range].to_vec();
                    let z_p = u_p.iter().map(|&v| pop.activation.apply(v)).collect();
                    (u_p, z_p)
                }
            })
            .collect();
        Ok(Settled {
            states,
            spectral_radius,
            iterations,
            jacobian,
        })
    }

    /// The loss `L = ½ ‖y* − z_out‖²` at the fixed point for input `x` and target `y* = target`,
    /// and for every projection (in order) the descent direction `−∂L/∂W`, shaped like `W`.
    pub fn loss_and_descent(
        &self,
        x: &[f64],
        target: &[f64],
    ) -> Result<(f64, Vec<DMatrix<f64>>), MeasureError> {
        let settled = self.solve(x)?;
        let z_out = &settled.states[self.output].1;
        if target.len() != z_out.len() {
            return Err(MeasureError::TargetLength {
                expected: z_out.len(),
                found: target.len(),
            });
        }
        let (at, n) = self.offsets();
        let mut e = DVector::zeros(n);
        let mut loss = 0.0;
        for (i, (t, y)) in target.iter().zip(z_out).enumerate() {
            e[at[self.output] + i] = t - y;
            loss += 0.5 * (t - y) * (t - y);
        }
        let system = DMatrix::identity(n, n) - settled.jacobian.transpose();
        // Invertible: every eigenvalue of J is inside the unit circle.
        let mu = system.lu().solve(&e).ok_or(MeasureError::Unstable {
            spectral_radius: settled.spectral_radius,
        })?;
        let delta: Vec<Vec<f64>> = self
            .populations
            .iter()
            .enumerate()
            .map(|(p, pop)| {
                if pop.is_input {
                    return vec![0.0; pop.size];
                }
                let u_p = &settled.states[p].0;
                (0..pop.size)
                    .map(|i| pop.activation.derivative(u_p[i]) * mu[at[p] + i])
                    .collect()
            })
            .collect();
        let descent = self
            .projections
            .iter()
            .map(|proj| {
                let (d_to, z_from) = (&delta[proj.to], &settled.states[proj.from].1);
                DMatrix::from_fn(d_to.len(), z_from.len(), |i, j| {
                    proj.sign * d_to[i] * z_from[j]
                })
            })
            .collect();
        Ok((loss, descent))
    }
}

/// The largest modulus of an eigenvalue of `m` (None if the Schur decomposition fails).
pub fn spectral_radius(m: &DMatrix<f64>) -> Option<f64> {
    if m.is_empty() {
        return Some(0.0);
    }
    let schur = nalgebra::Schur::try_new(m.clone(), f64::EPSILON, 10_000)?;
    Some(
        schur
            .complex_eigenvalues()
            .iter()
            .map(|l| l.norm())
            .fold(0.0, f64::max),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;
    use crate::measure::FeedForward;

    use crate::measure::test_rng::{Rng, descent_by_differences};

    fn proj(from: usize, to: usize, weights: DMatrix<f64>, sign: f64) -> FfProjection {
        FfProjection {
            from,
            to,
            weights,
            sign,
        }
    }

    /// Input(3) → h1 ⇄ h2, h1 → h1, h2 → out, out → h1 (a loop through the output), input → out;
    /// every hidden and output population of activation `act`.
    fn random_loop(rng: &mut Rng, act: Activation) -> FixedPoint {
        let sizes = [3, 4, 3, 2];
        let mut pops = vec![FfPopulation::input(sizes[0])];
        for &n in &sizes[1..] {
            pops.push(FfPopulation::computed(act, rng.vec(n, 0.5)));
        }
        let links = [
            (0, 1, 1.0, 0.8),
            (1, 1, 1.0, 0.3),
            (1, 2, 1.0, 0.5),
            (2, 1, -1.0, 0.5),
            (2, 3, 1.0, 0.6),
            (3, 1, 1.0, 0.3),
            (0, 3, 0.5, 0.5),
        ];
        let projections = links
            .iter()
            .map(|&(f, t, sign, scale)| proj(f, t, rng.matrix(sizes[t], sizes[f], scale), sign))
            .collect();
        FixedPoint::new(pops, projections, 3).unwrap()
    }

    #[test]
    fn descent_matches_finite_difference_of_the_fixed_point_loss() {
        let h = 1e-6;
        for act in [Activation::Tanh, Activation::Linear] {
            for seed in 1..=4u64 {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (seed * 7919));
                let mut net = random_loop(&mut rng, act);
                let x = rng.vec(net.input_size(), 1.0);
                let target = rng.vec(net.output_size(), 1.0);
                let settled = net.solve(&x).unwrap();
                assert!(settled.spectral_radius > 0.05 && settled.spectral_radius < 1.0);
                let (_, descent) = net.loss_and_descent(&x, &target).unwrap();
                for (k, exact) in descent.iter().enumerate() {
                    let (rows, cols) = net.projections[k].weights.shape();
                    let fd = descent_by_differences(rows, cols, h, |i, j, d| {
                        let w0 = net.projections[k].weights[(i, j)];
                        net.projections[k].weights[(i, j)] = w0 + d;
                        let loss = net.loss_and_descent(&x, &target).unwrap().0;
                        net.projections[k].weights[(i, j)] = w0;
                        loss
                    });
                    let rel = (&fd - exact).norm() / exact.norm();
                    assert!(rel < 1e-6, "{act}, seed {seed}, projection {k}: {rel:e}");
                }
            }
        }
    }

    /// x → h (linear, with h → h and y → h), h → y (linear): z* = (I − A)⁻¹ c, and
    /// −∂L/∂A = (I − A)⁻ᵀ Pᵀ e z*ᵀ, −∂L/∂W_in = (I − A)⁻ᵀ Pᵀ e xᵀ in closed form.
    #[test]
    fn linear_loop_matches_the_closed_form() {
        let mut rng = Rng(42);
        let (nx, nh, ny) = (3, 4, 2);
        let w_in = rng.matrix(nh, nx, 1.0);
        let w_hh = rng.matrix(nh, nh, 0.3);
        let w_hy = rng.matrix(ny, nh, 0.5);
        let w_yh = rng.matrix(nh, ny, 0.5);
        let (bh, by) = (rng.vec(nh, 0.5), rng.vec(ny, 0.5));
        let net = FixedPoint::new(
            vec![
                FfPopulation::input(nx),
                FfPopulation::computed(Activation::Linear, bh.clone()),
                FfPopulation::computed(Activation::Linear, by.clone()),
            ],
            vec![
                proj(0, 1, w_in.clone(), 1.0),
                proj(1, 1, w_hh.clone(), 1.0),
                proj(1, 2, w_hy.clone(), 1.0),
                proj(2, 1, w_yh.clone(), -1.0),
            ],
            2,
        )
        .unwrap();
        let x = DVector::from_vec(rng.vec(nx, 1.0));
        let target = DVector::from_vec(rng.vec(ny, 1.0));
        // The whole system over (h, y).
        let n = nh + ny;
        let mut a = DMatrix::zeros(n, n);
        a.view_mut((0, 0), (nh, nh)).copy_from(&w_hh);
        a.view_mut((nh, 0), (ny, nh)).copy_from(&w_hy);
        a.view_mut((0, nh), (nh, ny)).copy_from(&(-&w_yh));
        let mut c = DVector::zeros(n);
        c.rows_mut(0, nh)
            .copy_from(&(&w_in * &x + DVector::from_vec(bh)));
        c.rows_mut(nh, ny).copy_from(&DVector::from_vec(by));
        let inv = (DMatrix::identity(n, n) - &a).try_inverse().unwrap();
        let z = &inv * &c;
        let settled = net.solve(x.as_slice()).unwrap();
        for (got, want) in settled.states[1]
            .1
            .iter()
            .chain(&settled.states[2].1)
            .zip(z.iter())
        {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        let e = &target - z.rows(nh, ny);
        let mut pe = DVector::zeros(n);
        pe.rows_mut(nh, ny).copy_from(&e);
        let mu = inv.transpose() * pe;
        let (loss, descent) = net
            .loss_and_descent(x.as_slice(), target.as_slice())
            .unwrap();
        assert!((loss - 0.5 * e.norm_squared()).abs() < 1e-12);
        let want_in = mu.rows(0, nh) * x.transpose();
        let want_hh = mu.rows(0, nh) * z.rows(0, nh).transpose();
        let want_hy = mu.rows(nh, ny) * z.rows(0, nh).transpose();
        let want_yh = -(mu.rows(0, nh) * z.rows(nh, ny).transpose());
        for (k, want) in [want_in, want_hh, want_hy, want_yh].iter().enumerate() {
            let err = (&descent[k] - want).norm() / want.norm();
            assert!(err < 1e-10, "projection {k}: {err:e}");
        }
    }

    /// Without loops the fixed point is the feed-forward steady state and the adjoint is
    /// backprop.
    #[test]
    fn without_loops_it_is_feed_forward_backprop() {
        let mut rng = Rng(7);
        let sizes = [3, 4, 3, 2];
        let acts = [Activation::Tanh, Activation::Sigmoid, Activation::Linear];
        let mut pops = vec![FfPopulation::input(sizes[0])];
        for (k, &n) in sizes[1..].iter().enumerate() {
            pops.push(FfPopulation::computed(acts[k], rng.vec(n, 0.5)));
        }
        let links = [
            (0, 1, 1.0),
            (1, 2, -1.0),
            (2, 3, 1.0),
            (0, 3, 0.5),
            (1, 3, 1.0),
        ];
        let projs: Vec<FfProjection> = links
            .iter()
            .map(|&(f, t, s)| proj(f, t, rng.matrix(sizes[t], sizes[f], 1.0), s))
            .collect();
        let ff = FeedForward::new(pops.clone(), projs.clone(), 3).unwrap();
        let fp = FixedPoint::new(pops, projs, 3).unwrap();
        let x = rng.vec(3, 1.0);
        let target = rng.vec(2, 1.0);
        let (l_ff, d_ff) = ff.loss_and_descent(&x, &target).unwrap();
        let (l_fp, d_fp) = fp.loss_and_descent(&x, &target).unwrap();
        assert!((l_ff - l_fp).abs() < 1e-14 * l_ff.max(1.0));
        for (a, b) in d_ff.iter().zip(&d_fp) {
            assert!((a - b).norm() < 1e-12 * b.norm().max(1e-3));
        }
        // A graph without loops has a nilpotent Jacobian (its computed eigenvalues are zero to
        // the cube root of rounding, a chain of three populations being a Jordan block of three).
        assert!(fp.solve(&x).unwrap().spectral_radius < 1e-4);
    }

    /// A self-loop of gain 1.5 has no fixed point: from rest with an input the iteration grows;
    /// without one it stays at the unstable point u = 0, which the spectral radius rejects.
    #[test]
    fn spectral_radius_above_one_has_no_fixed_point() {
        for act in [Activation::Linear, Activation::Tanh] {
            let net = FixedPoint::new(
                vec![
                    FfPopulation::input(1),
                    FfPopulation::computed(act, vec![0.0; 2]),
                ],
                vec![
                    proj(0, 1, DMatrix::from_element(2, 1, 1.0), 1.0),
                    proj(1, 1, DMatrix::identity(2, 2) * 1.5, 1.0),
                ],
                1,
            )
            .unwrap();
            match net.solve(&[0.0]) {
                Err(MeasureError::Unstable { spectral_radius }) => {
                    assert!((spectral_radius - 1.5).abs() < 1e-12)
                }
                other => panic!("{act}: {other:?}"),
            }
            let driven = net.solve(&[1.0]);
            match act {
                // u grows as 1.5ᵏ.
                Activation::Linear => assert!(
                    matches!(driven, Err(MeasureError::NotSettled { .. })),
                    "{driven:?}"
                ),
                // tanh saturates at a stable point (φ′ small there).
                _ => assert!(driven.unwrap().spectral_radius < 1.0),
            }
        }
        // A rotation by 90° with gain 1: the iteration cycles and never settles.
        let rot = DMatrix::from_row_slice(2, 2, &[0.0, -1.0, 1.0, 0.0]);
        let net = FixedPoint::new(
            vec![
                FfPopulation::input(2),
                FfPopulation::computed(Activation::Linear, vec![0.0; 2]),
            ],
            vec![
                proj(0, 1, DMatrix::identity(2, 2), 1.0),
                proj(1, 1, rot, 1.0),
            ],
            1,
        )
        .unwrap();
        assert!(matches!(
            net.solve(&[1.0, 0.0]),
            Err(MeasureError::NotSettled { .. })
        ));
    }
}
