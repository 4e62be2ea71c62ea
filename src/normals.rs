//! The simulation's noise normals: counter-based, drawn where they are used, several Philox
//! outputs at a time in SIMD lanes, with a Box–Muller whose logarithm and sine/cosine are this
//! module's own polynomials rather than libm's.
//!
//! Noise (weight noise on plastic matrices, noise on population activities) takes one normal
//! per synapse or unit, per step and per instance, so it is the one place where the simulator
//! draws as many random numbers as it does multiply-adds. Two choices make that cheap and keep
//! every backend drawing the same numbers:
//!
//! - [`philox_lanes`] runs `K` Philox-4x32-10 evaluations side by side (each with its own key
//!   and counter: the lanes of an ensemble block have different seeds, the blocks of one large
//!   matrix different counters), written as plain lane loops that the compiler turns into SIMD
//!   on each vector level (`crate::simd`).
//! - [`box_muller_lanes`] turns each output into four normals with [`ln`] and [`sincos_2pi`]
//!   (in f32 engines [`box_muller_lanes_f32`] with [`ln_f32`] and [`sincos_2pi_f32`]),
//!   built from additions, multiplications, one division, one square root and integer bit
//!   operations only — no libm calls, no fused multiply-adds — so the result is the same bit
//!   for bit on every vector level, in the scalar path, and in the OpenCL kernels
//!   (`kernels/prelude.cl` transcribes these functions with `FP_CONTRACT OFF`).
//!
//! The normals of draw `(seed, stream, counter)` are laid out as [`crate::rng::fill_normal`]'s:
//! element `e` is output `e % 4` of Philox block `e / 4`, Box–Muller on `(u0, u1)` giving
//! `(r cos θ, r sin θ)` and on `(u2, u3)` the next two, with `r = √(−2 ln a)`, `θ = 2π b` and
//! `a`, `b` the [`crate::rng::u01_f64`] uniforms ([`crate::rng::u01_f32`] in f32). Only the
//! math functions differ from `fill_normal` (which draws the data and the initial weights with
//! libm), so noise normals agree with those to a few ulps. An engine draws its noise in its own
//! precision: f64 runs the f64 normals, f32 runs the f32 ones (whose 23-bit uniforms cut the
//! tails at 5.8σ instead of 6.8σ: a probability of 8e-9).
//!
//! Accuracy (tested against libm in this module's tests over uniforms across the whole range and
//! 200,000 Philox draws):
//! [`ln`] within 1 ulp of libm's `ln`; [`sincos_2pi`] within 1 ulp of libm's `sin`/`cos` of the
//! same reduced angle (the reduction is done on the uniform, exactly, before the angle is
//! formed, so only 2π·f is rounded) and within 4e-15 of libm's `sin`/`cos` of the unreduced
//! angle 2π·a (whose own rounding costs up to 2 ulp of 2π). In f32: [`ln_f32`] within 1 ulp,
//! [`sincos_2pi_f32`] within 2 ulp of libm's f32 functions of the same reduced angle.

// fdlibm's constants digit for digit as published, as kernels/prelude.cl writes them too, so
// both can be checked against the source (they round to the same doubles).
#![allow(clippy::excessive_precision)]

use crate::rng::{PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1, u01_f32, u01_f64};

// ln: the reduction and the minimax polynomial of fdlibm's e_log.c (Sun Microsystems, freely
// redistributable): ln(1 + f) = f − hfsq + s (hfsq + R(s²)), s = f / (2 + f).
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
const LG1: f64 = 6.666_666_666_666_735_130e-1;
const LG2: f64 = 3.999_999_999_940_941_908e-1;
const LG3: f64 = 2.857_142_874_366_239_149e-1;
const LG4: f64 = 2.222_219_843_214_978_396e-1;
const LG5: f64 = 1.818_357_216_161_805_012e-1;
const LG6: f64 = 1.531_383_769_920_937_332e-1;
const LG7: f64 = 1.479_819_860_511_658_591e-1;

