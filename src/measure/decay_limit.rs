//! The value the Hebbian signature tends to where decay dominates a stationary rule, predicted
//! from the inputs alone.
//!
//! Where the weights are stationary, the rule's update over a recording window balances the
//! decay, ΔW_rule ≈ γ W Δt, so as the decay's share of the update grows the signature
//! cos(ΔW_rule, ∫ u xᵀ dt) tends to cos(W, ∫ u xᵀ dt), whatever the rule. For a linear
//! postsynaptic population driven by W alone, u = W v with v the input low-pass filtered by the
//! population's τ (v = x when it is instantaneous; v ≈ x when τ ≪ the stimulus duration), so
//! ∫ u xᵀ dt = W C with C = ∫_window v xᵀ dt, and the limit is cos(W, W C): a number set by the
//! inputs' statistics, the stimulus timing and the window. In the fast limit C = Σ_k t_k x_k x_kᵀ,
//! each stimulus weighted by its presentation time t_k within the window. The Frobenius cosine
//! does not depend on W's scale; W is drawn with i.i.d. standard normal entries (an isotropic
//! matrix), a fresh one per window.
//!
//! It does not apply where u ≠ W v: a non-linear postsynaptic activation, other inputs to the
//! postsynaptic population (feedback, bias, noise), or a plastic projection that does not come
//! from the task's inputs.

use crate::rng;

/// The stimulus timing and recording window, in integration steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub dt_s: f64,
    /// Steps each sample is shown, and steps from one sample to the next (the rest is a gap
    /// with zero input).
    pub present_steps: u64,
    pub period_steps: u64,
    /// Steps of one recording window.
    pub window_steps: u64,
    /// The postsynaptic population's τ (s); 0 for an instantaneous one.
    pub tau_s: f64,
}

impl Schedule {
    /// Stimuli presented per window (fractions count the part of one that falls inside).
    pub fn stimuli_per_window(&self) -> f64 {
        self.window_steps as f64 / self.period_steps as f64
    }
}

/// The predicted stationary signature over many windows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    pub mean: f64,
    /// Standard deviation over windows (each with its own random W), not the standard error.
    pub sd: f64,
    pub windows: usize,
}

