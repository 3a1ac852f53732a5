/*
 * Hugging Face diffusers UNet2DModel checkpoints against diffusers' own numbers (tests/data/diffusers/, made by
 * diffusers v0.21.4 itself; see GOLDENS.md there):
 *   - small-rgb loads from its folder, has 1,113,955 parameters, and reproduces golden.safetensors' eps within 1e-4
 *     (max abs) and every block of intermediates.safetensors;
 *   - the same weights with the attention tensors renamed to the pre-0.14 names give identical bits;
 *   - F16 / I8 quantize-on-load: each weight within half a quantization step of the F32 one, eps within stated
 *     tolerances of diffusers' F32 eps;
 *   - replay: DDPM (20 leading steps) and DDIM (50 steps, eta 0) from the recorded x_T and noise reproduce x after
 *     every step within 1e-3 of diffusers' x[i].
 */
#include "testutil.h"
#include "io/json.h"

#define DIR "tests/data/diffusers"
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif
#define EPS_TOL 1e-4
#define STEP_TOL 1e-3

/* ---- a reader for golden files with any dtype (F32, F64, I64): the library's parser takes model dtypes only ---- */

typedef struct raw_golden {
    unsigned char *buf;
    size_t size, data_off;
    ddpm_json *doc;
} raw_golden;

static int raw_open(raw_golden *g, const char *path) {
    memset(g, 0, sizeof *g);
    g->buf = tu_read_file(path, &g->size);
    if (!g->buf || g->size < 8) return 0;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | g->buf[i];
    if (hl > g->size - 8) return 0;
    g->data_off = 8 + (size_t)hl;
    return ddpm_json_parse((const char *)g->buf + 8, (size_t)hl, &g->doc, NULL) == DDPM_OK;
}

/* Tensor `name` as doubles (F32, F64 or I64), malloc'd; NULL if absent. */
static double *raw_get(raw_golden *g, const char *name, size_t *count) {
    const ddpm_json_value *e = ddpm_json_object_get(ddpm_json_root(g->doc), name);
    if (!e) return NULL;
    const char *dt = ddpm_json_object_get(e, "dtype")->string;
    const ddpm_json_value *off = ddpm_json_object_get(e, "data_offsets");
    const size_t b = (size_t)off->items[0].integer, end = (size_t)off->items[1].integer;
    const size_t es = strcmp(dt, "F32") == 0 ? 4 : 8, n = (end - b) / es;
    double *out = malloc(sizeof(double) * (n ? n : 1));
    const unsigned char *p = g->buf + g->data_off + b;
    for (size_t i = 0; i < n; i++) {
        if (es == 4) {
            float f;
            memcpy(&f, p + 4 * i, 4);
            out[i] = f;
        } else if (strcmp(dt, "F64") == 0) {
            memcpy(&out[i], p + 8 * i, 8);
        } else {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            out[i] = (double)v;
        }
    }
    *count = n;
    return out;
}

static float *raw_get_f32(raw_golden *g, const char *name, size_t *count) {
    double *d = raw_get(g, name, count);
    if (!d) return NULL;
    float *f = malloc(sizeof(float) * (*count ? *count : 1));
    for (size_t i = 0; i < *count; i++) f[i] = (float)d[i];
    free(d);
    return f;
}

static void raw_close(raw_golden *g) {
    ddpm_json_free(g->doc);
    free(g->buf);
}

/* ---- the forward pass and its blocks ---- */

typedef struct trace_ctx {
    raw_golden *inter;
    int compared;
    double worst;
} trace_ctx;

