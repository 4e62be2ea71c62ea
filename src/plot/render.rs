//! Drawing machinery shared by the figures.
//!
//! A figure is prepared as plain data (a [`CurveFigure`] or a
//! [`HeatmapFigure`]) and drawn through the [`Figure`] trait, which is
//! generic over the plotters backend. The same drawing code therefore
//! writes SVG files, PNG files and, in tests, an in-memory RGB buffer whose
//! pixels can be inspected without decoding a PNG. Drawing returns each
//! panel's data rectangle, so tests can check that panels are the same
//! size and that no series paints outside its own.

use std::fs;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::clip::{self, PixelRect, Shape};
use super::stats::BandPoint;
use super::style::{self, FONT};
use super::{Formats, PlotError};

/// Why drawing failed, before the output path is known.
pub(crate) struct Fail(pub String);

pub(crate) type Drawn<T = ()> = Result<T, Fail>;

pub(crate) fn fail<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> Fail {
    Fail(e.to_string())
}

/// Size of a subscript relative to its text, and how far it sits below the text's centre.
const SUB_SCALE: f64 = 0.72;
const SUB_DROP: f64 = 0.28;

fn segment_px(px: u32, sub: bool) -> u32 {
    if sub {
        (px as f64 * SUB_SCALE).round() as u32
    } else {
        px
    }
}

/// Width in pixels of `text` (with `_{…}` subscript markup) at `px`, from the embedded font's
/// metrics.
pub(crate) fn rich_width(text: &str, px: u32) -> i32 {
    style::rich_segments(text)
        .iter()
        .map(|(t, sub)| {
            let font = (FONT, segment_px(px, *sub)).into_font();
            font.box_size(t)
                .map_or(12 * t.chars().count() as i32, |b| b.0 as i32)
        })
        .sum()
}

/// The largest size up to `px` (and down to `min_px`) at which `text` fits in `width` pixels.
pub(crate) fn fitting_px(text: &str, px: u32, min_px: u32, width: i32) -> u32 {
    let mut size = px;
    while size > min_px && rich_width(text, size) > width {
        size -= 1;
    }
    size
}

/// Draws `text`, its subscripts (`_{…}` markup, see [`style::subscripts`]) smaller and lowered,
/// with `(x, y)` the point of its anchor `h` on its vertical centre line.
pub(crate) fn draw_rich<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    px: u32,
    colour: &RGBColor,
    h: HPos,
    (x, y): (i32, i32),
) -> Drawn {
    let width = rich_width(text, px);
    let mut at = match h {
        HPos::Left => x,
        HPos::Center => x - width / 2,
        HPos::Right => x - width,
    };
    for (t, sub) in style::rich_segments(text) {
        let size = segment_px(px, sub);
        let font = (FONT, size).into_font();
        let drop = if sub {
            (px as f64 * SUB_DROP).round() as i32
        } else {
            0
        };
        // A leading space becomes an offset: SVG viewers drop it from a text element.
        let shown = t.trim_start();
        let width = |s: &str| font.box_size(s).map_or(0, |b| b.0 as i32);
        at += width(&t) - width(shown);
        area.draw_text(
            shown,
            &font.color(colour).pos(Pos::new(HPos::Left, VPos::Center)),
            (at, y + drop),
        )
        .map_err(fail)?;
        at += width(shown);
    }
    Ok(())
}

/// Draws `text` (with subscript markup) reading from bottom to top, centred on `(x, y)`: a
/// y-axis name that may carry a subscript the font has no character for (τ_w).
pub(crate) fn draw_rich_up<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    px: u32,
    colour: &RGBColor,
    (x, y): (i32, i32),
) -> Drawn {
    use plotters::style::FontTransform;
    let mut at = y + rich_width(text, px) / 2;
    for (t, sub) in style::rich_segments(text) {
        let size = segment_px(px, sub);
        let font = (FONT, size).into_font();
        let drop = if sub {
            (px as f64 * SUB_DROP).round() as i32
        } else {
            0
        };
        let shown = t.trim_start();
        let width = |s: &str| font.box_size(s).map_or(0, |b| b.0 as i32);
        at -= width(&t) - width(shown);
        area.draw_text(
            shown,
            &font
                .transform(FontTransform::Rotate270)
                .color(colour)
                .pos(Pos::new(HPos::Left, VPos::Center)),
            (x + drop, at),
        )
        .map_err(fail)?;
        at -= width(shown);
    }
    Ok(())
}

