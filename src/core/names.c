/* The names of the public enums: one table each, in enum order; the JS layer's constants are checked against them. */
#include "core/internal.h"

#define NAME_AT(table, v) ((unsigned)(v) < sizeof(table) / sizeof(table[0]) ? table[(unsigned)(v)] : NULL)

const char *ddpm_status_name(ddpm_status s) {
    static const char *const t[] = {"OK", "INVALID_ARGUMENT", "OUT_OF_MEMORY", "TOO_LARGE", "IO", "FORMAT",
                                    "UNSUPPORTED", "SHAPE", "MISSING_TENSOR", "CONFIG", "NOT_FOUND", "EXISTS",
                                    "VERSION", "BUSY", "ABORTED", "STATE"};
    _Static_assert(sizeof t / sizeof t[0] == DDPM_STATUS_COUNT_, "one name per status");
    return NAME_AT(t, s);
}

const char *ddpm_prediction_name(ddpm_prediction p) {
    static const char *const t[] = {"eps", "x0", "v"};
    return NAME_AT(t, p);
}

const char *ddpm_variance_name(ddpm_variance v) {
    static const char *const t[] = {"fixed_small", "fixed_large"};
    return NAME_AT(t, v);
}

const char *ddpm_schedule_kind_name(ddpm_schedule_kind k) {
    static const char *const t[] = {"linear", "scaled_linear", "cosine", "sigmoid", "custom"};
    return NAME_AT(t, k);
}

const char *ddpm_schedule_array_name(ddpm_schedule_array a) {
    static const char *const t[] = {"betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                                    "sqrt_one_minus_alphas_cumprod", "posterior_variance",
                                    "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2"};
    _Static_assert(sizeof t / sizeof t[0] == DDPM_SCHEDULE_ARRAY_COUNT_, "one name per schedule array");
    return NAME_AT(t, a);
}

const char *ddpm_spacing_name(ddpm_spacing s) {
    static const char *const t[] = {"leading", "trailing", "linspace"};
    return NAME_AT(t, s);
}

const char *ddpm_dtype_name(ddpm_dtype d) {
    static const char *const t[] = {"F32", "F16", "I8", "BF16"};
    return NAME_AT(t, d);
}

const char *ddpm_winograd_name(ddpm_winograd w) {
    static const char *const t[] = {"auto", "precomputed", "on-the-fly"};
    return NAME_AT(t, w);
}

const char *ddpm_option_type_name(ddpm_option_type o) {
    static const char *const t[] = {"float", "int", "bool", "choice"};
    return NAME_AT(t, o);
}

const char *ddpm_kernels_name(ddpm_kernels k) {
    static const char *const t[] = {"simd", "scalar", "precise"};
    return NAME_AT(t, k);
}
