//! The plan as the device sees it: where every quantity lives in the device buffers, and the
//! per-instance parameter tables.
//!
//! All device buffers are instance-interleaved: element `k` of instance `i` sits at scalar index
//! `k * e_pad + i`, with `e_pad` the ensemble size rounded up to the lane width `v` (and one
//! lane group more where there are several and their number is even, see [`padded_width`]). A
//! work-item of the ensemble kernel owns `v` neighbouring instances and reads each element of
//! them as one vector; the row layout's single instance (`v = 1`, `e_pad = 1`) is plain
//! row-major. Offsets below are in elements, so
//! the scalar index of element `k` of a quantity at offset `off` is `(off + k) * e_pad + lane`.
//!
//! The parameter tables hold one row per quantity and one column per instance; quantities that
//! no instance uses (a θ term that is zero everywhere, decay nowhere set) get no row, and the
//! code generators leave them out.

use super::OpenClError;
use crate::backend::Accumulate;
use crate::plan::Plan;
use crate::rule::N_TERMS;
use crate::spec::{Method, Role};
use crate::step::StepProgram;
use crate::step::rows::RowSchedule;
use crate::task::DeviceTaskForm;
use std::sync::Arc;

/// Rows of per-instance values, padded to `e_pad` columns at upload.
#[derive(Default)]
pub(crate) struct Table<T: Copy> {
    pub rows: Vec<Vec<T>>,
}

impl<T: Copy> Table<T> {
    pub fn push(&mut self, values: Vec<T>) -> usize {
        self.rows.push(values);
        self.rows.len() - 1
    }
    /// Row-major `[row][e_pad]`; padding lanes repeat instance 0 so they stay finite.
    pub fn flatten(&self, e_pad: usize, fill: T) -> Vec<T> {
        let mut out = Vec::with_capacity(self.rows.len().max(1) * e_pad);
        for row in &self.rows {
            for l in 0..e_pad {
                out.push(*row.get(l).unwrap_or(&row[0]));
            }
        }
        if out.is_empty() {
            out.resize(e_pad, fill);
        }
        out
    }
}

/// A task generator the kernels include, numbered as `kernels/stimulus.cl` numbers them
/// (`KIND_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TaskKind {
    Linear = 0,
    Tanh = 1,
    Mixture = 2,
    Dataset = 3,
}

impl TaskKind {
    fn of(form: &DeviceTaskForm) -> TaskKind {
        match form {
            DeviceTaskForm::NormalLinear { .. } => TaskKind::Linear,
            DeviceTaskForm::NormalTanh { .. } => TaskKind::Tanh,
            DeviceTaskForm::Mixture { .. } => TaskKind::Mixture,
            DeviceTaskForm::Dataset { .. } => TaskKind::Dataset,
        }
    }
    /// The generator's switch in the kernels' header.
    pub fn define(self) -> &'static str {
        match self {
            TaskKind::Linear => "TASK_LINEAR",
            TaskKind::Tanh => "TASK_TANH",
            TaskKind::Mixture => "TASK_MIXTURE",
            TaskKind::Dataset => "TASK_DATASET",
        }
    }
}

/// The task generators of a plan: every kind that some instance uses in some phase, and the
/// rows of the per-instance integer table that select an instance's task (its data, seed and
/// kind) and input scale. Every phase's task data is uploaded once; entering a phase rewrites
/// these rows (`Model::phase_longs`), so a task switch moves offsets and nothing else.
pub(crate) struct Tasks {
    /// The kinds in use, in `TaskKind` order; the kernels include a generator for each.
    pub kinds: Vec<TaskKind>,
    /// The largest hidden layer of a tanh teacher (the scratch per instance holds it).
    pub hidden: usize,
    /// The seed each instance's task draws its samples with.
    pub pl_task_seed: usize,
    /// Offset of the instance's task data in the task buffer.
    pub pl_data: usize,
    /// A data set's training rows: their offset in the rows buffer, their count, and the
    /// data set's row count (where its targets start).
    pub pl_rows: usize,
    pub pl_nrows: usize,
    pub pl_ndata: usize,
    /// The instance's kind, where the plan uses more than one.
    pub pl_kind: Option<usize>,
    /// The instance's tanh teacher's hidden size, where the plan's teachers differ in it.
    pub pl_hidden: Option<usize>,
    /// Offset in the task buffer of the instance's input scale, where some phase scales the
    /// input (the sample is multiplied in the task's precision, as the CPU multiplies it).
    pub pl_scale: Option<usize>,
    /// Per phase, the values of every row above.
    pub phase_rows: Vec<Vec<(usize, Vec<u64>)>>,
}

