//! Figures of a sweep directory (`hetsim sweep`), drawn from `summary.csv` and `manifest.json`
//! alone: for one axis, each summary column against the axis (one colour per rule, the mean
//! over seeds with a ±1 s.d. band, failed points marked ×, a log axis where the axis is
//! log-spaced); for two axes, a heat map per rule of the mean over seeds, with the zero
//! contour drawn when the values change sign (the Hebbian signature's phase boundary). Axes
//! that move in lockstep with an earlier one (`combine: zip`) are not dimensions of their own:
//! a zip of any number of axes is drawn against its first. When the sweep compares sgd with
//! other rules, each final held-out loss is also drawn relative to sgd's at the same point and
//! seed (`…_over_sgd`): what a rule loses against the exact gradient on the same topology.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::render::{self, Drawn, Figure, Header, Ticked, fail};
use super::style::{self, FONT};
use super::{Formats, PlotError};
use crate::measure::phase::Prediction;
use crate::record::metrics::{Metric, MetricDef};

fn malformed(path: &Path, line: u64, reason: impl Into<String>) -> PlotError {
    PlotError::Malformed {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// An axis as the manifest records it.
#[derive(Clone, Debug)]
struct AxisInfo {
    column: String,
    log: bool,
    /// Its values name things rather than measure them (a `rule_draws` axis: draw numbers of
    /// random rules), so neighbouring cells are unrelated and no contour runs across them.
    categorical: bool,
}

/// The summary table, by column.
struct Summary {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Summary {
    fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// Mean, and the mean ± 1 s.d., of the finite values (None when there are none).
fn mean_band(v: &[f64]) -> Option<(f64, f64, f64)> {
    let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Some((mean, mean - sd, mean + sd))
}

/// A value in at most three significant digits (`0.646`, `1.39`, `6.46e-5`): heat-map ticks and
/// colour-bar ends, where the swept values themselves are rarely round.
fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = 2 - x.abs().log10().floor() as i32;
    let text = if (1e-3..1e4).contains(&x.abs()) {
        let scale = 10f64.powi(digits);
        format!("{}", (x * scale).round() / scale)
    } else {
        format!("{x:.2e}")
    };
    // A typographic minus, as on every other axis.
    text.replacen('-', "−", usize::from(x < 0.0))
}

/// The label of a swept axis in words, with its symbol and unit: `tau_w/T` → "plasticity
/// timescale / stimulus duration, τ_w/T" (see [`style::parameter_label`]).
fn label(column: &str) -> String {
    style::parameter_label(column)
}

/// Splits what follows a column's `:` into the projection and the statistic's suffix: the
/// projection ends where a statistic starts (`B_h_mean_last0.2` → `B_h`, `_mean_last0.2`), since
/// a projection's name may itself hold underscores.
fn split_projection(r: &str) -> (&str, &str) {
    let end = ["_final", "_initial", "_mean_last", "_time_"]
        .iter()
        .filter_map(|m| r.find(m))
        .min()
        .unwrap_or(r.len());
    r.split_at(end)
}

/// The metric a summary column starts with, the longest that fits (`loss_angle_deg` is not
/// `loss`).
fn measure_of(column: &str) -> Option<&'static MetricDef> {
    Metric::ALL
        .into_iter()
        .map(Metric::def)
        .filter(|d| column.starts_with(d.column))
        .max_by_key(|d| d.column.len())
}

/// A summary column as a y-axis name, short enough to stand beside the axis:
/// `held_out_loss_final_rel` → "final held-out loss (relative to start)",
/// `gradient_angle_deg:W1_mean_last0.2` → "gradient angle of W₁, last 20% (°)".
fn axis_words(column: &str) -> String {
    if let Some(base) = column.strip_suffix(OVER_SGD) {
        return format!(
            "{} / sgd's",
            axis_words(base).replace(" (relative to start)", "")
        );
    }
    let Some(def) = measure_of(column) else {
        return column.to_string();
    };
    let mut rest = &column[def.column.len()..];
    let mut what = def.name.to_string();
    let unit = def.unit;
    if let Some(r) = rest.strip_prefix(':') {
        let (projection, stat) = split_projection(r);
        what.push_str(&format!(" of {}", style::subscripts(projection)));
        rest = stat;
    }
    let relative = rest.ends_with("_rel") || rest.contains("_rel_");
    let rest = rest.replace("_rel", "");
    let unit = if relative {
        " (relative to start)"
    } else {
        unit
    };
    if rest == "_final" {
        format!("final {what}{unit}")
    } else if rest == "_initial" {
        format!("initial {what}{unit}")
    } else if let Some(f) = rest
        .strip_prefix("_mean_last")
        .and_then(|f| f.parse::<f64>().ok())
    {
        if f >= 1.0 {
            format!("{what}, mean over the run{unit}")
        } else {
            format!("{what}, last {:.0}%{unit}", 100.0 * f)
        }
    } else if let Some(x) = rest
        .strip_prefix("_time_below")
        .and_then(|x| x.strip_suffix("_s"))
    {
        format!(
            "time to {what} ≤ {x}{} (s)",
            if relative { " × start" } else { "" }
        )
    } else if let Some(x) = rest
        .strip_prefix("_time_above")
        .and_then(|x| x.strip_suffix("_s"))
    {
        format!(
            "time to {what} ≥ {x}{} (s)",
            if relative { " × start" } else { "" }
        )
    } else {
        column.to_string()
    }
}

/// `s` with its first letter in upper case, for a title.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Whether a summary column holds angles, which are read on a linear axis whatever their
/// spread.
fn is_angle(column: &str) -> bool {
    column.contains("angle_deg")
}

/// A summary column in words for titles: `held_out_loss:W1_mean_last0.2_rel` → "held-out
/// loss on W1, mean over the last 20% of the run, relative to t = 0".
fn describe(column: &str) -> String {
    if let Some(base) = column.strip_suffix(OVER_SGD) {
        return format!(
            "{}, relative to sgd's at the same point and seed",
            describe(base)
        );
    }
    let Some(def) = measure_of(column) else {
        return column.to_string();
    };
    let mut rest = &column[def.column.len()..];
    let mut out = def.title.to_string();
    if let Some(r) = rest.strip_prefix(':') {
        let (projection, stat) = split_projection(r);
        out.push_str(&format!(" on {}", style::subscripts(projection)));
        rest = stat;
    }
    let relative = rest.ends_with("_rel") || rest.contains("_rel_");
    let rest = rest.replace("_rel", "");
    if rest == "_final" {
        out.push_str(", final");
    } else if rest == "_initial" {
        out.push_str(", at t = 0");
    } else if let Some(f) = rest
        .strip_prefix("_mean_last")
        .and_then(|f| f.parse::<f64>().ok())
    {
        if f >= 1.0 {
            out.push_str(", mean over the run");
        } else {
            out.push_str(&format!(
                ", mean over the last {:.0}% of the run",
                100.0 * f
            ));
        }
    } else if let Some(x) = rest
        .strip_prefix("_time_below")
        .and_then(|x| x.strip_suffix("_s"))
    {
        out = format!("time until the {out} ≤ {x}");
    } else if let Some(x) = rest
        .strip_prefix("_time_above")
        .and_then(|x| x.strip_suffix("_s"))
    {
        out = format!("time until the {out} ≥ {x}");
    } else {
        return column.to_string();
    }
    if relative {
        out.push_str(if column.contains("_time_") {
            " × its value at t = 0"
        } else {
            ", relative to t = 0"
        });
    }
    out
}

/// Whether an axis is drawn on a log scale: log-spaced in the file, or positive and spanning
/// more than a factor of 30.
fn log_axis(info: &AxisInfo, values: &[f64]) -> bool {
    let positive = values.iter().all(|v| *v > 0.0);
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    positive && (info.log || hi / lo >= 30.0)
}

/// Why a sweep directory has nothing to draw yet, if it has not: no part has finished (no
/// `summary.csv`, or one without rows). The message says what to run.
pub fn not_ready(dir: &Path) -> Option<String> {
    let summary = dir.join("summary.csv");
    let rows = std::fs::read_to_string(&summary)
        .ok()
        .map(|t| t.lines().skip(1).filter(|l| !l.trim().is_empty()).count());
    if rows.is_some_and(|n| n > 0) {
        return None;
    }
    let file = std::fs::read_to_string(dir.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|m| m["sweep_file"].as_str().map(str::to_string))
        .unwrap_or_else(|| "FILE".into());
    Some(format!(
        "{} is a sweep directory in which no point has finished yet ({}): there is nothing to draw\n  hint: run or resume the sweep first (`hetsim sweep {file} --resume --out {}`), then plot it",
        dir.display(),
        if rows.is_none() {
            "it has no summary.csv"
        } else {
            "its summary.csv has no rows"
        },
        dir.display()
    ))
}

/// Draws the sweep figures of `dir` into `dir/figures`.
pub fn plot_sweep(dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, PlotError> {
    let manifest_path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).map_err(|_| PlotError::MissingFile {
        path: manifest_path.clone(),
    })?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| malformed(&manifest_path, 1, e.to_string()))?;
    let name = manifest["name"].as_str().unwrap_or("sweep").to_string();
    let axes: Vec<AxisInfo> = manifest["axes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| AxisInfo {
                    column: x["column"].as_str().unwrap_or_default().to_string(),
                    log: x["log"].as_bool().unwrap_or(false),
                    categorical: x["target"].as_str().is_some_and(|t| t.ends_with(".rule")),
                })
                .collect()
        })
        .unwrap_or_default();
    let strings = |key: &str| -> Vec<String> {
        manifest[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let stat_columns = strings("summary_columns");
    let rules = strings("rules");
    let seeds = manifest["seeds"].as_u64().unwrap_or(1);
    // A prediction the manifest cannot describe (a newer kind) is left undrawn, not an error:
    // the measurement is still worth its figure.
    let prediction: Option<Prediction> = manifest
        .get("prediction")
        .and_then(|p| serde_json::from_value(p.clone()).ok());
    let path = dir.join("summary.csv");
    let mut reader =
        csv::Reader::from_path(&path).map_err(|_| PlotError::MissingFile { path: path.clone() })?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| malformed(&path, 1, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    // A column named twice (a directory from before names were checked) would be read from
    // its first place for both.
    if let Some(c) = header
        .iter()
        .enumerate()
        .find(|(i, c)| header[..*i].contains(c))
        .map(|(_, c)| c)
    {
        return Err(malformed(
            &path,
            1,
            format!("the column `{c}` appears twice, so the figures cannot tell which to draw"),
        ));
    }
    let mut rows = Vec::new();
    for (i, r) in reader.records().enumerate() {
        let r = r.map_err(|e| malformed(&path, i as u64 + 2, e.to_string()))?;
        rows.push(r.iter().map(str::to_string).collect::<Vec<_>>());
    }
    if rows.is_empty() {
        return Err(malformed(&path, 1, "no point has finished yet"));
    }
    let summary = Summary { header, rows };
    for a in &axes {
        if summary.col(&a.column).is_none() {
            return Err(malformed(&path, 1, format!("no column `{}`", a.column)));
        }
    }
    let axes = independent_axes(&summary, axes);
    let out_dir = dir.join("figures");
    let colours = style::label_colours(&rules);
    let subtitle = format!(
        "sweep {name} · {} · {} per point and rule",
        crate::text::count(
            summary
                .col("point")
                .map(|c| {
                    let mut p: Vec<&str> = summary.rows.iter().map(|r| r[c].as_str()).collect();
                    p.sort();
                    p.dedup();
                    p.len()
                })
                .unwrap_or(0),
            "point"
        ),
        crate::text::count(seeds as usize, "seed")
    );
    let mut written = Vec::new();
    for column in &stat_columns {
        let Some(c) = summary.col(column) else {
            continue;
        };
        let stem = format!("sweep_{}", style::file_safe(column));
        match axes.len() {
            1 => {
                let fig = line_figure(&summary, &axes[0], c, column, &colours, &subtitle);
                written.extend(render::write(&fig, &out_dir, &stem, formats)?);
            }
            2 => {
                let fig = heat_figure(
                    &summary,
                    &axes,
                    c,
                    column,
                    &colours,
                    &subtitle,
                    prediction.as_ref(),
                );
                written.extend(render::write(&fig, &out_dir, &stem, formats)?);
            }
            _ => {}
        }
    }
    if axes.len() == 1 && rules.len() > 1 && rules.iter().any(|r| r == "sgd") {
        for column in stat_columns.iter().filter(|c| is_final_loss(c)) {
            let Some(summary) = over_sgd(&summary, column) else {
                continue;
            };
            let relative = format!("{column}{OVER_SGD}");
            let c = summary.header.len() - 1;
            let fig = line_figure(&summary, &axes[0], c, &relative, &colours, &subtitle);
            let stem = format!("sweep_{}", style::file_safe(&relative));
            written.extend(render::write(&fig, &out_dir, &stem, formats)?);
        }
    }
    Ok(written)
}

/// The suffix of a summary column divided by sgd's value at the same point and seed.
const OVER_SGD: &str = "_over_sgd";

/// The axes that are dimensions of their own: an axis whose value is fixed by an earlier
/// axis's on every row (the later axes of a zip) moves with it and is left out.
fn independent_axes(summary: &Summary, axes: Vec<AxisInfo>) -> Vec<AxisInfo> {
    let mut kept: Vec<AxisInfo> = Vec::new();
    for a in axes {
        let Some(c) = summary.col(&a.column) else {
            continue;
        };
        let follows = kept.iter().any(|k| {
            let Some(kc) = summary.col(&k.column) else {
                return false;
            };
            let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
            summary
                .rows
                .iter()
                .all(|r| *seen.entry(r[kc].as_str()).or_insert(r[c].as_str()) == r[c].as_str())
        });
        if !follows {
            kept.push(a);
        }
    }
    kept
}

/// Whether a summary column is a final held-out loss in its own units (not relative to its
/// start, whole network): the one whose ratio to sgd's says what a rule loses.
fn is_final_loss(column: &str) -> bool {
    column == "held_out_loss_final"
}

/// The summary with one column more: `column` divided by sgd's value in the row of the same
/// point and seed (empty where sgd's is missing, failed or zero). None without an sgd row.
fn over_sgd(summary: &Summary, column: &str) -> Option<Summary> {
    let c = summary.col(column)?;
    let (point, seed, rule) = (
        summary.col("point")?,
        summary.col("seed")?,
        summary.col("rule")?,
    );
    let status = summary.col("status");
    let sgd: BTreeMap<(&str, &str), f64> = summary
        .rows
        .iter()
        .filter(|r| r[rule] == "sgd" && status.is_none_or(|k| r[k] != "failed"))
        .map(|r| ((r[point].as_str(), r[seed].as_str()), number(r, c)))
        .filter(|(_, v)| v.is_finite() && *v != 0.0)
        .collect();
    if sgd.is_empty() {
        return None;
    }
    let mut header = summary.header.clone();
    header.push(format!("{column}{OVER_SGD}"));
    let rows = summary
        .rows
        .iter()
        .map(|r| {
            let ratio = sgd
                .get(&(r[point].as_str(), r[seed].as_str()))
                .map(|base| number(r, c) / base)
                .filter(|v| v.is_finite())
                .map(|v| v.to_string())
                .unwrap_or_default();
            let mut r = r.clone();
            r.push(ratio);
            r
        })
        .collect();
    Some(Summary { header, rows })
}

/// The cells of a row parsed as numbers (NaN where empty).
fn number(row: &[String], c: usize) -> f64 {
    row.get(c).and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
}

/// Per rule: per x value, the values over seeds and whether any seed failed.
type ByRule = BTreeMap<String, BTreeMap<(i64, i64), (f64, f64, Vec<f64>, bool)>>;

fn group(summary: &Summary, axes: &[&AxisInfo], c: usize) -> ByRule {
    let rule_c = summary.col("rule");
    let status_c = summary.col("status");
    let axis_c: Vec<usize> = axes.iter().filter_map(|a| summary.col(&a.column)).collect();
    let mut out: ByRule = BTreeMap::new();
    for r in &summary.rows {
        let rule = rule_c.map(|k| r[k].clone()).unwrap_or_default();
        let x = number(r, axis_c[0]);
        let y = axis_c.get(1).map(|&k| number(r, k)).unwrap_or(0.0);
        // Keyed by the values' bits so equal floats meet, ordered by value for positive axes.
        let key = ((x * 1e9).round() as i64, (y * 1e9).round() as i64);
        let failed = status_c.is_some_and(|k| r[k] == "failed");
        let e = out
            .entry(rule)
            .or_default()
            .entry(key)
            .or_insert((x, y, Vec::new(), false));
        e.3 |= failed;
        if !failed {
            e.2.push(number(r, c));
        }
    }
    out
}

fn ordered_rules(by_rule: &ByRule, colours: &[(String, RGBColor)]) -> Vec<(String, RGBColor)> {
    colours
        .iter()
        .filter(|(r, _)| by_rule.contains_key(r))
        .cloned()
        .chain(
            by_rule
                .keys()
                .filter(|r| !colours.iter().any(|(c, _)| c == *r))
                .map(|r| (r.clone(), style::GREY)),
        )
        .collect()
}

/// One rule's line: its colour, (x, mean, lo, hi) per point, the x of failed points, and
/// every seed's (x, value).
type Series = (
    RGBColor,
    Vec<(f64, f64, f64, f64)>,
    Vec<f64>,
    Vec<(f64, f64)>,
);

/// The fewest seeds a ±1 s.d. band is drawn from: with two, the s.d. is one difference.
const BAND_MIN_SEEDS: usize = 3;

/// One rule's heat map: its name, the mean per cell `[y][x]`, and whether a seed failed there.
type HeatPanel = (String, Vec<Vec<Option<f64>>>, Vec<Vec<bool>>);

/// One summary column against one axis.
struct LineFigure {
    header: Header,
    x_label: String,
    y_label: String,
    log_x: bool,
    /// Positive values spanning more than a factor of 50 (relative losses) are drawn on a log axis.
    log_y: bool,
    /// Per rule: colour, (x, mean, lo, hi) points, x of failed points, each seed's value.
    series: Vec<Series>,
    x_values: Vec<f64>,
    /// Whether every point has [`BAND_MIN_SEEDS`] values or more: a ±1 s.d. band then, each
    /// seed's value as a dot otherwise.
    band: bool,
}

fn line_figure(
    summary: &Summary,
    axis: &AxisInfo,
    c: usize,
    column: &str,
    colours: &[(String, RGBColor)],
    subtitle: &str,
) -> LineFigure {
    let by_rule = group(summary, &[axis], c);
    let rules = ordered_rules(&by_rule, colours);
    let mut x_values = Vec::new();
    let mut series = Vec::new();
    let mut fewest = usize::MAX;
    for (rule, colour) in &rules {
        let mut points = Vec::new();
        let mut failed = Vec::new();
        let mut dots = Vec::new();
        for (x, _, values, any_failed) in by_rule[rule].values() {
            x_values.push(*x);
            if *any_failed {
                failed.push(*x);
            }
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            if !finite.is_empty() {
                fewest = fewest.min(finite.len());
            }
            dots.extend(finite.iter().map(|v| (*x, *v)));
            if let Some((m, lo, hi)) = mean_band(values) {
                points.push((*x, m, lo, hi));
            }
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        series.push((*colour, points, failed, dots));
    }
    let band = fewest != usize::MAX && fewest >= BAND_MIN_SEEDS;
    if !band {
        // Without a band the axis is fitted to the seeds' own values.
        for s in &mut series {
            for p in &mut s.1 {
                let at: Vec<f64> = s.3.iter().filter(|d| d.0 == p.0).map(|d| d.1).collect();
                p.2 = at.iter().copied().fold(p.1, f64::min);
                p.3 = at.iter().copied().fold(p.1, f64::max);
            }
        }
    }
    x_values.sort_by(f64::total_cmp);
    x_values.dedup();
    let any_failed = series.iter().any(|s| !s.2.is_empty());
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .collect();
    let log_y = !is_angle(column) && !ys.is_empty() && ys.iter().all(|y| *y > 0.0) && {
        let (lo, hi) = ys
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), y| (a.min(*y), b.max(*y)));
        hi / lo > 50.0
    };
    if log_y {
        // A band's lower edge may reach zero or below; on a log axis it stops at the mean / 10.
        for s in &mut series {
            for p in &mut s.1 {
                if p.2 <= 0.0 {
                    p.2 = p.1 / 10.0;
                }
            }
        }
    }
    let spread = if band {
        "band: ±1 s.d. over seeds".to_string()
    } else {
        format!(
            "line: mean over seeds; dots: each seed (no ±1 s.d. band from fewer than {BAND_MIN_SEEDS} seeds)"
        )
    };
    LineFigure {
        header: Header {
            title: capitalised(&describe(column)),
            subtitle: subtitle.to_string(),
            legend: rules.clone(),
            note: if any_failed {
                format!("{spread} · ×: a seed diverged at that point (left out of the mean)")
            } else {
                spread
            },
        },
        x_label: label(&axis.column),
        y_label: axis_words(column),
        log_x: log_axis(axis, &x_values),
        log_y,
        series,
        x_values,
        band,
    }
}

/// Tick positions and labels for an axis of sweep values (log10 positions on a log axis).
pub(super) fn axis_ticks(values: &[f64], log: bool) -> (std::ops::Range<f64>, Vec<f64>) {
    let f = |v: f64| if log { v.log10() } else { v };
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(f(*v)), b.max(f(*v)))
        });
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 0.5, lo + 0.5)
    } else {
        (0.0, 1.0)
    };
    let pad = 0.04 * (hi - lo);
    let ticks = if log {
        let mut t: Vec<f64> = Vec::new();
        for decade in (lo.floor() as i32)..=(hi.ceil() as i32) {
            for m in [1.0, 2.0, 5.0] {
                let v = (m * 10f64.powi(decade)).log10();
                if v >= lo - pad && v <= hi + pad {
                    t.push(v);
                }
            }
        }
        // Over many decades 1, 2 and 5 of each would crowd the axis: powers of ten alone.
        let decades: Vec<f64> = t
            .iter()
            .copied()
            .filter(|v| (v - v.round()).abs() < 1e-9)
            .collect();
        if t.len() > 8 && decades.len() >= 2 {
            // And every second (third, …) power of ten over very many decades.
            let every = decades.len().div_ceil(7);
            decades.into_iter().step_by(every).collect()
        } else if t.len() < 2 {
            values.iter().map(|v| f(*v)).collect()
        } else {
            t
        }
    } else {
        style::nice_ticks(lo, hi, 8)
    };
    (lo - pad..hi + pad, ticks)
}

