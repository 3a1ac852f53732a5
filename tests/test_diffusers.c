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
#include "io/diffusers_config.h"
#include "io/json.h"
#include "unet/unet.h"

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

/* s with the first occurrence of `from` replaced by `to` (malloc'd). */
static char *replaced(const char *s, size_t len, const char *from, const char *to, size_t *out_len) {
    const char *hit = strstr(s, from);
    if (!hit) return NULL;
    const size_t a = (size_t)(hit - s), fl = strlen(from), tl = strlen(to);
    char *r = malloc(len - fl + tl + 1);
    memcpy(r, s, a);
    memcpy(r + a, to, tl);
    memcpy(r + a + tl, hit + fl, len - a - fl);
    r[len - fl + tl] = '\0';
    *out_len = len - fl + tl;
    return r;
}

/* The weights file with its JSON header edited (the data section kept), as a new buffer. */
static unsigned char *edit_header(const unsigned char *w, size_t n, const char *from, const char *to, size_t *out) {
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | w[i];
    char *hdr = malloc(hl + 1);
    memcpy(hdr, w + 8, hl);
    hdr[hl] = '\0';
    size_t nl;
    char *nh = replaced(hdr, hl, from, to, &nl);
    free(hdr);
    if (!nh) return NULL;
    unsigned char *b = malloc(8 + nl + (n - 8 - hl));
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)nl >> (8 * i));
    memcpy(b + 8, nh, nl);
    memcpy(b + 8 + nl, w + 8 + hl, n - 8 - hl);
    *out = 8 + nl + (n - 8 - hl);
    free(nh);
    return b;
}

/* Bad configs and bad weights: each refused with its status and a message naming the culprit; nothing leaks (the
 * ASan build runs this too). */
