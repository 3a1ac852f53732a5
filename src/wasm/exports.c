/*
 * exports.c — the thin layer between the C library and web/ddpm.js (WebAssembly builds only).
 *
 * The JS side could read the library's structs from linear memory, but their layout is a C detail; every struct the
 * JS layer needs is therefore read or written through a small accessor here, named ddpm_wasm_*. Plain library
 * functions whose arguments are pointers and scalars (ddpm_model_load_buffer, ddpm_run_step, ...) are exported as
 * they are (see src/wasm/CMakeLists.txt for the list).
 *
 * JavaScript samplers. A sampler written in JS enters the same C registry as the built-ins: the JS layer reserves a
 * slot (0 .. DDPM_WASM_JS_SLOTS-1), describes the plugin here (name, options: strings are copied and owned by the
 * slot), and ddpm_wasm_js_sampler_register() registers a vtable whose create/step/destroy call three functions the
 * module imports from JS:
 *     env.ddpm_js_sampler_create(slot, ctx)          -> a JS state id >= 0, or -(ddpm_status) on failure
 *     env.ddpm_js_sampler_step(slot, id, ctx, i, x)  -> ddpm_status
 *     env.ddpm_js_sampler_destroy(slot, id)
 * Inside step the JS code calls back into ddpm_wasm_ctx_denoise / ddpm_wasm_ctx_noise (re-entering the module is
 * fine: the run is not touched by anything else meanwhile). The vtable's create receives only the context, so the
 * slot is baked into one create trampoline per slot; step and destroy find it in the per-run state.
 */
#include "ddpm.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define WASM_EXPORT __attribute__((used, visibility("default")))
#define JS_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

/* ---- imports from web/ddpm.js ---- */

JS_IMPORT(ddpm_js_sampler_create) int ddpm_js_sampler_create(int slot, const ddpm_sampler_context *ctx);
JS_IMPORT(ddpm_js_sampler_step) int ddpm_js_sampler_step(int slot, int id, const ddpm_sampler_context *ctx, int i,
                                                         float *x);
JS_IMPORT(ddpm_js_sampler_destroy) void ddpm_js_sampler_destroy(int slot, int id);

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

/* ddpm_run_create with the params spelled out (the seed as two 32-bit halves). NULL init: pure noise; NULL
 * timesteps: the grid of steps and spacing; NULL start_x / noise: the seed's. Returns the run or NULL with err. */
