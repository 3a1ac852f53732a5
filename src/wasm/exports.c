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
#include <stdint.h>
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

/* The config: ddpm_wasm_model_config_json (config_json.c). */

static ddpm_load_options options(const char *config, size_t config_len, const char *sched, size_t sched_len,
                                  int quantize, int winograd, int compact, size_t memory_budget) {
    ddpm_load_options o = ddpm_load_default_options();
    o.unet_config = config;
    o.unet_config_len = config_len;
    o.scheduler_config = sched;
    o.scheduler_config_len = sched_len;
    o.quantize = (ddpm_dtype)quantize;
    o.winograd = (ddpm_winograd)winograd;
    o.compact = compact;
    o.memory_budget = memory_budget;
    return o;
}

/* ddpm_model_load_buffer_ex with the options spelled out: config / sched may be NULL (length 0); quantize is a
 * ddpm_dtype (F32 = as stored), winograd a ddpm_winograd. */
WASM_EXPORT int ddpm_wasm_model_load(const void *weights, size_t size, const char *config, size_t config_len,
                                     const char *sched, size_t sched_len, int quantize, int winograd,
                                     int compact, size_t memory_budget, ddpm_model **out, ddpm_error *err) {
    const ddpm_load_options o = options(config, config_len, sched, sched_len, quantize, winograd, compact, memory_budget);
    return (int)ddpm_model_load_buffer_ex(weights, size, &o, out, err);
}

/* The weights read from JS (web/ddpm.js: the file's bytes stay in a JS ArrayBuffer, copied into the heap one tensor at
 * a time): ddpm_js_read(handle, offset, n, dst) copies bytes [offset, offset + n) of the file `handle` to dst. */
__attribute__((import_module("env"), import_name("ddpm_js_read"))) int ddpm_js_read(int handle, uint32_t offset_lo,
                                                                                    uint32_t offset_hi, size_t n,
                                                                                    void *dst);

static int js_read(void *user, uint64_t offset, size_t n, void *dst) {
    return ddpm_js_read((int)(intptr_t)user, (uint32_t)offset, (uint32_t)(offset >> 32), n, dst);
}

/* ddpm_wasm_model_load for a file read through ddpm_js_read: `size` bytes (two 32-bit halves) under `handle`. */
WASM_EXPORT int ddpm_wasm_model_load_js(int handle, uint32_t size_lo, uint32_t size_hi, const char *config,
                                        size_t config_len, const char *sched, size_t sched_len, int quantize,
                                        int winograd, int compact, size_t memory_budget, ddpm_model **out,
                                        ddpm_error *err) {
    const ddpm_load_options o = options(config, config_len, sched, sched_len, quantize, winograd, compact, memory_budget);
    const ddpm_reader r = {((uint64_t)size_hi << 32) | size_lo, js_read, (void *)(intptr_t)handle};
    return (int)ddpm_model_load_reader(&r, &o, out, err);
}

/* ddpm_model_memory as 6 doubles: weight, compact and Winograd bytes, Winograd convs, of them precomputed, compact. */
WASM_EXPORT int ddpm_wasm_model_memory(const ddpm_model *m, double *out) {
    ddpm_model_memory_info i;
    const ddpm_status st = ddpm_model_memory(m, &i);
    if (st != DDPM_OK) return (int)st;
    out[0] = (double)i.weight_bytes, out[1] = (double)i.compact_bytes, out[2] = (double)i.winograd_bytes;
    out[3] = i.winograd_convs, out[4] = i.winograd_precomputed, out[5] = i.compact;
    return 0;
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
                                           int deep_cache, ddpm_error *err) {
    ddpm_sample_params p = ddpm_sample_default_params();
    p.deep_cache = deep_cache;
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

