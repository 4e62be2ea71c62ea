//! `connectivity:` on every backend: the plan draws each instance's mask once and every backend
//! runs it — absent synapses are exactly zero after a noisy, decaying, plastic run (weight noise,
//! population noise, a rule with a constant-per-row term that would grow them, a tied copy), the
//! zero pattern is the plan's mask, and f64 backends agree with the CPU's f64 tables.

#[macro_use]
mod common;

use common::{BackendCase, backends, plan_from, weights};
use hetsim::plan::Plan;
use hetsim::step::{Op, StepProgram};

/// A 30-20-10 teacher circuit with masked plastic layers: W1 from the input (an outer-product
/// update that would be deferred while the input is held, were it dense), W2 with decay, weight
/// noise and a `z` term (c_i: a per-row constant that reaches every synapse of a dense row), and
/// B2 tied to W2's transpose; `nx` inputs and `nh` hidden units (4 and 40: W1 is tall with short
/// rows, which the OpenCL row layout stores transposed).
fn sized(w1: &str, w2: &str, nx: usize, nh: usize) -> String {
    format!(
        "name: sparse
time: {{dt: 0.5 ms, duration: 0.3 s, method: exponential_euler}}
task:
  kind: linear_teacher
  teacher: {{uniform: [-1, 1]}}
  input_std: 0.5
  stimulus: {{duration: 20 ms}}
  held_out: 20
populations:
  x: {{role: input, size: {nx}}}
  h: {{size: {nh}, tau: 5 ms, noise: 0.05}}
  y: {{size: 10, tau: 5 ms}}
  ystar: {{role: target, size: 10}}
  e: {{role: error, size: 10, tau: 0 ms}}
  dh: {{role: error, size: {nh}, tau: 0 ms, gain_from: h}}
projections:
  W1: {{from: x, to: h, init: {{uniform: [-0.5, 0.5]}}, connectivity: {w1}}}
  W2: {{from: h, to: y, init: {{uniform: [-0.5, 0.5]}}, connectivity: {w2}}}
  to_e_target: {{from: ystar, to: e, init: identity}}
  to_e_output: {{from: y, to: e, init: identity, sign: -1}}
  B2: {{from: e, to: dh, tied: W2}}
motifs:
  - {{plastic: W1, modulator: dh, rule: {{m_x: 1}}, tau_w: 0.5 s}}
  - {{plastic: W2, modulator: e, rule: {{m_x: 1, z: 0.3}}, tau_w: 0.5 s, tau_decay: 2 s, weight_noise: 0.05}}
record: {{every: 50 ms, measure: [loss]}}
"
    )
}

fn circuit(w1: &str, w2: &str) -> String {
    sized(w1, w2, 30, 20)
}

fn masked() -> String {
    circuit("{probability: 0.3}", "{in_degree: 4}")
}

fn index(plan: &Plan, name: &str) -> usize {
    plan.projections
        .iter()
        .position(|p| p.name == name)
        .unwrap()
}