pub(super) fn tick_text(v: f64, log: bool, span: f64) -> String {
    if log {
        let x = 10f64.powf(v);
        let s = style::log_tick(x);
        if s.is_empty() { style::tick(x, x) } else { s }
    } else {
        style::tick(v, span)
    }
}

impl Figure for LineFigure {
    fn size(&self) -> (u32, u32) {
        (style::WIDTH, style::HEIGHT)
    }

    fn draw<DB: render::Canvas>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Drawn<Vec<super::clip::PixelRect>> {
        root.fill(&WHITE).map_err(fail)?;
        let body = self.header.draw(root)?.margin(10, 30, 20, 20);
        let (x_range, x_ticks) = axis_ticks(&self.x_values, self.log_x);
        let fx = |v: f64| if self.log_x { v.log10() } else { v };
        let fy = |v: f64| if self.log_y { v.log10() } else { v };
        let ys: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.1.iter().flat_map(|p| [p.2, p.3]))
            .collect();
        let (y_range, y_ticks) = if self.log_y {
            axis_ticks(&ys, true)
        } else {
            let (ylo, yhi) = ys
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(*v), b.max(*v))
                });
            let (ylo, yhi) = if ylo.is_finite() && yhi > ylo {
                let pad = 0.06 * (yhi - ylo);
                (ylo - pad, yhi + pad)
            } else if ylo.is_finite() {
                (
                    ylo - 0.5 * ylo.abs().max(1e-3),
                    ylo + 0.5 * ylo.abs().max(1e-3),
                )
            } else {
                (0.0, 1.0)
            };
            (ylo..yhi, style::nice_ticks(ylo, yhi, 7))
        };
        let (ylo, yhi) = (y_range.start, y_range.end);
        let x_span = x_range.end - x_range.start;
        let y_span = yhi - ylo;
        let mut chart = ChartBuilder::on(&body)
            .x_label_area_size(80)
            .y_label_area_size(120)
            .build_cartesian_2d(
                Ticked::new(x_range.clone(), x_ticks),
                Ticked::new(y_range.clone(), y_ticks),
            )
            .map_err(fail)?;
        let tick_font = (FONT, style::TICK_PX).into_font();
        let (log, log_y) = (self.log_x, self.log_y);
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(style::LIGHT_GREY)
            .label_style(tick_font)
            .x_label_formatter(&|v| tick_text(*v, log, x_span))
            .y_label_formatter(&|v| tick_text(*v, log_y, y_span))
            .draw()
            .map_err(fail)?;
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        axis_names(root, &self.x_label, &self.y_label, (xr, yr))?;
        if !self.log_y && ylo < 0.0 && yhi > 0.0 {
            chart
                .draw_series(std::iter::once(DashedPathElement::new(
                    vec![(x_range.start, 0.0), (x_range.end, 0.0)],
                    8,
                    6,
                    style::GREY.stroke_width(2),
                )))
                .map_err(fail)?;
        }
        for (colour, points, failed, dots) in &self.series {
            if !self.band {
                chart
                    .draw_series(
                        dots.iter()
                            .map(|d| Circle::new((fx(d.0), fy(d.1)), 4, colour.mix(0.55).filled())),
                    )
                    .map_err(fail)?;
            }
            if self.band && points.len() > 1 {
                let mut band: Vec<(f64, f64)> = points.iter().map(|p| (fx(p.0), fy(p.3))).collect();
                band.extend(points.iter().rev().map(|p| (fx(p.0), fy(p.2))));
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        band,
                        colour.mix(0.22).filled(),
                    )))
                    .map_err(fail)?;
            }
            chart
                .draw_series(std::iter::once(PathElement::new(
                    points
                        .iter()
                        .map(|p| (fx(p.0), fy(p.1)))
                        .collect::<Vec<_>>(),
                    colour.stroke_width(4),
                )))
                .map_err(fail)?;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|p| Circle::new((fx(p.0), fy(p.1)), 6, colour.filled())),
                )
                .map_err(fail)?;
            chart
                .draw_series(failed.iter().map(|x| {
                    Cross::new(
                        (fx(*x), ylo + 0.04 * (yhi - ylo)),
                        10,
                        colour.stroke_width(4),
                    )
                }))
                .map_err(fail)?;
        }
        Ok(Vec::new())
    }
}

