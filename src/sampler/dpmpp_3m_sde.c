/*
 * "dpmpp_3m_sde": DPM-Solver++(3M) SDE (Lu et al. 2022, "DPM-Solver++": the third-order multistep data-prediction
 * solver in its SDE form), as k-diffusion's sample_dpmpp_3m_sde.
 *
 * With lambda = -log sigma, h = lambda_{i+1} - lambda_i, H = (1 + eta) h, h_1 = h_{i-1}, h_2 = h_{i-2}, D_i the
 * model's x0 estimate at step i, in the VE scale x_ve = x / sqrt(abar):
 *     x_ve_{i+1} = e^-H x_ve_i + (1 - e^-H) D_i + E + s_noise sigma_{i+1} sqrt(1 - e^(-2 eta h)) z_i
 *     step 0:      E = 0
 *     step 1:      E = H phi_2(-H) d,          d = (D_i - D_{i-1}) / r,   r = h_1 / h
 *     steps >= 2:  E = H phi_2(-H) d1 + H phi_3(-H) d2, with r0 = h_1 / h, r1 = h_2 / h,
 *                  d1_0 = (D_i - D_{i-1}) / r0,  d1_1 = (D_{i-1} - D_{i-2}) / r1,
 *                  d1 = d1_0 + (d1_0 - d1_1) r0 / (r0 + r1),   d2 = (d1_0 - d1_1) / (r0 + r1)
 * where H phi_2(-H) = 1 - (1 - e^-H) / H and H phi_3(-H) = 1/2 - phi_2(-H) are k-diffusion's phi_2 and -phi_3
 * (common.h: ddpm__phi). Back to the VP scale at sigma_{i+1}; the last step (sigma_{i+1} = 0) returns D_i. eta = 0
 * is the deterministic DPM-Solver++(3M), whose d2 term is the one of k-diffusion, diffusers
 * (multistep_dpm_solver_third_order_update) and the DPM-Solver code: d2 ~ h^2 D''/2, so H phi_3 d2 is half the
 * Taylor term h^3 phi_3(-h) D'' of the exact exponential integrator, and the solver converges at order 2 (measured
 * 2.1 in tests/test_samplers_analytic.c; 3.0 with the term doubled). Kept as the reference implementations have it.
 *
 * Noise: z_i = ctx->noise(step i, stream 0), one draw per step whose next level is above 0, when eta > 0: i.i.d.
 * standard normals per step (as diffusers' sde-dpmsolver++ draws them), where k-diffusion uses a
 * BrownianTreeNoiseSampler.
 */
#include "sampler/common.h"

#include <math.h>

enum { OPT_ETA, OPT_KARRAS, OPT_S_NOISE };

static const ddpm_sampler_option sde3_options[] = {
    {.name = "eta", .type = DDPM_OPTION_FLOAT, .default_value = 1, .min_value = 0, .max_value = 1,
     .help = "noise of the SDE: 1 = the reverse SDE, 0 = the deterministic DPM-Solver++(3M)"},
    DDPM__KARRAS_OPTION,
    {.name = "s_noise", .type = DDPM_OPTION_FLOAT, .default_value = 1, .min_value = 0, .max_value = 2,
     .help = "scale of the injected noise (1 = exact)"},
};

enum { B_OUT, B_NOISE, B_D0 }; /* model output; z; x0 of step k in B_D0 + k % 2 */

static ddpm_status sde3_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    return ddpm__state_create(ctx, 4, ctx->option_values[OPT_KARRAS] != 0.0, st);
}

static ddpm_status sde3_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    ddpm__state *s = st;
    const ddpm__level l = s->lv[i], ln = s->lv[i + 1];
    const double eta = ctx->option_values[OPT_ETA];
    float *out = s->buf[B_OUT], *noise = s->buf[B_NOISE];
    float *d_this = s->buf[B_D0 + i % 2], *d_1 = s->buf[B_D0 + (i + 1) % 2]; /* D_i (was D_{i-2}), D_{i-1} */
    if (i == 0) s->count = 0;
    ddpm_status r = ddpm__denoise_at(ctx, s, x, l.t, out);
    if (r != DDPM_OK) return r;

    const float *hist[2] = {d_1, d_this};
    double c[3] = {1.0, 0.0, 0.0}, a = 0.0, nz = 0.0; /* the last step: x = D_i */
    int nh = 0, drew = 0;
    const int hist_len = s->count == i ? (i < 2 ? i : 2) : 0; /* earlier x0s of this run */
    if (ln.sigma > 0.0) {
        const double lam = -ddpm_det_log(l.sigma), h = -ddpm_det_log(ln.sigma) - lam, H = (1.0 + eta) * h;
        double ph[4];
        ddpm__phi(-H, 3, ph);
        const double one_m = H * ph[1], p2 = H * ph[2], p3 = H * ph[3]; /* 1 - e^-H, H phi_2(-H), H phi_3(-H) */
        /* VE coefficients of D_i, D_{i-1}, D_{i-2} */
        double e0 = one_m, e1 = 0.0, e2 = 0.0;
        const double h1 = hist_len >= 1 ? lam + ddpm_det_log(s->lv[i - 1].sigma) : 0.0;
        const double h2 = hist_len >= 2 ? -ddpm_det_log(s->lv[i - 1].sigma) + ddpm_det_log(s->lv[i - 2].sigma) : 0.0;
        if (h > 0.0 && h1 > 0.0 && h2 > 0.0) {
            const double r0 = h1 / h, r1 = h2 / h, rs = r0 + r1;
            const double A0 = p2 * (1.0 + r0 / rs) + p3 / rs, A1 = -(p2 * r0 + p3) / rs; /* of d1_0, d1_1 */
            e0 += A0 / r0;
            e1 = -A0 / r0 + A1 / r1;
            e2 = -A1 / r1;
            nh = 2;
        } else if (h > 0.0 && h1 > 0.0) {
            const double q = p2 * h / h1; /* phi_2 / r */
            e0 += q;
            e1 = -q;
            nh = 1;
        }
        a = ln.sa / l.sa * ph[0];
        c[0] = ln.sa * e0;
        c[1] = ln.sa * e1;
        c[2] = ln.sa * e2;
        if (eta > 0.0) {
            nz = ddpm__sde_noise(ctx, i, &ln, eta, h, ctx->option_values[OPT_S_NOISE], noise);
            drew = 1;
        }
    }
    ddpm__multistep_update(ctx, &l, out, x, a, c, nh, hist, nz, drew ? noise : NULL, d_this);
    s->count = i + 1;
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_dpmpp_3m_sde = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "dpmpp_3m_sde",
    .description = "DPM-Solver++(3M) SDE (Lu et al. 2022): third-order multistep on the reverse SDE, data prediction",
    .num_options = (int)(sizeof sde3_options / sizeof sde3_options[0]),
    .options = sde3_options,
    .evals_per_step = 1,
    .create = sde3_create,
    .step = sde3_step,
    .destroy = ddpm__state_destroy,
};
