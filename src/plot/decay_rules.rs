//! Random rules against decay: for a sweep directory with a `rule_draws` axis and a
//! `tau_decay` axis, the per-rule verdicts of [`crate::measure::decay_rules`] read from
//! `summary.csv` — written as `decay_rules.csv` (one row per rule) and `decay_rules_totals.csv`
//! (counts per group of rules) — and the figure `decay_rules.png/svg`: each rule's Hebbian
//! signature against γ = 1/τ_decay as a thin line, rules with and without an implicit decay
//! (θ_zz_w < 0) side by side, the fraction for which the claim holds written on each panel.
//! Both panels draw the predicted stationary value ([`predict`], from
//! [`crate::measure::decay_limit`]) as a band, mean ± 1 s.d.; `decay_rules_totals.csv` carries
//! it in its `predicted_signature` and `predicted_signature_sd` columns (empty where the
//! prediction does not apply, the reason printed in the figure's note).
//!
//! The summary columns it needs: the signature and the relative held-out loss, each as
//! `mean_last: f` and `mean_last: 2f` (their difference gives the fifth before the last); a
//! directory without them, or without the two axes, gets neither tables nor figure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;

use super::render::{self, Drawn, Figure, Header, Ticked, fail};
use super::style::{self, FONT};
use super::{Formats, PlotError};
use crate::activation::Activation;
use crate::measure::decay_limit::{Limit, Schedule, stationary_signature};
use crate::measure::decay_rules::{
    PointReading, RuleReading, RuleResult, SeedReading, Stationarity, Tally, Tolerances, judge,
};

/// Rules for which the claim holds, rules for which it does not, rules not tested.
const HOLDS: RGBColor = RGBColor(0, 114, 178);
const FAILS: RGBColor = RGBColor(213, 94, 0);
const UNTESTED: RGBColor = RGBColor(175, 175, 175);
/// The predicted stationary value's band.
const PREDICTED: RGBColor = RGBColor(0, 158, 115);

/// Windows the prediction averages over (each with its own random W).
pub const PREDICTION_WINDOWS: usize = 4000;

/// The parts of `sweep.yaml` the analysis reads.
#[derive(serde::Deserialize)]
struct SweepFile {
    axes: Vec<AxisFile>,
    #[serde(default)]
    set: Vec<String>,
    #[serde(default)]
    summary: Vec<SummaryFile>,
}

#[derive(serde::Deserialize)]
struct AxisFile {
    rule_draws: Option<DrawsFile>,
}

#[derive(serde::Deserialize)]
struct DrawsFile {
    motif: String,
    terms: Vec<String>,
    bounds: [f64; 2],
}

#[derive(serde::Deserialize)]
struct SummaryFile {
    measure: String,
    projection: Option<String>,
    stat: serde_json::Value,
    #[serde(default)]
    relative: bool,
}

impl SummaryFile {
    fn mean_last(&self) -> Option<f64> {
        self.stat.get("mean_last")?.as_f64()
    }
}

