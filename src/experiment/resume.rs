//! Checkpoints of a run and `hetsim run --resume`: the state saved at chosen window ends into
//! `checkpoint/state` of the run directory (only the newest, replaced atomically), and a run
//! continued from there — its tables cut back to the checkpoint's lengths, its summary sums
//! taken back, its backend restored — so that the finished tables are those of an
//! uninterrupted run, byte for byte (same backend and precision).

use super::{ExperimentError, Output, Prepared, Request, Target, Threads, output};
use crate::plan::Plan;
use crate::record::checkpoint::{self, Identity};
use crate::record::manifest::{Resume, sha256_hex};
use crate::record::{Manifest, Recorder, Status, unix_now};
use crate::run::{Checkpoints, LoopPoint, RunError};
use crate::spec::Time;
use std::path::{Path, PathBuf};

/// Where a run directory keeps its newest checkpoint.
pub fn checkpoint_path(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint").join("state")
}

/// The checkpoint interval in steps: positive, on the step grid and a whole number of
/// recording intervals (checkpoints are taken at window ends).
pub fn checkpoint_steps(plan: &Plan, text: &str) -> Result<u64, String> {
    let what = format!("--checkpoint-every {text}");
    let t = Time::parse(text).map_err(|e| format!("{what}: {e}"))?;
    let seconds = t.seconds();
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(format!("{what}: the interval must be positive"));
    }
    let steps = (seconds / plan.dt_s).round();
    if (steps * plan.dt_s - seconds).abs() > 1e-9 * seconds.max(plan.dt_s) {
        return Err(format!(
            "{what}: not a whole number of steps (dt = {} s)",
            plan.dt_s
        ));
    }
    let steps = steps as u64;
    let every = plan.record_every_steps;
    if !steps.is_multiple_of(every) {
        return Err(format!(
            "{what}: not a multiple of the recording interval record.every = {} s (checkpoints are taken at window ends)",
            every as f64 * plan.dt_s
        ));
    }
    Ok(steps)
}

/// What a checkpoint must agree with to be resumed: the build, the circuits as they ran
/// (expanded, overrides and duration applied), the seeds, the backend, device and precision.
pub fn identity(manifest: &Manifest) -> Identity {
    let circuits = serde_json::to_string(&manifest.circuits).unwrap_or_default();
    Identity::from([
        ("hetsim".into(), manifest.hetsim_version.clone()),
        ("build".into(), manifest.provenance.git_commit.clone()),
        ("circuits (SHA-256)".into(), sha256_hex(circuits.as_bytes())),
        ("seeds".into(), format!("{:?}", manifest.seeds)),
        ("steps".into(), manifest.steps.to_string()),
        ("backend".into(), manifest.device.kind.name().into()),
        ("device".into(), manifest.device.name.clone()),
        ("precision".into(), manifest.precision.name().into()),
    ])
}

/// A run directory's checkpoints: saved every `every` steps, each replacing the last.
pub struct RunCheckpoints {
    path: PathBuf,
    every: u64,
    identity: Identity,
    resumed: Option<LoopPoint>,
}

impl RunCheckpoints {
    pub fn new(run_dir: &Path, every: u64, identity: Identity) -> RunCheckpoints {
        RunCheckpoints {
            path: checkpoint_path(run_dir),
            every,
            identity,
            resumed: None,
        }
    }
}

impl Checkpoints for RunCheckpoints {
    fn due(&self, step: u64) -> bool {
        step.is_multiple_of(self.every)
    }

    fn save(
        &mut self,
        image: &crate::backend::StateImage,
        point: &LoopPoint,
        sinks: serde_json::Value,
    ) -> Result<(), RunError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| RunError::Checkpoint(format!("{}: {e}", dir.display())))?;
        }
        let run = serde_json::json!({ "loop": point, "sinks": sinks });
        checkpoint::write(&self.path, image, &self.identity, run)
            .map_err(|e| RunError::Checkpoint(e.to_string()))
    }

    fn resumed_from(&self) -> Option<LoopPoint> {
        self.resumed.clone()
    }
}

