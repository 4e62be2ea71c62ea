//! `init:` — where a matrix's initial weights come from: a distribution drawn per instance
//! (`zeros`, `identity`, `{constant: c}`, `{uniform: [low, high]}`, `{normal: [mean, std]}`),
//! or saved weights: `{file: weights.csv}` / `{file: weights.npy}` (one matrix, post × pre,
//! for every instance) and `{from: RUN_DIR, time: 2 s}` (the projection's weights in another
//! run, instance k from its instance k; `time` defaults to the latest the run saved).
//!
//! Written by hand rather than derived because `{from: …, time: …}` is a map of two keys, which
//! an externally tagged enum cannot read; the errors keep serde's words (unknown value, unknown
//! key) so the loader locates and explains them as for any other enum.

use super::quantity::Time;
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A projection's initial weights (and the distribution of teacher matrices).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Init {
    #[default]
    Zeros,
    Identity,
    Constant(f64),
    Uniform([f64; 2]),
    /// `[mean, standard deviation]`
    Normal([f64; 2]),
    /// A matrix read from a file (`.csv` or `.npy`), relative to the circuit file's folder.
    File(String),
    /// The weights another run saved: its directory (relative to the circuit file's folder)
    /// and the time (None: the latest it saved).
    From {
        run: String,
        time: Option<Time>,
    },
}

impl Init {
    /// Whether the weights are read from saved ones rather than drawn.
    pub fn is_saved(&self) -> bool {
        matches!(self, Init::File(_) | Init::From { .. })
    }
}

const VARIANTS: &[&str] = &[
    "zeros", "identity", "constant", "uniform", "normal", "file", "from",
];

impl Serialize for Init {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn one<S: Serializer, T: Serialize + ?Sized>(
            s: S,
            key: &str,
            value: &T,
        ) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_entry(key, value)?;
            map.end()
        }
        match self {
            Init::Zeros => serializer.serialize_str("zeros"),
            Init::Identity => serializer.serialize_str("identity"),
            Init::Constant(v) => one(serializer, "constant", v),
            Init::Uniform(v) => one(serializer, "uniform", v),
            Init::Normal(v) => one(serializer, "normal", v),
            Init::File(path) => one(serializer, "file", path),
            Init::From { run, time } => {
                let mut map = serializer.serialize_map(Some(1 + time.is_some() as usize))?;
                map.serialize_entry("from", run)?;
                if let Some(t) = time {
                    map.serialize_entry("time", t)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Init {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InitVisitor;
        impl<'de> Visitor<'de> for InitVisitor {
            type Value = Init;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "`zeros`, `identity`, `{constant: c}`, `{uniform: [low, high]}`, `{normal: [mean, std]}`, `{file: PATH}` or `{from: RUN_DIR, time: T}`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Init, E> {
                match v {
                    "zeros" => Ok(Init::Zeros),
                    "identity" => Ok(Init::Identity),
                    other => Err(E::unknown_variant(other, VARIANTS)),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Init, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::invalid_length(0, &self));
                };
                let init = match key.as_str() {
                    "constant" => Init::Constant(map.next_value()?),
                    "uniform" => Init::Uniform(map.next_value()?),
                    "normal" => Init::Normal(map.next_value()?),
                    "file" => Init::File(map.next_value()?),
                    "from" | "time" => {
                        // `time` may come first; `from` must be there.
                        let mut run = None;
                        let mut time = None;
                        let mut key = Some(key);
                        while let Some(k) = key {
                            match k.as_str() {
                                "from" if run.is_none() => run = Some(map.next_value()?),
                                "time" if time.is_none() => time = Some(map.next_value()?),
                                "from" | "time" => return Err(de::Error::duplicate_field("from")),
                                other => {
                                    return Err(de::Error::unknown_field(other, &["from", "time"]));
                                }
                            }
                            key = map.next_key::<String>()?;
                        }
                        let run = run.ok_or_else(|| de::Error::missing_field("from"))?;
                        return Ok(Init::From { run, time });
                    }
                    other => return Err(de::Error::unknown_variant(other, VARIANTS)),
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::unknown_field(&extra, key_of(&init)));
                }
                Ok(init)
            }
        }
        deserializer.deserialize_any(InitVisitor)
    }
}

/// The one key a one-key `init:` map may have (for the message about a second key).
fn key_of(init: &Init) -> &'static [&'static str] {
    match init {
        Init::Constant(_) => &["constant"],
        Init::Uniform(_) => &["uniform"],
        Init::Normal(_) => &["normal"],
        Init::File(_) => &["file"],
        _ => &[],
    }
}

/// A distribution drawn per instance.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
enum Drawn {
    Zeros,
    Identity,
    Constant(f64),
    Uniform([f64; 2]),
    /// `[mean, standard deviation]`
    Normal([f64; 2]),
}

impl JsonSchema for Init {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Init".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let drawn = generator.subschema_for::<Drawn>();
        let time = generator.subschema_for::<Time>();
        schemars::json_schema!({
            "description": "A projection's initial weights: a distribution drawn per instance, a matrix file, or another run's saved weights.",
            "anyOf": [
                drawn,
                {
                    "description": "A matrix rows × cols (post × pre), the same for every instance: a `.csv` of numbers only (one line per post unit, no header) or a 2-D `.npy` (float64 or float32, C order); relative to the circuit file.",
                    "type": "object",
                    "properties": {"file": {"type": "string"}},
                    "required": ["file"],
                    "additionalProperties": false
                },
                {
                    "description": "The projection's weights saved by another run (its directory, relative to the circuit file) at `time` (default: the latest it saved), instance k from its instance k.",
                    "type": "object",
                    "properties": {"from": {"type": "string"}, "time": time},
                    "required": ["from"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Init, String> {
        serde_saphyr::from_str::<Init>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn every_form_reads_and_writes_back() {
        for (text, init) in [
            ("zeros", Init::Zeros),
            ("identity", Init::Identity),
            ("{constant: 0.5}", Init::Constant(0.5)),
            ("{uniform: [-1, 1]}", Init::Uniform([-1.0, 1.0])),
            ("{normal: [0, 0.1]}", Init::Normal([0.0, 0.1])),
            ("{file: w.npy}", Init::File("w.npy".into())),
            (
                "{from: runs/a}",
                Init::From {
                    run: "runs/a".into(),
                    time: None,
                },
            ),
            (
                "{time: 2 s, from: runs/a}",
                Init::From {
                    run: "runs/a".into(),
                    time: Some(Time::parse("2 s").unwrap()),
                },
            ),
        ] {
            assert_eq!(parse(text).unwrap(), init, "{text}");
            let json = serde_json::to_string(&init).unwrap();
            assert_eq!(serde_json::from_str::<Init>(&json).unwrap(), init, "{json}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse("{unifrom: [0, 1]}").unwrap_err().contains("unifrom"));
        assert!(
            parse("{file: a.csv, time: 1 s}")
                .unwrap_err()
                .contains("time")
        );
        assert!(parse("{from: a, at: 1 s}").unwrap_err().contains("at"));
        assert!(parse("{time: 1 s}").unwrap_err().contains("from"));
        assert!(parse("ones").unwrap_err().contains("ones"));
    }
}
