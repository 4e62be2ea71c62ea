//! Counter-based random numbers (Philox-4x32-10) shared by the host and by
//! device kernels.
//!
//! Every random number in the simulator is a pure function of
//! `(seed, stream, counter, block)`: there is no generator state to carry
//! around, so a GPU kernel can draw sample `k` of a stream without drawing
//! samples `0..k` first, and the host and the device see the same numbers.
//! Each step below is written so that it can be transcribed to OpenCL C
//! line by line.
//!
//! # Philox-4x32-10
//!
//! [`philox4x32_10`] is the Random123 generator of Salmon et al. (SC'11)
//! with 10 rounds. With `mulhilo(m, a) = (hi, lo)` the high and low 32 bits
//! of the 64-bit product `m * a`, one round maps counter `c` and key `k` to
//!
//! ```text
//! (hi0, lo0) = mulhilo(0xD2511F53, c[0])
//! (hi1, lo1) = mulhilo(0xCD9E8D57, c[2])
//! c' = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
//! ```
//!
//! Between rounds (nine times in all, not after the last) the key is bumped
//! by the Weyl constants: `k[0] += 0x9E3779B9`, `k[1] += 0xBB67AE85`
//! (wrapping). The result after round 10 is the output.
//!
//! # Key and counter layout
//!
//! * `key     = [seed as u32, (seed >> 32) as u32]` — `seed: u64` is one
//!   simulation instance's seed.
//! * `counter = [block, counter as u32, (counter >> 32) as u32, stream]`,
//!   where `stream: u32` names what is being drawn (a `STREAM_*` constant
//!   below or [`stream_id`] of an object name), `counter: u64` is e.g. the
//!   sample index or the step number, and `block: u32` numbers consecutive
//!   groups of four outputs inside one draw.
//!
//! # From 32-bit words to numbers
//!
//! * [`u01_f64`]: `(u as f64 + 0.5) * 2^-32`, exact in f64 and strictly
//!   inside (0, 1).
//! * [`u01_f32`]: `((u >> 9) as f32 + 0.5) * 2^-23`, exact in f32 and
//!   strictly inside (0, 1). (A 24-bit variant `((u >> 8) + 0.5) * 2^-24`
//!   is *not* exact in f32: the `+ 0.5` rounds to even above 2^23 and the top
//!   bucket becomes exactly 1.0, so 23 bits are used.)
//! * [`pick_index`]: `floor(u01_f64(u) * n)` evaluated exactly in integers
//!   as `((2u + 1) * n) >> 33` (needs 64-bit arithmetic for `n < 2^31`), so a
//!   device without doubles picks the same index.
//! * Normals (Box–Muller on each pair of one Philox output
//!   `(u0, u1, u2, u3)`, with `ai = u01(ui)`):
//!   `r = sqrt(-2 ln a0)`, `n0 = r cos(2π a1)`, `n1 = r sin(2π a1)`, and the
//!   same for `(a2, a3)` giving `n2`, `n3`. The f64 variant uses [`u01_f64`]
//!   and f64 arithmetic, the f32 variant [`u01_f32`] and f32 arithmetic
//!   (`2π` rounded to f32 first).
//!
//! # Filling buffers
//!
//! [`fill_uniform`], [`fill_normal`] and their f32 twins put into element
//! `e` of `out` lane `e % 4` of the output of block `e / 4`. A shorter draw
//! is therefore a prefix of a longer one with the same `(seed, stream,
//! counter)`.
//!
//! # Exactness across host and device
//!
//! Philox, the uniforms and [`pick_index`] are integer or exactly rounded
//! operations and agree bit for bit everywhere. Normals go through `ln`,
//! `sqrt`, `cos` and `sin`, whose last bits depend on the math library, so
//! host and device normals agree to a few ulps, not bit for bit.

