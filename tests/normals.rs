//! The noise normals' own math (`hetsim::normals`) against libm over the uniforms the draws give
//! (the whole range in steps, the extremes and 200,000 Philox words), the lane versions against
//! the one-lane reference, and the normals against the libm draw of the same words.

use hetsim::normals::*;
use hetsim::rng;

/// Distance in units in the last place between two finite doubles of the same sign.
fn ulps(a: f64, b: f64) -> u64 {
    if a == b {
        return 0;
    }
    assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} vs {b}");
    a.to_bits().abs_diff(b.to_bits())
}

/// Uniforms across the whole range: every 2^-20 step, the extremes, and Philox draws.
fn uniforms() -> Vec<f64> {
    let mut u: Vec<u32> = (0..=4096u32).map(|i| i.wrapping_mul(1 << 20)).collect();
    u.extend([0, 1, 2, 3, u32::MAX, u32::MAX - 1, 0x8000_0000, 0x7fff_ffff]);
    u.extend((0..50_000).flat_map(|b| rng::draw_block(3, 9, 0, b)));
    u.into_iter().map(rng::u01_f64).collect()
}

#[test]
fn ln_within_one_ulp_of_libm() {
    let mut worst = 0;
    for a in uniforms() {
        let d = ulps(ln(a), a.ln());
        worst = worst.max(d);
    }
    assert!(worst <= 1, "ln: {worst} ulp");
    // Exact where libm is: ln 1 = 0 and ln 2^k = k ln 2 to the last bit.
    assert_eq!(ln(1.0), 0.0);
    assert_eq!(ln(0.5), 0.5f64.ln());
    assert_eq!(ln(2f64.powi(-33)), 2f64.powi(-33).ln());
}

#[test]
fn sincos_within_one_ulp_of_libm() {
    // Against libm's sin and cos of the same reduced angle 2πf (f = a − k/4 exact), turned
    // by the quadrant k: the polynomials' own error, in units in the last place.
    let (mut worst_sin, mut worst_cos) = (0, 0);
    for a in uniforms() {
        let (s, c) = sincos_2pi(a);
        let k = (4.0 * a).round_ties_even();
        let x = (2.0 * std::f64::consts::PI) * (a - 0.25 * k);
        let (rs, rc) = match k as u32 % 4 {
            0 => (x.sin(), x.cos()),
            1 => (x.cos(), -x.sin()),
            2 => (-x.sin(), -x.cos()),
            _ => (-x.cos(), x.sin()),
        };
        worst_sin = worst_sin.max(ulps(s, rs));
        worst_cos = worst_cos.max(ulps(c, rc));
    }
    assert!(
        worst_sin <= 1 && worst_cos <= 1,
        "sin {worst_sin}, cos {worst_cos} ulp"
    );
    assert_eq!(sincos_2pi(0.0), (0.0, 1.0));
    assert_eq!(sincos_2pi(0.25), (1.0, -0.0));
    assert_eq!(sincos_2pi(0.5), (-0.0, -1.0));
    assert_eq!(sincos_2pi(0.75), (-1.0, 0.0));
    // Against the unreduced angle, libm differs by its own rounding of 2πa (up to 2π).
    for a in uniforms() {
        let (s, c) = sincos_2pi(a);
        let theta = (2.0 * std::f64::consts::PI) * a;
        assert!((s - theta.sin()).abs() < 4e-15 && (c - theta.cos()).abs() < 4e-15);
    }
}

/// f32 uniforms: every 2^-12 step, the extremes, and Philox draws.
fn uniforms_f32() -> Vec<f32> {
    let mut u: Vec<u32> = (0..=4096u32).map(|i| i.wrapping_mul(1 << 20)).collect();
    u.extend([0, 511, 512, u32::MAX, 0x8000_0000, 0x7fff_ffff]);
    u.extend((0..50_000).flat_map(|b| rng::draw_block(4, 9, 0, b)));
    u.into_iter().map(rng::u01_f32).collect()
}

