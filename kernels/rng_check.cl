// Fills buffers with draw (seed, stream, counter) as src/rng.rs (and, for the noise normals,
// src/normals.rs) does: element e is lane e % 4 of
// block e / 4. Used by the tests that hold the device generator to the host one.
__kernel void rng_fill(ulong seed, uint stream, ulong counter, uint n, __global uint *words,
                       __global float *normals32, __global float *noise32
#ifdef HAS_FP64
                       , __global double *normals64, __global double *noise64
#endif
) {
    uint b = get_global_id(0);
    if (4 * b >= n) return;
    uint u[4];
    draw_block_s(seed, stream, counter, b, u);
    float f[4], g[4];
    normals_f32_s(u, f);
    noise_box_muller_f32_s(u, g);
#ifdef HAS_FP64
    double d[4], e[4];
    normals_f64_s(u, d);
    noise_box_muller_s(u, e);
#endif
    for (uint t = 0; t < 4 && 4 * b + t < n; t++) {
        words[4 * b + t] = u[t];
        normals32[4 * b + t] = f[t];
        noise32[4 * b + t] = g[t];
#ifdef HAS_FP64
        normals64[4 * b + t] = d[t];
        noise64[4 * b + t] = e[t];
#endif
    }
}
