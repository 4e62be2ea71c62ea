//! A small deterministic generator for the measurement tests (xorshift64*), so random test
//! networks need no RNG crate and are the same on every machine.

use nalgebra::DMatrix;

pub(crate) struct Rng(pub u64);

impl Rng {
    /// Uniform in [−1, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        2.0 * (bits as f64 / (1u64 << 53) as f64) - 1.0
    }

    pub fn vec(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| scale * self.uniform()).collect()
    }

    pub fn matrix(&mut self, rows: usize, cols: usize, scale: f64) -> DMatrix<f64> {
        DMatrix::from_fn(rows, cols, |_, _| scale * self.uniform())
    }
}

/// The central finite difference −(L(w + h) − L(w − h)) / 2h of a loss with respect to each
/// entry of a `rows` × `cols` weight matrix: `loss_moved(i, j, d)` adds `d` to entry (i, j),
/// returns the loss and puts the entry back. The sign makes it comparable with a descent
/// direction.
pub(crate) fn descent_by_differences(
    rows: usize,
    cols: usize,
    h: f64,
    mut loss_moved: impl FnMut(usize, usize, f64) -> f64,
) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |i, j| {
        -(loss_moved(i, j, h) - loss_moved(i, j, -h)) / (2.0 * h)
    })
}
