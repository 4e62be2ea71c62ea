//! Resolves names to indices and checks what an explicit circuit means: names exist, shapes
//! match, time constants and steps are sane, instantaneous populations form no cycle, modulators
//! reach their synapses, and the task fits the input and target populations.
//!
//! Every check adds to one list so a user sees all problems of a file at once.

use super::connectivity::Wiring;
use super::{Circuit, Motif, OutputPath, Population, Projection, Trace, theta_of};
use crate::rule::{needs_modulator, reads_trace};
use crate::spec::{
    CircuitSpec, Diagnostic, Diagnostics, Init, Method, Role, Seg, SourceFile, TaskKindName,
    TraceSignal, YamlPath,
};
use crate::text::count;
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::DiGraph;

struct Checker<'a> {
    source: &'a SourceFile,
    /// Settings that `--set` changed (their problems are reported against the argument).
    overridden: Vec<YamlPath>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, path: YamlPath, message: impl Into<String>, hint: Option<&str>) {
        let d = self.diagnostic(path, message.into(), hint);
        if !self.errors.iter().any(|e| same_problem(e, &d)) {
            self.errors.push(d);
        }
    }
    fn warn(&mut self, path: YamlPath, message: impl Into<String>, hint: Option<&str>) {
        let d = self.diagnostic(path, message.into(), hint);
        if !self.warnings.iter().any(|w| same_problem(w, &d)) {
            self.warnings.push(d);
        }
    }

    /// A diagnostic located in the file. Elements that `learning:` expanded into are not in
    /// the file: their problems are reported at the `learning:` setting they came from, with
    /// the generated element named in the message.
    fn diagnostic(&self, path: YamlPath, message: String, hint: Option<&str>) -> Diagnostic {
        let hint = hint.map(str::to_string);
        let locator = &self.source.locator;
        let learning = YamlPath::of(&["learning"]);
        let element = YamlPath(path.0.iter().take(2).cloned().collect());
        if path.0.len() < 2 || locator.has(&element) || locator.find(&learning).is_none() {
            return self.source.diagnostic(path, message, hint);
        }
        let field = match path.0.last() {
            Some(Seg::Key(k)) => k.as_str(),
            _ => "",
        };
        let setting = match field {
            "tau_w" | "tau_decay" | "weight_noise" => learning.key(field),
            "init" => learning.key("feedback_init"),
            _ => learning.key("rule"),
        };
        let from_set = self.overridden.iter().any(|o| setting.0.starts_with(&o.0));
        let setting = if from_set || locator.find(&setting).is_some() {
            setting
        } else {
            learning
        };
        self.source.diagnostic(
            setting,
            format!("{message} (in `{element}`{GENERATED_NOTE}"),
            hint,
        )
    }
}

/// Ends the message of a problem found in an element that `learning:` generated.
const GENERATED_NOTE: &str = ", written out from `learning:`; see `hetsim expand`)";

/// Two diagnostics about the same setting with the same message, up to which generated element
/// they were found in: `learning.tau_w = 0` is one problem, however many motifs inherit it.
fn same_problem(a: &Diagnostic, b: &Diagnostic) -> bool {
    let base = |d: &Diagnostic| -> String {
        match d.message.rfind(" (in `") {
            Some(at) if d.message.ends_with(GENERATED_NOTE) => d.message[..at].to_string(),
            _ => d.message.clone(),
        }
    };
    a.path == b.path && a.line == b.line && a.column == b.column && base(a) == base(b)
}

fn pop_path(name: &str) -> YamlPath {
    YamlPath::of(&["populations", name])
}
fn proj_path(name: &str) -> YamlPath {
    YamlPath::of(&["projections", name])
}
fn motif_path(i: usize) -> YamlPath {
    YamlPath::of(&["motifs"]).index(i)
}

/// Sanity limits that keep a mistyped size from exhausting memory: the largest workload of
/// DESIGN §4 has 1,000 units and 784,000 synapses in one projection.
pub const MAX_POPULATION_SIZE: usize = 1_000_000;
pub const MAX_PROJECTION_SYNAPSES: usize = 100_000_000;

/// The longest name a circuit, population or projection may have: names become parts of
/// directory names and table cells, and a file name is limited to 255 bytes.
pub const MAX_NAME_LEN: usize = 100;

/// Projection names that mean something else in the run's tables: `all` is the row key of the
/// measurements over every plastic projection together (`projection = all` in metrics.csv).
pub const RESERVED_PROJECTION_NAMES: &[&str] = &["all"];

/// Why `name` is not an identifier, if it is not one. Identifiers are letters, digits, `_`, `-`
/// and `.`, because names become directory names (a circuit's run directory) and CSV cells: a
/// `/` or `..` would write outside `runs/`, and a cell starting with `=`, `+`, `-` or `@` is
/// read as a formula by spreadsheets.
pub fn identifier_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a name cannot be empty".into());
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Some(format!(
            "the name is {} characters long; names are limited to {MAX_NAME_LEN}",
            name.chars().count()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        let shown = if bad.is_whitespace() || bad.is_control() {
            format!("{bad:?}")
        } else {
            format!("`{bad}`")
        };
        return Some(format!(
            "`{}` is not a valid name: it contains {shown}",
            name.escape_default()
        ));
    }
    if let Some(first) = name
        .chars()
        .next()
        .filter(|c| matches!(c, '=' | '+' | '-' | '@'))
    {
        return Some(format!(
            "`{name}` is not a valid name: it starts with `{first}`"
        ));
    }
    if name.contains("..") || name == "." {
        return Some(format!(
            "`{name}` is not a valid name: `.` and `..` are path components"
        ));
    }
    None
}

