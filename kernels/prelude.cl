// hetsim OpenCL prelude: counter-based random numbers and activation functions.
//
// The generated header that precedes this file defines
//   real, realv, maskv, uintv, fltv   the scalar type, the lane vector (V instances), its mask
//                                     type, and matching uint / float vectors
//   dblv                              (HAS_FP64 only) the double lane vector
//   LDV(p, i), STV(x, p, i)           load / store lane vector i of a real pointer p, as an
//                                     aligned vector (buffers and lane groups are aligned)
//   LDW(p, i), STW(x, p, i)           the same for pointers of other types (vload / vstore)
//   CVT_REALV, CVT_FLTV, CVT_DBLV     conversions to those vector types
//   SEL(a, b, c)                      c ? b : a, lane-wise
// Everything here mirrors src/rng.rs, src/normals.rs and src/activation.rs line by line, so that
// the device draws the same numbers and applies the same functions as the CPU engine.

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// Philox-4x32-10 (Random123). `c` is the counter, (k0, k1) the key; the result replaces c.
// Defined once per integer type: uint (one instance) and uintv (V instances, one key per lane),
// with the high product word from `mul_hi` or the header's MULHI_V.
#define PHILOX_DEFINE(NAME, UT, MULHI)                                                       \
    inline void NAME(UT *c, UT k0, UT k1) {                                                  \
        UT c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];                                       \
        for (int round = 0; round < 10; round++) {                                           \
            if (round > 0) {                                                                 \
                k0 += (UT)PHILOX_W0;                                                         \
                k1 += (UT)PHILOX_W1;                                                         \
            }                                                                                \
            UT hi0 = MULHI((UT)PHILOX_M0, c0), lo0 = (UT)PHILOX_M0 * c0;                     \
            UT hi1 = MULHI((UT)PHILOX_M1, c2), lo1 = (UT)PHILOX_M1 * c2;                     \
            UT n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;                                       \
            c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;                                            \
        }                                                                                    \
        c[0] = c0; c[1] = c1; c[2] = c2; c[3] = c3;                                          \
    }
PHILOX_DEFINE(philox_s, uint, mul_hi)
PHILOX_DEFINE(philox_v, uintv, MULHI_V)

// Block `block` of draw (seed, stream, counter): counter = [block, counter lo, counter hi, stream].
inline void draw_block_s(ulong seed, uint stream, ulong counter, uint block, uint *out) {
    out[0] = block;
    out[1] = (uint)counter;
    out[2] = (uint)(counter >> 32);
    out[3] = stream;
    philox_s(out, (uint)seed, (uint)(seed >> 32));
}

// The same for V instances at once: the key differs per lane, the counter does not.
inline void draw_block_v(uintv seed_lo, uintv seed_hi, uint stream, ulong counter, uint block,
                         uintv *out) {
    out[0] = (uintv)block;
    out[1] = (uintv)(uint)counter;
    out[2] = (uintv)(uint)(counter >> 32);
    out[3] = (uintv)stream;
    philox_v(out, seed_lo, seed_hi);
}

// floor(u01_f64(u) * n), exactly, as ((2u + 1) n) >> 33.
inline uint pick_index(uint u, uint n) {
    return (uint)((((ulong)u * 2ul + 1ul) * (ulong)n) >> 33);
}

// (u >> 9) + 0.5, times 2^-23: exact in f32 and strictly inside (0, 1).
inline float u01_f32(uint u) { return ((float)(u >> 9) + 0.5f) * (1.0f / 8388608.0f); }
inline fltv u01_f32v(uintv u) { return (CVT_FLTV(u >> 9) + 0.5f) * (1.0f / 8388608.0f); }

