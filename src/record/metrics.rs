//! The measurements of one recording window, computed from plan-level data (snapshots and
//! window accumulators) so that every backend is measured the same way.
//!
//! Definitions (DESIGN §1.5):
//! - gradient angle: ∠(ΔW_rule, ΔW_bp), ΔW_bp = (θ_mx/τ_w)∫ δ_bp xᵀ dt with δ_bp from exact
//!   backprop of the delivered output error through the current forward weights;
//! - loss angle: ∠(ΔW_rule, G), G = Σ_s t_s·(−∇_W L_s) at the window's starting weights,
//!   through the forward pathway's steady-state map, t_s the time sample s was shown;
//! - learning strength: ⟨ΔW_rule, G/τ_w⟩ / ‖G/τ_w‖²;
//! - Hebbian signature: cos(ΔW_rule, ∫ u xᵀ dt), ΔW_rule the rule's own update over the window
//!   (decay and weight noise excluded; cos(∫ m xᵀ, ∫ u xᵀ) for θ_mx > 0 alone), for every plastic
//!   projection, Hebbian and Oja rules included;
//! - weight angle: ∠(B, Wᵀ) and ‖B‖/‖W‖ for every feedback matrix that stands in for W.
//!
//! A forward pathway with loops has no per-step backprop in the engines: its steady state is its
//! fixed point ([`FixedPoint`]), G and the held-out loss are taken there, and the gradient
//! angle's reference is Σ_s t_s (−∇_W L_s) with each sample's weights interpolated between the
//! window's start and end; a window without a fixed point leaves those cells empty and returns
//! a note for the run ([`window_rows_noted`]).

use crate::backend::{Snapshot, Window};
use crate::measure::{self, FeedForward, FfPopulation, FfProjection, FixedPoint, MeasureError};
use crate::numeric::dot;
use crate::plan::Plan;
use crate::simd::Simd;
use crate::spec::{Measure, Role};
use nalgebra::DMatrix;
use rayon::prelude::*;

/// One row of metrics.csv.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub time_s: f64,
    pub instance: usize,
    /// A projection name, or `all` for instance-level values and concatenations.
    pub projection: String,
    /// The protocol phase of the window (`plan::RUN_PHASE` without a protocol).
    pub phase: String,
    pub loss: Option<f64>,
    pub accuracy: Option<f64>,
    pub held_out_loss: Option<f64>,
    pub held_out_accuracy: Option<f64>,
    pub gradient_angle_deg: Option<f64>,
    pub loss_angle_deg: Option<f64>,
    pub learning_strength: Option<f64>,
    pub hebbian_signature: Option<f64>,
    pub weight_angle_deg: Option<f64>,
    pub weight_norm_ratio: Option<f64>,
    pub first_task_loss: Option<f64>,
}

/// A measurement column, declared once: `metrics.csv`'s header, the writer and every reader
/// (`plot`, the summaries, sweep statistics and their figures, Python) take its name, words,
/// unit and the `record.measure` entry that records it from here.
#[derive(Debug)]
pub struct MetricDef {
    /// The column in `metrics.csv`, which also starts a sweep's summary column.
    pub column: &'static str,
    /// Its short words, on an axis or in a note ("gradient angle").
    pub name: &'static str,
    /// Its words in a title, with the formula where one helps.
    pub title: &'static str,
    /// Its unit as an axis label ends: " (°)", " (cosine)", or "" for none.
    pub unit: &'static str,
    /// The `record.measure` entries any one of which records it (and so the window sums it
    /// needs, `backend::Accumulate::needed_by`); none: recorded in every run.
    pub recorded_by: &'static [Measure],
}

/// Every [`Metric`]'s declaration, in [`Metric::ALL`] (file) order.
const METRICS: [MetricDef; N_METRICS] = [
    MetricDef {
        column: "loss",
        name: "loss",
        title: "loss",
        unit: "",
        recorded_by: &[],
    },
    MetricDef {
        column: "accuracy",
        name: "accuracy",
        title: "accuracy",
        unit: "",
        recorded_by: &[],
    },
    MetricDef {
        column: "held_out_loss",
        name: "held-out loss",
        title: "held-out loss",
        unit: "",
        recorded_by: &[Measure::Loss, Measure::Accuracy],
    },
    MetricDef {
        column: "held_out_accuracy",
        name: "held-out accuracy",
        title: "held-out accuracy",
        unit: "",
        recorded_by: &[Measure::Loss, Measure::Accuracy],
    },
    MetricDef {
        column: "gradient_angle_deg",
        name: "gradient angle",
        title: "gradient angle ∠(ΔW rule, ΔW backprop)",
        unit: " (°)",
        recorded_by: &[Measure::GradientAlignment],
    },
    MetricDef {
        column: "loss_angle_deg",
        name: "loss angle",
        title: "loss angle ∠(ΔW rule, −∇L)",
        unit: " (°)",
        recorded_by: &[Measure::LossAlignment],
    },
    MetricDef {
        column: "learning_strength",
        name: "learning strength",
        title: "learning strength ⟨ΔW, G⟩/‖G‖²",
        unit: "",
        recorded_by: &[Measure::LearningStrength],
    },
    MetricDef {
        column: "hebbian_signature",
        name: "Hebbian signature",
        title: "Hebbian signature",
        unit: " (cosine)",
        recorded_by: &[Measure::HebbianSignature],
    },
    MetricDef {
        column: "weight_angle_deg",
        name: "weight angle",
        title: "weight angle ∠(B, Wᵀ)",
        unit: " (°)",
        recorded_by: &[Measure::WeightAlignment],
    },
    MetricDef {
        column: "weight_norm_ratio",
        name: "‖B‖/‖W‖",
        title: "‖B‖/‖W‖",
        unit: "",
        recorded_by: &[Measure::WeightAlignment],
    },
    MetricDef {
        column: "first_task_loss",
        name: "first task's held-out loss",
        title: "held-out loss on the first phase's task",
        unit: "",
        recorded_by: &[Measure::Loss, Measure::Accuracy],
    },
];

/// The key columns of `metrics.csv` before the metrics.
const KEY_COLUMNS: [&str; KEYS] = ["time_s", "instance", "projection", "phase"];

/// The schema of `metrics.csv`: [`KEYS`] key columns, then one column per [`Metric`] in
/// [`Metric::ALL`] order, named by its declaration.
pub const COLUMNS: [&str; KEYS + N_METRICS] = {
    let mut columns = [""; KEYS + N_METRICS];
    let mut i = 0;
    while i < KEYS {
        columns[i] = KEY_COLUMNS[i];
        i += 1;
    }
    let mut k = 0;
    while k < N_METRICS {
        columns[KEYS + k] = METRICS[k].column;
        k += 1;
    }
    columns
};

