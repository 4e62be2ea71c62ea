//! Drawing machinery shared by the figures.
//!
//! A figure is prepared as plain data (a [`CurveFigure`] or a
//! [`HeatmapFigure`]) and drawn through the [`Figure`] trait, which is
//! generic over the plotters backend. The same drawing code therefore
//! writes SVG files, PNG files and, in tests, an in-memory RGB buffer whose
//! pixels can be inspected without decoding a PNG.

use std::fs;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::stats::BandPoint;
use super::style::{self, FONT};
use super::{Formats, PlotError};

/// Why drawing failed, before the output path is known.
pub(crate) struct Fail(pub String);

type Drawn<T = ()> = Result<T, Fail>;

fn fail<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> Fail {
    Fail(e.to_string())
}

/// Something that can draw itself on any plotters backend.
pub(crate) trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn;
}

/// Writes `fig` as `out_dir/stem.svg` and/or `out_dir/stem.png`.
pub(crate) fn write(
    fig: &impl Figure,
    out_dir: &Path,
    stem: &str,
    formats: Formats,
) -> Result<Vec<PathBuf>, PlotError> {
    style::ensure_font()?;
    fs::create_dir_all(out_dir).map_err(|source| PlotError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let draw_err = |path: &Path, f: Fail| PlotError::Draw {
        path: path.to_path_buf(),
        reason: f.0,
    };
    if formats.svg {
        let path = out_dir.join(format!("{stem}.svg"));
        let root = SVGBackend::new(&path, fig.size()).into_drawing_area();
        fig.draw(&root).map_err(|f| draw_err(&path, f))?;
        // present() is where the file is written; its error is the I/O error.
        root.present().map_err(|e| draw_err(&path, fail(e)))?;
        drop(root);
        written.push(path);
    }
    if formats.png {
        let path = out_dir.join(format!("{stem}.png"));
        let root = BitMapBackend::new(&path, fig.size()).into_drawing_area();
        fig.draw(&root).map_err(|f| draw_err(&path, f))?;
        root.present().map_err(|e| draw_err(&path, fail(e)))?;
        drop(root);
        written.push(path);
    }
    Ok(written)
}

/// Draws `fig` into an RGB buffer (3 bytes per pixel, row-major), exactly
/// as the PNG would be drawn.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn render_rgb(fig: &impl Figure) -> Result<Vec<u8>, PlotError> {
    style::ensure_font()?;
    let (w, h) = fig.size();
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let to_err = |f: Fail| PlotError::Draw {
            path: PathBuf::from("<buffer>"),
            reason: f.0,
        };
        fig.draw(&root).map_err(to_err)?;
        root.present().map_err(|e| to_err(fail(e)))?;
    }
    Ok(buf)
}

/// Title block shared by all figures: title, subtitle, then a legend row of
/// coloured swatches followed by a grey note on how to read the figure.
pub(crate) struct Header {
    pub title: String,
    pub subtitle: String,
    pub legend: Vec<(String, RGBColor)>,
    pub note: String,
}

const MARGIN: i32 = 24;
const SWATCH: i32 = 40;
const LEGEND_ROW: i32 = 38;
const TITLE_Y: i32 = 12;
const SUBTITLE_Y: i32 = TITLE_Y + 54;
const LEGEND_Y: i32 = SUBTITLE_Y + 40;

impl Header {
    /// Height the header needs at `width`, the legend wrapping as needed.
    pub fn height(&self, width: u32) -> u32 {
        let rows = self.legend_layout(width).last().map_or(1, |e| e.1 + 1);
        (LEGEND_Y + rows as i32 * LEGEND_ROW + 14) as u32
    }

