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
 *    higher-order ones 50 (the SDE samplers 100, on the trailing grid: on linspace, whose last lambda interval before
 *    t = 0 is wide, their multistep extrapolation still inflates the variance by 20-30% at 100 steps; section 6
 *    shows it shrink with the step count).
 * 2. Convergence of the deterministic samplers to the exact probability-flow ODE solution. In VE scale
 *    y = x / sqrt(abar), sigma^2 = (1 - abar) / abar, the ODE dy/dsigma = (y - E[x0|y]) / sigma keeps
 *    (y - mu) / sqrt(s^2 + sigma^2) constant, so from x at the first timestep the exact end point is
 *    x0 = mu + s (y_T - mu) / sqrt(s^2 + sigma_T^2). Every deterministic sampler's error against it must shrink
 *    as the step count grows (first order: Euler and DDIM, ~4.5 / steps here), and the higher-order ones must be more
 *    accurate than Euler at the same step count and reach with 100 steps what Euler reaches with 250.
 * 3. Identities: Euler == DDIM eta = 0 and DDIM eta = 1 == DDPM fixed_small (no x0 clipping) on the same grid, to
 *    float rounding (1e-5); also UniPC order 1 without corrector == DDIM eta = 0 and DPM-Solver++(2M) SDE at eta = 0
 *    == DPM-Solver++(2M).
 * 4-6. The multistep samplers unipc, dpmpp_2m_sde, dpmpp_3m_sde (see each section): the error to the exact ODE end
 *    point on the trailing, linspace and leading grids; the orders of convergence on a Karras grid with fixed end
 *    levels; the SDE samplers' exact end distributions (by linear response: no Monte Carlo error) and their weak
 *    orders; 16384 images at 1000 steps against the data's mean and variance within 4 standard errors.
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

/* Runs a whole batch (skip_last: all steps but the last, x at the grid's last level instead of sigma = 0); x_first
 * (optional) receives x before the first step, t_ends (optional) the first and the last timestep of the grid.
 * Returns 0 on failure. */
