//! A steady-state feed-forward network with exact backprop: the reference that gradient alignment
//! and loss alignment compare a learning rule's update against.
//!
//! The simulator's forward pathway is a set of rate populations joined by projections. With the
//! plasticity and the feedback pathway switched off and the dynamics settled, each population sits at
//!
//! ```text
//! u_p = Σ_{projections q→p} sign · W · z_q + b_p,      z_p = φ_p(u_p),
//! ```
//!
//! and input populations are clamped, `z_p = u_p = x_p`. [`FeedForward`] evaluates that map, the loss
//! `L = ½ ‖y* − z_out‖²` at one output population, and its exact gradient.
//!
//! Backward convention (fixed; the alignment measures depend on it). With `e = y* − z_out = −∂L/∂z_out`:
//!
//! ```text
//! δ_out = φ'_out(u_out) ⊙ e
//! δ_p   = φ'_p(u_p) ⊙ Σ_{projections p→q} sign · Wᵀ δ_q      (every other non-input population)
//! δ_p   = 0                                                 (input populations)
//! −∂L/∂W = sign · δ_q z_pᵀ                                  (projection p→q)
//! ```
//!
//! so `δ_p = −∂L/∂u_p`; with a linear output `δ_out = e`. Populations that do not lead to the output
//! (including any downstream of it) get `δ = 0`, and the output's own `δ` ignores its outgoing
//! projections, since `L` depends on `z_out` alone.
//!
//! [`FeedForward::backward`] and [`FeedForward::descent`] take the potentials, rates and output error
//! from the caller, so the gradient-alignment measure can feed in instantaneous values from a running
//! simulation ("what backprop would have done from these activities") rather than the steady state.
//!
//! The fields are public so that a circuit can be mirrored directly, and every method re-checks them
//! (a few comparisons per projection) so that a network edited after [`FeedForward::new`] returns an
//! error instead of panicking.

use super::MeasureError;
use crate::activation::Activation;
use nalgebra::{DMatrix, DVectorView, DVectorViewMut};

/// One population of a [`FeedForward`] network.
#[derive(Clone, Debug, PartialEq)]
pub struct FfPopulation {
    /// Number of units.
    pub size: usize,
    /// `φ` of the population (ignored for input populations).
    pub activation: Activation,
    /// `b_p`, one per unit. Input populations have no bias: theirs must be empty or of length `size`
    /// and is ignored.
    pub bias: Vec<f64>,
    /// Input populations are clamped to their slice of `x`.
    pub is_input: bool,
}

impl FfPopulation {
    /// An input population of `size` units.
    pub fn input(size: usize) -> Self {
        Self {
            size,
            activation: Activation::Linear,
            bias: Vec::new(),
            is_input: true,
        }
    }

    /// A computed population with the given activation and bias (`size = bias.len()`).
    pub fn computed(activation: Activation, bias: Vec<f64>) -> Self {
        Self {
            size: bias.len(),
            activation,
            bias,
            is_input: false,
        }
    }
}

/// One projection `from → to` of a [`FeedForward`] network, contributing `sign · W z_from` to `u_to`.
#[derive(Clone, Debug, PartialEq)]
pub struct FfProjection {
    /// Index of the source population.
    pub from: usize,
    /// Index of the target population; must be greater than `from`.
    pub to: usize,
    /// `W`, of shape `populations[to].size × populations[from].size`.
    pub weights: DMatrix<f64>,
    /// Fixed multiplier of the projection (`+1` excitatory, `−1` inhibitory, as in circuit files).
    pub sign: f64,
}

/// A feed-forward network in steady state; see the [module docs](self) for the equations.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedForward {
    /// Populations in topological order: every projection goes from a lower to a higher index.
    pub populations: Vec<FfPopulation>,
    pub projections: Vec<FfProjection>,
    /// Index of the population the loss is taken at.
    pub output: usize,
}

