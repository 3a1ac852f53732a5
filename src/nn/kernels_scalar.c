/* The scalar reference kernels: the obvious loops, sums in a fixed sequential order. */
#include "nn/kernels.h"

#include <math.h>

static void conv2d_scalar(const ddpm_conv_desc *d, int n, const float *x, float *y, float *scratch) {
    (void)scratch;
    const int k = d->k, s = d->stride, pad = d->pad_after_only ? 0 : (k - 1) / 2;
    const size_t in_sz = (size_t)d->cin * d->h * d->w, out_sz = (size_t)d->cout * d->ho * d->wo;
    for (int i = 0; i < n; i++, x += in_sz, y += out_sz) {
        for (int co = 0; co < d->cout; co++) {
            const float *wco = d->weight + (size_t)co * d->cin * k * k;
            for (int oy = 0; oy < d->ho; oy++) {
                for (int ox = 0; ox < d->wo; ox++) {
                    float acc = d->bias ? d->bias[co] : 0.0f;
                    for (int ci = 0; ci < d->cin; ci++) {
                        for (int ky = 0; ky < k; ky++) {
                            const int iy = oy * s + ky - pad;
                            for (int kx = 0; kx < k; kx++) {
                                const int ix = ox * s + kx - pad;
                                const float v = (iy >= 0 && iy < d->h && ix >= 0 && ix < d->w)
                                                    ? x[((size_t)ci * d->h + iy) * d->w + ix]
                                                    : 0.0f;
                                acc += wco[(ci * k + ky) * k + kx] * v;
                            }
                        }
                    }
                    if (d->bias2) acc += d->bias2[(size_t)i * d->cout + co];
                    y[((size_t)co * d->ho + oy) * d->wo + ox] = acc;
                }
            }
        }
    }
}

static void gemm_scalar(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                        const float *bias) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float acc = bias ? bias[m] : 0.0f;
            for (int k = 0; k < K; k++) acc += A[(size_t)m * lda + k] * B[(size_t)k * ldb + n];
            C[(size_t)m * ldc + n] = acc;
        }
}

static void linear_scalar(const float *x, int n, int in, int out, const float *W, const float *b, float *y) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            float acc = b ? b[o] : 0.0f;
            for (int k = 0; k < in; k++) acc += W[(size_t)o * in + k] * x[(size_t)i * in + k];
            y[(size_t)i * out + o] = acc;
        }
}

static float silu1(float v) { return v / (1.0f + ddpm_expf_scalar(-v)); }

/* mean and 1 / sqrt(var + eps) of one group, in double */
static void gn_stats_scalar(const float *xg, size_t cnt, float eps, float *meanf, float *rstd) {
    double sum = 0.0, sq = 0.0;
    for (size_t i = 0; i < cnt; i++) sum += xg[i];
    const double mean = sum / (double)cnt;
    for (size_t i = 0; i < cnt; i++) sq += (xg[i] - mean) * (xg[i] - mean);
    *rstd = (float)(1.0 / sqrt(sq / (double)cnt + eps));
    *meanf = (float)mean;
}

static void group_norm_coeffs_scalar(const float *x, int c, int hw, int groups, const float *gamma,
                                     const float *beta, float eps, float *scale, float *shift) {
    const int cg = c / groups;
    const size_t cnt = (size_t)cg * hw;
    for (int g = 0; g < groups; g++) {
        float meanf, rstd;
        gn_stats_scalar(x + (size_t)g * cnt, cnt, eps, &meanf, &rstd);
        for (int ci = 0; ci < cg; ci++) {
            const int ch = g * cg + ci;
            scale[ch] = gamma[ch] * rstd;
            shift[ch] = beta[ch] - meanf * scale[ch];
        }
    }
}

static void group_norm_scalar(const float *x, float *y, int c, int hw, int groups, const float *gamma,
                              const float *beta, float eps, int silu) {
    const int cg = c / groups;
    const size_t cnt = (size_t)cg * hw;
    for (int g = 0; g < groups; g++) {
        const float *xg = x + (size_t)g * cnt;
        float meanf, rstd;
        gn_stats_scalar(xg, cnt, eps, &meanf, &rstd);
        for (int ci = 0; ci < cg; ci++) {
            const int ch = g * cg + ci;
            const float a = gamma[ch] * rstd, b = beta[ch] - meanf * a;
            const float *xc = xg + (size_t)ci * hw;
            float *yc = y + (size_t)ch * hw;
            for (int i = 0; i < hw; i++) {
                const float v = xc[i] * a + b;
                yc[i] = silu ? silu1(v) : v;
            }
        }
    }
}

static void silu_scalar(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = silu1(x[i]);
}

static void softmax_rows_scalar(float *x, int rows, int cols, float scale) {
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * cols;
        float mx = -INFINITY;
        for (int c = 0; c < cols; c++) mx = row[c] * scale > mx ? row[c] * scale : mx;
        double sum = 0.0;
        for (int c = 0; c < cols; c++) {
            row[c] = ddpm_expf_scalar(row[c] * scale - mx);
            sum += row[c];
        }
        const float inv = (float)(1.0 / sum);
        for (int c = 0; c < cols; c++) row[c] *= inv;
    }
}

static void add_scalar(const float *a, const float *b, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

const ddpm_kernel_table ddpm_kernels_scalar = {
    "scalar", conv2d_scalar, gemm_scalar, linear_scalar, group_norm_scalar, silu_scalar, softmax_rows_scalar,
    add_scalar, group_norm_coeffs_scalar, 0,
};
