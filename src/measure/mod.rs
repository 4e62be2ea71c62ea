//! The quantities an experimentalist reads off a run, as pure functions on plain numbers.
//!
//! Nothing here knows about time stepping or devices: the recorder hands in weight matrices,
//! accumulated updates and activities, and gets back the numbers that go into `metrics.csv`.
//! Every function returns `None` (or an error) instead of a number whenever its inputs do not define
//! one — mismatched shapes, an all-zero reference, a non-finite entry — so a meaningless reading is an
//! empty cell, never a silent 0° or a NaN that looks like data.
//!
//! Definitions (vectors `a`, `b` of equal length; matrices are compared as flattened vectors):
//! - **cosine** `cos(a, b) = ⟨a, b⟩ / (‖a‖ ‖b‖)`, clipped to `[−1, 1]`.
//! - **angle** `∠(a, b) = arccos(clip(cos(a, b), −1, 1))`, in degrees, in `[0, 180]`.
//! - **norm ratio** `‖a‖ / ‖b‖`.
//! - **weight alignment** of a feedback matrix `B` standing in for a forward matrix `W`:
//!   `(∠(B, Wᵀ), ‖B‖_F / ‖W‖_F)` (Akrout et al. 2019; BioTorch).
//! - **learning strength** `⟨ΔW, G⟩ / ‖G‖²`: the component of the update actually made along the
//!   ideal step `G`, in units of `G` (1 = the full ideal step, 0 = nothing useful, negative = uphill).
//! - **gradient / loss alignment** are angles between a rule's update and a backprop step; the
//!   backprop steps come from [`FeedForward`] (conventions in [`feedforward`]), or for a forward
//!   pathway with loops from [`FixedPoint`] (its fixed point and recurrent backpropagation).
//!
//! `‖·‖` is the Euclidean (for matrices, Frobenius) norm throughout.

pub mod decay_limit;
pub mod decay_rules;
pub mod feedforward;
pub mod fixed_point;
pub mod phase;
#[cfg(test)]
pub(crate) mod test_rng;

pub use feedforward::{FeedForward, FfPopulation, FfProjection, PopulationState};
pub use fixed_point::FixedPoint;

use nalgebra::DMatrix;
use thiserror::Error;

/// Why a [`FeedForward`] or [`FixedPoint`] network could not be built or evaluated.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum MeasureError {
    #[error("the network has no populations")]
    NoPopulations,
    #[error("output population {output} does not exist (there are {count} populations)")]
    OutputOutOfRange { output: usize, count: usize },
    #[error("the output population {output} is an input population")]
    OutputIsInput { output: usize },
    #[error(
        "projection {projection} ({from} → {to}) names a population that does not exist \
         (there are {count})"
    )]
    ProjectionOutOfRange {
        projection: usize,
        from: usize,
        to: usize,
        count: usize,
    },
    #[error(
        "projection {projection} goes from population {from} to {to}: populations must be in \
         topological order (every projection from a lower to a higher index)"
    )]
    NotTopological {
        projection: usize,
        from: usize,
        to: usize,
    },
    #[error("projection {projection} targets input population {to}, whose rate is clamped to x")]
    ProjectionIntoInput { projection: usize, to: usize },
    #[error(
        "projection {projection} has weights of shape {found:?}, expected {expected:?} \
         (target size × source size)"
    )]
    WeightShape {
        projection: usize,
        expected: (usize, usize),
        found: (usize, usize),
    },
    #[error("projection {projection} has a non-finite sign {sign}")]
    NonFiniteSign { projection: usize, sign: f64 },
    #[error("population {population} has {found} biases, expected {expected}")]
    BiasLength {
        population: usize,
        expected: usize,
        found: usize,
    },
    #[error("the input has {found} values, the input populations hold {expected}")]
    InputLength { expected: usize, found: usize },
    #[error("the target has {found} values, the output population has {expected}")]
    TargetLength { expected: usize, found: usize },
    #[error("the output error has {found} values, the output population has {expected}")]
    ErrorLength { expected: usize, found: usize },
    #[error("{found} activity vectors were given for {expected} populations")]
    PopulationCount { expected: usize, found: usize },
    #[error("population {population} was given {found} values, its size is {expected}")]
    PopulationLength {
        population: usize,
        expected: usize,
        found: usize,
    },
    /// A pathway with loops whose fixed-point iteration does not settle (oscillation, chaos,
    /// growth).
    #[error(
        "the fixed-point iteration did not settle (after {iterations} iterations the last step was {step:.3e})"
    )]
    NotSettled { iterations: usize, step: f64 },
    /// A pathway with loops that settles only on an unstable point.
    #[error("the Jacobian at the fixed point has spectral radius {spectral_radius:.4} ≥ 1")]
    Unstable { spectral_radius: f64 },
}

