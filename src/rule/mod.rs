//! The local plasticity basis: every rule is a coefficient vector θ over these terms.
//!
//! τ_w dW_ij/dt = Σ_k θ_k · term_k(x_j, z_i, m_i, q_i, W_ij) − (τ_w/τ_decay) W_ij (+ σ_w ξ_ij)
//!
//! Keeping rules as data is what lets one engine and one kernel template run SGD, FA, DFA, KP,
//! Hebbian, Oja and evolved rules alike. The terms themselves are declared once, in
//! [`terms::TERMS`]; [`UpdateForm`] is what every backend derives from the terms in use.

pub mod terms;

pub use terms::{Post, Pre, Slot, TERMS, TermDef};

/// θ of random rule `k` over `terms` (keys of the basis): each term uniform within `bounds`,
/// from a SHA-256 hash of `seed`, k and the term's key — so a term's value depends on neither
/// the other terms listed nor the other draws —, kept to 12 significant digits as sweep axis
/// values are. Sweeps' `rule_draws` axes write these, and their analysis reads them back.
pub fn draw_theta(seed: u64, k: u64, terms: &[String], bounds: [f64; 2]) -> Vec<f64> {
    use sha2::{Digest, Sha256};
    terms
        .iter()
        .map(|t| {
            let d: [u8; 32] = Sha256::digest(format!("hetsim-rule-draw|{seed}|{k}|{t}")).into();
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&d[..8]);
            let u = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
            let v = bounds[0] + u * (bounds[1] - bounds[0]);
            format!("{v:.11e}").parse().unwrap_or(v)
        })
        .collect()
}

/// The number of terms in the basis (the length of θ).
pub const N_TERMS: usize = TERMS.len();

/// One term of the basis, by its position in θ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Term(usize);

/// The terms' keys, in θ order (for serde's "expected one of" lists).
pub const KEYS: [&str; N_TERMS] = {
    let mut keys = [""; N_TERMS];
    let mut k = 0;
    while k < N_TERMS {
        keys[k] = TERMS[k].key;
        k += 1;
    }
    keys
};

impl Term {
    pub const ALL: [Term; N_TERMS] = {
        let mut all = [Term(0); N_TERMS];
        let mut k = 0;
        while k < N_TERMS {
            all[k] = Term(k);
            k += 1;
        }
        all
    };

    /// The terms the engine itself names (rule macros, measurements); looked up by key at
    /// compile time, so a misspelt or removed key fails the build.
    pub const MX: Term = Term::named("m_x");
    pub const ZX: Term = Term::named("z_x");
    pub const ZZW: Term = Term::named("zz_w");
    pub const ZZX: Term = Term::named("zz_x");
    pub const QZX: Term = Term::named("qz_x");

    /// The term with this key; a compile-time error in a const context if there is none.
    pub const fn named(key: &str) -> Term {
        let mut k = 0;
        while k < N_TERMS {
            if str_eq(TERMS[k].key, key) {
                return Term(k);
            }
            k += 1;
        }
        panic!("no plasticity term has this key")
    }

    /// The term with this key, if any (user input).
    pub fn from_key(key: &str) -> Option<Term> {
        KEYS.iter().position(|k| *k == key).map(Term)
    }

    /// Its position in θ.
    pub const fn index(self) -> usize {
        self.0
    }

    pub const fn def(self) -> &'static TermDef {
        &TERMS[self.0]
    }

    /// The key used in circuit files (`rule: {m_x: 1}`).
    pub const fn key(self) -> &'static str {
        TERMS[self.0].key
    }

    /// Whether the term reads the modulator m.
    pub fn uses_modulator(self) -> bool {
        self.def().reads(Post::M)
    }

    /// The term's value for one synapse, straight from its declaration: the post-side factors
    /// left to right, then the pre-side factor, then W.
    pub fn eval(self, s: &Local) -> f64 {
        let d = self.def();
        let mut v = 1.0;
        for f in d.post {
            v *= s.post(*f);
        }
        if d.pre == Pre::X {
            v *= s.x;
        }
        if d.w_power == 1 {
            v *= s.w;
        }
        v
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// What the terms of one synapse read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Local {
    /// presynaptic rate x_j
    pub x: f64,
    /// post rate z_i
    pub z: f64,
    /// modulator m_i
    pub m: f64,
    /// the weight W_ij
    pub w: f64,
    /// the post population's trace q_i
    pub q: f64,
}