fn absent_synapses_stay_zero_and_follow_the_plans_mask(case: &BackendCase) {
    let cpu = &backends()[0];
    let tall = sized("{probability: 0.3}", "{in_degree: 4}", 4, 40);
    for (yaml, seeds, nh) in [
        (masked(), vec![5], 20),
        (masked(), vec![1, 2, 3], 20),
        (tall, vec![5], 40),
    ] {
        let plan = plan_from(&yaml, &seeds);
        if nh == 40 {
            // The case exercises the row layout's transposed storage (rows of 4 < 8).
            assert!(hetsim::step::rows::stored_transposed(&plan, 8)[index(&plan, "W1")]);
        }
        let mut b = (case.make)(plan.clone());
        b.advance(plan.steps).unwrap_or_else(|e| panic!("{e}"));
        let snap = b.snapshot().unwrap_or_else(|e| panic!("{e}"));
        for name in ["W1", "W2"] {
            let q = index(&plan, name);
            let p = &plan.projections[q];
            let n = p.synapses();
            let mask = plan.masks[q].as_ref().expect("a masked projection");
            for e in 0..seeds.len() {
                let w = weights(&plan, &snap, name, e);
                let m = &mask[e * n..(e + 1) * n];
                for (k, (w, m)) in w.iter().zip(m).enumerate() {
                    if *m == 0.0 {
                        assert!(
                            *w == 0.0 && w.is_sign_positive(),
                            "{}: {name} instance {e} synapse {k} is absent but holds {w}",
                            case.name
                        );
                    } else {
                        // Present synapses moved from their non-zero start by noise and learning.
                        assert!(
                            *w != 0.0,
                            "{}: {name} synapse {k} is present but 0",
                            case.name
                        );
                    }
                }
            }
        }
        // The tied copy is W2's transpose, absent synapses included.
        let (rows, cols) = (10, nh);
        for e in 0..seeds.len() {
            let w2 = weights(&plan, &snap, "W2", e);
            let b2 = weights(&plan, &snap, "B2", e);
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(b2[j * rows + i], w2[i * cols + j], "{}", case.name);
                }
            }
        }
        // f64 backends compute the CPU's trajectory.
        if !case.f32 {
            let mut r = (cpu.make)(plan.clone());
            r.advance(plan.steps).unwrap();
            let reference = r.snapshot().unwrap();
            for name in ["W1", "W2"] {
                let q = index(&plan, name);
                let d = common::rel_diff(&snap.weights[q], &reference.weights[q]);
                assert!(
                    d < 1e-9,
                    "{}: {name} differs from the CPU's f64 by {d:e}",
                    case.name
                );
            }
        }
    }
}
per_backend!(absent_synapses_stay_zero_and_follow_the_plans_mask);

#[test]
fn each_instance_draws_its_own_mask_with_the_asked_statistics() {
    let plan = plan_from(&masked(), &[1, 2, 3, 4]);
    let (q1, q2) = (index(&plan, "W1"), index(&plan, "W2"));
    let m1 = plan.masks[q1].as_ref().unwrap();
    let m2 = plan.masks[q2].as_ref().unwrap();
    // in_degree: exactly 4 of 20 inputs for every post unit of every instance.
    for row in m2.chunks(20) {
        assert_eq!(row.iter().sum::<f64>(), 4.0);
    }
    // probability 0.3 over 4 × 600 synapses: within four standard errors.
    let n = m1.len() as f64;
    let frac = m1.iter().sum::<f64>() / n;
    let se = (0.3 * 0.7 / n).sqrt();
    assert!((frac - 0.3).abs() < 4.0 * se, "fraction {frac}");
    assert_ne!(m1[..600], m1[600..1200], "instances draw their own masks");
    // Initial weights are zero where the mask is.
    for (w, m) in plan.initial_weights[q1].iter().zip(m1) {
        assert!(*m == 1.0 || *w == 0.0);
    }
    // A masked input layer is deferred while its input is held, its rebase writing the mask
    // (no mask op); the masked W2 keeps its mask op and is not fused.
    assert!(plan.held_input[q1]);
    let program = StepProgram::for_plan(&plan, |_| true);
    assert!(program.deferred_projections(&plan)[q1]);
    assert!(!program.ops.contains(&Op::Mask { projection: q1 }));
    assert!(program.ops.contains(&Op::Mask { projection: q2 }));
    assert!(!program.fused_projections(&plan)[q2]);
    // The OpenCL row layout's deferral has no mask: both update step by step, masked after.
    let rows = hetsim::step::rows::RowSchedule::for_plan(&plan, 4);
    assert!(!rows.product_by_update[q1] && !rows.product_by_update[q2]);
    assert!(rows.program.ops.contains(&Op::Mask { projection: q1 }));
}

#[test]
fn dense_circuits_have_no_mask_and_no_mask_op() {
    let plan = plan_from(&circuit("all", "all"), &[1]);
    assert!(plan.masks.iter().all(Option::is_none));
    let program = StepProgram::for_plan(&plan, |_| true);
    assert!(!program.ops.iter().any(|op| matches!(op, Op::Mask { .. })));
}

