//! Does decay make a rule Hebbian? The per-rule reading of a sweep of random rules against
//! decay strength γ = 1/τ_decay: for each rule, where its runs are stationary, whether its
//! Hebbian signature rises monotonically with γ, and from which γ it is positive.
//!
//! The input is, per rule and γ, each seed's Hebbian signature and held-out loss (relative to
//! its start) averaged over the last fifth of the run and over the fifth before it, and how many
//! seeds diverged. Definitions (each stated in docs/sweeps.md):
//!
//! - A point (rule, γ) is **stationary** when no seed diverged and, over its seeds, the mean
//!   change between the last two fifths is within tolerance for both the signature
//!   (|Δ| ≤ [`Tolerances::signature`] + z·SE) and the relative held-out loss
//!   (|Δ| ≤ [`Tolerances::loss`] + z·SE), SE the standard error of the mean change over the seeds.
//! - The **monotone** test runs over a rule's stationary points in γ order, and only when there
//!   are at least [`MIN_POINTS`]: the signature *never falls* when no neighbouring step drops by
//!   more than z·√(SE₁² + SE₂²), and *rises* when the last point exceeds the first by more than
//!   that. The claim holds for a rule that never falls and rises.
//! - The **γ of sign change** is the smallest stationary γ from which the mean signature is
//!   positive at every larger stationary γ (the first grid value when it is positive throughout).
//! - A rule **learns** when its held-out loss over the last fifth, relative to its start, is
//!   below [`Tolerances::learned_below`] at its weakest stationary decay; otherwise it is a
//!   non-learning rule.
//! - A rule carries an **implicit decay** when θ of `zz_w` (z²W, Oja's normaliser) is negative.

/// A rule needs this many stationary points for the monotone test.
pub const MIN_POINTS: usize = 3;

/// The thresholds of the definitions above.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerances {
    /// Allowed change of the mean signature between the last two fifths.
    pub signature: f64,
    /// Allowed change of the relative held-out loss (in units of its start) between them.
    pub loss: f64,
    /// Standard errors a difference may lie within noise.
    pub z: f64,
    /// Relative held-out loss below which a rule counts as learning.
    pub learned_below: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            signature: 0.05,
            loss: 0.02,
            z: 2.0,
            learned_below: 0.5,
        }
    }
}

/// One seed that completed: means over the last fifth and over the fifth before it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeedReading {
    pub signature_last: f64,
    pub signature_before: f64,
    pub loss_last: f64,
    pub loss_before: f64,
}

/// One rule at one decay strength.
#[derive(Clone, Debug, PartialEq)]
pub struct PointReading {
    /// γ = 1/τ_decay (1/s).
    pub gamma: f64,
    pub seeds: Vec<SeedReading>,
    /// Seeds that diverged.
    pub failed: usize,
}

/// One rule: its draw number, θ by term key, and its points (any order).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleReading {
    pub draw: u64,
    pub theta: Vec<(String, f64)>,
    pub points: Vec<PointReading>,
}

/// A point's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct PointResult {
    pub gamma: f64,
    pub completed: usize,
    pub failed: usize,
    /// Mean and standard error of the signature over the completed seeds (NaN without any).
    pub signature: f64,
    pub signature_se: f64,
    pub loss: f64,
    pub stationary: bool,
}

/// How much of the grid a rule is stationary over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stationarity {
    /// At every γ, the control included.
    Everywhere,
    /// At every γ but the control (the weakest decay).
    WithDecay,
    /// At [`MIN_POINTS`] or more, but not as above: tested over those.
    Partly,
    /// At fewer than [`MIN_POINTS`]: not tested.
    Untested,
}

impl Stationarity {
    pub fn name(self) -> &'static str {
        match self {
            Stationarity::Everywhere => "everywhere",
            Stationarity::WithDecay => "with_decay",
            Stationarity::Partly => "partly",
            Stationarity::Untested => "untested",
        }
    }
}

/// A rule's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleResult {
    pub draw: u64,
    pub theta: Vec<(String, f64)>,
    /// θ_zz_w < 0; None when zz_w is not among the drawn terms.
    pub implicit_decay: Option<bool>,
    /// In γ order.
    pub points: Vec<PointResult>,
    pub stationarity: Stationarity,
    pub learns: Option<bool>,
    /// The monotone test (None: untested).
    pub never_falls: Option<bool>,
    pub rises: Option<bool>,
    pub gamma_positive: Option<f64>,
}

