//! `hetsim sweep merge DIR... --out OUT`: the shards of one sweep combined into one sweep
//! directory, after checking that they are shards of the same sweep and that every point was
//! finished in exactly one of them.

use super::SweepError;
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

pub fn merge(
    dirs: &[PathBuf],
    out: &Path,
    figures: bool,
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
    let same_points = |t: &PointTable| {
        t.axis_columns == tables_of[0].axis_columns
            && t.rows.len() == tables_of[0].rows.len()
            && t.rows
                .iter()
                .zip(&tables_of[0].rows)
                .all(|(a, b)| a.id == b.id && a.index == b.index)
    };
    for (k, (m, t)) in manifests.iter().zip(&tables_of).enumerate().skip(1) {
        let differs = if m.circuit_sha256 != first.circuit_sha256 {
            Some("its circuit file differs")
        } else if m.summary_columns != first.summary_columns || m.rules != first.rules {
            Some("its rules or summary columns differ")
        } else if m.seeds != first.seeds || m.seed != first.seed {
            Some("its seeds differ")
        } else if !same_points(t) {
            Some("its points differ")
        } else {
            None
        };
        if let Some(why) = differs {
            return Err(SweepError::Usage(format!(
                "{} is not a shard of the same sweep as {}: {why}",
                dirs[k].display(),
                dirs[0].display()
            )));
        }
    }
    // Where each point was finished.
    let mut found: HashMap<String, Vec<usize>> = HashMap::new();
    let mut all_parts = Vec::new();
    for (k, d) in dirs.iter().enumerate() {
        for part in tables::finished_parts(d) {
            for id in tables::part_points(&part)? {
                found.entry(id).or_default().push(k);
            }
            all_parts.push(part);
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
    std::fs::create_dir_all(out).map_err(write_err(out))?;
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
    let mut manifest = SweepManifest {
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
    let figures = figures.then(|| {
        crate::plot::sweep::plot_sweep(out, crate::plot::Formats::BOTH).map_err(|e| e.to_string())
    });
    Ok(MergeOutcome {
        dir: out.to_path_buf(),
        points: points.rows.len(),
        rows,
        instances_failed: failed,
        figures,
    })
}