impl MeasureError {
    /// Whether it says that a pathway with loops has no fixed point (rather than that the
    /// network is malformed).
    pub fn no_fixed_point(&self) -> bool {
        matches!(
            self,
            MeasureError::NotSettled { .. } | MeasureError::Unstable { .. }
        )
    }
}

/// `⟨a, b⟩ / (‖a‖ ‖b‖)`, clipped to `[−1, 1]` (rounding can push it a hair outside).
///
/// `None` if the lengths differ, either vector is all zeros (this includes empty vectors), or any
/// entry is not finite.
pub fn cosine(a: &[f64], b: &[f64]) -> Option<f64> {
    let (ua, ub) = unit_pair(a, b)?;
    let dot: f64 = ua.zip(ub).map(|(x, y)| x * y).sum();
    Some(dot.clamp(-1.0, 1.0))
}

/// The angle between `a` and `b` in degrees, `arccos(clip(cos(a, b), −1, 1))`, in `[0, 180]`.
///
/// `None` exactly when [`cosine`] is `None`.
///
/// It is evaluated as `2·atan2(‖â − b̂‖, ‖â + b̂‖)` on the unit vectors `â`, `b̂`, which is the same
/// angle but keeps full precision near 0° and 180°, where `arccos` loses half the digits (a feedback
/// matrix equal to `Wᵀ` reads 0°, not 10⁻⁶°).
pub fn angle_deg(a: &[f64], b: &[f64]) -> Option<f64> {
    let (ua, ub) = unit_pair(a, b)?;
    let (mut diff_sq, mut sum_sq) = (0.0, 0.0);
    for (x, y) in ua.zip(ub) {
        diff_sq += (x - y) * (x - y);
        sum_sq += (x + y) * (x + y);
    }
    Some((2.0 * diff_sq.sqrt().atan2(sum_sq.sqrt())).to_degrees())
}

/// `‖a‖ / ‖b‖`.
///
/// `None` if the lengths differ (the ratio compares a matrix with the one it stands in for), `b` is
/// all zeros, any entry is not finite, or the ratio itself overflows. An all-zero `a` gives 0.
pub fn norm_ratio(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() {
        return None;
    }
    let na = ScaledNorm::of(a)?;
    let nb = ScaledNorm::of(b)?;
    if nb.is_zero() {
        return None;
    }
    if na.is_zero() {
        return Some(0.0);
    }
    finite((na.scale / nb.scale) * (na.norm_scaled / nb.norm_scaled))
}

/// Weight alignment of a feedback matrix `B` with the forward matrix `W` it stands in for:
/// `(angle in degrees between B and Wᵀ, ‖B‖_F / ‖W‖_F)`.
///
/// `B` must have shape `W.ncols() × W.nrows()` (it carries the error back along `W`). `None` on a shape
/// mismatch, or when either matrix is all zeros or has a non-finite entry.
pub fn weight_alignment(feedback: &DMatrix<f64>, forward: &DMatrix<f64>) -> Option<(f64, f64)> {
    if feedback.shape() != (forward.ncols(), forward.nrows()) {
        return None;
    }
    // Same shape and same (column-major) layout, so the flattened slices line up entry for entry.
    let forward_t = forward.transpose();
    let angle = angle_deg(feedback.as_slice(), forward_t.as_slice())?;
    let ratio = norm_ratio(feedback.as_slice(), forward_t.as_slice())?;
    Some((angle, ratio))
}

/// Learning strength `⟨ΔW, G⟩ / ‖G‖²` of an update `delta_w` against the ideal step `ideal_step = G`
/// (both flattened the same way).
///
/// `None` if the lengths differ, `G` is all zeros, any entry is not finite, or the result overflows.
/// A zero update gives 0.
pub fn learning_strength(delta_w: &[f64], ideal_step: &[f64]) -> Option<f64> {
    if delta_w.len() != ideal_step.len() {
        return None;
    }
    let nd = ScaledNorm::of(delta_w)?;
    let ng = ScaledNorm::of(ideal_step)?;
    if ng.is_zero() {
        return None;
    }
    if nd.is_zero() {
        return Some(0.0);
    }
    // ⟨d, g⟩/‖g‖² = (s_d / s_g) · ⟨d/s_d, g/s_g⟩ / ‖g/s_g‖², with every scaled entry in [−1, 1].
    let dot: f64 = delta_w
        .iter()
        .zip(ideal_step)
        .map(|(d, g)| (d / nd.scale) * (g / ng.scale))
        .sum();
    finite((nd.scale / ng.scale) * (dot / (ng.norm_scaled * ng.norm_scaled)))
}

