/* ddpm_model: loading a weights file into a bound U-Net, the public getters, and the checked forward entry point. */
#include "io/config.h"
#include "io/diffusers_config.h"
#include "io/safetensors.h"
#include "unet/model_internal.h"
#include "core/par.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- binding ---- */

typedef struct bind_ctx {
    ddpm_st_file *file;
    float *arena;    /* NULL in the counting pass */
    size_t used;
    ddpm_dtype quantize;
    int compact;     /* keep 3x3 conv weights as int8 + scales (I8) or binary16 (F16) */
    int8_t *q;       /* compact arenas (fill pass) */
    float *qscale;
    uint16_t *h;
    size_t q_used, s_used, h_used, compacted; /* compacted: parameters held compactly */
    size_t tmp_count;                         /* the largest compacted tensor */
    float *tmp;      /* one tensor's float32 values while compacting */
} bind_ctx;

/* w: [rows, n / rows] rounded in place to what an F16 or I8 file of it holds (the loader's own dequantization). */
static ddpm_status quantize_rows(float *w, size_t n, size_t rows, ddpm_dtype q, ddpm_error *err) {
    if (q == DDPM_DTYPE_F16) {
        for (size_t i = 0; i < n; i++) w[i] = ddpm_f16_to_f32(ddpm_f32_to_f16(w[i]));
        return DDPM_OK;
    }
    const size_t per = n / rows;
    int8_t *qr = ddpm__malloc(per ? per : 1);
    if (!qr) return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "quantize: out of memory");
    for (size_t o = 0; o < rows; o++) {
        float *r = w + o * per;
        const float scale = ddpm_quantize_row_i8(r, per, qr);
        for (size_t i = 0; i < per; i++) r[i] = scale * (float)qr[i];
    }
    free(qr);
    return DDPM_OK;
}

static ddpm_status bind_visit(void *ctx, const char *name, const char *alt, int ndim, const int64_t *shape,
                              float **slot, ddpm_error *err) {
    bind_ctx *b = ctx;
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (!ddpm__mul_size(count, (size_t)shape[i], &count))
            return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "tensor %s is too large", name);
    const char *use = name;
    if (!ddpm_st_find(b->file, name) && alt && ddpm_st_find(b->file, alt)) use = alt;
    const int compact = b->compact && slot && ndim == 4 && shape[2] == 3 && shape[3] == 3;
    if (!b->arena) {
        /* counting pass: also report a missing tensor early, before the big allocation */
        if (!ddpm_st_find(b->file, use))
            return ddpm__fail(err, DDPM_ERR_MISSING_TENSOR, "the config needs tensor %s, which the file lacks", name);
        if (compact) {
            b->q_used += count, b->s_used += (size_t)shape[0], b->compacted += count;
            b->tmp_count = count > b->tmp_count ? count : b->tmp_count;
            return DDPM_OK;
        }
        if (!ddpm__add_size(b->used, count, &b->used))
            return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "model too large");
        return DDPM_OK;
    }
    if (compact) { /* read, then keep only the int8 rows + scales or the halves */
        ddpm_status st = ddpm_st_read_f32(b->file, use, ndim, shape, b->tmp, err);
        if (st != DDPM_OK) return st;
        ddpm_conv *cv = ddpm_unet_conv_of_weight_slot(slot);
        const size_t rows = (size_t)shape[0], per = count / rows;
        if (b->quantize == DDPM_DTYPE_F16) {
            uint16_t *h = b->h + b->h_used;
            for (size_t i = 0; i < count; i++) h[i] = ddpm_f32_to_f16(b->tmp[i]);
            cv->wh = h;
            b->h_used += count;
        } else {
            int8_t *q = b->q + b->q_used;
            float *sc = b->qscale + b->s_used;
            for (size_t o = 0; o < rows; o++) sc[o] = ddpm_quantize_row_i8(b->tmp + o * per, per, q + o * per);
            cv->wq = q, cv->wscale = sc;
            b->q_used += count, b->s_used += rows;
        }
        *slot = NULL;
        return DDPM_OK;
    }
    float *dst = b->arena + b->used;
    ddpm_status st = ddpm_st_read_f32(b->file, use, ndim, shape, dst, err);
    if (st != DDPM_OK) return st;
    if ((b->quantize == DDPM_DTYPE_F16 || (b->quantize == DDPM_DTYPE_I8 && ndim >= 2)) &&
        (st = quantize_rows(dst, count, ndim >= 1 ? (size_t)shape[0] : 1, b->quantize, err)) != DDPM_OK)
        return st;
    if (slot) *slot = dst;
    b->used += count;
    return DDPM_OK;
}

