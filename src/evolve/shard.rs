//! A generation split across processes (`hetsim evolve FILE --out DIR --shard I/N`). The
//! units of the next generation (its members, then the baselines) are dealt by index mod N;
//! shard I reads the saved state (without changing anything), asks the strategy for the same
//! candidates the evolution would, scores its units and writes
//! `shards/g<generation>-<I>of<N>.json` by rename. The next `--resume` finds a complete set of
//! shard files for the generation it is about to run and takes their scores instead of running
//! the ensemble; everything after — telling the strategy, the tables, the state — is the code
//! of an unsharded generation. The scores are stored as exact decimals and every unit
//! integrates as it would alone, so a sharded generation writes the same bytes as an unsharded
//! one. A shard file is taken only when it was written by the same evolution file, circuit,
//! build, backend and precision, for the same generation and the same candidates.

use super::error::EvolveError;
use super::evaluate::Score;
use super::state::Identity;
use crate::backend::{DeviceDescription, Precision};
use crate::record::manifest::sha256_hex;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `I/N`, as `--shard` takes it.
pub fn parse(text: &str) -> Result<(usize, usize), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("--shard takes I/N (e.g. 0/4), got `{text}`"))?;
    let (i, n): (usize, usize) = match (i.trim().parse(), n.trim().parse()) {
        (Ok(i), Ok(n)) => (i, n),
        _ => {
            return Err(format!(
                "--shard takes I/N with whole numbers, got `{text}`"
            ));
        }
    };
    if n == 0 || i >= n || n > 1 << 20 {
        return Err(format!(
            "--shard {text}: the shard index I must be below the count N (0 ≤ I < N ≤ 1048576)"
        ));
    }
    Ok((i, n))
}

/// What a shard process writes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ShardFile {
    pub(super) identity: Identity,
    pub(super) generation: u64,
    pub(super) shard: usize,
    pub(super) shards: usize,
    /// SHA-256 of the generation's candidates as exact decimals.
    pub(super) candidates_sha256: String,
    pub(super) backend: String,
    pub(super) device: DeviceDescription,
    pub(super) precision: Precision,
    /// The scored units: index among the generation's units, and the score.
    pub(super) units: Vec<SavedScore>,
    pub(super) first_failure: Option<String>,
}

/// A [`Score`] with every number as exact decimal text.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SavedScore {
    pub(super) unit: usize,
    pub(super) value: String,
    pub(super) diverged: bool,
    pub(super) rate: String,
    pub(super) gradient_angle: String,
    pub(super) weight_angle: String,
    pub(super) hebbian: String,
    pub(super) final_loss: String,
    pub(super) layers: Vec<String>,
    pub(super) per_rate: Vec<String>,
}

