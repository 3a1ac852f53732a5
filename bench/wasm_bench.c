/*
 * The benchmark's own WebAssembly module (bench/build_wasm.sh): the library's sources plus these exports, built
 * -sSTANDALONE_WASM --no-entry -msimd128 -O3 and loaded by bench/ourwasm.mjs (no Emscripten JS glue).
 *
 *   bw_load(ptr, size)                     load a safetensors image from memory; 0 on success
 *   bw_forward(n, x, t, y, out)            one U-Net evaluation of a batch; 0 on success
 *   bw_sample(sampler, steps, batch, class, seed, out)   a whole sampling run (sampler 0 = ddpm, 1 = ddim)
 *   bw_flops()                             the network's flops per image
 *   bw_peak(iters, k, c)                       f32x4 multiply and add peak loop: returns the flops it performed
 */
#include "ddpm.h"
#include "ddpm_debug.h"

#include <stdint.h>
#include <stdlib.h>
#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

static ddpm_model *g_model;
static ddpm_error g_err;
volatile float g_sink;

const char *bw_error(void) { return g_err.message; }

int bw_load(const void *data, int size) {
    if (g_model) ddpm_model_free(g_model), g_model = NULL;
    return ddpm_model_load_buffer(data, (size_t)size, &g_model, &g_err);
}

int bw_set_scalar(int scalar) {
    if (!g_model) return -1;
    ddpm_model_set_kernels(g_model, scalar ? DDPM_KERNELS_SCALAR : DDPM_KERNELS_SIMD);
    return 0;
}

double bw_flops(void) { return g_model ? ddpm_model_flops(g_model) : 0.0; }

int bw_forward(int n, const float *x, const float *t, const int *y, float *out) {
    return ddpm_model_forward(g_model, n, x, t, y, out, &g_err);
}

int bw_sample(int sampler, int steps, int batch, int cls, int seed, float *out) {
    ddpm_sample_params p = ddpm_sample_default_params();
    p.sampler = sampler ? "ddim" : "ddpm";
    p.steps = steps;
    p.batch = batch;
    p.class_label = cls;
    p.seed = (uint64_t)seed;
    return ddpm_sample(g_model, &p, out, NULL, NULL, &g_err);
}

/* 6 independent multiply chains and 6 independent add chains (14 vector registers with k and c; baseline SIMD128
 * has no FMA): 48 flops per iteration, no loads. k and c come from the caller, so nothing folds. */
double bw_peak(int iters, float kf, float cf) {
#if defined(__wasm_simd128__)
    /* different start values so that no two chains are the same expression; k, c come from the caller */
    v128_t m0 = wasm_f32x4_splat(1.0f), m1 = wasm_f32x4_splat(1.1f), m2 = wasm_f32x4_splat(1.2f),
           m3 = wasm_f32x4_splat(1.3f), m4 = wasm_f32x4_splat(1.4f), m5 = wasm_f32x4_splat(1.5f),
           m6 = wasm_f32x4_splat(1.6f), m7 = wasm_f32x4_splat(1.7f);
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = wasm_f32x4_splat(0.1f), a2 = wasm_f32x4_splat(0.2f),
           a3 = wasm_f32x4_splat(0.3f), a4 = wasm_f32x4_splat(0.4f), a5 = wasm_f32x4_splat(0.5f),
           a6 = wasm_f32x4_splat(0.6f), a7 = wasm_f32x4_splat(0.7f);
    const v128_t k = wasm_f32x4_splat(kf), c = wasm_f32x4_splat(cf);
    for (int i = 0; i < iters; i++) {
        m0 = wasm_f32x4_mul(m0, k); a0 = wasm_f32x4_add(a0, c);
        m1 = wasm_f32x4_mul(m1, k); a1 = wasm_f32x4_add(a1, c);
        m2 = wasm_f32x4_mul(m2, k); a2 = wasm_f32x4_add(a2, c);
        m3 = wasm_f32x4_mul(m3, k); a3 = wasm_f32x4_add(a3, c);
        m4 = wasm_f32x4_mul(m4, k); a4 = wasm_f32x4_add(a4, c);
        m5 = wasm_f32x4_mul(m5, k); a5 = wasm_f32x4_add(a5, c);
    }
    v128_t s = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(m0, m1), wasm_f32x4_add(m2, m3)),
                              wasm_f32x4_add(wasm_f32x4_add(m4, m5), wasm_f32x4_add(m6, m7)));
    s = wasm_f32x4_add(s, wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)),
                                         wasm_f32x4_add(wasm_f32x4_add(a4, a5), wasm_f32x4_add(a6, a7))));
    g_sink = wasm_f32x4_extract_lane(s, 0);
    return 48.0 * iters;
#else
    (void)iters, (void)kf, (void)cf;
    return 0.0;
#endif
}
