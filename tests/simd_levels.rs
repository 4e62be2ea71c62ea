//! The CPU engine gives the same numbers, bit for bit, on every vector level this CPU runs
//! (`hetsim::simd`: the x86-64 baseline, AVX2 + FMA, AVX-512; NEON alone on aarch64): the level
//! chooses instructions, never arithmetic. Circuits of several shapes cover every code path the
//! levels compile separately — ensembles across lanes, one large instance with rows on threads
//! and fused updates, deferred held inputs, RK4, noise on rates and weights, delays, tied and
//! identity projections, a motif with a trace — in f32 and f64, through every state a snapshot
//! shows and every window accumulator. Levels this CPU lacks are named on stderr and skipped.

mod common;

use common::plan_from;
use hetsim::backend::{Backend, Precision, Snapshot, Window, cpu};
use hetsim::plan::Plan;
use hetsim::simd::{Level, Simd};
use std::sync::Arc;

/// Every f64 a snapshot and a window hold, as bits.
fn bits(snap: &Snapshot, window: &Window) -> Vec<u64> {
    let mut out = Vec::new();
    for group in [&snap.weights, &snap.u, &snap.z, &snap.traces] {
        for v in group.iter().flatten() {
            out.push(v.to_bits());
        }
    }
    for v in window
        .loss_integral
        .iter()
        .chain(&window.present_s)
        .chain(&window.correct_s)
    {
        out.push(v.to_bits());
    }
    for p in &window.projections {
        for v in p.dw_rule.iter().chain(&p.backprop).chain(&p.u_x) {
            out.push(v.to_bits());
        }
    }
    out
}

/// The bits of every window of a run of `plan` on `simd`, three windows of `steps` steps.
fn run(plan: &Arc<Plan>, precision: Precision, simd: Simd, steps: u64) -> Vec<Vec<u64>> {
    let mut b: Box<dyn Backend> = cpu::with_simd(plan.clone(), precision, simd);
    assert!(
        b.describe().contains(simd.level().name()),
        "{} does not name {simd}",
        b.describe()
    );
    (0..3)
        .map(|_| {
            b.advance(steps).expect("advance");
            let w = b.take_window().expect("window");
            let s = b.snapshot().expect("snapshot");
            bits(&s, &w)
        })
        .collect()
}

/// Runs `yaml` with `seeds` on every level against the baseline, in both precisions.
fn same_on_every_level(name: &str, yaml: &str, seeds: &[u64], steps: u64) {
    let plan = plan_from(yaml, seeds);
    // Every level, and `auto` (which may draw its noise normals at a wider level than its step).
    let mut levels = Simd::available();
    if !levels.contains(&Simd::auto()) {
        levels.push(Simd::auto());
    }
    for level in Level::ALL {
        if !level.supported() {
            eprintln!("{name}: {level} is not on this CPU; not compared");
        }
    }
    for precision in [Precision::F64, Precision::F32] {
        let baseline = run(&plan, precision, levels[0], steps);
        assert!(
            baseline.iter().flatten().any(|b| *b != 0),
            "{name}: nothing moved"
        );
        for &simd in &levels[1..] {
            let got = run(&plan, precision, simd, steps);
            for (k, (g, w)) in got.iter().zip(&baseline).enumerate() {
                assert_eq!(g.len(), w.len(), "{name} {precision:?} {simd}: sizes");
                if let Some(i) = g.iter().zip(w).position(|(a, b)| a != b) {
                    panic!(
                        "{name} {precision:?}: {simd} differs from {} in window {k} at value {i}: {} vs {}",
                        levels[0],
                        f64::from_bits(g[i]),
                        f64::from_bits(w[i])
                    );
                }
            }
            eprintln!("{name} {precision:?}: {simd} = {} bit for bit", levels[0]);
        }
    }
}