    /// (x offset, row) of each legend item, the note being the last item.
    /// Widths come from the embedded font's metrics, so this matches drawing.
    fn legend_layout(&self, width: u32) -> Vec<(i32, usize)> {
        let font = (FONT, style::LEGEND_PX).into_font();
        let text_w = |s: &str| font.box_size(s).map_or(12 * s.len() as i32, |b| b.0 as i32);
        let mut items: Vec<i32> = self
            .legend
            .iter()
            .map(|(l, _)| SWATCH + 10 + text_w(l) + 30)
            .collect();
        items.push(text_w(&self.note));
        let mut out = Vec::new();
        let (mut x, mut row) = (MARGIN, 0usize);
        for w in items {
            if x > MARGIN && x + w > width as i32 - MARGIN {
                x = MARGIN;
                row += 1;
            }
            out.push((x, row));
            x += w;
        }
        out
    }

    /// Draws the header and returns the area below it.
    pub fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Drawn<DrawingArea<DB, Shift>> {
        let (w, _) = root.dim_in_pixel();
        let h = self.height(w);
        let (top, body) = root.split_vertically(h);
        let centre = Pos::new(HPos::Center, VPos::Top);
        top.draw_text(
            &self.title,
            &(FONT, style::TITLE_PX)
                .into_font()
                .color(&style::BLACK)
                .pos(centre),
            (w as i32 / 2, TITLE_Y),
        )
        .map_err(fail)?;
        top.draw_text(
            &self.subtitle,
            &(FONT, style::SUBTITLE_PX)
                .into_font()
                .color(&style::GREY)
                .pos(centre),
            (w as i32 / 2, SUBTITLE_Y),
        )
        .map_err(fail)?;
        let y0 = LEGEND_Y;
        let text = (FONT, style::LEGEND_PX).into_font();
        let left_mid = Pos::new(HPos::Left, VPos::Center);
        let layout = self.legend_layout(w);
        for ((label, colour), &(x, row)) in self.legend.iter().zip(&layout) {
            let mid = y0 + row as i32 * LEGEND_ROW + LEGEND_ROW / 2;
            top.draw(&PathElement::new(
                vec![(x, mid), (x + SWATCH, mid)],
                colour.stroke_width(5),
            ))
            .map_err(fail)?;
            top.draw_text(
                label,
                &text.color(&style::BLACK).pos(left_mid),
                (x + SWATCH + 10, mid),
            )
            .map_err(fail)?;
        }
        if let Some(&(x, row)) = layout.last() {
            let mid = y0 + row as i32 * LEGEND_ROW + LEGEND_ROW / 2;
            top.draw_text(
                &self.note,
                &text.color(&style::GREY).pos(left_mid),
                (x, mid),
            )
            .map_err(fail)?;
        }
        Ok(body)
    }
}

/// How a panel's y axis is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum YAxis {
    /// Exactly this range.
    Fixed(f64, f64),
    /// Angles in degrees: 0–100 when every value is below 90, else 0–180.
    Angle,
    /// Fractions (0–1) or percentages (0–100), whichever the data is in.
    Unit,
    /// Logarithmic, fitted to the positive data.
    Log,
    /// Linear, fitted to the data (with 0 included, since strengths and
    /// ratios are read against zero).
    Auto,
    /// Linear, fitted tightly to the data (activity traces).
    Fit,
}

/// The angle range for data whose largest value is `max`.
fn angle_range(max: Option<f64>) -> (f64, f64) {
    // A small margin keeps a curve lying exactly on 0° (backprop against
    // itself) visible above the axis line instead of merged with it.
    match max {
        Some(hi) if hi >= 90.0 => (-4.0, 184.0),
        _ => (-2.0, 102.0),
    }
}

/// Gives every [`YAxis::Angle`] panel in `panels` the same range, chosen
/// from all of them, so panels side by side can be compared by eye.
pub(crate) fn share_angle_range(panels: &mut [CurvePanel]) {
    let max = super::stats::extent(
        panels
            .iter()
            .filter(|p| p.y_axis == YAxis::Angle)
            .flat_map(|p| p.curves.iter().flat_map(|c| c.points.iter().map(|q| q.hi))),
    )
    .map(|e| e.1);
    let (lo, hi) = angle_range(max);
    for p in panels.iter_mut().filter(|p| p.y_axis == YAxis::Angle) {
        p.y_axis = YAxis::Fixed(lo, hi);
    }
}

/// A horizontal reference line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HLine {
    pub y: f64,
    pub dashed: bool,
}