/// A Euclidean norm kept as `scale · norm_scaled`, with `scale = max |vᵢ|`: dividing by the largest
/// entry first means squares can neither overflow (entries near 1e200) nor underflow to 0 (entries
/// near 1e−200), so the measures work at any magnitude a simulation produces.
#[derive(Clone, Copy)]
struct ScaledNorm {
    scale: f64,
    norm_scaled: f64,
}

impl ScaledNorm {
    /// `None` if any entry is not finite.
    fn of(v: &[f64]) -> Option<Self> {
        let mut scale = 0.0_f64;
        for &x in v {
            if !x.is_finite() {
                return None;
            }
            scale = scale.max(x.abs());
        }
        if scale == 0.0 {
            return Some(Self {
                scale: 0.0,
                norm_scaled: 0.0,
            });
        }
        let norm_scaled = v
            .iter()
            .map(|x| (x / scale) * (x / scale))
            .sum::<f64>()
            .sqrt();
        Some(Self { scale, norm_scaled })
    }

    fn is_zero(self) -> bool {
        self.scale == 0.0
    }

    /// The entries of `v` (the vector this norm was taken of) divided by its norm.
    fn unit<'a>(self, v: &'a [f64]) -> impl Iterator<Item = f64> + 'a {
        v.iter().map(move |x| (x / self.scale) / self.norm_scaled)
    }
}

