//! Running experiments: the one way `run`, `compare`, `rerun` (and sweeps and evolution after
//! them) turn a request into an ensemble run with its results.
//!
//! A [`Request`] says what to run — a circuit source with overrides, a [`Design`] (`run` or
//! `compare`), seeds, a backend kind and precision, and an [`Output`] policy. [`Request::prepare`]
//! validates all of it once, in one place, into a [`Prepared`] run: the plan is built, the
//! backend made, the run directory claimed and the manifest written. [`Prepared::execute`] then
//! runs the loop of [`crate::run`] into the sinks (the run directory or an in-memory
//! [`Collector`], and the summary statistics), reporting progress to an observer and stopping
//! early when a stop flag is set. Nothing here prints; the CLI does.

pub mod design;
pub mod from;
pub mod output;
pub mod replay;
pub mod resume;
pub mod summary;
pub mod threads;

pub use design::Design;
pub use output::Output;
pub use threads::Threads;

use crate::backend::{self, Backend, BackendError, BackendKind, Precision};
use crate::circuit::budget::Budget;
use crate::plan::{Plan, PlanError};
use crate::record::manifest::{InputFile, Provenance, Replay, sha256_hex};
use crate::record::{Collector, Manifest, RecordError, Recorder, Sink, Status, Tee, unix_now};
use crate::run::{Observer, RunError, RunOutcome};
use crate::spec::{self, Diagnostics, SourceFile, Time};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use summary::{Summarizer, Summary};

/// Why an experiment could not be prepared or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The circuit file is malformed or means nothing runnable (every error, located).
    #[error("{0}")]
    Input(Diagnostics),
    /// A request that cannot be run as asked (an override, a rule list, a seed count).
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error("{0}")]
    Backend(#[from] BackendError),
    #[error(
        "the run directory {0} exists and is not empty; choose another --out, or pass --replace to overwrite that run"
    )]
    OutputExists(PathBuf),
    #[error("{0}")]
    Record(#[from] RecordError),
    #[error("{0}")]
    Run(#[from] RunError),
}

impl ExperimentError {
    /// Whether the request was at fault (exit 2) rather than the run (exit 1).
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            ExperimentError::Record(_)
                | ExperimentError::Run(_)
                | ExperimentError::Backend(BackendError::Device { .. })
        )
    }
}

/// A circuit file as the request names it, with the command line's changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CircuitSource {
    /// The file's path (used in messages and to resolve relative data paths).
    pub path: PathBuf,
    /// The file's text; None reads `path`.
    pub text: Option<String>,
    /// Where relative data paths resolve; None: the file's folder.
    pub base_dir: Option<PathBuf>,
    /// `--set PATH=VALUE` overrides, applied in order.
    pub sets: Vec<(String, String)>,
    /// Overrides `time.duration` (e.g. `20s`).
    pub duration: Option<String>,
}

impl CircuitSource {
    pub fn file(path: impl Into<PathBuf>) -> CircuitSource {
        CircuitSource {
            path: path.into(),
            ..CircuitSource::default()
        }
    }

    /// The circuit a sweep or evolution file names (relative to that file), with the file's
    /// `set:` overrides (`"PATH=VALUE"` each).
    pub fn named_by(
        config: &Path,
        circuit: &str,
        sets: &[String],
    ) -> Result<CircuitSource, ExperimentError> {
        let folder = config.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(CircuitSource {
            path: folder.join(circuit),
            sets: sets
                .iter()
                .map(|s| parse_set(s))
                .collect::<Result<Vec<_>, _>>()?,
            ..CircuitSource::default()
        })
    }

    fn base_dir(&self) -> PathBuf {
        self.base_dir.clone().unwrap_or_else(|| {
            self.path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        })
    }

    /// The source file and its spec with the overrides applied.
    pub fn load(&self) -> Result<(SourceFile, spec::CircuitSpec), ExperimentError> {
        let (source, spec) = match &self.text {
            Some(text) => {
                let source = SourceFile::from_text(&self.path, text.clone());
                let spec = spec::parse_circuit(&source).map_err(ExperimentError::Input)?;
                (source, spec)
            }
            None => spec::load_circuit(&self.path).map_err(ExperimentError::Input)?,
        };
        let mut spec = spec::apply_overrides(&spec, &self.sets).map_err(ExperimentError::Usage)?;
        if let Some(d) = &self.duration {
            spec.time.duration =
                Time::parse(d).map_err(|e| ExperimentError::Usage(format!("--duration: {e}")))?;
        }
        Ok((source, spec))
    }
}

