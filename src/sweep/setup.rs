//! A sweep file read and checked against its circuit: the axes resolved, every point expanded
//! and its circuits built once (so a bad value is refused before anything runs), the summary
//! columns checked, and each point's ensemble key and cost noted for packing.

use super::SweepError;
use super::axes::{self, Axis};
use super::overrides::SweepOverrides;
use super::size;
use super::spec::{Stat, SummarySpec, SweepSpec};
use crate::circuit::budget::Budget;
use crate::circuit::{self, Circuit};
use crate::experiment::design::{rule_label, with_rule};
use crate::record::metrics::{COLUMNS, KEYS, Metric};
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
    /// The points and instances the file asks for, counted before expansion.
    pub size: size::Size,
    /// Whether `points` holds every point (see [`Expansion`]).
    pub expanded: bool,
    /// Synapse-steps of one instance of the circuit before the axes apply (a dry run's
    /// estimate when the points are not built).
    pub base_cost: f64,
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
    /// The memory budget the sweep was checked against, settled once for all its points (the
    /// ensembles settle the sweep's budget afresh, each for its own circuits and plan).
    pub budget: Budget,
    /// The circuits of the first points, built by the checks and kept for their ensembles (by
    /// point index; at most [`KEPT_CIRCUITS`] circuits, so that memory does not grow with the
    /// number of points). Empty unless every point was built.
    pub kept: std::collections::HashMap<usize, Vec<(String, Circuit)>>,
}

/// The most circuits the checks keep for the run: one default ensemble's instances. A sweep of
/// up to that many points (and rules) builds each circuit once; a longer one builds the rest
/// again for their ensembles, as many at a time as an ensemble holds anyway.
pub const KEPT_CIRCUITS: usize = super::pack::DEFAULT_ENSEMBLE_SIZE;

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

    /// The labelled circuits of a point (one per rule), checked against `budget` (the
    /// sweep's, settled for the ensemble they go into).
    pub fn point_circuits(
        &self,
        p: &Point,
        budget: &Budget,
    ) -> Result<Vec<(String, Circuit)>, SweepError> {
        let spec = crate::spec::apply_overrides(&self.base, &p.sets).map_err(|message| {
            SweepError::Point {
                identity: p.identity.clone(),
                message,
            }
        })?;
        rule_circuits(&spec, &self.circuit_source, &self.rules, p, budget)
    }
}

/// The labelled circuits of point `p`, whose circuit spec (its overrides applied) is `spec`:
/// one per rule.
fn rule_circuits(
    spec: &CircuitSpec,
    source: &SourceFile,
    rules: &[Option<RuleName>],
    p: &Point,
    budget: &Budget,
) -> Result<Vec<(String, Circuit)>, SweepError> {
    let point_error = |message: String| SweepError::Point {
        identity: p.identity.clone(),
        message,
    };
    let mut out = Vec::new();
    for rule in rules {
        let swapped;
        let spec = match rule {
            Some(r) => {
                swapped = with_rule(spec, *r)
                    .map_err(|e| point_error(e.to_string()))?
                    .0;
                &swapped
            }
            None => spec,
        };
        let c =
            circuit::build_within(source, spec, budget).map_err(|d| point_error(d.to_string()))?;
        out.push((rule_label(spec), c));
    }
    Ok(out)
}

/// How much of a sweep [`load_with`] builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expansion {
    /// Every point expanded, its circuits built and checked.
    All,
    /// Points counted but not expanded when there are more than this many (a dry run's quick
    /// estimate, with [`size::DRY_RUN_BUILT`]); fewer are expanded as with `All`.
    UpTo(usize),
}

impl Expansion {
    /// What `--dry-run` and `validate` build.
    pub const QUICK: Expansion = Expansion::UpTo(size::DRY_RUN_BUILT);
}

/// Reads and checks a sweep file (`text` instead of the file's contents when given) as it is,
/// every point expanded and built, under the machine's default budget.
pub fn load(path: &Path, text: Option<String>) -> Result<Setup, SweepError> {
    load_with(
        path,
        text,
        &SweepOverrides::default(),
        Expansion::All,
        &Budget::default(),
    )
}