/// The key columns of `metrics.csv` (time, instance, projection, phase) before the metrics.
pub const KEYS: usize = 4;
pub const N_METRICS: usize = 11;

/// The numeric columns of `metrics.csv`, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Loss,
    Accuracy,
    HeldOutLoss,
    HeldOutAccuracy,
    GradientAngle,
    LossAngle,
    LearningStrength,
    HebbianSignature,
    WeightAngle,
    WeightNormRatio,
    FirstTaskLoss,
}

impl Metric {
    pub const ALL: [Metric; N_METRICS] = [
        Metric::Loss,
        Metric::Accuracy,
        Metric::HeldOutLoss,
        Metric::HeldOutAccuracy,
        Metric::GradientAngle,
        Metric::LossAngle,
        Metric::LearningStrength,
        Metric::HebbianSignature,
        Metric::WeightAngle,
        Metric::WeightNormRatio,
        Metric::FirstTaskLoss,
    ];

    /// Its declaration.
    pub fn def(self) -> &'static MetricDef {
        &METRICS[self.index()]
    }

    /// The column header in `metrics.csv`.
    pub fn column(self) -> &'static str {
        self.def().column
    }

    /// Whether a run of `plan` records it.
    pub fn recorded(self, plan: &Plan) -> bool {
        let by = self.def().recorded_by;
        by.is_empty() || by.iter().any(|&m| plan.measures(m))
    }

    /// The `record.measure` entry that records it, if it needs one.
    pub fn measure(self) -> Option<Measure> {
        self.def().recorded_by.first().copied()
    }

    /// The metric whose column is `name`.
    pub fn named(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.column() == name)
    }

    /// Position in [`Metric::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Row {
    /// The value of one metric column.
    pub fn get(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::Loss => self.loss,
            Metric::Accuracy => self.accuracy,
            Metric::HeldOutLoss => self.held_out_loss,
            Metric::HeldOutAccuracy => self.held_out_accuracy,
            Metric::GradientAngle => self.gradient_angle_deg,
            Metric::LossAngle => self.loss_angle_deg,
            Metric::LearningStrength => self.learning_strength,
            Metric::HebbianSignature => self.hebbian_signature,
            Metric::WeightAngle => self.weight_angle_deg,
            Metric::WeightNormRatio => self.weight_norm_ratio,
            Metric::FirstTaskLoss => self.first_task_loss,
        }
    }

    fn slot(&mut self, metric: Metric) -> &mut Option<f64> {
        match metric {
            Metric::Loss => &mut self.loss,
            Metric::Accuracy => &mut self.accuracy,
            Metric::HeldOutLoss => &mut self.held_out_loss,
            Metric::HeldOutAccuracy => &mut self.held_out_accuracy,
            Metric::GradientAngle => &mut self.gradient_angle_deg,
            Metric::LossAngle => &mut self.loss_angle_deg,
            Metric::LearningStrength => &mut self.learning_strength,
            Metric::HebbianSignature => &mut self.hebbian_signature,
            Metric::WeightAngle => &mut self.weight_angle_deg,
            Metric::WeightNormRatio => &mut self.weight_norm_ratio,
            Metric::FirstTaskLoss => &mut self.first_task_loss,
        }
    }

    /// The row's cells in [`COLUMNS`] order, as `metrics.csv` holds them.
    pub fn cells(&self) -> Vec<String> {
        let mut out = vec![
            format!("{:.6}", self.time_s),
            self.instance.to_string(),
            self.projection.clone(),
            self.phase.clone(),
        ];
        out.extend(
            Metric::ALL
                .iter()
                .map(|&m| self.get(m).map(|x| format!("{x:.6e}")).unwrap_or_default()),
        );
        out
    }

    /// A row read back from `metrics.csv` cells in [`COLUMNS`] order (the inverse of
    /// [`Row::cells`] up to the printed precision); None when a key cell does not parse.
    pub fn from_cells(cells: &[&str]) -> Option<Row> {
        if cells.len() != COLUMNS.len() {
            return None;
        }
        let mut row = Row {
            time_s: cells[0].parse().ok()?,
            instance: cells[1].parse().ok()?,
            projection: cells[2].to_string(),
            phase: cells[3].to_string(),
            ..Row::default()
        };
        for (m, cell) in Metric::ALL.iter().zip(&cells[KEYS..]) {
            *row.slot(*m) = cell.parse().ok();
        }
        Some(row)
    }
}

/// The steady-state forward map of instance `e` with the given weights, or None when the
/// forward pathway is recurrent (see [`fixed_point`]) or there is no output. Returns the map and,
/// for each plan projection, its index among the map's projections.
pub fn feedforward(
    plan: &Plan,
    weights: &[Vec<f64>],
    e: usize,
) -> Option<(FeedForward, Vec<Option<usize>>)> {
    let order = plan.forward_order.as_ref()?;
    let (pops, projs, output, map) = pathway(plan, order, weights, e)?;
    let ff = FeedForward::new(pops, projs, output).ok()?;
    Some((ff, map))
}

/// The forward pathway of instance `e` with the given weights as a network with loops, to be
/// taken at its fixed point: every input and rate population (in plan order) and every forward
/// projection. None where the pathway has no loop (then [`feedforward`] is its map) or no output.
pub fn fixed_point(
    plan: &Plan,
    weights: &[Vec<f64>],
    e: usize,
) -> Option<(FixedPoint, Vec<Option<usize>>)> {
    if plan.forward_order.is_some() {
        return None;
    }
    let members: Vec<usize> = (0..plan.populations.len())
        .filter(|&p| matches!(plan.populations[p].role, Role::Input | Role::Rate))
        .collect();
    let (pops, projs, output, map) = pathway(plan, &members, weights, e)?;
    let net = FixedPoint::new(pops, projs, output).ok()?;
    Some((net, map))
}

