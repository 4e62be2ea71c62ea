//! `hetsim rerun`: the request a run directory's manifest records, rebuilt from the manifest
//! alone, so the same backend and precision reproduce its tables byte for byte.

use super::{CircuitSource, Design, ExperimentError, Output, Request};
use crate::record::Manifest;
use crate::record::manifest::sha256_hex;
use crate::spec::RuleName;
use std::path::{Path, PathBuf};

/// The largest manifest `rerun` reads (a manifest holds a circuit's text and its expansions:
/// kilobytes to a few megabytes).
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// The manifest of a run directory. Only a regular file of at most [`MAX_MANIFEST_BYTES`] is
/// read; an error never quotes the file (it may not be a manifest at all), it names the file,
/// the position and what is wrong.
pub fn read_manifest(run_dir: &Path) -> Result<Manifest, ExperimentError> {
    let path = run_dir.join("manifest.json");
    let refuse = |why: String| ExperimentError::Usage(format!("{}: {why}", path.display()));
    let meta = std::fs::metadata(&path).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    if !meta.is_file() {
        return Err(refuse(
            "not a regular file, so not a manifest hetsim wrote".into(),
        ));
    }
    let too_large = || {
        refuse(format!(
            "larger than {} MiB, so not a manifest hetsim wrote",
            MAX_MANIFEST_BYTES / (1024 * 1024)
        ))
    };
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(too_large());
    }
    let bytes = crate::spec::read_bounded(&path, MAX_MANIFEST_BYTES)
        .map_err(|e| refuse(format!("cannot read it: {e}")))?
        .ok_or_else(too_large)?;
    parse_manifest(&path, &bytes)
}

/// Parses a manifest's bytes; `path` labels errors.
fn parse_manifest(path: &Path, bytes: &[u8]) -> Result<Manifest, ExperimentError> {
    let at = |e: &serde_json::Error| format!("{}:{}:{}", path.display(), e.line(), e.column());
    // First, whether it is a hetsim manifest at all: only then may an error say more than
    // where it is wrong (serde's messages quote the values they reject).
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ExperimentError::Usage(format!(
            "{}: not a hetsim manifest (not JSON{})",
            at(&e),
            if e.is_eof() { ": it ends early" } else { "" }
        ))
    })?;
    if value.get("hetsim_version").is_none_or(|v| !v.is_string()) {
        return Err(ExperimentError::Usage(format!(
            "{}: not a hetsim manifest (it has no `hetsim_version`)",
            path.display()
        )));
    }
    serde_json::from_value(value).map_err(|e| {
        ExperimentError::Usage(format!(
            "{}: not a manifest this hetsim can replay: {e}",
            path.display()
        ))
    })
}

/// The request that made the run in `run_dir`, writing to `output` instead. The manifest must
/// be consistent (the circuit text it replays has the SHA-256 it recorded, the seeds fit in 64
/// bits), and every data file the circuit reads must have an entry in `inputs` whose SHA-256
/// the file still has. The replay runs on the backend and precision the run used.
pub fn request_from_run(
    run_dir: &Path,
    output: Output,
    command_line: Vec<String>,
) -> Result<Request, ExperimentError> {
    let manifest_path = run_dir.join("manifest.json");
    let manifest = read_manifest(run_dir)?;
    let inconsistent = |what: String| {
        ExperimentError::Usage(format!(
            "{}: the manifest is inconsistent: {what}; a replay would not reproduce the run",
            manifest_path.display()
        ))
    };
    let replay = manifest.replay.clone().ok_or_else(|| {
        ExperimentError::Usage(format!(
            "{}: the manifest has no replay record (the run was not made by `hetsim run` or `compare`)",
            manifest_path.display()
        ))
    })?;
    // The circuit replayed is the one the run read.
    let circuit_hash = manifest
        .inputs
        .iter()
        .find(|i| i.role == "circuit")
        .map(|i| i.sha256.clone())
        .ok_or_else(|| inconsistent("`inputs` has no entry for the circuit".into()))?;
    if sha256_hex(replay.circuit_text.as_bytes()) != circuit_hash {
        return Err(inconsistent(format!(
            "`replay.circuit_text` does not have the SHA-256 recorded in `inputs` for the circuit ({circuit_hash})"
        )));
    }
    if replay.seeds == 0 {
        return Err(inconsistent("`replay.seeds` is 0".into()));
    }
    if replay
        .first_seed
        .checked_add(replay.seeds as u64 - 1)
        .is_none()
    {
        return Err(inconsistent(format!(
            "`replay.first_seed` {} + `replay.seeds` {} runs past the largest seed, 2^64 − 1",
            replay.first_seed, replay.seeds
        )));
    }
    let design = match replay.design.as_str() {
        "run" => Design::Run,
        "compare" => {
            let mut rules = Vec::new();
            for name in &replay.rules {
                rules.push(RuleName::from_name(name).ok_or_else(|| {
                    ExperimentError::Usage(format!("the manifest names an unknown rule `{name}`"))
                })?);
            }
            Design::Compare { rules }
        }
        other => {
            return Err(ExperimentError::Usage(format!(
                "the manifest's design `{other}` cannot be replayed by this hetsim"
            )));
        }
    };
    let circuit = CircuitSource {
        path: PathBuf::from(&replay.circuit_path),
        text: Some(replay.circuit_text),
        base_dir: Some(PathBuf::from(&replay.base_dir)),
        sets: replay.sets,
        duration: replay.duration,
    };
    check_data(&circuit, &manifest, &manifest_path)?;
    // The saved weights it started from must be those it read.
    for source in &manifest.weight_sources {
        if let Some(why) = source.changed() {
            return Err(ExperimentError::Usage(format!(
                "{why}; a replay would not reproduce the run"
            )));
        }
    }
    Ok(Request {
        circuit,
        design,
        seeds: replay.seeds,
        first_seed: replay.first_seed,
        // The backend and precision that actually ran (not `auto`), so the replay computes
        // with the same numbers.
        backend: manifest.device.kind,
        precision: Some(manifest.precision),
        // How the machine runs it is the caller's (`Request { backend_options, ..replay }`).
        backend_options: crate::backend::Options::default(),
        budget: crate::circuit::budget::Budget::default(),
        output,
        command_line,
        // The thread count is the rerunning machine's choice: it changes no number.
        threads: super::Threads::DEFAULT,
        checkpoint_every: replay.checkpoint_every,
        from: replay.from,
        carry_activities: replay.carry_activities,
    })
}

