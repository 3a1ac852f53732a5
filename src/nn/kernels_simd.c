/*
 * SIMD kernels through the 4-lane vector layer. 3x3 stride-1 convolutions with pre-transformed weights go to
 * Winograd F(4x4, 3x3) (winograd_simd.c); the others are im2col + GEMM, where the GEMM keeps one accumulator per
 * output element and adds the k terms in ascending order, exactly like the scalar loops, so im2col conv and gemm
 * agree with their scalar twins bit for bit. Reductions (GroupNorm statistics, softmax sums, linear dot products) use four
 * partial sums and differ from the scalar twins by rounding only.
 */
#include "nn/wide.h"
#include "nn/kernels.h"
#include "nn/simd.h"
#include "nn/simd_math.h"
#include "core/par.h"

#include <math.h>

/* ---- GEMM: C[M, N] = bias + A B, 4 x 8 register blocks ---- */
static void gemm_simd(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                      const float *bias) {
    /* native x86: the leading columns through 8/16-lane vectors, bit-identical (wide.h) */
    const int wide = ddpm_wide_gemm(M, N, K, A, lda, B, ldb, C, ldc, bias);
    B += wide, C += wide, N -= wide;
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        const float *a0 = A + (size_t)m * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        const float b0 = bias ? bias[m] : 0.0f, b1 = bias ? bias[m + 1] : 0.0f;
        const float b2 = bias ? bias[m + 2] : 0.0f, b3 = bias ? bias[m + 3] : 0.0f;
        int n = 0;
        const float init[4] = {b0, b1, b2, b3};
        for (; n + 8 <= N; n += 8)
            vf4_tile_4x8(K, a0, a1, a2, a3, B + n, (size_t)ldb, init, C + (size_t)m * ldc + n, (size_t)ldc);
        for (; n + 4 <= N; n += 4) {
            vf4 c0 = vf4_splat(b0), c1 = vf4_splat(b1), c2 = vf4_splat(b2), c3 = vf4_splat(b3);
            const float *bp = B + n;
            for (int k = 0; k < K; k++, bp += ldb) {
                const vf4 x0 = vf4_load(bp);
                c0 = vf4_add(c0, vf4_mul(vf4_splat(a0[k]), x0));
                c1 = vf4_add(c1, vf4_mul(vf4_splat(a1[k]), x0));
                c2 = vf4_add(c2, vf4_mul(vf4_splat(a2[k]), x0));
                c3 = vf4_add(c3, vf4_mul(vf4_splat(a3[k]), x0));
            }
            float *cp = C + (size_t)m * ldc + n;
            vf4_store(cp, c0);
            vf4_store(cp + ldc, c1);
            vf4_store(cp + 2 * ldc, c2);
            vf4_store(cp + 3 * ldc, c3);
        }
        for (; n < N; n++) {
            float c0 = b0, c1 = b1, c2 = b2, c3 = b3;
            for (int k = 0; k < K; k++) {
                const float x0 = B[(size_t)k * ldb + n];
                c0 += a0[k] * x0;
                c1 += a1[k] * x0;
                c2 += a2[k] * x0;
                c3 += a3[k] * x0;
            }
            C[(size_t)m * ldc + n] = c0;
            C[(size_t)(m + 1) * ldc + n] = c1;
            C[(size_t)(m + 2) * ldc + n] = c2;
            C[(size_t)(m + 3) * ldc + n] = c3;
        }
    }
    for (; m < M; m++) {
        const float *a0 = A + (size_t)m * lda;
        const float b0 = bias ? bias[m] : 0.0f;
        int n = 0;
        for (; n + 4 <= N; n += 4) {
            vf4 c0 = vf4_splat(b0);
            for (int k = 0; k < K; k++) c0 = vf4_add(c0, vf4_mul(vf4_splat(a0[k]), vf4_load(B + (size_t)k * ldb + n)));
            vf4_store(C + (size_t)m * ldc + n, c0);
        }
        for (; n < N; n++) {
            float c0 = b0;
            for (int k = 0; k < K; k++) c0 += a0[k] * B[(size_t)k * ldb + n];
            C[(size_t)m * ldc + n] = c0;
        }
    }
}

/* One image's im2col / 1x1 convolution as row blocks of the GEMM (output channels), one task each: every element is
 * computed by the same operations whatever the blocks (gemm_simd's note), so the thread count never shows. */
