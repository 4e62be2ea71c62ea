//! A sweep file read and checked against its circuit: the axes resolved, every point expanded
//! and its circuits built once (so a bad value is refused before anything runs), the summary
//! columns checked, and each point's ensemble key and cost noted for packing.

use super::SweepError;
use super::axes::{self, Axis};
use super::spec::{Stat, SummarySpec, SweepSpec};
use super::stats::{measure_of, metric_named};
use crate::circuit::{self, Circuit};
use crate::experiment::CircuitSource;
use crate::experiment::design::{rule_label, with_rule};
use crate::record::metrics::{COLUMNS, Metric};
use crate::spec::{CircuitSpec, Diagnostics, RuleName, SourceFile, YamlPath};
use std::path::{Path, PathBuf};

/// One point of the sweep.
#[derive(Clone, Debug)]
pub struct Point {
    /// Position in the sweep's expansion (grid order).
    pub index: usize,
    /// The axis values in axis units (ratios, seconds, numbers).
    pub values: Vec<f64>,
    /// What each axis resolved to (a ratio axis: seconds or the number it set).
    pub resolved: Vec<f64>,
    pub identity: String,
    pub id: String,
    /// The overrides that make the point out of the circuit.
    pub sets: Vec<(String, String)>,
    /// Points with equal keys can share an ensemble.
    pub key: String,
    /// Estimated memory of one instance (the largest of its rules), bytes.
    pub instance_bytes: f64,
    /// Synapse-steps of all the point's instances.
    pub synapse_steps: f64,
}

/// Everything a sweep needs, checked.
pub struct Setup {
    pub spec: SweepSpec,
    /// The sweep file.
    pub source: SourceFile,
    /// The circuit file and its spec with the sweep's fixed overrides (and the measurements
    /// the summary needs) applied.
    pub circuit_source: SourceFile,
    pub base: CircuitSpec,
    /// Where the circuit's relative data paths resolve.
    pub base_dir: PathBuf,
    pub axes: Vec<Axis>,
    /// The rules swapped in, or `[None]`: the circuit's own.
    pub rules: Vec<Option<RuleName>>,
    pub points: Vec<Point>,
    pub stats: Vec<(SummarySpec, Metric)>,
}

impl Setup {
    /// Instances per point: one per rule and seed.
    pub fn instances_per_point(&self) -> usize {
        self.rules.len() * self.spec.seeds
    }

    /// The summary columns, in order.
    pub fn stat_columns(&self) -> Vec<String> {
        self.stats.iter().map(|(s, _)| s.column()).collect()
    }

    /// The axis columns, in order.
    pub fn axis_columns(&self) -> Vec<String> {
        self.axes.iter().flat_map(Axis::columns).collect()
    }

    /// A point's axis cells, matching [`Setup::axis_columns`].
    pub fn axis_cells(&self, p: &Point) -> Vec<String> {
        let mut out = Vec::new();
        for ((a, v), r) in self.axes.iter().zip(&p.values).zip(&p.resolved) {
            out.push(crate::record::atomic::number_cell(*v));
            if a.ratio.is_some() {
                out.push(crate::record::atomic::number_cell(*r));
            }
        }
        out
    }

    /// The labelled circuits of a point (one per rule).
    pub fn point_circuits(&self, p: &Point) -> Result<Vec<(String, Circuit)>, SweepError> {
        point_circuits(&self.base, &self.circuit_source, &self.rules, p)
    }
}

fn point_circuits(
    base: &CircuitSpec,
    source: &SourceFile,
    rules: &[Option<RuleName>],
    p: &Point,
) -> Result<Vec<(String, Circuit)>, SweepError> {
    let point_error = |message: String| SweepError::Point {
        identity: p.identity.clone(),
        message,
    };
    let spec = crate::spec::apply_overrides(base, &p.sets).map_err(point_error)?;
    let mut out = Vec::new();
    for rule in rules {
        let spec = match rule {
            Some(r) => {
                with_rule(&spec, *r)
                    .map_err(|e| point_error(e.to_string()))?
                    .0
            }
            None => spec.clone(),
        };
        let c = circuit::build(source, &spec).map_err(|d| point_error(d.to_string()))?;
        out.push((rule_label(&spec), c));
    }
    Ok(out)
}

