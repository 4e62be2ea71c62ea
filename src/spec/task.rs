//! The `task:` of a circuit file and a phase's changes to it.
//!
//! Each task kind is one variant of [`TaskSource`], whose struct declares the kind's keys, their
//! types and documentation; the kind's name, its list of keys, the JSON schema and the refusal
//! of another kind's key all derive from that declaration. The keys every kind shares
//! (`stimulus`, `held_out`) sit beside it in [`TaskSpec`].
//!
//! The YAML reads `task: {kind: linear_teacher, teacher: …, stimulus: …}`: one flat mapping.
//! serde's internally tagged enums would read it, but only by buffering the mapping first,
//! which loses every line number; so [`TaskSpec`] and [`PhaseTaskSpec`] read the mapping
//! themselves: once `kind` is read, the rest of the mapping is handed to the kind's own struct
//! key by key, straight from the YAML reader, so a wrong value or a key of another kind is
//! reported at its own line.

use super::init::Init;
use super::quantity::Time;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::sync::OnceLock;

/// The task: where inputs and targets come from (`kind` and that kind's keys), and how they
/// are presented in time.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TaskSpec {
    #[serde(flatten)]
    pub source: TaskSource,
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskSource {
    /// Targets y* = T x of a random linear teacher T.
    LinearTeacher(LinearTeacher),
    /// Targets of a random one-hidden-layer tanh teacher.
    TanhTeacher(TanhTeacher),
    /// Inputs from one Gaussian per class around random means; one-hot targets.
    GaussianMixture(GaussianMixture),
    /// The 8×8 handwritten digits shipped in `data/` (64 inputs, 10 classes).
    Digits(Digits),
    /// Rows of a CSV file: the leading columns are inputs, the rest targets.
    Csv(CsvData),
}

/// A random linear teacher.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinearTeacher {
    /// Distribution of the teacher's entries (default uniform [-1, 1]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<Init>,
    /// Standard deviation of the generated inputs (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_std: Option<f64>,
}

/// A random tanh teacher with one hidden layer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TanhTeacher {
    /// Width of the teacher's hidden layer (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    /// Standard deviation of the generated inputs (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_std: Option<f64>,
}

/// A mixture of Gaussians, one per class.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GaussianMixture {
    /// Number of classes (default: the target population's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    /// Spread of the class means (their norm is about this value; default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separation: Option<f64>,
    /// Standard deviation of the inputs around their class mean (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_std: Option<f64>,
}

/// The digits data set takes no keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Digits {}

/// A data set in a CSV file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvData {
    /// Path of the file, relative to the circuit file.
    pub path: String,
    /// How many leading columns are inputs (default: the input population's size); the rest
    /// are targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<usize>,
    /// Whether targets are one-hot classes (accuracy is then recorded; default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<bool>,
}

/// The name of a task kind: the `kind:` of a `task:` mapping.
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

    /// The kind's name in a circuit file (its serde name).
    pub fn name(self) -> &'static str {
        kind_names()[self as usize]
    }

    /// The keys of `task:` that belong to this kind, read from the kind's struct. The keys
    /// every kind has (`kind`, `stimulus`, `held_out`) are not listed.
    pub fn fields(self) -> &'static [&'static str] {
        &kind_keys()[self as usize]
    }

    /// Reads the kind's keys from the rest of a `task:` mapping.
    fn read<'de, M: MapAccess<'de>>(self, rest: M) -> Result<TaskSource, M::Error> {
        let keys = de::value::MapAccessDeserializer::new(rest);
        Ok(match self {
            TaskKindName::LinearTeacher => {
                TaskSource::LinearTeacher(Deserialize::deserialize(keys)?)
            }
            TaskKindName::TanhTeacher => TaskSource::TanhTeacher(Deserialize::deserialize(keys)?),
            TaskKindName::GaussianMixture => {
                TaskSource::GaussianMixture(Deserialize::deserialize(keys)?)
            }
            TaskKindName::Digits => TaskSource::Digits(Deserialize::deserialize(keys)?),
            TaskKindName::Csv => TaskSource::Csv(Deserialize::deserialize(keys)?),
        })
    }
}

