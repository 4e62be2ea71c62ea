//! The held-out figure of an evolution directory (`heldout.png/svg`), drawn from
//! `heldout.csv` alone: per held-out shape, the fitness of the evolved rule beside every
//! baseline, and each hidden layer's angle ∠(ΔW rule, ΔW backprop). Directories without
//! `heldout.csv` (older evolutions, or files without `heldout:`) get no figure.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;

use super::render::{self, Drawn, Figure, Header, Ticked, fail};
use super::style::{self, FONT};
use super::{Formats, PlotError};

/// The rule the evolution found; the other rows are its baselines.
const EVOLVED: &str = "evolved";

/// What `heldout.csv` holds, in the order the figure draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOut {
    /// The shapes in file order (`trained` first as written).
    pub shapes: Vec<String>,
    /// The rules: the evolved one first, then the baselines in file order.
    pub rules: Vec<String>,
    /// The layers whose angle is not 0° for every row (the output layer, fed the output
    /// error, reads 0° for every rule).
    pub hidden: Vec<String>,
    /// One row per (shape, rule).
    pub rows: Vec<HeldOutRow>,
}

/// One row of `heldout.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOutRow {
    pub shape: String,
    pub rule: String,
    pub fitness: f64,
    /// The learning-rate factor the rule was scored at.
    pub rate: f64,
    /// The angle per layer of [`HeldOut::hidden`], in that order.
    pub angles: Vec<f64>,
}

/// Reads `dir/heldout.csv`: `None` where there is none, a located error where a row cannot
/// be read.
pub fn read_heldout(dir: &Path) -> Result<Option<HeldOut>, PlotError> {
    let path = dir.join("heldout.csv");
    if !path.is_file() {
        return Ok(None);
    }
    let bad = |line: u64, reason: String| PlotError::Malformed {
        path: path.clone(),
        line,
        reason,
    };
    let mut reader = csv::Reader::from_path(&path).map_err(|e| bad(1, e.to_string()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(1, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| bad(1, format!("no column {name:?}")))
    };
    let (c_shape, c_rule, c_fit, c_rate) =
        (col("shape")?, col("rule")?, col("fitness")?, col("rate")?);
    let layers: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| Some((i, h.strip_prefix("gradient_angle_deg:")?.to_string())))
        .collect();
    // Empty or non-numeric cells are NaN (a diverged rule has no fitness), never an error.
    let number = |s: &str| s.trim().parse::<f64>().unwrap_or(f64::NAN);
    let mut rows = Vec::new();
    let mut all_angles: Vec<Vec<f64>> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(i as u64 + 2, e.to_string()))?;
        let cell = |c: usize| record.get(c).unwrap_or("");
        all_angles.push(layers.iter().map(|(c, _)| number(cell(*c))).collect());
        rows.push(HeldOutRow {
            shape: cell(c_shape).to_string(),
            rule: cell(c_rule).to_string(),
            fitness: number(cell(c_fit)),
            rate: number(cell(c_rate)),
            angles: Vec::new(),
        });
    }
    if rows.is_empty() {
        return Err(bad(1, "no rows".into()));
    }
    let keep: Vec<usize> = (0..layers.len())
        .filter(|&k| all_angles.iter().any(|a| a[k].is_finite() && a[k] != 0.0))
        .collect();
    for (row, angles) in rows.iter_mut().zip(&all_angles) {
        row.angles = keep.iter().map(|&k| angles[k]).collect();
    }
    let mut shapes: Vec<String> = Vec::new();
    let mut rules: Vec<String> = vec![EVOLVED.into()];
    for row in &rows {
        if !shapes.contains(&row.shape) {
            shapes.push(row.shape.clone());
        }
        if !rules.contains(&row.rule) {
            rules.push(row.rule.clone());
        }
    }
    if !rows.iter().any(|r| r.rule == EVOLVED) {
        rules.remove(0);
    }
    Ok(Some(HeldOut {
        shapes,
        rules,
        hidden: keep.iter().map(|&k| layers[k].1.clone()).collect(),
        rows,
    }))
}

