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
/// instance with snapshots in `weights.csv`, named after its label where
/// that is unique (`weights_kp`; see [`weight_stems`]).
pub fn weights(run: &RunData, out_dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, PlotError> {
    let mut written = Vec::new();
    for (stem, fig) in prepare_weights(run) {
        written.extend(render::write(&fig, out_dir, &stem, formats)?);
    }
    Ok(written)
}

/// File stems for the weight figures of `sets`, in the same order.
///
/// A run usually writes snapshots for one instance per label, and
/// `weights_kp` says more on a slide than `weights_9`. Where a label has
/// several instances with snapshots their seeds tell them apart
/// (`weights_kp_seed2`), and where even that repeats (or two labels are
/// spelled the same once made file-safe) the instance id is added.
pub(crate) fn weight_stems(run: &RunData, sets: &[stats::InstanceWeights]) -> Vec<String> {
    let seed_of = |instance: &str| {
        run.instances
            .iter()
            .find(|i| i.instance == instance)
            .map_or_else(String::new, |i| i.seed.clone())
    };
    let per_label = |label: &str| sets.iter().filter(|s| s.label == label).count();
    let mut stems: Vec<String> = sets
        .iter()
        .map(|s| {
            let label = style::file_safe(&s.label);
            if per_label(&s.label) == 1 {
                format!("weights_{label}")
            } else {
                format!(
                    "weights_{label}_seed{}",
                    style::file_safe(&seed_of(&s.instance))
                )
            }
        })
        .collect();
    let repeated: Vec<bool> = stems
        .iter()
        .map(|a| stems.iter().filter(|b| *b == a).count() > 1)
        .collect();
    for ((stem, set), again) in stems.iter_mut().zip(sets).zip(repeated) {
        if again {
            stem.push_str(&format!("_{}", style::file_safe(&set.instance)));
        }
    }
    stems
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
            style::subscripts(&format!("{w} − {}ᵀ", &b[..b.len() - 1]))
        }
        _ => style::subscripts(p),
    }
}

/// Columns for `n` panels that leave no cell empty where any count up to four does (2 × 2
/// rather than 3 + 1), three otherwise.
pub(crate) fn grid_cols(n: usize) -> usize {
    if n <= 3 {
        return n.max(1);
    }
    [3, 2, 4]
        .into_iter()
        .find(|c| n.is_multiple_of(*c))
        .unwrap_or(3)
}

/// `panels` in rows of [`grid_cols`].
fn as_grid(panels: Vec<CurvePanel>) -> Vec<Vec<CurvePanel>> {
    let cols = grid_cols(panels.len());
    panels.chunks(cols).map(<[_]>::to_vec).collect()
}

/// Whether every instance has at most one projection (besides `all`) with `metric`: then the
/// `all` value of each instance is that projection's, and an `all` panel would repeat the
/// projections' own.
fn one_per_instance(run: &RunData, metric: Metric) -> bool {
    run.instances.iter().all(|inst| {
        let mut seen: Vec<&str> = Vec::new();
        for r in run.metrics.iter().filter(|r| {
            r.instance == inst.instance && r.projection != "all" && r.get(metric).is_finite()
        }) {
            if !seen.contains(&r.projection.as_str()) {
                seen.push(&r.projection);
            }
        }
        seen.len() <= 1
    })
}