static void on_trace(void *user, const char *name, const float *data, int n, int c, int h, int w) {
    trace_ctx *tc = user;
    const char *key = name;
    if (strcmp(name, "temb") == 0) key = "emb_total"; /* what every resnet receives */
    else if (strcmp(name, "mid") == 0) key = "mid_block";
    else if (strcmp(name, "out") == 0) key = "conv_out";
    else if (strncmp(name, "down.", 5) == 0 || strncmp(name, "up.", 3) == 0) return; /* flat block names */
    if (!ddpm_json_object_get(ddpm_json_root(tc->inter->doc), key) && strcmp(key, "time_proj") != 0) {
        CHECK(0, "intermediate %s: not in intermediates.safetensors", key);
        return;
    }
    size_t cnt;
    float *ref = raw_get_f32(tc->inter, key, &cnt);
    if (!ref) {
        CHECK(0, "intermediate %s: not in intermediates.safetensors", key);
        return;
    }
    CHECK(cnt == (size_t)n * c * h * w, "intermediate %s: %zu elements (engine %d x %d x %d x %d)", key, cnt, n, c, h, w);
    if (cnt == (size_t)n * c * h * w) {
        const double d = tu_max_abs_diff(data, ref, cnt);
        CHECK(d <= EPS_TOL, "intermediate %-14s max|d| = %.2e", key, d);
        tc->compared++;
        if (!(d <= tc->worst)) tc->worst = d;
    }
    free(ref);
}

static ddpm_model *load_dir(const char *path, ddpm_dtype q) {
    ddpm_load_options o = ddpm_load_default_options();
    o.quantize = q;
    ddpm_model *m = NULL;
    ddpm_error err;
    ddpm_status st = ddpm_model_load_path(path, NULL, &o, &m, &err);
    CHECK(st == DDPM_OK, "load %s (quantize %d): %s", path, (int)q, st == DDPM_OK ? "ok" : err.message);
    return m;
}

/* eps of model m for golden x, t; *d_out receives max|eps - golden| */
static float *eval_golden(ddpm_model *m, raw_golden *g, double *d_out) {
    size_t nx, nt, ne;
    float *x = raw_get_f32(g, "x", &nx), *t = raw_get_f32(g, "t", &nt), *ref = raw_get_f32(g, "eps", &ne);
    float *out = malloc(sizeof(float) * ne);
    ddpm_error err;
    ddpm_status st = ddpm_model_forward(m, (int)nt, x, t, NULL, out, &err);
    CHECK(st == DDPM_OK, "forward: %s", st == DDPM_OK ? "ok" : err.message);
    *d_out = tu_max_abs_diff(out, ref, ne);
    free(x);
    free(t);
    free(ref);
    return out;
}

/* Loads folder DIR, checks eps on its golden x, t (and class_labels) within EPS_TOL and every intermediate; returns
 * the loaded model (for further checks) and the eps it computed. */
static ddpm_model *check_folder(const char *dir, size_t expect_params, int expect_intermediates, float **eps_out) {
    char path[256];
    ddpm_model *m = load_dir(dir, DDPM_DTYPE_F32);
    if (!m) return NULL;
    if (getenv("DDPM_TEST_SCALAR")) ddpm_model_set_kernels(m, DDPM_KERNELS_SCALAR);
    if (getenv("DDPM_TEST_PRECISE")) ddpm_model_set_kernels(m, DDPM_KERNELS_PRECISE);
    if (expect_params)
        CHECK(ddpm_model_num_params(m) == expect_params, "%s has %zu parameters (diffusers: %zu)", dir,
              ddpm_model_num_params(m), expect_params);
    raw_golden g, inter;
    snprintf(path, sizeof path, "%s/golden.safetensors", dir);
    int ok = raw_open(&g, path);
    snprintf(path, sizeof path, "%s/intermediates.safetensors", dir);
    ok = ok && raw_open(&inter, path);
    CHECK(ok, "%s: open its golden files", dir);
    if (!ok) return m;
    size_t nx, nt, ne, ny = 0;
    float *x = raw_get_f32(&g, "x", &nx), *t = raw_get_f32(&g, "t", &nt), *ref = raw_get_f32(&g, "eps", &ne);
    double *yd = raw_get(&g, "class_labels", &ny);
    int y[16];
    for (size_t i = 0; i < ny && i < 16; i++) y[i] = (int)yd[i];
    float *out = malloc(sizeof(float) * ne);
    trace_ctx tc = {&inter, 0, 0};
    ddpm_model_set_trace(m, on_trace, &tc);
    ddpm_error err;
    ddpm_status st = ddpm_model_forward(m, (int)nt, x, t, yd ? y : NULL, out, &err);
    ddpm_model_set_trace(m, NULL, NULL);
    CHECK(st == DDPM_OK, "%s: forward: %s", dir, st == DDPM_OK ? "ok" : err.message);
    const double d = tu_max_abs_diff(out, ref, ne);
    CHECK(d <= EPS_TOL, "%s: eps vs the reference: max|d| = %.2e (tolerance %.0e)", dir, d, EPS_TOL);
    CHECK(tc.compared == expect_intermediates, "%s: %d of %d intermediates compared (worst %.2e)", dir, tc.compared,
          expect_intermediates, tc.worst);
    /* batch independence: the last image alone equals the last image of the batch, bit for bit */
    const size_t per = nx / nt, per_out = ne / nt;
    float *one = malloc(sizeof(float) * per_out);
    ddpm_model_forward(m, 1, x + (nt - 1) * per, t + nt - 1, yd ? y + nt - 1 : NULL, one, NULL);
    CHECK(memcmp(one, out + (nt - 1) * per_out, sizeof(float) * per_out) == 0,
          "%s: the last image alone = the last image of the batch, bit for bit", dir);
    free(one), free(x), free(t), free(ref), free(yd);
    raw_close(&g);
    raw_close(&inter);
    if (eps_out) *eps_out = out;
    else free(out);
    return m;
}

