/*
 * The vector layer: a few 4-lane float32 (and int32) operations mapped onto each ISA.
 *
 *   WebAssembly SIMD128 (wasm_simd128.h)   when __wasm_simd128__
 *   x86 SSE2 (emmintrin.h)                 when __SSE2__ (every x86-64)
 *   plain C structs                        elsewhere
 *
 * All three are 4 lanes wide on purpose: a kernel written with these macros performs the same IEEE operations in
 * the same order on every backend, so the native x86 build and the wasm build give bit-identical results (the build
 * disables FP contraction; no backend here fuses multiply-add). Natively on x86, wide.h runs the GEMMs and the
 * fused GroupNorm-affine + SiLU with 8 or 16 lanes; those loops apply the same per-element operations, so the bits hold.
 */
#ifndef DDPM_SIMD_H
#define DDPM_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define DDPM_SIMD_NAME "wasm-simd128"
typedef v128_t vf4;
typedef v128_t vi4;
static inline vf4 vf4_load(const float *p) { return wasm_v128_load(p); }
static inline void vf4_store(float *p, vf4 v) { wasm_v128_store(p, v); }
static inline vf4 vf4_splat(float x) { return wasm_f32x4_splat(x); }
static inline vf4 vf4_add(vf4 a, vf4 b) { return wasm_f32x4_add(a, b); }
static inline vf4 vf4_sub(vf4 a, vf4 b) { return wasm_f32x4_sub(a, b); }
static inline vf4 vf4_mul(vf4 a, vf4 b) { return wasm_f32x4_mul(a, b); }
static inline vf4 vf4_div(vf4 a, vf4 b) { return wasm_f32x4_div(a, b); }
/* max/min with x86 semantics (second operand when either is NaN or both are zeros) so backends agree */
static inline vf4 vf4_max(vf4 a, vf4 b) { return wasm_f32x4_pmax(b, a); }
static inline vf4 vf4_min(vf4 a, vf4 b) { return wasm_f32x4_pmin(b, a); }
static inline vi4 vf4_to_i4_trunc(vf4 a) { return wasm_i32x4_trunc_sat_f32x4(a); }
static inline vf4 vi4_to_f4(vi4 a) { return wasm_f32x4_convert_i32x4(a); }
static inline vi4 vi4_add(vi4 a, vi4 b) { return wasm_i32x4_add(a, b); }
static inline vi4 vi4_sub(vi4 a, vi4 b) { return wasm_i32x4_sub(a, b); }
static inline vi4 vi4_splat(int32_t x) { return wasm_i32x4_splat(x); }
static inline vi4 vi4_shl(vi4 a, int n) { return wasm_i32x4_shl(a, n); }
static inline vf4 vf4_and(vf4 a, vf4 b) { return wasm_v128_and(a, b); }
static inline vf4 vf4_or(vf4 a, vf4 b) { return wasm_v128_or(a, b); }
static inline vf4 vi4_as_f4(vi4 a) { return a; }
static inline vi4 vf4_as_i4(vf4 a) { return a; }
static inline float vf4_hsum(vf4 v) {
    /* fixed order: (l0 + l1) + (l2 + l3) */
    return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
           (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}
/* 4x4 transpose: rows r0..r3 become columns (pure data movement, identical on every backend) */
static inline void vf4_transpose4(vf4 *r0, vf4 *r1, vf4 *r2, vf4 *r3) {
    const v128_t t0 = wasm_i32x4_shuffle(*r0, *r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(*r0, *r1, 2, 6, 3, 7);
    const v128_t t2 = wasm_i32x4_shuffle(*r2, *r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(*r2, *r3, 2, 6, 3, 7);
    *r0 = wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5);
    *r1 = wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7);
    *r2 = wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5);
    *r3 = wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7);
}
static inline float vf4_hmax(vf4 v) {
    float a = wasm_f32x4_extract_lane(v, 0), b = wasm_f32x4_extract_lane(v, 1);
    float c = wasm_f32x4_extract_lane(v, 2), d = wasm_f32x4_extract_lane(v, 3);
    float m1 = a > b ? a : b, m2 = c > d ? c : d;
    return m1 > m2 ? m1 : m2;
}

