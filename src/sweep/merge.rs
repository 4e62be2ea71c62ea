//! `hetsim sweep merge DIR... --out OUT`: the shards of one sweep combined into one sweep
//! directory, after checking that they are shards of the same sweep and that every point was
//! finished in exactly one of them.

use super::SweepError;
use super::parts;
use super::run::{SweepManifest, count_failed};
use super::tables::{self, PointTable, write_err};
use crate::record::atomic::write_atomic;
use crate::record::manifest::Provenance;
use crate::record::{Status, unix_now};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a merge produced.
#[derive(Debug)]
pub struct MergeOutcome {
    pub dir: PathBuf,
    pub points: usize,
    pub rows: usize,
    pub instances_failed: usize,
    /// The figure files drawn, or why none were: the merge draws none (None); the caller may
    /// (`crate::drawing::merge`).
    pub figures: Option<Result<Vec<PathBuf>, String>>,
}

/// At most this many point ids are listed in a refusal.
const LISTED: usize = 8;

fn listed(ids: &[String]) -> String {
    let mut s = ids
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > LISTED {
        s.push_str(&format!(", … ({} in all)", ids.len()));
    }
    s
}

/// A shard's copy of its sweep file, parsed.
fn stored_spec(dir: &Path) -> Result<super::SweepSpec, SweepError> {
    let path = dir.join("sweep.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        SweepError::Usage(format!(
            "cannot merge {}: its copy of the sweep file, {}, cannot be read ({e})",
            dir.display(),
            path.display()
        ))
    })?;
    let source = crate::spec::SourceFile::from_text(&path, text);
    crate::spec::document::parse_document(&source).map_err(|d| {
        SweepError::Usage(format!(
            "cannot merge {}: its sweep.yaml does not read ({d})",
            dir.display()
        ))
    })
}