static ddpm_status copy_file_info(ddpm_model *m, const ddpm_st_file *f) {
    m->tensors = ddpm__calloc((size_t)(f->num_tensors ? f->num_tensors : 1), sizeof *m->tensors);
    m->meta_keys = ddpm__calloc((size_t)(f->num_meta ? f->num_meta : 1), sizeof(char *));
    m->meta_values = ddpm__calloc((size_t)(f->num_meta ? f->num_meta : 1), sizeof(char *));
    if (!m->tensors || !m->meta_keys || !m->meta_values) return DDPM_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < f->num_tensors; i++) {
        const ddpm_st_tensor *t = &f->tensors[i];
        ddpm_tensor_info *ti = &m->tensors[i];
        ti->name = ddpm__strdup(t->name);
        if (!ti->name) return DDPM_ERR_OUT_OF_MEMORY;
        m->num_tensors = i + 1;
        ti->dtype = t->dtype;
        ti->ndim = t->ndim;
        for (int d = 0; d < 4; d++) ti->shape[d] = d < t->ndim ? t->shape[d] : 0;
        ti->num_elements = t->num_elements;
    }
    for (int i = 0; i < f->num_meta; i++) {
        m->meta_keys[i] = ddpm__strdup(f->meta_keys[i]);
        m->meta_values[i] = ddpm__strdup(f->meta_values[i]);
        m->num_meta = i + 1;
        if (!m->meta_keys[i] || !m->meta_values[i]) return DDPM_ERR_OUT_OF_MEMORY;
    }
    return DDPM_OK;
}

ddpm_load_options ddpm_load_default_options(void) {
    ddpm_load_options o;
    memset(&o, 0, sizeof o);
    o.quantize = DDPM_DTYPE_F32;
    return o;
}

static char *dup_span(const char *s, size_t n) {
    char *d = ddpm__malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* The scheduler's sampling defaults as option defaults for every run of the model. */
static void set_option_defaults(ddpm_model *m) {
    const ddpm_scheduler_config *sc = &m->sched_cfg;
    int k = 0;
    m->opt_names[k] = "clip_x0", m->opt_values[k++] = sc->clip_sample;
    m->opt_names[k] = "clip_range", m->opt_values[k++] = sc->clip_sample_range;
    m->opt_names[k] = "set_alpha_to_one", m->opt_values[k++] = sc->set_alpha_to_one;
    m->opt_names[k] = "clip_eps", m->opt_values[k++] = 0; /* DDIM: the direction term keeps the unclipped eps */
    m->opt_names[k] = "variance", m->opt_values[k++] = sc->variance == DDPM_VARIANCE_FIXED_LARGE;
    m->num_opts = k;
}

/* Works out the model config: a diffusers config.json (given, or carried in the file's metadata by `ddpm convert`)
 * with its scheduler config, or this project's own metadata. */
static ddpm_status resolve_config(ddpm_model *m, const ddpm_st_file *f, const ddpm_load_options *opt,
                                  ddpm_model_config *cfg, ddpm_error *err) {
    const char *unet = opt->unet_config, *sched = opt->scheduler_config;
    size_t unet_len = opt->unet_config_len, sched_len = opt->scheduler_config_len;
    if (!unet && ddpm_st_meta(f, "diffusers.unet_config")) {
        unet = ddpm_st_meta(f, "diffusers.unet_config");
        unet_len = strlen(unet);
        if (!sched && ddpm_st_meta(f, "diffusers.scheduler_config")) {
            sched = ddpm_st_meta(f, "diffusers.scheduler_config");
            sched_len = strlen(sched);
        }
    }
    if (!unet) {
        if (opt->scheduler_config)
            return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "a scheduler config applies to diffusers models only");
        if (!ddpm_st_meta(f, "ddpm.format") && ddpm_st_find(f, "conv_in.weight") &&
            ddpm_st_find(f, "time_embedding.linear_1.weight"))
            return ddpm__fail(err, DDPM_ERR_CONFIG,
                              "these are diffusers UNet2DModel weights without their config.json: load the model "
                              "folder, or pass config.json with the weights");
        return ddpm_config_from_metadata(f, cfg, err);
    }
    ddpm_status st = ddpm_diffusers_config_parse(unet, unet_len, cfg, err);
    if (st != DDPM_OK) return st;
    if (sched) st = ddpm_scheduler_config_parse(sched, sched_len, &m->sched_cfg, err);
    else ddpm_scheduler_config_default(&m->sched_cfg);
    if (st != DDPM_OK) return st;
    m->has_sched = 1;
    cfg->schedule = m->sched_cfg.schedule;
    cfg->prediction = m->sched_cfg.prediction;
    cfg->variance = m->sched_cfg.variance;
    if ((st = ddpm_config_validate(cfg, err)) != DDPM_OK) return st;
    set_option_defaults(m);
    m->unet_json = dup_span(unet, unet_len);
    m->sched_json = sched ? dup_span(sched, sched_len) : NULL;
    if (!m->unet_json || (sched && !m->sched_json)) return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "out of memory");
    return DDPM_OK;
}

