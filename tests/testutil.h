/* Tiny helpers shared by the C tests: checks that count, file reading, golden tensors. */
#ifndef DDPM_TESTUTIL_H
#define DDPM_TESTUTIL_H

#include "ddpm.h"
#include "io/json.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_pass, tu_fail;

#define CHECK(cond, ...)                                                                                              \
    do {                                                                                                              \
        if (cond) {                                                                                                   \
            tu_pass++;                                                                                                \
            printf("ok   ");                                                                                          \
        } else {                                                                                                      \
            tu_fail++;                                                                                                \
            printf("FAIL ");                                                                                          \
        }                                                                                                             \
        printf(__VA_ARGS__);                                                                                          \
        printf("\n");                                                                                                 \
    } while (0)

static inline int tu_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, tu_pass, tu_fail);
    return tu_fail ? 1 : 0;
}

static inline unsigned char *tu_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* A golden file: safetensors of F32 tensors written by training/golden.py. */
typedef struct tu_golden {
    unsigned char *buf;
    ddpm_st_file *file;
} tu_golden;

static inline int tu_golden_open(tu_golden *g, const char *path) {
    size_t n;
    g->buf = tu_read_file(path, &n);
    g->file = NULL;
    if (!g->buf) return 0;
    return ddpm_st_parse(g->buf, n, &g->file, NULL) == DDPM_OK;
}

/* A malloc'ed float copy of golden tensor `name` (NULL if absent); *count receives its element count. */
static inline float *tu_golden_get(tu_golden *g, const char *name, size_t *count) {
    const ddpm_st_tensor *t = ddpm_st_find(g->file, name);
    if (!t) return NULL;
    float *out = malloc(sizeof(float) * (t->num_elements ? t->num_elements : 1));
    if (ddpm_st_read_f32(g->file, name, t->ndim, t->shape, out, NULL) != DDPM_OK) {
        free(out);
        return NULL;
    }
    if (count) *count = t->num_elements;
    return out;
}

static inline void tu_golden_close(tu_golden *g) {
    ddpm_st_free(g->file);
    free(g->buf);
}

static inline double tu_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

/* Deterministic test inputs (xorshift), uniform in [lo, hi). */
static inline void tu_fill(float *x, size_t n, unsigned seed, float lo, float hi) {
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        x[i] = lo + (hi - lo) * (float)(s >> 8) / 16777216.0f;
    }
}

/* Any tensor of a safetensors file read as raw little-endian bytes, also where the file holds dtypes the weights
 * parser refuses (F64, I64: diffusers' goldens): the header is read with the JSON parser and the data copied out.
 * Returns the tensor's byte size, or 0 when it is absent, of another dtype, larger than cap or out of bounds. */
static inline size_t tu_raw_tensor(const unsigned char *buf, size_t size, const char *name, const char *dtype,
                                   void *out, size_t cap) {
    uint64_t hl = 0;
    if (size < 8) return 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | buf[i];
    if (hl > size - 8) return 0;
    ddpm_json *doc = NULL;
    if (ddpm_json_parse((const char *)buf + 8, (size_t)hl, &doc, NULL) != DDPM_OK) return 0;
    const ddpm_json_value *t = ddpm_json_object_get(ddpm_json_root(doc), name);
    const ddpm_json_value *dt = ddpm_json_object_get(t, "dtype"), *off = ddpm_json_object_get(t, "data_offsets");
    size_t bytes = 0;
    if (dt && dt->type == DDPM_JSON_STRING && strcmp(dt->string, dtype) == 0 && off && off->type == DDPM_JSON_ARRAY &&
        off->length == 2 && off->items[0].type == DDPM_JSON_INT && off->items[1].type == DDPM_JSON_INT) {
        const int64_t b = off->items[0].integer, e = off->items[1].integer;
        if (b >= 0 && e >= b && (uint64_t)(e - b) <= cap && (uint64_t)e <= size - 8 - hl) {
            bytes = (size_t)(e - b);
            memcpy(out, buf + 8 + hl + b, bytes);
        }
    }
    ddpm_json_free(doc);
    return bytes;
}

#endif
