//! The serde types of the circuit file format: what a user may write, and nothing else.
//!
//! Every struct denies unknown keys so a typo is an error, not a silently ignored setting.
//! Enums use plain strings (`activation: tanh`) or one-key maps (`init: {uniform: [-1, 1]}`),
//! never YAML tags, so files stay readable and diff cleanly. Meaning (names resolve, shapes match,
//! time steps are stable) is checked later, in `circuit`.

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TaskKindName {
    LinearTeacher,
    TanhTeacher,
    GaussianMixture,
    Digits,
    Csv,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ActivationName {
    #[default]
    Linear,
    Tanh,
    Relu,
    Sigmoid,
    Softplus,
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
    pub activation: ActivationName,
    /// Constant bias added to the input of every unit.
    #[serde(default, skip_serializing_if = "is_default")]
    pub bias: f64,
    /// Noise σ: the stationary standard deviation of u that the noise alone would produce.
    #[serde(default, skip_serializing_if = "is_default")]
    pub noise: f64,
    /// For local error populations: multiply the input by φ'(u) of this partner population.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain_from: Option<String>,
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

/// A distribution for initial weights (and teacher matrices).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    #[default]
    Zeros,
    Identity,
    Constant(f64),
    Uniform([f64; 2]),
    /// `[mean, standard deviation]`
    Normal([f64; 2]),
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
}

impl RuleName {
    pub const ALL: [RuleName; 8] = [
        RuleName::Sgd,
        RuleName::Fa,
        RuleName::Dfa,
        RuleName::Kp,
        RuleName::Hebbian,
        RuleName::AntiHebbian,
        RuleName::Oja,
        RuleName::Bcm,
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
        }
    }
    pub fn from_name(name: &str) -> Option<RuleName> {
        RuleName::ALL.into_iter().find(|r| r.name() == name)
    }
    /// Rules that send an output error back through feedback pathways.
    pub fn is_error_driven(self) -> bool {
        matches!(
            self,
            RuleName::Sgd | RuleName::Fa | RuleName::Dfa | RuleName::Kp
        )
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
    /// The plasticity curve of one synapse, sampled over time (`plasticity.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plasticity_curve: Option<PlasticityCurveSpec>,
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
            plasticity_curve: None,
        }
    }
}