const IDENTIFIER_HINT: &str = "names are letters, digits, `_`, `-` and `.`, and do not start with `-`, e.g. `W1` or `teacher-fa`";

fn check_names(c: &mut Checker, spec: &CircuitSpec) {
    if let Some(problem) = identifier_problem(&spec.name) {
        c.error(YamlPath::of(&["name"]), problem, Some(IDENTIFIER_HINT));
    }
    for name in spec.populations.keys() {
        if let Some(problem) = identifier_problem(name) {
            c.error(pop_path(name), problem, Some(IDENTIFIER_HINT));
        }
    }
    for name in spec.projections.keys() {
        if let Some(problem) = identifier_problem(name) {
            c.error(proj_path(name), problem, Some(IDENTIFIER_HINT));
        } else if RESERVED_PROJECTION_NAMES.contains(&name.as_str()) {
            c.error(
                proj_path(name),
                format!("`{name}` is reserved: the tables use `projection = {name}` for every plastic projection together"),
                Some("rename the projection, e.g. `W_all`"),
            );
        }
    }
}

/// Resolves and checks an expanded spec; `budget` is the memory budget its sizes (and the
/// saved weights it reads) are checked against.
pub fn resolve_and_check(
    source: &SourceFile,
    spec: CircuitSpec,
    budget: &super::budget::Budget,
) -> Result<Circuit, Diagnostics> {
    let mut c = Checker {
        source,
        overridden: spec.overrides.iter().map(|o| o.path.clone()).collect(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    check_names(&mut c, &spec);
    check_time(&mut c, &spec);

    if spec.populations.is_empty() {
        c.error(
            YamlPath::of(&["populations"]),
            "the circuit has no populations",
            Some("add at least an input and a rate population, e.g. `x: {role: input, size: 30}` and `y: {size: 10, tau: 5 ms}`"),
        );
        return Err(Diagnostics(c.errors));
    }
    let index_of = |name: &str| spec.populations.get_index_of(name);
    let names: Vec<&str> = spec.populations.keys().map(|s| s.as_str()).collect();
    let known_pops = format!("known populations: {}", names.join(", "));

    // Populations.
    let mut populations = Vec::new();
    for (name, p) in &spec.populations {
        let path = pop_path(name);
        // A population that `learning:` generated copies the size of a population in the
        // file; a bad size is reported there, once.
        let generated = !source.locator.has(&path)
            && source.locator.find(&YamlPath::of(&["learning"])).is_some();
        if generated {
            // (checked at its original)
        } else if p.size == 0 {
            c.error(
                path.key("size"),
                format!("{}, found `0`", crate::spec::SIZE_RULE),
                Some("a population has at least one unit"),
            );
        } else if p.size > MAX_POPULATION_SIZE {
            c.error(
                path.key("size"),
                format!(
                    "size {} is more than the {MAX_POPULATION_SIZE} units a population may have",
                    p.size
                ),
                None,
            );
        }
        let tau_s = match (p.role, p.tau) {
            (Role::Input | Role::Target, Some(_)) => {
                c.error(
                    path.key("tau"),
                    format!(
                        "{} populations follow the task and have no time constant",
                        role_name(p.role)
                    ),
                    Some("remove `tau`"),
                );
                0.0
            }
            (Role::Rate, None) => {
                c.error(
                    path.clone(),
                    "rate population needs `tau`",
                    Some("add e.g. `tau: 5 ms`, or `tau: 0 ms` for an instantaneous population"),
                );
                0.0
            }
            (_, tau) => tau.map(|t| t.seconds()).unwrap_or(0.0),
        };
        if p.role.is_driven() && (p.gain_from.is_some() || p.noise != 0.0 || p.bias != 0.0) {
            c.error(path.clone(), format!("{} populations take their values from the task; `gain_from`, `noise` and `bias` do not apply", role_name(p.role)), None);
        }
        if !(p.noise >= 0.0 && p.noise.is_finite()) {
            c.error(
                path.key("noise"),
                format!("noise must be a finite σ ≥ 0, not {}", p.noise),
                None,
            );
        }
        if !p.bias.is_finite() {
            c.error(path.key("bias"), "bias must be finite", None);
        }
        // A partner population named by `gain_from` or `compartment_of`: it must exist, be
        // another population and have as many units, since both pair units one to one.
        let mut partner = |field: &str, g: &String, why: &str| match index_of(g) {
            None => {
                c.error(
                    path.key(field),
                    format!("unknown population `{g}`"),
                    Some(&known_pops),
                );
                None
            }
            Some(_) if g == name => {
                c.error(
                    path.key(field),
                    format!("`{field}` cannot name the population itself"),
                    None,
                );
                None
            }
            Some(i) if spec.populations[i].size != p.size => {
                c.error(
                    path.key(field),
                    format!(
                        "`{g}` has {} but `{name}` has {}; {why}",
                        count(spec.populations[i].size, "unit"),
                        count(p.size, "unit")
                    ),
                    None,
                );
                None
            }
            Some(i) => Some(i),
        };
        let gain_from = p
            .gain_from
            .as_ref()
            .and_then(|g| partner("gain_from", g, "the gain is taken unit by unit"));
        let compartment_of = p.compartment_of.as_ref().and_then(|host| {
            partner(
                "compartment_of",
                host,
                "a compartment's units are its host's units, one to one",
            )
        });
        let trace = p.trace.as_ref().map(|t| {
            let tau = t.tau.seconds();
            let at = path.key("trace");
            if tau <= 0.0 {
                c.error(
                    at.key("tau"),
                    "a trace's tau must be positive",
                    Some("e.g. `tau: 1 s`"),
                );
            } else if spec.time.method == Method::Euler && tau <= spec.time.dt.seconds() {
                c.error(
                    at.key("tau"),
                    "a trace's tau must be longer than dt under `method: euler`",
                    None,
                );
            }
            if !t.init.is_finite() {
                c.error(at.key("init"), "a trace's init must be finite", None);
            }
            if spec.time.method == Method::Rk4 {
                c.error(
                    at.clone(),
                    "traces are not integrated by `method: rk4`",
                    Some("use `method: exponential_euler` (exact for a trace) or `euler`"),
                );
            }
            Trace {
                squared: t.of == TraceSignal::RateSquared,
                tau_s: tau,
                init: t.init,
            }
        });
        populations.push(Population {
            name: name.clone(),
            role: p.role,
            size: p.size,
            tau_s,
            activation: p.activation,
            bias: p.bias,
            noise: p.noise,
            gain_from,
            compartment_of,
            trace,
        });
    }

    // Projections.
    let source_dir = source
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let mut saved_runs = super::saved::Reader::new(budget);
    let mut projections: Vec<Projection> = Vec::new();
    // Whether both ends of each projection name existing populations; shape checks skip the
    // others, whose dangling name is already reported.
    let mut resolved: Vec<bool> = Vec::new();
    let proj_names: Vec<&str> = spec.projections.keys().map(|s| s.as_str()).collect();
    for (name, p) in &spec.projections {
        let path = proj_path(name);
        let from = index_of(&p.from);
        let to = index_of(&p.to);
        if from.is_none() {
            c.error(
                path.key("from"),
                format!("unknown population `{}`", p.from),
                Some(&known_pops),
            );
        }
        if to.is_none() {
            c.error(
                path.key("to"),
                format!("unknown population `{}`", p.to),
                Some(&known_pops),
            );
        }
        if let Some(t) = to
            && populations[t].role.is_driven()
        {
            c.error(
                path.key("to"),
                format!(
                    "`{}` is {} population: the task drives it, projections cannot",
                    p.to,
                    with_article(populations[t].role)
                ),
                None,
            );
        }
        if p.sign != 1.0 && p.sign != -1.0 {
            c.error(
                path.key("sign"),
                format!("sign must be 1 or -1, not {}", p.sign),
                None,
            );
        }
        check_init(
            &mut c,
            path.key("init"),
            &p.init,
            from.zip(to)
                .map(|(f, t)| (populations[f].size, populations[t].size)),
        );
        // Saved weights are read now, so `validate` finds a missing file or a wrong shape.
        let saved = match from.zip(to) {
            Some((f, t)) if p.init.is_saved() => {
                let shape = (populations[t].size, populations[f].size);
                match saved_runs.init(&source_dir, name, &p.init, shape) {
                    Ok(s) => Some(std::sync::Arc::new(s)),
                    Err(e) => {
                        c.error(path.key("init"), e, None);
                        None
                    }
                }
            }
            _ => None,
        };
        let wiring = wiring(
            &mut c,
            path.key("connectivity"),
            p,
            &source_dir,
            from.zip(to)
                .map(|(f, t)| (populations[t].size, populations[f].size)),
            spec.time.method,
            budget,
        );
        if let (Some(f), Some(t)) = (from, to)
            && populations[f].size <= MAX_POPULATION_SIZE
            && populations[t].size <= MAX_POPULATION_SIZE
        {
            let synapses = populations[f].size.saturating_mul(populations[t].size);
            if synapses > MAX_PROJECTION_SYNAPSES {
                c.error(
                    path.clone(),
                    format!("`{name}` would have {synapses} synapses ({} × {}), more than the {MAX_PROJECTION_SYNAPSES} a projection may have", populations[t].size, populations[f].size),
                    None,
                );
            }
        }
        resolved.push(from.is_some() && to.is_some());
        let (from, to) = (from.unwrap_or(0), to.unwrap_or(0));
        let forward = expand_is_forward(&spec, p);
        projections.push(Projection {
            name: name.clone(),
            from,
            to,
            init: p.init.clone(),
            sign: p.sign,
            delay_s: p.delay.seconds(),
            tied: None,
            stands_for: None,
            motif: None,
            forward,
            saved,
            wiring,
        });
    }
    // References between projections, once all exist.
    for (i, (name, p)) in spec.projections.iter().enumerate() {
        let path = proj_path(name);
        for (field, target) in [("tied", &p.tied), ("stands_for", &p.stands_for)] {
            let Some(target) = target else { continue };
            match spec.projections.get_index_of(target) {
                None => c.error(
                    path.key(field),
                    format!("unknown projection `{target}`"),
                    Some(&format!("known projections: {}", proj_names.join(", "))),
                ),
                Some(j) if j == i => c.error(
                    path.key(field),
                    format!("`{name}` cannot refer to itself"),
                    None,
                ),
                Some(j) => {
                    let (me, other) = (&projections[i], &projections[j]);
                    let both_resolved = resolved[i] && resolved[j];
                    let shape =
                        |pr: &Projection| (populations[pr.to].size, populations[pr.from].size);
                    let (rows, cols) = shape(me);
                    let (other_rows, other_cols) = shape(other);
                    if both_resolved && (rows, cols) != (other_cols, other_rows) {
                        c.error(path.key(field), format!("`{name}` is {rows}×{cols} but the transpose of `{target}` is {other_cols}×{other_rows}"), Some("a tied or stand-in projection must have the transposed shape"));
                    }
                    if field == "tied" {
                        if !me.wiring.is_all() {
                            c.error(path.key("connectivity"), format!("`{name}` is tied to `{target}` and takes its synapses, transposed"), Some("leave `connectivity` out of the tied projection"));
                        }
                        if spec.projections[target].tied.is_some() {
                            c.error(path.key(field), format!("`{target}` is itself tied; tie to a projection that owns its weights"), None);
                        }
                        projections[i].tied = Some(j);
                    } else {
                        projections[i].stands_for = Some(j);
                    }
                }
            }
        }
    }

    // Mirrored synapses, once the projections they mirror are resolved.
    for (i, (name, p)) in spec.projections.iter().enumerate() {
        if p.connectivity != crate::spec::Connectivity::Mirror {
            continue;
        }
        let path = proj_path(name).key("connectivity");
        match p.stands_for.as_ref().map(|t| spec.projections.get_index_of(t)) {
            None => c.error(
                path,
                format!("`{name}` mirrors the synapses of the projection it stands for, but has no `stands_for`"),
                Some("add `stands_for: <forward projection>`, or give another connectivity"),
            ),
            // An unknown or self-referring `stands_for` is reported above.
            Some(None) => {}
            Some(Some(j)) if j == i => {}
            Some(Some(j)) => {
                if spec.projections[j].connectivity == crate::spec::Connectivity::Mirror {
                    c.error(
                        path,
                        format!("`{name}` mirrors `{}`, which mirrors another projection itself", projections[j].name),
                        Some("mirror a projection that draws or lists its own synapses"),
                    );
                } else {
                    projections[i].wiring =
                        Wiring::mirror(&projections[j].name, &projections[j].wiring);
                }
            }
        }
    }

    // Motifs.
    let mut motifs = Vec::new();
    for (k, m) in spec.motifs.iter().enumerate() {
        let path = motif_path(k);
        let Some(proj) = spec.projections.get_index_of(&m.plastic) else {
            c.error(
                path.key("plastic"),
                format!("unknown projection `{}`", m.plastic),
                Some(&format!("known projections: {}", proj_names.join(", "))),
            );
            continue;
        };
        if projections[proj].tied.is_some() {
            c.error(
                path.key("plastic"),
                format!(
                    "`{}` is tied to another projection's transpose and cannot learn on its own",
                    m.plastic
                ),
                None,
            );
        }
        if let Some(other) = projections[proj].motif {
            c.error(
                path.key("plastic"),
                format!(
                    "`{}` already learns through motifs[{other}]; combine the rules into one motif",
                    m.plastic
                ),
                None,
            );
        }
        let theta = theta_of(m);
        if theta.iter().all(|t| *t == 0.0) {
            c.error(
                path.key("rule"),
                "every rule coefficient is zero, so the projection would never learn",
                Some("set e.g. `rule: {m_x: 1}`"),
            );
        }
        if theta.iter().any(|t| !t.is_finite()) {
            c.error(path.key("rule"), "rule coefficients must be finite", None);
        }
        if m.tau_w.seconds() <= 0.0 {
            c.error(
                path.key("tau_w"),
                "tau_w must be positive",
                Some("e.g. `tau_w: 2 s`"),
            );
        }
        if let Some(d) = m.tau_decay
            && d.seconds() <= 0.0
        {
            c.error(
                path.key("tau_decay"),
                "tau_decay must be positive (leave it out for no decay)",
                None,
            );
        }
        if !(m.weight_noise >= 0.0 && m.weight_noise.is_finite()) {
            c.error(
                path.key("weight_noise"),
                "weight_noise must be a finite σ ≥ 0",
                None,
            );
        } else if m.weight_noise > 0.0 && spec.time.method == Method::Rk4 {
            // The RK4 step has no Euler–Maruyama term for the weights: the noise would be
            // dropped without a word.
            c.error(
                path.key("weight_noise"),
                "weight noise is not integrated by `method: rk4`",
                Some("use `method: exponential_euler` or `euler` (noise is integrated as Euler–Maruyama), or set `weight_noise: 0`"),
            );
        }
        let post = projections[proj].to;
        if let Some(t) = reads_trace(&theta)
            && populations[post].trace.is_none()
        {
            c.error(
                path.key("rule").key(t.key()),
                format!(
                    "`{}` reads the trace q of `{}`, the post population of `{}`, which declares none",
                    t.key(),
                    populations[post].name,
                    m.plastic
                ),
                Some(&format!(
                    "add e.g. `trace: {{of: rate_squared, tau: 1 s}}` to population `{}`",
                    populations[post].name
                )),
            );
        }
        let modulator = match &m.modulator {
            None => {
                if needs_modulator(&theta) {
                    c.error(
                        path.clone(),
                        "the rule reads the modulator m but the motif names none",
                        Some("add `modulator: <population>`"),
                    );
                }
                None
            }
            Some(name) => match index_of(name) {
                None => {
                    c.error(
                        path.key("modulator"),
                        format!("unknown population `{name}`"),
                        Some(&known_pops),
                    );
                    None
                }
                Some(_) if !resolved[proj] => None,
                Some(mi) => {
                    if populations[mi].size != populations[post].size {
                        c.error(path.key("modulator"), format!("modulator `{name}` has {} but the post population `{}` of `{}` has {}; m is delivered unit by unit", count(populations[mi].size, "unit"), populations[post].name, m.plastic, count(populations[post].size, "unit")), None);
                    } else if !reaches(&populations, &projections, mi, post) {
                        c.error(path.key("modulator"), format!("modulator `{name}` does not reach `{}`, the post population of `{}`", populations[post].name, m.plastic), Some(&format!("a modulator must be the post population itself, its gain partner, a compartment of it (`compartment_of: {}` on `{name}`), or linked to it by a projection", populations[post].name)));
                    }
                    Some(mi)
                }
            },
        };
        projections[proj].motif = Some(motifs.len());
        motifs.push(Motif {
            projection: proj,
            modulator,
            theta,
            tau_w_s: m.tau_w.seconds(),
            tau_decay_s: m.tau_decay.map(|t| t.seconds()),
            weight_noise: m.weight_noise,
        });
    }

    for p in super::probes::problems(&spec, &populations, &projections, &resolved) {
        c.error(p.path, p.message, p.hint.as_deref());
    }

    let output = output_path(&populations, &projections);
    // The memory and step budget, before the task is built: building it allocates its teacher
    // and reads its data set.
    let mut within_budget = false;
    if c.errors.is_empty() {
        match budget.resolve_located() {
            Ok((budget, from)) => {
                let view = super::budget::View {
                    spec: &spec,
                    populations: &populations,
                    projections: &projections,
                    output: output.as_ref(),
                    base_dir: &source_dir,
                };
                let refused = super::budget::check_view(source, &view, budget, &from);
                within_budget = refused.is_empty();
                c.errors.extend(refused);
            }
            Err(d) => c.errors.push(d),
        }
    }
    let input = check_task(&mut c, &spec, &populations, output.as_ref(), within_budget);

    // The graph and the evaluation order.
    let mut graph = DiGraph::new();
    let nodes: Vec<_> = (0..populations.len()).map(|i| graph.add_node(i)).collect();
    for (i, p) in projections.iter().enumerate() {
        graph.add_edge(nodes[p.from], nodes[p.to], i);
    }
    // A cycle is worth reporting beside other errors, as long as every edge is real.
    let order = if resolved.iter().all(|&r| r) {
        evaluation_order(&mut c, &populations, &projections)
    } else {
        Vec::new()
    };

    check_step(&mut c, &spec, &populations);
    check_plasticity_curve(&mut c, &spec, &populations, &projections);
    let (protocol, problems) = super::protocol::resolve(&spec, &populations, &projections);
    for p in problems {
        c.error(p.path, p.message, p.hint.as_deref());
    }

    if !c.errors.is_empty() {
        return Err(Diagnostics(c.errors));
    }
    Ok(Circuit {
        dt_s: spec.time.dt.seconds(),
        duration_s: spec.time.duration.seconds(),
        method: spec.time.method,
        spec,
        populations,
        projections,
        motifs,
        graph,
        nodes,
        order,
        output,
        input,
        warnings: c.warnings,
        source_dir,
        protocol,
    })
}

fn expand_is_forward(spec: &CircuitSpec, p: &crate::spec::ProjectionSpec) -> bool {
    super::expand::is_forward(spec, p)
}

fn with_article(role: Role) -> &'static str {
    match role {
        Role::Input => "an input",
        Role::Target => "a target",
        Role::Rate => "a rate",
        Role::Error => "an error",
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Input => "input",
        Role::Target => "target",
        Role::Rate => "rate",
        Role::Error => "error",
    }
}

fn check_time(c: &mut Checker, spec: &CircuitSpec) {
    let t = &spec.time;
    if t.dt.seconds() <= 0.0 {
        c.error(
            YamlPath::of(&["time", "dt"]),
            "dt must be positive",
            Some("e.g. `dt: 0.1 ms`"),
        );
    }
    if t.duration.seconds() <= 0.0 {
        c.error(
            YamlPath::of(&["time", "duration"]),
            "duration must be positive",
            None,
        );
    } else if t.duration < t.dt {
        c.error(
            YamlPath::of(&["time", "duration"]),
            "duration is shorter than one step dt",
            None,
        );
    }
    if spec.task.stimulus.duration.seconds() <= 0.0 {
        c.error(
            YamlPath::of(&["task", "stimulus", "duration"]),
            "the stimulus duration must be positive",
            None,
        );
    }
    if spec.record.every < t.dt {
        c.error(
            YamlPath::of(&["record", "every"]),
            format!(
                "recording every {} is shorter than the step dt = {}",
                spec.record.every, t.dt
            ),
            None,
        );
    }
    check_checkpoints(c, spec);
}

/// `record.checkpoints.every`: positive, on the step grid, and a whole number of recording
/// intervals (checkpoints are taken at window ends).
fn check_checkpoints(c: &mut Checker, spec: &CircuitSpec) {
    let Some(cp) = &spec.record.checkpoints else {
        return;
    };
    let path = YamlPath::of(&["record", "checkpoints", "every"]);
    let (every, dt, record) = (
        cp.every.seconds(),
        spec.time.dt.seconds(),
        spec.record.every.seconds(),
    );
    let whole = |x: f64| x >= 1.0 - 1e-9 && (x - x.round()).abs() <= 1e-6 * x.max(1.0);
    if every.is_nan() || every <= 0.0 {
        c.error(
            path,
            format!(
                "the checkpoint interval must be positive, found {}",
                cp.every
            ),
            None,
        );
    } else if !whole(every / dt) {
        c.error(
            path,
            format!(
                "the checkpoint interval {} is not a whole number of steps dt = {}",
                cp.every, spec.time.dt
            ),
            None,
        );
    } else if !whole(every / record) {
        c.error(
            path,
            format!(
                "checkpoints are taken at recording windows: every must be a multiple of record.every = {}, found {}",
                spec.record.every, cp.every
            ),
            Some("e.g. ten recording intervals"),
        );
    }
}

/// `record.plasticity_curve`: a plastic projection, a synapse inside it, a usable range of
/// post rates, and an interval the recording windows land on.
fn check_plasticity_curve(
    c: &mut Checker,
    spec: &CircuitSpec,
    populations: &[Population],
    projections: &[Projection],
) {
    let Some(pc) = &spec.record.plasticity_curve else {
        return;
    };
    let path = YamlPath::of(&["record", "plasticity_curve"]);
    let plastic: Vec<&str> = projections
        .iter()
        .filter(|p| p.motif.is_some())
        .map(|p| p.name.as_str())
        .collect();
    match projections.iter().find(|p| p.name == pc.projection) {
        None => c.error(
            path.key("projection"),
            format!("unknown projection `{}`", pc.projection),
            Some(&format!("plastic projections: {}", plastic.join(", "))),
        ),
        Some(p) if p.motif.is_none() => c.error(
            path.key("projection"),
            format!("`{}` is not plastic: it has no plasticity curve", p.name),
            Some(&format!("plastic projections: {}", plastic.join(", "))),
        ),
        Some(p) => {
            let (rows, cols) = (populations[p.to].size, populations[p.from].size);
            let [i, j] = pc.synapse;
            if i >= rows || j >= cols {
                c.error(
                    path.key("synapse"),
                    format!(
                        "synapse [{i}, {j}] is outside `{}`, which is {rows} × {cols} (post × pre; indices from 0)",
                        p.name
                    ),
                    None,
                );
            }
        }
    }
    let r = &pc.post_rates;
    if r.count < 2
        || r.count > 100_000
        || !(r.from.is_finite() && r.to.is_finite())
        || r.from >= r.to
    {
        c.error(
            path.key("post_rates"),
            format!(
                "post_rates needs finite `from` < `to` and 2 to 100000 points, found from {} to {} with count {}",
                r.from, r.to, r.count
            ),
            Some("e.g. `post_rates: {from: 0, to: 6, count: 121}`"),
        );
    }
    if !pc.pre_rate.is_finite() {
        c.error(
            path.key("pre_rate"),
            "pre_rate must be a finite number",
            None,
        );
    }
    if pc.instances.is_empty() {
        c.error(
            path.key("instances"),
            "instances is empty",
            Some("e.g. `instances: [0]`"),
        );
    }
    if let Some(every) = pc.every {
        let ratio = every.seconds() / spec.record.every.seconds();
        if every.seconds() <= 0.0 || ratio < 1.0 - 1e-9 || (ratio - ratio.round()).abs() > 1e-6 {
            c.error(
                path.key("every"),
                format!(
                    "the curve is taken at recording windows: every must be a positive multiple of record.every = {}, found {every}",
                    spec.record.every
                ),
                None,
            );
        }
    }
}

/// dt against the fastest population: Euler and RK4 are unstable for dt > τ; exponential Euler
/// stays stable but loses accuracy, so it only warns.
fn check_step(c: &mut Checker, spec: &CircuitSpec, populations: &[Population]) {
    let dt = spec.time.dt.seconds();
    let Some(fastest) = populations
        .iter()
        .filter(|p| p.tau_s > 0.0)
        .min_by(|a, b| a.tau_s.total_cmp(&b.tau_s))
    else {
        return;
    };
    if dt > fastest.tau_s {
        let message = format!(
            "dt = {} is larger than the time constant of `{}` (tau = {})",
            spec.time.dt,
            fastest.name,
            crate::spec::Time::from_seconds(fastest.tau_s)
        );
        let path = YamlPath::of(&["time", "dt"]);
        match spec.time.method {
            Method::ExponentialEuler => c.warn(
                path,
                format!(
                    "{message}: exponential Euler stays stable but fast transients are smoothed"
                ),
                None,
            ),
            method => c.error(
                path,
                format!("{message}: {} is unstable there", method.name()),
                Some("reduce dt below the smallest tau, or use `method: exponential_euler`"),
            ),
        }
    }
}

/// A projection's `connectivity:` checked against its shape (post × pre) and resolved; an
/// edge file is read now, so `validate` finds its errors. `all` where anything is wrong (the
/// error is reported).
fn wiring(
    c: &mut Checker,
    path: YamlPath,
    p: &crate::spec::ProjectionSpec,
    source_dir: &std::path::Path,
    shape: Option<(usize, usize)>,
    method: Method,
    budget: &super::budget::Budget,
) -> Wiring {
    use crate::spec::Connectivity;
    let wiring = match &p.connectivity {
        // Resolved once every projection is (`mirror` needs the one it stands for).
        Connectivity::All | Connectivity::Mirror => return Wiring::All,
        Connectivity::Probability(q) => Wiring::Probability(*q),
        Connectivity::InDegree(k) => Wiring::InDegree(*k),
        Connectivity::OutDegree(k) => Wiring::OutDegree(*k),
        Connectivity::File(file) => {
            let Some((rows, cols)) = shape else {
                return Wiring::All;
            };
            match super::connectivity::read_edges(&source_dir.join(file), rows, cols, budget) {
                Ok(f) => Wiring::Edges(std::sync::Arc::new(f)),
                Err(e) => {
                    c.error(path.key("file"), e, None);
                    return Wiring::All;
                }
            }
        }
    };
    if method == Method::Rk4 {
        // The RK4 stages move every weight by its slope; a mask would have to hold on each.
        c.error(
            path,
            "connectivity other than `all` is not integrated by `method: rk4`",
            Some("use `method: exponential_euler` or `euler`"),
        );
        return Wiring::All;
    }
    if let Some((rows, cols)) = shape
        && let Some(e) = wiring.check(rows, cols)
    {
        c.error(path, e, None);
        return Wiring::All;
    }
    wiring
}

fn check_init(c: &mut Checker, path: YamlPath, init: &Init, shape: Option<(usize, usize)>) {
    match init {
        Init::Identity => {
            if let Some((pre, post)) = shape
                && pre != post
            {
                c.error(
                    path,
                    format!("identity needs a square matrix, but this projection is {post}×{pre}"),
                    None,
                );
            }
        }
        Init::Uniform([low, high]) if !low.is_finite() || !high.is_finite() || low > high => c
            .error(
                path,
                format!("uniform bounds must be finite with low ≤ high, not [{low}, {high}]"),
                None,
            ),
        Init::Normal([mean, std]) if !mean.is_finite() || !std.is_finite() || *std < 0.0 => c
            .error(
                path,
                format!("normal needs [mean, std] with std ≥ 0, not [{mean}, {std}]"),
                None,
            ),
        Init::Constant(v) if !v.is_finite() => c.error(path, "constant must be finite", None),
        _ => {}
    }
}

/// A modulator reaches a post population when it is that population, its gain partner, a
/// compartment of it, shares its gain partner, or is linked to it directly by a projection
/// either way.
fn reaches(
    populations: &[Population],
    projections: &[Projection],
    modulator: usize,
    post: usize,
) -> bool {
    modulator == post
        || populations[post].gain_from == Some(modulator)
        || populations[modulator].gain_from == Some(post)
        || populations[modulator].compartment_of == Some(post)
        || (populations[post].gain_from.is_some()
            && populations[post].gain_from == populations[modulator].gain_from)
        || projections
            .iter()
            .any(|p| (p.from == modulator && p.to == post) || (p.from == post && p.to == modulator))
}

/// The output error population is the error population fed by the target; the output is its
/// other source.
fn output_path(populations: &[Population], projections: &[Projection]) -> Option<OutputPath> {
    for p in projections {
        if populations[p.from].role == Role::Target && populations[p.to].role == Role::Error {
            let error = p.to;
            let output = projections
                .iter()
                .find(|q| q.to == error && populations[q.from].role == Role::Rate)?
                .from;
            return Some(OutputPath {
                output,
                target: p.from,
                error,
            });
        }
    }
    None
}

/// Non-driven populations ordered so that an instantaneous population follows everything it
/// reads without delay (its inputs and its gain partner). Reports a cycle by name.
fn evaluation_order(
    c: &mut Checker,
    populations: &[Population],
    projections: &[Projection],
) -> Vec<usize> {
    let mut deps = DiGraph::<usize, ()>::new();
    let nodes: Vec<_> = (0..populations.len()).map(|i| deps.add_node(i)).collect();
    for p in projections {
        if populations[p.to].is_instantaneous()
            && p.delay_s == 0.0
            && !populations[p.from].role.is_driven()
        {
            deps.add_edge(nodes[p.from], nodes[p.to], ());
        }
    }
    for (i, pop) in populations.iter().enumerate() {
        if let Some(g) = pop.gain_from
            && pop.is_instantaneous()
        {
            deps.add_edge(nodes[g], nodes[i], ());
        }
    }
    match toposort(&deps, None) {
        Ok(sorted) => sorted
            .into_iter()
            .map(|n| deps[n])
            .filter(|&i| !populations[i].role.is_driven())
            .collect(),
        Err(_) => {
            for scc in tarjan_scc(&deps) {
                let self_loop = scc.len() == 1 && deps.contains_edge(scc[0], scc[0]);
                if scc.len() > 1 || self_loop {
                    let mut names: Vec<String> = scc
                        .iter()
                        .rev()
                        .map(|n| populations[deps[*n]].name.clone())
                        .collect();
                    names.push(names[0].clone());
                    let first = &populations[deps[scc[scc.len() - 1]]].name;
                    c.error(
                        pop_path(first),
                        format!("instantaneous populations form a cycle: {}", names.join(" → ")),
                        Some("give one of them a time constant (`tau: 1 ms`) or put a `delay` on one projection of the cycle"),
                    );
                }
            }
            Vec::new()
        }
    }
}

/// The task must fit the input and target populations; builds the task once to let it check
/// its own parameters (CSV files, data set shapes).
fn check_task(
    c: &mut Checker,
    spec: &CircuitSpec,
    populations: &[Population],
    output: Option<&OutputPath>,
    within_budget: bool,
) -> Option<usize> {
    let task_path = YamlPath::of(&["task"]);
    let inputs: Vec<usize> = (0..populations.len())
        .filter(|&i| populations[i].role == Role::Input)
        .collect();
    let targets: Vec<usize> = (0..populations.len())
        .filter(|&i| populations[i].role == Role::Target)
        .collect();
    if inputs.len() != 1 {
        c.error(
            YamlPath::of(&["populations"]),
            format!(
                "a circuit needs exactly one population with `role: input`, found {}",
                inputs.len()
            ),
            None,
        );
    }
    if targets.len() > 1 {
        c.error(
            YamlPath::of(&["populations"]),
            format!(
                "at most one population may have `role: target`, found {}",
                targets.len()
            ),
            None,
        );
    }
    let t = &spec.task;
    let allowed = t.kind.fields();
    for field in t.fields_set() {
        if !allowed.contains(&field.as_str()) {
            c.error(
                task_path.key(&field),
                format!("`{field}` does not apply to task kind `{}`", t.kind.name()),
                Some(&format!(
                    "fields for this kind: {}",
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                )),
            );
        }
    }
    // A data set needs at least one input column; reported here, at `inputs`, before the
    // population's size is compared with it.
    if t.kind == TaskKindName::Csv && t.inputs == Some(0) {
        c.error(
            task_path.key("inputs"),
            "a CSV task needs at least 1 input column, not 0",
            Some("`inputs` is the number of leading columns that are inputs; the rest are targets"),
        );
        return inputs.first().copied();
    }
    let &[input] = inputs.as_slice() else {
        return None;
    };
    let n_targets = targets.first().map(|&i| populations[i].size);
    let params = match super::task_params(spec, populations[input].size, n_targets) {
        Ok(p) => p,
        Err(e) => {
            c.error(task_path, e, None);
            return Some(input);
        }
    };
    // Sizes out of range are reported already; building the task would only repeat them.
    if populations
        .iter()
        .any(|p| p.size == 0 || p.size > MAX_POPULATION_SIZE)
    {
        return Some(input);
    }
    // The task allocates its teacher matrices (n_targets × n_inputs, or through `hidden`
    // units); refuse sizes that could not be allocated rather than abort.
    let n_in = params.n_inputs;
    let teacher_entries = match &params.kind {
        crate::task::TaskKind::TanhTeacher { hidden } => hidden
            .saturating_mul(n_in)
            .max(hidden.saturating_mul(params.n_targets)),
        _ => params.n_targets.saturating_mul(n_in),
    };
    if teacher_entries > MAX_PROJECTION_SYNAPSES {
        let hidden = matches!(params.kind, crate::task::TaskKind::TanhTeacher { .. });
        c.error(
            if hidden { task_path.key("hidden") } else { task_path },
            format!("the task's teacher would have {teacher_entries} entries, more than the {MAX_PROJECTION_SYNAPSES} allowed"),
            Some("reduce the population sizes (or `hidden`)"),
        );
        return Some(input);
    }
    if !within_budget {
        return Some(input);
    }
    let base = c
        .source
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    if let Err(e) = crate::task::Task::new(&params, 0, &base) {
        let held_out = task_path.key("held_out");
        let held_out_written =
            c.source.locator.has(&held_out) || crate::spec::override_for(spec, &held_out).is_some();
        task_error(
            c,
            e,
            populations,
            input,
            targets.first().copied(),
            output,
            held_out_written,
        );
    }
    Some(input)
}

/// Reports a task that does not fit the circuit at the setting to change: a population's size
/// for a size mismatch, the task field for a bad parameter.
fn task_error(
    c: &mut Checker,
    error: crate::task::TaskError,
    populations: &[Population],
    input: usize,
    target: Option<usize>,
    output: Option<&OutputPath>,
    held_out_written: bool,
) {
    use crate::task::TaskError as T;
    let task = YamlPath::of(&["task"]);
    let size_of = |i: usize| pop_path(&populations[i].name).key("size");
    // Without a target population in the file, `learning:` makes one the size of the output,
    // so the output's size is the one to change.
    let written = target.filter(|&t| c.source.locator.has(&pop_path(&populations[t].name)));
    let target_pop = written.or(output.map(|o| o.output));
    let target_size = || target_pop.map(size_of).unwrap_or_else(|| task.clone());
    let target_words = match (written, target_pop) {
        (Some(t), _) => format!("the target population `{}`", populations[t].name),
        (None, Some(o)) => format!("the output population `{}`", populations[o].name),
        (None, None) => "the target".to_string(),
    };
    // "n_inputs (8×8 pixels)" → "8×8 pixels"
    let detail = |what: &str| {
        what.split_once('(')
            .map(|(_, d)| d.trim_end_matches(')').to_string())
            .unwrap_or_default()
    };
    let (path, message, hint) = match &error {
        T::Dimension {
            task: kind,
            what,
            expected,
            got,
        } if what.starts_with("n_inputs") => (
            size_of(input),
            format!(
                "the {kind} task needs {expected} inputs ({}), but the input population `{}` has {}",
                detail(what),
                populations[input].name,
                count(*got, "unit")
            ),
            format!("set `size: {expected}`"),
        ),
        T::Dimension {
            task: kind,
            what,
            expected,
            got,
        } if what.starts_with("n_targets") => (
            target_size(),
            format!(
                "the {kind} task needs {expected} targets ({}), but {target_words} has {}",
                detail(what),
                count(*got, "unit")
            ),
            format!("set `size: {expected}`"),
        ),
        T::CsvTargetColumns { .. } => (
            target_size(),
            format!("the task does not fit the circuit: {error}"),
            "the output size must match the CSV's target columns".into(),
        ),
        T::InvalidParameter { name, .. } => (
            task.key(name),
            error.to_string(),
            "see circuits/ for examples".into(),
        ),
        T::BadRange { .. } => (
            task.key("teacher"),
            error.to_string(),
            "write `teacher: {uniform: [-1, 1]}`".into(),
        ),
        T::TooFewClasses { .. } => (
            task.key("classes"),
            error.to_string(),
            "set `classes: 2` or more".into(),
        ),
        T::HeldOutTooLarge { held_out, rows } if !held_out_written => (
            task.clone(),
            format!(
                "the default `held_out: {held_out}` leaves no training rows: the data set has {rows} rows"
            ),
            format!(
                "set `held_out` in `task` to fewer than {rows} samples, e.g. `held_out: {}`",
                if *rows > 1 { (rows / 5).max(1) } else { 0 }
            ),
        ),
        T::HeldOutTooLarge { rows, .. } => (
            task.key("held_out"),
            error.to_string(),
            format!("use fewer than {rows} held-out samples"),
        ),
        T::CsvOpen { .. }
        | T::CsvTooLarge { .. }
        | T::CsvRead { .. }
        | T::CsvEmpty { .. }
        | T::CsvNoRows { .. }
        | T::CsvColumnCount { .. }
        | T::CsvNotNumeric { .. }
        | T::CsvTooFewColumns { .. } => (
            task.key("path"),
            error.to_string(),
            "the path is relative to the circuit file".into(),
        ),
        _ => (
            task,
            format!("the task does not fit the circuit: {error}"),
            "input and target population sizes must match the task".into(),
        ),
    };
    c.error(path, message, Some(&hint));
}