/// Writes the axis names of a panel whose data rectangle spans `xr` × `yr` (backend pixels)
/// on `root`: the x name under the tick labels, the y name reading upwards left of them,
/// both with their subscripts (τ_w) drawn as subscripts.
pub(super) fn axis_names<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x_name: &str,
    y_name: &str,
    (xr, yr): (std::ops::Range<i32>, std::ops::Range<i32>),
) -> Drawn {
    let x_px = render::fitting_px(x_name, style::LABEL_PX, 18, xr.end - xr.start);
    render::draw_rich(
        root,
        x_name,
        x_px,
        &BLACK,
        HPos::Center,
        ((xr.start + xr.end) / 2, yr.end + 58),
    )?;
    let y_px = render::fitting_px(y_name, style::LABEL_PX, 18, yr.end - yr.start);
    render::draw_rich_up(
        root,
        y_name,
        y_px,
        &BLACK,
        (xr.start - 96, (yr.start + yr.end) / 2),
    )
}

/// Heat maps of one summary column over two axes, one per rule.
struct HeatFigure {
    header: Header,
    x_label: String,
    y_label: String,
    x_values: Vec<f64>,
    y_values: Vec<f64>,
    /// Per rule: its name, the mean per cell `[y][x]` and whether any seed failed there.
    panels: Vec<HeatPanel>,
    signed: bool,
    /// Whether the zero contour is drawn: the values change sign over axes that measure.
    contour: bool,
    /// Colours on a log scale: positive values spanning more than 50× (a loss from 0.001 to 1).
    log_colour: bool,
    range: (f64, f64),
    /// The predicted curve in cell coordinates, and whether it is a predicted zero contour
    /// (green) or only the comparison a prediction of no contour offers (grey).
    predicted: Option<(Vec<(f64, f64)>, bool)>,
}

