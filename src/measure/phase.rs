//! The predicted Hebbian phase boundary of one regression layer (docs/phase_boundary.md): where
//! the mean Hebbian signature changes sign as weight decay γ and noise σ vary. A sweep file names
//! it in a `prediction:` block; the sweep's manifest carries the block and `hetsim plot` draws
//! the curve on the heat map beside the measured zero contour.
//!
//! The model: τ_w dW/dt = e xᵀ − γ τ_w W + σ_w ξ, e = W* x − W x, inputs of power s² each, N_w
//! weights, the signature read over windows of length T. Its fixed point is W̄ = c W* with
//! c = s²/(s² + γτ_w); fluctuations relax at λ = (s² + γτ_w)/τ_w with stationary variance
//! σ_w²/(2τ_w(s² + γτ_w)) per weight. Weight noise is left out of the rule's update; the
//! signature's mean numerator is then ∝ γ‖W̄‖² − N_w σ_w² s² g(λT) / (2τ_w²(s² + γτ_w)), which
//! vanishes at
//!
//!   σ*² = 2 γ τ_w² s² ‖W*‖² / (N_w (s² + γ τ_w) g(λT)),  g(x) = 2 (x − 1 + e^{−x}) / x²
//!
//! (g → 1 for windows short against 1/λ; g ≈ 2/(λT) for long ones, where σ*² → γ τ_w s² ‖W*‖² T / N_w).
//! Noise in the modulator is part of the rule's update: in a stationary state the rule's update
//! over a window equals the weights' change plus what decay removed, so its mean overlap with
//! the Hebbian direction is γ⟨∫W, ∫W x xᵀ⟩ > 0 and no boundary is predicted
//! ([`Prediction::boundary`] is `None`); the noise of equal diffusion, σ_w = σ s, is what
//! [`Prediction::equal_diffusion`] gives for comparison.
//!
//! The rule's own sampling noise (`sampling:`): each input sample is held for a stimulus
//! duration T_s, so e xᵀ fluctuates about its mean from sample to sample. Like modulator noise
//! it is part of the rule's update: it widens the weights' fluctuations (a diffusion of
//! intensity σ_s²/τ_w² per weight, σ_s² = T_s s⁴ (1 − c)² ‖W*‖² (n_in + 1)/N_w for Gaussian
//! inputs and the residual W* − W̄ = (1 − c) W*) without an anti-Hebbian term of its own, and
//! moves the boundary to σ*² + (γτ_w/s²) σ_s². Negligible where decay is weak (c ≈ 1), it
//! doubles σ* where decay leaves most of the error (c ≪ 1).

use crate::spec::quantity::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A sweep file's `prediction:` block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prediction {
    /// What is predicted: `hebbian_boundary`, the zero-signature boundary σ*(γ) of a regression
    /// layer.
    pub kind: PredictionKind,
    /// Where the swept noise enters: `weight` (weight noise σ_w) or `modulator` (the white-noise
    /// intensity of an instantaneous modulator population).
    pub noise: NoiseSource,
    /// The column of the decay axis, a time τ_decay (γ = 1/τ_decay): `tau_decay`.
    pub decay_axis: String,
    /// The column of the noise axis (`weight_noise`, `noise`).
    pub noise_axis: String,
    /// The layer's τ_w.
    pub tau_w: Time,
    /// s²: the power ⟨x_j²⟩ of each input.
    pub input_power: f64,
    /// N_w: the number of plastic weights whose signature is read.
    pub weights: f64,
    /// ‖W*‖²: the squared norm of the weights the layer would learn without decay (for a teacher
    /// with entries uniform in [−a, a], N_w a²/3 on average).
    pub target_norm_sq: f64,
    /// The recording window T over which the signature is read (`record.every`).
    pub window: Time,
    /// Includes the rule's own sampling noise (module doc): how long each sample is held and
    /// how many inputs the layer has. Without it, that noise is left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Sampling>,
}

