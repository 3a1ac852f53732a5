/*
 * js_plugins.c — samplers and models written in JavaScript, for web/ddpm.js (WebAssembly builds only).
 *
 * JavaScript samplers. A sampler written in JS enters the same C registry as the built-ins: the JS layer makes a
 * plugin record (ddpm_wasm_js_plugin_new), describes the plugin there (name, options: strings are copied and owned
 * by the record), and ddpm_wasm_js_sampler_register() registers a vtable whose user_data is the record and whose
 * create/step/destroy call three functions the module imports from JS, with the record as the plugin's handle:
 *     env.ddpm_js_sampler_create(plugin, ctx)          -> a JS state id >= 0, or -(ddpm_status) on failure
 *     env.ddpm_js_sampler_step(plugin, id, ctx, i, x)  -> ddpm_status
 *     env.ddpm_js_sampler_destroy(plugin, id)
 * Inside step the JS code calls back into ddpm_wasm_ctx_denoise / ddpm_wasm_ctx_noise (re-entering the module is
 * fine: the run is not touched by anything else meanwhile). There is no limit on their number.
 *
 * JavaScript models. A network evaluated in JS (a test model, another runtime) becomes a ddpm_denoiser
 * (ddpm_wasm_js_model_new) whose eval calls
 *     env.ddpm_js_denoise(model, n, x, t, y, out)      -> ddpm_status
 * and runs any registered sampler through ddpm_run_create_with.
 */
#include "core/internal.h" /* ddpm__fail, ddpm__strdup */

#include <stdlib.h>
#include <string.h>

#define WASM_EXPORT __attribute__((used, visibility("default")))
#define JS_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

/* ---- imports from web/ddpm.js ---- */

typedef struct js_plugin js_plugin;
JS_IMPORT(ddpm_js_sampler_create) int ddpm_js_sampler_create(js_plugin *plugin, const ddpm_sampler_context *ctx);
JS_IMPORT(ddpm_js_sampler_step) int ddpm_js_sampler_step(js_plugin *plugin, int id, const ddpm_sampler_context *ctx,
                                                         int i, float *x);
JS_IMPORT(ddpm_js_sampler_destroy) void ddpm_js_sampler_destroy(js_plugin *plugin, int id);
/* y: NULL or n labels (num_classes = the null class); returns a ddpm_status */
JS_IMPORT(ddpm_js_denoise) int ddpm_js_denoise(int model, int n, const float *x, const float *t, const int *y,
                                               float *out);

/* ---- JavaScript samplers in the C registry ---- */

/* One JS plugin's registration: its strings (owned) and the vtable the registry copies. Its address is the handle
 * JS knows it by; the vtable's user_data points back at it, so the three callbacks below serve every JS sampler. */
typedef struct js_plugin {
    int registered;
    char *name, *description;
    int num_options;
    ddpm_sampler_option *options;  /* [num_options] */
    char **strings;                /* [2 num_options]: option name, help */
    char ***choices;               /* [num_options]: NULL-terminated lists (CHOICE options), each string malloc'ed */
    ddpm_sampler_vtable vt;
} js_plugin;

/* Per-run state of a JS sampler: the JS side's state id. */
typedef struct js_state {
    int id;
} js_state;

static void plugin_free(js_plugin *s) {
    if (!s) return;
    free(s->name);
    free(s->description);
    for (int j = 0; j < s->num_options; j++) {
        if (s->strings) {
            free(s->strings[2 * j]);
            free(s->strings[2 * j + 1]);
        }
        if (s->choices && s->choices[j]) {
            for (int k = 0; s->choices[j][k]; k++) free(s->choices[j][k]);
            free(s->choices[j]);
        }
    }
    free(s->strings);
    free(s->choices);
    free(s->options);
    free(s);
}

static ddpm_status js_create(void *user, const ddpm_sampler_context *ctx, void **state) {
    *state = NULL;
    js_state *st = malloc(sizeof *st);
    if (!st) return DDPM_ERR_OUT_OF_MEMORY;
    int id = ddpm_js_sampler_create(user, ctx);
    if (id < 0) {
        free(st);
        return (ddpm_status)(-id);
    }
    st->id = id;
    *state = st;
    return DDPM_OK;
}

static ddpm_status js_step(void *user, void *state, const ddpm_sampler_context *ctx, int i, float *x) {
    const js_state *st = state;
    return (ddpm_status)ddpm_js_sampler_step(user, st->id, ctx, i, x);
}

static void js_destroy(void *user, const ddpm_sampler_context *ctx, void *state) {
    js_state *st = state;
    if (!st) return;
    ddpm_js_sampler_destroy(user, st->id);
    free(st);
}

/* A new plugin record with room for num_options options (or NULL: out of memory / num_options < 0). */
WASM_EXPORT js_plugin *ddpm_wasm_js_plugin_new(int num_options) {
    if (num_options < 0 || num_options > 4096) return NULL;
    js_plugin *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->num_options = num_options;
    const size_t n = num_options ? (size_t)num_options : 1;
    s->options = calloc(n, sizeof *s->options);
    s->strings = calloc(2 * n, sizeof *s->strings);
    s->choices = calloc(n, sizeof *s->choices);
    if (!s->options || !s->strings || !s->choices) {
        plugin_free(s);
        return NULL;
    }
    return s;
}

/* Frees a plugin record that is not registered (after a failed description or registration). */
WASM_EXPORT void ddpm_wasm_js_plugin_free(js_plugin *s) {
    if (s && !s->registered) plugin_free(s);
}

/* Describes the plugin. has_step = 0 registers a NULL step (the registry refuses it, which is the error the caller
 * should see). Returns 0, or -1 if out of memory. */
