//! Time quantities with units, as written in circuit files (`"0.1 ms"`, `"2 s"`, `"10 min"`).
//!
//! A time is always stored in seconds. A bare number is rejected on purpose: `tau: 5` could mean
//! 5 ms or 5 s, and guessing wrong silently changes the science, so the error says which unit to add.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A non-negative duration in seconds, parsed from a string with a unit.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Time {
    seconds: f64,
}

/// Units accepted in time strings, with their length in seconds: the symbols, and the words
/// people type (`2 seconds`, `10 minutes`).
const UNITS: [(&str, f64); 24] = [
    ("us", 1e-6),
    ("µs", 1e-6),
    ("μs", 1e-6),
    ("usec", 1e-6),
    ("microsecond", 1e-6),
    ("microseconds", 1e-6),
    ("ms", 1e-3),
    ("msec", 1e-3),
    ("millisecond", 1e-3),
    ("milliseconds", 1e-3),
    ("s", 1.0),
    ("sec", 1.0),
    ("secs", 1.0),
    ("second", 1.0),
    ("seconds", 1.0),
    ("min", 60.0),
    ("mins", 60.0),
    ("minute", 60.0),
    ("minutes", 60.0),
    ("h", 3600.0),
    ("hr", 3600.0),
    ("hrs", 3600.0),
    ("hour", 3600.0),
    ("hours", 3600.0),
];

impl Time {
    pub fn from_seconds(seconds: f64) -> Self {
        Time { seconds }
    }
    pub fn from_ms(ms: f64) -> Self {
        Time { seconds: ms * 1e-3 }
    }
    pub fn seconds(self) -> f64 {
        self.seconds
    }
    pub fn ms(self) -> f64 {
        self.seconds * 1e3
    }
    pub fn is_zero(&self) -> bool {
        self.seconds == 0.0
    }

    /// Parses `"<number> <unit>"` (the space is optional).
    pub fn parse(text: &str) -> Result<Time, String> {
        let trimmed = text.trim();
        // The unit is the trailing run of letters, so that a number in scientific notation
        // (`2e0 s`, `1e-3 s`) keeps its `e`.
        let split = trimmed
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphabetic())
            .last()
            .map(|(i, _)| i)
            .ok_or_else(|| {
                format!(
                    "time `{trimmed}` has no unit: add one, e.g. `{trimmed} ms` or `{trimmed} s`"
                )
            })?;
        let (number, unit) = trimmed.split_at(split);
        let number = number.trim();
        let unit = unit.trim();
        let value: f64 = number
            .parse()
            .map_err(|_| format!("time `{trimmed}`: `{number}` is not a number"))?;
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| {
                format!("time `{trimmed}`: unknown unit `{unit}` (use us, ms, s, min or h)")
            })?;
        if !value.is_finite() {
            return Err(format!("time `{trimmed}` is not finite"));
        }
        if value < 0.0 {
            return Err(format!("time `{trimmed}` is negative; times must be ≥ 0"));
        }
        Ok(Time {
            seconds: value * scale,
        })
    }
}

impl fmt::Display for Time {
    /// Writes the time in the largest unit that keeps the number ≥ 1 and short, so that
    /// expanded circuits read like hand-written ones and parse back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        if s == 0.0 {
            return write!(f, "0 ms");
        }
        let (unit, scale) = if s >= 60.0 && (s / 60.0).fract() == 0.0 {
            ("min", 60.0)
        } else if s >= 1.0 {
            ("s", 1.0)
        } else if s >= 1e-4 {
            ("ms", 1e-3)
        } else {
            ("us", 1e-6)
        };
        let value = round_sig(s / scale);
        let text = format!("{value}");
        if value >= 1e-3 && Time::parse(&format!("{text} {unit}")).map(|t| t.seconds) == Ok(s) {
            return write!(f, "{text} {unit}");
        }
        // Fall back to exact seconds when no unit gives an exact short form; far from the
        // usual range, in scientific notation (`1e-15 s`), which parses back.
        if (1e-3..1e6).contains(&s) {
            write!(f, "{s} s")
        } else {
            write!(f, "{s:e} s")
        }
    }
}

