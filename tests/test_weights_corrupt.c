/*
 * Corrupt weights files: the safetensors parser (io/safetensors.h), the metadata config (io/config.h) and tensor
 * conversion must refuse each with the exact status, a one-line message, and no leak or out-of-bounds read (run the
 * suite under -DDDPM_SANITIZE=ON to check the latter).
 *
 * Part 1 builds files in memory from a valid toy file and mutates them. Part 2 loads the files of tests/data/corrupt/
 * (written by tests/data/make_corrupt.py, independently of this code) and checks the statuses in EXPECTED.txt.
 *
 * The "pipeline" a file goes through (the parser layer of a model load, without the U-Net binder):
 *     ddpm_st_parse -> ddpm_config_from_metadata -> ddpm_st_read_f32("conv.weight", [4, 1, 3, 3])
 *     -> ddpm_st_read_f32("conv.bias", [4]) -> ddpm_st_check_all_used
 */
#include "io/config.h"
#include "io/json.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_pass, g_fail;

static void report(int ok, const char *name, const char *detail) {
    if (ok) {
        g_pass++;
        printf("ok %s\n", name);
    } else {
        g_fail++;
        printf("FAIL %s: %s\n", name, detail);
    }
}

/* ---- a tiny safetensors writer --------------------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_reserve(sbuf *s, size_t extra) {
    if (s->len + extra + 1 <= s->cap) return;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + extra + 1) cap *= 2;
    s->p = realloc(s->p, cap);
    if (!s->p) abort();
    s->cap = cap;
}

static void sb_add(sbuf *s, const void *data, size_t n) {
    sb_reserve(s, n);
    memcpy(s->p + s->len, data, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void sb_printf(sbuf *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_reserve(s, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

#define MAX_META 32

typedef struct builder {
    const char *meta_keys[MAX_META];
    const char *meta_values[MAX_META];
    int num_meta;
    int with_meta;       /* write "__metadata__" */
    sbuf entries;        /* tensor entries, comma-separated, no braces */
    sbuf data;
    const char *header;  /* when set: the whole JSON header, verbatim */
    size_t header_pad;   /* trailing spaces after the JSON */
    int override_len;    /* write len_value instead of the real header length */
    uint64_t len_value;
} builder;

static void b_meta(builder *b, const char *key, const char *value) {
    for (int i = 0; i < b->num_meta; i++) {
        if (strcmp(b->meta_keys[i], key) == 0) {
            if (value) {
                b->meta_values[i] = value;
            } else { /* remove */
                for (int j = i + 1; j < b->num_meta; j++) {
                    b->meta_keys[j - 1] = b->meta_keys[j];
                    b->meta_values[j - 1] = b->meta_values[j];
                }
                b->num_meta--;
            }
            return;
        }
    }
    if (value && b->num_meta < MAX_META) {
        b->meta_keys[b->num_meta] = key;
        b->meta_values[b->num_meta++] = value;
    }
}

/* Appends a raw entry ("name":{...}) to the header. */
static void b_raw(builder *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (b->entries.len) sb_add(&b->entries, ",", 1);
    sb_add(&b->entries, tmp, strlen(tmp));
}

/* Appends a tensor whose data follows the data written so far. */
static void b_tensor(builder *b, const char *name, const char *dtype, int ndim, const int64_t *shape,
                     const void *bytes, size_t nbytes) {
    if (b->entries.len) sb_add(&b->entries, ",", 1);
    sb_printf(&b->entries, "\"%s\":{\"dtype\":\"%s\",\"shape\":[", name, dtype);
    for (int i = 0; i < ndim; i++) sb_printf(&b->entries, i ? ",%lld" : "%lld", (long long)shape[i]);
    sb_printf(&b->entries, "],\"data_offsets\":[%zu,%zu]}", b->data.len, b->data.len + nbytes);
    if (nbytes) sb_add(&b->data, bytes, nbytes);
}