/// A lighter shade of `c` (mixed with white), for the raw line under a smoothed one.
fn light(c: RGBColor) -> RGBColor {
    let mix = |v: u8| (v as f64 + 0.6 * (255.0 - v as f64)).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// The running mean of `points` over `half` points on either side (fewer at the ends).
pub(crate) fn running_mean(points: &[stats::BandPoint], half: usize) -> Vec<stats::BandPoint> {
    (0..points.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(points.len());
            let v: Vec<f64> = points[lo..hi]
                .iter()
                .map(|p| p.mean)
                .filter(|v| v.is_finite())
                .collect();
            let mean = if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            };
            stats::BandPoint {
                t: points[i].t,
                mean,
                lo: mean,
                hi: mean,
                n: points[i].n,
            }
        })
        .collect()
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
    let mut dashed: Vec<String> = Vec::new();
    if let Some((m, kind)) = pick(Metric::HeldOutLoss, Metric::Loss) {
        let curves = band_curves(run, m, "all", &colours, |v| v > 0.0);
        // The table's t(10% loss) is when an instance's held-out loss first falls to a tenth
        // of its own start; the line marks a tenth of the mean start.
        let starts: Vec<f64> = curves
            .iter()
            .filter_map(|c| c.points.first().map(|p| p.mean))
            .collect();
        let mut hlines = Vec::new();
        if m == Metric::HeldOutLoss && !starts.is_empty() {
            let start = starts.iter().sum::<f64>() / starts.len() as f64;
            hlines.push(HLine {
                y: 0.1 * start,
                dashed: true,
            });
            dashed.push("10% of the initial loss".to_string());
        }
        let caption = match (kind, run.manifest.held_out()) {
            ("held-out", Some(n)) => format!("held-out loss, mean over {n} samples"),
            ("held-out", None) => "held-out loss, mean over the held-out samples".into(),
            _ => "training loss, on the sample shown".into(),
        };
        panels.push(CurvePanel {
            caption,
            y_label: "½‖y* − y‖² (log scale)".into(),
            y_axis: YAxis::Log,
            curves,
            hlines,
        });
    }
    // A protocol that changes the task: the first phase's task throughout (forgetting).
    if run.has(Metric::FirstTaskLoss, "all") {
        panels.push(CurvePanel {
            caption: "held-out loss on the first phase's task".into(),
            y_label: "½‖y* − y‖² (log scale)".into(),
            y_axis: YAxis::Log,
            curves: band_curves(run, Metric::FirstTaskLoss, "all", &colours, |v| v > 0.0),
            hlines: Vec::new(),
        });
    }
    if let Some((m, kind)) = pick(Metric::HeldOutAccuracy, Metric::Accuracy) {
        let mut hlines = Vec::new();
        if let Some(k) = run.manifest.target_size().filter(|k| *k > 1) {
            hlines.push(HLine {
                y: 1.0 / k as f64,
                dashed: true,
            });
            dashed.push(format!("chance accuracy, 1/{k}"));
        }
        panels.push(CurvePanel {
            caption: format!("{kind} accuracy"),
            y_label: "accuracy".into(),
            y_axis: YAxis::Unit,
            curves: band_curves(run, m, "all", &colours, |_| true),
            hlines,
        });
    }
    // A loss that is never positive leaves nothing for the log axis.
    panels.retain(|p| !p.curves.is_empty());
    if panels.is_empty() {
        return None;
    }
    let mut note = mean_note();
    if !dashed.is_empty() {
        note.push_str(&format!(" · dashed: {}", dashed.join(", ")));
    }
    if !panels.iter().any(|p| p.y_axis == YAxis::Unit) {
        // The accuracy panel is promised in the docs; its absence is said, not silent.
        note.push_str(
            "\nno accuracy panel: none was recorded (a regression task has no classes to count)",
        );
    }
    Some(CurveFigure {
        header: header(
            run,
            "Learning curves",
            &note,
            used_legend(&colours, &panels),
        ),
        grid: vec![panels],
        min_panel_height: 560,
        x_name: None,
        phases: run.phases(),
    })
}

/// One row of a [`metric_grid`]: the metric (whose declaration names it in titles and
/// notes), its y-axis label, axis, reference lines and how `all` is captioned.
struct GridRow {
    metric: Metric,
    /// The y-axis label where the metric's name and unit would not do.
    y_label: Option<&'static str>,
    y_axis: YAxis,
    hlines: Vec<HLine>,
    all: &'static str,
    /// A line under the legend on how to read the row, if it needs one.
    explain: Option<&'static str>,
}

impl GridRow {
    fn axis_label(&self) -> String {
        let def = self.metric.def();
        self.y_label
            .map_or_else(|| format!("{}{}", def.name, def.unit), str::to_string)
    }
}