static void test_corrupt(void) {
    size_t wn, cn;
    unsigned char *w = tu_read_file(DIR "/small-rgb/diffusion_pytorch_model.safetensors", &wn);
    char *cfg = (char *)tu_read_file(DIR "/small-rgb/config.json", &cn);
    static const struct { const char *from, *to; ddpm_status st; const char *needle; } cfgs[] = {
        {"\"sample_size\": 16", "\"sample_size\": 1000000000", DDPM_ERR_TOO_LARGE, "sample_size"},
        {"\"sample_size\": 16", "\"sample_size\": [16, 32]", DDPM_ERR_UNSUPPORTED, "square"},
        {"\"sample_size\": 16", "\"sample_size\": 10", DDPM_ERR_CONFIG, "odd"},
        {"32,\n    64,\n    64", "32,\n    64,\n    1000000", DDPM_ERR_TOO_LARGE, "block_out_channels"},
        {"32,\n    64,\n    64", "32,\n    64", DDPM_ERR_CONFIG, "down_block_types has 3 entries"},
        {"\"AttnDownBlock2D\"", "\"CrossAttnDownBlock2D\"", DDPM_ERR_UNSUPPORTED, "CrossAttnDownBlock2D"},
        {"\"attention_head_dim\": 8", "\"attention_head_dim\": 24", DDPM_ERR_UNSUPPORTED, "attention_head_dim"},
        {"\"norm_num_groups\": 8", "\"norm_num_groups\": 7", DDPM_ERR_CONFIG, "groups = 7"},
        {"\"time_embedding_type\": \"positional\"", "\"time_embedding_type\": \"fourier\"", DDPM_ERR_UNSUPPORTED,
         "time_embedding_type"},
        {"\"resnet_time_scale_shift\": \"default\"", "\"resnet_time_scale_shift\": \"scale_shift\"",
         DDPM_ERR_UNSUPPORTED, "resnet_time_scale_shift"},
        {"\"in_channels\": 3", "\"in_channels\": 4", DDPM_ERR_SHAPE, "conv_in.weight"},
        {"\"in_channels\": 3", "\"in_channels\": \"3\"", DDPM_ERR_CONFIG, "in_channels"},
        {"\"in_channels\": 3", "\"in_channels\": 3, \"cross_attention_dim\": 768", DDPM_ERR_UNSUPPORTED,
         "cross_attention_dim"},
        {"{", "[", DDPM_ERR_FORMAT, "config.json"},
        {"\"act_fn\": \"silu\",", "\"act_fn\": \"silu\"", DDPM_ERR_FORMAT, "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        size_t len;
        char *c = replaced(cfg, cn, cfgs[i].from, cfgs[i].to, &len);
        if (!c) {
            CHECK(0, "config case %zu: pattern not found", i);
            continue;
        }
        ddpm_load_options o = ddpm_load_default_options();
        o.unet_config = c;
        o.unet_config_len = len;
        ddpm_model *m = NULL;
        ddpm_error err;
        ddpm_status st = ddpm_model_load_buffer_ex(w, wn, &o, &m, &err);
        CHECK(st == cfgs[i].st && !m && strstr(err.message, cfgs[i].needle), "config %s -> %s: %s", cfgs[i].to,
              ddpm_status_str(st), err.message);
        ddpm_model_free(m);
        free(c);
    }
    static const struct { const char *from, *to; ddpm_status st; const char *needle; } ws[] = {
        {"\"conv_in.weight\"", "\"conv_in.weigxx\"", DDPM_ERR_MISSING_TENSOR, "conv_in.weight"},
        {"{\"__metadata__\"", "{\"extra.bias\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},\"__metadata__\"",
         DDPM_ERR_FORMAT, "unexpected tensor extra.bias"},
        {"\"conv_in.bias\":{\"dtype\":\"F32\"", "\"conv_in.bias\":{\"dtype\":\"I32\"", DDPM_ERR_UNSUPPORTED, "I32"},
        {"\"conv_in.bias\":{\"dtype\":\"F32\",\"shape\":[32]", "\"conv_in.bias\":{\"dtype\":\"F32\",\"shape\":[16,2]",
         DDPM_ERR_SHAPE, "conv_in.bias"},
        {"\"conv_in.bias\":{\"dtype\":\"F32\",\"shape\":[32]", "\"conv_in.bias\":{\"dtype\":\"F16\",\"shape\":[64]",
         DDPM_ERR_SHAPE, "conv_in.bias"},
    };
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
        size_t len;
        unsigned char *b = edit_header(w, wn, ws[i].from, ws[i].to, &len);
        if (!b) {
            CHECK(0, "weights case %zu: pattern not found", i);
            continue;
        }
        ddpm_load_options o = ddpm_load_default_options();
        o.unet_config = cfg;
        o.unet_config_len = cn;
        ddpm_model *m = NULL;
        ddpm_error err;
        ddpm_status st = ddpm_model_load_buffer_ex(b, len, &o, &m, &err);
        CHECK(st == ws[i].st && !m && strstr(err.message, ws[i].needle), "weights %s -> %s: %s", ws[i].to,
              ddpm_status_str(st), err.message);
        ddpm_model_free(m);
        free(b);
    }
    /* weights without any config, a pipeline index naming Stable Diffusion, a folder holding only a .bin */
    ddpm_model *m = NULL;
    ddpm_error err;
    ddpm_status st = ddpm_model_load_buffer(w, wn, &m, &err);
    CHECK(st == DDPM_ERR_CONFIG && strstr(err.message, "config.json"), "weights alone: %s", err.message);
    FILE *f = fopen("/tmp/ddpm-test-sd/model_index.json", "wb");
    if (!f) {
        (void)system("mkdir -p /tmp/ddpm-test-sd /tmp/ddpm-test-bin");
        f = fopen("/tmp/ddpm-test-sd/model_index.json", "wb");
    }
    if (f) {
        fputs("{\"_class_name\": \"StableDiffusionPipeline\", \"unet\": [\"diffusers\", \"UNet2DConditionModel\"],"
              " \"vae\": [\"diffusers\", \"AutoencoderKL\"]}", f);
        fclose(f);
        st = ddpm_model_load_path("/tmp/ddpm-test-sd", NULL, NULL, &m, &err);
        CHECK(st == DDPM_ERR_UNSUPPORTED && strstr(err.message, "Stable Diffusion"), "a Stable Diffusion pipeline: %s",
              err.message);
    }
    f = fopen("/tmp/ddpm-test-bin/config.json", "wb");
    if (f) {
        fwrite(cfg, 1, cn, f);
        fclose(f);
        f = fopen("/tmp/ddpm-test-bin/diffusion_pytorch_model.bin", "wb");
        if (f) fclose(f);
        st = ddpm_model_load_path("/tmp/ddpm-test-bin", NULL, NULL, &m, &err);
        CHECK(st == DDPM_ERR_UNSUPPORTED && strstr(err.message, "bin_to_safetensors"), "a .bin-only folder: %s",
              err.message);
    }
    free(w);
    free(cfg);
}

/* diffusers' grids (np.round half to even, np.arange / np.linspace in double) and its t - T // steps stepping rule:
 * expected values printed by numpy from set_timesteps()'s expressions of diffusers v0.21.4. */
