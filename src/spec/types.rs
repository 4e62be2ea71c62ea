//! The serde types of the circuit file format: what a user may write, and nothing else.
//!
//! Every struct denies unknown keys so a typo is an error, not a silently ignored setting.
//! Enums use plain strings (`activation: tanh`) or one-key maps (`init: {uniform: [-1, 1]}`),
//! never YAML tags, so files stay readable and diff cleanly. Meaning (names resolve, shapes match,
//! time steps are stable) is checked later, in `circuit`.

pub use super::init::Init;
use super::quantity::Time;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A whole circuit file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub time: TimeSpec,
    pub task: TaskSpec,
    pub populations: IndexMap<String, PopulationSpec>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub projections: IndexMap<String, ProjectionSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub motifs: Vec<MotifSpec>,
    /// Shorthand for a named learning rule: expanded into populations, projections and
    /// motifs before the circuit is built (`hetsim expand` prints the result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning: Option<LearningSpec>,
    #[serde(default)]
    pub record: RecordSpec,
    /// A protocol: the run as a sequence of phases, each changing some settings from its
    /// start (another task, plasticity off or slower, inputs clamped, noise). Without one the
    /// whole run is one phase named `run`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocol: Vec<PhaseSpec>,
    /// The `--set` arguments that changed this spec, so that a problem with a value that came
    /// from the command line is reported against that argument, not against a line of the file.
    /// Not part of the file format.
    #[serde(skip)]
    pub overrides: Vec<Override>,
}

/// One `--set PATH=VALUE` applied to a spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub path: super::locate::YamlPath,
    /// The argument as given, `task.held_out=1000`.
    pub argument: String,
}

/// Integration settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    pub dt: Time,
    pub duration: Time,
    #[serde(default)]
    pub method: Method,
}

/// Integration method for activities and weights alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Euler,
    #[default]
    ExponentialEuler,
    Rk4,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Euler => "euler",
            Method::ExponentialEuler => "exponential_euler",
            Method::Rk4 => "rk4",
        }
    }
}

/// The task: where inputs and targets come from, and how they are presented in time.
/// Fields that do not apply to `kind` are rejected by validation, naming the field.
// Which fields apply to which kind is `TaskKindName::fields`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub kind: TaskKindName,
    /// Linear teacher: distribution of the teacher's entries (default uniform [-1, 1]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<Init>,
    /// Tanh teacher: width of the teacher's hidden layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    /// Gaussian mixture: number of classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    /// Gaussian mixture: spread of the class means (their norm is about this value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separation: Option<f64>,
    /// CSV task: path of the file, relative to the circuit file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// CSV task: how many leading columns are inputs (the rest are targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<usize>,
    /// CSV task: whether targets are one-hot classes (accuracy is then recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<bool>,
    /// Standard deviation of generated inputs (teacher and mixture tasks; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_std: Option<f64>,
    pub stimulus: StimulusSpec,
    /// Number of held-out samples for the held-out loss and accuracy.
    #[serde(default = "default_held_out")]
    pub held_out: usize,
}

fn default_held_out() -> usize {
    200
}

/// Where samples come from: a linear or a tanh teacher, a Gaussian mixture, the digits data
/// set or a CSV file. Each kind takes its own keys of `task:`.
// A kind's name and the `task:` keys that apply to it are declared once, in `name` and `fields`
// below; validation, phase tasks and messages read them from there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TaskKindName {
    LinearTeacher,
    TanhTeacher,
    GaussianMixture,
    Digits,
    Csv,
}

impl TaskKindName {
    pub const ALL: [TaskKindName; 5] = [
        TaskKindName::LinearTeacher,
        TaskKindName::TanhTeacher,
        TaskKindName::GaussianMixture,
        TaskKindName::Digits,
        TaskKindName::Csv,
    ];

