/* The list of built-in samplers, registered in this order through the public ddpm_sampler_register(). */
#include "sampler/builtin.h"

const ddpm_sampler_vtable *const ddpm_builtin_samplers[] = {
    &ddpm_sampler_ddpm,
    NULL,
};
