//! The OpenCL backend: the CPU engine's step, generated as OpenCL C from the plan and kept on
//! the device.
//!
//! - Kernels are generated (`codegen`, `row_kernels`) from the plan and the θ basis around the sources
//!   in `kernels/`: one template runs every rule, θ terms that are zero in every instance are
//!   left out, and sizes and offsets are literals.
//! - Everything stays resident: weights, state, the stimulus stream (regenerated on the device
//!   from [`crate::task::DeviceTaskForm`] with the host's Philox), and the window accumulators.
//!   The host reads back only in [`Backend::snapshot`] and [`Backend::take_window`].
//! - Two layouts. An ensemble runs one work-item per `V` instances (instance-interleaved
//!   buffers, the `V` lanes as one OpenCL vector) through whole steps, many steps per launch.
//!   A single large instance runs a few row-parallel kernels per step with the plasticity fused
//!   into the next forward product (`rows`).
//! - The device is found at run time (`platform`): without an OpenCL library or device every
//!   entry point returns an [`OpenClError`] that says what to install.
//!
//! Environment: `HETSIM_OPENCL_DEVICE=<n>` picks a device by its number in `hetsim devices`;
//! `HETSIM_OPENCL_LAYOUT=ensemble|rows` overrides the choice of layout.
//!
//! Supported: euler and exponential_euler, instantaneous populations, φ' gains, delays, tied
//! projections, per-instance θ/τ_w/τ_decay/noise, population and weight noise, stimulus timing
//! with gaps, freeze, every protocol phase (parameter and task rows rewritten at the boundary,
//! the stimulus drawn again where it changes). Not yet: rk4 (a clear error asks for
//! `--backend cpu`).

mod activities;
mod codegen;
mod device_layout;
pub mod platform;
mod row_kernels;
mod state;
mod terms;

pub use platform::{DeviceInfo, INSTALL_HINT, PlatformInfo, platforms};

use crate::backend::{
    Backend, BackendError, BackendKind, DeviceDescription, Precision, ProjectionWindow, Snapshot,
    TracePoint, Window,
};
use crate::plan::Plan;
use crate::spec::Role;
use codegen::Types;
use device_layout::{HeldSlots, Model};
use opencl3::command_queue::CommandQueue;
use opencl3::kernel::Kernel;
use opencl3::memory::{Buffer, CL_MEM_READ_WRITE, ClMem};
use opencl3::types::{CL_BLOCKING, cl_mem};
use platform::Shared;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Why the OpenCL backend cannot run (here, or this plan).
#[derive(Debug, thiserror::Error)]
pub enum OpenClError {
    #[error("the OpenCL library (libOpenCL.so.1) could not be loaded; {INSTALL_HINT}")]
    NoLibrary,
    #[error("no OpenCL platform is installed ({0}); {INSTALL_HINT}")]
    NoPlatform(String),
    #[error("the OpenCL platforms offer no device; {INSTALL_HINT}")]
    NoDevice,
    /// An earlier attempt to open the device failed (the reason is kept as text).
    #[error("{0}")]
    Unavailable(String),
    #[error("{what} failed: {message}")]
    Api { what: &'static str, message: String },
    #[error("the generated OpenCL program did not build ({code}):\n{log}")]
    Build { code: String, log: String },
    #[error("{0}")]
    Unsupported(String),
}

/// How the work is laid out on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Rows for one instance with at least [`ROWS_MIN_SYNAPSES`] synapses, else ensemble.
    #[default]
    Auto,
    /// One work-item per `V` instances, whole steps per work-item.
    Ensemble,
    /// Row-parallel kernels for a single instance.
    Rows,
}

/// A single instance this large runs row-parallel under [`Layout::Auto`].
pub const ROWS_MIN_SYNAPSES: usize = 20_000;

/// The OpenCL backend's options (`HETSIM_OPENCL_DEVICE`, `HETSIM_OPENCL_LAYOUT` and
/// `HETSIM_OPENCL_BUILD_OPTIONS`, read by `settings`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub layout: Layout,
    /// The device's number in `hetsim devices`; None: the first GPU, else the first device.
    pub device: Option<usize>,
    /// The compiler's options; None: the quiet default.
    pub build_options: Option<String>,
}

/// The OpenCL backend for `plan` with the default options, with a description of its device.
pub fn new(
    plan: Arc<Plan>,
    precision: Precision,
) -> Result<(Box<dyn Backend>, String), OpenClError> {
    with_options(plan, precision, &Options::default())
}

/// The OpenCL backend for `plan` with `options`, with a description of its device.
pub fn with_options(
    plan: Arc<Plan>,
    precision: Precision,
    options: &Options,
) -> Result<(Box<dyn Backend>, String), OpenClError> {
    let shared = platform::shared(options.device)?;
    let device = format!("{} ({})", shared.info.name, shared.platform);
    let backend: Box<dyn Backend> = match precision {
        Precision::F32 => Box::new(OpenClBackend::<f32>::new(shared, plan, options)?),
        Precision::F64 => {
            if !shared.info.fp64 {
                return Err(OpenClError::Unsupported(format!(
                    "the OpenCL device {} has no double precision; use --precision f32 or --backend cpu",
                    shared.info.name
                )));
            }
            Box::new(OpenClBackend::<f64>::new(shared, plan, options)?)
        }
    };
    Ok((backend, device))
}

/// The device a backend with the default options would use, or why there is none.
pub fn device() -> Result<DeviceInfo, OpenClError> {
    device_numbered(None)
}

/// The device numbered `device` in `hetsim devices` (None: the default choice), or why there is
/// none.
pub fn device_numbered(device: Option<usize>) -> Result<DeviceInfo, OpenClError> {
    Ok(platform::shared(device)?.info.clone())
}

/// Draw `(seed, stream, counter)` of length `n` on the device: raw words, f32 normals and (where
/// the device has doubles) f64 normals and noise normals, laid out as `rng::fill_*` and
/// `normals::fill_noise` lay them out.
pub struct RngDraw {
    pub words: Vec<u32>,
    pub normals_f32: Vec<f32>,
    pub normals_f64: Option<Vec<f64>>,
    pub noise_f32: Vec<f32>,
    pub noise_f64: Option<Vec<f64>>,
}