    /// The kind's name in a circuit file (its serde name; a unit test holds them equal).
    pub fn name(self) -> &'static str {
        match self {
            TaskKindName::LinearTeacher => "linear_teacher",
            TaskKindName::TanhTeacher => "tanh_teacher",
            TaskKindName::GaussianMixture => "gaussian_mixture",
            TaskKindName::Digits => "digits",
            TaskKindName::Csv => "csv",
        }
    }

    /// The keys of `task:` that belong to this kind; every other kind-specific key is refused.
    /// The keys shared by every kind (`kind`, `stimulus`, `held_out`) are not listed.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            TaskKindName::LinearTeacher => &["teacher", "input_std"],
            TaskKindName::TanhTeacher => &["hidden", "input_std"],
            TaskKindName::GaussianMixture => &["classes", "separation", "input_std"],
            TaskKindName::Digits => &[],
            TaskKindName::Csv => &["path", "inputs", "classification"],
        }
    }
}

/// The keys of `task:` that every kind has.
pub const TASK_COMMON_FIELDS: [&str; 3] = ["kind", "stimulus", "held_out"];

impl TaskSpec {
    /// The kind-specific keys this task sets, in alphabetical order. Read from the spec's
    /// serialized form (unset keys are skipped there), so the list follows the struct's fields.
    pub fn fields_set(&self) -> Vec<String> {
        let value = serde_json::to_value(self).expect("a task spec serializes");
        let serde_json::Value::Object(map) = value else {
            unreachable!("a task spec serializes to a mapping")
        };
        map.into_iter()
            .map(|(key, _)| key)
            .filter(|key| !TASK_COMMON_FIELDS.contains(&key.as_str()))
            .collect()
    }

    /// This task with a phase's changes: the kind and every kind-specific key the phase names
    /// replace the circuit's (`seed` selects the draw and `stimulus` cannot change, so neither
    /// is copied). Values are copied, not re-read, so the numbers stay bit for bit the same.
    pub fn with_phase(&self, phase: &PhaseTaskSpec) -> TaskSpec {
        let mut task = self.clone();
        // Destructured so that a key added to `PhaseTaskSpec` fails to compile until it is
        // applied here.
        let PhaseTaskSpec {
            seed: _,
            kind,
            teacher,
            hidden,
            classes,
            separation,
            input_std,
            stimulus: _,
        } = phase;
        task.kind = kind.unwrap_or(task.kind);
        task.teacher = teacher.clone().or(task.teacher);
        task.hidden = hidden.or(task.hidden);
        task.classes = classes.or(task.classes);
        task.separation = separation.or(task.separation);
        task.input_std = input_std.or(task.input_std);
        task
    }
}

/// How samples are laid out in time: each is held for `duration`, then `gap` of silence; the
/// output error reaches the circuit `error_delay` late.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StimulusSpec {
    pub duration: Time,
    #[serde(default, skip_serializing_if = "Time::is_zero")]
    pub gap: Time,
    #[serde(default, skip_serializing_if = "Time::is_zero")]
    pub error_delay: Time,
}

/// What a population is for. `rate` populations integrate their input; `error` populations
/// hold error signals (usually instantaneous); `input` and `target` are driven by the task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Input,
    Target,
    #[default]
    Rate,
    Error,
}

