/*
 * Wider vectors for native x86 builds: the GEMM of kernels_simd.c and winograd_simd.c, and the Winograd kernel's
 * GroupNorm-affine + SiLU, input transform and output transform, through 8-lane (AVX2) or 16-lane (AVX-512F) vectors chosen at run
 * time from the CPU. Both do exactly what the 4-lane code does to each element, so results keep their bits.
 *
 * Both 4-lane GEMMs keep one accumulator per output element, start it at the bias (or 0), and add the products
 * a[m, k] * b[k, n] with k ascending, a separate multiply and add each (FP contraction is off in this build). The
 * lanes run across n, so the vector width changes how many elements advance together, never the operations one
 * element sees: the wide kernels give the same bits as the 4-lane ones, the scalar twins and the wasm build.
 * ddpm_wide_affine_silu is elementwise: each lane runs the operations of simd_math.h's vf4_silu (the same exp
 * polynomial, range reduction and clamps, x86 max/min semantics). tests/test_kernels.c checks both at every level
 * the CPU has.
 *
 * In the wasm build and on other CPUs this file compiles to a stub that reports level 0 and does nothing.
 */
#ifndef DDPM_WIDE_H
#define DDPM_WIDE_H

#include <stddef.h>

/* Levels: 0 none (4-lane kernels only), 1 AVX2 (8 lanes), 2 AVX-512F (16 lanes). */
#define DDPM_WIDE_NONE 0
#define DDPM_WIDE_AVX2 1
#define DDPM_WIDE_AVX512 2

/* The level in use: the widest the CPU and OS support, lowered by ddpm_wide_cap. */
int ddpm_wide_level(void);
/* The widest level the CPU and OS support. */
int ddpm_wide_hw_level(void);
/* Caps the level (for tests and benchmarks; not for use while other threads run kernels); a negative cap restores
 * the automatic choice. Returns the level now in effect. */
int ddpm_wide_cap(int max_level);

/*
 * C[M, N] = bias[m] (0 when bias is NULL) + sum_k A[m, k] B[k, n] for the leading columns n < 8 * floor(N / 8), all
 * M rows; returns that column count, or 0 (nothing written) at level 0. Row strides lda, ldb, ldc, as in
 * ddpm_kernel_table.gemm. The caller computes the remaining columns.
 */
int ddpm_wide_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                   const float *bias);

/*
 * y[i] = v / (1 + exp(-v)) with v = x[i] * scale + shift (silu != 0), or y[i] = v (silu == 0), i < n, the operations
 * of vf4_silu lane by lane. Returns 1 when done, 0 (nothing written) at level 0. x and y must not overlap.
 */
int ddpm_wide_affine_silu(const float *x, float *y, int n, float scale, float shift, int silu);

/*
 * One tile of winograd_simd.c's output transform with the couts in the lanes: o[p * coutp + co], p = 4 i + j the
 * tile's output pixel, = ((A^T M A)[i][j] + bias[co]) + bias2[co] (each term only when its pointer is set), M read
 * as m[xi * ms + co] (xi = 0..35, co < coutp, coutp a multiple of 8). bias and bias2 are read for co < cout only; the
 * lanes co >= cout hold whatever the padding columns give. Returns 1 when done, 0 at level 0 or when coutp % 8 != 0.
 */
/* Channel lanes of the wide Winograd input transform: 16 (AVX-512F), 8 (AVX2) or 0 (none). */
int ddpm_wide_wino_lanes(void);
/*
 * One tile of winograd_simd.c's input transform with `lanes` (ddpm_wide_wino_lanes(), not 0) channels in the vector:
 * P: [cin / lanes][hp][wp][lanes] (cin a multiple of lanes), the zero-padded input with `lanes` channels interleaved;
 * v[xi * vs + c] = (B^T d B)[xi] of channel c for the 6x6 patch at (4 ty, 4 tx), c < cin.
 */
void ddpm_wide_wino_input(int lanes, const float *P, int cin, int hp, int wp, int ty, int tx, float *v, size_t vs);

int ddpm_wide_wino_output(const float *m, size_t ms, int coutp, int cout, const float *bias, const float *bias2,
                          float *o);

#endif
