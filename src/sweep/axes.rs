//! The axes of a sweep resolved against its circuit, and the points they expand into.
//!
//! An axis writes its value into one `--set` path. Its value is a time (stored in seconds,
//! written back with a unit), a plain number, or — for a ratio axis such as `tau_w/T` — a
//! multiple of another parameter of the circuit, resolved per point (so a swept stimulus
//! duration carries a `tau_w/T` axis along). A point's identity is its axis values printed
//! canonically; its id and its instances' seeds are hashes of that identity, so adding a value
//! to an axis changes neither the other points' ids nor their seeds.
//!
//! A rule-draw axis (`rule_draws:`) writes a whole rule instead: its values are draw numbers,
//! and draw k is a θ hashed from the sweep's seed and k ([`crate::rule::draw_theta`]), so adding draws
//! changes none of the others.

use super::spec::{AxisSpec, Combine, RangeSpec, RuleDrawsSpec, Scalar, SweepSpec};
use crate::spec::{CircuitSpec, Diagnostic, SourceFile, Time, YamlPath};
use sha2::{Digest, Sha256};

/// Short names for the parameters sweeps change most (DESIGN §1's symbols).
pub const SHORT_NAMES: [(&str, &str); 9] = [
    ("T", "task.stimulus.duration"),
    ("stimulus", "task.stimulus.duration"),
    ("tau_w", "learning.tau_w"),
    ("tau_decay", "learning.tau_decay"),
    ("weight_noise", "learning.weight_noise"),
    ("error_delay", "task.stimulus.error_delay"),
    ("gap", "task.stimulus.gap"),
    ("duration", "time.duration"),
    ("dt", "time.dt"),
];

/// A short name's path, or the text itself (already a path).
pub fn resolve_path(name: &str) -> String {
    SHORT_NAMES
        .iter()
        .find(|(short, _)| *short == name)
        .map(|(_, path)| path.to_string())
        .unwrap_or_else(|| name.to_string())
}

/// What a parameter holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A time, in seconds.
    Time,
    /// A dimensionless number.
    Number,
}

/// One resolved axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The column stem (`tau_w`, `error_delay`).
    pub name: String,
    /// The `--set` path the value goes to.
    pub target: String,
    /// For a ratio axis, the path of the denominator and the ratio as written (`tau_w/T`).
    pub ratio: Option<(String, String)>,
    /// What the target holds.
    pub kind: Kind,
    /// The values in axis units: ratios, seconds, or numbers.
    pub values: Vec<f64>,
    /// Whether the values were given as a log range (figures use a log axis).
    pub log: bool,
    /// For a rule-draw axis, the rules its values stand for (`target` is the motif's rule).
    pub draws: Option<RuleDraws>,
}

/// Random rules of one motif, resolved: draw k (1-based) is [`crate::rule::draw_theta`] of these.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleDraws {
    /// The plastic projection whose motif the rules are written into.
    pub motif: String,
    pub terms: Vec<String>,
    pub bounds: [f64; 2],
    /// The sweep's seed.
    pub seed: u64,
}

impl RuleDraws {
    /// The rule of draw `k`, as `--set` takes a rule: `{m_x: 0.12, z_x: -0.5}`.
    pub fn rule_text(&self, k: f64) -> String {
        let theta = self.theta(k);
        let parts: Vec<String> = self
            .terms
            .iter()
            .zip(&theta)
            .map(|(t, v)| format!("{t}: {v}"))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    /// θ of draw `k`, one value per term in `terms` order.
    pub fn theta(&self, k: f64) -> Vec<f64> {
        crate::rule::draw_theta(self.seed, k as u64, &self.terms, self.bounds)
    }
}

impl Axis {
    /// The column holding the swept value (the ratio itself for a ratio axis).
    pub fn value_column(&self) -> String {
        match (&self.ratio, self.kind) {
            (Some((_, text)), _) => text.clone(),
            (None, Kind::Time) => format!("{}_s", self.name),
            (None, Kind::Number) => self.name.clone(),
        }
    }