impl Role {
    pub fn is_driven(self) -> bool {
        matches!(self, Role::Input | Role::Target)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PopulationSpec {
    #[serde(default, skip_serializing_if = "is_default")]
    pub role: Role,
    pub size: usize,
    /// Membrane time constant; `0 ms` makes the population instantaneous. Required for rate
    /// populations; error populations default to instantaneous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau: Option<Time>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub activation: crate::activation::Activation,
    /// Constant bias added to the input of every unit.
    #[serde(default, skip_serializing_if = "is_default")]
    pub bias: f64,
    /// Noise σ: on a rate population, the stationary standard deviation of u that the noise
    /// alone would produce; on an instantaneous one (tau 0), the intensity of a white noise
    /// σ ξ(t) added to u (units of u·√s: each step adds noise of std σ/√dt).
    #[serde(default, skip_serializing_if = "is_default")]
    pub noise: f64,
    /// For local error populations: multiply the input by φ'(u) of this partner population.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain_from: Option<String>,
    /// Declares this population a compartment of another one of the same size (e.g. the apical
    /// dendrite where a descending signal arrives): unit i is a part of that population's unit
    /// i, so it may modulate the plastic synapses onto that population. It changes nothing in
    /// the dynamics (unlike `gain_from`, no φ′ factor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compartment_of: Option<String>,
    /// A slow per-unit trace q of the rates that rules may read (e.g. BCM's sliding threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceSpec>,
}

/// A low-pass filtered copy of a population's rate or squared rate, one per unit:
/// τ dq_i/dt = s_i − q_i with s_i = z_i (`rate`) or z_i² (`rate_squared`), q_i(0) = `init`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    pub of: TraceSignal,
    pub tau: Time,
    #[serde(default, skip_serializing_if = "is_default")]
    pub init: f64,
}

/// What a trace filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TraceSignal {
    Rate,
    RateSquared,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectionSpec {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub init: Init,
    /// +1 or −1: the projection's contribution is multiplied by it.
    #[serde(default = "plus_one", skip_serializing_if = "is_plus_one")]
    pub sign: f64,
    /// Transmission delay (a ring buffer of past presynaptic rates).
    #[serde(default, skip_serializing_if = "Time::is_zero")]
    pub delay: Time,
    /// This projection's matrix is the transpose of the named projection at all times
    /// (weight transport: non-local, as backprop needs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tied: Option<String>,
    /// For feedback projections: the forward projection whose transpose this one stands in
    /// for; weight alignment compares the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stands_for: Option<String>,
    /// Which synapses exist: every pair (`all`, the default), or a random or file-given subset;
    /// absent synapses are zero and stay zero under plasticity, decay and noise.
    #[serde(default, skip_serializing_if = "is_default")]
    pub connectivity: Connectivity,
}

/// A projection's synapses: `all`, each pair present with probability p (`{probability: p}`),
/// exactly k inputs per post unit (`{in_degree: k}`) or k outputs per pre unit
/// (`{out_degree: k}`), drawn per instance; or the pairs listed in a CSV file
/// (`{file: edges.csv}`, columns `pre,post[,weight]`, indices from 0, relative to the circuit
/// file's folder; a weight column sets those synapses' initial weights). A feedback projection
/// may instead `mirror` the forward projection it `stands_for`: synapse j → i present iff that
/// projection's i → j is (its mask transposed, in every instance).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Connectivity {
    #[default]
    All,
    Mirror,
    Probability(f64),
    InDegree(usize),
    OutDegree(usize),
    File(String),
}

fn plus_one() -> f64 {
    1.0
}
fn is_plus_one(value: &f64) -> bool {
    *value == 1.0
}

/// Rule coefficients θ over the local term basis (DESIGN §1.2), a mapping from term keys
/// (`m_x`, `z_x`, … as `rule::TERMS` declares them) to numbers; absent terms are zero. The keys
/// come from the declarations, so a new term is a new key here without a new field.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RuleSpec(pub crate::rule::Theta);

impl RuleSpec {
    /// A rule with these coefficients and every other term zero.
    pub fn of(coefficients: &[(crate::rule::Term, f64)]) -> Self {
        let mut theta = [0.0; crate::rule::N_TERMS];
        for (t, c) in coefficients {
            theta[t.index()] = *c;
        }
        RuleSpec(theta)
    }
}

impl Serialize for RuleSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let nonzero = self.0.iter().filter(|c| **c != 0.0).count();
        let mut map = serializer.serialize_map(Some(nonzero))?;
        for (key, c) in crate::rule::KEYS.iter().zip(&self.0) {
            if *c != 0.0 {
                map.serialize_entry(key, c)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RuleSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RuleSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping from rule terms to coefficients")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RuleSpec, A::Error> {
                use crate::rule::{KEYS, Term};
                let mut theta = [0.0; crate::rule::N_TERMS];
                let mut seen = [false; crate::rule::N_TERMS];
                while let Some(key) = map.next_key::<String>()? {
                    let Some(t) = Term::from_key(&key) else {
                        return Err(serde::de::Error::unknown_field(&key, &KEYS));
                    };
                    if seen[t.index()] {
                        return Err(serde::de::Error::duplicate_field(t.key()));
                    }
                    seen[t.index()] = true;
                    theta[t.index()] = map.next_value::<f64>()?;
                }
                Ok(RuleSpec(theta))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The schema of a rule: one optional number per declared term, nothing else — built from the
/// same declarations as the loader, so it cannot drift from it.
impl JsonSchema for RuleSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RuleSpec".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut properties = serde_json::Map::new();
        for term in crate::rule::TERMS {
            properties.insert(
                term.key.to_string(),
                serde_json::json!({"type": "number", "description": term.doc}),
            );
        }
        schemars::json_schema!({
            "type": "object",
            "description": "Rule coefficients θ over the local term basis, τ_w dW_ij/dt = Σ_k θ_k term_k; absent terms are zero.",
            "properties": properties,
            "additionalProperties": false
        })
    }
}

