//! The sparse layout of a masked projection on a one-lane block: per-row lists of its present
//! synapses over the dense matrix, which stays the storage every reader reads (snapshots,
//! checkpoints, measurements, tied copies), so nothing is materialised.
//!
//! The forward product and the plain update (no window ΔW sum, no weight noise) visit the
//! present synapses only. Both are the dense layout's sums in the dense layout's order:
//! an absent synapse holds +0, and its product ±0 added to a partial sum that starts at +0
//! changes nothing, so skipping it leaves every partial sum — and the result — bit for bit the
//! same (for finite rates). An update that sums the rule's ΔW for the window, or adds weight
//! noise, takes the dense path and the mask op, as it would without this layout.
//!
//! Ensembles (several lanes) keep the mask layout: each lane has its own mask, and a lane loop
//! over shared indices would be the dense loop again.

use super::lanes::Real;
use crate::numeric::DOT_PARTIALS;

/// The density (present / all synapses) below which a masked projection of a one-lane block
/// takes the sparse layout: the crossover `benches/sparse.rs` measures (docs/speed.md,
/// "Sparse projections").
pub const SPARSE_BELOW: f64 = 0.4;

/// The present synapses of a masked matrix, row by row.
pub(crate) struct SparseRows {
    /// Row i's present columns are `cols[start[i]..start[i + 1]]`, ascending.
    start: Vec<usize>,
    cols: Vec<u32>,
    /// Columns per row of the dense matrix.
    width: usize,
}

impl SparseRows {
    /// The lists of `mask` (lane 0, `rows × width`), when its density is below `below`.
    pub fn of<T: Real, const L: usize>(
        mask: &[[T; L]],
        rows: usize,
        width: usize,
        below: f64,
    ) -> Option<SparseRows> {
        let n = rows * width;
        if L != 1 || mask.len() != n || n == 0 || width > u32::MAX as usize {
            return None;
        }
        let present = mask.iter().filter(|m| m[0] != T::zero()).count();
        if (present as f64) >= below * n as f64 {
            return None;
        }
        let mut start = Vec::with_capacity(rows + 1);
        let mut cols = Vec::with_capacity(present);
        start.push(0);
        for row in mask.chunks_exact(width) {
            cols.extend(
                row.iter()
                    .enumerate()
                    .filter(|(_, m)| m[0] != T::zero())
                    .map(|(j, _)| j as u32),
            );
            start.push(cols.len());
        }
        Some(SparseRows { start, cols, width })
    }

    /// Row i's present columns.
    #[inline(always)]
    pub fn row(&self, i: usize) -> &[u32] {
        &self.cols[self.start[i]..self.start[i + 1]]
    }

    /// out[i] += sign · Σ_j W[i, j] r[j] over row i's present synapses, the sum in
    /// `numeric::dot`'s order (its partial sums by column, then the tail).
    #[inline(always)]
    pub fn matvec_add<T: Real, const L: usize>(
        &self,
        out: &mut [[T; L]],
        w: &[[T; L]],
        r: &[[T; L]],
        sign: T,
    ) {
        let width = self.width;
        // Columns below `full` go to the partial sums; `numeric::dot` has none for short rows.
        let full = if width < DOT_PARTIALS {
            0
        } else {
            width - width % DOT_PARTIALS
        };
        for (i, o) in out.iter_mut().enumerate() {
            let row = &w[i * width..(i + 1) * width];
            let cols = self.row(i);
            let split = cols.partition_point(|&j| (j as usize) < full);
            let mut sum = T::zero();
            if full > 0 {
                let mut partial = [T::zero(); DOT_PARTIALS];
                for &j in &cols[..split] {
                    let j = j as usize;
                    partial[j % DOT_PARTIALS] += row[j][0] * r[j][0];
                }
                sum = partial.iter().fold(T::zero(), |s, v| s + *v);
            }
            for &j in &cols[split..] {
                let j = j as usize;
                sum += row[j][0] * r[j][0];
            }
            o[0] += sign * sum;
        }
    }
}