// sin and cos on [−π/4, π/4]: fdlibm's k_sin.c and k_cos.c polynomials.
const S1: f64 = -1.666_666_666_666_663_243_48e-1;
const S2: f64 = 8.333_333_333_322_489_461_24e-3;
const S3: f64 = -1.984_126_982_985_794_931_34e-4;
const S4: f64 = 2.755_731_370_707_006_767_89e-6;
const S5: f64 = -2.505_076_025_340_686_341_95e-8;
const S6: f64 = 1.589_690_995_211_550_102_21e-10;
const C1: f64 = 4.166_666_666_666_660_190_37e-2;
const C2: f64 = -1.388_888_888_887_410_957_49e-3;
const C3: f64 = 2.480_158_728_947_672_941_78e-5;
const C4: f64 = -2.755_731_435_139_066_330_35e-7;
const C5: f64 = 2.087_572_321_298_174_827_90e-9;
const C6: f64 = -1.135_964_755_778_819_482_65e-11;

/// 2π rounded to f64.
const TWO_PI: f64 = 2.0 * std::f64::consts::PI;
/// 1.5 · 2⁵²: adding it to a number below 2⁵¹ in magnitude rounds that number to an integer,
/// left in the low bits of the sum.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// ln x for a positive normal finite x (the uniforms [`u01_f64`] gives lie in [2⁻³³, 1)).
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    // x = 2^k m with m in [√2/2, √2): offsetting the high word moves the split from 1 to √2/2.
    let hx = (bits >> 32) + (0x3ff0_0000 - 0x3fe6_a09e);
    let biased = hx >> 20;
    let m = f64::from_bits((((hx & 0x000f_ffff) + 0x3fe6_a09e) << 32) | (bits & 0xffff_ffff));
    // k as a double without an integer conversion (exact: biased < 2^11).
    let k = f64::from_bits(0x4330_0000_0000_0000 | biased) - (4_503_599_627_370_496.0 + 1023.0);
    let f = m - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    s * (hfsq + r) + k * LN2_LO - hfsq + f + k * LN2_HI
}

/// (sin 2πa, cos 2πa) for 0 ≤ a ≤ 1 a multiple of 2⁻³⁴ (every [`u01_f64`] uniform).
///
/// The quadrant comes from a itself: with k = round(4a) and f = a − k/4 (both exact), 2πa =
/// 2πf + kπ/2 and |2πf| ≤ π/4, where the polynomials hold.
#[inline(always)]
pub fn sincos_2pi(a: f64) -> (f64, f64) {
    let t = 4.0 * a + ROUND_MAGIC;
    let quadrant = t.to_bits() & 3;
    let f = a - 0.25 * (t - ROUND_MAGIC);
    let x = TWO_PI * f;
    let z = x * x;
    let w = z * z;
    let r = S2 + z * (S3 + z * S4) + z * w * (S5 + z * S6);
    let sin = x + z * x * (S1 + z * r);
    let rc = z * (C1 + z * (C2 + z * C3)) + w * w * (C4 + z * (C5 + z * C6));
    let hz = 0.5 * z;
    let one_minus = 1.0 - hz;
    let cos = one_minus + (((1.0 - one_minus) - hz) + z * rc);
    let (s, c) = if quadrant & 1 == 0 {
        (sin, cos)
    } else {
        (cos, -sin)
    };
    if quadrant & 2 == 0 { (s, c) } else { (-s, -c) }
}

// The f32 twins: musl's logf reduction and fdlibm's e_logf.c minimax polynomial; sin and cos
// on [−π/4, π/4] by their Taylor polynomials to x⁹ and x⁸·z (truncation below 2e-9).
const LN2_HI_F32: f32 = f32::from_bits(0x3f31_7180);
const LN2_LO_F32: f32 = f32::from_bits(0x3717_f7d1);
const LG1_F32: f32 = f32::from_bits(0x3f2a_aaaa);
const LG2_F32: f32 = f32::from_bits(0x3ecc_ce13);
const LG3_F32: f32 = f32::from_bits(0x3e91_e9ee);
const LG4_F32: f32 = f32::from_bits(0x3e78_9e26);
const S1_F32: f32 = -1.0 / 6.0;
const S2_F32: f32 = 1.0 / 120.0;
const S3_F32: f32 = -1.0 / 5040.0;
const S4_F32: f32 = 1.0 / 362_880.0;
const C1_F32: f32 = 1.0 / 24.0;
const C2_F32: f32 = -1.0 / 720.0;
const C3_F32: f32 = 1.0 / 40_320.0;
const C4_F32: f32 = -1.0 / 3_628_800.0;
/// 2π rounded to f32.
const TWO_PI_F32: f32 = 2.0 * std::f32::consts::PI;
/// 1.5 · 2²³, [`ROUND_MAGIC`]'s f32 twin.
const ROUND_MAGIC_F32: f32 = 12_582_912.0;

