//! How big a sweep is, counted from the file before anything is expanded, and refused against a
//! stated maximum and the memory budget.
//!
//! A sweep file asks for its size in a few numbers (`count:`, the length of `values:`, `seeds:`,
//! the rules), and a mistyped one (`count: 1e12`, a 1000 × 1000 grid meant as 10 × 10) would
//! otherwise be discovered by expanding it: an allocation of terabytes, or minutes of building
//! circuits one point at a time. Here the number of points (the product of the axes' lengths
//! for a grid, the common length for a zip) and of instances (points × rules × seeds) is
//! computed with checked arithmetic from the file alone and refused, located at the axis or
//! setting that makes it too large, when it exceeds [`MAX_POINTS`] or [`MAX_INSTANCES`], or
//! when the sweep's own tables (the points and their circuits' keys while it runs, the summary
//! rows assembled from the parts) would not fit the memory budget of `circuit::budget`.

use super::spec::{Combine, SweepSpec};
use crate::circuit::budget::{Budget, MemoryBudget, human_bytes};
use crate::spec::{Diagnostic, SourceFile, YamlPath};

/// The most points a sweep may have: a million points are days of computing even for the
/// smallest circuit, and each is built and checked before the sweep starts.
pub const MAX_POINTS: usize = 1_000_000;

/// The most instances (points × rules × seeds) a sweep may have.
pub const MAX_INSTANCES: usize = 100_000_000;

/// Above this many points `--dry-run` reports the counts and estimates without building every
/// point's circuits (a sweep still checks each one before it runs).
pub const DRY_RUN_BUILT: usize = 10_000;

/// Estimated bytes the sweep holds per point while it runs: the point's values, identity, id
/// and overrides (a few hundred bytes), plus its circuits' ensemble keys (counted apart).
const POINT_BYTES: f64 = 512.0;
/// Per axis of a point: its value, resolved value, cells and override text.
const AXIS_BYTES: f64 = 160.0;
/// Per cell of a summary row held while `summary.csv` is assembled.
const CELL_BYTES: f64 = 40.0;

/// The size of a sweep, as its file asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub points: usize,
    /// Points × rules × seeds.
    pub instances: usize,
}

/// The number of values an axis asks for (none when it gives no or several kinds of values:
/// `axes::resolve` reports that).
fn axis_len(a: &super::spec::AxisSpec) -> Option<(usize, YamlPath)> {
    if let Some(d) = &a.rule_draws {
        return Some((d.count, YamlPath::of(&["rule_draws", "count"])));
    }
    match (&a.values, &a.linear, &a.log) {
        (Some(v), None, None) => Some((v.len(), YamlPath::of(&["values"]))),
        (None, Some(r), None) => Some((r.count, YamlPath::of(&["linear", "count"]))),
        (None, None, Some(r)) => Some((r.count, YamlPath::of(&["log", "count"]))),
        _ => None,
    }
}

fn join(base: &YamlPath, rest: &YamlPath) -> YamlPath {
    let mut p = base.clone();
    p.0.extend(rest.0.iter().cloned());
    p
}

/// Counts the points and instances the file asks for and refuses a count above the maxima,
/// located at the axis (or `seeds:`) that takes it past. Nothing is expanded.
pub fn count(spec: &SweepSpec, source: &SourceFile) -> Result<Size, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let too_many = |at: YamlPath, what: String| {
        source.diagnostic(
            at,
            what,
            Some(format!(
                "a sweep may have at most {MAX_POINTS} points; sweep fewer values, or split the question into several sweeps"
            )),
        )
    };
    let mut points: Option<usize> = match spec.combine {
        Combine::Grid => Some(1),
        Combine::Zip => None,
    };
    for (i, a) in spec.axes.iter().enumerate() {
        let at = YamlPath::of(&["axes"]).index(i);
        let Some((n, key)) = axis_len(a) else {
            continue;
        };
        if n > MAX_POINTS {
            errors.push(too_many(
                join(&at, &key),
                format!("this axis asks for {n} values, more than the {MAX_POINTS} points a sweep may have"),
            ));
            return Err(errors);
        }
        points = match (spec.combine, points) {
            (Combine::Zip, Some(p)) => Some(p.max(n)),
            (Combine::Zip, None) => Some(n),
            (Combine::Grid, Some(p)) => match p.checked_mul(n).filter(|&t| t <= MAX_POINTS) {
                Some(t) => Some(t),
                None => {
                    let product = p as f64 * n as f64;
                    errors.push(too_many(
                        at,
                        format!(
                            "with this axis the grid has {product:.3e} points, more than the {MAX_POINTS} a sweep may have"
                        ),
                    ));
                    return Err(errors);
                }
            },
            (Combine::Grid, None) => None,
        };
    }
    let points = points.unwrap_or(0);
    let rules = spec.rules.len().max(1);
    let instances = points
        .checked_mul(rules)
        .and_then(|n| n.checked_mul(spec.seeds))
        .filter(|&n| n <= MAX_INSTANCES);
    let Some(instances) = instances else {
        errors.push(source.diagnostic(
            YamlPath::of(&["seeds"]),
            format!(
                "{points} points × {rules} rule(s) × {} seeds is {:.3e} instances, more than the {MAX_INSTANCES} a sweep may have",
                spec.seeds,
                points as f64 * rules as f64 * spec.seeds as f64
            ),
            Some("use fewer seeds or points".into()),
        ));
        return Err(errors);
    };
    Ok(Size { points, instances })
}

/// The memory the sweep's own tables take, in bytes: every point (with `key_bytes` of ensemble
/// key per point) and the summary rows (`columns` cells per instance).
pub fn table_bytes(size: Size, axes: usize, key_bytes: usize, columns: usize) -> f64 {
    size.points as f64 * (POINT_BYTES + axes as f64 * AXIS_BYTES + key_bytes as f64)
        + size.instances as f64 * columns as f64 * CELL_BYTES
}

/// Refuses a sweep whose tables would not fit the memory budget, located at `axes:`.
pub fn check_budget(
    source: &SourceFile,
    size: Size,
    bytes: f64,
    budget: &MemoryBudget,
    setting: &Budget,
) -> Result<(), Diagnostic> {
    if bytes <= budget.bytes as f64 {
        return Ok(());
    }
    Err(source.diagnostic(
        YamlPath::of(&["axes"]),
        format!(
            "{} points and {} instances would need about {} of memory for the sweep's tables alone, more than the budget of {budget}",
            size.points,
            size.instances,
            human_bytes(bytes)
        ),
        Some(format!(
            "sweep fewer points or seeds, or {}",
            setting.how_to_raise()
        )),
    ))
}
