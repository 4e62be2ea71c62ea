//! The sweep loop. The output directory holds `sweep.yaml` and `circuit.yaml` (the files as
//! they were), `points.csv` (every point, its axis values and shard), `manifest.json`, and
//! `parts/NNNNNN/` — one finished ensemble each, a run directory of its own plus the part's
//! `points.csv` and `summary.csv`. An ensemble runs in `parts/.tmp-NNNNNN/` and is renamed into
//! place only when its tables are complete, so a sweep killed at any moment leaves finished
//! parts and one temporary directory that `--resume` deletes and runs again. `summary.csv` is
//! rebuilt (write, then rename) after every part; `metrics.csv` is assembled at the end.

use super::SweepError;
use super::overrides::SweepOverrides;
use super::pack::{self, DEFAULT_ENSEMBLE_SIZE, Ensemble, Shard};
use super::parts;
use super::setup::{self, Setup};
use super::stats::InstanceStats;
use super::tables::{self, InstanceOf, PARTS, PointTable, TMP_PREFIX, write_err};
use crate::backend::{self, BackendKind, DeviceDescription, Precision, TracePoint};
use crate::circuit::budget::Budget;
use crate::experiment::output::{DirKind, DirLock};
use crate::experiment::{ExperimentError, Threads, ensemble_manifest};
use crate::plan::{InstanceSpec, Plan};
use crate::record::atomic::write_atomic;
use crate::record::manifest::{Provenance, sha256_hex};
use crate::record::metrics::Row;
use crate::record::tables::{Table, WeightRow};
use crate::record::{Ending, Failure, RecordError, Recorder, Sink, Status, Tee, unix_now};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What to sweep and where.
#[derive(Clone, Debug)]
pub struct SweepRequest {
    pub path: PathBuf,
    /// The sweep file's text (None: read `path`).
    pub text: Option<String>,
    /// The output directory (default `runs/sweep-<name>-<unix time>`); required to resume.
    pub out: Option<PathBuf>,
    pub resume: bool,
    pub backend: BackendKind,
    pub precision: Option<Precision>,
    /// The vector level and the OpenCL options (`settings`).
    pub backend_options: backend::Options,
    /// The memory budget the sweep's tables, points and ensembles are checked against
    /// (`settings`).
    pub budget: Budget,
    pub shard: Option<Shard>,
    /// Overrides the file's `ensemble_size`.
    pub ensemble_size: Option<usize>,
    pub command_line: Vec<String>,
    /// `--set`, `--seeds`, `--duration` on top of the file.
    pub overrides: SweepOverrides,
    /// The threads the ensembles' parallel work uses (default: rayon's global pool).
    pub threads: Threads,
}

impl SweepRequest {
    /// A sweep of `path` on the CPU into a default directory: to adjust.
    pub fn new(path: impl Into<PathBuf>) -> SweepRequest {
        SweepRequest {
            path: path.into(),
            text: None,
            out: None,
            resume: false,
            backend: BackendKind::Cpu,
            precision: None,
            backend_options: backend::Options::default(),
            budget: Budget::default(),
            shard: None,
            ensemble_size: None,
            command_line: Vec::new(),
            overrides: SweepOverrides::default(),
            threads: Threads::DEFAULT,
        }
    }
}

/// An axis as `manifest.json` records it (what the figures need).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AxisRecord {
    /// The column of the swept value.
    pub column: String,
    /// Every column of the axis.
    pub columns: Vec<String>,
    pub target: String,
    pub ratio: Option<String>,
    /// `time` or `number`.
    pub kind: String,
    pub log: bool,
}

/// The sweep's record in `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepManifest {
    /// Always `sweep`.
    pub kind: String,
    pub name: String,
    pub hetsim_version: String,
    pub status: Status,
    pub status_reason: Option<String>,
    pub sweep_file: String,
    pub sweep_sha256: String,
    pub circuit_file: String,
    pub circuit_sha256: String,
    pub shard: Option<Shard>,
    /// Points of the whole sweep, and of this directory's shard.
    pub points_total: usize,
    pub points_in_shard: usize,
    pub points_done: usize,
    pub instances_failed: usize,
    pub parts: usize,
    pub rules: Vec<String>,
    pub seeds: usize,
    pub seed: u64,
    pub axes: Vec<AxisRecord>,
    pub summary_columns: Vec<String>,
    pub backend: Option<String>,
    pub device: Option<DeviceDescription>,
    pub precision: Option<Precision>,
    pub notes: Vec<String>,
    pub started_unix_s: f64,
    pub ended_unix_s: Option<f64>,
    pub wall_s: Option<f64>,
    pub provenance: Provenance,
    /// For a merge: the shard directories it combined.
    #[serde(default)]
    pub merged_from: Vec<String>,
    /// The command line's `--set`, `--seeds` and `--duration` (none in sweeps made before
    /// they existed).
    #[serde(default)]
    pub overrides: SweepOverrides,
    /// The sweep file's `prediction:`, which the figures draw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<crate::measure::phase::Prediction>,
}

