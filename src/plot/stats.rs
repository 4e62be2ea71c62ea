//! The data layer of the figures: grouping rows into curves and reducing
//! several instances to a mean with a band.
//!
//! Nothing here draws; every function takes plain data and returns plain
//! data, so the numbers a figure shows can be checked by unit tests.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use super::data::{Metric, RunData, Stage};

/// Count, mean, extremes and sample standard deviation of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Sample standard deviation (divides by n − 1); 0 for a single value.
    pub sd: f64,
}

/// Summarises the finite values of `values`; `None` when there are none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let n = finite.len();
    if n == 0 {
        return None;
    }
    let mean = finite.iter().sum::<f64>() / n as f64;
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sd = if n > 1 {
        (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Some(Summary {
        n,
        mean,
        min,
        max,
        sd,
    })
}

/// What the shaded band around a mean curve shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BandKind {
    /// From the smallest to the largest instance value.
    #[default]
    MinMax,
    /// Mean ± one sample standard deviation.
    StdDev,
}

impl BandKind {
    /// Lower and upper edge of the band for one summary.
    pub fn bounds(self, s: &Summary) -> (f64, f64) {
        match self {
            BandKind::MinMax => (s.min, s.max),
            BandKind::StdDev => (s.mean - s.sd, s.mean + s.sd),
        }
    }

    /// Words for the figure caption.
    pub fn describe(self) -> &'static str {
        match self {
            BandKind::MinMax => "band = min–max over instances",
            BandKind::StdDev => "band = ±1 sd over instances",
        }
    }
}

/// One time point of a mean-and-band curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandPoint {
    pub t: f64,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    /// How many instances contributed at this time.
    pub n: usize,
}

/// The mean-and-band curve of one label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelSeries {
    pub label: String,
    pub points: Vec<BandPoint>,
}

/// Orders `f64` times totally so they can key a map; the writer prints the
/// same time the same way for every instance, so exact equality groups rows.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TimeKey(f64);

impl Eq for TimeKey {}
impl PartialOrd for TimeKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TimeKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Reduces `(time, value)` samples from several instances to one point per
/// time, sorted by time. Non-finite values are ignored; a time left with no
/// value gives no point (a gap rather than a fake zero).
pub fn band_over_time(samples: &[(f64, f64)], band: BandKind) -> Vec<BandPoint> {
    let mut by_time: BTreeMap<TimeKey, Vec<f64>> = BTreeMap::new();
    for &(t, v) in samples {
        if t.is_finite() {
            by_time.entry(TimeKey(t)).or_default().push(v);
        }
    }
    by_time
        .into_iter()
        .filter_map(|(t, vs)| {
            let s = summarize(&vs)?;
            let (lo, hi) = band.bounds(&s);
            Some(BandPoint {
                t: t.0,
                mean: s.mean,
                lo,
                hi,
                n: s.n,
            })
        })
        .collect()
}

/// Mean-and-band curves of `metric` on `projection`, one per label that has
/// data (labels in [`RunData::labels`] order). `keep` drops values a figure
/// cannot show, e.g. non-positive losses on a log axis.
pub fn metric_series(
    run: &RunData,
    metric: Metric,
    projection: &str,
    band: BandKind,
    keep: impl Fn(f64) -> bool,
) -> Vec<LabelSeries> {
    // One lookup table instead of a search of instances.csv per row.
    let label_of: HashMap<&str, &str> = run
        .instances
        .iter()
        .map(|i| (i.instance.as_str(), i.label.as_str()))
        .collect();
    run.labels()
        .into_iter()
        .filter_map(|label| {
            let samples: Vec<(f64, f64)> = run
                .metrics
                .iter()
                .filter(|r| r.projection == projection)
                .filter(|r| label_of.get(r.instance.as_str()) == Some(&label.as_str()))
                .map(|r| (r.time_s, r.get(metric)))
                .filter(|&(_, v)| v.is_finite() && keep(v))
                .collect();
            let points = band_over_time(&samples, band);
            (!points.is_empty()).then_some(LabelSeries { label, points })
        })
        .collect()
}

/// Smallest and largest time over some curves.
pub fn time_extent(series: &[LabelSeries]) -> Option<(f64, f64)> {
    extent(series.iter().flat_map(|s| s.points.iter().map(|p| p.t)))
}