impl Local {
    pub fn post(&self, f: Post) -> f64 {
        match f {
            Post::Z => self.z,
            Post::M => self.m,
            Post::Q => self.q,
        }
    }
}

/// θ as an array in `Term::ALL` order.
pub type Theta = [f64; N_TERMS];

/// Σ_k θ_k term_k for one synapse, in θ order (the direct evaluation tests compare with).
pub fn drive(theta: &Theta, s: &Local) -> f64 {
    Term::ALL
        .iter()
        .zip(theta)
        .fold(0.0, |acc, (t, c)| acc + c * t.eval(s))
}

/// The first term with a non-zero coefficient that reads the post population's trace q.
pub fn reads_trace(theta: &Theta) -> Option<Term> {
    Term::ALL
        .iter()
        .zip(theta)
        .find(|(t, c)| **c != 0.0 && t.def().reads(Post::Q))
        .map(|(t, _)| *t)
}

/// Whether any non-zero coefficient reads the modulator.
pub fn needs_modulator(theta: &Theta) -> bool {
    Term::ALL
        .iter()
        .zip(theta)
        .any(|(t, c)| *c != 0.0 && t.uses_modulator())
}

/// A motif's update derived from the terms it uses: for each slot, the terms whose products are
/// summed (in θ order) into that slot's row coefficient. Every backend builds its update from
/// this and nothing else, so they sum the same products in the same order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateForm {
    pub slots: [Vec<Term>; 4],
}

impl UpdateForm {
    /// The form of the terms for which `used(k)` holds.
    pub fn of(used: impl Fn(usize) -> bool) -> Self {
        let mut form = UpdateForm::default();
        for t in Term::ALL {
            if used(t.index()) {
                form.slots[t.def().slot().index()].push(t);
            }
        }
        form
    }

    pub fn terms(&self, slot: Slot) -> &[Term] {
        &self.slots[slot.index()]
    }

    pub fn has(&self, slot: Slot) -> bool {
        !self.slots[slot.index()].is_empty()
    }

    /// Only a_i x_j: the update is an outer product (plus decay), the fast row loop.
    pub fn is_outer(&self) -> bool {
        Slot::ALL.iter().all(|s| *s == Slot::X || !self.has(*s))
    }

    /// Whether some term in use reads `f`.
    pub fn reads(&self, f: Post) -> bool {
        self.slots.iter().flatten().any(|t| t.def().reads(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_terms_found_by_key() {
        for (k, key) in KEYS.iter().enumerate() {
            assert_eq!(Term::from_key(key), Some(Term::ALL[k]));
            assert_eq!(KEYS.iter().filter(|o| *o == key).count(), 1, "{key}");
        }
        assert_eq!(Term::MX.key(), "m_x");
        assert!(Term::from_key("nope").is_none());
    }

    #[test]
    fn oja_terms_evaluate() {
        // Oja: z x − z² w
        let s = Local {
            x: 0.5,
            z: 2.0,
            m: 0.0,
            w: 0.25,
            q: 0.0,
        };
        let value = Term::ZX.eval(&s) - Term::ZZW.eval(&s);
        assert_eq!(value, 1.0 - 1.0);
        let mut mx = [0.0; N_TERMS];
        mx[Term::MX.index()] = 1.0;
        assert!(needs_modulator(&mx));
        let mut oja = [0.0; N_TERMS];
        oja[Term::ZX.index()] = 1.0;
        oja[Term::ZZW.index()] = -1.0;
        assert!(!needs_modulator(&oja));
    }

    #[test]
    fn update_form_groups_terms_by_slot() {
        let form = UpdateForm::of(|_| true);
        assert_eq!(form.terms(Slot::X).len(), 6); // m_x, z_x, x, zz_x, qz_x, mz_x
        assert!(form.terms(Slot::W).contains(&Term::ZZW));
        assert!(!form.is_outer());
        assert!(UpdateForm::of(|k| k == Term::MX.index() || k == Term::ZX.index()).is_outer());
        let bcm = UpdateForm::of(|k| k == Term::ZZX.index() || k == Term::QZX.index());
        assert!(bcm.is_outer() && bcm.reads(Post::Q) && !bcm.reads(Post::M));
    }
}