/// Whether every point of every curve of `panel` is zero: a panel that says
/// nothing (W2's gradient angle when every rule is exact there).
fn identically_zero(panel: &CurvePanel) -> bool {
    panel.curves.iter().all(|c| {
        c.points
            .iter()
            .all(|p| p.mean.abs() < 1e-9 && p.lo.abs() < 1e-9 && p.hi.abs() < 1e-9)
    })
}

/// A grid with one row per metric and one panel per projection measured
/// for it, used by the alignment and learning-strength figures.
///
/// Each row lists only the projections that have data for its metric (in
/// the same order in every row), so a projection measured for none of the
/// metrics has no column at all and one measured for only some of them
/// leaves no "not measured" panel behind. Rows may then differ in length;
/// every panel is captioned with its projection, so nothing relies on
/// columns lining up. Panels that are zero throughout are left out, and the
/// note says which; a metric that was not recorded is named in the note,
/// and the title names only the metrics shown.
fn metric_grid(run: &RunData, rows: &[GridRow]) -> Option<CurveFigure> {
    let colours = style::label_colours(&run.labels());
    let metrics: Vec<Metric> = rows.iter().map(|r| r.metric).collect();
    let projections = projections_for(run, &metrics);
    let mut grid: Vec<Vec<CurvePanel>> = Vec::new();
    let mut shown: Vec<Metric> = Vec::new();
    let mut missing: Vec<Metric> = Vec::new();
    let mut zero: Vec<String> = Vec::new();
    for row in rows {
        let mut panels: Vec<CurvePanel> = Vec::new();
        let skip_all = one_per_instance(run, row.metric);
        for p in &projections {
            if p == "all" && skip_all {
                continue;
            }
            let panel = CurvePanel {
                caption: grid_caption(run, row, p),
                y_label: String::new(),
                y_axis: row.y_axis,
                curves: band_curves(run, row.metric, p, &colours, |_| true),
                hlines: row.hlines.clone(),
            };
            if panel.curves.is_empty() {
                continue;
            }
            if identically_zero(&panel) {
                zero.push(format!("{} of {}", row.metric.def().name, panel.caption));
                continue;
            }
            panels.push(panel);
        }
        if let Some(first) = panels.first_mut() {
            // The row's metric is named once, on the left-most panel.
            first.y_label = row.axis_label();
        }
        render::share_angle_range(&mut panels);
        if panels.is_empty() {
            // Measured but zero everywhere is in `zero` already.
            if run.projections_with(row.metric).is_empty() {
                missing.push(row.metric);
            }
        } else {
            shown.push(row.metric);
            grid.push(panels);
        }
    }
    if grid.is_empty() {
        return None;
    }
    // Rows of different lengths would leave cells empty: then the panels flow into one grid,
    // each naming its own metric.
    if grid.iter().any(|r| r.len() != grid[0].len()) {
        let mut flat: Vec<CurvePanel> = Vec::new();
        for (row, panels) in rows.iter().filter(|r| shown.contains(&r.metric)).zip(grid) {
            for mut p in panels {
                p.y_label = row.axis_label();
                flat.push(p);
            }
        }
        grid = as_grid(flat);
    }
    let mut note = mean_note();
    if !zero.is_empty() {
        note.push_str(&format!(" · 0 throughout, not drawn: {}", zero.join("; ")));
    }
    for m in &missing {
        if let Some(measure) = m.measure() {
            note.push_str(&format!(
                "\n{}: not recorded (add `{}` to record.measure to draw it)",
                m.def().name,
                crate::plan::measure_name(measure)
            ));
        }
    }
    for row in rows.iter().filter(|r| shown.contains(&r.metric)) {
        if let Some(line) = row.explain {
            note.push_str(&format!("\n{line}"));
        }
    }
    let shown: Vec<String> = shown.iter().map(|m| m.def().name.to_string()).collect();
    let mut what = style::listing(&shown);
    if let Some(first) = what.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    let panels: Vec<CurvePanel> = grid.iter().flatten().cloned().collect();
    let min_panel_height = if grid.len() == 1 { 560 } else { 300 };
    Some(CurveFigure {
        header: header(run, &what, &note, used_legend(&colours, &panels)),
        grid,
        min_panel_height,
        x_name: None,
        phases: run.phases(),
    })
}