typedef struct conv_job {
    const ddpm_conv_desc *d;
    const float *B; /* [cin k k, hw]: the image itself (1x1) or its im2col matrix */
    float *y;
    int img, rows;  /* output channels per task */
} conv_job;

static void conv_rows_task(void *arg, int lo, int hi, int part) {
    const conv_job *j = arg;
    const ddpm_conv_desc *d = j->d;
    const int kk = d->cin * d->k * d->k, hw = d->ho * d->wo, m0 = lo * j->rows;
    const int mr = (d->cout < hi * j->rows ? d->cout : hi * j->rows) - m0;
    gemm_simd(mr, hw, kk, d->weight + (size_t)m0 * kk, kk, j->B, hw, j->y + (size_t)m0 * hw, hw,
              d->bias ? d->bias + m0 : NULL);
    if (!d->bias2) return;
    for (int co = m0; co < m0 + mr; co++) {
        const float b2 = d->bias2[(size_t)j->img * d->cout + co];
        const vf4 b = vf4_splat(b2);
        float *row = j->y + (size_t)co * hw;
        int p = 0;
        for (; p + 4 <= hw; p += 4) vf4_store(row + p, vf4_add(vf4_load(row + p), b));
        for (; p < hw; p++) row[p] += b2;
    }
}

#ifdef DDPM_PROFILE
__attribute__((noinline))
#endif
static void conv2d_simd(const ddpm_conv_desc *d, int n, const float *x, float *y, float *scratch) {
    if (d->k == 3 && d->stride == 1 && d->wino) {
        ddpm_wino_conv_simd(d, n, x, y, scratch);
        return;
    }
    /* tasks of 4 output channels (the register block), when the work pays for threads (the same bits either way) */
    ddpm_par *par = ddpm__par_if(d->par, 2.0 * d->cout * d->cin * d->k * d->k * d->ho * d->wo);
    const int rows = 4;
    const size_t in_sz = (size_t)d->cin * d->h * d->w, out_sz = (size_t)d->cout * d->ho * d->wo;
    for (int i = 0; i < n; i++, x += in_sz, y += out_sz) {
        conv_job j = {.d = d, .B = x, .y = y, .img = i, .rows = rows};
        if (d->k != 1 || d->stride != 1) {
            ddpm_im2col(d, x, scratch);
            j.B = scratch;
        }
        ddpm__par_for(par, (d->cout + rows - 1) / rows, conv_rows_task, &j);
    }
}

static float dot_simd(const float *a, const float *b, int n) {
    vf4 acc = vf4_splat(0.0f);
    int i = 0;
    for (; i + 4 <= n; i += 4) acc = vf4_add(acc, vf4_mul(vf4_load(a + i), vf4_load(b + i)));
    float s = vf4_hsum(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void linear_simd(const float *x, int n, int in, int out, const float *W, const float *b, float *y) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++)
            y[(size_t)i * out + o] = (b ? b[o] : 0.0f) + dot_simd(W + (size_t)o * in, x + (size_t)i * in, in);
}

/* mean and 1 / sqrt(var + eps) of one group: two passes, four partial sums each */
static void gn_stats_simd(const float *xg, size_t cnt, float eps, float *mean_out, float *rstd_out) {
    vf4 s4 = vf4_splat(0.0f);
    size_t i = 0;
    for (; i + 4 <= cnt; i += 4) s4 = vf4_add(s4, vf4_load(xg + i));
    float sum = vf4_hsum(s4);
    for (; i < cnt; i++) sum += xg[i];
    const float mean = sum / (float)cnt;
    const vf4 m4 = vf4_splat(mean);
    vf4 q4 = vf4_splat(0.0f);
    for (i = 0; i + 4 <= cnt; i += 4) {
        const vf4 dlt = vf4_sub(vf4_load(xg + i), m4);
        q4 = vf4_add(q4, vf4_mul(dlt, dlt));
    }
    float sq = vf4_hsum(q4);
    for (; i < cnt; i++) sq += (xg[i] - mean) * (xg[i] - mean);
    *mean_out = mean;
    *rstd_out = 1.0f / sqrtf(sq / (float)cnt + eps);
}

