/*
 * Every SIMD kernel against its scalar twin on random (non-zero) inputs, over sizes that exercise the vector tails.
 * im2col conv2d keeps the scalar loops' summation order and must agree to 1e-6 relative (in practice bit for bit,
 * which is reported); gemm must agree bit for bit; reductions (GroupNorm, softmax, linear) to 2e-6 relative. The
 * deterministic exponentials are checked against libm, and the SIMD exp against the scalar one bit for bit. The
 * Winograd kernel, plain and with GroupNorm + SiLU fused into its input (desc.pre_*), is held bitwise to its scalar
 * twin, to the unfused path, and across batch sizes. On x86 the GEMM-based kernels run once per wide-GEMM level the
 * CPU has (4-lane only, AVX2, AVX-512F; wide.h): every level must give the same bits.
 */
#include "nn/wide.h"
#include "nn/kernels.h"
#include "testutil.h"

static double rel_diff(const float *a, const float *b, size_t n) {
    double num = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= num)) num = d;
        if (fabs(b[i]) > mx) mx = fabs(b[i]);
    }
    return num / (mx > 0 ? mx : 1);
}

static void test_conv(int cin, int cout, int k, int stride, int h, int w, int bias) {
    const int pad = (k - 1) / 2, ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
    const int n = 2; /* two images: the second checks the batch stride and the per-image bias2 */
    size_t nx = (size_t)cin * h * w, nw = (size_t)cout * cin * k * k, ny = (size_t)cout * ho * wo;
    float *x = malloc(4 * nx * n), *wt = malloc(4 * nw), *b = malloc(4 * cout), *b2 = malloc(4 * cout * n),
          *y1 = malloc(4 * ny * n), *y2 = malloc(4 * ny * n);
    tu_fill(x, nx * n, cin * 7 + h, -2, 2);
    tu_fill(wt, nw, cout * 3 + k, -0.5f, 0.5f);
    tu_fill(b, cout, 99, -1, 1);
    tu_fill(b2, (size_t)cout * n, 98, -1, 1);
    ddpm_conv_desc d = {.cin = cin, .cout = cout, .k = k, .stride = stride, .h = h, .w = w, .ho = ho, .wo = wo,
                        .weight = wt, .bias = bias ? b : NULL, .bias2 = bias ? b2 : NULL};
    size_t ns = ddpm_conv_scratch_floats(&d, n);
    float *scratch = malloc(4 * (ns ? ns : 1));
    ddpm_kernels_scalar.conv2d(&d, n, x, y1, scratch);
    ddpm_kernels_simd.conv2d(&d, n, x, y2, scratch);
    double r = rel_diff(y2, y1, ny * n);
    CHECK(r <= 1e-6, "conv2d cin=%d cout=%d k=%d s=%d %dx%d bias=%d: rel %.2g%s", cin, cout, k, stride, h, w, bias, r,
          memcmp(y1, y2, 4 * ny * n) == 0 ? " (bitwise equal)" : "");
    /* the scalar reference itself against a float64 direct sum at a few points of both images */
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int co = 0; co < cout; co += (cout > 3 ? cout / 3 : 1))
            for (int oy = 0; oy < ho; oy += 2)
                for (int ox = 0; ox < wo; ox += 3) {
                    double acc = bias ? (double)b[co] + b2[i * cout + co] : 0;
                    for (int ci = 0; ci < cin; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                                if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                    acc += (double)wt[((co * cin + ci) * k + ky) * k + kx] *
                                           x[i * nx + (ci * h + iy) * w + ix];
                            }
                    double dd = fabs(acc - y1[i * ny + (co * ho + oy) * wo + ox]) / (1 + fabs(acc));
                    if (dd > worst) worst = dd;
                }
    CHECK(worst < 1e-5, "conv2d scalar vs float64 direct sum: rel %.2g", worst);
    free(x), free(wt), free(b), free(b2), free(y1), free(y2), free(scratch);
}

/*
 * Winograd F(4x4, 3x3): the SIMD kernel against its scalar twin (bit for bit: same operations in the same order), both
 * against the direct convolution (Winograd rounds differently: 1e-5 of the output's scale), and image k of a batch
 * bitwise equal to the image convolved alone.
 */
