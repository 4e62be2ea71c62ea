//! Kernels for one large instance (e.g. W2, 784 → 1000 → 10): parallel across the units of a
//! population, vectorised along each weight row, a few kernels per step enqueued without host
//! synchronisation.
//!
//! The plasticity kernel is fused with the next step's forward product wherever the next
//! presynaptic rates are known when the weights change (the source is driven or a rate
//! population, no delay, no weight noise): it updates row i of W and, in the same pass, sums
//! `W_new[i]·x(n+1)` for the next step, so the dominant matrix is streamed once per step.
//!
//! Which kernels run, in which order, and which operations of the step program each computes
//! is the row schedule's (`step::rows`): launches cost PoCL several microseconds each, so
//! instantaneous populations ride along in other kernels where their dependencies allow, and
//! W2 takes two launches per step; tall matrices with short rows are stored transposed so that
//! their products and updates run along the long side as vectors. This module emits each
//! launch's kernel from the operations the schedule gives it.

use super::codegen::{
    PRELUDE, ROWS, STIMULUS, Types, act_name, header, lit, model_defines, noise_stream,
    wnoise_stream,
};
use super::device_layout::{Delay, Model};
use super::terms;
use crate::rule::Post;
use crate::spec::Role;
use crate::step::Op;
use crate::step::rows::{Kernel, RowSchedule};
use std::fmt::Write;

/// One kernel of the step sequence, with its global size.
#[derive(Clone, Debug)]
pub(crate) struct RowKernel {
    pub name: String,
    pub global: usize,
}

/// The generated program and the order in which its kernels run each step.
pub(crate) struct RowProgram {
    pub source: String,
    /// The kernels of one step in launch order, as the schedule groups them (a new sample,
    /// `stim`, goes before them when due).
    pub kernels: Vec<RowKernel>,
    /// Step 0's driven populations (priming only).
    pub drive: RowKernel,
    /// Whether `update` computes products or early populations (the priming launch is needed).
    pub fused_any: bool,
    /// Whether the program has `steps` (a CPU device and small steps, see `LOOP_WORK`): the
    /// steps between stimulus changes then take one launch of one work-item.
    pub looped: bool,
}

/// The row program of `m`, emitted launch by launch from `schedule` (the step program grouped
/// for this layout, `step::rows`); `loop_steps`: the device may run the steps between stimulus
/// changes as one work-item (`steps`, for CPU devices).
pub(crate) fn rows_source(
    m: &Model,
    schedule: &RowSchedule,
    t: Types,
    loop_steps: bool,
) -> RowProgram {
    let c = if t.f64 { 8 } else { 16 };
    let real = if t.f64 { "double" } else { "float" };
    let mut src = header(t);
    src.push_str(&model_defines(m));
    let _ = writeln!(
        src,
        "typedef {real}{c} realc;\n#define C {c}u\n#define LDC(p) vload{c}(0, (p))\n#define STC(x, p) vstore{c}((x), 0, (p))\n#define PL_PERIOD {}u\n#define PL_PRESENT {}u",
        m.pl_period, m.pl_present
    );
    // Horizontal sum by halves.
    let mut hs = String::from("inline real hsumc(realc v) {");
    let mut width = c;
    let mut var = "v".to_string();
    while width > 1 {
        width /= 2;
        let ty = if width == 1 {
            real.to_string()
        } else {
            format!("{real}{width}")
        };
        let _ = write!(hs, " {ty} h{width} = {var}.lo + {var}.hi;");
        var = format!("h{width}");
    }
    let _ = writeln!(hs, " return {var}; }}");
    src.push_str(&hs);
    src.push_str(PRELUDE);
    src.push_str(STIMULUS);

    let mut g = Rows {
        m,
        s: schedule,
        c,
        k: String::new(),
    };
    // Each launch of the schedule, emitted from the operations it holds.
    let mut step = Vec::new();
    for launch in &schedule.launches {
        let ops = &launch.ops;
        match launch.kernel {
            Kernel::Instantaneous { population } => step.push(g.inst(population)),
            Kernel::Integrate => step.push(g.integrate(ops)),
            Kernel::Accumulators => step.extend(g.accumulators()),
            Kernel::Update => step.push(g.update(ops)),
            Kernel::WeightNoise => step.extend(g.wnoise(ops)),
            Kernel::Mask => step.extend(g.mask(ops)),
            Kernel::Tied => step.extend(g.tied(ops)),
            Kernel::Drive => unreachable!("the priming launch is not a step's"),
        }
    }
    let drive = g.drive(&schedule.drive.ops);
    // One work-item steps the whole circuit: right for a CPU device, where a work-group runs
    // on one core anyway; a GPU would run it on one of its thousands of lanes.
    let looped = loop_steps && plain_step_work(m) <= LOOP_WORK;
    let mut kernels = g.k;
    for k in step.iter().chain([&drive]) {
        let _ = writeln!(
            kernels,
            "__kernel void {0}(KARGS) {{ {0}_at(KCALL(n), get_global_id(0)); }}",
            k.name
        );
    }
    if looped {
        kernels.push_str(&step_loop(step.iter()));
    }
    src.push_str(&ROWS.replace("/*@KERNELS@*/", &kernels));
    RowProgram {
        source: src,
        kernels: step,
        drive,
        fused_any: schedule.update_forms_next(),
        looped,
    }
}

/// The most work a step may do without a stimulus change for `steps` to run it: beyond this
/// the step is better spread over every compute unit, one launch per kernel.
const LOOP_WORK: usize = 1 << 16;

/// Weights and units a step reads when its input is held and no stimulus arrives: a deferred
/// matrix then costs its rows (the accumulated vector), every other matrix its entries.
fn plain_step_work(m: &Model) -> usize {
    let plan = &m.plan;
    let synapses: usize = plan
        .projections
        .iter()
        .zip(&m.held)
        .map(|(proj, held)| match held {
            Some(_) => proj.rows,
            None => proj.rows * proj.cols,
        })
        .sum();
    synapses + plan.populations.iter().map(|p| p.size).sum::<usize>()
}

/// `steps`: `count` consecutive steps in one launch of one work-item, which runs each kernel of
/// the step sequence over all its items in order, as the launches would have (the kernels'
/// items are independent, so any order is theirs). For small steps (W2 between stimuli) the
/// launches, not the arithmetic, were the step's cost. One item, not a work-group with
/// barriers between the kernels: with groups of eight items PoCL computed a different
/// trajectory for a noisy circuit (`conformance::every_per_instance_parameter_is_honoured`,
/// relative difference 1e-3), a cause not yet found.
fn step_loop<'a>(kernels: impl Iterator<Item = &'a RowKernel>) -> String {
    let mut s = String::from(
        "__kernel void steps(KARGS, const uint count) {\n  for (uint k = 0; k < count; k++) {\n    const ulong nk = n + k;\n",
    );
    for k in kernels {
        let _ = writeln!(
            s,
            "    for (uint g = 0; g < {}u; g++) {}_at(KCALL(nk), g);",
            k.global, k.name
        );
    }
    s.push_str("  }\n}\n");
    s
}