/// Teacher matrices and mixture means (counter 0, 1, … numbers the matrix).
pub const STREAM_TEACHER: u32 = 1;
/// Training inputs: counter = training sample index.
pub const STREAM_TRAIN: u32 = 2;
/// Class labels of training samples of mixture tasks: counter = sample index.
pub const STREAM_TRAIN_CLASS: u32 = 3;
/// Held-out inputs: counter = held-out sample index.
pub const STREAM_HELD_OUT: u32 = 4;
/// Class labels of held-out samples of mixture tasks: counter = sample index.
pub const STREAM_HELD_OUT_CLASS: u32 = 5;
/// Train/held-out split of data sets: counter = Fisher–Yates position.
pub const STREAM_SPLIT: u32 = 6;

pub(crate) const PHILOX_M0: u32 = 0xD251_1F53;
pub(crate) const PHILOX_M1: u32 = 0xCD9E_8D57;
pub(crate) const PHILOX_W0: u32 = 0x9E37_79B9;
pub(crate) const PHILOX_W1: u32 = 0xBB67_AE85;

/// `2^-32`, the spacing of [`u01_f64`] values.
const TWO_POW_M32: f64 = 1.0 / 4_294_967_296.0;
/// `2^-23`, the spacing of [`u01_f32`] values.
const TWO_POW_M23: f32 = 1.0 / 8_388_608.0;

#[inline]
fn mulhilo(m: u32, a: u32) -> (u32, u32) {
    let p = u64::from(m) * u64::from(a);
    ((p >> 32) as u32, p as u32)
}

