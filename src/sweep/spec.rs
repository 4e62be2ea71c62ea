//! Sweep files (`configs/*_sweep.yaml`): the circuit, the axes swept over it, how they combine,
//! the rules and seeds, and what to summarise per point. Parsed with the located errors of
//! circuit files; the axes are checked against the circuit in [`super::axes`].

use crate::spec::RuleName;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Names the output directory (`runs/sweep-<name>-<time>`).
    pub name: String,
    /// The circuit file, relative to this file.
    pub circuit: String,
    /// Fixed overrides of the circuit, as `--set` takes them: `["time.duration=5 s"]`.
    #[serde(default)]
    pub set: Vec<String>,
    /// The swept parameters.
    pub axes: Vec<AxisSpec>,
    /// `grid` (every combination, the last axis fastest) or `zip` (the k-th value of every axis).
    #[serde(default)]
    pub combine: Combine,
    /// Rules swapped into the circuit's `learning:` block, as `compare` does; none: the circuit's own.
    #[serde(default)]
    pub rules: Vec<RuleName>,
    /// Instances per point and rule; rules at one point share their seeds.
    #[serde(default = "one")]
    pub seeds: usize,
    /// The sweep's seed: every instance's seed derives from it and the point's identity.
    #[serde(default = "one_u64")]
    pub seed: u64,
    /// What each row of `summary.csv` reports (default: the final held-out loss, absolute and
    /// relative to its start).
    #[serde(default = "default_summary")]
    pub summary: Vec<SummarySpec>,
    /// Instances per ensemble (default: sized for the backend and the memory budget).
    #[serde(default)]
    pub ensemble_size: Option<usize>,
    /// Also keep each ensemble's traces and weight snapshots (off: sweeps are about summaries).
    #[serde(default)]
    pub keep: KeepSpec,
    /// What theory predicts, drawn on the heat maps beside the measurement (`hetsim plot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<crate::measure::phase::Prediction>,
}

fn one() -> usize {
    1
}
fn one_u64() -> u64 {
    1
}

fn default_summary() -> Vec<SummarySpec> {
    vec![
        SummarySpec {
            measure: "held_out_loss".into(),
            projection: None,
            stat: Stat::Final,
            relative: false,
            name: None,
        },
        SummarySpec {
            measure: "held_out_loss".into(),
            projection: None,
            stat: Stat::Final,
            relative: true,
            name: None,
        },
    ]
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    #[default]
    Grid,
    Zip,
}

/// One swept parameter: where it goes (`path`, or a `ratio` such as `tau_w/T`) and its values
/// (`values`, `linear` or `log`, exactly one) — or `rule_draws`, random rules θ for one motif.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AxisSpec {
    /// A path `--set` accepts (`learning.tau_w`, `task.stimulus.error_delay`) or a short name
    /// (`tau_w`, `tau_decay`, `weight_noise`, `error_delay`, `gap`, `T`, `duration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `A/B`: the axis values are multiples of the circuit's B, written into A
    /// (`tau_w/T`: τ_w = value × stimulus duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<String>,
    /// The column stem in the tables (default: the short name or the path's last key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Scalar>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<RangeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<RangeSpec>,
    /// Random rules instead of a parameter: the axis's values are draws 1, 2, …, `count`, and
    /// draw k writes θ drawn uniformly within `bounds` (hashed from the sweep's `seed` and k)
    /// into the motif's rule. Takes no `path`, `ratio` or values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_draws: Option<RuleDrawsSpec>,
}

/// Random rules for one motif: `count` draws of θ, each term uniform within `bounds`, the other
/// terms zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleDrawsSpec {
    /// The motif, by its plastic projection (the circuit lists its motifs, no `learning:`).
    pub motif: String,
    /// Term keys of the rule basis (`m_x`, `z_x`, `zz_w`, …).
    pub terms: Vec<String>,
    /// [low, high] for every term.
    pub bounds: [f64; 2],
    /// The number of draws.
    pub count: usize,
}

/// `count` values from `from` to `to` inclusive (times with units, or plain numbers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    pub from: Scalar,
    pub to: Scalar,
    pub count: usize,
}

/// A number, or text such as a time with its unit (`"50 ms"`).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    Number(f64),
    Text(String),
}

/// Read by hand rather than derived: serde's untagged enums answer a list or a map where a value
/// belongs with "data did not match any variant of untagged enum Scalar"; this says what an
/// axis value may be, and the located error points at it.
impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a time with its unit (e.g. `3`, `0.5` or `50 ms`)")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Number(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One summary column: a measurement of `metrics.csv` on a projection (default `all`),
/// reduced over the run by `stat`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummarySpec {
    /// A metrics column: `held_out_loss`, `gradient_angle_deg`, `learning_strength`, ….
    pub measure: String,
    /// A projection name, or `all` (the default) for the instance-level value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<String>,
    pub stat: Stat,
    /// Divide by the value at t = 0 (and, for `time_below`/`time_above`, read the threshold
    /// as a fraction of it).
    #[serde(default)]
    pub relative: bool,
    /// The column name (default: measure, projection and statistic, e.g. `held_out_loss_final`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// How a time series becomes one number.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Stat {
    /// The value at t = 0.
    Initial,
    /// The value of the last recorded window.
    Final,
    /// The mean over the windows in the last fraction of the run (`{mean_last: 0.2}`).
    MeanLast(f64),
    /// The first time (s) the value is at or below the threshold (`{time_below: 0.1}`).
    TimeBelow(f64),
    /// The first time (s) the value is at or above the threshold.
    TimeAbove(f64),
}

/// Which per-ensemble tables besides `metrics.csv` and `instances.csv` are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeepSpec {
    #[serde(default)]
    pub traces: bool,
    #[serde(default)]
    pub weights: bool,
}

impl SummarySpec {
    /// The projection it reads (`all` when none is named).
    pub fn projection(&self) -> &str {
        self.projection.as_deref().unwrap_or("all")
    }

    /// The column of `summary.csv` (time statistics end in `_s`).
    pub fn column(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let mut c = self.measure.clone();
        if self.projection() != "all" {
            c.push(':');
            c.push_str(self.projection());
        }
        let rel = if self.relative { "_rel" } else { "" };
        match self.stat {
            Stat::Initial => format!("{c}_initial{rel}"),
            Stat::Final => format!("{c}_final{rel}"),
            Stat::MeanLast(f) => format!("{c}_mean_last{f}{rel}"),
            Stat::TimeBelow(x) => format!("{c}_time_below{x}{rel}_s"),
            Stat::TimeAbove(x) => format!("{c}_time_above{x}{rel}_s"),
        }
    }
}

impl SweepSpec {
    /// The top-level keys whose values differ between two sweep files, leaving out `skip`
    /// (for a resume, the axes may grow; for both, `ensemble_size` only packs).
    pub fn differing_keys(&self, other: &SweepSpec, skip: &[&str]) -> Vec<String> {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(other).unwrap_or_default(),
        );
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return Vec::new();
        };
        let mut keys: Vec<String> = a
            .keys()
            .chain(b.keys())
            .filter(|k| !skip.contains(&k.as_str()) && a.get(*k) != b.get(*k))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}