static void group_norm_coeffs_simd(const float *x, int c, int hw, int groups, const float *gamma, const float *beta,
                                   float eps, float *scale, float *shift) {
    const int cg = c / groups;
    const size_t cnt = (size_t)cg * hw;
    for (int g = 0; g < groups; g++) {
        float mean, rstd;
        gn_stats_simd(x + (size_t)g * cnt, cnt, eps, &mean, &rstd);
        for (int ci = 0; ci < cg; ci++) {
            const int ch = g * cg + ci;
            scale[ch] = gamma[ch] * rstd;
            shift[ch] = beta[ch] - mean * scale[ch];
        }
    }
}

static void group_norm_simd(const float *x, float *y, int c, int hw, int groups, const float *gamma,
                            const float *beta, float eps, int silu) {
    const int cg = c / groups;
    const size_t cnt = (size_t)cg * hw;
    for (int g = 0; g < groups; g++) {
        const float *xg = x + (size_t)g * cnt;
        float mean, rstd;
        gn_stats_simd(xg, cnt, eps, &mean, &rstd);
        for (int ci = 0; ci < cg; ci++) {
            const int ch = g * cg + ci;
            const float a = gamma[ch] * rstd, b = beta[ch] - mean * a;
            const vf4 a4 = vf4_splat(a), b4 = vf4_splat(b);
            const float *xc = xg + (size_t)ci * hw;
            float *yc = y + (size_t)ch * hw;
            int j = 0;
            for (; j + 4 <= hw; j += 4) {
                vf4 v = vf4_add(vf4_mul(vf4_load(xc + j), a4), b4);
                vf4_store(yc + j, silu ? vf4_silu(v) : v);
            }
            for (; j < hw; j++) {
                const float v = xc[j] * a + b;
                yc[j] = silu ? v / (1.0f + ddpm_expf_scalar(-v)) : v;
            }
        }
    }
}

static void silu_simd(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vf4_store(y + i, vf4_silu(vf4_load(x + i)));
    for (; i < n; i++) y[i] = x[i] / (1.0f + ddpm_expf_scalar(-x[i]));
}

static void softmax_rows_simd(float *x, int rows, int cols, float scale) {
    const vf4 sc = vf4_splat(scale);
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * cols;
        int c = 0;
        float mx = -INFINITY;
        if (cols >= 4) {
            vf4 m4 = vf4_mul(vf4_load(row), sc);
            for (c = 4; c + 4 <= cols; c += 4) m4 = vf4_max(m4, vf4_mul(vf4_load(row + c), sc));
            mx = vf4_hmax(m4);
        }
        for (; c < cols; c++) mx = row[c] * scale > mx ? row[c] * scale : mx;
        const vf4 mx4 = vf4_splat(mx);
        vf4 s4 = vf4_splat(0.0f);
        for (c = 0; c + 4 <= cols; c += 4) {
            const vf4 e = vf4_exp(vf4_sub(vf4_mul(vf4_load(row + c), sc), mx4));
            vf4_store(row + c, e);
            s4 = vf4_add(s4, e);
        }
        float sum = vf4_hsum(s4);
        for (; c < cols; c++) {
            row[c] = ddpm_expf_scalar(row[c] * scale - mx);
            sum += row[c];
        }
        const float inv = 1.0f / sum;
        const vf4 inv4 = vf4_splat(inv);
        for (c = 0; c + 4 <= cols; c += 4) vf4_store(row + c, vf4_mul(vf4_load(row + c), inv4));
        for (; c < cols; c++) row[c] *= inv;
    }
}

static void add_simd(const float *a, const float *b, float *y, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vf4_store(y + i, vf4_add(vf4_load(a + i), vf4_load(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

const ddpm_kernel_table ddpm_kernels_simd = {
    DDPM_SIMD_NAME, conv2d_simd, gemm_simd, linear_simd, group_norm_simd, silu_simd, softmax_rows_simd, add_simd,
    group_norm_coeffs_simd, 1,
};

const char *ddpm_simd_backend(void) {
    switch (ddpm_wide_level()) {
    case DDPM_WIDE_AVX512: return DDPM_SIMD_NAME " + avx512f";
    case DDPM_WIDE_AVX2: return DDPM_SIMD_NAME " + avx2";
    default: return DDPM_SIMD_NAME;
    }
}
