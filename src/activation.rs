//! Pointwise activation functions `φ` of rate populations, and their derivatives `φ'`.
//!
//! A population's rate is `z = φ(u)` of its potential `u`. The simulator integrates this on the CPU and
//! through OpenCL, and the credit-assignment measurements back-propagate through the same `φ'` gains,
//! so both the value and the slope live here, generic over the float type (`f32` on devices, `f64` in
//! the reference and the measurements).
//!
//! Conventions that a user could otherwise guess wrong:
//! - `relu'(0) = 0` (the subgradient that keeps a silent unit silent).
//! - `softplus(u) = ln(1 + eᵘ)`, evaluated so that it neither overflows for large `u` nor rounds to 0
//!   for very negative `u`; its derivative is the logistic sigmoid.
//! - NaN in gives NaN out for every function, so a diverging run shows up instead of being clipped.

use num_traits::Float;
use std::fmt;

/// The activation function of a population, as circuit files name it (`activation: tanh`) and
/// as every backend and measurement evaluates it: the one type for both.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `φ(u) = u`.
    #[default]
    Linear,
    /// `φ(u) = tanh(u)`.
    Tanh,
    /// `φ(u) = max(0, u)`.
    Relu,
    /// `φ(u) = 1 / (1 + e⁻ᵘ)`.
    Sigmoid,
    /// `φ(u) = ln(1 + eᵘ)`.
    Softplus,
}

impl Activation {
    /// Every activation, in a fixed order (for sweeps and exhaustive tests).
    pub const ALL: [Activation; 5] = [
        Activation::Linear,
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Softplus,
    ];

    /// The name used in circuit files and tables: `"linear"`, `"tanh"`, `"relu"`, `"sigmoid"`,
    /// `"softplus"`.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Softplus => "softplus",
        }
    }

    /// The activation with this name; the inverse of [`Activation::name`]. ASCII case is ignored
    /// (`"Tanh"` is accepted), anything else is `None`.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
    }

    /// `φ(u)`.
    #[inline(always)]
    pub fn apply<T: Float>(self, u: T) -> T {
        match self {
            Activation::Linear => u,
            Activation::Tanh => u.tanh(),
            // Written as a comparison rather than `max` so that NaN propagates (`Float::max` drops it).
            Activation::Relu => {
                if u <= T::zero() {
                    T::zero()
                } else {
                    u
                }
            }
            Activation::Sigmoid => sigmoid(u),
            // ln(1 + eᵘ) = max(u, 0) + ln(1 + e^(−|u|)): the exponential never exceeds 1, so nothing
            // overflows, and ln_1p keeps the tiny tail e^u for very negative u instead of rounding it to 0.
            Activation::Softplus => {
                let positive_part = if u > T::zero() { u } else { T::zero() };
                positive_part + (-u.abs()).exp().ln_1p()
            }
        }
    }

    /// `φ'(u)`, with `relu'(0) = 0`.
    pub fn derivative<T: Float>(self, u: T) -> T {
        match self {
            Activation::Linear => T::one(),
            Activation::Tanh => {
                let t = u.tanh();
                T::one() - t * t
            }
            Activation::Relu => {
                if u.is_nan() {
                    u
                } else if u > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Activation::Sigmoid => {
                let s = sigmoid(u);
                s * (T::one() - s)
            }
            Activation::Softplus => sigmoid(u),
        }
    }
}