/// Where `v` falls among the sorted cell values, in cell units (index space, interpolated in
/// log10 on a log axis, extended half a cell beyond the ends); `None` outside the map.
fn cell_position(values: &[f64], v: f64, log: bool) -> Option<f64> {
    let f = |x: f64| if log { x.log10() } else { x };
    if values.len() < 2 || !v.is_finite() || (log && v <= 0.0) {
        return None;
    }
    let n = values.len();
    let i = values
        .windows(2)
        .position(|w| v <= w[1])
        .unwrap_or(n - 2)
        .min(n - 2);
    let (a, b) = (f(values[i]), f(values[i + 1]));
    let p = i as f64 + (f(v) - a) / (b - a);
    // The map's edges are points of the curve too, and must not be lost to rounding.
    let (first, last) = (-0.5, n as f64 - 0.5);
    (p.is_finite() && (first - 1e-9..=last + 1e-9).contains(&p)).then(|| p.clamp(first, last))
}

/// A predicted curve in cell coordinates, whether it is a predicted zero contour, and its
/// log–log slope over the grid.
type Curve = (Vec<(f64, f64)>, bool, Option<f64>);

/// The prediction's curve over the map, with the least-squares log–log slope of σ against
/// τ_decay at the map's decay values; `None` when the map's axes are not the prediction's.
fn predicted_curve(p: &Prediction, axes: &[AxisInfo], xs: &[f64], ys: &[f64]) -> Option<Curve> {
    let decay = axes
        .iter()
        .position(|a| p.names(&p.decay_axis, &a.column))?;
    let noise = axes
        .iter()
        .position(|a| p.names(&p.noise_axis, &a.column))?;
    if decay == noise {
        return None;
    }
    let (taus, sigmas) = if decay == 0 { (xs, ys) } else { (ys, xs) };
    let (tau_log, sigma_log) = (log_axis(&axes[decay], taus), log_axis(&axes[noise], sigmas));
    let boundary = p.boundary(1.0).is_some();
    let sigma_at = |tau: f64| {
        let gamma = 1.0 / tau;
        p.boundary(gamma)
            .unwrap_or_else(|| p.equal_diffusion(gamma))
    };
    // From edge to edge of the map: half a cell beyond the first and last decay values.
    let k = taus.len();
    if k < 2 {
        return None;
    }
    let (a, b, y, z) = (taus[0], taus[1], taus[k - 2], taus[k - 1]);
    let (lo, hi) = if tau_log {
        (a / (b / a).sqrt(), z * (z / y).sqrt())
    } else {
        (a - (b - a) / 2.0, z + (z - y) / 2.0)
    };
    let n = 200;
    let mut points = Vec::new();
    for k in 0..=n {
        let t = k as f64 / n as f64;
        let tau = if tau_log {
            lo * (hi / lo).powf(t)
        } else {
            lo + t * (hi - lo)
        };
        let (Some(a), Some(b)) = (
            cell_position(taus, tau, tau_log),
            cell_position(sigmas, sigma_at(tau), sigma_log),
        ) else {
            continue;
        };
        points.push(if decay == 0 { (a, b) } else { (b, a) });
    }
    let slope = (tau_log && sigma_log).then(|| {
        let pts: Vec<(f64, f64)> = taus
            .iter()
            .map(|t| (t.log10(), sigma_at(*t).log10()))
            .collect();
        let m = pts.len() as f64;
        let mx = pts.iter().map(|q| q.0).sum::<f64>() / m;
        let my = pts.iter().map(|q| q.1).sum::<f64>() / m;
        let sxx: f64 = pts.iter().map(|q| (q.0 - mx).powi(2)).sum();
        let sxy: f64 = pts.iter().map(|q| (q.0 - mx) * (q.1 - my)).sum();
        sxy / sxx
    });
    Some((points, boundary, slope))
}

