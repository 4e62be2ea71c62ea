//! The priming experiment of `circuits/priming.yaml`, reduced to the two strengths that make
//! its claim (s = 0.5 and 2) on its five seeds: the plasticity curve's threshold mapped after
//! strong priming lies above the one after weak priming by what the dendritic pathway's closed
//! form predicts, the difference vanishes when the pathway's plasticity or the dendrite's place
//! in w's rule is ablated, and the neuron whose threshold is read is active and selective.

mod common;

use common::{plan_from, pop, shipped_with};
use hetsim::backend::{Precision, cpu};
use hetsim::record::plasticity::CurveProbe;

const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];
/// The protocol's phases (s) as the circuit file writes them; checked against the plan.
const BASELINE: f64 = 90.0;
const CONDITIONING: f64 = 20.0;
/// θ = q + C d; τ of v's memory and of the dendrite.
const C: f64 = 0.5;
const TAU_V: f64 = 10.0;
const TAU_D: f64 = 0.5;

/// The shipped circuit with textual replacements (the `--set`s of the experiment).
fn circuit(edits: &[(&str, &str)]) -> String {
    shipped_with("priming.yaml", edits)
}

/// What one instance shows.
#[derive(Debug)]
struct Reading {
    /// Mean threshold of the plasticity curve over test time [2 s, 6 s), sampled every 200 ms.
    theta: f64,
    /// Mean dendritic rate over the last 10 s of baseline.
    d_baseline: f64,
    /// Mean soma rate on the stimuli of its preferred class and of the other, over the test.
    r_pref: f64,
    r_other: f64,
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// The two class centres of the inputs (2-means: the classes are 6 apart, the noise 0.3).
fn two_means(xs: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let mut a = xs[0].clone();
    let mut b = xs
        .iter()
        .max_by(|p, q| dist2(p, &a).total_cmp(&dist2(q, &a)))
        .unwrap()
        .clone();
    for _ in 0..10 {
        let centre = |pick_a: bool, a: &[f64], b: &[f64]| {
            let members: Vec<&Vec<f64>> = xs
                .iter()
                .filter(|x| (dist2(x, a) <= dist2(x, b)) == pick_a)
                .collect();
            (0..a.len())
                .map(|j| members.iter().map(|x| x[j]).sum::<f64>() / members.len() as f64)
                .collect::<Vec<f64>>()
        };
        let (na, nb) = (centre(true, &a, &b), centre(false, &a, &b));
        (a, b) = (na, nb);
    }
    (a, b)
}

/// Runs the circuit `text` on the five seeds, reading the state every 10 ms as the probes of
/// `scripts/priming.py` do and the plasticity curve every 200 ms in the test's θ window.
fn run(text: &str) -> Vec<Reading> {
    let plan = plan_from(text, &SEEDS);
    let dt = plan.dt_s;
    let steps = |t: f64| (t / dt).round() as u64;
    let test0 = steps(BASELINE + CONDITIONING);
    assert_eq!(plan.phases.len(), 3);
    assert_eq!(plan.phases[1].start_step, steps(BASELINE));
    assert_eq!(plan.phases[2].start_step, test0);
    let mut probe = CurveProbe::for_plan(&plan).expect("the circuit maps the curve");
    probe.instances = (0..SEEDS.len()).collect();
    let (x, y, d) = (pop(&plan, "x"), pop(&plan, "y"), pop(&plan, "d"));
    let n_x = plan.populations[x].size;
    let mut b = cpu::new(plan.clone(), Precision::F64);
    let n = SEEDS.len();
    let (mut d_sum, mut d_n) = (vec![0.0; n], 0usize);
    let mut base_x: Vec<Vec<Vec<f64>>> = vec![Vec::new(); n];
    let mut test: Vec<Vec<(Vec<f64>, f64)>> = vec![Vec::new(); n];
    let (mut theta, mut theta_n) = (vec![0.0; n], 0usize);
    let every = steps(0.01);
    while b.step() < test0 + steps(10.0) {
        b.enter_phase(plan.phase_at(b.step())).unwrap();
        b.advance(every).unwrap();
        let at = b.step();
        if at <= steps(BASELINE - 10.0) {
            continue;
        }
        let snap = b.snapshot().unwrap();
        let input = |e: usize| snap.z[x][e * n_x..(e + 1) * n_x].to_vec();
        if at < steps(BASELINE) {
            d_n += 1;
            for e in 0..n {
                d_sum[e] += snap.z[d][e];
                base_x[e].push(input(e));
            }
        } else if at >= test0 {
            for (e, rows) in test.iter_mut().enumerate() {
                rows.push((input(e), snap.z[y][e]));
            }
            let t = at - test0;
            if t >= steps(2.0) && t < steps(6.0) && t.is_multiple_of(steps(0.2)) {
                theta_n += 1;
                for c in probe.sample(&plan, &snap, at as f64 * dt) {
                    theta[c.instance] += c.threshold().expect("a crossing");
                }
            }
        }
    }
    assert_eq!(theta_n, 20);
    (0..n)
        .map(|e| {
            let (a, bc) = two_means(&base_x[e]);
            let (mut ra, mut rb) = ((0.0, 0), (0.0, 0));
            for (xi, rate) in &test[e] {
                let side = if dist2(xi, &a) <= dist2(xi, &bc) {
                    &mut ra
                } else {
                    &mut rb
                };
                side.0 += rate;
                side.1 += 1;
            }
            let (ma, mb) = (ra.0 / ra.1 as f64, rb.0 / rb.1 as f64);
            Reading {
                theta: theta[e] / theta_n as f64,
                d_baseline: d_sum[e] / d_n as f64,
                r_pref: ma.max(mb),
                r_other: ma.min(mb),
            }
        })
        .collect()
}

fn primed(strength: &str, edits: &[(&str, &str)]) -> Vec<Reading> {
    let scale = format!("input_scale: {strength}, plasticity: {{w: off}}}}");
    let mut all = vec![("input_scale: 1, plasticity: {w: off}}", scale.as_str())];
    all.extend_from_slice(edits);
    run(&circuit(&all))
}

/// v's share of the conditioning's change still seen by d at the θ samples: v moves
/// 1 − e^{−T_c/τ_v} of the way during conditioning, relaxes as e^{−t/τ_v}, and d follows it
/// through its own low-pass, a factor τ_v/(τ_v − τ_d) on a decay of time constant τ_v.
fn memory_factor() -> f64 {
    let mean: f64 = (0..20)
        .map(|k| (-(2.0 + 0.2 * k as f64) / TAU_V).exp())
        .sum::<f64>()
        / 20.0;
    (1.0 - (-CONDITIONING / TAU_V).exp()) * TAU_V / (TAU_V - TAU_D) * mean
}

fn active_and_selective(r: &Reading) -> bool {
    r.r_pref >= 0.5 && (r.r_pref - r.r_other) / (r.r_pref + r.r_other) >= 0.6
}

#[test]
fn strong_priming_raises_the_threshold_through_the_dendritic_pathway_only() {
    let m = memory_factor();
    let (weak, strong) = (primed("0.5", &[]), primed("2", &[]));
    let mut shifts = Vec::new();
    for (e, (w, s)) in weak.iter().zip(&strong).enumerate() {
        // The baseline is the same run up to the conditioning: same dendrite, same neuron.
        assert_eq!(w.d_baseline, s.d_baseline);
        let shift = s.theta - w.theta;
        let predicted = C * w.d_baseline * (2.0 - 0.5) * m;
        assert!(
            shift > 0.0 && (shift / predicted - 1.0).abs() < 0.1,
            "seed {}: θ(2) − θ(0.5) = {shift}, predicted {predicted} (d_b = {})",
            SEEDS[e],
            w.d_baseline
        );
        shifts.push(shift);
    }
    let selective = strong.iter().filter(|r| active_and_selective(r)).count();
    assert!(
        selective >= 4,
        "active and selective in {selective} of 5: {strong:?}"
    );

    // The ablations: v does not learn from the conditioning on; the dendrite out of w's rule.
    // (every `plasticity: {w: off}` of the file: the conditioning's and the test's)
    let frozen_v = [("plasticity: {w: off}}", "plasticity: {w: off, v: off}}")];
    let no_dendrite = [("mz_x: -0.5", "mz_x: 0")];
    for (name, edits) in [
        ("v frozen", &frozen_v[..]),
        ("no dendrite", &no_dendrite[..]),
    ] {
        let (weak, strong) = (primed("0.5", edits), primed("2", edits));
        for (e, (w, s)) in weak.iter().zip(&strong).enumerate() {
            let shift = s.theta - w.theta;
            assert!(
                shift.abs() < 0.05 * shifts[e],
                "{name}, seed {}: θ(2) − θ(0.5) = {shift} against {} with the pathway",
                SEEDS[e],
                shifts[e]
            );
        }
        let selective = strong.iter().filter(|r| active_and_selective(r)).count();
        assert!(
            selective >= 4,
            "{name}: active and selective in {selective} of 5"
        );
    }
}