/// One curve of a panel: a line through the means, with an optional band.
#[derive(Debug, Clone)]
pub(crate) struct Curve {
    pub colour: RGBColor,
    pub points: Vec<BandPoint>,
    pub band: bool,
    pub width: u32,
}

/// One panel of a [`CurveFigure`].
#[derive(Debug, Clone)]
pub(crate) struct CurvePanel {
    pub caption: String,
    pub y_label: String,
    pub y_axis: YAxis,
    pub curves: Vec<Curve>,
    pub hlines: Vec<HLine>,
    /// Tint the positive half warm and the negative half cool.
    pub diverging: bool,
    /// Draw the time tick labels and "time (s)" (bottom panels only when
    /// the time axis is shared).
    pub x_axis: bool,
}

/// A grid of time-series panels sharing one time range.
pub(crate) struct CurveFigure {
    pub header: Header,
    pub rows: usize,
    pub cols: usize,
    /// Smallest height of one row of panels; rows share whatever the
    /// standard figure height leaves beyond that.
    pub min_panel_height: u32,
    pub panels: Vec<CurvePanel>,
}

impl CurveFigure {
    /// The time range shared by every panel.
    fn time_range(&self) -> (f64, f64) {
        let ts = self
            .panels
            .iter()
            .flat_map(|p| p.curves.iter().flat_map(|c| c.points.iter().map(|q| q.t)));
        let (lo, hi) = super::stats::extent(ts).unwrap_or((0.0, 1.0));
        widen(lo, hi)
    }
}

/// Gives a degenerate range some width so plotters can place ticks.
fn widen(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (-0.5, 0.5)
    } else {
        let d = lo.abs() * 0.1;
        (lo - d, hi + d)
    }
}

impl Figure for CurveFigure {
    fn size(&self) -> (u32, u32) {
        let width = (self.cols as u32 * 400).max(style::WIDTH);
        let height = self.header.height(width) + self.rows as u32 * self.min_panel_height;
        (width, height.max(style::HEIGHT))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        root.fill(&WHITE).map_err(fail)?;
        let body = self.header.draw(root)?;
        let body = body.margin(0, 10, 10, 24);
        let x = self.time_range();
        // Rows that carry the time axis get its height on top of an equal
        // share, so every plotting area ends up the same height.
        let has_axis: Vec<bool> = (0..self.rows)
            .map(|r| {
                self.panels
                    .iter()
                    .skip(r * self.cols)
                    .take(self.cols)
                    .any(|p| p.x_axis)
            })
            .collect();
        let (_, h) = body.dim_in_pixel();
        let extra = (AXIS_PX - NO_AXIS_PX) as u32;
        let with_axis = has_axis.iter().filter(|a| **a).count() as u32;
        let share = h.saturating_sub(extra * with_axis) / self.rows.max(1) as u32;
        let mut rest = body;
        let mut cells = Vec::new();
        for (r, axis) in has_axis.iter().enumerate() {
            let row_h = share + if *axis { extra } else { 0 };
            let row = if r + 1 == self.rows {
                rest.clone()
            } else {
                let (row, below) = rest.split_vertically(row_h);
                rest = below;
                row
            };
            cells.extend(row.split_evenly((1, self.cols)));
        }
        for (panel, area) in self.panels.iter().zip(cells.iter()) {
            draw_curve_panel(area, panel, x)?;
        }
        Ok(())
    }
}