/// The plotters backends a figure is drawn on, with the one fact about
/// them that the drawing code needs: whether it paints pixels. Wide lines
/// are stroked differently on a bitmap (see [`clip::draw_clipped`]).
pub(crate) trait Canvas: DrawingBackend {
    const RASTER: bool;
}

impl Canvas for SVGBackend<'_> {
    const RASTER: bool = false;
}

impl Canvas for BitMapBackend<'_> {
    const RASTER: bool = true;
}

/// Something that can draw itself on a [`Canvas`].
pub(crate) trait Figure {
    fn size(&self) -> (u32, u32);
    /// Draws the figure and returns the data rectangle of each panel (in
    /// reading order), which is where its series may paint and nowhere else.
    fn draw<DB: Canvas>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<Vec<PixelRect>>;
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
/// as the PNG would be drawn, with the data rectangles of its panels.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn render_rgb(fig: &impl Figure) -> Result<(Vec<u8>, Vec<PixelRect>), PlotError> {
    style::ensure_font()?;
    let (w, h) = fig.size();
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let rects;
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let to_err = |f: Fail| PlotError::Draw {
            path: PathBuf::from("<buffer>"),
            reason: f.0,
        };
        rects = fig.draw(&root).map_err(to_err)?;
        root.present().map_err(|e| to_err(fail(e)))?;
    }
    Ok((buf, rects))
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

    /// The note's lines: split at `\n`, and each wrapped at spaces to the figure's width.
    fn note_lines(&self, width: u32) -> Vec<String> {
        let room = width as i32 - 2 * MARGIN;
        let mut out = Vec::new();
        for line in self.note.split('\n') {
            let mut current = String::new();
            for word in line.split(' ') {
                let candidate = if current.is_empty() {
                    word.to_string()
                } else {
                    format!("{current} {word}")
                };
                if !current.is_empty() && rich_width(&candidate, style::LEGEND_PX) > room {
                    out.push(std::mem::take(&mut current));
                    current = word.to_string();
                } else {
                    current = candidate;
                }
            }
            out.push(current);
        }
        out
    }

    /// (x offset, row) of each legend item, then of each line of the note (lines after the
    /// first, split at `\n`, start rows of their own). Widths come from the embedded font's
    /// metrics, so this matches drawing.
    fn legend_layout(&self, width: u32) -> Vec<(i32, usize)> {
        let text_w = |s: &str| rich_width(s, style::LEGEND_PX);
        let mut items: Vec<(i32, bool)> = self
            .legend
            .iter()
            .map(|(l, _)| (SWATCH + 10 + text_w(l) + 30, false))
            .collect();
        for (k, line) in self.note_lines(width).iter().enumerate() {
            items.push((text_w(line), k > 0));
        }
        let mut out = Vec::new();
        let (mut x, mut row) = (MARGIN, 0usize);
        for (w, new_row) in items {
            if x > MARGIN && (new_row || x + w > width as i32 - MARGIN) {
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
        // A long title is set smaller rather than cut off at both edges.
        let room = w as i32 - 2 * MARGIN;
        let title_px = fitting_px(&self.title, style::TITLE_PX, 22, room);
        draw_rich(
            &top,
            &self.title,
            title_px,
            &style::BLACK,
            HPos::Center,
            (w as i32 / 2, TITLE_Y + style::TITLE_PX as i32 / 2),
        )?;
        let subtitle_px = fitting_px(&self.subtitle, style::SUBTITLE_PX, 18, room);
        draw_rich(
            &top,
            &self.subtitle,
            subtitle_px,
            &style::GREY,
            HPos::Center,
            (w as i32 / 2, SUBTITLE_Y + style::SUBTITLE_PX as i32 / 2),
        )?;
        let y0 = LEGEND_Y;
        let layout = self.legend_layout(w);
        for ((label, colour), &(x, row)) in self.legend.iter().zip(&layout) {
            let mid = y0 + row as i32 * LEGEND_ROW + LEGEND_ROW / 2;
            top.draw(&PathElement::new(
                vec![(x, mid), (x + SWATCH, mid)],
                colour.stroke_width(5),
            ))
            .map_err(fail)?;
            draw_rich(
                &top,
                label,
                style::LEGEND_PX,
                &style::BLACK,
                HPos::Left,
                (x + SWATCH + 10, mid),
            )?;
        }
        for (line, &(x, row)) in self
            .note_lines(w)
            .iter()
            .zip(layout.iter().skip(self.legend.len()))
        {
            let mid = y0 + row as i32 * LEGEND_ROW + LEGEND_ROW / 2;
            let note_px = fitting_px(line, style::LEGEND_PX, 18, w as i32 - MARGIN - x);
            draw_rich(&top, line, note_px, &style::GREY, HPos::Left, (x, mid))?;
        }
        Ok(body)
    }
}

/// How a panel's y axis is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum YAxis {
    /// Exactly this range.
    Fixed(f64, f64),
    /// Angles in degrees over the whole half-turn, 0–180°, in every figure and every run, so
    /// that 90° (orthogonal: no better than chance) sits in the middle and panels from two
    /// runs can be laid side by side.
    Angle,
    /// Angles in degrees from 0° to a round value above the largest (see
    /// [`share_angle_range`]), for an angle whose size rather than its side of 90° is read.
    AngleFit,
    /// Angles in degrees over exactly this range (see [`share_angle_range`]).
    AngleIn(f64, f64),
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

/// The fixed range of [`YAxis::Angle`]; a small margin keeps a curve lying exactly on 0°
/// (backprop against itself) or 180° visible beside the axis line instead of merged with it.
const HALF_TURN: (f64, f64) = (-6.0, 186.0);

/// The range of a [`YAxis::AngleFit`] axis whose largest value is `max`: 0° up to the next
/// multiple of 15° (at least 30°, at most 180°).
fn fitted_angle_range(max: Option<f64>) -> (f64, f64) {
    let top = max.map_or(90.0, |m| ((m / 15.0).ceil() * 15.0).clamp(30.0, 180.0));
    (-0.04 * top, top * 1.04)
}

/// Gives every [`YAxis::AngleFit`] panel in `panels` the same range, chosen from all of them,
/// so panels side by side can be compared by eye.
pub(crate) fn share_angle_range(panels: &mut [CurvePanel]) {
    let max = super::stats::extent(
        panels
            .iter()
            .filter(|p| p.y_axis == YAxis::AngleFit)
            .flat_map(|p| p.curves.iter().flat_map(|c| c.points.iter().map(|q| q.hi))),
    )
    .map(|e| e.1);
    let (lo, hi) = fitted_angle_range(max);
    for p in panels.iter_mut().filter(|p| p.y_axis == YAxis::AngleFit) {
        p.y_axis = YAxis::AngleIn(lo, hi);
    }
}

/// A linear axis whose tick values are chosen here rather than by plotters
/// (which picks them without regard to a panel's height or to angles).
/// plotters' own `with_key_points` loses the custom label formatter.
pub(crate) struct Ticked {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    pub(crate) fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked {
            linear: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Only the labelled ticks: the light grid lines are hidden anyway.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.linear.range()
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
}

/// A grid of time-series panels sharing one time range.
///
/// Panels are given row by row; a row shorter than the longest leaves its
/// right end blank. A panel labels the time axis when no panel sits below
/// it, and every panel's data rectangle has the same size, so curves in
/// different panels can be compared by eye.
pub(crate) struct CurveFigure {
    pub header: Header,
    pub grid: Vec<Vec<CurvePanel>>,
    /// Smallest height of one row of panels; rows share whatever the
    /// standard figure height leaves beyond that.
    pub min_panel_height: u32,
    /// The horizontal axis' name when it is not time (e.g. `generation`):
    /// plain ticks, no unit scaling.
    pub x_name: Option<String>,
    /// A protocol's phases as (start time, name): a thin vertical line at every boundary and
    /// each phase's name at the top of its stretch (empty: no marks).
    pub phases: Vec<(f64, String)>,
}

impl CurveFigure {
    /// The panels in reading order.
    pub fn panels(&self) -> impl Iterator<Item = &CurvePanel> {
        self.grid.iter().flatten()
    }

    pub fn cols(&self) -> usize {
        self.grid.iter().map(Vec::len).max().unwrap_or(0).max(1)
    }

    /// The time range shared by every panel.
    fn time_range(&self) -> (f64, f64) {
        let ts = self
            .panels()
            .flat_map(|p| p.curves.iter().flat_map(|c| c.points.iter().map(|q| q.t)));
        let (lo, hi) = super::stats::extent(ts).unwrap_or((0.0, 1.0));
        widen(lo, hi)
    }

    /// Whether the panel at (`row`, `col`) carries the time tick labels.
    fn labels_time(&self, row: usize, col: usize) -> bool {
        self.grid
            .get(row + 1)
            .is_none_or(|below| below.len() <= col)
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

/// Fixed parts of a panel, in pixels. The caption gets a fixed height
/// (plotters sizes a caption by its glyphs, so "W1" and "all plastic
/// projections" would give plots of different heights).
const CAPTION_H: u32 = 40;
const PANEL_MARGIN: u32 = 8;
const PANEL_MARGIN_RIGHT: u32 = 22;
const Y_LABEL_PX: u32 = 122;
/// Height of the area under a panel with and without time tick labels.
const AXIS_PX: u32 = 74;
const NO_AXIS_PX: u32 = 12;

impl Figure for CurveFigure {
    fn size(&self) -> (u32, u32) {
        let width = (self.cols() as u32 * 400).max(style::WIDTH);
        let height = self.header.height(width) + self.grid.len() as u32 * self.min_panel_height;
        (width, height.max(style::HEIGHT))
    }

    fn draw<DB: Canvas>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<Vec<PixelRect>> {
        root.fill(&WHITE).map_err(fail)?;
        let body = self.header.draw(root)?;
        let body = body.margin(0, 10, 10, 24);
        let x = self.time_range();
        let rows = self.grid.len().max(1);
        let cols = self.cols();
        // A row whose panels label the time axis reserves the room for all
        // of its panels, and gets that room on top of an equal share, so
        // that every data rectangle comes out the same size. Cells are
        // whole pixels wide and tall for the same reason; the remainder is
        // left blank at the right and bottom.
        let axis_row: Vec<bool> = (0..self.grid.len())
            .map(|r| (0..self.grid[r].len()).any(|c| self.labels_time(r, c)))
            .collect();
        let (w, h) = body.dim_in_pixel();
        let extra = AXIS_PX - NO_AXIS_PX;
        let with_axis = axis_row.iter().filter(|a| **a).count() as u32;
        let share = h.saturating_sub(extra * with_axis) / rows as u32;
        let cell_w = w / cols as u32;
        let mut rects = Vec::new();
        let mut top = 0;
        for (r, row) in self.grid.iter().enumerate() {
            let label_h = if axis_row[r] { AXIS_PX } else { NO_AXIS_PX };
            let row_h = share + label_h - NO_AXIS_PX;
            for (c, panel) in row.iter().enumerate() {
                let cell = body
                    .clone()
                    .shrink(((c as u32 * cell_w) as i32, top as i32), (cell_w, row_h));
                let layout = PanelLayout {
                    x,
                    label_h,
                    labels_time: self.labels_time(r, c),
                    x_name: self.x_name.clone(),
                    phases: &self.phases,
                };
                rects.push(draw_curve_panel(&cell, panel, &layout)?);
            }
            top += row_h;
        }
        Ok(rects)
    }
}

/// Resolves a panel's y axis into a concrete range (log: positive bounds).
pub(crate) fn y_range(panel: &CurvePanel) -> (f64, f64) {
    let values = panel
        .curves
        .iter()
        .flat_map(|c| c.points.iter().flat_map(|p| [p.mean, p.lo, p.hi]));
    let data = super::stats::extent(values);
    match panel.y_axis {
        YAxis::Fixed(lo, hi) | YAxis::AngleIn(lo, hi) => (lo, hi),
        YAxis::Angle => HALF_TURN,
        YAxis::AngleFit => fitted_angle_range(data.map(|d| d.1)),
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

/// What a panel needs to know about its place in the grid.
struct PanelLayout<'a> {
    /// See [`CurveFigure::phases`].
    phases: &'a [(f64, String)],
    /// The shared time range, in seconds.
    x: (f64, f64),
    /// Height reserved under the data rectangle.
    label_h: u32,
    /// Whether this panel writes the time tick labels and axis name.
    labels_time: bool,
    /// See [`CurveFigure::x_name`].
    x_name: Option<String>,
}

/// Draws one panel and returns its data rectangle in backend pixels.
fn draw_curve_panel<DB: Canvas>(
    area: &DrawingArea<DB, Shift>,
    panel: &CurvePanel,
    layout: &PanelLayout<'_>,
) -> Drawn<PixelRect> {
    let (w, h) = area.dim_in_pixel();
    let (head, chart_area) = area.split_vertically(CAPTION_H);
    let (y0, y1) = y_range(panel);
    let data_w = w.saturating_sub(Y_LABEL_PX + PANEL_MARGIN + PANEL_MARGIN_RIGHT);
    let data_h = h.saturating_sub(CAPTION_H + 2 * PANEL_MARGIN + layout.label_h);
    // About one tick label per 35 px of height: three on the short panels
    // of a trace figure, up to six on a tall one.
    let y_ticks = (data_h as usize / 35).clamp(3, 6);
    let (x0, x1) = layout.x;
    // Time ticks are chosen in the unit they are written in (50 ms, not
    // 0.05 s) and handed to plotters in seconds.
    let factor = x_scale(layout.x_name.as_deref(), x1 - x0).0;
    let x_ticks: Vec<f64> = time_ticks(x0 * factor, x1 * factor, data_w)
        .into_iter()
        .map(|t| t / factor)
        .collect();
    let ticks = match panel.y_axis {
        YAxis::Log => Vec::new(),
        YAxis::Angle | YAxis::AngleFit | YAxis::AngleIn(..) => style::angle_ticks(y0, y1),
        _ => style::nice_ticks(y0, y1, y_ticks),
    };
    let exponent = match (panel.y_axis, ticks.as_slice()) {
        (YAxis::Log | YAxis::Angle | YAxis::AngleFit | YAxis::AngleIn(..), _) => 0,
        (_, [a, b, ..]) => style::axis_exponent(y0, y1, b - a),
        _ => style::axis_exponent(y0, y1, y1 - y0),
    };
    // The power of ten an axis is written in goes with its name, or with
    // the caption on panels whose axis has no name (activity traces).
    let (mut caption, mut y_label) = (panel.caption.clone(), panel.y_label.clone());
    if exponent != 0 {
        let factor = style::times_ten(exponent);
        if y_label.is_empty() {
            caption = format!("{caption} ({factor})");
        } else {
            y_label = format!("{y_label} ({factor})");
        }
    }
    draw_caption(
        &head,
        &caption,
        w,
        Y_LABEL_PX + PANEL_MARGIN,
        PANEL_MARGIN_RIGHT,
    )?;

    let mut builder = ChartBuilder::on(&chart_area);
    builder
        .margin(PANEL_MARGIN)
        .margin_right(PANEL_MARGIN_RIGHT)
        .x_label_area_size(layout.label_h)
        .y_label_area_size(Y_LABEL_PX);
    let axes = Axes {
        x: layout.x,
        y: (y0, y1),
        x_ticks: x_ticks.len(),
        labels_time: layout.labels_time,
        y_label,
        x_name: layout.x_name.clone(),
        phases: layout.phases.to_vec(),
    };
    let x_axis = Ticked::new(x0..x1, x_ticks);
    match panel.y_axis {
        YAxis::Log => {
            let chart = builder
                .build_cartesian_2d(x_axis, (y0..y1).log_scale())
                .map_err(fail)?;
            // Asking for many labels lets plotters add 0.2, 0.3, … when the
            // axis spans a single decade; over several it keeps to powers of 10.
            finish_panel(chart, panel, &axes, 12, &|v: &f64| style::log_tick(*v))
        }
        _ => {
            let n = ticks.len();
            let chart = builder
                .build_cartesian_2d(x_axis, Ticked::new(y0..y1, ticks))
                .map_err(fail)?;
            let scale = 10f64.powi(exponent);
            let span = (y1 - y0) / scale;
            finish_panel(chart, panel, &axes, n, &|v: &f64| {
                style::tick(*v / scale, span)
            })
        }
    }
}

/// The most round time ticks (at most 8) over `lo..hi` whose labels, as
/// written, fit side by side in `width` pixels with room between them.
fn time_ticks(lo: f64, hi: f64, width: u32) -> Vec<f64> {
    let font = (FONT, style::TICK_PX).into_font();
    let span = hi - lo;
    let fits = |ticks: &[f64]| {
        let text: u32 = ticks
            .iter()
            .map(|t| font.box_size(&style::tick(*t, span)).map_or(40, |b| b.0))
            .sum();
        text + 24 * ticks.len() as u32 <= width
    };
    let mut best = style::nice_ticks(lo, hi, 2);
    for n in 3..=8 {
        let ticks = style::nice_ticks(lo, hi, n);
        if fits(&ticks) && ticks.len() > best.len() {
            best = ticks;
        }
    }
    best
}

/// Draws a caption centred over the data rectangle of a panel `w` pixels
/// wide whose data sits `left` and `right` pixels in from its edges, or as
/// close to centred as the caption's width allows within the panel.
fn draw_caption<DB: DrawingBackend>(
    head: &DrawingArea<DB, Shift>,
    caption: &str,
    w: u32,
    left: u32,
    right: u32,
) -> Drawn {
    let px = fitting_px(caption, style::CAPTION_PX, 18, w as i32);
    let text_w = rich_width(caption, px);
    let data_mid = left as i32 + w.saturating_sub(left + right) as i32 / 2;
    let half = text_w / 2;
    let x = data_mid.min(w as i32 - half).max(half);
    draw_rich(
        head,
        caption,
        px,
        &style::BLACK,
        HPos::Center,
        (x, CAPTION_H as i32 - 4 - px as i32 / 2),
    )
}

/// The axis settings of one panel, apart from the y formatter.
struct Axes {
    x: (f64, f64),
    y: (f64, f64),
    x_ticks: usize,
    labels_time: bool,
    y_label: String,
    x_name: Option<String>,
    phases: Vec<(f64, String)>,
}

/// The factor ticks are written in and the axis name: time in its unit
/// (50 ms, not 0.05 s), or a named axis (generations) as it is.
fn x_scale(name: Option<&str>, span: f64) -> (f64, String) {
    match name {
        Some(n) => (1.0, n.to_string()),
        None => {
            let (factor, unit) = style::time_unit(span);
            (factor, format!("time ({unit})"))
        }
    }
}

/// Everything after the coordinate system is known; generic over the y
/// coordinate so linear and log panels share one code path.
fn finish_panel<DB: Canvas, Y>(
    mut chart: ChartContext<'_, DB, Cartesian2d<Ticked, Y>>,
    panel: &CurvePanel,
    axes: &Axes,
    y_ticks: usize,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Drawn<PixelRect>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let ((x0, x1), (y0, y1)) = (axes.x, axes.y);
    let (factor, x_desc) = x_scale(axes.x_name.as_deref(), x1 - x0);
    let x_span = (x1 - x0) * factor;
    let x_fmt = |v: &f64| style::tick(*v * factor, x_span);
    let mut mesh = chart.configure_mesh();
    mesh.label_style((FONT, style::TICK_PX))
        .axis_desc_style((FONT, style::LABEL_PX))
        .bold_line_style(style::LIGHT_GREY.mix(0.6))
        .light_line_style(TRANSPARENT)
        .x_labels(axes.x_ticks)
        .y_labels(y_ticks)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(y_fmt)
        .y_desc(axes.y_label.as_str());
    if axes.labels_time {
        mesh.x_desc(x_desc.as_str());
    } else {
        mesh.x_label_formatter(&|_| String::new());
    }
    mesh.draw().map_err(fail)?;

    // An empty panel keeps its axes but not its reference lines, which
    // would only run through the "not measured" note; a line outside the
    // range is not drawn at all rather than over the axes.
    let hlines = panel
        .hlines
        .iter()
        .filter(|l| !panel.curves.is_empty() && l.y > y0 && l.y < y1);
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
    // Protocol phases: a thin line at each boundary inside the range, the phase's name at
    // the top of its stretch.
    if !panel.curves.is_empty() && axes.phases.len() > 1 {
        let top = y1 - (y1 - y0) * 0.02;
        let top = if panel.y_axis == YAxis::Log {
            (y0.ln() + (y1.ln() - y0.ln()) * 0.98).exp()
        } else {
            top
        };
        for (t, name) in &axes.phases {
            if *t > x0 && *t < x1 {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(*t, y0), (*t, y1)],
                        style::GREY.stroke_width(1),
                    )))
                    .map_err(fail)?;
            }
            if *t >= x0 && *t < x1 {
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!(" {name}"),
                        (*t, top),
                        (FONT, style::TICK_PX)
                            .into_font()
                            .color(&style::GREY)
                            .pos(Pos::new(HPos::Left, VPos::Top)),
                    )))
                    .map_err(fail)?;
            }
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

    // Series are drawn in the data rectangle's own pixels and clipped to it.
    let plot = chart.plotting_area().strip_coord_spec();
    let (pw, ph) = plot.dim_in_pixel();
    let log = panel.y_axis == YAxis::Log;
    let to_px = |t: f64, v: f64| {
        let fx = (t - x0) / (x1 - x0);
        let fy = if log {
            (v.ln() - y0.ln()) / (y1.ln() - y0.ln())
        } else {
            (v - y0) / (y1 - y0)
        };
        (fx * (pw as f64 - 1.0), (1.0 - fy) * (ph as f64 - 1.0))
    };
    // Bands first so that no band hides another label's mean line.
    for c in panel.curves.iter().filter(|c| c.band) {
        let mut outline: Vec<(f64, f64)> = c.points.iter().map(|p| to_px(p.t, p.lo)).collect();
        outline.extend(c.points.iter().rev().map(|p| to_px(p.t, p.hi)));
        clip::draw_clipped(&plot, &Shape::Fill(outline), c.colour.mix(0.18), DB::RASTER)
            .map_err(fail)?;
    }
    for c in &panel.curves {
        let pts: Vec<(f64, f64)> = c.points.iter().map(|p| to_px(p.t, p.mean)).collect();
        let shape = if pts.len() == 1 {
            Shape::Dot {
                centre: pts[0],
                radius: 5.0,
            }
        } else {
            // Where samples are denser than every other pixel, a noisy mean
            // drawn 3 px wide fills in as a solid slab; a thinner line keeps
            // the labels' curves apart.
            let dense = pts.len() as f64 > pw as f64 / 2.0;
            Shape::Line {
                points: pts,
                width: if dense { c.width.min(2) } else { c.width },
            }
        };
        clip::draw_clipped(&plot, &shape, c.colour.to_rgba(), DB::RASTER).map_err(fail)?;
    }
    let (base_x, base_y) = plot.get_base_pixel();
    Ok(PixelRect {
        left: base_x,
        top: base_y,
        right: base_x + pw as i32 - 1,
        bottom: base_y + ph as i32 - 1,
    })
}