pub fn rng_draw(seed: u64, stream: u32, counter: u64, n: usize) -> Result<RngDraw, OpenClError> {
    let shared = platform::shared(None)?;
    let fp64 = shared.info.fp64;
    let src = format!(
        "{}{}{}",
        codegen::header(Types {
            f64: false,
            fp64,
            v: 1
        }),
        codegen::PRELUDE,
        codegen::RNG_CHECK
    );
    let program = shared.program(&src, None)?;
    let queue = shared.queue()?;
    let kernel = Kernel::create(&program, "rng_fill").map_err(api("clCreateKernel"))?;
    let n = n.max(1);
    let words = buffer::<u32>(&shared, n)?;
    let f32s = buffer::<f32>(&shared, n)?;
    let noise32 = buffer::<f32>(&shared, n)?;
    let f64s = buffer::<f64>(&shared, n)?;
    let noise = buffer::<f64>(&shared, n)?;
    let n32 = n as u32;
    // SAFETY: the arguments match the kernel's signature in kernels/rng_check.cl.
    unsafe {
        kernel.set_arg(0, &seed).map_err(api("clSetKernelArg"))?;
        kernel.set_arg(1, &stream).map_err(api("clSetKernelArg"))?;
        kernel.set_arg(2, &counter).map_err(api("clSetKernelArg"))?;
        kernel.set_arg(3, &n32).map_err(api("clSetKernelArg"))?;
        kernel
            .set_arg(4, &words.get())
            .map_err(api("clSetKernelArg"))?;
        kernel
            .set_arg(5, &f32s.get())
            .map_err(api("clSetKernelArg"))?;
        kernel
            .set_arg(6, &noise32.get())
            .map_err(api("clSetKernelArg"))?;
        if fp64 {
            kernel
                .set_arg(7, &f64s.get())
                .map_err(api("clSetKernelArg"))?;
            kernel
                .set_arg(8, &noise.get())
                .map_err(api("clSetKernelArg"))?;
        }
    }
    launch(&queue, &kernel, n.div_ceil(4), None)?;
    let mut out = RngDraw {
        words: vec![0; n],
        normals_f32: vec![0.0; n],
        normals_f64: fp64.then(|| vec![0.0; n]),
        noise_f32: vec![0.0; n],
        noise_f64: fp64.then(|| vec![0.0; n]),
    };
    read(&queue, &words, &mut out.words)?;
    read(&queue, &f32s, &mut out.normals_f32)?;
    read(&queue, &noise32, &mut out.noise_f32)?;
    if let Some(v) = &mut out.normals_f64 {
        read(&queue, &f64s, v)?;
    }
    if let Some(v) = &mut out.noise_f64 {
        read(&queue, &noise, v)?;
    }
    Ok(out)
}

// ---- host-side helpers -------------------------------------------------------------------

fn api(what: &'static str) -> impl Fn(opencl3::error_codes::ClError) -> OpenClError {
    move |e| OpenClError::Api {
        what,
        message: e.to_string(),
    }
}

fn buffer<T>(shared: &Shared, n: usize) -> Result<Buffer<T>, OpenClError> {
    // SAFETY: no host pointer is passed; the buffer is initialised by writes before use.
    unsafe {
        Buffer::<T>::create(
            &shared.context,
            CL_MEM_READ_WRITE,
            n.max(1),
            std::ptr::null_mut(),
        )
    }
    .map_err(api("clCreateBuffer"))
}

fn write<T>(queue: &CommandQueue, buf: &mut Buffer<T>, data: &[T]) -> Result<(), OpenClError> {
    if data.is_empty() {
        return Ok(());
    }
    // SAFETY: blocking write of a host slice no longer than the buffer.
    unsafe { queue.enqueue_write_buffer(buf, CL_BLOCKING, 0, data, &[]) }
        .map(|_| ())
        .map_err(api("clEnqueueWriteBuffer"))
}

fn read<T>(queue: &CommandQueue, buf: &Buffer<T>, out: &mut [T]) -> Result<(), OpenClError> {
    if out.is_empty() {
        return Ok(());
    }
    // SAFETY: blocking read into a host slice no longer than the buffer.
    unsafe { queue.enqueue_read_buffer(buf, CL_BLOCKING, 0, out, &[]) }
        .map(|_| ())
        .map_err(api("clEnqueueReadBuffer"))
}

fn launch(
    queue: &CommandQueue,
    kernel: &Kernel,
    global: usize,
    local: Option<usize>,
) -> Result<(), OpenClError> {
    let (global, local) = match local {
        Some(l) => (global.div_ceil(l) * l, l),
        None => (global, 0),
    };
    let g = [global];
    let l = [local];
    // SAFETY: the kernel's arguments were all set; sizes are one-dimensional.
    unsafe {
        queue.enqueue_nd_range_kernel(
            kernel.get(),
            1,
            std::ptr::null(),
            g.as_ptr(),
            if local == 0 {
                std::ptr::null()
            } else {
                l.as_ptr()
            },
            &[],
        )
    }
    .map(|_| ())
    .map_err(api("clEnqueueNDRangeKernel"))
}

/// The scalar type of the simulation on the device.
pub trait DeviceReal:
    Copy + Default + Send + Sync + Into<f64> + crate::backend::state::Field + 'static
{
    const NAME: &'static str;
    fn of(x: f64) -> Self;
}
impl DeviceReal for f32 {
    const NAME: &'static str = "f32";
    fn of(x: f64) -> Self {
        x as f32
    }
}
impl DeviceReal for f64 {
    const NAME: &'static str = "f64";
    fn of(x: f64) -> Self {
        x
    }
}

/// A buffer of the device's "wide" type: f64 where the device has doubles, else f32.
enum Wide {
    F32(Buffer<f32>),
    F64(Buffer<f64>),
}

