/* The U-Net's block plan and tensor list, derived from the config alone (mirrors training/model.py). */
#include "unet/unet.h"
#include "io/safetensors.h"

#include <stdio.h>
#include <string.h>

static void conv_shape(ddpm_conv *cv, int cin, int cout, int k, int stride) {
    cv->cin = cin;
    cv->cout = cout;
    cv->k = k;
    cv->stride = stride;
}

static void res_shape(ddpm_resblock *rb, int cin, int cout, float out_scale) {
    rb->cin = cin;
    rb->cout = cout;
    rb->out_scale = out_scale;
    rb->norm1.c = cin;
    rb->norm2.c = cout;
    conv_shape(&rb->conv1, cin, cout, 3, 1);
    conv_shape(&rb->conv2, cout, cout, 3, 1);
    rb->has_skip = cin != cout;
    if (rb->has_skip) conv_shape(&rb->skip, cin, cout, 1, 1);
}

static void attn_shape(ddpm_attn *a, int c, int head_dim, float out_scale) {
    a->c = c;
    a->heads = head_dim > 0 ? c / head_dim : 1;
    a->out_scale = out_scale;
    a->norm.c = c;
    conv_shape(&a->qkv, c, 3 * c, 1, 1);
    conv_shape(&a->proj, c, c, 1, 1);
}

static ddpm_block *push(ddpm_unet *u, ddpm_block *list, int *count, ddpm_block_kind kind, int cin, int cout, int res,
                        int level, int index) {
    ddpm_block *b = &list[(*count)++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->cin = cin;
    b->cout = cout;
    b->res = res;
    b->level = level;
    b->index = index;
    if (kind == DDPM_BLOCK_RES || kind == DDPM_BLOCK_RESATTN) res_shape(&b->rb, cin, cout, 1.0f);
    if (kind == DDPM_BLOCK_RESATTN) attn_shape(&b->attn, cout, u->cfg.arch.head_dim, 1.0f);
    if (kind == DDPM_BLOCK_DOWN) {
        conv_shape(&b->conv, cin, cout, 3, 2);
        b->conv.pad_after_only = u->cfg.arch.downsample_one_sided;
    }
    if (kind == DDPM_BLOCK_UP) conv_shape(&b->conv, cin, cout, 3, 1);
    return b;
}

ddpm_status ddpm_unet_plan(ddpm_unet *u, const ddpm_model_config *cfg, ddpm_error *err) {
    memset(u, 0, sizeof *u);
    u->cfg = *cfg;
    const ddpm_unet_arch *a = &cfg->arch;
    const int C = a->level_channels[0], L = cfg->num_levels;
    u->emb = a->temb_dim;
    conv_shape(&u->conv_in, cfg->in_channels, C, 3, 1);
    conv_shape(&u->conv_out, C, cfg->out_channels, 3, 1);
    u->norm_out.c = C;

    int skips[DDPM_MAX_BLOCKS + 1], ns = 0;
    int ch = C, res = cfg->image_size;
    skips[ns++] = C;
    for (int lev = 0; lev < L; lev++) {
        const int co = a->level_channels[lev];
        const ddpm_block_kind kind = (a->attn_down >> lev) & 1 ? DDPM_BLOCK_RESATTN : DDPM_BLOCK_RES;
        for (int j = 0; j < cfg->num_res_blocks; j++) {
            if (u->num_down + 2 > DDPM_MAX_BLOCKS) return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "too many blocks");
            push(u, u->down, &u->num_down, kind, ch, co, res, lev, j);
            ch = co;
            skips[ns++] = ch;
        }
        if (lev != L - 1) {
            if (res % 2) return ddpm__fail(err, DDPM_ERR_CONFIG, "resolution %d at level %d is odd", res, lev);
            push(u, u->down, &u->num_down, DDPM_BLOCK_DOWN, ch, ch, res, lev, 0);
            res /= 2;
            skips[ns++] = ch;
        }
    }
    u->mid_res = res;
    res_shape(&u->mid1, ch, ch, a->mid_scale);
    attn_shape(&u->mid_attn, ch, a->head_dim, a->mid_scale);
    res_shape(&u->mid2, ch, ch, a->mid_scale);
    for (int lev = L - 1; lev >= 0; lev--) {
        const int co = a->level_channels[lev];
        const ddpm_block_kind kind = (a->attn_up >> lev) & 1 ? DDPM_BLOCK_RESATTN : DDPM_BLOCK_RES;
        for (int j = 0; j < cfg->num_res_blocks + 1; j++) {
            if (u->num_up + 2 > DDPM_MAX_BLOCKS || ns == 0)
                return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "too many blocks");
            push(u, u->up, &u->num_up, kind, ch + skips[--ns], co, res, lev, j);
            ch = co;
        }
        if (lev != 0) {
            push(u, u->up, &u->num_up, DDPM_BLOCK_UP, ch, ch, res, lev, 0);
            res *= 2;
        }
    }
    return DDPM_OK;
}