/// The deferred form of a projection whose input is held (the CPU engine's `Held`): the stored
/// matrix is W₀ and the exact one W = G·W₀ + D xᵀ, with x the held input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct HeldSlots {
    /// D, one per post unit (state arena).
    pub d: usize,
    /// W₀x, one per post unit (state arena).
    pub base: usize,
    /// G, `parities` copies: a row-parallel step reads copy n & 1 and writes the other.
    pub g: usize,
    /// xᵀx of the held input.
    pub xx: usize,
    /// Under a mask M (`Plan::masks`): Σ_j M_ij x_j² of the held input, one per post unit
    /// (the current's D term reads it in place of xᵀx; ensemble layout only).
    pub xx_rows: Option<usize>,
    /// The held input (ensemble layout; the row layout holds it in the input's copy of the
    /// next step, which the kernels of a step do not overwrite).
    pub x: Option<usize>,
    /// The per-post sums of the rule's ΔW since the window or the held input last changed, in
    /// the accumulator arena, when the rule's ΔW is accumulated.
    pub sum_dw: Option<usize>,
}

/// Where a projection's presynaptic rates come from at each step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Delay {
    /// The source population's current rates.
    None,
    /// A ring buffer with the same delay (in steps, ≥ 1) in every instance.
    Uniform(usize),
    /// A ring buffer with per-instance delays (row of the u64 table).
    PerInstance(usize),
}

/// Columns of the interleaved buffers for `e` instances in lane groups of `v`: whole groups,
/// and an odd number of them when there are several. Consecutive elements of one lane group
/// are `e_pad` scalars apart; with an even number of groups that stride is a multiple of
/// 128 bytes and a power of two in lines for the usual ensembles (64 instances of 16 lanes:
/// 256 bytes), so a work-item's elements fall into a fraction of the cache sets (a quarter of
/// a 48 KiB L1D) and a working set that would fit is evicted every step. An odd count of groups
/// spreads them over every set: W1 on PoCL stepped 1.4–1.6× faster with 80 columns than 64.
pub(crate) fn padded_width(e: usize, v: usize) -> usize {
    let groups = e.div_ceil(v);
    let strided = if groups > 1 && groups.is_multiple_of(2) {
        groups + 1
    } else {
        groups
    };
    strided * v
}

pub(crate) struct Model {
    pub plan: Arc<Plan>,
    pub accumulate: Accumulate,
    pub e: usize,
    pub e_pad: usize,
    pub v: usize,
    /// Lane groups that hold instances (work-items of the ensemble kernel): `e` rounded up to
    /// `v`, over `v`. `e_pad / v` may be one more, a group of padding that no work-item runs.
    pub groups: usize,
    /// Copies of u and z (2 when a step reads the old and writes the new rates).
    pub parities: usize,
    pub inputs_of: Vec<Vec<usize>>,
    pub forward_out_of: Vec<Vec<usize>>,

    // ---- state arena S (real) ----
    pub pop_off: Vec<usize>,
    pub pop_span: usize,
    pub inp_off: Vec<Option<usize>>,
    pub delta_off: Vec<Option<usize>>,
    pub pre_off: Vec<Option<usize>>,
    pub ring_off: Vec<Option<usize>>,
    pub ring_len: Vec<usize>,
    pub prod_off: Vec<Option<usize>>,
    /// Per population: its trace q (`parities` copies of `size`), if it declares one.
    pub q_off: Vec<Option<usize>>,
    /// Per projection: where its deferred update lives while its input is held
    /// (`Plan::held_input`), if this layout defers it.
    pub held: Vec<Option<HeldSlots>>,
    pub xcur_off: usize,
    pub ycur_off: usize,
    pub pres_off: usize,
    pub state_len: usize,

    // ---- weights W (real) ----
    pub w_off: Vec<usize>,
    pub w_len: usize,
    /// Stored transposed (`[pre][post]`): tall matrices with rows shorter than one vector, so
    /// that a vector runs along the long side (row layout only). Their window accumulators are
    /// stored the same way.
    pub trans: Vec<bool>,

    // ---- accumulators A (real) ----
    pub acc_dw: Vec<Option<usize>>,
    pub acc_bp: Vec<Option<usize>>,
    pub acc_ux: Vec<Option<usize>>,
    pub acc_len: usize,

    // ---- parameters P (real, per lane) ----
    pub params: Table<f64>,
    pub bias: Vec<usize>,
    pub leak: Vec<usize>,
    /// Per population: the fraction of its trace kept per step.
    pub q_keep: Vec<Option<usize>>,
    pub noise: Vec<Option<usize>>,
    pub sign: Vec<usize>,
    pub tied: Vec<Option<usize>>,
    /// Per masked projection (`Plan::masks`): the first of its `rows × cols` parameter rows,
    /// one per synapse in `[post][pre]` order (whatever the matrix's storage order), 1 where
    /// the instance has the synapse and 0 where it does not.
    pub mask: Vec<Option<usize>>,
    pub rate_w: Vec<usize>,
    pub theta: Vec<[Option<usize>; N_TERMS]>,
    pub decay: Vec<Option<usize>>,
    pub wnoise: Vec<Option<usize>>,
    /// Whether a motif needs the general update (more than an outer product, or decay).
    pub general: Vec<bool>,
    /// Per-instance value of the first motif's θ (instance 0), for the plasticity trace.
    pub trace_theta: [f64; N_TERMS],

