/*
 * Helpers shared by the built-in samplers (ddim, plms, the sigma-space family euler, euler_a, heun, lms, dpm2_a, and
 * the exponential integrators dpmpp_2m, dpmpp_2m_sde, dpmpp_3m_sde, unipc): noise levels, model output -> (x0, eps),
 * the sigma grid, per-run scratch buffers, the phi functions.
 *
 * Two scales of the same state:
 *     VP (the run's x, the DDPM scale):   x_t  = sqrt(abar) x0 + sqrt(1 - abar) eps
 *     VE (Karras et al. 2022's x_sigma):  x_ve = x_t / sqrt(abar) = x0 + sigma eps,   sigma = sqrt((1 - abar) / abar)
 * and abar = 1 / (1 + sigma^2). The samplers keep the run's x in VP scale at the level they have reached after each
 * step and convert to VE inside a step. In VE the ODE derivative dx/dsigma = (x - x0^) / sigma is the eps estimate.
 *
 * Every transcendental goes through deterministic routines (ddpm_det_log, ddpm_det_exp below, and sqrt), so a
 * sampler gives the same bits natively and in WebAssembly, like the rest of the engine.
 */
#ifndef DDPM_SAMPLER_COMMON_H
#define DDPM_SAMPLER_COMMON_H

#include "sampler/builtin.h"

/* Smallest abar used to form sigma and convert model outputs: a zero-terminal-SNR schedule has abar[T-1] = 0 (sigma
 * infinite); like diffusers we put 2^-24 in its place there. Never reached by ordinary schedules (linear: 4e-5). */
#define DDPM__ABAR_MIN (1.0 / 16777216.0)

/* One noise level. */
typedef struct ddpm__level {
    double sigma; /* sqrt((1 - abar) / abar); 0 at the end */
    double abar;  /* 1 / (1 + sigma^2); 1 at the end */
    double sa;    /* sqrt(abar):     VP x = sa * VE x */
    double s1;    /* sqrt(1 - abar) = sigma * sa */
    double t;     /* the model's timestep: an integer on the grid, fractional between grid points; -1 at the end */
} ddpm__level;

/* The level of integer timestep t (t = -1: the end, sigma = 0). */
ddpm__level ddpm__level_at_t(const ddpm_schedule *s, int t);
/* The level of any sigma > 0; its timestep is found by interpolating log sigma linearly between the schedule's
 * integer timesteps (clamped to [0, T-1] outside the schedule's range). */
ddpm__level ddpm__level_at_sigma(const ddpm_schedule *s, double sigma);
/* sigma(t) for fractional t in [0, T-1]: log sigma interpolated linearly (the inverse of the above). */
double ddpm__sigma_at_t(const ddpm_schedule *s, double t);

/* Flags of ddpm__levels / ddpm__state_create. */
#define DDPM__LV_KARRAS 1    /* Karras et al.'s sigma spacing */
#define DDPM__LV_FINAL_MIN 2 /* the last level is t = 0's (diffusers' final_sigmas_type "sigma_min"), not sigma = 0 */

/* Fills lv[0 .. num_steps] (num_steps + 1 entries): the level of each ctx->timesteps[i] and sigma = 0 at the end
 * (with DDPM__LV_FINAL_MIN: the level of t = 0); with DDPM__LV_KARRAS, Karras et al.'s rho = 7 spacing between
 * sigma(timesteps[0]) and sigma(timesteps[last]) (both endpoints exactly those grid levels) and then the end. */
void ddpm__levels(const ddpm_sampler_context *ctx, int flags, ddpm__level *lv);

/* Model output o at VP x with level (sa, s1) -> x0 and eps, in double. */
static inline void ddpm__split(ddpm_prediction p, double sa, double s1, double x, double o, double *x0,
                               double *eps) {
    switch (p) {
    case DDPM_PREDICT_X0:
        *x0 = o;
        *eps = (x - sa * o) / s1;
        break;
    case DDPM_PREDICT_V:
        *x0 = sa * x - s1 * o;
        *eps = sa * o + s1 * x;
        break;
    default:
        *eps = o;
        *x0 = (x - s1 * o) / sa;
        break;
    }
}

/* Per-run state of the built-ins: levels, a timestep array for denoise(), k float buffers of batch * image_elems,
 * and a few counters for the sampler's own use. */
