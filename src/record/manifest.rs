//! `manifest.json`: what ran, on what, from which inputs, and how it ended — enough to replay
//! the run from this file alone (`hetsim rerun`).

use crate::backend::{BackendKind, DeviceDescription, Precision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a run stands. Written `running` when it starts and rewritten when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    #[serde(rename = "running")]
    Running,
    #[serde(rename = "completed")]
    Completed,
    /// Some instances diverged; the others ran to the end.
    #[serde(rename = "completed with failures")]
    CompletedWithFailures,
    /// Every instance diverged, or the run itself failed (I/O, device).
    #[serde(rename = "failed")]
    Failed,
    /// Stopped by SIGINT/SIGTERM (or a caller's stop flag) between two windows.
    #[serde(rename = "interrupted")]
    Interrupted,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::CompletedWithFailures => "completed with failures",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
        }
    }
}

/// An instance that stopped because its state diverged.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    pub instance: usize,
    pub seed: u64,
    pub label: String,
    pub time_s: f64,
    pub message: String,
}

/// A file the run read, with its SHA-256 (so a replay can tell whether it changed).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InputFile {
    /// `circuit` or `data`.
    pub role: String,
    pub path: String,
    pub sha256: String,
}

/// Where and with what the run was made.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    /// The command line, quoted so that it pastes back into a POSIX shell.
    pub command_line: String,
    pub working_dir: String,
    pub hetsim_version: String,
    /// The git commit hetsim was built from (`unknown` outside a checkout); `-dirty` when the
    /// work tree had changes.
    pub git_commit: String,
    pub rustc: String,
    pub os: String,
    pub cpu: String,
}

/// The experiment a run directory holds, as asked: replaying it runs the same request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Replay {
    /// `run` or `compare`.
    pub design: String,
    /// The rules `compare` swapped in, in order (empty for `run`).
    pub rules: Vec<String>,
    pub seeds: usize,
    pub first_seed: u64,
    pub backend: BackendKind,
    /// None: the backend's default.
    pub precision: Option<Precision>,
    /// The circuit file's path as given and its text, verbatim.
    pub circuit_path: String,
    pub circuit_text: String,
    /// The folder relative data paths resolve against (absolute).
    pub base_dir: String,
    /// `--set PATH=VALUE` overrides, in order.
    pub sets: Vec<(String, String)>,
    /// `--duration`, if given.
    pub duration: Option<String>,
    /// `--checkpoint-every`, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<String>,
    /// `--from RUN_DIR[@TIME]`, the directory made absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `--carry activities`: the activities start from the `--from` run's checkpoint too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub carry_activities: bool,
}

/// What the manifest says about the run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub hetsim_version: String,
    pub circuit: String,
    pub circuit_file: Option<String>,
    pub command: String,
    pub status: Status,
    /// Why the run failed or stopped, when it did.
    #[serde(default)]
    pub status_reason: Option<String>,
    /// Simulated time reached (the duration, unless the run stopped early).
    #[serde(default)]
    pub time_reached_s: Option<f64>,
    pub backend: String,
    pub device: DeviceDescription,
    pub precision: Precision,
    pub method: String,
    pub dt_s: f64,
    pub duration_s: f64,
    pub steps: u64,
    pub record_every_s: f64,
    pub measures: Vec<String>,
    pub instances: usize,
    pub seeds: Vec<u64>,
    pub rules: Vec<String>,
    pub started_unix_s: f64,
    pub ended_unix_s: Option<f64>,
    pub wall_s: Option<f64>,
    pub synapse_steps_per_s: Option<f64>,
    /// Peak resident memory of the process (Linux), for checking that memory stays flat.
    pub peak_rss_bytes: Option<u64>,
    pub notes: Vec<String>,
    pub failures: Vec<Failure>,
    /// Per distinct label, the explicit circuit it ran (YAML).
    pub circuits: BTreeMap<String, String>,
    pub overrides: Vec<String>,
    pub provenance: Provenance,
    pub inputs: Vec<InputFile>,
    /// None for runs that were not made from a request (tests driving the loop directly).
    pub replay: Option<Replay>,
    /// Each time the run was resumed from a checkpoint (`hetsim run --resume`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumes: Vec<Resume>,
    /// Where saved initial weights came from (`init: {file}`/`{from}`, `--from`): the file
    /// read and its SHA-256, and for another run its directory, its manifest's SHA-256 and
    /// the time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_sources: Vec<crate::circuit::saved::WeightSource>,
    /// Where carried activities came from (`--from RUN_DIR --carry activities`): the run's
    /// checkpoint and its SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_source: Option<crate::circuit::saved::StateSource>,
}

/// A resumption of a run from its checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Resume {
    /// Simulated time of the checkpoint it continued from.
    pub from_s: f64,
    pub unix_s: f64,
    pub command: String,
    /// The status the run had before (`running` after a kill, `interrupted`, `failed`).
    pub previous_status: Status,
}

/// Peak resident set size of this process, from /proc (None elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Quotes one argument for a POSIX shell: bare when it is made of safe characters, otherwise
/// in single quotes (a single quote inside becomes `'\''`).
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// A command line that pastes back into a shell.
pub fn quote_command_line(args: &[String]) -> String {
    args.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Provenance {
    /// This process: its command line, folder, build and machine.
    pub fn of_this_process(args: &[String]) -> Provenance {
        Provenance {
            command_line: quote_command_line(args),
            working_dir: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            hetsim_version: env!("CARGO_PKG_VERSION").into(),
            git_commit: env!("HETSIM_GIT_COMMIT").into(),
            rustc: env!("HETSIM_RUSTC_VERSION").into(),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            cpu: crate::simd::cpu_model(),
        }
    }
}

/// The SHA-256 of a file's bytes, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_a_shell() {
        let args: Vec<String> = [
            "hetsim",
            "run",
            "c.yaml",
            "--set",
            "learning.tau_w=5 s",
            "it's",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let line = quote_command_line(&args);
        assert_eq!(
            line,
            "hetsim run c.yaml --set 'learning.tau_w=5 s' 'it'\\''s'"
        );
        // The shell splits it back into the same words.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("for a in {line}; do printf '%s\\n' \"$a\"; done"))
            .output()
            .expect("sh");
        let words: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(words, args);
    }

    #[test]
    fn sha256_of_a_known_string() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn status_names_are_the_serialised_ones() {
        for s in [
            Status::Running,
            Status::Completed,
            Status::CompletedWithFailures,
            Status::Failed,
            Status::Interrupted,
        ] {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.name())
            );
        }
    }
}
