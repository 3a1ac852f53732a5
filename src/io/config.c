/* Model config from safetensors metadata, and its validation; see config.h for the contract. */
#include "io/config.h"

#include "io/json.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_NUM_RES_BLOCKS 16
#define MAX_NUM_CLASSES 100000

/* The fields only this project's own format uses: base_channels, channel_mult, attn_resolutions. */
static ddpm_status validate_native(const ddpm_model_config *c, ddpm_error *err) {
    if (c->base_channels > DDPM_MAX_CHANNELS)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "base_channels = %d exceeds %d", c->base_channels,
                          DDPM_MAX_CHANNELS);
    if (c->base_channels < 4 || c->base_channels % 2 != 0)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "base_channels = %d: must be even and at least 4", c->base_channels);
    if (c->num_levels > DDPM_MAX_LEVELS)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "channel_mult has %d levels; the limit is %d", c->num_levels,
                          DDPM_MAX_LEVELS);
    if (c->num_levels < 1) return ddpm__fail(err, DDPM_ERR_CONFIG, "channel_mult is empty");
    for (int i = 0; i < c->num_levels; i++) {
        int m = c->channel_mult[i];
        if (m < 1) return ddpm__fail(err, DDPM_ERR_CONFIG, "channel_mult[%d] = %d: must be at least 1", i, m);
        if (m > DDPM_MAX_CHANNELS / c->base_channels)
            return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "base_channels * channel_mult[%d] = %d * %d exceeds %d", i,
                              c->base_channels, m, DDPM_MAX_CHANNELS);
    }
    if (c->channel_mult[0] != 1)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "channel_mult[0] = %d: must be 1 (the output head has base_channels)",
                          c->channel_mult[0]);
    if (c->image_size < 1) return ddpm__fail(err, DDPM_ERR_CONFIG, "image_size = %d: must be at least 1", c->image_size);
    if (c->num_attn_resolutions < 0 || c->num_attn_resolutions > DDPM_MAX_LEVELS)
        return ddpm__fail(err, c->num_attn_resolutions < 0 ? DDPM_ERR_CONFIG : DDPM_ERR_TOO_LARGE,
                          "attn_resolutions has %d entries; the limit is %d", c->num_attn_resolutions, DDPM_MAX_LEVELS);
    for (int i = 0; i < c->num_attn_resolutions; i++) {
        int a = c->attn_resolutions[i];
        if (a < 1 || a > c->image_size)
            return ddpm__fail(err, DDPM_ERR_CONFIG, "attn_resolutions[%d] = %d: must be 1 .. image_size (%d)", i, a,
                              c->image_size);
        for (int j = 0; j < i; j++)
            if (c->attn_resolutions[j] == a)
                return ddpm__fail(err, DDPM_ERR_CONFIG, "attn_resolutions lists %d twice", a);
    }
    return DDPM_OK;
}

void ddpm_config_native_arch(ddpm_model_config *c) {
    ddpm_unet_arch *a = &c->arch;
    memset(a, 0, sizeof *a);
    int r = c->image_size;
    for (int l = 0; l < c->num_levels && l < DDPM_MAX_LEVELS; l++) {
        a->level_channels[l] = c->base_channels * c->channel_mult[l];
        for (int i = 0; i < c->num_attn_resolutions && i < DDPM_MAX_LEVELS; i++)
            if (c->attn_resolutions[i] == r) a->attn_down |= 1u << l;
        r = (r + 1) / 2;
    }
    a->attn_up = a->attn_down;
    a->mid_attention = 1;
    a->head_dim = 0;
    a->attn_groups = c->groups;
    a->norm_eps = 1e-5f;
    a->flip_sin_to_cos = 0;
    a->freq_shift = 1;
    a->downsample_one_sided = 0;
    a->mid_scale = 1.0f;
    a->center_input = 0;
    a->temb_dim = 4 * c->base_channels;
    a->null_class = 1;
    a->diffusers_names = 0;
}