/// Each kind's name, by its index in [`TaskKindName::ALL`], read once from serde.
fn kind_names() -> &'static [&'static str; 5] {
    static NAMES: OnceLock<[&'static str; 5]> = OnceLock::new();
    NAMES.get_or_init(|| {
        TaskKindName::ALL.map(|kind| match serde_json::to_value(kind) {
            Ok(serde_json::Value::String(name)) => &*Box::leak(name.into_boxed_str()),
            _ => unreachable!("a kind name serializes to a string"),
        })
    })
}

/// Each kind's keys, by its index in [`TaskKindName::ALL`], read once from the JSON schema of
/// [`TaskSource`] (the variants' properties, less the tag; in alphabetical order).
fn kind_keys() -> &'static [Vec<&'static str>; 5] {
    static KEYS: OnceLock<[Vec<&'static str>; 5]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let schema = serde_json::to_value(schemars::schema_for!(TaskSource))
            .expect("the task schema serializes");
        let variants = schema["oneOf"].as_array().cloned().unwrap_or_default();
        TaskKindName::ALL.map(|kind| {
            let name = kind.name();
            let variant = variants
                .iter()
                .find(|v| v["properties"]["kind"]["const"] == name)
                .unwrap_or_else(|| panic!("the task schema has no variant `{name}`"));
            let properties = variant["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            properties
                .keys()
                .filter(|key| key.as_str() != "kind")
                .map(|key| &*Box::leak(key.clone().into_boxed_str()))
                .collect()
        })
    })
}

impl TaskSource {
    pub fn kind(&self) -> TaskKindName {
        match self {
            TaskSource::LinearTeacher(_) => TaskKindName::LinearTeacher,
            TaskSource::TanhTeacher(_) => TaskKindName::TanhTeacher,
            TaskSource::GaussianMixture(_) => TaskKindName::GaussianMixture,
            TaskSource::Digits(_) => TaskKindName::Digits,
            TaskSource::Csv(_) => TaskKindName::Csv,
        }
    }

    /// The standard deviation of generated inputs, for the kinds that generate them.
    pub fn input_std(&self) -> Option<f64> {
        match self {
            TaskSource::LinearTeacher(t) => t.input_std,
            TaskSource::TanhTeacher(t) => t.input_std,
            TaskSource::GaussianMixture(t) => t.input_std,
            TaskSource::Digits(_) | TaskSource::Csv(_) => None,
        }
    }

    /// The data file of a CSV task.
    pub fn csv_path(&self) -> Option<&str> {
        match self {
            TaskSource::Csv(c) => Some(&c.path),
            _ => None,
        }
    }

    /// The keys this source sets, with their values (the tag left out).
    fn settings(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => unreachable!("a task source serializes to a mapping"),
        };
        map.remove("kind");
        map
    }
}

impl TaskSpec {
    pub fn kind(&self) -> TaskKindName {
        self.source.kind()
    }

    /// This task with a phase's changes. The phase's `kind` (if any) replaces the circuit's;
    /// the keys the phase names replace the circuit's, and the circuit's other keys carry over
    /// where the phase's kind has them. `seed` selects the draw and `stimulus` cannot change,
    /// so neither is copied. Values are copied, not re-read from text, so numbers stay bit for
    /// bit the same.
    pub fn with_phase(&self, phase: &PhaseTaskSpec) -> Result<TaskSpec, PhaseTaskError> {
        let kind = phase.kind.unwrap_or(self.kind());
        let keys = kind.fields();
        let mut settings = self.source.settings();
        settings.retain(|key, _| keys.contains(&key.as_str()));
        for (key, value) in &phase.settings {
            // The data file is listed (and checksummed) in the run's manifest as the circuit
            // names it; a phase reading another file would escape that record.
            if key == "path" {
                return Err(PhaseTaskError {
                    key: Some(key.clone()),
                    message: "a phase cannot change the task's data file: the run records one data file, the circuit's".into(),
                });
            }
            if !keys.contains(&key.as_str()) {
                return Err(PhaseTaskError {
                    key: Some(key.clone()),
                    message: not_of_kind(key, kind),
                });
            }
            settings.insert(key.clone(), value.clone());
        }
        settings.insert("kind".into(), kind.name().into());
        let source =
            serde_json::from_value(serde_json::Value::Object(settings.clone())).map_err(|e| {
                // Point at the phase's key whose value fails with the kind's other keys left
                // out, when one does.
                let key = phase.settings.iter().find_map(|(key, value)| {
                    let mut alone = settings.clone();
                    alone.retain(|k, _| k == "kind" || k == "path");
                    alone.insert(key.clone(), value.clone());
                    serde_json::from_value::<TaskSource>(serde_json::Value::Object(alone))
                        .is_err()
                        .then(|| key.clone())
                });
                PhaseTaskError {
                    key,
                    message: format!(
                        "the phase's task is not a valid `{}` task: {e}",
                        kind.name()
                    ),
                }
            })?;
        Ok(TaskSpec {
            source,
            stimulus: self.stimulus.clone(),
            held_out: self.held_out,
        })
    }
}