/// Philox-4x32 with 10 rounds: the 128-bit output for one counter and key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            // The key schedule advances before every round but the first.
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let (hi0, lo0) = mulhilo(PHILOX_M0, c[0]);
        let (hi1, lo1) = mulhilo(PHILOX_M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The Philox key of an instance seed: `[low 32 bits, high 32 bits]`.
#[inline]
pub fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The Philox counter for one block of one draw (see the module docs).
#[inline]
pub fn draw_counter(block: u32, counter: u64, stream: u32) -> [u32; 4] {
    [block, counter as u32, (counter >> 32) as u32, stream]
}

/// Four raw words: block `block` of draw `(seed, stream, counter)`.
#[inline]
pub fn draw_block(seed: u64, stream: u32, counter: u64, block: u32) -> [u32; 4] {
    philox4x32_10(draw_counter(block, counter, stream), seed_key(seed))
}

/// A uniform in (0, 1) from 32 random bits: `(u + 0.5) * 2^-32`.
#[inline]
pub fn u01_f64(u: u32) -> f64 {
    (f64::from(u) + 0.5) * TWO_POW_M32
}

/// A uniform in (0, 1) from the top 23 of 32 random bits, exact in f32:
/// `((u >> 9) + 0.5) * 2^-23`.
#[inline]
pub fn u01_f32(u: u32) -> f32 {
    // (u >> 9) < 2^23, so the integer and the added half both fit in f32's
    // 24-bit significand and nothing rounds.
    ((u >> 9) as f32 + 0.5) * TWO_POW_M23
}

/// An index in `0..n` from one random word: `floor(u01_f64(u) * n)`,
/// computed exactly as `((2u + 1) * n) >> 33`.
///
/// # Panics
/// If `n == 0` (there is nothing to pick).
#[inline]
pub fn pick_index(u: u32, n: usize) -> usize {
    assert!(n > 0, "pick_index needs a non-empty range");
    // u128 keeps the product exact for any usize; device code may use 64-bit
    // integers as long as n < 2^31.
    let prod = (2 * u128::from(u) + 1) * n as u128;
    (prod >> 33) as usize
}

/// Box–Muller on one Philox output, in f64.
#[inline]
pub fn normals_from_block_f64(u: [u32; 4]) -> [f64; 4] {
    let two_pi = 2.0 * std::f64::consts::PI;
    let r0 = (-2.0 * u01_f64(u[0]).ln()).sqrt();
    let t0 = two_pi * u01_f64(u[1]);
    let r1 = (-2.0 * u01_f64(u[2]).ln()).sqrt();
    let t1 = two_pi * u01_f64(u[3]);
    [r0 * t0.cos(), r0 * t0.sin(), r1 * t1.cos(), r1 * t1.sin()]
}

/// Box–Muller on one Philox output, in f32 arithmetic throughout.
#[inline]
pub fn normals_from_block_f32(u: [u32; 4]) -> [f32; 4] {
    let two_pi = 2.0 * std::f32::consts::PI;
    let r0 = (-2.0 * u01_f32(u[0]).ln()).sqrt();
    let t0 = two_pi * u01_f32(u[1]);
    let r1 = (-2.0 * u01_f32(u[2]).ln()).sqrt();
    let t1 = two_pi * u01_f32(u[3]);
    [r0 * t0.cos(), r0 * t0.sin(), r1 * t1.cos(), r1 * t1.sin()]
}

/// Shared block/lane walk of all `fill_*` functions: element `e` gets lane
/// `e % 4` of block `e / 4`.
fn fill_with<T: Copy>(
    seed: u64,
    stream: u32,
    counter: u64,
    out: &mut [T],
    convert: impl Fn([u32; 4]) -> [T; 4],
) {
    for (block, chunk) in out.chunks_mut(4).enumerate() {
        let block = u32::try_from(block).expect("a draw is limited to 2^34 numbers");
        let values = convert(draw_block(seed, stream, counter, block));
        chunk.copy_from_slice(&values[..chunk.len()]);
    }
}

/// Uniforms in (0, 1) ([`u01_f64`]) for draw `(seed, stream, counter)`.
pub fn fill_uniform(seed: u64, stream: u32, counter: u64, out: &mut [f64]) {
    fill_with(seed, stream, counter, out, |u| u.map(u01_f64));
}

/// Uniforms in (0, 1) ([`u01_f32`]) for draw `(seed, stream, counter)`.
pub fn fill_uniform_f32(seed: u64, stream: u32, counter: u64, out: &mut [f32]) {
    fill_with(seed, stream, counter, out, |u| u.map(u01_f32));
}

/// Standard normals (f64 Box–Muller) for draw `(seed, stream, counter)`.
pub fn fill_normal(seed: u64, stream: u32, counter: u64, out: &mut [f64]) {
    fill_with(seed, stream, counter, out, normals_from_block_f64);
}

/// Standard normals (f32 Box–Muller) for draw `(seed, stream, counter)`.
pub fn fill_normal_f32(seed: u64, stream: u32, counter: u64, out: &mut [f32]) {
    fill_with(seed, stream, counter, out, normals_from_block_f32);
}

/// A stream number for a named object (e.g. `"init/W1"`, `"noise/h"`):
/// 32-bit FNV-1a of the UTF-8 bytes (offset basis 0x811C9DC5, prime
/// 0x01000193). Hashes land among the fixed `STREAM_*` numbers (1..=6) only
/// with probability about 6 in 2^32.
pub fn stream_id(name: &str) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for &b in name.as_bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn layout_matches_docs() {
        let seed = 0x0123_4567_89ab_cdef_u64;
        let c = 0x0000_0007_0000_0009_u64;
        assert_eq!(seed_key(seed), [0x89ab_cdef, 0x0123_4567]);
        assert_eq!(draw_counter(3, c, 42), [3, 9, 7, 42]);
        let mut out = [0.0; 8];
        fill_uniform(seed, 42, c, &mut out);
        let second = philox4x32_10([1, 9, 7, 42], [0x89ab_cdef, 0x0123_4567]);
        assert_eq!(out[5], u01_f64(second[1]));
    }

    #[test]
    fn uniform_extremes_stay_inside() {
        for u in [0, 1, 255, 256, 511, 512, u32::MAX - 1, u32::MAX] {
            let a = u01_f64(u);
            let b = u01_f32(u);
            assert!(a > 0.0 && a < 1.0, "u01_f64({u}) = {a}");
            assert!(b > 0.0 && b < 1.0, "u01_f32({u}) = {b}");
        }
        assert_eq!(pick_index(0, 10), 0);
        assert_eq!(pick_index(u32::MAX, 10), 9);
        assert_eq!(pick_index(u32::MAX, 1), 0);
    }

    #[test]
    fn pick_index_matches_float_formula() {
        let mut words = [0.0; 1000];
        fill_uniform(5, 9, 0, &mut words);
        for (i, &a) in words.iter().enumerate() {
            let u = draw_block(5, 9, 0, (i / 4) as u32)[i % 4];
            for n in [1, 2, 3, 10, 1797, 65_537] {
                assert_eq!(pick_index(u, n), (a * n as f64).floor() as usize);
            }
        }
    }

    #[test]
    fn uniform_mean() {
        let mut out = vec![0.0; 100_000];
        fill_uniform(11, STREAM_TRAIN, 3, &mut out);
        assert!(out.iter().all(|&a| a > 0.0 && a < 1.0));
        let mean = out.iter().sum::<f64>() / out.len() as f64;
        // Standard error is 0.29 / sqrt(1e5) ≈ 0.0009.
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn normal_moments() {
        let mut out = vec![0.0; 100_000];
        fill_normal(12, STREAM_TRAIN, 0, &mut out);
        let n = out.len() as f64;
        let mean = out.iter().sum::<f64>() / n;
        let var = out.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        // Standard errors: 0.0032 for the mean, 0.0045 for the variance.
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
    }

    #[test]
    fn prefix_property() {
        let mut long = [0.0; 11];
        let mut short = [0.0; 6];
        fill_normal(1, 2, 3, &mut long);
        fill_normal(1, 2, 3, &mut short);
        assert_eq!(&long[..6], &short[..]);
        let mut long = [0.0; 9];
        let mut short = [0.0; 1];
        fill_uniform(1, 2, 3, &mut long);
        fill_uniform(1, 2, 3, &mut short);
        assert_eq!(long[0], short[0]);
        let mut long = [0.0f32; 7];
        let mut short = [0.0f32; 5];
        fill_normal_f32(1, 2, 3, &mut long);
        fill_normal_f32(1, 2, 3, &mut short);
        assert_eq!(&long[..5], &short[..]);
    }

    #[test]
    fn draws_differ_across_seed_stream_counter() {
        let draw = |seed, stream, counter| {
            let mut v = [0.0; 8];
            fill_normal(seed, stream, counter, &mut v);
            v
        };
        let base = draw(1, 1, 1);
        assert_ne!(base, draw(2, 1, 1));
        assert_ne!(base, draw(1, 2, 1));
        assert_ne!(base, draw(1, 1, 2));
        // The high halves of seed and counter matter too.
        assert_ne!(base, draw(1 + (1 << 32), 1, 1));
        assert_ne!(base, draw(1, 1, 1 + (1 << 32)));
        assert_eq!(base, draw(1, 1, 1));
    }

    #[test]
    fn f32_and_f64_normals_agree() {
        let mut a = vec![0.0f64; 20_000];
        let mut b = vec![0.0f32; 20_000];
        fill_normal(77, STREAM_HELD_OUT, 5, &mut a);
        fill_normal_f32(77, STREAM_HELD_OUT, 5, &mut b);
        let mut close = 0;
        for (e, (&x, &y)) in a.iter().zip(&b).enumerate() {
            let diff = (x - f64::from(y)).abs();
            if diff < 1e-5 {
                close += 1;
                continue;
            }
            // Box–Muller's radius sqrt(-2 ln a) is ill-conditioned as a → 0
            // or 1, where the 23-bit f32 uniform cannot follow the 32-bit
            // one; only those pairs may differ by more.
            let block = draw_block(77, STREAM_HELD_OUT, 5, (e / 4) as u32);
            let a_r = u01_f64(block[(e % 4) / 2 * 2]);
            assert!(
                !(0.01..=0.9999).contains(&a_r),
                "element {e}: {x} vs {y} with radius uniform {a_r}"
            );
        }
        assert!(close >= a.len() * 99 / 100, "only {close} agree");
    }

    #[test]
    fn stream_ids() {
        // Reference values of 32-bit FNV-1a.
        assert_eq!(stream_id(""), 0x811c_9dc5);
        assert_eq!(stream_id("a"), 0xe40c_292c);
        assert_eq!(stream_id("foobar"), 0xbf9c_f968);
        let names = ["init/W1", "init/W2", "noise/h", "noise/y"];
        let ids: Vec<u32> = names.iter().map(|n| stream_id(n)).collect();
        for (i, a) in ids.iter().enumerate() {
            assert!(
                *a > STREAM_SPLIT,
                "{} collides with a fixed stream",
                names[i]
            );
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
