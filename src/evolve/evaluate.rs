//! Scoring rules on tasks, the one way every rule of an evolution is scored: each unit (a
//! member's rule or a baseline) runs at every factor of the learning-rate grid on the same
//! seeds, all in one ensemble; per factor its score is the mean over seeds of ln(final /
//! initial held-out loss), and the unit takes its best factor. A unit's measurements (angles,
//! Hebbian signature) are those of its runs at that factor. Each instance integrates as it
//! would alone, so a unit's score does not depend on which other units share its ensemble —
//! which is what lets a generation be split across processes (`--shard`).

use super::error::EvolveError;
use super::members::{layer_angle, member_circuit};
use super::setup::Setup;
use super::spec::Tasks;
use crate::backend::{self, Backend, BackendKind, Precision};
use crate::circuit::Circuit;
use crate::experiment::ExperimentError;
use crate::experiment::summary::{Summarizer, mean_sd};
use crate::plan::{InstanceSpec, Plan};
use crate::record::{Collector, Tee};
use crate::spec::Time;
use std::path::Path;
use std::sync::Arc;

/// A rule to score: its label and its circuit at rate factor 1.
pub(super) struct Unit<'a> {
    pub(super) label: String,
    pub(super) circuit: &'a Circuit,
}

/// One unit's result, at its best rate factor.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Score {
    /// Mean over seeds of ln(final / initial held-out loss) at the best factor; +∞ when every
    /// factor had a diverged seed.
    pub(super) value: f64,
    pub(super) diverged: bool,
    /// The best factor (NaN when diverged).
    pub(super) rate: f64,
    pub(super) gradient_angle: f64,
    pub(super) weight_angle: f64,
    pub(super) hebbian: f64,
    /// Mean over seeds of the final held-out loss at the best factor.
    pub(super) final_loss: f64,
    /// The gradient angle of each forward plastic projection (`layers`), in order.
    pub(super) layers: Vec<f64>,
    /// The score at each factor of the grid (+∞ where a seed diverged): the parts the best
    /// is taken from.
    pub(super) per_rate: Vec<f64>,
}

/// What one scoring run gives besides the scores.
pub(super) struct Scored {
    pub(super) scores: Vec<Score>,
    /// The first failure's message, if any instance failed.
    pub(super) first_failure: Option<String>,
    /// Wall time of the ensemble run (making the backend included).
    pub(super) run_s: f64,
}

/// The circuit with every motif's τ_w divided by `factor` (its learning rate times `factor`).
pub(super) fn at_rate(c: &Circuit, factor: f64) -> Circuit {
    let mut c = c.clone();
    if factor == 1.0 {
        return c;
    }
    for m in &mut c.motifs {
        m.tau_w_s /= factor;
    }
    let names: Vec<String> = c
        .motifs
        .iter()
        .map(|m| c.projections[m.projection].name.clone())
        .collect();
    for (k, m) in c.motifs.iter().enumerate() {
        if let Some(s) = c.spec.motifs.iter_mut().find(|s| s.plastic == names[k]) {
            s.tau_w = Time::from_seconds(m.tau_w_s);
        }
    }
    c
}

/// The instances of `units` at every factor and seed: instance `(u · R + r) · S + s` is unit
/// `u` at factor `r` with seed `seeds[s]`.
pub(super) fn instances(units: &[Unit], rates: &[f64], seeds: &[u64]) -> Vec<InstanceSpec> {
    let mut out = Vec::with_capacity(units.len() * rates.len() * seeds.len());
    for u in units {
        for (r, &factor) in rates.iter().enumerate() {
            let c = at_rate(u.circuit, factor);
            for &seed in seeds {
                out.push(InstanceSpec {
                    circuit: c.clone(),
                    seed,
                    label: format!("{}/r{r}", u.label),
                });
            }
        }
    }
    out
}

