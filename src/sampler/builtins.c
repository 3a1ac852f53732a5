/* The list of built-in samplers, registered in this order through the public ddpm_sampler_register(). */
#include "sampler/builtin.h"

const ddpm_sampler_vtable *const ddpm_builtin_samplers[] = {
    &ddpm_sampler_ddpm,
    &ddpm_sampler_ddim,
    &ddpm_sampler_plms,
    &ddpm_sampler_dpmpp_2m,
    &ddpm_sampler_euler,
    &ddpm_sampler_euler_a,
    &ddpm_sampler_heun,
    &ddpm_sampler_lms,
    &ddpm_sampler_dpm2_a,
    &ddpm_sampler_unipc,
    &ddpm_sampler_dpmpp_2m_sde,
    &ddpm_sampler_dpmpp_3m_sde,
    NULL,
};
