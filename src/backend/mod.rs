//! Backends advance a plan in time. The trait is coarse on purpose — load, advance `n` steps,
//! read state, read the recording window — so a device backend can keep everything resident
//! and run many steps per launch.
//!
//! Backends know nothing of files or figures. What they return is plan-level data (f64,
//! instance-major); the measurements in `record` are computed from it the same way for every
//! backend.

pub mod cpu;
pub mod opencl;
mod split;
pub mod state;

use crate::plan::Plan;
pub use state::{StateError, StateImage};

/// What to accumulate over each recording window (decided from the plan's measurements).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Accumulate {
    /// ΔW of the rule, decay and noise excluded (gradient/loss alignment, learning strength).
    pub dw_rule: bool,
    /// ∫ δ_bp xᵀ dt: the update exact backprop would make from the same activities.
    pub backprop: bool,
    /// ∫ u xᵀ dt, the Hebbian direction (Hebbian signature, with the rule's ΔW).
    pub hebbian: bool,
}

impl Accumulate {
    /// The window sums measurement `m` reads, declared once per measurement.
    pub fn needed_by(m: crate::spec::Measure) -> Self {
        use crate::spec::Measure::*;
        let none = Accumulate::default();
        match m {
            Loss | Accuracy | WeightAlignment => none,
            GradientAlignment => Accumulate {
                dw_rule: true,
                backprop: true,
                ..none
            },
            LossAlignment | LearningStrength => Accumulate {
                dw_rule: true,
                ..none
            },
            HebbianSignature => Accumulate {
                dw_rule: true,
                hebbian: true,
                ..none
            },
        }
    }

    /// The sums every measurement the plan records needs (backprop's only where the forward
    /// pathway has an order to propagate through).
    pub fn for_plan(plan: &Plan) -> Self {
        let mut all = plan.measures.iter().fold(Accumulate::default(), |a, &m| {
            a.or(Accumulate::needed_by(m))
        });
        all.backprop &= plan.forward_order.is_some();
        all
    }

    fn or(self, other: Accumulate) -> Accumulate {
        Accumulate {
            dw_rule: self.dw_rule || other.dw_rule,
            backprop: self.backprop || other.backprop,
            hebbian: self.hebbian || other.hebbian,
        }
    }
}

/// State at the end of the last advance, instance-major f64.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub step: u64,
    /// Per projection: `E × rows × cols`.
    pub weights: Vec<Vec<f64>>,
    /// Per population: `E × size`.
    pub u: Vec<Vec<f64>>,
    pub z: Vec<Vec<f64>>,
    /// Per population: its trace q, `E × size` (empty without one).
    pub traces: Vec<Vec<f64>>,
}

/// Activities a run starts from instead of the circuit's own (`--from RUN_DIR --carry
/// activities`), instance-major like a [`Snapshot`]: per population, `E × size` values, or
/// None where the population starts as the circuit says. Set once, before the first step:
/// rate populations' u and z (z = φ(u) as the source computed it), every trace's q;
/// instantaneous and driven populations are recomputed by the first step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActivitySeed {
    pub u: Vec<Option<Vec<f64>>>,
    pub z: Vec<Option<Vec<f64>>>,
    pub q: Vec<Option<Vec<f64>>>,
}

impl ActivitySeed {
    /// The seed of some instances of the plan (`plan` is the whole one; `instances` are
    /// whole-plan indices, in the order of the part's own instances).
    pub fn subset(&self, plan: &Plan, instances: &[usize]) -> ActivitySeed {
        let pick = |tables: &[Option<Vec<f64>>]| -> Vec<Option<Vec<f64>>> {
            tables
                .iter()
                .zip(&plan.populations)
                .map(|(t, pop)| {
                    t.as_ref().map(|v| {
                        instances
                            .iter()
                            .flat_map(|&e| v[e * pop.size..(e + 1) * pop.size].iter().copied())
                            .collect()
                    })
                })
                .collect()
        };
        ActivitySeed {
            u: pick(&self.u),
            z: pick(&self.z),
            q: pick(&self.q),
        }
    }