static void test_forward(void) {
    float *eps = NULL;
    ddpm_model *m = check_folder(DIR "/small-rgb", 1113955, 11, &eps);
    if (!m) return;
    const ddpm_model_config *c = ddpm_model_get_config(m);
    CHECK(c->image_size == 16 && c->in_channels == 3 && c->num_levels == 3 && c->arch.head_dim == 8 &&
              c->arch.attn_down == 2u && c->arch.attn_up == 2u && c->arch.downsample_one_sided,
          "config: 16x16x3, 3 levels, head_dim 8, attention at level 1 both ways, one-sided downsampling");
    raw_golden g;
    raw_open(&g, DIR "/small-rgb/golden.safetensors");
    size_t n64, nx;
    double *e64 = raw_get(&g, "eps_f64_pure", &n64), m64 = 0;
    for (size_t i = 0; i < n64; i++) m64 = fmax(m64, fabs(eps[i] - e64[i]));
    CHECK(m64 <= EPS_TOL, "eps vs diffusers' float64 model: max|d| = %.2e", m64);
    free(e64);
    nx = n64;
    /* quantize on load: F16 and I8 */
    const struct { ddpm_dtype q; double tol; const char *name; } qs[2] = {{DDPM_DTYPE_F16, 5e-3, "F16"},
                                                                          {DDPM_DTYPE_I8, 0.15, "I8"}};
    for (int k = 0; k < 2; k++) {
        ddpm_model *mq = load_dir(DIR "/small-rgb", qs[k].q);
        if (!mq) continue;
        double dq;
        float *eq = eval_golden(mq, &g, &dq);
        double num = 0, den = 0;
        for (size_t i = 0; i < nx; i++) num += (eq[i] - eps[i]) * (double)(eq[i] - eps[i]), den += (double)eps[i] * eps[i];
        CHECK(dq <= qs[k].tol, "%s on load: eps max|d| vs diffusers = %.2e (tolerance %.0e), relative L2 %.2e",
              qs[k].name, dq, qs[k].tol, sqrt(num / den));
        /* against PyTorch run with the weights export.py's F16 / I8 files hold (training/diffusers_quant_golden.py) */
        raw_golden qg;
        if (raw_open(&qg, "tests/data/diffusers-ref/small-rgb-quant.safetensors")) {
            size_t nq;
            float *ref = raw_get_f32(&qg, k == 0 ? "eps_f16" : "eps_i8", &nq);
            const double dr = ref && nq == nx ? tu_max_abs_diff(eq, ref, nq) : 1e9;
            CHECK(dr <= EPS_TOL, "%s on load vs PyTorch with the same quantized weights: max|d| = %.2e (tolerance %.0e)",
                  qs[k].name, dr, EPS_TOL);
            free(ref);
            raw_close(&qg);
        } else {
            CHECK(0, "open tests/data/diffusers-ref/small-rgb-quant.safetensors");
        }
        /* compact: the same bits, and the same exported file */
        ddpm_load_options oc = ddpm_load_default_options();
        oc.quantize = qs[k].q;
        oc.compact = 1;
        ddpm_model *mc = NULL;
        ddpm_error cerr;
        ddpm_status cst = ddpm_model_load_path(DIR "/small-rgb", NULL, &oc, &mc, &cerr);
        CHECK(cst == DDPM_OK, "%s compact: %s", qs[k].name, cst == DDPM_OK ? "ok" : cerr.message);
        if (mc) {
            double dc;
            float *ec = eval_golden(mc, &g, &dc);
            CHECK(memcmp(ec, eq, sizeof(float) * nx) == 0 && ddpm_model_num_params(mc) == 1113955,
                  "%s compact: 3x3 weights kept as %s, the same eps bits and parameter count", qs[k].name,
                  qs[k].q == DDPM_DTYPE_I8 ? "int8" : "binary16");
            void *fa, *fb;
            size_t na, nb;
            const ddpm_dtype xd = qs[k].q;
            if (ddpm_model_export(mq, xd, &fa, &na, NULL) == DDPM_OK && ddpm_model_export(mc, xd, &fb, &nb, NULL) == DDPM_OK) {
                CHECK(na == nb && memcmp(fa, fb, na) == 0, "%s compact: the exported file is byte-identical", qs[k].name);
                free(fa), free(fb);
            }
            free(ec);
            ddpm_model_free(mc);
        }
        free(eq);
        ddpm_model_free(mq);
    }
    free(eps);
    raw_close(&g);
    ddpm_model_free(m);
    /* the features diffusers' goldens leave out, against training/diffusers_unet.py (bit-exact to diffusers on
     * small-rgb): google/ddpm-cifar10-32's wiring at narrow width with the pre-0.14 attention names, and
     * downsample_padding 1, mid_block_scale_factor sqrt 2, num_class_embeds, center_input_sample, 2 heads */
    ddpm_model_free(check_folder("tests/data/diffusers-ref/cifar-narrow", 565315, 13, NULL));
    ddpm_model_free(check_folder("tests/data/diffusers-ref/tiny-features", 167985, 9, NULL));
}

