//! One block of `L` interleaved instances and its time step.
//!
//! A block executes the step program (`crate::step`: Euler, exponential Euler, or RK4 derived
//! from it) one operation at a time; the step order is written there, not here.
//!
//! Vector levels (`crate::simd`): each step method `x` is a wrapper that runs `x_on_level`, its
//! `#[inline(always)]` body, through `Simd::run`, so the body and the loops it inlines are
//! compiled once per level; the parallel tasks inside a body enter `run` again.

// Lane loops index several arrays by the same lane on purpose: that is the shape the
// compiler vectorises, so the iterator form clippy suggests would only obscure it.
#![allow(clippy::needless_range_loop)]

use super::Static;
use super::held::{Accumulators, Held};
use super::lanes::{Real, apply_rates, lanes_of, rate, zeros};
use super::sparse::SparseRows;
use crate::backend::state::{Field, Growing, StateError};
use crate::backend::{ActivitySeed, Snapshot, TracePoint, Window};
use crate::normals;
use crate::numeric::dot;
use crate::plan::{PhaseTables, Timing};
use crate::rng;
use crate::rule::{N_TERMS, Post, Slot, UpdateForm};
use crate::simd::Simd;
use crate::spec::{Method, Role};
use crate::step::Op;
use crate::task::Task;
use std::sync::Arc;

type Buf<T, const L: usize> = Vec<[T; L]>;

/// `on_level!(self.x_on_level(args))`: runs a method's `#[inline(always)]` body on the vector
/// level of `self.simd` (see the module doc).
macro_rules! on_level {
    ($this:ident . $body:ident ( $($arg:expr),* )) => {{
        let simd = $this.simd;
        simd.run(
            #[inline(always)]
            || $this.$body($($arg),*),
        )
    }};
}

/// One synapse's increment under the general update, a·x + c + d·w (+ e·x·w when the form has
/// that slot), in one order for every CPU layout (lanes, sparse rows), the order
/// `opencl::terms::increment` writes too.
#[inline(always)]
fn general_increment<T: Real>(a: T, c: T, d: T, e: T, xw: bool, x: T, w: T) -> T {
    let r = a * x + c + d * w;
    if xw { r + e * x * w } else { r }
}

/// The per-row factors of a weight update, one per `Slot` (in `Slot::ALL` order):
/// W_ij ← W_ij·g + a_i x_j + c_i + d_i W_ij + e_i x_j W_ij.
type RowCoefficients<T, const L: usize> = [[T; L]; 4];

const A: usize = Slot::X.index();
const C: usize = Slot::One.index();
const D: usize = Slot::W.index();
const E: usize = Slot::XW.index();

/// The row coefficients of every post unit of a motif, derived from its `UpdateForm`: for each
/// slot, k · Σ θ_t Π post_t over its terms, in θ order, each product left to right from θ_t (the
/// order the OpenCL generators write, so f64 results agree bit for bit). Computed a term at a
/// time over all rows, so each loop is a plain vectorisable sweep; `post` gives the rates a
/// factor reads (None: absent, read as zero — a motif without a modulator or trace).
#[inline(always)]
fn fill_row_coefficients<'a, T: Real, const L: usize>(
    out: &mut Vec<RowCoefficients<T, L>>,
    rows: usize,
    form: &UpdateForm,
    th: &[[T; L]; N_TERMS],
    post: impl Fn(Post) -> Option<&'a [[T; L]]>,
    k: &[T; L],
) {
    out.clear();
    out.resize(rows, [zeros::<T, L>(); 4]);
    let zero = zeros::<T, L>();
    for slot in Slot::ALL {
        let terms = form.terms(slot);
        if terms.is_empty() {
            continue;
        }
        let si = slot.index();
        for (n, t) in terms.iter().enumerate() {
            let factors = t.def().post;
            let mut rates: [Option<&[[T; L]]>; 4] = [None; 4];
            for (r, f) in rates.iter_mut().zip(factors) {
                // A rate vector shorter than the rows (none: an absent trace) reads as zero.
                *r = post(*f).and_then(|v| v.get(..rows));
            }
            let rates = &rates[..factors.len()];
            let theta = th[t.index()];
            let add = |o: &mut [T; L], v: [T; L]| {
                for l in 0..L {
                    o[l] = if n == 0 { v[l] } else { o[l] + v[l] };
                }
            };
            // The common shapes (every factor present, at most two) as plain zipped sweeps.
            match rates {
                [] => {
                    out.iter_mut().for_each(|co| add(&mut co[si], theta));
                    continue;
                }
                [Some(r1)] => {
                    for (co, p1) in out.iter_mut().zip(*r1) {
                        let (p1, mut v) = (*p1, theta);
                        for l in 0..L {
                            v[l] *= p1[l];
                        }
                        add(&mut co[si], v);
                    }
                    continue;
                }
                [Some(r1), Some(r2)] => {
                    for ((co, p1), p2) in out.iter_mut().zip(*r1).zip(*r2) {
                        let (p1, p2, mut v) = (*p1, *p2, theta);
                        for l in 0..L {
                            v[l] *= p1[l];
                            v[l] *= p2[l];
                        }
                        add(&mut co[si], v);
                    }
                    continue;
                }
                _ => {}
            }
            for (i, co) in out.iter_mut().enumerate() {
                let mut v = theta;
                for r in rates {
                    let p = r.map_or(zero, |r| r[i]);
                    for l in 0..L {
                        v[l] *= p[l];
                    }
                }
                add(&mut co[si], v);
            }
        }
        for co in out.iter_mut() {
            for l in 0..L {
                co[si][l] = k[l] * co[si][l];
            }
        }
    }
}

/// Which terms a motif's update has, so the row loop does only the work it needs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum UpdateShape {
    /// W += a xᵀ (three-factor or Hebbian rules without decay).
    Outer,
    /// W ← W·g + a xᵀ (the same with decay, e.g. Kolen–Pollack).
    OuterDecay,
    /// a_i x_j + c_i + d_i W_ij: drifts, Oja's z²W, presynaptic terms.
    General,
    /// The same plus e_i x_j W_ij.
    GeneralXW,
}

/// What every row of one weight update shares.
struct RowUpdate<'a, T: Real, const L: usize> {
    simd: Simd,
    shape: UpdateShape,
    g: [T; L],
    x: &'a [[T; L]],
    cols: usize,
}

impl<T: Real, const L: usize> RowUpdate<'_, T, L> {
    /// `rows`, then each updated row summed against the next step's input while it is in
    /// cache (a fused update: `out` takes W·x for the next step).
    #[inline(always)]
    fn fused_rows(
        &self,
        w: &mut [[T; L]],
        acc: &mut [[T; L]],
        coefficients: &[RowCoefficients<T, L>],
        next: &[T],
        out: &mut [T],
    ) {
        self.rows(w, acc, coefficients);
        for (row, o) in w.chunks_exact(self.cols).zip(out.iter_mut()) {
            *o = dot(row.as_flattened(), next);
        }
    }

    /// `rows` (without a window sum) over the present synapses of `sparse` only, each with the
    /// same arithmetic as there (one lane).
    fn sparse_rows(
        &self,
        sparse: &SparseRows,
        w: &mut [[T; L]],
        coefficients: &[RowCoefficients<T, L>],
    ) {
        on_level!(self.sparse_rows_on_level(sparse, w, coefficients))
    }

    #[inline(always)]
    fn sparse_rows_on_level(
        &self,
        sparse: &SparseRows,
        w: &mut [[T; L]],
        coefficients: &[RowCoefficients<T, L>],
    ) {
        let cols = self.cols;
        let g = self.g[0];
        let xw = self.shape == UpdateShape::GeneralXW;
        for (i, (row, co)) in w.chunks_exact_mut(cols).zip(coefficients).enumerate() {
            let (a, c, d, e) = (co[A][0], co[C][0], co[D][0], co[E][0]);
            let present = sparse.row(i);
            match self.shape {
                UpdateShape::Outer => {
                    for &j in present {
                        let j = j as usize;
                        row[j][0] += a * self.x[j][0];
                    }
                }
                UpdateShape::OuterDecay => {
                    for &j in present {
                        let j = j as usize;
                        row[j][0] = row[j][0] * g + a * self.x[j][0];
                    }
                }
                _ => {
                    for &j in present {
                        let j = j as usize;
                        let (x, v) = (self.x[j][0], row[j][0]);
                        row[j][0] = v * g + general_increment(a, c, d, e, xw, x, v);
                    }
                }
            }
        }
    }

    /// Updates consecutive rows of W (and of the window's ΔW_rule when `acc` is non-empty).
    ///
    /// Every lane loop works on local copies of its operands (`let x = *xj`, then one store):
    /// through references the compiler must assume a store to W may change x or the
    /// coefficients, and then it keeps the 16-lane loops scalar.
    fn rows(&self, w: &mut [[T; L]], acc: &mut [[T; L]], coefficients: &[RowCoefficients<T, L>]) {
        on_level!(self.rows_on_level(w, acc, coefficients))
    }

    #[inline(always)]
    fn rows_on_level(
        &self,
        w: &mut [[T; L]],
        acc: &mut [[T; L]],
        coefficients: &[RowCoefficients<T, L>],
    ) {
        let cols = self.cols;
        let g = self.g;
        // Outer products without a window sum: one loop per shape over all rows, so a matrix of
        // many short rows pays no per-row dispatch.
        if acc.is_empty() {
            match self.shape {
                UpdateShape::Outer => {
                    for (row, co) in w.chunks_exact_mut(cols).zip(coefficients) {
                        let a = co[A];
                        for (wij, xj) in row.iter_mut().zip(self.x) {
                            let (x, mut v) = (*xj, *wij);
                            for l in 0..L {
                                v[l] += a[l] * x[l];
                            }
                            *wij = v;
                        }
                    }
                    return;
                }
                UpdateShape::OuterDecay => {
                    for (row, co) in w.chunks_exact_mut(cols).zip(coefficients) {
                        let a = co[A];
                        for (wij, xj) in row.iter_mut().zip(self.x) {
                            let (x, mut v) = (*xj, *wij);
                            for l in 0..L {
                                v[l] = v[l] * g[l] + a[l] * x[l];
                            }
                            *wij = v;
                        }
                    }
                    return;
                }
                _ => {}
            }
        }
        for (i, (row, co)) in w.chunks_exact_mut(cols).zip(coefficients).enumerate() {
            let acc_row: &mut [[T; L]] = if acc.is_empty() {
                &mut []
            } else {
                &mut acc[i * cols..(i + 1) * cols]
            };
            let (a, c, d, e) = (co[A], co[C], co[D], co[E]);
            let xw = self.shape == UpdateShape::GeneralXW;
            // Absent slots have zero coefficients: adding their products changes nothing.
            let inc = |l: usize, x: &[T; L], v: &[T; L]| {
                general_increment(a[l], c[l], d[l], e[l], xw, x[l], v[l])
            };
            if acc_row.is_empty() {
                for (wij, xj) in row.iter_mut().zip(self.x) {
                    let (x, mut v) = (*xj, *wij);
                    for l in 0..L {
                        let inc = inc(l, &x, &v);
                        v[l] = v[l] * g[l] + inc;
                    }
                    *wij = v;
                }
            } else {
                for ((wij, xj), acc_ij) in row.iter_mut().zip(self.x).zip(acc_row.iter_mut()) {
                    let (x, mut v, mut s) = (*xj, *wij, *acc_ij);
                    for l in 0..L {
                        let inc = inc(l, &x, &v);
                        v[l] = v[l] * g[l] + inc;
                        s[l] += inc;
                    }
                    *wij = v;
                    *acc_ij = s;
                }
            }
        }
    }
}

