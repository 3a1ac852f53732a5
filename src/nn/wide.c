/*
 * AVX2 / AVX-512F paths with the 4-lane kernels' per-element operations (see wide.h), each written once as a macro
 * over the vector type and instantiated for 8 and 16 lanes:
 *   GEMM blocks        R rows x V vectors of accumulators in registers: C[r, v] starts at bias[r] (or 0) and adds
 *                      a[r, k] * b[k, v] for k = 0, 1, ..., K - 1, one multiply and one add per term;
 *   affine + SiLU      simd_math.h's exp and SiLU, lane by lane;
 *   Winograd output    A^T M A and the biases with the couts in the lanes (winograd_simd.c's output_tile);
 *   Winograd input     B^T d B with 8 / 16 channels interleaved in P (winograd_simd.c's input_tile).
 * The CPU's level is probed once (__builtin_cpu_supports also checks that the OS saves the wide registers).
 */
#include "nn/wide.h"
#include "nn/kernels.h"
#include "nn/winograd.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__wasm__)

#include <immintrin.h>
#include <stddef.h>
#include <stdatomic.h>

/* One R x (V * W) block: A: rows r of stride lda; B: [K, ldb] starting at column 0 of the block; C likewise. */
#define DDPM_WIDE_BLOCK(NAME, TGT, VT, W, SET1, LOAD, STORE, ADD, MUL, R, V)                                       \
    __attribute__((target(TGT))) static void NAME(int K, const float *A, int lda, const float *B, int ldb, float *C, \
                                                  int ldc, const float *bias) {                                     \
        VT acc[R][V];                                                                                               \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                                       \
            const VT b0 = SET1(bias ? bias[r] : 0.0f);                                                              \
            _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) acc[r][v] = b0;                                     \
        }                                                                                                           \
        for (int k = 0; k < K; k++) {                                                                               \
            const float *bp = B + (size_t)k * ldb;                                                                  \
            VT b[V];                                                                                                \
            _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) b[v] = LOAD(bp + W * v);                            \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                                   \
                const VT a = SET1(A[(size_t)r * lda + k]);                                                          \
                _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) acc[r][v] = ADD(acc[r][v], MUL(a, b[v]));       \
            }                                                                                                       \
        }                                                                                                           \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                                         \
            _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) STORE(C + (size_t)r * ldc + W * v, acc[r][v]);      \
    }

#define Y8(NAME, R, V) \
    DDPM_WIDE_BLOCK(NAME, "avx2", __m256, 8, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, _mm256_mul_ps, R, V)
#define Z16(NAME, R, V) \
    DDPM_WIDE_BLOCK(NAME, "avx512f", __m512, 16, _mm512_set1_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps, _mm512_mul_ps, R, V)

/* AVX2: 16 registers; blocks of 6 x 16 columns (12 accumulators), 6 x 8, and single rows. */
Y8(y_6x2, 6, 2)
Y8(y_6x1, 6, 1)
Y8(y_1x2, 1, 2)
Y8(y_1x1, 1, 1)
/* AVX-512F: 32 registers; blocks of 8 x 48 columns (24 accumulators), 8 x 32, 8 x 16, and single rows. */
Z16(z_8x3, 8, 3)
Z16(z_8x2, 8, 2)
Z16(z_8x1, 8, 1)
Z16(z_1x3, 1, 3)
Z16(z_1x1, 1, 1)

typedef void (*block_fn)(int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                         const float *bias);

/* Columns [0, n_end) of rows [m0, m0 + rows) with one block shape: `fn` covers `cols` columns per call. */
static int run_cols(block_fn fn, int cols, int n0, int n_end, int m0, int K, const float *A, int lda, const float *B,
                    int ldb, float *C, int ldc, const float *bias) {
    int n = n0;
    for (; n + cols <= n_end; n += cols)
        fn(K, A + (size_t)m0 * lda, lda, B + n, ldb, C + (size_t)m0 * ldc + n, ldc, bias ? bias + m0 : NULL);
    return n;
}

static void gemm_avx2(int M, int N8, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                      const float *bias) {
    int m = 0;
    for (; m + 6 <= M; m += 6) {
        int n = run_cols(y_6x2, 16, 0, N8, m, K, A, lda, B, ldb, C, ldc, bias);
        run_cols(y_6x1, 8, n, N8, m, K, A, lda, B, ldb, C, ldc, bias);
    }
    for (; m < M; m++) {
        int n = run_cols(y_1x2, 16, 0, N8, m, K, A, lda, B, ldb, C, ldc, bias);
        run_cols(y_1x1, 8, n, N8, m, K, A, lda, B, ldb, C, ldc, bias);
    }
}

