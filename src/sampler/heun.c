/*
 * "heun": Heun's second-order method on the probability-flow ODE in sigma (Karras et al. 2022, Algorithm 1 without
 * churn), as k-diffusion's sample_heun. In the VE scale (see euler.c), with h = sigma_{i+1} - sigma_i:
 *     d   = eps^(x_i, sigma_i),   x'  = x_i + h d
 *     d'  = eps^(x', sigma_{i+1}),   x_{i+1} = x_i + h (d + d') / 2
 * Two model evaluations per step; the last step (to sigma = 0) is a single Euler step.
 */
#include "sampler/common.h"

enum { OPT_KARRAS };

static const ddpm_sampler_option heun_options[] = {
    DDPM__KARRAS_OPTION,
};

enum { B_OUT, B_D, B_X2 }; /* model output; d; x' (VP scale at sigma_{i+1}) */

static ddpm_status heun_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    return ddpm__state_create(ctx, 3, ctx->option_values[OPT_KARRAS] != 0.0, st);
}

static ddpm_status heun_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    ddpm__state *s = st;
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    const ddpm__level l = s->lv[i], ln = s->lv[i + 1];
    float *out = s->buf[B_OUT], *dbuf = s->buf[B_D], *x2 = s->buf[B_X2];
    ddpm_status r = ddpm__denoise_at(ctx, s, x, l.t, out);
    if (r != DDPM_OK) return r;
    const double h = ln.sigma - l.sigma;
    const int euler = !(ln.sigma > 0.0);
    for (size_t j = 0; j < n; j++) {
        double x0, d;
        ddpm__split(ctx->prediction, l.sa, l.s1, x[j], out[j], &x0, &d);
        if (ctx->pred_x0) ctx->pred_x0[j] = (float)x0;
        const double xn = (x[j] / l.sa + h * d) * ln.sa;
        if (euler) {
            x[j] = (float)xn;
        } else {
            x2[j] = (float)xn;
            dbuf[j] = (float)d;
        }
    }
    if (euler) return DDPM_OK;
    r = ddpm__denoise_at(ctx, s, x2, ln.t, out);
    if (r != DDPM_OK) return r;
    for (size_t j = 0; j < n; j++) {
        double x0, d2;
        ddpm__split(ctx->prediction, ln.sa, ln.s1, x2[j], out[j], &x0, &d2);
        x[j] = (float)((x[j] / l.sa + h * 0.5 * ((double)dbuf[j] + d2)) * ln.sa);
    }
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_heun = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "heun",
    .description = "Heun's second-order method on the probability-flow ODE (Karras et al. 2022); two model evaluations per step",
    .num_options = 1,
    .options = heun_options,
    .evals_per_step = 2,
    .create = heun_create,
    .step = heun_step,
    .destroy = ddpm__state_destroy,
};