static void test_winograd(int cin, int cout, int h, int w, int bias) {
    const int n = 3;
    size_t nx = (size_t)cin * h * w, nw = (size_t)cout * cin * 9, ny = (size_t)cout * h * w;
    float *x = malloc(4 * nx * n), *wt = malloc(4 * nw), *b = malloc(4 * cout), *b2 = malloc(4 * cout * n);
    float *yd = malloc(4 * ny * n), *ys = malloc(4 * ny * n), *yv = malloc(4 * ny * n), *y1 = malloc(4 * ny);
    float *u = malloc(4 * ddpm_wino_weight_floats(cin, cout));
    tu_fill(x, nx * n, cin + 5 * h, -2, 2);
    tu_fill(wt, nw, cout + 17, -0.3f, 0.3f);
    tu_fill(b, cout, 3, -1, 1);
    tu_fill(b2, (size_t)cout * n, 4, -1, 1);
    ddpm_wino_transform_weights(cin, cout, wt, u);
    ddpm_conv_desc d = {.cin = cin, .cout = cout, .k = 3, .stride = 1, .h = h, .w = w, .ho = h, .wo = w,
                        .weight = wt, .bias = bias ? b : NULL, .wino = u, .bias2 = bias ? b2 : NULL};
    size_t ns = ddpm_conv_scratch_floats(&d, n);
    CHECK(ns == ddpm_wino_scratch_floats(&d, n), "winograd scratch size is the conv scratch size");
    float *scratch = malloc(4 * ns);
    ddpm_kernels_scalar.conv2d(&d, n, x, yd, NULL); /* the scalar table convolves directly: needs no scratch */
    ddpm_wino_conv_scalar(&d, n, x, ys);
    ddpm_kernels_simd.conv2d(&d, n, x, yv, scratch);
    CHECK(memcmp(ys, yv, 4 * ny * n) == 0, "winograd %dx%d cin=%d cout=%d bias=%d: SIMD bitwise equal to scalar twin",
          h, w, cin, cout, bias);
    double mx = 0, err = 0;
    for (size_t i = 0; i < ny * n; i++) {
        if (fabs(yd[i]) > mx) mx = fabs(yd[i]);
        if (fabs((double)yv[i] - yd[i]) > err) err = fabs((double)yv[i] - yd[i]);
    }
    CHECK(err <= 1e-5 * mx, "winograd %dx%d cin=%d cout=%d: max|wino - direct| %.3g of max|y| %.3g", h, w, cin, cout,
          err, mx);
    ddpm_conv_desc d1 = d;
    d1.bias2 = bias ? b2 + cout : NULL; /* image 1 alone */
    ddpm_kernels_simd.conv2d(&d1, 1, x + nx, y1, scratch);
    CHECK(memcmp(y1, yv + ny, 4 * ny) == 0, "winograd: image 1 of a batch of 3 bitwise equal to it alone");
    free(x), free(wt), free(b), free(b2), free(yd), free(ys), free(yv), free(y1), free(u), free(scratch);
}

static void test_gemm(int M, int N, int K, int bias) {
    float *A = malloc(4 * M * K), *B = malloc(4 * K * N), *bs = malloc(4 * M), *c1 = malloc(4 * M * N),
          *c2 = malloc(4 * M * N);
    tu_fill(A, (size_t)M * K, M + K, -1, 1);
    tu_fill(B, (size_t)K * N, N + 3, -1, 1);
    tu_fill(bs, M, 5, -1, 1);
    ddpm_kernels_scalar.gemm(M, N, K, A, K, B, N, c1, N, bias ? bs : NULL);
    ddpm_kernels_simd.gemm(M, N, K, A, K, B, N, c2, N, bias ? bs : NULL);
    double r = rel_diff(c2, c1, (size_t)M * N);
    /* one accumulator per element, k ascending, in both: the same bits at every vector width */
    CHECK(memcmp(c1, c2, 4 * (size_t)M * N) == 0, "gemm %dx%dx%d bias=%d: bitwise equal to scalar (rel %.2g)", M, N, K,
          bias, r);
    free(A), free(B), free(bs), free(c1), free(c2);
}

