/* The built-in samplers. Each is an ordinary plugin: the registry registers these through ddpm_sampler_register(). */
#ifndef DDPM_SAMPLER_BUILTIN_H
#define DDPM_SAMPLER_BUILTIN_H

#include "core/internal.h"

extern const ddpm_sampler_vtable ddpm_sampler_ddpm; /* "ddpm": ancestral sampling, the paper's Algorithm 2 */

/* NULL-terminated list, registered in this order on the registry's first use. */
extern const ddpm_sampler_vtable *const ddpm_builtin_samplers[];

/* Registry bookkeeping used by runs: a run holds its sampler so it cannot be unregistered underneath it. */
int ddpm__sampler_acquire(const char *name, ddpm_sampler_vtable *copy); /* 1 if found (and now held) */
void ddpm__sampler_release(const char *name);

/* Helpers shared by samplers. abar(t) with abar(-1) = 1. */
double ddpm__abar(const ddpm_schedule *s, int t);
/* The value of option `name` in ctx->option_values, by the sampler's own declaration order. */
double ddpm__option(const ddpm_sampler_context *ctx, const ddpm_sampler_vtable *vt, const char *name);

#endif
