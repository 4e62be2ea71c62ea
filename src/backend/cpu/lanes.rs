//! The floating-point type of the CPU backend and small lane-wise helpers.

use crate::activation::Activation;
use crate::simd::Simd;
use num_traits::Float;
use std::fmt::Debug;
use std::ops::{AddAssign, MulAssign, SubAssign};

pub trait Real:
    Float
    + Default
    + Debug
    + Send
    + Sync
    + AddAssign
    + SubAssign
    + MulAssign
    + crate::backend::state::Field
    + 'static
{
    const NAME: &'static str;
    const PRECISION: crate::backend::Precision;
    fn of(value: f64) -> Self;
    fn f64(self) -> f64;
    /// tanh as the engine evaluates it (see [`rate`]).
    fn engine_tanh(self) -> Self;
    /// The noise normals of `K` Philox outputs in this precision (`crate::normals`).
    fn noise_normals<const K: usize>(words: [[u32; K]; 4]) -> [[Self; K]; 4];
}

impl Real for f64 {
    const NAME: &'static str = "f64";
    const PRECISION: crate::backend::Precision = crate::backend::Precision::F64;
    #[inline(always)]
    fn of(value: f64) -> Self {
        value
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn engine_tanh(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn noise_normals<const K: usize>(words: [[u32; K]; 4]) -> [[Self; K]; 4] {
        crate::normals::box_muller_lanes(words)
    }
}

impl Real for f32 {
    const NAME: &'static str = "f32";
    const PRECISION: crate::backend::Precision = crate::backend::Precision::F32;
    #[inline(always)]
    fn of(value: f64) -> Self {
        value as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn engine_tanh(self) -> Self {
        crate::activation::tanh_f32(self)
    }
    #[inline(always)]
    fn noise_normals<const K: usize>(words: [[u32; K]; 4]) -> [[Self; K]; 4] {
        crate::normals::box_muller_lanes_f32(words)
    }
}

/// `L` zeros.
#[inline(always)]
pub fn zeros<T: Real, const L: usize>() -> [T; L] {
    [T::zero(); L]
}

/// A per-lane parameter array from per-instance values (padding lanes repeat the block's
/// first instance so they stay finite).
pub fn lanes_of<T: Real, const L: usize>(values: &[f64], first: usize, active: usize) -> [T; L] {
    std::array::from_fn(|l| T::of(values[first + if l < active { l } else { 0 }]))
}

/// φ(u) as the engine evaluates it: `Activation::apply`, except f32 tanh, which goes through the
/// vectorisable [`crate::activation::tanh_f32`] (f64 keeps libm's tanh, the reference).
#[inline(always)]
pub fn rate<T: Real>(act: Activation, u: T) -> T {
    match act {
        Activation::Tanh => u.engine_tanh(),
        _ => act.apply(u),
    }
}

/// z = φ(u) for every unit and lane, as [`rate`] evaluates it, with the activation chosen once
/// per call rather than per element (a match inside the lane loop kept it scalar).
pub fn apply_rates<T: Real, const L: usize>(
    simd: Simd,
    act: Activation,
    u: &[[T; L]],
    z: &mut [[T; L]],
) {
    simd.run(
        #[inline(always)]
        || apply_rates_on_level(act, u, z),
    )
}

#[inline(always)]
fn apply_rates_on_level<T: Real, const L: usize>(act: Activation, u: &[[T; L]], z: &mut [[T; L]]) {
    #[inline(always)]
    fn map<T: Real, const L: usize>(u: &[[T; L]], z: &mut [[T; L]], f: impl Fn(T) -> T) {
        for (zi, ui) in z.iter_mut().zip(u) {
            let v = *ui;
            let mut out = v;
            for l in 0..L {
                out[l] = f(v[l]);
            }
            *zi = out;
        }
    }
    match act {
        Activation::Linear => map(u, z, |v| v),
        Activation::Tanh => map(u, z, |v| v.engine_tanh()),
        Activation::Relu => map(u, z, |v| Activation::Relu.apply(v)),
        Activation::Sigmoid => map(u, z, |v| Activation::Sigmoid.apply(v)),
        Activation::Softplus => map(u, z, |v| Activation::Softplus.apply(v)),
    }
}