impl Wide {
    fn new(shared: &Shared, fp64: bool, n: usize) -> Result<Wide, OpenClError> {
        Ok(if fp64 {
            Wide::F64(buffer(shared, n)?)
        } else {
            Wide::F32(buffer(shared, n)?)
        })
    }
    fn mem(&self) -> cl_mem {
        match self {
            Wide::F32(b) => b.get(),
            Wide::F64(b) => b.get(),
        }
    }
    fn write(&mut self, queue: &CommandQueue, data: &[f64]) -> Result<(), OpenClError> {
        match self {
            Wide::F32(b) => write(
                queue,
                b,
                &data.iter().map(|x| *x as f32).collect::<Vec<_>>(),
            ),
            Wide::F64(b) => write(queue, b, data),
        }
    }
    fn read(&self, queue: &CommandQueue, n: usize) -> Result<Vec<f64>, OpenClError> {
        match self {
            Wide::F32(b) => {
                let mut v = vec![0f32; n];
                read(queue, b, &mut v)?;
                Ok(v.into_iter().map(f64::from).collect())
            }
            Wide::F64(b) => {
                let mut v = vec![0f64; n];
                read(queue, b, &mut v)?;
                Ok(v)
            }
        }
    }
}

/// The device buffers, in kernel argument order.
struct Buffers<R> {
    w: Buffer<R>,
    s: Buffer<R>,
    p: Buffer<R>,
    pl: Buffer<u64>,
    pu: Buffer<u32>,
    td: Wide,
    tr: Buffer<u32>,
    xs: Wide,
    a: Buffer<R>,
    loss: Wide,
    cnt: Buffer<u32>,
    sample: Buffer<u64>,
    trace: Buffer<R>,
}

impl<R> Buffers<R> {
    fn mems(&self) -> [cl_mem; 13] {
        [
            self.w.get(),
            self.s.get(),
            self.p.get(),
            self.pl.get(),
            self.pu.get(),
            self.td.mem(),
            self.tr.get(),
            self.xs.mem(),
            self.a.get(),
            self.loss.mem(),
            self.cnt.get(),
            self.sample.get(),
            self.trace.get(),
        ]
    }
}

enum Exec {
    Ensemble {
        kernel: Kernel,
        global: usize,
    },
    Rows {
        program: row_kernels::RowProgram,
        kernels: HashMap<String, Kernel>,
        local: RowLocal,
        /// The training sample the device holds.
        sample: u64,
        /// Marker after the previous batch of steps (see `ROW_BATCH`).
        pending: Option<opencl3::event::Event>,
    },
}

/// Steps per batch of row-kernel launches.
const ROW_BATCH: u64 = 256;

/// Work-group sizes of the row kernels.
#[derive(Clone, Copy, Debug)]
struct RowLocal {
    max: usize,
    units: usize,
}

impl RowLocal {
    /// A power of two up to `max` that still gives every compute unit four groups.
    fn of(self, global: usize) -> usize {
        let target = (global / (4 * self.units)).max(1);
        (1usize << (usize::BITS - 1 - target.leading_zeros())).min(self.max)
    }
}

/// Steps per launch of the ensemble kernel: long enough that launches cost nothing, short
/// enough that a GPU's watchdog never fires.
const MAX_STEPS_PER_LAUNCH: u64 = 20_000;

pub struct OpenClBackend<R: DeviceReal> {
    queue: CommandQueue,
    m: Model,
    bufs: Buffers<R>,
    /// Host copy of the parameter table (freeze edits it).
    params: Vec<f64>,
    /// Host copy of the per-instance integer table (a phase points it at its tasks).
    longs: Vec<u64>,
    exec: Exec,
    step: u64,
    window_start: u64,
    describe: String,
    device: DeviceDescription,
    /// Host buffers for reading back W and S, kept between snapshots.
    readback: std::sync::Mutex<(Vec<R>, Vec<R>)>,
    /// The protocol phase whose numbers the parameter table holds, and the frozen instances
    /// (whose rows a phase leaves at zero).
    phase: usize,
    frozen: Vec<bool>,
    _shared: Arc<Shared>,
}