/// A heterosynaptic motif: the plastic synapse, the modulatory signal at its post units, the
/// rule coefficients and the plasticity timescales.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MotifSpec {
    pub plastic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modulator: Option<String>,
    pub rule: RuleSpec,
    pub tau_w: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_decay: Option<Time>,
    /// Weight noise σ_w in τ_w dW = … dt + σ_w dB.
    #[serde(default, skip_serializing_if = "is_default")]
    pub weight_noise: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RuleName {
    Sgd,
    Fa,
    Dfa,
    Kp,
    Hebbian,
    AntiHebbian,
    Oja,
    Bcm,
    FourSynapse,
}

impl RuleName {
    pub const ALL: [RuleName; 9] = [
        RuleName::Sgd,
        RuleName::Fa,
        RuleName::Dfa,
        RuleName::Kp,
        RuleName::Hebbian,
        RuleName::AntiHebbian,
        RuleName::Oja,
        RuleName::Bcm,
        RuleName::FourSynapse,
    ];
    pub fn name(self) -> &'static str {
        match self {
            RuleName::Sgd => "sgd",
            RuleName::Fa => "fa",
            RuleName::Dfa => "dfa",
            RuleName::Kp => "kp",
            RuleName::Hebbian => "hebbian",
            RuleName::AntiHebbian => "anti_hebbian",
            RuleName::Oja => "oja",
            RuleName::Bcm => "bcm",
            RuleName::FourSynapse => "four_synapse",
        }
    }
    pub fn from_name(name: &str) -> Option<RuleName> {
        RuleName::ALL.into_iter().find(|r| r.name() == name)
    }
    /// Rules that send an output error back through feedback pathways.
    pub fn is_error_driven(self) -> bool {
        matches!(
            self,
            RuleName::Sgd | RuleName::Fa | RuleName::Dfa | RuleName::Kp | RuleName::FourSynapse
        )
    }
    /// Rules whose feedback learns and is aligned with Wᵀ by weight decay, so they need
    /// `tau_decay`.
    pub fn needs_decay(self) -> bool {
        matches!(self, RuleName::Kp | RuleName::FourSynapse)
    }
}

/// The `learning:` shorthand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LearningSpec {
    pub rule: RuleName,
    /// The output population whose error drives learning (error-driven rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Initial feedback weights for fa, dfa and kp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_init: Option<Init>,
    pub tau_w: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_decay: Option<Time>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub weight_noise: f64,
    /// Which projections learn; default: every forward projection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plastic: Option<Vec<String>>,
    /// bcm: the time constant of the sliding threshold, the trace of z² that the expansion
    /// gives every post population without a trace of its own (other rules ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_trace: Option<Time>,
    /// Error-driven rules on a forward pathway with loops: the time constant of the local error
    /// populations, which then integrate (their feedback forms loops too) and settle to the
    /// error at the pathway's fixed point; default: the shortest time constant on the pathway.
    /// Ignored where the pathway has no loop (local errors are instantaneous there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_error: Option<Time>,
    /// four_synapse: τ_w of the cross synapses (their delta rule assembles them towards the
    /// identity); default 0.1 s, as in circuits/four_synapse.yaml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_cross: Option<Time>,
    /// Which synapses the feedback projections have: `mirror` (those of the forward
    /// projection each stands for, transposed) or any `connectivity:` form, drawn for each
    /// feedback matrix from its own stream; default `mirror` for kp and four_synapse (their
    /// feedback learns to be Wᵀ), `all` for fa and dfa; sgd's feedback is tied to Wᵀ and takes
    /// its synapses. A dense forward projection's feedback stays dense under `mirror`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_connectivity: Option<Connectivity>,
}