// Box-Muller in f32 on one Philox output.
inline void normals_f32_s(const uint *u, float *out) {
    const float two_pi = 2.0f * M_PI_F;
    float r0 = sqrt(-2.0f * log(u01_f32(u[0]))), t0 = two_pi * u01_f32(u[1]);
    float r1 = sqrt(-2.0f * log(u01_f32(u[2]))), t1 = two_pi * u01_f32(u[3]);
    out[0] = r0 * cos(t0); out[1] = r0 * sin(t0);
    out[2] = r1 * cos(t1); out[3] = r1 * sin(t1);
}
inline void normals_f32_v(const uintv *u, fltv *out) {
    const float two_pi = 2.0f * M_PI_F;
    fltv r0 = sqrt(-2.0f * log(u01_f32v(u[0]))), t0 = two_pi * u01_f32v(u[1]);
    fltv r1 = sqrt(-2.0f * log(u01_f32v(u[2]))), t1 = two_pi * u01_f32v(u[3]);
    out[0] = r0 * cos(t0); out[1] = r0 * sin(t0);
    out[2] = r1 * cos(t1); out[3] = r1 * sin(t1);
}

// The f32 twins (src/normals.rs `ln_f32`, `sincos_2pi_f32`), for engines in f32: FT the float
// type, UT the uint type of the same width.
#define NOISE_LN2_HI_F 0x1.62e3000000000p-1f
#define NOISE_LN2_LO_F 0x1.2fefa20000000p-17f
#define NOISE_LG1_F 0x1.5555540000000p-1f
#define NOISE_LG2_F 0x1.999c260000000p-2f
#define NOISE_LG3_F 0x1.23d3dc0000000p-2f
#define NOISE_LG4_F 0x1.f13c4c0000000p-3f
#define NOISE_S1_F (-1.0f / 6.0f)
#define NOISE_S2_F (1.0f / 120.0f)
#define NOISE_S3_F (-1.0f / 5040.0f)
#define NOISE_S4_F (1.0f / 362880.0f)
#define NOISE_C1_F (1.0f / 24.0f)
#define NOISE_C2_F (-1.0f / 720.0f)
#define NOISE_C3_F (1.0f / 40320.0f)
#define NOISE_C4_F (-1.0f / 3628800.0f)

#define NOISE_LN_F32_BODY(FT, UT, AS_U, AS_F)                                                \
    const UT ix = AS_U(x) + (UT)(0x3f800000u - 0x3f3504f3u);                                 \
    const UT biased = ix >> 23;                                                              \
    const FT m = AS_F((ix & (UT)0x007fffffu) + (UT)0x3f3504f3u);                             \
    const FT k = AS_F((UT)0x4b000000u | biased) - (8388608.0f + 127.0f);                     \
    const FT f = m - 1.0f;                                                                   \
    const FT s = f / (2.0f + f);                                                             \
    const FT z = s * s;                                                                      \
    const FT w = z * z;                                                                      \
    const FT t1 = w * (NOISE_LG2_F + w * NOISE_LG4_F);                                       \
    const FT t2 = z * (NOISE_LG1_F + w * NOISE_LG3_F);                                       \
    const FT r = t2 + t1;                                                                    \
    const FT hfsq = 0.5f * f * f;                                                            \
    return s * (hfsq + r) + k * NOISE_LN2_LO_F - hfsq + f + k * NOISE_LN2_HI_F;

#define NOISE_SINCOS_F32_BODY(FT, UT, AS_U, SELV)                                            \
    const FT t = 4.0f * a + 12582912.0f;                                                     \
    const UT quadrant = AS_U(t) & (UT)3u;                                                    \
    const FT f = a - 0.25f * (t - 12582912.0f);                                              \
    const FT x = (2.0f * M_PI_F) * f;                                                        \
    const FT z = x * x;                                                                      \
    const FT sn = x + x * z * (NOISE_S1_F + z * (NOISE_S2_F + z * (NOISE_S3_F + z * NOISE_S4_F))); \
    const FT cs = 1.0f - 0.5f * z                                                            \
                  + z * z * (NOISE_C1_F + z * (NOISE_C2_F + z * (NOISE_C3_F + z * NOISE_C4_F))); \
    const FT s1 = SELV(cs, sn, (quadrant & (UT)1u) == (UT)0u);                               \
    const FT c1 = SELV(-sn, cs, (quadrant & (UT)1u) == (UT)0u);                              \
    *sin_out = SELV(-s1, s1, (quadrant & (UT)2u) == (UT)0u);                                 \
    *cos_out = SELV(-c1, c1, (quadrant & (UT)2u) == (UT)0u);