impl RuleResult {
    /// Whether the claim holds: the signature never falls and rises with γ.
    pub fn holds(&self) -> Option<bool> {
        Some(self.never_falls? && self.rises?)
    }

    /// The stationary points, in γ order.
    pub fn stationary_points(&self) -> impl Iterator<Item = &PointResult> {
        self.points.iter().filter(|p| p.stationary)
    }
}

fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (m, 0.0);
    }
    let var = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

fn point(p: &PointReading, tol: &Tolerances) -> PointResult {
    let sig: Vec<f64> = p.seeds.iter().map(|s| s.signature_last).collect();
    let loss: Vec<f64> = p.seeds.iter().map(|s| s.loss_last).collect();
    let dsig: Vec<f64> = p
        .seeds
        .iter()
        .map(|s| s.signature_last - s.signature_before)
        .collect();
    let dloss: Vec<f64> = p
        .seeds
        .iter()
        .map(|s| s.loss_last - s.loss_before)
        .collect();
    let (signature, signature_se) = mean_se(&sig);
    let (ds, ds_se) = mean_se(&dsig);
    let (dl, dl_se) = mean_se(&dloss);
    let finite = sig.iter().chain(&dsig).chain(&dloss).all(|x| x.is_finite());
    let stationary = p.failed == 0
        && !p.seeds.is_empty()
        && finite
        && ds.abs() <= tol.signature + tol.z * ds_se
        && dl.abs() <= tol.loss + tol.z * dl_se;
    PointResult {
        gamma: p.gamma,
        completed: p.seeds.len(),
        failed: p.failed,
        signature,
        signature_se,
        loss: mean_se(&loss).0,
        stationary,
    }
}

/// The verdict on one rule.
pub fn judge(rule: &RuleReading, tol: &Tolerances) -> RuleResult {
    let mut points: Vec<PointResult> = rule.points.iter().map(|p| point(p, tol)).collect();
    points.sort_by(|a, b| a.gamma.total_cmp(&b.gamma));
    let stationary: Vec<&PointResult> = points.iter().filter(|p| p.stationary).collect();
    let stationarity = if stationary.len() < MIN_POINTS {
        Stationarity::Untested
    } else if stationary.len() == points.len() {
        Stationarity::Everywhere
    } else if stationary.len() + 1 == points.len() && !points[0].stationary {
        Stationarity::WithDecay
    } else {
        Stationarity::Partly
    };
    let noise = |a: &PointResult, b: &PointResult| {
        tol.z * (a.signature_se.powi(2) + b.signature_se.powi(2)).sqrt()
    };
    let tested = stationarity != Stationarity::Untested;
    let never_falls = tested.then(|| {
        stationary
            .windows(2)
            .all(|w| w[1].signature - w[0].signature >= -noise(w[0], w[1]))
    });
    let rises = tested.then(|| {
        let (first, last) = (stationary[0], stationary[stationary.len() - 1]);
        last.signature - first.signature > noise(first, last)
    });
    let gamma_positive = stationary
        .iter()
        .rposition(|p| p.signature <= 0.0)
        .map_or(stationary.first().map(|p| p.gamma), |k| {
            stationary.get(k + 1).map(|p| p.gamma)
        });
    let learns = stationary.first().map(|p| p.loss < tol.learned_below);
    let implicit_decay = rule
        .theta
        .iter()
        .find(|(k, _)| k == "zz_w")
        .map(|(_, v)| *v < 0.0);
    RuleResult {
        draw: rule.draw,
        theta: rule.theta.clone(),
        implicit_decay,
        points,
        stationarity,
        learns,
        never_falls,
        rises,
        gamma_positive,
    }
}

/// Counts over a group of rules.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub rules: usize,
    pub tested: usize,
    pub holds: usize,
    pub never_falls: usize,
    pub rises: usize,
    /// Rules stationary at the control, and of those, positive there.
    pub at_control: usize,
    pub positive_at_control: usize,
    /// Rules stationary at the strongest decay, and of those, positive there.
    pub at_strongest: usize,
    pub positive_at_strongest: usize,
    /// Neighbouring stationary points (matched by rule), and of those, rising ones.
    pub pairs: usize,
    pub pairs_rising: usize,
}