/// Parses `PATH=VALUE` (the CLI's `--set`).
pub fn parse_set(text: &str) -> Result<(String, String), ExperimentError> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| ExperimentError::Usage(format!("--set needs PATH=VALUE, got `{text}`")))?;
    Ok((key.trim().to_string(), value.trim().to_string()))
}

/// Everything an experiment needs, as asked.
#[derive(Clone, Debug)]
pub struct Request {
    pub circuit: CircuitSource,
    pub design: Design,
    /// Instances per circuit of the design (seeds `first_seed`, `first_seed + 1`, …).
    pub seeds: usize,
    pub first_seed: u64,
    pub backend: BackendKind,
    /// None: f64 on the CPU (the reference), f32 on OpenCL devices.
    pub precision: Option<Precision>,
    /// The vector level and the OpenCL options (`settings`).
    pub backend_options: backend::Options,
    /// The memory budget its circuits, saved weights and tables are checked against
    /// (`settings`).
    pub budget: Budget,
    pub output: Output,
    /// The command line that made the request, for the manifest (empty: none).
    pub command_line: Vec<String>,
    /// The threads the run's parallel work uses (default: rayon's global pool).
    pub threads: Threads,
    /// Simulated time between checkpoints (e.g. `10 s`), a multiple of the recording
    /// interval; None: no checkpoints.
    pub checkpoint_every: Option<String>,
    /// `--from RUN_DIR[@TIME]`: the plastic weights start from those that run saved at TIME
    /// (default: the latest), instance k from its instance k.
    pub from: Option<String>,
    /// `--carry activities`: the activities (rate populations' u and z, traces' q) start from
    /// the `--from` run's checkpoint too, which must be at its TIME; the weights then come from
    /// that checkpoint.
    pub carry_activities: bool,
}

impl Request {
    /// A `run` of one seed on the CPU into memory: the simplest request, to adjust.
    pub fn new(circuit: CircuitSource) -> Request {
        Request {
            circuit,
            design: Design::Run,
            seeds: 1,
            first_seed: 1,
            backend: BackendKind::Cpu,
            precision: None,
            backend_options: backend::Options::default(),
            budget: Budget::default(),
            output: Output::Memory,
            command_line: Vec::new(),
            threads: Threads::DEFAULT,
            checkpoint_every: None,
            from: None,
            carry_activities: false,
        }
    }

    /// Validates the request and readies the run: plan, backend, run directory, manifest.
    pub fn prepare(self) -> Result<Prepared, ExperimentError> {
        let built = self.build()?;
        let Built {
            plan,
            backend,
            notes,
            warnings,
            manifest,
            pool,
            checkpoint_steps,
        } = built;
        let mut lock = None;
        let target = match &self.output {
            Output::Memory => Target::Memory(Collector::default()),
            Output::Directory { path, replace, .. } => {
                let dir = path
                    .clone()
                    .unwrap_or_else(|| output::default_dir(&plan.name));
                // Held until the run is finished: no other process writes this directory.
                lock = Some(output::claim_locked(&dir, output::DirKind::Run, *replace)?);
                Target::Directory(Box::new(Recorder::create(&dir, &plan, manifest.clone())?))
            }
        };
        let checkpoints = match (&target, checkpoint_steps) {
            (Target::Directory(r), Some(every)) => Some(resume::RunCheckpoints::new(
                r.dir(),
                every,
                resume::identity(&manifest),
            )),
            (Target::Memory(_), Some(_)) if self.checkpoint_every.is_some() => {
                return Err(ExperimentError::Usage(
                    "checkpoints are written into a run directory; this run writes none".into(),
                ));
            }
            _ => None,
        };
        Ok(Prepared {
            plan,
            backend,
            target,
            manifest,
            design: self.design,
            notes,
            warnings,
            pool,
            simd: self.backend_options.simd,
            _lock: lock,
            checkpoints,
            resumed_sinks: None,
        })
    }

