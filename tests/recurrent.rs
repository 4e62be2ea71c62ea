//! Forward pathways with loops: the measurements at the pathway's fixed point, through a run on
//! every backend, against the closed form of a linear recurrent circuit; and a circuit without a
//! fixed point, whose cells are empty with the reason in the run's notes.

#[macro_use]
mod common;

use common::{BackendCase, plan_from};
use hetsim::plan::Plan;
use hetsim::record::Collector;
use hetsim::record::metrics::{NO_FIXED_POINT_NOTE, Row, samples_in_window};
use nalgebra::{DMatrix, DVector};

/// x → h (linear, a loop h → h and one through the output y → h), h → y (linear); sgd on W1
/// and W2, one window (the whole run), so the window's ΔW is the end weights less the start.
fn linear_loop(duration: &str) -> String {
    format!(
        "name: loop\ntime: {{dt: 0.5 ms, duration: {duration}}}\ntask: {{kind: linear_teacher, stimulus: {{duration: 10 ms, gap: 2 ms}}, held_out: 12}}\npopulations:\n  x: {{role: input, size: 3}}\n  h: {{size: 4, tau: 3 ms, bias: 0.1}}\n  y: {{size: 2, tau: 2 ms}}\nprojections:\n  W1: {{from: x, to: h, init: {{uniform: [-0.5, 0.5]}}}}\n  R: {{from: h, to: h, init: {{uniform: [-0.3, 0.3]}}}}\n  W2: {{from: h, to: y, init: {{uniform: [-0.5, 0.5]}}}}\n  V: {{from: y, to: h, init: {{uniform: [-0.2, 0.2]}}}}\nlearning: {{rule: sgd, output: y, tau_w: 200 ms, plastic: [W1, W2]}}\nrecord: {{every: {duration}, measure: [loss, gradient_alignment, loss_alignment, learning_strength]}}\n",
    )
}

/// Instance e's matrix of projection `name` from per-projection weight vectors.
fn matrix(plan: &Plan, weights: &[Vec<f64>], name: &str, e: usize) -> DMatrix<f64> {
    let q = plan
        .projections
        .iter()
        .position(|p| p.name == name)
        .unwrap();
    let p = &plan.projections[q];
    let n = p.synapses();
    DMatrix::from_row_slice(p.rows, p.cols, &weights[q][e * n..(e + 1) * n])
}

/// The linear circuit in closed form: the fixed point of (h, y) for input x is
/// (I − A)⁻¹ (c + B x), and −∂L/∂W1, −∂L/∂W2 follow from μ = (I − A)⁻ᵀ Pᵀ e.
struct Closed {
    a: DMatrix<f64>,
    b: DMatrix<f64>,
    c: DVector<f64>,
}

impl Closed {
    fn new(plan: &Plan, weights: &[Vec<f64>], e: usize) -> Closed {
        let (w1, r, w2, v) = (
            matrix(plan, weights, "W1", e),
            matrix(plan, weights, "R", e),
            matrix(plan, weights, "W2", e),
            matrix(plan, weights, "V", e),
        );
        let mut a = DMatrix::zeros(6, 6);
        a.view_mut((0, 0), (4, 4)).copy_from(&r);
        a.view_mut((0, 4), (4, 2)).copy_from(&v);
        a.view_mut((4, 0), (2, 4)).copy_from(&w2);
        let mut b = DMatrix::zeros(6, 3);
        b.view_mut((0, 0), (4, 3)).copy_from(&w1);
        let mut c = DVector::zeros(6);
        c.rows_mut(0, 4).fill(0.1);
        Closed { a, b, c }
    }

    fn inverse(&self) -> DMatrix<f64> {
        (DMatrix::identity(6, 6) - &self.a).try_inverse().unwrap()
    }

    fn settle(&self, x: &DVector<f64>) -> DVector<f64> {
        self.inverse() * (&self.c + &self.b * x)
    }

    /// (−∂L/∂W1, −∂L/∂W2), row-major and concatenated.
    fn descent(&self, x: &DVector<f64>, target: &DVector<f64>) -> Vec<f64> {
        let z = self.settle(x);
        let mut e = DVector::zeros(6);
        e.rows_mut(4, 2).copy_from(&(target - z.rows(4, 2)));
        let mu = self.inverse().transpose() * e;
        let g1 = mu.rows(0, 4) * x.transpose();
        let g2 = mu.rows(4, 2) * z.rows(0, 4).transpose();
        let mut out: Vec<f64> = g1.transpose().as_slice().to_vec();
        out.extend_from_slice(g2.transpose().as_slice());
        out
    }

    fn held_out_loss(&self, plan: &Plan, e: usize) -> f64 {
        let (xs, ys) = &plan.held_out[e];
        let mut sum = 0.0;
        for s in 0..xs.ncols() {
            let y = self.settle(&xs.column(s).into_owned());
            sum += 0.5 * (y.rows(4, 2) - ys.column(s)).norm_squared();
        }
        sum / xs.ncols() as f64
    }
}

fn angle(a: &[f64], b: &[f64]) -> f64 {
    hetsim::measure::angle_deg(a, b).unwrap()
}