/// Measurements that can be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Loss,
    Accuracy,
    GradientAlignment,
    LossAlignment,
    WeightAlignment,
    HebbianSignature,
    LearningStrength,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordSpec {
    #[serde(default = "default_record_every")]
    pub every: Time,
    #[serde(default = "default_measures")]
    pub measure: Vec<Measure>,
    /// Record activity traces of instance 0 for this long from the start (0 = none).
    #[serde(default, skip_serializing_if = "Time::is_zero")]
    pub traces: Time,
    /// State variables sampled into `probes.csv`: which population, variable, units and
    /// instances, and how often.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeSpec>,
    /// Weight matrices sampled into `weight_snapshots.csv` at a fixed interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<WeightSnapshotSpec>,
    /// The plasticity curve of one synapse, sampled over time (`plasticity.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plasticity_curve: Option<PlasticityCurveSpec>,
    /// The run's complete state saved into the run directory at this interval, so that
    /// `hetsim run --resume` can continue it (`--checkpoint-every` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<CheckpointSpec>,
}

/// `record.checkpoints`: when the state is saved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSpec {
    /// Simulated time between checkpoints: a positive multiple of `record.every` (checkpoints
    /// are taken at window ends).
    pub every: Time,
}

/// The plasticity curve: the rule's dW_ij/dt (decay and weight noise excluded) for a fixed
/// presynaptic rate as a function of the postsynaptic rate, evaluated from the rule and the
/// state (W_ij, the modulator m_i, the trace q_i) at chosen times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlasticityCurveSpec {
    /// The plastic projection whose synapse is probed.
    pub projection: String,
    /// `[post unit i, pre unit j]` of the synapse (default `[0, 0]`).
    #[serde(default)]
    pub synapse: [usize; 2],
    /// The presynaptic rate x_j held fixed (default 1).
    #[serde(default = "default_pre_rate")]
    pub pre_rate: f64,
    /// The postsynaptic rates z_i the curve is evaluated at.
    pub post_rates: RateRange,
    /// How often (a multiple of `record.every`; default `record.every`). The curve is also
    /// taken at t = 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Time>,
    /// Which instances (default `[0]`).
    #[serde(default = "default_curve_instances")]
    pub instances: Vec<usize>,
}

fn default_pre_rate() -> f64 {
    1.0
}
fn default_curve_instances() -> Vec<usize> {
    vec![0]
}

/// `count` evenly spaced values from `from` to `to`, both included.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateRange {
    pub from: f64,
    pub to: f64,
    pub count: usize,
}

impl RateRange {
    pub fn values(&self) -> Vec<f64> {
        match self.count {
            0 => vec![],
            1 => vec![self.from],
            n => (0..n)
                .map(|k| self.from + (self.to - self.from) * k as f64 / (n - 1) as f64)
                .collect(),
        }
    }
}

/// One probe: a state variable of some units of one population, in some instances, sampled
/// every `every` from t = 0 (the state after the step that ends at each sampling time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    pub population: String,
    pub variable: ProbeVariable,
    /// `all` (the default) or a list of unit indices, from 0.
    #[serde(default, skip_serializing_if = "Indices::is_all")]
    pub units: Indices,
    /// `all` or a list of instance indices (default `[0]`).
    #[serde(default = "first_instance", skip_serializing_if = "is_first_instance")]
    pub instances: Indices,
    /// The sampling interval, a whole number of steps (default: `record.every`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Time>,
}

/// What a probe samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ProbeVariable {
    /// The rate z = φ(u).
    Rate,
    /// The potential u.
    Potential,
    /// The population's slow trace q (only where the population has a `trace`).
    Trace,
}

impl ProbeVariable {
    /// The name the file and the tables use.
    pub fn name(self) -> &'static str {
        match self {
            ProbeVariable::Rate => "rate",
            ProbeVariable::Potential => "potential",
            ProbeVariable::Trace => "trace",
        }
    }
}

