/*
 * The C U-Net against the PyTorch reference (training/golden.py): for each tiny random-weight model and each weights
 * dtype, the eps output — and, for F32, every block's activation — must agree within max|d| <= 1e-4.
 *
 * The reference for F16 and I8 files is PyTorch run with the weights those files decode to (dequantized exactly as
 * the loader does), so the same 1e-4 tolerance holds; the quantization error itself (I8 vs F32) is reported apart.
 */
#include "testutil.h"

#define TOL 1e-4

typedef struct trace_ctx {
    tu_golden *g;
    int blocks;
    double worst;
    char worst_name[32];
    int missing;
} trace_ctx;

static void on_trace(void *user, const char *name, const float *data, int n, int c, int h, int w) {
    trace_ctx *tc = user;
    /* the sinusoid and the per-level aliases (diffusers' block names) have no training/model.py counterpart */
    if (strcmp(name, "time_proj") == 0 || strstr(name, "_blocks.")) return;
    char key[64];
    snprintf(key, sizeof key, "trace.%s", name);
    size_t cnt;
    float *ref = tu_golden_get(tc->g, key, &cnt);
    if (!ref || cnt != (size_t)n * c * h * w) {
        tc->missing++;
        printf("FAIL trace %s: no golden tensor of %d x %d x %d x %d\n", name, n, c, h, w);
        free(ref);
        return;
    }
    double d = tu_max_abs_diff(data, ref, cnt);
    tc->blocks++;
    if (!(d <= tc->worst)) {
        tc->worst = d;
        snprintf(tc->worst_name, sizeof tc->worst_name, "%s", name);
    }
    if (!(d <= TOL)) printf("     trace %-8s [%d,%d,%d,%d] max|d| = %.3g\n", name, n, c, h, w, d);
    free(ref);
}

static void check_model(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/data/%s.golden.safetensors", name);
    tu_golden g;
    if (!tu_golden_open(&g, path)) {
        CHECK(0, "%s: open %s (run training/golden.py)", name, path);
        return;
    }
    size_t nx, nt, ny;
    float *x = tu_golden_get(&g, "x", &nx), *t = tu_golden_get(&g, "t", &nt), *yf = tu_golden_get(&g, "y", &ny);
    int y[16], has_y = 0;
    for (size_t i = 0; i < ny; i++) {
        y[i] = (int)yf[i];
        has_y |= y[i] >= 0;
    }
    const int n = (int)nt;
    float *out_f32 = NULL;
    const char *dts[3] = {"f32", "f16", "i8"};
    for (int d = 0; d < 3; d++) {
        snprintf(path, sizeof path, "tests/data/%s.%s.safetensors", name, dts[d]);
        ddpm_error err;
        ddpm_model *m;
        ddpm_status st = ddpm_model_load_file(path, &m, &err);
        CHECK(st == DDPM_OK, "%s.%s: load (%s)", name, dts[d], err.message);
        if (st != DDPM_OK) continue;
        char key[32];
        snprintf(key, sizeof key, "out.%s", dts[d]);
        size_t nout;
        float *ref = tu_golden_get(&g, key, &nout);
        float *out = calloc(nout, sizeof(float)), *out_scalar = calloc(nout, sizeof(float));
        trace_ctx tc = {&g, 0, 0.0, "", 0};
        if (d == 0) ddpm_model_set_trace(m, on_trace, &tc);
        st = ddpm_model_forward(m, n, x, t, has_y ? y : NULL, out, &err);
        CHECK(st == DDPM_OK, "%s.%s: forward (%s)", name, dts[d], err.message);
        double dmax = tu_max_abs_diff(out, ref, nout);
        CHECK(dmax <= TOL, "%s.%s: eps vs PyTorch, SIMD (%s) kernels: max|d| = %.3g (tol %.0e)", name, dts[d],
              ddpm_simd_backend(), dmax, TOL);
        if (d == 0) {
            CHECK(tc.blocks > 5 && tc.missing == 0 && tc.worst <= TOL,
                  "%s: %d block activations vs PyTorch, worst %s max|d| = %.3g", name, tc.blocks, tc.worst_name,
                  tc.worst);
            ddpm_model_set_trace(m, NULL, NULL);
        }
        ddpm_model_set_kernels(m, DDPM_KERNELS_SCALAR);
        ddpm_model_forward(m, n, x, t, has_y ? y : NULL, out_scalar, NULL);
        dmax = tu_max_abs_diff(out_scalar, ref, nout);
        CHECK(dmax <= TOL, "%s.%s: eps vs PyTorch, scalar kernels: max|d| = %.3g", name, dts[d], dmax);
        ddpm_model_set_kernels(m, DDPM_KERNELS_SIMD);

        /* image k of a batch equals image k alone, bit for bit */
        const size_t per_in = nx / n, per_out = nout / n;
        float *one = malloc(sizeof(float) * per_out);
        int same = 1;
        for (int k = 0; k < n; k++) {
            ddpm_model_forward(m, 1, x + k * per_in, t + k, has_y ? y + k : NULL, one, NULL);
            same &= memcmp(one, out + k * per_out, sizeof(float) * per_out) == 0;
        }
        CHECK(same, "%s.%s: each image alone == the same image in the batch (bitwise)", name, dts[d]);
        free(one);

        if (d == 0) {
            out_f32 = malloc(sizeof(float) * nout);
            memcpy(out_f32, out, sizeof(float) * nout);
        } else if (out_f32) {
            double num = 0, den = 0;
            for (size_t i = 0; i < nout; i++) {
                num += ((double)out[i] - out_f32[i]) * ((double)out[i] - out_f32[i]);
                den += (double)out_f32[i] * out_f32[i];
            }
            printf("     %s.%s vs f32 weights: rel L2 = %.4f, max|d| = %.4f (quantization, informational)\n", name,
                   dts[d], sqrt(num / den), tu_max_abs_diff(out, out_f32, nout));
        }
        free(ref);
        free(out);
        free(out_scalar);
        ddpm_model_free(m);
    }
    free(out_f32);
    free(x);
    free(t);
    free(yf);
    tu_golden_close(&g);
}