/// The network parts of instance `e`'s forward pathway over the populations `order` (in that
/// order): populations, projections, the output's index, and each plan projection's index among
/// the projections.
#[allow(clippy::type_complexity)]
fn pathway(
    plan: &Plan,
    order: &[usize],
    weights: &[Vec<f64>],
    e: usize,
) -> Option<(
    Vec<FfPopulation>,
    Vec<FfProjection>,
    usize,
    Vec<Option<usize>>,
)> {
    let output = plan.output.as_ref()?.output;
    let mut index = vec![usize::MAX; plan.populations.len()];
    let mut pops = Vec::new();
    for (k, &p) in order.iter().enumerate() {
        index[p] = k;
        let pop = &plan.populations[p];
        let is_input = pop.role == Role::Input;
        pops.push(FfPopulation {
            size: pop.size,
            activation: pop.activation,
            bias: if is_input {
                Vec::new()
            } else {
                vec![pop.bias[e]; pop.size]
            },
            is_input,
        });
    }
    let mut projs = Vec::new();
    let mut map = vec![None; plan.projections.len()];
    for (q, p) in plan.projections.iter().enumerate() {
        if !p.forward || p.sign[e] == 0.0 {
            continue;
        }
        let n = p.synapses();
        let w = DMatrix::from_row_slice(p.rows, p.cols, &weights[q][e * n..(e + 1) * n]);
        map[q] = Some(projs.len());
        projs.push(FfProjection {
            from: index[p.from],
            to: index[p.to],
            weights: w,
            sign: p.sign[e],
        });
    }
    Some((pops, projs, index[output], map))
}

/// Held-out loss (mean ½‖y* − y‖²) and accuracy of instance `e` at the given weights,
/// evaluated for the whole held-out set at once as matrix products through the forward
/// pathway's steady-state map, the products at vector level `simd` (the run's, `settings`).
pub fn held_out(
    plan: &Plan,
    weights: &[Vec<f64>],
    e: usize,
    simd: Simd,
) -> (Option<f64>, Option<f64>) {
    held_out_in(plan, 0, weights, e, simd)
}

/// [`held_out`] on the task of protocol phase `phase`.
pub fn held_out_in(
    plan: &Plan,
    phase: usize,
    weights: &[Vec<f64>],
    e: usize,
    simd: Simd,
) -> (Option<f64>, Option<f64>) {
    held_out_checked(plan, phase, weights, e, simd).unwrap_or((None, None))
}

/// [`held_out_in`], or why a forward pathway with loops has no fixed point on some held-out
/// sample (every sample is taken at its fixed point there; one without makes the cells empty).
pub fn held_out_checked(
    plan: &Plan,
    phase: usize,
    weights: &[Vec<f64>],
    e: usize,
    simd: Simd,
) -> Result<(Option<f64>, Option<f64>), MeasureError> {
    let Some(out) = &plan.output else {
        return Ok((None, None));
    };
    let tables = &plan.phases[phase].tables;
    let (xs, ys) = &*tables.held_out[e];
    let n = xs.ncols();
    if n == 0 {
        return Ok((None, None));
    }
    // The same sums on every vector level (fixed order): the level changes the speed only.
    let y = if plan.forward_order.is_none() {
        // A pathway with loops: every sample at its fixed point.
        match fixed_point(plan, weights, e) {
            Some((net, _)) => Some(fixed_point_outputs(&net, xs)?),
            None => None,
        }
    } else {
        match affine_map(plan, weights, e, simd) {
            Some((a, b)) => {
                // y = A x + b for every sample in one product.
                let mut y = DMatrix::from_fn(b.nrows(), n, |i, _| b[(i, 0)]);
                let a_rows = a.transpose();
                simd.run(
                    #[inline(always)]
                    || add_small_product(&mut y, 1.0, a_rows.as_slice(), a.ncols(), xs),
                );
                Some(y)
            }
            // An input population as the output reads its samples.
            None if plan.populations[out.output].role == Role::Input => Some(xs.clone()),
            None => forward_rates(plan, weights, e, simd, Pre::Samples(xs), true)
                .and_then(|mut z| z[out.output].take()),
        }
    };
    let Some(y) = y else {
        return Ok((None, None));
    };
    if y.nrows() != ys.nrows() {
        return Ok((None, None));
    }
    // ½‖y − y*‖², summed without a difference matrix.
    let squares: f64 = y
        .as_slice()
        .iter()
        .zip(ys.as_slice())
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    let loss = 0.5 * squares / n as f64;
    let accuracy = tables.tasks[e].is_classification().then(|| {
        let correct = (0..n)
            .filter(|&i| y.column(i).imax() == ys.column(i).imax())
            .count();
        correct as f64 / n as f64
    });
    Ok((Some(loss), accuracy))
}

/// The output's rates at the fixed point for every column of `xs`, one column each.
fn fixed_point_outputs(net: &FixedPoint, xs: &DMatrix<f64>) -> Result<DMatrix<f64>, MeasureError> {
    let mut y = DMatrix::zeros(net.output_size(), xs.ncols());
    for (s, x) in xs.column_iter().enumerate() {
        let x: Vec<f64> = x.iter().copied().collect();
        let settled = net.solve(&x)?;
        y.column_mut(s)
            .copy_from_slice(&settled.states[net.output].1);
    }
    Ok(y)
}

/// What the forward pathway's input population presents: the held-out samples (one column
/// each), or the n × n identity (each column a unit input, for composing the map).
#[derive(Clone, Copy)]
enum Pre<'a> {
    Samples(&'a DMatrix<f64>),
    Identity(usize),
}

impl Pre<'_> {
    fn columns(self) -> usize {
        match self {
            Pre::Samples(xs) => xs.ncols(),
            Pre::Identity(n) => n,
        }
    }
}

/// The steady-state rates of every population on instance `e`'s forward pathway for the
/// columns of `input`, each population's bias added where `bias` (the input's own rates are
/// not copied: `None` at its index). `None` where the output cannot be reached.
fn forward_rates(
    plan: &Plan,
    weights: &[Vec<f64>],
    e: usize,
    simd: Simd,
    input: Pre,
    bias: bool,
) -> Option<Vec<Option<DMatrix<f64>>>> {
    let order = plan.forward_order.as_ref()?;
    let n = input.columns();
    let mut z: Vec<Option<DMatrix<f64>>> = vec![None; plan.populations.len()];
    for &p in order {
        let pop = &plan.populations[p];
        if pop.role == Role::Input {
            continue;
        }
        let b = if bias { pop.bias[e] } else { 0.0 };
        let mut u = DMatrix::from_element(pop.size, n, b);
        for (q, proj) in plan.projections.iter().enumerate() {
            if proj.to != p || !proj.forward || proj.sign[e] == 0.0 {
                continue;
            }
            let k = proj.synapses();
            let w = &weights[q][e * k..(e + 1) * k];
            let sign = proj.sign[e];
            let pre = if plan.populations[proj.from].role == Role::Input {
                match input {
                    Pre::Samples(xs) => xs,
                    Pre::Identity(_) => {
                        // W times the identity is W: added, not multiplied.
                        for (i, row) in w.chunks_exact(proj.cols).enumerate() {
                            for (j, v) in row.iter().enumerate() {
                                u[(i, j)] += sign * v;
                            }
                        }
                        continue;
                    }
                }
            } else {
                match z[proj.from].as_ref() {
                    Some(pre) => pre,
                    None => continue,
                }
            };
            if k >= 1 << 16 {
                add_row_major_product(simd, &mut u, sign, w, proj.cols, pre);
            } else {
                simd.run(
                    #[inline(always)]
                    || add_small_product(&mut u, sign, w, proj.cols, pre),
                );
            }
        }
        let act = pop.activation;
        if act != crate::activation::Activation::Linear {
            // A wide layer's nonlinearity (libm's tanh, say) on threads.
            u.as_mut_slice()
                .par_chunks_mut(4096)
                .for_each(|c| c.iter_mut().for_each(|v| *v = act.apply(*v)));
        }
        z[p] = Some(u);
    }
    Some(z)
}