/// cos(W, W C) over `windows` consecutive windows of the schedule, C = ∫_window v xᵀ dt built
/// from `sample(k, x)` (the k-th stimulus, `cols` long), W (`rows × cols`) drawn afresh for
/// each window from the Philox stream "decay_limit/W" of `w_seed`.
///
/// # Panics
/// If a step count is 0 or `rows`, `cols` or `windows` is 0.
pub fn stationary_signature(
    schedule: &Schedule,
    rows: usize,
    cols: usize,
    windows: usize,
    w_seed: u64,
    mut sample: impl FnMut(u64, &mut [f64]),
) -> Limit {
    let s = schedule;
    assert!(s.present_steps > 0 && s.period_steps > 0 && s.window_steps > 0);
    assert!(rows > 0 && cols > 0 && windows > 0);
    // The exponential-Euler factor of the postsynaptic leak: v follows x within a step when
    // the population is instantaneous.
    let follow = if s.tau_s > 0.0 {
        -(-s.dt_s / s.tau_s).exp_m1()
    } else {
        1.0
    };
    let stream = rng::stream_id("decay_limit/W");
    let (mut x_shown, mut v) = (vec![0.0; cols], vec![0.0; cols]);
    let mut shown_k = None;
    let mut c = vec![0.0; cols * cols];
    let (mut w, mut wc) = (vec![0.0; rows * cols], vec![0.0; rows * cols]);
    let mut values = Vec::with_capacity(windows);
    let mut step = 0u64;
    for window in 0..windows {
        c.iter_mut().for_each(|e| *e = 0.0);
        for _ in 0..s.window_steps {
            let (k, shown) = (
                step / s.period_steps,
                step % s.period_steps < s.present_steps,
            );
            step += 1;
            if shown && shown_k != Some(k) {
                sample(k, &mut x_shown);
                shown_k = Some(k);
            }
            for (vi, &xi) in v.iter_mut().zip(&x_shown) {
                let x = if shown { xi } else { 0.0 };
                *vi += (x - *vi) * follow;
            }
            // C += v xᵀ dt (x = 0 in the gap adds nothing).
            if shown {
                for (i, &vi) in v.iter().enumerate() {
                    let row = &mut c[i * cols..(i + 1) * cols];
                    for (cij, &xj) in row.iter_mut().zip(&x_shown) {
                        *cij += vi * xj * s.dt_s;
                    }
                }
            }
        }
        rng::fill_normal(w_seed, stream, window as u64, &mut w);
        for r in 0..rows {
            let wr = &w[r * cols..(r + 1) * cols];
            for j in 0..cols {
                wc[r * cols + j] = (0..cols).map(|i| wr[i] * c[i * cols + j]).sum();
            }
        }
        if let Some(cos) = super::cosine(&w, &wc) {
            values.push(cos);
        }
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Limit {
        mean,
        sd: var.sqrt(),
        windows: values.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Isotropic normal inputs from the task's Philox stream layout.
    fn normal_inputs(seed: u64) -> impl FnMut(u64, &mut [f64]) {
        move |k, x| rng::fill_normal(seed, rng::STREAM_TRAIN, k, x)
    }

    /// Γ(k + ½)/Γ(k) for a whole k ≥ 1.
    fn gamma_half_ratio(k: u32) -> f64 {
        let mut r = std::f64::consts::PI.sqrt() * 0.5; // Γ(3/2)/Γ(1)
        for j in 1..k {
            r *= (j as f64 + 0.5) / j as f64;
        }
        r
    }

    #[test]
    fn many_isotropic_stimuli_per_window_give_cos_w_w() {
        // C → (window time) · I, so cos(W, W C) → 1.
        let s = Schedule {
            dt_s: 1e-3,
            present_steps: 1,
            period_steps: 1,
            window_steps: 20_000,
            tau_s: 0.0,
        };
        let l = stationary_signature(&s, 3, 4, 20, 7, normal_inputs(1));
        assert!(l.mean > 0.995 && l.sd < 0.005, "{l:?}");
    }

    #[test]
    fn one_stimulus_per_window_matches_the_beta_closed_form() {
        // With C = t x xᵀ, cos(W, W x xᵀ) = ‖W x̂‖/‖W‖_F, and for W with i.i.d. normal entries
        // (r × n) ‖W x̂‖²/‖W‖²_F ~ Beta(r/2, r(n − 1)/2) whatever x is: its square root has mean
        // Γ(a + ½)Γ(a + b)/(Γ(a)Γ(a + b + ½)) and second moment a/(a + b).
        let (r, n) = (4u32, 8u32);
        let (a2, ab2) = (r, r * n); // 2a, 2(a + b): whole numbers, so Γ ratios of whole k
        let mean = gamma_half_ratio(a2 / 2) / gamma_half_ratio(ab2 / 2);
        let sd = (a2 as f64 / ab2 as f64 - mean * mean).sqrt();
        // A 50 ms stimulus, a 10 ms gap, 60 ms windows: one stimulus each, fast layer.
        let s = Schedule {
            dt_s: 1e-3,
            present_steps: 50,
            period_steps: 60,
            window_steps: 60,
            tau_s: 0.0,
        };
        let l = stationary_signature(&s, r as usize, n as usize, 20_000, 3, normal_inputs(2));
        // The Monte Carlo's standard error is sd/√20000 ≈ 0.0007.
        assert!((l.mean - mean).abs() < 0.004, "{l:?} against {mean}");
        assert!((l.sd - sd).abs() < 0.004, "{l:?} against {sd}");
        assert!((mean - 0.334_941).abs() < 1e-6, "{mean}");
    }

    #[test]
    fn a_slow_postsynaptic_layer_lowers_the_limit() {
        // v lags x: part of ∫ v xᵀ dt pairs a stimulus with the one before, uncorrelated with
        // it, so C is less aligned with the identity's shape in each window.
        let fast = Schedule {
            dt_s: 1e-3,
            present_steps: 50,
            period_steps: 50,
            window_steps: 500,
            tau_s: 0.0,
        };
        let slow = Schedule {
            tau_s: 0.05,
            ..fast
        };
        let a = stationary_signature(&fast, 4, 8, 1000, 1, normal_inputs(3));
        let b = stationary_signature(&slow, 4, 8, 1000, 1, normal_inputs(3));
        assert!(b.mean < a.mean - 0.02, "{a:?} {b:?}");
    }
}
