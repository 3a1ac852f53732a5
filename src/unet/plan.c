/* The U-Net's block plan and tensor list, derived from the config alone (mirrors training/model.py). */
#include "unet/unet.h"

#include <stdio.h>
#include <string.h>

static int has_attn(const ddpm_model_config *c, int res) {
    for (int i = 0; i < c->num_attn_resolutions; i++)
        if (c->attn_resolutions[i] == res) return 1;
    return 0;
}

static void conv_shape(ddpm_conv *cv, int cin, int cout, int k, int stride) {
    cv->cin = cin;
    cv->cout = cout;
    cv->k = k;
    cv->stride = stride;
}

static void res_shape(ddpm_resblock *rb, int cin, int cout) {
    rb->cin = cin;
    rb->cout = cout;
    rb->norm1.c = cin;
    rb->norm2.c = cout;
    conv_shape(&rb->conv1, cin, cout, 3, 1);
    conv_shape(&rb->conv2, cout, cout, 3, 1);
    rb->has_skip = cin != cout;
    if (rb->has_skip) conv_shape(&rb->skip, cin, cout, 1, 1);
}

static void attn_shape(ddpm_attn *a, int c) {
    a->c = c;
    a->norm.c = c;
    conv_shape(&a->qkv, c, 3 * c, 1, 1);
    conv_shape(&a->proj, c, c, 1, 1);
}

static ddpm_block *push(ddpm_block *list, int *count, ddpm_block_kind kind, int cin, int cout, int res) {
    ddpm_block *b = &list[(*count)++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->cin = cin;
    b->cout = cout;
    b->res = res;
    if (kind == DDPM_BLOCK_RES || kind == DDPM_BLOCK_RESATTN) res_shape(&b->rb, cin, cout);
    if (kind == DDPM_BLOCK_RESATTN) attn_shape(&b->attn, cout);
    if (kind == DDPM_BLOCK_DOWN) conv_shape(&b->conv, cin, cout, 3, 2);
    if (kind == DDPM_BLOCK_UP) conv_shape(&b->conv, cin, cout, 3, 1);
    return b;
}

ddpm_status ddpm_unet_plan(ddpm_unet *u, const ddpm_model_config *cfg, ddpm_error *err) {
    memset(u, 0, sizeof *u);
    u->cfg = *cfg;
    const int C = cfg->base_channels, L = cfg->num_levels;
    u->emb = 4 * C;
    conv_shape(&u->conv_in, cfg->in_channels, C, 3, 1);
    conv_shape(&u->conv_out, C, cfg->out_channels, 3, 1);
    u->norm_out.c = C;

    int skips[DDPM_MAX_BLOCKS + 1], ns = 0;
    int ch = C, res = cfg->image_size;
    skips[ns++] = C;
    for (int lev = 0; lev < L; lev++) {
        const int co = C * cfg->channel_mult[lev];
        for (int j = 0; j < cfg->num_res_blocks; j++) {
            if (u->num_down + 2 > DDPM_MAX_BLOCKS) return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "too many blocks");
            push(u->down, &u->num_down, has_attn(cfg, res) ? DDPM_BLOCK_RESATTN : DDPM_BLOCK_RES, ch, co, res);
            ch = co;
            skips[ns++] = ch;
        }
        if (lev != L - 1) {
            if (res % 2) return ddpm__fail(err, DDPM_ERR_CONFIG, "resolution %d at level %d is odd", res, lev);
            push(u->down, &u->num_down, DDPM_BLOCK_DOWN, ch, ch, res);
            res /= 2;
            skips[ns++] = ch;
        }
    }
    u->mid_res = res;
    res_shape(&u->mid1, ch, ch);
    attn_shape(&u->mid_attn, ch);
    res_shape(&u->mid2, ch, ch);
    for (int lev = L - 1; lev >= 0; lev--) {
        const int co = C * cfg->channel_mult[lev];
        for (int j = 0; j < cfg->num_res_blocks + 1; j++) {
            if (u->num_up + 2 > DDPM_MAX_BLOCKS || ns == 0)
                return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "too many blocks");
            push(u->up, &u->num_up, has_attn(cfg, res) ? DDPM_BLOCK_RESATTN : DDPM_BLOCK_RES, ch + skips[--ns], co,
                 res);
            ch = co;
        }
        if (lev != 0) {
            push(u->up, &u->num_up, DDPM_BLOCK_UP, ch, ch, res);
            res *= 2;
        }
    }
    return DDPM_OK;
}

/* ---- tensor visiting ---- */

typedef struct visit {
    ddpm_tensor_visitor fn;
    void *ctx;
    ddpm_error *err;
} visit;