static void b_init(builder *b) {
    memset(b, 0, sizeof *b);
    b->with_meta = 1;
    static const char *const kv[][2] = {
        {"ddpm.format", "1"},          {"ddpm.in_channels", "1"},    {"ddpm.out_channels", "1"},
        {"ddpm.base_channels", "4"},   {"ddpm.channel_mult", "1,2"}, {"ddpm.num_res_blocks", "1"},
        {"ddpm.attn_resolutions", "4"}, {"ddpm.groups", "2"},        {"ddpm.num_classes", "0"},
        {"ddpm.image_size", "8"},      {"ddpm.prediction", "eps"},   {"ddpm.schedule", "linear"},
        {"ddpm.num_timesteps", "10"},  {"ddpm.beta_start", "0.0001"}, {"ddpm.beta_end", "0.02"},
        {"dataset", "toy"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) b_meta(b, kv[i][0], kv[i][1]);
}

static float g_weight[36], g_bias[4];

static void init_values(void) {
    for (int i = 0; i < 36; i++) g_weight[i] = (float)(i - 18) * 0.0625f;
    for (int i = 0; i < 4; i++) g_bias[i] = (float)i * 0.5f - 1.0f;
}

static const int64_t W_SHAPE[4] = {4, 1, 3, 3}, B_SHAPE[1] = {4};

static void put_f32le(uint8_t *p, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

static void b_f32(builder *b, const char *name, int ndim, const int64_t *shape, const float *v, size_t n) {
    uint8_t *tmp = malloc(4 * n + 1);
    for (size_t i = 0; i < n; i++) put_f32le(tmp + 4 * i, v[i]);
    b_tensor(b, name, "F32", ndim, shape, tmp, 4 * n);
    free(tmp);
}

static void b_weight(builder *b) { b_f32(b, "conv.weight", 4, W_SHAPE, g_weight, 36); }
static void b_bias(builder *b) { b_f32(b, "conv.bias", 1, B_SHAPE, g_bias, 4); }

static void b_valid(builder *b) {
    b_init(b);
    b_weight(b);
    b_bias(b);
}

/* The finished file (malloc'd). */
static uint8_t *b_finish(builder *b, size_t *size) {
    sbuf h = {0};
    if (b->header) {
        sb_add(&h, b->header, strlen(b->header));
    } else {
        sb_add(&h, "{", 1);
        if (b->with_meta) {
            sb_add(&h, "\"__metadata__\":{", 16);
            for (int i = 0; i < b->num_meta; i++)
                sb_printf(&h, i ? ",\"%s\":\"%s\"" : "\"%s\":\"%s\"", b->meta_keys[i], b->meta_values[i]);
            sb_add(&h, "}", 1);
            if (b->entries.len) sb_add(&h, ",", 1);
        }
        if (b->entries.len) sb_add(&h, b->entries.p, b->entries.len);
        sb_add(&h, "}", 1);
    }
    for (size_t i = 0; i < b->header_pad; i++) sb_add(&h, " ", 1);
    uint64_t L = b->override_len ? b->len_value : (uint64_t)h.len;
    *size = 8 + h.len + b->data.len;
    uint8_t *out = malloc(*size);
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(L >> (8 * i));
    memcpy(out + 8, h.p, h.len);
    if (b->data.len) memcpy(out + 8 + h.len, b->data.p, b->data.len);
    free(h.p);
    free(b->entries.p);
    free(b->data.p);
    b->entries.p = b->data.p = NULL;
    return out;
}

/* ---- the pipeline ---------------------------------------------------------------------------------------------- */

static float g_w_out[36], g_b_out[4];

static ddpm_status pipeline(const uint8_t *buf, size_t size, ddpm_error *err) {
    ddpm_st_file *f = NULL;
    ddpm_status st = ddpm_st_parse(buf, size, &f, err);
    if (st != DDPM_OK) {
        if (f) return ddpm__fail(err, DDPM_ERR_STATE, "parse failed but returned a file");
        return st;
    }
    ddpm_model_config cfg;
    if ((st = ddpm_config_from_metadata(f, &cfg, err)) == DDPM_OK &&
        (st = ddpm_st_read_f32(f, "conv.weight", 4, W_SHAPE, g_w_out, err)) == DDPM_OK &&
        (st = ddpm_st_read_f32(f, "conv.bias", 1, B_SHAPE, g_b_out, err)) == DDPM_OK)
        st = ddpm_st_check_all_used(f, err);
    ddpm_st_free(f);
    return st;
}

static int status_from_name(const char *s, ddpm_status *out) {
    static const struct { const char *name; ddpm_status st; } names[] = {
        {"DDPM_OK", DDPM_OK},
        {"DDPM_ERR_INVALID_ARGUMENT", DDPM_ERR_INVALID_ARGUMENT},
        {"DDPM_ERR_OUT_OF_MEMORY", DDPM_ERR_OUT_OF_MEMORY},
        {"DDPM_ERR_TOO_LARGE", DDPM_ERR_TOO_LARGE},
        {"DDPM_ERR_IO", DDPM_ERR_IO},
        {"DDPM_ERR_FORMAT", DDPM_ERR_FORMAT},
        {"DDPM_ERR_UNSUPPORTED", DDPM_ERR_UNSUPPORTED},
        {"DDPM_ERR_SHAPE", DDPM_ERR_SHAPE},
        {"DDPM_ERR_MISSING_TENSOR", DDPM_ERR_MISSING_TENSOR},
        {"DDPM_ERR_CONFIG", DDPM_ERR_CONFIG},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].st;
            return 1;
        }
    return 0;
}

/* Runs buf through the pipeline and checks the status and the message (non-empty, one line, mentioning `needle`
 * when given). Frees buf. */
static void expect_buf(const char *name, uint8_t *buf, size_t size, ddpm_status expected, const char *needle) {
    ddpm_error err;
    memset(&err, 0x55, sizeof err);
    ddpm_status st = pipeline(buf, size, &err);
    char detail[512];
    int ok = st == expected && err.status == st;
    if (ok && st != DDPM_OK) {
        const char *nul = memchr(err.message, '\0', sizeof err.message);
        ok = nul && nul != err.message && !strchr(err.message, '\n');
        if (ok && needle && !strstr(err.message, needle)) ok = 0;
    }
    snprintf(detail, sizeof detail, "expected %s, got %s (\"%.200s\")", ddpm_status_str(expected),
             ddpm_status_str(st), err.status == st ? err.message : "(err not set)");
    report(ok, name, detail);
    if (getenv("DDPM_TEST_VERBOSE")) printf("    -> %s: %s\n", ddpm_status_str(st), err.status == st ? err.message : "");
    free(buf);
}

static void expect_builder(const char *name, builder *b, ddpm_status expected, const char *needle) {
    size_t size;
    uint8_t *buf = b_finish(b, &size);
    expect_buf(name, buf, size, expected, needle);
}

/* ---- part 1: in-memory cases ----------------------------------------------------------------------------------- */

static uint16_t f32_to_f16_simple(float v) {
    /* exact for the values used here (multiples of 1/16 in [-2, 2]) */
    if (v == 0.0f) return 0;
    uint32_t u;
    memcpy(&u, &v, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    int e = (int)((u >> 23) & 0xFF) - 127 + 15;
    return (uint16_t)(sign | (e << 10) | ((u >> 13) & 0x3FF));
}

static void test_valid_variants(void) {
    builder b;
    b_valid(&b);
    expect_builder("valid_f32", &b, DDPM_OK, NULL);
    int same = memcmp(g_w_out, g_weight, sizeof g_weight) == 0 && memcmp(g_b_out, g_bias, sizeof g_bias) == 0;
    report(same, "valid_f32_values", "values differ");

    /* F16 weight */
    b_init(&b);
    uint8_t h[72];
    for (int i = 0; i < 36; i++) {
        uint16_t v = f32_to_f16_simple(g_weight[i]);
        h[2 * i] = (uint8_t)v;
        h[2 * i + 1] = (uint8_t)(v >> 8);
    }
    b_tensor(&b, "conv.weight", "F16", 4, W_SHAPE, h, sizeof h);
    b_bias(&b);
    expect_builder("valid_f16", &b, DDPM_OK, NULL);
    report(memcmp(g_w_out, g_weight, sizeof g_weight) == 0, "valid_f16_values", "values differ");

    /* I8 weight with a per-row scale: w = scale[o] * q */
    b_init(&b);
    int8_t q[36];
    for (int i = 0; i < 36; i++) q[i] = (int8_t)(i * 7 - 127);
    float scale[4] = {0.5f, 0.25f, 2.0f, 1.0f};
    b_tensor(&b, "conv.weight", "I8", 4, W_SHAPE, q, sizeof q);
    b_f32(&b, "conv.weight_scale", 1, B_SHAPE, scale, 4);
    b_bias(&b);
    expect_builder("valid_i8", &b, DDPM_OK, NULL);
    int good = 1;
    for (int i = 0; i < 36; i++) good &= g_w_out[i] == scale[i / 9] * (float)q[i];
    report(good, "valid_i8_values", "values differ");

    /* Odd header length: every tensor's data is unaligned in the buffer. */
    b_valid(&b);
    b.header_pad = 3;
    expect_builder("valid_unaligned_data", &b, DDPM_OK, NULL);
    report(memcmp(g_w_out, g_weight, sizeof g_weight) == 0, "valid_unaligned_values", "values differ");

    /* A gap between tensors and tensors out of data order are fine. */
    b_init(&b);
    uint8_t wb[144], bb[16];
    for (int i = 0; i < 36; i++) put_f32le(wb + 4 * i, g_weight[i]);
    for (int i = 0; i < 4; i++) put_f32le(bb + 4 * i, g_bias[i]);
    sb_add(&b.data, bb, 16);
    sb_add(&b.data, "gap!", 4);
    sb_add(&b.data, wb, 144);
    b_raw(&b, "\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[4,1,3,3],\"data_offsets\":[20,164]}");
    b_raw(&b, "\"conv.bias\":{\"shape\":[4],\"data_offsets\":[0,16],\"dtype\":\"F32\"}");
    expect_builder("valid_gap_and_order", &b, DDPM_OK, NULL);
    report(memcmp(g_w_out, g_weight, sizeof g_weight) == 0 && memcmp(g_b_out, g_bias, sizeof g_bias) == 0,
           "valid_gap_values", "values differ");

    /* Cosine schedule without betas; optional keys. */
    b_valid(&b);
    b_meta(&b, "ddpm.schedule", "cosine");
    b_meta(&b, "ddpm.beta_start", NULL);
    b_meta(&b, "ddpm.beta_end", NULL);
    b_meta(&b, "ddpm.variance", "fixed_large");
    b_meta(&b, "ddpm.rescale_zero_snr", "1");
    b_meta(&b, "ddpm.attn_resolutions", "");
    expect_builder("valid_cosine_optional_keys", &b, DDPM_OK, NULL);
}

static void test_container(void) {
    builder b;
    size_t size;
    uint8_t *buf;

    buf = malloc(5);
    memset(buf, 0, 5);
    expect_buf("file_shorter_than_8_bytes", buf, 5, DDPM_ERR_FORMAT, "too short");
    expect_buf("empty_file", malloc(1), 0, DDPM_ERR_FORMAT, NULL);

    b_valid(&b);
    b.override_len = 1;
    b.len_value = 0;
    expect_builder("header_length_zero", &b, DDPM_ERR_FORMAT, "length is 0");

    b_valid(&b);
    buf = b_finish(&b, &size);
    uint64_t L = 0;
    for (int i = 7; i >= 0; i--) L = (L << 8) | buf[i];
    expect_buf("truncated_header", buf, 8 + (size_t)L / 2, DDPM_ERR_FORMAT, "past the end");

    b_valid(&b);
    b.override_len = 1;
    b.len_value = 1u << 20;
    expect_builder("header_length_past_end", &b, DDPM_ERR_FORMAT, "past the end");

    b_valid(&b);
    b.override_len = 1;
    b.len_value = (uint64_t)1 << 40;
    expect_builder("header_length_huge", &b, DDPM_ERR_TOO_LARGE, NULL);

    b_valid(&b);
    b.override_len = 1;
    b.len_value = UINT64_MAX;
    expect_builder("header_length_u64_max", &b, DDPM_ERR_TOO_LARGE, NULL);

    /* The length stops inside the JSON (the data section starts early): a JSON error. */
    b_valid(&b);
    buf = b_finish(&b, &size);
    L = 0;
    for (int i = 7; i >= 0; i--) L = (L << 8) | buf[i];
    L -= 10;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(L >> (8 * i));
    expect_buf("header_json_cut_short", buf, size, DDPM_ERR_FORMAT, "JSON");

    b_valid(&b);
    b.header = "{\"__metadata__\":{\"a\":\"b\"},\"x\":}";
    expect_builder("bad_json", &b, DDPM_ERR_FORMAT, "JSON");

    b_valid(&b);
    b.header = "[1,2,3]";
    expect_builder("header_not_an_object", &b, DDPM_ERR_FORMAT, "not a JSON object");

    b_valid(&b);
    b.header = "\"conv.weight\"";
    expect_builder("header_is_a_string", &b, DDPM_ERR_FORMAT, "not a JSON object");

    b_valid(&b);
    b.header = "{} {}";
    expect_builder("trailing_garbage", &b, DDPM_ERR_FORMAT, "after the JSON value");

    b_valid(&b);
    b.header = "{\"a\":1,\"a\":2}";
    expect_builder("duplicate_key", &b, DDPM_ERR_FORMAT, "duplicate key");

    b_valid(&b);
    b.header = "{\"__metadata__\":{\"x\":\"y\"}}";
    expect_builder("empty_header_object_no_config", &b, DDPM_ERR_CONFIG, "ddpm.format");

    {
        char deep[256] = "{\"__metadata__\":";
        for (int i = 0; i < 17; i++) strcat(deep, "[");
        for (int i = 0; i < 17; i++) strcat(deep, "]");
        strcat(deep, "}");
        b_valid(&b);
        b.header = deep;
        expect_builder("nesting_too_deep", &b, DDPM_ERR_FORMAT, "nesting");
    }

    /* Header padded with spaces (as the reference writer aligns the data section): fine. */
    b_valid(&b);
    b.header_pad = 8;
    expect_builder("header_space_padding", &b, DDPM_OK, NULL);

    /* Too many tensors: 10001 empty ones. */
    b_valid(&b);
    for (int i = 0; i < 10001; i++) b_raw(&b, "\"e%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}", i);
    expect_builder("too_many_tensors", &b, DDPM_ERR_TOO_LARGE, "tensors");

    /* Too many JSON values: the parser stops at DDPM_ST_MAX_JSON_VALUES, before building a huge tree. */
    {
        sbuf h = {0};
        sb_printf(&h, "%s", "{\"x\":[0");
        for (size_t i = 0; i < DDPM_ST_MAX_JSON_VALUES; i++) sb_add(&h, ",0", 2);
        sb_add(&h, "]}", 2);
        b_valid(&b);
        b.header = h.p;
        expect_builder("too_many_json_values", &b, DDPM_ERR_TOO_LARGE, "values");
        free(h.p);
    }
    /* Too many metadata entries. */
    {
        sbuf h = {0};
        sb_printf(&h, "%s", "{\"__metadata__\":{\"m0\":\"\"");
        for (int i = 1; i <= DDPM_ST_MAX_METADATA; i++) sb_printf(&h, ",\"m%d\":\"\"", i);
        sb_add(&h, "}}", 2);
        b_valid(&b);
        b.header = h.p;
        expect_builder("too_many_metadata_entries", &b, DDPM_ERR_TOO_LARGE, "__metadata__");
        free(h.p);
    }
}

static void test_tensor_entries(void) {
    builder b;
    static const struct {
        const char *name;
        const char *entry;
        ddpm_status expected;
        const char *needle;
    } cases[] = {
        {"unknown_dtype_u16", "\"x\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]}", DDPM_ERR_UNSUPPORTED,
         "U16"},
        {"unknown_dtype_f64", "\"x\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}", DDPM_ERR_UNSUPPORTED,
         "F64"},
        {"unknown_dtype_i32", "\"x\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}", DDPM_ERR_UNSUPPORTED,
         "I32"},
        {"unknown_dtype_made_up", "\"x\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,8]}",
         DDPM_ERR_UNSUPPORTED, "unknown dtype"},
        {"dtype_lowercase", "\"x\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}", DDPM_ERR_UNSUPPORTED,
         NULL},
        {"dtype_not_string", "\"x\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}", DDPM_ERR_FORMAT, "dtype"},
        {"rank_5", "\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}", DDPM_ERR_UNSUPPORTED,
         "rank 5"},
        {"negative_dim", "\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}", DDPM_ERR_FORMAT,
         "negative"},
        {"dim_not_integer", "\"x\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}", DDPM_ERR_FORMAT,
         "integer"},
        {"shape_not_array", "\"x\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}", DDPM_ERR_FORMAT,
         "shape"},
        {"element_count_overflow",
         "\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],\"data_offsets\":[0,8]}",
         DDPM_ERR_FORMAT, "overflow"},
        {"byte_size_overflow", "\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,2],\"data_offsets\":[0,8]}",
         DDPM_ERR_FORMAT, "overflow"},
        {"dim_beyond_int64", "\"x\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808],\"data_offsets\":[0,8]}",
         DDPM_ERR_FORMAT, "64 bits"},
        {"shape_bytes_mismatch", "\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}", DDPM_ERR_FORMAT,
         "need 12 bytes"},
        {"offsets_out_of_range", "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[176,184]}", DDPM_ERR_FORMAT,
         "past the data section"},
        {"offsets_overlap", "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[140,148]}", DDPM_ERR_FORMAT,
         "overlap"},
        {"offsets_begin_gt_end", "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,8]}", DDPM_ERR_FORMAT,
         "begin"},
        {"offsets_negative", "\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-4,-4]}", DDPM_ERR_FORMAT,
         "negative"},
        {"offsets_three_items", "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]}", DDPM_ERR_FORMAT,
         "data_offsets"},
        {"offsets_not_array", "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":8}", DDPM_ERR_FORMAT,
         "data_offsets"},
        {"missing_dtype", "\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}", DDPM_ERR_FORMAT, "dtype"},
        {"missing_shape", "\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}", DDPM_ERR_FORMAT, "shape"},
        {"missing_offsets", "\"x\":{\"dtype\":\"F32\",\"shape\":[2]}", DDPM_ERR_FORMAT, "data_offsets"},
        {"unknown_field", "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}",
         DDPM_ERR_FORMAT, "unknown field"},
        {"entry_not_object", "\"x\":[1,2]", DDPM_ERR_FORMAT, "not an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b_valid(&b); /* data section: weight [0,144), bias [144,160) */
        b_raw(&b, "%s", cases[i].entry);
        expect_builder(cases[i].name, &b, cases[i].expected, cases[i].needle);
    }
    /* The overlap must be found whatever the header order: put the overlapping tensor first. */
    b_init(&b);
    b_raw(&b, "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}");
    b_weight(&b);
    b_bias(&b);
    expect_builder("offsets_overlap_first", &b, DDPM_ERR_FORMAT, "overlap");
    /* Two identical spans. */
    b_init(&b);
    b_weight(&b);
    b_bias(&b);
    b_raw(&b, "\"conv.bias2\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[144,160]}");
    expect_builder("offsets_identical", &b, DDPM_ERR_FORMAT, "overlap");
}

static void test_metadata(void) {
    builder b;
    b_valid(&b);
    b.with_meta = 0;
    expect_builder("missing_metadata", &b, DDPM_ERR_CONFIG, "ddpm.format");

    b_init(&b);
    b.with_meta = 0;
    b_raw(&b, "\"__metadata__\":[\"ddpm.format\",\"1\"]");
    b_weight(&b);
    b_bias(&b);
    expect_builder("metadata_not_object", &b, DDPM_ERR_FORMAT, "__metadata__");

    b_init(&b);
    b.with_meta = 0;
    b_raw(&b, "\"__metadata__\":{\"ddpm.format\":1}");
    b_weight(&b);
    b_bias(&b);
    expect_builder("metadata_value_not_string", &b, DDPM_ERR_FORMAT, "not a string");

    b_init(&b);
    b.with_meta = 0;
    b_raw(&b, "\"__metadata__\":{\"ddpm.format\":\"1\\u0000\"}");
    b_weight(&b);
    b_bias(&b);
    expect_builder("metadata_value_with_nul", &b, DDPM_ERR_FORMAT, "NUL");

    static const struct {
        const char *name, *key, *value;
        ddpm_status expected;
        const char *needle;
    } cases[] = {
        {"meta_missing_format", "ddpm.format", NULL, DDPM_ERR_CONFIG, "ddpm.format"},
        {"meta_format_2", "ddpm.format", "2", DDPM_ERR_UNSUPPORTED, "ddpm.format"},
        {"meta_missing_groups", "ddpm.groups", NULL, DDPM_ERR_CONFIG, "ddpm.groups"},
        {"meta_missing_channel_mult", "ddpm.channel_mult", NULL, DDPM_ERR_CONFIG, "ddpm.channel_mult"},
        {"meta_missing_attn_resolutions", "ddpm.attn_resolutions", NULL, DDPM_ERR_CONFIG, "ddpm.attn_resolutions"},
        {"meta_missing_beta_start", "ddpm.beta_start", NULL, DDPM_ERR_CONFIG, "ddpm.beta_start"},
        {"meta_int_trailing_junk", "ddpm.image_size", "8x", DDPM_ERR_CONFIG, "ddpm.image_size"},
        {"meta_int_leading_space", "ddpm.image_size", " 8", DDPM_ERR_CONFIG, "ddpm.image_size"},
        {"meta_int_plus_sign", "ddpm.image_size", "+8", DDPM_ERR_CONFIG, "ddpm.image_size"},
        {"meta_int_leading_zero", "ddpm.image_size", "08", DDPM_ERR_CONFIG, "ddpm.image_size"},
        {"meta_int_empty", "ddpm.image_size", "", DDPM_ERR_CONFIG, "ddpm.image_size"},
        {"meta_int_overflow", "ddpm.image_size", "99999999999999999999", DDPM_ERR_CONFIG, "ddpm.image_size"},
        {"meta_image_size_too_large", "ddpm.image_size", "2048", DDPM_ERR_TOO_LARGE, "image_size"},
        {"meta_image_size_zero", "ddpm.image_size", "0", DDPM_ERR_CONFIG, "image_size"},
        {"meta_image_size_odd_level", "ddpm.image_size", "7", DDPM_ERR_CONFIG, "odd"},
        {"meta_channels_zero", "ddpm.in_channels", "0", DDPM_ERR_CONFIG, "in_channels"},
        {"meta_channels_negative", "ddpm.out_channels", "-1", DDPM_ERR_CONFIG, "out_channels"},
        {"meta_channels_too_large", "ddpm.in_channels", "5000", DDPM_ERR_TOO_LARGE, "in_channels"},
        {"meta_base_channels_odd", "ddpm.base_channels", "5", DDPM_ERR_CONFIG, "base_channels"},
        {"meta_groups_not_dividing", "ddpm.groups", "3", DDPM_ERR_CONFIG, "groups"},
        {"meta_groups_zero", "ddpm.groups", "0", DDPM_ERR_CONFIG, "groups"},
        {"meta_channel_mult_empty_item", "ddpm.channel_mult", "1,,2", DDPM_ERR_CONFIG, "channel_mult"},
        {"meta_channel_mult_trailing_comma", "ddpm.channel_mult", "1,2,", DDPM_ERR_CONFIG, "channel_mult"},
        {"meta_channel_mult_space", "ddpm.channel_mult", "1, 2", DDPM_ERR_CONFIG, "channel_mult"},
        {"meta_channel_mult_empty", "ddpm.channel_mult", "", DDPM_ERR_CONFIG, "channel_mult"},
        {"meta_channel_mult_too_many", "ddpm.channel_mult", "1,1,1,1,1,1,1,1,1", DDPM_ERR_TOO_LARGE, "channel_mult"},
        {"meta_channel_mult_zero", "ddpm.channel_mult", "1,0", DDPM_ERR_CONFIG, "channel_mult"},
        {"meta_channel_mult_first_not_1", "ddpm.channel_mult", "2,2", DDPM_ERR_CONFIG, "channel_mult[0]"},
        {"meta_channel_mult_too_wide", "ddpm.channel_mult", "1,2048", DDPM_ERR_TOO_LARGE, "channel_mult"},
        {"meta_num_res_blocks_zero", "ddpm.num_res_blocks", "0", DDPM_ERR_CONFIG, "num_res_blocks"},
        {"meta_num_res_blocks_17", "ddpm.num_res_blocks", "17", DDPM_ERR_CONFIG, "num_res_blocks"},
        {"meta_num_classes_negative", "ddpm.num_classes", "-1", DDPM_ERR_CONFIG, "num_classes"},
        {"meta_num_classes_too_many", "ddpm.num_classes", "100001", DDPM_ERR_CONFIG, "num_classes"},
        {"meta_attn_res_bad", "ddpm.attn_resolutions", "4,x", DDPM_ERR_CONFIG, "attn_resolutions"},
        {"meta_attn_res_too_big", "ddpm.attn_resolutions", "16", DDPM_ERR_CONFIG, "attn_resolutions"},
        {"meta_prediction_unknown", "ddpm.prediction", "epsilon", DDPM_ERR_CONFIG, "ddpm.prediction"},
        {"meta_variance_unknown", "ddpm.variance", "learned", DDPM_ERR_CONFIG, "ddpm.variance"},
        {"meta_schedule_unknown", "ddpm.schedule", "quadratic", DDPM_ERR_CONFIG, "ddpm.schedule"},
        {"meta_timesteps_zero", "ddpm.num_timesteps", "0", DDPM_ERR_CONFIG, "num_timesteps"},
        {"meta_timesteps_too_many", "ddpm.num_timesteps", "100001", DDPM_ERR_TOO_LARGE, "num_timesteps"},
        {"meta_beta_not_number", "ddpm.beta_start", "abc", DDPM_ERR_CONFIG, "ddpm.beta_start"},
        {"meta_beta_nan", "ddpm.beta_end", "nan", DDPM_ERR_CONFIG, "ddpm.beta_end"},
        {"meta_beta_trailing_junk", "ddpm.beta_end", "0.02x", DDPM_ERR_CONFIG, "ddpm.beta_end"},
        {"meta_beta_order", "ddpm.beta_start", "0.5", DDPM_ERR_CONFIG, "beta_start"},
        {"meta_beta_one", "ddpm.beta_end", "1", DDPM_ERR_CONFIG, "beta_end"},
        {"meta_beta_overflow", "ddpm.beta_end", "1e999", DDPM_ERR_CONFIG, "ddpm.beta_end"},
        {"meta_rescale_bad", "ddpm.rescale_zero_snr", "yes", DDPM_ERR_CONFIG, "rescale_zero_snr"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b_valid(&b);
        b_meta(&b, cases[i].key, cases[i].value);
        expect_builder(cases[i].name, &b, cases[i].expected, cases[i].needle);
    }
    /* Exponent syntax is fine for betas. */
    b_valid(&b);
    b_meta(&b, "ddpm.beta_start", "1e-4");
    b_meta(&b, "ddpm.beta_end", "2E-2");
    expect_builder("meta_beta_exponent_ok", &b, DDPM_OK, NULL);
}

static void test_binding(void) {
    builder b;
    b_init(&b);
    b_weight(&b);
    expect_builder("missing_tensor", &b, DDPM_ERR_MISSING_TENSOR, "conv.bias");

    b_init(&b);
    b_weight(&b);
    float five[5] = {0};
    int64_t s5[1] = {5};
    b_f32(&b, "conv.bias", 1, s5, five, 5);
    expect_builder("wrong_shape", &b, DDPM_ERR_SHAPE, "expected shape [4], found [5]");

    b_init(&b);
    int64_t w3[3] = {4, 3, 3};
    b_f32(&b, "conv.weight", 3, w3, g_weight, 36);
    b_bias(&b);
    expect_builder("wrong_rank", &b, DDPM_ERR_SHAPE, "[4, 1, 3, 3]");

    int8_t q[36] = {0};
    float scale[4] = {1, 1, 1, 1};
    b_init(&b);
    b_tensor(&b, "conv.weight", "I8", 4, W_SHAPE, q, sizeof q);
    b_bias(&b);
    expect_builder("i8_without_scale", &b, DDPM_ERR_MISSING_TENSOR, "conv.weight_scale");

    b_init(&b);
    b_tensor(&b, "conv.weight", "I8", 4, W_SHAPE, q, sizeof q);
    int64_t s2[1] = {2};
    b_f32(&b, "conv.weight_scale", 1, s2, scale, 2);
    b_bias(&b);
    expect_builder("i8_scale_wrong_shape", &b, DDPM_ERR_SHAPE, "conv.weight_scale");

    b_init(&b);
    b_tensor(&b, "conv.weight", "I8", 4, W_SHAPE, q, sizeof q);
    uint8_t h8[8] = {0};
    b_tensor(&b, "conv.weight_scale", "F16", 1, B_SHAPE, h8, 8);
    b_bias(&b);
    expect_builder("i8_scale_wrong_dtype", &b, DDPM_ERR_SHAPE, "F32");

    b_init(&b);
    b_tensor(&b, "conv.weight", "I8", 4, W_SHAPE, q, sizeof q);
    float nscale[4] = {1, NAN, 1, 1};
    b_f32(&b, "conv.weight_scale", 1, B_SHAPE, nscale, 4);
    b_bias(&b);
    expect_builder("i8_scale_nan", &b, DDPM_ERR_FORMAT, "NaN/Inf");

    b_init(&b);
    q[3] = 127;
    float hscale[4] = {3e38f, 1, 1, 1};
    b_tensor(&b, "conv.weight", "I8", 4, W_SHAPE, q, sizeof q);
    b_f32(&b, "conv.weight_scale", 1, B_SHAPE, hscale, 4);
    b_bias(&b);
    expect_builder("i8_product_overflows", &b, DDPM_ERR_FORMAT, "NaN/Inf");

    b_init(&b);
    b_weight(&b);
    int8_t qb[4] = {1, 2, 3, 4};
    b_tensor(&b, "conv.bias", "I8", 1, B_SHAPE, qb, 4);
    b_f32(&b, "conv.bias_scale", 1, B_SHAPE, scale, 4);
    expect_builder("i8_rank_1", &b, DDPM_ERR_SHAPE, "rank");

    b_init(&b);
    float w[36];
    memcpy(w, g_weight, sizeof w);
    w[17] = NAN;
    b_f32(&b, "conv.weight", 4, W_SHAPE, w, 36);
    b_bias(&b);
    expect_builder("nan_in_data", &b, DDPM_ERR_FORMAT, "NaN/Inf");

    b_init(&b);
    b_weight(&b);
    uint8_t hb[8] = {0, 0, 0, 0x7C, 0, 0, 0, 0}; /* +inf in F16 */
    b_tensor(&b, "conv.bias", "F16", 1, B_SHAPE, hb, 8);
    expect_builder("inf_in_f16_data", &b, DDPM_ERR_FORMAT, "NaN/Inf");

    b_valid(&b);
    float extra[2] = {1, 2};
    int64_t s2b[1] = {2};
    b_f32(&b, "conv.extra", 1, s2b, extra, 2);
    expect_builder("unexpected_extra_tensor", &b, DDPM_ERR_FORMAT, "unexpected tensor conv.extra");

    b_valid(&b);
    b_f32(&b, "conv.weight_scale", 1, B_SHAPE, scale, 4); /* a scale for an F32 weight is not consumed */
    expect_builder("unused_scale_for_f32", &b, DDPM_ERR_FORMAT, "unexpected tensor conv.weight_scale");
}

static void test_api(void) {
    builder b;
    b_valid(&b);
    size_t size;
    uint8_t *buf = b_finish(&b, &size);
    ddpm_st_file *f = NULL;
    ddpm_error err;
    int ok = ddpm_st_parse(buf, size, &f, &err) == DDPM_OK && f && f->num_tensors == 2;
    ok = ok && strcmp(f->tensors[0].name, "conv.weight") == 0 && strcmp(f->tensors[1].name, "conv.bias") == 0;
    ok = ok && ddpm_st_find(f, "conv.bias") == &f->tensors[1] && ddpm_st_find(f, "conv") == NULL;
    ok = ok && f->tensors[0].ndim == 4 && f->tensors[0].num_elements == 36 && f->tensors[0].nbytes == 144;
    ok = ok && ddpm_st_meta(f, "dataset") && strcmp(ddpm_st_meta(f, "dataset"), "toy") == 0;
    ok = ok && ddpm_st_meta(f, "nope") == NULL && f->num_meta == 16 && strcmp(f->meta_keys[0], "ddpm.format") == 0;
    report(ok, "api_find_and_meta", "lookup failed");
    if (f) {
        ddpm_model_config cfg;
        ok = ddpm_config_from_metadata(f, &cfg, &err) == DDPM_OK && cfg.base_channels == 4 && cfg.num_levels == 2 &&
             cfg.channel_mult[1] == 2 && cfg.num_attn_resolutions == 1 && cfg.attn_resolutions[0] == 4 &&
             cfg.schedule.num_timesteps == 10 && cfg.schedule.beta_start == 1e-4 && cfg.schedule.beta_end == 0.02 &&
             cfg.variance == DDPM_VARIANCE_FIXED_SMALL && cfg.prediction == DDPM_PREDICT_EPS;
        report(ok, "api_config_values", err.message);
        /* NULL err is accepted everywhere */
        ok = ddpm_config_from_metadata(f, &cfg, NULL) == DDPM_OK &&
             ddpm_st_read_f32(f, "missing", 1, B_SHAPE, g_b_out, NULL) == DDPM_ERR_MISSING_TENSOR &&
             ddpm_st_check_all_used(f, NULL) == DDPM_ERR_FORMAT;
        report(ok, "api_null_err", "unexpected status");
        ok = ddpm_st_read_f32(f, "conv.bias", 5, B_SHAPE, g_b_out, &err) == DDPM_ERR_INVALID_ARGUMENT;
        report(ok, "api_bad_rank_argument", err.message);
    }
    ddpm_st_free(f);
    ddpm_st_free(NULL);
    free(buf);

    /* f16 conversion: specials and subnormals */
    struct { uint16_t h; float f; } t[] = {
        {0x0000, 0.0f}, {0x3C00, 1.0f}, {0xC000, -2.0f}, {0x7BFF, 65504.0f}, {0x0001, 5.9604644775390625e-8f},
        {0x03FF, 6.097555160522461e-5f}, {0x0400, 6.103515625e-5f}, {0x3555, 0.333251953125f}, {0x8001, -5.9604644775390625e-8f},
    };
    ok = 1;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) ok &= ddpm_f16_to_f32(t[i].h) == t[i].f;
    float ninf = ddpm_f16_to_f32(0xFC00), nan1 = ddpm_f16_to_f32(0x7E00), negz = ddpm_f16_to_f32(0x8000);
    ok &= isinf(ninf) && ninf < 0 && isnan(nan1) && negz == 0.0f && signbit(negz);
    /* every finite half round-trips through double exactly: check monotonicity over all positive finite halves */
    float prev = -1.0f;
    for (uint32_t h = 0; h < 0x7C00; h++) {
        float v = ddpm_f16_to_f32((uint16_t)h);
        if (!(v > prev)) ok = 0;
        prev = v;
    }
    report(ok, "f16_to_f32", "wrong conversion");
}

/* ---- part 2: the files of tests/data/corrupt/ ------------------------------------------------------------------ */

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, fp);
        n += r;
        if (r == 0) break;
    }
    fclose(fp);
    *size = n;
    return buf;
}