WASM_EXPORT ddpm_run *ddpm_wasm_run_create(ddpm_model *m, const char *sampler, int num_options,
                                           const char *const *option_names, const double *option_values, int steps,
                                           int spacing, uint32_t seed_lo, uint32_t seed_hi, int batch,
                                           uint32_t first_image, int class_label, float guidance,
                                           const float *init_image, float strength, int steps_offset,
                                           const int *timesteps, int num_timesteps, const float *start_x,
                                           const float *noise, int noise_count, ddpm_error *err) {
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
    ddpm_run *r = NULL;
    if (ddpm_run_create(m, &p, &r, err) != DDPM_OK) return NULL;
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
WASM_EXPORT int ddpm_wasm_ctx_denoise(const ddpm_sampler_context *c, const float *x, const float *t, float *out) {
    return (int)c->denoise(c, x, t, out);
}
WASM_EXPORT void ddpm_wasm_ctx_noise(const ddpm_sampler_context *c, int step, int stream, float *out) {
    c->noise(c, step, stream, out);
}

/* ---- JavaScript samplers in the C registry ---- */

#define DDPM_WASM_JS_SLOTS 16
#define MAX_JS_OPTIONS 32

typedef struct js_slot {
    int used;        /* described (between begin and register/release) or registered */
    int registered;
    char *name, *description;
    int num_options;
    ddpm_sampler_option options[MAX_JS_OPTIONS];
    char *option_strings[MAX_JS_OPTIONS][2]; /* name, help */
    char **choices[MAX_JS_OPTIONS];          /* NULL-terminated, each string malloc'ed */
    ddpm_sampler_vtable vt;
} js_slot;

static js_slot g_slots[DDPM_WASM_JS_SLOTS];

/* Per-run state of a JS sampler: which slot, and the JS side's state id. */
typedef struct js_state {
    int slot, id;
} js_state;

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void slot_clear(js_slot *s) {
    free(s->name);
    free(s->description);
    for (int j = 0; j < MAX_JS_OPTIONS; j++) {
        free(s->option_strings[j][0]);
        free(s->option_strings[j][1]);
        if (s->choices[j]) {
            for (int k = 0; s->choices[j][k]; k++) free(s->choices[j][k]);
            free(s->choices[j]);
        }
    }
    memset(s, 0, sizeof *s);
}

static ddpm_status js_create(int slot, const ddpm_sampler_context *ctx, void **state) {
    *state = NULL;
    js_state *st = malloc(sizeof *st);
    if (!st) return DDPM_ERR_OUT_OF_MEMORY;
    int id = ddpm_js_sampler_create(slot, ctx);
    if (id < 0) {
        free(st);
        return (ddpm_status)(-id);
    }
    st->slot = slot;
    st->id = id;
    *state = st;
    return DDPM_OK;
}

static ddpm_status js_step(void *state, const ddpm_sampler_context *ctx, int i, float *x) {
    js_state *st = state;
    return (ddpm_status)ddpm_js_sampler_step(st->slot, st->id, ctx, i, x);
}

static void js_destroy(void *state) {
    js_state *st = state;
    if (!st) return;
    ddpm_js_sampler_destroy(st->slot, st->id);
    free(st);
}

#define JS_CREATE(k)                                                                                                  \
    static ddpm_status js_create_##k(const ddpm_sampler_context *ctx, void **state) {                                \
        return js_create(k, ctx, state);                                                                              \
    }
JS_CREATE(0) JS_CREATE(1) JS_CREATE(2) JS_CREATE(3) JS_CREATE(4) JS_CREATE(5) JS_CREATE(6) JS_CREATE(7)
JS_CREATE(8) JS_CREATE(9) JS_CREATE(10) JS_CREATE(11) JS_CREATE(12) JS_CREATE(13) JS_CREATE(14) JS_CREATE(15)

static ddpm_status (*const g_create[DDPM_WASM_JS_SLOTS])(const ddpm_sampler_context *, void **) = {
    js_create_0,  js_create_1,  js_create_2,  js_create_3,  js_create_4,  js_create_5,  js_create_6,  js_create_7,
    js_create_8,  js_create_9,  js_create_10, js_create_11, js_create_12, js_create_13, js_create_14, js_create_15,
};

/* A free slot, now reserved, or -1 when all are taken. */
WASM_EXPORT int ddpm_wasm_js_slot_reserve(void) {
    for (int k = 0; k < DDPM_WASM_JS_SLOTS; k++)
        if (!g_slots[k].used) {
            g_slots[k].used = 1;
            return k;
        }
    return -1;
}

/* Drops a slot that is not registered (after a failed description or registration). */
WASM_EXPORT void ddpm_wasm_js_slot_release(int slot) {
    if (slot < 0 || slot >= DDPM_WASM_JS_SLOTS || g_slots[slot].registered) return;
    slot_clear(&g_slots[slot]);
}

/* Describes the plugin of a reserved slot. has_step = 0 registers a NULL step (the registry refuses it, which is the
 * error the caller should see). Returns 0, or -1 if out of memory / too many options. */
