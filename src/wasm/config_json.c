/*
 * config_json.c — a loaded model's config as one JSON object for web/lib/model.js (WebAssembly builds only), so the
 * JS side reads named fields instead of indices into a number array. Keys are the JS API's ModelConfig names
 * (web/ddpm.d.ts); enum values are spelled by ddpm_*_name(); doubles are written with 17 significant digits (they
 * read back exactly).
 */
#include "core/sbuf.h"

#include <stdlib.h>

#define WASM_EXPORT __attribute__((used, visibility("default")))

static void put_ints(ddpm__sbuf *b, const char *key, const int *v, int n) {
    ddpm__sbuf_printf(b, "\"%s\":[", key);
    for (int i = 0; i < n; i++) ddpm__sbuf_printf(b, i ? ",%d" : "%d", v[i]);
    ddpm__sbuf_printf(b, "],");
}

static void put_levels(ddpm__sbuf *b, const char *key, uint32_t mask, int n) {
    ddpm__sbuf_printf(b, "\"%s\":[", key);
    for (int i = 0, first = 1; i < n; i++)
        if ((mask >> i) & 1u) { ddpm__sbuf_printf(b, first ? "%d" : ",%d", i); first = 0; }
    ddpm__sbuf_printf(b, "],");
}

/* The config as JSON (malloc'd, NUL-terminated; free() it), or NULL when out of memory. */
WASM_EXPORT char *ddpm_wasm_model_config_json(const ddpm_model *m) {
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const ddpm_unet_arch *a = &c->arch;
    const ddpm_sample_params d = ddpm_model_sample_defaults(m);
    ddpm__sbuf b = {0};
    ddpm__sbuf_printf(&b, "{\"inChannels\":%d,\"outChannels\":%d,\"baseChannels\":%d,", c->in_channels, c->out_channels,
        c->base_channels);
    put_ints(&b, "channelMult", c->channel_mult, c->num_levels);
    ddpm__sbuf_printf(&b, "\"numResBlocks\":%d,", c->num_res_blocks);
    put_ints(&b, "attnResolutions", c->attn_resolutions, c->num_attn_resolutions);
    ddpm__sbuf_printf(&b, "\"groups\":%d,\"numClasses\":%d,\"imageSize\":%d,\"prediction\":\"%s\",\"variance\":\"%s\",", c->groups,
        c->num_classes, c->image_size, ddpm_prediction_name(c->prediction), ddpm_variance_name(c->variance));
    ddpm__sbuf_printf(&b, "\"schedule\":\"%s\",\"numTimesteps\":%d,\"rescaleZeroSnr\":%s,\"betaStart\":%.17g,\"betaEnd\":%.17g,",
        ddpm_schedule_kind_name(c->schedule.kind), c->schedule.num_timesteps,
        c->schedule.rescale_zero_snr ? "true" : "false", c->schedule.beta_start, c->schedule.beta_end);
    ddpm__sbuf_printf(&b, "\"float32Schedule\":%s,\"flops\":%.17g,\"params\":%.17g,", c->schedule.float32 ? "true" : "false",
        ddpm_model_flops(m), (double)ddpm_model_num_params(m));
    ddpm__sbuf_printf(&b, "\"format\":\"%s\",", a->diffusers_names ? "diffusers" : "ddpm");
    put_ints(&b, "levelChannels", a->level_channels, c->num_levels);
    ddpm__sbuf_printf(&b, "\"attention\":{");
    put_levels(&b, "downLevels", a->attn_down, c->num_levels);
    put_levels(&b, "upLevels", a->attn_up, c->num_levels);
    ddpm__sbuf_printf(&b, "\"mid\":%s,\"headDim\":", a->mid_attention ? "true" : "false");
    ddpm__sbuf_printf(&b, a->head_dim ? "%d" : "null", a->head_dim);
    ddpm__sbuf_printf(&b, "},\"normEps\":%.17g,\"nullClass\":%s,", a->norm_eps, a->null_class ? "true" : "false");
    ddpm__sbuf_printf(&b, "\"defaults\":{\"sampler\":");
    ddpm__sbuf_json_string(&b, d.sampler ? d.sampler : "ddpm");
    ddpm__sbuf_printf(&b, ",\"spacing\":\"%s\",\"stepsOffset\":%d,\"samplerOptions\":{", ddpm_spacing_name(d.spacing),
        d.steps_offset);
    int n;
    const char *const *names;
    const double *values;
    ddpm_model_option_defaults(m, &n, &names, &values);
    for (int i = 0; i < n; i++) {
        if (i) ddpm__sbuf_printf(&b, ",");
        ddpm__sbuf_json_string(&b, names[i]);
        ddpm__sbuf_printf(&b, ":%.17g", values[i]);
    }
    ddpm__sbuf_printf(&b, "}}}");
    ddpm__sbuf_put(&b, "", 1); /* the terminating NUL */
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
