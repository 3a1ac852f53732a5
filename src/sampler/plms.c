/*
 * "plms": the pseudo linear multistep method of PNDM (Liu et al. 2022), as diffusers' PNDMScheduler runs it with
 * skip_prk_steps: no Runge-Kutta warm-up; the first step is a pseudo improved Euler step and the following steps are
 * Adams-Bashforth steps of growing order on the noise estimates e_i of the grid points:
 *     step 0:  e = (e_0 + e(x'_1, t_1)) / 2, where x'_1 = phi(x_0, e_0, t_0 -> t_1)   (two model evaluations)
 *     step 1:  e = (3 e_1 - e_0) / 2
 *     step 2:  e = (23 e_2 - 16 e_1 + 5 e_0) / 12
 *     step i:  e = (55 e_i - 59 e_{i-1} + 37 e_{i-2} - 9 e_{i-3}) / 24
 *     x_{i+1} = phi(x_i, e, t_i -> t_{i+1})
 * with the transfer phi = the deterministic DDIM step, x_p = sqrt(abar_p) (x_t - sqrt(1 - abar_t) e) / sqrt(abar_t)
 * + sqrt(1 - abar_p) e (algebraically PNDM's eq. 11). With a single step the run is one DDIM step. Deterministic.
 * Like diffusers, the Adams-Bashforth coefficients assume an evenly spaced grid. Models predicting x0 or v are
 * converted to eps at each evaluation's own timestep. Option set_alpha_to_one (default on): the last step goes to
 * abar = 1 (the clean image), or, off, to abar = alphas_cumprod[0] as PNDMScheduler's default set_alpha_to_one =
 * false does; on diffusers models every step goes to ctx->prev_timesteps (t - T / steps) when it is set.
 * Option prk: the first three steps are PNDM's pseudo Runge-Kutta steps instead (prk_step below; PNDMScheduler with
 * skip_prk_steps = false), after which the history holds three noise estimates and Adams-Bashforth runs at 4th
 * order from the next step.
 */
#include "sampler/common.h"

#include <math.h>
#include <string.h>

enum { OPT_ALPHA_ONE, OPT_PRK };

static const ddpm_sampler_option plms_options[] = {
    {.name = "set_alpha_to_one", .type = DDPM_OPTION_BOOL, .default_value = 1, .min_value = 0, .max_value = 1,
     .help = "the last step goes to abar = 1 (1) or to abar = alphas_cumprod[0] (0, PNDMScheduler's default)"},
    {.name = "prk", .type = DDPM_OPTION_BOOL, .default_value = 0, .min_value = 0, .max_value = 1,
     .help = "warm up with PNDM's three pseudo Runge-Kutta steps, 4 evaluations each (skip_prk_steps = false)"},
};

/* buffers: 0 model output, 1 x'_1 (step 0) / the PRK stage's x, 2..5 the noise history e (ring of 4), 6 the PRK
 * weighted sum of noise estimates */
enum { B_OUT, B_X1, B_E0, B_SUM = B_E0 + 4 };

static ddpm_status plms_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    return ddpm__state_create(ctx, 7, 0, st);
}

/* One of PNDM's pseudo Runge-Kutta steps (Liu et al. 2022, eq. 13, as PNDMScheduler.step_prk) from level lt to lp
 * through the half-way timestep th: with phi_l(x, e) the DDIM transfer to level l,
 *     e1 = e(x, t)   e2 = e(phi_h(x, e1), th)   e3 = e(phi_h(x, e2), th)   e4 = e(phi_p(x, e3), t_p)
 *     x <- phi_p(x, (e1 + 2 e2 + 2 e3 + e4) / 6)
 * e1 (already in e1 here) joins the history like any step's noise estimate. */
static ddpm_status prk_step(const ddpm_sampler_context *ctx, ddpm__state *s, const ddpm__level *lt,
                            const ddpm__level *lp, int th, const float *e1, float *x) {
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    const ddpm__level lh = ddpm__level_at_t(ctx->schedule, th);
    float *out = s->buf[B_OUT], *xs = s->buf[B_X1], *sum = s->buf[B_SUM];
    const double hx = lh.sa / lt->sa, he = lh.s1 - hx * lt->s1; /* phi_h */
    const double px = lp->sa / lt->sa, pe = lp->s1 - px * lt->s1; /* phi_p */
    for (size_t j = 0; j < n; j++) {
        sum[j] = (float)(e1[j] / 6.0);
        xs[j] = (float)(hx * x[j] + he * e1[j]);
    }
    static const double w[3] = {1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0};
    for (int stage = 0; stage < 3; stage++) {
        const ddpm__level *l = stage < 2 ? &lh : lp;
        ddpm_status r = ddpm__denoise_at(ctx, s, xs, l->t, out);
        if (r != DDPM_OK) return r;
        const int to_p = stage == 1; /* the next stage point: half way after stage 0, the end after stage 1 */
        for (size_t j = 0; j < n; j++) {
            double x0, e;
            ddpm__split(ctx->prediction, l->sa, l->s1, xs[j], out[j], &x0, &e);
            sum[j] = (float)(sum[j] + w[stage] * e);
            if (stage < 2) xs[j] = (float)(to_p ? px * x[j] + pe * e : hx * x[j] + he * e);
        }
    }
    for (size_t j = 0; j < n; j++) x[j] = (float)(px * x[j] + pe * sum[j]);
    return DDPM_OK;
}