fn ulps_f32(a: f32, b: f32) -> u32 {
    if a == b {
        return 0;
    }
    assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} vs {b}");
    a.to_bits().abs_diff(b.to_bits())
}

#[test]
fn f32_functions_within_two_ulps_of_libm() {
    let (mut worst_ln, mut worst_sin, mut worst_cos) = (0, 0, 0);
    for a in uniforms_f32() {
        worst_ln = worst_ln.max(ulps_f32(ln_f32(a), a.ln()));
        let (s, c) = sincos_2pi_f32(a);
        let k = (4.0 * a).round_ties_even();
        let x = (2.0 * std::f32::consts::PI) * (a - 0.25 * k);
        let (rs, rc) = match k as u32 % 4 {
            0 => (x.sin(), x.cos()),
            1 => (x.cos(), -x.sin()),
            2 => (-x.sin(), -x.cos()),
            _ => (-x.cos(), x.sin()),
        };
        worst_sin = worst_sin.max(ulps_f32(s, rs));
        worst_cos = worst_cos.max(ulps_f32(c, rc));
    }
    assert!(
        worst_ln <= 1 && worst_sin <= 2 && worst_cos <= 2,
        "ln {worst_ln}, sin {worst_sin}, cos {worst_cos} ulp"
    );
    assert_eq!(ln_f32(1.0), 0.0);
    assert_eq!(sincos_2pi_f32(0.25), (1.0, -0.0));
    // The f32 normals follow the f64 ones of the same words, as far as the 23-bit uniforms
    // can (see rng's f32_and_f64_normals_agree): here within 2e-5 away from the tails.
    for b in 0..20_000 {
        let u = rng::draw_block(6, 3, 1, b);
        let n32 = box_muller_lanes_f32(u.map(|w| [w])).map(|[n]| n);
        let n64 = box_muller_lanes(u.map(|w| [w])).map(|[n]| n);
        for t in 0..4 {
            let radius = rng::u01_f64(u[t / 2 * 2]);
            if (0.01..=0.9999).contains(&radius) {
                let d = (f64::from(n32[t]) - n64[t]).abs();
                assert!(d < 2e-5, "block {b}: {} vs {}", n32[t], n64[t]);
            }
        }
    }
}

#[test]
fn philox_lanes_is_philox() {
    let seeds = [1u64, 2, 3, 0xdead_beef_0000_0007, u64::MAX, 0, 42, 7];
    let keys = lane_keys(&seeds);
    let counter = (1 << 33) | 5;
    let words = lane_words(&keys, 99, counter, 17);
    for (i, &seed) in seeds.iter().enumerate() {
        let want = rng::draw_block(seed, 99, counter, 17);
        assert_eq!(want, [words[0][i], words[1][i], words[2][i], words[3][i]]);
    }
    let words = block_words::<8>(5, 99, 3, 40);
    let normals = box_muller_lanes(words);
    let lane = |x: &[[u32; 8]; 4], i: usize| x.map(|w| w[i]);
    for (i, block) in (40..48u32).enumerate() {
        assert_eq!(rng::draw_block(5, 99, 3, block), lane(&words, i));
        assert_eq!(noise_block(5, 99, 3, block), normals.map(|n| n[i]));
    }
}

#[test]
fn noise_normals_follow_the_libm_draw() {
    let mut ours = vec![0.0; 40_000];
    let mut libm = vec![0.0; 40_000];
    fill_noise(12, 77, 3, &mut ours);
    rng::fill_normal(12, 77, 3, &mut libm);
    for (a, b) in ours.iter().zip(&libm) {
        // A few ulps of the radius and angle; relative to the normal's scale.
        assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "{a} vs {b}");
    }
    let n = ours.len() as f64;
    let mean = ours.iter().sum::<f64>() / n;
    let var = ours.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    assert!(
        mean.abs() < 0.02 && (var - 1.0).abs() < 0.04,
        "{mean} {var}"
    );
}