/// `(u, z)` of one population.
pub type PopulationState = (Vec<f64>, Vec<f64>);

impl FeedForward {
    /// Builds the network after checking that populations are in topological order, every weight
    /// matrix and bias has the right shape, no projection targets an input population, and the
    /// output exists and is not an input.
    pub fn new(
        populations: Vec<FfPopulation>,
        projections: Vec<FfProjection>,
        output: usize,
    ) -> Result<Self, MeasureError> {
        let net = Self {
            populations,
            projections,
            output,
        };
        net.validate()?;
        Ok(net)
    }

    /// Length of `x`: the sizes of the input populations, added up in index order.
    pub fn input_size(&self) -> usize {
        self.populations
            .iter()
            .filter(|p| p.is_input)
            .map(|p| p.size)
            .sum()
    }

    /// Size of the output population (0 if `output` does not name one).
    pub fn output_size(&self) -> usize {
        self.populations.get(self.output).map_or(0, |p| p.size)
    }

    /// The steady state for input `x`: `(u_p, z_p)` for every population, in population order.
    ///
    /// `x` is the concatenation of the input populations' values, in population order; an input
    /// population gets `u = z = x_p`.
    pub fn forward(&self, x: &[f64]) -> Result<Vec<PopulationState>, MeasureError> {
        self.validate()?;
        let expected = self.input_size();
        if x.len() != expected {
            return Err(MeasureError::InputLength {
                expected,
                found: x.len(),
            });
        }
        let mut states: Vec<PopulationState> = Vec::with_capacity(self.populations.len());
        let mut x_rest = x;
        for (p, pop) in self.populations.iter().enumerate() {
            if pop.is_input {
                let (x_p, rest) = x_rest.split_at(pop.size);
                x_rest = rest;
                states.push((x_p.to_vec(), x_p.to_vec()));
                continue;
            }
            let mut u = pop.bias.clone();
            for proj in self.projections.iter().filter(|proj| proj.to == p) {
                // Topological order: the source's rate is already in `states`.
                let z_from = &states[proj.from].1;
                DVectorViewMut::from_slice(&mut u, pop.size).gemv(
                    proj.sign,
                    &proj.weights,
                    &DVectorView::from_slice(z_from, z_from.len()),
                    1.0,
                );
            }
            let z = u.iter().map(|&u_i| pop.activation.apply(u_i)).collect();
            states.push((u, z));
        }
        Ok(states)
    }

    /// The loss `L = ½ ‖y* − z_out‖²` at the steady state for input `x` and target `y* = target`,
    /// and for every projection (in order) the descent direction `−∂L/∂W`, shaped like `W`.
    pub fn loss_and_descent(
        &self,
        x: &[f64],
        target: &[f64],
    ) -> Result<(f64, Vec<DMatrix<f64>>), MeasureError> {
        let states = self.forward(x)?;
        let (u, z): (Vec<Vec<f64>>, Vec<Vec<f64>>) = states.into_iter().unzip();
        let z_out = &z[self.output];
        if target.len() != z_out.len() {
            return Err(MeasureError::TargetLength {
                expected: z_out.len(),
                found: target.len(),
            });
        }
        let e_out: Vec<f64> = target.iter().zip(z_out).map(|(t, y)| t - y).collect();
        let loss = 0.5 * e_out.iter().map(|e| e * e).sum::<f64>();
        let delta = self.backward(&u, &e_out)?;
        let descent = self.descent(&z, &delta)?;
        Ok((loss, descent))
    }

