//! Reading an evolution file into everything fixed for the whole evolution: the file, its
//! circuit with the file's `set:` applied (a problem with a `set:` entry is located at that
//! entry of the evolution file, not reported as a `--set` argument), the free parameters, the
//! checks that need both (a held-out set for the fitness) and the sizes (`sizes`).

use super::error::EvolveError;
use super::sizes::{self, Sizes};
use super::spec::{self, Baseline, EvolveSpec, FreeParameter};
use crate::circuit::budget::Budget;
use crate::circuit::{self, Circuit};
use crate::experiment::{CircuitSource, ExperimentError};
use crate::record::manifest::sha256_hex;
use crate::spec::{Diagnostic, Diagnostics, Measure, SourceFile, TaskSource, YamlPath};
use std::path::{Path, PathBuf};

/// Everything fixed for the whole evolution.
pub(super) struct Setup {
    pub(super) spec: EvolveSpec,
    pub(super) circuit: Circuit,
    pub(super) free: Vec<FreeParameter>,
    pub(super) base_dir: PathBuf,
    pub(super) circuit_source: SourceFile,
    /// The evolution file as read.
    pub(super) source: SourceFile,
    pub(super) sizes: Sizes,
    /// The baselines' circuits (the `learning:` rule swapped, or an explicit θ written), each
    /// labelled by its name.
    pub(super) baselines: Vec<(String, Circuit)>,
    /// The held-out shapes: name, the members' circuit in that shape, and its baselines.
    pub(super) shapes: Vec<Shape>,
    /// The memory budget the evolution was checked against, which its ensembles' plans are
    /// checked against too.
    pub(super) budget: Budget,
}

/// One circuit shape the held-out evaluation scores on.
pub(super) struct Shape {
    pub(super) name: String,
    pub(super) circuit: Circuit,
    pub(super) baselines: Vec<(String, Circuit)>,
}

impl Setup {
    /// SHA-256 of the evolution file's text.
    pub(super) fn evolve_sha256(&self) -> String {
        sha256_hex(self.source.text.as_bytes())
    }
    /// SHA-256 of the circuit file's text.
    pub(super) fn circuit_sha256(&self) -> String {
        sha256_hex(self.circuit_source.text.as_bytes())
    }
}

/// Where the inputs come from: the fuzzer pins the circuit and a CSV task's data to small
/// known files, so that an input naming `/dev/zero` does not read it.
#[derive(Clone, Debug, Default)]
pub(super) struct Pinned {
    pub(super) circuit: Option<PathBuf>,
    pub(super) csv: Option<PathBuf>,
}

/// What `hetsim validate` says of an evolution file that `hetsim evolve` would accept: the
/// same reading and checks (the file, its circuit, `set:`, free terms, bounds, sizes against
/// the memory `budget`) that run before the first generation.
pub fn check(path: &Path, budget: &Budget) -> Result<String, EvolveError> {
    let setup = load(path, None, None, budget, &Pinned::default())?;
    Ok(format!(
        "evolution `{}` of `{}`: {} free, {} generations",
        setup.spec.name,
        setup.circuit.spec.name,
        crate::text::count(setup.free.len(), "parameter"),
        setup.sizes.generations
    ))
}

