//! OpenCL C generated from the plan: the header that fixes types and sizes, and the pieces both
//! kernel layouts share (presynaptic rates, θ terms, activation names).
//!
//! Nothing here knows a rule by name. A motif's update is assembled from the θ terms that are
//! non-zero in some instance, a population's activation picks one of the prelude's functions by
//! name, and every size and offset becomes a literal, so the compiler sees constant loop bounds.
//! A plasticity term is written from its declaration (`rule::TERMS`, see `terms.rs`); an
//! activation means adding it to the prelude and to `act_name`, not writing a kernel.

use super::device_layout::{Delay, Model};
use super::terms;
use crate::activation::Activation;
use crate::rule::Post;
use crate::step::{Op, StepProgram};
use std::fmt::Write;

pub(crate) const PRELUDE: &str = include_str!("../../../kernels/prelude.cl");
pub(crate) const STIMULUS: &str = include_str!("../../../kernels/stimulus.cl");
pub(crate) const RNG_CHECK: &str = include_str!("../../../kernels/rng_check.cl");
pub(crate) const ENSEMBLE: &str = include_str!("../../../kernels/ensemble.cl");
pub(crate) const ROWS: &str = include_str!("../../../kernels/rows.cl");

/// Types of one compilation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Types {
    /// `real` is double (else float).
    pub f64: bool,
    /// The device has doubles (noise and stimuli are then drawn in f64, as on the CPU).
    pub fp64: bool,
    /// Lanes per work-item.
    pub v: usize,
}

/// The header: types, vector helpers and, when `model` is given, its sizes.
pub(crate) fn header(t: Types) -> String {
    let mut h = String::new();
    let real = if t.f64 { "double" } else { "float" };
    let mask = if t.f64 { "long" } else { "int" };
    if t.fp64 {
        h.push_str("#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n#define HAS_FP64 1\n");
    }
    if t.f64 {
        h.push_str("#define REAL_F64 1\n");
    }
    let _ = writeln!(h, "typedef {real} real;");
    let _ = writeln!(
        h,
        "typedef {} taskt;",
        if t.fp64 { "double" } else { "float" }
    );
    let _ = writeln!(
        h,
        "typedef {} acct;",
        if t.fp64 { "double" } else { "float" }
    );
    let acc = if t.fp64 { "double" } else { "float" };
    if t.v == 1 {
        let _ = writeln!(
            h,
            "typedef {real} realv;\ntypedef {mask} maskv;\ntypedef uint uintv;\ntypedef float fltv;\ntypedef {acc} accv;"
        );
        if t.fp64 {
            h.push_str("typedef double dblv;\n#define CVT_DBLV convert_double\ntypedef ulong ulongv;\n#define AS_ULONGV as_ulong\n#define AS_DBLV as_double\n");
        }
        let _ = writeln!(
            h,
            "#define LDV(p, i) ((p)[(i)])\n#define STV(x, p, i) ((p)[(i)] = (x))\n#define LDW(p, i) ((p)[(i)])\n#define STW(x, p, i) ((p)[(i)] = (x))\n#define CVT_REALV convert_{real}\n#define CVT_FLTV convert_float\n#define AS_UINTV as_uint\n#define AS_FLTV as_float\n#define CVT_ACCV convert_{acc}\n#define SEL_v(a, b, c) ((c) ? (b) : (a))\n#define MASK01(m) ((uint)((m) ? 1u : 0u))\n#define MULHI_V mul_hi"
        );
    } else {
        let v = t.v;
        // MULHI_V: Philox's high product words as a widening multiply, which the CPU device
        // compilers (PoCL) turn into the even/odd 32×32→64 vector multiply; their `mul_hi` on
        // vectors split the words into 16-bit halves instead (W3's kernel time −22 to −25% on PoCL).
        let _ = writeln!(
            h,
            "typedef {real}{v} realv;\ntypedef {mask}{v} maskv;\ntypedef uint{v} uintv;\ntypedef float{v} fltv;\ntypedef {acc}{v} accv;"
        );
        if t.fp64 {
            let _ = writeln!(
                h,
                "typedef double{v} dblv;\n#define CVT_DBLV convert_double{v}\ntypedef ulong{v} ulongv;\n#define AS_ULONGV as_ulong{v}\n#define AS_DBLV as_double{v}"
            );
        }
        let _ = writeln!(
            h,
            "#define LDV(p, i) (((__global const realv *)(p))[(i)])\n#define STV(x, p, i) (((__global realv *)(p))[(i)] = (x))\n#define LDW(p, i) vload{v}((i), (p))\n#define STW(x, p, i) vstore{v}((x), (i), (p))\n#define CVT_REALV convert_{real}{v}\n#define CVT_FLTV convert_float{v}\n#define AS_UINTV as_uint{v}\n#define AS_FLTV as_float{v}\n#define CVT_ACCV convert_{acc}{v}\n#define SEL_v(a, b, c) select((a), (b), (c))\n#define MASK01(m) convert_uint{v}(-(m))\n#define MULHI_V(a, b) convert_uint{v}((convert_ulong{v}(a) * convert_ulong{v}(b)) >> 32)"
        );
    }
    h
}