static int run_all(const ddpm_denoiser *d, const sampler_case *c, int batch, uint64_t seed, float *out,
                   float *x_first, int *t_ends, int skip_last) {
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
    if (t_ends) t_ends[0] = ddpm_run_timestep(run, 0), t_ends[1] = ddpm_run_timestep(run, c->steps - 1);
    while (ddpm_run_current_step(run) < c->steps - (skip_last ? 1 : 0)) {
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

#define DIST_BATCH 4096 /* the engine's DDPM_MAX_BATCH: runs with different seeds make 4096 images each */

/* Pooled z = (x - mu_j) / s_j over reps runs of DIST_BATCH images (seeds seed, seed + 1, ...): mean and variance. */
static int pooled_z(analytic *a, const sampler_case *c, int reps, uint64_t seed, double *mean, double *var) {
    const ddpm_denoiser d = make_denoiser(a);
    float *x = malloc(sizeof(float) * NPIX * DIST_BATCH);
    double s1 = 0, s2 = 0;
    int ok = x != NULL;
    for (int rep = 0; rep < reps && ok; rep++) {
        if (!(ok = run_all(&d, c, DIST_BATCH, seed + (uint64_t)rep, x, NULL, NULL, 0))) break;
        for (int k = 0; k < DIST_BATCH; k++)
            for (int j = 0; j < NPIX; j++) {
                const double z = (x[k * NPIX + j] - a->mu[j]) / a->s[j];
                s1 += z, s2 += z * z;
            }
    }
    free(x);
    const double N = (double)reps * DIST_BATCH * NPIX;
    *mean = s1 / N;
    *var = s2 / N - *mean * *mean;
    return ok;
}

static void test_distribution(analytic *a) {
    printf("-- distribution: pooled z = (x - mu) / s over %d images x %d pixels\n", 2 * DIST_BATCH, NPIX);
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
        {"unipc, 50 steps", "unipc", 50, DDPM_SPACING_TRAILING, {{0}}, 0},
        {"unipc bh1 order 3, 50 steps", "unipc", 50, DDPM_SPACING_TRAILING, {{"order", 3}, {"variant", 0}}, 2},
        {"dpmpp_2m_sde, 100 steps", "dpmpp_2m_sde", 100, DDPM_SPACING_TRAILING, {{0}}, 0},
        {"dpmpp_3m_sde, 100 steps", "dpmpp_3m_sde", 100, DDPM_SPACING_TRAILING, {{0}}, 0},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        double mean, var;
        if (!pooled_z(a, &cases[ci], 2, 1000 + 2 * (uint64_t)ci, &mean, &var)) continue;
        CHECK(fabs(mean) < 0.02 && fabs(var - 1) < 0.04, "%-28s z mean %+.4f (|.| < 0.02), var %.4f (1 +- 0.04)",
              cases[ci].label, mean, var);
    }
}

#define ODE_BATCH 64

/* max |x - exact| over the batch for one deterministic sampler run: at sigma = 0, or with skip_last at the grid's
 * last level sigma_e, where the exact solution is y = mu + sqrt(s^2 + sigma_e^2) (y_T - mu) / sqrt(s^2 + sigma_T^2),
 * x = sqrt(abar_e) y. */
static double ode_error(analytic *a, const sampler_case *c, int skip_last) {
    const ddpm_denoiser d = make_denoiser(a);
    float x[NPIX * ODE_BATCH], xT[NPIX * ODE_BATCH];
    int te[2];
    if (!run_all(&d, c, ODE_BATCH, 77, x, xT, te, skip_last)) return INFINITY;
    const double ab = a->ab[te[0]], sig2 = (1 - ab) / ab;
    const double ab_e = skip_last ? a->ab[te[1]] : 1.0, sig2_e = (1 - ab_e) / ab_e;
    double worst = 0;
    for (int k = 0; k < ODE_BATCH; k++)
        for (int j = 0; j < NPIX; j++) {
            const double yT = xT[k * NPIX + j] / sqrt(ab), s2 = a->s[j] * a->s[j];
            const double exact = sqrt(ab_e) * (a->mu[j] + sqrt((s2 + sig2_e) / (s2 + sig2)) * (yT - a->mu[j]));
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
        const char *label, *name;
        opt o[2];
        int nopt, order2; /* higher order than Euler */
    } samplers[] = {{"ddim", "ddim", {{"eta", 0}}, 1, 0},
                    {"euler", "euler", {{0}}, 0, 0},
                    {"heun", "heun", {{0}}, 0, 1},
                    {"dpmpp_2m", "dpmpp_2m", {{0}}, 0, 1},
                    {"plms", "plms", {{0}}, 0, 1},
                    {"lms", "lms", {{0}}, 0, 1},
                    {"unipc", "unipc", {{0}}, 0, 1},
                    {"unipc p3", "unipc", {{"order", 3}}, 1, 1},
                    {"unipc p3 bh1", "unipc", {{"order", 3}, {"variant", 0}}, 2, 1},
                    {"2m_sde eta0", "dpmpp_2m_sde", {{"eta", 0}}, 1, 1},
                    {"2m_sde eta0 heun", "dpmpp_2m_sde", {{"eta", 0}, {"solver_type", 1}}, 2, 1},
                    {"3m_sde eta0", "dpmpp_3m_sde", {{"eta", 0}}, 1, 1}};
    enum { NSAMP = sizeof samplers / sizeof samplers[0] };
    double err[NSAMP][NS];
    for (int si = 0; si < NSAMP; si++) {
        printf("     %-16s", samplers[si].label);
        for (int k = 0; k < NS; k++) {
            const sampler_case c = {samplers[si].label, samplers[si].name, steps[k], DDPM_SPACING_TRAILING,
                                    {samplers[si].o[0], samplers[si].o[1]}, samplers[si].nopt};
            err[si][k] = ode_error(a, &c, 0);
            printf("  %3d: %.2e", steps[k], err[si][k]);
        }
        printf("\n");
    }
    for (int si = 0; si < NSAMP; si++) {
        int shrinks = 1;
        for (int k = 1; k < NS; k++) shrinks &= err[si][k] < err[si][k - 1] || err[si][k] < 1e-5;
        CHECK(shrinks && err[si][NS - 1] < 1e-2, "%s: error shrinks with every step-count increase, %.2e at 1000 steps",
              samplers[si].label, err[si][NS - 1]);
    }
    /* higher order: at 50 steps under a quarter of Euler's error, and at 100 steps better than Euler at 250 */
    for (int si = 0; si < NSAMP; si++) {
        if (!samplers[si].order2) continue;
        CHECK(err[si][2] < 0.25 * err[1][2] && err[si][3] < err[1][4],
              "%s: %.2e at 50 steps < a quarter of Euler's %.2e; %.2e at 100 steps < Euler's %.2e at 250",
              samplers[si].label, err[si][2], err[1][2], err[si][3], err[1][4]);
    }
    /* UniPC bh2 order 3 against DPM-Solver++(2M), 10 steps */
    CHECK(err[7][0] < err[3][0], "unipc bh2 order 3 at 10 steps: %.3e < dpmpp_2m's %.3e (%.3fx)", err[7][0], err[3][0],
          err[3][0] / err[7][0]);
}

/* ================================================================================================================
 * 4-6. The multistep samplers unipc, dpmpp_2m_sde and dpmpp_3m_sde: spacings, orders of convergence, SDE moments
 * ============================================================================================================= */

static const ddpm_spacing spacings[3] = {DDPM_SPACING_TRAILING, DDPM_SPACING_LINSPACE, DDPM_SPACING_LEADING};
static const char *spacing_name(ddpm_spacing sp) {
    return sp == DDPM_SPACING_TRAILING ? "trailing" : (sp == DDPM_SPACING_LINSPACE ? "linspace" : "leading");
}

#define NCONV 5
static const int conv_steps[NCONV] = {10, 20, 40, 80, 160};

typedef struct conv_cfg {
    const char *label, *name;
    opt o[3];
    int nopt;
    double min_slope; /* test_orders */
} conv_cfg;

static sampler_case conv_case(const conv_cfg *c, int steps, ddpm_spacing sp, int karras) {
    sampler_case sc = {c->label, c->name, steps, sp, {{0}}, c->nopt};
    for (int o = 0; o < c->nopt; o++) sc.opts[o] = c->o[o];
    if (karras) sc.opts[sc.nopts++] = (opt){"karras", 1};
    return sc;
}

/* the order of convergence between two step counts: log(e0 / e1) / log(n1 / n0) */
static double slope(double e0, double e1, int n0, int n1) { return log(e0 / e1) / log((double)n1 / n0); }

/* e[k], and after the first the slope from e[k - 1] */
static void print_conv(const double *e, int k) {
    if (k == 0) printf(" %.1e", e[0]);
    else printf(" %.1e (%.2f)", e[k], slope(e[k - 1], e[k], conv_steps[k - 1], conv_steps[k]));
}

/* 4. The deterministic multistep samplers on the trailing, linspace and leading grids (error to the exact end point
 * at sigma = 0): it must shrink with every doubling of the steps and at 160 steps be below DDIM's (UniPC order 1
 * without corrector) on the same grid. On these grids uniform in t the last intervals before t = 0 stay wide in
 * lambda (h ~ log(1 + 1/k) / 2 for the k-th last), and the last step x = x0^ from sigma(t_last) has an error
 * ~ sigma(t_last)^2: both cap every solver's slope near 1.5-2 here (test_orders measures the orders). */
static void test_spacings(analytic *a) {
    printf("-- multistep samplers on each spacing: max |x - x_exact| over %d images at 10 .. 160 steps (slopes)\n",
           ODE_BATCH);
    static const conv_cfg cfg[] = {
        {"ddim (unipc p1, no corr)", "unipc", {{"order", 1}, {"corrector", 0}}, 2, 0},
        {"unipc", "unipc", {{0}}, 0, 0},
        {"unipc p3", "unipc", {{"order", 3}}, 1, 0},
        {"unipc p3 bh1 no lof", "unipc", {{"order", 3}, {"variant", 0}, {"lower_order_final", 0}}, 3, 0},
        {"dpmpp_2m_sde eta=0", "dpmpp_2m_sde", {{"eta", 0}}, 1, 0},
        {"dpmpp_2m_sde eta=0 heun", "dpmpp_2m_sde", {{"eta", 0}, {"solver_type", 1}}, 2, 0},
        {"dpmpp_3m_sde eta=0", "dpmpp_3m_sde", {{"eta", 0}}, 1, 0},
        {"dpmpp_2m", "dpmpp_2m", {{0}}, 0, 0},
    };
    enum { NCFG = sizeof cfg / sizeof cfg[0] };
    for (int sp = 0; sp < 3; sp++) {
        double e[NCFG][NCONV];
        for (int ci = 0; ci < NCFG; ci++) {
            printf("     %-8s %-24s", spacing_name(spacings[sp]), cfg[ci].label);
            for (int k = 0; k < NCONV; k++) {
                const sampler_case c = conv_case(&cfg[ci], conv_steps[k], spacings[sp], 0);
                e[ci][k] = ode_error(a, &c, 0);
                print_conv(e[ci], k);
            }
            printf("\n");
        }
        for (int ci = 1; ci < NCFG; ci++) {
            int shrinks = 1;
            for (int k = 1; k < NCONV; k++) shrinks &= e[ci][k] < e[ci][k - 1];
            CHECK(shrinks && e[ci][4] < e[0][4], "%s, %s: shrinks with every doubling; %.1e at 160 steps < DDIM's %.1e",
                  cfg[ci].label, spacing_name(spacings[sp]), e[ci][4], e[0][4]);
        }
        printf("     %s, 10 steps: unipc bh2 order 3 %.3e, dpmpp_2m %.3e\n", spacing_name(spacings[sp]), e[2][0],
               e[NCFG - 1][0]);
    }
}

/* 5. Orders of convergence, on a grid whose widest lambda interval shrinks as 1 / steps: the Karras grid between
 * the fixed levels sigma(999) and sigma(0) (linspace + karras), measured at its last level sigma(0) (the run stops
 * before the final step to sigma = 0, a first-order x = x0^ whose error ~ sigma(0)^2 does not depend on the step
 * count). The slope from 20 to 80 steps (above the float32 floor of the state) must reach the expected order less
 * a margin: UniC raises UniP-p to order p + 1; DPM-Solver++(2M) is order 2, and (3M) as k-diffusion and diffusers
 * write it is order 2 as well: its d2 term is half the Taylor term h^3 phi_3 D'' (with it doubled this test measured
 * 3.0; see src/sampler/dpmpp_3m_sde.c). */
static void test_orders(analytic *a) {
    printf("-- orders: Karras grid sigma(999) .. sigma(0), error to the exact ODE solution at sigma(0) (slopes)\n");
    static const conv_cfg cfg[] = {
        {"ddim (unipc p1, no corr)", "unipc", {{"order", 1}, {"corrector", 0}}, 2, 0.9},
        {"unipc p1", "unipc", {{"order", 1}}, 1, 1.8},
        {"unipc p2 no corr", "unipc", {{"corrector", 0}}, 1, 1.8},
        {"unipc p2", "unipc", {{0}}, 0, 2.7},
        {"unipc p2 bh1", "unipc", {{"variant", 0}}, 1, 2.7},
        {"unipc p3 no corr", "unipc", {{"order", 3}, {"corrector", 0}}, 2, 2.7},
        {"unipc p3", "unipc", {{"order", 3}}, 1, 3.5},
        {"unipc p3 no lof", "unipc", {{"order", 3}, {"lower_order_final", 0}}, 2, 3.5},
        {"dpmpp_2m_sde eta=0", "dpmpp_2m_sde", {{"eta", 0}}, 1, 1.8},
        {"dpmpp_2m_sde eta=0 heun", "dpmpp_2m_sde", {{"eta", 0}, {"solver_type", 1}}, 2, 1.8},
        {"dpmpp_3m_sde eta=0", "dpmpp_3m_sde", {{"eta", 0}}, 1, 1.8}, /* see dpmpp_3m_sde.c: 2, not 3 */
    };
    for (size_t ci = 0; ci < sizeof cfg / sizeof cfg[0]; ci++) {
        double e[NCONV];
        printf("     %-24s", cfg[ci].label);
        for (int k = 0; k < NCONV; k++) {
            const sampler_case c = conv_case(&cfg[ci], conv_steps[k], DDPM_SPACING_LINSPACE, 1);
            e[k] = ode_error(a, &c, 1);
            print_conv(e, k);
        }
        printf("\n");
        const double p = slope(e[1], e[3], conv_steps[1], conv_steps[3]);
        CHECK(p >= cfg[ci].min_slope, "%s: order %.2f (20 -> 80 steps) >= %.1f", cfg[ci].label, p, cfg[ci].min_slope);
    }
}

/* On this model an SDE sampler's x after its steps is affine in x_T and the noise draws: per pixel
 * x = c + A x_T + sum_k B_k z_k. One run with replayed noise measures c, A and every B_k (image 0: x_T = 0, no noise;
 * image 1: x_T = 1; image k + 2: draw k = 1), which gives the sampler's exact distribution at the level reached
 * (no Monte Carlo error) from x_T ~ N(m_T, v_T), the data's marginal at the first timestep: mean c + A m_T, variance
 * A^2 v_T + sum B_k^2. Returned: the worst pixel's |mean - m| / sqrt(v) and |var / v - 1| against the marginal
 * (m, v) = (sqrt(abar) mu, abar s^2 + 1 - abar) at that level. */
static int sde_moments(analytic *a, const sampler_case *c, int skip_last, double *mean_err, double *var_err) {
    const ddpm_denoiser d = make_denoiser(a);
    const int K = c->steps - 1, B = K + 2; /* draws: every step but the last */
    float *start = calloc((size_t)B * NPIX, sizeof(float)), *noise = calloc((size_t)K * B * NPIX, sizeof(float));
    float *x = malloc(sizeof(float) * B * NPIX);
    if (!start || !noise || !x) return free(start), free(noise), free(x), 0;
    for (int j = 0; j < NPIX; j++) start[NPIX + j] = 1.0f;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < NPIX; j++) noise[((size_t)k * B + k + 2) * NPIX + j] = 1.0f;
    ddpm_sample_params p = ddpm_sample_default_params();
    const char *names[3];
    double vals[3];
    for (int i = 0; i < c->nopts; i++) names[i] = c->opts[i].name, vals[i] = c->opts[i].value;
    p.sampler = c->sampler, p.num_options = c->nopts, p.option_names = names, p.option_values = vals;
    p.steps = c->steps, p.spacing = c->spacing, p.batch = B, p.start_x = start, p.noise = noise, p.noise_count = K;
    ddpm_run *run = NULL;
    ddpm_error err;
    int ok = ddpm_run_create_with(&d, &p, &run, &err) == DDPM_OK;
    while (ok && ddpm_run_current_step(run) < c->steps - (skip_last ? 1 : 0))
        ok = ddpm_run_step(run, &err) == DDPM_OK;
    if (!ok) CHECK(0, "%s: replayed run (%s)", c->label, err.message);
    const int t0 = ok ? ddpm_run_timestep(run, 0) : 0, te = ok ? ddpm_run_timestep(run, c->steps - 1) : 0;
    if (ok) memcpy(x, ddpm_run_x(run), sizeof(float) * B * NPIX);
    const double ab0 = a->ab[t0], abe = skip_last ? a->ab[te] : 1.0;
    *mean_err = *var_err = 0;
    for (int j = 0; ok && j < NPIX; j++) {
        const double s2 = a->s[j] * a->s[j], mT = sqrt(ab0) * a->mu[j], vT = ab0 * s2 + 1 - ab0;
        const double m = sqrt(abe) * a->mu[j], v = abe * s2 + 1 - abe;
        const double c0 = x[j], A = x[NPIX + j] - c0;
        double var = A * A * vT;
        for (int k = 0; k < K; k++) {
            const double b = x[(size_t)(k + 2) * NPIX + j] - c0;
            var += b * b;
        }
        *mean_err = fmax(*mean_err, fabs(c0 + A * mT - m) / sqrt(v));
        *var_err = fmax(*var_err, fabs(var / v - 1));
    }
    ddpm_run_free(run);
    free(start);
    free(noise);
    free(x);
    return ok;
}