/// ln x in f32 for a positive normal finite x (the uniforms [`u01_f32`] gives).
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let ix = x.to_bits() + (0x3f80_0000 - 0x3f35_04f3);
    let biased = ix >> 23;
    let m = f32::from_bits((ix & 0x007f_ffff) + 0x3f35_04f3);
    let k = f32::from_bits(0x4b00_0000 | biased) - (8_388_608.0 + 127.0);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2_F32 + w * LG4_F32);
    let t2 = z * (LG1_F32 + w * LG3_F32);
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    s * (hfsq + r) + k * LN2_LO_F32 - hfsq + f + k * LN2_HI_F32
}

/// (sin 2πa, cos 2πa) in f32 for 0 ≤ a ≤ 1 a multiple of 2⁻²⁴ (every [`u01_f32`] uniform),
/// reduced as [`sincos_2pi`].
#[inline(always)]
pub fn sincos_2pi_f32(a: f32) -> (f32, f32) {
    let t = 4.0 * a + ROUND_MAGIC_F32;
    let quadrant = t.to_bits() & 3;
    let f = a - 0.25 * (t - ROUND_MAGIC_F32);
    let x = TWO_PI_F32 * f;
    let z = x * x;
    let sin = x + x * z * (S1_F32 + z * (S2_F32 + z * (S3_F32 + z * S4_F32)));
    let cos = 1.0 - 0.5 * z + z * z * (C1_F32 + z * (C2_F32 + z * (C3_F32 + z * C4_F32)));
    let (s, c) = if quadrant & 1 == 0 {
        (sin, cos)
    } else {
        (cos, -sin)
    };
    if quadrant & 2 == 0 { (s, c) } else { (-s, -c) }
}

/// `K` Philox-4x32-10 outputs side by side, in struct-of-arrays form: `c[j][i]` is word `j`
/// of lane `i`'s counter, `key[j][i]` word `j` of its key (as [`crate::rng::philox4x32_10`]).
#[inline(always)]
pub fn philox_lanes<const K: usize>(c: [[u32; K]; 4], key: [[u32; K]; 2]) -> [[u32; K]; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = c;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            for i in 0..K {
                k0[i] = k0[i].wrapping_add(PHILOX_W0);
                k1[i] = k1[i].wrapping_add(PHILOX_W1);
            }
        }
        for i in 0..K {
            // The high and low halves of each product written as two operations: the compiler
            // turns the first into the even/odd `vpmuludq` pair and the second into one 32-bit
            // multiply, where a single 64-bit product split into halves made it zero-extend,
            // multiply twice as many words and shuffle the low halves back (1.6× slower on
            // AVX2, 2× on AVX-512).
            let hi0 = ((u64::from(PHILOX_M0) * u64::from(c0[i])) >> 32) as u32;
            let hi1 = ((u64::from(PHILOX_M1) * u64::from(c2[i])) >> 32) as u32;
            let lo0 = PHILOX_M0.wrapping_mul(c0[i]);
            let lo1 = PHILOX_M1.wrapping_mul(c2[i]);
            let n0 = hi1 ^ c1[i] ^ k0[i];
            let n2 = hi0 ^ c3[i] ^ k1[i];
            c1[i] = lo1;
            c3[i] = lo0;
            c0[i] = n0;
            c2[i] = n2;
        }
    }
    [c0, c1, c2, c3]
}

/// Box–Muller on `K` Philox outputs: `out[t][i]` is normal `t` of lane `i`'s block.
#[inline(always)]
pub fn box_muller_lanes<const K: usize>(u: [[u32; K]; 4]) -> [[f64; K]; 4] {
    let mut out = [[0.0; K]; 4];
    for pair in 0..2 {
        for i in 0..K {
            let r = (-2.0 * ln(u01_f64(u[2 * pair][i]))).sqrt();
            let (sin, cos) = sincos_2pi(u01_f64(u[2 * pair + 1][i]));
            out[2 * pair][i] = r * cos;
            out[2 * pair + 1][i] = r * sin;
        }
    }
    out
}

