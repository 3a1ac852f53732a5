/*
 * exports.c — the thin layer between the C library and web/ddpm.js (WebAssembly builds only).
 *
 * The JS side could read the library's structs from linear memory, but their layout is a C detail; every struct the
 * JS layer needs is therefore read or written through a small accessor here, named ddpm_wasm_*. Plain library
 * functions whose arguments are pointers and scalars (ddpm_model_load_buffer, ddpm_run_step, ...) are exported as
 * they are (see src/wasm/CMakeLists.txt for the list).
 *
 * The JS plugins (samplers and models written in JS) are in js_plugins.c.
 */
#include "ddpm.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define WASM_EXPORT __attribute__((used, visibility("default")))

/* ---- small things ---- */

/* Bytes of the heap the allocator has handed out and not taken back (dlmalloc's uordblks). */
WASM_EXPORT size_t ddpm_wasm_heap_in_use(void) {
    struct mallinfo mi = mallinfo();
    return (size_t)mi.uordblks;
}

WASM_EXPORT size_t ddpm_wasm_error_size(void) { return sizeof(ddpm_error); }
WASM_EXPORT int ddpm_wasm_error_status(const ddpm_error *e) { return (int)e->status; }
WASM_EXPORT const char *ddpm_wasm_error_message(const ddpm_error *e) { return e->message; }

/* out[i] = ddpm_to_u8(in[i]) */
WASM_EXPORT void ddpm_wasm_to_u8(const float *in, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = ddpm_to_u8(in[i]);
}

WASM_EXPORT void ddpm_wasm_rng_normal(uint32_t seed_lo, uint32_t seed_hi, uint32_t image, uint32_t step,
                                      uint32_t purpose, float *out, size_t n) {
    ddpm_rng_normal(((uint64_t)seed_hi << 32) | seed_lo, image, step, purpose, out, n);
}

/* ---- models ---- */

/*
 * The config as numbers. ints (64 entries): in_channels, out_channels, base_channels, num_levels, num_res_blocks,
 * num_attn_resolutions, groups, num_classes, image_size, prediction, variance, schedule kind, num_timesteps,
 * rescale_zero_snr, then channel_mult[8] at 14..21 and attn_resolutions[8] at 22..29; the wiring (ddpm_unet_arch):
 * level_channels[8] at 32..39, attn_down 40, attn_up 41, mid_attention 42, head_dim 43, attn_groups 44,
 * flip_sin_to_cos 45, freq_shift 46, downsample_one_sided 47, center_input 48, temb_dim 49, null_class 50,
 * diffusers_names 51; the sampling defaults: spacing 52, steps_offset 53; schedule float32 54.
 * doubles (8 entries): beta_start, beta_end, flops, num_params, norm_eps, mid_scale.
 */
WASM_EXPORT void ddpm_wasm_model_config(const ddpm_model *m, int32_t *ints, double *dbl) {
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const ddpm_unet_arch *a = &c->arch;
    const ddpm_sample_params d = ddpm_model_sample_defaults(m);
    memset(ints, 0, sizeof(int32_t) * 64);
    memset(dbl, 0, sizeof(double) * 8);
    for (int i = 0; i < DDPM_MAX_LEVELS; i++) ints[32 + i] = a->level_channels[i];
    ints[40] = (int32_t)a->attn_down;
    ints[41] = (int32_t)a->attn_up;
    ints[42] = a->mid_attention;
    ints[43] = a->head_dim;
    ints[44] = a->attn_groups;
    ints[45] = a->flip_sin_to_cos;
    ints[46] = a->freq_shift;
    ints[47] = a->downsample_one_sided;
    ints[48] = a->center_input;
    ints[49] = a->temb_dim;
    ints[50] = a->null_class;
    ints[51] = a->diffusers_names;
    ints[52] = (int32_t)d.spacing;
    ints[53] = d.steps_offset;
    ints[54] = c->schedule.float32;
    dbl[4] = a->norm_eps;
    dbl[5] = a->mid_scale;
    ints[0] = c->in_channels;
    ints[1] = c->out_channels;
    ints[2] = c->base_channels;
    ints[3] = c->num_levels;
    ints[4] = c->num_res_blocks;
    ints[5] = c->num_attn_resolutions;
    ints[6] = c->groups;
    ints[7] = c->num_classes;
    ints[8] = c->image_size;
    ints[9] = (int32_t)c->prediction;
    ints[10] = (int32_t)c->variance;
    ints[11] = (int32_t)c->schedule.kind;
    ints[12] = c->schedule.num_timesteps;
    ints[13] = c->schedule.rescale_zero_snr;
    for (int i = 0; i < DDPM_MAX_LEVELS; i++) {
        ints[14 + i] = c->channel_mult[i];
        ints[22 + i] = c->attn_resolutions[i];
    }
    dbl[0] = c->schedule.beta_start;
    dbl[1] = c->schedule.beta_end;
    dbl[2] = ddpm_model_flops(m);
    dbl[3] = (double)ddpm_model_num_params(m);
}