impl Request {
    /// `hetsim run --resume RUN_DIR`: the run recorded in `run_dir`, readied to continue from
    /// its newest checkpoint. Refused (naming the directory and the reason) when it is not a
    /// run directory, its run completed, it has no checkpoint, or the checkpoint belongs to
    /// another circuit, build, backend, device or precision than the manifest replays here.
    /// `threads`, `backend_options` and `budget` say how this machine runs it.
    pub fn resume(
        run_dir: &Path,
        command_line: Vec<String>,
        threads: Threads,
        backend_options: crate::backend::Options,
        budget: crate::circuit::budget::Budget,
    ) -> Result<Prepared, ExperimentError> {
        let shown = run_dir.display();
        let refuse = |why: String| ExperimentError::Usage(format!("cannot resume {shown}: {why}"));
        if !run_dir.is_dir() {
            return Err(refuse("no such directory".into()));
        }
        output::check_marked(run_dir, output::DirKind::Run)
            .map_err(|e| refuse(format!("not a hetsim run directory ({e})")))?;
        let old = super::replay::read_manifest(run_dir)?;
        if matches!(
            old.status,
            Status::Completed | Status::CompletedWithFailures
        ) {
            return Err(refuse(format!(
                "the run {}; there is nothing to continue",
                match old.status {
                    Status::Completed => "completed",
                    _ => "completed (with failures)",
                }
            )));
        }
        let path = checkpoint_path(run_dir);
        if !path.exists() {
            return Err(refuse(format!(
                "it has no checkpoint ({} is missing: the run had no --checkpoint-every, or stopped before its first checkpoint)",
                path.display()
            )));
        }
        let saved = checkpoint::read(&path).map_err(|e| refuse(e.to_string()))?;
        let mut request = super::replay::request_from_run(
            run_dir,
            Output::Directory {
                path: Some(run_dir.to_path_buf()),
                replace: false,
            },
            command_line,
        )?;
        request.threads = threads;
        request.backend_options = backend_options;
        request.budget = budget;
        let mut built = request.build()?;
        let now = identity(&built.manifest);
        if let Some((key, then, here)) = checkpoint::first_difference(&saved.identity, &now) {
            return Err(refuse(format!(
                "its checkpoint was written with {key} `{then}`, this run would have `{here}`"
            )));
        }
        let point: LoopPoint = serde_json::from_value(saved.run["loop"].clone())
            .map_err(|e| refuse(format!("the checkpoint's loop state does not read: {e}")))?;
        let lock = output::DirLock::acquire(run_dir)?;
        built
            .backend
            .restore_state(&saved.image)
            .map_err(|e| refuse(e.to_string()))?;
        let mut manifest = old;
        manifest.resumes.push(Resume {
            from_s: point.step as f64 * built.plan.dt_s,
            unix_s: unix_now(),
            command: built.manifest.provenance.command_line.clone(),
            previous_status: manifest.status,
        });
        manifest.status = Status::Running;
        manifest.status_reason = None;
        manifest.failures = point.failures.clone();
        let sinks = saved.run["sinks"].clone();
        let recorder = Recorder::resume(run_dir, manifest.clone(), &sinks["first"])?;
        let mut checkpoints =
            RunCheckpoints::new(run_dir, built.checkpoint_steps.unwrap_or(u64::MAX), now);
        checkpoints.resumed = Some(point);
        Ok(Prepared {
            plan: built.plan,
            backend: built.backend,
            target: Target::Directory(Box::new(recorder)),
            manifest,
            design: request.design,
            notes: built.notes,
            warnings: built.warnings,
            pool: built.pool,
            simd: request.backend_options.simd,
            _lock: Some(lock),
            checkpoints: Some(checkpoints),
            resumed_sinks: Some(sinks),
        })
    }
}