impl SweepManifest {
    pub fn read(dir: &Path) -> Result<SweepManifest, SweepError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            SweepError::Usage(format!("{} is not a sweep directory ({e})", dir.display()))
        })?;
        let m: SweepManifest = serde_json::from_str(&text).map_err(|e| {
            SweepError::Usage(format!("{}: not a sweep manifest ({e})", path.display()))
        })?;
        if m.kind != "sweep" {
            return Err(SweepError::Usage(format!(
                "{} is a {} directory, not a sweep's",
                dir.display(),
                m.kind
            )));
        }
        Ok(m)
    }

    pub fn write(&self, dir: &Path) -> Result<(), SweepError> {
        let path = dir.join("manifest.json");
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        write_atomic(&path, &text).map_err(write_err(&path))
    }
}

/// Where a sweep stands, for progress displays.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepProgress {
    /// Points finished (including those a resume found done) and in this shard.
    pub points_done: usize,
    pub points_total: usize,
    pub instances_failed: usize,
    /// The ensemble running (1-based) and how many this invocation runs.
    pub ensemble: usize,
    pub ensembles: usize,
    pub elapsed_s: f64,
    /// Estimated seconds left (None before anything has finished).
    pub eta_s: Option<f64>,
}

/// How a sweep ended.
#[derive(Debug)]
pub struct SweepOutcome {
    pub dir: PathBuf,
    pub status: Status,
    pub reason: Option<String>,
    pub points_done: usize,
    pub points_total: usize,
    /// Points found already done when resuming.
    pub points_resumed: usize,
    pub instances_failed: usize,
    pub ensembles_run: usize,
    pub wall_s: f64,
    /// The figure files drawn, or why none were: the sweep draws none (None); the caller may
    /// (`crate::drawing::sweep`).
    pub figures: Option<Result<Vec<PathBuf>, String>>,
    pub notes: Vec<String>,
}

/// One ensemble of a dry run.
#[derive(Clone, Debug, PartialEq)]
pub struct EnsembleInfo {
    pub points: Vec<usize>,
    pub instances: usize,
    pub synapse_steps: f64,
}

/// What a sweep would do, without running it.
#[derive(Clone, Debug)]
pub struct DryRun {
    pub name: String,
    pub axis_columns: Vec<String>,
    /// (index, id, axis cells) of every point of the shard.
    pub points: Vec<(usize, String, Vec<String>)>,
    pub points_total: usize,
    pub rules: Vec<String>,
    pub seeds: usize,
    /// Points a resume would skip.
    pub already_done: usize,
    pub ensembles: Vec<EnsembleInfo>,
    pub instances: usize,
    pub synapse_steps: f64,
    /// False when the sweep has too many points to build each one for a dry run
    /// (`size::DRY_RUN_BUILT`): `points` and `ensembles` are then empty and `instances` and
    /// `synapse_steps` are estimates from the circuit before the axes apply.
    pub expanded: bool,
}

fn shard_points(setup: &Setup, shard: Option<Shard>) -> Vec<usize> {
    (0..setup.points.len())
        .filter(|&k| shard.is_none_or(|s| s.holds(k)))
        .collect()
}

fn ensembles(
    setup: &Setup,
    request: &SweepRequest,
    todo: &[usize],
) -> Result<Vec<Ensemble>, SweepError> {
    let size = request
        .ensemble_size
        .or(setup.spec.ensemble_size)
        .unwrap_or(DEFAULT_ENSEMBLE_SIZE);
    let budget = setup.budget.bytes().map_err(SweepError::Usage)?;
    let memory = 0.8 * budget.bytes as f64;
    for &k in todo {
        let p = &setup.points[k];
        let need = p.instance_bytes * setup.instances_per_point() as f64;
        if need > memory {
            return Err(SweepError::Usage(format!(
                "one point ({}: {} instances) needs about {} of memory, more than the budget of {budget}; use fewer seeds or rules, or raise the budget (--memory-budget)",
                p.identity,
                setup.instances_per_point(),
                crate::circuit::budget::human_bytes(need)
            )));
        }
    }
    Ok(pack::pack(setup, todo, size, memory))
}

