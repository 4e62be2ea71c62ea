//! Evolution files (`configs/evolve_*.yaml`): which circuit, which motif terms are free and in
//! what range, the strategy and its settings, and the fitness. Parsed with the located errors of
//! circuit files and checked against the circuit before anything runs.

use crate::circuit::Circuit;
use crate::rule::Term;
use crate::spec::{Diagnostic, Diagnostics, RuleName, SourceFile, Time, YamlPath};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvolveSpec {
    /// Names the output directory (`runs/evolve-<name>-<time>`).
    pub name: String,
    /// The circuit file, relative to this file.
    pub circuit: String,
    /// Overrides of the circuit, as `--set` takes them: `["time.duration=5 s"]`.
    #[serde(default)]
    pub set: Vec<String>,
    /// The free parameters: motifs' θ terms (and optionally τ_w on a log scale).
    pub free: Vec<FreeMotif>,
    pub strategy: StrategySpec,
    /// Instances per member (seeds `first_seed`, `first_seed + 1`, …); fitness averages them.
    #[serde(default = "one")]
    pub seeds_per_member: usize,
    #[serde(default = "one_u64")]
    pub first_seed: u64,
    #[serde(default)]
    pub fitness: FitnessSpec,
    /// Where the search starts: `random` (uniform within the bounds, from the strategy's seed)
    /// or `circuit` (the circuit's own θ, clipped into the bounds).
    #[serde(default)]
    pub start: Start,
    /// Which tasks each generation learns: `fixed` (the seeds `first_seed`, … in every
    /// generation) or `fresh` (generation g draws its own: `first_seed + (g − 1) ·
    /// seeds_per_member + s`), so that a rule is selected for learning the task family, not
    /// a few tasks.
    #[serde(default)]
    pub tasks: Tasks,
    /// The learning-rate grid: factors dividing every motif's τ_w. Members and baselines alike
    /// run at every factor on the same seeds and are scored at their best one, so a rule that
    /// only learns faster gains nothing a baseline could not have. Default `[1]` (no tuning).
    #[serde(default = "default_rates")]
    pub rates: Vec<f64>,
    /// Rules run beside the members in every generation, on exactly the members' seeds and
    /// tasks, tuned over the same `rates`: the circuit's `learning:` rule swapped as `hetsim
    /// compare` does (sgd, fa, dfa, kp, …), or an explicit θ of the free motifs
    /// (`{name: …, theta: {B2: {m_x: 1}}}`), scored as a member with that θ would be.
    #[serde(default)]
    pub baselines: Vec<Baseline>,
    /// After the last generation, the best rule and every baseline are scored on tasks no
    /// generation saw, and on other circuit shapes (`heldout.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heldout: Option<HeldOut>,
}

/// A baseline: a rule of the `learning:` shorthand, or an explicit θ.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Baseline {
    /// The circuit's `learning:` rule swapped for this one.
    Rule(RuleName),
    /// The circuit with these θ written into its free motifs.
    Theta(ThetaBaseline),
}

/// A hand-written point of the rule space, run beside the members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThetaBaseline {
    /// Its name in the tables and the figure (its columns are `<name>_fitness`, …); not a
    /// rule's name, nor another baseline's.
    pub name: String,
    /// Per free motif (by plastic projection), its whole rule: term key → θ, as a circuit
    /// file's `rule:` (terms not named are 0). Free motifs not named keep the circuit's rule.
    pub theta: IndexMap<String, IndexMap<String, f64>>,
}

impl Baseline {
    /// The name its columns and its legend entry carry.
    pub fn name(&self) -> &str {
        match self {
            Baseline::Rule(r) => r.name(),
            Baseline::Theta(t) => &t.name,
        }
    }
}