/* 6. The SDE samplers' weak error: their exact end distribution (sde_moments) against the data's, on the uniform
 * grids (to sigma = 0: every one must shrink with every doubling from 20 steps on) and on the Karras grid at
 * sigma(0) as in test_orders, where the variance error's slope from 20 to 160 steps is the weak order. Then Monte
 * Carlo as for the other stochastic samplers: 16384 images at 1000 steps. */
static void test_sde(analytic *a) {
    printf("-- SDE samplers: exact mean / variance error of the end distribution, worst pixel (variance slopes)\n");
    static const conv_cfg cfg[] = {
        {"dpmpp_2m_sde", "dpmpp_2m_sde", {{0}}, 0, 1.8},
        {"dpmpp_2m_sde heun", "dpmpp_2m_sde", {{"solver_type", 1}}, 1, 1.8},
        {"dpmpp_2m_sde eta=0.5", "dpmpp_2m_sde", {{"eta", 0.5}}, 1, 1.8},
        {"dpmpp_3m_sde", "dpmpp_3m_sde", {{0}}, 0, 1.8},
        {"dpmpp_3m_sde eta=0.5", "dpmpp_3m_sde", {{"eta", 0.5}}, 1, 1.8},
    };
    for (int g = 0; g < 4; g++) { /* the three spacings, then Karras at sigma(0) */
        for (size_t ci = 0; ci < sizeof cfg / sizeof cfg[0]; ci++) {
            double me[NCONV], ve[NCONV];
            int ok = 1, shrinks = 1;
            printf("     %-8s %-21s", g < 3 ? spacing_name(spacings[g]) : "karras", cfg[ci].label);
            for (int k = 0; k < NCONV && ok; k++) {
                const sampler_case c = conv_case(&cfg[ci], conv_steps[k], g < 3 ? spacings[g] : DDPM_SPACING_LINSPACE,
                                                 g == 3);
                ok = sde_moments(a, &c, g == 3, &me[k], &ve[k]);
                printf(" %.0e/%.0e", me[k], ve[k]);
                if (k) printf(" (%.2f)", slope(ve[k - 1], ve[k], conv_steps[k - 1], conv_steps[k]));
                if (k > 1) shrinks &= ve[k] < ve[k - 1] && me[k] < fmax(me[k - 1], 1e-5);
            }
            printf("\n");
            if (!ok) continue;
            if (g < 3) {
                CHECK(shrinks, "%s, %s: mean and variance errors shrink with every doubling from 20 steps (%.1e, %.1e "
                      "at 160)", cfg[ci].label, spacing_name(spacings[g]), me[NCONV - 1], ve[NCONV - 1]);
            } else {
                const double p = slope(ve[1], ve[NCONV - 1], conv_steps[1], conv_steps[NCONV - 1]);
                CHECK(p >= cfg[ci].min_slope && me[NCONV - 1] < 1e-3,
                      "%s, karras at sigma(0): weak order %.2f (variance, 20 -> 160 steps) >= %.1f; mean err %.1e",
                      cfg[ci].label, p, cfg[ci].min_slope, me[NCONV - 1]);
            }
        }
    }
    /* Monte Carlo: pooled z over 4 x 4096 images x 16 pixels, N = 262144: SE(mean) = 1/sqrt(N) = 0.00195,
     * SE(var) = sqrt(2/N) = 0.00276; tolerance 4 SE each (the exact bias at 1000 steps is below 1 SE) */
    const double N = 4.0 * DIST_BATCH * NPIX, se_m = 1 / sqrt(N), se_v = sqrt(2 / N);
    const sampler_case mc[] = {
        {"dpmpp_2m_sde, 1000 trailing", "dpmpp_2m_sde", 1000, DDPM_SPACING_TRAILING, {{0}}, 0},
        {"dpmpp_2m_sde heun karras", "dpmpp_2m_sde", 1000, DDPM_SPACING_TRAILING,
         {{"solver_type", 1}, {"karras", 1}}, 2},
        {"dpmpp_3m_sde, 1000 trailing", "dpmpp_3m_sde", 1000, DDPM_SPACING_TRAILING, {{0}}, 0},
    };
    for (size_t ci = 0; ci < sizeof mc / sizeof mc[0]; ci++) {
        double mean, var;
        if (!pooled_z(a, &mc[ci], 4, 5000 + 4 * (uint64_t)ci, &mean, &var)) continue;
        CHECK(fabs(mean) < 4 * se_m && fabs(var - 1) < 4 * se_v,
              "%-28s z mean %+.4f (%+.1f SE), var %.4f (%+.1f SE), 16384 images", mc[ci].label, mean, mean / se_m,
              var, (var - 1) / se_v);
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
    if (run_all(&d, &euler, ODE_BATCH, 5, x1, NULL, NULL, 0) && run_all(&d, &ddim0, ODE_BATCH, 5, x2, NULL, NULL, 0)) {
        worst = 0;
        for (int i = 0; i < NPIX * ODE_BATCH; i++) worst = fmax(worst, fabs((double)x1[i] - x2[i]));
        CHECK(worst < 1e-5, "euler == ddim eta=0 (40 leading steps): max |d| %.2e", worst);
    }
    if (run_all(&d, &ddim1, ODE_BATCH, 6, x1, NULL, NULL, 0) && run_all(&d, &ddpm, ODE_BATCH, 6, x2, NULL, NULL, 0)) {
        worst = 0;
        for (int i = 0; i < NPIX * ODE_BATCH; i++) worst = fmax(worst, fabs((double)x1[i] - x2[i]));
        CHECK(worst < 1e-5, "ddim eta=1 == ddpm fixed_small, no clipping (40 leading steps): max |d| %.2e", worst);
    }
    /* DPM-Solver++(1) = DDIM = UniP-1; DPM-Solver++(2M) SDE at eta = 0 with the midpoint rule = DPM-Solver++(2M) */
    const sampler_case pairs[][2] = {
        {{"unipc p1, no corrector", "unipc", 40, DDPM_SPACING_LINSPACE, {{"order", 1}, {"corrector", 0}}, 2},
         {"ddim eta=0", "ddim", 40, DDPM_SPACING_LINSPACE, {{"eta", 0}}, 1}},
        {{"dpmpp_2m_sde eta=0", "dpmpp_2m_sde", 40, DDPM_SPACING_TRAILING, {{"eta", 0}}, 1},
         {"dpmpp_2m", "dpmpp_2m", 40, DDPM_SPACING_TRAILING, {{0}}, 0}},
        {{"dpmpp_2m_sde eta=0 karras", "dpmpp_2m_sde", 40, DDPM_SPACING_LEADING, {{"eta", 0}, {"karras", 1}}, 2},
         {"dpmpp_2m karras", "dpmpp_2m", 40, DDPM_SPACING_LEADING, {{"karras", 1}}, 1}},
    };
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        if (!run_all(&d, &pairs[k][0], ODE_BATCH, 7, x1, NULL, NULL, 0) ||
            !run_all(&d, &pairs[k][1], ODE_BATCH, 7, x2, NULL, NULL, 0))
            continue;
        worst = 0;
        for (int i = 0; i < NPIX * ODE_BATCH; i++) worst = fmax(worst, fabs((double)x1[i] - x2[i]));
        CHECK(worst < 1e-5, "%s == %s (40 %s steps): max |d| %.2e", pairs[k][0].label, pairs[k][1].label,
              spacing_name(pairs[k][0].spacing), worst);
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
    test_spacings(&a);
    test_orders(&a);
    test_sde(&a);
    test_identities(&a);
    ddpm_schedule_free(sched);
    return tu_finish("test_samplers_analytic");
}
