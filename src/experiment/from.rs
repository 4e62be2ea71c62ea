//! `--from RUN_DIR[@TIME]`: a run started from the weights another run saved — which
//! projections take them (every plastic one must; the others where that run saved them), the
//! argument's form, and what the manifest records of them.
//!
//! With `--carry activities` the run starts from that run's checkpoint instead (it must be at
//! TIME exactly): the checkpoint is restored into a backend of the source's own plan, rebuilt
//! from its manifest as `rerun` does, so the source's backend, layout and rule need not be
//! this run's. Its snapshot gives every weight (all bits), and by population name every rate
//! population's u and z and every trace's q, instance k from the source's instance k.

use super::{ExperimentError, Output, design};
use crate::backend::{ActivitySeed, Snapshot};
use crate::circuit::saved::{RunWeights, StateSource, absolute, run::same_time};
use crate::plan::Plan;
use crate::record::checkpoint;
use crate::spec::Time;
use std::path::PathBuf;
use std::sync::Arc;

/// Splits `RUN_DIR[@TIME]` (`--from`): the text after the last `@` is a time when it reads as
/// one (`runs/a@2s`), otherwise part of the directory's name.
pub fn parse_from(text: &str) -> Result<(PathBuf, Option<Time>), ExperimentError> {
    if let Some((dir, time)) = text.rsplit_once('@')
        && time
            .trim_start()
            .starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        let t = Time::parse(time).map_err(|e| {
            ExperimentError::Usage(format!("--from {text}: the time `{time}`: {e}"))
        })?;
        return Ok((PathBuf::from(dir), Some(t)));
    }
    Ok((PathBuf::from(text), None))
}

/// `--from` as the replay record keeps it: the directory absolute, so `rerun` finds it from
/// anywhere.
pub(super) fn absolute_from(text: &str) -> String {
    match parse_from(text) {
        Ok((dir, time)) => {
            let dir = crate::circuit::saved::absolute(&dir);
            match time {
                Some(t) => format!("{dir}@{t}"),
                None => dir,
            }
        }
        Err(_) => text.to_string(),
    }
}

/// `--from RUN_DIR[@TIME]`: every plastic projection of every circuit starts from that run's
/// weights at TIME (the latest it saved by default) — one it lacks, or of another shape, is an
/// error naming both —, and every other untied projection too where the run saved it (a fixed
/// feedback matrix in `weights.csv`); the rest are drawn from `init` as before. Returns a note
/// saying what was carried.
pub(super) fn start_from(
    circuits: &mut design::Labelled,
    from: &str,
    state: Option<&CarriedState>,
    budget: &crate::circuit::budget::Budget,
) -> Result<String, ExperimentError> {
    use crate::circuit::saved::SavedInit;
    let (dir, time) = parse_from(from)?;
    let weights = match state {
        Some(state) => state.weights(),
        None => RunWeights::read(&dir, time.map(|t| t.seconds()), budget)
            .map_err(|e| ExperimentError::Usage(format!("--from {from}: {e}")))?,
    };
    let mut carried: Vec<String> = Vec::new();
    for (label, c) in circuits.iter_mut() {
        for k in 0..c.projections.len() {
            let p = &c.projections[k];
            if p.tied.is_some() {
                continue;
            }
            let required = p.motif.is_some();
            if !required && weights.instances_of(&p.name).is_empty() {
                continue;
            }
            let shape = (c.populations[p.to].size, c.populations[p.from].size);
            let saved = SavedInit::from_run(&weights, &p.name, shape.0, shape.1).map_err(|e| {
                ExperimentError::Usage(format!(
                    "--from {from}: projection `{}` of {label}: {e}",
                    p.name
                ))
            })?;
            if !carried.contains(&p.name) {
                carried.push(p.name.clone());
            }
            c.projections[k].saved = Some(Arc::new(saved));
        }
    }
    if carried.is_empty() {
        return Err(ExperimentError::Usage(format!(
            "--from {from}: nothing to start from: the circuit has no plastic projection, and {} saved none of its projections at t = {} s",
            dir.display(),
            weights.time_s
        )));
    }
    let rounded = if weights.rounded {
        " (from weights.csv, which keeps 6 significant digits; record.weights snapshots keep every bit)"
    } else {
        ""
    };
    let rest = match state {
        Some(_) => " (its checkpoint)",
        None => "; activities, traces and delay buffers start as the circuit says",
    };
    Ok(format!(
        "--from: {} start from {} at t = {} s{rounded}{rest}",
        carried
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
        dir.display(),
        weights.time_s
    ))
}