/// The finished parts of `dir`, each checked whole against the sweep (see [`parts`]).
fn checked_parts(dir: &Path, setup: &Setup) -> Result<Vec<parts::Part>, SweepError> {
    let identities: std::collections::HashMap<&str, &str> = setup
        .points
        .iter()
        .map(|p| (p.id.as_str(), p.identity.as_str()))
        .collect();
    let seed_of = |id: &str, k: usize| {
        identities
            .get(id)
            .map(|identity| super::axes::point_seed(setup.spec.seed, identity, k))
    };
    let columns = setup.stat_columns();
    parts::check_all(
        dir,
        &parts::Expect {
            stat_columns: &columns,
            rules: setup.rules.len(),
            seeds: setup.spec.seeds,
            seed_of: &seed_of,
        },
    )
}

/// The point ids the finished parts hold.
fn done_ids(parts: &[parts::Part]) -> std::collections::HashSet<String> {
    parts
        .iter()
        .flat_map(|p| p.points.iter().cloned())
        .collect()
}

/// Expands and packs a sweep without running it (`--dry-run`). A sweep of more than
/// `size::DRY_RUN_BUILT` points is counted and estimated, not built point by point.
pub fn dry_run(request: &SweepRequest) -> Result<DryRun, SweepError> {
    let setup = setup::load_with(
        &request.path,
        request.text.clone(),
        &request.overrides,
        setup::Expansion::QUICK,
        &request.budget,
    )?;
    if !setup.expanded {
        let in_shard = match request.shard {
            Some(s) => {
                setup.size.points / s.count + usize::from(s.index < setup.size.points % s.count)
            }
            None => setup.size.points,
        };
        let instances = in_shard * setup.instances_per_point();
        return Ok(DryRun {
            name: setup.spec.name.clone(),
            axis_columns: setup.axis_columns(),
            points: Vec::new(),
            points_total: setup.size.points,
            rules: rule_names(&setup),
            seeds: setup.spec.seeds,
            already_done: 0,
            ensembles: Vec::new(),
            instances,
            synapse_steps: instances as f64 * setup.base_cost,
            expanded: false,
        });
    }
    let in_shard = shard_points(&setup, request.shard);
    let done = match (&request.out, request.resume) {
        (Some(dir), true) if dir.join(PARTS).is_dir() => done_ids(&checked_parts(dir, &setup)?),
        _ => Default::default(),
    };
    let todo: Vec<usize> = in_shard
        .iter()
        .copied()
        .filter(|&k| !done.contains(&setup.points[k].id))
        .collect();
    let packed = ensembles(&setup, request, &todo)?;
    let per_point = setup.instances_per_point();
    let infos: Vec<EnsembleInfo> = packed
        .iter()
        .map(|e| EnsembleInfo {
            points: e.points.clone(),
            instances: e.points.len() * per_point,
            synapse_steps: pack::cost(&setup.points, e),
        })
        .collect();
    Ok(DryRun {
        name: setup.spec.name.clone(),
        axis_columns: setup.axis_columns(),
        points: in_shard
            .iter()
            .map(|&k| {
                let p = &setup.points[k];
                (p.index, p.id.clone(), setup.axis_cells(p))
            })
            .collect(),
        points_total: setup.points.len(),
        rules: rule_names(&setup),
        seeds: setup.spec.seeds,
        already_done: in_shard.len() - todo.len(),
        instances: infos.iter().map(|e| e.instances).sum(),
        synapse_steps: infos.iter().map(|e| e.synapse_steps).sum(),
        ensembles: infos,
        expanded: true,
    })
}

fn rule_names(setup: &Setup) -> Vec<String> {
    setup
        .rules
        .iter()
        .map(|r| match r {
            Some(r) => r.name().to_string(),
            None => crate::experiment::design::rule_label(&setup.base),
        })
        .collect()
}

