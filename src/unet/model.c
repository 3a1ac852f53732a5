/* ddpm_model: loading a weights file into a bound U-Net, the public getters, and the checked forward entry point. */
#include "io/config.h"
#include "io/safetensors.h"
#include "unet/unet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ddpm_model {
    ddpm_unet u;
    ddpm_schedule *sched;
    float *weights;          /* one arena for every bound tensor, float32 */
    size_t weight_floats;
    float *wino;             /* Winograd-transformed 3x3 stride-1 conv weights, derived from `weights` at load */
    double flops;
    /* what the file held, for `ddpm info` */
    int num_tensors;
    ddpm_tensor_info *tensors;
    int num_meta;
    char **meta_keys, **meta_values;
    /* forward-pass scratch */
    float *ws;
    size_t ws_floats;
    const ddpm_kernel_table *K;
    ddpm_trace_fn trace;
    void *trace_user;
};

/* ---- binding ---- */

typedef struct bind_ctx {
    ddpm_st_file *file;
    float *arena;    /* NULL in the counting pass */
    size_t used;
} bind_ctx;

static ddpm_status bind_visit(void *ctx, const char *name, int ndim, const int64_t *shape, float **slot,
                              ddpm_error *err) {
    bind_ctx *b = ctx;
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (!ddpm__mul_size(count, (size_t)shape[i], &count))
            return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "tensor %s is too large", name);
    if (!b->arena) {
        /* counting pass: also report a missing tensor early, before the big allocation */
        if (!ddpm_st_find(b->file, name))
            return ddpm__fail(err, DDPM_ERR_MISSING_TENSOR, "the config needs tensor %s, which the file lacks", name);
        if (!ddpm__add_size(b->used, count, &b->used))
            return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "model too large");
        return DDPM_OK;
    }
    float *dst = b->arena + b->used;
    ddpm_status st = ddpm_st_read_f32(b->file, name, ndim, shape, dst, err);
    if (st != DDPM_OK) return st;
    *slot = dst;
    b->used += count;
    return DDPM_OK;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static ddpm_status copy_file_info(ddpm_model *m, const ddpm_st_file *f) {
    m->tensors = calloc((size_t)(f->num_tensors ? f->num_tensors : 1), sizeof *m->tensors);
    m->meta_keys = calloc((size_t)(f->num_meta ? f->num_meta : 1), sizeof(char *));
    m->meta_values = calloc((size_t)(f->num_meta ? f->num_meta : 1), sizeof(char *));
    if (!m->tensors || !m->meta_keys || !m->meta_values) return DDPM_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < f->num_tensors; i++) {
        const ddpm_st_tensor *t = &f->tensors[i];
        ddpm_tensor_info *ti = &m->tensors[i];
        ti->name = dup_str(t->name);
        if (!ti->name) return DDPM_ERR_OUT_OF_MEMORY;
        m->num_tensors = i + 1;
        ti->dtype = t->dtype;
        ti->ndim = t->ndim;
        for (int d = 0; d < 4; d++) ti->shape[d] = d < t->ndim ? t->shape[d] : 0;
        ti->num_elements = t->num_elements;
    }
    for (int i = 0; i < f->num_meta; i++) {
        m->meta_keys[i] = dup_str(f->meta_keys[i]);
        m->meta_values[i] = dup_str(f->meta_values[i]);
        m->num_meta = i + 1;
        if (!m->meta_keys[i] || !m->meta_values[i]) return DDPM_ERR_OUT_OF_MEMORY;
    }
    return DDPM_OK;
}