/// Why a phase's task could not be made: the key at fault (when one is) and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseTaskError {
    pub key: Option<String>,
    pub message: String,
}

fn not_of_kind(key: &str, kind: TaskKindName) -> String {
    let keys = kind.fields();
    format!(
        "`{key}` does not apply to task kind `{}` (its keys: {})",
        kind.name(),
        if keys.is_empty() {
            "none".to_string()
        } else {
            keys.join(", ")
        }
    )
}

/// Whether `key` is a key of some task kind.
fn is_kind_key(key: &str) -> bool {
    kind_keys().iter().any(|keys| keys.contains(&key))
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

/// A phase's task: the circuit's task with these settings changed. `seed` draws another task
/// of the same kind (another teacher, other class means, another data split): 0 is the
/// circuit's own task. `kind` and the kind's keys change the task itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PhaseTaskSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<TaskKindName>,
    /// The kind's keys the phase names, checked against the phase's kind when the protocol is
    /// built ([`TaskSpec::with_phase`]): without `kind`, the kind is the circuit's.
    #[serde(flatten)]
    pub settings: IndexMap<String, serde_json::Value>,
    /// Accepted only to be refused with a reason: the presentation schedule is one clock for
    /// the whole run (sample k is shown at steps k·period …), so it cannot change in a phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stimulus: Option<StimulusSpec>,
}

impl JsonSchema for PhaseTaskSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PhaseTaskSpec".into()
    }

    /// `seed`, `kind`, `stimulus` and every kind's keys (which of them apply depends on the
    /// kind, which may be the circuit's: checked when the protocol is built).
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut properties = serde_json::Map::new();
        properties.insert("seed".into(), generator.subschema_for::<u64>().to_value());
        properties.insert(
            "kind".into(),
            generator.subschema_for::<TaskKindName>().to_value(),
        );
        properties.insert(
            "stimulus".into(),
            generator.subschema_for::<StimulusSpec>().to_value(),
        );
        let kinds = [
            generator.subschema_for::<LinearTeacher>(),
            generator.subschema_for::<TanhTeacher>(),
            generator.subschema_for::<GaussianMixture>(),
            generator.subschema_for::<Digits>(),
            generator.subschema_for::<CsvData>(),
        ];
        for kind in kinds {
            let resolved = resolve(generator, kind.to_value());
            if let Some(props) = resolved.get("properties").and_then(|p| p.as_object()) {
                for (key, schema) in props {
                    if key != "path" {
                        properties.entry(key.clone()).or_insert(schema.clone());
                    }
                }
            }
        }
        schemars::json_schema!({
            "description": "A phase's task: the circuit's task with these settings changed. `seed` draws another task of the same kind (0 is the circuit's own); `kind` and the kind's keys change the task itself.",
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        })
    }
}

/// A subschema with its `$ref` (to the generator's definitions) followed.
fn resolve(generator: &schemars::SchemaGenerator, schema: serde_json::Value) -> serde_json::Value {
    let Some(reference) = schema.get("$ref").and_then(|r| r.as_str()) else {
        return schema;
    };
    let name = reference.rsplit('/').next().unwrap_or_default();
    generator.definitions().get(name).cloned().unwrap_or(schema)
}