/* Channels of the attention blocks of level l (down and up) and of the mid block: the level's own channels. */
static ddpm_status check_attn_channels(const ddpm_unet_arch *a, int ch, const char *where, ddpm_error *err) {
    if (ch % a->attn_groups != 0)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "attention groups = %d do not divide the %d channels of %s",
                          a->attn_groups, ch, where);
    if (a->head_dim > 0 && ch % a->head_dim != 0)
        return ddpm__fail(err, DDPM_ERR_UNSUPPORTED,
                          "attention_head_dim = %d does not divide the %d channels of %s (a head of a partial width)",
                          a->head_dim, ch, where);
    return DDPM_OK;
}

ddpm_status ddpm_config_validate(const ddpm_model_config *c, ddpm_error *err) {
    if (!c) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "config is NULL");
    if (c->in_channels < 1)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "in_channels = %d: must be at least 1", c->in_channels);
    if (c->in_channels > DDPM_MAX_CHANNELS)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "in_channels = %d exceeds %d", c->in_channels, DDPM_MAX_CHANNELS);
    if (c->out_channels < 1)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "out_channels = %d: must be at least 1", c->out_channels);
    if (c->out_channels > DDPM_MAX_CHANNELS)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "out_channels = %d exceeds %d", c->out_channels, DDPM_MAX_CHANNELS);
    ddpm_status st;
    if (!c->arch.diffusers_names && (st = validate_native(c, err)) != DDPM_OK) return st;
    const ddpm_unet_arch *a = &c->arch;
    if (c->num_levels < 1 || c->num_levels > DDPM_MAX_LEVELS)
        return ddpm__fail(err, c->num_levels < 1 ? DDPM_ERR_CONFIG : DDPM_ERR_TOO_LARGE,
                          "%d levels: must be 1 .. %d", c->num_levels, DDPM_MAX_LEVELS);
    for (int i = 0; i < c->num_levels; i++) {
        const int ch = a->level_channels[i];
        if (ch < 1) return ddpm__fail(err, DDPM_ERR_CONFIG, "level %d has %d channels: must be at least 1", i, ch);
        if (ch > DDPM_MAX_CHANNELS)
            return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "level %d has %d channels; the limit is %d", i, ch,
                              DDPM_MAX_CHANNELS);
    }
    if (a->level_channels[0] % 2 != 0 || a->level_channels[0] / 2 - a->freq_shift < 1)
        return ddpm__fail(err, DDPM_ERR_CONFIG,
                          "the timestep sinusoid needs an even channel count with channels / 2 - freq_shift >= 1 "
                          "(channels %d, freq_shift %d)", a->level_channels[0], a->freq_shift);
    if (c->num_res_blocks < 1 || c->num_res_blocks > MAX_NUM_RES_BLOCKS)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "num_res_blocks = %d: must be 1 .. %d", c->num_res_blocks,
                          MAX_NUM_RES_BLOCKS);
    if (c->groups < 1) return ddpm__fail(err, DDPM_ERR_CONFIG, "groups = %d: must be at least 1", c->groups);
    if (a->attn_groups < 1)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "attention groups = %d: must be at least 1", a->attn_groups);
    if (a->head_dim < 0)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "attention head_dim = %d: must be >= 0", a->head_dim);
    char where[48];
    for (int i = 0; i < c->num_levels; i++) {
        int ch = a->level_channels[i];
        if (ch % c->groups != 0)
            return ddpm__fail(err, DDPM_ERR_CONFIG, "groups = %d does not divide the %d channels of level %d",
                              c->groups, ch, i);
        if ((a->attn_down | a->attn_up) & (1u << i)) {
            snprintf(where, sizeof where, "level %d", i);
            if ((st = check_attn_channels(a, ch, where, err)) != DDPM_OK) return st;
        }
    }
    if ((a->attn_down | a->attn_up) >> c->num_levels)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "attention is set on a level past the last one");
    if (a->mid_attention &&
        (st = check_attn_channels(a, a->level_channels[c->num_levels - 1], "the mid block", err)) != DDPM_OK)
        return st;
    if (!isfinite(a->norm_eps) || !(a->norm_eps > 0.0f) || a->norm_eps > 1.0f)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "norm_eps = %g: must be in (0, 1]", (double)a->norm_eps);
    if (!isfinite(a->mid_scale) || !(a->mid_scale > 0.0f))
        return ddpm__fail(err, DDPM_ERR_CONFIG, "mid_block_scale_factor = %g: must be > 0", (double)a->mid_scale);
    if (a->temb_dim < 1 || a->temb_dim > 4 * DDPM_MAX_CHANNELS)
        return ddpm__fail(err, a->temb_dim < 1 ? DDPM_ERR_CONFIG : DDPM_ERR_TOO_LARGE,
                          "time embedding width %d: must be 1 .. %d", a->temb_dim, 4 * DDPM_MAX_CHANNELS);
    if (c->num_classes < 0 || c->num_classes > MAX_NUM_CLASSES)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "num_classes = %d: must be 0 .. %d", c->num_classes, MAX_NUM_CLASSES);
    if (c->image_size < 1) return ddpm__fail(err, DDPM_ERR_CONFIG, "image_size = %d: must be at least 1", c->image_size);
    if (c->image_size > DDPM_MAX_IMAGE_SIZE)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "image_size = %d exceeds %d", c->image_size, DDPM_MAX_IMAGE_SIZE);
    int r = c->image_size;
    for (int i = 0; i + 1 < c->num_levels; i++) {
        if (r % 2 != 0)
            return ddpm__fail(err, DDPM_ERR_CONFIG,
                              "image_size %d: level %d has odd resolution %d and cannot be upsampled back", c->image_size,
                              i, r);
        r = (r + 1) / 2;
    }
    if ((int)c->prediction < 0 || (int)c->prediction > (int)DDPM_PREDICT_V)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "prediction = %d: unknown", (int)c->prediction);
    if ((int)c->variance < 0 || (int)c->variance > (int)DDPM_VARIANCE_FIXED_LARGE)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "variance = %d: unknown", (int)c->variance);
    const ddpm_schedule_params *s = &c->schedule;
    if ((int)s->kind < 0 || (int)s->kind > (int)DDPM_SCHEDULE_CUSTOM)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "schedule kind = %d: unknown", (int)s->kind);
    if (s->num_timesteps < 1)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "num_timesteps = %d: must be at least 1", s->num_timesteps);
    if (s->num_timesteps > DDPM_MAX_TIMESTEPS)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "num_timesteps = %d exceeds %d", s->num_timesteps,
                          DDPM_MAX_TIMESTEPS);
    if (s->kind != DDPM_SCHEDULE_CUSTOM &&
        (!isfinite(s->beta_start) || !isfinite(s->beta_end) || !(s->beta_start > 0) ||
         !(s->beta_start <= s->beta_end) || !(s->beta_end < 1)))
        return ddpm__fail(err, DDPM_ERR_CONFIG, "beta_start = %g, beta_end = %g: need 0 < beta_start <= beta_end < 1",
                          s->beta_start, s->beta_end);
    if (s->rescale_zero_snr != 0 && s->rescale_zero_snr != 1)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "rescale_zero_snr = %d: must be 0 or 1", s->rescale_zero_snr);
    ddpm__ok(err);
    return DDPM_OK;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Metadata parsing
 * ------------------------------------------------------------------------------------------------------------- */