/// Resolves a panel's y axis into a concrete range (log: positive bounds).
fn y_range(panel: &CurvePanel) -> (f64, f64) {
    let values = panel
        .curves
        .iter()
        .flat_map(|c| c.points.iter().flat_map(|p| [p.mean, p.lo, p.hi]));
    let data = super::stats::extent(values);
    match panel.y_axis {
        YAxis::Fixed(lo, hi) => (lo, hi),
        YAxis::Angle => angle_range(data.map(|d| d.1)),
        YAxis::Unit => match data {
            Some((_, hi)) if hi > 1.5 => (-2.0, 102.0),
            _ => (-0.02, 1.02),
        },
        YAxis::Log => {
            let pos = panel
                .curves
                .iter()
                .flat_map(|c| c.points.iter().flat_map(|p| [p.mean, p.lo, p.hi]))
                .filter(|v| *v > 0.0);
            let (lo, hi) = match super::stats::extent(pos) {
                Some((lo, hi)) if hi > lo => (lo / 1.6, hi * 1.6),
                Some((v, _)) => (v / 10.0, v * 10.0),
                None => (0.1, 1.0),
            };
            // plotters labels a log axis only at powers of ten; with fewer
            // than two inside, widen to whole decades so the axis is read.
            let (a, b) = (lo.log10().ceil(), hi.log10().floor());
            if b - a < 1.0 {
                // The 0.1 % slack keeps the end decades themselves inside the
                // range despite rounding in plotters' tick arithmetic.
                (
                    10f64.powf(lo.log10().floor()) * 0.999,
                    10f64.powf(hi.log10().ceil()) * 1.001,
                )
            } else {
                (lo, hi)
            }
        }
        YAxis::Auto => {
            let (lo, hi) = data.unwrap_or((0.0, 1.0));
            let (lo, hi) = (lo.min(0.0), hi.max(0.0));
            let (lo, hi) = widen(lo, hi);
            let pad = (hi - lo) * 0.05;
            (if lo < 0.0 { lo - pad } else { lo }, hi + pad)
        }
        YAxis::Fit => {
            let (lo, hi) = data.unwrap_or((0.0, 1.0));
            let (lo, hi) = widen(lo, hi);
            let pad = (hi - lo) * 0.08;
            (lo - pad, hi + pad)
        }
    }
}

/// Height of the area under a panel with and without time tick labels.
const AXIS_PX: i32 = 74;
const NO_AXIS_PX: i32 = 12;

fn draw_curve_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &CurvePanel,
    (x0, x1): (f64, f64),
) -> Drawn {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&panel.caption, (FONT, style::CAPTION_PX))
        .margin(8)
        .margin_right(22)
        .x_label_area_size(if panel.x_axis { AXIS_PX } else { NO_AXIS_PX })
        .y_label_area_size(122);
    let (y0, y1) = y_range(panel);
    if panel.y_axis == YAxis::Log {
        let chart = builder
            .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
            .map_err(fail)?;
        // Asking for many labels lets plotters add 0.2, 0.3, … when the axis
        // spans a single decade; over several decades it keeps to powers of 10.
        finish_panel(chart, panel, (x0, x1), (y0, y1), 12, &|v: &f64| {
            style::log_tick(*v)
        })
    } else {
        let chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(fail)?;
        let span = y1 - y0;
        finish_panel(chart, panel, (x0, x1), (y0, y1), 6, &|v: &f64| {
            style::tick(*v, span)
        })
    }
}

