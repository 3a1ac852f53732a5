/* A diffusers scheduler_config.json -> ddpm_scheduler_config; see scheduler_config.h for the keys and the contract. */
#include "io/scheduler_config.h"

#include "io/json.h"
#include "io/safetensors.h" /* ddpm_st_printable */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_NAME "scheduler_config.json"

/* Keys only some classes' __init__ take (diffusers v0.21.4); a class ignores the others, as diffusers does. */
enum {
    K_VARIANCE = 1 << 0,  /* variance_type */
    K_CLIP = 1 << 1,      /* clip_sample, clip_sample_range */
    K_THRESHOLD = 1 << 2, /* thresholding */
    K_ALPHA_ONE = 1 << 3, /* set_alpha_to_one */
    K_RESCALE = 1 << 4,   /* rescale_betas_zero_snr */
    K_SKIP_PRK = 1 << 5,  /* skip_prk_steps */
    K_SIGMOID = 1 << 6,   /* beta_schedule "sigmoid" is accepted */
    K_ALL = 0             /* taken by every class */
};

typedef struct scheduler_class {
    const char *name, *sampler;
    unsigned keys;
    int clip_sample, set_alpha_to_one; /* the __init__ defaults (DDPM's step always ends at abar = 1) */
    int sample_prediction;             /* prediction_type "sample" is accepted */
} scheduler_class;

static const scheduler_class classes[] = {
    {"DDPMScheduler", "ddpm", K_VARIANCE | K_CLIP | K_THRESHOLD | K_SIGMOID, 1, 1, 1},
    {"DDIMScheduler", "ddim", K_CLIP | K_THRESHOLD | K_ALPHA_ONE | K_RESCALE, 1, 1, 1},
    {"PNDMScheduler", "plms", K_ALPHA_ONE | K_SKIP_PRK, 0, 0, 0}, /* PNDM's step refuses "sample" */
};

typedef struct reader {
    const ddpm_json_value *root;
    const scheduler_class *cls;
    ddpm_error *err;
} reader;

/* A JSON value in a few words, for messages: "foo" (quoted), 12, 0.5, true, null, [3 entries], {...}. */
static const char *describe(const ddpm_json_value *v, char *buf, size_t size) {
    char s[48];
    if (!v) return "(absent)";
    switch (v->type) {
    case DDPM_JSON_NULL: snprintf(buf, size, "null"); break;
    case DDPM_JSON_BOOL: snprintf(buf, size, "%s", v->boolean ? "true" : "false"); break;
    case DDPM_JSON_INT: snprintf(buf, size, "%lld", (long long)v->integer); break;
    case DDPM_JSON_NUMBER: snprintf(buf, size, "%.9g", v->number); break;
    case DDPM_JSON_STRING: snprintf(buf, size, "\"%s\"", ddpm_st_printable(v->string, s, sizeof s)); break;
    case DDPM_JSON_ARRAY: snprintf(buf, size, "[%zu entries]", v->length); break;
    default: snprintf(buf, size, "{...}"); break;
    }
    return buf;
}

/* "scheduler_config.json: KEY = VALUE: WHY" with status st. */
static ddpm_status refuse(const reader *R, ddpm_status st, const char *key, const ddpm_json_value *v,
                          const char *why) {
    char b[64];
    return ddpm__fail(R->err, st, FILE_NAME ": %s = %s: %s", key, describe(v, b, sizeof b), why);
}

/* The member `key`, or NULL when it is absent or the class does not take it (keys: K_* flags, K_ALL for all). */
static const ddpm_json_value *member(const reader *R, const char *key, unsigned keys) {
    if (keys && !(R->cls->keys & keys)) return NULL;
    return ddpm_json_object_get(R->root, key);
}

static int is_number(const ddpm_json_value *v) { return v->type == DDPM_JSON_INT || v->type == DDPM_JSON_NUMBER; }