impl<R: DeviceReal> OpenClBackend<R> {
    fn new(shared: Arc<Shared>, plan: Arc<Plan>, options: &Options) -> Result<Self, OpenClError> {
        let e = plan.n_instances();
        let rows_mode = match options.layout {
            Layout::Rows if e != 1 => {
                return Err(OpenClError::Unsupported(format!(
                    "the row-parallel layout runs one instance, this plan has {e}"
                )));
            }
            Layout::Rows => true,
            Layout::Ensemble => false,
            Layout::Auto => e == 1 && plan.synapses_per_instance() >= ROWS_MIN_SYNAPSES,
        };
        let f64_real = R::NAME == "f64";
        let fp64 = shared.info.fp64;
        // Lanes per work-item: enough work-items to fill the compute units, at most one
        // 512-bit vector per lane group.
        let v = if rows_mode {
            1
        } else {
            let vmax = if f64_real { 8 } else { 16 };
            let cu = shared.info.compute_units.max(1) as usize;
            e.div_ceil(cu).next_power_of_two().clamp(1, vmax)
        };
        let short_row = if !rows_mode {
            0
        } else if f64_real {
            8
        } else {
            16
        };
        let schedule =
            rows_mode.then(|| crate::step::rows::RowSchedule::for_plan(&plan, short_row));
        let m = match &schedule {
            Some(schedule) => Model::rows(plan.clone(), v, schedule)?,
            None => Model::ensemble(plan.clone(), v)?,
        };
        let types = Types {
            f64: f64_real,
            fp64,
            v,
        };
        let queue = shared.queue()?;

        let e_pad = m.e_pad;
        let conv = |v: &[f64]| v.iter().map(|x| R::of(*x)).collect::<Vec<R>>();
        let mut bufs = Buffers::<R> {
            w: buffer(&shared, m.w_len * e_pad)?,
            s: buffer(&shared, m.state_len * e_pad)?,
            p: buffer(&shared, m.params.rows.len().max(1) * e_pad)?,
            pl: buffer(&shared, m.longs.rows.len().max(1) * e_pad)?,
            pu: buffer(&shared, 2 * e_pad)?,
            td: Wide::new(&shared, fp64, m.task_data.len())?,
            tr: buffer(&shared, m.train_rows.len())?,
            xs: Wide::new(&shared, fp64, e_pad * (m.n_in + m.n_out + m.hidden()))?,
            a: buffer(&shared, m.acc_len * e_pad)?,
            loss: Wide::new(&shared, fp64, e_pad)?,
            cnt: buffer(&shared, 2 * e_pad)?,
            sample: buffer(&shared, e_pad)?,
            trace: buffer(&shared, (m.trace_slots * 5).max(1))?,
        };

        // Initial weights; tied matrices start as their partner's transpose.
        let mut w = vec![0.0; m.w_len * e_pad];
        for (q, proj) in plan.projections.iter().enumerate() {
            let mut values = plan.initial_weights[q].clone();
            if let Some(t) = proj.tied_to {
                let src = &plan.projections[t];
                let n = proj.synapses();
                for (i, tied) in proj.tied.iter().enumerate() {
                    if !tied {
                        continue;
                    }
                    for r in 0..src.rows {
                        for c in 0..src.cols {
                            values[i * n + c * src.rows + r] =
                                plan.initial_weights[t][i * n + r * src.cols + c];
                        }
                    }
                }
            }
            let values = m.storage_order(q, values, false);
            m.scatter(&values, proj.synapses(), &mut w, m.w_off[q]);
        }
        write(&queue, &mut bufs.w, &conv(&w))?;
        // Rate and error populations start at rest with z = φ(0).
        let mut s = vec![0.0; m.state_len * e_pad];
        for (p, pop) in plan.populations.iter().enumerate() {
            if pop.role == Role::Rate || pop.role == Role::Error {
                let z0 = R::of(pop.activation.apply(0.0)).into();
                for parity in 0..m.parities {
                    let off = m.z_off(p, parity);
                    s[off * e_pad..(off + pop.size) * e_pad].fill(z0);
                }
            }
            // Traces start at their `init`, per instance, in every copy.
            if let Some(t) = &pop.trace {
                let init: Vec<f64> = t
                    .init
                    .iter()
                    .flat_map(|v| std::iter::repeat_n(*v, pop.size))
                    .collect();
                for parity in 0..m.parities {
                    if let Some(off) = m.q_at(p, parity) {
                        m.scatter(&init, pop.size, &mut s, off);
                    }
                }
            }
        }
        // Deferred matrices start with nothing held (x = 0, W₀x = 0, D = 0) and G = 1.
        for h in m.held.iter().flatten() {
            s[h.g * e_pad..(h.g + m.parities) * e_pad].fill(1.0);
        }
        write(&queue, &mut bufs.s, &conv(&s))?;
        let params = m.params.flatten(e_pad, 0.0);
        write(&queue, &mut bufs.p, &conv(&params))?;
        let longs = m.longs.flatten(e_pad, 0);
        write(&queue, &mut bufs.pl, &longs)?;
        write(&queue, &mut bufs.pu, &m.keys.flatten(e_pad, 0))?;
        bufs.td.write(&queue, &m.task_data)?;
        write(&queue, &mut bufs.tr, &m.train_rows)?;
        bufs.xs.write(
            &queue,
            &vec![0.0; e_pad * (m.n_in + m.n_out + m.hidden()).max(1)],
        )?;
        write(&queue, &mut bufs.a, &vec![R::default(); m.acc_len * e_pad])?;
        bufs.loss.write(&queue, &vec![0.0; e_pad])?;
        write(&queue, &mut bufs.cnt, &vec![0; 2 * e_pad])?;
        write(&queue, &mut bufs.sample, &vec![u64::MAX; e_pad])?;
        write(
            &queue,
            &mut bufs.trace,
            &vec![R::default(); (m.trace_slots * 5).max(1)],
        )?;

        let mems = bufs.mems();
        let bind = |kernel: &Kernel| -> Result<(), OpenClError> {
            for (i, mem) in mems.iter().enumerate() {
                // SAFETY: arguments 0..13 of every generated kernel are these buffers.
                unsafe { kernel.set_arg(i as u32, mem) }.map_err(api("clSetKernelArg"))?;
            }
            Ok(())
        };
        let (exec, describe) = if let Some(schedule) = schedule {
            let program = row_kernels::rows_source(&m, &schedule, types, shared.info.kind == "CPU");
            let built = shared.program(&program.source, options.build_options.as_deref())?;
            let mut kernels = HashMap::new();
            let mut names: Vec<String> = program.kernels.iter().map(|k| k.name.clone()).collect();
            names.push("drive".into());
            names.push("stim".into());
            if program.looped {
                names.push("steps".into());
            }
            for name in names {
                let k = Kernel::create(&built, &name).map_err(api("clCreateKernel"))?;
                bind(&k)?;
                kernels.insert(name, k);
            }
            // At most 64 work-items per group, and at least four groups per compute unit so
            // that small kernels still spread over every unit (PoCL runs a group per thread).
            let local = RowLocal {
                max: shared.info.max_work_group_size.clamp(1, 64),
                units: shared.info.compute_units.max(1) as usize,
            };
            let describe = format!("opencl ({}, row-parallel, {})", R::NAME, shared.info.name);
            (
                Exec::Rows {
                    program,
                    kernels,
                    local,
                    sample: 0,
                    pending: None,
                },
                describe,
            )
        } else {
            let source = codegen::ensemble_source(&m, types);
            let built = shared.program(&source, options.build_options.as_deref())?;
            let kernel = Kernel::create(&built, "run").map_err(api("clCreateKernel"))?;
            bind(&kernel)?;
            let global = m.groups;
            let describe = format!(
                "opencl ({}, {} × {}, {})",
                R::NAME,
                crate::text::count(v, "lane"),
                crate::text::count(global, "work-item"),
                shared.info.name
            );
            (Exec::Ensemble { kernel, global }, describe)
        };

        let mut backend = OpenClBackend {
            queue,
            m,
            bufs,
            params,
            longs,
            exec,
            step: 0,
            window_start: 0,
            describe,
            device: DeviceDescription {
                kind: BackendKind::OpenCl,
                name: shared.info.name.clone(),
                platform: Some(shared.platform.clone()),
                driver_version: Some(shared.info.driver_version.clone()),
            },
            readback: std::sync::Mutex::new((Vec::new(), Vec::new())),
            phase: 0,
            frozen: vec![false; plan.n_instances()],
            _shared: shared,
        };
        backend.prime()?;
        Ok(backend)
    }