/* The sampler option defaults the model's scheduler config implies: their count (which < 0), or option `which`'s
 * name (*value receives its value). */
WASM_EXPORT const char *ddpm_wasm_model_option_default(const ddpm_model *m, int which, double *value, int *count) {
    int n;
    const char *const *names;
    const double *values;
    ddpm_model_option_defaults(m, &n, &names, &values);
    if (count) *count = n;
    if (which < 0 || which >= n) return NULL;
    if (value) *value = values[which];
    return names[which];
}

/* The sampler the model's scheduler config selects ("ddpm" for this project's own models). */
WASM_EXPORT const char *ddpm_wasm_model_default_sampler(const ddpm_model *m) {
    return ddpm_model_sample_defaults(m).sampler;
}

/* ddpm_model_load_buffer_ex with the options spelled out: config / sched may be NULL (length 0); quantize is a
 * ddpm_dtype (F32 = as stored), winograd a ddpm_winograd. */
WASM_EXPORT int ddpm_wasm_model_load(const void *weights, size_t size, const char *config, size_t config_len,
                                     const char *sched, size_t sched_len, int quantize, int winograd,
                                     int compact, ddpm_model **out, ddpm_error *err) {
    ddpm_load_options o = ddpm_load_default_options();
    o.unet_config = config;
    o.unet_config_len = config_len;
    o.scheduler_config = sched;
    o.scheduler_config_len = sched_len;
    o.quantize = (ddpm_dtype)quantize;
    o.winograd = (ddpm_winograd)winograd;
    o.compact = compact;
    return (int)ddpm_model_load_buffer_ex(weights, size, &o, out, err);
}

/* ddpm_model_export into a malloc'd buffer: returns it (free() it) and its size in *size, or NULL with err set. */
WASM_EXPORT void *ddpm_wasm_model_export(const ddpm_model *m, int dtype, size_t *size, ddpm_error *err) {
    void *buf = NULL;
    if (ddpm_model_export(m, (ddpm_dtype)dtype, &buf, size, err) != DDPM_OK) return NULL;
    return buf;
}

/* Key (which = 0) or value (which = 1) of metadata entry i; NULL out of range. */
WASM_EXPORT const char *ddpm_wasm_model_metadata(const ddpm_model *m, int i, int which) {
    const char *k = NULL, *v = NULL;
    if (ddpm_model_metadata_at(m, i, &k, &v) != DDPM_OK) return NULL;
    return which ? v : k;
}

/* ---- runs ---- */

/* ddpm_run_create (model m) or ddpm_run_create_with (denoiser d, when not NULL) with the params spelled out (the
 * seed as two 32-bit halves). NULL init: pure noise; NULL timesteps: the grid of steps and spacing; NULL start_x /
 * noise: the seed's; NULL labels: class_label for all. Returns the run or NULL with err. */
WASM_EXPORT ddpm_run *ddpm_wasm_run_create(ddpm_model *m, const ddpm_denoiser *d, const char *sampler,
                                           int num_options,
                                           const char *const *option_names, const double *option_values, int steps,
                                           int spacing, uint32_t seed_lo, uint32_t seed_hi, int batch,
                                           uint32_t first_image, int class_label, float guidance,
                                           const float *init_image, float strength, int steps_offset,
                                           const int *timesteps, int num_timesteps, const float *start_x,
                                           const float *noise, int noise_count, const int *labels,
                                           ddpm_error *err) {
    ddpm_sample_params p = ddpm_sample_default_params();
    p.steps_offset = steps_offset;
    p.timesteps = timesteps;
    p.num_timesteps = num_timesteps;
    p.start_x = start_x;
    p.noise = noise;
    p.noise_count = noise_count;
    p.sampler = sampler;
    p.num_options = num_options;
    p.option_names = option_names;
    p.option_values = option_values;
    p.steps = steps;
    p.spacing = (ddpm_spacing)spacing;
    p.seed = ((uint64_t)seed_hi << 32) | seed_lo;
    p.batch = batch;
    p.first_image = first_image;
    p.class_label = class_label;
    p.guidance = guidance;
    p.init_image = init_image;
    p.strength = strength;
    p.labels = labels;
    ddpm_run *r = NULL;
    if ((d ? ddpm_run_create_with(d, &p, &r, err) : ddpm_run_create(m, &p, &r, err)) != DDPM_OK) return NULL;
    return r;
}

