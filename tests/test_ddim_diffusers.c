/*
 * The "ddim" and "ddpm" samplers' diffusers options, step by step on an analytic model, through the public run API.
 *
 * diffusers v0.21.4 DDIMScheduler.step (eta, clip_sample, clip_sample_range, set_alpha_to_one;
 * use_clipped_model_output = False, its default), written here from its source, in double:
 *     abar_p = alphas_cumprod[prev] if prev >= 0 else (1 if set_alpha_to_one else alphas_cumprod[0])
 *     x0     = (x - sqrt(1 - abar_t) eps) / sqrt(abar_t), clamped to [-range, range] when clip_sample
 *     std    = eta sqrt((1 - abar_p) / (1 - abar_t) (1 - abar_t / abar_p))
 *     x_p    = sqrt(abar_p) x0 + sqrt(1 - abar_p - std^2) eps + std z      (eps: the model's, unclipped)
 * and DDPMScheduler.step's clamp to [-range, range]. Each step is fed the run's own x (teacher forcing) and compared
 * with the formula; the noise z is regenerated from the documented stream (seed, image, step, DDPM_NOISE_STEP).
 * The model's eps is 0.6 x + 0.3 sin(j) - 0.1: its x0 leaves [-1, 1] at most steps, so clipping is exercised, and
 * each check also confirms that the other variant (GLIDE's re-derived eps, abar = 1 at the end) differs by far more
 * than the tolerance.
 */
#include "ddpm.h"
#include "testutil.h"

#define S 4
#define D (S * S) /* 1 channel */
#define BATCH 3
#define SEED 77

static ddpm_status model_eval(void *user, int n, const float *x, const float *t, const int *y, float *out,
                              ddpm_error *err) {
    for (int k = 0; k < n; k++)
        for (int j = 0; j < D; j++) out[k * D + j] = (float)(0.6 * x[k * D + j] + 0.3 * sin((double)j) - 0.1);
    return DDPM_OK;
}

/* what model_eval returns for element j of an image at x (x already a float) */
static double model_eps(double x, int j) { return (double)(float)(0.6 * x + 0.3 * sin((double)j) - 0.1); }

typedef struct ddim_case {
    double eta, clip_range;
    int clip, clip_eps, alpha_one;
} ddim_case;

/* diffusers' DDIM step for one element; glide = 1 re-derives eps from the clipped x0 (use_clipped_model_output). */
static double ddim_expected(const double *ab, int t, int prev, const ddim_case *c, int glide, double x, double eps,
                            double z) {
    const double at = ab[t], ap = prev >= 0 ? ab[prev] : (c->alpha_one ? 1.0 : ab[0]);
    double x0 = (x - sqrt(1 - at) * eps) / sqrt(at);
    if (c->clip) x0 = x0 < -c->clip_range ? -c->clip_range : (x0 > c->clip_range ? c->clip_range : x0);
    if (glide) eps = (x - sqrt(at) * x0) / sqrt(1 - at);
    const double var = (1 - ap) / (1 - at) * (1 - at / ap);
    const double std = c->eta * sqrt(var > 0 ? var : 0);
    return sqrt(ap) * x0 + sqrt(1 - ap - std * std) * eps + std * z;
}

static ddpm_run *start(const ddpm_denoiser *d, const char *sampler, int steps, ddpm_spacing spacing, int nopt,
                       const char *const *names, const double *vals) {
    ddpm_sample_params p = ddpm_sample_default_params();
    p.sampler = sampler;
    p.steps = steps;
    p.spacing = spacing;
    p.seed = SEED;
    p.batch = BATCH;
    p.num_options = nopt;
    p.option_names = names;
    p.option_values = vals;
    ddpm_run *r = NULL;
    ddpm_error err;
    if (ddpm_run_create_with(d, &p, &r, &err) != DDPM_OK) {
        CHECK(0, "%s: run create (%s)", sampler, err.message);
        return NULL;
    }
    return r;
}

