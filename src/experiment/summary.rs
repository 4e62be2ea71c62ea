//! The per-rule summary of a run (`hetsim run` and `compare` print it; `compare.csv` holds it),
//! computed while the run streams, from the same rows the run directory receives.
//!
//! Per instance, from its `projection = all` rows: the final held-out loss and accuracy, the
//! mean gradient angle after the first 5% of the planned duration (the initial transient), the
//! final weight angle, the mean Hebbian signature over the second half, and the first time the
//! held-out loss reached 10% of its initial value. The gradient angle is also kept per hidden
//! projection (a plastic forward projection whose post population is not the output): the
//! output layer reads 0° under every rule that delivers the error there, so the `all` angle
//! dilutes the hidden layers' misalignment. Per label, means and standard deviations over the
//! instances that did not diverge; diverged instances are counted, never averaged.

use crate::backend::Precision;
use crate::backend::state::{Field, StateError};
use crate::plan::Plan;
use crate::record::metrics::{Metric, Row};
use crate::record::tables::Table;
use crate::record::{Ending, Failure, RecordError, Sink};
use std::fmt::Write;
use std::path::Path;

/// Running sums of one instance.
#[derive(Clone, Debug, Default)]
struct InstanceAcc {
    initial_loss: Option<f64>,
    final_loss: Option<f64>,
    final_accuracy: Option<f64>,
    final_weight_angle: Option<f64>,
    gradient_sum: f64,
    gradient_n: usize,
    /// Per hidden projection (in `Summarizer::hidden` order): sum and count of its angles.
    hidden_gradient: Vec<(f64, usize)>,
    hebbian_sum: f64,
    hebbian_n: usize,
    time_to_10pct: Option<f64>,
}

/// A [`Sink`] that keeps O(instances) numbers and turns them into a [`Summary`].
pub struct Summarizer {
    labels: Vec<String>,
    /// Names of the hidden projections whose gradient angle is reported on its own.
    hidden: Vec<String>,
    end_s: f64,
    acc: Vec<InstanceAcc>,
    diverged: Vec<bool>,
}

impl Summarizer {
    pub fn new(plan: &Plan) -> Summarizer {
        let hidden = hidden_projections(plan);
        let acc = InstanceAcc {
            hidden_gradient: vec![(0.0, 0); hidden.len()],
            ..InstanceAcc::default()
        };
        Summarizer {
            labels: plan.labels.clone(),
            hidden,
            end_s: plan.steps as f64 * plan.dt_s,
            acc: vec![acc; plan.n_instances()],
            diverged: vec![false; plan.n_instances()],
        }
    }

    fn observe(&mut self, row: &Row) {
        let finite = |m: Metric| row.get(m).filter(|v| v.is_finite());
        if row.projection != "all" {
            let k = self.hidden.iter().position(|h| h == &row.projection);
            if let Some((k, a)) = k.zip(self.acc.get_mut(row.instance))
                && let Some(v) = finite(Metric::GradientAngle)
                && row.time_s > 0.05 * self.end_s
            {
                a.hidden_gradient[k].0 += v;
                a.hidden_gradient[k].1 += 1;
            }
            return;
        }
        let Some(a) = self.acc.get_mut(row.instance) else {
            return;
        };
        if let Some(l) = finite(Metric::HeldOutLoss) {
            if a.initial_loss.is_none() {
                a.initial_loss = Some(l);
            }
            a.final_loss = Some(l);
            if a.time_to_10pct.is_none() && a.initial_loss.is_some_and(|l0| l <= 0.1 * l0) {
                a.time_to_10pct = Some(row.time_s);
            }
        }
        if let Some(v) = finite(Metric::HeldOutAccuracy) {
            a.final_accuracy = Some(v);
        }
        if let Some(v) = finite(Metric::WeightAngle) {
            a.final_weight_angle = Some(v);
        }
        if let Some(v) = finite(Metric::GradientAngle)
            && row.time_s > 0.05 * self.end_s
        {
            a.gradient_sum += v;
            a.gradient_n += 1;
        }
        if let Some(v) = finite(Metric::HebbianSignature)
            && row.time_s > 0.5 * self.end_s
        {
            a.hebbian_sum += v;
            a.hebbian_n += 1;
        }
    }