static void gemm_avx512(int M, int N8, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                        const float *bias) {
    int m = 0;
    for (; m + 8 <= M; m += 8) {
        int n = run_cols(z_8x3, 48, 0, N8, m, K, A, lda, B, ldb, C, ldc, bias);
        n = run_cols(z_8x2, 32, n, N8, m, K, A, lda, B, ldb, C, ldc, bias);
        n = run_cols(z_8x1, 16, n, N8, m, K, A, lda, B, ldb, C, ldc, bias);
        if (n < N8) {
            /* a last 8 columns: 8 rows through the AVX2 block shape, one row at a time */
            for (int r = 0; r < 8; r++) run_cols(y_1x1, 8, n, N8, m + r, K, A, lda, B, ldb, C, ldc, bias);
        }
    }
    for (; m < M; m++) {
        int n = run_cols(z_1x3, 48, 0, N8, m, K, A, lda, B, ldb, C, ldc, bias);
        n = run_cols(z_1x1, 16, n, N8, m, K, A, lda, B, ldb, C, ldc, bias);
        run_cols(y_1x1, 8, n, N8, m, K, A, lda, B, ldb, C, ldc, bias);
    }
}

/* ---- affine + SiLU, lane by lane as simd_math.h ---- */

#define DDPM_WIDE_SILU(NAME, TGT, VT, VI, W, P, F2I, I2F)                                                                     \
    __attribute__((target(TGT))) static void NAME(const float *x, float *y, int n, float scale, float shift,         \
                                                  int silu) {                                                       \
        const VT sc = P##_set1_ps(scale), sh = P##_set1_ps(shift);                                                  \
        int i = 0;                                                                                                  \
        for (; i < n; i += W) {                                                                                     \
            VT v;                                                                                                   \
            float tail[W];                                                                                          \
            const int m = n - i < W ? n - i : W;                                                                    \
            if (m == W) {                                                                                           \
                v = P##_loadu_ps(x + i);                                                                            \
            } else {                                                                                                \
                for (int j = 0; j < W; j++) tail[j] = j < m ? x[i + j] : 0.0f;                                      \
                v = P##_loadu_ps(tail);                                                                             \
            }                                                                                                       \
            v = P##_add_ps(P##_mul_ps(v, sc), sh);                                                                  \
            if (silu) {                                                                                             \
                VT e = P##_sub_ps(P##_setzero_ps(), v);                                                             \
                e = P##_max_ps(e, P##_set1_ps(-87.0f));                                                             \
                e = P##_min_ps(e, P##_set1_ps(88.0f));                                                              \
                const VT yy = P##_mul_ps(e, P##_set1_ps(1.44269504088896341f));                                     \
                const VT t = P##_add_ps(yy, P##_set1_ps(12582912.0f));                                              \
                const VT nf = P##_sub_ps(t, P##_set1_ps(12582912.0f));                                              \
                const VT r = P##_sub_ps(P##_sub_ps(e, P##_mul_ps(nf, P##_set1_ps(0.693145751953125f))),             \
                                        P##_mul_ps(nf, P##_set1_ps(1.42860682030941723e-6f)));                      \
                VT p = P##_set1_ps(1.0f / 5040.0f);                                                                 \
                p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(1.0f / 720.0f));                                       \
                p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(1.0f / 120.0f));                                       \
                p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(1.0f / 24.0f));                                        \
                p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(1.0f / 6.0f));                                         \
                p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(0.5f));                                                \
                p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(1.0f));                                                \
                p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(1.0f));                                                \
                const VI bits = P##_sub_epi32(F2I(t), P##_set1_epi32(0x4B400000 - 127));             \
                const VT scale2 = I2F(P##_slli_epi32(bits, 23));                                    \
                v = P##_div_ps(v, P##_add_ps(P##_set1_ps(1.0f), P##_mul_ps(p, scale2)));                            \
            }                                                                                                       \
            if (m == W) {                                                                                           \
                P##_storeu_ps(y + i, v);                                                                            \
            } else {                                                                                                \
                P##_storeu_ps(tail, v);                                                                             \
                for (int j = 0; j < m; j++) y[i + j] = tail[j];                                                     \
            }                                                                                                       \
        }                                                                                                           \
    }

DDPM_WIDE_SILU(silu_avx2, "avx2", __m256, __m256i, 8, _mm256, _mm256_castps_si256, _mm256_castsi256_ps)
DDPM_WIDE_SILU(silu_avx512, "avx512f", __m512, __m512i, 16, _mm512, _mm512_castps_si512, _mm512_castsi512_ps)

/* ---- Winograd output transform, couts in the lanes, as winograd_simd.c's output_tile does with 4 ---- */