/// The backend and precision a request will run on, where they are known before a backend is
/// made (`auto` depends on the machine's devices).
fn planned_backend(request: &SweepRequest) -> Option<(BackendKind, Precision)> {
    match request.backend {
        BackendKind::Cpu => Some((
            BackendKind::Cpu,
            request.precision.unwrap_or(Precision::F64),
        )),
        BackendKind::OpenCl => Some((
            BackendKind::OpenCl,
            request.precision.unwrap_or(Precision::F32),
        )),
        BackendKind::Auto => None,
    }
}

/// Refuses to add results from `now` (a backend kind and precision) to a sweep whose parts ran
/// on `before`.
fn same_backend(
    dir: &Path,
    before: (BackendKind, Precision),
    now: (BackendKind, Precision),
) -> Result<(), SweepError> {
    if before == now {
        return Ok(());
    }
    Err(SweepError::Usage(format!(
        "cannot resume {}: its parts ran on {} {}, this run would use {} {}, and their results are not comparable\n  hint: resume with `--backend {} --precision {}`, or start a new sweep with another --out",
        dir.display(),
        before.0.name(),
        before.1.name(),
        now.0.name(),
        now.1.name(),
        before.0.name(),
        before.1.name()
    )))
}

/// Keeps a resumed sweep honest: the directory must hold the same sweep (axes may have
/// gained or lost values: points are matched by identity) of the same circuit and shard, run
/// by the same version of hetsim, on the same backend and precision.
fn check_resumable(
    dir: &Path,
    setup: &Setup,
    request: &SweepRequest,
) -> Result<SweepManifest, SweepError> {
    let shard = request.shard;
    let old = SweepManifest::read(dir)?;
    let refuse = |what: String| {
        SweepError::Usage(format!(
            "cannot resume {}: {what}; start a new sweep with another --out",
            dir.display()
        ))
    };
    if old.overrides != request.overrides {
        return Err(SweepError::Usage(format!(
            "cannot resume {}: it ran with {}, this run has {}, and their results are not comparable\n  hint: resume with the options it started with, or start a new sweep with another --out",
            dir.display(),
            old.overrides.describe(),
            request.overrides.describe()
        )));
    }
    if old.shard != shard {
        let show = |s: Option<Shard>| s.map(|s| s.to_string()).unwrap_or_else(|| "none".into());
        return Err(refuse(format!(
            "it ran shard {}, this is shard {}",
            show(old.shard),
            show(shard)
        )));
    }
    if old.circuit_sha256 != sha256_hex(setup.circuit_source.text.as_bytes()) {
        return Err(refuse(format!(
            "the circuit file {} has changed since it started (its copy is {})",
            setup.circuit_source.path.display(),
            dir.join("circuit.yaml").display()
        )));
    }
    let this = Provenance::of_this_process(&[]);
    if old.hetsim_version != env!("CARGO_PKG_VERSION")
        || old.provenance.git_commit != this.git_commit
    {
        return Err(refuse(format!(
            "it was run by hetsim {} (commit {}), this is hetsim {} (commit {}), whose results may differ",
            old.hetsim_version,
            old.provenance.git_commit,
            env!("CARGO_PKG_VERSION"),
            this.git_commit
        )));
    }
    let stored_path = dir.join("sweep.yaml");
    let stored = match std::fs::read_to_string(&stored_path) {
        Ok(t) => t,
        // The copy is only a record: the file given now stands in for it when it is the very
        // file the sweep started with.
        Err(_) if old.sweep_sha256 == sha256_hex(setup.source.text.as_bytes()) => {
            setup.source.text.clone()
        }
        Err(e) => {
            return Err(refuse(format!(
                "its copy of the sweep file, {}, cannot be read ({e}), and {} is not the file it started with (SHA-256 differs from the manifest's)",
                stored_path.display(),
                setup.source.path.display()
            )));
        }
    };
    let stored_source = crate::spec::SourceFile::from_text(&stored_path, stored);
    let mut stored: super::SweepSpec = crate::spec::document::parse_document(&stored_source)
        .map_err(|d| refuse(format!("its sweep.yaml no longer reads ({d})")))?;
    // `--seeds` (the same as the directory's, checked above) stands in for the copy's too.
    stored.seeds = request.overrides.seeds(stored.seeds);
    let differ = stored.differing_keys(
        &setup.spec,
        &["axes", "combine", "ensemble_size", "prediction"],
    );
    if !differ.is_empty() {
        return Err(refuse(format!(
            "the sweep file differs from its copy {} in `{}` (only the axes may change on a resume)",
            stored_path.display(),
            differ.join("`, `")
        )));
    }
    if let (Some(device), Some(precision), Some(now)) =
        (&old.device, old.precision, planned_backend(request))
    {
        same_backend(dir, (device.kind, precision), now)?;
    }
    Ok(old)
}