/// Reads and checks an evolution file (`text`, or the file at `path`) and its circuit.
/// `generations` is `--generations`.
pub(super) fn load(
    path: &Path,
    text: Option<String>,
    generations: Option<u64>,
    budget: &Budget,
    pinned: &Pinned,
) -> Result<Setup, EvolveError> {
    let source = match text {
        Some(t) => SourceFile::from_text(path, t),
        None => crate::spec::read_source(path).map_err(EvolveError::Input)?,
    };
    let spec: EvolveSpec =
        crate::spec::document::parse_document(&source).map_err(EvolveError::Input)?;
    let at = |path: YamlPath, message: String| {
        EvolveError::Input(Diagnostics(vec![source.diagnostic(path, message, None)]))
    };
    let mut sets = Vec::with_capacity(spec.set.len());
    for (i, s) in spec.set.iter().enumerate() {
        let Some((key, value)) = s.split_once('=') else {
            return Err(at(
                YamlPath::of(&["set"]).index(i),
                format!("`{s}` is not PATH=VALUE (e.g. \"time.duration=5 s\")"),
            ));
        };
        sets.push((key.trim().to_string(), value.trim().to_string()));
    }
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let circuit_path = match &pinned.circuit {
        Some(p) => p.clone(),
        None => folder.join(&spec.circuit),
    };
    let built = build(&circuit_path, &sets, pinned, &source, &spec, budget)?;
    let (csource, circuit, baselines) = (built.source, built.circuit, built.baselines);
    // The held-out shapes: the file's `set:` and then the shape's own.
    let mut shapes = Vec::new();
    for (i, shape) in spec
        .heldout
        .iter()
        .flat_map(|h| h.shapes.iter())
        .enumerate()
    {
        let path = YamlPath::of(&["heldout", "shapes"]).index(i).key("set");
        let mut all = sets.clone();
        for (j, s) in shape.set.iter().enumerate() {
            let Some((key, value)) = s.split_once('=') else {
                return Err(at(
                    path.index(j),
                    format!("`{s}` is not PATH=VALUE (e.g. \"populations.h.size=40\")"),
                ));
            };
            all.push((key.trim().to_string(), value.trim().to_string()));
        }
        let one = build(&circuit_path, &all, pinned, &source, &spec, budget).map_err(|e| {
            at(
                path.clone(),
                format!(
                    "the held-out shape `{}` is not a circuit: {}",
                    shape.name, e
                ),
            )
        })?;
        if one.circuit.spec.motifs.len() != circuit.spec.motifs.len()
            || one
                .circuit
                .spec
                .motifs
                .iter()
                .zip(&circuit.spec.motifs)
                .any(|(a, b)| a.plastic != b.plastic)
        {
            return Err(at(
                path,
                format!(
                    "the held-out shape `{}` has other plastic projections than the evolution's circuit, so the evolved rule cannot be written into it",
                    shape.name
                ),
            ));
        }
        shapes.push(Shape {
            name: shape.name.clone(),
            circuit: one.circuit,
            baselines: one.baselines,
        });
    }
    let free = spec::free_parameters(&spec, &source, &circuit).map_err(EvolveError::Input)?;
    let sizes = sizes::check(&spec, &source, &free, &circuit, generations, budget)?;
    let base_dir = circuit_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok(Setup {
        spec,
        circuit,
        free,
        base_dir,
        circuit_source: csource,
        source,
        sizes,
        baselines,
        shapes,
        budget: budget.clone(),
    })
}

/// A circuit of the evolution, with its baselines.
struct Built {
    source: SourceFile,
    circuit: Circuit,
    baselines: Vec<(String, Circuit)>,
}

