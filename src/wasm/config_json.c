/*
 * config_json.c — a loaded model's config as one JSON object for web/lib/model.js (WebAssembly builds only), so the
 * JS side reads named fields instead of indices into a number array. Keys are the JS API's ModelConfig names
 * (web/ddpm.d.ts); enum values are spelled by ddpm_*_name(); doubles are written with 17 significant digits (they
 * read back exactly).
 */
#include "ddpm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WASM_EXPORT __attribute__((used, visibility("default")))

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if (b->p && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        const size_t cap = (b->cap ? 2 * b->cap : 1024) + (size_t)k;
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
}

static void put_ints(sbuf *b, const char *key, const int *v, int n) {
    put(b, "\"%s\":[", key);
    for (int i = 0; i < n; i++) put(b, i ? ",%d" : "%d", v[i]);
    put(b, "],");
}

static void put_levels(sbuf *b, const char *key, uint32_t mask, int n) {
    put(b, "\"%s\":[", key);
    for (int i = 0, first = 1; i < n; i++)
        if ((mask >> i) & 1u) { put(b, first ? "%d" : ",%d", i); first = 0; }
    put(b, "],");
}

/* A JSON string naming a sampler or option: [a-z0-9_] only (the registry's rule), so no escaping is needed. */
static void put_name(sbuf *b, const char *s) {
    put(b, "\"");
    for (const char *c = s; *c; c++)
        if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_') put(b, "%c", *c);
    put(b, "\"");
}

/* The config as JSON (malloc'd, NUL-terminated; free() it), or NULL when out of memory. */
WASM_EXPORT char *ddpm_wasm_model_config_json(const ddpm_model *m) {
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const ddpm_unet_arch *a = &c->arch;
    const ddpm_sample_params d = ddpm_model_sample_defaults(m);
    sbuf b = {0};
    put(&b, "{\"inChannels\":%d,\"outChannels\":%d,\"baseChannels\":%d,", c->in_channels, c->out_channels,
        c->base_channels);
    put_ints(&b, "channelMult", c->channel_mult, c->num_levels);
    put(&b, "\"numResBlocks\":%d,", c->num_res_blocks);
    put_ints(&b, "attnResolutions", c->attn_resolutions, c->num_attn_resolutions);
    put(&b, "\"groups\":%d,\"numClasses\":%d,\"imageSize\":%d,\"prediction\":\"%s\",\"variance\":\"%s\",", c->groups,
        c->num_classes, c->image_size, ddpm_prediction_name(c->prediction), ddpm_variance_name(c->variance));
    put(&b, "\"schedule\":\"%s\",\"numTimesteps\":%d,\"rescaleZeroSnr\":%s,\"betaStart\":%.17g,\"betaEnd\":%.17g,",
        ddpm_schedule_kind_name(c->schedule.kind), c->schedule.num_timesteps,
        c->schedule.rescale_zero_snr ? "true" : "false", c->schedule.beta_start, c->schedule.beta_end);
    put(&b, "\"float32Schedule\":%s,\"flops\":%.17g,\"params\":%.17g,", c->schedule.float32 ? "true" : "false",
        ddpm_model_flops(m), (double)ddpm_model_num_params(m));
    put(&b, "\"format\":\"%s\",", a->diffusers_names ? "diffusers" : "ddpm");
    put_ints(&b, "levelChannels", a->level_channels, c->num_levels);
    put(&b, "\"attention\":{");
    put_levels(&b, "downLevels", a->attn_down, c->num_levels);
    put_levels(&b, "upLevels", a->attn_up, c->num_levels);
    put(&b, "\"mid\":%s,\"headDim\":", a->mid_attention ? "true" : "false");
    put(&b, a->head_dim ? "%d" : "null", a->head_dim);
    put(&b, "},\"normEps\":%.17g,\"nullClass\":%s,", a->norm_eps, a->null_class ? "true" : "false");
    put(&b, "\"defaults\":{\"sampler\":");
    put_name(&b, d.sampler ? d.sampler : "ddpm");
    put(&b, ",\"spacing\":\"%s\",\"stepsOffset\":%d,\"samplerOptions\":{", ddpm_spacing_name(d.spacing),
        d.steps_offset);
    int n;
    const char *const *names;
    const double *values;
    ddpm_model_option_defaults(m, &n, &names, &values);
    for (int i = 0; i < n; i++) {
        if (i) put(&b, ",");
        put_name(&b, names[i]);
        put(&b, ":%.17g", values[i]);
    }
    put(&b, "}}}");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