    fn mark(&mut self, failures: &[Failure]) {
        for f in failures {
            if let Some(d) = self.diverged.get_mut(f.instance) {
                *d = true;
            }
        }
    }

    /// The summary of everything seen so far, one entry per label in order of appearance.
    pub fn summary(&self) -> Summary {
        let mut labels: Vec<LabelSummary> = Vec::new();
        for (e, label) in self.labels.iter().enumerate() {
            let k = match labels.iter().position(|l| &l.label == label) {
                Some(k) => k,
                None => {
                    labels.push(LabelSummary::new(label, &self.hidden));
                    labels.len() - 1
                }
            };
            let s = &mut labels[k];
            s.instances += 1;
            if self.diverged[e] {
                s.diverged += 1;
                continue;
            }
            let a = &self.acc[e];
            s.initial_loss.extend(a.initial_loss);
            s.final_loss.extend(a.final_loss);
            s.final_accuracy.extend(a.final_accuracy);
            s.final_weight_angle.extend(a.final_weight_angle);
            if a.gradient_n > 0 {
                s.mean_gradient_angle
                    .push(a.gradient_sum / a.gradient_n as f64);
            }
            for (k, &(sum, n)) in a.hidden_gradient.iter().enumerate() {
                if n > 0 {
                    s.hidden_gradient_angle[k].1.push(sum / n as f64);
                }
            }
            if a.hebbian_n > 0 {
                s.hebbian.push(a.hebbian_sum / a.hebbian_n as f64);
            }
            s.time_to_10pct.push(a.time_to_10pct);
        }
        Summary {
            labels,
            setting: None,
        }
    }
}

impl Sink for Summarizer {
    fn instances(&mut self, _: &Table) -> Result<(), RecordError> {
        Ok(())
    }
    fn rows(&mut self, rows: &[Row]) -> Result<(), RecordError> {
        rows.iter().for_each(|r| self.observe(r));
        Ok(())
    }
    fn failures(&mut self, failures: &[Failure]) -> Result<(), RecordError> {
        self.mark(failures);
        Ok(())
    }
    fn finish(&mut self, ending: &Ending) -> Result<(), RecordError> {
        self.mark(&ending.failures);
        Ok(())
    }
    /// The running sums, bit for bit (hex), so a resumed run summarises as an uninterrupted one.
    fn checkpoint(&mut self) -> Result<serde_json::Value, RecordError> {
        let mut out = Vec::new();
        self.acc.save(&mut out);
        self.diverged.save(&mut out);
        Ok(out
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into())
    }
}

impl Summarizer {
    /// Takes back the sums a checkpoint saved ([`Sink::checkpoint`]).
    pub fn restore(&mut self, saved: &serde_json::Value) -> Result<(), String> {
        let text = saved.as_str().ok_or("the summary's sums are missing")?;
        let bytes = (0..text.len() / 2)
            .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2).unwrap_or("?"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| "the summary's sums are not hex")?;
        crate::backend::state::load_all("summary", &bytes, |input| {
            self.acc.load(input)?;
            self.diverged.load(input)
        })
        .map_err(|e| e.to_string())
    }
}

/// Options as a flag and the value (0 when absent).
fn save_option(x: &Option<f64>, out: &mut Vec<u8>) {
    x.is_some().save(out);
    x.unwrap_or(0.0).save(out);
}

fn load_option(x: &mut Option<f64>, input: &mut &[u8]) -> Result<(), StateError> {
    let (mut some, mut v) = (false, 0.0f64);
    some.load(input)?;
    v.load(input)?;
    *x = some.then_some(v);
    Ok(())
}