static void test_group_norm(int c, int hw, int groups, int silu) {
    size_t n = (size_t)c * hw;
    float *x = malloc(4 * n), *g = malloc(4 * c), *b = malloc(4 * c), *y1 = malloc(4 * n), *y2 = malloc(4 * n);
    tu_fill(x, n, c + hw, -3, 5); /* non-zero mean on purpose */
    tu_fill(g, c, 11, 0.5f, 1.5f);
    tu_fill(b, c, 12, -0.5f, 0.5f);
    ddpm_kernels_scalar.group_norm(x, y1, c, hw, groups, g, b, 1e-5f, silu);
    ddpm_kernels_simd.group_norm(x, y2, c, hw, groups, g, b, 1e-5f, silu);
    double r = rel_diff(y2, y1, n);
    CHECK(r <= 2e-6, "group_norm c=%d hw=%d groups=%d silu=%d: rel %.2g", c, hw, groups, silu, r);
    /* independent float64 check of one group's normalisation */
    const int cg = c / groups;
    double s = 0, q = 0;
    for (int i = 0; i < cg * hw; i++) s += x[i];
    double mean = s / (cg * hw);
    for (int i = 0; i < cg * hw; i++) q += (x[i] - mean) * (x[i] - mean);
    double rstd = 1 / sqrt(q / (cg * hw) + 1e-5), worst = 0;
    for (int i = 0; i < cg * hw; i++) {
        double v = (x[i] - mean) * rstd * g[i / hw] + b[i / hw];
        if (silu) v = v / (1 + exp(-v));
        double d = fabs(v - y1[i]);
        if (d > worst) worst = d;
    }
    CHECK(worst < 2e-6, "group_norm scalar vs float64: max|d| %.2g", worst);
    free(x), free(g), free(b), free(y1), free(y2);
}

static void test_elementwise(size_t n) {
    float *x = malloc(4 * n), *x2 = malloc(4 * n), *y1 = malloc(4 * n), *y2 = malloc(4 * n);
    tu_fill(x, n, (unsigned)n, -30, 30);
    tu_fill(x2, n, (unsigned)n + 1, -3, 3);
    ddpm_kernels_scalar.silu(x, y1, n);
    ddpm_kernels_simd.silu(x, y2, n);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double ref = x[i] / (1 + exp(-(double)x[i]));
        double d = fabs(ref - y1[i]) / (1e-30 + fabs(ref) + 1e-6);
        if (d > worst) worst = d;
    }
    CHECK(memcmp(y1, y2, 4 * n) == 0 && worst < 1e-6, "silu n=%zu: SIMD == scalar bitwise, scalar vs libm rel %.2g", n,
          worst);
    ddpm_kernels_scalar.add(x, x2, y1, n);
    ddpm_kernels_simd.add(x, x2, y2, n);
    CHECK(memcmp(y1, y2, 4 * n) == 0, "add n=%zu bitwise", n);
    free(x), free(x2), free(y1), free(y2);
}

static void test_softmax(int rows, int cols) {
    size_t n = (size_t)rows * cols;
    float *a = malloc(4 * n), *b = malloc(4 * n);
    tu_fill(a, n, rows * 31 + cols, -8, 8);
    memcpy(b, a, 4 * n);
    double worst = 0;
    for (int r = 0; r < rows; r++) { /* float64 reference */
        double mx = -1e30, s = 0;
        for (int c = 0; c < cols; c++) mx = fmax(mx, 0.3 * a[r * cols + c]);
        for (int c = 0; c < cols; c++) s += exp(0.3 * a[r * cols + c] - mx);
        for (int c = 0; c < cols; c++) {
            double ref = exp(0.3 * a[r * cols + c] - mx) / s;
            b[r * cols + c] = (float)ref; /* temporarily hold the reference */
        }
    }
    float *ref = malloc(4 * n);
    memcpy(ref, b, 4 * n);
    tu_fill(a, n, rows * 31 + cols, -8, 8);
    memcpy(b, a, 4 * n);
    ddpm_kernels_scalar.softmax_rows(a, rows, cols, 0.3f);
    ddpm_kernels_simd.softmax_rows(b, rows, cols, 0.3f);
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - ref[i]));
    CHECK(rel_diff(b, a, n) <= 2e-6 && worst < 1e-6, "softmax %dx%d: SIMD vs scalar rel %.2g, scalar vs float64 %.2g",
          rows, cols, rel_diff(b, a, n), worst);
    free(a), free(b), free(ref);
}