/* eps of the model output at VP x and level l, into e; x0 into ctx->pred_x0 when px0. */
static void to_eps(const ddpm_sampler_context *ctx, const ddpm__level *l, const float *x, const float *out, float *e,
                   int px0, size_t n) {
    for (size_t j = 0; j < n; j++) {
        double x0, eps;
        ddpm__split(ctx->prediction, l->sa, l->s1, x[j], out[j], &x0, &eps);
        e[j] = (float)eps;
        if (px0 && ctx->pred_x0) ctx->pred_x0[j] = (float)x0;
    }
}

static ddpm_status plms_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    ddpm__state *s = st;
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    const ddpm__level lt = s->lv[i];
    /* the level reached: the next grid point (or diffusers' t - T / steps), past the end abar = 1 or abar[0] */
    const int pt = ctx->prev_timesteps ? ctx->prev_timesteps[i] : (i + 1 < ctx->num_steps ? ctx->timesteps[i + 1] : -1);
    const ddpm__level lp = pt < 0 ? (ctx->option_values[OPT_ALPHA_ONE] == 0.0 ? ddpm__level_at_t(ctx->schedule, 0)
                                                                  : s->lv[ctx->num_steps])
                                  : (ctx->prev_timesteps ? ddpm__level_at_t(ctx->schedule, pt) : s->lv[i + 1]);
    float *out = s->buf[B_OUT];
    if (i == 0) s->count = s->head = 0;
    ddpm_status r = ddpm__denoise_at(ctx, s, x, lt.t, out);
    if (r != DDPM_OK) return r;
    /* the newest noise estimate goes into the ring */
    s->head = (s->head + 1) % 4;
    float *e_new = s->buf[B_E0 + s->head];
    to_eps(ctx, &lt, x, out, e_new, 1, n);
    if (s->count < 4) s->count++;

    /* the PRK warm-up: the first three steps that have a next timestep */
    if (ctx->option_values[OPT_PRK] != 0.0 && i < 3 && pt >= 0)
        return prk_step(ctx, s, &lt, &lp, (int)lt.t - ((int)lt.t - pt) / 2, e_new, x); /* diffusers: t - (T/n)/2 */

    /* phi(x, e): x_p = cx x + ce e, with cx = sqrt(abar_p / abar_t), ce = sqrt(1 - abar_p) - cx sqrt(1 - abar_t) */
    const double cx = lp.sa / lt.sa, ce = lp.s1 - cx * lt.s1;

    if (s->count == 1) {
        if (ctx->num_steps == 1 || pt < 0) { /* nothing to average with: one DDIM step */
            for (size_t j = 0; j < n; j++) x[j] = (float)(cx * x[j] + ce * e_new[j]);
            return DDPM_OK;
        }
        /* pseudo improved Euler: predict x'_1, evaluate there, average the two noise estimates */
        float *x1 = s->buf[B_X1];
        for (size_t j = 0; j < n; j++) x1[j] = (float)(cx * x[j] + ce * e_new[j]);
        r = ddpm__denoise_at(ctx, s, x1, lp.t, out);
        if (r != DDPM_OK) return r;
        for (size_t j = 0; j < n; j++) {
            double x0, e1;
            ddpm__split(ctx->prediction, lp.sa, lp.s1, x1[j], out[j], &x0, &e1);
            const double e = 0.5 * ((double)e_new[j] + e1);
            x[j] = (float)(cx * x[j] + ce * e);
        }
        return DDPM_OK;
    }

    const float *e0 = e_new, *e1 = s->buf[B_E0 + (s->head + 3) % 4], *e2 = s->buf[B_E0 + (s->head + 2) % 4],
                *e3 = s->buf[B_E0 + (s->head + 1) % 4];
    for (size_t j = 0; j < n; j++) {
        double e;
        if (s->count == 2) e = (3.0 * e0[j] - (double)e1[j]) / 2.0;
        else if (s->count == 3) e = (23.0 * e0[j] - 16.0 * e1[j] + 5.0 * e2[j]) / 12.0;
        else e = (55.0 * e0[j] - 59.0 * e1[j] + 37.0 * e2[j] - 9.0 * e3[j]) / 24.0;
        x[j] = (float)(cx * x[j] + ce * e);
    }
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_plms = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "plms",
    .description = "PNDM's pseudo linear multistep (Liu et al. 2022), diffusers' skip_prk_steps variant: deterministic, 4th order",
    .num_options = (int)(sizeof plms_options / sizeof plms_options[0]),
    .options = plms_options,
    .evals_per_step = 1,
    .create = plms_create,
    .step = plms_step,
    .destroy = ddpm__state_destroy,
};