/// Weight snapshots: the chosen synapses of the chosen projections in the chosen instances,
/// every `every` from t = 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightSnapshotSpec {
    /// The interval, a whole number of steps (default: `record.every`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Time>,
    /// The projections (default: every plastic projection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projections: Option<Vec<String>>,
    /// `all` or a list of instance indices (default `[0]`).
    #[serde(default = "first_instance", skip_serializing_if = "is_first_instance")]
    pub instances: Indices,
    /// `all` (the default) or a list of `[post, pre]` unit pairs.
    #[serde(default, skip_serializing_if = "Synapses::is_all")]
    pub synapses: Synapses,
}

fn first_instance() -> Indices {
    Indices::Only(vec![0])
}
fn is_first_instance(i: &Indices) -> bool {
    *i == first_instance()
}

/// `all`, or a list of indices (units, instances), each from 0.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Indices {
    #[default]
    All,
    Only(Vec<usize>),
}

impl Indices {
    pub fn is_all(&self) -> bool {
        *self == Indices::All
    }
    /// The chosen indices among `0..n`, in the order written (`all`: every one).
    pub fn among(&self, n: usize) -> Vec<usize> {
        match self {
            Indices::All => (0..n).collect(),
            Indices::Only(v) => v.clone(),
        }
    }
    /// How many indices [`Indices::among`] would give, without listing them.
    pub fn count(&self, n: usize) -> usize {
        match self {
            Indices::All => n,
            Indices::Only(v) => v.len(),
        }
    }
}

/// `all`, or a list of `[post, pre]` pairs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Synapses {
    #[default]
    All,
    Only(Vec<[usize; 2]>),
}

impl Synapses {
    pub fn is_all(&self) -> bool {
        *self == Synapses::All
    }
}

/// `all` or a sequence, for [`Indices`] and [`Synapses`]: serde's untagged enums would report
/// a mistake as "did not match any variant", so the visitor says what is accepted.
fn all_or_list<'de, D, T>(deserializer: D, what: &'static str) -> Result<Option<Vec<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Visitor<T>(&'static str, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
        type Value = Option<Vec<T>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "`all` or a list of {}", self.0)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v == "all" {
                Ok(None)
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(x) = seq.next_element::<T>()? {
                out.push(x);
            }
            Ok(Some(out))
        }
    }
    deserializer.deserialize_any(Visitor(what, std::marker::PhantomData))
}

impl<'de> Deserialize<'de> for Indices {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(all_or_list(deserializer, "indices from 0, e.g. `[0, 3]`")?
            .map_or(Indices::All, Indices::Only))
    }
}

impl<'de> Deserialize<'de> for Synapses {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(
            all_or_list(deserializer, "`[post, pre]` pairs, e.g. `[[0, 1], [2, 0]]`")?
                .map_or(Synapses::All, Synapses::Only),
        )
    }
}

impl Serialize for Indices {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Indices::All => serializer.serialize_str("all"),
            Indices::Only(v) => v.serialize(serializer),
        }
    }
}

impl Serialize for Synapses {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Synapses::All => serializer.serialize_str("all"),
            Synapses::Only(v) => v.serialize(serializer),
        }
    }
}

impl JsonSchema for Indices {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Indices".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`all`, or a list of indices from 0.",
            "oneOf": [
                {"const": "all"},
                {"type": "array", "items": {"type": "integer", "minimum": 0}}
            ]
        })
    }
}

impl JsonSchema for Synapses {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Synapses".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`all`, or a list of `[post, pre]` unit pairs.",
            "oneOf": [
                {"const": "all"},
                {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "items": {"type": "integer", "minimum": 0},
                        "minItems": 2,
                        "maxItems": 2
                    }
                }
            ]
        })
    }
}

fn default_record_every() -> Time {
    Time::from_ms(100.0)
}
fn default_measures() -> Vec<Measure> {
    vec![Measure::Loss, Measure::Accuracy]
}

impl Default for RecordSpec {
    fn default() -> Self {
        RecordSpec {
            every: default_record_every(),
            measure: default_measures(),
            traces: Time::default(),
            probes: Vec::new(),
            weights: None,
            plasticity_curve: None,
            checkpoints: None,
        }
    }
}

