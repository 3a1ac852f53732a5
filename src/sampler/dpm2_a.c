/*
 * "dpm2_a": DPM-Solver-2 ancestral, as k-diffusion's sample_dpm_2_ancestral. In the VE scale (see euler.c), with
 * sigma_down / sigma_up the ancestral split of euler_a.c:
 *     d     = eps^(x_i, sigma_i)
 *     sigma_mid = sqrt(sigma_i sigma_down)                        (the midpoint in log sigma)
 *     x'    = x_i + (sigma_mid - sigma_i) d,   d' = eps^(x', sigma_mid)        (fractional timestep)
 *     x_ve_{i+1} = x_i + (sigma_down - sigma_i) d' + s_noise sigma_up z,   z = ctx->noise(step i, stream 0)
 * and back to the VP scale at sigma_{i+1}. Two model evaluations per step; the last step (sigma_down = 0) is a
 * single Euler step to x0 without noise.
 */
#include "sampler/common.h"

#include <math.h>

enum { OPT_ETA, OPT_S_NOISE, OPT_KARRAS };

static const ddpm_sampler_option dpm2_a_options[] = {
    {.name = "eta", .type = DDPM_OPTION_FLOAT, .default_value = 1, .min_value = 0, .max_value = 1,
     .help = "ancestral noise: 0 = deterministic DPM-Solver-2, 1 = full ancestral"},
    {.name = "s_noise", .type = DDPM_OPTION_FLOAT, .default_value = 1, .min_value = 0, .max_value = 2,
     .help = "scale of the injected noise (1 = exact; > 1 adds detail)"},
    DDPM__KARRAS_OPTION,
};

enum { B_OUT, B_X2, B_NOISE };

static ddpm_status dpm2_a_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    return ddpm__state_create(ctx, 3, ctx->option_values[OPT_KARRAS] != 0.0, st);
}

static ddpm_status dpm2_a_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    ddpm__state *s = st;
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    const ddpm__level l = s->lv[i], ln = s->lv[i + 1];
    float *out = s->buf[B_OUT], *x2 = s->buf[B_X2], *noise = s->buf[B_NOISE];
    ddpm_status r = ddpm__denoise_at(ctx, s, x, l.t, out);
    if (r != DDPM_OK) return r;
    double sd, su;
    ddpm__ancestral_sigmas(l.sigma, ln.sigma, ctx->option_values[OPT_ETA], &sd, &su);
    if (!(sd > 0.0)) { /* Euler to sigma_down = 0 */
        for (size_t j = 0; j < n; j++) {
            double x0, d;
            ddpm__split(ctx->prediction, l.sa, l.s1, x[j], out[j], &x0, &d);
            if (ctx->pred_x0) ctx->pred_x0[j] = (float)x0;
            x[j] = (float)((x[j] / l.sa - l.sigma * d) * ln.sa);
        }
        return DDPM_OK;
    }
    const ddpm__level lm = ddpm__level_at_sigma(ctx->schedule, sqrt(l.sigma * sd));
    const double dt1 = lm.sigma - l.sigma, dt2 = sd - l.sigma, up = su * ctx->option_values[OPT_S_NOISE];
    for (size_t j = 0; j < n; j++) {
        double x0, d;
        ddpm__split(ctx->prediction, l.sa, l.s1, x[j], out[j], &x0, &d);
        if (ctx->pred_x0) ctx->pred_x0[j] = (float)x0;
        x2[j] = (float)((x[j] / l.sa + dt1 * d) * lm.sa);
    }
    r = ddpm__denoise_at(ctx, s, x2, lm.t, out);
    if (r != DDPM_OK) return r;
    if (su > 0.0) ctx->noise(ctx, i, 0, noise);
    for (size_t j = 0; j < n; j++) {
        double x0, d2;
        ddpm__split(ctx->prediction, lm.sa, lm.s1, x2[j], out[j], &x0, &d2);
        double xve = x[j] / l.sa + dt2 * d2;
        if (su > 0.0) xve += up * noise[j];
        x[j] = (float)(xve * ln.sa);
    }
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_dpm2_a = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "dpm2_a",
    .description = "DPM-Solver-2 ancestral (k-diffusion): a log-sigma midpoint step to sigma_down, then fresh noise",
    .num_options = 3,
    .options = dpm2_a_options,
    .evals_per_step = 2,
    .create = dpm2_a_create,
    .step = dpm2_a_step,
    .destroy = ddpm__state_destroy,
};
