//! The figure kinds. Each public function has the [`FigureFn`] signature,
//! reads only the loaded [`RunData`], writes its files into `out_dir` and
//! returns their paths; with no data to show it writes nothing and returns
//! an empty list. Adding a kind means adding one function here and one
//! entry in [`FIGURES`].
//!
//! Each function is split into a `prepare_*` step (data → figure
//! description, no drawing) and the shared writer, so tests can render the
//! same description into a pixel buffer.

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use super::data::{Metric, RunData};
use super::render::{
    self, Curve, CurveFigure, CurvePanel, HLine, Header, HeatCell, HeatRow, HeatmapFigure, YAxis,
};
use super::stats::{self, BandKind};
use super::style;
use super::{Formats, PlotError};

/// The signature every figure kind shares.
pub type FigureFn = fn(&RunData, &Path, Formats) -> Result<Vec<PathBuf>, PlotError>;

/// Every figure kind, by file stem, in the order `plot_run` writes them.
pub const FIGURES: [(&str, FigureFn); 6] = [
    ("learning_curves", learning_curves),
    ("alignment", alignment),
    ("hebbian", hebbian),
    ("learning_strength", learning_strength),
    ("traces", traces),
    ("weights", weights),
];

/// The band every mean curve carries; named in each figure's legend note.
const BAND: BandKind = BandKind::MinMax;

/// Held-out loss (log scale) and held-out accuracy over time, mean and band
/// over the instances of each label, from the `all` rows. Falls back to the
/// training columns, saying so on the axis, when no held-out value exists.
pub fn learning_curves(
    run: &RunData,
    out_dir: &Path,
    formats: Formats,
) -> Result<Vec<PathBuf>, PlotError> {
    write_opt(
        prepare_learning_curves(run),
        out_dir,
        "learning_curves",
        formats,
    )
}

/// Gradient angle and weight angle per projection over time, against a
/// dashed 90° line (90° = orthogonal, no better than chance).
pub fn alignment(
    run: &RunData,
    out_dir: &Path,
    formats: Formats,
) -> Result<Vec<PathBuf>, PlotError> {
    write_opt(prepare_alignment(run), out_dir, "alignment", formats)
}