/// Where saved initial weights came from, one entry per projection and file.
pub(super) fn weight_sources(plan: &Plan) -> Vec<crate::circuit::saved::WeightSource> {
    let mut out: Vec<crate::circuit::saved::WeightSource> = Vec::new();
    for c in &plan.circuits {
        for p in &c.projections {
            if let Some(s) = &p.saved
                && !out.contains(&s.source)
            {
                out.push(s.source.clone());
            }
        }
    }
    out
}

/// Another run's state at a time, read back from its checkpoint (`--carry activities`).
pub(super) struct CarriedState {
    dir: PathBuf,
    time_s: f64,
    checkpoint: PathBuf,
    checkpoint_sha256: String,
    manifest_sha256: String,
    /// The source's own plan and the snapshot of its restored backend.
    plan: Arc<Plan>,
    snapshot: Snapshot,
}

/// Reads the checkpoint of the `--from` run, which must be at TIME (when given), through a
/// backend of that run's own plan and kind, made with this run's `backend_options` (the same
/// device and layout as the source's, when the settings are the same) under this run's
/// memory `budget`.
pub(super) fn read_state(
    from: &str,
    backend_options: &crate::backend::Options,
    budget: &crate::circuit::budget::Budget,
) -> Result<CarriedState, ExperimentError> {
    let (dir, time) = parse_from(from)?;
    let shown = dir.display();
    let refuse =
        |why: String| ExperimentError::Usage(format!("--from {from} --carry activities: {why}"));
    let manifest = super::replay::read_manifest(&dir)
        .map_err(|e| refuse(format!("{shown} is not a run directory ({e})")))?;
    let path = super::resume::checkpoint_path(&dir);
    if !path.is_file() {
        return Err(refuse(format!(
            "{shown} has no checkpoint ({} is missing); activities come from a checkpoint: run the source with --checkpoint-every (a finished run keeps one at its end)",
            path.display()
        )));
    }
    let bytes = std::fs::read(&path).map_err(|e| refuse(format!("{}: {e}", path.display())))?;
    let checkpoint_sha256 = crate::record::manifest::sha256_hex(&bytes);
    drop(bytes);
    let saved = checkpoint::read(&path).map_err(|e| refuse(e.to_string()))?;
    let time_s = (saved.image.step as f64 * manifest.dt_s * 1e9).round() / 1e9;
    if let Some(t) = time
        && !same_time(t.seconds(), time_s)
    {
        return Err(refuse(format!(
            "{shown} has no checkpoint at t = {} s; its checkpoint is at t = {time_s} s (a run keeps its newest checkpoint only)",
            t.seconds()
        )));
    }
    // The source's own request, without its own start (the checkpoint replaces all of it).
    let mut request =
        super::replay::request_from_run(&dir, Output::Memory, Vec::new()).map_err(|e| {
            refuse(format!(
                "its run cannot be rebuilt to read the checkpoint: {e}"
            ))
        })?;
    request.from = None;
    request.carry_activities = false;
    request.backend_options = backend_options.clone();
    request.budget = budget.clone();
    let mut built = request.build().map_err(|e| {
        refuse(format!(
            "its run cannot be rebuilt to read the checkpoint: {e}"
        ))
    })?;
    let now = super::resume::identity(&built.manifest);
    if let Some((key, then, here)) = checkpoint::first_difference(&saved.identity, &now) {
        return Err(refuse(format!(
            "its checkpoint was written with {key} `{then}`; rebuilt here it would have `{here}`"
        )));
    }
    built
        .backend
        .restore_state(&saved.image)
        .map_err(|e| refuse(e.to_string()))?;
    let snapshot = built.backend.snapshot()?;
    Ok(CarriedState {
        manifest_sha256: crate::record::manifest::sha256_hex(
            &std::fs::read(dir.join("manifest.json"))
                .map_err(|e| refuse(format!("{shown}: {e}")))?,
        ),
        dir,
        time_s,
        checkpoint: path,
        checkpoint_sha256,
        plan: built.plan,
        snapshot,
    })
}