#define DDPM__MAX_BUFS 8
typedef struct ddpm__state {
    ddpm__level *lv;             /* num_steps + 1 entries */
    float *tb;                   /* [batch] */
    float *buf[DDPM__MAX_BUFS];  /* each [batch * image_elems] */
    int nbuf;
    int count;                   /* sampler-specific (history length, ...) */
    int head;                    /* sampler-specific (ring buffer position, ...) */
} ddpm__state;

ddpm_status ddpm__state_create(const ddpm_sampler_context *ctx, int nbuf, int flags, void **state); /* DDPM__LV_* */
void ddpm__state_destroy(void *user, const ddpm_sampler_context *ctx, void *state); /* a v2 destroy() */

/* ctx->denoise for the whole batch at one (possibly fractional) timestep. */
ddpm_status ddpm__denoise_at(const ddpm_sampler_context *ctx, ddpm__state *s, const float *x, double t, float *out);

/* Karras et al.'s ancestral split of a step sigma -> sigma_next: sigma_up = min(sigma_next, eta sqrt(sigma_next^2
 * (sigma^2 - sigma_next^2) / sigma^2)), sigma_down = sqrt(sigma_next^2 - sigma_up^2). */
void ddpm__ancestral_sigmas(double sigma, double sigma_next, double eta, double *sigma_down, double *sigma_up);


/* The weights of exponential integrators (Hochbruck & Ostermann 2010), phi[k] = phi_k(z) for k = 0 .. kmax (<= 7):
 *     phi_0(z) = e^z,   phi_k(z) = sum_{j >= 0} z^j / (j + k)!,   phi_{k+1}(z) = (phi_k(z) - 1 / k!) / z,
 * so expm1(z) = z phi_1(z). By the series for |z| < 1 (where the recurrence cancels), by the recurrence from
 * ddpm_det_exp beyond; a few ulp for finite |z| <= 700. With lambda = -log sigma and h = lambda_{i+1} - lambda_i,
 * DPM-Solver++ and UniPC's data-prediction updates are combinations of phi_k(-h) (times h^k). */
void ddpm__phi(double z, int kmax, double *phi);

/* The end of the grid (DDPM__LV_FINAL_MIN), an option of dpmpp_2m and unipc, appended after their others. */
#define DDPM__FINAL_SIGMA_OPTION                                                                                      \
    {.name = "final_sigma", .type = DDPM_OPTION_CHOICE, .default_value = 0, .min_value = 0, .max_value = 1,           \
     .choices = ddpm__final_sigma_choices,                                                                            \
     .help = "where the last step goes: zero = sigma 0, the clean image; sigma_min = stop at t = 0's noise level "    \
             "(diffusers' final_sigmas_type, the only behaviour of v0.21.4)"}
extern const char *const ddpm__final_sigma_choices[]; /* "zero", "sigma_min" */

/* The option every sigma-grid sampler offers (ddpm__levels' karras). */
#define DDPM__KARRAS_OPTION                                                                                           \
    {.name = "karras", .type = DDPM_OPTION_BOOL, .default_value = 0, .min_value = 0, .max_value = 1,                 \
     .help = "Karras et al.'s rho = 7 sigma spacing between the grid's first and last noise level (fractional "    \
             "timesteps)"}

/* The noise of the DPM-Solver++ SDE samplers on step i from level l to ln (sigma > 0), h = lambda_{i+1} - lambda_i:
 * draws z = ctx->noise(step i, stream 0) and returns its VP coefficient s_noise sqrt(1 - abar_{i+1})
 * sqrt(1 - e^(-2 eta h)) (k-diffusion's sigma_{i+1} sqrt(1 - e^(-2 eta h)) s_noise in the VE scale). */
double ddpm__sde_noise(const ddpm_sampler_context *ctx, int i, const ddpm__level *ln, double eta, double h,
                       double s_noise, float *z);

/* The update of the exponential multistep samplers, per element j in the VP scale, from level l:
 *     x0_j = the model output out_j at x_j -> x0 (also written to ctx->pred_x0, if any, and to x0_out)
 *     x_j <- a x_j + c[0] x0_j + sum_{k=1..nh} c[k] hist[k-1]_j + nz z_j          (z = NULL: no noise term)
 * hist[k] may be x0_out: each element is read before it is overwritten. */
void ddpm__multistep_update(const ddpm_sampler_context *ctx, const ddpm__level *l, const float *out, float *x,
                            double a, const double *c, int nh, const float *const *hist, double nz, const float *z,
                            float *x0_out);

#endif