static void test_linear(int n, int in, int out) {
    float *x = malloc(4 * n * in), *W = malloc(4 * in * out), *b = malloc(4 * out), *y1 = malloc(4 * n * out),
          *y2 = malloc(4 * n * out);
    tu_fill(x, (size_t)n * in, 3, -1, 1);
    tu_fill(W, (size_t)in * out, 4, -1, 1);
    tu_fill(b, out, 5, -1, 1);
    ddpm_kernels_scalar.linear(x, n, in, out, W, b, y1);
    ddpm_kernels_simd.linear(x, n, in, out, W, b, y2);
    double r = rel_diff(y2, y1, (size_t)n * out);
    CHECK(r <= 2e-6, "linear n=%d in=%d out=%d: rel %.2g", n, in, out, r);
    free(x), free(W), free(b), free(y1), free(y2);
}

static void test_exp(void) {
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -87.0f + 175.0f * (float)i / 200000.0f;
        double d = fabs(ddpm_expf_scalar(x) - exp((double)x)) / exp((double)x);
        if (d > worst) worst = d;
    }
    CHECK(worst < 3e-7, "expf (deterministic) vs libm on [-87, 88]: max rel %.2g", worst);
    worst = 0;
    for (int i = 0; i <= 200000; i++) {
        double x = -700.0 + 1400.0 * i / 200000.0;
        double d = fabs(ddpm_det_exp(x) - exp(x)) / exp(x);
        if (d > worst) worst = d;
    }
    CHECK(worst < 1e-15, "exp (deterministic double) vs libm on [-700, 700]: max rel %.2g", worst);
}

/*
 * GroupNorm (+ SiLU) fused into the Winograd convolution's input packing (desc.pre_*): for a batch of 3 images,
 *   - the SIMD kernel bitwise equal to its scalar twin given the same scale/shift;
 *   - bitwise equal to the unfused path: SIMD group_norm into a buffer, then the SIMD Winograd conv;
 *   - group_norm_coeffs reproduces group_norm's affine: x * scale + shift == group_norm(x) bitwise (both tables);
 *   - image 1 of the batch bitwise equal to it alone.
 */
static void test_fused_norm_conv(int cin, int cout, int h, int w, int groups, int silu) {
    const int n = 3;
    size_t nx = (size_t)cin * h * w, ny = (size_t)cout * h * w;
    float *x = malloc(4 * nx * n), *wt = malloc(4 * (size_t)cout * cin * 9), *b = malloc(4 * cout);
    float *gam = malloc(4 * cin), *bet = malloc(4 * cin), *sc = malloc(4 * (size_t)cin * n), *sh = malloc(4 * (size_t)cin * n);
    float *xn = malloc(4 * nx * n), *y0 = malloc(4 * ny * n), *ys = malloc(4 * ny * n), *yv = malloc(4 * ny * n);
    float *y1 = malloc(4 * ny), *u = malloc(4 * ddpm_wino_weight_floats(cin, cout));
    tu_fill(x, nx * n, cin + 11 * h, -3, 5);
    tu_fill(wt, (size_t)cout * cin * 9, cout + 23, -0.3f, 0.3f);
    tu_fill(b, cout, 5, -1, 1);
    tu_fill(gam, cin, 6, 0.5f, 1.5f);
    tu_fill(bet, cin, 7, -0.5f, 0.5f);
    ddpm_wino_transform_weights(cin, cout, wt, u);
    const ddpm_kernel_table *tabs[2] = {&ddpm_kernels_scalar, &ddpm_kernels_simd};
    for (int t = 0; t < 2; t++) {
        int ok = 1;
        for (int i = 0; i < n; i++) {
            tabs[t]->group_norm_coeffs(x + i * nx, cin, h * w, groups, gam, bet, 1e-5f, sc + i * cin, sh + i * cin);
            tabs[t]->group_norm(x + i * nx, xn + i * nx, cin, h * w, groups, gam, bet, 1e-5f, 0);
            for (int c = 0; c < cin; c++)
                for (int p = 0; p < h * w; p++) {
                    const float v = x[i * nx + (size_t)c * h * w + p] * sc[i * cin + c] + sh[i * cin + c];
                    ok &= memcmp(&v, &xn[i * nx + (size_t)c * h * w + p], 4) == 0;
                }
        }
        CHECK(ok, "%s group_norm_coeffs: x * scale + shift bitwise equal to group_norm (c=%d hw=%d)", tabs[t]->name, cin,
              h * w);
    }
    /* sc, sh now hold the SIMD table's coefficients */
    for (int i = 0; i < n; i++)
        ddpm_kernels_simd.group_norm(x + i * nx, xn + i * nx, cin, h * w, groups, gam, bet, 1e-5f, silu);
    ddpm_conv_desc d = {.cin = cin, .cout = cout, .k = 3, .stride = 1, .h = h, .w = w, .ho = h, .wo = w,
                        .weight = wt, .bias = b, .wino = u};
    ddpm_conv_desc df = d;
    df.pre_scale = sc, df.pre_shift = sh, df.pre_silu = silu;
    size_t ns = ddpm_conv_scratch_floats(&d, n);
    float *scratch = malloc(4 * ns);
    ddpm_kernels_simd.conv2d(&d, n, xn, y0, scratch); /* unfused */
    ddpm_kernels_simd.conv2d(&df, n, x, yv, scratch); /* fused */
    ddpm_wino_conv_scalar(&df, n, x, ys);
    CHECK(ddpm_kernels_simd.conv_pre && !ddpm_kernels_scalar.conv_pre, "conv_pre: SIMD table yes, scalar table no");
    CHECK(memcmp(ys, yv, 4 * ny * n) == 0, "fused norm+conv %dx%d cin=%d cout=%d silu=%d: SIMD bitwise equal to scalar twin",
          h, w, cin, cout, silu);
    CHECK(memcmp(y0, yv, 4 * ny * n) == 0, "fused norm+conv %dx%d cin=%d cout=%d silu=%d: bitwise equal to group_norm then conv",
          h, w, cin, cout, silu);
    ddpm_conv_desc d1 = df;
    d1.pre_scale = sc + cin, d1.pre_shift = sh + cin;
    ddpm_kernels_simd.conv2d(&d1, 1, x + nx, y1, scratch);
    CHECK(memcmp(y1, yv + ny, 4 * ny) == 0, "fused norm+conv: image 1 of a batch of 3 bitwise equal to it alone");
    free(x), free(wt), free(b), free(gam), free(bet), free(sc), free(sh), free(xn), free(y0), free(ys), free(yv);
    free(y1), free(u), free(scratch);
}

