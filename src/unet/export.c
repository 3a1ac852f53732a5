/*
 * ddpm_model_export: a loaded model written back as one safetensors file, in F32, F16 or I8 (per-output-channel
 * scales, as training/export.py writes them), under the tensor names it was loaded with. A diffusers model's file
 * carries its config.json and scheduler_config.json texts in the metadata (diffusers.unet_config,
 * diffusers.scheduler_config), so that loading the file alone behaves exactly as loading the folder.
 */
#include "io/safetensors.h"
#include "core/sbuf.h"
#include "unet/model_internal.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char name[160];
    int ndim;
    int64_t shape[4];
    const float *data;
    size_t count;
    float *owned;      /* a compacted conv's weights expanded for writing (freed with the list) */
} entry;

typedef struct collect {
    entry *list;   /* NULL: count only */
    int n;
    const float *next; /* where a continuation (slot NULL) starts */
} collect;

static ddpm_status collect_visit(void *ctx, const char *name, const char *alt, int ndim, const int64_t *shape,
                                 float **slot, ddpm_error *err) {
    (void)alt;
    collect *c = ctx;
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (size_t)shape[i];
    const float *data = slot ? *slot : c->next;
    float *owned = NULL;
    if (slot && !*slot && c->list) { /* a compacted 3x3 conv (model.c): slot is &conv->w; expand its weights */
        const ddpm_conv *cv = ddpm_unet_conv_of_weight_slot(slot);
        owned = ddpm__malloc(sizeof(float) * (count ? count : 1));
        if (!owned) return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "export: out of memory");
        const size_t per = count / (size_t)shape[0];
        for (size_t i = 0; i < count; i++)
            owned[i] = cv->wh ? ddpm_f16_to_f32(cv->wh[i]) : cv->wscale[i / per] * (float)cv->wq[i];
        data = owned;
    }
    if (c->list) {
        entry *e = &c->list[c->n];
        snprintf(e->name, sizeof e->name, "%s", name);
        e->ndim = ndim;
        for (int i = 0; i < 4; i++) e->shape[i] = i < ndim ? shape[i] : 0;
        e->data = data;
        e->count = count;
        e->owned = owned;
    }
    c->n++;
    c->next = data ? data + count : NULL;
    return DDPM_OK;
}

static void put_entry(ddpm__sbuf *b, int *first, const char *name, const char *dtype, int ndim, const int64_t *shape,
                      size_t begin, size_t end) {
    char tmp[96];
    ddpm__sbuf_puts(b, *first ? "" : ",");
    *first = 0;
    ddpm__sbuf_json_string(b, name);
    ddpm__sbuf_puts(b, ":{\"dtype\":\"");
    ddpm__sbuf_puts(b, dtype);
    ddpm__sbuf_puts(b, "\",\"shape\":[");
    for (int i = 0; i < ndim; i++) {
        snprintf(tmp, sizeof tmp, "%s%lld", i ? "," : "", (long long)shape[i]);
        ddpm__sbuf_puts(b, tmp);
    }
    snprintf(tmp, sizeof tmp, "],\"data_offsets\":[%zu,%zu]}", begin, end);
    ddpm__sbuf_puts(b, tmp);
}

static void put_meta(ddpm__sbuf *b, int *first, const char *k, const char *v) {
    ddpm__sbuf_puts(b, *first ? "" : ",");
    *first = 0;
    ddpm__sbuf_json_string(b, k);
    ddpm__sbuf_puts(b, ":");
    ddpm__sbuf_json_string(b, v);
}

/* Bytes of the data for one entry in the chosen dtype (+ the I8 scale). */
static int is_i8(ddpm_dtype dt, const entry *e) { return dt == DDPM_DTYPE_I8 && e->ndim >= 2; }

static void put_data(ddpm__sbuf *b, ddpm_dtype dt, const entry *e, float *scale_out) {
    if (dt == DDPM_DTYPE_F16) {
        for (size_t i = 0; i < e->count; i++) {
            const uint16_t h = ddpm_f32_to_f16(e->data[i]);
            const unsigned char le[2] = {(unsigned char)h, (unsigned char)(h >> 8)};
            ddpm__sbuf_put(b, le, 2);
        }
    } else if (is_i8(dt, e)) {
        const size_t rows = (size_t)e->shape[0], per = e->count / rows;
        int8_t *q = ddpm__malloc(per ? per : 1);
        if (!q) {
            b->failed = 1;
            return;
        }
        for (size_t o = 0; o < rows; o++) {
            scale_out[o] = ddpm_quantize_row_i8(e->data + o * per, per, q);
            ddpm__sbuf_put(b, q, per);
        }
        free(q);
    } else {
        for (size_t i = 0; i < e->count; i++) {
            uint32_t u;
            memcpy(&u, &e->data[i], 4);
            const unsigned char le[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                                         (unsigned char)(u >> 24)};
            ddpm__sbuf_put(b, le, 4);
        }
    }
}

