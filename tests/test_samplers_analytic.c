/*
 * Every built-in sampler run end to end on an analytic model, through the public run API (no weights involved).
 *
 * Data: each pixel j independently N(mu_j, s_j^2). Then x_t = sqrt(abar) x0 + sqrt(1 - abar) eps is Gaussian and the
 * exact noise predictor is E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar).
 * For fractional timesteps (Karras grids, DPM2 midpoints) abar comes from log sigma interpolated linearly between
 * the integer timesteps, the convention the samplers use to map sigma back to t (src/sampler/common.h).
 *
 * 1. Distribution: 8192 images of 16 pixels per sampler; z = (x - mu_j) / s_j pooled over all 131072
 *    values must have mean 0 and variance 1. Standard errors: mean 1/sqrt(131072) = 0.0028, variance
 *    sqrt(2/131072) = 0.0039. Tolerances: |mean| < 0.02 (7 SE) and |var - 1| < 0.04 (10 SE), which leaves room for
 *    the discretisation bias of the step counts used (measured up to 0.025) while a missing or doubled noise term or
 *    a wrong coefficient moves the variance by 0.1 or more. The first-order samplers run 1000 steps (at 100 steps
 *    their variance is 0.87-0.93: a real discretisation bias of first-order methods, not a tolerance problem), the
 *    higher-order ones 50.
 * 2. Convergence of the deterministic samplers to the exact probability-flow ODE solution. In VE scale
 *    y = x / sqrt(abar), sigma^2 = (1 - abar) / abar, the ODE dy/dsigma = (y - E[x0|y]) / sigma keeps
 *    (y - mu) / sqrt(s^2 + sigma^2) constant, so from x at the first timestep the exact end point is
 *    x0 = mu + s (y_T - mu) / sqrt(s^2 + sigma_T^2). Every deterministic sampler's error against it must shrink
 *    as the step count grows (first order: Euler and DDIM, ~4.5 / steps here), and the higher-order ones must be more
 *    accurate than Euler at the same step count and reach with 100 steps what Euler reaches with 250.
 * 3. Identities: Euler == DDIM eta = 0 and DDIM eta = 1 == DDPM fixed_small (no x0 clipping) on the same grid, to
 *    float rounding (1e-5).
 */
#include "ddpm.h"
#include "testutil.h"

#define NPIX 16 /* 1 x 4 x 4 */

typedef struct analytic {
    const ddpm_schedule *sched;
    int T;
    const double *ab;
    double mu[NPIX], s[NPIX];
} analytic;

static double abar_at(const analytic *a, double t) {
    if (t <= 0) return a->ab[0];
    if (t >= a->T - 1) return a->ab[a->T - 1];
    const int i = (int)floor(t);
    const double f = t - i;
    if (f == 0) return a->ab[i];
    const double l0 = 0.5 * log((1 - a->ab[i]) / a->ab[i]), l1 = 0.5 * log((1 - a->ab[i + 1]) / a->ab[i + 1]);
    const double sig = exp(l0 + f * (l1 - l0));
    return 1 / (1 + sig * sig);
}

static ddpm_status analytic_eval(void *user, int n, const float *x, const float *t, const int *y, float *out,
                                 ddpm_error *err) {
    const analytic *a = user;
    for (int k = 0; k < n; k++) {
        const double ab = abar_at(a, t[k]);
        for (int j = 0; j < NPIX; j++) {
            const double xt = x[k * NPIX + j];
            out[k * NPIX + j] =
                (float)(sqrt(1 - ab) * (xt - sqrt(ab) * a->mu[j]) / (ab * a->s[j] * a->s[j] + 1 - ab));
        }
    }
    return DDPM_OK;
}

static ddpm_denoiser make_denoiser(analytic *a) {
    ddpm_denoiser d;
    memset(&d, 0, sizeof d);
    d.schedule = a->sched;
    d.prediction = DDPM_PREDICT_EPS;
    d.channels = 1;
    d.image_size = 4;
    d.num_classes = 0;
    d.eval = analytic_eval;
    d.user_data = a;
    return d;
}

