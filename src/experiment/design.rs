//! From one circuit file to the instances of an ensemble: `run` repeats the circuit over
//! seeds; `compare` swaps the rule of its `learning:` block for each listed rule.

use super::ExperimentError;
use crate::circuit::{self, Circuit};
use crate::plan::InstanceSpec;
use crate::spec::{CircuitSpec, RuleName, SourceFile, Time};

/// What to make of the circuit.
#[derive(Clone, Debug, PartialEq)]
pub enum Design {
    /// The circuit as written, over seeds.
    Run,
    /// One copy per rule, each over the same seeds (rules in the order given).
    Compare { rules: Vec<RuleName> },
}

impl Design {
    pub fn name(&self) -> &'static str {
        match self {
            Design::Run => "run",
            Design::Compare { .. } => "compare",
        }
    }
}

/// The label of a circuit's instances: its rule name, or — for a circuit that writes its motifs
/// out and so has no rule name — the circuit's own name (tables and figure legends then say
/// `four-synapse`, not a generic word).
pub fn rule_label(spec: &CircuitSpec) -> String {
    spec.learning
        .as_ref()
        .map(|l| l.rule.name().to_string())
        .unwrap_or_else(|| spec.name.clone())
}

/// Replaces the rule of a shorthand circuit (for `compare`); kp and four_synapse get a default decay of
/// 10 × τ_w if the file has none, and the returned note says so.
pub fn with_rule(
    spec: &CircuitSpec,
    rule: RuleName,
) -> Result<(CircuitSpec, Option<String>), ExperimentError> {
    let mut out = spec.clone();
    let learning = out.learning.as_mut().ok_or_else(|| {
        ExperimentError::Usage(
            "compare needs a circuit with a `learning:` block (the rule it swaps)".into(),
        )
    })?;
    learning.rule = rule;
    let mut note = None;
    if rule.needs_decay() && learning.tau_decay.is_none() {
        let tau = Time::from_seconds(learning.tau_w.seconds() * 10.0);
        note = Some(format!(
            "{}: the circuit sets no tau_decay; using 10 × tau_w = {tau}",
            rule.name()
        ));
        learning.tau_decay = Some(tau);
    }
    if !rule.needs_decay() && spec.learning.as_ref().is_some_and(|l| l.rule.needs_decay()) {
        learning.tau_decay = None;
    }
    Ok((out, note))
}

/// Circuits with the label their instances carry.
pub type Labelled = Vec<(String, Circuit)>;

/// The circuits of a design, each with its label, and the notes worth telling the user.
pub fn circuits(
    design: &Design,
    source: &SourceFile,
    spec: &CircuitSpec,
    budget: &crate::circuit::budget::Budget,
) -> Result<(Labelled, Vec<String>), ExperimentError> {
    let build = |spec: &CircuitSpec| {
        circuit::build_within(source, spec, budget).map_err(ExperimentError::Input)
    };
    match design {
        Design::Run => Ok((vec![(rule_label(spec), build(spec)?)], Vec::new())),
        Design::Compare { rules } => {
            if rules.is_empty() {
                return Err(ExperimentError::Usage(
                    "compare needs at least one rule".into(),
                ));
            }
            let mut seen = Vec::new();
            let mut out = Vec::new();
            let mut notes = Vec::new();
            for &rule in rules {
                if seen.contains(&rule) {
                    return Err(ExperimentError::Usage(format!(
                        "the rule `{}` is listed twice; list each rule once (use --seeds for repeats)",
                        rule.name()
                    )));
                }
                seen.push(rule);
                let (spec, note) = with_rule(spec, rule)?;
                notes.extend(note);
                out.push((rule.name().to_string(), build(&spec)?));
            }
            shared_modulators(&out)?;
            Ok((out, notes))
        }
    }
}

/// One ensemble has one modulator per plastic projection. four_synapse teaches its forward
/// projections through cross-synapse compartments where the other error-driven rules use the
/// local errors, so it cannot share an ensemble with them: say so, and what to do instead.
fn shared_modulators(circuits: &Labelled) -> Result<(), ExperimentError> {
    let modulators = |c: &Circuit| -> Vec<(String, Option<String>)> {
        c.motifs
            .iter()
            .map(|m| {
                (
                    c.projections[m.projection].name.clone(),
                    m.modulator.map(|k| c.populations[k].name.clone()),
                )
            })
            .collect()
    };
    for (k, (first, c0)) in circuits.iter().enumerate() {
        let base = modulators(c0);
        for (label, c) in &circuits[k + 1..] {
            for (w, m) in modulators(c) {
                // A rule without a modulator (Hebbian) shares anyone's.
                if let Some((_, Some(m0))) = base.iter().find(|(w0, _)| *w0 == w)
                    && let Some(m) = m
                    && *m0 != m
                {
                    return Err(ExperimentError::Usage(format!(
                        "rules `{first}` and `{label}` cannot run as one ensemble: `{w}` learns from `{m0}` under `{first}` and from `{m}` under `{label}`, and an ensemble has one modulator per plastic projection; compare them in separate runs (`--rules {label}`), or in a sweep over `rules`, which packs such rules into separate ensembles"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Every labelled circuit over seeds `first_seed`, `first_seed + 1`, …: instance
/// `c · seeds + k` is circuit `c` with seed `first_seed + k`.
pub fn instances(
    circuits: &[(String, Circuit)],
    seeds: usize,
    first_seed: u64,
) -> Vec<InstanceSpec> {
    circuits
        .iter()
        .flat_map(|(label, c)| {
            (0..seeds as u64).map(move |k| InstanceSpec {
                circuit: c.clone(),
                seed: first_seed + k,
                label: label.clone(),
            })
        })
        .collect()
}
