/*
 * Tests of the noise schedules: known values of the paper's linear schedule, the cosine cap, every array against the
 * float64 reference of training/ref_gaussian.py (tests/data/gaussian_ref.h), the zero-terminal-SNR rescale, and
 * parameter validation.
 */
#include "ddpm.h"
#include "data/gaussian_ref.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int n_pass, n_fail;

static void check(int cond, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", cond ? "ok" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (cond) n_pass++;
    else n_fail++;
}

static const char *array_name[DDPM_SCHEDULE_ARRAY_COUNT_] = {
    "betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1",
    "posterior_mean_coef2"};

static ddpm_schedule *make(ddpm_schedule_kind kind, int T, double b0, double b1, int rescale) {
    ddpm_schedule_params p = ddpm_schedule_default_params();
    p.kind = kind;
    p.num_timesteps = T;
    p.beta_start = b0;
    p.beta_end = b1;
    p.rescale_zero_snr = rescale;
    ddpm_schedule *s = NULL;
    ddpm_error err;
    if (ddpm_schedule_create(&p, &s, &err) != DDPM_OK) {
        printf("# schedule_create failed: %s\n", err.message);
        return NULL;
    }
    return s;
}

static int all_finite(const ddpm_schedule *s) {
    int T = ddpm_schedule_num_timesteps(s);
    for (int a = 0; a < DDPM_SCHEDULE_ARRAY_COUNT_; a++) {
        const double *v = ddpm_schedule_array_get(s, (ddpm_schedule_array)a);
        for (int t = 0; t < T; t++)
            if (!isfinite(v[t])) return 0;
    }
    return 1;
}

static void test_defaults(void) {
    ddpm_schedule_params p = ddpm_schedule_default_params();
    check(p.kind == DDPM_SCHEDULE_LINEAR && p.num_timesteps == 1000 && p.beta_start == 1e-4 && p.beta_end == 0.02 &&
          p.rescale_zero_snr == 0, "default params: linear, T = 1000, 1e-4 .. 0.02, no rescale");
}

static void test_linear_known_values(void) {
    ddpm_schedule *s = make(DDPM_SCHEDULE_LINEAR, 1000, 1e-4, 0.02, 0);
    check(s != NULL, "linear T=1000 creates");
    if (!s) return;
    const double *beta = ddpm_schedule_array_get(s, DDPM_BETAS);
    const double *ab = ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD);
    check(ddpm_schedule_num_timesteps(s) == 1000, "num_timesteps = 1000");
    check(beta[0] == 1e-4 && beta[999] == 0.02, "linear betas run from 1e-4 to 0.02 exactly");
    check(fabs(ab[999] - 4.0358e-5) < 0.5e-9, "linear alphas_cumprod[999] = %.6e = 4.0358e-5 to 5 digits", ab[999]);
    double ratio = sqrt((1.0 - ab[999]) / ab[999]);
    check(fabs(ratio - 157.41) < 0.005, "sqrt((1 - abar_999) / abar_999) = %.4f = 157.41", ratio);
    const ddpm_schedule_params *gp = ddpm_schedule_get_params(s);
    check(gp && gp->kind == DDPM_SCHEDULE_LINEAR && gp->num_timesteps == 1000 && gp->beta_end == 0.02,
          "get_params returns the creation params");

    /* internal consistency of the documented definitions, exact where the definition is one operation */
    const double *alpha = ddpm_schedule_array_get(s, DDPM_ALPHAS);
    const double *abp = ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD_PREV);
    const double *pv = ddpm_schedule_array_get(s, DDPM_POSTERIOR_VARIANCE);
    const double *plv = ddpm_schedule_array_get(s, DDPM_POSTERIOR_LOG_VARIANCE_CLIPPED);
    int ok = abp[0] == 1.0 && pv[0] == 0.0 && plv[0] == plv[1];
    for (int t = 0; t < 1000; t++) {
        ok &= alpha[t] == 1.0 - beta[t];
        if (t > 0) ok &= abp[t] == ab[t - 1] && ab[t] < ab[t - 1];
    }
    check(ok, "alphas = 1 - betas, abar_prev shifts abar (abar_{-1} = 1), abar decreasing, beta~_0 = 0, log var "
          "clipped[0] = [1]");
    check(ddpm_schedule_array_get(s, DDPM_SCHEDULE_ARRAY_COUNT_) == NULL &&
          ddpm_schedule_array_get(s, (ddpm_schedule_array)-1) == NULL && ddpm_schedule_array_get(NULL, DDPM_BETAS) == NULL,
          "array_get: unknown array or NULL schedule gives NULL");
    ddpm_schedule_free(s);
    ddpm_schedule_free(NULL);
    check(ddpm_schedule_num_timesteps(NULL) == 0 && ddpm_schedule_get_params(NULL) == NULL,
          "NULL schedule: 0 timesteps, NULL params; free(NULL) is a no-op");
}