// ---- Reading a task mapping ----

/// The keys beside the kind's in a task mapping: read as they come, in any order.
trait SharedTaskKeys {
    /// The shared keys' names.
    const NAMES: &'static [&'static str];
    /// Reads `key`'s value if it is one of these keys; false if it is not.
    fn read<'de, M: MapAccess<'de>>(&mut self, key: &str, map: &mut M) -> Result<bool, M::Error>;
}

#[derive(Default)]
struct CircuitTaskKeys {
    stimulus: Option<StimulusSpec>,
    held_out: Option<usize>,
}

impl SharedTaskKeys for CircuitTaskKeys {
    const NAMES: &'static [&'static str] = &["stimulus", "held_out"];
    fn read<'de, M: MapAccess<'de>>(&mut self, key: &str, map: &mut M) -> Result<bool, M::Error> {
        match key {
            "stimulus" => self.stimulus = Some(map.next_value()?),
            "held_out" => self.held_out = Some(map.next_value()?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[derive(Default)]
struct PhaseTaskKeys {
    seed: Option<u64>,
    stimulus: Option<StimulusSpec>,
}

impl SharedTaskKeys for PhaseTaskKeys {
    const NAMES: &'static [&'static str] = &["seed", "stimulus"];
    fn read<'de, M: MapAccess<'de>>(&mut self, key: &str, map: &mut M) -> Result<bool, M::Error> {
        match key {
            "seed" => self.seed = Some(map.next_value()?),
            "stimulus" => self.stimulus = Some(map.next_value()?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Reads one key of a task mapping and refuses it, at its own line, if no kind has it or (once
/// the kind is known) the kind does not: the check runs inside the YAML reader's key call,
/// which is what gives the error the key's location.
struct KeyCheck {
    kind: Option<TaskKindName>,
    shared: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for KeyCheck {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let key = String::deserialize(deserializer)?;
        if key == "kind" || self.shared.contains(&key.as_str()) {
            return Ok(key);
        }
        match self.kind {
            Some(kind) if kind.fields().contains(&key.as_str()) => Ok(key),
            Some(kind) if is_kind_key(&key) => Err(de::Error::custom(not_of_kind(&key, kind))),
            None if is_kind_key(&key) => Ok(key),
            _ => {
                // The hint suggests the nearest of the keys that would be valid here. serde
                // wants them as a static list; this runs once per refused file.
                let own: &[&str] = match self.kind {
                    Some(kind) => kind.fields(),
                    None => all_task_keys(),
                };
                let mut valid: Vec<&'static str> = vec!["kind"];
                valid.extend(self.shared.iter().chain(own));
                Err(de::Error::unknown_field(&key, Vec::leak(valid)))
            }
        }
    }
}

/// The rest of a task mapping after its `kind`, as the kind's struct reads it: the keys read
/// before `kind` first (held as values), then the mapping's remaining keys, with the shared
/// keys taken out on the way.
struct KindKeys<'a, M, S> {
    map: &'a mut M,
    shared: &'a mut S,
    kind: TaskKindName,
    early: std::vec::IntoIter<(String, serde_json::Value)>,
    early_value: Option<serde_json::Value>,
}

impl<'de, M: MapAccess<'de>, S: SharedTaskKeys> MapAccess<'de> for KindKeys<'_, M, S> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, M::Error> {
        let key = match self.early.next() {
            // A key read before `kind` could not be checked against the kind then; it is now.
            Some((key, _)) if !self.kind.fields().contains(&key.as_str()) => {
                return Err(de::Error::custom(not_of_kind(&key, self.kind)));
            }
            Some((key, value)) => {
                self.early_value = Some(value);
                key
            }
            None => loop {
                let check = KeyCheck {
                    kind: Some(self.kind),
                    shared: S::NAMES,
                };
                let Some(key) = self.map.next_key_seed(check)? else {
                    return Ok(None);
                };
                if key == "kind" {
                    return Err(de::Error::duplicate_field("kind"));
                }
                if !self.shared.read(&key, self.map)? {
                    break key;
                }
            },
        };
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, M::Error> {
        match self.early_value.take() {
            Some(value) => seed.deserialize(value).map_err(de::Error::custom),
            None => self.map.next_value_seed(seed),
        }
    }
}

/// What a task mapping held besides its shared keys: a kind with its keys, or (a phase's
/// task without `kind`) keys whose kind is decided later.
enum KindPart {
    Source(TaskSource),
    Keys(Vec<(String, serde_json::Value)>),
}

/// Reads a task mapping: shared keys into `shared`, and the kind's keys through the kind's own
/// struct once `kind` is read. Keys before `kind` are held as values until then.
fn read_task_mapping<'de, M: MapAccess<'de>, S: SharedTaskKeys>(
    mut map: M,
    shared: &mut S,
) -> Result<KindPart, M::Error> {
    let mut early = Vec::new();
    let check = || KeyCheck {
        kind: None,
        shared: S::NAMES,
    };
    while let Some(key) = map.next_key_seed(check())? {
        if shared.read(&key, &mut map)? {
            continue;
        }
        if key == "kind" {
            let kind: TaskKindName = map.next_value()?;
            let rest = KindKeys {
                map: &mut map,
                shared,
                kind,
                early: early.into_iter(),
                early_value: None,
            };
            return kind.read(rest).map(KindPart::Source);
        }
        early.push((key, map.next_value()?));
    }
    Ok(KindPart::Keys(early))
}

/// The keys of every kind, each once.
fn all_task_keys() -> &'static [&'static str] {
    static ALL: OnceLock<Vec<&'static str>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut keys: Vec<&'static str> = Vec::new();
        for kind in kind_keys() {
            for key in kind {
                if !keys.contains(key) {
                    keys.push(key);
                }
            }
        }
        keys
    })
    .as_slice()
}

struct TaskSpecVisitor;

impl<'de> Visitor<'de> for TaskSpecVisitor {
    type Value = TaskSpec;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a task mapping with `kind` and `stimulus`")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<TaskSpec, M::Error> {
        let mut shared = CircuitTaskKeys::default();
        let KindPart::Source(source) = read_task_mapping(map, &mut shared)? else {
            return Err(de::Error::missing_field("kind"));
        };
        Ok(TaskSpec {
            source,
            stimulus: shared
                .stimulus
                .ok_or_else(|| de::Error::missing_field("stimulus"))?,
            held_out: shared.held_out.unwrap_or_else(default_held_out),
        })
    }
}

impl<'de> Deserialize<'de> for TaskSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TaskSpecVisitor)
    }
}