/// Where every population on the forward pathway is linear, its steady-state map is affine,
/// y = A x + b: A and b composed once (the pathway applied to the unit inputs without biases,
/// and to the zero input with them), so the samples go through one product instead of one
/// per layer. Taken only where that is less work than the layers over every sample — W1's
/// 30-20-10 chain with 200 samples: 66,000 multiply-adds per instance instead of 160,000; a
/// wide first layer gains most, its product with the identity being a copy. The loss equals
/// the layer-by-layer one to rounding (the sums are associated differently).
fn affine_map(
    plan: &Plan,
    weights: &[Vec<f64>],
    e: usize,
    simd: Simd,
) -> Option<(DMatrix<f64>, DMatrix<f64>)> {
    let out = plan.output.as_ref()?;
    let order = plan.forward_order.as_ref()?;
    let pops = &plan.populations;
    let linear = order.iter().all(|&p| {
        pops[p].role == Role::Input || pops[p].activation == crate::activation::Activation::Linear
    });
    if !linear || pops[out.output].role == Role::Input {
        return None;
    }
    let (n_in, n) = (pops[plan.input].size, plan.held_out[e].0.ncols());
    let n_out = pops[out.output].size;
    // Multiply-adds: layer by layer over the samples, against composing (the identity's
    // products are copies) and applying the map.
    let mut layers = 0;
    let mut compose = 0;
    for proj in &plan.projections {
        if !proj.forward || proj.sign[e] == 0.0 {
            continue;
        }
        layers += proj.synapses() * n;
        if pops[proj.from].role != Role::Input {
            compose += proj.synapses() * (n_in + 1);
        }
    }
    if compose + n_out * n_in * n >= layers {
        return None;
    }
    let a =
        forward_rates(plan, weights, e, simd, Pre::Identity(n_in), false)?[out.output].take()?;
    let zero = DMatrix::zeros(n_in, 1);
    let b = forward_rates(plan, weights, e, simd, Pre::Samples(&zero), true)?[out.output].take()?;
    Some((a, b))
}

/// u += sign · W·pre for a row-major W (u.nrows() × cols) read in place from the snapshot, and
/// column-major u, pre (one column per sample): each row of W is dotted with every sample while
/// it is in cache, so a large matrix is read once, not copied into a column-major one first (a
/// copy of a 784 × 1000 matrix per window cost more than the product). Rows are split over
/// threads when the product is large.
fn add_row_major_product(
    simd: Simd,
    u: &mut DMatrix<f64>,
    sign: f64,
    w: &[f64],
    cols: usize,
    pre: &DMatrix<f64>,
) {
    let (rows, n) = (u.nrows(), u.ncols());
    debug_assert_eq!(w.len(), rows * cols);
    debug_assert_eq!(pre.nrows(), cols);
    let pre = pre.as_slice();
    // Row i's n sums, contiguous (the transpose of u), so rows can be filled in parallel.
    let mut sums = vec![0.0; rows * n];
    let row = |(wi, out): (&[f64], &mut [f64])| {
        simd.run(
            #[inline(always)]
            || dot_samples(wi, out, pre, cols),
        )
    };
    if rows * cols * n >= 1 << 20 {
        w.par_chunks(cols).zip(sums.par_chunks_mut(n)).for_each(row);
    } else {
        w.chunks(cols).zip(sums.chunks_mut(n)).for_each(row);
    }
    for (i, row_sums) in sums.chunks(n).enumerate() {
        for (s, v) in row_sums.iter().enumerate() {
            u[(i, s)] += sign * v;
        }
    }
}

/// out[s] = Σ_j w_j pre[s·cols + j] for every sample s: one row of W against all samples.
#[inline(always)]
fn dot_samples(wi: &[f64], out: &mut [f64], pre: &[f64], cols: usize) {
    let n = out.len();
    // Four samples at a time share each load of the row.
    let mut blocks = out.chunks_exact_mut(4);
    for (b, o4) in (&mut blocks).enumerate() {
        let s0 = 4 * b;
        let x: [&[f64]; 4] = std::array::from_fn(|k| &pre[(s0 + k) * cols..(s0 + k + 1) * cols]);
        o4.copy_from_slice(&dot4_f64(wi, x));
    }
    let done = n - blocks.into_remainder().len();
    for (s, o) in out.iter_mut().enumerate().skip(done) {
        *o = dot(wi, &pre[s * cols..(s + 1) * cols]);
    }
}