impl CarriedState {
    /// Every untied matrix of every source instance, as saved weights (all bits).
    fn weights(&self) -> RunWeights {
        let plan = &self.plan;
        let matrices = plan.projections.iter().enumerate().flat_map(|(q, p)| {
            let n = p.synapses();
            (0..plan.n_instances())
                .filter(move |&e| !p.tied[e] && p.sign[e] != 0.0)
                .map(move |e| {
                    (
                        e,
                        p.name.as_str(),
                        p.cols,
                        &self.snapshot.weights[q][e * n..(e + 1) * n],
                    )
                })
        });
        RunWeights::from_matrices(
            &self.dir,
            self.manifest_sha256.clone(),
            self.time_s,
            (self.checkpoint.clone(), self.checkpoint_sha256.clone()),
            matrices,
        )
    }
}

/// The activities `plan` starts from, by population name from the source's state: every rate
/// population's u and z (z as the source computed it where the activation is the same, φ(u)
/// here otherwise) and every trace the source also has; instance e (the k-th of its label)
/// from the source's instance k. Returns the seed, what the manifest records and a note.
pub(super) fn activity_seed(
    plan: &Plan,
    state: &CarriedState,
    from: &str,
) -> Result<(ActivitySeed, StateSource, String), ExperimentError> {
    let refuse =
        |why: String| ExperimentError::Usage(format!("--from {from} --carry activities: {why}"));
    let at = format!("{} at t = {} s", state.dir.display(), state.time_s);
    let source = &state.plan;
    let ks: Vec<usize> = (0..plan.n_instances())
        .map(|e| {
            plan.labels[..e]
                .iter()
                .filter(|l| **l == plan.labels[e])
                .count()
        })
        .collect();
    if let Some((e, k)) = ks
        .iter()
        .enumerate()
        .find(|&(_, &k)| k >= source.n_instances())
    {
        return Err(refuse(format!(
            "{at} has {}; instance {e} ({}) would start from its instance {k}: run fewer seeds",
            crate::text::count(source.n_instances(), "instance"),
            plan.labels[e]
        )));
    }
    let n_pop = plan.populations.len();
    let mut seed = ActivitySeed {
        u: vec![None; n_pop],
        z: vec![None; n_pop],
        q: vec![None; n_pop],
    };
    let (mut carried, mut fresh) = (Vec::new(), Vec::new());
    for (p, pop) in plan.populations.iter().enumerate() {
        let rate = !pop.instantaneous && !pop.role.is_driven();
        if !rate && pop.trace.is_none() {
            continue;
        }
        let Some(sp) = source.populations.iter().position(|s| s.name == pop.name) else {
            return Err(refuse(format!(
                "{at} has no population `{}` (it has {})",
                pop.name,
                source
                    .populations
                    .iter()
                    .map(|s| format!("`{}`", s.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let src = &source.populations[sp];
        if src.size != pop.size {
            return Err(refuse(format!(
                "the population `{}` has {} there, {} here",
                pop.name,
                crate::text::count(src.size, "unit"),
                crate::text::count(pop.size, "unit")
            )));
        }
        let n = pop.size;
        let gather = |table: &[f64]| -> Vec<f64> {
            ks.iter()
                .flat_map(|&k| table[k * n..(k + 1) * n].iter().copied())
                .collect()
        };
        if rate {
            let u = gather(&state.snapshot.u[sp]);
            let z = if src.activation == pop.activation {
                gather(&state.snapshot.z[sp])
            } else {
                u.iter().map(|v| pop.activation.apply(*v)).collect()
            };
            seed.u[p] = Some(u);
            seed.z[p] = Some(z);
        }
        if pop.trace.is_some() {
            if src.trace.is_some() {
                seed.q[p] = Some(gather(&state.snapshot.traces[sp]));
            } else {
                fresh.push(format!("`{}`", pop.name));
            }
        }
        if seed.u[p].is_some() || seed.q[p].is_some() {
            carried.push(pop.name.clone());
        }
    }
    let record = StateSource {
        run_dir: absolute(&state.dir),
        manifest_sha256: state.manifest_sha256.clone(),
        checkpoint: absolute(&state.checkpoint),
        checkpoint_sha256: state.checkpoint_sha256.clone(),
        time_s: state.time_s,
        populations: carried.clone(),
    };
    let mut note = format!(
        "--carry activities: {} start from {at} (rate populations' u and z, traces' q); instantaneous and driven populations are recomputed by the first step, delay buffers and window sums start empty",
        if carried.is_empty() {
            "no population".to_string()
        } else {
            carried
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if !fresh.is_empty() {
        note.push_str(&format!(
            "; the traces of {} start at their init (the source has none there)",
            fresh.join(", ")
        ));
    }
    Ok((seed, record, note))
}