/// The sweep file's circuit, read relative to the sweep file's folder; a file that cannot be
/// read is reported at the sweep file's `circuit:` line, saying where it was looked for.
fn read_circuit(
    path: &Path,
    spec: &SweepSpec,
    source: &SourceFile,
) -> Result<(SourceFile, CircuitSpec, PathBuf), Diagnostics> {
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let circuit_path = folder.join(&spec.circuit);
    let circuit_source = crate::spec::read_source(&circuit_path).map_err(|d| {
        let why = d.0.first().map(|d| d.message.clone()).unwrap_or_default();
        let folder_shown = if folder.as_os_str().is_empty() {
            "the current folder".to_string()
        } else {
            format!("`{}`", folder.display())
        };
        Diagnostics(vec![source.diagnostic(
            YamlPath::of(&["circuit"]),
            format!(
                "the circuit `{}` cannot be read as {} ({why})",
                spec.circuit,
                circuit_path.display()
            ),
            Some(format!(
                "a relative `circuit:` is resolved against the sweep file's folder, {folder_shown}; a sweep file copied elsewhere needs its circuit beside it or a path that still leads to it"
            )),
        )])
    })?;
    let circuit = crate::spec::parse_circuit(&circuit_source)?;
    Ok((circuit_source, circuit, circuit_path))
}

/// The `--set` argument an override of the sweep's `set:` entry `i` is reported under.
fn set_origin(path: &str, value: &str) -> String {
    format!("--set {path}={value}")
}

/// Applies the sweep file's `set:` entries one by one, each problem located at its entry.
/// Returns the spec and, per entry, the origin its later diagnostics carry.
fn apply_set(
    spec: &SweepSpec,
    source: &SourceFile,
    circuit: CircuitSpec,
) -> Result<(CircuitSpec, Vec<String>), Vec<crate::spec::Diagnostic>> {
    let mut out = circuit;
    let mut origins = Vec::new();
    let mut errors = Vec::new();
    for (i, entry) in spec.set.iter().enumerate() {
        let at = YamlPath::of(&["set"]).index(i);
        let Some((key, value)) = entry.split_once('=') else {
            errors.push(source.diagnostic(
                at,
                format!("`{entry}` is not PATH=VALUE"),
                Some("e.g. `time.duration=5 s`".into()),
            ));
            continue;
        };
        let (key, value) = (key.trim().to_string(), value.trim().to_string());
        let origin = set_origin(&key, &value);
        match crate::spec::apply_overrides(&out, &[(key, value)]) {
            Ok(next) => out = next,
            Err(e) => {
                let message = e
                    .strip_prefix(&format!("{origin}: "))
                    .unwrap_or(&e)
                    .to_string();
                errors.push(source.diagnostic(
                    at,
                    message,
                    Some("each entry is PATH=VALUE, a fixed override of the circuit".into()),
                ));
            }
        }
        origins.push(origin);
    }
    if errors.is_empty() {
        Ok((out, origins))
    } else {
        Err(errors)
    }
}

/// Moves diagnostics that the circuit's checks put on a `--set` argument which came from the
/// sweep file's `set:` onto that entry's line.
fn locate_set(d: Diagnostics, source: &SourceFile, origins: &[String]) -> Diagnostics {
    Diagnostics(
        d.0.into_iter()
            .map(|one| {
                let origin = one.file.display().to_string();
                match origins.iter().position(|o| *o == origin) {
                    Some(i) if one.is_outside_file() => {
                        let at = if one.path.0.is_empty() {
                            String::new()
                        } else {
                            format!(" (`{}`)", one.path)
                        };
                        source.diagnostic(
                            YamlPath::of(&["set"]).index(i),
                            format!("{}{at}", one.message),
                            one.hint,
                        )
                    }
                    _ => one,
                }
            })
            .collect(),
    )
}

/// The value each axis records for a point must be the value the point's circuit holds: the
/// resolved value at the axis's target and, for a ratio axis, the ratio of that to the
/// denominator in the same circuit.
fn check_recorded(axes: &[Axis], p: &Point, spec: &CircuitSpec) -> Result<(), String> {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300);
    for ((a, &v), &r) in axes.iter().zip(&p.values).zip(&p.resolved) {
        // A rule draw records the draw's number; the circuit must hold each term of its θ.
        if let Some(d) = &a.draws {
            for (term, theta) in d.terms.iter().zip(d.theta(v)) {
                let path = format!("{}.{term}", a.target);
                let held = axes::read_value(spec, &path).map_or(0.0, |(_, x)| x);
                if !close(held, theta) {
                    return Err(format!(
                        "the axis `{}` draw {v} has θ {term} = {theta} but the circuit holds {held} at `{path}`",
                        a.value_column()
                    ));
                }
            }
            continue;
        }
        // A setting at its default of zero is left out when the spec is written (and read).
        let used = axes::read_value(spec, &a.target)
            .map(|(_, x)| x)
            .or((r == 0.0).then_some(0.0));
        if !used.is_some_and(|u| close(u, r)) {
            return Err(format!(
                "the axis `{}` records {r} but the circuit holds {} at `{}`",
                a.value_column(),
                used.map_or("nothing".into(), |u| u.to_string()),
                a.target
            ));
        }
        if let Some((denominator, text)) = &a.ratio {
            let d = axes::read_value(spec, denominator).map(|(_, x)| x);
            if !d.is_some_and(|d| close(r / d, v)) {
                return Err(format!(
                    "the axis `{text}` records {v} but the circuit's ratio is {}",
                    d.map_or("undefined".into(), |d| (r / d).to_string())
                ));
            }
        }
    }
    Ok(())
}