/// u += sign · W·pre for a small row-major W (an ensemble's layer: tens of units): W is copied
/// transposed and padded to blocks of eight post units, and each block of eight outputs of four
/// samples is summed in registers over the presynaptic units, one load of Wᵀ serving four
/// samples. Separate multiplies and adds, not `mul_add`: on the x86-64 baseline `mul_add` is a
/// call to libm's `fma` per element (it made W1 five times slower there), and the sums must be
/// the same on every vector level. At W1's 20 × 30 × 200 it took 0.55× the time of nalgebra's
/// general product (fused), whose packing and copies dominated there.
#[inline(always)]
fn add_small_product(u: &mut DMatrix<f64>, sign: f64, w: &[f64], cols: usize, pre: &DMatrix<f64>) {
    const B: usize = 8;
    let (rows, n) = (u.nrows(), u.ncols());
    debug_assert_eq!(w.len(), rows * cols);
    debug_assert_eq!(pre.nrows(), cols);
    let blocks = rows.div_ceil(B);
    // wt[(b * cols + j) * B + l] = W[b·B + l][j], zero beyond the last row.
    let mut wt = vec![0.0; blocks * cols * B];
    for (i, row) in w.chunks_exact(cols).enumerate() {
        let (b, l) = (i / B, i % B);
        for (j, v) in row.iter().enumerate() {
            wt[(b * cols + j) * B + l] = *v;
        }
    }
    let pre = pre.as_slice();
    let out = u.as_mut_slice();
    let full = n / 4 * 4;
    for s0 in (0..full).step_by(4) {
        let x: [&[f64]; 4] = std::array::from_fn(|k| &pre[(s0 + k) * cols..(s0 + k + 1) * cols]);
        for b in 0..blocks {
            let wb = &wt[b * cols * B..(b + 1) * cols * B];
            // Accumulators as locals, so that they stay in registers.
            let (mut a0, mut a1, mut a2, mut a3) =
                ([0.0f64; B], [0.0f64; B], [0.0f64; B], [0.0f64; B]);
            for (j, wj) in wb.chunks_exact(B).enumerate() {
                let wj: [f64; B] = wj.try_into().expect("a block");
                let (p0, p1, p2, p3) = (x[0][j], x[1][j], x[2][j], x[3][j]);
                for l in 0..B {
                    a0[l] += wj[l] * p0;
                    a1[l] += wj[l] * p1;
                    a2[l] += wj[l] * p2;
                    a3[l] += wj[l] * p3;
                }
            }
            for (k, a) in [a0, a1, a2, a3].iter().enumerate() {
                let col = &mut out[(s0 + k) * rows..(s0 + k + 1) * rows];
                for (o, v) in col[b * B..].iter_mut().zip(a) {
                    *o += sign * v;
                }
            }
        }
    }
    // The last samples one at a time.
    for s0 in full..n {
        let x = &pre[s0 * cols..(s0 + 1) * cols];
        for b in 0..blocks {
            let wb = &wt[b * cols * B..(b + 1) * cols * B];
            let mut a = [0.0f64; B];
            for (wj, p) in wb.chunks_exact(B).zip(x) {
                for l in 0..B {
                    a[l] += wj[l] * p;
                }
            }
            let col = &mut out[s0 * rows..(s0 + 1) * rows];
            for (o, v) in col[b * B..].iter_mut().zip(&a) {
                *o += sign * v;
            }
        }
    }
}

/// Four dot products of `w` with `x[0..4]`, eight partial sums each, reading `w` once. The
/// partial sums are four named locals, not an array indexed per sample: as `[[f64; 8]; 4]`
/// LLVM kept them on the stack, storing and reloading them every iteration.
#[inline(always)]
fn dot4_f64(w: &[f64], x: [&[f64]; 4]) -> [f64; 4] {
    let len = w.len();
    let [x0, x1, x2, x3] = x.map(|xk| &xk[..len]);
    let (mut a0, mut a1, mut a2, mut a3) = ([0.0; 8], [0.0; 8], [0.0; 8], [0.0; 8]);
    let chunks = w
        .chunks_exact(8)
        .zip(x0.chunks_exact(8))
        .zip(x1.chunks_exact(8))
        .zip(x2.chunks_exact(8))
        .zip(x3.chunks_exact(8));
    for ((((wj, c0), c1), c2), c3) in chunks {
        for k in 0..8 {
            a0[k] += wj[k] * c0[k];
            a1[k] += wj[k] * c1[k];
            a2[k] += wj[k] * c2[k];
            a3[k] += wj[k] * c3[k];
        }
    }
    let n = len / 8 * 8;
    let acc = [a0, a1, a2, a3];
    std::array::from_fn(|k| {
        let tail: f64 = (n..len).map(|j| w[j] * x[k][j]).sum();
        acc[k].iter().sum::<f64>() + tail
    })
}

/// The samples shown in steps [start, end) of instance e, with how long each was shown (s).
pub fn samples_in_window(plan: &Plan, e: usize, start: u64, end: u64) -> Vec<(u64, f64)> {
    let t = plan.timing[e];
    let mut out = Vec::new();
    if end <= start {
        return out;
    }
    let (first, last) = (start / t.period_steps, (end - 1) / t.period_steps);
    for k in first..=last {
        let shown_from = (k * t.period_steps).max(start);
        let shown_to = (k * t.period_steps + t.present_steps).min(end);
        if shown_to > shown_from {
            out.push((k, (shown_to - shown_from) as f64 * plan.dt_s));
        }
    }
    out
}

fn slice(v: &[f64], e: usize, n: usize) -> &[f64] {
    if v.is_empty() {
        &[]
    } else {
        &v[e * n..(e + 1) * n]
    }
}

/// The held-out loss on the first phase's task, in a protocol where some phase changes
/// instance `e`'s task (None otherwise: the held-out loss column says it all).
pub fn first_task_loss(plan: &Plan, weights: &[Vec<f64>], e: usize, simd: Simd) -> Option<f64> {
    let first = &plan.phases.first()?.tables.tasks[e];
    let changes = plan
        .phases
        .iter()
        .any(|p| !std::sync::Arc::ptr_eq(&p.tables.tasks[e], first));
    if changes {
        held_out_in(plan, 0, weights, e, simd).0
    } else {
        None
    }
}

/// All rows of one window.
pub fn window_rows(
    plan: &Plan,
    window: &Window,
    start: &Snapshot,
    end: &Snapshot,
    active: &[bool],
    simd: Simd,
) -> Vec<Row> {
    window_rows_noted(plan, window, start, end, active, simd).0
}

/// What the run's notes say, once, when some window of a forward pathway with loops has no
/// fixed point; the note goes on with where it happened first and why (see [`unsettled_note`]).
pub const NO_FIXED_POINT_NOTE: &str = "the forward pathway (which has loops) has no fixed point in some windows; their gradient angle, loss angle, learning strength and held-out loss cells are empty";

/// The note for a pathway with loops that has no fixed point, first at `time_s` on instance `e`:
/// [`NO_FIXED_POINT_NOTE`], then where and why.
pub fn unsettled_note(time_s: f64, e: usize, why: &MeasureError) -> String {
    format!("{NO_FIXED_POINT_NOTE} (first at t = {time_s:.6} s, instance {e}: {why})")
}

/// [`window_rows`], and the note to add to the run's notes where a forward pathway with loops
/// had no fixed point in this window (the first instance's reason).
pub fn window_rows_noted(
    plan: &Plan,
    window: &Window,
    start: &Snapshot,
    end: &Snapshot,
    active: &[bool],
    simd: Simd,
) -> (Vec<Row>, Option<String>) {
    let time_s = end.step as f64 * plan.dt_s;
    let records = |m: Metric| m.recorded(plan);
    let phase = plan.phase_at(start.step);
    let per_instance: Vec<(Vec<Row>, Option<MeasureError>)> = (0..plan.n_instances())
        .into_par_iter()
        .map(|e| {
            if active[e] {
                let (mut rows, why) =
                    instance_rows(plan, phase, window, start, end, e, time_s, &records, simd);
                rows.iter_mut()
                    .for_each(|r| r.phase = plan.phases[phase].name.clone());
                (rows, why)
            } else {
                (Vec::new(), None)
            }
        })
        .collect();
    let note = per_instance
        .iter()
        .enumerate()
        .find_map(|(e, (_, why))| why.as_ref().map(|w| unsettled_note(time_s, e, w)));
    let rows = per_instance.into_iter().flat_map(|(r, _)| r).collect();
    (rows, note)
}