/* Boolean member; *out keeps its default when absent. */
static ddpm_status read_bool(const reader *R, const char *key, unsigned keys, int *out) {
    const ddpm_json_value *v = member(R, key, keys);
    if (!v) return DDPM_OK;
    if (v->type != DDPM_JSON_BOOL) return refuse(R, DDPM_ERR_CONFIG, key, v, "expected true or false");
    *out = v->boolean;
    return DDPM_OK;
}

/* Number member (integer or not); *out keeps its default when absent. */
static ddpm_status read_number(const reader *R, const char *key, unsigned keys, double *out) {
    const ddpm_json_value *v = member(R, key, keys);
    if (!v) return DDPM_OK;
    if (!is_number(v)) return refuse(R, DDPM_ERR_CONFIG, key, v, "expected a number");
    *out = v->number;
    return DDPM_OK;
}

/* String member that is one of names[] (NULL-terminated): *index = its position; absent: *index unchanged. Any
 * other value: DDPM_ERR_CONFIG "expected <expected>". */
static ddpm_status read_choice(const reader *R, const char *key, unsigned keys, const char *const *names,
                               const char *expected, int *index) {
    const ddpm_json_value *v = member(R, key, keys);
    if (!v) return DDPM_OK;
    if (v->type == DDPM_JSON_STRING)
        for (int i = 0; names[i]; i++)
            if (strcmp(v->string, names[i]) == 0) {
                *index = i;
                return DDPM_OK;
            }
    char why[128];
    snprintf(why, sizeof why, "expected %s", expected);
    return refuse(R, DDPM_ERR_CONFIG, key, v, why);
}

#define TRY(x)                                                                                                        \
    do {                                                                                                              \
        ddpm_status st_ = (x);                                                                                        \
        if (st_ != DDPM_OK) return st_;                                                                               \
    } while (0)

static ddpm_status read_class(reader *R) {
    const ddpm_json_value *v = ddpm_json_object_get(R->root, "_class_name");
    R->cls = &classes[0]; /* absent: DDPMScheduler */
    if (!v) return DDPM_OK;
    if (v->type != DDPM_JSON_STRING) return refuse(R, DDPM_ERR_CONFIG, "_class_name", v, "expected a string");
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strcmp(v->string, classes[i].name) == 0) {
            R->cls = &classes[i];
            return DDPM_OK;
        }
    const size_t n = strlen(v->string), tail = strlen("Scheduler");
    const int scheduler = n > tail && strcmp(v->string + n - tail, "Scheduler") == 0;
    return refuse(R, scheduler ? DDPM_ERR_UNSUPPORTED : DDPM_ERR_CONFIG, "_class_name", v,
                  scheduler ? "not supported (DDPMScheduler, DDIMScheduler and PNDMScheduler are)"
                            : "expected DDPMScheduler, DDIMScheduler or PNDMScheduler");
}

