// The ensemble kernel: one work-item advances V interleaved instances (lanes) through `nsteps`
// whole steps, in the CPU engine's step order (src/backend/cpu/block.rs):
//   1. stimulus, 2. instantaneous populations, 3. inputs of rate populations, then the ring
//   buffers take this step's rates, 4. window accumulators, 5. plasticity, 6. integration,
//   tied copies.
// The step body is generated from the plan (src/backend/opencl/codegen.rs) and pasted below.
//
// Buffers are instance-interleaved: element k of lane l is at (k * E_PAD + l); this work-item's
// lanes form one vector, read with LDV(ptr, k * EV) after offsetting ptr by g * V. GROUPS
// work-items run; E_PAD may hold one group of padding more (an odd stride, see model.rs).

__kernel void run(__global real *restrict W, __global real *restrict S,
                  __global const real *restrict P, __global const ulong *restrict PL,
                  __global const uint *restrict PU, __global const taskt *restrict TD,
                  __global const uint *restrict TR, __global taskt *restrict XS,
                  __global real *restrict A, __global acct *restrict LOSS,
                  __global uint *restrict CNT, __global ulong *restrict SAMPLE,
                  __global real *restrict TRACE, const ulong step0, const uint nsteps) {
    const uint g = get_global_id(0);
    if (g >= GROUPS) return;
    __global real *w = W + g * V;
    __global real *s = S + g * V;
    __global const real *p = P + g * V;
    __global real *a = A + g * V;
    __global acct *lossp = LOSS + g * V;
    __global uint *cntp = CNT + g * V;
    // The lanes' Philox keys (seed low and high words), for noise.
    const uintv k0 = LDW(PU + g * V, 0), k1 = LDW(PU + g * V, EV);
    // Per lane: the stimulus period, its presented part and the phase of step0 in it.
/*@PROLOGUE@*/
    for (uint it = 0; it < nsteps; it++) {
        const ulong n = step0 + it;
/*@STEP@*/
    }
}
