/*
 * "euler_a": Euler ancestral, as k-diffusion's sample_euler_ancestral. In the VE scale (see euler.c), from sigma_i
 * to sigma_{i+1}:
 *     sigma_up   = min(sigma_{i+1}, eta sqrt(sigma_{i+1}^2 (sigma_i^2 - sigma_{i+1}^2) / sigma_i^2))
 *     sigma_down = sqrt(sigma_{i+1}^2 - sigma_up^2)
 *     x_ve_{i+1} = x_ve_i + (sigma_down - sigma_i) d + s_noise sigma_up z,   d = eps^, z = ctx->noise(step i, stream 0)
 * and back to the VP scale at sigma_{i+1}. With s_noise = 1 this is exactly DDIM with the same eta on the same grid
 * (eta = 1: the DDPM posterior, fixed_small). The last step (sigma_{i+1} = 0) adds no noise.
 */
#include "sampler/common.h"

enum { OPT_ETA, OPT_S_NOISE, OPT_KARRAS };

static const ddpm_sampler_option euler_a_options[] = {
    {.name = "eta", .type = DDPM_OPTION_FLOAT, .default_value = 1, .min_value = 0, .max_value = 1,
     .help = "ancestral noise: 0 = plain Euler, 1 = the full ancestral step"},
    {.name = "s_noise", .type = DDPM_OPTION_FLOAT, .default_value = 1, .min_value = 0, .max_value = 2,
     .help = "scale of the injected noise (1 = exact; > 1 adds detail)"},
    DDPM__KARRAS_OPTION,
};

static ddpm_status euler_a_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    return ddpm__state_create(ctx, 2, ctx->option_values[OPT_KARRAS] != 0.0, st); /* model output, noise */
}

static ddpm_status euler_a_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    ddpm__state *s = st;
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    const ddpm__level l = s->lv[i], ln = s->lv[i + 1];
    float *out = s->buf[0], *noise = s->buf[1];
    ddpm_status r = ddpm__denoise_at(ctx, s, x, l.t, out);
    if (r != DDPM_OK) return r;
    double sd, su;
    ddpm__ancestral_sigmas(l.sigma, ln.sigma, ctx->option_values[OPT_ETA], &sd, &su);
    const double up = su * ctx->option_values[OPT_S_NOISE], dt = sd - l.sigma;
    if (su > 0.0) ctx->noise(ctx, i, 0, noise);
    for (size_t j = 0; j < n; j++) {
        double x0, d;
        ddpm__split(ctx->prediction, l.sa, l.s1, x[j], out[j], &x0, &d);
        if (ctx->pred_x0) ctx->pred_x0[j] = (float)x0;
        double xve = x[j] / l.sa + dt * d;
        if (su > 0.0) xve += up * noise[j];
        x[j] = (float)(xve * ln.sa);
    }
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_euler_a = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "euler_a",
    .description = "Euler ancestral (k-diffusion): Euler to sigma_down, then fresh noise up to the next level",
    .num_options = 3,
    .options = euler_a_options,
    .evals_per_step = 1,
    .create = euler_a_create,
    .step = euler_a_step,
    .destroy = ddpm__state_destroy,
};