/* ---- Winograd weights under a memory budget ---- */

typedef struct wino_plan {
    ddpm_conv **convs; /* NULL: count only */
    int n;
} wino_plan;

static void wino_collect(void *ctx, ddpm_conv *c) {
    wino_plan *p = ctx;
    if (c->k != 3 || c->stride != 1) return;
    if (p->convs) p->convs[p->n] = c;
    p->n++;
}

/* Precomputes the Winograd weights of the 3x3 stride-1 convs that fit in `avail` bytes, in the plan's order (a conv
 * that does not fit is skipped, a later smaller one may); the others are transformed per call (wino_lazy). */
static ddpm_status wino_within_budget(ddpm_model *m, const ddpm_load_options *opt, size_t avail, ddpm_error *err) {
    wino_plan p = {NULL, 0};
    ddpm_unet_each_conv(&m->u, wino_collect, &p);
    m->u.wino_lazy = p.n > 0;
    if (!p.n || opt->winograd == DDPM_WINOGRAD_ON_THE_FLY) return DDPM_OK;
    if (!(p.convs = ddpm__malloc(sizeof *p.convs * (size_t)p.n)))
        return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "out of memory planning the Winograd weights");
    p.n = 0;
    ddpm_unet_each_conv(&m->u, wino_collect, &p);
    size_t total = 0, left = avail, need_all = 0, tmp = 0;
    int chosen = 0;
    unsigned char *pick = ddpm__calloc((size_t)p.n, 1);
    ddpm_status st = DDPM_OK;
    if (!pick) {
        st = ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "out of memory planning the Winograd weights");
        goto done;
    }
    for (int i = 0; i < p.n; i++) {
        const ddpm_conv *c = p.convs[i];
        const size_t bytes = ddpm_wino_weight_floats(c->cin, c->cout) * sizeof(float);
        need_all += bytes;
        if (bytes <= left) pick[i] = 1, left -= bytes, total += bytes / sizeof(float), chosen++;
        if (!c->w && (size_t)c->cin * c->cout * 9 > tmp) tmp = (size_t)c->cin * c->cout * 9;
    }
    if (opt->winograd == DDPM_WINOGRAD_PRECOMPUTED && chosen < p.n) {
        st = ddpm__fail(err, DDPM_ERR_TOO_LARGE, "precomputed Winograd weights need %.1f MiB, more than the %.1f MiB "
                        "the memory budget leaves after the weights (winograd AUTO precomputes what fits)",
                        (double)need_all / 1048576.0, (double)avail / 1048576.0);
        goto done;
    }
    float *expanded = NULL;
    if (chosen && (!(m->wino = ddpm__alloc_aligned(sizeof(float) * total)) ||
                   (tmp && !(expanded = ddpm__malloc(sizeof(float) * tmp))))) {
        st = ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate %zu floats of Winograd weights", total);
        free(expanded);
        goto done;
    }
    size_t at = 0;
    for (int i = 0; i < p.n; i++) {
        ddpm_conv *c = p.convs[i];
        if (!pick[i]) continue;
        const float *w = c->w;
        if (!w) ddpm_unet_conv_expand(c, expanded), w = expanded; /* compact: its float32 values */
        c->wino = m->wino + at;
        ddpm_wino_transform_weights(c->cin, c->cout, w, c->wino);
        at += ddpm_wino_weight_floats(c->cin, c->cout);
    }
    free(expanded);
    m->wino_floats = total;
    m->u.wino_lazy = chosen < p.n;