/// Rounds to 12 significant digits to hide binary noise such as 0.30000000000000004.
fn round_sig(value: f64) -> f64 {
    let text = format!("{value:.12e}");
    text.parse().unwrap_or(value)
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl serde::de::Visitor<'_> for TimeVisitor {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a time with a unit, such as \"5 ms\" or \"2 s\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Time, E> {
                Time::parse(v).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Time, E> {
                Err(E::custom(format!(
                    "time `{v}` has no unit: write it as \"{v} ms\" or \"{v} s\""
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Time, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Time, E> {
                self.visit_f64(v as f64)
            }
        }
        deserializer.deserialize_any(TimeVisitor)
    }
}

impl schemars::JsonSchema for Time {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Time".into()
    }

    /// A string with a unit, as [`Time::parse`] reads it: the pattern is built from the same unit
    /// table, and rejects bare numbers and negative times as the parser does. (That a number
    /// is finite, e.g. not `1e999 s`, is left to the loader.)
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let units: Vec<&str> = UNITS.iter().map(|(name, _)| *name).collect();
        let pattern = format!(
            r"^\s*\+?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*({})\s*$",
            units.join("|")
        );
        schemars::json_schema!({
            "type": "string",
            "pattern": pattern,
            "description": "A non-negative time with a unit (us, ms, s, min or h, or the words: seconds, minutes, …), e.g. \"50 ms\" or \"2 s\"; a bare number is an error.",
            "examples": ["0.1 ms", "50 ms", "2 s", "10 min"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(Time::parse("0.1 ms").unwrap().seconds(), 0.1e-3);
        assert_eq!(Time::parse("2 s").unwrap().seconds(), 2.0);
        assert_eq!(Time::parse("10 min").unwrap().seconds(), 600.0);
        assert_eq!(Time::parse("50ms").unwrap().seconds(), 0.05);
        assert_eq!(Time::parse("3 us").unwrap().seconds(), 3e-6);
        assert_eq!(Time::parse("2 seconds").unwrap().seconds(), 2.0);
        assert_eq!(Time::parse("1 second").unwrap().seconds(), 1.0);
        assert_eq!(Time::parse("3 minutes").unwrap().seconds(), 180.0);
        assert_eq!(Time::parse("1 hour").unwrap().seconds(), 3600.0);
        assert_eq!(Time::parse("20 msec").unwrap().seconds(), 0.02);
        assert_eq!(Time::parse("5 milliseconds").unwrap().seconds(), 0.005);
        assert_eq!(Time::parse("4 μs").unwrap().seconds(), 4e-6);
        assert_eq!(Time::parse("4 µs").unwrap().seconds(), 4e-6);
    }

    #[test]
    fn parses_scientific_notation() {
        assert_eq!(Time::parse("2e0 s").unwrap().seconds(), 2.0);
        assert_eq!(Time::parse("1e-3 s").unwrap().seconds(), 1e-3);
        assert_eq!(Time::parse("5E2ms").unwrap().seconds(), 0.5);
        assert!(Time::parse("1e3").unwrap_err().contains("no unit"));
    }

    #[test]
    fn rejects_bad_times_with_reasons() {
        assert!(Time::parse("5").unwrap_err().contains("no unit"));
        assert!(
            Time::parse("5 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(Time::parse("-1 ms").unwrap_err().contains("negative"));
        assert!(Time::parse("abc ms").unwrap_err().contains("not a number"));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "0.1 ms", "5 ms", "2 s", "10 min", "0 ms", "1.5 s", "20 ms", "37 us",
        ] {
            let t = Time::parse(text).unwrap();
            let back = Time::parse(&t.to_string()).unwrap();
            assert_eq!(t, back, "{text} -> {t}");
        }
        assert_eq!(Time::parse("0.1 ms").unwrap().to_string(), "0.1 ms");
        assert_eq!(Time::parse("2000 ms").unwrap().to_string(), "2 s");
    }
}
