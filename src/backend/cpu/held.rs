//! Exact deferred updates for a projection whose input is held (see `Plan::held_input`).
//!
//! While x stays the same the matrix is W = G·W₀ + D xᵀ, where W₀ is the stored matrix, G the
//! retention accumulated since (g per step) and D a per-post vector (D ← g·D + a each step).
//! The forward current is G·(W₀x) + (xᵀx)·D, so a step costs O(post) instead of O(post × pre),
//! and the matrix is written once per stimulus, when x changes. Readers of the state (snapshots,
//! the trace of W[0,0]) compute the exact W without writing it, so the trajectory does not
//! depend on how often the state is read. The window accumulators are rank-one with the same x:
//! their per-post sums are spread over the matrix when the window is taken or x changes.
//!
//! With a mask M (`connectivity:`) the step-by-step matrix is W ← (g·W + a xᵀ) ⊙ M, so
//! W = G·W₀ + (D xᵀ) ⊙ M with W₀ masked, and its current is G·(W₀x)_i + D_i·Σ_j M_ij x_j²: the
//! masked squared norm is summed per row once per held input, a step still costs O(post), and
//! absent synapses are written (and read) as +0. The window accumulators stay unmasked, as the
//! step-by-step update sums them before its mask.

// Lane loops index several arrays by the same lane, the shape the compiler vectorises.
#![allow(clippy::needless_range_loop)]

use super::lanes::{Real, zeros};
use crate::backend::state::Field;
use crate::numeric::dot;
use crate::simd::Simd;
use rayon::prelude::*;

type Buf<T, const L: usize> = Vec<[T; L]>;

/// The deferred part of one projection's weights and window accumulators.
pub(crate) struct Held<T: Real, const L: usize> {
    /// The input the deferral holds (valid once `started`), its squared norm per lane.
    x: Buf<T, L>,
    xx: [T; L],
    /// G = g^k since the matrix was last written.
    retained: [T; L],
    /// D, per post unit.
    d: Buf<T, L>,
    /// W₀x, per post unit.
    base: Buf<T, L>,
    /// The projection's mask (1 present, 0 absent), empty when every synapse exists, and then
    /// Σ_j M_ij x_j² per post unit for the held input (empty without a mask).
    mask: Buf<T, L>,
    xx_masked: Buf<T, L>,
    /// Per-post sums of the window accumulators since they were last spread (empty when the
    /// accumulator is off): the rule's a (ΔW_rule), dt·δ (backprop), dt·u (Hebbian).
    pub sum_dw: Buf<T, L>,
    pub sum_bp: Buf<T, L>,
    pub sum_ux: Buf<T, L>,
    started: bool,
}

impl<T: Real, const L: usize> Held<T, L> {
    /// `mask`: the projection's mask (`rows × cols`), empty when every synapse exists.
    pub fn new(rows: usize, cols: usize, dw: bool, bp: bool, ux: bool, mask: Buf<T, L>) -> Self {
        debug_assert!(mask.is_empty() || mask.len() == rows * cols);
        let buf = |on: bool, n: usize| {
            if on {
                vec![zeros::<T, L>(); n]
            } else {
                Vec::new()
            }
        };
        Held {
            x: buf(true, cols),
            xx: zeros(),
            retained: [T::one(); L],
            d: buf(true, rows),
            base: buf(true, rows),
            xx_masked: buf(!mask.is_empty(), rows),
            mask,
            sum_dw: buf(dw, rows),
            sum_bp: buf(bp, rows),
            sum_ux: buf(ux, rows),
            started: false,
        }
    }

    /// Columns (presynaptic units).
    pub fn cols(&self) -> usize {
        self.x.len()
    }

    /// Whether `x` differs from the held input (or nothing is held yet).
    #[inline(always)]
    pub fn changed(&self, x: &[[T; L]]) -> bool {
        !self.started || self.x.as_slice() != x
    }

    /// Writes the deferred part into `w` and the accumulators, then holds `x`: W₀ ← W, G ← 1,
    /// D ← 0, and W₀x is summed while each row is in cache.
    pub fn rebase(
        &mut self,
        simd: Simd,
        w: &mut [[T; L]],
        acc: Accumulators<'_, T, L>,
        x: &[[T; L]],
    ) {
        simd.run(
            #[inline(always)]
            || self.rebase_on_level(simd, w, acc, x),
        )
    }

