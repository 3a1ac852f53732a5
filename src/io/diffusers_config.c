/* A diffusers UNet2DModel config.json -> ddpm_model_config; see diffusers_config.h for the keys and the contract. */
#include "io/diffusers_config.h"

#include "io/config.h"
#include "io/json.h"
#include "io/safetensors.h"

#include <math.h>
#include <string.h>

/* Every key UNet2DModel's constructor takes (v0.1 .. v0.3x); anything else is refused. */
static const char *const known_keys[] = {
    "sample_size", "in_channels", "out_channels", "center_input_sample", "time_embedding_type", "time_embedding_dim",
    "freq_shift", "flip_sin_to_cos", "down_block_types", "mid_block_type", "up_block_types", "block_out_channels",
    "layers_per_block", "mid_block_scale_factor", "downsample_padding", "downsample_type", "upsample_type", "dropout",
    "act_fn", "attention_head_dim", "norm_num_groups", "attn_norm_num_groups", "norm_eps", "resnet_time_scale_shift",
    "add_attention", "class_embed_type", "num_class_embeds", "num_train_timesteps", NULL};

typedef struct reader {
    const ddpm_json_value *root;
    ddpm_error *err;
} reader;

static ddpm_status wrong_type(reader *R, const char *key, const char *expected) {
    return ddpm__fail(R->err, DDPM_ERR_CONFIG, "config.json: %s must be %s", key, expected);
}

/* An integer member in [lo, hi] (absent or, when nullable, null: *out = def; *is_null = 1 when null). Values above
 * too_large_at give DDPM_ERR_TOO_LARGE. */
static ddpm_status get_int(reader *R, const char *key, int def, int nullable, int lo, int hi, int *out) {
    const ddpm_json_value *v = ddpm_json_object_get(R->root, key);
    *out = def;
    if (!v || (nullable && v->type == DDPM_JSON_NULL)) return DDPM_OK;
    if (v->type != DDPM_JSON_INT) return wrong_type(R, key, nullable ? "an integer or null" : "an integer");
    if (v->integer < lo || v->integer > hi)
        return ddpm__fail(R->err, v->integer > hi ? DDPM_ERR_TOO_LARGE : DDPM_ERR_CONFIG,
                          "config.json: %s = %lld: must be %d .. %d", key, (long long)v->integer, lo, hi);
    *out = (int)v->integer;
    return DDPM_OK;
}

static ddpm_status get_number(reader *R, const char *key, double def, double *out) {
    const ddpm_json_value *v = ddpm_json_object_get(R->root, key);
    *out = def;
    if (!v) return DDPM_OK;
    if (v->type != DDPM_JSON_INT && v->type != DDPM_JSON_NUMBER) return wrong_type(R, key, "a number");
    *out = v->number;
    return DDPM_OK;
}

static ddpm_status get_bool(reader *R, const char *key, int def, int *out) {
    const ddpm_json_value *v = ddpm_json_object_get(R->root, key);
    *out = def;
    if (!v) return DDPM_OK;
    if (v->type != DDPM_JSON_BOOL) return wrong_type(R, key, "true or false");
    *out = v->boolean;
    return DDPM_OK;
}

/* A string member that must be one of allowed[] (NULL-terminated); absent: def (NULL def: absent is fine and
 * *out = -1); null: allowed only when null_ok, *out = -2. Any other string is DDPM_ERR_UNSUPPORTED naming it. */
static ddpm_status get_choice(reader *R, const char *key, const char *const *allowed, int def, int null_ok,
                              int *out) {
    const ddpm_json_value *v = ddpm_json_object_get(R->root, key);
    *out = def;
    if (!v) return DDPM_OK;
    if (v->type == DDPM_JSON_NULL) {
        if (null_ok) {
            *out = -2;
            return DDPM_OK;
        }
        return ddpm__fail(R->err, DDPM_ERR_UNSUPPORTED, "config.json: %s = null is not supported", key);
    }
    if (v->type != DDPM_JSON_STRING) return wrong_type(R, key, "a string");
    for (int i = 0; allowed[i]; i++)
        if (strcmp(v->string, allowed[i]) == 0) {
            *out = i;
            return DDPM_OK;
        }
    char vb[64];
    return ddpm__fail(R->err, DDPM_ERR_UNSUPPORTED, "config.json: %s = \"%s\" is not supported (supported: %s%s%s)",
                      key, ddpm_st_printable(v->string, vb, sizeof vb), allowed[0], allowed[1] ? ", " : "",
                      allowed[1] ? allowed[1] : "");
}