typedef struct opt {
    const char *name;
    double value;
} opt;

typedef struct sampler_case {
    const char *label, *sampler;
    int steps;
    ddpm_spacing spacing;
    opt opts[3];
    int nopts;
} sampler_case;

/* Runs a whole batch; x_first (optional) receives x before the first step. Returns 0 on failure. */
static int run_all(const ddpm_denoiser *d, const sampler_case *c, int batch, uint64_t seed, float *out,
                   float *x_first, int *t_first) {
    ddpm_sample_params p = ddpm_sample_default_params();
    const char *names[3];
    double vals[3];
    for (int i = 0; i < c->nopts; i++) names[i] = c->opts[i].name, vals[i] = c->opts[i].value;
    p.sampler = c->sampler;
    p.num_options = c->nopts;
    p.option_names = names;
    p.option_values = vals;
    p.steps = c->steps;
    p.spacing = c->spacing;
    p.seed = seed;
    p.batch = batch;
    ddpm_run *run;
    ddpm_error err;
    if (ddpm_run_create_with(d, &p, &run, &err) != DDPM_OK) {
        CHECK(0, "%s: create (%s)", c->label, err.message);
        return 0;
    }
    if (x_first) memcpy(x_first, ddpm_run_x(run), sizeof(float) * NPIX * batch);
    if (t_first) *t_first = ddpm_run_timestep(run, 0);
    while (!ddpm_run_done(run)) {
        if (ddpm_run_step(run, &err) != DDPM_OK) {
            CHECK(0, "%s: step (%s)", c->label, err.message);
            ddpm_run_free(run);
            return 0;
        }
    }
    memcpy(out, ddpm_run_x(run), sizeof(float) * NPIX * batch);
    ddpm_run_free(run);
    return 1;
}

#define DIST_BATCH 4096 /* the engine's DDPM_MAX_BATCH: two runs with different seeds make 8192 images */

static void test_distribution(analytic *a) {
    printf("-- distribution: pooled z = (x - mu) / s over %d images x %d pixels\n", 2 * DIST_BATCH, NPIX);
    const ddpm_denoiser d = make_denoiser(a);
    const sampler_case cases[] = {
        {"ddpm fixed_small, 1000 steps", "ddpm", 1000, DDPM_SPACING_LEADING, {{"clip_x0", 0}}, 1},
        {"ddpm fixed_large, 1000 steps", "ddpm", 1000, DDPM_SPACING_LEADING, {{"clip_x0", 0}, {"variance", 1}}, 2},
        {"ddpm fixed_small, 1000 trailing", "ddpm", 1000, DDPM_SPACING_TRAILING, {{"clip_x0", 0}}, 1},
        {"ddim eta=0, 1000 steps", "ddim", 1000, DDPM_SPACING_TRAILING, {{"eta", 0}}, 1},
        {"ddim eta=1, 1000 steps", "ddim", 1000, DDPM_SPACING_TRAILING, {{"eta", 1}}, 1},
        {"plms, 50 steps", "plms", 50, DDPM_SPACING_TRAILING, {{0}}, 0},
        {"dpmpp_2m, 50 steps", "dpmpp_2m", 50, DDPM_SPACING_TRAILING, {{0}}, 0},
        {"dpmpp_2m karras, 50 steps", "dpmpp_2m", 50, DDPM_SPACING_TRAILING, {{"karras", 1}}, 1},
        {"euler, 1000 steps", "euler", 1000, DDPM_SPACING_TRAILING, {{0}}, 0},
        {"euler_a, 1000 steps", "euler_a", 1000, DDPM_SPACING_TRAILING, {{0}}, 0},
        {"euler_a karras, 1000 steps", "euler_a", 1000, DDPM_SPACING_TRAILING, {{"karras", 1}}, 1},
        {"heun, 50 steps", "heun", 50, DDPM_SPACING_TRAILING, {{0}}, 0},
        {"heun karras, 50 steps", "heun", 50, DDPM_SPACING_TRAILING, {{"karras", 1}}, 1},
        {"lms, 50 steps", "lms", 50, DDPM_SPACING_TRAILING, {{0}}, 0},
        {"dpm2_a, 50 steps", "dpm2_a", 50, DDPM_SPACING_TRAILING, {{0}}, 0},
        {"dpm2_a karras, 50 steps", "dpm2_a", 50, DDPM_SPACING_TRAILING, {{"karras", 1}}, 1},
    };
    float *x = malloc(sizeof(float) * NPIX * DIST_BATCH);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const sampler_case *c = &cases[ci];
        double s1 = 0, s2 = 0;
        int ok = 1;
        for (int rep = 0; rep < 2 && ok; rep++) {
            if (!(ok = run_all(&d, c, DIST_BATCH, 1000 + 2 * ci + rep, x, NULL, NULL))) break;
            for (int k = 0; k < DIST_BATCH; k++)
                for (int j = 0; j < NPIX; j++) {
                    const double z = (x[k * NPIX + j] - a->mu[j]) / a->s[j];
                    s1 += z, s2 += z * z;
                }
        }
        if (!ok) continue;
        const double N = 2.0 * DIST_BATCH * NPIX, mean = s1 / N, var = s2 / N - mean * mean;
        CHECK(fabs(mean) < 0.02 && fabs(var - 1) < 0.04, "%-28s z mean %+.4f (|.| < 0.02), var %.4f (1 +- 0.04)",
              c->label, mean, var);
    }
    free(x);
}