#elif defined(__SSE2__)
#include <emmintrin.h>
#define DDPM_SIMD_NAME "sse2"
typedef __m128 vf4;
typedef __m128i vi4;
static inline vf4 vf4_load(const float *p) { return _mm_loadu_ps(p); }
static inline void vf4_store(float *p, vf4 v) { _mm_storeu_ps(p, v); }
static inline vf4 vf4_splat(float x) { return _mm_set1_ps(x); }
static inline vf4 vf4_add(vf4 a, vf4 b) { return _mm_add_ps(a, b); }
static inline vf4 vf4_sub(vf4 a, vf4 b) { return _mm_sub_ps(a, b); }
static inline vf4 vf4_mul(vf4 a, vf4 b) { return _mm_mul_ps(a, b); }
static inline vf4 vf4_div(vf4 a, vf4 b) { return _mm_div_ps(a, b); }
static inline vf4 vf4_max(vf4 a, vf4 b) { return _mm_max_ps(a, b); }
static inline vf4 vf4_min(vf4 a, vf4 b) { return _mm_min_ps(a, b); }
static inline vi4 vf4_to_i4_trunc(vf4 a) { return _mm_cvttps_epi32(a); }
static inline vf4 vi4_to_f4(vi4 a) { return _mm_cvtepi32_ps(a); }
static inline vi4 vi4_add(vi4 a, vi4 b) { return _mm_add_epi32(a, b); }
static inline vi4 vi4_sub(vi4 a, vi4 b) { return _mm_sub_epi32(a, b); }
static inline vi4 vi4_splat(int32_t x) { return _mm_set1_epi32(x); }
static inline vi4 vi4_shl(vi4 a, int n) { return _mm_slli_epi32(a, n); }
static inline vf4 vf4_and(vf4 a, vf4 b) { return _mm_and_ps(a, b); }
static inline vf4 vf4_or(vf4 a, vf4 b) { return _mm_or_ps(a, b); }
static inline vf4 vi4_as_f4(vi4 a) { return _mm_castsi128_ps(a); }
static inline vi4 vf4_as_i4(vf4 a) { return _mm_castps_si128(a); }
static inline float vf4_hsum(vf4 v) {
    float l[4];
    _mm_storeu_ps(l, v);
    return (l[0] + l[1]) + (l[2] + l[3]);
}
static inline void vf4_transpose4(vf4 *r0, vf4 *r1, vf4 *r2, vf4 *r3) {
    const __m128 t0 = _mm_unpacklo_ps(*r0, *r1), t1 = _mm_unpackhi_ps(*r0, *r1);
    const __m128 t2 = _mm_unpacklo_ps(*r2, *r3), t3 = _mm_unpackhi_ps(*r2, *r3);
    *r0 = _mm_movelh_ps(t0, t2);
    *r1 = _mm_movehl_ps(t2, t0);
    *r2 = _mm_movelh_ps(t1, t3);
    *r3 = _mm_movehl_ps(t3, t1);
}
static inline float vf4_hmax(vf4 v) {
    float l[4];
    _mm_storeu_ps(l, v);
    float m1 = l[0] > l[1] ? l[0] : l[1], m2 = l[2] > l[3] ? l[2] : l[3];
    return m1 > m2 ? m1 : m2;
}