#define DDPM_WIDE_WINO_OUT(NAME, TGT, VT, W, P, MASKLOAD)                                                             \
    __attribute__((target(TGT))) static void NAME(const float *m, size_t ms, int c0, int c1, int cout,                \
                                                  const float *bias, const float *bias2, float *o, int ldo) {          \
        const VT c2 = P##_set1_ps(2.0f), c4 = P##_set1_ps(4.0f), c8 = P##_set1_ps(8.0f);                             \
        for (int co = c0; co + W <= c1; co += W) {                                                                     \
            VT t[4][6], r4[4][4];                                                                                      \
            for (int j = 0; j < 6; j++) {                                                                              \
                VT col[6], r[4];                                                                                       \
                for (int i = 0; i < 6; i++) col[i] = P##_loadu_ps(m + (size_t)(i * 6 + j) * ms + co);                 \
                DDPM_WINO_AT(VT, P##_add_ps, P##_sub_ps, P##_mul_ps, c2, c4, c8, col, r);                              \
                for (int i = 0; i < 4; i++) t[i][j] = r[i];                                                            \
            }                                                                                                          \
            for (int i = 0; i < 4; i++) DDPM_WINO_AT(VT, P##_add_ps, P##_sub_ps, P##_mul_ps, c2, c4, c8, t[i], r4[i]); \
            const int nc = cout - co < W ? (cout - co > 0 ? cout - co : 0) : W;                                        \
            if (bias) {                                                                                                \
                const VT b = MASKLOAD(bias + co, nc);                                                                  \
                for (int i = 0; i < 4; i++)                                                                            \
                    for (int j = 0; j < 4; j++) r4[i][j] = P##_add_ps(r4[i][j], b);                                    \
            }                                                                                                          \
            if (bias2) {                                                                                               \
                const VT b = MASKLOAD(bias2 + co, nc);                                                                 \
                for (int i = 0; i < 4; i++)                                                                            \
                    for (int j = 0; j < 4; j++) r4[i][j] = P##_add_ps(r4[i][j], b);                                    \
            }                                                                                                          \
            for (int i = 0; i < 4; i++)                                                                                \
                for (int j = 0; j < 4; j++) P##_storeu_ps(o + (size_t)(i * 4 + j) * ldo + co, r4[i][j]);               \
        }                                                                                                              \
    }

/* the first n (0..W) floats of p, zeros in the other lanes, reading nothing past p + n */
__attribute__((target("avx512f"))) static inline __m512 load_n16(const float *p, int n) {
    return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), p);
}
__attribute__((target("avx2"))) static inline __m256 load_n8(const float *p, int n) {
    if (n >= 8) return _mm256_loadu_ps(p);
    float t[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < n; i++) t[i] = p[i];
    return _mm256_loadu_ps(t);
}

DDPM_WIDE_WINO_OUT(wino_out_avx512, "avx512f", __m512, 16, _mm512, load_n16)
DDPM_WIDE_WINO_OUT(wino_out_avx2, "avx2", __m256, 8, _mm256, load_n8)

/* ---- Winograd input transform, L channels in the lanes, as winograd_simd.c's input_tile does with 4 ---- */

