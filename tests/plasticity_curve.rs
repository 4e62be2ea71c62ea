//! The plasticity curve (`record.plasticity_curve`): its values are the rule's own dW/dt at
//! the sampled state on every backend, its threshold is where the rule's closed form puts it
//! (BCM: z = q; the dendritic motif: z = q + ½ d), the dendritic pathway's learning moves that
//! threshold, and the run directory's tables and figures come out of the binary.

#[macro_use]
mod common;

use common::{BackendCase, hetsim, plan_from, pop, shipped_with};
use hetsim::backend::Snapshot;
use hetsim::record::plasticity::CurveProbe;

/// The shipped metaplasticity circuit, run for `duration` (and `extra` replacements).
fn metaplastic(duration: &str, extra: &[(&str, &str)]) -> String {
    let mut edits = vec![("duration: 60 s", duration)];
    edits.extend_from_slice(extra);
    shipped_with("metaplasticity.yaml", &edits)
}

fn the_curve_is_the_rules_drive_at_the_sampled_state_on_every_backend(case: &BackendCase) {
    let plan = plan_from(&metaplastic("duration: 3 s", &[]), &[1, 2]);
    let probe = CurveProbe::for_plan(&plan).expect("the circuit asks for a curve");
    let (y, d) = (pop(&plan, "y"), pop(&plan, "d"));
    let tau_w = 20.0;
    let mut b = (case.make)(plan.clone());
    for stop in [500u64, 1700, 2900] {
        b.advance(stop - b.step()).unwrap();
        let snap: Snapshot = b.snapshot().unwrap();
        let q = snap.traces[y][0];
        let dend = snap.z[d][0];
        let curves = probe.sample(&plan, &snap, stop as f64 * plan.dt_s);
        assert_eq!(curves.len(), 1, "instance 0 only, by default");
        let c = &curves[0];
        assert_eq!(c.post_rates.len(), 241);
        // y (y − q − ½ d) x / τ_w with x = 1, straight from the rule written in the file.
        for (z, f) in c.post_rates.iter().zip(&c.dw_dt) {
            let want = z * (z - q - 0.5 * dend) / tau_w;
            assert!(
                (f - want).abs() <= 1e-12 * (1.0 + want.abs()),
                "{}: at z = {z}: {f} against {want}",
                case.name
            );
        }
        // Interpolated linearly between rates 0.025 apart: exact to well under the grid.
        let threshold = c.threshold().expect("a crossing");
        assert!(
            (threshold - (q + 0.5 * dend)).abs() < 1e-3,
            "{}: threshold {threshold} against q + d/2 = {}",
            case.name,
            q + 0.5 * dend
        );
    }
}
per_backend!(the_curve_is_the_rules_drive_at_the_sampled_state_on_every_backend);

#[test]
fn the_bcm_threshold_is_the_trace_of_the_squared_rate() {
    let text = shipped_with("bcm.yaml", &[("duration: 120 s", "duration: 5 s")]).replace(
        "measure: [loss]",
        "measure: [loss]\n  plasticity_curve: {projection: w, post_rates: {from: 0, to: 4, count: 401}}",
    );
    let seeds = [1, 2, 3, 4, 5];
    let plan = plan_from(&text, &seeds);
    let mut probe = CurveProbe::for_plan(&plan).expect("curve");
    probe.instances = (0..seeds.len()).collect();
    let y = pop(&plan, "y");
    let mut b = hetsim::backend::cpu::new(plan.clone(), hetsim::backend::Precision::F64);
    b.advance(4000).unwrap();
    let snap = b.snapshot().unwrap();
    let mut active = 0;
    for c in probe.sample(&plan, &snap, 4.0) {
        let q = snap.traces[y][c.instance];
        // A silent neuron (q ≈ 0) has no depression range to cross out of.
        if q > 0.1 {
            active += 1;
            let t = c.threshold().expect("a crossing");
            assert!(
                (t - q).abs() < 1e-3,
                "instance {}: θ = {t}, q = {q}",
                c.instance
            );
        }
    }
    assert!(active >= 2, "only {active} of 5 neurons active");
}

