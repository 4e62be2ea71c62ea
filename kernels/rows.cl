// The kernels of one large instance: each step is a short sequence of kernels, each parallel
// across the units (rows) of its populations and vectorised with `realc` (C lanes):
//   inst_<p>   an instantaneous population (in the plan's order), C units per work-item
//   integrate  inputs and integration of the rate populations (u, z of step n + 1);
//              instantaneous populations no projection reads (e.g. a local error δ);
//              the driven populations of step n + 1; loss, counts and traces (last item)
//   delta_<p>, outer   the backprop reference and the window's outer products (when asked)
//   update     every motif's plasticity, fused with the next step's product W·x where the
//              presynaptic rates are already known, so each weight is read and written once;
//              also the instantaneous populations of step n + 1 whose inputs are fixed
//              matrices from driven or rate populations (e.g. the output error)
//   wnoise, tied       weight noise and tied transposes
//   stim, drive        a new training sample (when due); step 0's driven populations
// u and z exist twice (parity n & 1): a step reads the current copy and writes the next one.
// Tall matrices with rows shorter than C are stored transposed ([pre][post]) so that vectors
// run along their long side. The bodies are generated from the plan (src/backend/opencl/rows.rs),
// each as a function of its work-item (`NAME_at`) that its kernel calls; where steps are small,
//   steps      runs `count` steps of the sequence above in one work-item, each kernel as a
//              loop over its items, for the steps in which no stimulus arrives or changes
//              (CPU devices only, where launches cost more than the loop)

#define KARGS                                                                                \
    __global real *restrict W, __global real *restrict S, __global const real *restrict P,   \
        __global const ulong *restrict PL, __global const uint *restrict PU,                 \
        __global const taskt *restrict TD, __global const uint *restrict TR,                 \
        __global taskt *restrict XS, __global real *restrict A, __global acct *restrict LOSS, \
        __global uint *restrict CNT, __global ulong *restrict SAMPLE,                        \
        __global real *restrict TRACE, const ulong n, const uint flag

// The arguments of a kernel passed on to a kernel body (`NAME_at`) at step `step`.
#define KCALL(step) W, S, P, PL, PU, TD, TR, XS, A, LOSS, CNT, SAMPLE, TRACE, (step), flag

// Activation functions on C units at once.
#define SEL_c(a, b, c) select((a), (b), (c))
ACT_DEFINE(_c, realc, (realc)0, (realc)1)

// Σ_j a[j] b[j], vectorised.
inline real dotc(__global const real *a, __global const real *b, uint len) {
    realc acc = (realc)0;
    uint j = 0;
    for (; j + C <= len; j += C) acc += LDC(a + j) * LDC(b + j);
    real sum = hsumc(acc);
    for (; j < len; j++) sum += a[j] * b[j];
    return sum;
}

__kernel void stim(KARGS) {
    const ulong per = PL[PL_PERIOD];
    const ulong k = n / per;
    gen_sample(0, k, PL, TD, TR, XS, S);
    SAMPLE[0] = k;
}

/*@KERNELS@*/