WASM_EXPORT int ddpm_wasm_js_sampler_describe(int slot, uint32_t api_version, const char *name,
                                              const char *description, int evals_per_step, int has_step,
                                              int num_options) {
    if (slot < 0 || slot >= DDPM_WASM_JS_SLOTS || !g_slots[slot].used || g_slots[slot].registered) return -1;
    if (num_options < 0 || num_options > MAX_JS_OPTIONS) return -1;
    js_slot *s = &g_slots[slot];
    s->name = dup_str(name);
    s->description = dup_str(description ? description : "");
    if (!s->name || !s->description) return -1;
    s->num_options = num_options;
    s->vt.api_version = api_version;
    s->vt.name = s->name;
    s->vt.description = s->description;
    s->vt.num_options = num_options;
    s->vt.options = num_options ? s->options : NULL;
    s->vt.evals_per_step = evals_per_step;
    s->vt.create = g_create[slot];
    s->vt.step = has_step ? js_step : NULL;
    s->vt.destroy = js_destroy;
    s->vt.user_data = s;
    return 0;
}

/* Option j of the slot's plugin; choices is "a\nb\nc" for CHOICE options (NULL otherwise). 0, or -1. */
WASM_EXPORT int ddpm_wasm_js_sampler_option(int slot, int j, const char *name, int type, double def, double lo,
                                            double hi, const char *help, const char *choices) {
    if (slot < 0 || slot >= DDPM_WASM_JS_SLOTS || !g_slots[slot].used || j < 0 || j >= g_slots[slot].num_options)
        return -1;
    js_slot *s = &g_slots[slot];
    ddpm_sampler_option *o = &s->options[j];
    s->option_strings[j][0] = dup_str(name);
    s->option_strings[j][1] = dup_str(help ? help : "");
    if (!s->option_strings[j][0] || !s->option_strings[j][1]) return -1;
    o->name = s->option_strings[j][0];
    o->help = s->option_strings[j][1];
    o->type = (ddpm_option_type)type;
    o->default_value = def;
    o->min_value = lo;
    o->max_value = hi;
    o->choices = NULL;
    if (choices) {
        int n = 1;
        for (const char *p = choices; *p; p++) n += *p == '\n';
        char **list = calloc((size_t)n + 1, sizeof(char *));
        if (!list) return -1;
        s->choices[j] = list;
        const char *start = choices;
        for (int k = 0; k < n; k++) {
            const char *end = strchr(start, '\n');
            size_t len = end ? (size_t)(end - start) : strlen(start);
            list[k] = malloc(len + 1);
            if (!list[k]) return -1;
            memcpy(list[k], start, len);
            list[k][len] = '\0';
            start = end ? end + 1 : start + len;
        }
        o->choices = (const char *const *)list;
    }
    return 0;
}

/* Registers the described plugin. On failure the slot stays reserved (release it). */
WASM_EXPORT int ddpm_wasm_js_sampler_register(int slot, ddpm_error *err) {
    if (slot < 0 || slot >= DDPM_WASM_JS_SLOTS || !g_slots[slot].used || g_slots[slot].registered) {
        if (err) {
            err->status = DDPM_ERR_STATE;
            strcpy(err->message, "JS sampler slot is not ready");
        }
        return DDPM_ERR_STATE;
    }
    ddpm_status st = ddpm_sampler_register(&g_slots[slot].vt, err);
    if (st == DDPM_OK) g_slots[slot].registered = 1;
    return (int)st;
}

/* Unregisters the slot's plugin (DDPM_ERR_BUSY while a run uses it) and frees the slot on success. */
WASM_EXPORT int ddpm_wasm_js_sampler_unregister(int slot, ddpm_error *err) {
    if (slot < 0 || slot >= DDPM_WASM_JS_SLOTS || !g_slots[slot].registered) {
        if (err) {
            err->status = DDPM_ERR_NOT_FOUND;
            strcpy(err->message, "no such JS sampler");
        }
        return DDPM_ERR_NOT_FOUND;
    }
    ddpm_status st = ddpm_sampler_unregister(g_slots[slot].name, err);
    if (st == DDPM_OK) slot_clear(&g_slots[slot]);
    return (int)st;
}

/* 1 when registry entry i is a JS sampler. */
WASM_EXPORT int ddpm_wasm_sampler_is_js(int i) {
    const ddpm_sampler_vtable *vt = ddpm_sampler_at(i);
    return vt && vt->destroy == js_destroy;
}