/// Mean of the dendrite's rate d over the last quarter of a run of the circuit `text`.
fn late_dendrite(text: &str) -> f64 {
    let plan = plan_from(text, &[1]);
    let d = pop(&plan, "d");
    let mut b = hetsim::backend::cpu::new(plan.clone(), hetsim::backend::Precision::F64);
    let (mut sum, mut n) = (0.0, 0);
    while b.step() < plan.steps {
        b.advance(plan.steps.min(b.step() + 250) - b.step())
            .unwrap();
        if b.step() * 4 > plan.steps * 3 {
            sum += b.snapshot().unwrap().z[d][0];
            n += 1;
        }
    }
    sum / n as f64
}

#[test]
fn the_dendritic_pathways_learning_moves_the_threshold() {
    // The threshold's dendritic share is ½ d. With v learning (Oja: |v| → 1 from |v| ≈ 0.1)
    // the dendrite's rate grows several-fold; with v's rule switched off it stays where the
    // initial v puts it (τ_v = 10⁵ s: frozen over 20 s), and so does that share of w's
    // threshold.
    let learning = late_dendrite(&metaplastic("duration: 20 s", &[]));
    let frozen = late_dendrite(&metaplastic(
        "duration: 20 s",
        &[(
            "rule: {z_x: 1, zz_w: -1}, tau_w: 20 s",
            "rule: {z_x: 1, zz_w: -1}, tau_w: 100000 s",
        )],
    ));
    assert!(frozen > 0.0, "the dendrite is driven: {frozen}");
    assert!(
        learning > 3.0 * frozen,
        "learning v: late d = {learning}; frozen v: {frozen}"
    );
}

#[test]
fn a_run_writes_the_curve_tables_and_figures() {
    let out = std::env::temp_dir().join(format!("hetsim-curve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = hetsim(&[
        "run",
        "circuits/metaplasticity.yaml",
        "--backend",
        "cpu",
        "--set",
        "time.duration=4 s",
        "--set",
        "record.plasticity_curve.every=2 s",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let curve = std::fs::read_to_string(out.join("plasticity.csv")).unwrap();
    let mut lines = curve.lines();
    assert_eq!(
        lines.next(),
        Some("time_s,instance,projection,post,pre,pre_rate,post_rate,dw_dt")
    );
    // t = 0, 2 and 4 s, 241 rates each.
    assert_eq!(lines.count(), 3 * 241);
    let thresholds = std::fs::read_to_string(out.join("plasticity_threshold.csv")).unwrap();
    let rows: Vec<&str> = thresholds.lines().skip(1).collect();
    assert_eq!(rows.len(), 3);
    // At t = 0 the trace starts at 2.7 and the dendrite at rest: θ = 2.7 (grid 0.025).
    let first: f64 = rows[0].rsplit(',').next().unwrap().parse().unwrap();
    assert!((first - 2.7).abs() < 1e-6, "{first}");
    for stem in ["plasticity_curve", "plasticity_threshold"] {
        let png = out.join("figures").join(format!("{stem}.png"));
        assert!(
            std::fs::metadata(&png)
                .map(|m| m.len() > 10_000)
                .unwrap_or(false),
            "{} drawn",
            png.display()
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_instance_the_ensemble_lacks_is_refused_before_anything_runs() {
    let out = std::env::temp_dir().join(format!("hetsim-curve-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = hetsim(&[
        "run",
        "circuits/metaplasticity.yaml",
        "--set",
        "record.plasticity_curve.instances=[0, 4]",
        "--seeds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("record.plasticity_curve.instances names instance 4")
            && err.contains("2 instances"),
        "{err}"
    );
    assert!(!out.join("metrics.csv").exists(), "nothing ran");
}
