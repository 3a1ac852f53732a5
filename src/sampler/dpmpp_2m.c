/*
 * "dpmpp_2m": DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), the multistep second-order solver of the
 * probability-flow ODE in its data-prediction form, as k-diffusion's sample_dpmpp_2m.
 *
 * With lambda = -log sigma (sigma = sqrt((1 - abar) / abar)), h = lambda_{i+1} - lambda_i and D_i the model's x0
 * estimate at step i, in the VE scale x_ve = x / sqrt(abar):
 *     D  = D_i                                            at the first step and the last (sigma_{i+1} = 0)
 *     D  = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1},   r = (lambda_i - lambda_{i-1}) / h     otherwise
 *     x_ve_{i+1} = (sigma_{i+1} / sigma_i) x_ve_i + (1 - sigma_{i+1} / sigma_i) D      (-expm1(-h) = 1 - e^-h)
 * and back to the VP scale at sigma_{i+1}. The last step is first order and lands on D = x0. Options as diffusers'
 * DPMSolverMultistepScheduler (dpmsolver++, midpoint): final_sigma = sigma_min stops at t = 0's level instead of
 * sigma = 0, and lower_order_final = 0 then keeps the last step second order.
 */
#include "sampler/common.h"

#include <math.h>

enum { OPT_KARRAS, OPT_LOWER_FINAL, OPT_FINAL_SIGMA };

static const ddpm_sampler_option dpmpp_options[] = {
    DDPM__KARRAS_OPTION,
    {.name = "lower_order_final", .type = DDPM_OPTION_BOOL, .default_value = 1, .min_value = 0, .max_value = 1,
     .help = "first order on the last step (always so when it ends at sigma = 0; diffusers' lower_order_final)"},
    DDPM__FINAL_SIGMA_OPTION,
};

enum { B_OUT, B_PREV }; /* model output; the previous step's x0 */

static ddpm_status dpmpp_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    const int flags = (ctx->option_values[OPT_KARRAS] != 0.0 ? DDPM__LV_KARRAS : 0) |
                      (ctx->option_values[OPT_FINAL_SIGMA] != 0.0 ? DDPM__LV_FINAL_MIN : 0);
    return ddpm__state_create(ctx, 2, flags, st);
}

static ddpm_status dpmpp_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    ddpm__state *s = st;
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    const ddpm__level l = s->lv[i], ln = s->lv[i + 1];
    float *out = s->buf[B_OUT], *prev = s->buf[B_PREV];
    if (i == 0) s->count = 0;
    ddpm_status r = ddpm__denoise_at(ctx, s, x, l.t, out);
    if (r != DDPM_OK) return r;

    /* second order when there is a previous x0 and both log-sigma steps are proper */
    double c_new = 1.0, c_old = 0.0;
    const int last_first_order = i == ctx->num_steps - 1 && ctx->option_values[OPT_LOWER_FINAL] != 0.0;
    if (s->count > 0 && i > 0 && ln.sigma > 0.0 && !last_first_order) {
        const double lam_p = -ddpm_det_log(s->lv[i - 1].sigma), lam = -ddpm_det_log(l.sigma),
                     lam_n = -ddpm_det_log(ln.sigma);
        const double h = lam_n - lam, h_last = lam - lam_p;
        if (h > 0.0 && h_last > 0.0) {
            const double q = h / (2.0 * h_last); /* 1 / (2 r) */
            c_new = 1.0 + q;
            c_old = q;
        }
    }
    const double ratio = ln.sigma / l.sigma;
    for (size_t j = 0; j < n; j++) {
        double x0, eps;
        ddpm__split(ctx->prediction, l.sa, l.s1, x[j], out[j], &x0, &eps);
        if (ctx->pred_x0) ctx->pred_x0[j] = (float)x0;
        const double d = c_old != 0.0 ? c_new * x0 - c_old * prev[j] : x0;
        const double xve = ratio * (x[j] / l.sa) + (1.0 - ratio) * d;
        prev[j] = (float)x0;
        x[j] = (float)(xve * ln.sa);
    }
    s->count = 1;
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_dpmpp_2m = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "dpmpp_2m",
    .description = "DPM-Solver++(2M) (Lu et al. 2022): second-order multistep, data prediction, first order on the last step",
    .num_options = (int)(sizeof dpmpp_options / sizeof dpmpp_options[0]),
    .options = dpmpp_options,
    .evals_per_step = 1,
    .create = dpmpp_create,
    .step = dpmpp_step,
    .destroy = ddpm__state_destroy,
};