/* A list of block types, one per level: bit i of *mask set where entry i is attn_name. */
static ddpm_status get_blocks(reader *R, const char *key, const char *plain, const char *attn_name, int levels,
                              uint32_t *mask, int reverse) {
    const ddpm_json_value *v = ddpm_json_object_get(R->root, key);
    *mask = 0;
    if (!v) return ddpm__fail(R->err, DDPM_ERR_CONFIG, "config.json: %s is missing", key);
    if (v->type != DDPM_JSON_ARRAY) return wrong_type(R, key, "a list of block type names");
    if ((int)v->length != levels)
        return ddpm__fail(R->err, DDPM_ERR_CONFIG, "config.json: %s has %zu entries but block_out_channels has %d",
                          key, v->length, levels);
    for (int i = 0; i < levels; i++) {
        const ddpm_json_value *e = &v->items[i];
        if (e->type != DDPM_JSON_STRING) return wrong_type(R, key, "a list of block type names");
        const int level = reverse ? levels - 1 - i : i;
        if (strcmp(e->string, attn_name) == 0) *mask |= 1u << level;
        else if (strcmp(e->string, plain) != 0) {
            char vb[64];
            return ddpm__fail(R->err, DDPM_ERR_UNSUPPORTED, "config.json: %s[%d] = \"%s\" is not supported (%s or %s)",
                              key, i, ddpm_st_printable(e->string, vb, sizeof vb), plain, attn_name);
        }
    }
    return DDPM_OK;
}

#define TRY(expr)                                                                                                     \
    do {                                                                                                              \
        ddpm_status st_ = (expr);                                                                                     \
        if (st_ != DDPM_OK) return st_;                                                                               \
    } while (0)