/// Locks the sweep directory `dir` against a second process for as long as the returned guard
/// lives. A new sweep's directory (`fresh`) is claimed first: created or accepted empty, and
/// marked as a hetsim sweep's. A resumed one is locked as it is (its manifest, read next, must
/// be a sweep's): resuming deletes nothing but the sweep's own temporaries, so it needs no
/// marker, and a sweep directory moved to another disk can still be resumed.
pub(super) fn hold_directory(dir: &Path, fresh: bool) -> Result<DirLock, SweepError> {
    if dir.exists() && !dir.is_dir() {
        return Err(SweepError::Usage(format!(
            "{} exists and is not a directory; choose another --out",
            dir.display()
        )));
    }
    Ok(if fresh {
        crate::experiment::output::claim_locked(dir, DirKind::Sweep, false)?
    } else {
        DirLock::acquire(dir)?
    })
}

/// Drops what a killed ensemble left behind.
fn remove_temporaries(dir: &Path) -> Result<(), SweepError> {
    let parts = dir.join(PARTS);
    for e in std::fs::read_dir(&parts).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            std::fs::remove_dir_all(e.path()).map_err(write_err(&e.path()))?;
        }
    }
    Ok(())
}

fn next_part_number(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join(PARTS))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .map(|n| n + 1)
        .unwrap_or(0)
}

/// Passes a run to the part's directory, leaving out the tables the sweep does not keep.
struct Kept<'a> {
    inner: &'a mut dyn Sink,
    weights: bool,
}

impl Sink for Kept<'_> {
    fn instances(&mut self, table: &Table) -> Result<(), RecordError> {
        self.inner.instances(table)
    }
    fn rows(&mut self, rows: &[Row]) -> Result<(), RecordError> {
        self.inner.rows(rows)
    }
    fn traces(&mut self, points: &[TracePoint]) -> Result<(), RecordError> {
        self.inner.traces(points)
    }
    fn weights(&mut self, rows: &[WeightRow]) -> Result<(), RecordError> {
        if self.weights {
            self.inner.weights(rows)
        } else {
            Ok(())
        }
    }
    fn probes(&mut self, rows: &[crate::record::probes::ProbeRow]) -> Result<(), RecordError> {
        self.inner.probes(rows)
    }
    fn weight_snapshots(
        &mut self,
        rows: &[crate::record::probes::SnapshotRow],
    ) -> Result<(), RecordError> {
        self.inner.weight_snapshots(rows)
    }
    fn note(&mut self, note: &str) -> Result<(), RecordError> {
        self.inner.note(note)
    }
    fn failures(&mut self, failures: &[Failure]) -> Result<(), RecordError> {
        self.inner.failures(failures)
    }
    fn finish(&mut self, ending: &Ending) -> Result<(), RecordError> {
        self.inner.finish(ending)
    }
}

/// Reports progress within an ensemble.
struct EnsembleObserver<'a> {
    report: &'a mut dyn FnMut(&SweepProgress),
    base: SweepProgress,
    /// Points finished before this invocation, this invocation's points, and this ensemble's.
    resumed: usize,
    todo: usize,
    ensemble_points: usize,
    started: Instant,
}

impl crate::run::Observer for EnsembleObserver<'_> {
    fn window(&mut self, p: &crate::run::Progress) {
        let fraction = p.step as f64 / p.steps.max(1) as f64;
        let mut now = self.base.clone();
        now.elapsed_s = self.started.elapsed().as_secs_f64();
        let done_here =
            (now.points_done - self.resumed) as f64 + fraction * self.ensemble_points as f64;
        now.eta_s = (done_here > 0.0)
            .then(|| now.elapsed_s * (self.todo as f64 - done_here).max(0.0) / done_here);
        (self.report)(&now);
    }
}