/// The value halfway up a panel, in data units (geometric on a log axis).
fn mid_y<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &ChartContext<'_, DB, Cartesian2d<Ticked, Y>>,
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

/// One matrix heat map (or a note that the snapshot is missing) and its
/// colour bar on ±`scale`.
pub(crate) struct HeatCell {
    pub caption: String,
    pub matrix: Option<super::stats::Matrix>,
    pub scale: f64,
}

/// One row of a heat-map figure: the matrices of one projection.
pub(crate) struct HeatRow {
    pub cells: Vec<HeatCell>,
}

/// Heat maps of matrices, one row per projection, colour bar on the right.
pub(crate) struct HeatmapFigure {
    pub header: Header,
    pub rows: Vec<HeatRow>,
}

const HEAT_ROW_PX: u32 = 300;
const COLOUR_BAR_PX: u32 = 135;

impl Figure for HeatmapFigure {
    fn size(&self) -> (u32, u32) {
        let width = style::WIDTH;
        let height = self.header.height(width) + self.rows.len() as u32 * HEAT_ROW_PX;
        (width, height.max(style::HEIGHT))
    }

    fn draw<DB: Canvas>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<Vec<PixelRect>> {
        root.fill(&WHITE).map_err(fail)?;
        let body = self.header.draw(root)?.margin(0, 10, 10, 10);
        let mut rects = Vec::new();
        for (row, area) in self
            .rows
            .iter()
            .zip(body.split_evenly((self.rows.len(), 1)))
        {
            // The cells of a row share one scale, so one bar at the row's end serves them.
            let (w, _) = area.dim_in_pixel();
            let n = row.cells.len().max(1);
            // Whole pixels per cell, so the heat maps of a row come out the same size.
            let cell_w = w.saturating_sub(COLOUR_BAR_PX) / n as u32;
            let (maps, bar) = area.split_horizontally(cell_w * n as u32);
            for (cell, a) in row.cells.iter().zip(maps.split_evenly((1, n))) {
                rects.extend(draw_heat_cell(&a, cell)?);
            }
            if let Some(cell) = row.cells.iter().find(|c| c.matrix.is_some()) {
                draw_colour_bar(&bar, cell.scale)?;
            }
        }
        Ok(rects)
    }
}

