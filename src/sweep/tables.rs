//! The sweep's tables: `points.csv` (every point of the sweep with its axis values and shard),
//! each ensemble part's `points.csv` and `summary.csv`, and the top-level `summary.csv` and
//! `metrics.csv` assembled from the finished parts. Assembly reads only files, so a sweep
//! directory, a resumed one and a merge of shards all produce their tables the same way.

use super::SweepError;
use super::pack::Shard;
use super::setup::Setup;
use super::stats::InstanceStats;
use crate::plan::Plan;
use crate::record::atomic::{number_cell, write_atomic};
use crate::record::metrics::COLUMNS;
use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where finished ensembles live, each in its own numbered directory.
pub const PARTS: &str = "parts";
/// The prefix of an ensemble's directory while it runs (never read as results).
pub const TMP_PREFIX: &str = ".tmp-";

/// The columns that name a point, first in `points.csv` and `summary.csv`.
pub const POINT_COLUMNS: [&str; 2] = ["point", "point_id"];
/// The last column of `points.csv`: the shard a point belongs to.
pub const SHARD_COLUMN: &str = "shard";
/// The columns that name one instance of a point, after `point_id` in a part's `summary.csv`
/// (and after the axes in the sweep's).
pub const INSTANCE_COLUMNS: [&str; 4] = ["rule", "replicate", "seed", "status"];
/// The columns after the summary's, saying where and why an instance failed.
pub const FAILURE_COLUMNS: [&str; 2] = ["failed_at_s", "reason"];
/// A part's `points.csv`: who each instance of the ensemble is.
pub const PART_POINT_COLUMNS: [&str; 5] = ["instance", "point_id", "rule", "replicate", "seed"];

/// Every fixed column of the tables that axis and summary columns go into (`points.csv`,
/// `summary.csv`): an axis or summary column may not take one of these names.
pub fn fixed_columns() -> Vec<&'static str> {
    let mut out = POINT_COLUMNS.to_vec();
    out.push(SHARD_COLUMN);
    out.extend(INSTANCE_COLUMNS);
    out.extend(FAILURE_COLUMNS);
    out
}

fn strings(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|s| s.to_string()).collect()
}

pub(super) fn write_err(path: &Path) -> impl Fn(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn csv_text(header: &[String], rows: &[Vec<String>]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(r);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Reads a whole CSV file: header and rows.
pub fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), SweepError> {
    let bad = |e: csv::Error| SweepError::Usage(format!("cannot read {}: {e}", path.display()));
    let mut r = csv::Reader::from_path(path).map_err(bad)?;
    let header = r
        .headers()
        .map_err(bad)?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        rows.push(rec.map_err(bad)?.iter().map(str::to_string).collect());
    }
    Ok((header, rows))
}

/// One row of the sweep's `points.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct PointRow {
    pub index: usize,
    pub id: String,
    pub axis_cells: Vec<String>,
    pub shard: usize,
}

/// The sweep's points as `points.csv` holds them.
#[derive(Clone, Debug, PartialEq)]
pub struct PointTable {
    pub axis_columns: Vec<String>,
    pub rows: Vec<PointRow>,
}

impl PointTable {
    pub fn of(setup: &Setup, shard: Option<Shard>) -> PointTable {
        PointTable {
            axis_columns: setup.axis_columns(),
            rows: setup
                .points
                .iter()
                .map(|p| PointRow {
                    index: p.index,
                    id: p.id.clone(),
                    axis_cells: setup.axis_cells(p),
                    shard: shard.map(|s| p.index % s.count).unwrap_or(0),
                })
                .collect(),
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), SweepError> {
        let mut header = strings(&POINT_COLUMNS);
        header.extend(self.axis_columns.iter().cloned());
        header.push(SHARD_COLUMN.into());
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let mut c = vec![r.index.to_string(), r.id.clone()];
                c.extend(r.axis_cells.iter().cloned());
                c.push(r.shard.to_string());
                c
            })
            .collect();
        write_atomic(path, &csv_text(&header, &rows)).map_err(write_err(path))
    }

    pub fn read(path: &Path) -> Result<PointTable, SweepError> {
        let (header, rows) = read_csv(path)?;
        let n = header.len();
        let malformed =
            || SweepError::Usage(format!("{} is not a sweep's points.csv", path.display()));
        if n < 3 || header[..2] != POINT_COLUMNS || header[n - 1] != SHARD_COLUMN {
            return Err(malformed());
        }
        let mut out = Vec::new();
        for r in rows {
            if r.len() != n {
                return Err(malformed());
            }
            out.push(PointRow {
                index: r[0].parse().map_err(|_| malformed())?,
                id: r[1].clone(),
                axis_cells: r[2..n - 1].to_vec(),
                shard: r[n - 1].parse().map_err(|_| malformed())?,
            });
        }
        Ok(PointTable {
            axis_columns: header[2..n - 1].to_vec(),
            rows: out,
        })
    }
}