struct PhaseTaskVisitor;

impl<'de> Visitor<'de> for PhaseTaskVisitor {
    type Value = PhaseTaskSpec;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a phase's task mapping (`seed`, or `kind` and the kind's keys)")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<PhaseTaskSpec, M::Error> {
        let mut shared = PhaseTaskKeys::default();
        let (kind, settings) = match read_task_mapping(map, &mut shared)? {
            KindPart::Source(source) => {
                (Some(source.kind()), source.settings().into_iter().collect())
            }
            KindPart::Keys(keys) => (None, keys.into_iter().collect()),
        };
        Ok(PhaseTaskSpec {
            seed: shared.seed,
            kind,
            settings,
            stimulus: shared.stimulus,
        })
    }
}

impl<'de> Deserialize<'de> for PhaseTaskSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PhaseTaskVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_serde_name_and_the_keys_of_its_struct() {
        for (i, kind) in TaskKindName::ALL.into_iter().enumerate() {
            assert_eq!(
                kind as usize, i,
                "ALL lists the kinds in their declared order"
            );
        }
        assert_eq!(TaskKindName::LinearTeacher.name(), "linear_teacher");
        assert_eq!(TaskKindName::Csv.name(), "csv");
        assert_eq!(
            TaskKindName::LinearTeacher.fields(),
            &["input_std", "teacher"]
        );
        assert_eq!(TaskKindName::Digits.fields(), &[] as &[&str]);
        assert_eq!(
            TaskKindName::Csv.fields(),
            &["classification", "inputs", "path"]
        );
        for kind in TaskKindName::ALL {
            let default = serde_json::json!({"kind": kind.name(), "path": "d.csv"});
            let mut value = default.clone();
            if kind != TaskKindName::Csv {
                value.as_object_mut().unwrap().remove("path");
            }
            let source: TaskSource = serde_json::from_value(value).unwrap();
            assert_eq!(source.kind(), kind);
        }
    }

    fn read(text: &str) -> Result<TaskSpec, String> {
        serde_saphyr::from_str::<TaskSpec>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_kind_may_come_anywhere_in_the_mapping() {
        let first = read("kind: tanh_teacher\nhidden: 7\nstimulus: {duration: 50 ms}\n").unwrap();
        let last = read("hidden: 7\nstimulus: {duration: 50 ms}\nkind: tanh_teacher\n").unwrap();
        assert_eq!(first, last);
        assert_eq!(
            first.source,
            TaskSource::TanhTeacher(TanhTeacher {
                hidden: Some(7),
                input_std: None
            })
        );
        assert_eq!(first.held_out, 200);
    }

    #[test]
    fn another_kinds_key_is_refused_naming_the_kind() {
        for text in [
            "kind: linear_teacher\nclasses: 3\nstimulus: {duration: 50 ms}\n",
            "classes: 3\nkind: linear_teacher\nstimulus: {duration: 50 ms}\n",
        ] {
            let e = read(text).unwrap_err();
            assert!(
                e.contains("`classes` does not apply to task kind `linear_teacher`"),
                "{e}"
            );
        }
        let e = read("kind: digits\nstimulus: {duration: 50 ms}\nheld_outt: 3\n").unwrap_err();
        assert!(e.contains("held_outt"), "{e}");
        let e = read("stimulus: {duration: 50 ms}\n").unwrap_err();
        assert!(e.contains("kind"), "{e}");
        let e = read("kind: csv\nstimulus: {duration: 50 ms}\n").unwrap_err();
        assert!(e.contains("path"), "{e}");
    }

    #[test]
    fn a_task_writes_back_as_it_was_read() {
        let task = read(
            "kind: gaussian_mixture\nclasses: 4\ninput_std: 0.5\nstimulus: {duration: 50 ms}\nheld_out: 30\n",
        )
        .unwrap();
        let json = serde_json::to_value(&task).unwrap();
        assert_eq!(json["kind"], "gaussian_mixture");
        assert_eq!(json["classes"], 4);
        let again: TaskSpec = serde_json::from_value(json).unwrap();
        assert_eq!(again, task);
    }

    #[test]
    fn a_phase_replaces_only_the_keys_it_names_and_carries_shared_ones() {
        let task = read(
            "kind: linear_teacher\nteacher: {uniform: [-2, 2]}\ninput_std: 0.5\nstimulus: {duration: 50 ms}\n",
        )
        .unwrap();
        let phase: PhaseTaskSpec = serde_saphyr::from_str("seed: 3\ninput_std: 0.25\n").unwrap();
        let changed = task.with_phase(&phase).unwrap();
        assert_eq!(
            changed.source,
            TaskSource::LinearTeacher(LinearTeacher {
                teacher: Some(Init::Uniform([-2.0, 2.0])),
                input_std: Some(0.25)
            })
        );
        let phase: PhaseTaskSpec =
            serde_saphyr::from_str("kind: gaussian_mixture\nclasses: 5\n").unwrap();
        let changed = task.with_phase(&phase).unwrap();
        assert_eq!(
            changed.source,
            TaskSource::GaussianMixture(GaussianMixture {
                classes: Some(5),
                separation: None,
                input_std: Some(0.5)
            })
        );
        let phase: PhaseTaskSpec = serde_saphyr::from_str("hidden: 5\n").unwrap();
        let e = task.with_phase(&phase).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("hidden"));
        assert!(e.message.contains("task kind `linear_teacher`"), "{e:?}");
        let phase: PhaseTaskSpec = serde_saphyr::from_str("seed: 2\ninput_std: x\n").unwrap();
        let e = task.with_phase(&phase).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("input_std"), "{e:?}");
    }
}
