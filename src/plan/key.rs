//! Which circuits can share one ensemble: the key of everything [`super::Plan::new`] requires
//! instances to agree on (the schedule, the populations, the projections' endpoints, ties and
//! motifs' modulators), and whether each motif's update can be deferred while the input is
//! held — instances that differ there plan together but are integrated another way than alone,
//! so a sweep that packed them would make a point's numbers depend on its neighbours. Circuits
//! with equal keys always plan together, and each instance's numbers are those of a run of its
//! own; sweeps pack points by it.

use crate::circuit::Circuit;
use std::fmt::Write;

/// The ensemble key of a circuit. Conservative: two circuits with different keys may still
/// plan together (e.g. one with a subset of the other's populations); two with equal keys
/// always do.
pub fn ensemble_key(c: &Circuit) -> String {
    let r = &c.spec.record;
    let mut measures: Vec<String> = r.measure.iter().map(|m| super::measure_name(*m)).collect();
    measures.sort();
    measures.dedup();
    let mut key = format!(
        "{}|dt={}|T={}|every={}|traces={}|{}",
        c.method.name(),
        c.dt_s,
        c.duration_s,
        r.every.seconds(),
        r.traces.seconds(),
        measures.join(",")
    );
    // Probes and weight snapshots are part of the shared schedule too.
    let _ = write!(
        key,
        "|probes={}|snapshots={}",
        serde_json::to_string(&r.probes).unwrap_or_default(),
        serde_json::to_string(&r.weights).unwrap_or_default()
    );
    // Protocol phases share one clock too (names and boundaries; what a phase changes is per
    // instance).
    for ph in &c.protocol {
        let _ = write!(key, "|phase {} {}+{}", ph.name, ph.start_s, ph.duration_s);
    }
    for p in &c.populations {
        let gain = p.gain_from.map(|g| c.populations[g].name.as_str());
        let _ = write!(
            key,
            "|pop {} {:?} {} {:?} {} {:?}",
            p.name,
            p.role,
            p.size,
            p.activation,
            p.is_instantaneous(),
            gain
        );
    }
    let name = |k: usize| c.projections[k].name.as_str();
    for p in &c.projections {
        let modulator = p
            .motif
            .and_then(|m| c.motifs[m].modulator)
            .map(|m| c.populations[m].name.as_str());
        let _ = write!(
            key,
            "|proj {} {}>{} tied={:?} for={:?} plastic={} mod={:?} undelayed={}",
            p.name,
            c.populations[p.from].name,
            c.populations[p.to].name,
            p.tied.map(name),
            p.stands_for.map(name),
            p.motif.is_some(),
            modulator,
            p.delay_s == 0.0
        );
        if let Some(m) = p.motif.map(|m| &c.motifs[m]) {
            let _ = write!(
                key,
                " defers={}",
                super::update_defers(&m.theta, m.weight_noise)
            );
        }
        // A masked projection runs a mask op or a masked deferral: the ensemble's step differs
        // from an unmasked one's.
        if !p.wiring.is_all() {
            key.push_str(" masked");
        }
    }
    key
}