/// The verdicts on every rule of the sweep in `dir` (in draw order), or `None` where the
/// directory is not a sweep of random rules against decay with the columns needed.
pub fn analyse(dir: &Path) -> Result<Option<Vec<RuleResult>>, PlotError> {
    let manifest_path = dir.join("manifest.json");
    let Ok(text) = std::fs::read_to_string(&manifest_path) else {
        return Ok(None);
    };
    let malformed = |path: &Path, reason: String| PlotError::Malformed {
        path: path.to_path_buf(),
        line: 1,
        reason,
    };
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| malformed(&manifest_path, e.to_string()))?;
    let axis_column = |suffix: &str| {
        manifest["axes"].as_array().and_then(|a| {
            a.iter()
                .find(|x| x["target"].as_str().is_some_and(|t| t.ends_with(suffix)))
                .and_then(|x| x["column"].as_str().map(str::to_string))
        })
    };
    let (Some(draw_column), Some(decay_column)) = (axis_column(".rule"), axis_column("tau_decay"))
    else {
        return Ok(None);
    };
    let sweep_path = dir.join("sweep.yaml");
    let sweep_text = std::fs::read_to_string(&sweep_path).map_err(|_| PlotError::MissingFile {
        path: sweep_path.clone(),
    })?;
    let sweep: SweepFile =
        serde_saphyr::from_str(&sweep_text).map_err(|e| malformed(&sweep_path, e.to_string()))?;
    let Some(draws) = sweep.axes.into_iter().find_map(|a| a.rule_draws) else {
        return Ok(None);
    };
    let seed = manifest["seed"].as_u64().unwrap_or(1);
    let names: Vec<String> = manifest["summary_columns"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // The columns of a measure as `mean_last: f` and `mean_last: 2f`, the smallest such f.
    let pair = |measure: &str, relative: bool| -> Option<(String, String)> {
        let cols: Vec<(f64, &String)> = sweep
            .summary
            .iter()
            .zip(&names)
            .filter(|(s, _)| {
                s.measure == measure
                    && s.relative == relative
                    && (measure != "hebbian_signature" || s.projection.is_some())
            })
            .filter_map(|(s, n)| Some((s.mean_last()?, n)))
            .collect();
        let mut best: Option<(f64, String, String)> = None;
        for (f, last) in &cols {
            if let Some((_, before)) = cols.iter().find(|(g, _)| (g - 2.0 * f).abs() < 1e-12)
                && best.as_ref().is_none_or(|b| *f < b.0)
            {
                best = Some((*f, (*last).clone(), (*before).clone()));
            }
        }
        best.map(|(_, a, b)| (a, b))
    };
    let (Some(sig), Some(loss)) = (
        pair("hebbian_signature", false),
        pair("held_out_loss", true),
    ) else {
        return Ok(None);
    };
    let summary = dir.join("summary.csv");
    let mut reader = csv::Reader::from_path(&summary).map_err(|_| PlotError::MissingFile {
        path: summary.clone(),
    })?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| malformed(&summary, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| malformed(&summary, format!("no column {name:?}")))
    };
    let (c_draw, c_decay, c_status) = (col(&draw_column)?, col(&decay_column)?, col("status")?);
    let (c_s20, c_s40, c_l20, c_l40) = (col(&sig.0)?, col(&sig.1)?, col(&loss.0)?, col(&loss.1)?);
    // (draw, τ_decay bits) → point
    let mut points: BTreeMap<u64, BTreeMap<u64, PointReading>> = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| PlotError::Malformed {
            path: summary.clone(),
            line,
            reason: e.to_string(),
        })?;
        let number = |c: usize| record.get(c).unwrap_or("").trim().parse::<f64>().ok();
        let (Some(draw), Some(tau)) = (number(c_draw), number(c_decay)) else {
            return Err(PlotError::Malformed {
                path: summary.clone(),
                line,
                reason: "the rule draw or τ_decay is not a number".into(),
            });
        };
        let point = points
            .entry(draw as u64)
            .or_default()
            .entry(tau.to_bits())
            .or_insert_with(|| PointReading {
                gamma: 1.0 / tau,
                seeds: Vec::new(),
                failed: 0,
            });
        let cells = (number(c_s20), number(c_s40), number(c_l20), number(c_l40));
        match (record.get(c_status), cells) {
            (Some("completed"), (Some(s20), Some(s40), Some(l20), Some(l40))) => {
                point.seeds.push(SeedReading {
                    signature_last: s20,
                    signature_before: 2.0 * s40 - s20,
                    loss_last: l20,
                    loss_before: 2.0 * l40 - l20,
                })
            }
            // A diverged seed, or one without a reading, counts against stationarity.
            _ => point.failed += 1,
        }
    }
    let tolerances = Tolerances::default();
    Ok(Some(
        points
            .into_iter()
            .map(|(draw, by_tau)| {
                let theta = crate::rule::draw_theta(seed, draw, &draws.terms, draws.bounds);
                judge(
                    &RuleReading {
                        draw,
                        theta: draws.terms.iter().cloned().zip(theta).collect(),
                        points: by_tau.into_values().collect(),
                    },
                    &tolerances,
                )
            })
            .collect(),
    ))
}

