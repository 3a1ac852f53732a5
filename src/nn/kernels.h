/*
 * The network's kernels. Two tables with the same entries:
 *   ddpm_kernels_scalar — plain loops, the reference for every op (direct convolution, sequential sums);
 *   ddpm_kernels_simd   — the same ops through the 4-lane vector layer (simd.h): Winograd F(4x4, 3x3) for 3x3
 *                         stride-1 convolutions whose weights were pre-transformed (desc.wino), im2col + a
 *                         register-blocked GEMM for the other convolutions. Native x86 builds run the GEMMs and
 *                         the fused input transform on AVX2 / AVX-512F when the CPU has them (wide.h), bit-identical.
 * tests/test_kernels.c holds every SIMD kernel to its scalar twin on random inputs, the SIMD Winograd convolution
 * to its scalar twin (ddpm_wino_conv_scalar, bit for bit) and both to the direct one.
 *
 * All tensors are float32, one image at a time unless stated: x: [C, H, W] contiguous.
 */
#ifndef DDPM_KERNELS_H
#define DDPM_KERNELS_H

#include "ddpm_debug.h" /* ddpm_det_exp */

#include <stddef.h>

/* A 2-D convolution with square kernel k (1 or 3), stride 1 or 2, zero padding (k - 1) / 2 on every side, or, with
 * pad_after_only, none at the top and left (diffusers' downsample_padding 0: F.pad(x, (0, 1, 0, 1)) and an unpadded
 * conv; the bottom and right padding is whatever ho, wo reach). */
typedef struct ddpm_conv_desc {
    int cin, cout, k, stride;
    int h, w;            /* input size */
    int ho, wo;          /* output size: (h + 2 pad - k) / stride + 1 */
    const float *weight; /* [cout, cin, k, k] = [cout, cin*k*k] */
    const float *bias;   /* [cout] or NULL */
    const float *wino;   /* ddpm_wino_transform_weights(weight) for a 3x3 stride-1 conv, or NULL (then im2col) */
    const float *bias2;  /* [n, cout]: a second per-image bias added after bias (y = (conv + bias) + bias2), or NULL */
    /* Optional input transform fused into the convolution (GroupNorm's affine and SiLU, applied while the Winograd
     * kernel packs its input): image i's channel ci reads v = x * pre_scale[i, ci] + pre_shift[i, ci], then
     * v / (1 + exp(-v)) when pre_silu; the zero padding stays zero. The result is bitwise that of group_norm into a
     * buffer followed by the plain convolution. Supported where ddpm_kernel_table.conv_pre says so (the SIMD table's
     * Winograd path, d->wino set) and by ddpm_wino_conv_scalar; everywhere else pre_scale must be NULL. */
    const float *pre_scale, *pre_shift; /* [n, cin] or NULL */
    int pre_silu;
    int pad_after_only;  /* im2col / direct paths only (stride 2); the Winograd path never sees it */
    /* Threads for this convolution (core/par.h), or NULL: one. The SIMD table splits its Winograd stages and GEMMs
     * into tasks that each write their own outputs (the same bits for any thread count); the scalar and precise
     * tables, the references, ignore it. */
    struct ddpm_par *par;
} ddpm_conv_desc;

/* Floats of scratch conv2d needs for a batch of n (the im2col matrix of one image, or the Winograd buffers). */
size_t ddpm_conv_scratch_floats(const ddpm_conv_desc *d, int n);
/* Floats of the im2col matrix of one image (0 for a 1x1 stride-1 conv). */
size_t ddpm_conv_col_floats(const ddpm_conv_desc *d);

/*
 * Winograd F(4x4, 3x3) (Lavin & Gray 2015, interpolation points 0, +-1, +-2, inf) for 3x3 stride-1 convolutions:
 * each 4x4 output tile costs 36 multiplications per (cin, cout) pair instead of 144.
 *   U = G g G^T per (cout, cin): computed once, in float64, stored as float [36][cin][round_up(cout, 8)];
 *   V = B^T d B per 6x6 input tile and channel (tiles past the image's edge read zeros);
 *   M[xi] = V[xi] U[xi]: 36 GEMMs over (tiles x cin) x (cin x cout), k ascending from 0 in one accumulator;
 *   y = (A^T M A + bias) + bias2, only the output pixels inside the image stored.
 * Every output element's operations depend on its own tile and channel only, never on the batch size or on how
 * tiles are grouped, so image k of a batch is bitwise the image alone. ddpm_wino_conv_scalar is the plain-loop twin
 * of the SIMD kernel (same operations, same order: bit-identical).
 */
