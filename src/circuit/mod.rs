//! The circuit graph: populations are nodes, projections are edges, motifs bind a plastic edge
//! to its modulator. Built from an explicit (expanded) spec and checked for meaning.
//!
//! Everything a later stage needs is resolved here to indices and SI units, so `plan` never
//! looks at names or strings. Checks collect every problem they find, each located in the file.

pub mod budget;
pub mod check;
pub mod connectivity;
pub mod dot;
pub mod expand;
pub mod probes;
pub mod protocol;
pub mod saved;

use crate::activation::Activation;
use crate::rule::Theta;
use crate::spec::{CircuitSpec, Diagnostic, Diagnostics, Init, Method, Role, SourceFile};
use petgraph::graph::{DiGraph, NodeIndex};

/// A population with resolved references.
#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    pub name: String,
    pub role: Role,
    pub size: usize,
    /// 0 = instantaneous.
    pub tau_s: f64,
    pub activation: Activation,
    pub bias: f64,
    pub noise: f64,
    pub gain_from: Option<usize>,
    /// The population this one is a compartment of (its units are parts of that one's units).
    pub compartment_of: Option<usize>,
    pub trace: Option<Trace>,
}

/// A slow per-unit trace of a population: τ dq/dt = s − q, s = z or z² (`squared`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trace {
    pub squared: bool,
    pub tau_s: f64,
    pub init: f64,
}

