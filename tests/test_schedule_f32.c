/*
 * The diffusers-style float32 schedules (ddpm_schedule_params.float32 = 1) and explicit betas (DDPM_SCHEDULE_CUSTOM).
 *
 * 1. Bit for bit against PyTorch: every case of tests/data/schedule_f32_ref.h (written by training/ref_schedule_f32.py
 *    with torch 1.13 running diffusers v0.21.4's own schedule expressions): linear, scaled_linear, sigmoid,
 *    squaredcos_cap_v2, trained betas, and DDIM's rescale_zero_terminal_snr, at T values that exercise PyTorch's
 *    vector kernels and their scalar tails. betas, alphas (= float32(1 - beta)) and alphas_cumprod must be the float32
 *    values exactly (widened to double); the derived arrays must follow from them in double.
 * 2. The float32 fused multiply-add the emulation rests on, against the C library's fmaf (correctly rounded) on random
 *    inputs and on a case where rounding the double sum to float would round twice.
 * 3. Custom betas: copied (the schedule's params point at its own copy), used as given in double mode, validated.
 */
#include "ddpm.h"
#include "data/schedule_f32_ref.h"
#include "schedule/torch_f32.h"
#include "testutil.h"

#include <stdint.h>

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static ddpm_schedule *make(const sf_case *c, int float32, ddpm_error *err) {
    ddpm_schedule_params p = ddpm_schedule_default_params();
    p.kind = (ddpm_schedule_kind)c->kind;
    p.num_timesteps = c->T;
    p.beta_start = c->beta_start;
    p.beta_end = c->beta_end;
    p.rescale_zero_snr = c->rescale_zero_snr;
    p.betas = c->custom_betas;
    p.float32 = float32;
    ddpm_schedule *s = NULL;
    ddpm_schedule_create(&p, &s, err);
    return s;
}

/* Entries where a (double array holding float32 values) differs from the reference bits; -1 if a holds a value that
 * is not a float32. *first: the first differing index. */
static int count_diff(const double *a, const uint32_t *ref, int T, int *first) {
    int n = 0;
    *first = -1;
    for (int t = 0; t < T; t++) {
        const float f = (float)a[t];
        if ((double)f != a[t]) return -1;
        if (bits_of(f) != ref[t]) {
            if (*first < 0) *first = t;
            n++;
        }
    }
    return n;
}

static void test_against_torch(void) {
    for (int k = 0; k < SF_NUM_CASES; k++) {
        const sf_case *c = &sf_cases[k];
        ddpm_error err;
        ddpm_schedule *s = make(c, 1, &err);
        CHECK(s != NULL, "%s: creates (%s)", c->name, s ? "ok" : err.message);
        if (!s) continue;
        const int T = c->T;
        const double *beta = ddpm_schedule_array_get(s, DDPM_BETAS);
        const double *alpha = ddpm_schedule_array_get(s, DDPM_ALPHAS);
        const double *ab = ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD);
        int first, nb = count_diff(beta, c->betas, T, &first);
        CHECK(nb == 0, "%s: %d betas equal PyTorch's float32 bit for bit (%d differ, first at %d)", c->name, T, nb,
              first);
        int na = count_diff(ab, c->alphas_cumprod, T, &first);
        CHECK(na == 0, "%s: alphas_cumprod equal PyTorch's bit for bit (%d differ, first at %d)", c->name, na, first);
        int bad_alpha = 0, bad_derived = 0;
        for (int t = 0; t < T; t++) {
            float b32;
            memcpy(&b32, &c->betas[t], sizeof b32);
            const float a32 = 1.0f - b32;
            if (alpha[t] != (double)a32) bad_alpha++;
            const double prev = t ? ab[t - 1] : 1.0;
            if (ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD_PREV)[t] != prev ||
                ddpm_schedule_array_get(s, DDPM_SQRT_ALPHAS_CUMPROD)[t] != sqrt(ab[t]) ||
                ddpm_schedule_array_get(s, DDPM_SQRT_ONE_MINUS_ALPHAS_CUMPROD)[t] != sqrt(1.0 - ab[t]) ||
                (1.0 - ab[t] > 0 &&
                 ddpm_schedule_array_get(s, DDPM_POSTERIOR_VARIANCE)[t] != beta[t] * (1.0 - prev) / (1.0 - ab[t])))
                bad_derived++;
        }
        CHECK(bad_alpha == 0, "%s: alphas = float32(1 - beta) (%d differ)", c->name, bad_alpha);
        CHECK(bad_derived == 0, "%s: abar_prev, sqrt(abar), sqrt(1 - abar), posterior variance follow in double (%d)",
              c->name, bad_derived);
        ddpm_schedule_free(s);
    }
}

/* Where float32 = 1 and float32 = 0 differ, they differ by float32 rounding only; float32 = 0 is untouched. */
static void test_double_mode_apart(void) {
    ddpm_schedule_params p = ddpm_schedule_default_params();
    ddpm_schedule *d = NULL, *f = NULL;
    ddpm_schedule_create(&p, &d, NULL);
    p.float32 = 1;
    ddpm_schedule_create(&p, &f, NULL);
    CHECK(d && f, "linear 1e-4 .. 0.02 in both modes");
    if (!d || !f) return;
    const double *bd = ddpm_schedule_array_get(d, DDPM_BETAS), *bf = ddpm_schedule_array_get(f, DDPM_BETAS);
    const double *ad = ddpm_schedule_array_get(d, DDPM_ALPHAS_CUMPROD);
    const double *af = ddpm_schedule_array_get(f, DDPM_ALPHAS_CUMPROD);
    double worst_b = 0, worst_a = 0;
    int same = 1;
    for (int t = 0; t < 1000; t++) {
        worst_b = fmax(worst_b, fabs(bd[t] - bf[t]) / bd[t]);
        worst_a = fmax(worst_a, fabs(ad[t] - af[t]) / ad[t]);
        same &= bd[t] == 1e-4 + t * ((0.02 - 1e-4) / 999) || t == 999;
    }
    CHECK(worst_b < 2.5e-7 && worst_a < 1e-5, "float32 vs double: betas within %.2e, alphas_cumprod within %.2e (rel)",
          worst_b, worst_a);
    CHECK(same && bd[999] == 0.02, "float32 = 0 keeps numpy's float64 linspace");
    ddpm_schedule_free(d);
    ddpm_schedule_free(f);
}