/// The predicted stationary signature of the plastic projection `projection` of `circuit`
/// ([`crate::measure::decay_limit`]): its stimulus timing, recording window, postsynaptic τ and
/// shape, over [`PREDICTION_WINDOWS`] consecutive windows of the training stream of task seed
/// `seed` (the samples a run with that seed is shown, from its start), W drawn from the
/// "decay_limit/W" stream of the same seed. An error says why the prediction does not apply.
pub fn predict(
    circuit: crate::circuit::Circuit,
    projection: &str,
    seed: u64,
    base_dir: &Path,
) -> Result<Limit, String> {
    let instance = crate::plan::InstanceSpec {
        circuit,
        seed,
        label: "prediction".into(),
    };
    let plan = crate::plan::Plan::new(&[instance], base_dir).map_err(|e| e.to_string())?;
    let p = plan
        .projections
        .iter()
        .find(|p| p.name == projection)
        .ok_or_else(|| format!("the circuit has no projection {projection:?}"))?;
    if p.from != plan.input {
        return Err(format!("{projection} does not come from the task's inputs"));
    }
    // u = W v needs W to be the postsynaptic population's only input and the population linear.
    let post = &plan.populations[p.to];
    if post.activation != Activation::Linear {
        return Err(format!("{} is not linear", post.name));
    }
    if let Some(o) = plan
        .projections
        .iter()
        .find(|o| o.to == p.to && o.name != p.name)
    {
        return Err(format!("{} also receives {}", post.name, o.name));
    }
    if post.bias.iter().chain(&post.noise).any(|&b| b != 0.0) {
        return Err(format!("{} has a bias or noise", post.name));
    }
    let timing = plan.timing[0];
    let schedule = Schedule {
        dt_s: plan.dt_s,
        present_steps: timing.present_steps,
        period_steps: timing.period_steps,
        window_steps: plan.record_every_steps,
        tau_s: if post.instantaneous {
            0.0
        } else {
            post.tau_s[0]
        },
    };
    let task = &plan.tasks[0];
    let mut y = vec![0.0; task.n_targets()];
    Ok(stationary_signature(
        &schedule,
        p.rows,
        p.cols,
        PREDICTION_WINDOWS,
        seed,
        |k, x| task.train_sample(k, x, &mut y),
    ))
}