/// The unit vectors of `a` and `b`, or `None` if they cannot both be formed with equal lengths.
fn unit_pair<'a>(
    a: &'a [f64],
    b: &'a [f64],
) -> Option<(
    impl Iterator<Item = f64> + 'a,
    impl Iterator<Item = f64> + 'a,
)> {
    if a.len() != b.len() {
        return None;
    }
    let na = ScaledNorm::of(a)?;
    let nb = ScaledNorm::of(b)?;
    if na.is_zero() || nb.is_zero() {
        return None;
    }
    Some((na.unit(a), nb.unit(b)))
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SQRT3: f64 = 1.732_050_807_568_877_2;

    #[test]
    fn known_angles() {
        let tol = 1e-12;
        assert_eq!(angle_deg(&[1.0, 2.0, -3.0], &[1.0, 2.0, -3.0]), Some(0.0));
        assert!((angle_deg(&[1.0, 0.0], &[0.0, 5.0]).unwrap() - 90.0).abs() < tol);
        assert!((angle_deg(&[1.0, 1.0], &[-2.0, -2.0]).unwrap() - 180.0).abs() < tol);
        assert!((angle_deg(&[1.0, 0.0], &[1.0, SQRT3]).unwrap() - 60.0).abs() < tol);
        assert!((angle_deg(&[1.0, 0.0], &[-1.0, SQRT3]).unwrap() - 120.0).abs() < tol);
    }

    #[test]
    fn known_cosines() {
        let a = [0.3, -1.7, 2.2, 1e-3];
        assert!((cosine(&a, &a).unwrap() - 1.0).abs() < 1e-15);
        assert!((cosine(&a, &a.map(|x| -3.0 * x)).unwrap() + 1.0).abs() < 1e-15);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).unwrap().abs() < 1e-15);
        assert!((cosine(&[1.0, 0.0], &[1.0, SQRT3]).unwrap() - 0.5).abs() < 1e-15);
        // Extreme magnitudes neither overflow nor underflow.
        assert!((cosine(&[1e200, 1e200], &[1e-200, 0.0]).unwrap() - 0.5_f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn undefined_inputs_give_none() {
        assert_eq!(cosine(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), None);
        assert_eq!(cosine(&[], &[]), None);
        assert_eq!(cosine(&[f64::NAN, 1.0], &[1.0, 2.0]), None);
        assert_eq!(cosine(&[f64::INFINITY, 1.0], &[1.0, 2.0]), None);
        assert_eq!(angle_deg(&[1.0, 2.0], &[0.0, 0.0]), None);
        assert_eq!(angle_deg(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(norm_ratio(&[1.0, 2.0], &[0.0, 0.0]), None);
        assert_eq!(norm_ratio(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(norm_ratio(&[f64::NAN], &[1.0]), None);
        assert_eq!(norm_ratio(&[1e300], &[1e-300]), None); // overflows
        assert_eq!(learning_strength(&[1.0], &[0.0]), None);
        assert_eq!(learning_strength(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(learning_strength(&[f64::INFINITY], &[1.0]), None);
    }

    #[test]
    fn norm_ratios() {
        assert_eq!(norm_ratio(&[3.0, 4.0], &[0.0, 5.0]), Some(1.0));
        assert_eq!(norm_ratio(&[0.0, 0.0], &[0.0, 5.0]), Some(0.0));
        assert!((norm_ratio(&[6.0, 8.0], &[1.0, 0.0]).unwrap() - 10.0).abs() < 1e-14);
    }

    #[test]
    fn weight_alignment_known_answers() {
        let w = DMatrix::from_row_slice(2, 3, &[0.5, -1.0, 2.0, 0.25, 3.0, -0.75]);
        let (angle, ratio) = weight_alignment(&w.transpose(), &w).unwrap();
        assert_eq!(angle, 0.0);
        assert!((ratio - 1.0).abs() < 1e-15);
        let (angle, ratio) = weight_alignment(&(w.transpose() * -2.0), &w).unwrap();
        assert!((angle - 180.0).abs() < 1e-12);
        assert!((ratio - 2.0).abs() < 1e-14);
        // B of W's own shape (not transposed) is a caller error, even though the lengths match.
        assert_eq!(weight_alignment(&w, &w), None);
        assert_eq!(weight_alignment(&DMatrix::zeros(3, 2), &w), None);
        assert_eq!(
            weight_alignment(&DMatrix::zeros(0, 0), &DMatrix::zeros(0, 0)),
            None
        );
    }

    #[test]
    fn weight_alignment_is_not_fooled_by_layout() {
        // B = Wᵀ except for one entry: if B were compared with W (not Wᵀ) the angle would be large.
        let w = DMatrix::from_row_slice(2, 2, &[1.0, 5.0, -5.0, 1.0]);
        let (angle, _) = weight_alignment(&w.transpose(), &w).unwrap();
        assert_eq!(angle, 0.0);
        let (angle_wrong, _) = weight_alignment(&w, &w).unwrap();
        assert!(angle_wrong > 90.0);
    }

    #[test]
    fn learning_strength_known_answers() {
        let g = [0.4, -1.2, 3.0, 0.0, 2.5];
        assert!((learning_strength(&g, &g).unwrap() - 1.0).abs() < 1e-15);
        assert!((learning_strength(&g.map(|x| 0.25 * x), &g).unwrap() - 0.25).abs() < 1e-15);
        assert!((learning_strength(&g.map(|x| -2.0 * x), &g).unwrap() + 2.0).abs() < 1e-14);
        // (0, 0, 0, 7, 0) is orthogonal to g (g₃ = 0), and so is this mix: ⟨o, g⟩ = 1.2 − 1.2 = 0.
        let ortho = [3.0, 1.0, 0.0, 7.0, 0.0];
        assert!(learning_strength(&ortho, &g).unwrap().abs() < 1e-15);
        assert_eq!(learning_strength(&[0.0; 5], &g), Some(0.0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn angle_is_symmetric_bounded_and_scale_free(
            pair in (1usize..8).prop_flat_map(|n| (
                prop::collection::vec(-100.0..100.0_f64, n),
                prop::collection::vec(-100.0..100.0_f64, n),
            )),
            ka in 1e-3..1e3_f64,
            kb in 1e-3..1e3_f64,
        ) {
            let (a, b) = pair;
            prop_assume!(a.iter().any(|&x| x != 0.0) && b.iter().any(|&x| x != 0.0));
            let ab = angle_deg(&a, &b).unwrap();
            prop_assert_eq!(Some(ab), angle_deg(&b, &a));
            prop_assert!((0.0..=180.0).contains(&ab));
            let scaled_a: Vec<f64> = a.iter().map(|x| ka * x).collect();
            let scaled_b: Vec<f64> = b.iter().map(|x| kb * x).collect();
            let scaled = angle_deg(&scaled_a, &scaled_b).unwrap();
            prop_assert!((scaled - ab).abs() < 1e-9, "{} vs {}", scaled, ab);
            // Same angle as the arccos definition (loosely: arccos is the imprecise one).
            let via_acos = cosine(&a, &b).unwrap().acos().to_degrees();
            prop_assert!((via_acos - ab).abs() < 1e-5, "{} vs {}", via_acos, ab);
        }
    }
}
