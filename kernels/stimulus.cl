// Training samples, generated on the device from the task's device form (src/task/mod.rs).
//
// One instance at a time, in the task's own precision `taskt` (double where the device has it,
// as on the CPU; float otherwise). The generated header defines a TASK_LINEAR / TASK_TANH /
// TASK_MIXTURE / TASK_DATASET for every kind some phase of the plan uses, TASK_KIND(inst) (the
// instance's kind: a literal where the plan uses one), TANH_HIDDEN(inst), the sizes N_IN, N_OUT,
// HIDDEN (the largest hidden layer), the lane count E_PAD, the rows of the per-instance ulong
// table (PL_TSEED, PL_TASK, PL_ROWS, PL_NROWS, PL_NDATA, and PL_SCALE where some phase scales the
// input) and the element offsets of the current sample in the state arena (S_XCUR, S_YCUR).
// Entering a protocol phase rewrites the PL rows: the instance's task is then another block of
// the task data (uploaded once for every phase), with its own seed.
//
// Task data at PL[PL_TASK] (per instance, deduplicated where equal):
//   linear:  input_std, T (N_OUT x N_IN)
//   tanh:    input_std, V1 (hidden x N_IN), V2 (N_OUT x hidden)
//   mixture: input_std, means (N_OUT x N_IN)
//   dataset: inputs (rows x N_IN), targets (rows x N_OUT); training rows in TR at PL[PL_ROWS]
// and the input scale at TD[PL[PL_SCALE]], which multiplies the inputs in `taskt` (as the CPU
// multiplies them in f64) before they are rounded to `real`.

#define STREAM_TRAIN 2u
#define STREAM_TRAIN_CLASS 3u
#define XS_STRIDE (N_IN + N_OUT + HIDDEN)
#define KIND_LINEAR 0u
#define KIND_TANH 1u
#define KIND_MIXTURE 2u
#define KIND_DATASET 3u

inline void gen_sample(uint inst, ulong k, __global const ulong *PL, __global const taskt *TD,
                       __global const uint *TR, __global taskt *XS, __global real *S) {
    // Plain multiply-adds, so that the sample is rounded exactly as on the host.
#pragma OPENCL FP_CONTRACT OFF
    const ulong seed = PL[PL_TSEED * E_PAD + inst];
    __global const taskt *td = TD + PL[PL_TASK * E_PAD + inst];
    __global taskt *xs = XS + (ulong)inst * XS_STRIDE;
    __global taskt *ys = xs + N_IN;
    const uint kind = TASK_KIND(inst);
#if defined(TASK_DATASET)
    if (kind == KIND_DATASET) {
        uint u[4];
        draw_block_s(seed, STREAM_TRAIN, k, 0, u);
        uint row = TR[PL[PL_ROWS * E_PAD + inst] + pick_index(u[0], (uint)PL[PL_NROWS * E_PAD + inst])];
        __global const taskt *inputs = td;
        __global const taskt *targets = td + PL[PL_NDATA * E_PAD + inst] * N_IN;
        for (uint c = 0; c < N_IN; c++) xs[c] = inputs[(ulong)row * N_IN + c];
        for (uint c = 0; c < N_OUT; c++) ys[c] = targets[(ulong)row * N_OUT + c];
    }
#endif
#if defined(TASK_LINEAR) || defined(TASK_TANH) || defined(TASK_MIXTURE)
    if (kind != KIND_DATASET) {
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
    }
#endif
#if defined(TASK_LINEAR)
    if (kind == KIND_LINEAR) {
        __global const taskt *m = td + 1;
        for (uint r = 0; r < N_OUT; r++) {
            taskt acc = 0;
            for (uint c = 0; c < N_IN; c++) acc += m[r * N_IN + c] * xs[c];
            ys[r] = acc;
        }
    }
#endif
#if defined(TASK_TANH)
    if (kind == KIND_TANH) {
        const uint hidden = TANH_HIDDEN(inst);
        __global const taskt *v1 = td + 1;
        __global const taskt *v2 = v1 + hidden * N_IN;
        for (uint r = 0; r < N_OUT; r++) ys[r] = 0;
        for (uint j = 0; j < hidden; j++) {
            taskt acc = 0;
            for (uint c = 0; c < N_IN; c++) acc += v1[j * N_IN + c] * xs[c];
            taskt h = tanh(acc);
            for (uint r = 0; r < N_OUT; r++) ys[r] += v2[r * hidden + j] * h;
        }
    }
#endif
#if defined(TASK_MIXTURE)
    if (kind == KIND_MIXTURE) {
        __global const taskt *means = td + 1;
        uint u[4];
        draw_block_s(seed, STREAM_TRAIN_CLASS, k, 0, u);
        uint cls = pick_index(u[0], N_OUT);
        for (uint c = 0; c < N_IN; c++) xs[c] += means[cls * N_IN + c];
        for (uint r = 0; r < N_OUT; r++) ys[r] = (r == cls) ? 1 : 0;
    }
#endif
#ifdef PL_SCALE
    const taskt scale = TD[PL[PL_SCALE * E_PAD + inst]];
    for (uint c = 0; c < N_IN; c++) S[(S_XCUR + c) * E_PAD + inst] = (real)(xs[c] * scale);
#else
    for (uint c = 0; c < N_IN; c++) S[(S_XCUR + c) * E_PAD + inst] = (real)xs[c];
#endif
    for (uint r = 0; r < N_OUT; r++) S[(S_YCUR + r) * E_PAD + inst] = (real)ys[r];
}
