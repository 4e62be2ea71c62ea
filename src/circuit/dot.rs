//! Graphviz DOT export of a circuit: populations as nodes (shaped by role), projections as
//! edges (plastic bold, tied dashed, fixed plain), modulators as dotted edges to the synapse's
//! post population.

use super::Circuit;
use crate::spec::Role;
use std::fmt::Write;

pub fn to_dot(circuit: &Circuit) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(&circuit.spec.name));
    let _ = writeln!(out, "  rankdir=LR;");
    for p in &circuit.populations {
        let shape = match p.role {
            Role::Input => "invhouse",
            Role::Target => "house",
            Role::Rate => "ellipse",
            Role::Error => "diamond",
        };
        let tau = if p.role.is_driven() {
            String::new()
        } else if p.tau_s == 0.0 {
            ", instantaneous".into()
        } else {
            format!(", tau {} ms", p.tau_s * 1e3)
        };
        let _ = writeln!(
            out,
            "  \"{}\" [shape={shape}, label=\"{} ({}{})\"];",
            escape(&p.name),
            escape(&p.name),
            p.size,
            tau
        );
    }
    for pr in &circuit.projections {
        let (from, to) = (
            &circuit.populations[pr.from].name,
            &circuit.populations[pr.to].name,
        );
        let style = if pr.tied.is_some() {
            "dashed"
        } else if pr.motif.is_some() {
            "bold"
        } else {
            "solid"
        };
        let sign = if pr.sign < 0.0 { " (−)" } else { "" };
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}{sign}\", style={style}];",
            escape(from),
            escape(to),
            escape(&pr.name)
        );
    }
    for m in &circuit.motifs {
        if let Some(modulator) = m.modulator {
            let post = circuit.projections[m.projection].to;
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [style=dotted, color=gray40, label=\"m for {}\"];",
                escape(&circuit.populations[modulator].name),
                escape(&circuit.populations[post].name),
                escape(&circuit.projections[m.projection].name)
            );
        }
    }
    out.push_str("}\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
