//! `hetsim rerun`: the request a run directory's manifest records, rebuilt from the manifest
//! alone, so the same backend and precision reproduce its tables byte for byte.

use super::{CircuitSource, Design, ExperimentError, Output, Request};
use crate::record::Manifest;
use crate::record::manifest::sha256_hex;
use crate::spec::RuleName;
use std::path::{Path, PathBuf};

/// The manifest of a run directory.
pub fn read_manifest(run_dir: &Path) -> Result<Manifest, ExperimentError> {
    let path = run_dir.join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ExperimentError::Usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        ExperimentError::Usage(format!(
            "{}:{}:{}: not a manifest this hetsim can replay: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

/// The request that made the run in `run_dir`, writing to `output` instead. Data files the run
/// read must still have the SHA-256 the manifest recorded. The replay runs on the backend
/// and precision the run used.
pub fn request_from_run(
    run_dir: &Path,
    output: Output,
    command_line: Vec<String>,
) -> Result<Request, ExperimentError> {
    let manifest = read_manifest(run_dir)?;
    let replay = manifest.replay.ok_or_else(|| {
        ExperimentError::Usage(format!(
            "{}: the manifest has no replay record (the run was not made by `hetsim run` or `compare`)",
            run_dir.join("manifest.json").display()
        ))
    })?;
    for input in manifest.inputs.iter().filter(|i| i.role == "data") {
        let now = std::fs::read(&input.path)
            .map(|b| sha256_hex(&b))
            .map_err(|e| {
                ExperimentError::Usage(format!(
                    "the run read {}, which cannot be read now: {e}",
                    input.path
                ))
            })?;
        if now != input.sha256 {
            return Err(ExperimentError::Usage(format!(
                "the data file {} has changed since the run (SHA-256 {} then, {now} now); a replay would not reproduce it",
                input.path, input.sha256
            )));
        }
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
    Ok(Request {
        circuit: CircuitSource {
            path: PathBuf::from(&replay.circuit_path),
            text: Some(replay.circuit_text),
            base_dir: Some(PathBuf::from(&replay.base_dir)),
            sets: replay.sets,
            duration: replay.duration,
        },
        design,
        seeds: replay.seeds,
        first_seed: replay.first_seed,
        // The backend and precision that actually ran (not `auto`), so the replay computes
        // with the same numbers.
        backend: manifest.device.kind,
        precision: Some(manifest.precision),
        output,
        command_line,
    })
}

/// Where a rerun of `run_dir` goes by default: `<run_dir>-rerun` (then `-rerun-2`, …).
pub fn default_rerun_dir(run_dir: &Path) -> PathBuf {
    super::output::unused_name(PathBuf::from(format!(
        "{}-rerun",
        run_dir.display().to_string().trim_end_matches('/')
    )))
}