#define ODE_BATCH 64

/* max |x - exact| over the batch for one deterministic sampler at `steps`. */
static double ode_error(analytic *a, const char *sampler, int steps, opt o, int nopt) {
    const ddpm_denoiser d = make_denoiser(a);
    sampler_case c = {sampler, sampler, steps, DDPM_SPACING_TRAILING, {o}, nopt};
    float x[NPIX * ODE_BATCH], xT[NPIX * ODE_BATCH];
    int t0;
    if (!run_all(&d, &c, ODE_BATCH, 77, x, xT, &t0)) return INFINITY;
    const double ab = a->ab[t0], sig2 = (1 - ab) / ab;
    double worst = 0;
    for (int k = 0; k < ODE_BATCH; k++)
        for (int j = 0; j < NPIX; j++) {
            const double yT = xT[k * NPIX + j] / sqrt(ab);
            const double exact = a->mu[j] + a->s[j] * (yT - a->mu[j]) / sqrt(a->s[j] * a->s[j] + sig2);
            const double e = fabs(x[k * NPIX + j] - exact);
            if (!(e <= worst)) worst = e;
        }
    return worst;
}

static void test_convergence(analytic *a) {
    printf("-- deterministic samplers vs the exact ODE solution: max |x - x_exact| over %d images\n", ODE_BATCH);
    static const int steps[] = {10, 25, 50, 100, 250, 1000};
    enum { NS = 6 };
    static const struct {
        const char *name;
        opt o;
        int nopt, order2; /* higher order than Euler */
    } samplers[] = {{"ddim", {"eta", 0}, 1, 0},  {"euler", {0}, 0, 0}, {"heun", {0}, 0, 1},
                    {"dpmpp_2m", {0}, 0, 1},    {"plms", {0}, 0, 1},  {"lms", {0}, 0, 1}};
    enum { NSAMP = 6 };
    double err[NSAMP][NS];
    for (int si = 0; si < NSAMP; si++) {
        printf("     %-9s", samplers[si].name);
        for (int k = 0; k < NS; k++) {
            err[si][k] = ode_error(a, samplers[si].name, steps[k], samplers[si].o, samplers[si].nopt);
            printf("  %3d: %.2e", steps[k], err[si][k]);
        }
        printf("\n");
    }
    for (int si = 0; si < NSAMP; si++) {
        int shrinks = 1;
        for (int k = 1; k < NS; k++) shrinks &= err[si][k] < err[si][k - 1] || err[si][k] < 1e-5;
        CHECK(shrinks && err[si][NS - 1] < 1e-2, "%s: error shrinks with every step-count increase, %.2e at 1000 steps",
              samplers[si].name, err[si][NS - 1]);
    }
    /* higher order: at 50 steps under a quarter of Euler's error, and at 100 steps better than Euler at 250 */
    for (int si = 0; si < NSAMP; si++) {
        if (!samplers[si].order2) continue;
        CHECK(err[si][2] < 0.25 * err[1][2] && err[si][3] < err[1][4],
              "%s: %.2e at 50 steps < a quarter of Euler's %.2e; %.2e at 100 steps < Euler's %.2e at 250",
              samplers[si].name, err[si][2], err[1][2], err[si][3], err[1][4]);
    }
}

