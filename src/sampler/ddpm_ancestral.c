/*
 * "ddpm": ancestral sampling (Ho et al. 2020, Algorithm 2), on the full grid or on any descending subset of it.
 *
 * From t to the next timestep s (s = -1 after the last), with a_t = abar_t / abar_s and b_t = 1 - a_t (on the full
 * grid these are the schedule's alpha_t and beta_t):
 *     x0^   = prediction -> x0, clipped to [-clip_range, clip_range] when clip_x0
 *     mean  = sqrt(abar_s) b_t / (1 - abar_t) * x0^  +  sqrt(a_t) (1 - abar_s) / (1 - abar_t) * x_t
 *     var   = fixed_small: (1 - abar_s) / (1 - abar_t) * b_t     fixed_large: b_t
 *     x_s   = mean + sqrt(var) z,   z ~ N(0, I), and no noise on the last step.
 * diffusers' DDPMScheduler.step is clip_x0 = clip_sample, clip_range = clip_sample_range (its 1e-20 variance floor
 * never binds on a schedule this engine accepts). Options keep their indices: later ones are appended.
 */
#include "sampler/builtin.h"

#include <math.h>
#include <stdlib.h>

static const char *const variance_choices[] = {"fixed_small", "fixed_large", NULL};

static const ddpm_sampler_option ddpm_options[] = {
    {.name = "variance", .type = DDPM_OPTION_CHOICE, .default_value = 0, .min_value = 0, .max_value = 1, .choices = variance_choices,
     .help = "fixed_small: sigma^2 = posterior variance (beta~); fixed_large: sigma^2 = beta"},
    {.name = "clip_x0", .type = DDPM_OPTION_BOOL, .default_value = 1, .min_value = 0, .max_value = 1,
     .help = "clip the predicted x0 to [-clip_range, clip_range] before the posterior mean"},
    DDPM__CLIP_RANGE_OPTION,
};

typedef struct state {
    float *out, *noise; /* [batch * image_elems] each */
} state;

static ddpm_status ddpm_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    size_t n = (size_t)ctx->batch * ctx->image_elems;
    state *s = ddpm__calloc(1, sizeof *s);
    if (!s) return DDPM_ERR_OUT_OF_MEMORY;
    s->out = ddpm__malloc(sizeof(float) * n);
    s->noise = ddpm__malloc(sizeof(float) * n);
    if (!s->out || !s->noise) {
        free(s->out);
        free(s->noise);
        free(s);
        return DDPM_ERR_OUT_OF_MEMORY;
    }
    *st = s;
    return DDPM_OK;
}

static void ddpm_destroy(void *user, const ddpm_sampler_context *ctx, void *st) {
    state *s = st;
    if (!s) return;
    free(s->out);
    free(s->noise);
    free(s);
}

static ddpm_status ddpm_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    state *s = st;
    const int t = ctx->timesteps[i];
    const int prev = ctx->prev_timesteps ? ctx->prev_timesteps[i] : (i + 1 < ctx->num_steps ? ctx->timesteps[i + 1] : -1);
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    float tb[DDPM_MAX_BATCH];
    for (int k = 0; k < ctx->batch; k++) tb[k] = (float)t;
    ddpm_status stt = ctx->denoise(ctx, x, tb, s->out);
    if (stt != DDPM_OK) return stt;
    const int fixed_large = ctx->option_values[0] != 0.0, clip = ctx->option_values[1] != 0.0;
    const double range = ctx->option_values[2];

    const double ab_t = ddpm__abar(ctx->schedule, t), ab_s = ddpm__abar(ctx->schedule, prev);
    const double a = ab_t / ab_s, b = 1.0 - a;
    const double c_x0 = sqrt(ab_s) * b / (1.0 - ab_t), c_xt = sqrt(a) * (1.0 - ab_s) / (1.0 - ab_t);
    const double var = fixed_large ? b : (1.0 - ab_s) / (1.0 - ab_t) * b;
    const double sigma = prev >= 0 ? sqrt(var) : 0.0;
    const double sa = sqrt(ab_t), s1a = sqrt(1.0 - ab_t);
    if (prev >= 0) ctx->noise(ctx, i, 0, s->noise);
    for (size_t j = 0; j < n; j++) {
        const double xt = x[j], o = s->out[j];
        double x0;
        switch (ctx->prediction) {
        case DDPM_PREDICT_X0: x0 = o; break;
        case DDPM_PREDICT_V: x0 = sa * xt - s1a * o; break;
        default: x0 = (xt - s1a * o) / sa; break;
        }
        if (clip) x0 = x0 < -range ? -range : (x0 > range ? range : x0);
        if (ctx->pred_x0) ctx->pred_x0[j] = (float)x0;
        double xs = c_x0 * x0 + c_xt * xt;
        if (prev >= 0) xs += sigma * s->noise[j];
        x[j] = (float)xs;
    }
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_ddpm = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "ddpm",
    .description = "DDPM ancestral sampling (Ho et al. 2020, Algorithm 2); on a strided grid it uses the grid's own betas",
    .num_options = (int)(sizeof ddpm_options / sizeof ddpm_options[0]),
    .options = ddpm_options,
    .evals_per_step = 1,
    .create = ddpm_create,
    .step = ddpm_step,
    .destroy = ddpm_destroy,
};
