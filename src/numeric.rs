//! Sums in a fixed order that the CPU engine and the host-side measurements share, so a
//! product computed on the host (the held-out forward pass) rounds exactly as the engine's.

use num_traits::Float;
use std::ops::AddAssign;

/// The independent partial sums of `dot` (the CPU's sparse layout repeats its order).
pub const DOT_PARTIALS: usize = 16;

/// Σ a_k b_k with 16 independent partial sums, so the loop vectorises without reassociation
/// by the compiler.
#[inline(always)]
pub fn dot<T: Float + AddAssign>(a: &[T], b: &[T]) -> T {
    debug_assert_eq!(a.len(), b.len(), "dot of slices of different lengths");
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    if n < DOT_PARTIALS {
        // No full chunk: the partial sums would all be zero, so this is the same sum without
        // reducing sixteen zeros (a 1000 × 10 matrix's rows are all this short).
        let mut sum = T::zero();
        for (x, y) in a.iter().zip(b) {
            sum += *x * *y;
        }
        return sum;
    }
    let mut partial = [T::zero(); DOT_PARTIALS];
    let (ac, bc) = (a.chunks_exact(DOT_PARTIALS), b.chunks_exact(DOT_PARTIALS));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for k in 0..DOT_PARTIALS {
            partial[k] += x[k] * y[k];
        }
    }
    let mut sum = partial.iter().fold(T::zero(), |s, v| s + *v);
    for (x, y) in ar.iter().zip(br) {
        sum += *x * *y;
    }
    sum
}
