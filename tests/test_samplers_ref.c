/*
 * The built-in samplers step by step against float64 trajectories computed independently by
 * training/ref_samplers.py (tests/data/samplers_ref.h): each sampler in its published form (DDIM eq. 12, diffusers'
 * PNDM step_plms and UniPCMultistepScheduler, k-diffusion's sample_*, the DPM-Solver++ SDE ones included), an
 * analytic model (per element, data N(mu_j, sd_j^2) and its exact noise predictor, as eps / x0 / v) and a table of
 * injected noise.
 *
 * The test is the engine here: it builds a ddpm_sampler_context by hand (the plugin contract), so it controls x, the
 * model and the noise. Teacher forcing: step i gets x_i of the reference trajectory (rounded to float32) and its
 * output is compared with x_{i+1}; multistep samplers keep the history of their earlier (teacher-forced) steps.
 * Also checked: the number of model evaluations and their timesteps (Karras grids and DPM2 midpoints are fractional),
 * that noise is drawn only from stream 0 of the step being taken, and that a single-step sampler's middle step
 * on a fresh state gives the same answer (no hidden state).
 *
 * Tolerance: every step is computed in double from float32 inputs (x, model output, history) and rounded to float32,
 * so its error is a few float roundings (6e-8 relative) of the values involved, amplified by the step's
 * coefficients: at most sqrt(abar_p / abar_t) ~ 2.5 for the steep first steps of this grid, and the VE-scale
 * intermediates (x / sqrt(abar), up to 160 x at t = 999) are scaled back. 1e-5 (|x| + 1) leaves a margin of ~10 over
 * the measured worst case, and a wrong coefficient, timestep or noise stream is off by 1e-3 or more.
 */
#include "ddpm.h"

#include <stdint.h>
#include "data/samplers_ref.h"
#include "testutil.h"

#define TOL 1e-5

/* The harness's own engine: the sampler context first, so the callbacks find the record from the context. */
typedef struct rec {
    ddpm_sampler_context ctx;
    const ddpm_schedule *sched;
    const double *ab;
    int ncalls;
    double call_t[64];
    int bad_stream, nnoise;
    int noise_step[64];
} rec;

/* abar at fractional t: log sigma interpolated linearly between integer timesteps */
static double ab_at(const rec *r, double t) {
    const int k = (int)floor(t);
    if ((double)k == t) return r->ab[k];
    const double w = t - k;
    const double l0 = 0.5 * log((1 - r->ab[k]) / r->ab[k]), l1 = 0.5 * log((1 - r->ab[k + 1]) / r->ab[k + 1]);
    const double ls = (1 - w) * l0 + w * l1;
    return 1.0 / (1.0 + exp(2 * ls));
}

static ddpm_status ref_denoise(const ddpm_sampler_context *ctx, const float *x, const float *t, float *out) {
    rec *r = (rec *)(uintptr_t)ctx;
    if (r->ncalls < 64) r->call_t[r->ncalls] = t[0];
    r->ncalls++;
    for (int k = 0; k < ctx->batch; k++) {
        const double a = ab_at(r, t[k]);
        for (size_t j = 0; j < ctx->image_elems; j++) {
            const size_t e = (size_t)k * ctx->image_elems + j;
            const double mu = ref_s_mu[j], sd = ref_s_sd[j], xv = x[e];
            const double eps = sqrt(1 - a) * (xv - sqrt(a) * mu) / (a * sd * sd + 1 - a);
            const double x0 = (xv - sqrt(1 - a) * eps) / sqrt(a);
            double o = eps;
            if (ctx->prediction == DDPM_PREDICT_X0) o = x0;
            if (ctx->prediction == DDPM_PREDICT_V) o = sqrt(a) * eps - sqrt(1 - a) * x0;
            out[e] = (float)o;
        }
    }
    return DDPM_OK;
}

static void ref_noise(const ddpm_sampler_context *ctx, int step, int stream, float *out) {
    rec *r = (rec *)(uintptr_t)ctx;
    if (r->nnoise < 64) r->noise_step[r->nnoise] = step;
    r->nnoise++;
    if (stream != 0 || step < 0 || step >= REF_S_STEPS) {
        r->bad_stream++;
        stream = stream < 0 || stream >= REF_S_STREAMS ? 1 : stream;
        step = step < 0 ? 0 : (step >= REF_S_STEPS ? REF_S_STEPS - 1 : step);
    }
    for (int e = 0; e < REF_S_N; e++) out[e] = (float)ref_s_noise[step][stream][e];
}

static double step_err(const float *x, const double *want) {
    double m = 0;
    for (int e = 0; e < REF_S_N; e++) {
        const double d = fabs((double)x[e] - want[e]) / (fabs(want[e]) + 1.0);
        if (!(d <= m)) m = d;
    }
    return m;
}

static int is_single_step(const char *name) {
    return !strcmp(name, "ddim") || !strcmp(name, "euler") || !strcmp(name, "euler_a") || !strcmp(name, "heun") ||
           !strcmp(name, "dpm2_a");
}