size_t ddpm_wino_weight_floats(int cin, int cout);
void ddpm_wino_transform_weights(int cin, int cout, const float *weight, float *u);
size_t ddpm_wino_scratch_floats(const ddpm_conv_desc *d, int n);
void ddpm_wino_conv_simd(const ddpm_conv_desc *d, int n, const float *x, float *y, float *scratch);
void ddpm_wino_conv_scalar(const ddpm_conv_desc *d, int n, const float *x, float *y);

typedef struct ddpm_kernel_table {
    const char *name;
    /* y: [n, cout, ho, wo] = conv(x: [n, cin, h, w]) (+ bias2); scratch: ddpm_conv_scratch_floats(d, n) floats.
     * The scalar table always convolves directly; the SIMD one uses Winograd when d->wino is set. */
    void (*conv2d)(const ddpm_conv_desc *d, int n, const float *x, float *y, float *scratch);
    /* C[M, N] = bias[m] (0 when bias is NULL) + sum_k A[m, k] B[k, n], k ascending. Row strides lda, ldb, ldc. */
    void (*gemm)(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                 const float *bias);
    /* y: [n, out] = x: [n, in] W^T + b, W: [out, in]. */
    void (*linear)(const float *x, int n, int in, int out, const float *W, const float *b, float *y);
    /* GroupNorm over one image x: [c, hw] with `groups` groups (biased variance, eps inside the sqrt), then the
     * per-channel affine, then SiLU when silu != 0. y may equal x. */
    void (*group_norm)(const float *x, float *y, int c, int hw, int groups, const float *gamma, const float *beta,
                       float eps, int silu);
    /* y = x * sigmoid(x), n floats; y may equal x. */
    void (*silu)(const float *x, float *y, size_t n);
    /* Each of `rows` rows of x ([rows, cols]) becomes softmax(scale * row), in place. */
    void (*softmax_rows)(float *x, int rows, int cols, float scale);
    /* y = a + b, n floats; y may equal a or b. */
    void (*add)(const float *a, const float *b, float *y, size_t n);
    /* GroupNorm's statistics and affine folded into one scale and shift per channel, computed exactly as group_norm
     * computes them: group_norm's output is y = x * scale[ch] + shift[ch] (then SiLU), bit for bit. */
    void (*group_norm_coeffs)(const float *x, int c, int hw, int groups, const float *gamma, const float *beta,
                              float eps, float *scale, float *shift);
    /* 1 when conv2d honours desc.pre_* for Winograd convolutions (d->wino set); 0: pre_scale must be NULL. */
    int conv_pre;
} ddpm_kernel_table;

extern const ddpm_kernel_table ddpm_kernels_scalar;
extern const ddpm_kernel_table ddpm_kernels_precise; /* double sums and transcendentals (kernels_precise.c) */
extern const ddpm_kernel_table ddpm_kernels_simd;

/* Data movement shared by both tables. */
/* col: [cin*k*k, ho*wo], row (ci*k + ky)*k + kx holds x[ci, oy*stride + ky - pad, ox*stride + kx - pad] or 0. */
void ddpm_im2col(const ddpm_conv_desc *d, const float *x, float *col);
/* y: [c, 2h, 2w] nearest-neighbour upsampling of x: [c, h, w]. */
void ddpm_upsample_nearest2x(const float *x, float *y, int c, int h, int w);
/* y: [cols, rows] = x: [rows, cols]^T */
void ddpm_transpose(const float *x, float *y, int rows, int cols);
/* Rows r0 .. r1 - 1 of that y only (the threads' share of a transpose). */
void ddpm_transpose_rows(const float *x, float *y, int rows, int cols, int r0, int r1);

/* The deterministic exp behind SiLU and softmax, scalar form (the SIMD form in kernels_simd.c performs the same
 * operations lane by lane). Inputs are clamped to [-87, 88]. */
float ddpm_expf_scalar(float x);

#endif