const HEAT_X_LABEL_PX: u32 = 70;
const HEAT_Y_LABEL_PX: u32 = 90;

/// Matrix indices to label on an axis of `n` cells: 0 and every multiple
/// of a round step, at most about six of them.
fn index_ticks(n: usize) -> Vec<usize> {
    let step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        .into_iter()
        .find(|s| n.div_ceil(*s) <= 6)
        .unwrap_or(n.max(1));
    (0..n).step_by(step).collect()
}

/// Draws one heat map and returns its data rectangle, if it has one.
fn draw_heat_cell<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    cell: &HeatCell,
) -> Drawn<Option<PixelRect>> {
    let (w, _) = area.dim_in_pixel();
    let (head, body) = area.split_vertically(CAPTION_H);
    draw_caption(
        &head,
        &cell.caption,
        w,
        HEAT_Y_LABEL_PX + PANEL_MARGIN,
        PANEL_MARGIN,
    )?;
    let Some(m) = &cell.matrix else {
        body.draw_text(
            "not recorded",
            &(FONT, style::LABEL_PX).into_font().color(&style::GREY),
            (HEAT_Y_LABEL_PX as i32, 40),
        )
        .map_err(fail)?;
        return Ok(None);
    };
    let (rows, cols) = (m.rows as f64, m.cols as f64);
    // Cell (r, c) is centred on (c, rows-1-r) so integer ticks sit on cell
    // centres and row 0 is drawn at the top, as a matrix is written; the
    // row ticks are chosen as row indices (0, 5, 10, …) and placed there.
    let x_keys: Vec<f64> = index_ticks(m.cols).into_iter().map(|c| c as f64).collect();
    let y_keys: Vec<f64> = index_ticks(m.rows)
        .into_iter()
        .map(|r| rows - 1.0 - r as f64)
        .collect();
    let mut chart = ChartBuilder::on(&body)
        .margin(PANEL_MARGIN)
        .x_label_area_size(HEAT_X_LABEL_PX)
        .y_label_area_size(HEAT_Y_LABEL_PX)
        .build_cartesian_2d(
            Ticked::new(-0.5..cols - 0.5, x_keys),
            Ticked::new(-0.5..rows - 0.5, y_keys),
        )
        .map_err(fail)?;
    let x_fmt = |v: &f64| format!("{}", v.round() as i64);
    let y_fmt = |v: &f64| format!("{}", (rows - 1.0 - *v).round() as i64);
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style((FONT, style::TICK_PX))
        .axis_desc_style((FONT, style::LABEL_PX))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc("pre unit")
        .y_desc("post unit")
        .draw()
        .map_err(fail)?;
    let scale = if cell.scale > 0.0 { cell.scale } else { 1.0 };
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
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    Ok(Some(PixelRect {
        left: xr.start,
        top: yr.start,
        right: xr.end - 1,
        bottom: yr.end - 1,
    }))
}

