//! The scaling figure of `hetsim bench --scaling`, from its `scaling.csv`: synapse-steps per
//! second against the number of instances (the W1 ensemble) and against the synapses of one
//! circuit, log-log, with the machine's two ceilings as dashed lines; below each, the peak
//! resident memory of every point and what the point added above where it started.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::render::{self, Drawn, Figure, Header, Ticked, fail};
use super::style::{self, FONT};
use super::sweep::{axis_names, axis_ticks, tick_text};
use super::{Formats, PlotError};

/// One measured point of the CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingPoint {
    pub part: String,
    pub backend: String,
    pub instances: f64,
    pub synapses: f64,
    pub rate: f64,
    /// Synapse-steps per second of the process's CPU time (None where it was not measured).
    pub cpu_rate: Option<f64>,
    pub peak_bytes: Option<f64>,
    pub added_bytes: Option<f64>,
}

/// What the figure draws: the points and the ceilings in synapse-steps/s.
#[derive(Clone, Debug, Default)]
pub struct ScalingData {
    pub points: Vec<ScalingPoint>,
    /// One FMA per synapse-step.
    pub fma_ceiling: Option<f64>,
    /// One f32 weight read (4 bytes) per synapse-step.
    pub read_ceiling: Option<f64>,
    pub threads: Option<usize>,
    pub skipped: usize,
}

/// Reads `scaling.csv` (columns by name; skipped points counted, not drawn).
pub fn read(path: &Path) -> Result<ScalingData, PlotError> {
    let malformed = |line: u64, reason: String| PlotError::Malformed {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| match e.kind() {
        csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            PlotError::MissingFile {
                path: path.to_path_buf(),
            }
        }
        _ => malformed(1, e.to_string()),
    })?;
    let headers = reader
        .headers()
        .map_err(|e| malformed(1, e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| malformed(1, format!("no column `{name}`")))
    };
    let [
        part,
        backend,
        instances,
        synapses,
        rate,
        steps,
        cpu,
        peak,
        added,
        fma,
        read,
        threads,
        skipped,
    ] = [
        "part",
        "backend",
        "instances",
        "synapses",
        "synapse_steps_per_s",
        "synapse_steps",
        "cpu_s",
        "peak_rss_bytes",
        "added_rss_bytes",
        "ceiling_fma_per_s",
        "ceiling_read_bytes_per_s",
        "threads",
        "skipped",
    ]
    .map(col);
    let (part, backend, instances, synapses, rate) =
        (part?, backend?, instances?, synapses?, rate?);
    let (steps, cpu) = (steps?, cpu?);
    let (peak, added, fma, read, threads, skipped) =
        (peak?, added?, fma?, read?, threads?, skipped?);
    let mut data = ScalingData::default();
    for (k, record) in reader.records().enumerate() {
        let line = k as u64 + 2;
        let r = record.map_err(|e| malformed(line, e.to_string()))?;
        let cell = |i: usize| r.get(i).unwrap_or("");
        let number = |i: usize| -> Result<Option<f64>, PlotError> {
            let c = cell(i);
            if c.is_empty() {
                return Ok(None);
            }
            c.parse::<f64>()
                .map(Some)
                .map_err(|_| malformed(line, format!("`{}` is not a number: `{c}`", &headers[i])))
        };
        data.fma_ceiling = data.fma_ceiling.or(number(fma)?);
        data.read_ceiling = data.read_ceiling.or(number(read)?.map(|b| b / 4.0));
        if data.threads.is_none() && !cell(threads).is_empty() {
            data.threads = Some(cell(threads).parse().map_err(|_| {
                malformed(
                    line,
                    format!("`threads` is not a count: `{}`", cell(threads)),
                )
            })?);
        }
        if !cell(skipped).is_empty() {
            data.skipped += 1;
            continue;
        }
        let need = |i: usize| {
            number(i)?.ok_or_else(|| malformed(line, format!("`{}` is empty", &headers[i])))
        };
        data.points.push(ScalingPoint {
            part: cell(part).to_string(),
            backend: cell(backend).to_string(),
            instances: need(instances)?,
            synapses: need(synapses)?,
            rate: need(rate)?,
            cpu_rate: match (number(steps)?, number(cpu)?) {
                (Some(s), Some(c)) if c > 0.0 => Some(s / c),
                _ => None,
            },
            peak_bytes: number(peak)?,
            added_bytes: number(added)?,
        });
    }
    Ok(data)
}