/* num_train_timesteps and trained_betas (c->betas is allocated here). */
static ddpm_status read_timesteps(const reader *R, ddpm_scheduler_config *c) {
    const ddpm_json_value *v = member(R, "num_train_timesteps", K_ALL);
    if (v) {
        if (v->type != DDPM_JSON_INT)
            return refuse(R, DDPM_ERR_CONFIG, "num_train_timesteps", v, "expected an integer");
        if (v->integer < 1) return refuse(R, DDPM_ERR_CONFIG, "num_train_timesteps", v, "must be at least 1");
        if (v->integer > DDPM_MAX_TIMESTEPS) {
            char why[64];
            snprintf(why, sizeof why, "exceeds DDPM_MAX_TIMESTEPS (%d)", DDPM_MAX_TIMESTEPS);
            return refuse(R, DDPM_ERR_TOO_LARGE, "num_train_timesteps", v, why);
        }
        c->schedule.num_timesteps = (int)v->integer;
    }
    const int T = c->schedule.num_timesteps;
    const ddpm_json_value *b = member(R, "trained_betas", K_ALL);
    if (!b || b->type == DDPM_JSON_NULL) return DDPM_OK;
    if (b->type != DDPM_JSON_ARRAY) return refuse(R, DDPM_ERR_CONFIG, "trained_betas", b, "expected a list or null");
    if (b->length == 0) return refuse(R, DDPM_ERR_CONFIG, "trained_betas", b, "must not be empty");
    if (b->length > DDPM_MAX_TIMESTEPS) {
        char why[64];
        snprintf(why, sizeof why, "more than DDPM_MAX_TIMESTEPS (%d)", DDPM_MAX_TIMESTEPS);
        return refuse(R, DDPM_ERR_TOO_LARGE, "trained_betas", b, why);
    }
    if (b->length != (size_t)T)
        return ddpm__fail(R->err, DDPM_ERR_CONFIG,
                          FILE_NAME ": trained_betas has %zu entries, num_train_timesteps = %d", b->length, T);
    for (size_t i = 0; i < b->length; i++) {
        const ddpm_json_value *e = &b->items[i];
        if (!is_number(e) || !(e->number > 0.0 && e->number <= 1.0)) {
            char key[48];
            snprintf(key, sizeof key, "trained_betas[%zu]", i);
            return refuse(R, DDPM_ERR_CONFIG, key, e, "expected a number in (0, 1]");
        }
    }
    c->betas = ddpm__malloc(sizeof(double) * b->length);
    if (!c->betas) return ddpm__fail(R->err, DDPM_ERR_OUT_OF_MEMORY, FILE_NAME ": out of memory");
    for (size_t i = 0; i < b->length; i++) c->betas[i] = b->items[i].number;
    c->schedule.kind = DDPM_SCHEDULE_CUSTOM;
    c->schedule.betas = c->betas;
    return DDPM_OK;
}

/* beta_start, beta_end, beta_schedule (not read when trained_betas are given: diffusers never looks at it then),
 * rescale_betas_zero_snr. */
static ddpm_status read_betas(const reader *R, ddpm_scheduler_config *c) {
    ddpm_schedule_params *s = &c->schedule;
    TRY(read_number(R, "beta_start", K_ALL, &s->beta_start));
    TRY(read_number(R, "beta_end", K_ALL, &s->beta_end));
    TRY(read_bool(R, "rescale_betas_zero_snr", K_RESCALE, &s->rescale_zero_snr));
    if (s->kind == DDPM_SCHEDULE_CUSTOM) return DDPM_OK;
    static const char *const names[] = {"linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid", NULL};
    static const ddpm_schedule_kind kinds[] = {DDPM_SCHEDULE_LINEAR, DDPM_SCHEDULE_SCALED_LINEAR,
                                               DDPM_SCHEDULE_COSINE, DDPM_SCHEDULE_SIGMOID};
    int k = 0;
    TRY(read_choice(R, "beta_schedule", K_ALL, names, "linear, scaled_linear, squaredcos_cap_v2 or sigmoid", &k));
    if (kinds[k] == DDPM_SCHEDULE_SIGMOID && !(R->cls->keys & K_SIGMOID)) {
        char why[96];
        snprintf(why, sizeof why, "%s takes linear, scaled_linear or squaredcos_cap_v2", R->cls->name);
        return refuse(R, DDPM_ERR_CONFIG, "beta_schedule", ddpm_json_object_get(R->root, "beta_schedule"), why);
    }
    s->kind = kinds[k];
    if (s->kind != DDPM_SCHEDULE_COSINE && !(s->beta_start > 0.0 && s->beta_start <= s->beta_end && s->beta_end < 1.0))
        return ddpm__fail(R->err, DDPM_ERR_CONFIG,
                          FILE_NAME ": beta_start = %.9g, beta_end = %.9g: need 0 < beta_start <= beta_end < 1",
                          s->beta_start, s->beta_end);
    return DDPM_OK;
}