/// A grid panel's caption: `all` as the row says, a feedback matrix's
/// weight angle as the pair it compares, ∠(B2, W2ᵀ).
fn grid_caption(run: &RunData, row: &GridRow, p: &str) -> String {
    if p == "all" {
        return row.all.to_string();
    }
    if row.metric == Metric::WeightAngle
        && let Some(w) = run.manifest.stands_for(p)
    {
        return style::subscripts(&format!("∠({p}, {w}ᵀ)"));
    }
    projection_caption(p)
}

const NINETY: HLine = HLine {
    y: 90.0,
    dashed: true,
};

pub(crate) fn prepare_alignment(run: &RunData) -> Option<CurveFigure> {
    const HALF_TURN: &str =
        "angles on 0–180° in every run (dashed: 90°, orthogonal, no better than chance)";
    metric_grid(
        run,
        &[
            GridRow {
                metric: Metric::GradientAngle,
                y_label: None,
                y_axis: YAxis::Angle,
                hlines: vec![NINETY],
                all: "all plastic projections",
                explain: Some(HALF_TURN),
            },
            GridRow {
                metric: Metric::WeightAngle,
                y_label: Some("∠(B, Wᵀ) (°)"),
                y_axis: YAxis::Angle,
                hlines: vec![NINETY],
                all: "all feedback matrices",
                explain: None,
            },
        ],
    )
    .map(|mut fig| {
        // Said once, whichever rows are shown.
        if !fig.header.note.contains(HALF_TURN) {
            fig.header.note.push_str(&format!("\n{HALF_TURN}"));
        }
        fig
    })
}

pub(crate) fn prepare_learning_strength(run: &RunData) -> Option<CurveFigure> {
    metric_grid(
        run,
        &[
            GridRow {
                metric: Metric::LearningStrength,
                y_label: None,
                y_axis: YAxis::Auto,
                hlines: vec![HLine {
                    y: 0.0,
                    dashed: false,
                }],
                all: "all plastic projections",
                explain: None,
            },
            GridRow {
                metric: Metric::LossAngle,
                y_label: None,
                y_axis: YAxis::AngleFit,
                hlines: vec![NINETY],
                all: "all plastic projections",
                explain: Some(LOSS_ANGLE),
            },
        ],
    )
}

/// Why even sgd's loss angle leaves 0°: measured in the teacher run (sgd at 11° with the
/// held-out loss at 10, 31° at 1.0, 45° at 0.2; with τ = 1 ms instead of 5 ms, 9° at 0.8).
const LOSS_ANGLE: &str = "loss angle: the update against the loss gradient at each shown sample's \
     settled state; it also integrates the error while the output settles (≈2τ) after each new \
     sample, a share that grows as the loss falls: even sgd rises from ~10° towards 45–60°";