/* ---- the sampler registry, read-only view ---- */

WASM_EXPORT const char *ddpm_wasm_sampler_name(int i) {
    const ddpm_sampler_vtable *vt = ddpm_sampler_at(i);
    return vt ? vt->name : NULL;
}
WASM_EXPORT const char *ddpm_wasm_sampler_description(int i) {
    const ddpm_sampler_vtable *vt = ddpm_sampler_at(i);
    return vt && vt->description ? vt->description : "";
}
WASM_EXPORT int ddpm_wasm_sampler_num_options(int i) {
    const ddpm_sampler_vtable *vt = ddpm_sampler_at(i);
    return vt ? vt->num_options : 0;
}
WASM_EXPORT int ddpm_wasm_sampler_evals_per_step(int i) {
    const ddpm_sampler_vtable *vt = ddpm_sampler_at(i);
    return vt ? vt->evals_per_step : 0;
}

static const ddpm_sampler_option *option_at(int i, int j) {
    const ddpm_sampler_vtable *vt = ddpm_sampler_at(i);
    return (vt && j >= 0 && j < vt->num_options) ? &vt->options[j] : NULL;
}
WASM_EXPORT const char *ddpm_wasm_option_name(int i, int j) {
    const ddpm_sampler_option *o = option_at(i, j);
    return o ? o->name : NULL;
}
WASM_EXPORT const char *ddpm_wasm_option_help(int i, int j) {
    const ddpm_sampler_option *o = option_at(i, j);
    return o && o->help ? o->help : "";
}
WASM_EXPORT int ddpm_wasm_option_type(int i, int j) {
    const ddpm_sampler_option *o = option_at(i, j);
    return o ? (int)o->type : -1;
}
/* which: 0 default, 1 min, 2 max */
WASM_EXPORT double ddpm_wasm_option_value(int i, int j, int which) {
    const ddpm_sampler_option *o = option_at(i, j);
    if (!o) return 0.0;
    return which == 0 ? o->default_value : (which == 1 ? o->min_value : o->max_value);
}
/* Choice k of a CHOICE option, NULL past the end. */
WASM_EXPORT const char *ddpm_wasm_option_choice(int i, int j, int k) {
    const ddpm_sampler_option *o = option_at(i, j);
    if (!o || !o->choices || k < 0) return NULL;
    for (int c = 0; c < k; c++)
        if (!o->choices[c]) return NULL;
    return o->choices[k];
}

/* ---- the sampler context, for JS samplers ---- */

WASM_EXPORT int ddpm_wasm_ctx_batch(const ddpm_sampler_context *c) { return c->batch; }
WASM_EXPORT size_t ddpm_wasm_ctx_image_elems(const ddpm_sampler_context *c) { return c->image_elems; }
WASM_EXPORT int ddpm_wasm_ctx_num_steps(const ddpm_sampler_context *c) { return c->num_steps; }
WASM_EXPORT const int *ddpm_wasm_ctx_timesteps(const ddpm_sampler_context *c) { return c->timesteps; }
WASM_EXPORT const double *ddpm_wasm_ctx_option_values(const ddpm_sampler_context *c) { return c->option_values; }
WASM_EXPORT int ddpm_wasm_ctx_prediction(const ddpm_sampler_context *c) { return (int)c->prediction; }
WASM_EXPORT const ddpm_schedule *ddpm_wasm_ctx_schedule(const ddpm_sampler_context *c) { return c->schedule; }
WASM_EXPORT float *ddpm_wasm_ctx_pred_x0(const ddpm_sampler_context *c) { return c->pred_x0; }
WASM_EXPORT const int *ddpm_wasm_ctx_labels(const ddpm_sampler_context *c) { return c->labels; }
WASM_EXPORT int ddpm_wasm_ctx_denoise(const ddpm_sampler_context *c, const float *x, const float *t, float *out) {
    return (int)c->denoise(c, x, t, out);
}
WASM_EXPORT void ddpm_wasm_ctx_noise(const ddpm_sampler_context *c, int step, int stream, float *out) {
    c->noise(c, step, stream, out);
}