/* variance_type, clip_sample, clip_sample_range, prediction_type, thresholding. */
static ddpm_status read_prediction(const reader *R, ddpm_scheduler_config *c) {
    static const char *const variances[] = {"fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log",
                                            "learned", "learned_range", NULL};
    int k = 0;
    TRY(read_choice(R, "variance_type", K_VARIANCE, variances,
                    "fixed_small, fixed_small_log, fixed_large or fixed_large_log", &k));
    if (k >= 4) /* the model predicts its variance too: a second output half this engine does not use */
        return refuse(R, DDPM_ERR_UNSUPPORTED, "variance_type", member(R, "variance_type", K_VARIANCE),
                      "learned variances are not supported");
    c->variance = k >= 2 ? DDPM_VARIANCE_FIXED_LARGE : DDPM_VARIANCE_FIXED_SMALL;

    TRY(read_bool(R, "clip_sample", K_CLIP, &c->clip_sample));
    TRY(read_number(R, "clip_sample_range", K_CLIP, &c->clip_sample_range));
    if (!(c->clip_sample_range > 0.0 && c->clip_sample_range <= 100.0))
        return refuse(R, DDPM_ERR_CONFIG, "clip_sample_range", member(R, "clip_sample_range", K_CLIP),
                      "expected a number in (0, 100]");

    static const char *const predictions[] = {"epsilon", "sample", "v_prediction", NULL};
    static const ddpm_prediction preds[] = {DDPM_PREDICT_EPS, DDPM_PREDICT_X0, DDPM_PREDICT_V};
    k = 0;
    if (R->cls->sample_prediction)
        TRY(read_choice(R, "prediction_type", K_ALL, predictions, "epsilon, sample or v_prediction", &k));
    else {
        static const char *const pndm[] = {"epsilon", "v_prediction", NULL};
        TRY(read_choice(R, "prediction_type", K_ALL, pndm, "epsilon or v_prediction (PNDMScheduler)", &k));
        k = k ? 2 : 0;
    }
    c->prediction = preds[k];

    int thresholding = 0;
    TRY(read_bool(R, "thresholding", K_THRESHOLD, &thresholding));
    if (thresholding)
        return refuse(R, DDPM_ERR_UNSUPPORTED, "thresholding", member(R, "thresholding", K_THRESHOLD),
                      "dynamic thresholding is not supported");
    return DDPM_OK;
}

/* timestep_spacing, steps_offset, set_alpha_to_one, skip_prk_steps. */
static ddpm_status read_sampling(const reader *R, ddpm_scheduler_config *c) {
    static const char *const spacings[] = {"leading", "trailing", "linspace", NULL};
    static const ddpm_spacing sp[] = {DDPM_SPACING_LEADING, DDPM_SPACING_TRAILING, DDPM_SPACING_LINSPACE};
    int k = 0;
    TRY(read_choice(R, "timestep_spacing", K_ALL, spacings, "leading, trailing or linspace", &k));
    c->spacing = sp[k];

    const ddpm_json_value *v = member(R, "steps_offset", K_ALL);
    if (v) {
        if (v->type != DDPM_JSON_INT || v->integer < 0 || v->integer >= c->schedule.num_timesteps) {
            char why[80];
            snprintf(why, sizeof why, "expected an integer in 0 .. num_train_timesteps - 1 (%d)",
                     c->schedule.num_timesteps - 1);
            return refuse(R, DDPM_ERR_CONFIG, "steps_offset", v, why);
        }
        c->steps_offset = (int)v->integer;
    }
    TRY(read_bool(R, "set_alpha_to_one", K_ALPHA_ONE, &c->set_alpha_to_one));

    if (R->cls->keys & K_SKIP_PRK) { /* diffusers' default is false: Runge-Kutta warm-up steps */
        int skip = 0;
        TRY(read_bool(R, "skip_prk_steps", K_SKIP_PRK, &skip));
        if (!skip) {
            v = member(R, "skip_prk_steps", K_SKIP_PRK);
            if (v) return refuse(R, DDPM_ERR_UNSUPPORTED, "skip_prk_steps", v, "PRK warm-up steps are not supported");
            return ddpm__fail(R->err, DDPM_ERR_UNSUPPORTED,
                              FILE_NAME ": PNDMScheduler without skip_prk_steps = true (its default is false: "
                                        "PRK warm-up steps, not supported)");
        }
    }
    return DDPM_OK;
}