#else
#define DDPM_SIMD_NAME "scalar"
typedef struct { float v[4]; } vf4;
typedef struct { int32_t v[4]; } vi4;
#define DDPM_V4_MAP(T, expr) T r; for (int i_ = 0; i_ < 4; i_++) r.v[i_] = (expr); return r
static inline vf4 vf4_load(const float *p) { vf4 r; memcpy(r.v, p, 16); return r; }
static inline void vf4_store(float *p, vf4 v) { memcpy(p, v.v, 16); }
static inline vf4 vf4_splat(float x) { DDPM_V4_MAP(vf4, x); }
static inline vf4 vf4_add(vf4 a, vf4 b) { DDPM_V4_MAP(vf4, a.v[i_] + b.v[i_]); }
static inline vf4 vf4_sub(vf4 a, vf4 b) { DDPM_V4_MAP(vf4, a.v[i_] - b.v[i_]); }
static inline vf4 vf4_mul(vf4 a, vf4 b) { DDPM_V4_MAP(vf4, a.v[i_] * b.v[i_]); }
static inline vf4 vf4_div(vf4 a, vf4 b) { DDPM_V4_MAP(vf4, a.v[i_] / b.v[i_]); }
static inline vf4 vf4_max(vf4 a, vf4 b) { DDPM_V4_MAP(vf4, a.v[i_] > b.v[i_] ? a.v[i_] : b.v[i_]); }
static inline vf4 vf4_min(vf4 a, vf4 b) { DDPM_V4_MAP(vf4, a.v[i_] < b.v[i_] ? a.v[i_] : b.v[i_]); }
static inline vi4 vf4_to_i4_trunc(vf4 a) { DDPM_V4_MAP(vi4, (int32_t)a.v[i_]); }
static inline vf4 vi4_to_f4(vi4 a) { DDPM_V4_MAP(vf4, (float)a.v[i_]); }
static inline vi4 vi4_add(vi4 a, vi4 b) { DDPM_V4_MAP(vi4, (int32_t)((uint32_t)a.v[i_] + (uint32_t)b.v[i_])); }
static inline vi4 vi4_sub(vi4 a, vi4 b) { DDPM_V4_MAP(vi4, (int32_t)((uint32_t)a.v[i_] - (uint32_t)b.v[i_])); }
static inline vi4 vi4_splat(int32_t x) { DDPM_V4_MAP(vi4, x); }
static inline vi4 vi4_shl(vi4 a, int n) { DDPM_V4_MAP(vi4, (int32_t)((uint32_t)a.v[i_] << n)); }
static inline vf4 vi4_as_f4(vi4 a) { vf4 r; memcpy(r.v, a.v, 16); return r; }
static inline vi4 vf4_as_i4(vf4 a) { vi4 r; memcpy(r.v, a.v, 16); return r; }
static inline vf4 vf4_and(vf4 a, vf4 b) {
    vi4 x = vf4_as_i4(a), y = vf4_as_i4(b), r;
    for (int i = 0; i < 4; i++) r.v[i] = x.v[i] & y.v[i];
    return vi4_as_f4(r);
}
static inline vf4 vf4_or(vf4 a, vf4 b) {
    vi4 x = vf4_as_i4(a), y = vf4_as_i4(b), r;
    for (int i = 0; i < 4; i++) r.v[i] = x.v[i] | y.v[i];
    return vi4_as_f4(r);
}
static inline float vf4_hsum(vf4 v) { return (v.v[0] + v.v[1]) + (v.v[2] + v.v[3]); }
static inline void vf4_transpose4(vf4 *r0, vf4 *r1, vf4 *r2, vf4 *r3) {
    vf4 *r[4] = {r0, r1, r2, r3}, t[4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) t[i].v[j] = r[j]->v[i];
    for (int i = 0; i < 4; i++) *r[i] = t[i];
}
static inline float vf4_hmax(vf4 v) {
    float m1 = v.v[0] > v.v[1] ? v.v[0] : v.v[1], m2 = v.v[2] > v.v[3] ? v.v[2] : v.v[3];
    return m1 > m2 ? m1 : m2;
}
#endif


/* The register block of the 4-lane GEMMs (kernels_simd.c's conv GEMM, winograd_simd.c's 36 tile GEMMs), written
 * once: C[r][0..8) = init[r] + sum_k a_r[k] B[k][0..8) for the four rows r, B's rows ldb apart, C's rows ldc apart.
 * Each element's sum runs k = 0, 1, ... with one rounding per product and per add, so it is bitwise the scalar
 * loop's. */
static inline void vf4_tile_4x8(int K, const float *a0, const float *a1, const float *a2, const float *a3,
                                const float *B, size_t ldb, const float init[4], float *C, size_t ldc) {
    vf4 c00 = vf4_splat(init[0]), c01 = c00, c10 = vf4_splat(init[1]), c11 = c10;
    vf4 c20 = vf4_splat(init[2]), c21 = c20, c30 = vf4_splat(init[3]), c31 = c30;
    const float *bp = B;
    for (int k = 0; k < K; k++, bp += ldb) {
        const vf4 x0 = vf4_load(bp), x1 = vf4_load(bp + 4);
        vf4 w = vf4_splat(a0[k]);
        c00 = vf4_add(c00, vf4_mul(w, x0));
        c01 = vf4_add(c01, vf4_mul(w, x1));
        w = vf4_splat(a1[k]);
        c10 = vf4_add(c10, vf4_mul(w, x0));
        c11 = vf4_add(c11, vf4_mul(w, x1));
        w = vf4_splat(a2[k]);
        c20 = vf4_add(c20, vf4_mul(w, x0));
        c21 = vf4_add(c21, vf4_mul(w, x1));
        w = vf4_splat(a3[k]);
        c30 = vf4_add(c30, vf4_mul(w, x0));
        c31 = vf4_add(c31, vf4_mul(w, x1));
    }
    vf4_store(C, c00);
    vf4_store(C + 4, c01);
    vf4_store(C + ldc, c10);
    vf4_store(C + ldc + 4, c11);
    vf4_store(C + 2 * ldc, c20);
    vf4_store(C + 2 * ldc + 4, c21);
    vf4_store(C + 3 * ldc, c30);
    vf4_store(C + 3 * ldc + 4, c31);
}

#endif
