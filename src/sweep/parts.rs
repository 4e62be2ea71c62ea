//! The finished parts of a sweep directory, each checked before a resume or a merge trusts it.
//!
//! A part is renamed into `parts/NNNNNN` only once its tables are whole, so a kill leaves at
//! most a `parts/.tmp-*` directory (deleted and run again). A numbered part that is not whole
//! or not consistent was therefore altered after the fact — copied (`cp -r parts/000001
//! parts/000007`), cut short, edited, or written by another sweep or another backend — and
//! counting it would report points as done whose rows are missing or counted twice. Such a part
//! is refused, naming it and what is wrong, with the remedy (delete it and resume: its points
//! run again); nothing is deleted without being asked.
//!
//! A part is whole when its own `manifest.json` says its run ended (completed, with or without
//! failures, or failed with every instance diverged) for as many instances as its `points.csv`
//! lists; every point it holds has one instance per rule and replicate (rules × seeds); its
//! `summary.csv` has this sweep's columns and one row per instance, naming the same instance
//! in the same order; the seeds are the ones the sweep derives for those points; and its
//! `metrics.csv` has as many rows for every instance that completed (a cut file has fewer for
//! the last).

use super::SweepError;
use super::tables::{PART_POINT_COLUMNS, PARTS, part_summary_header, read_csv};
use crate::backend::{BackendKind, Precision};
use crate::record::Status;
use crate::record::manifest::Manifest;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// What a sweep expects of each of its parts.
pub struct Expect<'a> {
    pub stat_columns: &'a [String],
    /// Rules per point.
    pub rules: usize,
    /// Replicates per point and rule.
    pub seeds: usize,
    /// The seed of replicate k at a point id, where the sweep knows the point (None: a point
    /// the sweep no longer has, or seeds not checked).
    pub seed_of: &'a dyn Fn(&str, usize) -> Option<u64>,
}

/// What a checked part holds and what ran it.
#[derive(Clone, Debug)]
pub struct Part {
    pub dir: PathBuf,
    /// Its points, in order.
    pub points: Vec<String>,
    pub backend: BackendKind,
    pub precision: Precision,
}

/// Why a part cannot be trusted, naming it, with the remedy.
fn refused(part: &Path, problem: &str) -> SweepError {
    SweepError::Usage(format!(
        "the finished part {} is not whole: {problem}\n  hint: a part is written whole and never changed afterwards, so this one was altered or copied; delete it (`rm -r {}`) and resume: its points run again",
        part.display(),
        part.display()
    ))
}

/// Every numbered entry of `dir/parts` (temporaries, named `.tmp-*`, and other names are not
/// results), in number order.
pub(super) fn numbered(dir: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<(u64, PathBuf)> = std::fs::read_dir(dir.join(PARTS))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            let n: u64 = name
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| name.parse().ok())??;
            Some((n, e.path()))
        })
        .collect();
    parts.sort();
    parts.into_iter().map(|(_, p)| p).collect()
}

/// Checks one part (see the module's documentation).
pub fn check(part: &Path, expect: &Expect) -> Result<Part, SweepError> {
    let bad = |problem: String| refused(part, &problem);
    if !part.is_dir() {
        return Err(bad("it is not a directory".into()));
    }
    for file in ["manifest.json", "points.csv", "summary.csv", "metrics.csv"] {
        if !part.join(file).is_file() {
            return Err(bad(format!("it has no {file}")));
        }
    }
    let manifest: Manifest = std::fs::read_to_string(part.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| bad("its manifest.json does not read as a run's manifest".into()))?;
    if !matches!(
        manifest.status,
        Status::Completed | Status::CompletedWithFailures | Status::Failed
    ) {
        return Err(bad(format!(
            "its manifest says the run is `{}`, not finished",
            manifest.status.name()
        )));
    }
    let unreadable = |e: SweepError| bad(e.to_string());
    let (header, who) = read_csv(&part.join("points.csv")).map_err(unreadable)?;
    if header != PART_POINT_COLUMNS {
        return Err(bad(format!(
            "its points.csv has the columns [{}], not [{}]",
            header.join(", "),
            PART_POINT_COLUMNS.join(", ")
        )));
    }
    if who.len() != manifest.instances {
        return Err(bad(format!(
            "its points.csv lists {} instances, its manifest {}",
            who.len(),
            manifest.instances
        )));
    }
    // Instances, in order; per point, the (rule, replicate) pairs.
    let mut points: Vec<String> = Vec::new();
    let mut pairs: HashMap<&str, BTreeMap<&str, Vec<usize>>> = HashMap::new();
    for (k, r) in who.iter().enumerate() {
        let (instance, id, rule, replicate, seed) = (&r[0], &r[1], &r[2], &r[3], &r[4]);
        if instance != &k.to_string() {
            return Err(bad(format!(
                "row {} of its points.csv is instance {instance}, not {k}",
                k + 2
            )));
        }
        let replicate: usize = replicate.parse().map_err(|_| {
            bad(format!(
                "row {} of its points.csv has replicate `{replicate}`",
                k + 2
            ))
        })?;
        if let Some(expected) = (expect.seed_of)(id, replicate)
            && seed != &expected.to_string()
        {
            return Err(bad(format!(
                "instance {k} (point {id}, replicate {replicate}) has seed {seed}; the sweep gives it {expected}"
            )));
        }
        if points.last() != Some(id) {
            if points.contains(id) {
                return Err(bad(format!(
                    "the instances of point {id} are not together in its points.csv"
                )));
            }
            points.push(id.clone());
        }
        pairs
            .entry(id.as_str())
            .or_default()
            .entry(rule.as_str())
            .or_default()
            .push(replicate);
    }
    let replicates: Vec<usize> = (0..expect.seeds).collect();
    for id in &points {
        let rules = &pairs[id.as_str()];
        let whole = rules.len() == expect.rules
            && rules.values().all(|r| {
                let mut r = r.clone();
                r.sort_unstable();
                r == replicates
            });
        if !whole {
            let n: usize = rules.values().map(Vec::len).sum();
            return Err(bad(format!(
                "point {id} has {n} instances ({} rule(s)); the sweep runs {} per point ({} rule(s) × {} seed(s))",
                rules.len(),
                expect.rules * expect.seeds,
                expect.rules,
                expect.seeds
            )));
        }
    }
    let expected_header = part_summary_header(expect.stat_columns);
    let (header, rows) = read_csv(&part.join("summary.csv")).map_err(unreadable)?;
    if header != expected_header {
        return Err(bad(format!(
            "its summary.csv has the columns [{}], not this sweep's [{}]",
            header.join(", "),
            expected_header.join(", ")
        )));
    }
    if rows.len() != who.len() {
        return Err(bad(format!(
            "its summary.csv has {} rows for {} instances",
            rows.len(),
            who.len()
        )));
    }
    for (k, (row, w)) in rows.iter().zip(&who).enumerate() {
        // summary: point_id, rule, replicate, seed; points: instance, point_id, rule, replicate, seed.
        if row[..4] != w[1..5] {
            return Err(bad(format!(
                "row {} of its summary.csv names instance [{}], its points.csv [{}]",
                k + 2,
                row[..4].join(", "),
                w[1..5].join(", ")
            )));
        }
    }
    check_metrics(part, &rows, manifest.time_reached_s, &bad)?;
    Ok(Part {
        dir: part.to_path_buf(),
        points,
        backend: manifest.device.kind,
        precision: manifest.precision,
    })
}