static void test_cosine_cap(void) {
    ddpm_schedule *s = make(DDPM_SCHEDULE_COSINE, 1000, 1e-4, 0.02, 0);
    check(s != NULL, "cosine T=1000 creates");
    if (!s) return;
    const double *beta = ddpm_schedule_array_get(s, DDPM_BETAS);
    check(beta[999] == 0.999, "cosine beta[999] == 0.999 (the cap), got %.17g", beta[999]);
    int below = 1;
    for (int t = 0; t < 999; t++) below &= beta[t] > 0.0 && beta[t] <= 0.999;
    check(below, "cosine betas in (0, 0.999]");
    check(all_finite(s), "cosine: every array finite");
    ddpm_schedule_free(s);
}

/* Every array at a few indices against the Python float64 reference: rel err < 1e-12 (zeros must be exact). */
static void test_against_reference(void) {
    for (int r = 0; r < REF_SCHED_COUNT; r++) {
        const ref_sched_row *row = &ref_sched[r];
        ddpm_schedule *s = make((ddpm_schedule_kind)row->kind, row->T, row->beta_start, row->beta_end, row->rescale);
        check(s != NULL, "%s: creates", row->name);
        if (!s) continue;
        for (int a = 0; a < REF_SCHED_NARR; a++) {
            const double *v = ddpm_schedule_array_get(s, (ddpm_schedule_array)a);
            double worst = 0;
            int worst_t = -1;
            for (int j = 0; j < REF_SCHED_NIDX; j++) {
                int t = row->idx[j];
                double want = row->v[a][j], got = v[t];
                double e = want == 0.0 ? (got == 0.0 ? 0.0 : INFINITY) : fabs(got - want) / fabs(want);
                if (e > worst || worst_t < 0) {
                    worst = e;
                    worst_t = t;
                }
            }
            check(worst < 1e-12, "%s %s vs Python float64 at t = 0,1,2,499,998,999: max rel err %.2e (t=%d)",
                  row->name, array_name[a], worst, worst_t);
        }
        check(all_finite(s), "%s: every array finite", row->name);
        ddpm_schedule_free(s);
    }
}

static void test_rescale(void) {
    const ddpm_schedule_kind kinds[3] = {DDPM_SCHEDULE_LINEAR, DDPM_SCHEDULE_SCALED_LINEAR, DDPM_SCHEDULE_COSINE};
    const char *names[3] = {"linear", "scaled_linear", "cosine"};
    for (int k = 0; k < 3; k++) {
        ddpm_schedule *plain = make(kinds[k], 1000, 0.00085, 0.012, 0);
        ddpm_schedule *z = make(kinds[k], 1000, 0.00085, 0.012, 1);
        check(plain && z, "%s rescale_zero_snr creates", names[k]);
        if (!plain || !z) {
            ddpm_schedule_free(plain);
            ddpm_schedule_free(z);
            continue;
        }
        const double *ab0 = ddpm_schedule_array_get(plain, DDPM_ALPHAS_CUMPROD);
        const double *ab = ddpm_schedule_array_get(z, DDPM_ALPHAS_CUMPROD);
        const double *beta = ddpm_schedule_array_get(z, DDPM_BETAS);
        check(ab[999] == 0.0 && beta[999] == 1.0, "%s rescaled: abar[T-1] == 0 and beta[T-1] == 1", names[k]);
        check(fabs(ab[0] - ab0[0]) <= 1e-15 * ab0[0], "%s rescaled: abar[0] kept (%.17g vs %.17g)", names[k], ab[0],
              ab0[0]);
        int dec = 1;
        for (int t = 1; t < 1000; t++) dec &= ab[t] < ab[t - 1];
        check(dec, "%s rescaled: abar strictly decreasing", names[k]);
        check(all_finite(z), "%s rescaled: every array finite, posterior terms at T-1 included", names[k]);
        const double *c2 = ddpm_schedule_array_get(z, DDPM_POSTERIOR_MEAN_COEF2);
        const double *pv = ddpm_schedule_array_get(z, DDPM_POSTERIOR_VARIANCE);
        const double *abp = ddpm_schedule_array_get(z, DDPM_ALPHAS_CUMPROD_PREV);
        check(c2[999] == 0.0 && fabs(pv[999] - (1.0 - abp[999])) <= 1e-15,
              "%s rescaled: at T-1 coef2 = 0 and beta~ = 1 - abar_{T-2}", names[k]);
        ddpm_schedule_free(plain);
        ddpm_schedule_free(z);
    }
}