static void test_corpus_files(void) {
    const char *dir = "tests/data/corrupt";
    char path[512];
    snprintf(path, sizeof path, "%s/EXPECTED.txt", dir);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        report(0, "corpus_expected_txt", "cannot open tests/data/corrupt/EXPECTED.txt (run from the repo root)");
        return;
    }
    char line[512];
    int count = 0;
    while (fgets(line, sizeof line, fp)) {
        char file[256], status[64];
        if (line[0] == '#' || line[0] == '\n') continue;
        if (sscanf(line, "%255s %63s", file, status) != 2) continue;
        char name[300];
        snprintf(name, sizeof name, "file:%s", file);
        ddpm_status expected;
        if (!status_from_name(status, &expected)) {
            report(0, name, "unknown status name in EXPECTED.txt");
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, file);
        size_t size = 0;
        uint8_t *buf = read_file(path, &size);
        if (!buf) {
            report(0, name, "cannot read the file");
            continue;
        }
        /* Copy into an exact-size buffer so that ASan sees any read past the end. */
        uint8_t *exact = malloc(size ? size : 1);
        if (size) memcpy(exact, buf, size);
        free(buf);
        expect_buf(name, exact, size, expected, NULL);
        count++;
    }
    fclose(fp);
    report(count >= 20, "corpus_file_count", "fewer than 20 files listed in EXPECTED.txt");
}

int main(void) {
    init_values();
    test_valid_variants();
    test_container();
    test_tensor_entries();
    test_metadata();
    test_binding();
    test_api();
    test_corpus_files();
    printf("test_weights_corrupt: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