/// [`predict`] for the sweep in `dir`: its circuit (`circuit.yaml` with the sweep's `set:`),
/// the rule draws' projection, the sweep's `seed`.
pub fn predicted(dir: &Path) -> Result<Limit, String> {
    let sweep_text =
        std::fs::read_to_string(dir.join("sweep.yaml")).map_err(|e| format!("sweep.yaml: {e}"))?;
    let sweep: SweepFile =
        serde_saphyr::from_str(&sweep_text).map_err(|e| format!("sweep.yaml: {e}"))?;
    let motif = sweep
        .axes
        .into_iter()
        .find_map(|a| a.rule_draws)
        .ok_or("the sweep has no rule_draws axis")?
        .motif;
    let manifest: serde_json::Value = std::fs::read_to_string(dir.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let seed = manifest["seed"].as_u64().unwrap_or(1);
    let source = crate::spec::read_source(&dir.join("circuit.yaml")).map_err(|d| d.to_string())?;
    let mut spec = crate::spec::parse_circuit(&source).map_err(|d| d.to_string())?;
    for entry in &sweep.set {
        let (k, v) = entry
            .split_once('=')
            .ok_or_else(|| format!("set entry `{entry}` is not PATH=VALUE"))?;
        spec = crate::spec::apply_overrides(&spec, &[(k.trim().into(), v.trim().into())])?;
    }
    let circuit = crate::circuit::build(&source, &spec).map_err(|d| d.to_string())?;
    predict(circuit, &motif, seed, dir)
}

fn flag(b: Option<bool>) -> String {
    b.map_or(String::new(), |b| b.to_string())
}

/// `decay_rules.csv`: one row per rule.
pub fn rules_table(rules: &[RuleResult]) -> String {
    let cell = crate::record::atomic::number_cell;
    let mut header: Vec<String> = vec!["draw".into()];
    if let Some(r) = rules.first() {
        header.extend(r.theta.iter().map(|(k, _)| format!("theta_{k}")));
    }
    header.extend(
        [
            "implicit_decay",
            "learns",
            "stationarity",
            "stationary_points",
            "never_falls",
            "rises",
            "holds",
            "gamma_positive",
        ]
        .map(String::from),
    );
    if let Some(r) = rules.first() {
        for p in &r.points {
            let g = style::significant(p.gamma, 4);
            header.extend([
                format!("signature@{g}"),
                format!("signature_se@{g}"),
                format!("loss@{g}"),
                format!("stationary@{g}"),
            ]);
        }
    }
    let mut out = header.join(",");
    out.push('\n');
    for r in rules {
        let mut row = vec![r.draw.to_string()];
        row.extend(r.theta.iter().map(|(_, v)| cell(*v)));
        row.extend([
            flag(r.implicit_decay),
            flag(r.learns),
            r.stationarity.name().to_string(),
            r.stationary_points().count().to_string(),
            flag(r.never_falls),
            flag(r.rises),
            flag(r.holds()),
            r.gamma_positive.map_or(String::new(), cell),
        ]);
        for p in &r.points {
            let nan_empty = |x: f64| {
                if x.is_finite() {
                    cell(x)
                } else {
                    String::new()
                }
            };
            row.extend([
                nan_empty(p.signature),
                nan_empty(p.signature_se),
                nan_empty(p.loss),
                p.stationary.to_string(),
            ]);
        }
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// The groups `decay_rules_totals.csv` counts, each with its rules.
pub fn groups(rules: &[RuleResult]) -> Vec<(String, Tally)> {
    let by = |name: &str, keep: &dyn Fn(&RuleResult) -> bool| {
        (
            name.to_string(),
            Tally::of(rules.iter().filter(|r| keep(r))),
        )
    };
    let mut out = vec![by("all", &|_| true)];
    for s in [
        Stationarity::Everywhere,
        Stationarity::WithDecay,
        Stationarity::Partly,
        Stationarity::Untested,
    ] {
        out.push(by(&format!("stationary_{}", s.name()), &|r| {
            r.stationarity == s
        }));
    }
    out.push(by("implicit_decay", &|r| r.implicit_decay == Some(true)));
    out.push(by("no_implicit_decay", &|r| {
        r.implicit_decay == Some(false)
    }));
    out.push(by("learning", &|r| r.learns == Some(true)));
    out.push(by("non_learning", &|r| r.learns == Some(false)));
    out.push(by("non_learning_no_implicit_decay", &|r| {
        r.learns == Some(false) && r.implicit_decay == Some(false)
    }));
    out
}

/// `decay_rules_totals.csv`: counts per group of rules, and on every row the predicted
/// stationary signature (mean and s.d.; empty without one).
pub fn totals_table(rules: &[RuleResult], prediction: Option<&Limit>) -> String {
    let mut out = String::from(
        "group,rules,tested,holds,never_falls,rises,at_control,positive_at_control,at_strongest,positive_at_strongest,pairs,pairs_rising,predicted_signature,predicted_signature_sd\n",
    );
    let cell = crate::record::atomic::number_cell;
    let (mean, sd) = prediction.map_or((String::new(), String::new()), |l| {
        (cell(l.mean), cell(l.sd))
    });
    for (name, t) in groups(rules) {
        out.push_str(&format!(
            "{name},{},{},{},{},{},{},{},{},{},{},{},{mean},{sd}\n",
            t.rules,
            t.tested,
            t.holds,
            t.never_falls,
            t.rises,
            t.at_control,
            t.positive_at_control,
            t.at_strongest,
            t.positive_at_strongest,
            t.pairs,
            t.pairs_rising
        ));
    }
    out
}

/// Writes `decay_rules.csv`, `decay_rules_totals.csv` and the figure for the sweep in `dir`,
/// when it is a sweep of random rules against decay; returns what it wrote.
pub fn write(dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, PlotError> {
    let Some(rules) = analyse(dir)? else {
        return Ok(Vec::new());
    };
    let prediction = predicted(dir);
    let mut written = Vec::new();
    for (name, text) in [
        ("decay_rules.csv", rules_table(&rules)),
        (
            "decay_rules_totals.csv",
            totals_table(&rules, prediction.as_ref().ok()),
        ),
    ] {
        let path = dir.join(name);
        crate::record::atomic::write_atomic(&path, &text).map_err(|source| PlotError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    if rules.is_empty() {
        return Ok(written);
    }
    let all = Tally::of(&rules);
    let predicted_note = match &prediction {
        Ok(l) => format!(
            "; band: predicted stationary value cos(W, W Σ x xᵀ), mean ± 1 s.d. over {} windows of random W (docs/sweeps.md)",
            l.windows
        ),
        Err(why) => format!("; no predicted stationary value: {why}"),
    };
    let mut legend = vec![
        ("claim holds".into(), HOLDS),
        ("does not".into(), FAILS),
        (
            format!(
                "untested (< {} stationary γ)",
                crate::measure::decay_rules::MIN_POINTS
            ),
            UNTESTED,
        ),
    ];
    if let Ok(l) = &prediction {
        legend.push((
            format!(
                "predicted stationary value {} ± {}",
                style::significant(l.mean, 2),
                style::significant(l.sd, 1)
            ),
            PREDICTED,
        ));
    }
    let header = Header {
        title: "Hebbian signature against decay, one line per random rule".into(),
        subtitle: format!(
            "{} rules; claim (never falls, rises with γ) holds for {} of {} tested; positive at the weakest γ: {} of {}, at the strongest: {} of {}",
            all.rules,
            all.holds,
            all.tested,
            all.positive_at_control,
            all.at_control,
            all.positive_at_strongest,
            all.at_strongest
        ),
        legend,
        note: format!(
            "each line joins a rule's mean signature over seeds at the γ where its runs are stationary (other γ left out); the weakest γ is the control, τ_decay far beyond the run; decay_rules.csv has every rule{predicted_note}"
        ),
    };
    written.extend(render::write(
        &DecayFigure {
            header,
            rules,
            prediction: prediction.ok(),
        },
        &dir.join("figures"),
        "decay_rules",
        formats,
    )?);
    Ok(written)
}

struct DecayFigure {
    header: Header,
    rules: Vec<RuleResult>,
    prediction: Option<Limit>,
}

impl DecayFigure {
    fn gammas(&self) -> Vec<f64> {
        self.rules
            .first()
            .map(|r| r.points.iter().map(|p| p.gamma).collect())
            .unwrap_or_default()
    }

    fn panel<DB: render::Canvas>(
        &self,
        area: &DrawingArea<DB, Shift>,
        implicit: bool,
    ) -> Drawn<super::clip::PixelRect> {
        let rules: Vec<&RuleResult> = self
            .rules
            .iter()
            .filter(|r| r.implicit_decay.unwrap_or(false) == implicit)
            .collect();
        let t = Tally::of(rules.iter().copied());
        let caption = format!(
            "{} (θ_zz_w {} 0): holds for {} of {} tested, {} untested",
            if implicit {
                "with an implicit decay −z²W"
            } else {
                "without −z²W"
            },
            if implicit { "<" } else { "≥" },
            t.holds,
            t.tested,
            t.rules - t.tested
        );
        let (top, area) = area.split_vertically(44);
        let (w, _) = top.dim_in_pixel();
        let px = render::fitting_px(&caption, style::CAPTION_PX, 16, w as i32 - 120);
        render::draw_rich(&top, &caption, px, &BLACK, HPos::Left, (100, 22))?;
        let gammas = self.gammas();
        let n = gammas.len();
        let x_ticks: Vec<f64> = (0..n).map(|k| k as f64).collect();
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(70)
            .y_label_area_size(100)
            .margin_right(20)
            .build_cartesian_2d(
                Ticked::new(-0.3..(n as f64 - 0.7), x_ticks),
                Ticked::new(-1.05..1.05, vec![-1.0, -0.5, 0.0, 0.5, 1.0]),
            )
            .map_err(fail)?;
        // The weakest γ is the control (τ_decay far beyond the run).
        let labels: Vec<String> = gammas
            .iter()
            .enumerate()
            .map(|(k, g)| {
                if k == 0 {
                    format!("{} (control)", style::significant(*g, 1))
                } else {
                    style::significant(*g, 2)
                }
            })
            .collect();
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(style::LIGHT_GREY)
            .label_style((FONT, style::TICK_PX).into_font())
            .x_label_formatter(&|v| labels.get(v.round() as usize).cloned().unwrap_or_default())
            .y_label_formatter(&|v| style::tick(*v, 2.0))
            .x_desc("γ = 1/τ_decay (1/s)")
            .y_desc("Hebbian signature")
            .axis_desc_style((FONT, style::LABEL_PX).into_font())
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(-0.3, 0.0), (n as f64 - 0.7, 0.0)],
                8,
                6,
                style::GREY.stroke_width(1),
            )))
            .map_err(fail)?;
        // The predicted band under the rules' lines, labelled inside the panel.
        if let Some(l) = &self.prediction {
            let (x0, x1) = (-0.3, n as f64 - 0.7);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, l.mean - l.sd), (x1, l.mean + l.sd)],
                    PREDICTED.mix(0.22).filled(),
                )))
                .map_err(fail)?;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x0, l.mean), (x1, l.mean)],
                    PREDICTED.stroke_width(2),
                )))
                .map_err(fail)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!(
                        "predicted stationary value {} ± {}",
                        style::significant(l.mean, 2),
                        style::significant(l.sd, 1)
                    ),
                    (x0 + 0.05, l.mean + l.sd + 0.13),
                    (FONT, style::TICK_PX).into_font().color(&PREDICTED),
                )))
                .map_err(fail)?;
        }
        // Untested rules first, so the tested ones lie on top.
        let mut ordered = rules.clone();
        ordered.sort_by_key(|r| (r.holds().is_some(), r.holds() == Some(true)));
        for r in ordered {
            let colour = match r.holds() {
                Some(true) => HOLDS,
                Some(false) => FAILS,
                None => UNTESTED,
            };
            let line: Vec<(f64, f64)> = r
                .points
                .iter()
                .enumerate()
                .filter(|(_, p)| p.stationary)
                .map(|(k, p)| (k as f64, p.signature))
                .collect();
            chart
                .draw_series(std::iter::once(PathElement::new(
                    line.clone(),
                    colour.stroke_width(2),
                )))
                .map_err(fail)?;
            chart
                .draw_series(line.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                .map_err(fail)?;
        }
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        Ok(super::clip::PixelRect {
            left: xr.start,
            top: yr.start,
            right: xr.end,
            bottom: yr.end,
        })
    }
}

impl Figure for DecayFigure {
    fn size(&self) -> (u32, u32) {
        let w = style::WIDTH + 400;
        (w, self.header.height(w) + 700)
    }

    fn draw<DB: render::Canvas>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Drawn<Vec<super::clip::PixelRect>> {
        root.fill(&WHITE).map_err(fail)?;
        let body = self.header.draw(root)?.margin(10, 10, 20, 30);
        let panels = body.split_evenly((1, 2));
        Ok(vec![
            self.panel(&panels[0], true)?,
            self.panel(&panels[1], false)?,
        ])
    }
}