/* ---- tensor visiting ----
 *
 * The same network under two sets of names (training/model.py's | diffusers' UNet2DModel):
 *   time_embed.fc1 / fc2          | time_embedding.linear_1 / linear_2
 *   class_embed                   | class_embedding          ([num_classes + 1, E] | [num_classes, E])
 *   down.<b>  (flat block list)   | down_blocks.<level>.resnets.<j> (+ .attentions.<j>), .downsamplers.0.conv
 *   mid.res1, mid.attn, mid.res2  | mid_block.resnets.0, mid_block.attentions.0, mid_block.resnets.1
 *   up.<b>                        | up_blocks.<L-1-level>.resnets.<j> (+ .attentions.<j>), .upsamplers.0.conv
 *   <res>.temb_proj, <res>.skip   | <res>.time_emb_proj, <res>.conv_shortcut
 *   <attn>.norm, .qkv, .proj      | <attn>.group_norm, .to_q + .to_k + .to_v (or query, key, value), .to_out.0 (or
 *                                   proj_attn); q, k, v are Linear [c, c] each and fill the one [3c, c, 1, 1] array
 *   norm_out                      | conv_norm_out
 */

typedef struct visit {
    ddpm_tensor_visitor fn;
    void *ctx;
    ddpm_error *err;
    int diffusers;
} visit;

static ddpm_status v_tensor_alt(visit *v, const char *prefix, const char *leaf, const char *alt_prefix, int ndim,
                                int64_t d0, int64_t d1, int64_t d2, int64_t d3, float **slot) {
    char name[256], alt[256];
    snprintf(name, sizeof name, "%s%s", prefix, leaf);
    if (alt_prefix) snprintf(alt, sizeof alt, "%s%s", alt_prefix, leaf);
    const int64_t shape[4] = {d0, d1, d2, d3};
    return v->fn(v->ctx, name, alt_prefix ? alt : NULL, ndim, shape, slot, v->err);
}