/* A shipped model against the golden file training/golden.py --shipped wrote from the file's own weights. */
static void check_shipped(const char *name, const char *model_path) {
    char path[256];
    snprintf(path, sizeof path, "tests/data/%s.golden.safetensors", name);
    tu_golden g;
    FILE *f = fopen(model_path, "rb");
    if (!f) {
        printf("     skip %s: %s not present\n", name, model_path);
        return;
    }
    fclose(f);
    if (!tu_golden_open(&g, path)) {
        CHECK(0, "%s: open %s (run training/golden.py --shipped %s)", name, path, model_path);
        return;
    }
    size_t nx, nt, ny, nref;
    float *x = tu_golden_get(&g, "x", &nx), *t = tu_golden_get(&g, "t", &nt), *yf = tu_golden_get(&g, "y", &ny);
    float *ref = tu_golden_get(&g, "out.i8", &nref);
    int y[16], has_y = 0;
    for (size_t i = 0; i < ny && i < 16; i++) y[i] = (int)yf[i], has_y |= y[i] >= 0;
    ddpm_model *m;
    ddpm_error err;
    if (ddpm_model_load_file(model_path, &m, &err) != DDPM_OK) {
        CHECK(0, "%s: load (%s)", model_path, err.message);
    } else if (!ref) {
        CHECK(0, "%s: the golden file has no out.i8", name);
        ddpm_model_free(m);
    } else {
        float *out = calloc(nref, sizeof(float));
        for (int k = 0; k < 2; k++) {
            ddpm_model_set_kernels(m, k ? DDPM_KERNELS_SCALAR : DDPM_KERNELS_SIMD);
            ddpm_status st = ddpm_model_forward(m, (int)nt, x, t, has_y ? y : NULL, out, &err);
            double dmax = st == DDPM_OK ? tu_max_abs_diff(out, ref, nref) : INFINITY;
            CHECK(dmax <= TOL, "%s (shipped, I8): eps vs PyTorch on %d inputs, %s kernels: max|d| = %.3g (tol %.0e)",
                  name, (int)nt, k ? "scalar" : ddpm_simd_backend(), dmax, TOL);
        }
        free(out);
        ddpm_model_free(m);
    }
    free(x), free(t), free(yf), free(ref);
    tu_golden_close(&g);
}

int main(void) {
    check_model("tiny-cond");
    check_model("tiny-uncond");
    check_shipped("fmnist-cond", "models/fmnist-cond.i8.safetensors");
    check_shipped("fmnist-uncond", "models/fmnist-uncond.i8.safetensors");
    return tu_finish("test_unet_golden");
}
