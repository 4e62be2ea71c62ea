//! The local plasticity basis: every rule is a coefficient vector θ over these terms.
//!
//! τ_w dW_ij/dt = Σ_k θ_k · term_k(x_j, z_i, m_i, W_ij) − (τ_w/τ_decay) W_ij (+ σ_w ξ_ij)
//!
//! Keeping rules as data is what lets one engine and one kernel template run SGD, FA, DFA, KP,
//! Hebbian, Oja and evolved rules alike.

use crate::spec::RuleSpec;

/// The local terms, in the fixed order of θ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Term {
    /// m_i x_j: modulator (error) times presynaptic rate
    MX,
    /// z_i x_j: Hebbian
    ZX,
    /// z_i² W_ij: Oja's normaliser
    ZZW,
    /// z_i
    Z,
    /// x_j
    X,
    /// m_i
    M,
    /// 1
    One,
}

pub const N_TERMS: usize = 7;

impl Term {
    pub const ALL: [Term; N_TERMS] = [
        Term::MX,
        Term::ZX,
        Term::ZZW,
        Term::Z,
        Term::X,
        Term::M,
        Term::One,
    ];

    /// The key used in circuit files (`rule: {m_x: 1}`).
    pub fn key(self) -> &'static str {
        match self {
            Term::MX => "m_x",
            Term::ZX => "z_x",
            Term::ZZW => "zz_w",
            Term::Z => "z",
            Term::X => "x",
            Term::M => "m",
            Term::One => "one",
        }
    }

    /// Whether the term reads the modulator m.
    pub fn uses_modulator(self) -> bool {
        matches!(self, Term::MX | Term::M)
    }

    /// The term's value for one synapse.
    #[inline(always)]
    pub fn eval(self, x: f64, z: f64, m: f64, w: f64) -> f64 {
        match self {
            Term::MX => m * x,
            Term::ZX => z * x,
            Term::ZZW => z * z * w,
            Term::Z => z,
            Term::X => x,
            Term::M => m,
            Term::One => 1.0,
        }
    }
}

/// θ as an array in `Term::ALL` order.
pub type Theta = [f64; N_TERMS];

pub fn theta_from_spec(rule: &RuleSpec) -> Theta {
    [
        rule.m_x, rule.z_x, rule.zz_w, rule.z, rule.x, rule.m, rule.one,
    ]
}

pub fn theta_to_spec(theta: &Theta) -> RuleSpec {
    RuleSpec {
        m_x: theta[0],
        z_x: theta[1],
        zz_w: theta[2],
        z: theta[3],
        x: theta[4],
        m: theta[5],
        one: theta[6],
    }
}

/// Whether any non-zero coefficient reads the modulator.
pub fn needs_modulator(theta: &Theta) -> bool {
    Term::ALL
        .iter()
        .zip(theta)
        .any(|(t, c)| *c != 0.0 && t.uses_modulator())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trip_keeps_every_coefficient() {
        let theta: Theta = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        assert_eq!(theta_from_spec(&theta_to_spec(&theta)), theta);
    }

    #[test]
    fn oja_terms_evaluate() {
        // Oja: z x − z² w
        let (x, z, w) = (0.5, 2.0, 0.25);
        let value = Term::ZX.eval(x, z, 0.0, w) - Term::ZZW.eval(x, z, 0.0, w);
        assert_eq!(value, 1.0 - 1.0);
        assert!(needs_modulator(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]));
        assert!(!needs_modulator(&[0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0]));
    }
}