/// Everything after the coordinate system is known; generic over the y
/// coordinate so linear and log panels share one code path.
fn finish_panel<DB: DrawingBackend, Y>(
    mut chart: ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    panel: &CurvePanel,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    y_ticks: usize,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Drawn
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    if panel.diverging {
        let (lo, hi) = (y0.min(0.0), y1.max(0.0));
        chart
            .draw_series([
                Rectangle::new([(x0, 0.0), (x1, hi)], style::WARM_TINT.filled()),
                Rectangle::new([(x0, lo), (x1, 0.0)], style::COOL_TINT.filled()),
            ])
            .map_err(fail)?;
    }
    let x_span = x1 - x0;
    let x_fmt = |v: &f64| style::tick(*v, x_span);
    let mut mesh = chart.configure_mesh();
    mesh.label_style((FONT, style::TICK_PX))
        .axis_desc_style((FONT, style::LABEL_PX))
        .bold_line_style(style::LIGHT_GREY.mix(0.6))
        .light_line_style(TRANSPARENT)
        .x_labels(6)
        .y_labels(y_ticks)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(y_fmt)
        .y_desc(panel.y_label.as_str());
    if panel.x_axis {
        mesh.x_desc("time (s)");
    } else {
        mesh.x_label_formatter(&|_| String::new());
    }
    mesh.draw().map_err(fail)?;

    if panel.diverging {
        let note = (FONT, style::TICK_PX).into_font();
        let left = x0 + 0.02 * (x1 - x0);
        let pos_anchor = Pos::new(HPos::Left, VPos::Top);
        let neg_anchor = Pos::new(HPos::Left, VPos::Bottom);
        chart
            .draw_series([
                Text::new(
                    "Hebbian",
                    (left, y1 - 0.04 * (y1 - y0)),
                    note.clone().color(&style::WARM_TEXT).pos(pos_anchor),
                ),
                Text::new(
                    "anti-Hebbian",
                    (left, y0 + 0.04 * (y1 - y0)),
                    note.color(&style::COOL_TEXT).pos(neg_anchor),
                ),
            ])
            .map_err(fail)?;
    }
    // An empty panel keeps its axes but not its reference lines, which
    // would only run through the "not measured" note.
    let hlines = if panel.curves.is_empty() {
        &[][..]
    } else {
        &panel.hlines[..]
    };
    for line in hlines {
        let pts = vec![(x0, line.y), (x1, line.y)];
        if line.dashed {
            chart
                .draw_series(std::iter::once(DashedPathElement::new(
                    pts,
                    12,
                    8,
                    style::GREY.stroke_width(2),
                )))
                .map_err(fail)?;
        } else {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    pts,
                    style::GREY.stroke_width(2),
                )))
                .map_err(fail)?;
        }
    }
    if panel.curves.is_empty() {
        let centre = ((x0 + x1) / 2.0, mid_y(&chart, y0, y1));
        chart
            .draw_series(std::iter::once(Text::new(
                "not measured",
                centre,
                (FONT, style::LABEL_PX)
                    .into_font()
                    .color(&style::GREY)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            )))
            .map_err(fail)?;
    }
    // Bands first so that no band hides another label's mean line.
    for c in panel.curves.iter().filter(|c| c.band) {
        let mut outline: Vec<(f64, f64)> = c.points.iter().map(|p| (p.t, p.lo)).collect();
        outline.extend(c.points.iter().rev().map(|p| (p.t, p.hi)));
        chart
            .draw_series(std::iter::once(Polygon::new(
                outline,
                c.colour.mix(0.18).filled(),
            )))
            .map_err(fail)?;
    }
    for c in &panel.curves {
        let pts: Vec<(f64, f64)> = c.points.iter().map(|p| (p.t, p.mean)).collect();
        if pts.len() == 1 {
            chart
                .draw_series(std::iter::once(Circle::new(pts[0], 5, c.colour.filled())))
                .map_err(fail)?;
        }
        chart
            .draw_series(LineSeries::new(pts, c.colour.stroke_width(c.width)))
            .map_err(fail)?;
    }
    Ok(())
}

