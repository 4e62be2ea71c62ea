//! `hetsim compare`: several rules on the same task and seeds as one ensemble, and the summary
//! table read back from the run directory's files.

use super::RunOptions;
use super::commands::{
    EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, build_circuit, prepare, run_instances, with_rule,
};
use crate::plan::InstanceSpec;
use crate::spec::RuleName;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

pub fn compare(path: &Path, rules: &[String], options: &RunOptions) -> i32 {
    let prepared = match prepare(path, options) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut instances = Vec::new();
    for name in rules {
        let Some(rule) = RuleName::from_name(name.trim()) else {
            let known: Vec<&str> = RuleName::ALL.iter().map(|r| r.name()).collect();
            eprintln!(
                "hetsim compare: unknown rule `{name}` (known: {})",
                known.join(", ")
            );
            return EXIT_BAD_INPUT;
        };
        let (spec, note) = match with_rule(&prepared.spec, rule) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("hetsim compare: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        if let Some(note) = note {
            eprintln!("hetsim compare: {note}");
        }
        let circuit = match build_circuit(&prepared.source, &spec) {
            Ok(c) => c,
            Err(code) => return code,
        };
        for k in 0..options.seeds as u64 {
            instances.push(InstanceSpec {
                circuit: circuit.clone(),
                seed: options.seed + k,
                label: rule.name().into(),
            });
        }
    }
    let command = format!(
        "hetsim compare {}",
        std::env::args().skip(2).collect::<Vec<_>>().join(" ")
    );
    match run_instances(path, instances, options, &command, prepared.overrides) {
        Ok((dir, outcome, plan)) => {
            println!("run directory: {}", dir.display());
            println!(
                "{} rules × {} seeds, {:.1} s simulated in {:.1} s wall",
                rules.len(),
                options.seeds,
                plan.steps as f64 * plan.dt_s,
                outcome.wall_s
            );
            match summary_table(&dir) {
                Ok(table) => print!("{table}"),
                Err(e) => eprintln!("warning: no summary: {e}"),
            }
            if outcome.failures.len() == plan.n_instances() {
                EXIT_FAILED
            } else {
                EXIT_OK
            }
        }
        Err(code) => code,
    }
}

/// Per label: values of each instance.
#[derive(Default)]
struct LabelStats {
    final_loss: Vec<f64>,
    final_accuracy: Vec<f64>,
    mean_gradient_angle: Vec<f64>,
    final_weight_angle: Vec<f64>,
    hebbian: Vec<f64>,
    time_to_10pct: Vec<Option<f64>>,
}

struct Series {
    time: Vec<f64>,
    held_out_loss: Vec<Option<f64>>,
    accuracy: Vec<Option<f64>>,
    gradient: Vec<Option<f64>>,
    weight: Vec<Option<f64>>,
    hebbian: Vec<Option<f64>>,
}

