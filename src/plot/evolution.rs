//! Figures of an evolution directory (`hetsim evolve`), drawn from `generations.csv` alone:
//! the fitness and the best rule's alignment over generations (`evolution.svg/png`), and the
//! best rule's θ per generation (`evolution_theta.svg/png`).

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use super::render::{self, Curve, CurveFigure, CurvePanel, HLine, Header, YAxis};
use super::stats::BandPoint;
use super::style;
use super::{Formats, PlotError};

/// One column of `generations.csv` as (generation, value) points, non-finite cells left out.
fn series(table: &[Vec<String>], header: &[String], name: &str) -> Vec<BandPoint> {
    let Some(c) = header.iter().position(|h| h == name) else {
        return Vec::new();
    };
    table
        .iter()
        .filter_map(|row| {
            let t: f64 = row.first()?.parse().ok()?;
            let v: f64 = row.get(c)?.parse().ok()?;
            v.is_finite().then_some(BandPoint {
                t,
                mean: v,
                lo: v,
                hi: v,
                n: 1,
            })
        })
        .collect()
}

fn line(points: Vec<BandPoint>, colour: RGBColor) -> Curve {
    Curve {
        colour,
        points,
        band: false,
        width: 3,
    }
}

fn panel(caption: &str, y_label: &str, y_axis: YAxis, curves: Vec<Curve>) -> CurvePanel {
    CurvePanel {
        caption: caption.into(),
        y_label: y_label.into(),
        y_axis,
        curves,
        hlines: Vec::new(),
    }
}