/// The rows at t = 0: per instance, the held-out loss of the initial weights (the reference for
/// "fraction of the initial loss"), and the note where a forward pathway with loops has no fixed
/// point there.
pub fn initial_rows(plan: &Plan, start: &Snapshot, simd: Simd) -> (Vec<Row>, Option<String>) {
    let phase = plan.phase_at(0);
    let mut note = None;
    let rows = (0..plan.n_instances())
        .map(|e| {
            let (loss, acc) = match held_out_checked(plan, phase, &start.weights, e, simd) {
                Ok(v) => v,
                Err(why) => {
                    note.get_or_insert_with(|| unsettled_note(0.0, e, &why));
                    (None, None)
                }
            };
            Row {
                time_s: 0.0,
                instance: e,
                projection: "all".into(),
                phase: plan.phases[phase].name.clone(),
                held_out_loss: loss,
                held_out_accuracy: acc,
                first_task_loss: first_task_loss(plan, &start.weights, e, simd),
                ..Row::default()
            }
        })
        .collect();
    (rows, note)
}

/// Σ_s t_s (−∇_W L_s) per plan projection (None off the pathway) over the window's samples
/// `shown` (sample, seconds shown, where in the window it was shown as a fraction), each through
/// the pathway with loops `net_at(fraction)` at its fixed point. The first sample without one
/// ends it.
fn fixed_point_steps(
    task: &crate::task::Task,
    map: &[Option<usize>],
    shown: &[(u64, f64, f64)],
    net_at: impl Fn(f64) -> FixedPoint,
) -> Result<Vec<Option<DMatrix<f64>>>, MeasureError> {
    let mut sums: Vec<Option<DMatrix<f64>>> = vec![None; map.len()];
    let mut x = vec![0.0; task.n_inputs()];
    let mut y = vec![0.0; task.n_targets()];
    for &(k, shown_s, at) in shown {
        task.train_sample(k, &mut x, &mut y);
        let (_, descent) = match net_at(at).loss_and_descent(&x, &y) {
            Ok(v) => v,
            Err(why) if why.no_fixed_point() => return Err(why),
            Err(_) => continue,
        };
        for (q, slot) in map.iter().enumerate() {
            if let Some(j) = slot {
                let g = sums[q].get_or_insert_with(|| {
                    DMatrix::zeros(descent[*j].nrows(), descent[*j].ncols())
                });
                *g += &descent[*j] * shown_s;
            }
        }
    }
    Ok(sums)
}