impl Tally {
    /// Counts over `rules` (each judged on the same grid).
    pub fn of<'a>(rules: impl IntoIterator<Item = &'a RuleResult>) -> Tally {
        let mut t = Tally::default();
        for r in rules {
            t.rules += 1;
            if let (Some(h), Some(n), Some(u)) = (r.holds(), r.never_falls, r.rises) {
                t.tested += 1;
                t.holds += h as usize;
                t.never_falls += n as usize;
                t.rises += u as usize;
            }
            if let Some(p) = r.points.first().filter(|p| p.stationary) {
                t.at_control += 1;
                t.positive_at_control += (p.signature > 0.0) as usize;
            }
            if let Some(p) = r.points.last().filter(|p| p.stationary) {
                t.at_strongest += 1;
                t.positive_at_strongest += (p.signature > 0.0) as usize;
            }
            let s: Vec<&PointResult> = r.stationary_points().collect();
            for w in s.windows(2) {
                t.pairs += 1;
                t.pairs_rising += (w[1].signature > w[0].signature) as usize;
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(sig: f64, loss: f64) -> Vec<SeedReading> {
        // Three seeds spread ±0.01 around the signature, stationary.
        [-0.01, 0.0, 0.01]
            .iter()
            .map(|d| SeedReading {
                signature_last: sig + d,
                signature_before: sig + d,
                loss_last: loss,
                loss_before: loss,
            })
            .collect()
    }

    fn rule(sigs: &[f64]) -> RuleReading {
        RuleReading {
            draw: 1,
            theta: vec![("m_x".into(), 0.5), ("zz_w".into(), -0.2)],
            points: sigs
                .iter()
                .enumerate()
                .map(|(k, &s)| PointReading {
                    gamma: [1e-6, 0.1, 0.3, 1.0][k],
                    seeds: seeds(s, 0.2),
                    failed: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn a_rising_signature_holds_and_turns_positive_where_it_stays_positive() {
        let r = judge(&rule(&[-0.3, 0.1, -0.01, 0.2]), &Tolerances::default());
        assert_eq!(r.stationarity, Stationarity::Everywhere);
        // −0.3 → 0.1 → −0.01 falls by 0.11, beyond 2·√2·0.00577 = 0.016.
        assert_eq!(r.never_falls, Some(false));
        assert_eq!(r.rises, Some(true));
        assert_eq!(r.gamma_positive, Some(1.0));
        assert_eq!(r.implicit_decay, Some(true));
        assert_eq!(r.learns, Some(true));
        let r = judge(&rule(&[-0.3, 0.1, 0.095, 0.2]), &Tolerances::default());
        assert_eq!(r.holds(), Some(true));
        assert_eq!(r.gamma_positive, Some(0.1));
        let r = judge(&rule(&[0.3, 0.2, 0.1, 0.0]), &Tolerances::default());
        assert_eq!((r.never_falls, r.rises), (Some(false), Some(false)));
        assert_eq!(r.gamma_positive, None);
    }

    #[test]
    fn drifting_or_diverged_points_are_not_stationary_and_leave_rules_untested() {
        let mut r = rule(&[0.1, 0.2, 0.3, 0.4]);
        r.points[0].failed = 1;
        // Every seed's signature moved by 0.2 between the last two fifths.
        for s in &mut r.points[1].seeds {
            s.signature_before = s.signature_last - 0.2;
        }
        let j = judge(&r, &Tolerances::default());
        assert!(!j.points[0].stationary && !j.points[1].stationary);
        assert_eq!(j.stationarity, Stationarity::Untested);
        assert_eq!(j.holds(), None);
        let mut r = rule(&[0.1, 0.2, 0.3, 0.4]);
        r.points[0].failed = 2;
        let j = judge(&r, &Tolerances::default());
        assert_eq!(j.stationarity, Stationarity::WithDecay);
        assert_eq!(j.holds(), Some(true));
        let t = Tally::of([&j]);
        assert_eq!(
            (t.at_control, t.at_strongest, t.pairs, t.pairs_rising),
            (0, 1, 2, 2)
        );
    }
}
