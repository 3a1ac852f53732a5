/*
 * DeepCache (ddpm_sample_params.deep_cache, ddpm_model_forward_cached). The checks that hold exactly:
 *   - a storing pass is the plain forward pass, bit for bit;
 *   - a reusing pass at the same x and t as the storing one is the plain forward pass too, bit for bit (the deep
 *     branch it skips would have computed exactly what the cache holds), on the shipped model and a diffusers
 *     network, at batch 1 and 5, on 1 and 3 threads;
 *   - a reusing pass at another x differs from the plain pass (it does skip work), on the trained model by little;
 *   - deep_cache 1 is off (the same run bits); with deep_cache 3 image k of a batch equals image k alone;
 *   - bad values and denoisers without eval_cached are refused.
 */
#include "testutil.h"

enum { MAXN = 5, MAXD = 3 * 32 * 32 };

static void check_forward(const char *what, ddpm_model *m, double near) {
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const size_t D = (size_t)c->in_channels * c->image_size * c->image_size, CF = ddpm_model_cache_floats(m);
    CHECK(CF > 0, "%s: %zu cache floats per image", what, CF);
    static float x[MAXN * MAXD], x2[MAXN * MAXD], want[MAXN * MAXD], got[MAXN * MAXD];
    float *cache = calloc(MAXN * CF, sizeof(float));
    const float t[MAXN] = {20, 300, 500, 700, 950}, t2[MAXN] = {21, 301, 501, 701, 951};
    const int y[MAXN] = {0, 1, 2, 3, 4};
    const int *labels = c->num_classes ? y : NULL;
    for (int th = 1; th <= 3; th += 2) {
        ddpm_model_set_threads(m, th, NULL);
        for (int n = 1; n <= MAXN; n += 4) {
            tu_fill(x, (size_t)n * D, 11 + n, -1.2f, 1.2f);
            ddpm_model_forward(m, n, x, t, labels, want, NULL);
            ddpm_status st = ddpm_model_forward_cached(m, n, x, t, labels, got, cache, 0, NULL);
            CHECK(st == DDPM_OK && memcmp(got, want, sizeof(float) * n * D) == 0,
                  "%s, batch %d, %d thread(s): a storing pass = the plain pass, bit for bit", what, n, th);
            memset(got, 0, sizeof(float) * n * D);
            st = ddpm_model_forward_cached(m, n, x, t, labels, got, cache, 1, NULL);
            CHECK(st == DDPM_OK && memcmp(got, want, sizeof(float) * n * D) == 0,
                  "%s, batch %d, %d thread(s): reusing at the same x, t = the plain pass, bit for bit", what, n, th);
            /* another x, a nearby t: the reusing pass differs from the plain one, but not by much */
            for (size_t i = 0; i < (size_t)n * D; i++) x2[i] = x[i] + 0.01f * (float)((i * 7919) % 13 - 6) / 6.0f;
            ddpm_model_forward(m, n, x2, t2, labels, want, NULL);
            ddpm_model_forward_cached(m, n, x2, t2, labels, got, cache, 1, NULL);
            double num = 0, den = 0;
            for (size_t i = 0; i < (size_t)n * D; i++) num += (got[i] - want[i]) * (double)(got[i] - want[i]), den += want[i] * (double)want[i];
            const double rel = sqrt(num / den);
            CHECK(isfinite(rel) && rel > 0 && rel < near, "%s, batch %d: reusing at a moved x and t + 1 differs from "
                  "the plain pass by %.2e (relative L2, below %g): it skips work", what, n, rel, near);
        }
    }
    ddpm_model_set_threads(m, 1, NULL);
    free(cache);
}

static void check_runs(ddpm_model *m) {
    enum { B = 4, D = 28 * 28 };
    static float a[B * D], b[B * D], one[D];
    ddpm_sample_params p = ddpm_model_sample_defaults(m);
    p.sampler = "ddim";
    p.steps = 10;
    p.batch = B;
    p.seed = 3;
    const int labels[B] = {1, 5, 2, 9};
    p.labels = labels;
    p.guidance = 1.5f;
    ddpm_error err;
    ddpm_sample(m, &p, a, NULL, NULL, &err);
    p.deep_cache = 1;
    ddpm_status st = ddpm_sample(m, &p, b, NULL, NULL, &err);
    CHECK(st == DDPM_OK && memcmp(a, b, sizeof a) == 0, "deep_cache 1 is off: the same bits");
    p.deep_cache = 3;
    st = ddpm_sample(m, &p, b, NULL, NULL, &err);
    double num = 0, den = 0;
    for (int i = 0; i < B * D; i++) num += (a[i] - b[i]) * (double)(a[i] - b[i]), den += a[i] * (double)a[i];
    CHECK(st == DDPM_OK && num > 0 && sqrt(num / den) < 0.5,
          "deep_cache 3, DDIM 10 steps with guidance: differs from the full run by %.3f (relative L2)", sqrt(num / den));
    int same = 1;
    for (int k = 0; k < B; k++) {
        ddpm_sample_params q = p;
        q.batch = 1;
        q.first_image = (uint32_t)k;
        q.labels = labels + k;
        same &= ddpm_sample(m, &q, one, NULL, NULL, &err) == DDPM_OK && memcmp(one, b + (size_t)k * D, sizeof one) == 0;
    }
    CHECK(same, "deep_cache 3: image k of a batch of %d = image k alone, bit for bit", B);
    p.deep_cache = -1;
    st = ddpm_sample(m, &p, b, NULL, NULL, &err);
    CHECK(st == DDPM_ERR_INVALID_ARGUMENT, "deep_cache -1 refused: %s", err.message);
}

static ddpm_status plain_eval(void *user, int n, const float *x, const float *t, const int *y, float *out,
                              ddpm_error *err) {
    (void)user, (void)t, (void)y, (void)err;
    for (int i = 0; i < n * 16; i++) out[i] = 0.5f * x[i];
    return DDPM_OK;
}

int main(void) {
    ddpm_model *m = NULL;
    ddpm_error err;
    if (ddpm_model_load_file("models/fmnist-cond.i8.safetensors", &m, &err) == DDPM_OK) {
        check_forward("fmnist-cond", m, 0.2); /* a trained network: smooth in x and t */
        check_runs(m);
        ddpm_model_free(m);
    } else {
        CHECK(0, "load the shipped model: %s", err.message);
    }
    if (ddpm_model_load_path("tests/data/diffusers-ref/cifar-narrow", NULL, NULL, &m, &err) == DDPM_OK) {
        check_forward("cifar-narrow", m, 1.0); /* random weights: only that it differs */
        ddpm_model_free(m);
    }
    /* a denoiser without eval_cached */
    ddpm_schedule_params sc = ddpm_schedule_default_params();
    sc.num_timesteps = 10;
    ddpm_schedule *s = NULL;
    ddpm_schedule_create(&sc, &s, NULL);
    ddpm_denoiser d = {.schedule = s, .channels = 1, .image_size = 4, .eval = plain_eval};
    ddpm_sample_params p = ddpm_sample_default_params();
    p.deep_cache = 2;
    ddpm_run *r = NULL;
    const ddpm_status st = ddpm_run_create_with(&d, &p, &r, &err);
    CHECK(st == DDPM_ERR_UNSUPPORTED && !r, "deep_cache on a denoiser without eval_cached: UNSUPPORTED: %s",
          err.message);
    ddpm_schedule_free(s);
    return tu_finish("test_deepcache");
}
