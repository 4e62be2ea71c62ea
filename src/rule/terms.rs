//! The plasticity terms, each declared once.
//!
//! A term is a product of a post-side factor (quantities of post unit i), a pre-side factor
//! (1 or the presynaptic rate x_j) and a power of W_ij (0 or 1). That is all any backend needs:
//! the CPU update, its RK4 drive and both OpenCL kernel generators group the terms in use by
//! their [`Slot`] and sum each slot's post-side products into one coefficient per row, so a
//! term declared here runs everywhere with no other code. A factor that is not yet one of
//! [`Post`]'s (a presynaptic trace, a power of x) is the one thing that needs the generators.

/// A quantity of post unit i that a term multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Post {
    /// z_i, the post rate
    Z,
    /// m_i, the modulator delivered to unit i
    M,
    /// q_i, the post population's slow trace (its `trace:`), as it is at the step's start
    Q,
}

/// The pre-side factor of a term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pre {
    /// 1
    One,
    /// x_j, the presynaptic rate (as the synapse sees it, after any delay)
    X,
}

/// One term of the rule basis: θ · Π post · pre · W^w_power.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TermDef {
    /// The key in circuit files (`rule: {m_x: 1}`) and the tables (`theta_m_x`).
    pub key: &'static str,
    /// What it is, for people.
    pub doc: &'static str,
    /// Post-side factors, multiplied left to right (empty = 1).
    pub post: &'static [Post],
    pub pre: Pre,
    /// 0 or 1.
    pub w_power: u8,
}

use Post::{M, Q, Z};
use Pre::{One, X};

/// The rule basis, in the fixed order of θ. Append new terms at the end: θ vectors saved by
/// evolution and tables are read by key, but the order is also the order of summation, which
/// fixes the rounding every backend reproduces.
pub const TERMS: &[TermDef] = &[
    TermDef {
        key: "m_x",
        doc: "m_i x_j: modulator (error) times presynaptic rate; three-factor, error-driven",
        post: &[M],
        pre: X,
        w_power: 0,
    },
    TermDef {
        key: "z_x",
        doc: "z_i x_j: Hebbian",
        post: &[Z],
        pre: X,
        w_power: 0,
    },
    TermDef {
        key: "zz_w",
        doc: "z_i² W_ij: Oja's normaliser",
        post: &[Z, Z],
        pre: One,
        w_power: 1,
    },
    TermDef {
        key: "z",
        doc: "z_i: postsynaptic drift",
        post: &[Z],
        pre: One,
        w_power: 0,
    },
    TermDef {
        key: "x",
        doc: "x_j: presynaptic drift",
        post: &[],
        pre: X,
        w_power: 0,
    },
    TermDef {
        key: "m",
        doc: "m_i: modulator drift",
        post: &[M],
        pre: One,
        w_power: 0,
    },
    TermDef {
        key: "one",
        doc: "1: constant drift",
        post: &[],
        pre: One,
        w_power: 0,
    },
    TermDef {
        key: "zz_x",
        doc: "z_i² x_j: the potentiation of BCM",
        post: &[Z, Z],
        pre: X,
        w_power: 0,
    },
    TermDef {
        key: "qz_x",
        doc: "q_i z_i x_j: a sliding threshold (q: the post population's trace); with zz_x, BCM",
        post: &[Q, Z],
        pre: X,
        w_power: 0,
    },
    TermDef {
        key: "mz_x",
        doc: "m_i z_i x_j: a threshold set by the modulator (a dendritic compartment); with zz_x, z (z − m) x",
        post: &[M, Z],
        pre: X,
        w_power: 0,
    },
];

/// Where a term lands in the update W_ij ← W_ij·g + a_i x_j + c_i + d_i W_ij + e_i x_j W_ij:
/// its pre-side factor and power of W. Every term of one slot shares the row coefficient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// a_i x_j
    X,
    /// c_i
    One,
    /// d_i W_ij
    W,
    /// e_i x_j W_ij
    XW,
}

impl Slot {
    /// In the order of summation of an increment.
    pub const ALL: [Slot; 4] = [Slot::X, Slot::One, Slot::W, Slot::XW];

    pub const fn index(self) -> usize {
        self as usize
    }
}

impl TermDef {
    pub const fn slot(&self) -> Slot {
        match (self.pre, self.w_power) {
            (X, 0) => Slot::X,
            (One, 0) => Slot::One,
            (One, _) => Slot::W,
            (X, _) => Slot::XW,
        }
    }

    /// Whether the post-side factor contains `f`.
    pub fn reads(&self, f: Post) -> bool {
        self.post.contains(&f)
    }
}