    #[inline(always)]
    fn rebase_on_level(
        &mut self,
        simd: Simd,
        w: &mut [[T; L]],
        acc: Accumulators<'_, T, L>,
        x: &[[T; L]],
    ) {
        let cols = x.len();
        self.spread(acc);
        let old_x = self.started.then_some(self.x.as_slice());
        let (retained, d, mask) = (self.retained, &self.d, self.mask.as_slice());
        if w.len() >= PARALLEL_SYNAPSES {
            let chunk = ROWS_PER_TASK * cols;
            w.par_chunks_mut(chunk)
                .enumerate()
                .zip(d.par_chunks(ROWS_PER_TASK))
                .zip(self.base.par_chunks_mut(ROWS_PER_TASK))
                .for_each(|(((c, wc), dc), bc)| {
                    let mc = if mask.is_empty() {
                        mask
                    } else {
                        &mask[c * chunk..c * chunk + wc.len()]
                    };
                    simd.run(
                        #[inline(always)]
                        || rebase_rows(wc, mc, dc, bc, old_x, retained, x),
                    )
                });
        } else {
            rebase_rows(w, mask, d, &mut self.base, old_x, retained, x);
        }
        // Σ_j M_ij x_j² per row: the held input's squared norm over each row's synapses.
        for (xi, mrow) in self
            .xx_masked
            .iter_mut()
            .zip(mask.chunks_exact(cols.max(1)))
        {
            let mut sum = zeros::<T, L>();
            for (m, xj) in mrow.iter().zip(x) {
                for l in 0..L {
                    sum[l] += if m[l] == T::zero() {
                        T::zero()
                    } else {
                        xj[l] * xj[l]
                    };
                }
            }
            *xi = sum;
        }
        self.x.copy_from_slice(x);
        for l in 0..L {
            self.xx[l] = T::zero();
        }
        for xj in x {
            for l in 0..L {
                self.xx[l] += xj[l] * xj[l];
            }
        }
        self.retained = [T::one(); L];
        self.d.iter_mut().for_each(|v| *v = zeros());
        self.started = true;
    }

    /// Adds the accumulators' per-post sums times the held x to the window's matrices and
    /// clears them.
    #[inline(always)]
    pub fn spread(&mut self, acc: Accumulators<'_, T, L>) {
        let x = &self.x;
        for (sum, m) in [
            (&mut self.sum_dw, acc.dw),
            (&mut self.sum_bp, acc.bp),
            (&mut self.sum_ux, acc.ux),
        ] {
            if sum.is_empty() || m.is_empty() {
                continue;
            }
            for (row, si) in m.chunks_exact_mut(x.len()).zip(sum.iter_mut()) {
                for (v, xj) in row.iter_mut().zip(x) {
                    for l in 0..L {
                        v[l] += si[l] * xj[l];
                    }
                }
                *si = zeros();
            }
        }
    }

    /// One step of W ← g·W + a xᵀ, deferred: D ← g·D + a, G ← g·G; the rule's a summed for
    /// the window when it is accumulated.
    #[inline(always)]
    pub fn step(&mut self, a: impl Fn(usize) -> [T; L], g: [T; L]) {
        let dw = !self.sum_dw.is_empty();
        for (i, di) in self.d.iter_mut().enumerate() {
            let ai = a(i);
            for l in 0..L {
                di[l] = di[l] * g[l] + ai[l];
            }
            if dw {
                for l in 0..L {
                    self.sum_dw[i][l] += ai[l];
                }
            }
        }
        for l in 0..L {
            self.retained[l] *= g[l];
        }
    }

    /// out[i] += sign · (W x)_i = sign · (G·(W₀x)_i + (xᵀx)·D_i), with Σ_j M_ij x_j² for xᵀx
    /// under a mask.
    pub fn add_current(&self, simd: Simd, out: &mut [[T; L]], sign: &[T; L]) {
        simd.run(
            #[inline(always)]
            || self.add_current_on_level(out, sign),
        )
    }

    #[inline(always)]
    fn add_current_on_level(&self, out: &mut [[T; L]], sign: &[T; L]) {
        // Local copies of every operand, so the lane loops vectorise and keep them in
        // registers (a store to `out` could alias them through references).
        let (sign, retained) = (*sign, self.retained);
        if !self.mask.is_empty() {
            let rows = out.iter_mut().zip(&self.base).zip(&self.d);
            for (((o, b), di), xx) in rows.zip(&self.xx_masked) {
                let (mut v, b, di, xx) = (*o, *b, *di, *xx);
                for l in 0..L {
                    v[l] += sign[l] * (retained[l] * b[l] + xx[l] * di[l]);
                }
                *o = v;
            }
            return;
        }
        let xx = self.xx;
        for ((o, b), di) in out.iter_mut().zip(&self.base).zip(&self.d) {
            let (mut v, b, di) = (*o, *b, *di);
            for l in 0..L {
                v[l] += sign[l] * (retained[l] * b[l] + xx[l] * di[l]);
            }
            *o = v;
        }
    }

