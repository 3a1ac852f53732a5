/*
 * "euler": Euler's method on the probability-flow ODE in Karras et al.'s (2022) sigma parameterisation, as
 * k-diffusion's sample_euler (without churn). In the VE scale x_ve = x / sqrt(abar), sigma = sqrt((1 - abar) / abar):
 *     d = (x_ve - x0^) / sigma_i  (= the eps estimate),   x_ve_{i+1} = x_ve_i + (sigma_{i+1} - sigma_i) d
 * and back to the VP scale at sigma_{i+1}. On the run's own grid this is exactly DDIM with eta = 0; the last step
 * goes to sigma = 0 and returns x0^.
 */
#include "sampler/common.h"

enum { OPT_KARRAS };

static const ddpm_sampler_option euler_options[] = {
    DDPM__KARRAS_OPTION,
};

static ddpm_status euler_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    return ddpm__state_create(ctx, 1, ctx->option_values[OPT_KARRAS] != 0.0, st);
}

static ddpm_status euler_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    ddpm__state *s = st;
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    const ddpm__level l = s->lv[i], ln = s->lv[i + 1];
    float *out = s->buf[0];
    ddpm_status r = ddpm__denoise_at(ctx, s, x, l.t, out);
    if (r != DDPM_OK) return r;
    const double dt = ln.sigma - l.sigma;
    for (size_t j = 0; j < n; j++) {
        double x0, d;
        ddpm__split(ctx->prediction, l.sa, l.s1, x[j], out[j], &x0, &d);
        if (ctx->pred_x0) ctx->pred_x0[j] = (float)x0;
        x[j] = (float)((x[j] / l.sa + dt * d) * ln.sa);
    }
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_euler = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "euler",
    .description = "Euler's method on the probability-flow ODE in sigma (Karras et al. 2022); equals DDIM eta = 0 on the same grid",
    .num_options = 1,
    .options = euler_options,
    .evals_per_step = 1,
    .create = euler_create,
    .step = euler_step,
    .destroy = ddpm__state_destroy,
};