    /// Every column of the axis: the swept value and, for a ratio axis, the value it resolved to.
    pub fn columns(&self) -> Vec<String> {
        let mut out = vec![self.value_column()];
        if self.ratio.is_some() {
            out.push(match self.kind {
                Kind::Time => format!("{}_s", self.name),
                Kind::Number => self.name.clone(),
            });
        }
        out
    }
}

/// Rounds to 12 significant digits, so that 3 × 0.05 s reads 0.15 s (not 0.15000000000000002 s)
/// and the top of a log range from 1 to 1000 is 1000.
pub fn tidy(x: f64) -> f64 {
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// Writes a value as `--set` takes it for its kind.
pub fn set_text(kind: Kind, value: f64) -> String {
    match kind {
        Kind::Time => format!("{value} s"),
        Kind::Number => format!("{value}"),
    }
}

/// The canonical identity of a point: `name=value` per axis, in axis order.
pub fn identity(axes: &[Axis], values: &[f64]) -> String {
    axes.iter()
        .zip(values)
        .map(|(a, v)| format!("{}={v}", a.value_column()))
        .collect::<Vec<_>>()
        .join(";")
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// A point's id: 12 hex digits of the hash of its identity.
pub fn point_id(identity: &str) -> String {
    digest(identity)[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The seed of replicate `k` at a point: a hash of the sweep's seed, the point's identity and
/// `k`, kept to 40 bits so it reads exactly as a number anywhere (pandas, JSON).
pub fn point_seed(sweep_seed: u64, identity: &str, k: usize) -> u64 {
    let d = digest(&format!("hetsim-sweep|{sweep_seed}|{identity}|{k}"));
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&d[..8]);
    (u64::from_le_bytes(bytes) >> 24) + 1
}

/// The value tuples of every point, in order (grid: the last axis fastest).
pub fn expand(axes: &[Axis], combine: Combine) -> Vec<Vec<f64>> {
    if axes.is_empty() {
        return vec![Vec::new()];
    }
    match combine {
        Combine::Zip => (0..axes[0].values.len())
            .map(|k| axes.iter().map(|a| a.values[k]).collect())
            .collect(),
        Combine::Grid => {
            let mut out: Vec<Vec<f64>> = vec![Vec::new()];
            for a in axes {
                out = out
                    .into_iter()
                    .flat_map(|prefix| {
                        a.values.iter().map(move |&v| {
                            let mut p = prefix.clone();
                            p.push(v);
                            p
                        })
                    })
                    .collect();
            }
            out
        }
    }
}

/// The value at `path` in a circuit spec, as a number of its kind (None: absent or not a
/// time or number).
pub fn read_value(spec: &CircuitSpec, path: &str) -> Option<(Kind, f64)> {
    let tree = serde_json::to_value(spec).ok()?;
    let parsed = crate::spec::parse_path(path).ok()?;
    let mut node = &tree;
    for seg in &parsed.0 {
        node = step(node, seg)?;
    }
    number_of(node)
}

fn step<'a>(node: &'a serde_json::Value, seg: &crate::spec::Seg) -> Option<&'a serde_json::Value> {
    match seg {
        crate::spec::Seg::Key(k) => node.get(k),
        crate::spec::Seg::Index(i) => node.get(*i),
    }
    .filter(|n| !n.is_null())
}

fn number_of(node: &serde_json::Value) -> Option<(Kind, f64)> {
    match node {
        serde_json::Value::Number(n) => Some((Kind::Number, n.as_f64()?)),
        serde_json::Value::String(s) => Time::parse(s).ok().map(|t| (Kind::Time, t.seconds())),
        _ => None,
    }
}

/// Why an axis cannot write into `target` of the circuit, if it cannot: a path through
/// something the circuit does not have (`populations.hiddn.tau`), or a setting that holds text,
/// a list or a map rather than a number or a time. A last key the circuit leaves out (an
/// optional setting such as `learning.weight_noise`) is fine: `--set` adds it.
pub fn target_problem(circuit: &CircuitSpec, target: &str) -> Option<String> {
    let tree = serde_json::to_value(circuit).ok()?;
    let parsed = crate::spec::parse_path(target).ok()?;
    let mut node = &tree;
    let last = parsed.0.len().saturating_sub(1);
    for (k, seg) in parsed.0.iter().enumerate() {
        let Some(next) = step(node, seg) else {
            if k == last && node.is_object() {
                return None;
            }
            let here = crate::spec::YamlPath(parsed.0[..k].to_vec());
            let missing = crate::spec::YamlPath(parsed.0[..=k].to_vec());
            let there = match node {
                serde_json::Value::Object(map) if !map.is_empty() => format!(
                    "; {} has: {}",
                    if k == 0 {
                        "the circuit".to_string()
                    } else {
                        format!("`{here}`")
                    },
                    map.iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(key, _)| key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                serde_json::Value::Array(list) => format!("; `{here}` has {} entries", list.len()),
                _ => String::new(),
            };
            return Some(format!("the circuit has no `{missing}`{there}"));
        };
        node = next;
    }
    if number_of(node).is_some() {
        return None;
    }
    Some(match node {
        serde_json::Value::String(s) => format!(
            "`{target}` holds the text `{s}`, not a number or a time; an axis sweeps numbers and times"
        ),
        serde_json::Value::Bool(b) => {
            format!(
                "`{target}` holds `{b}`, not a number or a time; an axis sweeps numbers and times"
            )
        }
        serde_json::Value::Array(_) => format!(
            "`{target}` holds a list, not a number or a time; sweep one of its entries (`{target}[0]`)"
        ),
        _ => format!(
            "`{target}` holds a mapping, not a number or a time; sweep one of its keys (`{target}.KEY`)"
        ),
    })
}

/// A point's `--set` overrides and each axis's resolved value.
pub type PointOverrides = (Vec<(String, String)>, Vec<f64>);

/// The overrides that make one point out of the circuit: plain axes first, then ratio axes,
/// whose denominators are read from the circuit with the plain axes applied. Returns the
/// overrides and each axis's resolved value (seconds or number).
pub fn point_overrides(
    axes: &[Axis],
    values: &[f64],
    base: &CircuitSpec,
) -> Result<PointOverrides, String> {
    let mut sets = Vec::new();
    let mut resolved = vec![f64::NAN; axes.len()];
    for (k, (a, &v)) in axes.iter().zip(values).enumerate() {
        if let Some(d) = &a.draws {
            sets.push((a.target.clone(), d.rule_text(v)));
            resolved[k] = v;
        } else if a.ratio.is_none() {
            sets.push((a.target.clone(), set_text(a.kind, v)));
            resolved[k] = v;
        }
    }
    if axes.iter().any(|a| a.ratio.is_some()) {
        let plain = crate::spec::apply_overrides(base, &sets)?;
        for (k, (a, &v)) in axes.iter().zip(values).enumerate() {
            let Some((denominator, text)) = &a.ratio else {
                continue;
            };
            let (_, d) = read_value(&plain, denominator).ok_or_else(|| {
                format!("{text}: the circuit has no time or number at `{denominator}`")
            })?;
            let value = tidy(v * d);
            resolved[k] = value;
            sets.push((a.target.clone(), set_text(a.kind, value)));
        }
    }
    Ok((sets, resolved))
}

/// Resolves every axis of the sweep against the circuit (with the sweep's fixed overrides);
/// every problem is located in the sweep file.
pub fn resolve(
    spec: &SweepSpec,
    source: &SourceFile,
    circuit: &CircuitSpec,
) -> Result<Vec<Axis>, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut axes: Vec<Axis> = Vec::new();
    if spec.axes.is_empty() {
        errors.push(source.diagnostic(
            YamlPath::of(&["axes"]),
            "a sweep needs at least one axis",
            Some("e.g. `axes: [{ratio: tau_w/T, log: {from: 1, to: 100, count: 5}}]`".into()),
        ));
    }
    let fixed = super::tables::fixed_columns();
    for (i, a) in spec.axes.iter().enumerate() {
        let at = YamlPath::of(&["axes"]).index(i);
        // Where a problem with the axis's columns is shown: its `name:`, else what named it.
        let named_at = if a.name.is_some() {
            at.key("name")
        } else if a.ratio.is_some() {
            at.key("ratio")
        } else {
            at.key("path")
        };
        if let Some(problem) = a
            .name
            .as_deref()
            .and_then(crate::circuit::check::identifier_problem)
        {
            errors.push(source.diagnostic(
                at.key("name"),
                problem,
                Some("an axis name is a column stem: letters, digits, `_`, `-` and `.`".into()),
            ));
            continue;
        }
        let resolved = match &a.rule_draws {
            Some(d) => resolve_draws(a, d, spec.seed, &at, source, circuit),
            None => resolve_axis(a, &at, source, circuit),
        };
        match resolved {
            Ok(axis) => {
                if let Some(c) = axis
                    .columns()
                    .into_iter()
                    .find(|c| fixed.contains(&c.as_str()))
                {
                    errors.push(source.diagnostic(
                        named_at,
                        format!(
                            "the axis's column `{c}` is also a fixed column of the sweep's tables ({})",
                            fixed.join(", ")
                        ),
                        Some("give the axis another `name:`".into()),
                    ));
                } else if let Some((j, b)) = axes
                    .iter()
                    .enumerate()
                    .find(|(_, b)| b.target == axis.target)
                {
                    errors.push(source.diagnostic(
                        at.clone(),
                        format!(
                            "this axis sets `{}`, which axis {j} (`{}`) already sets",
                            axis.target,
                            b.value_column()
                        ),
                        Some("sweep each parameter once".into()),
                    ));
                } else if let Some(c) = axis
                    .columns()
                    .into_iter()
                    .find(|c| axes.iter().any(|b| b.columns().contains(c)))
                {
                    errors.push(source.diagnostic(
                        named_at,
                        format!("the column `{c}` belongs to another axis already"),
                        Some("give the axes distinct `name:`s".into()),
                    ));
                }
                axes.push(axis);
            }
            Err(e) => errors.push(e),
        }
    }
    // A ratio is taken against the circuit with the plain axes applied; a denominator that a
    // ratio axis sets (another's, as in `T/tau_w` beside `tau_w/T`, or its own) would be read
    // before it is set, and the ratio recorded would not be the one used.
    if axes.len() == spec.axes.len() {
        for (i, a) in axes.iter().enumerate() {
            let Some((denominator, text)) = &a.ratio else {
                continue;
            };
            if let Some((j, b)) = axes
                .iter()
                .enumerate()
                .find(|(_, b)| b.ratio.is_some() && &b.target == denominator)
            {
                let whose = if i == j {
                    "its own numerator".to_string()
                } else {
                    format!("the ratio axis {j} (`{}`)", b.value_column())
                };
                errors.push(source.diagnostic(
                    YamlPath::of(&["axes"]).index(i).key("ratio"),
                    format!(
                        "`{text}` is taken against `{denominator}`, which {whose} sets: ratio axes that depend on each other have no consistent values"
                    ),
                    Some("take ratios against parameters of the circuit or of plain (`path:`) axes; sweep one of the two as a plain axis".into()),
                ));
            }
        }
    }
    if spec.combine == Combine::Zip && axes.len() == spec.axes.len() {
        let n = axes.first().map(|a| a.values.len()).unwrap_or(0);
        for (i, a) in axes.iter().enumerate() {
            if a.values.len() != n {
                errors.push(source.diagnostic(
                    YamlPath::of(&["axes"]).index(i),
                    format!(
                        "`combine: zip` needs axes of equal length; this one has {} values, the first has {n}",
                        a.values.len()
                    ),
                    Some("give every axis the same number of values, or use `combine: grid`".into()),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(axes)
    } else {
        Err(errors)
    }
}

fn resolve_axis(
    a: &AxisSpec,
    at: &YamlPath,
    source: &SourceFile,
    circuit: &CircuitSpec,
) -> Result<Axis, Diagnostic> {
    let err = |path: YamlPath, message: String, hint: &str| {
        source.diagnostic(path, message, Some(hint.to_string()))
    };
    let (target, ratio, short) = match (&a.path, &a.ratio) {
        (Some(p), None) => (resolve_path(p), None, p.clone()),
        (None, Some(r)) => {
            let Some((num, den)) = r.split_once('/') else {
                return Err(err(
                    at.key("ratio"),
                    format!("`{r}` is not a ratio"),
                    "write it as A/B, e.g. `tau_w/T` or `error_delay/T`",
                ));
            };
            let (num, den) = (num.trim(), den.trim());
            let denominator = resolve_path(den);
            if crate::spec::parse_path(&denominator).is_err()
                || read_value(circuit, &denominator).is_none()
            {
                let why = target_problem(circuit, &denominator)
                    .unwrap_or_else(|| format!("the circuit leaves `{denominator}` unset"));
                return Err(err(
                    at.key("ratio"),
                    format!("`{r}` cannot be taken against `{denominator}`: {why}"),
                    "the denominator must be set in the circuit (or by the sweep's `set:`)",
                ));
            }
            (
                resolve_path(num),
                Some((denominator, r.clone())),
                num.to_string(),
            )
        }
        _ => {
            return Err(err(
                at.clone(),
                "an axis needs exactly one of `path` and `ratio`".into(),
                "e.g. `path: learning.tau_w` or `ratio: tau_w/T`",
            ));
        }
    };
    let target_at = if ratio.is_some() {
        at.key("ratio")
    } else {
        at.key("path")
    };
    if let Err(e) = crate::spec::parse_path(&target) {
        return Err(err(
            target_at,
            e,
            "a path as --set takes it, e.g. `learning.tau_w`",
        ));
    }
    if let Some(problem) = target_problem(circuit, &target) {
        return Err(err(
            target_at,
            problem,
            "an axis takes the path of a number or a time of the circuit (e.g. `learning.tau_w`, `populations.h.tau`) or a short name (tau_w, T, error_delay, …)",
        ));
    }
    let name = a.name.clone().unwrap_or_else(|| {
        short
            .rsplit('.')
            .next()
            .unwrap_or(&short)
            .replace(['[', ']'], "_")
    });
    let given = [a.values.is_some(), a.linear.is_some(), a.log.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(err(
            at.clone(),
            "an axis needs exactly one of `values`, `linear` and `log`".into(),
            "e.g. `values: [1, 3, 10]` or `log: {from: 10 ms, to: 1 s, count: 5}`",
        ));
    }
    // The kind of the target: what the circuit holds there, else what the values say.
    let denominator_kind = ratio
        .as_ref()
        .and_then(|(d, _)| read_value(circuit, d))
        .map(|(k, _)| k);
    let first_text = |s: &Scalar| matches!(s, Scalar::Text(_));
    let values_text = match (&a.values, &a.linear, &a.log) {
        (Some(v), _, _) => v.first().is_some_and(first_text),
        (_, Some(r), _) | (_, _, Some(r)) => first_text(&r.from),
        _ => false,
    };
    let kind = denominator_kind
        .or_else(|| read_value(circuit, &target).map(|(k, _)| k))
        .unwrap_or(if values_text {
            Kind::Time
        } else {
            Kind::Number
        });
    // Ratio values are plain numbers; other axes take values of their target's kind.
    let value_kind = if ratio.is_some() { Kind::Number } else { kind };
    let scalar = |s: &Scalar, path: YamlPath| -> Result<f64, Diagnostic> {
        match (value_kind, s) {
            (Kind::Number, Scalar::Number(x)) => Ok(*x),
            (Kind::Number, Scalar::Text(t)) => t.trim().parse().map_err(|_| {
                err(
                    path,
                    format!("`{t}` is not a number"),
                    if ratio.is_some() {
                        "ratio axes take plain numbers (multiples of the denominator)"
                    } else {
                        "this parameter is a plain number"
                    },
                )
            }),
            (Kind::Time, Scalar::Text(t)) => Time::parse(t)
                .map(Time::seconds)
                .map_err(|e| err(path, e, "a time with its unit, e.g. `50 ms`")),
            (Kind::Time, Scalar::Number(x)) => Err(err(
                path,
                format!("`{target}` is a time; `{x}` has no unit"),
                "add a unit, e.g. `50 ms`, or sweep it as a ratio (`ratio: tau_w/T`)",
            )),
        }
    };
    let (values, log) = if let Some(list) = &a.values {
        let mut out = Vec::new();
        for (j, s) in list.iter().enumerate() {
            out.push(scalar(s, at.key("values").index(j))?);
        }
        (out, false)
    } else {
        let (range, key, log) = match (&a.linear, &a.log) {
            (Some(r), _) => (r, "linear", false),
            (_, Some(r)) => (r, "log", true),
            _ => unreachable!("one of values, linear, log was checked above"),
        };
        (range_values(range, at.key(key), log, &scalar, &err)?, log)
    };
    if values.is_empty() {
        return Err(err(
            at.clone(),
            "the axis has no values".into(),
            "give at least one",
        ));
    }
    for (j, v) in values.iter().enumerate() {
        if !v.is_finite() {
            return Err(err(
                at.key("values").index(j),
                format!("value {v} is not finite"),
                "values must be finite numbers",
            ));
        }
        if values[..j].contains(v) {
            return Err(err(
                at.clone(),
                format!("the value {v} appears twice on this axis"),
                "list each value once (seeds give repeats)",
            ));
        }
    }
    Ok(Axis {
        name,
        target,
        ratio,
        kind,
        values,
        log,
        draws: None,
    })
}

/// A rule-draw axis: the motif found by its plastic projection, the terms checked against the
/// rule basis, the values 1..=count.
fn resolve_draws(
    a: &AxisSpec,
    d: &RuleDrawsSpec,
    seed: u64,
    at: &YamlPath,
    source: &SourceFile,
    circuit: &CircuitSpec,
) -> Result<Axis, Diagnostic> {
    let err = |path: YamlPath, message: String, hint: &str| {
        source.diagnostic(path, message, Some(hint.to_string()))
    };
    let here = at.key("rule_draws");
    if a.path.is_some()
        || a.ratio.is_some()
        || a.values.is_some()
        || a.linear.is_some()
        || a.log.is_some()
    {
        return Err(err(
            at.clone(),
            "a `rule_draws` axis takes no `path`, `ratio`, `values`, `linear` or `log`".into(),
            "its values are the draws 1, 2, …, count",
        ));
    }
    let Some(index) = circuit.motifs.iter().position(|m| m.plastic == d.motif) else {
        let listed: Vec<&str> = circuit.motifs.iter().map(|m| m.plastic.as_str()).collect();
        let hint = if circuit.learning.is_some() {
            "the circuit's `learning:` block writes its motifs at expansion; write them out in the circuit (`hetsim expand` prints them)".to_string()
        } else if listed.is_empty() {
            "the circuit lists no motifs".to_string()
        } else {
            format!("the circuit's motifs are on: {}", listed.join(", "))
        };
        return Err(err(
            here.key("motif"),
            format!("the circuit lists no motif on `{}`", d.motif),
            &hint,
        ));
    };
    if d.terms.is_empty() {
        return Err(err(
            here.key("terms"),
            "a rule draw needs at least one term".into(),
            "e.g. `terms: [m_x, z_x, zz_w, z, x, m, one]`",
        ));
    }
    for (j, t) in d.terms.iter().enumerate() {
        if !crate::rule::TERMS.iter().any(|def| def.key == t) {
            let keys: Vec<&str> = crate::rule::TERMS.iter().map(|def| def.key).collect();
            return Err(err(
                here.key("terms").index(j),
                format!("`{t}` is not a term of the rule basis"),
                &format!("the terms are: {}", keys.join(", ")),
            ));
        }
        if d.terms[..j].contains(t) {
            return Err(err(
                here.key("terms").index(j),
                format!("the term `{t}` is listed twice"),
                "list each term once",
            ));
        }
    }
    let [low, high] = d.bounds;
    if !(low.is_finite() && high.is_finite() && low < high) {
        return Err(err(
            here.key("bounds"),
            format!("bounds [{low}, {high}] are not a finite range with low < high"),
            "e.g. `bounds: [-1, 1]`",
        ));
    }
    if d.count == 0 || d.count > super::size::MAX_POINTS {
        return Err(err(
            here.key("count"),
            format!(
                "count must be between 1 and {}, got {}",
                super::size::MAX_POINTS,
                d.count
            ),
            "the number of rules drawn",
        ));
    }
    Ok(Axis {
        name: a.name.clone().unwrap_or_else(|| "rule_draw".to_string()),
        target: format!("motifs[{index}].rule"),
        ratio: None,
        kind: Kind::Number,
        values: (1..=d.count).map(|k| k as f64).collect(),
        log: false,
        draws: Some(RuleDraws {
            motif: d.motif.clone(),
            terms: d.terms.clone(),
            bounds: d.bounds,
            seed,
        }),
    })
}

fn range_values(
    range: &RangeSpec,
    at: YamlPath,
    log: bool,
    scalar: &dyn Fn(&Scalar, YamlPath) -> Result<f64, Diagnostic>,
    err: &dyn Fn(YamlPath, String, &str) -> Diagnostic,
) -> Result<Vec<f64>, Diagnostic> {
    let from = scalar(&range.from, at.key("from"))?;
    let to = scalar(&range.to, at.key("to"))?;
    if range.count == 0 {
        return Err(err(
            at.key("count"),
            "count must be at least 1".into(),
            "the number of values, ends included",
        ));
    }
    // `size::count` refuses this before any axis is resolved; kept here so that no caller can
    // allocate what a file asks for unchecked.
    if range.count > super::size::MAX_POINTS {
        return Err(err(
            at.key("count"),
            format!(
                "count {} is more than the {} points a sweep may have",
                range.count,
                super::size::MAX_POINTS
            ),
            "the number of values, ends included",
        ));
    }
    if log && !(from > 0.0 && to > 0.0) {
        return Err(err(
            at.clone(),
            format!("a log range needs positive ends, got {from} and {to}"),
            "use `linear` for a range through zero",
        ));
    }
    let n = range.count;
    Ok((0..n)
        .map(|k| {
            if n == 1 {
                return from;
            }
            let f = k as f64 / (n - 1) as f64;
            tidy(if log {
                (from.ln() + f * (to.ln() - from.ln())).exp()
            } else {
                from + f * (to - from)
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(name: &str, values: &[f64]) -> Axis {
        Axis {
            name: name.into(),
            target: format!("x.{name}"),
            ratio: None,
            kind: Kind::Number,
            values: values.to_vec(),
            log: false,
            draws: None,
        }
    }

    #[test]
    fn grids_run_the_last_axis_fastest_and_zips_pair_values() {
        let axes = [axis("a", &[1.0, 2.0]), axis("b", &[10.0, 20.0, 30.0])];
        let grid = expand(&axes, Combine::Grid);
        assert_eq!(grid.len(), 6);
        assert_eq!(grid[0], vec![1.0, 10.0]);
        assert_eq!(grid[1], vec![1.0, 20.0]);
        assert_eq!(grid[5], vec![2.0, 30.0]);
        let axes = [axis("a", &[1.0, 2.0]), axis("b", &[10.0, 20.0])];
        assert_eq!(
            expand(&axes, Combine::Zip),
            vec![vec![1.0, 10.0], vec![2.0, 20.0]]
        );
    }

    #[test]
    fn ids_and_seeds_depend_on_identity_only() {
        let small = [axis("a", &[1.0, 2.0])];
        let large = [axis("a", &[0.5, 1.0, 2.0, 4.0])];
        let id_small = identity(&small, &[2.0]);
        assert_eq!(id_small, identity(&large, &[2.0]));
        assert_eq!(point_seed(7, &id_small, 0), point_seed(7, &id_small, 0));
        assert_ne!(point_seed(7, &id_small, 0), point_seed(7, &id_small, 1));
        assert_ne!(point_seed(7, &id_small, 0), point_seed(8, &id_small, 0));
        assert_ne!(point_id(&id_small), point_id(&identity(&small, &[1.0])));
        assert!(point_seed(1, &id_small, 3) < 1 << 41);
    }

    #[test]
    fn ranges_include_their_ends() {
        let scalar = |s: &Scalar, _: YamlPath| match s {
            Scalar::Number(x) => Ok(*x),
            Scalar::Text(_) => unreachable!(),
        };
        let source = SourceFile::from_text(std::path::Path::new("s.yaml"), String::new());
        let err = |p: YamlPath, m: String, h: &str| source.diagnostic(p, m, Some(h.into()));
        let r = RangeSpec {
            from: Scalar::Number(1.0),
            to: Scalar::Number(100.0),
            count: 3,
        };
        let v = range_values(&r, YamlPath::root(), true, &scalar, &err).unwrap();
        assert!((v[1] - 10.0).abs() < 1e-12 && (v[2] - 100.0).abs() < 1e-12);
        let v = range_values(&r, YamlPath::root(), false, &scalar, &err).unwrap();
        assert_eq!(v, vec![1.0, 50.5, 100.0]);
    }
}
