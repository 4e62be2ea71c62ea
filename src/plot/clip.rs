//! Keeping a series inside its panel's data rectangle.
//!
//! plotters places an element wherever its coordinates fall, even outside
//! the plotting area, and its bitmap backend turns a wide polyline into a
//! single polygon whose corners overshoot at the sharp turns of noisy data
//! (spikes tens of pixels long on a metric sampled every 0.1 s). Series are
//! therefore drawn through [`draw_clipped`], which cuts lines and bands at
//! the rectangle's edges in pixel space before they reach the backend and,
//! on a bitmap, fills each wide segment as its own clipped quad, so that
//! not even a stroke's width spills over the edge.

use plotters::coord::Shift;
use plotters::prelude::*;

/// A rectangle of pixels, bounds included, in backend coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
}

// The measurements are for the tests, which check panel sizes with them.
#[cfg_attr(not(test), allow(dead_code))]
impl PixelRect {
    pub fn width(&self) -> i32 {
        self.right - self.left + 1
    }

    pub fn height(&self) -> i32 {
        self.bottom - self.top + 1
    }

    pub fn contains(&self, (x, y): (i32, i32)) -> bool {
        (self.left..=self.right).contains(&x) && (self.top..=self.bottom).contains(&y)
    }
}

type Pt = (f64, f64);

/// Cuts one segment to `r` (Liang–Barsky); `None` when nothing is inside.
/// Also returns whether each end was moved, so callers know where a
/// visible run of a polyline starts and stops.
fn clip_segment(a: Pt, b: Pt, r: &PixelRect) -> Option<(Pt, Pt, bool, bool)> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    let edges = [
        (-dx, a.0 - r.left as f64),
        (dx, r.right as f64 - a.0),
        (-dy, a.1 - r.top as f64),
        (dy, r.bottom as f64 - a.1),
    ];
    for (p, q) in edges {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    Some((at(t0), at(t1), t0 > 0.0, t1 < 1.0))
}

/// The visible pieces of a polyline inside `r`. A non-finite point breaks
/// the line, as a missing sample should.
pub fn clip_polyline(points: &[Pt], r: &PixelRect) -> Vec<Vec<Pt>> {
    let finite = |p: &Pt| p.0.is_finite() && p.1.is_finite();
    let mut runs: Vec<Vec<Pt>> = Vec::new();
    let mut open = false;
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        if !finite(&a) || !finite(&b) {
            open = false;
            continue;
        }
        let Some((p, q, cut_start, cut_end)) = clip_segment(a, b, r) else {
            open = false;
            continue;
        };
        match runs.last_mut() {
            Some(run) if open && !cut_start => run.push(q),
            _ => runs.push(vec![p, q]),
        }
        open = !cut_end;
    }
    runs
}

/// The part of a polygon inside `r` (Sutherland–Hodgman; `r` is convex, so
/// any polygon comes out as one piece, possibly with zero-width slivers
/// along an edge, which fill nothing).
pub fn clip_polygon(points: &[Pt], r: &PixelRect) -> Vec<Pt> {
    let (l, t, rt, b) = (r.left as f64, r.top as f64, r.right as f64, r.bottom as f64);
    // Each edge as (is this point inside, where does a segment cross it).
    type Inside = fn(Pt, f64) -> bool;
    type Cross = fn(Pt, Pt, f64) -> Pt;
    let x_at = |a: Pt, c: Pt, x: f64| (x, a.1 + (c.1 - a.1) * (x - a.0) / (c.0 - a.0));
    let y_at = |a: Pt, c: Pt, y: f64| (a.0 + (c.0 - a.0) * (y - a.1) / (c.1 - a.1), y);
    let edges: [(Inside, Cross, f64); 4] = [
        (|p, v| p.0 >= v, x_at, l),
        (|p, v| p.0 <= v, x_at, rt),
        (|p, v| p.1 >= v, y_at, t),
        (|p, v| p.1 <= v, y_at, b),
    ];
    let mut poly: Vec<Pt> = points
        .iter()
        .copied()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    for (inside, cross, v) in edges {
        if poly.is_empty() {
            break;
        }
        let input = std::mem::take(&mut poly);
        let mut prev = *input.last().unwrap_or(&(0.0, 0.0));
        for &cur in &input {
            match (inside(cur, v), inside(prev, v)) {
                (true, true) => poly.push(cur),
                (true, false) => {
                    poly.push(cross(prev, cur, v));
                    poly.push(cur);
                }
                (false, true) => poly.push(cross(prev, cur, v)),
                (false, false) => {}
            }
            prev = cur;
        }
    }
    poly
}