WASM_EXPORT int ddpm_wasm_js_sampler_describe(js_plugin *s, uint32_t api_version, const char *name,
                                              const char *description, int evals_per_step, int has_step) {
    if (!s || s->registered) return -1;
    s->name = ddpm__strdup(name);
    s->description = ddpm__strdup(description ? description : "");
    if (!s->name || !s->description) return -1;
    s->vt = (ddpm_sampler_vtable){.api_version = api_version,
                                  .name = s->name,
                                  .description = s->description,
                                  .num_options = s->num_options,
                                  .options = s->num_options ? s->options : NULL,
                                  .evals_per_step = evals_per_step,
                                  .create = js_create,
                                  .step = has_step ? js_step : NULL,
                                  .destroy = js_destroy,
                                  .user_data = s};
    return 0;
}

/* Option j of the plugin; choices is "a\nb\nc" for CHOICE options (NULL otherwise). 0, or -1. */
WASM_EXPORT int ddpm_wasm_js_sampler_option(js_plugin *s, int j, const char *name, int type, double def, double lo,
                                            double hi, const char *help, const char *choices) {
    if (!s || s->registered || j < 0 || j >= s->num_options) return -1;
    ddpm_sampler_option *o = &s->options[j];
    s->strings[2 * j] = ddpm__strdup(name);
    s->strings[2 * j + 1] = ddpm__strdup(help ? help : "");
    if (!s->strings[2 * j] || !s->strings[2 * j + 1]) return -1;
    *o = (ddpm_sampler_option){.name = s->strings[2 * j],
                               .type = (ddpm_option_type)type,
                               .default_value = def,
                               .min_value = lo,
                               .max_value = hi,
                               .help = s->strings[2 * j + 1]};
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

/* Registers the described plugin. On failure the record stays the caller's (free it). */
WASM_EXPORT int ddpm_wasm_js_sampler_register(js_plugin *s, ddpm_error *err) {
    if (!s || s->registered || !s->name) return (int)ddpm__fail(err, DDPM_ERR_STATE, "JS sampler is not described");
    ddpm_status st = ddpm_sampler_register(&s->vt, err);
    if (st == DDPM_OK) s->registered = 1;
    return (int)st;
}

/* Unregisters the plugin (DDPM_ERR_BUSY while a run uses it) and frees its record on success. */
WASM_EXPORT int ddpm_wasm_js_sampler_unregister(js_plugin *s, ddpm_error *err) {
    if (!s || !s->registered) return (int)ddpm__fail(err, DDPM_ERR_NOT_FOUND, "no such JS sampler");
    ddpm_status st = ddpm_sampler_unregister(s->name, err);
    if (st == DDPM_OK) plugin_free(s);
    return (int)st;
}

/* 1 when registry entry i is a JS sampler. */
WASM_EXPORT int ddpm_wasm_sampler_is_js(int i) {
    const ddpm_sampler_vtable *vt = ddpm_sampler_at(i);
    return vt && vt->destroy == js_destroy;
}

/* ---- JavaScript models (model plugins): a denoiser whose eval is a JS function ---- */

typedef struct js_model {
    ddpm_denoiser den;
    ddpm_schedule *schedule; /* owned */
    int id;                  /* the JS side's model id */
} js_model;

static ddpm_status js_model_eval(void *user, int n, const float *x, const float *t, const int *y, float *out,
                                 ddpm_error *err) {
    const js_model *jm = user;
    const int st = ddpm_js_denoise(jm->id, n, x, t, y, out);
    if (st != 0) ddpm__fail(err, (ddpm_status)st, "the JS model's denoise() failed");
    return (ddpm_status)st;
}

/* A denoiser over JS model `id` with its own schedule (kind: a ddpm_schedule_kind; betas: T doubles for
 * DDPM_SCHEDULE_CUSTOM, else NULL). NULL with err set on bad parameters. */
WASM_EXPORT js_model *ddpm_wasm_js_model_new(int id, int kind, int num_timesteps, double beta_start, double beta_end,
                                             int rescale_zero_snr, int float32, const double *betas, int prediction,
                                             int channels, int image_size, int num_classes, int labels_required,
                                             ddpm_error *err) {
    if (prediction < 0 || prediction > DDPM_PREDICT_V) {
        ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "prediction must be eps, x0 or v");
        return NULL;
    }
    ddpm_schedule_params sp = ddpm_schedule_default_params();
    sp.kind = (ddpm_schedule_kind)kind;
    sp.num_timesteps = num_timesteps;
    sp.beta_start = beta_start;
    sp.beta_end = beta_end;
    sp.rescale_zero_snr = rescale_zero_snr;
    sp.float32 = float32;
    sp.betas = betas;
    js_model *jm = calloc(1, sizeof *jm);
    if (!jm) {
        ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "out of memory");
        return NULL;
    }
    if (ddpm_schedule_create(&sp, &jm->schedule, err) != DDPM_OK) {
        free(jm);
        return NULL;
    }
    jm->id = id;
    jm->den = (ddpm_denoiser){.schedule = jm->schedule,
                              .prediction = (ddpm_prediction)prediction,
                              .channels = channels,
                              .image_size = image_size,
                              .num_classes = num_classes,
                              .eval = js_model_eval,
                              .user_data = jm,
                              .labels_required = labels_required};
    return jm;
}

WASM_EXPORT const ddpm_schedule *ddpm_wasm_js_model_schedule(const js_model *jm) { return jm->schedule; }

WASM_EXPORT void ddpm_wasm_js_model_free(js_model *jm) {
    if (!jm) return;
    ddpm_schedule_free(jm->schedule);
    free(jm);
}