    // ---- per-instance integers PL (u64) and lane keys PU (u32) ----
    pub longs: Table<u64>,
    /// The instance's seed (its noise streams are keyed by it; its task's seed is the task's).
    pub pl_seed: usize,
    pub pl_present: usize,
    pub pl_period: usize,
    pub delay: Vec<Delay>,
    pub keys: Table<u32>,

    /// Per population that some phase clamps: the parameter rows of the clamp (1 where the
    /// instance's population is held, else 0) and of the rate it is held at.
    pub clamp: Vec<Option<(usize, usize)>>,

    // ---- the task ----
    pub task: Tasks,
    pub n_in: usize,
    pub n_out: usize,
    pub task_data: Vec<f64>,
    pub train_rows: Vec<u32>,

    // ---- traces ----
    pub trace_every: u64,
    pub trace_slots: usize,
}

impl Model {
    /// The parameter rows that freezing an instance sets to zero for it: signs and biases keep
    /// it silent and finite, a zero weight rate stops its learning, and zero noise scales keep
    /// population and weight noise from driving it.
    pub fn freeze_rows(&self) -> Vec<usize> {
        self.sign
            .iter()
            .chain(&self.bias)
            .chain(&self.rate_w)
            .copied()
            .chain(self.wnoise.iter().flatten().copied())
            .chain(self.noise.iter().flatten().copied())
            .collect()
    }

    /// The ensemble layout (`v` instances per work-item group): every matrix stored as
    /// `[post][pre]`, deferred where the ensemble's step program defers it.
    pub fn ensemble(plan: Arc<Plan>, v: usize) -> Result<Model, OpenClError> {
        let program = StepProgram::for_plan(&plan, |_| false);
        let deferred = program.deferred_projections(&plan);
        let transposed = vec![false; plan.projections.len()];
        Model::new(plan, v, 1, transposed, deferred)
    }

    /// The row layout (two parities): matrices stored and deferred as `schedule` says.
    pub fn rows(plan: Arc<Plan>, v: usize, schedule: &RowSchedule) -> Result<Model, OpenClError> {
        let deferred = schedule.program.deferred_projections(&plan);
        Model::new(plan, v, 2, schedule.transposed.clone(), deferred)
    }