/// Runs (or resumes) a sweep. `report` hears about progress (from a thread of the request's
/// pool); `stop` ends the sweep inside the current ensemble, which is discarded (status
/// `interrupted`; `--resume` runs it again).
pub fn sweep(
    request: &SweepRequest,
    report: &mut (dyn FnMut(&SweepProgress) + Send),
    stop: Option<&AtomicBool>,
) -> Result<SweepOutcome, SweepError> {
    let pool = request
        .threads
        .pool()
        .map_err(|e| SweepError::Usage(format!("--threads: {e}")))?;
    pool.install(|| sweep_here(request, report, stop))
}

fn sweep_here(
    request: &SweepRequest,
    report: &mut dyn FnMut(&SweepProgress),
    stop: Option<&AtomicBool>,
) -> Result<SweepOutcome, SweepError> {
    let started = Instant::now();
    let mut setup = setup::load_with(
        &request.path,
        request.text.clone(),
        &request.overrides,
        setup::Expansion::All,
        &request.budget,
    )?;
    let mut kept = std::mem::take(&mut setup.kept);
    let in_shard = shard_points(&setup, request.shard);
    let dir = match &request.out {
        Some(d) => d.clone(),
        None if request.resume => {
            return Err(SweepError::Usage(
                "--resume needs --out DIR: the directory of the sweep to continue".into(),
            ));
        }
        None => {
            let mut name = format!("sweep-{}-{}", setup.spec.name, unix_now() as u64);
            if let Some(s) = request.shard {
                name.push_str(&format!("-shard{}of{}", s.index, s.count));
            }
            crate::experiment::output::unused_name(PathBuf::from("runs").join(name))
        }
    };
    let empty = std::fs::read_dir(&dir).map_or(true, |d| {
        d.flatten()
            .all(|e| e.file_name() == crate::experiment::output::LOCK_FILE)
    });
    // `--resume` on a directory that does not hold a sweep yet starts one, so a job script can
    // pass it on its first start and on every requeue alike.
    let resuming = request.resume && !empty;
    if !resuming && !empty {
        return Err(SweepError::Usage(format!(
            "{} exists and is not empty; pass --resume to continue the sweep in it, or choose another --out",
            dir.display()
        )));
    }
    // Held to the end: no second process writes into the directory meanwhile.
    let _lock = hold_directory(&dir, !resuming)?;
    let previous = if resuming {
        Some(check_resumable(&dir, &setup, request)?)
    } else {
        None
    };
    // Every finished part is checked whole before anything is written or counted.
    let found = checked_parts(&dir, &setup)?;
    if let (Some(old), Some(first)) = (&previous, found.first())
        && let Some(precision) = old.precision
        && let Some(device) = &old.device
    {
        same_backend(
            &dir,
            (device.kind, precision),
            (first.backend, first.precision),
        )?;
    }
    std::fs::create_dir_all(dir.join(PARTS)).map_err(write_err(&dir))?;
    remove_temporaries(&dir)?;
    let put = |name: &str, text: &str| {
        let path = dir.join(name);
        write_atomic(&path, text).map_err(write_err(&path))
    };
    put("sweep.yaml", &setup.source.text)?;
    put("circuit.yaml", &setup.circuit_source.text)?;
    let points = PointTable::of(&setup, request.shard);
    points.write(&dir.join("points.csv"))?;
    let in_this_shard = |r: &tables::PointRow| request.shard.is_none_or(|s| s.holds(r.index));
    let stat_columns = setup.stat_columns();

    let done = done_ids(&found);
    drop(found);
    let todo: Vec<usize> = in_shard
        .iter()
        .copied()
        .filter(|&k| !done.contains(&setup.points[k].id))
        .collect();
    let resumed = in_shard.len() - todo.len();
    let packed = ensembles(&setup, request, &todo)?;
    let mut manifest = SweepManifest {
        kind: "sweep".into(),
        name: setup.spec.name.clone(),
        hetsim_version: env!("CARGO_PKG_VERSION").into(),
        status: Status::Running,
        status_reason: None,
        sweep_file: request.path.display().to_string(),
        sweep_sha256: sha256_hex(setup.source.text.as_bytes()),
        circuit_file: setup.circuit_source.path.display().to_string(),
        circuit_sha256: sha256_hex(setup.circuit_source.text.as_bytes()),
        shard: request.shard,
        points_total: setup.points.len(),
        points_in_shard: in_shard.len(),
        points_done: resumed,
        instances_failed: 0,
        parts: 0,
        rules: rule_names(&setup),
        seeds: setup.spec.seeds,
        seed: setup.spec.seed,
        axes: setup
            .axes
            .iter()
            .map(|a| AxisRecord {
                column: a.value_column(),
                columns: a.columns(),
                target: a.target.clone(),
                ratio: a.ratio.as_ref().map(|(_, t)| t.clone()),
                kind: match a.kind {
                    super::axes::Kind::Time => "time".into(),
                    super::axes::Kind::Number => "number".into(),
                },
                log: a.log,
            })
            .collect(),
        summary_columns: stat_columns.clone(),
        // What earlier invocations ran on stays true of their parts (a resume that runs
        // nothing must not forget it); a new backend is checked against it below.
        backend: previous.as_ref().and_then(|m| m.backend.clone()),
        device: previous.as_ref().and_then(|m| m.device.clone()),
        precision: previous.as_ref().and_then(|m| m.precision),
        notes: previous
            .as_ref()
            .map(|m| m.notes.clone())
            .unwrap_or_default(),
        started_unix_s: previous
            .as_ref()
            .map(|m| m.started_unix_s)
            .unwrap_or_else(unix_now),
        ended_unix_s: None,
        wall_s: None,
        provenance: Provenance::of_this_process(&request.command_line),
        merged_from: Vec::new(),
        overrides: request.overrides.clone(),
        prediction: setup.spec.prediction.clone(),
    };
    let refresh = |manifest: &mut SweepManifest| -> Result<(), SweepError> {
        let parts = tables::finished_parts(&dir);
        tables::assemble_summary(
            &dir.join("summary.csv"),
            &points,
            &in_this_shard,
            &parts,
            &stat_columns,
        )?;
        manifest.parts = parts.len();
        manifest.instances_failed = count_failed(&dir.join("summary.csv"))?;
        manifest.write(&dir)
    };
    refresh(&mut manifest)?;

    let per_point = setup.instances_per_point();
    let mut status = Status::Completed;
    let mut reason = None;
    let mut ensembles_run = 0;
    for (k, ensemble) in packed.iter().enumerate() {
        if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            status = Status::Interrupted;
            reason = Some(format!(
                "stopped on request after {ensembles_run} ensemble(s)"
            ));
            break;
        }
        // The sweep's budget worked out once for the ensemble's circuits and plan: afresh
        // for each ensemble, as the process's use of memory changes.
        let budget = request.budget.settled();
        // The instances: point by point, each point's rules, each rule's replicates. The
        // circuits the setup kept are used as they are; the others are built again here
        // (setup built and dropped them) so that memory holds about one ensemble's.
        let mut instances = Vec::with_capacity(ensemble.points.len() * per_point);
        let mut who = Vec::with_capacity(instances.capacity());
        for &pi in &ensemble.points {
            let p = &setup.points[pi];
            let circuits = match kept.remove(&pi) {
                Some(c) => c,
                None => setup.point_circuits(p, &budget)?,
            };
            for (label, c) in circuits {
                for replicate in 0..setup.spec.seeds {
                    let seed = super::axes::point_seed(setup.spec.seed, &p.identity, replicate);
                    instances.push(InstanceSpec {
                        circuit: c.clone(),
                        seed,
                        label: label.clone(),
                    });
                    who.push(InstanceOf {
                        point_id: p.id.clone(),
                        rule: label.clone(),
                        replicate,
                        seed,
                    });
                }
            }
        }
        let plan = Arc::new(
            Plan::within(&instances, &setup.base_dir, &budget).map_err(ExperimentError::Plan)?,
        );
        drop(instances);
        let made = backend::make(
            plan.clone(),
            request.backend,
            request.precision,
            &request.backend_options,
        )
        .map_err(ExperimentError::Backend)?;
        let mut engine = made.backend;
        if let (Some(device), Some(precision)) = (&manifest.device, manifest.precision)
            && let Err(e) = same_backend(
                &dir,
                (device.kind, precision),
                (engine.device().kind, engine.precision()),
            )
        {
            // Nothing of this invocation is kept: the manifest goes back to what it said.
            if let Some(old) = &previous {
                old.write(&dir)?;
            }
            return Err(e);
        }
        if manifest.backend.is_none() {
            manifest.backend = Some(engine.describe());
            manifest.device = Some(engine.device());
            manifest.precision = Some(engine.precision());
            manifest.notes.extend(made.fallback.clone());
            manifest.write(&dir)?;
        }
        let number = next_part_number(&dir);
        let tmp = dir.join(PARTS).join(format!("{TMP_PREFIX}{number:06}"));
        let part_manifest = ensemble_manifest(
            &plan,
            engine.as_ref(),
            made.fallback.as_slice(),
            Provenance::of_this_process(&request.command_line),
        );
        let mut recorder =
            Recorder::create(&tmp, &plan, part_manifest).map_err(ExperimentError::Record)?;
        let mut stats = InstanceStats::new(
            &setup.stats,
            plan.n_instances(),
            plan.steps as f64 * plan.dt_s,
        );
        let progress = |manifest: &SweepManifest, done_here: f64| {
            let elapsed_s = started.elapsed().as_secs_f64();
            SweepProgress {
                points_done: manifest.points_done,
                points_total: in_shard.len(),
                instances_failed: manifest.instances_failed,
                ensemble: k + 1,
                ensembles: packed.len(),
                elapsed_s,
                eta_s: (done_here > 0.0)
                    .then(|| elapsed_s * (todo.len() as f64 - done_here).max(0.0) / done_here),
            }
        };
        let base = progress(&manifest, 0.0);
        let mut observer = EnsembleObserver {
            report: &mut *report,
            base,
            resumed,
            todo: todo.len(),
            ensemble_points: ensemble.points.len(),
            started,
        };
        let outcome = {
            let mut kept = Kept {
                inner: &mut recorder,
                weights: setup.spec.keep.weights,
            };
            let mut tee = Tee {
                first: &mut kept,
                second: &mut stats,
            };
            crate::run::execute(
                &plan,
                engine.as_mut(),
                request.backend_options.simd,
                &mut tee,
                &mut observer,
                stop,
            )
        };
        drop(recorder);
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                // A device or disk failure: the finished parts stay; this one is dropped.
                let _ = std::fs::remove_dir_all(&tmp);
                manifest.status = Status::Failed;
                manifest.status_reason = Some(e.to_string());
                manifest.ended_unix_s = Some(unix_now());
                manifest.write(&dir)?;
                return Err(ExperimentError::Run(e).into());
            }
        };
        if outcome.status == Status::Interrupted {
            let _ = std::fs::remove_dir_all(&tmp);
            status = Status::Interrupted;
            reason = Some(format!(
                "stopped on request during ensemble {} of {}; its points run again on --resume",
                k + 1,
                packed.len()
            ));
            break;
        }
        tables::write_part_tables(&tmp, &plan, &who, &stats, &stat_columns)?;
        let finished = dir.join(PARTS).join(format!("{number:06}"));
        std::fs::rename(&tmp, &finished).map_err(write_err(&finished))?;
        ensembles_run += 1;
        manifest.points_done += ensemble.points.len();
        refresh(&mut manifest)?;
        report(&progress(
            &manifest,
            (manifest.points_done - resumed) as f64,
        ));
    }
    if status == Status::Completed && manifest.instances_failed > 0 {
        status = Status::CompletedWithFailures;
    }
    let parts = tables::finished_parts(&dir);
    tables::assemble_metrics(&dir.join("metrics.csv"), &points, &in_this_shard, &parts)?;
    manifest.status = status;
    manifest.status_reason = reason.clone();
    manifest.ended_unix_s = Some(unix_now());
    manifest.wall_s = Some(
        previous.as_ref().and_then(|m| m.wall_s).unwrap_or(0.0) + started.elapsed().as_secs_f64(),
    );
    manifest.write(&dir)?;
    Ok(SweepOutcome {
        dir,
        status,
        reason,
        points_done: manifest.points_done,
        points_total: in_shard.len(),
        points_resumed: resumed,
        instances_failed: manifest.instances_failed,
        ensembles_run,
        wall_s: started.elapsed().as_secs_f64(),
        figures: None,
        notes: manifest.notes.clone(),
    })
}

/// Rows of a `summary.csv` whose status is `failed`.
pub fn count_failed(summary: &Path) -> Result<usize, SweepError> {
    let (header, rows) = tables::read_csv(summary)?;
    let Some(c) = header.iter().position(|h| h == "status") else {
        return Ok(0);
    };
    Ok(rows.iter().filter(|r| r[c] == "failed").count())
}