/* Strict decimal integer in s[0..len): '-'? ('0' | [1-9][0-9]*), fitting in int. */
static int parse_int_span(const char *s, size_t len, int *out) {
    size_t i = 0;
    int neg = 0;
    if (i < len && s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= len) return 0;
    if (s[i] == '0' && len - i > 1) return 0; /* leading zero */
    long long v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
        if (v > (long long)INT_MAX + 1) return 0;
    }
    if (neg) v = -v;
    if (v < INT_MIN || v > INT_MAX) return 0;
    *out = (int)v;
    return 1;
}

/* Comma-separated integers into out[0..max); returns the count, -1 when malformed, -2 when there are more than max.
 * "" is the empty list when allow_empty, else malformed. */
static int parse_int_list(const char *s, int *out, int max, int allow_empty) {
    size_t len = strlen(s);
    if (len == 0) return allow_empty ? 0 : -1;
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == ',') {
            int v;
            if (!parse_int_span(s + start, i - start, &v)) return -1;
            if (n == max) return -2;
            out[n++] = v;
            start = i + 1;
        }
    }
    return n;
}

typedef struct meta_reader {
    const ddpm_st_file *f;
    ddpm_error *err;
} meta_reader;

static ddpm_status need(meta_reader *R, const char *key, const char **value) {
    *value = ddpm_st_meta(R->f, key);
    if (!*value) {
        if (R->f->num_meta == 0)
            return ddpm__fail(R->err, DDPM_ERR_CONFIG, "metadata key %s is missing (the file has no __metadata__)",
                              key);
        return ddpm__fail(R->err, DDPM_ERR_CONFIG, "metadata key %s is missing", key);
    }
    return DDPM_OK;
}