/// The fields of a block's saved state, in their order in the image (one list for saving and
/// restoring).
macro_rules! block_state {
    ($b:ident, $f:ident) => {
        $f!($b.step);
        $f!($b.u);
        $f!($b.z);
        $f!($b.inp);
        $f!($b.q);
        $f!($b.w);
        $f!($b.ring);
        $f!($b.prefetched);
        $f!($b.prefetched_valid);
        $f!($b.next_input);
        $f!($b.held);
        $f!($b.delta);
        $f!($b.sample);
        $f!($b.present);
        $f!($b.shown);
        $f!($b.input_written);
        $f!($b.xs);
        $f!($b.ys);
        $f!($b.frozen);
        $f!($b.sign);
        $f!($b.bias);
        $f!($b.acc_dw);
        $f!($b.acc_bp);
        $f!($b.acc_ux);
        $f!($b.loss);
        $f!($b.present_s);
        $f!($b.correct_s);
        $f!($b.window_steps);
    };
}

pub(crate) struct Block<T: Real, const L: usize> {
    /// The vector level each step method runs its body on (the backend's).
    simd: Simd,
    first: usize,
    active: usize,
    step: u64,
    dt: T,
    dt_s: f64,
    // State.
    u: Vec<Buf<T, L>>,
    z: Vec<Buf<T, L>>,
    inp: Vec<Buf<T, L>>,
    /// Per population: its slow trace q (empty without one), the fraction kept per step, and
    /// whether it filters z².
    q: Vec<Buf<T, L>>,
    q_keep: Vec<[T; L]>,
    q_squared: Vec<bool>,
    w: Vec<Buf<T, L>>,
    /// Per projection: its mask (1 present, 0 absent; `Plan::masks`), empty without one or
    /// when the projection is deferred (then its `Held` keeps it).
    mask: Vec<Buf<T, L>>,
    ring: Vec<Buf<T, L>>,
    ring_len: Vec<usize>,
    scratch: Buf<T, L>,
    row_coefficients: Vec<RowCoefficients<T, L>>,
    /// Per projection: its present synapses row by row, when it takes the sparse layout (a
    /// masked, undeferred projection of a one-lane block below `Static::sparse_below`).
    sparse: Vec<Option<SparseRows>>,
    /// Per projection in the sparse layout: whether this step's update went over every
    /// synapse (the dense path: a window ΔW sum or weight noise), so the mask op must run.
    absent_touched: Vec<bool>,
    /// Per projection: whether its update also computes the next step's forward sum (a large
    /// plastic matrix of a single instance fed by the input population without delay).
    fused: Vec<bool>,
    /// The forward sums W·x computed ahead by a fused update, valid for the next step only.
    prefetched: Vec<Vec<T>>,
    prefetched_valid: Vec<bool>,
    /// The input population's rates at the next step (for fused updates).
    next_input: Buf<T, L>,
    /// Per projection: its deferred update while the input is held (`Plan::held_input`).
    held: Vec<Option<Held<T, L>>>,
    delta: Vec<Buf<T, L>>,
    // Population parameters.
    leak: Vec<[T; L]>,
    inv_tau: Vec<[T; L]>,
    bias: Vec<[T; L]>,
    noise_scale: Vec<[T; L]>,
    any_noise: Vec<bool>,
    /// Philox streams of each population's noise ("noise/<name>") and each projection's weight
    /// noise ("wnoise/<name>"), hashed once rather than every step.
    noise_stream: Vec<u32>,
    wnoise_stream: Vec<u32>,
    // Projection parameters.
    sign: Vec<[T; L]>,
    delay: Vec<[usize; L]>,
    tied: Vec<[bool; L]>,
    // Motif parameters.
    rate_w: Vec<[T; L]>,
    theta: Vec<[[T; L]; N_TERMS]>,
    decay_w: Vec<[T; L]>,
    inv_tau_w: Vec<[T; L]>,
    inv_tau_decay: Vec<[T; L]>,
    wnoise_scale: Vec<[T; L]>,
    shapes: Vec<UpdateShape>,
    forms: Vec<UpdateForm>,
    // Stimulus.
    tasks: Vec<Arc<Task>>,
    /// Per lane: the factor on the task's input rates; per population: the rate a driven
    /// population is clamped to in each lane, if any (the phase's `input_scale` and `clamp`).
    input_scale: [f64; L],
    clamp: Vec<[Option<f64>; L]>,
    /// The protocol phase whose tables are loaded.
    phase: usize,
    /// Whether any lane's task is a classification (only then is the accuracy integrated).
    classification: bool,
    timing: Vec<Timing>,
    seeds: [u64; L],
    /// The lanes' Philox keys (`normals::lane_keys` of `seeds`), for the noise.
    keys: [[u32; L]; 2],
    sample: [u64; L],
    present: [bool; L],
    /// The (sample, shown) each lane's input and target populations hold, so a step that keeps
    /// every lane's stimulus writes nothing.
    shown: [(u64, bool); L],
    /// Whether the input population was written since the deferred matrices last looked at it
    /// (only `set_stimulus` writes it), so a step that keeps the stimulus skips comparing it.
    input_written: bool,
    xs: Vec<Vec<f64>>,
    ys: Vec<Vec<f64>>,
    frozen: [bool; L],
    // Window accumulators.
    acc_dw: Vec<Buf<T, L>>,
    acc_bp: Vec<Buf<T, L>>,
    acc_ux: Vec<Buf<T, L>>,
    loss: [f64; L],
    present_s: [f64; L],
    correct_s: [f64; L],
    window_steps: u64,
    traces: Vec<TracePoint>,
    // RK4 stage storage (empty unless the method is RK4).
    rk_u0: Vec<Buf<T, L>>,
    rk_w0: Vec<Buf<T, L>>,
    rk_du: Vec<Buf<T, L>>,
    rk_dw: Vec<Buf<T, L>>,
    rk_su: Vec<Buf<T, L>>,
    rk_sw: Vec<Buf<T, L>>,
}