#[test]
fn edge_files_set_the_synapses_and_their_weights() {
    let dir = std::env::temp_dir().join(format!("hetsim-conn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("w2.csv"),
        "pre,post,weight\n0,0,0.25\n19,9,-0.5\n3,4,1\n",
    )
    .unwrap();
    let yaml = circuit("all", "{file: w2.csv}");
    let path = dir.join("sparse.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let source = hetsim::spec::SourceFile::from_text(&path, yaml);
    let spec = hetsim::spec::parse_circuit(&source).unwrap();
    let c = hetsim::circuit::build(&source, &spec).unwrap_or_else(|d| panic!("{d}"));
    let plan = Plan::new(
        &[hetsim::plan::InstanceSpec {
            circuit: c,
            seed: 1,
            label: "t".into(),
        }],
        &dir,
    )
    .unwrap();
    let q = index(&plan, "W2");
    let w = &plan.initial_weights[q];
    let present: Vec<(usize, f64)> = w
        .iter()
        .enumerate()
        .filter(|(_, w)| **w != 0.0)
        .map(|(k, w)| (k, *w))
        .collect();
    assert_eq!(
        present,
        vec![(0, 0.25), (4 * 20 + 3, 1.0), (9 * 20 + 19, -0.5)]
    );
    assert_eq!(plan.masks[q].as_ref().unwrap().iter().sum::<f64>(), 3.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The CPU's sparse layout (the present synapses of each row, `cpu::SPARSE_BELOW`) computes the
/// mask layout's trajectory bit for bit, in both precisions: the forward sums in the dense
/// order, the update of every update shape (outer, with decay, a `z` term with decay), and the
/// dense path where the window sums the rule's ΔW.
#[test]
fn the_sparse_layout_is_the_mask_layout_bit_for_bit() {
    use hetsim::backend::{Precision, cpu};
    let noiseless = masked().replace(", weight_noise: 0.05", "");
    let outer = noiseless.replace(
        "rule: {m_x: 1, z: 0.3}, tau_w: 0.5 s, tau_decay: 2 s",
        "rule: {m_x: 1}, tau_w: 0.5 s",
    );
    let decay = noiseless.replace("rule: {m_x: 1, z: 0.3}", "rule: {m_x: 1}");
    // 40 hidden units: W2's rows fill two chunks of the dot product's partial sums.
    let wide = sized("all", "{probability: 0.2}", 30, 40).replace(", weight_noise: 0.05", "");
    let measured = noiseless.replace(
        "measure: [loss]",
        "measure: [loss, gradient_alignment, learning_strength]",
    );
    for yaml in [noiseless, outer, decay, wide, measured] {
        assert!(!yaml.contains("weight_noise"));
        let plan = plan_from(&yaml, &[7]);
        for precision in [Precision::F64, Precision::F32] {
            let simd = hetsim::simd::Simd::auto();
            let mut dense = cpu::with_sparse_below(plan.clone(), precision, simd, 0.0);
            let mut sparse = cpu::with_sparse_below(plan.clone(), precision, simd, 2.0);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for window in 0..6 {
                let n = plan.record_every_steps;
                dense.advance(n).unwrap();
                sparse.advance(n).unwrap();
                let (a, b) = (dense.snapshot().unwrap(), sparse.snapshot().unwrap());
                for (q, (wa, wb)) in a.weights.iter().zip(&b.weights).enumerate() {
                    assert_eq!(
                        bits(wa),
                        bits(wb),
                        "{precision:?} window {window} weights {q}"
                    );
                }
                for (p, (ua, ub)) in a.u.iter().zip(&b.u).enumerate() {
                    assert_eq!(bits(ua), bits(ub), "{precision:?} window {window} u {p}");
                }
                let (wa, wb) = (dense.take_window().unwrap(), sparse.take_window().unwrap());
                assert_eq!(bits(&wa.loss_integral), bits(&wb.loss_integral));
                for (pa, pb) in wa.projections.iter().zip(&wb.projections) {
                    assert_eq!(bits(&pa.dw_rule), bits(&pb.dw_rule));
                    assert_eq!(bits(&pa.backprop), bits(&pb.backprop));
                }
            }
        }
    }
}