static void test_sizes(void) {
    ddpm_schedule *s = make(DDPM_SCHEDULE_LINEAR, 1, 1e-4, 0.02, 0);
    check(s != NULL, "T = 1 creates");
    if (s) {
        const double *beta = ddpm_schedule_array_get(s, DDPM_BETAS);
        const double *plv = ddpm_schedule_array_get(s, DDPM_POSTERIOR_LOG_VARIANCE_CLIPPED);
        check(beta[0] == 1e-4 && fabs(plv[0] - log(1e-4)) < 1e-15 && all_finite(s),
              "T = 1: beta_0 = beta_start, log variance (no beta~_1) falls back to log beta_0, all finite");
        ddpm_schedule_free(s);
    }
    const ddpm_schedule_kind kinds[4] = {DDPM_SCHEDULE_LINEAR, DDPM_SCHEDULE_SCALED_LINEAR, DDPM_SCHEDULE_COSINE,
                                         DDPM_SCHEDULE_SIGMOID};
    for (int k = 0; k < 4; k++) {
        s = make(kinds[k], DDPM_MAX_TIMESTEPS, 1e-5, 0.02, 0);
        check(s && all_finite(s), "kind %d, T = DDPM_MAX_TIMESTEPS (%d): creates, all finite", k, DDPM_MAX_TIMESTEPS);
        ddpm_schedule_free(s);
    }
    s = make(DDPM_SCHEDULE_LINEAR, 2, 0.3, 0.3, 1);
    check(s && all_finite(s), "T = 2, beta_start == beta_end, rescaled: creates");
    ddpm_schedule_free(s);
}

static void expect_reject(const char *what, ddpm_schedule_params p, ddpm_status want) {
    ddpm_schedule *s = (ddpm_schedule *)&p; /* must be overwritten with NULL */
    ddpm_error err;
    memset(&err, 0, sizeof err);
    ddpm_status st = ddpm_schedule_create(&p, &s, &err);
    check(st == want && err.status == want && s == NULL && err.message[0] != '\0',
          "rejects %s: status %d (%s), message \"%s\"", what, (int)st, ddpm_status_str(st), err.message);
    ddpm_schedule_free(st == DDPM_OK ? s : NULL);
}

static void test_validation(void) {
    ddpm_schedule_params d = ddpm_schedule_default_params(), p;
    p = d; p.num_timesteps = 0;
    expect_reject("T = 0", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.num_timesteps = -3;
    expect_reject("T = -3", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.num_timesteps = DDPM_MAX_TIMESTEPS + 1;
    expect_reject("T = DDPM_MAX_TIMESTEPS + 1", p, DDPM_ERR_TOO_LARGE);
    p = d; p.beta_start = 0.03;
    expect_reject("beta_start > beta_end", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.beta_start = 0.0;
    expect_reject("beta_start = 0", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.beta_start = -1e-4;
    expect_reject("beta_start < 0", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.beta_end = 1.0;
    expect_reject("beta_end = 1", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.beta_start = NAN;
    expect_reject("beta_start = NaN", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.beta_end = NAN;
    expect_reject("beta_end = NaN", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.kind = DDPM_SCHEDULE_SIGMOID; p.beta_end = INFINITY;
    expect_reject("sigmoid beta_end = inf", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.kind = DDPM_SCHEDULE_COSINE; p.beta_start = NAN;
    expect_reject("cosine with NaN beta_start", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.kind = (ddpm_schedule_kind)4;
    expect_reject("unknown kind 4", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.kind = (ddpm_schedule_kind)-1;
    expect_reject("unknown kind -1", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.num_timesteps = 1; p.rescale_zero_snr = 1;
    expect_reject("rescale_zero_snr with T = 1", p, DDPM_ERR_INVALID_ARGUMENT);
    p = d; p.beta_start = 1e-20; p.beta_end = 1e-20;
    expect_reject("betas so small that 1 - beta == 1 (abar_0 = 1)", p, DDPM_ERR_INVALID_ARGUMENT);

    ddpm_schedule *s = NULL;
    ddpm_error err;
    check(ddpm_schedule_create(NULL, &s, &err) == DDPM_ERR_INVALID_ARGUMENT && s == NULL,
          "NULL params rejected: %s", err.message);
    check(ddpm_schedule_create(&d, NULL, NULL) == DDPM_ERR_INVALID_ARGUMENT, "NULL out rejected (err may be NULL)");
    p = d; p.kind = DDPM_SCHEDULE_COSINE; p.beta_start = 0.0; p.beta_end = 0.0;
    check(ddpm_schedule_create(&p, &s, &err) == DDPM_OK && err.status == DDPM_OK && err.message[0] == '\0',
          "cosine ignores beta_start/beta_end (0, 0 accepted); success clears err");
    ddpm_schedule_free(s);
}

int main(void) {
    test_defaults();
    test_linear_known_values();
    test_cosine_cap();
    test_against_reference();
    test_rescale();
    test_sizes();
    test_validation();
    printf("test_schedule: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