static int seen_prev[64], seen_n;
static ddpm_status record_step(void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    (void)st, (void)x;
    if (i == 0) {
        seen_n = ctx->num_steps;
        for (int k = 0; k < ctx->num_steps && k < 64; k++)
            seen_prev[k] = ctx->prev_timesteps ? ctx->prev_timesteps[k] : -99;
    }
    return DDPM_OK;
}

static void test_grids(void) {
    static const int tr16[16] = {999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61};
    static const int tr16_prev[16] = {937, 875, 812, 749, 687, 625, 562, 499, 437, 375, 312, 249, 187, 125, 62, -1};
    static const int li16[16] = {999, 932, 866, 799, 733, 666, 599, 533, 466, 400, 333, 266, 200, 133, 67, 0};
    static const int tr7[7] = {999, 856, 713, 570, 428, 285, 142}, tr7_prev[7] = {857, 714, 571, 428, 286, 143, 0};
    static const ddpm_sampler_vtable rec = {DDPM_SAMPLER_API_VERSION, "test_record_prev", "records prev_timesteps",
                                            0, NULL, 1, NULL, record_step, NULL, NULL};
    ddpm_sampler_register(&rec, NULL);
    ddpm_model *m = load_dir(DIR "/small-rgb", DDPM_DTYPE_F32);
    if (!m) return;
    const struct { ddpm_spacing sp; int n; const int *ts, *prev; const char *name; } cases[] = {
        {DDPM_SPACING_TRAILING, 16, tr16, tr16_prev, "trailing 16"},
        {DDPM_SPACING_LINSPACE, 16, li16, NULL, "linspace 16"},
        {DDPM_SPACING_TRAILING, 7, tr7, tr7_prev, "trailing 7"},
    };
    for (int k = 0; k < 3; k++) {
        ddpm_sample_params p = ddpm_model_sample_defaults(m);
        p.sampler = "test_record_prev";
        p.spacing = cases[k].sp;
        p.steps = cases[k].n;
        ddpm_run *r = NULL;
        ddpm_run_create(m, &p, &r, NULL);
        int same = r != NULL;
        for (int i = 0; same && i < cases[k].n; i++) same = ddpm_run_timestep(r, i) == cases[k].ts[i];
        CHECK(same, "%s: the grid equals diffusers' set_timesteps (np.round half to even)", cases[k].name);
        if (r) ddpm_run_step(r, NULL);
        int prev_ok = seen_n == cases[k].n;
        for (int i = 0; prev_ok && i < cases[k].n; i++)
            prev_ok = seen_prev[i] == (cases[k].prev ? cases[k].prev[i] : cases[k].ts[i] - 1000 / cases[k].n < 0
                                                                                ? -1
                                                                                : cases[k].ts[i] - 1000 / cases[k].n);
        CHECK(prev_ok, "%s: each step goes to t - T // steps (-1 below 0), as DDPMScheduler / DDIMScheduler", cases[k].name);
        ddpm_run_free(r);
    }
    /* a custom list steps to its next entry, as diffusers' custom_timesteps */
    ddpm_sample_params p = ddpm_model_sample_defaults(m);
    const int custom[3] = {900, 450, 10};
    p.sampler = "test_record_prev";
    p.timesteps = custom;
    p.num_timesteps = 3;
    ddpm_run *r = NULL;
    ddpm_run_create(m, &p, &r, NULL);
    if (r) ddpm_run_step(r, NULL);
    CHECK(seen_n == 3 && seen_prev[0] == -99, "custom timesteps: no t - T // steps rule (the next entry)");
    ddpm_run_free(r);
    ddpm_model_free(m);
    ddpm_sampler_unregister("test_record_prev", NULL);
}

/* The paper's 256x256 networks (google/ddpm-celebahq-256 and its siblings: 6 levels, attention at 16x16 only) from
 * their config alone: the plan's tensor count against diffusers' parameter count, 113,673,219. */
static ddpm_status count_visit(void *ctx, const char *name, const char *alt, int ndim, const int64_t *shape,
                               float **slot, ddpm_error *err) {
    (void)name, (void)alt, (void)slot, (void)err;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    *(size_t *)ctx += n;
    return DDPM_OK;
}