/// The header of a part's `summary.csv` (the top-level one adds the point and its axes).
pub fn part_summary_header(stat_columns: &[String]) -> Vec<String> {
    let mut h = strings(&POINT_COLUMNS[1..]);
    h.extend(strings(&INSTANCE_COLUMNS));
    h.extend(stat_columns.iter().cloned());
    h.extend(strings(&FAILURE_COLUMNS));
    h
}

/// Who instance `e` of an ensemble is.
#[derive(Clone, Debug)]
pub struct InstanceOf {
    pub point_id: String,
    pub rule: String,
    pub replicate: usize,
    pub seed: u64,
}

/// Writes a finished ensemble's `points.csv` and `summary.csv` into its directory.
pub fn write_part_tables(
    dir: &Path,
    plan: &Plan,
    who: &[InstanceOf],
    stats: &InstanceStats,
    stat_columns: &[String],
) -> Result<(), SweepError> {
    let header = strings(&PART_POINT_COLUMNS);
    let rows: Vec<Vec<String>> = who
        .iter()
        .enumerate()
        .map(|(e, w)| {
            vec![
                e.to_string(),
                w.point_id.clone(),
                w.rule.clone(),
                w.replicate.to_string(),
                w.seed.to_string(),
            ]
        })
        .collect();
    let path = dir.join("points.csv");
    std::fs::write(&path, csv_text(&header, &rows)).map_err(write_err(&path))?;
    let mut rows = Vec::new();
    for (e, w) in who.iter().enumerate() {
        let failure = stats.failure(e);
        let mut r = vec![
            w.point_id.clone(),
            w.rule.clone(),
            w.replicate.to_string(),
            w.seed.to_string(),
            if failure.is_some() {
                "failed"
            } else {
                "completed"
            }
            .to_string(),
        ];
        for k in 0..stat_columns.len() {
            r.push(
                if failure.is_some() {
                    None
                } else {
                    stats.value(e, k)
                }
                .map(number_cell)
                .unwrap_or_default(),
            );
        }
        r.push(failure.map(|f| number_cell(f.time_s)).unwrap_or_default());
        r.push(failure.map(|f| f.message.clone()).unwrap_or_default());
        rows.push(r);
    }
    debug_assert_eq!(rows.len(), plan.n_instances());
    let path = dir.join("summary.csv");
    std::fs::write(&path, csv_text(&part_summary_header(stat_columns), &rows))
        .map_err(write_err(&path))
}

/// The finished parts of a sweep directory, in the order they finished (every numbered entry
/// of `parts/`; [`super::parts::check_all`] checks that each is whole).
pub fn finished_parts(dir: &Path) -> Vec<PathBuf> {
    super::parts::numbered(dir)
}

/// The point ids each part holds.
pub fn part_points(part: &Path) -> Result<Vec<String>, SweepError> {
    let (header, rows) = read_csv(&part.join("points.csv"))?;
    let c = header
        .iter()
        .position(|h| h == "point_id")
        .ok_or_else(|| SweepError::Usage(format!("{}: no point_id column", part.display())))?;
    let mut ids: Vec<String> = rows.into_iter().map(|r| r[c].clone()).collect();
    ids.dedup();
    Ok(ids)
}