/// Every data file the replayed circuit reads must have an entry in the manifest's `inputs`,
/// and the file the replay will read must still have that entry's SHA-256.
fn check_data(
    circuit: &CircuitSource,
    manifest: &Manifest,
    manifest_path: &Path,
) -> Result<(), ExperimentError> {
    let (_, spec) = circuit.load()?;
    check_edge_files(circuit, &spec, manifest)?;
    // `compare` swaps rules only: every circuit of the design reads the same data file.
    let Some(rel) = spec.task.source.csv_path() else {
        return Ok(());
    };
    let entry = manifest
        .inputs
        .iter()
        .find(|i| i.role == "data" && Path::new(&i.path).ends_with(rel))
        .ok_or_else(|| {
            ExperimentError::Usage(format!(
                "{}: the manifest is inconsistent: `inputs` has no entry for the data file `{}` the circuit reads; a replay needs every input's SHA-256",
                manifest_path.display(),
                rel
            ))
        })?;
    let path = circuit.base_dir().join(rel);
    let now = crate::spec::read_bounded(&path, crate::task::MAX_CSV_BYTES)
        .map_err(|e| {
            ExperimentError::Usage(format!(
                "the run read {}, which cannot be read now: {e}",
                path.display()
            ))
        })?
        .map(|b| sha256_hex(&b))
        .ok_or_else(|| {
            ExperimentError::Usage(format!(
                "the data file {} is larger than a data file may be now; a replay would not reproduce the run",
                path.display()
            ))
        })?;
    if now != entry.sha256 {
        return Err(ExperimentError::Usage(format!(
            "the data file {} has changed since the run (SHA-256 {} then, {now} now); a replay would not reproduce it",
            path.display(),
            entry.sha256
        )));
    }
    Ok(())
}

/// Every edge file (`connectivity: {file}`) the replayed circuit reads must still have the
/// SHA-256 the manifest's `inputs` recorded for it (runs from before edge files were listed
/// have none to check).
fn check_edge_files(
    circuit: &CircuitSource,
    spec: &crate::spec::CircuitSpec,
    manifest: &Manifest,
) -> Result<(), ExperimentError> {
    for p in spec.projections.values() {
        let crate::spec::Connectivity::File(rel) = &p.connectivity else {
            continue;
        };
        let Some(entry) = manifest
            .inputs
            .iter()
            .find(|i| i.role == "data" && Path::new(&i.path).ends_with(rel))
        else {
            continue;
        };
        let path = circuit.base_dir().join(rel);
        let now = crate::spec::read_bounded(&path, crate::circuit::connectivity::MAX_EDGES_BYTES)
            .ok()
            .flatten()
            .map(|b| sha256_hex(&b));
        if now.as_deref() != Some(entry.sha256.as_str()) {
            return Err(ExperimentError::Usage(format!(
                "the edge file {} has changed or gone since the run (SHA-256 {} then); a replay would not reproduce it",
                path.display(),
                entry.sha256
            )));
        }
    }
    Ok(())
}

/// Where a rerun of `run_dir` goes by default: `<run_dir>-rerun` (then `-rerun-2`, …).
pub fn default_rerun_dir(run_dir: &Path) -> PathBuf {
    super::output::unused_name(PathBuf::from(format!(
        "{}-rerun",
        run_dir.display().to_string().trim_end_matches('/')
    )))
}
