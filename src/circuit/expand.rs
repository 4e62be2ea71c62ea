//! Expands the `learning:` shorthand into explicit populations, projections and motifs.
//!
//! A named rule is only a wiring pattern plus coefficients θ; writing it out keeps the engine
//! free of rule-specific code and lets a user start from `hetsim expand` and edit the result.
//! The expansion is a pure function of the spec: expanding an explicit circuit returns it
//! unchanged, which makes `expand(expand(x)) == expand(x)`.
//!
//! Wiring (for output `y`, target `ystar`, hidden populations `h…` on the forward path):
//! - error population `e` (instantaneous): `e = ystar − y` through two identity projections;
//! - a local error population `d<h>` per hidden population, `gain_from: h` (the φ'(u_h) factor);
//! - sgd/fa/kp: one feedback projection per forward projection `a → b` with `a` hidden, from the
//!   error of `b` to `d<a>`; sgd ties it to the forward matrix's transpose, fa draws it at random
//!   and keeps it fixed, kp makes it plastic with `m = z_a` and pre = the error of `b`;
//! - four_synapse: kp's plastic feedback, with the teaching signals of W and B made
//!   heterosynaptic: for each feedback projection from the error ε of `b` to `d<a>`, B learns
//!   from `a<k>` = C_up a (a compartment of `d<a>`) and W, if it learns, from `g<k>` = C_down ε
//!   (a compartment of `b`), both cross synapses following the delta rule `{m_x: 1, z_x: -1}`
//!   with τ_w = `tau_cross`; projections from an input learn from the local error as in kp
//!   (the levels of circuits/four_synapse*.yaml: `<k>` is `2` for `h2`, empty for `h`);
//! - dfa: one feedback projection from `e` straight to every `d<h>`;
//! - feedback synapses: `feedback_connectivity` (default `mirror` for kp and four_synapse,
//!   `all` for fa and dfa); `mirror` of a dense W is `all`, so dense pathways expand as before;
//! - every plastic forward projection `a → b` gets the motif `{m_x: 1}` with the error of `b`
//!   as modulator; hebbian, anti-Hebbian and Oja rules need no error pathway.
//! - a pathway with loops (a self-connection, a cycle among hidden populations, or the output
//!   projecting back onto them) gets feedback for every projection between populations that
//!   carry an error, self-connections included; the output then gets its own local error `d<y>`
//!   (`e` plus what returns through the loop, `gain_from: y`) when it projects back. The feedback
//!   loops as the pathway does, so the local errors integrate (`tau_error`, default the shortest
//!   τ on the pathway) and, with tied feedback, settle at the adjoint of the pathway's fixed
//!   point (recurrent backpropagation); dfa's feedback never loops, but its errors integrate
//!   the same way, so all rules share the populations.

use crate::rule::Term;
use crate::spec::{
    CircuitSpec, Connectivity, Diagnostics, Init, LearningSpec, MotifSpec, PopulationSpec,
    ProjectionSpec, Role, RuleName, RuleSpec, SourceFile, Time, TraceSignal, TraceSpec, YamlPath,
};
use indexmap::IndexMap;

/// The forward pathway: projections between populations that are neither errors nor targets.
pub fn is_forward(spec: &CircuitSpec, projection: &ProjectionSpec) -> bool {
    let role = |name: &str| spec.populations.get(name).map(|p| p.role);
    matches!(role(&projection.from), Some(Role::Input | Role::Rate))
        && matches!(role(&projection.to), Some(Role::Rate))
}