/// Reads the circuit with the overrides `sets`, adds the measurements the fitness and the
/// tables need, builds it and its baselines, and checks it has a held-out set.
fn build(
    circuit_path: &Path,
    sets: &[(String, String)],
    pinned: &Pinned,
    source: &SourceFile,
    spec: &EvolveSpec,
    budget: &Budget,
) -> Result<Built, EvolveError> {
    let at = |path: YamlPath, message: String| {
        EvolveError::Input(Diagnostics(vec![source.diagnostic(path, message, None)]))
    };
    let circuit_source = CircuitSource {
        path: circuit_path.to_path_buf(),
        sets: sets.to_vec(),
        ..CircuitSource::default()
    };
    let (csource, mut cspec) = circuit_source.load().map_err(|e| match e {
        ExperimentError::Usage(message) => match set_index(&message, sets) {
            Some((i, rest)) => at(YamlPath::of(&["set"]).index(i), rest),
            None => EvolveError::Usage(message),
        },
        other => EvolveError::Experiment(other),
    })?;
    if let Some(csv) = &pinned.csv
        && let TaskSource::Csv(data) = &mut cspec.task.source
    {
        data.path = csv.display().to_string();
    }
    // The fitness and the report need these measurements, whatever the circuit records.
    for m in [
        Measure::Loss,
        Measure::GradientAlignment,
        Measure::WeightAlignment,
        Measure::HebbianSignature,
    ] {
        if !cspec.record.measure.contains(&m) {
            cspec.record.measure.push(m);
        }
    }
    // Members are scored in memory; probes would only hold every member's samples there.
    cspec.record.probes.clear();
    cspec.record.weights = None;
    let relocate = |d: Diagnostics| EvolveError::Input(relocate_sets(d, sets, source));
    let circuit = circuit::build_within(&csource, &cspec, budget).map_err(relocate)?;
    // The fitness is ln(final / initial held-out loss): without a held-out set every member
    // would score as diverged.
    if circuit.spec.task.held_out == 0 {
        let d = csource.diagnostic(
            YamlPath::of(&["task", "held_out"]),
            "an evolution needs a held-out set: its fitness is ln(final / initial held-out loss), and `held_out: 0` records none",
            Some("give the task `held_out: 200` (the default) or more".into()),
        );
        return Err(relocate(Diagnostics(crate::spec::relocate_overridden(
            &circuit.spec,
            vec![d],
        ))));
    }
    let mut baselines = Vec::new();
    for (i, b) in spec.baselines.iter().enumerate() {
        let path = YamlPath::of(&["baselines"]).index(i);
        let rule = match b {
            Baseline::Rule(rule) => *rule,
            // Written into this circuit (or shape) as a member's θ is; checked with the free
            // parameters.
            Baseline::Theta(theta) => {
                baselines.push((theta.name.clone(), spec::theta_circuit(&circuit, theta)));
                continue;
            }
        };
        if cspec.learning.is_none() {
            return Err(at(
                path,
                format!(
                    "the baseline `{}` swaps the circuit's `learning:` rule, and this circuit writes its motifs out; evolve a circuit with a `learning:` block, or give an explicit θ",
                    rule.name()
                ),
            ));
        }
        let (bspec, _) = crate::experiment::design::with_rule(&cspec, rule)
            .map_err(|e| at(path.clone(), e.to_string()))?;
        let c = circuit::build_within(&csource, &bspec, budget).map_err(|d| {
            at(
                path.clone(),
                format!(
                    "the circuit with rule `{}` is refused: {}",
                    rule.name(),
                    d.0.first().map(|d| d.message.clone()).unwrap_or_default()
                ),
            )
        })?;
        baselines.push((rule.name().to_string(), c));
    }
    Ok(Built {
        source: csource,
        circuit,
        baselines,
    })
}

/// The `set:` entry an override message (`--set PATH=VALUE: …`) is about, and the message
/// without that prefix.
fn set_index(message: &str, sets: &[(String, String)]) -> Option<(usize, String)> {
    let rest = message.strip_prefix("--set ")?;
    sets.iter().enumerate().find_map(|(i, (k, v))| {
        rest.strip_prefix(&format!("{k}={v}: "))
            .map(|tail| (i, tail.to_string()))
    })
}

/// Moves diagnostics the circuit's checks put on a `--set` argument onto the evolution file's
/// `set:` entry that made that setting.
fn relocate_sets(d: Diagnostics, sets: &[(String, String)], source: &SourceFile) -> Diagnostics {
    Diagnostics(
        d.0.into_iter()
            .map(|one| {
                if !one.is_outside_file() {
                    return one;
                }
                let origin = one.file.display().to_string();
                let found = sets
                    .iter()
                    .position(|(k, v)| origin == format!("--set {k}={v}"));
                match found {
                    Some(i) => {
                        let setting = if one.path.0.is_empty() {
                            String::new()
                        } else {
                            format!("`{}`: ", one.path)
                        };
                        Diagnostic {
                            message: format!("{setting}{}", one.message),
                            ..source.diagnostic(
                                YamlPath::of(&["set"]).index(i),
                                String::new(),
                                one.hint.clone(),
                            )
                        }
                    }
                    None => one,
                }
            })
            .collect(),
    )
}

/// The evolution file a resume continues: the directory's copy, which `path` must equal.
pub(super) fn saved_evolve_file(dir: &Path, path: &Path) -> Result<String, EvolveError> {
    let copy = dir.join("evolve.yaml");
    let saved = crate::spec::read_source(&copy)
        .map_err(|e| {
            EvolveError::Usage(format!(
                "--resume: {} holds no evolution: {}",
                dir.display(),
                e.0.first().map(|d| d.message.clone()).unwrap_or_default()
            ))
        })?
        .text;
    let now = crate::spec::read_source(path)
        .map_err(EvolveError::Input)?
        .text;
    if now != saved {
        return Err(EvolveError::Usage(format!(
            "--resume: {} differs from the copy the evolution started with ({}); resume with the same file, or start a new evolution",
            path.display(),
            copy.display()
        )));
    }
    Ok(saved)
}