    /// `δ_p = −∂L/∂u_p` for every population, back-propagated from the potentials `u` (one vector
    /// per population, e.g. instantaneous values from a running simulation) and the output error
    /// `e_out = −∂L/∂z_out` (for the squared loss, `y* − z_out`). See the module docs for the exact
    /// convention; input populations get zeros. `u` of an input population is not used but must still
    /// have the population's size.
    pub fn backward(&self, u: &[Vec<f64>], e_out: &[f64]) -> Result<Vec<Vec<f64>>, MeasureError> {
        self.validate()?;
        self.check_per_population(u)?;
        let expected = self.output_size();
        if e_out.len() != expected {
            return Err(MeasureError::ErrorLength {
                expected,
                found: e_out.len(),
            });
        }
        let mut delta: Vec<Vec<f64>> = self.populations.iter().map(|p| vec![0.0; p.size]).collect();
        for (p, pop) in self.populations.iter().enumerate().rev() {
            if pop.is_input {
                continue;
            }
            let mut back = if p == self.output {
                e_out.to_vec()
            } else {
                let mut acc = vec![0.0; pop.size];
                for proj in self.projections.iter().filter(|proj| proj.from == p) {
                    // Reverse topological order: δ of every target is final by now.
                    let delta_to = &delta[proj.to];
                    DVectorViewMut::from_slice(&mut acc, pop.size).gemv_tr(
                        proj.sign,
                        &proj.weights,
                        &DVectorView::from_slice(delta_to, delta_to.len()),
                        1.0,
                    );
                }
                acc
            };
            for (b, &u_i) in back.iter_mut().zip(&u[p]) {
                *b *= pop.activation.derivative(u_i);
            }
            delta[p] = back;
        }
        Ok(delta)
    }

    /// The weight step of every projection `p→q` (in order), `sign · δ_q z_pᵀ`, from given rates `z`
    /// and deltas `delta` (one vector per population each). With the steady-state rates and the
    /// output of [`FeedForward::backward`] this is `−∂L/∂W`.
    pub fn descent(
        &self,
        z: &[Vec<f64>],
        delta: &[Vec<f64>],
    ) -> Result<Vec<DMatrix<f64>>, MeasureError> {
        self.validate()?;
        self.check_per_population(z)?;
        self.check_per_population(delta)?;
        Ok(self
            .projections
            .iter()
            .map(|proj| {
                let (d_to, z_from) = (&delta[proj.to], &z[proj.from]);
                DMatrix::from_fn(d_to.len(), z_from.len(), |i, j| {
                    proj.sign * d_to[i] * z_from[j]
                })
            })
            .collect())
    }