impl SavedScore {
    pub(super) fn of(unit: usize, s: &Score) -> SavedScore {
        let t = |v: f64| format!("{v}");
        SavedScore {
            unit,
            value: t(s.value),
            diverged: s.diverged,
            rate: t(s.rate),
            gradient_angle: t(s.gradient_angle),
            weight_angle: t(s.weight_angle),
            hebbian: t(s.hebbian),
            final_loss: t(s.final_loss),
            layers: s.layers.iter().map(|v| t(*v)).collect(),
            per_rate: s.per_rate.iter().map(|v| t(*v)).collect(),
        }
    }
    fn score(&self) -> Option<Score> {
        let p = |t: &str| t.parse::<f64>().ok();
        Some(Score {
            value: p(&self.value)?,
            diverged: self.diverged,
            rate: p(&self.rate)?,
            gradient_angle: p(&self.gradient_angle)?,
            weight_angle: p(&self.weight_angle)?,
            hebbian: p(&self.hebbian)?,
            final_loss: p(&self.final_loss)?,
            layers: self
                .layers
                .iter()
                .map(|v| p(v))
                .collect::<Option<Vec<_>>>()?,
            per_rate: self
                .per_rate
                .iter()
                .map(|v| p(v))
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

/// SHA-256 of candidates as exact decimals.
pub(super) fn candidates_sha256(candidates: &[Vec<f64>]) -> String {
    let text: Vec<String> = candidates
        .iter()
        .map(|x| {
            x.iter()
                .map(|v| format!("{v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    sha256_hex(text.join("\n").as_bytes())
}

fn folder(dir: &Path) -> PathBuf {
    dir.join("shards")
}

/// The file of shard `shard` of `shards` for `generation`.
pub(super) fn path(dir: &Path, generation: u64, shard: usize, shards: usize) -> PathBuf {
    folder(dir).join(format!("g{generation}-{shard}of{shards}.json"))
}

/// The shard files of `generation` in `dir`, as (shard, shards, path).
fn files_of(dir: &Path, generation: u64) -> Vec<(usize, usize, PathBuf)> {
    let prefix = format!("g{generation}-");
    let Ok(entries) = std::fs::read_dir(folder(dir)) else {
        return Vec::new();
    };
    let mut out: Vec<(usize, usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(&prefix)?.strip_suffix(".json")?;
            let (i, n) = rest.split_once("of")?;
            Some((i.parse().ok()?, n.parse().ok()?, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// What a complete set of shard files gives the generation.
pub(super) struct Collected {
    pub(super) scores: Vec<Score>,
    pub(super) first_failure: Option<String>,
    pub(super) backend: String,
    pub(super) device: DeviceDescription,
    pub(super) precision: Precision,
}

/// The scores of `generation`'s `units` from its shard files: `None` when there are none; an
/// error when they are incomplete or not this evolution's.
pub(super) fn collect(
    dir: &Path,
    generation: u64,
    candidates: &[Vec<f64>],
    units: usize,
    identity: &Identity,
) -> Result<Option<Collected>, EvolveError> {
    let files = files_of(dir, generation);
    let Some(&(_, shards, _)) = files.first() else {
        return Ok(None);
    };
    let bad = |path: &Path, message: String| {
        EvolveError::Usage(format!(
            "--resume: {}: {message}; write it again with --shard, or delete it to run the generation here",
            path.display()
        ))
    };
    if files.iter().any(|f| f.1 != shards) || files.len() != shards {
        let have: Vec<String> = files.iter().map(|f| format!("{}/{}", f.0, f.1)).collect();
        return Err(EvolveError::Usage(format!(
            "--resume: generation {generation} has shard files {} in {}, not one complete set 0/N … N−1/N; run the missing shards, or delete the files to run the generation here",
            have.join(", "),
            folder(dir).display()
        )));
    }
    let want = candidates_sha256(candidates);
    let mut scores: Vec<Option<Score>> = vec![None; units];
    let mut first_failure = None;
    let mut device = None;
    for (i, _, path) in &files {
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(path, format!("cannot be read: {e}")))?;
        let f: ShardFile = serde_json::from_str(&text)
            .map_err(|e| bad(path, format!("line {}: not a shard file: {e}", e.line())))?;
        let mut expected = identity.clone();
        expected.backend = Some(f.identity.backend.clone().unwrap_or_default());
        expected.precision = f.identity.precision;
        let same_run = identity.backend.is_none()
            || (identity.backend == f.identity.backend
                && identity.precision == f.identity.precision);
        if f.identity != expected || !same_run {
            return Err(bad(
                path,
                "was written by another evolution file, circuit, hetsim build, backend or precision".into(),
            ));
        }
        if f.generation != generation || f.shard != *i || f.shards != shards {
            return Err(bad(path, "its name and contents disagree".into()));
        }
        if f.candidates_sha256 != want {
            return Err(bad(
                path,
                "scores other candidates than this generation's (the state moved on since it was written)".into(),
            ));
        }
        if let Some((b, p, _)) = &device
            && (b != &f.identity.backend || *p != f.precision)
        {
            return Err(bad(
                path,
                "ran on another backend or precision than the other shards".into(),
            ));
        }
        for s in &f.units {
            let slot = scores
                .get_mut(s.unit)
                .filter(|_| s.unit % shards == *i)
                .ok_or_else(|| bad(path, format!("unit {} is not one of this shard's", s.unit)))?;
            if slot.is_some() {
                return Err(bad(path, format!("unit {} is scored twice", s.unit)));
            }
            *slot =
                Some(s.score().ok_or_else(|| {
                    bad(path, format!("unit {}: a number does not parse", s.unit))
                })?);
        }
        if first_failure.is_none() {
            first_failure = f.first_failure.clone();
        }
        if device.is_none() {
            device = Some((
                f.identity.backend.clone(),
                f.precision,
                (f.backend, f.device),
            ));
        }
    }
    let missing: Vec<usize> = (0..units).filter(|&u| scores[u].is_none()).collect();
    if let Some(u) = missing.first() {
        return Err(EvolveError::Usage(format!(
            "--resume: the shard files of generation {generation} lack unit {u} (of {units}); write shard {}/{shards} again",
            u % shards
        )));
    }
    let Some((_, precision, (backend, device))) = device else {
        return Ok(None);
    };
    Ok(Some(Collected {
        scores: scores.into_iter().flatten().collect(),
        first_failure,
        backend,
        device,
        precision,
    }))
}

/// Removes the shard files of `generation` (once its state is saved).
pub(super) fn clear(dir: &Path, generation: u64) {
    for (_, _, p) in files_of(dir, generation) {
        let _ = std::fs::remove_file(p);
    }
}

/// Runs shard `shard` of `shards` of the next generation of the evolution in `request.out`
/// and writes its shard file; returns the file and the generation.
pub fn run_shard(
    request: &super::EvolveRequest,
    shard: usize,
    shards: usize,
) -> Result<(PathBuf, u64), EvolveError> {
    use super::state;
    let Some(dir) = &request.out else {
        return Err(EvolveError::Usage(
            "--shard needs --out DIR, the directory of the evolution".into(),
        ));
    };
    if request.resume || request.replace {
        return Err(EvolveError::Usage(
            "--shard scores part of the next generation and changes nothing else: give it without --resume or --replace".into(),
        ));
    }
    if !dir.join("evolve.yaml").is_file() {
        return Err(EvolveError::Usage(format!(
            "--shard: {} holds no evolution; start it first (`hetsim evolve FILE --out {} --generations 0`)",
            dir.display(),
            dir.display()
        )));
    }
    let text = super::setup::saved_evolve_file(dir, &request.path)?;
    let setup = super::setup::load(
        &request.path,
        Some(text),
        request.generations,
        &request.budget,
        &super::setup::Pinned::default(),
    )?;
    let state_path = state::path_in(dir);
    let Some(text) = state::read(&state_path, state::max_state_bytes(&setup))? else {
        return Err(EvolveError::Usage(format!(
            "--shard: {} has no state; start the evolution first (`hetsim evolve FILE --out DIR --generations 0`)",
            dir.display()
        )));
    };
    let saved = state::parse(&state_path, &text)?;
    state::check_identity(&state_path, &saved.identity, &setup)?;
    let mut identity = saved.identity.clone();
    let (mut search, _, done) = state::restore(&state_path, saved, &setup)?;
    if done >= setup.sizes.generations {
        return Err(EvolveError::Usage(format!(
            "--shard: the evolution in {} has done its {done} generations",
            dir.display()
        )));
    }
    let generation = done + 1;
    let candidates = search.ask(&setup.free);
    let circuits = super::evaluate::member_circuits(&setup, &candidates);
    let all = super::evaluate::units_of(&setup, &circuits);
    if shards > all.len() {
        return Err(EvolveError::Usage(format!(
            "--shard {shard}/{shards}: a generation has {} (members and baselines) to deal out; use at most {} shards",
            crate::text::count(all.len(), "unit"),
            all.len()
        )));
    }
    let picked: Vec<usize> = (0..all.len()).filter(|u| u % shards == shard).collect();
    let units: Vec<super::evaluate::Unit> = all
        .into_iter()
        .enumerate()
        .filter(|(u, _)| u % shards == shard)
        .map(|(_, u)| u)
        .collect();
    let layers = super::members::forward_plastic(&setup.circuit);
    let mut device = None;
    let scored = super::evaluate::score(
        &units,
        &setup.spec.rates,
        &super::evaluate::seeds_of(&setup, generation),
        &layers,
        &setup.base_dir,
        &setup.budget,
        request.backend,
        request.precision,
        &request.backend_options,
        &|p| super::members::keep_free_terms(p, &setup),
        &mut |b| {
            let family = state::backend_family(&b.describe());
            if let (Some(f), Some(p)) = (&identity.backend, identity.precision)
                && (*f != family || p != b.precision())
            {
                return Err(EvolveError::Usage(format!(
                    "--shard: the evolution's generations ran on {f} in {}; run the shard with --backend {f} --precision {}",
                    p.name(),
                    p.name()
                )));
            }
            identity.backend = Some(family);
            identity.precision = Some(b.precision());
            device = Some((b.describe(), b.device(), b.precision()));
            Ok(())
        },
    )?;
    let Some((backend, device, precision)) = device else {
        return Err(EvolveError::Usage("--shard: no unit was scored".into()));
    };
    let file = ShardFile {
        identity,
        generation,
        shard,
        shards,
        candidates_sha256: candidates_sha256(&candidates),
        backend,
        device,
        precision,
        units: picked
            .iter()
            .zip(&scored.scores)
            .map(|(u, s)| SavedScore::of(*u, s))
            .collect(),
        first_failure: scored.first_failure,
    };
    let out = path(dir, generation, shard, shards);
    std::fs::create_dir_all(folder(dir)).map_err(super::files::write_err(&folder(dir)))?;
    super::files::write_atomic(
        &out,
        &serde_json::to_string_pretty(&file).unwrap_or_default(),
    )?;
    Ok((out, generation))
}