    /// Row layout: step 0's stimulus, drawn as a phase that changes the stimulus draws it (the
    /// first sample, step 0's driven rates and the fused products of step 0).
    fn prime(&mut self) -> Result<(), OpenClError> {
        if let Exec::Rows { .. } = self.exec {
            self.restimulate()?;
        }
        self.queue.finish().map_err(api("clFinish"))
    }

    fn advance_checked(&mut self, steps: u64) -> Result<(), OpenClError> {
        match &mut self.exec {
            Exec::Ensemble { kernel, global } => {
                let mut done = 0;
                while done < steps {
                    let n = (steps - done).min(MAX_STEPS_PER_LAUNCH);
                    let step0 = self.step + done;
                    let count = n as u32;
                    // SAFETY: arguments 13 and 14 of `run` are the first step and the count.
                    unsafe {
                        kernel.set_arg(13, &step0).map_err(api("clSetKernelArg"))?;
                        kernel.set_arg(14, &count).map_err(api("clSetKernelArg"))?;
                    }
                    launch(&self.queue, kernel, *global, Some(1))?;
                    done += n;
                }
            }
            Exec::Rows {
                program,
                kernels,
                local,
                sample,
                pending,
            } => {
                let period = self.m.plan.timing[0].period_steps;
                let shown_steps = self.m.plan.timing[0].present_steps;
                // The input of step k: its sample and whether it is shown (else zero).
                let input_of = |k: u64| (k / period, k % period < shown_steps);
                let defers = self.m.held.iter().any(|h| h.is_some());
                let get = |name: &str| {
                    kernels
                        .get(name)
                        .ok_or(OpenClError::Unsupported(format!("no kernel {name}")))
                };
                // Flag 3: the input changes at step n + 1, so deferred matrices are written.
                let flag_of = |n: u64| {
                    if defers && input_of(n + 1) != input_of(n) {
                        3
                    } else {
                        1
                    }
                };
                // A plain step: step n + 1 shows the current sample (no `stim`) and the input
                // stays (flag 1), so `steps` may run it.
                let plain = |n: u64, sample: u64| (n + 1) / period == sample && flag_of(n) == 1;
                let end = self.step + steps;
                let mut n = self.step;
                while n < end {
                    if program.looped && plain(n, *sample) {
                        // The plain steps up to the next stimulus change (or batch end), in one
                        // launch.
                        let mut last = n;
                        while last + 1 < end
                            && !(last + 1).is_multiple_of(ROW_BATCH)
                            && plain(last + 1, *sample)
                        {
                            last += 1;
                        }
                        let kernel = get("steps")?;
                        let count = (last - n + 1) as u32;
                        set_step(kernel, n, 1)?;
                        // SAFETY: argument 15 of `steps` is the count.
                        unsafe { kernel.set_arg(15, &count) }.map_err(api("clSetKernelArg"))?;
                        launch(&self.queue, kernel, 1, Some(1))?;
                        n = last;
                    } else {
                        // The sample of step n + 1, which `integrate` drives (nothing else reads
                        // the current sample's buffer during step n).
                        let next = n + 1;
                        if next / period != *sample {
                            *sample = next / period;
                            let kernel = get("stim")?;
                            set_step(kernel, next, 1)?;
                            launch(&self.queue, kernel, 1, None)?;
                        }
                        let flag = flag_of(n);
                        for k in &program.kernels {
                            let kernel = get(&k.name)?;
                            set_step(kernel, n, flag)?;
                            launch(&self.queue, kernel, k.global, Some(local.of(k.global)))?;
                        }
                    }
                    // Keep at most two batches queued: a long advance would otherwise hold
                    // millions of commands in the driver, and the host would compete with the
                    // device for the cores while enqueuing far ahead.
                    if (n + 1).is_multiple_of(ROW_BATCH) {
                        // SAFETY: a marker without a wait list.
                        let marker = unsafe { self.queue.enqueue_marker_with_wait_list(&[]) }
                            .map_err(api("clEnqueueMarkerWithWaitList"))?;
                        self.queue.flush().map_err(api("clFlush"))?;
                        if let Some(previous) = pending.replace(marker) {
                            previous.wait().map_err(api("clWaitForEvents"))?;
                        }
                    }
                    n += 1;
                }
            }
        }
        self.queue.flush().map_err(api("clFlush"))?;
        self.step += steps;
        Ok(())
    }

    fn read_state(&self) -> Result<(Vec<R>, Vec<R>), OpenClError> {
        let mut w = vec![R::default(); self.m.w_len * self.m.e_pad];
        let mut s = vec![R::default(); self.m.state_len * self.m.e_pad];
        read(&self.queue, &self.bufs.w, &mut w)?;
        read(&self.queue, &self.bufs.s, &mut s)?;
        Ok((w, s))
    }

    /// The state as the CPU engine reports it, into `snap`'s buffers (and the read-back
    /// buffers kept between calls): every entry is overwritten.
    fn snapshot_fill(&self, snap: &mut Snapshot) -> Result<(), OpenClError> {
        let m = &self.m;
        let plan = &m.plan;
        let mut guard = self
            .readback
            .lock()
            .map_err(|_| OpenClError::Unavailable("a snapshot panicked earlier".into()))?;
        let (w, s) = &mut *guard;
        w.resize(m.w_len * m.e_pad, R::default());
        s.resize(m.state_len * m.e_pad, R::default());
        read(&self.queue, &self.bufs.w, w)?;
        read(&self.queue, &self.bufs.s, s)?;
        // In the row layout rate populations hold step n's values in copy n & 1, while driven
        // and instantaneous ones still hold those of step n − 1, as the CPU engine reports them.
        let parity = |p: usize| -> usize {
            if m.parities == 1 {
                return 0;
            }
            let pop = &plan.populations[p];
            let rate = !pop.instantaneous && !matches!(pop.role, Role::Input | Role::Target);
            let n = if rate {
                self.step
            } else {
                self.step.saturating_sub(1)
            };
            (n & 1) as usize
        };
        let (n_proj, n_pop) = (plan.projections.len(), plan.populations.len());
        snap.step = self.step;
        snap.weights.resize_with(n_proj, Vec::new);
        for (q, p) in plan.projections.iter().enumerate() {
            let out = &mut snap.weights[q];
            m.gather_into(w, m.w_off[q], p.synapses(), out);
            if let Some(h) = &m.held[q] {
                self.add_held(h, q, s, out, DeferredPart::Weights);
            }
            if m.trans[q] {
                *out = m.storage_order(q, std::mem::take(out), true);
            }
        }
        for v in [&mut snap.u, &mut snap.z, &mut snap.traces] {
            v.resize_with(n_pop, Vec::new);
        }
        for (p, pop) in plan.populations.iter().enumerate() {
            m.gather_into(s, m.u_off(p, parity(p)), pop.size, &mut snap.u[p]);
            m.gather_into(s, m.z_off(p, parity(p)), pop.size, &mut snap.z[p]);
            // Step n's update writes q(n + 1) into copy (n + 1) & 1, whatever the population.
            let copy = (self.step % m.parities as u64) as usize;
            match m.q_at(p, copy) {
                Some(off) => m.gather_into(s, off, pop.size, &mut snap.traces[p]),
                None => snap.traces[p].clear(),
            }
        }
        Ok(())
    }