/// Sizes and offsets the stimulus generator needs.
pub(crate) fn model_defines(m: &Model) -> String {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "#define E_PAD {}u\n#define V {}u\n#define EV {}u\n#define GROUPS {}u",
        m.e_pad,
        m.v,
        m.e_pad / m.v,
        m.groups
    );
    let _ = writeln!(
        h,
        "#define N_IN {}u\n#define N_OUT {}u\n#define HIDDEN {}u",
        m.n_in,
        m.n_out,
        m.hidden()
    );
    let t = &m.task;
    let _ = writeln!(
        h,
        "#define PL_SEED {}u\n#define PL_TSEED {}u\n#define PL_TASK {}u\n#define PL_ROWS {}u\n#define PL_NROWS {}u\n#define PL_NDATA {}u",
        m.pl_seed, t.pl_task_seed, t.pl_data, t.pl_rows, t.pl_nrows, t.pl_ndata
    );
    let _ = writeln!(
        h,
        "#define S_XCUR {}u\n#define S_YCUR {}u",
        m.xcur_off, m.ycur_off
    );
    // A generator for every kind of task some phase uses; the instance's kind selects one
    // where there are several (a literal otherwise, so the others fold away).
    for kind in &t.kinds {
        let _ = writeln!(h, "#define {} 1", kind.define());
    }
    match (t.pl_kind, t.kinds.first()) {
        (Some(row), _) => {
            let _ = writeln!(
                h,
                "#define TASK_KIND(inst) ((uint)PL[{row}u * E_PAD + (inst)])"
            );
        }
        (None, Some(kind)) => {
            let _ = writeln!(h, "#define TASK_KIND(inst) {}u", *kind as u32);
        }
        (None, None) => {}
    }
    match t.pl_hidden {
        Some(row) => {
            let _ = writeln!(
                h,
                "#define TANH_HIDDEN(inst) ((uint)PL[{row}u * E_PAD + (inst)])"
            );
        }
        None => h.push_str("#define TANH_HIDDEN(inst) HIDDEN\n"),
    }
    if let Some(row) = t.pl_scale {
        let _ = writeln!(h, "#define PL_SCALE {row}u");
    }
    h
}

/// The suffix of the prelude's functions for an activation.
pub(crate) fn act_name(a: Activation) -> &'static str {
    match a {
        Activation::Linear => "linear",
        Activation::Tanh => "tanh",
        Activation::Relu => "relu",
        Activation::Sigmoid => "sigmoid",
        Activation::Softplus => "softplus",
    }
}

/// A C literal for a double.
pub(crate) fn lit(x: f64) -> String {
    if x.is_finite() {
        format!("{x:?}")
    } else {
        "0.0".into()
    }
}

/// The streams the CPU engine draws noise from.
pub(crate) fn noise_stream(pop: &str) -> u32 {
    crate::rng::stream_id(&format!("noise/{pop}"))
}
pub(crate) fn wnoise_stream(proj: &str) -> u32 {
    crate::rng::stream_id(&format!("wnoise/{proj}"))
}

/// Generates the ensemble kernel: one work-item advances `V` interleaved instances through
/// whole steps, many steps per launch.
pub(crate) fn ensemble_source(m: &Model, t: Types) -> String {
    let mut g = Ens {
        m,
        b: String::new(),
    };
    g.step();
    let mut src = header(t);
    src.push_str(&model_defines(m));
    src.push_str(PRELUDE);
    src.push_str(STIMULUS);
    let body = g.b;
    let prologue = format!(
        "    ulong per_[V], shown_[V], ph_[V];\n    for (uint l = 0; l < V; l++) {{ const uint inst = g * V + l; per_[l] = PL[{}u * E_PAD + inst]; shown_[l] = PL[{}u * E_PAD + inst]; ph_[l] = step0 % per_[l]; }}",
        m.pl_period, m.pl_present
    );
    src.push_str(
        &ENSEMBLE
            .replace("/*@PROLOGUE@*/", &prologue)
            .replace("/*@STEP@*/", &body)
            .replace("/*@TRACE_SLOTS@*/", &m.trace_slots.to_string()),
    );
    src
}

/// Rows of a population's input summed together (see `Ens::sum_input`): eight chains cover
/// the FMA latency of the CPUs PoCL runs on (4 cycles, 2 units).
const ROW_BLOCK: usize = 8;

/// Row `k` of the block starting at `i0`, as a C index expression.
fn block_row(k: usize) -> String {
    format!("i0 + {k}u")
}

struct Ens<'a> {
    m: &'a Model,
    b: String,
}

