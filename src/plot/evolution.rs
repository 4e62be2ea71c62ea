//! Figures of an evolution directory (`hetsim evolve`), drawn from `generations.csv` alone:
//! the fitness and the best rule's alignment over generations (`evolution.svg/png`), and the
//! best rule's θ per generation (`evolution_theta.svg/png`); and, where the directory has
//! `heldout.csv`, the held-out figure of [`super::heldout`].

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
    // The evolution's own series take hues no rule has (rules keep black, blue, orange and
    // green in every figure, and baselines are drawn beside these).
    let mut colours: Vec<(String, RGBColor)> = [
        ("best of generation", THETA_COLOURS[3]),
        ("median", THETA_COLOURS[7]),
        ("best so far", style::GREY),
        ("gradient angle of the generation's best", THETA_COLOURS[5]),
        (
            "weight angle ∠(B, Wᵀ) of the generation's best",
            THETA_COLOURS[4],
        ),
    ]
    .into_iter()
    .map(|(l, c)| (l.to_string(), c))
    .collect();
    // The baselines in their rule colours (sgd black, fa blue, …), as in every other figure.
    colours.extend(style::label_colours(&baselines));
    let c = |k: usize| colours[k].1;
    let mut fitness = panel(
        "fitness: mean ln(final / initial held-out loss), lower is better",
        "fitness",
        YAxis::Fit,
        // The generation's best thick, and the best so far thin and dark on top of it: where
        // the two coincide both stay visible (a thick best-so-far line hid the other).
        vec![
            line(series(&table, &header, "median_fitness"), c(1)),
            Curve {
                width: 5,
                ..line(series(&table, &header, "best_fitness"), c(0))
            },
            Curve {
                width: 2,
                ..line(series(&table, &header, "best_ever_fitness"), c(2))
            },
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
            phases: Vec::new(),
        },
        &out_dir,
        "evolution",
        formats,
    )?;
    let theta_columns: Vec<&String> = header
        .iter()
        .filter(|h| h.starts_with("best_theta_") || h.starts_with("best_log_tau_w"))
        .collect();
    // `best_theta_m_x:W1` is term m_x of W1's motif: one panel per motif, one hue per term,
    // the same hue for a term in every panel.
    let split = |h: &str| -> (String, String) {
        let name = h.trim_start_matches("best_");
        let (term, motif) = name.split_once(':').unwrap_or((name, ""));
        let term = match term.strip_prefix("theta_") {
            Some(t) => format!("θ {}", style::subscripts(t)),
            None => style::subscripts(&term.replace("log_tau_w", "log τ_w")),
        };
        (term, motif.to_string())
    };
    let mut terms: Vec<String> = Vec::new();
    let mut motifs: Vec<String> = Vec::new();
    for h in &theta_columns {
        let (term, motif) = split(h);
        if !terms.contains(&term) {
            terms.push(term);
        }
        if !motifs.contains(&motif) {
            motifs.push(motif);
        }
    }
    let hue = |term: &str| {
        let k = terms.iter().position(|t| t == term).unwrap_or(0);
        THETA_COLOURS[k % THETA_COLOURS.len()]
    };
    let panels: Vec<CurvePanel> = motifs
        .iter()
        .map(|motif| {
            let curves = theta_columns
                .iter()
                .filter(|h| split(h).1 == *motif)
                .map(|h| line(series(&table, &header, h), hue(&split(h).0)))
                .collect();
            let caption = if motif.is_empty() {
                "θ of the best rule".to_string()
            } else {
                format!("θ of {}'s rule", style::subscripts(motif))
            };
            panel(&caption, "θ", YAxis::Fit, curves)
        })
        .collect();
    let legend: Vec<(String, RGBColor)> = terms.iter().map(|t| (t.clone(), hue(t))).collect();
    let rows = panels.len().max(1);
    written.extend(render::write(
        &CurveFigure {
            header: Header {
                title: format!("Evolution {name}: the best rule's coefficients"),
                subtitle: crate::text::count(table.len(), "generation"),
                legend,
                note: "θ of each term of the best member of each generation; one panel per motif"
                    .into(),
            },
            grid: panels.into_iter().map(|p| vec![p]).collect(),
            min_panel_height: if rows == 1 { 560 } else { 300 },
            x_name: Some("generation".into()),
            phases: Vec::new(),
        },
        &out_dir,
        "evolution_theta",
        formats,
    )?);
    written.extend(super::heldout::plot_heldout(dir, formats)?);
    Ok(written)
}

/// Hues for many lines, all apart from each other and none black (sgd's colour in every other
/// figure): the Okabe–Ito set without black, then five more of distinct hue.
pub(super) const THETA_COLOURS: [RGBColor; 12] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(188, 189, 34),
    RGBColor(214, 39, 40),
    RGBColor(23, 190, 207),
    RGBColor(127, 127, 127),
];