fn heat_figure(
    summary: &Summary,
    axes: &[AxisInfo],
    c: usize,
    column: &str,
    colours: &[(String, RGBColor)],
    subtitle: &str,
    prediction: Option<&Prediction>,
) -> HeatFigure {
    let by_rule = group(summary, &[&axes[0], &axes[1]], c);
    let rules = ordered_rules(&by_rule, colours);
    let seeds = by_rule
        .values()
        .flat_map(|cells| cells.values().map(|v| v.2.len()))
        .max()
        .unwrap_or(0);
    let any_failed = by_rule.values().any(|cells| cells.values().any(|v| v.3));
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for cells in by_rule.values() {
        for (x, y, _, _) in cells.values() {
            xs.push(*x);
            ys.push(*y);
        }
    }
    for v in [&mut xs, &mut ys] {
        v.sort_by(f64::total_cmp);
        v.dedup();
    }
    let mut panels = Vec::new();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (rule, _) in &rules {
        let mut grid = vec![vec![None; xs.len()]; ys.len()];
        let mut failed = vec![vec![false; xs.len()]; ys.len()];
        for (x, y, values, any_failed) in by_rule[rule].values() {
            let i = xs.iter().position(|v| v == x).unwrap_or(0);
            let j = ys.iter().position(|v| v == y).unwrap_or(0);
            grid[j][i] = mean_band(values).map(|m| m.0);
            failed[j][i] = *any_failed;
            if let Some(m) = grid[j][i] {
                lo = lo.min(m);
                hi = hi.max(m);
            }
        }
        panels.push((rule.clone(), grid, failed));
    }
    let signed = lo < 0.0 && hi > 0.0;
    let contour = signed && !axes[..2].iter().any(|a| a.categorical);
    let log_colour = lo > 0.0 && hi / lo > 50.0;
    let both_log = log_axis(&axes[0], &xs) && log_axis(&axes[1], &ys);
    let slopes: Vec<String> = panels
        .iter()
        .filter_map(|(rule, grid, _)| {
            let s = contour_slope(grid, &xs, &ys, both_log)?;
            Some(format!("{rule} {s:.2}"))
        })
        .collect();
    let slope_note = if contour && !slopes.is_empty() {
        format!(
            " (fitted slope d{}y/d{}x: {})",
            if both_log { " log " } else { "" },
            if both_log { " log " } else { "" },
            slopes.join(", ")
        )
    } else {
        String::new()
    };
    let predicted = prediction.and_then(|p| predicted_curve(p, axes, &xs, &ys));
    let predicted_note = predicted.as_ref().map(|(_, boundary, slope)| {
        let slope = slope
            .map(|s| format!(", log–log slope over the grid {s:.2}"))
            .unwrap_or_default();
        if *boundary {
            format!("green dashed: predicted zero of the Hebbian signature (docs/phase_boundary.md{slope})")
        } else {
            format!(
                "predicted: no zero contour (the noise is part of the rule's update); grey dashed: \
                 where weight noise of equal diffusion changes sign{slope}"
            )
        }
    });
    HeatFigure {
        header: Header {
            title: capitalised(&describe(column)),
            subtitle: subtitle.to_string(),
            legend: Vec::new(),
            note: {
                let mut parts = vec![format!(
                    "each cell: the mean over {}",
                    crate::text::count(seeds, "seed")
                )];
                if contour {
                    parts.push(format!("black line: zero contour{slope_note}"));
                }
                if log_colour {
                    parts.push("colours on a log scale".into());
                }
                parts.extend(predicted_note);
                if any_failed {
                    parts.push("×: a seed diverged (left out of the mean)".into());
                }
                parts.join(" · ")
            },
        },
        x_label: label(&axes[0].column),
        y_label: label(&axes[1].column),
        x_values: xs,
        y_values: ys,
        panels,
        signed,
        contour,
        log_colour,
        range: if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) },
        predicted: predicted.map(|(points, boundary, _)| (points, boundary)),
    }
}