    /// Checks that `v` has one vector per population, of that population's size.
    fn check_per_population(&self, v: &[Vec<f64>]) -> Result<(), MeasureError> {
        if v.len() != self.populations.len() {
            return Err(MeasureError::PopulationCount {
                expected: self.populations.len(),
                found: v.len(),
            });
        }
        for (population, (pop, v_p)) in self.populations.iter().zip(v).enumerate() {
            if v_p.len() != pop.size {
                return Err(MeasureError::PopulationLength {
                    population,
                    expected: pop.size,
                    found: v_p.len(),
                });
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), MeasureError> {
        check_network(&self.populations, &self.projections, self.output, true)
    }
}

/// Checks a network's shapes: populations exist, the output is one and not an input, biases and
/// weight matrices have their populations' sizes, no projection targets an input population, signs
/// are finite; with `topological`, also that every projection goes from a lower to a higher index.
/// Shared by [`FeedForward`] and the recurrent [`super::FixedPoint`].
pub(super) fn check_network(
    populations: &[FfPopulation],
    projections: &[FfProjection],
    output: usize,
    topological: bool,
) -> Result<(), MeasureError> {
    let count = populations.len();
    if count == 0 {
        return Err(MeasureError::NoPopulations);
    }
    let Some(out) = populations.get(output) else {
        return Err(MeasureError::OutputOutOfRange { output, count });
    };
    if out.is_input {
        return Err(MeasureError::OutputIsInput { output });
    }
    for (population, pop) in populations.iter().enumerate() {
        let bias_ok = pop.bias.len() == pop.size || (pop.is_input && pop.bias.is_empty());
        if !bias_ok {
            return Err(MeasureError::BiasLength {
                population,
                expected: pop.size,
                found: pop.bias.len(),
            });
        }
    }
    for (projection, proj) in projections.iter().enumerate() {
        let (from, to) = (proj.from, proj.to);
        if from >= count || to >= count {
            return Err(MeasureError::ProjectionOutOfRange {
                projection,
                from,
                to,
                count,
            });
        }
        if topological && from >= to {
            return Err(MeasureError::NotTopological {
                projection,
                from,
                to,
            });
        }
        if populations[to].is_input {
            return Err(MeasureError::ProjectionIntoInput { projection, to });
        }
        let expected = (populations[to].size, populations[from].size);
        if proj.weights.shape() != expected {
            return Err(MeasureError::WeightShape {
                projection,
                expected,
                found: proj.weights.shape(),
            });
        }
        if !proj.sign.is_finite() {
            return Err(MeasureError::NonFiniteSign {
                projection,
                sign: proj.sign,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::measure::test_rng::{Rng, descent_by_differences};

    fn proj(from: usize, to: usize, weights: DMatrix<f64>, sign: f64) -> FfProjection {
        FfProjection {
            from,
            to,
            weights,
            sign,
        }
    }

    /// Two input populations, three hidden layers (tanh, sigmoid, softplus), skip projections, mixed
    /// signs, and the given output activation.
    fn random_net(rng: &mut Rng, output_activation: Activation) -> FeedForward {
        let sizes = [3, 2, 4, 4, 3, 2];
        let populations = vec![
            FfPopulation::input(sizes[0]),
            FfPopulation::input(sizes[1]),
            FfPopulation::computed(Activation::Tanh, rng.vec(sizes[2], 0.5)),
            FfPopulation::computed(Activation::Sigmoid, rng.vec(sizes[3], 0.5)),
            FfPopulation::computed(Activation::Softplus, rng.vec(sizes[4], 0.5)),
            FfPopulation::computed(output_activation, rng.vec(sizes[5], 0.5)),
        ];
        let links = [
            (0, 2, 1.0),
            (2, 3, 1.0),
            (1, 3, -1.0),
            (3, 4, 1.0),
            (2, 4, -1.0), // skips the sigmoid layer
            (4, 5, 1.0),
            (0, 5, 0.5), // input straight to the output
        ];
        let projections = links
            .iter()
            .map(|&(from, to, sign)| proj(from, to, rng.matrix(sizes[to], sizes[from], 1.0), sign))
            .collect();
        FeedForward::new(populations, projections, 5).unwrap()
    }

    #[test]
    fn descent_matches_finite_difference_of_loss() {
        let h = 1e-5;
        for (seed, out_act) in [
            (1, Activation::Linear),
            (2, Activation::Tanh),
            (3, Activation::Sigmoid),
        ] {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
            let mut net = random_net(&mut rng, out_act);
            let x = rng.vec(net.input_size(), 1.0);
            let target = rng.vec(net.output_size(), 1.0);
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
                assert!(
                    rel < 1e-6,
                    "{out_act} output, projection {k}: relative error {rel}"
                );
                for (a, b) in fd.iter().zip(exact.iter()) {
                    assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-3), "{a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn linear_single_layer_descent_is_error_times_input() {
        // Dyadic numbers: every product and sum below is exact, so the comparison can be exact too.
        let w = DMatrix::from_row_slice(2, 3, &[0.5, -0.25, 1.0, 0.75, 2.0, -1.5]);
        let net = FeedForward::new(
            vec![
                FfPopulation::input(3),
                FfPopulation::computed(Activation::Linear, vec![0.0; 2]),
            ],
            vec![proj(0, 1, w.clone(), 1.0)],
            1,
        )
        .unwrap();
        let x = nalgebra::DVector::from_vec(vec![1.0, -2.0, 0.5]);
        let y_star = nalgebra::DVector::from_vec(vec![0.25, -1.0]);
        let e = &y_star - &w * &x;
        let (loss, descent) = net
            .loss_and_descent(x.as_slice(), y_star.as_slice())
            .unwrap();
        assert_eq!(descent, vec![&e * x.transpose()]);
        assert_eq!(loss, 0.5 * e.norm_squared());
    }

    #[test]
    fn forward_clamps_inputs_and_sums_projections() {
        let net = FeedForward::new(
            vec![
                FfPopulation::input(1),
                FfPopulation::input(2),
                FfPopulation::computed(Activation::Relu, vec![0.5]),
            ],
            vec![
                proj(0, 2, DMatrix::from_element(1, 1, 2.0), 1.0),
                proj(1, 2, DMatrix::from_row_slice(1, 2, &[1.0, 1.0]), -1.0),
            ],
            2,
        )
        .unwrap();
        let states = net.forward(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!(states[0], (vec![3.0], vec![3.0]));
        assert_eq!(states[1], (vec![1.0, 2.0], vec![1.0, 2.0]));
        // u = 2·3 − (1 + 2) + 0.5
        assert_eq!(states[2], (vec![3.5], vec![3.5]));
        let states = net.forward(&[-3.0, 1.0, 2.0]).unwrap();
        assert_eq!(states[2], (vec![-8.5], vec![0.0]));
    }

    #[test]
    fn backward_follows_the_documented_convention() {
        // input(1) → hidden tanh(2) → output sigmoid(1), plus a population after the output.
        let w1 = DMatrix::from_row_slice(2, 1, &[1.0, -2.0]);
        let w2 = DMatrix::from_row_slice(1, 2, &[0.5, 3.0]);
        let net = FeedForward::new(
            vec![
                FfPopulation::input(1),
                FfPopulation::computed(Activation::Tanh, vec![0.0; 2]),
                FfPopulation::computed(Activation::Sigmoid, vec![0.0]),
                FfPopulation::computed(Activation::Linear, vec![0.0]),
            ],
            vec![
                proj(0, 1, w1, 1.0),
                proj(1, 2, w2, -1.0),
                proj(2, 3, DMatrix::from_element(1, 1, 4.0), 1.0),
            ],
            2,
        )
        .unwrap();
        // Arbitrary potentials, not the steady state of any input.
        let u = vec![vec![9.0], vec![0.3, -0.7], vec![0.2], vec![5.0]];
        let e = [0.6];
        let delta = net.backward(&u, &e).unwrap();
        let d_out = Activation::Sigmoid.derivative(0.2) * 0.6;
        assert_eq!(delta[2], vec![d_out]);
        let d_h = [
            Activation::Tanh.derivative(0.3) * (-0.5 * d_out),
            Activation::Tanh.derivative(-0.7) * (-3.0 * d_out),
        ];
        for (got, want) in delta[1].iter().zip(d_h) {
            assert!((got - want).abs() < 1e-15);
        }
        assert_eq!(delta[0], vec![0.0]);
        assert_eq!(delta[3], vec![0.0]);

        // With a linear output, δ_out is the error itself.
        let mut linear = net.clone();
        linear.populations[2].activation = Activation::Linear;
        assert_eq!(linear.backward(&u, &e).unwrap()[2], vec![0.6]);

        // descent = sign · δ_to z_fromᵀ from whatever rates are given.
        let z = vec![vec![2.0], vec![1.0, -1.0], vec![0.5], vec![0.0]];
        let steps = net.descent(&z, &delta).unwrap();
        assert_eq!(steps[1], DMatrix::from_row_slice(1, 2, &[-d_out, d_out]));
        assert_eq!(steps[2], DMatrix::zeros(1, 1));
    }

    #[test]
    fn construction_errors() {
        let hidden = || FfPopulation::computed(Activation::Tanh, vec![0.0; 2]);
        let pops = || vec![FfPopulation::input(3), hidden(), hidden()];
        let ok = || {
            vec![
                proj(0, 1, DMatrix::zeros(2, 3), 1.0),
                proj(1, 2, DMatrix::zeros(2, 2), 1.0),
            ]
        };
        assert!(FeedForward::new(pops(), ok(), 2).is_ok());
        assert_eq!(
            FeedForward::new(vec![], vec![], 0),
            Err(MeasureError::NoPopulations)
        );
        assert!(matches!(
            FeedForward::new(pops(), ok(), 3),
            Err(MeasureError::OutputOutOfRange { .. })
        ));
        assert!(matches!(
            FeedForward::new(pops(), ok(), 0),
            Err(MeasureError::OutputIsInput { .. })
        ));
        let mut backwards = ok();
        backwards[1] = proj(2, 1, DMatrix::zeros(2, 2), 1.0);
        assert!(matches!(
            FeedForward::new(pops(), backwards, 2),
            Err(MeasureError::NotTopological { .. })
        ));
        let mut self_loop = ok();
        self_loop[1] = proj(1, 1, DMatrix::zeros(2, 2), 1.0);
        assert!(matches!(
            FeedForward::new(pops(), self_loop, 2),
            Err(MeasureError::NotTopological { .. })
        ));
        let mut missing = ok();
        missing[1].to = 7;
        assert!(matches!(
            FeedForward::new(pops(), missing, 2),
            Err(MeasureError::ProjectionOutOfRange { .. })
        ));
        let mut transposed = ok();
        transposed[0].weights = DMatrix::zeros(3, 2);
        assert_eq!(
            FeedForward::new(pops(), transposed, 2),
            Err(MeasureError::WeightShape {
                projection: 0,
                expected: (2, 3),
                found: (3, 2)
            })
        );
        let mut bad_sign = ok();
        bad_sign[0].sign = f64::NAN;
        assert!(matches!(
            FeedForward::new(pops(), bad_sign, 2),
            Err(MeasureError::NonFiniteSign { .. })
        ));
        let mut bad_bias = pops();
        bad_bias[1].bias.push(1.0);
        assert!(matches!(
            FeedForward::new(bad_bias, ok(), 2),
            Err(MeasureError::BiasLength { population: 1, .. })
        ));
        let into_input = vec![FfPopulation::input(2), FfPopulation::input(2), hidden()];
        assert!(matches!(
            FeedForward::new(into_input, vec![proj(0, 1, DMatrix::zeros(2, 2), 1.0)], 2),
            Err(MeasureError::ProjectionIntoInput { .. })
        ));
    }

    #[test]
    fn evaluation_shape_errors() {
        let net = random_net(&mut Rng(7), Activation::Linear);
        let x = vec![0.1; net.input_size()];
        let target = vec![0.0; net.output_size()];
        assert!(matches!(
            net.forward(&x[1..]),
            Err(MeasureError::InputLength { .. })
        ));
        assert!(matches!(
            net.loss_and_descent(&x, &[0.0]),
            Err(MeasureError::TargetLength { .. })
        ));
        let u: Vec<Vec<f64>> = net.forward(&x).unwrap().into_iter().map(|s| s.0).collect();
        assert!(net.backward(&u, &target).is_ok());
        assert!(matches!(
            net.backward(&u, &[0.0; 5]),
            Err(MeasureError::ErrorLength { .. })
        ));
        assert!(matches!(
            net.backward(&u[1..], &target),
            Err(MeasureError::PopulationCount { .. })
        ));
        let mut short = u.clone();
        short[3].pop();
        assert!(matches!(
            net.backward(&short, &target),
            Err(MeasureError::PopulationLength { population: 3, .. })
        ));
        assert!(matches!(
            net.descent(&u, &short),
            Err(MeasureError::PopulationLength { population: 3, .. })
        ));
        // Public fields edited after construction are re-checked rather than trusted.
        let mut edited = net.clone();
        edited.projections[0].weights = DMatrix::zeros(1, 1);
        assert!(matches!(
            edited.forward(&x),
            Err(MeasureError::WeightShape { .. })
        ));
    }
}