    fn take_window_checked(&mut self) -> Result<Window, OpenClError> {
        let m = &self.m;
        let plan = &m.plan;
        let e = m.e;
        let e_pad = m.e_pad;
        let dt = plan.dt_s;
        let loss = self.bufs.loss.read(&self.queue, e_pad)?;
        let mut cnt = vec![0u32; 2 * e_pad];
        read(&self.queue, &self.bufs.cnt, &mut cnt)?;
        let mut acc = vec![R::default(); m.acc_len * e_pad];
        let any_acc = m
            .acc_dw
            .iter()
            .chain(&m.acc_bp)
            .chain(&m.acc_ux)
            .any(|a| a.is_some());
        if any_acc {
            read(&self.queue, &self.bufs.a, &mut acc)?;
        }
        // The rule's ΔW of a deferred matrix is partly per-post sums, spread with the held x.
        let state = if m.held.iter().flatten().any(|h| h.sum_dw.is_some()) {
            let mut s = vec![R::default(); m.state_len * e_pad];
            read(&self.queue, &self.bufs.s, &mut s)?;
            Some(s)
        } else {
            None
        };
        let mut window = Window {
            steps: self.step - self.window_start,
            loss_integral: loss[..e].to_vec(),
            present_s: (0..e).map(|i| f64::from(cnt[i]) * dt).collect(),
            correct_s: (0..e).map(|i| f64::from(cnt[e_pad + i]) * dt).collect(),
            projections: plan
                .projections
                .iter()
                .enumerate()
                .map(|(q, p)| {
                    let n = p.synapses();
                    let take = |a: Option<usize>| {
                        a.map(|off| m.storage_order(q, m.gather(&acc, off, n), true))
                            .unwrap_or_default()
                    };
                    let mut dw_rule = take(m.acc_dw[q]);
                    if let (Some(h), Some(s)) = (&m.held[q], &state) {
                        self.add_held(h, q, s, &mut dw_rule, DeferredPart::RuleSums(&acc));
                    }
                    ProjectionWindow {
                        dw_rule,
                        backprop: take(m.acc_bp[q]),
                        u_x: take(m.acc_ux[q]),
                    }
                })
                .collect(),
            traces: Vec::new(),
        };
        if m.trace_slots > 0 && self.window_start < plan.trace_steps {
            let mut tr = vec![R::default(); m.trace_slots * 5];
            read(&self.queue, &self.bufs.trace, &mut tr)?;
            window.traces = self.traces(&tr);
        }
        // Clear the accumulators for the next window.
        // SAFETY: fills stay within the buffers' sizes.
        unsafe {
            match &mut self.bufs.loss {
                Wide::F32(b) => self
                    .queue
                    .enqueue_fill_buffer(b, &[0f32], 0, e_pad * 4, &[]),
                Wide::F64(b) => self
                    .queue
                    .enqueue_fill_buffer(b, &[0f64], 0, e_pad * 8, &[]),
            }
            .map_err(api("clEnqueueFillBuffer"))?;
            self.queue
                .enqueue_fill_buffer(&mut self.bufs.cnt, &[0u32], 0, 2 * e_pad * 4, &[])
                .map_err(api("clEnqueueFillBuffer"))?;
            if any_acc {
                self.queue
                    .enqueue_fill_buffer(
                        &mut self.bufs.a,
                        &[R::default()],
                        0,
                        m.acc_len * e_pad * std::mem::size_of::<R>(),
                        &[],
                    )
                    .map_err(api("clEnqueueFillBuffer"))?;
            }
        }
        self.window_start = self.step;
        Ok(window)
    }

    /// Adds the deferred part of projection q (instance-major `[post][pre]` values, as
    /// `gather` returns them) from the state arena `s`: exact weights G·W₀ + D xᵀ from the
    /// stored W₀ (as `Held::weight`), or the rule's ΔW sums times x (as `Held::spread`).
    fn add_held(
        &self,
        h: &HeldSlots,
        q: usize,
        s: &[R],
        values: &mut [f64],
        part: DeferredPart<R>,
    ) {
        let m = &self.m;
        let e_pad = m.e_pad;
        let proj = &m.plan.projections[q];
        let (rows, cols) = (proj.rows, proj.cols);
        // The row layout holds x in the input's copy of the coming step, G by step parity.
        let copy = (self.step % m.parities as u64) as usize;
        let x_off = h.x.unwrap_or_else(|| m.z_off(proj.from, copy));
        let at = |buf: &[R], off: usize, inst: usize| -> f64 { buf[off * e_pad + inst].into() };
        let mask = m.plan.masks[q].as_deref();
        for (inst, block) in values.chunks_exact_mut(rows * cols).enumerate() {
            let g = at(s, h.g + copy, inst);
            let x: Vec<f64> = (0..cols).map(|j| at(s, x_off + j, inst)).collect();
            let n = rows * cols;
            let row = |(i, row): (usize, &mut [f64])| match part {
                DeferredPart::Weights => {
                    let d = at(s, h.d + i, inst);
                    match mask {
                        // Absent synapses are +0 (as `Held::weight`).
                        Some(mask) => {
                            let mrow = &mask[inst * n + i * cols..inst * n + (i + 1) * cols];
                            row.iter_mut().zip(&x).zip(mrow).for_each(|((v, xj), mk)| {
                                *v = if *mk == 0.0 { 0.0 } else { *v * g + d * xj }
                            });
                        }
                        None => row
                            .iter_mut()
                            .zip(&x)
                            .for_each(|(v, xj)| *v = *v * g + d * xj),
                    }
                }
                DeferredPart::RuleSums(acc) => {
                    let d = at(acc, h.sum_dw.unwrap_or(0) + i, inst);
                    row.iter_mut().zip(&x).for_each(|(v, xj)| *v += d * xj);
                }
            };
            // A large matrix (one instance of W2's input layer, say) on threads.
            if rows * cols >= 1 << 16 {
                block.par_chunks_exact_mut(cols).enumerate().for_each(row);
            } else {
                block.chunks_exact_mut(cols).enumerate().for_each(row);
            }
        }
    }