impl Ens<'_> {
    fn line(&mut self, s: impl AsRef<str>) {
        self.b.push_str(s.as_ref());
        self.b.push('\n');
    }

    /// Lane vector of element `k` (an expression) of the state arena at offset `off`.
    fn s(&self, off: usize, k: &str) -> String {
        format!("LDV(s, ({off}u + {k}) * EV)")
    }
    fn p(&self, row: usize) -> String {
        format!("LDV(p, {row}u * EV)")
    }
    fn z(&self, pop: usize, k: &str) -> String {
        self.s(self.m.z_off(pop, 0), k)
    }
    fn u(&self, pop: usize, k: &str) -> String {
        self.s(self.m.u_off(pop, 0), k)
    }

    /// Presynaptic rate `j` of projection q as the CPU's `delayed_rates` gives it.
    fn pre(&self, q: usize, j: &str) -> String {
        let m = self.m;
        let from = m.plan.projections[q].from;
        match m.delay[q] {
            Delay::None => self.z(from, j),
            Delay::Uniform(_) => format!(
                "(rv{q} ? {} : (realv)0)",
                self.s(m.ring_off[q].unwrap_or(0), &format!("rs{q} + {j}"))
            ),
            Delay::PerInstance(_) => self.s(m.pre_off[q].unwrap_or(0), j),
        }
    }

    /// Makes `pre(q, ·)` valid for this step (ring slot, or the per-lane gather).
    fn prepare_pre(&mut self, q: usize) {
        let m = self.m;
        let proj = &m.plan.projections[q];
        let len = m.ring_len[q];
        match m.delay[q] {
            // Uniform delays are resolved once at the top of the step (`ring_slots`).
            Delay::None | Delay::Uniform(_) => {}
            Delay::PerInstance(row) => {
                let (ring, pre, zf, cols) = (
                    m.ring_off[q].unwrap_or(0),
                    m.pre_off[q].unwrap_or(0),
                    m.z_off(proj.from, 0),
                    proj.cols,
                );
                self.line(format!(
                    "for (uint l = 0; l < V; l++) {{ const uint inst = g * V + l; const ulong d = PL[{row}u * E_PAD + inst];\n  for (uint j = 0; j < {cols}u; j++) S[({pre}u + j) * E_PAD + inst] = d == 0 ? S[({zf}u + j) * E_PAD + inst] : (n < d ? (real)0 : S[({ring}u + ((n - d) % {len}ul) * {cols}u + j) * E_PAD + inst]);\n}}"
                ));
            }
        }
    }

    /// `acc_r += sign · Σ_j W[i0 + r][j] pre[j]` for every projection into `pop`, for the `r`
    /// rows of one block (accumulators `acc0 … acc{r-1}`).
    fn products(&mut self, pop: usize, r: usize) {
        let m = self.m;
        for &q in &m.inputs_of[pop] {
            if let Some(h) = &m.held[q] {
                // G·(W₀x) + (xᵀx)·D, the current of the deferred matrix (Σ_j M_ij x_j² for
                // xᵀx under a mask).
                for k in 0..r {
                    let xx = match h.xx_rows {
                        Some(o) => self.s(o, &block_row(k)),
                        None => self.s(h.xx, "0"),
                    };
                    self.line(format!(
                        "  acc{k} += sg{q} * ({} * {} + {xx} * {});",
                        self.s(h.g, "0"),
                        self.s(h.base, &block_row(k)),
                        self.s(h.d, &block_row(k))
                    ));
                }
                continue;
            }
            let proj = &m.plan.projections[q];
            if proj.identity {
                // A fixed identity matrix copies its source, as on the CPU (the same value:
                // the row's other terms are exact zeros).
                for k in 0..r {
                    self.line(format!(
                        "  acc{k} += sg{q} * {};",
                        self.pre(q, &block_row(k))
                    ));
                }
                continue;
            }
            let w = m.w_off[q];
            let cols = proj.cols;
            let zeros = (0..r)
                .map(|k| format!("sum{k} = (realv)0"))
                .collect::<Vec<_>>()
                .join(", ");
            let fmas: String = (0..r)
                .map(|k| {
                    format!(" sum{k} += LDV(w, ({w}u + (i0 + {k}u) * {cols}u + j) * EV) * pj;")
                })
                .collect();
            let adds: String = (0..r)
                .map(|k| format!(" acc{k} += sg{q} * sum{k};"))
                .collect();
            self.line(format!(
                "  {{ realv {zeros};\n    for (uint j = 0; j < {cols}u; j++) {{ const realv pj = {};{fmas} }}\n   {adds} }}",
                self.pre(q, "j")
            ));
        }
    }

    /// bias + Σ products, times the φ' gain, for every unit of `pop`, stored at `dst`.
    ///
    /// Rows go in blocks of `ROW_BLOCK`: each row's sum is one chain of dependent adds, so a
    /// row at a time leaves the FMA units waiting on their own latency; a block keeps that
    /// many independent chains in flight. Each row still sums in the same order (bit-identical
    /// to the CPU engine in f64).
    fn sum_input(&mut self, pop: usize, dst: usize) {
        let m = self.m;
        let pp = &m.plan.populations[pop];
        for &q in &m.inputs_of[pop] {
            self.prepare_pre(q);
            let row = m.sign[q];
            self.line(format!("const realv sg{q} = {};", self.p(row)));
        }
        let full = pp.size / ROW_BLOCK * ROW_BLOCK;
        if full > 0 {
            self.row_block(pop, dst, 0, full, ROW_BLOCK);
        }
        if pp.size > full {
            self.row_block(pop, dst, full, pp.size, pp.size - full);
        }
    }

    /// Rows `start..end` of `sum_input`, `r` at a time.
    fn row_block(&mut self, pop: usize, dst: usize, start: usize, end: usize, r: usize) {
        let m = self.m;
        let pp = &m.plan.populations[pop];
        let init = (0..r)
            .map(|k| format!("acc{k} = bias"))
            .collect::<Vec<_>>()
            .join(", ");
        self.line(format!(
            "for (uint i0 = {start}u; i0 < {end}u; i0 += {r}u) {{\n  const realv bias = {};\n  realv {init};",
            self.p(m.bias[pop])
        ));
        self.products(pop, r);
        let gain = pp
            .gain_from
            .map(|g| (g, act_name(m.plan.populations[g].activation)));
        for k in 0..r {
            let i = block_row(k);
            if let Some((gsrc, a)) = gain {
                self.line(format!("  acc{k} *= dact_{a}_v({});", self.u(gsrc, &i)));
            }
            self.line(format!("  STV(acc{k}, s, ({dst}u + {i}) * EV);"));
        }
        self.line("}");
    }

    /// u += scale · N(0, 1), drawn per 4-unit block as the CPU does.
    fn noise(&mut self, pop: usize) {
        let m = self.m;
        let Some(row) = m.noise[pop] else { return };
        let pp = &m.plan.populations[pop];
        let stream = noise_stream(&pp.name);
        let uo = m.u_off(pop, 0);
        self.line(format!(
            "{{ const realv scale = {};\n  for (uint b = 0; b < {}u; b++) {{ realv nz[4]; noise_normals_v(k0, k1, {stream}u, n, b, nz);\n    for (uint t = 0; t < 4 && 4 * b + t < {}u; t++) STV(LDV(s, ({uo}u + 4 * b + t) * EV) + scale * nz[t], s, ({uo}u + 4 * b + t) * EV); }} }}",
            self.p(row),
            pp.size.div_ceil(4),
            pp.size
        ));
    }

    /// Ring slots of this step for projections whose delay is the same in every instance.
    fn ring_slots(&mut self) {
        let m = self.m;
        for (q, proj) in m.plan.projections.iter().enumerate() {
            if let Delay::Uniform(d) = m.delay[q] {
                let len = m.ring_len[q];
                self.line(format!(
                    "const int rv{q} = n >= {d}ul; const ulong rs{q} = rv{q} ? ((n - {d}ul) % {len}ul) * {}ul : 0ul;",
                    proj.cols
                ));
            }
        }
    }

    /// The step: the step program (`crate::step`) emitted operation by operation.
    fn step(&mut self) {
        let program = StepProgram::for_plan(&self.m.plan, |_| false);
        self.ring_slots();
        for op in &program.ops {
            match *op {
                Op::Stimulus => self.stimulus(),
                Op::RebaseHeld => self.rebase_held(),
                Op::Instantaneous { population } => self.instantaneous(population),
                Op::SumInput { population } => self.input(population),
                Op::PushRing { projection } => self.push_ring(projection),
                Op::Accumulate => self.accumulate(),
                // The ensemble layout fuses no update (it is the CPU engine's single-instance
                // path), so the next input is never fetched early here.
                Op::PrepareNextInput => {}
                Op::Update { motif, .. } => self.update(motif),
                Op::Mask { projection } => self.mask(projection),
                Op::Trace { population } => self.trace_of(population),
                Op::Integrate { population } => self.integrate(population),
                Op::CopyTied { projection } => self.copy_tied(projection),
                // The device layout refuses `method: rk4` before any code is generated; should
                // an RK4 program reach here, the kernel fails to build saying why.
                Op::StageStart
                | Op::Slope { .. }
                | Op::WeightSlope { .. }
                | Op::AccumulateRuleSlope
                | Op::Stage { .. }
                | Op::StageEnd
                | Op::Rates { .. }
                | Op::Noise { .. } => self.line("#error \"no RK4 step on OpenCL\""),
            }
        }
    }

    /// Stimulus: per lane, a new sample when the schedule moves on; the input and target
    /// populations take it while it is presented.
    fn stimulus(&mut self) {
        let m = self.m;
        let plan = &m.plan;
        // `moved`: some lane's stimulus may differ from the last step's (a launch's first step,
        // a new period, the end of the presented part), the only steps where a driven input's
        // rates can change.
        self.line("int moved = it == 0;\nfor (uint l = 0; l < V; l++) {\n  const uint inst = g * V + l;\n  moved |= ph_[l] == 0 || ph_[l] == shown_[l];");
        // The phase within the period moves on by one a step (see `prologue`); the sample
        // index needs a division only where a period starts and at a launch's first step.
        self.line("  if (ph_[l] == 0 || it == 0) { const ulong k = n / per_[l];\n    if (k != SAMPLE[inst]) { SAMPLE[inst] = k; gen_sample(inst, k, PL, TD, TR, XS, S); } }");
        self.line(format!(
            "  S[{}u * E_PAD + inst] = ph_[l] < shown_[l] ? (real)1 : (real)0;\n  ph_[l] = ph_[l] + 1 == per_[l] ? 0 : ph_[l] + 1;\n}}",
            m.pres_off
        ));
        self.line(format!(
            "const maskv present = {} != (realv)0;",
            self.s(m.pres_off, "0")
        ));
        // A population a phase clamps takes its rate in every unit, shown or not (a parameter
        // row, 0 where the instance's phase leaves it to the task).
        let drive = |pop: usize, src: usize, n: usize, g: &mut Ens| {
            let zo = m.z_off(pop, 0);
            let shown = format!("SEL_v((realv)0, LDV(s, ({src}u + j) * EV), present)");
            let value = match m.clamp[pop] {
                Some((on, rate)) => {
                    format!("SEL_v({shown}, {}, {} != (realv)0)", g.p(rate), g.p(on))
                }
                None => shown,
            };
            g.line(format!(
                "for (uint j = 0; j < {n}u; j++) STV({value}, s, ({zo}u + j) * EV);"
            ));
        };
        drive(plan.input, m.xcur_off, m.n_in, self);
        if let Some(out) = &plan.output {
            drive(out.target, m.ycur_off, m.n_out, self);
        }
    }

    /// An instantaneous population: u = its summed input (+ noise), z = φ(u).
    fn instantaneous(&mut self, p: usize) {
        let m = self.m;
        let pop = &m.plan.populations[p];
        self.line(format!("{{ // instantaneous population {}", pop.name));
        self.sum_input(p, m.u_off(p, 0));
        self.noise(p);
        let a = act_name(pop.activation);
        self.line(format!(
            "for (uint i = 0; i < {}u; i++) STV(act_{a}_v({}), s, ({}u + i) * EV);\n}}",
            pop.size,
            self.u(p, "i"),
            m.z_off(p, 0)
        ));
    }

    /// A rate population's input (where it has one).
    fn input(&mut self, p: usize) {
        let m = self.m;
        if let Some(dst) = m.inp_off[p] {
            self.line(format!("{{ // input of {}", m.plan.populations[p].name));
            self.sum_input(p, dst);
            self.line("}");
        }
    }

    /// A delayed projection's ring takes the presynaptic rates as they are during this step,
    /// before the rate populations integrate. Reads of this step use other slots.
    fn push_ring(&mut self, q: usize) {
        let m = self.m;
        let Some(ring) = m.ring_off[q] else { return };
        let proj = &m.plan.projections[q];
        let len = m.ring_len[q];
        self.line(format!(
            "{{ const ulong slot = (n % {len}ul) * {}u; for (uint j = 0; j < {}u; j++) STV({}, s, ({ring}u + slot + j) * EV); }}",
            proj.cols,
            proj.cols,
            self.z(proj.from, "j")
        ));
    }

    /// A population's trace takes this step's rates (every motif has read q(n) before).
    fn trace_of(&mut self, p: usize) {
        let m = self.m;
        let pop = &m.plan.populations[p];
        let (Some(qo), Some(keep)) = (m.q_at(p, 0), m.q_keep[p]) else {
            return;
        };
        let signal = match &pop.trace {
            Some(t) if t.squared => "zz * zz",
            _ => "zz",
        };
        self.line(format!(
            "{{ // trace of {}\n  const realv keep = {};\n  for (uint i = 0; i < {}u; i++) {{ const realv zz = {}; const realv sq = {signal}; STV(sq + ({} - sq) * keep, s, ({qo}u + i) * EV); }} }}",
            pop.name,
            self.p(keep),
            pop.size,
            self.z(p, "i"),
            self.s(qo, "i"),
        ));
    }

    /// A rate population integrates its input (+ noise), z = φ(u).
    fn integrate(&mut self, p: usize) {
        let m = self.m;
        let pop = &m.plan.populations[p];
        let Some(inp) = m.inp_off[p] else { return };
        let a = act_name(pop.activation);
        let (uo, zo) = (m.u_off(p, 0), m.z_off(p, 0));
        self.line(format!(
            "{{ // integrate {}\n  const realv leak = {};\n  for (uint i = 0; i < {}u; i++) {{ const realv in = {}; realv u = {}; u = in + (u - in) * leak; STV(u, s, ({uo}u + i) * EV); STV(act_{a}_v(u), s, ({zo}u + i) * EV); }}",
            pop.name,
            self.p(m.leak[p]),
            pop.size,
            self.s(inp, "i"),
            self.u(p, "i"),
        ));
        if m.noise[p].is_some() {
            self.noise(p);
            self.line(format!(
                "  for (uint i = 0; i < {}u; i++) STV(act_{a}_v({}), s, ({zo}u + i) * EV);",
                pop.size,
                self.u(p, "i")
            ));
        }
        self.line("}");
    }

    /// A tied matrix copies its partner's transpose, in the lanes where it is tied.
    /// W ← W ⊙ M: a masked matrix's absent synapses are zero again after its update (selected,
    /// as the CPU engine does, so no −0 is left).
    fn mask(&mut self, q: usize) {
        let m = self.m;
        let Some(mo) = m.mask[q] else { return };
        let n = m.plan.projections[q].synapses();
        self.line(format!(
            "{{ // mask of {}\n  for (uint k = 0; k < {n}u; k++) {{ const uint d = ({}u + k) * EV; STV(SEL_v(LDV(w, d), (realv)0, LDV(p, ({mo}u + k) * EV) == (realv)0), w, d); }} }}",
            m.plan.projections[q].name,
            m.w_off[q]
        ));
    }

    fn copy_tied(&mut self, q: usize) {
        let m = self.m;
        let proj = &m.plan.projections[q];
        let (Some(row), Some(t)) = (m.tied[q], proj.tied_to) else {
            return;
        };
        let src = &m.plan.projections[t];
        self.line(format!(
            "{{ const maskv tie = {} != (realv)0;\n  for (uint i = 0; i < {}u; i++) for (uint j = 0; j < {}u; j++) {{ const uint d = ({}u + j * {}u + i) * EV; STV(SEL_v(LDV(w, d), LDV(w, ({}u + i * {}u + j) * EV), tie), w, d); }} }}",
            self.p(row),
            src.rows,
            src.cols,
            m.w_off[q],
            src.rows,
            m.w_off[t],
            src.cols
        ));
    }

    /// Deferred matrices whose held input changed this step (compared only where the stimulus
    /// `moved`): W ← G·W₀ + D x_heldᵀ (and the
    /// rule's ΔW sums spread with x_held), then the new input is held: W₀x summed, G ← 1,
    /// D ← 0. The V lanes of a work-item are rebased together when any of them changed (exact
    /// either way). The CPU engine's `Held::rebase`, in the same order of operations.
    fn rebase_held(&mut self) {
        let m = self.m;
        for (q, h) in m.held.iter().enumerate() {
            let Some(h) = h else { continue };
            let proj = &m.plan.projections[q];
            let (rows, cols, wo) = (proj.rows, proj.cols, m.w_off[q]);
            let x = self.z(proj.from, "j");
            let held = self.s(h.x.unwrap_or(0), "j");
            let any = if m.v == 1 { "d_" } else { "any(d_)" };
            self.line(format!(
                "{{ // held input of {}\n  int changed = 0;\n  if (moved) for (uint j = 0; j < {cols}u; j++) {{ const maskv d_ = {held} != {x}; changed |= {any}; }}\n  if (changed) {{",
                proj.name
            ));
            if let (Some(sd), Some(ao)) = (h.sum_dw, m.acc_dw[q]) {
                self.line(format!(
                    "    for (uint i = 0; i < {rows}u; i++) {{ const realv si = LDV(a, ({sd}u + i) * EV);\n      for (uint j = 0; j < {cols}u; j++) STV(LDV(a, ({ao}u + i * {cols}u + j) * EV) + si * {held}, a, ({ao}u + i * {cols}u + j) * EV);\n      STV((realv)0, a, ({sd}u + i) * EV); }}"
                ));
            }
            // Under a mask an absent synapse is selected to +0 (as `Held::rebase`).
            let moved = match m.mask[q] {
                Some(mo) => format!(
                    "SEL_v(LDV(w, ({wo}u + i * {cols}u + j) * EV) * G + di * {held}, (realv)0, LDV(p, ({mo}u + i * {cols}u + j) * EV) == (realv)0)"
                ),
                None => format!("LDV(w, ({wo}u + i * {cols}u + j) * EV) * G + di * {held}"),
            };
            self.line(format!(
                "    const realv G = {};\n    for (uint i = 0; i < {rows}u; i++) {{ const realv di = {}; realv sum = (realv)0;\n      for (uint j = 0; j < {cols}u; j++) {{ const realv wv = {moved}; STV(wv, w, ({wo}u + i * {cols}u + j) * EV); sum += wv * {x}; }}\n      STV(sum, s, ({}u + i) * EV); STV((realv)0, s, ({}u + i) * EV); }}",
                self.s(h.g, "0"),
                self.s(h.d, "i"),
                h.base,
                h.d
            ));
            if let (Some(xr), Some(mo)) = (h.xx_rows, m.mask[q]) {
                // Σ_j M_ij x_j² per row, summed in the CPU's order.
                self.line(format!(
                    "    for (uint i = 0; i < {rows}u; i++) {{ realv xm = (realv)0;\n      for (uint j = 0; j < {cols}u; j++) {{ const realv xj = {x}; xm += SEL_v(xj * xj, (realv)0, LDV(p, ({mo}u + i * {cols}u + j) * EV) == (realv)0); }}\n      STV(xm, s, ({xr}u + i) * EV); }}"
                ));
            }
            self.line(format!(
                "    realv xx = (realv)0;\n    for (uint j = 0; j < {cols}u; j++) {{ const realv xj = {x}; xx += xj * xj; STV(xj, s, ({}u + j) * EV); }}\n    STV(xx, s, {}u * EV); STV((realv)1, s, {}u * EV);\n  }}\n}}",
                h.x.unwrap_or(0),
                h.xx,
                h.g
            ));
        }
    }

    /// Inside the row loop of motif mi's update: its modulator and trace for row i (z_i is
    /// declared by the loop) and the row coefficients of its terms.
    fn row_coefficients(&mut self, mi: usize) {
        let m = self.m;
        let motif = &m.plan.motifs[mi];
        let form = motif.form();
        let proj = &m.plan.projections[motif.projection];
        if let Some(mp) = motif.modulator {
            self.line(format!("    const realv mi = {};", self.z(mp, "i")));
        } else {
            self.line("    const realv mi = (realv)0;");
        }
        if form.reads(Post::Q)
            && let Some(qo) = m.q_at(proj.to, 0)
        {
            self.line(format!("    const realv qi = {};", self.s(qo, "i")));
        }
        self.line(format!("    {}", terms::coefficients(&form, "kw", "realv")));
    }

    /// One step of a deferred matrix: D ← g·D + a, G ← g·G (the rule's a summed for the
    /// window when its ΔW is accumulated), as the CPU's `Held::step`.
    fn update_held(&mut self, mi: usize, h: super::device_layout::HeldSlots) {
        let m = self.m;
        let motif = &m.plan.motifs[mi];
        let proj = &m.plan.projections[motif.projection];
        let gd = m.decay[mi].map(|r| self.p(r)).unwrap_or("(realv)1".into());
        self.line(format!(
            "  const realv gd = {gd};\n  for (uint i = 0; i < {}u; i++) {{\n    const realv zi = {};",
            proj.rows,
            self.z(proj.to, "i")
        ));
        self.row_coefficients(mi);
        self.line(format!(
            "    STV({} * gd + ai, s, ({}u + i) * EV);",
            self.s(h.d, "i"),
            h.d
        ));
        if let Some(sd) = h.sum_dw {
            self.line(format!(
                "    STV(LDV(a, ({sd}u + i) * EV) + ai, a, ({sd}u + i) * EV);"
            ));
        }
        self.line(format!(
            "  }}\n  STV({} * gd, s, {}u * EV);\n}}",
            self.s(h.g, "0"),
            h.g
        ));
    }

    fn accumulate(&mut self) {
        let m = self.m;
        let plan = &m.plan;
        if let Some(out) = &plan.output {
            let n = plan.populations[out.output].size;
            self.line(format!(
                "{{ accv loss = (accv)0; realv by = {}, bt = {}; maskv iy = (maskv)0, it = (maskv)0;",
                self.z(out.output, "0"),
                self.z(out.target, "0")
            ));
            // The arg-max only where some task classifies (the CPU engine's `classification`);
            // elsewhere correct time stays zero.
            let classify = plan.tasks.iter().any(|t| t.is_classification());
            let argmax = if classify {
                "\n    const maskv gy = y > by, gt = t > bt; by = SEL_v(by, y, gy); iy = SEL_v(iy, (maskv)i, gy); bt = SEL_v(bt, t, gt); it = SEL_v(it, (maskv)i, gt);"
            } else {
                ""
            };
            self.line(format!(
                "  for (uint i = 0; i < {n}u; i++) {{ const realv y = {}, t = {};\n    const accv d = CVT_ACCV(SEL_v((realv)0, t, present)) - CVT_ACCV(SEL_v((realv)0, y, present)); loss += (acct)0.5 * d * d;{argmax} }}",
                self.z(out.output, "i"),
                self.z(out.target, "i")
            ));
            let correct = if classify {
                "\n  STW(LDW(cntp, EV) + MASK01(present & (iy == it)), cntp, EV);"
            } else {
                ""
            };
            self.line(format!(
                "  STW(LDW(lossp, 0) + loss * (acct){}, lossp, 0);\n  STW(LDW(cntp, 0) + MASK01(present), cntp, 0);{correct} }}",
                lit(plan.dt_s)
            ));
        }
        let dt = format!("(real){}", lit(plan.dt_s));
        if m.accumulate.backprop
            && let (Some(order), Some(out)) = (&plan.forward_order, &plan.output)
        {
            for &p in order.iter().rev() {
                let Some(dp) = m.delta_off[p] else { continue };
                let size = plan.populations[p].size;
                if p == out.output {
                    self.line(format!(
                        "for (uint i = 0; i < {size}u; i++) STV({}, s, ({dp}u + i) * EV);",
                        self.z(out.error, "i")
                    ));
                } else if plan.populations[p].role == crate::spec::Role::Rate {
                    self.line(format!(
                        "for (uint j = 0; j < {size}u; j++) STV((realv)0, s, ({dp}u + j) * EV);"
                    ));
                    for &q in &m.forward_out_of[p] {
                        let proj = &plan.projections[q];
                        let Some(dto) = m.delta_off[proj.to] else {
                            continue;
                        };
                        self.line(format!(
                            "{{ const realv sgn = {};\n  for (uint i = 0; i < {}u; i++) {{ const realv sd = sgn * {};\n    for (uint j = 0; j < {}u; j++) STV(LDV(s, ({dp}u + j) * EV) + LDV(w, ({}u + i * {}u + j) * EV) * sd, s, ({dp}u + j) * EV); }} }}",
                            self.p(m.sign[q]),
                            proj.rows,
                            self.s(dto, "i"),
                            proj.cols,
                            m.w_off[q],
                            proj.cols
                        ));
                    }
                    let a = act_name(plan.populations[p].activation);
                    self.line(format!(
                        "for (uint j = 0; j < {size}u; j++) STV(LDV(s, ({dp}u + j) * EV) * dact_{a}_v({}), s, ({dp}u + j) * EV);",
                        self.u(p, "j")
                    ));
                }
            }
        }
        for (q, proj) in plan.projections.iter().enumerate() {
            let (rows, cols) = (proj.rows, proj.cols);
            let pre = self.pre(q, "j");
            let outer = |acc: Option<usize>, a: String, g: &mut Ens| {
                if let Some(acc) = acc {
                    g.line(format!(
                        "for (uint i = 0; i < {rows}u; i++) {{ const realv si = {a} * {dt};\n  for (uint j = 0; j < {cols}u; j++) STV(LDV(a, ({acc}u + i * {cols}u + j) * EV) + si * {pre}, a, ({acc}u + i * {cols}u + j) * EV); }}"
                    ));
                }
            };
            if let (Some(_), Some(dto)) = (m.acc_bp[q], m.delta_off[proj.to]) {
                outer(m.acc_bp[q], self.s(dto, "i"), self);
            }
            outer(m.acc_ux[q], self.u(proj.to, "i"), self);
        }
        if m.trace_slots > 0 {
            self.trace();
        }
    }

    /// Instance 0's trace values (lane 0 of work-item 0), as the CPU's `record_traces`.
    fn trace(&mut self) {
        let m = self.m;
        let plan = &m.plan;
        let sc = |off: usize| format!("S[({off}u) * E_PAD]");
        self.line(format!(
            "if (g == 0 && n < {}ul && n % {}ul == 0) {{ __global real *tr = TRACE + (n / {}ul) * 5;",
            plan.trace_steps, m.trace_every, m.trace_every
        ));
        self.line(format!("  tr[0] = {};", sc(m.z_off(plan.input, 0))));
        if let Some(out) = &plan.output {
            self.line(format!(
                "  tr[1] = {}; tr[2] = {}; tr[3] = {};",
                sc(m.z_off(out.output, 0)),
                sc(m.z_off(out.target, 0)),
                sc(m.z_off(out.error, 0))
            ));
        }
        if let Some(motif) = plan.motifs.first() {
            let proj = &plan.projections[motif.projection];
            let x = sc(m.z_off(proj.from, 0));
            let z = sc(m.z_off(proj.to, 0));
            let mm = motif
                .modulator
                .map(|mi| sc(m.z_off(mi, 0)))
                .unwrap_or("(real)0".into());
            let stored = format!("W[{}u * E_PAD]", m.w_off[motif.projection]);
            let absent = plan.masks[motif.projection]
                .as_ref()
                .is_some_and(|mask| mask[0] == 0.0);
            let w = match &m.held[motif.projection] {
                // Instance 0's synapse [0, 0] is absent: +0, as `Held::weight`.
                Some(_) if absent => "(real)0".to_string(),
                // The exact weight of a deferred matrix, as the CPU's `Held::weight`.
                Some(h) => format!(
                    "{stored} * {} + {} * {}",
                    sc(h.g),
                    sc(h.d),
                    sc(h.x.unwrap_or(0))
                ),
                None => stored,
            };
            let qq = m.q_at(proj.to, 0).map(sc).unwrap_or("(real)0".into());
            let post = |f: Post| match f {
                Post::Z => "z".to_string(),
                Post::M => "mm".to_string(),
                Post::Q => "qq".to_string(),
            };
            self.line(format!(
                "  {{ const real x = {x}, z = {z}, mm = {mm}, qq = {qq}, w0 = {w};\n    tr[4] = {}; }}",
                terms::drive(&m.trace_theta, &post, "x", "w0")
            ));
        }
        self.line("}");
    }

    /// The motif's update of its projection, from the terms' declarations (as the CPU's
    /// `update_weights`).
    fn update(&mut self, mi: usize) {
        let m = self.m;
        let plan = &m.plan;
        let motif = &plan.motifs[mi];
        let form = motif.form();
        let q = motif.projection;
        let proj = &plan.projections[q];
        let (rows, cols, wo) = (proj.rows, proj.cols, m.w_off[q]);
        self.line(format!(
            "{{ // plasticity of {}\n  const realv kw = {};",
            proj.name,
            self.p(m.rate_w[mi])
        ));
        let vars: Vec<String> = m.theta[mi]
            .iter()
            .enumerate()
            .filter_map(|(k, r)| r.map(|r| format!("th{k} = {}", self.p(r))))
            .collect();
        if !vars.is_empty() {
            self.line(format!("  const realv {};", vars.join(", ")));
        }
        if let Some(h) = m.held[q] {
            self.update_held(mi, h);
            return;
        }
        let general = m.general[mi] || m.acc_dw[q].is_some();
        if general {
            let g = m.decay[mi].map(|r| format!("LDV(p, {r}u * EV)"));
            self.line(format!(
                "  const realv gd = {};",
                g.unwrap_or("(realv)1".into())
            ));
        }
        self.line(format!(
            "  for (uint i = 0; i < {rows}u; i++) {{\n    const realv zi = {};",
            self.z(proj.to, "i")
        ));
        self.row_coefficients(mi);
        let pre = self.pre(q, "j");
        let wij = format!("({wo}u + i * {cols}u + j) * EV");
        if !general {
            self.line(format!(
                "    for (uint j = 0; j < {cols}u; j++) STV(LDV(w, {wij}) + ai * {pre}, w, {wij});"
            ));
        } else {
            let inc = terms::increment(&form, "x", "wv");
            let accum = m.acc_dw[q]
                .map(|ao| {
                    format!(
                        " STV(LDV(a, ({ao}u + i * {cols}u + j) * EV) + inc, a, ({ao}u + i * {cols}u + j) * EV);"
                    )
                })
                .unwrap_or_default();
            self.line(format!(
                "    for (uint j = 0; j < {cols}u; j++) {{ const realv x = {pre}; const realv wv = LDV(w, {wij}); const realv inc = {inc}; STV(wv * gd + inc, w, {wij});{accum} }}"
            ));
        }
        self.line("  }");
        if let Some(row) = m.wnoise[mi] {
            let stream = wnoise_stream(&proj.name);
            let n = proj.synapses();
            self.line(format!(
                "  {{ const realv scale = {};\n    for (uint b = 0; b < {}u; b++) {{ realv nz[4]; noise_normals_v(k0, k1, {stream}u, n, b, nz);\n      for (uint t = 0; t < 4 && 4 * b + t < {n}u; t++) STV(LDV(w, ({wo}u + 4 * b + t) * EV) + scale * nz[t], w, ({wo}u + 4 * b + t) * EV); }} }}",
                self.p(row),
                n.div_ceil(4)
            ));
        }
        self.line("}");
    }
}