void ddpm_scheduler_config_default(ddpm_scheduler_config *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    snprintf(out->class_name, sizeof out->class_name, "%s", classes[0].name);
    out->sampler = classes[0].sampler;
    out->schedule = ddpm_schedule_default_params();
    out->schedule.float32 = 1;
    out->prediction = DDPM_PREDICT_EPS;
    out->variance = DDPM_VARIANCE_FIXED_SMALL;
    out->clip_sample = classes[0].clip_sample;
    out->clip_sample_range = 1.0;
    out->spacing = DDPM_SPACING_LEADING;
    out->steps_offset = 0;
    out->set_alpha_to_one = classes[0].set_alpha_to_one;
}

void ddpm_scheduler_config_free(ddpm_scheduler_config *c) {
    if (!c) return;
    free(c->betas);
    c->betas = NULL;
    c->schedule.betas = NULL;
}

static ddpm_status read_all(reader *R, ddpm_scheduler_config *c) {
    TRY(read_class(R));
    snprintf(c->class_name, sizeof c->class_name, "%s", R->cls->name);
    c->sampler = R->cls->sampler;
    c->clip_sample = R->cls->clip_sample;
    c->set_alpha_to_one = R->cls->set_alpha_to_one;
    TRY(read_timesteps(R, c));
    TRY(read_betas(R, c));
    TRY(read_prediction(R, c));
    TRY(read_sampling(R, c));
    /* what the schedule itself refuses (e.g. a rescale with T = 1, betas so small that 1 - abar_0 rounds to 0) */
    ddpm_schedule *s = NULL;
    ddpm_error e;
    ddpm_status st = ddpm_schedule_create(&c->schedule, &s, &e);
    ddpm_schedule_free(s);
    if (st != DDPM_OK) /* out of memory stays out of memory; anything else is the config's fault */
        return ddpm__fail(R->err, st == DDPM_ERR_OUT_OF_MEMORY ? st : DDPM_ERR_CONFIG, FILE_NAME ": %s", e.message);
    return DDPM_OK;
}

ddpm_status ddpm_scheduler_config_parse(const char *text, size_t len, ddpm_scheduler_config *out, ddpm_error *err) {
    if (!out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, FILE_NAME ": NULL argument");
    ddpm_scheduler_config_default(out);
    if (!text) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, FILE_NAME ": NULL argument");
    ddpm_error local;
    if (!err) err = &local;
    ddpm_json *doc = NULL;
    /* a trained_betas list of DDPM_MAX_TIMESTEPS entries plus a few hundred other values */
    ddpm_status st = ddpm_json_parse_limited(text, len, (size_t)DDPM_MAX_TIMESTEPS + 1024, &doc, err);
    if (st != DDPM_OK) {
        char msg[sizeof err->message];
        memcpy(msg, err->message, sizeof msg);
        return ddpm__fail(err, st, FILE_NAME ": %s", msg);
    }
    reader R = {ddpm_json_root(doc), &classes[0], err};
    if (R.root->type != DDPM_JSON_OBJECT)
        st = ddpm__fail(err, DDPM_ERR_FORMAT, FILE_NAME ": the root is not an object");
    else
        st = read_all(&R, out);
    ddpm_json_free(doc);
    if (st != DDPM_OK) {
        ddpm_scheduler_config_free(out);
        ddpm_scheduler_config_default(out);
        return st;
    }
    ddpm__ok(err);
    return DDPM_OK;
}