/// The sample schedule behind the rule's own sampling noise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// T_s: how long each input sample is held (`task.stimulus.duration`).
    pub stimulus: Time,
    /// n_in: the number of inputs of the layer.
    pub inputs: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PredictionKind {
    HebbianBoundary,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoiseSource {
    Weight,
    Modulator,
}

/// g(x) = 2 (x − 1 + e^{−x}) / x²: the variance of an OU process's mean over a window of x
/// relaxation times, relative to its stationary variance (a series near 0, where the closed
/// form cancels).
pub fn window_factor(x: f64) -> f64 {
    if x < 1e-3 {
        1.0 - x / 3.0 + x * x / 12.0
    } else {
        2.0 * (x - 1.0 + (-x).exp()) / (x * x)
    }
}

impl Prediction {
    /// Whether a table column is the axis `name` (a time axis's column carries `_s`).
    pub fn names(&self, name: &str, column: &str) -> bool {
        column == name || column.strip_suffix("_s") == Some(name)
    }

    /// The parameters as they must be for the formula to mean anything: positive and finite.
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [
            ("tau_w", self.tau_w.seconds()),
            ("input_power", self.input_power),
            ("weights", self.weights),
            ("target_norm_sq", self.target_norm_sq),
            ("window", self.window.seconds()),
            (
                "sampling.stimulus",
                self.sampling.as_ref().map_or(1.0, |s| s.stimulus.seconds()),
            ),
            (
                "sampling.inputs",
                self.sampling.as_ref().map_or(1.0, |s| s.inputs),
            ),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(format!("`prediction.{name}` must be positive, not {v}"));
            }
        }
        Ok(())
    }

    /// The weight-noise σ_w at which the mean signature changes sign for decay rate γ (1/s).
    pub fn weight_noise_boundary(&self, gamma: f64) -> f64 {
        let (tw, s2, t) = (
            self.tau_w.seconds(),
            self.input_power,
            self.window.seconds(),
        );
        let lambda = (s2 + gamma * tw) / tw;
        let g = window_factor(lambda * t);
        let without_sampling = 2.0 * gamma * tw * tw * s2 * self.target_norm_sq
            / (self.weights * (s2 + gamma * tw) * g);
        (without_sampling + gamma * tw / s2 * self.sampling_noise(gamma)).sqrt()
    }

    /// σ_s²: the rule's own sampling noise on the scale of weight noise (0 without `sampling`).
    pub fn sampling_noise(&self, gamma: f64) -> f64 {
        let Some(sampling) = &self.sampling else {
            return 0.0;
        };
        let (tw, s2) = (self.tau_w.seconds(), self.input_power);
        let residual = 1.0 - s2 / (s2 + gamma * tw);
        sampling.stimulus.seconds()
            * s2
            * s2
            * residual
            * residual
            * self.target_norm_sq
            * (sampling.inputs + 1.0)
            / self.weights
    }

    /// σ* on the swept noise's own scale, or `None` where no sign change is predicted (noise in
    /// the modulator).
    pub fn boundary(&self, gamma: f64) -> Option<f64> {
        match self.noise {
            NoiseSource::Weight => Some(self.weight_noise_boundary(gamma)),
            NoiseSource::Modulator => None,
        }
    }

    /// The swept noise's value whose weight diffusion equals that of weight noise at its
    /// boundary: σ_w* itself, or σ_w*/s for a modulator noise (its diffusion is σ² x_j²/τ_w²).
    pub fn equal_diffusion(&self, gamma: f64) -> f64 {
        let sw = self.weight_noise_boundary(gamma);
        match self.noise {
            NoiseSource::Weight => sw,
            NoiseSource::Modulator => sw / self.input_power.sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(window_s: f64) -> Prediction {
        Prediction {
            kind: PredictionKind::HebbianBoundary,
            noise: NoiseSource::Weight,
            decay_axis: "tau_decay".into(),
            noise_axis: "weight_noise".into(),
            tau_w: Time::from_seconds(1.0),
            input_power: 0.25,
            weights: 300.0,
            target_norm_sq: 100.0,
            window: Time::from_seconds(window_s),
            sampling: None,
        }
    }

    #[test]
    fn sampling_noise_moves_the_boundary_only_where_decay_leaves_the_error() {
        let mut p = layer(0.1);
        let bare = |g: f64| p.weight_noise_boundary(g);
        let (weak, strong) = (bare(1.0 / 400.0), bare(1.0 / 0.15));
        p.sampling = Some(Sampling {
            stimulus: Time::from_seconds(0.05),
            inputs: 30.0,
        });
        // σ_s² = T_s s⁴ (1 − c)² ‖W*‖² (n_in + 1)/N_w, c = s²/(s² + γτ_w).
        let gamma = 1.0 / 0.15;
        let c = 0.25 / (0.25 + gamma);
        let sigma_s2 = 0.05 * 0.0625 * (1.0 - c) * (1.0 - c) * 100.0 * 31.0 / 300.0;
        assert!((p.sampling_noise(gamma) / sigma_s2 - 1.0).abs() < 1e-12);
        let with = p.weight_noise_boundary(gamma);
        let expected = (strong * strong + gamma / 0.25 * sigma_s2).sqrt();
        assert!((with / expected - 1.0).abs() < 1e-12);
        // Strong decay (c = 0.036): σ* more than doubles; weak decay (c = 0.99): unchanged.
        assert!(with / strong > 2.0, "{strong} → {with}");
        let w = p.weight_noise_boundary(1.0 / 400.0);
        assert!((w / weak - 1.0).abs() < 1e-4, "{weak} → {w}");
    }

    #[test]
    fn the_window_factor_is_one_for_short_windows_and_two_over_x_for_long_ones() {
        assert!((window_factor(0.0) - 1.0).abs() < 1e-12);
        // Both sides of the switch to the series agree.
        let x: f64 = 1e-3;
        let closed = 2.0 * (x - 1.0 + (-x).exp()) / (x * x);
        assert!((window_factor(x * 0.999_999) - closed).abs() < 1e-6);
        assert!((window_factor(1e4) * 1e4 / 2.0 - 1.0).abs() < 1e-3);
    }

    #[test]
    fn the_boundary_follows_the_sigma_squared_law_where_decay_is_weak() {
        let p = layer(0.1);
        // γτ_w ≪ s²: σ*² ≈ 2γτ_w²‖W*‖²/N_w, so d log σ*/d log γ → 1/2.
        let (a, b) = (p.weight_noise_boundary(1e-4), p.weight_noise_boundary(1e-3));
        let slope = (b / a).log10();
        assert!((slope - 0.5).abs() < 0.01, "slope {slope}");
        // With a window short against 1/λ ≈ 4 s, g(λT) ≈ 1 − λT/3.
        let expected = (2.0 * 1e-4 * 100.0 / 300.0f64).sqrt();
        let short = layer(1e-6).weight_noise_boundary(1e-4);
        assert!(
            (short / expected - 1.0).abs() < 1e-3,
            "{short} against {expected}"
        );
        assert!(
            (a / short - 1.0 - 0.25 * 0.1 / 6.0).abs() < 1e-3,
            "{a} against {short}"
        );
        // Strong decay (γτ_w ≫ s²) and windows short against 1/λ: σ* saturates (slope → 0).
        let brief = layer(1e-4);
        let (c, d) = (
            brief.weight_noise_boundary(100.0),
            brief.weight_noise_boundary(1000.0),
        );
        assert!((d / c).log10().abs() < 0.02, "{c} → {d}");
        // Long windows restore the law: σ*² → γ τ_w s² ‖W*‖² T / N_w.
        let long = layer(1e4);
        let s = long.weight_noise_boundary(10.0);
        let limit = (10.0 * 0.25 * 100.0 * 1e4 / 300.0f64).sqrt();
        assert!((s / limit - 1.0).abs() < 0.01, "{s} against {limit}");
    }

    #[test]
    fn modulator_noise_predicts_no_boundary_and_scales_the_equal_diffusion_by_the_input() {
        let mut p = layer(0.1);
        p.noise = NoiseSource::Modulator;
        assert_eq!(p.boundary(0.025), None);
        assert!((p.equal_diffusion(0.025) * 0.5 - p.weight_noise_boundary(0.025)).abs() < 1e-12);
    }
}