/* The same folder's weights with the attention tensors renamed to diffusers' pre-0.14 names: identical bits. */
static void test_old_names(void) {
    size_t n, cn;
    unsigned char *w = tu_read_file(DIR "/small-rgb/diffusion_pytorch_model.safetensors", &n);
    unsigned char *cfg = tu_read_file(DIR "/small-rgb/config.json", &cn);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | w[i];
    /* rename in the JSON header; the data offsets are relative to the data section, so they stay valid */
    static const char *const from[] = {".to_q.", ".to_k.", ".to_v.", ".to_out.0."};
    static const char *const to[] = {".query.", ".key.", ".value.", ".proj_attn."};
    char *hdr = malloc(hl * 2 + 16), *src = malloc(hl + 1);
    memcpy(src, w + 8, hl);
    src[hl] = '\0';
    size_t o = 0, renamed = 0;
    for (size_t i = 0; i < hl;) {
        int hit = -1;
        for (int k = 0; k < 4 && hit < 0; k++)
            if (strncmp(src + i, from[k], strlen(from[k])) == 0) hit = k;
        if (hit >= 0) {
            memcpy(hdr + o, to[hit], strlen(to[hit]));
            o += strlen(to[hit]);
            i += strlen(from[hit]);
            renamed++;
        } else {
            hdr[o++] = src[i++];
        }
    }
    const size_t data_len = n - 8 - hl, total = 8 + o + data_len;
    unsigned char *nw = malloc(total);
    for (int i = 0; i < 8; i++) nw[i] = (unsigned char)((uint64_t)o >> (8 * i));
    memcpy(nw + 8, hdr, o);
    memcpy(nw + 8 + o, w + 8 + hl, data_len);
    CHECK(renamed == 4 * 8, "renamed %zu attention tensors (4 attention blocks x 8)", renamed);

    ddpm_load_options opt = ddpm_load_default_options();
    opt.unet_config = (const char *)cfg;
    opt.unet_config_len = cn;
    ddpm_model *a = NULL, *b = NULL;
    ddpm_error err;
    ddpm_status sa = ddpm_model_load_buffer_ex(w, n, &opt, &a, &err);
    CHECK(sa == DDPM_OK, "current names load from a buffer: %s", sa == DDPM_OK ? "ok" : err.message);
    ddpm_status sb = ddpm_model_load_buffer_ex(nw, total, &opt, &b, &err);
    CHECK(sb == DDPM_OK, "pre-0.14 names load: %s", sb == DDPM_OK ? "ok" : err.message);
    if (a && b) {
        float x[2 * 768], t[2] = {3.0f, 640.0f}, ya[2 * 768], yb[2 * 768];
        tu_fill(x, 2 * 768, 7, -1.5f, 1.5f);
        ddpm_model_forward(a, 2, x, t, NULL, ya, NULL);
        ddpm_model_forward(b, 2, x, t, NULL, yb, NULL);
        CHECK(memcmp(ya, yb, sizeof ya) == 0, "old and new attention names give identical bits");
    }
    ddpm_model_free(a);
    ddpm_model_free(b);
    free(w);
    free(cfg);
    free(hdr);
    free(src);
    free(nw);
}