impl Field for InstanceAcc {
    fn save(&self, out: &mut Vec<u8>) {
        for x in [
            &self.initial_loss,
            &self.final_loss,
            &self.final_accuracy,
            &self.final_weight_angle,
            &self.time_to_10pct,
        ] {
            save_option(x, out);
        }
        self.gradient_sum.save(out);
        self.gradient_n.save(out);
        self.hidden_gradient.save(out);
        self.hebbian_sum.save(out);
        self.hebbian_n.save(out);
    }
    fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError> {
        for x in [
            &mut self.initial_loss,
            &mut self.final_loss,
            &mut self.final_accuracy,
            &mut self.final_weight_angle,
            &mut self.time_to_10pct,
        ] {
            load_option(x, input)?;
        }
        self.gradient_sum.load(input)?;
        self.gradient_n.load(input)?;
        self.hidden_gradient.load(input)?;
        self.hebbian_sum.load(input)?;
        self.hebbian_n.load(input)
    }
}

/// The plastic forward projections whose post population is not the output, in plan order —
/// the ones whose gradient angle can differ from 0° when the error reaches the output exactly.
/// Empty when gradient alignment is not measured.
pub fn hidden_projections(plan: &Plan) -> Vec<String> {
    let (Some(out), true) = (
        plan.output.as_ref(),
        plan.measures(crate::spec::Measure::GradientAlignment),
    ) else {
        return vec![];
    };
    plan.projections
        .iter()
        .filter(|p| p.motif.is_some() && p.forward && p.to != out.output)
        .map(|p| p.name.clone())
        .collect()
}

/// Per-instance values of one label (diverged instances left out).
#[derive(Clone, Debug, PartialEq)]
pub struct LabelSummary {
    pub label: String,
    pub instances: usize,
    pub diverged: usize,
    /// Each included instance's held-out loss at its first recorded window (t = 0).
    pub initial_loss: Vec<f64>,
    pub final_loss: Vec<f64>,
    pub final_accuracy: Vec<f64>,
    pub mean_gradient_angle: Vec<f64>,
    /// Per hidden projection: its name and each instance's mean gradient angle (empty for a
    /// projection this label's circuit lacks or does not measure).
    pub hidden_gradient_angle: Vec<(String, Vec<f64>)>,
    pub final_weight_angle: Vec<f64>,
    pub hebbian: Vec<f64>,
    /// One entry per included instance: when it reached 10% of its initial loss, if it did.
    pub time_to_10pct: Vec<Option<f64>>,
}

