/*
 * The network's kernels. Two tables with the same entries:
 *   ddpm_kernels_scalar — plain loops, the reference for every op (direct convolution, sequential sums);
 *   ddpm_kernels_simd   — the same ops through the 4-lane vector layer (simd.h): im2col + a register-blocked GEMM.
 * tests/test_kernels.c holds every SIMD kernel to its scalar twin on random inputs.
 *
 * All tensors are float32, one image at a time unless stated: x: [C, H, W] contiguous.
 */
#ifndef DDPM_KERNELS_H
#define DDPM_KERNELS_H

#include <stddef.h>

/* A 2-D convolution with square kernel k (1 or 3), stride 1 or 2, zero padding (k - 1) / 2. */
typedef struct ddpm_conv_desc {
    int cin, cout, k, stride;
    int h, w;            /* input size */
    int ho, wo;          /* output size: (h + 2 pad - k) / stride + 1 */
    const float *weight; /* [cout, cin, k, k] = [cout, cin*k*k] */
    const float *bias;   /* [cout] or NULL */
} ddpm_conv_desc;

/* Floats of scratch conv2d needs for one image (the im2col matrix; 0 for a 1x1 stride-1 conv). */
size_t ddpm_conv_col_floats(const ddpm_conv_desc *d);

typedef struct ddpm_kernel_table {
    const char *name;
    /* y: [cout, ho, wo] = conv(x: [cin, h, w]); col: scratch of ddpm_conv_col_floats(d) floats. */
    void (*conv2d)(const ddpm_conv_desc *d, const float *x, float *y, float *col);
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
} ddpm_kernel_table;

extern const ddpm_kernel_table ddpm_kernels_scalar;
extern const ddpm_kernel_table ddpm_kernels_simd;

/* Data movement shared by both tables. */
/* col: [cin*k*k, ho*wo], row (ci*k + ky)*k + kx holds x[ci, oy*stride + ky - pad, ox*stride + kx - pad] or 0. */
void ddpm_im2col(const ddpm_conv_desc *d, const float *x, float *col);
/* y: [c, 2h, 2w] nearest-neighbour upsampling of x: [c, h, w]. */
void ddpm_upsample_nearest2x(const float *x, float *y, int c, int h, int w);
/* y: [cols, rows] = x: [rows, cols]^T */
void ddpm_transpose(const float *x, float *y, int rows, int cols);

/* The deterministic exp behind SiLU and softmax, scalar form (the SIMD form in kernels_simd.c performs the same
 * operations lane by lane). Inputs are clamped to [-87, 88]. */
float ddpm_expf_scalar(float x);
/* exp in double for the timestep embedding's frequencies (argument reduction by ln 2 and a degree-13 series). */
double ddpm_det_exp(double x);

#endif