/// A colour bar over ±`scale` beside a row of heat maps, level with their data rectangles,
/// its tick labels to the right of the bar with a gap, never on it.
fn draw_colour_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, scale: f64) -> Drawn {
    let s = if scale > 0.0 { scale } else { 1.0 };
    let (_, h) = area.dim_in_pixel();
    let top = (CAPTION_H + PANEL_MARGIN) as i32;
    let bottom = h as i32 - (HEAT_X_LABEL_PX + PANEL_MARGIN) as i32;
    if bottom <= top {
        return Ok(());
    }
    let (x0, x1) = (8, 30);
    const STEPS: i32 = 64;
    for i in 0..STEPS {
        let y_hi = top + (bottom - top) * i / STEPS;
        let y_lo = top + (bottom - top) * (i + 1) / STEPS;
        let v = 1.0 - 2.0 * (i as f64 + 0.5) / STEPS as f64;
        area.draw(&Rectangle::new(
            [(x0, y_hi), (x1, y_lo)],
            style::diverging(v).filled(),
        ))
        .map_err(fail)?;
    }
    area.draw(&Rectangle::new([(x0, top), (x1, bottom)], style::GREY))
        .map_err(fail)?;
    let to_y = |v: f64| top as f64 + (s - v) / (2.0 * s) * (bottom - top) as f64;
    let font = (FONT, style::TICK_PX).into_font();
    for v in style::nice_ticks(-s, s, 5) {
        let y = to_y(v).round() as i32;
        area.draw(&PathElement::new(vec![(x1, y), (x1 + 6, y)], style::BLACK))
            .map_err(fail)?;
        area.draw_text(
            &style::tick(v, 2.0 * s),
            &font
                .color(&style::BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
            (x1 + 10, y),
        )
        .map_err(fail)?;
    }
    Ok(())
}