/// Draws `scaling.png`/`.svg` into `dir` from its `scaling.csv`.
pub fn plot_scaling(dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, PlotError> {
    let data = read(&dir.join("scaling.csv"))?;
    render::write(&figure(&data), dir, "scaling", formats)
}

/// A backend's colour (the CPU blue, OpenCL orange, anything else grey).
fn colour(backend: &str) -> RGBColor {
    match backend {
        "cpu" => RGBColor(33, 102, 172),
        "opencl" => RGBColor(230, 97, 1),
        _ => style::GREY,
    }
}

/// One line of a panel: its colour, whether dashed, and its (x, y) points, both positive.
type Series = (RGBColor, bool, Vec<(f64, f64)>);

/// One panel: a log-log plot of series against x.
struct Panel {
    caption: String,
    x_name: String,
    y_name: String,
    series: Vec<Series>,
    /// Horizontal dashed lines (y, colour).
    lines: Vec<(f64, RGBColor)>,
}

pub(crate) struct ScalingFigure {
    header: Header,
    /// Rows of two panels.
    panels: Vec<Panel>,
}

const MIB: f64 = 1024.0 * 1024.0;
const FMA_COLOUR: RGBColor = RGBColor(90, 90, 90);
const READ_COLOUR: RGBColor = RGBColor(27, 158, 119);

pub(crate) fn figure(data: &ScalingData) -> ScalingFigure {
    let mut backends: Vec<String> = data.points.iter().map(|p| p.backend.clone()).collect();
    backends.sort();
    backends.dedup();
    let mut lines = Vec::new();
    let mut legend: Vec<(String, RGBColor)> =
        backends.iter().map(|b| (b.clone(), colour(b))).collect();
    if let Some(f) = data.fma_ceiling {
        lines.push((f, FMA_COLOUR));
        legend.push(("peak f32 FMA/s".into(), FMA_COLOUR));
    }
    if let Some(r) = data.read_ceiling {
        lines.push((r, READ_COLOUR));
        legend.push(("streaming read / 4 B".into(), READ_COLOUR));
    }
    let series = |part: &str,
                  x: fn(&ScalingPoint) -> f64,
                  y: fn(&ScalingPoint) -> Option<f64>,
                  dashed: bool| {
        backends
            .iter()
            .map(|b| {
                let mut pts: Vec<(f64, f64)> = data
                    .points
                    .iter()
                    .filter(|p| p.part == part && &p.backend == b)
                    .filter_map(|p| Some((x(p), y(p)?)))
                    .filter(|(x, y)| *x > 0.0 && *y > 0.0)
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                (colour(b), dashed, pts)
            })
            .collect::<Vec<_>>()
    };
    let throughput = |part: &str, x: fn(&ScalingPoint) -> f64| {
        let mut s = series(part, x, |p| Some(p.rate), false);
        s.extend(series(part, x, |p| p.cpu_rate, true));
        s
    };
    let memory = |part: &str, x: fn(&ScalingPoint) -> f64| {
        let mut s = series(part, x, |p| p.peak_bytes.map(|b| b / MIB), false);
        s.extend(series(part, x, |p| p.added_bytes.map(|b| b / MIB), true));
        s
    };
    let instances = |p: &ScalingPoint| p.instances;
    let synapses = |p: &ScalingPoint| p.synapses;
    let panels = vec![
        Panel {
            caption: "W1 ensemble (1,020 synapses each)".into(),
            x_name: "instances".into(),
            y_name: "synapse-steps/s".into(),
            series: throughput("ensemble", instances),
            lines: lines.clone(),
        },
        Panel {
            caption: "one n-n-10 tanh circuit (KP)".into(),
            x_name: "synapses".into(),
            y_name: "synapse-steps/s".into(),
            series: throughput("circuit", synapses),
            lines,
        },
        Panel {
            caption: "memory of the ensemble".into(),
            x_name: "instances".into(),
            y_name: "resident memory (MiB)".into(),
            series: memory("ensemble", instances),
            lines: Vec::new(),
        },
        Panel {
            caption: "memory of the circuit".into(),
            x_name: "synapses".into(),
            y_name: "resident memory (MiB)".into(),
            series: memory("circuit", synapses),
            lines: Vec::new(),
        },
    ];
    let mut note = "log-log · top: synapse-steps per second of wall time (solid) and of the process's CPU time (dashed: what the work would run at with the CPU to itself), ceilings grey and green (one FMA and one f32 weight read per synapse-step) · bottom: peak resident set during each point (solid) and what the point added above where it started (dashed)".to_string();
    if data.skipped > 0 {
        note += &format!(
            " · {} over the memory budget, skipped",
            crate::text::count(data.skipped, "point")
        );
    }
    ScalingFigure {
        header: Header {
            title: "Scaling: throughput and memory".into(),
            subtitle: format!(
                "hetsim bench --scaling, f32{}",
                data.threads.map_or(String::new(), |t| format!(
                    ", ceilings on {}",
                    crate::text::count(t, "thread")
                ))
            ),
            legend,
            note,
        },
        panels,
    }
}

impl Figure for ScalingFigure {
    fn size(&self) -> (u32, u32) {
        (2 * style::WIDTH, 2 * style::HEIGHT)
    }

    fn draw<DB: render::Canvas>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Drawn<Vec<super::clip::PixelRect>> {
        root.fill(&WHITE).map_err(fail)?;
        let body = self.header.draw(root)?;
        let cells = body.split_evenly((2, 2));
        for (panel, area) in self.panels.iter().zip(cells.iter()) {
            draw_panel(panel, &area.margin(10, 30, 20, 20), root)?;
        }
        Ok(Vec::new())
    }
}

/// Draws `panel` in `area`; its axis names go on `root`, in whose pixels the chart's data
/// rectangle is given.
fn draw_panel<DB: DrawingBackend>(
    panel: &Panel,
    area: &DrawingArea<DB, Shift>,
    root: &DrawingArea<DB, Shift>,
) -> Drawn {
    let xs: Vec<f64> = panel
        .series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.0))
        .collect();
    let mut ys: Vec<f64> = panel
        .series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .collect();
    ys.extend(panel.lines.iter().map(|l| l.0).filter(|y| *y > 0.0));
    let (x_range, x_ticks) = axis_ticks(&xs, true);
    let (y_range, y_ticks) = axis_ticks(&ys, true);
    let (x_span, y_span) = (x_range.end - x_range.start, y_range.end - y_range.start);
    let mut chart = ChartBuilder::on(area)
        .caption(panel.caption.as_str(), (FONT, style::CAPTION_PX))
        .x_label_area_size(80)
        .y_label_area_size(120)
        .build_cartesian_2d(
            Ticked::new(x_range.clone(), x_ticks),
            Ticked::new(y_range.clone(), y_ticks),
        )
        .map_err(fail)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(style::LIGHT_GREY)
        .label_style((FONT, style::TICK_PX).into_font())
        .x_label_formatter(&|v| tick_text(*v, true, x_span))
        .y_label_formatter(&|v| tick_text(*v, true, y_span))
        .draw()
        .map_err(fail)?;
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    axis_names(root, &panel.x_name, &panel.y_name, (xr, yr))?;
    for (y, colour) in &panel.lines {
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(x_range.start, y.log10()), (x_range.end, y.log10())],
                12,
                8,
                colour.stroke_width(3),
            )))
            .map_err(fail)?;
    }
    for (colour, dashed, points) in &panel.series {
        let at: Vec<(f64, f64)> = points.iter().map(|p| (p.0.log10(), p.1.log10())).collect();
        if *dashed {
            chart
                .draw_series(std::iter::once(DashedPathElement::new(
                    at.clone(),
                    10,
                    6,
                    colour.stroke_width(3),
                )))
                .map_err(fail)?;
        } else {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    at.clone(),
                    colour.stroke_width(4),
                )))
                .map_err(fail)?;
        }
        chart
            .draw_series(
                at.iter()
                    .map(|p| Circle::new(*p, if *dashed { 4 } else { 6 }, colour.filled())),
            )
            .map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figure's data is the CSV's: rows by part and backend, skipped rows counted, the
    /// read ceiling in synapse-steps/s (4 bytes each), and the panels hold exactly the points.
    #[test]
    fn the_figure_draws_the_csvs_points() {
        let dir = std::env::temp_dir().join(format!("hetsim-plot-scaling-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let head = crate::bench::scaling::COLUMNS.join(",");
        let row = |part: &str, backend: &str, n: &str, syn: &str, rate: &str, skipped: &str| {
            let mut cells = vec![String::new(); crate::bench::scaling::COLUMNS.len()];
            let set = |cells: &mut Vec<String>, name: &str, v: &str| {
                let i = crate::bench::scaling::COLUMNS
                    .iter()
                    .position(|c| *c == name)
                    .unwrap();
                cells[i] = v.to_string();
            };
            set(&mut cells, "part", part);
            set(&mut cells, "backend", backend);
            set(&mut cells, "instances", n);
            set(&mut cells, "ceiling_fma_per_s", "1e11");
            set(&mut cells, "ceiling_read_bytes_per_s", "2e10");
            set(&mut cells, "threads", "2");
            if skipped.is_empty() {
                set(&mut cells, "synapses", syn);
                set(&mut cells, "synapse_steps_per_s", rate);
                // Four times the wall rate per CPU-second at the ensemble's points.
                let r: f64 = rate.parse().unwrap();
                set(&mut cells, "synapse_steps", &format!("{}", 4.0 * r));
                set(
                    &mut cells,
                    "cpu_s",
                    if part == "ensemble" { "1" } else { "" },
                );
                set(&mut cells, "peak_rss_bytes", "10485760");
                set(&mut cells, "added_rss_bytes", "1048576");
            } else {
                set(&mut cells, "skipped", skipped);
            }
            cells.join(",")
        };
        let text = [
            head,
            row("ensemble", "cpu", "1", "1020", "1e8", ""),
            row("ensemble", "cpu", "64", "65280", "1e10", ""),
            row("ensemble", "cpu", "4096", "", "", "over the \"budget\""),
            row("circuit", "cpu", "1", "1000", "2e8", ""),
            row("circuit", "opencl", "1", "1000", "3e8", ""),
        ]
        .join("\n")
            + "\n";
        std::fs::write(dir.join("scaling.csv"), text).unwrap();
        let data = read(&dir.join("scaling.csv")).unwrap();
        assert_eq!((data.points.len(), data.skipped), (4, 1));
        assert_eq!(data.fma_ceiling, Some(1e11));
        assert_eq!(data.read_ceiling, Some(5e9));
        let fig = figure(&data);
        let throughput = &fig.panels[0];
        let cpu: Vec<&Series> = throughput
            .series
            .iter()
            .filter(|s| !s.2.is_empty())
            .collect();
        // The wall-time rate, and the CPU-time rate (dashed) from synapse_steps / cpu_s.
        assert_eq!(cpu.len(), 2);
        assert_eq!(cpu[0].2, vec![(1.0, 1e8), (64.0, 1e10)]);
        assert!(!cpu[0].1 && cpu[1].1);
        assert_eq!(cpu[1].2, vec![(1.0, 4e8), (64.0, 4e10)]);
        assert_eq!(data.threads, Some(2));
        assert_eq!(throughput.lines.len(), 2);
        let circuit: usize = fig.panels[1].series.iter().map(|s| s.2.len()).sum();
        assert_eq!(circuit, 2);
        // Memory: peak and added for each point, in MiB.
        let memory: Vec<(f64, f64)> = fig.panels[2]
            .series
            .iter()
            .flat_map(|s| s.2.clone())
            .collect();
        assert!(memory.contains(&(1.0, 10.0)) && memory.contains(&(64.0, 1.0)));
        let written = plot_scaling(&dir, Formats::BOTH).unwrap();
        assert_eq!(written.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