#define DDPM_WIDE_WINO_IN(NAME, TGT, VT, W, P)                                                                        \
    __attribute__((target(TGT))) static void NAME(const float *Pin, int cin, int hp, int wp, int ty, int tx, float *v, \
                                                  size_t vs) {                                                         \
        const VT c2 = P##_set1_ps(2.0f), c4 = P##_set1_ps(4.0f), c5 = P##_set1_ps(5.0f);                             \
        const size_t row = (size_t)wp * W, plane = (size_t)hp * row;                                                   \
        for (int grp = 0; grp < cin / W; grp++) {                                                                      \
            const float *p = Pin + grp * plane + (size_t)(4 * ty) * row + (size_t)(4 * tx) * W;                        \
            VT t[6][6];                                                                                                \
            for (int j = 0; j < 6; j++) {                                                                              \
                VT col[6], o[6];                                                                                       \
                for (int i = 0; i < 6; i++) col[i] = P##_loadu_ps(p + i * row + W * j);                                \
                DDPM_WINO_BT(VT, P##_add_ps, P##_sub_ps, P##_mul_ps, c2, c4, c5, col, o);                              \
                for (int i = 0; i < 6; i++) t[i][j] = o[i];                                                            \
            }                                                                                                          \
            for (int i = 0; i < 6; i++) {                                                                              \
                VT o[6];                                                                                               \
                DDPM_WINO_BT(VT, P##_add_ps, P##_sub_ps, P##_mul_ps, c2, c4, c5, t[i], o);                             \
                for (int j = 0; j < 6; j++) P##_storeu_ps(v + (size_t)(i * 6 + j) * vs + W * grp, o[j]);              \
            }                                                                                                          \
        }                                                                                                              \
    }

DDPM_WIDE_WINO_IN(wino_in_avx512, "avx512f", __m512, 16, _mm512)
DDPM_WIDE_WINO_IN(wino_in_avx2, "avx2", __m256, 8, _mm256)

static atomic_int wide_cap = -1;

static atomic_int wide_hw = -1; /* the CPU's level, probed once */

int ddpm_wide_hw_level(void) {
    int hw = atomic_load_explicit(&wide_hw, memory_order_relaxed);
    if (hw < 0) {
        __builtin_cpu_init();
        hw = __builtin_cpu_supports("avx512f") ? DDPM_WIDE_AVX512
             : __builtin_cpu_supports("avx2")  ? DDPM_WIDE_AVX2
                                               : DDPM_WIDE_NONE;
        atomic_store_explicit(&wide_hw, hw, memory_order_relaxed);
    }
    return hw;
}

int ddpm_wide_level(void) {
    const int hw = ddpm_wide_hw_level();
    const int cap = atomic_load_explicit(&wide_cap, memory_order_relaxed);
    return cap >= 0 && cap < hw ? cap : hw;
}

int ddpm_wide_cap(int max_level) {
    atomic_store_explicit(&wide_cap, max_level < 0 ? -1 : max_level, memory_order_relaxed);
    return ddpm_wide_level();
}

int ddpm_wide_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                   const float *bias) {
    const int N8 = N / 8 * 8;
    if (N8 == 0 || M <= 0) return 0;
    switch (ddpm_wide_level()) {
    case DDPM_WIDE_AVX512: gemm_avx512(M, N8, K, A, lda, B, ldb, C, ldc, bias); return N8;
    case DDPM_WIDE_AVX2: gemm_avx2(M, N8, K, A, lda, B, ldb, C, ldc, bias); return N8;
    default: return 0;
    }
}

int ddpm_wide_affine_silu(const float *x, float *y, int n, float scale, float shift, int silu) {
    switch (ddpm_wide_level()) {
    case DDPM_WIDE_AVX512: silu_avx512(x, y, n, scale, shift, silu); return 1;
    case DDPM_WIDE_AVX2: silu_avx2(x, y, n, scale, shift, silu); return 1;
    default: return 0;
    }
}

int ddpm_wide_wino_output(const float *m, size_t ms, int coutp, int cout, const float *bias, const float *bias2,
                          float *o) {
    if (coutp % 8 != 0) return 0;
    switch (ddpm_wide_level()) {
    case DDPM_WIDE_AVX512: {
        const int c16 = coutp / 16 * 16;
        wino_out_avx512(m, ms, 0, c16, cout, bias, bias2, o, coutp);
        wino_out_avx2(m, ms, c16, coutp, cout, bias, bias2, o, coutp);
        return 1;
    }
    case DDPM_WIDE_AVX2: wino_out_avx2(m, ms, 0, coutp, cout, bias, bias2, o, coutp); return 1;
    default: return 0;
    }
}

int ddpm_wide_wino_lanes(void) {
    switch (ddpm_wide_level()) {
    case DDPM_WIDE_AVX512: return 16;
    case DDPM_WIDE_AVX2: return 8;
    default: return 0;
    }
}

void ddpm_wide_wino_input(int lanes, const float *P, int cin, int hp, int wp, int ty, int tx, float *v, size_t vs) {
    if (lanes == 16)
        wino_in_avx512(P, cin, hp, wp, ty, tx, v, vs);
    else if (lanes == 8)
        wino_in_avx2(P, cin, hp, wp, ty, tx, v, vs);
}

#else /* not native x86: no wide kernels */

int ddpm_wide_hw_level(void) { return DDPM_WIDE_NONE; }
int ddpm_wide_level(void) { return DDPM_WIDE_NONE; }
int ddpm_wide_cap(int max_level) {
    (void)max_level;
    return DDPM_WIDE_NONE;
}
int ddpm_wide_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                   const float *bias) {
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)C, (void)ldc, (void)bias;
    return 0;
}
int ddpm_wide_affine_silu(const float *x, float *y, int n, float scale, float shift, int silu) {
    (void)x, (void)y, (void)n, (void)scale, (void)shift, (void)silu;
    return 0;
}
int ddpm_wide_wino_output(const float *m, size_t ms, int coutp, int cout, const float *bias, const float *bias2,
                          float *o) {
    (void)m, (void)ms, (void)coutp, (void)cout, (void)bias, (void)bias2, (void)o;
    return 0;
}
int ddpm_wide_wino_lanes(void) { return 0; }
void ddpm_wide_wino_input(int lanes, const float *P, int cin, int hp, int wp, int ty, int tx, float *v, size_t vs) {
    (void)lanes, (void)P, (void)cin, (void)hp, (void)wp, (void)ty, (void)tx, (void)v, (void)vs;
}

#endif