    /// `transposed` and `deferred` (per projection) come from the step program the layout runs,
    /// so the layout stores and defers exactly what its kernels step.
    fn new(
        plan: Arc<Plan>,
        v: usize,
        parities: usize,
        trans: Vec<bool>,
        defers: Vec<bool>,
    ) -> Result<Model, OpenClError> {
        if plan.method == Method::Rk4 {
            return Err(OpenClError::Unsupported(
                "the rk4 method is not supported on opencl yet; use --backend cpu".into(),
            ));
        }
        let e = plan.n_instances();
        let groups = e.div_ceil(v);
        let e_pad = padded_width(e, v);
        let pops = &plan.populations;
        let projs = &plan.projections;
        let n_pop = pops.len();

        let mut inputs_of = vec![Vec::new(); n_pop];
        let mut forward_out_of = vec![Vec::new(); n_pop];
        for (q, p) in projs.iter().enumerate() {
            inputs_of[p.to].push(q);
            if p.forward {
                forward_out_of[p.from].push(q);
            }
        }
        let backprop_is_rule: Vec<bool> = (0..projs.len())
            .map(|q| plan.backprop_is_rule_everywhere(q))
            .collect();
        let accumulate = Accumulate::for_plan(&plan);

        // State arena.
        let mut cursor = 0;
        let mut take = |n: usize| {
            let at = cursor;
            cursor += n;
            at
        };
        let mut pop_off = Vec::new();
        let mut pop_span = 0;
        for p in pops {
            pop_off.push(pop_span);
            pop_span += p.size;
        }
        take(2 * pop_span * parities);
        let inp_off = pops
            .iter()
            .map(|p| {
                (p.role != Role::Input && p.role != Role::Target && !p.instantaneous)
                    .then(|| take(p.size))
            })
            .collect();
        let delta_off = pops
            .iter()
            .map(|p| accumulate.backprop.then(|| take(p.size)))
            .collect();
        let ring_len: Vec<usize> = projs.iter().map(|p| p.ring_len()).collect();
        let mut longs = Table::<u64>::default();
        let delay: Vec<Delay> = projs
            .iter()
            .map(|p| {
                if p.max_delay() == 0 {
                    Delay::None
                } else if p.delay_steps.iter().all(|d| *d == p.delay_steps[0]) {
                    Delay::Uniform(p.delay_steps[0])
                } else {
                    Delay::PerInstance(
                        longs.push(p.delay_steps.iter().map(|d| *d as u64).collect()),
                    )
                }
            })
            .collect();
        let pre_off = projs
            .iter()
            .zip(&delay)
            .map(|(p, d)| matches!(d, Delay::PerInstance(_)).then(|| take(p.cols)))
            .collect();
        let ring_off = projs
            .iter()
            .zip(&ring_len)
            .map(|(p, n)| (*n > 0).then(|| take(n * p.cols)))
            .collect();
        let prod_off = projs
            .iter()
            .map(|p| (parities == 2 && p.motif.is_some()).then(|| take(p.rows)))
            .collect();
        let q_off = pops
            .iter()
            .map(|p| p.trace.as_ref().map(|_| take(p.size * parities)))
            .collect();
        // Before the current sample: freezing an instance zeroes its deferred state with W₀,
        // which leaves the exact W zero as well.
        let mut held: Vec<Option<HeldSlots>> = projs
            .iter()
            .zip(&defers)
            .zip(&plan.masks)
            .map(|((p, on), mask)| {
                on.then(|| HeldSlots {
                    d: take(p.rows),
                    base: take(p.rows),
                    g: take(parities),
                    xx: take(1),
                    xx_rows: mask.as_ref().map(|_| take(p.rows)),
                    x: (parities == 1).then(|| take(p.cols)),
                    sum_dw: None,
                })
            })
            .collect();
        let n_in = pops[plan.input].size;
        let n_out = plan.tasks[0].n_targets();
        let xcur_off = take(n_in);
        let ycur_off = take(n_out);
        let pres_off = take(1);
        let state_len = cursor.max(1);

        let mut w_off = Vec::new();
        let mut w_len = 0;
        for p in projs {
            w_off.push(w_len);
            w_len += p.synapses();
        }

        // Accumulators: the same set the CPU engine keeps.
        let mut acc_len = 0;
        let mut acc = |on: bool, n: usize| {
            on.then(|| {
                let at = acc_len;
                acc_len += n;
                at
            })
        };
        let mut acc_dw = Vec::new();
        let mut acc_bp = Vec::new();
        let mut acc_ux = Vec::new();
        for (q, p) in projs.iter().enumerate() {
            let plastic = p.motif.is_some();
            let n = p.synapses();
            acc_dw.push(acc(accumulate.dw_rule && plastic, n));
            acc_bp.push(acc(
                accumulate.backprop && plastic && p.forward && !backprop_is_rule[q],
                n,
            ));
            acc_ux.push(acc(accumulate.hebbian && plastic, n));
            if let Some(h) = held[q].as_mut() {
                h.sum_dw = acc(accumulate.dw_rule, p.rows);
            }
        }

        // Parameters, converted exactly as the CPU engine converts them.
        let mut params = Table::<f64>::default();
        let bias = pops.iter().map(|p| params.push(p.bias.clone())).collect();
        let leak = pops
            .iter()
            .map(|p| params.push(p.tau_s.iter().map(|t| plan.leak(*t)).collect()))
            .collect();
        // Noise where some phase has any (the values are the first phase's, set below).
        let noise = (0..n_pop)
            .map(|p| {
                let noisy = |t: &crate::plan::PhaseTables| t.noise[p].iter().any(|s| *s != 0.0);
                plan.phases
                    .iter()
                    .any(|ph| noisy(&ph.tables))
                    .then(|| params.push(vec![0.0; e]))
            })
            .collect();
        let sign = projs.iter().map(|p| params.push(p.sign.clone())).collect();
        let tied = projs
            .iter()
            .map(|p| {
                (p.tied_to.is_some() && p.tied.iter().any(|t| *t)).then(|| {
                    params.push(p.tied.iter().map(|t| if *t { 1.0 } else { 0.0 }).collect())
                })
            })
            .collect();
        let mask = projs
            .iter()
            .zip(&plan.masks)
            .map(|(p, m)| {
                let m = m.as_ref()?;
                let n = p.synapses();
                let first = params.rows.len();
                for k in 0..n {
                    params.push((0..e).map(|i| m[i * n + k]).collect());
                }
                Some(first)
            })
            .collect();
        let motifs = &plan.motifs;
        let rate_w = motifs
            .iter()
            .map(|m| {
                params.push(
                    m.tau_w_s
                        .iter()
                        .zip(&m.tau_decay_s)
                        .map(|(tw, td)| plan.weight_rate(*tw, *td))
                        .collect(),
                )
            })
            .collect();
        let theta = motifs
            .iter()
            .map(|m| {
                std::array::from_fn(|k| {
                    m.term_used(k)
                        .then(|| params.push(m.theta.iter().map(|t| t[k]).collect()))
                })
            })
            .collect();
        let decay = motifs
            .iter()
            .map(|m| {
                m.has_decay().then(|| {
                    params.push(
                        m.tau_decay_s
                            .iter()
                            .map(|td| plan.weight_retention(*td))
                            .collect(),
                    )
                })
            })
            .collect();
        let wnoise = motifs
            .iter()
            .map(|m| {
                m.has_noise().then(|| {
                    params.push(
                        m.weight_noise
                            .iter()
                            .zip(&m.tau_w_s)
                            .map(|(s, tw)| plan.weight_noise_step(*s, *tw))
                            .collect(),
                    )
                })
            })
            .collect();
        let q_keep = pops
            .iter()
            .map(|p| {
                p.trace
                    .as_ref()
                    .map(|t| params.push(t.tau_s.iter().map(|tau| plan.trace_keep(*tau)).collect()))
            })
            .collect();
        let clamp = (0..n_pop)
            .map(|p| {
                plan.phases
                    .iter()
                    .any(|ph| ph.tables.clamp[p].iter().any(Option::is_some))
                    .then(|| (params.push(vec![0.0; e]), params.push(vec![0.0; e])))
            })
            .collect();
        let general = motifs
            .iter()
            .map(|m| !m.form().is_outer() || m.has_decay())
            .collect();
        let trace_theta = motifs.first().map(|m| m.theta[0]).unwrap_or([0.0; N_TERMS]);

        // Kernels index with 32-bit integers.
        let largest = [state_len, w_len, acc_len].into_iter().max().unwrap_or(0) * e_pad;
        if largest >= (u32::MAX / 2) as usize {
            return Err(OpenClError::Unsupported(format!(
                "this ensemble needs {largest} values in one device buffer, more than the opencl backend's 32-bit indices address; use fewer instances or --backend cpu"
            )));
        }
        let pl_present = longs.push(plan.timing.iter().map(|t| t.present_steps).collect());
        let pl_period = longs.push(plan.timing.iter().map(|t| t.period_steps).collect());
        let mut keys = Table::<u32>::default();
        keys.push(plan.seeds.iter().map(|s| *s as u32).collect());
        keys.push(plan.seeds.iter().map(|s| (*s >> 32) as u32).collect());

        let (task, task_data, train_rows) = upload_tasks(&plan, &mut longs, n_in, n_out)?;
        let pl_seed = longs.push(plan.seeds.clone());

        let trace_every = (plan.trace_steps / 2000).max(1);
        let trace_slots = if plan.trace_steps == 0 {
            0
        } else {
            ((plan.trace_steps - 1) / trace_every + 1) as usize
        };

        let mut model = Model {
            accumulate,
            e,
            e_pad,
            v,
            groups,
            parities,
            inputs_of,
            forward_out_of,
            pop_off,
            pop_span,
            inp_off,
            delta_off,
            pre_off,
            ring_off,
            ring_len,
            prod_off,
            q_off,
            held,
            xcur_off,
            ycur_off,
            pres_off,
            state_len,
            w_off,
            w_len: w_len.max(1),
            trans,
            acc_dw,
            acc_bp,
            acc_ux,
            acc_len: acc_len.max(1),
            params,
            bias,
            leak,
            noise,
            sign,
            tied,
            mask,
            rate_w,
            theta,
            decay,
            wnoise,
            clamp,
            general,
            trace_theta,
            q_keep,
            longs,
            pl_seed,
            pl_present,
            pl_period,
            delay,
            keys,
            task,
            n_in,
            n_out,
            task_data,
            train_rows,
            trace_every,
            trace_slots,
            plan,
        };
        // The first phase's numbers (the circuit's own, unless the protocol's first phase
        // changes some).
        for (row, values) in model.phase_params(0) {
            model.params.rows[row] = values;
        }
        Ok(model)
    }