/*
 * Replays a diffusers sampling loop from its recorded x_T and noise; x after every step within tol.
 *
 * DDIM at eta = 0 is chaotic on this random-weight network: training/ddim_sensitivity.py runs diffusers' own
 * float32 loop (training/diffusers_unet.py, bit-exact to diffusers) with Gaussian noise of sd 1e-6 added to every
 * eps, and x drifts by 0.6e-3 .. 1.0e-3 from the unperturbed run (sd 3e-6: 1.1e-3 .. 2.0e-3). Any float32 engine
 * whose sums run in another order than PyTorch's lands there; this engine's eps differs from diffusers' by ~1e-5
 * max (Winograd F(4x4, 3x3); 3.5e-6 with the direct scalar kernels) and drifts by 1.7e-3 (scalar: 1.04e-3). The
 * DDIM replay is therefore held to 2.5e-3 with the fast kernels, and to 1e-3 with DDPM_KERNELS_PRECISE (double sums:
 * eps within ~2.4e-6, the drift 2.4e-4); the DDPM one (which the noise keeps from compounding) to 1e-3.
 */
static void replay(const char *golden, const char *sched_dir, int steps, const char *expect_sampler, double tol,
                   ddpm_kernels kernels, int check_steps) {
    char path[256];
    snprintf(path, sizeof path, DIR "/sampling/%s/scheduler_config.json", sched_dir);
    size_t wn, cn, sn;
    unsigned char *w = tu_read_file(DIR "/small-rgb/diffusion_pytorch_model.safetensors", &wn);
    unsigned char *cfg = tu_read_file(DIR "/small-rgb/config.json", &cn);
    unsigned char *sc = tu_read_file(path, &sn);
    ddpm_load_options opt = ddpm_load_default_options();
    opt.unet_config = (const char *)cfg;
    opt.unet_config_len = cn;
    opt.scheduler_config = (const char *)sc;
    opt.scheduler_config_len = sn;
    ddpm_model *m = NULL;
    ddpm_error err;
    ddpm_status st = ddpm_model_load_buffer_ex(w, wn, &opt, &m, &err);
    CHECK(st == DDPM_OK, "%s: load with its scheduler config: %s", golden, st == DDPM_OK ? "ok" : err.message);
    raw_golden g;
    snprintf(path, sizeof path, DIR "/sampling/%s", golden);
    if (!m || !raw_open(&g, path)) {
        CHECK(0, "%s: open", golden);
        ddpm_model_free(m);
        free(w), free(cfg), free(sc);
        return;
    }
    size_t nT, nn, nx, nts;
    float *xT = raw_get_f32(&g, "x_T", &nT), *noise = raw_get_f32(&g, "noise", &nn), *xs = raw_get_f32(&g, "x", &nx);
    double *ts = raw_get(&g, "timesteps", &nts);
    ddpm_model_set_kernels(m, kernels);
    const char *kname = kernels == DDPM_KERNELS_PRECISE ? " (precise kernels)" : "";
    ddpm_sample_params p = ddpm_model_sample_defaults(m);
    CHECK(strcmp(p.sampler, expect_sampler) == 0, "%s: the scheduler config selects sampler %s (%s)", golden,
          p.sampler, expect_sampler);
    p.steps = steps;
    p.batch = 2;
    p.start_x = xT;
    p.noise = noise;
    p.noise_count = noise ? (int)(nn / nT) : 0;
    ddpm_run *r = NULL;
    st = ddpm_run_create(m, &p, &r, &err);
    CHECK(st == DDPM_OK, "%s: run: %s", golden, st == DDPM_OK ? "ok" : err.message);
    int grid_ok = r && ddpm_run_num_steps(r) == (int)nts;
    for (int i = 0; r && grid_ok && i < (int)nts; i++) grid_ok = ddpm_run_timestep(r, i) == (int)ts[i];
    CHECK(grid_ok, "%s: the %zu timesteps equal diffusers' (first %d, last %d)", golden, nts, (int)ts[0],
          (int)ts[nts - 1]);
    double worst = 0;
    int worst_i = -1, ok = r != NULL;
    for (int i = 0; r && i < check_steps && ok; i++) {
        ok = ddpm_run_step(r, &err) == DDPM_OK;
        if (!ok) break;
        const double d = tu_max_abs_diff(ddpm_run_x(r), xs + (size_t)i * nT, nT);
        if (getenv("DDPM_TEST_VERBOSE")) printf("     step %2d t %4d max|d| %.3e\n", i, ddpm_run_timestep(r, i), d);
        if (!(d <= worst)) worst = d, worst_i = i;
    }
    CHECK(ok, "%s: every step ran%s%s", golden, ok ? "" : ": ", ok ? "" : err.message);
    CHECK(worst <= tol, "%s%s: x after %d steps vs diffusers' x[i]: worst max|d| = %.2e at step %d (tolerance %.1e)",
          golden, kname, check_steps, worst, worst_i, tol);
    /* one noise tensor too few is a clear error */
    if (noise && kernels == DDPM_KERNELS_SIMD) {
        ddpm_run_free(r);
        p.noise_count--;
        ddpm_run_create(m, &p, &r, NULL);
        st = DDPM_OK;
        for (int i = 0; i < steps && st == DDPM_OK; i++) st = ddpm_run_step(r, &err);
        CHECK(st == DDPM_ERR_INVALID_ARGUMENT && strstr(err.message, "replay noise"),
              "%s: a replay with one noise tensor too few fails: %s", golden, err.message);
    }
    ddpm_run_free(r);
    free(xT), free(noise), free(xs), free(ts);
    raw_close(&g);
    ddpm_model_free(m);
    free(w), free(cfg), free(sc);
}

int main(void) {
    test_forward();
    test_old_names();
    replay("ddpm20_leading.safetensors", "ddpm", 20, "ddpm", STEP_TOL, DDPM_KERNELS_SIMD, 20);
    replay("ddim50_eta0.safetensors", "ddim", 50, "ddim", 2.5e-3, DDPM_KERNELS_SIMD, 50);
    /* the precise kernels reproduce diffusers' DDIM run within 1e-3 (measured 2.4e-4); under the sanitizers, which
     * slow the double loops tenfold, the first 10 steps */
    replay("ddim50_eta0.safetensors", "ddim", 50, "ddim", STEP_TOL, DDPM_KERNELS_PRECISE, SANITIZED ? 10 : 50);
    return tu_finish("test_diffusers");
}
