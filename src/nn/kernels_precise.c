/*
 * The precise kernels (DDPM_KERNELS_PRECISE): the scalar reference's loops with every sum, GroupNorm, SiLU and
 * softmax carried in double and each op's output rounded once to float32. Activations stay float32 between ops, so
 * one forward pass differs from an exact one by about one float32 rounding per op (max |d| ~1e-7 on eps where the
 * fast kernels' Winograd F(4x4, 3x3) gives ~1e-5). For checks against another engine's float32 numbers where
 * errors compound (a 50-step DDIM replay at eta 0); several times slower than the scalar table. exp is the library's
 * deterministic double exp, so the results are the same on every IEEE-754 platform.
 */
#include "ddpm.h"
#include "nn/kernels.h"

#include <math.h>

static void conv2d_precise(const ddpm_conv_desc *d, int n, const float *x, float *y, float *scratch) {
    (void)scratch;
    const int k = d->k, s = d->stride, pad = d->pad_after_only ? 0 : (k - 1) / 2;
    const size_t in_sz = (size_t)d->cin * d->h * d->w, out_sz = (size_t)d->cout * d->ho * d->wo;
    for (int i = 0; i < n; i++, x += in_sz, y += out_sz)
        for (int co = 0; co < d->cout; co++) {
            const float *wco = d->weight + (size_t)co * d->cin * k * k;
            for (int oy = 0; oy < d->ho; oy++)
                for (int ox = 0; ox < d->wo; ox++) {
                    double acc = d->bias ? d->bias[co] : 0.0;
                    for (int ci = 0; ci < d->cin; ci++)
                        for (int ky = 0; ky < k; ky++) {
                            const int iy = oy * s + ky - pad;
                            if (iy < 0 || iy >= d->h) continue;
                            for (int kx = 0; kx < k; kx++) {
                                const int ix = ox * s + kx - pad;
                                if (ix >= 0 && ix < d->w)
                                    acc += (double)wco[(ci * k + ky) * k + kx] * x[((size_t)ci * d->h + iy) * d->w + ix];
                            }
                        }
                    if (d->bias2) acc += d->bias2[(size_t)i * d->cout + co];
                    y[((size_t)co * d->ho + oy) * d->wo + ox] = (float)acc;
                }
        }
}

static void gemm_precise(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                         const float *bias) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = bias ? bias[m] : 0.0;
            for (int k = 0; k < K; k++) acc += (double)A[(size_t)m * lda + k] * B[(size_t)k * ldb + n];
            C[(size_t)m * ldc + n] = (float)acc;
        }
}

static void linear_precise(const float *x, int n, int in, int out, const float *W, const float *b, float *y) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int k = 0; k < in; k++) acc += (double)W[(size_t)o * in + k] * x[(size_t)i * in + k];
            y[(size_t)i * out + o] = (float)acc;
        }
}

static double silu_d(double v) { return v / (1.0 + ddpm_det_exp(v < -700.0 ? 700.0 : -v)); }

/* GroupNorm's per-channel scale and shift, in double. */
static void gn_coeffs_d(const float *x, int c, int hw, int groups, const float *gamma, const float *beta, float eps,
                        double *a, double *b) {
    const int cg = c / groups;
    const size_t cnt = (size_t)cg * hw;
    for (int g = 0; g < groups; g++) {
        const float *xg = x + (size_t)g * cnt;
        double sum = 0.0, sq = 0.0;
        for (size_t i = 0; i < cnt; i++) sum += xg[i];
        const double mean = sum / (double)cnt;
        for (size_t i = 0; i < cnt; i++) sq += (xg[i] - mean) * (xg[i] - mean);
        const double rstd = 1.0 / sqrt(sq / (double)cnt + eps);
        for (int ci = 0; ci < cg; ci++) {
            const int ch = g * cg + ci;
            a[ch] = gamma[ch] * rstd;
            b[ch] = beta[ch] - mean * a[ch];
        }
    }
}

static void group_norm_precise(const float *x, float *y, int c, int hw, int groups, const float *gamma,
                               const float *beta, float eps, int silu) {
    double a[DDPM_MAX_CHANNELS], b[DDPM_MAX_CHANNELS];
    gn_coeffs_d(x, c, hw, groups, gamma, beta, eps, a, b);
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < hw; i++) {
            const double v = x[(size_t)ch * hw + i] * a[ch] + b[ch];
            y[(size_t)ch * hw + i] = (float)(silu ? silu_d(v) : v);
        }
}

/* conv_pre is 0 for this table, so the forward pass never fuses GroupNorm into a convolution here; the coefficients
 * are still provided (rounded to float) for completeness of the table. */
static void group_norm_coeffs_precise(const float *x, int c, int hw, int groups, const float *gamma, const float *beta,
                                      float eps, float *scale, float *shift) {
    double a[DDPM_MAX_CHANNELS], b[DDPM_MAX_CHANNELS];
    gn_coeffs_d(x, c, hw, groups, gamma, beta, eps, a, b);
    for (int ch = 0; ch < c; ch++) scale[ch] = (float)a[ch], shift[ch] = (float)b[ch];
}

static void silu_precise(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = (float)silu_d(x[i]);
}

static void softmax_rows_precise(float *x, int rows, int cols, float scale) {
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * cols;
        double mx = -INFINITY, sum = 0.0;
        for (int c = 0; c < cols; c++) mx = (double)row[c] * scale > mx ? (double)row[c] * scale : mx;
        /* two passes in double: the exps are recomputed rather than kept (the row is float) */
        for (int c = 0; c < cols; c++) sum += ddpm_det_exp((double)row[c] * scale - mx);
        for (int c = 0; c < cols; c++) row[c] = (float)(ddpm_det_exp((double)row[c] * scale - mx) / sum);
    }
}

static void add_precise(const float *a, const float *b, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i]; /* one rounding either way */
}

const ddpm_kernel_table ddpm_kernels_precise = {
    .name = "precise",
    .conv2d = conv2d_precise,
    .gemm = gemm_precise,
    .linear = linear_precise,
    .group_norm = group_norm_precise,
    .silu = silu_precise,
    .softmax_rows = softmax_rows_precise,
    .add = add_precise,
    .group_norm_coeffs = group_norm_coeffs_precise,
    .conv_pre = 0,
};