/// Hebbian signature per projection over time on a −1…1 axis.
pub fn hebbian(run: &RunData, out_dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, PlotError> {
    write_opt(prepare_hebbian(run), out_dir, "hebbian", formats)
}

/// Learning strength and loss angle per projection over time.
pub fn learning_strength(
    run: &RunData,
    out_dir: &Path,
    formats: Formats,
) -> Result<Vec<PathBuf>, PlotError> {
    write_opt(
        prepare_learning_strength(run),
        out_dir,
        "learning_strength",
        formats,
    )
}

/// Activity traces from `traces.csv`, one panel per signal.
pub fn traces(run: &RunData, out_dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, PlotError> {
    write_opt(prepare_traces(run), out_dir, "traces", formats)
}

/// Heat maps of each recorded matrix at start and end, one file per
/// instance (`weights_<instance>`), from `weights.csv`.
pub fn weights(run: &RunData, out_dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, PlotError> {
    let mut written = Vec::new();
    for (instance, fig) in prepare_weights(run) {
        let stem = format!("weights_{}", style::file_safe(&instance));
        written.extend(render::write(&fig, out_dir, &stem, formats)?);
    }
    Ok(written)
}

fn write_opt(
    fig: Option<CurveFigure>,
    out_dir: &Path,
    stem: &str,
    formats: Formats,
) -> Result<Vec<PathBuf>, PlotError> {
    match fig {
        Some(fig) => render::write(&fig, out_dir, stem, formats),
        None => Ok(Vec::new()),
    }
}

fn colour_of(colours: &[(String, RGBColor)], label: &str) -> RGBColor {
    colours
        .iter()
        .find(|(l, _)| l == label)
        .map_or(style::GREY, |&(_, c)| c)
}

fn header(run: &RunData, what: &str, note: &str, legend: Vec<(String, RGBColor)>) -> Header {
    Header {
        title: style::title(what, &run.manifest),
        subtitle: style::subtitle(&run.manifest),
        legend,
        note: note.to_string(),
    }
}

/// The legend entries for the labels that actually appear in `panels`.
fn used_legend(colours: &[(String, RGBColor)], panels: &[CurvePanel]) -> Vec<(String, RGBColor)> {
    colours
        .iter()
        .filter(|(_, c)| {
            panels
                .iter()
                .any(|p| p.curves.iter().any(|k| k.colour == *c))
        })
        .cloned()
        .collect()
}

fn mean_note() -> String {
    format!("line = mean, {}", BAND.describe())
}

fn band_curves(
    run: &RunData,
    metric: Metric,
    projection: &str,
    colours: &[(String, RGBColor)],
    keep: impl Fn(f64) -> bool,
) -> Vec<Curve> {
    stats::metric_series(run, metric, projection, BAND, keep)
        .into_iter()
        .map(|s| Curve {
            colour: colour_of(colours, &s.label),
            points: s.points,
            band: true,
            width: 3,
        })
        .collect()
}

/// How a projection name reads on a figure: `all` spelled out, and the
/// derived `W2-B2T` written as the difference it is, W2 − B2ᵀ.
fn projection_caption(p: &str) -> String {
    if p == "all" {
        return "all plastic projections".into();
    }
    match p.split_once('-') {
        Some((w, b)) if b.len() > 1 && b.ends_with('T') => {
            format!("{w} − {}ᵀ", &b[..b.len() - 1])
        }
        _ => p.to_string(),
    }
}

/// Projections having any of `metrics`, `all` first.
fn projections_for(run: &RunData, metrics: &[Metric]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in metrics {
        for p in run.projections_with(*m) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    if let Some(i) = out.iter().position(|p| p == "all") {
        let all = out.remove(i);
        out.insert(0, all);
    }
    out
}

pub(crate) fn prepare_learning_curves(run: &RunData) -> Option<CurveFigure> {
    let colours = style::label_colours(&run.labels());
    let pick = |held_out: Metric, training: Metric| {
        if run.has(held_out, "all") {
            Some((held_out, "held-out"))
        } else if run.has(training, "all") {
            Some((training, "training"))
        } else {
            None
        }
    };
    let mut panels = Vec::new();
    if let Some((m, kind)) = pick(Metric::HeldOutLoss, Metric::Loss) {
        panels.push(CurvePanel {
            caption: format!("{kind} loss"),
            y_label: "loss (log scale)".into(),
            y_axis: YAxis::Log,
            curves: band_curves(run, m, "all", &colours, |v| v > 0.0),
            hlines: Vec::new(),
            diverging: false,
            x_axis: true,
        });
    }
    if let Some((m, kind)) = pick(Metric::HeldOutAccuracy, Metric::Accuracy) {
        panels.push(CurvePanel {
            caption: format!("{kind} accuracy"),
            y_label: "accuracy".into(),
            y_axis: YAxis::Unit,
            curves: band_curves(run, m, "all", &colours, |_| true),
            hlines: Vec::new(),
            diverging: false,
            x_axis: true,
        });
    }
    // A loss that is never positive leaves nothing for the log axis.
    panels.retain(|p| !p.curves.is_empty());
    if panels.is_empty() {
        return None;
    }
    Some(CurveFigure {
        header: header(
            run,
            "Learning curves",
            &mean_note(),
            used_legend(&colours, &panels),
        ),
        rows: 1,
        cols: panels.len(),
        min_panel_height: 560,
        panels,
    })
}

/// A grid with one row per metric and one column per projection, used by
/// the alignment and learning-strength figures.
fn metric_grid(
    run: &RunData,
    what: &str,
    rows: &[(Metric, &str, YAxis, Vec<HLine>)],
) -> Option<CurveFigure> {
    let colours = style::label_colours(&run.labels());
    let rows: Vec<_> = rows
        .iter()
        .filter(|(m, ..)| !run.projections_with(*m).is_empty())
        .collect();
    let metrics: Vec<Metric> = rows.iter().map(|r| r.0).collect();
    let projections = projections_for(run, &metrics);
    if rows.is_empty() || projections.is_empty() {
        return None;
    }
    let mut panels: Vec<CurvePanel> = Vec::new();
    for (i, (metric, y_label, y_axis, hlines)) in rows.iter().enumerate() {
        let row_start = panels.len();
        for (j, p) in projections.iter().enumerate() {
            panels.push(CurvePanel {
                caption: projection_caption(p),
                // The row's metric is named once, on the left-most panel.
                y_label: if j == 0 {
                    y_label.to_string()
                } else {
                    String::new()
                },
                y_axis: *y_axis,
                curves: band_curves(run, *metric, p, &colours, |_| true),
                hlines: hlines.clone(),
                diverging: false,
                x_axis: i + 1 == rows.len(),
            });
        }
        render::share_angle_range(&mut panels[row_start..]);
    }
    Some(CurveFigure {
        header: header(run, what, &mean_note(), used_legend(&colours, &panels)),
        rows: rows.len(),
        cols: projections.len(),
        min_panel_height: if rows.len() == 1 { 560 } else { 300 },
        panels,
    })
}

const NINETY: HLine = HLine {
    y: 90.0,
    dashed: true,
};

pub(crate) fn prepare_alignment(run: &RunData) -> Option<CurveFigure> {
    metric_grid(
        run,
        "Alignment with backprop",
        &[
            (
                Metric::GradientAngle,
                "gradient angle (°)",
                YAxis::Angle,
                vec![NINETY],
            ),
            (
                Metric::WeightAngle,
                "weight angle (°)",
                YAxis::Angle,
                vec![NINETY],
            ),
        ],
    )
}

pub(crate) fn prepare_learning_strength(run: &RunData) -> Option<CurveFigure> {
    metric_grid(
        run,
        "Learning strength and loss angle",
        &[
            (
                Metric::LearningStrength,
                "learning strength",
                YAxis::Auto,
                vec![HLine {
                    y: 0.0,
                    dashed: false,
                }],
            ),
            (
                Metric::LossAngle,
                "loss angle (°)",
                YAxis::Angle,
                vec![NINETY],
            ),
        ],
    )
}

pub(crate) fn prepare_hebbian(run: &RunData) -> Option<CurveFigure> {
    let colours = style::label_colours(&run.labels());
    let projections = run.projections_with(Metric::HebbianSignature);
    if projections.is_empty() {
        return None;
    }
    // Wrap after three panels so each stays wide enough to read.
    let cols = projections.len().min(3);
    let rows = projections.len().div_ceil(cols);
    let n = projections.len();
    let panels: Vec<CurvePanel> = projections
        .iter()
        .enumerate()
        .map(|(i, p)| CurvePanel {
            caption: projection_caption(p),
            y_label: if i % cols == 0 {
                "Hebbian signature".into()
            } else {
                String::new()
            },
            y_axis: YAxis::Fixed(-1.05, 1.05),
            curves: band_curves(run, Metric::HebbianSignature, p, &colours, |_| true),
            hlines: vec![HLine {
                y: 0.0,
                dashed: false,
            }],
            diverging: true,
            x_axis: i + cols >= n,
        })
        .collect();
    Some(CurveFigure {
        header: header(
            run,
            "Hebbian signature",
            &mean_note(),
            used_legend(&colours, &panels),
        ),
        rows,
        cols,
        min_panel_height: if rows == 1 { 560 } else { 300 },
        panels,
    })
}

pub(crate) fn prepare_traces(run: &RunData) -> Option<CurveFigure> {
    let colours = style::label_colours(&run.labels());
    let groups = stats::trace_panels(run);
    if groups.is_empty() {
        return None;
    }
    let n = groups.len();
    let panels: Vec<CurvePanel> = groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| CurvePanel {
            caption: g.signal,
            y_label: String::new(),
            y_axis: YAxis::Fit,
            curves: g
                .lines
                .into_iter()
                .map(|l| Curve {
                    colour: colour_of(&colours, &l.label),
                    points: l
                        .points
                        .into_iter()
                        .map(|(t, v)| stats::BandPoint {
                            t,
                            mean: v,
                            lo: v,
                            hi: v,
                            n: 1,
                        })
                        .collect(),
                    band: false,
                    width: 2,
                })
                .collect(),
            hlines: Vec::new(),
            diverging: false,
            // One shared time axis: only the bottom panel labels it.
            x_axis: i + 1 == n,
        })
        .collect();
    Some(CurveFigure {
        header: header(
            run,
            "Activity traces",
            "one line per instance",
            used_legend(&colours, &panels),
        ),
        rows: n,
        cols: 1,
        min_panel_height: 190,
        panels,
    })
}

/// One heat-map figure per instance that has weight snapshots.
pub(crate) fn prepare_weights(run: &RunData) -> Vec<(String, HeatmapFigure)> {
    let colours = style::label_colours(&run.labels());
    stats::weight_sets(run)
        .into_iter()
        .map(|set| {
            let seed = run
                .instances
                .iter()
                .find(|i| i.instance == set.instance)
                .map_or(String::new(), |i| format!(", seed {}", i.seed));
            let shape = |m: &Option<stats::Matrix>| {
                m.as_ref()
                    .map_or(String::new(), |m| format!(", {}×{}", m.rows, m.cols))
            };
            let rows = set
                .projections
                .iter()
                .map(|p| HeatRow {
                    scale: p.max_abs(),
                    cells: vec![
                        HeatCell {
                            caption: format!(
                                "{} (start{})",
                                projection_caption(&p.projection),
                                shape(&p.start)
                            ),
                            matrix: p.start.clone(),
                        },
                        HeatCell {
                            caption: format!(
                                "{} (end{})",
                                projection_caption(&p.projection),
                                shape(&p.end)
                            ),
                            matrix: p.end.clone(),
                        },
                    ],
                })
                .collect();
            let legend = vec![(set.label.clone(), colour_of(&colours, &set.label))];
            let note = format!(
                "instance {}{seed} · blue < 0 < red, one scale per row",
                set.instance
            );
            let fig = HeatmapFigure {
                header: header(run, "Weights", &note, legend),
                rows,
            };
            (set.instance, fig)
        })
        .collect()
}
