//! The held-out evaluation (`heldout.csv`): after the last generation the best rule and every
//! baseline are scored, tuned over the same learning-rate grid, on seeds no generation used —
//! new tasks, initial weights and feedback — in the evolution's own circuit shape (`trained`)
//! and in each held-out shape of the file.

use super::error::EvolveError;
use super::evaluate::{Unit, score};
use super::files::{num, write_atomic};
use super::members::{keep_free_terms, member_circuit};
use super::setup::Setup;
use crate::backend::{Backend, BackendKind, Precision};
use crate::circuit::Circuit;
use crate::record::metrics::Metric;
use std::path::{Path, PathBuf};

/// A shape to score: its name, the members' circuit and the baselines' circuits.
type ShapeRef<'a> = (&'a str, &'a Circuit, &'a [(String, Circuit)]);

/// The label of the evolved rule in `heldout.csv`.
pub const EVOLVED: &str = "evolved";

/// The columns of `heldout.csv`.
pub(super) fn header(layers: &[String]) -> Vec<String> {
    let mut h: Vec<String> = [
        "shape",
        "rule",
        "fitness",
        "diverged",
        "rate",
        "final_loss",
        Metric::GradientAngle.column(),
        Metric::WeightAngle.column(),
        Metric::HebbianSignature.column(),
    ]
    .map(String::from)
    .to_vec();
    let angle = Metric::GradientAngle.column();
    h.extend(layers.iter().map(|l| format!("{angle}:{l}")));
    h
}

/// Scores the rule `best_x` and the baselines on the held-out seeds and shapes and writes
/// `dir/heldout.csv` (whole, by rename). Returns its path; nothing when the file asks for no
/// held-out evaluation.
#[allow(clippy::too_many_arguments)]
pub(super) fn evaluate(
    dir: &Path,
    setup: &Setup,
    best_x: &[f64],
    layers: &[String],
    backend: BackendKind,
    precision: Option<Precision>,
    backend_options: &crate::backend::Options,
    check: &mut dyn FnMut(&dyn Backend) -> Result<(), EvolveError>,
) -> Result<Option<PathBuf>, EvolveError> {
    let Some(h) = &setup.spec.heldout else {
        return Ok(None);
    };
    let seeds: Vec<u64> = (0..h.seeds as u64).map(|s| h.first_seed + s).collect();
    let mut shapes: Vec<ShapeRef> = vec![("trained", &setup.circuit, &setup.baselines)];
    for s in &setup.shapes {
        shapes.push((&s.name, &s.circuit, &s.baselines));
    }
    let mut rows = vec![header(layers).join(",")];
    for (name, circuit, baselines) in shapes {
        let evolved = member_circuit(circuit, &setup.free, best_x);
        let mut units = vec![Unit {
            label: EVOLVED.into(),
            circuit: &evolved,
        }];
        units.extend(baselines.iter().map(|(l, c)| Unit {
            label: l.clone(),
            circuit: c,
        }));
        let scored = score(
            &units,
            &setup.spec.rates,
            &seeds,
            layers,
            &setup.base_dir,
            &setup.budget,
            backend,
            precision,
            backend_options,
            &|p| keep_free_terms(p, setup),
            check,
        )?;
        for (u, s) in units.iter().zip(&scored.scores) {
            let mut row = vec![
                name.to_string(),
                u.label.clone(),
                num(s.value),
                (s.diverged as u8).to_string(),
                num(s.rate),
                num(s.final_loss),
                num(s.gradient_angle),
                num(s.weight_angle),
                num(s.hebbian),
            ];
            row.extend(s.layers.iter().map(|v| num(*v)));
            rows.push(row.join(","));
        }
    }
    let path = dir.join("heldout.csv");
    write_atomic(&path, &(rows.join("\n") + "\n"))?;
    Ok(Some(path))
}
