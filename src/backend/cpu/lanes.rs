//! The floating-point type of the CPU backend and small lane-wise helpers.

use num_traits::Float;
use std::fmt::Debug;
use std::ops::{AddAssign, MulAssign, SubAssign};

pub trait Real:
    Float + Default + Debug + Send + Sync + AddAssign + SubAssign + MulAssign + 'static
{
    const NAME: &'static str;
    const PRECISION: crate::backend::Precision;
    fn of(value: f64) -> Self;
    fn f64(self) -> f64;
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