impl Population {
    pub fn is_instantaneous(&self) -> bool {
        !self.role.is_driven() && self.tau_s == 0.0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    pub name: String,
    pub from: usize,
    pub to: usize,
    pub init: Init,
    pub sign: f64,
    pub delay_s: f64,
    /// Index of the projection whose transpose this one is, at all times.
    pub tied: Option<usize>,
    /// Index of the forward projection this feedback projection stands in for.
    pub stands_for: Option<usize>,
    /// Index of the motif that makes this projection plastic.
    pub motif: Option<usize>,
    /// Whether the projection belongs to the forward pathway (input/rate → rate).
    pub forward: bool,
    /// Initial weights read from saved ones (`init: {file}`/`{from}`, `hetsim run --from`),
    /// in place of drawing them from `init`.
    pub saved: Option<std::sync::Arc<saved::SavedInit>>,
    /// Which synapses exist (`connectivity:`; a tied projection takes its partner's).
    pub wiring: connectivity::Wiring,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Motif {
    pub projection: usize,
    pub modulator: Option<usize>,
    pub theta: Theta,
    pub tau_w_s: f64,
    /// None = no decay.
    pub tau_decay_s: Option<f64>,
    pub weight_noise: f64,
}

/// Where the output error comes from, when the circuit has one.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputPath {
    pub output: usize,
    pub target: usize,
    pub error: usize,
}

/// A checked circuit.
#[derive(Clone, Debug)]
pub struct Circuit {
    /// The explicit spec the circuit was built from (no `learning:` shorthand).
    pub spec: CircuitSpec,
    pub populations: Vec<Population>,
    pub projections: Vec<Projection>,
    pub motifs: Vec<Motif>,
    pub graph: DiGraph<usize, usize>,
    pub nodes: Vec<NodeIndex>,
    /// Non-driven populations in evaluation order: every instantaneous population comes after
    /// the populations it reads without delay.
    pub order: Vec<usize>,
    pub output: Option<OutputPath>,
    pub input: Option<usize>,
    pub dt_s: f64,
    pub duration_s: f64,
    pub method: Method,
    /// Problems worth a warning but not an error (e.g. dt ≥ τ under exponential Euler).
    pub warnings: Vec<Diagnostic>,
    /// The folder of the circuit file, from which a task's relative `path` is read.
    pub source_dir: std::path::PathBuf,
    /// The checked `protocol:` (empty without one: the run is one phase).
    pub protocol: Vec<protocol::Phase>,
}

impl Circuit {
    pub fn population(&self, name: &str) -> Option<usize> {
        self.populations.iter().position(|p| p.name == name)
    }
    pub fn projection(&self, name: &str) -> Option<usize> {
        self.projections.iter().position(|p| p.name == name)
    }
    /// Number of integration steps for the whole run.
    pub fn steps(&self) -> u64 {
        (self.duration_s / self.dt_s).round() as u64
    }
    pub fn plastic_count(&self) -> usize {
        self.projections
            .iter()
            .filter(|p| p.motif.is_some())
            .count()
    }
    pub fn synapse_count(&self) -> usize {
        self.projections
            .iter()
            .map(|p| self.populations[p.from].size * self.populations[p.to].size)
            .sum()
    }
    /// One line for `hetsim validate`.
    pub fn summary(&self) -> String {
        use crate::text::count;
        format!(
            "{}: {}, {} ({} plastic), {}, {}, dt {}, {}, {}",
            self.spec.name,
            count(self.populations.len(), "population"),
            count(self.projections.len(), "projection"),
            self.plastic_count(),
            count(self.motifs.len(), "motif"),
            count(self.synapse_count(), "synapse"),
            self.spec.time.dt,
            count(self.steps() as usize, "step"),
            self.method.name()
        )
    }
}

/// Expands, resolves and checks a spec, including its memory and step budget
/// ([`budget`]) for one instance, under the machine's default budget (as a library caller
/// without settings gets; a job passes its own to [`build_within`]).
pub fn build(source: &SourceFile, spec: &CircuitSpec) -> Result<Circuit, Diagnostics> {
    build_within(source, spec, &budget::Budget::default())
}

/// Expands, resolves and checks a spec, its sizes for one instance (and the saved weights it
/// reads) against `budget`. On success the circuit may still carry warnings. Problems with
/// values that came from `--set` are reported against those arguments.
pub fn build_within(
    source: &SourceFile,
    spec: &CircuitSpec,
    budget: &budget::Budget,
) -> Result<Circuit, Diagnostics> {
    let relocate = |d: Diagnostics| Diagnostics(crate::spec::relocate_overridden(spec, d.0));
    let explicit = expand::expand(source, spec).map_err(relocate)?;
    let mut circuit = check::resolve_and_check(source, explicit, budget).map_err(relocate)?;
    circuit.warnings =
        crate::spec::relocate_overridden(spec, std::mem::take(&mut circuit.warnings));
    Ok(circuit)
}

/// Reads, parses, expands and checks a circuit file under the machine's default budget.
pub fn load(path: &std::path::Path) -> Result<(SourceFile, Circuit), Diagnostics> {
    load_within(path, &budget::Budget::default())
}

/// Reads, parses, expands and checks a circuit file under `budget`.
pub fn load_within(
    path: &std::path::Path,
    budget: &budget::Budget,
) -> Result<(SourceFile, Circuit), Diagnostics> {
    let (source, spec) = crate::spec::load_circuit(path)?;
    let circuit = build_within(&source, &spec, budget)?;
    Ok((source, circuit))
}

pub(crate) fn theta_of(spec: &crate::spec::MotifSpec) -> Theta {
    spec.rule.0
}

/// The task parameters of a spec, for an input population of `n_inputs` units and an optional
/// target population. Without a target population the task's natural output size is used.
pub fn task_params(
    spec: &CircuitSpec,
    n_inputs: usize,
    n_targets: Option<usize>,
) -> Result<crate::task::TaskParams, String> {
    use crate::spec::TaskSource;
    use crate::task::{TaskKind, TaskParams};
    let t = &spec.task;
    let kind = match &t.source {
        TaskSource::LinearTeacher(teacher) => {
            let (low, high) = match &teacher.teacher {
                None => (-1.0, 1.0),
                Some(Init::Uniform([low, high])) => (*low, *high),
                Some(_) => return Err("the linear teacher's entries are drawn uniformly: write `teacher: {uniform: [low, high]}`".into()),
            };
            TaskKind::LinearTeacher { low, high }
        }
        TaskSource::TanhTeacher(teacher) => TaskKind::TanhTeacher {
            hidden: teacher.hidden.unwrap_or(50),
        },
        TaskSource::GaussianMixture(mixture) => TaskKind::GaussianMixture {
            classes: mixture.classes.or(n_targets).unwrap_or(2),
            separation: mixture.separation.unwrap_or(4.0),
        },
        TaskSource::Digits(_) => TaskKind::Digits,
        TaskSource::Csv(data) => TaskKind::Csv {
            path: data.path.clone().into(),
            inputs: data.inputs.unwrap_or(n_inputs),
            classification: data.classification.unwrap_or(false),
        },
    };
    let natural_targets = match &kind {
        TaskKind::Digits => 10,
        TaskKind::GaussianMixture { classes, .. } => *classes,
        _ => 1,
    };
    Ok(TaskParams {
        kind,
        n_inputs,
        n_targets: n_targets.unwrap_or(natural_targets),
        input_std: t.source.input_std().unwrap_or(1.0),
        held_out: t.held_out,
    })
}