/// An ensemble (several lane blocks, a partial last block) of a tanh FA circuit with noise on
/// rates and weights, an error delay and the Hebbian and backprop accumulators.
#[test]
fn ensembles_with_noise_and_delays() {
    let yaml = "name: lanes\ntime: {dt: 0.5 ms, duration: 1 s}\ntask: {kind: tanh_teacher, hidden: 5, stimulus: {duration: 10 ms, gap: 2 ms, error_delay: 1 ms}, held_out: 8}\npopulations:\n  x: {role: input, size: 7}\n  h: {size: 13, tau: 3 ms, activation: tanh, noise: 0.05}\n  y: {size: 3, tau: 2 ms, noise: 0.02}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}}\n  W2: {from: h, to: y, init: {uniform: [-0.3, 0.3]}}\nlearning: {rule: fa, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 50 ms, tau_decay: 2 s, weight_noise: 0.01}\nrecord: {every: 10 ms, measure: [loss, gradient_alignment, hebbian_signature]}\n";
    same_on_every_level("fa ensemble", yaml, &(1..=19).collect::<Vec<_>>(), 40);
}

/// One instance large enough for rows on threads (≥ 65,536 synapses), with Kolen–Pollack's
/// decay, the deferred input matrix and the fused update of the hidden matrix.
#[test]
fn one_large_instance_on_threads() {
    let yaml = "name: large\ntime: {dt: 0.5 ms, duration: 1 s}\ntask: {kind: tanh_teacher, hidden: 5, stimulus: {duration: 5 ms}, held_out: 4}\npopulations:\n  x: {role: input, size: 300}\n  h: {size: 256, tau: 3 ms, activation: tanh}\n  h2: {size: 260, tau: 3 ms, activation: tanh}\n  y: {size: 3, tau: 2 ms}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.05, 0.05]}}\n  W2: {from: h, to: h2, init: {uniform: [-0.05, 0.05]}}\n  W3: {from: h2, to: y, init: {uniform: [-0.1, 0.1]}}\nlearning: {rule: kp, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 50 ms, tau_decay: 1 s}\nrecord: {every: 5 ms, measure: [loss, weight_alignment]}\n";
    same_on_every_level("kp large", yaml, &[3], 15);
}

/// One instance with population and weight noise: the noise drawn several Philox blocks at a
/// time (the single-instance path of the noise normals), including a partial last group.
#[test]
fn one_noisy_instance() {
    let yaml = "name: noisy1\ntime: {dt: 0.5 ms, duration: 1 s}\ntask: {kind: tanh_teacher, hidden: 5, stimulus: {duration: 10 ms}, held_out: 4}\npopulations:\n  x: {role: input, size: 30}\n  h: {size: 41, tau: 3 ms, activation: tanh, noise: 0.05}\n  y: {size: 3, tau: 2 ms}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}}\n  W2: {from: h, to: y, init: {uniform: [-0.3, 0.3]}}\nlearning: {rule: fa, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 50 ms, tau_decay: 2 s, weight_noise: 0.01}\nrecord: {every: 10 ms, measure: [loss]}\n";
    same_on_every_level("noisy instance", yaml, &[5], 40);
}

/// RK4 on a small ensemble, and on one instance.
#[test]
fn rk4() {
    let yaml = "name: rk\ntime: {dt: 0.5 ms, duration: 1 s, method: rk4}\ntask: {kind: linear_teacher, teacher: {uniform: [-1, 1]}, stimulus: {duration: 6 ms}, held_out: 5}\npopulations:\n  x: {role: input, size: 5}\n  h: {size: 9, tau: 3 ms, activation: sigmoid}\n  y: {size: 2, tau: 2 ms}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.3, 0.3]}}\n  W2: {from: h, to: y, init: {uniform: [-0.3, 0.3]}}\nlearning: {rule: dfa, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 40 ms}\nrecord: {every: 10 ms, measure: [loss]}\n";
    same_on_every_level("rk4 ensemble", yaml, &[1, 2, 3, 4, 5], 30);
    same_on_every_level("rk4 single", yaml, &[9], 30);
}

/// The shipped circuits with motifs of their own (BCM with a trace, Oja, the metaplasticity
/// circuit's modulated rule), as files a user runs.
#[test]
fn shipped_motif_circuits() {
    for file in [
        "bcm.yaml",
        "oja.yaml",
        "metaplasticity.yaml",
        "four_synapse.yaml",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("circuits")
            .join(file);
        let yaml = std::fs::read_to_string(&path).expect("a shipped circuit");
        same_on_every_level(file, &yaml, &[1, 2, 3], 200);
    }
}
