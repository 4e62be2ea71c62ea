//! The plasticity-curve figures, from `plasticity.csv`: the curve dW/dt against the
//! postsynaptic rate at a few times (`plasticity_curve`), and its crossing from depression to
//! potentiation over the whole run (`plasticity_threshold`). The crossing is found by
//! `record::plasticity::crossing` (through `PlasticitySample::threshold`), the definition the
//! run's own threshold table uses.

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use super::data::{PlasticitySample, RunData};
use super::render::{self, Curve, CurveFigure, CurvePanel, HLine, Header, YAxis};
use super::stats::BandPoint;
use super::{Formats, PlotError, style};

/// Curves drawn in the first figure: the first and last sample and evenly spaced ones between.
const SHOWN: usize = 6;

/// Writes both figures when the run recorded a plasticity curve; nothing otherwise.
pub fn plasticity(
    run: &RunData,
    samples: &[PlasticitySample],
    out_dir: &Path,
    formats: Formats,
) -> Result<Vec<PathBuf>, PlotError> {
    let mut written = Vec::new();
    for (stem, fig) in prepare(run, samples) {
        written.extend(render::write(&fig, out_dir, stem, formats)?);
    }
    Ok(written)
}

/// A blue-to-red ramp for early-to-late curves (ends chosen to stay apart for colour-blind
/// readers: they differ in lightness as well as hue).
fn ramp(k: usize, n: usize) -> RGBColor {
    let f = if n > 1 {
        k as f64 / (n - 1) as f64
    } else {
        0.0
    };
    let (a, b) = ((33.0, 102.0, 172.0), (214.0, 96.0, 77.0));
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn points(xy: impl IntoIterator<Item = (f64, f64)>) -> Vec<BandPoint> {
    xy.into_iter()
        .map(|(t, v)| BandPoint {
            t,
            mean: v,
            lo: v,
            hi: v,
            n: 1,
        })
        .collect()
}

pub(crate) fn prepare(
    run: &RunData,
    samples: &[PlasticitySample],
) -> Vec<(&'static str, CurveFigure)> {
    // The first instance and synapse the run sampled; the others stay in the table.
    let Some(first) = samples.first() else {
        return vec![];
    };
    let chosen: Vec<&PlasticitySample> = samples
        .iter()
        .filter(|s| {
            s.instance == first.instance
                && s.projection == first.projection
                && s.synapse == first.synapse
        })
        .collect();
    let n = chosen.len();
    let mut picks: Vec<usize> = (0..SHOWN.min(n))
        .map(|k| {
            if SHOWN.min(n) == 1 {
                0
            } else {
                k * (n - 1) / (SHOWN.min(n) - 1)
            }
        })
        .collect();
    picks.dedup();
    let (unit, unit_name) = style::time_unit(chosen.last().map_or(1.0, |s| s.time_s));
    let synapse = format!(
        "{}[{}, {}]",
        first.projection, first.synapse.0, first.synapse.1
    );
    let seed = run
        .instances
        .iter()
        .find(|i| i.instance == first.instance)
        .map_or(String::new(), |i| format!(", seed {}", i.seed));
    let header = |what: &str, legend: Vec<(String, RGBColor)>, note: String| Header {
        title: style::title(what, &run.manifest),
        subtitle: style::subtitle(&run.manifest),
        legend,
        note,
    };

    let mut legend = Vec::new();
    let mut curves = Vec::new();
    for (k, &i) in picks.iter().enumerate() {
        let s = chosen[i];
        let colour = ramp(k, picks.len());
        let at = s.threshold().map_or("no crossing".into(), |z| {
            format!("θ = {}", style::significant(z, 3))
        });
        legend.push((
            format!(
                "t = {} {unit_name} ({at})",
                style::significant(s.time_s / unit, 3)
            ),
            colour,
        ));
        curves.push(Curve {
            colour,
            points: points(s.points.iter().copied()),
            band: false,
            width: 3,
        });
    }
    let curve_fig = CurveFigure {
        header: header(
            "Plasticity curve",
            legend,
            format!(
                "dW/dt of {synapse} for x = {} (decay excluded), instance {}{seed}; θ: depression → potentiation",
                style::significant(first.pre_rate, 3),
                first.instance
            ),
        ),
        grid: vec![vec![CurvePanel {
            caption: format!("rule's dW/dt of {synapse} against the postsynaptic rate"),
            y_label: "dW/dt (1/s)".into(),
            y_axis: YAxis::Fit,
            curves,
            hlines: vec![HLine {
                y: 0.0,
                dashed: true,
            }],
        }]],
        min_panel_height: 400,
        x_name: Some("postsynaptic rate z".into()),
        phases: Vec::new(),
    };

    let thresholds: Vec<(f64, f64)> = chosen
        .iter()
        .filter_map(|s| s.threshold().map(|c| (s.time_s, c)))
        .collect();
    let mut figures = vec![("plasticity_curve", curve_fig)];
    if thresholds.len() >= 2 {
        let lo = thresholds.iter().fold(f64::INFINITY, |m, p| m.min(p.1));
        let hi = thresholds.iter().fold(f64::NEG_INFINITY, |m, p| m.max(p.1));
        figures.push((
            "plasticity_threshold",
            CurveFigure {
                header: header(
                    "Plasticity threshold",
                    vec![(format!("θ of {synapse}"), ramp(0, 1))],
                    format!(
                        "the post rate where dW/dt turns from depression to potentiation: {}–{} over the run",
                        style::significant(lo, 3),
                        style::significant(hi, 3)
                    ),
                ),
                grid: vec![vec![CurvePanel {
                    caption: format!("threshold θ of {synapse} (x = {})", style::significant(first.pre_rate, 3)),
                    y_label: "θ (post rate)".into(),
                    y_axis: YAxis::Fit,
                    curves: vec![Curve {
                        colour: ramp(0, 1),
                        points: points(thresholds),
                        band: false,
                        width: 3,
                    }],
                    hlines: vec![],
                }]],
                min_panel_height: 400,
                x_name: None,
                phases: Vec::new(),
            },
        ));
    }
    figures
}