static void put_f32s(ddpm__sbuf *b, const float *x, size_t n) {
    entry e = {.ndim = 1, .shape = {(int64_t)n, 0, 0, 0}, .data = x, .count = n};
    put_data(b, DDPM_DTYPE_F32, &e, NULL);
}

ddpm_status ddpm_model_export(const ddpm_model *m, ddpm_dtype dtype, void **out, size_t *size, ddpm_error *err) {
    if (!m || !out || !size) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "export: NULL argument");
    *out = NULL;
    *size = 0;
    if (dtype != DDPM_DTYPE_F32 && dtype != DDPM_DTYPE_F16 && dtype != DDPM_DTYPE_I8)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "export: dtype %d is not F32, F16 or I8", (int)dtype);
    ddpm_unet u = m->u; /* the visitor takes a mutable plan; a copy keeps the model untouched */
    collect c = {NULL, 0, NULL};
    ddpm_unet_visit(&u, collect_visit, &c, err);
    entry *list = ddpm__calloc((size_t)c.n, sizeof *list);
    if (!list) return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "export: out of memory");
    c.list = list;
    c.n = 0;
    if (ddpm_unet_visit(&u, collect_visit, &c, err) != DDPM_OK) {
        for (int i = 0; i < c.n; i++) free(list[i].owned);
        free(list);
        return DDPM_ERR_OUT_OF_MEMORY;
    }

    /* the header: metadata, then every tensor (and its scale) in visit order */
    ddpm__sbuf h = {0}, d = {0};
    int first = 1;
    ddpm__sbuf_puts(&h, "{\"__metadata__\":{");
    for (int i = 0; i < m->num_meta; i++)
        if (strncmp(m->meta_keys[i], "diffusers.", 10) != 0) put_meta(&h, &first, m->meta_keys[i], m->meta_values[i]);
    if (m->unet_json) put_meta(&h, &first, "diffusers.unet_config", m->unet_json);
    if (m->sched_json) put_meta(&h, &first, "diffusers.scheduler_config", m->sched_json);
    ddpm__sbuf_puts(&h, "}");
    first = 0;
    size_t off = 0;
    const char *dname = dtype == DDPM_DTYPE_F16 ? "F16" : "F32";
    for (int i = 0; i < c.n; i++) {
        const entry *e = &list[i];
        const size_t bytes = is_i8(dtype, e) ? e->count : e->count * (dtype == DDPM_DTYPE_F16 ? 2 : 4);
        put_entry(&h, &first, e->name, is_i8(dtype, e) ? "I8" : dname, e->ndim, e->shape, off, off + bytes);
        off += bytes;
        if (is_i8(dtype, e)) {
            char sname[176];
            snprintf(sname, sizeof sname, "%s_scale", e->name);
            put_entry(&h, &first, sname, "F32", 1, e->shape, off, off + 4 * (size_t)e->shape[0]);
            off += 4 * (size_t)e->shape[0];
        }
    }
    ddpm__sbuf_puts(&h, "}");
    while (h.len % 8) ddpm__sbuf_puts(&h, " ");
    /* the data, in the same order */
    float *scales = NULL;
    size_t max_rows = 1;
    for (int i = 0; i < c.n; i++)
        if (list[i].ndim >= 1 && (size_t)list[i].shape[0] > max_rows) max_rows = (size_t)list[i].shape[0];
    scales = ddpm__malloc(sizeof(float) * max_rows);
    const uint64_t hl = h.len;
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(hl >> (8 * i));
    ddpm__sbuf_put(&d, lenb, 8);
    ddpm__sbuf_put(&d, h.p, h.len);
    for (int i = 0; i < c.n && scales; i++) {
        put_data(&d, dtype, &list[i], scales);
        if (is_i8(dtype, &list[i])) put_f32s(&d, scales, (size_t)list[i].shape[0]);
    }
    const int failed = h.failed || d.failed || !scales || d.len != 8 + h.len + off;
    free(h.p);
    free(scales);
    for (int i = 0; i < c.n; i++) free(list[i].owned);
    free(list);
    if (failed) {
        free(d.p);
        return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "export: out of memory");
    }
    *out = d.p;
    *size = d.len;
    ddpm__ok(err);
    return DDPM_OK;
}