static void test_ddim(const ddpm_denoiser *d, const double *ab, const ddim_case *c) {
    const char *names[5] = {"eta", "clip_x0", "clip_eps", "set_alpha_to_one", "clip_range"};
    const double vals[5] = {c->eta, c->clip, c->clip_eps, c->alpha_one, c->clip_range};
    const int steps = 10;
    ddpm_run *r = start(d, "ddim", steps, DDPM_SPACING_TRAILING, 5, names, vals); /* 999, 899, ..., 99 */
    if (!r) return;
    const int diffusers = !c->clip_eps;
    double worst = 0, other = 0; /* against the option's formula; against the other variant */
    float x[BATCH * D], z[BATCH * D];
    int clipped = 0;
    for (int i = 0; i < steps; i++) {
        memcpy(x, ddpm_run_x(r), sizeof x);
        const int t = ddpm_run_timestep(r, i), prev = i + 1 < steps ? ddpm_run_timestep(r, i + 1) : -1;
        for (int k = 0; k < BATCH; k++)
            ddpm_rng_normal(SEED, (uint32_t)k, (uint32_t)i, DDPM_NOISE_STEP, z + k * D, D);
        ddpm_error err;
        if (ddpm_run_step(r, &err) != DDPM_OK) {
            CHECK(0, "ddim step %d: %s", i, err.message);
            break;
        }
        const float *got = ddpm_run_x(r);
        for (int e = 0; e < BATCH * D; e++) {
            const double eps = model_eps(x[e], e % D);
            const double want = ddim_expected(ab, t, prev, c, !diffusers, x[e], eps, c->eta > 0 ? z[e] : 0);
            ddim_case alt = *c;
            if (prev < 0) alt.alpha_one = !c->alpha_one;
            const double alt_x = ddim_expected(ab, t, prev, &alt, prev < 0 ? !diffusers : diffusers, x[e], eps,
                                               c->eta > 0 ? z[e] : 0);
            worst = fmax(worst, fabs(got[e] - want) / fmax(1.0, fabs(want)));
            other = fmax(other, fabs(got[e] - alt_x) / fmax(1.0, fabs(want)));
            const double x0 = (x[e] - sqrt(1 - ab[t]) * eps) / sqrt(ab[t]);
            clipped += c->clip && fabs(x0) > c->clip_range;
        }
    }
    ddpm_run_free(r);
    CHECK(worst < 2e-6 && other > 1e-3 && (!c->clip || clipped > 10),
          "ddim eta %g clip_x0 %d range %g clip_eps %d set_alpha_to_one %d: every step = %s's formula (rel err %.1e; "
          "the other variant is %.1e away; %d clipped elements)",
          c->eta, c->clip, c->clip_range, c->clip_eps, c->alpha_one, diffusers ? "diffusers" : "GLIDE", worst, other,
          clipped);
}

/* The ddpm sampler clamps x0 to [-clip_range, clip_range]: the default range equals an explicit 1 bit for bit, and
 * 1.5 differs from both range 1 and no clipping. */
static void test_ddpm_range(const ddpm_denoiser *d) {
    const char *names[2] = {"clip_x0", "clip_range"};
    float out[4][BATCH * D];
    const double settings[4][2] = {{0, 1}, {1, 1}, {1, 1.5}, {1, 1}};
    for (int s = 0; s < 4; s++) {
        ddpm_run *r = start(d, "ddpm", 20, DDPM_SPACING_LEADING, s == 3 ? 1 : 2, names, settings[s]);
        if (!r) return;
        ddpm_error err;
        while (!ddpm_run_done(r))
            if (ddpm_run_step(r, &err) != DDPM_OK) break;
        memcpy(out[s], ddpm_run_x(r), sizeof out[s]);
        ddpm_run_free(r);
    }
    float lo = 0, hi = 0;
    for (int e = 0; e < BATCH * D; e++) {
        lo = fminf(lo, out[2][e]);
        hi = fmaxf(hi, out[2][e]);
    }
    CHECK(memcmp(out[1], out[3], sizeof out[1]) == 0, "ddpm: clip_range 1 == the default range, bit for bit");
    CHECK(memcmp(out[2], out[1], sizeof out[2]) != 0 && memcmp(out[2], out[0], sizeof out[2]) != 0 && lo >= -1.5f &&
              hi <= 1.5f && (lo < -1.0f || hi > 1.0f),
          "ddpm: clip_range 1.5 ends in [-1.5, 1.5] (%.3f .. %.3f), apart from range 1 and from no clipping", lo, hi);
}