/* exp: the SIMD form (through silu) bitwise equal to the scalar one, including arguments whose y = x log2(e) lies
 * near a half-integer (where the rounding of n matters) and the clamp edges. */
static void test_exp_twin(void) {
    enum { N = 4096 };
    static float x[N], y1[N], y2[N];
    for (int i = 0; i < N; i++) {
        const float k = (float)(i % 256) - 128.0f + 0.5f; /* y near k + 0.5 */
        x[i] = (i & 1) ? k * 0.693147180559945f + (float)(i / 256) * 1e-7f : -90.0f + 180.0f * (float)i / N;
    }
    ddpm_kernels_scalar.silu(x, y1, N);
    ddpm_kernels_simd.silu(x, y2, N);
    CHECK(memcmp(y1, y2, sizeof y1) == 0, "silu (exp) SIMD bitwise equal to scalar at rounding ties and clamp edges");
}

/* wide.h's affine + SiLU against the scalar SiLU of (x * scale + shift), bitwise, at the current wide level; the same
 * ties and clamp edges as test_exp_twin, and lengths with vector tails. */
static void test_wide_silu(void) {
    enum { N = 4096 + 13 };
    static float x[N], v[N], y1[N], y2[N];
    for (int i = 0; i < N; i++) {
        const float k = (float)(i % 256) - 128.0f + 0.5f;
        x[i] = (i & 1) ? k * 0.693147180559945f + (float)(i / 256) * 1e-7f : -90.0f + 180.0f * (float)i / N;
    }
    const float scale = 1.25f, shift = -0.375f;
    for (int i = 0; i < N; i++) v[i] = x[i] * scale + shift;
    ddpm_kernels_scalar.silu(v, y1, N);
    const int lens[] = {N, 1, 7, 15, 16, 17, 784};
    int ok = 1, ran = 1;
    for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
        memset(y2, 0, sizeof y2);
        ran &= ddpm_wide_affine_silu(x, y2, lens[j], scale, shift, 1);
        ok &= memcmp(y1, y2, 4 * (size_t)lens[j]) == 0 && (lens[j] == N || y2[lens[j]] == 0.0f);
        ran &= ddpm_wide_affine_silu(x, y2, lens[j], scale, shift, 0);
        ok &= memcmp(v, y2, 4 * (size_t)lens[j]) == 0;
    }
    if (ddpm_wide_level() == DDPM_WIDE_NONE)
        CHECK(!ddpm_wide_affine_silu(x, y2, N, scale, shift, 1), "wide affine+silu: declines at level 0");
    else
        CHECK(ran && ok, "wide affine+silu (level %d): bitwise equal to scalar, tails untouched", ddpm_wide_level());
}