/// Box–Muller on `K` Philox outputs in f32 arithmetic throughout ([`u01_f32`], [`ln_f32`],
/// [`sincos_2pi_f32`]): the normals of the f32 engines.
#[inline(always)]
pub fn box_muller_lanes_f32<const K: usize>(u: [[u32; K]; 4]) -> [[f32; K]; 4] {
    let mut out = [[0.0; K]; 4];
    for pair in 0..2 {
        for i in 0..K {
            let r = (-2.0 * ln_f32(u01_f32(u[2 * pair][i]))).sqrt();
            let (sin, cos) = sincos_2pi_f32(u01_f32(u[2 * pair + 1][i]));
            out[2 * pair][i] = r * cos;
            out[2 * pair + 1][i] = r * sin;
        }
    }
    out
}

/// The Philox words of blocks `block..block + K` of one draw (one key), lane `i` holding block
/// `block + i`: consecutive blocks of one instance's buffer.
#[inline(always)]
pub fn block_words<const K: usize>(
    seed: u64,
    stream: u32,
    counter: u64,
    block: u32,
) -> [[u32; K]; 4] {
    let [_, c1, c2, c3] = crate::rng::draw_counter(block, counter, stream);
    let c0 = std::array::from_fn(|i| block.wrapping_add(i as u32));
    let [k0, k1] = crate::rng::seed_key(seed);
    philox_lanes([c0, [c1; K], [c2; K], [c3; K]], [[k0; K], [k1; K]])
}

/// The Philox words of block `block` of one draw for `K` instances at once (`keys[j][i]`: word
/// `j` of lane `i`'s [`crate::rng::seed_key`], as [`lane_keys`] gives them).
#[inline(always)]
pub fn lane_words<const K: usize>(
    keys: &[[u32; K]; 2],
    stream: u32,
    counter: u64,
    block: u32,
) -> [[u32; K]; 4] {
    let c = crate::rng::draw_counter(block, counter, stream).map(|w| [w; K]);
    philox_lanes(c, *keys)
}

/// Lane `i`'s Philox key words for `K` seeds, as [`lane_words`] takes them.
pub fn lane_keys<const K: usize>(seeds: &[u64; K]) -> [[u32; K]; 2] {
    let keys = seeds.map(crate::rng::seed_key);
    [keys.map(|k| k[0]), keys.map(|k| k[1])]
}

/// The four f64 noise normals of block `block` of draw `(seed, stream, counter)`, one lane at
/// a time: the reference the lane versions must match.
pub fn noise_block(seed: u64, stream: u32, counter: u64, block: u32) -> [f64; 4] {
    box_muller_lanes::<1>(block_words(seed, stream, counter, block)).map(|[n]| n)
}

/// The four f32 noise normals of block `block` of draw `(seed, stream, counter)`.
pub fn noise_block_f32(seed: u64, stream: u32, counter: u64, block: u32) -> [f32; 4] {
    box_muller_lanes_f32::<1>(block_words(seed, stream, counter, block)).map(|[n]| n)
}

/// f64 noise normals for draw `(seed, stream, counter)` into `out`, laid out as
/// [`crate::rng::fill_normal`]'s.
pub fn fill_noise(seed: u64, stream: u32, counter: u64, out: &mut [f64]) {
    for (block, chunk) in out.chunks_mut(4).enumerate() {
        let n = noise_block(seed, stream, counter, block as u32);
        chunk.copy_from_slice(&n[..chunk.len()]);
    }
}

/// f32 noise normals for draw `(seed, stream, counter)` into `out`.
pub fn fill_noise_f32(seed: u64, stream: u32, counter: u64, out: &mut [f32]) {
    for (block, chunk) in out.chunks_mut(4).enumerate() {
        let n = noise_block_f32(seed, stream, counter, block as u32);
        chunk.copy_from_slice(&n[..chunk.len()]);
    }
}