/// Combines the shard directories `dirs` into `out`, after checking that they are shards of
/// one sweep — the same sweep file (but for `ensemble_size`), command-line changes (`--set`,
/// `--seeds`, `--duration`), circuit, hetsim, backend and precision —, that each of their parts is whole, and that every point finished exactly once.
pub fn merge(
    dirs: &[PathBuf],
    out: &Path,
    command_line: &[String],
) -> Result<MergeOutcome, SweepError> {
    if dirs.is_empty() {
        return Err(SweepError::Usage(
            "merge needs at least one sweep directory".into(),
        ));
    }
    let occupied = std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(SweepError::Usage(format!(
            "{} exists and is not empty; choose another --out for the merged sweep",
            out.display()
        )));
    }
    let manifests: Vec<SweepManifest> = dirs
        .iter()
        .map(|d| SweepManifest::read(d))
        .collect::<Result<_, _>>()?;
    let tables_of: Vec<PointTable> = dirs
        .iter()
        .map(|d| PointTable::read(&d.join("points.csv")))
        .collect::<Result<_, _>>()?;
    let first = &manifests[0];
    let specs: Vec<super::SweepSpec> = dirs
        .iter()
        .map(|d| stored_spec(d))
        .collect::<Result<_, _>>()?;
    let same_points = |t: &PointTable| {
        t.axis_columns == tables_of[0].axis_columns
            && t.rows.len() == tables_of[0].rows.len()
            && t.rows
                .iter()
                .zip(&tables_of[0].rows)
                .all(|(a, b)| a.id == b.id && a.index == b.index)
    };
    let this = Provenance::of_this_process(&[]);
    for (k, (m, t)) in manifests.iter().zip(&tables_of).enumerate() {
        let differs = |what: String| {
            SweepError::Usage(format!(
                "{} is not a shard of the same sweep as {}: {what}\n  hint: merge only the shards of one sweep, run from one sweep file and circuit with the same --set, --seeds and --duration by one hetsim on one backend and precision",
                dirs[k].display(),
                dirs[0].display()
            ))
        };
        if m.hetsim_version != env!("CARGO_PKG_VERSION")
            || m.provenance.git_commit != this.git_commit
        {
            let what = format!(
                "it was run by hetsim {} (commit {}), this is hetsim {} (commit {})",
                m.hetsim_version,
                m.provenance.git_commit,
                env!("CARGO_PKG_VERSION"),
                this.git_commit
            );
            return Err(SweepError::Usage(format!(
                "cannot merge {}: {what}; merge with the hetsim that ran the shards",
                dirs[k].display()
            )));
        }
        if k == 0 {
            continue;
        }
        let keys = specs[k].differing_keys(&specs[0], &["ensemble_size", "prediction"]);
        if !keys.is_empty() {
            let shown: Vec<String> = keys
                .iter()
                .map(|key| {
                    let value = |s: &super::SweepSpec| {
                        serde_json::to_value(s)
                            .ok()
                            .and_then(|v| v.get(key).cloned())
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "nothing".into())
                    };
                    format!(
                        "`{key}` is {} there and {} here",
                        value(&specs[0]),
                        value(&specs[k])
                    )
                })
                .collect();
            return Err(differs(format!(
                "their sweep files differ: {}",
                shown.join("; ")
            )));
        }
        if m.overrides != first.overrides {
            return Err(differs(format!(
                "it ran with {}, {} with {}",
                m.overrides.describe(),
                dirs[0].display(),
                first.overrides.describe()
            )));
        }
        if m.circuit_sha256 != first.circuit_sha256 {
            return Err(differs(
                "their circuit files differ (SHA-256 of circuit.yaml)".into(),
            ));
        }
        if m.summary_columns != first.summary_columns || m.rules != first.rules {
            return Err(differs("their rules or summary columns differ".into()));
        }
        if m.seeds != first.seeds || m.seed != first.seed {
            return Err(differs("their seeds differ".into()));
        }
        let ran = |m: &SweepManifest| {
            (
                m.device
                    .as_ref()
                    .map(|d| d.kind.name())
                    .unwrap_or("nothing"),
                m.precision.map(|p| p.name()).unwrap_or("no precision"),
            )
        };
        if ran(m) != ran(first) {
            return Err(differs(format!(
                "it ran on {} {}, {} on {} {}, and their results are not comparable",
                ran(m).0,
                ran(m).1,
                dirs[0].display(),
                ran(first).0,
                ran(first).1
            )));
        }
        if !same_points(t) {
            return Err(differs("their points differ".into()));
        }
    }
    // Where each point was finished.
    let mut found: HashMap<String, Vec<usize>> = HashMap::new();
    let mut all_parts = Vec::new();
    let no_seeds = |_: &str, _: usize| None;
    for (k, d) in dirs.iter().enumerate() {
        let expect = parts::Expect {
            stat_columns: &first.summary_columns,
            rules: first.rules.len(),
            seeds: first.seeds,
            seed_of: &no_seeds,
        };
        for part in parts::check_all(d, &expect)? {
            let ran = (
                manifests[k].device.as_ref().map(|d| d.kind),
                manifests[k].precision,
            );
            if ran != (Some(part.backend), Some(part.precision)) {
                return Err(SweepError::Usage(format!(
                    "the part {} ran on {} {}, not on what the manifest of {} says; its results are not comparable with the others'",
                    part.dir.display(),
                    part.backend.name(),
                    part.precision.name(),
                    d.display()
                )));
            }
            for id in &part.points {
                found.entry(id.clone()).or_default().push(k);
            }
            all_parts.push(part.dir);
        }
    }
    let points = &tables_of[0];
    let missing: Vec<String> = points
        .rows
        .iter()
        .filter(|r| !found.contains_key(&r.id))
        .map(|r| r.id.clone())
        .collect();
    if !missing.is_empty() {
        let mut shards: Vec<usize> = points
            .rows
            .iter()
            .filter(|r| !found.contains_key(&r.id))
            .map(|r| r.shard)
            .collect();
        shards.sort();
        shards.dedup();
        let of = first
            .shard
            .map(|s| format!(" of {}", s.count))
            .unwrap_or_default();
        return Err(SweepError::Usage(format!(
            "{} of {} points are not finished in any of the directories given: {}\n  hint: they belong to shard(s) {}{of}; run or resume those (`hetsim sweep FILE --shard I/N --resume --out DIR`) and merge again",
            missing.len(),
            points.rows.len(),
            listed(&missing),
            shards
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )));
    }
    let mut duplicated: Vec<String> = Vec::new();
    let mut where_: Vec<String> = Vec::new();
    for r in &points.rows {
        if let Some(ks) = found.get(&r.id)
            && ks.len() > 1
        {
            duplicated.push(r.id.clone());
            if where_.len() < LISTED {
                where_.push(format!(
                    "{} in {}",
                    r.id,
                    ks.iter()
                        .map(|&k| dirs[k].display().to_string())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ));
            }
        }
    }
    if !duplicated.is_empty() {
        return Err(SweepError::Usage(format!(
            "{} points were finished more than once: {}\n  hint: give each shard's directory once; two directories of the same shard cannot both be merged",
            duplicated.len(),
            where_.join("; ")
        )));
    }
    // The merged directory is claimed (made, marked as a sweep's) and locked like a sweep's.
    let _lock = super::run::hold_directory(out, true)?;
    for name in ["sweep.yaml", "circuit.yaml"] {
        let from = dirs[0].join(name);
        let text = std::fs::read_to_string(&from).map_err(write_err(&from))?;
        write_atomic(&out.join(name), &text).map_err(write_err(out))?;
    }
    points.write(&out.join("points.csv"))?;
    let all = |_: &tables::PointRow| true;
    let rows = tables::assemble_summary(
        &out.join("summary.csv"),
        points,
        &all,
        &all_parts,
        &first.summary_columns,
    )?;
    tables::assemble_metrics(&out.join("metrics.csv"), points, &all, &all_parts)?;
    let failed = count_failed(&out.join("summary.csv"))?;
    // The merged manifest says only what is true of every shard: a backend description (its
    // lanes, threads and vector level) or device they share, else none and the notes say each.
    let common = |f: &dyn Fn(&SweepManifest) -> String| manifests.iter().all(|m| f(m) == f(first));
    let same_backend = common(&|m| format!("{:?}", m.backend));
    let same_device = common(&|m| format!("{:?}", m.device));
    let mut notes: Vec<String> = Vec::new();
    for m in &manifests {
        for n in &m.notes {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
    }
    if !same_backend || !same_device {
        notes.push(format!(
            "the shards ran on different machines or settings: {}",
            dirs.iter()
                .zip(&manifests)
                .map(|(d, m)| format!(
                    "{}: {}{}",
                    d.display(),
                    m.backend.as_deref().unwrap_or("nothing"),
                    m.device
                        .as_ref()
                        .map(|d| format!(" on {}", d.name))
                        .unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let mut manifest = SweepManifest {
        backend: if same_backend {
            first.backend.clone()
        } else {
            None
        },
        device: if same_device {
            first.device.clone()
        } else {
            None
        },
        notes,
        shard: None,
        points_in_shard: points.rows.len(),
        points_done: points.rows.len(),
        instances_failed: failed,
        parts: all_parts.len(),
        status: if failed > 0 {
            Status::CompletedWithFailures
        } else {
            Status::Completed
        },
        status_reason: None,
        started_unix_s: unix_now(),
        ended_unix_s: Some(unix_now()),
        wall_s: Some(manifests.iter().filter_map(|m| m.wall_s).sum()),
        provenance: Provenance::of_this_process(command_line),
        merged_from: dirs.iter().map(|d| d.display().to_string()).collect(),
        ..first.clone()
    };
    manifest.notes.push(format!(
        "merged from {} shard directories; wall_s is the sum of theirs",
        dirs.len()
    ));
    manifest.write(out)?;
    Ok(MergeOutcome {
        dir: out.to_path_buf(),
        points: points.rows.len(),
        rows,
        instances_failed: failed,
        figures: None,
    })
}