    /// Everything `prepare` validates and makes before it touches an output directory.
    fn build(&self) -> Result<Built, ExperimentError> {
        if self.seeds == 0 {
            return Err(ExperimentError::Usage("--seeds must be at least 1".into()));
        }
        // Seeds are `first_seed`, `first_seed + 1`, …: the last must be a seed too, not wrap to 0.
        if self.first_seed.checked_add(self.seeds as u64 - 1).is_none() {
            return Err(ExperimentError::Usage(format!(
                "--seed {} with --seeds {}: the last seed would be past the largest seed, 2^64 − 1",
                self.first_seed, self.seeds
            )));
        }
        let (source, spec) = self.circuit.load()?;
        let (mut circuits, mut notes) =
            design::circuits(&self.design, &source, &spec, &self.budget)?;
        let state = match (&self.from, self.carry_activities) {
            (Some(from), true) => {
                Some(from::read_state(from, &self.backend_options, &self.budget)?)
            }
            (None, true) => {
                return Err(ExperimentError::Usage(
                    "--carry activities needs --from RUN_DIR[@TIME]: the run whose checkpoint they come from".into(),
                ));
            }
            _ => None,
        };
        if let Some(from) = &self.from {
            notes.push(from::start_from(
                &mut circuits,
                from,
                state.as_ref(),
                &self.budget,
            )?);
        }
        let mut warnings = Vec::new();
        for (_, c) in &circuits {
            for w in &c.warnings {
                let text = w.to_string();
                if !warnings.contains(&text) {
                    warnings.push(text);
                }
            }
        }
        // Refuse what would exhaust memory before anything is allocated (`--seeds 1000000`).
        let budget = self.budget.bytes().map_err(ExperimentError::Usage)?;
        let total = circuits.len().checked_mul(self.seeds).ok_or_else(|| {
            ExperimentError::Usage(format!(
                "{} circuits × {} seeds is more instances than this machine can count",
                circuits.len(),
                self.seeds
            ))
        })?;
        for (_, c) in &circuits {
            crate::circuit::budget::check_instances(c, total, &budget, &self.budget)
                .map_err(ExperimentError::Usage)?;
        }
        let instances = design::instances(&circuits, self.seeds, self.first_seed);
        let base_dir = self.circuit.base_dir();
        let plan = Arc::new(Plan::within(&instances, &base_dir, &self.budget)?);
        let pool = self
            .threads
            .pool()
            .map_err(|e| ExperimentError::Usage(format!("--threads: {e}")))?;
        // Made in the pool it will run in: the CPU backend sizes its work by the pool's threads.
        let mut made = pool.install(|| {
            backend::make(
                plan.clone(),
                self.backend,
                self.precision,
                &self.backend_options,
            )
        })?;
        notes.extend(made.fallback.clone());
        // Carried activities are set once, before the first step.
        let mut state_source = None;
        if let (Some(state), Some(from)) = (&state, &self.from) {
            let (seed, source, note) = from::activity_seed(&plan, state, from)?;
            made.backend.set_activities(&seed)?;
            notes.push(note);
            state_source = Some(source);
        }
        if plan.method == crate::spec::Method::Rk4 {
            notes.push("rk4: window accumulators (ΔW of the rule, Hebbian terms) use the first stage of each step".into());
        }
        // `--checkpoint-every`, else the circuit's `record.checkpoints` (checked with it).
        let checkpoint_steps = match self.checkpoint_every.as_deref() {
            Some(text) => {
                Some(resume::checkpoint_steps(&plan, text).map_err(ExperimentError::Usage)?)
            }
            None => spec.record.checkpoints.as_ref().map(|cp| {
                ((cp.every.seconds() / plan.dt_s).round() as u64).max(plan.record_every_steps)
            }),
        };
        let mut manifest = manifest(
            self,
            &source,
            &plan,
            made.backend.as_ref(),
            &notes,
            &base_dir,
        );
        manifest.state_source = state_source;
        Ok(Built {
            plan,
            backend: made.backend,
            notes,
            warnings,
            manifest,
            pool,
            checkpoint_steps,
        })
    }
}

/// A request validated and made, before its output is claimed.
struct Built {
    plan: Arc<Plan>,
    backend: Box<dyn Backend>,
    notes: Vec<String>,
    warnings: Vec<String>,
    manifest: Manifest,
    pool: threads::Pool,
    checkpoint_steps: Option<u64>,
}