/// The samples shown in steps [start, end) of instance e: each with how long it was shown (s)
/// and the middle of that showing as a fraction of the window.
fn samples_with_position(plan: &Plan, e: usize, start: u64, end: u64) -> Vec<(u64, f64, f64)> {
    let t = plan.timing[e];
    let span = (end - start) as f64;
    samples_in_window(plan, e, start, end)
        .into_iter()
        .map(|(k, shown_s)| {
            let from = (k * t.period_steps).max(start);
            let steps = shown_s / plan.dt_s;
            let middle = (from - start) as f64 + 0.5 * steps;
            (k, shown_s, middle / span)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn instance_rows(
    plan: &Plan,
    phase: usize,
    window: &Window,
    start: &Snapshot,
    end: &Snapshot,
    e: usize,
    time_s: f64,
    records: &dyn Fn(Metric) -> bool,
    simd: Simd,
) -> (Vec<Row>, Option<MeasureError>) {
    let mut unsettled = None;
    let mut all = Row {
        time_s,
        instance: e,
        projection: "all".into(),
        ..Row::default()
    };
    let tables = &plan.phases[phase].tables;
    let classification = tables.tasks[e].is_classification();
    if window.present_s[e] > 0.0 {
        all.loss = Some(window.loss_integral[e] / window.present_s[e]);
        if classification {
            all.accuracy = Some(window.correct_s[e] / window.present_s[e]);
        }
    }
    if records(Metric::HeldOutLoss) {
        let (loss, acc) =
            held_out_checked(plan, phase, &end.weights, e, simd).unwrap_or_else(|why| {
                unsettled.get_or_insert(why);
                (None, None)
            });
        all.held_out_loss = loss;
        all.held_out_accuracy = acc;
        all.first_task_loss = first_task_loss(plan, &end.weights, e, simd);
    }

    // Ideal steps G per projection at the window's starting weights.
    let need_g = records(Metric::LossAngle) || records(Metric::LearningStrength);
    let mut ideal: Vec<Option<DMatrix<f64>>> = vec![None; plan.projections.len()];
    if need_g && let Some((ff, map)) = feedforward(plan, &start.weights, e) {
        let task = &tables.tasks[e];
        let mut x = vec![0.0; task.n_inputs()];
        let mut y = vec![0.0; task.n_targets()];
        for (k, shown_s) in samples_in_window(plan, e, start.step, end.step) {
            task.train_sample(k, &mut x, &mut y);
            let Ok((_, descent)) = ff.loss_and_descent(&x, &y) else {
                continue;
            };
            for (q, slot) in map.iter().enumerate() {
                if let Some(j) = slot {
                    let g = ideal[q].get_or_insert_with(|| {
                        DMatrix::zeros(descent[*j].nrows(), descent[*j].ncols())
                    });
                    *g += &descent[*j] * shown_s;
                }
            }
        }
    }

    // A forward pathway with loops: G through its fixed point at the window's starting weights,
    // and the gradient angle's reference (which the engines accumulate step by step only
    // without loops) Σ_s t_s (−∇_W L_s) with the weights as sample s was shown, interpolated
    // linearly between the window's start and end.
    let mut reference: Vec<Option<DMatrix<f64>>> = vec![None; plan.projections.len()];
    let need_bp = records(Metric::GradientAngle);
    if (need_g || need_bp)
        && let (Some((net, map)), Some((net_end, _))) = (
            fixed_point(plan, &start.weights, e),
            fixed_point(plan, &end.weights, e),
        )
    {
        let task = &tables.tasks[e];
        let shown = samples_with_position(plan, e, start.step, end.step);
        if need_g {
            match fixed_point_steps(task, &map, &shown, |_| net.clone()) {
                Ok(g) => ideal = g,
                Err(why) => {
                    unsettled.get_or_insert(why);
                }
            }
        }
        if need_bp {
            let at = |f: f64| {
                let mut mid = net.clone();
                for (w, w_end) in mid.projections.iter_mut().zip(&net_end.projections) {
                    let step = &w_end.weights - &w.weights;
                    w.weights += step * f;
                }
                mid
            };
            match fixed_point_steps(task, &map, &shown, at) {
                Ok(r) => reference = r,
                Err(why) => {
                    unsettled.get_or_insert(why);
                }
            }
        }
    }

    let mut rows = Vec::new();
    let mut cat = Concat::default();
    for (q, p) in plan.projections.iter().enumerate() {
        if p.sign[e] == 0.0 {
            continue;
        }
        let n = p.synapses();
        let mut row = Row {
            time_s,
            instance: e,
            projection: p.name.clone(),
            ..Row::default()
        };
        let mut any = false;
        if let Some(m) = p.motif {
            // The phase's rule: its θ and τ_w (plasticity off: nothing learns, no angles).
            let (theta, tau_w) = (&tables.theta[m][e], tables.tau_w_s[m][e]);
            let pw = &window.projections[q];
            // A masked projection is measured on its present synapses: the rule's ΔW, the
            // backprop and loss gradients and ∫u xᵀ are restricted to them (absent synapses
            // count as zero), since only those can change.
            let mask = plan.masks[q].as_ref().map(|mk| slice(mk, e, n));
            let on_present = |v: Vec<f64>| match mask {
                Some(mk) if v.len() == mk.len() => v.iter().zip(mk).map(|(v, m)| v * m).collect(),
                _ => v,
            };
            let dw_present = mask.map(|_| on_present(slice(&pw.dw_rule, e, n).to_vec()));
            let dw = dw_present
                .as_deref()
                .unwrap_or_else(|| slice(&pw.dw_rule, e, n));
            let learns = tables.learns(m, e);
            if learns && p.forward && !dw.is_empty() {
                if records(Metric::GradientAngle) && plan.forward_order.is_some() {
                    let scale = if theta[0] != 0.0 { theta[0] } else { 1.0 } / tau_w;
                    // Where the reference is this instance's own update, the backend may not
                    // have accumulated it (or, in an ensemble split into parts, accumulated
                    // it for other instances only).
                    let bp: Vec<f64> = if pw.backprop.is_empty() || plan.backprop_is_rule(q, e) {
                        dw.to_vec()
                    } else {
                        on_present(
                            slice(&pw.backprop, e, n)
                                .iter()
                                .map(|v| v * scale)
                                .collect(),
                        )
                    };
                    row.gradient_angle_deg = measure::angle_deg(dw, &bp);
                    cat.dw.extend_from_slice(dw);
                    cat.bp.extend_from_slice(&bp);
                    any = true;
                } else if records(Metric::GradientAngle)
                    && let Some(r) = &reference[q]
                {
                    let scale = if theta[0] != 0.0 { theta[0] } else { 1.0 } / tau_w;
                    let bp: Vec<f64> = row_major(r).iter().map(|v| v * scale).collect();
                    row.gradient_angle_deg = measure::angle_deg(dw, &bp);
                    cat.dw.extend_from_slice(dw);
                    cat.bp.extend_from_slice(&bp);
                    any = true;
                }
                if let Some(g) = &ideal[q] {
                    let g_row: Vec<f64> = on_present(row_major(g));
                    if records(Metric::LossAngle) {
                        row.loss_angle_deg = measure::angle_deg(dw, &g_row);
                    }
                    let scaled: Vec<f64> = g_row.iter().map(|v| v / tau_w).collect();
                    if records(Metric::LearningStrength) {
                        row.learning_strength = measure::learning_strength(dw, &scaled);
                    }
                    cat.dw_g.extend_from_slice(dw);
                    cat.g.extend_from_slice(&scaled);
                    any = true;
                }
            }
            // The learning signal is the rule's own update over the window (decay and weight
            // noise excluded): for θ_mx > 0 alone, a positive multiple of ∫ m xᵀ dt.
            if records(Metric::HebbianSignature) && !pw.u_x.is_empty() && !dw.is_empty() && learns {
                let ux = &on_present(slice(&pw.u_x, e, n).to_vec());
                row.hebbian_signature = measure::cosine(dw, ux);
                cat.dw_h.extend_from_slice(dw);
                cat.ux.extend_from_slice(ux);
                any = true;
            }
        }
        if let Some(f) = p.stands_for
            && records(Metric::WeightAngle)
            && !p.tied[e]
        {
            let fp = &plan.projections[f];
            let b = DMatrix::from_row_slice(p.rows, p.cols, slice(&end.weights[q], e, n));
            let w =
                DMatrix::from_row_slice(fp.rows, fp.cols, slice(&end.weights[f], e, fp.synapses()));
            if let Some((angle, ratio)) = measure::weight_alignment(&b, &w) {
                row.weight_angle_deg = Some(angle);
                row.weight_norm_ratio = Some(ratio);
                cat.b.extend(row_major(&b));
                cat.wt.extend(row_major(&w.transpose()));
                any = true;
            }
        }
        if any {
            rows.push(row);
        }
    }
    all.gradient_angle_deg = measure::angle_deg(&cat.dw, &cat.bp);
    all.loss_angle_deg = if records(Metric::LossAngle) {
        measure::angle_deg(&cat.dw_g, &cat.g)
    } else {
        None
    };
    all.learning_strength = if records(Metric::LearningStrength) {
        measure::learning_strength(&cat.dw_g, &cat.g)
    } else {
        None
    };
    all.hebbian_signature = measure::cosine(&cat.dw_h, &cat.ux);
    if let Some((angle, ratio)) =
        measure::angle_deg(&cat.b, &cat.wt).zip(measure::norm_ratio(&cat.b, &cat.wt))
    {
        all.weight_angle_deg = Some(angle);
        all.weight_norm_ratio = Some(ratio);
    }
    rows.insert(0, all);
    (rows, unsettled)
}

#[derive(Default)]
struct Concat {
    dw: Vec<f64>,
    bp: Vec<f64>,
    dw_g: Vec<f64>,
    g: Vec<f64>,
    /// The rule's ΔW and ∫ u xᵀ of the projections with a Hebbian signature.
    dw_h: Vec<f64>,
    ux: Vec<f64>,
    b: Vec<f64>,
    wt: Vec<f64>,
}

fn row_major(m: &DMatrix<f64>) -> Vec<f64> {
    m.transpose().as_slice().to_vec()
}

/// The first non-finite or exploding value of instance e, named by population or projection.
pub fn divergence(plan: &Plan, snap: &Snapshot, e: usize, limit: f64) -> Option<String> {
    let bad = |v: &f64| !v.is_finite() || v.abs() > limit;
    let describe = |v: f64| {
        if v.is_finite() {
            format!("|value| {:.3e} above {limit:.0e}", v.abs())
        } else {
            format!("{v}")
        }
    };
    for (p, pop) in plan.populations.iter().enumerate() {
        let n = pop.size;
        if let Some(v) = snap.u[p][e * n..(e + 1) * n]
            .iter()
            .chain(&snap.z[p][e * n..(e + 1) * n])
            .find(|v| bad(v))
        {
            return Some(format!(
                "population `{}` reached {}",
                pop.name,
                describe(*v)
            ));
        }
    }
    for (q, proj) in plan.projections.iter().enumerate() {
        let n = proj.synapses();
        if let Some(v) = snap.weights[q][e * n..(e + 1) * n].iter().find(|v| bad(v)) {
            return Some(format!(
                "projection `{}` reached {}",
                proj.name,
                describe(*v)
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// u + sign · W·pre, one multiply-add at a time.
    fn naive(
        u: &DMatrix<f64>,
        sign: f64,
        w: &[f64],
        cols: usize,
        pre: &DMatrix<f64>,
    ) -> DMatrix<f64> {
        let mut out = u.clone();
        for s in 0..u.ncols() {
            for i in 0..u.nrows() {
                let sum: f64 = (0..cols).map(|j| w[i * cols + j] * pre[(j, s)]).sum();
                out[(i, s)] += sign * sum;
            }
        }
        out
    }

    /// Both products agree with the naive one on shapes that are and are not multiples of
    /// their blocks (eight post units, four samples), with a nonzero start and a negative sign.
    #[test]
    fn blocked_products_equal_the_naive_product() {
        let mut counter = 0;
        for (rows, cols, n) in [
            (1, 1, 1),
            (3, 5, 7),
            (8, 4, 4),
            (9, 17, 6),
            (20, 30, 200),
            (13, 1, 3),
        ] {
            let mut draw = |k: usize| -> Vec<f64> {
                let mut v = vec![0.0; k];
                crate::rng::fill_uniform(7, 1, counter, &mut v);
                counter += 1;
                v.iter().map(|x| 2.0 * x - 1.0).collect()
            };
            let w = draw(rows * cols);
            let pre = DMatrix::from_vec(cols, n, draw(cols * n));
            let u0 = DMatrix::from_vec(rows, n, draw(rows * n));
            let want = naive(&u0, -1.5, &w, cols, &pre);
            // On every vector level this CPU has: the same sums (bit for bit) on each.
            let mut first: Option<DMatrix<f64>> = None;
            for simd in Simd::available() {
                let mut small = u0.clone();
                simd.run(
                    #[inline(always)]
                    || add_small_product(&mut small, -1.5, &w, cols, &pre),
                );
                let mut row_major = u0.clone();
                add_row_major_product(simd, &mut row_major, -1.5, &w, cols, &pre);
                for (name, u) in [("small", &small), ("row-major", &row_major)] {
                    let err = (u - &want).abs().max();
                    assert!(
                        err < 1e-12,
                        "{name} {rows}×{cols}×{n} {simd}: off by {err:e}"
                    );
                }
                let first = first.get_or_insert_with(|| small.clone());
                assert_eq!(first, &small, "{simd} differs from the baseline");
            }
        }
    }

    /// A linear pathway's loss through the composed affine map equals the loss of the samples
    /// taken through each layer one multiply-add at a time (W1's 30-20-10 chain, with random
    /// weights and biases); a tanh pathway (W2) is not composed.
    #[test]
    fn composed_linear_map_gives_the_layer_by_layer_loss() {
        use crate::workload::Workload;
        let mut plan = Workload::W1.plan(0.1).expect("W1 plans");
        let e = 0;
        let mut counter = 100;
        let mut draw = |k: usize| -> Vec<f64> {
            let mut v = vec![0.0; k];
            crate::rng::fill_uniform(9, 2, counter, &mut v);
            counter += 1;
            v.iter().map(|x| 2.0 * x - 1.0).collect()
        };
        for pop in plan.populations.iter_mut() {
            pop.bias[e] = draw(1)[0];
        }
        let weights: Vec<Vec<f64>> = plan
            .projections
            .iter()
            .map(|p| draw(p.synapses() * plan.n_instances()))
            .collect();
        let simd = Simd::auto();
        assert!(affine_map(&plan, &weights, e, simd).is_some());

        // The same pathway, sample by sample and layer by layer.
        let (xs, ys) = &plan.held_out[e];
        let order = plan.forward_order.clone().unwrap();
        let out = plan.output.as_ref().unwrap().output;
        let mut squares = 0.0;
        for s in 0..xs.ncols() {
            let mut z: Vec<Vec<f64>> = vec![Vec::new(); plan.populations.len()];
            z[plan.input] = xs.column(s).iter().copied().collect();
            for &p in &order {
                let pop = &plan.populations[p];
                if pop.role == Role::Input {
                    continue;
                }
                let mut u = vec![pop.bias[e]; pop.size];
                for (q, proj) in plan.projections.iter().enumerate() {
                    if proj.to != p || !proj.forward || proj.sign[e] == 0.0 {
                        continue;
                    }
                    let k = proj.synapses();
                    let w = &weights[q][e * k..(e + 1) * k];
                    for (i, ui) in u.iter_mut().enumerate() {
                        let sum: f64 = (0..proj.cols)
                            .map(|j| w[i * proj.cols + j] * z[proj.from][j])
                            .sum();
                        *ui += proj.sign[e] * sum;
                    }
                }
                z[p] = u;
            }
            squares += z[out]
                .iter()
                .zip(ys.column(s).iter())
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>();
        }
        let want = 0.5 * squares / xs.ncols() as f64;
        let (got, _) = held_out(&plan, &weights, e, simd);
        let got = got.expect("a loss");
        assert!(
            ((got - want) / want).abs() < 1e-12,
            "composed {got}, layers {want}"
        );

        let w2 = Workload::W2.plan(0.01).expect("W2 plans");
        let weights: Vec<Vec<f64>> = w2
            .projections
            .iter()
            .map(|p| vec![0.01; p.synapses()])
            .collect();
        assert!(affine_map(&w2, &weights, 0, simd).is_none());
    }
}