/// Returns the explicit circuit. Errors point into the `learning:` block.
pub fn expand(source: &SourceFile, spec: &CircuitSpec) -> Result<CircuitSpec, Diagnostics> {
    let Some(learning) = &spec.learning else {
        return Ok(spec.clone());
    };
    let here = YamlPath::of(&["learning"]);
    let fail = |path: YamlPath, message: String, hint: Option<String>| -> Diagnostics {
        Diagnostics(vec![source.diagnostic(path, message, hint)])
    };
    // A misspelt population name would otherwise surface as one of its consequences (a
    // projection "not on the forward pathway", a hidden layer without feedback); name it first.
    let unknown = unknown_populations(source, spec);
    if !unknown.is_empty() {
        return Err(Diagnostics(unknown));
    }
    let mut out = spec.clone();
    out.learning = None;

    let plastic = plastic_projections(spec, learning)
        .map_err(|(msg, hint)| fail(here.key("plastic"), msg, hint))?;

    if !learning.rule.is_error_driven() {
        let rule = match learning.rule {
            RuleName::Hebbian => RuleSpec::of(&[(Term::ZX, 1.0)]),
            RuleName::AntiHebbian => RuleSpec::of(&[(Term::ZX, -1.0)]),
            // z (z − q) x with q the trace of z²: BCM's sliding threshold.
            RuleName::Bcm => RuleSpec::of(&[(Term::ZZX, 1.0), (Term::QZX, -1.0)]),
            _ => RuleSpec::of(&[(Term::ZX, 1.0), (Term::ZZW, -1.0)]),
        };
        if learning.rule == RuleName::Bcm {
            add_thresholds(&mut out, &plastic, learning)
                .map_err(|(path, msg, hint)| fail(path, msg, hint))?;
        }
        for name in &plastic {
            out.motifs.push(motif(name, None, rule.clone(), learning));
        }
        return Ok(out);
    }

    let output = learning.output.clone().ok_or_else(|| {
        fail(
            here.clone(),
            format!(
                "rule `{}` needs `output`: the population whose error drives learning",
                learning.rule.name()
            ),
            Some("add e.g. `output: y`".into()),
        )
    })?;
    let Some(output_pop) = spec.populations.get(&output) else {
        return Err(fail(
            here.key("output"),
            format!("unknown population `{output}`"),
            Some(known(spec.populations.keys())),
        ));
    };
    if output_pop.role != Role::Rate {
        return Err(fail(
            here.key("output"),
            format!(
                "`{output}` is not a rate population; the output is the rate population whose error drives learning"
            ),
            Some("name the last population of the forward pathway, e.g. `output: y`".into()),
        ));
    }
    let n_out = output_pop.size;
    let feedback_init = learning
        .feedback_init
        .clone()
        .unwrap_or(Init::Uniform([-0.5, 0.5]));
    if learning.rule.needs_decay() && learning.tau_decay.is_none() {
        return Err(fail(
            here.clone(),
            format!(
                "rule `{}` needs `tau_decay`: weight decay is what aligns the feedback weights",
                learning.rule.name()
            ),
            Some("add e.g. `tau_decay: 60 s`".into()),
        ));
    }

    // Target: an existing target population of the right size, or a new one.
    let target = match spec
        .populations
        .iter()
        .find(|(_, p)| p.role == Role::Target)
    {
        Some((name, _)) => name.clone(),
        None => {
            let name = fresh_name(&out, &format!("{output}star"));
            out.populations.insert(
                name.clone(),
                PopulationSpec {
                    role: Role::Target,
                    size: n_out,
                    tau: None,
                    activation: Default::default(),
                    bias: 0.0,
                    noise: 0.0,
                    gain_from: None,
                    compartment_of: None,
                    trace: None,
                },
            );
            name
        }
    };
    let error = fresh_name(&out, "e");
    out.populations
        .insert(error.clone(), error_population(n_out, None));
    insert_projection(
        &mut out,
        &format!("to_{error}_target"),
        projection(&target, &error, Init::Identity, 1.0),
    );
    insert_projection(
        &mut out,
        &format!("to_{error}_output"),
        projection(&output, &error, Init::Identity, -1.0),
    );

    // Hidden populations: rate populations on the forward path other than the output.
    let forward: Vec<(String, ProjectionSpec)> = spec
        .projections
        .iter()
        .filter(|(_, p)| is_forward(spec, p))
        .map(|(n, p)| (n.clone(), p.clone()))
        .collect();
    let hidden: Vec<String> = spec
        .populations
        .iter()
        .filter(|(name, p)| {
            p.role == Role::Rate && **name != output && feeds(&forward, name, &output)
        })
        .map(|(n, _)| n.clone())
        .collect();
    // With loops on the pathway the feedback loops too, so the local errors integrate with
    // time constant `tau_error` and settle where backprop at the pathway's fixed point puts
    // them (recurrent backpropagation); without loops they stay instantaneous. dfa's feedback
    // comes straight from the output error and never loops, but its errors integrate all the
    // same, so every rule's expansion has the same populations (`compare` runs them as one
    // ensemble).
    let looped = has_loop(&forward, &hidden, &output);
    let error_tau =
        if looped {
            Some(learning.tau_error.unwrap_or_else(|| {
                shortest_tau(spec, hidden.iter().chain(std::iter::once(&output)))
            }))
        } else {
            None
        };
    let mut local_error: IndexMap<String, String> = IndexMap::new();
    // The output joins a loop when it projects back onto the pathway: its error then sums the
    // output error and what comes back through that loop, like any other local error.
    let output_in_loop = looped
        && forward
            .iter()
            .any(|(_, w)| w.from == output && (w.to == output || hidden.contains(&w.to)));
    if output_in_loop {
        let name = fresh_name(&out, &format!("d{output}"));
        let mut d = error_population(n_out, Some(output.clone()));
        d.tau = error_tau;
        out.populations.insert(name.clone(), d);
        insert_projection(
            &mut out,
            &format!("to_{name}_{error}"),
            projection(&error, &name, Init::Identity, 1.0),
        );
        local_error.insert(output.clone(), name);
    } else {
        local_error.insert(output.clone(), error.clone());
    }
    for h in &hidden {
        let name = fresh_name(&out, &format!("d{h}"));
        let mut d = error_population(spec.populations[h].size, Some(h.clone()));
        if let Some(tau) = error_tau {
            d.tau = Some(tau);
        }
        out.populations.insert(name.clone(), d);
        local_error.insert(h.clone(), name);
    }

    // Feedback meant to become Wᵀ (kp, four_synapse) mirrors W's synapses by default; fixed
    // random feedback (fa, dfa) is dense by default, as it always was.
    let feedback_connectivity =
        learning
            .feedback_connectivity
            .clone()
            .unwrap_or(if learning.rule.needs_decay() {
                Connectivity::Mirror
            } else {
                Connectivity::All
            });
    // four_synapse: the forward projections that learn from a cross synapse's compartment
    // instead of the local error of their post population.
    let mut teacher: IndexMap<String, String> = IndexMap::new();
    let mut made = Compartments::default();
    match learning.rule {
        RuleName::Dfa => {
            for h in &hidden {
                let name = fresh_name(&out, &format!("B_{h}"));
                let mut b = projection(&error, &local_error[h], feedback_init.clone(), 1.0);
                // The layer just below the output receives the output error through B where
                // backprop would use Wᵀ of the projection into the output: B stands in for that
                // W, so its weight angle is defined (deeper layers' B stand in for no single
                // matrix).
                let stands_for = forward.iter().find(|(_, w)| &w.from == h && w.to == output);
                b.connectivity = match (&feedback_connectivity, stands_for) {
                    (Connectivity::Mirror, Some((_, w))) => mirror(w),
                    (Connectivity::Mirror, None) => {
                        return Err(fail(
                            here.key("feedback_connectivity"),
                            format!("dfa's feedback to `{h}` stands for no forward projection, so it has none to mirror"),
                            Some("give dfa a drawn connectivity, e.g. `{probability: 0.25}`, or `all`".into()),
                        ));
                    }
                    (form, _) => form.clone(),
                };
                b.stands_for = stands_for.map(|(n, _)| n.clone());
                insert_projection(&mut out, &name, b);
            }
        }
        _ => {
            for (w_name, w) in &forward {
                // Feedback runs from the error of `w.to` to the error of `w.from`. Without loops
                // the output's error goes nowhere further and a self-connection carries none
                // (a loop of instantaneous errors would be an algebraic cycle); with loops every
                // projection between populations that have errors gets its feedback.
                let source_has_error =
                    hidden.contains(&w.from) || (output_in_loop && w.from == output);
                if (!looped && w.from == w.to)
                    || !source_has_error
                    || !local_error.contains_key(&w.to)
                {
                    continue;
                }
                let name = fresh_name(&out, &feedback_name(w_name));
                let mut b = projection(
                    &local_error[&w.to],
                    &local_error[&w.from],
                    feedback_init.clone(),
                    1.0,
                );
                b.stands_for = Some(w_name.clone());
                if learning.rule == RuleName::Sgd {
                    // Tied to Wᵀ: it takes W's synapses, transposed.
                    b.init = Init::Zeros;
                    b.tied = Some(w_name.clone());
                } else if feedback_connectivity == Connectivity::Mirror {
                    b.connectivity = mirror(w);
                } else {
                    b.connectivity = feedback_connectivity.clone();
                }
                insert_projection(&mut out, &name, b);
                let rule = RuleSpec::of(&[(Term::MX, 1.0)]);
                match learning.rule {
                    RuleName::Kp => {
                        out.motifs
                            .push(motif(&name, Some(w.from.clone()), rule, learning));
                    }
                    RuleName::FourSynapse => {
                        let cross = CrossPair {
                            w,
                            b_name: &name,
                            pre_error: &local_error[&w.from],
                            post_error: &local_error[&w.to],
                            w_learns: plastic.contains(w_name),
                        };
                        if let Some(g) = add_cross_synapses(&mut out, &mut made, &cross, learning) {
                            teacher.insert(w_name.clone(), g);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    // Forward motifs, placed before the feedback motifs so the file reads top-down.
    let mut forward_motifs = Vec::new();
    for name in &plastic {
        let w = &spec.projections[name];
        let Some(modulator) = local_error.get(&w.to) else {
            return Err(fail(
                here.key("plastic"),
                format!(
                    "projection `{name}` ends at `{}`, which does not lead to the output `{output}`",
                    w.to
                ),
                Some("list the projections that learn in `plastic: [...]`, or name the last population of the forward pathway as `output`".into()),
            ));
        };
        let modulator = teacher.get(name).unwrap_or(modulator);
        forward_motifs.push(motif(
            name,
            Some(modulator.clone()),
            RuleSpec::of(&[(Term::MX, 1.0)]),
            learning,
        ));
    }
    let feedback_motifs = std::mem::take(&mut out.motifs)
        .into_iter()
        .skip(spec.motifs.len());
    let mut motifs = spec.motifs.clone();
    motifs.extend(forward_motifs);
    motifs.extend(feedback_motifs);
    out.motifs = motifs;
    Ok(out)
}

/// A forward projection `w: pre → post` with its feedback `b`, for the four-synapse motif.
struct CrossPair<'a> {
    w: &'a ProjectionSpec,
    b_name: &'a str,
    /// The local error of `pre`, where `b` ends.
    pre_error: &'a str,
    /// The error of `post`, where `b` starts.
    post_error: &'a str,
    w_learns: bool,
}

/// four_synapse: the compartments made so far, `a` by pre population and `g` by post
/// population (projections that share a population share its cross synapse).
#[derive(Default)]
struct Compartments {
    a: IndexMap<String, String>,
    g: IndexMap<String, String>,
}

/// four_synapse: makes the teaching signals of `w` and its feedback `b` heterosynaptic. `b`
/// learns `a εᵀ` from `a = C_up pre`, a compartment of the pre population's local error; `w`
/// (if it learns) learns `g preᵀ` from `g = C_down ε`, a compartment of the post population,
/// ε being the post population's error. The cross synapses C_up and C_down follow a delta rule
/// (`{m_x: 1, z_x: -1}`, taught by the rate they should carry), whose fixed point is the
/// identity on the span of their inputs; then `g = ε`, `a = pre` and `w`, `bᵀ` get kp's
/// updates. Returns the name of `g`, `w`'s modulator.
fn add_cross_synapses(
    out: &mut CircuitSpec,
    made: &mut Compartments,
    pair: &CrossPair,
    learning: &LearningSpec,
) -> Option<String> {
    let pre = &pair.w.from;
    let post = &pair.w.to;
    let tau_cross = learning
        .tau_cross
        .unwrap_or(Time::from_ms(DEFAULT_TAU_CROSS_MS));
    let delta = RuleSpec::of(&[(Term::MX, 1.0), (Term::ZX, -1.0)]);
    let cross = |plastic: &str, modulator: &str| MotifSpec {
        plastic: plastic.into(),
        modulator: Some(modulator.into()),
        rule: delta.clone(),
        tau_w: tau_cross,
        tau_decay: None,
        weight_noise: learning.weight_noise,
    };
    let level = level_suffix(pre);
    // The ascending rate arriving in the descending stream: B's teacher.
    let (a, new_a) = match made.a.get(pre) {
        Some(a) => (a.clone(), false),
        None => {
            let a = fresh_name(out, &format!("a{level}"));
            let mut a_pop = error_population(out.populations[pair.pre_error].size, None);
            a_pop.compartment_of = Some(pair.pre_error.to_string());
            out.populations.insert(a.clone(), a_pop);
            made.a.insert(pre.clone(), a.clone());
            (a, true)
        }
    };
    // The descending error arriving in the ascending stream: W's teacher.
    let mut new_g = None;
    let g = match made.g.get(post) {
        _ if !pair.w_learns => None,
        Some(g) => Some(g.clone()),
        None => {
            let g = fresh_name(out, &format!("g{level}"));
            let mut g_pop = error_population(out.populations[post].size, None);
            g_pop.compartment_of = Some(post.clone());
            out.populations.insert(g.clone(), g_pop);
            made.g.insert(post.clone(), g.clone());
            new_g = Some(g.clone());
            Some(g)
        }
    };
    out.motifs.push(motif(
        pair.b_name,
        Some(a.clone()),
        RuleSpec::of(&[(Term::MX, 1.0)]),
        learning,
    ));
    if new_a {
        let c_up = fresh_name(out, &format!("C_up{level}"));
        insert_projection(out, &c_up, projection(pre, &a, cross_init(), 1.0));
        out.motifs.push(cross(&c_up, pre));
    }
    if let Some(g) = new_g {
        let c_down = fresh_name(out, &format!("C_down{level}"));
        insert_projection(
            out,
            &c_down,
            projection(pair.post_error, &g, cross_init(), 1.0),
        );
        out.motifs.push(cross(&c_down, pair.post_error));
    }
    g
}

/// four_synapse: τ_w of the cross synapses unless `tau_cross` says otherwise.
const DEFAULT_TAU_CROSS_MS: f64 = 100.0;

/// four_synapse: the cross synapses start at random, U[−0.5, 0.5].
fn cross_init() -> Init {
    Init::Uniform([-0.5, 0.5])
}

/// The suffix naming a level of the four-synapse motif after its pre population: `h` → ``,
/// `h2` → `2`, any other name `P` → `_P`.
fn level_suffix(pre: &str) -> String {
    match pre.strip_prefix('h') {
        Some(rest) if rest.chars().all(|c| c.is_ascii_digit()) => rest.to_string(),
        _ => format!("_{pre}"),
    }
}

/// The connectivity of a feedback projection that mirrors `w`: `all` where `w` has every
/// synapse (so a dense pathway expands as it always did), `mirror` otherwise.
fn mirror(w: &ProjectionSpec) -> Connectivity {
    if w.connectivity == Connectivity::All {
        Connectivity::All
    } else {
        Connectivity::Mirror
    }
}

/// Every reference from a projection or a gain to a population that does not exist.
fn unknown_populations(source: &SourceFile, spec: &CircuitSpec) -> Vec<crate::spec::Diagnostic> {
    let hint = || {
        Some(format!(
            "known populations: {}",
            spec.populations
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    let mut out = Vec::new();
    for (name, p) in &spec.projections {
        for (field, target) in [("from", &p.from), ("to", &p.to)] {
            if !spec.populations.contains_key(target) {
                out.push(source.diagnostic(
                    YamlPath::of(&["projections", name, field]),
                    format!("unknown population `{target}`"),
                    hint(),
                ));
            }
        }
    }
    for (name, p) in &spec.populations {
        if let Some(g) = &p.gain_from
            && !spec.populations.contains_key(g)
        {
            out.push(source.diagnostic(
                YamlPath::of(&["populations", name, "gain_from"]),
                format!("unknown population `{g}`"),
                hint(),
            ));
        }
    }
    out
}

fn plastic_projections(
    spec: &CircuitSpec,
    learning: &LearningSpec,
) -> Result<Vec<String>, (String, Option<String>)> {
    match &learning.plastic {
        Some(list) => {
            for name in list {
                match spec.projections.get(name) {
                    None => {
                        return Err((
                            format!("unknown projection `{name}`"),
                            Some(known(spec.projections.keys())),
                        ));
                    }
                    Some(p) if !is_forward(spec, p) => {
                        return Err((
                            format!("projection `{name}` is not on the forward pathway"),
                            None,
                        ));
                    }
                    Some(_) => {}
                }
            }
            Ok(list.clone())
        }
        None => Ok(spec
            .projections
            .iter()
            .filter(|(_, p)| is_forward(spec, p))
            .map(|(n, _)| n.clone())
            .collect()),
    }
}

/// Whether `from` reaches `to` along forward projections.
fn feeds(forward: &[(String, ProjectionSpec)], from: &str, to: &str) -> bool {
    let mut seen = vec![from.to_string()];
    let mut frontier = vec![from.to_string()];
    while let Some(node) = frontier.pop() {
        for (_, p) in forward {
            if p.from == node {
                if p.to == to {
                    return true;
                }
                if !seen.contains(&p.to) {
                    seen.push(p.to.clone());
                    frontier.push(p.to.clone());
                }
            }
        }
    }
    false
}

/// Whether the forward projections among the hidden populations and the output form a loop
/// (a self-connection counts).
fn has_loop(forward: &[(String, ProjectionSpec)], hidden: &[String], output: &str) -> bool {
    let on_path = |name: &str| name == output || hidden.iter().any(|h| h == name);
    let inner: Vec<(String, ProjectionSpec)> = forward
        .iter()
        .filter(|(_, w)| on_path(&w.from) && on_path(&w.to))
        .cloned()
        .collect();
    inner
        .iter()
        .any(|(_, w)| w.from == w.to || feeds(&inner, &w.to, &w.from))
}

/// The shortest time constant among `populations` (1 ms if none has one).
fn shortest_tau<'a>(spec: &CircuitSpec, populations: impl Iterator<Item = &'a String>) -> Time {
    populations
        .filter_map(|name| spec.populations.get(name).and_then(|p| p.tau))
        .filter(|tau| !tau.is_zero())
        .min_by(|a, b| a.seconds().total_cmp(&b.seconds()))
        .unwrap_or_else(|| Time::from_ms(1.0))
}

/// `W2` → `B2`; any other name `P` → `B_P`.
fn feedback_name(forward: &str) -> String {
    match forward.strip_prefix('W') {
        Some(rest)
            if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            format!("B{rest}")
        }
        _ => format!("B_{forward}"),
    }
}

fn fresh_name(spec: &CircuitSpec, base: &str) -> String {
    let taken = |n: &str| spec.populations.contains_key(n) || spec.projections.contains_key(n);
    if !taken(base) {
        return base.to_string();
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| base.to_string())
}

fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = names.map(|s| s.as_str()).collect();
    format!("known: {}", list.join(", "))
}

/// bcm: every post population of a plastic projection gets the trace of z² that the rule
/// reads as its threshold, unless it declares one (which must then filter z²).
fn add_thresholds(
    out: &mut CircuitSpec,
    plastic: &[String],
    learning: &LearningSpec,
) -> Result<(), (YamlPath, String, Option<String>)> {
    for name in plastic {
        let post = out.projections[name].to.clone();
        let Some(pop) = out.populations.get_mut(&post) else {
            continue;
        };
        match &pop.trace {
            Some(t) if t.of == TraceSignal::RateSquared => {}
            Some(_) => {
                return Err((
                    YamlPath::of(&["populations", &post, "trace", "of"]),
                    format!("rule `bcm` reads the trace of z² of `{post}`, which filters z instead"),
                    Some("set `of: rate_squared`, or leave the trace out and give `learning.tau_trace`".into()),
                ));
            }
            None => {
                let Some(tau) = learning.tau_trace else {
                    return Err((
                        YamlPath::of(&["learning"]),
                        "rule `bcm` needs `tau_trace`: the time constant of its sliding threshold"
                            .into(),
                        Some("add e.g. `tau_trace: 1 s`".into()),
                    ));
                };
                pop.trace = Some(TraceSpec {
                    of: TraceSignal::RateSquared,
                    tau,
                    init: 0.0,
                });
            }
        }
    }
    Ok(())
}

fn error_population(size: usize, gain_from: Option<String>) -> PopulationSpec {
    PopulationSpec {
        role: Role::Error,
        size,
        tau: Some(Time::default()),
        activation: Default::default(),
        bias: 0.0,
        noise: 0.0,
        gain_from,
        compartment_of: None,
        trace: None,
    }
}

fn projection(from: &str, to: &str, init: Init, sign: f64) -> ProjectionSpec {
    ProjectionSpec {
        from: from.into(),
        to: to.into(),
        init,
        sign,
        delay: Time::default(),
        tied: None,
        stands_for: None,
        connectivity: Default::default(),
    }
}

fn insert_projection(spec: &mut CircuitSpec, name: &str, p: ProjectionSpec) {
    spec.projections.insert(name.to_string(), p);
}

fn motif(
    plastic: &str,
    modulator: Option<String>,
    rule: RuleSpec,
    learning: &LearningSpec,
) -> MotifSpec {
    MotifSpec {
        plastic: plastic.into(),
        modulator,
        rule,
        tau_w: learning.tau_w,
        tau_decay: learning.tau_decay,
        weight_noise: learning.weight_noise,
    }
}