    /// The parameter rows a phase sets (weight rates, θ, decay, weight noise, population noise,
    /// clamps) with its numbers, converted as the CPU engine converts them.
    pub fn phase_params(&self, phase: usize) -> Vec<(usize, Vec<f64>)> {
        let plan = &self.plan;
        let t = &plan.phases[phase].tables;
        let mut rows: Vec<(usize, Vec<f64>)> = Vec::new();
        for mi in 0..plan.motifs.len() {
            let (tw, td) = (&t.tau_w_s[mi], &t.tau_decay_s[mi]);
            rows.push((
                self.rate_w[mi],
                tw.iter()
                    .zip(td)
                    .map(|(w, d)| plan.weight_rate(*w, *d))
                    .collect(),
            ));
            for (k, row) in self.theta[mi].iter().enumerate() {
                if let Some(row) = row {
                    rows.push((*row, t.theta[mi].iter().map(|th| th[k]).collect()));
                }
            }
            if let Some(row) = self.decay[mi] {
                rows.push((row, td.iter().map(|d| plan.weight_retention(*d)).collect()));
            }
            if let Some(row) = self.wnoise[mi] {
                let noise = &t.weight_noise[mi];
                rows.push((
                    row,
                    noise
                        .iter()
                        .zip(tw)
                        .map(|(s, w)| plan.weight_noise_step(*s, *w))
                        .collect(),
                ));
            }
        }
        for (p, pop) in plan.populations.iter().enumerate() {
            if let Some(row) = self.noise[p] {
                let steps = t.noise[p].iter().zip(&pop.tau_s);
                rows.push((
                    row,
                    steps.map(|(s, tau)| plan.noise_step(*s, *tau)).collect(),
                ));
            }
            if let Some((on, rate)) = self.clamp[p] {
                let clamp = &t.clamp[p];
                rows.push((
                    on,
                    clamp
                        .iter()
                        .map(|c| f64::from(u8::from(c.is_some())))
                        .collect(),
                ));
                rows.push((rate, clamp.iter().map(|c| c.unwrap_or(0.0)).collect()));
            }
        }
        rows
    }