/// One phase of a protocol: its name, how long it lasts and what differs in it from the
/// circuit's own settings. A phase changes nothing it does not name, and its changes are
/// relative to the circuit file, not to the phase before (so phases can be read one by one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// The phase's name, written in the `phase` column of the tables.
    pub name: String,
    /// How long the phase lasts: a whole number of `record.every` intervals. The last phase may
    /// leave it out and runs to `time.duration`; the durations must add up to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Time>,
    /// Another task for this phase (continual learning): its seed, or other task settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<PhaseTaskSpec>,
    /// A factor on the input population's rates from the task (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_scale: Option<f64>,
    /// Driven populations (input, target) held at a fixed rate in every unit, whatever the task
    /// shows.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub clamp: IndexMap<String, f64>,
    /// Driven populations held at rate 0 (the same as clamping them to 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub silence: Vec<String>,
    /// Plasticity per plastic projection: `on` (the circuit's rule), `off` (weights stay
    /// exactly as they are: no rule, decay or weight noise) or `{tau_w_scale: k}` (τ_w times k).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub plasticity: IndexMap<String, PlasticityChange>,
    /// Population noise σ in this phase, per population.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub noise: IndexMap<String, f64>,
}

/// What a phase does to one motif's plasticity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PlasticityChange {
    /// As the circuit file says.
    On,
    /// No change at all: the rule, the decay and the weight noise are off.
    Off,
    /// τ_w multiplied by this factor (larger: slower learning).
    TauWScale(f64),
}

/// A phase's task: the circuit's task with these settings changed. `seed` draws another task
/// of the same kind (another teacher, other class means, another data split): 0 is the
/// circuit's own task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseTaskSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TaskKindName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<Init>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separation: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_std: Option<f64>,
    /// Accepted only to be refused with a reason: the presentation schedule is one clock for
    /// the whole run (sample k is shown at steps k·period …), so it cannot change in a phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stimulus: Option<StimulusSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_kind_name_is_its_serde_name() {
        for kind in TaskKindName::ALL {
            let serde_name = serde_json::to_value(kind).unwrap();
            assert_eq!(serde_name, serde_json::Value::from(kind.name()), "{kind:?}");
        }
    }

    fn task_with_every_key() -> TaskSpec {
        TaskSpec {
            kind: TaskKindName::Digits,
            teacher: Some(Init::Uniform([-1.0, 1.0])),
            hidden: Some(3),
            classes: Some(2),
            separation: Some(4.0),
            path: Some("data.csv".into()),
            inputs: Some(2),
            classification: Some(true),
            input_std: Some(1.0),
            stimulus: StimulusSpec {
                duration: Time::from_seconds(0.05),
                gap: Time::from_seconds(0.0),
                error_delay: Time::from_seconds(0.0),
            },
            held_out: 200,
        }
    }

    /// The kinds' field lists name every kind-specific key of `TaskSpec`, and only those: a key
    /// added to the struct must be given to a kind.
    #[test]
    fn the_kinds_field_lists_cover_the_task_keys() {
        let mut listed: Vec<&str> = TaskKindName::ALL
            .iter()
            .flat_map(|k| k.fields().iter().copied())
            .collect();
        listed.sort_unstable();
        listed.dedup();
        let set = task_with_every_key().fields_set();
        assert_eq!(listed, set);
    }

    #[test]
    fn a_phase_replaces_only_the_keys_it_names() {
        let task = task_with_every_key();
        let phase = PhaseTaskSpec {
            seed: Some(3),
            kind: Some(TaskKindName::GaussianMixture),
            teacher: None,
            hidden: None,
            classes: Some(5),
            separation: None,
            input_std: Some(0.5),
            stimulus: None,
        };
        let changed = task.with_phase(&phase);
        assert_eq!(changed.kind, TaskKindName::GaussianMixture);
        assert_eq!(changed.classes, Some(5));
        assert_eq!(changed.input_std, Some(0.5));
        let same = TaskSpec {
            kind: task.kind,
            classes: task.classes,
            input_std: task.input_std,
            ..changed
        };
        assert_eq!(same, task);
    }
}