/// Smallest band edge and largest band edge over some curves.
pub fn value_extent(series: &[LabelSeries]) -> Option<(f64, f64)> {
    extent(
        series
            .iter()
            .flat_map(|s| s.points.iter().flat_map(|p| [p.lo, p.hi, p.mean])),
    )
}

/// Min and max of the finite numbers in `values`.
pub fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((f64::min(lo, v), f64::max(hi, v))),
        })
}

/// One instance's curve of one traced signal.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceLine {
    pub label: String,
    pub instance: String,
    /// `(time, value)` sorted by time, finite values only.
    pub points: Vec<(f64, f64)>,
}

/// All instances' curves of one traced signal.
#[derive(Debug, Clone, PartialEq)]
pub struct TracePanel {
    pub signal: String,
    pub lines: Vec<TraceLine>,
}

/// Groups `traces.csv` by signal (in order of first appearance) and, within a
/// signal, by instance (in `instances.csv` order). Traces are single stimuli,
/// so instances are drawn individually rather than averaged.
pub fn trace_panels(run: &RunData) -> Vec<TracePanel> {
    let mut signals: Vec<String> = Vec::new();
    for r in &run.traces {
        if !signals.contains(&r.signal) {
            signals.push(r.signal.clone());
        }
    }
    signals
        .into_iter()
        .filter_map(|signal| {
            let lines: Vec<TraceLine> = run
                .instances
                .iter()
                .filter_map(|inst| {
                    let mut points: Vec<(f64, f64)> = run
                        .traces
                        .iter()
                        .filter(|r| r.signal == signal && r.instance == inst.instance)
                        .filter(|r| r.value.is_finite())
                        .map(|r| (r.time_s, r.value))
                        .collect();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    (!points.is_empty()).then(|| TraceLine {
                        label: inst.label.clone(),
                        instance: inst.instance.clone(),
                        points,
                    })
                })
                .collect();
            (!lines.is_empty()).then_some(TracePanel { signal, lines })
        })
        .collect()
}

/// A dense matrix rebuilt from `weights.csv` entries; cells never written
/// stay `NaN` and are drawn as "no value".
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    /// Row-major.
    pub values: Vec<f64>,
}

impl Matrix {
    pub fn get(&self, row: usize, col: usize) -> f64 {
        self.values[row * self.cols + col]
    }

    /// Largest finite |value|, 0 when there is none.
    pub fn max_abs(&self) -> f64 {
        self.values
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0, |m, v| f64::max(m, v.abs()))
    }

    /// The Frobenius norm over the cells that hold a value.
    pub fn norm(&self) -> f64 {
        self.values
            .iter()
            .filter(|v| v.is_finite())
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt()
    }
}

/// The start and end snapshot of one projection of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionWeights {
    pub projection: String,
    pub start: Option<Matrix>,
    pub end: Option<Matrix>,
}

/// All weight snapshots of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceWeights {
    pub instance: String,
    pub label: String,
    pub projections: Vec<ProjectionWeights>,
}

/// Rebuilds the matrices of `weights.csv`, per instance (in `instances.csv`
/// order) and per projection (in order of first appearance).
pub fn weight_sets(run: &RunData) -> Vec<InstanceWeights> {
    run.instances
        .iter()
        .filter_map(|inst| {
            let entries: Vec<_> = run
                .weights
                .iter()
                .filter(|w| w.instance == inst.instance)
                .collect();
            let mut names: Vec<String> = Vec::new();
            for w in &entries {
                if !names.contains(&w.projection) {
                    names.push(w.projection.clone());
                }
            }
            let build = |name: &str, stage: Stage| {
                let cells: Vec<_> = entries
                    .iter()
                    .filter(|w| w.projection == name && w.stage == stage)
                    .collect();
                let rows = cells.iter().map(|w| w.row + 1).max()?;
                let cols = cells.iter().map(|w| w.col + 1).max()?;
                let mut values = vec![f64::NAN; rows * cols];
                for w in cells {
                    values[w.row * cols + w.col] = w.value;
                }
                Some(Matrix { rows, cols, values })
            };
            let projections: Vec<ProjectionWeights> = names
                .iter()
                .map(|name| ProjectionWeights {
                    projection: name.clone(),
                    start: build(name, Stage::Start),
                    end: build(name, Stage::End),
                })
                .collect();
            (!projections.is_empty()).then(|| InstanceWeights {
                instance: inst.instance.clone(),
                label: inst.label.clone(),
                projections,
            })
        })
        .collect()
}