static void test_256_config(void) {
    static const char cfg[] =
        "{\"_class_name\": \"UNet2DModel\", \"act_fn\": \"silu\", \"attention_head_dim\": null,"
        " \"block_out_channels\": [128, 128, 256, 256, 512, 512], \"center_input_sample\": false,"
        " \"down_block_types\": [\"DownBlock2D\", \"DownBlock2D\", \"DownBlock2D\", \"DownBlock2D\", \"AttnDownBlock2D\","
        " \"DownBlock2D\"], \"downsample_padding\": 0, \"flip_sin_to_cos\": false, \"freq_shift\": 1,"
        " \"in_channels\": 3, \"layers_per_block\": 2, \"mid_block_scale_factor\": 1, \"norm_eps\": 1e-06,"
        " \"norm_num_groups\": 32, \"out_channels\": 3, \"sample_size\": 256, \"time_embedding_type\": \"positional\","
        " \"up_block_types\": [\"UpBlock2D\", \"AttnUpBlock2D\", \"UpBlock2D\", \"UpBlock2D\", \"UpBlock2D\","
        " \"UpBlock2D\"]}";
    ddpm_model_config c;
    ddpm_error err;
    ddpm_status st = ddpm_diffusers_config_parse(cfg, strlen(cfg), &c, &err);
    CHECK(st == DDPM_OK && c.num_levels == 6 && c.arch.level_channels[4] == 512 && c.arch.level_channels[5] == 512,
          "google/ddpm-celebahq-256's config: 6 levels, widths ... 512 512: %s", st == DDPM_OK ? "ok" : err.message);
    static ddpm_unet u;
    size_t params = 0;
    if (st == DDPM_OK && ddpm_unet_plan(&u, &c, &err) == DDPM_OK) ddpm_unet_visit(&u, count_visit, &params, &err);
    CHECK(params == 113673219, "its plan holds %zu parameters (diffusers: 113,673,219)", params);
}

/* A PNDMScheduler config selects plms with PNDM's set_alpha_to_one = false: the run's last step ends at
 * alphas_cumprod[0], as diffusers' PNDM does, unless the params say otherwise. */
static void test_pndm_defaults(void) {
    static const char sched[] = "{\"_class_name\": \"PNDMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": "
                                "\"scaled_linear\", \"beta_start\": 0.00085, \"num_train_timesteps\": 1000, "
                                "\"skip_prk_steps\": true, \"steps_offset\": 1}";
    size_t wn, cn;
    unsigned char *w = tu_read_file(DIR "/small-rgb/diffusion_pytorch_model.safetensors", &wn);
    char *cfg = (char *)tu_read_file(DIR "/small-rgb/config.json", &cn);
    ddpm_load_options o = ddpm_load_default_options();
    o.unet_config = cfg, o.unet_config_len = cn, o.scheduler_config = sched, o.scheduler_config_len = strlen(sched);
    ddpm_model *m = NULL;
    ddpm_error err;
    ddpm_status st = ddpm_model_load_buffer_ex(w, wn, &o, &m, &err);
    CHECK(st == DDPM_OK, "PNDMScheduler config: %s", st == DDPM_OK ? "ok" : err.message);
    if (m) {
        ddpm_sample_params p = ddpm_model_sample_defaults(m);
        CHECK(strcmp(p.sampler, "plms") == 0 && p.steps_offset == 1, "PNDMScheduler -> %s, steps_offset %d", p.sampler,
              p.steps_offset);
        p.steps = 5;
        p.seed = 2;
        static float a[768], b[768], c[768];
        const char *names[1] = {"set_alpha_to_one"};
        const double zero[1] = {0}, one[1] = {1};
        ddpm_sample(m, &p, a, NULL, NULL, NULL);
        p.num_options = 1, p.option_names = names, p.option_values = zero;
        ddpm_sample(m, &p, b, NULL, NULL, NULL);
        p.option_values = one;
        ddpm_sample(m, &p, c, NULL, NULL, NULL);
        CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(a, c, sizeof a) != 0,
              "plms on a PNDM model ends at alphas_cumprod[0] (set_alpha_to_one = false) unless asked otherwise");
    }
    ddpm_model_free(m);
    free(w);
    free(cfg);
}

int main(void) {
    test_pndm_defaults();
    test_256_config();
    test_grids();
    test_corrupt();
    test_forward();
    test_old_names();
    replay("ddpm20_leading.safetensors", "ddpm", 20, "ddpm", STEP_TOL, DDPM_KERNELS_SIMD, 20);
    replay("ddim50_eta0.safetensors", "ddim", 50, "ddim", 2.5e-3, DDPM_KERNELS_SIMD, 50);
    /* the precise kernels reproduce diffusers' DDIM run within 1e-3 (measured 2.4e-4); under the sanitizers, which
     * slow the double loops tenfold, the first 10 steps */
    replay("ddim50_eta0.safetensors", "ddim", 50, "ddim", STEP_TOL, DDPM_KERNELS_PRECISE, SANITIZED ? 10 : 50);
    return tu_finish("test_diffusers");
}
