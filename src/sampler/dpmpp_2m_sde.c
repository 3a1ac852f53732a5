/*
 * "dpmpp_2m_sde": DPM-Solver++(2M) SDE (Lu et al. 2022, "DPM-Solver++", the SDE form of its data-prediction
 * multistep solver), as k-diffusion's sample_dpmpp_2m_sde and diffusers' DPMSolverMultistepScheduler with
 * algorithm_type "sde-dpmsolver++" (which is eta = 1).
 *
 * With lambda = -log sigma (sigma = sqrt((1 - abar) / abar)), h = lambda_{i+1} - lambda_i, H = (1 + eta) h, D_i the
 * model's x0 estimate at step i and r = h_{i-1} / h, in the VE scale x_ve = x / sqrt(abar):
 *     x_ve_{i+1} = e^-H x_ve_i + (1 - e^-H) D_i + C (D_i - D_{i-1}) / r
 *                  + s_noise sigma_{i+1} sqrt(1 - e^(-2 eta h)) z_i
 *     C = (1 - e^-H) / 2                           solver_type midpoint (the default)
 *     C = 1 - (1 - e^-H) / H   (= H phi_2(-H))     solver_type heun
 * (e^-H x_ve = (sigma_{i+1} / sigma_i) e^(-eta h) x_ve), and back to the VP scale at sigma_{i+1}. The first step has
 * no D_{i-1} (C = 0); the last step (sigma_{i+1} = 0) returns D_i. eta = 0 is the deterministic DPM-Solver++(2M):
 * midpoint then equals "dpmpp_2m" on the same grid.
 *
 * Noise: z_i = ctx->noise(step i, stream 0), one draw per step whose next level is above 0, when eta > 0.
 * k-diffusion draws its Brownian increments from a BrownianTreeNoiseSampler (the same path whatever the step
 * count); here they are i.i.d. standard normals per step, as diffusers' sde-dpmsolver++ draws them (randn_tensor):
 * each image's noise depends on (seed, image, step) alone, and a different step count gives another path.
 */
#include "sampler/common.h"

#include <math.h>

enum { OPT_ETA, OPT_KARRAS, OPT_SOLVER, OPT_S_NOISE };

static const char *const solver_choices[] = {"midpoint", "heun", NULL};

static const ddpm_sampler_option sde2_options[] = {
    {.name = "eta", .type = DDPM_OPTION_FLOAT, .default_value = 1, .min_value = 0, .max_value = 1,
     .help = "noise of the SDE: 1 = the reverse SDE (diffusers' sde-dpmsolver++), 0 = the deterministic DPM-Solver++(2M)"},
    DDPM__KARRAS_OPTION,
    {.name = "solver_type", .type = DDPM_OPTION_CHOICE, .default_value = 0, .min_value = 0, .max_value = 1, .choices = solver_choices,
     .help = "the second-order term: midpoint (k-diffusion's and diffusers' default) or heun"},
    {.name = "s_noise", .type = DDPM_OPTION_FLOAT, .default_value = 1, .min_value = 0, .max_value = 2,
     .help = "scale of the injected noise (1 = exact)"},
};

enum { B_OUT, B_NOISE, B_PREV }; /* model output; z; the previous step's x0 */

static ddpm_status sde2_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    return ddpm__state_create(ctx, 3, ctx->option_values[OPT_KARRAS] != 0.0, st);
}

static ddpm_status sde2_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    ddpm__state *s = st;
    const ddpm__level l = s->lv[i], ln = s->lv[i + 1];
    const double eta = ctx->option_values[OPT_ETA];
    float *out = s->buf[B_OUT], *noise = s->buf[B_NOISE], *prev = s->buf[B_PREV];
    if (i == 0) s->count = 0;
    ddpm_status r = ddpm__denoise_at(ctx, s, x, l.t, out);
    if (r != DDPM_OK) return r;

    const float *hist[1] = {prev};
    double c[2] = {1.0, 0.0}, a = 0.0, nz = 0.0; /* the last step: x = D_i */
    int drew = 0;
    const int use_prev = s->count == i && i > 0;
    if (ln.sigma > 0.0) {
        const double lam = -ddpm_det_log(l.sigma), h = -ddpm_det_log(ln.sigma) - lam, H = (1.0 + eta) * h;
        double ph[3];
        ddpm__phi(-H, 2, ph);
        const double one_m = H * ph[1]; /* 1 - e^-H */
        /* VP: x_{i+1} = sa_{i+1} x_ve_{i+1}, x_ve_i = x_i / sa_i */
        a = ln.sa / l.sa * ph[0];
        c[0] = ln.sa * one_m;
        if (use_prev) {
            const double h_last = lam + ddpm_det_log(s->lv[i - 1].sigma);
            if (h > 0.0 && h_last > 0.0) {
                const double C = ctx->option_values[OPT_SOLVER] == 1.0 ? H * ph[2] : 0.5 * one_m;
                const double q = C * h / h_last; /* C / r */
                c[0] += ln.sa * q;
                c[1] = -ln.sa * q;
            }
        }
        if (eta > 0.0) {
            nz = ddpm__sde_noise(ctx, i, &ln, eta, h, ctx->option_values[OPT_S_NOISE], noise);
            drew = 1;
        }
    }
    ddpm__multistep_update(ctx, &l, out, x, a, c, c[1] != 0.0, hist, nz, drew ? noise : NULL, prev);
    s->count = i + 1;
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_dpmpp_2m_sde = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "dpmpp_2m_sde",
    .description = "DPM-Solver++(2M) SDE (Lu et al. 2022): second-order multistep on the reverse SDE, data prediction",
    .num_options = (int)(sizeof sde2_options / sizeof sde2_options[0]),
    .options = sde2_options,
    .evals_per_step = 1,
    .create = sde2_create,
    .step = sde2_step,
    .destroy = ddpm__state_destroy,
};
