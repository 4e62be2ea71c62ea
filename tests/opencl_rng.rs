//! The OpenCL Philox draws what `src/rng.rs` draws: the raw words bit for bit, the normals to
//! within 1e-6 (f32) and 1e-12 (f64) relative, and the noise normals of `src/normals.rs` (f64 bit
//! for bit, f32 within 1e-6), for several keys, streams, counters and lengths.

use hetsim::backend::opencl;
use hetsim::{normals, rng};

/// Whether a device is here; under CI (`CI=true`) one must be.
fn have_device() -> bool {
    match opencl::device() {
        Ok(_) => true,
        Err(e) => {
            assert!(
                std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                "CI: no OpenCL device: {e}"
            );
            eprintln!("no OpenCL device here ({e}); skipping");
            false
        }
    }
}

#[test]
fn device_philox_matches_host() {
    if !have_device() {
        return;
    }
    let cases = [
        (0u64, 0u32, 0u64, 1usize),
        (1, rng::STREAM_TRAIN, 0, 30),
        (0x0123_4567_89ab_cdef, 42, 0x0000_0007_0000_0009, 1001),
        (u64::MAX, u32::MAX, u64::MAX, 64),
        (77, rng::stream_id("noise/h"), 123_456, 4097),
    ];
    for (seed, stream, counter, n) in cases {
        let got = opencl::rng_draw(seed, stream, counter, n).unwrap_or_else(|e| panic!("{e}"));
        for (e, w) in got.words.iter().enumerate() {
            let want = rng::draw_block(seed, stream, counter, (e / 4) as u32)[e % 4];
            assert_eq!(*w, want, "word {e} of ({seed}, {stream}, {counter})");
        }
        let mut want32 = vec![0f32; n];
        rng::fill_normal_f32(seed, stream, counter, &mut want32);
        for (e, (a, b)) in got.normals_f32.iter().zip(&want32).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                "f32 normal {e} of ({seed}, {stream}, {counter}): device {a}, host {b}"
            );
        }
        if let Some(n64) = &got.normals_f64 {
            let mut want64 = vec![0f64; n];
            rng::fill_normal(seed, stream, counter, &mut want64);
            for (e, (a, b)) in n64.iter().zip(&want64).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                    "f64 normal {e} of ({seed}, {stream}, {counter}): device {a}, host {b}"
                );
            }
        }
        // The f32 noise normals: equal where the device's f32 division and square root round
        // correctly (PoCL's do), within 1e-6 wherever OpenCL allows them 2.5–3 ulp.
        let mut want32 = vec![0f32; n];
        normals::fill_noise_f32(seed, stream, counter, &mut want32);
        let mut same = 0;
        for (e, (a, b)) in got.noise_f32.iter().zip(&want32).enumerate() {
            same += usize::from(a.to_bits() == b.to_bits());
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                "f32 noise normal {e} of ({seed}, {stream}, {counter}): device {a}, host {b}"
            );
        }
        eprintln!("f32 noise normals of ({seed}, {stream}, {counter}): {same} of {n} bit for bit");
        if let Some(noise) = &got.noise_f64 {
            let mut want = vec![0f64; n];
            normals::fill_noise(seed, stream, counter, &mut want);
            for (e, (a, b)) in noise.iter().zip(&want).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "noise normal {e} of ({seed}, {stream}, {counter}): device {a}, host {b}"
                );
            }
        }
    }
}