/// The number of held-out tasks per shape, from the directory's `evolve.yaml`.
fn task_count(dir: &Path) -> Option<usize> {
    #[derive(serde::Deserialize)]
    struct File {
        heldout: Option<Seeds>,
    }
    #[derive(serde::Deserialize)]
    struct Seeds {
        seeds: usize,
    }
    let text = std::fs::read_to_string(dir.join("evolve.yaml")).ok()?;
    Some(serde_saphyr::from_str::<File>(&text).ok()?.heldout?.seeds)
}

/// The rule colours (sgd black, fa blue, …), the evolved rule in the vermillion of the
/// evolution figure's best of generation.
pub(crate) fn rule_colours(rules: &[String]) -> Vec<(String, RGBColor)> {
    style::label_colours(rules)
        .into_iter()
        .map(|(r, c)| {
            let c = if r == EVOLVED {
                super::evolution::THETA_COLOURS[3]
            } else {
                c
            };
            (r, c)
        })
        .collect()
}

/// Draws `dir/figures/heldout.svg/png` where `dir/heldout.csv` exists.
pub fn plot_heldout(dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, PlotError> {
    let Some(data) = read_heldout(dir)? else {
        return Ok(Vec::new());
    };
    let tasks = match task_count(dir) {
        Some(n) => format!("{} per shape", crate::text::count(n, "held-out task")),
        None => "held-out tasks".into(),
    };
    let header = Header {
        title: "Held-out tasks and shapes: the evolved rule beside the baselines".into(),
        subtitle: format!("{tasks}; shapes: {}", data.shapes.join(", ")),
        legend: rule_colours(&data.rules),
        note: "each rule at its best learning-rate factor; dashed: the evolved rule's value".into(),
    };
    let fig = HeldOutFigure { header, data };
    render::write(&fig, &dir.join("figures"), "heldout", formats)
}

struct HeldOutFigure {
    header: Header,
    data: HeldOut,
}

impl HeldOutFigure {
    /// The x position of `rule` in `shape`'s group (groups one slot apart).
    fn x(&self, shape: &str, rule: &str) -> Option<f64> {
        let s = self.data.shapes.iter().position(|x| x == shape)?;
        let r = self.data.rules.iter().position(|x| x == rule)?;
        Some((s * (self.data.rules.len() + 1) + r) as f64)
    }

    fn panel<DB: render::Canvas>(
        &self,
        root: &DrawingArea<DB, Shift>,
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        angle: Option<usize>,
    ) -> Drawn {
        let (top, area) = area.split_vertically(44);
        let (w, _) = top.dim_in_pixel();
        let px = render::fitting_px(caption, style::CAPTION_PX, 18, w as i32 - 130);
        render::draw_rich(&top, caption, px, &BLACK, HPos::Left, (120, 22))?;
        let value = |r: &HeldOutRow| match angle {
            Some(k) => r.angles[k],
            None => r.fitness,
        };
        let (y_range, y_ticks) = match angle {
            Some(_) => (-6.0..186.0, style::angle_ticks(0.0, 180.0)),
            None => {
                let vs: Vec<f64> = self
                    .data
                    .rows
                    .iter()
                    .map(value)
                    .filter(|v| v.is_finite())
                    .collect();
                let lo = vs.iter().copied().fold(0.0f64, f64::min);
                let hi = vs.iter().copied().fold(0.0f64, f64::max);
                let pad = 0.08 * (hi - lo).max(1e-3);
                (
                    (lo - pad)..(hi + pad),
                    style::nice_ticks(lo - pad, hi + pad, 6),
                )
            }
        };
        let n = self.data.shapes.len() * (self.data.rules.len() + 1) - 1;
        let ticks: Vec<f64> = self
            .data
            .shapes
            .iter()
            .flat_map(|s| self.data.rules.iter().filter_map(move |r| self.x(s, r)))
            .collect();
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(80)
            .y_label_area_size(110)
            .build_cartesian_2d(
                Ticked::new(-0.6..(n as f64 - 0.4), ticks),
                Ticked::new(y_range.clone(), y_ticks),
            )
            .map_err(fail)?;
        let k = self.data.rules.len() + 1;
        let rules = &self.data.rules;
        let span = y_range.end - y_range.start;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(style::LIGHT_GREY)
            .label_style((FONT, style::TICK_PX).into_font())
            .x_label_formatter(&|v| {
                let i = v.round() as usize % k;
                rules.get(i).cloned().unwrap_or_default()
            })
            .y_label_formatter(&|v| style::tick(*v, span))
            .y_desc(if angle.is_some() {
                "angle (°)"
            } else {
                "fitness"
            })
            .axis_desc_style((FONT, style::LABEL_PX).into_font())
            .draw()
            .map_err(fail)?;
        let (_, yr) = chart.plotting_area().get_pixel_range();
        let reference = if angle.is_some() { 90.0 } else { 0.0 };
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(-0.6, reference), (n as f64 - 0.4, reference)],
                8,
                6,
                style::GREY.stroke_width(1),
            )))
            .map_err(fail)?;
        let colours = rule_colours(rules);
        for (s, shape) in self.data.shapes.iter().enumerate() {
            let x0 = (s * k) as f64;
            // The shape's name under its group's rule names.
            let centre = chart.backend_coord(&(x0 + (k as f64 - 2.0) / 2.0, y_range.start));
            render::draw_rich(
                root,
                &format!("shape: {shape}"),
                style::LABEL_PX,
                &BLACK,
                HPos::Center,
                (centre.0, yr.end + 62),
            )?;
            if s > 0 {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x0 - 1.0, y_range.start), (x0 - 1.0, y_range.end)],
                        style::GREY.stroke_width(2),
                    )))
                    .map_err(fail)?;
            }
            let rows = || self.data.rows.iter().filter(|r| &r.shape == shape);
            if let Some(e) = rows()
                .find(|r| r.rule == EVOLVED)
                .map(value)
                .filter(|v| v.is_finite())
            {
                chart
                    .draw_series(std::iter::once(DashedPathElement::new(
                        vec![(x0 - 0.4, e), (x0 + k as f64 - 1.6, e)],
                        10,
                        6,
                        super::evolution::THETA_COLOURS[3].stroke_width(2),
                    )))
                    .map_err(fail)?;
            }
            for row in rows() {
                let (Some(x), v) = (self.x(shape, &row.rule), value(row)) else {
                    continue;
                };
                if !v.is_finite() {
                    continue;
                }
                let c = colours
                    .iter()
                    .find(|(r, _)| r == &row.rule)
                    .map_or(style::GREY, |p| p.1);
                let r = if row.rule == EVOLVED { 13 } else { 10 };
                chart
                    .draw_series(std::iter::once(Circle::new((x, v), r, c.filled())))
                    .map_err(fail)?;
            }
        }
        Ok(())
    }
}

impl Figure for HeldOutFigure {
    fn size(&self) -> (u32, u32) {
        let rows = 1 + self.data.hidden.len() as u32;
        let (w, _) = (style::WIDTH, style::HEIGHT);
        (w, self.header.height(w) + rows * 420 + 20)
    }

    fn draw<DB: render::Canvas>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Drawn<Vec<super::clip::PixelRect>> {
        root.fill(&WHITE).map_err(fail)?;
        let body = self.header.draw(root)?.margin(10, 10, 20, 30);
        let panels = body.split_evenly((1 + self.data.hidden.len(), 1));
        self.panel(
            root,
            &panels[0],
            "fitness: mean ln(final / initial held-out loss), lower is better",
            None,
        )?;
        for (k, layer) in self.data.hidden.iter().enumerate() {
            self.panel(
                root,
                &panels[k + 1],
                &format!("hidden layer {layer}: ∠(ΔW rule, ΔW backprop) (°)"),
                Some(k),
            )?;
        }
        Ok(Vec::new())
    }
}