static void test_options(const ddpm_denoiser *d) {
    const ddpm_sampler_vtable *vt = ddpm_sampler_find("ddim");
    CHECK(vt && vt->num_options == 5 && strcmp(vt->options[0].name, "eta") == 0 &&
              strcmp(vt->options[1].name, "clip_x0") == 0 && strcmp(vt->options[2].name, "clip_eps") == 0 &&
              vt->options[2].default_value == 1 && strcmp(vt->options[3].name, "set_alpha_to_one") == 0 &&
              vt->options[3].default_value == 1 && strcmp(vt->options[4].name, "clip_range") == 0 &&
              vt->options[4].default_value == 1 && vt->options[4].max_value == 100 && vt->options[4].min_value > 0,
          "ddim options: eta, clip_x0, clip_eps (1), set_alpha_to_one (1), clip_range (1, up to 100)");
    vt = ddpm_sampler_find("ddpm");
    CHECK(vt && vt->num_options == 3 && strcmp(vt->options[2].name, "clip_range") == 0 &&
              vt->options[2].type == DDPM_OPTION_FLOAT && vt->options[2].default_value == 1,
          "ddpm options: variance, clip_x0, clip_range (1)");
    const char *name = "clip_range";
    const double bad[3] = {0.0, -1.0, 101.0};
    for (int i = 0; i < 3; i++) {
        ddpm_sample_params p = ddpm_sample_default_params();
        p.sampler = "ddim";
        p.num_options = 1;
        p.option_names = &name;
        p.option_values = &bad[i];
        ddpm_run *r = NULL;
        ddpm_error err;
        CHECK(ddpm_run_create_with(d, &p, &r, &err) == DDPM_ERR_INVALID_ARGUMENT && !r, "clip_range %g refused: %s",
              bad[i], err.message);
    }
}

int main(void) {
    ddpm_schedule_params sp = ddpm_schedule_default_params();
    sp.float32 = 1; /* the diffusers schedule */
    ddpm_schedule *sched = NULL;
    if (ddpm_schedule_create(&sp, &sched, NULL) != DDPM_OK) return 1;
    const double *ab = ddpm_schedule_array_get(sched, DDPM_ALPHAS_CUMPROD);
    ddpm_denoiser d;
    memset(&d, 0, sizeof d);
    d.schedule = sched;
    d.prediction = DDPM_PREDICT_EPS;
    d.channels = 1;
    d.image_size = S;
    d.eval = model_eval;

    const ddim_case cases[] = {
        {0.0, 1.0, 1, 0, 0}, /* diffusers: clip_sample, set_alpha_to_one false */
        {0.0, 1.0, 1, 0, 1}, /* diffusers: clip_sample, set_alpha_to_one true */
        {0.0, 1.0, 1, 1, 0}, /* GLIDE eps, set_alpha_to_one false */
        {0.0, 1.0, 1, 1, 1}, /* today's default behaviour with clipping */
        {0.7, 1.0, 1, 0, 0}, /* stochastic: diffusers' std and noise, also on the last step (abar_p < 1) */
        {0.0, 2.5, 1, 0, 0}, /* clip_sample_range 2.5 */
        {0.0, 1.0, 0, 0, 0}, /* no clipping: clip_eps has nothing to act on; set_alpha_to_one false still does */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_ddim(&d, ab, &cases[i]);
    test_ddpm_range(&d);
    test_options(&d);
    ddpm_schedule_free(sched);
    return tu_finish("test_ddim_diffusers");
}