/// The provenance, parameters and replay record of a run about to start.
fn manifest(
    request: &Request,
    source: &SourceFile,
    plan: &Plan,
    backend: &dyn Backend,
    notes: &[String],
    base_dir: &Path,
) -> Manifest {
    let mut inputs = vec![InputFile {
        role: "circuit".into(),
        path: source.path.display().to_string(),
        sha256: sha256_hex(source.text.as_bytes()),
    }];
    for c in &plan.circuits {
        let Some(rel) = c.spec.task.source.csv_path() else {
            continue;
        };
        let path = base_dir.join(rel);
        let shown = path.display().to_string();
        if inputs.iter().any(|i| i.path == shown) {
            continue;
        }
        if let Ok(bytes) = std::fs::read(&path) {
            inputs.push(InputFile {
                role: "data".into(),
                path: shown,
                sha256: sha256_hex(&bytes),
            });
        }
    }
    // Edge files (`connectivity: {file}`), hashed when the circuit was checked.
    for p in plan.circuits.iter().flat_map(|c| &c.projections) {
        if let crate::circuit::connectivity::Wiring::Edges(f) = &p.wiring {
            let shown = f.path.display().to_string();
            if !inputs.iter().any(|i| i.path == shown) {
                inputs.push(InputFile {
                    role: "data".into(),
                    path: shown,
                    sha256: f.sha256.clone(),
                });
            }
        }
    }
    let provenance = Provenance::of_this_process(&request.command_line);
    let absolute_base = std::path::absolute(base_dir).unwrap_or_else(|_| base_dir.to_path_buf());
    Manifest {
        circuit_file: Some(source.path.display().to_string()),
        overrides: request
            .circuit
            .sets
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        inputs,
        replay: Some(Replay {
            design: request.design.name().into(),
            rules: match &request.design {
                Design::Run => Vec::new(),
                Design::Compare { rules } => rules.iter().map(|r| r.name().to_string()).collect(),
            },
            seeds: request.seeds,
            first_seed: request.first_seed,
            backend: request.backend,
            precision: request.precision,
            circuit_path: source.path.display().to_string(),
            circuit_text: source.text.clone(),
            base_dir: absolute_base.display().to_string(),
            sets: request.circuit.sets.clone(),
            duration: request.circuit.duration.clone(),
            checkpoint_every: request.checkpoint_every.clone(),
            from: request.from.as_deref().map(from::absolute_from),
            carry_activities: request.carry_activities,
        }),
        ..ensemble_manifest(plan, backend, notes, provenance)
    }
}

/// The manifest of an ensemble run about to start, from the plan, the backend and the
/// process alone (no circuit file, overrides, inputs or replay record: the caller adds what it
/// has). Sweeps write one per ensemble.
pub fn ensemble_manifest(
    plan: &Plan,
    backend: &dyn Backend,
    notes: &[String],
    provenance: Provenance,
) -> Manifest {
    let mut labels: Vec<String> = Vec::new();
    for l in &plan.labels {
        if !labels.contains(l) {
            labels.push(l.clone());
        }
    }
    let mut circuits = std::collections::BTreeMap::new();
    for (label, c) in plan.labels.iter().zip(&plan.circuits) {
        circuits
            .entry(label.clone())
            .or_insert_with(|| spec::to_yaml(&c.spec));
    }
    Manifest {
        hetsim_version: env!("CARGO_PKG_VERSION").into(),
        circuit: plan.name.clone(),
        circuit_file: None,
        command: provenance.command_line.clone(),
        status: Status::Running,
        status_reason: None,
        time_reached_s: None,
        backend: backend.describe(),
        device: backend.device(),
        precision: backend.precision(),
        method: plan.method.name().into(),
        dt_s: plan.dt_s,
        duration_s: plan.steps as f64 * plan.dt_s,
        steps: plan.steps,
        record_every_s: plan.record_every_steps as f64 * plan.dt_s,
        measures: plan
            .measures
            .iter()
            .map(|m| crate::plan::measure_name(*m))
            .collect(),
        instances: plan.n_instances(),
        seeds: plan.seeds.clone(),
        rules: labels,
        started_unix_s: unix_now(),
        ended_unix_s: None,
        wall_s: None,
        synapse_steps_per_s: None,
        peak_rss_bytes: None,
        notes: notes.to_vec(),
        failures: Vec::new(),
        circuits,
        overrides: Vec::new(),
        provenance,
        inputs: Vec::new(),
        replay: None,
        resumes: Vec::new(),
        weight_sources: from::weight_sources(plan),
        state_source: None,
    }
}

/// One per run, so its size does not matter; the recorder is boxed for clippy's sake.
#[allow(clippy::large_enum_variant)]
enum Target {
    Directory(Box<Recorder>),
    Memory(Collector),
}