impl LabelSummary {
    fn new(label: &str, hidden: &[String]) -> LabelSummary {
        LabelSummary {
            label: label.into(),
            instances: 0,
            diverged: 0,
            initial_loss: vec![],
            final_loss: vec![],
            final_accuracy: vec![],
            mean_gradient_angle: vec![],
            hidden_gradient_angle: hidden.iter().map(|h| (h.clone(), vec![])).collect(),
            final_weight_angle: vec![],
            hebbian: vec![],
            time_to_10pct: vec![],
        }
    }
    /// Instances averaged over (those that did not diverge).
    pub fn included(&self) -> usize {
        self.instances - self.diverged
    }
    /// Each instance's mean gradient angle on hidden projection `name` (empty if none).
    pub fn hidden_angles(&self, name: &str) -> &[f64] {
        self.hidden_gradient_angle
            .iter()
            .find(|(h, _)| h == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }
    fn reached(&self) -> Vec<f64> {
        self.time_to_10pct.iter().flatten().copied().collect()
    }
}

/// Mean and sample standard deviation (None for no values; sd None for one value).
pub fn mean_sd(v: &[f64]) -> Option<(f64, Option<f64>)> {
    if v.is_empty() {
        return None;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let sd = (v.len() > 1)
        .then(|| (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt());
    Some((m, sd))
}

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub labels: Vec<LabelSummary>,
    /// The backend and precision that ran ("cpu (f64, 8 lanes, …)", and for f32 a line on its
    /// drift), for the table's first lines; None where the caller did not say.
    pub setting: Option<String>,
}

/// What f32 costs in accuracy against the f64 reference, said wherever a table comes from an
/// f32 run: measured on the main job (`compare circuits/teacher_fa.yaml --rules sgd,fa,dfa,kp
/// --seeds 3`, 30 s; OpenCL on PoCL, AMD EPYC), final held-out loss against the CPU's f64.
pub const F32_DRIFT: &str = "f32: over the 30 s main job the final held-out loss of sgd, fa and dfa \
     stays within 1.2e-5 of f64, kp's is 0.3% off (its decay factor rounds in f32; docs/speed.md); \
     --precision f64 for reference numbers";

/// One line per column of the table, in its order: `(column, meaning)`.
const FOOTER: [(&str, &str); 9] = [
    (
        "instances",
        "instances run; diverged ones are counted here and left out of every mean",
    ),
    (
        "initial loss",
        "held-out loss ½‖y* − y‖² at t = 0 (each cell: mean and s.d. over instances)",
    ),
    (
        "held-out loss",
        "the same at the end of the run (mean over the held-out samples)",
    ),
    (
        "held-out acc.",
        "fraction of held-out samples classified right at the end; — for a regression task",
    ),
    (
        "grad angle",
        "∠(rule's update, backprop's) over all plastic projections (output layer included), mean after the first 5%",
    ),
    (
        "grad ∠ P",
        "the same for hidden projection P alone (the output layer, fed the error itself, reads 0° under every rule)",
    ),
    (
        "weight angle",
        "∠(B, Wᵀ) between feedback matrices and the forward matrices they stand for, at the end",
    ),
    (
        "hebbian",
        "Hebbian signature cos(ΔW, ∫ u xᵀ dt), all plastic projections, mean over the run's second half (> 0 Hebbian)",
    ),
    (
        "t(10% loss)",
        "mean first time the held-out loss fell to 10% of its start (instances that did/included); sgd from small weights starts at a saddle (hidden update ∝ W2 ≈ 0), hence late",
    ),
];

/// `mean ± sd` with `digits` decimals, the mean alone for one value, `—` for none.
fn mean_text(v: &[f64], digits: usize, unit: &str) -> String {
    match mean_sd(v) {
        None => "—".into(),
        Some((m, None)) => format!("{m:.digits$}{unit}"),
        Some((m, Some(sd))) => format!("{m:.digits$} ± {sd:.digits$}{unit}"),
    }
}

impl Summary {
    /// Hidden projections with an angle under at least one label, in plan order.
    fn hidden_columns(&self) -> Vec<String> {
        let mut names: Vec<String> = vec![];
        for s in &self.labels {
            for (h, v) in &s.hidden_gradient_angle {
                if !v.is_empty() && !names.contains(h) {
                    names.push(h.clone());
                }
            }
        }
        names
    }

    /// The same summary with the backend that ran (its description names the precision), for
    /// the table's first line; an f32 run's table also says how far f32 drifts.
    pub fn with_backend(mut self, described: impl Into<String>, precision: Precision) -> Summary {
        let mut setting = described.into();
        if precision == Precision::F32 {
            setting.push_str(&format!("\n({F32_DRIFT})"));
        }
        self.setting = Some(setting);
        self
    }

    /// The table `run` and `compare` print: a line naming the backend and precision (and,
    /// for f32, its measured drift), the columns, and a footer with one line per column.
    pub fn table(&self) -> String {
        let mut t = String::new();
        if let Some(setting) = &self.setting {
            let _ = writeln!(t, "backend: {setting}");
        }
        let hidden = self.hidden_columns();
        let hidden_head: String = hidden
            .iter()
            .map(|h| format!(" {:>16}", format!("grad ∠ {h}")))
            .collect();
        let _ = writeln!(
            t,
            "{:<10} {:>9} {:>16} {:>18} {:>15} {:>12}{hidden_head} {:>14} {:>14} {:>16}",
            "rule",
            "instances",
            "initial loss",
            "held-out loss",
            "held-out acc.",
            "grad angle",
            "weight angle",
            "hebbian",
            "t(10% loss)"
        );
        for s in &self.labels {
            let counted = if s.diverged > 0 {
                format!("{}/{} ({} div.)", s.included(), s.instances, s.diverged)
            } else {
                format!("{}", s.instances)
            };
            let reached = s.reached();
            let n = s.included();
            // A circuit without a held-out loss (Oja's) has no time to 10% either.
            let t10 = if n == 0 || s.final_loss.is_empty() {
                "—".into()
            } else {
                match mean_sd(&reached) {
                    Some((m, _)) => format!("{m:.2} s ({}/{n})", reached.len()),
                    None => format!("never (0/{n})"),
                }
            };
            let hidden_cells: String = hidden
                .iter()
                .map(|h| format!(" {:>16}", mean_text(s.hidden_angles(h), 1, "°")))
                .collect();
            let _ = writeln!(
                t,
                "{:<10} {:>9} {:>16} {:>18} {:>15} {:>12}{hidden_cells} {:>14} {:>14} {:>16}",
                s.label,
                counted,
                mean_text(&s.initial_loss, 3, ""),
                mean_text(&s.final_loss, 4, ""),
                mean_text(&s.final_accuracy, 3, ""),
                mean_text(&s.mean_gradient_angle, 1, "°"),
                mean_text(&s.final_weight_angle, 1, "°"),
                mean_text(&s.hebbian, 3, ""),
                t10
            );
        }
        for (column, meaning) in FOOTER {
            if column == "grad ∠ P" && hidden.is_empty() {
                continue;
            }
            let _ = writeln!(t, "  {column}: {meaning}");
        }
        if self.labels.iter().any(|s| s.diverged > 0) {
            let _ = writeln!(
                t,
                "(diverged instances are counted but left out of every mean; see manifest.json `failures`)"
            );
        }
        t
    }

    /// `compare.csv`: one row per label.
    pub fn write_csv(&self, path: &Path) -> Result<(), RecordError> {
        let err = |source| RecordError::Csv {
            path: path.to_path_buf(),
            source,
        };
        let mut w = csv::Writer::from_path(path).map_err(err)?;
        let hidden = self.hidden_columns();
        let mut head: Vec<String> = [
            "rule",
            "instances",
            "included",
            "diverged",
            "final_held_out_loss_mean",
            "final_held_out_loss_sd",
            "final_held_out_accuracy_mean",
            "final_held_out_accuracy_sd",
            "mean_gradient_angle_deg",
            "final_weight_angle_deg",
            "hebbian_signature",
            "time_to_10pct_loss_s",
            "reached_10pct",
        ]
        .map(String::from)
        .to_vec();
        head.extend(
            hidden
                .iter()
                .map(|h| format!("mean_gradient_angle_deg_{h}")),
        );
        // Added after every older column, so readers that index by name or position keep
        // working.
        head.extend(["initial_held_out_loss_mean", "initial_held_out_loss_sd"].map(String::from));
        w.write_record(&head).map_err(err)?;
        let cell = |v: Option<f64>| v.map(|x| format!("{x:.6e}")).unwrap_or_default();
        let mean = |v: &[f64]| mean_sd(v).map(|(m, _)| m);
        let sd = |v: &[f64]| mean_sd(v).and_then(|(_, s)| s);
        for s in &self.labels {
            let reached = s.reached();
            let mut record = vec![
                s.label.clone(),
                s.instances.to_string(),
                s.included().to_string(),
                s.diverged.to_string(),
                cell(mean(&s.final_loss)),
                cell(sd(&s.final_loss)),
                cell(mean(&s.final_accuracy)),
                cell(sd(&s.final_accuracy)),
                cell(mean(&s.mean_gradient_angle)),
                cell(mean(&s.final_weight_angle)),
                cell(mean(&s.hebbian)),
                cell(mean(&reached)),
                format!("{}/{}", reached.len(), s.included()),
            ];
            record.extend(hidden.iter().map(|h| cell(mean(s.hidden_angles(h)))));
            record.push(cell(mean(&s.initial_loss)));
            record.push(cell(sd(&s.initial_loss)));
            w.write_record(&record).map_err(err)?;
        }
        w.flush().map_err(|source| RecordError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: f64, e: usize, loss: f64) -> Row {
        Row {
            time_s: t,
            instance: e,
            projection: "all".into(),
            held_out_loss: Some(loss),
            ..Row::default()
        }
    }

    fn summarizer(labels: &[&str]) -> Summarizer {
        Summarizer {
            labels: labels.iter().map(|s| s.to_string()).collect(),
            hidden: vec![],
            end_s: 1.0,
            acc: vec![InstanceAcc::default(); labels.len()],
            diverged: vec![false; labels.len()],
        }
    }

    #[test]
    fn a_diverged_instance_is_counted_but_never_averaged() {
        let mut s = summarizer(&["fa", "fa", "fa"]);
        s.rows(&[row(0.0, 0, 1.0), row(0.0, 1, 1.0), row(0.0, 2, 1.0)])
            .unwrap();
        s.rows(&[row(1.0, 0, 0.05), row(1.0, 1, 0.3), row(1.0, 2, 2.2e6)])
            .unwrap();
        s.failures(&[Failure {
            instance: 2,
            seed: 3,
            label: "fa".into(),
            time_s: 1.0,
            message: "diverged".into(),
        }])
        .unwrap();
        let summary = s.summary();
        let fa = &summary.labels[0];
        assert_eq!((fa.instances, fa.included(), fa.diverged), (3, 2, 1));
        let (mean, sd) = mean_sd(&fa.final_loss).unwrap();
        assert!((mean - 0.175).abs() < 1e-12, "{mean}");
        assert!((sd.unwrap() - (0.125f64 * 0.125 * 2.0).sqrt()).abs() < 1e-12);
        // One of the two included instances reached 10% of its initial loss.
        assert_eq!(fa.time_to_10pct, vec![Some(1.0), None]);
        let table = summary.table();
        assert!(table.contains("2/3 (1 div.)"), "{table}");
        assert!(table.contains("0.1750 ± 0.1768"), "{table}");
        assert!(!table.contains("2200000"), "{table}");
    }

    #[test]
    fn hidden_projections_get_their_own_angle_column() {
        let mut s = summarizer(&["fa", "sgd"]);
        s.hidden = vec!["W1".into()];
        for a in &mut s.acc {
            a.hidden_gradient = vec![(0.0, 0)];
        }
        let angle = |e: usize, p: &str, a: f64| Row {
            time_s: 0.5,
            instance: e,
            projection: p.into(),
            gradient_angle_deg: Some(a),
            ..Row::default()
        };
        s.rows(&[
            angle(0, "W1", 80.0),
            angle(0, "W2", 0.0),
            angle(0, "all", 25.0),
            angle(1, "W1", 0.0),
            angle(1, "all", 0.0),
        ])
        .unwrap();
        let summary = s.summary();
        assert_eq!(summary.labels[0].hidden_angles("W1"), &[80.0]);
        assert_eq!(summary.labels[0].mean_gradient_angle, vec![25.0]);
        assert_eq!(summary.labels[1].hidden_angles("W1"), &[0.0]);
        let table = summary.table();
        assert!(table.contains("grad ∠ W1"), "{table}");
        assert!(table.contains("80.0°"), "{table}");
        assert!(!table.contains("grad ∠ W2"), "{table}");
    }

    #[test]
    fn no_loss_means_no_time_to_ten_percent() {
        let mut s = summarizer(&["oja"]);
        s.rows(&[Row {
            time_s: 0.5,
            instance: 0,
            projection: "all".into(),
            hebbian_signature: Some(0.9),
            ..Row::default()
        }])
        .unwrap();
        let table = s.summary().table();
        assert!(!table.contains("never"), "{table}");
    }

    #[test]
    fn gradient_angles_are_averaged_after_the_first_five_percent() {
        let mut s = summarizer(&["sgd"]);
        let angle = |t: f64, a: f64| Row {
            time_s: t,
            instance: 0,
            projection: "all".into(),
            gradient_angle_deg: Some(a),
            ..Row::default()
        };
        s.rows(&[angle(0.01, 90.0), angle(0.5, 10.0), angle(1.0, 20.0)])
            .unwrap();
        let summary = s.summary();
        assert_eq!(summary.labels[0].mean_gradient_angle, vec![15.0]);
        // This run records no loss: the time to 10% of it is not a number, not "never".
        let table = summary.table();
        assert!(!table.contains("never"), "{table}");
        assert!(
            table.lines().nth(1).unwrap().trim_end().ends_with('—'),
            "{table}"
        );
    }

    #[test]
    fn the_table_names_its_backend_and_explains_every_column() {
        let mut s = summarizer(&["sgd", "fa"]);
        s.rows(&[
            row(0.0, 0, 10.0),
            row(0.0, 1, 12.0),
            row(1.0, 0, 0.5),
            row(1.0, 1, 2.0),
        ])
        .unwrap();
        let plain = s.summary().table();
        assert!(plain.lines().next().unwrap().starts_with("rule"), "{plain}");
        let table = s
            .summary()
            .with_backend("cpu (f64, 8 lanes, 2 threads, avx2)", Precision::F64)
            .table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "backend: cpu (f64, 8 lanes, 2 threads, avx2)");
        let head = lines[1];
        for column in [
            "instances",
            "initial loss",
            "held-out loss",
            "held-out acc.",
            "grad angle",
            "weight angle",
            "hebbian",
            "t(10% loss)",
        ] {
            assert!(head.contains(column), "{column} in {head}");
            // Each column explained on a footer line of its own.
            assert_eq!(
                lines
                    .iter()
                    .filter(|l| l.starts_with(&format!("  {column}: ")))
                    .count(),
                1,
                "{column}: {table}"
            );
        }
        // The initial loss is each instance's first held-out loss: 10 for sgd.
        assert!(lines[2].contains("10.000"), "{}", lines[2]);
        // No hidden projection here, so no line for grad ∠ P.
        assert!(!table.contains("grad ∠ P"), "{table}");
        assert!(table.contains("second half"), "{table}");
        // Under f32 the drift is said under the backend line.
        let f32 = s
            .summary()
            .with_backend("opencl (f32, …)", Precision::F32)
            .table();
        assert!(
            f32.lines().nth(1).unwrap().contains("kp's is 0.3% off"),
            "{f32}"
        );
    }

    #[test]
    fn compare_csv_keeps_its_columns_and_adds_the_initial_loss() {
        let mut s = summarizer(&["fa"]);
        s.hidden = vec!["W1".into()];
        s.acc[0].hidden_gradient = vec![(0.0, 0)];
        s.rows(&[
            row(0.0, 0, 4.0),
            Row {
                time_s: 0.5,
                instance: 0,
                projection: "W1".into(),
                gradient_angle_deg: Some(30.0),
                ..Row::default()
            },
            row(1.0, 0, 1.0),
        ])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compare.csv");
        s.summary().write_csv(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let head: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        // The columns tests and Python read, in their old order, then the new ones.
        assert_eq!(
            head,
            vec![
                "rule",
                "instances",
                "included",
                "diverged",
                "final_held_out_loss_mean",
                "final_held_out_loss_sd",
                "final_held_out_accuracy_mean",
                "final_held_out_accuracy_sd",
                "mean_gradient_angle_deg",
                "final_weight_angle_deg",
                "hebbian_signature",
                "time_to_10pct_loss_s",
                "reached_10pct",
                "mean_gradient_angle_deg_W1",
                "initial_held_out_loss_mean",
                "initial_held_out_loss_sd",
            ]
        );
        let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
        assert_eq!(row[14].parse::<f64>().unwrap(), 4.0);
    }

    #[test]
    fn a_loss_that_never_fell_to_ten_percent_says_never() {
        let mut s = summarizer(&["fa"]);
        s.rows(&[row(0.0, 0, 1.0), row(1.0, 0, 0.5)]).unwrap();
        let table = s.summary().table();
        assert!(table.contains("never (0/1)"), "{table}");
    }
}