/// Writes the top-level `summary.csv` from the parts: one row per point × rule × seed of the
/// points in `keep`, sorted by point, then in the part's order (rule, replicate).
pub fn assemble_summary(
    out: &Path,
    points: &PointTable,
    keep: &dyn Fn(&PointRow) -> bool,
    parts: &[PathBuf],
    stat_columns: &[String],
) -> Result<usize, SweepError> {
    let by_id: HashMap<&str, &PointRow> = points
        .rows
        .iter()
        .filter(|r| keep(r))
        .map(|r| (r.id.as_str(), r))
        .collect();
    let expected = part_summary_header(stat_columns);
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    for part in parts {
        let path = part.join("summary.csv");
        let (header, part_rows) = read_csv(&path)?;
        if header != expected {
            return Err(SweepError::Usage(format!(
                "{} has the columns [{}], not this sweep's [{}]",
                path.display(),
                header.join(", "),
                expected.join(", ")
            )));
        }
        for r in part_rows {
            let Some(p) = by_id.get(r[0].as_str()) else {
                continue;
            };
            let mut cells = vec![p.index.to_string(), p.id.clone()];
            cells.extend(p.axis_cells.iter().cloned());
            cells.extend(r[1..].iter().cloned());
            rows.push((p.index, cells));
        }
    }
    rows.sort_by_key(|(k, _)| *k);
    let mut header = strings(&POINT_COLUMNS);
    header.extend(points.axis_columns.iter().cloned());
    header.extend(expected[1..].iter().cloned());
    let cells: Vec<Vec<String>> = rows.into_iter().map(|(_, c)| c).collect();
    write_atomic(out, &csv_text(&header, &cells)).map_err(write_err(out))?;
    Ok(cells.len())
}

/// Streams every part's `metrics.csv` into one `metrics.csv` whose rows name their point,
/// rule and seed instead of the ensemble-local instance; written beside and renamed.
pub fn assemble_metrics(
    out: &Path,
    points: &PointTable,
    keep: &dyn Fn(&PointRow) -> bool,
    parts: &[PathBuf],
) -> Result<(), SweepError> {
    let kept: std::collections::HashSet<&str> = points
        .rows
        .iter()
        .filter(|r| keep(r))
        .map(|r| r.id.as_str())
        .collect();
    let tmp = out.with_file_name("metrics.csv.tmp");
    let file = std::fs::File::create(&tmp).map_err(write_err(&tmp))?;
    let mut w = BufWriter::new(file);
    let mut header = vec!["point_id", "rule", "seed", COLUMNS[0]];
    header.extend(&COLUMNS[2..]);
    writeln!(w, "{}", header.join(",")).map_err(write_err(&tmp))?;
    for part in parts {
        let (h, who) = read_csv(&part.join("points.csv"))?;
        let col = |name: &str| h.iter().position(|x| x == name).unwrap_or(0);
        let (ci, cp, cr, cs) = (col("instance"), col("point_id"), col("rule"), col("seed"));
        let mut owner: HashMap<String, (String, String, String)> = HashMap::new();
        for r in &who {
            owner.insert(r[ci].clone(), (r[cp].clone(), r[cr].clone(), r[cs].clone()));
        }
        let path = part.join("metrics.csv");
        let f = std::fs::File::open(&path).map_err(write_err(&path))?;
        for line in std::io::BufReader::new(f).lines().skip(1) {
            let line = line.map_err(write_err(&path))?;
            let mut cells = line.splitn(3, ',');
            let (Some(t), Some(instance), Some(rest)) = (cells.next(), cells.next(), cells.next())
            else {
                continue;
            };
            let Some((p, rule, seed)) = owner.get(instance) else {
                continue;
            };
            if kept.contains(p.as_str()) {
                writeln!(w, "{p},{rule},{seed},{t},{rest}").map_err(write_err(&tmp))?;
            }
        }
    }
    w.flush().map_err(write_err(&tmp))?;
    drop(w);
    std::fs::rename(&tmp, out).map_err(write_err(out))
}