/// A rule's name or a map: serde's untagged enums would report a mistake as "did not match
/// any variant", so the visitor says what is accepted, and a map's own errors come through.
impl<'de> Deserialize<'de> for Baseline {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Baseline;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(
                    f,
                    "a rule ({}) or an explicit θ `{{name: …, theta: {{MOTIF: {{TERM: value}}}}}}`",
                    RuleName::ALL.map(|r| r.name()).join(", ")
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Baseline, E> {
                RuleName::from_name(v)
                    .map(Baseline::Rule)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Baseline, A::Error> {
                ThetaBaseline::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Baseline::Theta)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Names a baseline cannot take: the tables' own `<name>_fitness` columns and the held-out
/// table's label of the evolved rule.
pub const RESERVED_BASELINE_NAMES: [&str; 5] = ["best", "mean", "median", "best_ever", "evolved"];

fn default_rates() -> Vec<f64> {
    vec![1.0]
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tasks {
    /// The same seeds (tasks, initial weights, feedback) in every generation.
    #[default]
    Fixed,
    /// New seeds in every generation.
    Fresh,
}

/// The held-out evaluation: seeds no generation uses, and circuit shapes to score on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeldOut {
    /// Number of held-out tasks (seeds `first_seed`, `first_seed + 1`, …).
    pub seeds: usize,
    /// The first held-out seed; the range must not meet any generation's seeds.
    pub first_seed: u64,
    /// Other circuit shapes (overrides on top of the file's `set:`), each scored on the same
    /// held-out seeds; the evolution's own shape is always scored, as `trained`.
    #[serde(default)]
    pub shapes: Vec<HeldOutShape>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeldOutShape {
    /// The shape's name in `heldout.csv`.
    pub name: String,
    /// Overrides, as `set:` takes them: `["populations.h.size=40"]`.
    pub set: Vec<String>,
}

/// The most entries of the learning-rate grid.
pub const MAX_RATES: usize = 64;

fn one() -> usize {
    1
}
fn one_u64() -> u64 {
    1
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    #[default]
    Random,
    Circuit,
}

/// The free part of one motif, named by its plastic projection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreeMotif {
    pub motif: String,
    /// Term keys (as `rule::TERMS` declares them: `m_x`, `z_x`, `zz_w`, …), or `[all]`: every term
    /// the motif can use (no m without a modulator, no q without a trace).
    pub terms: Vec<String>,
    /// The range of every free θ of this motif.
    #[serde(default = "default_bounds")]
    pub bounds: [f64; 2],
    /// If given, τ_w is free too, searched as ln τ_w between these times.
    #[serde(default)]
    pub tau_w: Option<[Time; 2]>,
}

fn default_bounds() -> [f64; 2] {
    [-2.0, 2.0]
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum StrategySpec {
    /// (μ/μ_w, λ)-CMA-ES.
    CmaEs {
        /// λ (default 4 + ⌊3 ln n⌋).
        #[serde(default)]
        population: Option<usize>,
        sigma0: f64,
        generations: u64,
        #[serde(default)]
        seed: u64,
    },
    /// OpenAI-ES with antithetic sampling and Adam.
    OpenaiEs {
        population: usize,
        sigma: f64,
        #[serde(default = "default_learning_rate")]
        learning_rate: f64,
        generations: u64,
        #[serde(default)]
        seed: u64,
    },
    /// No selection: `samples` rules drawn uniformly within the bounds, evaluated in ensembles
    /// of `batch` members (each batch is a "generation" in the tables).
    Random {
        samples: usize,
        #[serde(default = "default_batch")]
        batch: usize,
        #[serde(default)]
        seed: u64,
    },
}

fn default_learning_rate() -> f64 {
    0.05
}

fn default_batch() -> usize {
    50
}

impl StrategySpec {
    pub fn generations(&self) -> u64 {
        match self {
            StrategySpec::CmaEs { generations, .. }
            | StrategySpec::OpenaiEs { generations, .. } => *generations,
            StrategySpec::Random { samples, batch, .. } => samples.div_ceil((*batch).max(1)) as u64,
        }
    }
    pub fn seed(&self) -> u64 {
        match self {
            StrategySpec::CmaEs { seed, .. }
            | StrategySpec::OpenaiEs { seed, .. }
            | StrategySpec::Random { seed, .. } => *seed,
        }
    }
}

/// Fitness = mean over seeds of ln(final / initial held-out loss) + l1 · Σ|θ_free|; lower is
/// better (a rule that halves the loss scores ln ½ ≈ −0.69).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FitnessSpec {
    #[serde(default)]
    pub l1: f64,
}

/// One coordinate of the search space.
#[derive(Clone, Debug, PartialEq)]
pub struct FreeParameter {
    /// Index into the circuit spec's `motifs`.
    pub motif: usize,
    pub kind: FreeKind,
    /// Bounds in search-space units (ln seconds for τ_w).
    pub lower: f64,
    pub upper: f64,
    /// Column name in the tables, e.g. `theta_m_x:W1` or `log_tau_w_s:W1`.
    pub column: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FreeKind {
    Theta(Term),
    LogTauW,
}

/// The largest magnitude a search coordinate's bound may have.
pub const MAX_BOUND: f64 = 1e6;

/// Why `[lower, upper]` cannot bound a search coordinate: both finite, increasing and within
/// ±[`MAX_BOUND`] (a random start draws `lower + (upper − lower) u`, and the strategies step
/// relative to the width, so both stay finite).
pub fn bounds_problem(lower: f64, upper: f64) -> Option<String> {
    if !(lower.is_finite() && upper.is_finite() && lower < upper) {
        return Some(format!(
            "bounds must be finite and increasing, got [{lower}, {upper}]"
        ));
    }
    // The strategies' step sizes and covariances are in the coordinates' units: a box of
    // 10³⁰⁸ overflows them within a generation, and no rule coefficient is that large.
    if lower.abs() > MAX_BOUND || upper.abs() > MAX_BOUND {
        return Some(format!(
            "bounds [{lower:e}, {upper:e}] reach beyond ±{MAX_BOUND:e}: no rule coefficient (or log τ_w) is that large, and the search's step sizes would overflow"
        ));
    }
    None
}

/// Checks the free parameters against the (expanded) circuit; every problem is located in the
/// evolution file.
pub fn free_parameters(
    spec: &EvolveSpec,
    source: &SourceFile,
    circuit: &Circuit,
) -> Result<Vec<FreeParameter>, Diagnostics> {
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut out = Vec::new();
    let motif_names: Vec<&str> = circuit
        .spec
        .motifs
        .iter()
        .map(|m| m.plastic.as_str())
        .collect();
    let at = |path: YamlPath, message: String, hint: Option<String>| {
        source.diagnostic(path, message, hint)
    };
    // The name becomes a directory name (`runs/evolve-<name>-<time>`): one rule for every
    // output kind.
    if let Some(problem) = crate::circuit::check::identifier_problem(&spec.name) {
        errors.push(at(
            YamlPath::of(&["name"]),
            problem,
            Some("names are letters, digits, `_`, `-` and `.`".into()),
        ));
    }
    if spec.free.is_empty() {
        errors.push(at(
            YamlPath::of(&["free"]),
            "no free parameters: evolution needs at least one free term".into(),
            Some("e.g. `free: [{motif: W1, terms: [m_x, z_x]}]`".into()),
        ));
    }
    for (i, f) in spec.free.iter().enumerate() {
        let path = YamlPath::of(&["free"]).index(i);
        let Some(m) = motif_names.iter().position(|n| *n == f.motif) else {
            errors.push(at(
                path.key("motif"),
                format!("the circuit has no motif on `{}`", f.motif),
                Some(format!(
                    "motifs (by plastic projection, after expanding `learning:`): {}",
                    motif_names.join(", ")
                )),
            ));
            continue;
        };
        if out.iter().any(|p: &FreeParameter| p.motif == m) {
            errors.push(at(
                path.key("motif"),
                format!("`{}` is listed twice in `free`", f.motif),
                Some("list each motif once with all its free terms".into()),
            ));
        }
        let [lower, upper] = f.bounds;
        if let Some(problem) = bounds_problem(lower, upper) {
            errors.push(at(
                path.key("bounds"),
                problem,
                Some("write them as [low, high], e.g. [-2, 2]".into()),
            ));
        }
        if f.terms.len() > 1
            && let Some(j) = f.terms.iter().position(|t| t == "all")
        {
            errors.push(at(
                path.key("terms").index(j),
                "`all` cannot be combined with named terms".into(),
                Some("write `terms: [all]` alone, or list the terms by name".into()),
            ));
            continue;
        }
        let terms: Vec<Term> = if f.terms.len() == 1 && f.terms[0] == "all" {
            Term::ALL
                .iter()
                .copied()
                .filter(|t| readable(circuit, m, &f.motif, *t).is_none())
                .collect()
        } else {
            let mut terms = Vec::new();
            for (j, key) in f.terms.iter().enumerate() {
                let tpath = path.key("terms").index(j);
                match term_of(circuit, m, &f.motif, key, ", or `[all]`") {
                    Err((message, hint)) => errors.push(at(tpath, message, hint)),
                    Ok(t) if terms.contains(&t) => {
                        errors.push(at(tpath, format!("`{key}` is listed twice"), None))
                    }
                    Ok(t) => terms.push(t),
                }
            }
            terms
        };
        if terms.is_empty() && f.tau_w.is_none() {
            errors.push(at(
                path.key("terms"),
                "no free terms for this motif".into(),
                None,
            ));
        }
        for t in terms {
            out.push(FreeParameter {
                motif: m,
                kind: FreeKind::Theta(t),
                lower,
                upper,
                column: format!("theta_{}:{}", t.key(), f.motif),
            });
        }
        if let Some([lo, hi]) = f.tau_w {
            let (lo, hi) = (lo.seconds(), hi.seconds());
            if !(lo > 0.0
                && lo < hi
                && hi.is_finite()
                && bounds_problem(lo.ln(), hi.ln()).is_none())
            {
                errors.push(at(
                    path.key("tau_w"),
                    format!("the τ_w range must be positive and increasing, got [{lo} s, {hi} s]"),
                    None,
                ));
            } else {
                out.push(FreeParameter {
                    motif: m,
                    kind: FreeKind::LogTauW,
                    lower: lo.ln(),
                    upper: hi.ln(),
                    column: format!("log_tau_w_s:{}", f.motif),
                });
            }
        }
    }
    let strategy_path = YamlPath::of(&["strategy"]);
    let mut bad = |key: &str, message: String| {
        errors.push(at(strategy_path.key(key), message, None));
    };
    match &spec.strategy {
        StrategySpec::CmaEs {
            population,
            sigma0,
            generations,
            ..
        } => {
            if population.is_some_and(|p| p < 2) {
                bad("population", "the population λ must be at least 2".into());
            }
            let widest = out
                .iter()
                .map(|p| p.upper - p.lower)
                .fold(0.0_f64, f64::max);
            if !(sigma0.is_finite() && *sigma0 > 0.0) {
                bad("sigma0", format!("σ₀ must be positive, got {sigma0}"));
            } else if widest > 0.0 && *sigma0 > widest {
                // Every candidate would be clipped onto a bound, and the step size adapts to
                // steps it never took.
                bad(
                    "sigma0",
                    format!(
                        "σ₀ = {sigma0} is wider than the widest bounds ({widest}): every candidate would land on a bound"
                    ),
                );
            }
            if *generations == 0 {
                bad("generations", "at least one generation".into());
            }
        }
        StrategySpec::OpenaiEs {
            population,
            sigma,
            learning_rate,
            generations,
            ..
        } => {
            if *population < 2 || population % 2 != 0 {
                bad(
                    "population",
                    format!(
                        "antithetic sampling needs an even population of at least 2, got {population}"
                    ),
                );
            }
            if !(sigma.is_finite() && *sigma > 0.0) {
                bad("sigma", format!("σ must be positive, got {sigma}"));
            }
            if !(learning_rate.is_finite() && *learning_rate > 0.0) {
                bad(
                    "learning_rate",
                    format!("the learning rate must be positive, got {learning_rate}"),
                );
            }
            if *generations == 0 {
                bad("generations", "at least one generation".into());
            }
        }
        StrategySpec::Random { samples, batch, .. } => {
            if *samples == 0 {
                bad("samples", "at least one sample".into());
            }
            if *batch == 0 {
                bad("batch", "a batch of at least one member".into());
            }
        }
    }
    if spec.seeds_per_member == 0 {
        errors.push(at(
            YamlPath::of(&["seeds_per_member"]),
            "at least one seed per member".into(),
            None,
        ));
    }
    if spec.rates.is_empty() || spec.rates.len() > MAX_RATES {
        errors.push(at(
            YamlPath::of(&["rates"]),
            format!(
                "the learning-rate grid has {} entries; give 1 to {MAX_RATES}",
                spec.rates.len()
            ),
            Some("e.g. `rates: [0.5, 1, 2]`".into()),
        ));
    }
    for (i, r) in spec.rates.iter().enumerate() {
        let path = YamlPath::of(&["rates"]).index(i);
        if !(r.is_finite() && *r > 0.0 && *r <= 1e6 && *r >= 1e-6) {
            errors.push(at(
                path,
                format!("a rate factor divides τ_w and must lie in [1e-6, 1e6], got {r}"),
                None,
            ));
        } else if spec.rates[..i].contains(r) {
            errors.push(at(
                path,
                format!("the rate factor {r} is listed twice"),
                None,
            ));
        }
    }
    errors.extend(baseline_problems(spec, source, circuit));
    if let Some(h) = &spec.heldout {
        let path = YamlPath::of(&["heldout"]);
        if h.seeds == 0 {
            errors.push(at(
                path.key("seeds"),
                "at least one held-out seed".into(),
                None,
            ));
        }
        for (i, s) in h.shapes.iter().enumerate() {
            let spath = path.key("shapes").index(i);
            if let Some(problem) = crate::circuit::check::identifier_problem(&s.name) {
                errors.push(at(spath.key("name"), problem, None));
            } else if s.name == "trained" || h.shapes[..i].iter().any(|o| o.name == s.name) {
                errors.push(at(
                    spath.key("name"),
                    format!("the shape name `{}` is taken", s.name),
                    Some("`trained` is the evolution's own shape; name each shape once".into()),
                ));
            }
        }
    }
    if !(spec.fitness.l1.is_finite() && spec.fitness.l1 >= 0.0) {
        errors.push(at(
            YamlPath::of(&["fitness", "l1"]),
            format!("the L1 penalty must be ≥ 0, got {}", spec.fitness.l1),
            None,
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics(errors))
    }
}

/// Why the spec's motif `m` (on `motif`) cannot use `term`: it reads a modulator or a trace the
/// motif does not have.
fn readable(circuit: &Circuit, m: usize, motif: &str, term: Term) -> Option<(String, String)> {
    let key = term.key();
    let motif_of = circuit
        .motifs
        .get(super::members::circuit_motif(circuit, m));
    let has_modulator = motif_of.is_some_and(|c| c.modulator.is_some());
    // Terms reading the post population's trace need one to be declared.
    let has_trace = motif_of.is_some_and(|c| {
        let post = circuit.projections[c.projection].to;
        circuit.populations[post].trace.is_some()
    });
    if term.uses_modulator() && !has_modulator {
        return Some((
            format!("`{key}` reads the modulator, and the motif on `{motif}` has none"),
            "give the motif a `modulator`, or use only terms without m".into(),
        ));
    }
    if term.def().reads(crate::rule::Post::Q) && !has_trace {
        return Some((
            format!(
                "`{key}` reads the trace q of the post population of `{motif}`, which declares none"
            ),
            "add a `trace:` to that population, or use only terms without q".into(),
        ));
    }
    None
}

/// The term `key` names, if the motif `m` (on `motif`) can use it; else the message and hint
/// (`more` ends the list of known terms).
fn term_of(
    circuit: &Circuit,
    m: usize,
    motif: &str,
    key: &str,
    more: &str,
) -> Result<Term, (String, Option<String>)> {
    let Some(&t) = Term::ALL.iter().find(|t| t.key() == key) else {
        return Err((
            format!("unknown term `{key}`"),
            Some(format!(
                "terms: {}{more}",
                Term::ALL.map(|t| t.key()).join(", ")
            )),
        ));
    };
    match readable(circuit, m, motif, t) {
        Some((message, hint)) => Err((message, Some(hint))),
        None => Ok(t),
    }
}

/// The problems of the `baselines:` list: a name listed twice or taken, and explicit θ that
/// name no free motif, an unknown term or one the motif cannot read, or a non-finite value.
fn baseline_problems(spec: &EvolveSpec, source: &SourceFile, circuit: &Circuit) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let free: Vec<&str> = spec.free.iter().map(|f| f.motif.as_str()).collect();
    for (i, b) in spec.baselines.iter().enumerate() {
        let path = YamlPath::of(&["baselines"]).index(i);
        let name_path = match b {
            Baseline::Rule(_) => path.clone(),
            Baseline::Theta(_) => path.key("name"),
        };
        if spec.baselines[..i].iter().any(|o| o.name() == b.name()) {
            errors.push(source.diagnostic(
                name_path,
                format!("the baseline `{}` is listed twice", b.name()),
                Some("name each baseline once".into()),
            ));
            continue;
        }
        let Baseline::Theta(t) = b else {
            continue;
        };
        // The name becomes column names (`<name>_fitness`) and a legend entry.
        if let Some(problem) = crate::circuit::check::identifier_problem(&t.name) {
            errors.push(source.diagnostic(name_path, problem, None));
        } else if RuleName::from_name(&t.name).is_some()
            || RESERVED_BASELINE_NAMES.contains(&t.name.as_str())
        {
            errors.push(source.diagnostic(
                name_path,
                format!("the baseline name `{}` is taken", t.name),
                Some(format!(
                    "rules ({}) and the tables' own {} cannot name an explicit θ",
                    RuleName::ALL.map(|r| r.name()).join(", "),
                    RESERVED_BASELINE_NAMES.join(", ")
                )),
            ));
        }
        if t.theta.is_empty() {
            errors.push(source.diagnostic(
                path.key("theta"),
                "no motif: an explicit θ names at least one free motif",
                Some("e.g. `theta: {B2: {m_x: 1}}`".into()),
            ));
        }
        for (motif, terms) in &t.theta {
            let mpath = path.key("theta").key(motif);
            let m = circuit.spec.motifs.iter().position(|s| &s.plastic == motif);
            let Some(m) = m.filter(|_| free.contains(&motif.as_str())) else {
                errors.push(source.diagnostic(
                    mpath,
                    format!("`{motif}` is not a free motif of this evolution"),
                    Some(format!(
                        "an explicit θ is a point of the rule space: free motifs are {}",
                        free.join(", ")
                    )),
                ));
                continue;
            };
            for (key, value) in terms {
                let tpath = mpath.key(key);
                if let Err((message, hint)) = term_of(circuit, m, motif, key, "") {
                    errors.push(source.diagnostic(tpath, message, hint));
                } else if !value.is_finite() || value.abs() > MAX_BOUND {
                    errors.push(source.diagnostic(
                        tpath,
                        format!("θ must be finite and within ±{MAX_BOUND:e}, got {value:e}"),
                        None,
                    ));
                }
            }
        }
    }
    errors
}

/// The circuit of an explicit-θ baseline: each named motif's θ replaced by the written one
/// (terms not named are 0), in the circuit and its spec alike, as a member's θ is written.
/// Entries [`free_parameters`] refuses are skipped here; it runs before anything is scored.
pub(super) fn theta_circuit(base: &Circuit, theta: &ThetaBaseline) -> Circuit {
    let mut c = base.clone();
    for (motif, terms) in &theta.theta {
        let Some(k) = c.spec.motifs.iter().position(|s| &s.plastic == motif) else {
            continue;
        };
        let m = super::members::circuit_motif(&c, k);
        let mut values = [0.0; Term::ALL.len()];
        for (key, &v) in terms {
            if let Some(j) = Term::ALL.iter().position(|t| t.key() == key) {
                values[j] = v;
            }
        }
        c.motifs[m].theta = values;
        c.spec.motifs[k].rule = crate::spec::RuleSpec(values);
    }
    c
}