done:
    free(pick);
    free(p.convs);
    return st;
}

static ddpm_status check_options(const ddpm_load_options *opt, ddpm_error *err) {
    if (opt->compact && opt->quantize != DDPM_DTYPE_F16 && opt->quantize != DDPM_DTYPE_I8)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "compact needs quantize F16 or I8");
    if ((unsigned)opt->winograd > DDPM_WINOGRAD_ON_THE_FLY)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "winograd: %d is not AUTO, PRECOMPUTED or ON_THE_FLY",
                          (int)opt->winograd);
    if (opt->quantize != DDPM_DTYPE_F32 && opt->quantize != DDPM_DTYPE_F16 && opt->quantize != DDPM_DTYPE_I8)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "quantize: %d is not F32, F16 or I8", (int)opt->quantize);
    return DDPM_OK;
}

static ddpm_status load_parsed(ddpm_st_file *f, uint64_t size, const ddpm_load_options *opt, ddpm_model **out,
                               ddpm_error *err);

ddpm_status ddpm_model_load_buffer_ex(const void *data, size_t size, const ddpm_load_options *opt, ddpm_model **out,
                                      ddpm_error *err) {
    if (!out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!data && size) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "data is NULL");
    const ddpm_load_options defaults = ddpm_load_default_options();
    if (!opt) opt = &defaults;
    ddpm_status st = check_options(opt, err);
    if (st != DDPM_OK) return st;
    ddpm_st_file *f = NULL;
    if ((st = ddpm_st_parse((const uint8_t *)data, size, &f, err)) != DDPM_OK) return st;
    return load_parsed(f, size, opt, out, err);
}