static ddpm_status bad_value(meta_reader *R, const char *key, const char *value, const char *what) {
    char vb[64];
    return ddpm__fail(R->err, DDPM_ERR_CONFIG, "metadata %s = \"%s\": %s", key,
                      ddpm_st_printable(value, vb, sizeof vb), what);
}

static ddpm_status get_int(meta_reader *R, const char *key, int *out) {
    const char *v;
    ddpm_status st = need(R, key, &v);
    if (st != DDPM_OK) return st;
    if (!parse_int_span(v, strlen(v), out)) return bad_value(R, key, v, "not a decimal integer");
    return DDPM_OK;
}

static ddpm_status get_double(meta_reader *R, const char *key, double *out) {
    const char *v = ddpm_st_meta(R->f, key);
    if (!v) return ddpm__fail(R->err, DDPM_ERR_CONFIG, "metadata key %s is missing", key);
    if (!ddpm_json_number_from_text(v, strlen(v), out)) return bad_value(R, key, v, "not a finite number");
    return DDPM_OK;
}

/* One of names[0..n) -> its index into *out. */
static ddpm_status get_choice(meta_reader *R, const char *key, const char *const *names, int n, int required,
                              int default_index, int *out, const char *expected) {
    const char *v = ddpm_st_meta(R->f, key);
    if (!v) {
        if (required) return ddpm__fail(R->err, DDPM_ERR_CONFIG, "metadata key %s is missing", key);
        *out = default_index;
        return DDPM_OK;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return DDPM_OK;
        }
    }
    return bad_value(R, key, v, expected);
}