#define NOISE_SEL_S(a, b, c) ((c) ? (b) : (a))
inline float noise_ln_f32_s(float x) {
#pragma OPENCL FP_CONTRACT OFF
    NOISE_LN_F32_BODY(float, uint, as_uint, as_float)
}
inline fltv noise_ln_f32_v(fltv x) {
#pragma OPENCL FP_CONTRACT OFF
    NOISE_LN_F32_BODY(fltv, uintv, AS_UINTV, AS_FLTV)
}
inline void noise_sincos_f32_s(float a, float *sin_out, float *cos_out) {
#pragma OPENCL FP_CONTRACT OFF
    NOISE_SINCOS_F32_BODY(float, uint, as_uint, NOISE_SEL_S)
}
inline void noise_sincos_f32_v(fltv a, fltv *sin_out, fltv *cos_out) {
#pragma OPENCL FP_CONTRACT OFF
    NOISE_SINCOS_F32_BODY(fltv, uintv, AS_UINTV, SEL_v)
}
inline void noise_box_muller_f32_s(const uint *u, float *out) {
#pragma OPENCL FP_CONTRACT OFF
    for (int p = 0; p < 2; p++) {
        float r = sqrt(-2.0f * noise_ln_f32_s(u01_f32(u[2 * p]))), sn, cs;
        noise_sincos_f32_s(u01_f32(u[2 * p + 1]), &sn, &cs);
        out[2 * p] = r * cs;
        out[2 * p + 1] = r * sn;
    }
}
inline void noise_box_muller_f32_v(const uintv *u, fltv *out) {
#pragma OPENCL FP_CONTRACT OFF
    for (int p = 0; p < 2; p++) {
        fltv r = sqrt(-2.0f * noise_ln_f32_v(u01_f32v(u[2 * p]))), sn, cs;
        noise_sincos_f32_v(u01_f32v(u[2 * p + 1]), &sn, &cs);
        out[2 * p] = r * cs;
        out[2 * p + 1] = r * sn;
    }
}

#ifdef HAS_FP64
// (u + 0.5) * 2^-32: exact in f64 and strictly inside (0, 1).
inline double u01_f64(uint u) { return ((double)u + 0.5) * (1.0 / 4294967296.0); }
inline dblv u01_f64v(uintv u) { return (CVT_DBLV(u) + 0.5) * (1.0 / 4294967296.0); }

inline void normals_f64_s(const uint *u, double *out) {
    const double two_pi = 2.0 * M_PI;
    double r0 = sqrt(-2.0 * log(u01_f64(u[0]))), t0 = two_pi * u01_f64(u[1]);
    double r1 = sqrt(-2.0 * log(u01_f64(u[2]))), t1 = two_pi * u01_f64(u[3]);
    out[0] = r0 * cos(t0); out[1] = r0 * sin(t0);
    out[2] = r1 * cos(t1); out[3] = r1 * sin(t1);
}
inline void normals_f64_v(const uintv *u, dblv *out) {
    const double two_pi = 2.0 * M_PI;
    dblv r0 = sqrt(-2.0 * log(u01_f64v(u[0]))), t0 = two_pi * u01_f64v(u[1]);
    dblv r1 = sqrt(-2.0 * log(u01_f64v(u[2]))), t1 = two_pi * u01_f64v(u[3]);
    out[0] = r0 * cos(t0); out[1] = r0 * sin(t0);
    out[2] = r1 * cos(t1); out[3] = r1 * sin(t1);
}

// The noise normals' own ln x and (sin 2 pi a, cos 2 pi a), transcribed from src/normals.rs
// (same constants, same order of operations, no contraction into fused multiply-adds), so that
// a device with doubles draws the CPU engine's noise bit for bit. Defined once per type pair:
// DT the double type, UT the ulong type of the same width, AS_U / AS_D the bit casts between
// them, SELV(a, b, c) = c ? b : a.
#define NOISE_LN2_HI 6.93147180369123816490e-01
#define NOISE_LN2_LO 1.90821492927058770002e-10
#define NOISE_LG1 6.666666666666735130e-01
#define NOISE_LG2 3.999999999940941908e-01
#define NOISE_LG3 2.857142874366239149e-01
#define NOISE_LG4 2.222219843214978396e-01
#define NOISE_LG5 1.818357216161805012e-01
#define NOISE_LG6 1.531383769920937332e-01
#define NOISE_LG7 1.479819860511658591e-01
#define NOISE_S1 -1.66666666666666324348e-01
#define NOISE_S2 8.33333333332248946124e-03
#define NOISE_S3 -1.98412698298579493134e-04
#define NOISE_S4 2.75573137070700676789e-06
#define NOISE_S5 -2.50507602534068634195e-08
#define NOISE_S6 1.58969099521155010221e-10
#define NOISE_C1 4.16666666666666019037e-02
#define NOISE_C2 -1.38888888888741095749e-03
#define NOISE_C3 2.48015872894767294178e-05
#define NOISE_C4 -2.75573143513906633035e-07
#define NOISE_C5 2.08757232129817482790e-09
#define NOISE_C6 -1.13596475577881948265e-11
#define NOISE_ROUND_MAGIC 6755399441055744.0