int main(void) {
    ddpm_schedule_params sp = ddpm_schedule_default_params();
    ddpm_schedule *sched = NULL;
    CHECK(sp.num_timesteps == REF_S_T && ddpm_schedule_create(&sp, &sched, NULL) == DDPM_OK, "linear schedule");
    if (!sched) return tu_finish("test_samplers_ref");
    const double *ab = ddpm_schedule_array_get(sched, DDPM_ALPHAS_CUMPROD);
    double worst_all = 0;

    for (int c = 0; c < REF_S_NCASES; c++) {
        const ref_s_case *rc = &ref_s_cases[c];
        const ddpm_sampler_vtable *vt = ddpm_sampler_find(rc->sampler);
        CHECK(vt != NULL, "case %d: sampler %s registered", c, rc->sampler);
        if (!vt) continue;
        char label[160];
        int len = snprintf(label, sizeof label, "%s[%s", rc->sampler,
                           rc->prediction == 0 ? "eps" : (rc->prediction == 1 ? "x0" : "v"));
        double opt[8];
        for (int o = 0; o < vt->num_options && o < 8; o++) opt[o] = vt->options[o].default_value;
        for (int k = 0; k < rc->num_options; k++) {
            for (int o = 0; o < vt->num_options; o++)
                if (!strcmp(vt->options[o].name, rc->option_names[k])) opt[o] = rc->option_values[k];
            len += snprintf(label + len, sizeof label - (size_t)len, " %s=%g", rc->option_names[k],
                            rc->option_values[k]);
        }
        snprintf(label + len, sizeof label - (size_t)len, "]");

        rec r;
        memset(&r, 0, sizeof r);
        r.sched = sched;
        r.ab = ab;
        float px0[REF_S_N];
        ddpm_sampler_context ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.sampler = vt;
        ctx.schedule = sched;
        ctx.prediction = (ddpm_prediction)rc->prediction;
        ctx.batch = REF_S_BATCH;
        ctx.image_elems = REF_S_D;
        ctx.num_steps = REF_S_STEPS;
        ctx.timesteps = ref_s_timesteps;
        ctx.option_values = opt;
        ctx.denoise = ref_denoise;
        ctx.noise = ref_noise;
        ctx.pred_x0 = px0;
        r.ctx = ctx;

        void *state = NULL;
        ddpm_status st = vt->create ? vt->create(vt->user_data, &r.ctx, &state) : DDPM_OK;
        CHECK(st == DDPM_OK, "%s: create", label);
        if (st != DDPM_OK) continue;
        double err[REF_S_STEPS], worst = 0;
        int ok = 1;
        for (int i = 0; i < REF_S_STEPS; i++) {
            float x[REF_S_N];
            for (int e = 0; e < REF_S_N; e++) x[e] = (float)rc->x[i][e];
            if (vt->step(vt->user_data, state, &r.ctx, i, x) != DDPM_OK) ok = 0;
            err[i] = step_err(x, rc->x[i + 1]);
            if (!(err[i] <= worst)) worst = err[i];
        }
        if (vt->destroy) vt->destroy(vt->user_data, &r.ctx, state);
        if (!(worst <= worst_all)) worst_all = worst;
        CHECK(ok && err[0] <= TOL, "%s: first step matches the float64 reference (err %.2e)", label, err[0]);
        CHECK(ok && err[REF_S_STEPS / 2] <= TOL, "%s: middle step %d matches (err %.2e)", label, REF_S_STEPS / 2,
              err[REF_S_STEPS / 2]);
        CHECK(ok && worst <= TOL, "%s: every step matches, the last one to sigma = 0 included (worst err %.2e, last %.2e)", label,
              worst, err[REF_S_STEPS - 1]);

        /* model evaluations: count and timesteps */
        int tmatch = r.ncalls == rc->num_calls;
        double tw = 0;
        for (int k = 0; tmatch && k < rc->num_calls && k < 64; k++) {
            const double d = fabs(r.call_t[k] - rc->call_t[k]);
            if (d > tw) tw = d;
        }
        CHECK(tmatch && tw <= 2e-4, "%s: %d model evaluations at the reference timesteps (got %d, worst |dt| %.1e)",
              label, rc->num_calls, r.ncalls, tw);
        /* noise: stream 0 of the current step only, never on the last step */
        int noise_ok = r.bad_stream == 0;
        for (int k = 0; k < r.nnoise && k < 64; k++)
            if (r.noise_step[k] == REF_S_STEPS - 1) noise_ok = 0;
        CHECK(noise_ok, "%s: noise drawn %d times, only stream 0 and never at the last step", label, r.nnoise);

        /* a single-step sampler has no hidden state: its middle step on a fresh state gives the same answer */
        if (is_single_step(rc->sampler)) {
            const int i = REF_S_STEPS / 2;
            state = NULL;
            if (vt->create) vt->create(vt->user_data, &r.ctx, &state);
            float x[REF_S_N];
            for (int e = 0; e < REF_S_N; e++) x[e] = (float)rc->x[i][e];
            st = vt->step(vt->user_data, state, &r.ctx, i, x);
            if (vt->destroy) vt->destroy(vt->user_data, &r.ctx, state);
            const double e1 = step_err(x, rc->x[i + 1]);
            CHECK(st == DDPM_OK && e1 <= TOL, "%s: step %d alone on a fresh state matches (err %.2e)", label, i, e1);
        }
    }
    printf("# worst step error over all cases: %.3e (tolerance %.0e (|x| + 1))\n", worst_all, TOL);
    ddpm_schedule_free(sched);
    return tu_finish("test_samplers_ref");
}