/// The least-squares slope of the zero contour through the cell centres, in axis units (log10
/// units on log axes); None with fewer than two distinct contour points.
fn contour_slope(grid: &[Vec<Option<f64>>], xs: &[f64], ys: &[f64], log: bool) -> Option<f64> {
    let at = |values: &[f64], position: f64| -> f64 {
        let f = |v: f64| if log { v.log10() } else { v };
        let i = (position.floor() as usize).min(values.len().saturating_sub(2));
        let t = position - i as f64;
        match (values.get(i), values.get(i + 1)) {
            (Some(a), Some(b)) => f(*a) + t * (f(*b) - f(*a)),
            (Some(a), None) => f(*a),
            _ => f64::NAN,
        }
    };
    let mut points: Vec<(f64, f64)> = HeatFigure::zero_contour(grid)
        .iter()
        .flatten()
        .map(|(x, y)| (at(xs, *x), at(ys, *y)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    points.dedup_by(|a, b| (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9);
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// A sequential colour for `f` in [0, 1] (after viridis), grey for NaN.
fn sequential(f: f64) -> RGBColor {
    const STOPS: [[f64; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    if !f.is_finite() {
        return style::NO_VALUE;
    }
    let f = f.clamp(0.0, 1.0) * 4.0;
    let i = (f.floor() as usize).min(3);
    let t = f - i as f64;
    let mix = |k: usize| (STOPS[i][k] + t * (STOPS[i + 1][k] - STOPS[i][k])).round() as u8;
    RGBColor(mix(0), mix(1), mix(2))
}

impl HeatFigure {
    fn colour(&self, v: Option<f64>) -> RGBColor {
        let Some(v) = v else {
            return style::NO_VALUE;
        };
        let (lo, hi) = self.range;
        if self.signed {
            style::diverging(v / lo.abs().max(hi.abs()))
        } else if self.log_colour {
            sequential((v / lo).log10() / (hi / lo).log10())
        } else {
            sequential((v - lo) / (hi - lo).max(1e-300))
        }
    }

    /// Segments of the zero contour through the cell centres (marching squares).
    fn zero_contour(grid: &[Vec<Option<f64>>]) -> Vec<[(f64, f64); 2]> {
        let mut out = Vec::new();
        for j in 0..grid.len().saturating_sub(1) {
            for i in 0..grid[j].len().saturating_sub(1) {
                let corners = [
                    (i as f64, j as f64, grid[j][i]),
                    (i as f64 + 1.0, j as f64, grid[j][i + 1]),
                    (i as f64 + 1.0, j as f64 + 1.0, grid[j + 1][i + 1]),
                    (i as f64, j as f64 + 1.0, grid[j + 1][i]),
                ];
                let mut crossings = Vec::new();
                for k in 0..4 {
                    let (x0, y0, a) = corners[k];
                    let (x1, y1, b) = corners[(k + 1) % 4];
                    let (Some(a), Some(b)) = (a, b) else {
                        continue;
                    };
                    if (a < 0.0) != (b < 0.0) {
                        let t = a / (a - b);
                        crossings.push((x0 + t * (x1 - x0), y0 + t * (y1 - y0)));
                    }
                }
                if crossings.len() == 2 {
                    out.push([crossings[0], crossings[1]]);
                } else if crossings.len() == 4 {
                    out.push([crossings[0], crossings[1]]);
                    out.push([crossings[2], crossings[3]]);
                }
            }
        }
        out
    }
}

impl Figure for HeatFigure {
    fn size(&self) -> (u32, u32) {
        let w = (620 * self.panels.len().max(1) as u32 + 260).max(style::WIDTH);
        (w, style::HEIGHT)
    }

    fn draw<DB: render::Canvas>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Drawn<Vec<super::clip::PixelRect>> {
        root.fill(&WHITE).map_err(fail)?;
        let body = self.header.draw(root)?.margin(10, 20, 10, 20);
        let (w, _) = body.dim_in_pixel();
        let (maps, bar) = body.split_horizontally(w.saturating_sub(220));
        let nx = self.x_values.len();
        let ny = self.y_values.len();
        let tick_every = |n: usize| n.div_ceil(6).max(1);
        for ((rule, grid, failed), area) in self
            .panels
            .iter()
            .zip(maps.split_evenly((1, self.panels.len().max(1))))
        {
            let mut chart = ChartBuilder::on(&area)
                .caption(rule.as_str(), (FONT, style::CAPTION_PX))
                .x_label_area_size(80)
                .y_label_area_size(130)
                .margin(10)
                .build_cartesian_2d(-0.5..nx as f64 - 0.5, -0.5..ny as f64 - 0.5)
                .map_err(fail)?;
            let xv = self.x_values.clone();
            let yv = self.y_values.clone();
            let fmt = |values: &[f64], v: f64| -> String {
                let k = v.round();
                if (v - k).abs() > 1e-6 || k < 0.0 || k as usize >= values.len() {
                    return String::new();
                }
                short(values[k as usize])
            };
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(nx.div_ceil(tick_every(nx)).max(2))
                .y_labels(ny.div_ceil(tick_every(ny)).max(2))
                .label_style((FONT, style::TICK_PX))
                .x_label_formatter(&|v| fmt(&xv, *v))
                .y_label_formatter(&|v| fmt(&yv, *v))
                .draw()
                .map_err(fail)?;
            let (xr, yr) = chart.plotting_area().get_pixel_range();
            axis_names(root, &self.x_label, &self.y_label, (xr, yr))?;
            for (j, row) in grid.iter().enumerate() {
                for (i, v) in row.iter().enumerate() {
                    let (x, y) = (i as f64, j as f64);
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                            self.colour(*v).filled(),
                        )))
                        .map_err(fail)?;
                    if failed[j][i] {
                        chart
                            .draw_series(std::iter::once(Cross::new(
                                (x, y),
                                8,
                                BLACK.stroke_width(3),
                            )))
                            .map_err(fail)?;
                    }
                }
            }
            if let Some((points, boundary)) = &self.predicted {
                let colour = if *boundary {
                    RGBColor(0, 150, 60)
                } else {
                    style::GREY
                };
                chart
                    .draw_series(std::iter::once(DashedPathElement::new(
                        points.clone(),
                        14,
                        8,
                        colour.stroke_width(5),
                    )))
                    .map_err(fail)?;
            }
            if self.contour {
                for seg in Self::zero_contour(grid) {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            seg.to_vec(),
                            BLACK.stroke_width(4),
                        )))
                        .map_err(fail)?;
                }
            }
        }
        // The colour bar, with its two ends (and zero when signed) labelled.
        let (bw, bh) = bar.dim_in_pixel();
        let (top, bottom) = (60i32, bh as i32 - 100);
        let x0 = 30i32;
        let steps = 60;
        for s in 0..steps {
            let f = 1.0 - s as f64 / steps as f64;
            let (lo, hi) = self.range;
            let v = if self.signed {
                let m = lo.abs().max(hi.abs());
                -m + f * 2.0 * m
            } else if self.log_colour {
                lo * (hi / lo).powf(f)
            } else {
                lo + f * (hi - lo)
            };
            let y = top + (bottom - top) * s / steps;
            let y1 = top + (bottom - top) * (s + 1) / steps;
            bar.draw(&Rectangle::new(
                [(x0, y), (x0 + 40, y1 + 1)],
                self.colour(Some(v)).filled(),
            ))
            .map_err(fail)?;
        }
        let (lo, hi) = self.range;
        let (a, b) = if self.signed {
            let m = lo.abs().max(hi.abs());
            (-m, m)
        } else {
            (lo, hi)
        };
        let text = |v: f64, y: i32| -> Drawn {
            bar.draw(&Text::new(
                short(v),
                (x0 + 50, y),
                (FONT, style::TICK_PX)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(fail)
        };
        text(b, top)?;
        text(a, bottom)?;
        if self.signed {
            text(0.0, (top + bottom) / 2)?;
        } else if self.log_colour {
            text((lo * hi).sqrt(), (top + bottom) / 2)?;
        }
        let _ = bw;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zero_contour_crosses_where_the_sign_changes() {
        // Negative left column, positive right column: one vertical segment at x = 0.5.
        let grid = vec![vec![Some(-1.0), Some(1.0)], vec![Some(-1.0), Some(1.0)]];
        let segs = HeatFigure::zero_contour(&grid);
        assert_eq!(segs.len(), 1);
        for (x, _) in segs[0] {
            assert!((x - 0.5).abs() < 1e-12);
        }
        let grid = vec![vec![Some(1.0), Some(2.0)], vec![Some(3.0), Some(4.0)]];
        assert!(HeatFigure::zero_contour(&grid).is_empty());
        // v = log y − 2 log x on a log grid: the contour y = x² has slope 2 in log–log.
        let xs = [1.0, 10.0, 100.0, 1000.0];
        let ys = [1.0, 10.0, 100.0, 1000.0, 1e4, 1e5, 1e6];
        let grid: Vec<Vec<Option<f64>>> = ys
            .iter()
            .map(|y: &f64| {
                xs.iter()
                    .map(|x: &f64| Some(y.log10() - 2.0 * x.log10() + 0.5))
                    .collect()
            })
            .collect();
        let s = contour_slope(&grid, &xs, &ys, true).unwrap();
        assert!((s - 2.0).abs() < 1e-9, "{s}");
    }

    #[test]
    fn predicted_curves_sit_at_the_formula_in_cell_units() {
        assert_eq!(
            cell_position(&[1.0, 10.0, 100.0], 10f64.sqrt(), true),
            Some(0.5)
        );
        assert_eq!(cell_position(&[1.0, 10.0, 100.0], 1000.0, true), None);
        assert_eq!(cell_position(&[0.0, 2.0, 4.0], 5.0, false), Some(2.5));
        let p: Prediction = serde_json::from_value(serde_json::json!({
            "kind": "hebbian_boundary", "noise": "weight", "decay_axis": "tau_decay",
            "noise_axis": "weight_noise", "tau_w": "1 s", "input_power": 0.25, "weights": 300,
            "target_norm_sq": 100, "window": "100 ms"
        }))
        .unwrap();
        let axes = [
            AxisInfo {
                column: "tau_decay_s".into(),
                log: true,
                categorical: false,
            },
            AxisInfo {
                column: "weight_noise".into(),
                log: true,
                categorical: false,
            },
        ];
        let (taus, sigmas) = ([40.0, 400.0], [0.01, 0.1, 1.0]);
        let (points, boundary, slope) = predicted_curve(&p, &axes, &taus, &sigmas).unwrap();
        assert!(boundary);
        assert!((slope.unwrap() + 0.48).abs() < 0.01, "{slope:?}");
        // The curve's ends lie half a cell beyond the first and last τ_decay, at σ*(γ).
        let (x0, y0) = points[0];
        assert_eq!(x0, -0.5);
        let tau0 = 40.0 / 10f64.sqrt();
        let sigma0 = 10f64.powf(y0 - 2.0);
        assert!((sigma0 / p.weight_noise_boundary(1.0 / tau0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn short_numbers_keep_three_digits() {
        assert_eq!(short(0.64633040701), "0.646");
        assert_eq!(short(1.39247665008), "1.39");
        assert_eq!(short(30.0), "30");
        assert_eq!(short(6.4633e-5), "6.46e-5");
        assert_eq!(short(-0.872), "−0.872");
    }

    #[test]
    fn columns_read_as_words() {
        assert_eq!(
            describe("held_out_loss:W1_mean_last0.2_rel"),
            "held-out loss on W1, mean over the last 20% of the run, relative to t = 0"
        );
        assert_eq!(describe("held_out_loss_final"), "held-out loss, final");
        assert_eq!(
            describe("held_out_loss_time_below0.1_rel_s"),
            "time until the held-out loss ≤ 0.1 × its value at t = 0"
        );
        assert_eq!(describe("my_column"), "my_column");
    }

    #[test]
    fn labels_are_words_with_symbols_and_units() {
        use crate::plot::style::plain;
        assert_eq!(
            axis_words("held_out_loss_final_rel"),
            "final held-out loss (relative to start)"
        );
        assert_eq!(
            axis_words("gradient_angle_deg:B_h_mean_last0.2"),
            "gradient angle of Bₕ, last 20% (°)"
        );
        assert_eq!(
            axis_words("hebbian_signature_mean_last0.5"),
            "Hebbian signature, last 50% (cosine)"
        );
        // The longest measure name wins: a loss angle is not a loss.
        assert!(describe("loss_angle_deg_mean_last1").starts_with("loss angle"));
        assert_eq!(
            axis_words("loss_angle_deg_mean_last1"),
            "loss angle, mean over the run (°)"
        );
        assert_eq!(
            plain(&label("tau_w/T")),
            "plasticity timescale / stimulus duration, τw/T"
        );
        assert!(label("tau_w/T").contains("τ_{w}/T"));
        assert_eq!(plain(&label("tau_decay_s")), "weight decay time τdecay (s)");
        assert_eq!(
            label("error_delay/T"),
            "error delay / stimulus duration, Δ/T"
        );
        assert_eq!(label("populations.h.tau_s"), "time constant of h τ (s)");
        for column in [
            "tau_w/T",
            "weight_noise",
            "tau_decay_s",
            "populations.h.tau_s",
        ] {
            assert!(!plain(&label(column)).contains('_'), "{column}");
        }
        assert!(capitalised("loss angle").starts_with("Loss"));
    }

    fn sweep_summary(seeds: usize, column: &str, value: fn(f64, usize) -> f64) -> Summary {
        let header: Vec<String> = ["point", "rule", "status", "tau_w/T", column]
            .map(String::from)
            .to_vec();
        let mut rows = Vec::new();
        for (p, x) in [1.0, 10.0, 100.0, 1000.0].into_iter().enumerate() {
            for s in 0..seeds {
                rows.push(vec![
                    p.to_string(),
                    "fa".into(),
                    "completed".into(),
                    x.to_string(),
                    value(x, s).to_string(),
                ]);
            }
        }
        Summary { header, rows }
    }

    /// Two rules at two points with two seeds each; `p_W2` moves with `p` (a zip) and fa's
    /// loss is `k` times sgd's at point k.
    fn zipped_losses() -> Summary {
        let header: Vec<String> = [
            "point",
            "rule",
            "seed",
            "status",
            "p",
            "p_W2",
            "held_out_loss_final",
        ]
        .map(String::from)
        .to_vec();
        let mut rows = Vec::new();
        for (k, p) in [(1.0, "1"), (2.0, "0.5")] {
            for seed in ["11", "12"] {
                let sgd = if seed == "11" { 0.5 } else { 2.0 };
                for (rule, loss) in [("sgd", sgd), ("fa", k * sgd)] {
                    rows.push(
                        [
                            &k.to_string(),
                            rule,
                            seed,
                            "completed",
                            p,
                            p,
                            &loss.to_string(),
                        ]
                        .map(String::from)
                        .to_vec(),
                    );
                }
            }
        }
        Summary { header, rows }
    }

    fn axis(column: &str) -> AxisInfo {
        AxisInfo {
            column: column.into(),
            log: false,
            categorical: false,
        }
    }

    #[test]
    fn a_zipped_axis_is_not_a_dimension_of_its_own() {
        let summary = zipped_losses();
        let kept = independent_axes(&summary, vec![axis("p"), axis("p_W2")]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].column, "p");
        // An axis with values of its own at one value of the first stays: a grid.
        let mut grid = zipped_losses();
        grid.rows[0][5] = "0.7".into();
        assert_eq!(
            independent_axes(&grid, vec![axis("p"), axis("p_W2")]).len(),
            2
        );
    }

    #[test]
    fn losses_over_sgd_divide_by_sgd_at_the_same_point_and_seed() {
        let summary = over_sgd(&zipped_losses(), "held_out_loss_final").unwrap();
        let c = summary.header.len() - 1;
        assert_eq!(summary.header[c], "held_out_loss_final_over_sgd");
        for r in &summary.rows {
            let want = if r[1] == "sgd" { 1.0 } else { number(r, 0) };
            assert_eq!(number(r, c), want, "{r:?}");
        }
        let fig = line_figure(&summary, &axis("p"), c, &summary.header[c], &[], "sub");
        let fa = fig.series.iter().find(|s| s.1.iter().any(|p| p.1 == 2.0));
        assert!(fa.is_some(), "fa's mean is 2 at p = 0.5");
        assert!(fig.y_label.ends_with("/ sgd's"), "{}", fig.y_label);
        assert!(
            fig.header.title.contains("relative to sgd"),
            "{}",
            fig.header.title
        );
        // A failed sgd row leaves its seed's ratios empty, never divided by a missing value.
        let mut failed = zipped_losses();
        failed.rows[0][3] = "failed".into();
        let summary = over_sgd(&failed, "held_out_loss_final").unwrap();
        assert_eq!(summary.rows[1][c], "");
    }

    #[test]
    fn bands_only_from_three_seeds() {
        let axis = AxisInfo {
            column: "tau_w/T".into(),
            log: true,
            categorical: false,
        };
        let colours = vec![("fa".to_string(), RGBColor(0, 114, 178))];
        let value = |x: f64, s: usize| x + s as f64;
        for (seeds, band) in [(1, false), (2, false), (3, true), (5, true)] {
            let col = "held_out_loss_final_rel";
            let summary = sweep_summary(seeds, col, value);
            let fig = line_figure(&summary, &axis, 4, col, &colours, "sub");
            assert_eq!(fig.band, band, "{seeds} seeds");
            assert_eq!(
                fig.header.note.contains("band: ±1 s.d."),
                band,
                "{}",
                fig.header.note
            );
            assert_eq!(fig.header.note.contains("dots: each seed"), !band);
            // Without a band the axis spans the seeds' own values.
            if !band && seeds == 2 {
                assert_eq!(fig.series[0].1[0].3, 2.0);
            }
            assert_eq!(fig.series[0].3.len(), 4 * seeds);
        }
    }

    #[test]
    fn angles_are_on_a_linear_axis_with_few_ticks() {
        let axis = AxisInfo {
            column: "tau_w/T".into(),
            log: true,
            categorical: false,
        };
        let colours = vec![("fa".to_string(), RGBColor(0, 114, 178))];
        // Angles from 1e-14° to 110°: a log axis would span 16 decades.
        let col = "gradient_angle_deg:W1_mean_last0.2";
        let summary = sweep_summary(5, col, |x, _| if x < 5.0 { 1e-14 } else { 110.0 / x });
        let fig = line_figure(&summary, &axis, 4, col, &colours, "sub");
        assert!(!fig.log_y && fig.log_x);
        let (_, ticks) = axis_ticks(&[1e-14, 1.0, 1e3], true);
        assert!(ticks.len() <= 8, "{ticks:?}");
        let (_, ticks) = axis_ticks(&[1.0, 300.0], true);
        assert_eq!(
            ticks.len(),
            8,
            "1, 2, 5, 10, 20, 50, 100, 200 within 1–300: {ticks:?}"
        );
    }

    /// A two-axis summary: `draw` 1–4 against `tau_decay_s` 1–3, value (draw − 2.5)·τ.
    fn draws_summary() -> Summary {
        let header: Vec<String> = ["point", "rule", "status", "rule_draw", "tau_decay_s", "sig"]
            .map(String::from)
            .to_vec();
        let mut rows = Vec::new();
        for d in 1..=4 {
            for t in 1..=3 {
                let v = (d as f64 - 2.5) * t as f64;
                rows.push(
                    [&*(d * 10 + t).to_string(), "sgd", "completed"]
                        .map(String::from)
                        .into_iter()
                        .chain([d.to_string(), t.to_string(), v.to_string()])
                        .collect(),
                );
            }
        }
        Summary { header, rows }
    }

    #[test]
    fn no_zero_contour_runs_across_rule_draws() {
        let colours = vec![("sgd".to_string(), RGBColor(0, 0, 0))];
        let axis = |column: &str, categorical| AxisInfo {
            column: column.into(),
            log: false,
            categorical,
        };
        for categorical in [false, true] {
            let axes = [axis("rule_draw", categorical), axis("tau_decay_s", false)];
            let fig = heat_figure(&draws_summary(), &axes, 5, "sig", &colours, "sub", None);
            assert!(fig.signed);
            assert_eq!(fig.contour, !categorical);
            assert_eq!(
                fig.header.note.contains("zero contour"),
                !categorical,
                "{}",
                fig.header.note
            );
        }
    }

    #[test]
    fn bands_are_one_standard_deviation() {
        let (m, lo, hi) = mean_band(&[1.0, 3.0, f64::NAN]).unwrap();
        assert_eq!(m, 2.0);
        assert!((hi - m - 2f64.sqrt()).abs() < 1e-12 && (m - lo - 2f64.sqrt()).abs() < 1e-12);
        assert!(mean_band(&[f64::NAN]).is_none());
    }
}