fn run(plan: &std::sync::Arc<Plan>, case: &BackendCase) -> (Collector, Vec<Vec<f64>>) {
    let mut backend = (case.make)(plan.clone());
    let mut sink = Collector::default();
    hetsim::run::execute(
        plan,
        backend.as_mut(),
        hetsim::simd::Simd::auto(),
        &mut sink,
        &mut hetsim::run::Quiet,
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let end = backend.snapshot().unwrap().weights;
    (sink, end)
}

fn all_row(rows: &[Row], e: usize, time_s: f64) -> &Row {
    rows.iter()
        .find(|r| r.instance == e && r.projection == "all" && (r.time_s - time_s).abs() < 1e-9)
        .unwrap()
}

/// Every measurement of a run of the linear loop equals its closed form at the fixed point:
/// the held-out loss at the start and the end, the loss angle and learning strength against
/// G = Σ_s t_s (−∇L_s) at the start weights, and the gradient angle against the same sum with
/// each sample's weights interpolated to the middle of its showing.
fn linear_loop_measurements_match_the_closed_form(case: &BackendCase) {
    let plan = plan_from(&linear_loop("60 ms"), &[3, 4]);
    assert!(plan.forward_order.is_none(), "the pathway has loops");
    let (sink, end) = run(&plan, case);
    assert!(sink.notes.is_empty(), "{:?}", sink.notes);
    let steps = plan.steps;
    let (tol_loss, tol_deg) = if case.f32 { (1e-4, 0.05) } else { (1e-9, 1e-6) };
    for e in 0..plan.n_instances() {
        let start = Closed::new(&plan, &plan.initial_weights, e);
        let finish = Closed::new(&plan, &end, e);
        let first = all_row(&sink.rows, e, 0.0).held_out_loss.unwrap();
        let want = start.held_out_loss(&plan, e);
        // f32 backends start from the f32 rounding of the initial weights.
        let tol_first = if case.f32 { 1e-6 } else { 1e-12 };
        assert!(
            ((first - want) / want).abs() < tol_first,
            "{first} vs {want}"
        );
        let row = all_row(&sink.rows, e, 0.06);
        let last = row.held_out_loss.unwrap();
        let want = finish.held_out_loss(&plan, e);
        assert!(((last - want) / want).abs() < tol_loss, "{last} vs {want}");

        // The window's ΔW (no decay, no weight noise: the rule's own update).
        let dw: Vec<f64> = ["W1", "W2"]
            .iter()
            .flat_map(|n| {
                let d = matrix(&plan, &end, n, e) - matrix(&plan, &plan.initial_weights, n, e);
                d.transpose().as_slice().to_vec()
            })
            .collect();
        let timing = plan.timing[e];
        let task = &plan.tasks[e];
        let (mut g, mut bp) = (vec![0.0; dw.len()], vec![0.0; dw.len()]);
        for (k, shown_s) in samples_in_window(&plan, e, 0, steps) {
            let mut x = vec![0.0; 3];
            let mut y = vec![0.0; 2];
            task.train_sample(k, &mut x, &mut y);
            let (x, y) = (DVector::from_vec(x), DVector::from_vec(y));
            for (gi, d) in g.iter_mut().zip(start.descent(&x, &y)) {
                *gi += shown_s * d;
            }
            let from = k * timing.period_steps;
            let f = (from as f64 + 0.5 * shown_s / plan.dt_s) / steps as f64;
            let mid: Vec<Vec<f64>> = plan
                .initial_weights
                .iter()
                .zip(&end)
                .map(|(a, b)| a.iter().zip(b).map(|(a, b)| a + f * (b - a)).collect())
                .collect();
            for (bi, d) in bp
                .iter_mut()
                .zip(Closed::new(&plan, &mid, e).descent(&x, &y))
            {
                *bi += shown_s * d;
            }
        }
        let got = row.loss_angle_deg.unwrap();
        assert!((got - angle(&dw, &g)).abs() < tol_deg, "loss angle {got}");
        let got = row.gradient_angle_deg.unwrap();
        assert!(
            (got - angle(&dw, &bp)).abs() < tol_deg,
            "gradient angle {got}"
        );
        let tau_w = 0.2;
        let gs: Vec<f64> = g.iter().map(|v| v / tau_w).collect();
        let want = hetsim::measure::learning_strength(&dw, &gs).unwrap();
        let got = row.learning_strength.unwrap();
        assert!(
            ((got - want) / want).abs() < 1e3 * tol_loss,
            "{got} vs {want}"
        );
        // sgd on a loop is not recurrent backprop, but it is a descent direction here.
        assert!(got > 0.0 && row.loss_angle_deg.unwrap() < 90.0);
    }
}
per_backend!(linear_loop_measurements_match_the_closed_form);

/// A loop of gain above 1 on a linear population has no fixed point: the cells that need one
/// are empty, and the run's notes say so once, with the reason.
#[test]
fn a_loop_without_a_fixed_point_gives_empty_cells_and_a_note() {
    // R ≈ 0.4 everywhere: an eigenvalue near 1.6 (growth, not divergence, over 30 ms).
    let yaml = linear_loop("30 ms").replace(
        "R: {from: h, to: h, init: {uniform: [-0.3, 0.3]}}",
        "R: {from: h, to: h, init: {uniform: [0.39, 0.41]}}",
    );
    let plan = plan_from(&yaml, &[1, 2]);
    let case = &common::backends()[0];
    let (sink, _) = run(&plan, case);
    let gone = |r: &Row| {
        r.held_out_loss.is_none()
            && r.gradient_angle_deg.is_none()
            && r.loss_angle_deg.is_none()
            && r.learning_strength.is_none()
    };
    assert!(sink.rows.iter().all(gone), "{:?}", sink.rows);
    // The stream loss is measured all the same.
    assert!(sink.rows.iter().any(|r| r.loss.is_some()));
    assert_eq!(sink.notes.len(), 1, "{:?}", sink.notes);
    assert!(sink.notes[0].starts_with(NO_FIXED_POINT_NOTE));
    assert!(
        sink.notes[0].contains("first at t = 0.000000 s, instance 0"),
        "{}",
        sink.notes[0]
    );
}