    /// The exact weight W[i, j] of lane l given the stored W₀[i, j]; +0 where the mask has no
    /// synapse.
    #[inline(always)]
    pub fn weight(&self, stored: T, i: usize, j: usize, l: usize) -> T {
        if !self.mask.is_empty() && self.mask[i * self.cols() + j][l] == T::zero() {
            return T::zero();
        }
        if !self.started {
            return stored;
        }
        stored * self.retained[l] + self.d[i][l] * self.x[j][l]
    }

    /// Row i of lane l's exact weights, as f64, given the stored row of W₀.
    pub fn write_row(&self, stored: &[[T; L]], i: usize, l: usize, out: &mut [f64]) {
        for (j, (o, v)) in out.iter_mut().zip(stored).enumerate() {
            *o = self.weight(v[l], i, j, l).f64();
        }
    }

    /// A frozen lane: its deferred weights are zeroed with its stored ones. The window sums
    /// keep what the lane gathered before (as the step-by-step accumulators do).
    pub fn freeze(&mut self, lane: usize) {
        for buf in [&mut self.d, &mut self.base] {
            for v in buf.iter_mut() {
                v[lane] = T::zero();
            }
        }
    }
}

/// The window matrices a rebase or a window's end spreads the deferred sums into (empty when
/// off).
pub(crate) struct Accumulators<'a, T: Real, const L: usize> {
    pub dw: &'a mut [[T; L]],
    pub bp: &'a mut [[T; L]],
    pub ux: &'a mut [[T; L]],
}

/// Matrices at least this large are rebased on several threads.
const PARALLEL_SYNAPSES: usize = 1 << 16;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 32;

/// Rows of `Held::rebase`: W ← G·W₀ + D x_oldᵀ (when `old_x` holds an input; +0 where `mask`,
/// these rows of the mask or empty, has no synapse), then W₀x for the new input into `base`.
#[inline(always)]
fn rebase_rows<T: Real, const L: usize>(
    w: &mut [[T; L]],
    mask: &[[T; L]],
    d: &[[T; L]],
    base: &mut [[T; L]],
    old_x: Option<&[[T; L]]>,
    retained: [T; L],
    x: &[[T; L]],
) {
    let cols = x.len();
    for (i, ((row, di), bi)) in w
        .chunks_exact_mut(cols)
        .zip(d)
        .zip(base.iter_mut())
        .enumerate()
    {
        if let Some(old_x) = old_x
            && !mask.is_empty()
        {
            let mrow = &mask[i * cols..(i + 1) * cols];
            for ((wij, xo), m) in row.iter_mut().zip(old_x).zip(mrow) {
                for l in 0..L {
                    // Selected rather than multiplied: an absent synapse is +0, never −0.
                    wij[l] = if m[l] == T::zero() {
                        T::zero()
                    } else {
                        wij[l] * retained[l] + di[l] * xo[l]
                    };
                }
            }
        } else if let Some(old_x) = old_x {
            for (wij, xo) in row.iter_mut().zip(old_x) {
                for l in 0..L {
                    wij[l] = wij[l] * retained[l] + di[l] * xo[l];
                }
            }
        }
        if L == 1 {
            // One lane: a dot product with independent partial sums vectorises.
            bi[0] = dot(row.as_flattened(), x.as_flattened());
        } else {
            let mut sum = zeros::<T, L>();
            for (wij, xn) in row.iter().zip(x) {
                for l in 0..L {
                    sum[l] += wij[l] * xn[l];
                }
            }
            *bi = sum;
        }
    }
}

/// Every part of the deferral is state: the held input, G, D, W₀x and the per-post sums.
impl<T: Real, const L: usize> Field for Held<T, L> {
    fn save(&self, out: &mut Vec<u8>) {
        self.x.save(out);
        self.xx.save(out);
        self.retained.save(out);
        self.d.save(out);
        self.base.save(out);
        // Only under a mask, so that the images of dense circuits keep their form.
        if !self.mask.is_empty() {
            self.xx_masked.save(out);
        }
        self.sum_dw.save(out);
        self.sum_bp.save(out);
        self.sum_ux.save(out);
        self.started.save(out);
    }
    fn load(&mut self, input: &mut &[u8]) -> Result<(), crate::backend::state::StateError> {
        self.x.load(input)?;
        self.xx.load(input)?;
        self.retained.load(input)?;
        self.d.load(input)?;
        self.base.load(input)?;
        if !self.mask.is_empty() {
            self.xx_masked.load(input)?;
        }
        self.sum_dw.load(input)?;
        self.sum_bp.load(input)?;
        self.sum_ux.load(input)?;
        self.started.load(input)
    }
}