impl Activation {
    /// `φ'(u)` given also the rate `z = φ(u)` the engine already holds: for tanh `1 − z²`,
    /// which is exactly what [`Activation::derivative`] computes from `u` (the same `tanh(u)`,
    /// squared) without a second `tanh` — a quarter of a large tanh circuit's step was libm's
    /// `tanh`. Other functions take `u`, so a rate that is not yet `φ(u)` (a sigmoid
    /// population's zeroed start) cannot enter.
    #[inline(always)]
    pub fn derivative_at<T: Float>(self, u: T, z: T) -> T {
        match self {
            Activation::Tanh => T::one() - z * z,
            _ => self.derivative(u),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The logistic function, evaluated so that `e^x` is only taken for `x ≤ 0`: it cannot overflow, and
/// for very negative `u` the result keeps its relative accuracy instead of being `1 − 1`.
fn sigmoid<T: Float>(u: T) -> T {
    if u >= T::zero() {
        T::one() / (T::one() + (-u).exp())
    } else {
        // Also reached by NaN, which then propagates through exp.
        let e = u.exp();
        e / (T::one() + e)
    }
}

/// `tanh` in f32 as the CPU engine evaluates it: a rational function x·P(x²)/Q(x²) (degree 4
/// over 4 in x², fitted here to minimise the relative error on [0, 9]), the argument clamped to
/// ±9, where tanh rounds to ±1 in f32. Within 8 units in the last place of the true tanh
/// everywhere (tested), odd, never above 1 in magnitude, monotone up to that rounding, NaN in
/// gives NaN out. Unlike libm's `tanhf` (a branchy expm1 per call, a third of a large tanh
/// circuit's step) it is a handful of multiply-adds and one division, so the engine's unit loops
/// vectorise through it. f64 keeps libm's tanh: it is the reference.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    // The fitted values as printed by the fit; f32 keeps what it can of them.
    #[allow(clippy::excessive_precision)]
    const P: [f32; 5] = [
        1.0,
        1.338_101_3e-1,
        3.495_573_1e-3,
        2.060_884e-5,
        1.335_433_3e-8,
    ];
    #[allow(clippy::excessive_precision)]
    const Q: [f32; 5] = [
        1.0,
        4.671_432_8e-1,
        2.587_692_5e-2,
        3.285_610_5e-4,
        7.776_422_4e-7,
    ];
    // clamp, unlike min/max, passes NaN through.
    let x = x.clamp(-9.0, 9.0);
    let s = x * x;
    let p = (((P[4] * s + P[3]) * s + P[2]) * s + P[1]) * s + P[0];
    let q = (((Q[4] * s + Q[3]) * s + Q[2]) * s + Q[1]) * s + Q[0];
    (x * p / q).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn the_f32_tanh_is_within_8_ulp_odd_bounded_and_nearly_monotone() {
        let mut worst = 0.0_f64;
        let mut previous = -1.0_f32;
        // Every 2⁻¹⁴ on [−12, 12], and a log grid down to 1e-30 for the tiny arguments.
        let grid = (-12 * 16384..=12 * 16384).map(|k| k as f32 / 16384.0);
        let tiny = (0..3000).map(|k| 10f32.powf(-30.0 + k as f32 * 0.01));
        for x in grid.chain(tiny.clone().flat_map(|t| [t, -t])) {
            let r = tanh_f32(x);
            let exact = (x as f64).tanh();
            let ulp = (exact.abs() as f32).max(f32::MIN_POSITIVE);
            let ulp = (f32::from_bits(ulp.to_bits() + 1) - ulp) as f64;
            worst = worst.max((r as f64 - exact).abs() / ulp);
            assert!(r.abs() <= 1.0, "|tanh({x})| = {r} > 1");
            assert_eq!(tanh_f32(-x).to_bits(), (-r).to_bits(), "odd at {x}");
        }
        for x in (-12 * 16384..=12 * 16384).map(|k| k as f32 / 16384.0) {
            let r = tanh_f32(x);
            // Monotone up to its rounding (a few ulp below 1, where the fit wiggles).
            assert!(
                r >= previous - 5e-7,
                "not monotone at {x}: {r} < {previous}"
            );
            previous = r;
        }
        assert!(worst <= 8.0, "worst error {worst} ulp");
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh_f32(0.0), 0.0);
    }

    #[test]
    fn the_derivative_from_the_rate_is_bit_for_bit_the_derivative_from_u() {
        for a in Activation::ALL {
            for k in -400..=400 {
                let u = k as f64 * 0.0213;
                assert_eq!(
                    a.derivative_at(u, a.apply(u)).to_bits(),
                    a.derivative(u).to_bits(),
                    "{a} at {u}"
                );
                let u = u as f32;
                assert_eq!(
                    a.derivative_at(u, a.apply(u)).to_bits(),
                    a.derivative(u).to_bits(),
                    "{a} at {u} (f32)"
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for a in Activation::ALL {
            assert_eq!(Activation::from_name(a.name()), Some(a));
            assert_eq!(a.to_string(), a.name());
        }
        assert_eq!(Activation::from_name("TANH"), Some(Activation::Tanh));
        assert_eq!(Activation::from_name("gelu"), None);
        assert_eq!(Activation::from_name(""), None);
    }

    #[test]
    fn known_values() {
        let ln2 = std::f64::consts::LN_2;
        assert_eq!(Activation::Linear.apply(-2.5_f64), -2.5);
        assert_eq!(Activation::Tanh.apply(0.0_f64), 0.0);
        assert!(close(
            Activation::Tanh.apply(1.0_f64),
            0.761_594_155_955_764_9,
            1e-15
        ));
        assert_eq!(Activation::Relu.apply(-3.0_f64), 0.0);
        assert_eq!(Activation::Relu.apply(0.0_f64), 0.0);
        assert_eq!(Activation::Relu.apply(2.0_f64), 2.0);
        assert_eq!(Activation::Sigmoid.apply(0.0_f64), 0.5);
        assert!(close(
            Activation::Sigmoid.apply(2.0_f64),
            0.880_797_077_977_882_3,
            1e-15
        ));
        assert!(close(Activation::Softplus.apply(0.0_f64), ln2, 1e-15));
        assert!(close(
            Activation::Softplus.apply(1.0_f64),
            1.313_261_687_518_222_8,
            1e-15
        ));
        // Derivatives at known points.
        assert_eq!(Activation::Relu.derivative(0.0_f64), 0.0);
        assert_eq!(Activation::Relu.derivative(1e-300_f64), 1.0);
        assert_eq!(Activation::Sigmoid.derivative(0.0_f64), 0.25);
        assert_eq!(Activation::Softplus.derivative(0.0_f64), 0.5);
        assert_eq!(Activation::Tanh.derivative(0.0_f64), 1.0);
        assert_eq!(Activation::Linear.derivative(7.0_f64), 1.0);
        // The f32 path gives the same values to f32 precision.
        assert!((Activation::Softplus.apply(1.0_f32) - 1.313_261_7).abs() < 1e-6);
    }

    #[test]
    fn derivative_matches_central_difference() {
        let h = 1e-6;
        for a in Activation::ALL {
            for i in 0..=160 {
                let u = -8.0 + 0.1 * f64::from(i) + 0.013; // offset: never exactly on relu's kink
                let fd = (a.apply(u + h) - a.apply(u - h)) / (2.0 * h);
                let d = a.derivative(u);
                assert!(
                    (fd - d).abs() < 1e-8,
                    "{a}: u = {u}, finite difference {fd}, derivative {d}"
                );
            }
        }
    }

    #[test]
    fn stable_at_large_magnitudes() {
        for u in [50.0_f64, -50.0, 1000.0, -1000.0] {
            for a in Activation::ALL {
                assert!(a.apply(u).is_finite(), "{a}({u})");
                assert!(a.derivative(u).is_finite(), "{a}'({u})");
            }
        }
        // softplus(50) = 50 + ln(1 + e⁻⁵⁰), which is 50 in f64; softplus(−50) ≈ e⁻⁵⁰, not 0.
        let tail = (-50.0_f64).exp();
        assert_eq!(Activation::Softplus.apply(50.0_f64), 50.0);
        assert!(close(Activation::Softplus.apply(-50.0_f64), tail, 1e-12));
        assert_eq!(Activation::Softplus.apply(1000.0_f64), 1000.0);
        assert!(Activation::Softplus.apply(-1000.0_f64) >= 0.0);
        assert_eq!(Activation::Sigmoid.apply(50.0_f64), 1.0);
        assert!(close(Activation::Sigmoid.apply(-50.0_f64), tail, 1e-12));
        assert!(close(
            Activation::Sigmoid.derivative(-50.0_f64),
            tail,
            1e-12
        ));
        assert!(close(
            Activation::Softplus.derivative(-50.0_f64),
            tail,
            1e-12
        ));
        assert_eq!(Activation::Sigmoid.apply(-1000.0_f64), 0.0);
        // f32 overflows e^u already at u ≈ 89.
        assert_eq!(Activation::Softplus.apply(200.0_f32), 200.0);
        assert_eq!(Activation::Sigmoid.apply(-200.0_f32), 0.0);
    }

    #[test]
    fn nan_propagates() {
        for a in Activation::ALL {
            assert!(a.apply(f64::NAN).is_nan(), "{a}");
            if a != Activation::Linear {
                assert!(a.derivative(f64::NAN).is_nan(), "{a}'");
            }
        }
    }
}