/// Reads and checks a sweep file (`text` instead of the file's contents when given): sizes
/// counted and refused before anything is expanded, then the circuit, the fixed overrides (the
/// file's, then the command line's), the summary, the axes and — as `expansion` says — every
/// point, each against `budget`. `Setup::spec` holds the seeds the sweep runs with (`--seeds`
/// when given).
pub fn load_with(
    path: &Path,
    text: Option<String>,
    overrides: &SweepOverrides,
    expansion: Expansion,
    budget: &Budget,
) -> Result<Setup, SweepError> {
    // Worked out once for every check below, not once per point's circuit.
    let budget = &budget.settled();
    let source = match text {
        Some(t) => SourceFile::from_text(path, t),
        None => crate::spec::read_source(path).map_err(SweepError::Input)?,
    };
    let mut spec: SweepSpec =
        crate::spec::document::parse_document(&source).map_err(SweepError::Input)?;
    spec.seeds = overrides.seeds(spec.seeds);
    let at = |p: YamlPath, m: String, h: String| source.diagnostic(p, m, Some(h));
    let mut errors = Vec::new();
    // The name becomes a directory under runs/: one validation of names for every output.
    if let Some(problem) = crate::circuit::check::identifier_problem(&spec.name) {
        errors.push(at(
            YamlPath::of(&["name"]),
            problem,
            "the name becomes the folder runs/sweep-NAME-…: letters, digits, `_`, `-` and `.`"
                .into(),
        ));
    }
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
    // Counted before anything is expanded: an axis of 10¹² values is refused, not allocated.
    let size = match size::count(&spec, &source) {
        Ok(s) => s,
        Err(e) => {
            errors.extend(e);
            return Err(SweepError::Input(Diagnostics(errors)));
        }
    };
    let (circuit_source, circuit, circuit_path) =
        read_circuit(path, &spec, &source).map_err(|d| {
            errors.extend(d.0);
            SweepError::Input(Diagnostics(std::mem::take(&mut errors)))
        })?;
    let (base, origins) = match apply_set(&spec, &source, circuit) {
        Ok(b) => b,
        Err(e) => {
            errors.extend(e);
            return Err(SweepError::Input(Diagnostics(errors)));
        }
    };
    // The command line's `--set` and `--duration` after the file's `set:`; their errors name
    // the option (`--set PATH=VALUE: …`), as `run`'s do.
    let mut base = overrides.apply(&base).map_err(SweepError::Usage)?;
    if !spec.keep.traces {
        base.record.traces = crate::spec::Time::from_seconds(0.0);
    }
    // Probes name instances of one run; a sweep packs its points into ensembles of its own
    // choosing, so instance indices would mean nothing there: sweeps record no probes.
    base.record.probes.clear();
    base.record.weights = None;
    // The summary's measurements, recorded whatever the circuit asks for.
    let fixed = super::tables::fixed_columns();
    let mut stats = Vec::new();
    for (i, s) in spec.summary.iter().enumerate() {
        let p = YamlPath::of(&["summary"]).index(i);
        if let Some(problem) = s
            .name
            .as_deref()
            .and_then(crate::circuit::check::identifier_problem)
        {
            errors.push(at(
                p.key("name"),
                problem,
                "a summary name is a column of summary.csv: letters, digits, `_`, `-` and `.`"
                    .into(),
            ));
            continue;
        }
        if fixed.contains(&s.column().as_str()) {
            errors.push(at(
                if s.name.is_some() {
                    p.key("name")
                } else {
                    p.clone()
                },
                format!(
                    "the summary column `{}` is also a fixed column of summary.csv ({})",
                    s.column(),
                    fixed.join(", ")
                ),
                "give it another `name:`".into(),
            ));
            continue;
        }
        let Some(metric) = Metric::named(&s.measure) else {
            errors.push(at(
                p.key("measure"),
                format!("`{}` is not a column of metrics.csv", s.measure),
                format!("one of: {}", COLUMNS[KEYS..].join(", ")),
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
        if let Some(m) = metric.measure()
            && !base.record.measure.contains(&m)
        {
            base.record.measure.push(m);
        }
        stats.push((i, s.clone(), metric));
    }
    let mut columns: Vec<String> = Vec::new();
    for (i, s, _) in &stats {
        if columns.contains(&s.column()) {
            errors.push(at(
                YamlPath::of(&["summary"]).index(*i),
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
    // An axis column and a summary column would be two columns of one name in summary.csv.
    for (i, s, _) in &stats {
        if let Some(a) = axes.iter().find(|a| a.columns().contains(&s.column())) {
            errors.push(at(
                YamlPath::of(&["summary"]).index(*i),
                format!(
                    "the summary column `{}` is also a column of the axis `{}`",
                    s.column(),
                    a.value_column()
                ),
                "give the summary or the axis another `name:`".into(),
            ));
        }
    }
    // A prediction is drawn over two axes it names: each must be one of the sweep's.
    if let Some(p) = &spec.prediction {
        if let Err(problem) = p.check() {
            errors.push(at(
                YamlPath::of(&["prediction"]),
                problem,
                "docs/phase_boundary.md says what each parameter is".into(),
            ));
        }
        let columns: Vec<String> = axes.iter().map(|a| a.value_column()).collect();
        for (key, name) in [("decay_axis", &p.decay_axis), ("noise_axis", &p.noise_axis)] {
            if !columns.iter().any(|c| p.names(name, c)) {
                errors.push(at(
                    YamlPath::of(&["prediction", key]),
                    format!("`{name}` is not an axis of this sweep"),
                    format!("the axes' columns: {}", columns.join(", ")),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(SweepError::Input(Diagnostics(errors)));
    }
    let stats: Vec<(SummarySpec, Metric)> = stats.into_iter().map(|(_, s, m)| (s, m)).collect();
    // Summary projections must exist in the circuit as built.
    let first = circuit::build_within(&circuit_source, &base, budget)
        .map_err(|d| SweepError::Input(locate_set(d, &source, &origins)))?;
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
    // The sweep's own tables against the memory budget, before any point is expanded.
    let key_bytes = crate::plan::ensemble_key(&first).len() * rules.len();
    let bytes = size::table_bytes(size, axes.len(), key_bytes, columns.len() + 8);
    let bytes_budget = budget.bytes().map_err(SweepError::Usage)?;
    size::check_budget(&source, size, bytes, &bytes_budget, budget)
        .map_err(|d| SweepError::Input(Diagnostics(vec![d])))?;
    let base_cost = first.synapse_count() as f64 * first.steps() as f64;
    drop(first);
    let expand = match expansion {
        Expansion::All => true,
        Expansion::UpTo(n) => size.points <= n,
    };
    let mut points = Vec::new();
    let mut kept = std::collections::HashMap::new();
    let mut kept_circuits = 0;
    let values = if expand {
        axes::expand(&axes, spec.combine)
    } else {
        Vec::new()
    };
    for (index, values) in values.into_iter().enumerate() {
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
        let point_spec =
            crate::spec::apply_overrides(&base, &p.sets).map_err(|message| SweepError::Point {
                identity: p.identity.clone(),
                message,
            })?;
        check_recorded(&axes, &p, &point_spec).map_err(|message| SweepError::Point {
            identity: p.identity.clone(),
            message,
        })?;
        let circuits = rule_circuits(&point_spec, &circuit_source, &rules, &p, budget)?;
        drop(point_spec);
        for (_, c) in &circuits {
            p.key.push_str(&crate::plan::ensemble_key(c));
            p.key.push('#');
            p.instance_bytes = p
                .instance_bytes
                .max(crate::circuit::budget::instance_bytes(c));
            p.synapse_steps += c.synapse_count() as f64 * c.steps() as f64 * spec.seeds as f64;
        }
        // Only a run uses them (a dry run's or `validate`'s expansion keeps none).
        if expansion == Expansion::All && kept_circuits + circuits.len() <= KEPT_CIRCUITS {
            kept_circuits += circuits.len();
            kept.insert(index, circuits);
        }
        points.push(p);
    }
    let base_dir = circuit_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok(Setup {
        size,
        expanded: expand,
        base_cost,
        spec,
        source,
        circuit_source,
        base,
        base_dir,
        axes,
        rules,
        points,
        stats,
        budget: budget.clone(),
        kept,
    })
}