#define NOISE_LN_BODY(DT, UT, AS_U, AS_D)                                                    \
    const UT bits = AS_U(x);                                                                 \
    const UT hx = (bits >> 32) + (UT)(0x3ff00000ul - 0x3fe6a09eul);                          \
    const UT biased = hx >> 20;                                                              \
    const DT m = AS_D((((hx & (UT)0x000ffffful) + (UT)0x3fe6a09eul) << 32)                   \
                      | (bits & (UT)0xfffffffful));                                          \
    const DT k = AS_D((UT)0x4330000000000000ul | biased) - (4503599627370496.0 + 1023.0);    \
    const DT f = m - 1.0;                                                                    \
    const DT hfsq = 0.5 * f * f;                                                             \
    const DT s = f / (2.0 + f);                                                              \
    const DT z = s * s;                                                                      \
    const DT w = z * z;                                                                      \
    const DT t1 = w * (NOISE_LG2 + w * (NOISE_LG4 + w * NOISE_LG6));                         \
    const DT t2 = z * (NOISE_LG1 + w * (NOISE_LG3 + w * (NOISE_LG5 + w * NOISE_LG7)));       \
    const DT r = t2 + t1;                                                                    \
    return s * (hfsq + r) + k * NOISE_LN2_LO - hfsq + f + k * NOISE_LN2_HI;

#define NOISE_SINCOS_BODY(DT, UT, AS_U, SELV)                                                \
    const DT t = 4.0 * a + NOISE_ROUND_MAGIC;                                                \
    const UT quadrant = AS_U(t) & (UT)3ul;                                                   \
    const DT f = a - 0.25 * (t - NOISE_ROUND_MAGIC);                                         \
    const DT x = (2.0 * M_PI) * f;                                                           \
    const DT z = x * x;                                                                      \
    const DT w = z * z;                                                                      \
    const DT r = NOISE_S2 + z * (NOISE_S3 + z * NOISE_S4) + z * w * (NOISE_S5 + z * NOISE_S6); \
    const DT sn = x + z * x * (NOISE_S1 + z * r);                                            \
    const DT rc = z * (NOISE_C1 + z * (NOISE_C2 + z * NOISE_C3))                             \
                  + w * w * (NOISE_C4 + z * (NOISE_C5 + z * NOISE_C6));                      \
    const DT hz = 0.5 * z;                                                                   \
    const DT one_minus = 1.0 - hz;                                                           \
    const DT cs = one_minus + (((1.0 - one_minus) - hz) + z * rc);                           \
    const DT s1 = SELV(cs, sn, (quadrant & (UT)1ul) == (UT)0ul);                             \
    const DT c1 = SELV(-sn, cs, (quadrant & (UT)1ul) == (UT)0ul);                            \
    *sin_out = SELV(-s1, s1, (quadrant & (UT)2ul) == (UT)0ul);                               \
    *cos_out = SELV(-c1, c1, (quadrant & (UT)2ul) == (UT)0ul);