static uint32_t lcg(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 32);
}

/* A random finite float with exponent in [-20, 20], random sign and mantissa. */
static float random_float(uint64_t *st) {
    const uint32_t r = lcg(st), e = (uint32_t)(127 - 20 + (int)(lcg(st) % 41));
    const uint32_t u = (r & 0x80000000u) | (e << 23) | (lcg(st) & 0x7fffffu);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void test_fma(void) {
    uint64_t st = 12345;
    int bad = 0, n = 0;
    for (int i = 0; i < 300000; i++) {
        const float a = random_float(&st), b = random_float(&st);
        /* c near -a*b half the time: cancellation, and sums whose low bits decide the rounding */
        const float near = -(float)((double)a * (double)b) * (1.0f + (float)(lcg(&st) % 5) * 0x1p-23f);
        const float c = (i & 1) ? random_float(&st) : near;
        n++;
        if (bits_of(ddpm__fma_f32(a, b, c)) != bits_of(fmaf(a, b, c))) bad++;
    }
    CHECK(bad == 0, "fma in float32 == fmaf on %d random triples (%d differ)", n, bad);
    /* (64 + 2^-17)(1 - 2^-23) = 64 - 2^-40 - 2^-46: the double sum with c = 2^30 + 128 lands exactly on the midpoint
     * 2^30 + 192 (a tie that goes to the even 2^30 + 256), while the exact value lies below it: 2^30 + 128. */
    const float a = 64.0f + 0x1p-17f, b = 1.0f - 0x1p-23f, c = 0x1p30f + 128.0f;
    CHECK(ddpm__fma_f32(a, b, c) == 0x1p30f + 128.0f && fmaf(a, b, c) == 0x1p30f + 128.0f,
          "fma: a sum that double rounding would get wrong (%.1f)", (double)ddpm__fma_f32(a, b, c));
}

static void test_custom(void) {
    double betas[5] = {0.1, 0.2, 0.3, 0.4, 1.0};
    ddpm_schedule_params p = ddpm_schedule_default_params();
    p.kind = DDPM_SCHEDULE_CUSTOM;
    p.num_timesteps = 5;
    p.betas = betas;
    ddpm_schedule *s = NULL;
    ddpm_error err;
    CHECK(ddpm_schedule_create(&p, &s, &err) == DDPM_OK, "custom betas (beta = 1 allowed) create: %s", err.message);
    if (s) {
        const ddpm_schedule_params *gp = ddpm_schedule_get_params(s);
        const double *b = ddpm_schedule_array_get(s, DDPM_BETAS), *ab = ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD);
        CHECK(gp->betas && gp->betas != betas && memcmp(gp->betas, betas, sizeof betas) == 0,
              "the schedule's params point at its own copy of the betas");
        betas[0] = 0.5; /* the caller's array may change or go away */
        CHECK(gp->betas[0] == 0.1 && b[0] == 0.1 && b[4] == 1.0 && ab[4] == 0.0,
              "double mode uses the betas as given; beta = 1 makes abar_{T-1} = 0");
        CHECK(fabs(ab[3] - 0.9 * 0.8 * 0.7 * 0.6) < 1e-16, "alphas_cumprod = prod (1 - beta)");
        ddpm_schedule_free(s);
        betas[0] = 0.1;
    }
    p.float32 = 1;
    s = NULL;
    CHECK(ddpm_schedule_create(&p, &s, &err) == DDPM_OK, "custom betas in float32 mode");
    if (s) {
        const double *b = ddpm_schedule_array_get(s, DDPM_BETAS);
        CHECK(b[0] == (double)0.1f && b[2] == (double)0.3f, "float32 mode rounds the betas to float32");
        ddpm_schedule_free(s);
    }
    p.float32 = 0;

    const double bad_values[] = {0.0, -0.1, 1.5, NAN, INFINITY};
    for (int i = 0; i < 5; i++) {
        betas[2] = bad_values[i];
        s = (ddpm_schedule *)1;
        ddpm_status st = ddpm_schedule_create(&p, &s, &err);
        CHECK(st == DDPM_ERR_INVALID_ARGUMENT && s == NULL && strstr(err.message, "betas[2]"),
              "custom beta %g refused: %s", bad_values[i], err.message);
    }
    betas[2] = 0.3;
    p.betas = NULL;
    CHECK(ddpm_schedule_create(&p, &s, &err) == DDPM_ERR_INVALID_ARGUMENT, "custom kind with NULL betas refused: %s",
          err.message);
    p.betas = betas;
    p.rescale_zero_snr = 1;
    betas[4] = 0.5;
    CHECK(ddpm_schedule_create(&p, &s, &err) == DDPM_OK, "custom betas with rescale_zero_snr");
    if (s) {
        CHECK(ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD)[4] == 0.0, "rescaled custom betas end at abar = 0");
        ddpm_schedule_free(s);
    }
}

int main(void) {
    test_against_torch();
    test_double_mode_apart();
    test_fma();
    test_custom();
    return tu_finish("test_schedule_f32");
}
