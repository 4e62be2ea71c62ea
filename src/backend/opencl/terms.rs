//! The plasticity terms as OpenCL C, generated from their declarations (`rule::TERMS`).
//!
//! Both kernel layouts write a motif's update as row coefficients (one per `Slot`: the sum of
//! the θ-weighted post-side products of the slot's terms) and an increment
//! `ai * x + ci + di * w + ei * x * w`. The text follows the CPU engine's order of operations
//! term for term, so f64 results agree bit for bit.

use crate::rule::{Post, Pre, Slot, Term, Theta, UpdateForm};

/// The C variable holding a slot's row coefficient.
pub(crate) fn var(slot: Slot) -> &'static str {
    match slot {
        Slot::X => "ai",
        Slot::One => "ci",
        Slot::W => "di",
        Slot::XW => "ei",
    }
}

/// The kernel variable of a post-side factor (the generators define them per row).
pub(crate) fn post_var(f: Post) -> &'static str {
    match f {
        Post::Z => "zi",
        Post::M => "mi",
        Post::Q => "qi",
    }
}

/// The θ row variable of a term.
pub(crate) fn theta_var(t: Term) -> String {
    format!("th{}", t.index())
}

/// `kw * (th0 * mi + th1 * zi)`: the slot's row coefficient, or None where no term in use
/// lands in it.
pub(crate) fn coefficient(form: &UpdateForm, slot: Slot, kw: &str) -> Option<String> {
    let terms = form.terms(slot);
    if terms.is_empty() {
        return None;
    }
    let products: Vec<String> = terms
        .iter()
        .map(|t| {
            let mut p = theta_var(*t);
            for f in t.def().post {
                p.push_str(" * ");
                p.push_str(post_var(*f));
            }
            p
        })
        .collect();
    Some(format!("{kw} * ({})", products.join(" + ")))
}

/// `const TY ai = …, ci = …;` for every slot the form uses (ai always, zero if empty).
pub(crate) fn coefficients(form: &UpdateForm, kw: &str, ty: &str) -> String {
    let mut parts = vec![format!(
        "ai = {}",
        coefficient(form, Slot::X, kw).unwrap_or(format!("({ty})0"))
    )];
    for slot in [Slot::One, Slot::W, Slot::XW] {
        if let Some(c) = coefficient(form, slot, kw) {
            parts.push(format!("{} = {c}", var(slot)));
        }
    }
    format!("const {ty} {};", parts.join(", "))
}

/// The increment of one synapse with presynaptic rate `x` and weight `w` (expressions).
pub(crate) fn increment(form: &UpdateForm, x: &str, w: &str) -> String {
    let mut inc = format!("ai * {x}");
    if form.has(Slot::One) {
        inc.push_str(" + ci");
    }
    if form.has(Slot::W) {
        let _ = std::fmt::Write::write_fmt(&mut inc, format_args!(" + di * {w}"));
    }
    if form.has(Slot::XW) {
        let _ = std::fmt::Write::write_fmt(&mut inc, format_args!(" + ei * {x} * {w}"));
    }
    inc
}

/// Σ_k θ_k term_k of one synapse with literal θ, as `rule::drive` sums it (the trace's
/// plasticity signal); `post` names the post-side values, `x` and `w` the others.
pub(crate) fn drive(theta: &Theta, post: &dyn Fn(Post) -> String, x: &str, w: &str) -> String {
    let mut s = "(real)0".to_string();
    for (t, c) in Term::ALL.iter().zip(theta) {
        let d = t.def();
        let mut factors: Vec<String> = d.post.iter().map(|f| post(*f)).collect();
        if d.pre == Pre::X {
            factors.push(x.into());
        }
        if d.w_power == 1 {
            factors.push(w.into());
        }
        let product = if factors.is_empty() {
            "(real)1".to_string()
        } else {
            factors.join(" * ")
        };
        s.push_str(&format!(
            " + (real){} * ({product})",
            super::codegen::lit(*c)
        ));
    }
    s
}