    /// Refuses a seed that does not fit `plan` (another population count or table length).
    pub fn check(&self, plan: &Plan) -> Result<(), StateError> {
        let e = plan.n_instances();
        for (what, tables) in [("u", &self.u), ("z", &self.z), ("q", &self.q)] {
            if tables.len() != plan.populations.len() {
                return Err(StateError(format!(
                    "carried activities: {} tables of {what}, {} populations",
                    tables.len(),
                    plan.populations.len()
                )));
            }
            for (t, pop) in tables.iter().zip(&plan.populations) {
                if let Some(v) = t
                    && v.len() != e * pop.size
                {
                    return Err(StateError(format!(
                        "carried activities: {} values of {what} for `{}`, which has {e} × {}",
                        v.len(),
                        pop.name,
                        pop.size
                    )));
                }
                if what == "q" && t.is_some() && pop.trace.is_none() {
                    return Err(StateError(format!(
                        "carried activities: a trace for `{}`, which has none",
                        pop.name
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Window accumulators of one projection, each `E × rows × cols` (empty when not accumulated).
#[derive(Clone, Debug, Default)]
pub struct ProjectionWindow {
    /// ∫ Σ_k θ_k term_k dt / τ_w: the rule's own update, decay and weight noise excluded.
    pub dw_rule: Vec<f64>,
    pub backprop: Vec<f64>,
    /// ∫ u xᵀ dt (post potential times pre rate).
    pub u_x: Vec<f64>,
}

/// One sampled value of an activity trace (instance 0).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TracePoint {
    pub time_s: f64,
    pub signal: String,
    pub value: f64,
}

/// What happened since the last `take_window`.
#[derive(Clone, Debug, Default)]
pub struct Window {
    pub steps: u64,
    /// Per instance: ∫ ½‖y* − y‖² dt over the time a stimulus was shown.
    pub loss_integral: Vec<f64>,
    /// Per instance: time a stimulus was shown (s).
    pub present_s: Vec<f64>,
    /// Per instance: time the output's largest unit matched the target's (s).
    pub correct_s: Vec<f64>,
    /// Per projection (empty for projections that do not learn).
    pub projections: Vec<ProjectionWindow>,
    pub traces: Vec<TracePoint>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    pub fn parse(text: &str) -> Option<Precision> {
        match text {
            "f32" => Some(Precision::F32),
            "f64" => Some(Precision::F64),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

/// Which backend a run asks for. `Auto` takes OpenCL where a device is present and falls back
/// to the CPU (saying so) where none is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    #[default]
    Auto,
    Cpu,
    #[serde(rename = "opencl")]
    OpenCl,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Auto => "auto",
            BackendKind::Cpu => "cpu",
            BackendKind::OpenCl => "opencl",
        }
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(BackendKind::Auto),
            "cpu" => Ok(BackendKind::Cpu),
            "opencl" => Ok(BackendKind::OpenCl),
            other => Err(format!(
                "the backend must be auto, cpu or opencl, not `{other}`"
            )),
        }
    }
}

/// What a backend runs on, for the manifest.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceDescription {
    /// `cpu` or `opencl` (never `auto`: this is what was chosen).
    pub kind: BackendKind,
    /// The CPU model, or the OpenCL device's name.
    pub name: String,
    /// The OpenCL platform and its version (none on the CPU).
    pub platform: Option<String>,
    /// The OpenCL driver version (none on the CPU).
    pub driver_version: Option<String>,
}

/// Why a backend cannot be made, or failed while running.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("no OpenCL backend: {0}")]
    Unavailable(#[from] opencl::OpenClError),
    /// A protocol phase changes something this backend cannot change mid-run.
    #[error("{0}")]
    Phase(String),
    /// A device that failed mid-run (lost, out of resources): the run stops here.
    #[error("the device {device} failed at step {step} ({operation}): {message}")]
    Device {
        device: String,
        step: u64,
        operation: &'static str,
        message: String,
    },
    /// A state image that does not fit this backend (another plan, layout or precision).
    #[error("cannot restore the state: {0}")]
    State(#[from] StateError),
}

/// A backend, and the note to report when `auto` fell back to the CPU.
pub struct Made {
    pub backend: Box<dyn Backend>,
    pub fallback: Option<String>,
}

/// What a backend takes from the settings (`settings`) besides its kind and precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The vector level of the CPU engine and of the host's work beside a device.
    pub simd: crate::simd::Simd,
    pub opencl: opencl::Options,
}

impl Default for Options {
    /// The automatic vector level and OpenCL's defaults.
    fn default() -> Options {
        Options {
            simd: crate::simd::Simd::auto(),
            opencl: opencl::Options::default(),
        }
    }
}

/// The backend of `kind` for `plan`, with `options`. Without a precision, the CPU runs f64 (the
/// reference) and OpenCL devices f32. Instances that would integrate differently alone
/// (`Plan::deferral_groups`) run as separate parts of one backend (`split`).
pub fn make(
    plan: std::sync::Arc<Plan>,
    kind: BackendKind,
    precision: Option<Precision>,
    options: &Options,
) -> Result<Made, BackendError> {
    let (mut kind, mut fallback) = (kind, None);
    let backend = by_deferral_groups(plan, |part| {
        let made = make_whole(part, kind, precision, options)?;
        if made.fallback.is_some() {
            // `auto` fell back for the first part: the others follow it to the CPU.
            kind = BackendKind::Cpu;
            fallback = made.fallback;
        }
        Ok(made.backend)
    })?;
    Ok(Made { backend, fallback })
}

/// `plan` on backends from `make_part`: one for the whole plan when its instances all integrate
/// alike, else one per group of `Plan::deferral_groups`, stitched together by `split`.
pub fn by_deferral_groups(
    plan: std::sync::Arc<Plan>,
    make_part: impl FnMut(std::sync::Arc<Plan>) -> Result<Box<dyn Backend>, BackendError>,
) -> Result<Box<dyn Backend>, BackendError> {
    let mut make_part = make_part;
    let groups = plan.deferral_groups();
    if groups.len() == 1 {
        return make_part(plan);
    }
    Ok(Box::new(split::Split::new(plan, groups, make_part)?))
}

/// The backend of `kind` for the whole of `plan`.
fn make_whole(
    plan: std::sync::Arc<Plan>,
    kind: BackendKind,
    precision: Option<Precision>,
    options: &Options,
) -> Result<Made, BackendError> {
    let cpu_precision = precision.unwrap_or(Precision::F64);
    let device_precision = precision.unwrap_or(Precision::F32);
    match kind {
        BackendKind::Cpu => Ok(Made {
            backend: cpu::with_simd(plan, cpu_precision, options.simd),
            fallback: None,
        }),
        BackendKind::OpenCl => Ok(Made {
            backend: opencl::with_options(plan, device_precision, &options.opencl)?.0,
            fallback: None,
        }),
        BackendKind::Auto => {
            match opencl::with_options(plan.clone(), device_precision, &options.opencl) {
                Ok((backend, _)) => Ok(Made {
                    backend,
                    fallback: None,
                }),
                Err(reason) => Ok(Made {
                    backend: cpu::with_simd(plan, cpu_precision, options.simd),
                    fallback: Some(format!("no OpenCL device ({reason}); running on the CPU")),
                }),
            }
        }
    }
}

pub trait Backend: Send {
    /// e.g. "cpu (f64, 8 lanes, 2 threads, avx2)".
    fn describe(&self) -> String;
    fn precision(&self) -> Precision;
    fn device(&self) -> DeviceDescription;
    /// Steps taken so far.
    fn step(&self) -> u64;
    /// Advances every instance by `steps` steps.
    fn advance(&mut self, steps: u64) -> Result<(), BackendError>;
    fn snapshot(&self) -> Result<Snapshot, BackendError>;
    /// The same state written into `snap`, reusing its buffers: a large circuit's weights are
    /// megabytes, and allocating and zeroing them afresh every window cost as much as
    /// writing them. Every entry is overwritten.
    fn snapshot_into(&self, snap: &mut Snapshot) -> Result<(), BackendError> {
        *snap = self.snapshot()?;
        Ok(())
    }
    /// Returns and clears the window accumulators.
    fn take_window(&mut self) -> Result<Window, BackendError>;
    /// Runs the steps that follow with protocol phase `phase`'s tables (`plan.phases`); the
    /// state (activities, weights, traces, delay rings, window accumulators, random streams)
    /// carries over as it is. Entering the phase already loaded changes nothing, so a backend
    /// restored at step n may enter `plan.phase_at(n)` and go on as the uninterrupted run did.
    fn enter_phase(&mut self, phase: usize) -> Result<(), BackendError>;
    /// Stops an instance that diverged: its state is zeroed and it no longer learns, so the
    /// rest of the ensemble runs on unaffected.
    fn freeze(&mut self, instance: usize) -> Result<(), BackendError>;
    /// The complete state: everything the next step reads (activities, weights, traces, delay
    /// rings, deferred updates, window accumulators, frozen instances, the step, which keys
    /// every random stream).
    fn save_state(&self) -> Result<StateImage, BackendError>;
    /// Puts back a state saved by a backend of the same plan, layout and precision: the next
    /// steps are those the saving backend would have taken.
    fn restore_state(&mut self, image: &StateImage) -> Result<(), BackendError>;
    /// Sets the activities the next step starts from (`ActivitySeed`), before the first
    /// step; the rest of the state stays as it is.
    fn set_activities(&mut self, seed: &ActivitySeed) -> Result<(), BackendError> {
        let _ = seed;
        Err(BackendError::State(StateError(format!(
            "{} cannot start from carried activities",
            self.describe()
        ))))
    }
}