/// The Hebbian signature per projection: the mean over instances smoothed (a running mean
/// over about a thirtieth of the run) on top of the raw mean in a lighter shade, since the
/// window-by-window cosine is noisy enough to hide four rules drawn over each other. A
/// projection that only some rules make plastic (B2 under kp alone) says so in its caption.
pub(crate) fn prepare_hebbian(run: &RunData) -> Option<CurveFigure> {
    let colours = style::label_colours(&run.labels());
    let projections = run.projections_with(Metric::HebbianSignature);
    if projections.is_empty() {
        return None;
    }
    let mut shown_labels: Vec<String> = Vec::new();
    let mut half = 0usize;
    let panels: Vec<CurvePanel> = projections
        .iter()
        .map(|p| {
            let series = stats::metric_series(run, Metric::HebbianSignature, p, BAND, |_| true);
            let labels: Vec<String> = series.iter().map(|s| s.label.clone()).collect();
            for l in &labels {
                if !shown_labels.contains(l) {
                    shown_labels.push(l.clone());
                }
            }
            let mut curves = Vec::new();
            for s in &series {
                half = half.max((s.points.len() / 60).max(1));
                let colour = colour_of(&colours, &s.label);
                curves.push(Curve {
                    colour: light(colour),
                    points: s.points.clone(),
                    band: false,
                    width: 1,
                });
            }
            for s in &series {
                curves.push(Curve {
                    colour: colour_of(&colours, &s.label),
                    points: running_mean(&s.points, (s.points.len() / 60).max(1)),
                    band: false,
                    width: 3,
                });
            }
            (p, labels, curves)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|(p, labels, curves)| {
            let mut caption = projection_caption(p);
            if p != "all" && labels.len() < shown_labels.len() {
                caption = format!("{caption}: plastic under {} only", style::listing(&labels));
            }
            CurvePanel {
                caption,
                y_label: String::new(),
                y_axis: YAxis::Fixed(-1.05, 1.05),
                curves,
                hlines: vec![HLine {
                    y: 0.0,
                    dashed: false,
                }],
            }
        })
        .collect();
    let window = match run.metrics.windows(2).find_map(|w| {
        let d = w[1].time_s - w[0].time_s;
        (d > 0.0).then_some(d)
    }) {
        Some(dt) => format!(
            "over {}",
            crate::spec::Time::from_seconds(dt * (2 * half + 1) as f64)
        ),
        None => "over neighbouring windows".to_string(),
    };
    let note = format!(
        "cosine between each window's update ΔW and ∫ u xᵀ dt: above 0 Hebbian, below 0 \
         anti-Hebbian\nthick: mean over instances, running mean {window}; light: the raw mean"
    );
    let legend = used_legend(&colours, &panels);
    let mut grid = as_grid(panels);
    for row in &mut grid {
        if let Some(first) = row.first_mut() {
            first.y_label = "cosine".into();
        }
    }
    let min_panel_height = if grid.len() == 1 { 560 } else { 300 };
    Some(CurveFigure {
        header: header(run, "Hebbian signature", &note, legend),
        grid,
        min_panel_height,
        x_name: None,
        phases: run.phases(),
    })
}

/// A trace signal's caption with its unit: an input or target unit's value is what the task
/// presents (a linear teacher's inputs are N(0, σ²), negative half the time), not a firing rate;
/// outputs and errors are in the circuit's rate units (dimensionless); a plasticity term is
/// τ_w dW/dt of one synapse (rate units squared).
fn trace_caption(signal: &str) -> String {
    let name = trace_name(signal);
    if signal.starts_with("plasticity ") {
        format!("{name}: τ_{{w}} dW/dt (rate²)")
    } else if signal.starts_with("input ") {
        format!("{name} (input value, a.u.)")
    } else if signal.starts_with("target ") {
        format!("{name} (target value, a.u.)")
    } else {
        format!("{name} (rate, a.u.)")
    }
}

/// A trace signal's name as written on a figure: `input x[0]` → "input x₀".
fn trace_name(signal: &str) -> String {
    style::subscripts(&signal.replace('[', "_{").replace(']', "}")).replace("_{0,0}", " (0, 0)")
}

/// The colours of the overlay panel, apart from every rule colour.
const DRIVE_COLOUR: RGBColor = style::GREY;
const ERROR_COLOUR: RGBColor = RGBColor(213, 94, 0);

fn trace_points(points: Vec<(f64, f64)>) -> Vec<stats::BandPoint> {
    points
        .into_iter()
        .map(|(t, v)| stats::BandPoint {
            t,
            mean: v,
            lo: v,
            hi: v,
            n: 1,
        })
        .collect()
}

pub(crate) fn prepare_traces(run: &RunData) -> Option<CurveFigure> {
    let colours = style::label_colours(&run.labels());
    let groups = stats::trace_panels(run);
    if groups.is_empty() {
        return None;
    }
    let mut traced: Vec<String> = Vec::new();
    for line in groups.iter().flat_map(|g| &g.lines) {
        if !traced.contains(&line.instance) {
            traced.push(line.instance.clone());
        }
    }
    // Presynaptic drive and the error that meets it, on one axis, so that an
    // error delay shows as the step in e lagging the step in x. With one
    // traced instance only: several would need two colours each.
    let find = |prefix: &str| groups.iter().find(|g| g.signal.starts_with(prefix));
    let overlay = match (find("input "), find("error "), traced.len()) {
        (Some(x), Some(e), 1) => Some(CurvePanel {
            caption: format!(
                "{} (grey) and {} (orange), each over its largest |value|",
                trace_name(&x.signal),
                trace_name(&e.signal)
            ),
            y_label: String::new(),
            y_axis: YAxis::Fit,
            curves: [(x, DRIVE_COLOUR), (e, ERROR_COLOUR)]
                .into_iter()
                .flat_map(|(g, colour)| {
                    g.lines.iter().map(move |l| {
                        // On one axis the two differ in size by orders of magnitude;
                        // their timing is what the panel is for.
                        let top = l.points.iter().fold(0.0, |m: f64, p| m.max(p.1.abs()));
                        let k = if top > 0.0 { 1.0 / top } else { 1.0 };
                        Curve {
                            colour,
                            points: trace_points(
                                l.points.iter().map(|&(t, v)| (t, k * v)).collect(),
                            ),
                            band: false,
                            width: 2,
                        }
                    })
                })
                .collect(),
            hlines: Vec::new(),
        }),
        _ => None,
    };
    let mut panels: Vec<CurvePanel> = groups
        .into_iter()
        .map(|g| CurvePanel {
            caption: trace_caption(&g.signal),
            y_label: String::new(),
            y_axis: YAxis::Fit,
            curves: g
                .lines
                .into_iter()
                .map(|l| Curve {
                    colour: colour_of(&colours, &l.label),
                    points: trace_points(l.points),
                    band: false,
                    width: 2,
                })
                .collect(),
            hlines: Vec::new(),
        })
        .collect();
    let legend = used_legend(&colours, &panels);
    panels.extend(overlay);
    // Runs usually trace a single instance; then the title says which one it is, since
    // naming every rule of the run would claim traces of all of them.
    let who = |id: &str| {
        run.instances.iter().find(|i| i.instance == id).map_or_else(
            || format!("instance {id}"),
            |i| format!("{}, seed {}", i.label, i.seed),
        )
    };
    let (title, note) = match traced.as_slice() {
        [only] => (
            format!("Activity traces: {} on {}", who(only), run.manifest.circuit),
            format!("instance {only} of instances.csv"),
        ),
        _ => (
            format!(
                "Activity traces: {} on {}",
                style::listing(&traced.iter().map(|i| who(i)).collect::<Vec<_>>()),
                run.manifest.circuit
            ),
            "one line per traced instance".to_string(),
        ),
    };
    let mut head = header(run, "Activity traces", &note, legend);
    head.title = title;
    Some(CurveFigure {
        header: head,
        grid: panels.into_iter().map(|p| vec![p]).collect(),
        min_panel_height: 190,
        x_name: None,
        phases: run.phases(),
    })
}

/// The forward projection a matrix of a weight figure is compared with: a feedback matrix's
/// `stands_for`, the W of a derived `W-BT`, or itself.
fn weight_group(run: &RunData, projection: &str) -> String {
    if let Some(w) = run.manifest.stands_for(projection) {
        return w;
    }
    match projection.split_once('-') {
        Some((w, b)) if b.len() > 1 && b.ends_with('T') => w.to_string(),
        _ => projection.to_string(),
    }
}

/// The transpose of `m`.
fn transposed(m: &stats::Matrix) -> stats::Matrix {
    let mut values = Vec::with_capacity(m.values.len());
    for c in 0..m.cols {
        for r in 0..m.rows {
            values.push(m.get(r, c));
        }
    }
    stats::Matrix {
        rows: m.cols,
        cols: m.rows,
        values,
    }
}

/// One heat-map figure per instance that has weight snapshots, with the file stem it is
/// written under. Matrices that are compared share one colour scale: a forward matrix W, the
/// feedback matrices that stand for it (drawn as Bᵀ, in W's shape) and W − Bᵀ, at start and
/// at end, so that Kolen–Pollack's ‖W2 − B2ᵀ‖ falling from 4.3 to 1 shows as colour fading.
/// Each row carries one colour bar and each caption the matrix's norm; a matrix that is zero
/// at start and end (W − Bᵀ under tied feedback) is left out, and the note says so.
pub(crate) fn prepare_weights(run: &RunData) -> Vec<(String, HeatmapFigure)> {
    let sets = stats::weight_sets(run);
    let stems = weight_stems(run, &sets);
    sets.into_iter()
        .zip(stems)
        .map(|(set, stem)| {
            let zero = |p: &stats::ProjectionWeights| {
                [&p.start, &p.end]
                    .iter()
                    .all(|m| m.as_ref().is_some_and(|m| m.max_abs() == 0.0))
            };
            let omitted: Vec<String> = set
                .projections
                .iter()
                .filter(|p| zero(p))
                .map(|p| projection_caption(&p.projection))
                .collect();
            let kept: Vec<&stats::ProjectionWeights> =
                set.projections.iter().filter(|p| !zero(p)).collect();
            // Feedback matrices as Bᵀ, so that each lines up with the W it stands for.
            let shown: Vec<(String, String, Option<stats::Matrix>, Option<stats::Matrix>)> = kept
                .iter()
                .map(|p| {
                    let group = weight_group(run, &p.projection);
                    match run.manifest.stands_for(&p.projection) {
                        Some(_) => (
                            group,
                            style::subscripts(&format!("{}ᵀ", p.projection)),
                            p.start.as_ref().map(transposed),
                            p.end.as_ref().map(transposed),
                        ),
                        None => (
                            group,
                            projection_caption(&p.projection),
                            p.start.clone(),
                            p.end.clone(),
                        ),
                    }
                })
                .collect();
            let group_scale = |g: &str| {
                shown
                    .iter()
                    .filter(|s| s.0 == g)
                    .flat_map(|s| [&s.2, &s.3])
                    .flatten()
                    .fold(0.0, |m: f64, x| m.max(x.max_abs()))
            };
            let shared = shown
                .iter()
                .any(|s| shown.iter().filter(|t| t.0 == s.0).count() > 1);
            let rows: Vec<HeatRow> = shown
                .iter()
                .map(|(group, name, start, end)| {
                    let scale = group_scale(group);
                    let cell = |stage: &str, m: &Option<stats::Matrix>| {
                        let detail = m.as_ref().map_or(String::new(), |m| {
                            format!(
                                ", {}×{}, ‖·‖ = {}",
                                m.rows,
                                m.cols,
                                style::significant(m.norm(), 3)
                            )
                        });
                        HeatCell {
                            caption: format!("{name} ({stage}{detail})"),
                            scale,
                            matrix: m.clone(),
                        }
                    };
                    HeatRow {
                        cells: vec![cell("start", start), cell("end", end)],
                    }
                })
                .collect();
            // The file may be named after the label only, so the subtitle says which rule
            // and seed the matrices belong to (the instance's number in instances.csv is
            // neither, and read next to the seed it looked like one).
            let subtitle = run
                .instances
                .iter()
                .find(|i| i.instance == set.instance)
                .map_or_else(
                    || format!("instance {}", set.instance),
                    |i| style::instance_subtitle(&run.manifest, i),
                );
            let mut note = if shared {
                "blue < 0 < red · one colour scale per forward matrix W, shared by start and \
                 end, by the feedback matrices B that stand for it (drawn as Bᵀ) and by W − Bᵀ"
                    .to_string()
            } else {
                "blue < 0 < red · start and end on one colour scale per matrix".to_string()
            };
            if !omitted.is_empty() {
                note.push_str(&format!(
                    "\nzero throughout, not drawn: {}",
                    omitted.join(", ")
                ));
            }
            let fig = HeatmapFigure {
                header: Header {
                    title: style::rule_title("Weights", &set.label, &run.manifest),
                    subtitle,
                    legend: Vec::new(),
                    note,
                },
                rows,
            };
            (stem, fig)
        })
        .collect()
}
