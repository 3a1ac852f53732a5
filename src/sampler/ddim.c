/*
 * "ddim": Denoising Diffusion Implicit Models (Song, Meng & Ermon 2021, eq. 12), on any descending grid.
 *
 * From t to the next timestep p (p = -1 after the last step: abar_{-1} = 1, or alphas_cumprod[0] when
 * set_alpha_to_one = 0, diffusers' final_alpha_cumprod):
 *     x0^, eps^ = model output -> (x0, eps)
 *                 with clip_x0, x0^ is clipped to [-clip_range, clip_range]; where it was clipped and clip_eps = 1,
 *                 eps^ is re-derived from it, eps^ = (x_t - sqrt(abar_t) x0^) / sqrt(1 - abar_t) (GLIDE, and
 *                 diffusers' use_clipped_model_output); clip_eps = 0 keeps the model's eps^ (diffusers' default)
 *     sigma     = eta sqrt((1 - abar_p) / (1 - abar_t)) sqrt(1 - abar_t / abar_p)
 *     x_p       = sqrt(abar_p) x0^ + sqrt(1 - abar_p - sigma^2) eps^ + sigma z,   z = ctx->noise(step i, stream 0)
 * eta = 0 is the deterministic DDIM; eta = 1 is the DDPM posterior with fixed_small variance on the same grid (and
 * the same noise stream as the "ddpm" sampler), with or without clipping. A last step to abar_p = 1 adds no noise.
 * diffusers' DDIMScheduler.step is clip_x0 = clip_sample, clip_range = clip_sample_range, clip_eps = 0 and
 * set_alpha_to_one as configured. Options keep their indices: later ones are appended.
 */
#include "sampler/common.h"

#include <math.h>

enum { OPT_ETA, OPT_CLIP, OPT_CLIP_EPS, OPT_ALPHA_ONE, OPT_CLIP_RANGE };

static const ddpm_sampler_option ddim_options[] = {
    {.name = "eta", .type = DDPM_OPTION_FLOAT, .default_value = 0, .min_value = 0, .max_value = 1,
     .help = "stochasticity: 0 = deterministic DDIM, 1 = the DDPM posterior variance (fixed_small) on this grid"},
    {.name = "clip_x0", .type = DDPM_OPTION_BOOL, .default_value = 0, .min_value = 0, .max_value = 1,
     .help = "clip the predicted x0 to [-clip_range, clip_range] (and re-derive the predicted noise from it: clip_eps)"},
    {.name = "clip_eps", .type = DDPM_OPTION_BOOL, .default_value = 1, .min_value = 0, .max_value = 1,
     .help = "with clip_x0: 1 = re-derive the noise from the clipped x0 (GLIDE); 0 = keep the model's noise (diffusers)"},
    {.name = "set_alpha_to_one", .type = DDPM_OPTION_BOOL, .default_value = 1, .min_value = 0, .max_value = 1,
     .help = "the last step goes to abar = 1 (1) or to abar = alphas_cumprod[0] (0, diffusers' set_alpha_to_one = false)"},
    DDPM__CLIP_RANGE_OPTION,
};

static ddpm_status ddim_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    return ddpm__state_create(ctx, 2, 0, st); /* model output, noise */
}

static ddpm_status ddim_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    ddpm__state *s = st;
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    const double eta = ctx->option_values[OPT_ETA];
    const int clip = ctx->option_values[OPT_CLIP] != 0.0, clip_eps = ctx->option_values[OPT_CLIP_EPS] != 0.0;
    const double range = ctx->option_values[OPT_CLIP_RANGE];
    const ddpm__level lt = s->lv[i];
    /* the level reached: the next timestep's (or diffusers' t - T / steps, ctx->prev_timesteps), or past the end
     * abar = 1 or alphas_cumprod[0] (set_alpha_to_one) */
    const int pt = ctx->prev_timesteps ? ctx->prev_timesteps[i] : (i + 1 < ctx->num_steps ? ctx->timesteps[i + 1] : -1);
    const ddpm__level lp = pt < 0 ? (ctx->option_values[OPT_ALPHA_ONE] == 0.0 ? ddpm__level_at_t(ctx->schedule, 0)
                                                                              : s->lv[ctx->num_steps])
                                  : (ctx->prev_timesteps ? ddpm__level_at_t(ctx->schedule, pt) : s->lv[i + 1]);
    float *out = s->buf[0], *noise = s->buf[1];
    ddpm_status r = ddpm__denoise_at(ctx, s, x, lt.t, out);
    if (r != DDPM_OK) return r;

    const double at = lt.abar, ap = lp.abar;
    double sigma = 0.0;
    if (eta > 0.0 && ap < 1.0) {
        const double v = (1.0 - ap) / (1.0 - at) * (1.0 - at / ap);
        sigma = v > 0.0 ? eta * sqrt(v) : 0.0;
    }
    const double dir2 = 1.0 - ap - sigma * sigma;
    const double c_x0 = lp.sa, c_eps = dir2 > 0.0 ? sqrt(dir2) : 0.0;
    if (sigma > 0.0) ctx->noise(ctx, i, 0, noise);
    for (size_t j = 0; j < n; j++) {
        const double xt = x[j];
        double x0, eps;
        ddpm__split(ctx->prediction, lt.sa, lt.s1, xt, out[j], &x0, &eps);
        if (clip && (x0 < -range || x0 > range)) {
            x0 = x0 < -range ? -range : range;
            if (clip_eps) eps = (xt - lt.sa * x0) / lt.s1;
        }
        if (ctx->pred_x0) ctx->pred_x0[j] = (float)x0;
        double xp = c_x0 * x0 + c_eps * eps;
        if (sigma > 0.0) xp += sigma * noise[j];
        x[j] = (float)xp;
    }
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_ddim = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "ddim",
    .description = "DDIM (Song et al. 2021): deterministic at eta = 0, the DDPM posterior at eta = 1",
    .num_options = (int)(sizeof ddim_options / sizeof ddim_options[0]),
    .options = ddim_options,
    .evals_per_step = 1,
    .create = ddim_create,
    .step = ddim_step,
    .destroy = ddpm__state_destroy,
};