/// Reads and checks a sweep file (`text` instead of the file's contents when given).
pub fn load(path: &Path, text: Option<String>) -> Result<Setup, SweepError> {
    let source = match text {
        Some(t) => SourceFile::from_text(path, t),
        None => crate::spec::read_source(path).map_err(SweepError::Input)?,
    };
    let spec: SweepSpec =
        crate::spec::document::parse_document(&source).map_err(SweepError::Input)?;
    let at = |p: YamlPath, m: String, h: String| source.diagnostic(p, m, Some(h));
    let mut errors = Vec::new();
    if spec.seeds == 0 {
        errors.push(at(
            YamlPath::of(&["seeds"]),
            "seeds must be at least 1".into(),
            "the number of instances per point and rule".into(),
        ));
    }
    if spec.ensemble_size == Some(0) {
        errors.push(at(
            YamlPath::of(&["ensemble_size"]),
            "ensemble_size must be at least 1".into(),
            "instances per ensemble; leave it out to size ensembles for the backend".into(),
        ));
    }
    let named = CircuitSource::named_by(path, &spec.circuit, &spec.set)?;
    let circuit_path = named.path.clone();
    let (circuit_source, mut base) = named.load()?;
    if !spec.keep.traces {
        base.record.traces = crate::spec::Time::from_seconds(0.0);
    }
    // Probes name instances of one run; a sweep packs its points into ensembles of its own
    // choosing, so instance indices would mean nothing there: sweeps record no probes.
    base.record.probes.clear();
    base.record.weights = None;
    // The summary's measurements, recorded whatever the circuit asks for.
    let mut stats = Vec::new();
    for (i, s) in spec.summary.iter().enumerate() {
        let p = YamlPath::of(&["summary"]).index(i);
        let Some(metric) = metric_named(&s.measure) else {
            errors.push(at(
                p.key("measure"),
                format!("`{}` is not a column of metrics.csv", s.measure),
                format!("one of: {}", COLUMNS[3..].join(", ")),
            ));
            continue;
        };
        let bad_fraction = matches!(s.stat, Stat::MeanLast(f) if !(f > 0.0 && f <= 1.0));
        if bad_fraction {
            errors.push(at(
                p.key("stat"),
                "mean_last takes a fraction of the run in (0, 1]".into(),
                "e.g. `stat: {mean_last: 0.2}` for the last fifth".into(),
            ));
        }
        let m = measure_of(metric);
        if !base.record.measure.contains(&m) {
            base.record.measure.push(m);
        }
        stats.push((s.clone(), metric));
    }
    let mut columns: Vec<String> = Vec::new();
    for (i, (s, _)) in stats.iter().enumerate() {
        if columns.contains(&s.column()) {
            errors.push(at(
                YamlPath::of(&["summary"]).index(i),
                format!("the summary column `{}` is listed twice", s.column()),
                "give one of them a `name:`".into(),
            ));
        }
        columns.push(s.column());
    }
    let rules: Vec<Option<RuleName>> = if spec.rules.is_empty() {
        vec![None]
    } else {
        for (i, r) in spec.rules.iter().enumerate() {
            if spec.rules[..i].contains(r) {
                errors.push(at(
                    YamlPath::of(&["rules"]).index(i),
                    format!("the rule `{}` is listed twice", r.name()),
                    "list each rule once (`seeds:` gives repeats)".into(),
                ));
            }
        }
        if base.learning.is_none() {
            errors.push(at(
                YamlPath::of(&["rules"]),
                "rules are swapped into the circuit's `learning:` block, and this circuit has none"
                    .into(),
                "leave `rules:` out to sweep the circuit's own motifs".into(),
            ));
        }
        spec.rules.iter().map(|r| Some(*r)).collect()
    };
    let axes = match axes::resolve(&spec, &source, &base) {
        Ok(a) => a,
        Err(e) => {
            errors.extend(e);
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(SweepError::Input(Diagnostics(errors)));
    }
    // Summary projections must exist in the circuit as built.
    let first = circuit::build(&circuit_source, &base).map_err(SweepError::Input)?;
    for (i, (s, _)) in stats.iter().enumerate() {
        let proj = s.projection();
        if proj != "all" && first.projection(proj).is_none() {
            let names: Vec<&str> = first.projections.iter().map(|p| p.name.as_str()).collect();
            errors.push(at(
                YamlPath::of(&["summary"]).index(i).key("projection"),
                format!("the circuit has no projection `{proj}`"),
                format!("`all`, or one of: {}", names.join(", ")),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(SweepError::Input(Diagnostics(errors)));
    }
    let mut points = Vec::new();
    for (index, values) in axes::expand(&axes, spec.combine).into_iter().enumerate() {
        let identity = axes::identity(&axes, &values);
        let id = axes::point_id(&identity);
        let (sets, resolved) =
            axes::point_overrides(&axes, &values, &base).map_err(|message| SweepError::Point {
                identity: identity.clone(),
                message,
            })?;
        let mut p = Point {
            index,
            values,
            resolved,
            identity,
            id,
            sets,
            key: String::new(),
            instance_bytes: 0.0,
            synapse_steps: 0.0,
        };
        let circuits = point_circuits(&base, &circuit_source, &rules, &p)?;
        for (_, c) in &circuits {
            p.key.push_str(&crate::plan::ensemble_key(c));
            p.key.push('#');
            p.instance_bytes = p
                .instance_bytes
                .max(crate::circuit::budget::instance_bytes(c));
            p.synapse_steps += c.synapse_count() as f64 * c.steps() as f64 * spec.seeds as f64;
        }
        points.push(p);
    }
    let base_dir = circuit_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok(Setup {
        spec,
        source,
        circuit_source,
        base,
        base_dir,
        axes,
        rules,
        points,
        stats,
    })
}