static ddpm_status read_config(reader *R, ddpm_model_config *cfg) {
    const ddpm_json_value *root = R->root;
    ddpm_unet_arch *a = &cfg->arch;
    /* the class, then unknown keys, before any value */
    const ddpm_json_value *cls = ddpm_json_object_get(root, "_class_name");
    if (cls && (cls->type != DDPM_JSON_STRING || strcmp(cls->string, "UNet2DModel") != 0)) {
        char vb[64];
        const char *name = cls->type == DDPM_JSON_STRING ? ddpm_st_printable(cls->string, vb, sizeof vb) : "?";
        if (cls->type == DDPM_JSON_STRING && strcmp(cls->string, "UNet2DConditionModel") == 0)
            return ddpm__fail(R->err, DDPM_ERR_UNSUPPORTED,
                              "config.json: _class_name = UNet2DConditionModel is the UNet of a latent text-to-image "
                              "pipeline (e.g. Stable Diffusion), which this engine does not run; it runs "
                              "pixel-space UNet2DModel checkpoints");
        return ddpm__fail(R->err, DDPM_ERR_UNSUPPORTED, "config.json: _class_name = \"%s\": only UNet2DModel is supported",
                          name);
    }
    for (size_t i = 0; i < root->length; i++) {
        const char *k = root->members[i].key;
        if (k[0] == '_') continue;
        int known = 0;
        for (int j = 0; known_keys[j] && !known; j++) known = strcmp(k, known_keys[j]) == 0;
        if (!known) {
            char vb[64];
            return ddpm__fail(R->err, DDPM_ERR_UNSUPPORTED,
                              "config.json: unknown key \"%s\" (it may change the network in a way this engine does "
                              "not implement)", ddpm_st_printable(k, vb, sizeof vb));
        }
    }

    /* sample_size: an integer or a square [h, w] */
    const ddpm_json_value *ss = ddpm_json_object_get(root, "sample_size");
    if (!ss || ss->type == DDPM_JSON_NULL)
        return ddpm__fail(R->err, DDPM_ERR_CONFIG, "config.json: sample_size is missing (the image size is needed)");
    int64_t size = -1;
    if (ss->type == DDPM_JSON_INT) size = ss->integer;
    else if (ss->type == DDPM_JSON_ARRAY && ss->length == 2 && ss->items[0].type == DDPM_JSON_INT &&
             ss->items[1].type == DDPM_JSON_INT) {
        if (ss->items[0].integer != ss->items[1].integer)
            return ddpm__fail(R->err, DDPM_ERR_UNSUPPORTED, "config.json: sample_size = [%lld, %lld]: only square "
                              "images are supported", (long long)ss->items[0].integer, (long long)ss->items[1].integer);
        size = ss->items[0].integer;
    } else
        return wrong_type(R, "sample_size", "an integer or [height, width]");
    if (size < 1) return ddpm__fail(R->err, DDPM_ERR_CONFIG, "config.json: sample_size = %lld", (long long)size);
    if (size > DDPM_MAX_IMAGE_SIZE)
        return ddpm__fail(R->err, DDPM_ERR_TOO_LARGE, "config.json: sample_size = %lld exceeds %d", (long long)size,
                          DDPM_MAX_IMAGE_SIZE);
    cfg->image_size = (int)size;
    TRY(get_int(R, "in_channels", 3, 0, 1, DDPM_MAX_CHANNELS, &cfg->in_channels));
    TRY(get_int(R, "out_channels", 3, 0, 1, DDPM_MAX_CHANNELS, &cfg->out_channels));

    /* levels */
    const ddpm_json_value *bc = ddpm_json_object_get(root, "block_out_channels");
    static const int default_channels[4] = {224, 448, 672, 896};
    if (bc && bc->type != DDPM_JSON_ARRAY) return wrong_type(R, "block_out_channels", "a list of integers");
    const int levels = bc ? (int)(bc->length < 1000 ? bc->length : 1000) : 4;
    if (levels < 1) return ddpm__fail(R->err, DDPM_ERR_CONFIG, "config.json: block_out_channels is empty");
    if (levels > DDPM_MAX_LEVELS)
        return ddpm__fail(R->err, DDPM_ERR_TOO_LARGE, "config.json: block_out_channels has %d levels; the limit is %d",
                          levels, DDPM_MAX_LEVELS);
    cfg->num_levels = levels;
    for (int i = 0; i < levels; i++) {
        int64_t ch;
        if (bc) {
            if (bc->items[i].type != DDPM_JSON_INT) return wrong_type(R, "block_out_channels", "a list of integers");
            ch = bc->items[i].integer;
        } else {
            ch = default_channels[i]; /* levels == 4 here */
        }
        if (ch < 1) return ddpm__fail(R->err, DDPM_ERR_CONFIG, "config.json: block_out_channels[%d] = %lld", i,
                                      (long long)ch);
        if (ch > DDPM_MAX_CHANNELS)
            return ddpm__fail(R->err, DDPM_ERR_TOO_LARGE, "config.json: block_out_channels[%d] = %lld exceeds %d", i,
                              (long long)ch, DDPM_MAX_CHANNELS);
        a->level_channels[i] = (int)ch;
    }
    TRY(get_blocks(R, "down_block_types", "DownBlock2D", "AttnDownBlock2D", levels, &a->attn_down, 0));
    TRY(get_blocks(R, "up_block_types", "UpBlock2D", "AttnUpBlock2D", levels, &a->attn_up, 1));
    TRY(get_int(R, "layers_per_block", 2, 0, 1, 16, &cfg->num_res_blocks));

    static const char *const mid_types[] = {"UNetMidBlock2D", NULL};
    static const char *const conv_only[] = {"conv", NULL};
    static const char *const acts[] = {"silu", "swish", NULL};
    static const char *const shifts[] = {"default", NULL};
    static const char *const temb_types[] = {"positional", NULL};
    int k;
    TRY(get_choice(R, "mid_block_type", mid_types, 0, 0, &k));
    TRY(get_choice(R, "downsample_type", conv_only, 0, 0, &k));
    TRY(get_choice(R, "upsample_type", conv_only, 0, 0, &k));
    TRY(get_choice(R, "act_fn", acts, 0, 0, &k));
    TRY(get_choice(R, "resnet_time_scale_shift", shifts, 0, 0, &k));
    TRY(get_choice(R, "time_embedding_type", temb_types, 0, 0, &k));
    const ddpm_json_value *cet = ddpm_json_object_get(root, "class_embed_type");
    if (cet && cet->type != DDPM_JSON_NULL) {
        char vb[64];
        return ddpm__fail(R->err, DDPM_ERR_UNSUPPORTED, "config.json: class_embed_type = %s is not supported (null only)",
                          cet->type == DDPM_JSON_STRING ? ddpm_st_printable(cet->string, vb, sizeof vb) : "(not a string)");
    }

    double x;
    TRY(get_number(R, "mid_block_scale_factor", 1.0, &x));
    if (!(x > 0.0) || !isfinite(x))
        return ddpm__fail(R->err, DDPM_ERR_CONFIG, "config.json: mid_block_scale_factor = %g: must be > 0", x);
    a->mid_scale = (float)x;
    int pad;
    TRY(get_int(R, "downsample_padding", 1, 0, 0, 1000000, &pad));
    if (pad > 1)
        return ddpm__fail(R->err, DDPM_ERR_UNSUPPORTED, "config.json: downsample_padding = %d is not supported (0 or 1)",
                          pad);
    a->downsample_one_sided = pad == 0;
    TRY(get_number(R, "dropout", 0.0, &x)); /* inference: ignored */
    TRY(get_int(R, "attention_head_dim", 8, 1, 1, DDPM_MAX_CHANNELS, &a->head_dim));
    if (ddpm_json_object_get(root, "attention_head_dim") &&
        ddpm_json_object_get(root, "attention_head_dim")->type == DDPM_JSON_NULL)
        a->head_dim = 0;
    TRY(get_int(R, "norm_num_groups", 32, 0, 1, DDPM_MAX_CHANNELS, &cfg->groups));
    TRY(get_int(R, "attn_norm_num_groups", cfg->groups, 1, 1, DDPM_MAX_CHANNELS, &a->attn_groups));
    TRY(get_number(R, "norm_eps", 1e-5, &x));
    if (!(x > 0.0) || !(x <= 1.0)) return ddpm__fail(R->err, DDPM_ERR_CONFIG, "config.json: norm_eps = %g", x);
    a->norm_eps = (float)x;
    TRY(get_bool(R, "add_attention", 1, &a->mid_attention));
    TRY(get_int(R, "num_class_embeds", 0, 1, 1, 100000, &cfg->num_classes));
    TRY(get_int(R, "time_embedding_dim", 4 * a->level_channels[0], 1, 1, 4 * DDPM_MAX_CHANNELS, &a->temb_dim));
    TRY(get_bool(R, "flip_sin_to_cos", 1, &a->flip_sin_to_cos));
    TRY(get_int(R, "freq_shift", 0, 0, -DDPM_MAX_CHANNELS, DDPM_MAX_CHANNELS, &a->freq_shift));
    TRY(get_bool(R, "center_input_sample", 0, &a->center_input));
    TRY(get_int(R, "num_train_timesteps", 0, 1, 0, 1 << 30, &k)); /* only for learned time embeddings */
    a->null_class = 0;
    a->diffusers_names = 1;
    return DDPM_OK;
}