ddpm_status ddpm_model_load_buffer(const void *data, size_t size, ddpm_model **out, ddpm_error *err) {
    if (!out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!data && size) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "data is NULL");
    ddpm_st_file *f = NULL;
    ddpm_status st = ddpm_st_parse((const uint8_t *)data, size, &f, err);
    if (st != DDPM_OK) return st;
    ddpm_model *m = calloc(1, sizeof *m);
    if (!m) {
        ddpm_st_free(f);
        return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    m->K = &ddpm_kernels_simd;
    ddpm_model_config cfg;
    if ((st = ddpm_config_from_metadata(f, &cfg, err)) != DDPM_OK) goto fail;
    if ((st = ddpm_unet_plan(&m->u, &cfg, err)) != DDPM_OK) goto fail;
    if ((st = ddpm_schedule_create(&cfg.schedule, &m->sched, err)) != DDPM_OK) goto fail;
    bind_ctx b = {f, NULL, 0};
    if ((st = ddpm_unet_visit(&m->u, bind_visit, &b, err)) != DDPM_OK) goto fail;
    size_t bytes;
    if (!ddpm__mul_size(b.used, sizeof(float), &bytes) || bytes > size * 4 + 4096) {
        /* F32 weights cannot be more than 4x the file (I8 is the densest dtype): anything else is inconsistent */
        st = ddpm__fail(err, DDPM_ERR_SHAPE, "config implies %zu weights, more than the file can hold", b.used);
        goto fail;
    }
    m->weights = ddpm__alloc_aligned(bytes);
    if (!m->weights) {
        st = ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of weights", bytes);
        goto fail;
    }
    m->weight_floats = b.used;
    b.arena = m->weights;
    b.used = 0;
    if ((st = ddpm_unet_visit(&m->u, bind_visit, &b, err)) != DDPM_OK) goto fail;
    if ((st = ddpm_st_check_all_used(f, err)) != DDPM_OK) goto fail;
    {
        const size_t wf = ddpm_unet_wino_floats(&m->u);
        size_t wbytes;
        if (!ddpm__mul_size(wf, sizeof(float), &wbytes) || !(m->wino = ddpm__alloc_aligned(wbytes ? wbytes : 16))) {
            st = ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate %zu floats of Winograd weights", wf);
            goto fail;
        }
        ddpm_unet_wino_fill(&m->u, m->wino);
    }
    if ((st = copy_file_info(m, f)) != DDPM_OK) {
        ddpm__fail(err, st, "out of memory");
        goto fail;
    }
    m->flops = ddpm_unet_flops(&m->u);
    ddpm_st_free(f);
    ddpm__ok(err);
    *out = m;
    return DDPM_OK;
fail:
    ddpm_st_free(f);
    ddpm_model_free(m);
    return st;
}

ddpm_status ddpm_model_load_file(const char *path, ddpm_model **out, ddpm_error *err) {
    if (!out || !path) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "path or out is NULL");
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ddpm__fail(err, DDPM_ERR_IO, "cannot open %s", path);
    long len = -1;
    if (fseek(fp, 0, SEEK_END) == 0) len = ftell(fp);
    if (len < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return ddpm__fail(err, DDPM_ERR_IO, "cannot determine the size of %s", path);
    }
    if ((unsigned long)len > (unsigned long)DDPM_MAX_WORKSPACE_BYTES) {
        fclose(fp);
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "%s is %ld bytes, larger than any model this engine loads", path,
                          len);
    }
    void *buf = malloc(len ? (size_t)len : 1);
    if (!buf) {
        fclose(fp);
        return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate %ld bytes for %s", len, path);
    }
    size_t got = fread(buf, 1, (size_t)len, fp);
    fclose(fp);
    if (got != (size_t)len) {
        free(buf);
        return ddpm__fail(err, DDPM_ERR_IO, "short read on %s", path);
    }
    ddpm_status st = ddpm_model_load_buffer(buf, (size_t)len, out, err);
    free(buf);
    return st;
}

void ddpm_model_free(ddpm_model *m) {
    if (!m) return;
    ddpm_schedule_free(m->sched);
    ddpm__free_aligned(m->weights);
    ddpm__free_aligned(m->wino);
    ddpm__free_aligned(m->ws);
    for (int i = 0; i < m->num_tensors; i++) free((char *)m->tensors[i].name);
    free(m->tensors);
    for (int i = 0; i < m->num_meta; i++) {
        free(m->meta_keys[i]);
        free(m->meta_values[i]);
    }
    free(m->meta_keys);
    free(m->meta_values);
    free(m);
}

/* ---- getters ---- */

const ddpm_model_config *ddpm_model_get_config(const ddpm_model *m) { return m ? &m->u.cfg : NULL; }
const ddpm_schedule *ddpm_model_get_schedule(const ddpm_model *m) { return m ? m->sched : NULL; }
size_t ddpm_model_num_params(const ddpm_model *m) { return m ? m->weight_floats : 0; }
int ddpm_model_num_tensors(const ddpm_model *m) { return m ? m->num_tensors : 0; }
double ddpm_model_flops(const ddpm_model *m) { return m ? m->flops : 0.0; }
int ddpm_model_num_metadata(const ddpm_model *m) { return m ? m->num_meta : 0; }

ddpm_status ddpm_model_tensor_info(const ddpm_model *m, int i, ddpm_tensor_info *info) {
    if (!m || !info || i < 0 || i >= m->num_tensors) return DDPM_ERR_INVALID_ARGUMENT;
    *info = m->tensors[i];
    return DDPM_OK;
}