fn parse(cell: Option<&str>) -> Option<f64> {
    cell.and_then(|c| c.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn sd(v: &[f64]) -> f64 {
    let Some(m) = mean(v) else { return 0.0 };
    if v.len() < 2 {
        return 0.0;
    }
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// Reads instances.csv and metrics.csv, writes compare.csv, and returns the printed table.
pub fn summary_table(dir: &Path) -> Result<String, String> {
    let mut labels: BTreeMap<usize, String> = BTreeMap::new();
    let mut reader = csv::Reader::from_path(dir.join("instances.csv"))
        .map_err(|e| format!("{}: {e}", dir.join("instances.csv").display()))?;
    for rec in reader.records().flatten() {
        if let (Some(i), Some(l)) = (rec.get(0).and_then(|s| s.parse().ok()), rec.get(3)) {
            labels.insert(i, l.to_string());
        }
    }
    let path = dir.join("metrics.csv");
    let mut reader =
        csv::Reader::from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (c_time, c_inst, c_proj) = (col("time_s"), col("instance"), col("projection"));
    let (c_hol, c_hoa, c_ga, c_wa, c_heb) = (
        col("held_out_loss"),
        col("held_out_accuracy"),
        col("gradient_angle_deg"),
        col("weight_angle_deg"),
        col("hebbian_signature"),
    );
    let mut series: BTreeMap<usize, Series> = BTreeMap::new();
    for rec in reader.records().flatten() {
        if c_proj.and_then(|c| rec.get(c)) != Some("all") {
            continue;
        }
        let Some(inst) = c_inst.and_then(|c| rec.get(c)).and_then(|s| s.parse().ok()) else {
            continue;
        };
        let get = |c: Option<usize>| parse(c.and_then(|c| rec.get(c)));
        let s = series.entry(inst).or_insert_with(|| Series {
            time: vec![],
            held_out_loss: vec![],
            accuracy: vec![],
            gradient: vec![],
            weight: vec![],
            hebbian: vec![],
        });
        s.time.push(get(c_time).unwrap_or(0.0));
        s.held_out_loss.push(get(c_hol));
        s.accuracy.push(get(c_hoa));
        s.gradient.push(get(c_ga));
        s.weight.push(get(c_wa));
        s.hebbian.push(get(c_heb));
    }
    let mut stats: BTreeMap<String, LabelStats> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (inst, s) in &series {
        let label = labels
            .get(inst)
            .cloned()
            .unwrap_or_else(|| inst.to_string());
        if !order.contains(&label) {
            order.push(label.clone());
        }
        let st = stats.entry(label).or_default();
        let end = s.time.last().copied().unwrap_or(0.0);
        let last = |v: &[Option<f64>]| v.iter().rev().flatten().next().copied();
        if let Some(v) = last(&s.held_out_loss) {
            st.final_loss.push(v);
        }
        if let Some(v) = last(&s.accuracy) {
            st.final_accuracy.push(v);
        }
        if let Some(v) = last(&s.weight) {
            st.final_weight_angle.push(v);
        }
        let after: Vec<f64> = s
            .time
            .iter()
            .zip(&s.gradient)
            .filter(|(t, _)| **t > 0.05 * end)
            .filter_map(|(_, g)| *g)
            .collect();
        if let Some(m) = mean(&after) {
            st.mean_gradient_angle.push(m);
        }
        let second_half: Vec<f64> = s
            .time
            .iter()
            .zip(&s.hebbian)
            .filter(|(t, _)| **t > 0.5 * end)
            .filter_map(|(_, h)| *h)
            .collect();
        if let Some(m) = mean(&second_half) {
            st.hebbian.push(m);
        }
        let initial = s.held_out_loss.first().copied().flatten();
        let reached = initial.and_then(|l0| {
            s.time
                .iter()
                .zip(&s.held_out_loss)
                .find(|(_, l)| l.is_some_and(|l| l <= 0.1 * l0))
                .map(|(t, _)| *t)
        });
        st.time_to_10pct.push(reached);
    }
    let fmt_ms = |v: &[f64], digits: usize| match mean(v) {
        Some(m) => format!("{m:.digits$} ± {:.digits$}", sd(v)),
        None => "—".into(),
    };
    let mut table = String::new();
    let mut csv_out = csv::Writer::from_path(dir.join("compare.csv")).map_err(|e| e.to_string())?;
    let header = [
        "rule",
        "instances",
        "final_held_out_loss_mean",
        "final_held_out_loss_sd",
        "final_held_out_accuracy_mean",
        "final_held_out_accuracy_sd",
        "mean_gradient_angle_deg",
        "final_weight_angle_deg",
        "hebbian_signature",
        "time_to_10pct_loss_s",
        "reached_10pct",
    ];
    csv_out.write_record(header).map_err(|e| e.to_string())?;
    let _ = writeln!(
        table,
        "{:<10} {:>22} {:>18} {:>12} {:>12} {:>10} {:>16}",
        "rule", "held-out loss", "accuracy", "grad angle", "weight ang", "hebbian", "t(10% loss)"
    );
    for label in &order {
        let st = &stats[label];
        let reached: Vec<f64> = st.time_to_10pct.iter().flatten().copied().collect();
        let n = st.time_to_10pct.len();
        let t10 = match mean(&reached) {
            Some(m) => format!("{m:.2} s ({}/{n})", reached.len()),
            None => format!("never (0/{n})"),
        };
        let opt = |v: &[f64], d: usize| {
            mean(v)
                .map(|m| format!("{m:.d$}"))
                .unwrap_or_else(|| "—".into())
        };
        let _ = writeln!(
            table,
            "{:<10} {:>22} {:>18} {:>12} {:>12} {:>10} {:>16}",
            label,
            fmt_ms(&st.final_loss, 4),
            fmt_ms(&st.final_accuracy, 3),
            opt(&st.mean_gradient_angle, 1).to_string()
                + if st.mean_gradient_angle.is_empty() {
                    ""
                } else {
                    "°"
                },
            opt(&st.final_weight_angle, 1).to_string()
                + if st.final_weight_angle.is_empty() {
                    ""
                } else {
                    "°"
                },
            opt(&st.hebbian, 3),
            t10
        );
        let cell = |v: Option<f64>| v.map(|x| format!("{x:.6e}")).unwrap_or_default();
        csv_out
            .write_record([
                label.clone(),
                n.to_string(),
                cell(mean(&st.final_loss)),
                cell(mean(&st.final_loss).map(|_| sd(&st.final_loss))),
                cell(mean(&st.final_accuracy)),
                cell(mean(&st.final_accuracy).map(|_| sd(&st.final_accuracy))),
                cell(mean(&st.mean_gradient_angle)),
                cell(mean(&st.final_weight_angle)),
                cell(mean(&st.hebbian)),
                cell(mean(&reached)),
                format!("{}/{n}", reached.len()),
            ])
            .map_err(|e| e.to_string())?;
    }
    csv_out.flush().map_err(|e| e.to_string())?;
    Ok(table)
}