    /// The integer rows a phase sets: which task, task seed and input scale each instance's
    /// stimuli come from.
    pub fn phase_longs(&self, phase: usize) -> &[(usize, Vec<u64>)] {
        &self.task.phase_rows[phase]
    }

    /// Element offset of population `p`'s potentials in copy `parity`.
    pub fn u_off(&self, p: usize, parity: usize) -> usize {
        parity * 2 * self.pop_span + self.pop_off[p]
    }
    /// Element offset of population `p`'s rates in copy `parity`.
    pub fn z_off(&self, p: usize, parity: usize) -> usize {
        parity * 2 * self.pop_span + self.pop_span + self.pop_off[p]
    }
    /// Element offset of population `p`'s trace in copy `parity`, if it has one.
    pub fn q_at(&self, p: usize, parity: usize) -> Option<usize> {
        self.q_off[p].map(|off| off + parity * self.plan.populations[p].size)
    }
    /// Length of the task scratch (per instance: input, target, hidden units).
    pub fn hidden(&self) -> usize {
        self.task.hidden
    }

    /// Instance-major values of `n` elements at `off` of an interleaved buffer.
    pub fn gather<T: Copy + Into<f64>>(&self, buf: &[T], off: usize, n: usize) -> Vec<f64> {
        let mut out = Vec::new();
        self.gather_into(buf, off, n, &mut out);
        out
    }

    /// `gather` into `out`, reusing its memory (a fresh multi-megabyte vector costs page
    /// faults on every window).
    pub fn gather_into<T: Copy + Into<f64>>(
        &self,
        buf: &[T],
        off: usize,
        n: usize,
        out: &mut Vec<f64>,
    ) {
        out.clear();
        if self.e_pad == 1 {
            // One instance: the values are contiguous.
            out.extend(buf[off..off + n].iter().map(|v| (*v).into()));
            return;
        }
        out.reserve(self.e * n);
        for i in 0..self.e {
            for k in 0..n {
                out.push(buf[(off + k) * self.e_pad + i].into());
            }
        }
    }

    /// Instance-major `[post][pre]` values of projection q in their storage order, or back
    /// (`back`): a transpose per instance for matrices stored transposed.
    pub fn storage_order(&self, q: usize, values: Vec<f64>, back: bool) -> Vec<f64> {
        if !self.trans[q] {
            return values;
        }
        let p = &self.plan.projections[q];
        let (r, c) = if back {
            (p.cols, p.rows)
        } else {
            (p.rows, p.cols)
        };
        let n = r * c;
        let mut out = vec![0.0; values.len()];
        for (inst, block) in values.chunks(n).enumerate() {
            for i in 0..r {
                for j in 0..c {
                    out[inst * n + j * r + i] = block[i * c + j];
                }
            }
        }
        out
    }

    /// The interleaved form of instance-major values (padding lanes copy instance 0).
    pub fn scatter(&self, values: &[f64], n: usize, out: &mut [f64], off: usize) {
        for l in 0..self.e_pad {
            let i = if l < self.e { l } else { 0 };
            for k in 0..n {
                out[(off + k) * self.e_pad + l] = values[i * n + k];
            }
        }
    }
}

/// Where one task's stimuli come from: its seed, its data's offset, a data set's training rows
/// (offset, count) and row count, a tanh teacher's hidden size, and its kind.
#[derive(Clone, Copy)]
struct Placed {
    seed: u64,
    data: u64,
    rows: u64,
    nrows: u64,
    ndata: u64,
    hidden: u64,
    kind: TaskKind,
}