const char *ddpm_model_metadata(const ddpm_model *m, const char *key) {
    if (!m || !key) return NULL;
    for (int i = 0; i < m->num_meta; i++)
        if (strcmp(m->meta_keys[i], key) == 0) return m->meta_values[i];
    return NULL;
}

ddpm_status ddpm_model_metadata_at(const ddpm_model *m, int i, const char **key, const char **value) {
    if (!m || i < 0 || i >= m->num_meta) return DDPM_ERR_INVALID_ARGUMENT;
    if (key) *key = m->meta_keys[i];
    if (value) *value = m->meta_values[i];
    return DDPM_OK;
}

void ddpm_model_set_trace(ddpm_model *m, ddpm_trace_fn fn, void *user_data) {
    if (!m) return;
    m->trace = fn;
    m->trace_user = user_data;
}

void ddpm_model_set_kernels(ddpm_model *m, ddpm_kernels k) {
    if (m) m->K = k == DDPM_KERNELS_SCALAR ? &ddpm_kernels_scalar : &ddpm_kernels_simd;
}

/* ---- forward ---- */

/* A forward pass over more images runs in chunks of this many: the scratch stays that of 8 images (about 10 MiB
 * for the shipped model) whatever the batch. Images are independent, so chunking changes no bit of the output. */
#define FORWARD_CHUNK 8

size_t ddpm_model_workspace_bytes(const ddpm_model *m, int n) {
    if (!m || n <= 0 || n > DDPM_MAX_BATCH) return 0;
    if (n > FORWARD_CHUNK && !m->trace) n = FORWARD_CHUNK;
    size_t floats = ddpm_unet_workspace_floats(&m->u, n), bytes;
    if (!floats || !ddpm__mul_size(floats, sizeof(float), &bytes)) return 0;
    return bytes;
}

ddpm_status ddpm_model_forward(ddpm_model *m, int n, const float *x, const float *t, const int *y, float *out,
                               ddpm_error *err) {
    if (!m || !x || !t || !out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "NULL model, x, t or out");
    if (n < 1 || n > DDPM_MAX_BATCH)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "batch %d is outside 1..%d", n, DDPM_MAX_BATCH);
    const ddpm_model_config *c = &m->u.cfg;
    const int T = c->schedule.num_timesteps;
    for (int i = 0; i < n; i++) {
        if (!isfinite(t[i]) || t[i] < 0.0f || t[i] > (float)T)
            return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "timestep %g of image %d is outside [0, %d]",
                              (double)t[i], i, T);
        if (y) {
            if (c->num_classes == 0)
                return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "class labels given to an unconditional model");
            if (y[i] < 0 || y[i] > c->num_classes)
                return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "class %d of image %d is outside 0..%d", y[i], i,
                                  c->num_classes);
        }
    }
    const size_t in_elems = (size_t)n * c->in_channels * c->image_size * c->image_size;
    if (!ddpm__all_finite(x, in_elems))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "x contains NaN or Inf");
    const size_t bytes = ddpm_model_workspace_bytes(m, n);
    if (!bytes || bytes > DDPM_MAX_WORKSPACE_BYTES)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "batch %d needs more than %zu bytes of scratch", n,
                          (size_t)DDPM_MAX_WORKSPACE_BYTES);
    const size_t floats = bytes / sizeof(float);
    if (floats > m->ws_floats) {
        float *ws = ddpm__alloc_aligned(bytes);
        if (!ws) return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of scratch", bytes);
        ddpm__free_aligned(m->ws);
        m->ws = ws;
        m->ws_floats = floats;
    }
    if (m->trace) {
        ddpm_unet_forward(&m->u, m->K, n, x, t, y, out, m->ws, m->trace, m->trace_user);
    } else {
        const size_t in_img = (size_t)c->in_channels * c->image_size * c->image_size;
        const size_t out_img = (size_t)c->out_channels * c->image_size * c->image_size;
        for (int i = 0; i < n; i += FORWARD_CHUNK) {
            const int k = n - i < FORWARD_CHUNK ? n - i : FORWARD_CHUNK;
            ddpm_unet_forward(&m->u, m->K, k, x + i * in_img, t + i, y ? y + i : NULL, out + i * out_img, m->ws,
                              NULL, NULL);
        }
    }
    ddpm__ok(err);
    return DDPM_OK;
}