static void test_im2col_upsample(void) {
    /* upsample: every output pixel equals its source; transpose round trip */
    float x[2 * 3 * 5], y[2 * 6 * 10], t[30], tt[30];
    tu_fill(x, 30, 1, -1, 1);
    ddpm_upsample_nearest2x(x, y, 2, 3, 5);
    int ok = 1;
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 10; j++) ok &= y[(c * 6 + i) * 10 + j] == x[(c * 3 + i / 2) * 5 + j / 2];
    ddpm_transpose(x, t, 5, 6);
    ddpm_transpose(t, tt, 6, 5);
    CHECK(ok && memcmp(tt, x, sizeof x) == 0, "upsample_nearest2x and transpose");
}

int main(void) {
    printf("vector backend: %s\n", ddpm_simd_backend());
    const int hw_level = ddpm_wide_hw_level();
    for (int level = 0; level <= hw_level; level++) {
        printf("wide GEMM level %d of %d\n", ddpm_wide_cap(level), hw_level);
        const int convs[][6] = {{1, 16, 3, 1, 12, 12}, {16, 32, 3, 1, 7, 7}, {32, 32, 3, 2, 14, 14},
                                {5, 7, 3, 2, 9, 11},   {24, 8, 1, 1, 6, 6},  {3, 13, 3, 1, 5, 13},
                                {64, 64, 3, 1, 28, 28}};
        for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
            test_conv(convs[i][0], convs[i][1], convs[i][2], convs[i][3], convs[i][4], convs[i][5], (int)(i % 2 == 0));
        test_conv(8, 8, 3, 1, 4, 4, 0);
        {
            const int wg[][5] = {{1, 32, 28, 28, 1}, {32, 32, 28, 28, 0}, {64, 64, 7, 7, 1}, {5, 13, 9, 11, 1},
                                 {3, 8, 4, 4, 0},    {96, 64, 14, 14, 1}, {7, 1, 6, 5, 1},
                                 {9, 20, 6, 7, 1} /* couts 16 + 8 wide */, {4, 260, 4, 4, 1} /* past the wide buffer */};
            for (size_t i = 0; i < sizeof wg / sizeof wg[0]; i++)
                test_winograd(wg[i][0], wg[i][1], wg[i][2], wg[i][3], wg[i][4]);
        }
        const int gemms[][3] = {{4, 8, 3}, {5, 9, 7}, {13, 49, 32}, {64, 784, 288}, {1, 3, 1}, {7, 5, 64}};
        for (size_t i = 0; i < sizeof gemms / sizeof gemms[0]; i++)
            test_gemm(gemms[i][0], gemms[i][1], gemms[i][2], (int)(i % 2));
        test_fused_norm_conv(32, 32, 28, 28, 8, 1);
        test_fused_norm_conv(96, 64, 14, 14, 8, 1);
        test_fused_norm_conv(64, 64, 7, 7, 8, 0);
        test_fused_norm_conv(6, 8, 5, 9, 3, 1);
        test_fused_norm_conv(8, 8, 33, 40, 4, 1); /* a plane larger than the wide path's buffer */
        test_wide_silu();
    }
    ddpm_wide_cap(-1);
    {   /* wider shapes for the wide blocks' edges: rows 8/6/1 blocks, column blocks of 48/32/16/8 and tails */
        const int wide[][3] = {{8, 48, 5}, {17, 120, 33}, {9, 40, 1}, {6, 24, 64}, {3, 57, 9}, {25, 8, 16}};
        for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) test_gemm(wide[i][0], wide[i][1], wide[i][2], 1);
    }
    test_group_norm(32, 784, 8, 1);
    test_group_norm(64, 49, 8, 0);
    test_group_norm(6, 5, 3, 1);
    for (size_t n = 1; n < 12; n += 3) test_elementwise(n);
    test_elementwise(10007);
    test_softmax(49, 49);
    test_softmax(3, 7);
    test_softmax(36, 36);
    test_linear(3, 32, 128);
    test_linear(2, 7, 5);
    test_exp();
    test_exp_twin();
    test_im2col_upsample();
    return tu_finish("test_kernels");
}