/// Every phase's tasks (and input scales) as one upload: each distinct task's data once, in
/// `TaskKind`'s layout (`kernels/stimulus.cl`), and the integer rows that point an instance at
/// its phase's task, pushed into `longs` with the first phase's values. Returns the tasks'
/// rows, the task data (the distinct input scales at its end) and the data sets' training rows.
fn upload_tasks(
    plan: &Plan,
    longs: &mut Table<u64>,
    n_in: usize,
    n_out: usize,
) -> Result<(Tasks, Vec<f64>, Vec<u32>), OpenClError> {
    let mut task_data: Vec<f64> = Vec::new();
    let mut train_rows: Vec<u32> = Vec::new();
    // Distinct tasks: the phases share the plan's `Arc`s where they keep an instance's task,
    // and equal data (instances of one data set split alike) is stored once.
    let mut seen: Vec<(&Arc<crate::task::Task>, DeviceTaskForm, Placed)> = Vec::new();
    let mut placed: Vec<Vec<Placed>> = Vec::new();
    for ph in &plan.phases {
        let mut row = Vec::with_capacity(ph.tables.tasks.len());
        for task in &ph.tables.tasks {
            if task.n_inputs() != n_in || task.n_targets() != n_out {
                return Err(OpenClError::Unsupported(
                    "the instances of this ensemble present samples of different shapes; the opencl backend needs one input and target size; use --backend cpu".into(),
                ));
            }
            if let Some((_, _, at)) = seen.iter().find(|(t, _, _)| Arc::ptr_eq(t, task)) {
                row.push(*at);
                continue;
            }
            let form = task.device_form();
            if let Some((_, _, at)) = seen.iter().find(|(_, f, _)| *f == form) {
                let at = Placed {
                    seed: task.seed(),
                    ..*at
                };
                seen.push((task, form, at));
                row.push(at);
                continue;
            }
            let mut at = Placed {
                seed: task.seed(),
                data: task_data.len() as u64,
                rows: train_rows.len() as u64,
                nrows: 0,
                ndata: 0,
                hidden: 0,
                kind: TaskKind::of(&form),
            };
            let row_major = |m: &nalgebra::DMatrix<f64>, out: &mut Vec<f64>| {
                for r in 0..m.nrows() {
                    for c in 0..m.ncols() {
                        out.push(m[(r, c)]);
                    }
                }
            };
            match &form {
                DeviceTaskForm::NormalLinear { matrix, input_std } => {
                    task_data.push(*input_std);
                    row_major(matrix, &mut task_data);
                }
                DeviceTaskForm::NormalTanh { v1, v2, input_std } => {
                    task_data.push(*input_std);
                    row_major(v1, &mut task_data);
                    row_major(v2, &mut task_data);
                    at.hidden = v1.nrows() as u64;
                }
                DeviceTaskForm::Mixture { means, input_std } => {
                    task_data.push(*input_std);
                    row_major(means, &mut task_data);
                }
                DeviceTaskForm::Dataset {
                    inputs,
                    targets,
                    train_rows: tr,
                } => {
                    row_major(inputs, &mut task_data);
                    row_major(targets, &mut task_data);
                    train_rows.extend_from_slice(tr);
                    at.nrows = tr.len() as u64;
                    at.ndata = inputs.nrows() as u64;
                }
            }
            seen.push((task, form, at));
            row.push(at);
        }
        placed.push(row);
    }
    let mut kinds: Vec<TaskKind> = seen.iter().map(|(_, _, at)| at.kind).collect();
    kinds.sort();
    kinds.dedup();
    let mut hiddens: Vec<u64> = seen
        .iter()
        .filter(|(_, _, at)| at.kind == TaskKind::Tanh)
        .map(|(_, _, at)| at.hidden)
        .collect();
    hiddens.sort();
    hiddens.dedup();
    // The input scales after the tasks' data, each distinct value once.
    let scaled = plan
        .phases
        .iter()
        .any(|ph| ph.tables.input_scale.iter().any(|s| *s != 1.0));
    let mut scales: Vec<Vec<u64>> = Vec::new();
    if scaled {
        let start = task_data.len();
        for ph in &plan.phases {
            let mut row = Vec::new();
            for s in &ph.tables.input_scale {
                let known = task_data[start..]
                    .iter()
                    .position(|v| v.to_bits() == s.to_bits());
                row.push(match known {
                    Some(i) => (start + i) as u64,
                    None => {
                        task_data.push(*s);
                        (task_data.len() - 1) as u64
                    }
                });
            }
            scales.push(row);
        }
    }
    let column =
        |phase: usize, f: fn(&Placed) -> u64| -> Vec<u64> { placed[phase].iter().map(f).collect() };
    let fields: [fn(&Placed) -> u64; 5] =
        [|p| p.seed, |p| p.data, |p| p.rows, |p| p.nrows, |p| p.ndata];
    let kind: fn(&Placed) -> u64 = |p| p.kind as u64;
    let hidden: fn(&Placed) -> u64 = |p| p.hidden;
    let [pl_task_seed, pl_data, pl_rows, pl_nrows, pl_ndata] =
        fields.map(|f| longs.push(column(0, f)));
    let pl_kind = (kinds.len() > 1).then(|| longs.push(column(0, kind)));
    let pl_hidden = (hiddens.len() > 1).then(|| longs.push(column(0, hidden)));
    let pl_scale = scaled.then(|| longs.push(scales[0].clone()));
    let phase_rows = (0..plan.phases.len())
        .map(|k| {
            let mut rows: Vec<(usize, Vec<u64>)> =
                [pl_task_seed, pl_data, pl_rows, pl_nrows, pl_ndata]
                    .into_iter()
                    .zip(fields)
                    .map(|(row, f)| (row, column(k, f)))
                    .collect();
            rows.extend(pl_kind.map(|r| (r, column(k, kind))));
            rows.extend(pl_hidden.map(|r| (r, column(k, hidden))));
            rows.extend(pl_scale.map(|r| (r, scales[k].clone())));
            rows
        })
        .collect();
    if task_data.is_empty() {
        task_data.push(0.0);
    }
    if train_rows.is_empty() {
        train_rows.push(0);
    }
    let tasks = Tasks {
        kinds,
        hidden: hiddens.last().copied().unwrap_or(0) as usize,
        pl_task_seed,
        pl_data,
        pl_rows,
        pl_nrows,
        pl_ndata,
        pl_kind,
        pl_hidden,
        pl_scale,
        phase_rows,
    };
    Ok((tasks, task_data, train_rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::InstanceSpec;
    use crate::spec::{self, SourceFile};
    use crate::workload::Workload;
    use std::path::Path;

    #[test]
    fn interleaved_width_has_an_odd_number_of_lane_groups() {
        // (instances, lanes) → columns: whole groups, one more where their count is even.
        for (e, v, want) in [
            (1, 1, 1),
            (16, 16, 16),
            (64, 16, 80),
            (48, 16, 48),
            (100, 16, 112),
            (5, 4, 12),
            (64, 8, 72),
            (2, 1, 3),
        ] {
            assert_eq!(padded_width(e, v), want, "{e} instances, {v} lanes");
        }
        // The model runs the instance-holding groups only and strides by the padded width.
        let yaml = Workload::W1.circuit_yaml(0.2);
        let one = plan_of(yaml.clone());
        let source = SourceFile::from_text(Path::new("test.yaml"), yaml);
        let spec = InstanceSpec {
            circuit: crate::circuit::build(&source, &spec::parse_circuit(&source).unwrap())
                .unwrap(),
            seed: 1,
            label: "fa".into(),
        };
        let instances: Vec<InstanceSpec> = (0..64)
            .map(|k| InstanceSpec {
                seed: k,
                ..spec.clone()
            })
            .collect();
        let plan = Arc::new(Plan::new(&instances, Path::new(".")).expect("plans"));
        let m = Model::ensemble(plan, 16).unwrap();
        assert_eq!((m.e, m.groups, m.e_pad), (64, 4, 80));
        let m = Model::ensemble(one, 16).unwrap();
        assert_eq!((m.e, m.groups, m.e_pad), (1, 1, 16));
    }

    fn plan_of(yaml: String) -> Arc<Plan> {
        let source = SourceFile::from_text(Path::new("test.yaml"), yaml);
        let spec = spec::parse_circuit(&source).expect("parses");
        let circuit = crate::circuit::build(&source, &spec).expect("builds");
        let instance = InstanceSpec {
            circuit,
            seed: 1,
            label: "fa".into(),
        };
        Arc::new(Plan::new(&[instance], Path::new(".")).expect("plans"))
    }

    /// The device defers exactly the projections the plan marks, in both layouts (holding x
    /// itself only in the ensemble layout), except matrices the row layout stores transposed.
    #[test]
    fn deferred_where_the_plan_says_and_the_layout_allows() {
        let yaml = Workload::W1.circuit_yaml(0.2);
        let plan = plan_of(yaml.clone());
        let w1 = plan
            .projections
            .iter()
            .position(|p| p.name == "W1")
            .unwrap();
        assert!(plan.held_input[w1]);
        let ensemble = Model::ensemble(plan.clone(), 1).unwrap();
        let rows = Model::rows(plan.clone(), 1, &RowSchedule::for_plan(&plan, 16)).unwrap();
        for (q, held) in plan.held_input.iter().enumerate() {
            assert_eq!(
                ensemble.held[q].is_some(),
                *held,
                "ensemble, projection {q}"
            );
            assert_eq!(rows.held[q].is_some(), *held, "rows, projection {q}");
        }
        assert!(ensemble.held[w1].is_some_and(|h| h.x.is_some()));
        assert!(rows.held[w1].is_some_and(|h| h.x.is_none()));
        // Four inputs into 64 units: stored transposed by the row layout, so stepped in full.
        let tall = plan_of(
            yaml.replace("x: {role: input, size: 30}", "x: {role: input, size: 4}")
                .replace("h: {size: 20,", "h: {size: 64,"),
        );
        assert!(tall.held_input[w1]);
        let rows = Model::rows(tall.clone(), 1, &RowSchedule::for_plan(&tall, 16)).unwrap();
        assert!(rows.trans[w1] && rows.held[w1].is_none());
        assert!(Model::ensemble(tall, 1).unwrap().held[w1].is_some());
    }
}