static ddpm_status v_tensor(visit *v, const char *prefix, const char *leaf, int ndim, int64_t d0, int64_t d1,
                            int64_t d2, int64_t d3, float **slot) {
    char name[160];
    snprintf(name, sizeof name, "%s%s", prefix, leaf);
    const int64_t shape[4] = {d0, d1, d2, d3};
    return v->fn(v->ctx, name, ndim, shape, slot, v->err);
}

#define TRY(expr)                                                                                                     \
    do {                                                                                                              \
        ddpm_status st_ = (expr);                                                                                     \
        if (st_ != DDPM_OK) return st_;                                                                               \
    } while (0)

static ddpm_status v_conv(visit *v, const char *prefix, ddpm_conv *c) {
    TRY(v_tensor(v, prefix, ".weight", 4, c->cout, c->cin, c->k, c->k, &c->w));
    return v_tensor(v, prefix, ".bias", 1, c->cout, 0, 0, 0, &c->b);
}

static ddpm_status v_norm(visit *v, const char *prefix, ddpm_norm *n) {
    TRY(v_tensor(v, prefix, ".weight", 1, n->c, 0, 0, 0, &n->gamma));
    return v_tensor(v, prefix, ".bias", 1, n->c, 0, 0, 0, &n->beta);
}

static ddpm_status v_res(visit *v, const char *prefix, ddpm_resblock *rb, int emb) {
    char p[128];
    snprintf(p, sizeof p, "%s.norm1", prefix);
    TRY(v_norm(v, p, &rb->norm1));
    snprintf(p, sizeof p, "%s.conv1", prefix);
    TRY(v_conv(v, p, &rb->conv1));
    snprintf(p, sizeof p, "%s.temb_proj", prefix);
    TRY(v_tensor(v, p, ".weight", 2, rb->cout, emb, 0, 0, &rb->temb_w));
    TRY(v_tensor(v, p, ".bias", 1, rb->cout, 0, 0, 0, &rb->temb_b));
    snprintf(p, sizeof p, "%s.norm2", prefix);
    TRY(v_norm(v, p, &rb->norm2));
    snprintf(p, sizeof p, "%s.conv2", prefix);
    TRY(v_conv(v, p, &rb->conv2));
    if (rb->has_skip) {
        snprintf(p, sizeof p, "%s.skip", prefix);
        TRY(v_conv(v, p, &rb->skip));
    }
    return DDPM_OK;
}

static ddpm_status v_attn(visit *v, const char *prefix, ddpm_attn *a) {
    char p[128];
    snprintf(p, sizeof p, "%s.norm", prefix);
    TRY(v_norm(v, p, &a->norm));
    snprintf(p, sizeof p, "%s.qkv", prefix);
    TRY(v_conv(v, p, &a->qkv));
    snprintf(p, sizeof p, "%s.proj", prefix);
    return v_conv(v, p, &a->proj);
}

static ddpm_status v_block(visit *v, const char *list, int i, ddpm_block *b, int emb) {
    char p[96], q[112];
    snprintf(p, sizeof p, "%s.%d", list, i);
    switch (b->kind) {
    case DDPM_BLOCK_RES: return v_res(v, p, &b->rb, emb);
    case DDPM_BLOCK_RESATTN:
        snprintf(q, sizeof q, "%s.res", p);
        TRY(v_res(v, q, &b->rb, emb));
        snprintf(q, sizeof q, "%s.attn", p);
        return v_attn(v, q, &b->attn);
    default: snprintf(q, sizeof q, "%s.conv", p); return v_conv(v, q, &b->conv);
    }
}

ddpm_status ddpm_unet_visit(ddpm_unet *u, ddpm_tensor_visitor fn, void *ctx, ddpm_error *err) {
    visit v = {fn, ctx, err};
    const int C = u->cfg.base_channels, E = u->emb;
    TRY(v_tensor(&v, "time_embed.fc1", ".weight", 2, E, C, 0, 0, &u->fc1_w));
    TRY(v_tensor(&v, "time_embed.fc1", ".bias", 1, E, 0, 0, 0, &u->fc1_b));
    TRY(v_tensor(&v, "time_embed.fc2", ".weight", 2, E, E, 0, 0, &u->fc2_w));
    TRY(v_tensor(&v, "time_embed.fc2", ".bias", 1, E, 0, 0, 0, &u->fc2_b));
    if (u->cfg.num_classes > 0)
        TRY(v_tensor(&v, "class_embed", ".weight", 2, u->cfg.num_classes + 1, E, 0, 0, &u->class_w));
    TRY(v_conv(&v, "conv_in", &u->conv_in));
    for (int i = 0; i < u->num_down; i++) TRY(v_block(&v, "down", i, &u->down[i], E));
    TRY(v_res(&v, "mid.res1", &u->mid1, E));
    TRY(v_attn(&v, "mid.attn", &u->mid_attn));
    TRY(v_res(&v, "mid.res2", &u->mid2, E));
    for (int i = 0; i < u->num_up; i++) TRY(v_block(&v, "up", i, &u->up[i], E));
    TRY(v_norm(&v, "norm_out", &u->norm_out));
    return v_conv(&v, "conv_out", &u->conv_out);
}