impl<T: Real, const L: usize> Block<T, L> {
    pub fn new(s: &Static, first: usize, active: usize) -> Self {
        let plan = &s.plan;
        let dt_s = plan.dt_s;
        let lanes = |v: &[f64]| lanes_of::<T, L>(v, first, active);
        let pops = &plan.populations;
        let buf = |n: usize| vec![zeros::<T, L>(); n];

        let inv_tau: Vec<[T; L]> = pops
            .iter()
            .map(|p| {
                lanes(
                    &p.tau_s
                        .iter()
                        .map(|t| if *t > 0.0 { 1.0 / t } else { 0.0 })
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let leak = pops
            .iter()
            .map(|p| lanes(&p.tau_s.iter().map(|t| plan.leak(*t)).collect::<Vec<_>>()))
            .collect();
        let motifs = &plan.motifs;
        let PhaseParams {
            noise_scale,
            any_noise,
            rate_w,
            decay_w,
            theta,
            inv_tau_w,
            inv_tau_decay,
            wnoise_scale,
            tasks,
            input_scale,
            clamp,
        } = PhaseParams::of(plan, &plan.phases[0].tables, first, active);
        let forms: Vec<UpdateForm> = motifs.iter().map(|m| m.form()).collect();
        let shapes = motifs
            .iter()
            .zip(&forms)
            .map(|(m, f)| {
                // Terms of the a_i x_j slot alone (m_x, z_x, x) take the outer-product loops.
                match (f.is_outer(), f.has(Slot::XW), m.has_decay()) {
                    (false, true, _) => UpdateShape::GeneralXW,
                    (false, false, _) => UpdateShape::General,
                    (true, _, true) => UpdateShape::OuterDecay,
                    (true, _, false) => UpdateShape::Outer,
                }
            })
            .collect();

        let projections = &plan.projections;
        let fused = s.program.fused_projections(plan);
        let sign = projections.iter().map(|p| lanes(&p.sign)).collect();
        let delay = projections
            .iter()
            .map(|p| std::array::from_fn(|l| p.delay_steps[first + if l < active { l } else { 0 }]))
            .collect();
        let tied = projections
            .iter()
            .map(|p| std::array::from_fn(|l| p.tied[first + if l < active { l } else { 0 }]))
            .collect();
        let ring_len: Vec<usize> = projections.iter().map(|p| p.ring_len()).collect();
        let ring = projections
            .iter()
            .zip(&ring_len)
            .map(|(p, n)| buf(n * plan.populations[p.from].size))
            .collect();

        let mut w: Vec<Buf<T, L>> = projections.iter().map(|p| buf(p.synapses())).collect();
        for (q, p) in projections.iter().enumerate() {
            let n = p.synapses();
            for l in 0..L {
                let inst = first + if l < active { l } else { 0 };
                for k in 0..n {
                    w[q][k][l] = T::of(plan.initial_weights[q][inst * n + k]);
                }
            }
        }

        let mut mask: Vec<Buf<T, L>> = projections
            .iter()
            .zip(&plan.masks)
            .map(|(p, m)| {
                let Some(m) = m else { return Vec::new() };
                let n = p.synapses();
                (0..n)
                    .map(|k| {
                        std::array::from_fn(|l| {
                            let inst = first + if l < active { l } else { 0 };
                            T::of(m[inst * n + k])
                        })
                    })
                    .collect()
            })
            .collect();

        let lane_instance = |l: usize| first + if l < active { l } else { 0 };
        let timing = (0..L).map(|l| plan.timing[lane_instance(l)]).collect();
        let seeds = std::array::from_fn(|l| plan.seeds[lane_instance(l)]);
        let n_in = pops[plan.input].size;
        let n_out = plan.tasks[first].n_targets();

        let acc = &s.accumulate;
        let plastic_buf = |on: bool, q: usize| {
            if on && projections[q].motif.is_some() {
                buf(projections[q].synapses())
            } else {
                Vec::new()
            }
        };
        let acc_dw: Vec<Buf<T, L>> = (0..projections.len())
            .map(|q| plastic_buf(acc.dw_rule, q))
            .collect();
        let acc_bp: Vec<Buf<T, L>> = (0..projections.len())
            .map(|q| {
                plastic_buf(
                    acc.backprop && projections[q].forward && !s.backprop_is_rule[q],
                    q,
                )
            })
            .collect();
        let acc_ux: Vec<Buf<T, L>> = (0..projections.len())
            .map(|q| plastic_buf(acc.hebbian, q))
            .collect();
        let held = (0..projections.len())
            .map(|q| {
                plan.held_input[q].then(|| {
                    let p = &projections[q];
                    Held::new(
                        p.rows,
                        p.cols,
                        !acc_dw[q].is_empty(),
                        !acc_bp[q].is_empty(),
                        !acc_ux[q].is_empty(),
                        // A deferred matrix's mask lives with its deferral (no mask op runs).
                        std::mem::take(&mut mask[q]),
                    )
                })
            })
            .collect();
        // After `held` took the masks of deferred projections.
        let sparse: Vec<Option<SparseRows>> = projections
            .iter()
            .zip(&mask)
            .map(|(p, m)| SparseRows::of(m, p.rows, p.cols, s.sparse_below))
            .collect();
        let rk4 = plan.method == Method::Rk4;
        let pop_bufs = |on: bool| {
            if on {
                pops.iter().map(|p| buf(p.size)).collect()
            } else {
                Vec::new()
            }
        };
        let proj_bufs = |on: bool| {
            if on {
                projections
                    .iter()
                    .map(|p| {
                        if p.motif.is_some() {
                            buf(p.synapses())
                        } else {
                            Vec::new()
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            }
        };

        let mut block = Block {
            simd: s.simd,
            first,
            active,
            step: 0,
            dt: T::of(dt_s),
            dt_s,
            u: pops.iter().map(|p| buf(p.size)).collect(),
            z: pops.iter().map(|p| buf(p.size)).collect(),
            inp: pops.iter().map(|p| buf(p.size)).collect(),
            q: pops
                .iter()
                .map(|p| match &p.trace {
                    Some(t) => vec![lanes(&t.init); p.size],
                    None => Vec::new(),
                })
                .collect(),
            q_keep: pops
                .iter()
                .map(|p| match &p.trace {
                    Some(t) => lanes(
                        &t.tau_s
                            .iter()
                            .map(|tau| plan.trace_keep(*tau))
                            .collect::<Vec<_>>(),
                    ),
                    None => zeros(),
                })
                .collect(),
            q_squared: pops
                .iter()
                .map(|p| p.trace.as_ref().is_some_and(|t| t.squared))
                .collect(),
            w,
            mask,
            absent_touched: vec![true; sparse.len()],
            sparse,
            ring,
            ring_len,
            scratch: buf(pops.iter().map(|p| p.size).max().unwrap_or(0)),
            row_coefficients: Vec::new(),
            fused: fused.clone(),
            prefetched: projections
                .iter()
                .zip(&fused)
                .map(|(p, f)| {
                    if *f {
                        vec![T::zero(); p.rows]
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
            prefetched_valid: vec![false; projections.len()],
            next_input: buf(pops[plan.input].size),
            held,
            delta: pop_bufs(acc.backprop),
            leak,
            inv_tau,
            bias: pops.iter().map(|p| lanes(&p.bias)).collect(),
            noise_scale,
            any_noise,
            noise_stream: pops
                .iter()
                .map(|p| rng::stream_id(&format!("noise/{}", p.name)))
                .collect(),
            wnoise_stream: projections
                .iter()
                .map(|p| rng::stream_id(&format!("wnoise/{}", p.name)))
                .collect(),
            sign,
            delay,
            tied,
            rate_w,
            theta,
            decay_w,
            inv_tau_w,
            inv_tau_decay,
            wnoise_scale,
            shapes,
            forms,
            classification: tasks.iter().any(|t| t.is_classification()),
            tasks,
            input_scale,
            clamp,
            phase: 0,
            timing,
            keys: normals::lane_keys(&seeds),
            seeds,
            sample: [u64::MAX; L],
            present: [false; L],
            shown: [(u64::MAX, false); L],
            input_written: true,
            xs: vec![vec![0.0; n_in]; L],
            ys: vec![vec![0.0; n_out]; L],
            frozen: [false; L],
            acc_dw,
            acc_bp,
            acc_ux,
            loss: [0.0; L],
            present_s: [0.0; L],
            correct_s: [0.0; L],
            window_steps: 0,
            traces: Vec::new(),
            rk_u0: pop_bufs(rk4),
            rk_w0: proj_bufs(rk4),
            rk_du: pop_bufs(rk4),
            rk_dw: proj_bufs(rk4),
            rk_su: pop_bufs(rk4),
            rk_sw: proj_bufs(rk4),
        };
        // Rate populations start at rest with z = φ(0); tied matrices start as transposes.
        for (p, pop) in pops.iter().enumerate() {
            if pop.role == Role::Rate || pop.role == Role::Error {
                let zero = rate(pop.activation, T::zero());
                block.z[p].iter_mut().for_each(|v| *v = [zero; L]);
            }
        }
        block.copy_tied(s);
        block
    }

    pub fn advance(&mut self, s: &Static, steps: u64) {
        for _ in 0..steps {
            self.step(s);
        }
    }

    // ---- stimulus -------------------------------------------------------------------------

    fn set_stimulus(&mut self, s: &Static) {
        on_level!(self.set_stimulus_on_level(s))
    }

    #[inline(always)]
    fn set_stimulus_on_level(&mut self, s: &Static) {
        let plan = &s.plan;
        let n = self.step;
        for l in 0..L {
            let (k, present) = self.timing[l].at(n);
            if k != self.sample[l] {
                self.sample[l] = k;
                self.tasks[l].train_sample(k, &mut self.xs[l], &mut self.ys[l]);
            }
            self.present[l] = present;
        }
        let now: [(u64, bool); L] = std::array::from_fn(|l| (self.sample[l], self.present[l]));
        if now == self.shown {
            return;
        }
        self.shown = now;
        self.input_written = true;
        let input = &mut self.z[plan.input];
        for (j, v) in input.iter_mut().enumerate() {
            for l in 0..L {
                v[l] = if self.present[l] {
                    T::of(self.xs[l][j] * self.input_scale[l])
                } else {
                    T::zero()
                };
            }
        }
        if let Some(out) = &plan.output {
            let target = &mut self.z[out.target];
            for (j, v) in target.iter_mut().enumerate() {
                for l in 0..L {
                    v[l] = if self.present[l] {
                        T::of(self.ys[l][j])
                    } else {
                        T::zero()
                    };
                }
            }
        }
        for (p, clamp) in self.clamp.iter().enumerate() {
            for l in 0..L {
                if let Some(rate) = clamp[l] {
                    self.z[p].iter_mut().for_each(|v| v[l] = T::of(rate));
                }
            }
        }
    }

    /// The input rates of the next step, fetching its sample early if it starts a new one
    /// (set_stimulus then finds it already fetched).
    fn prepare_next_input(&mut self, _s: &Static) {
        on_level!(self.prepare_next_input_on_level(_s))
    }

    #[inline(always)]
    fn prepare_next_input_on_level(&mut self, _s: &Static) {
        let n = self.step + 1;
        for l in 0..L {
            let (k, present) = self.timing[l].at(n);
            if k != self.sample[l] {
                self.sample[l] = k;
                self.tasks[l].train_sample(k, &mut self.xs[l], &mut self.ys[l]);
            }
            let clamped = self.clamp.get(_s.plan.input).and_then(|c| c[l]);
            for (j, v) in self.next_input.iter_mut().enumerate() {
                v[l] = match clamped {
                    Some(rate) => T::of(rate),
                    None if present => T::of(self.xs[l][j] * self.input_scale[l]),
                    None => T::zero(),
                };
            }
        }
    }

    // ---- rates ----------------------------------------------------------------------------

    /// The presynaptic rates projection q sees now (delayed ones from its ring buffer).
    /// Returns None when they are simply the current rates of its source population.
    #[inline(always)]
    fn delayed_rates(&self, s: &Static, q: usize, out: &mut Buf<T, L>) -> bool {
        if self.ring_len[q] == 0 {
            return false;
        }
        let from = s.plan.projections[q].from;
        let size = s.plan.populations[from].size;
        let len = self.ring_len[q];
        for l in 0..L {
            let d = self.delay[q][l];
            if d == 0 {
                for j in 0..size {
                    out[j][l] = self.z[from][j][l];
                }
            } else if (self.step as usize) < d {
                for j in 0..size {
                    out[j][l] = T::zero();
                }
            } else {
                let slot = (self.step as usize - d) % len;
                for j in 0..size {
                    out[j][l] = self.ring[q][slot * size + j][l];
                }
            }
        }
        true
    }

    /// bias + Σ sign·W·r over the projections into p, times the φ' gain, into `out`.
    fn sum_input(&mut self, s: &Static, p: usize, out: &mut Buf<T, L>) {
        on_level!(self.sum_input_on_level(s, p, out))
    }

    #[inline(always)]
    fn sum_input_on_level(&mut self, s: &Static, p: usize, out: &mut Buf<T, L>) {
        let plan = &s.plan;
        let bias = self.bias[p];
        out.iter_mut().for_each(|v| *v = bias);
        let mut pre = std::mem::take(&mut self.scratch);
        for &q in &s.inputs_of[p] {
            let proj = &plan.projections[q];
            if let Some(h) = &self.held[q] {
                h.add_current(self.simd, out, &self.sign[q]);
                continue;
            }
            if self.prefetched_valid[q] {
                // The previous step's fused update already summed W·x for this step.
                self.prefetched_valid[q] = false;
                for (o, v) in out.iter_mut().zip(&self.prefetched[q]) {
                    o[0] += self.sign[q][0] * *v;
                }
                continue;
            }
            let delayed = self.delayed_rates(s, q, &mut pre);
            // The scratch buffer is as long as the largest population: take only this source's part.
            let r: &[[T; L]] = if delayed {
                &pre[..proj.cols]
            } else {
                &self.z[proj.from]
            };
            if proj.identity {
                let sign = self.sign[q];
                for (o, ri) in out.iter_mut().zip(r) {
                    for l in 0..L {
                        o[l] += sign[l] * ri[l];
                    }
                }
            } else if let Some(sp) = &self.sparse[q] {
                sp.matvec_add(out, &self.w[q], r, self.sign[q][0]);
            } else {
                matvec_add(self.simd, out, &self.w[q], r, &self.sign[q], proj.cols);
            }
        }
        self.scratch = pre;
        if let Some(g) = plan.populations[p].gain_from {
            let act = plan.populations[g].activation;
            // z[g] = φ(u[g]) here (rates are refreshed whenever u changes), so the gain can
            // reuse it.
            for ((v, ug), zg) in out.iter_mut().zip(&self.u[g]).zip(&self.z[g]) {
                for l in 0..L {
                    v[l] *= act.derivative_at(ug[l], zg[l]);
                }
            }
        }
    }

    /// An instantaneous population: u = its summed input (+ noise), z = φ(u).
    #[inline(always)]
    fn instantaneous(&mut self, s: &Static, p: usize) {
        let mut u = std::mem::take(&mut self.u[p]);
        self.sum_input(s, p, &mut u);
        if self.any_noise[p] {
            self.add_noise(p, &mut u);
        }
        apply_rates(
            self.simd,
            s.plan.populations[p].activation,
            &u,
            &mut self.z[p],
        );
        self.u[p] = u;
    }

    fn add_noise(&self, p: usize, u: &mut Buf<T, L>) {
        on_level!(self.add_noise_on_level(p, u))
    }

    #[inline(always)]
    fn add_noise_on_level(&self, p: usize, u: &mut Buf<T, L>) {
        let mut scale = self.noise_scale[p];
        scale[self.active..].fill(T::zero());
        add_noise_normals(
            self.simd.noise(),
            &self.keys,
            &self.seeds,
            self.noise_stream[p],
            self.step,
            scale,
            u,
        );
    }

    // ---- the step -----------------------------------------------------------------------------

    fn step(&mut self, s: &Static) {
        on_level!(self.step_on_level(s))
    }

    /// Executes the step program (`crate::step`: Euler, exponential Euler or RK4), operation
    /// by operation, on this block.
    #[inline(always)]
    fn step_on_level(&mut self, s: &Static) {
        for op in &s.program.ops {
            match *op {
                Op::Stimulus => self.set_stimulus(s),
                Op::RebaseHeld => self.rebase_held(s),
                Op::Instantaneous { population } => self.instantaneous(s, population),
                Op::SumInput { population } => {
                    let mut inp = std::mem::take(&mut self.inp[population]);
                    self.sum_input(s, population, &mut inp);
                    self.inp[population] = inp;
                }
                Op::PushRing { projection } => self.push_ring(s, projection),
                Op::Accumulate => self.accumulate(s),
                Op::PrepareNextInput => self.prepare_next_input(s),
                Op::Update { motif, .. } => self.update_weights(s, motif),
                Op::Mask { projection } => self.apply_mask(projection),
                Op::Trace { population } => self.update_trace(population),
                Op::Integrate { population } => self.integrate(s, population),
                Op::CopyTied { projection } => self.copy_tied_one(s, projection),
                Op::StageStart => self.stage_start(),
                Op::Slope { population } => self.slope(population),
                Op::WeightSlope { motif } => self.weight_slope(s, motif),
                Op::AccumulateRuleSlope => self.accumulate_rule_slope(s),
                Op::Stage { stage } => self.rk_stage(s, stage),
                Op::StageEnd => self.stage_end(s),
                Op::Rates { population } => self.rates(s, population),
                Op::Noise { population } => self.noise_after_stages(population),
            }
        }
        self.step += 1;
    }

    /// A rate population integrates its input: u ← I + (u − I)·leak (exact for exponential
    /// Euler, Euler's step otherwise), then its noise, then z = φ(u).
    #[inline(always)]
    fn integrate(&mut self, s: &Static, p: usize) {
        let leak = self.leak[p];
        for (u, i) in self.u[p].iter_mut().zip(&self.inp[p]) {
            // Local copies, so the lane loop vectorises (see `RowUpdate::rows`).
            let (i, mut v) = (*i, *u);
            for l in 0..L {
                v[l] = i[l] + (v[l] - i[l]) * leak[l];
            }
            *u = v;
        }
        if self.any_noise[p] {
            let mut u = std::mem::take(&mut self.u[p]);
            self.add_noise(p, &mut u);
            self.u[p] = u;
        }
        let act = s.plan.populations[p].activation;
        apply_rates(self.simd, act, &self.u[p], &mut self.z[p]);
    }

    /// Writes every deferred matrix whose held input has changed and holds the new input.
    fn rebase_held(&mut self, s: &Static) {
        on_level!(self.rebase_held_on_level(s))
    }

    #[inline(always)]
    fn rebase_held_on_level(&mut self, s: &Static) {
        if !std::mem::take(&mut self.input_written) {
            return;
        }
        for q in 0..self.held.len() {
            let Some(h) = self.held[q].as_mut() else {
                continue;
            };
            let x = &self.z[s.plan.projections[q].from];
            if h.changed(x) {
                let acc = Accumulators {
                    dw: &mut self.acc_dw[q],
                    bp: &mut self.acc_bp[q],
                    ux: &mut self.acc_ux[q],
                };
                h.rebase(self.simd, &mut self.w[q], acc, x);
            }
        }
    }

    /// W ← W·g + inc, inc = a_i x_j + c_i + d_i W_ij + e_i x_j W_ij with the row coefficients
    /// of the motif's `UpdateForm`; the rule's own ΔW (inc) is summed for the window when asked.
    fn update_weights(&mut self, s: &Static, m: usize) {
        on_level!(self.update_weights_on_level(s, m))
    }

    #[inline(always)]
    fn update_weights_on_level(&mut self, s: &Static, m: usize) {
        let plan = &s.plan;
        let motif = &plan.motifs[m];
        let q = motif.projection;
        let proj = &plan.projections[q];
        let (rows, cols) = (proj.rows, proj.cols);
        let mut pre = std::mem::take(&mut self.scratch);
        let delayed = self.delayed_rates(s, q, &mut pre);
        let x: &[[T; L]] = if delayed {
            &pre[..cols]
        } else {
            &self.z[proj.from]
        };
        let z = &self.z[proj.to];
        let trace = &self.q[proj.to];
        let k = self.rate_w[m];
        let th = &self.theta[m];
        let frozen = self.frozen;
        let mut w = std::mem::take(&mut self.w[q]);
        let mut acc = std::mem::take(&mut self.acc_dw[q]);
        let modulator = motif.modulator.map(|mi| &self.z[mi]);
        // Per-row coefficients first (they read the post and modulator rates), then the rows.
        let mut coefficients = std::mem::take(&mut self.row_coefficients);
        coefficients.clear();
        let mut kl = k;
        for l in 0..L {
            if frozen[l] {
                kl[l] = T::zero();
            }
        }
        let post = |f: Post| match f {
            Post::Z => Some(z.as_slice()),
            Post::M => modulator.map(|mm| mm.as_slice()),
            Post::Q => Some(trace.as_slice()),
        };
        fill_row_coefficients(&mut coefficients, rows, &self.forms[m], th, post, &kl);
        if let Some(h) = self.held[q].as_mut() {
            // The input is held: only D and G move (the plan admits outer products alone).
            h.step(|i| coefficients[i][A], self.decay_w[m]);
            self.row_coefficients = coefficients;
            self.w[q] = w;
            self.acc_dw[q] = acc;
            self.scratch = pre;
            return;
        }
        let update = RowUpdate {
            simd: self.simd,
            shape: self.shapes[m],
            g: self.decay_w[m],
            x,
            cols,
        };
        let accumulate = !acc.is_empty();
        let sparse = self.sparse[q]
            .as_ref()
            .filter(|_| !accumulate && !motif.has_noise());
        self.absent_touched[q] = sparse.is_none();
        if let Some(sp) = sparse {
            // Present synapses only: absent ones stay +0, so the mask op has nothing to do.
            update.sparse_rows(sp, &mut w, &coefficients);
        } else if self.fused[q] {
            // Update each row, then sum it against the next step's input while it is in cache.
            use rayon::prelude::*;
            let chunk = ROWS_PER_TASK * cols;
            let next = self.next_input.as_flattened();
            let mut sums = std::mem::take(&mut self.prefetched[q]);
            // Each task enters the vector level again: rayon runs these closures from its
            // own code, compiled for the baseline.
            let simd = self.simd;
            if accumulate {
                w.par_chunks_mut(chunk)
                    .zip(acc.par_chunks_mut(chunk))
                    .zip(coefficients.par_chunks(ROWS_PER_TASK))
                    .zip(sums.par_chunks_mut(ROWS_PER_TASK))
                    .for_each(|(((wc, ac), cc), out)| {
                        simd.run(
                            #[inline(always)]
                            || update.fused_rows(wc, ac, cc, next, out),
                        )
                    });
            } else {
                w.par_chunks_mut(chunk)
                    .zip(coefficients.par_chunks(ROWS_PER_TASK))
                    .zip(sums.par_chunks_mut(ROWS_PER_TASK))
                    .for_each(|((wc, cc), out)| {
                        simd.run(
                            #[inline(always)]
                            || update.fused_rows(wc, &mut [], cc, next, out),
                        )
                    });
            }
            self.prefetched[q] = sums;
            self.prefetched_valid[q] = true;
        } else if L == 1 && w.len() >= PARALLEL_SYNAPSES {
            // A single large circuit: rows split across threads (`rows` enters the vector
            // level itself).
            use rayon::prelude::*;
            let chunk = ROWS_PER_TASK * cols;
            if accumulate {
                w.par_chunks_mut(chunk)
                    .zip(acc.par_chunks_mut(chunk))
                    .zip(coefficients.par_chunks(ROWS_PER_TASK))
                    .for_each(|((wc, ac), cc)| update.rows(wc, ac, cc));
            } else {
                w.par_chunks_mut(chunk)
                    .zip(coefficients.par_chunks(ROWS_PER_TASK))
                    .for_each(|(wc, cc)| update.rows(wc, &mut [], cc));
            }
        } else {
            update.rows(&mut w, &mut acc, &coefficients);
        }
        self.row_coefficients = coefficients;
        if motif.has_noise() {
            let mut scale = self.wnoise_scale[m];
            for (l, s) in scale.iter_mut().enumerate() {
                if frozen[l] || l >= self.active {
                    *s = T::zero();
                }
            }
            if scale.iter().any(|s| *s != T::zero()) {
                let stream = self.wnoise_stream[q];
                add_noise_normals(
                    self.simd.noise(),
                    &self.keys,
                    &self.seeds,
                    stream,
                    self.step,
                    scale,
                    &mut w,
                );
            }
        }
        self.w[q] = w;
        self.acc_dw[q] = acc;
        self.scratch = pre;
    }

    /// W ← W ⊙ M for a masked projection: absent synapses are zero again after the update and
    /// its noise.
    #[inline(always)]
    fn apply_mask(&mut self, q: usize) {
        if !self.absent_touched[q] {
            return;
        }
        for (wk, mk) in self.w[q].iter_mut().zip(&self.mask[q]) {
            let (mut v, m) = (*wk, *mk);
            for l in 0..L {
                // Selected rather than multiplied: −W·0 would leave −0.
                v[l] = if m[l] == T::zero() { T::zero() } else { v[l] };
            }
            *wk = v;
        }
    }

    /// One population's trace (nothing without one).
    #[inline(always)]
    fn update_trace(&mut self, p: usize) {
        if self.q[p].is_empty() {
            return;
        }
        let (keep, squared) = (self.q_keep[p], self.q_squared[p]);
        for (q, z) in self.q[p].iter_mut().zip(&self.z[p]) {
            for l in 0..L {
                let s = if squared { z[l] * z[l] } else { z[l] };
                q[l] = s + (q[l] - s) * keep[l];
            }
        }
    }

    fn copy_tied(&mut self, s: &Static) {
        on_level!(self.copy_tied_on_level(s))
    }

    #[inline(always)]
    fn copy_tied_on_level(&mut self, s: &Static) {
        for q in 0..s.plan.projections.len() {
            self.copy_tied_one(s, q);
        }
    }

    /// A tied matrix copies its partner's transpose, in the lanes where it is tied.
    #[inline(always)]
    fn copy_tied_one(&mut self, s: &Static, q: usize) {
        let Some(t) = s.plan.projections[q].tied_to else {
            return;
        };
        let tied = self.tied[q];
        if !tied.iter().any(|b| *b) {
            return;
        }
        let (rows_t, cols_t) = (s.plan.projections[t].rows, s.plan.projections[t].cols);
        let mut w = std::mem::take(&mut self.w[q]);
        let source = &self.w[t];
        for i in 0..rows_t {
            for j in 0..cols_t {
                let src = source[i * cols_t + j];
                let dst = &mut w[j * rows_t + i];
                for l in 0..L {
                    if tied[l] {
                        dst[l] = src[l];
                    }
                }
            }
        }
        self.w[q] = w;
    }

    /// A delayed projection's ring takes its source's rates of this step (nothing without a
    /// delay).
    #[inline(always)]
    fn push_ring(&mut self, s: &Static, q: usize) {
        let len = self.ring_len[q];
        if len == 0 {
            return;
        }
        let from = s.plan.projections[q].from;
        let size = s.plan.populations[from].size;
        let slot = self.step as usize % len;
        let z = &self.z[from];
        self.ring[q][slot * size..(slot + 1) * size].copy_from_slice(z);
    }

    // ---- window accumulators ----------------------------------------------------------------

    fn accumulate(&mut self, s: &Static) {
        on_level!(self.accumulate_on_level(s))
    }

    #[inline(always)]
    fn accumulate_on_level(&mut self, s: &Static) {
        let plan = &s.plan;
        let dt = self.dt_s;
        self.window_steps += 1;
        if let Some(out) = &plan.output {
            let (y, ys) = (&self.z[out.output], &self.z[out.target]);
            // Lane-parallel: each lane's loss sums its units in order (as one lane alone
            // would), and the arg-max keeps the first of equal values.
            let mut loss = [0.0_f64; L];
            let (mut best_y, mut best_t) = ([0_usize; L], [0_usize; L]);
            if let (Some(y0), Some(t0)) = (y.first(), ys.first()) {
                let (mut top_y, mut top_t) = (*y0, *t0);
                for (i, (yi, ti)) in y.iter().zip(ys).enumerate() {
                    let (yi, ti) = (*yi, *ti);
                    for l in 0..L {
                        let d = ti[l].f64() - yi[l].f64();
                        loss[l] += 0.5 * d * d;
                    }
                    if !self.classification {
                        continue;
                    }
                    for l in 0..L {
                        if yi[l] > top_y[l] {
                            top_y[l] = yi[l];
                            best_y[l] = i;
                        }
                        if ti[l] > top_t[l] {
                            top_t[l] = ti[l];
                            best_t[l] = i;
                        }
                    }
                }
            }
            for l in 0..L {
                if !self.present[l] {
                    continue;
                }
                self.loss[l] += loss[l] * dt;
                self.present_s[l] += dt;
                // Regression tasks report no accuracy: their correct time stays 0.
                if self.classification && best_y[l] == best_t[l] {
                    self.correct_s[l] += dt;
                }
            }
        }
        if s.accumulate.backprop {
            self.backprop_deltas(s);
        }
        let dtt = self.dt;
        let mut pre = std::mem::take(&mut self.scratch);
        for (q, proj) in plan.projections.iter().enumerate() {
            let (want_bp, want_heb) = (!self.acc_bp[q].is_empty(), !self.acc_ux[q].is_empty());
            if !want_bp && !want_heb {
                continue;
            }
            let delayed = self.delayed_rates(s, q, &mut pre);
            let x: &[[T; L]] = if delayed {
                &pre[..proj.cols]
            } else {
                &self.z[proj.from]
            };
            if let Some(h) = self.held[q].as_mut() {
                // x is held: the per-post sums suffice until the window ends or x changes.
                // (δ exists only when backprop is accumulated.)
                let empty: &[[T; L]] = &[];
                let delta = self.delta.get(proj.to).map_or(empty, |d| d.as_slice());
                for (sum, a) in [
                    (&mut h.sum_bp, delta),
                    (&mut h.sum_ux, self.u[proj.to].as_slice()),
                ] {
                    if sum.is_empty() {
                        continue;
                    }
                    for (si, ai) in sum.iter_mut().zip(a) {
                        for l in 0..L {
                            si[l] += ai[l] * dtt;
                        }
                    }
                }
                continue;
            }
            if want_bp {
                outer_add(&mut self.acc_bp[q], &self.delta[proj.to], x, dtt);
            }
            if want_heb {
                outer_add(&mut self.acc_ux[q], &self.u[proj.to], x, dtt);
            }
        }
        self.scratch = pre;
        if self.first == 0 && self.step < plan.trace_steps {
            self.record_traces(s);
        }
    }

    /// δ of exact backprop from the current activities: δ_out = e (the output error as the
    /// circuit delivers it), δ_h = φ'(u_h) ⊙ Σ sign·Wᵀ δ over the forward projections leaving h.
    fn backprop_deltas(&mut self, s: &Static) {
        on_level!(self.backprop_deltas_on_level(s))
    }

    #[inline(always)]
    fn backprop_deltas_on_level(&mut self, s: &Static) {
        let plan = &s.plan;
        let (Some(order), Some(out)) = (&plan.forward_order, &plan.output) else {
            return;
        };
        for &p in order.iter().rev() {
            let mut d = std::mem::take(&mut self.delta[p]);
            if p == out.output {
                d.copy_from_slice(&self.z[out.error]);
            } else if plan.populations[p].role == Role::Rate {
                d.iter_mut().for_each(|v| *v = zeros());
                for &q in &s.forward_out_of[p] {
                    let proj = &plan.projections[q];
                    matvec_t_add(
                        &mut d,
                        &self.w[q],
                        &self.delta[proj.to],
                        &self.sign[q],
                        proj.cols,
                    );
                }
                let act = plan.populations[p].activation;
                for ((v, u), z) in d.iter_mut().zip(&self.u[p]).zip(&self.z[p]) {
                    for l in 0..L {
                        v[l] *= act.derivative_at(u[l], z[l]);
                    }
                }
            }
            self.delta[p] = d;
        }
    }

    fn record_traces(&mut self, s: &Static) {
        let plan = &s.plan;
        let every = (plan.trace_steps / 2000).max(1);
        if !self.step.is_multiple_of(every) {
            return;
        }
        let t = self.step as f64 * self.dt_s;
        let mut push = |signal: String, value: f64| {
            self.traces.push(TracePoint {
                time_s: t,
                signal,
                value,
            })
        };
        let input = &plan.populations[plan.input];
        push(
            format!("input {}[0]", input.name),
            self.z[plan.input][0][0].f64(),
        );
        if let Some(out) = &plan.output {
            push(
                format!("output {}[0]", plan.populations[out.output].name),
                self.z[out.output][0][0].f64(),
            );
            push(
                format!("target {}[0]", plan.populations[out.target].name),
                self.z[out.target][0][0].f64(),
            );
            push(
                format!("error {}[0]", plan.populations[out.error].name),
                self.z[out.error][0][0].f64(),
            );
        }
        if let Some(motif) = plan.motifs.first() {
            let proj = &plan.projections[motif.projection];
            let x = self.z[proj.from][0][0].f64();
            let z = self.z[proj.to][0][0].f64();
            let m = motif
                .modulator
                .map(|mi| self.z[mi][0][0].f64())
                .unwrap_or(0.0);
            let stored = self.w[motif.projection][0][0];
            let w = match &self.held[motif.projection] {
                Some(h) => h.weight(stored, 0, 0, 0),
                None => stored,
            }
            .f64();
            let q = self.q[proj.to].first().map(|v| v[0].f64()).unwrap_or(0.0);
            let local = crate::rule::Local { x, z, m, w, q };
            let term = crate::rule::drive(&motif.theta[0], &local);
            push(format!("plasticity {}[0,0]", proj.name), term);
        }
    }

    // ---- RK4 (the operations of `crate::step::rk4`) ------------------------------------------

    /// The state the stages start from: u₀, W₀ ← u, W.
    fn stage_start(&mut self) {
        for (a, b) in self.rk_u0.iter_mut().zip(&self.u) {
            a.copy_from_slice(b);
        }
        for (a, b) in self.rk_w0.iter_mut().zip(&self.w) {
            if !a.is_empty() {
                a.copy_from_slice(b);
            }
        }
    }

    /// A rate population's slope at this stage's point: du/dt = (I − u)/τ.
    #[inline(always)]
    fn slope(&mut self, p: usize) {
        let it = self.inv_tau[p];
        for ((d, u), i) in self.rk_du[p].iter_mut().zip(&self.u[p]).zip(&self.inp[p]) {
            for l in 0..L {
                d[l] = (i[l] - u[l]) * it[l];
            }
        }
    }

    /// A motif's slope at this stage's point: dW/dt = drive/τ_w − W/τ_decay (zero in frozen
    /// lanes), the drive Σ θ_k term_k from the same row coefficients as the Euler step.
    fn weight_slope(&mut self, s: &Static, m: usize) {
        on_level!(self.weight_slope_on_level(s, m))
    }

    #[inline(always)]
    fn weight_slope_on_level(&mut self, s: &Static, m: usize) {
        let plan = &s.plan;
        let motif = &plan.motifs[m];
        let q = motif.projection;
        let proj = &plan.projections[q];
        let mut pre = std::mem::take(&mut self.scratch);
        let delayed = self.delayed_rates(s, q, &mut pre);
        let x: &[[T; L]] = if delayed {
            &pre[..proj.cols]
        } else {
            &self.z[proj.from]
        };
        let z = &self.z[proj.to];
        let th = &self.theta[m];
        let (itw, itd) = (self.inv_tau_w[m], self.inv_tau_decay[m]);
        let one = [T::one(); L];
        let post = |f: Post| match f {
            Post::Z => Some(z.as_slice()),
            Post::M => motif.modulator.map(|mm| self.z[mm].as_slice()),
            Post::Q => Some(self.q[proj.to].as_slice()),
        };
        let mut coefficients = std::mem::take(&mut self.row_coefficients);
        fill_row_coefficients(&mut coefficients, proj.rows, &self.forms[m], th, post, &one);
        let dw = &mut self.rk_dw[q];
        for (i, co) in coefficients.iter().enumerate() {
            for j in 0..proj.cols {
                let w = self.w[q][i * proj.cols + j];
                let d = &mut dw[i * proj.cols + j];
                for l in 0..L {
                    let xj = x[j][l];
                    let drive = co[A][l] * xj + co[C][l] + co[D][l] * w[l] + co[E][l] * xj * w[l];
                    d[l] = if self.frozen[l] {
                        T::zero()
                    } else {
                        drive * itw[l] - w[l] * itd[l]
                    };
                }
            }
        }
        self.row_coefficients = coefficients;
        self.scratch = pre;
    }

    /// Stage `stage` (0–3): its slopes join the weighted sum (weights 1, 2, 2, 1), and u and W
    /// move from u₀, W₀ to the next stage's point (dt/2, dt/2, dt; the last moves nothing).
    fn rk_stage(&mut self, s: &Static, stage: u8) {
        on_level!(self.rk_stage_on_level(s, stage))
    }

    #[inline(always)]
    fn rk_stage_on_level(&mut self, s: &Static, stage: u8) {
        let plan = &s.plan;
        let dt = self.dt;
        let half = dt * T::of(0.5);
        let (weight, advance) = match stage {
            0 => (T::one(), half),
            1 => (T::of(2.0), half),
            2 => (T::of(2.0), dt),
            _ => (T::one(), T::zero()),
        };
        for &p in &plan.order {
            if plan.populations[p].instantaneous {
                continue;
            }
            for ((acc, d), (u, u0)) in self.rk_su[p]
                .iter_mut()
                .zip(&self.rk_du[p])
                .zip(self.u[p].iter_mut().zip(&self.rk_u0[p]))
            {
                for l in 0..L {
                    acc[l] = if stage == 0 {
                        d[l]
                    } else {
                        acc[l] + weight * d[l]
                    };
                    u[l] = u0[l] + advance * d[l];
                }
            }
        }
        for m in &plan.motifs {
            let q = m.projection;
            for ((acc, d), (w, w0)) in self.rk_sw[q]
                .iter_mut()
                .zip(&self.rk_dw[q])
                .zip(self.w[q].iter_mut().zip(&self.rk_w0[q]))
            {
                for l in 0..L {
                    acc[l] = if stage == 0 {
                        d[l]
                    } else {
                        acc[l] + weight * d[l]
                    };
                    w[l] = w0[l] + advance * d[l];
                }
            }
        }
    }

    /// The step's end: u, W ← u₀, W₀ + dt/6 · (the weighted sum of slopes).
    fn stage_end(&mut self, s: &Static) {
        on_level!(self.stage_end_on_level(s))
    }

    #[inline(always)]
    fn stage_end_on_level(&mut self, s: &Static) {
        let plan = &s.plan;
        let sixth = self.dt / T::of(6.0);
        for &p in &plan.order {
            if plan.populations[p].instantaneous {
                continue;
            }
            for ((u, u0), acc) in self.u[p].iter_mut().zip(&self.rk_u0[p]).zip(&self.rk_su[p]) {
                for l in 0..L {
                    u[l] = u0[l] + sixth * acc[l];
                }
            }
        }
        for m in &plan.motifs {
            let q = m.projection;
            for ((w, w0), acc) in self.w[q].iter_mut().zip(&self.rk_w0[q]).zip(&self.rk_sw[q]) {
                for l in 0..L {
                    w[l] = w0[l] + sixth * acc[l];
                }
            }
        }
    }

    /// The rule's ΔW for the window under RK4, from the first stage's slope with the decay
    /// part added back (decay is excluded from ΔW_rule by definition).
    fn accumulate_rule_slope(&mut self, s: &Static) {
        on_level!(self.accumulate_rule_slope_on_level(s))
    }

    #[inline(always)]
    fn accumulate_rule_slope_on_level(&mut self, s: &Static) {
        for (m, motif) in s.plan.motifs.iter().enumerate() {
            let q = motif.projection;
            if self.acc_dw[q].is_empty() {
                continue;
            }
            let itd = self.inv_tau_decay[m];
            let dt = self.dt;
            for ((acc, d), w) in self.acc_dw[q]
                .iter_mut()
                .zip(&self.rk_dw[q])
                .zip(&self.w[q])
            {
                for l in 0..L {
                    acc[l] += dt * (d[l] + w[l] * itd[l]);
                }
            }
        }
    }

    /// A rate population's rates follow its u.
    #[inline(always)]
    fn rates(&mut self, s: &Static, p: usize) {
        apply_rates(
            self.simd,
            s.plan.populations[p].activation,
            &self.u[p],
            &mut self.z[p],
        );
    }

    /// A rate population's additive noise after the RK4 stages, where its phase gives it any.
    #[inline(always)]
    fn noise_after_stages(&mut self, p: usize) {
        if self.any_noise[p] {
            let mut u = std::mem::take(&mut self.u[p]);
            self.add_noise(p, &mut u);
            self.u[p] = u;
        }
    }

    // ---- reading out ------------------------------------------------------------------------

    pub fn write_snapshot(&self, snap: &mut Snapshot) {
        let scatter = |dst: &mut Vec<f64>, src: &Buf<T, L>, n: usize| {
            for l in 0..self.active {
                let inst = self.first + l;
                for k in 0..n {
                    dst[inst * n + k] = src[k][l].f64();
                }
            }
        };
        for (q, w) in self.w.iter().enumerate() {
            match &self.held[q] {
                None => scatter(&mut snap.weights[q], w, w.len()),
                Some(h) => {
                    // The exact W = G·W₀ + D xᵀ, computed without writing the state; a large
                    // matrix a few rows per thread.
                    use rayon::prelude::*;
                    let (n, cols) = (w.len(), h.cols());
                    let dst = &mut snap.weights[q];
                    for l in 0..self.active {
                        let out = &mut dst[(self.first + l) * n..(self.first + l + 1) * n];
                        let row = |(i, (o, stored)): (usize, (&mut [f64], &[[T; L]]))| {
                            h.write_row(stored, i, l, o)
                        };
                        if n >= PARALLEL_SYNAPSES {
                            out.par_chunks_mut(cols)
                                .zip(w.par_chunks(cols))
                                .enumerate()
                                .for_each(row);
                        } else {
                            out.chunks_mut(cols)
                                .zip(w.chunks(cols))
                                .enumerate()
                                .for_each(row);
                        }
                    }
                }
            }
        }
        for p in 0..self.u.len() {
            scatter(&mut snap.u[p], &self.u[p], self.u[p].len());
            scatter(&mut snap.z[p], &self.z[p], self.z[p].len());
            scatter(&mut snap.traces[p], &self.q[p], self.q[p].len());
        }
    }

    pub fn take_window(&mut self, s: &Static, w: &mut Window) {
        let active = self.active;
        let first = self.first;
        let drain = |dst: &mut Vec<f64>, src: &mut Buf<T, L>, e: usize| {
            if src.is_empty() {
                return;
            }
            let n = src.len();
            if dst.is_empty() {
                dst.resize(e * n, 0.0);
            }
            for l in 0..active {
                for k in 0..n {
                    dst[(first + l) * n + k] = src[k][l].f64();
                }
            }
            src.iter_mut().for_each(|v| *v = zeros());
        };
        let e = s.plan.n_instances();
        for q in 0..self.w.len() {
            if let Some(h) = self.held[q].as_mut() {
                h.spread(Accumulators {
                    dw: &mut self.acc_dw[q],
                    bp: &mut self.acc_bp[q],
                    ux: &mut self.acc_ux[q],
                });
            }
            let pw = &mut w.projections[q];
            drain(&mut pw.dw_rule, &mut self.acc_dw[q], e);
            drain(&mut pw.backprop, &mut self.acc_bp[q], e);
            drain(&mut pw.u_x, &mut self.acc_ux[q], e);
        }
        for l in 0..active {
            w.loss_integral[first + l] = self.loss[l];
            w.present_s[first + l] = self.present_s[l];
            w.correct_s[first + l] = self.correct_s[l];
        }
        w.steps = self.window_steps;
        self.loss = [0.0; L];
        self.present_s = [0.0; L];
        self.correct_s = [0.0; L];
        self.window_steps = 0;
        w.traces.append(&mut self.traces);
    }

    /// Loads phase `k`'s tables for the steps that follow, keeping the state. Where the stimulus
    /// tables differ from the loaded phase's (another task, scale or clamp), the sample held
    /// and the forward sums computed ahead from it are dropped, so the next step draws its
    /// stimulus from the new tables; a deferred matrix then sees a new input and is written
    /// (`Held::changed` compares the rates). Entering the loaded phase changes nothing.
    pub fn enter_phase(&mut self, s: &Static, k: usize) {
        let plan = &s.plan;
        if k == self.phase {
            return;
        }
        let restimulate = !plan.phases[k]
            .tables
            .same_stimulus(&plan.phases[self.phase].tables);
        self.load_phase(s, k);
        if restimulate {
            self.sample = [u64::MAX; L];
            self.shown = [(u64::MAX, false); L];
            self.input_written = true;
            self.prefetched_valid.iter_mut().for_each(|v| *v = false);
        }
    }

    /// Sets the parameters of phase `k` (its tables, with frozen lanes kept without noise),
    /// leaving the state as it is.
    fn load_phase(&mut self, s: &Static, k: usize) {
        let plan = &s.plan;
        let tables = &plan.phases[k].tables;
        let p = PhaseParams::of(plan, tables, self.first, self.active);
        self.noise_scale = p.noise_scale;
        self.any_noise = p.any_noise;
        self.rate_w = p.rate_w;
        self.decay_w = p.decay_w;
        self.theta = p.theta;
        self.inv_tau_w = p.inv_tau_w;
        self.inv_tau_decay = p.inv_tau_decay;
        self.wnoise_scale = p.wnoise_scale;
        self.tasks = p.tasks;
        self.input_scale = p.input_scale;
        self.clamp = p.clamp;
        self.phase = k;
        // A frozen lane stays without noise (`freeze`).
        for l in (0..L).filter(|&l| self.frozen[l]) {
            self.noise_scale.iter_mut().for_each(|v| v[l] = T::zero());
            self.wnoise_scale.iter_mut().for_each(|v| v[l] = T::zero());
        }
    }

    // ---- saved state --------------------------------------------------------------------------

    /// Writes everything the next step reads: the state, the window gathered so far, the
    /// parameters `freeze` zeroes that no phase sets (signs, biases) and the phase. The phase's
    /// own parameters (noise scales among them) are derived again from the plan on restoring.
    /// Scratch that every step writes before reading (`scratch`, row coefficients, RK4 stages)
    /// is left out.
    pub fn save_state(&self, out: &mut Vec<u8>) {
        macro_rules! put {
            ($x:expr) => {
                Field::save(&$x, out)
            };
        }
        block_state!(self, put);
        put!(self.phase);
        put!(self.traces);
    }

    /// Reads back what `save_state` wrote, into a block of the same plan, and loads the
    /// parameters of the phase it was saved in (a restored run goes on in that phase, with
    /// the stimulus it held).
    pub fn restore_state(&mut self, s: &Static, input: &mut &[u8]) -> Result<(), StateError> {
        macro_rules! get {
            ($x:expr) => {
                Field::load(&mut $x, input)?
            };
        }
        block_state!(self, get);
        let mut phase = 0usize;
        get!(phase);
        if phase >= s.plan.phases.len() {
            return Err(StateError(format!(
                "the state image was saved in phase {} of a protocol of {}",
                phase + 1,
                s.plan.phases.len()
            )));
        }
        Growing(&mut self.traces).load(input)?;
        self.load_phase(s, phase);
        Ok(())
    }

    /// Puts carried activities (`ActivitySeed`, checked against the plan) into this block's
    /// lanes before the first step; forward sums computed ahead are dropped.
    pub fn set_activities(&mut self, seed: &ActivitySeed) {
        let (first, active) = (self.first, self.active);
        let put = |dst: &mut Buf<T, L>, src: &Option<Vec<f64>>| {
            let Some(src) = src else { return };
            let n = dst.len();
            for l in 0..active {
                for (k, v) in dst.iter_mut().enumerate() {
                    v[l] = T::of(src[(first + l) * n + k]);
                }
            }
        };
        for p in 0..self.u.len() {
            put(&mut self.u[p], &seed.u[p]);
            put(&mut self.z[p], &seed.z[p]);
            put(&mut self.q[p], &seed.q[p]);
        }
        self.prefetched_valid.iter_mut().for_each(|v| *v = false);
    }

    pub fn freeze(&mut self, lane: usize) {
        self.frozen[lane] = true;
        // Its input and target are zeroed below: the next step writes them again.
        self.shown[lane] = (u64::MAX, false);
        self.prefetched_valid.iter_mut().for_each(|v| *v = false);
        for h in self.held.iter_mut().flatten() {
            h.freeze(lane);
        }
        for buf in self
            .u
            .iter_mut()
            .chain(self.z.iter_mut())
            .chain(self.inp.iter_mut())
            .chain(self.q.iter_mut())
            .chain(self.w.iter_mut())
            .chain(self.ring.iter_mut())
        {
            for v in buf.iter_mut() {
                v[lane] = T::zero();
            }
        }
        // A frozen lane keeps being driven by the task; zero signs keep it silent and finite.
        for sign in self.sign.iter_mut() {
            sign[lane] = T::zero();
        }
        for bias in self.bias.iter_mut() {
            bias[lane] = T::zero();
        }
        // Nor does noise drive it: a frozen instance stays exactly at zero.
        for scale in self.noise_scale.iter_mut() {
            scale[lane] = T::zero();
        }
        for scale in self.wnoise_scale.iter_mut() {
            scale[lane] = T::zero();
        }
    }
}

/// The numbers of one protocol phase for a block's lanes (`plan::PhaseTables`), as the step
/// reads them; per-step coefficients come from the plan's, so every backend integrates alike.
struct PhaseParams<T: Real, const L: usize> {
    noise_scale: Vec<[T; L]>,
    any_noise: Vec<bool>,
    rate_w: Vec<[T; L]>,
    decay_w: Vec<[T; L]>,
    theta: Vec<[[T; L]; N_TERMS]>,
    inv_tau_w: Vec<[T; L]>,
    inv_tau_decay: Vec<[T; L]>,
    wnoise_scale: Vec<[T; L]>,
    tasks: Vec<Arc<Task>>,
    input_scale: [f64; L],
    clamp: Vec<[Option<f64>; L]>,
}

impl<T: Real, const L: usize> PhaseParams<T, L> {
    fn of(plan: &crate::plan::Plan, t: &PhaseTables, first: usize, active: usize) -> Self {
        let lanes = |v: &[f64]| lanes_of::<T, L>(v, first, active);
        let lane_instance = |l: usize| first + if l < active { l } else { 0 };
        let pops = &plan.populations;
        let noise_scale = pops
            .iter()
            .zip(&t.noise)
            .map(|(p, noise)| {
                lanes(
                    &noise
                        .iter()
                        .zip(&p.tau_s)
                        .map(|(sigma, tau)| plan.noise_step(*sigma, *tau))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let any_noise = t
            .noise
            .iter()
            .map(|noise| noise[first..first + active].iter().any(|s| *s != 0.0))
            .collect();
        let motifs = 0..plan.motifs.len();
        let rate_w = motifs
            .clone()
            .map(|m| {
                lanes(
                    &t.tau_w_s[m]
                        .iter()
                        .zip(&t.tau_decay_s[m])
                        .map(|(tw, td)| plan.weight_rate(*tw, *td))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let decay_w = motifs
            .clone()
            .map(|m| {
                lanes(
                    &t.tau_decay_s[m]
                        .iter()
                        .map(|td| plan.weight_retention(*td))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let theta = motifs
            .clone()
            .map(|m| {
                std::array::from_fn(|k| {
                    lanes(&t.theta[m].iter().map(|th| th[k]).collect::<Vec<_>>())
                })
            })
            .collect();
        let inv_tau_w = motifs
            .clone()
            .map(|m| lanes(&t.tau_w_s[m].iter().map(|t| 1.0 / t).collect::<Vec<_>>()))
            .collect();
        let inv_tau_decay = motifs
            .clone()
            .map(|m| lanes(&t.tau_decay_s[m].iter().map(|t| 1.0 / t).collect::<Vec<_>>()))
            .collect();
        let wnoise_scale = motifs
            .map(|m| {
                lanes(
                    &t.weight_noise[m]
                        .iter()
                        .zip(&t.tau_w_s[m])
                        .map(|(s, tw)| plan.weight_noise_step(*s, *tw))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        PhaseParams {
            noise_scale,
            any_noise,
            rate_w,
            decay_w,
            theta,
            inv_tau_w,
            inv_tau_decay,
            wnoise_scale,
            tasks: (0..L).map(|l| t.tasks[lane_instance(l)].clone()).collect(),
            input_scale: std::array::from_fn(|l| t.input_scale[lane_instance(l)]),
            clamp: t
                .clamp
                .iter()
                .map(|c| std::array::from_fn(|l| c[lane_instance(l)]))
                .collect(),
        }
    }
}

/// Adds `scale[l]` times noise normal `e` (in the engine's precision) of draw (lane l's seed,
/// `stream`, `step`) to element `e` of lane `l` of `buf` (`crate::normals`' layout), leaving
/// lanes whose scale is zero exactly as they were. An ensemble block draws one Philox block for
/// all its lanes at once; a single instance draws `NOISE_BLOCKS` consecutive blocks at once.
/// The normals are drawn at `noise`'s vector level ([`Simd::noise`]) a group of blocks at a
/// time, and added at the caller's.
#[inline(always)]
fn add_noise_normals<T: Real, const L: usize>(
    noise: Simd,
    keys: &[[u32; L]; 2],
    seeds: &[u64; L],
    stream: u32,
    step: u64,
    scale: [T; L],
    buf: &mut [[T; L]],
) {
    if L == 1 {
        let s = scale[0];
        if s == T::zero() {
            return;
        }
        for (g, group) in buf.chunks_mut(4 * NOISE_BLOCKS).enumerate() {
            let block = (g * NOISE_BLOCKS) as u32;
            let n = noise.run(
                #[inline(always)]
                || {
                    let words = normals::block_words::<NOISE_BLOCKS>(seeds[0], stream, step, block);
                    T::noise_normals(words)
                },
            );
            for (e, v) in group.iter_mut().enumerate() {
                v[0] += s * n[e % 4][e / 4];
            }
        }
        return;
    }
    // Every lane takes its noise (the usual case: a full block, nothing frozen): kept apart
    // from the lane select, which the compiler turns into a masked store — microcoded and
    // several times slower on AMD — even when every lane is written.
    let every_lane = scale.iter().all(|s| *s != T::zero());
    let blocks = buf.len().div_ceil(4);
    let mut n = NormalGroup([[zeros::<T, L>(); 4]; NOISE_GROUP]);
    for first in (0..blocks).step_by(NOISE_GROUP) {
        let count = NOISE_GROUP.min(blocks - first);
        noise.run(
            #[inline(always)]
            || {
                for (k, out) in n.0[..count].iter_mut().enumerate() {
                    let block = (first + k) as u32;
                    *out = T::noise_normals(normals::lane_words(keys, stream, step, block));
                }
            },
        );
        let end = buf.len().min(4 * (first + count));
        let chunk = &mut buf[4 * first..end];
        if every_lane {
            for (e, v) in chunk.iter_mut().enumerate() {
                // Local copies, so the lane loop vectorises (see `RowUpdate::rows`).
                let (mut x, n) = (*v, n.0[e / 4][e % 4]);
                for l in 0..L {
                    x[l] += scale[l] * n[l];
                }
                *v = x;
            }
        } else {
            for (e, v) in chunk.iter_mut().enumerate() {
                let (mut x, n) = (*v, n.0[e / 4][e % 4]);
                for l in 0..L {
                    let added = x[l] + scale[l] * n[l];
                    x[l] = if scale[l] != T::zero() { added } else { x[l] };
                }
                *v = x;
            }
        }
    }
}

/// Philox blocks of an ensemble block drawn per call at the noise level (128 normals per lane:
/// enough work per call that the call costs nothing, small enough to stay in L1).
const NOISE_GROUP: usize = 32;

/// The normals of `NOISE_GROUP` Philox blocks for `L` lanes, aligned so the noise level's
/// widest stores do not straddle cache lines.
#[repr(align(64))]
struct NormalGroup<T, const L: usize>([[[T; L]; 4]; NOISE_GROUP]);

/// Philox blocks a single instance's noise draws side by side (8 × 4 normals).
const NOISE_BLOCKS: usize = 8;

/// Matrices at least this large are split across threads when a block has one lane (a single
/// large circuit): below it, fork-join costs more than it saves.
pub(crate) const PARALLEL_SYNAPSES: usize = 1 << 16;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 32;

/// out[i] += sign · Σ_j W[i,j] r[j], lane-wise.
#[inline(always)]
fn matvec_add<T: Real, const L: usize>(
    simd: Simd,
    out: &mut [[T; L]],
    w: &[[T; L]],
    r: &[[T; L]],
    sign: &[T; L],
    cols: usize,
) {
    if L == 1 {
        // One lane: vectorise along the row instead, with independent partial sums.
        let r = r.as_flattened();
        if w.len() >= PARALLEL_SYNAPSES {
            use rayon::prelude::*;
            out.par_chunks_mut(ROWS_PER_TASK)
                .zip(w.par_chunks(ROWS_PER_TASK * cols))
                .for_each(|(o, wc)| {
                    simd.run(
                        #[inline(always)]
                        || add_row_dots(o, wc, r, sign[0], cols),
                    )
                });
        } else {
            add_row_dots(out, w, r, sign[0], cols);
        }
        return;
    }
    // Four rows at a time: each row's sum is a chain of dependent additions, so interleaving
    // rows keeps several in flight (each row still sums its columns in order).
    let mut out_rows = out.chunks_exact_mut(4);
    let mut w_rows = w.chunks_exact(4 * cols);
    for (o4, w4) in (&mut out_rows).zip(&mut w_rows) {
        let mut acc = [[T::zero(); L]; 4];
        for (j, rj) in r.iter().enumerate() {
            let rj = *rj;
            for (k, a) in acc.iter_mut().enumerate() {
                let wij = w4[k * cols + j];
                for l in 0..L {
                    a[l] += wij[l] * rj[l];
                }
            }
        }
        for (o, a) in o4.iter_mut().zip(&acc) {
            let mut v = *o;
            for l in 0..L {
                v[l] += sign[l] * a[l];
            }
            *o = v;
        }
    }
    for (o, row) in out_rows
        .into_remainder()
        .iter_mut()
        .zip(w_rows.remainder().chunks_exact(cols))
    {
        let mut acc = [T::zero(); L];
        for (wij, rj) in row.iter().zip(r) {
            let (wij, rj) = (*wij, *rj);
            for l in 0..L {
                acc[l] += wij[l] * rj[l];
            }
        }
        let mut v = *o;
        for l in 0..L {
            v[l] += sign[l] * acc[l];
        }
        *o = v;
    }
}

/// out[i] += sign · (row i of W)·r for one lane (the rows of `w` are `cols` long).
#[inline(always)]
fn add_row_dots<T: Real, const L: usize>(
    out: &mut [[T; L]],
    w: &[[T; L]],
    r: &[T],
    sign: T,
    cols: usize,
) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(cols)) {
        o[0] += sign * dot(row.as_flattened(), r);
    }
}

/// out[j] += sign · Σ_i W[i,j] d[i], lane-wise (the transpose product of backprop).
#[inline(always)]
fn matvec_t_add<T: Real, const L: usize>(
    out: &mut [[T; L]],
    w: &[[T; L]],
    d: &[[T; L]],
    sign: &[T; L],
    cols: usize,
) {
    for (row, di) in w.chunks_exact(cols).zip(d) {
        let mut sd = [T::zero(); L];
        for l in 0..L {
            sd[l] = sign[l] * di[l];
        }
        for (o, wij) in out.iter_mut().zip(row) {
            for l in 0..L {
                o[l] += wij[l] * sd[l];
            }
        }
    }
}

/// acc[i,j] += dt · a[i] · b[j], lane-wise.
#[inline(always)]
fn outer_add<T: Real, const L: usize>(acc: &mut [[T; L]], a: &[[T; L]], b: &[[T; L]], dt: T) {
    let cols = b.len();
    for (row, ai) in acc.chunks_exact_mut(cols).zip(a) {
        let mut s = [T::zero(); L];
        for l in 0..L {
            s[l] = ai[l] * dt;
        }
        for (v, bj) in row.iter_mut().zip(b) {
            for l in 0..L {
                v[l] += s[l] * bj[l];
            }
        }
    }
}