/// Draws the evolution figures of `dir` into `dir/figures`.
pub fn plot_evolution(dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, PlotError> {
    let path = dir.join("generations.csv");
    if !path.is_file() {
        return Err(PlotError::MissingFile { path });
    }
    // Flexible: a last row cut short by a kill is left out below, not an error.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&path)
        .map_err(|e| PlotError::Malformed {
            path: path.clone(),
            line: 1,
            reason: e.to_string(),
        })?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| PlotError::Malformed {
            path: path.clone(),
            line: 1,
            reason: e.to_string(),
        })?
        .iter()
        .map(str::to_string)
        .collect();
    let mut table = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| PlotError::Malformed {
            path: path.clone(),
            line: i as u64 + 2,
            reason: e.to_string(),
        })?;
        table.push(record.iter().map(str::to_string).collect::<Vec<_>>());
    }
    // Only the last row may be short (torn); one in the middle means the file is not an
    // evolution's table.
    if table.last().is_some_and(|r| r.len() != header.len()) {
        table.pop();
    }
    if let Some(i) = table.iter().position(|r| r.len() != header.len()) {
        return Err(PlotError::Malformed {
            path,
            line: i as u64 + 2,
            reason: format!("{} cells, the header has {}", table[i].len(), header.len()),
        });
    }
    if table.is_empty() {
        return Err(PlotError::Malformed {
            path,
            line: 1,
            reason: "no generation has finished yet".into(),
        });
    }
    // The evolution's own name (the file's `name:`), as its manifest records it; the
    // directory's name where the manifest lacks it.
    let name = std::fs::read_to_string(dir.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|m| m.get("name")?.as_str().map(str::to_string))
        .unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let out_dir = dir.join("figures");
    std::fs::create_dir_all(&out_dir).map_err(|source| PlotError::Io {
        path: out_dir.clone(),
        source,
    })?;
    // Baselines the evolution ran beside its members (`<rule>_fitness` columns), each tuned
    // over the file's rate grid on the generation's tasks; drawn in their rule colours.
    let baselines: Vec<String> = header
        .iter()
        .filter_map(|h| h.strip_suffix("_fitness"))
        .filter(|r| !["best", "mean", "median", "best_ever"].contains(r))
        .map(str::to_string)
        .collect();
    // Hidden layers: the per-layer angle columns of the best rule that are not exact (an
    // output layer fed the output error reads 0° for every rule).
    let hidden: Vec<String> = header
        .iter()
        .filter_map(|h| h.strip_prefix("best_gradient_angle_deg:"))
        .filter(|l| {
            series(&table, &header, &format!("best_gradient_angle_deg:{l}"))
                .iter()
                .any(|p| p.mean != 0.0)
        })
        .map(str::to_string)
        .collect();
    let mut legend_labels: Vec<String> = vec![
        "best of generation".into(),
        "median".into(),
        "best so far".into(),
        "gradient angle of the generation's best".into(),
        "weight angle ∠(B, Wᵀ) of the generation's best".into(),
    ];
    legend_labels.extend(baselines.iter().cloned());
    let colours = style::label_colours(&legend_labels);
    let c = |k: usize| colours[k].1;
    let mut fitness = panel(
        "fitness: mean ln(final / initial held-out loss), lower is better",
        "fitness",
        YAxis::Fit,
        // Best so far first, so that the generation's best, often equal to it, is drawn on
        // top and stays visible.
        vec![
            Curve {
                width: 8,
                ..line(series(&table, &header, "best_ever_fitness"), c(2))
            },
            line(series(&table, &header, "median_fitness"), c(1)),
            line(series(&table, &header, "best_fitness"), c(0)),
        ],
    );
    fitness.hlines.push(HLine {
        y: 0.0,
        dashed: true,
    });
    for (k, rule) in baselines.iter().enumerate() {
        fitness.curves.push(Curve {
            width: 2,
            ..line(
                series(&table, &header, &format!("{rule}_fitness")),
                c(5 + k),
            )
        });
    }
    let mut angles = panel(
        "the best rule of each generation: ∠(ΔW rule, ΔW backprop) and ∠(B, Wᵀ)",
        "angle (°)",
        YAxis::Angle,
        vec![
            line(series(&table, &header, "best_gradient_angle_deg"), c(3)),
            line(series(&table, &header, "best_weight_angle_deg"), c(4)),
        ],
    );
    angles.hlines.push(HLine {
        y: 90.0,
        dashed: true,
    });
    let mut grid = vec![vec![fitness], vec![angles]];
    // The hidden layers' own angles, the best rule's against the baselines'.
    for layer in &hidden {
        let mut curves = vec![line(
            series(&table, &header, &format!("best_gradient_angle_deg:{layer}")),
            c(3),
        )];
        for (k, rule) in baselines.iter().enumerate() {
            curves.push(Curve {
                width: 2,
                ..line(
                    series(
                        &table,
                        &header,
                        &format!("{rule}_gradient_angle_deg:{layer}"),
                    ),
                    c(5 + k),
                )
            });
        }
        grid.push(vec![panel(
            &format!("hidden layer {layer}: ∠(ΔW rule, ΔW backprop), the generation's best and the baselines"),
            "angle (°)",
            YAxis::Angle,
            curves,
        )]);
    }
    let note = if baselines.is_empty() {
        "dashed: fitness 0 (no change in loss) and 90°".to_string()
    } else {
        format!(
            "dashed: fitness 0 and 90°; {}: baselines on each generation's tasks, each at its best rate",
            baselines.join(", ")
        )
    };
    let mut written = render::write(
        &CurveFigure {
            header: Header {
                title: format!("Evolution {name}: fitness and alignment"),
                subtitle: crate::text::count(table.len(), "generation"),
                legend: colours.clone(),
                note,
            },
            grid,
            min_panel_height: 300,
            x_name: Some("generation".into()),
        },
        &out_dir,
        "evolution",
        formats,
    )?;
    let theta_columns: Vec<&String> = header
        .iter()
        .filter(|h| h.starts_with("best_theta_") || h.starts_with("best_log_tau_w"))
        .collect();
    let labels: Vec<String> = theta_columns
        .iter()
        .map(|h| h.trim_start_matches("best_").replace("theta_", "θ "))
        .collect();
    let theta_colours = style::label_colours(&labels);
    let curves = theta_columns
        .iter()
        .zip(&theta_colours)
        .map(|(h, (_, colour))| line(series(&table, &header, h), *colour))
        .collect();
    written.extend(render::write(
        &CurveFigure {
            header: Header {
                title: format!("Evolution {name}: the best rule's coefficients"),
                subtitle: crate::text::count(table.len(), "generation"),
                legend: theta_colours,
                note: "θ of each term, per motif (term:projection)".into(),
            },
            grid: vec![vec![panel("θ of the best rule", "θ", YAxis::Fit, curves)]],
            min_panel_height: 560,
            x_name: Some("generation".into()),
        },
        &out_dir,
        "evolution_theta",
        formats,
    )?);
    Ok(written)
}