static void test_identities(analytic *a) {
    printf("-- identities on the same grid\n");
    const ddpm_denoiser d = make_denoiser(a);
    float x1[NPIX * ODE_BATCH], x2[NPIX * ODE_BATCH];
    const sampler_case euler = {"euler", "euler", 40, DDPM_SPACING_LEADING, {{0}}, 0};
    const sampler_case ddim0 = {"ddim eta=0", "ddim", 40, DDPM_SPACING_LEADING, {{"eta", 0}}, 1};
    const sampler_case ddim1 = {"ddim eta=1", "ddim", 40, DDPM_SPACING_LEADING, {{"eta", 1}}, 1};
    const sampler_case ddpm = {"ddpm", "ddpm", 40, DDPM_SPACING_LEADING, {{"clip_x0", 0}}, 1};
    double worst;
    if (run_all(&d, &euler, ODE_BATCH, 5, x1, NULL, NULL) && run_all(&d, &ddim0, ODE_BATCH, 5, x2, NULL, NULL)) {
        worst = 0;
        for (int i = 0; i < NPIX * ODE_BATCH; i++) worst = fmax(worst, fabs((double)x1[i] - x2[i]));
        CHECK(worst < 1e-5, "euler == ddim eta=0 (40 leading steps): max |d| %.2e", worst);
    }
    if (run_all(&d, &ddim1, ODE_BATCH, 6, x1, NULL, NULL) && run_all(&d, &ddpm, ODE_BATCH, 6, x2, NULL, NULL)) {
        worst = 0;
        for (int i = 0; i < NPIX * ODE_BATCH; i++) worst = fmax(worst, fabs((double)x1[i] - x2[i]));
        CHECK(worst < 1e-5, "ddim eta=1 == ddpm fixed_small, no clipping (40 leading steps): max |d| %.2e", worst);
    }
}

int main(void) {
    ddpm_schedule_params sp = ddpm_schedule_default_params(); /* linear 1e-4 .. 0.02, T = 1000 */
    ddpm_schedule *sched;
    if (ddpm_schedule_create(&sp, &sched, NULL) != DDPM_OK) {
        CHECK(0, "schedule");
        return tu_finish("test_samplers_analytic");
    }
    analytic a;
    a.sched = sched;
    a.T = ddpm_schedule_num_timesteps(sched);
    a.ab = ddpm_schedule_array_get(sched, DDPM_ALPHAS_CUMPROD);
    for (int j = 0; j < NPIX; j++) {
        a.mu[j] = -0.45 + 0.06 * j;           /* -0.45 .. 0.45 */
        a.s[j] = 0.3 + 0.02 * ((j * 7) % 16); /* 0.30 .. 0.60 */
    }
    test_distribution(&a);
    test_convergence(&a);
    test_identities(&a);
    ddpm_schedule_free(sched);
    return tu_finish("test_samplers_analytic");
}