static ddpm_status v_tensor(visit *v, const char *prefix, const char *leaf, int ndim, int64_t d0, int64_t d1,
                            int64_t d2, int64_t d3, float **slot) {
    return v_tensor_alt(v, prefix, leaf, NULL, ndim, d0, d1, d2, d3, slot);
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

static ddpm_status v_sub(visit *v, const char *prefix, const char *own, const char *hf, char *out, size_t size) {
    snprintf(out, size, "%s.%s", prefix, v->diffusers ? hf : own);
    return DDPM_OK;
}

static ddpm_status v_res(visit *v, const char *prefix, ddpm_resblock *rb, int emb) {
    char p[128];
    v_sub(v, prefix, "norm1", "norm1", p, sizeof p);
    TRY(v_norm(v, p, &rb->norm1));
    v_sub(v, prefix, "conv1", "conv1", p, sizeof p);
    TRY(v_conv(v, p, &rb->conv1));
    v_sub(v, prefix, "temb_proj", "time_emb_proj", p, sizeof p);
    TRY(v_tensor(v, p, ".weight", 2, rb->cout, emb, 0, 0, &rb->temb_w));
    TRY(v_tensor(v, p, ".bias", 1, rb->cout, 0, 0, 0, &rb->temb_b));
    v_sub(v, prefix, "norm2", "norm2", p, sizeof p);
    TRY(v_norm(v, p, &rb->norm2));
    v_sub(v, prefix, "conv2", "conv2", p, sizeof p);
    TRY(v_conv(v, p, &rb->conv2));
    if (rb->has_skip) {
        v_sub(v, prefix, "skip", "conv_shortcut", p, sizeof p);
        TRY(v_conv(v, p, &rb->skip));
    }
    return DDPM_OK;
}

/* diffusers: a Linear [c, c] (+ bias) per part; q, k, v land one after another in the qkv arrays. */
static ddpm_status v_linear_part(visit *v, const char *prefix, const char *name, const char *old, int c, float **w,
                                 float **b) {
    char p[160], q[160];
    snprintf(p, sizeof p, "%s.%s", prefix, name);
    snprintf(q, sizeof q, "%s.%s", prefix, old);
    TRY(v_tensor_alt(v, p, ".weight", q, 2, c, c, 0, 0, w));
    return v_tensor_alt(v, p, ".bias", q, 1, c, 0, 0, 0, b);
}

static ddpm_status v_attn(visit *v, const char *prefix, ddpm_attn *a) {
    char p[128];
    v_sub(v, prefix, "norm", "group_norm", p, sizeof p);
    TRY(v_norm(v, p, &a->norm));
    if (!v->diffusers) {
        snprintf(p, sizeof p, "%s.qkv", prefix);
        TRY(v_conv(v, p, &a->qkv));
        snprintf(p, sizeof p, "%s.proj", prefix);
        return v_conv(v, p, &a->proj);
    }
    /* weights q | k | v, then biases q | k | v: each group is one contiguous array */
    const int c = a->c;
    char pq[160], pk[160], pv[160], oq[160], ok[160], ov[160];
    snprintf(pq, sizeof pq, "%s.to_q", prefix), snprintf(oq, sizeof oq, "%s.query", prefix);
    snprintf(pk, sizeof pk, "%s.to_k", prefix), snprintf(ok, sizeof ok, "%s.key", prefix);
    snprintf(pv, sizeof pv, "%s.to_v", prefix), snprintf(ov, sizeof ov, "%s.value", prefix);
    TRY(v_tensor_alt(v, pq, ".weight", oq, 2, c, c, 0, 0, &a->qkv.w));
    TRY(v_tensor_alt(v, pk, ".weight", ok, 2, c, c, 0, 0, NULL));
    TRY(v_tensor_alt(v, pv, ".weight", ov, 2, c, c, 0, 0, NULL));
    TRY(v_tensor_alt(v, pq, ".bias", oq, 1, c, 0, 0, 0, &a->qkv.b));
    TRY(v_tensor_alt(v, pk, ".bias", ok, 1, c, 0, 0, 0, NULL));
    TRY(v_tensor_alt(v, pv, ".bias", ov, 1, c, 0, 0, 0, NULL));
    return v_linear_part(v, prefix, "to_out.0", "proj_attn", c, &a->proj.w, &a->proj.b);
}

static ddpm_status v_block(visit *v, const char *list, int i, ddpm_block *b, int emb, int levels) {
    char p[96], q[112];
    if (v->diffusers) {
        const int up = list[0] == 'u', blk = up ? levels - 1 - b->level : b->level;
        const char *group = up ? "up_blocks" : "down_blocks";
        switch (b->kind) {
        case DDPM_BLOCK_RES:
        case DDPM_BLOCK_RESATTN:
            snprintf(p, sizeof p, "%s.%d.resnets.%d", group, blk, b->index);
            TRY(v_res(v, p, &b->rb, emb));
            if (b->kind == DDPM_BLOCK_RES) return DDPM_OK;
            snprintf(p, sizeof p, "%s.%d.attentions.%d", group, blk, b->index);
            return v_attn(v, p, &b->attn);
        default:
            snprintf(p, sizeof p, "%s.%d.%s.0.conv", group, blk, up ? "upsamplers" : "downsamplers");
            return v_conv(v, p, &b->conv);
        }
    }
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
    const ddpm_unet_arch *a = &u->cfg.arch;
    visit v = {fn, ctx, err, a->diffusers_names};
    const int C = a->level_channels[0], E = u->emb, L = u->cfg.num_levels;
    const char *fc1 = v.diffusers ? "time_embedding.linear_1" : "time_embed.fc1";
    const char *fc2 = v.diffusers ? "time_embedding.linear_2" : "time_embed.fc2";
    TRY(v_tensor(&v, fc1, ".weight", 2, E, C, 0, 0, &u->fc1_w));
    TRY(v_tensor(&v, fc1, ".bias", 1, E, 0, 0, 0, &u->fc1_b));
    TRY(v_tensor(&v, fc2, ".weight", 2, E, E, 0, 0, &u->fc2_w));
    TRY(v_tensor(&v, fc2, ".bias", 1, E, 0, 0, 0, &u->fc2_b));
    if (u->cfg.num_classes > 0)
        TRY(v_tensor(&v, v.diffusers ? "class_embedding" : "class_embed", ".weight", 2,
                     u->cfg.num_classes + (a->null_class ? 1 : 0), E, 0, 0, &u->class_w));
    TRY(v_conv(&v, "conv_in", &u->conv_in));
    for (int i = 0; i < u->num_down; i++) TRY(v_block(&v, "down", i, &u->down[i], E, L));
    TRY(v_res(&v, v.diffusers ? "mid_block.resnets.0" : "mid.res1", &u->mid1, E));
    if (a->mid_attention) TRY(v_attn(&v, v.diffusers ? "mid_block.attentions.0" : "mid.attn", &u->mid_attn));
    TRY(v_res(&v, v.diffusers ? "mid_block.resnets.1" : "mid.res2", &u->mid2, E));
    for (int i = 0; i < u->num_up; i++) TRY(v_block(&v, "up", i, &u->up[i], E, L));
    TRY(v_norm(&v, v.diffusers ? "conv_norm_out" : "norm_out", &u->norm_out));
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
    if (u->cfg.arch.mid_attention) each_attn(&u->mid_attn, fn, ctx);
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

void ddpm_unet_conv_expand(const ddpm_conv *c, float *out) {
    const size_t per = (size_t)c->cin * c->k * c->k, total = per * c->cout;
    if (c->w) {
        memcpy(out, c->w, sizeof(float) * total);
    } else if (c->wh) {
        for (size_t i = 0; i < total; i++) out[i] = ddpm_f16_to_f32(c->wh[i]);
    } else {
        for (int o = 0; o < c->cout; o++)
            for (size_t i = 0; i < per; i++) out[o * per + i] = c->wscale[o] * (float)c->wq[o * per + i];
    }
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
    double f = 2.0 * (u->cfg.arch.level_channels[0] * E + (double)E * E);
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
    f += res_flops(&u->mid1, u->mid_res, E) + res_flops(&u->mid2, u->mid_res, E);
    if (u->cfg.arch.mid_attention) f += attn_flops(&u->mid_attn, u->mid_res);
    return f;
}
