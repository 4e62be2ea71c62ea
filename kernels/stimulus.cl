// Training samples, generated on the device from the task's device form (src/task/mod.rs).
//
// One instance at a time, in the task's own precision `taskt` (double where the device has it,
// as on the CPU; float otherwise). The generated header defines TASK_LINEAR / TASK_TANH /
// TASK_MIXTURE / TASK_DATASET, the sizes N_IN, N_OUT, HIDDEN, the lane count E_PAD, the rows
// of the per-instance ulong table (PL_SEED, PL_TASK, PL_ROWS, PL_NROWS) and the element offsets
// of the current sample in the state arena (S_XCUR, S_YCUR).
//
// Task data at PL[PL_TASK] (per instance, deduplicated where equal):
//   linear:  input_std, T (N_OUT x N_IN)
//   tanh:    input_std, V1 (HIDDEN x N_IN), V2 (N_OUT x HIDDEN)
//   mixture: input_std, means (N_OUT x N_IN)
//   dataset: inputs (rows x N_IN), targets (rows x N_OUT); training rows in TR at PL[PL_ROWS]

#define STREAM_TRAIN 2u
#define STREAM_TRAIN_CLASS 3u
#define XS_STRIDE (N_IN + N_OUT + HIDDEN)

inline void gen_sample(uint inst, ulong k, __global const ulong *PL, __global const taskt *TD,
                       __global const uint *TR, __global taskt *XS, __global real *S) {
    // Plain multiply-adds, so that the sample is rounded exactly as on the host.
#pragma OPENCL FP_CONTRACT OFF
    const ulong seed = PL[PL_SEED * E_PAD + inst];
    __global const taskt *td = TD + PL[PL_TASK * E_PAD + inst];
    __global taskt *xs = XS + (ulong)inst * XS_STRIDE;
    __global taskt *ys = xs + N_IN;
#if defined(TASK_DATASET)
    uint u[4];
    draw_block_s(seed, STREAM_TRAIN, k, 0, u);
    uint row = TR[PL[PL_ROWS * E_PAD + inst] + pick_index(u[0], (uint)PL[PL_NROWS * E_PAD + inst])];
    __global const taskt *inputs = td;
    __global const taskt *targets = td + PL[PL_NDATA * E_PAD + inst] * N_IN;
    for (uint c = 0; c < N_IN; c++) xs[c] = inputs[(ulong)row * N_IN + c];
    for (uint c = 0; c < N_OUT; c++) ys[c] = targets[(ulong)row * N_OUT + c];
#else
    const taskt input_std = td[0];
    for (uint b = 0; b < (N_IN + 3) / 4; b++) {
        uint u[4];
        taskt n[4];
        draw_block_s(seed, STREAM_TRAIN, k, b, u);
#ifdef HAS_FP64
        normals_f64_s(u, n);
#else
        normals_f32_s(u, n);
#endif
        for (uint t = 0; t < 4 && 4 * b + t < N_IN; t++) xs[4 * b + t] = n[t] * input_std;
    }
#if defined(TASK_LINEAR)
    __global const taskt *m = td + 1;
    for (uint r = 0; r < N_OUT; r++) {
        taskt acc = 0;
        for (uint c = 0; c < N_IN; c++) acc += m[r * N_IN + c] * xs[c];
        ys[r] = acc;
    }
#elif defined(TASK_TANH)
    __global const taskt *v1 = td + 1;
    __global const taskt *v2 = v1 + HIDDEN * N_IN;
    for (uint r = 0; r < N_OUT; r++) ys[r] = 0;
    for (uint j = 0; j < HIDDEN; j++) {
        taskt acc = 0;
        for (uint c = 0; c < N_IN; c++) acc += v1[j * N_IN + c] * xs[c];
        taskt h = tanh(acc);
        for (uint r = 0; r < N_OUT; r++) ys[r] += v2[r * HIDDEN + j] * h;
    }
#elif defined(TASK_MIXTURE)
    __global const taskt *means = td + 1;
    uint u[4];
    draw_block_s(seed, STREAM_TRAIN_CLASS, k, 0, u);
    uint cls = pick_index(u[0], N_OUT);
    for (uint c = 0; c < N_IN; c++) xs[c] += means[cls * N_IN + c];
    for (uint r = 0; r < N_OUT; r++) ys[r] = (r == cls) ? 1 : 0;
#endif
#endif
    for (uint c = 0; c < N_IN; c++) S[(S_XCUR + c) * E_PAD + inst] = (real)xs[c];
    for (uint r = 0; r < N_OUT; r++) S[(S_YCUR + r) * E_PAD + inst] = (real)ys[r];
}