inline double noise_ln_s(double x) {
#pragma OPENCL FP_CONTRACT OFF
    NOISE_LN_BODY(double, ulong, as_ulong, as_double)
}
inline dblv noise_ln_v(dblv x) {
#pragma OPENCL FP_CONTRACT OFF
    NOISE_LN_BODY(dblv, ulongv, AS_ULONGV, AS_DBLV)
}
inline void noise_sincos_s(double a, double *sin_out, double *cos_out) {
#pragma OPENCL FP_CONTRACT OFF
    NOISE_SINCOS_BODY(double, ulong, as_ulong, NOISE_SEL_S)
}
inline void noise_sincos_v(dblv a, dblv *sin_out, dblv *cos_out) {
#pragma OPENCL FP_CONTRACT OFF
    NOISE_SINCOS_BODY(dblv, ulongv, AS_ULONGV, SEL_v)
}

// Box-Muller for the noise (src/normals.rs): r = sqrt(-2 ln a), (r cos 2 pi b, r sin 2 pi b).
inline void noise_box_muller_s(const uint *u, double *out) {
#pragma OPENCL FP_CONTRACT OFF
    for (int p = 0; p < 2; p++) {
        double r = sqrt(-2.0 * noise_ln_s(u01_f64(u[2 * p]))), sn, cs;
        noise_sincos_s(u01_f64(u[2 * p + 1]), &sn, &cs);
        out[2 * p] = r * cs;
        out[2 * p + 1] = r * sn;
    }
}
inline void noise_box_muller_v(const uintv *u, dblv *out) {
#pragma OPENCL FP_CONTRACT OFF
    for (int p = 0; p < 2; p++) {
        dblv r = sqrt(-2.0 * noise_ln_v(u01_f64v(u[2 * p]))), sn, cs;
        noise_sincos_v(u01_f64v(u[2 * p + 1]), &sn, &cs);
        out[2 * p] = r * cs;
        out[2 * p + 1] = r * sn;
    }
}
#endif

// Standard normals for the simulation's noise, in the lane type and its precision, as the CPU
// engine draws them (src/normals.rs): the f64 Box-Muller where real is double (bit for bit), the
// f32 one where it is float (bit for bit where division and sqrt round correctly).
inline void noise_normals_v(uintv seed_lo, uintv seed_hi, uint stream, ulong counter, uint block,
                            realv *out) {
    uintv u[4];
    draw_block_v(seed_lo, seed_hi, stream, counter, block, u);
#ifdef REAL_F64
    noise_box_muller_v(u, out);
#else
    noise_box_muller_f32_v(u, out);
#endif
}
inline void noise_normals_s(ulong seed, uint stream, ulong counter, uint block, real *out) {
    uint u[4];
    draw_block_s(seed, stream, counter, block, u);
#ifdef REAL_F64
    noise_box_muller_s(u, out);
#else
    noise_box_muller_f32_s(u, out);
#endif
}

// Activation functions phi and their slopes, as in src/activation.rs (NaN propagates; relu'(0) = 0).
#define ACT_DEFINE(SUF, T, ZERO, ONE)                                                        \
    inline T act_linear##SUF(T u) { return u; }                                              \
    inline T dact_linear##SUF(T u) { return ONE; }                                           \
    inline T act_tanh##SUF(T u) { return tanh(u); }                                          \
    inline T dact_tanh##SUF(T u) { T t = tanh(u); return ONE - t * t; }                      \
    inline T act_relu##SUF(T u) { return SEL##SUF(u, ZERO, u <= ZERO); }                     \
    inline T dact_relu##SUF(T u) {                                                           \
        return SEL##SUF(SEL##SUF(ZERO, ONE, u > ZERO), u, isnan(u));                         \
    }                                                                                        \
    inline T act_sigmoid##SUF(T u) {                                                         \
        T e = exp(-fabs(u));                                                                 \
        return SEL##SUF(e / (ONE + e), ONE / (ONE + e), u >= ZERO);                          \
    }                                                                                        \
    inline T dact_sigmoid##SUF(T u) { T s = act_sigmoid##SUF(u); return s * (ONE - s); }     \
    inline T act_softplus##SUF(T u) {                                                        \
        return SEL##SUF(ZERO, u, u > ZERO) + log1p(exp(-fabs(u)));                           \
    }                                                                                        \
    inline T dact_softplus##SUF(T u) { return act_sigmoid##SUF(u); }

#define SEL_s(a, b, c) ((c) ? (b) : (a))
ACT_DEFINE(_s, real, (real)0, (real)1)
ACT_DEFINE(_v, realv, (realv)0, (realv)1)
