//! A sweep shrunk or changed from the command line (`hetsim sweep FILE --set PATH=VALUE --seeds N
//! --duration T`): the changes apply on top of the sweep file's own `set:` and `seeds:`, and are
//! recorded in the sweep's manifest, so that `--resume` and `sweep merge` refuse to mix results
//! made under different changes (the point ids name only the axis values, so nothing else would
//! tell a 2-second sweep's parts from a 40-second one's).

use crate::spec::{CircuitSpec, Time};
use serde::{Deserialize, Serialize};

/// The command line's changes to a sweep, normalised so that equal changes compare equal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepOverrides {
    /// `PATH=VALUE` overrides of the circuit, applied in order after the file's `set:`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,
    /// Instances per point and rule, instead of the file's `seeds:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<usize>,
    /// The circuit's `time.duration`, after `set:` and `--set` (an axis over the duration
    /// still sets each point's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

impl SweepOverrides {
    /// Checks and normalises the options: each `--set` is `PATH=VALUE` (written back trimmed),
    /// `--seeds` is at least 1, `--duration` is a time (written back in one canonical form,
    /// so `5s` and `5 s` are the same change).
    pub fn new(
        set: &[String],
        seeds: Option<usize>,
        duration: Option<&str>,
    ) -> Result<SweepOverrides, String> {
        let set = set
            .iter()
            .map(|entry| {
                let (key, value) = entry
                    .split_once('=')
                    .ok_or_else(|| format!("--set needs PATH=VALUE, got `{entry}`"))?;
                Ok(format!("{}={}", key.trim(), value.trim()))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if seeds == Some(0) {
            return Err("--seeds must be at least 1 (instances per point and rule)".into());
        }
        let duration = duration
            .map(|d| {
                let t = Time::parse(d).map_err(|e| format!("--duration: {e}"))?;
                if t.is_zero() {
                    return Err(format!("--duration: `{d}` is zero; a run needs time"));
                }
                Ok(t.to_string())
            })
            .transpose()?;
        Ok(SweepOverrides {
            set,
            seeds,
            duration,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == SweepOverrides::default()
    }

    /// The options as a command line gives them (`--set a=b --seeds 2`), or `no --set, --seeds
    /// or --duration`.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "no --set, --seeds or --duration".into();
        }
        let mut parts: Vec<String> = self.set.iter().map(|s| format!("--set \"{s}\"")).collect();
        if let Some(n) = self.seeds {
            parts.push(format!("--seeds {n}"));
        }
        if let Some(d) = &self.duration {
            parts.push(format!("--duration \"{d}\""));
        }
        parts.join(" ")
    }

    /// The file's `seeds:`, or `--seeds`.
    pub fn seeds(&self, file: usize) -> usize {
        self.seeds.unwrap_or(file)
    }

    /// The circuit with `--set` and `--duration` applied (after the file's `set:`).
    pub fn apply(&self, circuit: &CircuitSpec) -> Result<CircuitSpec, String> {
        let mut sets: Vec<(String, String)> = self
            .set
            .iter()
            .filter_map(|s| s.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(d) = &self.duration {
            sets.push(("time.duration".into(), d.clone()));
        }
        if sets.is_empty() {
            return Ok(circuit.clone());
        }
        crate::spec::apply_overrides(circuit, &sets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_changes_compare_equal() {
        let a = SweepOverrides::new(&[" a.b = 2 ".into()], Some(2), Some("5s")).unwrap();
        let b = SweepOverrides::new(&["a.b=2".into()], Some(2), Some("5 s")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.describe(), "--set \"a.b=2\" --seeds 2 --duration \"5 s\"");
        assert!(SweepOverrides::new(&[], None, None).unwrap().is_empty());
    }

    #[test]
    fn bad_options_are_refused_by_name() {
        let e = SweepOverrides::new(&["nothing".into()], None, None).unwrap_err();
        assert!(e.starts_with("--set"), "{e}");
        let e = SweepOverrides::new(&[], Some(0), None).unwrap_err();
        assert!(e.starts_with("--seeds"), "{e}");
        let e = SweepOverrides::new(&[], None, Some("5")).unwrap_err();
        assert!(e.starts_with("--duration"), "{e}");
        let e = SweepOverrides::new(&[], None, Some("0 s")).unwrap_err();
        assert!(e.starts_with("--duration"), "{e}");
    }

    #[test]
    fn old_manifests_read_as_no_changes() {
        let none: SweepOverrides = serde_json::from_str("{}").unwrap();
        assert!(none.is_empty());
        assert_eq!(serde_json::to_string(&none).unwrap(), "{}");
    }
}
