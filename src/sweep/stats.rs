//! The per-instance statistics of `summary.csv`, computed while an ensemble runs: a sink that
//! keeps a few numbers per instance and statistic (never the time series), so its memory is
//! O(instances) whatever the run's length.

use super::spec::{Stat, SummarySpec};
use crate::record::metrics::{Metric, Row};
use crate::record::tables::Table;
use crate::record::{Ending, Failure, RecordError, Sink};

#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    initial: Option<f64>,
    last: Option<f64>,
    sum: f64,
    n: usize,
    crossed_s: Option<f64>,
}

/// Streams an ensemble's rows into one value per instance and summary column.
pub struct InstanceStats {
    specs: Vec<(SummarySpec, Metric)>,
    duration_s: f64,
    acc: Vec<Vec<Acc>>,
    failures: Vec<Failure>,
}

impl InstanceStats {
    pub fn new(specs: &[(SummarySpec, Metric)], instances: usize, duration_s: f64) -> Self {
        InstanceStats {
            specs: specs.to_vec(),
            duration_s,
            acc: vec![vec![Acc::default(); specs.len()]; instances],
            failures: Vec::new(),
        }
    }

    /// The value of summary column `k` for instance `e` (None: undefined, e.g. never reached).
    pub fn value(&self, e: usize, k: usize) -> Option<f64> {
        let (spec, _) = &self.specs[k];
        let a = self.acc.get(e)?.get(k)?;
        let scale = |v: f64| -> Option<f64> {
            if spec.relative {
                a.initial.map(|i| v / i)
            } else {
                Some(v)
            }
        };
        match spec.stat {
            Stat::Initial => a.initial.and_then(scale),
            Stat::Final => a.last.and_then(scale),
            Stat::MeanLast(_) => (a.n > 0).then(|| a.sum / a.n as f64).and_then(scale),
            Stat::TimeBelow(_) | Stat::TimeAbove(_) => a.crossed_s,
        }
    }

    /// Why instance `e` failed, and when, if it did.
    pub fn failure(&self, e: usize) -> Option<&Failure> {
        self.failures.iter().find(|f| f.instance == e)
    }
}

impl Sink for InstanceStats {
    fn instances(&mut self, _: &Table) -> Result<(), RecordError> {
        Ok(())
    }

    fn rows(&mut self, rows: &[Row]) -> Result<(), RecordError> {
        let duration = self.duration_s;
        for r in rows {
            let Some(per) = self.acc.get_mut(r.instance) else {
                continue;
            };
            for ((spec, metric), a) in self.specs.iter().zip(per.iter_mut()) {
                if r.projection != spec.projection() {
                    continue;
                }
                let Some(v) = r.get(*metric).filter(|v| v.is_finite()) else {
                    continue;
                };
                if r.time_s == 0.0 {
                    a.initial = Some(v);
                } else {
                    a.last = Some(v);
                }
                if let Stat::MeanLast(f) = spec.stat
                    && r.time_s > 0.0
                    && r.time_s >= (1.0 - f) * duration - 1e-9 * duration
                {
                    a.sum += v;
                    a.n += 1;
                }
                let threshold = |x: f64| {
                    if spec.relative {
                        a.initial.map(|i| x * i)
                    } else {
                        Some(x)
                    }
                };
                if a.crossed_s.is_none() {
                    let crossed = match spec.stat {
                        Stat::TimeBelow(x) => threshold(x).is_some_and(|t| v <= t),
                        Stat::TimeAbove(x) => threshold(x).is_some_and(|t| v >= t),
                        _ => false,
                    };
                    if crossed {
                        a.crossed_s = Some(r.time_s);
                    }
                }
            }
        }
        Ok(())
    }

    fn failures(&mut self, failures: &[Failure]) -> Result<(), RecordError> {
        self.failures = failures.to_vec();
        Ok(())
    }
    fn finish(&mut self, ending: &Ending) -> Result<(), RecordError> {
        self.failures = ending.failures.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(stat: Stat, relative: bool) -> (SummarySpec, Metric) {
        (
            SummarySpec {
                measure: "held_out_loss".into(),
                projection: None,
                stat,
                relative,
                name: None,
            },
            Metric::HeldOutLoss,
        )
    }

    fn row(t: f64, v: f64) -> Row {
        Row {
            time_s: t,
            instance: 0,
            projection: "all".into(),
            held_out_loss: Some(v),
            ..Row::default()
        }
    }

    #[test]
    fn statistics_match_hand_values() {
        let specs = [
            spec(Stat::Initial, false),
            spec(Stat::Final, false),
            spec(Stat::Final, true),
            spec(Stat::MeanLast(0.5), false),
            spec(Stat::TimeBelow(0.3), true),
            spec(Stat::TimeBelow(0.01), false),
        ];
        let mut s = InstanceStats::new(&specs, 1, 4.0);
        let rows: Vec<Row> = [(0.0, 2.0), (1.0, 1.0), (2.0, 0.8), (3.0, 0.5), (4.0, 0.3)]
            .iter()
            .map(|&(t, v)| row(t, v))
            .collect();
        s.rows(&rows).unwrap();
        assert_eq!(s.value(0, 0), Some(2.0));
        assert_eq!(s.value(0, 1), Some(0.3));
        assert_eq!(s.value(0, 2), Some(0.15));
        // The windows ending at 2, 3 and 4 s lie in the last half.
        assert!((s.value(0, 3).unwrap() - (0.8 + 0.5 + 0.3) / 3.0).abs() < 1e-12);
        // 0.3 × 2.0 = 0.6 is first undercut at 3 s.
        assert_eq!(s.value(0, 4), Some(3.0));
        assert_eq!(s.value(0, 5), None);
    }
}