ddpm_status ddpm_config_from_metadata(const ddpm_st_file *f, ddpm_model_config *cfg, ddpm_error *err) {
    if (!f || !cfg) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "config from metadata: NULL argument");
    /* ddpm__fail writes err only when non-NULL; keep a local one so statuses propagate either way. */
    ddpm_error local;
    meta_reader R = {f, err ? err : &local};
    ddpm_status st;
    memset(cfg, 0, sizeof *cfg);

    const char *v;
    if ((st = need(&R, "ddpm.format", &v)) != DDPM_OK) return st;
    if (strcmp(v, "1") != 0) {
        char vb[64];
        return ddpm__fail(err, DDPM_ERR_UNSUPPORTED, "metadata ddpm.format = \"%s\": only format \"1\" is supported",
                          ddpm_st_printable(v, vb, sizeof vb));
    }
    if ((st = get_int(&R, "ddpm.in_channels", &cfg->in_channels)) != DDPM_OK) return st;
    if ((st = get_int(&R, "ddpm.out_channels", &cfg->out_channels)) != DDPM_OK) return st;
    if ((st = get_int(&R, "ddpm.base_channels", &cfg->base_channels)) != DDPM_OK) return st;
    if ((st = need(&R, "ddpm.channel_mult", &v)) != DDPM_OK) return st;
    int n = parse_int_list(v, cfg->channel_mult, DDPM_MAX_LEVELS, 0);
    if (n == -2)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "metadata ddpm.channel_mult: more than %d levels", DDPM_MAX_LEVELS);
    if (n < 0) return bad_value(&R, "ddpm.channel_mult", v, "not a comma-separated list of integers");
    cfg->num_levels = n;
    if ((st = get_int(&R, "ddpm.num_res_blocks", &cfg->num_res_blocks)) != DDPM_OK) return st;
    if ((st = need(&R, "ddpm.attn_resolutions", &v)) != DDPM_OK) return st;
    n = parse_int_list(v, cfg->attn_resolutions, DDPM_MAX_LEVELS, 1);
    if (n == -2)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "metadata ddpm.attn_resolutions: more than %d entries",
                          DDPM_MAX_LEVELS);
    if (n < 0) return bad_value(&R, "ddpm.attn_resolutions", v, "not a comma-separated list of integers");
    cfg->num_attn_resolutions = n;
    if ((st = get_int(&R, "ddpm.groups", &cfg->groups)) != DDPM_OK) return st;
    if ((st = get_int(&R, "ddpm.num_classes", &cfg->num_classes)) != DDPM_OK) return st;
    if ((st = get_int(&R, "ddpm.image_size", &cfg->image_size)) != DDPM_OK) return st;

    static const char *const predictions[] = {"eps", "x0", "v"};
    static const char *const variances[] = {"fixed_small", "fixed_large"};
    static const char *const schedules[] = {"linear", "scaled_linear", "cosine", "sigmoid"};
    static const char *const bools[] = {"0", "1"};
    int k;
    if ((st = get_choice(&R, "ddpm.prediction", predictions, 3, 1, 0, &k, "expected eps, x0 or v")) != DDPM_OK)
        return st;
    cfg->prediction = (ddpm_prediction)k;
    if ((st = get_choice(&R, "ddpm.variance", variances, 2, 0, 0, &k, "expected fixed_small or fixed_large")) !=
        DDPM_OK)
        return st;
    cfg->variance = (ddpm_variance)k;
    if ((st = get_choice(&R, "ddpm.schedule", schedules, 4, 1, 0, &k,
                         "expected linear, scaled_linear, cosine or sigmoid")) != DDPM_OK)
        return st;
    cfg->schedule.kind = (ddpm_schedule_kind)k;
    if ((st = get_int(&R, "ddpm.num_timesteps", &cfg->schedule.num_timesteps)) != DDPM_OK) return st;
    int betas_optional = cfg->schedule.kind == DDPM_SCHEDULE_COSINE;
    cfg->schedule.beta_start = 1e-4;
    cfg->schedule.beta_end = 0.02;
    if (!betas_optional || ddpm_st_meta(f, "ddpm.beta_start"))
        if ((st = get_double(&R, "ddpm.beta_start", &cfg->schedule.beta_start)) != DDPM_OK) return st;
    if (!betas_optional || ddpm_st_meta(f, "ddpm.beta_end"))
        if ((st = get_double(&R, "ddpm.beta_end", &cfg->schedule.beta_end)) != DDPM_OK) return st;
    if ((st = get_choice(&R, "ddpm.rescale_zero_snr", bools, 2, 0, 0, &k, "expected 0 or 1")) != DDPM_OK) return st;
    cfg->schedule.rescale_zero_snr = k;
    /* the own-format fields first (they bound the products below), then the derived wiring, then everything */
    if ((st = validate_native(cfg, err)) != DDPM_OK) return st;
    ddpm_config_native_arch(cfg);
    return ddpm_config_validate(cfg, err);
}