/// The part's `metrics.csv` is whole: every line has the header's number of cells and names an
/// instance of the part; every instance that completed reached `time_reached_s`, with as many
/// rows at its last time as at any earlier one, and as many rows in all as every other
/// completed instance. A file cut short fails one of these for its last instance.
fn check_metrics(
    part: &Path,
    summary: &[Vec<String>],
    time_reached_s: Option<f64>,
    bad: &dyn Fn(String) -> SweepError,
) -> Result<(), SweepError> {
    #[derive(Clone, Default)]
    struct Seen {
        rows: usize,
        time: Option<f64>,
        at_time: usize,
        most_at_a_time: usize,
    }
    let path = part.join("metrics.csv");
    let file = std::fs::File::open(&path).map_err(|e| bad(format!("its metrics.csv: {e}")))?;
    let mut seen = vec![Seen::default(); summary.len()];
    let mut cells = 0;
    for (k, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| bad(format!("its metrics.csv: {e}")))?;
        let n = line.split(',').count();
        if k == 0 {
            cells = n;
            continue;
        }
        let mut it = line.split(',');
        let time = it.next().and_then(|t| t.parse::<f64>().ok());
        let instance = it
            .next()
            .and_then(|c| c.parse::<usize>().ok())
            .filter(|&i| i < seen.len());
        let (Some(time), Some(instance), true) = (time, instance, n == cells) else {
            return Err(bad(format!(
                "line {} of its metrics.csv is not a whole row of the part",
                k + 1
            )));
        };
        let s = &mut seen[instance];
        s.rows += 1;
        if s.time == Some(time) {
            s.at_time += 1;
        } else {
            s.most_at_a_time = s.most_at_a_time.max(s.at_time);
            s.time = Some(time);
            s.at_time = 1;
        }
    }
    let completed: Vec<usize> = (0..summary.len())
        .filter(|&e| summary[e][4] == "completed")
        .collect();
    let most = completed.iter().map(|&e| seen[e].rows).max().unwrap_or(0);
    for &e in &completed {
        let s = &seen[e];
        let reached = match (s.time, time_reached_s) {
            (Some(t), Some(end)) => (t - end).abs() <= 1e-6 * end.abs().max(1.0),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !reached || s.at_time < s.most_at_a_time || s.rows != most {
            return Err(bad(format!(
                "its metrics.csv stops short for instance {e} ({} rows, the last at t = {} s; its run reached {} s)",
                s.rows,
                s.time.map_or("none".into(), |t| t.to_string()),
                time_reached_s.map_or("?".into(), |t| t.to_string())
            )));
        }
    }
    Ok(())
}

/// Checks every finished part of `dir`, refusing a part that is not whole and a point held by
/// two parts (a copied part), naming both.
pub fn check_all(dir: &Path, expect: &Expect) -> Result<Vec<Part>, SweepError> {
    let mut out: Vec<Part> = Vec::new();
    let mut holder: HashMap<String, usize> = HashMap::new();
    for path in numbered(dir) {
        let part = check(&path, expect)?;
        for id in &part.points {
            if let Some(&k) = holder.get(id) {
                return Err(SweepError::Usage(format!(
                    "the point {id} is finished in two parts, {} and {}: its rows would count twice\n  hint: a part is never copied by hetsim; delete the copy (the one added by hand, e.g. `rm -r {}`) and resume",
                    out[k].dir.display(),
                    path.display(),
                    path.display()
                )));
            }
            holder.insert(id.clone(), out.len());
        }
        if let Some(first) = out.first()
            && (first.backend, first.precision) != (part.backend, part.precision)
        {
            return Err(SweepError::Usage(format!(
                "the parts {} and {} ran on different backends ({} {} and {} {}): their results are not comparable\n  hint: delete the parts of one of them and resume with that backend and precision",
                first.dir.display(),
                path.display(),
                first.backend.name(),
                first.precision.name(),
                part.backend.name(),
                part.precision.name()
            )));
        }
        out.push(part);
    }
    Ok(out)
}