ddpm_status ddpm_diffusers_config_parse(const char *text, size_t len, ddpm_model_config *cfg, ddpm_error *err) {
    if (!text || !cfg) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "config.json: NULL argument");
    ddpm_error local;
    if (!err) err = &local;
    memset(cfg, 0, sizeof *cfg);
    ddpm_json *doc = NULL;
    ddpm_status st = ddpm_json_parse_limited(text, len, 100000, &doc, err);
    if (st != DDPM_OK) {
        if (st == DDPM_ERR_FORMAT) {
            char msg[sizeof err->message];
            memcpy(msg, err->message, sizeof msg);
            ddpm__fail(err, st, "config.json is not valid JSON: %s", msg);
        }
        return st;
    }
    reader R = {ddpm_json_root(doc), err};
    if (R.root->type != DDPM_JSON_OBJECT) {
        ddpm_json_free(doc);
        return ddpm__fail(err, DDPM_ERR_FORMAT, "config.json: the root is not an object");
    }
    st = read_config(&R, cfg);
    ddpm_json_free(doc);
    if (st != DDPM_OK) return st;
    /* the own-format fields, for display: base channels and multipliers where they divide */
    cfg->base_channels = cfg->arch.level_channels[0];
    for (int i = 0; i < cfg->num_levels; i++)
        cfg->channel_mult[i] = cfg->arch.level_channels[i] % cfg->base_channels == 0
                                   ? cfg->arch.level_channels[i] / cfg->base_channels
                                   : 0;
    cfg->prediction = DDPM_PREDICT_EPS;
    cfg->variance = DDPM_VARIANCE_FIXED_SMALL;
    cfg->schedule = ddpm_schedule_default_params();
    cfg->schedule.float32 = 1;
    return ddpm_config_validate(cfg, err);
}
