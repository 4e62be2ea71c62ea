//! `--from RUN_DIR[@TIME]`: a run started from the weights another run saved — which
//! projections take them (every plastic one must; the others where that run saved them), the
//! argument's form, and what the manifest records of them.

use super::{ExperimentError, design};
use crate::plan::Plan;
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
) -> Result<String, ExperimentError> {
    use crate::circuit::saved::{RunWeights, SavedInit};
    let (dir, time) = parse_from(from)?;
    let weights = RunWeights::read(&dir, time.map(|t| t.seconds()))
        .map_err(|e| ExperimentError::Usage(format!("--from {from}: {e}")))?;
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
    Ok(format!(
        "--from: {} start from {} at t = {} s{rounded}; activities, traces and delay buffers start as the circuit says",
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