/// How a unit block reads and writes: a vector of C units at `i0`, or one unit `i`.
struct Unit {
    ty: &'static str,
    suf: &'static str,
    idx: &'static str,
    vector: bool,
}

impl Unit {
    fn ld(&self, ptr: &str) -> String {
        if self.vector {
            format!("LDC(({ptr}) + {})", self.idx)
        } else {
            format!("({ptr})[{}]", self.idx)
        }
    }
    fn st(&self, val: &str, ptr: &str) -> String {
        if self.vector {
            format!("STC({val}, ({ptr}) + {})", self.idx)
        } else {
            format!("({ptr})[{}] = {val}", self.idx)
        }
    }
}

struct Rows<'a> {
    m: &'a Model,
    s: &'a RowSchedule,
    /// Lanes of `realc`: units per work-item in the population kernels.
    c: usize,
    k: String,
}

impl Rows<'_> {
    fn line(&mut self, s: impl AsRef<str>) {
        self.k.push_str(s.as_ref());
        self.k.push('\n');
    }
    /// Index of element (i, j) (post i, pre j) of projection q in its storage order.
    fn widx(&self, q: usize, i: &str, j: &str) -> String {
        let m = self.m;
        let proj = &m.plan.projections[q];
        if m.trans[q] {
            format!("{}u + ({j}) * {}u + ({i})", m.w_off[q], proj.rows)
        } else {
            format!("{}u + ({i}) * {}u + ({j})", m.w_off[q], proj.cols)
        }
    }

    fn p(&self, row: usize) -> String {
        format!("P[{row}u]")
    }
    /// Pointer expression to population `pop`'s rates in the copy of step `step` ("n" or "n1").
    fn zp(&self, pop: usize, step: &str) -> String {
        format!(
            "(S + {}u + ({step} & 1ul) * {}u)",
            self.m.z_off(pop, 0),
            2 * self.m.pop_span
        )
    }
    /// Pointer expression to population `pop`'s trace in the copy of step `step` (it has one).
    fn qp(&self, pop: usize, step: &str) -> String {
        format!(
            "(S + {}u + ({step} & 1ul) * {}u)",
            self.m.q_at(pop, 0).unwrap_or(0),
            self.m.plan.populations[pop].size
        )
    }
    fn up(&self, pop: usize, step: &str) -> String {
        format!(
            "(S + {}u + ({step} & 1ul) * {}u)",
            self.m.u_off(pop, 0),
            2 * self.m.pop_span
        )
    }

    /// One population's units from `i0`: a full block of C units as one `realc` vector, or
    /// (`vector == false`) the units `i0..size` one by one. `body` receives the loader/storer
    /// vocabulary of the mode and returns the code.
    fn block(&self, size: usize, body: &dyn Fn(&Unit) -> String) -> String {
        let v = Unit {
            ty: "realc",
            suf: "_c",
            idx: "i0",
            vector: true,
        };
        let s = Unit {
            ty: "real",
            suf: "_s",
            idx: "i",
            vector: false,
        };
        format!(
            "  if (i0 + C <= {size}u) {{
{}  }} else {{ for (uint i = i0; i < {size}u; i++) {{
{}  }} }}",
            body(&v),
            body(&s)
        )
    }

    /// bias + Σ sign · W[i]·pre(n) over the projections into `pop`, times the φ' gain, plus noise
    /// when `noise`, as code that leaves the sum in `acc`.
    fn input_code(&self, pop: usize, u: &Unit, noise: bool) -> String {
        let m = self.m;
        let mut c = format!("    {} acc = ({}){};\n", u.ty, u.ty, self.p(m.bias[pop]));
        for &q in &m.inputs_of[pop] {
            let proj = &m.plan.projections[q];
            let sign = self.p(m.sign[q]);
            if self.s.product_by_update[q] {
                let po = m.prod_off[q].unwrap_or(0);
                c.push_str(&format!("    acc += {};\n", u.ld(&format!("S + {po}u"))));
                continue;
            }
            let (src, guard) = match m.delay[q] {
                Delay::None => (self.zp(proj.from, "n"), String::new()),
                Delay::Uniform(d) => (
                    format!(
                        "S + {}u + ((n - {d}ul) % {}ul) * {}u",
                        m.ring_off[q].unwrap_or(0),
                        m.ring_len[q],
                        proj.cols
                    ),
                    format!("if (n >= {d}ul) "),
                ),
                Delay::PerInstance(_) => unreachable!("a single instance has one delay"),
            };
            let (wo, cols) = (m.w_off[q], proj.cols);
            if proj.identity {
                // A fixed identity matrix copies its source, as on the CPU.
                c.push_str(&format!(
                    "    {guard}acc += {sign} * {};\n",
                    u.ld(&format!("({src})"))
                ));
                continue;
            }
            if m.trans[q] {
                // Stored [pre][post]: units are contiguous along each stored row.
                c.push_str(&format!(
                    "    {guard}{{ __global const real *x_ = {src}; {ty} sum = ({ty})0;\n      for (uint j = 0; j < {cols}u; j++) sum += {} * x_[j];\n      acc += {sign} * sum; }}\n",
                    u.ld(&format!("W + {wo}u + j * {}u", proj.rows)),
                    ty = u.ty
                ));
            } else if u.vector && cols < self.c {
                // Short rows: a column of C units at a time, so the sum runs across lanes.
                c.push_str(&format!(
                    "    {guard}{{ __global const real *x_ = {src}; realc sum = (realc)0;\n      for (uint j = 0; j < {cols}u; j++) {{ real t_[C]; for (uint t = 0; t < C; t++) t_[t] = W[{wo}u + (i0 + t) * {cols}u + j]; sum += LDC(t_) * x_[j]; }}\n      acc += {sign} * sum; }}\n"
                ));
            } else if u.vector {
                c.push_str(&format!(
                    "    {guard}{{ real t_[C]; for (uint t = 0; t < C; t++) t_[t] = dotc(W + {wo}u + (i0 + t) * {cols}u, {src}, {cols}u); acc += {sign} * LDC(t_); }}\n"
                ));
            } else {
                c.push_str(&format!(
                    "    {guard}acc += {sign} * dotc(W + {wo}u + i * {cols}u, {src}, {cols}u);\n"
                ));
            }
        }
        if let Some(gsrc) = m.plan.populations[pop].gain_from {
            let a = act_name(m.plan.populations[gsrc].activation);
            c.push_str(&format!(
                "    acc *= dact_{a}{}({});\n",
                u.suf,
                u.ld(&self.up(gsrc, "n"))
            ));
        }
        if noise {
            c.push_str(&self.noise_code(pop, u, "acc"));
        }
        c
    }

    /// `var += σ·N(0, 1)`, unit i taking lane i % 4 of block i / 4 as the CPU does.
    fn noise_code(&self, pop: usize, u: &Unit, var: &str) -> String {
        let m = self.m;
        let Some(row) = m.noise[pop] else {
            return String::new();
        };
        let stream = noise_stream(&m.plan.populations[pop].name);
        let scale = self.p(row);
        if u.vector {
            format!(
                "    {{ real nz_[C]; for (uint t = 0; t < C; t++) {{ real nz[4]; noise_normals_s(PL[PL_SEED], {stream}u, n, (i0 + t) / 4, nz); nz_[t] = nz[(i0 + t) % 4]; }} {var} += {scale} * LDC(nz_); }}\n"
            )
        } else {
            format!(
                "    {{ real nz[4]; noise_normals_s(PL[PL_SEED], {stream}u, n, i / 4, nz); {var} += {scale} * nz[i % 4]; }}\n"
            )
        }
    }

    /// u = input (+ noise), z = φ(u) of an instantaneous population, for the units from `i0`.
    fn inst_code(&self, pop: usize) -> String {
        let pp = &self.m.plan.populations[pop];
        let a = act_name(pp.activation);
        let (up, zp) = (self.up(pop, "n"), self.zp(pop, "n"));
        let body = |u: &Unit| {
            format!(
                "{}    {};\n    {};\n",
                self.input_code(pop, u, true),
                u.st("acc", &up),
                u.st(&format!("act_{a}{}(acc)", u.suf), &zp)
            )
        };
        self.block(pp.size, &body)
    }

    fn inst(&mut self, pop: usize) -> RowKernel {
        let m = self.m;
        let pp = &m.plan.populations[pop];
        let name = format!("inst_{pop}");
        self.line(format!(
            "// instantaneous population {}\nvoid {name}_at(KARGS, const uint item) {{\n  const uint i0 = item * C;",
            pp.name
        ));
        let code = self.inst_code(pop);
        self.line(code);
        self.line("}");
        RowKernel {
            name,
            global: pp.size.div_ceil(self.c),
        }
    }

    /// The integrate launch, from its operations: rate populations' u(n+1), z(n+1) into the
    /// next copy (with their input sums and rings), the instantaneous populations nobody reads
    /// this step, the driven populations of step n + 1, and one last work-item for the loss
    /// and traces.
    fn integrate(&mut self, ops: &[Op]) -> RowKernel {
        let m = self.m;
        let plan = &m.plan;
        self.line("void integrate_at(KARGS, const uint item) {\n  const uint gid = item;\n  const ulong n1 = n + 1;");
        let mut base = 0;
        for op in ops {
            match *op {
                // Part of the population's block (`Integrate`), on the same work-items.
                Op::SumInput { .. } | Op::PushRing { .. } => {}
                Op::Integrate { population } => {
                    let rings: Vec<usize> = ops
                        .iter()
                        .filter_map(|o| match *o {
                            Op::PushRing { projection }
                                if plan.projections[projection].from == population =>
                            {
                                Some(projection)
                            }
                            _ => None,
                        })
                        .collect();
                    base += self.integrate_population(population, &rings, base);
                }
                Op::Instantaneous { population } => {
                    // An instantaneous population nobody reads this step.
                    let size = plan.populations[population].size;
                    let blocks = size.div_ceil(self.c);
                    let code = self.inst_code(population);
                    self.line(format!(
                        "  if (gid >= {base}u && gid < {}u) {{ // {}\n  const uint i0 = (gid - {base}u) * C;\n{code}  }}",
                        base + blocks,
                        plan.populations[population].name
                    ));
                    base += blocks;
                }
                Op::Stimulus => {
                    // The next step's driven populations.
                    let (drive, drive_items) = self.drive_code("n1", ops);
                    self.line(format!(
                        "  if (gid >= {base}u && gid < {}u) {{ const uint j = gid - {base}u;\n{drive}  }}",
                        base + drive_items
                    ));
                    base += drive_items;
                }
                Op::Accumulate => {
                    self.loss_and_trace(base);
                    base += 1;
                }
                _ => unreachable!("{op:?} is not the integrate launch's"),
            }
        }
        self.line("}");
        RowKernel {
            name: "integrate".into(),
            global: base,
        }
    }

    /// Rate population `p`'s block from work-item `base`, pushing step n's rates into the
    /// rings of `rings`; returns its work-items.
    fn integrate_population(&mut self, p: usize, rings: &[usize], base: usize) -> usize {
        let m = self.m;
        let plan = &m.plan;
        let pp = &plan.populations[p];
        if m.inp_off[p].is_none() {
            return 0;
        }
        let blocks = pp.size.div_ceil(self.c);
        self.line(format!(
            "  if (gid >= {base}u && gid < {}u) {{ // {}\n  const uint i0 = (gid - {base}u) * C;",
            base + blocks,
            pp.name,
        ));
        let a = act_name(pp.activation);
        let leak = self.p(m.leak[p]);
        let (u_now, u_next, z_next) = (self.up(p, "n"), self.up(p, "n1"), self.zp(p, "n1"));
        let z_now = self.zp(p, "n");
        let rings: Vec<(usize, usize, usize)> = rings
            .iter()
            .filter_map(|&q| m.ring_off[q].map(|r| (r, m.ring_len[q], plan.projections[q].cols)))
            .collect();
        let body = |u: &Unit| {
            let mut c = self.input_code(p, u, false);
            c.push_str(&format!(
                "    const {ty} uo = {};\n    {ty} un = acc + (uo - acc) * {leak};\n",
                u.ld(&u_now),
                ty = u.ty
            ));
            c.push_str(&self.noise_code(p, u, "un"));
            c.push_str(&format!(
                "    const {} zn = act_{a}{}(un);\n    {};\n    {};\n",
                u.ty,
                u.suf,
                u.st("un", &u_next),
                u.st("zn", &z_next)
            ));
            // The ring takes the rate of step n, not the new one: pushed after its update,
            // a leaky source would be one step ahead and a d-step delay would lag d − 1.
            for (ring, len, cols) in &rings {
                c.push_str(&format!(
                    "    {{ const {} zo = {}; {}; }}\n",
                    u.ty,
                    u.ld(&z_now),
                    u.st("zo", &format!("S + {ring}u + (n % {len}ul) * {cols}u"))
                ));
            }
            c
        };
        let code = self.block(pp.size, &body);
        self.line(code);
        self.line("  }");
        blocks
    }

    /// The loss (presented and correct time) and the traces of step n, on work-item `base`.
    fn loss_and_trace(&mut self, base: usize) {
        let m = self.m;
        let plan = &m.plan;
        self.line(format!("  if (gid == {base}u) {{"));
        if let Some(out) = &plan.output {
            let ny = plan.populations[out.output].size;
            // Correct time only where the task classifies, as on the CPU.
            let classify = u8::from(plan.tasks.iter().any(|t| t.is_classification()));
            self.line(format!(
                "    const ulong per = PL[PL_PERIOD];\n    if ((n % per) < PL[PL_PRESENT]) {{\n      __global const real *y = {}, *t = {};\n      acct loss = 0; uint by = 0, bt = 0;\n      for (uint i = 0; i < {ny}u; i++) {{ const acct d = (acct)t[i] - (acct)y[i]; loss += (acct)0.5 * d * d; if (y[i] > y[by]) by = i; if (t[i] > t[bt]) bt = i; }}\n      LOSS[0] += loss * (acct){};\n      CNT[0] += 1u; if ({classify} && by == bt) CNT[1] += 1u;\n    }}",
                self.zp(out.output, "n"),
                self.zp(out.target, "n"),
                lit(plan.dt_s)
            ));
        }
        if m.trace_slots > 0 {
            self.line(format!(
                "    if (n < {}ul && n % {}ul == 0) {{ __global real *tr = TRACE + (n / {}ul) * 5;",
                plan.trace_steps, m.trace_every, m.trace_every
            ));
            self.line(format!("      tr[0] = {}[0];", self.zp(plan.input, "n")));
            if let Some(out) = &plan.output {
                self.line(format!(
                    "      tr[1] = {}[0]; tr[2] = {}[0]; tr[3] = {}[0];",
                    self.zp(out.output, "n"),
                    self.zp(out.target, "n"),
                    self.zp(out.error, "n")
                ));
            }
            if let Some(motif) = plan.motifs.first() {
                let proj = &plan.projections[motif.projection];
                let mm = motif
                    .modulator
                    .map(|mi| format!("{}[0]", self.zp(mi, "n")))
                    .unwrap_or("(real)0".into());
                let qq = if m.q_off[proj.to].is_some() {
                    format!("{}[0]", self.qp(proj.to, "n"))
                } else {
                    "(real)0".into()
                };
                let post = |f: Post| match f {
                    Post::Z => "z".to_string(),
                    Post::M => "mm".to_string(),
                    Post::Q => "qq".to_string(),
                };
                let stored = format!("W[{}u]", m.w_off[motif.projection]);
                let w0 = match &m.held[motif.projection] {
                    // The exact weight of a deferred matrix (G of step n, x held at n).
                    Some(h) => format!(
                        "{stored} * S[{}u + (n & 1ul)] + S[{}u] * {}[0]",
                        h.g,
                        h.d,
                        self.zp(proj.from, "n")
                    ),
                    None => stored,
                };
                self.line(format!(
                    "      {{ const real x = {}[0], z = {}[0], mm = {mm}, qq = {qq}, w0 = {w0};\n        tr[4] = {}; }}",
                    self.zp(proj.from, "n"),
                    self.zp(proj.to, "n"),
                    terms::drive(&m.trace_theta, &post, "x", "w0")
                ));
            }
            self.line("    }");
        }
        self.line("  }");
    }

    /// The backprop reference (δ per forward population, output first) and the outer products.
    fn accumulators(&mut self) -> Vec<RowKernel> {
        let m = self.m;
        let plan = &m.plan;
        let mut out_k = Vec::new();
        let dt = format!("(real){}", lit(plan.dt_s));
        if m.accumulate.backprop
            && let (Some(order), Some(out)) = (&plan.forward_order, &plan.output)
        {
            for &p in order.iter().rev() {
                let Some(dp) = m.delta_off[p] else { continue };
                let size = plan.populations[p].size;
                let name = format!("delta_{p}");
                if p == out.output {
                    self.line(format!(
                        "void {name}_at(KARGS, const uint item) {{ const uint i = item; if (i < {size}u) S[{dp}u + i] = {}[i]; }}",
                        self.zp(out.error, "n")
                    ));
                } else if plan.populations[p].role == Role::Rate {
                    self.line(format!(
                        "void {name}_at(KARGS, const uint item) {{ const uint j = item; if (j >= {size}u) return; real acc = 0;"
                    ));
                    for &q in &m.forward_out_of[p] {
                        let proj = &plan.projections[q];
                        let Some(dto) = m.delta_off[proj.to] else {
                            continue;
                        };
                        self.line(format!(
                            "  {{ const real sgn = {}; for (uint i = 0; i < {}u; i++) acc += W[{}] * (sgn * S[{dto}u + i]); }}",
                            self.p(m.sign[q]),
                            proj.rows,
                            self.widx(q, "i", "j")
                        ));
                    }
                    let a = act_name(plan.populations[p].activation);
                    self.line(format!(
                        "  S[{dp}u + j] = acc * dact_{a}_s({}[j]);\n}}",
                        self.up(p, "n")
                    ));
                } else {
                    continue;
                }
                out_k.push(RowKernel { name, global: size });
            }
        }
        // Outer products: one work-item per row of each accumulated matrix.
        let mut parts = Vec::new();
        for (q, proj) in plan.projections.iter().enumerate() {
            let x = match m.delay[q] {
                Delay::None => Some(self.zp(proj.from, "n")),
                Delay::Uniform(_) => None,
                Delay::PerInstance(_) => None,
            };
            let mut add = |acc: Option<usize>, a: String| {
                if let Some(acc) = acc {
                    parts.push((q, acc, a, x.clone()));
                }
            };
            if let (Some(_), Some(dto)) = (m.acc_bp[q], m.delta_off[proj.to]) {
                add(m.acc_bp[q], format!("S[{dto}u + i]"));
            }
            add(m.acc_ux[q], format!("{}[i]", self.up(proj.to, "n")));
        }
        if !parts.is_empty() {
            self.line("void outer_at(KARGS, const uint item) {\n  const uint gid = item;");
            let mut base = 0;
            for (q, acc, a, x) in parts {
                let proj = &plan.projections[q];
                let (rows, cols) = (proj.rows, proj.cols);
                let x = match x {
                    Some(x) => x,
                    None => {
                        let d = match m.delay[q] {
                            Delay::Uniform(d) => d,
                            _ => 0,
                        };
                        format!(
                            "(n >= {d}ul ? S + {}u + ((n - {d}ul) % {}ul) * {cols}u : (__global real *)0)",
                            m.ring_off[q].unwrap_or(0),
                            m.ring_len[q]
                        )
                    }
                };
                // Accumulators are stored like the weights.
                let (start, stride) = if m.trans[q] {
                    (format!("{acc}u + i"), format!("{rows}u"))
                } else {
                    (format!("{acc}u + i * {cols}u"), "1u".to_string())
                };
                self.line(format!(
                    "  if (gid >= {base}u && gid < {}u) {{ const uint i = gid - {base}u; __global const real *x = {x};\n    if (x) {{ const real si = {a} * {dt}; __global real *r = A + {start};\n      for (uint j = 0; j < {cols}u; j++) r[j * {stride}] += si * x[j]; }} }}",
                    base + rows
                ));
                base += rows;
            }
            self.line("}");
            out_k.push(RowKernel {
                name: "outer".into(),
                global: base,
            });
        }
        out_k
    }

    /// Step n+1's driven populations; ring buffers take step n's driven and instantaneous rates.
    fn drive(&mut self, ops: &[Op]) -> RowKernel {
        let (code, global) = self.drive_code("n", ops);
        self.line(format!(
            "void drive_at(KARGS, const uint item) {{\n  const uint j = item;\n{code}}}"
        ));
        RowKernel {
            name: "drive".into(),
            global,
        }
    }

    /// The driven populations of step `next` (from the current sample) and, for the rings
    /// `ops` pushes from driven and instantaneous sources, their rates of step `next − 1`, for
    /// work-item `j`; and how many work-items that takes.
    fn drive_code(&self, next: &str, ops: &[Op]) -> (String, usize) {
        let m = self.m;
        let plan = &m.plan;
        let mut c = format!(
            "  {{ const ulong per = PL[PL_PERIOD];\n  const int shown = ({next} % per) < PL[PL_PRESENT];\n"
        );
        let mut global = m.n_in;
        // A population a phase clamps takes its rate, shown or not.
        let driven = |pop: usize, src: usize| match m.clamp[pop] {
            Some((on, rate)) => format!(
                "{} != (real)0 ? {} : (shown ? S[{src}u + j] : (real)0)",
                self.p(on),
                self.p(rate)
            ),
            None => format!("shown ? S[{src}u + j] : (real)0"),
        };
        c.push_str(&format!(
            "  if (j < {}u) {}[j] = {};\n",
            m.n_in,
            self.zp(plan.input, next),
            driven(plan.input, m.xcur_off)
        ));
        if let Some(out) = &plan.output {
            c.push_str(&format!(
                "  if (j < {}u) {}[j] = {};\n",
                m.n_out,
                self.zp(out.target, next),
                driven(out.target, m.ycur_off)
            ));
            global = global.max(m.n_out);
        }
        for op in ops {
            let Op::PushRing { projection: q } = *op else {
                continue;
            };
            let proj = &plan.projections[q];
            let Some(ring) = m.ring_off[q] else { continue };
            let src = &plan.populations[proj.from];
            if !(src.instantaneous || matches!(src.role, Role::Input | Role::Target)) {
                continue;
            }
            // Driven rates of step next − 1 are still in the copy of step next − 1.
            c.push_str(&format!(
                "  if ({next} >= 1 && j < {}u) S[{ring}u + (({next} - 1) % {}ul) * {}u + j] = {}[j];\n",
                proj.cols,
                m.ring_len[q],
                proj.cols,
                self.zp(proj.from, &format!("({next} - 1)"))
            ));
            global = global.max(proj.cols);
        }
        c.push_str("  }\n");
        (c, global)
    }

    /// The update launch, from its operations: early instantaneous populations of step n + 1,
    /// every motif's plasticity (one work-item per row; fused and deferred rows also form step
    /// n + 1's product) and the traces. `flag == 0` only forms the products (the priming launch
    /// before step 0, with n = −1).
    fn update(&mut self, ops: &[Op]) -> RowKernel {
        let m = self.m;
        let plan = &m.plan;
        self.line("void update_at(KARGS, const uint item) {\n  const uint gid = item;\n  const ulong n1 = n + 1;");
        let mut base = 0;
        for op in ops {
            match *op {
                Op::Instantaneous { population: p } => {
                    // An early instantaneous population, evaluated for step n + 1.
                    let blocks = plan.populations[p].size.div_ceil(self.c);
                    let code = self.inst_code(p);
                    self.line(format!(
                        "  if (gid >= {base}u && gid < {}u) {{ // {} of step n + 1\n  const uint i0 = (gid - {base}u) * C;\n  const ulong n = n1;\n{code}  }}",
                        base + blocks,
                        plan.populations[p].name
                    ));
                    base += blocks;
                }
                // A deferred matrix is rebased by its own rows where the input changes
                // (`flag` 3), and fused rows read the next input as they go.
                Op::RebaseHeld | Op::PrepareNextInput => {}
                Op::Update { motif, fused, .. } => base += self.update_motif(motif, fused, base),
                Op::Trace { population } => base += self.trace(population, base),
                _ => unreachable!("{op:?} is not the update launch's"),
            }
        }
        self.line("}");
        RowKernel {
            name: "update".into(),
            global: base,
        }
    }

    /// Motif mi's plasticity from work-item `base` (`fused`: forming the next product as it
    /// writes each row); returns its work-items.
    fn update_motif(&mut self, mi: usize, fused: bool, base: usize) -> usize {
        let m = self.m;
        let plan = &m.plan;
        let motif = &plan.motifs[mi];
        let q = motif.projection;
        if m.trans[q] {
            let (code, items) = self.update_transposed(mi, base);
            self.line(code);
            return items;
        }
        let proj = &plan.projections[q];
        if let Some(h) = m.held[q] {
            let code = self.update_held(mi, h, base);
            self.line(code);
            return proj.rows;
        }
        let (rows, cols, wo) = (proj.rows, proj.cols, m.w_off[q]);
        let form = motif.form();
        self.line(format!(
            "  if (gid >= {base}u && gid < {}u) {{ // plasticity of {}\n  const uint i = gid - {base}u;\n  __global real *wr = W + {wo}u + i * {cols}u;",
            base + rows,
            proj.name
        ));
        let x = match m.delay[q] {
            Delay::None => self.zp(proj.from, "n"),
            Delay::Uniform(d) => format!(
                "(n >= {d}ul ? S + {}u + ((n - {d}ul) % {}ul) * {cols}u : (__global real *)0)",
                m.ring_off[q].unwrap_or(0),
                m.ring_len[q]
            ),
            Delay::PerInstance(_) => unreachable!("a single instance has one delay"),
        };
        self.line(format!("  if (flag) {{\n  __global const real *xr = {x};"));
        let inputs = self.row_inputs(mi);
        self.k.push_str(&inputs);
        let general = m.general[mi] || m.acc_dw[q].is_some();
        self.line(format!("  {}", terms::coefficients(&form, "kw", "real")));
        // Body on vectors (TY = realc) and on the scalar tail (TY = real); @X@ is the
        // presynaptic rate, zero while a delay has not been reached.
        let mut body = String::new();
        if !general {
            body.push_str("wv = wv + ai * @X@;");
        } else {
            let gd = m.decay[mi].map(|r| self.p(r)).unwrap_or("(real)1".into());
            self.line(format!("  const real gd = {gd};"));
            let _ = write!(
                body,
                "const TY inc = {}; wv = wv * gd + inc;",
                terms::increment(&form, "@X@", "wv")
            );
            if let Some(ao) = m.acc_dw[q] {
                let _ = write!(
                    body,
                    " {{ __global real *ar = A + {ao}u + i * {cols}u + j; ACCUM; }}"
                );
            }
        }
        let vec_body = body
            .replace("TY", "realc")
            .replace("ACCUM", "STC(LDC(ar) + inc, ar)")
            .replace("@X@", "x");
        let sc_body = body
            .replace("TY", "real")
            .replace("ACCUM", "*ar += inc")
            .replace("@X@", "x");
        let (fv, fs, fin) = if fused {
            (
                "pv += wv * LDC(xn + j);",
                "ps += wv * xn[j];",
                format!(
                    "S[{}u + i] = {} * (hsumc(pv) + ps);",
                    m.prod_off[q].unwrap_or(0),
                    self.p(m.sign[q])
                ),
            )
        } else {
            ("", "", String::new())
        };
        if fused {
            self.line(format!(
                "  __global const real *xn = {};",
                self.zp(proj.from, "n1")
            ));
        }
        self.line(format!(
            "  if (xr) {{\n  realc pv = (realc)0; real ps = 0; uint j = 0;\n  for (; j + C <= {cols}u; j += C) {{ realc wv = LDC(wr + j); const realc x = LDC(xr + j); {vec_body} STC(wv, wr + j); {fv} }}\n  for (; j < {cols}u; j++) {{ real wv = wr[j]; const real x = xr[j]; {sc_body} wr[j] = wv; {fs} }}\n  {fin}\n  }} else {{"
        ));
        // Without presynaptic rates yet (delay not reached) x = 0 in every term.
        let zero_body = body
            .replace("TY", "real")
            .replace("ACCUM", "*ar += inc")
            .replace("@X@", "(real)0");
        self.line(format!(
            "  for (uint j = 0; j < {cols}u; j++) {{ real wv = wr[j]; {zero_body} wr[j] = wv; }}\n  }}"
        ));
        self.line("  }");
        if fused {
            self.line(format!(
                "  else {{ S[{}u + i] = {} * dotc(wr, {}, {cols}u); }}",
                m.prod_off[q].unwrap_or(0),
                self.p(m.sign[q]),
                self.zp(proj.from, "n1")
            ));
        }
        self.line("  }");
        rows
    }

    /// Population p's trace from work-item `base`: q(n + 1) from q(n) and z(n) into the other
    /// copy, so that no plasticity work-item of this launch reads a trace being written.
    fn trace(&mut self, p: usize, base: usize) -> usize {
        let m = self.m;
        let pop = &m.plan.populations[p];
        let (Some(_), Some(keep)) = (m.q_off[p], m.q_keep[p]) else {
            return 0;
        };
        let signal = match &pop.trace {
            Some(t) if t.squared => "zz * zz",
            _ => "zz",
        };
        self.line(format!(
            "  if (flag && gid >= {base}u && gid < {}u) {{ // trace of {}\n  const uint i = gid - {base}u; const real zz = {}[i]; const real sq = {signal};\n  {}[i] = sq + ({}[i] - sq) * {}; }}",
            base + pop.size,
            pop.name,
            self.zp(p, "n"),
            self.qp(p, "n1"),
            self.qp(p, "n"),
            self.p(keep)
        ));
        pop.size
    }

    /// What row i of motif mi's update reads, as declarations: the weight rate, the post rate
    /// and modulator, the θ in use and the trace where a term reads it.
    fn row_inputs(&self, mi: usize) -> String {
        let m = self.m;
        let motif = &m.plan.motifs[mi];
        let proj = &m.plan.projections[motif.projection];
        let mut c = format!(
            "  const real kw = {}, zi = {}[i], mi = {};\n",
            self.p(m.rate_w[mi]),
            self.zp(proj.to, "n"),
            motif
                .modulator
                .map(|mp| format!("{}[i]", self.zp(mp, "n")))
                .unwrap_or("(real)0".into())
        );
        for (k, r) in m.theta[mi].iter().enumerate() {
            if let Some(r) = r {
                c.push_str(&format!("  const real th{k} = {};\n", self.p(*r)));
            }
        }
        if motif.form().reads(Post::Q) && m.q_off[proj.to].is_some() {
            c.push_str(&format!(
                "  const real qi = {}[i];\n",
                self.qp(proj.to, "n")
            ));
        }
        c
    }

    /// The plasticity of a deferred matrix (`Model::held`), one work-item per row, fused with
    /// the next step's product as the other rows are: D ← g·D + a, G ← g·G and the current
    /// G·(W₀x) + (xᵀx)·D while the input stays; where it changes at step n + 1 (`flag` 3) row
    /// i is written, W ← G·W₀ + D x(n)ᵀ, and W₀x(n+1) summed as the CPU's `Held::rebase` does.
    /// The held x is the input's copy of step n, which no kernel of step n writes; G lives in
    /// two copies, read at n & 1 and written at (n + 1) & 1. `flag` 0 updates nothing: step
    /// n + 1's driven rates were just written (the priming launch, or a phase that changed the
    /// stimulus after step n ran, which first copies G of step n + 1 into step n's copy), and
    /// the row is written where the input now differs from the held one, as the CPU compares.
    fn update_held(&self, mi: usize, h: super::device_layout::HeldSlots, base: usize) -> String {
        let m = self.m;
        let plan = &m.plan;
        let motif = &plan.motifs[mi];
        let q = motif.projection;
        let proj = &plan.projections[q];
        let form = motif.form();
        let (rows, cols, wo) = (proj.rows, proj.cols, m.w_off[q]);
        debug_assert!(
            self.s.product_by_update[q],
            "a deferred matrix's product is fused"
        );
        let prod = m.prod_off[q].unwrap_or(0);
        let mut c = format!(
            "  if (gid >= {base}u && gid < {}u) {{ // plasticity of {} (deferred while the input is held)\n  const uint i = gid - {base}u;\n  __global real *wr = W + {wo}u + i * {cols}u;\n  const real gc = S[{}u + (n & 1ul)];\n  real dn = S[{}u + i], gn = gc;\n  if (flag) {{\n",
            base + rows,
            proj.name,
            h.g,
            h.d
        );
        c.push_str(&self.row_inputs(mi));
        let gd = m.decay[mi].map(|r| self.p(r)).unwrap_or("(real)1".into());
        c.push_str(&format!(
            "  {}\n  const real gd = {gd};\n  dn = dn * gd + ai; gn = gc * gd;\n",
            terms::coefficients(&form, "kw", "real")
        ));
        if let Some(sd) = h.sum_dw {
            c.push_str(&format!("  A[{sd}u + i] += ai;\n"));
        }
        let (xo, xn) = (self.zp(proj.from, "n"), self.zp(proj.from, "n1"));
        let sign = self.p(m.sign[q]);
        c.push_str(&format!(
            "  }}\n  __global const real *xo = {xo}, *xn = {xn};\n  int moved = flag == 3u;\n  if (flag == 0u) for (uint k = 0; k < {cols}u && !moved; k++) moved = xo[k] != xn[k];\n  if (moved) {{ // the input changes: write the row, hold x(n + 1)\n"
        ));
        if let (Some(sd), Some(ao)) = (h.sum_dw, m.acc_dw[q]) {
            c.push_str(&format!(
                "  {{ const real si = A[{sd}u + i]; __global real *ar = A + {ao}u + i * {cols}u; for (uint j = 0; j < {cols}u; j++) ar[j] += si * xo[j]; A[{sd}u + i] = 0; }}\n"
            ));
        }
        c.push_str(&format!(
            "  realc pv = (realc)0; real ps = 0; uint j = 0;\n  for (; j + C <= {cols}u; j += C) {{ const realc wv = LDC(wr + j) * gn + dn * LDC(xo + j); STC(wv, wr + j); pv += wv * LDC(xn + j); }}\n  for (; j < {cols}u; j++) {{ const real wv = wr[j] * gn + dn * xo[j]; wr[j] = wv; ps += wv * xn[j]; }}\n  const real b = hsumc(pv) + ps;\n  S[{}u + i] = b; S[{}u + i] = 0; S[{prod}u + i] = {sign} * b;\n  if (i == 0) {{ real xx = 0; for (uint k = 0; k < {cols}u; k++) xx += xn[k] * xn[k]; S[{}u] = xx; S[{}u + (n1 & 1ul)] = 1; }}\n",
            h.base, h.d, h.xx, h.g
        ));
        c.push_str(&format!(
            "  }} else {{\n  S[{}u + i] = dn; S[{prod}u + i] = {sign} * (gn * S[{}u + i] + S[{}u] * dn);\n  if (i == 0) S[{}u + (n1 & 1ul)] = gn;\n  }}\n  }}\n",
            h.d, h.base, h.xx, h.g
        ));
        c
    }

    /// The plasticity of a matrix stored transposed: one work-item per presynaptic unit j, a
    /// vector along its stored row of postsynaptic units i. The same coefficients and increment
    /// as the row form, computed per element.
    fn update_transposed(&self, mi: usize, base: usize) -> (String, usize) {
        let m = self.m;
        let plan = &m.plan;
        let motif = &plan.motifs[mi];
        let q = motif.projection;
        let proj = &plan.projections[q];
        let (rows, cols, wo) = (proj.rows, proj.cols, m.w_off[q]);
        let form = motif.form();
        let mut c = format!(
            "  if (flag && gid >= {base}u && gid < {}u) {{ // plasticity of {} (stored transposed)\n  const uint j = gid - {base}u;\n  __global real *wr = W + {wo}u + j * {rows}u;\n",
            base + cols,
            proj.name
        );
        let x = match m.delay[q] {
            Delay::None => format!("{}[j]", self.zp(proj.from, "n")),
            Delay::Uniform(d) => format!(
                "(n >= {d}ul ? S[{}u + ((n - {d}ul) % {}ul) * {cols}u + j] : (real)0)",
                m.ring_off[q].unwrap_or(0),
                m.ring_len[q]
            ),
            Delay::PerInstance(_) => unreachable!("a single instance has one delay"),
        };
        c.push_str(&format!(
            "  const real x = {x}, kw = {};\n  __global const real *zp = {};\n",
            self.p(m.rate_w[mi]),
            self.zp(proj.to, "n")
        ));
        if let Some(mp) = motif.modulator {
            c.push_str(&format!(
                "  __global const real *mp = {};\n",
                self.zp(mp, "n")
            ));
        }
        let reads_q = form.reads(Post::Q) && m.q_off[proj.to].is_some();
        if reads_q {
            c.push_str(&format!(
                "  __global const real *qp = {};\n",
                self.qp(proj.to, "n")
            ));
        }
        for (k, r) in m.theta[mi].iter().enumerate() {
            if let Some(r) = r {
                c.push_str(&format!("  const real th{k} = {};\n", self.p(*r)));
            }
        }
        let general = m.general[mi] || m.acc_dw[q].is_some();
        c.push_str(&format!(
            "  const real gd = {};\n",
            m.decay[mi].map(|r| self.p(r)).unwrap_or("(real)1".into())
        ));
        let acc = m.acc_dw[q].map(|ao| format!("A + {ao}u + j * {rows}u"));
        if let Some(a) = &acc {
            c.push_str(&format!("  __global real *ar = {a};\n"));
        }
        // One body for vectors of C units at i and for the scalar tail.
        let body = |u: &Unit| {
            let ty = u.ty;
            let mut b = format!("    const {ty} zi = {};\n", u.ld("zp"));
            b.push_str(&if motif.modulator.is_some() {
                format!("    const {ty} mi = {};\n", u.ld("mp"))
            } else {
                format!("    const {ty} mi = ({ty})0;\n")
            });
            if reads_q {
                b.push_str(&format!("    const {ty} qi = {};\n", u.ld("qp")));
            }
            b.push_str(&format!(
                "    {}\n    {ty} wv = {};\n",
                terms::coefficients(&form, "kw", ty),
                u.ld("wr")
            ));
            if !general {
                b.push_str("    wv = wv + ai * x;\n");
            } else {
                b.push_str(&format!(
                    "    const {ty} inc = {};\n    wv = wv * gd + inc;\n",
                    terms::increment(&form, "x", "wv")
                ));
                if acc.is_some() {
                    b.push_str(&format!(
                        "    {};\n",
                        u.st(&format!("{} + inc", u.ld("ar")), "ar")
                    ));
                }
            }
            b.push_str(&format!("    {};\n", u.st("wv", "wr")));
            b
        };
        let v = Unit {
            ty: "realc",
            suf: "_c",
            idx: "i",
            vector: true,
        };
        let s1 = Unit {
            ty: "real",
            suf: "_s",
            idx: "i",
            vector: false,
        };
        c.push_str(&format!(
            "  uint i = 0;\n  for (; i + C <= {rows}u; i += C) {{\n{}  }}\n  for (; i < {rows}u; i++) {{\n{}  }}\n  }}\n",
            body(&v),
            body(&s1)
        ));
        (c, cols)
    }

    /// The weight noise of the motifs whose updates `ops` holds.
    fn wnoise(&mut self, ops: &[Op]) -> Option<RowKernel> {
        let m = self.m;
        let plan = &m.plan;
        let mut base = 0;
        let mut body = String::new();
        for op in ops {
            let Op::Update { motif: mi, .. } = *op else {
                continue;
            };
            let motif = &plan.motifs[mi];
            let Some(row) = m.wnoise[mi] else { continue };
            let q = motif.projection;
            let proj = &plan.projections[q];
            let n = proj.synapses();
            let blocks = n.div_ceil(4);
            let stream = wnoise_stream(&proj.name);
            let _ = writeln!(
                body,
                "  if (gid >= {base}u && gid < {}u) {{ const uint b = gid - {base}u; real nz[4]; noise_normals_s(PL[PL_SEED], {stream}u, n, b, nz);\n    for (uint t = 0; t < 4 && 4 * b + t < {n}u; t++) {{ const uint k = 4 * b + t; W[{}] += {} * nz[t]; }} }}",
                base + blocks,
                self.widx(
                    q,
                    &format!("k / {}u", proj.cols),
                    &format!("k % {}u", proj.cols)
                ),
                self.p(row)
            );
            base += blocks;
        }
        if base == 0 {
            return None;
        }
        self.line(format!(
            "void wnoise_at(KARGS, const uint item) {{\n  const uint gid = item;\n{body}}}"
        ));
        Some(RowKernel {
            name: "wnoise".into(),
            global: base,
        })
    }

    /// W ← W ⊙ M for the masked matrices `ops` holds, one work-item per synapse (selected, as
    /// the CPU engine does, so no −0 is left).
    fn mask(&mut self, ops: &[Op]) -> Option<RowKernel> {
        let m = self.m;
        let plan = &m.plan;
        let mut base = 0;
        let mut body = String::new();
        for op in ops {
            let Op::Mask { projection: q } = *op else {
                continue;
            };
            let Some(mo) = m.mask[q] else { continue };
            let proj = &plan.projections[q];
            let n = proj.synapses();
            let _ = writeln!(
                body,
                "  if (gid >= {base}u && gid < {}u) {{ const uint k = gid - {base}u, i = k / {}u, j = k % {}u; if (P[{mo}u + k] == (real)0) W[{}] = (real)0; }}",
                base + n,
                proj.cols,
                proj.cols,
                self.widx(q, "i", "j"),
            );
            base += n;
        }
        if base == 0 {
            return None;
        }
        self.line(format!(
            "void mask_at(KARGS, const uint item) {{\n  const uint gid = item;\n{body}}}"
        ));
        Some(RowKernel {
            name: "mask".into(),
            global: base,
        })
    }

    /// The copies of the tied matrices `ops` holds.
    fn tied(&mut self, ops: &[Op]) -> Option<RowKernel> {
        let m = self.m;
        let plan = &m.plan;
        let mut base = 0;
        let mut body = String::new();
        for op in ops {
            let Op::CopyTied { projection: q } = *op else {
                continue;
            };
            let proj = &plan.projections[q];
            let (Some(_), Some(t)) = (m.tied[q], proj.tied_to) else {
                continue;
            };
            let src = &plan.projections[t];
            let n = src.synapses();
            let _ = writeln!(
                body,
                "  if (gid >= {base}u && gid < {}u) {{ const uint k = gid - {base}u, i = k / {}u, j = k % {}u; W[{}] = W[{}]; }}",
                base + n,
                src.cols,
                src.cols,
                self.widx(q, "j", "i"),
                self.widx(t, "i", "j")
            );
            base += n;
        }
        if base == 0 {
            return None;
        }
        self.line(format!(
            "void tied_at(KARGS, const uint item) {{\n  const uint gid = item;\n{body}}}"
        ));
        Some(RowKernel {
            name: "tied".into(),
            global: base,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{InstanceSpec, Plan};
    use crate::spec::{self, SourceFile};
    use std::path::Path;
    use std::sync::Arc;

    /// Every kind of operation in one circuit: standalone, late and early instantaneous
    /// populations, a delay, a trace, weight noise, a tied matrix, matrices stored transposed
    /// and the window accumulators.
    const EVERYTHING: &str = "
name: everything
time: {dt: 0.1 ms, duration: 10 ms}
task: {kind: linear_teacher, stimulus: {duration: 5 ms}, held_out: 4}
populations:
  x: {role: input, size: 3}
  h: {size: 40, tau: 5 ms, trace: {of: rate_squared, tau: 1 s}}
  y: {size: 2, tau: 5 ms}
  ystar: {role: target, size: 2}
  e: {role: error, size: 2, tau: 0 ms}
  dh: {role: error, size: 40, tau: 0 ms, gain_from: h}
  g: {size: 3, tau: 0 ms}
projections:
  W1: {from: x, to: h, init: {uniform: [-0.1, 0.1]}}
  W2: {from: h, to: y, init: {uniform: [-0.1, 0.1]}, delay: 1 ms}
  to_e_target: {from: ystar, to: e, init: identity}
  to_e_output: {from: y, to: e, init: identity, sign: -1}
  B2: {from: e, to: dh, init: {uniform: [-0.5, 0.5]}, tied: W2}
  to_g: {from: dh, to: g, init: {uniform: [-0.5, 0.5]}}
motifs:
  - {plastic: W1, modulator: dh, rule: {m_x: 1}, tau_w: 1 s}
  - {plastic: W2, modulator: e, rule: {m_x: 1, zz_w: -1}, tau_w: 1 s, weight_noise: 0.01}
record: {every: 1 ms, traces: 5 ms, measure: [loss, gradient_alignment, hebbian_signature]}
";

    /// Each launch of the schedule becomes its kernels in the schedule's order (the
    /// accumulators one per δ and one for the outer products), so the emitter handles every
    /// operation the grouping gives a launch; the host runs exactly these.
    #[test]
    fn each_launch_becomes_its_kernels_in_order() {
        let source = SourceFile::from_text(Path::new("t.yaml"), EVERYTHING.to_string());
        let spec = spec::parse_circuit(&source).unwrap_or_else(|d| panic!("{d}"));
        let circuit = crate::circuit::build(&source, &spec).unwrap_or_else(|d| panic!("{d}"));
        let instance = InstanceSpec {
            circuit,
            seed: 1,
            label: "t".into(),
        };
        let plan = Arc::new(Plan::new(&[instance], Path::new(".")).unwrap());
        let schedule = RowSchedule::for_plan(&plan, 16);
        let m = Model::rows(plan.clone(), 1, &schedule).unwrap();
        let kinds: Vec<Kernel> = schedule.launches.iter().map(|l| l.kernel).collect();
        let dh = plan
            .populations
            .iter()
            .position(|p| p.name == "dh")
            .unwrap();
        assert_eq!(
            kinds,
            [
                Kernel::Instantaneous { population: dh },
                Kernel::Integrate,
                Kernel::Accumulators,
                Kernel::Update,
                Kernel::WeightNoise,
                Kernel::Tied
            ]
        );
        for f64 in [false, true] {
            let t = Types {
                f64,
                fp64: true,
                v: 1,
            };
            let program = rows_source(&m, &schedule, t, false);
            let names: Vec<&str> = program.kernels.iter().map(|k| k.name.as_str()).collect();
            let inst = format!("inst_{dh}");
            assert_eq!(
                names,
                [
                    inst.as_str(),
                    "integrate",
                    "delta_2",
                    "delta_1",
                    "delta_6",
                    "outer",
                    "update",
                    "wnoise",
                    "tied"
                ]
            );
            for name in names.iter().chain(["drive"].iter()) {
                assert!(
                    program
                        .source
                        .contains(&format!("__kernel void {name}(KARGS)")),
                    "{name}"
                );
            }
            assert!(program.fused_any, "e is evaluated early");
        }
    }
}