ddpm_status ddpm_model_load_reader(const ddpm_reader *reader, const ddpm_load_options *opt, ddpm_model **out,
                                   ddpm_error *err) {
    if (!out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    const ddpm_load_options defaults = ddpm_load_default_options();
    if (!opt) opt = &defaults;
    ddpm_status st = check_options(opt, err);
    if (st != DDPM_OK) return st;
    ddpm_st_file *f = NULL;
    if ((st = ddpm_st_parse_reader(reader, &f, err)) != DDPM_OK) return st;
    return load_parsed(f, reader->size, opt, out, err);
}

/* The model from a parsed file of `size` bytes (f is freed here, whatever happens). */
static ddpm_status load_parsed(ddpm_st_file *f, uint64_t size, const ddpm_load_options *opt, ddpm_model **out,
                               ddpm_error *err) {
    ddpm_status st;
    ddpm_model *m = ddpm__calloc(1, sizeof *m);
    if (!m) {
        ddpm_st_free(f);
        return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    m->K = &ddpm_kernels_simd;
    ddpm_model_config cfg;
    if ((st = resolve_config(m, f, opt, &cfg, err)) != DDPM_OK) goto fail;
    if ((st = ddpm_unet_plan(&m->u, &cfg, err)) != DDPM_OK) goto fail;
    if ((st = ddpm_schedule_create(&cfg.schedule, &m->sched, err)) != DDPM_OK) goto fail;
    m->u.cfg.schedule = *ddpm_schedule_get_params(m->sched); /* custom betas: point at the schedule's copy */
    /* with a budget, an F16 / I8 model is counted compacted too: it becomes compact if the float32 arena cannot fit */
    const int may_compact = opt->memory_budget && !opt->compact && opt->quantize != DDPM_DTYPE_F32;
    bind_ctx b = {f, NULL, 0, opt->quantize, opt->compact || may_compact, NULL, NULL, NULL, 0, 0, 0, 0, 0, NULL};
    if ((st = ddpm_unet_visit(&m->u, bind_visit, &b, err)) != DDPM_OK) goto fail;
    const int half = opt->quantize == DDPM_DTYPE_F16;
    size_t cbytes = b.compacted ? (half ? 2 * b.q_used : b.q_used + 4 * b.s_used + 16) : 0;
    if (may_compact && (b.used + b.compacted) * sizeof(float) <= opt->memory_budget) { /* the float32 arena fits */
        b.used += b.compacted;
        b.compact = 0, b.compacted = b.q_used = b.s_used = b.tmp_count = 0, cbytes = 0;
    }
    if (opt->memory_budget && b.used * sizeof(float) + cbytes > opt->memory_budget) {
        st = ddpm__fail(err, DDPM_ERR_TOO_LARGE, "the weights need %zu bytes (%.1f MiB)%s, more than the memory budget "
                        "of %zu bytes (%.1f MiB)%s", b.used * sizeof(float) + cbytes,
                        (double)(b.used * sizeof(float) + cbytes) / 1048576.0, b.compacted ? " held compactly" : "",
                        opt->memory_budget, (double)opt->memory_budget / 1048576.0,
                        opt->quantize == DDPM_DTYPE_F32 ? " (quantize to F16 or I8 to hold the 3x3 weights compactly)" : "");
        goto fail;
    }
    if (b.compacted) { /* the compact arenas: int8 + scales, or halves; the F32 arena then holds the rest */
        m->compact = ddpm__alloc_aligned(cbytes);
        b.tmp = ddpm__malloc(sizeof(float) * b.tmp_count);
        if (!m->compact || !b.tmp) {
            free(b.tmp);
            st = ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of compact weights", cbytes);
            goto fail;
        }
        if (half) b.h = m->compact;
        else b.qscale = m->compact, b.q = (int8_t *)(void *)((float *)m->compact + b.s_used);
        m->compact_params = b.compacted;
        m->u.compact = 1;
        b.q_used = b.s_used = 0;
    }
    size_t bytes;
    if (!ddpm__mul_size(b.used, sizeof(float), &bytes) || (uint64_t)bytes > size * 4 + 4096) {
        /* F32 weights cannot be more than 4x the file (I8 is the densest dtype): anything else is inconsistent */
        st = ddpm__fail(err, DDPM_ERR_SHAPE, "config implies %zu weights, more than the file can hold", b.used);
        free(b.tmp);
        goto fail;
    }
    m->weights = ddpm__alloc_aligned(bytes);
    if (!m->weights) {
        st = ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of weights", bytes);
        free(b.tmp);
        goto fail;
    }
    m->weight_floats = b.used;
    b.arena = m->weights;
    b.used = 0;
    st = ddpm_unet_visit(&m->u, bind_visit, &b, err);
    free(b.tmp);
    if (st != DDPM_OK) goto fail;
    if ((st = ddpm_st_check_all_used(f, err)) != DDPM_OK) goto fail;
    if (opt->memory_budget) {
        if ((st = wino_within_budget(m, opt, opt->memory_budget - (b.used * sizeof(float) + cbytes), err)) != DDPM_OK)
            goto fail;
    } else {
        const size_t wf = ddpm_unet_wino_floats(&m->u);
        size_t wbytes;
        const int ok = ddpm__mul_size(wf, sizeof(float), &wbytes);
        m->u.wino_lazy = m->u.compact || opt->winograd == DDPM_WINOGRAD_ON_THE_FLY ||
                         (opt->winograd == DDPM_WINOGRAD_AUTO && (!ok || wbytes > DDPM_WINOGRAD_PRECOMPUTE_MAX_BYTES));
        if (m->u.wino_lazy) goto wino_done;
        if (!ok || !(m->wino = ddpm__alloc_aligned(wbytes ? wbytes : 16))) {
            st = ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate %zu floats of Winograd weights", wf);
            goto fail;
        }
        ddpm_unet_wino_fill(&m->u, m->wino);
        m->wino_floats = wf;
    }
wino_done:
    m->compact_bytes = cbytes;
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

ddpm_status ddpm_model_load_buffer(const void *data, size_t size, ddpm_model **out, ddpm_error *err) {
    return ddpm_model_load_buffer_ex(data, size, NULL, out, err);
}

ddpm_status ddpm_model_load_file(const char *path, ddpm_model **out, ddpm_error *err) {
    if (!out || !path) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "path or out is NULL");
    *out = NULL;
    return ddpm__load_weights_file(path, NULL, out, err);
}

void ddpm_model_free(ddpm_model *m) {
    if (!m) return;
    ddpm_schedule_free(m->sched);
    ddpm__free_aligned(m->weights);
    ddpm__free_aligned(m->wino);
    ddpm__free_aligned(m->compact);
    ddpm__free_aligned(m->ws);
    ddpm__par_free(m->par);
    for (int i = 0; i < m->num_tensors; i++) free((char *)m->tensors[i].name);
    free(m->tensors);
    for (int i = 0; i < m->num_meta; i++) {
        free(m->meta_keys[i]);
        free(m->meta_values[i]);
    }
    free(m->meta_keys);
    free(m->meta_values);
    free(m->unet_json);
    free(m->sched_json);
    if (m->has_sched) ddpm_scheduler_config_free(&m->sched_cfg);
    free(m);
}

/* ---- getters ---- */

const ddpm_model_config *ddpm_model_get_config(const ddpm_model *m) { return m ? &m->u.cfg : NULL; }
const ddpm_schedule *ddpm_model_get_schedule(const ddpm_model *m) { return m ? m->sched : NULL; }
size_t ddpm_model_num_params(const ddpm_model *m) { return m ? m->weight_floats + m->compact_params : 0; }
int ddpm_model_num_tensors(const ddpm_model *m) { return m ? m->num_tensors : 0; }
double ddpm_model_flops(const ddpm_model *m) { return m ? m->flops : 0.0; }

typedef struct wino_count {
    int convs, pre;
} wino_count;

static void wino_count_visit(void *ctx, ddpm_conv *c) {
    wino_count *w = ctx;
    if (c->k != 3 || c->stride != 1) return;
    w->convs++;
    w->pre += c->wino != NULL;
}

ddpm_status ddpm_model_memory(const ddpm_model *m, ddpm_model_memory_info *info) {
    if (!m || !info) return DDPM_ERR_INVALID_ARGUMENT;
    wino_count w = {0, 0};
    ddpm_unet_each_conv((ddpm_unet *)&m->u, wino_count_visit, &w);
    info->weight_bytes = m->weight_floats * sizeof(float);
    info->compact_bytes = m->compact_bytes;
    info->winograd_bytes = m->wino_floats * sizeof(float);
    info->winograd_convs = w.convs;
    info->winograd_precomputed = w.pre;
    info->compact = m->u.compact;
    return DDPM_OK;
}
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

const char *ddpm_model_unet_config_json(const ddpm_model *m) { return m ? m->unet_json : NULL; }
const char *ddpm_model_scheduler_config_json(const ddpm_model *m) { return m ? m->sched_json : NULL; }

ddpm_sample_params ddpm_model_sample_defaults(const ddpm_model *m) {
    ddpm_sample_params p = ddpm_sample_default_params();
    if (m && m->has_sched) {
        p.sampler = m->sched_cfg.sampler;
        p.spacing = m->sched_cfg.spacing;
        p.steps_offset = m->sched_cfg.steps_offset;
    }
    return p;
}

void ddpm_model_option_defaults(const ddpm_model *m, int *n, const char *const **names, const double **values) {
    *n = m->num_opts;
    *names = m->opt_names;
    *values = m->opt_values;
}

void ddpm_model_set_trace(ddpm_model *m, ddpm_trace_fn fn, void *user_data) {
    if (!m) return;
    m->trace = fn;
    m->trace_user = user_data;
}

void ddpm_model_set_kernels(ddpm_model *m, ddpm_kernels k) {
    if (m) m->K = k == DDPM_KERNELS_SCALAR ? &ddpm_kernels_scalar
                  : k == DDPM_KERNELS_PRECISE ? &ddpm_kernels_precise
                                              : &ddpm_kernels_simd;
}

/* ---- forward ---- */

/* A forward pass over more images runs in chunks of this many: the scratch stays that of 8 images (about 10 MiB
 * for the shipped model) whatever the batch. Images are independent, so chunking changes no bit of the output. */
#define FORWARD_CHUNK 8

size_t ddpm_model_workspace_bytes(const ddpm_model *m, int n) {
    if (!m || n <= 0 || n > DDPM_MAX_BATCH) return 0;
    if (n > FORWARD_CHUNK && !m->trace) n = FORWARD_CHUNK;
    size_t floats = ddpm_unet_workspace_floats(&m->u, n, ddpm__par_threads(m->par)), bytes;
    if (!floats || !ddpm__mul_size(floats, sizeof(float), &bytes)) return 0;
    return bytes;
}

ddpm_status ddpm_model_set_threads(ddpm_model *m, int threads, ddpm_error *err) {
    if (!m) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "NULL model");
    if (threads < 0 || threads > DDPM_MAX_THREADS)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "threads %d is outside 0..%d (0: every processor)", threads,
                          DDPM_MAX_THREADS);
    if (threads == 0) threads = m->flops >= DDPM_THREADS_AUTO_MIN_FLOPS ? ddpm__cpu_count() : 1;
    if (threads == ddpm__par_threads(m->par)) {
        ddpm__ok(err);
        return DDPM_OK;
    }
    ddpm_par *p = NULL;
    if (threads > 1) {
        const ddpm_status st = ddpm__par_create(threads, &p, err);
        if (st != DDPM_OK) return st; /* the model keeps its current threads */
    }
    ddpm__par_free(m->par);
    m->par = p;
    ddpm__ok(err);
    return DDPM_OK;
}