/// Scores `units` in one ensemble. `prepare` adjusts the plan (keeping the free terms in the
/// kernels); `check` sees the backend before it runs (an evolution's generations must share
/// one backend and precision).
#[allow(clippy::too_many_arguments)]
pub(super) fn score(
    units: &[Unit],
    rates: &[f64],
    seeds: &[u64],
    layers: &[String],
    base_dir: &Path,
    budget: &crate::circuit::budget::Budget,
    backend_kind: BackendKind,
    precision: Option<Precision>,
    backend_options: &backend::Options,
    prepare: &dyn Fn(&mut Plan),
    check: &mut dyn FnMut(&dyn Backend) -> Result<(), EvolveError>,
) -> Result<Scored, EvolveError> {
    if units.is_empty() {
        return Ok(Scored {
            scores: Vec::new(),
            first_failure: None,
            run_s: 0.0,
        });
    }
    let specs = instances(units, rates, seeds);
    let mut plan = Plan::within(&specs, base_dir, budget).map_err(ExperimentError::Plan)?;
    prepare(&mut plan);
    let plan = Arc::new(plan);
    let started = std::time::Instant::now();
    let made = backend::make(plan.clone(), backend_kind, precision, backend_options)
        .map_err(ExperimentError::Backend)?;
    let mut backend = made.backend;
    check(backend.as_ref())?;
    let mut collected = Collector::default();
    let mut summarizer = Summarizer::new(&plan);
    {
        let mut tee = Tee {
            first: &mut collected,
            second: &mut summarizer,
        };
        crate::run::execute(
            &plan,
            backend.as_mut(),
            backend_options.simd,
            &mut tee,
            &mut crate::run::Quiet,
            None,
        )
        .map_err(ExperimentError::Run)?;
    }
    let run_s = started.elapsed().as_secs_f64();
    let end_s = plan.steps as f64 * plan.dt_s;
    let summary = summarizer.summary();
    let n = specs.len();
    let mut initial = vec![f64::NAN; n];
    let mut last = vec![f64::NAN; n];
    for r in collected.rows.iter().filter(|r| r.projection == "all") {
        if let Some(l) = r.held_out_loss
            && r.instance < n
        {
            if r.time_s == 0.0 {
                initial[r.instance] = l;
            }
            last[r.instance] = l;
        }
    }
    let mut failed = vec![false; n];
    for f in &collected.failures {
        if let Some(x) = failed.get_mut(f.instance) {
            *x = true;
        }
    }
    let s = seeds.len();
    let scores = units
        .iter()
        .enumerate()
        .map(|(u, unit)| {
            // Per factor: the mean over seeds, or +∞ if a seed failed or has no loss.
            let per_rate: Vec<f64> = (0..rates.len())
                .map(|r| {
                    let range = (u * rates.len() + r) * s..(u * rates.len() + r + 1) * s;
                    if range.clone().any(|e| failed[e]) {
                        return f64::INFINITY;
                    }
                    let mean = range.map(|e| (last[e] / initial[e]).ln()).sum::<f64>() / s as f64;
                    if mean.is_finite() {
                        mean
                    } else {
                        f64::INFINITY
                    }
                })
                .collect();
            // The best factor; the first of equals.
            let (best, value) =
                per_rate
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f64::INFINITY),
                        |(bk, bv), (k, &v)| {
                            if v < bv { (k, v) } else { (bk, bv) }
                        },
                    );
            if !value.is_finite() {
                return Score {
                    value: f64::INFINITY,
                    diverged: true,
                    rate: f64::NAN,
                    gradient_angle: f64::NAN,
                    weight_angle: f64::NAN,
                    hebbian: f64::NAN,
                    final_loss: f64::NAN,
                    layers: vec![f64::NAN; layers.len()],
                    per_rate,
                };
            }
            let label = format!("{}/r{best}", unit.label);
            let stat = |pick: &dyn Fn(&crate::experiment::summary::LabelSummary) -> &Vec<f64>| {
                summary
                    .labels
                    .iter()
                    .find(|l| l.label == label)
                    .and_then(|l| mean_sd(pick(l)))
                    .map(|(m, _)| m)
                    .unwrap_or(f64::NAN)
            };
            let first = (u * rates.len() + best) * s;
            Score {
                value,
                diverged: false,
                rate: rates[best],
                gradient_angle: stat(&|l| &l.mean_gradient_angle),
                weight_angle: stat(&|l| &l.final_weight_angle),
                hebbian: stat(&|l| &l.hebbian),
                final_loss: (first..first + s).map(|e| last[e]).sum::<f64>() / s as f64,
                layers: layers
                    .iter()
                    .map(|layer| layer_angle(&collected, first, s, layer, end_s))
                    .collect(),
                per_rate,
            }
        })
        .collect();
    Ok(Scored {
        scores,
        first_failure: collected.failures.first().map(|f| f.message.clone()),
        run_s,
    })
}

/// The circuits of a generation's members.
pub(super) fn member_circuits(setup: &Setup, candidates: &[Vec<f64>]) -> Vec<Circuit> {
    candidates
        .iter()
        .map(|x| member_circuit(&setup.circuit, &setup.free, x))
        .collect()
}

/// A generation's units: its members (`m0`, `m1`, …), then the baselines (`b:<rule>`).
pub(super) fn units_of<'a>(setup: &'a Setup, members: &'a [Circuit]) -> Vec<Unit<'a>> {
    let mut units: Vec<Unit> = members
        .iter()
        .enumerate()
        .map(|(k, c)| Unit {
            label: format!("m{k}"),
            circuit: c,
        })
        .collect();
    units.extend(setup.baselines.iter().map(|(rule, c)| Unit {
        label: format!("b:{rule}"),
        circuit: c,
    }));
    units
}

/// The seeds (tasks) of `generation`: the same every generation, or fresh ones (`tasks:`).
pub(super) fn seeds_of(setup: &Setup, generation: u64) -> Vec<u64> {
    let s = setup.spec.seeds_per_member as u64;
    let first = match setup.spec.tasks {
        Tasks::Fixed => setup.spec.first_seed,
        // Within range: `sizes::check` bounds the last generation's last seed.
        Tasks::Fresh => setup.spec.first_seed + (generation - 1) * s,
    };
    (0..s).map(|k| first + k).collect()
}