    /// Instance 0's trace points of this window, named as the CPU engine names them.
    fn traces(&self, tr: &[R]) -> Vec<TracePoint> {
        let m = &self.m;
        let plan = &m.plan;
        let mut out = Vec::new();
        let end = self.step.min(plan.trace_steps);
        let first = self.window_start.div_ceil(m.trace_every) * m.trace_every;
        let mut n = first;
        while n < end {
            let slot = (n / m.trace_every) as usize * 5;
            let t = n as f64 * plan.dt_s;
            let mut push = |signal: String, k: usize| {
                out.push(TracePoint {
                    time_s: t,
                    signal,
                    value: tr[slot + k].into(),
                })
            };
            push(format!("input {}[0]", plan.populations[plan.input].name), 0);
            if let Some(o) = &plan.output {
                push(format!("output {}[0]", plan.populations[o.output].name), 1);
                push(format!("target {}[0]", plan.populations[o.target].name), 2);
                push(format!("error {}[0]", plan.populations[o.error].name), 3);
            }
            if let Some(motif) = plan.motifs.first() {
                push(
                    format!(
                        "plasticity {}[0,0]",
                        plan.projections[motif.projection].name
                    ),
                    4,
                );
            }
            n += m.trace_every;
        }
        out
    }

    fn freeze_checked(&mut self, instance: usize) -> Result<(), OpenClError> {
        let m = &self.m;
        if instance >= m.e {
            return Ok(());
        }
        let e_pad = m.e_pad;
        let (mut w, mut s) = self.read_state()?;
        // The window keeps what the instance gathered before (as the CPU's freeze does): its
        // rule ΔW sums are spread with the held x before that is zeroed.
        if m.held.iter().flatten().any(|h| h.sum_dw.is_some()) {
            let mut acc = vec![R::default(); m.acc_len * e_pad];
            read(&self.queue, &self.bufs.a, &mut acc)?;
            let copy = (self.step % m.parities as u64) as usize;
            for (q, h) in m.held.iter().enumerate() {
                let (Some(h), Some(ao)) = (h, m.acc_dw[q]) else {
                    continue;
                };
                let Some(sd) = h.sum_dw else { continue };
                let proj = &m.plan.projections[q];
                let x_off = h.x.unwrap_or_else(|| m.z_off(proj.from, copy));
                for i in 0..proj.rows {
                    let si: f64 = acc[(sd + i) * e_pad + instance].into();
                    for j in 0..proj.cols {
                        let x: f64 = s[(x_off + j) * e_pad + instance].into();
                        let k = (ao + i * proj.cols + j) * e_pad + instance;
                        acc[k] = R::of(acc[k].into() + si * x);
                    }
                    acc[(sd + i) * e_pad + instance] = R::default();
                }
            }
            write(&self.queue, &mut self.bufs.a, &acc)?;
        }
        for k in 0..m.w_len {
            w[k * e_pad + instance] = R::default();
        }
        // Everything but the current sample (the task keeps driving a frozen instance).
        for k in 0..m.xcur_off {
            s[k * e_pad + instance] = R::default();
        }
        write(&self.queue, &mut self.bufs.w, &w)?;
        write(&self.queue, &mut self.bufs.s, &s)?;
        for row in m.freeze_rows() {
            self.params[row * e_pad + instance] = 0.0;
        }
        self.frozen[instance] = true;
        let p: Vec<R> = self.params.iter().map(|x| R::of(*x)).collect();
        write(&self.queue, &mut self.bufs.p, &p)
    }
}

impl<R: DeviceReal> OpenClBackend<R> {
    /// Enters phase `phase` at the current step, as the CPU engine does: its parameter rows
    /// (weight rates, θ, decay, weight and population noise, clamps) and the integer rows that
    /// select each instance's task and input scale are rewritten, frozen instances' rows left at
    /// zero; where the phase changes the stimulus (another task, scale or clamp), the sample
    /// held is dropped and the stimulus drawn again for this step (`restimulate`).
    fn enter_phase_checked(&mut self, phase: usize) -> Result<(), OpenClError> {
        if phase == self.phase {
            return Ok(());
        }
        let phases = &self.m.plan.phases;
        let restimulate = !phases[phase]
            .tables
            .same_stimulus(&phases[self.phase].tables);
        self.load_phase(phase)?;
        self.phase = phase;
        if restimulate {
            self.restimulate()?;
        }
        Ok(())
    }

    /// Writes phase `phase`'s parameter and integer rows to the device (padding lanes take
    /// instance 0's values, as at upload).
    fn load_phase(&mut self, phase: usize) -> Result<(), OpenClError> {
        let m = &self.m;
        let e_pad = m.e_pad;
        let freeze = m.freeze_rows();
        for (row, values) in m.phase_params(phase) {
            for l in 0..e_pad {
                let e = if l < m.e { l } else { 0 };
                let frozen = self.frozen[e] && freeze.contains(&row);
                self.params[row * e_pad + l] = if frozen { 0.0 } else { values[e] };
            }
        }
        self.write_longs(phase)?;
        let p: Vec<R> = self.params.iter().map(|x| R::of(*x)).collect();
        write(&self.queue, &mut self.bufs.p, &p)
    }