int ddpm_model_threads(const ddpm_model *m) { return m ? ddpm__par_threads(m->par) : 1; }

void ddpm_model_thread_times(const ddpm_model *m, double *worker_busy, double *caller_wait) {
    ddpm__par_times(m ? m->par : NULL, worker_busy, caller_wait);
}

void ddpm_model_set_thread_min_work(ddpm_model *m, double flops) {
    if (m) ddpm__par_set_min_flops(m->par, flops);
}

static ddpm_status forward(ddpm_model *m, int n, const float *x, const float *t, const int *y, float *out, float *cache,
                           int mode, ddpm_error *err) {
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
            const int top = c->arch.null_class ? c->num_classes : c->num_classes - 1;
            if (c->num_classes == 0)
                return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "class labels given to an unconditional model");
            if (y[i] < 0 || y[i] > top)
                return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "class %d of image %d is outside 0..%d", y[i], i,
                                  top);
        }
    }
    if (!y && c->num_classes > 0 && !c->arch.null_class)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT,
                          "this class-conditional model has no null class: every evaluation needs labels");
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
        ddpm_unet_forward(&m->u, m->K, n, x, t, y, out, m->ws, m->par, cache, mode, m->trace, m->trace_user);
    } else {
        const size_t in_img = (size_t)c->in_channels * c->image_size * c->image_size;
        const size_t out_img = (size_t)c->out_channels * c->image_size * c->image_size;
        for (int i = 0; i < n; i += FORWARD_CHUNK) {
            const int k = n - i < FORWARD_CHUNK ? n - i : FORWARD_CHUNK;
            ddpm_unet_forward(&m->u, m->K, k, x + i * in_img, t + i, y ? y + i : NULL, out + i * out_img, m->ws,
                              m->par, cache ? cache + i * ddpm_unet_cache_floats(&m->u) : NULL, mode, NULL, NULL);
        }
    }
    ddpm__ok(err);
    return DDPM_OK;
}

ddpm_status ddpm_model_forward(ddpm_model *m, int n, const float *x, const float *t, const int *y, float *out,
                               ddpm_error *err) {
    return forward(m, n, x, t, y, out, NULL, 0, err);
}

size_t ddpm_model_cache_floats(const ddpm_model *m) { return m ? ddpm_unet_cache_floats(&m->u) : 0; }

ddpm_status ddpm_model_forward_cached(ddpm_model *m, int n, const float *x, const float *t, const int *y,
                                      float *out, float *cache, int reuse, ddpm_error *err) {
    if (m && !cache) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "NULL cache");
    if (m && !ddpm_unet_cache_floats(&m->u))
        return ddpm__fail(err, DDPM_ERR_UNSUPPORTED, "DeepCache needs a U-Net of two levels or more");
    return forward(m, n, x, t, y, out, cache, reuse ? DDPM_CACHE_REUSE : DDPM_CACHE_STORE, err);
}