/// The value halfway up a panel, in data units (geometric on a log axis).
fn mid_y<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    y0: f64,
    y1: f64,
) -> f64 {
    let (_, top) = chart.backend_coord(&(0.0, y1));
    let (_, bottom) = chart.backend_coord(&(0.0, y0));
    let target = (top + bottom) / 2;
    // Bisection on the mapping works for linear and log axes alike.
    let (mut lo, mut hi) = (y0, y1);
    for _ in 0..40 {
        let mid = (lo + hi) / 2.0;
        if chart.backend_coord(&(0.0, mid)).1 > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// One matrix heat map (or a note that the snapshot is missing).
pub(crate) struct HeatCell {
    pub caption: String,
    pub matrix: Option<super::stats::Matrix>,
}

/// One row of a heat-map figure: start, end and a colour bar on ±`scale`.
pub(crate) struct HeatRow {
    pub cells: Vec<HeatCell>,
    pub scale: f64,
}

/// Heat maps of matrices, one row per projection, colour bar on the right.
pub(crate) struct HeatmapFigure {
    pub header: Header,
    pub rows: Vec<HeatRow>,
}

const HEAT_ROW_PX: u32 = 300;
const COLOUR_BAR_PX: u32 = 170;

impl Figure for HeatmapFigure {
    fn size(&self) -> (u32, u32) {
        let width = style::WIDTH;
        let height = self.header.height(width) + self.rows.len() as u32 * HEAT_ROW_PX;
        (width, height.max(style::HEIGHT))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        root.fill(&WHITE).map_err(fail)?;
        let body = self.header.draw(root)?.margin(0, 10, 10, 10);
        for (row, area) in self
            .rows
            .iter()
            .zip(body.split_evenly((self.rows.len(), 1)))
        {
            let (w, _) = area.dim_in_pixel();
            let (maps, bar) = area.split_horizontally(w.saturating_sub(COLOUR_BAR_PX));
            let n = row.cells.len().max(1);
            for (cell, a) in row.cells.iter().zip(maps.split_evenly((1, n))) {
                draw_heat_cell(&a, cell, row.scale)?;
            }
            draw_colour_bar(&bar, row.scale)?;
        }
        Ok(())
    }
}

fn draw_heat_cell<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    cell: &HeatCell,
    scale: f64,
) -> Drawn {
    let Some(m) = &cell.matrix else {
        area.titled(&cell.caption, (FONT, style::CAPTION_PX))
            .map_err(fail)?
            .draw_text(
                "not recorded",
                &(FONT, style::LABEL_PX).into_font().color(&style::GREY),
                (40, 60),
            )
            .map_err(fail)?;
        return Ok(());
    };
    let (rows, cols) = (m.rows as f64, m.cols as f64);
    // Cell (r, c) is centred on (c, rows-1-r) so integer ticks sit on cell
    // centres and row 0 is drawn at the top, as a matrix is written.
    let mut chart = ChartBuilder::on(area)
        .caption(&cell.caption, (FONT, style::CAPTION_PX))
        .margin(8)
        .x_label_area_size(70)
        .y_label_area_size(90)
        .build_cartesian_2d(-0.5..cols - 0.5, -0.5..rows - 0.5)
        .map_err(fail)?;
    let int_only = |v: f64| {
        if (v - v.round()).abs() < 1e-9 {
            format!("{}", v.round() as i64)
        } else {
            String::new()
        }
    };
    let x_fmt = |v: &f64| int_only(*v);
    let y_fmt = |v: &f64| int_only(rows - 1.0 - *v);
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style((FONT, style::TICK_PX))
        .axis_desc_style((FONT, style::LABEL_PX))
        .x_labels(m.cols.min(6))
        .y_labels(m.rows.min(6))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc("column")
        .y_desc("row")
        .draw()
        .map_err(fail)?;
    let scale = if scale > 0.0 { scale } else { 1.0 };
    chart
        .draw_series((0..m.rows).flat_map(|r| {
            (0..m.cols).map(move |c| {
                let (x, y) = (c as f64, rows - 1.0 - r as f64);
                Rectangle::new(
                    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                    style::diverging(m.get(r, c) / scale).filled(),
                )
            })
        }))
        .map_err(fail)?;
    Ok(())
}

fn draw_colour_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, scale: f64) -> Drawn {
    let s = if scale > 0.0 { scale } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption("value", (FONT, style::TICK_PX))
        .margin(8)
        .margin_left(16)
        .x_label_area_size(70)
        .right_y_label_area_size(110)
        .build_cartesian_2d(0.0..1.0, -s..s)
        .map_err(fail)?;
    let fmt = |v: &f64| style::tick(*v, 2.0 * s);
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .label_style((FONT, style::TICK_PX))
        .y_labels(5)
        .y_label_formatter(&fmt)
        .draw()
        .map_err(fail)?;
    const STEPS: usize = 64;
    chart
        .draw_series((0..STEPS).map(|i| {
            let a = -s + 2.0 * s * i as f64 / STEPS as f64;
            let b = a + 2.0 * s / STEPS as f64;
            Rectangle::new(
                [(0.0, a), (1.0, b)],
                style::diverging((a + b) / 2.0 / s).filled(),
            )
        }))
        .map_err(fail)?;
    Ok(())
}
