/* The built-in samplers. Each is an ordinary plugin: the registry registers these through ddpm_sampler_register(). */
#ifndef DDPM_SAMPLER_BUILTIN_H
#define DDPM_SAMPLER_BUILTIN_H

#include "core/internal.h"

extern const ddpm_sampler_vtable ddpm_sampler_ddpm; /* "ddpm": ancestral sampling, the paper's Algorithm 2 */
extern const ddpm_sampler_vtable ddpm_sampler_ddim;     /* "ddim": DDIM, eta, clipping the diffusers way or GLIDE's */
extern const ddpm_sampler_vtable ddpm_sampler_plms;     /* "plms": PNDM's pseudo linear multistep */
extern const ddpm_sampler_vtable ddpm_sampler_dpmpp_2m; /* "dpmpp_2m": DPM-Solver++(2M) */
extern const ddpm_sampler_vtable ddpm_sampler_euler;    /* "euler": Euler on the probability-flow ODE in sigma */
extern const ddpm_sampler_vtable ddpm_sampler_euler_a;  /* "euler_a": Euler ancestral */
extern const ddpm_sampler_vtable ddpm_sampler_heun;     /* "heun": Heun's method (2 evaluations per step) */
extern const ddpm_sampler_vtable ddpm_sampler_lms;      /* "lms": linear multistep, order 1..4 */
extern const ddpm_sampler_vtable ddpm_sampler_dpm2_a;   /* "dpm2_a": DPM-Solver-2 ancestral (2 evaluations) */
extern const ddpm_sampler_vtable ddpm_sampler_unipc;    /* "unipc": UniPC predictor-corrector, order 1..3 */
extern const ddpm_sampler_vtable ddpm_sampler_dpmpp_2m_sde; /* "dpmpp_2m_sde": DPM-Solver++(2M) SDE */
extern const ddpm_sampler_vtable ddpm_sampler_dpmpp_3m_sde; /* "dpmpp_3m_sde": DPM-Solver++(3M) SDE */

/* NULL-terminated list, registered in this order on the registry's first use. */
extern const ddpm_sampler_vtable *const ddpm_builtin_samplers[];

/* Registry bookkeeping used by runs: a run holds its sampler so it cannot be unregistered underneath it. */
int ddpm__sampler_acquire(const char *name, ddpm_sampler_vtable *copy); /* 1 if found (and now held) */
void ddpm__sampler_release(const char *name);

/* The clip_range option of "ddpm" and "ddim" (diffusers' clip_sample_range), default 1. It means (0, 100]; the run
 * validates closed ranges, hence the smallest value 1e-6 (a range of 0 would clip every x0 to 0). */
#define DDPM__CLIP_RANGE_OPTION                                                                                       \
    {.name = "clip_range", .type = DDPM_OPTION_FLOAT, .default_value = 1, .min_value = 1e-6, .max_value = 100,       \
     .help = "clip_x0 clips x0 to [-clip_range, clip_range] (diffusers' clip_sample_range)"}

/* Helpers shared by samplers. abar(t) with abar(-1) = 1. */
double ddpm__abar(const ddpm_schedule *s, int t);
/* The value of option `name` in ctx->option_values, by the sampler's own declaration order. */
double ddpm__option(const ddpm_sampler_context *ctx, const ddpm_sampler_vtable *vt, const char *name);

#endif