/// A validated run, ready to execute.
pub struct Prepared {
    plan: Arc<Plan>,
    backend: Box<dyn Backend>,
    target: Target,
    manifest: Manifest,
    design: Design,
    /// Things the user should know (a fallback to the CPU, a default chosen for them).
    pub notes: Vec<String>,
    /// The circuit checks' warnings, located.
    pub warnings: Vec<String>,
    /// Where the run's parallel work goes.
    pool: threads::Pool,
    /// The vector level of the host's own products (`settings`).
    simd: crate::simd::Simd,
    /// The run directory's lock, held while the run writes it.
    _lock: Option<output::DirLock>,
    /// Where and when the run saves its state, and where a resumed run starts.
    checkpoints: Option<resume::RunCheckpoints>,
    /// A resumed run's sinks as its checkpoint left them (the summary's sums).
    resumed_sinks: Option<serde_json::Value>,
}

/// A finished (or stopped) run.
pub struct Finished {
    pub outcome: RunOutcome,
    pub plan: Arc<Plan>,
    /// The run directory, when the output was one.
    pub dir: Option<PathBuf>,
    /// Everything the run produced, when the output was memory.
    pub collected: Option<Collector>,
    pub summary: Summary,
    /// The figure files drawn, or why none were; the run layer draws none (None), the caller
    /// may (`crate::drawing::run`).
    pub figures: Option<Result<Vec<PathBuf>, String>>,
    pub manifest: Manifest,
}

impl Prepared {
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }
    pub fn backend_description(&self) -> String {
        self.backend.describe()
    }
    pub fn dir(&self) -> Option<&Path> {
        match &self.target {
            Target::Directory(r) => Some(r.dir()),
            Target::Memory(_) => None,
        }
    }
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// The simulated time a resumed run continues from (None: it starts at 0).
    pub fn resumed_from_s(&self) -> Option<f64> {
        use crate::run::Checkpoints;
        let point = self.checkpoints.as_ref()?.resumed_from()?;
        Some(point.step as f64 * self.plan.dt_s)
    }

    /// Runs on another backend than the one the request chose (tests inject faults this way).
    pub fn with_backend(mut self, make: impl FnOnce(Arc<Plan>) -> Box<dyn Backend>) -> Self {
        self.backend = make(self.plan.clone());
        self
    }

    /// Runs to the end, to a stop request, or to the divergence of every instance. The loop
    /// runs in the request's thread pool, so the observer is called from one of its threads.
    pub fn execute(
        mut self,
        observer: &mut (dyn Observer + Send),
        stop: Option<&AtomicBool>,
    ) -> Result<Finished, ExperimentError> {
        let mut summarizer = Summarizer::new(&self.plan);
        if let Some(saved) = self.resumed_sinks.as_ref().map(|s| &s["second"]) {
            summarizer.restore(saved).map_err(|e| {
                ExperimentError::Usage(format!("the checkpoint cannot be resumed: {e}"))
            })?;
        }
        let (plan, backend, target) = (&self.plan, self.backend.as_mut(), &mut self.target);
        let simd = self.simd;
        let checkpoints = self
            .checkpoints
            .as_mut()
            .map(|c| c as &mut (dyn crate::run::Checkpoints + Send));
        let outcome = self.pool.install(|| {
            let sink: &mut dyn Sink = match target {
                Target::Directory(r) => r.as_mut(),
                Target::Memory(c) => c,
            };
            let mut tee = Tee {
                first: sink,
                second: &mut summarizer,
            };
            let checkpoints = checkpoints.map(|c| c as &mut dyn crate::run::Checkpoints);
            crate::run::execute_checkpointed(
                plan,
                backend,
                simd,
                &mut tee,
                observer,
                stop,
                checkpoints,
            )
        })?;
        let summary = summarizer
            .summary()
            .with_backend(self.backend.describe(), self.backend.precision());
        let (dir, collected, manifest) = match self.target {
            Target::Directory(r) => (Some(r.dir().to_path_buf()), None, r.manifest.clone()),
            Target::Memory(c) => {
                let mut m = self.manifest.clone();
                if let Some(end) = &c.ending {
                    m.status = end.status;
                    m.status_reason = end.reason.clone();
                    m.time_reached_s = Some(end.time_reached_s);
                    m.failures = end.failures.clone();
                    m.wall_s = Some(end.wall_s);
                }
                (None, Some(c), m)
            }
        };
        if let Some(dir) = &dir
            && matches!(self.design, Design::Compare { .. })
        {
            summary.write_csv(&dir.join("compare.csv"))?;
        }
        Ok(Finished {
            outcome,
            plan: self.plan,
            dir,
            collected,
            summary,
            figures: None,
            manifest,
        })
    }
}