    /// The integer rows of phase `phase` (which task each instance's stimuli come from).
    fn write_longs(&mut self, phase: usize) -> Result<(), OpenClError> {
        let m = &self.m;
        let e_pad = m.e_pad;
        for (row, values) in m.phase_longs(phase) {
            for l in 0..e_pad {
                self.longs[row * e_pad + l] = values[if l < m.e { l } else { 0 }];
            }
        }
        write(&self.queue, &mut self.bufs.pl, &self.longs)
    }

    /// The stimulus of the current step n drawn again from the phase just entered, as the CPU
    /// engine drops its held sample. The ensemble kernel draws a sample where the one it holds
    /// is not the step's, and its first step of a launch compares every deferred matrix's held
    /// input: forgetting the samples held is enough. The row layout wrote step n's driven
    /// populations, and what step n − 1's update computed from them (products, early
    /// populations, deferred matrices' held input), before the phase began: it draws step n's
    /// sample again (`stim`), drives step n (`drive`) and runs step n − 1's update without its
    /// update (flag 0), which forms those again and writes a deferred matrix whose input
    /// changed — with G of step n, copied first into the copy that launch reads.
    fn restimulate(&mut self) -> Result<(), OpenClError> {
        let n = self.step;
        match &mut self.exec {
            Exec::Ensemble { .. } => {
                write(
                    &self.queue,
                    &mut self.bufs.sample,
                    &vec![u64::MAX; self.m.e_pad],
                )?;
            }
            Exec::Rows {
                program,
                kernels,
                sample,
                ..
            } => {
                let m = &self.m;
                let size = std::mem::size_of::<R>();
                let (now, before) = ((n & 1) as usize, (n.wrapping_sub(1) & 1) as usize);
                let s = self.bufs.s.get();
                for h in m.held.iter().flatten() {
                    // SAFETY: one element of the state arena copied to another of its elements
                    // (within its length, not overlapping), with no wait list; the event is
                    // released when dropped.
                    let event = unsafe {
                        opencl3::command_queue::enqueue_copy_buffer(
                            self.queue.get(),
                            s,
                            s,
                            (h.g + now) * size,
                            (h.g + before) * size,
                            size,
                            0,
                            std::ptr::null(),
                        )
                    }
                    .map_err(|code| {
                        api("clEnqueueCopyBuffer")(opencl3::error_codes::ClError(code))
                    })?;
                    drop(opencl3::event::Event::new(event));
                }
                let run = |name: &str, n: u64, flag: u32, global: usize| {
                    let k = kernels
                        .get(name)
                        .ok_or(OpenClError::Unsupported(format!("no kernel {name}")))?;
                    set_step(k, n, flag)?;
                    launch(&self.queue, k, global, None)
                };
                run("stim", n, 1, 1)?;
                *sample = n / m.plan.timing[0].period_steps;
                run("drive", n, 1, program.drive.global)?;
                if program.fused_any
                    && let Some(update) = program.kernels.iter().find(|k| k.name == "update")
                {
                    // Step n − 1 (wrapping at step 0): the products for step n, no update.
                    run("update", n.wrapping_sub(1), 0, update.global)?;
                }
            }
        }
        Ok(())
    }
}

/// Which deferred quantity `add_held` completes.
#[derive(Clone, Copy)]
enum DeferredPart<'a, R> {
    /// Snapshot weights from the stored W₀.
    Weights,
    /// The window's rule ΔW from its accumulator, with the per-post sums in this arena.
    RuleSums(&'a [R]),
}

fn set_step(kernel: &Kernel, n: u64, flag: u32) -> Result<(), OpenClError> {
    // SAFETY: arguments 13 and 14 of every row kernel are the step and the flag.
    unsafe {
        kernel.set_arg(13, &n).map_err(api("clSetKernelArg"))?;
        kernel.set_arg(14, &flag).map_err(api("clSetKernelArg"))?;
    }
    Ok(())
}

impl<R: DeviceReal> OpenClBackend<R> {
    /// A driver error as the run reports it: which device, at which step, doing what.
    fn failed(&self, operation: &'static str, e: OpenClError) -> BackendError {
        BackendError::Device {
            device: self.device.name.clone(),
            step: self.step,
            operation,
            message: e.to_string(),
        }
    }
}

impl<R: DeviceReal> Backend for OpenClBackend<R> {
    fn describe(&self) -> String {
        self.describe.clone()
    }
    fn precision(&self) -> Precision {
        if R::NAME == "f64" {
            Precision::F64
        } else {
            Precision::F32
        }
    }
    fn device(&self) -> DeviceDescription {
        self.device.clone()
    }
    fn step(&self) -> u64 {
        self.step
    }
    fn advance(&mut self, steps: u64) -> Result<(), BackendError> {
        self.advance_checked(steps)
            .map_err(|e| self.failed("advance", e))
    }
    fn snapshot(&self) -> Result<Snapshot, BackendError> {
        let mut snap = Snapshot::default();
        self.snapshot_into(&mut snap)?;
        Ok(snap)
    }
    fn snapshot_into(&self, snap: &mut Snapshot) -> Result<(), BackendError> {
        self.snapshot_fill(snap)
            .map_err(|e| self.failed("snapshot", e))
    }
    fn take_window(&mut self) -> Result<Window, BackendError> {
        self.take_window_checked()
            .map_err(|e| self.failed("take_window", e))
    }
    fn enter_phase(&mut self, phase: usize) -> Result<(), BackendError> {
        self.enter_phase_checked(phase)
            .map_err(|e| self.failed("enter_phase", e))
    }
    fn freeze(&mut self, instance: usize) -> Result<(), BackendError> {
        self.freeze_checked(instance)
            .map_err(|e| self.failed("freeze", e))
    }
    fn save_state(&self) -> Result<crate::backend::StateImage, BackendError> {
        self.save_checked()
            .map_err(|e| self.failed("save_state", e))
    }
    fn restore_state(&mut self, image: &crate::backend::StateImage) -> Result<(), BackendError> {
        self.restore_checked(image)
    }
    fn set_activities(&mut self, seed: &crate::backend::ActivitySeed) -> Result<(), BackendError> {
        self.set_activities_checked(seed)
    }
}