/* ---- every convolution, and the Winograd weights ---- */

static void each_res(ddpm_resblock *rb, void (*fn)(void *, ddpm_conv *), void *ctx) {
    fn(ctx, &rb->conv1);
    fn(ctx, &rb->conv2);
    if (rb->has_skip) fn(ctx, &rb->skip);
}

static void each_attn(ddpm_attn *a, void (*fn)(void *, ddpm_conv *), void *ctx) {
    fn(ctx, &a->qkv);
    fn(ctx, &a->proj);
}

static void each_block(ddpm_block *b, void (*fn)(void *, ddpm_conv *), void *ctx) {
    if (b->kind == DDPM_BLOCK_RES || b->kind == DDPM_BLOCK_RESATTN) each_res(&b->rb, fn, ctx);
    if (b->kind == DDPM_BLOCK_RESATTN) each_attn(&b->attn, fn, ctx);
    if (b->kind == DDPM_BLOCK_DOWN || b->kind == DDPM_BLOCK_UP) fn(ctx, &b->conv);
}

void ddpm_unet_each_conv(ddpm_unet *u, void (*fn)(void *ctx, ddpm_conv *c), void *ctx) {
    fn(ctx, &u->conv_in);
    for (int i = 0; i < u->num_down; i++) each_block(&u->down[i], fn, ctx);
    each_res(&u->mid1, fn, ctx);
    each_attn(&u->mid_attn, fn, ctx);
    each_res(&u->mid2, fn, ctx);
    for (int i = 0; i < u->num_up; i++) each_block(&u->up[i], fn, ctx);
    fn(ctx, &u->conv_out);
}

typedef struct wino_ctx {
    float *arena; /* NULL: count only */
    size_t used;
} wino_ctx;

static void wino_visit(void *ctx, ddpm_conv *c) {
    wino_ctx *w = ctx;
    if (c->k != 3 || c->stride != 1) return;
    const size_t need = ddpm_wino_weight_floats(c->cin, c->cout);
    if (w->arena) {
        c->wino = w->arena + w->used;
        ddpm_wino_transform_weights(c->cin, c->cout, c->w, c->wino);
    }
    w->used += need;
}

size_t ddpm_unet_wino_floats(ddpm_unet *u) {
    wino_ctx w = {NULL, 0};
    ddpm_unet_each_conv(u, wino_visit, &w);
    return w.used;
}

void ddpm_unet_wino_fill(ddpm_unet *u, float *arena) {
    wino_ctx w = {arena, 0};
    ddpm_unet_each_conv(u, wino_visit, &w);
}

/* ---- cost ---- */

static double conv_flops(const ddpm_conv *c, int res_out) {
    return 2.0 * c->cin * c->cout * c->k * c->k * (double)res_out * res_out;
}

static double res_flops(const ddpm_resblock *rb, int r, int E) {
    return conv_flops(&rb->conv1, r) + conv_flops(&rb->conv2, r) + (rb->has_skip ? conv_flops(&rb->skip, r) : 0) +
           2.0 * E * rb->cout;
}

static double attn_flops(const ddpm_attn *a, int r) {
    const double hw = (double)r * r;
    return conv_flops(&a->qkv, r) + conv_flops(&a->proj, r) + 4.0 * a->c * hw * hw;
}

double ddpm_unet_flops(const ddpm_unet *u) {
    const int S = u->cfg.image_size, E = u->emb;
    double f = 2.0 * (u->cfg.base_channels * E + (double)E * E);
    f += conv_flops(&u->conv_in, S) + conv_flops(&u->conv_out, S);
    const ddpm_block *lists[2] = {u->down, u->up};
    const int counts[2] = {u->num_down, u->num_up};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < counts[l]; i++) {
            const ddpm_block *b = &lists[l][i];
            if (b->kind == DDPM_BLOCK_DOWN) f += conv_flops(&b->conv, (b->res + 1) / 2);
            else if (b->kind == DDPM_BLOCK_UP) f += conv_flops(&b->conv, 2 * b->res);
            else f += res_flops(&b->rb, b->res, E) + (b->kind == DDPM_BLOCK_RESATTN ? attn_flops(&b->attn, b->res) : 0);
        }
    f += res_flops(&u->mid1, u->mid_res, E) + res_flops(&u->mid2, u->mid_res, E) + attn_flops(&u->mid_attn, u->mid_res);
    return f;
}