/// What a series draws, in pixels relative to the data rectangle's
/// top-left corner.
#[derive(Debug, Clone)]
pub enum Shape {
    /// A polyline of the given stroke width.
    Line { points: Vec<Pt>, width: u32 },
    /// A filled polygon (a band).
    Fill(Vec<Pt>),
    /// A filled disc (a curve with a single sample).
    Dot { centre: Pt, radius: f64 },
}

fn round(p: Pt) -> (i32, i32) {
    (p.0.round() as i32, p.1.round() as i32)
}

/// Draws `shape` on `area` (the data rectangle, in its own pixel
/// coordinates) so that nothing lands outside it.
///
/// `raster` picks how wide lines are drawn. A bitmap gets one filled quad
/// per segment, each clipped like a band: no joint can overshoot, and the
/// quads are lengthened by half the width at both ends so that they
/// overlap at a turn instead of leaving a notch. Vector output keeps one
/// polyline per visible run, which an SVG viewer strokes correctly.
pub fn draw_clipped<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    shape: &Shape,
    colour: RGBAColor,
    raster: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, h) = area.dim_in_pixel();
    let rect = PixelRect {
        left: 0,
        top: 0,
        right: w as i32 - 1,
        bottom: h as i32 - 1,
    };
    // Width 1 keeps polygons that round to a single row or column visible.
    let fill = ShapeStyle {
        color: colour,
        filled: true,
        stroke_width: 1,
    };
    let fill_clipped = |poly: &[Pt]| {
        let px: Vec<(i32, i32)> = clip_polygon(poly, &rect).into_iter().map(round).collect();
        if px.len() >= 3 {
            area.draw(&Polygon::new(px, fill))
        } else {
            Ok(())
        }
    };
    match shape {
        Shape::Fill(points) => fill_clipped(points)?,
        Shape::Dot { centre, radius } => {
            let disc: Vec<Pt> = (0..24)
                .map(|k| {
                    let a = k as f64 * std::f64::consts::TAU / 24.0;
                    (centre.0 + radius * a.cos(), centre.1 + radius * a.sin())
                })
                .collect();
            fill_clipped(&disc)?;
        }
        Shape::Line { points, width } => {
            let r = *width as f64 / 2.0;
            for run in clip_polyline(points, &rect) {
                if !raster || *width <= 1 {
                    let mut px: Vec<(i32, i32)> = run.into_iter().map(round).collect();
                    px.dedup();
                    if px.len() >= 2 {
                        area.draw(&PathElement::new(px, colour.stroke_width(*width)))?;
                    }
                    continue;
                }
                for seg in run.windows(2) {
                    let (a, b) = (seg[0], seg[1]);
                    let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
                    if len < 1e-9 {
                        continue;
                    }
                    let u = ((b.0 - a.0) / len * r, (b.1 - a.1) / len * r);
                    let n = (-u.1, u.0);
                    let quad = [
                        (a.0 - u.0 + n.0, a.1 - u.1 + n.1),
                        (b.0 + u.0 + n.0, b.1 + u.1 + n.1),
                        (b.0 + u.0 - n.0, b.1 + u.1 - n.1),
                        (a.0 - u.0 - n.0, a.1 - u.1 - n.1),
                    ];
                    fill_clipped(&quad)?;
                }
            }
        }
    }
    Ok(())
}
